/**
 * @file ts_dw_support.h
 * @brief Private inline helpers of the depthwise, ADD and pooling kernels.
 *
 * Fast requantization (ts_dw_requant_fast), TFLM's double rounding in five instructions.
 * TFLM computes, for an accumulator a, Q31 multiplier b >= 0 and right shift e >= 1,
 *     r = SaturatingRoundingDoublingHighMul(a, b) = floor((a*b + 2^30) / 2^31)
 *     RoundingDivideByPOT(r, e) = floor((r + 2^(e-1) - [r < 0]) / 2^e)
 * (the first rounds halves up, the second away from zero). Because
 * floor((floor(x) + k) / n) = floor((x + k) / n) for integers k and n > 0, the two
 * roundings collapse into one floor of an exact 64-bit quantity; with the output
 * offset z added:
 *     result + z = floor(P / 2^(31+e)),
 *     P = a*b + 2^30 - [a < 0] * 2^31 + 2^32 * (2^(e-2) + z * 2^(e-1))
 * ([r < 0] may be replaced by [a < 0]: they differ only when r = 0, where both give 0).
 * For e >= 2 the last term is a whole high word, `rounding`, and
 * 2^30 - [a < 0] * 2^31 is the low word 0x40000000 | (a & 0x80000000) with a borrow of
 * [a < 0] from the high word, so P is one SMLAL onto
 *     lo = (a & 0x80000000) | 0x40000000,   hi = rounding + (a >> 31)
 * and the result is the high word shifted right by e - 1: AND, ORR, ADD (ASR #31),
 * SMLAL, ASR. The high word ends within |a*b| / 2^32 + |rounding| + 1 < 2^30 + 2^29 + 2^22
 * for every int32 a, b < 2^31 and e <= 23, so it never wraps. Channels outside
 * 2 <= e <= 23 (they occur in real models: dead channels with e = 31, scales >= 0.25)
 * are marked post_shift = -1 and take TFLM's own sequence, ts_requantize. Checked
 * against kernels_ref's multiply_by_quantized_multiplier
 * (tests/properties/test_kernels_dw_props.py).
 */
#ifndef TS_DW_SUPPORT_H
#define TS_DW_SUPPORT_H

#include <arm_acle.h>
#include <stdint.h>

#include "ts_nn.h"
#include "ts_support.h"

#define TS_DW_INLINE static inline __attribute__((always_inline))

/** Unaligned-safe 32-bit load (a plain LDR). */
TS_DW_INLINE uint32_t ts_dw_load32(const int8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/** Unaligned-safe 32-bit store (a plain STR). */
TS_DW_INLINE void ts_dw_store32(int8_t *p, uint32_t v)
{
    __builtin_memcpy(p, &v, 4);
}

/** Bytes 1 and 3 sign-extended into the two halfwords: SXTB16 with ROR #8
 * (GCC 12's arm_acle.h has no __ror to fold into __sxtb16). */
TS_DW_INLINE uint32_t ts_dw_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/** acc's halfwords plus the sign-extended bytes 1 and 3 of x: SXTAB16 with ROR #8. */
TS_DW_INLINE uint32_t ts_dw_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}

/** Four int8-saturated values (already sign-extended words) packed low byte first. */
TS_DW_INLINE uint32_t ts_dw_pack4(int32_t b0, int32_t b1, int32_t b2, int32_t b3)
{
    uint32_t x = (uint32_t)b0;
    __asm__("bfi %0, %1, #8, #8\n\t"
            "bfi %0, %2, #16, #8\n\t"
            "bfi %0, %3, #24, #8"
            : "+r"(x)
            : "r"(b1), "r"(b2), "r"(b3));
    return x;
}

/** Per-byte clamp of four int8 lanes to [lo, hi] (lo and hi replicated in each byte):
 * SSUB8 sets each lane's GE flag, SEL picks; one asm block keeps the flags with the SEL. */
