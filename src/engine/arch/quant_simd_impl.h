/*
 * quant_simd_impl — 256-bit integer kernels shared by the AVX2 and AVX-512
 * files. Included (once) by quant_avx2.c and quant_avx512.c, which first
 * define the two integer dot primitives for their instruction set:
 *
 *     static inline __m256i dot4(__m256i u, __m256i s);
 *         8 int32: sum over each group of 4 bytes of u8(u) * s8(s)
 *
 * (AVX2: maddubs + madd; AVX-512: vpdpbusd). The K-quants, which scale
 * each sub-block, use maddubs + madd at both levels (dot4_scv below): the
 * scales ride in vpmaddwd for free. Everything here is static, so each file
 * gets its own copy compiled with its own flags. Products stay inside int16
 * for maddubs: unsigned operands are at most 128 and signed ones at least
 * -127 (the activation quantizers never produce -128).
 *
 * Blocks are summed in a different order from the scalar kernels, so results
 * agree with them to float rounding, not bit for bit; the activation
 * quantizers agree bit for bit for finite inputs.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/arch/quant_arch.h"

/* A file may replace some of these with wider versions of its own. */
#define SIMD_KERNEL static __attribute__((unused))

static inline float h2f(dx_f16 h)
{
    return _cvtsh_ss(h);
}

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high ones. */
static inline __m256i nibbles32(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* The 32 bits of qh (little-endian) -> 32 bytes, 0x10 where the bit is set. */
static inline __m256i qh_bits32(const uint8_t *qh)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    /* byte j takes byte j / 8 of h, then keeps bit j % 8 of it */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                            2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* u8 x s8 products summed in fours, times int16 scales: vpmaddwd pairs the
 * sixteen products-of-two with scv's sixteen int16 lanes, so scv's low half
 * scales the first 16 bytes and its high half the last 16. */
static inline __m256i dot4_scv(__m256i u, __m256i s, __m256i scv)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scv);
}

/* vpshufb controls that pick int16 scales out of eight (held in both
 * halves): scale_same[j] puts scale j in every lane; scale_pair[p] puts
 * scale 2p in the low half and 2p + 1 in the high one. */
#define CTL_W(a) (a), (a) + 1
#define CTL_8W(a) CTL_W(a), CTL_W(a), CTL_W(a), CTL_W(a), CTL_W(a), CTL_W(a), CTL_W(a), CTL_W(a)
static const uint8_t scale_same[8][32] = {
    {CTL_8W(0), CTL_8W(0)},   {CTL_8W(2), CTL_8W(2)},   {CTL_8W(4), CTL_8W(4)},
    {CTL_8W(6), CTL_8W(6)},   {CTL_8W(8), CTL_8W(8)},   {CTL_8W(10), CTL_8W(10)},
    {CTL_8W(12), CTL_8W(12)}, {CTL_8W(14), CTL_8W(14)},
};
static const uint8_t scale_pair[4][32] = {
    {CTL_8W(0), CTL_8W(2)},
    {CTL_8W(4), CTL_8W(6)},
    {CTL_8W(8), CTL_8W(10)},
    {CTL_8W(12), CTL_8W(14)},
};
#undef CTL_8W
#undef CTL_W

static inline __m256i scale_pick(__m256i scales, const uint8_t ctl[32])
{
    return _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)ctl));
}

/* Eight scales as int16 in both halves, from eight unsigned / signed bytes. */
static inline __m256i scales_u8(__m128i b)
{
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(b));
}
static inline __m256i scales_i8(__m128i b)
{
    return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(b));
}

/* [d_x * d_y, m_x * s_y] from the first four bytes of a Q4_1/Q5_1 block
 * (d, m) and of a Q8_1 block (d, s). */
static inline __m128 dm_pair(const void *x, const void *y)
{
    uint32_t u, v;
    memcpy(&u, x, 4);
    memcpy(&v, y, 4);
    return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)u)),
                      _mm_cvtph_ps(_mm_cvtsi32_si128((int)v)));
}

