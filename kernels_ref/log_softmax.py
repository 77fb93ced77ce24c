"""LOG_SOFTMAX: TFLM reference_ops::LogSoftmax, int8 and float32.

Prepare (TFLM CalculateOpData): the int8 output must have scale exactly 16/256 and zero
point 127; beta is fixed at 1. PreprocessLogSoftmaxScalingExp gives input_multiplier /
input_left_shift (as softmax, kScaledDiffIntegerBits = 5) and the reverse scaling
divisor (2^(31 - left_shift) / input_multiplier through QuantizeMultiplierSmallerThanOneExp);
diff_min = -CalculateInputRadius(5, input_left_shift).

Eval per row: sum the Q12 exps of the Q5.26-rescaled differences >= diff_min, take
log_x_for_x_greater_than_or_equal_to_1 of the sum in Q5.26, lower the cut-off to
max(diff_min - 1, (log_sum + INT32_MIN) scaled back by the reverse divisor), and for each
difference above it output RoundingDivideByPOT(diff_q5 - log_sum, 31 - 5 - 4) + 127,
clamped; the rest get -128. The float path is TFLM's float reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant, require_dtype,
                                 row_max_float, tensor_desc, unary_tensors)
from ._fixedpoint import (INT32_MIN, calculate_input_radius, exp_on_negative_values,
                          log_x_for_x_greater_than_or_equal_to_1, preprocess_softmax_scaling,
                          quantize_multiplier, rescale, rounding_divide_by_pot)
from .common import op_where
from .quantization import multiply_by_quantized_multiplier

OPCODES = ("LOG_SOFTMAX",)

INPUT_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
OUTPUT_INTEGER_BITS = 4
OUTPUT_SCALE = np.float32(16.0 / 256)
OUTPUT_ZERO_POINT = 127


@dataclass(frozen=True)
class LogSoftmaxParams:
    input_dtype: str  # 'int8' or 'float32'
    input_multiplier: int
    input_left_shift: int
    reverse_scaling_divisor: int
    reverse_scaling_right_shift: int
    diff_min: int


def quantized_log_softmax_params(input_scale: float) -> tuple[int, int, int, int, int]:
    """(input_multiplier, input_left_shift, reverse_scaling_divisor,
    reverse_scaling_right_shift, diff_min) as TFLM's Prepare derives them; ValueError where
    TFLM's QuantizeMultiplier*Than*One checks would abort."""
    real, multiplier, left_shift = preprocess_softmax_scaling(
        1.0, float(input_scale), INPUT_INTEGER_BITS)
    if not real > 1.0:
        raise ValueError(f"input_scale * 2^26 = {real:g} must exceed 1")
    real_reverse_scaling_divisor = float(1 << (31 - left_shift)) / float(multiplier)
    if not 0.0 < real_reverse_scaling_divisor < 1.0:
        raise ValueError(f"the reverse scaling divisor {real_reverse_scaling_divisor:g} must "
                         "lie in (0, 1)")
    divisor, divisor_shift = quantize_multiplier(real_reverse_scaling_divisor)
    diff_min = -calculate_input_radius(INPUT_INTEGER_BITS, left_shift)
    return multiplier, left_shift, divisor, -divisor_shift, diff_min


def prepare(graph: Graph, op: Operator) -> LogSoftmaxParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    if inp.shape != out.shape or not inp.shape or inp.size == 0:
        raise ShapeError(f"{where}input {tensor_desc(inp)} {inp.shape} and output "
                         f"{tensor_desc(out)} {out.shape} must have the same shape, at least "
                         "1-D and non-empty")
    require_dtype(where, inp, "input", ("int8", "float32"), "int8 and float32")
    require_dtype(where, out, "output", (inp.dtype,), f"{inp.dtype}, the input's type")
    if inp.dtype == "float32":
        return LogSoftmaxParams("float32", 0, 0, 0, 0, 0)
    in_scale, _ = per_tensor_quant(where, inp, "input")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    if np.float32(out_scale) != OUTPUT_SCALE or out_zp != OUTPUT_ZERO_POINT:
        raise UnsupportedError(
            f"{where}output {tensor_desc(out)} has scale {out_scale!r} and zero point {out_zp}; "
            "TFLM's int8 log-softmax needs exactly scale 16/256 and zero point 127 — re-export "
            "the model with the converter's default log-softmax output")
    try:
        params = quantized_log_softmax_params(in_scale)
    except ValueError as exc:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)} scale {in_scale!r}: {exc}; "
                               "TFLM aborts in Prepare on such a model") from None
    return LogSoftmaxParams("int8", *params)


