"""Properties: one-op elementwise, pooling, reduction and shape models, bit-exact with TFLM.

ADD / SUB / MUL with numpy-style broadcasting up to 7-D (same shapes, size-1 dimensions,
missing leading dimensions), every fused activation, scales and zero points over int8's
range; AVERAGE_POOL_2D / MAX_POOL_2D with odd images, windows, strides and both paddings;
MEAN over negative and repeated axes, keep_dims, with and without requantization;
PAD / PADV2 up to 5-D (negative paddings included: TFLM accepts them); RESHAPE, SQUEEZE,
TRANSPOSE, CONCATENATION (negative axes, up to 10 inputs, 6-D); RESIZE_NEAREST_NEIGHBOR
and RESIZE_BILINEAR with align_corners / half_pixel_centers, up- and downscaling.
Each graph goes through write_model -> TFLM, and every tensor must match.
"""
from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings, strategies as st

from _strategies import fused_activations, paddings, quant_params, rngs
from _tflm import assert_bit_exact_with_tflm
from kernels_ref.mean import reduced_shape, resolve_axes
from kernels_ref.squeeze import squeezed_shape
from tinysim.modelgen import GraphBuilder

# one example costs a few ms, so the cheap ops run more than the profile's default
MORE = settings(max_examples=max(300, settings.default.max_examples))


def _data(rng, shape, kind: str) -> np.ndarray:
    if kind == "min":
        return np.full(shape, -128, np.int8)
    if kind == "max":
        return np.full(shape, 127, np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


def input_kinds():
    return st.sampled_from(("random", "random", "random", "min", "max"))


def dims(max_rank: int, max_size: int = 5, min_rank: int = 1):
    return st.lists(st.integers(1, max_size), min_size=min_rank, max_size=max_rank).map(tuple)


# --- ADD / SUB / MUL ------------------------------------------------------------------------

@st.composite
def broadcast_shapes(draw):
    """Two shapes that broadcast: each dimension the full size or 1, leading dims dropped."""
    full = draw(dims(7))
    mode = draw(st.sampled_from(("same", "broadcast", "broadcast", "scalar")))
    if mode == "same":
        return full, full
    shapes = []
    for _ in range(2):
        s = tuple(d if draw(st.booleans()) else 1 for d in full)
        shapes.append(s[draw(st.integers(0, len(s) - 1)):])
    if mode == "scalar":
        shapes[draw(st.integers(0, 1))] = (1,)
    return shapes[0], shapes[1]


@st.composite
def binary_cases(draw, opcode: str):
    s1, s2 = draw(broadcast_shapes())
    q1, q2 = draw(quant_params()), draw(quant_params())
    if opcode == "MUL":
        # the product of two offset inputs spans ~2^16 steps of s1 * s2
        out_scale = float(np.float32(q1[0] * q2[0] * 2.0 ** draw(st.floats(-2, 10))))
        out_q = (out_scale, draw(st.integers(-128, 127)))
    else:
        out_q = draw(quant_params())
    return dict(shapes=(s1, s2), q=(q1, q2), out_q=out_q, activation=draw(fused_activations()),
                kinds=(draw(input_kinds()), draw(input_kinds())), rng=draw(rngs()))


def _check_binary(opcode: str, case):
    rng = case["rng"]
    s1, s2 = case["shapes"]
    out_shape = tuple(int(d) for d in np.broadcast_shapes(s1, s2))
    gb = GraphBuilder(f"{opcode.lower()}_case")
    a = gb.input(s1, *case["q"][0])
    b = gb.input(s2, *case["q"][1])
    out = gb.op(opcode, [a, b], out_shape, *case["out_q"], fused_activation=case["activation"])
    gb.output(out)
    values = assert_bit_exact_with_tflm(
        gb.build(), [_data(rng, s1, case["kinds"][0]), _data(rng, s2, case["kinds"][1])])
    assert values[out].shape == out_shape


@MORE
@given(binary_cases("ADD"))
def test_add_bit_exact_with_tflm(case):
    _check_binary("ADD", case)


@MORE
@given(binary_cases("SUB"))
def test_sub_bit_exact_with_tflm(case):
    _check_binary("SUB", case)


@MORE
@given(binary_cases("MUL"))
def test_mul_bit_exact_with_tflm(case):
    _check_binary("MUL", case)


# --- AVERAGE_POOL_2D / MAX_POOL_2D --------------------------------------------------------

@st.composite
def pool_cases(draw):
    in_h, in_w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    padding = draw(paddings())
    filter_h = draw(st.integers(1, in_h if padding == "VALID" else 6))
    filter_w = draw(st.integers(1, in_w if padding == "VALID" else 6))
    return dict(shape=(draw(st.integers(1, 2)), in_h, in_w, draw(st.integers(1, 5))),
                filter=(filter_h, filter_w), stride=(draw(st.integers(1, 4)),
                                                     draw(st.integers(1, 4))),
                padding=padding, q=draw(quant_params()), activation=draw(fused_activations()),
                kind=draw(input_kinds()), rng=draw(rngs()))


def _pool_out(size: int, filt: int, stride: int, padding: str) -> int:
    return (size + stride - 1) // stride if padding == "SAME" else (size - filt) // stride + 1


def _check_pool(opcode: str, case):
    n, h, w, c = case["shape"]
    (fh, fw), (sh, sw) = case["filter"], case["stride"]
    out_shape = (n, _pool_out(h, fh, sh, case["padding"]), _pool_out(w, fw, sw, case["padding"]),
                 c)
    gb = GraphBuilder(f"{opcode.lower()}_case")
    x = gb.input(case["shape"], *case["q"])
    out = gb.op(opcode, [x], out_shape, *case["q"], filter_h=fh, filter_w=fw, stride_h=sh,
                stride_w=sw, padding=case["padding"], fused_activation=case["activation"])
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], case["shape"], case["kind"])])


