/* Accounts over HTTP: who a request comes from (the account cookie), the
 * sign-up, sign-in, sign-out and settings pages, and who may read or change
 * a question. The cryptography is auth.c's, the records store/users.c's,
 * the pages pages.c's; docs/accounts.md says what is promised. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "council/config.h"
#include "server/auth.h"
#include "server/pages.h"
#include "server/srv.h"
#include "store/users.h"

#define ACCOUNT_COOKIE "drux_account"
#define FAILS_PER_NAME 5    /* wrong passwords per account ... */
#define FAILS_PER_ADDR 20   /* ... and per client address ... */
#define FAIL_WINDOW_S 900   /* ... in 15 minutes before sign-in is refused */
#define SIGNUPS_PER_ADDR 10 /* new accounts per client address in the window */

dx_status acct_init(http_server *s, const http_opts *o)
{
    s->session_ttl_s = o->session_ttl_s > 0 ? o->session_ttl_s : 14 * 86400;
    s->https = o->https;
    s->signup = !o->no_signup;
    s->open_premium = o->open_premium;
    dx_status st = auth_init();
    if (!st && (!(s->throttle_name = auth_throttle_new(FAILS_PER_NAME, FAIL_WINDOW_S)) ||
                !(s->throttle_addr = auth_throttle_new(FAILS_PER_ADDR, FAIL_WINDOW_S)) ||
                !(s->throttle_signup = auth_throttle_new(SIGNUPS_PER_ADDR, FAIL_WINDOW_S))))
        st = dx_fail(DX_ENOMEM, "out of memory");
    /* users' provider keys are sealed under a key of their own, derived from
     * the server key (server.c loaded it), never the server key itself */
    static const char ctx[] = "drux provider keys v1";
    if (!st && crypto_generichash(s->seal_key, sizeof s->seal_key, (const unsigned char *)ctx,
                                  sizeof ctx - 1, s->secret, sizeof s->secret))
        st = dx_fail(DX_EINTERNAL, "can't derive the key for users' provider keys");
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

static enum MHD_Result settings(http_req *r, const char *notice, const char *error, int status);

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
    premium_view pv;
    page_viewer v = {.account = r->uid ? r->uname : NULL, .premium = acct_premium_view(r, &pv)};
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
    premium_view pv;
    page_viewer v = {.account = r->uname, .premium = acct_premium_view(r, &pv)};
    page_viewer_set(&v);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_settings(&b, token, r->uname, notice, error);
    page_viewer_set(NULL);
    return send_page(r, status, st, &b);
}

/* A form post of a signed-in user's: false with *ret the form's refusal, or
 * the way to the sign-in page for someone not signed in. */
static bool signed_in_form(http_req *r, enum MHD_Result *ret)
{
    if (!html_form_ok(r, ret))
        return false;
    acct_who(r);
    if (!r->uid) {
        *ret = http_redirect(r, "/signin");
        return false;
    }
    return true;
}

static enum MHD_Result change_password(http_req *r)
{
    enum MHD_Result ret;
    if (!signed_in_form(r, &ret))
        return ret;
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

/* ---- premium members (docs/accounts.md) ---- */

static void utc_day(char out[16])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

dx_status acct_select(http_req *r, const char *const *asked, size_t n_asked, const bool *form_pick,
                      acct_selection *sel)
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    acct_who(r);
    memset(sel, 0, sizeof *sel);
    if (asked) {
        for (size_t k = 0; k < n_asked && sel->n < DX_MAX_MEMBERS; k++) {
            const member_config *mc = council_config_member(cfg, asked[k]);
            if (mc && mc->premium && !r->uid && !r->srv->open_premium)
                return dx_fail(DX_EUNSUPPORTED,
                               "%.64s is a premium member: sign in to ask premium members",
                               mc->name);
            sel->names[sel->n++] = asked[k]; /* an unknown name: jobs says which */
        }
    } else {
        /* the whole council, less the premium members the asker did not choose:
         * the form's ticks, else the user's defaults; anonymous: none */
        bool chosen[DX_MAX_MEMBERS] = {0};
        if (form_pick)
            memcpy(chosen, form_pick, sizeof chosen);
        else if (r->uid)
            acct_defaults(r, chosen);
        sel->all = true;
        for (size_t i = 0; i < cfg->n_members && i < DX_MAX_MEMBERS; i++) {
            const member_config *mc = &cfg->members[i];
            if (!mc->premium || (r->uid && chosen[i]) || (!r->uid && r->srv->open_premium))
                sel->names[sel->n++] = mc->name;
            else
                sel->all = false;
        }
        if (sel->n == 0)
            return dx_fail(DX_EARG, r->uid ? "choose at least one premium member: this council "
                                             "has no free ones"
                                           : "this council has only premium members: sign in "
                                             "to ask them");
    }
    for (size_t k = 0; k < sel->n; k++) {
        const member_config *mc = council_config_member(cfg, sel->names[k]);
        sel->n_premium += mc && mc->premium;
    }
    return DX_OK;
}

