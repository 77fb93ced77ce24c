"""DEQUANTIZE: TFLM reference_ops::Dequantize, int8/int16/uint8 -> float32.

Per element: static_cast<float>(scale * (x - zero_point)) with the scale widened to double
— the product is formed in double and rounded to float once, as TFLM does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, output_view, per_tensor_quant,
                                 require_dtype, unary_tensors)
from .common import DTYPE_RANGE, op_where

OPCODES = ("DEQUANTIZE",)


@dataclass(frozen=True)
class DequantizeParams:
    scale: float
    zero_point: int


def prepare(graph: Graph, op: Operator) -> DequantizeParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    require_dtype(where, inp, "input", ("int8", "int16", "uint8"),
                  "int8, int16 and uint8 input (float16 DEQUANTIZE is not implemented)")
    require_dtype(where, out, "output", ("float32",), "float32 output")
    scale, zp = per_tensor_quant(where, inp, "input")
    return DequantizeParams(scale, zp)


def evaluate(params: DequantizeParams, inputs, outputs) -> None:
    _dequantize(inputs[0].reshape(-1), np.float64(params.scale), params.zero_point,
                output_view(outputs[0]))


def dequantize(input: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    x = check_array("dequantize", input, ("int8", "int16", "uint8"))
    lo, hi = DTYPE_RANGE[x.dtype.name]
    if not lo <= zero_point <= hi:
        raise ShapeError(f"dequantize: zero point {zero_point} is outside {x.dtype}'s range")
    out = np.empty(x.shape, np.float32)
    evaluate(DequantizeParams(float(np.float32(scale)), int(zero_point)), [x], [out])
    return out


@njit(cache=True)
def _dequantize(input_data, scale, zero_point, output_data):
    for i in range(input_data.size):
        val = np.int32(input_data[i])
        output_data[i] = np.float32(scale * np.float64(val - zero_point))
