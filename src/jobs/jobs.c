/* The question runtime: each question on a worker thread, its live state in
 * memory, its events in a followable stream, its progress and end in the
 * store. */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ask/ask.h"
#include "core/log.h"
#include "embed/embed.h"
#include "jobs/peers.h"

#define SAVE_EVERY_MS 1000.0

typedef struct qrun qrun;

struct jobs {
    const council_config *cfg;
    local_registry *reg;
    embed_model *embedder; /* the council's sentence encoder, or NULL (lexical matching) */
    db *db;
    int max_running;
    atomic_int stopping;
    bool shared;        /* the store is shared with other instances (PostgreSQL) */
    long long lease_ms; /* how long an instance may go unheard (DRUX_LEASE_MS) */
    peers *peers;       /* the other instances; NULL once stopping (guarded by mu) */

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cond; /* a slot freed, a worker ended, a queued question deleted */
    int running;         /* jobs holding a slot */
    int workers;         /* threads alive (questions, callers' threads) */
    int questions;       /* questions queued or running, deleted ones not counted */
    int completions;     /* callers' jobs holding or waiting for a slot */
    qrun *runs;          /* questions queued or running, or followed */
};

/* One member's live state. */
typedef struct mstate {
    member_status status;
    char error[320];
    double latency_ms, ttft_ms, saved_ms;
    int tokens;
    int context_turns, context_dropped; /* earlier turns given, left out */
    dx_buf text;
} mstate;

struct qrun {
    qrun *next;
    jobs *j;
    char id[DX_HTTP_MAX_ID + 1];
    char *question;
    char thread[DX_HTTP_MAX_ID + 1]; /* the thread's first question; "" until admitted */
    int turn;                        /* its place in the thread, from 1 */
    council_turn *history;           /* the earlier turns members are given, oldest first */
    size_t n_history;
    json_t *history_src; /* owns the history's strings */
    json_t *asked;       /* the member names asked, or NULL for all */
    council_config cfg;  /* the members asked: copies of the council's entries */
    pthread_mutex_t mu;  /* guards the state below and the order of events */
    question_status status;
    const char *phase; /* "asking" ... while running, NULL before */
    char error[512];
    char created_at[32];
    long long owner;            /* the user who asked it (store/users.h); 0: anonymous */
    char share[64];             /* an owned question's share token */
    char *keys[DX_MAX_MEMBERS]; /* the asker's own provider keys, per member (cfg's api_key) */
    mstate m[DX_MAX_MEMBERS];
    char model_names[DX_MAX_MEMBERS][128]; /* each member's model as a name, never a path */
    jobs_stream *ev;
    atomic_int cancel;
    bool deleted;   /* set with j->mu and qr->mu held */
    bool slotted;   /* holds a running slot (set with j->mu held; at admission when one was free) */
    bool uncounted; /* deleted while queued: already off j->questions */
    bool deltas_dropped;
    bool given_turns; /* history the caller gave, not its thread's (stored as its context) */
    long long ev_seq; /* events written to the store (a shared one) */
    dx_buf answer;    /* the answer as it is written, until the result replaces it */
    bool ended;       /* final event written: followers need not follow */
    json_t *final;    /* the stored question with its result, once done or failed */
    double t_created, t_phase[4];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- model names, never paths ---- */

void jobs_model_name(const char *model, char *out, size_t cap)
{
    const char *m = model ? model : "";
    bool path = m[0] == '/' || m[0] == '~' || m[0] == '.' || strstr(m, ".gguf");
    const char *base = path && strrchr(m, '/') ? strrchr(m, '/') + 1 : m;
    size_t len = strlen(base);
    if (path && len > 5 && !strcmp(base + len - 5, ".gguf"))
        len -= 5;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, base, len);
    out[len] = '\0';
}

/* msg with every absolute path ("/a/b/m.gguf", "~/x") cut to its last part. */
void jobs_scrub_paths(const char *msg, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; msg[i] && o + 1 < cap;) {
        bool starts = (msg[i] == '/' || (msg[i] == '~' && msg[i + 1] == '/')) &&
                      (i == 0 || strchr(" '\"(=", msg[i - 1]));
        if (!starts) {
            out[o++] = msg[i++];
            continue;
        }
        size_t end = i, last = i;
        while (msg[end] && !strchr(" '\"),", msg[end]) &&
               !(msg[end] == ':' && (msg[end + 1] == ' ' || !msg[end + 1]))) {
            if (msg[end] == '/')
                last = end + 1;
            end++;
        }
        for (size_t k = last; k < end && o + 1 < cap; k++)
            out[o++] = msg[k];
        i = end;
    }
    out[o] = '\0';
}

/* Every "model" string in j (a stored question, an analysis) as a name and
 * every "error" without paths: stores written before hold file paths. */
static void scrub_models(json_t *j, int depth)
{
    if (depth > 16)
        return;
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            if (!strcmp(k, "model") && json_is_string(v)) {
                char name[256];
                jobs_model_name(json_string_value(v), name, sizeof name);
                if (strcmp(name, json_string_value(v)))
                    json_string_set(v, name);
            } else if (!strcmp(k, "error") && json_is_string(v)) {
                char msg[1024];
                jobs_scrub_paths(json_string_value(v), msg, sizeof msg);
                if (strcmp(msg, json_string_value(v)))
                    json_string_set(v, msg);
            } else {
                scrub_models(v, depth + 1);
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) scrub_models(v, depth + 1);
    }
}

/* ---- live state ---- */

/* One member's state as the store and the API show it; borrowed strings. */
static db_member member_row(qrun *qr, size_t i)
{
    mstate *m = &qr->m[i];
    return (db_member){.name = qr->cfg.members[i].name,
                       .model = qr->model_names[i],
                       .status = member_status_str(m->status),
                       .error = m->error[0] ? m->error : NULL,
                       .text = m->text.data ? m->text.data : "",
                       .text_len = m->text.len,
                       .latency_ms = (long long)m->latency_ms,
                       .tokens = m->tokens,
                       .ttft_ms = (long long)(m->ttft_ms > 0 ? m->ttft_ms : 0),
                       .context_turns = m->context_turns,
                       .context_dropped = m->context_dropped};
}

static json_t *member_json(qrun *qr, size_t i, bool with_text)
{
    db_member r = member_row(qr, i);
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I}", "name", r.name, "model", r.model,
                          "status", r.status, "error", r.error ? json_string(r.error) : json_null(),
                          "latency_ms", (json_int_t)r.latency_ms, "tokens", (json_int_t)r.tokens,
                          "ttft_ms", (json_int_t)r.ttft_ms);
    if (o)
        json_object_set_new(o, "tier", json_string(member_tier_str(&qr->cfg.members[i])));
    if (o && with_text)
        json_object_set_new(o, "text", json_stringn(r.text, r.text_len));
    if (o) {
        json_object_set_new(o, "context_turns", json_integer(r.context_turns));
        json_object_set_new(o, "context_dropped", json_integer(r.context_dropped));
    }
    return o;
}

