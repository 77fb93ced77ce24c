/**
 * @file ts_nn.h
 * @brief tinysim's int8 C kernels for Cortex-M: shared conventions and declarations.
 *
 * Conventions every kernel follows (the emulator harness, arm_emu, enforces the first
 * three on every call):
 *  - A kernel touches only the buffers it is given, its own stack and its own static
 *    data. Reads and writes outside them raise a KernelFault naming the kernel, the PC,
 *    the buffer and the distance past its end.
 *  - Input buffers are const and are mapped read-only: writing one is a fault.
 *  - No unaligned LDRD/STRD/LDM/STM: they fault on Cortex-M silicon. Read int8 data
 *    through __builtin_memcpy into an int32 (a plain, unaligned-safe LDR), never through
 *    a cast pointer.
 *  - No libc calls: use __builtin_memcpy / __builtin_memset, which GCC inlines.
 *  - Tensors are NHWC int8; per-channel requantization uses TFLM's multiplier/shift
 *    pairs and ts_requantize() from ts_support.h, so results are bit-exact with TFLM.
 *  - Kernels are built with -O3 -mthumb for Cortex-M4 and Cortex-M7, soft-float ABI,
 *    DSP extension on (arm_emu/build.py).
 *
 * Kernel declarations are added here, one group per op, as kernels land.
 */
#ifndef TS_NN_H
#define TS_NN_H

#include <stdint.h>

/** @brief Status returned by every kernel. */
typedef enum
{
    TS_OK = 0,              /**< Success. */
    TS_ERROR_ARGUMENT = -1, /**< An argument is outside what the kernel supports. */
} ts_status;

/* ======================================================================================
 * Depthwise convolution, ADD and pooling
 * (ts_depthwise_conv_s8.c, ts_depthwise_conv_3x3_s8.c, ts_depthwise_conv_s8_inplace_chw.c,
 *  ts_add_s8.c, ts_avgpool_s8.c, ts_maxpool_s8.c; Python side: arm_emu/kernels_dw.py)
 * ====================================================================================== */

/**
 * @brief Shape and quantization of a depthwise convolution with depth multiplier 1.
 *
 * Every field is an int32 so the host can pass the struct as an int32 array.
 * The output size and the leading (top/left) padding are given; the trailing padding is
 * whatever the output size implies, as in TFLM. Window points outside the input are
 * skipped, exactly as TFLM's reference kernel does.
 */
typedef struct
{
    int32_t input_h, input_w, channels;   /**< Input height, width and channels C. */
    int32_t output_h, output_w;           /**< Output height and width. */
    int32_t filter_h, filter_w;           /**< Window size. */
    int32_t stride_h, stride_w;           /**< Strides, >= 1. */
    int32_t dilation_h, dilation_w;       /**< Dilations, >= 1 (the 3x3 and in-place
                                               kernels need 1). */
    int32_t pad_h, pad_w;                 /**< Top and left padding, >= 0. */
    int32_t input_offset;                 /**< Minus the input zero point, [-127, 128]. */
    int32_t output_offset;                /**< The output zero point. */
    int32_t act_min, act_max;             /**< Clamp range, inside [-128, 127]. */
} ts_dw_params;

/**
 * @brief Per-output-channel constants of a depthwise convolution, prepared on the host.
 *
 * From TFLM's bias[c], multiplier[c] and shift[c] (QuantizeMultiplier) and the output
 * offset, with e = -shift[c]. A channel with 2 <= e <= 23 (nearly every channel of real
 * models) takes a 5-instruction form of TFLM's double rounding:
 *  - rounding   = 2^(e-2) + output_offset * 2^(e-1),
 *  - post_shift = e - 1;
 * any other channel takes TFLM's own sequence (ts_requantize):
 *  - rounding   = shift[c],
 *  - post_shift = -1.
 * Both equal TFLM's MultiplyByQuantizedMultiplier bit for bit for every int32
 * accumulator (ts_dw_support.h has the derivation).
 */
