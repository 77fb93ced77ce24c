"""Layer-by-layer execution of a graph with the Numba int8 reference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import kernels_ref
from .errors import ShapeError, UnsupportedError
from .ir import Graph, Operator


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedError naming the first op tinysim cannot run."""
    reg = kernels_ref.registry()
    for op in graph.operators:
        if op.opcode not in reg:
            raise UnsupportedError(
                f"{graph.name}: op {op.index} is {op.opcode}, which tinysim does not support; "
                f"supported ops: {', '.join(sorted(reg))}")


@dataclass(frozen=True)
class PreparedOp:
    op: Operator
    params: Any
    module: Any

    def evaluate(self, inputs: Sequence[np.ndarray | None], outputs: Sequence[np.ndarray]):
        self.module.evaluate(self.params, inputs, outputs)


def prepare(graph: Graph) -> list[PreparedOp]:
    """TFLM's Prepare for every op, in execution order."""
    check_supported(graph)
    reg = kernels_ref.registry()
    return [PreparedOp(op, reg[op.opcode].prepare(graph, op), reg[op.opcode])
            for op in graph.operators]


def validate_inputs(graph: Graph, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(inputs) != len(graph.inputs):
        raise ShapeError(f"{graph.name}: the model has {len(graph.inputs)} input(s), "
                         f"{len(inputs)} given")
    out = []
    for k, (ti, x) in enumerate(zip(graph.inputs, inputs)):
        t = graph.tensor(ti)
        x = np.asarray(x)
        if x.shape != t.shape:
            if x.size == t.size and x.dtype == np.dtype(t.dtype):
                x = x.reshape(t.shape)
            else:
                raise ShapeError(
                    f"{graph.name}: input {k} (tensor {ti}, {t.name}) needs shape {t.shape} "
                    f"{t.dtype}, got {x.shape} {x.dtype}")
        if x.dtype != np.dtype(t.dtype):
            raise ShapeError(
                f"{graph.name}: input {k} (tensor {ti}, {t.name}) needs dtype {t.dtype}, got "
                f"{x.dtype}; quantize it first or pass the model's own input type")
        out.append(np.ascontiguousarray(x))
    return out


class Executor:
    """Prepared once, run many times. ``run`` returns every tensor by TFLite index."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.prepared = prepare(graph)

    def run(self, inputs: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
        g = self.graph
        values: dict[int, np.ndarray] = {}
        for ti, x in zip(g.inputs, validate_inputs(g, inputs)):
            values[ti] = x
        for p in self.prepared:
            ins = []
            for ti in p.op.inputs:
                if ti < 0:
                    ins.append(None)
                elif g.tensors[ti].is_constant:
                    ins.append(g.tensors[ti].data)
                elif ti in values:
                    ins.append(values[ti])
                else:
                    values[ti] = self._unwritten(p.op, ti)
                    ins.append(values[ti])
            outs = [np.empty(g.tensors[ti].shape, dtype=g.tensors[ti].dtype)
                    for ti in p.op.outputs]
            p.evaluate(ins, outs)
            for ti, arr in zip(p.op.outputs, outs):
                values[ti] = arr
        return values

    def _unwritten(self, op: Operator, ti: int) -> np.ndarray:
        """A tensor no op writes and the caller does not give: only an empty one (an empty
        constant, e.g. an empty axis list, has no buffer data) has a defined value."""
        t = self.graph.tensors[ti]
        if t.size == 0:
            return np.empty(t.shape, dtype=t.dtype)
        raise ShapeError(
            f"{self.graph.name}: op {op.index} ({op.opcode}) reads tensor {ti} ({t.name}), which "
            "is neither a graph input, a constant nor any op's output; the model is malformed")
