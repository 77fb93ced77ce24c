"""Prepare checks shared by the elementwise activation and (de)quantize ops."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Tensor
from .common import DTYPE_RANGE, tensor_desc


def unary_tensors(graph: Graph, op: Operator, where: str,
                  same_shape: bool = True) -> tuple[Tensor, Tensor]:
    """The one input and one output of an elementwise op (TFLM's NumInputs/NumOutputs == 1)."""
    if len(op.inputs) != 1 or op.inputs[0] < 0 or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs exactly 1 input and 1 output, has inputs {op.inputs} "
                         f"and outputs {op.outputs}; the model is malformed")
    inp, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if same_shape and inp.size != out.size:
        raise ShapeError(f"{where}input {tensor_desc(inp)} has shape {inp.shape} but output "
                         f"{tensor_desc(out)} has shape {out.shape}; an elementwise op needs "
                         "as many output elements as input elements — the model is malformed")
    return inp, out


def require_dtype(where: str, t: Tensor, role: str, allowed: tuple[str, ...],
                  supported: str) -> None:
    if t.dtype not in allowed:
        raise UnsupportedError(f"{where}{role} {tensor_desc(t)} is {t.dtype}; supported: "
                               f"{supported}")


def per_tensor_quant(where: str, t: Tensor, role: str) -> tuple[float, int]:
    """(scale, zero_point) of a per-tensor quantized tensor, zero point in the dtype's range."""
    q = t.quantization
    if q is None or q.scale.size == 0:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} ({t.dtype}) has no quantization parameters; "
            "quantized tensors need a scale and zero point — re-export with full integer "
            "quantization")
    if q.per_channel:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} is quantized per channel ({q.scale.size} "
            "scales); this op takes per-tensor quantization only, as in TFLM")
    scale, zp = float(q.scale[0]), int(q.zero_point[0])
    lo, hi = DTYPE_RANGE.get(t.dtype, (-(1 << 31), (1 << 31) - 1))
    if not lo <= zp <= hi:
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} has zero point {zp} outside {t.dtype}'s range; "
            "the model is malformed — re-export it")
    if not (math.isfinite(scale) and scale > 0.0):
        raise UnsupportedError(
            f"{where}{role} {tensor_desc(t)} has scale {scale}; scales must be positive and "
            "finite — the model is malformed")
    return scale, zp


def check_array(name: str, x: np.ndarray, dtypes: tuple[str, ...]) -> np.ndarray:
    """Validation for the public plain-array functions."""
    x = np.ascontiguousarray(x)
    if x.dtype.name not in dtypes:
        raise ShapeError(f"{name} takes {' or '.join(dtypes)} arrays, got {x.dtype}")
    return x


def output_view(out: np.ndarray, shape: tuple[int, ...] = (-1,)) -> np.ndarray:
    """``out`` reshaped for an engine. evaluate() writes its outputs in place, and reshaping
    a non-contiguous array would silently give a copy, so that is refused."""
    if not out.flags.c_contiguous:
        raise ShapeError("evaluate() writes outputs in place: pass C-contiguous output arrays")
    return out.reshape(shape)


@njit(cache=True, inline="always")
def float_to_int32_x86(v):
    """static_cast<int32_t>(float or double) as compiled for x86 (cvtt*2si): truncation, and
    the 'integer indefinite' INT32_MIN for NaN and anything outside int32's range."""
    f = np.float64(v)
    if not (f > -2147483649.0 and f < 2147483648.0):
        return np.int32(-2147483648)
    return np.int32(np.int64(f))


@njit(cache=True, inline="always")
def row_max_float(input_data, i):
    """The float SOFTMAX/LOG_SOFTMAX row maximum as TFLM takes it: from
    numeric_limits<float>::lowest() by std::max (a NaN never replaces the running max)."""
    mx = np.float32(-3.4028234663852886e38)
    for c in range(input_data.shape[1]):
        v = input_data[i, c]
        mx = v if mx < v else mx  # std::max(mx, v)
    return mx
