/* What the server trusts of a request: the Host it names (against DNS
 * rebinding), where a state-changing request comes from (against
 * cross-site requests), the client's address behind a trusted proxy, and
 * the per-session form token. */
#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "server/srv.h"

#define SESSION_COOKIE "drux_session"

/* A list "a, b,c" into s->... entries; each at most 253 bytes. */
static dx_status add_list(char (*dst)[HTTP_GUARD_NAME], size_t *n, const char *list,
                          const char *what)
{
    for (const char *p = list; p && *p;) {
        p += strspn(p, " ,\t");
        size_t len = strcspn(p, " ,\t");
        if (!len)
            break;
        if (len >= HTTP_GUARD_NAME)
            return dx_fail(DX_EARG, "%s: '%.40s...' is too long", what, p);
        if (*n >= HTTP_GUARD_MAX)
            return dx_fail(DX_ELIMIT, "%s: at most %d entries", what, HTTP_GUARD_MAX);
        memcpy(dst[*n], p, len);
        dst[*n][len] = '\0';
        for (size_t i = 0; i < len; i++)
            dst[*n][i] = (char)tolower((unsigned char)dst[*n][i]);
        (*n)++;
        p += len;
    }
    return DX_OK;
}

/* An address in its one canonical text form (IPv4-mapped IPv6 as IPv4). */
static bool canonical_addr(const char *in, char out[48])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, in, &a4) == 1)
        return inet_ntop(AF_INET, &a4, out, 48) != NULL;
    if (inet_pton(AF_INET6, in, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        memcpy(&a4, &a6.s6_addr[12], 4);
        return inet_ntop(AF_INET, &a4, out, 48) != NULL;
    }
    return inet_ntop(AF_INET6, &a6, out, 48) != NULL;
}

dx_status http_guard_init(http_server *s, const http_opts *o)
{
    http_guard *g = &s->guard;
    static const char *const loopback = "localhost,127.0.0.1,::1";
    dx_status st = add_list(g->hosts, &g->n_hosts, loopback, "allowed hosts");
    const char *bound = o->host ? o->host : "127.0.0.1";
    /* the address bound, when it is one: a client that names it is not rebound */
    if (!st && strcmp(bound, "0.0.0.0") && strcmp(bound, "::"))
        st = add_list(g->hosts, &g->n_hosts, bound, "allowed hosts");
    if (!st)
        st = add_list(g->hosts, &g->n_hosts, o->allowed_hosts, "--allowed-host");
    if (!st)
        st = add_list(g->proxies, &g->n_proxies, o->trusted_proxies, "--trusted-proxy");
    for (size_t i = 0; !st && i < g->n_proxies; i++) {
        char c[48];
        if (!canonical_addr(g->proxies[i], c))
            st = dx_fail(DX_EARG, "--trusted-proxy %s: give a numeric IPv4 or IPv6 address",
                         g->proxies[i]);
        else
            snprintf(g->proxies[i], HTTP_GUARD_NAME, "%s", c);
    }
    /* the form tokens' own key, from the server key: same tokens after a restart */
    static const char use[] = "drux form token v1";
    unsigned len = 0;
    if (!st && (!HMAC(EVP_sha256(), s->secret, (int)sizeof s->secret, (const unsigned char *)use,
                      sizeof use - 1, g->secret, &len) ||
                len != sizeof g->secret))
        st = dx_fail(DX_EINTERNAL, "can't derive the form token key");
    return st;
}

/* The host part of a Host header value: "[::1]:8080" -> "::1", "a.b:80" -> "a.b". */
static bool host_name(const char *h, char out[HTTP_GUARD_NAME])
{
    size_t len;
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        h++;
        len = (size_t)(end - h);
    } else {
        len = strcspn(h, ":");
    }
    if (!len || len >= HTTP_GUARD_NAME)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[len] = '\0';
    if (len > 1 && out[len - 1] == '.') /* "localhost." names the same host */
        out[len - 1] = '\0';
    return true;
}

