/* /api/v1 and the question runtime: each question on a worker thread,
 * its live state in memory, its events in a followable stream, its
 * progress and result in the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ask/ask.h"
#include "core/log.h"
#include "core/version.h"
#include "hub/hub.h"
#include "server/srv.h"

#define SSE_KEEPALIVE_MS 15000
#define SAVE_EVERY_MS 1000.0

typedef struct mstate {
    member_status status;
    char error[320];
    double latency_ms, ttft_ms, saved_ms;
    int tokens;
    dx_buf text;
} mstate;

struct qrun {
    qrun *next;
    http_server *srv;
    char id[DX_HTTP_MAX_ID + 1];
    char *question;
    json_t *asked;
    council_config cfg; /* the members asked: copies of the server's entries */
    pthread_mutex_t mu; /* guards the state below and the order of events */
    const char *status;
    const char *phase; /* "asking" ... while running, NULL before */
    char error[512];
    char created_at[32];
    mstate m[DX_MAX_MEMBERS];
    http_stream *ev;
    atomic_int cancel;
    bool deleted, deltas_dropped;
    bool ended;    /* final event written: followers need not follow */
    json_t *final; /* the stored question with its result, once done or failed */
    double t_created, t_phase[4];
};

static const char *mstatus(member_status s)
{
    return member_status_str(s);
}

/* The stored-question JSON from the live state. Caller holds qr->mu. */
static json_t *qrun_json(qrun *qr, bool with_texts)
{
    if (qr->final)
        return json_deep_copy(qr->final);
    json_t *members = json_array();
    for (size_t i = 0; members && i < qr->cfg.n_members; i++) {
        const member_config *mc = &qr->cfg.members[i];
        mstate *m = &qr->m[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I}", "name", mc->name, "model",
                              mc->model, "status", mstatus(m->status), "error",
                              m->error[0] ? json_string(m->error) : json_null(), "latency_ms",
                              (json_int_t)m->latency_ms, "tokens", (json_int_t)m->tokens, "ttft_ms",
                              (json_int_t)(m->ttft_ms > 0 ? m->ttft_ms : 0));
        if (o && with_texts)
            json_object_set_new(o, "text",
                                json_stringn(m->text.data ? m->text.data : "", m->text.len));
        json_array_append_new(members, o);
    }
    return json_pack("{s:s, s:s, s:s, s:s?, s:o, s:s, s:n, s:O?, s:o, s:n}", "id", qr->id,
                     "question", qr->question, "status", qr->status, "phase", qr->phase, "error",
                     qr->error[0] ? json_string(qr->error) : json_null(), "created_at",
                     qr->created_at, "finished_at", "asked", qr->asked, "members", members,
                     "result");
}

static json_t *member_json(qrun *qr, size_t i)
{
    mstate *m = &qr->m[i];
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:s}", "name", qr->cfg.members[i].name,
                     "model", qr->cfg.members[i].model, "status", mstatus(m->status), "error",
                     m->error[0] ? json_string(m->error) : json_null(), "latency_ms",
                     (json_int_t)m->latency_ms, "tokens", (json_int_t)m->tokens, "ttft_ms",
                     (json_int_t)(m->ttft_ms > 0 ? m->ttft_ms : 0), "text",
                     m->text.data ? m->text.data : "");
}

static void save_member(qrun *qr, size_t i)
{
    if (qr->deleted)
        return;
    json_t *j = member_json(qr, i);
    if (j && db_member_save(qr->srv->db, qr->id, (int)i, j))
        log_warn("store: %s", dx_errmsg());
    json_decref(j);
    qr->m[i].saved_ms = http_now_ms();
}

static const char *const phase_names[] = {"asking", "analyzing", "synthesizing", "done"};

