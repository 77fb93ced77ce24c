"""Hypothesis: patch and split plans of random graphs (chains with stride 2 and odd sizes,
residual blocks, branches, folded PADs, pools) with random grids, split points and tile
heights run bit-exact in the arena with the checker clean; a patch plan whose halo is one
pixel too small is caught."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from _schedule_graphs import Net, random_net
from hypothesis import given, strategies as st

from tinysim.arena import ArenaExecutor, compare_with_reference
from tinysim.checker import check_plan
from tinysim.errors import ArenaViolation, PlanError
from tinysim.executor import Executor
from tinysim.plan import Box
from tinysim.planners import patch, split
from tinysim.planners.geometry import SPATIAL_OPS
from tinysim.tiling import plan_macs, spatial_stage, stage_problem


def _inputs(g, seed: int):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, g.tensor(t).shape).astype(np.int8) for t in g.inputs]


def _prove(g, p, seed: int):
    report = check_plan(g, p)
    assert report.ok, [q.message for q in report.problems[:3]]
    x = _inputs(g, seed)
    run = ArenaExecutor(g, p).run(x)
    mismatches = compare_with_reference(g, run, Executor(g).run(x))
    assert not mismatches, [m.describe() for m in mismatches[:3]]


def strided_chain(draw, name: str = "strided_chain"):
    """Convolutions, depthwise and pools with stride 1 or 2, SAME or VALID, 1/3/5 kernels,
    odd sizes, a PAD folded into a VALID depthwise, a residual ADD; then the classifier."""
    h = draw(st.integers(7, 23), label="height")
    w = draw(st.integers(5, 23), label="width")
    net = Net(name, (1, h, w, draw(st.sampled_from((1, 3, 4)), label="channels")),
              draw(st.integers(0, 2 ** 16), label="seed"))
    x = net.input
    for _ in range(draw(st.integers(1, 5), label="layers")):
        _, bh, bw, bc = net.shape(x)
        small = min(bh, bw) < 6
        kind = draw(st.sampled_from(("conv", "dw", "padded_dw", "residual", "pool")),
                    label="layer")
        stride = 1 if small else draw(st.sampled_from((1, 2)), label="stride")
        if kind == "conv":
            k = draw(st.sampled_from((1, 3, 5) if not small else (1, 3)), label="k")
            pad = "SAME" if small or k > min(bh, bw) else draw(st.sampled_from(("SAME",
                                                                                "VALID")))
            x = net.conv(x, draw(st.sampled_from((4, 8))), k, stride, pad, act="RELU6")
        elif kind == "dw":
            x = net.dw(x, 3, stride, draw(st.sampled_from(("SAME", "VALID"))) if not small
                       else "SAME", act="RELU")
        elif kind == "padded_dw":
            k = draw(st.sampled_from((3, 5)), label="k")
            p = net.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
            x = net.dw(p, k, stride, "VALID")
        elif kind == "residual":
            e = net.conv(x, bc * 2, 1, act="RELU6")
            x = net.add(net.conv(net.dw(e, 3), bc, 1), x)
        elif not small:
            x = net.pool(x, draw(st.sampled_from(("MAX_POOL_2D", "AVERAGE_POOL_2D"))),
                         draw(st.sampled_from((2, 3))), 2)
    _, fh, fw, fc = net.shape(x)
    return net.build(net.fc(net.reshape(x, (1, fh * fw * fc)), 4))


def _graph(data):
    if data.draw(st.booleans(), label="generic graph"):
        return random_net(data.draw, st, "random_patch_split")
    return strided_chain(data.draw)


@given(st.data())
def test_split_plans_equal_the_reference(data):
    g = _graph(data)
    stage = spatial_stage(g)
    if stage is None:  # only RELUs before the classifier
        assert not any(op.opcode in SPATIAL_OPS for op in g.operators)
        return
    tallest = max(g.tensor(op.outputs[0]).shape[1] for op in g.operators[stage[0]:stage[1]])
    rows = data.draw(st.integers(1, tallest + 1), label="tile rows")
    order = data.draw(st.sampled_from(split.ORDERS), label="order")
    outside = data.draw(st.booleans(), label="input outside")
    p = split.plan(g, rows, order, input_outside=outside)
    done, base = plan_macs(g, p)
    assert done == base
    _prove(g, p, data.draw(st.integers(0, 2 ** 16), label="input seed"))


def _patch_plan(data, g):
    """A patch plan at a random valid split with a random grid (None: no spatial stage)."""
    stage = spatial_stage(g)
    if stage is None:
        assert not any(op.opcode in SPATIAL_OPS for op in g.operators)
        return None
    start, end = stage
    candidates = []
    for i in range(start, end):
        if stage_problem(g, start, i + 1) is not None:
            continue  # e.g. ends on a PAD whose reader is outside: it cannot fold
        try:
            boundary = patch.boundary_tensors(g, start, i)
        except PlanError:
            continue  # a residual crosses the split
        shapes = [g.tensor(t).shape for t in boundary]
        candidates.append((i, min(s[1] for s in shapes), min(s[2] for s in shapes)))
    split_op, max_n, max_m = data.draw(st.sampled_from(candidates), label="split")
    n = data.draw(st.integers(1, min(max_n, 4)), label="grid rows")
    m = data.draw(st.integers(1, min(max_m, 4)), label="grid cols")
    outside = data.draw(st.booleans(), label="input outside")
    return patch.plan(g, (n, m), split_op, input_outside=outside)


@given(st.data())
def test_patch_plans_equal_the_reference(data):
    g = _graph(data)
    p = _patch_plan(data, g)
    if p is None:
        return
    done, base = plan_macs(g, p)
    assert done >= base
    _prove(g, p, data.draw(st.integers(0, 2 ** 16), label="input seed"))


@given(st.data())
def test_halo_one_pixel_too_small_is_caught(data):
    g = strided_chain(data.draw, "halo_chain")
    p = _patch_plan(data, g)
    if p is None:
        return
    # reads that reach into a neighbouring patch: their box starts inside the stored
    # tensor, after a row/column some other patch owns
    halo = []
    for k, st_ in enumerate(p.steps):
        for j, a in enumerate(st_.reads):
            if st_.writes[0].box is None or a.box is None:
                continue
            for axis in (1, 2):
                if a.box.start[axis] > 0 and a.box.stop[axis] - a.box.start[axis] > 1:
                    halo.append((k, j, axis))
    if not halo:
        return
    k, j, axis = data.draw(st.sampled_from(halo), label="shrunk read")
    step = p.steps[k]
    a = step.reads[j]
    start = list(a.box.start)
    start[axis] += 1
    reads = list(step.reads)
    reads[j] = replace(a, box=Box(tuple(start), a.box.stop))
    bad = replace(p, steps=p.steps[:k] + (replace(step, reads=tuple(reads)),) + p.steps[k + 1:])
    problems = [q.message for q in check_plan(g, bad).problems]
    assert any("reads box" in q and "needs" in q for q in problems), problems
    x = _inputs(g, 0)
    try:
        run = ArenaExecutor(g, bad).run(x)
    except (PlanError, ArenaViolation):
        return
    assert compare_with_reference(g, run, Executor(g).run(x))
