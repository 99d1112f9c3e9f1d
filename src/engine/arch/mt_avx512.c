/*
 * mt_avx512 — matrix-tile dot products for prompt processing: two weight
 * rows against four activation vectors at once (AVX-512 VNNI; this file
 * alone is compiled with the AVX-512 flags). Each weight block is unpacked
 * once for four tokens and each activation block loaded once for two rows,
 * which is where a one-row, one-token vec_dot spends most of its time.
 *
 * The 32-wide formats paired with Q8_0 (Q4_0, Q5_0, Q8_0) are all "unsigned
 * weights u with an offset o": x = u - o, so sum(x*y) = sum(u*y) - o*sum(y),
 * and sum(y) is taken once per token and block for both rows. Held to the
 * scalar vec_dot by tests/unit/test_ops.c.
 */
#include "engine/arch/ops_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high ones. */
static inline __m256i nibbles32(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* The f16 at the start of two blocks, spread: lanes 0-7 the first, 8-15 the second. */
static inline __m512 scales2(const void *p0, const void *p1)
{
    uint16_t a, b;
    memcpy(&a, p0, 2);
    memcpy(&b, p1, 2);
    __m128 v = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, (short)b, (short)a));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(v));
}

static inline __m512i u_q4_0(const block_q4_0 *x, int i)
{
    return join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs));
}

static inline __m512i u_q5_0(const block_q5_0 *x, int i)
{
    uint32_t h0, h1;
    memcpy(&h0, x[i].qh, 4);
    memcpy(&h1, x[i + 1].qh, 4);
    __m512i hb = _mm512_maskz_mov_epi8((__mmask64)h0 | (__mmask64)h1 << 32, _mm512_set1_epi8(16));
    return _mm512_or_si512(join256(nibbles32(x[i].qs), nibbles32(x[i + 1].qs)), hb);
}

static inline __m512i u_q8_0(const block_q8_0 *x, int i)
{
    __m512i q = join256(_mm256_loadu_si256((const __m256i *)x[i].qs),
                        _mm256_loadu_si256((const __m256i *)x[i + 1].qs));
    return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80)); /* x + 128 */
}

/* The one-row dot of one pair for the blocks [i0, nb) left over
 * (an odd last block), added to out[4r + t]. */
static void tail_2x4(enum qtype type, int nb, int i0, const void *w0, const void *w1, const void *a,
                     size_t as, float *out, int nt)
{
    if (i0 >= nb)
        return;
    const quant_traits *wt = quant_get(type);
    const size_t wb = wt->type_size, ab = sizeof(block_q8_0);
    _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
    {
        float v;
        wt->vec_dot((nb - i0) * 32, &v, (const char *)(r ? w1 : w0) + (size_t)i0 * wb,
                    (const char *)a + (size_t)t * as + (size_t)i0 * ab);
        out[4 * r + t] += v;
    }
}

/* Each tile kernel is written once for nt <= 4 tokens (inlined with nt a
 * constant) and given as 2x4, 2x3 and 2x2: the narrower ones do the same sums
 * for fewer tokens, so batched steps of two or three sessions can use them
 * (ops_tile_part). */
#define TILE_WIDTHS(T)                                                                             \
    static void mt_##T##_2x4(int n, const void *w0, const void *w1, const void *a, size_t as,      \
                             float *out)                                                           \
    {                                                                                              \
        mt_##T##_2xT(n, w0, w1, a, as, out, 4);                                                    \
    }                                                                                              \
    static void mt_##T##_2x3(int n, const void *w0, const void *w1, const void *a, size_t as,      \
                             float *out)                                                           \
    {                                                                                              \
        mt_##T##_2xT(n, w0, w1, a, as, out, 3);                                                    \
    }                                                                                              \
    static void mt_##T##_2x2(int n, const void *w0, const void *w1, const void *a, size_t as,      \
                             float *out)                                                           \
    {                                                                                              \
        mt_##T##_2xT(n, w0, w1, a, as, out, 2);                                                    \
    }

