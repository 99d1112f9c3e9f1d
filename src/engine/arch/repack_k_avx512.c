/*
 * repack_k_avx512 — the repacked Q4_K, Q5_K and Q6_K kernels with AVX-512 VNNI
 * (layouts in repack.h). One zmm lane per row, as for Q4_0: a 64-byte chunk
 * is sixteen rows times four columns that meets four broadcast Q8_K
 * activation bytes in one vpdpbusd.
 *
 * Q4_K: the rows' packed six-bit scales and mins are unpacked sixteen rows at a
 * time (about 40 128-bit operations per super-block). A chunk's low nibbles (sub-block 2j) are
 * masked with 0x0f and its high ones with 0xf0, so the high sub-block's dot comes out 16 times too
 * large; its scale is taken as is and the low one's times 16, and the
 * super-block's sum of scale x dot is shifted back by 4 at the end (exact:
 * every term is a multiple of 16 and the sum stays within int32). The mins
 * meet Q8_K's sixteen bsums in pairs with vpdpwssd (each row's min in both
 * halves of its lane). Q5_K is Q4_K with both nibbles shifted down to 0..15
 * and 16 added to the bytes its fifth-bit masks select (one masked vpaddb
 * each), scales taken as they are. Q6_K: the six-bit values of a 16-column sub-block are
 * three chunks (two with a whole value and the top bits of another, one of
 * the others' low nibbles), unpacked with nine operations; each sub-block's
 * sum starts from -32 times its bsum and is multiplied by its scale.
 *
 * Per super-block the integer sums are the scalar vec_dot's, and they are
 * turned into floats with the same operations in the same order (no fused
 * multiply-add), so a row's result is vec_dot's to the bit. Up to eight
 * tokens share each unpacked chunk.
 */
#include "engine/arch/repack_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

static inline __m512i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Decode reads each weight once: the kernels ask for the line PF_AHEAD bytes
 * ahead of each one they load, into L2 (bench/bench_repack, one thread, a 64 MiB
 * matrix: 8 KiB into L2 streamed 5-15% faster than 4 KiB into L1; NTA halved it). */
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T2
#endif
#ifndef PF_AHEAD
#define PF_AHEAD 8192
#endif

/* 64 bits at p as a mask register */
static inline __mmask64 mask64(const uint8_t *p)
{
    uint64_t m;
    memcpy(&m, p, 8);
    return _cvtu64_mask64(m);
}

/* Q4_K, and with Q5 Q5_K: Q4_K's nibbles (the high ones shifted down, not masked) plus 16 where
 * the chunk's two fifth-bit masks say. */
