"""LOGISTIC, int8: TFLM reference_integer_ops::Logistic (gemmlowp fixed point, no LUT).

Prepare (TFLM CalculateArithmeticOpDataLogistic): the output zero point must be -128 (the
output scale is taken to be 1/256 and not checked, as in TFLM). The input scale times
2^27 (kInputIntegerBits = 4) is split by frexp into input_multiplier (rounded Q31) and
input_left_shift, and input_range_radius = CalculateInputRadius(4, input_left_shift, 31).

Eval: input - zero point at or below -radius gives -128, at or above +radius 127; in
between it is rescaled to Q4.27 with MultiplyByQuantizedMultiplier, goes through
gemmlowp::logistic, and RoundingDivideByPOT(result, 23) - 128 is clamped to int8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view, per_tensor_quant, tensor_desc
from ._fixedpoint import logistic as fixedpoint_logistic, rounding_divide_by_pot
from ._sigmoid_common import (INPUT_INTEGER_BITS, SigmoidParams, graph_params,
                              int8_sigmoid_tensors, sigmoid_on_array, sigmoid_params)
from .quantization import multiply_by_quantized_multiplier

OPCODES = ("LOGISTIC",)

OUTPUT_INTEGER_BITS = 8
OUTPUT_ZERO_POINT = -128


@dataclass(frozen=True)
class LogisticParams(SigmoidParams):
    """TFLM's OpDataLogistic."""


def logistic_params(input_scale: float, input_zero_point: int) -> LogisticParams:
    """TFLM's Prepare values; ValueError for input scales below 2^-28 (TFLM would shift by
    a negative amount there)."""
    return sigmoid_params(LogisticParams, input_scale, input_zero_point)


def prepare(graph: Graph, op: Operator) -> LogisticParams:
    where, inp, out, in_scale, in_zp = int8_sigmoid_tensors(graph, op, "LOGISTIC")
    _, out_zp = per_tensor_quant(where, out, "output")
    if out_zp != OUTPUT_ZERO_POINT:
        raise UnsupportedError(
            f"{where}output {tensor_desc(out)} has zero point {out_zp}; TFLM's int8 logistic "
            "needs zero point -128 (scale 1/256) — re-export with the converter's default")
    return graph_params(where, inp, logistic_params, in_scale, in_zp)


def evaluate(params: LogisticParams, inputs, outputs) -> None:
    _logistic_int8(inputs[0].reshape(-1), params.input_zero_point, params.input_range_radius,
                   params.input_multiplier, params.input_left_shift, output_view(outputs[0]))


def logistic(input: np.ndarray, input_scale: float, input_zero_point: int) -> np.ndarray:
    """int8 logistic; the output is quantized with scale 1/256, zero point -128."""
    return sigmoid_on_array("logistic", input, input_scale, input_zero_point, logistic_params,
                            evaluate)


@njit(cache=True)
def _logistic_int8(input_data, input_zero_point, input_range_radius, input_multiplier,
                   input_left_shift, output_data):
    for i in range(input_data.size):
        input = np.int32(input_data[i]) - input_zero_point
        if input <= -input_range_radius:
            output_data[i] = -128
        elif input >= input_range_radius:
            output_data[i] = 127
        else:
            input_in_q4 = multiply_by_quantized_multiplier(input, input_multiplier,
                                                           input_left_shift)
            output_in_q0 = fixedpoint_logistic(input_in_q4, INPUT_INTEGER_BITS)
            output_in_q23 = rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_INTEGER_BITS)
            output_data[i] = min(max(np.int64(output_in_q23) + OUTPUT_ZERO_POINT, -128), 127)
