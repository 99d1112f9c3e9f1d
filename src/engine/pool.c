#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"

#define POOL_MAX_THREADS 256
#define SPIN_ITERS 4000

struct pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t job_lock; /* held by the owner of a group of jobs */
    pthread_mutex_t mu;       /* guards sleeping */
    pthread_cond_t wake;
    atomic_uint generation;   /* bumped for each job */
    atomic_int pending;       /* workers still running the current job */
    atomic_bool stop;
    pool_fn fn;
    void *ctx;
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
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        p->fn(p->ctx, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
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
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory creating the thread pool");
    p->n = n_threads;
    pthread_mutex_init(&p->job_lock, NULL);
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
    pthread_mutex_destroy(&p->job_lock);
    free(p);
}

int pool_threads(const pool *p)
{
    return p->n;
}

void pool_run(pool *p, pool_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    /* Spin briefly, then yield: on a loaded machine a worker may not be
     * running at all, and burning our time slice only delays it. */
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if (spins < 1000)
            cpu_relax();
        else
            sched_yield();
    }
}

void pool_lock(pool *p)
{
    pthread_mutex_lock(&p->job_lock);
}

void pool_unlock(pool *p)
{
    pthread_mutex_unlock(&p->job_lock);
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
