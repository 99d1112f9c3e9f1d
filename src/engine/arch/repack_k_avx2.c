/*
 * repack_k_avx2 — the repacked Q4_K, Q5_K and Q6_K kernels with AVX2 (no VNNI; layouts in
 * repack.h). A 64-byte chunk is two ymm of eight rows, taken one half of the group at a time, as
 * the Q4_0 kernels of repack_avx2.c do. vpmaddubsw multiplies the unsigned weights by four
 * broadcast Q8_K activation bytes and sums pairs into int16, which stay within int16 for a whole
 * Q4_K sub-block (8 x 2 x 15 x 128), half a Q5_K one (4 x 2 x 31 x 128) and half a Q6_K one
 * (2 x 2 x 63 x 128); vpmaddwd then multiplies those pair sums by the rows' scales (each row's
 * scale in both int16 halves of its lane) and widens them to int32.
 *
 * Q4_K/Q5_K: the rows' packed six-bit scales and mins are unpacked eight rows at a time, each
 * where it is needed; the mins meet Q8_K's bsums in pairs with vpmaddwd. Q5_K's fifth bits are the
 * chunk's 32-bit masks spread to bytes of 16. Q6_K: the values come out of the three chunks of a
 * sub-block as in the AVX-512 kernel, and the stored values' offset (32) is taken off once per
 * sub-block as 32 x scale x bsum.
 *
 * Per super-block the integer sums are the scalar vec_dot's, and they become floats with the same
 * operations in the same order (no fused multiply-add), so a row's result is vec_dot's to the bit
 * (tests/unit/test_repack.c). Up to four tokens (two for Q4_K and Q5_K) share each unpacked chunk.
 */
#include "engine/arch/repack_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define AVX2_MAX_T 4 /* tokens per pass: Q6_K */
#define K4_MAX_T 2   /* Q4_K/Q5_K: with more, their int16 and int32 sums spill out of registers */
/* Decode: the first half's pass asks for the lines PF_AHEAD bytes ahead, into L2 (the second
 * half's pass finds the group in the caches). */
#define PF_AHEAD 8192

static inline __m256i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Eight bytes (one per row) -> each row's value, sign- or zero-extended, in both int16 halves of
 * its 32-bit lane: the vpmaddwd operand that multiplies a row's pair sums by it. */
static inline __m256i dup16(__m256i x32)
{
    const __m256i lo16 = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1,
                                          0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    return _mm256_shuffle_epi8(x32, lo16);
}

