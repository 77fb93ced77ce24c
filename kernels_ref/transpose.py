"""TRANSPOSE: TFLM reference_ops::Transpose, 1-D to 5-D, float32/int8/int16.

The permutation is the constant int32 second input: output dimension k is input
dimension perm[k]. TFLM extends both shapes to 5-D with leading 1s (shifting perm by the
padding) and, for each output index in row-major order, reads the input at the index
permuted back; the quantization is not touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._conv_common import tensor_desc
from .common import op_where

OPCODES = ("TRANSPOSE",)
MAX_DIMS = 5  # TFLM TransposePrepare: "only supports 1D-5D input arrays"
DTYPES = ("float32", "int8", "int16")


@dataclass(frozen=True, eq=False)
class TransposeParams:
    input_shape5: tuple[int, ...]
    output_shape5: tuple[int, ...]
    perm_strides5: np.ndarray  # int64: input stride of the dimension output dim k reads


def transpose_params(input_shape, perm, where: str = "") -> TransposeParams:
    rank = len(input_shape)
    perm = [int(p) for p in np.asarray(perm).reshape(-1)]
    if not 1 <= rank <= MAX_DIMS:
        raise UnsupportedError(f"{where}the input has {rank} dimensions; TFLM transposes 1-D "
                               f"to {MAX_DIMS}-D arrays only")
    if sorted(perm) != list(range(rank)):
        raise UnsupportedError(f"{where}perm {perm} is not a permutation of 0..{rank - 1}; "
                               "TFLM rejects out-of-range entries — fix the perm constant")
    pad = MAX_DIMS - rank
    in5 = (1,) * pad + tuple(int(d) for d in input_shape)
    ext_perm = list(range(pad)) + [p + pad for p in perm]
    strides = np.zeros(MAX_DIMS, np.int64)
    acc = 1
    for d in range(MAX_DIMS - 1, -1, -1):
        strides[d] = acc
        acc *= in5[d]
    out5 = tuple(in5[p] for p in ext_perm)
    return TransposeParams(in5, out5, np.array([strides[p] for p in ext_perm], np.int64))


def prepare(graph: Graph, op: Operator) -> TransposeParams:
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if len(ins) != 2 or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 2 inputs (input, perm) and 1 output, has inputs "
                         f"{op.inputs} and outputs {op.outputs}; the model is malformed")
    inp, perm, out = ins[0], ins[1], graph.tensor(op.outputs[0])
    if inp.dtype != out.dtype or inp.dtype not in DTYPES:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)} is {inp.dtype} and output "
                               f"{tensor_desc(out)} {out.dtype}; TFLM transposes "
                               f"{', '.join(DTYPES)} with equal input and output types")
    if perm.dtype != "int32" or not perm.is_constant or len(perm.shape) != 1:
        raise UnsupportedError(f"{where}perm {tensor_desc(perm)} must be a constant 1-D int32 "
                               "tensor (TFLM reads it at Prepare)")
    params = transpose_params(inp.shape, perm.data, where)
    expected = params.output_shape5[MAX_DIMS - len(inp.shape):]
    if tuple(out.shape) != expected:
        raise ShapeError(f"{where}output {tensor_desc(out)} has shape {out.shape}; permuting "
                         f"{inp.shape} by {perm.data.tolist()} gives {expected}; the model is "
                         "malformed")
    return params


def evaluate(params: TransposeParams, inputs, outputs) -> None:
    p = params
    _transpose_engine(inputs[0].reshape(-1), p.output_shape5, p.perm_strides5,
                      output_view(outputs[0], p.output_shape5))


def transpose(input: np.ndarray, perm) -> np.ndarray:
    """``input`` with its dimensions permuted (output dim k = input dim perm[k])."""
    input = np.ascontiguousarray(input)
    if input.dtype.name not in DTYPES:
        raise ShapeError(f"transpose handles {', '.join(DTYPES)}, got {input.dtype}")
    params = transpose_params(input.shape, perm, "transpose: ")
    out = np.empty(params.output_shape5[MAX_DIMS - input.ndim:], input.dtype)
    evaluate(params, [input], [out])
    return out


@njit(cache=True)
def _transpose_engine(input_data, output_shape, perm_strides, output_data):
    for i0 in range(output_shape[0]):
        for i1 in range(output_shape[1]):
            for i2 in range(output_shape[2]):
                for i3 in range(output_shape[3]):
                    for i4 in range(output_shape[4]):
                        output_data[i0, i1, i2, i3, i4] = input_data[
                            i0 * perm_strides[0] + i1 * perm_strides[1] + i2 * perm_strides[2]
                            + i3 * perm_strides[3] + i4 * perm_strides[4]]