typedef struct
{
    int32_t bias;       /**< bias[c] (0 without a bias). */
    int32_t multiplier; /**< TFLM multiplier[c]. */
    int32_t rounding;   /**< 2^(e-2) + output_offset * 2^(e-1), or shift[c]. */
    int32_t post_shift; /**< e - 1, or -1. */
} ts_dw_channel;

/**
 * @brief Depthwise convolution, int8, NHWC, any window, stride, dilation and padding.
 *
 * Bit-exact with TFLM's reference DepthwiseConvPerChannel (depth multiplier 1): the sum
 * of filter * (input + input_offset) over the window taps inside the input, + bias.
 * Four channels at a time: one LDR of input and one of weights give 2x2 int16 lanes
 * (SXTAB16 adds the input offset while unpacking, SXTB16) for four SMLABB/SMLATT; the
 * window is clipped to the input per pixel; odd channel counts finish one by one.
 *
 * @param params  shape and quantization.
 * @param input   [input_h][input_w][C] int8.
 * @param filter  weights reordered to [ceil(C/4)][filter_h * filter_w][4]: group g holds
 *                channels 4g..4g+3 of every tap (taps in row-major order), zeros past C.
 * @param channel [C] prepared constants (ts_dw_channel).
 * @param output  [output_h][output_w][C] int8.
 * @return TS_OK, or TS_ERROR_ARGUMENT if a size, stride or dilation is not positive, a
 *         padding is negative, the input offset is outside [-127, 128] or the clamp range
 *         is invalid.
 */
int32_t ts_depthwise_conv_s8(const ts_dw_params *params, const int8_t *input,
                             const int8_t *filter, const ts_dw_channel *channel,
                             int8_t *output);

/**
 * @brief Depthwise convolution, 3x3 window, dilation 1, any stride and padding: the fast
 *        path of ts_depthwise_conv_s8, with the same arguments and filter layout.
 *
 * Pixels whose window lies inside the input run the nine taps unrolled; border pixels
 * take ts_depthwise_conv_s8's clipped loop.
 *
 * @return TS_OK, or TS_ERROR_ARGUMENT if the window is not 3x3, a dilation is not 1, or
 *         ts_depthwise_conv_s8 would reject the arguments.
 */
int32_t ts_depthwise_conv_3x3_s8(const ts_dw_params *params, const int8_t *input,
                                 const int8_t *filter, const ts_dw_channel *channel,
                                 int8_t *output);

/**
 * @brief Bytes of @p buffer that ts_depthwise_conv_s8_inplace_chw needs: one channel's
 *        taps repacked as int16 pairs, the channel bordered to the rows and columns the
 *        windows reach, and 3 * stride_w + 4 bytes of slack (the layout is described at
 *        the top of ts_depthwise_conv_s8_inplace_chw.c).
 * @return the size, or TS_ERROR_ARGUMENT if the kernel would reject @p params.
 */
int32_t ts_depthwise_conv_s8_inplace_chw_get_buffer_size(const ts_dw_params *params);

/**
 * @brief In-place depthwise convolution on a CHW tensor (TinyEngine's memory trick).
 *
 * @p data holds the input as [C][input_h][input_w]; on return it holds the output as
 * [C][output_h][output_w] from its start. Channel by channel, in increasing order, the
 * input channel is copied into @p buffer (bordered with the input zero point, whose
 * term filter * (zp + input_offset) is 0, as TFLM skips it) and the output channel
 * written at data + c * output_h * output_w, which only overwrites input channels
 * already copied. Needs output_h * output_w <= input_h * input_w and dilation 1; any
 * window size and stride. Windows are read a word (4 bytes of a row) at a time: two
 * SXTAB16 and SMLADs against the channel's taps repacked into int16 pairs in @p buffer;
 * two outputs share each word where that saves SMLADs (stride 1), 3x3 stride 2 reads
 * three words for four outputs. A one-column tensor with a one-column window runs as a
 * one-row tensor (the same bytes).
 *
 * @param params  shape and quantization.
 * @param data    input, overwritten by the output.
 * @param filter  weights as [C][filter_h * filter_w] int8 (TinyEngine's order).
 * @param channel [C] prepared constants (ts_dw_channel).
 * @param buffer  scratch of ts_depthwise_conv_s8_inplace_chw_get_buffer_size() bytes,
 *                4-byte aligned.
 * @return TS_OK, or TS_ERROR_ARGUMENT.
 */
