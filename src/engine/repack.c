/*
 * repack.c — the interleaved layouts: packing, the activation format, the
 * scalar reference kernels and the choice of kernel (see repack.h).
 */
#include "engine/repack.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch/repack_arch.h"

/* Bytes of weights of one block of a group (a 32-column block; for the
 * K-quants a 256-column super-block, see repack.h). */
static size_t block_bytes(uint32_t type)
{
    return type == QT_Q4_0   ? RP_ROWS * QK4_0 / 2
           : type == QT_Q5_0 ? RP_ROWS * QK5_0 / 2 + 64
           : type == QT_Q4_K ? RP_Q4_K_SB
           : type == QT_Q5_K ? RP_Q5_K_SB
           : type == QT_Q6_K ? RP_Q6_K_SB
           : type == QT_Q3_K ? RP_Q3_K_SB
           : type == QT_Q2_K ? RP_Q2_K_SB
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
    return type == QT_Q4_0 || type == QT_Q5_0 || type == QT_Q8_0 || rp_kquant(type);
}

bool rp_kquant(uint32_t type)
{
    return type == QT_Q2_K || type == QT_Q3_K || type == QT_Q4_K || type == QT_Q5_K ||
           type == QT_Q6_K;
}

size_t rp_group_bytes(uint32_t type, int cols)
{
    if (type == QT_Q2_K || type == QT_Q4_K ||
        type == QT_Q5_K) /* d and dmin are inside each super-block */
        return (size_t)(cols / QK_K) * block_bytes(type);
    if (type == QT_Q3_K || type == QT_Q6_K) { /* the d of every super-block after the last one */
        const size_t nsb = (size_t)cols / QK_K;
        return (nsb * (block_bytes(type) + RP_ROWS * sizeof(dx_f16)) + 63) / 64 * 64;
    }
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

/* ---- K-quants ----------------------------------------------------------- */

/* Q6_K: element e (0..255) of a super-block as stored (0..63, the weight + 32). */
static int q6_get(const block_q6_K *b, int e)
{
    const int h = e / 128, i = e % 128, l = i % 32, k = i / 32; /* k: which of the four */
    const uint8_t ql = b->ql[64 * h + l + 32 * (k & 1)];
    const int lo = k < 2 ? ql & 15 : ql >> 4;
    return lo | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
}

static void q6_set(block_q6_K *b, int e, int v)
{
    const int h = e / 128, i = e % 128, l = i % 32, k = i / 32;
    uint8_t *ql = &b->ql[64 * h + l + 32 * (k & 1)];
    *ql = k < 2 ? (uint8_t)((*ql & 0xf0) | (v & 15)) : (uint8_t)((*ql & 0x0f) | (v & 15) << 4);
    uint8_t *qh = &b->qh[32 * h + l];
    *qh = (uint8_t)((*qh & ~(3 << (2 * k))) | ((v >> 4) & 3) << (2 * k));
}

/* Q2_K/Q3_K: element e (0..255) of a super-block is bits 2k..2k+1 of
 * qs[32h + l] (h = e / 128, k = e % 128 / 32, l = e % 32); Q3_K's high bit is
 * bit 4h + k of hmask[l]. */
static int q2_lo(const uint8_t *qs, int e)
{
    return (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
}

static int q3_hi(const uint8_t *hmask, int e)
{
    return (hmask[e % 32] >> (4 * (e / 128) + e % 128 / 32)) & 1;
}

/* The two-bit chunks (Q2_K and Q3_K, see repack.h) of row r from a file's qs, and back. */
static void pack_k2(const uint8_t *qs, uint8_t *sb, int r)
{
    for (int s = 0; s < 16; s++)
        for (int m = 0; m < 4; m++)
            for (int k = 0; k < 4; k++)
                sb[64 * s + 4 * r + k] |= (uint8_t)(q2_lo(qs, 16 * s + 4 * m + k) << (2 * m));
}

static void unpack_k2(const uint8_t *sb, int r, uint8_t *qs)
{
    memset(qs, 0, QK_K / 4);
    for (int s = 0; s < 16; s++)
        for (int m = 0; m < 4; m++)
            for (int k = 0; k < 4; k++) {
                const int e = 16 * s + 4 * m + k;
                qs[32 * (e / 128) + e % 32] |=
                    (uint8_t)(((sb[64 * s + 4 * r + k] >> (2 * m)) & 3) << (2 * (e % 128 / 32)));
            }
}

/* Q4_K's and Q5_K's qs chunks, scales and mins (at sc, then d and dmin) of
 * row r of a super-block. */
static void pack_k4(const uint8_t *qs, const uint8_t *scales, dx_f16 d, dx_f16 dmin, uint8_t *sb,
                    size_t sc, int r)
{
    for (int c = 0; c < 32; c++)
        memcpy(sb + 64 * c + 4 * r, qs + 4 * c, 4);
    for (int k = 0; k < 12; k++)
        sb[sc + 16 * k + r] = scales[k];
    memcpy(sb + sc + 192 + 2 * r, &d, 2);
    memcpy(sb + sc + 224 + 2 * r, &dmin, 2);
}

static void unpack_k4(const uint8_t *sb, size_t sc, int r, uint8_t *qs, uint8_t *scales, dx_f16 *d,
                      dx_f16 *dmin)
{
    for (int c = 0; c < 32; c++)
        memcpy(qs + 4 * c, sb + 64 * c + 4 * r, 4);
    for (int k = 0; k < 12; k++)
        scales[k] = sb[sc + 16 * k + r];
    memcpy(d, sb + sc + 192 + 2 * r, 2);
    memcpy(dmin, sb + sc + 224 + 2 * r, 2);
}

/* Row r's super-block b of a group into its place (see repack.h). */
static void pack_kblock(uint32_t type, const void *blk, uint8_t *grp, int nsb, int b, int r)
{
    uint8_t *sb = grp + (size_t)b * block_bytes(type);
    if (type == QT_Q4_K) {
        const block_q4_K *x = blk;
        pack_k4(x->qs, x->scales, x->d, x->dmin, sb, RP_Q4_K_SC, r);
        return;
    }
    if (type == QT_Q2_K) {
        const block_q2_K *x = blk;
        pack_k2(x->qs, sb, r);
        for (int j = 0; j < 16; j++)
            sb[RP_Q2_K_SC + 32 * (j / 2) + 2 * r + j % 2] = x->scales[j];
        memcpy(sb + RP_Q2_K_D + 2 * r, &x->d, 2);
        memcpy(sb + RP_Q2_K_DMIN + 2 * r, &x->dmin, 2);
        return;
    }
    if (type == QT_Q3_K) {
        const block_q3_K *x = blk;
        pack_k2(x->qs, sb, r);
        for (int e = 0; e < QK_K; e++) { /* column e = 16s + 4m + k: mask 4s + m, bit 4r + k */
            const int bit = 4 * r + e % 4;
            sb[RP_Q3_K_HM + 8 * (e / 4) + bit / 8] |= (uint8_t)(q3_hi(x->hmask, e) << (bit % 8));
        }
        for (int k = 0; k < 12; k++)
            sb[RP_Q3_K_SC + 16 * k + r] = x->scales[k];
        memcpy(grp + (size_t)nsb * RP_Q3_K_SB + 32 * (size_t)b + 2 * r, &x->d, 2);
        return;
    }
    if (type == QT_Q5_K) {
        const block_q5_K *x = blk;
        pack_k4(x->qs, x->scales, x->d, x->dmin, sb, RP_Q5_K_SC, r);
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 4; k++) { /* qs byte 4c + k is byte l of its 32 */
                const int l = 4 * (c % 8) + k, bit = 4 * r + k;
                for (int hi = 0; hi < 2; hi++)
                    sb[RP_Q5_K_QH + 16 * c + 8 * hi + bit / 8] |=
                        (uint8_t)(((x->qh[l] >> (2 * (c / 8) + hi)) & 1) << (bit % 8));
            }
        return;
    }
    const block_q6_K *x = blk;
    for (int s = 0; s < 16; s++) {
        uint8_t *p1 = sb + 192 * s, *p2 = p1 + 64, *nn = p1 + 128;
        for (int k = 0; k < 4; k++) {
            const int v0 = q6_get(x, 16 * s + k), v1 = q6_get(x, 16 * s + 4 + k),
                      v2 = q6_get(x, 16 * s + 8 + k), v3 = q6_get(x, 16 * s + 12 + k);
            p1[4 * r + k] = (uint8_t)(v0 | (v1 >> 4) << 6);
            p2[4 * r + k] = (uint8_t)(v2 | (v3 >> 4) << 6);
            nn[4 * r + k] = (uint8_t)((v1 & 15) | (v3 & 15) << 4);
        }
        sb[RP_Q6_K_SC + 16 * s + r] = (uint8_t)x->scales[s];
    }
    memcpy(grp + (size_t)nsb * RP_Q6_K_SB + 32 * (size_t)b + 2 * r, &x->d, 2);
}

/* The file's super-block b of row r of a group, read back from the layout. */
static void unpack_kblock(uint32_t type, const uint8_t *grp, int nsb, int b, int r, void *blk)
{
    const uint8_t *sb = grp + (size_t)b * block_bytes(type);
    if (type == QT_Q4_K) {
        block_q4_K *x = blk;
        unpack_k4(sb, RP_Q4_K_SC, r, x->qs, x->scales, &x->d, &x->dmin);
        return;
    }
    if (type == QT_Q2_K) {
        block_q2_K *x = blk;
        unpack_k2(sb, r, x->qs);
        for (int j = 0; j < 16; j++)
            x->scales[j] = sb[RP_Q2_K_SC + 32 * (j / 2) + 2 * r + j % 2];
        memcpy(&x->d, sb + RP_Q2_K_D + 2 * r, 2);
        memcpy(&x->dmin, sb + RP_Q2_K_DMIN + 2 * r, 2);
        return;
    }
    if (type == QT_Q3_K) {
        block_q3_K *x = blk;
        unpack_k2(sb, r, x->qs);
        memset(x->hmask, 0, sizeof x->hmask);
        for (int e = 0; e < QK_K; e++) {
            const int bit = 4 * r + e % 4;
            x->hmask[e % 32] |=
                (uint8_t)(((sb[RP_Q3_K_HM + 8 * (e / 4) + bit / 8] >> (bit % 8)) & 1)
                          << (4 * (e / 128) + e % 128 / 32));
        }
        for (int k = 0; k < 12; k++)
            x->scales[k] = sb[RP_Q3_K_SC + 16 * k + r];
        memcpy(&x->d, grp + (size_t)nsb * RP_Q3_K_SB + 32 * (size_t)b + 2 * r, 2);
        return;
    }
    if (type == QT_Q5_K) {
        block_q5_K *x = blk;
        unpack_k4(sb, RP_Q5_K_SC, r, x->qs, x->scales, &x->d, &x->dmin);
        memset(x->qh, 0, sizeof x->qh);
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 4; k++) {
                const int l = 4 * (c % 8) + k, bit = 4 * r + k;
                for (int hi = 0; hi < 2; hi++)
                    x->qh[l] |=
                        (uint8_t)(((sb[RP_Q5_K_QH + 16 * c + 8 * hi + bit / 8] >> (bit % 8)) & 1)
                                  << (2 * (c / 8) + hi));
            }
        return;
    }
    block_q6_K *x = blk;
    memset(x, 0, sizeof *x);
    for (int s = 0; s < 16; s++) {
        const uint8_t *p1 = sb + 192 * s, *p2 = p1 + 64, *nn = p1 + 128;
        for (int k = 0; k < 4; k++) {
            const int a = p1[4 * r + k], c = p2[4 * r + k], n = nn[4 * r + k];
            q6_set(x, 16 * s + k, a & 63);
            q6_set(x, 16 * s + 4 + k, (n & 15) | (a >> 6) << 4);
            q6_set(x, 16 * s + 8 + k, c & 63);
            q6_set(x, 16 * s + 12 + k, (n >> 4) | (c >> 6) << 4);
        }
        x->scales[s] = (int8_t)sb[RP_Q6_K_SC + 16 * s + r];
    }
    memcpy(&x->d, grp + (size_t)nsb * RP_Q6_K_SB + 32 * (size_t)b + 2 * r, 2);
}

