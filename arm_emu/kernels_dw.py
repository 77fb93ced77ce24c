"""Python side of the depthwise, ADD and pooling C kernels (kernels_c/ts_nn.h).

Each ``run_*`` function takes the same arrays and quantization as its kernels_ref
counterpart, prepares what the C kernel wants on the host (the work a code generator
does once per model), calls it on an emulated Cortex-M and returns a ``KernelRun``
(the output, shaped like kernels_ref's, and the call's RunStats).

Host-side preparation, all arithmetically identical to TFLM:
  - ``channel_table``: per output channel, the bias, the multiplier and either the fast
    requantization's rounding constant (with the output offset folded in) and -shift - 1,
    or TFLM's shift and -1 for channels that take TFLM's own sequence;
    the C header (ts_dw_channel) and kernels_c/ts_dw_support.h derive the arithmetic.
  - ``filter_groups_of_4``: NHWC kernels read the weights of four channels of one tap as
    one word: TFLite's 1HWC filter reordered to [ceil(C/4)][H*W][4], zeros past C.
  - ``filter_chw``: the in-place CHW kernel takes TinyEngine's [C][H*W] order.
The depthwise kernels support depth multiplier 1 and batch 1; other cases raise
UnsupportedError naming the fix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_ref import add as ref_add
from kernels_ref import depthwise_conv_2d as ref_dw
from kernels_ref._pool_common import PoolParams, prepare_pool
from kernels_ref.add import AddParams
from tinysim.errors import ShapeError, UnsupportedError
from tinysim.loader import load_model

from ._kernel_common import KernelRun, check_status, machine_factory, wrap_int32
from .build import KERNELS_C
from .machine import In, Machine, Out

SOURCES = tuple(KERNELS_C / f"{name}.c" for name in (
    "ts_depthwise_conv_s8", "ts_depthwise_conv_3x3_s8", "ts_depthwise_conv_s8_inplace_chw",
    "ts_add_s8", "ts_avgpool_s8", "ts_maxpool_s8"))
DEPTHWISE_KERNELS = ("ts_depthwise_conv_s8", "ts_depthwise_conv_3x3_s8")
# ts_dw_requant_fast's domain (kernels_c/ts_dw_support.h)
FAST_MIN_RIGHT_SHIFT = 2
FAST_MAX_RIGHT_SHIFT = 23


machine = machine_factory(SOURCES)


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer of a real model, with its kernels_ref Params: what a kernel is run on.

    ``params`` is the op module's Params (DepthwiseConv2DParams, AddParams or PoolParams);
    ``filter``/``bias`` are the depthwise constants (None for ADD and pools).
    """
    name: str                          # e.g. "mcunet_vww1 op 7: dw 3x3/2 42x42x48->20x20x48"
    opcode: str
    input_shape: tuple[int, ...]       # NHWC
    output_shape: tuple[int, ...]
    params: object
    filter: np.ndarray | None = None
    bias: np.ndarray | None = None

    @property
    def macs(self) -> int:
        """Multiply-accumulates (depthwise), else output elements."""
        n = int(np.prod(self.output_shape))
        return n * self.filter.shape[1] * self.filter.shape[2] if self.filter is not None else n

    def depthwise_kwargs(self) -> dict:
        """Keyword arguments of kernels_ref.depthwise_conv_2d / run_depthwise_conv*."""
        p = self.params
        return dict(output_size=self.output_shape[1:3], depth_multiplier=p.depth_multiplier,
                    stride=(p.stride_h, p.stride_w), dilation=(p.dilation_h, p.dilation_w),
                    padding=(p.pad_h, p.pad_w), input_offset=p.input_offset,
                    output_offset=p.output_offset, act_min=p.act_min, act_max=p.act_max)


