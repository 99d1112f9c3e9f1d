#include "council/fanout.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/str.h"
#include "council/remote.h"

#define WATCH_MAX_MS 50.0 /* how often the watcher looks at the cancel flag */

typedef struct fanout_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    member_event_fn on_event;
    void *user;
    const char *question;
    const char *system_prompt; /* override, or NULL */
    const council_turn *history;
    size_t n_history;
    double start_ms;
    size_t n_final;
} fanout_state;

struct member_ctx {
    fanout_state *f;
    size_t index;
    const member_config *mc;
    member_result res; /* guarded by f->mu */
    dx_buf text;       /* guarded by f->mu; res.text points into it */
    atomic_bool stop;  /* final, timed out or cancelled: readable without the lock */
    bool final;
    double deadline_ms;
    /* a member on its own thread */
    member_open_fn open;
    void *open_user;
    pthread_t thread;
    bool has_thread;
};

double council_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *member_status_str(member_status st)
{
    switch (st) {
    case MEMBER_QUEUED:
        return "queued";
    case MEMBER_RUNNING:
        return "running";
    case MEMBER_DONE:
        return "done";
    case MEMBER_FAILED:
        return "failed";
    case MEMBER_TIMEOUT:
        return "timeout";
    case MEMBER_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

bool member_status_final(member_status st)
{
    return st == MEMBER_DONE || st == MEMBER_FAILED || st == MEMBER_TIMEOUT ||
           st == MEMBER_CANCELLED;
}

/* Call with f->mu held. */
static void emit(member_ctx *c, member_event_kind kind, const char *text, size_t len,
                 double wait_ms)
{
    if (!c->f->on_event)
        return;
    c->res.text = c->text.data ? c->text.data : (char *)"";
    c->res.text_len = c->text.len;
    member_event ev = {.kind = kind,
                       .index = c->index,
                       .result = &c->res,
                       .text = text,
                       .len = len,
                       .wait_ms = wait_ms};
    c->f->on_event(&ev, c->f->user);
}

const member_config *member_ctx_config(const member_ctx *ctx)
{
    return ctx->mc;
}
const char *member_ctx_question(const member_ctx *ctx)
{
    return ctx->f->question;
}
double member_ctx_deadline_ms(const member_ctx *ctx)
{
    return ctx->deadline_ms;
}

const council_turn *member_ctx_history(const member_ctx *ctx, size_t *n)
{
    *n = ctx->f->n_history;
    return ctx->f->n_history ? ctx->f->history : NULL;
}

void member_ctx_context(member_ctx *ctx, int used, int dropped)
{
    pthread_mutex_lock(&ctx->f->mu);
    ctx->res.context_turns = used;
    ctx->res.context_dropped = dropped;
    pthread_mutex_unlock(&ctx->f->mu);
}

size_t council_turns_trim(size_t n, bool (*fits)(void *user, size_t first), void *user)
{
    /* the least first in [0, n] with fits(first); n when even that fails */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fits(user, mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

const char *member_ctx_system_prompt(const member_ctx *ctx)
{
    const char *sp = ctx->f->system_prompt ? ctx->f->system_prompt : ctx->mc->system_prompt;
    return sp && *sp ? sp : NULL;
}

bool member_ctx_should_stop(const member_ctx *ctx)
{
    return atomic_load(&ctx->stop);
}

void member_ctx_running(member_ctx *ctx)
{
    pthread_mutex_lock(&ctx->f->mu);
    if (!ctx->final && ctx->res.status == MEMBER_QUEUED) {
        ctx->res.status = MEMBER_RUNNING;
        emit(ctx, MEMBER_EV_STATUS, NULL, 0, 0);
    }
    pthread_mutex_unlock(&ctx->f->mu);
}

dx_status member_ctx_text(member_ctx *ctx, const char *s, size_t n)
{
    dx_status st = DX_OK;
    pthread_mutex_lock(&ctx->f->mu);
    if (ctx->final) {
        st = DX_ECANCELLED;
        goto out;
    }
    if (ctx->res.status == MEMBER_QUEUED) {
        ctx->res.status = MEMBER_RUNNING;
        emit(ctx, MEMBER_EV_STATUS, NULL, 0, 0);
    }
    size_t room = DX_MAX_ANSWER_BYTES - ctx->text.len;
    size_t take = n;
    if (take > room) {
        take = room;
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80)
            take--; /* do not split a UTF-8 sequence */
        ctx->res.truncated = true;
        st = DX_ELIMIT;
    }
    if (take && dx_buf_append(&ctx->text, s, take)) {
        ctx->res.truncated = true;
        st = DX_ELIMIT;
        goto out;
    }
    if (take) {
        if (ctx->res.ttft_ms < 0)
            ctx->res.ttft_ms = council_now_ms() - ctx->f->start_ms;
        emit(ctx, MEMBER_EV_TEXT, ctx->text.data + ctx->text.len - take, take, 0);
    }
out:
    pthread_mutex_unlock(&ctx->f->mu);
    return st;
}

void member_ctx_usage(member_ctx *ctx, int prompt, int completion, bool estimated)
{
    pthread_mutex_lock(&ctx->f->mu);
    if (!ctx->final) {
        ctx->res.prompt_tokens = prompt < 0 ? -1 : prompt;
        ctx->res.completion_tokens = completion < 0 ? 0 : completion;
        ctx->res.tokens_estimated = estimated;
        ctx->res.cost_usd = member_cost_usd(ctx->mc, prompt, completion);
    }
    pthread_mutex_unlock(&ctx->f->mu);
}

void member_ctx_attempt(member_ctx *ctx, int attempt, int http_status)
{
    pthread_mutex_lock(&ctx->f->mu);
    if (!ctx->final) {
        ctx->res.attempts = attempt;
        ctx->res.http_status = http_status;
    }
    pthread_mutex_unlock(&ctx->f->mu);
}

void member_ctx_finish_reason(member_ctx *ctx, const char *reason)
{
    pthread_mutex_lock(&ctx->f->mu);
    if (!ctx->final)
        snprintf(ctx->res.finish_reason, sizeof ctx->res.finish_reason, "%s", reason);
    pthread_mutex_unlock(&ctx->f->mu);
}

void member_ctx_retry(member_ctx *ctx, const char *why, double wait_ms)
{
    pthread_mutex_lock(&ctx->f->mu);
    if (!ctx->final) {
        snprintf(ctx->res.error, sizeof ctx->res.error, "%s", why);
        emit(ctx, MEMBER_EV_RETRY, why, strlen(why), wait_ms);
    }
    pthread_mutex_unlock(&ctx->f->mu);
}

/* Call with f->mu held. */
static void finish_locked(member_ctx *ctx, member_status st, const char *msg)
{
    if (ctx->final)
        return;
    member_result *r = &ctx->res;
    ctx->final = true;
    atomic_store(&ctx->stop, true);
    r->status = st;
    snprintf(r->error, sizeof r->error, "%s", st == MEMBER_DONE ? "" : msg ? msg : "");
    r->latency_ms = council_now_ms() - ctx->f->start_ms;
    double span = r->ttft_ms >= 0 ? r->latency_ms - r->ttft_ms : 0;
    if (r->completion_tokens > 1 && span >= 1)
        r->tokens_per_s = (r->completion_tokens - 1) * 1000.0 / span;
    else if (r->completion_tokens > 0 && r->latency_ms > 0)
        r->tokens_per_s = r->completion_tokens * 1000.0 / r->latency_ms;
    ctx->f->n_final++;
    emit(ctx, MEMBER_EV_STATUS, NULL, 0, 0);
    pthread_cond_broadcast(&ctx->f->cv);
}

void member_ctx_finish(member_ctx *ctx, member_status st, const char *fmt, ...)
{
    char msg[sizeof ctx->res.error] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    if (!member_status_final(st)) {
        st = MEMBER_FAILED;
        snprintf(msg, sizeof msg, "member finished with a status that is not final");
    }
    pthread_mutex_lock(&ctx->f->mu);
    finish_locked(ctx, st, msg);
    pthread_mutex_unlock(&ctx->f->mu);
}

/* ---- threads ---- */

typedef struct remote_job {
    member_ctx **ctxs;
    size_t n;
} remote_job;

static void *remote_thread(void *arg)
{
    remote_job *j = arg;
    remote_run_all(j->ctxs, j->n);
    return NULL;
}

static void *local_thread(void *arg)
{
    member_ctx *ctx = arg;
    const member_ops *ops = NULL;
    void *impl = NULL;
    dx_status st = ctx->open(ctx->mc, ctx->open_user, &ops, &impl);
    if (st || !ops || !ops->run) {
        member_ctx_finish(ctx, MEMBER_FAILED, "%s",
                          st ? dx_errmsg() : "local member opener returned no implementation");
        if (!st && ops && ops->free)
            ops->free(impl);
        return NULL;
    }
    member_ctx_attempt(ctx, 1, 0);
    if (!member_ctx_should_stop(ctx)) {
        member_ctx_running(ctx);
        ops->run(impl, ctx);
    }
    member_ctx_finish(ctx, MEMBER_FAILED, "member ended without a final status");
    if (ops->free)
        ops->free(impl);
    return NULL;
}

/* Local members one after another on one thread (schedule = one_at_a_time):
 * each member's deadline starts when it starts. */
typedef struct local_queue {
    member_ctx **ctxs;
    size_t n;
} local_queue;

static void *local_queue_thread(void *arg)
{
    local_queue *q = arg;
    for (size_t i = 0; i < q->n; i++) {
        member_ctx *c = q->ctxs[i];
        pthread_mutex_lock(&c->f->mu);
        bool skip = c->final;
        c->deadline_ms = council_now_ms() + c->mc->timeout_s * 1000.0;
        pthread_mutex_unlock(&c->f->mu);
        if (!skip)
            local_thread(c);
    }
    return NULL;
}

static void ctx_init(member_ctx *c, fanout_state *f, size_t i, const member_config *mc)
{
    c->f = f;
    c->index = i;
    c->mc = mc;
    c->text = dx_buf_make(DX_MAX_ANSWER_BYTES);
    atomic_init(&c->stop, false);
    c->deadline_ms = f->start_ms + mc->timeout_s * 1000.0;
    c->res.name = mc->name;
    c->res.model = mc->model;
    c->res.kind = mc->kind;
    c->res.premium = mc->premium;
    c->res.provider = mc->provider;
    c->res.cost_usd = member_cost_usd(mc, -1, 0);
    c->res.status = MEMBER_QUEUED;
    c->res.ttft_ms = -1;
    c->res.prompt_tokens = -1;
}

static void to_timespec(double ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)((ms - (double)ts->tv_sec * 1000) * 1e6);
    if (ts->tv_nsec >= 1000000000L)
        ts->tv_sec++, ts->tv_nsec -= 1000000000L;
    if (ts->tv_nsec < 0)
        ts->tv_nsec = 0;
}

/* Runs on the calling thread until every member is final. */
static void watch(fanout_state *f, member_ctx *ctxs, size_t n, const atomic_int *cancel)
{
    pthread_mutex_lock(&f->mu);
    while (f->n_final < n) {
        double now = council_now_ms(), next = now + WATCH_MAX_MS;
        bool cancelled = cancel && atomic_load(cancel);
        for (size_t i = 0; i < n; i++) {
            member_ctx *c = &ctxs[i];
            if (c->final)
                continue;
            if (cancelled) {
                finish_locked(c, MEMBER_CANCELLED, "cancelled");
            } else if (now >= c->deadline_ms) {
                char msg[96];
                snprintf(msg, sizeof msg, "no complete answer within timeout_s = %g",
                         c->mc->timeout_s);
                finish_locked(c, MEMBER_TIMEOUT, msg);
            } else if (c->deadline_ms < next) {
                next = c->deadline_ms;
            }
        }
        if (f->n_final >= n)
            break;
        struct timespec ts;
        to_timespec(next, &ts);
        int rc = pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        (void)rc;
    }
    pthread_mutex_unlock(&f->mu);
}

/* The question and its earlier turns must be within limits; which members to ask: all of them,
 * or opts->only. */
static dx_status pick_members(const council_config *cfg, const char *question,
                              const fanout_opts *opts, size_t *first, size_t *n)
{
    if (!question || !*question)
        return dx_fail(DX_EARG, "the question is empty");
    if (strlen(question) > DX_MAX_PROMPT_BYTES)
        return dx_fail(DX_ELIMIT, "the question is longer than %u bytes", DX_MAX_PROMPT_BYTES);
    if (opts->history && opts->n_history > (DX_MAX_CHAT_MESSAGES - 2) / 2)
        return dx_fail(DX_ELIMIT, "a conversation of %zu earlier turns; the limit is %u",
                       opts->n_history, (DX_MAX_CHAT_MESSAGES - 2) / 2);
    for (size_t i = 0; opts->history && i < opts->n_history; i++)
        if (!opts->history[i].question || !opts->history[i].answer)
            return dx_fail(DX_EARG, "earlier turn %zu has no question or answer", i + 1);
    *first = 0;
    *n = cfg->n_members;
    if (*n == 0)
        return dx_fail(DX_EARG, "the council has no members");
    if (opts->only) {
        const member_config *m = council_config_member(cfg, opts->only);
        if (!m)
            return dx_fail(DX_ENOTFOUND, "no member '%s' in %s", opts->only, cfg->source);
        *first = (size_t)(m - cfg->members);
        *n = 1;
    }
    return DX_OK;
}

/* Starts fn(arg) on a thread of its own for the members ctxs[0..n); when it cannot start,
 * they fail. Returns whether it started. */
static bool start_group(pthread_t *tid, void *(*fn)(void *), void *arg, member_ctx **ctxs, size_t n)
{
    int rc = pthread_create(tid, NULL, fn, arg);
    if (rc)
        for (size_t i = 0; i < n; i++)
            member_ctx_finish(ctxs[i], MEMBER_FAILED, "cannot start a thread: %s", strerror(rc));
    return rc == 0;
}

/* Where each member runs: remote ones go to remote_job's list (one thread for all), local ones
 * to a thread each, or to local_queue's list when the council asks them one at a time (each
 * deadline then starts with its member). */
static void dispatch(const council_config *cfg, const fanout_opts *opts, fanout_state *f,
                     member_ctx *ctxs, size_t n, remote_job *remote, local_queue *queue)
{
    for (size_t i = 0; i < n; i++) {
        member_ctx *c = &ctxs[i];
        if (c->mc->kind == MEMBER_REMOTE) {
            remote->ctxs[remote->n++] = c;
        } else if (!opts->open_local) {
            member_ctx_finish(c, MEMBER_FAILED, "no local engine in this build of the council");
        } else if (cfg->one_at_a_time) {
            c->open = opts->open_local;
            c->open_user = opts->local_user;
            queue->ctxs[queue->n++] = c;
            pthread_mutex_lock(&f->mu);
            c->deadline_ms = f->start_ms + 1e12;
            pthread_mutex_unlock(&f->mu);
        } else {
            c->open = opts->open_local;
            c->open_user = opts->local_user;
            int rc = pthread_create(&c->thread, NULL, local_thread, c);
            if (rc)
                member_ctx_finish(c, MEMBER_FAILED, "cannot start a thread: %s", strerror(rc));
            c->has_thread = rc == 0;
        }
    }
}

/* Each member's result, its text taken from its context. */
static dx_status collect(member_ctx *ctxs, size_t n, member_result *res)
{
    for (size_t i = 0; i < n; i++) {
        member_ctx *c = &ctxs[i];
        res[i] = c->res;
        res[i].text_len = c->text.len;
        res[i].text = c->text.data ? dx_buf_take(&c->text) : strdup("");
        if (!res[i].text)
            return dx_fail(DX_ENOMEM, "out of memory");
    }
    return DX_OK;
}

dx_status fanout_run(const council_config *cfg, const char *question, const fanout_opts *opts,
                     member_result **out, size_t *n_out)
{
    static const fanout_opts none = {0};
    *out = NULL;
    *n_out = 0;
    if (!opts)
        opts = &none;
    size_t n = 0, first = 0;
    dx_status st = pick_members(cfg, question, opts, &first, &n);
    if (st)
        return st;

    fanout_state f = {.on_event = opts->on_event,
                      .user = opts->user,
                      .question = question,
                      .system_prompt = opts->system_prompt,
                      .history = opts->history,
                      .n_history = opts->history ? opts->n_history : 0};
    member_ctx *ctxs = calloc(n, sizeof *ctxs);
    remote_job remote = {calloc(n, sizeof *remote.ctxs), 0};
    local_queue queue = {calloc(n, sizeof *queue.ctxs), 0};
    pthread_t queue_tid, remote_tid;
    bool queue_started = false, remote_started = false;
    member_result *res = calloc(n, sizeof *res);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!ctxs || !remote.ctxs || !res || !queue.ctxs) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    f.start_ms = council_now_ms();
    pthread_mutex_lock(&f.mu);
    for (size_t i = 0; i < n; i++) {
        ctx_init(&ctxs[i], &f, first + i, &cfg->members[first + i]);
        emit(&ctxs[i], MEMBER_EV_STATUS, NULL, 0, 0);
    }
    pthread_mutex_unlock(&f.mu);

    dispatch(cfg, opts, &f, ctxs, n, &remote, &queue);
    if (queue.n)
        queue_started = start_group(&queue_tid, local_queue_thread, &queue, queue.ctxs, queue.n);
    if (remote.n)
        remote_started = start_group(&remote_tid, remote_thread, &remote, remote.ctxs, remote.n);

    watch(&f, ctxs, n, opts->cancel);

    /* every member is final and told to stop; the threads end promptly */
    if (remote_started)
        pthread_join(remote_tid, NULL);
    if (queue_started)
        pthread_join(queue_tid, NULL);
    for (size_t i = 0; i < n; i++)
        if (ctxs[i].has_thread)
            pthread_join(ctxs[i].thread, NULL);

    if ((st = collect(ctxs, n, res)))
        goto out;
    *out = res;
    *n_out = n;
    res = NULL;
out:
    if (res)
        fanout_results_free(res, n);
    if (ctxs)
        for (size_t i = 0; i < n; i++)
            dx_buf_free(&ctxs[i].text);
    free(ctxs);
    free(remote.ctxs);
    free(queue.ctxs);
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mu);
    return st;
}

void fanout_results_free(member_result *res, size_t n)
{
    if (!res)
        return;
    for (size_t i = 0; i < n; i++)
        free(res[i].text);
    free(res);
}