dx_status acct_select_free(http_req *r, acct_selection *sel)
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    memset(sel, 0, sizeof *sel);
    sel->all = true;
    for (size_t i = 0; i < cfg->n_members && i < DX_MAX_MEMBERS; i++) {
        if (cfg->members[i].premium && !r->srv->open_premium)
            sel->all = false;
        else
            sel->names[sel->n++] = cfg->members[i].name;
    }
    return sel->n ? DX_OK
                  : dx_fail(DX_EARG, "this council has only premium members, which an "
                                     "anonymous request can't ask");
}

void acct_defaults(http_req *r, bool chosen[DX_MAX_MEMBERS])
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    memset(chosen, 0, DX_MAX_MEMBERS * sizeof *chosen);
    db_names def = {0};
    if (r->uid && !db_user_defaults_get(store(r), r->uid, &def))
        for (size_t k = 0; k < def.n; k++)
            for (size_t i = 0; i < cfg->n_members && i < DX_MAX_MEMBERS; i++)
                if (cfg->members[i].premium && !strcmp(def.names[k], cfg->members[i].name))
                    chosen[i] = true;
    db_names_free(&def);
}

/* The providers of the council's premium members, each once. */
static size_t premium_providers(const council_config *cfg, const char *out[JOBS_MAX_KEYS])
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_members; i++) {
        const char *p = cfg->members[i].premium ? cfg->members[i].provider : NULL;
        bool seen = !p;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(out[k], p);
        if (!seen && n < JOBS_MAX_KEYS)
            out[n++] = p;
    }
    return n;
}

/* acct_start, or (parent not NULL) a follow-up on parent (threads). */
static bool start_for(http_req *r, const char *question, const acct_selection *sel,
                      const char *parent, char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret)
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    jobs_asker who;
    char share[AUTH_TOKEN_LEN + 1], day[16];
    acct_asker(r, &who, share);
    utc_day(day);
    int used = 0;
    dx_status st = DX_OK;
    /* premium calls come out of the day's allowance first, all or none */
    if (sel->n_premium && r->uid &&
        (st = db_premium_take(store(r), r->uid, day, sel->n_premium, &used))) {
        if (st == DX_ELIMIT)
            *ret = http_error(r, 429, "premium_quota",
                              "this question asks %d premium member%s and today's allowance "
                              "has %s left (%d used): ask the free members, or again tomorrow "
                              "(UTC)",
                              sel->n_premium, sel->n_premium == 1 ? "" : "s",
                              used ? "too few" : "none", used);
        else
            *ret = http_error_status(r, st);
        return false;
    }
    /* the user's own keys, opened for the question's life (jobs keeps copies) */
    char *plain[JOBS_MAX_KEYS] = {0};
    const char *provs[JOBS_MAX_KEYS];
    size_t np = sel->n_premium && r->uid ? premium_providers(cfg, provs) : 0;
    for (size_t k = 0; k < np; k++) {
        char *sealed = NULL;
        if (db_user_key_get(store(r), r->uid, provs[k], &sealed) == DX_OK &&
            auth_secret_open(r->srv->seal_key, sealed, &plain[who.n_keys]) == DX_OK) {
            who.key_provider[who.n_keys] = provs[k];
            who.key_value[who.n_keys] = plain[who.n_keys];
            who.n_keys++;
        }
        free(sealed);
    }
    st = parent
             ? jobs_question_followup(r->srv->jobs, parent, question, sel->all ? NULL : sel->names,
                                      sel->all ? 0 : sel->n, &who, id)
             : jobs_question_start_as(r->srv->jobs, question, sel->all ? NULL : sel->names,
                                      sel->all ? 0 : sel->n, &who, id);
    for (size_t k = 0; k < who.n_keys; k++)
        auth_secret_free(plain[k]);
    if (st) {
        if (sel->n_premium && r->uid) /* not asked: the calls go back */
            db_premium_take(store(r), r->uid, day, -sel->n_premium, NULL);
        *ret = http_error_status(r, st);
        return false;
    }
    return true;
}