@MORE
@given(pool_cases())
def test_average_pool_2d_bit_exact_with_tflm(case):
    _check_pool("AVERAGE_POOL_2D", case)


@MORE
@given(pool_cases())
def test_max_pool_2d_bit_exact_with_tflm(case):
    _check_pool("MAX_POOL_2D", case)


# --- MEAN ----------------------------------------------------------------------------------

@st.composite
def mean_cases(draw):
    shape = draw(dims(5, 6))
    rank = len(shape)
    # TFLM resolves at most 2 distinct axes (tinysim rejects more: test_ops_elementwise)
    distinct = draw(st.lists(st.integers(0, rank - 1), unique=True, min_size=0,
                             max_size=min(2, rank)))
    axes = [a - rank if draw(st.booleans()) else a for a in distinct]
    if axes and draw(st.booleans()):  # a repeated axis, written the other way round
        axes.append(axes[0] + rank if axes[0] < 0 else axes[0] - rank)
    in_q = draw(quant_params())
    out_q = in_q if draw(st.booleans()) else draw(quant_params())
    return dict(shape=shape, axes=axes, keep_dims=draw(st.booleans()), in_q=in_q, out_q=out_q,
                kind=draw(input_kinds()), rng=draw(rngs()))


@MORE
@given(mean_cases())
@example(dict(shape=(1, 5, 7, 9), axes=[1, 2], keep_dims=True, in_q=(0.05, 6), out_q=(0.05, 6),
              kind="random", rng=np.random.default_rng(1)))
def test_mean_bit_exact_with_tflm(case):
    shape = case["shape"]
    out_shape = reduced_shape(shape, resolve_axes(case["axes"], len(shape)), case["keep_dims"])
    gb = GraphBuilder("mean_case")
    x = gb.input(shape, *case["in_q"])
    axis = gb.const(np.array(case["axes"], np.int32))
    out = gb.op("MEAN", [x, axis], out_shape, *case["out_q"], keep_dims=case["keep_dims"])
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], shape, case["kind"])])


# --- PAD / PADV2 ---------------------------------------------------------------------------

@st.composite
def pad_cases(draw):
    shape = draw(dims(5))
    pads = []
    for d in shape:
        # TFLM accepts negative paddings as long as the output stays non-empty
        before = draw(st.integers(-(d - 1), 3) if draw(st.integers(0, 4)) == 0 else
                      st.integers(0, 3))
        after = draw(st.integers(-(d + before - 1), 3) if draw(st.integers(0, 4)) == 0 else
                     st.integers(0, 3))
        pads.append((before, after))
    return dict(shape=shape, pads=pads, q=draw(quant_params()), v2=draw(st.booleans()),
                value=draw(st.integers(-128, 127)), kind=draw(input_kinds()), rng=draw(rngs()))


@MORE
@given(pad_cases())
def test_pad_bit_exact_with_tflm(case):
    shape, pads = case["shape"], case["pads"]
    out_shape = tuple(d + b + a for d, (b, a) in zip(shape, pads))
    gb = GraphBuilder("pad_case")
    x = gb.input(shape, *case["q"])
    inputs = [x, gb.const(np.array(pads, np.int32))]
    if case["v2"]:
        inputs.append(gb.const(np.array([case["value"]], np.int8), *case["q"]))
    out = gb.op("PADV2" if case["v2"] else "PAD", inputs, out_shape, *case["q"])
    gb.output(out)
    values = assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], shape, case["kind"])])
    assert values[out].shape == out_shape


# --- RESHAPE / SQUEEZE / TRANSPOSE / CONCATENATION ----------------------------------------

