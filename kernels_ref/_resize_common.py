"""Prepare checks shared by RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR.

TFLM wants a 4-D NHWC input and a constant 1-D int32 size tensor [new_height, new_width];
its kernels loop over the size tensor's values, so tinysim also requires the output
tensor to agree with them (TFLM would write past a smaller output).
"""
from __future__ import annotations

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Tensor
from ._conv_common import require_int8_activation, tensor_desc
from .common import op_where


def resize_tensors(graph: Graph, op: Operator) -> tuple[str, Tensor, Tensor, int, int]:
    """(where, input, output, new_height, new_width) after TFLM's Prepare checks."""
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if len(ins) != 2 or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 2 inputs (input, size) and 1 output, has inputs "
                         f"{op.inputs} and outputs {op.outputs}; the model is malformed")
    inp, size, out = ins[0], ins[1], graph.tensor(op.outputs[0])
    require_int8_activation(where, inp, "input")
    require_int8_activation(where, out, "output")
    if len(inp.shape) != 4:
        raise UnsupportedError(f"{where}input {tensor_desc(inp)} has shape {inp.shape}; TFLM "
                               "resizes 4-D NHWC tensors only")
    if size.dtype != "int32" or not size.is_constant or size.shape != (2,):
        raise UnsupportedError(f"{where}size {tensor_desc(size)} must be a constant int32 "
                               f"[new_height, new_width] (TFLM rejects a computed size), got "
                               f"{size.dtype} {size.shape}")
    new_h, new_w = (int(v) for v in size.data)
    expected = (inp.shape[0], new_h, new_w, inp.shape[3])
    if new_h < 1 or new_w < 1 or tuple(out.shape) != expected:
        raise ShapeError(f"{where}output {tensor_desc(out)} has shape {out.shape}; resizing "
                         f"{inp.shape} to size {[new_h, new_w]} gives {expected}; the model is "
                         "malformed")
    return where, inp, out, new_h, new_w
