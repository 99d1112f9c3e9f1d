/*
 * attn.c — the per-row attention path and the choice between it and the
 * blocked SIMD kernel (see attn.h).
 */
#include "engine/attn.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/arch/attn_arch.h"
#include "engine/ops.h"

size_t attn_work_bytes(int n_ctx, int hdk, int hdv)
{
    const size_t rows = (size_t)n_ctx * sizeof(float);
    size_t tiled = 0;
#if defined(__x86_64__)
    tiled = attn_tiled_work_bytes(hdk, hdv);
#else
    (void)hdk;
    (void)hdv;
#endif
    const size_t b = rows > tiled ? rows : tiled;
    return (b + 63) / 64 * 64;
}

/* One row at a time: all its scores, a two-pass softmax, then the weighted
 * sum of value rows. work holds the scores (hi + 1 floats). */
static void attn_rows_path(const attn_rows *a, const ops_kernels *ops, float *sc)
{
    for (int r = 0; r < a->n; r++) {
        const int lo = a->lo[r], hi = a->hi[r];
        const float *q = a->q[r];
        float mx = -INFINITY;
        for (int k = lo; k <= hi; k++) {
            const float d = ops->dot_f16(q, a->k + (size_t)k * a->k_stride, a->hdk) * a->scale;
            sc[k] = d;
            if (d > mx)
                mx = d;
        }
        float sum = 0.0f;
        for (int k = lo; k <= hi; k++) {
            sc[k] = expf(sc[k] - mx);
            sum += sc[k];
        }
        const float inv = 1.0f / sum;
        float *out = a->out[r];
        memset(out, 0, (size_t)a->hdv * sizeof(float));
        for (int k = lo; k <= hi; k++)
            ops->axpy_f16(out, sc[k] * inv, a->v + (size_t)k * a->v_stride, a->hdv);
    }
}

static bool tiled_fits(const attn_rows *a)
{
    return a->n >= ATTN_TILE_MIN_ROWS && a->n <= ATTN_MAX_ROWS && a->hdv % 16 == 0;
}

bool attn_run_level(int level, const attn_rows *a, void *work)
{
    ops_kernels ops;
    if (!ops_get_level(level, &ops))
        return false;
#if defined(__x86_64__)
    if (level >= QL_AVX512 && tiled_fits(a)) {
        attn_tiled_avx512(a, work);
        return true;
    }
#endif
    attn_rows_path(a, &ops, work);
    return true;
}

static bool tiled_active; /* the active level is AVX-512 */
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void active_init(void)
{
    tiled_active = !strcmp(quant_kernel_level(), quant_level_name(QL_AVX512));
}

void attn_run(const attn_rows *a, void *work)
{
    pthread_once(&active_once, active_init);
#if defined(__x86_64__)
    if (tiled_active && tiled_fits(a)) {
        attn_tiled_avx512(a, work);
        return;
    }
#endif
    attn_rows_path(a, ops_get(), work);
}
