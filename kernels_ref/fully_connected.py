"""FULLY_CONNECTED, int8: TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel.

Prepare as TFLM's FullyConnectedPrepare / CalculateOpDataFullyConnected. Per-tensor weights
take GetQuantizedConvolutionMultipler: the input and filter scales are multiplied in
float32 *before* widening to double (unlike the per-channel path, which multiplies in
double), then divided by the output scale; TFLM also rejects a bias whose scale strays from
input x filter scale. Batches are the output's flat size without its last dimension
(keep_num_dims only changes the output's declared shape); accum_depth is the filter's last
dimension. Eval: sum of filter_val * (input_val + input_offset), + bias,
MultiplyByQuantizedMultiplier, + output_offset, clamp.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator
from ._conv_common import (bias_or_zeros, input_tensors, per_channel_multipliers, require_bias,
                           require_int8_activation, require_int8_filter, requantize,
                           tensor_desc)
from .common import activation_range_quantized, op_where
from .quantization import quantize_multiplier

OPCODES = ("FULLY_CONNECTED",)


@dataclass(frozen=True, eq=False)
class FullyConnectedParams:
    batches: int
    accum_depth: int
    output_depth: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    output_multiplier: np.ndarray  # int32 per output unit (one value repeated if per-tensor)
    output_shift: np.ndarray       # int32 per output unit, > 0 = left shift
    zero_bias: np.ndarray          # int32 zeros, used when the bias input is omitted


def per_tensor_multiplier(input_scale: float, filter_scale: float,
                          output_scale: float) -> tuple[int, int]:
    """TFLM GetQuantizedConvolutionMultipler + QuantizeMultiplier (per-tensor weights)."""
    input_product_scale = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(input_product_scale / float(output_scale))


def prepare(graph: Graph, op: Operator) -> FullyConnectedParams:
    where = op_where(graph, op)
    inp, filt, bias, out = input_tensors(graph, op, where, 2)
    if op.options.get("weights_format", 0) != 0:
        raise UnsupportedError(
            f"{where}weights_format {op.options['weights_format']} (shuffled weights) is not "
            "supported; TFLM reads the DEFAULT layout — re-export without weight shuffling")
    if len(filt.shape) != 2:
        raise ShapeError(f"{where}filter {tensor_desc(filt)} has shape {filt.shape}; "
                         "FULLY_CONNECTED needs 2-D weights [units, accum_depth]")
    if len(out.shape) < 1 or len(inp.shape) < 1:
        raise ShapeError(f"{where}input {inp.shape} and output {out.shape} must have at "
                         "least one dimension")
    output_depth, accum_depth = filt.shape
    if out.shape[-1] != output_depth:
        raise ShapeError(
            f"{where}output {tensor_desc(out)} has shape {out.shape}; its last dimension "
            f"must be the filter's {output_depth} units")
    batches = out.size // output_depth if output_depth else 0
    if inp.size != batches * accum_depth:
        raise ShapeError(
            f"{where}input {tensor_desc(inp)} has {inp.size} elements ({inp.shape}); "
            f"{batches} batch row(s) of the filter's accum_depth {accum_depth} need "
            f"{batches * accum_depth}")
    in_scale, in_zp = require_int8_activation(where, inp, "input")
    out_scale, out_zp = require_int8_activation(where, out, "output")
    filter_scales = require_int8_filter(where, filt, 0, output_depth)
    require_bias(where, bias, output_depth)
    if filt.quantization.per_channel:
        if len(out.shape) != 2:
            raise UnsupportedError(
                f"{where}per-channel weights with a {len(out.shape)}-D output {out.shape}: "
                "TFLM's FullyConnectedPerChannel reads the output as [batches, units] — "
                "convert with keep_num_dims=False")
        mult, shift = per_channel_multipliers(in_scale, filter_scales, out_scale,
                                              output_depth)
    else:
        filter_scale = float(filter_scales[0])
        if bias is not None:
            product = float(in_scale) * filter_scale
            # an unquantized bias reads as scale 0 in TFLM
            bias_scale = float(bias.quantization.scale[0]) if bias.quantization else 0.0
            if abs(product - bias_scale) / float(out_scale) > 0.02:
                raise UnsupportedError(
                    f"{where}bias {tensor_desc(bias)} scale {bias_scale:g} differs from "
                    f"input x filter scale {product:g} by more than 2% of the output scale; "
                    "TFLM rejects such a model — re-quantize the bias")
        m, s = per_tensor_multiplier(in_scale, filter_scale, out_scale)
        mult = np.full(output_depth, m, np.int32)
        shift = np.full(output_depth, s, np.int32)
    act_min, act_max = activation_range_quantized(op.fused_activation, out_scale, out_zp,
                                                  where=where)
    return FullyConnectedParams(
        batches=batches, accum_depth=accum_depth, output_depth=output_depth,
        input_offset=-in_zp, output_offset=out_zp, act_min=act_min, act_max=act_max,
        output_multiplier=mult, output_shift=shift,
        zero_bias=np.zeros(output_depth, np.int32))


def evaluate(params: FullyConnectedParams, inputs, outputs) -> None:
    # prepare checked every shape and dtype against the graph
    p = params
    bias = inputs[2] if len(inputs) > 2 else None
    _fc_engine(inputs[0].reshape(p.batches, p.accum_depth), inputs[1],
               bias_or_zeros(bias, p.zero_bias), p.output_multiplier, p.output_shift,
               p.input_offset, p.output_offset, p.act_min, p.act_max,
               outputs[0].reshape(p.batches, p.output_depth))


def fully_connected(input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
                    output_multiplier, output_shift, *, input_offset: int, output_offset: int,
                    act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """FullyConnected on plain arrays: input [batches, accum_depth] int8 (or any shape whose
    size is a multiple of accum_depth), filter [units, accum_depth] int8, bias int32 or None;
    multiplier/shift one value (per-tensor) or one per unit. Returns [batches, units] int8."""
    filter = np.ascontiguousarray(filter)
    input = np.ascontiguousarray(input)
    if input.dtype != np.int8 or filter.dtype != np.int8 or filter.ndim != 2:
        raise ShapeError(f"fully_connected needs int8 input and 2-D int8 filter, got "
                         f"{input.dtype}{input.shape} and {filter.dtype}{filter.shape}")
    units, accum_depth = filter.shape
    if accum_depth == 0 or input.size % accum_depth:
        raise ShapeError(f"fully_connected: input size {input.size} is not a multiple of the "
                         f"filter's accum_depth {accum_depth}")
    batches = input.size // accum_depth
    mult = np.broadcast_to(np.asarray(output_multiplier, np.int32).reshape(-1), (units,))
    shift = np.broadcast_to(np.asarray(output_shift, np.int32).reshape(-1), (units,))
    bias = np.zeros(units, np.int32) if bias is None else \
        np.ascontiguousarray(bias, np.int32).reshape(-1)
    if bias.size != units:
        raise ShapeError(f"fully_connected: bias has {bias.size} entries for {units} units")
    out = np.empty((batches, units), np.int8)
    _fc_engine(input.reshape(batches, accum_depth), filter, bias, np.ascontiguousarray(mult),
               np.ascontiguousarray(shift), int(input_offset), int(output_offset),
               int(act_min), int(act_max), out)
    return out


@njit(cache=True)
def _fc_engine(input_data, filter_data, bias_data, output_multiplier, output_shift,
               input_offset, output_offset, output_activation_min, output_activation_max,
               output_data):
    batches, accum_depth = input_data.shape
    output_depth = output_data.shape[1]
    # input_val + input_offset once per element rather than once per unit
    shifted = np.empty(accum_depth, np.int16)
    for b in range(batches):
        for d in range(accum_depth):
            shifted[d] = np.int16(input_data[b, d] + input_offset)
        for out_c in range(output_depth):
            acc = np.int32(0)
            for d in range(accum_depth):
                # int32 wraps like TFLM's int32_t accumulator
                acc = np.int32(acc + np.int32(filter_data[out_c, d]) * np.int32(shifted[d]))
            acc = np.int32(acc + bias_data[out_c])
            output_data[b, out_c] = requantize(
                acc, output_multiplier[out_c], output_shift[out_c], output_offset,
                output_activation_min, output_activation_max)
