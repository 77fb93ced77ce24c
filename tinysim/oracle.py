"""TFLite Micro (PyPI ``tflite-micro``, reference kernels) as the bit-exactness oracle."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import TinysimError
from .ir import Graph


class OracleUnavailable(TinysimError):
    pass


def _runtime():
    try:
        from tflite_micro import runtime  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise OracleUnavailable(
            "the TFLM oracle needs the 'tflite-micro' package: pip install tflite-micro") from exc
    return runtime


def default_arena_size(graph: Graph, model_bytes: int) -> int:
    """An arena that always fits: TFLM's own default (10x the file) is too small for tiny
    graphs once every tensor is preserved, and fails with 'output != nullptr'."""
    activations = sum(t.nbytes for t in graph.activation_tensors)
    return 10 * model_bytes + 2 * activations + 64 * 1024


class TFLMOracle:
    """One TFLM interpreter with every intermediate tensor preserved."""

    def __init__(self, model_bytes: bytes, graph: Graph, arena_size: int | None = None):
        rt = _runtime()
        self.graph = graph
        if arena_size is None:
            arena_size = default_arena_size(graph, len(model_bytes))
        self.interpreter = rt.Interpreter.from_bytes(
            model_bytes, arena_size=arena_size,
            intrepreter_config=rt.InterpreterConfig.kPreserveAllTensors)

    @classmethod
    def from_file(cls, path: str, graph: Graph, arena_size: int | None = None) -> "TFLMOracle":
        with open(path, "rb") as f:
            return cls(f.read(), graph, arena_size)

    def run(self, inputs: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
        """Every non-constant tensor that an op touches, keyed by TFLite tensor index."""
        it = self.interpreter
        for k, x in enumerate(inputs):
            it.set_input(np.asarray(x), k)
        it.invoke()
        out: dict[int, np.ndarray] = {}
        for t in self.graph.activation_tensors:
            d = it.GetTensor(t.index, 0)
            out[t.index] = np.array(d["tensor_data"]).reshape(t.shape).astype(t.dtype, copy=False)
        return out
