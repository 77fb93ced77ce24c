"""Serialize a tinysim Graph back to a .tflite flatbuffer (schema v3, one subgraph).

The inverse of tinysim.loader: the code tables (tensor types, activations, paddings,
opcodes) are the loader's own, and OPTION_WRITERS mirrors loader.OPTION_READERS key for
key, so ``load_model_bytes(write_model(g))`` gives back ``g``. Layout follows the
converter: buffer 0 empty, one buffer per constant, constant data 16-byte aligned,
operator codes unique per (op, version) with both the builtin and deprecated codes set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import flatbuffers
import numpy as np
import tflite

from .errors import TinysimError, UnsupportedError
from .ir import Graph, Operator, Quantization, Tensor
from .loader import ACTIVATION_CODES, OPCODE_CODES, PADDING_CODES, TENSOR_TYPE_CODES

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
# The converter aligns buffer data to 16 bytes so kernels may read int32 biases in place.
BUFFER_ALIGNMENT = 16
# Builtin codes above 127 do not fit the old int8 field; the converter stores 127
# (PLACEHOLDER_FOR_GREATER_OP_CODES) there and the real code in builtin_code.
DEPRECATED_CODE_LIMIT = 127


class _Options:
    """Reads one op's normalized options, naming the op when one is missing or bad."""

    def __init__(self, graph: Graph, op: Operator):
        self.op = op
        self.where = f"{graph.name}: op {op.index} ({op.opcode})"

    def get(self, key: str) -> Any:
        if key not in self.op.options:
            raise UnsupportedError(
                f"{self.where}: option '{key}' is missing, so the op cannot be written; "
                f"give the op all of its options (tinysim.modelgen.GraphBuilder fills defaults)")
        return self.op.options[key]

    def code(self, key: str, table: Mapping[str, int]) -> int:
        value = self.get(key)
        if value not in table:
            raise UnsupportedError(
                f"{self.where}: option {key}={value!r} has no TFLite code; "
                f"use one of {', '.join(table)}")
        return table[value]


def _conv(b, o: _Options) -> int:
    tflite.Conv2DOptionsStart(b)
    tflite.Conv2DOptionsAddPadding(b, o.code("padding", PADDING_CODES))
    tflite.Conv2DOptionsAddStrideW(b, o.get("stride_w"))
    tflite.Conv2DOptionsAddStrideH(b, o.get("stride_h"))
    tflite.Conv2DOptionsAddDilationWFactor(b, o.get("dilation_w"))
    tflite.Conv2DOptionsAddDilationHFactor(b, o.get("dilation_h"))
    tflite.Conv2DOptionsAddFusedActivationFunction(b, o.code("fused_activation", ACTIVATION_CODES))
    return tflite.Conv2DOptionsEnd(b)


def _depthwise(b, o: _Options) -> int:
    tflite.DepthwiseConv2DOptionsStart(b)
    tflite.DepthwiseConv2DOptionsAddPadding(b, o.code("padding", PADDING_CODES))
    tflite.DepthwiseConv2DOptionsAddStrideW(b, o.get("stride_w"))
    tflite.DepthwiseConv2DOptionsAddStrideH(b, o.get("stride_h"))
    tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, o.get("depth_multiplier"))
    tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, o.get("dilation_w"))
    tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, o.get("dilation_h"))
    tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(
        b, o.code("fused_activation", ACTIVATION_CODES))
    return tflite.DepthwiseConv2DOptionsEnd(b)


def _pool(b, o: _Options) -> int:
    tflite.Pool2DOptionsStart(b)
    tflite.Pool2DOptionsAddPadding(b, o.code("padding", PADDING_CODES))
    tflite.Pool2DOptionsAddStrideW(b, o.get("stride_w"))
    tflite.Pool2DOptionsAddStrideH(b, o.get("stride_h"))
    tflite.Pool2DOptionsAddFilterWidth(b, o.get("filter_w"))
    tflite.Pool2DOptionsAddFilterHeight(b, o.get("filter_h"))
    tflite.Pool2DOptionsAddFusedActivationFunction(b, o.code("fused_activation", ACTIVATION_CODES))
    return tflite.Pool2DOptionsEnd(b)


def _fully_connected(b, o: _Options) -> int:
    tflite.FullyConnectedOptionsStart(b)
    tflite.FullyConnectedOptionsAddFusedActivationFunction(
        b, o.code("fused_activation", ACTIVATION_CODES))
    tflite.FullyConnectedOptionsAddWeightsFormat(b, o.get("weights_format"))
    tflite.FullyConnectedOptionsAddKeepNumDims(b, bool(o.get("keep_num_dims")))
    return tflite.FullyConnectedOptionsEnd(b)