@st.composite
def reshape_cases(draw):
    shape = draw(dims(5))
    new = list(draw(st.permutations(shape)))
    if draw(st.booleans()):
        new = [int(np.prod(new))] if draw(st.booleans()) else [1, *new]
    requested = list(new)
    if draw(st.booleans()):
        requested[draw(st.integers(0, len(requested) - 1))] = -1
    return dict(shape=shape, new=tuple(new), requested=requested,
                as_input=draw(st.booleans()), q=draw(quant_params()), rng=draw(rngs()))


@MORE
@given(reshape_cases())
def test_reshape_bit_exact_with_tflm(case):
    gb = GraphBuilder("reshape_case")
    x = gb.input(case["shape"], *case["q"])
    if case["as_input"]:
        out = gb.op("RESHAPE", [x, gb.const(np.array(case["requested"], np.int32))],
                    case["new"], *case["q"])
    else:
        out = gb.op("RESHAPE", [x], case["new"], *case["q"], new_shape=tuple(case["requested"]))
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], case["shape"], "random")])


@st.composite
def squeeze_cases(draw):
    shape = tuple(d if draw(st.booleans()) else 1 for d in draw(dims(6)))
    ones = [d for d in range(len(shape)) if shape[d] == 1]
    chosen = draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    squeeze_dims = tuple(d - len(shape) if draw(st.booleans()) else d for d in chosen)
    return dict(shape=shape, squeeze_dims=squeeze_dims, q=draw(quant_params()), rng=draw(rngs()))


@MORE
@given(squeeze_cases())
def test_squeeze_bit_exact_with_tflm(case):
    out_shape = squeezed_shape(case["shape"], case["squeeze_dims"])
    gb = GraphBuilder("squeeze_case")
    x = gb.input(case["shape"], *case["q"])
    out = gb.op("SQUEEZE", [x], out_shape, *case["q"], squeeze_dims=case["squeeze_dims"])
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], case["shape"], "random")])


@MORE
@given(dims(5), st.data(), quant_params(), rngs())
def test_transpose_bit_exact_with_tflm(shape, data, q, rng):
    perm = data.draw(st.permutations(range(len(shape))))
    gb = GraphBuilder("transpose_case")
    x = gb.input(shape, *q)
    out = gb.op("TRANSPOSE", [x, gb.const(np.array(perm, np.int32))],
                tuple(shape[p] for p in perm), *q)
    gb.output(out)
    values = assert_bit_exact_with_tflm(gb.build(), [_data(rng, shape, "random")])
    assert values[out].shape == tuple(shape[p] for p in perm)


@st.composite
def concatenation_cases(draw):
    base = draw(dims(6, 4))
    axis = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 10))):
        s = list(base)
        s[axis] = draw(st.integers(1, 4))
        shapes.append(tuple(s))
    return dict(shapes=shapes, axis=axis, q=draw(quant_params()), rng=draw(rngs()))


@MORE
@given(concatenation_cases())
def test_concatenation_bit_exact_with_tflm(case):
    shapes, axis = case["shapes"], case["axis"]
    out_shape = list(shapes[0])
    out_shape[axis] = sum(s[axis] for s in shapes)
    gb = GraphBuilder("concatenation_case")
    xs = [gb.input(s, *case["q"]) for s in shapes]
    out = gb.op("CONCATENATION", xs, tuple(out_shape), *case["q"], axis=axis)
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], s, "random") for s in shapes])


# --- RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR --------------------------------------------

@st.composite
def resize_cases(draw, bilinear: bool):
    align = draw(st.booleans())
    # TFLM's bilinear rejects align_corners with half_pixel_centers; nearest accepts both
    half = draw(st.booleans()) and not (bilinear and align)
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9)),
                       draw(st.integers(1, 4))),
                size=(draw(st.integers(1, 24)), draw(st.integers(1, 24))), align=align,
                half=half, q=draw(quant_params()), kind=draw(input_kinds()), rng=draw(rngs()))


def _check_resize(opcode: str, case):
    n, _, _, c = case["shape"]
    new_h, new_w = case["size"]
    gb = GraphBuilder(f"{opcode.lower()}_case")
    x = gb.input(case["shape"], *case["q"])
    out = gb.op(opcode, [x, gb.const(np.array(case["size"], np.int32))], (n, new_h, new_w, c),
                *case["q"], align_corners=case["align"], half_pixel_centers=case["half"])
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [_data(case["rng"], case["shape"], case["kind"])])


@MORE
@given(resize_cases(bilinear=False))
def test_resize_nearest_neighbor_bit_exact_with_tflm(case):
    _check_resize("RESIZE_NEAREST_NEIGHBOR", case)


@MORE
@given(resize_cases(bilinear=True))
def test_resize_bilinear_bit_exact_with_tflm(case):
    _check_resize("RESIZE_BILINEAR", case)
