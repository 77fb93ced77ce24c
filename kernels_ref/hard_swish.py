"""HARD_SWISH, int8: TFLM reference_ops::HardSwish with its HardSwishParams.

Prepare (TFLM HardSwishPrepare): hires_input_scale = input_scale / 128; output multiplier
= hires_input_scale / output_scale and reluish multiplier = hires_input_scale / (3 / 32768),
each through QuantizeMultiplier and then DownScaleInt32ToInt16Multiplier to an int16
fixed-point multiplier. The output exponent must be <= 0 (TFLM rejects the model
otherwise). The two divisions are done in double: TFLM's source writes them in float, but
the TFLM build tinysim is checked against (PyPI tflite-micro) matches double division
wherever the two disagree (measured), so double it is.

Eval, all in C++ int16_t arithmetic: input - zero point shifted left 7; multiplied by the
output multiplier (SaturatingRoundingDoublingHighMul); the "reluish" value: saturating
left shift by exponent - 1, rounding doubling high mul, saturating left shift by 1 (or a
rounding right shift for negative exponents), mapped from [-1, 1] to [0, 1]; then the
truncating SaturatingDoublingHighMul of the two, a rounding right shift by the output
exponent, + output zero point (int16 wrap), clamped to int8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant, require_dtype,
                                 tensor_desc, unary_tensors)
from ._fixedpoint import (quantize_multiplier, rounding_divide_by_pot_int16,
                          saturating_doubling_high_mul_int16, saturating_left_shift_int16,
                          srdhm_int16)
from .common import op_where

OPCODES = ("HARD_SWISH",)


@dataclass(frozen=True)
class HardSwishParams:
    input_zero_point: int
    output_zero_point: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int


def down_scale_int32_to_int16_multiplier(multiplier_int32: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15."""
    rounding_offset = 1 << 15
    if multiplier_int32 >= (1 << 31) - 1 - rounding_offset:
        return (1 << 15) - 1
    return (multiplier_int32 + rounding_offset) >> 16


def hard_swish_params(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int) -> HardSwishParams:
    """TFLM's Prepare values; ValueError where TFLM rejects the model (output exponent > 0,
    i.e. output_scale < input_scale / 128)."""
    in_scale = np.float32(input_scale)
    hires_input_scale = np.float32(np.float32(1.0 / 128.0) * in_scale)
    reluish_scale = np.float32(3.0 / 32768.0)
    out_mult, out_exp = quantize_multiplier(
        float(hires_input_scale) / float(np.float32(output_scale)))
    if out_exp > 0:
        raise ValueError(f"the output multiplier input_scale / 128 / output_scale has exponent "
                         f"{out_exp} > 0")
    relu_mult, relu_exp = quantize_multiplier(
        float(hires_input_scale) / float(reluish_scale))
    return HardSwishParams(int(input_zero_point), int(output_zero_point),
                           down_scale_int32_to_int16_multiplier(relu_mult), relu_exp,
                           down_scale_int32_to_int16_multiplier(out_mult), out_exp)


def prepare(graph: Graph, op: Operator) -> HardSwishParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8",), "int8 (float HARD_SWISH is not implemented)")
    require_dtype(where, out, "output", ("int8",), "int8 output for int8 input")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    try:
        return hard_swish_params(in_scale, in_zp, out_scale, out_zp)
    except ValueError as exc:
        raise UnsupportedError(
            f"{where}output {tensor_desc(out)} scale {out_scale!r} with input scale "
            f"{in_scale!r}: {exc}; TFLM rejects this model in Prepare") from None


def evaluate(params: HardSwishParams, inputs, outputs) -> None:
    p = params
    _hard_swish_int8(inputs[0].reshape(-1), p.input_zero_point, p.output_zero_point,
                     p.reluish_multiplier_fixedpoint_int16, p.reluish_multiplier_exponent,
                     p.output_multiplier_fixedpoint_int16, p.output_multiplier_exponent,
                     output_view(outputs[0]))


def hard_swish(input: np.ndarray, input_scale: float, input_zero_point: int,
               output_scale: float, output_zero_point: int) -> np.ndarray:
    x = check_array("hard_swish", input, ("int8",))
    if not (-128 <= input_zero_point <= 127 and -128 <= output_zero_point <= 127):
        raise ShapeError("hard_swish: zero points must lie in int8's range")
    out = np.empty(x.shape, np.int8)
    evaluate(hard_swish_params(input_scale, input_zero_point, output_scale, output_zero_point),
             [x], [out])
    return out


@njit(cache=True)
def _hard_swish_int8(input_data, input_zero_point, output_zero_point,
                     reluish_multiplier_fixedpoint_int16, reluish_multiplier_exponent,
                     output_multiplier_fixedpoint_int16, output_multiplier_exponent,
                     output_data):
    for i in range(input_data.size):
        input_value = np.int16(np.int32(input_data[i]) - input_zero_point)
        input_value_on_hires_input_scale = np.int16(np.int32(input_value) * (1 << 7))
        input_value_on_preshift_output_scale = srdhm_int16(
            input_value_on_hires_input_scale, output_multiplier_fixedpoint_int16)
        reluish_value = input_value_on_hires_input_scale
        if reluish_multiplier_exponent > 0:
            reluish_value = saturating_left_shift_int16(reluish_value,
                                                        reluish_multiplier_exponent - 1)
        reluish_value = srdhm_int16(reluish_value, reluish_multiplier_fixedpoint_int16)
        if reluish_multiplier_exponent > 0:
            reluish_value = saturating_left_shift_int16(reluish_value, 1)
        if reluish_multiplier_exponent < 0:
            reluish_value = rounding_divide_by_pot_int16(reluish_value,
                                                         -reluish_multiplier_exponent)
        reluish_value = np.int16((np.int32(reluish_value) + (1 << 15)) >> 1)
        preshift_output_value = saturating_doubling_high_mul_int16(
            reluish_value, input_value_on_preshift_output_scale)
        output_value = rounding_divide_by_pot_int16(preshift_output_value,
                                                    -output_multiplier_exponent)
        output_value = np.int16(np.int32(output_value) + output_zero_point)
        output_value = min(max(np.int32(output_value), -128), 127)
        output_data[i] = output_value
