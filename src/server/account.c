/* Accounts over HTTP: who a request comes from (the account cookie), the
 * sign-up, sign-in, sign-out and settings pages, and who may read or change
 * a question. The cryptography is auth.c's, the records store/users.c's,
 * the pages pages.c's; docs/accounts.md says what is promised. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "server/auth.h"
#include "server/pages.h"
#include "server/srv.h"
#include "store/users.h"

#define ACCOUNT_COOKIE "drux_account"
#define FAILS_PER_NAME 5   /* wrong passwords per account ... */
#define FAILS_PER_ADDR 20  /* ... and per client address ... */
#define FAIL_WINDOW_S 900  /* ... in 15 minutes before sign-in is refused */
#define SIGNUPS_PER_ADDR 5 /* new accounts per client address in the window */

dx_status acct_init(http_server *s, const http_opts *o)
{
    s->session_ttl_s = o->session_ttl_s > 0 ? o->session_ttl_s : 14 * 86400;
    s->https = o->https;
    s->signup = !o->no_signup;
    dx_status st = auth_init();
    if (!st && (!(s->throttle_name = auth_throttle_new(FAILS_PER_NAME, FAIL_WINDOW_S)) ||
                !(s->throttle_addr = auth_throttle_new(FAILS_PER_ADDR, FAIL_WINDOW_S)) ||
                !(s->throttle_signup = auth_throttle_new(SIGNUPS_PER_ADDR, FAIL_WINDOW_S))))
        st = dx_fail(DX_ENOMEM, "out of memory");
    /* a real hash of a random password: an unknown name costs a verification too */
    char pw[AUTH_TOKEN_LEN + 1];
    if (!st) {
        auth_token_new(pw);
        st = auth_password_hash(pw, s->dummy_hash);
        sodium_memzero(pw, sizeof pw);
    }
    return st;
}

void acct_free(http_server *s)
{
    auth_throttle_free(s->throttle_name);
    auth_throttle_free(s->throttle_addr);
    auth_throttle_free(s->throttle_signup);
}

static db *store(http_req *r)
{
    return jobs_store(r->srv->jobs);
}

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* The request came over TLS: the server was told so (--https), or a trusted
 * proxy connected and says so in X-Forwarded-Proto. */
static bool over_https(http_req *r)
{
    if (r->srv->https)
        return true;
    const http_guard *g = &r->srv->guard;
    const char *proto = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    if (!g->n_proxies || !proto || strcasecmp(proto, "https"))
        return false;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char peer[48] = "";
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof peer);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], peer, sizeof peer);
        else
            inet_ntop(AF_INET6, a6, peer, sizeof peer);
    }
    for (size_t i = 0; peer[0] && i < g->n_proxies; i++)
        if (!strcmp(g->proxies[i], peer))
            return true;
    return false;
}

/* Set-Cookie for the account: a new session (token) or, with NULL, its end. */
static void set_cookie(http_req *r, const char *token)
{
    snprintf(r->account_cookie, sizeof r->account_cookie,
             ACCOUNT_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
             token ? token : "", token ? r->srv->session_ttl_s : 0LL,
             over_https(r) ? "; Secure" : "");
}

void acct_who(http_req *r)
{
    if (r->who_known)
        return;
    r->who_known = true;
    r->uid = 0;
    r->uname[0] = '\0';
    const char *c = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, ACCOUNT_COOKIE);
    if (!c || !*c)
        return;
    db_user u;
    char digest[AUTH_DIGEST_LEN + 1];
    if (auth_token_valid(c)) {
        auth_token_digest(c, digest);
        if (db_session_user(store(r), digest, now_s(), &u) == DX_OK) {
            r->uid = u.id;
            snprintf(r->uname, sizeof r->uname, "%s", u.name);
            return;
        }
    }
    set_cookie(r, NULL); /* forged, expired or ended: the browser forgets it */
}

dx_status acct_question_access(http_req *r, const char *id, bool change, acct_question *out)
{
    memset(out, 0, sizeof *out);
    dx_status st = db_question_owner(store(r), id, &out->owner, out->share, sizeof out->share);
    if (st)
        return st;
    acct_who(r);
    /* asked anonymously: everyone's, as before accounts */
    out->may_change = out->owner == 0 || out->owner == r->uid;
    if (out->may_change)
        return DX_OK;
    const char *s = http_query(r, "s");
    size_t n = strlen(out->share);
    if (!change && s && n && strlen(s) == n && sodium_memcmp(s, out->share, n) == 0) {
        out->via_share = true;
        return DX_OK;
    }
    /* the same answer as for no such question: nobody learns it exists */
    return dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
}