bool acct_start(http_req *r, const char *question, const acct_selection *sel,
                char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret)
{
    return start_for(r, question, sel, NULL, id, ret);
}

/* A JSON array's strings (at most DX_MAX_MEMBERS) into names; how many. */
static size_t member_names(const json_t *from, const char *names[DX_MAX_MEMBERS])
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(from) && n < DX_MAX_MEMBERS; i++)
        if (json_is_string(json_array_get(from, i)))
            names[n++] = json_string_value(json_array_get(from, i));
    return n;
}

/* After st (a failure is told as acct_error): question to the members
 * names[0..n) (names NULL: the default choice), a follow-up of parent
 * unless that is NULL. */
static bool select_and_start(http_req *r, dx_status st, const char *question,
                             const char *const *names, size_t n, const char *parent,
                             char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret)
{
    acct_selection sel;
    if (!st)
        st = acct_select(r, names, n, NULL, &sel);
    if (st) {
        *ret = acct_error(r, st);
        return false;
    }
    return start_for(r, question, &sel, parent, id, ret);
}

bool acct_followup(http_req *r, const char *parent, const char *question, json_t *members,
                   char id[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret)
{
    /* the request's members, else the parent's */
    db_source src = {0};
    const char *names[DX_MAX_MEMBERS];
    size_t n = members ? member_names(members, names) : 0;
    dx_status st = members ? DX_OK : db_question_source(store(r), parent, &src);
    bool ok = select_and_start(r, st, question,
                               members              ? names
                               : src.members.stored ? src.members.names
                                                    : NULL,
                               members ? n : src.members.n, parent, id, ret);
    db_source_free(&src);
    return ok;
}

bool acct_rerun(http_req *r, const char *id, char nid[DX_HTTP_MAX_ID + 1], enum MHD_Result *ret)
{
    db_source src;
    dx_status st = db_question_source(store(r), id, &src);
    bool ok = select_and_start(r, st, src.question, src.members.stored ? src.members.names : NULL,
                               src.members.n, NULL, nid, ret);
    db_source_free(&src);
    return ok;
}

enum MHD_Result acct_error(http_req *r, dx_status st)
{
    if (st == DX_EUNSUPPORTED) /* a premium member asked anonymously */
        return http_error(r, 403, "sign_in_for_premium", "%s", dx_errmsg());
    return http_error_status(r, st);
}

const page_premium *acct_premium_view(http_req *r, premium_view *pv)
{
    const council_config *cfg = jobs_council(r->srv->jobs);
    acct_who(r);
    memset(pv, 0, sizeof *pv);
    bool chosen[DX_MAX_MEMBERS];
    acct_defaults(r, chosen);
    for (size_t i = 0; i < cfg->n_members && i < DX_MAX_MEMBERS; i++) {
        const member_config *mc = &cfg->members[i];
        if (!mc->premium)
            continue;
        page_member_choice *c = &pv->members[pv->p.n_members++];
        c->index = (int)i;
        c->name = mc->name;
        c->model = mc->model;
        c->chosen = chosen[i];
    }
    if (!pv->p.n_members)
        return NULL;
    pv->p.members = pv->members;
    pv->p.daily_limit = -1;
    if (r->uid) {
        const char *provs[JOBS_MAX_KEYS];
        size_t np = premium_providers(cfg, provs);
        for (size_t k = 0; k < np; k++) {
            char *sealed = NULL;
            pv->keys[k].provider = provs[k];
            pv->keys[k].saved = db_user_key_get(store(r), r->uid, provs[k], &sealed) == DX_OK;
            free(sealed);
        }
        pv->p.keys = pv->keys;
        pv->p.n_keys = np;
        db_user u;
        char day[16];
        utc_day(day);
        if (db_user_get(store(r), r->uname, &u) == DX_OK &&
            db_premium_take(store(r), r->uid, day, 0, &pv->p.used_today) == DX_OK)
            pv->p.daily_limit = u.daily_premium;
    }
    pv->p.keys = pv->keys;
    return &pv->p;
}

/* pm<index> ticks of a posted form into pick; false when the form carries no
 * choice (pmsel absent). */
bool acct_form_pick(http_req *r, bool pick[DX_MAX_MEMBERS])
{
    const char *body = r->body.data ? r->body.data : "";
    char v[8], key[16];
    memset(pick, 0, DX_MAX_MEMBERS * sizeof *pick);
    if (api_form_value(body, r->body.len, "pmsel", v, sizeof v))
        return false;
    for (int i = 0; i < (int)DX_MAX_MEMBERS; i++) {
        snprintf(key, sizeof key, "pm%d", i);
        pick[i] = api_form_value(body, r->body.len, key, v, sizeof v) == DX_OK && !strcmp(v, "1");
    }
    return true;
}

static enum MHD_Result save_defaults(http_req *r)
{
    enum MHD_Result ret;
    if (!signed_in_form(r, &ret))
        return ret;
    const council_config *cfg = jobs_council(r->srv->jobs);
    bool pick[DX_MAX_MEMBERS];
    acct_form_pick(r, pick);
    const char *names[DX_MAX_MEMBERS];
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_members && i < DX_MAX_MEMBERS; i++)
        if (pick[i] && cfg->members[i].premium)
            names[n++] = cfg->members[i].name;
    dx_status st = db_user_defaults_set(store(r), r->uid, names, n);
    return st ? http_error_status(r, st) : http_redirect(r, "/settings?done=members");
}

