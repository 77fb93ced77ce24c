"""RELU, int8 and int16: TFLM ReluQuantized, which requantizes when scales differ.

Prepare (TFLM CalculateReluOpData): output multiplier / shift from QuantizeMultiplier(
input_scale / output_scale); clamp range [max(type min, output zero point), type max]
(the lower bound is zero point + roundf(0 / output_scale)). int16 needs zero points 0.

Eval: output_offset + MultiplyByQuantizedMultiplier(x - input_offset), then clamped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant,
                                 require_dtype, tensor_desc, unary_tensors)
from .common import DTYPE_RANGE, op_where
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier

OPCODES = ("RELU",)


@dataclass(frozen=True)
class ReluParams:
    input_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    quantized_activation_min: int
    quantized_activation_max: int


def relu_params(input_scale: float, input_zero_point: int, output_scale: float,
                output_zero_point: int, dtype: str = "int8") -> ReluParams:
    multiplier, shift = quantize_multiplier(
        float(input_scale) / float(output_scale))
    lo, hi = DTYPE_RANGE[dtype]
    return ReluParams(int(input_zero_point), int(output_zero_point), multiplier, shift,
                      max(lo, int(output_zero_point)), hi)


def prepare(graph: Graph, op: Operator) -> ReluParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8", "int16"), "int8 and int16 (float RELU is not "
                  "implemented)")
    require_dtype(where, out, "output", (inp.dtype,), f"{inp.dtype}, the input's type")
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    if inp.dtype == "int16" and (in_zp != 0 or out_zp != 0):
        raise UnsupportedError(
            f"{where}input {tensor_desc(inp)} / output {tensor_desc(out)} have zero points "
            f"{in_zp} / {out_zp}; TFLM's int16 RELU needs symmetric (zero point 0) tensors")
    return relu_params(in_scale, in_zp, out_scale, out_zp, inp.dtype)


def evaluate(params: ReluParams, inputs, outputs) -> None:
    p = params
    _relu_quantized(inputs[0].reshape(-1), p.input_offset, p.output_offset, p.output_multiplier,
                    p.output_shift, p.quantized_activation_min, p.quantized_activation_max,
                    output_view(outputs[0]))


def relu(input: np.ndarray, input_scale: float, input_zero_point: int, output_scale: float,
         output_zero_point: int) -> np.ndarray:
    x = check_array("relu", input, ("int8", "int16"))
    lo, hi = DTYPE_RANGE[x.dtype.name]
    if not (lo <= input_zero_point <= hi and lo <= output_zero_point <= hi):
        raise ShapeError(f"relu: zero points must lie in {x.dtype}'s range")
    out = np.empty(x.shape, x.dtype)
    evaluate(relu_params(input_scale, input_zero_point, output_scale, output_zero_point,
                         x.dtype.name), [x], [out])
    return out


@njit(cache=True)
def _relu_quantized(input_data, input_offset, output_offset, output_multiplier, output_shift,
                    quantized_activation_min, quantized_activation_max, output_data):
    for i in range(input_data.size):
        val = np.int32(input_data[i])
        clamped = np.int32(np.int64(output_offset) + multiply_by_quantized_multiplier(
            val - input_offset, output_multiplier, output_shift))
        clamped = max(np.int32(quantized_activation_min), clamped)
        clamped = min(np.int32(quantized_activation_max), clamped)
        output_data[i] = clamped
