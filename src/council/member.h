/*
 * member — one voice of the council: its result, its live events, and the
 * interface an implementation (local engine, remote endpoint) plugs into.
 *
 * The fan-out (fanout.h) owns a member_ctx per member. An implementation
 * sees only the context: it reads the question and the member's config,
 * reports text as it arrives, and ends with one final status:
 *
 *     static void my_run(void *impl, member_ctx *ctx)
 *     {
 *         member_ctx_running(ctx);
 *         while (!member_ctx_should_stop(ctx) && next_token(impl, &piece, &n))
 *             if (member_ctx_text(ctx, piece, n)) break;   // answer limit
 *         member_ctx_usage(ctx, prompt_tokens, generated, false);
 *         member_ctx_finish(ctx, MEMBER_DONE, NULL);
 *     }
 *     static const member_ops my_ops = {"local", my_run, my_free};
 *
 * A local member is exactly this: the fan-out opens it through a
 * member_open_fn, runs it on its own thread, and enforces its deadline by
 * making member_ctx_should_stop true (the member must check it between
 * tokens). Remote members are driven together by remote.c in one libcurl
 * multi loop but report through the same context calls.
 *
 * All member_ctx_* calls are thread-safe; the first final status wins and
 * later ones are ignored, so a member that is timed out by the fan-out can
 * still call member_ctx_finish harmlessly.
 */
#ifndef DX_COUNCIL_MEMBER_H
#define DX_COUNCIL_MEMBER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "council/config.h"

/* One earlier turn of a thread: the question then and the council's answer
 * to it. A follow-up is asked with its thread's earlier turns, oldest first,
 * as a conversation. */
typedef struct council_turn {
    const char *question;
    const char *answer;
} council_turn;

typedef enum member_status {
    MEMBER_QUEUED,    /* not started */
    MEMBER_RUNNING,   /* asked, answer under way */
    MEMBER_DONE,      /* complete answer */
    MEMBER_FAILED,    /* error: see result.error */
    MEMBER_TIMEOUT,   /* no complete answer by the member's deadline */
    MEMBER_CANCELLED, /* stopped on request */
} member_status;

/* What one member did. Strings name and model point into the config. */
typedef struct member_result {
    const char *name;
    const char *model;
    member_kind kind;
    bool premium;         /* a paid provider: the config's tier */
    const char *provider; /* remote: the config's provider, or NULL */
    member_status status;
    char error[320];   /* why it failed / timed out / was cancelled; "" when done */
    char *text;        /* the answer so far, NUL-terminated, owned; never NULL after fanout_run */
    size_t text_len;   /* <= DX_MAX_ANSWER_BYTES */
    bool truncated;    /* the answer hit DX_MAX_ANSWER_BYTES */
    double ttft_ms;    /* start of the council to first text; -1 if none */
    double latency_ms; /* start of the council to the final status */
    int prompt_tokens; /* -1 when unknown */
    int completion_tokens;
    bool tokens_estimated;  /* completion_tokens counted from stream pieces, not reported */
    double tokens_per_s;    /* (completion_tokens - 1) / (latency - ttft); 0 if unknown */
    int attempts;           /* requests made (remote); 1 for a local run */
    int http_status;        /* last HTTP status (remote), 0 if none */
    char finish_reason[24]; /* "stop", "length", ... when reported */
    double cost_usd;        /* tokens x the member's prices (member_cost_usd); -1 unknown */
    int context_turns;      /* earlier turns of the thread it was given */
    int context_dropped;    /* earlier turns left out (the oldest) to fit its context */
} member_result;

const char *member_status_str(member_status st); /* "queued", "running", ... */
bool member_status_final(member_status st);      /* done, failed, timeout, cancelled */

typedef enum member_event_kind {
    MEMBER_EV_STATUS, /* result->status changed */
    MEMBER_EV_TEXT,   /* text arrived: text/len is the new piece */
    MEMBER_EV_RETRY,  /* a try failed, another follows: text is the reason, wait_ms the pause */
} member_event_kind;

typedef struct member_event {
    member_event_kind kind;
    size_t index;                /* position of the member in the config */
    const member_result *result; /* the member's state now; valid during the call only */
    const char *text;
    size_t len;
    double wait_ms;
} member_event;

/* Called by the fan-out for every event, one at a time (never concurrently),
 * from whichever thread caused it. Keep it short; do not call back into the
 * fan-out from it. */
typedef void (*member_event_fn)(const member_event *ev, void *user);

/* ---- the context an implementation reports through ---- */

typedef struct member_ctx member_ctx;

const member_config *member_ctx_config(const member_ctx *ctx);
const char *member_ctx_question(const member_ctx *ctx);
/* The thread's earlier turns, oldest first (*n of them; NULL, 0 for a first
 * question). They stay valid until the fan-out returns. */
const council_turn *member_ctx_history(const member_ctx *ctx, size_t *n);
/* Says which earlier turns the member used: the last `used` of them, the
 * `dropped` oldest ones left out to fit its context window. */
void member_ctx_context(member_ctx *ctx, int used, int dropped);
/* How many of the oldest of n turns to leave out so that fits(user, first)
 * holds for the turns from `first` on: the least such number (n when none
 * fits, even with no turns). fits must be monotone (leaving out more never
 * makes it not fit); it is called O(log n) times. */
size_t council_turns_trim(size_t n, bool (*fits)(void *user, size_t first), void *user);

/* The system prompt to use, or NULL for none. */
const char *member_ctx_system_prompt(const member_ctx *ctx);
/* True once the member was cancelled, timed out or finished: stop work. */
bool member_ctx_should_stop(const member_ctx *ctx);
/* The member's deadline on the council_now_ms clock. */
double member_ctx_deadline_ms(const member_ctx *ctx);

void member_ctx_running(member_ctx *ctx);
/* Append answer text. DX_ELIMIT once the answer is full (it is kept,
 * marked truncated), DX_ECANCELLED when the member should stop. */
dx_status member_ctx_text(member_ctx *ctx, const char *s, size_t n);
/* Token counts; prompt < 0 means unknown. */
void member_ctx_usage(member_ctx *ctx, int prompt, int completion, bool estimated);
void member_ctx_attempt(member_ctx *ctx, int attempt, int http_status);
void member_ctx_finish_reason(member_ctx *ctx, const char *reason);
/* Announce a retry: why the last try failed and how long until the next. */
void member_ctx_retry(member_ctx *ctx, const char *why, double wait_ms);
/* Final status with a printf-style reason (NULL for none). Text received
 * so far is kept whatever the status. The first final status wins. */
void member_ctx_finish(member_ctx *ctx, member_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- implementations run on their own thread ---- */

typedef struct member_ops {
    const char *kind;
    /* Answer member_ctx_question; blocks. Must call member_ctx_finish (the
     * fan-out marks it failed otherwise) and return soon after
     * member_ctx_should_stop turns true. */
    void (*run)(void *impl, member_ctx *ctx);
    void (*free)(void *impl); /* NULL impl must be accepted */
} member_ops;

/* Opens the implementation for one member (e.g. loads a local model). On
 * failure return a status with dx_fail: the member is reported failed with
 * that message and the others go on. Called on the fan-out's thread. */
typedef dx_status (*member_open_fn)(const member_config *mc, void *user, const member_ops **ops,
                                    void **impl);

/* Monotonic clock in milliseconds, the one every deadline is on. */
double council_now_ms(void);

#endif
