/* The OpenAI-compatible endpoints: /v1/models and /v1/chat/completions.
 * Model "council" asks the whole council and answers with the synthesized
 * answer; any other listed model is a local GGUF model run directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/model.h"
#include "gen/gen.h"
#include "hub/hub.h"
#include "server/srv.h"

#define COUNCIL_MODEL "council"
#define MAX_MODELS (DX_MAX_MEMBERS + 64)

typedef struct model_entry {
    char id[DX_HUB_MAX_NAME + 1];
    const char *model; /* what local_registry_get takes: a member's model, or a cache name */
    char cache_name[DX_HUB_MAX_NAME + 1];
} model_entry;

/* Model ids: the council's local models (file name without .gguf), then
 * the models of the cache the engine can chat with (not the sentence
 * encoders). Only these can be run: never a path from a client. */
static size_t list_models(http_server *s, model_entry *out, size_t cap)
{
    const council_config *cfg = jobs_council(s->jobs);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_members && n < cap; i++) {
        const member_config *mc = &cfg->members[i];
        if (mc->kind != MEMBER_LOCAL)
            continue;
        const char *base = strrchr(mc->model, '/') ? strrchr(mc->model, '/') + 1 : mc->model;
        size_t len = strlen(base);
        if (len > 5 && !strcmp(base + len - 5, ".gguf"))
            len -= 5;
        if (len > DX_HUB_MAX_NAME)
            len = DX_HUB_MAX_NAME;
        model_entry e = {.model = mc->model};
        memcpy(e.id, base, len);
        e.id[len] = '\0';
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || !strcmp(out[k].id, e.id);
        if (!dup)
            out[n++] = e;
    }
    hub_model *ms = NULL;
    size_t nm = 0;
    if (hub_list(&ms, &nm) == DX_OK) {
        for (size_t i = 0; i < nm && n < cap; i++) {
            if (!eng_arch_supported(ms[i].architecture))
                continue; /* an embedding model (bert) or one the engine can't run: no chat */
            bool dup = false;
            for (size_t k = 0; k < n; k++)
                dup = dup || !strcmp(out[k].id, ms[i].name);
            if (dup)
                continue;
            model_entry *e = &out[n++];
            memset(e, 0, sizeof *e);
            snprintf(e->id, sizeof e->id, "%s", ms[i].name);
            snprintf(e->cache_name, sizeof e->cache_name, "%s", ms[i].name);
            e->model = NULL;
        }
        free(ms);
    }
    return n;
}

static enum MHD_Result models(http_req *r)
{
    model_entry *m = calloc(MAX_MODELS, sizeof *m);
    if (!m)
        return http_error(r, 500, "internal", "out of memory");
    size_t n = list_models(r->srv, m, MAX_MODELS);
    json_t *data = json_array();
    json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", COUNCIL_MODEL, "object",
                                          "model", "created", 0, "owned_by", "drux"));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", m[i].id, "object",
                                              "model", "created", 0, "owned_by", "local"));
    free(m);
    return http_send_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void completion_id(char out[40])
{
    static atomic_uint seq;
    snprintf(out, 40, "chatcmpl-%lx%x", (unsigned long)time(NULL), atomic_fetch_add(&seq, 1));
}

static json_t *chunk(const char *id, const char *model, long created, json_t *delta,
                     const char *finish)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}", "id", id, "object",
                     "chat.completion.chunk", "created", (json_int_t)created, "model", model,
                     "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

static dx_status write_data(jobs_stream *out, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = jobs_stream_write(out, "data: ", 6);
    if (!st)
        st = jobs_stream_write(out, s, strlen(s));
    if (!st)
        st = jobs_stream_write(out, "\n\n", 2);
    free(s);
    return st;
}

/* A streamed completion: a thread produces chunks into `out`, the
 * connection follows it. Both hold a reference. */
