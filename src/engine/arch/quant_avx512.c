/*
 * quant_avx512 — AVX-512 (F/BW/VL/DQ/VNNI/BF16) kernels (this file alone is
 * compiled with those flags; quant.c calls into it only when the CPU has
 * them all). The 256-bit integer kernels of quant_simd_impl.h are compiled
 * here with vpdpbusd (VNNI) as the plain integer dot; the 32-wide formats
 * take two blocks per 512-bit step, Q6_K four sub-blocks per vpdpbusd, and
 * the float dots use 512-bit registers.
 */
#include "engine/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

static inline __m256i dot4(__m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

#include "engine/arch/quant_simd_impl.h"

static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* [a0, b0, a1, b1] -> sixteen lanes: a0 eight times, then a1 eight times. */
static inline __m512 spread_even(__m128 v)
{
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2),
                                 _mm512_castps128_ps512(v));
}

/* d_x * d_y of blocks i and i+1, spread over the lanes of their sums. */
#define PAIR_SCALES(x, y, i)                                                                       \
    spread_even(                                                                                   \
        _mm_mul_ps(halves2x2(&(x)[i].d, &(x)[(i) + 1].d), halves2x2(&(y)[i].d, &(y)[(i) + 1].d)))

static void avx512_f32_vec_dot(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
    }
    float tail;
    simd_f32_vec_dot(n - i, &tail, x + i, y + i);
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail;
}

static void avx512_f16_vec_dot(int n, float *s, const void *w, const void *a)
{
    const dx_f16 *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        __m512 y0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i)));
        __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16)));
        __m512 y1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16)));
        acc0 = _mm512_fmadd_ps(x0, y0, acc0);
        acc1 = _mm512_fmadd_ps(x1, y1, acc1);
    }
    float tail;
    simd_f16_vec_dot(n - i, &tail, x + i, y + i);
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail;
}

/* Two Q8_0 blocks per 512-bit step: vpdpbusd gives sums of four, which are
 * scaled per block (lanes 0-7 by the first block's d, 8-15 by the second). */
static void avx512_q8_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q8_0 *x = w, *y = a;
    int nb = n / QK8_0, i = 0;
    __m512 acc = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m512i qx = join256(_mm256_loadu_si256((const __m256i *)x[i].qs),
                             _mm256_loadu_si256((const __m256i *)x[i + 1].qs));
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i ax = _mm512_abs_epi8(qx);
        /* y with x's sign: negate where x < 0 */
        __mmask64 neg = _mm512_movepi8_mask(qx);
        __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
        __m512 d = PAIR_SCALES(x, y, i);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        float tail;
        simd_q8_0_vec_dot(QK8_0 * (nb - i), &tail, x + i, y + i);
        sum += tail;
    }
    *s = sum;
}

/* Q4_0 two blocks per step: unsigned nibbles times y with vpdpbusd, then
 * 8 * sum(y) (also by vpdpbusd) taken away. */
static void avx512_q4_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    int nb = n / QK4_0, i = 0;
    const __m512i eight = _mm512_set1_epi8(8);
    __m512 acc = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m512i q = join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs));
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, qy);
        p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, qy));
        __m512 d = PAIR_SCALES(x, y, i);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        float tail;
        simd_q4_0_vec_dot(QK4_0 * (nb - i), &tail, x + i, y + i);
        sum += tail;
    }
    *s = sum;
}

static void avx512_q4_1_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_1 *x = w;
    const block_q8_1 *y = a;
    int nb = n / QK4_1, i = 0;
    __m512 acc = _mm512_setzero_ps();
    __m128 ms4 = _mm_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m512i q = join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs));
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, qy);
        /* [d0*dy0, m0*s0, d1*dy1, m1*s1]: block_q4_1 starts d, m and block_q8_1 d, s */
        __m128 dm = _mm_mul_ps(halves2x2(&x[i].d, &x[i + 1].d), halves2x2(&y[i].d, &y[i + 1].d));
        acc = _mm512_fmadd_ps(spread_even(dm), _mm512_cvtepi32_ps(p), acc);
        ms4 = _mm_add_ps(ms4, dm);
    }
    float ms[4];
    _mm_storeu_ps(ms, ms4);
    float sum = _mm512_reduce_add_ps(acc) + ms[1] + ms[3];
    if (i < nb) {
        float tail;
        simd_q4_1_vec_dot(QK4_1 * (nb - i), &tail, x + i, y + i);
        sum += tail;
    }
    *s = sum;
}