static inline __attribute__((always_inline)) void
q4k(int nsb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int Q5)
{
    const size_t SB = Q5 ? RP_Q5_K_SB : RP_Q4_K_SB, SC = Q5 ? RP_Q5_K_SC : RP_Q4_K_SC;
    const __m512i b16 = _mm512_set1_epi8(16);
    const __m512i lo4 = _mm512_set1_epi8(0x0f), hi4 = _mm512_set1_epi8((char)0xf0);
    /* lane r of a 128-bit lane L: bytes (4L + r, 0, 4L + r, 0): a row's min in both int16 halves */
    const __m512i dup = _mm512_set_epi8(-1, 15, -1, 15, -1, 14, -1, 14, -1, 13, -1, 13, -1, 12, -1,
                                        12, -1, 11, -1, 11, -1, 10, -1, 10, -1, 9, -1, 9, -1, 8, -1,
                                        8, -1, 7, -1, 7, -1, 6, -1, 6, -1, 5, -1, 5, -1, 4, -1, 4,
                                        -1, 3, -1, 3, -1, 2, -1, 2, -1, 1, -1, 1, -1, 0, -1, 0);
    const block_q8_K *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
    {
        y[t] = (const block_q8_K *)((const char *)a + (size_t)t * as);
        acc[t] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nsb; b++) {
        const uint8_t *sb = group + (size_t)b * SB;
        if (T <= 2) /* decode reads each weight once: ask ahead for the lines after the chunks */
            _Pragma("GCC unroll 12") for (size_t c = RP_Q5_K_QH / 64; c < SB / 64; c++)
                _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, PF_HINT);
        __m512i isc[RP_MAX_TOKENS], imn[RP_MAX_TOKENS];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            isc[t] = _mm512_setzero_si512();
            imn[t] = _mm512_setzero_si512();
        }
        /* the sixteen rows' six-bit scales and mins, unpacked as quant.c's k4_scale_min does:
         * j < 4: sc = b[j] & 63, mn = b[j + 4] & 63; j >= 4: sc = b[j + 4] & 15 | (b[j - 4] >> 6)
         * << 4, mn = b[j + 4] >> 4 | (b[j] >> 6) << 4 (byte k of the rows in one xmm) */
        __m128i sc[8], mn[8];
        {
            const __m128i m6 = _mm_set1_epi8(63), lo4x = _mm_set1_epi8(0x0f),
                          top2 = _mm_set1_epi8((char)0xc0);
            __m128i k[12];
            _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) k[i] =
                _mm_load_si128((const __m128i *)(sb + SC + 16 * i));
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
            {
                sc[i] = _mm_and_si128(k[i], m6);
                mn[i] = _mm_and_si128(k[i + 4], m6);
                /* (A & C) | B: four low bits from A, the top two already in place in B */
                sc[i + 4] = _mm_ternarylogic_epi32(
                    k[i + 8], _mm_srli_epi16(_mm_and_si128(k[i], top2), 2), lo4x, 0xec);
                mn[i + 4] = _mm_ternarylogic_epi32(_mm_srli_epi16(k[i + 8], 4),
                                                   _mm_srli_epi16(_mm_and_si128(k[i + 4], top2), 2),
                                                   lo4x, 0xec);
            }
        }
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
        {
            const __m512i m = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(mn[j]), dup);
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) imn[t] =
                _mm512_dpwssd_epi32(imn[t], m, bcast4(y[t][b].bsums + 2 * j));
        }
        for (int j = 0; j < 4; j++) {
            const __m512i sl = Q5 ? _mm512_cvtepu8_epi32(sc[2 * j])
                                  : _mm512_slli_epi32(_mm512_cvtepu8_epi32(sc[2 * j]), 4);
            const __m512i sh = _mm512_cvtepu8_epi32(sc[2 * j + 1]);
            const uint8_t *ch = sb + 512 * j;
            if (T <= 4) { /* both nibbles in one pass */
                __m512i dl[RP_MAX_TOKENS], dh[RP_MAX_TOKENS];
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) dl[t] = dh[t] =
                    _mm512_setzero_si512();
                _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
                {
                    if (T <= 2) /* and for each chunk's line, spread among the loads */
                        _mm_prefetch((const char *)ch + PF_AHEAD + 64 * i, PF_HINT);
                    const __m512i q = _mm512_load_si512((const void *)(ch + 64 * i));
                    __m512i ql = _mm512_and_si512(q, lo4), qh;
                    if (Q5) {
                        const uint8_t *m = sb + RP_Q5_K_QH + 16 * (8 * j + i);
                        ql = _mm512_mask_add_epi8(ql, mask64(m), ql, b16);
                        qh = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
                        qh = _mm512_mask_add_epi8(qh, mask64(m + 8), qh, b16);
                    } else {
                        qh = _mm512_and_si512(q, hi4);
                    }
                    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
                    {
                        dl[t] = _mm512_dpbusd_epi32(dl[t], ql, bcast4(y[t][b].qs + 64 * j + 4 * i));
                        dh[t] = _mm512_dpbusd_epi32(dh[t], qh,
                                                    bcast4(y[t][b].qs + 64 * j + 32 + 4 * i));
                    }
                }
                _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) isc[t] =
                    _mm512_add_epi32(isc[t], _mm512_add_epi32(_mm512_mullo_epi32(dl[t], sl),
                                                              _mm512_mullo_epi32(dh[t], sh)));
            } else { /* one nibble per pass: fewer registers */
                _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
                {
                    __m512i d[RP_MAX_TOKENS];
                    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) d[t] =
                        _mm512_setzero_si512();
                    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
                    {
                        const __m512i q8 = _mm512_load_si512((const void *)(ch + 64 * i));
                        __m512i q = Q5 && h ? _mm512_and_si512(_mm512_srli_epi16(q8, 4), lo4)
                                            : _mm512_and_si512(q8, h ? hi4 : lo4);
                        if (Q5)
                            q = _mm512_mask_add_epi8(
                                q, mask64(sb + RP_Q5_K_QH + 16 * (8 * j + i) + 8 * h), q, b16);
                        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) d[t] =
                            _mm512_dpbusd_epi32(d[t], q,
                                                bcast4(y[t][b].qs + 64 * j + 32 * h + 4 * i));
                    }
                    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) isc[t] =
                        _mm512_add_epi32(isc[t], _mm512_mullo_epi32(d[t], h ? sh : sl));
                }
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sb + SC + 192)));
        const __m512 dm = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sb + SC + 224)));
        /* vec_dot's sum += y.d * d * isc - y.d * dmin * imn, step by step */
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            const __m512 yd = _mm512_set1_ps(y[t][b].d);
            const __m512 x =
                _mm512_mul_ps(_mm512_mul_ps(yd, dw),
                              _mm512_cvtepi32_ps(Q5 ? isc[t] : _mm512_srai_epi32(isc[t], 4)));
            const __m512 m = _mm512_mul_ps(_mm512_mul_ps(yd, dm), _mm512_cvtepi32_ps(imn[t]));
            acc[t] = _mm512_add_ps(acc[t], _mm512_sub_ps(x, m));
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm512_storeu_ps(out + RP_ROWS * t, acc[t]);
}

