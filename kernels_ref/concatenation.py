"""CONCATENATION: TFLM reference_ops::Concatenation, a copy (no requantization).

TFLM's Prepare rejects a fused activation, more than 10 inputs, more than 6 dimensions
and, for int8, any input whose scale or zero point differs from the output's (exact
comparison): the int8 kernel copies bytes and never rescales. Eval: for each slice
before the axis, each input's block of ``input.shape[axis] * inner`` elements in turn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._conv_common import tensor_desc
from .common import op_where

OPCODES = ("CONCATENATION",)
MAX_INPUTS = 10  # TFLM kMaxInputNum
MAX_DIMS = 6     # TFLM RuntimeShape's static size
DTYPES = ("float32", "int8", "int16", "int32", "int64")


@dataclass(frozen=True)
class ConcatenationParams:
    outer_size: int
    copy_sizes: tuple[int, ...]  # per input: shape[axis] * elements after the axis


def concatenation_params(shapes, axis: int, where: str = "") -> tuple[ConcatenationParams, tuple]:
    """The copy plan and the output shape for inputs of ``shapes`` joined along ``axis``."""
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeError(f"{where}inputs {list(shapes)} differ in rank")
    if not -rank <= axis < rank:
        raise UnsupportedError(f"{where}axis {axis} is out of range for {rank}-D inputs")
    axis = axis + rank if axis < 0 else axis
    for s in shapes:
        if any(s[d] != shapes[0][d] for d in range(rank) if d != axis):
            raise ShapeError(f"{where}inputs {list(shapes)} differ outside axis {axis}")
    out_shape = tuple(shapes[0][:axis]) + (sum(s[axis] for s in shapes),) \
        + tuple(shapes[0][axis + 1:])
    outer = int(np.prod(out_shape[:axis], dtype=np.int64))
    inner = int(np.prod(out_shape[axis + 1:], dtype=np.int64))
    return ConcatenationParams(outer, tuple(int(s[axis]) * inner for s in shapes)), out_shape


def prepare(graph: Graph, op: Operator) -> ConcatenationParams:
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if not ins or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs inputs and 1 output, has inputs {op.inputs} and "
                         f"outputs {op.outputs}; the model is malformed")
    out = graph.tensor(op.outputs[0])
    if op.fused_activation != "NONE":
        raise UnsupportedError(f"{where}fused activation {op.fused_activation}; TFLM's "
                               "CONCATENATION takes none — apply it as a separate op")
    if len(ins) > MAX_INPUTS:
        raise UnsupportedError(f"{where}{len(ins)} inputs; TFLM concatenates at most "
                               f"{MAX_INPUTS} — split it into several CONCATENATIONs")
    for t in ins + [out]:
        if t.dtype != out.dtype or t.dtype not in DTYPES:
            raise UnsupportedError(f"{where}{tensor_desc(t)} is {t.dtype}; TFLM concatenates "
                                   f"{', '.join(DTYPES)}, all of the output's type "
                                   f"({out.dtype})")
        if len(t.shape) > MAX_DIMS:
            raise UnsupportedError(f"{where}{tensor_desc(t)} has {len(t.shape)} dimensions; "
                                   f"TFLM concatenates at most {MAX_DIMS}-D tensors")
    if out.dtype == "int8":
        _check_same_quantization(where, ins, out)
    params, expected = concatenation_params([t.shape for t in ins],
                                            int(op.options.get("axis", 0)), where)
    if tuple(out.shape) != expected:
        raise ShapeError(f"{where}output {tensor_desc(out)} has shape {out.shape}; the inputs "
                         f"concatenate to {expected}; the model is malformed")
    return params


def _check_same_quantization(where: str, ins, out) -> None:
    oq = out.quantization
    if oq is None or oq.per_channel:
        raise UnsupportedError(f"{where}output {tensor_desc(out)} needs per-tensor "
                               "quantization")
    for t in ins:
        q = t.quantization
        if q is None or q.per_channel or float(q.scale[0]) != float(oq.scale[0]) \
                or int(q.zero_point[0]) != int(oq.zero_point[0]):
            desc = "none" if q is None else \
                f"scale {float(q.scale[0]):g}, zero point {int(q.zero_point[0])}"
            raise UnsupportedError(
                f"{where}input {tensor_desc(t)} ({desc}) is not quantized exactly like the "
                f"output (scale {float(oq.scale[0]):g}, zero point {int(oq.zero_point[0])}); "
                "TFLM's int8 CONCATENATION copies bytes and rejects this — requantize the "
                "inputs to the output's parameters first")


def evaluate(params: ConcatenationParams, inputs, outputs) -> None:
    p = params
    out = output_view(outputs[0], (p.outer_size, -1))
    start = 0
    # one vectorized block copy per input: TFLM's memcpy of copy_size for every outer slice
    for x, size in zip(inputs, p.copy_sizes):
        out[:, start:start + size] = x.reshape(p.outer_size, size)
        start += size


def concatenation(inputs, axis: int) -> np.ndarray:
    """Arrays of one dtype joined along ``axis`` (negative counts from the end)."""
    inputs = [np.asarray(x) for x in inputs]
    if not inputs or any(x.dtype != inputs[0].dtype for x in inputs):
        raise ShapeError("concatenation needs at least one array, all of one dtype")
    params, shape = concatenation_params([x.shape for x in inputs], axis, "concatenation: ")
    out = np.empty(shape, inputs[0].dtype)
    evaluate(params, inputs, [out])
    return out
