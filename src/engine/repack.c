/*
 * repack.c — the interleaved layouts: packing, the activation format, the
 * scalar reference kernels and the choice of kernel (see repack.h).
 */
#include "engine/repack.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch/repack_arch.h"

/* Bytes of weights of one block of a group. */
static size_t block_bytes(uint32_t type)
{
    return type == QT_Q4_0   ? RP_ROWS * QK4_0 / 2
           : type == QT_Q5_0 ? RP_ROWS * QK5_0 / 2 + 64
                             : RP_ROWS * QK8_0;
}

/* Bytes of one block of the file's rows. */
static size_t file_block_bytes(uint32_t type)
{
    return type == QT_Q4_0   ? sizeof(block_q4_0)
           : type == QT_Q5_0 ? sizeof(block_q5_0)
                             : sizeof(block_q8_0);
}

bool rp_supports(uint32_t type)
{
    return type == QT_Q4_0 || type == QT_Q5_0 || type == QT_Q8_0;
}

size_t rp_group_bytes(uint32_t type, int cols)
{
    const size_t nb = (size_t)cols / 32;
    const size_t bytes = nb * (block_bytes(type) + RP_ROWS * sizeof(dx_f16));
    return (bytes + 63) / 64 * 64;
}

size_t rp_bytes(uint32_t type, int rows, int cols)
{
    return (size_t)((rows + RP_ROWS - 1) / RP_ROWS) * rp_group_bytes(type, cols);
}

/* Row r of a group: its block b's weights into the chunks, its scale. */
static void pack_block(uint32_t type, const void *blk, uint8_t *dst, int r, dx_f16 *scale)
{
    if (type == QT_Q4_0) {
        const block_q4_0 *x = blk;
        for (int c = 0; c < 4; c++)
            memcpy(dst + 64 * c + 4 * r, x->qs + 4 * c, 4);
        *scale = x->d;
    } else if (type == QT_Q5_0) {
        const block_q5_0 *x = blk;
        uint32_t qh;
        memcpy(&qh, x->qh, 4);
        for (int c = 0; c < 4; c++) {
            memcpy(dst + 64 * c + 4 * r, x->qs + 4 * c, 4);
            for (int k = 0; k < 4; k++) { /* bit 4r + k of the chunk's two masks */
                const int bit = 4 * r + k;
                dst[256 + 16 * c + bit / 8] |= (uint8_t)(((qh >> (4 * c + k)) & 1) << (bit % 8));
                dst[256 + 16 * c + 8 + bit / 8] |=
                    (uint8_t)(((qh >> (16 + 4 * c + k)) & 1) << (bit % 8));
            }
        }
        *scale = x->d;
    } else {
        const block_q8_0 *x = blk;
        for (int c = 0; c < 8; c++)
            for (int k = 0; k < 4; k++)
                dst[64 * c + 4 * r + k] = (uint8_t)(x->qs[4 * c + k] + 128);
        *scale = x->d;
    }
}

void rp_pack(uint32_t type, const void *src, int rows, int cols, uint8_t *dst)
{
    const int nb = cols / 32;
    const size_t gb = rp_group_bytes(type, cols), bb = block_bytes(type);
    const size_t tb = file_block_bytes(type);
    for (int g = 0; g * RP_ROWS < rows; g++) {
        uint8_t *grp = dst + (size_t)g * gb;
        dx_f16 *sc = (dx_f16 *)(grp + (size_t)nb * bb);
        memset(grp, 0, gb); /* padding rows: zero weights and zero scales */
        for (int r = 0; r < RP_ROWS && g * RP_ROWS + r < rows; r++) {
            const uint8_t *row = (const uint8_t *)src + (size_t)(g * RP_ROWS + r) * nb * tb;
            for (int b = 0; b < nb; b++)
                pack_block(type, row + (size_t)b * tb, grp + (size_t)b * bb, r,
                           &sc[(size_t)b * RP_ROWS + r]);
        }
    }
}

/* The fifth bit of byte `bit` of chunk c of a Q5_0 block: of its low
 * nibble (hi 0) or its high one (hi 1). */
static int q5_bit(const uint8_t *blk, int c, int hi, int bit)
{
    return (blk[256 + 16 * c + 8 * hi + bit / 8] >> (bit % 8)) & 1;
}

/* Column j (< 32) of row r in a block of a group, as stored: the weight
 * plus the format's offset (rp_offset). */
static int stored_weight(uint32_t type, const uint8_t *blk, int r, int j)
{
    if (type == QT_Q8_0)
        return blk[64 * (j / 4) + 4 * r + j % 4];
    const int hi = j >= 16, c = j % 16 / 4, k = j % 4;
    const int v = blk[64 * c + 4 * r + k], nib = hi ? v >> 4 : v & 15;
    return type == QT_Q5_0 ? nib + 16 * q5_bit(blk, c, hi, 4 * r + k) : nib;
}

static int rp_offset(uint32_t type)
{
    return type == QT_Q4_0 ? 8 : type == QT_Q5_0 ? 16 : 128;
}

