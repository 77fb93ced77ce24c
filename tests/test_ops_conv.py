"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED bit-exact with TFLM on every shared model.

Each op is fed TFLM's own input tensors (from the oracle run with every tensor preserved),
so one op's bug cannot hide behind another's. Inputs: seeded random, all-minimum,
all-maximum, random again (float-input models get floats in their QUANTIZE's range).
Also: the clear errors Prepare gives for models the reference cannot run, and the public
plain-array functions against a slow literal transcription of TFLM's loops.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import kernels_ref
from _per_op import check_ops_on_tflm_inputs
from conftest import MODEL_NAMES, shared_model
from kernels_ref.conv_2d import conv_2d
from kernels_ref.depthwise_conv_2d import depthwise_conv_2d
from kernels_ref.fully_connected import fully_connected, per_tensor_multiplier
from kernels_ref.quantization import multiply_by_quantized_multiplier, quantize_multiplier
from tinysim import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Quantization, Tensor, frozen_options
from tinysim.loader import load_model
from tinysim.verify import make_inputs

OURS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_ops_bit_exact_with_tflm_on_tflm_inputs(name):
    path = shared_model(name)
    graph = load_model(path)
    ops = [op for op in graph.operators if op.opcode in OURS]
    assert ops, f"{name} has no CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED"
    input_sets = make_inputs(graph, count=4, seed=7)
    lowest, highest = input_sets[1][0], input_sets[2][0]  # all-minimum, all-maximum
    assert np.all(lowest == lowest.flat[0]) and np.all(highest == highest.flat[0])
    assert lowest.flat[0] < highest.flat[0]
    assert check_ops_on_tflm_inputs(path, graph, ops, input_sets) == 4 * len(ops)


# --- Prepare errors, on hand-built one-op graphs -------------------------------------------

def _q(scale, zp=0, axis=0):
    scale = np.atleast_1d(np.asarray(scale, np.float32))
    zp = np.broadcast_to(np.atleast_1d(np.asarray(zp, np.int64)), scale.shape).copy()
    return Quantization(scale, zp, axis)


def _conv_graph(opcode="CONV_2D", in_shape=(1, 5, 5, 4), filter_shape=(6, 3, 3, 4),
                out_shape=(1, 5, 5, 6), options=None, in_dtype="int8", filter_zp=0,
                filter_scales=None, filter_axis=0, bias=True):
    rng = np.random.default_rng(0)
    channels = filter_shape[0] if opcode != "DEPTHWISE_CONV_2D" else filter_shape[3]
    scales = filter_scales if filter_scales is not None else np.full(channels, 0.02)
    tensors = [
        Tensor(0, "in", in_shape, in_dtype, _q(0.05, 3)),
        Tensor(1, "w", filter_shape, "int8", _q(scales, filter_zp, filter_axis),
               rng.integers(-127, 128, filter_shape).astype(np.int8)),
        Tensor(2, "b", (channels,), "int32", _q(0.001),
               rng.integers(-500, 500, channels).astype(np.int32)),
        Tensor(3, "out", out_shape, "int8", _q(0.1, -2)),
    ]
    opts = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
                fused_activation="NONE", depth_multiplier=1, keep_num_dims=False,
                weights_format=0)
    opts.update(options or {})
    op = Operator(0, opcode, (0, 1, 2 if bias else -1), (3,), frozen_options(opts))
    return Graph("toy.tflite", tuple(tensors), (op,), (0,), (3,))


def _prepare(graph):
    op = graph.operators[0]
    return kernels_ref.registry()[op.opcode].prepare(graph, op)


