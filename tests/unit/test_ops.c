/*
 * test_ops — the SIMD forward-pass kernels (attention over the f16 cache)
 * held to the scalar references at every level this CPU runs, for lengths
 * that hit the vector bodies and the tails.
 *
 * Tolerance: the sums are taken in another order, so a dot must agree within
 * 1e-5 of sum |x_i * y_i|; axpy and the f16 conversion are elementwise and
 * must agree exactly (one fused multiply-add against a multiply and an add:
 * within 1 ulp of the terms).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "gguf/gguf.h"
#include "test.h"
#include "test_rand.h"

TEST(simd_attention_kernels_match_scalar)
{
    ops_kernels ref, k;
    CHECK(ops_get_level(QL_SCALAR, &ref));
    int levels = 0;
    for (int lvl = QL_AVX2; lvl < QL_COUNT; lvl++) {
        if (!ops_get_level(lvl, &k))
            continue;
        levels++;
        for (int n = 1; n <= 300; n += (n < 70 ? 1 : 37)) {
            float x[300], y0[300], y1[300], mag = 0;
            dx_f16 h[300], h0[300], h1[300];
            for (int i = 0; i < n; i++) {
                x[i] = rnd_signed() * 4;
                h[i] = dx_f32_to_f16(rnd_signed() * 3);
                y0[i] = y1[i] = rnd_signed();
                mag += fabsf(x[i] * dx_f16_to_f32(h[i]));
            }
            const float a = ref.dot_f16(x, h, n), b = k.dot_f16(x, h, n);
            CHECK_MSG(fabsf(a - b) <= 1e-5f * mag + 1e-30f, "level %d n %d: dot %g vs %g", lvl, n,
                      b, a);
            ref.axpy_f16(y0, 0.37f, h, n);
            k.axpy_f16(y1, 0.37f, h, n);
            for (int i = 0; i < n; i++)
                CHECK_NEAR(y1[i], y0[i], 1e-6 * (fabsf(y0[i]) + 1));
            float g0[300], g1[300];
            for (int act = 0; act < 2; act++) {
                for (int i = 0; i < n; i++)
                    g0[i] = g1[i] = rnd_signed() * (i % 3 ? 6 : 40);
                (act ? ref.gelu_mul : ref.silu_mul)(g0, y0, n);
                (act ? k.gelu_mul : k.silu_mul)(g1, y0, n);
                for (int i = 0; i < n; i++)
                    CHECK_MSG(fabsf(g1[i] - g0[i]) <=
                                  1e-5f * fabsf(g0[i]) + 1e-6f * fabsf(y0[i]) * 40,
                              "level %d %s n %d [%d]: %g vs %g", lvl, act ? "gelu" : "silu", n, i,
                              g1[i], g0[i]);
            }
            ref.to_f16(h0, x, n);
            k.to_f16(h1, x, n);
            int diff = 0;
            for (int i = 0; i < n; i++)
                diff += h0[i] != h1[i];
            CHECK_MSG(diff == 0, "level %d n %d: %d halves differ", lvl, n, diff);
        }
    }
    if (!levels)
        SKIP("this CPU runs no SIMD level");
}

TEST(active_kernels_are_a_level_this_cpu_runs)
{
    const ops_kernels *k = ops_get();
    CHECK(k && k->dot_f16 && k->axpy_f16 && k->to_f16);
    float x[4] = {1, 2, 3, 4};
    dx_f16 h[4];
    k->to_f16(h, x, 4);
    CHECK_NEAR(k->dot_f16(x, h, 4), 30.0, 1e-6);
}

/* Every tile kernel against the scalar vec_dot of each of its 8 pairs, on
 * quantized random rows of a few lengths (odd block counts take the tail). */
