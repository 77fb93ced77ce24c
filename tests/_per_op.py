"""Per-op bit-exactness on a shared model: each op is fed TFLM's own input tensors (from
the oracle run with every tensor preserved), so one op's bug cannot hide behind another's.

Used by tests/test_ops_conv.py and tests/test_ops_elementwise.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kernels_ref
from tinysim.ir import Graph, Operator
from tinysim.oracle import TFLMOracle
from tinysim.verify import tensor_mismatch


def check_ops_on_tflm_inputs(path: Path, graph: Graph, ops: list[Operator],
                             input_sets) -> int:
    """Run TFLM on each input set, evaluate every op in ``ops`` on TFLM's values of its
    inputs and fail on the first output that differs from TFLM's; returns how many
    (op, input set) outputs were compared."""
    oracle = TFLMOracle.from_file(str(path), graph)
    reg = kernels_ref.registry()
    prepared = [(op, reg[op.opcode], reg[op.opcode].prepare(graph, op)) for op in ops]
    checked = 0
    for k, inputs in enumerate(input_sets):
        tflm = oracle.run(inputs)
        for op, module, params in prepared:
            ins = [None if ti < 0 else
                   graph.tensor(ti).data if graph.tensor(ti).is_constant else tflm[ti]
                   for ti in op.inputs]
            out_t = graph.tensor(op.outputs[0])
            ours = np.full(out_t.shape, 99, np.int8)  # a sentinel the op must overwrite
            module.evaluate(params, ins, [ours])
            mismatch = tensor_mismatch(graph, op.outputs[0], ours, tflm[op.outputs[0]], k)
            if mismatch is not None:
                pytest.fail(mismatch.describe())
            checked += 1
    return checked