/* The stored-question JSON from the live state. Caller holds qr->mu. */
static json_t *qrun_json(qrun *qr, bool with_texts)
{
    if (qr->final)
        return json_deep_copy(qr->final);
    json_t *members = json_array();
    for (size_t i = 0; members && i < qr->cfg.n_members; i++)
        json_array_append_new(members, member_json(qr, i, with_texts));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s?, s:o, s:s, s:n, s:O?, s:o, s:n}", "id", qr->id, "question",
                  qr->question, "status", question_status_str(qr->status), "phase", qr->phase,
                  "error", qr->error[0] ? json_string(qr->error) : json_null(), "created_at",
                  qr->created_at, "finished_at", "asked", qr->asked, "members", members, "result");
    if (o && qr->answer.len)
        json_object_set_new(o, "answer_draft", json_stringn(qr->answer.data, qr->answer.len));
    if (o) {
        json_object_set_new(o, "thread", json_string(qr->thread[0] ? qr->thread : qr->id));
        json_object_set_new(o, "turn", json_integer(qr->turn));
    }
    return o;
}

static void save_member(qrun *qr, size_t i)
{
    if (qr->deleted)
        return;
    db_member r = member_row(qr, i);
    if (db_member_save(qr->j->db, qr->id, (int)i, &r))
        log_warn("store: %s", dx_errmsg());
    qr->m[i].saved_ms = now_ms();
}

/* One event to the question's followers here and, on a shared store, to
 * the store, where the other instances' followers read it. Caller holds
 * qr->mu (the events' order). */
static void emit(qrun *qr, const char *name, json_t *data)
{
    jobs_stream_event(qr->ev, name, data);
    if (!qr->j->shared || qr->deleted)
        return;
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    if ((!data || text) && db_event_post(qr->j->db, qr->id, ++qr->ev_seq, name, text))
        log_warn("store: %s", dx_errmsg());
    free(text);
}

static const char *const phase_names[] = {"asking", "analyzing", "synthesizing", "done"};

static void on_phase(qrun *qr, ask_phase phase)
{
    qr->t_phase[phase] = now_ms();
    qr->phase = phase_names[phase];
    json_t *j = json_pack("{s:s}", "phase", phase_names[phase]);
    if (j)
        emit(qr, "phase", j);
    json_decref(j);
}

/* The "member" event for one member event; text deltas stop when the
 * stream's share for them is used up (followers still get every status and
 * the final result). */
static void member_event_emit(qrun *qr, const member_event *me, const mstate *m)
{
    const member_result *r = me->result;
    json_t *j = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "index", (json_int_t)me->index, "name",
                          r->name, "status", member_status_str(r->status), "tokens",
                          (json_int_t)m->tokens, "latency_ms", (json_int_t)r->latency_ms, "ttft_ms",
                          (json_int_t)(r->ttft_ms > 0 ? r->ttft_ms : 0));
    if (j && m->error[0])
        json_object_set_new(j, "error", json_string(m->error));
    if (j && member_status_final(r->status)) { /* premium or free, and what it cost */
        json_object_set_new(j, "tier", json_string(r->premium ? "premium" : "free"));
        json_object_set_new(j, "cost_usd", r->cost_usd >= 0 ? json_real(r->cost_usd) : json_null());
    }
    if (j && me->kind == MEMBER_EV_TEXT) {
        if (!qr->deltas_dropped &&
            jobs_stream_len(qr->ev) + me->len * 2 + 256 > DX_HTTP_MAX_EVENT_LOG)
            qr->deltas_dropped = true;
        if (!qr->deltas_dropped)
            json_object_set_new(j, "delta", json_stringn(me->text, me->len));
    }
    if (j && (me->kind != MEMBER_EV_TEXT || !qr->deltas_dropped))
        emit(qr, "member", j);
    json_decref(j);
}

/* ask_answer_fn: the answer as it is written, kept and told to followers as
 * "answer" events ({"delta": TEXT}); the deltas stop, like the members', when
 * the stream's share for them is used up. */
static void on_answer(const char *piece, size_t len, void *user)
{
    qrun *qr = user;
    pthread_mutex_lock(&qr->mu);
    dx_buf_append(&qr->answer, piece, len); /* bounded like the answer itself */
    if (!qr->deltas_dropped && jobs_stream_len(qr->ev) + len * 2 + 256 > DX_HTTP_MAX_EVENT_LOG)
        qr->deltas_dropped = true;
    json_t *j = qr->deltas_dropped ? NULL : json_pack("{s:s%}", "delta", piece, len);
    if (j)
        emit(qr, "answer", j);
    json_decref(j);
    pthread_mutex_unlock(&qr->mu);
}

/* ask_event_fn: keep the live state, tell followers, save progress. */
static void on_event(const ask_event *ev, void *user)
{
    qrun *qr = user;
    pthread_mutex_lock(&qr->mu);
    if (!ev->is_member) {
        on_phase(qr, ev->phase);
        pthread_mutex_unlock(&qr->mu);
        return;
    }
    const member_event *me = ev->member;
    const member_result *r = me->result;
    size_t i = me->index;
    if (i >= qr->cfg.n_members) {
        pthread_mutex_unlock(&qr->mu);
        return;
    }
    mstate *m = &qr->m[i];
    bool changed = m->status != r->status;
    m->status = r->status;
    m->latency_ms = r->latency_ms;
    m->ttft_ms = r->ttft_ms;
    m->context_turns = r->context_turns;
    m->context_dropped = r->context_dropped;
    jobs_scrub_paths(r->status == MEMBER_DONE ? "" : r->error, m->error, sizeof m->error);
    if (me->kind == MEMBER_EV_TEXT) {
        dx_buf_append(&m->text, me->text, me->len); /* bounded like the answer itself */
        m->tokens++;
    }
    if (r->completion_tokens > 0)
        m->tokens = r->completion_tokens;
    member_event_emit(qr, me, m);
    if (changed || now_ms() - m->saved_ms > SAVE_EVERY_MS)
        save_member(qr, i);
    pthread_mutex_unlock(&qr->mu);
}

