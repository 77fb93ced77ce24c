/* In-place depthwise convolution on a CHW tensor, TinyEngine's memory layout (ts_nn.h).
 *
 * Buffer layout (ts_depthwise_conv_s8_inplace_chw_get_buffer_size):
 *   [weights] one channel's taps repacked as int16 pairs, filter_h * J * 4 words:
 *             for kernel row ky, input word j (bytes 4j..4j+3 of the window row) and
 *             output i of a pair (window starting i * stride_w bytes later), the pair
 *             (w[4j - i*s], w[4j + 2 - i*s]) multiplies SXTB16(word) = bytes (0, 2) and
 *             (w[4j + 1 - i*s], w[4j + 3 - i*s]) multiplies bytes (1, 3), one SMLAD each;
 *             taps outside [0, filter_w) are 0. J = ceil((stride_w + filter_w) / 4).
 *   [image]   the channel with its border: padded_h rows of padded_w bytes, the border
 *             holding the input zero point, so a border tap adds
 *             w * (zp + input_offset) = 0, as TFLM skips it,
 *   [slack]   4 bytes, so the last window's word loads stay inside the buffer (they
 *             meet only zero weights).
 */
#include "ts_dw_support.h"

typedef struct
{
    int32_t padded_h, padded_w; /* image rows and row length */
    int32_t words;              /* J */
    int32_t weight_bytes;       /* filter_h * J * 16 */
} dw_chw_layout;

static dw_chw_layout dw_chw_layout_of(const ts_dw_params *p)
{
    dw_chw_layout l;
    const int32_t reach_h = (p->output_h - 1) * p->stride_h + p->filter_h;
    const int32_t reach_w = (p->output_w - 1) * p->stride_w + p->filter_w;
    l.padded_h = p->pad_h + p->input_h > reach_h ? p->pad_h + p->input_h : reach_h;
    l.padded_w = p->pad_w + p->input_w > reach_w ? p->pad_w + p->input_w : reach_w;
    l.words = (p->stride_w + p->filter_w + 3) / 4;
    l.weight_bytes = p->filter_h * l.words * 16;
    return l;
}

static int dw_chw_supported(const ts_dw_params *p)
{
    return ts_dw_params_valid(p) && p->dilation_h == 1 && p->dilation_w == 1 &&
           p->output_h * p->output_w <= p->input_h * p->input_w;
}

int32_t ts_depthwise_conv_s8_inplace_chw_get_buffer_size(const ts_dw_params *params)
{
    if (!dw_chw_supported(params))
        return TS_ERROR_ARGUMENT;
    const dw_chw_layout l = dw_chw_layout_of(params);
    return l.weight_bytes + l.padded_h * l.padded_w + 4;
}

