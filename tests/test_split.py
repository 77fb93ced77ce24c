"""Tensor-splitting plans (TinyTS row tiles): bit-exact in the arena, checker clean, no
recomputation, reads of exactly the rows a tile needs, depth-first vs breadth-first."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import MODEL_NAMES, shared_model
from tiled_harness import prove

from tinysim.checker import mutation_test
from tinysim.errors import PlanError
from tinysim.loader import load_model
from tinysim.plan import Box, loads
from tinysim.planners import split
from tinysim.tiling import plan_macs, spatial_stage
from tinysim.verify import make_inputs

# (tile rows, order, input outside) per shared model: three configurations each
CONFIGS = ((1, "depth", False), (2, "breadth", True), (3, "frugal", True))


@pytest.fixture(scope="module")
def graphs():
    return {name: load_model(shared_model(name)) for name in MODEL_NAMES}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_split_plans_bit_exact_on_shared_models(name, graphs):
    g = graphs[name]
    if spatial_stage(g) is None:
        with pytest.raises(PlanError, match="no convolution or pooling stage"):
            split.plan(g)
        assert not any(op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D") for op in g.operators)
        return
    for rows, order, outside in CONFIGS:
        p = split.plan(g, rows, order, input_outside=outside)
        proof = prove(g, p)
        assert proof.clean, (rows, order, outside, proof.problems[:3], proof.mismatches[:3])
        done, base = plan_macs(g, p)
        assert done == base  # tiles partition every output: nothing recomputed


def test_tiles_partition_outputs_and_read_only_needed_rows(graphs):
    g = graphs["mlperf_vww"]
    p = split.plan(g, 1, "depth")
    conv0 = [st for st in p.steps if st.op == 0]
    assert len(conv0) == 48  # one step per output row
    written = sorted(st.writes[0].box.start[1] for st in conv0)
    assert written == list(range(48))
    # 3x3 stride-2 SAME over 96 rows: TFLM pads 0 on top, 1 below; row r reads 2r..2r+2
    x = g.tensor(g.operators[0].inputs[0])
    for st in conv0:
        r = st.writes[0].box.start[1]
        read = st.reads[0]
        assert read.box == Box((0, 2 * r, 0, 0), (1, 2 * r + 3, 97, 3))
        assert read.fill == x.zero_point  # the right column (and last row) is padding
        # exactly the input tiles those rows live in
        assert read.buffers == tuple(f"in.t{x.index}.r{k}" for k in range(2 * r, min(2 * r + 3,
                                                                                     96)))


def test_depth_first_keeps_less_live_than_breadth_first(graphs):
    for name in ("mlperf_vww", "mlperf_ic", "mcunet_vww1"):
        g = graphs[name]
        depth = split.plan(g, 1, "depth", input_outside=True)
        breadth = split.plan(g, 1, "breadth", input_outside=True)
        assert depth.arena_bytes < breadth.arena_bytes / 2, name
        # breadth-first runs every tile of an op before the next op starts
        ops = [st.op for st in breadth.steps]
        assert all(a <= b for a, b in zip(ops, ops[1:]))


def test_frugal_order_frees_the_input_sooner(graphs):
    g = graphs["mlperf_vww"]
    for outside in (False, True):
        depth = split.plan(g, 1, "depth", input_outside=outside)
        frugal = split.plan(g, 1, "frugal", input_outside=outside)
        assert frugal.arena_bytes <= depth.arena_bytes
        # the same tile steps, in another order
        def tiles(p):
            return sorted((st.op, st.writes[0].box.start if st.writes[0].box else ())
                          for st in p.steps)
        assert tiles(frugal) == tiles(depth)
    inside_depth = split.plan(g, 1, "depth")
    inside_frugal = split.plan(g, 1, "frugal")
    assert inside_frugal.arena_bytes < inside_depth.arena_bytes
    assert prove(g, inside_frugal).clean


def test_input_tiles_inside_are_freed_row_by_row(graphs):
    g = graphs["mlperf_vww"]
    inside = split.plan(g, 4, "depth")
    t_in = g.inputs[0]
    tiles = sorted((b for b in inside.buffers if b.tensor == t_in), key=lambda b: b.box.start[1])
    assert len(tiles) == 24 and all(b.in_arena and b.first_step == 0 for b in tiles)
    last = [b.last_step for b in tiles]
    assert last == sorted(last) and last[0] < last[-1]
    outside = split.plan(g, 4, "depth", input_outside=True)
    (b,) = [b for b in outside.buffers if b.tensor == t_in]
    assert b.offset is None and b.box is None
    assert outside.arena_bytes < inside.arena_bytes


def test_plan_json_round_trip_runs(graphs):
    g = graphs["mlperf_kws"]
    p = split.plan(g, 2, "depth")
    q = loads(p.dumps())
    assert q == p
    assert prove(g, q).clean
    assert split.plan(g, 2, "depth").to_json() == p.to_json()  # deterministic


def test_stage_before_a_reshape_and_after_it(graphs):
    g = graphs["armzoo_kws_dscnn_l"]  # RESHAPE of the 1x490 input, then convolutions
    assert spatial_stage(g) == (1, 13)
    p = split.plan(g, 1, "depth")
    assert p.steps[0].op == 0 and p.steps[0].writes[0].box is None
    assert prove(g, p).clean


def test_split_errors_name_the_problem(graphs):
    g = graphs["mcunet_vww1"]
    with pytest.raises(PlanError, match="tile height 0"):
        split.plan(g, 0)
    with pytest.raises(PlanError, match="order 'sideways'"):
        split.plan(g, 1, "sideways")
    with pytest.raises(PlanError, match=r"op 58 \(TRANSPOSE\) cannot run on an output region"):
        split.plan(g, 1, stage=(0, 63))
    with pytest.raises(PlanError, match="no convolution or pooling stage"):
        split.plan(graphs["mlperf_ad"])


def test_tile_steps_write_each_element_once(graphs):
    g = graphs["mcunet_vww0"]
    p = split.plan(g, 2, "depth", input_outside=True)
    counts: dict[int, np.ndarray] = {}
    for st in p.steps:
        for a in st.writes:
            t = g.tensor(a.tensor)
            c = counts.setdefault(a.tensor, np.zeros(t.shape, np.int32))
            box = a.box or Box.whole(t.shape)
            c[tuple(slice(x, y) for x, y in zip(box.start, box.stop))] += 1
    assert counts and all(int(c.min()) == int(c.max()) == 1 for c in counts.values())


def test_checker_catches_every_mutant_of_a_split_plan(graphs):
    g = graphs["mcunet_vww1"]
    inputs = make_inputs(g, 1, seed=2)[0]
    for p in (split.plan(g, 1, "depth"), split.plan(g, 2, "breadth", input_outside=True)):
        report = mutation_test(g, p, inputs, dynamic=True)
        assert len(report.results) >= 20 and report.kill_rate == 1.0, \
            [r.mutant.description for r in report.survivors]
        # the shadow memory alone catches the faults that corrupt a live tile
        assert any(r.dynamic for r in report.results if r.mutant.kind == "shift_offset")