#define Q8_FAMILY_2X4(T, BT, UNPACK, SHIFT)                                                        \
    static inline __attribute__((always_inline)) void mt_##T##_2xT(                                \
        int n, const void *w0, const void *w1, const void *a, size_t as, float *out, const int nt) \
    {                                                                                              \
        const BT *x0 = w0, *x1 = w1;                                                               \
        const int nb = n / 32;                                                                     \
        const __m512i ones = _mm512_set1_epi8(1);                                                  \
        __m512 acc[2][4];                                                                          \
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) acc[0][t] = acc[1][t] =               \
            _mm512_setzero_ps();                                                                   \
        int i = 0;                                                                                 \
        for (; i + 2 <= nb; i += 2) {                                                              \
            const __m512i u0 = UNPACK(x0, i), u1 = UNPACK(x1, i);                                  \
            const __m512 d0 = scales2(&x0[i].d, &x0[i + 1].d),                                     \
                         d1 = scales2(&x1[i].d, &x1[i + 1].d);                                     \
            _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)                                   \
            {                                                                                      \
                const block_q8_0 *y = (const block_q8_0 *)((const char *)a + (size_t)t * as);      \
                const __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),           \
                                           _mm256_loadu_si256((const __m256i *)y[i + 1].qs));      \
                const __m512i off = _mm512_sub_epi32(                                              \
                    _mm512_setzero_si512(),                                                        \
                    _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, qy),       \
                                      SHIFT));                                                     \
                const __m512 dy = scales2(&y[i].d, &y[i + 1].d);                                   \
                const __m512i p0 = _mm512_dpbusd_epi32(off, u0, qy);                               \
                const __m512i p1 = _mm512_dpbusd_epi32(off, u1, qy);                               \
                acc[0][t] =                                                                        \
                    _mm512_fmadd_ps(_mm512_mul_ps(d0, dy), _mm512_cvtepi32_ps(p0), acc[0][t]);     \
                acc[1][t] =                                                                        \
                    _mm512_fmadd_ps(_mm512_mul_ps(d1, dy), _mm512_cvtepi32_ps(p1), acc[1][t]);     \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)                                        \
            _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) out[4 * r + t] =                  \
                _mm512_reduce_add_ps(acc[r][t]);                                                   \
        tail_2x4(QT_##T, nb, i, w0, w1, a, as, out, nt);                                           \
    }                                                                                              \
    TILE_WIDTHS(T)

Q8_FAMILY_2X4(Q4_0, block_q4_0, u_q4_0, 3)
Q8_FAMILY_2X4(Q5_0, block_q5_0, u_q5_0, 4)
Q8_FAMILY_2X4(Q8_0, block_q8_0, u_q8_0, 7)

/* Q4_K against Q8_K: per 64-element chunk, the low and high nibbles of 32
 * bytes meet 64 contiguous activations (sub-blocks 2c and 2c+1, lanes 0-7
 * and 8-15), times the 6-bit sub-block scales in int32; the mins term uses
 * the activations' 16-element sums. */
static inline void k4_scales(const uint8_t s[12], uint8_t sc[8], uint8_t mn[8])
{
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    uint32_t v[4] = {w0 & 0x3f3f3f3fu, (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u),
                     w1 & 0x3f3f3f3fu, ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u)};
    memcpy(sc, v, 8);
    memcpy(mn, v + 2, 8);
}

static inline __attribute__((always_inline)) void mt_Q4_K_2xT(int n, const void *w0, const void *w1,
                                                              const void *a, size_t as, float *out,
                                                              const int nt)
{
    const block_q4_K *x[2] = {w0, w1};
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[2][4];
    _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) acc[0][t] = acc[1][t] =
        _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[2][8], mn[2][8];
        __m256i mn32[2];
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        {
            k4_scales(x[r][i].scales, sc[r], mn[r]);
            mn32[r] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn[r]));
        }
        __m512i isum[2][4];
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) isum[0][t] = isum[1][t] =
            _mm512_setzero_si512();
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
        {
            __m512i qq[2], scv[2];
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            {
                __m256i q = _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 32 * c));
                qq[r] = join256(_mm256_and_si256(q, low4),
                                _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
                scv[r] = _mm512_permutexvar_epi32(pick, _mm512_castsi128_si512(_mm_setr_epi32(
                                                            sc[r][2 * c], sc[r][2 * c + 1], 0, 0)));
            }
            _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
            {
                const block_q8_K *y = (const block_q8_K *)((const char *)a + (size_t)t * as) + i;
                const __m512i yv = _mm512_loadu_si512(y->qs + 64 * c);
                _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) isum[r][t] = _mm512_add_epi32(
                    isum[r][t],
                    _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qq[r], yv),
                                       scv[r]));
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
        {
            const block_q8_K *y = (const block_q8_K *)((const char *)a + (size_t)t * as) + i;
            /* sums of 32: bsums pairs */
            const __m256i b16 = _mm256_loadu_si256((const __m256i *)y->bsums);
            const __m256i b32 = _mm256_madd_epi16(b16, _mm256_set1_epi16(1));
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            {
                const float d = y->d * _cvtsh_ss(x[r][i].d), dm = y->d * _cvtsh_ss(x[r][i].dmin);
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum[r][t]), acc[r][t]);
                const __m256i md = _mm256_mullo_epi32(mn32[r], b32);
                acc[r][t] = _mm512_fmadd_ps(
                    _mm512_set1_ps(-dm), _mm512_cvtepi32_ps(_mm512_zextsi256_si512(md)), acc[r][t]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) out[4 * r + t] =
            _mm512_reduce_add_ps(acc[r][t]);
}
TILE_WIDTHS(Q4_K)

