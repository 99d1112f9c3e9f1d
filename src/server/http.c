/* The transport: the daemon, a request's life and the response helpers. It
 * carries requests and responses only: routes come from s->route, HTML
 * error pages from s->error_page. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "server/srv.h"

double http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Scripts only from this origin, no inline script, never framed. */
static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

/* Every reply carries these, libmicrohttpd's and the gate's alike. "Connection:
 * close": one request per connection, so the gate (gate.c) checks each. */
static const char *const security_headers[][2] = {
    {"Content-Security-Policy", csp},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Connection", "close"},
};

void http_add_headers(struct MHD_Response *resp, const char *mime)
{
    if (mime)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
    for (size_t i = 0; i < sizeof security_headers / sizeof *security_headers; i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
}

dx_status http_reply_raw(http_server *s, dx_buf *out, int status, const char *code,
                         const char *message, bool api)
{
    dx_buf body = dx_buf_make(DX_PAGE_MAX_BYTES);
    const char *mime = "text/html; charset=utf-8";
    dx_status st = DX_OK;
    if (api || !s->error_page || s->error_page(&body, status, message) != DX_OK) {
        body.len = 0;
        mime = "application/json";
        json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        st = t ? dx_buf_append(&body, t, strlen(t)) : dx_fail(DX_ENOMEM, "out of memory");
        free(t);
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *reason = MHD_get_reason_phrase_for((unsigned)status);
    if (!st)
        st = dx_buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n", status,
                           reason && *reason ? reason : "Error", date, mime);
    for (size_t i = 0; !st && i < sizeof security_headers / sizeof *security_headers; i++)
        st = dx_buf_printf(out, "%s: %s\r\n", security_headers[i][0], security_headers[i][1]);
    if (!st)
        st = dx_buf_printf(out, "Cache-Control: no-store\r\n%sContent-Length: %zu\r\n\r\n",
                           status == 429 ? "Retry-After: 5\r\n" : "", body.len);
    if (!st)
        st = dx_buf_append(out, body.data, body.len);
    dx_buf_free(&body);
    return st;
}

bool http_addr_str(const struct sockaddr *sa, char out[48])
{
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 48) != NULL;
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) /* ::ffff:1.2.3.4 is 1.2.3.4 */
        return inet_ntop(AF_INET, &a6->s6_addr[12], out, 48) != NULL;
    return inet_ntop(AF_INET6, a6, out, 48) != NULL;
}