/* Signed x times signed y, 8 int32 sums of 4: |x| as unsigned, y given x's sign. */
static inline __m256i dot4_ss(__m256i x, __m256i y)
{
    return dot4(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
}

/* ----------------------------------------------------- 32-wide formats */

/* The first four bytes of two blocks (a half pair, or a half and whatever
 * follows it) as floats [a0, b0, a1, b1]. */
static inline __m128 halves2x2(const void *p0, const void *p1)
{
    uint32_t u0, u1;
    memcpy(&u0, p0, 4);
    memcpy(&u1, p1, 4);
    return _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)u1, (int)u0));
}

/* sum(x * y) of one block paired with Q8_0, as 8 int32 partial sums */
static inline __m256i q8_0_isum(const block_q8_0 *x, const block_q8_0 *y)
{
    return dot4_ss(_mm256_loadu_si256((const __m256i *)x->qs),
                   _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i q4_0_isum(const block_q4_0 *x, const block_q8_0 *y)
{
    __m256i qx = _mm256_sub_epi8(nibbles32(x->qs), _mm256_set1_epi8(8));
    return dot4_ss(qx, _mm256_loadu_si256((const __m256i *)y->qs));
}

static inline __m256i q5_0_isum(const block_q5_0 *x, const block_q8_0 *y)
{
    __m256i q = _mm256_or_si256(nibbles32(x->qs), qh_bits32(x->qh));
    __m256i qx = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    return dot4_ss(qx, _mm256_loadu_si256((const __m256i *)y->qs));
}

/* The formats paired with Q8_0 take two blocks per step, so that one
 * conversion serves both blocks' scales (lanes 0 and 2 of d). */
#define Q8_0_PAIRED_KERNEL(T)                                                                      \
    SIMD_KERNEL void simd_##T##_vec_dot(int n, float *s, const void *w, const void *a)             \
    {                                                                                              \
        const block_##T *x = w;                                                                    \
        const block_q8_0 *y = a;                                                                   \
        int nb = n / QK8_0, i = 0;                                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        for (; i + 2 <= nb; i += 2) {                                                              \
            __m128 d =                                                                             \
                _mm_mul_ps(halves2x2(&x[i].d, &x[i + 1].d), halves2x2(&y[i].d, &y[i + 1].d));      \
            __m256 d1 = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d), _mm256_set1_epi32(2)); \
            acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(d),                                       \
                                   _mm256_cvtepi32_ps(T##_isum(&x[i], &y[i])), acc0);              \
            acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(T##_isum(&x[i + 1], &y[i + 1])), acc1);  \
        }                                                                                          \
        if (i < nb) {                                                                              \
            __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));                                  \
            acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(T##_isum(&x[i], &y[i])), acc0);           \
        }                                                                                          \
        *s = hsum8(_mm256_add_ps(acc0, acc1));                                                     \
    }

Q8_0_PAIRED_KERNEL(q8_0)
Q8_0_PAIRED_KERNEL(q4_0)
Q8_0_PAIRED_KERNEL(q5_0)

SIMD_KERNEL void simd_q4_1_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_1 *x = w;
    const block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    __m128 ms = _mm_setzero_ps(); /* lane 1 sums m * s */
    for (int i = 0; i < n / QK4_1; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m128 dm = dm_pair(&x[i].d, &y[i].d);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm),
                              _mm256_cvtepi32_ps(dot4(nibbles32(x[i].qs), qy)), acc);
        ms = _mm_add_ps(ms, dm);
    }
    *s = hsum8(acc) + _mm_cvtss_f32(_mm_movehdup_ps(ms));
}

SIMD_KERNEL void simd_q5_1_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q5_1 *x = w;
    const block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    __m128 ms = _mm_setzero_ps(); /* lane 1 sums m * s */
    for (int i = 0; i < n / QK5_1; i++) {
        __m256i q = _mm256_or_si256(nibbles32(x[i].qs), qh_bits32(x[i].qh));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m128 dm = dm_pair(&x[i].d, &y[i].d);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(dot4(q, qy)), acc);
        ms = _mm_add_ps(ms, dm);
    }
    *s = hsum8(acc) + _mm_cvtss_f32(_mm_movehdup_ps(ms));
}

