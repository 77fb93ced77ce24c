"""Patch-based plans (MCUNetV2): receptive-field windows, padding only at true image
borders, halo recomputation counted, bit-exact in the arena with the checker clean."""
from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import MODEL_NAMES, shared_model
from tiled_harness import prove

from tinysim.arena import ArenaExecutor, compare_with_reference
from tinysim.checker import check_plan, mutation_test
from tinysim.errors import ArenaViolation, PlanError
from tinysim.executor import Executor
from tinysim.loader import load_model
from tinysim.plan import Box
from tinysim.planners import patch
from tinysim.planners.search import patch_splits
from tinysim.stats import op_macs
from tinysim.tiling import plan_macs, spatial_stage
from tinysim.verify import make_inputs


@pytest.fixture(scope="module")
def graphs():
    return {name: load_model(shared_model(name)) for name in MODEL_NAMES}


def _grid_for(g, split_op):
    shapes = [g.tensor(t).shape for t in patch.boundary_tensors(g, spatial_stage(g)[0],
                                                                 split_op)]
    return (min(2, *(s[1] for s in shapes)), min(2, *(s[2] for s in shapes)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_patch_plans_bit_exact_on_shared_models(name, graphs):
    g = graphs[name]
    splits = patch_splits(g)
    if spatial_stage(g) is None:
        with pytest.raises(PlanError, match="no convolution or pooling stage"):
            patch.plan(g)
        return
    assert splits, name
    for split_op, outside in ((splits[0], False), (splits[-1], True)):
        p = patch.plan(g, _grid_for(g, split_op), split_op, input_outside=outside)
        proof = prove(g, p)
        assert proof.clean, (split_op, outside, proof.problems[:3], proof.mismatches[:3])


def _window(g, op, out_lo, out_hi, axis):
    """Slow oracle: the logical-input indices the op's taps reach for outputs
    [out_lo, out_hi) along ``axis`` (1 rows, 2 columns), by enumerating every tap."""
    o = op.options
    x = g.tensor(op.inputs[0]).shape
    y = g.tensor(op.outputs[0]).shape
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        k = g.tensor(op.inputs[1]).shape[axis]
        d = o["dilation_h" if axis == 1 else "dilation_w"]
    elif op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        k, d = o["filter_h" if axis == 1 else "filter_w"], 1
    else:
        return out_lo, out_hi
    s = o["stride_h" if axis == 1 else "stride_w"]
    pad = 0
    if o["padding"] == "SAME":
        pad = max(((y[axis] - 1) * s + (k - 1) * d + 1 - x[axis]) // 2, 0)
    taps = [q * s - pad + t * d for q in range(out_lo, out_hi) for t in range(k)]
    return min(taps), max(taps) + 1


def test_patch_windows_are_the_receptive_field(graphs):
    """Every read of a 3x3 patch plan of mcunet_vww1's first stage (two stride-2 layers,
    PADs folded) is exactly what the taps reach; SAME/PAD padding only at image borders."""
    g = graphs["mcunet_vww1"]
    p = patch.plan(g, (3, 3), 7)
    pads = {g.operators[i].outputs[0]: g.tensor(g.operators[i].inputs[1]).data.reshape(-1, 2)
            for i in range(8) if g.operators[i].opcode == "PAD"}
    region_steps = [st for st in p.steps if st.writes[0].box is not None]
    assert len(region_steps) == 9 * 6  # 8 stage ops minus 2 folded PADs, per patch
    for st in region_steps:
        op = g.operators[st.op]
        w = st.writes[0].box
        (read,) = st.reads
        lead = pads[op.inputs[0]][:, 0] if op.inputs[0] in pads else (0, 0, 0, 0)
        for axis in (1, 2):
            lo, hi = _window(g, op, w.start[axis], w.stop[axis], axis)
            assert (read.box.start[axis], read.box.stop[axis]) == (lo - lead[axis],
                                                                   hi - lead[axis])
        src = g.tensor(read.tensor).shape
        inside = Box.whole(src).contains(read.box)
        assert (read.fill is None) == inside
        if not inside:  # a patch touching the image border, and only there
            assert read.box.start[1] < 0 or read.box.start[2] < 0 or \
                read.box.stop[1] > src[1] or read.box.stop[2] > src[2]


def test_halo_recomputation_is_counted(graphs):
    g = graphs["mcunet_vww1"]
    base = sum(op_macs(g, op) for op in g.operators)
    one = patch.plan(g, (1, 1), 7)
    assert plan_macs(g, one) == (base, base)  # one patch: no halo
    extra = {}
    for grid in ((2, 2), (3, 3), (4, 4)):
        done, _ = plan_macs(g, patch.plan(g, grid, 7))
        # independent count: each region step's output elements times the op's MACs per
        # output element
        p = patch.plan(g, grid, 7)
        by_steps = sum(op_macs(g, g.operators[st.op]) * st.writes[0].box.size //
                       g.tensor(g.operators[st.op].outputs[0]).size
                       for st in p.steps if st.writes[0].box is not None)
        stage = sum(op_macs(g, g.operators[i]) for i in range(8))
        assert done - base == by_steps - stage > 0
        extra[grid] = done - base
    assert extra[(2, 2)] < extra[(3, 3)] < extra[(4, 4)]


def test_patch_buffers_live_only_during_their_patch(graphs):
    g = graphs["mlperf_vww"]
    p = patch.plan(g, (3, 3), 3)
    span: dict[str, list[int]] = {}
    for k, st in enumerate(p.steps):
        for a in st.reads + st.writes:
            for name in a.buffers:
                if name.startswith("p"):
                    span.setdefault(name.split(".t")[0], []).append(k)
    assert list(span) == [f"p{a}.{b}" for a in range(3) for b in range(3)]
    ranges = [(min(v), max(v)) for v in span.values()]
    assert all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))  # one at a time
    for b in p.buffers:
        if b.name.startswith("p"):
            steps = span[b.name.split(".t")[0]]
            assert min(steps) <= b.first_step <= b.last_step <= max(steps)
    # the boundary tensor is one full-size buffer the patches write their cells into
    (t,) = patch.boundary_tensors(g, 0, 3)
    (full,) = [b for b in p.buffers if b.tensor == t]
    assert full.box is None and full.size == g.tensor(t).nbytes


def test_input_outside_patches_read_the_application_copy(graphs):
    g = graphs["mcunet_vww1"]
    inside = patch.plan(g, (2, 2), 7)
    outside = patch.plan(g, (2, 2), 7, input_outside=True)
    t_in = g.inputs[0]
    (b,) = outside.tensor_buffers(t_in)
    assert b.offset is None
    first_reads = [a for st in outside.steps if st.op == 0 for a in st.reads]
    assert len(first_reads) == 4 and all(a.buffers == (b.name,) for a in first_reads)
    assert outside.arena_bytes < inside.arena_bytes
    assert prove(g, outside).clean


def test_second_stage_in_place_or_layer_by_layer(graphs):
    g = graphs["mlperf_vww"]
    inplace = patch.plan(g, (3, 3), 3, input_outside=True)
    layer = patch.plan(g, (3, 3), 3, input_outside=True, stage2="layer")
    assert "stage2=inplace" in inplace.options and "stage2=layer" in layer.options
    kernels = {st.kernel for st in inplace.steps if st.op > 3}
    assert kernels & {"depthwise_inplace", "op_rows", "op_rows_reverse"}
    assert {st.kernel for st in layer.steps} == {"op"}
    assert inplace.arena_bytes < layer.arena_bytes
    # the same halo either way
    assert plan_macs(g, inplace) == plan_macs(g, layer)
    for p in (inplace, layer):
        assert prove(g, p).clean
    with pytest.raises(PlanError, match="second stage 'fast'"):
        patch.plan(g, (2, 2), 3, stage2="fast")


def test_halo_one_pixel_too_small_is_caught(graphs):
    g = graphs["mcunet_vww1"]
    p = patch.plan(g, (2, 2), 7, input_outside=True)
    # patch (1, 0)'s depthwise 3x3 (op 3) reads one row above its cell: its halo
    k = next(k for k, st in enumerate(p.steps)
             if st.op == 3 and st.writes[0].buffers[0].startswith("p1.0."))
    st = p.steps[k]
    read = st.reads[0]
    assert read.box.start[1] > 0
    small = replace(read, box=Box((0, read.box.start[1] + 1) + read.box.start[2:],
                                  read.box.stop))
    bad = replace(p, steps=p.steps[:k] + (replace(st, reads=(small,)),) + p.steps[k + 1:])
    problems = [q.message for q in check_plan(g, bad).problems]
    assert any("reads box" in m and "needs" in m for m in problems), problems
    inputs = make_inputs(g, 1, seed=1)[0]
    try:
        run = ArenaExecutor(g, bad).run(inputs)
    except (PlanError, ArenaViolation):
        return
    assert compare_with_reference(g, run, Executor(g).run(inputs))


def test_patch_errors_name_the_problem(graphs):
    with pytest.raises(PlanError, match="read both after op 4"):
        patch.plan(graphs["mlperf_ic"], (2, 2), 4)
    with pytest.raises(PlanError, match="too small for a 2x2 grid"):
        patch.plan(graphs["mlperf_kws"], (2, 2), 9)
    with pytest.raises(PlanError, match="split op 60 must be in the spatial stage"):
        patch.plan(graphs["mcunet_vww1"], (2, 2), 60)
    with pytest.raises(PlanError, match="grid 0x2"):
        patch.plan(graphs["mcunet_vww1"], (0, 2), 7)


def test_checker_catches_every_mutant_of_a_patch_plan(graphs):
    g = graphs["mlperf_vww"]
    inputs = make_inputs(g, 1, seed=2)[0]
    p = patch.plan(g, (3, 3), 3, input_outside=True)
    assert check_plan(g, p).ok
    report = mutation_test(g, p, inputs, dynamic=True)
    assert len(report.results) >= 20 and report.kill_rate == 1.0, \
        [r.mutant.description for r in report.survivors]
