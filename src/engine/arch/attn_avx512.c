/*
 * attn_avx512 — blocked attention for many query rows over one f16 cache
 * head (AVX-512F; this file alone is compiled with the AVX-512 flags).
 *
 * The queries are transposed once, scaled, into qt[d][row] (rows padded to
 * a multiple of 32). Then for each block of KB keys:
 *   1. the block's keys and values are converted to f32 once (kf, vf);
 *   2. st[j][row] = qt[.][row] . kf[j] for all rows at once, vectorised over
 *      rows: one fused multiply-add per (16 rows, key, d), each key element
 *      broadcast once for 32 rows;
 *   3. online softmax, vectorised over rows too: keys outside a row's
 *      [lo, hi] become -inf, the row's running max m moves to the block's
 *      max, and alpha = e^(m_old - m_new) rescales what the row has so far;
 *      st becomes the weights p = e^(s - m);
 *   4. out[row] = alpha * out[row] + sum_j p[j][row] vf[j], four rows by 64
 *      values at a time, each vf element loaded once for four rows.
 * At the end each row is divided by its sum of weights. No row's scores are
 * held beyond one block, so the work area does not grow with the context.
 */
#include "engine/arch/attn_arch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/arch/exp_avx512.h"

#define KB 32 /* keys per block */

typedef struct tiles {
    float *qt;    /* (hdk, rp) queries, transposed and scaled */
    float *st;    /* (KB, rp) scores, then weights, of one block */
    float *kf;    /* (KB, hdk) the block's keys in f32 */
    float *vf;    /* (KB, hdv) its values */
    float *mx;    /* (rp) running max of each row's scores */
    float *sum;   /* (rp) running sum of its weights */
    float *alpha; /* (rp) the last block's rescale factor */
    int *lo, *hi; /* (rp) key range; padding rows have an empty one */
} tiles;

/* Lays the tiles out in work (64-byte aligned parts); returns the bytes used.
 * With t NULL only counts. */
static size_t carve(int hdk, int hdv, int rp, tiles *t, void *work)
{
    size_t off = 0;
#define TAKE(field, type, count)                                                                   \
    do {                                                                                           \
        if (t)                                                                                     \
            t->field = (type *)(void *)((char *)work + off);                                       \
        off += ((size_t)(count) * sizeof(type) + 63) / 64 * 64;                                    \
    } while (0)
    TAKE(qt, float, (size_t)hdk *rp);
    TAKE(st, float, (size_t)KB *rp);
    TAKE(kf, float, (size_t)KB *hdk);
    TAKE(vf, float, (size_t)KB *hdv);
    TAKE(mx, float, rp);
    TAKE(sum, float, rp);
    TAKE(alpha, float, rp);
    TAKE(lo, int, rp);
    TAKE(hi, int, rp);
#undef TAKE
    return off;
}

size_t attn_tiled_work_bytes(int hdk, int hdv)
{
    return carve(hdk, hdv, ATTN_MAX_ROWS, NULL, NULL);
}

/* n halves to floats (masked tail). */
static void cvt_row(float *dst, const dx_f16 *src, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

/* qt[d][r] = scale * q[r][d], 16 rows by 16 d at a time through registers
 * (strided single stores would touch a new cache line each); rows past n
 * are zero. */
static void transpose_q(const tiles *t, const attn_rows *a, int rp)
{
    const __m512 scale = _mm512_set1_ps(a->scale);
    for (int r0 = 0; r0 < rp; r0 += 16)
        for (int d0 = 0; d0 < a->hdk; d0 += 16) {
            const int nd = a->hdk - d0 < 16 ? a->hdk - d0 : 16;
            const __mmask16 m = (__mmask16)((1u << nd) - 1);
            float blk[16][16] __attribute__((aligned(64)));
            for (int i = 0; i < 16; i++) {
                const __m512 v = r0 + i < a->n ? _mm512_maskz_loadu_ps(m, a->q[r0 + i] + d0)
                                               : _mm512_setzero_ps();
                _mm512_store_ps(blk[i], _mm512_mul_ps(v, scale));
            }
            /* column d of blk is row d0 + d of qt: gather it with a stride of 16 */
            const __m512i idx = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32(16));
            for (int d = 0; d < nd; d++)
                _mm512_store_ps(t->qt + (size_t)(d0 + d) * rp + r0,
                                _mm512_i32gather_ps(idx, &blk[0][d], 4));
        }
}

