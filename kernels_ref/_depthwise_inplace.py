"""In-place DEPTHWISE_CONV_2D (TinyEngine's memory scheme) with TFLM's integer arithmetic.

The output is written over the input's bytes. Channel by channel, the input channel is
copied to a one-channel scratch plane; then output element (p, c) is written at input
byte (p, c) (NHWC, same base, p < output H*W <= input H*W). Only channel c's bytes are
overwritten, and they were copied out first, so the channels still to come are intact.
Each output value is TFLM's reference_integer_ops::DepthwiseConvPerChannel for
depth_multiplier 1: sum of filter_val * (input_val + input_offset) over the window,
points outside the input skipped (the same as padding with the input zero point),
+ bias, MultiplyByQuantizedMultiplier, + output_offset, clamp.

Not an op module (private): the arena executor runs it for steps planned with the
'depthwise_channel' in-place scheme.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from ._conv_common import requantize
from .depthwise_conv_2d import DepthwiseConv2DParams


@njit(cache=True)
def depthwise_channel(plane, in_h, in_w, filter_data, channel, bias_data, multiplier, shift,
                      stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, input_offset,
                      output_offset, act_min, act_max, out, out_base, out_step, out_h, out_w):
    """One output channel from its input channel ``plane`` (in_h*in_w int8, row-major);
    output (y, x) goes to out[out_base + (y * out_w + x) * out_step]."""
    filter_h = filter_data.shape[1]
    filter_w = filter_data.shape[2]
    for out_y in range(out_h):
        in_y_origin = out_y * stride_h - pad_h
        for out_x in range(out_w):
            in_x_origin = out_x * stride_w - pad_w
            acc = np.int32(0)
            for filter_y in range(filter_h):
                in_y = in_y_origin + dilation_h * filter_y
                for filter_x in range(filter_w):
                    in_x = in_x_origin + dilation_w * filter_x
                    if 0 <= in_x < in_w and 0 <= in_y < in_h:
                        acc = np.int32(acc + np.int32(filter_data[0, filter_y, filter_x, channel])
                                       * (np.int32(plane[in_y * in_w + in_x]) + input_offset))
            acc = np.int32(acc + bias_data[channel])
            out[out_base + (out_y * out_w + out_x) * out_step] = requantize(
                acc, multiplier[channel], shift[channel], output_offset, act_min, act_max)


@njit(cache=True)
def _inplace_engine(io, scratch, in_h, in_w, channels, filter_data, bias_data, multiplier,
                    shift, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w,
                    input_offset, output_offset, act_min, act_max, out_h, out_w):
    plane = in_h * in_w
    for c in range(channels):
        for p in range(plane):
            scratch[p] = io[p * channels + c]
        depthwise_channel(scratch, in_h, in_w, filter_data, c, bias_data, multiplier, shift,
                          stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w,
                          input_offset, output_offset, act_min, act_max, io, c, channels,
                          out_h, out_w)


def depthwise_conv_2d_inplace(params: DepthwiseConv2DParams, io: np.ndarray,
                              scratch: np.ndarray, in_shape: tuple[int, ...],
                              filter: np.ndarray, bias: np.ndarray | None,
                              out_shape: tuple[int, ...], pad: tuple[int, int]) -> None:
    """Overwrite ``io`` (1-D int8 holding the NHWC input, batch 1) with the output.

    ``pad`` is the (top, left) padding to apply, which may exceed the op's own when a
    PAD was folded into it; ``scratch`` holds at least one input channel plane.
    """
    _, in_h, in_w, channels = in_shape
    _, out_h, out_w, out_c = out_shape
    if io.dtype != np.int8 or io.ndim != 1 or io.size < in_h * in_w * channels:
        raise ShapeError(f"depthwise_conv_2d_inplace: io must be a 1-D int8 array of at least "
                         f"{in_h * in_w * channels} bytes, got {io.dtype}{io.shape}")
    if scratch.dtype != np.int8 or scratch.ndim != 1 or scratch.size < in_h * in_w:
        raise ShapeError(f"depthwise_conv_2d_inplace: scratch must hold one {in_h}x{in_w} "
                         f"channel plane, got {scratch.dtype}{scratch.shape}")
    if params.depth_multiplier != 1 or out_c != channels or in_shape[0] != 1 or \
            out_h * out_w > in_h * in_w:
        raise ShapeError(f"depthwise_conv_2d_inplace: needs batch 1, depth_multiplier 1 and "
                         f"an output no larger than the input; got {in_shape} -> {out_shape}")
    bias = params.zero_bias if bias is None else np.ascontiguousarray(bias, np.int32)
    _inplace_engine(io, scratch, in_h, in_w, channels, np.ascontiguousarray(filter), bias,
                    params.output_multiplier, params.output_shift, params.stride_h,
                    params.stride_w, params.dilation_h, params.dilation_w, pad[0], pad[1],
                    params.input_offset, params.output_offset, params.act_min, params.act_max,
                    out_h, out_w)