/* ask_event_fn: keep the live state, tell followers, save progress. */
static void on_event(const ask_event *ev, void *user)
{
    qrun *qr = user;
    pthread_mutex_lock(&qr->mu);
    if (!ev->is_member) {
        qr->t_phase[ev->phase] = http_now_ms();
        qr->phase = phase_names[ev->phase];
        json_t *j = json_pack("{s:s}", "phase", phase_names[ev->phase]);
        if (j)
            http_stream_event(qr->ev, "phase", j);
        json_decref(j);
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
    snprintf(m->error, sizeof m->error, "%s", r->status == MEMBER_DONE ? "" : r->error);
    if (me->kind == MEMBER_EV_TEXT) {
        dx_buf_append(&m->text, me->text, me->len); /* bounded like the answer itself */
        m->tokens++;
    }
    if (r->completion_tokens > 0)
        m->tokens = r->completion_tokens;
    json_t *j = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "index", (json_int_t)i, "name", r->name,
                          "status", mstatus(r->status), "tokens", (json_int_t)m->tokens,
                          "latency_ms", (json_int_t)r->latency_ms, "ttft_ms",
                          (json_int_t)(r->ttft_ms > 0 ? r->ttft_ms : 0));
    if (j && m->error[0])
        json_object_set_new(j, "error", json_string(m->error));
    if (j && me->kind == MEMBER_EV_TEXT) {
        /* text deltas stop when the stream's share for them is used up;
         * followers still get every status and the final result */
        if (!qr->deltas_dropped &&
            http_stream_len(qr->ev) + me->len * 2 + 256 > DX_HTTP_MAX_EVENT_LOG)
            qr->deltas_dropped = true;
        if (!qr->deltas_dropped)
            json_object_set_new(j, "delta", json_stringn(me->text, me->len));
    }
    if (j && (me->kind != MEMBER_EV_TEXT || !qr->deltas_dropped))
        http_stream_event(qr->ev, "member", j);
    json_decref(j);
    if (changed || http_now_ms() - m->saved_ms > SAVE_EVERY_MS)
        save_member(qr, i);
    pthread_mutex_unlock(&qr->mu);
}

static void qrun_free(qrun *qr)
{
    if (!qr)
        return;
    for (size_t i = 0; i < DX_MAX_MEMBERS; i++)
        dx_buf_free(&qr->m[i].text);
    http_stream_unref(qr->ev);
    json_decref(qr->asked);
    json_decref(qr->final);
    free(qr->question);
    pthread_mutex_destroy(&qr->mu);
    free(qr);
}

/* Waits for a slot among max_running. Caller holds s->mu. */
static bool slot_wait_locked(http_server *s)
{
    while (s->running >= s->max_running && !atomic_load(&s->stopping))
        pthread_cond_wait(&s->cond, &s->mu);
    if (atomic_load(&s->stopping))
        return false;
    s->running++;
    return true;
}

/* Questions and completions admitted (running or waiting). Caller holds s->mu. */
static bool full_locked(http_server *s)
{
    return s->questions + s->completions >= s->max_running + (int)DX_HTTP_MAX_QUEUED;
}

