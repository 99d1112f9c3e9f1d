/*
 * quant — scalar reference kernels for GGML's tensor formats, and the table
 * that hands out the fastest kernels the CPU supports (see quant.h).
 *
 * Every kernel here is written for clarity: the K-quants are unpacked into
 * one small integer per element plus one scale (and min) per sub-block, and
 * dequantization and the dot products both work from that unpacked form.
 * The SIMD kernels in arch/ are held to these by tests/unit/test_quant_simd.c.
 */
#include "engine/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/arch/quant_arch.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* ---------------------------------------------------------------- halves */

float dx_f16_to_f32(dx_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, nan (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        float f = (float)man * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

dx_f16 dx_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* nan: keep it quiet and keep the top payload bits */
        return (dx_f16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* 65520 and above round to infinity */
        return (dx_f16)(sign | 0x7c00u);
    if (ax >= 0x38800000u) /* normal half: rebias, round to nearest even */
        return (dx_f16)(sign | ((ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1u)) >> 13));
    if (ax <= 0x33000000u) /* at most 2^-25: rounds to zero */
        return (dx_f16)sign;
    /* subnormal half: mantissa = round(value * 2^24) */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u)))
        r++;
    return (dx_f16)(sign | r);
}

float dx_bf16_to_f32(dx_bf16 h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

dx_bf16 dx_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: truncate and force quiet */
        return (dx_bf16)((x >> 16) | 64u);
    return (dx_bf16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

#define F16(h) dx_f16_to_f32(h)

/* Round half to even, as GGML's nearest_int does; |v| must be < 2^22. */
static int nearest_int(float v)
{
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* GGML's "(int8_t)(v)" for a value the math keeps in [0, hi], made safe for
 * nan and out-of-range inputs: truncates toward zero, clamps to [0, hi]. */
static int trunc_clamp(float v, int hi)
{
    if (!(v >= 0.f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Value with the largest magnitude (the first such), and that magnitude. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.f, max = 0.f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) {
            amax = a;
            max = x[i];
        }
    }
    if (amax_out)
        *amax_out = amax;
    return max;
}

/* ----------------------------------------------------------- float rows */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *dst);
}
static void f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *src);
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const dx_f16 *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = F16(h[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n)
{
    dx_f16 *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = dx_f32_to_f16(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const dx_bf16 *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = dx_bf16_to_f32(h[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    dx_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = dx_f32_to_bf16(src[i]);
}

/* The float formats accumulate in double, as GGML's reference does. */
static void f32_vec_dot(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

static void f16_vec_dot(int n, float *s, const void *w, const void *a)
{
    const dx_f16 *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)F16(x[i]) * (double)F16(y[i]);
    *s = (float)sum;
}

static void bf16_vec_dot(int n, float *s, const void *w, const void *a)
{
    const dx_bf16 *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)dx_bf16_to_f32(x[i]) * (double)dx_bf16_to_f32(y[i]);
    *s = (float)sum;
}

/* ------------------------------------------------------ 32-wide formats */

/* In Q4_x and Q5_x, byte j of qs holds element j in its low nibble and
 * element j + 16 in its high nibble; bit j of the little-endian qh word is
 * the fifth bit of element j. */
static uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void unpack_nibbles(const uint8_t qs[16], int q[32])
{
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 0xf;
        q[j + 16] = qs[j] >> 4;
    }
}

static void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int q[32])
{
    uint32_t h = load_qh(qh);
    unpack_nibbles(qs, q);
    for (int j = 0; j < 32; j++)
        q[j] |= (int)((h >> j) & 1u) << 4;
}

static void pack_nibbles(const int q[32], uint8_t qs[16])
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
}

static void pack_q5(const int q[32], uint8_t qs[16], uint8_t qh[4])
{
    uint32_t h = 0;
    pack_nibbles(q, qs);
    for (int j = 0; j < 32; j++)
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

static void q4_0_to_float(const void *src, float *dst, int64_t n)
{
    const block_q4_0 *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        float d = F16(b[i].d);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(q[j] - 8) * d;
    }
}

