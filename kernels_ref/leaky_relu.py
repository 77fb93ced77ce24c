"""LEAKY_RELU, int8 and int16: TFLM reference_ops::QuantizeLeakyRelu.

Prepare (TFLM CalculateOpDataLeakyRelu), the ratios formed in double from the float32
scale and alpha: alpha multiplier = QuantizeMultiplier(input_scale * alpha / output_scale),
identity multiplier = QuantizeMultiplier(input_scale / output_scale).

Eval: x - input zero point; >= 0 takes the identity multiplier, < 0 the alpha one
(MultiplyByQuantizedMultiplier), + output zero point, clamped to the type. A negative
alpha multiplier is applied as -(x * |multiplier|), as current TFLM does: it differs from
multiplying by the negative multiplier on exact halves, which the rounding doubling high
multiply rounds toward +infinity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant,
                                 require_dtype, unary_tensors)
from .common import DTYPE_RANGE, op_where
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier

OPCODES = ("LEAKY_RELU",)


@dataclass(frozen=True)
class LeakyReluParams:
    input_offset: int
    output_offset: int
    output_multiplier_alpha: int
    output_shift_alpha: int
    output_multiplier_identity: int
    output_shift_identity: int
    quantized_min: int
    quantized_max: int


def leaky_relu_params(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int, alpha: float, dtype: str = "int8"
                      ) -> LeakyReluParams:
    in_s, out_s = float(np.float32(input_scale)), float(np.float32(output_scale))
    a = float(np.float32(alpha))
    mult_alpha, shift_alpha = quantize_multiplier(in_s * a / out_s)
    mult_id, shift_id = quantize_multiplier(in_s / out_s)
    lo, hi = DTYPE_RANGE[dtype]
    return LeakyReluParams(int(input_zero_point), int(output_zero_point), mult_alpha,
                           shift_alpha, mult_id, shift_id, lo, hi)


def prepare(graph: Graph, op: Operator) -> LeakyReluParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8", "int16"), "int8 and int16 (float LEAKY_RELU is "
                  "not implemented)")
    require_dtype(where, out, "output", (inp.dtype,), f"{inp.dtype}, the input's type")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    alpha = float(op.options.get("alpha", 0.0))
    if not math.isfinite(alpha):
        raise UnsupportedError(f"{where}alpha is {alpha}; it must be finite")
    return leaky_relu_params(in_scale, in_zp, out_scale, out_zp, alpha, inp.dtype)


def evaluate(params: LeakyReluParams, inputs, outputs) -> None:
    p = params
    _leaky_relu_quantized(inputs[0].reshape(-1), p.input_offset, p.output_offset,
                          p.output_multiplier_alpha, p.output_shift_alpha,
                          p.output_multiplier_identity, p.output_shift_identity,
                          p.quantized_min, p.quantized_max, output_view(outputs[0]))


def leaky_relu(input: np.ndarray, input_scale: float, input_zero_point: int,
               output_scale: float, output_zero_point: int, alpha: float) -> np.ndarray:
    x = check_array("leaky_relu", input, ("int8", "int16"))
    lo, hi = DTYPE_RANGE[x.dtype.name]
    if not (lo <= input_zero_point <= hi and lo <= output_zero_point <= hi):
        raise ShapeError(f"leaky_relu: zero points must lie in {x.dtype}'s range")
    out = np.empty(x.shape, x.dtype)
    evaluate(leaky_relu_params(input_scale, input_zero_point, output_scale, output_zero_point,
                               alpha, x.dtype.name), [x], [out])
    return out


@njit(cache=True)
def _leaky_relu_quantized(input_data, input_offset, output_offset, output_multiplier_alpha,
                          output_shift_alpha, output_multiplier_identity,
                          output_shift_identity, quantized_min, quantized_max, output_data):
    is_alpha_negative = output_multiplier_alpha < 0
    safe_alpha_multiplier = -output_multiplier_alpha if is_alpha_negative \
        else output_multiplier_alpha
    for i in range(input_data.size):
        input_value = np.int32(input_data[i]) - input_offset
        unclamped_output = np.int64(output_offset)
        if input_value >= 0:
            unclamped_output += multiply_by_quantized_multiplier(
                input_value, output_multiplier_identity, output_shift_identity)
        else:
            scaled_alpha_value = multiply_by_quantized_multiplier(
                input_value, safe_alpha_multiplier, output_shift_alpha)
            unclamped_output += -np.int64(scaled_alpha_value) if is_alpha_negative \
                else np.int64(scaled_alpha_value)
        unclamped_output = np.int32(unclamped_output)
        output_data[i] = min(max(unclamped_output, np.int32(quantized_min)),
                             np.int32(quantized_max))
