"""Prepare checks and Eval helpers shared by CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

TFLM computes every accumulator term as ``filter_val * (input_val + input_offset)`` and
skips window points outside the image. The engines here compute ``input_val +
input_offset`` once per input element into an int16 buffer whose border is 0, so a
skipped point and a padded point contribute the same 0 and the inner loops need no
bounds test; int16 x int8 products in an int32 accumulator vectorize well.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Tensor
from .common import activation_range_quantized, compute_out_size, compute_padding, tensor_desc
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier_array


def require_int8_activation(where: str, t: Tensor, role: str) -> tuple[float, int]:
    """Per-tensor int8 quantization of an input/output activation: (scale, zero_point)."""
    if t.dtype != "int8":
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} is {t.dtype}; tinysim's reference runs int8 "
            "activations only — convert the model with full int8 quantization")
    q = t.quantization
    if q is None or q.scale.size == 0:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} has no quantization parameters; int8 tensors "
            "need a scale and zero point — re-export with full int8 quantization")
    if q.per_channel:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} is quantized per channel; activations must be "
            "quantized per tensor")
    zp = int(q.zero_point[0])
    if not -128 <= zp <= 127:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} has zero point {zp} outside int8's range; the "
            "model is malformed — re-export it")
    return float(q.scale[0]), zp


def require_int8_filter(where: str, t: Tensor, channel_axis: int, num_channels: int):
    """Symmetric int8 weights, per tensor or per channel along ``channel_axis``: scales."""
    if t.dtype != "int8":
        raise UnsupportedError(
            f"{where}filter {tensor_desc(t)} is {t.dtype}; tinysim supports int8 weights "
            "(hybrid, float and int4 weights are not supported) — re-export with int8 weights")
    q = t.quantization
    if q is None or q.scale.size == 0:
        raise UnsupportedError(
            f"{where}filter {tensor_desc(t)} has no quantization parameters; re-export with "
            "full int8 quantization")
    if q.per_channel and (q.scale.size != num_channels or q.axis != channel_axis):
        raise UnsupportedError(
            f"{where}filter {tensor_desc(t)} has {q.scale.size} scales along axis {q.axis}; "
            f"TFLM needs 1 scale or {num_channels} along axis {channel_axis}")
    if np.any(q.zero_point != 0):
        raise UnsupportedError(
            f"{where}filter {tensor_desc(t)} has non-zero zero points "
            f"{np.unique(q.zero_point)[:4].tolist()}; TFLite int8 weights are symmetric "
            "(zero point 0) — re-export the model with symmetric weight quantization")
    return q.scale


def require_bias(where: str, t: Tensor | None, num_channels: int) -> None:
    if t is None:
        return
    if t.dtype != "int32":
        raise UnsupportedError(
            f"{where}bias {tensor_desc(t)} is {t.dtype}; int8 ops take int32 biases")
    if t.size != num_channels:
        raise ShapeError(
            f"{where}bias {tensor_desc(t)} has {t.size} elements for {num_channels} output "
            "channels; the model is malformed")


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                            num_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM PopulateConvolutionQuantizationParams: one (multiplier, shift) per channel.

    The effective scale is formed in double from the float32 scales; a per-tensor filter
    repeats its one scale over every channel, as TFLM does.
    """
    scales = np.broadcast_to(np.asarray(filter_scales, np.float32), (num_channels,))
    effective = [float(input_scale) * float(s) / float(output_scale) for s in scales]
    return quantize_multiplier_array(effective)


def check_positive(where: str, options, names: tuple[str, ...]) -> None:
    for name in names:
        value = options.get(name)
        if not isinstance(value, int) or value < 1:
            raise UnsupportedError(
                f"{where}option {name}={value!r} is invalid; strides and dilations must be "
                "positive integers — the model is malformed")


def input_tensors(graph: Graph, op: Operator, where: str, required: int):
    ins = graph.op_inputs(op)
    if len(ins) < required or any(t is None for t in ins[:required]) or len(op.outputs) != 1:
        raise ShapeError(
            f"{where}needs {required} inputs (+ optional bias) and 1 output, has inputs "
            f"{op.inputs} and outputs {op.outputs}; the model is malformed")
    bias = ins[2] if len(ins) > 2 else None
    out = graph.tensor(op.outputs[0])
    for role, t in (("input", ins[0]), ("filter", ins[1]), ("output", out)):
        if 0 in t.shape:
            raise ShapeError(f"{where}{role} {tensor_desc(t)} has an empty dimension "
                             f"{t.shape}; the model is malformed")
    return ins[0], ins[1], bias, out


