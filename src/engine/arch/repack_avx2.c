/*
 * repack_avx2 — the repacked Q4_0, Q5_0 and Q8_0 kernels with AVX2 (no VNNI): each 64-byte
 * chunk of a block is two ymm of eight rows, taken one half of the group at
 * a time. u8 x s8 products are summed in pairs by vpmaddubsw into int16 (a
 * Q4_0 block's eight pair sums per lane stay within 8 * 2 * 15 * 127 < 32767)
 * and widened to int32 once per block (per chunk for Q5_0). Up to four tokens
 * share each load.
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
#define PF_AHEAD 4096 /* bytes of weights ahead (16 Q4_0 blocks, 8 Q8_0 ones) */

/* Q8_0 (stored + 128): the signed weights' magnitudes meet the activations
 * with the weights' signs (vpsignb), so vpmaddubsw's pair sums stay within
 * 2 * 128 * 127 and no offset is needed; widened to int32 per chunk. With
 * one or two tokens (decode) both halves of the group go in one pass, so
 * each cache line is read once. */
static inline __attribute__((always_inline)) void tile8(int nb, const uint8_t *group, const void *a,
                                                        size_t as, float *out, const int T)
{
    const int HS = T <= 2 ? 2 : 1; /* halves per pass */
    const uint8_t *sc = group + (size_t)nb * 512;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    const rp_act_block *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] =
        (const rp_act_block *)((const char *)a + (size_t)t * as);
    for (int h0 = 0; h0 < 2; h0 += HS) {
        __m256 acc[2][AVX2_MAX_T];
        _Pragma("GCC unroll 2") for (int hh = 0; hh < HS; hh++)
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[hh][t] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            if (T <= 2) { /* decode: ask for the weights ahead of time */
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++) _mm_prefetch(
                    (const char *)group + (size_t)b * 512 + PF_AHEAD + 64 * c, _MM_HINT_T0);
                _mm_prefetch((const char *)sc + 32 * (size_t)b + PF_AHEAD / 16, _MM_HINT_T0);
            }
            _Pragma("GCC unroll 2") for (int hh = 0; hh < HS; hh++)
            {
                const int h = h0 + hh;
                const uint8_t *blk = group + (size_t)b * 512 + 32 * h;
                __m256i is[AVX2_MAX_T];
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) is[t] = _mm256_setzero_si256();
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)
                {
                    const __m256i w =
                        _mm256_xor_si256(_mm256_load_si256((const __m256i *)(blk + 64 * c)), flip);
                    const __m256i aw = _mm256_sign_epi8(w, w);
                    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                    {
                        const __m256i p = _mm256_maddubs_epi16(
                            aw, _mm256_sign_epi8(bcast4(y[t][b].qs + 4 * c), w));
                        is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(p, ones));
                    }
                }
                const __m256 dw = _mm256_cvtph_ps(
                    _mm_load_si128((const __m128i *)(sc + 32 * (size_t)b + 16 * h)));
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[hh][t] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]),
                                    _mm256_mul_ps(dw, _mm256_set1_ps(y[t][b].d)), acc[hh][t]);
            }
        }
        _Pragma("GCC unroll 2") for (int hh = 0; hh < HS; hh++)
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                _mm256_storeu_ps(out + RP_ROWS * t + 8 * (h0 + hh), acc[hh][t]);
    }
}

/* A 32-bit mask -> 32 bytes: 16 where its bit is set, else 0. */
static inline __m256i bits16(const uint8_t *p)
{
    uint32_t m;
    memcpy(&m, p, 4);
    const __m256i spread =
        _mm256_shuffle_epi8(_mm256_set1_epi32((int)m),
                            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                             2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel),
                            _mm256_set1_epi8(16));
}

/* Q4_0, and with Q5 Q5_0: Q4_0's nibbles plus 16 where the fifth-bit masks
 * say (bits 32h..32h+31 of each mask are this half's eight rows). Q5_0's pair
 * sums reach 2 * 31 * 128, so they are widened to int32 per chunk; Q4_0's
 * stay in int16 for the block. */
