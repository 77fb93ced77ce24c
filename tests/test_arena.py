"""Arena execution: bit-exact with the layer-wise reference, in place for real, proven by
the shadow memory; region (tiled) steps in the same plan format."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import MODEL_NAMES, shared_model

from kernels_ref.depthwise_conv_2d import DepthwiseConv2DParams, depthwise_conv_2d
from kernels_ref._depthwise_inplace import depthwise_conv_2d_inplace
from properties._schedule_graphs import Net, hand_tiled_plan
from tinysim.arena import ArenaExecutor, byte_runs, compare_with_reference
from tinysim.checker import check_plan
from tinysim.errors import ArenaViolation
from tinysim.executor import Executor
from tinysim.liveness import lower_bound
from tinysim.loader import load_model
from tinysim.plan import Box
from tinysim.planners import make_plan
from tinysim.planners.schedule import INPLACE_GROUP
from tinysim.verify import make_inputs

CONFIGS = (("tflm", ()), ("tflm", ("inplace",)), ("best", ())) + \
    tuple(("best", (o,)) for o in INPLACE_GROUP) + \
    (("best", ("inplace",)), ("best", ("inplace", "input_outside")))


@pytest.fixture(scope="module")
def graphs():
    return {name: load_model(shared_model(name)) for name in MODEL_NAMES}


def run_and_compare(graph, plan, n_inputs=1, seed=0):
    executor = ArenaExecutor(graph, plan)
    reference = Executor(graph)
    runs = []
    for inputs in make_inputs(graph, n_inputs, seed):
        run = executor.run(inputs)
        assert compare_with_reference(graph, run, reference.run(inputs)) == []
        runs.append(run)
    return executor, runs


@pytest.mark.parametrize("planner,options", CONFIGS, ids=["+".join((p,) + o) for p, o in CONFIGS])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shared_model_plan_is_clean_and_bit_exact(name, planner, options, graphs):
    g = graphs[name]
    plan = make_plan(g, planner, options)
    report = check_plan(g, plan)
    assert report.ok, report.summary()
    assert plan.arena_bytes >= lower_bound(plan)
    _, runs = run_and_compare(g, plan, n_inputs=2)
    activations = {t.index for t in g.activation_tensors}
    computed = set(runs[0].values)
    # every tensor the plan materializes is compared; only folded PAD outputs are never made
    assert activations - computed <= {g.operators[s].outputs[0] for s in range(len(g.operators))
                                      if g.operators[s].opcode == "PAD"}
    assert runs[0].bytes_checked > 0


def test_inplace_plans_use_every_scheme(graphs):
    seen = set()
    for name in MODEL_NAMES:
        plan = make_plan(graphs[name], "tflm", ["inplace"])
        seen |= {s.inplace.scheme for s in plan.steps if s.inplace is not None}
    assert seen == {"view", "elementwise", "depthwise_channel", "rows", "rows_reverse"}


@pytest.mark.parametrize("scheme", ["depthwise_channel", "rows", "rows_reverse", "elementwise"])
def test_inplace_steps_really_overwrite_their_input(scheme, graphs):
    g = graphs["mcunet_vww1"]
    plan = make_plan(g, "tflm", ["inplace"])
    k, step = next((k, s) for k, s in enumerate(plan.steps)
                   if s.inplace is not None and s.inplace.scheme == scheme)
    x_buf = plan.buffer(step.reads[0].buffers[0])
    y_buf = plan.buffer(step.writes[0].buffers[0])
    assert x_buf.last_step == k == y_buf.first_step and x_buf.offset < y_buf.end \
        and y_buf.offset < x_buf.end
    inputs = make_inputs(g, 1, 0)[0]
    reference = Executor(g).run(inputs)
    executor = ArenaExecutor(g, plan)
    executor.run(inputs, stop_after=k)
    y = g.tensor(y_buf.tensor)
    arena_y = executor.arena[y_buf.offset:y_buf.end].view(y.dtype).reshape(y.shape)
    np.testing.assert_array_equal(arena_y, reference[y.index])
    # the shared bytes now hold the output, as the shadow memory records
    lo, hi = max(x_buf.offset, y_buf.offset), min(x_buf.end, y_buf.end)
    base = executor.base[y.index]
    np.testing.assert_array_equal(executor.owner[lo:hi],
                                  np.arange(lo - y_buf.offset, hi - y_buf.offset) + base)
    assert (executor.writer[lo:hi] == k).all()


@pytest.mark.parametrize("shape,k,stride,pad,dilation", [
    ((5, 5, 240), 3, 2, (0, 0), 1),     # mcunet_vww1 layer 40: 5x5 -> 3x3, odd size
    ((7, 6, 5), 3, 2, (1, 1), 1),
    ((9, 9, 3), 5, 2, (2, 2), 1),
    ((6, 7, 4), 3, 1, (2, 2), 2),
    ((4, 4, 17), 7, 1, (3, 3), 1),
    ((1, 1, 8), 3, 1, (1, 1), 1),
])
def test_inplace_depthwise_kernel_matches_reference(shape, k, stride, pad, dilation):
    rng = np.random.default_rng(sum(shape) + k)
    h, w, c = shape
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    f = rng.integers(-127, 128, (1, k, k, c), dtype=np.int8)
    bias = rng.integers(-3000, 3000, c).astype(np.int32)
    mult = rng.integers(1 << 29, (1 << 31) - 1, c).astype(np.int32)
    shift = rng.integers(-9, -3, c).astype(np.int32)
    eff = (k - 1) * dilation + 1
    oh = (h + 2 * pad[0] - eff) // stride + 1
    ow = (w + 2 * pad[1] - eff) // stride + 1
    ref = depthwise_conv_2d(x, f, bias, mult, shift, output_size=(oh, ow), stride=(stride,) * 2,
                            dilation=(dilation,) * 2, padding=pad, input_offset=7,
                            output_offset=-5)
    params = DepthwiseConv2DParams(stride, stride, dilation, dilation, pad[0], pad[1], 1, 7, -5,
                                   -128, 127, mult, shift, np.zeros(c, np.int32))
    io = x.reshape(-1).copy()
    depthwise_conv_2d_inplace(params, io, np.zeros(h * w, np.int8), x.shape, f, bias,
                              (1, oh, ow, c), pad)
    np.testing.assert_array_equal(io[:oh * ow * c].reshape(ref.shape), ref)


def test_shadow_memory_names_the_overwriting_op(graphs):
    g = graphs["mlperf_ic"]
    plan = make_plan(g, "tflm")
    # ResNet-8: step 0's output is the shortcut the ADD of step 3 reads; step 2's output
    # put on its bytes overwrites it first
    victim = plan.buffer(plan.steps[0].writes[0].buffers[0])
    culprit = plan.buffer(plan.steps[2].writes[0].buffers[0])
    assert g.operators[plan.steps[3].op].opcode == "ADD"
    bad = replace(plan, buffers=tuple(replace(b, offset=victim.offset) if b.name == culprit.name
                                      else b for b in plan.buffers))
    inputs = make_inputs(g, 1, 0)[0]
    with pytest.raises(ArenaViolation) as err:
        ArenaExecutor(g, bad).run(inputs)
    msg = str(err.value)
    assert f"step 3 (op 3 ADD) reads tensor {victim.tensor}" in msg
    assert f"at arena bytes [{victim.offset}, {victim.end})" in msg
    assert f"holds byte 0 of tensor {culprit.tensor}" in msg
    assert "step 2 (op 2 CONV_2D) overwrote it" in msg
    assert not check_plan(g, bad).ok


def test_byte_runs():
    starts, length = byte_runs((2, 4, 5, 3), Box((0, 1, 0, 0), (2, 3, 5, 3)), 1)
    assert length == 30 and list(starts) == [15, 75]
    starts, length = byte_runs((1, 4, 5, 3), Box((0, 1, 2, 0), (1, 3, 4, 3)), 4)
    assert length == 24 and list(starts) == [4 * (15 + 6), 4 * (30 + 6)]
    starts, length = byte_runs((3, 4), Box((0, 0), (3, 4)), 2)
    assert length == 24 and list(starts) == [0]


@pytest.mark.parametrize("tiles", [2, 3])
def test_region_steps_over_tile_buffers(tiles):
    net = Net("tiled", (1, 9, 7, 3), seed=tiles)
    a = net.conv(net.input, 6, 3, act="RELU")
    b = net.conv(a, 5, 3)
    g = net.build(b)
    plan = hand_tiled_plan(g, tiles)
    assert check_plan(g, plan).ok, check_plan(g, plan).summary()
    run_and_compare(g, plan, n_inputs=2)
    # a read box one row short of what the output rows need is refused statically
    k = tiles
    st = plan.steps[k]
    short = replace(st.reads[0], box=replace(st.reads[0].box, stop=(1, st.reads[0].box.stop[1]
                                                                     - 1, 7, 6)))
    bad = replace(plan, steps=plan.steps[:k] + (replace(st, reads=(short,)),)
                  + plan.steps[k + 1:])
    report = check_plan(g, bad)
    assert not report.ok and "the op needs" in report.problems[0].message


def test_input_outside_arena_runs_bit_exact(graphs):
    g = graphs["mcunet_vww1"]
    plan = make_plan(g, "best", ["inplace", "input_outside"])
    assert check_plan(g, plan).ok
    run_and_compare(g, plan)
