"""Bench cases of the convolution and fully connected kernels (see arm_emu/bench.py).

Fixed cases: the issue's reference pointwise shape (20x20x32 -> 64) and the same layer
with 8 and 16 input channels, then representative CONV_2D / FULLY_CONNECTED layers of the
shared models, run with their real weights and quantization on a seeded random input.
The reference shapes use seeded random weights, biases and per-channel multipliers with
realistic magnitudes (effective scales 1e-4..1e-2, input zero point -128 as after a ReLU).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from kernels_ref.conv_2d import conv_2d
from kernels_ref.conv_2d import prepare as conv_prepare
from kernels_ref.fully_connected import fully_connected
from kernels_ref.quantization import quantize_multiplier_array
from tinysim.errors import TinysimError
from tinysim.ir import Graph
from tinysim.loader import load_model

from . import kernels_conv as kc
from .bench import BenchCase, shared_models_dir

# (model, op index): first layers, pointwise layers with few and many input channels,
# 3x3 and general windows, a layer with dead channels (mlperf_vww op 10), one whose
# biases force the generic requantization (mcunet_vww0 op 79), fully connected layers
MODEL_LAYERS = (
    ("mcunet_vww1", 2), ("mcunet_vww1", 5), ("mcunet_vww1", 8), ("mcunet_vww1", 9),
    ("mcunet_vww1", 47), ("mcunet_det", 5), ("mlperf_vww", 0), ("mlperf_vww", 2),
    ("mlperf_vww", 10), ("mlperf_ic", 0), ("mlperf_ic", 1), ("mlperf_ic", 6),
    ("mlperf_ic", 9), ("mlperf_kws", 0), ("mlperf_kws", 2), ("mcunet_vww0", 79),
    ("mlperf_ad", 0), ("lenet_mnist", 2),
)
REFERENCE_1X1 = ((20, 20, 32, 64), (20, 20, 16, 64), (20, 20, 8, 64))
SHORT = {"ts_convolve_1x1_s8": "1x1", "ts_convolve_3x3_s8": "3x3", "ts_convolve_s8": "conv",
         "ts_convolve_3x3_s2_c3_s8": "3x3/2 c3", "ts_fully_connected_s8": "fc"}


@functools.lru_cache(maxsize=None)
def _model(name: str) -> Graph:
    path = shared_models_dir() / f"{name}.tflite"
    if not path.exists():
        raise TinysimError(f"shared model {path} is missing: the bench reads the shared "
                           "models from ../shared/models beside the repo (or $TINYSIM_MODELS)")
    return load_model(path)


def _quant(rng: np.random.Generator, channels: int):
    mult, shift = quantize_multiplier_array(rng.uniform(1e-4, 1e-2, channels))
    bias = rng.integers(-5000, 5000, channels).astype(np.int32)
    return bias, mult, shift


def reference_conv_case(h: int, w: int, in_c: int, out_c: int, fh: int = 1, fw: int = 1,
                        stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
                        kernel: str | None = None, seed: int = 0,
                        label: str = "reference") -> BenchCase:
    """A conv layer with seeded random data (VALID-sized output for the given padding)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, h, w, in_c), dtype=np.int8)
    f = rng.integers(-127, 128, (out_c, fh, fw, in_c), dtype=np.int8)
    bias, mult, shift = _quant(rng, out_c)
    oh = (h + 2 * padding[0] - fh) // stride[0] + 1
    ow = (w + 2 * padding[1] - fw) // stride[1] + 1
    kw = dict(output_size=(oh, ow), stride=stride, padding=padding, input_offset=128,
              output_offset=int(rng.integers(-20, 20)))
    name = kernel or kc.conv_kernel_for(f.shape, stride, (1, 1), padding)
    shape = f"{label}: {SHORT[name]} {h}x{w}x{in_c}->{out_c}"
    return BenchCase(
        kernel=name, shape=shape, macs=oh * ow * out_c * fh * fw * in_c,
        run=lambda cpu: kc.run_conv(kc.machine(cpu), x, f, bias, mult, shift, kernel=name,
                                    **kw),
        reference=lambda: conv_2d(x, f, bias, mult, shift, **kw))


def _describe(graph: Graph, op_index: int) -> tuple[str, int]:
    op = graph.operators[op_index]
    model = Path(graph.name).stem
    inp = graph.tensor(op.inputs[0]).shape
    filt = graph.tensor(op.inputs[1]).shape
    out = graph.tensor(op.outputs[0]).shape
    if op.opcode == "FULLY_CONNECTED":
        return (f"{model} op {op_index}: fc {filt[1]}->{filt[0]}",
                int(np.prod(out)) * filt[1])
    window = f"{filt[1]}x{filt[2]}" + (f"/{op.options['stride_h']}"
                                       if op.options["stride_h"] > 1 else "")
    return (f"{model} op {op_index}: {window} {inp[1]}x{inp[2]}x{inp[3]}->"
            f"{out[1]}x{out[2]}x{out[3]}", int(np.prod(out)) * filt[1] * filt[2] * filt[3])


