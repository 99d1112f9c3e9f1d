/* The HTML routes over pages.c and the question runtime. An API-only server
 * (http_opts.api_only) answers every HTML path with a 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
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

/* The viewer of the pages this request renders (pages.h). */
static void viewer_of(http_req *r, page_viewer *v, premium_view *pv)
{
    acct_who(r);
    memset(v, 0, sizeof *v);
    v->account = r->uid ? r->uname : NULL;
    v->can_change = true;
    v->premium = acct_premium_view(r, pv);
}

static enum MHD_Result home(http_req *r)
{
    json_t *recent = NULL;
    page_viewer v;
    premium_view pv;
    viewer_of(r, &v, &pv);
    dx_status st = jobs_question_list_of(r->srv->jobs, r->uid, NULL, 10, NULL, &recent);
    if (st)
        return http_error_status(r, st);
    json_t *examples = json_pack("[s, s, s]", "Why is the sky blue?", "How long is a marathon?",
                                 "What is the capital of Australia?");
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    page_viewer_set(&v);
    st = page_home(&b, recent, examples, token);
    page_viewer_set(NULL);
    json_decref(recent);
    json_decref(examples);
    return send_page(r, st, &b);
}

/* The page of question id is the page of its thread: every turn, the last
 * one live. */
static enum MHD_Result question_page(http_req *r, const char *id)
{
    json_t *t = NULL;
    acct_question a;
    page_viewer v;
    premium_view pv;
    viewer_of(r, &v, &pv);
    dx_status st = acct_question_access(r, id, false, &a);
    if (!st)
        st = jobs_thread_json(r->srv->jobs, id, &t);
    if (st)
        return http_error_status(r, st);
    const char *frag = http_query(r, "fragment");
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    v.can_change = a.may_change;
    v.share = a.owner && a.owner == r->uid ? a.share : NULL;
    v.via_share = a.via_share ? a.share : NULL;
    page_viewer_set(&v);
    st = page_thread(&b, json_object_get(t, "questions"), frag && !strcmp(frag, "1"), token);
    page_viewer_set(NULL);
    json_decref(t);
    return send_page(r, st, &b);
}

/* Deleting a turn deletes the later ones too: only with confirm=1 (the
 * script's dialog adds it, the confirmation page's form carries it);
 * without, the confirmation page. Back to what is left of the thread. */
static enum MHD_Result delete_turn(http_req *r, const char *id)
{
    char confirm[8];
    bool confirmed = api_form_value(r->body.data ? r->body.data : "", r->body.len, "confirm",
                                    confirm, sizeof confirm) == DX_OK &&
                     !strcmp(confirm, "1");
    json_t *t;
    dx_status st = jobs_thread_json(r->srv->jobs, id, &t);
    if (st)
        return http_error_status(r, st);
    json_t *turns = json_object_get(t, "questions");
    char thread[DX_HTTP_MAX_ID + 1];
    snprintf(thread, sizeof thread, "%s", json_string_value(json_object_get(t, "thread")));
    bool first = !strcmp(json_string_value(json_object_get(json_array_get(turns, 0), "id")), id);
    if (!confirmed) {
        char token[HTTP_TOKEN_LEN + 1];
        http_guard_form_token(r, token);
        dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
        st = page_delete_confirm(&b, turns, id, token);
        json_decref(t);
        return send_page(r, st, &b);
    }
    json_decref(t);
    if ((st = jobs_question_delete(r->srv->jobs, id)))
        return http_error_status(r, st);
    char loc[64];
    snprintf(loc, sizeof loc, "/q/%s", thread);
    return http_redirect(r, first ? "/history" : loc);
}

/* The form's question (field q) into q, which holds DX_MAX_QUESTION_BYTES + 1. */
static dx_status form_question(http_req *r, char *q)
{
    dx_status st = api_form_value(r->body.data ? r->body.data : "", r->body.len, "q", q,
                                  DX_MAX_QUESTION_BYTES + 1);
    if (st == DX_ENOTFOUND)
        st = dx_fail(DX_EARG, "the form has no question (field q)");
    return st;
}

/* A follow-up from the page: the next turn of the thread of id. */
static enum MHD_Result followup(http_req *r, const char *id)
{
    enum MHD_Result ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    char *q = malloc(DX_MAX_QUESTION_BYTES + 1);
    if (!q)
        return http_error(r, 500, "internal", "out of memory");
    char nid[DX_HTTP_MAX_ID + 1];
    dx_status st = form_question(r, q);
    /* the parent's members, as the asker may ask them; the thread stays its owner's */
    bool ok = !st && acct_followup(r, id, q, NULL, nid, &ret);
    free(q);
    if (st)
        return http_error_status(r, st);
    if (!ok)
        return ret;
    char loc[64];
    snprintf(loc, sizeof loc, "/q/%s", nid);
    return http_redirect(r, loc);
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
    page_viewer v;
    premium_view pv;
    viewer_of(r, &v, &pv);
    dx_status st = jobs_question_list_of(r->srv->jobs, r->uid, q, HISTORY_PAGE + 1, before, &items);
    if (st)
        return http_error_status(r, st);
    const bool more = json_array_size(items) > HISTORY_PAGE;
    if (more)
        json_array_remove(items, HISTORY_PAGE);
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    page_viewer_set(&v);
    st = page_history(&b, items, q ? q : "", before, more, token);
    page_viewer_set(NULL);
    json_decref(items);
    return send_page(r, st, &b);
}

/* A posted form of this server's pages: urlencoded, with the session's token.
 * False with the refusal queued in *ret. */
bool html_form_ok(http_req *r, enum MHD_Result *ret)
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
    if (!html_form_ok(r, &ret))
        return ret;
    if (!http_rate_ok(r, &ret))
        return ret;
    char *q = malloc(DX_MAX_QUESTION_BYTES + 1);
    if (!q)
        return http_error(r, 500, "internal", "out of memory");
    char id[DX_HTTP_MAX_ID + 1];
    dx_status st = form_question(r, q);
    bool pick[DX_MAX_MEMBERS];
    bool picked = acct_form_pick(r, pick);
    acct_selection sel;
    if (!st)
        st = acct_select(r, NULL, 0, picked ? pick : NULL, &sel);
    if (st) {
        free(q);
        return acct_error(r, st);
    }
    bool ok = acct_start(r, q, &sel, id, &ret);
    free(q);
    if (!ok)
        return ret;
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
    enum MHD_Result ret = acct_route(r, path, handled);
    if (*handled)
        return ret;
    *handled = true;
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
        bool change = slash &&
                      (!strcmp(slash, "/delete") || !strcmp(slash, "/rerun") ||
                       !strcmp(slash, "/followup")) &&
                      post;
        if (change && !html_form_ok(r, &ret))
            return ret;
        acct_question a;
        dx_status st = change ? acct_question_access(r, qid, true, &a) : DX_OK;
        if (st)
            return http_error_status(r, st);
        if (slash && !strcmp(slash, "/delete") && post)
            return delete_turn(r, qid);
        if (slash && !strcmp(slash, "/followup") && post)
            return followup(r, qid);
        if (slash && !strcmp(slash, "/rerun") && post) {
            if (!http_rate_ok(r, &ret))
                return ret;
            char nid[DX_HTTP_MAX_ID + 1];
            if (!acct_rerun(r, qid, nid, &ret))
                return ret;
            char loc[64];
            snprintf(loc, sizeof loc, "/q/%s", nid);
            return http_redirect(r, loc);
        }
    }
    *handled = false;
    return MHD_NO;
}