int32_t ts_depthwise_conv_s8_inplace_chw(const ts_dw_params *params, int8_t *data,
                                         const int8_t *filter, const ts_dw_channel *channel,
                                         int8_t *buffer);

/**
 * @brief Quantization of an int8 ADD, as TFLM's add.cc prepares it.
 *
 * left_shift is 20 for int8; the input shifts are QuantizeMultiplierSmallerThanOneExp
 * exponents (<= 0).
 */
typedef struct
{
    int32_t input1_offset, input2_offset;         /**< Minus the input zero points. */
    int32_t left_shift;                           /**< 20 for int8. */
    int32_t input1_multiplier, input1_shift;      /**< Input 1 rescale. */
    int32_t input2_multiplier, input2_shift;      /**< Input 2 rescale. */
    int32_t output_multiplier, output_shift;      /**< Output rescale. */
    int32_t output_offset;                        /**< The output zero point. */
    int32_t act_min, act_max;                     /**< Clamp range. */
} ts_add_params;

/**
 * @brief Element-wise int8 ADD of two tensors of @p size elements (no broadcasting),
 *        bit-exact with TFLM's reference_integer_ops::Add.
 *
 * With left_shift 20, TFLM's multiplier ranges and an int8 output zero point (every int8
 * ADD TFLM prepares), four elements a step, each rescale one SMMLAR/SMMULR with the
 * second rounding folded in (ts_add_s8.c derives it); from 256 elements on, the rescale
 * of the smaller-scale input (plus the other's offset) comes from a 256-word table built
 * per call on the stack (1 KiB), exact because it holds TFLM's own values. Otherwise,
 * and for the last size % 4 elements, TFLM's own sequence per element.
 * @return TS_OK, or TS_ERROR_ARGUMENT if size < 0, left_shift is outside [0, 20], an
 *         input offset is outside [-127, 128] or the clamp range is invalid.
 */
int32_t ts_add_s8(const ts_add_params *params, const int8_t *input1, const int8_t *input2,
                  int32_t size, int8_t *output);

/**
 * @brief Shape of an int8 average or max pooling (NHWC; input and output share scale and
 *        zero point, as TFLM requires). Windows are clipped at the borders.
 */
typedef struct
{
    int32_t input_h, input_w, channels;  /**< Input height, width and channels. */
    int32_t output_h, output_w;          /**< Output height and width. */
    int32_t filter_h, filter_w;          /**< Window size. */
    int32_t stride_h, stride_w;          /**< Strides, >= 1. */
    int32_t pad_h, pad_w;                /**< Top and left padding, >= 0. */
    int32_t act_min, act_max;            /**< Clamp range, inside [-128, 127]. */
} ts_pool_params;

/**
 * @brief int8 average pooling, bit-exact with TFLM's reference_integer_ops::AveragePool:
 *        the sum of the window's points inside the input, divided by their count with
 *        halves rounded away from zero.
 * @param params  shape and clamp range.
 * @param input   [input_h][input_w][channels] int8.
 * @param output  [output_h][output_w][channels] int8, same scale and zero point.
 * @return TS_OK, or TS_ERROR_ARGUMENT if a size or stride is not positive, a padding is
 *         negative, the clamp range is invalid, or a window has no point in the input
 *         (TFLM fails there too).
 */
int32_t ts_avgpool_s8(const ts_pool_params *params, const int8_t *input, int8_t *output);