_Static_assert(AUTH_TOKEN_LEN + 1 == 44, "srv.h's acct_asker takes 44 bytes");

void acct_asker(http_req *r, jobs_asker *who, char share[AUTH_TOKEN_LEN + 1])
{
    acct_who(r);
    memset(who, 0, sizeof *who);
    who->owner = r->uid;
    if (r->uid) {
        auth_token_new(share);
        who->share = share;
    }
}

bool acct_api_write_ok(http_req *r, enum MHD_Result *ret)
{
    acct_who(r);
    if (!r->uid)
        return true;
    /* a signed-in browser's cookie rides along: a write must also carry the
     * page's form token, which another site can't read */
    const char *t = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Drux-Token");
    if (t && http_guard_form_ok(r, t))
        return true;
    *ret = http_error(r, 403, "bad_form_token",
                      "a signed-in request that changes something needs the X-Drux-Token "
                      "header of this server's pages");
    return false;
}

/* ---- pages ---- */

static enum MHD_Result send_page(http_req *r, int status, dx_status st, dx_buf *b)
{
    enum MHD_Result ret =
        st ? http_error_status(r, st)
           : http_send(r, status, "text/html; charset=utf-8", b->data ? b->data : "", b->len, true);
    dx_buf_free(b);
    return ret;
}

static enum MHD_Result form_page(http_req *r, page_account_form form, int status, const char *name,
                                 const char *error)
{
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    acct_who(r);
    page_viewer v = {.account = r->uid ? r->uname : NULL};
    page_viewer_set(&v);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_account(&b, form, token, name, error, r->srv->signup);
    page_viewer_set(NULL);
    return send_page(r, status, st, &b);
}

/* A form field into out; "" when absent. False (error page queued) when it
 * is malformed or longer than cap - 1. */
static bool field(http_req *r, const char *key, char *out, size_t cap, enum MHD_Result *ret,
                  page_account_form form)
{
    dx_status st = api_form_value(r->body.data ? r->body.data : "", r->body.len, key, out, cap);
    if (st == DX_ENOTFOUND) {
        out[0] = '\0';
        return true;
    }
    if (st) {
        *ret = form_page(r, form, 400, NULL, "A field of the form is too long or not text.");
        return false;
    }
    return true;
}

/* Starts a session for user id: the cookie, and a redirect home. */
static enum MHD_Result start_session(http_req *r, long long uid, const char *to)
{
    char token[AUTH_TOKEN_LEN + 1], digest[AUTH_DIGEST_LEN + 1];
    auth_token_new(token);
    auth_token_digest(token, digest);
    dx_status st = db_session_add(store(r), digest, uid, now_s(), r->srv->session_ttl_s);
    sodium_memzero(digest, sizeof digest);
    if (st)
        return http_error_status(r, st);
    set_cookie(r, token);
    sodium_memzero(token, sizeof token);
    return http_redirect(r, to);
}

static bool throttled(http_req *r, auth_throttle *t, const char *key, enum MHD_Result *ret,
                      page_account_form form)
{
    double retry = 0;
    if (auth_throttle_allowed(t, key, (double)now_s(), &retry))
        return false;
    char msg[160];
    snprintf(msg, sizeof msg, "Too many attempts. Try again in %d minute%s.", (int)(retry / 60) + 1,
             (int)(retry / 60) + 1 == 1 ? "" : "s");
    *ret = form_page(r, form, 429, NULL, msg);
    return true;
}

