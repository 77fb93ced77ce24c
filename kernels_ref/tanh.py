"""TANH, int8: TFLM reference_integer_ops::Tanh (gemmlowp fixed point, no LUT).

Prepare (TFLM tanh CalculateArithmeticOpData) is the logistic one: frexp of the input
scale times 2^27 (kInputIntegerBits = 4) gives input_multiplier / input_left_shift, and
input_range_radius = CalculateInputRadius(4, input_left_shift, 31). The output is taken
to be scale 1/128, zero point 0; TFLM checks neither, so neither does this.

Eval: input - zero point at or below -radius gives -128, at or above +radius 127; in
between it is rescaled to Q4.27, goes through gemmlowp::tanh, and RoundingDivideByPOT(
result, 24) is clamped to int8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant, require_dtype,
                                 tensor_desc, unary_tensors)
from ._fixedpoint import calculate_input_radius, rounding_divide_by_pot, tanh as fixedpoint_tanh
from ._sigmoid_common import frexp_input_multiplier
from .common import op_where
from .quantization import multiply_by_quantized_multiplier

OPCODES = ("TANH",)

INPUT_INTEGER_BITS = 4
OUTPUT_SCALE_BITS = 7


@dataclass(frozen=True)
class TanhParams:
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def tanh_params(input_scale: float, input_zero_point: int) -> TanhParams:
    """TFLM's Prepare values; ValueError for input scales below 2^-28."""
    multiplier, left_shift = frexp_input_multiplier(input_scale, INPUT_INTEGER_BITS)
    return TanhParams(int(input_zero_point),
                      calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31),
                      multiplier, left_shift)


def prepare(graph: Graph, op: Operator) -> TanhParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8",), "int8 (float and int16 TANH are not "
                  "implemented)")
    require_dtype(where, out, "output", ("int8",), "int8 output for int8 input")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    try:
        return tanh_params(in_scale, in_zp)
    except ValueError as exc:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)}: {exc}") from None


def evaluate(params: TanhParams, inputs, outputs) -> None:
    _tanh_int8(inputs[0].reshape(-1), params.input_zero_point, params.input_range_radius,
               params.input_multiplier, params.input_left_shift, output_view(outputs[0]))


def tanh(input: np.ndarray, input_scale: float, input_zero_point: int) -> np.ndarray:
    """int8 tanh; the output is quantized with scale 1/128, zero point 0."""
    x = check_array("tanh", input, ("int8",))
    if not -128 <= input_zero_point <= 127:
        raise ShapeError(f"tanh: input_zero_point {input_zero_point} is outside int8")
    p = tanh_params(input_scale, input_zero_point)
    out = np.empty(x.shape, np.int8)
    evaluate(p, [x], [out])
    return out


@njit(cache=True)
def _tanh_int8(input_data, input_zero_point, input_range_radius, input_multiplier,
               input_shift, output_data):
    for i in range(input_data.size):
        input = np.int32(input_data[i]) - input_zero_point
        if input <= -input_range_radius:
            output_data[i] = -128
        elif input >= input_range_radius:
            output_data[i] = 127
        else:
            input_in_q4 = multiply_by_quantized_multiplier(input, input_multiplier, input_shift)
            output_in_q0 = fixedpoint_tanh(input_in_q4, INPUT_INTEGER_BITS)
            output_in_q24 = rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_SCALE_BITS)
            output_data[i] = min(max(output_in_q24, -128), 127)
