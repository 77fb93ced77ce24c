"""``tflm``: TFLM's GreedyMemoryPlanner on the graph's own op order.

Buffers (tensors in tensor-index order, then kernel scratch in request order) are sorted
by aligned size, largest first, with TFLM's stable bubble sort over a list it filled back
to front, so equal sizes go in reverse insertion order; each takes the lowest offset not
overlapping a time-overlapping buffer already placed.
"""
from __future__ import annotations

from ..ir import Graph
from ..plan import Plan
from .place import place
from .schedule import PlanOptions, build_schedule

NAME = "tflm"


def plan(graph: Graph, options: PlanOptions = PlanOptions(), alignment: int = 16) -> Plan:
    schedule = build_schedule(graph, None, options, alignment=alignment)
    offsets = place(schedule, lambda pos, g: (-g.extent(alignment), -pos),
                    alignment)
    return schedule.to_plan(offsets, NAME, alignment)

