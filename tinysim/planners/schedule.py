"""From a graph, an op order and options to the steps and buffers of a plan (no offsets).

Options rewrite the schedule before placement:
- ``fold_pad``: a constant PAD disappears; its consumers read the PAD's input through a
  box reaching past the tensor, filled with the pad value (TFLM's int8 PAD pads with the
  output zero point), as TinyEngine's kernels pad on the fly.
- ``reshape_view``: RESHAPE/SQUEEZE/EXPAND_DIMS whose input dies there run no kernel; the
  output is the input's bytes.
- ``inplace_elementwise``: an elementwise op writes its output over an input that dies
  there, at the same offset (same element count, output items no wider than input items,
  so output element i never covers an input element after i).
- ``inplace_depthwise``: TinyEngine's in-place depthwise conv: per channel, the input
  channel is copied to a one-channel scratch buffer and the output channel written back
  over the input's bytes (output element (p, c) at input byte (p, c), p < out H*W).
- ``inplace_rows``: a CONV_2D (or a depthwise conv the channel scheme cannot take) whose
  input dies there runs row by row with its output placed just before the input, so each
  output row lands on input rows no later row reads (or bottom up, output just after
  the input: whichever keeps the in-place chain nearer its start, so it does not drift).
  When a depthwise conv can take both, it gets the scheme with the smaller footprint.
- ``input_outside``: graph inputs stay in the application's memory, not the arena.
The safety rules of each scheme are in ``inplace``; the checker applies the same rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PlanError
from ..ir import Graph, Operator
from ..liveness import LiveRange, activation_tensors, live_ranges
from ..plan import Access, Box, Buffer, InPlace, Plan, Step
from .inplace import (ELEMENTWISE_OPS, VIEW_OPS, depthwise_channel_ok, rows_max_delta,
                      rows_reverse_min_delta)
from .place import Group, align_up, group_requests

OPTION_NAMES = ("fold_pad", "reshape_view", "inplace_elementwise", "inplace_depthwise",
                "inplace_rows", "input_outside")
INPLACE_GROUP = ("fold_pad", "reshape_view", "inplace_elementwise", "inplace_depthwise",
                 "inplace_rows")


@dataclass(frozen=True)
class PlanOptions:
    fold_pad: bool = False
    reshape_view: bool = False
    inplace_elementwise: bool = False
    inplace_depthwise: bool = False
    inplace_rows: bool = False
    input_outside: bool = False

    @classmethod
    def from_names(cls, names) -> "PlanOptions":
        flags: dict[str, bool] = {}
        for name in names:
            if name == "inplace":
                flags.update({n: True for n in INPLACE_GROUP})
            elif name in OPTION_NAMES:
                flags[name] = True
            else:
                raise PlanError(f"unknown plan option '{name}'; options are 'inplace' (all of "
                                f"{', '.join(INPLACE_GROUP)}) or any of {', '.join(OPTION_NAMES)}")
        return cls(**flags)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in OPTION_NAMES if getattr(self, n))


@dataclass(frozen=True)
class Request:
    """A buffer to place. In-place: its offset must be ``anchor``'s offset + ``delta``."""

    name: str
    kind: str
    tensor: int
    size: int
    live: LiveRange
    purpose: str = ""
    anchor: str | None = None
    delta: int = 0
    external: bool = False


