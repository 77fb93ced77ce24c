"""Text rendering of graphs and reports. Everything that prints lives here or in the CLI."""
from __future__ import annotations

from .ir import Graph, Tensor
from .stats import graph_stats


def _quant(t: Tensor) -> str:
    q = t.quantization
    if q is None:
        return "-"
    if q.per_channel:
        return (f"per-channel[{q.scale.size}] axis {q.axis} scale "
                f"{float(q.scale.min()):.3g}..{float(q.scale.max()):.3g}")
    return f"s={float(q.scale[0]):.6g} zp={int(q.zero_point[0])}"


def _shape(t: Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


def format_info(graph: Graph) -> str:
    stats = graph_stats(graph)
    lines = [f"model {graph.name}  sha256 {graph.sha256[:16]}...  "
             f"{len(graph.operators)} ops, {len(graph.tensors)} tensors"]
    for ti in graph.inputs:
        t = graph.tensor(ti)
        lines.append(f"  input  t{ti} {t.name}: {_shape(t)} {t.dtype} {_quant(t)}")
    for ti in graph.outputs:
        t = graph.tensor(ti)
        lines.append(f"  output t{ti} {t.name}: {_shape(t)} {t.dtype} {_quant(t)}")
    lines.append("")
    lines.append(f"{'op':>4} {'type':<24} {'output':<16} {'out quant':<26} {'act':<6} "
                 f"{'MACs':>11} {'params B':>9} {'act B':>8}")
    for op, st in zip(graph.operators, stats):
        out = graph.tensor(op.outputs[0])
        lines.append(f"{op.index:>4} {op.opcode:<24} {_shape(out):<16} {_quant(out):<26.26} "
                     f"{op.fused_activation if op.fused_activation != 'NONE' else '':<6} "
                     f"{st.macs:>11,} {st.param_bytes:>9,} {st.activation_bytes:>8,}")
    total_macs = sum(s.macs for s in stats)
    params = sum(t.nbytes for t in graph.tensors if t.is_constant)
    largest = max((s.activation_bytes for s in stats), default=0)
    lines.append("")
    lines.append(f"total: {total_macs:,} MACs, {params:,} B of parameters, largest op "
                 f"working set (inputs + outputs) {largest:,} B")
    return "\n".join(lines)
