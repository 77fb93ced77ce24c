"""RESHAPE: TFLM copies the bytes; the shape is only checked.

TFLM sizes the output from the output tensor itself (ReshapeOutput) and fails unless it
holds as many elements as the input. tinysim also resolves the requested shape (the
constant second input, else the new_shape option; one -1 is inferred) and rejects a
model whose output tensor disagrees with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._activation_common import output_view
from ._conv_common import tensor_desc
from .common import op_where

OPCODES = ("RESHAPE",)


@dataclass(frozen=True)
class ReshapeParams:
    output_shape: tuple[int, ...]


def resolve_shape(new_shape, num_elements: int, where: str = "") -> tuple[int, ...]:
    """The requested shape with its one -1 dimension inferred (TFLM's stretch_dim)."""
    dims = [int(d) for d in np.asarray(new_shape).reshape(-1)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise UnsupportedError(f"{where}shape {dims} may hold one -1 and no other negative "
                               "dimension; fix the shape constant")
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    if -1 in dims:
        dims[dims.index(-1)] = num_elements // known if known else 0
    if int(np.prod(dims, dtype=np.int64)) != num_elements:
        raise ShapeError(f"{where}shape {tuple(dims)} does not hold the input's {num_elements} "
                         "elements")
    return tuple(dims)


def prepare(graph: Graph, op: Operator) -> ReshapeParams:
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if len(ins) not in (1, 2) or ins[0] is None or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 1 input (+ optional shape) and 1 output, has inputs "
                         f"{op.inputs} and outputs {op.outputs}; the model is malformed")
    inp, out = ins[0], graph.tensor(op.outputs[0])
    if inp.dtype != out.dtype:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)} is {inp.dtype} but output "
                               f"{tensor_desc(out)} is {out.dtype}; RESHAPE cannot convert")
    if inp.size != out.size:
        raise ShapeError(f"{where}input {tensor_desc(inp)} {inp.shape} has {inp.size} elements, "
                         f"output {tensor_desc(out)} {out.shape} has {out.size}; the model is "
                         "malformed")
    shape_t = ins[1] if len(ins) == 2 else None
    if shape_t is not None and shape_t.is_constant:
        requested = shape_t.data
    else:
        requested = op.options.get("new_shape")
    if requested is not None:
        resolved = resolve_shape(requested, inp.size, where)
        if resolved != tuple(out.shape):
            raise ShapeError(f"{where}the requested shape {tuple(np.asarray(requested).ravel())} "
                             f"resolves to {resolved}, but output {tensor_desc(out)} has shape "
                             f"{out.shape}; the model is malformed")
    return ReshapeParams(tuple(out.shape))


def evaluate(params: ReshapeParams, inputs, outputs) -> None:
    # a plain byte copy, as TFLM's memcpy: no engine needed
    output_view(outputs[0])[:] = inputs[0].reshape(-1)


def reshape(input: np.ndarray, new_shape) -> np.ndarray:
    """A copy of ``input`` in ``new_shape`` (one -1 allowed)."""
    input = np.asarray(input)
    out = np.empty(resolve_shape(new_shape, input.size, "reshape: "), input.dtype)
    evaluate(ReshapeParams(out.shape), [input], [out])
    return out
