/**
 * @file ts_conv_core.h
 * @brief Private building blocks of tinysim's convolution kernels (ts_convolve_*) and
 *        of ts_fully_connected_s8 (input widening, modes, requantization).
 *
 * Every convolution runs as a matrix product: a tile of 4 output pixels times one filter
 * row of K = filter_h * filter_w * input_c weights (padded with zero weights to K4, a
 * multiple of 4). The 4 pixels' input windows are first widened to int16 in a scratch
 * buffer, once per tile (the cost is shared by every output channel):
 *
 *   buffer word 8g + 2p     = int16 lanes (x[4g], x[4g + 2])      of pixel p, group g
 *   buffer word 8g + 2p + 1 = int16 lanes (x[4g + 1], x[4g + 3])
 *
 * which is how SXTB16 splits a weight word (w0 w1 w2 w3) into (w0, w2) and, rotated by 8,
 * (w1, w3); SMLAD does two MACs. Per group of 4 K, 4 pixels and one output channel
 * (16 MACs): 1 weight LDR, 2 SXTB16, 2 LDM of the buffer and 8 SMLAD.
 *
 * Requantization, bit-exact with TFLM's MultiplyByQuantizedMultiplier (double rounding)
 * followed by + output_offset: with e = -shift >= 1, multiplier m >= 0 and z the output
 * offset, TFLM's two roundings fold into one floor of an exact quantity,
 *     out = floor((acc * m + 2^30 + 2^(30+e) - 2^31 * (acc < 0)) / 2^(31+e)) + z
 * (its rounding doubling high multiply is floor((acc * m + 2^30) / 2^31) for m >= 0, its
 * rounding divide adds 2^(e-1) - (y < 0), and floor((floor(u) + k) / n) = floor((u + k) / n)
 * for integers k, n > 0; (y < 0) may read (acc < 0): they differ only where y = 0 and both
 * give 0). Doubling numerator and denominator, with A = 2 * acc:
 *     out = ((R * 2^32 + A * m + 2^31) >> 32) >> e,  R = 2^(e-1) + z * 2^e - (A < 0)
 * which is SMMLAR(A, m, rounding + (A >> 31)) then ASR by e: 4 instructions with the
 * offset included. The kernels get A directly by accumulating doubled inputs (the buffer
 * lanes hold 2x, still int16) from a doubled bias. The 32-bit result is exact when
 * |acc| < 2^30 and 1 <= e <= 22 (then |R| < 2^29 + 2^22 and |A * m / 2^32| < 2^30).
 * ts_conv_mode() checks this per layer from the biases and K (|acc| <= |bias| + K * 2^14);
 * a layer outside it (huge biases, an effective scale >= 0.5 or < 2^-23) takes the generic
 * path: plain inputs and ts_requantize() (TFLM's formula) per output.
 *
 * Packed filter (prepared on the host, see ts_nn.h): word 0 holds bias_0, then for each
 * channel c its K4 weight bytes followed by 4 words: multiplier_c, right_shift_c (= e),
 * rounding_c (= 2^(e-1) + z * 2^e, 0 when e is outside [1, 22]) and bias_{c+1} (0 after
 * the last channel). The pointer that walks the weights thus also walks the constants,
 * which frees the register the hand-scheduled tile loop needs.
 */
#ifndef TS_CONV_CORE_H
#define TS_CONV_CORE_H

#include <arm_acle.h>
#include <stdint.h>

#include "ts_nn.h"
#include "ts_support.h"

#define TS_INLINE static inline __attribute__((always_inline))