enum MHD_Result http_send(http_req *r, int status, const char *mime, const void *data, size_t len,
                          bool copy)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        if (!copy)
            free((void *)data);
        return MHD_NO;
    }
    http_add_headers(resp, mime);
    /* pages and API answers are private (history): never kept by a cache */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    http_guard_cookie(r, resp);
    if (status == 429 || status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_json(http_req *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return http_send(r, 500, "application/json",
                         "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 57,
                         true);
    return http_send(r, status, "application/json", s, strlen(s), false);
}

enum MHD_Result http_error(http_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the HTML routes answer people with a page, the rest with JSON */
    if (r->srv->error_page && strncmp(r->url, "/api/", 5) && strncmp(r->url, "/v1/", 4)) {
        dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
        if (r->srv->error_page(&b, status, msg) == DX_OK) {
            enum MHD_Result ret =
                http_send(r, status, "text/html; charset=utf-8", b.data, b.len, true);
            dx_buf_free(&b);
            return ret;
        }
        dx_buf_free(&b);
    }
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    return http_send_json(r, status, j);
}

/* The HTTP status and error code of each failure that is not the server's own (500). */
static const struct {
    dx_status st;
    int http;
    const char *code;
} status_codes[] = {
    {DX_ENOTFOUND, 404, "not_found"},      {DX_EFORMAT, 400, "bad_request"},
    {DX_EARG, 400, "bad_request"},         {DX_ELIMIT, 413, "too_large"},
    {DX_EUNSUPPORTED, 400, "unsupported"}, {DX_EBUSY, 429, "busy"},
    {DX_ECANCELLED, 503, "shutting_down"}, {DX_ETIMEOUT, 504, "timeout"},
};

enum MHD_Result http_error_status(http_req *r, dx_status st)
{
    const char *m = dx_errmsg();
    for (size_t i = 0; i < sizeof status_codes / sizeof status_codes[0]; i++)
        if (status_codes[i].st == st)
            return http_error(r, status_codes[i].http, status_codes[i].code, "%s", m);
    return http_error(r, 500, "internal", "%s", m);
}

enum MHD_Result http_redirect(http_req *r, const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    http_add_headers(resp, "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    http_guard_cookie(r, resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result ret = MHD_queue_response(r->conn, 303, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_stream(http_req *r, const char *mime, MHD_ContentReaderCallback cb,
                                 void *cls, MHD_ContentReaderFreeCallback free_cb)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, cb, cls, free_cb);
    if (!resp) {
        free_cb(cls);
        return MHD_NO;
    }
    http_add_headers(resp, mime);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: don't buffer SSE */
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

bool http_content_type_is(http_req *r, const char *mime)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct)
        return false;
    size_t n = strlen(mime);
    return !strncasecmp(ct, mime, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

const char *http_query(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool http_rate_ok(http_req *r, enum MHD_Result *ret)
{
    http_server *s = r->srv;
    if (s->rate_per_min < 0)
        return true;
    double now = http_now_ms(), per_ms = s->rate_per_min / 60000.0;
    double burst = s->rate_per_min / 6.0 < 5 ? 5 : s->rate_per_min / 6.0;
    /* instances sharing a store share the buckets (in the store) */
    int shared = jobs_rate_take(s->jobs, r->client, s->rate_per_min, (int)burst);
    if (shared >= 0) {
        if (!shared)
            *ret = http_error(r, 429, "rate_limited",
                              "too many requests from %s: at most %d questions or completions a "
                              "minute; try again shortly",
                              r->client, s->rate_per_min);
        return shared == 1;
    }
    pthread_mutex_lock(&s->mu);
    struct client_bucket *b = NULL, *oldest = &s->buckets[0];
    for (size_t i = 0; i < DX_HTTP_MAX_CLIENTS; i++) {
        if (!strcmp(s->buckets[i].addr, r->client)) {
            b = &s->buckets[i];
            break;
        }
        if (s->buckets[i].last_ms < oldest->last_ms)
            oldest = &s->buckets[i];
    }
    if (!b) { /* a new client takes the least recently seen slot */
        b = oldest;
        snprintf(b->addr, sizeof b->addr, "%s", r->client);
        b->tokens = burst;
        b->last_ms = now;
    }
    b->tokens += (now - b->last_ms) * per_ms;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ms = now;
    bool ok = b->tokens >= 1;
    if (ok)
        b->tokens -= 1;
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        *ret = http_error(r, 429, "rate_limited",
                          "too many requests from %s: at most %d questions or completions a "
                          "minute; try again shortly",
                          r->client, s->rate_per_min);
    return ok;
}

/* A place among the DX_HTTP_MAX_PER_IP requests one client address may have
 * in flight (its address from X-Forwarded-For behind a trusted proxy, so a
 * proxy's clients are not capped together). False when it has no more. */
static bool conn_take(http_server *s, const char *addr)
{
    return http_count_take(s, s->conns, addr, DX_HTTP_MAX_PER_IP, UINT_MAX);
}

static void conn_give(http_server *s, const char *addr)
{
    http_count_give(s, s->conns, addr);
}

bool http_count_take(http_server *s, struct client_conns *t, const char *addr, unsigned cap,
                     unsigned max_total)
{
    pthread_mutex_lock(&s->mu);
    struct client_conns *slot = NULL, *free_slot = NULL;
    unsigned total = 0;
    for (size_t i = 0; i < DX_HTTP_MAX_CONNECTIONS; i++) {
        total += (unsigned)t[i].n;
        if (t[i].n > 0 && !strcmp(t[i].addr, addr))
            slot = &t[i];
        else if (!free_slot && t[i].n == 0)
            free_slot = &t[i];
    }
    if (!slot && free_slot) {
        slot = free_slot;
        snprintf(slot->addr, sizeof slot->addr, "%s", addr);
    }
    bool ok = slot && total < max_total && (unsigned)slot->n < cap;
    if (ok)
        slot->n++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void http_count_give(http_server *s, struct client_conns *t, const char *addr)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < DX_HTTP_MAX_CONNECTIONS; i++)
        if (t[i].n > 0 && !strcmp(t[i].addr, addr)) {
            t[i].n--;
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->method = method;
        r->url = url;
        r->body = dx_buf_make(DX_HTTP_MAX_BODY);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char peer[48] = "unknown";
        if (ci && ci->client_addr && !http_addr_str(ci->client_addr, peer))
            snprintf(peer, sizeof peer, "unknown");
        http_guard_client(
            s, peer, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"), r->client);
        *con_cls = r;
        if (!(r->counted = conn_take(s, r->client)))
            return http_error(r, 429, "too_many_connections",
                              "%s has %u requests open here; close some and try again", r->client,
                              DX_HTTP_MAX_PER_IP);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end == cl || *end)
                return http_error(r, 400, "bad_request", "bad Content-Length");
            if (n > DX_HTTP_MAX_BODY) /* refuse before reading it */
                return http_error(r, 413, "too_large",
                                  "the request body is %llu bytes; the limit is %u", n,
                                  DX_HTTP_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big && dx_buf_append(&r->body, upload, *upload_size))
            r->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return http_error(r, 413, "too_large", "the request body is over %u bytes",
                          DX_HTTP_MAX_BODY);
    return s->route(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    http_req *r = *con_cls;
    if (r) {
        if (r->counted)
            conn_give(r->srv, r->client);
        dx_buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_info("http: %s", buf);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        http_gate_closed(cls, c);
}

dx_status http_listen(http_server *s, const char *host, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    /* no listen socket of its own: the gate (gate.c) accepts and hands over */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
        flags |= MHD_USE_IPv6;
    } else {
        return dx_fail(DX_EARG, "--host %s: give a numeric IPv4 or IPv6 address (e.g. 127.0.0.1)",
                       host);
    }
    /* the caps on connections (in all, per address) are the gate's; these
     * are a backstop with room for connections closing as new ones come */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)(2 * DX_HTTP_MAX_CONNECTIONS), MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)(4 * DX_HTTP_MAX_HEADER), MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->d)
        return dx_fail(DX_EIO, "can't start the HTTP daemon (libmicrohttpd)");
    dx_status st = http_gate_open(s, (struct sockaddr *)&ss, sl, &s->port);
    if (st)
        return dx_fail(st,
                       "can't listen on %s port %d: %s (in use, or not an address of this "
                       "machine?)",
                       host, port, dx_errmsg());
    return DX_OK;
}

void http_unlisten(http_server *s)
{
    http_gate_close(s); /* no new connections, then the daemon's end */
    if (s->d)
        MHD_stop_daemon(s->d);
    s->d = NULL;
}
