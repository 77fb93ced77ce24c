/**
 * @file ts_convolve_s8.c
 * @brief Convolution, int8, any window, stride, dilation and padding (see ts_nn.h).
 */
#include "ts_conv_core.h"

int32_t ts_convolve_s8(const ts_conv_params *params, const int8_t *input,
                       const int32_t *packed, int16_t *buffer, int8_t *output)
{
    const ts_conv_params *p = params;
    if (!ts_conv_params_valid(p))
        return TS_ERROR_ARGUMENT;
    int32_t *buf = (int32_t *)(void *)buffer;
    const int32_t k4 = (p->filter_h * p->filter_w * p->input_c + 3) & ~3;
    const int mode = ts_conv_mode(packed, p->output_c, k4, p->act_min, p->act_max);
    ts_conv_im2col(p, input, packed, buf, output, mode, (k4 >> 2) & 1, 0, 0, 0, 0);
    return TS_OK;
}
