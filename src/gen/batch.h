/*
 * batch — sessions of one model decoding together.
 *
 * Decoding one token reads every weight of the model once; several sessions
 * that each need their next token's logits can share that read with one
 * eng_batch_decode. A batcher collects those requests: a thread that wants
 * logits submits (session, token); the one whose submission completes the
 * set of sessions known to be decoding runs one forward pass for all of them
 * and wakes the others with their logits. If some session is slow to submit
 * (a slow callback), the others go without it after a short wait (at most
 * BATCH_GATHER_MAX_US).
 * Everything else (sampling, stop strings, callbacks, cancellation) stays on
 * each session's own thread.
 *
 *     batcher *b = batcher_new();          // one per model, shared by threads
 *     batch_join(b);                       // this session now decodes token by token
 *     while (...) {
 *         bool shared;
 *         batch_decode(b, s, id, &logits, &shared);
 *         id = sample(logits);
 *     }
 *     batch_leave(b);                      // finished, failed or cancelled
 *     batcher_free(b);
 *
 * A session alone never waits: with one joined session a step is just its
 * own decode. A batched step's logits are bit for bit a solo decode's (see
 * eng_batch_decode). A thread processing a long prompt calls batch_yield
 * between chunks so that the decoding sessions get a step in between.
 */
#ifndef DX_GEN_BATCH_H
#define DX_GEN_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/model.h"

/* How long a submitted session waits, once no step is running, for the
 * other decoding sessions to submit too (they may be sampling, in a callback
 * or not scheduled yet) before a step runs without them: half the last
 * step's time, within these bounds. Waiting costs the sessions that came;
 * running without a partner costs it a step of its own later. */
#define BATCH_GATHER_MIN_US 500
#define BATCH_GATHER_MAX_US 5000
/* Most sessions in one step (also bounded by the first session's n_batch). */
#define BATCH_MAX 32

typedef struct batcher batcher;

typedef struct batch_stats {
    uint64_t steps;         /* forward passes run */
    uint64_t tokens;        /* tokens decoded in them */
    uint64_t shared_steps;  /* steps with more than one session */
    uint64_t shared_tokens; /* tokens decoded in those */
    int max_batch;          /* most sessions in one step */
    uint64_t waited_out;    /* steps run without some joined session, after the gather wait */
} batch_stats;

batcher *batcher_new(void);    /* NULL on out of memory */
void batcher_free(batcher *b); /* no session may still be joined; NULL is a no-op */

/* A session enters (join) or leaves (leave) its token-by-token phase. Leaders
 * wait for joined sessions' submissions, so call leave as soon as the session
 * will submit no more. Thread-safe. */
void batch_join(batcher *b);
void batch_leave(batcher *b);

/* Decode token after session s's cached ones, possibly in one step with
 * other sessions; *logits as eng_session_decode's. *shared (may be NULL) tells
 * whether other sessions were in the step. The caller must have joined and
 * owns s; errors are eng_session_decode's for s alone. Thread-safe. */
dx_status batch_decode(batcher *b, eng_session *s, int32_t token, const float **logits,
                       bool *shared);

/* Called between chunks of a prompt: if sessions are waiting for a step,
 * wait (briefly) until one has run, so a long prompt cannot starve them. */
void batch_yield(batcher *b);

batch_stats batcher_stats(batcher *b);

#endif
