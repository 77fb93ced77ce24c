"""Elementwise, pooling, reduction and shape ops bit-exact with TFLM on every shared model.

Each op is fed TFLM's own input tensors (from the oracle run with every tensor preserved),
so one op's bug cannot hide behind another's. Inputs: seeded random, all-minimum,
all-maximum, random again (float-input models get floats in their QUANTIZE's range).
Also: models TFLM refuses are refused by tinysim too (same rule, clear error), the checks
tinysim adds where TFLM would abort or overrun a buffer, and the public plain-array
functions against slow literal transcriptions of TFLM's loops.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import kernels_ref
from _per_op import check_ops_on_tflm_inputs
from conftest import MODEL_NAMES, shared_model
from kernels_ref.add import add
from kernels_ref.average_pool_2d import average_pool_2d
from kernels_ref.concatenation import concatenation
from kernels_ref.max_pool_2d import max_pool_2d
from kernels_ref.mean import mean
from kernels_ref.mul import mul
from kernels_ref.pad import pad
from kernels_ref.quantization import quantize_multiplier
from kernels_ref.reshape import reshape
from kernels_ref.resize_bilinear import resize_bilinear
from kernels_ref.resize_nearest_neighbor import resize_nearest_neighbor
from kernels_ref.squeeze import squeeze
from kernels_ref.sub import sub
from kernels_ref.transpose import transpose
from properties._tflm import assert_bit_exact_with_tflm
from tinysim import ShapeError, UnsupportedError
from tinysim.loader import load_model, load_model_bytes
from tinysim.modelgen import GraphBuilder
from tinysim.oracle import TFLMOracle
from tinysim.verify import make_inputs
from tinysim.writer import write_model

OURS = ("ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "PAD", "PADV2",
        "RESHAPE", "SQUEEZE", "TRANSPOSE", "CONCATENATION", "RESIZE_NEAREST_NEIGHBOR",
        "RESIZE_BILINEAR")
# the shared corpus uses these of ours (field notes); the rest are covered by properties
IN_CORPUS = {"ADD", "PAD", "MEAN", "TRANSPOSE", "AVERAGE_POOL_2D", "MAX_POOL_2D",
             "RESIZE_NEAREST_NEIGHBOR", "RESHAPE"}
MODELS_WITH_OURS = [n for n in MODEL_NAMES
                    if any(op.opcode in OURS for op in load_model(shared_model(n)).operators)]


def test_corpus_exercises_the_ops_it_should():
    seen = {op.opcode for n in MODELS_WITH_OURS for op in load_model(shared_model(n)).operators
            if op.opcode in OURS}
    assert IN_CORPUS <= seen


@pytest.mark.parametrize("name", MODELS_WITH_OURS)
def test_ops_bit_exact_with_tflm_on_tflm_inputs(name):
    path = shared_model(name)
    graph = load_model(path)
    ops = [op for op in graph.operators if op.opcode in OURS]
    input_sets = make_inputs(graph, count=4, seed=7)
    assert check_ops_on_tflm_inputs(path, graph, ops, input_sets) == 4 * len(ops)


# --- models TFLM refuses: tinysim refuses them too, naming model, op and tensor ------------

def _one_op(opcode, in_shapes, out_shape, *, consts=(), in_q=(0.1, 3), out_q=(0.1, 3),
            **options):
    """A one-op graph: int8 inputs of ``in_shapes``, then constants (array or
    (array, scale, zero_point))."""
    gb = GraphBuilder(f"{opcode.lower()}_bad")
    ins = [gb.input(s, *(in_q[k] if isinstance(in_q, list) else in_q))
           for k, s in enumerate(in_shapes)]
    for c in consts:
        ins.append(gb.const(c[0], c[1], c[2]) if isinstance(c, tuple) else gb.const(c))
    gb.output(gb.op(opcode, ins, out_shape, *out_q, **options))
    return gb.build()


def _prepare(graph):
    op = graph.operators[0]
    return kernels_ref.registry()[op.opcode].prepare(graph, op)


PADS_1 = np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)

BOTH_REFUSE = [
    ("concat scale differs", _one_op("CONCATENATION", [(1, 3), (1, 2)], (1, 5), axis=1,
                                     in_q=[(0.1, 3), (0.2, 3)]),
     UnsupportedError, "input tensor 1 (input_1) (scale 0.2, zero point 3)"),
    ("concat zero point differs", _one_op("CONCATENATION", [(1, 3), (1, 2)], (1, 5), axis=1,
                                          in_q=[(0.1, 3), (0.1, -3)]),
     UnsupportedError, "not quantized exactly like the output"),
    ("concat output differs", _one_op("CONCATENATION", [(1, 3), (1, 2)], (1, 5), axis=1,
                                      out_q=(0.1, 4)),
     UnsupportedError, "input tensor 0 (input_0)"),
    ("concat activation", _one_op("CONCATENATION", [(2, 3), (2, 5)], (2, 8), axis=1,
                                  fused_activation="RELU"), UnsupportedError, "RELU"),
    ("concat 11 inputs", _one_op("CONCATENATION", [(2, 1)] * 11, (2, 11), axis=1),
     UnsupportedError, "at most 10"),
    ("concat 7-D", _one_op("CONCATENATION", [(1, 1, 2, 1, 1, 1, 2)] * 2, (1, 1, 2, 1, 1, 1, 4),
                           axis=6), UnsupportedError, "at most 6-D"),
    ("avg pool requantizes", _one_op("AVERAGE_POOL_2D", [(1, 5, 5, 2)], (1, 2, 2, 2),
                                     out_q=(0.2, 3), filter_h=2, filter_w=2, stride_h=2,
                                     stride_w=2), UnsupportedError, "output tensor 1"),
    ("max pool zero point", _one_op("MAX_POOL_2D", [(1, 5, 5, 2)], (1, 2, 2, 2), out_q=(0.1, 4),
                                    filter_h=2, filter_w=2, stride_h=2, stride_w=2),
     UnsupportedError, "zero point 4"),
    ("padv2 value quantization", _one_op("PADV2", [(1, 4, 4, 3)], (1, 6, 6, 3),
                                         consts=[PADS_1, (np.array([7], np.int8), 0.2, 3)]),
     UnsupportedError, "constant_values tensor 2"),
    ("pad 6-D", _one_op("PAD", [(1, 1, 2, 3, 4, 5)], (1, 1, 2, 3, 4, 7),
                        consts=[np.array([[0, 0]] * 5 + [[1, 1]], np.int32)]),
     UnsupportedError, "at most 5"),
    ("transpose 6-D", _one_op("TRANSPOSE", [(1, 2, 3, 4, 5, 2)], (2, 5, 4, 3, 2, 1),
                              consts=[np.array([5, 4, 3, 2, 1, 0], np.int32)]),
     UnsupportedError, "1-D to 5-D"),
    ("transpose negative perm", _one_op("TRANSPOSE", [(2, 3, 4)], (4, 2, 3),
                                        consts=[np.array([-1, 0, 1], np.int32)]),
     UnsupportedError, "perm [-1, 0, 1]"),
    ("squeeze a non-1 dimension", _one_op("SQUEEZE", [(1, 3, 1, 4)], (3, 4),
                                          squeeze_dims=(1,)), UnsupportedError, "dimension 1"),
    ("reshape element count", _one_op("RESHAPE", [(1, 3, 4)], (2, 4),
                                      consts=[np.array([2, 4], np.int32)]),
     ShapeError, "12 elements"),
    ("bilinear align + half", _one_op("RESIZE_BILINEAR", [(1, 3, 4, 2)], (1, 5, 7, 2),
                                      consts=[np.array([5, 7], np.int32)], align_corners=True,
                                      half_pixel_centers=True),
     UnsupportedError, "half_pixel_centers"),
    ("nearest 3-D", _one_op("RESIZE_NEAREST_NEIGHBOR", [(3, 4, 2)], (6, 7, 2),
                            consts=[np.array([6, 7], np.int32)]), UnsupportedError, "4-D"),
]


@pytest.mark.parametrize("label, graph, error, words", BOTH_REFUSE,
                         ids=[case[0] for case in BOTH_REFUSE])
def test_prepare_refuses_what_tflm_refuses(label, graph, error, words):
    with pytest.raises(error) as info:
        _prepare(graph)
    msg = str(info.value)
    assert msg.startswith(f"{graph.name}: op 0 ({graph.operators[0].opcode}): "), msg
    assert words in msg, msg
    buf = write_model(graph)
    with pytest.raises(RuntimeError, match="allocate tensors"):
        TFLMOracle(buf, load_model_bytes(buf, graph.name))


TINYSIM_REFUSES = [
    # TFLM aborts the process (TFLITE_CHECK in QuantizeMultiplierSmallerThanOneExp)
    ("add output multiplier >= 1", _one_op("ADD", [(2, 3), (2, 3)], (2, 3), in_q=(1.0, 0),
                                           out_q=(1e-7, 0)),
     UnsupportedError, "output multiplier"),
    ("sub output multiplier >= 1", _one_op("SUB", [(2, 3), (2, 3)], (2, 3), in_q=(1.0, 0),
                                           out_q=(1e-7, 0)),
     UnsupportedError, "aborts"),
    # TFLM's fixed stack arrays would overflow
    ("mean 3 axes", _one_op("MEAN", [(2, 3, 4, 5)], (5,), consts=[np.array([0, 1, -2], np.int32)],
                            keep_dims=False), UnsupportedError, "3 distinct axes"),
    ("mean 6-D", _one_op("MEAN", [(1, 2, 3, 4, 5, 2)], (1, 3, 4, 5, 2),
                         consts=[np.array([1], np.int32)], keep_dims=False),
     UnsupportedError, "6 dimensions"),
    ("mean axis out of range", _one_op("MEAN", [(2, 3)], (2,), consts=[np.array([2], np.int32)]),
     UnsupportedError, "axis 2"),
    # TFLM returns wrong values for 8-D broadcasts (test_tflm_8d_broadcast_disagrees_...)
    ("add 8-D broadcast", _one_op("ADD", [(2,) + (1,) * 7, (1,) * 7 + (2,)],
                                  (2,) + (1,) * 6 + (2,)), UnsupportedError, "up to 7"),
    # malformed models TFLM would run past a buffer or silently mis-shape
    ("add shapes", _one_op("ADD", [(2, 3), (3, 2)], (2, 3)), ShapeError, "do not broadcast"),
    ("add output shape", _one_op("ADD", [(2, 3), (1, 3)], (2, 1, 3)), ShapeError,
     "broadcast to (2, 3)"),
    ("pool output shape", _one_op("AVERAGE_POOL_2D", [(1, 5, 5, 2)], (1, 3, 3, 2), filter_h=2,
                                  filter_w=2, stride_h=2, stride_w=2), ShapeError,
     "gives (1, 2, 2, 2)"),
    ("reshape requested shape", _one_op("RESHAPE", [(1, 3, 4)], (3, 4),
                                        consts=[np.array([4, 3], np.int32)]),
     ShapeError, "resolves to (4, 3)"),
    ("reshape two -1", _one_op("RESHAPE", [(1, 3, 4)], (3, 4), new_shape=(-1, -1)),
     UnsupportedError, "one -1"),
    ("nearest size vs output", _one_op("RESIZE_NEAREST_NEIGHBOR", [(1, 3, 4, 2)], (1, 5, 7, 2),
                                       consts=[np.array([6, 7], np.int32)]),
     ShapeError, "gives (1, 6, 7, 2)"),
    ("pad output shape", _one_op("PAD", [(1, 4, 4, 3)], (1, 6, 5, 3), consts=[PADS_1]),
     ShapeError, "gives (1, 6, 6, 3)"),
    ("mean output shape", _one_op("MEAN", [(2, 3)], (2, 1), consts=[np.array([1], np.int32)],
                                  keep_dims=False), ShapeError, "gives (2,)"),
    ("transpose output shape", _one_op("TRANSPOSE", [(2, 3)], (2, 3),
                                       consts=[np.array([1, 0], np.int32)]),
     ShapeError, "gives (3, 2)"),
    ("concat mismatched", _one_op("CONCATENATION", [(2, 3), (3, 3)], (5, 3), axis=1),
     ShapeError, "differ outside axis 1"),
]


@pytest.mark.parametrize("label, graph, error, words", TINYSIM_REFUSES,
                         ids=[case[0] for case in TINYSIM_REFUSES])
def test_prepare_refuses_what_tflm_cannot_run_safely(label, graph, error, words):
    with pytest.raises(error) as info:
        _prepare(graph)
    msg = str(info.value)
    assert msg.startswith(f"{graph.name}: op 0 ({graph.operators[0].opcode}): "), msg
    assert words in msg, msg


# --- TFLM behaviours worth pinning, checked against TFLM itself ----------------------------

def test_add_mul_broadcast_up_to_7_dimensions():
    rng = np.random.default_rng(3)
    for opcode in ("ADD", "MUL"):
        gb = GraphBuilder(f"{opcode.lower()}_7d")
        s1, s2 = (2, 1, 3, 1, 2, 1, 3), (1, 2, 1, 2, 2, 3, 1)
        a, b = gb.input(s1, 0.05, 3), gb.input(s2, 0.02, -7)
        out = gb.op(opcode, [a, b], (2, 2, 3, 2, 2, 3, 3), 0.06, 1)
        gb.output(out)
        values = assert_bit_exact_with_tflm(gb.build(), [
            rng.integers(-128, 128, s1).astype(np.int8),
            rng.integers(-128, 128, s2).astype(np.int8)])
        assert values[out].shape == (2, 2, 3, 2, 2, 3, 3)


def test_tflm_8d_broadcast_disagrees_with_broadcasting_so_tinysim_refuses_it():
    # what the refusal rests on: TFLM's values for an 8-D broadcast are not numpy's
    s1, s2, so = (2, 1, 1, 1, 1, 1, 1, 3), (1, 1, 1, 1, 1, 1, 2, 1), (2, 1, 1, 1, 1, 1, 2, 3)
    gb = GraphBuilder("add_8d")
    a, b = gb.input(s1, 0.05, 3), gb.input(s2, 0.02, -7)
    gb.output(gb.op("ADD", [a, b], so, 0.06, 1))
    buf = write_model(gb.build())
    graph = load_model_bytes(buf, "add_8d")
    rng = np.random.default_rng(5)
    x1 = rng.integers(-128, 128, s1).astype(np.int8)
    x2 = rng.integers(-128, 128, s2).astype(np.int8)
    theirs = TFLMOracle(buf, graph).run([x1, x2])[graph.outputs[0]]
    q = dict(input1_scale=0.05, input1_zero_point=3, input2_scale=0.02, input2_zero_point=-7,
             output_scale=0.06, output_zero_point=1)
    ours = add(x1, x2, **q)  # the plain function has no rank limit
    assert not np.array_equal(ours, theirs)
    with pytest.raises(UnsupportedError, match="up to 7"):
        _prepare(graph)


def test_pad_with_negative_paddings_reads_input_in_order_like_tflm():
    # TFLM only checks output = input + before + after; with a negative before it still
    # copies the input from its start, so this is not a crop of the middle
    gb = GraphBuilder("pad_negative")
    x = gb.input((1, 5, 4, 2), 0.1, 3)
    pads = gb.const(np.array([[0, 0], [-1, 2], [2, -1], [0, 0]], np.int32))
    out = gb.op("PAD", [x, pads], (1, 6, 5, 2), 0.1, 3)
    gb.output(out)
    data = np.arange(40, dtype=np.int8).reshape(1, 5, 4, 2)
    values = assert_bit_exact_with_tflm(gb.build(), [data])
    assert np.array_equal(values[out][0, 0, 2:], data[0, 0, :3])
    assert not np.array_equal(values[out][0, 0, 2:], data[0, 1, :3])


def test_resize_nearest_accepts_align_corners_with_half_pixel_centers_like_tflm():
    gb = GraphBuilder("nearest_both")
    x = gb.input((1, 3, 4, 2), 0.1, 3)
    out = gb.op("RESIZE_NEAREST_NEIGHBOR", [x, gb.const(np.array([7, 9], np.int32))],
                (1, 7, 9, 2), 0.1, 3, align_corners=True, half_pixel_centers=True)
    gb.output(out)
    assert_bit_exact_with_tflm(gb.build(), [np.arange(24, dtype=np.int8).reshape(1, 3, 4, 2)])


def test_mean_with_an_empty_axis_list_matches_tflm():
    # regression: written to a file, an empty axis constant has no data, so it loads as a
    # non-constant tensor that no op writes; the executor must feed it as empty and MEAN
    # must read it as "no axes" (a requantizing copy)
    gb = GraphBuilder("mean_no_axes")
    x = gb.input((3, 5), 0.05, 6)
    out = gb.op("MEAN", [x, gb.const(np.zeros(0, np.int32))], (3, 5), 0.03, -2, keep_dims=False)
    gb.output(out)
    graph = gb.build()
    assert not load_model_bytes(write_model(graph), "mean_no_axes").tensor(1).is_constant
    data = np.random.default_rng(4).integers(-128, 128, (3, 5)).astype(np.int8)
    assert_bit_exact_with_tflm(graph, [data])


def test_mean_averages_with_one_integer_path_even_without_requantization():
    # this TFLM has no truncating same-quantization path nor a 4-D axes-1,2 special case:
    # 1 + 2 + 2 = 5 over 3 rounds to 2 (truncation would give 1)
    x = np.array([[1, 2, 2]], np.int8)
    assert mean(x, 1, keep_dims=False, input_scale=0.1, input_zero_point=0, output_scale=0.1,
                output_zero_point=0).tolist() == [2]


def test_sub_derives_its_multipliers_in_float_unlike_add():
    # TFLM's CalculateOpDataSub divides float32 scales in float; ADD does it in double
    s1, s2, so = 0.0663590207695961, 0.0032279053702950478, 0.0013026228407397866
    twice = np.float32(2) * np.float32(s1)
    sub_m = quantize_multiplier(float(np.float32(twice / (np.float32(1 << 20) * np.float32(so)))))
    add_m = quantize_multiplier(2 * float(np.float32(s1)) / ((1 << 20) * float(np.float32(so))))
    assert sub_m != add_m
    params_sub = kernels_ref.registry()["SUB"].quantized_sub_params(
        s1, 0, s2, 0, so, 0, "NONE", None)
    params_add = kernels_ref.registry()["ADD"].quantized_add_params(
        s1, 0, s2, 0, so, 0, "NONE", None)
    assert (params_sub.output_multiplier, params_sub.output_shift) == sub_m
    assert (params_add.output_multiplier, params_add.output_shift) == add_m


# --- plain-array functions against slow literal transcriptions -----------------------------

def _srdhm(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    num = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
    return (abs(num) >> 31) * (1 if num >= 0 else -1)  # C's truncating division by 2^31


def _rdbp(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _mbqm(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbp(_srdhm(x * (1 << left), multiplier), right)


def _slow_add_sub(x, y, s1, z1, s2, z2, so, zo, subtract: bool):
    if subtract:
        twice = np.float32(2) * max(np.float32(s1), np.float32(s2))
        reals = [float(np.float32(np.float32(s) / twice)) for s in (s1, s2)] + \
            [float(np.float32(twice / (np.float32(1 << 20) * np.float32(so))))]
    else:
        twice = 2 * float(max(np.float32(s1), np.float32(s2)))
        reals = [float(np.float32(s1)) / twice, float(np.float32(s2)) / twice,
                 twice / ((1 << 20) * float(np.float32(so)))]
    (m1, sh1), (m2, sh2), (mo, sho) = (quantize_multiplier(r) for r in reals)
    xb, yb = np.broadcast_arrays(x, y)
    out = np.empty(xb.shape, np.int8)
    for idx in np.ndindex(xb.shape):
        a = _mbqm((int(xb[idx]) - z1) << 20, m1, sh1)
        b = _mbqm((int(yb[idx]) - z2) << 20, m2, sh2)
        out[idx] = min(127, max(-128, _mbqm(a - b if subtract else a + b, mo, sho) + zo))
    return out


def test_add_sub_mul_plain_arrays_broadcast_like_the_literal_loops():
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (2, 1, 5)).astype(np.int8)
    y = rng.integers(-128, 128, (3, 1)).astype(np.int8)
    q = dict(input1_scale=0.07, input1_zero_point=-5, input2_scale=0.011, input2_zero_point=9,
             output_scale=0.05, output_zero_point=2)
    assert np.array_equal(add(x, y, **q), _slow_add_sub(x, y, 0.07, -5, 0.011, 9, 0.05, 2, False))
    assert np.array_equal(sub(x, y, **q), _slow_add_sub(x, y, 0.07, -5, 0.011, 9, 0.05, 2, True))
    m, s = quantize_multiplier(float(np.float32(0.07)) * float(np.float32(0.011))
                               / float(np.float32(0.004)))
    xb, yb = np.broadcast_arrays(x, y)
    expected = np.array([min(127, max(-128, _mbqm((int(a) + 5) * (int(b) - 9), m, s) + 2))
                         for a, b in zip(xb.ravel(), yb.ravel())], np.int8).reshape(xb.shape)
    assert np.array_equal(mul(x, y, **{**q, "output_scale": 0.004}), expected)
    relu = add(x, y, **q, activation="RELU")
    assert relu.min() >= 2 and relu.shape == (2, 3, 5)


def _slow_pool(x, fh, fw, sh, sw, padding, average: bool):
    n, h, w, c = x.shape
    oh = (h + sh - 1) // sh if padding == "SAME" else (h - fh) // sh + 1
    ow = (w + sw - 1) // sw if padding == "SAME" else (w - fw) // sw + 1
    ph = max(((oh - 1) * sh + fh - h) // 2, 0) if padding == "SAME" else 0
    pw = max(((ow - 1) * sw + fw - w) // 2, 0) if padding == "SAME" else 0
    out = np.empty((n, oh, ow, c), np.int8)
    for b, oy, ox, ch in np.ndindex(out.shape):
        taps = [int(x[b, oy * sh - ph + i, ox * sw - pw + j, ch])
                for i in range(fh) for j in range(fw)
                if 0 <= oy * sh - ph + i < h and 0 <= ox * sw - pw + j < w]
        if average:
            total, count = sum(taps), len(taps)
            out[b, oy, ox, ch] = int(math.trunc((total + count // 2) / count)) if total > 0 \
                else int(math.trunc((total - count // 2) / count))
        else:
            out[b, oy, ox, ch] = max(taps)
    return out


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_pools_plain_arrays_clip_the_window_like_the_literal_loops(padding):
    x = np.random.default_rng(12).integers(-128, 128, (2, 7, 6, 3)).astype(np.int8)
    for fn, average in ((average_pool_2d, True), (max_pool_2d, False)):
        ours = fn(x, filter_h=3, filter_w=4, stride_h=2, stride_w=3, padding=padding)
        assert np.array_equal(ours, _slow_pool(x, 3, 4, 2, 3, padding, average))
    # rounding half away from zero: -3 / 2 -> -2, 3 / 2 -> 2
    halves = np.array([-1, -2, 1, 2], np.int8).reshape(1, 2, 2, 1)
    assert average_pool_2d(halves, filter_h=1, filter_w=2, stride_w=2).ravel().tolist() == [-2, 2]


def test_mean_plain_arrays_fold_the_count_into_the_multiplier():
    x = np.random.default_rng(13).integers(-128, 128, (2, 3, 4, 5)).astype(np.int8)
    ours = mean(x, (-1, 1, 3), keep_dims=True, input_scale=0.05, input_zero_point=6,
                output_scale=0.02, output_zero_point=-10)
    m, s = quantize_multiplier(float(np.float32(0.05)) / float(np.float32(0.02)))
    n = 3 * 5
    k = min(n.bit_length() - 1, 32, 31 + s)
    m, s = (m << k) // n, s - k
    sums = x.astype(np.int64).sum(axis=(1, 3), keepdims=True)
    expected = np.vectorize(lambda v: min(127, max(-128, _mbqm(int(v) - 6 * n, m, s) - 10)))(sums)
    assert ours.shape == (2, 1, 4, 1) and np.array_equal(ours, expected)


def test_shape_ops_plain_arrays_match_numpy():
    x = np.random.default_rng(14).integers(-128, 128, (1, 3, 1, 4, 2)).astype(np.int8)
    assert np.array_equal(pad(x, [[0, 1], [2, 0], [0, 0], [1, 1], [0, 3]], -7),
                          np.pad(x, ((0, 1), (2, 0), (0, 0), (1, 1), (0, 3)),
                                 constant_values=-7))
    assert np.array_equal(transpose(x, (4, 0, 3, 1, 2)), np.transpose(x, (4, 0, 3, 1, 2)))
    assert np.array_equal(concatenation([x, x[:, :2]], -4), np.concatenate([x, x[:, :2]], 1))
    assert np.array_equal(reshape(x, (-1, 8)), x.reshape(-1, 8))
    assert squeeze(x).shape == (3, 4, 2) and squeeze(x, (-3,)).shape == (1, 3, 4, 2)


def _slow_nearest(x, size, align, half):
    _, h, w, _ = x.shape

    def src(i, n_in, n_out):
        scale = np.float32(n_in - 1) / np.float32(n_out - 1) if align and n_out > 1 else \
            np.float32(n_in) / np.float32(n_out)
        v = (np.float32(i) + np.float32(0.5 if half else 0.0)) * scale
        v = int(math.floor(float(v) + 0.5)) if align else int(np.floor(v))
        v = min(v, n_in - 1)
        return max(v, 0) if half else v

    rows = [src(i, h, size[0]) for i in range(size[0])]
    cols = [src(j, w, size[1]) for j in range(size[1])]
    return x[:, rows][:, :, cols]


def _slow_bilinear(x, size, align, half):
    n, h, w, c = x.shape

    def cdiv(a, b):
        return int(math.trunc(a / b))

    def values(n_out, n_in):
        s = cdiv(1024 * n_in + n_out // 2, n_out)
        if align and n_out > 1:
            s = cdiv(1024 * (n_in - 1) + (n_out - 1) // 2, n_out - 1)
        out = []
        for i in range(n_out):
            v = i * s + cdiv(s, 2) - 512 if half else i * s
            out.append((v, max(cdiv(v, 1024), 0), min(cdiv(v + 1023, 1024), n_in - 1)))
        return out

    res = np.empty((n, size[0], size[1], c), np.int8)
    for y, (iy, y0, y1) in enumerate(values(size[0], h)):
        for xx, (ix, x0, x1) in enumerate(values(size[1], w)):
            dy, dx = iy - 1024 * y0, ix - 1024 * x0
            for b, ch in np.ndindex(n, c):
                v = (int(x[b, y0, x0, ch]) * (1024 - dy) * (1024 - dx)
                     + int(x[b, y1, x0, ch]) * dy * (1024 - dx)
                     + int(x[b, y0, x1, ch]) * (1024 - dy) * dx
                     + int(x[b, y1, x1, ch]) * dy * dx)
                res[b, y, xx, ch] = cdiv(v + (1 << 19 if v > 0 else -(1 << 19)), 1 << 20)
    return res


@pytest.mark.parametrize("align, half", [(False, False), (True, False), (False, True)])
def test_resize_plain_arrays_match_the_literal_loops(align, half):
    x = np.random.default_rng(15).integers(-128, 128, (2, 4, 5, 3)).astype(np.int8)
    for size in ((9, 11), (3, 2), (1, 1)):
        assert np.array_equal(resize_nearest_neighbor(x, size, align_corners=align,
                                                      half_pixel_centers=half),
                              _slow_nearest(x, size, align, half))
        assert np.array_equal(resize_bilinear(x, size, align_corners=align,
                                              half_pixel_centers=half),
                              _slow_bilinear(x, size, align, half))


def test_plain_functions_reject_bad_arrays():
    q = dict(input1_scale=0.1, input1_zero_point=0, input2_scale=0.1, input2_zero_point=0,
             output_scale=0.1, output_zero_point=0)
    with pytest.raises(ShapeError, match="do not broadcast"):
        add(np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8), **q)
    with pytest.raises(ShapeError, match="int8"):
        mul(np.zeros(3, np.int16), np.zeros(3, np.int8), **q)
    with pytest.raises(ShapeError, match="4-D int8"):
        average_pool_2d(np.zeros((3, 3), np.int8), filter_h=1, filter_w=1)
    with pytest.raises(ShapeError, match="does not fit"):
        max_pool_2d(np.zeros((1, 2, 2, 1), np.int8), filter_h=3, filter_w=1)
    with pytest.raises(ShapeError, match="remove more"):
        pad(np.zeros((2, 2), np.int8), [[0, 0], [-2, -1]], 0)
    with pytest.raises(UnsupportedError, match="half_pixel_centers"):
        resize_bilinear(np.zeros((1, 2, 2, 1), np.int8), (3, 3), align_corners=True,
                        half_pixel_centers=True)


def test_evaluate_refuses_an_output_it_could_not_write_in_place():
    graph = _one_op("ADD", [(4, 4), (4, 4)], (4, 4))
    params = _prepare(graph)
    strided = np.zeros((4, 8), np.int8)[:, ::2]
    with pytest.raises(ShapeError, match="C-contiguous"):
        kernels_ref.registry()["ADD"].evaluate(params, [np.ones((4, 4), np.int8)] * 2, [strided])
