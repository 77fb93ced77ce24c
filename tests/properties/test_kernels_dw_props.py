"""The depthwise, ADD and pooling C kernels equal kernels_ref bit for bit on Hypothesis-drawn
shapes, strides, paddings, channel counts (odd ones too), offsets, per-channel multipliers
and clamp ranges, on the emulated Cortex-M7 and Cortex-M4; plus every DSP instruction they
use that tests/properties/test_arm_dsp.py does not cover, and their requantization
helpers, against Python models."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from _arm_models import (INT32_MAX, INT32_MIN, assert_instruction_matches, byte, halves,
                         operand_arrays, s8, s16, s32, sel_after_ssub8)
from arm_emu import Machine, Out
from arm_emu import kernels_dw as kd
from conftest import ROOT
from kernels_ref import average_pool_2d, max_pool_2d
from kernels_ref._broadcast import Broadcast
from kernels_ref._pool_common import pool_params
from kernels_ref.add import LEFT_SHIFT, AddParams
from kernels_ref.add import evaluate as add_evaluate
from kernels_ref.add import quantized_add_params
from kernels_ref.depthwise_conv_2d import depthwise_conv_2d
from kernels_ref.quantization import multiply_by_quantized_multiplier, quantize_multiplier_array

CPUS = ("cortex-m7", "cortex-m4")
ADD_TABLE_MIN = 256   # ts_add_s8.c: the size from which ts_add_s8 builds its table
FIXTURE = ROOT / "tests" / "arm_fixtures" / "fx_dw.c"


@functools.lru_cache(maxsize=None)
def fixture_machine(cpu: str) -> Machine:
    return Machine.from_sources([FIXTURE], cpu)


# ---------------------------------------------------------------- instruction models

def clamp4(x: int, lo: int, hi: int) -> int:
    """Lane-wise max with lo, then min with hi."""
    return sum((min(s8(byte(hi, i)), max(s8(byte(x, i)), s8(byte(lo, i)))) & 0xFF) << (8 * i)
               for i in range(4))


def smlal(x: int, y: int, z: int) -> int:
    start = (s32(z) >> 7) << 32 | (z & 0xFFFFFFFF)
    return (start + s32(x) * s32(y)) & 0xFFFFFFFFFFFFFFFF


def sat8(v: int) -> int:
    return max(-128, min(127, s32(v)))


# name -> (model on unsigned 32-bit operands, mnemonic that must have run)
MODELS = {
    "fx_dw_smlabb": (lambda x, y, z: s16(x) * s16(y) + s32(z), "smlabb"),
    "fx_dw_smlatt": (lambda x, y, z: s16(x >> 16) * s16(y >> 16) + s32(z), "smlatt"),
    "fx_dw_sxtab16_ror8": (lambda x, y, z: halves((x & 0xFFFF) + s8(byte(y, 1)),
                                                  (x >> 16) + s8(byte(y, 3))), "sxtab16"),
    "fx_dw_ssub8_sel": (lambda x, y, z: sel_after_ssub8(x, y, z, ~z & 0xFFFFFFFF), "ssub8"),
    "fx_dw_smlal_hi": (lambda x, y, z: smlal(x, y, z) >> 32, "smlal"),
    "fx_dw_smlal_lo": (lambda x, y, z: smlal(x, y, z), "smlal"),
    "fx_dw_sxtab_ror8": (lambda x, y, z: s32(x) + s8(byte(y, 1)), "sxtab"),
    "fx_dw_ssat_asr17": (lambda x, y, z: sat8(s32(x) >> 17), "ssat"),
    "fx_dw_ssat_asr18": (lambda x, y, z: sat8(s32(x) >> 18), "ssat"),
    "fx_dw_ssat_asr19": (lambda x, y, z: sat8(s32(x) >> 19), "ssat"),
    "fx_dw_smmlar": (lambda x, y, z: ((s32(z) << 32) + s32(x) * s32(y) + (1 << 31)) >> 32,
                     "smmlar"),
    "fx_dw_clamp4": (clamp4, "sel"),
    "fx_dw_pack4": (lambda x, y, z: sum((sat8(v) & 0xFF) << (8 * i) for i, v in
                                        enumerate((x, y, z, x ^ y))), "bfi"),
}
EDGES = [0, 1, -1, INT32_MIN, INT32_MAX, 0x7FFF, 0x8000, -0x8000, 0x7F7F7F7F, -0x7F7F7F80,
         0x00800080, 0x7FFF8000, 0x80808080 - (1 << 32), 0x01FF01FF]


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name", sorted(MODELS))
@given(operands=operand_arrays(EDGES, 40))
def test_instruction_matches_its_model(cpu, name, operands):
    model, mnemonic = MODELS[name]
    assert_instruction_matches(fixture_machine(cpu), name, model, mnemonic, operands)


# ---------------------------------------------------------------- requantization

@st.composite
def requant_cases(draw, fast: bool):
    n = draw(st.integers(1, 24))
    acc = draw(st.lists(st.one_of(st.integers(INT32_MIN, INT32_MAX),
                                  st.integers(-(1 << 20), 1 << 20),
                                  st.sampled_from([INT32_MIN, INT32_MAX, 0, -1, 1])),
                        min_size=n, max_size=n))
    if fast:
        mult = draw(st.lists(st.one_of(st.integers(1 << 30, INT32_MAX), st.integers(0, INT32_MAX),
                                       st.sampled_from([0, INT32_MAX, INT32_MAX - 2, 1 << 30])),
                             min_size=n, max_size=n))
        shift = draw(st.lists(st.integers(-kd.FAST_MAX_RIGHT_SHIFT, -kd.FAST_MIN_RIGHT_SHIFT),
                              min_size=n, max_size=n))
    else:
        mult = draw(st.lists(st.one_of(st.integers(0, INT32_MAX), st.just(0)),
                             min_size=n, max_size=n))
        shift = draw(st.lists(st.integers(-31, 30), min_size=n, max_size=n))
    offset = draw(st.integers(-128, 127))
    return (np.array(acc, np.int32), np.array(mult, np.int32), np.array(shift, np.int32), offset)


def reference_requant(acc, mult, shift, offset):
    return np.array([np.int32(np.int64(multiply_by_quantized_multiplier(np.int32(a), np.int32(m),
                                                                         int(s))) + offset)
                     for a, m, s in zip(acc, mult, shift)], np.int32)


@pytest.mark.parametrize("cpu", CPUS)
@given(case=requant_cases(fast=True))
def test_fast_requantization_is_tflm_exact(cpu, case):
    acc, mult, shift, offset = case
    table = kd.channel_table(None, mult, shift, offset)
    assert np.all(table[:, 3] >= 0), "every channel takes the fast path"
    out = np.zeros(len(acc), np.int32)
    fixture_machine(cpu).call("fx_dw_requant_fast", acc, table, Out(out), len(acc))
    np.testing.assert_array_equal(out, reference_requant(acc, mult, shift, offset))


@pytest.mark.parametrize("cpu", CPUS)
@given(case=requant_cases(fast=False))
def test_any_channel_requantization_is_tflm_exact(cpu, case):
    acc, mult, shift, offset = case
    table = kd.channel_table(None, mult, shift, offset)
    out = np.zeros(len(acc), np.int32)
    fixture_machine(cpu).call("fx_dw_requant_channel", acc, table, Out(out), len(acc), offset)
    expected = np.clip(reference_requant(acc, mult, shift, offset), -128, 127)
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------- kernels

@st.composite
def quantization(draw, channels: int):
    """Per-channel (multiplier, shift) from real scales, half the time mixed with scales
    the fast requantization does not take (>= 0.25, or below 2^-23)."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    scales = rng.uniform(1e-5, 0.05, channels)
    if draw(st.booleans()):
        pick = rng.integers(0, 3, channels)
        scales = np.where(pick == 1, rng.uniform(0.25, 3.0, channels), scales)
        scales = np.where(pick == 2, rng.uniform(1e-10, 1e-7, channels), scales)
    return quantize_multiplier_array(scales)


