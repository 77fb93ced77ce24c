"""ADD, int8: TFLM reference_integer_ops::Add / BroadcastAdd6DSlow (AddFunc).

Prepare as TFLM's CalculateOpDataAdd, in double: left_shift 20, twice_max_input_scale =
2 * max(input scales), each input's multiplier = its scale / twice_max, the output's =
twice_max / (2^20 * output scale), all through QuantizeMultiplierSmallerThanOneExp (which
aborts TFLM unless the multiplier is in (0, 1)). Eval per element: (input + input_offset)
<< left_shift, scaled by the input's multiplier, summed, scaled by the output multiplier,
+ output_offset, clamped to the fused activation's range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import UnsupportedError
from tinysim.ir import Graph, Operator
from ._broadcast import Broadcast, binary_on_arrays, flat_operands, prepare_binary
from .common import activation_range_quantized
from .quantization import multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm_stoe
from .quantization import quantize_multiplier

OPCODES = ("ADD",)
LEFT_SHIFT = 20  # TFLM's left_shift for int8 outputs


@dataclass(frozen=True, eq=False)
class AddParams:
    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    broadcast: Broadcast

    def engine_args(self) -> tuple:
        """The scalars the engines take after the operands, in their order."""
        return (self.left_shift, self.input1_offset, self.input1_multiplier,
                self.input1_shift, self.input2_offset, self.input2_multiplier,
                self.input2_shift, self.output_offset, self.output_multiplier,
                self.output_shift, self.act_min, self.act_max)


def smaller_than_one(where: str, name: str, real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, which TFLITE_CHECKs 0 < real < 1 (abort)."""
    if not 0.0 < real < 1.0:
        raise UnsupportedError(
            f"{where}the {name} multiplier is {real:g}, outside (0, 1); TFLM aborts on it "
            "(QuantizeMultiplierSmallerThanOneExp) — the output scale must exceed "
            "2 * max(input scales) / 2^20; re-quantize the model")
    return quantize_multiplier(real)


def quantized_add_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
                         input2_zero_point: int, output_scale: float, output_zero_point: int,
                         activation: str, broadcast: Broadcast, where: str = "") -> AddParams:
    """TFLM CalculateOpDataAdd for int8 (scales are the tensors' float32 values)."""
    twice_max_input_scale = 2 * float(max(np.float32(input1_scale), np.float32(input2_scale)))
    real_input1_multiplier = float(np.float32(input1_scale)) / twice_max_input_scale
    real_input2_multiplier = float(np.float32(input2_scale)) / twice_max_input_scale
    real_output_multiplier = twice_max_input_scale / (
        (1 << LEFT_SHIFT) * float(np.float32(output_scale)))
    m1, s1 = smaller_than_one(where, "input1", real_input1_multiplier)
    m2, s2 = smaller_than_one(where, "input2", real_input2_multiplier)
    mo, so = smaller_than_one(where, "output", real_output_multiplier)
    act_min, act_max = activation_range_quantized(activation, output_scale, output_zero_point,
                                                  where=where)
    return AddParams(LEFT_SHIFT, -input1_zero_point, m1, s1, -input2_zero_point, m2, s2,
                     output_zero_point, mo, so, act_min, act_max, broadcast)


def prepare(graph: Graph, op: Operator) -> AddParams:
    return prepare_binary(graph, op, quantized_add_params)


def evaluate(params: AddParams, inputs, outputs) -> None:
    p = params
    in1, in2, out = flat_operands(inputs, outputs)
    if p.broadcast.needed:
        _add_broadcast(in1, p.broadcast.offsets1, in2, p.broadcast.offsets2,
                       *p.engine_args(), out)
    else:
        _add_elementwise(in1, in2, *p.engine_args(), out)


def add(input1: np.ndarray, input2: np.ndarray, *, input1_scale: float, input1_zero_point: int,
        input2_scale: float, input2_zero_point: int, output_scale: float,
        output_zero_point: int, activation: str = "NONE") -> np.ndarray:
    """Quantized ADD of two int8 arrays (numpy broadcasting), as TFLM computes it."""
    return binary_on_arrays(
        "add", input1, input2,
        lambda bc: quantized_add_params(input1_scale, int(input1_zero_point), input2_scale,
                                        int(input2_zero_point), output_scale,
                                        int(output_zero_point), activation, bc, "add: "),
        evaluate)


@njit(cache=True, inline="always")
def _add_func(x, y, left_shift, input1_offset, input1_multiplier, input1_shift, input2_offset,
              input2_multiplier, input2_shift, output_offset, output_multiplier, output_shift,
              act_min, act_max):
    """TFLM AddFunc for one pair of int8 values."""
    input1_val = np.int32(input1_offset + x)
    input2_val = np.int32(input2_offset + y)
    shifted_input1_val = np.int32(input1_val * (1 << left_shift))
    shifted_input2_val = np.int32(input2_val * (1 << left_shift))
    scaled_input1_val = mbqm_stoe(shifted_input1_val, input1_multiplier, input1_shift)
    scaled_input2_val = mbqm_stoe(shifted_input2_val, input2_multiplier, input2_shift)
    raw_sum = np.int32(scaled_input1_val + scaled_input2_val)
    raw_output = np.int32(mbqm_stoe(raw_sum, output_multiplier, output_shift) + output_offset)
    clamped_output = min(np.int32(act_max), max(np.int32(act_min), raw_output))
    return np.int8(clamped_output)


@njit(cache=True)
def _add_elementwise(input1, input2, left_shift, input1_offset, input1_multiplier, input1_shift,
                     input2_offset, input2_multiplier, input2_shift, output_offset,
                     output_multiplier, output_shift, act_min, act_max, output):
    for i in range(output.size):
        output[i] = _add_func(input1[i], input2[i], left_shift, input1_offset,
                              input1_multiplier, input1_shift, input2_offset,
                              input2_multiplier, input2_shift, output_offset,
                              output_multiplier, output_shift, act_min, act_max)


@njit(cache=True)
def _add_broadcast(input1, offsets1, input2, offsets2, left_shift, input1_offset,
                   input1_multiplier, input1_shift, input2_offset, input2_multiplier,
                   input2_shift, output_offset, output_multiplier, output_shift, act_min,
                   act_max, output):
    for i in range(output.size):
        output[i] = _add_func(input1[offsets1[i]], input2[offsets2[i]], left_shift,
                              input1_offset, input1_multiplier, input1_shift, input2_offset,
                              input2_multiplier, input2_shift, output_offset,
                              output_multiplier, output_shift, act_min, act_max)
