/*
 * ops.c — scalar reference versions of the forward-pass float kernels and
 * the choice of level (see ops.h).
 */
#include "engine/ops.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/arch/ops_arch.h"

static float ref_dot_f16(const float *x, const dx_f16 *y, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += x[i] * dx_f16_to_f32(y[i]);
    return s;
}

static void ref_axpy_f16(float *y, float a, const dx_f16 *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * dx_f16_to_f32(x[i]);
}

static void ref_to_f16(dx_f16 *y, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = dx_f32_to_f16(x[i]);
}

static void ref_silu_mul(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void ref_gelu_mul(float *g, const float *u, int n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        const float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
    }
}

static const ops_kernels scalar_ops = {ref_dot_f16, ref_axpy_f16, ref_to_f16, ref_silu_mul,
                                       ref_gelu_mul};

bool ops_get_level(int level, ops_kernels *out)
{
    if (!quant_level_supported(level))
        return false;
    *out = scalar_ops;
#if defined(__x86_64__)
    if (level >= QL_AVX2)
        *out = ops_avx2;
    if (level >= QL_AVX512)
        *out = ops_avx512;

#endif
    return true;
}

static ops_kernels active;
static bool supported[QL_COUNT]; /* asked once: cpuid is slow in a VM */
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static int level_active;

static void active_init(void)
{
    const char *name = quant_kernel_level();
    int level = QL_SCALAR;
    for (int l = 0; l < QL_COUNT; l++)
        if (!strcmp(quant_level_name(l), name))
            level = l;
    for (int l = 0; l < QL_COUNT; l++)
        supported[l] = quant_level_supported(l);
    ops_get_level(level, &active);
    level_active = level;
}

const ops_kernels *ops_get(void)
{
    pthread_once(&active_once, active_init);
    return &active;
}

/* The kernel for a type in a table, or NULL. */
#define FIND(table, count, type)                                                                   \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (count); i_++)                                                    \
            if ((table)[i_].type == (type))                                                        \
                return (table)[i_].fn;                                                             \
    } while (0)

ops_tile_fn ops_tile_level(uint32_t type, int level)
{
    pthread_once(&active_once, active_init);
    if (level < 0 || level >= QL_COUNT || !supported[level])
        return NULL;
#if defined(__x86_64__)
    if (level >= QL_AVX512)
        FIND(ops_avx512_tiles, ops_avx512_tile_count, type);
#endif
    (void)type;
    return NULL;
}

ops_tile_fn ops_tile(uint32_t type)
{
    pthread_once(&active_once, active_init);
    return ops_tile_level(type, level_active);
}

bool ops_tile_exact_level(uint32_t type, int level)
{
    pthread_once(&active_once, active_init);
    if (level < 0 || level >= QL_COUNT || !supported[level])
        return false;
#if defined(__x86_64__)
    if (level >= QL_AVX512)
        for (size_t i = 0; i < ops_avx512_tile_count; i++)
            if (ops_avx512_tiles[i].type == type)
                return ops_avx512_tiles[i].exact;
#endif
    (void)type;
    return false;
}

const ops_tile_fn *ops_tile_parts_level(uint32_t type, int level)
{
    pthread_once(&active_once, active_init);
    if (level < 0 || level >= QL_COUNT || !supported[level])
        return NULL;
#if defined(__x86_64__)
    if (level >= QL_AVX512)
        for (size_t i = 0; i < ops_avx512_tile_count; i++)
            if (ops_avx512_tiles[i].type == type)
                return ops_avx512_tiles[i].part[0] && ops_avx512_tiles[i].part[1]
                           ? ops_avx512_tiles[i].part
                           : NULL;
#endif
    (void)type;
    return NULL;
}

const ops_tile_fn *ops_tile_parts(uint32_t type)
{
    pthread_once(&active_once, active_init);
    return ops_tile_parts_level(type, level_active);
}

bool ops_tile_exact(uint32_t type)
{
    pthread_once(&active_once, active_init);
    return ops_tile_exact_level(type, level_active);
}

/* A level's float kernels, else those of the level below (AVX-512 runs the AVX2 ones). */
ops_block_fn ops_block_level(uint32_t type, int level)
{
    pthread_once(&active_once, active_init);
    if (level < 0 || level >= QL_COUNT || !supported[level])
        return NULL;
#if defined(__x86_64__)
    if (level >= QL_AVX512)
        FIND(ops_avx512_float_blocks, ops_avx512_float_block_count, type);
    if (level >= QL_AVX2)
        FIND(ops_avx2_float_blocks, ops_avx2_float_block_count, type);
#endif
    (void)type;
    return NULL;
}

ops_block_fn ops_block(uint32_t type)
{
    pthread_once(&active_once, active_init);
    return ops_block_level(type, level_active);
}

ops_rows_fn ops_rows_level(uint32_t type, int level)
{
    pthread_once(&active_once, active_init);
    if (level < 0 || level >= QL_COUNT || !supported[level])
        return NULL;
#if defined(__x86_64__)
    if (level >= QL_AVX512) {
        FIND(ops_avx512_rows, ops_avx512_rows_count, type);
        FIND(ops_avx512_float_rows, ops_avx512_float_rows_count, type);
    }
    if (level >= QL_AVX2)
        FIND(ops_avx2_float_rows, ops_avx2_float_rows_count, type);
#endif
    (void)type;
    return NULL;
}

ops_rows_fn ops_rows(uint32_t type)
{
    pthread_once(&active_once, active_init);
    return ops_rows_level(type, level_active);
}
