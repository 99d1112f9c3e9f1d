/* The front gate: drux's own listener in front of libmicrohttpd.
 *
 * libmicrohttpd answers malformed requests itself (a bad Content-Length,
 * a bad HTTP version, an over-long head) with replies that carry none of
 * drux's security headers (one of them with its status line twice), and
 * answers bytes that are no request at all with silence. So drux accepts
 * every connection here first and reads its request head without taking
 * it off the socket (MSG_PEEK): a head that is well-formed goes to
 * libmicrohttpd untouched (MHD_add_connection); anything else gets drux's
 * own reply, with the same headers as every other reply, and the
 * connection is closed. Every response says "Connection: close", so each
 * connection carries exactly one request and no request reaches
 * libmicrohttpd unchecked.
 *
 * The gate also owns the cap on connections per address
 * (DX_HTTP_MAX_PER_IP; a trusted proxy's connections are not capped
 * together, their clients are, by X-Forwarded-For, in http.c).
 *
 * One thread: accept, then epoll (edge-triggered, so a peeked head that has
 * not grown does not wake it again) until the head is complete, wrong, or
 * late (HEAD_TIMEOUT_MS). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "server/srv.h"

#define HEAD_TIMEOUT_MS 30000 /* from accept to the end of the request head */
#define LINGER_MS 2000        /* reading what a refused client still sends */
#define GATE_SLOTS (2 * DX_HTTP_MAX_CONNECTIONS)

/* ---- the request head ---- */

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static http_head_verdict bad(http_head *h, int status, const char *code, const char *message)
{
    h->status = status;
    h->code = code;
    snprintf(h->message, sizeof h->message, "%s", message);
    return HTTP_HEAD_BAD;
}

/* One header's meaning for the framing: Content-Length, Transfer-Encoding, Host. */
static http_head_verdict head_field(http_head *h, const char *name, size_t nlen, const char *v,
                                    size_t vlen, int *hosts)
{
    if (nlen == 14 && !strncasecmp(name, "content-length", 14)) {
        unsigned long long n = 0;
        if (vlen == 0 || vlen > 19)
            return bad(h, 400, "bad_request", "the Content-Length is not a number of bytes");
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return bad(h, 400, "bad_request", "the Content-Length is not a number of bytes");
            n = n * 10 + (unsigned)(v[i] - '0');
        }
        if (h->has_length && h->length != n)
            return bad(h, 400, "bad_request", "two different Content-Length headers");
        h->has_length = true;
        h->length = n;
        if (n > DX_HTTP_MAX_BODY) {
            bad(h, 413, "too_large", "");
            snprintf(h->message, sizeof h->message,
                     "the request body is %llu bytes; the limit is %u", n, DX_HTTP_MAX_BODY);
            return HTTP_HEAD_BAD;
        }
    } else if (nlen == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
        return bad(h, 411, "length_required",
                   "send the request body with a Content-Length (chunked and other "
                   "transfer codings are not accepted)");
    } else if (nlen == 4 && !strncasecmp(name, "host", 4)) {
        if (++*hosts > 1)
            return bad(h, 400, "bad_request", "more than one Host header");
    }
    return HTTP_HEAD_OK;
}

/* Out of bytes at stage `in_line` (still in the request line) or later. */
static http_head_verdict head_short(http_head *h, size_t len, bool in_line)
{
    if (len < DX_HTTP_MAX_HEADER)
        return HTTP_HEAD_MORE;
    if (in_line)
        return bad(h, 414, "uri_too_long", "the request line is too long");
    return bad(h, 431, "headers_too_large", "the request headers are too large");
}

/* The request line, method SP target SP HTTP/1.x CRLF: HTTP_HEAD_OK with *p
 * where the header fields start and *http11 for HTTP/1.1 (or a later 1.x). */
