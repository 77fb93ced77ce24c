/* Test-only kernels that exercise the arm_emu harness: plain loops, AAPCS stack
 * arguments, and deliberate faults (each named for the fault it plants). */
#include <arm_acle.h>
#include <stdint.h>

#include "ts_support.h"

void fx_copy(int8_t *dst, const int8_t *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i];
}

/* Six arguments: the last two travel on the stack, one of them a pointer. */
int32_t fx_args6(const int32_t *a, int32_t *out, int32_t n, int32_t k, int32_t bias,
                 const int32_t *b)
{
    int32_t sum = 0;
    for (int i = 0; i < n; i++)
    {
        out[i] = a[i] * k + b[i] + bias;
        sum += out[i];
    }
    return sum;
}

/* Eight scalar arguments: four on the stack. */
int32_t fx_args8(int32_t a, int32_t b, int32_t c, int32_t d, int32_t e, int32_t f,
                 int32_t g, int32_t h)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h;
}

int64_t fx_ret64(int32_t a, int32_t b)
{
    return (int64_t)a * b;
}

/* The int8 dot-product inner loop of a 1x1 convolution, repeated: the speed benchmark. */
int32_t fx_mac(const int8_t *a, const int8_t *b, int n, int reps)
{
    int32_t acc = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i += 4)
        {
            int32_t x, y;
            __builtin_memcpy(&x, a + i, 4);
            __builtin_memcpy(&y, b + i, 4);
            const uint32_t xo = (uint32_t)x >> 8 | (uint32_t)x << 24;
            const uint32_t yo = (uint32_t)y >> 8 | (uint32_t)y << 24;
            acc = __smlad(__sxtb16(x), __sxtb16(y), acc);
            acc = __smlad(__sxtb16(xo), __sxtb16(yo), acc);
        }
    return acc;
}

static inline uint32_t fx_ror8(uint32_t v)
{
    return v >> 8 | v << 24;
}

/* A plain int8 1x1 convolution (NHWC, weights [cout][cin], per-channel requantization),
 * two output channels by four input channels per step, CMSIS-NN style: the speed
 * benchmark's realistic kernel. cin % 4 == 0, cout % 2 == 0. */
void fx_conv1x1(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                const int32_t *shift, int8_t *out, int pixels, int cin, int cout,
                int32_t in_offset, int32_t out_offset)
{
    const uint32_t offsets = (uint32_t)(uint16_t)in_offset << 16 | (uint16_t)in_offset;
    for (int p = 0; p < pixels; p++)
    {
        const int8_t *x = in + p * cin;
        for (int o = 0; o < cout; o += 2)
        {
            const int8_t *w0 = w + o * cin;
            const int8_t *w1 = w0 + cin;
            int32_t acc0 = bias[o], acc1 = bias[o + 1];
            for (int i = 0; i < cin; i += 4)
            {
                int32_t xv, wv0, wv1;
                __builtin_memcpy(&xv, x + i, 4);
                __builtin_memcpy(&wv0, w0 + i, 4);
                __builtin_memcpy(&wv1, w1 + i, 4);
                const uint32_t xe = __sadd16(__sxtb16(xv), offsets);
                const uint32_t xo = __sadd16(__sxtb16(fx_ror8(xv)), offsets);
                acc0 = __smlad(xe, __sxtb16(wv0), acc0);
                acc0 = __smlad(xo, __sxtb16(fx_ror8(wv0)), acc0);
                acc1 = __smlad(xe, __sxtb16(wv1), acc1);
                acc1 = __smlad(xo, __sxtb16(fx_ror8(wv1)), acc1);
            }
            const int32_t y0 = ts_requantize(acc0, mult[o], shift[o]) + out_offset;
            const int32_t y1 = ts_requantize(acc1, mult[o + 1], shift[o + 1]) + out_offset;
            out[p * cout + o] = (int8_t)__ssat(y0, 8);
            out[p * cout + o + 1] = (int8_t)__ssat(y1, 8);
        }
    }
}

/* A helper in its own function, so per-function totals have two entries. */
__attribute__((noinline)) int32_t fx_square(int32_t v)
{
    return v * v;
}

int32_t fx_sum_squares(const int32_t *x, int n)
{
    int32_t s = 0;
    for (int i = 0; i < n; i++)
        s += fx_square(x[i]);
    return s;
}

/* Planted bug: writes one byte 16 bytes past the end of out. */
void fx_oob_write(int8_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (int8_t)i;
    out[n + 16] = 0x55;
}

/* Planted bug: writes out[-3]. */
void fx_underflow_write(int8_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (int8_t)i;
    out[-3] = 0x55;
}

/* Planted bug: reads x[-1] (the row above, as a conv with broken padding would). */
int32_t fx_underflow_read(const int8_t *x, int n)
{
    int32_t s = 0;
    for (int i = -1; i < n; i++)
        s += x[i];
    return s;
}

/* Planted bug: reads one int32 past the end. */
int32_t fx_overflow_read(const int32_t *x, int n)
{
    int32_t s = 0;
    for (int i = 0; i <= n; i++)
        s += x[i];
    return s;
}

/* Planted bug: writes into its input. */
void fx_write_input(int8_t *x)
{
    x[0] = 1;
}

int32_t fx_load(const int32_t *p)
{
    return *p;
}

/* Never returns while *flag is 0. */
void fx_spin(volatile const int32_t *flag)
{
    while (*flag == 0)
    {
    }
}

/* Calls through a function pointer the caller supplies (a bad one jumps off the code). */
int32_t fx_call_ptr(int32_t (*f)(void))
{
    return f() + 1;
}

void fx_breakpoint(void)
{
    __asm__ volatile("bkpt #1");
}

void fx_trap(void)
{
    __builtin_trap();
}

/* 8 KB of locals: overflows a small stack. */
int32_t fx_big_frame(int n)
{
    volatile int32_t buf[2048];
    for (int i = 0; i < 2048; i++)
        buf[i] = i * n;
    return buf[n & 2047];
}

typedef struct
{
    int32_t a, b, c, d;
} fx_quad;

/* A struct copy: GCC emits LDM/STM. */
void fx_copy_quad(fx_quad *dst, const int8_t *base, int offset)
{
    *dst = *(const fx_quad *)(const void *)(base + offset);
}

/* Double precision floating point: a Cortex-M7 (FPv5-D16) instruction the M4 lacks. */
int32_t fx_vadd_f64(void)
{
    __asm__ volatile(".fpu fpv5-d16\n\tvadd.f64 d0, d1, d2\n\t.fpu softvfp" ::: "memory");
    return 7;
}

static int32_t fx_counter_state = 5;

int32_t fx_counter(void)
{
    return ++fx_counter_state;
}

void fx_requantize(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                   int32_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = ts_requantize(acc[i], mult[i], shift[i]);
}