/* --------------------------------------------------------------- K-quants */

/* The eight 6-bit scales and eight 6-bit mins of a Q4_K/Q5_K block, as
 * bytes, unpacked a 32-bit word (four sub-blocks) at a time. */
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

/* sum over j of mn[j] * (bsums[2j] + bsums[2j+1]) */
static inline int k4_min_dot(const uint8_t mn[8], const int16_t bsums[16])
{
    __m128i m = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                                   _mm_loadu_si128((const __m128i *)(bsums + 8)));
    __m128i p = _mm_madd_epi16(pairs, m);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(p);
}

SIMD_KERNEL void simd_q4_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.f;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        __m256i scs = scales_u8(_mm_loadl_epi64((const __m128i *)sc));
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            __m256i lo = _mm256_and_si256(q, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            isum = _mm256_add_epi32(isum, dot4_scv(lo, y0, scale_pick(scs, scale_same[2 * c])));
            isum = _mm256_add_epi32(isum, dot4_scv(hi, y1, scale_pick(scs, scale_same[2 * c + 1])));
        }
        float d = y[i].d * h2f(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        mins += y[i].d * h2f(x[i].dmin) * (float)k4_min_dot(mn, y[i].bsums);
    }
    *s = hsum8(acc) - mins;
}

SIMD_KERNEL void simd_q5_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.f;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        __m256i scs = scales_u8(_mm_loadl_epi64((const __m128i *)sc));
        __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
            __m256i h1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), _mm256_slli_epi16(h0, 4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                         _mm256_slli_epi16(h1, 4));
            isum = _mm256_add_epi32(isum, dot4_scv(lo, y0, scale_pick(scs, scale_same[2 * c])));
            isum = _mm256_add_epi32(isum, dot4_scv(hi, y1, scale_pick(scs, scale_same[2 * c + 1])));
        }
        float d = y[i].d * h2f(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        mins += y[i].d * h2f(x[i].dmin) * (float)k4_min_dot(mn, y[i].bsums);
    }
    *s = hsum8(acc) - mins;
}

/* Q6_K values are stored as q + 32 (0..63): dot the stored values, then take
 * 32 * sum(sc_j * bsums_j) away. */
SIMD_KERNEL void simd_q6_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const __m256i low4 = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(3);
    float sum = 0.f;
    for (int i = 0; i < n / QK_K; i++) {
        const int8_t *sc = x[i].scales;
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            const int8_t *qy = y[i].qs + 128 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(hb, two), 4));
            q[1] = _mm256_or_si256(
                _mm256_and_si256(l1, low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4));
            q[2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4));
            q[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4));
            __m128i sc16 = _mm_loadu_si128((const __m128i *)sc);
            __m256i scs = scales_i8(h ? _mm_srli_si128(sc16, 8) : sc16);
            for (int k = 0; k < 4; k++) {
                __m256i yv = _mm256_loadu_si256((const __m256i *)(qy + 32 * k));
                isum = _mm256_add_epi32(isum, dot4_scv(q[k], yv, scale_pick(scs, scale_pair[k])));
            }
        }
        __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        int c = hsum8i(_mm256_madd_epi16(scv, _mm256_loadu_si256((const __m256i *)y[i].bsums)));
        /* the offset comes off in integers: taken off the float sums, it cancelled most of
         * them (a random model moved its logits by 0.25 from the scalar vec_dot's) */
        sum += y[i].d * h2f(x[i].d) * (float)(hsum8i(isum) - 32 * c);
    }
    *s = sum;
}