def _activation_only(start: Callable, add_act: Callable, end: Callable):
    def write(b, o: _Options) -> int:
        start(b)
        add_act(b, o.code("fused_activation", ACTIVATION_CODES))
        return end(b)
    return write


def _concatenation(b, o: _Options) -> int:
    tflite.ConcatenationOptionsStart(b)
    tflite.ConcatenationOptionsAddAxis(b, o.get("axis"))
    tflite.ConcatenationOptionsAddFusedActivationFunction(
        b, o.code("fused_activation", ACTIVATION_CODES))
    return tflite.ConcatenationOptionsEnd(b)


def _reshape(b, o: _Options) -> int:
    # The loader maps both "no new_shape" and an empty one to no key; write neither.
    new_shape = o.op.options.get("new_shape")
    vec = _int32_vector(b, new_shape) if new_shape is not None else None
    tflite.ReshapeOptionsStart(b)
    if vec is not None:
        tflite.ReshapeOptionsAddNewShape(b, vec)
    return tflite.ReshapeOptionsEnd(b)


def _squeeze(b, o: _Options) -> int:
    dims = o.get("squeeze_dims")
    vec = _int32_vector(b, dims) if len(dims) else None
    tflite.SqueezeOptionsStart(b)
    if vec is not None:
        tflite.SqueezeOptionsAddSqueezeDims(b, vec)
    return tflite.SqueezeOptionsEnd(b)


def _reducer(b, o: _Options) -> int:
    tflite.ReducerOptionsStart(b)
    tflite.ReducerOptionsAddKeepDims(b, bool(o.get("keep_dims")))
    return tflite.ReducerOptionsEnd(b)


def _softmax(b, o: _Options) -> int:
    tflite.SoftmaxOptionsStart(b)
    tflite.SoftmaxOptionsAddBeta(b, o.get("beta"))
    return tflite.SoftmaxOptionsEnd(b)


def _leaky_relu(b, o: _Options) -> int:
    tflite.LeakyReluOptionsStart(b)
    tflite.LeakyReluOptionsAddAlpha(b, o.get("alpha"))
    return tflite.LeakyReluOptionsEnd(b)


def _resize(start: Callable, add_align: Callable, add_half: Callable, end: Callable):
    def write(b, o: _Options) -> int:
        start(b)
        add_align(b, bool(o.get("align_corners")))
        add_half(b, bool(o.get("half_pixel_centers")))
        return end(b)
    return write


def _empty(start: Callable, end: Callable):
    def write(b, o: _Options) -> int:
        start(b)
        return end(b)
    return write


@dataclass(frozen=True)
class OptionWriter:
    options_type: int  # tflite.BuiltinOptions value
    write: Callable[[flatbuffers.Builder, _Options], int]


# opcode -> writer; the inverse of loader.OPTION_READERS (same keys, same option names).
OPTION_WRITERS: dict[str, OptionWriter] = {
    "CONV_2D": OptionWriter(tflite.BuiltinOptions.Conv2DOptions, _conv),
    "DEPTHWISE_CONV_2D": OptionWriter(tflite.BuiltinOptions.DepthwiseConv2DOptions, _depthwise),
    "AVERAGE_POOL_2D": OptionWriter(tflite.BuiltinOptions.Pool2DOptions, _pool),
    "MAX_POOL_2D": OptionWriter(tflite.BuiltinOptions.Pool2DOptions, _pool),
    "FULLY_CONNECTED": OptionWriter(tflite.BuiltinOptions.FullyConnectedOptions, _fully_connected),
    "ADD": OptionWriter(tflite.BuiltinOptions.AddOptions, _activation_only(
        tflite.AddOptionsStart, tflite.AddOptionsAddFusedActivationFunction, tflite.AddOptionsEnd)),
    "SUB": OptionWriter(tflite.BuiltinOptions.SubOptions, _activation_only(
        tflite.SubOptionsStart, tflite.SubOptionsAddFusedActivationFunction, tflite.SubOptionsEnd)),
    "MUL": OptionWriter(tflite.BuiltinOptions.MulOptions, _activation_only(
        tflite.MulOptionsStart, tflite.MulOptionsAddFusedActivationFunction, tflite.MulOptionsEnd)),
    "CONCATENATION": OptionWriter(tflite.BuiltinOptions.ConcatenationOptions, _concatenation),
    "RESHAPE": OptionWriter(tflite.BuiltinOptions.ReshapeOptions, _reshape),
    "SQUEEZE": OptionWriter(tflite.BuiltinOptions.SqueezeOptions, _squeeze),
    "MEAN": OptionWriter(tflite.BuiltinOptions.ReducerOptions, _reducer),
    "SOFTMAX": OptionWriter(tflite.BuiltinOptions.SoftmaxOptions, _softmax),
    "LEAKY_RELU": OptionWriter(tflite.BuiltinOptions.LeakyReluOptions, _leaky_relu),
    "RESIZE_BILINEAR": OptionWriter(tflite.BuiltinOptions.ResizeBilinearOptions, _resize(
        tflite.ResizeBilinearOptionsStart, tflite.ResizeBilinearOptionsAddAlignCorners,
        tflite.ResizeBilinearOptionsAddHalfPixelCenters, tflite.ResizeBilinearOptionsEnd)),
    "RESIZE_NEAREST_NEIGHBOR": OptionWriter(
        tflite.BuiltinOptions.ResizeNearestNeighborOptions, _resize(
            tflite.ResizeNearestNeighborOptionsStart,
            tflite.ResizeNearestNeighborOptionsAddAlignCorners,
            tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters,
            tflite.ResizeNearestNeighborOptionsEnd)),
}

