/*
 * repack — Q4_0, Q5_0, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weight matrices rearranged at load
 * time so that
 * one SIMD load feeds sixteen rows at once (the layout is described below and in
 * docs/performance.md). The model repacks such matrices once, in
 * eng_model_open, and multiplies them with rp_tile's kernel:
 *
 *     rp_tile_fn tile = rp_tile(QT_Q4_0);              // NULL: don't repack here
 *     size_t bytes = rp_bytes(QT_Q4_0, rows, cols);    // 64-byte aligned buffer
 *     rp_pack(QT_Q4_0, file_rows, rows, cols, packed);
 *     rp_act_quantize(x, cols, act);                   // per token, like Q8_0
 *     tile(cols / 32, packed + g * rp_group_bytes(QT_Q4_0, cols), act, act_stride, n_tok, out);
 *     // out[t * RP_ROWS + r] = row 16g + r . token t, for t < n_tok <= RP_MAX_TOKENS
 *
 * Layout: rows are taken in groups of RP_ROWS (16; the last group is padded
 * with zero rows). A group is nb = cols / 32 blocks of weights, then nb times
 * the 16 rows' f16 scales, then padding to 64 bytes. A block's weights are
 * 64-byte chunks; in chunk c, bytes 4r..4r+3 belong to row r:
 *   Q4_0 (4 chunks): the file's bytes qs[4c..4c+3] of the row's block, whose
 *        low nibbles are columns 4c..4c+3 and high nibbles 16+4c..16+4c+3;
 *   Q5_0 (4 chunks as Q4_0's, then 64 bytes of fifth bits): for chunk c two
 *        little-endian 64-bit masks at 256 + 16c, whose bit 4r+k is the fifth
 *        bit of the chunk's byte 4r+k, of its low nibble (first mask) and of
 *        its high nibble (second); a block is then 320 bytes;
 *   Q8_0 (8 chunks): columns 4c..4c+3, stored + 128 (unsigned).
 * So a chunk (masked to its low nibbles, for Q4_0) is sixteen rows times four
 * columns, ready for a multiply-add of 4-byte dot products against four
 * broadcast activations.
 *
 * The K-quants (rp_kquant) go by 256-column super-blocks instead, each the
 * same bytes as the 16 rows' file blocks in another order (nothing is
 * requantized; rp_row_to_float reads a row back exactly):
 *   Q4_K (RP_Q4_K_SB = 2304 bytes, the file's 16 x 144): 32 chunks, chunk c
 *        holding bytes qs[4c..4c+3] of each row (low nibbles: sub-block
 *        2(c/8), high ones 2(c/8)+1, columns 4(c%8)..+3 of each); then the 12
 *        bytes of packed six-bit scales and mins, byte k of row r at 16k + r
 *        (the kernels unpack sixteen rows' at once); the rows' f16 d, then
 *        their f16 dmin.
 *   Q5_K (RP_Q5_K_SB = 2816 bytes, the file's 16 x 176): Q4_K's 32 chunks
 *        of qs (the low four bits); then the fifth bits as Q5_0 has them, two
 *        little-endian 64-bit masks per chunk c at RP_Q5_K_QH + 16c, bit
 *        4r + k of the chunk's byte 4r + k, of its low nibble (first mask) and
 *        its high one (second); then the scales and mins, d and dmin as in
 *        Q4_K (from RP_Q5_K_SC).
 *   Q6_K (RP_Q6_K_SB = 3328 bytes): per 16-column sub-block s, three chunks
 *        of the six-bit values v (the weight + 32) of columns 16s + 4m + k:
 *        P1 = v(m=0) | top two bits of v(m=1) << 6, P2 = v(m=2) | top two
 *        bits of v(m=3) << 6, N = low four bits of v(m=1) | those of v(m=3) << 4;
 *        then the int8 scales sc[s][r]. The rows' f16 d of every super-block
 *        follow the group's last super-block (d[b][r]).
 *   Q3_K (RP_Q3_K_SB = 1728 bytes): per 16-column sub-block s a chunk of the
 *        low two bits, byte 4r + k holding those of columns 16s + 4m + k of row
 *        r at bits 2m..2m+1 (m < 4); then per sub-block s the high bits (the
 *        file's hmask) as four little-endian 64-bit masks at RP_Q3_K_HM + 32s +
 *        8m, bit 4r + k that of column 16s + 4m + k; then the file's 12 bytes of
 *        packed scales, byte k of row r at RP_Q3_K_SC + 16k + r. The rows' f16
 *        d of every super-block follow the group's last super-block, as in
 *        Q6_K (the group is the file's 16 x 110 bytes, rounded up to 64).
 *   Q2_K (RP_Q2_K_SB = 1344 bytes, the file's 16 x 84): Q3_K's 16 chunks of
 *        two-bit values; then the scale/min bytes by pairs of sub-blocks,
 *        scales[2p + e] of row r at RP_Q2_K_SC + 32p + 2r + e (a row's pair is
 *        one 16-bit lane once widened); then the rows' f16 d, then their dmin.
 * Their activations are the format's own Q8_K rows (block_q8_K, the
 * vec_dot_type), and the kernels give exactly the format's vec_dot: the
 * same integer sums per super-block and the same float steps.
 *
 * Activations come as rp_act_block (Q8_0's quantization, with the scale in
 * f32 and -8 * sum(qs)), so the weights' offset (8 for Q4_0, 16 for Q5_0,
 * 128 for the stored Q8_0) is taken away in integers and a kernel computes exactly the
 * format's vec_dot: per block the integer sum times d_w * d_a, summed over
 * blocks in order. The scalar kernels are the reference the SIMD ones are
 * held to (tests/unit/test_repack.c). All of this is thread-safe; packed
 * matrices are read-only once written.
 */