typedef struct pump {
    atomic_int refs, gone;
    http_server *s;
    jobs_stream *out;
    api_chat chat;
    const char *model; /* for local: what local_registry_get takes */
    char model_buf[DX_HUB_MAX_NAME + 1];
    char qid[DX_HTTP_MAX_ID + 1]; /* council: the question */
    char id[40];
    long created;
    bool council, have_slot;
    size_t off;
} pump;

static void pump_unref(pump *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    jobs_stream_unref(p->out);
    api_chat_free(&p->chat);
    free(p);
}

typedef struct gen_sink {
    pump *p;      /* streaming, or */
    dx_buf *text; /* collecting */
    http_server *s;
    const atomic_int *gone;
} gen_sink;

static int on_piece(void *ud, const char *piece, size_t len)
{
    gen_sink *g = ud;
    if (atomic_load(jobs_stopping(g->s->jobs)) || (g->gone && atomic_load(g->gone)))
        return 1;
    if (g->text)
        return dx_buf_append(g->text, piece, len) != DX_OK;
    json_t *d = json_pack("{s:s%}", "content", piece, len);
    return write_data(g->p->out, chunk(g->p->id, g->p->chat.model, g->p->created, d, NULL)) !=
           DX_OK;
}

static enum chat_role role_of(const char *r)
{
    return !strcmp(r, "user") ? CHAT_USER : !strcmp(r, "assistant") ? CHAT_ASSISTANT : CHAT_SYSTEM;
}

/* Runs a local model on the conversation. */
static dx_status run_local(http_server *s, const char *model, const api_chat *c, gen_sink *sink,
                           gen_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->stop = "length";
    gen_model *gm;
    dx_status st = local_registry_get(jobs_registry(s->jobs), model, &gm);
    if (st)
        return st;
    chat_msg msgs[API_CHAT_MAX_MESSAGES];
    for (size_t i = 0; i < c->n_messages; i++)
        msgs[i] = (chat_msg){role_of(c->roles[i]), c->contents[i]};
    gen_params p = gen_defaults();
    p.max_tokens = c->max_tokens > 0 ? c->max_tokens : 256;
    p.sampling.temperature = c->has_temperature ? (float)c->temperature : 0.0f;
    if (c->has_top_p)
        p.sampling.top_p = (float)c->top_p;
    if (c->has_seed)
        p.sampling.seed = c->seed;
    st = gen_generate_chat(gm, &p, msgs, c->n_messages, on_piece, sink, stats);
    return st;
}

/* A local model's failure told without file-system paths (the messages from
 * below name the model's file). */
static dx_status local_failure(dx_status st)
{
    char msg[600];
    jobs_scrub_paths(dx_errmsg(), msg, sizeof msg);
    return dx_fail(st, "%s", msg);
}

static const char *finish_of(const gen_stats *st)
{
    return !strcmp(st->stop, "length") || !strcmp(st->stop, "context") ? "length" : "stop";
}

/* Sends text as content chunks of at most 64 bytes, cut after a word and
 * on whole characters, as a model would stream it. */
static dx_status send_pieces(pump *p, const char *ans, size_t n)
{
    dx_status st = DX_OK;
    for (size_t i = 0; !st && i < n && !atomic_load(&p->gone);) {
        size_t j = i;
        while (j < n && ans[j] != ' ' && ans[j] != '\n')
            j++;
        while (j < n && (ans[j] == ' ' || ans[j] == '\n'))
            j++;
        if (j - i > 64 || j == i)
            j = i + (n - i < 64 ? n - i : 64);
        while (j < n && ((unsigned char)ans[j] & 0xC0) == 0x80)
            j++; /* whole characters */
        st = write_data(p->out, chunk(p->id, p->chat.model, p->created,
                                      json_pack("{s:s%}", "content", ans + i, j - i), NULL));
        i = j;
    }
    return st;
}

/* The council's answer as it is written: each "answer" event of the
 * question becomes a content chunk at once; at the end, what the result
 * adds (the disputed points) follows, and a written answer that failed the
 * check is followed by a note and the answer that replaced it. */
