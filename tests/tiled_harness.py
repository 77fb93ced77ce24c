"""Run a plan the way ``tinysim check`` does: static checker, arena with shadow memory,
every tensor compared with the layer-wise reference. Shared by the patch/split tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysim.arena import ArenaExecutor, compare_with_reference
from tinysim.checker import check_plan
from tinysim.executor import Executor
from tinysim.ir import Graph
from tinysim.plan import Plan
from tinysim.verify import make_inputs


@dataclass(frozen=True)
class Proof:
    problems: tuple[str, ...]      # static checker
    mismatches: tuple[str, ...]    # tensors differing from the reference
    tensors: int                   # tensors the arena run computed

    @property
    def clean(self) -> bool:
        return not self.problems and not self.mismatches and self.tensors > 0


def prove(graph: Graph, plan: Plan, inputs: list[np.ndarray] | None = None,
          reference: dict[int, np.ndarray] | None = None) -> Proof:
    inputs = inputs if inputs is not None else make_inputs(graph, 1, seed=3)[0]
    report = check_plan(graph, plan)
    run = ArenaExecutor(graph, plan).run(inputs)
    reference = reference if reference is not None else Executor(graph).run(inputs)
    mismatches = compare_with_reference(graph, run, reference)
    return Proof(tuple(p.message for p in report.problems),
                 tuple(m.describe() for m in mismatches), len(run.values))
