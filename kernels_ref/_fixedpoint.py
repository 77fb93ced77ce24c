"""gemmlowp fixed-point arithmetic on scalar int32 (and the int16 pieces HARD_SWISH uses).

A gemmlowp ``FixedPoint<int32_t, IntegerBits>`` is only its raw int32; the integer-bit
count is a compile-time type parameter in C++ and an explicit argument here. gemmlowp's
plain Add/Sub/Neg wrap on overflow (two's complement, as compiled for TFLM), numba
widens int32 arithmetic to int64, so every such result goes through ``_w32`` to wrap it
back. C's integer division truncates toward zero; numba's ``//`` floors, so truncating
divisions are written out.

Also the Prepare-time helpers of TFLM's quantization_util with their exact double
arithmetic (PreprocessSoftmaxScaling, CalculateInputRadius, ...), plain Python.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .quantization import (quantize_multiplier, rounding_divide_by_pot,
                           saturating_rounding_doubling_high_mul)

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


@njit(cache=True, inline="always")
def _w32(x):
    """Wrap to int32 (two's complement), as the C++ int32 arithmetic does."""
    return np.int32(np.int64(x))


@njit(cache=True, inline="always")
def srdhm(a, b):
    """FixedPoint operator*: SaturatingRoundingDoublingHighMul on the raw values."""
    return saturating_rounding_doubling_high_mul(a, b)


@njit(cache=True, inline="always")
def saturating_rounding_multiply_by_pot(x, exponent):
    """gemmlowp SaturatingRoundingMultiplyByPOT / TFLite SaturatingRoundingMultiplyByPOTParam:
    saturating left shift for exponent > 0, rounding right shift for exponent < 0."""
    x = np.int32(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = np.int32((np.int64(1) << (31 - exponent)) - 1)
    if x > threshold:
        return np.int32(INT32_MAX)
    if x < -threshold:
        return np.int32(INT32_MIN)
    return _w32(np.int64(x) << exponent)


@njit(cache=True, inline="always")
def rescale(x, src_integer_bits, dst_integer_bits):
    """gemmlowp Rescale<dst>(FixedPoint<src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


@njit(cache=True, inline="always")
def rounding_half_sum(a, b):
    """gemmlowp RoundingHalfSum(int32): (a + b + sign) / 2 in int64, C division."""
    s = np.int64(a) + np.int64(b)
    s += np.int64(1) if s >= 0 else np.int64(-1)
    q = s >> 1
    if s < 0 and (s & 1) != 0:
        q += 1
    return np.int32(q)


@njit(cache=True, inline="always")
def saturating_add(a, b):
    """TFLite SaturatingAddNonGemmlowp(int32)."""
    s = np.int64(a) + np.int64(b)
    return np.int32(min(max(s, np.int64(INT32_MIN)), np.int64(INT32_MAX)))


@njit(cache=True, inline="always")
def saturating_sub(a, b):
    """TFLite SaturatingSub(int32)."""
    s = np.int64(a) - np.int64(b)
    return np.int32(min(max(s, np.int64(INT32_MIN)), np.int64(INT32_MAX)))


@njit(cache=True, inline="always")
def count_leading_zeros_u32(x):
    """CountLeadingZeros(static_cast<uint32_t>(x)): 32 for 0."""
    u = np.int64(x) & np.int64(0xFFFFFFFF)
    if u == 0:
        return 32
    n = 0
    while u < (np.int64(1) << 31):
        u <<= 1
        n += 1
    return n


@njit(cache=True)
def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), a and result in Q0.31."""
    constant_term = np.int32(1895147668)      # exp(-1/8)
    constant_1_over_3 = np.int32(715827883)   # 1/3
    x = _w32(np.int64(a) + (1 << 28))        # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(
        _w32(np.int64(srdhm(_w32(np.int64(x4_over_4) + x3), constant_1_over_3)) + x2), -1)
    return _w32(np.int64(constant_term) + srdhm(
        constant_term, _w32(np.int64(x) + x4_over_24_plus_x3_over_6_plus_x2_over_2)))


# gemmlowp's exp barrel shifter: (exponent, exp(-2^exponent) in Q0.31)
_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


@njit(cache=True)
def exp_on_negative_values(a, integer_bits):
    """gemmlowp exp_on_negative_values: a in Q(integer_bits), result in Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = np.int32(1 << (fractional_bits - 2))
    mask = np.int32(one_quarter - 1)
    a_mod_quarter_minus_one_quarter = _w32(np.int64(np.int32(a) & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = _w32(np.int64(a_mod_quarter_minus_one_quarter) - np.int64(a))
    for k in range(len(_BARREL)):
        exponent, multiplier = _BARREL[k]
        if integer_bits > exponent:
            shift = fractional_bits + exponent
            if (np.int64(remainder) & (np.int64(1) << shift)) != 0:
                result = srdhm(result, np.int32(multiplier))
    if integer_bits > 5:
        clamp = np.int32(-(1 << (36 - integer_bits)))  # -32.0
        if a < clamp:
            result = np.int32(0)
    if a == 0:
        result = np.int32(INT32_MAX)  # FixedPoint<int32, 0>::One()
    return result


@njit(cache=True)
def _newton_reciprocal_f2(a):
    """The Newton-Raphson loop shared by one_over_one_plus_x_for_x_in_0_1 and
    one_minus_x_over_one_plus_x_for_x_in_0_1: 1 / ((a + 1) / 2) in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    constant_48_over_17 = np.int32(1515870810)
    constant_neg_32_over_17 = np.int32(-1010580540)
    f2_one = np.int32(1 << 29)
    x = _w32(np.int64(constant_48_over_17) + srdhm(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus_half_denominator_times_x = _w32(np.int64(f2_one) - half_denominator_times_x)
        x = _w32(np.int64(x) + rescale(srdhm(x, one_minus_half_denominator_times_x), 4, 2))
    return x


@njit(cache=True)
def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_f2(a)
    return rescale(x, 1, 0)  # ExactMulByPot<-1> makes Q2 a Q1, then Rescale<0>


@njit(cache=True)
def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_f2(a)
    return rescale(_w32(np.int64(x) - (1 << 29)), 2, 0)


@njit(cache=True)
def tanh(a, integer_bits):
    """gemmlowp tanh: a in Q(integer_bits), result in Q0.31."""
    a = np.int32(a)
    negative = a < 0
    n = a if negative else _w32(-np.int64(a))
    # neg_tanh_on_negative_values: ExactMulByPot<1> adds an integer bit to the same raw
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    if a == 0:
        return np.int32(0)
    return _w32(-np.int64(t)) if negative else t


@njit(cache=True)
def logistic(a, integer_bits):
    """gemmlowp logistic: a in Q(integer_bits), result in Q0.31."""
    a = np.int32(a)
    positive = a > 0
    abs_input = a if positive else _w32(-np.int64(a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(_w32(-np.int64(abs_input)), integer_bits))
    if a == 0:
        return np.int32(1 << 30)
    if positive:
        return result_if_positive
    return _w32(np.int64(INT32_MAX) - result_if_positive)


@njit(cache=True)
def get_reciprocal(x, x_integer_digits):
    """TFLite GetReciprocal: (1/x in Q0.31 after normalising x, num_bits_over_unit)."""
    headroom_plus_one = count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((np.int64(x) & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = _w32((shifted - (np.int64(1) << 31)) & 0xFFFFFFFF)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


@njit(cache=True)
def log_x_for_x_greater_than_or_equal_to_1(input_val, output_integer_bits, input_integer_bits):
    """TFLite log_x_for_x_greater_than_or_equal_to_1_impl: log(x) for x >= 1 (in practice
    down to 1/x_max), x in Q(input_integer_bits), result in Q(output_integer_bits)."""
    accum_integer_bits = output_integer_bits + 1
    log_2 = np.int32(1488522236)
    sqrt_sqrt_half = np.int32(1805811301)
    sqrt_half = np.int32(1518500250)
    one_quarter = np.int32(536870912)
    alpha_n = np.int32(117049297)
    alpha_d = np.int32(127690142)
    alpha_i = np.int32(1057819769)
    alpha_f = np.int32(638450708)

    shifted_quarter = rescale(one_quarter, 0, accum_integer_bits)

    # the input reinterpreted as Q0.31; the shift is worked out below instead of Rescale
    z_a = np.int32(input_val)
    z_a_headroom_plus_1 = count_leading_zeros_u32(z_a)
    r_a_tmp = saturating_rounding_multiply_by_pot(z_a, z_a_headroom_plus_1 - 1)
    r_a_raw = saturating_rounding_multiply_by_pot(srdhm(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = saturating_add(
        saturating_rounding_multiply_by_pot(np.int32(input_integer_bits - z_a_headroom_plus_1),
                                            31 - accum_integer_bits),
        shifted_quarter)

    z_b = srdhm(z_a, sqrt_half)
    z_b_headroom = count_leading_zeros_u32(z_b) - 1
    r_b_raw = saturating_rounding_multiply_by_pot(z_a, z_b_headroom)
    z_b_pow_2_adj = saturating_sub(
        saturating_rounding_multiply_by_pot(np.int32(input_integer_bits - z_b_headroom),
                                            31 - accum_integer_bits),
        shifted_quarter)

    r = min(r_a_raw, r_b_raw)
    z_pow_2_adj = max(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, sqrt_sqrt_half)
    q = _w32(np.int64(r) - sqrt_sqrt_half)
    q = _w32(np.int64(q) + q)

    common_sq = srdhm(q, q)
    num = _w32(np.int64(srdhm(q, r)) + srdhm(srdhm(q, common_sq), alpha_n))
    denom_minus_one_0 = _w32(
        np.int64(srdhm(p, _w32(np.int64(alpha_i) + q + srdhm(alpha_d, common_sq))))
        + srdhm(alpha_f, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0)

    num_scaled = rescale(num, 0, accum_integer_bits)
    return rescale(_w32(np.int64(srdhm(z_pow_2_adj, log_2)) + srdhm(num_scaled, recip_denom)),
                   accum_integer_bits, output_integer_bits)


# ---- int16 pieces (HARD_SWISH): C++ int16_t arithmetic, promoted to int, truncated back

@njit(cache=True, inline="always")
def _w16(x):
    return np.int16(np.int64(x))


@njit(cache=True, inline="always")
def srdhm_int16(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul(int16, int16)."""
    a = np.int32(a)
    b = np.int32(b)
    if a == b and a == -32768:
        return np.int16(32767)
    ab = a * b
    nudge = np.int32(1 << 14) if ab >= 0 else np.int32(1 - (1 << 14))
    num = ab + nudge
    q = num >> 15
    if num < 0 and (num & 0x7FFF) != 0:
        q += 1
    return _w16(q)


@njit(cache=True, inline="always")
def saturating_doubling_high_mul_int16(a, b):
    """TFLite SaturatingDoublingHighMul(int16): like SQDMULH, truncating toward zero."""
    a = np.int32(a)
    b = np.int32(b)
    if a == b and a == -32768:
        return np.int16(32767)
    ab = a * b
    q = ab >> 15
    if ab < 0 and (ab & 0x7FFF) != 0:
        q += 1
    return _w16(q)


@njit(cache=True, inline="always")
def rounding_divide_by_pot_int16(x, exponent):
    """gemmlowp RoundingDivideByPOT<int16_t>. The mask is (1 << exponent) - 1 truncated to
    int16, so exponents of 16 and more give mask -1: reproduced, not corrected."""
    x = np.int32(x)
    mask = np.int32(_w16((np.int64(1) << exponent) - 1))
    remainder = np.int32(_w16(x & mask))
    threshold = np.int32(_w16((mask >> 1) + (1 if x < 0 else 0)))
    return _w16((x >> exponent) + (1 if remainder > threshold else 0))


@njit(cache=True, inline="always")
def saturating_left_shift_int16(value, amount):
    """TFLite SaturatingLeftShift(int16_t, int)."""
    result = np.int64(value) * (np.int64(1) << amount)
    result = min(result, np.int64(32767))
    result = max(result, np.int64(-32768))
    return np.int16(result)


# ---- Prepare-time helpers (TFLM quantization_util), plain Python on doubles

def preprocess_softmax_scaling(beta: float, input_scale: float,
                               input_integer_bits: int) -> tuple[float, int, int]:
    """TFLM PreprocessSoftmaxScaling: (real multiplier, Q31 multiplier, left shift).

    The caller checks real multiplier > 1, where TFLM's QuantizeMultiplierGreaterThanOne
    would abort."""
    max_real_multiplier = float((1 << 31) - 1)
    real = min(beta * input_scale * float(1 << (31 - input_integer_bits)), max_real_multiplier)
    multiplier, left_shift = quantize_multiplier(real)
    return real, multiplier, left_shift


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius (the floating-point build)."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1)
                          * float(1 << (total_signed_bits - input_integer_bits))
                          / float(1 << input_left_shift))
    return int(math.floor(max_input_rescaled))

