/* Fixtures for the depthwise/ADD/pooling kernels' tests (tests/properties/
 * test_kernels_dw_props.py): one array loop per DSP instruction those kernels use that
 * fx_dsp.c does not cover, and loops over ts_dw_support.h's requantization helpers. */
#include <arm_acle.h>
#include <stdint.h>

#include "ts_dw_support.h"

#define FX_LOOP(name, expr)                                                                \
    void name(const int32_t *a, const int32_t *b, const int32_t *c, int32_t *out, int n)   \
    {                                                                                      \
        for (int i = 0; i < n; i++) {                                                      \
            const uint32_t x = (uint32_t)a[i], y = (uint32_t)b[i], z = (uint32_t)c[i];     \
            (void)x; (void)y; (void)z;                                                     \
            out[i] = (int32_t)(expr);                                                      \
        }                                                                                  \
    }

/* SSUB8's GE flags, then SEL, in one asm block. */
static inline uint32_t asm_ssub8_sel(uint32_t x, uint32_t y, uint32_t s, uint32_t t)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %3, %4" : "=&r"(r) : "r"(x), "r"(y), "r"(s), "r"(t) : "cc");
    return r;
}

/* SMLAL onto the 64-bit value (hi = z >> 7, lo = z), returning the high word. */
static inline int32_t asm_smlal_hi(int32_t x, int32_t y, int32_t z)
{
    int32_t lo = z, hi = z >> 7;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(y));
    return hi;
}

/* ... and the low word. */
static inline int32_t asm_smlal_lo(int32_t x, int32_t y, int32_t z)
{
    int32_t lo = z, hi = z >> 7;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(y));
    return lo;
}

FX_LOOP(fx_dw_smlabb, __smlabb(x, y, (int32_t)z))
FX_LOOP(fx_dw_smlatt, __smlatt(x, y, (int32_t)z))
FX_LOOP(fx_dw_sxtab16_ror8, ts_dw_sxtab16_ror8(x, y))
FX_LOOP(fx_dw_ssub8_sel, asm_ssub8_sel(x, y, z, ~z))
FX_LOOP(fx_dw_smlal_hi, asm_smlal_hi((int32_t)x, (int32_t)y, (int32_t)z))
FX_LOOP(fx_dw_smlal_lo, asm_smlal_lo((int32_t)x, (int32_t)y, (int32_t)z))
FX_LOOP(fx_dw_clamp4, ts_dw_clamp4(x, y, z))
FX_LOOP(fx_dw_pack4, ts_dw_pack4(__ssat((int32_t)x, 8), __ssat((int32_t)y, 8),
                                 __ssat((int32_t)z, 8), __ssat((int32_t)(x ^ y), 8)))

/* ts_dw_requant_fast, and ts_dw_requant_channel (either form, by the row's mark), over
 * [n] accumulators and ts_dw_channel rows. */
void fx_dw_requant_fast(const int32_t *acc, const ts_dw_channel *ch, int32_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = ts_dw_requant_fast(acc[i], ch[i].multiplier, ch[i].rounding, ch[i].post_shift);
}

void fx_dw_requant_channel(const int32_t *acc, const ts_dw_channel *ch, int32_t *out, int n,
                           int32_t output_offset)
{
    for (int i = 0; i < n; i++)
        out[i] = ts_dw_requant_channel(acc[i], &ch[i], output_offset, -128, 127);
}

/* SMMLAR (used by ts_add_s8): (z * 2^32 + x * y + 2^31) >> 32. */
static inline int32_t asm_smmlar(int32_t x, int32_t y, int32_t z)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(z));
    return r;
}

FX_LOOP(fx_dw_smmlar, asm_smmlar((int32_t)x, (int32_t)y, (int32_t)z))

/* SXTAB with a rotated operand (ts_add_s8): x + sign-extended byte 1 of y. */
static inline int32_t asm_sxtab_ror8(uint32_t x, uint32_t y)
{
    int32_t r;
    __asm__("sxtab %0, %1, %2, ror #8" : "=r"(r) : "r"(x), "r"(y));
    return r;
}

FX_LOOP(fx_dw_sxtab_ror8, asm_sxtab_ror8(x, y))

/* SSAT to int8 with an arithmetic right shift folded into the operand (ts_add_s8, for the
 * output shifts 17, 18 and 19): sat8(x >> e). */
#define FX_SSAT_ASR(e)                                                                     \
    static inline int32_t asm_ssat_asr##e(int32_t x)                                       \
    {                                                                                      \
        int32_t r;                                                                         \
        __asm__("ssat %0, #8, %1, asr #" #e : "=r"(r) : "r"(x));                           \
        return r;                                                                          \
    }                                                                                      \
    FX_LOOP(fx_dw_ssat_asr##e, asm_ssat_asr##e((int32_t)x))

FX_SSAT_ASR(17)
FX_SSAT_ASR(18)
FX_SSAT_ASR(19)
