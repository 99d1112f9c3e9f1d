/*
 * test_quant — the scalar reference kernels of every tensor format.
 *
 * Layouts are held to an independent reader: tests/data/quant/ holds blocks
 * and the gguf Python package's dequantization (and quantization) of them,
 * written by tools/make_quant_vectors.py, which also records GGML's own
 * reference activation quantizers (compared byte for byte) and GGML's CPU
 * dot products (compared within a tolerance) from the libggml bundled with
 * llama-cpp-python. Quantizers are held to round-trip error bounds, and every
 * vec_dot to the dot product of the two dequantized vectors.
 */
#include <dirent.h>
#include <stdint.h>

#include "engine/quant.h"
#include "gguf/gguf.h"
#include "test.h"
#include "test_rand.h"
#include "unit/quant_vectors.h"

static bool same_float(float a, float b)
{
    if (isnan(a) && isnan(b))
        return true;
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}

/* Compares to_float(raw) with gguf's floats bit for bit; returns the index
 * of the first difference, or -1. */
static long dequant_mismatch(const quant_traits *tr, const vecfile *v, float *got, float *want)
{
    tr->to_float(v->raw, got, v->n);
    memcpy(want, v->dequant, (size_t)v->n * 4);
    for (long i = 0; i < v->n; i++)
        if (!same_float(got[i], want[i]))
            return i;
    return -1;
}

static const uint32_t all_types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0, QT_Q4_1,
                                     QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_Q2_K,
                                     QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_Q8_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* ------------------------------------------------------------- halves */

/* Every half converts to a float and back to itself (nans stay nans). */
TEST(f16_round_trips_every_half)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dx_f16_to_f32((dx_f16)h);
        dx_f16 back = dx_f32_to_f16(f);
        bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan)
            CHECK_MSG(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff), "half %04x", h);
        else
            CHECK_MSG(back == h, "half %04x -> %g -> %04x", h, f, back);
    }
    CHECK_EQ_INT(dx_f16_to_f32(0x3c00), 1);
    CHECK(dx_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(dx_f16_to_f32(0xfc00) == -INFINITY);
}

/* f32 -> f16 rounds to the nearest half, ties to the even one, overflow to inf. */
TEST(f16_rounds_to_nearest_even)
{
    CHECK_EQ_INT(dx_f32_to_f16(65504.f), 0x7bff);
    CHECK_EQ_INT(dx_f32_to_f16(65519.99f), 0x7bff);
    CHECK_EQ_INT(dx_f32_to_f16(65520.f), 0x7c00);
    CHECK_EQ_INT(dx_f32_to_f16(-1e9f), 0xfc00);
    CHECK_EQ_INT(dx_f32_to_f16(0x1p-25f), 0x0000); /* tie: to even zero */
    CHECK_EQ_INT(dx_f32_to_f16(0x1.000002p-25f), 0x0001);
    CHECK_EQ_INT(dx_f32_to_f16(0x1.8p-24f), 0x0002);     /* tie 1.5 -> 2 */
    CHECK_EQ_INT(dx_f32_to_f16(1.f + 0x1p-11f), 0x3c00); /* tie -> even */
    CHECK_EQ_INT(dx_f32_to_f16(1.f + 0x3p-11f), 0x3c02); /* tie -> even (up) */
    CHECK_EQ_INT(dx_f32_to_f16(-0.f), 0x8000);
    CHECK(isnan(dx_f16_to_f32(dx_f32_to_f16(NAN))));
    /* random floats: the result is at least as close as both neighbours */
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = 0x30000000u + rnd() % 0x17800000u; /* ~2^-31 .. 2^16 */
        float f;
        memcpy(&f, &bits, 4);
        dx_f16 h = dx_f32_to_f16(f);
        if ((h & 0x7c00) == 0x7c00)
            continue;
        double e = fabs((double)dx_f16_to_f32(h) - f);
        double up = fabs((double)dx_f16_to_f32((dx_f16)(h + 1)) - f);
        double dn = h ? fabs((double)dx_f16_to_f32((dx_f16)(h - 1)) - f) : INFINITY;
        CHECK_MSG(e <= up && e <= dn, "%a -> %04x", f, h);
    }
}

