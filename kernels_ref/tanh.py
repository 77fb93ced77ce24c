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

from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._fixedpoint import rounding_divide_by_pot, tanh as fixedpoint_tanh
from ._sigmoid_common import (INPUT_INTEGER_BITS, SigmoidParams, graph_params,
                              int8_sigmoid_tensors, sigmoid_on_array, sigmoid_params)
from .quantization import multiply_by_quantized_multiplier

OPCODES = ("TANH",)

OUTPUT_SCALE_BITS = 7


@dataclass(frozen=True)
class TanhParams(SigmoidParams):
    """TFLM's tanh OpData."""


def tanh_params(input_scale: float, input_zero_point: int) -> TanhParams:
    """TFLM's Prepare values; ValueError for input scales below 2^-28."""
    return sigmoid_params(TanhParams, input_scale, input_zero_point)


def prepare(graph: Graph, op: Operator) -> TanhParams:
    where, inp, _, in_scale, in_zp = int8_sigmoid_tensors(graph, op, "TANH")
    return graph_params(where, inp, tanh_params, in_scale, in_zp)


def evaluate(params: TanhParams, inputs, outputs) -> None:
    _tanh_int8(inputs[0].reshape(-1), params.input_zero_point, params.input_range_radius,
               params.input_multiplier, params.input_left_shift, output_view(outputs[0]))


def tanh(input: np.ndarray, input_scale: float, input_zero_point: int) -> np.ndarray:
    """int8 tanh; the output is quantized with scale 1/128, zero point 0."""
    return sigmoid_on_array("tanh", input, input_scale, input_zero_point, tanh_params,
                            evaluate)


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