/** @brief SXTB16 of the word rotated right by 8: int16 lanes (byte 1, byte 3). */
TS_INLINE int32_t ts_sxtb16_ror8(int32_t v)
{
    int32_t r;
    /* GCC 12 has no __ror in arm_acle.h and does not fold a rotate into SXTB16 */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/** @brief Four int8 at any alignment, as one word (a plain, unaligned-safe LDR). */
TS_INLINE int32_t ts_load4(const int8_t *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/** @brief Widen 4 int8 (one word) into the two buffer words of one pixel and group. */
TS_INLINE void ts_pack_word(int32_t *dst, int32_t v, const int doubled)
{
    int32_t even = __sxtb16(v), odd = ts_sxtb16_ror8(v);
    if (doubled)
    {
        even = __sadd16(even, even);
        odd = __sadd16(odd, odd);
    }
    dst[0] = even;
    dst[1] = odd;
}

/**
 * @brief Widen one pixel's k int8 values into its lanes of the 4-pixel tile buffer.
 * @param dst the pixel's first word (buffer + 2p); groups are 8 words apart.
 * @param k   number of values; a last partial group is padded with 0 and nothing past
 *            src + k is read.
 */
TS_INLINE void ts_pack_pixel(int32_t *dst, const int8_t *src, int32_t k, const int doubled)
{
    for (int32_t g = k >> 2; g > 0; g--)
    {
        ts_pack_word(dst, ts_load4(src), doubled);
        src += 4;
        dst += 8;
    }
    const int32_t rest = k & 3;
    if (rest)
    {
        uint32_t v = 0;
        for (int32_t i = 0; i < rest; i++)
            v |= (uint32_t)(uint8_t)src[i] << (8 * i);
        ts_pack_word(dst, (int32_t)v, doubled);
    }
}

/** @brief How a layer requantizes, chosen once per call by ts_conv_mode(). */
enum
{
    TS_MODE_FAST_FULL = 0,  /**< fast requantization, clamp range [-128, 127] (SSAT) */
    TS_MODE_FAST_CLAMP = 1, /**< fast requantization, narrower clamp range */
    TS_MODE_GENERIC = 2,    /**< ts_requantize() per output, plain inputs */
};

/** @brief Words of per-channel constants after each weight row of a packed filter. */
#define TS_CHANNEL_WORDS 4

/**
 * @brief The fastest exact mode for a packed filter with rows of k4 bytes.
 *
 * Fast modes need, for every channel: 1 <= right_shift <= 22, multiplier >= 0 and
 * |bias| + K4 * 2^14 < 2^30 (so every accumulator is below 2^30 in magnitude).
 */
TS_INLINE int ts_conv_mode(const int32_t *packed, int32_t channels, int32_t k4,
                           int32_t act_min, int32_t act_max)
{
    const int32_t limit = (1 << 30) - k4 * (1 << 14);
    const int32_t row_words = k4 / 4 + TS_CHANNEL_WORDS;
    int32_t bias = packed[0];
    const int32_t *t = packed + 1 + k4 / 4;
    for (int32_t c = 0; c < channels; c++, t += row_words)
    {
        if (limit <= 0 || bias >= limit || bias <= -limit || t[0] < 0 || t[1] < 1 ||
            t[1] > 22)
            return TS_MODE_GENERIC;
        bias = t[3];
    }
    return (act_min == -128 && act_max == 127) ? TS_MODE_FAST_FULL : TS_MODE_FAST_CLAMP;
}

/** @brief The 4 accumulators of one tile row. */
typedef struct
{
    int32_t a0, a1, a2, a3;
} ts_acc4;

/* One group of 4 K for the 4 pixels. Fixed registers, as the LDM register list must be
 * ascending: r0 weights, r1 buffer, r4-r7 buffer words, r8-r11 accumulators of pixels 0-3,
 * r12 / lr the even / odd weight lanes. */
#define TS_GROUP_BODY(A0, A1, A2, A3)         \
    "ldr    r12, [r0], #4\n\t"                \
    "ldmia  r1!, {r4, r5, r6, r7}\n\t"        \
    "sxtb16 lr, r12, ror #8\n\t"              \
    "sxtb16 r12, r12\n\t"                     \
    "smlad  r8, r4, r12, " A0 "\n\t"          \
    "smlad  r8, r5, lr, r8\n\t"               \
    "smlad  r9, r6, r12, " A1 "\n\t"          \
    "smlad  r9, r7, lr, r9\n\t"               \
    "ldmia  r1!, {r4, r5, r6, r7}\n\t"        \
    "smlad  r10, r4, r12, " A2 "\n\t"         \
    "smlad  r10, r5, lr, r10\n\t"             \
    "smlad  r11, r6, r12, " A3 "\n\t"         \
    "smlad  r11, r7, lr, r11\n\t"

/* the first group starts all 4 accumulators from the bias in r11 (updated last) */
#define TS_GROUP_FIRST TS_GROUP_BODY("r11", "r11", "r11", "r11")
#define TS_GROUP TS_GROUP_BODY("r8", "r9", "r10", "r11")

/* The K loop of one channel: r0 at the row's weights, r1 at the tile buffer, r2 at the
 * buffer's end, r11 = bias. One or two groups are peeled (by the parity of the group
 * count) so that the loop runs on pairs. */
#define TS_K_LOOP_ODD              \
    TS_GROUP_FIRST                 \
    "cmp    r1, r2\n\t"            \
    "beq    3f\n"                  \
    "2:\n\t"                       \
    TS_GROUP                       \
    TS_GROUP                       \
    "cmp    r1, r2\n\t"            \
    "bne    2b\n"                  \
    "3:\n\t"

#define TS_K_LOOP_EVEN             \
    TS_GROUP_FIRST                 \
    TS_GROUP                       \
    "cmp    r1, r2\n\t"            \
    "beq    3f\n"                  \
    "2:\n\t"                       \
    TS_GROUP                       \
    TS_GROUP                       \
    "cmp    r1, r2\n\t"            \
    "bne    2b\n"                  \
    "3:\n\t"

/**
 * @brief bias + dot products of the 4 tile pixels with one packed filter row.
 * @param w at the row's weights; returned past them (at the row's constants).
 */
TS_INLINE ts_acc4 ts_dot4(const int32_t *x, const int32_t *x_end, const int32_t **w,
                          int32_t bias, const int odd)
{
    register const int32_t *rw __asm__("r0") = *w;
    register const int32_t *rx __asm__("r1") = x;
    register const int32_t *rend __asm__("r2") = x_end;
    register int32_t a0 __asm__("r8");
    register int32_t a1 __asm__("r9");
    register int32_t a2 __asm__("r10");
    register int32_t a3 __asm__("r11") = bias;
    if (odd)
        __asm__ volatile(TS_K_LOOP_ODD
                         : "+r"(rw), "+r"(rx), "=&r"(a0), "=&r"(a1), "=&r"(a2), "+r"(a3)
                         : "r"(rend)
                         : "r4", "r5", "r6", "r7", "r12", "lr", "cc", "memory");
    else
        __asm__ volatile(TS_K_LOOP_EVEN
                         : "+r"(rw), "+r"(rx), "=&r"(a0), "=&r"(a1), "=&r"(a2), "+r"(a3)
                         : "r"(rend)
                         : "r4", "r5", "r6", "r7", "r12", "lr", "cc", "memory");
    *w = rw;
    return (ts_acc4){a0, a1, a2, a3};
}

/** @brief The fast requantization of one doubled accumulator (offset included). */
TS_INLINE int32_t ts_requant_fast(int32_t acc2, int32_t multiplier, int32_t right_shift,
                                  int32_t rounding)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3"
            : "=r"(r)
            : "r"(acc2), "r"(multiplier), "r"(rounding + (acc2 >> 31)));
    return r >> right_shift;
}

