"""Live ranges and live bytes of a plan's buffers.

The rule is TFLM's (micro_allocation_info.cc): a buffer is live from the first step that
writes it to the last step that reads or writes it, inclusive; graph inputs are live from
step 0 and graph outputs to the last step; a kernel's scratch lives during its own step.
Computing ranges from the steps' accesses (not from the graph) makes the same rule serve
folded PADs, in-place steps and tiled plans.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PlanError
from .ir import Graph
from .plan import Plan, Step


@dataclass(frozen=True)
class LiveRange:
    first: int
    last: int

    def overlaps(self, other: "LiveRange") -> bool:
        return self.first <= other.last and other.first <= self.last


def activation_tensors(graph: Graph) -> list[int]:
    """Tensors that need memory while the model runs (non-constant, non-empty)."""
    return [t.index for t in graph.activation_tensors if t.nbytes > 0]


def live_ranges(graph: Graph, steps: tuple[Step, ...] | list[Step],
                buffer_tensor: dict[str, int]) -> dict[str, LiveRange]:
    """Live range of every buffer the steps touch. ``buffer_tensor`` maps each tensor
    buffer's name to its tensor (scratch buffers map to -1)."""
    n = len(steps)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    graph_inputs = set(graph.inputs)
    graph_outputs = set(graph.outputs)
    for name, t in buffer_tensor.items():
        if t in graph_inputs:
            first[name] = 0
            last[name] = 0
    for k, step in enumerate(steps):
        for a in step.writes:
            for name in a.buffers:
                first.setdefault(name, k)
                last[name] = k
        for a in step.reads:
            for name in a.buffers:
                if name not in first:
                    raise PlanError(
                        f"{graph.name}: step {k} (op {step.op}) reads buffer '{name}' (tensor "
                        f"{a.tensor}) before any step writes it; order the producer first")
                last[name] = k
        for name in step.scratch:
            first.setdefault(name, k)
            last[name] = k
    for name, t in buffer_tensor.items():
        if t in graph_outputs and name in first:
            last[name] = max(n - 1, 0)
    return {name: LiveRange(first[name], last[name]) for name in first}


def occupancy(plan: Plan) -> np.ndarray:
    """Arena bytes in use at each step: the union of the live buffers' byte ranges (an
    in-place output inside its input counts once)."""
    n = len(plan.steps)
    out = np.zeros(n, np.int64)
    spans: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for b in plan.buffers:
        if b.in_arena and b.size > 0:
            for s in range(b.first_step, min(b.last_step, n - 1) + 1):
                spans[s].append((b.offset, b.offset + b.size))
    for s in range(n):
        total, reach = 0, -1
        for lo, hi in sorted(spans[s]):
            if hi <= reach:
                continue
            total += hi - max(lo, reach)
            reach = hi
        out[s] = total
    return out


def lower_bound(plan: Plan) -> int:
    """Max over steps of live bytes: no placement of this schedule needs fewer."""
    occ = occupancy(plan)
    return int(occ.max()) if occ.size else 0