/* Q2_K: 2-bit values, 4-bit scale and min per 16 elements. */
SIMD_KERNEL void simd_q2_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    const __m256i three = _mm256_set1_epi8(3);
    float sum = 0.f;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *sc = x[i].scales;
        __m256i isum = _mm256_setzero_si256();
        __m128i s8 = _mm_loadu_si128((const __m128i *)sc);
        __m128i lo4 = _mm_and_si128(s8, _mm_set1_epi8(0x0f));
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            __m256i scs = scales_u8(h ? _mm_srli_si128(lo4, 8) : lo4);
            for (int k = 0; k < 4; k++) {
                __m256i v = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k)), three);
                __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, dot4_scv(v, yv, scale_pick(scs, scale_pair[k])));
            }
        }
        __m256i mn =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0f)));
        int m = hsum8i(_mm256_madd_epi16(mn, _mm256_loadu_si256((const __m256i *)y[i].bsums)));
        /* vec_dot's steps, so the same bits as the scalar kernel and the repacked ones */
        sum += y[i].d * h2f(x[i].d) * (float)hsum8i(isum) - y[i].d * h2f(x[i].dmin) * (float)m;
    }
    *s = sum;
}

/* Q3_K: values are taken as q + 4 (0..7, unsigned), then 4 * sum(sc_j *
 * bsums_j) is taken away. */
SIMD_KERNEL void simd_q3_K_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    float sum = 0.f;
    for (int i = 0; i < n / QK_K; i++) {
        /* sixteen 6-bit scales, four at a time: low nibbles from bytes 0-7,
         * top two bits from bytes 8-11 (bits 0-1 for scales 0-3, 2-3 for
         * 4-7, 4-5 for 8-11, 6-7 for 12-15) */
        uint32_t w0, w1, w2;
        memcpy(&w0, x[i].scales, 4);
        memcpy(&w1, x[i].scales + 4, 4);
        memcpy(&w2, x[i].scales + 8, 4);
        uint32_t u[4] = {(w0 & 0x0f0f0f0fu) | ((w2 << 4) & 0x30303030u),
                         (w1 & 0x0f0f0f0fu) | ((w2 << 2) & 0x30303030u),
                         ((w0 >> 4) & 0x0f0f0f0fu) | (w2 & 0x30303030u),
                         ((w1 >> 4) & 0x0f0f0f0fu) | ((w2 >> 2) & 0x30303030u)};
        __m128i sc16 = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)u), _mm_set1_epi8(32));
        __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            __m256i scs = scales_i8(h ? _mm_srli_si128(sc16, 8) : sc16);
            for (int k = 0; k < 4; k++) {
                __m256i lo = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k)), three);
                __m256i hi =
                    _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * h + k)), one);
                __m256i v = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
                __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, dot4_scv(v, yv, scale_pick(scs, scale_pair[k])));
            }
        }
        __m256i scv = _mm256_cvtepi8_epi16(sc16);
        int c = hsum8i(_mm256_madd_epi16(scv, _mm256_loadu_si256((const __m256i *)y[i].bsums)));
        /* the offset comes off in integers: taken off the float sums, it cancelled most of
         * them (a random model moved its logits by 0.25 from the scalar vec_dot's) */
        sum += y[i].d * h2f(x[i].d) * (float)(hsum8i(isum) - 4 * c);
    }
    *s = sum;
}

/* ------------------------------------------------------------ float rows */

SIMD_KERNEL void simd_f32_vec_dot(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                                     acc[k]);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

SIMD_KERNEL void simd_f16_vec_dot(int n, float *s, const void *w, const void *a)
{
    const dx_f16 *x = w, *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            __m256 vy = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(vx, vy, acc[k]);
        }
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += h2f(x[i]) * h2f(y[i]);
    *s = sum;
}

static inline __m256 bf16x8(const dx_bf16 *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

SIMD_KERNEL void simd_bf16_vec_dot(int n, float *s, const void *w, const void *a)
{
    const dx_bf16 *x = w, *y = a;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 2; k++)
            acc[k] = _mm256_fmadd_ps(bf16x8(x + i + 8 * k), bf16x8(y + i + 8 * k), acc[k]);
    float sum = hsum8(_mm256_add_ps(acc[0], acc[1]));
    for (; i < n; i++)
        sum += dx_bf16_to_f32(x[i]) * dx_bf16_to_f32(y[i]);
    *s = sum;
}

