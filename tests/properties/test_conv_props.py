"""Properties: one-op CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED models, bit-exact with TFLM.

Random shapes (odd sizes, 1-pixel images), strides 1-3, dilations 1-3, SAME/VALID,
grouped convolution, depth multipliers, per-channel and per-tensor filter scales, input and
output zero points over int8's range, every fused activation, omitted biases, FC batch rows
and keep_num_dims. The output scale is drawn around the accumulator's spread so outputs
are neither all saturated nor all zero, with a wide factor so both right and left shifts
of the requantization appear.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from _strategies import fused_activations, paddings, per_channel_scales, quant_params, rngs
from _tflm import assert_bit_exact_with_tflm
from kernels_ref.common import compute_out_size
from tinysim.modelgen import GraphBuilder, QuantizedArray, bias_int32


# one example costs ~3 ms, so these run more than the profile's default (never fewer)
MORE = settings(max_examples=max(150, settings.default.max_examples))


def _output_scale(in_scale: float, filter_scales: np.ndarray, fan_in: int,
                  factor_log2: float) -> float:
    # the accumulator's spread is about sqrt(fan_in) x 73 (weights) x 100 (offset inputs)
    # in units of in_scale x filter_scale; this puts it at ~64 output steps x 2^-factor
    spread = in_scale * float(np.median(filter_scales)) * 114.0 * math.sqrt(fan_in)
    return float(np.float32(spread * 2.0 ** factor_log2))


def _filter(rng, shape, scales: np.ndarray, axis: int) -> QuantizedArray:
    q = rng.integers(-127, 128, shape).astype(np.int8)
    return QuantizedArray(q, scales, np.zeros(scales.size, np.int64), axis)


def _input(rng, shape, kind: str) -> np.ndarray:
    if kind == "min":
        return np.full(shape, -128, np.int8)
    if kind == "max":
        return np.full(shape, 127, np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


@st.composite
def conv_cases(draw):
    batches = draw(st.integers(1, 2))
    in_h, in_w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    filter_h, filter_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride_h, stride_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilation_h, dilation_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(paddings())
    out_h = compute_out_size(padding, in_h, filter_h, stride_h, dilation_h)
    out_w = compute_out_size(padding, in_w, filter_w, stride_w, dilation_w)
    if out_h < 1 or out_w < 1:  # VALID window larger than the image: shrink it to fit
        filter_h, dilation_h = min(filter_h, in_h), 1
        filter_w, dilation_w = min(filter_w, in_w), 1
        out_h = compute_out_size(padding, in_h, filter_h, stride_h, dilation_h)
        out_w = compute_out_size(padding, in_w, filter_w, stride_w, dilation_w)
    groups = draw(st.sampled_from((1, 1, 2, 3)))
    filter_depth = draw(st.integers(1, 5))
    out_channels = groups * draw(st.integers(1, 4))
    return dict(batches=batches, in_hw=(in_h, in_w), in_depth=groups * filter_depth,
                filter_hw=(filter_h, filter_w), filter_depth=filter_depth,
                out_channels=out_channels, out_hw=(out_h, out_w),
                stride=(stride_h, stride_w), dilation=(dilation_h, dilation_w),
                padding=padding, per_channel=draw(st.booleans()), bias=draw(st.booleans()),
                activation=draw(fused_activations()), input_q=draw(quant_params()),
                out_zp=draw(st.integers(-128, 127)), factor_log2=draw(st.floats(-4, 3)),
                scales=draw(per_channel_scales(out_channels)),
                input_kind=draw(st.sampled_from(("random", "random", "min", "max"))),
                rng=draw(rngs()))


def _check_windowed(case, opcode: str, depth_multiplier: int = 1):
    rng = case["rng"]
    in_scale, in_zp = case["input_q"]
    channels = case["out_channels"]
    scales = case["scales"] if case["per_channel"] else case["scales"][:1]
    depthwise = opcode == "DEPTHWISE_CONV_2D"
    fh, fw = case["filter_hw"]
    if depthwise:
        filt = _filter(rng, (1, fh, fw, channels), scales, 3)
        fan_in = fh * fw
    else:
        filt = _filter(rng, (channels, fh, fw, case["filter_depth"]), scales, 0)
        fan_in = fh * fw * case["filter_depth"]
    out_scale = _output_scale(in_scale, scales, fan_in, case["factor_log2"])
    in_shape = (case["batches"], *case["in_hw"], case["in_depth"])
    gb = GraphBuilder(f"{opcode.lower()}_case")
    x = gb.input(in_shape, in_scale, in_zp)
    inputs = [x, gb.quantized_const(filt)]
    if case["bias"]:
        spread = 2.0 * float(np.median(scales)) * in_scale * 127 * 32
        bias = bias_int32(rng.normal(0.0, spread, channels), in_scale, scales)
        inputs.append(gb.quantized_const(bias))
    else:
        inputs.append(-1)
    options = dict(padding=case["padding"], stride_h=case["stride"][0],
                   stride_w=case["stride"][1], dilation_h=case["dilation"][0],
                   dilation_w=case["dilation"][1], fused_activation=case["activation"])
    if depthwise:
        options["depth_multiplier"] = depth_multiplier
    out = gb.op(opcode, inputs, (case["batches"], *case["out_hw"], channels), out_scale,
                case["out_zp"], **options)
    gb.output(out)
    graph = gb.build()
    values = assert_bit_exact_with_tflm(graph, [_input(rng, in_shape, case["input_kind"])])
    assert values[out].shape == (case["batches"], *case["out_hw"], channels)


@MORE
@given(conv_cases())
def test_conv_2d_bit_exact_with_tflm(case):
    _check_windowed(case, "CONV_2D")


@st.composite
def depthwise_cases(draw):
    case = draw(conv_cases())
    in_depth = draw(st.integers(1, 6))
    multiplier = draw(st.sampled_from((1, 1, 2, 3)))
    channels = in_depth * multiplier
    # TFLM's depthwise Prepare crashes (segfault) on an omitted bias: it deallocates the
    # null bias tensor. tinysim runs such ops; test_ops_conv checks them against the slow
    # reference instead.
    case.update(in_depth=in_depth, out_channels=channels, bias=True,
                scales=draw(per_channel_scales(channels)))
    return case, multiplier


@MORE
@given(depthwise_cases())
def test_depthwise_conv_2d_bit_exact_with_tflm(case_and_multiplier):
    case, multiplier = case_and_multiplier
    _check_windowed(case, "DEPTHWISE_CONV_2D", multiplier)


@st.composite
def fc_cases(draw):
    rows = draw(st.integers(1, 4))
    accum_depth = draw(st.integers(1, 40))
    units = draw(st.integers(1, 16))
    # keep_num_dims keeps a 3-D input's leading dims; per-channel FC in TFLM is 2-D only
    per_channel = draw(st.booleans())
    keep_num_dims = not per_channel and draw(st.booleans())
    return dict(rows=rows, accum_depth=accum_depth, units=units, per_channel=per_channel,
                keep_num_dims=keep_num_dims, bias=draw(st.booleans()),
                activation=draw(fused_activations()), input_q=draw(quant_params()),
                out_zp=draw(st.integers(-128, 127)), factor_log2=draw(st.floats(-4, 3)),
                scales=draw(per_channel_scales(units)),
                input_kind=draw(st.sampled_from(("random", "random", "min", "max"))),
                rng=draw(rngs()))


@MORE
@given(fc_cases())
def test_fully_connected_bit_exact_with_tflm(case):
    rng = case["rng"]
    in_scale, in_zp = case["input_q"]
    rows, depth, units = case["rows"], case["accum_depth"], case["units"]
    scales = case["scales"] if case["per_channel"] else case["scales"][:1]
    filt = _filter(rng, (units, depth), scales, 0)
    out_scale = _output_scale(in_scale, scales, depth, case["factor_log2"])
    if case["keep_num_dims"]:
        in_shape, out_shape = (1, rows, depth), (1, rows, units)
    else:
        in_shape, out_shape = (rows, depth), (rows, units)
    gb = GraphBuilder("fully_connected_case")
    x = gb.input(in_shape, in_scale, in_zp)
    inputs = [x, gb.quantized_const(filt)]
    if case["bias"]:
        spread = 2.0 * float(np.median(scales)) * in_scale * 127 * 8
        inputs.append(gb.quantized_const(
            bias_int32(rng.normal(0.0, spread, units), in_scale, scales)))
    else:
        inputs.append(-1)
    out = gb.op("FULLY_CONNECTED", inputs, out_shape, out_scale, case["out_zp"],
                fused_activation=case["activation"], keep_num_dims=case["keep_num_dims"])
    gb.output(out)
    graph = gb.build()
    values = assert_bit_exact_with_tflm(graph, [_input(rng, in_shape, case["input_kind"])])
    assert values[out].shape == out_shape
