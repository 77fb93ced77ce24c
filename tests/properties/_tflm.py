"""Bit-exactness harness for property tests: tinysim vs TFLM on every tensor of a graph.

Property tests under tests/properties import it as ``from _tflm import ...`` (pytest puts
that directory on sys.path); tests elsewhere use ``from properties._tflm import ...``.
The graph goes through the real path a user's model takes: write_model -> .tflite bytes
-> load_model_bytes, then both engines run the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tinysim.executor import Executor
from tinysim.ir import Graph
from tinysim.loader import load_model_bytes
from tinysim.oracle import TFLMOracle
from tinysim.writer import write_model


@dataclass(frozen=True)
class Mismatch:
    graph: Graph
    tensor: int
    ours: np.ndarray
    theirs: np.ndarray

    def describe(self) -> str:
        g, t = self.graph, self.graph.tensor(self.tensor)
        producer = g.producers().get(self.tensor)
        if producer is None:
            origin = "graph input"
        else:
            op = g.operators[producer]
            origin = f"op {op.index} ({op.opcode}, options {dict(op.options)})"
        if self.ours.shape != self.theirs.shape:
            return (f"{g.name}: {origin}, tensor {t.index} ({t.name}): shape {self.ours.shape} "
                    f"(tinysim) vs {self.theirs.shape} (TFLM)")
        diff = ~((self.ours == self.theirs) | (np.isnan(self.ours) & np.isnan(self.theirs))
                 if self.ours.dtype.kind == "f" else self.ours == self.theirs)
        where = np.argwhere(diff)
        first = tuple(int(i) for i in where[0])
        delta = np.abs(self.ours.astype(np.float64) - self.theirs.astype(np.float64))[diff]
        quant = ""
        if t.quantization is not None:
            quant = f", scale {t.quantization.scale.tolist()} zero point " \
                    f"{t.quantization.zero_point.tolist()}"
        return (f"{g.name}: {origin} differs from TFLM on tensor {t.index} ({t.name}, "
                f"{t.shape} {t.dtype}{quant}): {len(where)} of {t.size} values differ "
                f"(max |diff| {delta.max():g}); first at {first}: tinysim {self.ours[first]} "
                f"vs TFLM {self.theirs[first]}")


def first_mismatch(graph: Graph, ours: dict[int, np.ndarray],
                   theirs: dict[int, np.ndarray]) -> Mismatch | None:
    """The earliest differing tensor in execution order (graph inputs, then op outputs)."""
    order = list(graph.inputs) + [t for op in graph.operators for t in op.outputs]
    for ti in order:
        if ti not in theirs:
            continue
        a, b = np.asarray(ours[ti]), np.asarray(theirs[ti])
        same = a.shape == b.shape and (np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f"
                                       else np.array_equal(a, b))
        if not same:
            return Mismatch(graph, ti, a, b)
    return None


def assert_bit_exact_with_tflm(graph: Graph, inputs: Sequence[np.ndarray],
                               arena_size: int | None = None) -> dict[int, np.ndarray]:
    """Run ``graph`` in tinysim and TFLM on ``inputs``; fail at the first differing tensor.

    Returns tinysim's values (every tensor by TFLite index) for further assertions.
    """
    buf = write_model(graph)
    loaded = load_model_bytes(buf, graph.name)
    ours = Executor(loaded).run(inputs)
    theirs = TFLMOracle(buf, loaded, arena_size).run(inputs)
    missing = [ti for ti in theirs if ti not in ours]
    assert not missing, f"{graph.name}: tinysim produced no value for tensors {missing}"
    mismatch = first_mismatch(loaded, ours, theirs)
    if mismatch is not None:
        raise AssertionError(mismatch.describe())
    return ours
