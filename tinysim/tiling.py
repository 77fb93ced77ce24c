"""Which ops can run region by region, and what a region step reads.

Patch-based plans (MCUNetV2) and tensor-splitting plans (TinyTS) run an op on a box of
its output. The contract of such a *region step* is the plan format's
(``planners.geometry``): the step reads exactly the input box the output box needs,
the op's own padding included as elements outside the tensor with a fill value, and the
executor runs the op VALID on it. So SAME padding appears only where a region touches a
true image border; inner region borders read real neighbours (the halo).

A PAD whose consumers are all tiled window ops is folded into them (the consumer reads the
PAD's input through a box that reaches past it, filled with the pad value); other PADs end
the tiled stage.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import PlanError
from .ir import Graph, Operator
from .plan import Box
from .planners.geometry import (POINTWISE_OPS, SPATIAL_OPS, fill_problem, fold_offset,
                                needed_box)
from .planners.schedule import foldable_pads
from .stats import op_macs


@dataclass(frozen=True)
class RegionRead:
    """Input ``slot`` of a tiled op is read from stored tensor ``tensor`` (the PAD's input
    when a PAD is folded) shifted by ``offset``; ``fold_fill``: the folded PAD's value."""

    slot: int
    tensor: int
    offset: tuple[int, ...]
    fold_fill: int | None


@dataclass(frozen=True)
class TiledOp:
    op: int
    output: int
    reads: tuple[RegionRead, ...]


def _nhwc(graph: Graph, t: int) -> bool:
    return len(graph.tensor(t).shape) == 4


def _region_op(graph: Graph, op: Operator) -> bool:
    """The op computes any NHWC output box from the input box ``needed_box`` gives."""
    if len(op.outputs) != 1 or not _nhwc(graph, op.outputs[0]):
        return False
    acts = [t for t in op.inputs if t >= 0 and not graph.tensor(t).is_constant]
    if not acts or not all(_nhwc(graph, t) for t in acts):
        return False
    out = graph.tensor(op.outputs[0]).shape
    if op.opcode in SPATIAL_OPS:
        if acts != [op.inputs[0]]:
            return False
        # AVERAGE_POOL_2D divides by the in-image count: its SAME padding cannot be
        # materialized as stored values, so only unpadded pools run on regions
        if op.opcode == "AVERAGE_POOL_2D" and op.options["padding"] == "SAME":
            x = graph.tensor(op.inputs[0]).shape
            o = op.options
            return (out[1] - 1) * o["stride_h"] + o["filter_h"] <= x[1] and \
                (out[2] - 1) * o["stride_w"] + o["filter_w"] <= x[2]
        return True
    if op.opcode in POINTWISE_OPS:
        return all(graph.tensor(t).shape == out for t in acts)
    return False


def folded_pads(graph: Graph, tiled: set[int]) -> dict[int, tuple[int, Box, int]]:
    """Spatial PADs among ``tiled`` whose consumers are all tiled window ops: no step
    runs them, their consumers read through them."""
    consumers = graph.consumers()
    out = {}
    for p, v in foldable_pads(graph).items():
        op = graph.operators[p]
        if p not in tiled:
            continue
        users = consumers.get(op.outputs[0], [])
        if users and all(u in tiled and graph.operators[u].opcode in SPATIAL_OPS
                         and _region_op(graph, graph.operators[u]) for u in users):
            out[p] = v
    return out


def stage_problem(graph: Graph, start: int, end: int) -> str | None:
    """Why ops start..end-1 cannot all run region by region, or None."""
    if not 0 <= start < end <= len(graph.operators):
        return f"ops {start}..{end - 1} are not a range of the model's {len(graph.operators)} ops"
    folded = folded_pads(graph, set(range(start, end)))
    for i in range(start, end):
        op = graph.operators[i]
        if i in folded or _region_op(graph, op):
            continue
        if op.opcode == "PAD" and i in foldable_pads(graph):
            readers = graph.consumers().get(op.outputs[0], [])
            return (f"op {i} (PAD) cannot be folded into its readers (ops {readers}): only "
                    "convolutions and pools inside the stage read through a folded PAD")
        return f"op {i} ({op.opcode}) cannot run on an output region"
    if not any(graph.operators[i].opcode in SPATIAL_OPS for i in range(start, end)):
        return f"ops {start}..{end - 1} hold no spatial op (convolution or pooling)"
    return None


