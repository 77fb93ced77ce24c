"""RESIZE_NEAREST_NEIGHBOR: TFLM reference_ops::ResizeNearestNeighbor (a gather, no rescale).

Per output row (and likewise column), TFLM's GetNearestNeighbor in float32:
scale = (in - 1) / (out - 1) with align_corners (and out > 1), else in / out; offset 0.5
with half_pixel_centers, else 0; source = round((i + offset) * scale) with align_corners
(round half away), floor(...) without; clamped to in - 1, and to >= 0 with
half_pixel_centers. TFLM accepts align_corners and half_pixel_centers together here.
The source indices are computed once at Prepare with numpy float32, which is IEEE single
precision like TFLM's float.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._resize_common import resize_tensors

OPCODES = ("RESIZE_NEAREST_NEIGHBOR",)


@dataclass(frozen=True, eq=False)
class ResizeNearestNeighborParams:
    in_y: np.ndarray  # int64 source row per output row
    in_x: np.ndarray  # int64 source column per output column


def nearest_neighbor(output_size: int, input_size: int, align_corners: bool,
                     half_pixel_centers: bool) -> np.ndarray:
    """GetNearestNeighbor for every output index 0..output_size-1."""
    if align_corners and output_size > 1:
        scale = np.float32(input_size - 1) / np.float32(output_size - 1)
    else:
        scale = np.float32(input_size) / np.float32(output_size)
    offset = np.float32(0.5) if half_pixel_centers else np.float32(0.0)
    scaled = (np.arange(output_size).astype(np.float32) + offset) * scale
    if align_corners:
        # TfLiteRound of a non-negative value; in double, adding 0.5 cannot round up
        value = np.floor(scaled.astype(np.float64) + 0.5)
    else:
        value = np.floor(scaled)
    value = np.minimum(value.astype(np.int64), input_size - 1)
    if half_pixel_centers:
        value = np.maximum(value, 0)
    return value


def resize_params(input_shape, new_h: int, new_w: int, align_corners: bool,
                  half_pixel_centers: bool) -> ResizeNearestNeighborParams:
    return ResizeNearestNeighborParams(
        nearest_neighbor(new_h, input_shape[1], align_corners, half_pixel_centers),
        nearest_neighbor(new_w, input_shape[2], align_corners, half_pixel_centers))


def prepare(graph: Graph, op: Operator) -> ResizeNearestNeighborParams:
    _, inp, _, new_h, new_w = resize_tensors(graph, op)
    return resize_params(inp.shape, new_h, new_w, bool(op.options.get("align_corners")),
                         bool(op.options.get("half_pixel_centers")))


def evaluate(params: ResizeNearestNeighborParams, inputs, outputs) -> None:
    _resize_nearest_engine(inputs[0], params.in_y, params.in_x, outputs[0])


def resize_nearest_neighbor(input: np.ndarray, size, *, align_corners: bool = False,
                            half_pixel_centers: bool = False) -> np.ndarray:
    """Nearest-neighbour resize of a plain 4-D NHWC array to ``size`` = (height, width)."""
    input = np.ascontiguousarray(input)
    new_h, new_w = (int(v) for v in size)
    if input.ndim != 4 or new_h < 1 or new_w < 1:
        raise ShapeError(f"resize_nearest_neighbor needs a 4-D NHWC array and a positive "
                         f"size, got {input.shape} and {list(size)}")
    params = resize_params(input.shape, new_h, new_w, align_corners, half_pixel_centers)
    out = np.empty((input.shape[0], new_h, new_w, input.shape[3]), input.dtype)
    evaluate(params, [input], [out])
    return out


@njit(cache=True)
def _resize_nearest_engine(input_data, in_y, in_x, output_data):
    batches, output_height, output_width, depth = output_data.shape
    for b in range(batches):
        for y in range(output_height):
            for x in range(output_width):
                for c in range(depth):
                    output_data[b, y, x, c] = input_data[b, in_y[y], in_x[x], c]