@pytest.mark.parametrize("graph, error, words", [
    (_conv_graph(filter_zp=1), UnsupportedError, "zero point 0"),
    (_conv_graph(in_dtype="float32"), UnsupportedError, "int8"),
    (_conv_graph(out_shape=(1, 4, 4, 6)), ShapeError, "gives 5x5"),
    (_conv_graph(filter_shape=(6, 3, 3, 3)), ShapeError, "divide"),
    (_conv_graph(filter_shape=(6, 0, 3, 4)), ShapeError, "empty dimension"),
    (_conv_graph(options=dict(stride_h=0)), UnsupportedError, "stride_h=0"),
    (_conv_graph(options=dict(fused_activation="TANH")), UnsupportedError, "TANH"),
    (_conv_graph(filter_scales=np.full(6, 0.02), filter_axis=3), UnsupportedError, "axis 0"),
    (_conv_graph("DEPTHWISE_CONV_2D", filter_shape=(1, 3, 3, 8), out_shape=(1, 5, 5, 8)),
     ShapeError, "depth_multiplier 1"),
    (_conv_graph("FULLY_CONNECTED", in_shape=(1, 7), filter_shape=(6, 8), out_shape=(1, 6)),
     ShapeError, "accum_depth 8"),
    (_conv_graph("FULLY_CONNECTED", in_shape=(2, 8), filter_shape=(6, 8), out_shape=(2, 5)),
     ShapeError, "6 units"),
    (_conv_graph("FULLY_CONNECTED", in_shape=(1, 8), filter_shape=(6, 8), out_shape=(1, 6),
                 options=dict(weights_format=1)), UnsupportedError, "weights_format"),
])
def test_prepare_errors_name_model_op_and_fix(graph, error, words):
    with pytest.raises(error) as info:
        _prepare(graph)
    msg = str(info.value)
    assert msg.startswith("toy.tflite: op 0 (")
    assert words in msg


def test_fc_bias_scale_far_from_product_is_rejected_like_tflm():
    g = _conv_graph("FULLY_CONNECTED", in_shape=(1, 8), filter_shape=(6, 8), out_shape=(1, 6),
                    filter_scales=np.array([0.02]))
    bad_bias = dataclasses.replace(g.tensors[2], quantization=_q(0.05))
    g = dataclasses.replace(g, tensors=g.tensors[:2] + (bad_bias,) + g.tensors[3:])
    with pytest.raises(UnsupportedError, match="bias tensor 2 .b. scale"):
        _prepare(g)


def test_fc_per_tensor_multiplier_multiplies_scales_in_float32():
    # TFLM's per-tensor FULLY_CONNECTED rounds input x filter scale to float32 before
    # dividing in double; for these scales that changes the quantized multiplier
    a, b, c = 0.06405920535326004, 0.027708884328603745, 0.005056378897279501
    wide = quantize_multiplier(a * b / c)
    narrow = quantize_multiplier(float(np.float32(a) * np.float32(b)) / c)
    assert wide != narrow
    assert per_tensor_multiplier(a, b, c) == narrow == (1507720476, -1)


# --- public plain-array functions vs a slow transcription of TFLM's loops --------------------

def _slow_requant(acc, mult, shift, out_off, lo, hi):
    v = int(multiply_by_quantized_multiplier(np.int32(acc), np.int32(mult), np.int32(shift)))
    return min(max(v + out_off, lo), hi)


def _slow_conv(x, w, bias, mult, shift, stride, dilation, pad, out_hw, in_off, out_off, lo, hi,
               depth_multiplier=None):
    n, h, wd, c = x.shape
    depthwise = depth_multiplier is not None
    out_c = w.shape[3] if depthwise else w.shape[0]
    out = np.zeros((n, out_hw[0], out_hw[1], out_c), np.int8)
    fh, fw = w.shape[1], w.shape[2]
    fd = 1 if depthwise else w.shape[3]
    per_group = out_c // (c // fd) if not depthwise else None
    for b in range(n):
        for oy in range(out_hw[0]):
            for ox in range(out_hw[1]):
                for oc in range(out_c):
                    acc = 0
                    for ky in range(fh):
                        for kx in range(fw):
                            iy = oy * stride[0] - pad[0] + dilation[0] * ky
                            ix = ox * stride[1] - pad[1] + dilation[1] * kx
                            if not (0 <= iy < h and 0 <= ix < wd):
                                continue
                            if depthwise:
                                acc += int(w[0, ky, kx, oc]) * (
                                    int(x[b, iy, ix, oc // depth_multiplier]) + in_off)
                            else:
                                g = oc // per_group
                                for ic in range(fd):
                                    acc += int(w[oc, ky, kx, ic]) * (
                                        int(x[b, iy, ix, g * fd + ic]) + in_off)
                    acc += int(bias[oc])
                    out[b, oy, ox, oc] = _slow_requant(acc, mult[oc], shift[oc], out_off, lo, hi)
    return out


def _rand_requant(rng, channels):
    return (rng.integers(1 << 30, (1 << 31) - 1, channels).astype(np.int32),
            rng.integers(-12, -6, channels).astype(np.int32))


def test_conv_2d_plain_arrays_grouped_dilated_strided_padded():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 7, 6, 6)).astype(np.int8)
    w = rng.integers(-127, 128, (4, 3, 2, 3)).astype(np.int8)  # 2 groups of 2 filters
    bias = rng.integers(-3000, 3000, 4).astype(np.int32)
    mult, shift = _rand_requant(rng, 4)
    kw = dict(stride=(2, 3), dilation=(2, 1), padding=(2, 1), input_offset=5,
              output_offset=-3, act_min=-100, act_max=90)
    ours = conv_2d(x, w, bias, mult, shift, output_size=(4, 2), **kw)
    slow = _slow_conv(x, w, bias, mult, shift, (2, 3), (2, 1), (2, 1), (4, 2), 5, -3, -100, 90)
    assert np.array_equal(ours, slow)
    assert ours.min() >= -100 and ours.max() <= 90


def test_depthwise_plain_arrays_with_depth_multiplier():
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (1, 6, 5, 3)).astype(np.int8)
    w = rng.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8)
    bias = rng.integers(-3000, 3000, 6).astype(np.int32)
    mult, shift = _rand_requant(rng, 6)
    ours = depthwise_conv_2d(x, w, bias, mult, shift, output_size=(3, 3), depth_multiplier=2,
                             stride=(2, 2), dilation=(1, 2), padding=(1, 1), input_offset=-7,
                             output_offset=4)
    slow = _slow_conv(x, w, bias, mult, shift, (2, 2), (1, 2), (1, 1), (3, 3), -7, 4, -128, 127,
                      depth_multiplier=2)
    assert np.array_equal(ours, slow)