def window_padding(where: str, options, in_h: int, in_w: int, filter_h: int, filter_w: int,
                   out: Tensor) -> tuple[int, int]:
    """CONV_2D/DEPTHWISE_CONV_2D: check the output's height and width against TFLM's
    ComputeOutSize, then (pad_h, pad_w) from ComputePaddingHeightWidth."""
    o = options
    out_h = compute_out_size(o["padding"], in_h, filter_h, o["stride_h"], o["dilation_h"])
    out_w = compute_out_size(o["padding"], in_w, filter_w, o["stride_w"], o["dilation_w"])
    if (out_h, out_w) != out.shape[1:3]:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} is {out.shape[1]}x{out.shape[2]} but a "
            f"{filter_h}x{filter_w} {o['padding']} window with stride {o['stride_h']}x"
            f"{o['stride_w']} and dilation {o['dilation_h']}x{o['dilation_w']} over "
            f"{in_h}x{in_w} gives {out_h}x{out_w}; the model is malformed")
    return (compute_padding(o["stride_h"], o["dilation_h"], in_h, filter_h, out_h),
            compute_padding(o["stride_w"], o["dilation_w"], in_w, filter_w, out_w))


@dataclass(frozen=True, eq=False)
class ConvQuantization:
    """TFLM's per-channel conv quantization (CalculateOpDataConv/DepthwiseConv)."""
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    output_multiplier: np.ndarray  # int32 per output channel
    output_shift: np.ndarray       # int32 per output channel, > 0 = left shift


def conv_quantization(where: str, op: Operator, inp: Tensor, filt: Tensor,
                      bias: Tensor | None, out: Tensor, filter_axis: int,
                      out_depth: int) -> ConvQuantization:
    """Checks the int8 tensors and int32 bias, then the offsets, per-channel multipliers
    and clamp range CONV_2D and DEPTHWISE_CONV_2D compute alike."""
    in_scale, in_zp = require_int8_activation(where, inp, "input")
    out_scale, out_zp = require_int8_activation(where, out, "output")
    filter_scales = require_int8_filter(where, filt, filter_axis, out_depth)
    require_bias(where, bias, out_depth)
    mult, shift = per_channel_multipliers(in_scale, filter_scales, out_scale, out_depth)
    act_min, act_max = activation_range_quantized(op.fused_activation, out_scale, out_zp,
                                                  where=where)
    return ConvQuantization(-in_zp, out_zp, act_min, act_max, mult, shift)


def plain_channel_arrays(name: str, out_depth: int, bias, output_multiplier, output_shift,
                         stride, dilation, padding, output_size):
    """The public conv_2d/depthwise_conv_2d's per-channel arrays as int32 (zeros for an
    omitted bias), checked with the window geometry: (multiplier, shift, bias)."""
    mult = np.ascontiguousarray(output_multiplier, np.int32).reshape(-1)
    shift = np.ascontiguousarray(output_shift, np.int32).reshape(-1)
    bias = np.zeros(out_depth, np.int32) if bias is None else \
        np.ascontiguousarray(bias, np.int32).reshape(-1)
    if mult.size != out_depth or shift.size != out_depth or bias.size != out_depth:
        raise ShapeError(f"{name}: bias, multipliers and shifts need {out_depth} entries, "
                         f"got {bias.size}, {mult.size}, {shift.size}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_size) < 1:
        raise ShapeError(f"{name}: strides, dilations and output size must be positive and "
                         "padding non-negative")
    return mult, shift, bias


def bias_or_zeros(bias: np.ndarray | None, zeros: np.ndarray) -> np.ndarray:
    """An omitted bias adds nothing; adding 0 in int32 is the same as skipping the add."""
    return zeros if bias is None else bias.reshape(-1)


@njit(cache=True)
def offset_padded_input(x, input_offset, pad_top, pad_left, padded_h, padded_w):
    """(input_val + input_offset) as int16 on a zero border (NHWC)."""
    batches, height, width, depth = x.shape
    out = np.zeros((batches, padded_h, padded_w, depth), np.int16)
    for b in range(batches):
        for y in range(height):
            for x_ in range(width):
                for c in range(depth):
                    out[b, pad_top + y, pad_left + x_, c] = np.int16(x[b, y, x_, c] + input_offset)
    return out


@njit(cache=True, inline="always")
def requantize(acc, multiplier, shift, output_offset, act_min, act_max):
    """TFLM's epilogue: MultiplyByQuantizedMultiplier, + output_offset, clamp (this order)."""
    acc = multiply_by_quantized_multiplier(acc, multiplier, shift)
    acc = np.int32(acc + output_offset)
    acc = max(acc, np.int32(act_min))
    acc = min(acc, np.int32(act_max))
    return np.int8(acc)
