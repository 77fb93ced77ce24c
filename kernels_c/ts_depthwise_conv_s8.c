/* Depthwise convolution, int8 NHWC, any window/stride/dilation/padding (ts_nn.h). */
#include "ts_dw_support.h"

/* @p fw_c: the window width when known at compile time (0 = any), so the common widths
 * get an unrolled row; @p mixed: some channel takes TFLM's general requantization. */
TS_DW_INLINE void dw_all(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                         const ts_dw_channel *channel, int8_t *output, const int32_t fw_c,
                         const int mixed)
{
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->output_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->output_w; ox++, out += p->channels)
            ts_dw_pixel(p, input, filter, channel, out, iy0, ox * p->stride_w - p->pad_w, fw_c,
                        mixed);
    }
}

TS_DW_INLINE void dw_width(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                           const ts_dw_channel *channel, int8_t *output, const int mixed)
{
    switch (p->filter_w) {
    case 3:
        dw_all(p, input, filter, channel, output, 3, mixed);
        break;
    case 5:
        dw_all(p, input, filter, channel, output, 5, mixed);
        break;
    case 7:
        dw_all(p, input, filter, channel, output, 7, mixed);
        break;
    default:
        dw_all(p, input, filter, channel, output, 0, mixed);
    }
}

int32_t ts_depthwise_conv_s8(const ts_dw_params *params, const int8_t *input,
                             const int8_t *filter, const ts_dw_channel *channel,
                             int8_t *output)
{
    if (!ts_dw_params_valid(params))
        return TS_ERROR_ARGUMENT;
    if (ts_dw_all_fast(channel, params->channels))
        dw_width(params, input, filter, channel, output, 0);
    else
        dw_width(params, input, filter, channel, output, 1);
    return TS_OK;
}
