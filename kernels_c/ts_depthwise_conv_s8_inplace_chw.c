/* In-place depthwise convolution on a CHW tensor, TinyEngine's memory layout (ts_nn.h).
 *
 * Windows are read one input word (4 bytes of a row) at a time: SXTAB16 gives bytes
 * (0, 2) and (1, 3) plus the input offset as int16 pairs, each multiplied by a pair of
 * taps with one SMLAD. In pair mode two outputs (windows stride_w bytes apart) share
 * each word; in single mode (chosen when that wastes fewer SMLADs, e.g. 3x3 stride 2)
 * every window reads its own words (for 3x3 stride 2, four windows share three words).
 * Four outputs per step share the weight loads.
 *
 * Buffer layout (ts_depthwise_conv_s8_inplace_chw_get_buffer_size):
 *   [weights] one channel's taps repacked as int16 pairs, filter_h * J * (4 or 2) words:
 *             for kernel row ky, input word j (bytes 4j..4j+3 of the window row) and
 *             output i of a pair (window starting i * stride_w bytes later; i = 0 only
 *             in single mode), the pair (w[4j - i*s], w[4j + 2 - i*s]) multiplies bytes
 *             (0, 2) and (w[4j + 1 - i*s], w[4j + 3 - i*s]) bytes (1, 3); taps outside
 *             [0, filter_w) are 0. J = ceil((stride_w + filter_w) / 4) in pair mode,
 *             ceil(filter_w / 4) in single mode.
 *   [image]   the channel with its border: padded_h rows of padded_w bytes, the border
 *             holding the input zero point, so a border tap adds
 *             w * (zp + input_offset) = 0, as TFLM skips it,
 *   [slack]   3 * stride_w + 4 bytes: a row's last step computes four windows even when
 *             fewer outputs remain (it stores only those), and a window's last word may
 *             run past its row; those bytes meet zero weights or unused outputs.
 * A 1-D window down a one-column tensor (W = 1) is the same bytes as a window along a
 * one-row tensor, so it runs as that, with long rows instead of one-pixel ones.
 */
#include "ts_dw_support.h"

typedef struct
{
    int32_t padded_h, padded_w; /* image rows and row length */
    int32_t pairs;              /* pair mode (1) or single mode (0) */
    int32_t words;              /* J */
    int32_t weight_bytes;       /* filter_h * J * (pairs ? 16 : 8) */
    int32_t slack;              /* bytes after the image */
} dw_chw_layout;

/* Single mode when pairs would run more SMLADs: a pair costs 7 instructions a word (one
 * LDR, two SXTAB16, four SMLAD), two single windows 10 a word. */
static int dw_chw_pair_mode(int32_t filter_w, int32_t stride_w)
{
    return 10 * ((filter_w + 3) / 4) >= 7 * ((stride_w + filter_w + 3) / 4);
}

static dw_chw_layout dw_chw_layout_of(const ts_dw_params *p)
{
    dw_chw_layout l;
    const int32_t reach_h = (p->output_h - 1) * p->stride_h + p->filter_h;
    const int32_t reach_w = (p->output_w - 1) * p->stride_w + p->filter_w;
    l.padded_h = p->pad_h + p->input_h > reach_h ? p->pad_h + p->input_h : reach_h;
    l.padded_w = p->pad_w + p->input_w > reach_w ? p->pad_w + p->input_w : reach_w;
    l.pairs = dw_chw_pair_mode(p->filter_w, p->stride_w);
    l.words = ((l.pairs ? p->stride_w : 0) + p->filter_w + 3) / 4;
    l.weight_bytes = p->filter_h * l.words * (l.pairs ? 16 : 8);
    l.slack = 3 * p->stride_w + 4;
    return l;
}

/* The shape the kernel runs: a one-column tensor with a one-column window becomes a
 * one-row tensor (the same bytes in CHW order). */
static ts_dw_params dw_chw_canonical(const ts_dw_params *params)
{
    ts_dw_params p = *params;
    if (p.input_w == 1 && p.filter_w == 1 && p.output_w == 1 && p.pad_w == 0) {
        p.input_w = p.input_h;
        p.input_h = 1;
        p.filter_w = p.filter_h;
        p.filter_h = 1;
        p.output_w = p.output_h;
        p.output_h = 1;
        p.stride_w = p.stride_h;
        p.stride_h = 1;
        p.pad_w = p.pad_h;
        p.pad_h = 0;
    }
    return p;
}

