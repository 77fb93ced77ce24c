"""SOFTMAX: TFLM reference_ops::Softmax, int8 -> int8, int8 -> int16 and float32.

Prepare is TFLM's SoftmaxPrepare / CalculateSoftmaxParams: an int8 output must have zero
point -128 and scale exactly 1/256, an int16 output zero point -32768 and scale 1/65536
(within 0.1%); input_multiplier / input_left_shift come from PreprocessSoftmaxScaling
(beta * input_scale * 2^26, capped at 2^31 - 1, kScaledDiffIntegerBits = 5) and
diff_min = -CalculateInputRadius(5, input_left_shift).

Eval per row (the last axis): input differences from the row maximum below diff_min
contribute nothing and give the output minimum; the others are rescaled to Q5.26, go
through gemmlowp's exp_on_negative_values, are summed in Q12.19, the sum is inverted with
GetReciprocal (one_over_one_plus_x_for_x_in_0_1), and each exp times the reciprocal is
shifted right by num_bits_over_unit + 31 - output bits, offset by the output minimum and
clamped. The float path is TFLM's float reference (expf, float32 sums).
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
from ._fixedpoint import (calculate_input_radius, exp_on_negative_values, get_reciprocal,
                          preprocess_softmax_scaling, rescale, rounding_divide_by_pot, srdhm)
from .common import op_where
from .quantization import multiply_by_quantized_multiplier_greater_than_one

OPCODES = ("SOFTMAX",)

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


@dataclass(frozen=True)
class SoftmaxParams:
    input_dtype: str       # 'int8' or 'float32'
    output_dtype: str      # 'int8', 'int16' or 'float32'
    input_multiplier: int  # quantized paths: Q31 multiplier of beta * input_scale * 2^26
    input_left_shift: int
    diff_min: int
    beta: float            # float path


def quantized_softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLM's Prepare derives them; raises
    ValueError where TFLM's QuantizeMultiplierGreaterThanOne would abort."""
    real, multiplier, left_shift = preprocess_softmax_scaling(
        float(beta), float(input_scale), SCALED_DIFF_INTEGER_BITS)
    if not real > 1.0:
        raise ValueError(f"beta * input_scale * 2^26 = {real:g} must exceed 1")
    diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    return multiplier, left_shift, diff_min


def prepare(graph: Graph, op: Operator) -> SoftmaxParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    if not inp.shape or not out.shape or inp.shape[-1] != out.shape[-1] or inp.size == 0:
        raise ShapeError(f"{where}input {tensor_desc(inp)} {inp.shape} and output "
                         f"{tensor_desc(out)} {out.shape} must be at least 1-D, non-empty, "
                         "with the same last dimension")
    require_dtype(where, inp, "input", ("int8", "float32"),
                  "int8 -> int8, int8 -> int16 and float32 -> float32 (int16 input is not "
                  "implemented)")
    beta = float(op.options.get("beta", 1.0))
    if inp.dtype == "float32":
        require_dtype(where, out, "output", ("float32",), "float32 output for float32 input")
        return SoftmaxParams("float32", "float32", 0, 0, 0, beta)
    require_dtype(where, out, "output", ("int8", "int16"),
                  "int8 or int16 output for int8 input")
    in_scale, _ = per_tensor_quant(where, inp, "input")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    if out.dtype == "int8":
        if out_zp != -128 or np.float32(out_scale) != np.float32(1.0 / 256):
            raise UnsupportedError(
                f"{where}output {tensor_desc(out)} has scale {out_scale!r} and zero point "
                f"{out_zp}; TFLM's int8 softmax needs exactly scale 1/256 and zero point "
                "-128 — re-export the model with the converter's default softmax output")
    elif out_zp != -32768 or abs(out_scale - 1.0 / 65536) > 0.001 / 65536:
        raise UnsupportedError(
            f"{where}output {tensor_desc(out)} has scale {out_scale!r} and zero point "
            f"{out_zp}; TFLM's int8 -> int16 softmax needs scale 1/65536 and zero point "
            "-32768")
    try:
        multiplier, left_shift, diff_min = quantized_softmax_params(beta, in_scale)
    except ValueError as exc:
        raise UnsupportedError(
            f"{where}input {tensor_desc(inp)} scale {in_scale!r} with beta {beta!r}: {exc}; "
            "TFLM aborts in Prepare on such a model") from None
    return SoftmaxParams("int8", out.dtype, multiplier, left_shift, diff_min, beta)


