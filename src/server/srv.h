/*
 * srv — the server's internals shared by its files (not a public API):
 * the request being answered, response helpers, the question runtime, the
 * followable event streams, and the request parsers.
 *
 *   http.c    the daemon, a request's life (body, limits, headers), routing
 *   api.c     /api/v1 and the question runtime (worker threads, SSE)
 *   openai.c  /v1/chat/completions and /v1/models
 *   html.c    the HTML routes, when src/server/pages.c is built in
 *   stream.c  a bounded event buffer that readers follow (SSE)
 *   parse.c   parsers for request bodies (fuzzed by tests/fuzz/fuzz_api.c)
 */
#ifndef DX_SERVER_SRV_H
#define DX_SERVER_SRV_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/str.h"
#include "council/config.h"
#include "council/local.h"
#include "embed/embed.h"
#include "server/http.h"
#include "store/db.h"

#if defined(__has_include)
#if __has_include("server/pages.h")
#define DX_HAVE_PAGES 1
#endif
#endif
#ifndef DX_HAVE_PAGES
#define DX_HAVE_PAGES 0
#endif
#if DX_HAVE_PAGES
#include "server/pages.h"
#endif

/* ---- streams ---- */

/* Bytes appended by one writer, followed by any number of readers, each
 * with its own offset. Refcounted: the writer and each reader hold one. */
typedef struct http_stream http_stream;

http_stream *http_stream_new(size_t max);
void http_stream_ref(http_stream *s);
void http_stream_unref(http_stream *s);
/* Append (DX_ELIMIT past max: nothing appended). Wakes readers. */
dx_status http_stream_write(http_stream *s, const void *p, size_t n);
/* Append an SSE event "event: NAME\ndata: JSON\n\n" (data compact, one line). */
dx_status http_stream_event(http_stream *s, const char *name, json_t *data);
size_t http_stream_len(http_stream *s);
/* No more writes: readers end after the last byte. */
void http_stream_close(http_stream *s);
/* Wake every reader (shutdown). */
void http_stream_wake(http_stream *s);
/* Copy up to max bytes from *off into buf, waiting up to wait_ms for data.
 * Returns the count; 0 when the wait ran out (send a keep-alive); -1 at the
 * end of a closed stream or when *stop became nonzero. */
long http_stream_read(http_stream *s, size_t *off, char *buf, size_t max, int wait_ms,
                      const atomic_int *stop);

/* ---- the server ---- */

typedef struct qrun qrun;

struct http_server {
    struct MHD_Daemon *d;
    int port;
    const council_config *cfg;
    local_registry *reg;
    embed_model *embedder; /* the council's sentence encoder, or NULL (lexical matching) */
    db *db;
    int max_running, rate_per_min;
    atomic_int stopping;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cond; /* a slot freed, a worker ended */
    int running;         /* jobs holding a slot */
    int workers;         /* threads of ours alive (questions, streamed completions) */
    int questions;       /* questions queued or running */
    int completions;     /* /v1 completions holding or waiting for a slot */
    qrun *runs;          /* questions queued or running, or followed */
    struct client_bucket {
        char addr[48];
        double tokens, last_ms;
    } * buckets; /* DX_HTTP_MAX_CLIENTS, rate limiter */
};

/* One request. */
typedef struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    dx_buf body;
    bool too_big, bad_length;
    char client[48];
} http_req;

/* Responses: each queues one response and returns the MHD result. */
enum MHD_Result http_send(http_req *r, int status, const char *mime, const void *data, size_t len,
                          bool copy);
enum MHD_Result http_send_json(http_req *r, int status, json_t *j); /* steals j */
enum MHD_Result http_error(http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Map a dx_status from a lower layer to an HTTP error. */
enum MHD_Result http_error_status(http_req *r, dx_status st);
enum MHD_Result http_redirect(http_req *r, const char *location);
/* A streamed text/event-stream response read from the callback. */
enum MHD_Result http_send_stream(http_req *r, const char *mime, MHD_ContentReaderCallback cb,
                                 void *cls, MHD_ContentReaderFreeCallback free_cb);
/* Adds the security headers every response carries. */
void http_add_headers(struct MHD_Response *resp, const char *mime);
/* True when the request's Content-Type is mime (parameters ignored). */
bool http_content_type_is(http_req *r, const char *mime);
const char *http_query(http_req *r, const char *key);
/* Rate limit for work requests: false (and a 429 queued in *ret) when over. */
bool http_rate_ok(http_req *r, enum MHD_Result *ret);
double http_now_ms(void);
void http_utc_now(char out[32]);

/* ---- the question runtime (api.c) ---- */

/* Starts a question: stores it as queued and runs it on a worker. *id gets
 * its id. DX_ELIMIT when the queue is full, DX_EARG for an unknown member. */
dx_status api_question_start(http_server *s, const char *question, json_t *members,
                             char id[DX_HTTP_MAX_ID + 1]);
/* Current stored-question JSON (live state when running), new reference. */
dx_status api_question_json(http_server *s, const char *id, bool with_texts, json_t **out);
/* Deletes a question, stopping it first when it runs; DX_ENOTFOUND if absent. */
dx_status api_question_delete(http_server *s, const char *id);
/* Waits until a question finishes (or the server stops); *out the stored
 * question with its result. */
dx_status api_question_wait(http_server *s, const char *id, json_t **out);
/* Takes a slot for a job outside the question workers (a /v1 completion).
 * DX_ELIMIT when the queue is full; DX_ECANCELLED when the server stops. */
dx_status api_slot_enter(http_server *s);
void api_slot_leave(http_server *s);
/* The routes. Return MHD_NO only when no response could be queued. */
enum MHD_Result api_route(http_req *r, const char *path);
enum MHD_Result openai_route(http_req *r, const char *path);
enum MHD_Result html_route(http_req *r, const char *path, bool *handled);
/* Shutdown: wake SSE readers of running questions. */
void api_wake_all(http_server *s);

/* ---- parsers (parse.c), for untrusted bodies ---- */

/* A question id as the server makes them: 1..DX_HTTP_MAX_ID of [a-z0-9]. */
bool api_id_valid(const char *s, size_t len);
/* Value of key in an application/x-www-form-urlencoded body, decoded into
 * out (at most cap - 1 bytes). DX_ENOTFOUND if absent, DX_ELIMIT if longer,
 * DX_EFORMAT for a bad %-escape or invalid UTF-8. */
dx_status api_form_value(const char *body, size_t len, const char *key, char *out, size_t cap);
/* POST /api/v1/questions body: {"question": "...", "members": ["name", ...]?}.
 * *question malloc'd; *members new reference or NULL. */
dx_status api_question_parse(const char *body, size_t len, char **question, json_t **members);

#define API_CHAT_MAX_MESSAGES 256u

typedef struct api_chat {
    json_t *root; /* owns everything below */
    const char *model;
    bool stream;
    int max_tokens; /* 0: default */
    bool has_temperature, has_top_p, has_seed;
    double temperature, top_p;
    uint64_t seed;
    size_t n_messages;
    const char *roles[API_CHAT_MAX_MESSAGES];
    const char *contents[API_CHAT_MAX_MESSAGES];
    const char *last_user; /* the last user message: the council's question */
} api_chat;

/* POST /v1/chat/completions body. Free with api_chat_free. */
dx_status api_chat_parse(const char *body, size_t len, api_chat *out);
void api_chat_free(api_chat *c);

#endif
