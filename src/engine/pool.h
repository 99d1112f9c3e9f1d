/*
 * pool — a fixed set of worker threads that run one parallel job at a time.
 *
 * A job is a function called once per thread with (ctx, ith, nth); it splits
 * its work by ith/nth so threads never write the same cache lines. The
 * calling thread takes part as thread 0, so a pool of 1 runs inline.
 *
 *     pool *p;
 *     pool_new(2, &p);
 *     pool_run(p, matmul_job, &args);   // returns when every thread is done
 *     pool_free(p);
 *
 * pool_run is not reentrant; callers that share a pool serialise with
 * pool_lock/pool_unlock around a group of jobs (a decode step), which is also
 * what makes concurrent sessions take turns fairly. Workers spin briefly
 * before sleeping so the many small jobs of one token don't pay a wake-up each.
 */
#ifndef DX_POOL_H
#define DX_POOL_H

#include "core/status.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0 means the number of online CPUs (or $DRUX_THREADS). */
dx_status pool_new(int n_threads, pool **out);
void pool_free(pool *p);
int pool_threads(const pool *p);
void pool_run(pool *p, pool_fn fn, void *ctx);
void pool_lock(pool *p);
void pool_unlock(pool *p);

/* The process-wide pool used by the engine; created on first use. NULL on failure. */
pool *pool_global(void);

/* Split [0, n) evenly: thread ith gets [*lo, *hi). */
static inline void pool_range(int n, int ith, int nth, int *lo, int *hi)
{
    int per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem);
}

#endif
