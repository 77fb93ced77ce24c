"""MUL, int8: TFLM reference_integer_ops::Mul (MulElementwise) / BroadcastMul6DSlow.

Prepare as TFLM's CalculateOpDataMul: real multiplier = input1 scale * input2 scale /
output scale in double, QuantizeMultiplier (it may exceed 1: a left shift). Eval per
element: (input1 + input1_offset) * (input2 + input2_offset), MultiplyByQuantizedMultiplier,
+ output_offset, clamped to the fused activation's range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._broadcast import (Broadcast, binary_tensors, broadcast_offsets, broadcast_shape,
                         plan_broadcast)
from .common import activation_range_quantized, op_where
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier

OPCODES = ("MUL",)


@dataclass(frozen=True, eq=False)
class MulParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    broadcast: Broadcast


def quantized_mul_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
                         input2_zero_point: int, output_scale: float, output_zero_point: int,
                         activation: str, broadcast: Broadcast, where: str = "") -> MulParams:
    """TFLM CalculateOpDataMul for int8."""
    real_multiplier = (float(np.float32(input1_scale)) * float(np.float32(input2_scale))
                       / float(np.float32(output_scale)))
    multiplier, shift = quantize_multiplier(real_multiplier)
    act_min, act_max = activation_range_quantized(activation, output_scale, output_zero_point,
                                                  where=where)
    return MulParams(-input1_zero_point, -input2_zero_point, output_zero_point, multiplier,
                     shift, act_min, act_max, broadcast)


def prepare(graph: Graph, op: Operator) -> MulParams:
    where = op_where(graph, op)
    bt = binary_tensors(graph, op, where)
    return quantized_mul_params(bt.input1_scale, bt.input1_zero_point, bt.input2_scale,
                                bt.input2_zero_point, bt.output_scale, bt.output_zero_point,
                                op.fused_activation, plan_broadcast(where, bt), where)


def evaluate(params: MulParams, inputs, outputs) -> None:
    p = params
    in1 = inputs[0].reshape(-1)
    in2 = inputs[1].reshape(-1)
    out = output_view(outputs[0])
    args = (p.input1_offset, p.input2_offset, p.output_offset, p.output_multiplier,
            p.output_shift, p.act_min, p.act_max)
    if p.broadcast.needed:
        _mul_broadcast(in1, p.broadcast.offsets1, in2, p.broadcast.offsets2, *args, out)
    else:
        _mul_elementwise(in1, in2, *args, out)


def mul(input1: np.ndarray, input2: np.ndarray, *, input1_scale: float, input1_zero_point: int,
        input2_scale: float, input2_zero_point: int, output_scale: float,
        output_zero_point: int, activation: str = "NONE") -> np.ndarray:
    """Quantized MUL of two int8 arrays (numpy broadcasting), as TFLM computes it."""
    input1 = np.ascontiguousarray(input1)
    input2 = np.ascontiguousarray(input2)
    if input1.dtype != np.int8 or input2.dtype != np.int8:
        raise ShapeError(f"mul needs int8 inputs, got {input1.dtype} and {input2.dtype}")
    shape = broadcast_shape(input1.shape, input2.shape)
    if shape is None:
        raise ShapeError(f"mul: shapes {input1.shape} and {input2.shape} do not broadcast")
    bc = Broadcast(None, None) if input1.shape == input2.shape else \
        Broadcast(*broadcast_offsets(input1.shape, input2.shape, shape))
    params = quantized_mul_params(input1_scale, int(input1_zero_point), input2_scale,
                                  int(input2_zero_point), output_scale, int(output_zero_point),
                                  activation, bc, "mul: ")
    out = np.empty(shape, np.int8)
    evaluate(params, [input1, input2], [out])
    return out


@njit(cache=True, inline="always")
def _mul_func(x, y, input1_offset, input2_offset, output_offset, output_multiplier,
              output_shift, act_min, act_max):
    """TFLM's quantized MUL for one pair of int8 values."""
    input1_val = np.int32(input1_offset + x)
    input2_val = np.int32(input2_offset + y)
    unclamped_result = np.int32(output_offset + multiply_by_quantized_multiplier(
        np.int32(input1_val * input2_val), output_multiplier, output_shift))
    clamped_output = min(np.int32(act_max), max(np.int32(act_min), unclamped_result))
    return np.int8(clamped_output)


@njit(cache=True)
def _mul_elementwise(input1, input2, input1_offset, input2_offset, output_offset,
                     output_multiplier, output_shift, act_min, act_max, output):
    for i in range(output.size):
        output[i] = _mul_func(input1[i], input2[i], input1_offset, input2_offset,
                              output_offset, output_multiplier, output_shift, act_min, act_max)


@njit(cache=True)
def _mul_broadcast(input1, offsets1, input2, offsets2, input1_offset, input2_offset,
                   output_offset, output_multiplier, output_shift, act_min, act_max, output):
    for i in range(output.size):
        output[i] = _mul_func(input1[offsets1[i]], input2[offsets2[i]], input1_offset,
                              input2_offset, output_offset, output_multiplier, output_shift,
                              act_min, act_max)