@dataclass(frozen=True)
class Schedule:
    graph: Graph
    options: PlanOptions
    order: tuple[int, ...]
    steps: tuple[Step, ...]
    requests: tuple[Request, ...]
    _groups: tuple[Group, ...] = field(default=(), repr=False)

    @property
    def groups(self) -> tuple[Group, ...]:
        """Arena requests placed together (an in-place chain)."""
        return self._groups

    def step_bytes(self) -> list[int]:
        """Live bytes per step: the union of each group's live members' byte ranges."""
        n = len(self.steps)
        spans: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for gi, group in enumerate(self.groups):
            for r, rel in group.members:
                for s in range(r.live.first, r.live.last + 1):
                    spans[s].append((gi, rel, rel + r.size))
        out = []
        for s in range(n):
            total, last_group, reach = 0, -1, 0
            for gi, lo, hi in sorted(spans[s]):
                if gi != last_group:
                    last_group, reach = gi, lo
                if hi > reach:
                    total += hi - max(lo, reach)
                    reach = hi
            out.append(total)
        return out

    def lower_bound(self) -> int:
        return max(self.step_bytes(), default=0)

    def to_plan(self, offsets: dict[str, int], planner: str, alignment: int) -> Plan:
        g = self.graph
        buffers = []
        arena = 0
        for r in self.requests:
            off = None if r.external else offsets[r.name]
            if off is not None:
                arena = max(arena, off + align_up(r.size, alignment))
            buffers.append(Buffer(name=r.name, kind=r.kind, tensor=r.tensor, box=None,
                                  size=r.size, offset=off, first_step=r.live.first,
                                  last_step=r.live.last, purpose=r.purpose))
        return Plan(model=g.name, model_sha256=g.sha256, planner=planner,
                    options=self.options.names, alignment=alignment, arena_bytes=arena,
                    buffers=tuple(buffers), steps=self.steps)


def tensor_buffer_name(tensor: int) -> str:
    return f"t{tensor}"


def tflm_scratch(graph: Graph, op: Operator) -> list[tuple[int, str]]:
    """Scratch the TFLM reference kernel requests in its Prepare (RequestScratchBufferInArena):
    the reduce kernels' int32 accumulators / index buffers; the other corpus ops need none."""
    if op.opcode in ("MEAN", "SUM"):
        inp = graph.tensor(op.inputs[0])
        if inp.dtype in ("int8", "uint8", "int16"):
            return [(graph.tensor(op.outputs[0]).size * 4, f"tflm {op.opcode} temp_sum")]
    if op.opcode in ("REDUCE_MAX", "REDUCE_MIN"):
        inp, axis = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
        return [(4 * len(inp.shape), f"tflm {op.opcode} temp_index"),
                (4 * axis.size, f"tflm {op.opcode} resolved_axis")]
    return []


def check_order(graph: Graph, order: tuple[int, ...]) -> None:
    n = len(graph.operators)
    if sorted(order) != list(range(n)):
        raise PlanError(f"{graph.name}: an op order must list each of the {n} ops once")
    producers = graph.producers()
    pos = {op: k for k, op in enumerate(order)}
    for op_index in order:
        for t in graph.operators[op_index].inputs:
            p = producers.get(t)
            if p is not None and pos[p] > pos[op_index]:
                raise PlanError(f"{graph.name}: op {op_index} runs before op {p}, which "
                                f"produces its input tensor {t}")


def foldable_pads(graph: Graph) -> dict[int, tuple[int, Box, int]]:
    """PAD op index -> (input tensor, read box of the input equal to the output, fill)."""
    out: dict[int, tuple[int, Box, int]] = {}
    graph_outputs = set(graph.outputs)
    for op in graph.operators:
        if op.opcode != "PAD" or len(op.inputs) != 2 or op.outputs[0] in graph_outputs:
            continue
        x, pads = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
        y = graph.tensor(op.outputs[0])
        if x.is_constant or not pads.is_constant or x.dtype != y.dtype or \
                x.dtype not in ("int8", "int16") or x.quantization != y.quantization:
            continue
        p = pads.data.reshape(-1, 2).astype(int)
        if len(p) != len(x.shape) or (p < 0).any():
            continue
        start = tuple(-int(a) for a in p[:, 0])
        stop = tuple(int(d + b) for d, b in zip(x.shape, p[:, 1]))
        if tuple(b - a for a, b in zip(start, stop)) != y.shape:
            continue
        out[op.index] = (x.index, Box(start, stop), y.zero_point)
    return out


