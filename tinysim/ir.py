"""Typed graph IR for one-subgraph int8 TFLite models.

Tensors keep their TFLite tensor index so every tool can line its results up with
TFLite's own tensors. Everything here is frozen: kernels, planners and writers read
the graph, none of them mutate it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point).

    ``scale`` and ``zero_point`` have one entry (per-tensor) or one entry per slice
    along ``axis`` (per-channel). Scales stay float32 as stored in the flatbuffer;
    TFLM widens them to double before deriving multipliers, and so do we.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Quantization)
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    def __hash__(self) -> int:
        return hash((self.axis, self.scale.tobytes(), self.zero_point.tobytes()))


@dataclass(frozen=True, eq=False)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None = None
    data: np.ndarray | None = None  # constant (weights, biases, shape operands)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def scale(self) -> float:
        """Per-tensor scale; raises for unquantized or per-channel tensors."""
        q = self._require_quant()
        if q.per_channel:
            raise ValueError(f"tensor {self.index} ({self.name}) is per-channel quantized")
        return float(q.scale[0])

    @property
    def zero_point(self) -> int:
        q = self._require_quant()
        return int(q.zero_point[0])

    def _require_quant(self) -> Quantization:
        if self.quantization is None:
            raise ValueError(f"tensor {self.index} ({self.name}) has no quantization")
        return self.quantization


def frozen_options(options: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(options or {}))


@dataclass(frozen=True, eq=False)
class Operator:
    """One op. ``inputs`` may hold -1 for an omitted optional input (TFLite's rule).

    ``options`` holds the builtin options under normalized names, e.g. for CONV_2D:
    padding ('SAME'|'VALID'), stride_h, stride_w, dilation_h, dilation_w,
    fused_activation ('NONE'|'RELU'|'RELU6'|'RELU_N1_TO_1').
    """

    index: int
    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=frozen_options)
    version: int = 1

    @property
    def fused_activation(self) -> str:
        return self.options.get("fused_activation", "NONE")


@dataclass(frozen=True, eq=False)
class Graph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str = ""
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    @property
    def activation_tensors(self) -> list[Tensor]:
        """Non-constant tensors that some op reads or writes, or that are graph I/O."""
        used: set[int] = set(self.inputs) | set(self.outputs)
        for op in self.operators:
            used.update(i for i in op.inputs if i >= 0)
            used.update(op.outputs)
        return [t for t in self.tensors if t.index in used and not t.is_constant]

    def producers(self) -> dict[int, int]:
        """Tensor index -> index of the op that writes it."""
        return {t: op.index for op in self.operators for t in op.outputs}

    def consumers(self) -> dict[int, list[int]]:
        """Tensor index -> indices of the ops that read it, in execution order."""
        out: dict[int, list[int]] = {}
        for op in self.operators:
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return out