TS_DW_INLINE uint32_t ts_dw_clamp4(uint32_t x, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel %0, %0, %2\n\t"
            "ssub8 %1, %0, %3\n\t"
            "sel %0, %3, %0"
            : "+r"(x), "=&r"(t)
            : "r"(lo4), "r"(hi4)
            : "cc");
    return x;
}

/** A byte replicated into the four lanes of a word. */
TS_DW_INLINE uint32_t ts_dw_splat4(int32_t v)
{
    return ((uint32_t)v & 0xFFu) * 0x01010101u;
}

/** MultiplyByQuantizedMultiplier(acc, multiplier, -(post_shift + 1)) + output_offset, fast
 * form (file comment; @p rounding carries the offset); the caller saturates/clamps. */
TS_DW_INLINE int32_t ts_dw_requant_fast(int32_t acc, int32_t multiplier, int32_t rounding,
                                        int32_t post_shift)
{
    const uint32_t lo = ((uint32_t)acc & 0x80000000u) | 0x40000000u;
    const uint32_t hi = (uint32_t)rounding + (uint32_t)(acc >> 31);
    uint64_t p = ((uint64_t)hi << 32) | lo;
    p += (uint64_t)((int64_t)acc * multiplier);
    return (int32_t)(p >> 32) >> post_shift;
}

/** One channel's TFLM requantization, output offset and clamp: the fast form, or
 * ts_requantize for a channel marked post_shift < 0 (whose rounding field holds TFLM's
 * shift). */
TS_DW_INLINE int32_t ts_dw_requant_channel(int32_t acc, const ts_dw_channel *ch,
                                           int32_t output_offset, int32_t act_min,
                                           int32_t act_max)
{
    int32_t v;
    if (ch->post_shift >= 0) {
        v = ts_dw_requant_fast(acc, ch->multiplier, ch->rounding, ch->post_shift);
    } else {
        v = ts_requantize(acc, ch->multiplier, ch->rounding);
        v = (int32_t)((uint32_t)v + (uint32_t)output_offset);
    }
    v = v < act_min ? act_min : v;
    return v > act_max ? act_max : v;
}

/** Checks shared by the depthwise kernels. */
static inline int ts_dw_params_valid(const ts_dw_params *p)
{
    return p->input_h > 0 && p->input_w > 0 && p->channels > 0 && p->output_h > 0 &&
           p->output_w > 0 && p->filter_h > 0 && p->filter_w > 0 && p->stride_h > 0 &&
           p->stride_w > 0 && p->dilation_h > 0 && p->dilation_w > 0 && p->pad_h >= 0 &&
           p->pad_w >= 0 && p->act_min >= -128 && p->act_max <= 127 &&
           p->act_min <= p->act_max && p->input_offset >= -127 && p->input_offset <= 128;
}

/* Four channels of one tap: SXTAB16 splits the input word into int16 lanes (c0, c2) and
 * (c1, c3) and adds the input offset to each in the same instruction (off2 holds it in
 * both halfwords; x + offset fits int16), SXTB16 splits the weights alike, and
 * SMLABB/SMLATT multiply-accumulate lane by lane: TFLM's filter * (input + offset). */
#define TS_DW_MAC4(x, w, off2, a0, a1, a2, a3)                                  \
    do {                                                                        \
        const uint32_t x_ = (x), w_ = (w);                                      \
        const uint32_t x02_ = __sxtab16(off2, x_), x13_ = ts_dw_sxtab16_ror8(off2, x_); \
        const uint32_t w02_ = __sxtb16(w_), w13_ = ts_dw_sxtb16_ror8(w_);       \
        a0 = __smlabb(x02_, w02_, a0);                                          \
        a2 = __smlatt(x02_, w02_, a2);                                          \
        a1 = __smlabb(x13_, w13_, a1);                                          \
        a3 = __smlatt(x13_, w13_, a3);                                          \
    } while (0)

/** The input offset in both halfwords, for TS_DW_MAC4. */
TS_DW_INLINE uint32_t ts_dw_offset2(int32_t input_offset)
{
    return ((uint32_t)input_offset & 0xFFFFu) * 0x00010001u;
}

