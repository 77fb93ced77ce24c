"""Python side of the convolution and fully connected C kernels (kernels_c/ts_nn.h).

Each ``run_*`` function takes the same arrays and quantization as its kernels_ref
counterpart (kernels_ref.conv_2d.conv_2d, kernels_ref.fully_connected.fully_connected),
prepares what the C kernel wants on the host (the work a code generator does once per
model), calls it on an emulated Cortex-M and returns a ``KernelRun`` (the output, shaped
as kernels_ref returns it, and the call's RunStats).

Host-side preparation, arithmetically identical to TFLM (derivations in ts_nn.h and
kernels_c/ts_conv_core.h):
  - ``pack_conv_filter``: the packed filter the conv kernels read, per output channel the
    weight row (OHWI order, zero-padded to a multiple of 4) followed by the multiplier,
    the right shift, the fast requantization's rounding constant (output offset folded
    in) and the next channel's bias with the input offset folded in
    (bias + input_offset * sum of the weights, wrapping in int32 like TFLM's accumulator).
    Channels whose output cannot depend on the input (all weights 0, or multiplier 0)
    are stored as the constant they are.
  - ``pack_fc_filter``: the same idea for fully connected layers, 4 units interleaved.
"""
from __future__ import annotations

import numpy as np

from kernels_ref import conv_2d, fully_connected
from kernels_ref.quantization import multiply_by_quantized_multiplier
from tinysim.errors import ShapeError, UnsupportedError
from tinysim.ir import Graph, Operator

from ._kernel_common import KernelRun, check_status, machine_factory, wrap_int32
from .build import KERNELS_C
from .machine import In, Machine, Out

CONV_KERNELS = ("ts_convolve_1x1_s8", "ts_convolve_3x3_s8", "ts_convolve_s8",
                "ts_convolve_3x3_s2_c3_s8")
FC_KERNEL = "ts_fully_connected_s8"
SOURCES = tuple(KERNELS_C / f"{name}.c" for name in (*CONV_KERNELS, FC_KERNEL))
FAST_MAX_RIGHT_SHIFT = 22   # the fast requantization's domain (ts_conv_core.h)
CHANNEL_WORDS = 4           # words after each packed weight row
PARAM_FIELDS = ("batches", "input_h", "input_w", "input_c", "output_h", "output_w",
                "output_c", "filter_h", "filter_w", "stride_h", "stride_w", "dilation_h",
                "dilation_w", "pad_h", "pad_w", "input_offset", "output_offset", "act_min",
                "act_max")


machine = machine_factory(SOURCES)


def _requantize(acc: int, multiplier: int, shift: int) -> int:
    return int(multiply_by_quantized_multiplier(np.int32(acc), np.int32(multiplier),
                                                np.int32(shift)))


def channel_constants(rows: np.ndarray, bias: np.ndarray | None, output_multiplier,
                      output_shift, input_offset: int, output_offset: int):
    """Per output channel: (weight rows, folded bias, multiplier, right shift, rounding).

    ``rows`` is [channels, K] int8. Returns the rows (constant channels zeroed) and int64
    arrays of the four constants, before packing.
    """
    channels = rows.shape[0]
    mult = np.asarray(output_multiplier, np.int64).reshape(-1)
    shift = np.asarray(output_shift, np.int64).reshape(-1)
    mult = np.broadcast_to(mult, (channels,)).copy() if mult.size == 1 else mult
    shift = np.broadcast_to(shift, (channels,)).copy() if shift.size == 1 else shift
    bias64 = np.zeros(channels, np.int64) if bias is None else \
        np.asarray(bias, np.int64).reshape(-1)
    if not (bias64.size == mult.size == shift.size == channels):
        raise ShapeError(f"bias, multipliers and shifts need {channels} entries (or one "
                         f"multiplier/shift), got {bias64.size}, {mult.size}, {shift.size}")
    if np.any(mult < 0) or np.any(mult >= 1 << 31) or np.any(shift < -31) or \
            np.any(shift > 30):
        raise UnsupportedError("output multipliers/shifts must be QuantizeMultiplier values: "
                               "multiplier in [0, 2^31), shift in [-31, 30]")
    rows = rows.copy()
    folded = wrap_int32(bias64 + int(input_offset) * rows.astype(np.int64).sum(axis=1))
    folded = folded.astype(np.int64)
    right = -shift
    constant = (mult == 0) | ~rows.any(axis=1)
    for c in np.flatnonzero(constant):
        # the output is the same for every input: store it as bias 4v, multiplier 1/2,
        # right shift 1 (v clamped to [-256, 255]: the output saturates beyond)
        v = 0 if mult[c] == 0 else _requantize(int(folded[c]), int(mult[c]), int(shift[c]))
        v = min(max(v, -256), 255)
        rows[c] = 0
        folded[c], mult[c], right[c] = 4 * v, 1 << 30, 1
    fast = (right >= 1) & (right <= FAST_MAX_RIGHT_SHIFT)
    e = np.clip(right, 1, FAST_MAX_RIGHT_SHIFT)
    rounding = np.where(fast, (np.int64(1) << (e - 1)) + int(output_offset) * (np.int64(1) << e),
                        0)
    return rows, folded, mult, right, rounding


