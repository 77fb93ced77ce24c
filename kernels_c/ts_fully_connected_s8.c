/**
 * @file ts_fully_connected_s8.c
 * @brief Fully connected, int8 (see ts_nn.h).
 */
#include "ts_conv_core.h"

/* Words of a packed block: 4 biases, then per group of 4 K one weight word per unit,
 * then multiplier, right shift, rounding per unit. */
#define BLOCK_HEAD 4
#define BLOCK_TAIL 12

/* One group of 4 K for 4 units: r0 weights, r1 input lanes, r4-r7 the units' weight
 * words (LDM needs ascending registers), r8-r11 accumulators, r12 / lr the input lanes,
 * r3 the odd weight lanes. */
#define FC_UNIT(W, A)                   \
    "sxtb16 r3, " W ", ror #8\n\t"      \
    "sxtb16 " W ", " W "\n\t"           \
    "smlad  " A ", r12, " W ", " A "\n\t" \
    "smlad  " A ", lr, r3, " A "\n\t"
#define FC_GROUP                        \
    "ldrd   r12, lr, [r1], #8\n\t"      \
    "ldmia  r0!, {r4, r5, r6, r7}\n\t"  \
    FC_UNIT("r4", "r8")                 \
    FC_UNIT("r5", "r9")                 \
    FC_UNIT("r6", "r10")                \
    FC_UNIT("r7", "r11")

typedef struct
{
    int32_t a0, a1, a2, a3;
} acc4;

/* bias + dot products of one input row with the 4 units of a block; w at the block's
 * weights, returned past them (at the block's constants). */
TS_INLINE acc4 dot_block(const int32_t *x, const int32_t *x_end, const int32_t **w,
                         acc4 bias, const int odd)
{
    register const int32_t *rw __asm__("r0") = *w;
    register const int32_t *rx __asm__("r1") = x;
    register const int32_t *rend __asm__("r2") = x_end;
    register int32_t a0 __asm__("r8") = bias.a0;
    register int32_t a1 __asm__("r9") = bias.a1;
    register int32_t a2 __asm__("r10") = bias.a2;
    register int32_t a3 __asm__("r11") = bias.a3;
    if (odd)
        __asm__ volatile(FC_GROUP
                         "cmp    r1, r2\n\t"
                         "beq    3f\n"
                         "2:\n\t"
                         FC_GROUP
                         FC_GROUP
                         "cmp    r1, r2\n\t"
                         "bne    2b\n"
                         "3:\n\t"
                         : "+r"(rw), "+r"(rx), "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3)
                         : "r"(rend)
                         : "r3", "r4", "r5", "r6", "r7", "r12", "lr", "cc", "memory");
    else
        __asm__ volatile("2:\n\t"
                         FC_GROUP
                         FC_GROUP
                         "cmp    r1, r2\n\t"
                         "bne    2b\n\t"
                         : "+r"(rw), "+r"(rx), "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3)
                         : "r"(rend)
                         : "r3", "r4", "r5", "r6", "r7", "r12", "lr", "cc", "memory");
    *w = rw;
    return (acc4){a0, a1, a2, a3};
}

TS_INLINE void fc(const ts_fc_params *p, const int8_t *input, const int32_t *packed,
                  int32_t *buffer, int8_t *output, int mode, int odd)
{
    const int32_t depth = p->accum_depth, units = p->output_depth;
    const int32_t k4 = (depth + 3) & ~3;
    const int32_t *x_end = buffer + k4 / 2;
    const int doubled = mode != TS_MODE_GENERIC;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; b++, input += depth)
    {
        /* the row widened to int16 lanes: word 2g = (x[4g], x[4g+2]), 2g+1 = (x[4g+1], x[4g+3]) */
        const int8_t *src = input;
        int32_t *dst = buffer;
        for (int32_t g = depth >> 2; g > 0; g--, src += 4, dst += 2)
            ts_pack_word(dst, ts_load4(src), doubled);
        if (depth & 3)
        {
            uint32_t v = 0;
            for (int32_t i = 0; i < (depth & 3); i++)
                v |= (uint32_t)(uint8_t)src[i] << (8 * i);
            ts_pack_word(dst, (int32_t)v, doubled);
        }
        const int32_t *w = packed;
        for (int32_t u = 0; u < units; u += 4, output += 4)
        {
            acc4 bias = {w[0], w[1], w[2], w[3]};
            if (doubled)
                bias = (acc4){2 * bias.a0, 2 * bias.a1, 2 * bias.a2, 2 * bias.a3};
            w += BLOCK_HEAD;
            const acc4 acc = odd ? dot_block(buffer, x_end, &w, bias, 1)
                                  : dot_block(buffer, x_end, &w, bias, 0);
            output[0] = ts_output(acc.a0, w, off, lo, hi, mode);
            if (u + 1 < units)
                output[1] = ts_output(acc.a1, w + 3, off, lo, hi, mode);
            if (u + 2 < units)
                output[2] = ts_output(acc.a2, w + 6, off, lo, hi, mode);
            if (u + 3 < units)
                output[3] = ts_output(acc.a3, w + 9, off, lo, hi, mode);
            w += BLOCK_TAIL;
        }
        output -= ((units + 3) & ~3) - units;
    }
}

/* The fast modes' conditions (ts_conv_core.h) over every unit of the packed blocks. */
TS_INLINE int fc_mode(const ts_fc_params *p, const int32_t *packed)
{
    const int32_t k4 = (p->accum_depth + 3) & ~3;
    const int32_t limit = (1 << 30) - k4 * (1 << 14);
    if (limit <= 0)
        return TS_MODE_GENERIC;
    for (int32_t u = 0; u < p->output_depth; u += 4)
    {
        const int32_t *t = packed + BLOCK_HEAD + k4;
        for (int32_t i = 0; i < 4; i++)
            if (packed[i] >= limit || packed[i] <= -limit || t[3 * i] < 0 ||
                t[3 * i + 1] < 1 || t[3 * i + 1] > 22)
                return TS_MODE_GENERIC;
        packed = t + BLOCK_TAIL;
    }
    return (p->act_min == -128 && p->act_max == 127) ? TS_MODE_FAST_FULL : TS_MODE_FAST_CLAMP;
}

int32_t ts_fully_connected_s8(const ts_fc_params *params, const int8_t *input,
                              const int32_t *packed, int16_t *buffer, int8_t *output)
{
    const ts_fc_params *p = params;
    if (p->batches < 1 || p->accum_depth < 1 || p->output_depth < 1 ||
        p->input_offset < -127 || p->input_offset > 128 || p->act_min < -128 ||
        p->act_max > 127 || p->act_min > p->act_max)
        return TS_ERROR_ARGUMENT;
    int32_t *buf = (int32_t *)(void *)buffer;
    const int mode = fc_mode(p, packed);
    fc(p, input, packed, buf, output, mode, ((p->accum_depth + 3) >> 2) & 1);
    return TS_OK;
}
