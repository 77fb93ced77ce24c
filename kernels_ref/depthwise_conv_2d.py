"""DEPTHWISE_CONV_2D, int8: TFLM reference_integer_ops::DepthwiseConvPerChannel.

Prepare as TFLM's DepthwiseConvPrepare / CalculateOpDataDepthwiseConv (filter 1HWC,
quantized along axis 3; output channel = in_channel * depth_multiplier + m). Eval per
output element: sum of filter_val * (input_val + input_offset) over the window (points
outside the image omitted), + bias, MultiplyByQuantizedMultiplier, + output_offset, clamp.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._conv_common import (bias_or_zeros, check_positive, conv_quantization, input_tensors,
                           offset_padded_input, plain_channel_arrays, requantize, tensor_desc,
                           window_padding)
from .common import op_where

OPCODES = ("DEPTHWISE_CONV_2D",)


@dataclass(frozen=True, eq=False)
class DepthwiseConv2DParams:
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_h: int
    pad_w: int
    depth_multiplier: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    output_multiplier: np.ndarray  # int32 per output channel
    output_shift: np.ndarray       # int32 per output channel, > 0 = left shift
    zero_bias: np.ndarray          # int32 zeros, used when the bias input is omitted


def prepare(graph: Graph, op: Operator) -> DepthwiseConv2DParams:
    where = op_where(graph, op)
    inp, filt, bias, out = input_tensors(graph, op, where, 2)
    for role, t in (("input", inp), ("filter", filt), ("output", out)):
        if len(t.shape) != 4:
            raise ShapeError(f"{where}{role} {tensor_desc(t)} has shape {t.shape}; "
                             "DEPTHWISE_CONV_2D needs 4-D NHWC tensors (filter 1HWC)")
    o = op.options
    check_positive(where, o, ("stride_h", "stride_w", "dilation_h", "dilation_w",
                              "depth_multiplier"))
    batches, in_h, in_w, in_depth = inp.shape
    _, filter_h, filter_w, out_depth = filt.shape
    multiplier = o["depth_multiplier"]
    if filt.shape[0] != 1 or out_depth != in_depth * multiplier:
        raise ShapeError(
            f"{where}filter {tensor_desc(filt)} has shape {filt.shape}; with input depth "
            f"{in_depth} and depth_multiplier {multiplier} it needs 1x{filter_h}x{filter_w}x"
            f"{in_depth * multiplier}")
    if out.shape[0] != batches or out.shape[3] != out_depth:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} has shape {out.shape}; it needs batch "
            f"{batches} and {out_depth} channels")
    pad_h, pad_w = window_padding(where, o, in_h, in_w, filter_h, filter_w, out)
    q = conv_quantization(where, op, inp, filt, bias, out, 3, out_depth)
    return DepthwiseConv2DParams(
        stride_h=o["stride_h"], stride_w=o["stride_w"],
        dilation_h=o["dilation_h"], dilation_w=o["dilation_w"], pad_h=pad_h, pad_w=pad_w,
        depth_multiplier=multiplier, input_offset=q.input_offset,
        output_offset=q.output_offset, act_min=q.act_min, act_max=q.act_max,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        zero_bias=np.zeros(out_depth, np.int32))


def evaluate(params: DepthwiseConv2DParams, inputs, outputs) -> None:
    # prepare checked every shape and dtype against the graph
    bias = inputs[2] if len(inputs) > 2 else None
    _depthwise(params, inputs[0], inputs[1], bias_or_zeros(bias, params.zero_bias), outputs[0])


def depthwise_conv_2d(input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
                      output_multiplier: np.ndarray, output_shift: np.ndarray, *,
                      output_size: tuple[int, int], depth_multiplier: int = 1,
                      stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
                      padding: tuple[int, int] = (0, 0), input_offset: int,
                      output_offset: int, act_min: int = -128,
                      act_max: int = 127) -> np.ndarray:
    """DepthwiseConvPerChannel on plain arrays: input NHWC int8, filter 1HWC int8 with
    C = input depth x depth_multiplier, bias int32 or None, per-channel multiplier/shift
    (TFLM convention), padding = (top, left)."""
    input = np.ascontiguousarray(input)
    filter = np.ascontiguousarray(filter)
    if input.dtype != np.int8 or filter.dtype != np.int8 or input.ndim != 4 or \
            filter.ndim != 4 or input.size == 0 or filter.size == 0:
        raise ShapeError(f"depthwise_conv_2d needs a non-empty 4-D int8 input and filter, "
                         f"got {input.dtype}{input.shape} and {filter.dtype}{filter.shape}")
    out_depth = filter.shape[3]
    if depth_multiplier < 1 or filter.shape[0] != 1 or \
            out_depth != input.shape[3] * depth_multiplier:
        raise ShapeError(f"depthwise_conv_2d: filter {filter.shape} must be 1xHxWx"
                         f"{input.shape[3]}*depth_multiplier ({depth_multiplier})")
    mult, shift, bias = plain_channel_arrays("depthwise_conv_2d", out_depth, bias,
                                             output_multiplier, output_shift, stride,
                                             dilation, padding, output_size)
    params = DepthwiseConv2DParams(stride[0], stride[1], dilation[0], dilation[1], padding[0],
                                   padding[1], depth_multiplier, int(input_offset),
                                   int(output_offset), int(act_min), int(act_max), mult,
                                   shift, bias)
    out = np.empty((input.shape[0], output_size[0], output_size[1], out_depth), np.int8)
    _depthwise(params, input, filter, bias, out)
    return out


def _depthwise(p: DepthwiseConv2DParams, x, filt, bias, out) -> None:
    _, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = out.shape
    _, filter_h, filter_w, _ = filt.shape
    # rows/columns the window reaches, past the input when SAME pads the far side
    padded_h = max(p.pad_h + in_h, (out_h - 1) * p.stride_h + (filter_h - 1) * p.dilation_h + 1)
    padded_w = max(p.pad_w + in_w, (out_w - 1) * p.stride_w + (filter_w - 1) * p.dilation_w + 1)
    xo = offset_padded_input(x, p.input_offset, p.pad_h, p.pad_w, padded_h, padded_w)
    _depthwise_engine(xo, filt, bias, p.output_multiplier, p.output_shift, p.stride_h,
                      p.stride_w, p.dilation_h, p.dilation_w, p.depth_multiplier,
                      p.output_offset, p.act_min, p.act_max, out)


@njit(cache=True)
def _depthwise_engine(xo, filter_data, bias_data, output_multiplier, output_shift,
                      stride_height, stride_width, dilation_height_factor,
                      dilation_width_factor, depth_multiplier, output_offset,
                      output_activation_min, output_activation_max, output_data):
    # xo holds input_val + input_offset on a 0 border already shifted by the padding.
    # TFLM's channel loops sit inside the window loops here so the innermost loop runs over
    # contiguous NHWC channels; each channel's sum has the same terms (int32 addition
    # wraps, so order does not matter).
    batches, output_height, output_width, output_depth = output_data.shape
    _, filter_height, filter_width, _ = filter_data.shape
    acc = np.empty(output_depth, np.int32)
    for batch in range(batches):
        for out_y in range(output_height):
            in_y_origin = out_y * stride_height
            for out_x in range(output_width):
                in_x_origin = out_x * stride_width
                acc[:] = 0
                for filter_y in range(filter_height):
                    in_y = in_y_origin + dilation_height_factor * filter_y
                    for filter_x in range(filter_width):
                        in_x = in_x_origin + dilation_width_factor * filter_x
                        if depth_multiplier == 1:
                            # a separate loop without the division, so it vectorizes
                            for channel in range(output_depth):
                                acc[channel] = np.int32(
                                    acc[channel]
                                    + np.int32(filter_data[0, filter_y, filter_x, channel])
                                    * np.int32(xo[batch, in_y, in_x, channel]))
                        else:
                            for output_channel in range(output_depth):
                                in_channel = output_channel // depth_multiplier
                                acc[output_channel] = np.int32(
                                    acc[output_channel]
                                    + np.int32(filter_data[0, filter_y, filter_x,
                                                           output_channel])
                                    * np.int32(xo[batch, in_y, in_x, in_channel]))
                for output_channel in range(output_depth):
                    total = np.int32(acc[output_channel] + bias_data[output_channel])
                    output_data[batch, out_y, out_x, output_channel] = requantize(
                        total, output_multiplier[output_channel], output_shift[output_channel],
                        output_offset, output_activation_min, output_activation_max)