static inline __m256i load8_u(const uint8_t *p)
{
    return dup16(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

static inline __m256i load8_s(const uint8_t *p)
{
    return dup16(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* A 32-bit mask -> 32 bytes: v where its bit is set, else 0. */
static inline __m256i bits_to(const uint8_t *p, char v)
{
    uint32_t m;
    memcpy(&m, p, 4);
    const __m256i spread =
        _mm256_shuffle_epi8(_mm256_set1_epi32((int)m),
                            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                             2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel),
                            _mm256_set1_epi8(v));
}

static inline __m256i bits16(const uint8_t *p)
{
    return bits_to(p, 16);
}

/* Scale (min 0) or min (min 1) j of eight rows, as quant.c's k4_scale_min: j < 4: sc = b[j] & 63,
 * mn = b[j + 4] & 63; j >= 4: sc = b[j + 4] & 15 | (b[j - 4] >> 6) << 4, mn = b[j + 4] >> 4 |
 * (b[j] >> 6) << 4 (byte k of the rows at s8 + 16k). Read where needed: sixteen registers of
 * them kept through the super-block would spill. */
static inline __m128i k4_scale(const uint8_t *s8, int j, int min)
{
    const __m128i m6 = _mm_set1_epi8(63), lo4 = _mm_set1_epi8(0x0f),
                  top2 = _mm_set1_epi8((char)0xc0);
    if (j < 4)
        return _mm_and_si128(_mm_loadl_epi64((const __m128i *)(s8 + 16 * (j + 4 * min))), m6);
    const __m128i b = _mm_loadl_epi64((const __m128i *)(s8 + 16 * (j + 4)));
    const __m128i top = _mm_srli_epi16(
        _mm_and_si128(_mm_loadl_epi64((const __m128i *)(s8 + 16 * (j - 4 + 4 * min))), top2), 2);
    return _mm_or_si128(_mm_and_si128(min ? _mm_srli_epi16(b, 4) : b, lo4), top);
}

/* Q4_K, and with Q5 Q5_K (the same scales, mins, d and dmin, at SC). */
static inline __attribute__((always_inline)) void
q4k(int nsb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int Q5)
{
    const size_t SB = Q5 ? RP_Q5_K_SB : RP_Q4_K_SB, SC = Q5 ? RP_Q5_K_SC : RP_Q4_K_SC;
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    const block_q8_K *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] =
        (const block_q8_K *)((const char *)a + (size_t)t * as);
    for (int h = 0; h < 2; h++) {
        __m256 acc[AVX2_MAX_T];
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
        for (int b = 0; b < nsb; b++) {
            const uint8_t *sb = group + (size_t)b * SB;
            if (T <= 2 && h == 0) /* decode: the first pass brings the group in from memory */
                _Pragma("GCC unroll 12") for (size_t c = RP_Q5_K_QH / 64; c < SB / 64; c++)
                    _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, _MM_HINT_T1);
            const uint8_t *s8 = sb + SC + 8 * h; /* byte k of the eight rows at 16k */
            __m256i isc[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) isc[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
            { /* sub-blocks 2j (low nibbles) and 2j + 1 (high) */
                const __m256i sl = dup16(_mm256_cvtepu8_epi32(k4_scale(s8, 2 * j, 0)));
                const __m256i sh = dup16(_mm256_cvtepu8_epi32(k4_scale(s8, 2 * j + 1, 0)));
                const uint8_t *ch = sb + 512 * j + 32 * h;
                for (int part = 0; part < (Q5 ? 2 : 1); part++) {
                    const int i0 = Q5 ? 4 * part : 0, i1 = Q5 ? i0 + 4 : 8;
                    __m256i pl[AVX2_MAX_T], ph[AVX2_MAX_T];
                    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) pl[t] = ph[t] =
                        _mm256_setzero_si256();
                    _Pragma("GCC unroll 8") for (int i = i0; i < i1; i++)
                    {
                        if (T <= 2 && h == 0) /* and for each chunk's line */
                            _mm_prefetch((const char *)ch + PF_AHEAD + 64 * i, _MM_HINT_T1);
                        const __m256i q = _mm256_load_si256((const __m256i *)(ch + 64 * i));
                        __m256i ql = _mm256_and_si256(q, lo4);
                        __m256i qh = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
                        if (Q5) {
                            const uint8_t *m = sb + RP_Q5_K_QH + 16 * (8 * j + i) + 4 * h;
                            ql = _mm256_or_si256(ql, bits16(m));
                            qh = _mm256_or_si256(qh, bits16(m + 8));
                        }
                        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                        {
                            const int8_t *yq = y[t][b].qs + 64 * j + 4 * i;
                            pl[t] = _mm256_add_epi16(pl[t], _mm256_maddubs_epi16(ql, bcast4(yq)));
                            ph[t] =
                                _mm256_add_epi16(ph[t], _mm256_maddubs_epi16(qh, bcast4(yq + 32)));
                        }
                    }
                    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) isc[t] =
                        _mm256_add_epi32(isc[t], _mm256_add_epi32(_mm256_madd_epi16(pl[t], sl),
                                                                  _mm256_madd_epi16(ph[t], sh)));
                }
            }
            __m256i imn[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) imn[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
            {
                const __m256i m = dup16(_mm256_cvtepu8_epi32(k4_scale(s8, j, 1)));
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) imn[t] =
                    _mm256_add_epi32(imn[t], _mm256_madd_epi16(m, bcast4(y[t][b].bsums + 2 * j)));
            }
            const __m256 dw =
                _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sb + SC + 192 + 16 * h)));
            const __m256 dm =
                _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sb + SC + 224 + 16 * h)));
            /* vec_dot's sum += y.d * d * isc - y.d * dmin * imn, step by step */
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            {
                const __m256 yd = _mm256_set1_ps(y[t][b].d);
                const __m256 x = _mm256_mul_ps(_mm256_mul_ps(yd, dw), _mm256_cvtepi32_ps(isc[t]));
                const __m256 m = _mm256_mul_ps(_mm256_mul_ps(yd, dm), _mm256_cvtepi32_ps(imn[t]));
                acc[t] = _mm256_add_ps(acc[t], _mm256_sub_ps(x, m));
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            _mm256_storeu_ps(out + RP_ROWS * t + 8 * h, acc[t]);
    }
}