static int dw_chw_supported(const ts_dw_params *p)
{
    return ts_dw_params_valid(p) && p->dilation_h == 1 && p->dilation_w == 1 &&
           p->output_h * p->output_w <= p->input_h * p->input_w;
}

int32_t ts_depthwise_conv_s8_inplace_chw_get_buffer_size(const ts_dw_params *params)
{
    const ts_dw_params p = dw_chw_canonical(params);
    if (!dw_chw_supported(&p))
        return TS_ERROR_ARGUMENT;
    const dw_chw_layout l = dw_chw_layout_of(&p);
    return l.weight_bytes + l.padded_h * l.padded_w + l.slack;
}

/* int16 pair (lo, hi) of taps of one kernel row; taps outside the row are 0. */
TS_DW_INLINE uint32_t dw_chw_pair(const int8_t *row, int32_t fw, int32_t lo, int32_t hi)
{
    const int32_t a = lo >= 0 && lo < fw ? row[lo] : 0;
    const int32_t b = hi >= 0 && hi < fw ? row[hi] : 0;
    return ((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16);
}

/* fh, fw and s are the compile-time window size and stride when the caller knows them,
 * so the bounds tests of dw_chw_pair fold away. */
TS_DW_INLINE void dw_chw_pack_weights(int32_t fh, int32_t words, const int8_t *w,
                                      uint32_t *packed, const int32_t fw, const int32_t s,
                                      const int pairs)
{
    for (int32_t ky = 0; ky < fh; ky++, w += fw)
        for (int32_t j = 0; j < words; j++)
            for (int32_t i = 0; i < (pairs ? 2 : 1); i++) {
                const int32_t t = 4 * j - i * s;
                *packed++ = dw_chw_pair(w, fw, t, t + 2);
                *packed++ = dw_chw_pair(w, fw, t + 1, t + 3);
            }
}

/* Copies n bytes, two words per step (plain LDR/STR: either side may be unaligned). */
TS_DW_INLINE void dw_chw_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 8; n -= 8, src += 8, dst += 8) {
        const uint32_t a = ts_dw_load32(src), b = ts_dw_load32(src + 4);
        ts_dw_store32(dst, a);
        ts_dw_store32(dst + 4, b);
    }
    if (n >= 4) {
        ts_dw_store32(dst, ts_dw_load32(src));
        n -= 4;
        src += 4;
        dst += 4;
    }
    for (; n > 0; n--)
        *dst++ = *src++;
}

/* Copies an input channel into the image's interior (the border stays untouched): one
 * run when the image rows are the input rows, else row by row. */
static void dw_chw_copy_in(const ts_dw_params *p, const dw_chw_layout *l, const int8_t *src,
                           int8_t *image)
{
    const int32_t w = p->input_w, h = p->input_h, pw = l->padded_w;
    int8_t *dst = image + p->pad_h * pw + p->pad_w;
    if (pw == w) {
        dw_chw_copy(dst, src, h * w);
        return;
    }
    for (int32_t y = 0; y < h; y++, dst += pw, src += w)
        dw_chw_copy(dst, src, w);
}

/* Requantizes, clamps and stores four consecutive outputs of one channel; @p fast: the
 * channel takes the fast requantization (compile-time). */
TS_DW_INLINE void dw_chw_store4(const ts_dw_params *p, const ts_dw_channel *ch, int8_t *out,
                                int32_t a0, int32_t a1, int32_t a2, int32_t a3, uint32_t lo4,
                                uint32_t hi4, const int fast)
{
    if (fast) {
        const int32_t m = ch->multiplier, r = ch->rounding, e = ch->post_shift;
        const uint32_t packed4 = ts_dw_pack4(__ssat(ts_dw_requant_fast(a0, m, r, e), 8),
                                             __ssat(ts_dw_requant_fast(a1, m, r, e), 8),
                                             __ssat(ts_dw_requant_fast(a2, m, r, e), 8),
                                             __ssat(ts_dw_requant_fast(a3, m, r, e), 8));
        ts_dw_store32(out, ts_dw_clamp4(packed4, lo4, hi4));
    } else {
        const int32_t oo = p->output_offset, lo = p->act_min, hi = p->act_max;
        out[0] = (int8_t)ts_dw_requant_channel(a0, ch, oo, lo, hi);
        out[1] = (int8_t)ts_dw_requant_channel(a1, ch, oo, lo, hi);
        out[2] = (int8_t)ts_dw_requant_channel(a2, ch, oo, lo, hi);
        out[3] = (int8_t)ts_dw_requant_channel(a3, ch, oo, lo, hi);
    }
}

