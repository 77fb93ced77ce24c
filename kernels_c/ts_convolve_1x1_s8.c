/**
 * @file ts_convolve_1x1_s8.c
 * @brief Pointwise convolution, int8 (see ts_nn.h).
 */
#include "ts_conv_core.h"

/* Walks the input pixels under the output pixels in order (stride, rows, batches). */
typedef struct
{
    const int8_t *src;
    int32_t x, y;
    int32_t out_w, out_h;
    int32_t col_step, row_step, batch_step;
} pixel_walk;

TS_INLINE void walk_next(pixel_walk *pw)
{
    if (++pw->x < pw->out_w)
    {
        pw->src += pw->col_step;
        return;
    }
    pw->x = 0;
    pw->src += pw->row_step;
    if (++pw->y == pw->out_h)
    {
        pw->y = 0;
        pw->src += pw->batch_step;
    }
}

TS_INLINE void conv_1x1(const ts_conv_params *p, const int8_t *input, const int32_t *packed,
                        int32_t *buffer, int8_t *output, int mode, int odd)
{
    const int32_t in_c = p->input_c;
    const ts_tile_params tp = {p->output_c, (in_c + 3) & ~3, p->output_offset, p->act_min,
                               p->act_max};
    const int doubled = mode != TS_MODE_GENERIC;
    const int32_t pixels = p->batches * p->output_h * p->output_w;
    pixel_walk pw = {
        .src = input, .x = 0, .y = 0, .out_w = p->output_w, .out_h = p->output_h,
        .col_step = p->stride_w * in_c,
        /* from the last pixel of a row to the first of the row stride_h rows down */
        .row_step = (p->stride_h * p->input_w - (p->output_w - 1) * p->stride_w) * in_c,
        /* from below the last output row to the next batch */
        .batch_step = (p->input_h - p->output_h * p->stride_h) * p->input_w * in_c,
    };
    for (int32_t pix = 0; pix < pixels; pix += 4)
    {
        const int32_t npix = pixels - pix < 4 ? pixels - pix : 4;
        for (int32_t q = 0; q < 4; q++)
        {
            /* a short last tile repeats its last pixel in the unused lanes */
            ts_pack_pixel(buffer + 2 * q, pw.src, in_c, doubled);
            if (q + 1 < npix)
                walk_next(&pw);
        }
        walk_next(&pw);
        ts_tile(buffer, packed, &tp, output, npix, mode, odd);
        output += 4 * tp.out_c;
    }
}

int32_t ts_convolve_1x1_s8(const ts_conv_params *params, const int8_t *input,
                           const int32_t *packed, int16_t *buffer, int8_t *output)
{
    const ts_conv_params *p = params;
    if (!ts_conv_params_valid(p) || p->filter_h != 1 || p->filter_w != 1 || p->pad_h != 0 ||
        p->pad_w != 0 || (p->output_h - 1) * p->stride_h >= p->input_h ||
        (p->output_w - 1) * p->stride_w >= p->input_w)
        return TS_ERROR_ARGUMENT;
    int32_t *buf = (int32_t *)(void *)buffer;
    const int32_t k4 = (p->input_c + 3) & ~3;
    const int mode = ts_conv_mode(packed, p->output_c, k4, p->act_min, p->act_max);
    conv_1x1(p, input, packed, buf, output, mode, (k4 >> 2) & 1);
    return TS_OK;
}