def model_layer(path, op_index: int) -> Layer:
    """The DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D or MAX_POOL_2D op ``op_index`` of a
    .tflite model, prepared by kernels_ref."""
    graph = load_model(path)
    model = graph.name.removesuffix(".tflite")
    op = graph.operators[op_index]
    ins = graph.op_inputs(op)
    inp, out = ins[0], graph.tensor(op.outputs[0])
    shape_in, shape_out = tuple(inp.shape), tuple(out.shape)
    h, w, c = shape_in[1:]
    if op.opcode == "DEPTHWISE_CONV_2D":
        params = ref_dw.prepare(graph, op)
        filt = ins[1].data
        bias = ins[2].data if len(ins) > 2 and ins[2] is not None else None
        stride = "" if (params.stride_h, params.stride_w) == (1, 1) else \
            f"/{params.stride_h}" if params.stride_h == params.stride_w else \
            f"/{params.stride_h}x{params.stride_w}"
        what = (f"dw {filt.shape[1]}x{filt.shape[2]}{stride} {h}x{w}x{c}->"
                f"{shape_out[1]}x{shape_out[2]}x{shape_out[3]}")
        return Layer(f"{model} op {op_index}: {what}", op.opcode, shape_in, shape_out,
                     params, filt, bias)
    if op.opcode == "ADD":
        return Layer(f"{model} op {op_index}: add {h}x{w}x{c}", op.opcode, shape_in,
                     shape_out, ref_add.prepare(graph, op))
    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        params = prepare_pool(graph, op)
        kind = "avgpool" if op.opcode == "AVERAGE_POOL_2D" else "maxpool"
        return Layer(f"{model} op {op_index}: {kind} {params.filter_h}x{params.filter_w}/"
                     f"{params.stride_h} {h}x{w}x{c}->{shape_out[1]}x{shape_out[2]}x{c}",
                     op.opcode, shape_in, shape_out, params)
    raise UnsupportedError(f"{model}: op {op_index} is {op.opcode}; model_layer takes "
                           "DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D or MAX_POOL_2D")


def channel_table(bias: np.ndarray | None, output_multiplier: np.ndarray,
                  output_shift: np.ndarray, output_offset: int) -> np.ndarray:
    """ts_dw_channel[C] as an int32 [C, 4] array.

    Columns: bias (0 when omitted), multiplier, then for a channel the fast
    requantization takes (2 <= e <= 23, e = -shift) 2^(e-2) + output_offset * 2^(e-1)
    and e - 1, for any other channel its shift and -1.
    """
    mult = np.asarray(output_multiplier, np.int64).reshape(-1)
    shift = np.asarray(output_shift, np.int64).reshape(-1)
    bias64 = np.zeros(mult.size, np.int64) if bias is None else \
        np.asarray(bias, np.int64).reshape(-1)
    if not bias64.size == mult.size == shift.size:
        raise ShapeError(f"channel_table: bias, multipliers and shifts need one entry per "
                         f"channel, got {bias64.size}, {mult.size}, {shift.size}")
    if np.any(mult < 0) or np.any(mult >= 1 << 31) or np.any(shift < -31) or \
            np.any(shift > 30):
        raise UnsupportedError("channel_table: output multipliers and shifts must be "
                               "QuantizeMultiplier values (multiplier in [0, 2^31), shift in "
                               "[-31, 30])")
    e = -shift
    fast = (e >= FAST_MIN_RIGHT_SHIFT) & (e <= FAST_MAX_RIGHT_SHIFT)
    ef = np.clip(e, FAST_MIN_RIGHT_SHIFT, FAST_MAX_RIGHT_SHIFT)
    rounding = np.where(fast, (1 << (ef - 2)) + int(output_offset) * (1 << (ef - 1)), shift)
    post_shift = np.where(fast, e - 1, -1)
    return wrap_int32(np.stack([bias64, mult, rounding, post_shift], 1))