/** The taps of a window starting at input row/column @p origin that land inside
 * [0, size): [*first, *end) of the @p taps taps, @p step (the dilation) apart. */
TS_DW_INLINE void ts_dw_clip(int32_t origin, int32_t size, int32_t taps, int32_t step,
                             int32_t *first, int32_t *end)
{
    int32_t f = 0, e = taps;
    if (origin < 0)
        f = (-origin + step - 1) / step;
    if (origin + (taps - 1) * step >= size)
        e = size - 1 - origin < 0 ? 0 : (size - 1 - origin) / step + 1;
    *first = f;
    *end = e > f ? e : f;
}

/** True when every one of @p n channels takes the fast requantization. */
static inline int ts_dw_all_fast(const ts_dw_channel *ch, int32_t n)
{
    int32_t any = 0;
    for (int32_t c = 0; c < n; c++)
        any |= ch[c].post_shift;
    return any >= 0;
}

/* Requantizes, clamps and stores four channels' accumulators: all four in SIMD when
 * they all take the fast form, else one by one. @p mixed (compile-time) says some
 * channel of the layer does not; only then is the group tested (one OR of the four
 * post_shifts), so layers whose channels all take the fast form pay nothing. */
TS_DW_INLINE void ts_dw_finish4(const ts_dw_params *p, const ts_dw_channel *ch, int8_t *out,
                                int32_t a0, int32_t a1, int32_t a2, int32_t a3, uint32_t lo4,
                                uint32_t hi4, const int mixed)
{
    if (!mixed ||
        (ch[0].post_shift | ch[1].post_shift | ch[2].post_shift | ch[3].post_shift) >= 0) {
        const uint32_t packed = ts_dw_pack4(
            __ssat(ts_dw_requant_fast(a0, ch[0].multiplier, ch[0].rounding, ch[0].post_shift), 8),
            __ssat(ts_dw_requant_fast(a1, ch[1].multiplier, ch[1].rounding, ch[1].post_shift), 8),
            __ssat(ts_dw_requant_fast(a2, ch[2].multiplier, ch[2].rounding, ch[2].post_shift), 8),
            __ssat(ts_dw_requant_fast(a3, ch[3].multiplier, ch[3].rounding, ch[3].post_shift), 8));
        ts_dw_store32(out, ts_dw_clamp4(packed, lo4, hi4));
    } else {
        const int32_t oo = p->output_offset, lo = p->act_min, hi = p->act_max;
        out[0] = (int8_t)ts_dw_requant_channel(a0, &ch[0], oo, lo, hi);
        out[1] = (int8_t)ts_dw_requant_channel(a1, &ch[1], oo, lo, hi);
        out[2] = (int8_t)ts_dw_requant_channel(a2, &ch[2], oo, lo, hi);
        out[3] = (int8_t)ts_dw_requant_channel(a3, &ch[3], oo, lo, hi);
    }
}

/* Channels past the last group of four, one at a time, over the window taps
 * [ky0, ky1) x [kx0, kx1) of the pixel whose window starts at (iy0, ix0); their weights
 * sit in the zero-padded last group, lane c - 4 * groups. */
TS_DW_INLINE void ts_dw_tail_channels(const ts_dw_params *p, const int8_t *input,
                                      const int8_t *filter, const ts_dw_channel *channel,
                                      int8_t *out, int32_t iy0, int32_t ix0, int32_t ky0,
                                      int32_t ky1, int32_t kx0, int32_t kx1)
{
    const int32_t C = p->channels, W = p->input_w, fw = p->filter_w;
    const int32_t taps = p->filter_h * fw, groups = C >> 2;
    for (int32_t c = 4 * groups; c < C; c++) {
        const int8_t *w = filter + groups * taps * 4 + (c - 4 * groups);
        int32_t acc = channel[c].bias;
        for (int32_t ky = ky0; ky < ky1; ky++) {
            const int8_t *row = input + ((iy0 + ky * p->dilation_h) * W + ix0) * C + c;
            for (int32_t kx = kx0; kx < kx1; kx++) {
                const int32_t x = row[kx * p->dilation_w * C] + p->input_offset;
                acc = (int32_t)((uint32_t)acc + (uint32_t)(x * w[4 * (ky * fw + kx)]));
            }
        }
        out[c] = (int8_t)ts_dw_requant_channel(acc, &channel[c], p->output_offset, p->act_min,
                                               p->act_max);
    }
}

