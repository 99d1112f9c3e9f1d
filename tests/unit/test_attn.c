/*
 * test_attn — attention over the f16 cache (attn.h) at every kernel level
 * this CPU runs, blocked and per-row paths alike, against a softmax taken
 * in double precision here: random queries, keys and values; blocks of
 * tokens times GQA groups as the forward pass builds them; prompts of 1,
 * odd and long lengths, longer than a sliding window, and with a window.
 *
 * Tolerance: outputs are weighted means of values in [-3, 3]; float
 * rounding of the scores (about 1e-6 of |q||k|) and of the sums keeps them
 * within 1e-5 of the double-precision result (1e-4 for peaked scores).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attn.h"
#include "test.h"
#include "test_rand.h"

typedef struct {
    int n_ctx, hdk, hdv, n_kv;
    dx_f16 *k, *v; /* (n_ctx, n_kv * hd) */
} cache;

static void cache_fill(cache *c, float kmag)
{
    const size_t kd = (size_t)c->n_kv * c->hdk, vd = (size_t)c->n_kv * c->hdv;
    c->k = malloc((size_t)c->n_ctx * kd * sizeof(dx_f16));
    c->v = malloc((size_t)c->n_ctx * vd * sizeof(dx_f16));
    for (size_t i = 0; i < (size_t)c->n_ctx * kd; i++)
        c->k[i] = dx_f32_to_f16(rnd_signed() * kmag);
    for (size_t i = 0; i < (size_t)c->n_ctx * vd; i++)
        c->v[i] = dx_f32_to_f16(rnd_signed() * 3);
}

/* out = softmax(scale q.k) v over [lo, hi], in double. */
static void reference(const attn_rows *a, int r, double *out)
{
    double mx = -INFINITY, sum = 0;
    double *sc = malloc((size_t)(a->hi[r] + 1) * sizeof(double));
    for (int j = a->lo[r]; j <= a->hi[r]; j++) {
        double d = 0;
        for (int i = 0; i < a->hdk; i++)
            d += (double)a->q[r][i] * dx_f16_to_f32(a->k[(size_t)j * a->k_stride + i]);
        sc[j] = d * a->scale;
        if (sc[j] > mx)
            mx = sc[j];
    }
    for (int i = 0; i < a->hdv; i++)
        out[i] = 0;
    for (int j = a->lo[r]; j <= a->hi[r]; j++) {
        const double p = exp(sc[j] - mx);
        sum += p;
        for (int i = 0; i < a->hdv; i++)
            out[i] += p * dx_f16_to_f32(a->v[(size_t)j * a->v_stride + i]);
    }
    for (int i = 0; i < a->hdv; i++)
        out[i] /= sum;
    free(sc);
}

/* A prompt of n_tok tokens at positions p0.. of a cache, attended by query
 * heads [0, group) of K/V head g, in blocks of qb tokens as model.c cuts
 * them, at every level; window 0 is none. Returns the largest difference
 * from the reference, or -1 after a failed CHECK. */
static double run_case(const cache *c, int g, int group, int p0, int n_tok, int qb, int window,
                       float qmag, int *levels_run)
{
    const int hdk = c->hdk, hdv = c->hdv;
    const size_t wb = attn_work_bytes(c->n_ctx, hdk, hdv);
    void *work = aligned_alloc(64, wb);
    float *q = malloc((size_t)n_tok * group * hdk * sizeof(float));
    float *out = malloc((size_t)n_tok * group * hdv * sizeof(float));
    double *ref = malloc((size_t)hdv * sizeof(double));
    for (int i = 0; i < n_tok * group * hdk; i++)
        q[i] = rnd_signed() * qmag;
    double worst = 0;
    for (int level = 0; level < QL_COUNT; level++) {
        for (int t0 = 0; t0 < n_tok; t0 += qb) {
            const float *qr[ATTN_MAX_ROWS];
            float *orow[ATTN_MAX_ROWS];
            int lo[ATTN_MAX_ROWS], hi[ATTN_MAX_ROWS], n = 0;
            for (int t = t0; t < t0 + qb && t < n_tok; t++)
                for (int h = 0; h < group; h++, n++) {
                    const int p = p0 + t;
                    qr[n] = q + ((size_t)t * group + h) * hdk;
                    orow[n] = out + ((size_t)t * group + h) * hdv;
                    lo[n] = window && p - window + 1 > 0 ? p - window + 1 : 0;
                    hi[n] = p;
                }
            const attn_rows a = {.n = n,
                                 .hdk = hdk,
                                 .hdv = hdv,
                                 .scale = 1.0f / sqrtf((float)hdk),
                                 .q = qr,
                                 .out = orow,
                                 .lo = lo,
                                 .hi = hi,
                                 .k = c->k + (size_t)g * hdk,
                                 .v = c->v + (size_t)g * hdv,
                                 .k_stride = (size_t)c->n_kv * hdk,
                                 .v_stride = (size_t)c->n_kv * hdv};
            memset(work, 0x7f, wb); /* stale scratch must not matter */
            if (!attn_run_level(level, &a, work))
                break;
            if (t0 == 0)
                (*levels_run)++;
            for (int r = 0; r < n; r++) {
                reference(&a, r, ref);
                for (int i = 0; i < hdv; i++) {
                    const double d = fabs(orow[r][i] - ref[i]);
                    if (!(d <= worst))
                        worst = d; /* NaN included */
                }
            }
        }
    }
    free(work);
    free(q);
    free(out);
    free(ref);
    return worst;
}

