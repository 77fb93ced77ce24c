/* One array loop per DSP (and multiply/divide) instruction the kernels use:
 * out[i] = op(a[i], b[i], c[i]).
 * Each is checked against a Python model of the instruction (tests/properties). */
#include <arm_acle.h>
#include <stdint.h>

#define FX_LOOP(name, expr)                                                          \
    void name(const int32_t *a, const int32_t *b, const int32_t *c, int32_t *out, int n) \
    {                                                                                \
        for (int i = 0; i < n; i++)                                                  \
        {                                                                            \
            const uint32_t x = (uint32_t)a[i], y = (uint32_t)b[i], z = (uint32_t)c[i]; \
            (void)x; (void)y; (void)z;                                               \
            out[i] = (int32_t)(expr);                                                \
        }                                                                            \
    }


/* GCC 12's arm_acle.h has no SMMULR or PKHBT intrinsics: inline asm. */
static inline int32_t asm_smmulr(int32_t p, int32_t q)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(p), "r"(q));
    return r;
}

/* The rotated form SXTB16 Rd, Rm, ROR #8 (bytes 1 and 3); GCC 12 has no __ror. */
static inline uint32_t asm_sxtb16_ror8(uint32_t p)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(p));
    return r;
}

static inline uint32_t asm_pkhbt16(uint32_t p, uint32_t q)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(p), "r"(q));
    return r;
}

/* GE flags from SADD8, then SEL, in one asm block so nothing lands in between. */
static inline uint32_t asm_sadd8_sel(uint32_t p, uint32_t q, uint32_t s, uint32_t t)
{
    uint32_t r;
    __asm__("sadd8 %0, %1, %2\n\tsel %0, %3, %4" : "=&r"(r) : "r"(p), "r"(q), "r"(s), "r"(t) : "cc");
    return r;
}

/* SSUB8 sets the GE flags per byte (difference >= 0); SEL then picks by them. */
static inline uint32_t asm_ssub8_sel(uint32_t p, uint32_t q, uint32_t s, uint32_t t)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %3, %4" : "=&r"(r) : "r"(p), "r"(q), "r"(s), "r"(t) : "cc");
    return r;
}

static inline int32_t asm_smmlar(int32_t p, int32_t q, int32_t a)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(p), "r"(q), "r"(a));
    return r;
}

static inline int32_t asm_sxtab(int32_t p, uint32_t q)
{
    int32_t r;
    __asm__("sxtab %0, %1, %2" : "=r"(r) : "r"(p), "r"(q));
    return r;
}

/* The 64-bit results folded into 32 bits (high ^ low) so one word checks both. */
static inline uint32_t asm_smlal_fold(int32_t p, int32_t q, uint32_t lo_in)
{
    uint32_t lo = lo_in, hi = ~lo_in;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(p), "r"(q));
    return hi ^ lo;
}

static inline uint32_t asm_umull_fold(uint32_t p, uint32_t q)
{
    uint32_t lo, hi;
    __asm__("umull %0, %1, %2, %3" : "=&r"(lo), "=&r"(hi) : "r"(p), "r"(q));
    return hi ^ lo;
}

static inline int32_t asm_sdiv(int32_t p, int32_t q)
{
    int32_t r;
    __asm__("sdiv %0, %1, %2" : "=r"(r) : "r"(p), "r"(q));
    return r;
}

static inline uint32_t asm_clz(uint32_t p)
{
    uint32_t r;
    __asm__("clz %0, %1" : "=r"(r) : "r"(p));
    return r;
}

FX_LOOP(fx_smlad, __smlad(x, y, (int32_t)z))
FX_LOOP(fx_smuad, __smuad(x, y))
FX_LOOP(fx_sxtb16, __sxtb16(x))
FX_LOOP(fx_sxtb16_ror8, asm_sxtb16_ror8(x))
FX_LOOP(fx_sxtab16, __sxtab16(x, y))
FX_LOOP(fx_qadd, __qadd((int32_t)x, (int32_t)y))
FX_LOOP(fx_qsub, __qsub((int32_t)x, (int32_t)y))
FX_LOOP(fx_ssat8, __ssat((int32_t)x, 8))
FX_LOOP(fx_ssat16, __ssat((int32_t)x, 16))
FX_LOOP(fx_usat8, __usat((int32_t)x, 8))
FX_LOOP(fx_qadd8, __qadd8(x, y))
FX_LOOP(fx_sadd16, __sadd16(x, y))
FX_LOOP(fx_pkhbt16, asm_pkhbt16(x, y))
FX_LOOP(fx_sel, asm_sadd8_sel(x, y, z, ~z))
FX_LOOP(fx_smmulr, asm_smmulr((int32_t)x, (int32_t)y))
FX_LOOP(fx_smlabb, __smlabb((int32_t)x, (int32_t)y, (int32_t)z))
FX_LOOP(fx_smlatt, __smlatt((int32_t)x, (int32_t)y, (int32_t)z))
FX_LOOP(fx_smmlar, asm_smmlar((int32_t)x, (int32_t)y, (int32_t)z))
FX_LOOP(fx_ssub8, __ssub8(x, y))
FX_LOOP(fx_ssub8_sel, asm_ssub8_sel(x, y, z, ~z))
FX_LOOP(fx_sxtab, asm_sxtab((int32_t)x, y))
FX_LOOP(fx_smlal, asm_smlal_fold((int32_t)x, (int32_t)y, z))
FX_LOOP(fx_umull, asm_umull_fold(x, y))
FX_LOOP(fx_sdiv, asm_sdiv((int32_t)x, (int32_t)y))
FX_LOOP(fx_clz, asm_clz(x))
