"""Bench cases of the depthwise, ADD and pooling kernels (see arm_emu/bench.py).

Fixed cases: the issue's reference depthwise shape (3x3, 40x40x48, stride 1, pad 1) with
seeded random data on the three depthwise kernels, then representative DEPTHWISE_CONV_2D,
ADD, AVERAGE_POOL_2D and MAX_POOL_2D layers of the shared models with their real weights
and quantization on a seeded random input. A depthwise layer runs on the NHWC kernel
that fits it (ts_depthwise_conv_3x3_s8 for 3x3 windows with dilation 1, else
ts_depthwise_conv_s8) and on the in-place CHW kernel.

"MACs" are multiply-accumulates for the depthwise kernels; for ADD they are the output
elements, for pooling the window points read (output elements x window size).
"""
from __future__ import annotations

import numpy as np

from kernels_ref import add as ref_add
from kernels_ref import average_pool_2d, max_pool_2d
from kernels_ref._broadcast import Broadcast
from kernels_ref._pool_common import PoolParams
from kernels_ref.depthwise_conv_2d import depthwise_conv_2d
from kernels_ref.quantization import quantize_multiplier_array

from . import kernels_dw as kd
from .bench import BenchCase, shared_models_dir

INPLACE = "ts_depthwise_conv_s8_inplace_chw"
# (model, op index): 3x3 stride 1 and 2, SAME and VALID, 5x5 and 7x7, few and many
# channels, a 1-D 10x1 window (generic kernel only)
DEPTHWISE_LAYERS = (
    ("mcunet_vww1", 3), ("mcunet_vww1", 7), ("mcunet_vww1", 10), ("mcunet_vww1", 19),
    ("mcunet_vww1", 22), ("mcunet_vww1", 26), ("mcunet_vww1", 34), ("mcunet_vww1", 45),
    ("mcunet_vww0", 9), ("mcunet_vww0", 55), ("mlperf_vww", 1), ("mlperf_vww", 3),
    ("mlperf_kws", 1), ("armzoo_vww2", 5), ("mlperf_sww", 4),
)
OTHER_LAYERS = (
    ("mcunet_vww1", 12), ("mlperf_ic", 3), ("armzoo_vww2", 11), ("mlperf_ic", 12),
    ("mlperf_kws", 9), ("armzoo_kws_dscnn_l", 12), ("mcunet_det", 50),
)
REFERENCE_SHAPE = (40, 40, 48)


def nhwc_kernel_for(filter_shape, dilation) -> str:
    """The NHWC depthwise kernel that fits a 1HWC filter and dilation."""
    return "ts_depthwise_conv_3x3_s8" if tuple(filter_shape[1:3]) == (3, 3) and \
        tuple(dilation) == (1, 1) else "ts_depthwise_conv_s8"


def depthwise_case(kernel: str, shape: str, x, f, bias, mult, shift, kwargs) -> BenchCase:
    oh, ow = kwargs["output_size"]
    run_inplace = kernel == INPLACE

    def run(cpu: str):
        m = kd.machine(cpu)
        if run_inplace:
            return kd.run_depthwise_conv_inplace_chw(m, x, f, bias, mult, shift, **kwargs)
        return kd.run_depthwise_conv(m, x, f, bias, mult, shift, kernel=kernel, **kwargs)

    return BenchCase(kernel=kernel, shape=shape, macs=oh * ow * f.shape[1] * f.shape[2] * f.shape[3],
                     run=run, reference=lambda: depthwise_conv_2d(x, f, bias, mult, shift, **kwargs))


def reference_cases(seed: int = 0) -> list[BenchCase]:
    """The issue's depthwise reference shape on the three depthwise kernels."""
    h, w, c = REFERENCE_SHAPE
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    f = rng.integers(-127, 128, (1, 3, 3, c), dtype=np.int8)
    bias = rng.integers(-5000, 5000, c).astype(np.int32)
    mult, shift = quantize_multiplier_array(rng.uniform(1e-3, 2e-2, c))
    kwargs = dict(output_size=(h, w), padding=(1, 1), input_offset=128,
                  output_offset=int(rng.integers(-20, 20)), act_min=-128, act_max=127)
    shape = f"reference: dw 3x3 {h}x{w}x{c} pad 1"
    return [depthwise_case(k, shape, x, f, bias, mult, shift, kwargs)
            for k in ("ts_depthwise_conv_3x3_s8", "ts_depthwise_conv_s8", INPLACE)]


def layer_cases(model: str, op_index: int, seed: int = 0) -> list[BenchCase]:
    """A shared model's layer on every kernel of this group that runs it."""
    layer = kd.model_layer(shared_models_dir() / f"{model}.tflite", op_index)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, layer.input_shape, dtype=np.int8)
    if layer.opcode == "DEPTHWISE_CONV_2D":
        kw = layer.depthwise_kwargs()
        p = layer.params
        args = (x, layer.filter, layer.bias, p.output_multiplier, p.output_shift, kw)
        kernels = [nhwc_kernel_for(layer.filter.shape, kw["dilation"])]
        if kw["dilation"] == (1, 1) and np.prod(kw["output_size"]) <= np.prod(x.shape[1:3]):
            kernels.append(INPLACE)
        return [depthwise_case(k, layer.name, *args) for k in kernels]
    out = np.empty(layer.output_shape, np.int8)
    if layer.opcode == "ADD":
        y = rng.integers(-128, 128, layer.input_shape, dtype=np.int8)

        def add_reference():
            ref_add.evaluate(layer.params, [x, y], [out])
            return out

        return [BenchCase("ts_add_s8", layer.name, int(np.prod(layer.output_shape)),
                          lambda cpu: kd.run_add(kd.machine(cpu), x, y, layer.params),
                          add_reference)]
    return [pool_case(layer.opcode, layer.name, x, layer.params, layer.output_shape)]