TEST(bf16_conversions)
{
    CHECK_EQ_INT(dx_f32_to_bf16(1.f), 0x3f80);
    CHECK_EQ_INT(dx_f32_to_bf16(0x1.01p0f), 0x3f80); /* tie -> even */
    CHECK_EQ_INT(dx_f32_to_bf16(0x1.03p0f), 0x3f82); /* tie -> even (up) */
    CHECK_EQ_INT(dx_f32_to_bf16(INFINITY), 0x7f80);
    CHECK_EQ_INT(dx_f32_to_bf16(3.4e38f), 0x7f80); /* rounds past the largest */
    CHECK(isnan(dx_bf16_to_f32(dx_f32_to_bf16(NAN))));
    uint32_t snan = 0x7f800001u; /* a nan whose payload is in the dropped bits */
    float f;
    memcpy(&f, &snan, 4);
    CHECK(isnan(dx_bf16_to_f32(dx_f32_to_bf16(f))));
    for (uint32_t h = 0; h < 65536; h++) {
        float g = dx_bf16_to_f32((dx_bf16)h);
        if (!isnan(g))
            CHECK_MSG(dx_f32_to_bf16(g) == h, "bf16 %04x", h);
    }
}

/* ------------------------------------------- layouts vs the gguf package */

static const char *const vec_names[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                        "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};

TEST(dequantize_matches_gguf_python)
{
    for (size_t k = 0; k < sizeof vec_names / sizeof vec_names[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, VEC_DIR "/%s.txt", vec_names[k]);
        vecfile v;
        CHECK_MSG(vecfile_read(path, &v), "cannot read %s (run from the repo root)", path);
        quant_traits tr;
        int t = type_by_name(v.type);
        CHECK_MSG(t >= 0 && quant_get_level((uint32_t)t, QL_SCALAR, &tr), "%s", v.type);
        CHECK_EQ_INT(v.raw_len, (size_t)v.n / (size_t)tr.block_size * tr.type_size);
        float *got = malloc((size_t)v.n * 4), *want = malloc((size_t)v.n * 4);
        long bad = dequant_mismatch(&tr, &v, got, want);
        if (bad >= 0)
            TEST_FAILF("%s element %ld: %a, gguf says %a", v.type, bad, got[bad], want[bad]);
        free(got);
        free(want);
        vecfile_free(&v);
        if (bad >= 0)
            return;
    }
}

/* The weight quantizers GGML defines a reference for (and Q8_0, the
 * activation format) give the same bytes as gguf's quantize(). */
TEST(quantize_matches_gguf_python)
{
    const char *names[] = {"F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, VEC_DIR "/%s.txt", names[k]);
        vecfile v;
        CHECK_MSG(vecfile_read(path, &v), "cannot read %s", path);
        CHECK_MSG(v.input && v.quant, "%s has no quantize vectors", path);
        quant_traits tr;
        int t = type_by_name(v.type);
        CHECK(t >= 0 && quant_get_level((uint32_t)t, QL_SCALAR, &tr));
        long n = (long)(v.input_len / 4);
        float *x = malloc(v.input_len);
        memcpy(x, v.input, v.input_len);
        uint8_t *q = calloc(1, v.quant_len + 64);
        tr.from_float(x, q, n);
        size_t bad = v.quant_len;
        for (size_t i = 0; i < v.quant_len; i++)
            if (q[i] != v.quant[i]) {
                bad = i;
                break;
            }
        if (bad < v.quant_len)
            TEST_FAILF("%s byte %zu (block %zu): %02x, gguf says %02x", v.type, bad,
                       bad / tr.type_size, q[bad], v.quant[bad]);
        free(x);
        free(q);
        vecfile_free(&v);
        if (bad < v.quant_len)
            return;
    }
}

/* GGML's own reference quantizers (Q8_0, Q8_1, Q8_K; F16/BF16 conversion)
 * give the same bytes for the same activations. */
TEST(activation_quantizers_match_ggml)
{
    int checked = 0;
    for (size_t k = 0; k < sizeof vec_names / sizeof vec_names[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, VEC_DIR "/%s.txt", vec_names[k]);
        vecfile v;
        CHECK_MSG(vecfile_read(path, &v), "cannot read %s", path);
        if (!v.act_quant) {
            vecfile_free(&v);
            continue;
        }
        quant_traits at;
        int t = type_by_name(v.act_type);
        bool ok = t >= 0 && quant_get_level((uint32_t)t, QL_SCALAR, &at) &&
                  v.act_quant_len == (size_t)v.n / (size_t)at.block_size * at.type_size;
        size_t bad = v.act_quant_len;
        if (ok) {
            float *x = malloc(v.act_input_len);
            uint8_t *q = calloc(1, v.act_quant_len);
            memcpy(x, v.act_input, v.act_input_len);
            at.from_float(x, q, v.n);
            for (size_t i = 0; i < v.act_quant_len && bad == v.act_quant_len; i++)
                if (q[i] != v.act_quant[i])
                    bad = i;
            if (bad < v.act_quant_len)
                TEST_FAILF("%s from %s.txt: byte %zu (block %zu) is %02x, GGML's %02x", v.act_type,
                           vec_names[k], bad, bad / at.type_size, q[bad], v.act_quant[bad]);
            free(x);
            free(q);
        } else {
            TEST_FAILF("%s.txt: bad act_type %s", vec_names[k], v.act_type);
        }
        bool failed = !ok || bad < v.act_quant_len;
        vecfile_free(&v);
        if (failed)
            return;
        checked++;
    }
    if (!checked)
        SKIP("the vectors have no GGML activations (made without llama-cpp-python)");
}

/* Our dot products agree with GGML's CPU ones on the same blocks and
 * activations, within 1e-5 of sum |w_i a_i|. */
TEST(vec_dot_matches_ggml)
{
    int checked = 0;
    for (size_t k = 0; k < sizeof vec_names / sizeof vec_names[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, VEC_DIR "/%s.txt", vec_names[k]);
        vecfile v;
        CHECK_MSG(vecfile_read(path, &v), "cannot read %s", path);
        quant_traits wt, at;
        double err, tol;
        float ours, ggml;
        int t = type_by_name(v.type), ta = type_by_name(v.act_type);
        bool has =
            v.act_quant && t >= 0 && ta >= 0 && quant_get_level((uint32_t)t, QL_SCALAR, &wt) &&
            quant_get_level((uint32_t)ta, QL_SCALAR, &at) && wt.vec_dot_type == (enum qtype)ta &&
            vecfile_dot_check(&v, &wt, &at, &err, &tol, &ours, &ggml);
        vecfile_free(&v);
        if (!has)
            continue;
        CHECK_MSG(err <= tol, "%s: %.9g, GGML %.9g (tol %.3g)", vec_names[k], ours, ggml, tol);
        checked++;
    }
    if (!checked)
        SKIP("the vectors have no GGML dot products (made without llama-cpp-python)");
}

/* Rows of real model tensors, dequantized by gguf (recorded when the model
 * files were present; the vectors are in the repo). */
TEST(dequantize_real_rows_match_gguf_python)
{
    DIR *d = opendir(VEC_DIR);
    CHECK_MSG(d, "cannot open %s", VEC_DIR);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "real_", 5))
            continue;
        char path[512];
        snprintf(path, sizeof path, VEC_DIR "/%s", e->d_name);
        vecfile v;
        if (!vecfile_read(path, &v)) {
            closedir(d);
            CHECK_MSG(0, "cannot read %s", path);
        }
        quant_traits tr;
        int t = type_by_name(v.type);
        float *got = malloc((size_t)v.n * 4), *want = malloc((size_t)v.n * 4);
        long bad = t >= 0 && quant_get_level((uint32_t)t, QL_SCALAR, &tr)
                       ? dequant_mismatch(&tr, &v, got, want)
                       : -2;
        if (bad == -2)
            TEST_FAILF("%s: unknown type %s", e->d_name, v.type);
        else if (bad >= 0)
            TEST_FAILF("%s element %ld: %a, gguf says %a", e->d_name, bad, got[bad], want[bad]);
        free(got);
        free(want);
        vecfile_free(&v);
        if (bad != -1) {
            closedir(d);
            return;
        }
        seen++;
    }
    closedir(d);
    if (!seen)
        SKIP("no real_*.txt rows in %s (model files were absent when they were made)", VEC_DIR);
}

