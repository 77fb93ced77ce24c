"""SUB, int8: TFLM reference_ops::Sub (SubElementwise) / BroadcastQuantSubSlow.

Prepare as TFLM's CalculateOpDataSub, which unlike ADD works in *float*: twice_max_input_scale
= 2 * max(input scales) as float, each input multiplier = float(scale / twice_max), the
output's = float(twice_max / (2^20 * output scale)), then widened to double for
QuantizeMultiplierSmallerThanOneExp. Eval per element: (input + input_offset) << 20, scaled
by the input multipliers, input1 - input2, scaled by the output multiplier, + output_offset,
clamped to the fused activation's range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.ir import Graph, Operator
from ._broadcast import Broadcast, binary_on_arrays, flat_operands, prepare_binary
from .add import LEFT_SHIFT, AddParams, smaller_than_one
from .common import activation_range_quantized
from .quantization import multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm_stoe

OPCODES = ("SUB",)


@dataclass(frozen=True, eq=False)
class SubParams(AddParams):
    """TFLM's OpDataSub holds OpDataAdd's fields; only Prepare's arithmetic differs."""


def quantized_sub_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
                         input2_zero_point: int, output_scale: float, output_zero_point: int,
                         activation: str, broadcast: Broadcast, where: str = "") -> SubParams:
    """TFLM CalculateOpDataSub for int8: float32 arithmetic, as TFLM writes it."""
    s1, s2, so = np.float32(input1_scale), np.float32(input2_scale), np.float32(output_scale)
    twice_max_input_scale = np.float32(2) * max(s1, s2)
    real_input1_multiplier = float(np.float32(s1 / twice_max_input_scale))
    real_input2_multiplier = float(np.float32(s2 / twice_max_input_scale))
    real_output_multiplier = float(np.float32(
        twice_max_input_scale / (np.float32(1 << LEFT_SHIFT) * so)))
    m1, sh1 = smaller_than_one(where, "input1", real_input1_multiplier)
    m2, sh2 = smaller_than_one(where, "input2", real_input2_multiplier)
    mo, sho = smaller_than_one(where, "output", real_output_multiplier)
    act_min, act_max = activation_range_quantized(activation, output_scale, output_zero_point,
                                                  where=where)
    return SubParams(LEFT_SHIFT, -input1_zero_point, m1, sh1, -input2_zero_point, m2, sh2,
                     output_zero_point, mo, sho, act_min, act_max, broadcast)


def prepare(graph: Graph, op: Operator) -> SubParams:
    return prepare_binary(graph, op, quantized_sub_params)


def evaluate(params: SubParams, inputs, outputs) -> None:
    p = params
    in1, in2, out = flat_operands(inputs, outputs)
    if p.broadcast.needed:
        _sub_broadcast(in1, p.broadcast.offsets1, in2, p.broadcast.offsets2,
                       *p.engine_args(), out)
    else:
        _sub_elementwise(in1, in2, *p.engine_args(), out)


def sub(input1: np.ndarray, input2: np.ndarray, *, input1_scale: float, input1_zero_point: int,
        input2_scale: float, input2_zero_point: int, output_scale: float,
        output_zero_point: int, activation: str = "NONE") -> np.ndarray:
    """Quantized input1 - input2 of two int8 arrays (numpy broadcasting), as TFLM computes it."""
    return binary_on_arrays(
        "sub", input1, input2,
        lambda bc: quantized_sub_params(input1_scale, int(input1_zero_point), input2_scale,
                                        int(input2_zero_point), output_scale,
                                        int(output_zero_point), activation, bc, "sub: "),
        evaluate)


@njit(cache=True, inline="always")
def _sub_func(x, y, left_shift, input1_offset, input1_multiplier, input1_shift, input2_offset,
              input2_multiplier, input2_shift, output_offset, output_multiplier, output_shift,
              act_min, act_max):
    """TFLM's quantized SUB for one pair of int8 values."""
    input1_val = np.int32(input1_offset + x)
    input2_val = np.int32(input2_offset + y)
    shifted_input1_val = np.int32(input1_val * (1 << left_shift))
    shifted_input2_val = np.int32(input2_val * (1 << left_shift))
    scaled_input1_val = mbqm_stoe(shifted_input1_val, input1_multiplier, input1_shift)
    scaled_input2_val = mbqm_stoe(shifted_input2_val, input2_multiplier, input2_shift)
    raw_sub = np.int32(scaled_input1_val - scaled_input2_val)
    raw_output = np.int32(mbqm_stoe(raw_sub, output_multiplier, output_shift) + output_offset)
    clamped_output = min(np.int32(act_max), max(np.int32(act_min), raw_output))
    return np.int8(clamped_output)


@njit(cache=True)
def _sub_elementwise(input1, input2, left_shift, input1_offset, input1_multiplier, input1_shift,
                     input2_offset, input2_multiplier, input2_shift, output_offset,
                     output_multiplier, output_shift, act_min, act_max, output):
    for i in range(output.size):
        output[i] = _sub_func(input1[i], input2[i], left_shift, input1_offset,
                              input1_multiplier, input1_shift, input2_offset,
                              input2_multiplier, input2_shift, output_offset,
                              output_multiplier, output_shift, act_min, act_max)


@njit(cache=True)
def _sub_broadcast(input1, offsets1, input2, offsets2, left_shift, input1_offset,
                   input1_multiplier, input1_shift, input2_offset, input2_multiplier,
                   input2_shift, output_offset, output_multiplier, output_shift, act_min,
                   act_max, output):
    for i in range(output.size):
        output[i] = _sub_func(input1[offsets1[i]], input2[offsets2[i]], left_shift,
                              input1_offset, input1_multiplier, input1_shift, input2_offset,
                              input2_multiplier, input2_shift, output_offset,
                              output_multiplier, output_shift, act_min, act_max)
