"""MAX_POOL_2D, int8: TFLM reference_integer_ops::MaxPool.

The maximum over the window clipped to the image (padding never wins), then clamped to
the fused activation's range.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tinysim.ir import Graph, Operator
from ._pool_common import PoolParams, pool_on_array, prepare_pool

OPCODES = ("MAX_POOL_2D",)


def prepare(graph: Graph, op: Operator) -> PoolParams:
    return prepare_pool(graph, op)


def evaluate(params: PoolParams, inputs, outputs) -> None:
    p = params
    _max_pool_engine(inputs[0], p.stride_h, p.stride_w, p.filter_h, p.filter_w, p.pad_h,
                     p.pad_w, p.act_min, p.act_max, outputs[0])


def max_pool_2d(input: np.ndarray, *, filter_h: int, filter_w: int, stride_h: int = 1,
                stride_w: int = 1, padding: str = "VALID", act_min: int = -128,
                act_max: int = 127) -> np.ndarray:
    """MaxPool on a plain int8 NHWC array."""
    return pool_on_array("max_pool_2d", input, filter_h, filter_w, stride_h, stride_w, padding,
                         act_min, act_max, evaluate)


@njit(cache=True)
def _max_pool_engine(input_data, stride_height, stride_width, filter_height, filter_width,
                     pad_height, pad_width, act_min, act_max, output_data):
    batches, input_height, input_width, depth = input_data.shape
    output_height, output_width = output_data.shape[1], output_data.shape[2]
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                in_x_origin = out_x * stride_width - pad_width
                in_y_origin = out_y * stride_height - pad_height
                filter_x_start = max(0, -in_x_origin)
                filter_x_end = min(filter_width, input_width - in_x_origin)
                filter_y_start = max(0, -in_y_origin)
                filter_y_end = min(filter_height, input_height - in_y_origin)
                for channel in range(depth):
                    max_val = np.int8(-128)
                    for filter_y in range(filter_y_start, filter_y_end):
                        for filter_x in range(filter_x_start, filter_x_end):
                            max_val = max(max_val, input_data[batch, in_y_origin + filter_y,
                                                              in_x_origin + filter_x, channel])
                    max_val = max(max_val, np.int8(act_min))
                    max_val = min(max_val, np.int8(act_max))
                    output_data[batch, out_y, out_x, channel] = max_val
