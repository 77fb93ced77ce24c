"""Run tinysim and TFLM on the same inputs and compare every intermediate tensor."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .executor import Executor
from .ir import Graph
from .loader import load_model_bytes
from .oracle import TFLMOracle


@dataclass(frozen=True)
class TensorMismatch:
    op_index: int
    opcode: str
    tensor_index: int
    tensor_name: str
    input_index: int
    position: tuple[int, ...]
    ours: float
    tflm: float
    differing: int
    total: int

    def describe(self) -> str:
        return (f"op {self.op_index} ({self.opcode}) tensor {self.tensor_index} "
                f"'{self.tensor_name}' input #{self.input_index}: first difference at "
                f"{self.position}: ours {self.ours} vs TFLM {self.tflm} "
                f"({self.differing}/{self.total} elements differ)")


@dataclass(frozen=True)
class VerifyReport:
    model: str
    n_ops: int
    n_inputs: int
    exact_ops: int
    mismatches: tuple[TensorMismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.exact_ops == self.n_ops

    def summary_line(self) -> str:
        return (f"{self.model}: {self.exact_ops}/{self.n_ops} ops bit-exact over "
                f"{self.n_inputs} inputs")


def _float_range(graph: Graph, tensor_index: int) -> tuple[float, float]:
    """Realistic float range of a float model input: what its QUANTIZE consumer can represent."""
    for op in graph.operators:
        if op.opcode == "QUANTIZE" and op.inputs[0] == tensor_index:
            out = graph.tensor(op.outputs[0])
            lo = out.scale * (-128 - out.zero_point)
            hi = out.scale * (127 - out.zero_point)
            return float(lo), float(hi)
    return -1.0, 1.0


def make_inputs(graph: Graph, count: int = 3, seed: int = 0) -> list[list[np.ndarray]]:
    """Seeded random inputs, then the extremes (all minimum, all maximum), then more random.

    Float inputs are drawn from the range their QUANTIZE consumer represents, so the
    int8 network sees realistic values rather than clamped ones.
    """
    rng = np.random.default_rng(seed)
    sets: list[list[np.ndarray]] = []
    for k in range(count):
        kind = {1: "min", 2: "max"}.get(k, "random")
        one = []
        for ti in graph.inputs:
            t = graph.tensor(ti)
            if t.dtype == "float32":
                lo, hi = _float_range(graph, ti)
                if kind == "random":
                    x = rng.uniform(lo, hi, size=t.shape).astype(np.float32)
                else:
                    x = np.full(t.shape, lo if kind == "min" else hi, np.float32)
            else:
                info = np.iinfo(t.dtype)
                if kind == "random":
                    x = rng.integers(info.min, info.max, size=t.shape, endpoint=True,
                                     dtype=np.int64).astype(t.dtype)
                else:
                    x = np.full(t.shape, info.min if kind == "min" else info.max, t.dtype)
            one.append(x)
        sets.append(one)
    return sets


def compare_runs(graph: Graph, ours: Sequence[dict[int, np.ndarray]],
                 theirs: Sequence[dict[int, np.ndarray]]) -> VerifyReport:
    mismatches: list[TensorMismatch] = []
    exact = 0
    for op in graph.operators:
        op_ok = True
        for ti in op.outputs:
            t = graph.tensor(ti)
            for k, (a_run, b_run) in enumerate(zip(ours, theirs)):
                a, b = a_run[ti], b_run[ti]
                if a.shape != b.shape or a.tobytes() != b.tobytes():
                    op_ok = False
                    if a.shape != b.shape:
                        mismatches.append(TensorMismatch(op.index, op.opcode, ti, t.name, k, (),
                                                         float("nan"), float("nan"),
                                                         -1, int(b.size)))
                        continue
                    diff = a.view(np.uint8).reshape(a.shape + (-1,)) != \
                        b.view(np.uint8).reshape(b.shape + (-1,))
                    elem = diff.any(axis=-1)
                    pos = tuple(int(v) for v in np.argwhere(elem)[0])
                    mismatches.append(TensorMismatch(
                        op.index, op.opcode, ti, t.name, k, pos, a[pos].item(), b[pos].item(),
                        int(elem.sum()), int(elem.size)))
        exact += op_ok
    return VerifyReport(graph.name, len(graph.operators), len(ours), exact, tuple(mismatches))


def verify_bytes(model_bytes: bytes, name: str, count: int = 3, seed: int = 0) -> VerifyReport:
    graph = load_model_bytes(model_bytes, name)
    executor = Executor(graph)
    oracle = TFLMOracle(model_bytes, graph)
    inputs = make_inputs(graph, count, seed)
    ours = [executor.run(x) for x in inputs]
    theirs = [oracle.run(x) for x in inputs]
    return compare_runs(graph, ours, theirs)


def verify_model(path: str | Path, count: int = 3, seed: int = 0) -> VerifyReport:
    path = Path(path)
    from .loader import load_model  # noqa: PLC0415 - reuse the loader's clear file errors
    load_model(path)
    return verify_bytes(path.read_bytes(), path.name, count, seed)
