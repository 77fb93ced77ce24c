/**
 * @file ts_support.h
 * @brief Inline helpers shared by tinysim's C kernels.
 *
 * Everything here is bit-exact with TensorFlow Lite for Microcontrollers (TFLM) and is
 * checked against tinysim's Python reference (kernels_ref/quantization.py) on the
 * emulated Cortex-M4 and Cortex-M7 (tests/test_arm_support.py).
 */
#ifndef TS_SUPPORT_H
#define TS_SUPPORT_H

#include <stdint.h>

/**
 * @brief TFLM MultiplyByQuantizedMultiplier(acc, multiplier, shift), double rounding.
 *
 * TFLM computes SaturatingRoundingDoublingHighMul(acc * 2^left, multiplier) and then
 * RoundingDivideByPOT(that, right), with left = max(shift, 0) and right = max(-shift, 0).
 *
 * The high multiply is done as one exact 64-bit product (a single SMULL) instead of
 * gemmlowp's nudge-then-truncating-divide: for a 64-bit product p, truncating
 * (p + nudge) / 2^31 with nudge = 2^30 for p >= 0 and 1 - 2^30 for p < 0 equals the
 * arithmetic shift (p + 2^30) >> 31 in both cases, so no sign test is needed.
 * The rounding divide keeps gemmlowp's remainder/threshold form, which cannot overflow.
 *
 * @param acc        int32 accumulator (acc * 2^left must fit in int32, as in TFLM).
 * @param multiplier Q31 multiplier from QuantizeMultiplier: 0 or in [2^30, 2^31 - 1].
 *                   It must not be INT32_MIN: that is the one input whose saturation
 *                   this helper omits (TFLM never produces it).
 * @param shift      QuantizeMultiplier's exponent, in [-31, 30]; > 0 shifts left.
 * @return the requantized value, before the output offset and the clamp.
 */
static inline int32_t ts_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t high = (int32_t)(((int64_t)x * multiplier + (1LL << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t remainder = high & mask;
    const int32_t threshold = (mask >> 1) + (high < 0);
    return (high >> right) + (remainder > threshold);
}

#endif /* TS_SUPPORT_H */