/* d = max / -8, where max is the value of largest magnitude, so that value
 * maps exactly to -8; the rest round to nearest. As GGML's reference. */
static void q4_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_0 *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK4_0; i++, src += QK4_0) {
        float d = signed_absmax(src, 32, NULL) / -8.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        for (int j = 0; j < 32; j++)
            q[j] = trunc_clamp(src[j] * id + 8.5f, 15);
        b[i].d = dx_f32_to_f16(d);
        pack_nibbles(q, b[i].qs);
    }
}

static void q4_1_to_float(const void *src, float *dst, int64_t n)
{
    const block_q4_1 *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        float d = F16(b[i].d), m = F16(b[i].m);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)q[j] * d + m;
    }
}

static void minmax(const float *x, int n, float *mn, float *mx)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < *mn)
            *mn = x[j];
        if (x[j] > *mx)
            *mx = x[j];
    }
}

/* min .. max split into 15 steps; as GGML's reference. */
static void q4_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_1 *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK4_1; i++, src += QK4_1) {
        float mn, mx;
        minmax(src, 32, &mn, &mx);
        float d = (mx - mn) / 15.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        for (int j = 0; j < 32; j++)
            q[j] = trunc_clamp((src[j] - mn) * id + 0.5f, 15);
        b[i].d = dx_f32_to_f16(d);
        b[i].m = dx_f32_to_f16(mn);
        pack_nibbles(q, b[i].qs);
    }
}

static void q5_0_to_float(const void *src, float *dst, int64_t n)
{
    const block_q5_0 *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        float d = F16(b[i].d);
        unpack_q5(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(q[j] - 16) * d;
    }
}

static void q5_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_0 *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++, src += QK5_0) {
        float d = signed_absmax(src, 32, NULL) / -16.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        for (int j = 0; j < 32; j++)
            q[j] = trunc_clamp(src[j] * id + 16.5f, 31);
        b[i].d = dx_f32_to_f16(d);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void q5_1_to_float(const void *src, float *dst, int64_t n)
{
    const block_q5_1 *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        float d = F16(b[i].d), m = F16(b[i].m);
        unpack_q5(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)q[j] * d + m;
    }
}

static void q5_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_1 *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++, src += QK5_1) {
        float mn, mx;
        minmax(src, 32, &mn, &mx);
        float d = (mx - mn) / 31.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        for (int j = 0; j < 32; j++)
            q[j] = trunc_clamp((src[j] - mn) * id + 0.5f, 31);
        b[i].d = dx_f32_to_f16(d);
        b[i].m = dx_f32_to_f16(mn);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void q8_0_to_float(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        float d = F16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* roundf(v) (ties away from zero) for v within +-127, as GGML's Q8_0/Q8_1;
 * nan and out-of-range values (only from nan/inf inputs) become -127..127
 * instead of overflowing the int8. */
static int round_q8(float v)
{
    return clampi((int)roundf(fminf(fmaxf(v, -128.f), 127.f)), -127, 127);
}

/* d = amax / 127, q = roundf(x / d) (ties away from zero); as GGML's. */
static void q8_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float amax;
        signed_absmax(src, 32, &amax);
        float d = amax / 127.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        for (int j = 0; j < 32; j++)
            b[i].qs[j] = (int8_t)round_q8(src[j] * id);
        b[i].d = dx_f32_to_f16(d);
    }
}

static void q8_1_to_float(const void *src, float *dst, int64_t n)
{
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, dst += QK8_1) {
        float d = F16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* As Q8_0, plus s = d * sum(q) with the unrounded d; as GGML's. */
static void q8_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        float amax;
        signed_absmax(src, 32, &amax);
        float d = amax / 127.f;
        float id = d != 0.f ? 1.f / d : 0.f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = round_q8(src[j] * id);
            b[i].qs[j] = (int8_t)q;
            sum += q;
        }
        b[i].d = dx_f32_to_f16(d);
        b[i].s = dx_f32_to_f16((float)sum * d);
    }
}