static size_t kblock_size(uint32_t type)
{
    return type == QT_Q2_K   ? sizeof(block_q2_K)
           : type == QT_Q3_K ? sizeof(block_q3_K)
           : type == QT_Q4_K ? sizeof(block_q4_K)
           : type == QT_Q5_K ? sizeof(block_q5_K)
                             : sizeof(block_q6_K);
}

/* Row r (< RP_ROWS) of a group, all nsb super-blocks, in the file's layout. */
static void unpack_krow(uint32_t type, const uint8_t *grp, int nsb, int r, uint8_t *row)
{
    for (int b = 0; b < nsb; b++)
        unpack_kblock(type, grp, nsb, b, r, row + (size_t)b * kblock_size(type));
}

void rp_pack(uint32_t type, const void *src, int rows, int cols, uint8_t *dst)
{
    if (rp_kquant(type)) {
        const int nsb = cols / QK_K;
        const size_t gb = rp_group_bytes(type, cols), tb = kblock_size(type);
        for (int g = 0; g * RP_ROWS < rows; g++) {
            uint8_t *grp = dst + (size_t)g * gb;
            memset(grp, 0, gb); /* padding rows: zero weights, scales and d */
            for (int r = 0; r < RP_ROWS && g * RP_ROWS + r < rows; r++) {
                const uint8_t *row = (const uint8_t *)src + (size_t)(g * RP_ROWS + r) * nsb * tb;
                for (int b = 0; b < nsb; b++)
                    pack_kblock(type, row + (size_t)b * tb, grp, nsb, b, r);
            }
        }
        return;
    }
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
    if (rp_kquant(type)) { /* the file's row back, then its own to_float */
        const int nsb = cols / QK_K;
        uint8_t blk[sizeof(block_q6_K)];
        quant_traits qt;
        quant_get_level(type, QL_SCALAR, &qt);
        const uint8_t *grp = packed + (size_t)(row / RP_ROWS) * rp_group_bytes(type, cols);
        for (int b = 0; b < nsb; b++) {
            unpack_kblock(type, grp, nsb, b, row % RP_ROWS, blk);
            qt.to_float(blk, dst + (size_t)b * QK_K, QK_K);
        }
        return;
    }
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

/* The K-quant reference: each row of the group read back into the file's
 * layout and given to the format's scalar vec_dot with the token's Q8_K row
 * (so the same sums in the same order, by construction). */
static void ktile_scalar(uint32_t type, int nb, const uint8_t *group, const void *a,
                         size_t a_stride, int n_tok, float *out)
{
    const int nsb = nb * 32 / QK_K;
    quant_traits qt;
    quant_get_level(type, QL_SCALAR, &qt);
    uint8_t *row = malloc((size_t)nsb * kblock_size(type));
    if (!row) { /* the reference is for tests; they see the NaNs */
        for (int i = 0; i < n_tok * RP_ROWS; i++)
            out[i] = NAN;
        return;
    }
    for (int r = 0; r < RP_ROWS; r++) {
        unpack_krow(type, group, nsb, r, row);
        for (int t = 0; t < n_tok; t++)
            qt.vec_dot(nsb * QK_K, &out[t * RP_ROWS + r], row,
                       (const char *)a + (size_t)t * a_stride);
    }
    free(row);
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

static void tile_q2_K_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n, float *out)
{
    ktile_scalar(QT_Q2_K, nb, g, a, as, n, out);
}
static void tile_q3_K_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n, float *out)
{
    ktile_scalar(QT_Q3_K, nb, g, a, as, n, out);
}
static void tile_q4_K_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n, float *out)
{
    ktile_scalar(QT_Q4_K, nb, g, a, as, n, out);
}
static void tile_q5_K_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n, float *out)
{
    ktile_scalar(QT_Q5_K, nb, g, a, as, n, out);
}
static void tile_q6_K_scalar(int nb, const uint8_t *g, const void *a, size_t as, int n, float *out)
{
    ktile_scalar(QT_Q6_K, nb, g, a, as, n, out);
}