static dx_status pump_council(pump *p)
{
    http_server *s = p->s;
    jobs_stream *ev = NULL;
    json_t *state = NULL, *q = NULL;
    size_t off = 0;
    dx_buf streamed = dx_buf_make(DX_MAX_ANSWER_BYTES), acc = dx_buf_make(DX_HTTP_MAX_EVENT_LOG);
    dx_status st = jobs_question_follow(s->jobs, p->qid, &ev, &off, &state);
    json_decref(state);
    char buf[4096];
    long n;
    while (!st && ev && (n = jobs_stream_read(ev, &off, buf, sizeof buf, 1000, &p->gone)) >= 0) {
        if (n == 0 || dx_buf_append(&acc, buf, (size_t)n))
            continue;
        /* whole events: "event: NAME\ndata: JSON\n\n" */
        char *e;
        while (!st && acc.len && (e = strstr(acc.data, "\n\n"))) {
            size_t used = (size_t)(e - acc.data) + 2;
            static const char head[] = "event: answer\ndata: ";
            if (!strncmp(acc.data, head, sizeof head - 1)) {
                json_t *j =
                    json_loadb(acc.data + sizeof head - 1, used - 2 - (sizeof head - 1), 0, NULL);
                const char *d = json_string_value(json_object_get(j, "delta"));
                size_t dl = json_string_length(json_object_get(j, "delta"));
                if (d && dl) {
                    dx_buf_append(&streamed, d, dl);
                    st = write_data(p->out, chunk(p->id, p->chat.model, p->created,
                                                  json_pack("{s:s%}", "content", d, dl), NULL));
                }
                json_decref(j);
            }
            memmove(acc.data, acc.data + used, acc.len - used);
            acc.len -= used;
            acc.data[acc.len] = '\0';
        }
    }
    jobs_stream_unref(ev);
    if (!st && !(st = jobs_question_wait(s->jobs, p->qid, &q))) {
        json_t *res = json_object_get(q, "result");
        const char *ans = json_string_value(json_object_get(res, "answer"));
        size_t al = ans ? strlen(ans) : 0;
        if (!ans) {
            const char *why = json_string_value(json_object_get(q, "error"));
            st = dx_fail(DX_ENET, "the council gave no answer: %s",
                         why ? why : "no member answered");
        } else if (streamed.len <= al &&
                   (!streamed.len || !memcmp(ans, streamed.data, streamed.len))) {
            st = send_pieces(p, ans + streamed.len, al - streamed.len);
        } else {
            const char *why = json_string_value(json_object_get(res, "answer_check"));
            char note[600];
            snprintf(note, sizeof note,
                     "\n\n---\n\n_The answer above failed drux's check (%.400s); this one is built "
                     "from the members' own points:_\n\n",
                     why ? why : "it changed");
            st = send_pieces(p, note, strlen(note));
            if (!st)
                st = send_pieces(p, ans, al);
        }
    }
    json_decref(q);
    dx_buf_free(&streamed);
    dx_buf_free(&acc);
    return st;
}

static void *pump_run(void *arg)
{
    pump *p = arg;
    http_server *s = p->s;
    dx_status st = DX_OK;
    write_data(p->out, chunk(p->id, p->chat.model, p->created,
                             json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
    const char *finish = "stop";
    if (p->council) {
        st = pump_council(p);
    } else {
        gen_sink sink = {.p = p, .s = s, .gone = &p->gone};
        gen_stats gs;
        if ((st = run_local(s, p->model, &p->chat, &sink, &gs)))
            local_failure(st);
        finish = finish_of(&gs);
        if (p->have_slot)
            jobs_slot_leave(s->jobs);
    }
    if (st) {
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", "generation_failed", "message",
                              dx_errmsg());
        write_data(p->out, e);
    } else {
        write_data(p->out, chunk(p->id, p->chat.model, p->created, json_object(), finish));
    }
    jobs_stream_write(p->out, "data: [DONE]\n\n", 14);
    jobs_stream_close(p->out);
    jobs_thread_leave(s->jobs);
    pump_unref(p);
    return NULL;
}

static ssize_t pump_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    pump *p = cls;
    /* the pump always closes its stream (on shutdown after an error chunk) */
    long n = jobs_stream_read(p->out, &p->off, buf, max, 15000, NULL);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) {
        static const char ka[] = ": keep-alive\n\n";
        memcpy(buf, ka, sizeof ka - 1 < max ? sizeof ka - 1 : max);
        return (ssize_t)(sizeof ka - 1 < max ? sizeof ka - 1 : max);
    }
    return n;
}

