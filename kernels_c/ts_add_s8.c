/* Element-wise int8 ADD, TFLM arithmetic (ts_nn.h).
 *
 * TFLM per element: each input, plus its offset, is shifted left by left_shift (20) and
 * rescaled with MultiplyByQuantizedMultiplierSmallerThanOneExp; the sum is rescaled to
 * the output the same way, offset and clamped.
 *
 * A rescale RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(a, m), e) equals
 * floor(P / 2^(32+e)) with P = 2a*m + 2^31 + 2^32 * (2^(e-1) - [a < 0]) for e >= 1, and
 * floor((2a*m + 2^31) / 2^32) for e = 0 (ts_dw_support.h derives the identity, m >= 0).
 * That is one SMMLAR (Ra * 2^32 + Rn * Rm + 2^31, high word) of (2a, m) onto
 * Ra = 2^(e-1) - [a < 0], then ASR e; for e = 0 one SMMULR. The output offset folds
 * into the output's Ra as + z * 2^e. 2a fits a word: inputs are at most 255 * 2^21 after
 * the doubled shift, each rescaled input at most 2^28, so the doubled sum stays below
 * 2^30; every Ra + product stays below 2^31 for output shifts up to 23. The larger input
 * scale always gives multiplier 2^30 with e = 0 (its real multiplier is exactly 0.5),
 * which is the plain shift (x + offset) << (left_shift - 1); the kernel puts that input
 * first. The fast paths take TFLM's int8 left shift, 20, as a constant and need the
 * output zero point in int8 (so Ra stays in range); other parameters take TFLM's own
 * sequence (ts_requantize) element by element.
 *
 * From ADD_TABLE_MIN elements on, when one input is that shift (always, for TFLM's
 * Prepare), input 2's rescale comes from a 256-word table on the stack (add_with_table);
 * smaller tensors, and hand-made parameters without such an input, rescale both inputs
 * per element (add_words). Measured on the Cortex-M7 (`tinysim kernels bench --kernel
 * add`): about 9.2-9.7 instructions an element with the table, 19 without.
 */
#include "ts_dw_support.h"

#define ADD_LEFT_SHIFT 20 /* TFLM's left_shift for int8 */

/* How one input is rescaled, chosen per call. */
enum
{
    ADD_HALF = 0,    /* multiplier 2^30, e = 0: a shift */
    ADD_NO_ROUND = 1, /* e = 0: SMMULR */
    ADD_ROUND = 2,   /* e >= 1: SMMLAR onto 2^(e-1) - [a < 0], ASR e */
};

typedef struct
{
    int32_t offset;     /* input offset */
    int32_t multiplier;
    int32_t rounding;   /* 2^(e-1) (ADD_ROUND) */
    int32_t shift;      /* e */
    int32_t kind;       /* ADD_HALF, ADD_NO_ROUND or ADD_ROUND */
} add_input;

TS_DW_INLINE int32_t add_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

TS_DW_INLINE int32_t add_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static add_input add_input_of(int32_t offset, int32_t multiplier, int32_t shift)
{
    add_input in;
    in.offset = offset;
    in.multiplier = multiplier;
    in.shift = -shift;
    in.rounding = shift < 0 ? (int32_t)(1u << (-shift - 1)) : 0;
    in.kind = shift < 0 ? ADD_ROUND : multiplier == (1 << 30) ? ADD_HALF : ADD_NO_ROUND;
    return in;
}

/* An input value rescaled; t = x + offset; kind is a compile-time constant in the
 * common combinations. */
TS_DW_INLINE int32_t add_rescale_input(int32_t t, const add_input *in, const int kind)
{
    const int32_t a2 = (int32_t)((uint32_t)t << (ADD_LEFT_SHIFT + 1));
    if (kind == ADD_HALF)
        return (int32_t)((uint32_t)t << (ADD_LEFT_SHIFT - 1));
    if (kind == ADD_NO_ROUND)
        return add_smmulr(a2, in->multiplier);
    return add_smmlar(a2, in->multiplier, in->rounding + (t >> 31)) >> in->shift;
}

