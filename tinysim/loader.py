"""Read .tflite flatbuffers into the typed graph IR (tinysim.ir)."""
from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import tflite

from .errors import ModelLoadError, UnsupportedError
from .ir import Graph, Operator, Quantization, Tensor, frozen_options

# The dtypes tinysim handles at all; the loader rejects any other with the tensor that has it.
TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.INT8: "int8",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
}
TENSOR_TYPE_CODES = {v: k for k, v in TENSOR_TYPES.items()}

ACTIVATIONS = {
    tflite.ActivationFunctionType.NONE: "NONE",
    tflite.ActivationFunctionType.RELU: "RELU",
    tflite.ActivationFunctionType.RELU_N1_TO_1: "RELU_N1_TO_1",
    tflite.ActivationFunctionType.RELU6: "RELU6",
    tflite.ActivationFunctionType.TANH: "TANH",
    tflite.ActivationFunctionType.SIGN_BIT: "SIGN_BIT",
}
ACTIVATION_CODES = {v: k for k, v in ACTIVATIONS.items()}

PADDINGS = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
PADDING_CODES = {v: k for k, v in PADDINGS.items()}

OPCODE_NAMES = dict(tflite.BUILTIN_OPCODE2NAME)
OPCODE_CODES = {v: k for k, v in OPCODE_NAMES.items()}


def _act(opts) -> str:
    return ACTIVATIONS.get(opts.FusedActivationFunction(), "UNKNOWN")


def _conv_opts(o) -> dict[str, Any]:
    return dict(
        padding=PADDINGS[o.Padding()], stride_w=o.StrideW(), stride_h=o.StrideH(),
        dilation_w=o.DilationWFactor(), dilation_h=o.DilationHFactor(),
        fused_activation=_act(o),
    )


def _dw_opts(o) -> dict[str, Any]:
    d = _conv_opts(o)
    d["depth_multiplier"] = o.DepthMultiplier()
    return d


def _pool_opts(o) -> dict[str, Any]:
    return dict(
        padding=PADDINGS[o.Padding()], stride_w=o.StrideW(), stride_h=o.StrideH(),
        filter_w=o.FilterWidth(), filter_h=o.FilterHeight(), fused_activation=_act(o),
    )


def _fc_opts(o) -> dict[str, Any]:
    return dict(fused_activation=_act(o), keep_num_dims=bool(o.KeepNumDims()),
                weights_format=o.WeightsFormat())


def _act_only(o) -> dict[str, Any]:
    return dict(fused_activation=_act(o))


def _reshape_opts(o) -> dict[str, Any]:
    if o.NewShapeLength() == 0:
        return {}
    return dict(new_shape=tuple(int(v) for v in o.NewShapeAsNumpy()))


def _squeeze_opts(o) -> dict[str, Any]:
    if o.SqueezeDimsLength() == 0:
        return dict(squeeze_dims=())
    return dict(squeeze_dims=tuple(int(v) for v in o.SqueezeDimsAsNumpy()))


def _resize_opts(o) -> dict[str, Any]:
    return dict(align_corners=bool(o.AlignCorners()), half_pixel_centers=bool(o.HalfPixelCenters()))


# opcode -> (options class, reader). Ops absent here take no options.
OPTION_READERS = {
    "CONV_2D": (tflite.Conv2DOptions, _conv_opts),
    "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions, _dw_opts),
    "AVERAGE_POOL_2D": (tflite.Pool2DOptions, _pool_opts),
    "MAX_POOL_2D": (tflite.Pool2DOptions, _pool_opts),
    "FULLY_CONNECTED": (tflite.FullyConnectedOptions, _fc_opts),
    "ADD": (tflite.AddOptions, _act_only),
    "SUB": (tflite.SubOptions, _act_only),
    "MUL": (tflite.MulOptions, _act_only),
    "CONCATENATION": (tflite.ConcatenationOptions,
                      lambda o: dict(axis=o.Axis(), fused_activation=_act(o))),
    "RESHAPE": (tflite.ReshapeOptions, _reshape_opts),
    "SQUEEZE": (tflite.SqueezeOptions, _squeeze_opts),
    "MEAN": (tflite.ReducerOptions, lambda o: dict(keep_dims=bool(o.KeepDims()))),
    "SOFTMAX": (tflite.SoftmaxOptions, lambda o: dict(beta=float(o.Beta()))),
    "LEAKY_RELU": (tflite.LeakyReluOptions, lambda o: dict(alpha=float(o.Alpha()))),
    "RESIZE_BILINEAR": (tflite.ResizeBilinearOptions, _resize_opts),
    "RESIZE_NEAREST_NEIGHBOR": (tflite.ResizeNearestNeighborOptions, _resize_opts),
}

# Defaults when a model omits the options table (TFLite's schema defaults).
OPTION_DEFAULTS = {
    "CONV_2D": dict(padding="SAME", stride_w=1, stride_h=1, dilation_w=1, dilation_h=1,
                    fused_activation="NONE"),
    "DEPTHWISE_CONV_2D": dict(padding="SAME", stride_w=1, stride_h=1, dilation_w=1,
                              dilation_h=1, fused_activation="NONE", depth_multiplier=1),
    "FULLY_CONNECTED": dict(fused_activation="NONE", keep_num_dims=False, weights_format=0),
    "ADD": dict(fused_activation="NONE"),
    "SUB": dict(fused_activation="NONE"),
    "MUL": dict(fused_activation="NONE"),
    "CONCATENATION": dict(axis=0, fused_activation="NONE"),
    "MEAN": dict(keep_dims=False),
    "SOFTMAX": dict(beta=1.0),
    "LEAKY_RELU": dict(alpha=0.0),
    "SQUEEZE": dict(squeeze_dims=()),
    "RESIZE_BILINEAR": dict(align_corners=False, half_pixel_centers=False),
    "RESIZE_NEAREST_NEIGHBOR": dict(align_corners=False, half_pixel_centers=False),
}


