/*
 * quant_avx2 — AVX2 + FMA + F16C kernels (this file alone is compiled with
 * -mavx2 -mfma -mf16c; quant.c calls into it only when the CPU has them).
 * The integer dot is vpmaddubsw + vpmaddwd; the kernels themselves are in
 * quant_simd_impl.h, shared with the AVX-512 file.
 */
#include "engine/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

static inline __m256i dot4(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

#include "engine/arch/quant_simd_impl.h"

const quant_kernel quant_avx2_kernels[] = {
    {QT_Q8_0, simd_q8_0_from_float, simd_q8_0_vec_dot},
    {QT_Q4_0, NULL, simd_q4_0_vec_dot},
    {QT_Q4_K, NULL, simd_q4_K_vec_dot},
    {QT_Q6_K, NULL, simd_q6_K_vec_dot},
    {QT_Q5_0, NULL, simd_q5_0_vec_dot},
    {QT_Q4_1, NULL, simd_q4_1_vec_dot},
    {QT_Q5_K, NULL, simd_q5_K_vec_dot},
    {QT_Q5_1, NULL, simd_q5_1_vec_dot},
    {QT_Q2_K, NULL, simd_q2_K_vec_dot},
    {QT_Q3_K, NULL, simd_q3_K_vec_dot},
    {QT_F32, NULL, simd_f32_vec_dot},
    {QT_F16, simd_f16_from_float, simd_f16_vec_dot},
    {QT_BF16, simd_bf16_from_float, simd_bf16_vec_dot},
    {QT_Q8_1, simd_q8_1_from_float, NULL},
    {QT_Q8_K, simd_q8_K_from_float, NULL},
};
const size_t quant_avx2_kernel_count = sizeof quant_avx2_kernels / sizeof quant_avx2_kernels[0];
#endif
