/**
 * @file ts_convolve_3x3_s2_c3_s8.c
 * @brief First-layer convolution, int8: 3x3 window, stride 2, 3 input channels
 *        (see ts_nn.h).
 */
#include "ts_conv_core.h"

/* Two bytes at any alignment (a plain LDRH). */
TS_INLINE uint32_t load2(const int8_t *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return v;
}

/* The 27 window values of an output pixel whose window lies inside the input, from its
 * three 9-byte rows, as the 7 words of K = 0..27 (the 28th value is 0): rows are read
 * with unaligned word loads, the three words that straddle two rows are spliced. No load
 * leaves the window's rows except r1 - 1, the byte before row 1, which is in the input. */
TS_INLINE void pack_inside(int32_t *dst, const int8_t *r0, const int8_t *r1, const int8_t *r2,
                           const int doubled)
{
    ts_pack_word(dst, ts_load4(r0), doubled);
    ts_pack_word(dst + 8, ts_load4(r0 + 4), doubled);
    ts_pack_word(dst + 16, (int32_t)(((uint32_t)ts_load4(r1 - 1) & 0xFFFFFF00u) |
                                     (uint8_t)r0[8]), doubled);
    ts_pack_word(dst + 24, ts_load4(r1 + 3), doubled);
    ts_pack_word(dst + 32, (int32_t)(load2(r1 + 7) | (load2(r2) << 16)), doubled);
    ts_pack_word(dst + 40, ts_load4(r2 + 2), doubled);
    ts_pack_word(dst + 48, (int32_t)((uint32_t)ts_load4(r2 + 5) >> 8), doubled);
}

TS_INLINE void conv_3x3_s2_c3(const ts_conv_params *p, const int8_t *input,
                              const int32_t *packed, int32_t *buffer, int8_t *output,
                              int mode)
{
    const ts_tile_params tp = {p->output_c, 28, p->output_offset, p->act_min, p->act_max};
    const int doubled = mode != TS_MODE_GENERIC;
    int8_t *stage = (int8_t *)(buffer + 2 * tp.k4);
    const int32_t zp4 = (int32_t)(0x01010101u * (uint8_t)(-p->input_offset));
    const int32_t in_h = p->input_h, in_w = p->input_w, row = 3 * in_w;
    const int32_t pixels = p->batches * p->output_h * p->output_w;
    ts_pixel_pos pos = {0, 0, 0};
    for (int32_t pix = 0; pix < pixels; pix += 4)
    {
        const int32_t npix = pixels - pix < 4 ? pixels - pix : 4;
        for (int32_t q = 0; q < 4; q++)
        {
            const int32_t y0 = 2 * pos.y - p->pad_h, x0 = 2 * pos.x - p->pad_w;
            if (y0 >= 0 && y0 + 2 < in_h && x0 >= 0 && x0 + 2 < in_w)
            {
                const int8_t *r0 = input + ((pos.b * in_h + y0) * in_w + x0) * 3;
                pack_inside(buffer + 2 * q, r0, r0 + row, r0 + 2 * row, doubled);
            }
            else
            {
                ts_gather_window(stage, p, input, pos, zp4, 3, 3, 1, 1);
                ts_pack_pixel(buffer + 2 * q, stage, 27, doubled);
            }
            if (q + 1 < npix)
                ts_pixel_next(&pos, p);
        }
        ts_pixel_next(&pos, p);
        ts_tile(buffer, packed, &tp, output, npix, mode, 1); /* 7 groups */
        output += 4 * tp.out_c;
    }
}

int32_t ts_convolve_3x3_s2_c3_s8(const ts_conv_params *params, const int8_t *input,
                                 const int32_t *packed, int16_t *buffer, int8_t *output)
{
    const ts_conv_params *p = params;
    if (!ts_conv_params_valid(p) || p->filter_h != 3 || p->filter_w != 3 ||
        p->input_c != 3 || p->stride_h != 2 || p->stride_w != 2 || p->dilation_h != 1 ||
        p->dilation_w != 1)
        return TS_ERROR_ARGUMENT;
    int32_t *buf = (int32_t *)(void *)buffer;
    const int mode = ts_conv_mode(packed, p->output_c, 28, p->act_min, p->act_max);
    conv_3x3_s2_c3(p, input, packed, buf, output, mode);
    return TS_OK;
}