static void qrun_free(qrun *qr)
{
    if (!qr)
        return;
    for (size_t i = 0; i < DX_MAX_MEMBERS; i++) {
        dx_buf_free(&qr->m[i].text);
        if (qr->keys[i]) { /* a key leaves no copy behind */
            explicit_bzero(qr->keys[i], strlen(qr->keys[i]));
            free(qr->keys[i]);
        }
    }
    dx_buf_free(&qr->answer);
    jobs_stream_unref(qr->ev);
    json_decref(qr->asked);
    json_decref(qr->final);
    json_decref(qr->history_src);
    free(qr->history);
    free(qr->question);
    pthread_mutex_destroy(&qr->mu);
    free(qr);
}

/* ---- slots and counters ---- */

/* Waits for a slot among max_running; gives up when stopping or when *cancel
 * (a deleted queued question) is set. Caller holds j->mu. */
static bool slot_wait_locked(jobs *j, const atomic_int *cancel)
{
    while (j->running >= j->max_running && !atomic_load(&j->stopping) &&
           !(cancel && atomic_load(cancel)))
        pthread_cond_wait(&j->cond, &j->mu);
    if (atomic_load(&j->stopping) || (cancel && atomic_load(cancel)))
        return false;
    j->running++;
    return true;
}

/* Questions and completions admitted (running or waiting). Caller holds j->mu. */
static bool full_locked(jobs *j)
{
    return j->questions + j->completions >= j->max_running + (int)DX_HTTP_MAX_QUEUED;
}

dx_status jobs_slot_enter(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    dx_status st = DX_OK;
    if (full_locked(j)) {
        st = dx_fail(DX_EBUSY,
                     "the server is busy: %d jobs are running or waiting; try again shortly",
                     j->questions + j->completions);
    } else {
        j->completions++;
        if (!slot_wait_locked(j, NULL)) {
            j->completions--;
            st = dx_fail(DX_ECANCELLED, "the server is shutting down");
        }
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

/* A slot was given back: on a shared store, the listener claims released
 * questions for it (unless a question admitted here waits for it). Caller
 * holds j->mu. */
static void slot_freed_locked(jobs *j)
{
    pthread_cond_broadcast(&j->cond);
    if (j->shared)
        peers_poke(j->peers);
}

void jobs_slot_leave(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->completions--;
    j->running--; /* together, so no reader sees it counted as queued */
    slot_freed_locked(j);
    pthread_mutex_unlock(&j->mu);
}

void jobs_thread_enter(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->workers++;
    pthread_mutex_unlock(&j->mu);
}

int jobs_thread_spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, fn, arg);
    pthread_attr_destroy(&at);
    return rc;
}

void jobs_thread_leave(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->workers--;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
}

/* Admitted and not running: the waiting threads, and the questions whose
 * threads have not reached the wait yet. Caller holds j->mu. */
static int queued_locked(const jobs *j)
{
    return j->questions + j->completions - j->running;
}

void jobs_health(jobs *j, jobs_counts *out)
{
    pthread_mutex_lock(&j->mu);
    out->running = j->running;
    out->queued = queued_locked(j);
    out->max_running = j->max_running;
    pthread_mutex_unlock(&j->mu);
}

/* Takes a question off the run list (when on it) and the counters; held:
 * it holds a running slot, given back in the same step. */
static void unlink_run(jobs *j, qrun *qr, bool held)
{
    pthread_mutex_lock(&j->mu);
    if (held)
        j->running--;
    for (qrun **p = &j->runs; *p; p = &(*p)->next)
        if (*p == qr) {
            *p = qr->next;
            break;
        }
    if (!qr->uncounted)
        j->questions--;
    j->workers--;
    slot_freed_locked(j);
    pthread_mutex_unlock(&j->mu);
}

/* ---- a question's worker ---- */

static void emit_error(qrun *qr, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (e)
        emit(qr, "error", e);
    json_decref(e);
}

/* The store's "end" event: other instances' followers stop reading. */
static void emit_end(qrun *qr)
{
    if (db_event_post(qr->j->db, qr->id, ++qr->ev_seq, "end", NULL))
        log_warn("store: %s", dx_errmsg());
}

static long long span(double a, double b)
{
    return a > 0 && b > a ? (long long)(b - a) : 0;
}

/* Takes a slot and marks the question running; false when it should not
 * run (stopping, or deleted while it waited). */
static bool worker_begin(qrun *qr)
{
    jobs *j = qr->j;
    pthread_mutex_lock(&j->mu);
    bool go = qr->slotted || (qr->slotted = slot_wait_locked(j, &qr->cancel));
    pthread_mutex_unlock(&j->mu);
    if (!go)
        return false;
    pthread_mutex_lock(&qr->mu);
    qr->status = QUESTION_RUNNING;
    if (!qr->deleted)
        db_question_set_status(j->db, qr->id, QUESTION_RUNNING, NULL);
    pthread_mutex_unlock(&qr->mu);
    return true;
}

/* The question ended with the server stopping: it stays interrupted,
 * re-runnable. Caller holds qr->mu. */
static void worker_interrupted(qrun *qr)
{
    static const char why[] = "the server stopped before this question finished";
    qr->status = QUESTION_INTERRUPTED;
    snprintf(qr->error, sizeof qr->error, "%s", why);
    db_question_set_status(qr->j->db, qr->id, QUESTION_INTERRUPTED, why);
    emit_error(qr, "interrupted", why);
}

/* Stores the end (status, members, analysis, timings) in one transaction and
 * tells followers. Caller holds qr->mu. */
static void worker_store_end(qrun *qr, dx_status st, cns_result *res, double t_start, double t_end)
{
    jobs *j = qr->j;
    json_t *result = NULL, *label = NULL, *cons = NULL, *full = NULL;
    char *result_text = NULL;
    if (!st && (result = cns_to_json(res)))
        scrub_models(result, 0); /* names, not paths, in what is stored */
    if (!st && (!result || !(result_text = json_dumps(result, JSON_COMPACT))))
        st = dx_fail(DX_ENOMEM, "out of memory");
    if (st)
        jobs_scrub_paths(dx_errmsg(), qr->error, sizeof qr->error);
    json_t *an = json_object_get(result, "analysis");
    label = json_object_get(an, "label");
    cons = json_object_get(an, "consensus");
    db_member rows[DX_MAX_MEMBERS];
    for (size_t i = 0; i < qr->cfg.n_members; i++)
        rows[i] = member_row(qr, i);
    char now[32];
    utc_now(now);
    const double *tp = qr->t_phase;
    db_finish f = {
        .id = qr->id,
        .status = st ? QUESTION_FAILED : QUESTION_DONE,
        .error = st ? qr->error : NULL,
        .finished_at = now,
        .members = rows,
        .n_members = qr->cfg.n_members,
        .result = st ? NULL : result_text,
        .label = json_string_value(label),
        .has_consensus = json_is_integer(cons),
        .consensus = (int)json_integer_value(cons),
        .queued_ms = span(qr->t_created, t_start),
        .asking_ms = span(tp[ASK_ASKING], tp[ASK_ANALYZING]),
        .analyzing_ms =
            span(tp[ASK_ANALYZING], tp[ASK_SYNTHESIZING] > 0 ? tp[ASK_SYNTHESIZING] : tp[ASK_DONE]),
        .synthesizing_ms = span(tp[ASK_SYNTHESIZING], tp[ASK_DONE]),
        .total_ms = span(qr->t_created, t_end)};
    qr->status = f.status;
    if (db_question_finish(j->db, &f)) {
        log_error("store: question %s: %s", qr->id, dx_errmsg());
        emit_error(qr, "store", "the result could not be stored");
    } else if (db_question_get(j->db, qr->id, true, &full) == DX_OK) {
        if (st)
            emit_error(qr, "failed", qr->error);
        emit(qr, "result", full);
        qr->final = full; /* from now on readers get this, as from the store */
    }
    free(result_text);
    json_decref(result);
}