TEST(tile_kernels_match_scalar_vec_dot)
{
    const uint32_t types[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q8_0, QT_Q4_K, QT_Q6_K, QT_F32, QT_F16};
    int tested = 0;
    for (int lvl = QL_SCALAR; lvl < QL_COUNT; lvl++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            ops_tile_fn fn = ops_tile_level(types[ti], lvl);
            if (!fn)
                continue;
            quant_traits wt, at;
            CHECK(quant_get_level(types[ti], QL_SCALAR, &wt));
            CHECK(quant_get_level(wt.vec_dot_type, QL_SCALAR, &at));
            const int lens[] = {wt.block_size * 1, wt.block_size * 7, wt.block_size * 18,
                                wt.block_size * 3};
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int n = lens[li];
                size_t wb, ab;
                CHECK(gguf_type_row_size(types[ti], n, &wb) &&
                      gguf_type_row_size(wt.vec_dot_type, n, &ab));
                float *f = malloc(sizeof(float) * (size_t)n * 6),
                      *g = malloc(sizeof(float) * (size_t)n * 6);
                uint8_t *w = malloc(2 * wb), *a = malloc(4 * ab);
                CHECK(f && g && w && a);
                for (int i = 0; i < 6 * n; i++)
                    f[i] = rnd_signed() * (1 + (i / 32) % 5);
                wt.from_float(f, w, n);
                wt.from_float(f + n, w + wb, n);
                for (int t = 0; t < 4; t++)
                    at.from_float(f + (size_t)(2 + t) * n, a + (size_t)t * ab, n);
                for (int r = 0; r < 2; r++)
                    wt.to_float(w + (size_t)r * wb, g + (size_t)r * n, n);
                for (int t = 0; t < 4; t++)
                    at.to_float(a + (size_t)t * ab, g + (size_t)(2 + t) * n, n);
                float out[8];
                fn(n, w, w + wb, a, ab, out);
                ops_rows_fn rows = ops_rows_level(types[ti], lvl);
                if (rows) { /* rows 0, 1, 0, 1 against token 2 */
                    uint8_t *w4 = malloc(4 * wb);
                    CHECK(w4 != NULL);
                    for (int r = 0; r < 4; r++)
                        memcpy(w4 + (size_t)r * wb, w + (size_t)(r % 2) * wb, wb);
                    float o4[4];
                    rows(n, w4, wb, a + 2 * ab, o4);
                    for (int r = 0; r < 4; r++)
                        CHECK_NEAR(o4[r], out[4 * (r % 2) + 2],
                                   1e-4 * (fabsf(out[4 * (r % 2) + 2]) + 1));
                    free(w4);
                }
                for (int r = 0; r < 2; r++)
                    for (int t = 0; t < 4; t++) {
                        float ref, mag = 0;
                        wt.vec_dot(n, &ref, w + (size_t)r * wb, a + (size_t)t * ab);
                        for (int i = 0; i < n; i++)
                            mag += fabsf(g[(size_t)r * n + i] * g[(size_t)(2 + t) * n + i]);
                        CHECK_MSG(fabsf(out[4 * r + t] - ref) <= 2e-5f * mag + 1e-20f,
                                  "%s level %d n %d pair %d,%d: %g vs scalar %g", wt.name, lvl, n,
                                  r, t, out[4 * r + t], ref);
                    }
                free(f);
                free(g);
                free(w);
                free(a);
            }
            tested++;
        }
    if (!tested)
        SKIP("no tile kernels at the levels this CPU runs");
}

/* The tile kernels marked exact give the very bits of the one-token path
 * (vec_dot, and the rows kernel where there is one), and so do their 2- and
 * 3-token forms: batched decode steps rely on it to give each session its
 * solo logits. */