/**
 * @brief int8 max pooling, bit-exact with TFLM's reference_integer_ops::MaxPool: the
 *        maximum of the window's points inside the input (-128 for none), clamped.
 * @param params  shape and clamp range.
 * @param input   [input_h][input_w][channels] int8.
 * @param output  [output_h][output_w][channels] int8, same scale and zero point.
 * @return TS_OK, or TS_ERROR_ARGUMENT if a size or stride is not positive, a padding is
 *         negative or the clamp range is invalid.
 */
int32_t ts_maxpool_s8(const ts_pool_params *params, const int8_t *input, int8_t *output);

/* ======================================================================================
 * Convolution and fully connected
 * (ts_convolve_1x1_s8.c, ts_convolve_3x3_s8.c, ts_convolve_s8.c,
 *  ts_convolve_3x3_s2_c3_s8.c, ts_fully_connected_s8.c; private helpers in
 *  ts_conv_core.h; Python side: arm_emu/kernels_conv.py)
 * ====================================================================================== */

/**
 * @brief Shape and quantization of a convolution (NHWC input and output).
 *
 * Every field is an int32 so the host can pass the struct as an int32 array. The output
 * size and the leading (top/left) padding are given; the trailing padding is whatever the
 * output size implies, as in TFLM.
 */
typedef struct
{
    int32_t batches;                       /**< N. */
    int32_t input_h, input_w, input_c;     /**< Input height, width, channels. */
    int32_t output_h, output_w, output_c;  /**< Output height, width, channels. */
    int32_t filter_h, filter_w;            /**< Window size. */
    int32_t stride_h, stride_w;            /**< Strides, >= 1. */
    int32_t dilation_h, dilation_w;        /**< Dilations, >= 1. */
    int32_t pad_h, pad_w;                  /**< Top and left padding, >= 0. */
    int32_t input_offset;                  /**< Minus the input zero point. */
    int32_t output_offset;                 /**< The output zero point. */
    int32_t act_min, act_max;              /**< Clamp range, inside [-128, 127]. */
} ts_conv_params;

/**
 * @brief Bytes of a packed convolution filter: 4 + output_c * (K4 + 16), where K4 is
 *        filter_h * filter_w * input_c rounded up to a multiple of 4.
 *
 * A packed filter (prepared on the host by arm_emu/kernels_conv.py, pack_conv_filter) is
 * word-aligned and holds, as int32 words: bias'_0, then for every output channel c its
 * K4 weight bytes followed by 4 words: multiplier_c, right_shift_c, rounding_c and
 * bias'_{c+1} (0 after the last channel). With TFLM's bias[c], multiplier[c] and
 * shift[c] (QuantizeMultiplier), e = -shift[c] and z the output offset:
 *  - weights: channel c's OHWI weights in TFLite order (filter_y, filter_x, input
 *    channel), then zeros up to K4;
 *  - bias'_c = bias[c] + input_offset * (sum of channel c's weights), int32 wrap-around.
 *    Folding the input offset in (as TinyEngine does) leaves sum(w * x) of raw int8
 *    values in the inner loop; a window point outside the input is read as the input zero
 *    point, whose term w * (zp + input_offset) is 0, exactly as TFLM skips it;
 *  - multiplier_c = multiplier[c]; right_shift_c = e;
 *  - rounding_c = 2^(e-1) + z * 2^e when 1 <= e <= 22, else 0 (unused);
 *  - a channel whose output does not depend on the input (all weights 0, or multiplier
 *    0) is stored as the constant it is: weights 0, multiplier 2^30, right shift 1 and
 *    bias' = 4v, with v = TFLM's requantized bias clamped to [-256, 255] (enough: the
 *    output saturates beyond). Such channels carry huge biases in real models
 *    (mlperf_vww), which would otherwise keep the layer off the fast path.
 * The kernels requantize with SMMLAR (ts_conv_core.h) when every channel has
 * 1 <= e <= 22 and |bias'| + K4 * 2^14 < 2^30, and with ts_requantize() otherwise; both
 * are TFLM's MultiplyByQuantizedMultiplier bit for bit.
 */