static void *worker(void *arg)
{
    qrun *qr = arg;
    jobs *j = qr->j;
    arena mem = arena_make(64 << 10, 256u << 20);
    cns_result *res = NULL;
    dx_status st = DX_OK;
    /* the slot is given back once the question's end is stored (unlink_run),
     * so that no reader sees it still running beside the next one in its slot */
    const bool held = worker_begin(qr);
    double t_start = now_ms();
    if (held) {
        ask_opts o = {.cfg = &qr->cfg,
                      .reg = j->reg,
                      .on_event = on_event,
                      .on_answer = on_answer,
                      .user = qr,
                      .cancel = &qr->cancel,
                      .synthesis = true,
                      .embedder = j->embedder,
                      .history = qr->history,
                      .n_history = qr->n_history};
        st = ask_run(qr->question, &o, &mem, &res);
    }
    double t_end = now_ms();
    pthread_mutex_lock(&qr->mu);
    if (qr->deleted)
        emit_error(qr, "deleted", "the question was deleted");
    else if (!held || atomic_load(&j->stopping))
        worker_interrupted(qr);
    else
        worker_store_end(qr, st, res, t_start, t_end);
    qr->ended = true;
    jobs_stream_close(qr->ev);
    if (j->shared && !qr->deleted) /* followers elsewhere: no more events */
        emit_end(qr);
    pthread_mutex_unlock(&qr->mu);
    arena_free(&mem);
    unlink_run(j, qr, held);
    qrun_free(qr);
    return NULL;
}

/* ---- starting a question ---- */

static void new_id(char id[DX_HTTP_MAX_ID + 1])
{
    static const char abc[] = "abcdefghijkmnpqrstuvwxyz23456789";
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* no entropy source: time and address still make a unique id */
        unsigned long long t = (unsigned long long)(now_ms() * 1000) ^ (uintptr_t)id;
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 37);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        id[i] = abc[rnd[i] % 32];
    id[sizeof rnd] = '\0';
}

static dx_status check_question(const char *question)
{
    size_t qlen = strlen(question), chars = dx_utf8_chars(question, qlen);
    if (!question[strspn(question, " \t\r\n")])
        return dx_fail(DX_EARG, "the question is empty");
    if (chars > DX_MAX_QUESTION_CHARS || qlen > DX_MAX_QUESTION_BYTES)
        return dx_fail(DX_ELIMIT, "the question is %zu characters; the limit is %u", chars,
                       DX_MAX_QUESTION_CHARS);
    return DX_OK;
}

/* The council asked: the whole one, or the members named, in council order.
 * Strings stay the council's. */
static dx_status select_members(qrun *qr, const council_config *all, const char *const *names,
                                size_t n)
{
    qr->cfg = *all;
    memset(&qr->cfg.mem, 0, sizeof qr->cfg.mem);
    if (!names)
        return DX_OK;
    for (size_t i = 0; i < n; i++)
        if (!council_config_member(all, names[i]))
            return dx_fail(DX_EARG,
                           "no council member is called '%.64s' (GET /api/v1/members lists them)",
                           names[i]);
    qr->cfg.n_members = 0;
    for (size_t k = 0; k < all->n_members; k++) {
        bool asked = false;
        for (size_t i = 0; i < n && !asked; i++)
            asked = !strcmp(names[i], all->members[k].name);
        if (asked)
            qr->cfg.members[qr->cfg.n_members++] = all->members[k];
    }
    if (all->synthesizer && !council_config_member(&qr->cfg, all->synthesizer))
        qr->cfg.synthesizer = NULL;
    if (!(qr->asked = json_array()))
        return dx_fail(DX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(qr->asked, json_string(names[i])))
            return dx_fail(DX_ENOMEM, "out of memory");
    return DX_OK;
}

/* A new run in state queued, not yet admitted. */
static dx_status qrun_new(jobs *j, const char *question, const char *const *names, size_t n,
                          qrun **out)
{
    *out = NULL;
    qrun *qr = calloc(1, sizeof *qr);
    if (!qr)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&qr->mu, NULL);
    qr->j = j;
    for (size_t i = 0; i < DX_MAX_MEMBERS; i++)
        qr->m[i].text = dx_buf_make(DX_MAX_ANSWER_BYTES);
    qr->answer = dx_buf_make(DX_MAX_ANSWER_BYTES);
    dx_status st = select_members(qr, j->cfg, names, n);
    if (!st && (!(qr->question = strdup(question)) ||
                !(qr->ev = jobs_stream_new(DX_HTTP_MAX_EVENT_LOG + 2 * DX_MAX_JSON_BYTES))))
        st = dx_fail(DX_ENOMEM, "out of memory");
    if (st) {
        qrun_free(qr);
        return st;
    }
    for (size_t i = 0; i < qr->cfg.n_members; i++)
        jobs_model_name(qr->cfg.members[i].model, qr->model_names[i], sizeof qr->model_names[i]);
    qr->status = QUESTION_QUEUED;
    qr->t_created = now_ms();
    utc_now(qr->created_at);
    *out = qr;
    return DX_OK;
}

/* A slot is free and no question admitted here waits for one. Caller holds
 * j->mu. */
static bool slot_free_locked(const jobs *j)
{
    return j->questions + j->completions < j->max_running;
}

/* Any instance may run it: the store is shared and all it needs is there
 * (the asker's own provider keys are not: they stay in memory). */
static bool portable(const qrun *qr)
{
    if (!qr->j->shared)
        return false;
    for (size_t i = 0; i < DX_MAX_MEMBERS; i++)
        if (qr->keys[i])
            return false;
    return true;
}

/* Counts the question in, under the queue's bound, and gives it its id. A
 * portable question is counted here only when a slot is free now (it takes
 * it at once); else *shared_queue is set and it is not counted: it waits in
 * the store for whichever instance frees a slot first. */