def spatial_stage(graph: Graph) -> tuple[int, int] | None:
    """The longest run of ops start..end-1 that can run region by region, starting at the
    first op that can (a leading RESHAPE of the input stays whole); None when the model
    has no spatial stage."""
    n = len(graph.operators)
    start = next((i for i in range(n) if _region_op(graph, graph.operators[i])
                  or i in foldable_pads(graph)), None)
    if start is None:
        return None
    best = None
    for end in range(start + 1, n + 1):
        op = graph.operators[end - 1]
        if not (_region_op(graph, op) or op.opcode == "PAD"):
            break  # no longer stage can hold this op
        if stage_problem(graph, start, end) is None:
            best = (start, end)
    return best


def stage_ops(graph: Graph, start: int, end: int) -> dict[int, TiledOp]:
    """The region ops of stage start..end-1 (a folded PAD gets none: no step runs it)."""
    problem = stage_problem(graph, start, end)
    if problem is not None:
        raise PlanError(f"{graph.name}: ops {start}..{end - 1} cannot form a tiled stage: "
                        f"{problem}")
    folded = folded_pads(graph, set(range(start, end)))
    through = {graph.operators[p].outputs[0]: v for p, v in folded.items()}
    all_folded = foldable_pads(graph)
    out: dict[int, TiledOp] = {}
    for i in range(start, end):
        if i in folded:
            continue
        op = graph.operators[i]
        reads = []
        for slot, t in enumerate(op.inputs):
            if t < 0 or graph.tensor(t).is_constant:
                continue
            src, fill = (through[t][0], through[t][2]) if t in through else (t, None)
            reads.append(RegionRead(slot, src, fold_offset(graph, op, slot, src, all_folded),
                                    fill))
        out[i] = TiledOp(i, op.outputs[0], tuple(reads))
    return out


def region_read(graph: Graph, t: TiledOp, r: RegionRead, out_box: Box) -> tuple[Box, int | None]:
    """(box of the stored tensor the region reads, fill for its part outside the tensor)."""
    op = graph.operators[t.op]
    whole = out_box == Box.whole(graph.tensor(t.output).shape)
    # a write of the whole output is a whole-op step: it reads the logical input
    box = needed_box(graph, op, r.slot, None if whole else out_box, r.offset)
    shape = graph.tensor(r.tensor).shape
    if Box.whole(shape).contains(box):
        return box, None
    x = graph.tensor(op.inputs[r.slot])
    own = -128 if op.opcode == "MAX_POOL_2D" else x.zero_point
    fill = r.fold_fill if r.fold_fill is not None else own
    problem = fill_problem(graph, op, r.slot, box, shape, r.offset, fill, r.fold_fill)
    if problem:
        raise PlanError(f"{graph.name}: op {t.op} ({op.opcode}) output region "
                        f"{out_box.start}..{out_box.stop}: {problem}")
    return box, fill


def region_macs(graph: Graph, op_index: int, out_box: Box) -> int:
    """MACs of computing ``out_box`` of the op's output (stats.op_macs counts a fixed
    number per output element for the ops that run on regions)."""
    op = graph.operators[op_index]
    total = graph.tensor(op.outputs[0]).size
    return op_macs(graph, op) * out_box.size // total if total else 0


def plan_macs(graph: Graph, plan) -> tuple[int, int]:
    """(MACs the plan's steps compute, MACs of the layer-wise model): the difference is
    the halo recomputation of a patch plan."""
    done = 0
    for st in plan.steps:
        op = graph.operators[st.op]
        w = st.writes[0] if st.writes else None
        if w is not None and w.box is not None:
            done += region_macs(graph, st.op, w.box)
        else:
            done += op_macs(graph, op)
    return done, sum(op_macs(graph, op) for op in graph.operators)


def split_even(n: int, parts: int) -> list[tuple[int, int]]:
    """[0, n) in ``parts`` contiguous ranges whose lengths differ by at most one."""
    if not 1 <= parts <= n:
        raise PlanError(f"cannot cut {n} rows/columns into {parts} parts")
    cuts = [n * k // parts for k in range(parts + 1)]
    return [(cuts[k], cuts[k + 1]) for k in range(parts)]