/** @brief One output in the C path: requantize, + offset, clamp (TFLM's order). */
TS_INLINE int8_t ts_output(int32_t acc, const int32_t *t, int32_t output_offset,
                           int32_t act_min, int32_t act_max, int mode)
{
    int32_t v;
    if (mode == TS_MODE_GENERIC)
        v = ts_requantize(acc, t[0], -t[1]) + output_offset;
    else
        v = ts_requant_fast(acc, t[0], t[1], t[2]);
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/** @brief Per-layer constants of a tile. */
typedef struct
{
    int32_t out_c;         /**< output channels = output pixel stride */
    int32_t k4;            /**< filter row length in bytes (multiple of 4) */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} ts_tile_params;

/**
 * @brief Every output channel of a tile of npix (1..4) consecutive output pixels, in C
 *        around the assembly K loop: the modes other than FAST_FULL, and short tiles.
 *
 * A short tile computes 4 pixels (its unused buffer lanes repeat a valid pixel) and
 * stores npix. One out-of-line copy serves every mode: only FAST_FULL is hot.
 */
static void __attribute__((noinline)) ts_tile_c(const int32_t *x, const int32_t *packed,
                                                const ts_tile_params *tp, int8_t *out,
                                                int32_t npix, int mode, int odd)
{
    const int32_t out_c = tp->out_c;
    const int32_t *x_end = x + 2 * tp->k4;
    const int32_t off = tp->output_offset, lo = tp->act_min, hi = tp->act_max;
    int32_t bias = packed[0];
    const int32_t *w = packed + 1;
    for (int32_t c = 0; c < out_c; c++, out++)
    {
        const int32_t start = mode == TS_MODE_GENERIC ? bias : 2 * bias;
        const ts_acc4 acc = odd ? ts_dot4(x, x_end, &w, start, 1)
                                : ts_dot4(x, x_end, &w, start, 0);
        const int32_t a[4] = {acc.a0, acc.a1, acc.a2, acc.a3};
        for (int32_t q = 0; q < npix; q++)
            out[q * out_c] = ts_output(a[q], w, off, lo, hi, mode);
        bias = w[3];
        w += TS_CHANNEL_WORDS;
    }
}

/** @brief Arguments of ts_tile_fast (read once per tile). */
typedef struct
{
    const int32_t *x;     /**< tile buffer */
    const int32_t *x_end; /**< x + 2 * k4 */
    const int32_t *packed;
    int8_t *out;          /**< output of pixel 0, channel 0 */
    int32_t out_c;
    int8_t *out_end;      /**< out + out_c */
} ts_tile_args;

/* Requantize accumulator A (doubled) with r4 = multiplier, r5 = right shift,
 * r6 = rounding; saturate to int8 and store. */
#define TS_OUT_FAST(A, ADDR)                  \
    "add    r12, r6, " A ", asr #31\n\t"      \
    "smmlar r12, " A ", r4, r12\n\t"          \
    "asr    r12, r12, r5\n\t"                 \
    "ssat   r12, #8, r12\n\t"                 \
    "strb   r12, " ADDR "\n\t"

/* The whole channel loop of a full tile in FAST_FULL mode: per channel the K loop, then
 * the 4 outputs in 5 instructions each. The output pointer, its stride and its end live
 * on the stack ([sp] = out_c, [sp, #4] = out, [sp, #8] = out_end) while the K loop uses
 * every register. */
#define TS_TILE_FAST(K_LOOP)                                 \
    "ldr    r3, [r0, #0]\n\t"                                \
    "ldr    r2, [r0, #4]\n\t"                                \
    "ldr    r1, [r0, #16]\n\t"                               \
    "ldr    r7, [r0, #12]\n\t"                               \
    "ldr    lr, [r0, #20]\n\t"                               \
    "ldr    r0, [r0, #8]\n\t"                                \
    "push   {r1, r7, lr}\n\t"                                \
    "ldr    r11, [r0], #4\n"                                 \
    "1:\n\t"                                                 \
    "lsl    r11, r11, #1\n\t"                                \
    "mov    r1, r3\n\t"                                      \
    K_LOOP                                                   \
    "ldmia  r0!, {r4, r5, r6}\n\t"                           \
    "ldrd   r1, r7, [sp]\n\t"                                \
    "add    lr, r1, r1, lsl #1\n\t"                          \
    TS_OUT_FAST("r11", "[r7, lr]")                           \
    TS_OUT_FAST("r10", "[r7, r1, lsl #1]")                   \
    TS_OUT_FAST("r9", "[r7, r1]")                            \
    TS_OUT_FAST("r8", "[r7], #1")                            \
    "ldr    r11, [r0], #4\n\t"                               \
    "str    r7, [sp, #4]\n\t"                                \
    "ldr    lr, [sp, #8]\n\t"                                \
    "cmp    r7, lr\n\t"                                      \
    "bne    1b\n\t"                                          \
    "add    sp, sp, #12\n\t"

/**
 * @brief Every output channel of a full tile (4 pixels) in FAST_FULL mode, hand-scheduled.
 */
static void __attribute__((noinline)) ts_tile_fast(ts_tile_args *args, int odd)
{
    register ts_tile_args *a __asm__("r0") = args;
    if (odd)
        __asm__ volatile(TS_TILE_FAST(TS_K_LOOP_ODD)
                         : "+r"(a)
                         :
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
                           "r11", "r12", "lr", "cc", "memory");
    else
        __asm__ volatile(TS_TILE_FAST(TS_K_LOOP_EVEN)
                         : "+r"(a)
                         :
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
                           "r11", "r12", "lr", "cc", "memory");
}

/**
 * @brief Every output channel of a tile whose buffer is packed, in the layer's mode.
 *
 * @param x    tile buffer (4 pixels, doubled lanes unless mode is TS_MODE_GENERIC)
 * @param npix valid pixels (1..4)
 */
TS_INLINE void ts_tile(const int32_t *x, const int32_t *packed, const ts_tile_params *tp,
                       int8_t *out, int32_t npix, int mode, int odd)
{
    if (mode == TS_MODE_FAST_FULL && npix == 4)
    {
        ts_tile_args args = {x, x + 2 * tp->k4, packed, out, tp->out_c, out + tp->out_c};
        ts_tile_fast(&args, odd);
    }
    else
        ts_tile_c(x, packed, tp, out, npix, mode, odd);
}

/* ---- windows (im2col) ------------------------------------------------------------ */

/** @brief Position of the current output pixel while walking a layer's outputs in order. */
typedef struct
{
    int32_t b, y, x;
} ts_pixel_pos;

TS_INLINE void ts_pixel_next(ts_pixel_pos *pos, const ts_conv_params *p)
{
    if (++pos->x < p->output_w)
        return;
    pos->x = 0;
    if (++pos->y < p->output_h)
        return;
    pos->y = 0;
    pos->b++;
}

/** @brief Copy n bytes (any alignment) a word at a time with plain LDR/STR. */
TS_INLINE void ts_copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4)
    {
        const int32_t v = ts_load4(src);
        __builtin_memcpy(dst, &v, 4);
    }
    for (; n > 0; n--)
        *dst++ = *src++;
}

