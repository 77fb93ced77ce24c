"""kernels_c/ts_support.h on the emulated Cortex-M4/M7 against kernels_ref.quantization."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from arm_emu import Out
from arm_harness import CPUS, machine
from kernels_ref.quantization import multiply_by_quantized_multiplier, quantize_multiplier_array


@njit(cache=True)
def reference_requantize(acc, mult, shift):
    out = np.empty(acc.shape[0], np.int32)
    for i in range(acc.shape[0]):
        out[i] = multiply_by_quantized_multiplier(acc[i], mult[i], shift[i])
    return out


def valid_triples(rng: np.random.Generator, n: int):
    """Random (acc, multiplier, shift) in TFLM's domain: multiplier 0 or in [2^30, 2^31),
    shift in [-31, 30], and acc * 2^max(shift, 0) fitting in int32."""
    shift = rng.integers(-31, 31, n)
    mult = rng.integers(1 << 30, 1 << 31, n)
    mult[rng.random(n) < 0.01] = 0
    left = np.maximum(shift, 0)
    limit = (1 << 31) >> left
    # half the accumulators small (typical), half across the whole legal range
    wide = rng.integers(-limit, limit)
    small = rng.integers(-(1 << 16), 1 << 16, n) >> left
    acc = np.where(rng.random(n) < 0.5, wide, small)
    return acc.astype(np.int32), mult.astype(np.int32), shift.astype(np.int32)


def edge_triples():
    """Every shift against accumulator and multiplier edges, incl. the rounding ties."""
    accs, mults, shifts = [], [], []
    mult_edges = [0, 1 << 30, (1 << 30) + 1, (1 << 31) - 1, 1518500250, 1895816040]
    for shift in range(-31, 31):
        left = max(shift, 0)
        hi = ((1 << 31) - 1) >> left
        lo = -((1 << 31) >> left)
        acc_edges = {lo, lo + 1, -1, 0, 1, hi, hi - 1}
        acc_edges |= {s * (1 << k) + d for k in range(0, 31) for s in (1, -1) for d in (-1, 0, 1)
                      if lo <= s * (1 << k) + d <= hi}
        for acc in sorted(acc_edges):
            for mult in mult_edges:
                accs.append(acc)
                mults.append(mult)
                shifts.append(shift)
    return (np.array(accs, np.int32), np.array(mults, np.int32), np.array(shifts, np.int32))


def run_c(cpu, acc, mult, shift):
    out = np.zeros(len(acc), np.int32)
    machine(cpu).call("fx_requantize", acc, mult, shift, Out(out), len(acc))
    return out


@pytest.mark.parametrize("cpu", CPUS)
def test_ts_requantize_edges(cpu):
    acc, mult, shift = edge_triples()
    np.testing.assert_array_equal(run_c(cpu, acc, mult, shift),
                                  reference_requantize(acc, mult, shift))


@pytest.mark.parametrize("cpu", CPUS)
def test_ts_requantize_a_million_random_triples(cpu):
    acc, mult, shift = valid_triples(np.random.default_rng(5), 1 << 20)
    np.testing.assert_array_equal(run_c(cpu, acc, mult, shift),
                                  reference_requantize(acc, mult, shift))


def test_ts_requantize_with_real_quantize_multiplier_outputs():
    rng = np.random.default_rng(11)
    reals = np.exp(rng.uniform(np.log(1e-6), np.log(40.0), 4096))
    mult, shift = quantize_multiplier_array(reals)
    acc = rng.integers(-(1 << 20), 1 << 20, 4096).astype(np.int32) >> np.maximum(shift, 0)
    acc = acc.astype(np.int32)
    np.testing.assert_array_equal(run_c("cortex-m7", acc, mult, shift),
                                  reference_requantize(acc, mult, shift))


def conv1x1_reference(x, w, bias, mult, shift, in_offset, out_offset):
    acc = (x.astype(np.int64) + in_offset) @ w.astype(np.int64).T + bias
    acc = acc.astype(np.int32)
    pixels, cout = acc.shape
    y = reference_requantize(acc.reshape(-1), np.tile(mult, pixels), np.tile(shift, pixels))
    return np.clip(y.reshape(pixels, cout) + out_offset, -128, 127).astype(np.int8)


def conv1x1_case(rng, pixels, cin, cout):
    x = rng.integers(-128, 128, (pixels, cin)).astype(np.int8)
    w = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    bias = rng.integers(-5000, 5000, cout).astype(np.int32)
    mult, shift = quantize_multiplier_array(rng.uniform(2e-4, 4e-3, cout))
    return x, w, bias, mult, shift


@pytest.mark.parametrize("cpu", CPUS)
def test_fixture_conv1x1_is_exact(cpu):
    """The benchmark's conv kernel computes what it claims (so its speed figures mean something)."""
    rng = np.random.default_rng(3)
    x, w, bias, mult, shift = conv1x1_case(rng, 25, 16, 8)
    out = np.zeros((25, 8), np.int8)
    res = machine(cpu).call("fx_conv1x1", x, w, bias, mult, shift, Out(out), 25, 16, 8, 17, -9)
    np.testing.assert_array_equal(out, conv1x1_reference(x, w, bias, mult, shift, 17, -9))
    assert res.stats.histogram["smlad"] == 25 * 16 * 8 // 2
    assert len(np.unique(out)) > 20, "outputs are not saturated"