/* ------------------------------------------------------- round trips */

/* Largest error allowed after quantize + dequantize, as a fraction of the
 * largest magnitude in the block (the super-block for K-quants). A format
 * with k levels across a block's range has steps of about 2 / k of it, so a
 * rounding error of half a step; the K-quants add the error of their 6- or
 * 8-bit sub-block scales; the float formats are relative to each value. */
static double roundtrip_bound(uint32_t t)
{
    switch (t) {
    case QT_F32:
        return 0;
    case QT_F16:
        return 0x1p-11; /* relative, per value */
    case QT_BF16:
        return 0x1p-8; /* relative, per value */
    /* d = max / -8 maps the largest value to -8, so the opposite end of the
     * range stops at 7 steps: values there clip by up to a whole step */
    /* d = max / -8 maps the largest value to -8, so the opposite end of the
     * range stops at 7 steps: values there clip by up to a whole step. The
     * 2^-11 is the rounding of d to a half, times the largest q. */
    case QT_Q4_0:
        return (1.0 / 8 + 0x1p-11) * 1.01;
    case QT_Q4_1:
        return (1.0 / 15 + 0x1p-10) * 1.01; /* half a step of 2/15, d and m halves */
    case QT_Q5_0:
        return (1.0 / 16 + 0x1p-11) * 1.01;
    case QT_Q5_1:
        return (1.0 / 31 + 0x1p-10) * 1.01;
    case QT_Q8_0:
    case QT_Q8_1:
        return (1.0 / 254 + 0x1p-11) * 1.01;
    case QT_Q8_K:
        return 1.0 / 254 * 1.01; /* d is a float */
    case QT_Q2_K:
        return 0.40; /* 1/3 for half a step of 2/3, plus 4-bit scale/min rounding */
    case QT_Q3_K:
        return 0.30; /* clipping at +3 (as Q4_0): a step, 1/4, plus 6-bit scale rounding */
    case QT_Q4_K:
        return 0.085; /* 1/15 for half a step plus 6-bit scale/min rounding */
    case QT_Q5_K:
        return 0.045; /* 1/31 plus the same */
    case QT_Q6_K:
        return 0.035; /* clipping at +31 (as Q4_0): a step, 1/32, plus 8-bit scale rounding */
    default:
        return 0;
    }
}

