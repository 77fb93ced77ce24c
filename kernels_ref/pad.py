"""PAD and PADV2, int8: TFLM's one pad kernel (reference_ops::PadImpl), up to 5-D.

The pad value is the output's zero point for PAD and the scalar third input for PADV2
(TFLM requires that constant to carry the output's scale and zero point). The paddings
must be a constant int32 [rank, 2] tensor with output = input + before + after per
dimension. Eval walks the output in row-major order; a position inside every dimension's
[before, size - after) window takes the next input element in order, any other the pad
value (so TFLM's negative paddings drop trailing elements, and tinysim does the same).
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

OPCODES = ("PAD", "PADV2")
MAX_DIMS = 5  # TFLM PadKernelMaxDimensionCount


@dataclass(frozen=True, eq=False)
class PadParams:
    left_padding: np.ndarray   # int64, 5 entries (leading dimensions get 0)
    right_padding: np.ndarray
    output_shape5: tuple[int, ...]
    pad_value: int             # PAD's value; PADV2 reads its constant input instead


def _extend5(values, fill: int) -> tuple[int, ...]:
    return (fill,) * (MAX_DIMS - len(values)) + tuple(int(v) for v in values)


def pad_params(input_shape, paddings, pad_value: int, where: str = "") -> tuple[PadParams, tuple]:
    """PadParams and the output shape for ``paddings`` [rank, 2] (before, after) pairs."""
    paddings = np.asarray(paddings, np.int64).reshape(-1, 2)
    if len(input_shape) > MAX_DIMS:
        raise UnsupportedError(f"{where}the input has {len(input_shape)} dimensions; TFLM pads "
                               f"at most {MAX_DIMS}")
    if paddings.shape[0] != len(input_shape):
        raise ShapeError(f"{where}paddings give {paddings.shape[0]} (before, after) pairs for a "
                         f"{len(input_shape)}-D input; the model is malformed")
    out_shape = tuple(int(n + b + a) for n, (b, a) in zip(input_shape, paddings))
    return PadParams(np.array(_extend5(paddings[:, 0], 0), np.int64),
                     np.array(_extend5(paddings[:, 1], 0), np.int64),
                     _extend5(out_shape, 1), int(pad_value)), out_shape


def _check_constant_value(where: str, value: Tensor, out: Tensor) -> None:
    if value.dtype != "int8" or value.size != 1:
        raise UnsupportedError(f"{where}constant_values {tensor_desc(value)} is {value.dtype} "
                               f"{value.shape}; TFLM needs an int8 scalar like the input")
    q, oq = value.quantization, out.quantization
    v_scale = float(q.scale[0]) if q is not None else 0.0
    v_zp = int(q.zero_point[0]) if q is not None else 0
    if v_zp != int(oq.zero_point[0]) or v_scale != float(oq.scale[0]):
        raise UnsupportedError(
            f"{where}constant_values {tensor_desc(value)} (scale {v_scale:g}, zero point "
            f"{v_zp}) differs from the output's (scale {float(oq.scale[0]):g}, zero point "
            f"{int(oq.zero_point[0])}); TFLM requires them equal — quantize the pad value "
            "with the output's parameters")


def prepare(graph: Graph, op: Operator) -> PadParams:
    where = op_where(graph, op)
    ins = graph.op_inputs(op)
    if len(ins) not in (2, 3) or any(t is None for t in ins) or len(op.outputs) != 1:
        raise ShapeError(f"{where}needs 2 inputs (input, paddings) or 3 (+ constant_values) "
                         f"and 1 output, has inputs {op.inputs} and outputs {op.outputs}")
    inp, paddings, out = ins[0], ins[1], graph.tensor(op.outputs[0])
    require_int8_activation(where, inp, "input")
    _, out_zp = require_int8_activation(where, out, "output")
    if paddings.dtype != "int32" or not paddings.is_constant:
        raise UnsupportedError(f"{where}paddings {tensor_desc(paddings)} must be a constant "
                               f"int32 tensor (TFLM reads them at Prepare), got "
                               f"{'constant' if paddings.is_constant else 'computed'} "
                               f"{paddings.dtype}")
    if len(ins) == 3:
        _check_constant_value(where, ins[2], out)
    if paddings.size != 2 * len(out.shape) or len(inp.shape) != len(out.shape):
        raise ShapeError(f"{where}paddings {tensor_desc(paddings)} {paddings.shape}, input "
                         f"{inp.shape} and output {out.shape} disagree on the rank; the model "
                         "is malformed")
    params, expected = pad_params(inp.shape, paddings.data, out_zp, where)
    if tuple(out.shape) != expected:
        raise ShapeError(f"{where}output {tensor_desc(out)} has shape {out.shape}; padding "
                         f"{inp.shape} by {paddings.data.tolist()} gives {expected}; the model "
                         "is malformed")
    return params


def evaluate(params: PadParams, inputs, outputs) -> None:
    p = params
    pad_value = p.pad_value if len(inputs) < 3 else int(inputs[2].reshape(-1)[0])
    _pad_engine(inputs[0].reshape(-1), p.left_padding, p.right_padding, np.int8(pad_value),
                output_view(outputs[0], p.output_shape5))


def pad(input: np.ndarray, paddings, pad_value: int) -> np.ndarray:
    """Pad a plain int8 array (up to 5-D) by ``paddings`` [rank, 2] with ``pad_value``."""
    input = np.ascontiguousarray(input)
    if input.dtype != np.int8:
        raise ShapeError(f"pad needs an int8 array, got {input.dtype}")
    if not -128 <= int(pad_value) <= 127:
        raise ShapeError(f"pad: pad_value {pad_value} is not an int8")
    params, shape = pad_params(input.shape, paddings, pad_value, "pad: ")
    if min(shape, default=1) < 0:
        raise ShapeError(f"pad: paddings {np.asarray(paddings).tolist()} remove more than "
                         f"{input.shape} holds")
    out = np.empty(shape, np.int8)
    evaluate(params, [input], [out])
    return out


@njit(cache=True)
def _pad_engine(input_data, left_padding, right_padding, pad_value, output_data):
    output_batch, output_plane, output_height, output_width, output_depth = output_data.shape
    in_ptr = 0
    for out_b in range(output_batch):
        for out_p in range(output_plane):
            for out_h in range(output_height):
                for out_w in range(output_width):
                    for out_d in range(output_depth):
                        if (out_b < left_padding[0]
                                or out_b >= output_batch - right_padding[0]
                                or out_p < left_padding[1]
                                or out_p >= output_plane - right_padding[1]
                                or out_h < left_padding[2]
                                or out_h >= output_height - right_padding[2]
                                or out_w < left_padding[3]
                                or out_w >= output_width - right_padding[3]
                                or out_d < left_padding[4]
                                or out_d >= output_depth - right_padding[4]):
                            output_data[out_b, out_p, out_h, out_w, out_d] = pad_value
                        else:
                            output_data[out_b, out_p, out_h, out_w, out_d] = input_data[in_ptr]
                            in_ptr += 1
