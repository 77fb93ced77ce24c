"""Run tinysim and TFLM on the same inputs and compare every intermediate tensor."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import TinysimError
from .executor import Executor
from .ir import Graph
from .loader import load_model, load_model_bytes
from .oracle import TFLMOracle


@dataclass(frozen=True)
class TensorMismatch:
    """Where one tensor of a run differs from the same tensor of another (TFLM, the
    layer-wise reference...): the op that wrote it, the first differing position."""

    model: str
    op_index: int            # -1: a graph input
    opcode: str
    tensor_index: int
    tensor_name: str
    tensor_desc: str         # shape, dtype, quantization
    input_index: int
    position: tuple[int, ...]
    ours: float
    theirs: float
    max_abs_diff: float
    differing: int
    total: int
    against: str

    def describe(self) -> str:
        origin = "graph input" if self.op_index < 0 else f"op {self.op_index} ({self.opcode})"
        head = (f"{self.model}: {origin}, tensor {self.tensor_index} ({self.tensor_name}, "
                f"{self.tensor_desc}), input #{self.input_index}: ")
        if self.differing < 0:
            return head + f"shape differs from {self.against}"
        return head + (f"{self.differing} of {self.total} values differ from {self.against} "
                       f"(max |diff| {self.max_abs_diff:g}); first at {self.position}: "
                       f"tinysim {self.ours} vs {self.against} {self.theirs}")


def tensor_mismatch(graph: Graph, tensor_index: int, ours: np.ndarray, theirs: np.ndarray,
                    input_index: int = 0, against: str = "TFLM") -> TensorMismatch | None:
    """None when the two arrays hold the same bytes (floats too: NaN payloads included)."""
    a, b = np.ascontiguousarray(ours), np.ascontiguousarray(theirs)
    if a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes():
        return None
    t = graph.tensor(tensor_index)
    producer = graph.producers().get(tensor_index)
    op = graph.operators[producer] if producer is not None else None
    quant = ""
    if t.quantization is not None and not t.quantization.per_channel:
        quant = f", scale {float(t.quantization.scale[0]):g} zero point {t.zero_point}"
    common = dict(model=graph.name, op_index=op.index if op else -1,
                  opcode=op.opcode if op else "", tensor_index=tensor_index, tensor_name=t.name,
                  tensor_desc=f"{t.shape} {t.dtype}{quant}", input_index=input_index,
                  against=against)
    if a.shape != b.shape:
        return TensorMismatch(**common, position=(), ours=float("nan"), theirs=float("nan"),
                              max_abs_diff=float("nan"), differing=-1, total=int(b.size))
    b = b.astype(a.dtype, copy=False)
    elem = (a.view(np.uint8).reshape(a.shape + (-1,)) !=
            b.view(np.uint8).reshape(b.shape + (-1,))).any(axis=-1)
    pos = tuple(int(v) for v in np.argwhere(elem)[0])
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(a.astype(np.float64) - b.astype(np.float64))[elem]
    return TensorMismatch(**common, position=pos, ours=a[pos].item(), theirs=b[pos].item(),
                          max_abs_diff=float(np.nanmax(delta)) if np.isfinite(delta).any()
                          else float("nan"), differing=int(elem.sum()), total=int(elem.size))


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
    if count < 1:
        raise TinysimError(f"{graph.name}: {count} input sets asked for; a comparison over no "
                           "input proves nothing, ask for at least 1")
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
        found = [m for ti in op.outputs
                 for k, (a_run, b_run) in enumerate(zip(ours, theirs))
                 if (m := tensor_mismatch(graph, ti, a_run[ti], b_run[ti], k)) is not None]
        mismatches.extend(found)
        exact += not found
    return VerifyReport(graph.name, len(graph.operators), len(ours), exact, tuple(mismatches))


def verify_bytes(model_bytes: bytes, name: str, count: int = 3, seed: int = 0) -> VerifyReport:
    return _verify(load_model_bytes(model_bytes, name), model_bytes, count, seed)


def _verify(graph: Graph, model_bytes: bytes, count: int, seed: int) -> VerifyReport:
    executor = Executor(graph)
    oracle = TFLMOracle(model_bytes, graph)
    inputs = make_inputs(graph, count, seed)
    ours = [executor.run(x) for x in inputs]
    theirs = [oracle.run(x) for x in inputs]
    return compare_runs(graph, ours, theirs)


def verify_model(path: str | Path, count: int = 3, seed: int = 0) -> VerifyReport:
    path = Path(path)
    graph = load_model(path)  # first, for the loader's clear errors on a missing or bad file
    return _verify(graph, path.read_bytes(), count, seed)