# Ops whose options table has no fields: the loader reads nothing from them, but the
# converter still writes the (empty) table, so the written file looks like its output.
EMPTY_OPTION_WRITERS: dict[str, OptionWriter] = {
    opcode: OptionWriter(getattr(tflite.BuiltinOptions, name), _empty(
        getattr(tflite, name + "Start"), getattr(tflite, name + "End")))
    for opcode, name in {
        "PAD": "PadOptions", "PADV2": "PadV2Options", "QUANTIZE": "QuantizeOptions",
        "DEQUANTIZE": "DequantizeOptions", "LOG_SOFTMAX": "LogSoftmaxOptions",
        "TRANSPOSE": "TransposeOptions", "HARD_SWISH": "HardSwishOptions",
        "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    }.items()
}


def _int32_vector(b: flatbuffers.Builder, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=np.int32).reshape(-1))


def _aligned_bytes(b: flatbuffers.Builder, raw: bytes) -> int:
    b.StartVector(1, len(raw), BUFFER_ALIGNMENT)
    b.head = b.head - len(raw)
    b.Bytes[b.head:b.head + len(raw)] = raw
    return b.EndVector()


def _check_graph(graph: Graph) -> None:
    n = len(graph.tensors)
    for k, t in enumerate(graph.tensors):
        if t.index != k:
            raise TinysimError(
                f"{graph.name}: tensor at position {k} ({t.name}) has index {t.index}; "
                "tensor indices must equal their position in Graph.tensors")
        if t.dtype not in TENSOR_TYPE_CODES:
            raise UnsupportedError(
                f"{graph.name}: tensor {k} ({t.name}) has dtype {t.dtype}, which has no TFLite "
                f"type; use one of {', '.join(TENSOR_TYPE_CODES)}")
        if t.data is not None and (t.data.shape != t.shape or t.data.dtype != np.dtype(t.dtype)):
            raise TinysimError(
                f"{graph.name}: tensor {k} ({t.name}) declares {t.shape} {t.dtype} but holds "
                f"{t.data.shape} {t.data.dtype} data; make the constant match its tensor")
    for op in graph.operators:
        for ti in op.inputs + op.outputs:
            if not -1 <= ti < n:
                raise TinysimError(
                    f"{graph.name}: op {op.index} ({op.opcode}) refers to tensor {ti}, but the "
                    f"graph has {n}")
    for ti in graph.inputs + graph.outputs:
        if not 0 <= ti < n:
            raise TinysimError(f"{graph.name}: graph input/output {ti} is not a tensor "
                               f"(the graph has {n})")


def _builtin_code(graph: Graph, op: Operator) -> tuple[int, str | None]:
    """(builtin code, custom code name or None) for the op's opcode string."""
    if op.opcode.startswith("CUSTOM:"):
        return tflite.BuiltinOperator.CUSTOM, op.opcode[len("CUSTOM:"):]
    if op.opcode not in OPCODE_CODES:
        raise UnsupportedError(
            f"{graph.name}: op {op.index} has opcode {op.opcode!r}, which is not a TFLite "
            "builtin; use a name from tflite.BUILTIN_OPCODE2NAME")
    return OPCODE_CODES[op.opcode], None


