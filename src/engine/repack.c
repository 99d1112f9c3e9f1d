/*
 * repack.c — the interleaved Q4_0 layout: packing, the activation format,
 * the scalar reference kernel and the choice of kernel (see repack.h).
 */
#include "engine/repack.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch/repack_arch.h"

#define RP_BLOCK_BYTES (RP_ROWS * QK4_0 / 2) /* nibbles of one block of a group */

size_t rp_group_bytes(int cols)
{
    const size_t nb = (size_t)cols / QK4_0;
    const size_t bytes = nb * (RP_BLOCK_BYTES + RP_ROWS * sizeof(dx_f16));
    return (bytes + 63) / 64 * 64;
}

size_t rp_q4_0_bytes(int rows, int cols)
{
    return (size_t)((rows + RP_ROWS - 1) / RP_ROWS) * rp_group_bytes(cols);
}

void rp_q4_0_pack(const void *src, int rows, int cols, uint8_t *dst)
{
    const int nb = cols / QK4_0;
    const block_q4_0 *x = src;
    const size_t gb = rp_group_bytes(cols);
    for (int g = 0; g * RP_ROWS < rows; g++) {
        uint8_t *grp = dst + (size_t)g * gb;
        dx_f16 *sc = (dx_f16 *)(grp + (size_t)nb * RP_BLOCK_BYTES);
        memset(grp, 0, gb); /* padding rows: zero nibbles and zero scales */
        for (int r = 0; r < RP_ROWS && g * RP_ROWS + r < rows; r++) {
            const block_q4_0 *row = x + (size_t)(g * RP_ROWS + r) * nb;
            for (int b = 0; b < nb; b++) {
                uint8_t *blk = grp + (size_t)b * RP_BLOCK_BYTES;
                for (int c = 0; c < 4; c++)
                    memcpy(blk + 64 * c + 4 * r, row[b].qs + 4 * c, 4);
                sc[(size_t)b * RP_ROWS + r] = row[b].d;
            }
        }
    }
}

size_t rp_act_row_bytes(int cols)
{
    return (size_t)(cols / QK8_0) * sizeof(rp_act_block);
}

void rp_act_quantize(const float *x, int cols, void *dst)
{
    const quant_traits *q8 = quant_get(QT_Q8_0);
    rp_act_block *a = dst;
    for (int b = 0; b < cols / QK8_0; b++) {
        block_q8_0 q;
        q8->from_float(x + (size_t)b * QK8_0, &q, QK8_0);
        int sum = 0;
        for (int j = 0; j < QK8_0; j++)
            sum += q.qs[j];
        a[b].d = dx_f16_to_f32(q.d);
        a[b].off = -8 * sum;
        memcpy(a[b].qs, q.qs, sizeof q.qs);
    }
}

/* The reference: Q4_0's vec_dot on the interleaved layout, same sums in the
 * same order (an integer sum per block, times d_w * d_a, added up). */
static void tile_scalar(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok, float *out)
{
    const dx_f16 *sc = (const dx_f16 *)(group + (size_t)nb * RP_BLOCK_BYTES);
    for (int t = 0; t < n_tok; t++) {
        const rp_act_block *y = (const rp_act_block *)((const char *)a + (size_t)t * a_stride);
        for (int r = 0; r < RP_ROWS; r++) {
            float sum = 0.f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = group + (size_t)b * RP_BLOCK_BYTES;
                int isum = y[b].off;
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 4; k++) {
                        const uint8_t v = blk[64 * c + 4 * r + k];
                        isum += (v & 15) * y[b].qs[4 * c + k] + (v >> 4) * y[b].qs[16 + 4 * c + k];
                    }
                sum += (float)isum * (dx_f16_to_f32(sc[(size_t)b * RP_ROWS + r]) * y[b].d);
            }
            out[t * RP_ROWS + r] = sum;
        }
    }
}

static rp_tile_fn level_fn[QL_COUNT]; /* NULL where the CPU can't run the level */
static rp_tile_fn active_fn;
static pthread_once_t fn_once = PTHREAD_ONCE_INIT;

/* Asked once: cpuid is slow in a VM, and rp_tile is called per matmul. */
static void fn_init(void)
{
    for (int l = QL_SCALAR; l < QL_COUNT; l++) {
        if (!quant_level_supported(l))
            continue;
        switch (l) {
        case QL_SCALAR: level_fn[l] = tile_scalar; break;
#if defined(__x86_64__)
        case QL_AVX2: level_fn[l] = rp_q4_0_tile_avx2; break;
        case QL_AVX512: level_fn[l] = rp_q4_0_tile_avx512; break;
#endif
        default: break;
        }
    }
    const char *name = quant_kernel_level();
    for (int l = QL_AVX2; l < QL_COUNT; l++) /* the scalar level keeps the file's layout */
        if (!strcmp(quant_level_name(l), name))
            active_fn = level_fn[l];
}

rp_tile_fn rp_tile_level(int level)
{
    pthread_once(&fn_once, fn_init);
    return level >= 0 && level < QL_COUNT ? level_fn[level] : NULL;
}

rp_tile_fn rp_tile(void)
{
    pthread_once(&fn_once, fn_init);
    return active_fn;
}

bool rp_enabled(void)
{
    const char *e = getenv("DRUX_REPACK");
    return !(e && !strcmp(e, "0"));
}
