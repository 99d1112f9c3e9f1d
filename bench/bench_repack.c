/*
 * bench_repack — Q4_0, Q8_0 and Q2_K to Q6_K matrix products in the file's layout (the two-row
 * by four-token tile and the four-row decode kernel of ops.h) against the interleaved layout of
 * repack.h, per kernel level.
 *
 *     build/release/bench/bench_repack [seconds-per-case [FORMAT]]   (default 0.3, all formats)
 *
 * The K-quants too (their activations are Q8_K; in the file's layout prefill is the tile and
 * decode the four-row kernel where there is one, else the level's vec_dot row by row, as the
 * model does).
 * "prefill": a 4864 x 896 matrix (Qwen2.5-0.5B's ffn_gate; 8960 x 1536, Qwen2.5-1.5B's,
 * for the K-quants) times 64 tokens,
 * in GMAC/s; "decode": one token against a matrix too large for the caches
 * (64 MiB) and one that fits in L2 (256 KiB), in GB/s of weights read.
 * Single thread; times are the thread's CPU time. Not a test.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/ops.h"
#include "engine/repack.h"
#include "gguf/gguf.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile float sink;

typedef struct mats {
    uint32_t type;
    int rows, cols, ntok;
    uint8_t *w, *packed, *a8, *ar;
    size_t rb, ab, as;
    quant_vec_dot_fn dot; /* the level's vec_dot, for the file layout without a kernel */
} mats;

static int mats_make(mats *m, uint32_t type, int rows, int cols, int ntok)
{
    const bool kq = rp_kquant(type); /* the activations are the format's Q8_K rows */
    const quant_traits *q4 = quant_get(type), *q8 = quant_get(kq ? QT_Q8_K : QT_Q8_0);
    m->type = type, m->rows = rows, m->cols = cols, m->ntok = ntok;
    gguf_type_row_size(type, cols, &m->rb);
    gguf_type_row_size(kq ? QT_Q8_K : QT_Q8_0, cols, &m->ab);
    m->as = kq ? m->ab : rp_act_row_bytes(cols);
    float *x = malloc(sizeof(float) * (size_t)cols);
    m->w = malloc(m->rb * (size_t)rows);
    m->packed = aligned_alloc(64, rp_bytes(type, rows, cols));
    m->a8 = malloc(m->ab * (size_t)ntok);
    m->ar = malloc(m->as * (size_t)ntok);
    if (!x || !m->w || !m->packed || !m->a8 || !m->ar)
        return -1;
    unsigned s = 1;
    for (int i = 0; i < cols; i++)
        x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.f - 1.f;
    q4->from_float(x, m->w, cols); /* one row, copied: quantizing them all would be slow */
    for (int r = 1; r < rows; r++)
        memcpy(m->w + m->rb * (size_t)r, m->w, m->rb);
    rp_pack(type, m->w, rows, cols, m->packed);
    for (int t = 0; t < ntok; t++) {
        q8->from_float(x, m->a8 + m->ab * (size_t)t, cols);
        if (kq)
            memcpy(m->ar + m->as * (size_t)t, m->a8 + m->ab * (size_t)t, m->ab);
        else
            rp_act_quantize(x, cols, m->ar + m->as * (size_t)t);
    }
    free(x);
    return 0;
}

static void mats_free(mats *m)
{
    free(m->w);
    free(m->packed);
    free(m->a8);
    free(m->ar);
}