static dx_status admit(jobs *j, qrun *qr, bool *shared_queue)
{
    dx_status st = DX_OK;
    *shared_queue = false;
    int active = 0, capacity = 0;
    /* a shared store: the queue is every instance's; full when the questions
     * unfinished anywhere fill what the live instances admit together */
    if (j->shared && !db_load(j->db, j->lease_ms, &active, &capacity) && capacity > 0 &&
        active >= capacity)
        return dx_fail(DX_EBUSY,
                       "the servers are busy: %d questions are running or queued; try again "
                       "shortly",
                       active);
    pthread_mutex_lock(&j->mu);
    const bool anywhere = portable(qr);
    if (atomic_load(&j->stopping)) {
        st = dx_fail(DX_ECANCELLED, "the server is shutting down");
    } else if (anywhere && !slot_free_locked(j)) {
        *shared_queue = true;
    } else if (full_locked(j)) {
        st = dx_fail(DX_EBUSY,
                     "the server is busy: %d questions are running or queued; try again "
                     "shortly",
                     j->questions);
    } else {
        j->questions++;
        j->workers++;
        if (anywhere) { /* the free slot is its own now: nothing claims it meanwhile */
            j->running++;
            qr->slotted = true;
        }
    }
    if (!st) {
        new_id(qr->id);       /* 60 random bits: collisions are not a concern */
        if (!qr->thread[0]) { /* a first question is its own thread */
            memcpy(qr->thread, qr->id, sizeof qr->id);
            qr->turn = 1;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

/* Stores it as queued and, unless it goes to the shared queue (released
 * there for any instance; the caller frees it then), puts it on the run
 * list and starts its worker. On failure it is off the list and the
 * counters, and stored as failed when it was stored at all; the caller
 * frees it. */
static dx_status launch(jobs *j, qrun *qr, const char *const *names, size_t n, const char *parent,
                        bool shared_queue)
{
    dx_status st = parent ? db_followup_insert(j->db, qr->id, qr->question, names, n,
                                               qr->created_at, parent, qr->thread, &qr->turn)
                          : db_question_insert_as(j->db, qr->id, qr->question, names, n,
                                                  qr->created_at, qr->owner, qr->share);
    if (st) {
        if (!shared_queue)
            unlink_run(j, qr, qr->slotted);
        return st;
    }
    if (shared_queue) {
        char *context = qr->given_turns ? json_dumps(qr->history_src, JSON_COMPACT) : NULL;
        if (qr->given_turns && !context)
            st = dx_fail(DX_ENOMEM, "out of memory");
        if (!st && context) /* the turns the asker gave, for whichever instance runs it */
            st = db_question_context_set(j->db, qr->id, context);
        free(context);
        if (st || (st = db_question_release(j->db, qr->id)))
            db_question_set_status(j->db, qr->id, QUESTION_FAILED,
                                   "the question could not be queued");
        return st;
    }
    pthread_mutex_lock(&j->mu);
    qr->next = j->runs;
    j->runs = qr;
    pthread_mutex_unlock(&j->mu);
    int rc = jobs_thread_spawn(worker, qr);
    if (rc) {
        db_question_set_status(j->db, qr->id, QUESTION_FAILED,
                               "can't start a thread for the question");
        unlink_run(j, qr, qr->slotted);
        return dx_fail(DX_ENOMEM, "can't start a thread for the question");
    }
    return DX_OK;
}

/* The earlier turns as members get them: src is an array of [question,
 * answer] string pairs, which qr keeps. */
static dx_status set_history(qrun *qr, json_t *src)
{
    size_t n = json_array_size(src);
    qr->history_src = src;
    if (!n)
        return DX_OK;
    if (!(qr->history = calloc(n, sizeof *qr->history)))
        return dx_fail(DX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(src, i);
        qr->history[i] = (council_turn){json_string_value(json_array_get(pair, 0)),
                                        json_string_value(json_array_get(pair, 1))};
        if (!qr->history[i].question || !qr->history[i].answer)
            return dx_fail(DX_EARG, "earlier turn %zu has no question or answer", i + 1);
    }
    qr->n_history = n;
    return DX_OK;
}

/* The first upto turns of a stored thread as history: each turn's question
 * and the council's written answer (turns without one, failed or
 * interrupted, are left out: there is no answer to continue from). */
static dx_status thread_history(const db_thread *th, size_t upto, json_t **out)
{
    *out = json_array();
    if (!*out)
        return dx_fail(DX_ENOMEM, "out of memory");
    for (size_t i = 0; i < th->n && i < upto; i++) {
        const db_turn *t = &th->turns[i];
        if (t->answer && json_array_append_new(*out, json_pack("[s, s]", t->question, t->answer)))
            return dx_fail(DX_ENOMEM, "out of memory");
    }
    return DX_OK;
}

/* How a question starts: a first question, a follow-up on parent (its
 * thread's history from the store), or a first question with turns given
 * by the caller (a /v1 conversation). */
typedef struct start_req {
    const char *question;
    const char *const *members; /* NULL: the whole council (a follow-up: the parent's) */
    size_t n;
    const char *parent;
    const council_turn *turns;
    size_t n_turns;
} start_req;

static dx_status start(jobs *j, const start_req *rq, const jobs_asker *who,
                       char id[DX_HTTP_MAX_ID + 1])
{
    qrun *qr = NULL;
    json_t *hist = NULL;
    db_source parent = {0};
    db_thread th = {0};
    const char *const *members = rq->members;
    size_t n = rq->n;
    bool given_turns = false, shared_queue = false;
    dx_status st = check_question(rq->question);
    if (!st && rq->parent) {
        if (!(st = db_question_source(j->db, rq->parent, &parent)))
            st = db_thread_turns(j->db, parent.thread, &th);
        if (!st) /* the turns up to the parent (the last one, checked again on insert) */
            st = thread_history(&th, (size_t)parent.turn, &hist);
        if (!st && !members && parent.members.stored) { /* the parent's members */
            members = parent.members.names;
            n = parent.members.n;
        }
    } else if (!st && rq->turns) {
        given_turns = rq->n_turns > 0;
        if (!(hist = json_array()))
            st = dx_fail(DX_ENOMEM, "out of memory");
        for (size_t i = 0; !st && i < rq->n_turns; i++)
            if (json_array_append_new(
                    hist, json_pack("[s, s]", rq->turns[i].question ? rq->turns[i].question : "",
                                    rq->turns[i].answer ? rq->turns[i].answer : "")))
                st = dx_fail(DX_EARG, "earlier turn %zu is not valid UTF-8", i + 1);
    }
    if (!st)
        st = qrun_new(j, rq->question, members, n, &qr);
    if (!st) {
        qr->given_turns = given_turns;
        st = set_history(qr, hist);
        hist = NULL; /* qr owns it */
    }
    /* a follow-up belongs to its thread's owner: the store copies the parent's */
    if (!st && !rq->parent && who && who->owner > 0) {
        if (!who->share || strlen(who->share) >= sizeof qr->share)
            st = dx_fail(DX_EARG, "an owned question needs a share token");
        else {
            qr->owner = who->owner;
            snprintf(qr->share, sizeof qr->share, "%s", who->share);
        }
    }
    /* the asker's own keys replace the server's for the premium members of
     * their providers */
    for (size_t i = 0; !st && who && i < qr->cfg.n_members; i++) {
        member_config *mc = &qr->cfg.members[i];
        for (size_t k = 0; !st && k < who->n_keys && k < JOBS_MAX_KEYS; k++)
            if (mc->kind == MEMBER_REMOTE && mc->premium && mc->provider && who->key_provider[k] &&
                who->key_value[k] && !strcmp(mc->provider, who->key_provider[k])) {
                if (!(qr->keys[i] = strdup(who->key_value[k])))
                    st = dx_fail(DX_ENOMEM, "out of memory");
                mc->api_key = qr->keys[i];
            }
    }
    if (!st)
        st = admit(j, qr, &shared_queue);
    if (!st) {
        memcpy(id, qr->id, sizeof qr->id);
        st = launch(j, qr, members, n, rq->parent, shared_queue);
        if (st || shared_queue)
            qrun_free(qr);
        qr = NULL; /* once launched, the worker owns qr */
    }
    qrun_free(qr);
    json_decref(hist);
    db_source_free(&parent);
    db_thread_free(&th);
    return st;
}

dx_status jobs_question_start(jobs *j, const char *question, const char *const *members, size_t n,
                              char id[DX_HTTP_MAX_ID + 1])
{
    return jobs_question_start_as(j, question, members, n, NULL, id);
}

dx_status jobs_question_start_as(jobs *j, const char *question, const char *const *members,
                                 size_t n, const jobs_asker *who, char id[DX_HTTP_MAX_ID + 1])
{
    start_req rq = {.question = question, .members = members, .n = n};
    return start(j, &rq, who, id);
}

dx_status jobs_question_followup(jobs *j, const char *parent, const char *question,
                                 const char *const *members, size_t n, const jobs_asker *who,
                                 char id[DX_HTTP_MAX_ID + 1])
{
    start_req rq = {.question = question, .members = members, .n = n, .parent = parent};
    return start(j, &rq, who, id);
}

dx_status jobs_question_start_turns(jobs *j, const char *question, const char *const *members,
                                    size_t n, const council_turn *turns, size_t n_turns,
                                    const jobs_asker *who, char id[DX_HTTP_MAX_ID + 1])
{
    if (n_turns > DB_MAX_THREAD_TURNS)
        return dx_fail(DX_ELIMIT, "a conversation of %zu earlier turns; the limit is %d", n_turns,
                       DB_MAX_THREAD_TURNS);
    start_req rq = {
        .question = question, .members = members, .n = n, .turns = turns, .n_turns = n_turns};
    return start(j, &rq, who, id);
}

dx_status jobs_question_rerun(jobs *j, const char *id, char nid[DX_HTTP_MAX_ID + 1])
{
    return jobs_question_rerun_as(j, id, NULL, nid);
}

dx_status jobs_question_rerun_as(jobs *j, const char *id, const jobs_asker *who,
                                 char nid[DX_HTTP_MAX_ID + 1])
{
    db_source src;
    db_thread th = {0};
    json_t *hist = NULL;
    dx_status st = db_question_source(j->db, id, &src);
    if (!st && src.turn > 1) /* a follow-up is asked again after the same earlier turns */
        st = db_thread_turns(j->db, src.thread, &th);
    if (!st && th.n)
        st = thread_history(&th, (size_t)src.turn - 1, &hist);
    if (!st) {
        start_req rq = {.question = src.question,
                        .members = src.members.stored ? src.members.names : NULL,
                        .n = src.members.n};
        council_turn ct[DB_MAX_THREAD_TURNS];
        for (size_t i = 0; i < json_array_size(hist) && i < DB_MAX_THREAD_TURNS; i++) {
            json_t *pair = json_array_get(hist, i);
            ct[i] = (council_turn){json_string_value(json_array_get(pair, 0)),
                                   json_string_value(json_array_get(pair, 1))};
            rq.n_turns = i + 1;
        }
        rq.turns = hist ? ct : NULL;
        st = start(j, &rq, who, nid);
    }
    db_source_free(&src);
    db_thread_free(&th);
    json_decref(hist);
    return st;
}

/* ---- the shared work queue (a shared store) ---- */

/* Gives back a slot and counts taken for a claim that runs nothing. */
static void unreserve(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->questions--;
    j->workers--;
    j->running--;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
}

/* Milliseconds since an ISO time "YYYY-MM-DDTHH:MM:SSZ" (0 when unreadable
 * or ahead): how long a claimed question waited. */
static double age_ms(const char *iso)
{
    struct tm tm = {0};
    const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end)
        return 0;
    double age = difftime(time(NULL), timegm(&tm)) * 1e3;
    return age > 0 ? age : 0;
}

/* A claimed question from the store: its text, members, place and, for a
 * later turn, the thread's earlier turns as history. */
static dx_status claimed_run(jobs *j, const char *id, qrun **out)
{
    *out = NULL;
    db_source src;
    db_thread th = {0};
    json_t *hist = NULL;
    dx_status st = db_question_source(j->db, id, &src);
    if (!st && src.turn > 1) /* the turns before it, as a follow-up asked here would have them */
        st = db_thread_turns(j->db, src.thread, &th);
    if (!st && th.n)
        st = thread_history(&th, (size_t)src.turn - 1, &hist);
    char *context = NULL; /* a first turn's: the earlier turns its asker gave */
    if (!st && src.turn == 1)
        st = db_question_context(j->db, id, &context);
    if (!st && context && !(hist = json_loads(context, 0, NULL)))
        st = dx_fail(DX_EFORMAT, "question %s: its stored turns are not JSON", id);
    if (!st && json_array_size(hist) > DB_MAX_THREAD_TURNS)
        st = dx_fail(DX_ELIMIT, "question %s: more than %d earlier turns", id, DB_MAX_THREAD_TURNS);
    free(context);
    qrun *qr = NULL;
    if (!st)
        st = qrun_new(j, src.question, src.members.stored ? src.members.names : NULL, src.members.n,
                      &qr);
    if (!st) {
        qr->given_turns = hist && src.turn == 1;
        st = set_history(qr, hist);
        hist = NULL; /* qr owns it */
    }
    if (!st) {
        snprintf(qr->id, sizeof qr->id, "%s", id);
        snprintf(qr->thread, sizeof qr->thread, "%s", src.thread);
        qr->turn = src.turn;
        snprintf(qr->created_at, sizeof qr->created_at, "%s", src.created_at);
        qr->t_created -= age_ms(src.created_at); /* its wait in the queue counts */
        *out = qr;
    } else {
        qrun_free(qr);
    }
    db_source_free(&src);
    db_thread_free(&th);
    json_decref(hist);
    return st;
}

/* Runs question id, claimed for this instance, in the slot the caller
 * reserved. On failure the slot is given back and the question, when it is
 * still there, ends failed (followers elsewhere hear it). */
static void run_claimed(jobs *j, const char *id)
{
    qrun *qr = NULL;
    dx_status st = claimed_run(j, id, &qr);
    if (st == DX_ENOTFOUND) { /* deleted meanwhile */
        unreserve(j);
        return;
    }
    if (!st) {
        pthread_mutex_lock(&j->mu);
        qr->slotted = true;
        qr->next = j->runs;
        j->runs = qr;
        pthread_mutex_unlock(&j->mu);
        if (!jobs_thread_spawn(worker, qr))
            return; /* the worker owns qr and the slot now */
        st = dx_fail(DX_ENOMEM, "can't start a thread for the question");
        unlink_run(j, qr, true);
        qrun_free(qr);
    } else {
        unreserve(j);
    }
    char why[512];
    jobs_scrub_paths(dx_errmsg(), why, sizeof why);
    log_warn("question %s from the shared queue: %s", id, why);
    json_t *e = json_pack("{s:s, s:s}", "code", "failed", "message", why);
    char *data = e ? json_dumps(e, JSON_COMPACT) : NULL;
    if (db_question_set_status(j->db, id, QUESTION_FAILED, why) ||
        (data && db_event_post(j->db, id, 1, "error", data)) ||
        db_event_post(j->db, id, 2, "end", NULL))
        log_warn("store: %s", dx_errmsg());
    free(data);
    json_decref(e);
}

/* peers' on_queued: claims released questions, the oldest first, while a
 * slot is free here (questions admitted here that wait for one come
 * first). Runs on the listener thread. */
static void claim_released(void *user)
{
    jobs *j = user;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        bool room = !atomic_load(&j->stopping) && slot_free_locked(j);
        if (room) { /* the slot is taken before the claim: nothing else fills it meanwhile */
            j->questions++;
            j->workers++;
            j->running++;
        }
        pthread_mutex_unlock(&j->mu);
        if (!room)
            return;
        char id[DX_HTTP_MAX_ID + 1];
        bool got = false;
        if (db_question_claim(j->db, id, &got))
            log_warn("store: %s", dx_errmsg());
        if (!got) {
            unreserve(j);
            return;
        }
        run_claimed(j, id);
    }
}

/* ---- reading, following, deleting ---- */

/* The run of question id, unless it was deleted (j->mu held; `deleted` is
 * only set with j->mu held too). A deleted run whose worker has not ended
 * yet must not answer for the deleted question. */
static qrun *find_run(jobs *j, const char *id)
{
    for (qrun *q = j->runs; q; q = q->next)
        if (!q->deleted && !strcmp(q->id, id))
            return q;
    return NULL;
}

dx_status jobs_question_json(jobs *j, const char *id, bool with_texts, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&j->mu);
    qrun *qr = find_run(j, id);
    if (qr) {
        pthread_mutex_lock(&qr->mu);
        *out = qrun_json(qr, with_texts);
        pthread_mutex_unlock(&qr->mu);
    }
    pthread_mutex_unlock(&j->mu);
    if (qr)
        return *out ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = db_question_get(j->db, id, with_texts, out);
    if (!st)
        scrub_models(*out, 0);
    return st;
}