static inline __attribute__((always_inline)) void q6k(int nsb, const uint8_t *group, const void *a,
                                                      size_t as, float *out, const int T)
{
    const __m256i m63 = _mm256_set1_epi8(63), top2 = _mm256_set1_epi8((char)0xc0),
                  lo4 = _mm256_set1_epi8(0x0f);
    const uint8_t *dsb = group + (size_t)nsb * RP_Q6_K_SB; /* the rows' d, per super-block */
    const block_q8_K *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] =
        (const block_q8_K *)((const char *)a + (size_t)t * as);
    for (int h = 0; h < 2; h++) {
        __m256 acc[AVX2_MAX_T];
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
        for (int b = 0; b < nsb; b++) {
            const uint8_t *sb = group + (size_t)b * RP_Q6_K_SB;
            if (T <= 2 && h == 0) /* the scales' lines and the d; the chunks' lines below */
            {
                _Pragma("GCC unroll 4") for (int c = RP_Q6_K_SC / 64; c < RP_Q6_K_SB / 64; c++)
                    _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, _MM_HINT_T1);
                _mm_prefetch((const char *)dsb + 32 * (size_t)b + 256, _MM_HINT_T1);
            }
            __m256i isc[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) isc[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 2") for (int s = 0; s < 16; s++)
            {
                const uint8_t *ch = sb + 192 * s;
                if (T <= 2 && h == 0)
                    _Pragma("GCC unroll 3") for (int c = 0; c < 3; c++)
                        _mm_prefetch((const char *)ch + PF_AHEAD + 64 * c, _MM_HINT_T1);
                const __m256i p1 = _mm256_load_si256((const __m256i *)(ch + 32 * h)),
                              p2 = _mm256_load_si256((const __m256i *)(ch + 64 + 32 * h)),
                              n = _mm256_load_si256((const __m256i *)(ch + 128 + 32 * h));
                const __m256i sc = load8_s(sb + RP_Q6_K_SC + 16 * s + 8 * h);
                const __m256i o0 = _mm256_and_si256(p1, m63), o2 = _mm256_and_si256(p2, m63);
                const __m256i o1 = _mm256_or_si256(
                    _mm256_and_si256(n, lo4), _mm256_srli_epi16(_mm256_and_si256(p1, top2), 2));
                const __m256i o3 =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n, 4), lo4),
                                    _mm256_srli_epi16(_mm256_and_si256(p2, top2), 2));
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                {
                    const int8_t *q = y[t][b].qs + 16 * s;
                    const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(o0, bcast4(q)),
                                                         _mm256_maddubs_epi16(o1, bcast4(q + 4)));
                    const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(o2, bcast4(q + 8)),
                                                         _mm256_maddubs_epi16(o3, bcast4(q + 12)));
                    /* the offset: 32 x scale x bsum (the bsum in the low int16 of the pair) */
                    const __m256i off = _mm256_madd_epi16(
                        sc, _mm256_set1_epi32((int32_t)(uint16_t)y[t][b].bsums[s]));
                    isc[t] = _mm256_add_epi32(
                        isc[t], _mm256_sub_epi32(_mm256_add_epi32(_mm256_madd_epi16(p01, sc),
                                                                  _mm256_madd_epi16(p23, sc)),
                                                 _mm256_slli_epi32(off, 5)));
                }
            }
            const __m256 dw =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dsb + 32 * (size_t)b + 16 * h)));
            /* vec_dot's sum += y.d * d * isc (its min term is zero) */
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] =
                _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(y[t][b].d), dw),
                                                    _mm256_cvtepi32_ps(isc[t])));
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            _mm256_storeu_ps(out + RP_ROWS * t + 8 * h, acc[t]);
    }
}

/* Q3_K: the sixteen rows' sixteen six-bit scales (minus 32) into sc[16s + r], from the file's
 * packed bytes (byte k of the rows at sb + RP_Q3_K_SC + 16k, two of them per ymm): scale i has its
 * low four bits in byte i (i < 8) or the high ones of byte i - 8, its top two at bit 2(i / 4) of
 * byte 8 + i % 4. */
