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

#include "engine/quant.h"

typedef struct ops_kernels {
    /* sum of x[i] * y[i], i < n */
    float (*dot_f16)(const float *x, const dx_f16 *y, int n);
    /* y[i] += a * x[i], i < n */
    void (*axpy_f16)(float *y, float a, const dx_f16 *x, int n);
    /* y[i] = f16(x[i]) (round to nearest even), i < n */
    void (*to_f16)(dx_f16 *y, const float *x, int n);
} ops_kernels;

/* The kernels of the active level (see quant_kernel_level). */
const ops_kernels *ops_get(void);
/* The kernels of one level; false if the CPU can't run it. For tests. */
bool ops_get_level(int level, ops_kernels *out);

#endif
