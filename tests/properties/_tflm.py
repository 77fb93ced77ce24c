"""Bit-exactness harness for property tests: tinysim vs TFLM on every tensor of a graph.

Property tests under tests/properties import it as ``from _tflm import ...`` (pytest puts
that directory on sys.path); tests elsewhere use ``from properties._tflm import ...``.
The graph goes through the real path a user's model takes: write_model -> .tflite bytes
-> load_model_bytes, then both engines run the same bytes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from tinysim.executor import Executor
from tinysim.ir import Graph
from tinysim.loader import load_model_bytes
from tinysim.oracle import TFLMOracle
from tinysim.verify import TensorMismatch, tensor_mismatch
from tinysim.writer import write_model


def first_mismatch(graph: Graph, ours: dict[int, np.ndarray],
                   theirs: dict[int, np.ndarray]) -> TensorMismatch | None:
    """The earliest differing tensor in execution order (graph inputs, then op outputs)."""
    order = list(graph.inputs) + [t for op in graph.operators for t in op.outputs]
    found = (tensor_mismatch(graph, ti, np.asarray(ours[ti]), np.asarray(theirs[ti]))
             for ti in order if ti in theirs)
    return next((m for m in found if m is not None), None)


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
