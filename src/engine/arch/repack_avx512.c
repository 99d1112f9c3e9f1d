/*
 * repack_avx512 — the repacked Q4_0, Q5_0 and Q8_0 kernels with AVX-512 VNNI
 * (this file alone is compiled with the AVX-512 flags). One zmm lane per row:
 * a 64-byte load of a Q4_0 block's nibbles is sixteen rows times eight
 * columns, its low and high nibbles each meet four broadcast activation bytes
 * in one vpdpbusd; Q5_0 adds 16 to the nibbles its two 64-bit masks select
 * (one masked byte add each); a Q8_0 chunk is sixteen rows times four
 * columns. The integer sum of a block starts from the activations' -8 * sum
 * (times 2 for Q5_0's offset of 16, 16 for Q8_0's 128), and is
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

enum {
    Q4,
    Q5,
    Q8
}; /* 4 chunks of nibbles; the same and 64 bytes of fifth bits; 8 chunks of bytes + 128 */

static inline __attribute__((always_inline)) void
tile(int nb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int F)
{
    const size_t bb = F == Q8 ? 512 : F == Q5 ? 320 : 256;
    const uint8_t *sc = group + (size_t)nb * bb;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const rp_act_block *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
    {
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
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            is[t] = _mm512_set1_epi32(y[t][b].off);
            if (F == Q8)
                is[t] = _mm512_slli_epi32(is[t], 4); /* -128 * sum */
            else if (F == Q5)
                is[t] = _mm512_slli_epi32(is[t], 1); /* -16 * sum */
        }
        if (F == Q8) {
            _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)
            {
                const __m512i q = _mm512_load_si512((const void *)(blk + 64 * c));
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) is[t] =
                    _mm512_dpbusd_epi32(is[t], q, bcast4(y[t][b].qs + 4 * c));
            }
        } else {
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                const __m512i q = _mm512_load_si512((const void *)(blk + 64 * c));
                __m512i lo = _mm512_and_si512(q, low4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
                if (F == Q5) {
                    uint64_t m[2];
                    memcpy(m, blk + 256 + 16 * c, 16);
                    lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(m[0]), lo, _mm512_set1_epi8(16));
                    hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(m[1]), hi, _mm512_set1_epi8(16));
                }
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
                {
                    is[t] = _mm512_dpbusd_epi32(is[t], lo, bcast4(y[t][b].qs + 4 * c));
                    is[t] = _mm512_dpbusd_epi32(is[t], hi, bcast4(y[t][b].qs + 16 + 4 * c));
                }
            }
        }
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + 32 * (size_t)b)));
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) acc[t] = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(is[t]), _mm512_mul_ps(dw, _mm512_set1_ps(y[t][b].d)), acc[t]);
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm512_storeu_ps(out + RP_ROWS * t, acc[t]);
}

#define TILE_T(T)                                                                                  \
    static void q4_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)             \
    {                                                                                              \
        tile(nb, g, a, as, out, T, Q4);                                                            \
    }                                                                                              \
    static void q5_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)             \
    {                                                                                              \
        tile(nb, g, a, as, out, T, Q5);                                                            \
    }                                                                                              \
    static void q8_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)             \
    {                                                                                              \
        tile(nb, g, a, as, out, T, Q8);                                                            \
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

void rp_q4_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q4_1, q4_2, q4_3, q4_4, q4_5, q4_6, q4_7, q4_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q5_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q5_1, q5_2, q5_3, q5_4, q5_5, q5_6, q5_7, q5_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q8_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q8_1, q8_2, q8_3, q8_4, q8_5, q8_6, q8_7, q8_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

#endif