def evaluate(params: SoftmaxParams, inputs, outputs) -> None:
    x = inputs[0].reshape(-1, inputs[0].shape[-1])
    out = output_view(outputs[0], x.shape)
    if params.input_dtype == "float32":
        _softmax_float(x, np.float32(params.beta), out)
    else:
        _softmax_quantized(x, params.input_multiplier, params.input_left_shift,
                           params.diff_min, out)


def softmax(input: np.ndarray, *, input_multiplier: int = 0, input_left_shift: int = 0,
            diff_min: int = 0, beta: float = 1.0, output_dtype=None) -> np.ndarray:
    """Softmax over the last axis. int8 input: TFLM's quantized softmax with the Prepare
    values from ``quantized_softmax_params`` (output int8 by default, or int16); float32
    input: the float reference with ``beta``."""
    x = check_array("softmax", input, ("int8", "float32"))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ShapeError(f"softmax needs at least one element on the last axis, got {x.shape}")
    if x.dtype == np.float32:
        out = np.empty(x.shape, np.float32)
        _softmax_float(x.reshape(-1, x.shape[-1]), np.float32(beta), out.reshape(-1, x.shape[-1]))
        return out
    out_dtype = np.dtype(output_dtype or np.int8)
    if out_dtype not in (np.int8, np.int16):
        raise ShapeError(f"softmax: int8 input gives int8 or int16 output, not {out_dtype}")
    if not 0 <= input_left_shift <= 31 or not 0 < input_multiplier < (1 << 31) or diff_min > 0:
        raise ShapeError("softmax: take input_multiplier, input_left_shift and diff_min from "
                         "quantized_softmax_params(beta, input_scale)")
    out = np.empty(x.shape, out_dtype)
    _softmax_quantized(x.reshape(-1, x.shape[-1]), input_multiplier, input_left_shift, diff_min,
                       out.reshape(-1, x.shape[-1]))
    return out


def _softmax_quantized(x, input_multiplier, input_left_shift, diff_min, out):
    info = np.iinfo(out.dtype)
    _softmax_quantized_engine(x, input_multiplier, input_left_shift, diff_min, info.min,
                              info.max, info.bits, out)


@njit(cache=True)
def _softmax_quantized_engine(input_data, input_beta_multiplier, input_beta_left_shift,
                              diff_min, out_min, out_max, out_bits, output_data):
    outer_size, depth = input_data.shape
    for i in range(outer_size):
        max_in_row = np.int32(-128)
        for c in range(depth):
            max_in_row = max(max_in_row, np.int32(input_data[i, c]))

        sum_of_exps = np.int32(0)  # Q12.19
        for c in range(depth):
            input_diff = np.int32(input_data[i, c]) - max_in_row
            if input_diff >= diff_min:
                input_diff_rescaled = multiply_by_quantized_multiplier_greater_than_one(
                    input_diff, input_beta_multiplier, input_beta_left_shift)
                exp_q0 = exp_on_negative_values(input_diff_rescaled, SCALED_DIFF_INTEGER_BITS)
                sum_of_exps = np.int32(np.int64(sum_of_exps) + rescale(
                    exp_q0, 0, ACCUMULATION_INTEGER_BITS))

        shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps,
                                                           ACCUMULATION_INTEGER_BITS)
        exponent = num_bits_over_unit + 31 - out_bits

        for c in range(depth):
            input_diff = np.int32(input_data[i, c]) - max_in_row
            if input_diff >= diff_min:
                input_diff_rescaled = multiply_by_quantized_multiplier_greater_than_one(
                    input_diff, input_beta_multiplier, input_beta_left_shift)
                exp_in_0 = exp_on_negative_values(input_diff_rescaled, SCALED_DIFF_INTEGER_BITS)
                unsat_output = rounding_divide_by_pot(srdhm(shifted_scale, exp_in_0), exponent)
                shifted_output = np.int64(unsat_output) + out_min
                output_data[i, c] = max(min(shifted_output, out_max), out_min)
            else:
                output_data[i, c] = out_min


@njit(cache=True)
def _softmax_float(input_data, beta, output_data):
    outer_size, depth = input_data.shape
    for i in range(outer_size):
        mx = row_max_float(input_data, i)
        total = np.float32(0.0)
        for c in range(depth):
            exp_c = np.float32(math.exp(np.float32(np.float32(input_data[i, c] - mx) * beta)))
            output_data[i, c] = exp_c
            total = np.float32(total + exp_c)
        for c in range(depth):
            output_data[i, c] = np.float32(output_data[i, c] / total)