dx_status api_slot_enter(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    dx_status st = DX_OK;
    if (full_locked(s)) {
        st = dx_fail(DX_ELIMIT,
                     "the server is busy: %d jobs are running or waiting; try again shortly",
                     s->questions + s->completions);
    } else {
        s->completions++;
        if (!slot_wait_locked(s)) {
            s->completions--;
            st = dx_fail(DX_ECANCELLED, "the server is shutting down");
        }
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void slot_release(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Admitted and not running: the waiting threads, and the questions whose
 * threads have not reached the wait yet. Caller holds s->mu. */
static int queued_locked(const http_server *s)
{
    return s->questions + s->completions - s->running;
}

void api_slot_leave(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->completions--;
    s->running--; /* together, so no reader sees it counted as queued */
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Takes a question off the server's list and counters; held: it holds a
 * running slot, given back in the same step. */
static void unlink_run(http_server *s, qrun *qr, bool held)
{
    pthread_mutex_lock(&s->mu);
    if (held)
        s->running--;
    for (qrun **p = &s->runs; *p; p = &(*p)->next)
        if (*p == qr) {
            *p = qr->next;
            break;
        }
    s->questions--;
    s->workers--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void emit_error(qrun *qr, const char *code, const char *msg)
{
    json_t *j = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (j)
        http_stream_event(qr->ev, "error", j);
    json_decref(j);
}

static long long span(double a, double b)
{
    return a > 0 && b > a ? (long long)(b - a) : 0;
}

static void *worker(void *arg)
{
    qrun *qr = arg;
    http_server *s = qr->srv;
    arena mem = arena_make(64 << 10, 256u << 20);
    json_t *members = NULL, *result = NULL, *full = NULL;
    pthread_mutex_lock(&s->mu);
    bool go = slot_wait_locked(s);
    pthread_mutex_unlock(&s->mu);
    double t_start = http_now_ms();
    dx_status st = DX_OK;
    cns_result *res = NULL;
    if (go && atomic_load(&qr->cancel)) { /* deleted while it waited */
        slot_release(s);
        go = false;
    }
    /* the slot is given back once the question's end is stored (unlink_run),
     * so that no reader sees it still running beside the next one in its slot */
    const bool held = go;
    if (go) {
        pthread_mutex_lock(&qr->mu);
        qr->status = "running";
        if (!qr->deleted)
            db_question_set_status(s->db, qr->id, "running", NULL);
        pthread_mutex_unlock(&qr->mu);
        ask_opts o = {.cfg = &qr->cfg,
                      .reg = s->reg,
                      .on_event = on_event,
                      .user = qr,
                      .cancel = &qr->cancel,
                      .synthesis = true,
                      .embedder = s->embedder};
        st = ask_run(qr->question, &o, &mem, &res);
    }
    double t_end = http_now_ms();
    char now[32];
    http_utc_now(now);
    pthread_mutex_lock(&qr->mu);
    if (qr->deleted) {
        emit_error(qr, "deleted", "the question was deleted");
    } else if (!go || atomic_load(&s->stopping)) {
        /* the server is stopping: the question stays interrupted, re-runnable */
        static const char why[] = "the server stopped before this question finished";
        qr->status = "interrupted";
        snprintf(qr->error, sizeof qr->error, "%s", why);
        db_question_set_status(s->db, qr->id, "interrupted", why);
        emit_error(qr, "interrupted", why);
    } else {
        if (!st && !(result = cns_to_json(res)))
            st = dx_fail(DX_ENOMEM, "out of memory");
        if (st)
            snprintf(qr->error, sizeof qr->error, "%s", dx_errmsg());
        members = json_array();
        for (size_t i = 0; members && i < qr->cfg.n_members; i++)
            json_array_append_new(members, member_json(qr, i));
        db_finish f = {
            .id = qr->id,
            .status = st ? "failed" : "done",
            .error = st ? qr->error : NULL,
            .finished_at = now,
            .members = members,
            .result = result,
            .queued_ms = span(qr->t_created, t_start),
            .asking_ms = span(qr->t_phase[ASK_ASKING], qr->t_phase[ASK_ANALYZING]),
            .analyzing_ms = span(qr->t_phase[ASK_ANALYZING], qr->t_phase[ASK_SYNTHESIZING] > 0
                                                                 ? qr->t_phase[ASK_SYNTHESIZING]
                                                                 : qr->t_phase[ASK_DONE]),
            .synthesizing_ms = span(qr->t_phase[ASK_SYNTHESIZING], qr->t_phase[ASK_DONE]),
            .total_ms = span(qr->t_created, t_end)};
        qr->status = f.status;
        if (!members || db_question_finish(s->db, &f)) {
            log_error("store: question %s: %s", qr->id, dx_errmsg());
            emit_error(qr, "store", "the result could not be stored");
        } else if (db_question_get(s->db, qr->id, true, &full) == DX_OK) {
            if (st)
                emit_error(qr, "failed", qr->error);
            http_stream_event(qr->ev, "result", full);
            qr->final = full; /* from now on readers get this, as from the store */
            full = NULL;
        }
    }
    qr->ended = true;
    http_stream_close(qr->ev);
    pthread_mutex_unlock(&qr->mu);
    json_decref(full);
    json_decref(members);
    json_decref(result);
    arena_free(&mem);
    unlink_run(s, qr, held);
    qrun_free(qr);
    return NULL;
}

static void new_id(char id[DX_HTTP_MAX_ID + 1])
{
    static const char abc[] = "abcdefghijkmnpqrstuvwxyz23456789";
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* no entropy source: time and address still make a unique id */
        unsigned long long t = (unsigned long long)(http_now_ms() * 1000) ^ (uintptr_t)id;
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 37);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        id[i] = abc[rnd[i] % 32];
    id[sizeof rnd] = '\0';
}

dx_status api_question_start(http_server *s, const char *question, json_t *members,
                             char id[DX_HTTP_MAX_ID + 1])
{
    size_t qlen = strlen(question);
    if (!question[strspn(question, " \t\r\n")])
        return dx_fail(DX_EARG, "the question is empty");
    if (qlen > DX_MAX_QUESTION_BYTES)
        return dx_fail(DX_ELIMIT, "the question is %zu bytes; the limit is %u", qlen,
                       DX_MAX_QUESTION_BYTES);
    qrun *qr = calloc(1, sizeof *qr);
    if (!qr)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&qr->mu, NULL);
    qr->srv = s;
    dx_status st = DX_OK;
    /* the council asked: the whole one, or the members named, in council order */
    qr->cfg = *s->cfg;
    memset(&qr->cfg.mem, 0, sizeof qr->cfg.mem); /* strings stay the server's */
    if (members) {
        size_t i;
        json_t *v;
        json_array_foreach(members, i, v) if (!council_config_member(s->cfg, json_string_value(v)))
        {
            st = dx_fail(DX_EARG,
                         "no council member is called '%.64s' (GET /api/v1/members lists them)",
                         json_string_value(v));
            goto out;
        }
        qr->cfg.n_members = 0;
        for (size_t k = 0; k < s->cfg->n_members; k++) {
            bool asked = false;
            json_array_foreach(members, i, v) asked =
                asked || !strcmp(json_string_value(v), s->cfg->members[k].name);
            if (asked)
                qr->cfg.members[qr->cfg.n_members++] = s->cfg->members[k];
        }
        if (s->cfg->synthesizer && !council_config_member(&qr->cfg, s->cfg->synthesizer))
            qr->cfg.synthesizer = NULL;
        qr->asked = json_incref(members);
    }
    for (size_t i = 0; i < DX_MAX_MEMBERS; i++)
        qr->m[i].text = dx_buf_make(DX_MAX_ANSWER_BYTES);
    if (!(qr->question = strdup(question)) ||
        !(qr->ev = http_stream_new(DX_HTTP_MAX_EVENT_LOG + 2 * DX_MAX_JSON_BYTES))) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    qr->status = "queued";
    qr->t_created = http_now_ms();
    http_utc_now(qr->created_at);
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->stopping)) {
        st = dx_fail(DX_ECANCELLED, "the server is shutting down");
    } else if (full_locked(s)) {
        st = dx_fail(DX_ELIMIT,
                     "the server is busy: %d questions are running or queued; try again "
                     "shortly",
                     s->questions);
    } else {
        new_id(qr->id); /* 60 random bits: collisions are not a concern */
        s->questions++;
        s->workers++;
    }
    pthread_mutex_unlock(&s->mu);
    if (st)
        goto out;
    if ((st = db_question_insert(s->db, qr->id, question, members, qr->created_at))) {
        unlink_run(s, qr, false);
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    qr->next = s->runs;
    s->runs = qr;
    pthread_mutex_unlock(&s->mu);
    memcpy(id, qr->id, sizeof qr->id);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, worker, qr)) {
        pthread_attr_destroy(&at);
        db_question_set_status(s->db, qr->id, "failed", "can't start a thread for the question");
        pthread_mutex_lock(&s->mu);
        for (qrun **p = &s->runs; *p; p = &(*p)->next)
            if (*p == qr) {
                *p = qr->next;
                break;
            }
        pthread_mutex_unlock(&s->mu);
        unlink_run(s, qr, false); /* counters */
        st = dx_fail(DX_ENOMEM, "can't start a thread for the question");
        goto out;
    }
    pthread_attr_destroy(&at);
    return DX_OK;
out:
    qrun_free(qr);
    return st;
}