static http_head_verdict request_line(const unsigned char *b, size_t lim, size_t len, http_head *h,
                                      size_t *pp, bool *http11)
{
    size_t p = 0;
    while (p < lim && tchar(b[p]))
        p++;
    if (p == lim)
        return head_short(h, len, true);
    if (p == 0 || b[p] != ' ' || p > 32)
        return bad(h, 400, "bad_request", "this is not an HTTP request");
    size_t t0 = ++p;
    /* the API's paths are answered in JSON, the rest with a page */
    h->api = (lim - t0 >= 5 && !memcmp(b + t0, "/api/", 5)) ||
             (lim - t0 >= 4 && !memcmp(b + t0, "/v1/", 4));
    while (p < lim && b[p] > 0x20 && b[p] < 0x7f) {
        if (p - t0 >= DX_HTTP_MAX_TARGET)
            return bad(h, 414, "uri_too_long", "the address is too long");
        p++;
    }
    if (p == lim)
        return head_short(h, len, true);
    if (p == t0 || b[p] != ' ')
        return bad(h, 400, "bad_request",
                   "the request line is malformed (an address with spaces or raw non-ASCII "
                   "bytes? %-encode them)");
    p++;
    static const char ver[] = "HTTP/";
    for (size_t i = 0; i < 5; i++, p++) {
        if (p == lim)
            return head_short(h, len, true);
        if (b[p] != (unsigned char)ver[i])
            return bad(h, 400, "bad_request", "this is not an HTTP request");
    }
    if (lim - p < 5)
        return head_short(h, len, true);
    if (b[p] < '0' || b[p] > '9' || b[p + 1] != '.' || b[p + 2] < '0' || b[p + 2] > '9' ||
        b[p + 3] != '\r' || b[p + 4] != '\n')
        return bad(h, 400, "bad_request", "the request line is malformed");
    if (b[p] != '1')
        return bad(h, 505, "http_version", "only HTTP/1.0 and HTTP/1.1 are spoken here");
    *http11 = b[p + 2] != '0';
    *pp = p + 5;
    return HTTP_HEAD_OK;
}

/* One header field, name ":" value CRLF, from buf[*pp] (not the empty line
 * that ends them): HTTP_HEAD_OK with *pp past it, handed to head_field. */
static http_head_verdict header_field(const char *buf, size_t lim, size_t len, http_head *h,
                                      size_t *pp, int *hosts)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t p = *pp, name = p;
    while (p < lim && tchar(b[p]))
        p++;
    if (p == lim)
        return head_short(h, len, false);
    if (p == name || b[p] != ':')
        return bad(h, 400, "bad_request", "a header line is malformed");
    size_t nlen = p - name;
    p++;
    while (p < lim && (b[p] == ' ' || b[p] == '\t'))
        p++;
    size_t v = p;
    while (p < lim && b[p] != '\r') {
        if ((b[p] < 0x20 && b[p] != '\t') || b[p] == 0x7f)
            return bad(h, 400, "bad_request", "a header value has control characters");
        p++;
    }
    if (lim - p < 2)
        return head_short(h, len, false);
    if (b[p + 1] != '\n')
        return bad(h, 400, "bad_request", "a header line is malformed");
    size_t vend = p;
    while (vend > v && (b[vend - 1] == ' ' || b[vend - 1] == '\t'))
        vend--;
    if (head_field(h, buf + name, nlen, buf + v, vend - v, hosts) == HTTP_HEAD_BAD)
        return HTTP_HEAD_BAD;
    *pp = p + 2;
    return HTTP_HEAD_OK;
}

http_head_verdict http_head_check(const char *buf, size_t len, http_head *h)
{
    memset(h, 0, sizeof *h);
    const unsigned char *b = (const unsigned char *)buf;
    size_t lim = len < DX_HTTP_MAX_HEADER ? len : DX_HTTP_MAX_HEADER, p = 0;
    bool http11 = false;
    http_head_verdict v = request_line(b, lim, len, h, &p, &http11);
    if (v != HTTP_HEAD_OK)
        return v;
    /* header fields until an empty line */
    int hosts = 0;
    for (unsigned n = 0;; n++) {
        if (lim - p < 2)
            return head_short(h, len, false);
        if (b[p] == '\r') {
            if (b[p + 1] != '\n')
                return bad(h, 400, "bad_request", "a header line is malformed");
            break;
        }
        if (n >= DX_HTTP_MAX_HEADERS)
            return bad(h, 431, "headers_too_large", "too many request headers");
        if ((v = header_field(buf, lim, len, h, &p, &hosts)) != HTTP_HEAD_OK)
            return v;
    }
    if (http11 && hosts == 0)
        return bad(h, 400, "bad_request", "an HTTP/1.1 request needs a Host header");
    h->len = p + 2;
    return HTTP_HEAD_OK;
}

/* ---- the gate's connections ---- */

typedef enum { SLOT_FREE, SLOT_HEAD, SLOT_LINGER } slot_state;

struct gate_slot {
    slot_state state;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char peer[48];
    double deadline;
    size_t seen;  /* bytes of the head peeked so far */
    bool counted; /* holds a place in the address's count */
};

