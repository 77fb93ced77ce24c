"""Prepare shared by AVERAGE_POOL_2D and MAX_POOL_2D (TFLM PoolingPrepare).

TFLM requires int8 pooling to keep its input's quantization (scales within 1e-6, equal
zero points), computes the padding with ComputePaddingHeightWidth (dilation 1) from the
output size ComputeOutSize gives, and clamps to the fused activation's range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import unary_tensors
from ._conv_common import check_positive, require_int8_activation, tensor_desc
from .common import activation_range_quantized, compute_out_size, compute_padding, op_where


@dataclass(frozen=True)
class PoolParams:
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    pad_h: int
    pad_w: int
    act_min: int
    act_max: int


def pool_params(in_shape, padding: str, stride_h: int, stride_w: int, filter_h: int,
                filter_w: int, act_min: int, act_max: int) -> tuple[PoolParams, tuple]:
    """Padding and the NHWC output shape for a pool over ``in_shape``."""
    n, h, w, c = in_shape
    out_h = compute_out_size(padding, h, filter_h, stride_h)
    out_w = compute_out_size(padding, w, filter_w, stride_w)
    params = PoolParams(stride_h, stride_w, filter_h, filter_w,
                        compute_padding(stride_h, 1, h, filter_h, out_h),
                        compute_padding(stride_w, 1, w, filter_w, out_w), act_min, act_max)
    return params, (n, out_h, out_w, c)


def pool_on_array(name: str, input: np.ndarray, filter_h: int, filter_w: int, stride_h: int,
                  stride_w: int, padding: str, act_min: int, act_max: int,
                  evaluate) -> np.ndarray:
    """The public pool function on a plain int8 NHWC array; ``evaluate`` is the op's."""
    input = np.ascontiguousarray(input)
    if input.dtype != np.int8 or input.ndim != 4:
        raise ShapeError(f"{name} needs a 4-D int8 NHWC array, got {input.dtype}{input.shape}")
    if min(filter_h, filter_w, stride_h, stride_w) < 1 or padding not in ("SAME", "VALID"):
        raise ShapeError(f"{name}: filter sizes and strides must be >= 1, padding "
                         "SAME or VALID")
    params, shape = pool_params(input.shape, padding, stride_h, stride_w, filter_h, filter_w,
                                act_min, act_max)
    if min(shape) < 1:
        raise ShapeError(f"{name}: a {filter_h}x{filter_w} window does not fit "
                         f"{input.shape} with VALID padding")
    out = np.empty(shape, np.int8)
    evaluate(params, [input], [out])
    return out


def prepare_pool(graph: Graph, op: Operator) -> PoolParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where, same_shape=False)
    in_scale, in_zp = require_int8_activation(where, inp, "input")
    out_scale, out_zp = require_int8_activation(where, out, "output")
    if abs(in_scale - out_scale) > 1.0e-6 or in_zp != out_zp:
        raise UnsupportedError(
            f"{where}input {tensor_desc(inp)} (scale {in_scale:g}, zero point {in_zp}) and "
            f"output {tensor_desc(out)} (scale {out_scale:g}, zero point {out_zp}) differ; TFLM "
            "pools int8 only within one quantization — give the output the input's scale "
            "and zero point")
    if len(inp.shape) != 4 or len(out.shape) != 4:
        raise ShapeError(f"{where}input {inp.shape} and output {out.shape} must be 4-D NHWC")
    check_positive(where, op.options, ("stride_h", "stride_w", "filter_h", "filter_w"))
    padding = op.options.get("padding")
    if padding not in ("SAME", "VALID"):
        raise UnsupportedError(f"{where}padding {padding!r} is not SAME or VALID")
    act_min, act_max = activation_range_quantized(op.fused_activation, out_scale, out_zp,
                                                  where=where)
    params, expected = pool_params(inp.shape, padding, op.options["stride_h"],
                                   op.options["stride_w"], op.options["filter_h"],
                                   op.options["filter_w"], act_min, act_max)
    if tuple(out.shape) != expected:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} has shape {out.shape}; a "
            f"{params.filter_h}x{params.filter_w} {padding} pool with strides "
            f"{params.stride_h}x{params.stride_w} over {inp.shape} gives {expected}; the model "
            "is malformed")
    return params
