"""The checker catches every faulty plan derived from a valid one (mutation testing)."""
from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import MODEL_NAMES, shared_model

from tinysim.checker import MUTATION_KINDS, check_plan, mutants, mutation_test
from tinysim.errors import PlanError
from tinysim.loader import load_model
from tinysim.plan import Box, InPlace
from tinysim.planners import make_plan
from tinysim.verify import make_inputs

CONFIGS = (("tflm", ()), ("tflm", ("inplace",)), ("best", ("inplace",)))


@pytest.fixture(scope="module")
def graphs():
    return {name: load_model(shared_model(name)) for name in MODEL_NAMES}


@pytest.mark.parametrize("planner,options", CONFIGS, ids=["+".join((p,) + o) for p, o in CONFIGS])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_mutation_kill_rate_is_total(name, planner, options, graphs):
    g = graphs[name]
    plan = make_plan(g, planner, options)
    report = mutation_test(g, plan, make_inputs(g, 1, 0)[0])
    assert len(report.results) >= 15
    assert report.kill_rate == 1.0, [r.mutant.description for r in report.survivors]
    assert all(r.static for r in report.results)


def test_every_mutation_kind_is_exercised(graphs):
    kinds = set()
    for name in ("mcunet_vww1", "mlperf_ic"):
        for planner, options in CONFIGS:
            kinds |= {m.kind for m in mutants(graphs[name], make_plan(graphs[name], planner,
                                                                      options))}
    assert kinds == set(MUTATION_KINDS)


@pytest.mark.parametrize("name", ["mlperf_ic", "mcunet_vww1"])
def test_shadow_memory_catches_faults_on_its_own(name, graphs):
    """Run every mutant in the arena too: the shadow memory alone must catch the faults a
    run can observe (an overwritten value read later), and never flag a valid plan."""
    g = graphs[name]
    plan = make_plan(g, "best", ["inplace"])
    report = mutation_test(g, plan, make_inputs(g, 1, 0)[0], dynamic=True)
    by_kind: dict[str, list[bool]] = {}
    for r in report.results:
        by_kind.setdefault(r.mutant.kind, []).append(bool(r.dynamic))
    assert all(by_kind["shrink_arena"])        # the executor refuses a buffer past the end
    assert any(by_kind["shift_offset"]) and any(by_kind["alias_same_range"])
    assert any(by_kind["unsafe_inplace"])
    assert report.kill_rate == 1.0


def test_problem_kinds_per_mutation(graphs):
    g = graphs["mcunet_vww1"]
    plan = make_plan(g, "best", ["inplace"])
    expected = {"shift_offset": {"overlap", "fit"}, "shrink_arena": {"fit"},
                "shorten_live_range": {"liveness"}, "alias_same_range": {"overlap"},
                "unsafe_inplace": {"overlap", "inplace"}}
    for m in mutants(g, plan):
        kinds = {p.kind for p in check_plan(g, m.plan).problems}
        assert kinds & expected[m.kind], (m.description, kinds)


def test_unsafe_rows_inplace_is_explained(graphs):
    g = graphs["mlperf_ic"]
    plan = make_plan(g, "best", ["inplace"])
    k, st = next((k, s) for k, s in enumerate(plan.steps) if s.kernel == "op_rows")
    x = plan.buffer(st.reads[0].buffers[0])
    y = plan.buffer(st.writes[0].buffers[0])
    bad = replace(plan, buffers=tuple(replace(b, offset=x.offset) if b.name == y.name else b
                                      for b in plan.buffers))
    (problem,) = [p for p in check_plan(g, bad).problems if p.kind == "overlap"]
    assert f"declared in place at step {k} (CONV_2D)" in problem.message
    assert "row by row it must start at most" in problem.message


def test_declared_inplace_on_a_conv_is_refused(graphs):
    g = graphs["mlperf_kws"]
    plan = make_plan(g, "tflm")
    st = plan.steps[1]
    x, y = st.reads[0], st.writes[0]
    steps = plan.steps[:1] + (replace(st, inplace=InPlace(x.tensor, y.tensor, "elementwise")),) \
        + plan.steps[2:]
    xb = plan.buffer(x.buffers[0])
    bad = replace(plan, steps=steps, buffers=tuple(
        replace(b, offset=xb.offset) if b.name == y.buffers[0] else b for b in plan.buffers))
    messages = [p.message for p in check_plan(g, bad).problems]
    assert any("DEPTHWISE_CONV_2D is not elementwise" in m for m in messages), messages


def test_mutation_testing_needs_a_valid_plan(graphs):
    g = graphs["mlperf_kws"]
    plan = make_plan(g, "tflm")
    with pytest.raises(PlanError, match="needs a valid plan"):
        mutation_test(g, replace(plan, arena_bytes=10))
    with pytest.raises(PlanError, match="dynamic mutation testing .* pass inputs"):
        mutation_test(g, plan, None, dynamic=True)


def test_a_box_of_another_rank_is_not_inside_the_tensor(graphs):
    g = graphs["mlperf_kws"]
    plan = make_plan(g, "tflm")
    b = next(b for b in plan.buffers if b.kind == "tensor" and b.tensor not in g.inputs)
    flat = replace(b, box=Box((0,), (b.size,)))
    report = check_plan(g, replace(plan, buffers=tuple(flat if x is b else x
                                                      for x in plan.buffers)))
    assert [p.kind for p in report.problems] == ["buffer"]
    assert f"buffer '{b.name}': box (0,)..({b.size},) is not inside tensor" in \
        report.problems[0].message


def test_region_writes_once_per_buffer():
    """An element may be computed twice (a patch plan recomputes halos into another
    buffer) but a buffer element is written once, and every output element at least once."""
    from properties._schedule_graphs import Net, hand_tiled_plan
    net = Net("tiled", (1, 8, 6, 3), seed=1)
    g = net.build(net.conv(net.conv(net.input, 4, 3), 4, 3))
    plan = hand_tiled_plan(g, 2)
    assert check_plan(g, plan).ok
    again = replace(plan, steps=plan.steps[:1] + plan.steps[:1] + plan.steps[2:])
    messages = [p.message for p in check_plan(g, again).problems]
    assert any("which an earlier step already wrote" in m for m in messages), messages
    assert any("elements never written" in m for m in messages), messages


def test_tinyengine_stride2_under_reservation_is_caught(graphs):
    """TinyEngine's allocator keeps ceil(size/4) of an in-place stride-2 depthwise output:
    on mcunet_vww1's 5x5x240 -> 3x3x240 layer that is 1,500 B for a 2,160 B output."""
    g = graphs["mcunet_vww1"]
    plan = make_plan(g, "tflm", ["inplace_depthwise", "fold_pad"])
    k, st = next((k, s) for k, s in enumerate(plan.steps)
                 if g.tensor(s.writes[0].tensor).shape == (1, 3, 3, 240)
                 and g.tensor(s.reads[0].tensor).shape == (1, 5, 5, 240))
    assert st.kernel == "depthwise_inplace" and g.operators[st.op].options["stride_h"] == 2
    out = plan.buffer(st.writes[0].buffers[0])
    assert out.size == 2160
    tinyengine = -(-5 * 5 * 240 // 4)
    bad = replace(plan, buffers=tuple(replace(b, size=tinyengine) if b.name == out.name else b
                                      for b in plan.buffers))
    (problem,) = check_plan(g, bad).problems
    assert f"size {tinyengine} B" in problem.message and "holds 2160 B" in problem.message