def _read_options(op, opcode: str, model_name: str, op_index: int) -> dict[str, Any]:
    options = dict(OPTION_DEFAULTS.get(opcode, {}))
    reader = OPTION_READERS.get(opcode)
    table = op.BuiltinOptions()
    if reader is None or table is None:
        return options
    cls, read = reader
    o = cls()
    o.Init(table.Bytes, table.Pos)
    try:
        options.update(read(o))
    except KeyError as exc:
        raise UnsupportedError(
            f"{model_name}: op {op_index} ({opcode}) has an option value tinysim does not "
            f"know ({exc}); re-export the model with standard options"
        ) from None
    return options


def _quantization(t) -> Quantization | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).copy()
    if q.ZeroPointLength():
        zp = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).copy()
    else:
        zp = np.zeros(scale.shape, np.int64)
    return Quantization(scale=scale, zero_point=zp, axis=int(q.QuantizedDimension()))


def load_model(path: str | os.PathLike) -> Graph:
    """Load a .tflite file. Raises ModelLoadError / UnsupportedError with the fix."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the model file ({exc.strerror})") from None
    return load_model_bytes(buf, name=os.path.basename(path))


def load_model_bytes(buf: bytes, name: str = "<bytes>") -> Graph:
    if len(buf) == 0:
        raise ModelLoadError(f"{name}: the file is empty; pass an int8 .tflite model")
    if len(buf) < 16 or buf[4:8] != b"TFL3":
        raise ModelLoadError(
            f"{name}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4); "
            "pass a .tflite file written by the TFLite converter or by tinysim")
    try:
        return _parse(bytes(buf), name)
    except (ModelLoadError, UnsupportedError):
        raise
    except Exception as exc:  # flatbuffers raise bare struct/index errors on bad offsets
        raise ModelLoadError(
            f"{name}: the flatbuffer is corrupt or truncated ({type(exc).__name__}: {exc}); "
            f"the file has {len(buf)} bytes — re-export or re-download it") from None


def _parse(buf: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise UnsupportedError(
            f"{name}: has {model.SubgraphsLength()} subgraphs; tinysim runs single-subgraph "
            "models (no control flow); convert without WHILE/IF/CALL_ONCE")
    sg = model.Subgraphs(0)
    opcodes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            opcodes.append("CUSTOM:" + (custom.decode() if custom else "?"))
        else:
            opcodes.append(OPCODE_NAMES.get(code, f"BUILTIN_{code}"))
    versions = [model.OperatorCodes(i).Version() for i in range(model.OperatorCodesLength())]

    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        tname = t.Name().decode(errors="replace") if t.Name() else f"tensor_{i}"
        ttype = t.Type()
        if ttype not in TENSOR_TYPES:
            raise UnsupportedError(
                f"{name}: tensor {i} ({tname}) has TFLite type {ttype}, which tinysim does not "
                f"support; supported: {', '.join(TENSOR_TYPES.values())}")
        dtype = TENSOR_TYPES[ttype]
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if any(d < 0 for d in shape):
            raise UnsupportedError(
                f"{name}: tensor {i} ({tname}) has a dynamic shape {shape}; tinysim needs "
                "static shapes — fix the batch size when converting")
        data = None
        b = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        if b is not None and b.DataLength() > 0:
            raw = b.DataAsNumpy().tobytes()
            expect = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if len(raw) != expect:
                raise ModelLoadError(
                    f"{name}: tensor {i} ({tname}) holds {len(raw)} bytes of constant data "
                    f"but shape {shape} x {dtype} needs {expect}; the file is corrupt")
            data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
            data.setflags(write=False)
        elif b is not None and b.Offset() > 1:
            raise UnsupportedError(
                f"{name}: tensor {i} ({tname}) stores its data outside the flatbuffer "
                "(>2 GB layout); re-export the model without external buffers")
        tensors.append(Tensor(index=i, name=tname, shape=shape, dtype=dtype,
                              quantization=_quantization(t), data=data))

    operators = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        idx = op.OpcodeIndex()
        if idx >= len(opcodes):
            raise ModelLoadError(f"{name}: op {k} names opcode {idx}, but the model has "
                                 f"only {len(opcodes)}; the file is corrupt")
        opcode = opcodes[idx]
        inputs = tuple(int(v) for v in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(v) for v in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        for t in inputs + outputs:
            if t >= len(tensors):
                raise ModelLoadError(f"{name}: op {k} ({opcode}) refers to tensor {t}, but "
                                     f"the model has {len(tensors)}; the file is corrupt")
        operators.append(Operator(index=k, opcode=opcode, inputs=inputs, outputs=outputs,
                                  options=frozen_options(_read_options(op, opcode, name, k)),
                                  version=versions[idx]))

    io = {}
    for kind, n, read in (("input", sg.InputsLength(), sg.InputsAsNumpy),
                          ("output", sg.OutputsLength(), sg.OutputsAsNumpy)):
        io[kind] = tuple(int(v) for v in read()) if n else ()
        for t in io[kind]:
            if not 0 <= t < len(tensors):
                raise ModelLoadError(f"{name}: graph {kind} tensor {t} does not exist (the model "
                                     f"has {len(tensors)} tensors); the file is corrupt")
    desc = model.Description().decode(errors="replace") if model.Description() else ""
    return Graph(
        name=name, tensors=tuple(tensors), operators=tuple(operators),
        inputs=io["input"], outputs=io["output"],
        sha256=hashlib.sha256(buf).hexdigest(), description=desc,
    )
