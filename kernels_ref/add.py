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

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._broadcast import (Broadcast, binary_tensors, broadcast_offsets, broadcast_shape,
                         plan_broadcast)
from .common import activation_range_quantized, op_where
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
    where = op_where(graph, op)
    bt = binary_tensors(graph, op, where)
    return quantized_add_params(bt.input1_scale, bt.input1_zero_point, bt.input2_scale,
                                bt.input2_zero_point, bt.output_scale, bt.output_zero_point,
                                op.fused_activation, plan_broadcast(where, bt), where)


def evaluate(params: AddParams, inputs, outputs) -> None:
    p = params
    in1 = inputs[0].reshape(-1)
    in2 = inputs[1].reshape(-1)
    out = output_view(outputs[0])
    args = (p.left_shift, p.input1_offset, p.input1_multiplier, p.input1_shift,
            p.input2_offset, p.input2_multiplier, p.input2_shift, p.output_offset,
            p.output_multiplier, p.output_shift, p.act_min, p.act_max)
    if p.broadcast.needed:
        _add_broadcast(in1, p.broadcast.offsets1, in2, p.broadcast.offsets2, *args, out)
    else:
        _add_elementwise(in1, in2, *args, out)


def add(input1: np.ndarray, input2: np.ndarray, *, input1_scale: float, input1_zero_point: int,
        input2_scale: float, input2_zero_point: int, output_scale: float,
        output_zero_point: int, activation: str = "NONE") -> np.ndarray:
    """Quantized ADD of two int8 arrays (numpy broadcasting), as TFLM computes it."""
    input1 = np.ascontiguousarray(input1)
    input2 = np.ascontiguousarray(input2)
    if input1.dtype != np.int8 or input2.dtype != np.int8:
        raise ShapeError(f"add needs int8 inputs, got {input1.dtype} and {input2.dtype}")
    shape = broadcast_shape(input1.shape, input2.shape)
    if shape is None:
        raise ShapeError(f"add: shapes {input1.shape} and {input2.shape} do not broadcast")
    bc = Broadcast(None, None) if input1.shape == input2.shape else \
        Broadcast(*broadcast_offsets(input1.shape, input2.shape, shape))
    params = quantized_add_params(input1_scale, int(input1_zero_point), input2_scale,
                                  int(input2_zero_point), output_scale, int(output_zero_point),
                                  activation, bc, "add: ")
    out = np.empty(shape, np.int8)
    evaluate(params, [input1, input2], [out])
    return out


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