/* Q6_K against Q8_K: elements l, l+32 of a 128-element half meet 64
 * contiguous activations, as do l+64, l+96; each vpdpbusd covers four
 * 16-element sub-blocks (four lanes each). The weights are stored +32, taken
 * away with the activations' 16-element sums. */
static inline __attribute__((always_inline)) void mt_Q6_K_2xT(int n, const void *w0, const void *w1,
                                                              const void *a, size_t as, float *out,
                                                              const int nt)
{
    const block_q6_K *x[2] = {w0, w1};
    const __m256i low4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
    __m512 acc[2][4];
    _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) acc[0][t] = acc[1][t] =
        _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sc16[2];
        __m256i scw[2];
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        {
            sc16[r] = _mm_loadu_si128((const __m128i *)x[r][i].scales);
            scw[r] = _mm256_cvtepi8_epi16(sc16[r]);
        }
        __m512i isum[2][4];
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) isum[0][t] = isum[1][t] =
            _mm512_setzero_si512();
        _Pragma("GCC unroll 4") for (int h = 0; h < 2; h++)
        {
            __m512i qq[2][2];
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            {
                const uint8_t *ql = x[r][i].ql + 64 * h;
                __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
                __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                __m256i hb = _mm256_loadu_si256((const __m256i *)(x[r][i].qh + 32 * h));
                __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, low4),
                                             _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
                __m256i q1 = _mm256_or_si256(
                    _mm256_and_si256(l1, low4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
                __m256i q2 = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
                __m256i q3 = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
                qq[r][0] = join256(q0, q1);
                qq[r][1] = join256(q2, q3);
            }
            _Pragma("GCC unroll 4") for (int k = 0; k < 2; k++)
            {
                const int b = 8 * h + 4 * k; /* lanes 4j..4j+3 belong to sub-block b + j */
                const __m128i ctl = _mm_setr_epi8(
                    (char)b, (char)b, (char)b, (char)b, (char)(b + 1), (char)(b + 1), (char)(b + 1),
                    (char)(b + 1), (char)(b + 2), (char)(b + 2), (char)(b + 2), (char)(b + 2),
                    (char)(b + 3), (char)(b + 3), (char)(b + 3), (char)(b + 3));
                const __m512i scv0 = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(sc16[0], ctl));
                const __m512i scv1 = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(sc16[1], ctl));
                _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
                {
                    const block_q8_K *y =
                        (const block_q8_K *)((const char *)a + (size_t)t * as) + i;
                    const __m512i yv = _mm512_loadu_si512(y->qs + 128 * h + 64 * k);
                    isum[0][t] = _mm512_add_epi32(
                        isum[0][t],
                        _mm512_mullo_epi32(
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), qq[0][k], yv), scv0));
                    isum[1][t] = _mm512_add_epi32(
                        isum[1][t],
                        _mm512_mullo_epi32(
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), qq[1][k], yv), scv1));
                }
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
        {
            const block_q8_K *y = (const block_q8_K *)((const char *)a + (size_t)t * as) + i;
            const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            {
                const float d = y->d * _cvtsh_ss(x[r][i].d);
                const __m256i c =
                    _mm256_slli_epi32(_mm256_madd_epi16(scw[r], bs), 5); /* 32 * sc * bsum */
                const __m512i tot = _mm512_sub_epi32(isum[r][t], _mm512_zextsi256_si512(c));
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(tot), acc[r][t]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++) out[4 * r + t] =
            _mm512_reduce_add_ps(acc[r][t]);
}
TILE_WIDTHS(Q6_K)

