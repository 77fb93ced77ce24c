"""RELU6, int8 and int16: TFLM Relu6Quantized — a clamp in the *input's* quantization.

Prepare (TFLM Relu6Prepare): zero = input zero point, six = FloatToQuantizedType(6.0,
input_scale, input_zero_point). TFLM never looks at the output's scale or zero point: the
clamped input values are written as they are, so a model whose output quantization
differs from its input's gets TFLM's (unrescaled) values here too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, float_to_int32_x86, output_view,
                                 per_tensor_quant, require_dtype, unary_tensors)
from .common import DTYPE_RANGE, op_where
from .quantization import round_half_away

OPCODES = ("RELU6",)


@dataclass(frozen=True)
class Relu6Params:
    zero: int
    six: int


def float_to_quantized_type(value: float, scale: float, zero_point: int, dtype: str) -> int:
    """TFLM FloatToQuantizedType: round(value / scale) in float32, + zero point, clamped."""
    q = np.float32(np.float32(value) / np.float32(scale))
    rounded = float(round_half_away(float(q))) if np.isfinite(q) else float(q)
    result = int(float_to_int32_x86(rounded + zero_point))
    lo, hi = DTYPE_RANGE[dtype]
    return min(max(result, lo), hi)


def relu6_params(input_scale: float, input_zero_point: int, dtype: str = "int8") -> Relu6Params:
    return Relu6Params(int(input_zero_point),
                       float_to_quantized_type(6.0, input_scale, input_zero_point, dtype))


def prepare(graph: Graph, op: Operator) -> Relu6Params:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8", "int16"), "int8 and int16 (float RELU6 is not "
                  "implemented)")
    require_dtype(where, out, "output", (inp.dtype,), f"{inp.dtype}, the input's type")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    return relu6_params(in_scale, in_zp, inp.dtype)


def evaluate(params: Relu6Params, inputs, outputs) -> None:
    _relu6_quantized(inputs[0].reshape(-1), params.zero, params.six, output_view(outputs[0]))


def relu6(input: np.ndarray, input_scale: float, input_zero_point: int) -> np.ndarray:
    x = check_array("relu6", input, ("int8", "int16"))
    lo, hi = DTYPE_RANGE[x.dtype.name]
    if not lo <= input_zero_point <= hi:
        raise ShapeError(f"relu6: input_zero_point must lie in {x.dtype}'s range")
    out = np.empty(x.shape, x.dtype)
    evaluate(relu6_params(input_scale, input_zero_point, x.dtype.name), [x], [out])
    return out


@njit(cache=True)
def _relu6_quantized(input_data, lower, upper, output_data):
    for i in range(input_data.size):
        val = input_data[i]
        output_data[i] = upper if val > upper else (lower if val < lower else val)