def filter_groups_of_4(filter: np.ndarray) -> np.ndarray:
    """1HWC depthwise filter -> [ceil(C/4)][H*W][4] int8, zeros past C (NHWC kernels)."""
    _, fh, fw, channels = filter.shape
    groups = -(-channels // 4)
    padded = np.zeros((fh * fw, groups * 4), np.int8)
    padded[:, :channels] = filter.reshape(fh * fw, channels)
    return np.ascontiguousarray(padded.reshape(fh * fw, groups, 4).transpose(1, 0, 2))


def filter_chw(filter: np.ndarray) -> np.ndarray:
    """1HWC depthwise filter -> [C][H*W] int8 (TinyEngine's order, the in-place kernel)."""
    _, fh, fw, channels = filter.shape
    return np.ascontiguousarray(filter.reshape(fh * fw, channels).T)


def run_depthwise_conv(m: Machine, input: np.ndarray, filter: np.ndarray,
                       bias: np.ndarray | None, output_multiplier: np.ndarray,
                       output_shift: np.ndarray, *, output_size: tuple[int, int],
                       depth_multiplier: int = 1, stride: tuple[int, int] = (1, 1),
                       dilation: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
                       input_offset: int, output_offset: int, act_min: int = -128,
                       act_max: int = 127, kernel: str = "ts_depthwise_conv_s8",
                       budget: int = 500_000_000) -> KernelRun:
    """kernels_ref.depthwise_conv_2d's arguments, run by an NHWC C kernel
    (``kernel`` = ts_depthwise_conv_s8 or ts_depthwise_conv_3x3_s8)."""
    if kernel not in DEPTHWISE_KERNELS:
        raise UnsupportedError(f"run_depthwise_conv: unknown kernel {kernel!r}; choose one of "
                               f"{', '.join(DEPTHWISE_KERNELS)}")
    x, f = _check_depthwise(kernel, input, filter, depth_multiplier)
    if kernel == "ts_depthwise_conv_3x3_s8" and (f.shape[1:3] != (3, 3) or
                                                 tuple(dilation) != (1, 1)):
        raise UnsupportedError(
            f"{kernel} needs a 3x3 window and dilation 1, got {f.shape[1]}x{f.shape[2]} and "
            f"dilation {tuple(dilation)}; use ts_depthwise_conv_s8")
    params = _dw_params(x.shape, f.shape, output_size, stride, dilation, padding, input_offset,
                        output_offset, act_min, act_max)
    table = channel_table(bias, output_multiplier, output_shift, output_offset)
    if len(table) != x.shape[3]:
        raise ShapeError(f"{kernel}: {len(table)} multipliers for {x.shape[3]} channels")
    out = np.zeros((output_size[0], output_size[1], x.shape[3]), np.int8)
    res = m.call(kernel, In(params, "params"), In(x[0], "input"),
                 In(filter_groups_of_4(f), "filter", align=4), In(table, "channel"),
                 Out(out, "output"), budget=budget)
    check_status(kernel, res.value, params)
    return KernelRun(out[np.newaxis], res.stats)


def inplace_chw_buffer_size(m: Machine, params: np.ndarray) -> int:
    """Bytes of scratch ts_depthwise_conv_s8_inplace_chw needs (asked of the C code)."""
    res = m.call("ts_depthwise_conv_s8_inplace_chw_get_buffer_size", In(params, "params"))
    if res.value < 0:
        check_status("ts_depthwise_conv_s8_inplace_chw_get_buffer_size", res.value, params)
    return res.value


def run_depthwise_conv_inplace_chw(m: Machine, input: np.ndarray, filter: np.ndarray,
                                   bias: np.ndarray | None, output_multiplier: np.ndarray,
                                   output_shift: np.ndarray, *, output_size: tuple[int, int],
                                   depth_multiplier: int = 1, stride: tuple[int, int] = (1, 1),
                                   dilation: tuple[int, int] = (1, 1),
                                   padding: tuple[int, int] = (0, 0), input_offset: int,
                                   output_offset: int, act_min: int = -128, act_max: int = 127,
                                   budget: int = 500_000_000) -> KernelRun:
    """The same arguments (NHWC in, NHWC out), run by the in-place CHW kernel: the input
    is transposed to CHW, overwritten by the CHW output, which is transposed back."""
    kernel = "ts_depthwise_conv_s8_inplace_chw"
    x, f = _check_depthwise(kernel, input, filter, depth_multiplier)
    if tuple(dilation) != (1, 1):
        raise UnsupportedError(f"{kernel} needs dilation 1, got {tuple(dilation)}; use "
                               "ts_depthwise_conv_s8")
    _, h, w, c = x.shape
    if output_size[0] * output_size[1] > h * w:
        raise UnsupportedError(
            f"{kernel}: the output plane {output_size[0]}x{output_size[1]} is larger than the "
            f"input plane {h}x{w}, so it cannot overwrite the input; use ts_depthwise_conv_s8")
    params = _dw_params(x.shape, f.shape, output_size, stride, dilation, padding, input_offset,
                        output_offset, act_min, act_max)
    table = channel_table(bias, output_multiplier, output_shift, output_offset)
    if len(table) != c:
        raise ShapeError(f"{kernel}: {len(table)} multipliers for {c} channels")
    # a copy even when the transpose is already contiguous (C = 1): the kernel writes it
    data = np.array(x[0].transpose(2, 0, 1), order="C", copy=True).reshape(-1)
    buffer = np.zeros(inplace_chw_buffer_size(m, params), np.int8)
    res = m.call(kernel, In(params, "params"), Out(data, "data"),
                 In(filter_chw(f), "filter"), In(table, "channel"),
                 Out(buffer, "buffer", align=4), budget=budget)
    check_status(kernel, res.value, params)
    out = data[:c * output_size[0] * output_size[1]].reshape(c, *output_size)
    return KernelRun(np.ascontiguousarray(out.transpose(1, 2, 0))[np.newaxis], res.stats)


def run_add(m: Machine, input1: np.ndarray, input2: np.ndarray, params: AddParams,
            budget: int = 500_000_000) -> KernelRun:
    """ts_add_s8 on two int8 arrays of one shape, with kernels_ref.add's AddParams."""
    kernel = "ts_add_s8"
    a, b = np.ascontiguousarray(input1), np.ascontiguousarray(input2)
    if a.dtype != np.int8 or b.dtype != np.int8 or a.shape != b.shape:
        raise UnsupportedError(
            f"{kernel} adds two int8 arrays of one shape (no broadcasting), got "
            f"{a.dtype}{a.shape} and {b.dtype}{b.shape}; use kernels_ref.add for broadcasts")
    packed = wrap_int32(np.array([
        params.input1_offset, params.input2_offset, params.left_shift,
        params.input1_multiplier, params.input1_shift, params.input2_multiplier,
        params.input2_shift, params.output_multiplier, params.output_shift,
        params.output_offset, params.act_min, params.act_max], np.int64))
    out = np.zeros(a.shape, np.int8)
    res = m.call(kernel, In(packed, "params"), In(a.reshape(-1), "input1"),
                 In(b.reshape(-1), "input2"), a.size, Out(out.reshape(-1), "output"),
                 budget=budget)
    check_status(kernel, res.value, packed)
    return KernelRun(out, res.stats)


def run_avgpool(m: Machine, input: np.ndarray, params: PoolParams,
                output_size: tuple[int, int], budget: int = 500_000_000) -> KernelRun:
    """ts_avgpool_s8 with kernels_ref's PoolParams (NHWC, batch 1)."""
    return _run_pool(m, "ts_avgpool_s8", input, params, output_size, budget)


def run_maxpool(m: Machine, input: np.ndarray, params: PoolParams,
                output_size: tuple[int, int], budget: int = 500_000_000) -> KernelRun:
    """ts_maxpool_s8 with kernels_ref's PoolParams (NHWC, batch 1)."""
    return _run_pool(m, "ts_maxpool_s8", input, params, output_size, budget)


def _run_pool(m: Machine, kernel: str, input: np.ndarray, params: PoolParams,
              output_size: tuple[int, int], budget: int) -> KernelRun:
    x = np.ascontiguousarray(input)
    if x.dtype != np.int8 or x.ndim != 4 or x.shape[0] != 1:
        raise UnsupportedError(f"{kernel} takes one int8 NHWC image (batch 1), got "
                               f"{x.dtype}{x.shape}; call it once per image")
    _, h, w, c = x.shape
    p = params
    packed = wrap_int32(np.array([h, w, c, output_size[0], output_size[1], p.filter_h,
                                   p.filter_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
                                   p.act_min, p.act_max], np.int64))
    out = np.zeros((output_size[0], output_size[1], c), np.int8)
    res = m.call(kernel, In(packed, "params"), In(x[0], "input"), Out(out, "output"),
                 budget=budget)
    check_status(kernel, res.value, packed)
    return KernelRun(out[np.newaxis], res.stats)


def _check_depthwise(kernel: str, input: np.ndarray, filter: np.ndarray,
                     depth_multiplier: int) -> tuple[np.ndarray, np.ndarray]:
    x, f = np.ascontiguousarray(input), np.ascontiguousarray(filter)
    if x.dtype != np.int8 or f.dtype != np.int8 or x.ndim != 4 or f.ndim != 4:
        raise ShapeError(f"{kernel} needs a 4-D int8 NHWC input and a 4-D int8 1HWC filter, "
                         f"got {x.dtype}{x.shape} and {f.dtype}{f.shape}")
    if x.shape[0] != 1:
        raise UnsupportedError(f"{kernel} takes one image (batch 1), got batch {x.shape[0]}; "
                               "call it once per image")
    if depth_multiplier != 1 or f.shape[0] != 1 or f.shape[3] != x.shape[3]:
        raise UnsupportedError(
            f"{kernel} supports depth multiplier 1 only (filter 1xHxWx{x.shape[3]}), got "
            f"depth_multiplier {depth_multiplier} and filter {f.shape}; use "
            "kernels_ref.depthwise_conv_2d")
    return x, f


def _dw_params(in_shape, filter_shape, output_size, stride, dilation, padding, input_offset,
               output_offset, act_min, act_max) -> np.ndarray:
    """ts_dw_params as an int32 array (field order of the C struct)."""
    _, h, w, c = in_shape
    _, fh, fw, _ = filter_shape
    return wrap_int32(np.array([h, w, c, output_size[0], output_size[1], fh, fw, stride[0],
                                 stride[1], dilation[0], dilation[1], padding[0], padding[1],
                                 input_offset, output_offset, act_min, act_max], np.int64))
