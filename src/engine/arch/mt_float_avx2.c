/*
 * mt_float_avx2 — the matrix kernels for unquantized weights (F32, F16,
 * BF16) at AVX2 + FMA + F16C (this file alone is compiled with those
 * flags); the kernels themselves are in mt_float_impl.h. Tiles are three
 * rows by four tokens: 12 ymm sums, with the four activation vectors and a
 * weight vector, in the 16 registers.
 *
 * F16 is widened with vcvtph2ps and BF16 by a 16-bit shift; everything is
 * multiplied in f32. The last partial vector of a row is copied into a
 * zeroed buffer first. Held to the scalar vec_dot by tests/unit/test_ops.c.
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define ACC __m256
#define ACC_ZERO() _mm256_setzero_ps()
#define REDUCE(acc) hsum(acc)
#define MAX_RM 3
#define ALL_CASES(NAME) CASES_RM(NAME, 1) CASES_RM(NAME, 2) CASES_RM(NAME, 3)

#include "engine/arch/mt_float_impl.h"

static inline __m256 ld_f32(const float *p)
{
    return _mm256_loadu_ps(p);
}
static inline __m256 ld_f16(const dx_f16 *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m256 ld_bf16(const dx_bf16 *p)
{
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* The k <= 8 elements at p, then zeros. */
#define TAIL(NAME, ET, LD)                                                                         \
    static inline __m256 NAME(const ET *p, int k)                                                  \
    {                                                                                              \
        ET buf[8] = {0};                                                                           \
        memcpy(buf, p, (size_t)k * sizeof(ET));                                                    \
        return LD(buf);                                                                            \
    }
TAIL(ld_f32_tail, float, ld_f32)
TAIL(ld_f16_tail, dx_f16, ld_f16)
TAIL(ld_bf16_tail, dx_bf16, ld_bf16)

#define FMA_PS(acc, x, y) _mm256_fmadd_ps(x, y, acc)

FLOAT_KERNELS(F32, float, 8, __m256, ld_f32, ld_f32_tail, FMA_PS, 1, 0)
FLOAT_KERNELS(F16, dx_f16, 8, __m256, ld_f16, ld_f16_tail, FMA_PS, 1, 0)
FLOAT_KERNELS(BF16, dx_bf16, 8, __m256, ld_bf16, ld_bf16_tail, FMA_PS, 1, 0)

const ops_block_kernel ops_avx2_float_blocks[] = {
    {QT_F32, mb_F32},
    {QT_F16, mb_F16},
    {QT_BF16, mb_BF16},
};
const size_t ops_avx2_float_block_count =
    sizeof ops_avx2_float_blocks / sizeof ops_avx2_float_blocks[0];

const ops_rows_kernel ops_avx2_float_rows[] = {
    {QT_F32, mr_F32},
    {QT_F16, mr_F16},
    {QT_BF16, mr_BF16},
};
const size_t ops_avx2_float_rows_count = sizeof ops_avx2_float_rows / sizeof ops_avx2_float_rows[0];

#endif