def activation_range(draw) -> tuple[int, int]:
    lo = draw(st.integers(-128, 127))
    return lo, draw(st.integers(lo, 127))


@st.composite
def depthwise_cases(draw, kernel: str):
    if kernel == "ts_depthwise_conv_3x3_s8":
        fh = fw = 3
    else:
        fh = draw(st.sampled_from([1, 2, 3, 4, 5, 7]))
        fw = draw(st.sampled_from([1, 2, 3, 5, 7]))
    dil = (1, 1) if kernel != "ts_depthwise_conv_s8" else \
        (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    eff = ((fh - 1) * dil[0] + 1, (fw - 1) * dil[1] + 1)
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    pad = (draw(st.integers(0, eff[0] - 1)), draw(st.integers(0, eff[1] - 1)))
    after = (draw(st.integers(0, eff[0] - 1)), draw(st.integers(0, eff[1] - 1)))
    out = tuple((size + p + q - e) // s + 1
                for size, p, q, e, s in zip((h, w), pad, after, eff, stride))
    assume(min(out) >= 1)
    if kernel == "ts_depthwise_conv_s8_inplace_chw":
        assume(out[0] * out[1] <= h * w)
    c = draw(st.integers(1, 13))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    f = rng.integers(-128, 128, (1, fh, fw, c), dtype=np.int8)
    bias = None if draw(st.integers(0, 5)) == 0 else \
        rng.integers(-(1 << draw(st.sampled_from([12, 20, 31]))), 1 << 20, c).astype(np.int32)
    mult, shift = draw(quantization(c))
    act_min, act_max = activation_range(draw)
    kwargs = dict(output_size=out, stride=stride, dilation=dil, padding=pad,
                  input_offset=draw(st.integers(-127, 128)),
                  output_offset=draw(st.integers(-128, 127)), act_min=act_min, act_max=act_max)
    return x, f, bias, mult, shift, kwargs


def _run_dw(kernel, cpu, case):
    x, f, bias, mult, shift, kwargs = case
    expected = depthwise_conv_2d(x, f, bias, mult, shift, **kwargs)
    m = kd.machine(cpu)
    if kernel == "ts_depthwise_conv_s8_inplace_chw":
        got = kd.run_depthwise_conv_inplace_chw(m, x, f, bias, mult, shift, **kwargs)
    else:
        got = kd.run_depthwise_conv(m, x, f, bias, mult, shift, kernel=kernel, **kwargs)
    np.testing.assert_array_equal(got.output, expected)


@pytest.mark.parametrize("cpu", CPUS)
@given(case=depthwise_cases("ts_depthwise_conv_s8"))
def test_depthwise_generic_equals_reference(cpu, case):
    _run_dw("ts_depthwise_conv_s8", cpu, case)


@pytest.mark.parametrize("cpu", CPUS)
@given(case=depthwise_cases("ts_depthwise_conv_3x3_s8"))
def test_depthwise_3x3_equals_reference(cpu, case):
    _run_dw("ts_depthwise_conv_3x3_s8", cpu, case)


@pytest.mark.parametrize("cpu", CPUS)
@given(case=depthwise_cases("ts_depthwise_conv_s8_inplace_chw"))
def test_depthwise_inplace_chw_equals_reference(cpu, case):
    _run_dw("ts_depthwise_conv_s8_inplace_chw", cpu, case)


scales = st.floats(1e-4, 1.0)
zero_points = st.integers(-128, 127)


@pytest.mark.parametrize("cpu", CPUS)
@given(size=st.integers(1, 70), seed=st.integers(0, 2 ** 32 - 1), s1=scales, s2=scales,
       so=scales, z1=zero_points, z2=zero_points, zo=zero_points,
       activation=st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
def test_add_equals_reference(cpu, size, seed, s1, s2, so, z1, z2, zo, activation):
    assume(2 * max(s1, s2) / ((1 << 20) * so) < 1.0)     # TFLM's own precondition
    params = quantized_add_params(s1, z1, s2, z2, so, zo, activation, Broadcast(None, None))
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (1, 1, size), dtype=np.int8)
    b = rng.integers(-128, 128, (1, 1, size), dtype=np.int8)
    expected = np.empty_like(a)
    add_evaluate(params, [a, b], [expected])
    got = kd.run_add(kd.machine(cpu), a, b, params)
    np.testing.assert_array_equal(got.output, expected)


HALF = (1 << 30, 0)   # the larger input scale's rescale in TFLM's Prepare: exactly 0.5


@st.composite
def raw_add_params(draw, output_shift: int | None) -> AddParams:
    """ADD quantization drawn directly (not through scales) to reach every path of
    ts_add_s8: the table path (one input's rescale HALF; either input, or both), the
    per-element fast path (neither), the output shift given (17-19 have their own code,
    SSAT with the shift folded in) or drawn in and out of the fast range [1, 23], zero
    multipliers, input shifts down to -31, extreme offsets, full and narrow clamp ranges."""
    def multiplier():   # QuantizeMultiplier's range [2^30, 2^31), or 0 (a zero scale)
        return 0 if draw(st.integers(0, 9)) == 0 else draw(st.integers(1 << 30, 2 ** 31 - 1))

    def rescale():
        return HALF if draw(st.booleans()) else (multiplier(), draw(st.integers(-31, 0)))
    m1, s1 = rescale()
    m2, s2 = rescale()
    mo = multiplier()
    so = draw(st.integers(-31, 0)) if output_shift is None else output_shift
    offset = st.one_of(st.sampled_from([-127, 128]), st.integers(-127, 128))
    act_min, act_max = activation_range(draw) if draw(st.booleans()) else (-128, 127)
    return AddParams(LEFT_SHIFT, draw(offset), m1, s1, draw(offset), m2, s2,
                     draw(st.integers(-128, 127)), mo, so, act_min, act_max,
                     Broadcast(None, None))


# Both inputs HALF, output multiplier 2^30, shift -19: the rescaled sum r = k * 2^18 for
# input sum k, a tie of RoundingDivideByPOT whenever k is odd; with k < 0 it rounds away
# from zero, which the fast paths' [sum < 0] term must reproduce.
NEGATIVE_TIES = AddParams(LEFT_SHIFT, 0, *HALF, 0, *HALF, 0, 1 << 30, -19, -128, 127,
                          Broadcast(None, None))


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("output_shift", [-17, -18, -19, None])
@given(data=st.data(), size=st.integers(ADD_TABLE_MIN - 6, ADD_TABLE_MIN + 70),
       seed=st.integers(0, 2 ** 32 - 1), extremes=st.booleans())
def test_add_any_quantization_equals_reference(cpu, output_shift, data, size, seed, extremes):
    """Both fast paths on either side of the table threshold, and the fallback."""
    params = data.draw(raw_add_params(output_shift))
    rng = np.random.default_rng(seed)
    if extremes:   # the largest |input + offset|, where the word-size bounds are tight
        a, b = (rng.choice(np.array([-128, 127], np.int8), size) for _ in range(2))
    else:
        a, b = (rng.integers(-128, 128, size, dtype=np.int8) for _ in range(2))
    expected = np.empty_like(a)
    add_evaluate(params, [a, b], [expected])
    got = kd.run_add(kd.machine(cpu), a, b, params)
    np.testing.assert_array_equal(got.output, expected)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("size", [ADD_TABLE_MIN - 1, ADD_TABLE_MIN + 3])
def test_add_rounds_negative_ties_away_from_zero(cpu, size):
    rng = np.random.default_rng(size)
    a = rng.integers(-128, 128, size, dtype=np.int8)
    b = rng.integers(-128, 128, size, dtype=np.int8)
    expected = np.empty_like(a)
    add_evaluate(NEGATIVE_TIES, [a, b], [expected])
    total = a.astype(np.int64) + b
    assert ((total < 0) & (total % 2 == 1)).sum() > size // 8, "the case holds negative ties"
    got = kd.run_add(kd.machine(cpu), a, b, NEGATIVE_TIES)
    np.testing.assert_array_equal(got.output, expected)


@st.composite
def pool_cases(draw):
    h, w, c = draw(st.integers(1, 11)), draw(st.integers(1, 11)), draw(st.integers(1, 13))
    fh, fw = draw(st.integers(1, min(h, 6))), draw(st.integers(1, min(w, 6)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    act_min, act_max = activation_range(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    return x, dict(filter_h=fh, filter_w=fw, stride_h=stride[0], stride_w=stride[1],
                   padding=padding, act_min=act_min, act_max=act_max)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("kind", ["avg", "max"])
@given(case=pool_cases())
def test_pool_equals_reference(cpu, kind, case):
    x, kw = case
    params, shape = pool_params(x.shape, kw["padding"], kw["stride_h"], kw["stride_w"],
                                kw["filter_h"], kw["filter_w"], kw["act_min"], kw["act_max"])
    ref = average_pool_2d.average_pool_2d if kind == "avg" else max_pool_2d.max_pool_2d
    expected = ref(x, **kw)
    run = kd.run_avgpool if kind == "avg" else kd.run_maxpool
    got = run(kd.machine(cpu), x, params, shape[1:3])
    np.testing.assert_array_equal(got.output, expected)
