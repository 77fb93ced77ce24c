"""Prepare and the plain-array front end shared by the int8 LOGISTIC and TANH kernels.

TFLM prepares both alike (CalculateArithmeticOpData): frexp of the input scale times
2^(31 - kInputIntegerBits) gives input_multiplier / input_left_shift, and
input_range_radius = CalculateInputRadius(kInputIntegerBits, input_left_shift, 31).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Tensor
from ._activation_common import (check_array, per_tensor_quant, require_dtype, tensor_desc,
                                 unary_tensors)
from ._fixedpoint import calculate_input_radius
from .common import op_where
from .quantization import round_half_away

INPUT_INTEGER_BITS = 4  # kInputIntegerBits of both ops


@dataclass(frozen=True)
class SigmoidParams:
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def frexp_input_multiplier(input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLM's int8 tanh/logistic Prepare: frexp(scale * 2^(31 - integer bits)) straight into
    (TfLiteRound(q * 2^31), exponent) — not QuantizeMultiplier, so no renormalisation."""
    q, left_shift = math.frexp(float(input_scale) * float(1 << (31 - input_integer_bits)))
    if left_shift < 0:
        raise ValueError(f"input scale {input_scale!r} is below 2^-{32 - input_integer_bits}, "
                         "where TFLM's input radius shifts by a negative amount")
    return round_half_away(q * (1 << 31)), left_shift


def sigmoid_params(params_type, input_scale: float, input_zero_point: int):
    """TFLM's Prepare values as ``params_type`` (LogisticParams or TanhParams); ValueError
    for input scales below 2^-28 (TFLM would shift by a negative amount there)."""
    multiplier, left_shift = frexp_input_multiplier(input_scale, INPUT_INTEGER_BITS)
    return params_type(int(input_zero_point),
                       calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31),
                       multiplier, left_shift)


def int8_sigmoid_tensors(graph: Graph, op: Operator,
                         opcode: str) -> tuple[str, Tensor, Tensor, float, int]:
    """The int8 input and output of LOGISTIC/TANH: (where, input, output, input scale,
    input zero point)."""
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8",), f"int8 (float and int16 {opcode} are not "
                  "implemented)")
    require_dtype(where, out, "output", ("int8",), "int8 output for int8 input")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    return where, inp, out, in_scale, in_zp


def graph_params(where: str, inp: Tensor, params_for, in_scale: float, in_zp: int):
    """``params_for(scale, zero_point)``, its ValueError as the error naming the tensor."""
    try:
        return params_for(in_scale, in_zp)
    except ValueError as exc:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)}: {exc}") from None


def sigmoid_on_array(name: str, input: np.ndarray, input_scale: float,
                     input_zero_point: int, params_for, evaluate) -> np.ndarray:
    """The public logistic/tanh on a plain int8 array."""
    x = check_array(name, input, ("int8",))
    if not -128 <= input_zero_point <= 127:
        raise ShapeError(f"{name}: input_zero_point {input_zero_point} is outside int8")
    p = params_for(input_scale, input_zero_point)
    out = np.empty(x.shape, np.int8)
    evaluate(p, [x], [out])
    return out
