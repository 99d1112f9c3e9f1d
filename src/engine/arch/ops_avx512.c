/*
 * ops_avx512 — AVX-512F versions of the forward-pass float kernels (this
 * file alone is compiled with the AVX-512 flags).
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/arch/exp_avx512.h"

static float avx512_dot_f16(const float *x, const dx_f16 *y, int n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i))), a0);
        a1 =
            _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
                            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16))), a1);
    }
    if (i + 16 <= n) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i))), a0);
        i += 16;
    }
    if (i < n) { /* masked tail */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
                             _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i)), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static void avx512_axpy_f16(float *y, float a, const dx_f16 *x, int n)
{
    const __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(
            y + i,
            _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                            _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va,
                                              _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)),
                                              _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void avx512_to_f16(dx_f16 *y, const float *x, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = dx_f32_to_f16(x[i]);
}

/* g * u / (1 + e^(-c * h(g))): silu is h(g) = g, c = 1; gelu's tanh form
 * 0.5 g (1 + tanh(z)) is the same as g / (1 + e^(-2z)). */
static void avx512_silu_mul(float *g, const float *u, int n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + i), v = _mm512_maskz_loadu_ps(m, u + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_mask_storeu_ps(g + i, m, _mm512_div_ps(_mm512_mul_ps(x, v), _mm512_add_ps(one, e)));
    }
}

static void avx512_gelu_mul(float *g, const float *u, int n)
{
    const __m512 one = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(-2.0f * 0.7978845608028654f),
                 k3 = _mm512_set1_ps(0.044715f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + i), v = _mm512_maskz_loadu_ps(m, u + i);
        const __m512 z = _mm512_fmadd_ps(_mm512_mul_ps(k3, x), _mm512_mul_ps(x, x), x);
        const __m512 e = exp16(_mm512_mul_ps(c, z));
        _mm512_mask_storeu_ps(g + i, m, _mm512_div_ps(_mm512_mul_ps(x, v), _mm512_add_ps(one, e)));
    }
}

const ops_kernels ops_avx512 = {avx512_dot_f16, avx512_axpy_f16, avx512_to_f16, avx512_silu_mul,
                                avx512_gelu_mul};
#endif