struct http_gate {
    int lfd, ep, wake;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    struct gate_slot slots[GATE_SLOTS];
    char buf[DX_HTTP_MAX_HEADER];
};

#define EV_LISTEN UINT32_MAX
#define EV_WAKE (UINT32_MAX - 1)

/* Connections open per address, the gate's and libmicrohttpd's together
 * (under s->mu). A trusted proxy's are not capped here. */
static bool peer_take(http_server *s, const char *addr)
{
    bool proxy = false;
    for (size_t i = 0; i < s->guard.n_proxies && !proxy; i++)
        proxy = !strcmp(s->guard.proxies[i], addr);
    unsigned cap = proxy ? DX_HTTP_MAX_CONNECTIONS : DX_HTTP_MAX_PER_IP;
    return http_count_take(s, s->peers, addr, cap, DX_HTTP_MAX_CONNECTIONS);
}

static void peer_give(http_server *s, const char *addr)
{
    http_count_give(s, s->peers, addr);
}

/* libmicrohttpd closed a connection the gate handed it. */
void http_gate_closed(http_server *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[48];
    if (ci && ci->client_addr && http_addr_str(ci->client_addr, peer))
        peer_give(s, peer);
}

static void slot_close(http_server *s, struct gate_slot *g)
{
    epoll_ctl(s->gate->ep, EPOLL_CTL_DEL, g->fd, NULL);
    close(g->fd);
    if (g->counted)
        peer_give(s, g->peer);
    g->state = SLOT_FREE;
    g->counted = false;
}

/* drux's reply to a request that never reaches libmicrohttpd, then the
 * connection lingers (reads and drops what the client still sends, so a
 * close does not reset the reply away) until the client closes. */
static void slot_refuse(http_server *s, struct gate_slot *g, int status, const char *code,
                        const char *message, bool api)
{
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES + 4096);
    if (http_reply_raw(s, &b, status, code, message, api) == DX_OK) {
        ssize_t w = send(g->fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* a fresh socket takes a few KiB; if not, the client is gone */
    }
    dx_buf_free(&b);
    shutdown(g->fd, SHUT_WR);
    g->state = SLOT_LINGER;
    g->deadline = http_now_ms() + LINGER_MS;
}

static void gate_accept(http_server *s)
{
    struct http_gate *gt = s->gate;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(gt->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error the next connection may not have */
        struct gate_slot *g = NULL;
        for (size_t i = 0; i < GATE_SLOTS && !g; i++)
            if (gt->slots[i].state == SLOT_FREE)
                g = &gt->slots[i];
        if (!g) {
            close(fd); /* twice the connection limit already here: no room to answer */
            continue;
        }
        memset(g, 0, sizeof *g);
        g->fd = fd;
        g->addr = ss;
        g->addrlen = sl;
        if (!http_addr_str((struct sockaddr *)&ss, g->peer))
            snprintf(g->peer, sizeof g->peer, "unknown");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.u32 = (uint32_t)(g - gt->slots)};
        if (epoll_ctl(gt->ep, EPOLL_CTL_ADD, fd, &ev)) {
            close(fd);
            continue;
        }
        g->state = SLOT_HEAD;
        g->deadline = http_now_ms() + HEAD_TIMEOUT_MS;
        if (!(g->counted = peer_take(s, g->peer)))
            slot_refuse(s, g, 429, "too_many_connections",
                        "too many connections from your address are open here; close some and "
                        "try again",
                        true);
    }
}

/* The head is good: libmicrohttpd reads it from the socket as if it came first. */
static void gate_handover(http_server *s, struct gate_slot *g)
{
    epoll_ctl(s->gate->ep, EPOLL_CTL_DEL, g->fd, NULL);
    g->state = SLOT_FREE;
    if (MHD_add_connection(s->d, g->fd, (struct sockaddr *)&g->addr, g->addrlen) != MHD_YES) {
        log_warn("http: libmicrohttpd took no connection from %s: %s", g->peer, strerror(errno));
        if (g->counted)
            peer_give(s, g->peer); /* MHD closed the socket */
    }
    g->counted = false;
}

