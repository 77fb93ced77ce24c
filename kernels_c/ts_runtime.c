/* The four functions a freestanding C program must supply (C11 4p6 and GCC's docs):
 * GCC itself may emit calls to them, for example for a large struct copy or a loop it
 * recognises as a fill. Kernels should not depend on them: every call shows up in the
 * harness's per-function instruction totals. They are deliberately plain; the optimize
 * attribute stops GCC from turning these very loops back into calls to themselves. */
#include <stddef.h>

#define TS_PLAIN_LOOP __attribute__((optimize("no-tree-loop-distribute-patterns")))

TS_PLAIN_LOOP void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
    return dst;
}

TS_PLAIN_LOOP void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s)
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    else
        for (size_t i = n; i > 0; i--)
            d[i - 1] = s[i - 1];
    return dst;
}

TS_PLAIN_LOOP void *memset(void *dst, int value, size_t n)
{
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (unsigned char)value;
    return dst;
}

TS_PLAIN_LOOP int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}
