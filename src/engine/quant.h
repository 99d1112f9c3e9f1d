/*
 * quant — tensor formats: block layouts, conversion, and dot-product kernels.
 *
 * A weight row of n elements in format T is n / block_size(T) blocks of
 * type_size(T) bytes. To multiply a row by an activation vector, the vector
 * is first converted to the row format's vec_dot_type (Q8_0 or Q8_1 for the 32-wide
 * formats, Q8_K for the K-quants, F16/BF16/F32 for the float formats), then
 *
 *     const quant_traits *wt = quant_get(W->type);
 *     const quant_traits *at = quant_get(wt->vec_dot_type);
 *     at->from_float(x, xq, n);                 // once per activation vector
 *     for (r = 0; r < rows; r++)
 *         wt->vec_dot(n, &y[r], w + r * row_bytes, xq);
 *
 * quant_get hands out the fastest kernels this CPU runs (AVX-512 VNNI, AVX2
 * or the scalar reference ones in quant.c; DRUX_KERNELS=scalar|avx2|avx512
 * caps the choice). The SIMD versions live in src/engine/arch/ and are held
 * to the scalar ones by tests; they agree to float rounding (blocks are
 * summed in another order), and the activation quantizers agree bit for bit
 * for finite inputs. vec_dot reads whole blocks: n must be a multiple of the
 * block size, and the vectors need no particular alignment. Enum values are
 * GGML's type ids, as stored in GGUF files; the block layouts are GGML's
 * (docs/quant.md describes them). Everything here is thread-safe.
 */
#ifndef DX_QUANT_H
#define DX_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qtype {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_BF16 = 30,
    QT_COUNT = 40 /* ids at or above this are unknown (GGUF_TYPE_COUNT) */
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t dx_f16;  /* IEEE half, bit pattern */
typedef uint16_t dx_bf16; /* bfloat16, bit pattern */

typedef struct {
    dx_f16 d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
typedef struct {
    dx_f16 d, m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
typedef struct {
    dx_f16 d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
typedef struct {
    dx_f16 d, m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
typedef struct {
    dx_f16 d;
    int8_t qs[QK8_0];
} block_q8_0;
typedef struct {
    dx_f16 d, s;
    int8_t qs[QK8_1];
} block_q8_1; /* s = d * sum(qs) */
typedef struct {
    dx_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    dx_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    dx_f16 d;
} block_q6_K;
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    dx_f16 d, dmin;
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    dx_f16 d;
} block_q3_K;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 block size");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block size");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block size");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K block size");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K block size");

/* n must be a multiple of the format's block size for all of these. */
typedef void (*quant_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*quant_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w[0..n), a[0..n)), w in the row's format, a in its vec_dot_type */
typedef void (*quant_vec_dot_fn)(int n, float *s, const void *w, const void *a);

typedef struct quant_traits {
    const char *name; /* "Q4_K" */
    int block_size;   /* elements per block */
    size_t type_size; /* bytes per block */
    quant_to_float_fn to_float;
    quant_from_float_fn from_float; /* quantizer (round-to-nearest for weights); NULL if none */
    quant_vec_dot_fn vec_dot;       /* NULL for activation-only formats (Q8_1, Q8_K) */
    enum qtype vec_dot_type;
} quant_traits;

/* Traits of a format drux can compute with, or NULL. */
const quant_traits *quant_get(uint32_t type);

float dx_f16_to_f32(dx_f16 h);
dx_f16 dx_f32_to_f16(float f);
float dx_bf16_to_f32(dx_bf16 h);
dx_bf16 dx_f32_to_bf16(float f); /* round to nearest even */

/*
 * Kernel levels. quant_get() hands out the fastest kernels the CPU supports
 * (the first call picks them; DRUX_KERNELS=scalar|avx2|avx512 in the
 * environment forces a level, capped at what the CPU can run).
 */
enum quant_level { QL_SCALAR = 0, QL_AVX2 = 1, QL_AVX512 = 2, QL_COUNT };

/* Picks the kernel level once (idempotent, thread-safe; quant_get calls it). */
void quant_init(void);
/* "scalar", "avx2" or "avx512": the level quant_get's kernels are from. */
const char *quant_kernel_level(void);
/* Name of a level ("avx2"), or NULL for an invalid one. */
const char *quant_level_name(int level);
/* True if this CPU can run the kernels of a level (QL_SCALAR always). */
bool quant_level_supported(int level);
/* Fills *out with the traits of a type using the kernels of one level (the
 * scalar ones where that level has none). False if drux can't compute with
 * the type or the CPU can't run the level. For tests and benchmarks. */
bool quant_get_level(uint32_t type, int level, quant_traits *out);

#endif