TEST(exact_tile_kernels_round_as_the_one_token_kernels)
{
    const uint32_t types[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q8_0, QT_Q4_K, QT_Q6_K, QT_F32, QT_F16};
    int tested = 0;
    for (int lvl = QL_SCALAR; lvl < QL_COUNT; lvl++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            ops_tile_fn fn = ops_tile_level(types[ti], lvl);
            if (!fn || !ops_tile_exact_level(types[ti], lvl))
                continue;
            quant_traits wt, at;
            CHECK(quant_get_level(types[ti], lvl, &wt));
            CHECK(quant_get_level(wt.vec_dot_type, lvl, &at));
            ops_rows_fn rows = ops_rows_level(types[ti], lvl);
            const int lens[] = {wt.block_size * 1, wt.block_size * 7, wt.block_size * 18,
                                wt.block_size * 3};
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int n = lens[li];
                size_t wb, ab;
                CHECK(gguf_type_row_size(types[ti], n, &wb) &&
                      gguf_type_row_size(wt.vec_dot_type, n, &ab));
                float *f = malloc(sizeof(float) * (size_t)n * 8);
                uint8_t *w = malloc(4 * wb), *a = malloc(4 * ab);
                CHECK(f && w && a);
                for (int i = 0; i < 8 * n; i++)
                    f[i] = rnd_signed() * (1 + (i / 32) % 5);
                for (int r = 0; r < 4; r++)
                    wt.from_float(f + (size_t)r * n, w + (size_t)r * wb, n);
                for (int t = 0; t < 4; t++)
                    at.from_float(f + (size_t)(4 + t) * n, a + (size_t)t * ab, n);
                float out[8];
                fn(n, w, w + wb, a, ab, out);
                const ops_tile_fn *parts = ops_tile_parts_level(types[ti], lvl);
                for (int nt = 2; parts && nt <= 3; nt++) { /* the narrow tiles: the same bits */
                    float po[8];
                    parts[nt - 2](n, w, w + wb, a, ab, po);
                    for (int r = 0; r < 2; r++)
                        for (int t = 0; t < nt; t++)
                            CHECK_MSG(!memcmp(&po[4 * r + t], &out[4 * r + t], sizeof(float)),
                                      "%s level %d n %d: %d-token tile %.9g, 4-token %.9g", wt.name,
                                      lvl, n, nt, po[4 * r + t], out[4 * r + t]);
                }
                for (int t = 0; t < 4; t++) {
                    float o4[4];
                    if (rows)
                        rows(n, w, wb, a + (size_t)t * ab, o4);
                    for (int r = 0; r < 2; r++) {
                        float v;
                        wt.vec_dot(n, &v, w + (size_t)r * wb, a + (size_t)t * ab);
                        CHECK_MSG(!memcmp(&v, &out[4 * r + t], sizeof v),
                                  "%s level %d n %d: tile %.9g, vec_dot %.9g", wt.name, lvl, n,
                                  out[4 * r + t], v);
                        CHECK_MSG(!rows || !memcmp(&o4[r], &out[4 * r + t], sizeof v),
                                  "%s level %d n %d: tile %.9g, rows %.9g", wt.name, lvl, n,
                                  out[4 * r + t], o4[r]);
                    }
                }
                free(f);
                free(w);
                free(a);
            }
            tested++;
        }
    if (!tested)
        SKIP("no exact tile kernels at the levels this CPU runs");
}

/* The F32, F16 and BF16 kernels (block and four-row) at each SIMD level
 * against the scalar vec_dot of every pair: lengths around the vector
 * widths (8, 16, 32 elements) so that the bodies and every tail length run,
 * blocks whose rows and tokens are not multiples of the register tile, and
 * padded row strides; the data is rounded to the format first, as the
 * forward pass does. The four-row (decode) kernel must give the very bits
 * the block (prompt) kernel gives, so that a prompt's logits do not depend
 * on the batch size. */
