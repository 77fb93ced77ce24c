"""``patch``: MCUNetV2-style patch-based inference, halo recomputed.

The first stage (the spatial stage's ops up to and including ``split_op``) runs patch by
patch on an n x m grid; the ops after it run whole. The grid cuts each tensor the stage
hands on (the *boundary* tensors: read after the stage, or graph outputs) into n x m
cells with sizes differing by at most one; patch (i, j) computes cell (i, j) of each,
written straight into the boundary tensor's full-size buffer.

What a patch computes of each tensor inside the stage is derived backwards from the
receptive field: an op's output rows (columns) of the patch need the input rows
(columns) its windows reach (kernel, stride, dilation, TFLM's padding, any number of
stride-2 ops); a tensor read by several ops needs the union. Rows and columns are
independent, so a patch's box of a tensor is (rows of grid row i) x (columns of grid
column j). Neighbouring patches' boxes overlap by the halo, which is recomputed: those
MACs are the price of the memory saved (``tiling.plan_macs``). Windows at a true image
border read the op's own padding (the region-step contract), inner patch borders read
the real neighbours. Where no patch needs some rows (a kernel smaller than its stride
skips them), a patch's box is stretched to its neighbour's so every element of every
tensor is computed, as the layer-wise reference does.

Each patch's buffers live only during its own steps, so the arena holds one patch of the
stage at a time, plus the boundary tensors and the input image (inside the arena by
default; with ``input_outside`` patches read their windows straight from the
application's copy).

The second stage runs as ``best`` with every in-place option plans it on its own
(``stage2="inplace"``: TinyEngine's in-place depthwise, row-by-row convolutions, folded
PADs — MCUNetV2's setting), or layer by layer with PADs folded (``stage2="layer"``).
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import PlanError
from ..ir import Graph
from ..plan import Access, Box, Plan, Step
from ..tiling import region_read, spatial_stage, split_even, stage_ops
from . import best
from .schedule import PlanOptions
from .tiled import BufferSpec, box_bytes, finish, whole_steps

NAME = "patch"
STAGE2 = ("inplace", "layer")  # how the ops after the split run: TinyEngine's way, or TFLM's

Span = tuple[int, int]


def _union(a: Span | None, b: Span) -> Span:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def _cover(spans: list[Span], size: int) -> list[Span]:
    """Stretch per-patch ranges so together they cover [0, size): the first starts at 0,
    the last ends at ``size``, each reaches the next one's start."""
    out = list(spans)
    out[0] = (0, out[0][1])
    out[-1] = (out[-1][0], size)
    for k in range(len(out) - 1):
        out[k] = (out[k][0], max(out[k][1], out[k + 1][0]))
    return out


def boundary_tensors(graph: Graph, start: int, split: int) -> list[int]:
    """Tensors the first stage (ops start..split) hands on: produced in it and read after
    it, or graph outputs. A patch computes only its cell of them, so no op of the stage
    may read them (it would need their halo)."""
    produced = {t for i in range(start, split + 1) for t in graph.operators[i].outputs}
    readers = graph.consumers()
    out = sorted(t for t in produced
                 if t in graph.outputs or any(c > split for c in readers.get(t, [])))
    for t in out:
        inner = [c for c in readers.get(t, []) if start <= c <= split]
        if inner:
            raise PlanError(f"{graph.name}: patch plan: tensor {t} is read both after op "
                            f"{split} (by op {max(readers[t])}) and inside the first stage (by "
                            f"op {inner[0]}); end the stage after its last reader or before "
                            "its producer")
    return out


