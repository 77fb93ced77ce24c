"""What patch and split plans share: buffers holding boxes of tensors, region steps,
whole-tensor steps for the ops after the tiled stage, and placement.

A builder lists steps (``plan.Step`` with explicit read/write boxes) and the buffers they
name; ``finish`` derives live ranges with the plan format's own rule (liveness), keeps
graph inputs outside the arena when asked, places the arena buffers greedily (first fit
and best fit, under several orders; in-place chains placed as one group), keeps the
smallest arena and refines it by squeaky wheel. Tiles are many small buffers with
staggered lifetimes, where the order matters more than for whole tensors: "busiest step
first" (TFLite's greedy-by-breadth) often wins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlanError
from ..ir import Graph
from ..liveness import live_ranges
from ..plan import Access, Box, Buffer, Plan, Step
from .schedule import Request, align_up, foldable_pads, tflm_scratch


REFINE_ROUNDS = 40   # squeaky-wheel re-placements of the best greedy placement


@dataclass(frozen=True)
class BufferSpec:
    """A tensor buffer a builder wants: ``box`` of ``tensor`` (None: the whole tensor)."""

    name: str
    tensor: int
    box: Box | None
    size: int
    external: bool = False
    purpose: str = ""


def box_bytes(graph: Graph, tensor: int, box: Box | None) -> int:
    t = graph.tensor(tensor)
    return (t.size if box is None else box.size) * t.itemsize


def whole_steps(graph: Graph, ops, holders: dict[int, tuple[str, ...]], first_step: int,
                specs: list[BufferSpec], scratch: dict[str, tuple[int, str]]) -> list[Step]:
    """Layer-wise steps for ``ops``; ``holders`` maps each tensor to the buffers that hold
    it (several tiles, or one whole buffer); outputs get whole buffers ``t{index}``, added
    to ``holders`` and ``specs``. Kernel scratch (TFLM's MEAN accumulator) is recorded in
    ``scratch``.
    A PAD among ``ops`` whose readers are all among ``ops`` is folded: no step runs it,
    its readers read its input through a box reaching past it, filled with the pad value
    (the ``fold_pad`` plan option)."""
    ops = list(ops)
    inside = set(ops)
    readers = graph.consumers()
    folded = {graph.operators[p].outputs[0]: v for p, v in foldable_pads(graph).items()
              if p in inside and all(c in inside for c in
                                     readers.get(graph.operators[p].outputs[0], []))
              and graph.operators[p].inputs[0] not in
              {graph.operators[q].outputs[0] for q in foldable_pads(graph)}}
    steps = []
    for i in ops:
        op = graph.operators[i]
        if op.outputs[0] in folded:
            continue
        reads = []
        for slot, t in enumerate(op.inputs):
            if t < 0 or graph.tensor(t).is_constant or graph.tensor(t).nbytes == 0:
                continue
            src, box, fill = folded.get(t, (t, None, None))
            if src not in holders:
                raise PlanError(f"{graph.name}: op {i} reads tensor {src}, which no earlier "
                                "step of the plan produces")
            reads.append(Access(slot, src, holders[src], box, fill))
        writes = []
        for slot, t in enumerate(op.outputs):
            if graph.tensor(t).nbytes == 0:
                continue
            holders[t] = (f"t{t}",)
            specs.append(BufferSpec(f"t{t}", t, None, graph.tensor(t).nbytes))
            writes.append(Access(slot, t, holders[t]))
        k = first_step + len(steps)
        names = []
        for j, (size, purpose) in enumerate(tflm_scratch(graph, op)):
            name = f"s{k}.{j}"
            scratch[name] = (size, purpose)
            names.append(name)
        steps.append(Step(op=i, kernel="op", reads=tuple(reads), writes=tuple(writes),
                          scratch=tuple(names)))
    return steps


@dataclass(frozen=True)
class Group:
    """Buffers placed together at fixed offsets from the group's base (an in-place chain):
    (request, offset from the base) pairs, offsets >= 0; a lone buffer is a group of one."""

    members: tuple[tuple[Request, int], ...]

    def extent(self, alignment: int) -> int:
        return max(rel + align_up(r.size, alignment) for r, rel in self.members)

    @property
    def first(self) -> int:
        return min(r.live.first for r, _ in self.members)

    @property
    def last(self) -> int:
        return max(r.live.last for r, _ in self.members)


def group_requests(requests: list[Request]) -> list[Group]:
    """Arena requests grouped by in-place anchors (``Request.anchor``/``delta``: the
    buffer starts ``delta`` bytes after its anchor's start); external ones left out."""
    by_name = {r.name: r for r in requests}
    groups: dict[str, list[tuple[Request, int]]] = {}
    for r in requests:
        if r.external:
            continue
        name, rel = r.name, 0
        while by_name[name].anchor is not None:
            rel += by_name[name].delta
            name = by_name[name].anchor
        groups.setdefault(name, []).append((r, rel))
    out = []
    for members in groups.values():
        low = min(rel for _, rel in members)
        out.append(Group(tuple((r, rel - low) for r, rel in members)))
    return out


def _live_bytes(groups: list[Group], alignment: int) -> np.ndarray:
    """Aligned bytes live at each step (an upper bound on the union for in-place groups)."""
    n = max((g.last for g in groups), default=-1) + 2
    delta = np.zeros(n, np.int64)
    for g in groups:
        for r, _ in g.members:
            delta[r.live.first] += align_up(r.size, alignment)
            delta[r.live.last + 1] -= align_up(r.size, alignment)
    return np.cumsum(delta)[:-1]


def _orders(groups: list[Group], alignment: int):
    """Candidate placement orders (keys over (position, group))."""
    live = _live_bytes(groups, alignment)
    # the busiest step a buffer is live at: placing the buffers of the busiest steps first
    # is the "greedy by breadth" strategy of TFLite's GPU memory planner
    breadth = [int(live[g.first:g.last + 1].max()) for g in groups]
    size = [g.extent(alignment) for g in groups]

    return (
        lambda i, g: (-size[i], -i),                              # TFLM: largest first
        lambda i, g: (g.first, -size[i], i),                      # by first use
        lambda i, g: (-(g.last - g.first), -size[i], i),          # longest-lived first
        lambda i, g: (-size[i] * (g.last - g.first + 1), i),      # largest area first
        lambda i, g: (-g.last, -size[i], i),                      # latest last use first
        lambda i, g: (-breadth[i], -size[i], i),                  # busiest step first
        lambda i, g: (-breadth[i], g.first, -size[i], i),         # ... then by first use
    )


def fit(groups: list[Group], alignment: int, best_fit: bool) -> dict[str, int]:
    """Place ``groups`` in the given order, each at an aligned base offset where no member
    overlaps (in bytes and time) a buffer placed before it: the lowest such offset (first
    fit) or the start of the tightest range of such offsets (best fit), else above
    everything it meets."""
    n = sum(len(g.members) for g in groups)
    off = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    first = np.zeros(n, np.int64)
    last = np.zeros(n, np.int64)
    k = 0
    offsets: dict[str, int] = {}
    for g in groups:
        # base O is forbidden by a placed [q_off, q_end) that member (rel, size) meets in
        # time when q_off - size - rel < O < q_end - rel
        lo_parts, hi_parts = [], []
        for r, rel in g.members:
            size = align_up(r.size, alignment)
            if size == 0:
                continue
            meet = (first[:k] <= r.live.last) & (r.live.first <= last[:k]) & (end[:k] > off[:k])
            lo_parts.append(off[:k][meet] - size - rel)
            hi_parts.append(end[:k][meet] - rel)
        at = 0
        if lo_parts and sum(p.size for p in lo_parts):
            lo, hi = np.concatenate(lo_parts), np.concatenate(hi_parts)
            order = np.argsort(lo, kind="stable")
            lo, hi = lo[order], hi[order]
            reach = np.maximum.accumulate(np.concatenate(([0], hi)))
            room = lo - reach[:-1]  # allowed bases [reach, lo] before each interval
            ok = np.flatnonzero(room >= 0)
            if ok.size == 0:
                at = int(reach[-1])
            elif best_fit:
                at = int(reach[ok[np.argmin(room[ok])]])
            else:
                at = int(reach[ok[0]])
        for r, rel in g.members:
            offsets[r.name] = at + rel
            off[k], end[k] = at + rel, at + rel + align_up(r.size, alignment)
            first[k], last[k] = r.live.first, r.live.last
            k += 1
    return offsets


def _arena(groups: list[Group], offsets: dict[str, int], alignment: int) -> int:
    return max((offsets[r.name] + align_up(r.size, alignment) for g in groups
                for r, _ in g.members), default=0)


def _refine(ranked: list[Group], alignment: int, best_fit: bool, rounds: int):
    """Squeaky wheel: a group that reaches the arena top moves to the front of the order
    and everything is placed again; kept when the arena does not grow."""
    offsets = fit(ranked, alignment, best_fit)
    best = _arena(ranked, offsets, alignment)
    order = list(ranked)
    seen = {tuple(id(g) for g in order)}
    for _ in range(rounds):
        moved = None
        for g in order:
            if any(offsets[r.name] + align_up(r.size, alignment) == best for r, _ in g.members):
                candidate = [g] + [q for q in order if q is not g]
                key = tuple(id(q) for q in candidate)
                if key not in seen:
                    seen.add(key)
                    moved = candidate
                    break
        if moved is None:
            break
        trial = fit(moved, alignment, best_fit)
        size = _arena(moved, trial, alignment)
        if size <= best:
            best, order, offsets = size, moved, trial
    return best, offsets


def place_best(requests: list[Request], alignment: int) -> tuple[int, dict[str, int]]:
    """First and best fit under each candidate order; the smallest arena (first on ties),
    then refined by squeaky wheel."""
    groups = group_requests(requests)
    best = None
    for key in _orders(groups, alignment):
        ranked = [groups[i] for i in sorted(range(len(groups)), key=lambda i: key(i, groups[i]))]
        for best_fit in (False, True):
            offsets = fit(ranked, alignment, best_fit)
            arena = _arena(groups, offsets, alignment)
            if best is None or arena < best[0]:
                best = (arena, offsets, ranked, best_fit)
    arena, offsets, ranked, best_fit = best
    refined, refined_offsets = _refine(ranked, alignment, best_fit, REFINE_ROUNDS)
    return (refined, refined_offsets) if refined < arena else (arena, offsets)


def finish(graph: Graph, steps: list[Step], specs: list[BufferSpec],
           scratch: dict[str, tuple[int, str]], planner: str, options: tuple[str, ...],
           alignment: int, anchors: dict[str, tuple[str, int]] | None = None) -> Plan:
    """Live ranges, placement and the Plan. ``anchors``: buffer -> (buffer it overwrites
    in place, its offset from that buffer's start), kept fixed by the placement."""
    anchors = anchors or {}
    if alignment < 1:
        raise PlanError(f"{graph.name}: alignment must be >= 1, got {alignment}")
    names = {s.name: s.tensor for s in specs}
    names.update({name: -1 for name in scratch})
    live = live_ranges(graph, steps, names)
    requests = []
    for s in specs:
        if s.name not in live:
            raise PlanError(f"{graph.name}: buffer '{s.name}' (tensor {s.tensor}) is never "
                            "written or read by a step")
        anchor, delta = anchors.get(s.name, (None, 0))
        requests.append(Request(s.name, "tensor", s.tensor, s.size, live[s.name],
                                purpose=s.purpose, anchor=anchor, delta=delta,
                                external=s.external))
    for name, (size, purpose) in scratch.items():
        requests.append(Request(name, "scratch", -1, size, live[name], purpose))
    arena, offsets = place_best(requests, alignment)
    boxes = {s.name: s.box for s in specs}
    buffers = tuple(
        Buffer(name=r.name, kind=r.kind, tensor=r.tensor, box=boxes.get(r.name),
               size=r.size, offset=None if r.external else offsets[r.name],
               first_step=r.live.first, last_step=r.live.last, purpose=r.purpose)
        for r in requests)
    return Plan(model=graph.name, model_sha256=graph.sha256, planner=planner,
                options=options, alignment=alignment, arena_bytes=arena, buffers=buffers,
                steps=tuple(steps))