/* Q4_1 against Q8_1: d_x d_y sum(u y) + m_x s_y per block (s_y = d_y sum(y)). */
static inline __attribute__((always_inline)) void mt_Q4_1_2xT(int n, const void *w0, const void *w1,
                                                              const void *a, size_t as, float *out,
                                                              const int nt)
{
    const block_q4_1 *x[2] = {w0, w1};
    const int nb = n / 32;
    __m512 acc[2][4];
    __m128 ms[2][4];
    _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
    {
        acc[0][t] = acc[1][t] = _mm512_setzero_ps();
        ms[0][t] = ms[1][t] = _mm_setzero_ps();
    }
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i u[2];
        __m128 dm[2];
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        {
            u[r] = join256(nibbles32(x[r][i].qs), nibbles32(x[r][i + 1].qs));
            uint32_t p0, p1;
            memcpy(&p0, &x[r][i].d, 4);
            memcpy(&p1, &x[r][i + 1].d, 4);
            dm[r] = _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)p1, (int)p0)); /* d0 m0 d1 m1 */
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
        {
            const block_q8_1 *y = (const block_q8_1 *)((const char *)a + (size_t)t * as);
            const __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                                       _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
            uint32_t p0, p1;
            memcpy(&p0, &y[i].d, 4);
            memcpy(&p1, &y[i + 1].d, 4);
            const __m128 ds =
                _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)p1, (int)p0)); /* dy0 s0 dy1 s1 */
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            {
                const __m128 prod = _mm_mul_ps(dm[r], ds);
                const __m512 sc = _mm512_permutexvar_ps(
                    _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2),
                    _mm512_castps128_ps512(prod));
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[r], qy);
                acc[r][t] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc[r][t]);
                ms[r][t] = _mm_add_ps(ms[r][t], prod);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
        _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
    {
        float m4[4];
        _mm_storeu_ps(m4, ms[r][t]);
        out[4 * r + t] = _mm512_reduce_add_ps(acc[r][t]) + m4[1] + m4[3];
    }
    if (i < nb) {
        const quant_traits *wt = quant_get(QT_Q4_1);
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            _Pragma("GCC unroll 4") for (int t = 0; t < nt; t++)
        {
            float v;
            wt->vec_dot((nb - i) * 32, &v, x[r] + i,
                        (const block_q8_1 *)((const char *)a + (size_t)t * as) + i);
            out[4 * r + t] += v;
        }
    }
}
TILE_WIDTHS(Q4_1)

/* exact: the tile sums each pair in the order the format's vec_dot and rows
 * kernel do (tests/unit/test_ops.c holds them to it); Q4_K's tile matches its
 * rows kernel but not its vec_dot, Q4_0's neither. */
#define TILES(T)                                                                                   \
    mt_##T##_2x4,                                                                                  \
    {                                                                                              \
        mt_##T##_2x2, mt_##T##_2x3                                                                 \
    }
const ops_tile_kernel ops_avx512_tiles[] = {
    {QT_Q6_K, TILES(Q6_K), true}, {QT_Q4_1, TILES(Q4_1), true}, {QT_Q4_0, TILES(Q4_0), false},
    {QT_Q5_0, TILES(Q5_0), true}, {QT_Q8_0, TILES(Q8_0), true}, {QT_Q4_K, TILES(Q4_K), false},
};
const size_t ops_avx512_tile_count = sizeof ops_avx512_tiles / sizeof ops_avx512_tiles[0];

/* The scales of blocks i and i+1 of four rows (each block starting with its
 * f16 scale) times those of the activation blocks: [r0 i, r0 i+1, r1 i, ...],
 * each product the one scales2(x) * scales2(y) gives, in one conversion. */
