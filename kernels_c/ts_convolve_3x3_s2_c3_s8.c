/**
 * @file ts_convolve_3x3_s2_c3_s8.c
 * @brief First-layer convolution, int8: 3x3 window, stride 2, 3 input channels
 *        (see ts_nn.h).
 */
#include "ts_conv_core.h"

TS_INLINE void conv_3x3_s2_c3(const ts_conv_params *p, const int8_t *input,
                              const int32_t *packed, int32_t *buffer, int8_t *output,
                              int mode)
{
    const ts_tile_params tp = {p->output_c, 28, p->output_offset, p->act_min, p->act_max};
    const int doubled = mode != TS_MODE_GENERIC;
    int8_t *stage = (int8_t *)(buffer + 2 * tp.k4);
    const int32_t zp4 = (int32_t)(0x01010101u * (uint8_t)(-p->input_offset));
    const int32_t pixels = p->batches * p->output_h * p->output_w;
    ts_pixel_pos pos = {0, 0, 0};
    for (int32_t pix = 0; pix < pixels; pix += 4)
    {
        const int32_t npix = pixels - pix < 4 ? pixels - pix : 4;
        for (int32_t q = 0; q < 4; q++)
        {
            ts_pack_3x3_c3(buffer + 2 * q, stage, p, input, pos, zp4, doubled, 2);
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
