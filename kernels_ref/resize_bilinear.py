"""RESIZE_BILINEAR, int8: TFLM reference_ops::ResizeBilinearInteger (no floating point).

Scales in 1/1024 units, rounded: scale_10 = (1024 * in + out / 2) / out, or with
align_corners (and out > 1) (1024 * (in - 1) + (out - 1) / 2) / (out - 1). Per output
row (and likewise column), ComputeInterpolationValuesInteger: input_y = y * scale_10
(+ scale_10 / 2 - 512 with half_pixel_centers), y0 = max(input_y / 1024, 0),
y1 = min((input_y + 1023) / 1024, in - 1), C truncating division throughout. Each output
is the int64 sum of the four neighbours times their (1024 - fraction) / fraction weights,
rounded by +-2^19 and divided by 2^20 (truncating), cast to int8 without clamping.
TFLM rejects align_corners together with half_pixel_centers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._resize_common import resize_tensors

OPCODES = ("RESIZE_BILINEAR",)


@dataclass(frozen=True, eq=False)
class ResizeBilinearParams:
    input_y: np.ndarray  # int64 per output row: position in 1/1024 input rows
    y0: np.ndarray
    y1: np.ndarray
    input_x: np.ndarray  # the same per output column
    x0: np.ndarray
    x1: np.ndarray


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def interpolation_values(output_size: int, input_size: int, align_corners: bool,
                         half_pixel_centers: bool, where: str = ""):
    """(scaled value, lower bound, upper bound) per output index, as TFLM computes them."""
    scale_10 = _c_div((1 << 10) * input_size + output_size // 2, output_size)
    if align_corners and output_size > 1:
        scale_10 = _c_div((1 << 10) * (input_size - 1) + (output_size - 1) // 2,
                          output_size - 1)
    scaled, lower, upper = [], [], []
    for value in range(output_size):
        if half_pixel_centers:
            s = value * scale_10 + _c_div(scale_10, 2) - (1 << 9)
        else:
            s = value * scale_10
        scaled.append(s)
        lower.append(max(_c_div(s, 1 << 10), 0))
        upper.append(min(_c_div(s + (1 << 10) - 1, 1 << 10), input_size - 1))
    if max(lower) > input_size - 1:
        raise UnsupportedError(
            f"{where}resizing {input_size} to {output_size} puts a lower neighbour at "
            f"{max(lower)}, past the input; TFLM would read outside it — use a smaller "
            "upscaling factor")
    return (np.array(scaled, np.int64), np.array(lower, np.int64), np.array(upper, np.int64))


def resize_params(input_shape, new_h: int, new_w: int, align_corners: bool,
                  half_pixel_centers: bool, where: str = "") -> ResizeBilinearParams:
    if align_corners and half_pixel_centers:
        raise UnsupportedError(f"{where}align_corners and half_pixel_centers are both set; "
                               "TFLM requires half_pixel_centers to come without align_corners")
    ys = interpolation_values(new_h, input_shape[1], align_corners, half_pixel_centers, where)
    xs = interpolation_values(new_w, input_shape[2], align_corners, half_pixel_centers, where)
    return ResizeBilinearParams(*ys, *xs)


def prepare(graph: Graph, op: Operator) -> ResizeBilinearParams:
    where, inp, out, new_h, new_w = resize_tensors(graph, op)
    return resize_params(inp.shape, new_h, new_w, bool(op.options.get("align_corners")),
                         bool(op.options.get("half_pixel_centers")), where)


def evaluate(params: ResizeBilinearParams, inputs, outputs) -> None:
    p = params
    _resize_bilinear_engine(inputs[0], p.input_y, p.y0, p.y1, p.input_x, p.x0, p.x1,
                            outputs[0])


def resize_bilinear(input: np.ndarray, size, *, align_corners: bool = False,
                    half_pixel_centers: bool = False) -> np.ndarray:
    """Integer bilinear resize of a plain int8 NHWC array to ``size`` = (height, width)."""
    input = np.ascontiguousarray(input)
    new_h, new_w = (int(v) for v in size)
    if input.dtype != np.int8 or input.ndim != 4 or new_h < 1 or new_w < 1:
        raise ShapeError(f"resize_bilinear needs a 4-D int8 NHWC array and a positive size, "
                         f"got {input.dtype}{input.shape} and {list(size)}")
    params = resize_params(input.shape, new_h, new_w, align_corners, half_pixel_centers,
                           "resize_bilinear: ")
    out = np.empty((input.shape[0], new_h, new_w, input.shape[3]), np.int8)
    evaluate(params, [input], [out])
    return out


@njit(cache=True)
def _resize_bilinear_engine(input_data, input_y, y0, y1, input_x, x0, x1, output_data):
    batches, output_height, output_width, depth = output_data.shape
    for b in range(batches):
        for y in range(output_height):
            dy = input_y[y] - (1 << 10) * y0[y]
            for x in range(output_width):
                dx = input_x[x] - (1 << 10) * x0[x]
                for c in range(depth):
                    output_20_ll = (np.int64(input_data[b, y0[y], x0[x], c])
                                    * ((1 << 10) - dy) * ((1 << 10) - dx))
                    output_20_lu = np.int64(input_data[b, y1[y], x0[x], c]) * dy * ((1 << 10) - dx)
                    output_20_rl = np.int64(input_data[b, y0[y], x1[x], c]) * ((1 << 10) - dy) * dx
                    output_20_ru = np.int64(input_data[b, y1[y], x1[x], c]) * dy * dx
                    output_20 = output_20_ll + output_20_lu + output_20_rl + output_20_ru
                    rounded = output_20 + ((1 << 19) if output_20 > 0 else -(1 << 19))
                    # C division by 2^20 truncates toward zero; the int8 cast wraps
                    q = rounded // (1 << 20) if rounded >= 0 else -((-rounded) // (1 << 20))
                    output_data[b, y, x, c] = np.int8(q)