#define scales4x2(x, i, y)                                                                         \
    _mm256_mul_ps(                                                                                 \
        _mm256_cvtph_ps(_mm_setr_epi16(                                                            \
            (short)x[0][i].d, (short)x[0][i + 1].d, (short)x[1][i].d, (short)x[1][i + 1].d,        \
            (short)x[2][i].d, (short)x[2][i + 1].d, (short)x[3][i].d, (short)x[3][i + 1].d)),      \
        _mm256_cvtph_ps(_mm_set1_epi32((int)((uint32_t)y[i].d | (uint32_t)y[i + 1].d << 16))))

/* Four rows against one activation vector (decode): the activation block,
 * its sum and its scale are loaded once for the four rows. */
#define Q8_FAMILY_4X1(T, BT, UNPACK, SHIFT)                                                        \
    static void mr_##T##_4x1(int n, const void *w, size_t ws, const void *a, float *out)           \
    {                                                                                              \
        const BT *x[4];                                                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) x[r] =                                 \
            (const BT *)((const char *)w + (size_t)r * ws);                                        \
        const block_q8_0 *y = a;                                                                   \
        const int nb = n / 32;                                                                     \
        const __m512i ones = _mm512_set1_epi8(1);                                                  \
        __m512i pick[4];                                                                           \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) pick[r] =                              \
            _mm512_add_epi32(_mm512_set1_epi32(2 * r),                                             \
                             _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));   \
        __m512 acc[4];                                                                             \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();          \
        int i = 0;                                                                                 \
        for (; i + 2 <= nb; i += 2) {                                                              \
            const __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),               \
                                       _mm256_loadu_si256((const __m256i *)y[i + 1].qs));          \
            const __m512i off = _mm512_sub_epi32(                                                  \
                _mm512_setzero_si512(),                                                            \
                _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, qy), SHIFT));  \
            const __m256 dxy = scales4x2(x, i, y);                                                 \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                    \
            {                                                                                      \
                /* the same place in the next four rows: they follow these in memory */            \
                _mm_prefetch((const char *)(x[r] + i) + 4 * ws, _MM_HINT_T0);                      \
                const __m512i p = _mm512_dpbusd_epi32(off, UNPACK(x[r], i), qy);                   \
                const __m512 d = _mm512_permutexvar_ps(pick[r], _mm512_castps256_ps512(dxy));      \
                acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r]);                        \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                        \
        {                                                                                          \
            out[r] = _mm512_reduce_add_ps(acc[r]);                                                 \
            if (i < nb) {                                                                          \
                float v;                                                                           \
                quant_get(QT_##T)->vec_dot((nb - i) * 32, &v, x[r] + i, y + i);                    \
                out[r] += v;                                                                       \
            }                                                                                      \
        }                                                                                          \
    }

/* Q4_0 has its own: the two blocks' nibbles are unpacked as one 256-bit
 * load [i | i+1] and its shift, so the lanes come out [i lo, i+1 lo, i hi,
 * i+1 hi] (16 bytes each), and the activations are put in that order once
 * for the four rows. */
static void mr_Q4_0_4x1(int n, const void *w, size_t ws, const void *a, float *out)
{
    const block_q4_0 *x[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) x[r] =
        (const block_q4_0 *)((const char *)w + (size_t)r * ws);
    const block_q8_0 *y = a;
    const int nb = n / 32;
    const __m512i ones = _mm512_set1_epi8(1), low4 = _mm512_set1_epi8(0x0f);
    const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    __m512 acc[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qy = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                             _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        qy = _mm512_shuffle_i64x2(qy, qy, _MM_SHUFFLE(3, 1, 2, 0));
        const __m512i off = _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, qy), 3));
        uint16_t hy[2] = {y[i].d, y[i + 1].d};
        uint32_t hy32;
        memcpy(&hy32, hy, 4);
        const __m128 dy = _mm_cvtph_ps(_mm_cvtsi32_si128((int)hy32));
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
        {
            _mm_prefetch((const char *)(x[r] + i) + 4 * ws, _MM_HINT_T0); /* the next four rows */
            const __m256i v =
                _mm256_loadu2_m128i((const __m128i *)x[r][i + 1].qs, (const __m128i *)x[r][i].qs);
            const __m512i u = _mm512_and_si512(join256(v, _mm256_srli_epi16(v, 4)), low4);
            const __m512i p = _mm512_dpbusd_epi32(off, u, qy);
            uint16_t hx[2] = {x[r][i].d, x[r][i + 1].d};
            uint32_t hx32;
            memcpy(&hx32, hx, 4);
            const __m128 dxy = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)hx32)), dy);
            const __m512 d = _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(dxy));
            acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
    {
        out[r] = _mm512_reduce_add_ps(acc[r]);
        if (i < nb) {
            float v;
            quant_get(QT_Q4_0)->vec_dot((nb - i) * 32, &v, x[r] + i, y + i);
            out[r] += v;
        }
    }
}
/* The same bytes as u_q5_0 in fewer instructions: one 256-bit load of both
 * blocks' nibbles, its shift, the 128-bit lanes put back in block order, and
 * the fifth bits added where the mask says (u <= 15, so + 16 is | 16). */