static enum MHD_Result sign_in(http_req *r)
{
    enum MHD_Result ret;
    if (!html_form_ok(r, &ret))
        return ret;
    char raw[AUTH_MAX_NAME + 1], name[AUTH_MAX_NAME], pw[AUTH_MAX_PASSWORD + 1];
    if (!field(r, "name", raw, sizeof raw, &ret, PAGE_SIGNIN) ||
        !field(r, "password", pw, sizeof pw, &ret, PAGE_SIGNIN))
        return ret;
    char key_addr[64], key_name[AUTH_MAX_NAME + 8];
    snprintf(key_addr, sizeof key_addr, "ip:%s", r->client);
    bool named = auth_name_canonical(raw, name) == DX_OK;
    snprintf(key_name, sizeof key_name, "name:%s", named ? name : "");
    if (throttled(r, r->srv->throttle_addr, key_addr, &ret, PAGE_SIGNIN) ||
        (named && throttled(r, r->srv->throttle_name, key_name, &ret, PAGE_SIGNIN))) {
        sodium_memzero(pw, sizeof pw);
        return ret;
    }
    db_user u;
    memset(&u, 0, sizeof u);
    bool found = named && db_user_get(store(r), name, &u) == DX_OK;
    /* an unknown name costs a verification too: timing doesn't tell which names exist */
    bool ok =
        auth_password_verify(found ? u.pw_hash : r->srv->dummy_hash, pw) && found && !u.disabled;
    if (ok && auth_password_needs_rehash(u.pw_hash)) {
        char h[AUTH_HASH_MAX];
        if (auth_password_hash(pw, h) == DX_OK)
            db_user_set_password(store(r), u.id, h);
    }
    sodium_memzero(pw, sizeof pw);
    if (!ok) {
        double t = (double)now_s();
        auth_throttle_failure(r->srv->throttle_addr, key_addr, t);
        if (named)
            auth_throttle_failure(r->srv->throttle_name, key_name, t);
        return form_page(r, PAGE_SIGNIN, 401, named ? name : NULL,
                         "Wrong account name or password.");
    }
    auth_throttle_success(r->srv->throttle_name, key_name);
    return start_session(r, u.id, "/");
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum MHD_Result sign_up(http_req *r)
{
    enum MHD_Result ret;
    if (!r->srv->signup)
        return form_page(r, PAGE_SIGNUP, 403, NULL,
                         "This server does not take new accounts; ask its operator for one.");
    if (!html_form_ok(r, &ret))
        return ret;
    char raw[AUTH_MAX_NAME + 1], name[AUTH_MAX_NAME], pw[AUTH_MAX_PASSWORD + 1],
        pw2[AUTH_MAX_PASSWORD + 1];
    if (!field(r, "name", raw, sizeof raw, &ret, PAGE_SIGNUP) ||
        !field(r, "password", pw, sizeof pw, &ret, PAGE_SIGNUP) ||
        !field(r, "password2", pw2, sizeof pw2, &ret, PAGE_SIGNUP))
        return ret;
    const char *error = NULL;
    char hash[AUTH_HASH_MAX], key[64], created[32];
    snprintf(key, sizeof key, "new:%s", r->client);
    long long uid = 0;
    if (auth_name_canonical(raw, name))
        error = "An account name has 3 to 63 letters, digits or . _ - @ + (an e-mail address "
                "works).";
    else if (strcmp(pw, pw2))
        error = "The two passwords differ.";
    else if (strlen(pw) < AUTH_MIN_PASSWORD)
        error = "A password has at least 10 characters.";
    else if (throttled(r, r->srv->throttle_signup, key, &ret, PAGE_SIGNUP))
        goto out;
    else if (auth_password_hash(pw, hash))
        error = "The password could not be hashed; try another.";
    if (!error) {
        utc_now(created);
        dx_status st = db_user_add(store(r), name, hash, created, &uid);
        if (st == DX_EARG)
            error = "That account name is taken.";
        else if (st) {
            ret = http_error_status(r, st);
            goto out;
        }
    }
    if (error) {
        ret = form_page(r, PAGE_SIGNUP, 400, name[0] && strlen(raw) < AUTH_MAX_NAME ? raw : NULL,
                        error);
        goto out;
    }
    auth_throttle_failure(r->srv->throttle_signup, key, (double)now_s());
    ret = start_session(r, uid, "/");
out:
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(pw2, sizeof pw2);
    return ret;
}

static enum MHD_Result sign_out(http_req *r, bool everywhere)
{
    enum MHD_Result ret;
    if (!html_form_ok(r, &ret))
        return ret;
    acct_who(r);
    const char *c = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, ACCOUNT_COOKIE);
    dx_status st = DX_OK;
    if (everywhere && r->uid) {
        st = db_session_delete_user(store(r), r->uid);
    } else if (c && auth_token_valid(c)) {
        char digest[AUTH_DIGEST_LEN + 1];
        auth_token_digest(c, digest);
        st = db_session_delete(store(r), digest);
    }
    if (st)
        return http_error_status(r, st);
    set_cookie(r, NULL);
    return http_redirect(r, "/");
}