dx_status jobs_question_list(jobs *j, const char *query, int limit, const char *before,
                             json_t **out)
{
    return jobs_question_list_of(j, 0, query, limit, before, out);
}

dx_status jobs_question_list_of(jobs *j, long long owner, const char *query, int limit,
                                const char *before, json_t **out)
{
    dx_status st = db_question_list_of(j->db, owner, query, limit, before, out);
    if (st)
        return st;
    scrub_models(*out, 0);
    size_t i;
    json_t *it;
    json_array_foreach(*out, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        pthread_mutex_lock(&j->mu);
        qrun *qr = id ? find_run(j, id) : NULL;
        if (qr)
            json_object_set_new(it, "status", json_string(question_status_str(qr->status)));
        pthread_mutex_unlock(&j->mu);
    }
    return DX_OK;
}

/* A question another instance runs (queued or running in the shared store):
 * its events from the first, and the state they start from, its texts blank
 * (the events bring them), so every piece is shown once. */
static dx_status follow_elsewhere(jobs *j, const char *id, jobs_stream **ev, size_t *off,
                                  json_t *state)
{
    question_status qs = QUESTION_DONE;
    question_status_parse(json_string_value(json_object_get(state, "status")), &qs);
    if (question_status_final(qs))
        return DX_OK;
    pthread_mutex_lock(&j->mu);
    dx_status st = j->peers ? peers_follow(j->peers, id, ev) : DX_OK;
    pthread_mutex_unlock(&j->mu);
    if (st || !*ev)
        return st;
    *off = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(state, "members"), i, m)
    {
        json_object_set_new(m, "text", json_string(""));
        json_object_set_new(m, "tokens", json_integer(0));
    }
    return DX_OK;
}

