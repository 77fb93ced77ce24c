"""MEAN, int8: TFLM's EvalIntegerMean -> reference_ops::QuantizedMeanOrSum (compute_sum false).

The TFLM this project pins (tflite-micro 2026) has one int8 path for every case (no
4-D axes-1,2 special case, no separate same-quantization path; measured against it):
int32 sums of the raw int8 values over the resolved axes (negative axes wrapped,
duplicates dropped), then per output

    shifted_sum = sum - input_zero_point * n          (n = elements per output)
    output = MultiplyByQuantizedMultiplier(shifted_sum, M', s') + output_zero_point

clamped to int8, where (M, s) = QuantizeMultiplier(input_scale / output_scale) and 1/n is
folded in: k = min(floor(log2 n), 32, 31 + s), M' = (M << k) / n, s' = s - k.
TFLM keeps the index and the resolved axes in fixed stack arrays (kMaxNumberOfAxis 5,
kMaxNumberOfReducedAxis 2); larger inputs or more axes overflow them, so tinysim rejects
them instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._conv_common import require_int8_activation, tensor_desc
from .common import op_where
from .quantization import multiply_by_quantized_multiplier, quantize_multiplier

OPCODES = ("MEAN",)
MAX_INPUT_DIMS = 5     # TFLM kMaxNumberOfAxis
MAX_REDUCED_AXES = 2   # TFLM kMaxNumberOfReducedAxis


@dataclass(frozen=True, eq=False)
class MeanParams:
    input_shape5: tuple[int, ...]     # the input shape with leading 1s to 5 dimensions
    reduced5: np.ndarray              # bool per dimension of input_shape5
    num_elements_in_axis: int
    input_zero_point: int
    output_multiplier: int            # with 1/num_elements_in_axis folded in
    output_shift: int
    output_zero_point: int


def resolve_axes(axes, rank: int, where: str = "") -> tuple[int, ...]:
    """reference_ops::ResolveAxis: negative axes wrapped, duplicates dropped, order kept."""
    resolved: list[int] = []
    for a in (int(v) for v in np.asarray(axes).reshape(-1)):
        current = a + rank if a < 0 else a
        if not 0 <= current < rank:
            raise UnsupportedError(f"{where}axis {a} is out of range for a {rank}-D input; "
                                   "TFLM fails the op — fix the axis constant")
        if current not in resolved:
            resolved.append(current)
    return tuple(resolved)


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keep_dims: bool):
    if keep_dims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def mean_params(input_shape: tuple[int, ...], axes: tuple[int, ...], input_scale: float,
                input_zero_point: int, output_scale: float, output_zero_point: int,
                where: str = "") -> MeanParams:
    """PrepareMeanOrSum plus QuantizedMeanOrSum's folding of 1/n into the multiplier."""
    if len(input_shape) > MAX_INPUT_DIMS:
        raise UnsupportedError(
            f"{where}the input has {len(input_shape)} dimensions; TFLM's MEAN indexes at most "
            f"{MAX_INPUT_DIMS} (kMaxNumberOfAxis) — reshape to fewer dimensions first")
    if len(axes) > MAX_REDUCED_AXES:
        raise UnsupportedError(
            f"{where}MEAN over {len(axes)} distinct axes {axes}; TFLM resolves at most "
            f"{MAX_REDUCED_AXES} (kMaxNumberOfReducedAxis) — split it into successive MEANs")
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale))
                                            / float(np.float32(output_scale)))
    n = int(np.prod([input_shape[a] for a in axes], dtype=np.int64))
    if n > 0:
        k = min(n.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << k) // n
        shift -= k
    pad = MAX_INPUT_DIMS - len(input_shape)
    reduced = np.array([False] * pad + [d in axes for d in range(len(input_shape))])
    return MeanParams((1,) * pad + tuple(input_shape), reduced, n, input_zero_point,
                      multiplier, shift, output_zero_point)


