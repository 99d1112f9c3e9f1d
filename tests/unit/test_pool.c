/*
 * test_pool — the thread pool runs every chunk of a job exactly once, with
 * any number of threads, job after job, and pool_run gives each part once;
 * pool_lock serves waiting threads in the order they came.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/pool.h"
#include "test.h"

typedef struct {
    atomic_int *hits;
    atomic_int bad_ith;
    int nth;
} count_job;

static void count_chunk(void *ctx, int chunk, int ith)
{
    count_job *j = ctx;
    atomic_fetch_add(&j->hits[chunk], 1);
    if (ith < 0 || ith >= j->nth)
        atomic_fetch_add(&j->bad_ith, 1);
}

TEST(every_chunk_runs_once_for_any_thread_count)
{
    enum { MAXC = 1000 };
    atomic_int *hits = calloc(MAXC, sizeof *hits);
    CHECK(hits != NULL);
    for (int nt = 1; nt <= 4; nt++) {
        pool *p;
        CHECK(pool_new(nt, &p) == DX_OK);
        CHECK_EQ_INT(pool_threads(p), nt);
        for (int rep = 0; rep < 300; rep++) {
            const int nc = rep % 7 == 0 ? 1 : (rep * 37) % MAXC;
            for (int c = 0; c < MAXC; c++)
                atomic_store(&hits[c], 0);
            count_job j = {.hits = hits, .nth = nt};
            atomic_init(&j.bad_ith, 0);
            pool_for(p, nc, count_chunk, &j);
            int wrong = 0;
            for (int c = 0; c < MAXC; c++)
                wrong += atomic_load(&hits[c]) != (c < nc);
            CHECK_MSG(wrong == 0, "%d threads, %d chunks: %d chunks ran a wrong number of times",
                      nt, nc, wrong);
            CHECK_EQ_INT(atomic_load(&j.bad_ith), 0);
        }
        pool_free(p);
    }
    free(hits);
}

typedef struct {
    int parts[8];
    int nth_seen;
} run_job;

static void run_part(void *ctx, int i, int nth)
{
    run_job *j = ctx;
    j->parts[i]++;
    j->nth_seen = nth;
}

TEST(pool_run_calls_each_part_once)
{
    pool *p;
    CHECK(pool_new(3, &p) == DX_OK);
    for (int rep = 0; rep < 100; rep++) {
        run_job j;
        memset(&j, 0, sizeof j);
        pool_run(p, run_part, &j);
        CHECK_EQ_INT(j.nth_seen, 3);
        for (int i = 0; i < 8; i++)
            CHECK_EQ_INT(j.parts[i], i < 3);
    }
    pool_free(p);
    pool_free(NULL);
}

typedef struct {
    pool *p;
    atomic_int arrived;
    int order[4], n;
} lock_order;

static void *lock_once(void *arg)
{
    lock_order *lo = arg;
    atomic_fetch_add(&lo->arrived, 1);
    pool_lock(lo->p);
    lo->order[lo->n++] = 1;
    pool_unlock(lo->p);
    return NULL;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){0, ms * 1000000L}, NULL);
}

/* A thread that unlocks and locks again at once (a session decoding token
 * after token) queues behind one already waiting (another's prompt). */
TEST(pool_lock_is_first_come_first_served)
{
    pool *p;
    CHECK(pool_new(2, &p) == DX_OK);
    for (int round = 0; round < 3; round++) {
        lock_order lo = {.p = p};
        atomic_init(&lo.arrived, 0);
        pool_lock(p);
        pthread_t th;
        pthread_create(&th, NULL, lock_once, &lo);
        while (atomic_load(&lo.arrived) == 0)
            sleep_ms(1);
        sleep_ms(20); /* now blocked in pool_lock */
        pool_unlock(p);
        pool_lock(p);
        lo.order[lo.n++] = 0;
        pool_unlock(p);
        pthread_join(th, NULL);
        CHECK_EQ_INT(lo.n, 2);
        CHECK_EQ_INT(lo.order[0], 1);
        CHECK_EQ_INT(lo.order[1], 0);
    }
    pool_free(p);
}

int main(void)
{
    RUN(every_chunk_runs_once_for_any_thread_count);
    RUN(pool_run_calls_each_part_once);
    RUN(pool_lock_is_first_come_first_served);
    return test_summary();
}
