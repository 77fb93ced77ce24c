/* Element-wise int8 ADD, TFLM arithmetic (ts_nn.h).
 *
 * TFLM per element: each input, plus its offset, is shifted left by left_shift (20) and
 * rescaled with MultiplyByQuantizedMultiplierSmallerThanOneExp; the sum is rescaled to
 * the output the same way, offset and clamped.
 *
 * Each rescale RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(a, m), e) is done
 * as one SMLAL (ts_dw_support.h explains the identity):
 *     floor((a*(2m) + 2^31 + 2^32 * (2^(e-1) - [a < 0])) / 2^32) >> e      for e >= 1,
 *     floor((a*(2m) + 2^31) / 2^32)                                         for e == 0,
 * exact while m is in [2^30, 2^31) and |a| < 2^30: inputs are at most 255 * 2^20 in
 * magnitude and each rescaled input at most 2^28, so the sum stays below 2^29. Other
 * multipliers or shifts take TFLM's own sequence (ts_requantize) element by element.
 */
#include "ts_dw_support.h"

typedef struct
{
    uint32_t multiplier2; /* 2m, as a signed word 2m - 2^32 */
    int32_t rounding;     /* 2^(e-1), or 0 when e == 0 */
    uint32_t sign_mask;   /* 0x80000000 when e >= 1 (subtract [a < 0]), else 0 */
    int32_t right_shift;  /* e */
} add_scale;

static int add_scale_fast(int32_t multiplier, int32_t shift)
{
    return multiplier >= (1 << 30) && shift <= 0 && shift >= -31;
}

static add_scale add_scale_of(int32_t multiplier, int32_t shift)
{
    add_scale s;
    s.multiplier2 = 2u * (uint32_t)multiplier;
    s.right_shift = -shift;
    s.rounding = shift < 0 ? (int32_t)(1u << (-shift - 1)) : 0;
    s.sign_mask = shift < 0 ? 0x80000000u : 0u;
    return s;
}

TS_DW_INLINE int32_t add_rescale(int32_t a, add_scale s)
{
    const int32_t sign = (int32_t)((uint32_t)a & s.sign_mask) >> 31;
    const uint32_t start = (uint32_t)a + (uint32_t)s.rounding + (uint32_t)sign;
    uint64_t p = ((uint64_t)start << 32) | 0x80000000u;
    p += (uint64_t)((int64_t)a * (int32_t)s.multiplier2);
    return (int32_t)(p >> 32) >> s.right_shift;
}

/* Rescaled sum, output offset added, before the clamp. */
TS_DW_INLINE int32_t add_one_fast(int32_t x1, int32_t x2, const ts_add_params *p,
                                  add_scale s1, add_scale s2, add_scale so)
{
    const int32_t ls = p->left_shift;
    const int32_t sum = add_rescale((int32_t)((uint32_t)(x1 + p->input1_offset) << ls), s1) +
                        add_rescale((int32_t)((uint32_t)(x2 + p->input2_offset) << ls), s2);
    return add_rescale(sum, so) + p->output_offset;
}

static int32_t add_one_general(int32_t x1, int32_t x2, const ts_add_params *p)
{
    const int32_t ls = p->left_shift;
    const uint32_t sum =
        (uint32_t)ts_requantize((int32_t)((uint32_t)(x1 + p->input1_offset) << ls),
                                p->input1_multiplier, p->input1_shift) +
        (uint32_t)ts_requantize((int32_t)((uint32_t)(x2 + p->input2_offset) << ls),
                                p->input2_multiplier, p->input2_shift);
    int32_t v = (int32_t)((uint32_t)ts_requantize((int32_t)sum, p->output_multiplier,
                                                  p->output_shift) +
                          (uint32_t)p->output_offset);
    v = v < p->act_min ? p->act_min : v;
    return v > p->act_max ? p->act_max : v;
}

int32_t ts_add_s8(const ts_add_params *params, const int8_t *input1, const int8_t *input2,
                  int32_t size, int8_t *output)
{
    const ts_add_params *p = params;
    if (size < 0 || p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max ||
        p->left_shift < 0 || p->left_shift > 20 || p->input1_offset < -127 ||
        p->input1_offset > 128 || p->input2_offset < -127 || p->input2_offset > 128)
        return TS_ERROR_ARGUMENT;
    int32_t i = 0;
    if (add_scale_fast(p->input1_multiplier, p->input1_shift) &&
        add_scale_fast(p->input2_multiplier, p->input2_shift) &&
        add_scale_fast(p->output_multiplier, p->output_shift)) {
        const add_scale s1 = add_scale_of(p->input1_multiplier, p->input1_shift);
        const add_scale s2 = add_scale_of(p->input2_multiplier, p->input2_shift);
        const add_scale so = add_scale_of(p->output_multiplier, p->output_shift);
        const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
        /* four elements per step: one word of each input, one packed, clamped store */
        for (; i + 4 <= size; i += 4) {
            const uint32_t a = ts_dw_load32(input1 + i), b = ts_dw_load32(input2 + i);
            const int32_t r0 = add_one_fast((int8_t)a, (int8_t)b, p, s1, s2, so);
            const int32_t r1 = add_one_fast((int8_t)(a >> 8), (int8_t)(b >> 8), p, s1, s2, so);
            const int32_t r2 = add_one_fast((int8_t)(a >> 16), (int8_t)(b >> 16), p, s1, s2, so);
            const int32_t r3 = add_one_fast((int8_t)(a >> 24), (int8_t)(b >> 24), p, s1, s2, so);
            const uint32_t packed =
                ts_dw_pack4(__ssat(r0, 8), __ssat(r1, 8), __ssat(r2, 8), __ssat(r3, 8));
            ts_dw_store32(output + i, ts_dw_clamp4(packed, lo4, hi4));
        }
    }
    for (; i < size; i++)
        output[i] = (int8_t)add_one_general(input1[i], input2[i], p);
    return TS_OK;
}