static void gate_read(http_server *s, struct gate_slot *g, uint32_t events)
{
    struct http_gate *gt = s->gate;
    if (g->state == SLOT_LINGER) {
        for (;;) {
            ssize_t n = recv(g->fd, gt->buf, sizeof gt->buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                slot_close(s, g);
                return;
            }
            if (n < 0)
                return;
        }
    }
    ssize_t n = recv(g->fd, gt->buf, sizeof gt->buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* gone before a byte, or an error */
        slot_close(s, g);
        return;
    }
    g->seen = (size_t)n;
    http_head h;
    switch (http_head_check(gt->buf, (size_t)n, &h)) {
    case HTTP_HEAD_OK:
        gate_handover(s, g);
        return;
    case HTTP_HEAD_BAD:
        slot_refuse(s, g, h.status, h.code, h.message, h.api);
        return;
    case HTTP_HEAD_MORE:
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) /* no more will come */
            slot_refuse(s, g, 400, "bad_request", "the request ended before its headers did",
                        h.api);
        return;
    }
}

static void gate_sweep(http_server *s)
{
    double now = http_now_ms();
    for (size_t i = 0; i < GATE_SLOTS; i++) {
        struct gate_slot *g = &s->gate->slots[i];
        if (g->state == SLOT_FREE || now < g->deadline)
            continue;
        if (g->state == SLOT_HEAD && g->seen) {
            http_head h;
            ssize_t n = recv(g->fd, s->gate->buf, sizeof s->gate->buf, MSG_PEEK);
            http_head_check(s->gate->buf, n > 0 ? (size_t)n : 0, &h); /* JSON or a page */
            slot_refuse(s, g, 408, "request_timeout",
                        "the request's headers did not arrive in time", h.api);
        } else {
            slot_close(s, g);
        }
    }
}

static void *gate_main(void *arg)
{
    http_server *s = arg;
    struct http_gate *gt = s->gate;
    double last_sweep = http_now_ms();
    while (!gt->stop) {
        struct epoll_event evs[64];
        int n = epoll_wait(gt->ep, evs, 64, 250);
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            if (k == EV_LISTEN)
                gate_accept(s);
            else if (k < GATE_SLOTS && gt->slots[k].state != SLOT_FREE)
                gate_read(s, &gt->slots[k], evs[i].events);
        }
        if (http_now_ms() - last_sweep >= 250) {
            gate_sweep(s);
            last_sweep = http_now_ms();
        }
    }
    return NULL;
}

dx_status http_gate_open(http_server *s, const struct sockaddr *sa, socklen_t len, int *port)
{
    struct http_gate *gt = calloc(1, sizeof *gt);
    if (!gt)
        return dx_fail(DX_ENOMEM, "out of memory");
    gt->lfd = gt->ep = gt->wake = -1;
    s->gate = gt;
    int one = 1;
    gt->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (gt->lfd < 0 || setsockopt(gt->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(gt->lfd, sa, len) || listen(gt->lfd, 128))
        return dx_fail(DX_EIO, "%s", strerror(errno));
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(gt->lfd, (struct sockaddr *)&bound, &bl))
        return dx_fail(DX_EIO, "%s", strerror(errno));
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    gt->ep = epoll_create1(EPOLL_CLOEXEC);
    gt->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event el = {.events = EPOLLIN, .data.u32 = EV_LISTEN};
    struct epoll_event ew = {.events = EPOLLIN, .data.u32 = EV_WAKE};
    if (gt->ep < 0 || gt->wake < 0 || epoll_ctl(gt->ep, EPOLL_CTL_ADD, gt->lfd, &el) ||
        epoll_ctl(gt->ep, EPOLL_CTL_ADD, gt->wake, &ew))
        return dx_fail(DX_EIO, "%s", strerror(errno));
    if (pthread_create(&gt->thread, NULL, gate_main, s))
        return dx_fail(DX_EIO, "can't start the listener thread");
    gt->started = true;
    return DX_OK;
}

void http_gate_close(http_server *s)
{
    struct http_gate *gt = s->gate;
    if (!gt)
        return;
    if (gt->started) {
        gt->stop = true;
        uint64_t one = 1;
        ssize_t w = write(gt->wake, &one, sizeof one);
        (void)w;
        pthread_join(gt->thread, NULL);
    }
    for (size_t i = 0; i < GATE_SLOTS; i++)
        if (gt->slots[i].state != SLOT_FREE)
            slot_close(s, &gt->slots[i]);
    if (gt->lfd >= 0)
        close(gt->lfd);
    if (gt->ep >= 0)
        close(gt->ep);
    if (gt->wake >= 0)
        close(gt->wake);
    free(gt);
    s->gate = NULL;
}