static void q4_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    float sum = 0.f;
    int q[32];
    for (int i = 0; i < n / QK4_0; i++) {
        unpack_nibbles(x[i].qs, q);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += (q[j] - 8) * y[i].qs[j];
        sum += (float)isum * (F16(x[i].d) * F16(y[i].d));
    }
    *s = sum;
}

static void q4_1_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q4_1 *x = w;
    const block_q8_1 *y = a;
    float sum = 0.f;
    int q[32];
    for (int i = 0; i < n / QK4_1; i++) {
        unpack_nibbles(x[i].qs, q);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += q[j] * y[i].qs[j];
        sum += (float)isum * (F16(x[i].d) * F16(y[i].d)) + F16(x[i].m) * F16(y[i].s);
    }
    *s = sum;
}

static void q5_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    float sum = 0.f;
    int q[32];
    for (int i = 0; i < n / QK5_0; i++) {
        unpack_q5(x[i].qs, x[i].qh, q);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += (q[j] - 16) * y[i].qs[j];
        sum += (float)isum * (F16(x[i].d) * F16(y[i].d));
    }
    *s = sum;
}

static void q5_1_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q5_1 *x = w;
    const block_q8_1 *y = a;
    float sum = 0.f;
    int q[32];
    for (int i = 0; i < n / QK5_1; i++) {
        unpack_q5(x[i].qs, x[i].qh, q);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += q[j] * y[i].qs[j];
        sum += (float)isum * (F16(x[i].d) * F16(y[i].d)) + F16(x[i].m) * F16(y[i].s);
    }
    *s = sum;
}

static void q8_0_vec_dot(int n, float *s, const void *w, const void *a)
{
    const block_q8_0 *x = w, *y = a;
    float sum = 0.f;
    for (int i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += x[i].qs[j] * y[i].qs[j];
        sum += (float)isum * (F16(x[i].d) * F16(y[i].d));
    }
    *s = sum;
}

/* -------------------------------------------------------------- K-quants */

/* A K-quant super-block unpacked: element e is sc[e / sub] * q[e] - mn[e / sub]
 * (times d and dmin). sub is 32 for Q4_K/Q5_K and 16 for the others. */
typedef struct {
    int q[QK_K];
    int sc[16], mn[16];
} kunpacked;

/* Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes:
 * bytes 0-3 hold scales 0-3 and bytes 4-7 mins 0-3 in their low six bits;
 * bytes 8-11 hold the low nibbles of scales 4-7 (low) and mins 4-7 (high),
 * whose top two bits sit in the top two bits of bytes 0-3 and 4-7. */
static void k4_scale_min(const uint8_t s[12], int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_scale_min_pack(const int sc[8], const int mn[8], uint8_t s[12])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | (mn[j + 4] & 0xf) << 4);
    }
}

/* Q4_K/Q5_K: each 64-element chunk takes 32 bytes of qs, elements 0-31 in
 * the low nibbles and 32-63 in the high ones; in Q5_K bit 2c (first half)
 * and 2c+1 (second half) of qh[l] is the fifth bit for chunk c, byte l. */
static void q4_K_unpack(const block_q4_K *b, kunpacked *u)
{
    for (int j = 0; j < 8; j++)
        k4_scale_min(b->scales, j, &u->sc[j], &u->mn[j]);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u->q[64 * c + l] = b->qs[32 * c + l] & 0xf;
            u->q[64 * c + 32 + l] = b->qs[32 * c + l] >> 4;
        }
}

static void q5_K_unpack(const block_q5_K *b, kunpacked *u)
{
    for (int j = 0; j < 8; j++)
        k4_scale_min(b->scales, j, &u->sc[j], &u->mn[j]);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u->q[64 * c + l] = (b->qs[32 * c + l] & 0xf) | ((b->qh[l] >> (2 * c)) & 1) << 4;
            u->q[64 * c + 32 + l] = (b->qs[32 * c + l] >> 4) | ((b->qh[l] >> (2 * c + 1)) & 1) << 4;
        }
}