TEST(float_kernels_match_scalar_vec_dot)
{
    enum { ROWS = 13, TOKENS = 11 };
    const uint32_t types[] = {QT_F32, QT_F16, QT_BF16};
    const int lens[] = {1,  3,  7,  8,  9,  15,  16,  17,  31,   32,
                        33, 47, 63, 64, 65, 100, 127, 896, 1031, 2100};
    const int shapes[][2] = {{ROWS, TOKENS}, {5, 2}, {1, 1}, {6, 4}, {2, 9}};
    int levels = 0;
    for (int lvl = QL_AVX2; lvl < QL_COUNT; lvl++) {
        if (!quant_level_supported(lvl))
            continue;
        levels++;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const ops_block_fn block = ops_block_level(types[ti], lvl);
            const ops_rows_fn rows = ops_rows_level(types[ti], lvl);
            quant_traits wt;
            CHECK(quant_get_level(types[ti], QL_SCALAR, &wt));
            CHECK_MSG(block && rows, "%s: no kernels at level %d", wt.name, lvl);
            if (!block || !rows)
                continue;
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int n = lens[li];
                const size_t ws =
                    (size_t)(n + 3) * wt.type_size; /* strides with 3 spare elements */
                float *f = malloc(sizeof(float) * (size_t)n * (ROWS + TOKENS));
                float *g = malloc(sizeof(float) * (size_t)n * (ROWS + TOKENS));
                uint8_t *w = calloc(ROWS, ws), *a = calloc(TOKENS, ws);
                CHECK(f && g && w && a);
                for (int i = 0; i < (ROWS + TOKENS) * n; i++)
                    f[i] = rnd_signed() * (float)(1 + (i / 5) % 7);
                for (int r = 0; r < ROWS + TOKENS; r++) {
                    uint8_t *p = r < ROWS ? w + (size_t)r * ws : a + (size_t)(r - ROWS) * ws;
                    wt.from_float(f + (size_t)r * n, p, n);
                    wt.to_float(p, g + (size_t)r * n, n);
                }
                float ref[ROWS][TOKENS], mag[ROWS][TOKENS];
                for (int r = 0; r < ROWS; r++)
                    for (int t = 0; t < TOKENS; t++) {
                        wt.vec_dot(n, &ref[r][t], w + (size_t)r * ws, a + (size_t)t * ws);
                        mag[r][t] = 1e-30f;
                        for (int i = 0; i < n; i++)
                            mag[r][t] +=
                                fabsf(g[(size_t)r * n + i] * g[(size_t)(ROWS + t) * n + i]);
                    }
                for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                    const int nr = shapes[si][0], nt = shapes[si][1];
                    float out[TOKENS][ROWS + 1], *y[TOKENS];
                    for (int t = 0; t < TOKENS; t++) {
                        y[t] = out[t];
                        for (int r = 0; r <= ROWS; r++)
                            out[t][r] = -7.0f;
                    }
                    block(n, w, ws, nr, a, ws, nt, y);
                    for (int t = 0; t < TOKENS; t++)
                        for (int r = 0; r <= ROWS; r++) {
                            if (t >= nt || r >= nr) {
                                CHECK_MSG(out[t][r] == -7.0f,
                                          "%s level %d: block %dx%d wrote [%d][%d]", wt.name, lvl,
                                          nr, nt, t, r);
                                continue;
                            }
                            CHECK_MSG(
                                fabsf(out[t][r] - ref[r][t]) <= 1e-5f * mag[r][t],
                                "%s block level %d n %d %dx%d row %d token %d: %g vs scalar %g",
                                wt.name, lvl, n, nr, nt, r, t, out[t][r], ref[r][t]);
                        }
                }
                /* decode: the same bits as the block gave the token in a batch */
                float all[TOKENS][ROWS], *ya[TOKENS];
                for (int t = 0; t < TOKENS; t++)
                    ya[t] = all[t];
                block(n, w, ws, ROWS, a, ws, TOKENS, ya);
                for (int t = 0; t < 2; t++) {
                    float o4[4];
                    rows(n, w + (size_t)(5 + t) * ws, ws, a + (size_t)(7 + t) * ws, o4);
                    for (int r = 0; r < 4; r++)
                        CHECK_MSG(o4[r] == all[7 + t][5 + t + r],
                                  "%s rows level %d n %d row %d: %g, block %g", wt.name, lvl, n, r,
                                  o4[r], all[7 + t][5 + t + r]);
                }
                free(f);
                free(g);
                free(w);
                free(a);
            }
        }
    }
    if (!levels)
        SKIP("this CPU runs no SIMD level");
}

int main(void)
{
    test_rng_seed(0x9e3779b97f4a7c15ull);
    RUN(simd_attention_kernels_match_scalar);
    RUN(active_kernels_are_a_level_this_cpu_runs);
    RUN(tile_kernels_match_scalar_vec_dot);
    RUN(exact_tile_kernels_round_as_the_one_token_kernels);
    RUN(float_kernels_match_scalar_vec_dot);
    return test_summary();
}