static inline void q3k_scales(const uint8_t *sb, int8_t *sc)
{
    const __m256i lo4 = _mm256_set1_epi8(0x0f), b45 = _mm256_set1_epi8(0x30),
                  b32 = _mm256_set1_epi8(32);
    __m256i l[6]; /* bytes 2i and 2i + 1 */
    _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) l[i] =
        _mm256_load_si256((const __m256i *)(sb + RP_Q3_K_SC + 32 * i));
    _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++)
    { /* scales 2i, 2i + 1 (low bits of bytes 2i, 2i + 1) and 2i + 4, 2i + 5, 2i + 8, ... */
        const __m256i a = l[i], c = l[i + 2], top = l[i + 4];
        const __m256i s0 = _mm256_or_si256(_mm256_and_si256(a, lo4),
                                           _mm256_and_si256(_mm256_slli_epi16(top, 4), b45));
        const __m256i s4 = _mm256_or_si256(_mm256_and_si256(c, lo4),
                                           _mm256_and_si256(_mm256_slli_epi16(top, 2), b45));
        const __m256i s8 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), lo4),
                                           _mm256_and_si256(top, b45));
        const __m256i s12 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), lo4),
                                            _mm256_and_si256(_mm256_srli_epi16(top, 2), b45));
        _mm256_store_si256((__m256i *)(sc + 32 * i), _mm256_sub_epi8(s0, b32));
        _mm256_store_si256((__m256i *)(sc + 64 + 32 * i), _mm256_sub_epi8(s4, b32));
        _mm256_store_si256((__m256i *)(sc + 128 + 32 * i), _mm256_sub_epi8(s8, b32));
        _mm256_store_si256((__m256i *)(sc + 192 + 32 * i), _mm256_sub_epi8(s12, b32));
    }
}

/* Q2_K and (Q3) Q3_K: a chunk is one 16-column sub-block, its four two-bit planes (columns
 * 4m..4m+3) one shift and mask each; Q3_K adds 4 where the plane's high-bit mask says. The
 * planes' pair sums stay within int16 (4 x 2 x 7 x 128); Q3_K's offset (its values are the stored
 * ones minus 4) is -4 x bsum added to the low int16 of each pair, before vpmaddwd multiplies by
 * the scale. Q2_K's scale and min bytes are widened to a 16-bit pair per row; the mins meet
 * Q8_K's bsums in pairs with vpmaddwd. */
static inline __attribute__((always_inline)) void
q23k(int nsb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int Q3)
{
    const size_t SB = Q3 ? RP_Q3_K_SB : RP_Q2_K_SB;
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi16(15);
    /* each row's scale of a pair (its low or high 16 bits) in both halves of the row's lane */
    const __m256i pick[2] = {_mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0,
                                              1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13),
                             _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14,
                                              15, 2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15,
                                              14, 15)};
    const uint8_t *dsb = group + (size_t)nsb * RP_Q3_K_SB; /* Q3_K: the rows' d, per super-block */
    const block_q8_K *y[AVX2_MAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t] =
        (const block_q8_K *)((const char *)a + (size_t)t * as);
    for (int h = 0; h < 2; h++) {
        __m256 acc[AVX2_MAX_T];
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
        for (int b = 0; b < nsb; b++) {
            const uint8_t *sb = group + (size_t)b * SB;
            if (T <= 2 && h == 0) { /* decode: the first pass brings the group in from memory */
                _Pragma("GCC unroll 12") for (size_t c = 1024 / 64; c < SB / 64; c++)
                    _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, _MM_HINT_T1);
                if (Q3)
                    _mm_prefetch((const char *)dsb + 32 * (size_t)b + 256, _MM_HINT_T1);
            }
            _Alignas(32) int8_t sc3[256]; /* Q3_K: scale s of row r at 16s + r */
            if (Q3)
                q3k_scales(sb, sc3);
            __m256i isc[AVX2_MAX_T], imn[AVX2_MAX_T];
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) isc[t] = imn[t] =
                _mm256_setzero_si256();
            _Pragma("GCC unroll 2") for (int s = 0; s < 16; s++)
            {
                const uint8_t *ch = sb + 64 * s;
                if (T <= 2 && h == 0)
                    _mm_prefetch((const char *)ch + PF_AHEAD, _MM_HINT_T1);
                __m256i sc;
                if (Q3) {
                    sc = load8_s((const uint8_t *)sc3 + 16 * s + 8 * h);
                } else { /* the pair's scale/min bytes, a 16-bit lane each */
                    const __m256i pr = _mm256_cvtepu8_epi16(_mm_loadu_si128(
                        (const __m128i *)(sb + RP_Q2_K_SC + 32 * (s / 2) + 16 * h)));
                    sc = _mm256_and_si256(_mm256_shuffle_epi8(pr, pick[s % 2]), m15);
                    if (s % 2 == 0) /* the pair's mins (high nibbles) against its two bsums */
                        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) imn[t] =
                            _mm256_add_epi32(imn[t], _mm256_madd_epi16(_mm256_srli_epi16(pr, 4),
                                                                       bcast4(y[t][b].bsums + s)));
                }
                const __m256i q = _mm256_load_si256((const __m256i *)(ch + 32 * h));
                __m256i v[4];
                _Pragma("GCC unroll 4") for (int m = 0; m < 4; m++)
                {
                    v[m] = _mm256_and_si256(m ? _mm256_srli_epi16(q, 2 * m) : q, m3);
                    if (Q3)
                        v[m] = _mm256_or_si256(
                            v[m], bits_to(sb + RP_Q3_K_HM + 32 * s + 8 * m + 4 * h, 4));
                }
                _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
                {
                    const int8_t *yq = y[t][b].qs + 16 * s;
                    __m256i p = _mm256_add_epi16(
                        _mm256_add_epi16(_mm256_maddubs_epi16(v[0], bcast4(yq)),
                                         _mm256_maddubs_epi16(v[1], bcast4(yq + 4))),
                        _mm256_add_epi16(_mm256_maddubs_epi16(v[2], bcast4(yq + 8)),
                                         _mm256_maddubs_epi16(v[3], bcast4(yq + 12))));
                    if (Q3)
                        p = _mm256_add_epi16(
                            p, _mm256_set1_epi32((int32_t)(uint16_t)(-4 * y[t][b].bsums[s])));
                    isc[t] = _mm256_add_epi32(isc[t], _mm256_madd_epi16(p, sc));
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(
                (const __m128i *)(Q3 ? dsb + 32 * (size_t)b + 16 * h : sb + RP_Q2_K_D + 16 * h)));
            /* vec_dot's sum += y.d * d * isc - y.d * dmin * imn, step by step (Q3_K: no min) */
            _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            {
                const __m256 yd = _mm256_set1_ps(y[t][b].d);
                const __m256 x = _mm256_mul_ps(_mm256_mul_ps(yd, dw), _mm256_cvtepi32_ps(isc[t]));
                if (Q3) {
                    acc[t] = _mm256_add_ps(acc[t], x);
                } else {
                    const __m256 dm = _mm256_cvtph_ps(
                        _mm_load_si128((const __m128i *)(sb + RP_Q2_K_DMIN + 16 * h)));
                    const __m256 m =
                        _mm256_mul_ps(_mm256_mul_ps(yd, dm), _mm256_cvtepi32_ps(imn[t]));
                    acc[t] = _mm256_add_ps(acc[t], _mm256_sub_ps(x, m));
                }
            }
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
            _mm256_storeu_ps(out + RP_ROWS * t + 8 * h, acc[t]);
    }
}

