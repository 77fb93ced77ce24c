"""Small int8 graphs for memory-plan tests, built with tinysim.modelgen.GraphBuilder.

``Net`` adds layers with realistic per-channel weights and output scales sized so that
outputs spread over the int8 range (not saturated), which keeps an in-place bug visible
in the values. ``random_net`` draws chains, residual blocks, branches that join, odd
sizes, stride 2, explicit PADs and reshapes from a Hypothesis ``data`` object.
``from _schedule_graphs import ...`` inside tests/properties; ``from
properties._schedule_graphs import ...`` elsewhere.
"""
from __future__ import annotations

import math

import numpy as np

from tinysim.ir import Graph
from tinysim.plan import Access, Box, Buffer, Plan, Step
from tinysim.planners.geometry import needed_box
from tinysim.modelgen import GraphBuilder, random_bias, random_filter


class Net:
    def __init__(self, name: str, shape: tuple[int, ...], seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.gb = GraphBuilder(name)
        self.quant: dict[int, tuple[float, int]] = {}
        self.input = self._new(self.gb.input(shape, 0.02, -3, name="input"), 0.02, -3)

    def _new(self, t: int, scale: float, zp: int) -> int:
        self.quant[t] = (scale, zp)
        return t

    def shape(self, t: int) -> tuple[int, ...]:
        return self.gb.tensor(t).shape

    def _out_q(self, in_scale: float, w_scale: np.ndarray, fan_in: int) -> tuple[float, int]:
        # accumulator spread: ~73 input codes x ~40 weight codes x sqrt(fan_in); aim ~45 codes
        scale = in_scale * float(np.mean(w_scale)) * math.sqrt(fan_in) * 73 * 40 / 45
        return float(np.float32(scale)), int(self.rng.integers(-20, 21))

    def conv(self, x: int, cout: int, k: int = 3, stride: int = 1, padding: str = "SAME",
             act: str = "NONE", kw: int | None = None) -> int:
        _, h, w, cin = self.shape(x)
        kw = k if kw is None else kw
        f = random_filter(self.rng, (cout, k, kw, cin), axis=0)
        s_in, _ = self.quant[x]
        b = random_bias(self.rng, cout, s_in, f.scale, std=0.2)
        scale, zp = self._out_q(s_in, f.scale, k * kw * cin)
        oh, ow = _out(h, k, stride, padding), _out(w, kw, stride, padding)
        out = self.gb.op("CONV_2D", [x, self.gb.quantized_const(f), self.gb.quantized_const(b)],
                         (1, oh, ow, cout), scale, zp, padding=padding, stride_h=stride,
                         stride_w=stride, fused_activation=act)
        return self._new(out, scale, zp)

    def dw(self, x: int, k: int = 3, stride: int = 1, padding: str = "SAME",
           act: str = "NONE") -> int:
        _, h, w, c = self.shape(x)
        f = random_filter(self.rng, (1, k, k, c), axis=3, fan_in=k * k)
        s_in, _ = self.quant[x]
        b = random_bias(self.rng, c, s_in, f.scale, std=0.2)
        scale, zp = self._out_q(s_in, f.scale, k * k)
        oh, ow = _out(h, k, stride, padding), _out(w, k, stride, padding)
        out = self.gb.op("DEPTHWISE_CONV_2D",
                         [x, self.gb.quantized_const(f), self.gb.quantized_const(b)],
                         (1, oh, ow, c), scale, zp, padding=padding, stride_h=stride,
                         stride_w=stride, depth_multiplier=1, fused_activation=act)
        return self._new(out, scale, zp)

    def add(self, a: int, b: int, act: str = "NONE") -> int:
        sa, _ = self.quant[a]
        sb, _ = self.quant[b]
        scale = float(np.float32(1.4 * max(sa, sb)))
        zp = int(self.rng.integers(-10, 11))
        return self._new(self.gb.op("ADD", [a, b], self.shape(a), scale, zp,
                                    fused_activation=act), scale, zp)

    def pad(self, x: int, pads: tuple[tuple[int, int], ...]) -> int:
        scale, zp = self.quant[x]
        shape = tuple(d + a + b for d, (a, b) in zip(self.shape(x), pads))
        p = self.gb.const(np.array(pads, np.int32))
        return self._new(self.gb.op("PAD", [x, p], shape, scale, zp), scale, zp)

    def pool(self, x: int, kind: str, k: int, stride: int, padding: str = "VALID") -> int:
        _, h, w, c = self.shape(x)
        scale, zp = self.quant[x]
        shape = (1, _out(h, k, stride, padding), _out(w, k, stride, padding), c)
        return self._new(self.gb.op(kind, [x], shape, scale, zp, filter_h=k, filter_w=k,
                                    stride_h=stride, stride_w=stride, padding=padding),
                         scale, zp)

    def relu(self, x: int) -> int:
        scale, zp = self.quant[x]
        return self._new(self.gb.op("RELU", [x], self.shape(x), scale, zp), scale, zp)

    def reshape(self, x: int, shape: tuple[int, ...]) -> int:
        scale, zp = self.quant[x]
        s = self.gb.const(np.array(shape, np.int32))
        return self._new(self.gb.op("RESHAPE", [x, s], shape, scale, zp, new_shape=shape),
                         scale, zp)

    def fc(self, x: int, n: int) -> int:
        _, k = self.shape(x)
        f = random_filter(self.rng, (n, k), axis=None)
        s_in, _ = self.quant[x]
        b = random_bias(self.rng, n, s_in, f.scale, std=0.2)
        scale, zp = self._out_q(s_in, f.scale, k)
        return self._new(self.gb.op("FULLY_CONNECTED",
                                    [x, self.gb.quantized_const(f), self.gb.quantized_const(b)],
                                    (1, n), scale, zp), scale, zp)

    def build(self, *outputs: int) -> Graph:
        for t in outputs:
            self.gb.output(t)
        return self.gb.build()


def _out(size: int, k: int, stride: int, padding: str) -> int:
    return (size + stride - 1) // stride if padding == "SAME" else (size - k) // stride + 1


def residual_net(seed: int = 0) -> Graph:
    """Two branches that widen then narrow, joining in an ADD, listed breadth first: the
    graph's order keeps both wide tensors live at once, branch by branch does not."""
    net = Net("residual_order", (1, 12, 12, 8), seed)
    x = net.conv(net.input, 8, 3)
    wide1 = net.conv(x, 48, 1, act="RELU")
    wide2 = net.conv(x, 48, 1, act="RELU")
    thin1 = net.conv(wide1, 8, 1)
    thin2 = net.conv(wide2, 8, 1)
    y = net.add(thin1, thin2)
    return net.build(net.add(y, x))


def random_net(draw, st, name: str = "random_schedule") -> Graph:
    """A random graph from Hypothesis: ``draw`` is data.draw, ``st`` hypothesis.strategies."""
    h = draw(st.integers(5, 13), label="height")
    w = draw(st.integers(5, 13), label="width")
    c = draw(st.sampled_from((1, 3, 4, 8)), label="channels")
    net = Net(name, (1, h, w, c), draw(st.integers(0, 2 ** 16), label="seed"))
    x = net.input
    for _ in range(draw(st.integers(2, 5), label="blocks")):
        kind = draw(st.sampled_from(("chain", "residual", "branches", "padded_dw",
                                     "pool", "relu")), label="block")
        _, bh, bw, bc = net.shape(x)
        if kind == "chain":
            x = net.conv(x, draw(st.sampled_from((4, 8, 12))),
                         draw(st.sampled_from((1, 3))),
                         stride=draw(st.sampled_from((1, 2))) if min(bh, bw) > 3 else 1,
                         padding=draw(st.sampled_from(("SAME", "VALID"))) if min(bh, bw) > 3
                         else "SAME")
        elif kind == "residual":
            e = net.conv(x, bc * draw(st.sampled_from((2, 3))), 1, act="RELU6")
            d = net.dw(e, draw(st.sampled_from((3, 5))), act="RELU6")
            p = net.conv(d, bc, 1)
            x = net.add(p, x)
        elif kind == "branches":
            a = net.conv(x, 8, 3)
            b = net.dw(net.conv(x, 8, 1), 3, stride=1)
            x = net.add(a, b)
        elif kind == "padded_dw":
            k = draw(st.sampled_from((3, 5)))
            pad = k // 2
            stride = draw(st.sampled_from((1, 2)))
            p = net.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            x = net.dw(p, k, stride=stride, padding="VALID")
        elif kind == "pool" and min(bh, bw) >= 4:
            x = net.pool(x, draw(st.sampled_from(("MAX_POOL_2D", "AVERAGE_POOL_2D"))), 2, 2)
        else:
            x = net.relu(x)
    _, fh, fw, fc = net.shape(x)
    flat = net.reshape(x, (1, fh * fw * fc))
    return net.build(net.fc(flat, 5))


def hand_tiled_plan(graph: Graph, tiles: int) -> Plan:
    """For a two-op graph (conv A then conv B): each op computed in ``tiles`` row tiles,
    each tile its own buffer, buffers laid end to end: a tiled (TinyTS-style) plan
    written by hand in the plan format."""
    op_a, op_b = graph.operators
    a, b = op_a.outputs[0], op_b.outputs[0]
    x = graph.inputs[0]
    steps, buffers, offset = [], [], 0

    def add_buffer(name, tensor, box, first, last):
        nonlocal offset
        t = graph.tensor(tensor)
        size = (box or Box.whole(t.shape)).size * t.itemsize
        buffers.append(Buffer(name, "tensor", tensor, box, size, offset, first, last))
        offset += (size + 15) // 16 * 16

    def rows(tensor, r0, r1):
        shape = graph.tensor(tensor).shape
        return Box((0, r0, 0, 0), (1, r1) + shape[2:])

    h = graph.tensor(a).shape[1]
    cuts = [h * i // tiles for i in range(tiles + 1)]
    n_steps = 2 * tiles
    add_buffer("x", x, None, 0, tiles - 1)
    for i in range(tiles):
        add_buffer(f"a{i}", a, rows(a, cuts[i], cuts[i + 1]), i, n_steps - 1)
        add_buffer(f"b{i}", b, rows(b, cuts[i], cuts[i + 1]), tiles + i, n_steps - 1)
    for op, src, dst, src_names, dst_prefix in ((op_a, x, a, ("x",), "a"),
                                                (op_b, a, b, tuple(f"a{i}" for i in range(tiles)),
                                                 "b")):
        for i in range(tiles):
            out_box = rows(dst, cuts[i], cuts[i + 1])
            box = needed_box(graph, op, 0, out_box, (0, 0, 0, 0))
            steps.append(Step(op.index, "op",
                              (Access(0, src, src_names, box, graph.tensor(src).zero_point),),
                              (Access(0, dst, (f"{dst_prefix}{i}",), out_box),)))
    return Plan(graph.name, graph.sha256, "hand-tiled", (), 16, offset, tuple(buffers),
                tuple(steps))
