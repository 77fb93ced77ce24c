"""``search``: try layer-wise, in-place, patch and split plans; keep the best.

Candidates (all under the same input accounting: the graph input inside the arena, or
outside with ``input_outside``):
- layer-wise: TFLM's greedy planner on the graph's order (``tflm``);
- in-place: ``best`` with every in-place option;
- split: row tiles of 1, 2, 4, 8 rows (those below the tallest stage tensor), depth-first
  and breadth-first, over the longest spatial stage;
- patch: grids 2x2, 3x3, 4x4 (no finer than the stage's output: n x 1 for 1-D models),
  split after each downsampling op of the spatial stage that can end a first stage (at
  most ``PATCH_SPLITS`` of them, the earliest).

Objective ``memory`` (default): the smallest arena, then the fewest extra MACs;
``compute``: the fewest extra MACs (halo recomputation), then the smallest arena. Only
candidates that fit ``sram`` (when given) can win; when none fits, the result says so and
holds the smallest. Ties keep the earlier candidate of the enumeration, so the result is
deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import PlanError
from ..ir import Graph
from ..plan import Plan
from ..tiling import plan_macs, spatial_stage, stage_problem
from . import make_plan, patch, split

OBJECTIVES = ("memory", "compute")
TILE_ROWS = (1, 2, 4, 8)
GRIDS = ((2, 2), (3, 3), (4, 4))
PATCH_SPLITS = 4


@dataclass(frozen=True)
class Candidate:
    kind: str          # layer-wise | in-place | split | patch
    config: str
    plan: Plan
    macs: int          # MACs the plan computes
    extra_macs: int    # above the layer-wise model's (halo recomputation)

    @property
    def peak(self) -> int:
        return self.plan.arena_bytes

    def fits(self, sram: int | None) -> bool:
        return sram is None or self.peak <= sram


@dataclass(frozen=True)
class SearchResult:
    best: Candidate            # the winner among those that fit, else the smallest
    candidates: tuple[Candidate, ...]
    skipped: tuple[str, ...]   # configurations that could not be planned, with the reason
    sram: int | None
    input_outside: bool

    @property
    def fits(self) -> bool:
        return self.best.fits(self.sram)

    @property
    def kept(self) -> tuple[Candidate, ...]:
        """The chosen plan, each kind's best and every candidate no other beats on both
        arena and extra MACs, smallest arena first."""
        front = [c for c in self.candidates
                 if not any((o.peak, o.extra_macs) < (c.peak, c.extra_macs) and
                            o.peak <= c.peak and o.extra_macs <= c.extra_macs
                            for o in self.candidates)]
        per_kind = {}
        for c in self.candidates:
            if c.kind not in per_kind or c.peak < per_kind[c.kind].peak:
                per_kind[c.kind] = c
        keep = {id(c): c for c in [self.best, *front, *per_kind.values()]}
        return tuple(sorted(keep.values(), key=lambda c: (c.peak, c.extra_macs,
                                                          self.candidates.index(c))))


def patch_splits(graph: Graph) -> list[int]:
    """Ops after which a patch stage can end: the downsampling ops of the spatial stage
    (the earliest ``PATCH_SPLITS``), else the deepest op whose output has two rows."""
    stage = spatial_stage(graph)
    if stage is None:
        return []
    start, end = stage
    out = []
    for i in range(start, end):
        op = graph.operators[i]
        x = [graph.tensor(t) for t in op.inputs if t >= 0 and not graph.tensor(t).is_constant]
        y = graph.tensor(op.outputs[0])
        if op.options.get("stride_h", 1) > 1 and x and y.shape[1] < x[0].shape[1] and \
                stage_problem(graph, start, i + 1) is None:
            try:
                patch.boundary_tensors(graph, start, i)
            except PlanError:
                continue  # a residual crosses the split
            out.append(i)
    if not out:  # no downsampling: the deepest op whose output a grid can still cut
        for i in range(end - 1, start - 1, -1):
            y = graph.tensor(graph.operators[i].outputs[0]).shape
            if y[1] < 2 or stage_problem(graph, start, i + 1) is not None:
                continue
            try:
                patch.boundary_tensors(graph, start, i)
            except PlanError:
                continue
            out.append(i)
            break
    return out[:PATCH_SPLITS]


def candidates(graph: Graph, input_outside: bool = False,
               alignment: int = 16) -> tuple[list[Candidate], list[str]]:
    extra = ["input_outside"] if input_outside else []
    found: list[Candidate] = []
    skipped: list[str] = []

    def add(kind: str, config: str, make) -> None:
        try:
            p = make()
        except PlanError as exc:
            skipped.append(f"{kind} {config}: {exc}")
            return
        done, base = plan_macs(graph, p)
        found.append(Candidate(kind, config, p, done, done - base))

    add("layer-wise", "tflm", lambda: make_plan(graph, "tflm", extra, alignment))
    add("in-place", "best+inplace", lambda: make_plan(graph, "best", ["inplace"] + extra,
                                                      alignment))
    stage = spatial_stage(graph)
    if stage is not None:
        tallest = max(graph.tensor(t).shape[1] for i in range(*stage)
                      for t in graph.operators[i].outputs)
        for h in TILE_ROWS:
            if h > 1 and h >= tallest:
                break
            for order in split.ORDERS:
                add("split", f"rows={h} {order}",
                    lambda h=h, order=order: split.plan(graph, h, order, None, input_outside,
                                                        alignment))
        for s in patch_splits(graph):
            shapes = [graph.tensor(t).shape for t in patch.boundary_tensors(graph, stage[0], s)]
            h, w = min(x[1] for x in shapes), min(x[2] for x in shapes)
            # a grid no finer than the stage's output (1-D models get n x 1 grids)
            grids = list(dict.fromkeys((min(n, h), min(m, w)) for n, m in GRIDS))
            for grid in grids:
                if grid == (1, 1):
                    continue  # one patch is the layer-wise stage
                add("patch", f"{grid[0]}x{grid[1]} split={s}",
                    lambda s=s, grid=grid: patch.plan(graph, grid, s, input_outside,
                                                      alignment))
    return found, skipped


def search(graph: Graph, sram: int | None = None, input_outside: bool = False,
           objective: str = "memory", alignment: int = 16) -> SearchResult:
    if objective not in OBJECTIVES:
        raise PlanError(f"{graph.name}: search objective '{objective}' is not one of "
                        f"{', '.join(OBJECTIVES)}")
    found, skipped = candidates(graph, input_outside, alignment)
    if not found:
        raise PlanError(f"{graph.name}: no plan could be made: {'; '.join(skipped)}")

    def key(k: int):
        c = found[k]
        return (c.peak, c.extra_macs, k) if objective == "memory" else \
            (c.extra_macs, c.peak, k)

    fitting = [k for k in range(len(found)) if found[k].fits(sram)]
    if fitting:
        best = found[min(fitting, key=key)]
    else:
        best = found[min(range(len(found)), key=lambda k: (found[k].peak, k))]
    return SearchResult(best, tuple(found), tuple(skipped), sram, input_outside)