/** @brief Fill n bytes with the byte replicated in fill4. */
TS_INLINE void ts_fill_bytes(int8_t *dst, int32_t fill4, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4)
        __builtin_memcpy(dst, &fill4, 4);
    for (; n > 0; n--)
        *dst++ = (int8_t)fill4;
}

/**
 * @brief Gather the window of output pixel pos as K int8 values (TFLite's order: filter
 *        row, filter column, input channel) into stage; points outside the input read as
 *        the input zero point (replicated in zp4). FH, FW, DH, DW: the filter size and
 *        dilation when known at compile time, 0 to read them from p.
 */
TS_INLINE void ts_gather_window(int8_t *stage, const ts_conv_params *p, const int8_t *input,
                                ts_pixel_pos pos, int32_t zp4, const int FH, const int FW,
                                const int DH, const int DW)
{
    const int32_t fh = FH ? FH : p->filter_h, fw = FW ? FW : p->filter_w;
    const int32_t dh = DH ? DH : p->dilation_h, dw = DW ? DW : p->dilation_w;
    const int32_t in_h = p->input_h, in_w = p->input_w, in_c = p->input_c;
    const int8_t *image = input + pos.b * in_h * in_w * in_c;
    const int32_t y0 = pos.y * p->stride_h - p->pad_h;
    const int32_t x0 = pos.x * p->stride_w - p->pad_w;
    const int32_t row_bytes = fw * in_c;
    const int row_inside = x0 >= 0 && x0 + (fw - 1) * dw < in_w;
    for (int32_t fy = 0; fy < fh; fy++, stage += row_bytes)
    {
        const int32_t y = y0 + fy * dh;
        if (y < 0 || y >= in_h)
        {
            ts_fill_bytes(stage, zp4, row_bytes);
            continue;
        }
        const int8_t *row = image + (y * in_w + x0) * in_c;
        if (dw == 1 && row_inside)
        {
            ts_copy_bytes(stage, row, row_bytes);
            continue;
        }
        for (int32_t fx = 0; fx < fw; fx++)
        {
            const int32_t x = x0 + fx * dw;
            if (x >= 0 && x < in_w)
                ts_copy_bytes(stage + fx * in_c, row + fx * dw * in_c, in_c);
            else
                ts_fill_bytes(stage + fx * in_c, zp4, in_c);
        }
    }
}