static void pump_gone(void *cls)
{
    pump *p = cls;
    atomic_store(&p->gone, 1);
    pump_unref(p);
}

static enum MHD_Result start_stream(http_req *r, pump *p)
{
    http_server *s = r->srv;
    if (!(p->out = jobs_stream_new(DX_HTTP_MAX_STREAM + DX_MAX_ANSWER_BYTES * 4))) {
        if (p->have_slot)
            jobs_slot_leave(s->jobs);
        pump_unref(p);
        return http_error(r, 500, "internal", "out of memory");
    }
    atomic_store(&p->refs, 2);
    jobs_thread_enter(s->jobs);
    int rc = jobs_thread_spawn(pump_run, p);
    if (rc) {
        jobs_thread_leave(s->jobs);
        if (p->have_slot)
            jobs_slot_leave(s->jobs);
        atomic_store(&p->refs, 1);
        pump_unref(p);
        return http_error(r, 500, "internal", "can't start a thread");
    }
    return http_send_stream(r, "text/event-stream; charset=utf-8", pump_read, p, pump_gone);
}

static json_t *completion(const char *id, const char *model, long created, const char *text,
                          size_t len, const char *finish, int prompt_tokens, int completion_tokens)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s%}, s:s}], s:{s:i, s:i, s:i}}", "id",
                     id, "object", "chat.completion", "created", (json_int_t)created, "model",
                     model, "choices", "index", 0, "message", "role", "assistant", "content", text,
                     len, "finish_reason", finish, "usage", "prompt_tokens", prompt_tokens,
                     "completion_tokens", completion_tokens, "total_tokens",
                     prompt_tokens + completion_tokens);
}

/* The local model a request names: a member's model, or a cache name.
 * DX_ENOTFOUND when /v1/models does not list it. */
static dx_status resolve_local(http_server *s, pump *p)
{
    model_entry *m = calloc(MAX_MODELS, sizeof *m);
    if (!m)
        return dx_fail(DX_ENOMEM, "out of memory");
    size_t n = list_models(s, m, MAX_MODELS);
    for (size_t i = 0; i < n && !p->model; i++)
        if (!strcmp(m[i].id, p->chat.model)) {
            snprintf(p->model_buf, sizeof p->model_buf, "%s",
                     m[i].model ? m[i].model : m[i].cache_name);
            p->model = p->model_buf;
        }
    free(m);
    if (!p->model)
        return dx_fail(DX_ENOTFOUND,
                       "no model '%.200s' here: GET /v1/models lists them (\"council\" asks all)",
                       p->chat.model);
    return DX_OK;
}

/* The whole reply of the council: its question's answer, once it ends. */
static enum MHD_Result reply_council(http_req *r, pump *p)
{
    json_t *q = NULL, *body = NULL;
    dx_status st = jobs_question_wait(r->srv->jobs, p->qid, &q);
    if (st) {
        json_decref(q);
        return http_error_status(r, st);
    }
    json_t *res = json_object_get(q, "result");
    const char *ans = json_string_value(json_object_get(res, "answer"));
    if (!ans) {
        const char *why = json_string_value(json_object_get(q, "error"));
        enum MHD_Result ret = http_error(r, 502, "council_failed", "the council gave no answer: %s",
                                         why ? why : "no member answered");
        json_decref(q);
        return ret;
    }
    int toks = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(q, "members"), i, m) toks +=
        (int)json_integer_value(json_object_get(m, "tokens"));
    body = completion(p->id, COUNCIL_MODEL, p->created, ans, strlen(ans), "stop", 0, toks);
    json_t *an = json_object_get(res, "analysis");
    if (body)
        json_object_set_new(body, "drux",
                            json_pack("{s:s, s:O?, s:O?}", "question_id", p->qid, "label",
                                      json_object_get(an, "label"), "consensus",
                                      json_object_get(an, "consensus")));
    json_decref(q);
    return http_send_json(r, 200, body);
}