def plan(graph: Graph, grid: tuple[int, int] = (2, 2), split_op: int | None = None,
         input_outside: bool = False, alignment: int = 16, stage2: str = "inplace") -> Plan:
    where = f"{graph.name}: patch plan"
    if stage2 not in STAGE2:
        raise PlanError(f"{where}: second stage '{stage2}' is not one of {', '.join(STAGE2)}")
    n, m = grid
    if n < 1 or m < 1:
        raise PlanError(f"{where}: grid {n}x{m} must have at least one row and column")
    stage = spatial_stage(graph)
    if stage is None:
        raise PlanError(f"{where}: no op of the model runs on patches (no convolution or "
                        "pooling stage); use a layer-wise planner")
    start, longest = stage
    split = longest - 1 if split_op is None else split_op
    if not start <= split < longest:
        raise PlanError(f"{where}: split op {split} must be in the spatial stage "
                        f"{start}..{longest - 1}")
    tiled = stage_ops(graph, start, split + 1)
    ops = sorted(tiled)
    boundary = boundary_tensors(graph, start, split)
    for t in boundary:
        shape = graph.tensor(t).shape
        if shape[1] < n or shape[2] < m:
            raise PlanError(f"{where}: tensor {t} is {shape[1]}x{shape[2]}, too small for a "
                            f"{n}x{m} grid; use fewer patches or split earlier")

    # receptive fields, backwards: rows[t][i] and cols[t][j] of every stage tensor
    rows: dict[int, list[Span | None]] = {}
    cols: dict[int, list[Span | None]] = {}
    for t in boundary:
        shape = graph.tensor(t).shape
        rows[t] = list(split_even(shape[1], n))
        cols[t] = list(split_even(shape[2], m))
    for i in reversed(ops):
        op_t = tiled[i]
        t_out = op_t.output
        shape = graph.tensor(t_out).shape
        if t_out not in rows:
            raise PlanError(f"{where}: op {i}'s output tensor {t_out} is never used")
        if t_out not in boundary:
            rows[t_out] = _cover(rows[t_out], shape[1])
            cols[t_out] = _cover(cols[t_out], shape[2])
        for r in op_t.reads:
            src = graph.tensor(r.tensor).shape
            rows.setdefault(r.tensor, [None] * n)
            cols.setdefault(r.tensor, [None] * m)
            for a in range(n):
                for b in range(m):
                    box, _ = region_read(graph, op_t, r, _box(shape, rows[t_out][a],
                                                                cols[t_out][b]))
                    stored = box.intersect(Box.whole(src))
                    if stored is None:
                        raise PlanError(f"{where}: patch ({a}, {b}) of op {i} reads only "
                                        f"padding of tensor {r.tensor}")
                    rows[r.tensor][a] = _union(rows[r.tensor][a], (stored.start[1],
                                                                   stored.stop[1]))
                    cols[r.tensor][b] = _union(cols[r.tensor][b], (stored.start[2],
                                                                   stored.stop[2]))

    specs: list[BufferSpec] = []
    holders: dict[int, tuple[str, ...]] = {}
    for t in graph.inputs:
        if graph.tensor(t).nbytes:
            specs.append(BufferSpec(f"t{t}", t, None, graph.tensor(t).nbytes,
                                    external=input_outside, purpose="graph input"))
            holders[t] = (f"t{t}",)
    scratch: dict[str, tuple[int, str]] = {}
    steps = whole_steps(graph, range(start), holders, 0, specs, scratch)
    for t in boundary:
        holders[t] = (f"t{t}",)
    for a in range(n):
        for b in range(m):
            own: dict[int, str] = {}
            for i in ops:
                op_t = tiled[i]
                t_out = op_t.output
                wbox = _box(graph.tensor(t_out).shape, rows[t_out][a], cols[t_out][b])
                if t_out in boundary:
                    target = holders[t_out][0]
                else:
                    target = own[t_out] = f"p{a}.{b}.t{t_out}"
                    specs.append(BufferSpec(target, t_out, wbox, box_bytes(graph, t_out, wbox),
                                            purpose=f"patch ({a}, {b})"))
                reads = []
                for r in op_t.reads:
                    box, fill = region_read(graph, op_t, r, wbox)
                    names = (own[r.tensor],) if r.tensor in own else holders[r.tensor]
                    reads.append(Access(r.slot, r.tensor, names, box, fill))
                steps.append(Step(op=i, kernel="op", reads=tuple(reads),
                                  writes=(Access(0, t_out, (target,), wbox),)))
    rest = list(range(split + 1, len(graph.operators)))
    specs.extend(BufferSpec(f"t{t}", t, None, graph.tensor(t).nbytes) for t in boundary)
    anchors: dict[str, tuple[str, int]] = {}
    second = _inplace_stage(graph, rest, input_outside, alignment) \
        if stage2 == "inplace" and rest else None
    if second is None:
        stage2 = "layer" if stage2 == "inplace" else stage2
        steps.extend(whole_steps(graph, rest, holders, len(steps), specs, scratch))
    else:
        sub_steps, sub_specs, sub_scratch, anchors = second
        steps.extend(sub_steps)
        specs.extend(sub_specs)
        scratch.update(sub_scratch)
    options = (f"grid={n}x{m}", f"split={split}", f"stage={start}..{split}",
               f"stage2={stage2}") + (("input_outside",) if input_outside else ())
    return finish(graph, steps, specs, scratch, NAME, options, alignment, anchors)


def _inplace_stage(graph: Graph, ops: list[int], input_outside: bool, alignment: int):
    """The second stage as ``best`` with every in-place option plans it on its own (the
    tensors it reads from before it as its inputs): (steps, buffers of the tensors it
    produces, its scratch, in-place anchors), or None when a graph input read there
    must stay outside the arena (the sub-plan would take every input as external)."""
    produced = {t for i in ops for t in graph.operators[i].outputs}
    inputs = sorted({t for i in ops for t in graph.operators[i].inputs
                     if t >= 0 and not graph.tensor(t).is_constant and t not in produced})
    if input_outside and set(inputs) & set(graph.inputs):
        return None
    sub = replace(graph, operators=tuple(replace(graph.operators[i], index=k)
                                         for k, i in enumerate(ops)),
                  inputs=tuple(inputs),
                  outputs=tuple(t for t in graph.outputs if t in produced or t in inputs))
    sub_plan = best.plan(sub, PlanOptions.from_names(["inplace"]), alignment)
    rename = {b.name: f"2.{b.name}" for b in sub_plan.buffers if b.kind == "scratch"}
    steps = [replace(st, op=ops[st.op], scratch=tuple(rename[n] for n in st.scratch))
             for st in sub_plan.steps]
    specs = [BufferSpec(b.name, b.tensor, None, b.size) for b in sub_plan.buffers
             if b.kind == "tensor" and b.tensor in produced]
    scratch = {rename[b.name]: (b.size, b.purpose) for b in sub_plan.buffers
               if b.kind == "scratch"}
    anchors = {}
    for st in sub_plan.steps:
        if st.inplace is not None:
            src = next(a for a in st.reads if a.tensor == st.inplace.input).buffers[0]
            dst = st.writes[0].buffers[0]
            anchors[dst] = (src, sub_plan.buffer(dst).offset - sub_plan.buffer(src).offset)
    return steps, specs, scratch, anchors


def _box(shape: tuple[int, ...], rows: Span, cols: Span) -> Box:
    return Box((0, rows[0], cols[0], 0), (shape[0], rows[1], cols[1], shape[3]))