void rp_row_to_float(uint32_t type, const uint8_t *packed, int cols, int row, float *dst)
{
    const int nb = cols / 32, r = row % RP_ROWS;
    const size_t bb = block_bytes(type);
    const uint8_t *grp = packed + (size_t)(row / RP_ROWS) * rp_group_bytes(type, cols);
    const dx_f16 *sc = (const dx_f16 *)(grp + (size_t)nb * bb);
    for (int b = 0; b < nb; b++, dst += 32) {
        const uint8_t *blk = grp + (size_t)b * bb;
        const float d = dx_f16_to_f32(sc[(size_t)b * RP_ROWS + r]);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(stored_weight(type, blk, r, j) - rp_offset(type)) * d;
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

/* The references: the format's vec_dot on the interleaved layout, the same
 * sums in the same order (an integer sum per block, times d_w * d_a, added
 * up). The stored weights' offset comes off as a multiple of the
 * activations' -8 * sum. */
static void tile_scalar(uint32_t type, int nb, const uint8_t *group, const void *a, size_t a_stride,
                        int n_tok, float *out)
{
    const size_t bb = block_bytes(type);
    const dx_f16 *sc = (const dx_f16 *)(group + (size_t)nb * bb);
    for (int t = 0; t < n_tok; t++) {
        const rp_act_block *y = (const rp_act_block *)((const char *)a + (size_t)t * a_stride);
        for (int r = 0; r < RP_ROWS; r++) {
            float sum = 0.f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = group + (size_t)b * bb;
                int isum = rp_offset(type) / 8 * y[b].off;
                for (int j = 0; j < 32; j++)
                    isum += stored_weight(type, blk, r, j) * y[b].qs[j];
                sum += (float)isum * (dx_f16_to_f32(sc[(size_t)b * RP_ROWS + r]) * y[b].d);
            }
            out[t * RP_ROWS + r] = sum;
        }
    }
}

#define SCALAR_TILE(T, TYPE)                                                                       \
    static void tile_##T##_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n,       \
                                  float *out)                                                      \
    {                                                                                              \
        tile_scalar(TYPE, nb, g, a, as, n, out);                                                   \
    }
SCALAR_TILE(q4_0, QT_Q4_0)
SCALAR_TILE(q5_0, QT_Q5_0)
SCALAR_TILE(q8_0, QT_Q8_0)

enum { F_Q4_0, F_Q5_0, F_Q8_0, F_COUNT };
static rp_tile_fn level_fn[F_COUNT][QL_COUNT]; /* NULL where none or the CPU can't run it */
static rp_tile_fn active_fn[F_COUNT];
static pthread_once_t fn_once = PTHREAD_ONCE_INIT;

/* Asked once: cpuid is slow in a VM, and rp_tile is called per matmul. */
static void fn_init(void)
{
    if (quant_level_supported(QL_SCALAR)) {
        level_fn[F_Q4_0][QL_SCALAR] = tile_q4_0_scalar;
        level_fn[F_Q5_0][QL_SCALAR] = tile_q5_0_scalar;
        level_fn[F_Q8_0][QL_SCALAR] = tile_q8_0_scalar;
    }
#if defined(__x86_64__)
    if (quant_level_supported(QL_AVX2)) {
        level_fn[F_Q4_0][QL_AVX2] = rp_q4_0_tile_avx2;
        level_fn[F_Q5_0][QL_AVX2] = rp_q5_0_tile_avx2;
        level_fn[F_Q8_0][QL_AVX2] = rp_q8_0_tile_avx2;
    }
    if (quant_level_supported(QL_AVX512)) {
        level_fn[F_Q4_0][QL_AVX512] = rp_q4_0_tile_avx512;
        level_fn[F_Q5_0][QL_AVX512] = rp_q5_0_tile_avx512;
        level_fn[F_Q8_0][QL_AVX512] = rp_q8_0_tile_avx512;
    }
#endif
    const char *name = quant_kernel_level();
    for (int l = QL_AVX2; l < QL_COUNT; l++) /* the scalar level keeps the file's layout */
        if (!strcmp(quant_level_name(l), name))
            for (int f = 0; f < F_COUNT; f++)
                active_fn[f] = level_fn[f][l];
}

static int format_index(uint32_t type)
{
    return type == QT_Q4_0 ? F_Q4_0 : type == QT_Q5_0 ? F_Q5_0 : type == QT_Q8_0 ? F_Q8_0 : -1;
}

rp_tile_fn rp_tile_level(uint32_t type, int level)
{
    pthread_once(&fn_once, fn_init);
    const int f = format_index(type);
    return f >= 0 && level >= 0 && level < QL_COUNT ? level_fn[f][level] : NULL;
}

rp_tile_fn rp_tile(uint32_t type)
{
    pthread_once(&fn_once, fn_init);
    const int f = format_index(type);
    return f >= 0 ? active_fn[f] : NULL;
}

bool rp_enabled(void)
{
    const char *e = getenv("DRUX_REPACK");
    return !(e && !strcmp(e, "0"));
}
