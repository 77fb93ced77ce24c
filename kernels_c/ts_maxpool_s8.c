/* int8 max pooling, NHWC, TFLM arithmetic (ts_nn.h).
 *
 * Each window is clipped to the input, as TFLM's reference MaxPool does; the maximum
 * starts at -128 and is clamped to the activation range. Four channels at a time: SSUB8
 * sets a GE flag per byte lane where the new word is >= the running maximum and SEL keeps
 * the larger lane.
 */
#include "ts_dw_support.h"

/* Lane-wise maximum of four int8 lanes. */
TS_DW_INLINE uint32_t max4(uint32_t a, uint32_t b)
{
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel %0, %0, %2"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}

int32_t ts_maxpool_s8(const ts_pool_params *params, const int8_t *input, int8_t *output)
{
    const ts_pool_params *p = params;
    if (TS_POOL_PARAMS_BAD(p))
        return TS_ERROR_ARGUMENT;
    const int32_t C = p->channels, W = p->input_w, groups = C >> 2;
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->output_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 = iy0 + p->filter_h < p->input_h ? iy0 + p->filter_h : p->input_h;
        for (int32_t ox = 0; ox < p->output_w; ox++, out += C) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 = ix0 + p->filter_w < W ? ix0 + p->filter_w : W;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t m = 0x80808080u;
                for (int32_t y = y0; y < y1; y++) {
                    const int8_t *px = input + (y * W + x0) * C + 4 * g;
                    for (int32_t x = x0; x < x1; x++, px += C)
                        m = max4(m, ts_dw_load32(px));
                }
                ts_dw_store32(out + 4 * g, ts_dw_clamp4(m, lo4, hi4));
            }
            for (int32_t c = 4 * groups; c < C; c++) {
                int32_t m = -128;
                for (int32_t y = y0; y < y1; y++)
                    for (int32_t x = x0; x < x1; x++) {
                        const int32_t v = input[(y * W + x) * C + c];
                        m = v > m ? v : m;
                    }
                m = m < p->act_min ? p->act_min : m;
                out[c] = (int8_t)(m > p->act_max ? p->act_max : m);
            }
        }
    }
    return TS_OK;
}