/* The question with this id in the run list (queued, running, or just finished); NULL if none.
 * Caller holds s->mu. */
/* The running question id, if it was not deleted (s->mu held; `deleted` is
 * only set with s->mu held too, so reading it here is safe). A deleted run
 * whose worker has not ended yet must not answer for the deleted question. */
static qrun *find_run(http_server *s, const char *id)
{
    for (qrun *q = s->runs; q; q = q->next)
        if (!q->deleted && !strcmp(q->id, id))
            return q;
    return NULL;
}

dx_status api_question_json(http_server *s, const char *id, bool with_texts, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    qrun *qr = find_run(s, id);
    if (qr) {
        pthread_mutex_lock(&qr->mu);
        *out = qrun_json(qr, with_texts);
        pthread_mutex_unlock(&qr->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (qr)
        return *out ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
    return db_question_get(s->db, id, with_texts, out);
}

/* A follower of a question: the stream from its current end, and the
 * question's state at that point. NULL stream when it is not running. */
static dx_status follow(http_server *s, const char *id, http_stream **ev, size_t *off,
                        json_t **state)
{
    *ev = NULL;
    *state = NULL;
    pthread_mutex_lock(&s->mu);
    qrun *qr = find_run(s, id);
    if (qr) {
        pthread_mutex_lock(&qr->mu);
        *state = qrun_json(qr, true);
        if (!qr->ended) { /* else the state is the end: nothing to follow */
            *ev = qr->ev;
            http_stream_ref(qr->ev);
            *off = http_stream_len(qr->ev);
        }
        pthread_mutex_unlock(&qr->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (qr)
        return *state ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
    return db_question_get(s->db, id, true, state);
}

dx_status api_question_wait(http_server *s, const char *id, json_t **out)
{
    *out = NULL;
    http_stream *ev;
    size_t off = 0;
    json_t *state;
    dx_status st = follow(s, id, &ev, &off, &state);
    if (st)
        return st;
    json_decref(state);
    if (ev) {
        char buf[16 << 10];
        while (http_stream_read(ev, &off, buf, sizeof buf, 1000, &s->stopping) >= 0)
            ;
        http_stream_unref(ev);
        if (atomic_load(&s->stopping))
            return dx_fail(DX_ECANCELLED, "the server is shutting down");
    }
    return db_question_get(s->db, id, true, out);
}

void api_wake_all(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (qrun *q = s->runs; q; q = q->next) {
        atomic_store(&q->cancel, 1);
        http_stream_wake(q->ev);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* ---- SSE ---- */

typedef struct sse_reader {
    http_server *s;
    http_stream *ev; /* NULL: only the prefix */
    size_t off;
    char *prefix; /* events this follower gets first */
    size_t plen, poff;
} sse_reader;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_reader *sr = cls;
    if (sr->poff < sr->plen) {
        size_t n = sr->plen - sr->poff < max ? sr->plen - sr->poff : max;
        memcpy(buf, sr->prefix + sr->poff, n);
        sr->poff += n;
        return (ssize_t)n;
    }
    if (!sr->ev)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* no stop flag: the worker always closes the stream, on shutdown after
     * its "interrupted" event, which followers should get */
    long n = http_stream_read(sr->ev, &sr->off, buf, max, SSE_KEEPALIVE_MS, NULL);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) {
        static const char ka[] = ": keep-alive\n\n";
        size_t k = sizeof ka - 1 < max ? sizeof ka - 1 : max;
        memcpy(buf, ka, k);
        return (ssize_t)k;
    }
    return n;
}

static void sse_free(void *cls)
{
    sse_reader *sr = cls;
    http_stream_unref(sr->ev);
    free(sr->prefix);
    free(sr);
}

static dx_status append_event(dx_buf *b, const char *name, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = dx_buf_printf(b, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    return st;
}

static enum MHD_Result question_events(http_req *r, const char *id)
{
    sse_reader *sr = calloc(1, sizeof *sr);
    if (!sr)
        return http_error(r, 500, "internal", "out of memory");
    sr->s = r->srv;
    json_t *state = NULL;
    dx_status st = follow(r->srv, id, &sr->ev, &sr->off, &state);
    if (st) {
        sse_free(sr);
        return http_error_status(r, st);
    }
    dx_buf b = dx_buf_make(2 * DX_MAX_JSON_BYTES + DX_HTTP_MAX_EVENT_LOG);
    st = append_event(&b, "state", state);
    /* a finished question: the state, then its end */
    const char *status = json_string_value(json_object_get(state, "status"));
    if (!st && !sr->ev) {
        if (!strcmp(status, "done") || !strcmp(status, "failed"))
            st = append_event(&b, "result", state);
        else {
            json_t *e = json_pack("{s:s, s:s}", "code", status, "message",
                                  "this question is not running (re-run it to ask again)");
            st = e ? append_event(&b, "error", e) : dx_fail(DX_ENOMEM, "out of memory");
            json_decref(e);
        }
    }
    json_decref(state);
    if (st) {
        dx_buf_free(&b);
        sse_free(sr);
        return http_error_status(r, st);
    }
    sr->plen = b.len;
    sr->prefix = dx_buf_take(&b);
    return http_send_stream(r, "text/event-stream; charset=utf-8", sse_read, sr, sse_free);
}

/* ---- routes ---- */

static enum MHD_Result need_method(http_req *r, const char *m, bool *bad)
{
    *bad = strcmp(r->method, m) && !(!strcmp(m, "GET") && !strcmp(r->method, "HEAD"));
    return *bad ? http_error(r, 405, "method_not_allowed", "%s needs %s", r->url, m) : MHD_YES;
}

static enum MHD_Result create_question(http_req *r)
{
    if (!http_content_type_is(r, "application/json"))
        return http_error(r, 415, "unsupported_media_type",
                          "send the question as application/json");
    enum MHD_Result ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    char *question = NULL;
    json_t *members = NULL, *q = NULL;
    char id[DX_HTTP_MAX_ID + 1];
    dx_status st =
        api_question_parse(r->body.data ? r->body.data : "", r->body.len, &question, &members);
    if (!st)
        st = api_question_start(r->srv, question, members, id);
    if (!st)
        st = api_question_json(r->srv, id, true, &q);
    free(question);
    json_decref(members);
    if (st == DX_ELIMIT && strstr(dx_errmsg(), "busy"))
        return http_error(r, 429, "busy", "%s", dx_errmsg());
    if (st)
        return http_error_status(r, st);
    char *body = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    if (!body)
        return http_error(r, 500, "internal", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    http_add_headers(resp, "application/json");
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/questions/%s", id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    ret = MHD_queue_response(r->conn, 201, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result list_questions(http_req *r)
{
    const char *q = http_query(r, "q"), *lim = http_query(r, "limit"),
               *before = http_query(r, "before");
    int limit = 50;
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (end == lim || *end || v < 1 || v > (long)DX_HTTP_MAX_LIST)
            return http_error(r, 400, "bad_request", "limit must be from 1 to %u",
                              DX_HTTP_MAX_LIST);
        limit = (int)v;
    }
    if (q && strlen(q) > DX_HTTP_MAX_QUERY)
        return http_error(r, 400, "bad_request", "the search text is over %u bytes",
                          DX_HTTP_MAX_QUERY);
    if (before && !api_id_valid(before, strlen(before)))
        return http_error(r, 400, "bad_request", "before must be a question id");
    json_t *items;
    dx_status st = db_question_list(r->srv->db, q, limit, before, &items);
    if (st)
        return http_error_status(r, st);
    /* questions running now: their live status */
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        pthread_mutex_lock(&r->srv->mu);
        qrun *qr = find_run(r->srv, id);
        if (qr)
            json_object_set_new(it, "status", json_string(qr->status));
        pthread_mutex_unlock(&r->srv->mu);
    }
    size_t n = json_array_size(items);
    json_t *next = n == (size_t)limit ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
    return http_send_json(r, 200, json_pack("{s:o, s:O?}", "questions", items, "next", next));
}

dx_status api_question_delete(http_server *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    qrun *qr = find_run(s, id);
    if (qr) { /* stop it; its worker writes nothing more */
        pthread_mutex_lock(&qr->mu);
        qr->deleted = true;
        atomic_store(&qr->cancel, 1);
        pthread_mutex_unlock(&qr->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return db_question_delete(s->db, id);
}

static enum MHD_Result delete_question(http_req *r, const char *id)
{
    dx_status st = api_question_delete(r->srv, id);
    if (st)
        return http_error_status(r, st);
    return http_send(r, 204, NULL, "", 0, true);
}

static enum MHD_Result rerun_question(http_req *r, const char *id)
{
    enum MHD_Result ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    char *question = NULL;
    json_t *members = NULL, *q = NULL;
    char nid[DX_HTTP_MAX_ID + 1];
    dx_status st = db_question_source(r->srv->db, id, &question, &members);
    if (!st)
        st = api_question_start(r->srv, question, members, nid);
    if (!st)
        st = api_question_json(r->srv, nid, true, &q);
    free(question);
    json_decref(members);
    if (st == DX_ELIMIT && strstr(dx_errmsg(), "busy"))
        return http_error(r, 429, "busy", "%s", dx_errmsg());
    if (st)
        return http_error_status(r, st);
    return http_send_json(r, 201, q);
}

static enum MHD_Result list_members(http_req *r)
{
    const council_config *cfg = r->srv->cfg;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < cfg->n_members; i++) {
        const member_config *mc = &cfg->members[i];
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:i, s:f}", "name", mc->name, "kind",
                                        member_kind_str(mc->kind), "model", mc->model, "max_tokens",
                                        mc->max_tokens, "timeout_s", mc->timeout_s));
    }
    return http_send_json(r, 200,
                          json_pack("{s:o, s:s?, s:s}", "members", arr, "synthesizer",
                                    cfg->synthesizer, "source", cfg->source));
}

static enum MHD_Result list_models(http_req *r)
{
    hub_model *ms = NULL;
    size_t n = 0;
    dx_status st = hub_list(&ms, &n);
    if (st && st != DX_ENOTFOUND)
        return http_error_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "name", ms[i].name,
                                        "display_name", ms[i].display_name, "family", ms[i].family,
                                        "architecture", ms[i].architecture, "size",
                                        (json_int_t)ms[i].size, "source", ms[i].source));
    free(ms);
    return http_send_json(r, 200, json_pack("{s:o}", "models", arr));
}

static enum MHD_Result health(http_req *r)
{
    http_server *s = r->srv;
    pthread_mutex_lock(&s->mu);
    int running = s->running, waiting = queued_locked(s);
    pthread_mutex_unlock(&s->mu);
    return http_send_json(r, 200,
                          json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b}", "status", "ok",
                                    "version", DRUX_VERSION, "schema", db_schema_version(s->db),
                                    "members", (int)s->cfg->n_members, "running", running, "queued",
                                    waiting, "max_running", s->max_running, "pages",
                                    DX_HAVE_PAGES));
}