#ifndef DX_REPACK_H
#define DX_REPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

#define RP_ROWS 16      /* rows in one interleaved group */
#define RP_MAX_TOKENS 8 /* tokens one kernel call takes at most */

/* K-quant super-blocks of a group (see above): sizes and offsets in bytes. */
#define RP_Q4_K_SC 2048
#define RP_Q4_K_D 2240
#define RP_Q4_K_DMIN 2272
#define RP_Q4_K_SB 2304
#define RP_Q5_K_QH 2048
#define RP_Q5_K_SC 2560
#define RP_Q5_K_D 2752
#define RP_Q5_K_DMIN 2784
#define RP_Q5_K_SB 2816
#define RP_Q6_K_SC 3072
#define RP_Q6_K_SB 3328
#define RP_Q3_K_HM 1024
#define RP_Q3_K_SC 1536
#define RP_Q3_K_SB 1728
#define RP_Q2_K_SC 1024
#define RP_Q2_K_D 1280
#define RP_Q2_K_DMIN 1312
#define RP_Q2_K_SB 1344

typedef struct rp_act_block {
    float d;     /* the Q8_0 block's scale, f16-rounded, as f32 */
    int32_t off; /* -8 * sum(qs): Q4_0's offset; Q8_0's (-128 * sum) is 16 times it */
    int8_t qs[32];
} rp_act_block;
_Static_assert(sizeof(rp_act_block) == 40, "rp_act_block size");

/* out[t * RP_ROWS + r] = dot(row r of the group, token t) for t < n_tok
 * (1..RP_MAX_TOKENS); nb = cols / 32; token t's activations (rp_act_block,
 * or block_q8_K for the K-quants) start at a + t * a_stride bytes. */
typedef void (*rp_tile_fn)(int nb, const uint8_t *group, const void *a, size_t a_stride, int n_tok,
                           float *out);

/* True for the formats this module repacks (Q4_0, Q5_0, Q8_0 and Q2_K to Q6_K). */
bool rp_supports(uint32_t type);
/* True for the K-quants among them: 256-column super-blocks, Q8_K activations
 * (quantized with the format's vec_dot_type, not rp_act_quantize). */
bool rp_kquant(uint32_t type);
/* Bytes of one group of RP_ROWS rows of cols columns (a multiple of 64). */
size_t rp_group_bytes(uint32_t type, int cols);
/* Bytes of a whole repacked rows x cols matrix. */
size_t rp_bytes(uint32_t type, int rows, int cols);
/* Repacks rows x cols weights of a supported type (rows of cols / 32 blocks,
 * contiguous, as in the file) into dst (rp_bytes of them, 64-byte aligned).
 * cols must be a multiple of 32 (256 for the K-quants). */
void rp_pack(uint32_t type, const void *src, int rows, int cols, uint8_t *dst);

/* Row row of a repacked matrix (packed, cols columns) as floats: exactly the
 * format's to_float of the file's row (for embedding lookups). */
void rp_row_to_float(uint32_t type, const uint8_t *packed, int cols, int row, float *dst);

/* Bytes of one token's activations for cols columns. */
size_t rp_act_row_bytes(int cols);
/* Quantizes x[0..cols) (cols a multiple of 32) as Q8_0 does, into rp_act_block form. */
void rp_act_quantize(const float *x, int cols, void *dst);

/* The kernel for a format at the active kernel level (quant_kernel_level),
 * or NULL when that level has none (then matrices are left as they are in
 * the file). */
rp_tile_fn rp_tile(uint32_t type);
/* The kernel of one level; the scalar reference always exists for a
 * supported type; NULL when the level has none or the CPU can't run it. For
 * tests and benchmarks. */
rp_tile_fn rp_tile_level(uint32_t type, int level);

/* False when $DRUX_REPACK is "0" (read at every call: models keep the file's
 * layout, for comparison). */
bool rp_enabled(void);

#endif
