/* Hand-written Thumb-2 for tests that need exact control of the instruction stream. */
    .syntax unified
    .thumb
    .text

/* int32_t fx_count_positive(const int32_t *x, int n): how many x[i] > 0.
 * The ADDGT sits in an IT block: it is skipped (condition failed) for every x[i] <= 0. */
    .global fx_count_positive
    .type fx_count_positive, %function
    .align 2
fx_count_positive:
    movs    r2, #0
    cbz     r1, 2f
1:  ldr     r3, [r0], #4
    cmp     r3, #0
    it      gt
    addgt   r2, r2, #1
    subs    r1, r1, #1
    bne     1b
2:  mov     r0, r2
    bx      lr
    .size fx_count_positive, . - fx_count_positive

/* void fx_clobber_r5(void): breaks the AAPCS by not restoring r5. */
    .global fx_clobber_r5
    .type fx_clobber_r5, %function
    .align 2
fx_clobber_r5:
    movs    r5, #1
    bx      lr
    .size fx_clobber_r5, . - fx_clobber_r5

/* int32_t fx_ldrd_sum(const int8_t *base, int offset): the two words at base + offset,
 * summed, read with one LDRD (immediate offset form, so the checked address is
 * base register + 8). */
    .global fx_ldrd_sum
    .type fx_ldrd_sum, %function
    .align 2
fx_ldrd_sum:
    add     r0, r0, r1
    subs    r0, r0, #8
    ldrd    r2, r3, [r0, #8]
    add     r0, r2, r3
    bx      lr
    .size fx_ldrd_sum, . - fx_ldrd_sum

/* int32_t fx_ldrd_post_sum(const int32_t *p, int n): sum of n word pairs read with a
 * post-indexed LDRD (the checked address is the base register itself). */
    .global fx_ldrd_post_sum
    .type fx_ldrd_post_sum, %function
    .align 2
fx_ldrd_post_sum:
    push    {r4}
    movs    r4, #0
    cbz     r1, 2f
1:  ldrd    r2, r3, [r0], #8
    add     r4, r4, r2
    add     r4, r4, r3
    subs    r1, r1, #1
    bne     1b
2:  mov     r0, r4
    pop     {r4}
    bx      lr
    .size fx_ldrd_post_sum, . - fx_ldrd_post_sum

/* int32_t fx_ldrd_if(int flag, const int8_t *p): if flag, the sum of the two words at p,
 * read with an LDRD inside an IT block; else 0 without touching p. */
    .global fx_ldrd_if
    .type fx_ldrd_if, %function
    .align 2
fx_ldrd_if:
    cmp     r0, #0
    itt     ne
    ldrdne  r2, r3, [r1]
    addne   r0, r2, r3
    bx      lr
    .size fx_ldrd_if, . - fx_ldrd_if
