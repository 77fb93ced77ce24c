"""TFLite Micro (PyPI ``tflite-micro``, reference kernels) as the bit-exactness oracle."""
from __future__ import annotations

import os
import re
import sys
import tempfile
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


def measured_arena(model_path: str) -> int:
    """TFLM's own activation arena for the model: the "head" that its
    ``print_allocations()`` reports after an invoke (planned activations + kernel scratch),
    read from the C-level stderr, which is redirected to a file around the call."""
    runtime = _runtime()
    with tempfile.TemporaryFile() as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            it = runtime.Interpreter.from_file(str(model_path))
            k = 0
            while True:
                try:
                    d = it.get_input_details(k)
                except (IndexError, RuntimeError, ValueError):
                    break
                it.set_input(np.zeros(d["shape"], d["dtype"]), k)
                k += 1
            it.invoke()
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    m = re.search(r"Arena allocation head (\d+) bytes", text)
    if m is None:
        raise TinysimError(f"{model_path}: TFLM's print_allocations() printed no 'Arena "
                           "allocation head'; this tflite-micro version reports its arena "
                           "differently, so TFLM's arena cannot be measured")
    return int(m.group(1))