enum MHD_Result api_route(http_req *r, const char *path)
{
    bool bad;
    enum MHD_Result ret;
    if (!strcmp(path, "/health"))
        return (ret = need_method(r, "GET", &bad)), bad ? ret : health(r);
    if (!strcmp(path, "/members"))
        return (ret = need_method(r, "GET", &bad)), bad ? ret : list_members(r);
    if (!strcmp(path, "/models"))
        return (ret = need_method(r, "GET", &bad)), bad ? ret : list_models(r);
    if (!strcmp(path, "/questions")) {
        if (!strcmp(r->method, "POST"))
            return create_question(r);
        return (ret = need_method(r, "GET", &bad)), bad ? ret : list_questions(r);
    }
    if (!strncmp(path, "/questions/", 11)) {
        const char *id = path + 11, *slash = strchr(id, '/');
        size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
        if (!api_id_valid(id, idlen))
            return http_error(r, 404, "not_found", "no such question");
        char qid[DX_HTTP_MAX_ID + 1];
        memcpy(qid, id, idlen);
        qid[idlen] = '\0';
        if (!slash) {
            if (!strcmp(r->method, "DELETE"))
                return delete_question(r, qid);
            if ((ret = need_method(r, "GET", &bad)), bad)
                return ret;
            json_t *q;
            dx_status st = api_question_json(r->srv, qid, true, &q);
            return st ? http_error_status(r, st) : http_send_json(r, 200, q);
        }
        if (!strcmp(slash, "/events"))
            return (ret = need_method(r, "GET", &bad)), bad ? ret : question_events(r, qid);
        if (!strcmp(slash, "/rerun"))
            return (ret = need_method(r, "POST", &bad)), bad ? ret : rerun_question(r, qid);
    }
    return http_error(r, 404, "not_found", "no API route %.200s (see docs/api.md)", r->url);
}