static inline __attribute__((always_inline)) void q6k(int nsb, const uint8_t *group, const void *a,
                                                      size_t as, float *out, const int T)
{
    const __m512i m63 = _mm512_set1_epi8(63), top2 = _mm512_set1_epi8((char)0xc0),
                  lo4 = _mm512_set1_epi8(0x0f);
    const uint8_t *dsb = group + (size_t)nsb * RP_Q6_K_SB; /* the rows' d, per super-block */
    const block_q8_K *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
    {
        y[t] = (const block_q8_K *)((const char *)a + (size_t)t * as);
        acc[t] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nsb; b++) {
        const uint8_t *sb = group + (size_t)b * RP_Q6_K_SB;
        if (T <= 2) { /* the scales' lines and the d; the chunks' lines below */
            _Pragma("GCC unroll 4") for (int c = RP_Q6_K_SC / 64; c < RP_Q6_K_SB / 64; c++)
                _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, PF_HINT);
            _mm_prefetch((const char *)dsb + 32 * (size_t)b + 256, PF_HINT);
        }
        /* each sub-block's sum starts from -32 * bsum: the stored values' offset */
        int32_t off[RP_MAX_TOKENS][16];
        __m512i isc[RP_MAX_TOKENS];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            const __m512i bs =
                _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)y[t][b].bsums));
            _mm512_storeu_si512(off[t],
                                _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 5)));
            isc[t] = _mm512_setzero_si512();
        }
        _Pragma("GCC unroll 2") for (int s = 0; s < 16; s++)
        {
            const uint8_t *ch = sb + 192 * s;
            if (T <= 2)
                _Pragma("GCC unroll 3") for (int c = 0; c < 3; c++)
                    _mm_prefetch((const char *)ch + PF_AHEAD + 64 * c, PF_HINT);
            const __m512i p1 = _mm512_load_si512((const void *)ch),
                          p2 = _mm512_load_si512((const void *)(ch + 64)),
                          n = _mm512_load_si512((const void *)(ch + 128));
            const __m512i sc =
                _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sb + RP_Q6_K_SC + 16 * s)));
            const __m512i o0 = _mm512_and_si512(p1, m63), o2 = _mm512_and_si512(p2, m63);
            /* (A & C) | B: the low nibble from A, the top bits already in place in B */
            const __m512i o1 = _mm512_ternarylogic_epi32(
                n, _mm512_srli_epi16(_mm512_and_si512(p1, top2), 2), lo4, 0xec);
            const __m512i o3 = _mm512_ternarylogic_epi32(
                _mm512_srli_epi16(n, 4), _mm512_srli_epi16(_mm512_and_si512(p2, top2), 2), lo4,
                0xec);
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
            {
                const int8_t *q = y[t][b].qs + 16 * s;
                __m512i d = _mm512_set1_epi32(off[t][s]);
                d = _mm512_dpbusd_epi32(d, o0, bcast4(q));
                d = _mm512_dpbusd_epi32(d, o1, bcast4(q + 4));
                d = _mm512_dpbusd_epi32(d, o2, bcast4(q + 8));
                d = _mm512_dpbusd_epi32(d, o3, bcast4(q + 12));
                isc[t] = _mm512_add_epi32(isc[t], _mm512_mullo_epi32(d, sc));
            }
        }
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dsb + 32 * (size_t)b)));
        /* vec_dot's sum += y.d * d * isc (its min term is zero) */
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) acc[t] =
            _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(y[t][b].d), dw),
                                                _mm512_cvtepi32_ps(isc[t])));
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm512_storeu_ps(out + RP_ROWS * t, acc[t]);
}

