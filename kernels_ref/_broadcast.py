"""Broadcasting and Prepare checks shared by the int8 binary ops ADD, SUB and MUL.

TFLM decides with ProcessBroadcastShapes whether the two input shapes, right-aligned
(RuntimeShape::ExtendedShape), differ; if they do it walks the output in row-major order
(BroadcastBinaryOpSimple), giving an input dimension of size 1 stride 0 where the
output's is larger. That is numpy's broadcasting. Same-shape inputs take the flat
elementwise loop at any rank; broadcasting is right up to 7 dimensions only: the pinned
TFLM returns wrong values for every 8-D broadcast tried (measured against numpy's
semantics, 7-D always agrees), so tinysim refuses 8-D and larger broadcasts.

Here the walk happens once, at Prepare: for every output element the flat offsets of
the two input elements it reads. The engines then read ``input[offsets[i]]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator, Tensor
from ._activation_common import output_view
from ._conv_common import require_int8_activation, tensor_desc
from .common import op_where

MAX_BROADCAST_RANK = 7  # measured on the pinned TFLM (see above)


@dataclass(frozen=True, eq=False)
class Broadcast:
    """Flat input offsets per output element; None when TFLM takes the elementwise path."""

    offsets1: np.ndarray | None
    offsets2: np.ndarray | None

    @property
    def needed(self) -> bool:
        return self.offsets1 is not None


@dataclass(frozen=True)
class BinaryTensors:
    input1: Tensor
    input2: Tensor
    output: Tensor
    input1_scale: float
    input1_zero_point: int
    input2_scale: float
    input2_zero_point: int
    output_scale: float
    output_zero_point: int


def binary_tensors(graph: Graph, op: Operator, where: str) -> BinaryTensors:
    """The two int8 inputs and the int8 output of ADD/SUB/MUL, with their quantization."""
    ins = graph.op_inputs(op)
    if len(ins) != 2 or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 2 inputs and 1 output, has inputs {op.inputs} and "
                         f"outputs {op.outputs}; the model is malformed")
    out = graph.tensor(op.outputs[0])
    s1, z1 = require_int8_activation(where, ins[0], "input1")
    s2, z2 = require_int8_activation(where, ins[1], "input2")
    so, zo = require_int8_activation(where, out, "output")
    for role, t, s in (("input1", ins[0], s1), ("input2", ins[1], s2), ("output", out, so)):
        if not np.isfinite(s) or s <= 0:
            raise UnsupportedError(f"{where}{role} {tensor_desc(t)} has scale {s}; quantized "
                                   "tensors need a positive finite scale — re-export the model")
    return BinaryTensors(ins[0], ins[1], out, s1, z1, s2, z2, so, zo)


def prepare_binary(graph: Graph, op: Operator, quantized_params):
    """ADD/SUB/MUL Prepare: the tensor checks and the broadcast plan, then the op's own
    CalculateOpData (``quantized_params``, called as the op modules' public ones are)."""
    where = op_where(graph, op)
    bt = binary_tensors(graph, op, where)
    return quantized_params(bt.input1_scale, bt.input1_zero_point, bt.input2_scale,
                            bt.input2_zero_point, bt.output_scale, bt.output_zero_point,
                            op.fused_activation, plan_broadcast(where, bt), where)


def flat_operands(inputs, outputs):
    """The flat views ADD/SUB/MUL engines index: input1, input2, output."""
    return inputs[0].reshape(-1), inputs[1].reshape(-1), output_view(outputs[0])


def binary_on_arrays(name: str, input1: np.ndarray, input2: np.ndarray, params_for,
                     evaluate) -> np.ndarray:
    """The public add/sub/mul on plain int8 arrays with numpy broadcasting:
    ``params_for(broadcast)`` gives the op's Params, ``evaluate`` is the op module's."""
    input1 = np.ascontiguousarray(input1)
    input2 = np.ascontiguousarray(input2)
    if input1.dtype != np.int8 or input2.dtype != np.int8:
        raise ShapeError(f"{name} needs int8 inputs, got {input1.dtype} and {input2.dtype}")
    shape = broadcast_shape(input1.shape, input2.shape)
    if shape is None:
        raise ShapeError(f"{name}: shapes {input1.shape} and {input2.shape} do not broadcast")
    bc = Broadcast(None, None) if input1.shape == input2.shape else \
        Broadcast(*broadcast_offsets(input1.shape, input2.shape, shape))
    out = np.empty(shape, np.int8)
    evaluate(params_for(bc), [input1, input2], [out])
    return out


def broadcast_shape(shape1: tuple[int, ...], shape2: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy's broadcast shape of two shapes, or None if they do not broadcast."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(shape1), tuple(shape2)))
    except ValueError:
        return None


def plan_broadcast(where: str, bt: BinaryTensors) -> Broadcast:
    """TFLM's choice between the elementwise and the broadcast loop, with the offsets."""
    s1, s2, so = bt.input1.shape, bt.input2.shape, bt.output.shape
    expected = broadcast_shape(s1, s2)
    if expected is None:
        raise ShapeError(
            f"{where}input1 {tensor_desc(bt.input1)} shape {s1} and input2 "
            f"{tensor_desc(bt.input2)} shape {s2} do not broadcast (each dimension must match "
            "or be 1); the model is malformed")
    if expected != tuple(so):
        raise ShapeError(
            f"{where}output {tensor_desc(bt.output)} has shape {so}, but inputs {s1} and {s2} "
            f"broadcast to {expected}; the model is malformed")
    rank = max(len(s1), len(s2))
    if _extended(s1, rank) == _extended(s2, rank):
        return Broadcast(None, None)
    if len(so) > MAX_BROADCAST_RANK:
        raise UnsupportedError(
            f"{where}broadcasting {s1} with {s2} needs {len(so)} dimensions; TFLM broadcasts "
            f"correctly up to {MAX_BROADCAST_RANK} — reshape the operands to fewer dimensions")
    off1, off2 = broadcast_offsets(s1, s2, so)
    return Broadcast(off1, off2)


def broadcast_offsets(shape1, shape2, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """For each output element (row-major), the flat offset it reads in each input."""
    rank = len(out_shape)
    e1, e2 = _extended(shape1, rank), _extended(shape2, rank)
    oshape = np.asarray(out_shape, np.int64).reshape(rank)
    strides1 = _broadcast_strides(e1, out_shape)
    strides2 = _broadcast_strides(e2, out_shape)
    size = int(np.prod(oshape)) if rank else 1
    off1 = np.empty(size, np.int64)
    off2 = np.empty(size, np.int64)
    _offsets_engine(oshape, strides1, strides2, off1, off2)
    return off1, off2


def _extended(shape, rank: int) -> tuple[int, ...]:
    """RuntimeShape::ExtendedShape: leading 1s up to ``rank`` dimensions."""
    return (1,) * (rank - len(shape)) + tuple(int(d) for d in shape)


def _broadcast_strides(ext_shape: tuple[int, ...], out_shape) -> np.ndarray:
    strides = np.zeros(len(ext_shape), np.int64)
    acc = 1
    for d in range(len(ext_shape) - 1, -1, -1):
        # a size-1 input dimension under a larger output one is read again and again
        strides[d] = 0 if (ext_shape[d] == 1 and out_shape[d] != 1) else acc
        acc *= ext_shape[d]
    return strides


@njit(cache=True)
def _offsets_engine(out_shape, strides1, strides2, off1, off2):
    rank = out_shape.size
    index = np.zeros(rank, np.int64)
    o1 = 0
    o2 = 0
    for i in range(off1.size):
        off1[i] = o1
        off2[i] = o2
        # odometer step, last dimension fastest (TFLM's NextIndex)
        d = rank - 1
        while d >= 0:
            index[d] += 1
            o1 += strides1[d]
            o2 += strides2[d]
            if index[d] < out_shape[d]:
                break
            o1 -= strides1[d] * out_shape[d]
            o2 -= strides2[d] * out_shape[d]
            index[d] = 0
            d -= 1