def test_depthwise_without_bias_runs_like_the_kernel():
    # TFLM's depthwise Prepare crashes on an omitted bias (it frees the null tensor), so
    # TFLM cannot be the oracle here; the reference kernel itself treats it as bias 0
    graph = _conv_graph("DEPTHWISE_CONV_2D", in_shape=(1, 5, 4, 2), filter_shape=(1, 3, 3, 4),
                        out_shape=(1, 5, 4, 4), options=dict(depth_multiplier=2), bias=False,
                        filter_axis=3)
    op = graph.operators[0]
    module = kernels_ref.registry()["DEPTHWISE_CONV_2D"]
    params = module.prepare(graph, op)
    x = np.random.default_rng(6).integers(-128, 128, (1, 5, 4, 2)).astype(np.int8)
    ours = np.empty((1, 5, 4, 4), np.int8)
    module.evaluate(params, [x, graph.tensor(1).data, None], [ours])
    slow = _slow_conv(x, graph.tensor(1).data, np.zeros(4, np.int32), params.output_multiplier,
                      params.output_shift, (1, 1), (1, 1), (1, 1), (5, 4), -3, -2, -128, 127,
                      depth_multiplier=2)
    assert np.array_equal(ours, slow)


def test_fully_connected_plain_arrays_batches_and_no_bias():
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (3, 10)).astype(np.int8)
    w = rng.integers(-127, 128, (4, 10)).astype(np.int8)
    mult, shift = 1518500250, -7
    ours = fully_connected(x, w, None, mult, shift, input_offset=12, output_offset=-1)
    slow = np.array([[_slow_requant(sum(int(w[o, d]) * (int(x[b, d]) + 12) for d in range(10)),
                                    mult, shift, -1, -128, 127) for o in range(4)]
                     for b in range(3)], np.int8)
    assert np.array_equal(ours, slow)


def test_plain_array_functions_reject_bad_shapes():
    x = np.zeros((1, 4, 4, 6), np.int8)
    with pytest.raises(ShapeError, match="divide"):
        conv_2d(x, np.zeros((3, 1, 1, 4), np.int8), None, [1] * 3, [0] * 3, output_size=(4, 4),
                input_offset=0, output_offset=0)
    with pytest.raises(ShapeError, match="depth_multiplier"):
        depthwise_conv_2d(x, np.zeros((1, 3, 3, 7), np.int8), None, [1] * 7, [0] * 7,
                          output_size=(4, 4), input_offset=0, output_offset=0)
    with pytest.raises(ShapeError, match="accum_depth"):
        fully_connected(np.zeros((1, 7), np.int8), np.zeros((2, 4), np.int8), None, 1, 0,
                        input_offset=0, output_offset=0)
