#include "gen/batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Longest a prompt's chunk waits in batch_yield for a step to run. */
#define BATCH_YIELD_US 100000

enum { REQ_WAITING, REQ_DONE, REQ_ALONE };

/* One submission, on the stack of the thread that waits for it. It is in
 * the pending list until a leader takes it; its thread returns only after
 * the leader has set its state, so the leader never sees a dead request. */
typedef struct req {
    eng_session *s;
    int32_t token;
    int state;
    bool shared;
    struct req *next;
} req;

/* Locks: mu only. Nothing is called with mu held but condition waits; the
 * leader lets go of mu for the forward pass (which takes the pool's lock). */
struct batcher {
    pthread_mutex_t mu;
    pthread_cond_t done; /* submitters and yielders wait here (a step ended, a session left) */
    int joined;          /* sessions between batch_join and batch_leave */
    req *head, **tail;   /* submitted, not yet taken by a leader (FIFO) */
    int n_pending;
    bool busy;      /* a step is running */
    long gather_us; /* how long submitters wait for the rest (see batch.h) */
    batch_stats st;
};

batcher *batcher_new(void)
{
    batcher *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
    b->tail = &b->head;
    b->gather_us = BATCH_GATHER_MIN_US;
    return b;
}

void batcher_free(batcher *b)
{
    if (!b)
        return;
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static struct timespec deadline_us(long us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += us / 1000000;
    ts.tv_nsec += (us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void batch_join(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->joined++;
    pthread_mutex_unlock(&b->mu);
}

void batch_leave(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->joined--;
    pthread_cond_broadcast(&b->done); /* submitters may be waiting for this one */
    pthread_mutex_unlock(&b->mu);
}

/* Take req *pp points at out of the pending list. */
static req *unlink_req(batcher *b, req **pp)
{
    req *r = *pp;
    *pp = r->next;
    if (b->tail == &r->next)
        b->tail = pp;
    r->next = NULL;
    b->n_pending--;
    return r;
}

/* Run one step with the pending requests; called and returns with mu held,
 * with no step running. */
static void lead(batcher *b, bool late)
{
    b->busy = true;
    /* The attention scratch is the first session's: the largest context
     * goes first. The rest follow in the order they came. */
    req **first = &b->head;
    for (req **pp = &b->head; *pp; pp = &(*pp)->next)
        if (eng_session_n_ctx((*pp)->s) > eng_session_n_ctx((*first)->s))
            first = pp;
    req *taken[BATCH_MAX];
    taken[0] = unlink_req(b, first);
    int cap = eng_session_n_batch(taken[0]->s);
    if (cap > BATCH_MAX)
        cap = BATCH_MAX;
    int n = 1;
    while (n < cap && b->head)
        taken[n++] = unlink_req(b, &b->head);
    pthread_mutex_unlock(&b->mu);

    eng_session *ss[BATCH_MAX];
    int32_t toks[BATCH_MAX];
    for (int i = 0; i < n; i++) {
        ss[i] = taken[i]->s;
        toks[i] = taken[i]->token;
    }
    /* On failure each session decodes alone, on its own thread, so that
     * the error (and its message) is that session's own. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const dx_status st = eng_batch_decode(ss, toks, n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long half_us = (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000) / 2;

    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < n; i++) {
        taken[i]->state = st ? REQ_ALONE : REQ_DONE;
        taken[i]->shared = !st && n > 1;
    }
    if (!st) {
        b->st.steps++;
        b->st.tokens += (uint64_t)n;
        if (n > 1) {
            b->st.shared_steps++;
            b->st.shared_tokens += (uint64_t)n;
        }
        if (n > b->st.max_batch)
            b->st.max_batch = n;
        b->st.waited_out += late;
    }
    b->gather_us = half_us < BATCH_GATHER_MIN_US   ? BATCH_GATHER_MIN_US
                   : half_us > BATCH_GATHER_MAX_US ? BATCH_GATHER_MAX_US
                                                   : half_us;
    b->busy = false;
    pthread_cond_broadcast(&b->done);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The step is run by the thread whose submission completes it (every joined
 * session has submitted): that thread is running already, so a full step
 * costs no extra wake-up. Earlier submitters sleep until the step is done,
 * or until gather_us after their submission or after the step that was
 * running then (the others were in it, and need the time to come back),
 * when one of them runs the step with whoever is there. */
dx_status batch_decode(batcher *b, eng_session *s, int32_t token, const float **logits,
                       bool *shared)
{
    req me = {.s = s, .token = token, .state = REQ_WAITING};
    pthread_mutex_lock(&b->mu);
    *b->tail = &me;
    b->tail = &me.next;
    b->n_pending++;
    struct timespec dl = deadline_us(b->gather_us);
    bool late = false; /* waited out the gather time */
    while (me.state == REQ_WAITING) {
        if (!b->busy && (b->n_pending >= b->joined || late)) {
            lead(b, late && b->n_pending < b->joined);
            continue;
        }
        if (b->busy) {
            pthread_cond_wait(&b->done, &b->mu);
            dl = deadline_us(b->gather_us);
        } else if (pthread_cond_timedwait(&b->done, &b->mu, &dl) == ETIMEDOUT) {
            late = true;
        } else {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            late = !before(&now, &dl);
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (shared)
        *shared = me.shared;
    if (me.state == REQ_ALONE)
        return eng_session_decode(s, &token, 1, logits);
    *logits = eng_session_logits(s);
    return DX_OK;
}

void batch_yield(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->n_pending > 0 || b->busy) {
        const uint64_t s0 = b->st.steps;
        struct timespec dl = deadline_us(BATCH_YIELD_US);
        while (b->st.steps == s0 && (b->n_pending > 0 || b->busy))
            if (pthread_cond_timedwait(&b->done, &b->mu, &dl) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&b->mu);
}

batch_stats batcher_stats(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    batch_stats st = b->st;
    pthread_mutex_unlock(&b->mu);
    return st;
}