#define TILE_K4(T)                                                                                 \
    static void q4k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q4k(nb / 8, g, a, as, out, T, 0);                                                          \
    }                                                                                              \
    static void q5k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q4k(nb / 8, g, a, as, out, T, 1);                                                          \
    }
#define TILE_K6(T)                                                                                 \
    static void q6k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q6k(nb / 8, g, a, as, out, T);                                                             \
    }                                                                                              \
    static void q2k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q23k(nb / 8, g, a, as, out, T, 0);                                                         \
    }                                                                                              \
    static void q3k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q23k(nb / 8, g, a, as, out, T, 1);                                                         \
    }
TILE_K4(1)
TILE_K4(2)
TILE_K6(1)
TILE_K6(2)
TILE_K6(3)
TILE_K6(4)

typedef void (*tile_t)(int, const uint8_t *, const void *, size_t, float *);

/* n_tok tokens, at most max_t per call of fn[k - 1] (k tokens) */
static void tiles(const tile_t *fn, int max_t, int nb, const uint8_t *group, const void *a,
                  size_t a_stride, int n_tok, float *out)
{
    for (int t = 0; t < n_tok; t += max_t) {
        const int k = n_tok - t < max_t ? n_tok - t : max_t;
        fn[k - 1](nb, group, (const char *)a + (size_t)t * a_stride, a_stride, out + RP_ROWS * t);
    }
}

void rp_q4_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[K4_MAX_T] = {q4k_1, q4k_2};
    tiles(fn, K4_MAX_T, nb, group, a, a_stride, n_tok, out);
}

void rp_q5_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[K4_MAX_T] = {q5k_1, q5k_2};
    tiles(fn, K4_MAX_T, nb, group, a, a_stride, n_tok, out);
}

void rp_q6_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {q6k_1, q6k_2, q6k_3, q6k_4};
    tiles(fn, AVX2_MAX_T, nb, group, a, a_stride, n_tok, out);
}

void rp_q2_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {q2k_1, q2k_2, q2k_3, q2k_4};
    tiles(fn, AVX2_MAX_T, nb, group, a, a_stride, n_tok, out);
}

void rp_q3_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out)
{
    static const tile_t fn[AVX2_MAX_T] = {q3k_1, q3k_2, q3k_3, q3k_4};
    tiles(fn, AVX2_MAX_T, nb, group, a, a_stride, n_tok, out);
}

#endif
