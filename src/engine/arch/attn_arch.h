/*
 * attn_arch — the blocked attention kernels by instruction set; attn.c
 * chooses between them and its per-row path. Held to a double-precision
 * reference by tests/unit/test_attn.c.
 */
#ifndef DX_ATTN_ARCH_H
#define DX_ATTN_ARCH_H

#include "engine/attn.h"

#if defined(__x86_64__)
/* Any a with ATTN_TILE_MIN_ROWS <= n <= ATTN_MAX_ROWS and hdv % 16 == 0. */
void attn_tiled_avx512(const attn_rows *a, void *work);
/* Work area bytes attn_tiled_avx512 needs (any n up to ATTN_MAX_ROWS). */
size_t attn_tiled_work_bytes(int hdk, int hdv);
#endif

#endif
