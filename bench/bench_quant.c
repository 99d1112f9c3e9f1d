/*
 * bench_quant — speed of the tensor-format kernels, per kernel level.
 *
 *     build/release/bench/bench_quant [seconds-per-case [format]]   (default 0.2, all)
 *
 * For each format with a dot product: a matrix-vector product over a weight
 * matrix too large for the caches (128 MiB, "mem") and one that fits in L2
 * (256 KiB, "l2"), reported as GB/s of weight bytes read; and the activation
 * quantizers in millions of floats per second. Single thread; times are the
 * thread's CPU time, so a busy machine's other work counts less (it still
 * shares the caches and memory). Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/quant.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f * 2.f - 1.f;
}

static volatile float sink;

/* GB/s of weights for rows x n in format t at one level. */
static double bench_matvec(const quant_traits *wt, const quant_traits *at, int n, int rows,
                           double secs)
{
    size_t row_bytes = (size_t)n / (size_t)wt->block_size * wt->type_size;
    float *x = malloc((size_t)n * 4);
    unsigned seed = 1;
    for (int i = 0; i < n; i++)
        x[i] = frand(&seed);
    uint8_t *w = malloc(row_bytes * (size_t)rows);
    uint8_t *aq = malloc((size_t)n * 4 + 1024);
    wt->from_float(x, w, n); /* one row, copied: quantizing them all would be slow */
    for (int r = 1; r < rows; r++)
        memcpy(w + row_bytes * (size_t)r, w, row_bytes);
    at->from_float(x, aq, n);
    double t0 = now(), t;
    long reps = 0;
    do {
        float acc = 0, s;
        for (int r = 0; r < rows; r++) {
            wt->vec_dot(n, &s, w + row_bytes * (size_t)r, aq);
            acc += s;
        }
        sink = acc;
        reps++;
        t = now() - t0;
    } while (t < secs);
    free(x);
    free(w);
    free(aq);
    return (double)row_bytes * rows * reps / t / 1e9;
}

static double bench_quantize(const quant_traits *at, int n, double secs)
{
    float *x = malloc((size_t)n * 4);
    uint8_t *q = malloc((size_t)n * 4 + 1024);
    unsigned seed = 7;
    for (int i = 0; i < n; i++)
        x[i] = frand(&seed);
    double t0 = now(), t;
    long reps = 0;
    do {
        at->from_float(x, q, n);
        sink = (float)q[reps % 16];
        reps++;
        t = now() - t0;
    } while (t < secs);
    free(x);
    free(q);
    return (double)n * reps / t / 1e6;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.2;
    if (!(secs > 0))
        secs = 0.2;
    const uint32_t types[] = {QT_Q8_0, QT_Q4_0, QT_Q4_K, QT_Q6_K, QT_Q5_0, QT_Q4_1, QT_Q5_K,
                              QT_Q5_1, QT_Q2_K, QT_Q3_K, QT_F16,  QT_BF16, QT_F32};
    const char *only = argc > 2 ? argv[2] : NULL;
    const int n = 4096;
    printf("%-6s %-7s %10s %10s\n", "format", "level", "mem GB/s", "l2 GB/s");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        for (int lvl = 0; lvl < QL_COUNT; lvl++) {
            quant_traits wt, at;
            if (!quant_get_level(types[k], lvl, &wt) || !quant_get_level(wt.vec_dot_type, lvl, &at))
                continue;
            if (only && strcmp(only, wt.name))
                continue;
            size_t row_bytes = (size_t)n / (size_t)wt.block_size * wt.type_size;
            int rows_mem = (int)((128u << 20) / row_bytes),
                rows_l2 = (int)((256u << 10) / row_bytes);
            double mem = bench_matvec(&wt, &at, n, rows_mem, secs);
            double l2 = bench_matvec(&wt, &at, n, rows_l2, secs);
            printf("%-6s %-7s %10.2f %10.2f\n", wt.name, quant_level_name(lvl), mem, l2);
            fflush(stdout);
        }
    printf("\n%-6s %-7s %12s\n", "quant", "level", "Mfloat/s");
    const uint32_t acts[] = {QT_Q8_0, QT_Q8_1, QT_Q8_K};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
        for (int lvl = 0; lvl < QL_COUNT; lvl++) {
            quant_traits at;
            if (!quant_get_level(acts[k], lvl, &at) || (only && strcmp(only, at.name)))
                continue;
            printf("%-6s %-7s %12.1f\n", at.name, quant_level_name(lvl),
                   bench_quantize(&at, n, secs));
        }
    return 0;
}