enum { F_Q4_0, F_Q5_0, F_Q8_0, F_Q2_K, F_Q3_K, F_Q4_K, F_Q5_K, F_Q6_K, F_COUNT };
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
        level_fn[F_Q2_K][QL_SCALAR] = tile_q2_K_scalar;
        level_fn[F_Q3_K][QL_SCALAR] = tile_q3_K_scalar;
        level_fn[F_Q4_K][QL_SCALAR] = tile_q4_K_scalar;
        level_fn[F_Q5_K][QL_SCALAR] = tile_q5_K_scalar;
        level_fn[F_Q6_K][QL_SCALAR] = tile_q6_K_scalar;
    }
#if defined(__x86_64__)
    if (quant_level_supported(QL_AVX2)) {
        level_fn[F_Q4_0][QL_AVX2] = rp_q4_0_tile_avx2;
        level_fn[F_Q5_0][QL_AVX2] = rp_q5_0_tile_avx2;
        level_fn[F_Q8_0][QL_AVX2] = rp_q8_0_tile_avx2;
        level_fn[F_Q2_K][QL_AVX2] = rp_q2_K_tile_avx2;
        level_fn[F_Q3_K][QL_AVX2] = rp_q3_K_tile_avx2;
        level_fn[F_Q4_K][QL_AVX2] = rp_q4_K_tile_avx2;
        level_fn[F_Q5_K][QL_AVX2] = rp_q5_K_tile_avx2;
        level_fn[F_Q6_K][QL_AVX2] = rp_q6_K_tile_avx2;
    }
    if (quant_level_supported(QL_AVX512)) {
        level_fn[F_Q4_0][QL_AVX512] = rp_q4_0_tile_avx512;
        level_fn[F_Q5_0][QL_AVX512] = rp_q5_0_tile_avx512;
        level_fn[F_Q8_0][QL_AVX512] = rp_q8_0_tile_avx512;
        level_fn[F_Q2_K][QL_AVX512] = rp_q2_K_tile_avx512;
        level_fn[F_Q3_K][QL_AVX512] = rp_q3_K_tile_avx512;
        level_fn[F_Q4_K][QL_AVX512] = rp_q4_K_tile_avx512;
        level_fn[F_Q5_K][QL_AVX512] = rp_q5_K_tile_avx512;
        level_fn[F_Q6_K][QL_AVX512] = rp_q6_K_tile_avx512;
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
    return type == QT_Q4_0   ? F_Q4_0
           : type == QT_Q5_0 ? F_Q5_0
           : type == QT_Q8_0 ? F_Q8_0
           : type == QT_Q2_K ? F_Q2_K
           : type == QT_Q3_K ? F_Q3_K
           : type == QT_Q4_K ? F_Q4_K
           : type == QT_Q5_K ? F_Q5_K
           : type == QT_Q6_K ? F_Q6_K
                             : -1;
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
