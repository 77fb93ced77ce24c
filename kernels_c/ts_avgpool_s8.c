/* int8 average pooling, NHWC, TFLM arithmetic (ts_nn.h).
 *
 * Each window is clipped to the input, as TFLM's reference AveragePool does, so the
 * divisor is the number of points inside. Four channels at a time: SXTAB16 adds the
 * sign-extended bytes (0, 2) and (1, 3) of an input word into two int16 lane pairs, exact
 * while the window has at most 256 points (|sum| <= 128 * 256 = 2^15); larger windows
 * accumulate each channel in int32 with SXTAB. The average rounds halves away from zero
 * with C's truncating division, as TFLM: (sum +- count / 2) / count.
 */
#include "ts_dw_support.h"

static int32_t avg_round(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* Sums of channels c..c+3 over the clipped window rows [y0, y1) x columns [x0, x1). */
TS_DW_INLINE void avg_sum4(const int8_t *input, int32_t W, int32_t C, int32_t c, int32_t y0,
                           int32_t y1, int32_t x0, int32_t x1, int narrow, int32_t *s)
{
    if (narrow) {
        uint32_t even = 0, odd = 0; /* int16 lanes: channels (c, c+2) and (c+1, c+3) */
        for (int32_t y = y0; y < y1; y++) {
            const int8_t *px = input + (y * W + x0) * C + c;
            for (int32_t x = x0; x < x1; x++, px += C) {
                const uint32_t v = ts_dw_load32(px);
                even = __sxtab16(even, v);
                odd = ts_dw_sxtab16_ror8(odd, v);
            }
        }
        s[0] = (int16_t)even;
        s[1] = (int16_t)odd;
        s[2] = (int16_t)(even >> 16);
        s[3] = (int16_t)(odd >> 16);
    } else {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t y = y0; y < y1; y++) {
            const int8_t *px = input + (y * W + x0) * C + c;
            for (int32_t x = x0; x < x1; x++, px += C) {
                const uint32_t v = ts_dw_load32(px);
                a0 += (int8_t)v;
                a1 += (int8_t)(v >> 8);
                a2 += (int8_t)(v >> 16);
                a3 += (int8_t)(v >> 24);
            }
        }
        s[0] = a0;
        s[1] = a1;
        s[2] = a2;
        s[3] = a3;
    }
}

int32_t ts_avgpool_s8(const ts_pool_params *params, const int8_t *input, int8_t *output)
{
    const ts_pool_params *p = params;
    if (TS_POOL_PARAMS_BAD(p))
        return TS_ERROR_ARGUMENT;
    const int32_t C = p->channels, W = p->input_w, groups = C >> 2;
    const int narrow = p->filter_h * p->filter_w <= 256;
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->output_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 = iy0 + p->filter_h < p->input_h ? iy0 + p->filter_h : p->input_h;
        for (int32_t ox = 0; ox < p->output_w; ox++, out += C) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 = ix0 + p->filter_w < W ? ix0 + p->filter_w : W;
            const int32_t count = (y1 - y0) * (x1 - x0);
            if (y1 <= y0 || x1 <= x0)
                return TS_ERROR_ARGUMENT; /* TFLM fails on an empty window too */
            for (int32_t g = 0; g < groups; g++) {
                int32_t s[4];
                avg_sum4(input, W, C, 4 * g, y0, y1, x0, x1, narrow, s);
                for (int32_t k = 0; k < 4; k++)
                    out[4 * g + k] = (int8_t)avg_round(s[k], count, p->act_min, p->act_max);
            }
            for (int32_t c = 4 * groups; c < C; c++) {
                int32_t sum = 0;
                for (int32_t y = y0; y < y1; y++)
                    for (int32_t x = x0; x < x1; x++)
                        sum += input[(y * W + x) * C + c];
                out[c] = (int8_t)avg_round(sum, count, p->act_min, p->act_max);
            }
        }
    }
    return TS_OK;
}
