"""Build int8 TFLite graphs in Python: a typed GraphBuilder, realistic quantized weights,
and tinysim's own MobileNetV2/MCUNet-like model.

Graphs built here go through tinysim.writer.write_model to real .tflite bytes, so TFLM
can run them as the oracle. Quantization follows TFLite's post-training rules:
per-channel symmetric int8 filters (zero point 0, codes in [-127, 127]), int32 biases
with scale = input scale x filter scale, asymmetric int8 activations whose ranges come
from running the float model on calibration images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ShapeError, TinysimError, UnsupportedError
from .ir import Graph, Operator, Quantization, Tensor, frozen_options
from .loader import OPTION_DEFAULTS, OPCODE_CODES

# Pool options have no schema default the converter would ever leave out: padding and
# stride get the usual defaults here, the window size must be given.
_POOL_DEFAULTS = dict(padding="VALID", stride_w=1, stride_h=1, fused_activation="NONE")
BUILDER_DEFAULTS: dict[str, dict[str, Any]] = {
    **{k: dict(v) for k, v in OPTION_DEFAULTS.items()},
    "AVERAGE_POOL_2D": dict(_POOL_DEFAULTS),
    "MAX_POOL_2D": dict(_POOL_DEFAULTS),
}
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {
    "AVERAGE_POOL_2D": ("filter_h", "filter_w"),
    "MAX_POOL_2D": ("filter_h", "filter_w"),
}
OPTIONAL_OPTIONS: dict[str, tuple[str, ...]] = {"RESHAPE": ("new_shape",)}

# Versions the TFLite converter wrote for int8 ops in the shared corpus; TFLM ignores
# versions, so any other op gets 1.
INT8_OP_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2, "ADD": 2, "SOFTMAX": 2, "PAD": 2, "MEAN": 2, "TRANSPOSE": 2,
    "RESIZE_NEAREST_NEIGHBOR": 2, "DEQUANTIZE": 2, "QUANTIZE": 1, "RESHAPE": 1,
}

INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


# ---------------------------------------------------------------------------------------
# Quantization helpers


@dataclass(frozen=True)
class QuantizedArray:
    """Integer data with its quantization (scale/zero_point per-tensor or per ``axis``)."""

    q: np.ndarray
    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64
    axis: int = 0

    def dequantize(self) -> np.ndarray:
        shape = [1] * self.q.ndim
        if self.scale.size > 1:
            shape[self.axis] = -1
        return ((self.q.astype(np.float64) - self.zero_point.reshape(shape))
                * self.scale.astype(np.float64).reshape(shape))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """std::round, TFLite's rounding when it quantizes weights and inputs."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """Float to integer as TFLM's QUANTIZE does it: float32 division, round half away from
    zero, add the zero point, clamp; so a float-I/O model and its int8 twin see the same
    integers."""
    lo, hi = INT_RANGES[dtype]
    ratio = (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)
    return np.clip(round_half_away(ratio) + zero_point, lo, hi).astype(dtype)


def affine_params(rmin: float, rmax: float, dtype: str = "int8") -> tuple[float, int]:
    """Scale and zero point covering [rmin, rmax] (widened to hold 0, which must be exact)."""
    qmin, qmax = INT_RANGES[dtype]
    rmin, rmax = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if rmax - rmin < 1e-8:
        rmax = rmin + 1e-8
    scale = (rmax - rmin) / (qmax - qmin)
    zero_point = int(np.clip(round_half_away(np.float64(qmin - rmin / scale)), qmin, qmax))
    return float(np.float32(scale)), zero_point


def symmetric_filter(w: np.ndarray, axis: int | None) -> QuantizedArray:
    """Symmetric int8 weights, codes in [-127, 127], zero point 0.

    ``axis`` is the output-channel axis for per-channel scales (0 for CONV_2D filters,
    3 for DEPTHWISE_CONV_2D); None gives one scale (FULLY_CONNECTED, as the converter does).
    """
    w = np.asarray(w, np.float64)
    bshape = [1] * w.ndim
    if axis is None:
        amax = np.array([np.abs(w).max()])
    else:
        amax = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1)
        bshape[axis] = -1
    # An all-zero channel still needs a positive scale (TFLM divides by it at Prepare).
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(round_half_away(w / scale.astype(np.float64).reshape(bshape)), -127, 127)
    return QuantizedArray(q.astype(np.int8), scale, np.zeros(scale.size, np.int64),
                          0 if axis is None else axis)


def bias_int32(b: np.ndarray, input_scale: float, filter_scale: np.ndarray) -> QuantizedArray:
    """int32 bias with scale = input_scale x filter_scale (TFLite's rule), zero point 0."""
    fscale = np.asarray(filter_scale, np.float32).reshape(-1)
    scale = (np.float32(input_scale) * fscale).astype(np.float32)
    b = np.asarray(b, np.float64).reshape(-1)
    if scale.size not in (1, b.size):
        raise ShapeError(f"bias has {b.size} channels but {scale.size} filter scales")
    q = np.clip(round_half_away(b / scale.astype(np.float64)), -(1 << 31), (1 << 31) - 1)
    return QuantizedArray(q.astype(np.int32), scale, np.zeros(scale.size, np.int64), 0)


def random_filter(rng: np.random.Generator, shape: Sequence[int], axis: int | None,
                  fan_in: int | None = None) -> QuantizedArray:
    """He-normal float weights quantized like the converter (per-channel on ``axis``)."""
    shape = tuple(int(s) for s in shape)
    if fan_in is None:
        fan_in = int(np.prod(shape)) // (shape[axis] if axis is not None else shape[0])
    w = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
    return symmetric_filter(w, axis)


def random_bias(rng: np.random.Generator, n: int, input_scale: float,
                filter_scale: np.ndarray, std: float = 0.5) -> QuantizedArray:
    """A float bias of the given spread, quantized with TFLite's bias scale rule."""
    return bias_int32(rng.normal(0.0, std, n), input_scale, filter_scale)


# ---------------------------------------------------------------------------------------
# GraphBuilder


@dataclass(frozen=True)
class _TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None
    data: np.ndarray | None


def _quantization(scale, zero_point, axis: int, n_axis: int | None) -> Quantization | None:
    if scale is None:
        if zero_point is not None:
            raise ShapeError("a zero point was given without a scale")
        return None
    s = np.asarray(scale, np.float32).reshape(-1)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ShapeError(f"scales must be finite and positive, got {s}")
    if zero_point is None:
        z = np.zeros(s.size, np.int64)
    else:
        z = np.asarray(zero_point, np.int64).reshape(-1)
        if z.size == 1 and s.size > 1:
            z = np.full(s.size, z[0], np.int64)
    if z.size != s.size:
        raise ShapeError(f"{s.size} scales but {z.size} zero points")
    if s.size > 1 and n_axis is not None and s.size != n_axis:
        raise ShapeError(f"{s.size} per-channel scales for an axis of size {n_axis}")
    return Quantization(scale=s, zero_point=z, axis=int(axis))


class GraphBuilder:
    """Append-only graph construction; ``build()`` returns a frozen Graph.

    Tensor indices are positions in creation order, as TFLite numbers them. Ops must be
    added in execution order (each input defined before it is read).
    """

    def __init__(self, name: str, description: str = "tinysim modelgen"):
        self.name = name
        self.description = description
        self._tensors: list[_TensorSpec] = []
        self._ops: list[Operator] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []
        self._defined: set[int] = set()

    def _add(self, spec: _TensorSpec) -> int:
        self._tensors.append(spec)
        return len(self._tensors) - 1

    def tensor(self, index: int) -> Tensor:
        """The tensor as it will appear in the built graph (shape, dtype, quantization)."""
        s = self._tensors[index]
        return Tensor(index=index, name=s.name, shape=s.shape, dtype=s.dtype,
                      quantization=s.quantization, data=s.data)

    def input(self, shape: Sequence[int], scale: float | None, zero_point: int | None,
              dtype: str = "int8", name: str | None = None) -> int:
        shape = tuple(int(d) for d in shape)
        idx = self._add(_TensorSpec(name or f"input_{len(self._inputs)}", shape, dtype,
                                    _quantization(scale, zero_point, 0, None), None))
        self._inputs.append(idx)
        self._defined.add(idx)
        return idx

    def const(self, array: np.ndarray, scale=None, zero_point=None, axis: int = 0,
              name: str | None = None) -> int:
        data = np.array(array, copy=True)
        if data.dtype == np.float64:
            raise ShapeError("constants must have a TFLite dtype; float64 has none — "
                             "cast to float32")
        data.setflags(write=False)
        n_axis = data.shape[axis] if data.ndim else None
        idx = self._add(_TensorSpec(name or f"const_{len(self._tensors)}", data.shape,
                                    str(data.dtype),
                                    _quantization(scale, zero_point, axis, n_axis), data))
        self._defined.add(idx)
        return idx

    def quantized_const(self, qa: QuantizedArray, name: str | None = None) -> int:
        return self.const(qa.q, qa.scale, qa.zero_point, qa.axis, name)

    def op(self, opcode: str, inputs: Sequence[int], out_shape: Sequence[int],
           out_scale: float | None = None, out_zero_point: int | None = None,
           out_dtype: str = "int8", name: str | None = None, version: int | None = None,
           **options: Any) -> int:
        where = f"{self.name}: op {len(self._ops)} ({opcode})"
        if opcode not in OPCODE_CODES:
            raise UnsupportedError(f"{where}: {opcode!r} is not a TFLite builtin op name")
        for ti in inputs:
            if ti != -1 and ti not in self._defined:
                raise TinysimError(f"{where}: input tensor {ti} is not defined yet; add the "
                                   "op that produces it first")
        defaults = BUILDER_DEFAULTS.get(opcode, {})
        known = set(defaults) | set(REQUIRED_OPTIONS.get(opcode, ())) \
            | set(OPTIONAL_OPTIONS.get(opcode, ()))
        unknown = set(options) - known
        if unknown:
            raise UnsupportedError(f"{where}: unknown option(s) {sorted(unknown)}; "
                                   f"{opcode} takes {sorted(known) or 'none'}")
        missing = [k for k in REQUIRED_OPTIONS.get(opcode, ()) if k not in options]
        if missing:
            raise UnsupportedError(f"{where}: option(s) {missing} are required")
        opts = {**defaults, **options}
        out = self._add(_TensorSpec(name or f"{opcode.lower()}_{len(self._ops)}",
                                    tuple(int(d) for d in out_shape), out_dtype,
                                    _quantization(out_scale, out_zero_point, 0, None), None))
        self._defined.add(out)
        self._ops.append(Operator(
            index=len(self._ops), opcode=opcode, inputs=tuple(int(i) for i in inputs),
            outputs=(out,), options=frozen_options(opts),
            version=version if version is not None else INT8_OP_VERSIONS.get(opcode, 1)))
        return out

    def output(self, index: int) -> None:
        if index not in self._defined:
            raise TinysimError(f"{self.name}: output tensor {index} is not defined")
        self._outputs.append(index)

    def build(self) -> Graph:
        if not self._inputs or not self._outputs:
            raise TinysimError(f"{self.name}: a graph needs at least one input and one output")
        tensors = tuple(self.tensor(k) for k in range(len(self._tensors)))
        return Graph(name=self.name, tensors=tensors, operators=tuple(self._ops),
                     inputs=tuple(self._inputs), outputs=tuple(self._outputs),
                     description=self.description)


# ---------------------------------------------------------------------------------------
# Float network used to calibrate tinysim's own model


def _same_pads(in_size: int, k: int, stride: int) -> tuple[int, int]:
    out = (in_size + stride - 1) // stride
    total = max((out - 1) * stride + k - in_size, 0)
    return total // 2, total - total // 2


def _conv_float(x: np.ndarray, w: np.ndarray, stride: int, padding: str,
                depthwise: bool) -> np.ndarray:
    """NHWC float conv (w: OHWI) or depthwise conv (w: 1HWC), TFLite's SAME padding."""
    _, h, wd, _ = x.shape
    kh, kw = w.shape[1], w.shape[2]
    if padding == "SAME":
        (pt, pb), (pl, pr) = _same_pads(h, kh, stride), _same_pads(wd, kw, stride)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    cout = w.shape[3] if depthwise else w.shape[0]
    out = np.zeros((x.shape[0], oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out += patch * w[0, i, j] if depthwise else patch @ w[:, i, j, :].T
    return out


@dataclass(frozen=True)
class _Layer:
    kind: str  # conv | depthwise | add | pad | avgpool | fc | softmax
    inputs: tuple[int, ...]
    output: int
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: int = 1
    padding: str = "SAME"
    activation: str = "NONE"
    pads: tuple[tuple[int, int], ...] = ()


class _FloatNet:
    """Float model built layer by layer on a calibration batch.

    Each conv is normalized on the batch (batch-norm folded into weights and bias with
    random gamma/beta), like a trained network, so activations neither die nor explode.
    """

    def __init__(self, rng: np.random.Generator, images: np.ndarray):
        self.rng = rng
        self.values: list[np.ndarray] = [images.astype(np.float64)]
        self.layers: list[_Layer] = []

    def _new(self, value: np.ndarray, layer: _Layer) -> int:
        self.values.append(value)
        self.layers.append(layer)
        return layer.output

    def _next(self) -> int:
        return len(self.values)

    def conv(self, x: int, cout: int, k: int, stride: int, activation: str) -> int:
        cin = self.values[x].shape[3]
        w = self.rng.normal(0.0, np.sqrt(2.0 / (k * k * cin)), (cout, k, k, cin))
        return self._normalized(x, w, stride, "SAME", activation, depthwise=False)

    def depthwise(self, x: int, k: int, stride: int, activation: str,
                  padding: str = "SAME") -> int:
        c = self.values[x].shape[3]
        w = self.rng.normal(0.0, np.sqrt(2.0 / (k * k)), (1, k, k, c))
        return self._normalized(x, w, stride, padding, activation, depthwise=True)

    def _normalized(self, x: int, w: np.ndarray, stride: int, padding: str, activation: str,
                    depthwise: bool) -> int:
        xv = self.values[x]
        raw = _conv_float(xv, w, stride, padding, depthwise)
        mean = raw.mean(axis=(0, 1, 2))
        std = raw.std(axis=(0, 1, 2)) + 1e-6
        if activation == "RELU6":
            # Mostly-active channels with room below 6, as in trained MobileNets.
            gamma = self.rng.uniform(0.6, 1.4, raw.shape[3])
            beta = self.rng.uniform(0.2, 1.0, raw.shape[3])
        else:
            gamma = self.rng.uniform(0.4, 1.0, raw.shape[3])
            beta = self.rng.uniform(-0.3, 0.3, raw.shape[3])
        g = gamma / std
        w = w * (g.reshape(1, 1, 1, -1) if depthwise else g.reshape(-1, 1, 1, 1))
        b = beta - mean * g
        value = _conv_float(xv, w, stride, padding, depthwise) + b
        if activation == "RELU6":
            value = np.clip(value, 0.0, 6.0)
        return self._new(value, _Layer("depthwise" if depthwise else "conv", (x,), self._next(),
                                       w, b, stride, padding, activation))

    def add(self, a: int, b: int) -> int:
        return self._new(self.values[a] + self.values[b], _Layer("add", (a, b), self._next()))

    def pad(self, x: int, pads: tuple[tuple[int, int], ...]) -> int:
        return self._new(np.pad(self.values[x], pads), _Layer("pad", (x,), self._next(), pads=pads))

    def global_avgpool(self, x: int) -> int:
        v = self.values[x].mean(axis=(1, 2), keepdims=True)
        return self._new(v, _Layer("avgpool", (x,), self._next()))

    def fc(self, x: int, n: int, logit_std: float) -> int:
        xv = self.values[x].reshape(self.values[x].shape[0], -1)
        w = self.rng.normal(0.0, 1.0, (n, xv.shape[1]))
        raw = xv @ w.T
        # Logits of moderate spread keep the softmax away from one-hot saturation.
        w = w * (logit_std / (raw.std() + 1e-6))
        b = self.rng.normal(0.0, 0.2 * logit_std, n)
        return self._new(xv @ w.T + b, _Layer("fc", (x,), self._next(), w, b))

    def softmax(self, x: int) -> int:
        v = self.values[x]
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return self._new(e / e.sum(axis=-1, keepdims=True), _Layer("softmax", (x,), self._next()))


# ---------------------------------------------------------------------------------------
# tinysim's own model


def sample_images(n: int, hw: int, seed: int) -> np.ndarray:
    """Smooth natural-looking float images in [-1, 1], shape (n, hw, hw, 3).

    Low-frequency colour blobs plus edges and fine texture: not noise, so conv outputs
    have the spatial correlation real images give them.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, hw, hw, 3), np.float32)
    coords = (np.arange(hw) + 0.5) / hw
    for k in range(n):
        img = np.zeros((hw, hw, 3))
        for cells, amp in ((3, 0.6), (8, 0.3)):
            coarse = rng.normal(0.0, 1.0, (cells + 1, cells + 1, 3))
            pos = coords * cells
            i0 = np.minimum(pos.astype(int), cells - 1)
            f = pos - i0
            rows = coarse[i0] * (1 - f)[:, None, None] + coarse[i0 + 1] * f[:, None, None]
            img += amp * (rows[:, i0] * (1 - f)[None, :, None] + rows[:, i0 + 1] * f[None, :, None])
        yy, xx = np.meshgrid(coords, coords, indexing="ij")
        angle = rng.uniform(0, np.pi)
        edge = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) > rng.uniform(-0.2, 0.2)
        img += np.where(edge, 0.4, -0.4)[:, :, None] * rng.uniform(-1, 1, 3)
        img += rng.normal(0.0, 0.05, img.shape)
        out[k] = np.tanh(img)
    return out


def model_inputs(graph: Graph, images: np.ndarray) -> list[list[np.ndarray]]:
    """One input list per image, quantized with the graph input's own parameters."""
    if len(graph.inputs) != 1:
        raise ShapeError(f"{graph.name}: model_inputs feeds single-input graphs; this one has "
                         f"{len(graph.inputs)} inputs")
    t = graph.tensor(graph.inputs[0])
    runs = []
    for img in images:
        x = img.reshape(t.shape)
        if t.dtype == "float32":
            runs.append([x.astype(np.float32)])
        else:
            runs.append([quantize(x, t.scale, t.zero_point, t.dtype)])
    return runs


def _channels(c: int, width: float) -> int:
    return max(8, int(round(c * width / 8)) * 8)


# (expansion, out channels, depthwise kernel, stride, explicit PAD before a VALID dw)
_BLOCKS = (
    (1, 8, 3, 1, False),
    (3, 16, 3, 2, True),
    (3, 16, 5, 1, False),
    (3, 24, 7, 2, False),
    (3, 24, 3, 1, False),
)

INPUT_SCALE = float(np.float32(2.0 / 255.0))
INPUT_ZERO_POINT = -1  # [-1, 1] images, as converted MobileNets take them
SOFTMAX_SCALE, SOFTMAX_ZERO_POINT = 1.0 / 256.0, -128  # TFLite's fixed int8 softmax output


def _float_mcunet(seed: int, input_hw: int, width: float, num_classes: int,
                  calibration: int) -> tuple[_FloatNet, int]:
    net = _FloatNet(np.random.default_rng(seed), sample_images(calibration, input_hw, seed + 1000))
    x = net.conv(0, _channels(16, width), 3, 2, "RELU6")
    for expand, cout, k, stride, explicit_pad in _BLOCKS:
        cin = net.values[x].shape[3]
        cout = _channels(cout, width)
        h = net.conv(x, cin * expand, 1, 1, "RELU6") if expand != 1 else x
        if explicit_pad:
            h = net.pad(h, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
            h = net.depthwise(h, k, stride, "RELU6", padding="VALID")
        else:
            h = net.depthwise(h, k, stride, "RELU6")
        h = net.conv(h, cout, 1, 1, "NONE")
        x = net.add(x, h) if stride == 1 and cin == cout else h
    x = net.conv(x, _channels(64, width), 1, 1, "RELU6")
    x = net.global_avgpool(x)
    x = net.fc(x, num_classes, logit_std=1.5)
    return net, net.softmax(x)


def mcunet_like_model(seed: int = 0, input_hw: int = 48, width: float = 1.0,
                      num_classes: int = 10, float_io: bool = False,
                      calibration_images: int = 8) -> Graph:
    """A small int8 MobileNetV2/MCUNet-like classifier, calibrated like the converter does.

    Stem 3x3/2 CONV RELU6; inverted residual blocks (1x1 expand RELU6, 3x3/5x5/7x7
    depthwise stride 1 or 2 RELU6, one behind an explicit PAD with VALID padding, 1x1
    linear project, residual ADD where shapes match); 1x1 head conv; global
    AVERAGE_POOL_2D; RESHAPE; FULLY_CONNECTED; SOFTMAX. ``float_io`` wraps it in
    QUANTIZE / DEQUANTIZE as float-interface models are. Activation ranges are the
    min/max of the float model on ``calibration_images`` sample images.
    """
    if input_hw < 16 or input_hw % 8:
        raise ShapeError(f"mcunet_like_model: input_hw must be a multiple of 8, >= 16; "
                         f"got {input_hw}")
    net, probs = _float_mcunet(seed, input_hw, width, num_classes, calibration_images)
    gb = GraphBuilder(f"mcunet_like_s{seed}_{input_hw}px" + ("_float" if float_io else ""))

    # float-net value id -> (tensor index, scale, zero point)
    qt: dict[int, tuple[int, float, int]] = {}
    shape0 = (1,) + net.values[0].shape[1:]
    if float_io:
        f_in = gb.input(shape0, None, None, dtype="float32", name="input")
        qt[0] = (gb.op("QUANTIZE", [f_in], shape0, INPUT_SCALE, INPUT_ZERO_POINT,
                       name="input_int8"), INPUT_SCALE, INPUT_ZERO_POINT)
    else:
        qt[0] = (gb.input(shape0, INPUT_SCALE, INPUT_ZERO_POINT, name="input"),
                 INPUT_SCALE, INPUT_ZERO_POINT)

    for n, layer in enumerate(net.layers):
        value = net.values[layer.output]
        out_shape = (1,) + value.shape[1:]
        x_idx, x_scale, _ = qt[layer.inputs[0]]
        if layer.kind == "softmax":
            scale, zp = SOFTMAX_SCALE, SOFTMAX_ZERO_POINT
        elif layer.kind in ("pad", "avgpool"):
            _, scale, zp = qt[layer.inputs[0]]  # TFLite requires the input's quantization
        else:
            scale, zp = affine_params(value.min(), value.max())
        name = f"{layer.kind}_{n}"
        if layer.kind in ("conv", "depthwise"):
            dw = layer.kind == "depthwise"
            f = symmetric_filter(layer.weights, axis=3 if dw else 0)
            b = bias_int32(layer.bias, x_scale, f.scale)
            w_idx = gb.quantized_const(f, name=f"{name}/filter")
            b_idx = gb.quantized_const(b, name=f"{name}/bias")
            k = layer.weights.shape[1]
            opts = dict(padding=layer.padding, stride_h=layer.stride, stride_w=layer.stride,
                        fused_activation=layer.activation)
            if dw:
                opts["depth_multiplier"] = 1
            out = gb.op("DEPTHWISE_CONV_2D" if dw else "CONV_2D", [x_idx, w_idx, b_idx],
                        out_shape, scale, zp, name=f"{name}/{k}x{k}", **opts)
        elif layer.kind == "add":
            out = gb.op("ADD", [x_idx, qt[layer.inputs[1]][0]], out_shape, scale, zp, name=name)
        elif layer.kind == "pad":
            pads = gb.const(np.array(layer.pads, np.int32), name=f"{name}/paddings")
            out = gb.op("PAD", [x_idx, pads], out_shape, scale, zp, name=name)
        elif layer.kind == "avgpool":
            h, w = net.values[layer.inputs[0]].shape[1:3]
            out = gb.op("AVERAGE_POOL_2D", [x_idx], out_shape, scale, zp, name=name,
                        filter_h=h, filter_w=w, stride_h=1, stride_w=1, padding="VALID")
        elif layer.kind == "fc":
            flat = (1, int(np.prod(net.values[layer.inputs[0]].shape[1:])))
            shape_idx = gb.const(np.array(flat, np.int32), name=f"{name}/shape")
            x_idx = gb.op("RESHAPE", [x_idx, shape_idx], flat, x_scale, qt[layer.inputs[0]][2],
                          name=f"{name}/flatten", new_shape=flat)
            f = symmetric_filter(layer.weights, axis=None)
            b = bias_int32(layer.bias, x_scale, f.scale)
            out = gb.op("FULLY_CONNECTED",
                        [x_idx, gb.quantized_const(f, name=f"{name}/weights"),
                         gb.quantized_const(b, name=f"{name}/bias")],
                        out_shape, scale, zp, name=name)
        else:  # softmax
            out = gb.op("SOFTMAX", [x_idx], out_shape, scale, zp, name=name, beta=1.0)
        qt[layer.output] = (out, scale, zp)

    out = qt[probs][0]
    if float_io:
        out = gb.op("DEQUANTIZE", [out], gb.tensor(out).shape, out_dtype="float32",
                    name="probabilities")
    gb.output(out)
    return gb.build()
