/* /api/v1: routes over the question runtime (src/jobs), question events as
 * server-sent events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/version.h"
#include "hub/hub.h"
#include "server/auth.h"
#include "server/srv.h"

#define SSE_KEEPALIVE_MS 15000

/* ---- SSE ---- */

typedef struct sse_reader {
    jobs_stream *ev; /* NULL: only the prefix */
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
    long n = jobs_stream_read(sr->ev, &sr->off, buf, max, SSE_KEEPALIVE_MS, NULL);
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
    jobs_stream_unref(sr->ev);
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
    acct_question a;
    dx_status ast = acct_question_access(r, id, false, &a);
    if (ast)
        return http_error_status(r, ast);
    sse_reader *sr = calloc(1, sizeof *sr);
    if (!sr)
        return http_error(r, 500, "internal", "out of memory");
    json_t *state = NULL;
    dx_status st = jobs_question_follow(r->srv->jobs, id, &sr->ev, &sr->off, &state);
    if (st) {
        sse_free(sr);
        return http_error_status(r, st);
    }
    dx_buf b = dx_buf_make(2 * DX_MAX_JSON_BYTES + DX_HTTP_MAX_EVENT_LOG);
    st = append_event(&b, "state", state);
    /* a finished question: the state, then its end */
    const char *status = json_string_value(json_object_get(state, "status"));
    question_status qs = QUESTION_INTERRUPTED;
    question_status_parse(status, &qs);
    if (!st && !sr->ev) {
        if (qs == QUESTION_DONE || qs == QUESTION_FAILED)
            st = append_event(&b, "result", state);
        else {
            json_t *e = json_pack("{s:s, s:s}", "code", question_status_str(qs), "message",
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

/* 201 with the new question (steals q) and its Location. */
static enum MHD_Result send_created(http_req *r, json_t *q, const char *id)
{
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
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/questions/%s", id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    enum MHD_Result ret = MHD_queue_response(r->conn, 201, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Starts a question with the members named in a parsed request (an array of
 * names, or NULL for the whole council). */
static bool start_question(http_req *r, const char *question, json_t *members, char *id,
                           enum MHD_Result *ret)
{
    const char *names[DX_MAX_MEMBERS];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(members) && n < DX_MAX_MEMBERS; i++)
        names[n++] = json_string_value(json_array_get(members, i));
    acct_selection sel;
    dx_status st = acct_select(r, members ? names : NULL, n, NULL, &sel);
    if (st) {
        *ret = acct_error(r, st);
        return false;
    }
    return acct_start(r, question, &sel, id, ret);
}

/* A question posted to the API: a JSON body, from someone who may write, within
 * the rate limit; false with *ret the refusal otherwise. */
static bool question_post_ok(http_req *r, enum MHD_Result *ret)
{
    if (!http_content_type_is(r, "application/json")) {
        *ret =
            http_error(r, 415, "unsupported_media_type", "send the question as application/json");
        return false;
    }
    return acct_api_write_ok(r, ret) && http_rate_ok(r, ret);
}

static enum MHD_Result create_question(http_req *r)
{
    enum MHD_Result ret;
    if (!question_post_ok(r, &ret))
        return ret;
    char *question = NULL;
    json_t *members = NULL, *q = NULL;
    char id[DX_HTTP_MAX_ID + 1];
    dx_status st =
        api_question_parse(r->body.data ? r->body.data : "", r->body.len, &question, &members);
    if (st)
        ret = http_error_status(r, st);
    bool ok = !st && start_question(r, question, members, id, &ret);
    free(question);
    json_decref(members);
    if (!ok)
        return ret;
    if ((st = jobs_question_json(r->srv->jobs, id, true, &q)))
        return http_error_status(r, st);
    return send_created(r, q, id);
}

static enum MHD_Result create_followup(http_req *r, const char *parent)
{
    enum MHD_Result ret;
    if (!question_post_ok(r, &ret))
        return ret;
    char *question = NULL;
    json_t *members = NULL, *q = NULL;
    char id[DX_HTTP_MAX_ID + 1];
    acct_question a; /* only who may change the thread continues it */
    dx_status st = acct_question_access(r, parent, true, &a);
    if (!st)
        st = api_question_parse(r->body.data ? r->body.data : "", r->body.len, &question, &members);
    bool ok = !st && acct_followup(r, parent, question, members, id, &ret);
    if (ok)
        st = jobs_question_json(r->srv->jobs, id, true, &q);
    free(question);
    json_decref(members);
    if (!st && !ok)
        return ret; /* acct_followup queued why */
    if (st)
        return http_error_status(r, st);
    return send_created(r, q, id);
}

/* A download: the body with Content-Disposition naming the file. */
static enum MHD_Result send_download(http_req *r, const char *mime, const char *name, char *body,
                                     size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    http_add_headers(resp, mime);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /api/v1/threads/<id>[/export.md|/export.json]: id is any turn's. */
static enum MHD_Result thread_route(http_req *r, const char *id, const char *rest)
{
    json_t *t = NULL;
    acct_question a; /* the thread is read as its question is: by its owner or its share link */
    dx_status st = acct_question_access(r, id, false, &a);
    if (!st)
        st = jobs_thread_json(r->srv->jobs, id, &t);
    if (st)
        return http_error_status(r, st);
    if (!rest)
        return http_send_json(r, 200, t);
    char name[64];
    const char *thread = json_string_value(json_object_get(t, "thread"));
    if (!strcmp(rest, "/export.json")) {
        snprintf(name, sizeof name, "drux-thread-%s.json", thread);
        char *body = json_dumps(t, JSON_INDENT(2));
        json_decref(t);
        return body ? send_download(r, "application/json", name, body, strlen(body))
                    : http_error(r, 500, "internal", "out of memory");
    }
    snprintf(name, sizeof name, "drux-thread-%s.md", thread);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    st = export_thread_md(&b, t);
    json_decref(t);
    if (st) {
        dx_buf_free(&b);
        return http_error_status(r, st);
    }
    return send_download(r, "text/markdown; charset=utf-8", name, b.data, b.len);
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
    acct_who(r);
    dx_status st = jobs_question_list_of(r->srv->jobs, r->uid, q, limit, before, &items);
    if (st)
        return http_error_status(r, st);
    size_t n = json_array_size(items);
    json_t *next = n == (size_t)limit ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
    return http_send_json(r, 200, json_pack("{s:o, s:O?}", "questions", items, "next", next));
}

static enum MHD_Result delete_question(http_req *r, const char *id)
{
    enum MHD_Result ret;
    acct_question a;
    if (!acct_api_write_ok(r, &ret))
        return ret;
    dx_status st = acct_question_access(r, id, true, &a);
    if (!st)
        st = jobs_question_delete(r->srv->jobs, id);
    if (st)
        return http_error_status(r, st);
    return http_send(r, 204, NULL, "", 0, true);
}

static enum MHD_Result rerun_question(http_req *r, const char *id)
{
    enum MHD_Result ret;
    if (!acct_api_write_ok(r, &ret) || !http_rate_ok(r, &ret))
        return ret;
    json_t *q = NULL;
    char nid[DX_HTTP_MAX_ID + 1];
    acct_question a;
    dx_status st = acct_question_access(r, id, true, &a);
    if (st)
        return http_error_status(r, st);
    if (!acct_rerun(r, id, nid, &ret))
        return ret;
    if (!st)
        st = jobs_question_json(r->srv->jobs, nid, true, &q);
    if (st)
        return http_error_status(r, st);
    return send_created(r, q, nid);
}

static enum MHD_Result list_members(http_req *r)
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < cfg->n_members; i++) {
        const member_config *mc = &cfg->members[i];
        char model[256];
        jobs_model_name(mc->model, model, sizeof model);
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:i, s:f}", "name", mc->name, "kind",
                                        member_kind_str(mc->kind), "model", model, "max_tokens",
                                        mc->max_tokens, "timeout_s", mc->timeout_s));
    }
    /* the config file by name: no file-system path leaves the server */
    const char *src =
        cfg->source && strrchr(cfg->source, '/') ? strrchr(cfg->source, '/') + 1 : cfg->source;
    return http_send_json(r, 200,
                          json_pack("{s:o, s:s?, s:s?}", "members", arr, "synthesizer",
                                    cfg->synthesizer, "source", src));
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
    jobs *j = r->srv->jobs;
    jobs_counts c;
    jobs_health(j, &c);
    return http_send_json(r, 200,
                          json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b}", "status", "ok",
                                    "version", DRUX_VERSION, "schema", jobs_schema_version(j),
                                    "members", (int)jobs_council(j)->n_members, "running",
                                    c.running, "queued", c.queued, "max_running", c.max_running,
                                    "pages", r->srv->pages));
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
        char qid[DX_HTTP_MAX_ID + 1];
        const char *slash;
        if (!api_path_id(path + 11, qid, &slash))
            return http_error(r, 404, "not_found", "no such question");
        if (!slash) {
            if (!strcmp(r->method, "DELETE"))
                return delete_question(r, qid);
            if ((ret = need_method(r, "GET", &bad)), bad)
                return ret;
            json_t *q = NULL;
            acct_question a;
            dx_status st = acct_question_access(r, qid, false, &a);
            if (!st)
                st = jobs_question_json(r->srv->jobs, qid, true, &q);
            return st ? http_error_status(r, st) : http_send_json(r, 200, q);
        }
        if (!strcmp(slash, "/events"))
            return (ret = need_method(r, "GET", &bad)), bad ? ret : question_events(r, qid);
        if (!strcmp(slash, "/rerun"))
            return (ret = need_method(r, "POST", &bad)), bad ? ret : rerun_question(r, qid);
        if (!strcmp(slash, "/followups"))
            return (ret = need_method(r, "POST", &bad)), bad ? ret : create_followup(r, qid);
    }
    if (!strncmp(path, "/threads/", 9)) {
        const char *id = path + 9, *slash = strchr(id, '/');
        size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
        if (!api_id_valid(id, idlen))
            return http_error(r, 404, "not_found", "no such thread");
        char tid[DX_HTTP_MAX_ID + 1];
        memcpy(tid, id, idlen);
        tid[idlen] = '\0';
        if (!slash || !strcmp(slash, "/export.md") || !strcmp(slash, "/export.json"))
            return (ret = need_method(r, "GET", &bad)), bad ? ret : thread_route(r, tid, slash);
    }
    return http_error(r, 404, "not_found", "no API route %.200s (see docs/api.md)", r->url);
}
