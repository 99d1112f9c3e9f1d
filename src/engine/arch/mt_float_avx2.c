/*
 * mt_float_avx2 — the matrix kernels for unquantized weights (F32, F16,
 * BF16) at AVX2 + FMA + F16C (this file alone is compiled with those
 * flags); the same shapes as mt_float_avx512.c in 8-lane registers:
 *
 *   mt_*_2x4  two weight rows against four activation rows (prompt
 *             processing), eight ymm sums over the whole row;
 *   mr_*_4x1  four rows against one vector (decode), two sums per row, the
 *             next four rows prefetched.
 *
 * F16 is widened with vcvtph2ps and BF16 by a 16-bit shift, and everything
 * is multiplied in f32. The last partial vector of a row is copied into a
 * zeroed buffer first, so any n works. Held to the scalar vec_dot by
 * tests/unit/test_ops.c.
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline __m256 ld_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline __m256 ld_f16(const dx_f16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 ld_bf16(const dx_bf16 *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* tail_*: the k < 8 elements at p, then zeros. */
#define FLOAT_KERNELS(NAME, ET, LD)                                                                         \
    static inline __m256 tail_##NAME(const ET *p, int k)                                                    \
    {                                                                                                       \
        ET buf[8] = {0};                                                                                    \
        memcpy(buf, p, (size_t)k * sizeof(ET));                                                            \
        return LD(buf);                                                                                     \
    }                                                                                                       \
                                                                                                            \
    static void mt_##NAME##_2x4(int n, const void *w0, const void *w1, const void *a, size_t as, float *out) \
    {                                                                                                       \
        const ET *x0 = w0, *x1 = w1, *y[4];                                                                 \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) y[t] = (const ET *)((const char *)a + (size_t)t * as); \
        __m256 acc[2][4];                                                                                   \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();    \
        int i = 0;                                                                                          \
        for (; i + 8 <= n; i += 8) {                                                                        \
            const __m256 u0 = LD(x0 + i), u1 = LD(x1 + i);                                                  \
            _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {                                           \
                const __m256 v = LD(y[t] + i);                                                              \
                acc[0][t] = _mm256_fmadd_ps(u0, v, acc[0][t]);                                              \
                acc[1][t] = _mm256_fmadd_ps(u1, v, acc[1][t]);                                              \
            }                                                                                               \
        }                                                                                                   \
        if (i < n) {                                                                                        \
            const __m256 u0 = tail_##NAME(x0 + i, n - i), u1 = tail_##NAME(x1 + i, n - i);                  \
            for (int t = 0; t < 4; t++) {                                                                   \
                const __m256 v = tail_##NAME(y[t] + i, n - i);                                              \
                acc[0][t] = _mm256_fmadd_ps(u0, v, acc[0][t]);                                              \
                acc[1][t] = _mm256_fmadd_ps(u1, v, acc[1][t]);                                              \
            }                                                                                               \
        }                                                                                                   \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {                                               \
            out[t] = hsum(acc[0][t]);                                                                       \
            out[4 + t] = hsum(acc[1][t]);                                                                   \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    static void mr_##NAME##_4x1(int n, const void *w, size_t ws, const void *a, float *out)                 \
    {                                                                                                       \
        const ET *x[4], *y = a;                                                                             \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) x[r] = (const ET *)((const char *)w + (size_t)r * ws); \
        __m256 acc[2][4];                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[0][r] = acc[1][r] = _mm256_setzero_ps();    \
        int i = 0;                                                                                          \
        for (; i + 16 <= n; i += 16) {                                                                      \
            const __m256 v0 = LD(y + i), v1 = LD(y + i + 8);                                                \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                           \
                /* the same place in the next four rows, which follow these in memory */                    \
                const char *next = (const char *)(x[r] + i) + 4 * ws;                                       \
                _Pragma("GCC unroll 2") for (size_t c = 0; c < 16 * sizeof(ET); c += 64)                    \
                    _mm_prefetch(next + c, _MM_HINT_T0);                                                    \
                acc[0][r] = _mm256_fmadd_ps(LD(x[r] + i), v0, acc[0][r]);                                   \
                acc[1][r] = _mm256_fmadd_ps(LD(x[r] + i + 8), v1, acc[1][r]);                               \
            }                                                                                               \
        }                                                                                                   \
        for (; i < n; i += 8) {                                                                             \
            const int k = n - i < 8 ? n - i : 8;                                                            \
            const __m256 v = tail_##NAME(y + i, k);                                                         \
            for (int r = 0; r < 4; r++)                                                                     \
                acc[0][r] = _mm256_fmadd_ps(tail_##NAME(x[r] + i, k), v, acc[0][r]);                        \
        }                                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) out[r] = hsum(_mm256_add_ps(acc[0][r], acc[1][r])); \
    }

FLOAT_KERNELS(F32, float, ld_f32)
FLOAT_KERNELS(F16, dx_f16, ld_f16)
FLOAT_KERNELS(BF16, dx_bf16, ld_bf16)

const ops_tile_kernel ops_avx2_float_tiles[] = {
    {QT_F32, mt_F32_2x4},
    {QT_F16, mt_F16_2x4},
    {QT_BF16, mt_BF16_2x4},
};
const size_t ops_avx2_float_tile_count = sizeof ops_avx2_float_tiles / sizeof ops_avx2_float_tiles[0];

const ops_rows_kernel ops_avx2_float_rows[] = {
    {QT_F32, mr_F32_4x1},
    {QT_F16, mr_F16_4x1},
    {QT_BF16, mr_BF16_4x1},
};
const size_t ops_avx2_float_rows_count = sizeof ops_avx2_float_rows / sizeof ops_avx2_float_rows[0];

#endif