/* acc + the sign-extended byte of x at bit rot: SXTAB with a rotated operand. */
#define ADD_SXTAB(acc, x, rot)                                                           \
    __extension__({                                                                      \
        int32_t r_;                                                                      \
        __asm__("sxtab %0, %1, %2, ror #" #rot : "=r"(r_) : "r"(acc), "r"(x));             \
        r_;                                                                              \
    })

/* The output value of one element from its two offset inputs, before the clamp. */
TS_DW_INLINE int32_t add_one_fast(int32_t t1, int32_t t2, const add_input *i1,
                                  const add_input *i2, int32_t out_mult, int32_t out_round,
                                  int32_t out_shift, const int kind1, const int kind2)
{
    const int32_t sum = add_rescale_input(t1, i1, kind1) + add_rescale_input(t2, i2, kind2);
    return __ssat(add_smmlar(2 * sum, out_mult, out_round + (sum >> 31)) >> out_shift, 8);
}

TS_DW_INLINE uint32_t add_four(uint32_t a, uint32_t b, const add_input *i1,
                               const add_input *i2, int32_t out_mult, int32_t out_round,
                               int32_t out_shift, uint32_t lo4, uint32_t hi4, const int kind1,
                               const int kind2)
{
    const int32_t o1 = i1->offset, o2 = i2->offset;
#define ADD_LANE(rot)                                                                      \
    add_one_fast(ADD_SXTAB(o1, a, rot), ADD_SXTAB(o2, b, rot), i1, i2, out_mult, out_round, \
                 out_shift, kind1, kind2)
    const int32_t r0 = ADD_LANE(0), r1 = ADD_LANE(8), r2 = ADD_LANE(16), r3 = ADD_LANE(24);
#undef ADD_LANE
    return ts_dw_clamp4(ts_dw_pack4(r0, r1, r2, r3), lo4, hi4);
}

/* Whole words of both inputs; returns how many elements it did. */
TS_DW_INLINE int32_t add_words(const ts_add_params *p, const add_input *i1,
                               const add_input *i2, const int8_t *x1, const int8_t *x2,
                               int32_t size, int8_t *out, const int kind1, const int kind2)
{
    const int32_t e = -p->output_shift, m = p->output_multiplier;
    const int32_t round = (int32_t)((1u << (e - 1)) + ((uint32_t)p->output_offset << e));
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    int32_t i = 0;
    for (; i + 4 <= size; i += 4)
        ts_dw_store32(out + i, add_four(ts_dw_load32(x1 + i), ts_dw_load32(x2 + i), i1, i2, m,
                                        round, e, lo4, hi4, kind1, kind2));
    return i;
}

/* The table path. With input 1 the shift input (multiplier 2^30, e = 0), twice TFLM's
 * raw_sum is
 *     2 * raw_sum = x1 * 2^20 + T[x2],   T[x2] = o1 * 2^20 + 2 * R2(x2 + o2),
 * where R2 is input 2's rescale: x2 takes only 256 values, so T is a table of 256 words
 * built once per call (each entry by add_rescale_input, exact as above), and an element
 * costs one table load and one ADD (x1 << 20 is exact: |x1| * 2^20 < 2^27) before the
 * output rescale. |T| stays below 128 * 2^20 + 2 * 255 * 2^20 (the rescale never grows
 * its input: m < 2^31, e >= 0), so |2 * raw_sum| <= 766 * 2^20 < 2^30 as the fast path needs.
 * Building the table costs about 10 instructions an entry, so it is taken from
 * ADD_TABLE_MIN elements on. */
#define ADD_TABLE_MIN 256

/* SSAT to int8 of h >> e, the shift folded into SSAT's operand (e a compile-time
 * constant). */
#define add_ssat_asr(h, e)                                                                 \
    __extension__({                                                                        \
        int32_t r_;                                                                        \
        __asm__("ssat %0, #8, %1, asr %2" : "=r"(r_) : "r"(h), "i"(e));                      \
        r_;                                                                                \
    })

static void add_build_table(int32_t *table, const add_input *i1, const add_input *i2)
{
    const int32_t base = (int32_t)((uint32_t)i1->offset << ADD_LEFT_SHIFT);
    for (int32_t u = 0; u < 256; u++) {
        const int32_t t = (int8_t)u + i2->offset;
        table[u] = base + 2 * add_rescale_input(t, i2, i2->kind);
    }
}

/* Four elements from the table: byte loads give each x2 as a ready table index and each
 * x1 sign-extended (fewer instructions than a word load and four extracts); @p clamp
 * (compile-time) is 0 when the activation range is all of int8, where SSAT already
 * clamps; @p e_c (compile-time, 0 = use @p e) is the output shift folded into SSAT's
 * operand, SSAT #8 of (h ASR e) being exactly __ssat(h >> e, 8). */
TS_DW_INLINE void add_table_words(const int32_t *table, const int8_t *x1, const uint8_t *x2,
                                  int8_t *out, int32_t words, int32_t mo, int32_t round,
                                  int32_t e, uint32_t lo4, uint32_t hi4, const int clamp,
                                  const int e_c)
{
#define ADD_T(k)                                                                           \
    __extension__({                                                                        \
        const int32_t s_ = table[x2[k]] + (int32_t)((uint32_t)x1[k] << ADD_LEFT_SHIFT);     \
        const int32_t h_ = add_smmlar(s_, mo, round + (s_ >> 31));                          \
        e_c ? add_ssat_asr(h_, e_c) : __ssat(h_ >> e, 8);                                   \
    })
    for (int32_t w = 0; w < words; w++, x1 += 4, x2 += 4, out += 4) {
        uint32_t packed = ts_dw_pack4(ADD_T(0), ADD_T(1), ADD_T(2), ADD_T(3));
        if (clamp)
            packed = ts_dw_clamp4(packed, lo4, hi4);
        ts_dw_store32(out, packed);
    }
#undef ADD_T
}

static int32_t add_with_table(const ts_add_params *p, const add_input *i1, const add_input *i2,
                              const int8_t *x1, const int8_t *x2, int32_t size, int8_t *out)
{
    int32_t table[256];
    add_build_table(table, i1, i2);
    const int32_t e = -p->output_shift, m = p->output_multiplier;
    const int32_t round = (int32_t)((1u << (e - 1)) + ((uint32_t)p->output_offset << e));
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    const int32_t words = size >> 2;
    const uint8_t *u2 = (const uint8_t *)x2;
    /* Every int8 ADD of the shared models has output shift 17, 18 or 19 and the full int8
     * range (tinysim kernels bench); those get a loop with the shift as a constant. */
    if (p->act_min > -128 || p->act_max < 127)
        add_table_words(table, x1, u2, out, words, m, round, e, lo4, hi4, 1, 0);
    else if (e == 17)
        add_table_words(table, x1, u2, out, words, m, round, e, lo4, hi4, 0, 17);
    else if (e == 18)
        add_table_words(table, x1, u2, out, words, m, round, e, lo4, hi4, 0, 18);
    else if (e == 19)
        add_table_words(table, x1, u2, out, words, m, round, e, lo4, hi4, 0, 19);
    else
        add_table_words(table, x1, u2, out, words, m, round, e, lo4, hi4, 0, 0);
    return 4 * words;
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
    int32_t done = 0;
    if (p->left_shift == ADD_LEFT_SHIFT && p->input1_multiplier >= 0 && p->input1_shift <= 0 &&
        p->input1_shift >= -31 &&
        p->input2_multiplier >= 0 && p->input2_shift <= 0 && p->input2_shift >= -31 &&
        p->output_multiplier >= 0 && p->output_shift <= -1 && p->output_shift >= -23 &&
        p->output_offset >= -128 && p->output_offset <= 127) {
        add_input a = add_input_of(p->input1_offset, p->input1_multiplier, p->input1_shift);
        add_input b = add_input_of(p->input2_offset, p->input2_multiplier, p->input2_shift);
        /* addition commutes (the rescaled inputs are summed exactly), so the simpler
         * rescale goes first; the two combinations TFLM's Prepare gives get their own
         * code, others choose per element */
        const int swap = b.kind < a.kind;
        const add_input *i1 = swap ? &b : &a, *i2 = swap ? &a : &b;
        const int8_t *x1 = swap ? input2 : input1, *x2 = swap ? input1 : input2;
        if (i1->kind == ADD_HALF && size >= ADD_TABLE_MIN)
            done = add_with_table(p, i1, i2, x1, x2, size, output);
        else if (i1->kind == ADD_HALF && i2->kind == ADD_ROUND)
            done = add_words(p, i1, i2, x1, x2, size, output, ADD_HALF, ADD_ROUND);
        else if (i1->kind == ADD_HALF && i2->kind == ADD_HALF)
            done = add_words(p, i1, i2, x1, x2, size, output, ADD_HALF, ADD_HALF);
        else
            done = add_words(p, i1, i2, x1, x2, size, output, i1->kind, i2->kind);
    }
    for (int32_t i = done; i < size; i++)
        output[i] = (int8_t)add_one_general(input1[i], input2[i], p);
    return TS_OK;
}