def pool_case(opcode: str, shape: str, x: np.ndarray, params: PoolParams,
              output_shape) -> BenchCase:
    avg = opcode == "AVERAGE_POOL_2D"
    module = average_pool_2d if avg else max_pool_2d
    run = kd.run_avgpool if avg else kd.run_maxpool

    def reference():
        out = np.empty(output_shape, np.int8)
        module.evaluate(params, [x], [out])
        return out

    return BenchCase("ts_avgpool_s8" if avg else "ts_maxpool_s8", shape,
                     int(np.prod(output_shape)) * params.filter_h * params.filter_w,
                     lambda cpu: run(kd.machine(cpu), x, params, output_shape[1:3]), reference)


def cases() -> list[BenchCase]:
    out = reference_cases()
    for model, op in DEPTHWISE_LAYERS + OTHER_LAYERS:
        out += layer_cases(model, op)
    return out


def _sweep_depthwise(rng: np.random.Generator, kernel: str, index: int) -> BenchCase:
    """A small random layer with wide quantization: tiny to > 0.5 effective scales,
    extreme biases, narrow clamp ranges (so every requantization path runs)."""
    fh, fw = (3, 3) if kernel == "ts_depthwise_conv_3x3_s8" else \
        tuple(int(v) for v in rng.choice([1, 2, 3, 5, 7], 2))
    dil = tuple(int(v) for v in rng.integers(1, 3, 2)) if kernel == "ts_depthwise_conv_s8" \
        else (1, 1)
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    eff = ((fh - 1) * dil[0] + 1, (fw - 1) * dil[1] + 1)
    pad = tuple(int(rng.integers(0, e)) for e in eff)
    h, w = (int(rng.integers(max(1, e - q), e + 9)) for e, q in zip(eff, pad))
    out = tuple(max(1, (n + 2 * q - e) // s + 1) for n, q, e, s in zip((h, w), pad, eff, stride))
    if kernel == INPLACE and out[0] * out[1] > h * w:
        out = (min(out[0], h), min(out[1], w))
    c = int(rng.integers(1, 14))
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    f = rng.integers(-128, 128, (1, fh, fw, c), dtype=np.int8)
    mult, shift = quantize_multiplier_array(np.exp(rng.uniform(np.log(1e-8), np.log(3.0), c)))
    bias = rng.integers(-30000, 30000, c).astype(np.int64)
    huge = rng.random(c) < 0.1
    bias[huge] = rng.integers(-(1 << 31), 1 << 31, int(huge.sum()))
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    kwargs = dict(output_size=out, stride=stride, dilation=dil, padding=pad,
                  input_offset=int(rng.integers(-127, 129)),
                  output_offset=int(rng.integers(-128, 128)), act_min=lo, act_max=hi)
    shape = (f"sweep {index}: dw {fh}x{fw} {h}x{w}x{c}->{out[0]}x{out[1]} stride {stride} "
             f"dilation {dil} pad {pad}")
    return depthwise_case(kernel, shape, x, f, bias.astype(np.int32), mult, shift, kwargs)


def _sweep_add(rng: np.random.Generator, index: int) -> BenchCase:
    n = int(rng.integers(1, 80))
    s1, s2 = (float(v) for v in np.exp(rng.uniform(np.log(1e-3), np.log(1.0), 2)))
    so = max(s1, s2) * float(rng.uniform(0.3, 3.0))
    z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
    act = str(rng.choice(["NONE", "RELU", "RELU6"]))
    params = ref_add.quantized_add_params(s1, z1, s2, z2, so, zo, act, Broadcast(None, None))
    x = rng.integers(-128, 128, (1, n), dtype=np.int8)
    y = rng.integers(-128, 128, (1, n), dtype=np.int8)

    def reference():
        out = np.empty_like(x)
        ref_add.evaluate(params, [x, y], [out])
        return out

    return BenchCase("ts_add_s8", f"sweep {index}: add {n} {act}", n,
                     lambda cpu: kd.run_add(kd.machine(cpu), x, y, params), reference)


def _sweep_pool(rng: np.random.Generator, opcode: str, index: int) -> BenchCase:
    h, w, c = (int(v) for v in (rng.integers(1, 12), rng.integers(1, 12), rng.integers(1, 14)))
    fh, fw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    pad = (int(rng.integers(0, fh)), int(rng.integers(0, fw)))
    oh = max(1, (h + 2 * pad[0] - fh) // sh + 1)
    ow = max(1, (w + 2 * pad[1] - fw) // sw + 1)
    # keep every window inside the input at least at one point, as TFLite padding does
    oh = min(oh, (h - 1 + pad[0]) // sh + 1)
    ow = min(ow, (w - 1 + pad[1]) // sw + 1)
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    params = PoolParams(sh, sw, fh, fw, pad[0], pad[1], lo, hi)
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    kind = "avgpool" if opcode == "AVERAGE_POOL_2D" else "maxpool"
    return pool_case(opcode, f"sweep {index}: {kind} {fh}x{fw} {h}x{w}x{c} stride {(sh, sw)} "
                             f"pad {pad}", x, params, (1, oh, ow, c))


def sweep(seed: int, count: int) -> list[BenchCase]:
    """``count`` small random cases per kernel, reproducible from ``seed``."""
    rng = np.random.default_rng(seed + 0x5D)
    out = []
    for i in range(count):
        for kernel in (*kd.DEPTHWISE_KERNELS, INPLACE):
            out.append(_sweep_depthwise(rng, kernel, i))
        out.append(_sweep_add(rng, i))
        out += [_sweep_pool(rng, op, i) for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D")]
    return out