def model_layer_case(model: str, op_index: int, seed: int = 0) -> BenchCase:
    graph = _model(model)
    op = graph.operators[op_index]
    if op.opcode not in ("CONV_2D", "FULLY_CONNECTED"):
        raise TinysimError(f"{model} op {op_index} is {op.opcode}, not a conv or FC layer")
    x = np.random.default_rng(seed).integers(-128, 128, graph.tensor(op.inputs[0]).shape,
                                             dtype=np.int8)
    if op.opcode == "FULLY_CONNECTED":
        kernel = kc.FC_KERNEL
    else:
        p = conv_prepare(graph, op)
        kernel = kc.conv_kernel_for(graph.tensor(op.inputs[1]).shape, (p.stride_h, p.stride_w),
                                    (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w))
    shape, macs = _describe(graph, op_index)
    return BenchCase(kernel=kernel, shape=shape, macs=macs,
                     run=lambda cpu: kc.run_graph_op(kc.machine(cpu), graph, op, x),
                     reference=lambda: kc.reference_graph_op(graph, op, x))


def cases() -> list[BenchCase]:
    fixed = [reference_conv_case(*s) for s in REFERENCE_1X1]
    return fixed + [model_layer_case(model, op) for model, op in MODEL_LAYERS]


def _sweep_conv(rng: np.random.Generator, kernel: str, index: int) -> BenchCase:
    """A small random layer for kernel, with wide quantization: tiny to > 0.25 effective
    scales, extreme biases, narrow clamp ranges (so every requantization path runs)."""
    if kernel == "ts_convolve_1x1_s8":
        fh = fw = 1
        in_c = int(rng.integers(1, 20))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        dilation = (1, 1)
    elif kernel == "ts_convolve_3x3_s2_c3_s8":
        fh = fw = 3
        in_c, stride, dilation = 3, (2, 2), (1, 1)
    else:
        fh, fw = (3, 3) if kernel == "ts_convolve_3x3_s8" else \
            tuple(int(v) for v in rng.integers(1, 6, 2))
        in_c = int(rng.integers(1, 13))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        dilation = (1, 1) if kernel == "ts_convolve_3x3_s8" else \
            tuple(int(v) for v in rng.integers(1, 3, 2))
    out_c = int(rng.integers(1, 12))
    n = int(rng.integers(1, 3))
    eff = ((fh - 1) * dilation[0] + 1, (fw - 1) * dilation[1] + 1)
    pad = (0, 0) if kernel == "ts_convolve_1x1_s8" else \
        tuple(int(rng.integers(0, e)) for e in eff)
    h, w = (int(rng.integers(max(1, e - 2 * q), e + 7)) for e, q in zip(eff, pad))
    oh = (h + 2 * pad[0] - eff[0]) // stride[0] + 1
    ow = (w + 2 * pad[1] - eff[1]) // stride[1] + 1
    x = rng.integers(-128, 128, (n, h, w, in_c), dtype=np.int8)
    f = rng.integers(-128, 128, (out_c, fh, fw, in_c), dtype=np.int8)
    f[rng.random(out_c) < 0.15] = 0
    mult, shift = quantize_multiplier_array(np.exp(rng.uniform(np.log(1e-8), np.log(3.0),
                                                               out_c)))
    bias = rng.integers(-30000, 30000, out_c).astype(np.int64)
    huge = rng.random(out_c) < 0.1
    bias[huge] = rng.integers(-(1 << 31), 1 << 31, int(huge.sum()))
    bias = bias.astype(np.int32)
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    kw = dict(output_size=(oh, ow), stride=stride, dilation=dilation, padding=pad,
              input_offset=int(rng.integers(-127, 129)),
              output_offset=int(rng.integers(-128, 128)), act_min=lo, act_max=hi)
    return BenchCase(
        kernel=kernel, shape=f"sweep {index}: {fh}x{fw} {n}x{h}x{w}x{in_c}->{out_c} "
                            f"stride {stride} dilation {dilation} pad {pad}",
        macs=n * oh * ow * out_c * fh * fw * in_c,
        run=lambda cpu: kc.run_conv(kc.machine(cpu), x, f, bias, mult, shift, kernel=kernel,
                                    **kw),
        reference=lambda: conv_2d(x, f, bias, mult, shift, **kw))


def _sweep_fc(rng: np.random.Generator, index: int) -> BenchCase:
    batches, depth, units = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 40),
                                              rng.integers(1, 14)))
    x = rng.integers(-128, 128, (batches, depth), dtype=np.int8)
    f = rng.integers(-128, 128, (units, depth), dtype=np.int8)
    per_unit = rng.random() < 0.5
    mult, shift = quantize_multiplier_array(np.exp(rng.uniform(np.log(1e-8), np.log(3.0),
                                                               units if per_unit else 1)))
    bias = rng.integers(-30000, 30000, units).astype(np.int32)
    kw = dict(input_offset=int(rng.integers(-127, 129)),
              output_offset=int(rng.integers(-128, 128)))
    return BenchCase(
        kernel=kc.FC_KERNEL, shape=f"sweep {index}: fc {batches}x{depth}->{units}",
        macs=batches * depth * units,
        run=lambda cpu: kc.run_fully_connected(kc.machine(cpu), x, f, bias, mult, shift, **kw),
        reference=lambda: fully_connected(x, f, bias, mult, shift, **kw))


def sweep(seed: int, count: int) -> list[BenchCase]:
    """``count`` small random cases per kernel, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        for kernel in kc.CONV_KERNELS:
            out.append(_sweep_conv(rng, kernel, i))
        out.append(_sweep_fc(rng, i))
    return out