/* One output pixel, window starting at input (iy0, ix0), summing only the taps inside
 * the input, as TFLM does. @p fw_c is the window width when known at compile time
 * (0 = read it from params), which unrolls the row; @p mixed as in ts_dw_finish4. */
TS_DW_INLINE void ts_dw_pixel(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                              const ts_dw_channel *channel, int8_t *out, int32_t iy0,
                              int32_t ix0, const int32_t fw_c, const int mixed)
{
    const int32_t C = p->channels, W = p->input_w;
    const int32_t fw = fw_c ? fw_c : p->filter_w, taps = p->filter_h * fw;
    const int32_t row_step = p->dilation_h * W * C, col_step = p->dilation_w * C;
    const uint32_t off2 = ts_dw_offset2(p->input_offset);
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    const int32_t groups = C >> 2;
    int32_t ky0, ky1, kx0, kx1;
    ts_dw_clip(iy0, p->input_h, p->filter_h, p->dilation_h, &ky0, &ky1);
    ts_dw_clip(ix0, W, fw, p->dilation_w, &kx0, &kx1);
    const int full_row = fw_c && kx0 == 0 && kx1 == fw;
    const int8_t *first = input + ((iy0 + ky0 * p->dilation_h) * W + ix0) * C;

    for (int32_t g = 0; g < groups; g++) {
        const ts_dw_channel *ch = channel + 4 * g;
        int32_t a0 = ch[0].bias, a1 = ch[1].bias, a2 = ch[2].bias, a3 = ch[3].bias;
        const int8_t *wrow = filter + (g * taps + ky0 * fw) * 4;
        const int8_t *row = first + 4 * g;
        for (int32_t ky = ky0; ky < ky1; ky++, row += row_step, wrow += 4 * fw) {
            if (full_row) {
                for (int32_t kx = 0; kx < fw; kx++)
                    TS_DW_MAC4(ts_dw_load32(row + kx * col_step), ts_dw_load32(wrow + 4 * kx),
                               off2, a0, a1, a2, a3);
            } else {
                for (int32_t kx = kx0; kx < kx1; kx++)
                    TS_DW_MAC4(ts_dw_load32(row + kx * col_step), ts_dw_load32(wrow + 4 * kx),
                               off2, a0, a1, a2, a3);
            }
        }
        ts_dw_finish4(p, ch, out + 4 * g, a0, a1, a2, a3, lo4, hi4, mixed);
    }
    ts_dw_tail_channels(p, input, filter, channel, out, iy0, ix0, ky0, ky1, kx0, kx1);
}

/* Whether a ts_pool_params is outside what the pooling kernels support (ts_nn.h). A macro,
 * not an inline function: GCC lays the inlined function out less tightly (about 10 more
 * instructions per call, measured with `tinysim kernels bench --kernel pool`). */
#define TS_POOL_PARAMS_BAD(p)                                                              \
    ((p)->input_h <= 0 || (p)->input_w <= 0 || (p)->channels <= 0 || (p)->output_h <= 0 ||  \
     (p)->output_w <= 0 || (p)->filter_h <= 0 || (p)->filter_w <= 0 ||                      \
     (p)->stride_h <= 0 || (p)->stride_w <= 0 || (p)->pad_h < 0 || (p)->pad_w < 0 ||        \
     (p)->act_min < -128 || (p)->act_max > 127 || (p)->act_min > (p)->act_max)

#endif /* TS_DW_SUPPORT_H */
