"""Memory planners: pure, deterministic functions from a graph to a Plan, chosen by name."""
from __future__ import annotations

from typing import Callable, Iterable

from ..errors import PlanError
from ..ir import Graph
from ..plan import Plan
from . import best, tflm
from .schedule import OPTION_NAMES, PlanOptions

PLANNERS: dict[str, Callable[..., Plan]] = {tflm.NAME: tflm.plan, best.NAME: best.plan}


def make_plan(graph: Graph, planner: str = "tflm", options: Iterable[str] = (),
              alignment: int = 16) -> Plan:
    """Plan ``graph`` with the named planner; ``options``: 'inplace' and/or names from
    OPTION_NAMES."""
    if planner not in PLANNERS:
        raise PlanError(f"{graph.name}: unknown planner '{planner}'; planners are "
                        f"{', '.join(sorted(PLANNERS))}")
    if alignment < 1:
        raise PlanError(f"{graph.name}: alignment must be >= 1, got {alignment}")
    return PLANNERS[planner](graph, PlanOptions.from_names(options), alignment)


__all__ = ["PLANNERS", "OPTION_NAMES", "PlanOptions", "make_plan"]
