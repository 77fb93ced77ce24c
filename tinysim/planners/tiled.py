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
from .place import Group, align_up, arena_bytes, fit, group_requests, rank, squeaky_wheel
from .schedule import Request, foldable_pads, tflm_scratch


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


def place_best(requests: list[Request], alignment: int) -> tuple[int, dict[str, int]]:
    """First and best fit under each candidate order; the smallest arena (first on ties),
    then refined by squeaky wheel."""
    groups = group_requests(requests)
    best = None
    for key in _orders(groups, alignment):
        ranked = rank(groups, key)
        for best_fit in (False, True):
            offsets = fit([groups[i] for i in ranked], alignment, best_fit)
            arena = arena_bytes(groups, offsets, alignment)
            if best is None or arena < best[0]:
                best = (arena, offsets, ranked, best_fit)
    arena, offsets, ranked, best_fit = best
    refined, _, refined_offsets = squeaky_wheel(groups, ranked, alignment, best_fit,
                                                REFINE_ROUNDS)
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
