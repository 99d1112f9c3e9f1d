/*
 * repack_avx512 — the repacked Q4_0 kernel with AVX-512 VNNI (this file alone
 * is compiled with the AVX-512 flags). One zmm lane per row: a 64-byte load
 * of a block's nibbles is sixteen rows times eight columns; its low and high
 * nibbles each meet four broadcast activation bytes in one vpdpbusd. The
 * integer sum of a block starts from the activations' -8 * sum, and is
 * scaled by d_w * d_a into a float accumulator per token. Up to eight
 * tokens share each unpacked block, all accumulators in registers.
 */
#include "engine/arch/repack_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

#define PF_AHEAD 4096 /* bytes of nibbles ahead (sixteen blocks) */

static inline __attribute__((always_inline)) void tile(int nb, const uint8_t *group, const void *a,
                                                       size_t as, float *out, const int T)
{
    const uint8_t *sc = group + (size_t)nb * 256;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const rp_act_block *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        y[t] = (const rp_act_block *)((const char *)a + (size_t)t * as);
        acc[t] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = group + (size_t)b * 256;
        if (T <= 2) { /* decode reads each weight once: ask for them ahead of time */
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                _mm_prefetch((const char *)blk + PF_AHEAD + 64 * c, _MM_HINT_T0);
            _mm_prefetch((const char *)sc + 32 * (size_t)b + PF_AHEAD / 8, _MM_HINT_T0);
        }
        __m512i is[RP_MAX_TOKENS];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) is[t] = _mm512_set1_epi32(y[t][b].off);
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            const __m512i q = _mm512_load_si512((const void *)(blk + 64 * c));
            const __m512i lo = _mm512_and_si512(q, low4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                is[t] = _mm512_dpbusd_epi32(is[t], lo, bcast4(y[t][b].qs + 4 * c));
                is[t] = _mm512_dpbusd_epi32(is[t], hi, bcast4(y[t][b].qs + 16 + 4 * c));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + 32 * (size_t)b)));
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[t]), _mm512_mul_ps(dw, _mm512_set1_ps(y[t][b].d)),
                                     acc[t]);
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm512_storeu_ps(out + RP_ROWS * t, acc[t]);
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
TILE_T(5)
TILE_T(6)
TILE_T(7)
TILE_T(8)

void rp_q4_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok, float *out)
{
    static void (*const fn[RP_MAX_TOKENS])(int, const uint8_t *, const void *, size_t, float *) = {
        tile_1, tile_2, tile_3, tile_4, tile_5, tile_6, tile_7, tile_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

#endif