/* Q6_K: each 128-element half takes 64 bytes of ql and 32 of qh. For l < 32,
 * elements l, l+32, l+64, l+96 take their low four bits from ql[l] (low),
 * ql[l+32] (low), ql[l] (high), ql[l+32] (high) and their top two bits from
 * bits 0-1, 2-3, 4-5, 6-7 of qh[l]; stored values are offset by 32. */
static void q6_K_unpack(const block_q6_K *b, kunpacked *u)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int *q = u->q + 128 * h;
        for (int l = 0; l < 32; l++) {
            q[l] = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
            q[l + 32] = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
            q[l + 64] = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            q[l + 96] = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        }
    }
    for (int j = 0; j < 16; j++) {
        u->sc[j] = b->scales[j];
        u->mn[j] = 0;
    }
}

/* Q2_K: each 128-element half takes 32 bytes of qs; element 32k + l of the
 * half (k < 4, l < 32) is bits 2k..2k+1 of byte l. scales[j] holds the scale
 * (low nibble) and min (high nibble) of elements 16j..16j+15. */
static void q2_K_unpack(const block_q2_K *b, kunpacked *u)
{
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                u->q[128 * h + 32 * k + l] = (b->qs[32 * h + l] >> (2 * k)) & 3;
    for (int j = 0; j < 16; j++) {
        u->sc[j] = b->scales[j] & 0xf;
        u->mn[j] = b->scales[j] >> 4;
    }
}

/* Q3_K: two low bits as in Q2_K; bit 4h + k of hmask[l] set means the value
 * is as is, clear means minus 4 (so values are -4..3). Sixteen 6-bit scales,
 * offset by 32: scale i has its low nibble in byte i (i < 8, low nibble) or
 * byte i - 8 (high nibble) and its top two bits in byte 8 + i % 4 at bit
 * 2 * (i / 4). */
static void q3_K_unpack(const block_q3_K *b, kunpacked *u)
{
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                int lo = (b->qs[32 * h + l] >> (2 * k)) & 3;
                int hi = (b->hmask[l] >> (4 * h + k)) & 1;
                u->q[128 * h + 32 * k + l] = lo - (hi ? 0 : 4);
            }
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? b->scales[i] & 0xf : b->scales[i - 8] >> 4;
        int hi = (b->scales[8 + i % 4] >> (2 * (i / 4))) & 3;
        u->sc[i] = (lo | hi << 4) - 32;
        u->mn[i] = 0;
    }
}

static void kunpacked_to_float(const kunpacked *u, int sub, float d, float dmin, float *dst)
{
    for (int e = 0; e < QK_K; e++) {
        int j = e / sub;
        dst[e] = d * (float)u->sc[j] * (float)u->q[e] - dmin * (float)u->mn[j];
    }
}

/* sum over sub-blocks j of sc[j] * dot(q, a) and of mn[j] * sum(a), in integers. */
static void kunpacked_dot(const kunpacked *u, int sub, const block_q8_K *y, int *isc, int *imn)
{
    int s = 0, m = 0;
    for (int j = 0; j < QK_K / sub; j++) {
        int dot = 0, asum = 0;
        for (int l = 0; l < sub; l++)
            dot += u->q[sub * j + l] * y->qs[sub * j + l];
        for (int k = 0; k < sub / 16; k++)
            asum += y->bsums[sub / 16 * j + k];
        s += u->sc[j] * dot;
        m += u->mn[j] * asum;
    }
    *isc = s;
    *imn = m;
}