static enum MHD_Result settings(http_req *r, const char *notice, const char *error, int status)
{
    acct_who(r);
    if (!r->uid)
        return http_redirect(r, "/signin");
    char token[HTTP_TOKEN_LEN + 1];
    http_guard_form_token(r, token);
    page_viewer v = {.account = r->uname};
    page_viewer_set(&v);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_settings(&b, token, r->uname, notice, error);
    page_viewer_set(NULL);
    return send_page(r, status, st, &b);
}

static enum MHD_Result change_password(http_req *r)
{
    enum MHD_Result ret;
    if (!html_form_ok(r, &ret))
        return ret;
    acct_who(r);
    if (!r->uid)
        return http_redirect(r, "/signin");
    char old[AUTH_MAX_PASSWORD + 1], pw[AUTH_MAX_PASSWORD + 1], pw2[AUTH_MAX_PASSWORD + 1];
    if (!field(r, "old", old, sizeof old, &ret, PAGE_SIGNIN) ||
        !field(r, "password", pw, sizeof pw, &ret, PAGE_SIGNIN) ||
        !field(r, "password2", pw2, sizeof pw2, &ret, PAGE_SIGNIN))
        return ret;
    char key_name[AUTH_MAX_NAME + 8], hash[AUTH_HASH_MAX];
    snprintf(key_name, sizeof key_name, "name:%s", r->uname);
    const char *error = NULL;
    int status = 400;
    db_user u;
    double retry;
    dx_status st = db_user_get(store(r), r->uname, &u);
    if (st) {
        ret = http_error_status(r, st);
        goto out;
    }
    if (!auth_throttle_allowed(r->srv->throttle_name, key_name, (double)now_s(), &retry)) {
        error = "Too many wrong passwords; try again later.";
        status = 429;
    } else if (!auth_password_verify(u.pw_hash, old)) {
        auth_throttle_failure(r->srv->throttle_name, key_name, (double)now_s());
        error = "The current password is wrong.";
        status = 401;
    } else if (strcmp(pw, pw2)) {
        error = "The two new passwords differ.";
    } else if (auth_password_hash(pw, hash)) {
        error = "A password has 10 to 1024 characters.";
    }
    if (error) {
        ret = settings(r, NULL, error, status);
        goto out;
    }
    /* every session ends (sign-out everywhere); this browser gets a new one */
    if ((st = db_user_set_password(store(r), u.id, hash))) {
        ret = http_error_status(r, st);
        goto out;
    }
    ret = start_session(r, u.id, "/settings?done=password");
out:
    sodium_memzero(old, sizeof old);
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(pw2, sizeof pw2);
    return ret;
}

enum MHD_Result acct_route(http_req *r, const char *path, bool *handled)
{
    *handled = true;
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    bool post = !strcmp(r->method, "POST");
    if (!strcmp(path, "/signin") && get)
        return form_page(r, PAGE_SIGNIN, 200, NULL, NULL);
    if (!strcmp(path, "/signin") && post)
        return sign_in(r);
    if (!strcmp(path, "/signup") && get)
        return form_page(r, PAGE_SIGNUP, r->srv->signup ? 200 : 403, NULL,
                         r->srv->signup ? NULL
                                        : "This server does not take new accounts; ask its "
                                          "operator for one.");
    if (!strcmp(path, "/signup") && post)
        return sign_up(r);
    if (!strcmp(path, "/signout") && post)
        return sign_out(r, false);
    if (!strcmp(path, "/signout-everywhere") && post)
        return sign_out(r, true);
    if (!strcmp(path, "/settings") && get) {
        const char *done = http_query(r, "done");
        return settings(r, done && !strcmp(done, "password") ? "Password changed." : NULL, NULL,
                        200);
    }
    if (!strcmp(path, "/settings/password") && post)
        return change_password(r);
    *handled = false;
    return MHD_NO;
}