/**
 * @brief Pack the window of output pixel pos straight into its tile-buffer lanes, for
 *        input_c % 4 == 0 (every group of 4 K lies inside one window point).
 */
TS_INLINE void ts_pack_window_direct(int32_t *dst, const ts_conv_params *p,
                                     const int8_t *input, ts_pixel_pos pos, int32_t zp4,
                                     const int doubled, const int FH, const int FW,
                                     const int DH, const int DW)
{
    const int32_t fh = FH ? FH : p->filter_h, fw = FW ? FW : p->filter_w;
    const int32_t dh = DH ? DH : p->dilation_h, dw = DW ? DW : p->dilation_w;
    const int32_t in_h = p->input_h, in_w = p->input_w, in_c = p->input_c;
    const int32_t groups = in_c >> 2;
    const int8_t *image = input + pos.b * in_h * in_w * in_c;
    const int32_t y0 = pos.y * p->stride_h - p->pad_h;
    const int32_t x0 = pos.x * p->stride_w - p->pad_w;
    for (int32_t fy = 0; fy < fh; fy++)
    {
        const int32_t y = y0 + fy * dh;
        const int y_inside = y >= 0 && y < in_h;
        const int8_t *row = image + y * in_w * in_c;
        for (int32_t fx = 0; fx < fw; fx++)
        {
            const int32_t x = x0 + fx * dw;
            if (y_inside && x >= 0 && x < in_w)
            {
                const int8_t *src = row + x * in_c;
                for (int32_t g = 0; g < groups; g++, src += 4, dst += 8)
                    ts_pack_word(dst, ts_load4(src), doubled);
            }
            else
                for (int32_t g = 0; g < groups; g++, dst += 8)
                    ts_pack_word(dst, zp4, doubled);
        }
    }
}

