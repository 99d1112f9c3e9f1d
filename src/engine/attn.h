/*
 * attn — causal attention of a block of query rows that share one K/V head,
 * over the f16 KV cache.
 *
 * A block is any set of rows (tokens x the query heads of one GQA group):
 * row r attends to keys lo[r]..hi[r] of one cache head. With many rows the
 * AVX-512 kernel works flash-style: keys in blocks of 32 are converted to
 * f32 once and used by every row of the block, the scores of all rows and
 * keys of a block are two small matrix products, and the softmax is taken
 * online (a running max and sum per row), so no row's scores are ever all
 * in memory. With few rows (decode), or below AVX-512, each row takes the
 * per-key path (ops.h's dot_f16 and axpy_f16 over a two-pass softmax).
 *
 *     attn_rows a = {.n = rows, .hdk = 64, .hdv = 64, .scale = 0.125f,
 *                    .q = qrows, .out = orows, .lo = lo, .hi = hi,
 *                    .k = kcache + head * 64, .v = vcache + head * 64,
 *                    .k_stride = kv_dim, .v_stride = kv_dim};
 *     attn_run(&a, work); // work: attn_work_bytes(n_ctx, 64, 64), 64-byte aligned
 *
 * out[r] = sum_j softmax_j(scale * q[r] . k_j) v_j over lo[r] <= j <= hi[r].
 * The paths agree to float rounding (tests/unit/test_attn.c). Thread-safe:
 * each thread brings its own work area.
 */
#ifndef DX_ATTN_H
#define DX_ATTN_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/quant.h"

#define ATTN_MAX_ROWS 128    /* rows of one call */
#define ATTN_TILE_MIN_ROWS 8 /* fewer rows take the per-row path */

typedef struct attn_rows {
    int n;                 /* rows, 1..ATTN_MAX_ROWS */
    int hdk, hdv;          /* head sizes of keys and values */
    float scale;           /* applied to q . k */
    const float *const *q; /* (n) query rows of hdk floats */
    float *const *out;     /* (n) output rows of hdv floats, written */
    const int *lo, *hi;    /* (n) keys lo[r]..hi[r], inclusive: 0 <= lo <= hi */
    const dx_f16 *k, *v;   /* key j at k + j * k_stride halves, value j at v + j * v_stride */
    size_t k_stride, v_stride;
} attn_rows;

/* Bytes of work area one thread needs for any call with keys below n_ctx. */
size_t attn_work_bytes(int n_ctx, int hdk, int hdv);

/* Computes a->out at the active kernel level (quant_kernel_level). work:
 * attn_work_bytes, 64-byte aligned; the rows' ranges must lie below the
 * n_ctx it was sized for. */
void attn_run(const attn_rows *a, void *work);

/* The same at one level; false if the CPU can't run it. For tests. */
bool attn_run_level(int level, const attn_rows *a, void *work);

#endif