TEST(quantize_round_trip_within_bounds)
{
    enum { N = 4096 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    uint8_t *q = malloc(N * 4 + 1024);
    for (size_t k = 0; k < N_TYPES; k++) {
        quant_traits tr;
        CHECK(quant_get_level(all_types[k], QL_SCALAR, &tr));
        if (!tr.from_float)
            continue;
        fill_random(x, N);
        if (all_types[k] != QT_F16 && all_types[k] != QT_BF16)
            memset(x + 256, 0, 256 * 4); /* an all-zero (super-)block */
        tr.from_float(x, q, N);
        tr.to_float(q, y, N);
        double bound = roundtrip_bound(all_types[k]), worst = 0;
        int blk = tr.block_size > 1 ? tr.block_size : 1;
        for (int b = 0; b < N / blk; b++) {
            float amax = 0;
            for (int i = 0; i < blk; i++)
                amax = fmaxf(amax, fabsf(x[b * blk + i]));
            for (int i = b * blk; i < (b + 1) * blk; i++) {
                double err = fabs((double)y[i] - x[i]);
                /* halves below 2^-14 are subnormal: a fixed step of 2^-24 */
                double floor_ = all_types[k] == QT_F16 ? 0x1p-14 : 0;
                double rel = err / (blk > 1 ? amax : fmax(fabsf(x[i]), floor_));
                if (err > 0 && rel > worst)
                    worst = rel;
                if (err > 0 && !(rel <= bound)) {
                    TEST_FAILF(
                        "%s element %d: %g -> %g (error %.4g of the block's max, bound %.4g)",
                        tr.name, i, x[i], y[i], rel, bound);
                    goto out;
                }
            }
        }
        printf("  %s: worst round-trip error %.4g (bound %.4g)\n", tr.name, worst, bound);
    }
out:
    free(x);
    free(y);
    free(q);
}

/* Q8_1 carries s = d * sum(q); Q8_K carries the sums of each 16 values; both
 * map the value of largest magnitude to +-127 exactly. */
TEST(activation_formats_carry_their_sums)
{
    enum { N = 512 };
    float x[N];
    fill_random(x, N);
    memset(x + 256, 0, 256 * 4);
    block_q8_K k[N / QK_K];
    quant_traits tr;
    CHECK(quant_get_level(QT_Q8_K, QL_SCALAR, &tr));
    tr.from_float(x, k, N);
    CHECK(k[1].d == 0);
    for (int b = 0; b < N / QK_K; b++) {
        int has127 = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) {
                sum += k[b].qs[16 * j + l];
                has127 |= abs(k[b].qs[16 * j + l]) == 127;
            }
            CHECK_EQ_INT(k[b].bsums[j], sum);
        }
        CHECK(b == 1 || has127);
    }
    block_q8_1 q1[N / QK8_1];
    CHECK(quant_get_level(QT_Q8_1, QL_SCALAR, &tr));
    tr.from_float(x, q1, N);
    for (int b = 0; b < N / QK8_1; b++) {
        int sum = 0;
        for (int l = 0; l < 32; l++)
            sum += q1[b].qs[l];
        float want = dx_f16_to_f32(q1[b].d) * (float)sum;
        CHECK_NEAR(dx_f16_to_f32(q1[b].s), want, fabsf(want) * 0x1p-10 + 1e-30);
    }
    CHECK(dx_f16_to_f32(q1[8].d) == 0 && q1[8].s == 0);
}

/* --------------------------------------------------------- dot products */

/* Tolerance: 1e-5 of sum |w_i a_i| (float accumulation over up to a few
 * thousand terms); the *_1 formats add 2^-10 of each block's |m * s|, as
 * s = d * sum(q) is stored as a half from the unrounded d. */