def build_schedule(graph: Graph, order: tuple[int, ...] | None = None,
                   options: PlanOptions = PlanOptions(),
                   elementwise_slot: dict[int, int] | None = None,
                   alignment: int = 16, inplace_ops: frozenset[int] | None = None) -> Schedule:
    """Steps and buffer requests for ``order`` (default: the graph's). In-place rewrites
    apply to the ops in ``inplace_ops`` (default: every op they can apply to). For
    elementwise in-place ops ``elementwise_slot`` may pick the input slot to overwrite per
    op; by default the first slot whose input dies there."""
    order = tuple(range(len(graph.operators))) if order is None else tuple(order)
    check_order(graph, order)
    needs_memory = set(activation_tensors(graph))
    folded = foldable_pads(graph) if options.fold_pad else {}
    # a folded PAD's output is read as a box of the PAD's input; a PAD reading another
    # folded PAD stays, so a read never goes through two folds
    folded = {k: v for k, v in folded.items()
              if graph.producers().get(v[0]) not in folded}
    replaced = {graph.operators[p].outputs[0]: v for p, v in folded.items()}

    steps: list[Step] = []
    for op_index in order:
        if op_index in folded:
            continue
        op = graph.operators[op_index]
        reads = []
        for slot, t in enumerate(op.inputs):
            if t < 0 or graph.tensor(t).is_constant or t not in needs_memory and t not in replaced:
                continue
            if t in replaced:
                src, box, fill = replaced[t]
                reads.append(Access(slot, src, (tensor_buffer_name(src),), box, fill))
            else:
                reads.append(Access(slot, t, (tensor_buffer_name(t),)))
        writes = tuple(Access(slot, t, (tensor_buffer_name(t),))
                       for slot, t in enumerate(op.outputs) if t in needs_memory)
        scratch = tuple(f"s{len(steps)}.{k}" for k, _ in enumerate(tflm_scratch(graph, op)))
        steps.append(Step(op=op_index, kernel="op", reads=tuple(reads), writes=writes,
                          scratch=scratch))

    tensors = sorted(t for t in needs_memory if t not in replaced)
    names = {tensor_buffer_name(t): t for t in tensors}
    scratch_sizes: dict[str, tuple[int, str]] = {}
    for k, st in enumerate(steps):
        for name, (size, purpose) in zip(st.scratch, tflm_scratch(graph, graph.operators[st.op])):
            scratch_sizes[name] = (size, purpose)
            names[name] = -1
    live = live_ranges(graph, steps, names)

    external = set()
    if options.input_outside:
        external = {tensor_buffer_name(t) for t in graph.inputs
                    if tensor_buffer_name(t) in names}
    anchors: dict[str, tuple[str, int]] = {}
    extra: dict[str, tuple[int, str, LiveRange]] = {}
    graph_outputs = set(graph.outputs)
    for k, st in enumerate(steps):
        op = graph.operators[st.op]
        if inplace_ops is not None and st.op not in inplace_ops:
            continue
        rewritten = _inplace(graph, op, k, st, live, options, graph_outputs, external,
                             (elementwise_slot or {}).get(st.op), alignment,
                             lambda name: _chain_offset(anchors, name))
        if rewritten is None:
            continue
        new_step, out_name, in_name, delta, scratch = rewritten
        steps[k] = new_step
        anchors[out_name] = (in_name, delta)
        if scratch is not None:
            extra[scratch[0]] = (scratch[1], scratch[2], LiveRange(k, k))

    requests = []
    for t in tensors:
        name = tensor_buffer_name(t)
        if name not in live:
            continue  # a tensor no step touches (only a folded PAD read it)
        anchor, delta = anchors.get(name, (None, 0))
        requests.append(Request(name, "tensor", t, graph.tensor(t).nbytes, live[name],
                                anchor=anchor, delta=delta, external=name in external))
    for k, st in enumerate(steps):
        for name in st.scratch:
            if name in scratch_sizes:
                size, purpose = scratch_sizes[name]
                requests.append(Request(name, "scratch", -1, size, live[name], purpose))
            else:
                size, purpose, rng = extra[name]
                requests.append(Request(name, "scratch", -1, size, rng, purpose))
    return Schedule(graph, options, order, tuple(steps), tuple(requests),
                    group_requests(requests))