/* Step 2: st[j][rc..rc+32) for keys j < nk8 (a multiple of 8). */
static void scores(const tiles *t, int hdk, int rp, int nk8)
{
    for (int rc = 0; rc < rp; rc += 32)
        for (int j0 = 0; j0 < nk8; j0 += 8) {
            __m512 acc[8][2];
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] =
                _mm512_setzero_ps();
            const float *kr = t->kf + (size_t)j0 * hdk;
            const float *qc = t->qt + rc;
            for (int d = 0; d < hdk; d++) {
                const __m512 q0 = _mm512_load_ps(qc + (size_t)d * rp);
                const __m512 q1 = _mm512_load_ps(qc + (size_t)d * rp + 16);
                _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
                {
                    const __m512 k = _mm512_set1_ps(kr[(size_t)i * hdk + d]);
                    acc[i][0] = _mm512_fmadd_ps(k, q0, acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(k, q1, acc[i][1]);
                }
            }
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
            {
                _mm512_store_ps(t->st + (size_t)(j0 + i) * rp + rc, acc[i][0]);
                _mm512_store_ps(t->st + (size_t)(j0 + i) * rp + rc + 16, acc[i][1]);
            }
        }
}

/* Step 3 for rows [rc, rc+16) and keys k0 + j, j < nk8. */
static void softmax_step(const tiles *t, int rp, int rc, int k0, int nk8)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i lo = _mm512_load_si512(t->lo + rc), hi = _mm512_load_si512(t->hi + rc);
    __m512 mb = ninf;
    for (int j = 0; j < nk8; j++) {
        float *s = t->st + (size_t)j * rp + rc;
        const __m512i jv = _mm512_set1_epi32(k0 + j);
        const __mmask16 in = _mm512_cmp_epi32_mask(jv, lo, _MM_CMPINT_NLT) &
                             _mm512_cmp_epi32_mask(jv, hi, _MM_CMPINT_LE);
        const __m512 v = _mm512_mask_mov_ps(ninf, in, _mm512_load_ps(s));
        _mm512_store_ps(s, v);
        mb = _mm512_max_ps(mb, v);
    }
    const __m512 m_old = _mm512_load_ps(t->mx + rc), m_new = _mm512_max_ps(m_old, mb);
    /* a row with no key yet keeps a zero reference, so no -inf - -inf */
    const __m512 m =
        _mm512_mask_mov_ps(m_new, _mm512_cmp_ps_mask(m_new, ninf, _CMP_EQ_OQ), _mm512_setzero_ps());
    const __m512 al = exp16(_mm512_sub_ps(m_old, m));
    __m512 ls = _mm512_setzero_ps();
    for (int j = 0; j < nk8; j++) {
        float *s = t->st + (size_t)j * rp + rc;
        const __m512 v = _mm512_load_ps(s);
        const __m512 p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, ninf, _CMP_NEQ_OQ),
                                             exp16(_mm512_sub_ps(v, m)));
        _mm512_store_ps(s, p);
        ls = _mm512_add_ps(ls, p);
    }
    _mm512_store_ps(t->sum + rc, _mm512_fmadd_ps(_mm512_load_ps(t->sum + rc), al, ls));
    _mm512_store_ps(t->mx + rc, m_new);
    _mm512_store_ps(t->alpha + rc, al);
}

