/*
 * ops_arch — the SIMD tables of the forward-pass float kernels (ops.h);
 * ops.c picks one by the active kernel level. Each is held to the scalar
 * reference by tests/unit/test_ops.c.
 */
#ifndef DX_OPS_ARCH_H
#define DX_OPS_ARCH_H

#include "engine/ops.h"

#if defined(__x86_64__)
extern const ops_kernels ops_avx2;
extern const ops_kernels ops_avx512;
extern const ops_tile_kernel ops_avx512_tiles[]; /* mt_avx512.c */
extern const size_t ops_avx512_tile_count;
extern const ops_rows_kernel ops_avx512_rows[];
extern const size_t ops_avx512_rows_count;
/* unquantized weights (F32, F16, BF16): mt_float_avx512.c, mt_float_avx2.c (mt_float_impl.h) */
extern const ops_block_kernel ops_avx512_float_blocks[];
extern const size_t ops_avx512_float_block_count;
extern const ops_rows_kernel ops_avx512_float_rows[];
extern const size_t ops_avx512_float_rows_count;
extern const ops_block_kernel ops_avx2_float_blocks[];
extern const size_t ops_avx2_float_block_count;
extern const ops_rows_kernel ops_avx2_float_rows[];
extern const size_t ops_avx2_float_rows_count;
#endif

#endif
