/*
 * mt_float_avx512 — the matrix kernels for unquantized weights (F32, F16,
 * BF16) at AVX-512 (this file alone is compiled with the AVX-512 flags):
 *
 *   mt_*_2x4  prompt processing: two weight rows against four activation
 *             rows, eight sums kept in zmm registers over the whole row, so
 *             each weight vector is loaded once for four tokens and each
 *             activation vector once for two rows;
 *   mr_*_4x1  decode: four rows against one activation vector, the vector
 *             loaded once for the four rows, two accumulators per row, and
 *             the next four rows prefetched while these are summed (the
 *             kernel is bound by reading the weights).
 *
 * The activations are in the weights' vec_dot_type, as for vec_dot: F32 for
 * F32 weights, F16 for F16 (both widened with vcvtph2ps and multiplied in
 * f32) and BF16 for BF16 (vdpbf16ps: pairs of products added in f32, with
 * bf16 denormals taken as zero). The last partial vector of a row is read
 * with a masked load, so any n works. Held to the scalar vec_dot by
 * tests/unit/test_ops.c.
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Loads of one vector's worth of elements (16 of F32/F16, 32 of BF16) as
 * the kernels' operand type; the _M forms read only the lanes in m. */
#define LD_F32(p) _mm512_loadu_ps(p)
#define LD_F32_M(p, m) _mm512_maskz_loadu_ps((__mmask16)(m), p)
#define LD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LD_F16_M(p, m) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)(m), p))
#define LD_BF16(p) ((__m512bh)_mm512_loadu_si512(p))
#define LD_BF16_M(p, m) ((__m512bh)_mm512_maskz_loadu_epi16((__mmask32)(m), p))
#define FMA_PS(acc, x, y) _mm512_fmadd_ps(x, y, acc)
#define FMA_BF16(acc, x, y) _mm512_dpbf16_ps(acc, x, y)

#define FLOAT_KERNELS(NAME, ET, STEP, V, LD, LD_M, FMA)                                                     \
    static void mt_##NAME##_2x4(int n, const void *w0, const void *w1, const void *a, size_t as, float *out) \
    {                                                                                                       \
        const ET *x0 = w0, *x1 = w1, *y[4];                                                                 \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) y[t] = (const ET *)((const char *)a + (size_t)t * as); \
        __m512 acc[2][4];                                                                                   \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) acc[0][t] = acc[1][t] = _mm512_setzero_ps();    \
        int i = 0;                                                                                          \
        for (; i + STEP <= n; i += STEP) {                                                                  \
            const V u0 = LD(x0 + i), u1 = LD(x1 + i);                                                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {                                           \
                const V v = LD(y[t] + i);                                                                   \
                acc[0][t] = FMA(acc[0][t], u0, v);                                                          \
                acc[1][t] = FMA(acc[1][t], u1, v);                                                          \
            }                                                                                               \
        }                                                                                                   \
        if (i < n) {                                                                                        \
            const unsigned long long m = (1ull << (n - i)) - 1;                                             \
            const V u0 = LD_M(x0 + i, m), u1 = LD_M(x1 + i, m);                                             \
            _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {                                           \
                const V v = LD_M(y[t] + i, m);                                                              \
                acc[0][t] = FMA(acc[0][t], u0, v);                                                          \
                acc[1][t] = FMA(acc[1][t], u1, v);                                                          \
            }                                                                                               \
        }                                                                                                   \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {                                               \
            out[t] = _mm512_reduce_add_ps(acc[0][t]);                                                       \
            out[4 + t] = _mm512_reduce_add_ps(acc[1][t]);                                                   \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    static void mr_##NAME##_4x1(int n, const void *w, size_t ws, const void *a, float *out)                 \
    {                                                                                                       \
        const ET *x[4], *y = a;                                                                             \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) x[r] = (const ET *)((const char *)w + (size_t)r * ws); \
        __m512 acc[2][4];                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[0][r] = acc[1][r] = _mm512_setzero_ps();    \
        int i = 0;                                                                                          \
        for (; i + 2 * STEP <= n; i += 2 * STEP) {                                                          \
            const V v0 = LD(y + i), v1 = LD(y + i + STEP);                                                  \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                           \
                /* the same place in the next four rows, which follow these in memory */                    \
                const char *next = (const char *)(x[r] + i) + 4 * ws;                                       \
                _Pragma("GCC unroll 2") for (size_t c = 0; c < 2 * STEP * sizeof(ET); c += 64)              \
                    _mm_prefetch(next + c, _MM_HINT_T0);                                                    \
                acc[0][r] = FMA(acc[0][r], LD(x[r] + i), v0);                                               \
                acc[1][r] = FMA(acc[1][r], LD(x[r] + i + STEP), v1);                                        \
            }                                                                                               \
        }                                                                                                   \
        for (; i < n; i += STEP) {                                                                          \
            const unsigned long long m = n - i >= STEP ? ~0ull : (1ull << (n - i)) - 1;                     \
            const V v = LD_M(y + i, m);                                                                     \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[0][r] = FMA(acc[0][r], LD_M(x[r] + i, m), v); \
        }                                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                                 \
            out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][r], acc[1][r]));                             \
    }

FLOAT_KERNELS(F32, float, 16, __m512, LD_F32, LD_F32_M, FMA_PS)
FLOAT_KERNELS(F16, dx_f16, 16, __m512, LD_F16, LD_F16_M, FMA_PS)
FLOAT_KERNELS(BF16, dx_bf16, 32, __m512bh, LD_BF16, LD_BF16_M, FMA_BF16)

const ops_tile_kernel ops_avx512_float_tiles[] = {
    {QT_F32, mt_F32_2x4},
    {QT_F16, mt_F16_2x4},
    {QT_BF16, mt_BF16_2x4},
};
const size_t ops_avx512_float_tile_count = sizeof ops_avx512_float_tiles / sizeof ops_avx512_float_tiles[0];

const ops_rows_kernel ops_avx512_float_rows[] = {
    {QT_F32, mr_F32_4x1},
    {QT_F16, mr_F16_4x1},
    {QT_BF16, mr_BF16_4x1},
};
const size_t ops_avx512_float_rows_count = sizeof ops_avx512_float_rows / sizeof ops_avx512_float_rows[0];

#endif