/* int16 pair (lo, hi) of taps of one kernel row; taps outside the row are 0. */
TS_DW_INLINE uint32_t dw_chw_pair(const int8_t *row, int32_t fw, int32_t lo, int32_t hi)
{
    const int32_t a = lo >= 0 && lo < fw ? row[lo] : 0;
    const int32_t b = hi >= 0 && hi < fw ? row[hi] : 0;
    return ((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16);
}

static void dw_chw_pack_weights(const ts_dw_params *p, int32_t words, const int8_t *w,
                                uint32_t *packed)
{
    const int32_t fw = p->filter_w, s = p->stride_w;
    for (int32_t ky = 0; ky < p->filter_h; ky++, w += fw)
        for (int32_t j = 0; j < words; j++)
            for (int32_t i = 0; i < 2; i++) {
                const int32_t t = 4 * j - i * s;
                *packed++ = dw_chw_pair(w, fw, t, t + 2);
                *packed++ = dw_chw_pair(w, fw, t + 1, t + 3);
            }
}

/* Copies an input channel into the image's interior (the border stays untouched). */
static void dw_chw_copy_in(const ts_dw_params *p, const dw_chw_layout *l, const int8_t *src,
                           int8_t *image)
{
    int8_t *dst = image + p->pad_h * l->padded_w + p->pad_w;
    for (int32_t y = 0; y < p->input_h; y++, dst += l->padded_w) {
        int32_t x = 0;
        for (; x + 4 <= p->input_w; x += 4)
            ts_dw_store32(dst + x, ts_dw_load32(src + x));
        for (; x < p->input_w; x++)
            dst[x] = src[x];
        src += p->input_w;
    }
}

/* One output channel. fw_c and s_c are the window width and stride when known at compile
 * time (0 = read from params), so the common shapes get fully unrolled inner loops. */
TS_DW_INLINE void dw_chw_channel(const ts_dw_params *p, const dw_chw_layout *l,
                                 const int8_t *image, const uint32_t *packed,
                                 const ts_dw_channel *ch, int8_t *out, const int fast,
                                 const int32_t fw_c, const int32_t s_c)
{
    const int32_t s = s_c ? s_c : p->stride_w;
    const int32_t words = fw_c ? (s + fw_c + 3) / 4 : l->words;
    const int32_t words_one = ((fw_c ? fw_c : p->filter_w) + 3) / 4;
    const int32_t fh = p->filter_h, pw = l->padded_w, ow = p->output_w;
    const int32_t row_step = p->stride_h * pw;
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    const uint32_t off2 = ts_dw_offset2(p->input_offset);
    const int32_t bias = ch->bias;
    const int8_t *in_row = image;
    for (int32_t oy = 0; oy < p->output_h; oy++, in_row += row_step) {
        int32_t ox = 0;
        /* four outputs per step: two pairs sharing the weight loads */
        for (; ox + 4 <= ow; ox += 4, out += 4) {
            int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            const int8_t *win = in_row + ox * s;
            const uint32_t *w = packed;
            for (int32_t ky = 0; ky < fh; ky++, win += pw) {
                for (int32_t j = 0; j < words; j++, w += 4) {
                    const uint32_t x = ts_dw_load32(win + 4 * j);
                    const uint32_t y = ts_dw_load32(win + 2 * s + 4 * j);
                    const uint32_t x02 = __sxtab16(off2, x), x13 = ts_dw_sxtab16_ror8(off2, x);
                    const uint32_t y02 = __sxtab16(off2, y), y13 = ts_dw_sxtab16_ror8(off2, y);
                    const uint32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
                    a0 = __smlad(x02, w0, a0);
                    a0 = __smlad(x13, w1, a0);
                    a1 = __smlad(x02, w2, a1);
                    a1 = __smlad(x13, w3, a1);
                    a2 = __smlad(y02, w0, a2);
                    a2 = __smlad(y13, w1, a2);
                    a3 = __smlad(y02, w2, a3);
                    a3 = __smlad(y13, w3, a3);
                }
            }
            if (fast) {
                const int32_t m = ch->multiplier, r = ch->rounding, e = ch->post_shift;
                const uint32_t packed4 = ts_dw_pack4(__ssat(ts_dw_requant_fast(a0, m, r, e), 8),
                                                     __ssat(ts_dw_requant_fast(a1, m, r, e), 8),
                                                     __ssat(ts_dw_requant_fast(a2, m, r, e), 8),
                                                     __ssat(ts_dw_requant_fast(a3, m, r, e), 8));
                ts_dw_store32(out, ts_dw_clamp4(packed4, lo4, hi4));
            } else {
                const int32_t oo = p->output_offset, lo = p->act_min, hi = p->act_max;
                out[0] = (int8_t)ts_dw_requant_general(a0, ch, oo, lo, hi);
                out[1] = (int8_t)ts_dw_requant_general(a1, ch, oo, lo, hi);
                out[2] = (int8_t)ts_dw_requant_general(a2, ch, oo, lo, hi);
                out[3] = (int8_t)ts_dw_requant_general(a3, ch, oo, lo, hi);
            }
        }
        /* the row's last outputs, each as the first output of a pair; its window
         * needs only the words covering filter_w bytes */
        for (; ox < ow; ox++, out++) {
            int32_t a0 = bias;
            const int8_t *win = in_row + ox * s;
            const uint32_t *w = packed;
            for (int32_t ky = 0; ky < fh; ky++, win += pw, w += 4 * words) {
                for (int32_t j = 0; j < words_one; j++) {
                    const uint32_t x = ts_dw_load32(win + 4 * j);
                    a0 = __smlad(__sxtab16(off2, x), w[4 * j], a0);
                    a0 = __smlad(ts_dw_sxtab16_ror8(off2, x), w[4 * j + 1], a0);
                }
            }
            *out = (int8_t)ts_dw_requant_general(a0, ch, p->output_offset, p->act_min,
                                                 p->act_max);
        }
    }
}

TS_DW_INLINE void dw_chw_all(const ts_dw_params *p, const dw_chw_layout *l, int8_t *data,
                             const int8_t *filter, const ts_dw_channel *channel,
                             int8_t *buffer, const int fast, const int32_t fw_c,
                             const int32_t s_c)
{
    uint32_t *packed = (uint32_t *)(void *)buffer;
    int8_t *image = buffer + l->weight_bytes;
    const int32_t in_size = p->input_h * p->input_w, out_size = p->output_h * p->output_w;
    const int32_t taps = p->filter_h * p->filter_w;
    for (int32_t c = 0; c < p->channels; c++) {
        dw_chw_copy_in(p, l, data + c * in_size, image);
        dw_chw_pack_weights(p, l->words, filter + c * taps, packed);
        dw_chw_channel(p, l, image, packed, &channel[c], data + c * out_size, fast, fw_c, s_c);
    }
}

TS_DW_INLINE void dw_chw_dispatch(const ts_dw_params *p, const dw_chw_layout *l, int8_t *data,
                                  const int8_t *filter, const ts_dw_channel *channel,
                                  int8_t *buffer, const int fast)
{
    const int32_t fw = p->filter_w, s = p->stride_w;
    if (fw == 3 && s == 1)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 3, 1);
    else if (fw == 3 && s == 2)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 3, 2);
    else if (fw == 5 && s == 1)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 5, 1);
    else if (fw == 5 && s == 2)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 5, 2);
    else if (fw == 7 && s == 1)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 7, 1);
    else if (fw == 7 && s == 2)
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 7, 2);
    else
        dw_chw_all(p, l, data, filter, channel, buffer, fast, 0, 0);
}

int32_t ts_depthwise_conv_s8_inplace_chw(const ts_dw_params *params, int8_t *data,
                                         const int8_t *filter, const ts_dw_channel *channel,
                                         int8_t *buffer)
{
    if (!dw_chw_supported(params))
        return TS_ERROR_ARGUMENT;
    const dw_chw_layout l = dw_chw_layout_of(params);
    /* the border keeps the input zero point for every channel: fill it once */
    const uint32_t zp4 = ts_dw_splat4(-params->input_offset);
    int8_t *image = buffer + l.weight_bytes;
    const int32_t image_bytes = l.padded_h * l.padded_w + 4;
    int32_t i = 0;
    for (; i + 4 <= image_bytes; i += 4)
        ts_dw_store32(image + i, zp4);
    for (; i < image_bytes; i++)
        image[i] = (int8_t)zp4;
    if (ts_dw_all_fast(channel, params->channels))
        dw_chw_dispatch(params, &l, data, filter, channel, buffer, 1);
    else
        dw_chw_dispatch(params, &l, data, filter, channel, buffer, 0);
    return TS_OK;
}
