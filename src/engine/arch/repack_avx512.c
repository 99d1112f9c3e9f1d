/*
 * repack_avx512 — the repacked Q4_0 and Q8_0 kernels with AVX-512 VNNI (this
 * file alone is compiled with the AVX-512 flags). One zmm lane per row: a
 * 64-byte load of a Q4_0 block's nibbles is sixteen rows times eight
 * columns, its low and high nibbles each meet four broadcast activation bytes
 * in one vpdpbusd; a Q8_0 chunk is sixteen rows times four columns. The
 * integer sum of a block starts from the activations' -8 * sum (times 16
 * for Q8_0's offset of 128), and is
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

#define PF_AHEAD 4096 /* bytes of weights ahead (16 Q4_0 blocks, 8 Q8_0 ones) */

/* Q8 is 0 for Q4_0 (4 chunks of nibbles), 1 for Q8_0 (8 chunks of bytes + 128). */
static inline __attribute__((always_inline)) void tile(int nb, const uint8_t *group, const void *a,
                                                       size_t as, float *out, const int T, const int Q8)
{
    const size_t bb = Q8 ? 512 : 256;
    const uint8_t *sc = group + (size_t)nb * bb;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const rp_act_block *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        y[t] = (const rp_act_block *)((const char *)a + (size_t)t * as);
        acc[t] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = group + (size_t)b * bb;
        if (T <= 2) { /* decode reads each weight once: ask for them ahead of time */
            _Pragma("GCC unroll 8") for (size_t c = 0; c < bb / 64; c++)
                _mm_prefetch((const char *)blk + PF_AHEAD + 64 * c, _MM_HINT_T0);
            _mm_prefetch((const char *)sc + 32 * (size_t)b + PF_AHEAD / (bb / 32), _MM_HINT_T0);
        }
        __m512i is[RP_MAX_TOKENS];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            is[t] = _mm512_set1_epi32(y[t][b].off);
            if (Q8)
                is[t] = _mm512_slli_epi32(is[t], 4); /* -128 * sum */
        }
        if (Q8) {
            _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++) {
                const __m512i q = _mm512_load_si512((const void *)(blk + 64 * c));
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
                    is[t] = _mm512_dpbusd_epi32(is[t], q, bcast4(y[t][b].qs + 4 * c));
            }
        } else {
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
                const __m512i q = _mm512_load_si512((const void *)(blk + 64 * c));
                const __m512i lo = _mm512_and_si512(q, low4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                    is[t] = _mm512_dpbusd_epi32(is[t], lo, bcast4(y[t][b].qs + 4 * c));
                    is[t] = _mm512_dpbusd_epi32(is[t], hi, bcast4(y[t][b].qs + 16 + 4 * c));
                }
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
    static void q4_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        tile(nb, g, a, as, out, T, 0);                                                             \
    }                                                                                              \
    static void q8_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        tile(nb, g, a, as, out, T, 1);                                                             \
    }
TILE_T(1)
TILE_T(2)
TILE_T(3)
TILE_T(4)
TILE_T(5)
TILE_T(6)
TILE_T(7)
TILE_T(8)

typedef void (*tile_t)(int, const uint8_t *, const void *, size_t, float *);

void rp_q4_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok, float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q4_1, q4_2, q4_3, q4_4, q4_5, q4_6, q4_7, q4_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q8_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok, float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q8_1, q8_2, q8_3, q8_4, q8_5, q8_6, q8_7, q8_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

#endif
