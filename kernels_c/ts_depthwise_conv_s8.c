/* Depthwise convolution, int8 NHWC, any window/stride/dilation/padding (ts_nn.h). */
#include "ts_dw_support.h"

TS_DW_INLINE void dw_all(const ts_dw_params *p, const int8_t *input, const int8_t *filter,
                         const ts_dw_channel *channel, int8_t *output, const int fast)
{
    const int32_t C = p->channels;
    const int32_t reach_h = (p->filter_h - 1) * p->dilation_h;
    const int32_t reach_w = (p->filter_w - 1) * p->dilation_w;
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->output_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int rows_in = iy0 >= 0 && iy0 + reach_h < p->input_h;
        for (int32_t ox = 0; ox < p->output_w; ox++, out += C) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            const int full = rows_in && ix0 >= 0 && ix0 + reach_w < p->input_w;
            ts_dw_pixel(p, input, filter, channel, out, iy0, ix0, full, fast);
        }
    }
}

int32_t ts_depthwise_conv_s8(const ts_dw_params *params, const int8_t *input,
                             const int8_t *filter, const ts_dw_channel *channel,
                             int8_t *output)
{
    if (!ts_dw_params_valid(params))
        return TS_ERROR_ARGUMENT;
    if (ts_dw_all_fast(channel, params->channels))
        dw_all(params, input, filter, channel, output, 1);
    else
        dw_all(params, input, filter, channel, output, 0);
    return TS_OK;
}