dx_status jobs_question_follow(jobs *j, const char *id, jobs_stream **ev, size_t *off,
                               json_t **state)
{
    *ev = NULL;
    *state = NULL;
    pthread_mutex_lock(&j->mu);
    qrun *qr = find_run(j, id);
    if (qr) {
        pthread_mutex_lock(&qr->mu);
        *state = qrun_json(qr, true);
        if (!qr->ended) { /* else the state is the end: nothing to follow */
            *ev = qr->ev;
            jobs_stream_ref(qr->ev);
            *off = jobs_stream_len(qr->ev);
        }
        pthread_mutex_unlock(&qr->mu);
    }
    pthread_mutex_unlock(&j->mu);
    if (qr && !*state) {
        jobs_stream_unref(*ev);
        *ev = NULL;
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    if (qr)
        return DX_OK;
    dx_status st = db_question_get(j->db, id, true, state);
    if (!st)
        scrub_models(*state, 0);
    if (!st && j->shared)
        st = follow_elsewhere(j, id, ev, off, *state);
    if (st) {
        json_decref(*state);
        *state = NULL;
    }
    return st;
}

dx_status jobs_question_wait(jobs *j, const char *id, json_t **out)
{
    *out = NULL;
    jobs_stream *ev;
    size_t off = 0;
    json_t *state;
    dx_status st = jobs_question_follow(j, id, &ev, &off, &state);
    if (st)
        return st;
    json_decref(state);
    if (ev) {
        char buf[16 << 10];
        while (jobs_stream_read(ev, &off, buf, sizeof buf, 1000, &j->stopping) >= 0)
            ;
        jobs_stream_unref(ev);
        if (atomic_load(&j->stopping))
            return dx_fail(DX_ECANCELLED, "the server is shutting down");
    }
    st = db_question_get(j->db, id, true, out);
    if (!st)
        scrub_models(*out, 0);
    return st;
}

/* Stops question id when it runs or waits here: its worker writes nothing
 * more, and a waiting one leaves the counts at once. */
static void stop_run(jobs *j, const char *id)
{
    pthread_mutex_lock(&j->mu);
    qrun *qr = find_run(j, id);
    if (qr) {
        pthread_mutex_lock(&qr->mu);
        qr->deleted = true;
        atomic_store(&qr->cancel, 1);
        pthread_mutex_unlock(&qr->mu);
        if (!qr->slotted) { /* still waiting: off the counts now, and its wait ends */
            qr->uncounted = true;
            j->questions--;
            pthread_cond_broadcast(&j->cond);
        }
    }
    pthread_mutex_unlock(&j->mu);
}

/* peers' on_deleted: deleted through another instance. */
static void deleted_elsewhere(void *user, const char *id)
{
    stop_run(user, id);
}

int jobs_rate_take(jobs *j, const char *client, int per_min, int burst)
{
    if (!j || !j->shared)
        return -1;
    bool ok = true;
    if (db_rate_take(j->db, client, per_min, burst, &ok)) { /* the store is down: let it pass */
        log_warn("store: %s", dx_errmsg());
        return 1;
    }
    return ok ? 1 : 0;
}

dx_status jobs_question_delete(jobs *j, const char *id)
{
    char thread[DX_HTTP_MAX_ID + 1];
    int turn, last;
    db_thread th = {0};
    dx_status st = db_question_position(j->db, id, thread, &turn, &last);
    if (!st && last > turn)
        st = db_thread_turns(j->db, thread, &th);
    if (st) {
        db_thread_free(&th);
        return st;
    }
    stop_run(j, id);
    for (size_t i = 0; i < th.n; i++) /* the later turns go with it */
        if (th.turns[i].turn > turn)
            stop_run(j, th.turns[i].id);
    db_thread_free(&th);
    st = db_question_delete(j->db, id);
    if (!st && j->shared && db_notify_deleted(j->db, id)) /* whoever runs or follows it */
        log_warn("store: %s", dx_errmsg());
    return st;
}

/* The live state of the turns that run, in place of their stored state. */
static void thread_live(jobs *j, json_t *turns)
{
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        pthread_mutex_lock(&j->mu);
        qrun *qr = id ? find_run(j, id) : NULL;
        json_t *live = NULL;
        if (qr) {
            pthread_mutex_lock(&qr->mu);
            live = qrun_json(qr, true);
            pthread_mutex_unlock(&qr->mu);
        }
        pthread_mutex_unlock(&j->mu);
        if (live)
            json_array_set_new(turns, i, live);
    }
}

