/*
 * ops_avx2 — AVX2 + FMA + F16C versions of the forward-pass float kernels
 * (this file alone is compiled with -mavx2 -mfma -mf16c).
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

static float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float avx2_dot_f16(const float *x, const dx_f16 *y, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8))), a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += x[i] * _cvtsh_ss(y[i]);
    return s;
}

static void avx2_axpy_f16(float *y, float a, const dx_f16 *x, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                   _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * _cvtsh_ss(x[i]);
}

static void avx2_to_f16(dx_f16 *y, const float *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = dx_f32_to_f16(x[i]);
}

/* e^x to about 2e-7 relative (see ops_avx512.c): x = n ln2 + r, a
 * polynomial for e^r, 2^n built in the exponent bits. */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void glu8(float *g, const float *u, int n, float c, float k3)
{
    const __m256 one = _mm256_set1_ps(1.0f), vc = _mm256_set1_ps(c), vk = _mm256_set1_ps(k3);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i), v = _mm256_loadu_ps(u + i);
        const __m256 z = _mm256_fmadd_ps(_mm256_mul_ps(vk, x), _mm256_mul_ps(x, x), x);
        const __m256 e = exp8(_mm256_mul_ps(vc, z));
        _mm256_storeu_ps(g + i, _mm256_div_ps(_mm256_mul_ps(x, v), _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) {
        const float x = g[i];
        g[i] = x * u[i] / (1.0f + expf(c * (x + k3 * x * x * x)));
    }
}

/* g * u / (1 + e^(-c * h(g))): silu is h(g) = g, c = 1; gelu's tanh form
 * 0.5 g (1 + tanh(z)) is the same as g / (1 + e^(-2z)). */
static void avx2_silu_mul(float *g, const float *u, int n)
{
    glu8(g, u, n, -1.0f, 0.0f);
}
static void avx2_gelu_mul(float *g, const float *u, int n)
{
    glu8(g, u, n, -2.0f * 0.7978845608028654f, 0.044715f);
}

const ops_kernels ops_avx2 = {avx2_dot_f16, avx2_axpy_f16, avx2_to_f16, avx2_silu_mul,
                              avx2_gelu_mul};
#endif