def _write_operator_codes(b, graph: Graph) -> tuple[int, dict[tuple[str, int], int]]:
    first: dict[tuple[str, int], Operator] = {}
    for op in graph.operators:
        first.setdefault((op.opcode, op.version), op)
    offsets = []
    for (_, version), op in first.items():
        code, custom = _builtin_code(graph, op)
        custom_off = b.CreateString(custom) if custom is not None else None
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, DEPRECATED_CODE_LIMIT))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, version)
        if custom_off is not None:
            tflite.OperatorCodeAddCustomCode(b, custom_off)
        offsets.append(tflite.OperatorCodeEnd(b))
    index = {key: k for k, key in enumerate(first)}
    return _table_vector(b, tflite.ModelStartOperatorCodesVector, offsets), index


def _table_vector(b, start: Callable, offsets: list[int]) -> int:
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _write_quantization(b, q: Quantization) -> int:
    scale = b.CreateNumpyVector(np.asarray(q.scale, dtype=np.float32).reshape(-1))
    zero_point = b.CreateNumpyVector(np.asarray(q.zero_point, dtype=np.int64).reshape(-1))
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale)
    tflite.QuantizationParametersAddZeroPoint(b, zero_point)
    tflite.QuantizationParametersAddQuantizedDimension(b, int(q.axis))
    return tflite.QuantizationParametersEnd(b)


def _write_tensor(b, t: Tensor, buffer_index: int) -> int:
    name = b.CreateString(t.name)
    shape = _int32_vector(b, t.shape)
    quant = _write_quantization(b, t.quantization) if t.quantization is not None else None
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, TENSOR_TYPE_CODES[t.dtype])
    tflite.TensorAddBuffer(b, buffer_index)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _write_operator(b, graph: Graph, op: Operator, opcode_index: int) -> int:
    inputs = _int32_vector(b, op.inputs)
    outputs = _int32_vector(b, op.outputs)
    writer = OPTION_WRITERS.get(op.opcode) or EMPTY_OPTION_WRITERS.get(op.opcode)
    options = writer.write(b, _Options(graph, op)) if writer is not None else None
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(b, writer.options_type)
        tflite.OperatorAddBuiltinOptions(b, options)
    return tflite.OperatorEnd(b)


def _write_buffer(b, raw: bytes | None) -> int:
    data = _aligned_bytes(b, raw) if raw else None
    tflite.BufferStart(b)
    if data is not None:
        tflite.BufferAddData(b, data)
    return tflite.BufferEnd(b)


def write_model(graph: Graph) -> bytes:
    """Serialize ``graph`` to .tflite bytes that TFLite, TFLM and tinysim's loader accept."""
    _check_graph(graph)
    b = flatbuffers.Builder(1024 + sum(t.nbytes for t in graph.tensors if t.is_constant))

    # Buffer 0 stays empty (TFLite's sentinel); activations point at it, each constant
    # gets its own buffer in tensor order.
    raw_buffers: list[bytes | None] = [None]
    buffer_of: list[int] = []
    for t in graph.tensors:
        if t.is_constant:
            buffer_of.append(len(raw_buffers))
            raw_buffers.append(np.ascontiguousarray(t.data).tobytes())
        else:
            buffer_of.append(0)
    buffers = _table_vector(b, tflite.ModelStartBuffersVector,
                            [_write_buffer(b, raw) for raw in raw_buffers])

    opcodes, opcode_index = _write_operator_codes(b, graph)
    tensors = _table_vector(b, tflite.SubGraphStartTensorsVector,
                            [_write_tensor(b, t, buffer_of[t.index]) for t in graph.tensors])
    operators = _table_vector(b, tflite.SubGraphStartOperatorsVector, [
        _write_operator(b, graph, op, opcode_index[(op.opcode, op.version)])
        for op in graph.operators])
    sg_inputs = _int32_vector(b, graph.inputs)
    sg_outputs = _int32_vector(b, graph.outputs)
    sg_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors)
    tflite.SubGraphAddInputs(b, sg_inputs)
    tflite.SubGraphAddOutputs(b, sg_outputs)
    tflite.SubGraphAddOperators(b, operators)
    tflite.SubGraphAddName(b, sg_name)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = _table_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])

    description = b.CreateString(graph.description) if graph.description else None
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, opcodes)
    tflite.ModelAddSubgraphs(b, subgraphs)
    if description is not None:
        tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers)
    model = tflite.ModelEnd(b)
    b.Finish(model, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())
