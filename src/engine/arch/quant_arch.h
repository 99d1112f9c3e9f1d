/*
 * quant_arch — the SIMD kernel tables that quant.c chooses from at run time.
 *
 * Each instruction-set file (quant_avx2.c, quant_avx512.c) exports one table
 * of the kernels it replaces; quant_init() copies the table of the best level
 * the CPU supports over the scalar traits (a level includes the kernels of
 * the levels below it). Nothing outside quant.c calls these directly:
 *
 *     for (size_t i = 0; i < quant_avx2_kernel_count; i++)
 *         traits[quant_avx2_kernels[i].type].vec_dot = quant_avx2_kernels[i].vec_dot;
 *
 * Every kernel is held to its scalar reference by tests/unit/test_quant_simd.c.
 */
#ifndef DX_QUANT_ARCH_H
#define DX_QUANT_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

typedef struct quant_kernel {
    uint32_t type;                  /* enum qtype the kernels belong to */
    quant_from_float_fn from_float; /* NULL: keep the one from below */
    quant_vec_dot_fn vec_dot;       /* NULL: keep the one from below */
} quant_kernel;

#if defined(__x86_64__)
extern const quant_kernel quant_avx2_kernels[];
extern const size_t quant_avx2_kernel_count;
extern const quant_kernel quant_avx512_kernels[];
extern const size_t quant_avx512_kernel_count;
#endif

#endif
