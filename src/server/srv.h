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
#include "council/member.h"
#include "jobs/jobs.h"
#include "server/http.h"
#include "server/pages.h"

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
    /* accounts (account.c) */
    long long session_ttl_s; /* a session's life */
    bool https;              /* reached over TLS: cookies are Secure */
    bool signup;             /* visitors may create accounts */
    bool open_premium;       /* anonymous askers get the premium members too */
    struct auth_throttle *throttle_name, *throttle_addr, *throttle_signup;
    char dummy_hash[128];       /* verified against for unknown names, so timing tells nothing */
    unsigned char seal_key[32]; /* seals users' provider keys: derived from secret (acct_init) */
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
/* Per-address counts in t (DX_HTTP_MAX_CONNECTIONS places, under s->mu):
 * take adds one for addr unless addr holds cap already, no place is free for
 * a new address, or all places together hold max_total; give removes one. */
bool http_count_take(http_server *s, struct client_conns *t, const char *addr, unsigned cap,
                     unsigned max_total);
void http_count_give(http_server *s, struct client_conns *t, const char *addr);
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
    /* the account (account.c's acct_who): uid 0 is anonymous */
    bool who_known;
    long long uid;
    char uname[64];
    char account_cookie[192]; /* a Set-Cookie for the account session to send, or "" */
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

/* ---- accounts (account.c; docs/accounts.md) ---- */

/* Throttles, the session's life, Secure cookies, sign-up; acct_free undoes. */
dx_status acct_init(http_server *s, const http_opts *o);
void acct_free(http_server *s);
/* Who sent r: r->uid and r->uname from a live account session cookie (0 and
 * "" when none). A forged, expired or ended cookie is told to go. Once per
 * request; later calls return at once. */
void acct_who(http_req *r);

/* A question's owner as one request sees it. */
typedef struct acct_question {
    long long owner; /* 0: asked anonymously */
    char share[64];  /* an owned question's share token */
    bool via_share;  /* readable only because the request gave its share token (s=) */
    bool may_change; /* may re-run and delete it */
} acct_question;

/* May r read (change false) or re-run and delete (change true) question id?
 * An anonymous question is everyone's; an owned one its owner's, and
 * readable by whoever gives its share token (query s=). DX_ENOTFOUND, as
 * for a question that does not exist, otherwise. */
dx_status acct_question_access(http_req *r, const char *id, bool change, acct_question *out);
/* Who asks a question sent by r; share receives a new owned question's token. */
void acct_asker(http_req *r, jobs_asker *who, char share[44]);
/* An /api/v1 write (POST, DELETE) that a signed-in browser's cookie rides
 * along with must carry X-Drux-Token (the pages' form token); false with a
 * 403 queued in *ret when it doesn't. Anonymous requests pass. */
bool acct_api_write_ok(http_req *r, enum MHD_Result *ret);
/* The members a question asks, chosen for who asks it. */
typedef struct acct_selection {
    const char *names[DX_MAX_MEMBERS];
    size_t n;
    bool all;      /* the whole council: asked as NULL (stored "asked": null) */
    int n_premium; /* premium members among them */
} acct_selection;

/* asked: the members named (n_asked), or NULL for "the council": its free
 * members and the premium ones chosen (form_pick by council index, else the
 * user's defaults; none for anonymous askers). DX_EUNSUPPORTED when an
 * anonymous asker names a premium member (acct_error: 403). */
dx_status acct_select(http_req *r, const char *const *asked, size_t n_asked, const bool *form_pick,
                      acct_selection *sel);
/* The free members only: what an anonymous /v1 request asks. */
dx_status acct_select_free(http_req *r, acct_selection *sel);
/* The signed-in user's default premium members, by council index. */
void acct_defaults(http_req *r, bool chosen[DX_MAX_MEMBERS]);
/* Starts the question for r's asker: its premium calls taken from the day's
 * allowance (429 premium_quota past it), the asker's own keys used. False
 * with the error queued in *ret. */
bool acct_start(http_req *r, const char *question, const acct_selection *sel,
                char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret);
/* A follow-up on question parent for r's asker (threads): members (a JSON
 * array of names, NULL: the parent's) as acct_select allows them to r, its
 * premium calls from the day's allowance, the asker's own keys; the thread
 * stays its owner's. The caller has checked r may change parent. */
bool acct_followup(http_req *r, const char *parent, const char *question, json_t *members,
                   char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret);
/* Asks stored question id again for r's asker (its members, as acct_select
 * allows them to r); the caller has checked r may change it. */
bool acct_rerun(http_req *r, const char *id, char nid[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret);
/* acct_select's errors as HTTP (DX_EUNSUPPORTED: 403 sign_in_for_premium). */
enum MHD_Result acct_error(http_req *r, dx_status st);
/* The pm<index> ticks of a posted form; false when it carries no choice. */
bool acct_form_pick(http_req *r, bool pick[DX_MAX_MEMBERS]);
/* What the pages show of the premium members to r (pages.h), its arrays
 * in *buf; NULL when the council has none. */
typedef struct premium_view {
    page_premium p;
    page_member_choice members[DX_MAX_MEMBERS];
    page_key_slot keys[JOBS_MAX_KEYS];
} premium_view;
const page_premium *acct_premium_view(http_req *r, premium_view *buf);

/* The account pages: /signin, /signup, /signout, /signout-everywhere,
 * /settings...; *handled false for other paths. */
enum MHD_Result acct_route(http_req *r, const char *path, bool *handled);
/* A posted form of this server's pages: urlencoded, with the session's form
 * token (html.c). False with the refusal queued in *ret. */
bool html_form_ok(http_req *r, enum MHD_Result *ret);

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

/* A thread (jobs_thread_json) as Markdown: per turn the question, the
 * verdict, the answer, the agreed and disputed points and who made them,
 * and each member's answer (export.c). Appends to out with the sticky
 * dx_buf_add* calls and returns out->err (nothing is added once it failed). */
dx_status export_thread_md(dx_buf *out, json_t *thread);

/* ---- parsers (parse.c), for untrusted bodies ---- */

/* A question id as the server makes them: 1..DX_HTTP_MAX_ID of [a-z0-9]. */
bool api_id_valid(const char *s, size_t len);
/* The question id at the start of a path's tail p ("ID" or "ID/more") copied into qid, *rest
 * pointing at the "/more" (NULL when there is none). False when the id is not valid. */
bool api_path_id(const char *p, char qid[DX_HTTP_MAX_ID + 1], const char **rest);
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
/* The conversation before the last user message as a thread's earlier
 * turns for the council: each run of user messages (joined by a blank
 * line) with the assistant messages that follow it (joined likewise) is a
 * turn; system and developer messages, assistant messages before any user
 * message and user messages left without a reply are not turns. At most
 * cap turns (the latest); the strings live as long as c. */
dx_status api_chat_turns(api_chat *c, council_turn *turns, size_t cap, size_t *n);
void api_chat_free(api_chat *c);

#endif