static enum MHD_Result save_keys(http_req *r)
{
    enum MHD_Result ret;
    if (!signed_in_form(r, &ret))
        return ret;
    const char *provs[JOBS_MAX_KEYS];
    size_t np = premium_providers(jobs_council(r->srv->jobs), provs);
    const char *body = r->body.data ? r->body.data : "";
    dx_status st = DX_OK;
    const char *error = NULL;
    char *key = malloc(AUTH_MAX_SECRET + 1);
    if (!key)
        return http_error(r, 500, "internal", "out of memory");
    for (size_t k = 0; !st && !error && k < np; k++) {
        char name[64], v[8];
        snprintf(name, sizeof name, "forget_%s", provs[k]);
        if (api_form_value(body, r->body.len, name, v, sizeof v) == DX_OK && !strcmp(v, "1")) {
            st = db_user_key_delete(store(r), r->uid, provs[k]);
            continue;
        }
        snprintf(name, sizeof name, "key_%s", provs[k]);
        dx_status fs = api_form_value(body, r->body.len, name, key, AUTH_MAX_SECRET + 1);
        /* what is wrong with a key is said without the key */
        if (fs == DX_ELIMIT || fs == DX_EFORMAT) {
            error = "A key is too long or not text; nothing was saved for it.";
            break;
        }
        size_t a = 0, b = fs ? 0 : strlen(key);
        while (a < b && (key[a] == ' ' || key[a] == '\t'))
            a++;
        while (b > a && (key[b - 1] == ' ' || key[b - 1] == '\t'))
            b--;
        if (a == b)
            continue; /* left empty: the saved key stays */
        key[b] = '\0';
        if (strpbrk(key + a, "\r\n")) {
            error = "A key is one line; nothing was saved for it.";
            break;
        }
        char *sealed = NULL;
        st = auth_secret_seal(r->srv->seal_key, key + a, &sealed);
        if (!st)
            st = db_user_key_set(store(r), r->uid, provs[k], sealed);
        free(sealed);
    }
    sodium_memzero(key, AUTH_MAX_SECRET + 1);
    free(key);
    if (error)
        return settings(r, NULL, error, 400);
    if (st) /* a store error: its message names no key */
        return http_error_status(r, st);
    return http_redirect(r, "/settings?done=keys");
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
        const char *notice = !done                       ? NULL
                             : !strcmp(done, "password") ? "Password changed."
                             : !strcmp(done, "members")  ? "Default premium members saved."
                             : !strcmp(done, "keys")     ? "Keys saved."
                                                         : NULL;
        return settings(r, notice, NULL, 200);
    }
    if (!strcmp(path, "/settings/members") && post)
        return save_defaults(r);
    if (!strcmp(path, "/settings/keys") && post)
        return save_keys(r);
    if (!strcmp(path, "/settings/password") && post)
        return change_password(r);
    *handled = false;
    return MHD_NO;
}
