/*
 * repack_arch — the SIMD kernels for repacked matrices (repack.h);
 * repack.c hands out the one of the active level. Each is held to the scalar
 * reference by tests/unit/test_repack.c.
 */
#ifndef DX_REPACK_ARCH_H
#define DX_REPACK_ARCH_H

#include "engine/repack.h"

#if defined(__x86_64__)
void rp_q4_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q5_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q8_0_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q2_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q3_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q4_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q5_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q6_K_tile_avx2(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                       float *out);
void rp_q4_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q5_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q2_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q3_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q4_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q5_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q6_K_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
void rp_q8_0_tile_avx512(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                         float *out);
#endif

#endif