def prepare(graph: Graph, op: Operator) -> MeanParams:
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if len(ins) != 2 or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 2 inputs (input, axis) and 1 output, has inputs "
                         f"{op.inputs} and outputs {op.outputs}; the model is malformed")
    inp, axis, out = ins[0], ins[1], graph.tensor(op.outputs[0])
    if axis.dtype != "int32":
        raise UnsupportedError(f"{where}axis {tensor_desc(axis)} is {axis.dtype}; TFLM "
                               "requires int32 axes")
    # an empty axis list has no data to store, so a .tflite file cannot mark it constant
    if not axis.is_constant and axis.size:
        raise UnsupportedError(f"{where}axis {tensor_desc(axis)} is computed at run time; "
                               "tinysim needs the axes as a constant in the model")
    in_scale, in_zp = require_int8_activation(where, inp, "input")
    out_scale, out_zp = require_int8_activation(where, out, "output")
    axes = resolve_axes(axis.data if axis.size else (), len(inp.shape), where)
    keep_dims = bool(op.options.get("keep_dims", False))
    expected = reduced_shape(inp.shape, axes, keep_dims)
    if tuple(out.shape) != expected:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} has shape {out.shape}; MEAN of {inp.shape} over "
            f"axes {axes} with keep_dims={keep_dims} gives {expected}; the model is malformed")
    return mean_params(inp.shape, axes, in_scale, in_zp, out_scale, out_zp, where)


def evaluate(params: MeanParams, inputs, outputs) -> None:
    p = params
    out = output_view(outputs[0])
    if p.num_elements_in_axis == 0:
        out[:] = 0  # TFLM leaves its zero-initialized output when nothing is averaged
        return
    _mean_engine(inputs[0].reshape(p.input_shape5), p.reduced5, p.num_elements_in_axis,
                 p.input_zero_point, p.output_multiplier, p.output_shift,
                 p.output_zero_point, out)


def mean(input: np.ndarray, axis, *, keep_dims: bool, input_scale: float,
         input_zero_point: int, output_scale: float, output_zero_point: int) -> np.ndarray:
    """Quantized MEAN of a plain int8 array over ``axis`` (int or sequence), as TFLM does it."""
    input = np.ascontiguousarray(input)
    if input.dtype != np.int8:
        raise ShapeError(f"mean needs an int8 array, got {input.dtype}")
    axes = resolve_axes(axis, input.ndim, "mean: ")
    params = mean_params(input.shape, axes, input_scale, int(input_zero_point), output_scale,
                         int(output_zero_point), "mean: ")
    out = np.empty(reduced_shape(input.shape, axes, keep_dims), np.int8)
    evaluate(params, [input], [out])
    return out


@njit(cache=True)
def _mean_engine(input_data, reduced, num_elements_in_axis, input_zero_point,
                 output_multiplier, output_shift, output_zero_point, output_data):
    dims = input_data.shape
    # ReducedOutputOffset: row-major over the kept dimensions, reduced ones skipped
    out_strides = np.zeros(5, np.int64)
    acc = 1
    for d in range(4, -1, -1):
        if not reduced[d]:
            out_strides[d] = acc
            acc *= dims[d]
    temp_sum = np.zeros(output_data.size, np.int32)
    for i0 in range(dims[0]):
        for i1 in range(dims[1]):
            for i2 in range(dims[2]):
                for i3 in range(dims[3]):
                    for i4 in range(dims[4]):
                        o = (i0 * out_strides[0] + i1 * out_strides[1] + i2 * out_strides[2]
                             + i3 * out_strides[3] + i4 * out_strides[4])
                        # int32 wraps like TFLM's AddTensorValuesWithExpectedOverflow
                        temp_sum[o] = np.int32(temp_sum[o] + input_data[i0, i1, i2, i3, i4])
    for idx in range(output_data.size):
        shifted_sum = np.int32(np.int64(temp_sum[idx])
                               - np.int64(input_zero_point) * num_elements_in_axis)
        output = np.int32(multiply_by_quantized_multiplier(shifted_sum, output_multiplier,
                                                           output_shift) + output_zero_point)
        output = min(max(output, np.int32(-128)), np.int32(127))
        output_data[idx] = np.int8(output)