#define K_FORMAT(T, SUB, DMIN)                                                                     \
    static void T##_to_float(const void *src, float *dst, int64_t n)                               \
    {                                                                                              \
        const block_##T *b = src;                                                                  \
        kunpacked u;                                                                               \
        for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {                                      \
            T##_unpack(&b[i], &u);                                                                 \
            kunpacked_to_float(&u, SUB, F16(b[i].d), DMIN, dst);                                   \
        }                                                                                          \
    }                                                                                              \
    static void T##_vec_dot(int n, float *s, const void *w, const void *a)                         \
    {                                                                                              \
        const block_##T *b = w;                                                                    \
        const block_q8_K *y = a;                                                                   \
        float sum = 0.f;                                                                           \
        kunpacked u;                                                                               \
        for (int i = 0; i < n / QK_K; i++) {                                                       \
            int isc, imn;                                                                          \
            T##_unpack(&b[i], &u);                                                                 \
            kunpacked_dot(&u, SUB, &y[i], &isc, &imn);                                             \
            sum += y[i].d * F16(b[i].d) * (float)isc - y[i].d * (DMIN) * (float)imn;               \
        }                                                                                          \
        *s = sum;                                                                                  \
    }

K_FORMAT(q2_K, 16, F16(b[i].dmin))
K_FORMAT(q3_K, 16, 0.f)
K_FORMAT(q4_K, 32, F16(b[i].dmin))
K_FORMAT(q5_K, 32, F16(b[i].dmin))
K_FORMAT(q6_K, 16, 0.f)

/*
 * Reference K-quant quantizers: plain round-to-nearest, no search for the
 * best scales (GGML's quantizers search; files made by them read the same).
 * Q4_K/Q5_K: per 32-element sub-block, a scale and a min covering its range
 * (the min clamped so that zero is representable), both stored as 6-bit
 * multiples of the super-block's d and dmin.
 */
static void kq_asym(const float *x, int nmax, int q[QK_K], int sc[8], int mn[8], float *d_out,
                    float *dmin_out)
{
    float scale[8], minv[8], max_scale = 0.f, max_min = 0.f;
    for (int j = 0; j < 8; j++) {
        float lo, hi;
        minmax(x + 32 * j, 32, &lo, &hi);
        if (lo > 0.f)
            lo = 0.f;
        if (hi < lo)
            hi = lo;
        scale[j] = (hi - lo) / (float)nmax;
        minv[j] = -lo;
        if (scale[j] > max_scale)
            max_scale = scale[j];
        if (minv[j] > max_min)
            max_min = minv[j];
    }
    float d = dx_f16_to_f32(dx_f32_to_f16(max_scale / 63.f));
    float dmin = dx_f16_to_f32(dx_f32_to_f16(max_min / 63.f));
    for (int j = 0; j < 8; j++) {
        sc[j] = d > 0.f ? clampi(nearest_int(scale[j] / d), 0, 63) : 0;
        mn[j] = dmin > 0.f ? clampi(nearest_int(minv[j] / dmin), 0, 63) : 0;
        float dq = d * (float)sc[j], mq = dmin * (float)mn[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = dq > 0.f ? clampi(nearest_int((x[32 * j + l] + mq) / dq), 0, nmax) : 0;
    }
    *d_out = d;
    *dmin_out = dmin;
}

static float finite_or_zero(float v)
{
    return isfinite(v) ? v : 0.f;
}

static void q4_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_K *b = dst;
    int q[QK_K], sc[8], mn[8];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float d, dmin;
        kq_asym(src, 15, q, sc, mn, &d, &dmin);
        b[i].d = dx_f32_to_f16(finite_or_zero(d));
        b[i].dmin = dx_f32_to_f16(finite_or_zero(dmin));
        k4_scale_min_pack(sc, mn, b[i].scales);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    }
}