/* Q3_K: the sixteen rows' sixteen six-bit scales (minus 32) into sc[16s + r], from the file's
 * packed bytes (byte k of the rows at sb + RP_Q3_K_SC + 16k): scale i has its low four bits in
 * byte i (i < 8) or the high ones of byte i - 8, its top two at bit 2(i / 4) of byte 8 + i % 4. */
static inline void q3k_scales(const uint8_t *sb, int8_t *sc)
{
    const __m512i lo4 = _mm512_set1_epi8(0x0f), b45 = _mm512_set1_epi8(0x30),
                  b32 = _mm512_set1_epi8(32);
    const __m512i l0 = _mm512_load_si512((const void *)(sb + RP_Q3_K_SC)),
                  l1 = _mm512_load_si512((const void *)(sb + RP_Q3_K_SC + 64)),
                  l2 = _mm512_load_si512((const void *)(sb + RP_Q3_K_SC + 128));
    /* (A & C) | B: four low bits from A, the top two already in place in B */
    const __m512i s0 =
        _mm512_ternarylogic_epi32(l0, _mm512_and_si512(_mm512_slli_epi16(l2, 4), b45), lo4, 0xec);
    const __m512i s1 =
        _mm512_ternarylogic_epi32(l1, _mm512_and_si512(_mm512_slli_epi16(l2, 2), b45), lo4, 0xec);
    const __m512i s2 =
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(l0, 4), _mm512_and_si512(l2, b45), lo4, 0xec);
    const __m512i s3 = _mm512_ternarylogic_epi32(
        _mm512_srli_epi16(l1, 4), _mm512_and_si512(_mm512_srli_epi16(l2, 2), b45), lo4, 0xec);
    _mm512_store_si512((void *)sc, _mm512_sub_epi8(s0, b32));
    _mm512_store_si512((void *)(sc + 64), _mm512_sub_epi8(s1, b32));
    _mm512_store_si512((void *)(sc + 128), _mm512_sub_epi8(s2, b32));
    _mm512_store_si512((void *)(sc + 192), _mm512_sub_epi8(s3, b32));
}

/* Q2_K and (Q3) Q3_K: a chunk is one 16-column sub-block, its four two-bit planes (columns
 * 4m..4m+3) one shift and mask each; Q3_K adds 4 where the plane's high-bit mask says, and each
 * sub-block's sum starts from -4 x bsum (its values are the stored ones minus 4). Q2_K's scales
 * and mins come widened to a 16-bit pair per row, the mins meet Q8_K's bsums in pairs with
 * vpdpwssd. */