def evaluate(params: LogSoftmaxParams, inputs, outputs) -> None:
    x = inputs[0].reshape(-1, inputs[0].shape[-1])
    out = output_view(outputs[0], x.shape)
    if params.input_dtype == "float32":
        _log_softmax_float(x, out)
    else:
        _log_softmax_int8(x, params.input_multiplier, params.input_left_shift,
                          params.reverse_scaling_divisor, params.reverse_scaling_right_shift,
                          params.diff_min, out)


def log_softmax(input: np.ndarray, input_scale: float | None = None) -> np.ndarray:
    """Log-softmax over the last axis: int8 input with its ``input_scale`` (output scale
    16/256, zero point 127) or float32 input."""
    x = check_array("log_softmax", input, ("int8", "float32"))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ShapeError(f"log_softmax needs at least one element on the last axis, got "
                         f"{x.shape}")
    out = np.empty(x.shape, x.dtype)
    x2, out2 = x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
    if x.dtype == np.float32:
        _log_softmax_float(x2, out2)
        return out
    if input_scale is None:
        raise ShapeError("log_softmax: int8 input needs its input_scale")
    _log_softmax_int8(x2, *quantized_log_softmax_params(input_scale), out2)
    return out


@njit(cache=True)
def _log_softmax_int8(input_data, input_multiplier, input_left_shift, reverse_scaling_divisor,
                      reverse_scaling_right_shift, diff_min, output_data):
    outer_size, depth = input_data.shape
    for outer_index in range(outer_size):
        max_in_row = np.int32(-128)
        for inner_index in range(depth):
            max_in_row = max(max_in_row, np.int32(input_data[outer_index, inner_index]))

        sum_of_exps_in_q12 = np.int32(0)
        for inner_index in range(depth):
            input_diff = np.int32(input_data[outer_index, inner_index]) - max_in_row
            if input_diff >= diff_min:
                input_diff_in_q5 = multiply_by_quantized_multiplier(
                    input_diff, input_multiplier, input_left_shift)
                sum_of_exps_in_q12 = np.int32(np.int64(sum_of_exps_in_q12) + rescale(
                    exp_on_negative_values(input_diff_in_q5, INPUT_INTEGER_BITS), 0,
                    ACCUMULATION_INTEGER_BITS))

        log_sum_of_exps_in_q5 = log_x_for_x_greater_than_or_equal_to_1(
            sum_of_exps_in_q12, INPUT_INTEGER_BITS, ACCUMULATION_INTEGER_BITS)

        shifted_log_sum_of_exps_in_q5 = np.int32(np.int64(log_sum_of_exps_in_q5) + INT32_MIN)
        adjusted_diff_min = max(
            np.int32(diff_min - 1),
            multiply_by_quantized_multiplier(shifted_log_sum_of_exps_in_q5,
                                             reverse_scaling_divisor,
                                             -reverse_scaling_right_shift))

        for inner_index in range(depth):
            input_diff = np.int32(input_data[outer_index, inner_index]) - max_in_row
            # > here where the sum used >=, as TFLM does
            if input_diff > adjusted_diff_min:
                input_diff_in_q5 = multiply_by_quantized_multiplier(
                    input_diff, input_multiplier, input_left_shift)
                output_in_q27 = np.int64(rounding_divide_by_pot(
                    np.int32(np.int64(input_diff_in_q5) - log_sum_of_exps_in_q5),
                    31 - INPUT_INTEGER_BITS - OUTPUT_INTEGER_BITS)) + 127
                output_data[outer_index, inner_index] = max(min(output_in_q27, 127), -128)
            else:
                output_data[outer_index, inner_index] = -128


@njit(cache=True)
def _log_softmax_float(input_data, output_data):
    outer_size, depth = input_data.shape
    for i in range(outer_size):
        mx = row_max_float(input_data, i)
        total = np.float32(0.0)
        for c in range(depth):
            total = np.float32(total + np.float32(math.exp(np.float32(input_data[i, c] - mx))))
        log_sum = np.float32(math.log(total))
        for c in range(depth):
            output_data[i, c] = np.float32(np.float32(input_data[i, c] - mx) - log_sum)