/** @brief Argument checks shared by the convolution kernels. */
TS_INLINE int ts_conv_params_valid(const ts_conv_params *p)
{
    return p->batches >= 1 && p->input_h >= 1 && p->input_w >= 1 && p->input_c >= 1 &&
           p->output_h >= 1 && p->output_w >= 1 && p->output_c >= 1 && p->filter_h >= 1 &&
           p->filter_w >= 1 && p->stride_h >= 1 && p->stride_w >= 1 &&
           p->dilation_h >= 1 && p->dilation_w >= 1 && p->pad_h >= 0 && p->pad_w >= 0 &&
           p->input_offset >= -127 && p->input_offset <= 128 && p->act_min >= -128 &&
           p->act_max <= 127 && p->act_min <= p->act_max;
}

/** @brief Two bytes at any alignment (a plain LDRH). */
TS_INLINE uint32_t ts_load2(const int8_t *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return v;
}

/**
 * @brief The 27 window values of a 3x3 window on 3 input channels that lies inside the
 *        input, from its three 9-byte rows r0, r1, r2, as the 7 groups of K = 0..27 (the
 *        28th value is 0), straight into one pixel's tile-buffer lanes.
 *
 * Rows are read with unaligned word loads and the three words that straddle two rows are
 * spliced. No load leaves the window's rows except r1 - 1, the byte before row 1, which
 * is in the input (row 1 is not the input's first row).
 */
TS_INLINE void ts_pack_window_3x3_c3(int32_t *dst, const int8_t *r0, const int8_t *r1,
                                     const int8_t *r2, int doubled)
{
    ts_pack_word(dst, ts_load4(r0), doubled);
    ts_pack_word(dst + 8, ts_load4(r0 + 4), doubled);
    ts_pack_word(dst + 16, (int32_t)(((uint32_t)ts_load4(r1 - 1) & 0xFFFFFF00u) |
                                     (uint8_t)r0[8]), doubled);
    ts_pack_word(dst + 24, ts_load4(r1 + 3), doubled);
    ts_pack_word(dst + 32, (int32_t)(ts_load2(r1 + 7) | (ts_load2(r2) << 16)), doubled);
    ts_pack_word(dst + 40, ts_load4(r2 + 2), doubled);
    ts_pack_word(dst + 48, (int32_t)((uint32_t)ts_load4(r2 + 5) >> 8), doubled);
}