def _inplace(graph: Graph, op: Operator, k: int, st: Step, live: dict[str, LiveRange],
             options: PlanOptions, graph_outputs: set[int], external: set[str],
             preferred_slot: int | None, alignment: int, chain_offset):
    """(new step, output buffer, overwritten input buffer, output offset - input offset,
    scratch request or None), or None when no in-place rewrite applies."""
    if len(st.writes) != 1 or not st.reads:
        return None
    out_t = graph.tensor(st.writes[0].tensor)
    out_name = st.writes[0].buffers[0]

    def dies_here(a: Access) -> bool:
        name = a.buffers[0]
        return (live[name].last == k and a.tensor not in graph_outputs
                and name not in external
                and sum(r.buffers[0] == name for r in st.reads) == 1)

    def rewrite(kernel, a, scheme, delta=0, scratch=None):
        extra = (scratch[0],) if scratch else ()
        return (Step(st.op, kernel, st.reads, st.writes, st.scratch + extra,
                     InPlace(a.tensor, out_t.index, scheme)),
                out_name, a.buffers[0], delta, scratch)

    if options.reshape_view and op.opcode in VIEW_OPS:
        a = st.reads[0]
        if a.box is None and dies_here(a) and graph.tensor(a.tensor).nbytes == out_t.nbytes:
            return rewrite("view", a, "view")
    if options.inplace_elementwise and op.opcode in ELEMENTWISE_OPS:
        candidates = [a for a in st.reads if a.box is None and dies_here(a)
                      and graph.tensor(a.tensor).shape == out_t.shape
                      and graph.tensor(a.tensor).itemsize >= out_t.itemsize]
        if preferred_slot is not None:
            candidates = [a for a in candidates if a.slot == preferred_slot] or candidates
        if candidates:
            return rewrite("op", candidates[0], "elementwise")
    first = st.reads[0]
    if first.slot != 0 or not dies_here(first):
        return None
    x = graph.tensor(first.tensor)
    channel = None
    if options.inplace_depthwise and depthwise_channel_ok(graph, op, first) is None:
        plane = x.shape[1] * x.shape[2]
        channel = (x.nbytes + align_up(plane, alignment),
                   ("depthwise_inplace", first, "depthwise_channel", 0,
                    (f"s{k}.dwchan", plane, "depthwise channel")))
    rows = None
    limit = rows_max_delta(graph, op, first) if options.inplace_rows else None
    if limit is not None:
        # rounded away from the input to the alignment: past the limit is safe too
        down = limit // alignment * alignment
        up = -(-rows_reverse_min_delta(graph, op, first) // alignment) * alignment
        base = chain_offset(first.buffers[0])
        if abs(base + up) < abs(base + down):
            rows = (max(out_t.nbytes + up, x.nbytes),
                    ("op_rows_reverse", first, "rows_reverse", up, None))
        else:
            rows = (max(x.nbytes - down, out_t.nbytes), ("op_rows", first, "rows", down, None))
    # the scheme with the smaller input+output footprint; TinyEngine's channel one on a tie
    chosen = min((c for c in (channel, rows) if c is not None), key=lambda c: c[0],
                 default=None)
    if chosen is None:
        return None
    kernel, a, scheme, delta, scratch = chosen[1]
    return rewrite(kernel, a, scheme, delta=delta, scratch=scratch)


def _chain_offset(anchors: dict[str, tuple[str, int]], name: str) -> int:
    """Offset of a buffer from the start of its in-place chain's first buffer."""
    offset = 0
    while name in anchors:
        name, delta = anchors[name]
        offset += delta
    return offset

