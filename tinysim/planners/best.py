"""``best``: search op orders, in-place subsets and placement heuristics; keep the smallest.

1. Orders: the graph's own, plus the order that minimizes the peak of live bytes, found by
   dynamic programming over sets of executed ops (the live set after a prefix depends on
   the set, not on its order, so the best peak per set is kept; a beam caps the number of
   sets per depth for very branchy graphs). Residual blocks and joined branches are where
   the order matters.
2. In-place subsets: every possible rewrite, or only those at steps whose live bytes
   without it exceed a fraction of the all-in-place peak (fewer rewrites means fewer long
   offset-locked chains for the placer to work around).
3. Placement: greedy first fit with several group orders (size, first use, lifetime,
   area, peak-step members first).
Candidates are compared on arena bytes, then on the candidate's position in this fixed
enumeration, so the result is deterministic. The graph order with size-first placement
and no rewrites is TFLM's plan, so ``best`` never does worse than ``tflm``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph
from ..plan import Plan
from .inplace import (ELEMENTWISE_OPS, VIEW_OPS, depthwise_channel_ok, rows_max_delta,
                      rows_reverse_min_delta)
from .place import Group, arena_bytes, fit, rank, squeaky_wheel
from .schedule import PlanOptions, Schedule, build_schedule, foldable_pads

NAME = "best"
BEAM = 400                            # ordering states kept per depth
INPLACE_THRESHOLDS = (None, 1.0, 0.9, 0.75, 0.5)   # None: every possible rewrite
REFINE = 4                            # best candidates refined by squeaky wheel
REFINE_ROUNDS = 60


@dataclass(frozen=True)
class _Node:
    """An op as the order search sees it: tensors read and written (after PAD folding),
    and the bytes an in-place rewrite would save if input ``saves_on`` dies here."""

    op: int
    reads: frozenset[int]
    writes: tuple[int, ...]
    scratch: int
    saves_on: tuple[tuple[int, int], ...]  # (input tensor, bytes saved)


def _nodes(graph: Graph, options: PlanOptions, alignment: int) -> list[_Node]:
    base = build_schedule(graph, None, options, alignment=alignment,
                          inplace_ops=frozenset())
    nodes = []
    for st in base.steps:
        op = graph.operators[st.op]
        out = [graph.tensor(a.tensor) for a in st.writes]
        scratch = sum(r.size for r in base.requests if r.name in st.scratch)
        saves: list[tuple[int, int]] = []
        if len(out) == 1:
            y = out[0]
            for a in st.reads:
                x = graph.tensor(a.tensor)
                saved = 0
                if options.reshape_view and op.opcode in VIEW_OPS and a.box is None:
                    saved = y.nbytes
                elif options.inplace_elementwise and op.opcode in ELEMENTWISE_OPS and \
                        a.box is None and x.shape == y.shape and x.itemsize >= y.itemsize:
                    saved = y.nbytes
                elif a.slot == 0:
                    footprints = []
                    if options.inplace_depthwise and depthwise_channel_ok(graph, op, a) is None:
                        footprints.append(x.nbytes + x.shape[1] * x.shape[2])
                    limit = rows_max_delta(graph, op, a) if options.inplace_rows else None
                    if limit is not None:
                        down = -(limit // alignment * alignment)
                        up = -(-rows_reverse_min_delta(graph, op, a) // alignment) * alignment
                        footprints.append(min(max(x.nbytes + down, y.nbytes),
                                              max(y.nbytes + up, x.nbytes)))
                    if footprints:
                        saved = x.nbytes + y.nbytes - min(footprints)
                if saved > 0:
                    saves.append((a.tensor, saved))
        nodes.append(_Node(st.op, frozenset(a.tensor for a in st.reads),
                           tuple(a.tensor for a in st.writes), scratch, tuple(saves)))
    return nodes


def search_order(graph: Graph, options: PlanOptions, alignment: int = 16) -> tuple[int, ...]:
    """An op order minimizing the peak of live bytes (folded PADs stay where the graph
    has them; they run no step)."""
    nodes = _nodes(graph, options, alignment)
    n = len(nodes)
    size = {t.index: (0 if t.is_constant else t.nbytes) for t in graph.tensors}
    producer = {}
    for i, nd in enumerate(nodes):
        for t in nd.writes:
            producer[t] = i
    consumers: dict[int, int] = {}
    for i, nd in enumerate(nodes):
        for t in nd.reads:
            consumers[t] = consumers.get(t, 0) | (1 << i)
    deps = [0] * n
    for i, nd in enumerate(nodes):
        for t in nd.reads:
            if t in producer:
                deps[i] |= 1 << producer[t]
    outputs = set(graph.outputs)
    held = [t for t in graph.inputs if size.get(t, 0)]

    def live_after(done: int, tensors) -> int:
        return sum(size[t] for t in tensors
                   if t in outputs or consumers.get(t, 0) & ~done)

    # state: executed-set bitmask -> (peak, order, live tensors)
    states: dict[int, tuple[int, tuple[int, ...], frozenset[int]]] = {0: (0, (), frozenset(held))}
    for _ in range(n):
        nxt: dict[int, tuple[int, tuple[int, ...], frozenset[int]]] = {}
        for done, (peak, order, live) in states.items():
            base = live_after(done, live)
            for i in range(n):
                if done >> i & 1 or deps[i] & ~done:
                    continue
                nd = nodes[i]
                after = done | (1 << i)
                during = base + sum(size[t] for t in nd.writes) + nd.scratch
                saving = max((s for t, s in nd.saves_on
                              if t not in outputs and not consumers.get(t, 0) & ~after),
                             default=0)
                cand = (max(peak, during - saving), order + (i,),
                        frozenset(t for t in live | set(nd.writes)
                                  if t in outputs or consumers.get(t, 0) & ~after))
                old = nxt.get(after)
                if old is None or cand[:2] < old[:2]:
                    nxt[after] = cand
        ranked = sorted(nxt.items(), key=lambda kv: (kv[1][0], live_after(kv[0], kv[1][2]),
                                                     kv[1][1]))
        states = dict(ranked[:BEAM])
    _, order, _ = min(states.values(), key=lambda v: v[:2])
    placed = [nodes[i].op for i in order]
    # folded PADs run no step; put each right after its input's producer so the order
    # stays topological for the graph
    producers = graph.producers()
    for p in sorted(foldable_pads(graph)) if options.fold_pad else ():
        if p not in placed:
            prod = producers.get(graph.operators[p].inputs[0])
            placed.insert(placed.index(prod) + 1 if prod is not None else 0, p)
    return tuple(placed)


def _keys(schedule: Schedule, alignment: int):
    live = schedule.step_bytes()
    peak_step = max(range(len(live)), key=lambda k: live[k], default=0)

    def size(g: Group) -> int:
        return g.extent(alignment)

    def span(g: Group) -> int:
        return g.last - g.first + 1

    def at_peak(g: Group) -> bool:
        return any(r.live.first <= peak_step <= r.live.last for r, _ in g.members)

    return (
        lambda pos, g: (-size(g), -pos),                       # TFLM: largest first
        lambda pos, g: (g.first, -size(g), pos),               # by first use
        lambda pos, g: (-span(g), -size(g), pos),              # longest-lived first
        lambda pos, g: (-size(g) * span(g), pos),              # largest area first
        lambda pos, g: (not at_peak(g), -size(g), pos),        # the peak step's first
    )


def _inplace_subsets(graph: Graph, order: tuple[int, ...], options: PlanOptions,
                     alignment: int) -> list[frozenset[int] | None]:
    if not any(getattr(options, n) for n in ("reshape_view", "inplace_elementwise",
                                             "inplace_depthwise", "inplace_rows")):
        return [None]
    every = build_schedule(graph, order, options, alignment=alignment)
    none = build_schedule(graph, order, options, alignment=alignment,
                          inplace_ops=frozenset())
    peak = every.lower_bound()
    without = none.step_bytes()
    eligible = [(k, st.op) for k, st in enumerate(every.steps) if st.inplace is not None]
    subsets: list[frozenset[int] | None] = []
    for threshold in INPLACE_THRESHOLDS:
        if threshold is None:
            subset = None
        else:
            subset = frozenset(op for k, op in eligible if without[k] > threshold * peak)
        if subset not in subsets:
            subsets.append(subset)
    return subsets


def plan(graph: Graph, options: PlanOptions = PlanOptions(), alignment: int = 16) -> Plan:
    orders = [tuple(range(len(graph.operators)))]
    searched = search_order(graph, options, alignment)
    if searched not in orders:
        orders.append(searched)
    candidates = []
    for order in orders:
        for subset in _inplace_subsets(graph, order, options, alignment):
            schedule = build_schedule(graph, order, options, alignment=alignment,
                                      inplace_ops=subset)
            groups = schedule.groups
            for key in _keys(schedule, alignment):
                ranked = rank(groups, key)
                offsets = fit([groups[i] for i in ranked], alignment)
                candidates.append((arena_bytes(groups, offsets, alignment), len(candidates),
                                   schedule, ranked))
    # refine the few best: ties keep the earlier candidate (fixed enumeration order)
    candidates.sort(key=lambda c: c[:2])
    best = None
    for arena, position, schedule, ranked in candidates[:REFINE]:
        if arena > schedule.lower_bound():
            arena, ranked, _ = squeaky_wheel(schedule.groups, ranked, alignment, False,
                                             REFINE_ROUNDS)
        if best is None or (arena, position) < best[:2]:
            best = (arena, position, schedule, ranked)
    _, _, schedule, ranked = best
    offsets = fit([schedule.groups[i] for i in ranked], alignment)
    return schedule.to_plan(offsets, NAME, alignment)