/* ------------------------------------------------- activation quantizers */

/* f32 -> f16, round to nearest even (F16C; the same bits as dx_f32_to_f16). */
SIMD_KERNEL void simd_f16_from_float(const float *src, void *dst, int64_t n)
{
    dx_f16 *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = dx_f32_to_f16(src[i]);
}

/* f32 -> bf16 as dx_f32_to_bf16 does it in integers: round to nearest even,
 * nan truncated and made quiet (subnormals kept, unlike vcvtneps2bf16). */
SIMD_KERNEL void simd_bf16_from_float(const float *src, void *dst, int64_t n)
{
    dx_bf16 *h = dst;
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff),
                  quiet = _mm256_set1_epi32(64);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(src + i));
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, bias), odd), 16);
        const __m256i q = _mm256_or_si256(_mm256_srli_epi32(x, 16), quiet);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs), inf);
        const __m256i v = _mm256_blendv_epi8(r, q, nan);
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
        _mm_storeu_si128((__m128i *)(h + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; i++)
        h[i] = dx_f32_to_bf16(src[i]);
}

static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* roundf for |v| <= 127 (ties away from zero), nan -> -127; as int32. */
static inline __m256i round_away(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.f);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.f)), _mm256_set1_ps(127.f));
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_set1_ps(1.f), _mm256_and_ps(v, sign));
    t = _mm256_add_ps(t,
                      _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
    return _mm256_cvttps_epi32(t);
}

/* 32 int32 in four vectors -> 32 int8 in order. */
static inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i v = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One block of 32: quantized values and the unrounded d, as the reference. */
static inline float q8_block(const float *x, int8_t *qs)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_and_ps(v[k], abs_mask));
    }
    float amax = hmax8(m);
    float d = amax / 127.f;
    float id = d != 0.f ? 1.f / d : 0.f;
    __m256 vid = _mm256_set1_ps(id);
    __m256i r[4];
    for (int k = 0; k < 4; k++)
        r[k] = round_away(_mm256_mul_ps(v[k], vid));
    _mm256_storeu_si256((__m256i *)qs, pack32(r[0], r[1], r[2], r[3]));
    return d;
}

SIMD_KERNEL void simd_q8_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++)
        b[i].d = dx_f32_to_f16(q8_block(src + QK8_0 * i, b[i].qs));
}

SIMD_KERNEL void simd_q8_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        float d = q8_block(src + QK8_1 * i, b[i].qs);
        __m256i q = _mm256_loadu_si256((const __m256i *)b[i].qs);
        int sum = hsum8i(dot4(_mm256_set1_epi8(1), q));
        b[i].d = dx_f32_to_f16(d);
        b[i].s = dx_f32_to_f16((float)sum * d);
    }
}

SIMD_KERNEL void simd_q8_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_K *b = dst;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + QK_K * i;
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask));
        float amax = hmax8(m);
        if (!(amax > 0.f) || !isfinite(amax)) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float max = 0.f; /* the first value of that magnitude, as the reference picks */
        for (int k = 0; k < QK_K; k++)
            if (fabsf(x[k]) == amax) {
                max = x[k];
                break;
            }
        float iscale = -127.f / max;
        __m256 vs = _mm256_set1_ps(iscale), lo = _mm256_set1_ps(-128.f), hi = _mm256_set1_ps(127.f);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i r[4];
            for (int j = 0; j < 4; j++) {
                __m256 v = _mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * j));
                r[j] =
                    _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi)); /* ties to even */
            }
            __m256i q = pack32(r[0], r[1], r[2], r[3]);
            _mm256_storeu_si256((__m256i *)(b[i].qs + k), q);
            /* sums of each 16: dot with ones gives sums of 4, add neighbours */
            __m256i s4 = dot4(_mm256_set1_epi8(1), q);
            int32_t t[8];
            _mm256_storeu_si256((__m256i *)t, s4);
            b[i].bsums[k / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
            b[i].bsums[k / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
        }
        b[i].d = 1.f / iscale;
    }
}