static inline int32_t ts_conv_packed_filter_size(const ts_conv_params *params)
{
    const int32_t k4 = (params->filter_h * params->filter_w * params->input_c + 3) & ~3;
    return 4 + params->output_c * (k4 + 16);
}

/**
 * @brief Bytes of scratch that the convolution kernels need: 4 pixels of K4 int16
 *        (K4 = filter_h * filter_w * input_c rounded up to a multiple of 4), plus the
 *        K4-byte window of one pixel for the kernels that gather windows.
 */
static inline int32_t ts_convolve_s8_get_buffer_size(const ts_conv_params *params)
{
    const int32_t k4 = (params->filter_h * params->filter_w * params->input_c + 3) & ~3;
    return 9 * k4;
}

/**
 * @brief Pointwise (1x1) convolution, int8, NHWC, any channel counts, any stride.
 *
 * Bit-exact with TFLM's reference ConvPerChannel for a 1x1 window (the padding is 0).
 * Runs as a matrix product of 4 output pixels at a time (their inputs widened to int16
 * once into @p buffer) by one filter row: per 16 MACs, 1 LDR, 2 SXTB16, 2 LDM, 8 SMLAD.
 *
 * @param params  shape and quantization; filter_h = filter_w = 1, pad_h = pad_w = 0.
 * @param input   [batches][input_h][input_w][input_c] int8.
 * @param packed  packed filter (see ts_conv_packed_filter_size), word-aligned.
 * @param buffer  scratch of ts_convolve_s8_get_buffer_size() bytes, word-aligned (only
 *                the first 8 * K4 bytes are used).
 * @param output  [batches][output_h][output_w][output_c] int8.
 * @return TS_OK, or TS_ERROR_ARGUMENT if the window is not 1x1, a size or stride is not
 *         positive, the padding is not 0, the output does not fit the input or the clamp
 *         range is invalid.
 */
int32_t ts_convolve_1x1_s8(const ts_conv_params *params, const int8_t *input,
                           const int32_t *packed, int16_t *buffer, int8_t *output);

/**
 * @brief Convolution, int8, NHWC, any window, stride, dilation and padding (im2col).
 *
 * Bit-exact with TFLM's reference ConvPerChannel (one group). Each output pixel's window
 * is gathered (points outside the input read as the input zero point) and widened to
 * int16 once, 4 pixels at a time, then multiplied by every filter row as in
 * ts_convolve_1x1_s8. With input_c % 4 == 0 the window goes straight into @p buffer;
 * otherwise through a K4-byte stage at its end.
 *
 * @param params  shape and quantization.
 * @param input   [batches][input_h][input_w][input_c] int8.
 * @param packed  packed filter (see ts_conv_packed_filter_size), word-aligned.
 * @param buffer  scratch of ts_convolve_s8_get_buffer_size() bytes, word-aligned.
 * @param output  [batches][output_h][output_w][output_c] int8.
 * @return TS_OK, or TS_ERROR_ARGUMENT if a size, stride or dilation is not positive, a
 *         padding is negative, the input offset is outside [-127, 128] or the clamp
 *         range is invalid.
 */
int32_t ts_convolve_s8(const ts_conv_params *params, const int8_t *input,
                       const int32_t *packed, int16_t *buffer, int8_t *output);

/**
 * @brief Convolution, int8, NHWC, 3x3 window, dilation 1, any stride and padding: the
 *        window loops of ts_convolve_s8 unrolled for 3x3, same arguments and layout; with
 *        3 input channels, windows inside the input are read as in
 *        ts_convolve_3x3_s2_c3_s8.
 * @return TS_OK, or TS_ERROR_ARGUMENT if the window is not 3x3, a dilation is not 1 or
 *         ts_convolve_s8 would reject the arguments.
 */