/* One word of a window against a pair of taps per byte pair: acc + SMLAD + SMLAD. */
#define DW_CHW_WORD(x02, x13, wa, wb, acc) acc = __smlad(x13, wb, __smlad(x02, wa, acc))

/* One output channel. fw_c and s_c are the window width (and height) and stride when
 * known at compile time (0 = read them from params), so the common square windows get
 * unrolled inner loops; @p pairs selects the mode (file comment); @p fast: the channel
 * takes the fast requantization. */
TS_DW_INLINE void dw_chw_channel(const ts_dw_params *p, const dw_chw_layout *l,
                                 const int8_t *image, const uint32_t *packed,
                                 const ts_dw_channel *ch, int8_t *out, const int32_t fw_c,
                                 const int32_t s_c, const int pairs, const int fast)
{
    const int32_t s = s_c ? s_c : p->stride_w;
    const int32_t fw = fw_c ? fw_c : p->filter_w;
    const int32_t words = fw_c ? ((pairs ? s : 0) + fw + 3) / 4 : l->words;
    const int32_t fh = fw_c ? fw_c : p->filter_h, pw = l->padded_w, ow = p->output_w;
    const int32_t row_step = p->stride_h * pw;
    const uint32_t off2 = ts_dw_offset2(p->input_offset);
    const uint32_t lo4 = ts_dw_splat4(p->act_min), hi4 = ts_dw_splat4(p->act_max);
    const int32_t bias = ch->bias;
    const int8_t *in_row = image;
    for (int32_t oy = 0; oy < p->output_h; oy++, in_row += row_step) {
        for (int32_t ox = 0; ox < ow; ox += 4, out += 4) {
            int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            const int8_t *win = in_row + ox * s;
            const uint32_t *w = packed;
            for (int32_t ky = 0; ky < fh; ky++, win += pw) {
                for (int32_t j = 0; j < words; j++) {
                    if (pairs) {
                        /* windows 0, 1 from word x; windows 2, 3 from word y */
                        const uint32_t x = ts_dw_load32(win + 4 * j);
                        const uint32_t y = ts_dw_load32(win + 2 * s + 4 * j);
                        const uint32_t x02 = __sxtab16(off2, x), x13 = ts_dw_sxtab16_ror8(off2, x);
                        const uint32_t y02 = __sxtab16(off2, y), y13 = ts_dw_sxtab16_ror8(off2, y);
                        const uint32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
                        w += 4;
                        DW_CHW_WORD(x02, x13, w0, w1, a0);
                        DW_CHW_WORD(x02, x13, w2, w3, a1);
                        DW_CHW_WORD(y02, y13, w0, w1, a2);
                        DW_CHW_WORD(y02, y13, w2, w3, a3);
                    } else if (fw_c == 3 && s_c == 2) {
                        /* windows at bytes 0, 2, 4, 6 of words v0..v2: the even and odd
                         * byte pairs of each word serve two windows (taps (w0, w2) in w[0],
                         * w1 in the low half of w[1]) */
                        const uint32_t wa = w[0], wb = w[1];
                        w += 2;
                        const uint32_t v0 = ts_dw_load32(win), v1 = ts_dw_load32(win + 4);
                        const uint32_t e0 = __sxtab16(off2, v0), o0 = ts_dw_sxtab16_ror8(off2, v0);
                        const uint32_t e1 = __sxtab16(off2, v1), o1 = ts_dw_sxtab16_ror8(off2, v1);
                        const uint32_t e2 = __sxtab16(off2, ts_dw_load32(win + 8));
                        a0 = __smlabb(o0, wb, __smlad(e0, wa, a0));
                        a1 = __smlabt(e1, wa, __smlatb(o0, wb, __smlatb(e0, wa, a1)));
                        a2 = __smlabb(o1, wb, __smlad(e1, wa, a2));
                        a3 = __smlabt(e2, wa, __smlatb(o1, wb, __smlatb(e1, wa, a3)));
                    } else {
                        const uint32_t w0 = w[0], w1 = w[1];
                        w += 2;
                        const uint32_t v0 = ts_dw_load32(win + 4 * j);
                        const uint32_t v1 = ts_dw_load32(win + s + 4 * j);
                        const uint32_t v2 = ts_dw_load32(win + 2 * s + 4 * j);
                        const uint32_t v3 = ts_dw_load32(win + 3 * s + 4 * j);
                        DW_CHW_WORD(__sxtab16(off2, v0), ts_dw_sxtab16_ror8(off2, v0), w0, w1, a0);
                        DW_CHW_WORD(__sxtab16(off2, v1), ts_dw_sxtab16_ror8(off2, v1), w0, w1, a1);
                        DW_CHW_WORD(__sxtab16(off2, v2), ts_dw_sxtab16_ror8(off2, v2), w0, w1, a2);
                        DW_CHW_WORD(__sxtab16(off2, v3), ts_dw_sxtab16_ror8(off2, v3), w0, w1, a3);
                    }
                }
            }
            if (ox + 4 <= ow) {
                dw_chw_store4(p, ch, out, a0, a1, a2, a3, lo4, hi4, fast);
            } else {
                /* the row's last 1-3 outputs: the bytes after them belong to the next
                 * row or to input channels not yet copied */
                int8_t last[4];
                dw_chw_store4(p, ch, last, a0, a1, a2, a3, lo4, hi4, fast);
                for (int32_t k = 0; k < ow - ox; k++)
                    out[k] = last[k];
                out -= 4 - (ow - ox);
            }
        }
    }
}

