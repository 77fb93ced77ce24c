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

from tinysim.ir import Graph, Operator
from ._broadcast import Broadcast, binary_on_arrays, flat_operands, prepare_binary
from .common import activation_range_quantized
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
    return prepare_binary(graph, op, quantized_mul_params)


def evaluate(params: MulParams, inputs, outputs) -> None:
    p = params
    in1, in2, out = flat_operands(inputs, outputs)
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
    return binary_on_arrays(
        "mul", input1, input2,
        lambda bc: quantized_mul_params(input1_scale, int(input1_zero_point), input2_scale,
                                        int(input2_zero_point), output_scale,
                                        int(output_zero_point), activation, bc, "mul: "),
        evaluate)


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
