"""Plan format, liveness, and the planners' arenas on the shared models."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import MODEL_NAMES, shared_model

from properties._schedule_graphs import Net, residual_net
from tinysim.cli_plan import parse_size
from tinysim.errors import PlanError
from tinysim.liveness import lower_bound, occupancy
from tinysim.loader import load_model
from tinysim.plan import FORMAT_VERSION, load, loads
from tinysim.planners import make_plan
from tinysim.planners.best import search_order
from tinysim.planners.schedule import INPLACE_GROUP, PlanOptions, build_schedule
from tinysim.oracle import measured_arena

# TFLM's activation arena ("head" of print_allocations) as measured on these files
TFLM_ARENA = {
    "armzoo_kws_dscnn_l": 86960, "armzoo_vww2": 27904, "lenet_mnist": 3920,
    "mcunet_det": 337024, "mcunet_vww0": 111360, "mcunet_vww1": 161472, "mlperf_ad": 768,
    "mlperf_ic": 49152, "mlperf_kws": 16000, "mlperf_sww": 6656, "mlperf_vww": 73728,
}
TINYENGINE_VWW1_INPLACE = 89600  # TinyEngine's published in-place activation arena


@pytest.fixture(scope="module")
def graphs():
    return {name: load_model(shared_model(name)) for name in MODEL_NAMES}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tflm_planner_reproduces_tflm_arena(name, graphs):
    measured = measured_arena(str(shared_model(name)))
    assert measured == TFLM_ARENA[name]
    assert make_plan(graphs[name], "tflm").arena_bytes == measured


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_best_inplace_beats_tflm(name, graphs):
    g = graphs[name]
    tflm = make_plan(g, "tflm").arena_bytes
    best = make_plan(g, "best")
    best_inplace = make_plan(g, "best", ["inplace"])
    assert best.arena_bytes <= tflm
    assert best_inplace.arena_bytes <= best.arena_bytes
    opcodes = {op.opcode for op in g.operators}
    if opcodes & {"DEPTHWISE_CONV_2D", "ADD"}:
        assert best_inplace.arena_bytes < tflm
    for plan in (best, best_inplace):
        assert plan.arena_bytes >= lower_bound(plan) > 0
    if name == "mcunet_vww1":
        assert best_inplace.arena_bytes <= TINYENGINE_VWW1_INPLACE


def test_tflm_liveness_rules():
    """Graph inputs live from step 0, graph outputs to the last step, every other tensor
    from its producer to its last consumer, inclusive."""
    net = Net("liveness", (1, 6, 6, 4))
    a = net.conv(net.input, 4, 3)
    b = net.conv(a, 4, 3)
    c = net.add(b, a)
    side = net.conv(net.input, 4, 1)   # a second output, produced early
    d = net.relu(c)
    g = net.build(side, d)
    plan = make_plan(g, "tflm")
    live = {b.tensor: (b.first_step, b.last_step) for b in plan.buffers}
    last = len(plan.steps) - 1
    assert live[net.input] == (0, 3)
    assert live[a] == (0, 2)
    assert live[b] == (1, 2)
    assert live[side] == (3, last)
    assert live[d] == (4, last)


def test_order_search_finds_branch_by_branch_order():
    g = residual_net()
    breadth_first = make_plan(g, "tflm")
    order = search_order(g, PlanOptions())
    assert order != tuple(range(len(g.operators)))
    best = make_plan(g, "best")
    assert [s.op for s in best.steps] == list(order)
    assert best.arena_bytes < breadth_first.arena_bytes
    assert lower_bound(best) < lower_bound(breadth_first)


def test_plans_are_deterministic(graphs):
    g = graphs["mcunet_vww1"]
    assert make_plan(g, "best", ["inplace"]).dumps() == make_plan(g, "best", ["inplace"]).dumps()


def test_json_round_trip(graphs, tmp_path):
    g = graphs["mcunet_vww1"]
    plan = make_plan(g, "best", ["inplace"])
    path = tmp_path / "plan.json"
    plan.save(path)
    d = json.loads(path.read_text())
    assert d["format"] == "tinysim-plan" and d["format_version"] == FORMAT_VERSION
    assert d["arena_bytes"] == plan.arena_bytes
    again = load(path)
    assert again.to_json() == plan.to_json()
    assert again.label == plan.label and again.arena_bytes == plan.arena_bytes


def test_plan_file_errors_name_the_problem(graphs, tmp_path):
    plan = make_plan(graphs["mlperf_kws"], "tflm")
    d = plan.to_json()
    with pytest.raises(PlanError, match="not a tinysim plan"):
        loads(json.dumps({"arena_bytes": 5}))
    with pytest.raises(PlanError, match="format version 99"):
        loads(json.dumps({**d, "format_version": 99}))
    with pytest.raises(PlanError, match="not valid JSON"):
        loads("{")
    bad = json.loads(json.dumps(d))
    bad["steps"][3]["kernel"] = "magic"
    with pytest.raises(PlanError, match=r"step 3 \(op 3\): kernel 'magic'"):
        loads(json.dumps(bad))
    bad = json.loads(json.dumps(d))
    bad["steps"][2]["reads"][0]["buffers"] = ["t999"]
    with pytest.raises(PlanError, match="step 2.*'t999'"):
        loads(json.dumps(bad))
    bad = json.loads(json.dumps(d))
    bad["buffers"][1]["last_step"] = 1000
    with pytest.raises(PlanError, match=f"buffer '{d['buffers'][1]['name']}': live range"):
        loads(json.dumps(bad))
    with pytest.raises(PlanError, match="cannot read plan"):
        load(tmp_path / "missing.json")


def test_unknown_planner_and_option(graphs):
    g = graphs["mlperf_kws"]
    with pytest.raises(PlanError, match="unknown planner 'greedy'.*best, tflm"):
        make_plan(g, "greedy")
    with pytest.raises(PlanError, match="unknown plan option 'inplac'"):
        make_plan(g, "tflm", ["inplac"])


def test_input_outside_the_arena(graphs):
    g = graphs["mcunet_vww1"]
    inside = make_plan(g, "best", ["inplace"])
    outside = make_plan(g, "best", ["inplace", "input_outside"])
    (inp,) = outside.tensor_buffers(g.inputs[0])
    assert inp.offset is None and not inp.in_arena
    assert outside.arena_bytes <= inside.arena_bytes


def test_schedule_bound_equals_plan_occupancy(graphs):
    g = graphs["mlperf_vww"]
    options = PlanOptions.from_names(["inplace"])
    schedule = build_schedule(g, None, options)
    plan = make_plan(g, "tflm", ["inplace"])
    assert list(occupancy(plan)) == schedule.step_bytes()


def test_each_inplace_option_alone_never_costs_memory(graphs):
    g = graphs["mcunet_vww1"]
    base = make_plan(g, "best").arena_bytes
    for option in INPLACE_GROUP:
        assert make_plan(g, "best", [option]).arena_bytes <= base


def test_parse_size():
    assert parse_size("256KiB") == 262144
    assert parse_size("320KB") == 320000
    assert parse_size("1MiB") == 1 << 20
    assert parse_size("73728") == 73728
    with pytest.raises(PlanError, match="cannot read the size"):
        parse_size("lots")


def test_plan_for_another_model_is_rejected(graphs):
    from tinysim.checker import check_plan
    plan = make_plan(graphs["mlperf_kws"], "tflm")
    report = check_plan(graphs["mlperf_vww"], replace(plan))
    assert not report.ok and report.problems[0].kind == "model"