dx_status jobs_thread_json(jobs *j, const char *id, json_t **out)
{
    *out = NULL;
    char thread[DX_HTTP_MAX_ID + 1];
    int turn, last;
    json_t *turns = NULL;
    dx_status st = db_question_position(j->db, id, thread, &turn, &last);
    if (!st)
        st = db_thread_get(j->db, thread, true, &turns);
    if (st)
        return st;
    scrub_models(turns, 0);
    thread_live(j, turns);
    if (!(*out = json_pack("{s:s, s:o}", "thread", thread, "questions", turns)))
        return dx_fail(DX_ENOMEM, "out of memory");
    return DX_OK;
}

/* ---- the runtime ---- */

dx_status jobs_open(const jobs_opts *o, jobs **out)
{
    *out = NULL;
    jobs *j = calloc(1, sizeof *j);
    if (!j)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->cfg = o->cfg;
    j->max_running = o->max_running > 0 ? o->max_running : 2;
    if (j->max_running > (int)DX_HTTP_MAX_RUNNING)
        j->max_running = DX_HTTP_MAX_RUNNING;
    dx_status st = DX_OK;
    if (!(j->reg = local_registry_new()))
        st = dx_fail(DX_ENOMEM, "out of memory");
    if (!st)
        st = ask_open_embedder(o->cfg, &j->embedder);
    if (!st)
        st = db_open(o->db_path, &j->db);
    if (!st) {
        const char *lease = getenv("DRUX_LEASE_MS");
        j->lease_ms = lease && atoll(lease) > 0 ? atoll(lease) : DB_LEASE_MS;
        j->shared = db_is_shared(j->db);
        peers_opts po = {.db = j->db,
                         .capacity = j->max_running + (int)DX_HTTP_MAX_QUEUED,
                         .lease_ms = j->lease_ms,
                         .on_deleted = deleted_elsewhere,
                         .on_queued = claim_released,
                         .user = j};
        st = peers_open(&po, &j->peers);
    }
    if (st) {
        jobs_close(j);
        return st;
    }
    *out = j;
    return DX_OK;
}

const atomic_int *jobs_stopping(jobs *j)
{
    return &j->stopping;
}

const council_config *jobs_council(jobs *j)
{
    return j->cfg;
}

local_registry *jobs_registry(jobs *j)
{
    return j->reg;
}

db *jobs_store(jobs *j)
{
    return j->db;
}

int jobs_schema_version(jobs *j)
{
    return db_schema_version(j->db);
}

/* Cancels every question and wakes every follower and waiting thread. */
static void wake_all(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    for (qrun *q = j->runs; q; q = q->next) {
        atomic_store(&q->cancel, 1);
        jobs_stream_wake(q->ev);
    }
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
}

void jobs_stop(jobs *j)
{
    atomic_store(&j->stopping, 1);
    pthread_mutex_lock(&j->mu);
    peers *p = j->peers; /* followers of other instances' questions end now */
    j->peers = NULL;
    pthread_mutex_unlock(&j->mu);
    peers_close(p);
    wake_all(j);
    pthread_mutex_lock(&j->mu);
    while (j->workers > 0) {
        pthread_mutex_unlock(&j->mu);
        wake_all(j);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
}

void jobs_close(jobs *j)
{
    if (!j)
        return;
    jobs_stop(j);
    db_close(j->db);
    local_registry_free(j->reg);
    embed_model_close(j->embedder);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