def pack_conv_filter(filter: np.ndarray, bias: np.ndarray | None, output_multiplier,
                     output_shift, input_offset: int, output_offset: int) -> np.ndarray:
    """The packed filter of the conv kernels (ts_conv_packed_filter_size), as int32 words.

    Layout: bias'_0, then per output channel c: its K4 weight bytes (OHWI order, zeros up
    to a multiple of 4), multiplier_c, right_shift_c, rounding_c, bias'_{c+1} (0 last).
    """
    f = np.ascontiguousarray(filter)
    if f.dtype != np.int8 or f.ndim != 4:
        raise ShapeError(f"pack_conv_filter needs a 4-D OHWI int8 filter, got {f.dtype}{f.shape}")
    out_c = f.shape[0]
    k = f.shape[1] * f.shape[2] * f.shape[3]
    k4 = -(-k // 4) * 4
    rows, folded, mult, right, rounding = channel_constants(
        f.reshape(out_c, k), bias, output_multiplier, output_shift, input_offset,
        output_offset)
    padded = np.zeros((out_c, k4), np.int8)
    padded[:, :k] = rows
    next_bias = np.append(folded[1:], 0)
    tail = wrap_int32(np.stack([mult, right, rounding, next_bias], axis=1))
    body = np.concatenate([padded.view(np.int32), tail], axis=1).reshape(-1)
    return np.concatenate([wrap_int32(folded[:1]), body])


def conv_params(input_shape, filter_shape, output_size, stride, dilation, padding,
                input_offset, output_offset, act_min, act_max) -> np.ndarray:
    """ts_conv_params as an int32 array."""
    n, h, w, c = input_shape
    out_c, fh, fw, _ = filter_shape
    values = dict(batches=n, input_h=h, input_w=w, input_c=c, output_h=output_size[0],
                  output_w=output_size[1], output_c=out_c, filter_h=fh, filter_w=fw,
                  stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0],
                  dilation_w=dilation[1], pad_h=padding[0], pad_w=padding[1],
                  input_offset=input_offset, output_offset=output_offset, act_min=act_min,
                  act_max=act_max)
    return np.array([int(values[f]) for f in PARAM_FIELDS], np.int32)