static inline __attribute__((always_inline)) void
q23k(int nsb, const uint8_t *group, const void *a, size_t as, float *out, const int T, const int Q3)
{
    const size_t SB = Q3 ? RP_Q3_K_SB : RP_Q2_K_SB;
    const __m512i m3 = _mm512_set1_epi8(3), b4 = _mm512_set1_epi8(4), m15 = _mm512_set1_epi32(15);
    const uint8_t *dsb = group + (size_t)nsb * RP_Q3_K_SB; /* Q3_K: the rows' d, per super-block */
    const block_q8_K *y[RP_MAX_TOKENS];
    __m512 acc[RP_MAX_TOKENS];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
    {
        y[t] = (const block_q8_K *)((const char *)a + (size_t)t * as);
        acc[t] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nsb; b++) {
        const uint8_t *sb = group + (size_t)b * SB;
        if (T <= 2) { /* decode: the lines after the chunks (and Q3_K's d); the chunks' below */
            _Pragma("GCC unroll 12") for (size_t c = 1024 / 64; c < SB / 64; c++)
                _mm_prefetch((const char *)sb + PF_AHEAD + 64 * c, PF_HINT);
            if (Q3)
                _mm_prefetch((const char *)dsb + 32 * (size_t)b + 256, PF_HINT);
        }
        _Alignas(64) int8_t sc3[256]; /* Q3_K: scale s of row r at 16s + r */
        int32_t off[RP_MAX_TOKENS][16];
        __m512i isc[RP_MAX_TOKENS], imn[RP_MAX_TOKENS];
        if (Q3)
            q3k_scales(sb, sc3);
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            isc[t] = imn[t] = _mm512_setzero_si512();
            if (Q3) {
                const __m512i bs =
                    _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)y[t][b].bsums));
                _mm512_storeu_si512(
                    off[t], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 2)));
            }
        }
        _Pragma("GCC unroll 2") for (int s = 0; s < 16; s++)
        {
            const uint8_t *ch = sb + 64 * s;
            if (T <= 2)
                _mm_prefetch((const char *)ch + PF_AHEAD, PF_HINT);
            __m512i sc;
            if (Q3) {
                sc = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(sc3 + 16 * s)));
            } else { /* scale (low nibble) of sub-block s: its pair's 16-bit lane, half s % 2 */
                const __m512i pr = _mm512_cvtepu8_epi16(
                    _mm256_load_si256((const __m256i *)(sb + RP_Q2_K_SC + 32 * (s / 2))));
                sc = _mm512_and_si512(_mm512_srli_epi32(pr, 16 * (s % 2)), m15);
                if (s % 2 == 0) /* the pair's mins (high nibbles) against its two bsums */
                    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) imn[t] =
                        _mm512_dpwssd_epi32(imn[t], _mm512_srli_epi16(pr, 4),
                                            bcast4(y[t][b].bsums + s));
            }
            const __m512i q = _mm512_load_si512((const void *)ch);
            __m512i v[4];
            _Pragma("GCC unroll 4") for (int m = 0; m < 4; m++)
            {
                v[m] = _mm512_and_si512(m ? _mm512_srli_epi16(q, 2 * m) : q, m3);
                if (Q3)
                    v[m] = _mm512_mask_add_epi8(v[m], mask64(sb + RP_Q3_K_HM + 32 * s + 8 * m),
                                                v[m], b4);
            }
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
            {
                const int8_t *yq = y[t][b].qs + 16 * s;
                __m512i d = Q3 ? _mm512_set1_epi32(off[t][s]) : _mm512_setzero_si512();
                _Pragma("GCC unroll 4") for (int m = 0; m < 4; m++) d =
                    _mm512_dpbusd_epi32(d, v[m], bcast4(yq + 4 * m));
                isc[t] = _mm512_add_epi32(isc[t], _mm512_mullo_epi32(d, sc));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)(Q3 ? dsb + 32 * (size_t)b : sb + RP_Q2_K_D)));
        /* vec_dot's sum += y.d * d * isc - y.d * dmin * imn, step by step (Q3_K: no min term) */
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        {
            const __m512 yd = _mm512_set1_ps(y[t][b].d);
            const __m512 x = _mm512_mul_ps(_mm512_mul_ps(yd, dw), _mm512_cvtepi32_ps(isc[t]));
            if (Q3) {
                acc[t] = _mm512_add_ps(acc[t], x);
            } else {
                const __m512 dm =
                    _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sb + RP_Q2_K_DMIN)));
                const __m512 m = _mm512_mul_ps(_mm512_mul_ps(yd, dm), _mm512_cvtepi32_ps(imn[t]));
                acc[t] = _mm512_add_ps(acc[t], _mm512_sub_ps(x, m));
            }
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm512_storeu_ps(out + RP_ROWS * t, acc[t]);
}

#define TILE_T(T)                                                                                  \
    static void q4k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q4k(nb / 8, g, a, as, out, T, 0);                                                          \
    }                                                                                              \
    static void q5k_##T(int nb, const uint8_t *g, const void *a, size_t as, float *out)            \
    {                                                                                              \
        q4k(nb / 8, g, a, as, out, T, 1);                                                          \
    }                                                                                              \
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
TILE_T(1)
TILE_T(2)
TILE_T(3)
TILE_T(4)
TILE_T(5)
TILE_T(6)
TILE_T(7)
TILE_T(8)

typedef void (*tile_t)(int, const uint8_t *, const void *, size_t, float *);

void rp_q4_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q4k_1, q4k_2, q4k_3, q4k_4,
                                             q4k_5, q4k_6, q4k_7, q4k_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q5_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q5k_1, q5k_2, q5k_3, q5k_4,
                                             q5k_5, q5k_6, q5k_7, q5k_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q6_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q6k_1, q6k_2, q6k_3, q6k_4,
                                             q6k_5, q6k_6, q6k_7, q6k_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q2_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q2k_1, q2k_2, q2k_3, q2k_4,
                                             q2k_5, q2k_6, q2k_7, q2k_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

void rp_q3_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out)
{
    static const tile_t fn[RP_MAX_TOKENS] = {q3k_1, q3k_2, q3k_3, q3k_4,
                                             q3k_5, q3k_6, q3k_7, q3k_8};
    fn[n_tok - 1](nb, group, a, a_stride, out);
}

#endif
