/*
 * mt_float_avx512 — the matrix kernels for unquantized weights (F32, F16,
 * BF16) at AVX-512 (this file alone is compiled with the AVX-512 flags);
 * the kernels themselves are in mt_float_impl.h. Tiles are six rows by four
 * tokens: 24 zmm sums, four activation vectors and a weight vector in the
 * 32 registers.
 *
 * The activations are in the weights' vec_dot_type, as for vec_dot: F32 for
 * F32 weights; F16 for F16, both widened with vcvtph2ps and multiplied in
 * f32; BF16 for BF16, multiplied by vdpbf16ps (pairs of products added in
 * f32, bf16 denormals taken as zero). The last partial vector of a row is
 * read with a masked load. Held to the scalar vec_dot by tests/unit/test_ops.c.
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define ACC __m512
#define ACC_ZERO() _mm512_setzero_ps()
#define REDUCE(acc) _mm512_reduce_add_ps(acc)
#define MAX_RM 6
#define ALL_CASES(NAME)                                                                            \
    CASES_RM(NAME, 1)                                                                              \
    CASES_RM(NAME, 2) CASES_RM(NAME, 3) CASES_RM(NAME, 4) CASES_RM(NAME, 5) CASES_RM(NAME, 6)

#include "engine/arch/mt_float_impl.h"

/* k lanes' worth of elements at p (k <= 16 for F32/F16, 32 for BF16), the rest zero */
#define MASK(k) ((1ull << (k)) - 1)
#define LD_F32(p) _mm512_loadu_ps(p)
#define LD_F32_TAIL(p, k) _mm512_maskz_loadu_ps((__mmask16)MASK(k), p)
#define LD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LD_F16_TAIL(p, k) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)MASK(k), p))
#define LD_BF16(p) ((__m512bh)_mm512_loadu_si512(p))
#define LD_BF16_TAIL(p, k) ((__m512bh)_mm512_maskz_loadu_epi16((__mmask32)MASK(k), p))
#define FMA_PS(acc, x, y) _mm512_fmadd_ps(x, y, acc)
#define FMA_BF16(acc, x, y) _mm512_dpbf16_ps(acc, x, y)

/* F32 decode reads a whole line of each of its four rows per step, and the
 * hardware's streamers keep up with that alone: a software prefetch cost
 * 10% there (one thread, a 512 MiB matrix of 896-float rows, 13.2-13.7
 * against 15.1-15.5 GB/s on the Xeon), while F16 (half a line per row per
 * step) needs it (tg64 13-15 tok/s without, 18-21 with, Qwen2.5-0.5B shape).
 * BF16 is not measured and keeps the prefetch. */
FLOAT_KERNELS(F32, float, 16, __m512, LD_F32, LD_F32_TAIL, FMA_PS, 0, 1024)
FLOAT_KERNELS(F16, dx_f16, 16, __m512, LD_F16, LD_F16_TAIL, FMA_PS, 1, 0)
FLOAT_KERNELS(BF16, dx_bf16, 32, __m512bh, LD_BF16, LD_BF16_TAIL, FMA_BF16, 1, 0)

const ops_block_kernel ops_avx512_float_blocks[] = {
    {QT_F32, mb_F32},
    {QT_F16, mb_F16},
    {QT_BF16, mb_BF16},
};
const size_t ops_avx512_float_block_count =
    sizeof ops_avx512_float_blocks / sizeof ops_avx512_float_blocks[0];

const ops_rows_kernel ops_avx512_float_rows[] = {
    {QT_F32, mr_F32},
    {QT_F16, mr_F16},
    {QT_BF16, mr_BF16},
};
const size_t ops_avx512_float_rows_count =
    sizeof ops_avx512_float_rows / sizeof ops_avx512_float_rows[0];

#endif