def conv_buffer_size(filter_shape) -> int:
    """ts_convolve_s8_get_buffer_size: 9 * K4 bytes."""
    _, fh, fw, c = filter_shape
    return 9 * (-(-(fh * fw * c) // 4) * 4)


def run_conv(m: Machine, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
             output_multiplier, output_shift, *, output_size: tuple[int, int],
             stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
             padding: tuple[int, int] = (0, 0), input_offset: int, output_offset: int,
             act_min: int = -128, act_max: int = 127, kernel: str = "ts_convolve_s8",
             budget: int = 500_000_000) -> KernelRun:
    """kernels_ref.conv_2d.conv_2d's arguments (no groups), run by a C conv kernel."""
    if kernel not in CONV_KERNELS:
        raise UnsupportedError(f"run_conv: unknown kernel {kernel!r}; choose one of "
                               f"{', '.join(CONV_KERNELS)}")
    x = np.ascontiguousarray(input)
    f = np.ascontiguousarray(filter)
    if x.dtype != np.int8 or x.ndim != 4 or f.dtype != np.int8 or f.ndim != 4:
        raise ShapeError(f"{kernel} needs a 4-D int8 NHWC input and OHWI filter, got "
                         f"{x.dtype}{x.shape} and {f.dtype}{f.shape}")
    if f.shape[3] != x.shape[3]:
        raise UnsupportedError(
            f"{kernel}: filter depth {f.shape[3]} differs from the input's {x.shape[3]} "
            "channels; grouped convolutions run on kernels_ref only")
    params = conv_params(x.shape, f.shape, output_size, stride, dilation, padding,
                         input_offset, output_offset, act_min, act_max)
    packed = pack_conv_filter(f, bias, output_multiplier, output_shift, input_offset,
                              output_offset)
    out = np.zeros((x.shape[0], output_size[0], output_size[1], f.shape[0]), np.int8)
    buffer = np.zeros(conv_buffer_size(f.shape), np.int8)
    res = m.call(kernel, In(params, "params"), In(x, "input"), In(packed, "packed", align=4),
                 Out(buffer, "buffer", align=4), Out(out, "output"), budget=budget)
    check_status(kernel, res.value, params, PARAM_FIELDS)
    return KernelRun(out, res.stats)


FC_PARAM_FIELDS = ("batches", "accum_depth", "output_depth", "input_offset", "output_offset",
                   "act_min", "act_max")


def pack_fc_filter(filter: np.ndarray, bias: np.ndarray | None, output_multiplier,
                   output_shift, input_offset: int, output_offset: int) -> np.ndarray:
    """The packed filter of ts_fully_connected_s8 (ts_fc_packed_filter_size), int32 words.

    Blocks of 4 units (zero units complete the last): 4 folded biases, then per group of
    4 K the 4 units' weight words, then (multiplier, right shift, rounding) per unit.
    ``output_multiplier``/``output_shift``: one value (per-tensor) or one per unit.
    """
    f = np.ascontiguousarray(filter)
    if f.dtype != np.int8 or f.ndim != 2:
        raise ShapeError(f"pack_fc_filter needs a 2-D [units, K] int8 filter, got "
                         f"{f.dtype}{f.shape}")
    units, k = f.shape
    k4 = -(-k // 4) * 4
    blocks = -(-units // 4)
    rows, folded, mult, right, rounding = channel_constants(
        f, bias, output_multiplier, output_shift, input_offset, output_offset)
    padded = np.zeros((blocks * 4, k4), np.int8)
    padded[:units, :k] = rows
    consts = np.zeros((blocks * 4, 4), np.int64)
    consts[:units] = np.stack([folded, mult, right, rounding], axis=1)
    # zero units: bias 0, multiplier 0, right shift 1 (a constant 0, on the fast path)
    consts[units:, 2] = 1
    out = []
    for j in range(blocks):
        c = consts[4 * j:4 * j + 4]
        weights = padded[4 * j:4 * j + 4].view(np.int32)        # [4 units, k4/4 words]
        out += [wrap_int32(c[:, 0]), weights.T.reshape(-1), wrap_int32(c[:, 1:].reshape(-1))]
    return np.concatenate(out).astype(np.int32)


def run_fully_connected(m: Machine, input: np.ndarray, filter: np.ndarray,
                        bias: np.ndarray | None, output_multiplier, output_shift, *,
                        input_offset: int, output_offset: int, act_min: int = -128,
                        act_max: int = 127, budget: int = 500_000_000) -> KernelRun:
    """kernels_ref.fully_connected.fully_connected's arguments, run by ts_fully_connected_s8.
    Returns [batches, units] like the reference."""
    kernel = FC_KERNEL
    x = np.ascontiguousarray(input)
    f = np.ascontiguousarray(filter)
    if x.dtype != np.int8 or f.dtype != np.int8 or f.ndim != 2 or f.shape[1] == 0 or \
            x.size % f.shape[1]:
        raise ShapeError(f"{kernel} needs an int8 input whose size is a multiple of the 2-D "
                         f"int8 filter's depth, got {x.dtype}{x.shape} and {f.dtype}{f.shape}")
    units, depth = f.shape
    batches = x.size // depth
    params = np.array([batches, depth, units, input_offset, output_offset, act_min, act_max],
                      np.int32)
    packed = pack_fc_filter(f, bias, output_multiplier, output_shift, input_offset,
                            output_offset)
    out = np.zeros((batches, units), np.int8)
    buffer = np.zeros(2 * (-(-depth // 4) * 4), np.int8)
    res = m.call(kernel, In(params, "params"), In(x.reshape(batches, depth), "input"),
                 In(packed, "packed", align=4), Out(buffer, "buffer", align=4),
                 Out(out, "output"), budget=budget)
    check_status(kernel, res.value, params, FC_PARAM_FIELDS)
    return KernelRun(out, res.stats)


def conv_kernel_for(filter_shape, stride=(1, 1), dilation=(1, 1), padding=(0, 0)) -> str:
    """The C conv kernel for a layer: 1x1, first-layer 3x3/2 on 3 channels, 3x3, general."""
    _, fh, fw, in_c = filter_shape
    if (fh, fw) == (1, 1) and tuple(padding) == (0, 0):
        return "ts_convolve_1x1_s8"
    if (fh, fw) == (3, 3) and tuple(dilation) == (1, 1):
        if in_c == 3 and tuple(stride) == (2, 2):
            return "ts_convolve_3x3_s2_c3_s8"
        return "ts_convolve_3x3_s8"
    return "ts_convolve_s8"


def run_graph_op(m: Machine, graph: Graph, op: Operator, input: np.ndarray,
                 kernel: str | None = None, budget: int = 500_000_000) -> KernelRun:
    """Run one CONV_2D or FULLY_CONNECTED op of a loaded model (constant weights) on its
    first input, with kernels_ref's Prepare (TFLM's) for every quantization constant.
    ``kernel``: a conv kernel name, default conv_kernel_for the layer."""
    where = f"{graph.name}: op {op.index} ({op.opcode}): "
    filt = graph.tensor(op.inputs[1])
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if not filt.is_constant or (bias is not None and not bias.is_constant):
        raise UnsupportedError(f"{where}the C kernels take constant weights and biases; "
                               "run this op on kernels_ref")
    bias_data = None if bias is None else bias.data
    out_shape = graph.tensor(op.outputs[0]).shape
    if op.opcode == "FULLY_CONNECTED":
        p = fully_connected.prepare(graph, op)
        run = run_fully_connected(m, input, filt.data, bias_data, p.output_multiplier,
                                  p.output_shift, input_offset=p.input_offset,
                                  output_offset=p.output_offset, act_min=p.act_min,
                                  act_max=p.act_max, budget=budget)
        return KernelRun(run.output.reshape(out_shape), run.stats)
    if op.opcode != "CONV_2D":
        raise UnsupportedError(f"{where}kernels_conv runs CONV_2D and FULLY_CONNECTED only")
    p = conv_2d.prepare(graph, op)
    stride, dilation = (p.stride_h, p.stride_w), (p.dilation_h, p.dilation_w)
    padding = (p.pad_h, p.pad_w)
    name = kernel or conv_kernel_for(filt.shape, stride, dilation, padding)
    return run_conv(m, input, filt.data, bias_data, p.output_multiplier, p.output_shift,
                    output_size=out_shape[1:3], stride=stride, dilation=dilation,
                    padding=padding, input_offset=p.input_offset,
                    output_offset=p.output_offset, act_min=p.act_min, act_max=p.act_max,
                    kernel=name, budget=budget)


def reference_graph_op(graph: Graph, op: Operator, input: np.ndarray) -> np.ndarray:
    """kernels_ref's output for the same op and input (TFLM's reference semantics)."""
    mod = fully_connected if op.opcode == "FULLY_CONNECTED" else conv_2d
    params = mod.prepare(graph, op)
    inputs = [input] + [graph.tensor(i).data if i >= 0 else None for i in op.inputs[1:]]
    out = graph.tensor(op.outputs[0])
    result = np.zeros(out.shape, np.int8)
    mod.evaluate(params, inputs, [result])
    return result