/* Q5_0 two blocks per step: the two 32-bit qh words are one 64-bit mask
 * that puts the fifth bits in place; then as Q4_0 with 16 for 8. */
static void avx512_q5_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    int nb = n / QK5_0, i = 0;
    const __m512i sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        uint32_t h0, h1;
        memcpy(&h0, x[i].qh, 4);
        memcpy(&h1, x[i + 1].qh, 4);
        __m512i hb = _mm512_maskz_mov_epi8((__mmask64)h0 | (__mmask64)h1 << 32, sixteen);
        __m512i q = _mm512_or_si512(join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs)), hb);
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, qy);
        p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), sixteen, qy));
        __m512 d = PAIR_SCALES(x, y, i);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        float tail;
        simd_q5_0_vec_dot(QK5_0 * (nb - i), &tail, x + i, y + i);
        sum += tail;
    }
    *s = sum;
}

/* Q6_K: elements l and l+32 of a 128-element half (l < 32) line up with 64
 * contiguous activations, as do l+64 and l+96; each vpdpbusd covers four
 * 16-element sub-blocks (four lanes each). */
static void avx512_q6_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const __m256i low4 = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(3);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sc16 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, low4),
                                         _mm256_slli_epi16(_mm256_and_si256(hb, two), 4));
            __m256i q1 = _mm256_or_si256(
                _mm256_and_si256(l1, low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4));
            __m256i q2 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4));
            __m256i q3 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4));
            for (int k = 0; k < 2; k++) {
                __m512i qq = k ? join256(q2, q3) : join256(q0, q1);
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qq,
                                                _mm512_loadu_si512(y[i].qs + 128 * h + 64 * k));
                int b = 8 * h + 4 * k; /* lanes 4j..4j+3 belong to sub-block b + j */
                __m128i ctl = _mm_setr_epi8(
                    (char)b, (char)b, (char)b, (char)b, (char)(b + 1), (char)(b + 1), (char)(b + 1),
                    (char)(b + 1), (char)(b + 2), (char)(b + 2), (char)(b + 2), (char)(b + 2),
                    (char)(b + 3), (char)(b + 3), (char)(b + 3), (char)(b + 3));
                __m512i scv = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(sc16, ctl));
                isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(p, scv));
            }
        }
        /* the +32 of the stored values, taken away in integers lane by lane
         * as mt_avx512.c's tile does, so the two give the same bits */
        __m256i scw = _mm256_cvtepi8_epi16(sc16);
        __m256i c = _mm256_slli_epi32(
            _mm256_madd_epi16(scw, _mm256_loadu_si256((const __m256i *)y[i].bsums)), 5);
        __m512i tot = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(c));
        float d = y[i].d * _cvtsh_ss(x[i].d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(tot), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

const quant_kernel quant_avx512_kernels[] = {
    {QT_Q8_0, simd_q8_0_from_float, avx512_q8_0_vec_dot},
    {QT_Q4_0, NULL, avx512_q4_0_vec_dot},
    {QT_Q4_K, NULL, simd_q4_K_vec_dot}, /* 512-bit vpdpbusd + vpmulld was no faster */
    {QT_Q6_K, NULL, avx512_q6_K_vec_dot},
    {QT_Q5_0, NULL, avx512_q5_0_vec_dot},
    {QT_Q4_1, NULL, avx512_q4_1_vec_dot},
    {QT_Q5_K, NULL, simd_q5_K_vec_dot},
    {QT_Q5_1, NULL, simd_q5_1_vec_dot},
    {QT_Q2_K, NULL, simd_q2_K_vec_dot},
    {QT_Q3_K, NULL, simd_q3_K_vec_dot},
    {QT_F32, NULL, avx512_f32_vec_dot},
    {QT_F16, NULL, avx512_f16_vec_dot},
    {QT_BF16, NULL, simd_bf16_vec_dot},
    {QT_Q8_1, simd_q8_1_from_float, NULL},
    {QT_Q8_K, simd_q8_K_from_float, NULL},
};
const size_t quant_avx512_kernel_count =
    sizeof quant_avx512_kernels / sizeof quant_avx512_kernels[0];
#endif
