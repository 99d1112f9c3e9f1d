/*
 * quant_avx512 — AVX-512 (F/BW/VL/DQ/VNNI/BF16) kernels (this file alone is
 * compiled with those flags; quant.c calls into it only when the CPU has
 * them all). The 256-bit integer kernels of quant_simd_impl.h are compiled
 * here with vpdpbusd (VNNI) as the integer dot; the float dots use 512-bit
 * registers.
 */
#include "engine/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

static inline __m256i dot4(__m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

static inline __m256i dot4_sc2(__m256i u, __m256i s, int lo, int hi)
{
    __m256i sc = _mm256_set_m128i(_mm_set1_epi32(hi), _mm_set1_epi32(lo));
    return _mm256_mullo_epi32(dot4(u, s), sc);
}

#include "engine/arch/quant_simd_impl.h"

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
        __m512i qx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[i].qs)),
                                        _mm256_loadu_si256((const __m256i *)x[i + 1].qs), 1);
        __m512i qy = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[i].qs)),
                                        _mm256_loadu_si256((const __m256i *)y[i + 1].qs), 1);
        __m512i ax = _mm512_abs_epi8(qx);
        /* y with x's sign: negate where x < 0 */
        __mmask64 neg = _mm512_movepi8_mask(qx);
        __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
        __m512 d = _mm512_insertf32x8(_mm512_set1_ps(h2f(x[i].d) * h2f(y[i].d)),
                                      _mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d)), 1);
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

static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m512 join_ps(float lo, float hi)
{
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
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
        __m512 d = join_ps(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
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
    float ms = 0.f;
    for (; i + 2 <= nb; i += 2) {
        __m512i q = join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs));
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, qy);
        __m512 d = join_ps(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
        ms += h2f(x[i].m) * h2f(y[i].s) + h2f(x[i + 1].m) * h2f(y[i + 1].s);
    }
    float sum = _mm512_reduce_add_ps(acc) + ms;
    if (i < nb) {
        float tail;
        simd_q4_1_vec_dot(QK4_1 * (nb - i), &tail, x + i, y + i);
        sum += tail;
    }
    *s = sum;
}

const quant_kernel quant_avx512_kernels[] = {
    { QT_Q8_0, simd_q8_0_from_float, avx512_q8_0_vec_dot },
    { QT_Q4_0, NULL, avx512_q4_0_vec_dot },
    { QT_Q4_K, NULL, simd_q4_K_vec_dot },
    { QT_Q6_K, NULL, simd_q6_K_vec_dot },
    { QT_Q5_0, NULL, simd_q5_0_vec_dot },
    { QT_Q4_1, NULL, avx512_q4_1_vec_dot },
    { QT_Q5_K, NULL, simd_q5_K_vec_dot },
    { QT_Q5_1, NULL, simd_q5_1_vec_dot },
    { QT_Q2_K, NULL, simd_q2_K_vec_dot },
    { QT_Q3_K, NULL, simd_q3_K_vec_dot },
    { QT_F32, NULL, avx512_f32_vec_dot },
    { QT_F16, NULL, avx512_f16_vec_dot },
    { QT_BF16, NULL, simd_bf16_vec_dot },
    { QT_Q8_1, simd_q8_1_from_float, NULL },
    { QT_Q8_K, simd_q8_K_from_float, NULL },
};
const size_t quant_avx512_kernel_count = sizeof quant_avx512_kernels / sizeof quant_avx512_kernels[0];
#endif
