"""AVERAGE_POOL_2D, int8: TFLM reference_integer_ops::AveragePool.

The window is clipped to the image, so border outputs average only their in-bounds taps;
the sum of the raw int8 values is divided by that count rounding half away from zero
((sum + count/2) / count for a positive sum, (sum - count/2) / count otherwise, C
truncating division), then clamped to the fused activation's range.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tinysim.ir import Graph, Operator
from ._pool_common import PoolParams, pool_on_array, prepare_pool

OPCODES = ("AVERAGE_POOL_2D",)


def prepare(graph: Graph, op: Operator) -> PoolParams:
    return prepare_pool(graph, op)


def evaluate(params: PoolParams, inputs, outputs) -> None:
    p = params
    _average_pool_engine(inputs[0], p.stride_h, p.stride_w, p.filter_h, p.filter_w, p.pad_h,
                         p.pad_w, p.act_min, p.act_max, outputs[0])


def average_pool_2d(input: np.ndarray, *, filter_h: int, filter_w: int, stride_h: int = 1,
                    stride_w: int = 1, padding: str = "VALID", act_min: int = -128,
                    act_max: int = 127) -> np.ndarray:
    """AveragePool on a plain int8 NHWC array."""
    return pool_on_array("average_pool_2d", input, filter_h, filter_w, stride_h, stride_w, padding,
                         act_min, act_max, evaluate)


@njit(cache=True)
def _average_pool_engine(input_data, stride_height, stride_width, filter_height, filter_width,
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
                filter_count = (filter_y_end - filter_y_start) * (filter_x_end - filter_x_start)
                for channel in range(depth):
                    acc = np.int32(0)
                    for filter_y in range(filter_y_start, filter_y_end):
                        for filter_x in range(filter_x_start, filter_x_end):
                            acc += input_data[batch, in_y_origin + filter_y,
                                              in_x_origin + filter_x, channel]
                    # round half away from zero; C division truncates toward zero
                    if acc > 0:
                        acc = (acc + filter_count // 2) // filter_count
                    else:
                        acc = -((filter_count // 2 - acc) // filter_count)
                    acc = max(acc, act_min)
                    acc = min(acc, act_max)
                    output_data[batch, out_y, out_x, channel] = np.int8(acc)
