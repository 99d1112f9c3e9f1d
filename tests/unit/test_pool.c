/*
 * test_pool — the thread pool runs every chunk of a job exactly once, with
 * any number of threads, job after job, and pool_run gives each part once.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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
            CHECK_MSG(wrong == 0, "%d threads, %d chunks: %d chunks ran a wrong number of times", nt, nc,
                      wrong);
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

int main(void)
{
    RUN(every_chunk_runs_once_for_any_thread_count);
    RUN(pool_run_calls_each_part_once);
    return test_summary();
}
