/* Depthwise convolution, int8 NHWC, 3x3 window: the fast path (ts_nn.h). */
#include "ts_dw_support.h"

/* One output pixel whose 3x3 window lies inside the input, starting at (iy0, ix0). The
 * nine taps are unrolled: per tap and group of four channels, one input LDR, one weight
 * LDR, two SXTAB16, two SXTB16 and four SMLAxy (TS_DW_MAC4). */
TS_DW_INLINE void dw3x3_inside(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                               const ts_dw_channel *channel, int8_t *out, int32_t iy0,
                               int32_t ix0, uint32_t lo4, uint32_t hi4, const int mixed)
{
    const int32_t C = p->channels, WC = p->input_w * C, groups = C >> 2;
    const uint32_t off2 = ts_dw_offset2(p->input_offset);
    const int8_t *r0 = input + iy0 * WC + ix0 * C;
    const int8_t *w = filter;
    const ts_dw_channel *ch = channel;
    int8_t *o = out;
    for (int32_t g = 0; g < groups; g++, r0 += 4, w += 36, ch += 4, o += 4) {
        const int8_t *r1 = r0 + WC, *r2 = r1 + WC;
        int32_t a0 = ch[0].bias, a1 = ch[1].bias, a2 = ch[2].bias, a3 = ch[3].bias;
        TS_DW_MAC4(ts_dw_load32(r0), ts_dw_load32(w + 0), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r0 + C), ts_dw_load32(w + 4), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r0 + 2 * C), ts_dw_load32(w + 8), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r1), ts_dw_load32(w + 12), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r1 + C), ts_dw_load32(w + 16), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r1 + 2 * C), ts_dw_load32(w + 20), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r2), ts_dw_load32(w + 24), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r2 + C), ts_dw_load32(w + 28), off2, a0, a1, a2, a3);
        TS_DW_MAC4(ts_dw_load32(r2 + 2 * C), ts_dw_load32(w + 32), off2, a0, a1, a2, a3);
        ts_dw_finish4(p, ch, o, a0, a1, a2, a3, lo4, hi4, mixed);
    }
    ts_dw_tail_channels(p, input, filter, channel, out, iy0, ix0, 0, 3, 0, 3);
}

/* @p mixed: some channel takes TFLM's general requantization (ts_dw_finish4). */
TS_DW_INLINE void dw3x3_all(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                            const ts_dw_channel *channel, int8_t *output, const int mixed)
{
    const int32_t C = p->channels, sh = p->stride_h, sw = p->stride_w;
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    /* output columns [ox_lo, ox_hi) have their window inside the input's width */
    const int32_t ox_lo = (p->pad_w + sw - 1) / sw;
    int32_t ox_hi = (p->input_w - 3 + p->pad_w) / sw + 1;
    if (p->input_w < 3)
        ox_hi = 0;
    if (ox_hi > p->output_w)
        ox_hi = p->output_w;
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->output_h; oy++) {
        const int32_t iy0 = oy * sh - p->pad_h;
        const int rows_in = iy0 >= 0 && iy0 + 2 < p->input_h;
        for (int32_t ox = 0; ox < p->output_w; ox++, out += C) {
            const int32_t ix0 = ox * sw - p->pad_w;
            if (rows_in && ox >= ox_lo && ox < ox_hi)
                dw3x3_inside(p, input, filter, channel, out, iy0, ix0, lo4, hi4, mixed);
            else
                ts_dw_pixel(p, input, filter, channel, out, iy0, ix0, 3, mixed);
        }
    }
}

int32_t ts_depthwise_conv_3x3_s8(const ts_dw_params *params, const int8_t *input,
                                 const int8_t *filter, const ts_dw_channel *channel,
                                 int8_t *output)
{
    if (!ts_dw_params_valid(params) || params->filter_h != 3 || params->filter_w != 3 ||
        params->dilation_h != 1 || params->dilation_w != 1)
        return TS_ERROR_ARGUMENT;
    if (ts_dw_all_fast(channel, params->channels))
        dw3x3_all(params, input, filter, channel, output, 0);
    else
        dw3x3_all(params, input, filter, channel, output, 1);
    return TS_OK;
}