static void q5_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_K *b = dst;
    int q[QK_K], sc[8], mn[8];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float d, dmin;
        kq_asym(src, 31, q, sc, mn, &d, &dmin);
        b[i].d = dx_f32_to_f16(finite_or_zero(d));
        b[i].dmin = dx_f32_to_f16(finite_or_zero(dmin));
        k4_scale_min_pack(sc, mn, b[i].scales);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
                b[i].qh[l] |=
                    (uint8_t)(((lo >> 4) & 1) << (2 * c) | ((hi >> 4) & 1) << (2 * c + 1));
            }
    }
}

/* Q2_K: per 16-element sub-block a scale and min over its range (zero kept
 * representable), both stored as 4-bit multiples of d and dmin. */
static void q2_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q2_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float scale[16], minv[16], max_scale = 0.f, max_min = 0.f;
        for (int j = 0; j < 16; j++) {
            float lo, hi;
            minmax(src + 16 * j, 16, &lo, &hi);
            if (lo > 0.f)
                lo = 0.f;
            if (hi < lo)
                hi = lo;
            scale[j] = (hi - lo) / 3.f;
            minv[j] = -lo;
            if (scale[j] > max_scale)
                max_scale = scale[j];
            if (minv[j] > max_min)
                max_min = minv[j];
        }
        float d = finite_or_zero(dx_f16_to_f32(dx_f32_to_f16(max_scale / 15.f)));
        float dmin = finite_or_zero(dx_f16_to_f32(dx_f32_to_f16(max_min / 15.f)));
        int q[QK_K];
        for (int j = 0; j < 16; j++) {
            int sc = d > 0.f ? clampi(nearest_int(scale[j] / d), 0, 15) : 0;
            int mn = dmin > 0.f ? clampi(nearest_int(minv[j] / dmin), 0, 15) : 0;
            b[i].scales[j] = (uint8_t)(sc | mn << 4);
            float dq = d * (float)sc, mq = dmin * (float)mn;
            for (int l = 0; l < 16; l++)
                q[16 * j + l] =
                    dq > 0.f ? clampi(nearest_int((src[16 * j + l] + mq) / dq), 0, 3) : 0;
        }
        b[i].d = dx_f32_to_f16(d);
        b[i].dmin = dx_f32_to_f16(dmin);
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++)
                    b[i].qs[32 * h + l] |= (uint8_t)(q[128 * h + 32 * k + l] << (2 * k));
    }
}

/* Q3_K: per 16-element sub-block a signed scale mapping its value of largest
 * magnitude to -4, stored as a 6-bit multiple (-32..31) of d. */
static void q3_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q3_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float scale[16], max_scale = 0.f, amax_scale = 0.f;
        for (int j = 0; j < 16; j++) {
            scale[j] = signed_absmax(src + 16 * j, 16, NULL) / -4.f;
            if (fabsf(scale[j]) > amax_scale) {
                amax_scale = fabsf(scale[j]);
                max_scale = scale[j];
            }
        }
        float d = amax_scale > 0.f ? finite_or_zero(dx_f16_to_f32(dx_f32_to_f16(max_scale / -32.f)))
                                   : 0.f;
        int q[QK_K];
        memset(b[i].scales, 0, sizeof b[i].scales);
        for (int j = 0; j < 16; j++) {
            int sc = d != 0.f ? clampi(nearest_int(scale[j] / d), -32, 31) : 0;
            int v = sc + 32;
            b[i].scales[j % 8] |= (uint8_t)((v & 0xf) << (j < 8 ? 0 : 4));
            b[i].scales[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
            float dq = d * (float)sc;
            for (int l = 0; l < 16; l++)
                q[16 * j + l] =
                    (dq != 0.f ? clampi(nearest_int(src[16 * j + l] / dq), -4, 3) : 0) + 4;
        }
        b[i].d = dx_f32_to_f16(d);
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    int v = q[128 * h + 32 * k + l];
                    b[i].qs[32 * h + l] |= (uint8_t)((v & 3) << (2 * k));
                    b[i].hmask[l] |= (uint8_t)((v >> 2) << (4 * h + k));
                }
    }
}

/* Q6_K: per 16-element sub-block a signed scale mapping its value of largest
 * magnitude to -32, stored as an 8-bit multiple of the super-block's d. */
