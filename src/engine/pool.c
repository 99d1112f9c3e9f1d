#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"

#define POOL_MAX_THREADS 256
#define SPIN_ITERS 20000

/* One job, on the stack of the thread that posted it. Workers reach it only
 * between incrementing p->active and decrementing it, and the poster does not
 * return before p->job is cleared and active is back to zero. */
typedef struct job {
    pool_chunk_fn fn;
    void *ctx;
    int n_chunks;
    unsigned gen;
    alignas(64) atomic_int next; /* next chunk to take */
    alignas(64) atomic_int done; /* chunks finished */
} job;

struct pool {
    int n;
    pthread_t *threads;
    /* pool_lock is a ticket lock, first come first served: a thread that
     * unlocks and locks again (a session decoding token after token) must
     * not keep out one that has been waiting (another's prompt). */
    pthread_mutex_t turn_mu;
    pthread_cond_t turn_cv;
    unsigned long next_ticket, serving;
    pthread_mutex_t mu; /* guards sleeping */
    pthread_cond_t wake;
    alignas(64) atomic_uint generation; /* bumped for each job */
    _Atomic(job *) job;                 /* the current job, NULL between jobs */
    alignas(64) atomic_int active;      /* workers looking at p->job */
    atomic_int sleepers;
    atomic_bool stop;
};

typedef struct {
    pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_chunks(job *j, int ith)
{
    int c;
    while ((c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_chunks) {
        j->fn(j->ctx, c, ith);
        atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    pool *p = wa.p;
    unsigned seen = 0; /* jobs may be posted before this thread first runs */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        atomic_fetch_add(&p->active, 1);
        job *j = atomic_load(&p->job);
        if (j) {
            seen = j->gen;
            run_chunks(j, wa.ith);
        }
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
}

static int online_cpus(void)
{
    const char *e = getenv("DRUX_THREADS");
    if (e && atoi(e) > 0)
        return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

dx_status pool_new(int n_threads, pool **out)
{
    *out = NULL;
    if (n_threads <= 0)
        n_threads = online_cpus();
    if (n_threads > POOL_MAX_THREADS)
        n_threads = POOL_MAX_THREADS;
    pool *p = aligned_alloc(64, (sizeof(pool) + 63) / 64 * 64);
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory creating the thread pool");
    *p = (pool){.n = n_threads};
    atomic_init(&p->generation, 0);
    atomic_init(&p->job, NULL);
    atomic_init(&p->active, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, false);
    pthread_mutex_init(&p->turn_mu, NULL);
    pthread_cond_init(&p->turn_cv, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        pool_free(p);
        return dx_fail(DX_ENOMEM, "out of memory creating the thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->ith = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i; /* only the started ones */
            pool_free(p);
            return dx_fail(DX_EIO, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return DX_OK;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        if (p->threads && p->threads[i])
            pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->turn_cv);
    pthread_mutex_destroy(&p->turn_mu);
    free(p);
}

int pool_threads(const pool *p)
{
    return p->n;
}

void pool_for(pool *p, int n_chunks, pool_chunk_fn fn, void *ctx)
{
    if (n_chunks <= 0)
        return;
    if (p->n == 1 || n_chunks == 1) {
        for (int c = 0; c < n_chunks; c++)
            fn(ctx, c, 0);
        return;
    }
    job j = {.fn = fn, .ctx = ctx, .n_chunks = n_chunks};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    j.gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    atomic_store(&p->job, &j);
    atomic_store_explicit(&p->generation, j.gen, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(&j, 0);
    /* Only chunks another thread has started are left: spin briefly, then
     * yield, since on a loaded machine that thread may have lost its core. */
    for (int spins = 0; atomic_load_explicit(&j.done, memory_order_acquire) < n_chunks; spins++) {
        if (spins < 2000)
            cpu_relax();
        else
            sched_yield();
    }
    /* Late workers may still hold a pointer to j: unpublish it and wait for
     * them to let go (they find no chunk left and leave at once). */
    atomic_store(&p->job, NULL);
    for (int spins = 0; atomic_load(&p->active) > 0; spins++) {
        if (spins < 2000)
            cpu_relax();
        else
            sched_yield();
    }
}

typedef struct {
    pool_fn fn;
    void *ctx;
    int nth;
} run_ctx;

static void run_one(void *ctx, int chunk, int ith)
{
    (void)ith;
    const run_ctx *r = ctx;
    r->fn(r->ctx, chunk, r->nth);
}

void pool_run(pool *p, pool_fn fn, void *ctx)
{
    run_ctx r = {fn, ctx, p->n};
    pool_for(p, p->n, run_one, &r);
}

void pool_lock(pool *p)
{
    pthread_mutex_lock(&p->turn_mu);
    const unsigned long me = p->next_ticket++;
    while (p->serving != me)
        pthread_cond_wait(&p->turn_cv, &p->turn_mu);
    pthread_mutex_unlock(&p->turn_mu);
}

void pool_unlock(pool *p)
{
    pthread_mutex_lock(&p->turn_mu);
    p->serving++;
    if (p->next_ticket != p->serving) /* someone is waiting */
        pthread_cond_broadcast(&p->turn_cv);
    pthread_mutex_unlock(&p->turn_mu);
}

static pool *global_pool;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    if (pool_new(0, &global_pool))
        log_error("%s", dx_errmsg());
}

pool *pool_global(void)
{
    pthread_once(&global_once, global_init);
    return global_pool;
}