static inline __m512i u_q5_0_r(const block_q5_0 *x, int i)
{
    const __m256i v = _mm256_loadu2_m128i((const __m128i *)x[i + 1].qs, (const __m128i *)x[i].qs);
    __m512i u = join256(v, _mm256_srli_epi16(v, 4)); /* [i lo, i+1 lo, i hi, i+1 hi] */
    u = _mm512_and_si512(_mm512_shuffle_i64x2(u, u, _MM_SHUFFLE(3, 1, 2, 0)),
                         _mm512_set1_epi8(0x0f));
    uint32_t h0, h1;
    memcpy(&h0, x[i].qh, 4);
    memcpy(&h1, x[i + 1].qh, 4);
    return _mm512_mask_add_epi8(u, (__mmask64)h0 | (__mmask64)h1 << 32, u, _mm512_set1_epi8(16));
}
Q8_FAMILY_4X1(Q5_0, block_q5_0, u_q5_0_r, 4)
Q8_FAMILY_4X1(Q8_0, block_q8_0, u_q8_0, 7)

/* Q4_K, four rows against one vector: each 64-byte activation chunk and the
 * block's sums are loaded once for the four rows. A row's eight 6-bit scales
 * are widened to int32 once per block and each chunk picks its two with one
 * permute; |dpbusd| <= 4 * 15 * 128 fits in int16 and the scale's high half
 * is zero, so vpdpwssd gives isum + p * scale exactly (vpmulld is slow). */
static void mr_Q4_K_4x1(int n, const void *w, size_t ws, const void *a, float *out)
{
    const block_q4_K *x[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) x[r] =
        (const block_q4_K *)((const char *)w + (size_t)r * ws);
    const block_q8_K *y = a;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m512i pick[4];
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) pick[c] =
        _mm512_add_epi32(_mm512_set1_epi32(2 * c),
                         _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    __m512 acc[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const __m256i b32 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums),
                                              _mm256_set1_epi16(1));
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
        {
            uint8_t sc[8], mn[8];
            k4_scales(x[r][i].scales, sc, mn);
            uint64_t sc64, mn64;
            memcpy(&sc64, sc, 8);
            memcpy(&mn64, mn, 8);
            const __m512i sc32 =
                _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc64)));
            __m512i isum = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                _mm_prefetch((const char *)(x[r] + i) + 4 * ws + 48 * c,
                             _MM_HINT_T0); /* the next four rows */
                const __m256i q = _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 32 * c));
                const __m512i qq = join256(_mm256_and_si256(q, low4),
                                           _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qq,
                                                      _mm512_loadu_si512(y[i].qs + 64 * c));
                isum = _mm512_dpwssd_epi32(isum, p, _mm512_permutexvar_epi32(pick[c], sc32));
            }
            /* |b32| <= 32 * 128 fits in int16 too */
            const __m256i md =
                _mm256_madd_epi16(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn64)), b32);
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * _cvtsh_ss(x[r][i].d)),
                                     _mm512_cvtepi32_ps(isum), acc[r]);
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(-y[i].d * _cvtsh_ss(x[r][i].dmin)),
                                     _mm512_cvtepi32_ps(_mm512_zextsi256_si512(md)), acc[r]);
        }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

const ops_rows_kernel ops_avx512_rows[] = {
    {QT_Q4_K, mr_Q4_K_4x1},
    {QT_Q4_0, mr_Q4_0_4x1},
    {QT_Q5_0, mr_Q5_0_4x1},
    {QT_Q8_0, mr_Q8_0_4x1},
};
const size_t ops_avx512_rows_count = sizeof ops_avx512_rows / sizeof ops_avx512_rows[0];

#endif