static void q6_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float scale[16], max_scale = 0.f, amax_scale = 0.f;
        for (int j = 0; j < 16; j++) {
            scale[j] = signed_absmax(src + 16 * j, 16, NULL) / -32.f;
            if (fabsf(scale[j]) > amax_scale) {
                amax_scale = fabsf(scale[j]);
                max_scale = scale[j];
            }
        }
        float d = amax_scale > 0.f ? dx_f16_to_f32(dx_f32_to_f16(max_scale / -128.f)) : 0.f;
        int q[QK_K];
        for (int j = 0; j < 16; j++) {
            int sc = d != 0.f ? clampi(nearest_int(scale[j] / d), -128, 127) : 0;
            b[i].scales[j] = (int8_t)sc;
            float dq = d * (float)sc;
            for (int l = 0; l < 16; l++)
                q[16 * j + l] =
                    dq != 0.f ? clampi(nearest_int(src[16 * j + l] / dq), -32, 31) + 32 : 32;
        }
        b[i].d = dx_f32_to_f16(finite_or_zero(d));
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((qq[l] & 0xf) | (qq[l + 64] & 0xf) << 4);
                ql[l + 32] = (uint8_t)((qq[l + 32] & 0xf) | (qq[l + 96] & 0xf) << 4);
                qh[l] = (uint8_t)(qq[l] >> 4 | (qq[l + 32] >> 4) << 2 | (qq[l + 64] >> 4) << 4 |
                                  (qq[l + 96] >> 4) << 6);
            }
        }
    }
}

static void q8_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++)
            dst[j] = b[i].d * (float)b[i].qs[j];
}

/* The value of largest magnitude maps to -127 (scale -127 / max, rounded half
 * to even, capped at 127), d = 1 / scale, bsums[j] = sum of q[16j..16j+15];
 * as GGML's. An all-zero block stores d = 0 and zeros. */
static void q8_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax, max = signed_absmax(src, QK_K, &amax);
        if (!(amax > 0.f) || !isfinite(amax)) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            float v = fminf(fmaxf(iscale * src[j], -128.f), 127.f);
            b[i].qs[j] = (int8_t)clampi(nearest_int(v), -128, 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1.f / iscale;
    }
}

/* ------------------------------------------------------------ the table */

#define T(id, nm, bs, tsz, tf, ff, vd, vt)                                                         \
    [id] = {.name = nm,                                                                            \
            .block_size = bs,                                                                      \
            .type_size = tsz,                                                                      \
            .to_float = tf,                                                                        \
            .from_float = ff,                                                                      \
            .vec_dot = vd,                                                                         \
            .vec_dot_type = vt}

static const quant_traits scalar_traits[QT_COUNT] = {
    T(QT_F32, "F32", 1, 4, f32_to_float, f32_from_float, f32_vec_dot, QT_F32),
    T(QT_F16, "F16", 1, 2, f16_to_float, f16_from_float, f16_vec_dot, QT_F16),
    T(QT_BF16, "BF16", 1, 2, bf16_to_float, bf16_from_float, bf16_vec_dot, QT_BF16),
    T(QT_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), q4_0_to_float, q4_0_from_float, q4_0_vec_dot,
      QT_Q8_0),
    T(QT_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), q4_1_to_float, q4_1_from_float, q4_1_vec_dot,
      QT_Q8_1),
    T(QT_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), q5_0_to_float, q5_0_from_float, q5_0_vec_dot,
      QT_Q8_0),
    T(QT_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), q5_1_to_float, q5_1_from_float, q5_1_vec_dot,
      QT_Q8_1),
    T(QT_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), q8_0_to_float, q8_0_from_float, q8_0_vec_dot,
      QT_Q8_0),
    T(QT_Q8_1, "Q8_1", QK8_1, sizeof(block_q8_1), q8_1_to_float, q8_1_from_float, NULL, QT_Q8_1),
    T(QT_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), q2_K_to_float, q2_K_from_float, q2_K_vec_dot,
      QT_Q8_K),
    T(QT_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), q3_K_to_float, q3_K_from_float, q3_K_vec_dot,
      QT_Q8_K),
    T(QT_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), q4_K_to_float, q4_K_from_float, q4_K_vec_dot,
      QT_Q8_K),
    T(QT_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), q5_K_to_float, q5_K_from_float, q5_K_vec_dot,
      QT_Q8_K),
    T(QT_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), q6_K_to_float, q6_K_from_float, q6_K_vec_dot,
      QT_Q8_K),
    T(QT_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), q8_K_to_float, q8_K_from_float, NULL, QT_Q8_K),
};

