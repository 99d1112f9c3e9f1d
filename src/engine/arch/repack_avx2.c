/*
 * repack_avx2 — the repacked Q4_0 kernel with AVX2 (no VNNI): each 64-byte
 * chunk of a block is two ymm of eight rows, taken one half of the group at
 * a time. u8 x s8 products are summed in pairs by vpmaddubsw into int16 (a
 * block's eight pair sums per lane stay within 8 * 2 * 15 * 127 < 32767) and
 * widened to int32 once per block. Up to four tokens share each load.
 */
#include "engine/arch/repack_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

#define AVX2_MAX_T 4

static inline __attribute__((always_inline)) void tile(int nb, const uint8_t *group, const void *a,
                                                       size_t as, float *out, const int T)
{
    const uint8_t *sc = group + (size_t)nb * 256;
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const rp_act_block *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] = (const rp_act_block *)((const char *)a + (size_t)t * as);
    for (int h = 0; h < 2; h++) {
        __m256 acc[AVX2_MAX_T];
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = group + (size_t)b * 256 + 32 * h;
            __m256i s16[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) s16[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
                const __m256i q = _mm256_load_si256((const __m256i *)(blk + 64 * c));
                const __m256i lo = _mm256_and_si256(q, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
                    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(y[t][b].qs + 4 * c)),
                                                       _mm256_maddubs_epi16(hi, bcast4(y[t][b].qs + 16 + 4 * c)));
                    s16[t] = _mm256_add_epi16(s16[t], p);
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + 32 * (size_t)b + 16 * h)));
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
                const __m256i is = _mm256_add_epi32(_mm256_madd_epi16(s16[t], ones), _mm256_set1_epi32(y[t][b].off));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(dw, _mm256_set1_ps(y[t][b].d)), acc[t]);
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) _mm256_storeu_ps(out + RP_ROWS * t + 8 * h, acc[t]);
    }
}

#define TILE_T(T)                                                                                  \
    static void tile_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)          \
    {                                                                                              \
        tile(nb, g, a, as, out, T);                                                                \
    }
TILE_T(1)
TILE_T(2)
TILE_T(3)
TILE_T(4)

void rp_q4_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok, float *out)
{
    static void (*const fn[AVX2_MAX_T])(int, const uint8_t *, const void *, size_t, float *) = {
        tile_1, tile_2, tile_3, tile_4};
    for (int t = 0; t < n_tok; t += AVX2_MAX_T) {
        const int k = n_tok - t < AVX2_MAX_T ? n_tok - t : AVX2_MAX_T;
        fn[k - 1](nb, group, (const char *)a + (size_t)t * a_stride, a_stride, out + RP_ROWS * t);
    }
}

#endif
