"""ts_requantize (kernels_c/ts_support.h) equals TFLM's MultiplyByQuantizedMultiplier for
every multiplier != INT32_MIN, not just QuantizeMultiplier's: the 64-bit shortcut for
SaturatingRoundingDoublingHighMul holds for any operands but INT32_MIN x INT32_MIN."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arm_emu import Out
from arm_harness import CPUS, machine
from kernels_ref.quantization import multiply_by_quantized_multiplier


@st.composite
def triples(draw):
    n = draw(st.integers(1, 64))
    rows = []
    for _ in range(n):
        shift = draw(st.integers(-31, 30))
        left = max(shift, 0)
        acc = draw(st.integers(-((1 << 31) >> left), ((1 << 31) - 1) >> left))
        mult = draw(st.integers(-(1 << 31) + 1, (1 << 31) - 1))
        rows.append((acc, mult, shift))
    return [np.array(col, np.int32) for col in zip(*rows)]


@pytest.mark.parametrize("cpu", CPUS)
@given(columns=triples())
def test_ts_requantize_matches_tflm(cpu, columns):
    acc, mult, shift = columns
    out = np.zeros(len(acc), np.int32)
    machine(cpu).call("fx_requantize", acc, mult, shift, Out(out), len(acc))
    expected = [multiply_by_quantized_multiplier(int(a), int(m), int(s))
                for a, m, s in zip(acc, mult, shift)]
    np.testing.assert_array_equal(out, np.array(expected, np.int32))
