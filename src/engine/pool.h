/*
 * pool — a fixed set of worker threads that run one parallel job at a time.
 *
 * A job is split into chunks that threads take from a shared counter, so a
 * thread that the OS has not scheduled yet (a busy machine, more threads than
 * cores) never holds up the others: whoever runs takes the next chunk, and the
 * caller waits only for chunks already started. The calling thread takes part,
 * so a pool of 1 runs inline.
 *
 *     pool *p;
 *     pool_new(2, &p);
 *     pool_for(p, n_chunks, row_chunk, &args); // row_chunk(&args, chunk, ith) once per chunk
 *     pool_run(p, split_job, &args);           // split_job(&args, i, nth) once per i < nth
 *     pool_free(p);
 *
 * Make chunks a multiple of a cache line of output (16 floats) so threads
 * never write the same line. pool_for/pool_run are not reentrant; callers that
 * share a pool serialise with pool_lock/pool_unlock around a group of jobs (a
 * decode step), which is also what makes concurrent sessions take turns:
 * the lock is first come, first served, so a session that locks again right
 * after unlocking queues behind those already waiting.
 * Workers spin briefly before sleeping so the many small jobs of one token
 * don't pay a wake-up each.
 */
#ifndef DX_POOL_H
#define DX_POOL_H

#include "core/status.h"

typedef struct pool pool;
/* pool_run: called once for each i in [0, nth), on any of the threads. */
typedef void (*pool_fn)(void *ctx, int i, int nth);
/* pool_for: called once per chunk; ith (< pool_threads) names the calling
 * thread, for per-thread scratch. */
typedef void (*pool_chunk_fn)(void *ctx, int chunk, int ith);

/* n_threads <= 0 means the number of online CPUs (or $DRUX_THREADS). */
dx_status pool_new(int n_threads, pool **out);
void pool_free(pool *p);
int pool_threads(const pool *p);
void pool_for(pool *p, int n_chunks, pool_chunk_fn fn, void *ctx);
void pool_run(pool *p, pool_fn fn, void *ctx);
void pool_lock(pool *p);
void pool_unlock(pool *p);

/* The process-wide pool used by the engine; created on first use. NULL on failure. */
pool *pool_global(void);

/* Split [0, n) evenly: part ith of nth gets [*lo, *hi). */
static inline void pool_range(int n, int ith, int nth, int *lo, int *hi)
{
    int per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem);
}

#endif
