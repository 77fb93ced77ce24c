"""CONV_2D, int8: TFLM reference_integer_ops::ConvPerChannel (grouped convolution included).

Prepare follows TFLM's ConvPrepare / CalculateOpDataConv: SAME/VALID padding from
ComputePaddingHeightWidth, one multiplier and shift per output channel from
PopulateConvolutionQuantizationParams (a per-tensor filter repeats its scale), input_offset
= -input zero point, output_offset = output zero point, clamp range from the fused
activation. Eval per output element: sum of filter_val * (input_val + input_offset) over the
window (points outside the image omitted), + bias, MultiplyByQuantizedMultiplier,
+ output_offset, clamp.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._conv_common import (bias_or_zeros, check_positive, conv_quantization, input_tensors,
                           plain_channel_arrays, requantize, tensor_desc, window_padding)
from .common import op_where

OPCODES = ("CONV_2D",)


@dataclass(frozen=True, eq=False)
class Conv2DParams:
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_h: int
    pad_w: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    output_multiplier: np.ndarray  # int32 per output channel
    output_shift: np.ndarray       # int32 per output channel, > 0 = left shift
    zero_bias: np.ndarray          # int32 zeros, used when the bias input is omitted
    filter_t: np.ndarray | None    # constant filter in window-major order (None: at run time)


def prepare(graph: Graph, op: Operator) -> Conv2DParams:
    where = op_where(graph, op)
    inp, filt, bias, out = input_tensors(graph, op, where, 2)
    for role, t in (("input", inp), ("filter", filt), ("output", out)):
        if len(t.shape) != 4:
            raise ShapeError(f"{where}{role} {tensor_desc(t)} has shape {t.shape}; CONV_2D "
                             "needs 4-D NHWC tensors (filter OHWI)")
    o = op.options
    check_positive(where, o, ("stride_h", "stride_w", "dilation_h", "dilation_w"))
    batches, in_h, in_w, in_depth = inp.shape
    out_depth, filter_h, filter_w, filter_depth = filt.shape
    if out.shape[0] != batches or out.shape[3] != out_depth:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} has shape {out.shape}; with input {inp.shape} "
            f"and filter {filt.shape} it needs batch {batches} and {out_depth} channels")
    if filter_depth == 0 or in_depth % filter_depth != 0 or \
            out_depth % (in_depth // filter_depth) != 0:
        raise ShapeError(
            f"{where}filter {tensor_desc(filt)} has input depth {filter_depth}, which must "
            f"divide the input depth {in_depth} (groups) and the groups must divide the "
            f"{out_depth} output channels")
    pad_h, pad_w = window_padding(where, o, in_h, in_w, filter_h, filter_w, out)
    q = conv_quantization(where, op, inp, filt, bias, out, 0, out_depth)
    return Conv2DParams(
        stride_h=o["stride_h"], stride_w=o["stride_w"],
        dilation_h=o["dilation_h"], dilation_w=o["dilation_w"], pad_h=pad_h, pad_w=pad_w,
        input_offset=q.input_offset, output_offset=q.output_offset, act_min=q.act_min,
        act_max=q.act_max, output_multiplier=q.output_multiplier,
        output_shift=q.output_shift, zero_bias=np.zeros(out_depth, np.int32),
        filter_t=window_major(filt.data) if filt.is_constant else None)


def evaluate(params: Conv2DParams, inputs, outputs) -> None:
    # prepare checked every shape and dtype against the graph
    bias = inputs[2] if len(inputs) > 2 else None
    _conv(params, inputs[0], inputs[1], bias_or_zeros(bias, params.zero_bias), outputs[0])


def conv_2d(input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
            output_multiplier: np.ndarray, output_shift: np.ndarray, *,
            output_size: tuple[int, int], stride: tuple[int, int] = (1, 1),
            dilation: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
            input_offset: int, output_offset: int, act_min: int = -128,
            act_max: int = 127) -> np.ndarray:
    """ConvPerChannel on plain arrays: input NHWC int8, filter OHWI int8, bias int32 or None,
    per-output-channel multiplier/shift (TFLM convention), padding = (top, left)."""
    input = np.ascontiguousarray(input)
    filter = np.ascontiguousarray(filter)
    if input.dtype != np.int8 or filter.dtype != np.int8 or input.ndim != 4 or \
            filter.ndim != 4 or input.size == 0 or filter.size == 0:
        raise ShapeError(f"conv_2d needs a non-empty 4-D int8 input and filter, got "
                         f"{input.dtype}{input.shape} and {filter.dtype}{filter.shape}")
    out_depth, _, _, filter_depth = filter.shape
    if filter_depth == 0 or input.shape[3] % filter_depth or \
            out_depth % (input.shape[3] // filter_depth):
        raise ShapeError(f"conv_2d: filter depth {filter_depth} must divide the input depth "
                         f"{input.shape[3]} into groups that divide {out_depth} outputs")
    mult, shift, bias = plain_channel_arrays("conv_2d", out_depth, bias, output_multiplier,
                                             output_shift, stride, dilation, padding,
                                             output_size)
    params = Conv2DParams(stride[0], stride[1], dilation[0], dilation[1], padding[0],
                          padding[1], int(input_offset), int(output_offset), int(act_min),
                          int(act_max), mult, shift, bias, None)
    out = np.empty((input.shape[0], output_size[0], output_size[1], out_depth), np.int8)
    _conv(params, input, filter, bias, out)
    return out


def window_major(filter_data: np.ndarray) -> np.ndarray:
    """OHWI filter -> [(filter_y, filter_x, in_channel)][out_channel], contiguous."""
    return np.ascontiguousarray(filter_data.reshape(filter_data.shape[0], -1).T)


def _conv(p: Conv2DParams, x, filt, bias, out) -> None:
    filter_t = p.filter_t if p.filter_t is not None else window_major(filt)
    _conv_engine(x, filter_t, bias, p.output_multiplier, p.output_shift, filt.shape[1],
                 filt.shape[2], p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.pad_h,
                 p.pad_w, p.input_offset, p.output_offset, p.act_min, p.act_max, out)


@njit(cache=True)
def _conv_engine(input_data, filter_t, bias_data, output_multiplier, output_shift,
                 filter_height, filter_width, stride_height, stride_width,
                 dilation_height_factor, dilation_width_factor, pad_height, pad_width,
                 input_offset, output_offset, output_activation_min, output_activation_max,
                 output_data):
    # Per output pixel: gather the window's (input_val + input_offset) into `patch`, 0 for
    # points outside the image (TFLM omits them: same sum); then accumulate all output
    # channels at once, innermost over contiguous channels of the window-major filter
    # (filter_t[k, out_channel] = filter[out_channel, filter_y, filter_x, in_channel]).
    batches, output_height, output_width, output_depth = output_data.shape
    _, input_height, input_width, input_depth = input_data.shape
    window = filter_t.shape[0]
    filter_input_depth = window // (filter_height * filter_width)
    groups = input_depth // filter_input_depth
    filters_per_group = output_depth // groups
    patch = np.empty((groups, window), np.int16)
    acc = np.empty(output_depth, np.int32)
    for batch in range(batches):
        for out_y in range(output_height):
            in_y_origin = (out_y * stride_height) - pad_height
            for out_x in range(output_width):
                in_x_origin = (out_x * stride_width) - pad_width
                for filter_y in range(filter_height):
                    in_y = in_y_origin + dilation_height_factor * filter_y
                    for filter_x in range(filter_width):
                        in_x = in_x_origin + dilation_width_factor * filter_x
                        is_point_inside_image = (in_x >= 0) and (in_x < input_width) and \
                            (in_y >= 0) and (in_y < input_height)
                        k0 = (filter_y * filter_width + filter_x) * filter_input_depth
                        for group in range(groups):
                            for in_channel in range(filter_input_depth):
                                if is_point_inside_image:
                                    patch[group, k0 + in_channel] = input_data[
                                        batch, in_y, in_x,
                                        in_channel + group * filter_input_depth] + input_offset
                                else:
                                    patch[group, k0 + in_channel] = 0
                for out_channel in range(output_depth):
                    acc[out_channel] = 0
                for group in range(groups):
                    first = group * filters_per_group
                    for k in range(window):
                        input_val = np.int32(patch[group, k])
                        for j in range(filters_per_group):
                            # int32 wraps like TFLM's int32_t accumulator
                            acc[first + j] = np.int32(
                                acc[first + j] + np.int32(filter_t[k, first + j]) * input_val)
                for out_channel in range(output_depth):
                    total = np.int32(acc[out_channel] + bias_data[out_channel])
                    output_data[batch, out_y, out_x, out_channel] = requantize(
                        total, output_multiplier[out_channel], output_shift[out_channel],
                        output_offset, output_activation_min, output_activation_max)