static inline __attribute__((always_inline)) void
tile(int nb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int Q5)
{
    const size_t bb = Q5 ? 320 : 256;
    const uint8_t *sc = group + (size_t)nb * bb;
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const rp_act_block *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] =
        (const rp_act_block *)((const char *)a + (size_t)t * as);
    for (int h = 0; h < 2; h++) {
        __m256 acc[AVX2_MAX_T];
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = group + (size_t)b * bb;
            if (T <= 2 && h == 0) { /* decode: the first pass brings the group in from memory */
                _Pragma("GCC unroll 5") for (size_t c = 0; c < bb / 64; c++)
                    _mm_prefetch((const char *)blk + PF_AHEAD + 64 * c, _MM_HINT_T0);
                _mm_prefetch((const char *)sc + 32 * (size_t)b + PF_AHEAD / (bb / 32), _MM_HINT_T0);
            }
            __m256i is[AVX2_MAX_T], s16[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            {
                is[t] = _mm256_set1_epi32(Q5 ? 2 * y[t][b].off : y[t][b].off);
                s16[t] = _mm256_setzero_si256();
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                const __m256i q = _mm256_load_si256((const __m256i *)(blk + 64 * c + 32 * h));
                __m256i lo = _mm256_and_si256(q, low4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                if (Q5) {
                    lo = _mm256_or_si256(lo, bits16(blk + 256 + 16 * c + 4 * h));
                    hi = _mm256_or_si256(hi, bits16(blk + 256 + 16 * c + 8 + 4 * h));
                }
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                {
                    const __m256i p =
                        _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(y[t][b].qs + 4 * c)),
                                         _mm256_maddubs_epi16(hi, bcast4(y[t][b].qs + 16 + 4 * c)));
                    if (Q5)
                        is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(p, ones));
                    else
                        s16[t] = _mm256_add_epi16(s16[t], p);
                }
            }
            const __m256 dw =
                _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + 32 * (size_t)b + 16 * h)));
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            {
                if (!Q5)
                    is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(s16[t], ones));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]),
                                         _mm256_mul_ps(dw, _mm256_set1_ps(y[t][b].d)), acc[t]);
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            _mm256_storeu_ps(out + RP_ROWS * t + 8 * h, acc[t]);
    }
}

#define TILE_T(T)                                                                                  \
    static void tile5_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)          \
    {                                                                                              \
        tile(nb, g, a, as, out, T, 1);                                                             \
    }                                                                                              \
    static void tile_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)           \
    {                                                                                              \
        tile(nb, g, a, as, out, T, 0);                                                             \
    }                                                                                              \
    static void tile8_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)          \
    {                                                                                              \
        tile8(nb, g, a, as, out, T);                                                               \
    }
TILE_T(1)
TILE_T(2)
TILE_T(3)
TILE_T(4)

typedef void (*tile_t)(int, const uint8_t *, const void *, size_t, float *);

static void tiles(const tile_t *fn, int nb, const uint8_t *group, const void *a, size_t a_stride,
                  int n_tok, float *out)
{
    for (int t = 0; t < n_tok; t += AVX2_MAX_T) {
        const int k = n_tok - t < AVX2_MAX_T ? n_tok - t : AVX2_MAX_T;
        fn[k - 1](nb, group, (const char *)a + (size_t)t * a_stride, a_stride, out + RP_ROWS * t);
    }
}

void rp_q4_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {tile_1, tile_2, tile_3, tile_4};
    tiles(fn, nb, group, a, a_stride, n_tok, out);
}

void rp_q5_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {tile5_1, tile5_2, tile5_3, tile5_4};
    tiles(fn, nb, group, a, a_stride, n_tok, out);
}

void rp_q8_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {tile8_1, tile8_2, tile8_3, tile8_4};
    tiles(fn, nb, group, a, a_stride, n_tok, out);
}

#endif
