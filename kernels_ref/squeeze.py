"""SQUEEZE: TFLM checks the squeezed dimensions and copies the bytes.

squeeze_dims (negative ones wrapped) must each name a size-1 dimension; with none
given, every size-1 dimension goes. TFLM allows at most 8 input dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view, unary_tensors
from ._conv_common import tensor_desc
from .common import op_where

OPCODES = ("SQUEEZE",)
MAX_DIMS = 8  # TFLM max_squeeze_dims


@dataclass(frozen=True)
class SqueezeParams:
    output_shape: tuple[int, ...]


def squeezed_shape(shape: tuple[int, ...], squeeze_dims, where: str = "") -> tuple[int, ...]:
    """TFLM SqueezePrepare's should_squeeze rule applied to ``shape``."""
    rank = len(shape)
    if rank > MAX_DIMS:
        raise UnsupportedError(f"{where}the input has {rank} dimensions; TFLM squeezes at "
                               f"most {MAX_DIMS}")
    dims = [int(d) for d in squeeze_dims]
    if not dims:
        squeeze = {d for d in range(rank) if shape[d] == 1}
    else:
        squeeze = set()
        for d in dims:
            current = d + rank if d < 0 else d
            if not (0 <= current < rank and shape[current] == 1):
                raise UnsupportedError(
                    f"{where}squeeze_dims {dims} names dimension {d}, which is not a size-1 "
                    f"dimension of {shape}; TFLM rejects it — fix the option")
            squeeze.add(current)
    return tuple(n for d, n in enumerate(shape) if d not in squeeze)


def prepare(graph: Graph, op: Operator) -> SqueezeParams:
    where = op_where(graph, op)
    inp, out = unary_tensors(graph, op, where, same_shape=False)
    if inp.dtype != out.dtype:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)} is {inp.dtype} but output "
                               f"{tensor_desc(out)} is {out.dtype}; SQUEEZE cannot convert")
    expected = squeezed_shape(inp.shape, op.options.get("squeeze_dims", ()), where)
    if tuple(out.shape) != expected:
        raise ShapeError(f"{where}output {tensor_desc(out)} has shape {out.shape}; squeezing "
                         f"{inp.shape} gives {expected}; the model is malformed")
    return SqueezeParams(expected)


def evaluate(params: SqueezeParams, inputs, outputs) -> None:
    # a plain byte copy, as TFLM's memcpy: no engine needed
    output_view(outputs[0])[:] = inputs[0].reshape(-1)


def squeeze(input: np.ndarray, squeeze_dims=()) -> np.ndarray:
    """A copy of ``input`` without the size-1 dimensions ``squeeze_dims`` (all if empty)."""
    input = np.asarray(input)
    out = np.empty(squeezed_shape(input.shape, squeeze_dims, "squeeze: "), input.dtype)
    evaluate(SqueezeParams(out.shape), [input], [out])
    return out