bool http_guard_host_ok(http_req *r)
{
    const http_guard *g = &r->srv->guard;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!h) /* HTTP/1.0 without Host: no browser sends that (MHD refuses it for 1.1) */
        return true;
    char name[HTTP_GUARD_NAME];
    if (!host_name(h, name))
        return false;
    for (size_t i = 0; i < g->n_hosts; i++)
        if (!strcmp(g->hosts[i], "*") || !strcmp(g->hosts[i], name))
            return true;
    return false;
}

bool http_guard_same_origin(http_req *r)
{
    const char *site = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "same-origin") && strcasecmp(site, "none"))
        return false; /* cross-site or same-site: another origin sent it */
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    /* no Origin: not from a browser page (curl, SDKs). "null": our pages say
     * Referrer-Policy: no-referrer, so a browser posts their forms with Origin
     * null; Sec-Fetch-Site (checked above) and the form token decide those */
    if (!origin || !strcmp(origin, "null"))
        return true;
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    const char *rest = !strncasecmp(origin, "http://", 7)    ? origin + 7
                       : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                             : NULL;
    return rest && host && !strcasecmp(rest, host);
}

void http_guard_client(const http_server *s, const char *peer, const char *xff, char out[48])
{
    const http_guard *g = &s->guard;
    char cur[48];
    if (!canonical_addr(peer, cur))
        snprintf(cur, sizeof cur, "%s", peer);
    /* walk X-Forwarded-For from the right while the hop that added it is trusted */
    size_t end = xff ? strlen(xff) : 0;
    for (;;) {
        bool trusted = false;
        for (size_t i = 0; i < g->n_proxies && !trusted; i++)
            trusted = !strcmp(g->proxies[i], cur);
        if (!trusted || !end)
            break;
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        char item[64];
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        end = start ? start - 1 : 0;
        if (b - a >= sizeof item)
            break;
        memcpy(item, xff + a, b - a);
        item[b - a] = '\0';
        char next[48];
        if (!canonical_addr(item, next))
            break; /* not an address: keep the last hop we could trust */
        snprintf(cur, sizeof cur, "%s", next);
        if (!start)
            break;
    }
    snprintf(out, 48, "%s", cur);
}

/* ---- the form token ---- */

static bool session_valid(const char *v)
{
    if (!v || strlen(v) != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!isxdigit((unsigned char)v[i]))
            return false;
    return true;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* HMAC-SHA256(secret, session), 32 hex digits. */
static void token_of(const http_server *s, const char *session, char out[HTTP_TOKEN_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), s->guard.secret, (int)sizeof s->guard.secret, (const unsigned char *)session,
         strlen(session), mac, &len);
    hex(mac, HTTP_TOKEN_LEN / 2, out);
}

void http_guard_form_token(http_req *r, char out[HTTP_TOKEN_LEN + 1])
{
    if (!r->session[0]) {
        const char *c = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
        if (session_valid(c)) {
            snprintf(r->session, sizeof r->session, "%s", c);
        } else {
            unsigned char rnd[16];
            if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
                memset(rnd, 0, sizeof rnd); /* no entropy: forms still work, less safely */
            hex(rnd, sizeof rnd, r->session);
            r->new_session = true; /* http_send sets the cookie */
        }
    }
    token_of(r->srv, r->session, out);
}

bool http_guard_form_ok(http_req *r, const char *token)
{
    const char *c = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    if (!session_valid(c) || !token || strlen(token) != HTTP_TOKEN_LEN)
        return false;
    char want[HTTP_TOKEN_LEN + 1];
    token_of(r->srv, c, want);
    return CRYPTO_memcmp(want, token, HTTP_TOKEN_LEN) == 0;
}

void http_guard_cookie(http_req *r, struct MHD_Response *resp)
{
    if (r->account_cookie[0]) /* the account's session (account.c) */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->account_cookie);
    if (!r->new_session)
        return;
    char v[128];
    snprintf(v, sizeof v, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", r->session);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, v);
}
