"""Per-op figures: MACs, parameter bytes, activation bytes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ir import Graph, Operator


@dataclass(frozen=True)
class OpStats:
    index: int
    opcode: str
    macs: int
    param_bytes: int
    input_bytes: int
    output_bytes: int

    @property
    def activation_bytes(self) -> int:
        return self.input_bytes + self.output_bytes


def op_macs(graph: Graph, op: Operator) -> int:
    """Multiply-accumulates of conv-like ops; pooling and elementwise ops count one per tap."""
    outs = graph.op_outputs(op)
    out_elems = int(np.prod(outs[0].shape)) if outs else 0
    if op.opcode == "CONV_2D":
        f = graph.tensor(op.inputs[1])
        return out_elems * f.shape[1] * f.shape[2] * f.shape[3]
    if op.opcode == "DEPTHWISE_CONV_2D":
        f = graph.tensor(op.inputs[1])
        return out_elems * f.shape[1] * f.shape[2]
    if op.opcode == "FULLY_CONNECTED":
        w = graph.tensor(op.inputs[1])
        return (out_elems // w.shape[0]) * w.shape[0] * w.shape[1]
    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return out_elems * op.options["filter_h"] * op.options["filter_w"]
    if op.opcode == "MEAN":
        return graph.tensor(op.inputs[0]).size
    if op.opcode in ("ADD", "SUB", "MUL"):
        return out_elems
    return 0


def op_stats(graph: Graph, op: Operator) -> OpStats:
    ins = [t for t in graph.op_inputs(op) if t is not None]
    return OpStats(
        index=op.index, opcode=op.opcode, macs=op_macs(graph, op),
        param_bytes=sum(t.nbytes for t in ins if t.is_constant),
        input_bytes=sum(t.nbytes for t in ins if not t.is_constant),
        output_bytes=sum(t.nbytes for t in graph.op_outputs(op)),
    )


def graph_stats(graph: Graph) -> list[OpStats]:
    return [op_stats(graph, op) for op in graph.operators]
