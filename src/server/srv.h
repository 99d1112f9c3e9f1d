/*
 * srv — the server's internals shared by its files (not a public API): the
 * request being answered, response helpers and the request parsers. The
 * question runtime is src/jobs/; these files only adapt HTTP to it.
 *
 *   server.c  http_server_start/stop: opens the runtime, picks the routes
 *   http.c    the transport: the daemon, a request's life (body, limits,
 *             headers), responses, the rate limiter; no store, no models
 *   api.c     /api/v1 over the runtime, question events as SSE
 *   openai.c  /v1/chat/completions and /v1/models
 *   html.c    the HTML routes over pages.c (unless the server is API-only)
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
#include "jobs/jobs.h"
#include "server/http.h"

typedef struct http_req http_req;

/* Renders the HTML error page for a person (pages.c's page_error). */
typedef dx_status (*http_error_page_fn)(dx_buf *out, int status, const char *message);
/* Answers one request. Returns MHD_NO only when no response could be queued. */
typedef enum MHD_Result (*http_route_fn)(http_req *r);

#define HTTP_GUARD_NAME 256 /* one allowed host name or proxy address, bytes */
#define HTTP_GUARD_MAX 32   /* allowed hosts, trusted proxies */
#define HTTP_TOKEN_LEN 32   /* a form token, hex digits */

/* What the server trusts (guard.c). */
typedef struct http_guard {
    char hosts[HTTP_GUARD_MAX][HTTP_GUARD_NAME]; /* Host names accepted, lower case; "*": any */
    size_t n_hosts;
    char proxies[HTTP_GUARD_MAX][HTTP_GUARD_NAME]; /* trusted proxies, canonical addresses */
    size_t n_proxies;
    unsigned char secret[32]; /* keys the form tokens: derived from the server key */
} http_guard;

struct http_server {
    struct MHD_Daemon *d;
    int port;
    jobs *jobs; /* the question runtime (server.c opens it) */
    bool pages; /* the HTML routes are served (not --api-only) */
    int rate_per_min;
    http_route_fn route;
    http_error_page_fn error_page; /* errors on non-API paths; NULL: JSON everywhere */
    http_guard guard;
    /* the server key: <store>.key (auth_server_key_load: 0600, made when absent,
     * refused when others can read it). One secret for the server's seals and
     * tokens, each use deriving its own key from it; it outlives restarts. */
    unsigned char secret[32];
    pthread_mutex_t mu; /* guards buckets and conns */
    struct client_bucket {
        char addr[48];
        double tokens, last_ms;
    } * buckets; /* DX_HTTP_MAX_CLIENTS, rate limiter */
    struct client_conns {
        char addr[48];
        int n;
    } * conns;                  /* DX_HTTP_MAX_CONNECTIONS: requests in flight per client address */
    struct client_conns *peers; /* DX_HTTP_MAX_CONNECTIONS: connections open per peer address */
    struct http_gate *gate;     /* the listener in front of the daemon (gate.c) */
};

/* ---- the transport (http.c) ---- */

/* Binds host:port and serves s->route on background threads; s->port gets
 * the bound port. DX_EARG for a host that is not a numeric address, DX_EIO
 * when it can't be bound. */
dx_status http_listen(http_server *s, const char *host, int port);
/* Stops the daemon (waits for its connection threads). */
void http_unlisten(http_server *s);
/* A peer's address in canonical text (IPv4-mapped IPv6 as IPv4). */
bool http_addr_str(const struct sockaddr *sa, char out[48]);
/* A whole HTTP/1.1 reply for a request libmicrohttpd never saw: the status
 * line, the security headers, no-store, "Connection: close" and drux's error
 * body (JSON when api or API-only, else the error page). */
dx_status http_reply_raw(http_server *s, dx_buf *out, int status, const char *code,
                         const char *message, bool api);

/* ---- the front gate (gate.c) ---- */

typedef enum { HTTP_HEAD_MORE, HTTP_HEAD_OK, HTTP_HEAD_BAD } http_head_verdict;

/* What the gate learnt of a request head. */
typedef struct http_head {
    int status;        /* HTTP_HEAD_BAD: the reply's status (400, 411, 413, 414, 431, 505) */
    const char *code;  /* HTTP_HEAD_BAD: the error code, e.g. "bad_request" */
    char message[160]; /* HTTP_HEAD_BAD: for a person */
    bool api;          /* the target is under /api/ or /v1/ (answer in JSON) */
    bool has_length;
    unsigned long long length; /* Content-Length */
    size_t len;                /* HTTP_HEAD_OK: bytes of the head, blank line included */
} http_head;

/* Checks the first len bytes received on a connection: HTTP_HEAD_OK for a
 * complete, well-formed head (HTTP/1.0 or 1.1; at most DX_HTTP_MAX_HEADER
 * bytes, DX_HTTP_MAX_HEADERS fields; one Content-Length value of digits
 * only, no Transfer-Encoding, a Host for 1.1), HTTP_HEAD_MORE while it may
 * still become one, HTTP_HEAD_BAD with the reply to give. Pure; fuzzed. */
http_head_verdict http_head_check(const char *buf, size_t len, http_head *out);
/* Binds sa and starts the gate's thread; *port gets the bound port.
 * DX_EIO when it can't bind. */
dx_status http_gate_open(http_server *s, const struct sockaddr *sa, socklen_t len, int *port);
/* Stops accepting and closes the connections not yet handed over. */
void http_gate_close(http_server *s);
/* libmicrohttpd closed connection c (frees its address's place). */
void http_gate_closed(http_server *s, struct MHD_Connection *c);

/* One request. */
struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    dx_buf body;
    bool too_big, bad_length;
    char client[48];  /* the client's address (behind a trusted proxy: from X-Forwarded-For) */
    char session[33]; /* the session cookie's value, once looked up or made */
    bool new_session; /* made for this response: Set-Cookie it */
    bool counted;     /* holds a place in srv->conns */
};

/* ---- the guard (guard.c) ---- */

/* Reads the allow-list and the trusted proxies from o; derives the form
 * tokens' key from s->secret (load it first), so tokens outlive a restart. */
dx_status http_guard_init(http_server *s, const http_opts *o);
/* The request's Host is one the server answers for (loopback names, the
 * bound address, --allowed-host). False for a rebinding name. */
bool http_guard_host_ok(http_req *r);
/* Sec-Fetch-Site and Origin, when sent, say the server's own pages sent it. */
bool http_guard_same_origin(http_req *r);
/* The client's address: peer, or behind trusted proxies the rightmost
 * X-Forwarded-For entry that no trusted proxy added. */
void http_guard_client(const http_server *s, const char *peer, const char *xff, char out[48]);
/* The form token of the request's session (a new session when it has none). */
void http_guard_form_token(http_req *r, char out[HTTP_TOKEN_LEN + 1]);
/* A posted form's token matches the session cookie sent with it. */
bool http_guard_form_ok(http_req *r, const char *token);
/* Set-Cookie for a session made while answering r. */
void http_guard_cookie(http_req *r, struct MHD_Response *resp);

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

/* The routes. Return MHD_NO only when no response could be queued. */
enum MHD_Result api_route(http_req *r, const char *path);
enum MHD_Result openai_route(http_req *r, const char *path);
enum MHD_Result html_route(http_req *r, const char *path, bool *handled);

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
