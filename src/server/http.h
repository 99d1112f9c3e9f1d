/*
 * http — `drux serve`: the HTTP server (libmicrohttpd) that puts the council
 * on the web: the JSON API under /api/v1 with live server-sent events, the
 * OpenAI-compatible /v1/chat/completions and /v1/models, and the HTML pages
 * (unless api_only is set).
 *
 *     http_opts o = {.host = "127.0.0.1", .port = 8080, .db_path = "drux.db", .cfg = cfg};
 *     http_server *s;
 *     if (http_server_start(&o, &s)) die(dx_errmsg());
 *     printf("open http://127.0.0.1:%d/\n", http_server_port(s));
 *     ... wait for SIGINT ...
 *     http_server_stop(s);
 *
 * The questions run in src/jobs/ (one worker thread each, at most max_running
 * at once; more wait as "queued", past DX_HTTP_MAX_QUEUED the server answers
 * 429). All of them share one local_registry, so a model is loaded once for
 * the server's lifetime. The API is described in docs/api.md and
 * docs/openapi.yaml; running it in production in docs/operations.md.
 */
#ifndef DX_SERVER_HTTP_H
#define DX_SERVER_HTTP_H

#include <stdbool.h>

#include "core/status.h"
#include "council/config.h"

typedef struct http_opts {
    const char *host;          /* address to bind, e.g. "127.0.0.1" */
    int port;                  /* 0: any free port (see http_server_port) */
    const char *db_path;       /* the store (created when absent) */
    const council_config *cfg; /* the council; must outlive the server */
    int max_running;           /* questions answered at once; <= 0: 2 */
    int rate_per_min; /* work requests (questions, completions) per client per minute; 0: default
                         60, < 0: off */
    bool api_only;    /* serve /api/v1 and /v1 only: no HTML pages */
    const char *allowed_hosts;   /* Host names answered besides loopback and the bound address:
                                    "a.example,b.example" ("*": any); NULL: none */
    const char *trusted_proxies; /* proxy addresses whose X-Forwarded-For names the client
                                    (rate limit, per-address cap); NULL: none */
    long long session_ttl_s;     /* an account session's life in seconds; <= 0: 14 days */
    bool https;                  /* clients reach the server over TLS (a proxy terminates it):
                                    account cookies are Secure (also per request from a trusted
                                    proxy's X-Forwarded-Proto: https) */
    bool no_signup;              /* visitors can't create accounts (drux user add can) */
    bool open_premium;           /* anonymous visitors ask premium members too (a private
                                    server behind an authenticating proxy) */
    const char *key_file;        /* the server key (form tokens, sealed provider keys;
                                    created, mode 0600, when absent); NULL: db_path + ".key" */
} http_opts;

typedef struct http_server http_server;

/* Opens the store, binds and starts serving on background threads. Fails
 * with DX_EIO when the address can't be bound or the store can't be opened. */
dx_status http_server_start(const http_opts *o, http_server **out);
/* The bound port. */
int http_server_port(const http_server *s);
/* Stops accepting, interrupts running questions (stored as interrupted),
 * closes streams and frees everything. NULL is a no-op. */
void http_server_stop(http_server *s);

#endif