TEST(attention_matches_double_reference_at_every_level)
{
    static const struct {
        int hdk, hdv, n_kv, group, n_tok, qb, window;
    } cases[] = {
        {64, 64, 2, 7, 1, 1, 0},       /* decode of one token: per-row */
        {64, 64, 2, 7, 37, 18, 0},     /* Qwen2 0.5B shape, odd prompt */
        {64, 64, 2, 7, 200, 18, 0},    /* longer than a key block many times */
        {256, 256, 1, 4, 33, 32, 0},   /* Gemma 3 shape */
        {256, 256, 1, 4, 150, 32, 64}, /* past a sliding window of 64 */
        {256, 256, 1, 4, 90, 8, 17},   /* odd window, small blocks */
        {48, 32, 3, 2, 41, 5, 0},      /* head sizes not a multiple of 64 */
        {40, 16, 1, 1, 70, 70, 0},     /* no GQA, 70 rows, hdk with a tail */
        {8, 8, 4, 2, 45, 16, 0},       /* stories260K: hdv 8, per-row only */
        {64, 64, 1, 128, 3, 1, 0},     /* one group of 128 heads */
    };
    int levels = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cache c = {.n_ctx = 256, .hdk = cases[i].hdk, .hdv = cases[i].hdv, .n_kv = cases[i].n_kv};
        cache_fill(&c, 1.0f);
        for (int p0 = 0; p0 <= 9; p0 += 9) { /* from an empty cache, and after 9 tokens */
            const int g = cases[i].n_kv - 1;
            const double d = run_case(&c, g, cases[i].group, p0, cases[i].n_tok, cases[i].qb,
                                      cases[i].window, 2.0f, &levels);
            if (getenv("DRUX_TEST_VERBOSE"))
                printf("case %zu from %d: largest difference %g\n", i, p0, d);
            CHECK_MSG(d <= 1e-5,
                      "case %zu (hd %d/%d, group %d, %d tokens from %d, window %d): off by %g", i,
                      cases[i].hdk, cases[i].hdv, cases[i].group, cases[i].n_tok, p0,
                      cases[i].window, d);
        }
        free(c.k);
        free(c.v);
    }
    CHECK(levels > 0);
}

/* Peaked scores (large q and k): the running max moves from block to block
 * and most weights underflow; the online rescaling must still agree. */
TEST(attention_with_peaked_scores_matches_reference)
{
    cache c = {.n_ctx = 300, .hdk = 64, .hdv = 64, .n_kv = 1};
    cache_fill(&c, 4.0f);
    /* keys that grow along one direction, so later blocks hold larger scores */
    for (int j = 0; j < c.n_ctx; j++)
        c.k[(size_t)j * 64] = dx_f32_to_f16((float)j / 10.0f);
    int levels = 0;
    const double d = run_case(&c, 0, 4, 0, 300, 32, 0, 6.0f, &levels);
    CHECK_MSG(d <= 1e-4, "off by %g", d); /* scores near 100: their rounding is 1e-5 here */
    if (getenv("DRUX_TEST_VERBOSE"))
        printf("peaked: largest difference %g\n", d);
    free(c.k);
    free(c.v);
}

/* A window excludes the keys before it: a value of 1000 at key 40, inside
 * the windows of the first rows only, must not reach the later rows. */
TEST(sliding_window_keeps_its_window)
{
    cache c = {.n_ctx = 200, .hdk = 64, .hdv = 64, .n_kv = 1};
    cache_fill(&c, 1.0f);
    for (int i = 0; i < 64; i++)
        c.v[(size_t)40 * 64 + i] = dx_f32_to_f16(1000.0f);
    const size_t wb = attn_work_bytes(c.n_ctx, 64, 64);
    void *work = aligned_alloc(64, wb);
    float q[16][64], out[16][64];
    const float *qr[16];
    float *orow[16];
    int lo[16], hi[16];
    for (int r = 0; r < 16; r++) {
        for (int i = 0; i < 64; i++)
            q[r][i] = rnd_signed();
        qr[r] = q[r];
        orow[r] = out[r];
        hi[r] = 64 + 4 * r;
        lo[r] = hi[r] - 32 + 1; /* a window of 32: key 40 is in rows 0 and 1 only */
    }
    int levels = 0;
    for (int level = 0; level < QL_COUNT; level++) {
        const attn_rows a = {.n = 16,
                             .hdk = 64,
                             .hdv = 64,
                             .scale = 0.125f,
                             .q = qr,
                             .out = orow,
                             .lo = lo,
                             .hi = hi,
                             .k = c.k,
                             .v = c.v,
                             .k_stride = 64,
                             .v_stride = 64};
        if (!attn_run_level(level, &a, work))
            continue;
        levels++;
        for (int r = 0; r < 16; r++)
            for (int i = 0; i < 64; i++)
                CHECK_MSG(r < 2 ? out[r][i] > 3.0f : fabsf(out[r][i]) <= 3.0f,
                          "level %d row %d: %g, key 40 counted %s its window", level, r, out[r][i],
                          r < 2 ? "not in" : "outside");
    }
    CHECK(levels > 0);
    free(work);
    free(c.k);
    free(c.v);
}

int main(void)
{
    test_rng_seed(0x2545f4914f6cdd1dull);
    RUN(attention_matches_double_reference_at_every_level);
    RUN(attention_with_peaked_scores_matches_reference);
    RUN(sliding_window_keeps_its_window);
    return test_summary();
}
