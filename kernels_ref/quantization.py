"""TFLM's integer requantization primitives, bit for bit.

TFLM (unlike LiteRT's BUILTIN_REF FULLY_CONNECTED) uses gemmlowp-style *double*
rounding in MultiplyByQuantizedMultiplier: a rounding doubling high multiply, then a
rounding right shift. C integer division truncates toward zero; numba's // floors, so
the truncation is written out explicitly.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(double_multiplier: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real multiplier -> (Q31 multiplier, shift), shift>0 = left."""
    if double_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(double_multiplier)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    # No clamp of shifts above 30: TFLM has it only in its single-rounding build, and
    # softmax's large beta * input_scale multipliers rely on its absence.
    return int(q_fixed), int(shift)


def quantize_multiplier_array(multipliers) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(m)) for m in np.asarray(multipliers, np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def _round_half_away(x: float) -> int:
    """std::round / TfLiteRound: halves round away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def round_half_away(x: float) -> int:
    return _round_half_away(x)


@njit(cache=True, inline="always")
def saturating_rounding_doubling_high_mul(a, b):
    a = np.int64(a)
    b = np.int64(b)
    if a == b and a == INT32_MIN:
        return np.int32(INT32_MAX)
    ab = a * b
    nudge = np.int64(1 << 30) if ab >= 0 else np.int64(1 - (1 << 30))
    num = ab + nudge
    # C's truncating division by 2^31
    q = num >> 31
    if num < 0 and (num & ((np.int64(1) << 31) - 1)) != 0:
        q += 1
    return np.int32(q)


@njit(cache=True, inline="always")
def rounding_divide_by_pot(x, exponent):
    x = np.int32(x)
    mask = np.int32((np.int64(1) << exponent) - 1)
    remainder = x & mask
    threshold = (mask >> 1) + (np.int32(1) if x < 0 else np.int32(0))
    return np.int32((x >> exponent) + (np.int32(1) if remainder > threshold else np.int32(0)))


@njit(cache=True, inline="always")
def multiply_by_quantized_multiplier(x, quantized_multiplier, shift):
    """TFLM reference MultiplyByQuantizedMultiplier(int32, int32, int) with double rounding."""
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    # x * 2^left wraps in int32 in C only on overflow, which valid models never hit
    xs = np.int32(np.int64(x) * (np.int64(1) << left_shift))
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(xs, quantized_multiplier), right_shift)


@njit(cache=True, inline="always")
def multiply_by_quantized_multiplier_smaller_than_one_exp(x, quantized_multiplier, left_shift):
    """gemmlowp's MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0)."""
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, quantized_multiplier), -left_shift)


@njit(cache=True, inline="always")
def multiply_by_quantized_multiplier_greater_than_one(x, quantized_multiplier, left_shift):
    xs = np.int32(np.int64(x) * (np.int64(1) << left_shift))
    return saturating_rounding_doubling_high_mul(xs, quantized_multiplier)
