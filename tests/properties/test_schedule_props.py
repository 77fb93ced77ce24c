"""Property-based schedule verification on random graphs.

For chains, residual blocks, branches that join, explicit PADs before VALID depthwise
convs, odd sizes and stride 2, with every planner and every in-place option: the plan
passes the static checker, its arena execution equals the layer-wise reference bit for
bit, its arena is at least the liveness lower bound, ``best`` is never worse than
``tflm``, and every faulty plan derived from it is caught.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from _schedule_graphs import random_net
from tinysim.arena import ArenaExecutor, compare_with_reference
from tinysim.checker import check_plan, mutation_test
from tinysim.executor import Executor
from tinysim.liveness import lower_bound
from tinysim.modelgen import mcunet_like_model
from tinysim.planners import make_plan
from tinysim.planners.schedule import INPLACE_GROUP
from tinysim.verify import make_inputs

OPTION_SETS = ((), ("inplace",), ("inplace", "input_outside")) + tuple((o,) for o in INPLACE_GROUP)


def _verify_all_plans(graph, seed: int) -> None:
    inputs = make_inputs(graph, 1, seed)[0]
    reference = Executor(graph).run(inputs)
    for options in OPTION_SETS:
        arenas = {}
        for planner in ("tflm", "best"):
            plan = make_plan(graph, planner, options)
            report = check_plan(graph, plan)
            assert report.ok, report.summary()
            assert plan.arena_bytes >= lower_bound(plan)
            run = ArenaExecutor(graph, plan).run(inputs)
            mismatches = compare_with_reference(graph, run, reference)
            assert not mismatches, f"{plan.label}: {mismatches[0].describe()}"
            arenas[planner] = plan.arena_bytes
        assert arenas["best"] <= arenas["tflm"], options


@given(st.data())
def test_random_graphs_every_planner_and_option(data):
    graph = random_net(data.draw, st)
    _verify_all_plans(graph, data.draw(st.integers(0, 1000), label="input seed"))


@given(st.data())
def test_random_graphs_faulty_plans_are_caught(data):
    graph = random_net(data.draw, st)
    options = data.draw(st.sampled_from(OPTION_SETS[:2]), label="options")
    planner = data.draw(st.sampled_from(("tflm", "best")), label="planner")
    plan = make_plan(graph, planner, options)
    report = mutation_test(graph, plan, make_inputs(graph, 1, 0)[0], per_kind=4)
    assert report.results
    assert report.kill_rate == 1.0, [r.mutant.description for r in report.survivors]


@settings(max_examples=4)
@given(seed=st.integers(0, 1000), hw=st.sampled_from((16, 24)), float_io=st.booleans())
def test_mcunet_like_models(seed, hw, float_io):
    graph = mcunet_like_model(seed=seed, input_hw=hw, width=0.5, calibration_images=2,
                              float_io=float_io)
    _verify_all_plans(graph, seed)
    tflm = make_plan(graph, "tflm").arena_bytes
    assert make_plan(graph, "best", ["inplace"]).arena_bytes < tflm