/**
 * @brief Pack one output pixel's window of a 3x3, dilation-1 layer on 3 input channels:
 *        direct loads inside the input, the staged gather at the borders. S: the stride
 *        when known at compile time, 0 to read it from p.
 */
TS_INLINE void ts_pack_3x3_c3(int32_t *dst, int8_t *stage, const ts_conv_params *p,
                              const int8_t *input, ts_pixel_pos pos, int32_t zp4, int doubled,
                              const int S)
{
    const int32_t in_h = p->input_h, in_w = p->input_w;
    const int32_t sh = S ? S : p->stride_h, sw = S ? S : p->stride_w;
    const int32_t y0 = pos.y * sh - p->pad_h, x0 = pos.x * sw - p->pad_w;
    if (y0 >= 0 && y0 + 2 < in_h && x0 >= 0 && x0 + 2 < in_w)
    {
        const int8_t *r0 = input + ((pos.b * in_h + y0) * in_w + x0) * 3;
        ts_pack_window_3x3_c3(dst, r0, r0 + 3 * in_w, r0 + 6 * in_w, doubled);
    }
    else
    {
        ts_gather_window(stage, p, input, pos, zp4, 3, 3, 1, 1);
        ts_pack_pixel(dst, stage, 27, doubled);
    }
}

/**
 * @brief A whole im2col convolution layer: windows gathered
 *        4 output pixels at a time (straight into the tile buffer when input_c % 4 == 0
 *        or for a 3x3 window on 3 channels, else through the K4-byte stage after the
 *        tile buffer), then ts_tile.
 */
TS_INLINE void ts_conv_im2col(const ts_conv_params *p, const int8_t *input,
                              const int32_t *packed, int32_t *buffer, int8_t *output,
                              int mode, int odd, const int FH, const int FW, const int DH,
                              const int DW)
{
    const int32_t k = (FH ? FH : p->filter_h) * (FW ? FW : p->filter_w) * p->input_c;
    const ts_tile_params tp = {p->output_c, (k + 3) & ~3, p->output_offset, p->act_min,
                               p->act_max};
    const int doubled = mode != TS_MODE_GENERIC;
    int8_t *stage = (int8_t *)(buffer + 2 * tp.k4);
    const int32_t zp4 = (int32_t)(0x01010101u * (uint8_t)(-p->input_offset));
    const int direct = (p->input_c & 3) == 0;
    const int32_t pixels = p->batches * p->output_h * p->output_w;
    ts_pixel_pos pos = {0, 0, 0};
    for (int32_t pix = 0; pix < pixels; pix += 4)
    {
        const int32_t npix = pixels - pix < 4 ? pixels - pix : 4;
        for (int32_t q = 0; q < 4; q++)
        {
            /* a short last tile repeats its last pixel in the unused lanes */
            if (FH == 3 && FW == 3 && DH == 1 && DW == 1 && p->input_c == 3)
                ts_pack_3x3_c3(buffer + 2 * q, stage, p, input, pos, zp4, doubled, 0);
            else if (direct)
                ts_pack_window_direct(buffer + 2 * q, p, input, pos, zp4, doubled, FH, FW,
                                      DH, DW);
            else
            {
                ts_gather_window(stage, p, input, pos, zp4, FH, FW, DH, DW);
                ts_pack_pixel(buffer + 2 * q, stage, k, doubled);
            }
            if (q + 1 < npix)
                ts_pixel_next(&pos, p);
        }
        ts_pixel_next(&pos, p);
        ts_tile(buffer, packed, &tp, output, npix, mode, odd);
        output += 4 * tp.out_c;
    }
}

#endif /* TS_CONV_CORE_H */