TEST(vec_dot_matches_dequantized_dot)
{
    const int ns[] = {1, 32, 256, 512, 2048, 4096};
    float *x = malloc(4096 * 4), *a = malloc(4096 * 4), *xd = malloc(4096 * 4),
          *ad = malloc(4096 * 4);
    uint8_t *wq = malloc(4096 * 4 + 1024), *aq = malloc(4096 * 4 + 1024);
    for (size_t k = 0; k < N_TYPES; k++) {
        quant_traits wt, at;
        CHECK(quant_get_level(all_types[k], QL_SCALAR, &wt));
        if (!wt.vec_dot)
            continue;
        CHECK(quant_get_level(wt.vec_dot_type, QL_SCALAR, &at));
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int n = ns[ni];
            if (n % wt.block_size)
                continue;
            for (int rep = 0; rep < 3; rep++) {
                fill_random(x, n);
                fill_random(a, n);
                if (rep == 2) /* all-positive weights: a large m in the *_1 formats */
                    for (int i = 0; i < n; i++)
                        x[i] = fabsf(x[i]) + 1.f;
                wt.from_float(x, wq, n);
                at.from_float(a, aq, n);
                wt.to_float(wq, xd, n);
                at.to_float(aq, ad, n);
                double want = 0, mag = 0, extra = 0;
                for (int i = 0; i < n; i++) {
                    want += (double)xd[i] * ad[i];
                    mag += fabs((double)xd[i] * ad[i]);
                }
                if (wt.vec_dot_type == QT_Q8_1)
                    for (int b = 0; b < n / 32; b++) {
                        const uint8_t *wb = wq + (size_t)b * wt.type_size;
                        const block_q8_1 *ab = (const block_q8_1 *)aq + b;
                        dx_f16 m;
                        memcpy(&m, wb + 2, 2);
                        extra += fabs((double)dx_f16_to_f32(m) * dx_f16_to_f32(ab->s)) * 0x1p-10;
                    }
                float got = NAN;
                wt.vec_dot(n, &got, wq, aq);
                double tol = 1e-5 * mag + extra + 1e-30;
                if (!(fabs(got - want) <= tol)) {
                    TEST_FAILF("%s n=%d: vec_dot %.9g, dequantized dot %.9g (tol %.3g)", wt.name, n,
                               got, want, tol);
                    goto out;
                }
            }
        }
    }
out:
    free(x);
    free(a);
    free(xd);
    free(ad);
    free(wq);
    free(aq);
}

/* ------------------------------------------------------------- table */

TEST(traits_table_is_consistent)
{
    for (size_t k = 0; k < N_TYPES; k++) {
        const quant_traits *tr = quant_get(all_types[k]);
        CHECK_MSG(tr, "type %u", all_types[k]);
        CHECK(tr->to_float && tr->block_size > 0 && tr->type_size > 0);
        CHECK(quant_get(tr->vec_dot_type) != NULL);
        size_t bytes = 0;
        CHECK(gguf_type_row_size(all_types[k], tr->block_size * 4, &bytes));
        CHECK_EQ_INT(bytes, tr->type_size * 4);
    }
    CHECK(quant_get(QT_Q4_0)->vec_dot_type == QT_Q8_0);
    CHECK(quant_get(QT_Q5_1)->vec_dot_type == QT_Q8_1);
    CHECK(quant_get(QT_Q6_K)->vec_dot_type == QT_Q8_K);
    CHECK(quant_get(QT_BF16)->vec_dot_type == QT_BF16);
    CHECK(quant_get(20) == NULL); /* IQ4_NL: known layout, no kernels */
    CHECK(quant_get(4) == NULL);
    CHECK(quant_get(QT_COUNT) == NULL);
    CHECK(quant_get(0xffffffffu) == NULL);
    CHECK(quant_kernel_level() != NULL);
}

int main(void)
{
    test_rng_seed(0x9e3779b97f4a7c15ull);
    RUN(f16_round_trips_every_half);
    RUN(f16_rounds_to_nearest_even);
    RUN(bf16_conversions);
    RUN(dequantize_matches_gguf_python);
    RUN(quantize_matches_gguf_python);
    RUN(dequantize_real_rows_match_gguf_python);
    RUN(activation_quantizers_match_ggml);
    RUN(vec_dot_matches_ggml);
    RUN(quantize_round_trip_within_bounds);
    RUN(activation_formats_carry_their_sums);
    RUN(vec_dot_matches_dequantized_dot);
    RUN(traits_table_is_consistent);
    return test_summary();
}