/* Step 4 for the four rows r0.. : out = alpha * out + sum_j p[j] vf[j]. */
static void values4(const tiles *t, int rp, int r0, int nk, int hdv, float *const *out)
{
    float *o[4] = {out[r0], out[r0 + 1], out[r0 + 2], out[r0 + 3]};
    __m512 al[4];
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) al[i] = _mm512_set1_ps(t->alpha[r0 + i]);
    int c = 0;
    for (; c + 64 <= hdv; c += 64) {
        __m512 acc[4][4];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) acc[i][v] =
                _mm512_mul_ps(_mm512_loadu_ps(o[i] + c + 16 * v), al[i]);
        for (int j = 0; j < nk; j++) {
            const float *vr = t->vf + (size_t)j * hdv + c;
            const float *p = t->st + (size_t)j * rp + r0;
            const __m512 v0 = _mm512_load_ps(vr), v1 = _mm512_load_ps(vr + 16),
                         v2 = _mm512_load_ps(vr + 32), v3 = _mm512_load_ps(vr + 48);
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
            {
                const __m512 w = _mm512_set1_ps(p[i]);
                acc[i][0] = _mm512_fmadd_ps(w, v0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(w, v1, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(w, v2, acc[i][2]);
                acc[i][3] = _mm512_fmadd_ps(w, v3, acc[i][3]);
            }
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)
                _mm512_storeu_ps(o[i] + c + 16 * v, acc[i][v]);
    }
    for (; c < hdv; c += 16) {
        __m512 acc[4];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) acc[i] =
            _mm512_mul_ps(_mm512_loadu_ps(o[i] + c), al[i]);
        for (int j = 0; j < nk; j++) {
            const __m512 v = _mm512_load_ps(t->vf + (size_t)j * hdv + c);
            const float *p = t->st + (size_t)j * rp + r0;
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) acc[i] =
                _mm512_fmadd_ps(_mm512_set1_ps(p[i]), v, acc[i]);
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) _mm512_storeu_ps(o[i] + c, acc[i]);
    }
}

/* Step 4 for one row r. */
static void values1(const tiles *t, int rp, int r, int nk, int hdv, float *o)
{
    const __m512 al = _mm512_set1_ps(t->alpha[r]);
    for (int c = 0; c < hdv; c += 16) {
        __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(o + c), al);
        for (int j = 0; j < nk; j++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(t->st[(size_t)j * rp + r]),
                                  _mm512_load_ps(t->vf + (size_t)j * hdv + c), acc);
        _mm512_storeu_ps(o + c, acc);
    }
}

void attn_tiled_avx512(const attn_rows *a, void *work)
{
    const int n = a->n, hdk = a->hdk, hdv = a->hdv, rp = (n + 31) / 32 * 32;
    tiles t;
    carve(hdk, hdv, rp, &t, work);

    int kmin = a->lo[0], kmax = a->hi[0];
    for (int r = 0; r < rp; r++) {
        if (r < n) {
            t.lo[r] = a->lo[r];
            t.hi[r] = a->hi[r];
            if (a->lo[r] < kmin)
                kmin = a->lo[r];
            if (a->hi[r] > kmax)
                kmax = a->hi[r];
            memset(a->out[r], 0, (size_t)hdv * sizeof(float));
        } else {
            t.lo[r] = 1; /* empty: no j has 1 <= j <= 0 */
            t.hi[r] = 0;
        }
        t.mx[r] = -INFINITY;
        t.sum[r] = 0.0f;
    }
    transpose_q(&t, a, rp);

    for (int k0 = kmin; k0 <= kmax; k0 += KB) {
        const int nk = kmax - k0 + 1 < KB ? kmax - k0 + 1 : KB, nk8 = (nk + 7) / 8 * 8;
        for (int j = 0; j < nk; j++) {
            cvt_row(t.kf + (size_t)j * hdk, a->k + (size_t)(k0 + j) * a->k_stride, hdk);
            cvt_row(t.vf + (size_t)j * hdv, a->v + (size_t)(k0 + j) * a->v_stride, hdv);
        }
        if (nk8 > nk) /* keys past the last one: finite, and masked below */
            memset(t.kf + (size_t)nk * hdk, 0, (size_t)(nk8 - nk) * hdk * sizeof(float));
        scores(&t, hdk, rp, nk8);
        for (int rc = 0; rc < n; rc += 16)
            softmax_step(&t, rp, rc, k0, nk8);
        int r = 0;
        for (; r + 4 <= n; r += 4)
            values4(&t, rp, r, nk, hdv, a->out);
        for (; r < n; r++)
            values1(&t, rp, r, nk, hdv, a->out[r]);
    }

    for (int r = 0; r < n; r++) {
        const __m512 inv = _mm512_set1_ps(1.0f / t.sum[r]);
        float *o = a->out[r];
        for (int c = 0; c < hdv; c += 16)
            _mm512_storeu_ps(o + c, _mm512_mul_ps(_mm512_loadu_ps(o + c), inv));
    }
}
#endif
