/*
 * ops — the float kernels of the forward pass besides the weight matmuls:
 * attention over the f16 KV cache (q.k scores, weighted sums of v rows).
 *
 *     const ops_kernels *k = ops_get();
 *     float s = k->dot_f16(q, key_row, head_dim);    // q . k
 *     k->axpy_f16(out, weight, value_row, head_dim); // out += weight * v
 *
 * ops_get hands out the fastest versions this CPU runs (AVX-512, AVX2+F16C
 * or the scalar references here), at the same level as quant_get's kernels
 * (DRUX_KERNELS caps both). The SIMD versions live in src/engine/arch/ops_*.c
 * and are held to the scalar ones by tests/unit/test_ops.c; they agree to
 * float rounding (sums are taken in another order). Thread-safe.
 */
#ifndef DX_OPS_H
#define DX_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

typedef struct ops_kernels {
    /* sum of x[i] * y[i], i < n */
    float (*dot_f16)(const float *x, const dx_f16 *y, int n);
    /* y[i] += a * x[i], i < n */
    void (*axpy_f16)(float *y, float a, const dx_f16 *x, int n);
    /* y[i] = f16(x[i]) (round to nearest even), i < n */
    void (*to_f16)(dx_f16 *y, const float *x, int n);
    /* gated linear units, in place: g[i] = act(g[i]) * u[i], act = silu or
     * gelu (tanh form); within 1e-6 relative of the libm-based scalar ones */
    void (*silu_mul)(float *g, const float *u, int n);
    void (*gelu_mul)(float *g, const float *u, int n);
} ops_kernels;

/* A tile of a matrix product: out[4 * r + t] = dot(w_r, a_t) for two weight
 * rows w0, w1 (n elements in their format) and four activation rows a_t =
 * a + t * a_stride bytes (in the format's vec_dot_type). */
typedef void (*ops_tile_fn)(int n, const void *w0, const void *w1, const void *a, size_t a_stride,
                            float *out);
typedef struct ops_tile_kernel {
    uint32_t type; /* enum qtype of the weights */
    ops_tile_fn fn;
    ops_tile_fn part[2]; /* the same for 2 and 3 tokens (out[4 * r + t], t < 2 or 3) */
    bool exact;          /* bit for bit what the format's vec_dot and rows kernel give */
} ops_tile_kernel;

/* Four rows of a matrix times one vector (decode): out[r] = dot(w + r *
 * w_stride bytes, a) for r < 4. */
typedef void (*ops_rows_fn)(int n, const void *w, size_t w_stride, const void *a, float *out);
typedef struct ops_rows_kernel {
    uint32_t type;
    ops_rows_fn fn;
} ops_rows_kernel;

/* A block of a matrix product (prompt processing), tiled by the kernel
 * itself: y[t][r] = dot(w + r * w_stride bytes, a + t * a_stride bytes) for
 * r < rows, t < tokens (weights n elements in their format, activations in
 * its vec_dot_type); token t's outputs go to y[t][0..rows). Any n, rows and
 * tokens >= 1. */
typedef void (*ops_block_fn)(int n, const void *w, size_t w_stride, int rows, const void *a,
                             size_t a_stride, int tokens, float *const *y);
typedef struct ops_block_kernel {
    uint32_t type;
    ops_block_fn fn;
} ops_block_kernel;

/* The block kernel for a weight format at the active level, or NULL (then
 * the tile kernel or vec_dot). */
ops_block_fn ops_block(uint32_t type);
/* The same at one level; NULL if none or the CPU can't run it. For tests. */
ops_block_fn ops_block_level(uint32_t type, int level);

/* The four-row kernel for a weight format at the active level, or NULL. */
ops_rows_fn ops_rows(uint32_t type);
/* The same at one level; NULL if none or the CPU can't run it. For tests. */
ops_rows_fn ops_rows_level(uint32_t type, int level);

/* The tile kernel for a weight format at the active level, or NULL (then
 * vec_dot per row and token). */
ops_tile_fn ops_tile(uint32_t type);
/* The same at one level; NULL if none or the CPU can't run it. For tests. */
ops_tile_fn ops_tile_level(uint32_t type, int level);
/* Whether ops_tile(type) rounds exactly as the one-token kernels (ops_rows,
 * vec_dot) do, so a step of several sessions' tokens may use it and still
 * give each session its solo logits. The _level form is for tests. */
bool ops_tile_exact(uint32_t type);
bool ops_tile_exact_level(uint32_t type, int level);
/* The tile kernels for 2 and 3 tokens ([0] and [1]), summing as ops_tile
 * does; NULL if the format has none. The _level form is for tests. */
const ops_tile_fn *ops_tile_parts(uint32_t type);
const ops_tile_fn *ops_tile_parts_level(uint32_t type, int level);

/* The kernels of the active level (see quant_kernel_level). */
const ops_kernels *ops_get(void);
/* The kernels of one level; false if the CPU can't run it. For tests. */
bool ops_get_level(int level, ops_kernels *out);

#endif