int32_t ts_convolve_3x3_s8(const ts_conv_params *params, const int8_t *input,
                           const int32_t *packed, int16_t *buffer, int8_t *output);

/**
 * @brief First-layer convolution, int8, NHWC: 3x3 window, stride 2, 3 input channels
 *        (RGB), dilation 1, any padding; same arguments and layout as ts_convolve_s8.
 *
 * K = 27 (K4 = 28). A pixel whose window lies inside the input reads its three 9-byte
 * rows with 7 unaligned word loads (splicing the words that straddle two rows) straight
 * into the tile buffer; border pixels take ts_convolve_s8's gather.
 *
 * @return TS_OK, or TS_ERROR_ARGUMENT if the window is not 3x3, input_c is not 3, a
 *         stride is not 2, a dilation is not 1 or ts_convolve_s8 would reject the
 *         arguments.
 */
int32_t ts_convolve_3x3_s2_c3_s8(const ts_conv_params *params, const int8_t *input,
                                 const int32_t *packed, int16_t *buffer, int8_t *output);

/** @brief Shape and quantization of a fully connected layer (int32 fields). */
typedef struct
{
    int32_t batches;        /**< Input rows. */
    int32_t accum_depth;    /**< Input values per row = filter columns K. */
    int32_t output_depth;   /**< Units = filter rows. */
    int32_t input_offset;   /**< Minus the input zero point. */
    int32_t output_offset;  /**< The output zero point. */
    int32_t act_min, act_max; /**< Clamp range, inside [-128, 127]. */
} ts_fc_params;

/**
 * @brief Bytes of a packed fully connected filter: ceil(units / 4) * (64 + 4 * K4),
 *        K4 = accum_depth rounded up to a multiple of 4.
 *
 * Units are packed in blocks of 4 (a last partial block is completed with zero units).
 * A block holds, as int32 words: the 4 units' folded biases (see
 * ts_conv_packed_filter_size: bias + input_offset * sum of the unit's weights), then for
 * every group of 4 K the 4 units' weight words (4 int8 each, zeros past K), then
 * multiplier, right shift and rounding of each unit in turn, with the same meaning and
 * constant-unit rule as the convolution's packed filter. TFLM's per-tensor FC
 * multiplier and shift repeat over the units (TFLM's FC uses the same double rounding).
 */
static inline int32_t ts_fc_packed_filter_size(const ts_fc_params *params)
{
    return ((params->output_depth + 3) / 4) * (64 + 4 * ((params->accum_depth + 3) & ~3));
}

/** @brief Bytes of scratch ts_fully_connected_s8 needs: one row widened, 2 * K4. */
static inline int32_t ts_fully_connected_s8_get_buffer_size(const ts_fc_params *params)
{
    return 2 * ((params->accum_depth + 3) & ~3);
}

/**
 * @brief Fully connected, int8, bit-exact with TFLM's reference FullyConnected
 *        (per-tensor weights) and FullyConnectedPerChannel.
 *
 * Each input row is widened to int16 once; per group of 4 K, one LDRD of the row and one
 * LDM of 4 units' weight words feed 8 SMLAD.
 *
 * @param params  shape and quantization.
 * @param input   [batches][accum_depth] int8.
 * @param packed  packed filter (see ts_fc_packed_filter_size), word-aligned.
 * @param buffer  scratch of ts_fully_connected_s8_get_buffer_size() bytes, word-aligned.
 * @param output  [batches][output_depth] int8.
 * @return TS_OK, or TS_ERROR_ARGUMENT if a size is not positive, the input offset is
 *         outside [-127, 128] or the clamp range is invalid.
 */
int32_t ts_fully_connected_s8(const ts_fc_params *params, const int8_t *input,
                              const int32_t *packed, int16_t *buffer, int8_t *output);

#endif /* TS_NN_H */