#undef T

/* The kernels a SIMD level replaces (see arch/quant_arch.h). */
static const quant_kernel *level_kernels(int level, size_t *count)
{
    *count = 0;
    switch (level) {
#if defined(__x86_64__)
    case QL_AVX2:
        *count = quant_avx2_kernel_count;
        return quant_avx2_kernels;
    case QL_AVX512:
        *count = quant_avx512_kernel_count;
        return quant_avx512_kernels;
#endif
    default:
        return NULL;
    }
}

static quant_traits active[QT_COUNT];
static int active_level;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *const level_names[QL_COUNT] = {"scalar", "avx2", "avx512"};

const char *quant_level_name(int level)
{
    return level >= 0 && level < QL_COUNT ? level_names[level] : NULL;
}

#if defined(__x86_64__)
/* F16C (CPUID leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports knows it. */
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

bool quant_level_supported(int level)
{
    switch (level) {
    case QL_SCALAR:
        return true;
#if defined(__x86_64__)
    case QL_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case QL_AVX512:
        __builtin_cpu_init();
        return quant_level_supported(QL_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16");
#endif
    default:
        return false;
    }
}

static void fill_level(int level, quant_traits out[QT_COUNT])
{
    memcpy(out, scalar_traits, sizeof scalar_traits);
    /* a level includes every lower level's kernels */
    for (int l = QL_SCALAR + 1; l <= level; l++) {
        size_t count;
        const quant_kernel *k = level_kernels(l, &count);
        for (size_t i = 0; i < count; i++) {
            if (k[i].from_float)
                out[k[i].type].from_float = k[i].from_float;
            if (k[i].vec_dot)
                out[k[i].type].vec_dot = k[i].vec_dot;
        }
    }
}

static void init_once_fn(void)
{
    int level = QL_SCALAR;
    while (level + 1 < QL_COUNT && quant_level_supported(level + 1))
        level++;
    const char *want = getenv("DRUX_KERNELS");
    if (want && *want) {
        int l = 0;
        while (l < QL_COUNT && strcmp(want, level_names[l]))
            l++;
        if (l == QL_COUNT)
            log_warn("DRUX_KERNELS=%s is not one of scalar, avx2, avx512; using %s kernels", want,
                     level_names[level]);
        else if (l > level)
            log_warn("DRUX_KERNELS=%s: this CPU can't run those kernels; using %s", want,
                     level_names[level]);
        else
            level = l;
    }
    fill_level(level, active);
    active_level = level;
    log_debug("tensor kernels: %s", level_names[level]);
}

void quant_init(void)
{
    pthread_once(&init_once, init_once_fn);
}

const char *quant_kernel_level(void)
{
    quant_init();
    return level_names[active_level];
}

const quant_traits *quant_get(uint32_t type)
{
    quant_init();
    if (type >= QT_COUNT || !active[type].to_float)
        return NULL;
    return &active[type];
}

bool quant_get_level(uint32_t type, int level, quant_traits *out)
{
    if (type >= QT_COUNT || !scalar_traits[type].to_float || !quant_level_supported(level))
        return false;
    quant_traits all[QT_COUNT];
    fill_level(level, all);
    *out = all[type];
    return true;
}