/* One pass over the matrix for all tokens; file layout or repacked. */
static void pass(const mats *m, ops_tile_fn tile, ops_rows_fn rows4, rp_tile_fn rp)
{
    float out[RP_MAX_TOKENS * RP_ROWS], acc = 0;
    if (rp) {
        const size_t gb = rp_group_bytes(m->type, m->cols);
        for (int g = 0; g * RP_ROWS < m->rows; g++)
            for (int t = 0; t < m->ntok; t += RP_MAX_TOKENS) {
                const int nt = m->ntok - t < RP_MAX_TOKENS ? m->ntok - t : RP_MAX_TOKENS;
                rp(m->cols / 32, m->packed + (size_t)g * gb, m->ar + m->as * (size_t)t, m->as, nt,
                   out);
                acc += out[0];
            }
    } else if (m->ntok == 1 && rows4) {
        for (int r = 0; r + 4 <= m->rows; r += 4) {
            rows4(m->cols, m->w + m->rb * (size_t)r, m->rb, m->a8, out);
            acc += out[0];
        }
    } else if (m->ntok == 1 || !tile) { /* vec_dot, one row and token at a time */
        for (int r = 0; r < m->rows; r++)
            for (int t = 0; t < m->ntok; t++) {
                m->dot(m->cols, out, m->w + m->rb * (size_t)r, m->a8 + m->ab * (size_t)t);
                acc += out[0];
            }
    } else {
        for (int r = 0; r + 2 <= m->rows; r += 2)
            for (int t = 0; t + 4 <= m->ntok; t += 4) {
                tile(m->cols, m->w + m->rb * (size_t)r, m->w + m->rb * (size_t)(r + 1),
                     m->a8 + m->ab * (size_t)t, m->ab, out);
                acc += out[0];
            }
    }
    sink = acc;
}

/* Passes per second. */
static double rate(const mats *m, ops_tile_fn tile, ops_rows_fn rows4, rp_tile_fn rp, double secs)
{
    pass(m, tile, rows4, rp); /* warm */
    long reps = 0;
    double t0 = now(), t;
    do {
        pass(m, tile, rows4, rp);
        reps++;
        t = now() - t0;
    } while (t < secs);
    return (double)reps / t;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.3;
    if (!(secs > 0))
        secs = 0.3;
    printf("%-6s %-7s %-8s %14s %14s\n", "format", "level", "case", "file layout", "repacked");
    const uint32_t types[] = {QT_Q4_0, QT_Q8_0, QT_Q2_K, QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (int lvl = QL_AVX2; lvl < QL_COUNT; lvl++) {
            const uint32_t type = types[ti];
            if (argc > 2 && strcmp(argv[2], quant_get(type)->name))
                continue;
            rp_tile_fn rp = rp_tile_level(type, lvl);
            if (!rp)
                continue;
            ops_tile_fn tile = ops_tile_level(type, lvl);
            ops_rows_fn rows4 = ops_rows_level(type, lvl);
            char name[32];
            snprintf(name, sizeof name, "%-6s %-7s", quant_get(type)->name, quant_level_name(lvl));
            mats m;
            const bool kq = rp_kquant(type); /* 256-column blocks: Qwen2.5-1.5B's ffn_gate */
            quant_traits qt;
            quant_get_level(type, lvl, &qt);
            if (mats_make(&m, type, kq ? 8960 : 4864, kq ? 1536 : 896, 64)) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            m.dot = qt.vec_dot;
            const double macs = (double)m.rows * m.cols * m.ntok / 1e9;
            if (tile || kq) /* K-quants: vec_dot where there is no tile */
                printf("%s %-8s %9.1f GMAC/s %9.1f GMAC/s\n", name, "prefill",
                       macs * rate(&m, tile, NULL, NULL, secs),
                       macs * rate(&m, NULL, NULL, rp, secs));
            else
                printf("%s %-8s %14s %9.1f GMAC/s\n", name, "prefill", "(no tile)",
                       macs * rate(&m, NULL, NULL, rp, secs));
            mats_free(&m);
            const int cols = 4096;
            const size_t sizes[] = {64u << 20, 256u << 10};
            const char *cases[] = {"dec mem", "dec l2"};
            for (int c = 0; c < 2; c++) {
                size_t rb;
                gguf_type_row_size(type, cols, &rb);
                if (mats_make(&m, type, (int)(sizes[c] / rb) / 16 * 16, cols, 1)) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                m.dot = qt.vec_dot;
                const double gb = (double)m.rows * m.rb / 1e9;
                if (rows4 || kq) /* K-quants: vec_dot where there is no four-row kernel */
                    printf("%s %-8s %10.2f GB/s %10.2f GB/s\n", name, cases[c],
                           gb * rate(&m, NULL, rows4, NULL, secs),
                           gb * rate(&m, NULL, NULL, rp, secs));
                else
                    printf("%s %-8s %14s %10.2f GB/s\n", name, cases[c], "(no kernel)",
                           gb * rate(&m, NULL, NULL, rp, secs));
                mats_free(&m);
            }
        }
    return 0;
}
