"""QUANTIZE: TFLM's reference quantize kernel — float32 -> int8/int16 (AffineQuantize) and
integer requantization (Requantize) between the type pairs TFLM's Eval accepts.

AffineQuantize, per element: TfLiteRound(value / (float)scale) — a float32 division and
round-half-away-from-zero — cast to int32, + zero point, clamped. The float -> int32 cast
is what x86 does with TFLM's out-of-range values: NaN, inf and anything beyond int32 become
INT32_MIN (so a huge positive input lands on the type's minimum, or — with a negative
zero point, after int32 wrap-around — on its maximum), reproduced here on purpose.

Requantize: multiplier / shift from QuantizeMultiplier(input_scale / output_scale); per
element MultiplyByQuantizedMultiplier(x - input zero point) + output zero point, clamped.
(TFLM's int8 <-> uint8 XOR-0x80 fast path gives the same values as this general path.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import (check_array, float_to_int32_x86, output_view,
                                 per_tensor_quant, require_dtype, unary_tensors)
from .common import DTYPE_RANGE, op_where
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier

OPCODES = ("QUANTIZE",)

# (input dtype, output dtype) pairs TFLM's EvalQuantizeReference implements
REQUANTIZE_PAIRS = frozenset({
    ("int32", "int8"), ("int32", "int16"),
    ("int16", "int8"), ("int16", "int16"), ("int16", "int32"),
    ("int8", "int8"), ("int8", "uint8"), ("int8", "int16"), ("int8", "int32"),
    ("uint8", "int8"),
})
AFFINE_OUTPUTS = ("int8", "int16")


@dataclass(frozen=True)
class QuantizeParams:
    input_dtype: str
    output_dtype: str
    output_scale: float       # float input: the output scale (TFLM keeps it as double)
    output_zero_point: int
    input_zero_point: int     # requantize
    requantize_output_multiplier: int
    requantize_output_shift: int


def _supported_text() -> str:
    pairs = ", ".join(f"{a} -> {b}" for a, b in sorted(REQUANTIZE_PAIRS))
    return f"float32 -> int8/int16 and {pairs}"


def prepare(graph: Graph, op: Operator) -> QuantizeParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where)
    if inp.dtype == "float32":
        require_dtype(where, out, "output", AFFINE_OUTPUTS, _supported_text())
    elif (inp.dtype, out.dtype) not in REQUANTIZE_PAIRS:
        raise UnsupportedError(f"{where}{inp.dtype} input (tensor {inp.index}, {inp.name}) to "
                               f"{out.dtype} output (tensor {out.index}, {out.name}) is not a "
                               f"QUANTIZE TFLM implements; supported: {_supported_text()}")
    out_scale, out_zp = per_tensor_quant(where, out, "output")
    if inp.dtype == "float32":
        return QuantizeParams("float32", out.dtype, out_scale, out_zp, 0, 0, 0)
    in_scale, in_zp = per_tensor_quant(where, inp, "input")
    mult, shift = quantize_multiplier(in_scale / out_scale)
    return QuantizeParams(inp.dtype, out.dtype, out_scale, out_zp, in_zp, mult, shift)


def evaluate(params: QuantizeParams, inputs, outputs) -> None:
    p = params
    lo, hi = DTYPE_RANGE[p.output_dtype]
    x, out = inputs[0].reshape(-1), output_view(outputs[0])
    if p.input_dtype == "float32":
        _affine_quantize(x, np.float32(p.output_scale), p.output_zero_point, lo, hi, out)
    else:
        _requantize(x, p.requantize_output_multiplier, p.requantize_output_shift,
                    p.input_zero_point, p.output_zero_point, lo, hi, out)


def quantize(input: np.ndarray, output_scale: float, output_zero_point: int,
             output_dtype="int8", input_scale: float | None = None,
             input_zero_point: int = 0) -> np.ndarray:
    """float32 -> int8/int16, or requantize an integer array (give its input_scale/zero
    point) into ``output_dtype`` with TFLM's arithmetic."""
    x = check_array("quantize", input, ("float32", "int32", "int16", "int8", "uint8"))
    out_dtype = np.dtype(output_dtype).name
    if x.dtype.name == "float32":
        ok = out_dtype in AFFINE_OUTPUTS
    else:
        ok = (x.dtype.name, out_dtype) in REQUANTIZE_PAIRS and input_scale is not None
    if not ok or not DTYPE_RANGE[out_dtype][0] <= output_zero_point <= DTYPE_RANGE[out_dtype][1]:
        raise ShapeError(f"quantize: {x.dtype} -> {out_dtype} with zero point "
                         f"{output_zero_point} is not supported (integer input needs "
                         f"input_scale); supported: {_supported_text()}")
    if x.dtype.name == "float32":
        p = QuantizeParams("float32", out_dtype, float(output_scale), int(output_zero_point),
                           0, 0, 0)
    else:
        mult, shift = quantize_multiplier(float(input_scale) / float(output_scale))
        p = QuantizeParams(x.dtype.name, out_dtype, float(output_scale), int(output_zero_point),
                           int(input_zero_point), mult, shift)
    out = np.empty(x.shape, out_dtype)
    evaluate(p, [x], [out])
    return out


@njit(cache=True, inline="always")
def round_half_away_f32(v):
    """std::round on a float: exact, halves away from zero (NaN/inf pass through)."""
    f = np.float64(v)
    t = np.float64(np.int64(f)) if abs(f) < 4503599627370496.0 else f  # |f| >= 2^52: integral
    if abs(f - t) >= 0.5:
        t += 1.0 if f > 0 else -1.0
    return t


@njit(cache=True)
def _affine_quantize(input_data, scale, zero_point, min_val, max_val, output_data):
    for i in range(input_data.size):
        val = input_data[i]
        unclamped = np.int32(np.int64(float_to_int32_x86(round_half_away_f32(
            np.float32(val / scale)))) + zero_point)
        output_data[i] = min(max(unclamped, np.int32(min_val)), np.int32(max_val))


@njit(cache=True)
def _requantize(input_data, effective_scale_multiplier, effective_scale_shift,
                input_zeropoint, output_zeropoint, min_output, max_output, output_data):
    for i in range(input_data.size):
        input = np.int32(np.int64(input_data[i]) - input_zeropoint)
        output = np.int32(np.int64(multiply_by_quantized_multiplier(
            input, effective_scale_multiplier, effective_scale_shift)) + output_zeropoint)
        output_data[i] = max(min(np.int64(output), np.int64(max_output)), np.int64(min_output))