TS_DW_INLINE void dw_chw_all(const ts_dw_params *p, const dw_chw_layout *l, int8_t *data,
                             const int8_t *filter, const ts_dw_channel *channel,
                             int8_t *buffer, const int32_t fw_c, const int32_t s_c,
                             const int pairs)
{
    uint32_t *packed = (uint32_t *)(void *)buffer;
    int8_t *image = buffer + l->weight_bytes;
    const int32_t in_size = p->input_h * p->input_w, out_size = p->output_h * p->output_w;
    const int32_t taps = p->filter_h * p->filter_w;
    const int32_t fw = fw_c ? fw_c : p->filter_w, s = s_c ? s_c : p->stride_w;
    const int32_t words = fw_c ? ((pairs ? s : 0) + fw + 3) / 4 : l->words;
    for (int32_t c = 0; c < p->channels; c++) {
        dw_chw_copy_in(p, l, data + c * in_size, image);
        dw_chw_pack_weights(fw_c ? fw_c : p->filter_h, words, filter + c * taps, packed, fw, s,
                            pairs);
        if (channel[c].post_shift >= 0)
            dw_chw_channel(p, l, image, packed, &channel[c], data + c * out_size, fw_c, s_c,
                           pairs, 1);
        else
            dw_chw_channel(p, l, image, packed, &channel[c], data + c * out_size, fw_c, s_c,
                           pairs, 0);
    }
}

/* Compile-time square window, stride and mode for the common shapes (the mode follows
 * from them: dw_chw_pair_mode). */
#define DW_CHW_CASE(fw, s)                                                               \
    if (p->filter_h == (fw) && p->filter_w == (fw) && p->stride_w == (s)) {             \
        dw_chw_all(p, l, data, filter, channel, buffer, fw, s,                          \
                   10 * (((fw) + 3) / 4) >= 7 * (((s) + (fw) + 3) / 4));                \
        return;                                                                          \
    }

static void dw_chw_dispatch(const ts_dw_params *p, const dw_chw_layout *l, int8_t *data,
                            const int8_t *filter, const ts_dw_channel *channel, int8_t *buffer)
{
    DW_CHW_CASE(3, 1)
    DW_CHW_CASE(3, 2)
    DW_CHW_CASE(5, 1)
    DW_CHW_CASE(5, 2)
    DW_CHW_CASE(7, 1)
    DW_CHW_CASE(7, 2)
    if (l->pairs)
        dw_chw_all(p, l, data, filter, channel, buffer, 0, 0, 1);
    else
        dw_chw_all(p, l, data, filter, channel, buffer, 0, 0, 0);
}

int32_t ts_depthwise_conv_s8_inplace_chw(const ts_dw_params *params, int8_t *data,
                                         const int8_t *filter, const ts_dw_channel *channel,
                                         int8_t *buffer)
{
    const ts_dw_params p = dw_chw_canonical(params);
    if (!dw_chw_supported(&p))
        return TS_ERROR_ARGUMENT;
    const dw_chw_layout l = dw_chw_layout_of(&p);
    /* the border keeps the input zero point for every channel: fill it once */
    const uint32_t zp4 = ts_dw_splat4(-p.input_offset);
    int8_t *image = buffer + l.weight_bytes;
    const int32_t image_bytes = l.padded_h * l.padded_w + l.slack;
    int32_t i = 0;
    for (; i + 4 <= image_bytes; i += 4)
        ts_dw_store32(image + i, zp4);
    for (; i < image_bytes; i++)
        image[i] = (int8_t)zp4;
    dw_chw_dispatch(&p, &l, data, filter, channel, buffer);
    return TS_OK;
}
