/**
 * @file ts_convolve_3x3_s8.c
 * @brief Convolution, int8, 3x3 window, dilation 1, any stride and padding (see ts_nn.h).
 */
#include "ts_conv_core.h"

int32_t ts_convolve_3x3_s8(const ts_conv_params *params, const int8_t *input,
                           const int32_t *packed, int16_t *buffer, int8_t *output)
{
    const ts_conv_params *p = params;
    if (!ts_conv_params_valid(p) || p->filter_h != 3 || p->filter_w != 3 ||
        p->dilation_h != 1 || p->dilation_w != 1)
        return TS_ERROR_ARGUMENT;
    int32_t *buf = (int32_t *)(void *)buffer;
    const int32_t k4 = (9 * p->input_c + 3) & ~3;
    const int mode = ts_conv_mode(packed, p->output_c, k4, p->act_min, p->act_max);
    ts_conv_im2col(p, input, packed, buf, output, mode, (k4 >> 2) & 1, 3, 3, 1, 1);
    return TS_OK;
}
