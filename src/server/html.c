/* The HTML routes over pages.c and the question runtime. An API-only server
 * (http_opts.api_only) answers every HTML path with a 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pages.h"
#include "server/srv.h"

static enum MHD_Result send_page(http_req *r, dx_status st, dx_buf *b)
{
    enum MHD_Result ret =
        st ? http_error_status(r, st)
           : http_send(r, 200, "text/html; charset=utf-8", b->data ? b->data : "", b->len, true);
    dx_buf_free(b);
    return ret;
}

static enum MHD_Result home(http_req *r)
{
    json_t *recent = NULL;
    dx_status st = jobs_question_list(r->srv->jobs, NULL, 10, NULL, &recent);
    if (st)
        return http_error_status(r, st);
    json_t *examples = json_pack("[s, s, s]", "Why is the sky blue?", "How long is a marathon?",
                                 "What is the capital of Australia?");
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    st = page_home(&b, recent, examples, token);
    json_decref(recent);
    json_decref(examples);
    return send_page(r, st, &b);
}

static enum MHD_Result question_page(http_req *r, const char *id)
{
    json_t *q;
    dx_status st = jobs_question_json(r->srv->jobs, id, true, &q);
    if (st)
        return http_error_status(r, st);
    const char *frag = http_query(r, "fragment");
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    st = page_question(&b, q, frag && !strcmp(frag, "1"), token);
    json_decref(q);
    return send_page(r, st, &b);
}

#define HISTORY_PAGE 50 /* questions on one history page */

static enum MHD_Result history(http_req *r)
{
    const char *q = http_query(r, "q");
    if (q && strlen(q) > DX_HTTP_MAX_QUERY)
        return http_error(r, 400, "bad_request", "the search text is over %u bytes",
                          DX_HTTP_MAX_QUERY);
    const char *before = http_query(r, "before");
    if (before && !api_id_valid(before, strlen(before)))
        return http_error(r, 400, "bad_request", "before must be a question id");
    /* one more than a page, to know whether an "older" link leads anywhere */
    json_t *items;
    dx_status st = jobs_question_list(r->srv->jobs, q, HISTORY_PAGE + 1, before, &items);
    if (st)
        return http_error_status(r, st);
    const bool more = json_array_size(items) > HISTORY_PAGE;
    if (more)
        json_array_remove(items, HISTORY_PAGE);
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    st = page_history(&b, items, q ? q : "", before, more, token);
    json_decref(items);
    return send_page(r, st, &b);
}

/* A posted form of this server's pages: urlencoded, with the session's token.
 * False with the refusal queued in *ret. */
static bool form_ok(http_req *r, enum MHD_Result *ret)
{
    if (!http_content_type_is(r, "application/x-www-form-urlencoded")) {
        *ret = http_error(r, 415, "unsupported_media_type",
                          "send the form as application/x-www-form-urlencoded");
        return false;
    }
    char token[HTTP_TOKEN_LEN + 1];
    if (api_form_value(r->body.data ? r->body.data : "", r->body.len, "token", token,
                       sizeof token) ||
        !http_guard_form_ok(r, token)) {
        *ret = http_error(r, 403, "bad_form_token",
                          "this form has expired or did not come from this server's pages: "
                          "reload the page and send it again");
        return false;
    }
    return true;
}

static enum MHD_Result ask(http_req *r)
{
    enum MHD_Result ret;
    if (!form_ok(r, &ret))
        return ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    char *q = malloc(DX_MAX_QUESTION_BYTES + 1);
    if (!q)
        return http_error(r, 500, "internal", "out of memory");
    char id[DX_HTTP_MAX_ID + 1];
    dx_status st = api_form_value(r->body.data ? r->body.data : "", r->body.len, "q", q,
                                  DX_MAX_QUESTION_BYTES + 1);
    if (st == DX_ENOTFOUND)
        st = dx_fail(DX_EARG, "the form has no question (field q)");
    if (!st)
        st = jobs_question_start(r->srv->jobs, q, NULL, 0, id);
    free(q);
    if (st)
        return http_error_status(r, st);
    char loc[64];
    snprintf(loc, sizeof loc, "/q/%s", id);
    return http_redirect(r, loc);
}

static enum MHD_Result static_file(http_req *r, const char *path)
{
    const unsigned char *data;
    size_t len;
    const char *mime;
    if (!web_asset(path, &data, &len, &mime))
        return http_error(r, 404, "not_found", "no such file");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    http_add_headers(resp, mime);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=300");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result html_route(http_req *r, const char *path, bool *handled)
{
    *handled = true;
    if (!r->srv->pages)
        return http_error(r, 404, "not_found",
                          "no page at %.200s: this server serves the API only (/api/v1, /v1)",
                          r->url);
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    bool post = !strcmp(r->method, "POST");
    if (!strcmp(path, "/") && get)
        return home(r);
    if (!strcmp(path, "/history") && get)
        return history(r);
    if (!strcmp(path, "/ask") && post)
        return ask(r);
    if (!strncmp(path, "/static/", 8) && get)
        return static_file(r, path);
    if (!strncmp(path, "/q/", 3)) {
        char qid[DX_HTTP_MAX_ID + 1];
        const char *slash;
        if (!api_path_id(path + 3, qid, &slash))
            return http_error(r, 404, "not_found", "no such question");
        if (!slash && get)
            return question_page(r, qid);
        enum MHD_Result ret;
        if (slash && (!strcmp(slash, "/delete") || !strcmp(slash, "/rerun")) && post &&
            !form_ok(r, &ret))
            return ret;
        if (slash && !strcmp(slash, "/delete") && post) {
            dx_status st = jobs_question_delete(r->srv->jobs, qid);
            return st ? http_error_status(r, st) : http_redirect(r, "/history");
        }
        if (slash && !strcmp(slash, "/rerun") && post) {
            if (!http_rate_ok(r, &ret))
                return ret;
            char nid[DX_HTTP_MAX_ID + 1];
            dx_status st = jobs_question_rerun(r->srv->jobs, qid, nid);
            if (st)
                return http_error_status(r, st);
            char loc[64];
            snprintf(loc, sizeof loc, "/q/%s", nid);
            return http_redirect(r, loc);
        }
    }
    *handled = false;
    return MHD_NO;
}
