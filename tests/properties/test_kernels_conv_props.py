"""The convolution and fully connected C kernels equal kernels_ref bit for bit on
Hypothesis-drawn layers, on the emulated Cortex-M7 and Cortex-M4: shapes, batches,
strides, dilations, paddings, channel counts (odd ones too), input and output offsets,
per-channel multipliers from 1e-9 to 4 (both requantization paths), biases up to the
int32 limits, all-zero channels and clamp ranges. Plus the arithmetic identities the
kernels rest on (ts_conv_core.h), checked against kernels_ref's TFLM primitives."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arm_emu import kernels_conv as kc
from kernels_ref.conv_2d import conv_2d
from kernels_ref.fully_connected import fully_connected
from kernels_ref.quantization import multiply_by_quantized_multiplier, quantize_multiplier_array

CPUS = ("cortex-m7", "cortex-m4")
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@st.composite
def quantization(draw, channels: int):
    """Per-channel (bias, multiplier, shift): scales log-uniform over [1e-9, 4], biases
    small or anywhere in int32."""
    exps = draw(st.lists(st.floats(-9.0, 0.6), min_size=channels, max_size=channels))
    mult, shift = quantize_multiplier_array(10.0 ** np.array(exps))
    biases = draw(st.lists(st.one_of(st.integers(-30000, 30000),
                                     st.integers(INT32_MIN, INT32_MAX)),
                           min_size=channels, max_size=channels))
    return np.array(biases, np.int32), mult, shift


@st.composite
def clamp(draw):
    lo = draw(st.one_of(st.just(-128), st.integers(-128, 0)))
    hi = draw(st.one_of(st.just(127), st.integers(max(lo, 0), 127)))
    return lo, hi


@st.composite
def conv_layers(draw):
    kernel = draw(st.sampled_from(kc.CONV_KERNELS))
    if kernel == "ts_convolve_1x1_s8":
        fh = fw = 1
        dilation = (1, 1)
    elif kernel == "ts_convolve_s8":
        fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        fh = fw = 3
        dilation = (1, 1)
    in_c = 3 if kernel == "ts_convolve_3x3_s2_c3_s8" else draw(st.integers(1, 13))
    stride = (2, 2) if kernel == "ts_convolve_3x3_s2_c3_s8" else \
        (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    eff = ((fh - 1) * dilation[0] + 1, (fw - 1) * dilation[1] + 1)
    pad = (0, 0) if kernel == "ts_convolve_1x1_s8" else \
        (draw(st.integers(0, eff[0] - 1)), draw(st.integers(0, eff[1] - 1)))
    h = draw(st.integers(max(1, eff[0] - 2 * pad[0]), eff[0] + 7))
    w = draw(st.integers(max(1, eff[1] - 2 * pad[1]), eff[1] + 7))
    # any output size the input and padding can produce (the bottom/right padding follows)
    oh = draw(st.integers(1, (h + 2 * pad[0] - eff[0]) // stride[0] + 1))
    ow = draw(st.integers(1, (w + 2 * pad[1] - eff[1]) // stride[1] + 1))
    out_c = draw(st.integers(1, 11))
    batches = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (batches, h, w, in_c), dtype=np.int8)
    f = rng.integers(-128, 128, (out_c, fh, fw, in_c), dtype=np.int8)
    dead = draw(st.lists(st.booleans(), min_size=out_c, max_size=out_c))
    f[np.array(dead)] = 0
    bias, mult, shift = draw(quantization(out_c))
    lo, hi = draw(clamp())
    kw = dict(output_size=(oh, ow), stride=stride, dilation=dilation, padding=pad,
              input_offset=draw(st.integers(-127, 128)),
              output_offset=draw(st.integers(-128, 127)), act_min=lo, act_max=hi)
    return kernel, x, f, bias, mult, shift, kw


@pytest.mark.parametrize("cpu", CPUS)
@given(layer=conv_layers())
def test_conv_kernels_equal_kernels_ref(cpu, layer):
    kernel, x, f, bias, mult, shift, kw = layer
    run = kc.run_conv(kc.machine(cpu), x, f, bias, mult, shift, kernel=kernel, **kw)
    np.testing.assert_array_equal(run.output, conv_2d(x, f, bias, mult, shift, **kw))


@st.composite
def fc_layers(draw):
    batches, depth, units = draw(st.integers(1, 3)), draw(st.integers(1, 40)), \
        draw(st.integers(1, 13))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-128, 128, (batches, depth), dtype=np.int8)
    f = rng.integers(-128, 128, (units, depth), dtype=np.int8)
    bias, mult, shift = draw(quantization(units))
    if draw(st.booleans()):   # TFLM's usual per-tensor FC multiplier
        mult, shift = mult[:1], shift[:1]
    lo, hi = draw(clamp())
    kw = dict(input_offset=draw(st.integers(-127, 128)),
              output_offset=draw(st.integers(-128, 127)), act_min=lo, act_max=hi)
    return x, f, bias, mult, shift, kw


@pytest.mark.parametrize("cpu", CPUS)
@given(layer=fc_layers())
def test_fully_connected_equals_kernels_ref(cpu, layer):
    x, f, bias, mult, shift, kw = layer
    run = kc.run_fully_connected(kc.machine(cpu), x, f, bias, mult, shift, **kw)
    np.testing.assert_array_equal(run.output, fully_connected(x, f, bias, mult, shift, **kw))


def smmlar(a: int, b: int, acc: int) -> int:
    """ARMv7-M SMMLAR, the 32-bit result as a signed int (Python model)."""
    r = ((acc << 32) + a * b + 0x80000000) >> 32
    r &= 0xFFFFFFFF
    return r - (1 << 32) if r & 0x80000000 else r


@given(acc=st.integers(-(1 << 30) + 1, (1 << 30) - 1),
       multiplier=st.one_of(st.just(0), st.integers(1 << 30, INT32_MAX), st.integers(0, INT32_MAX)),
       e=st.integers(1, 22), z=st.integers(-128, 127))
def test_fast_requantization_is_tflm_double_rounding(acc, multiplier, e, z):
    """ts_conv_core.h: for |acc| < 2^30, 1 <= e <= 22, multiplier in [0, 2^31):
    SMMLAR(2 acc, m, 2^(e-1) + z 2^e - (acc < 0)) >> e == MBQM(acc, m, -e) + z."""
    rounding = (1 << (e - 1)) + z * (1 << e)
    a2 = 2 * acc
    got = smmlar(a2, multiplier, rounding + (a2 >> 31)) >> e
    want = int(multiply_by_quantized_multiplier(np.int32(acc), np.int32(multiplier),
                                                np.int32(-e))) + z
    assert got == want


@given(v=st.integers(-300, 300), z=st.integers(-128, 127))
def test_constant_channel_form_reproduces_its_value(v, z):
    """A constant channel is stored as bias 4v, multiplier 2^30, right shift 1."""
    v = min(max(v, -256), 255)
    assert int(multiply_by_quantized_multiplier(np.int32(4 * v), np.int32(1 << 30),
                                                np.int32(-1))) == v
    rounding = 1 + z * 2
    assert smmlar(8 * v, 1 << 30, rounding + (-1 if v < 0 else 0)) >> 1 == v + z