/* The whole reply of a local model; gives the slot back. */
static enum MHD_Result reply_local(http_req *r, pump *p)
{
    http_server *s = r->srv;
    dx_buf text = dx_buf_make(DX_MAX_ANSWER_BYTES);
    gen_sink sink = {.text = &text, .s = s};
    gen_stats gs;
    dx_status st = run_local(s, p->model, &p->chat, &sink, &gs);
    if (st)
        local_failure(st);
    jobs_slot_leave(s->jobs);
    p->have_slot = false;
    json_t *body = NULL;
    if (!st)
        body = completion(p->id, p->chat.model, p->created, text.data ? text.data : "", text.len,
                          finish_of(&gs), gs.prompt_tokens, gs.gen_tokens);
    dx_buf_free(&text);
    return st ? http_error_status(r, st) : http_send_json(r, 200, body);
}

/* A parsed request that holds what it needs to run: the council's question
 * started, or the local model found and a slot taken. */
static dx_status chat_begin(http_req *r, pump *p)
{
    dx_status st = api_chat_parse(r->body.data ? r->body.data : "", r->body.len, &p->chat);
    if (st)
        return st;
    p->council = !strcmp(p->chat.model, COUNCIL_MODEL);
    if (p->council) { /* asked anonymously: the free members (docs/accounts.md); the earlier
                       * turns of the conversation are its thread */
        acct_selection sel;
        if ((st = acct_select_free(r, &sel)))
            return st;
        council_turn turns[DB_MAX_THREAD_TURNS]; /* the latest: members trim further */
        size_t n = 0;
        if ((st = api_chat_turns(&p->chat, turns, DB_MAX_THREAD_TURNS, &n)))
            return st;
        return jobs_question_start_turns(r->srv->jobs, p->chat.last_user,
                                         sel.all ? NULL : sel.names, sel.all ? 0 : sel.n,
                                         n ? turns : NULL, n, NULL, p->qid);
    }
    if ((st = resolve_local(r->srv, p)) || (st = jobs_slot_enter(r->srv->jobs)))
        return st;
    p->have_slot = true;
    return DX_OK;
}

static enum MHD_Result chat_completions(http_req *r)
{
    if (strcmp(r->method, "POST"))
        return http_error(r, 405, "method_not_allowed", "use POST");
    if (!http_content_type_is(r, "application/json"))
        return http_error(r, 415, "unsupported_media_type", "send the request as application/json");
    enum MHD_Result ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    pump *p = calloc(1, sizeof *p);
    if (!p)
        return http_error(r, 500, "internal", "out of memory");
    atomic_store(&p->refs, 1);
    p->s = r->srv;
    p->created = (long)time(NULL);
    completion_id(p->id);
    dx_status st = chat_begin(r, p);
    if (st) {
        ret = st == DX_ENOTFOUND && !p->council
                  ? http_error(r, 404, "model_not_found", "%s", dx_errmsg())
                  : http_error_status(r, st);
        pump_unref(p);
        return ret;
    }
    if (p->chat.stream)
        return start_stream(r, p);
    ret = p->council ? reply_council(r, p) : reply_local(r, p);
    pump_unref(p);
    return ret;
}

enum MHD_Result openai_route(http_req *r, const char *path)
{
    if (!strcmp(path, "/models")) {
        if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
            return http_error(r, 405, "method_not_allowed", "use GET");
        return models(r);
    }
    if (!strcmp(path, "/chat/completions"))
        return chat_completions(r);
    return http_error(r, 404, "not_found",
                      "no route %.200s (this server offers /v1/models and "
                      "/v1/chat/completions)",
                      r->url);
}
