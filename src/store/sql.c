/* The store's SQL seam: one interface over SQLite and PostgreSQL (libpq). */
#include "store/sql.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"

/* PostgreSQL type oids (catalog/pg_type_d.h, stable across versions). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

#define MAX_PARAMS 64
/* Statements a PostgreSQL connection keeps prepared: the store's SQL is a
 * fixed set of texts (a few dozen); past the bound, statements run
 * unprepared. */
#define MAX_PREPARED 256

/* One prepared statement: the rewritten text and its parameters' types
 * (one letter each: t text, i int8, b bytea, n unknown), and its name. */
typedef struct pg_prepared {
    unsigned long long hash;
    char *key; /* text, '\n', type letters */
    char name[16];
} pg_prepared;

struct sql {
    sql_kind kind;
    sqlite3 *lite;
    PGconn *pg;
    bool in_tx;
    sql_error err;
    char target[256]; /* redacted, for messages */
    char listen[160]; /* the LISTEN statement to repeat after a reconnect */
    pg_prepared prepared[MAX_PREPARED];
    int n_prepared;
    unsigned next_name; /* names are never reused on a connection */
};

typedef struct pg_param {
    char *val; /* owned; NULL binds NULL */
    int len, fmt;
    unsigned oid;
} pg_param;

struct sql_stmt {
    sql *c;
    sqlite3_stmt *lite;
    /* PostgreSQL: the rewritten text, its parameters, the result being read */
    char *text;
    int n_params;
    pg_param params[MAX_PARAMS];
    PGresult *res;
    int row, n_rows;
    bool ran;
    long long changes;
    size_t last_bytes;
    unsigned char *blob; /* PQunescapeBytea of the last sql_blob */
};

/* ---- targets ---- */

bool sql_target_is_postgres(const char *t)
{
    if (!t)
        return false;
    if (!strncmp(t, "postgres://", 11) || !strncmp(t, "postgresql://", 13))
        return true;
    /* libpq key=value form: "host=/run/pg dbname=drux" (keys at the start or after a blank,
     * so a file named "/tmp/host=1.db" stays a file) */
    static const char *const keys[] = {"host=", "dbname=", "service="};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (const char *p = strstr(t, keys[k]); p; p = strstr(p + 1, keys[k]))
            if (p == t || p[-1] == ' ' || p[-1] == '\t')
                return true;
    }
    return false;
}

/* Appends s[0..n) to out at *o, keeping room for the NUL. */
static void put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *o + 1 < cap; i++)
        out[(*o)++] = s[i];
}

void sql_target_redact(const char *t, char *out, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return;
    if (!t)
        t = "";
    size_t n = strlen(t), i = 0;
    const char *scheme = strstr(t, "://");
    if (scheme) {
        /* scheme://[user[:password]@]host...: the userinfo ends at the last '@'
         * before the first '/', '?' or '#' after the scheme */
        size_t start = (size_t)(scheme - t) + 3, end = start, at = SIZE_MAX;
        while (end < n && t[end] != '/' && t[end] != '?' && t[end] != '#') {
            if (t[end] == '@')
                at = end;
            end++;
        }
        put(out, cap, &o, t, start);
        i = start;
        if (at != SIZE_MAX) {
            const char *colon = memchr(t + start, ':', at - start);
            if (colon) {
                put(out, cap, &o, t + start, (size_t)(colon - t) - start);
                put(out, cap, &o, ":***", 4);
                i = at;
            }
        }
    }
    /* password=VALUE anywhere after that (URL query or key=value form) */
    while (i < n) {
        bool word_start =
            i == 0 || t[i - 1] == '?' || t[i - 1] == '&' || t[i - 1] == ' ' || t[i - 1] == '\t';
        if (word_start && !strncmp(t + i, "password", 8)) {
            size_t k = i + 8;
            while (k < n && (t[k] == ' ' || t[k] == '\t'))
                k++;
            if (k < n && t[k] == '=') {
                put(out, cap, &o, "password=***", 12);
                k++;
                while (k < n && (t[k] == ' ' || t[k] == '\t'))
                    k++;
                if (k < n && t[k] == '\'') { /* quoted value, \' and \\ escapes */
                    for (k++; k < n && t[k] != '\''; k++)
                        if (t[k] == '\\' && k + 1 < n)
                            k++;
                    if (k < n)
                        k++;
                } else {
                    while (k < n && t[k] != '&' && t[k] != ' ' && t[k] != '\t' && t[k] != '#')
                        k++;
                }
                i = k;
                continue;
            }
        }
        put(out, cap, &o, t + i, 1);
        i++;
    }
    out[o] = '\0';
}

/* ---- errors ---- */

static dx_status fail_kind(sql *c, sql_error kind, const char *what, const char *msg)
{
    c->err = kind;
    dx_status st = kind == SQL_ERR_CONSTRAINT ? DX_EARG : kind == SQL_ERR_BUSY ? DX_EBUSY : DX_EIO;
    char m[400];
    snprintf(m, sizeof m, "%s", msg ? msg : "unknown error");
    size_t l = strlen(m);
    while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
        m[--l] = '\0';
    return dx_fail(st, "store: %s: %s", what, m);
}

static sql_error lite_kind(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return SQL_ERR_CONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SQL_ERR_BUSY;
    default:
        return SQL_ERR_OTHER;
    }
}

static dx_status lite_fail(sql *c, int rc, const char *what)
{
    return fail_kind(c, lite_kind(rc), what, sqlite3_errmsg(c->lite));
}

/* The kind of a PostgreSQL error from its SQLSTATE class. */
static sql_error pg_kind(sql *c, const PGresult *r)
{
    if (PQstatus(c->pg) == CONNECTION_BAD)
        return SQL_ERR_CONNECTION;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return SQL_ERR_OTHER;
    if (!strncmp(state, "23", 2))
        return SQL_ERR_CONSTRAINT;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        return SQL_ERR_BUSY;
    if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
        return SQL_ERR_CONNECTION;
    return SQL_ERR_OTHER;
}

static dx_status pg_fail(sql *c, const PGresult *r, const char *what)
{
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return fail_kind(c, pg_kind(c, r), what, msg ? msg : PQerrorMessage(c->pg));
}

sql_error sql_error_of(sql *c)
{
    return c->err;
}

sql_kind sql_kind_of(sql *c)
{
    return c->kind;
}

/* ---- opening ---- */

static void pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs ("relation exists, skipping") are not for people */
}

dx_status sql_open(const char *target, sql **out)
{
    *out = NULL;
    sql *c = calloc(1, sizeof *c);
    if (!c)
        return dx_oom("store");
    sql_target_redact(target, c->target, sizeof c->target);
    dx_status st = DX_OK;
    if (sql_target_is_postgres(target)) {
        c->kind = SQL_POSTGRES;
        c->pg = PQconnectdb(target);
        if (!c->pg) {
            st = dx_oom("store");
        } else if (PQstatus(c->pg) != CONNECTION_OK) {
            char m[400], red[400];
            snprintf(m, sizeof m, "%s", PQerrorMessage(c->pg));
            sql_target_redact(m, red, sizeof red); /* libpq may quote the target */
            st = fail_kind(c, SQL_ERR_CONNECTION, "can't connect", red);
        } else {
            PQsetNoticeProcessor(c->pg, pg_quiet, NULL);
            /* identical text for both kinds: timestamps are made by drux, not the server */
            st = sql_exec(c, "SET client_min_messages = warning");
        }
    } else {
        c->kind = SQL_SQLITE;
        int rc =
            sqlite3_open_v2(target, &c->lite,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            st = c->lite ? fail_kind(c, SQL_ERR_OTHER, "can't open", sqlite3_errmsg(c->lite))
                         : dx_oom("store");
        } else {
            sqlite3_busy_timeout(c->lite, 5000);
            /* WAL: readers don't block the writer; NORMAL sync is durable across
             * a process crash (kill -9), which is what the store promises. */
            /* Switching a new file to WAL needs it alone, and SQLite answers
             * "database is locked" at once, without its busy handler, while
             * another connection switches it: retry for as long as the busy
             * timeout (instances opening one new store together) */
            for (int waited_ms = 0;; waited_ms += 10) {
                st = sql_exec(c, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                                 "PRAGMA foreign_keys = ON;");
                if (!st || c->err != SQL_ERR_BUSY || waited_ms >= 5000)
                    break;
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
            }
        }
    }
    if (st) {
        sql_close(c);
        return st;
    }
    *out = c;
    return DX_OK;
}

/* Forgets the prepared statements (the server forgot them: a new session). */
static void pg_forget_prepared(sql *c)
{
    for (int i = 0; i < c->n_prepared; i++)
        free(c->prepared[i].key);
    c->n_prepared = 0;
}

void sql_close(sql *c)
{
    if (!c)
        return;
    pg_forget_prepared(c);
    if (c->lite)
        sqlite3_close(c->lite);
    if (c->pg)
        PQfinish(c->pg);
    free(c);
}

/* A lost PostgreSQL connection is reopened once, outside a transaction. */
static bool pg_revive(sql *c)
{
    if (c->kind != SQL_POSTGRES || PQstatus(c->pg) != CONNECTION_BAD || c->in_tx)
        return false;
    PQreset(c->pg);
    pg_forget_prepared(c);
    return PQstatus(c->pg) == CONNECTION_OK;
}

/* ---- text rewriting for PostgreSQL ---- */

static bool word_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* Length of the quoted run (string or identifier) starting at t[0], or of
 * a comment; 0 when t does not start one. */
static size_t skip_quoted(const char *t)
{
    if (t[0] == '\'' || t[0] == '"') {
        size_t i = 1;
        while (t[i] && !(t[i] == t[0] && t[i + 1] != t[0]))
            i += t[i] == t[0] ? 2 : 1;
        return t[i] ? i + 1 : i;
    }
    if (t[0] == '-' && t[1] == '-') {
        size_t i = 2;
        while (t[i] && t[i] != '\n')
            i++;
        return i;
    }
    return 0;
}

/* `?` and `?N` to `$N` (SQLite's numbering: a bare ? is one past the
 * largest so far). *n_params: the largest index. NULL on OOM or too many. */
static char *pg_placeholders(const char *t, int *n_params)
{
    size_t n = strlen(t);
    char *out = malloc(n * 3 + 1); /* "?" -> "$64" at most */
    if (!out)
        return NULL;
    size_t o = 0;
    int max = 0;
    for (size_t i = 0; i < n;) {
        size_t q = skip_quoted(t + i);
        if (q) {
            memcpy(out + o, t + i, q);
            o += q;
            i += q;
            continue;
        }
        if (t[i] != '?') {
            out[o++] = t[i++];
            continue;
        }
        i++;
        int k = 0;
        if (isdigit((unsigned char)t[i])) {
            while (isdigit((unsigned char)t[i]) && k <= MAX_PARAMS)
                k = k * 10 + (t[i++] - '0');
        } else {
            k = max + 1;
        }
        if (k < 1 || k > MAX_PARAMS) {
            free(out);
            return NULL;
        }
        if (k > max)
            max = k;
        o += (size_t)sprintf(out + o, "$%d", k);
    }
    out[o] = '\0';
    *n_params = max;
    return out;
}

static bool word_is(const char *t, size_t len, const char *w)
{
    return strlen(w) == len && !strncasecmp(t, w, len);
}

/* Schema text in SQLite's types to PostgreSQL's (see sql.h). */
static char *pg_ddl(const char *t)
{
    size_t n = strlen(t);
    char *out = malloc(n * 4 + 64); /* REAL (4) becomes DOUBLE PRECISION (16) */
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t q = skip_quoted(t + i);
        if (q) {
            memcpy(out + o, t + i, q);
            o += q;
            i += q;
            continue;
        }
        if (!word_char(t[i]) || (i > 0 && word_char(t[i - 1]))) {
            out[o++] = t[i++];
            continue;
        }
        size_t len = 0;
        while (word_char(t[i + len]))
            len++;
        const char *rep = NULL;
        size_t skip = len;
        if (word_is(t + i, len, "INTEGER")) {
            rep = "BIGINT";
            /* INTEGER PRIMARY KEY AUTOINCREMENT -> BIGSERIAL PRIMARY KEY */
            const char *p = t + i + len;
            static const char *const tail[] = {"PRIMARY", "KEY", "AUTOINCREMENT"};
            size_t k = 0;
            for (; k < 3; k++) {
                while (*p == ' ' || *p == '\n' || *p == '\t')
                    p++;
                size_t wl = 0;
                while (word_char(p[wl]))
                    wl++;
                if (!word_is(p, wl, tail[k]))
                    break;
                p += wl;
            }
            if (k == 3) {
                rep = "BIGSERIAL PRIMARY KEY";
                skip = (size_t)(p - (t + i));
            }
        } else if (word_is(t + i, len, "BLOB")) {
            rep = "BYTEA";
        } else if (word_is(t + i, len, "REAL")) {
            rep = "DOUBLE PRECISION";
        }
        if (rep) {
            memcpy(out + o, rep, strlen(rep));
            o += strlen(rep);
        } else {
            memcpy(out + o, t + i, len);
            o += len;
        }
        i += skip;
    }
    out[o] = '\0';
    return out;
}

/* ---- statements without parameters ---- */

dx_status sql_exec(sql *c, const char *text)
{
    c->err = SQL_ERR_NONE;
    if (c->kind == SQL_SQLITE) {
        char *err = NULL;
        int rc = sqlite3_exec(c->lite, text, NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            dx_status st = fail_kind(c, lite_kind(rc), "exec", err ? err : sqlite3_errmsg(c->lite));
            sqlite3_free(err);
            return st;
        }
        return DX_OK;
    }
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexec(c->pg, text);
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
            PQclear(r);
            return DX_OK;
        }
        if (attempt == 0 && pg_revive(c)) {
            PQclear(r);
            continue;
        }
        dx_status st = pg_fail(c, r, "exec");
        PQclear(r);
        return st;
    }
}

dx_status sql_exec_ddl(sql *c, const char *text)
{
    if (c->kind == SQL_SQLITE)
        return sql_exec(c, text);
    char *t = pg_ddl(text);
    if (!t)
        return dx_oom("store");
    dx_status st = sql_exec(c, t);
    free(t);
    return st;
}

dx_status sql_begin(sql *c)
{
    dx_status st = sql_exec(c, c->kind == SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
    if (!st)
        c->in_tx = true;
    return st;
}

dx_status sql_commit(sql *c)
{
    dx_status st = sql_exec(c, "COMMIT");
    c->in_tx = false;
    return st;
}

void sql_rollback(sql *c)
{
    sql_error keep = c->err;
    if (c->kind == SQL_SQLITE) {
        if (!sqlite3_get_autocommit(c->lite))
            sqlite3_exec(c->lite, "ROLLBACK", NULL, NULL, NULL);
    } else {
        PQclear(PQexec(c->pg, "ROLLBACK"));
    }
    c->in_tx = false;
    c->err = keep;
}

/* ---- prepared statements ---- */

static dx_status stmt_new(sql *c, const char *text, sql_stmt **out)
{
    *out = NULL;
    c->err = SQL_ERR_NONE;
    sql_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return dx_oom("store");
    s->c = c;
    if (c->kind == SQL_SQLITE) {
        int rc = sqlite3_prepare_v2(c->lite, text, -1, &s->lite, NULL);
        if (rc != SQLITE_OK) {
            free(s);
            return lite_fail(c, rc, "prepare");
        }
    } else if (!(s->text = pg_placeholders(text, &s->n_params))) {
        free(s);
        return dx_fail(DX_EINTERNAL, "store: more than %d parameters in a statement", MAX_PARAMS);
    }
    *out = s;
    return DX_OK;
}

static pg_param *pg_slot(sql_stmt *s, int i)
{
    if (i < 1 || i > MAX_PARAMS)
        return NULL;
    pg_param *p = &s->params[i - 1];
    free(p->val);
    memset(p, 0, sizeof *p);
    return p;
}

/* Parameter i of a PostgreSQL statement holds a copy of n bytes (ended by a
 * NUL, which text needs), sent in format fmt (0 text, 1 binary) as type oid. */
static void pg_copy(sql_stmt *s, int i, const void *b, size_t n, int fmt, unsigned oid)
{
    pg_param *p = pg_slot(s, i);
    if (!p || !(p->val = malloc(n + 1)))
        return; /* the statement then fails on a missing parameter */
    memcpy(p->val, b, n);
    p->val[n] = '\0';
    p->len = (int)n;
    p->fmt = fmt;
    p->oid = oid;
}

/* n bytes at b as parameter i, text or a blob (copied); b NULL binds NULL. */
static void bind_bytes(sql_stmt *s, int i, const void *b, size_t n, bool blob)
{
    if (!b)
        sql_bind_null(s, i);
    else if (s->lite && blob)
        sqlite3_bind_blob(s->lite, i, b, (int)n, SQLITE_TRANSIENT);
    else if (s->lite)
        sqlite3_bind_text(s->lite, i, b, (int)n, SQLITE_TRANSIENT);
    else
        pg_copy(s, i, b, n, blob ? 1 : 0, blob ? OID_BYTEA : OID_TEXT);
}

void sql_bind_textn(sql_stmt *s, int i, const char *t, size_t n)
{
    bind_bytes(s, i, t, n, false);
}

void sql_bind_text(sql_stmt *s, int i, const char *t)
{
    sql_bind_textn(s, i, t, t ? strlen(t) : 0);
}

void sql_bind_int(sql_stmt *s, int i, long long v)
{
    if (s->lite) {
        sqlite3_bind_int64(s->lite, i, v);
        return;
    }
    pg_param *p = pg_slot(s, i);
    if (!p || !(p->val = malloc(24)))
        return;
    p->len = snprintf(p->val, 24, "%lld", v);
    p->oid = OID_INT8;
}

void sql_bind_null(sql_stmt *s, int i)
{
    if (s->lite) {
        sqlite3_bind_null(s->lite, i);
        return;
    }
    pg_slot(s, i); /* NULL value, type left to the server */
}

void sql_bind_blob(sql_stmt *s, int i, const void *b, size_t n)
{
    bind_bytes(s, i, b, n, true);
}

static void bind_va(sql_stmt *s, const char *types, va_list ap)
{
    for (int i = 0; types && types[i]; i++) {
        switch (types[i]) {
        case 't':
            sql_bind_text(s, i + 1, va_arg(ap, const char *));
            break;
        case 'i':
            sql_bind_int(s, i + 1, va_arg(ap, long long));
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            sql_bind_blob(s, i + 1, p, n);
            break;
        }
        default: /* 'n' */
            sql_bind_null(s, i + 1);
            break;
        }
    }
}

dx_status sql_vprep(sql *c, sql_stmt **out, const char *text, const char *types, va_list ap)
{
    dx_status st = stmt_new(c, text, out);
    if (!st)
        bind_va(*out, types, ap);
    return st;
}

dx_status sql_prep(sql *c, sql_stmt **out, const char *text, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    dx_status st = sql_vprep(c, out, text, types, ap);
    va_end(ap);
    return st;
}

static unsigned long long fnv1a(const char *p, size_t n, unsigned long long h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static char type_letter(unsigned oid)
{
    return oid == OID_TEXT ? 't' : oid == OID_INT8 ? 'i' : oid == OID_BYTEA ? 'b' : 'n';
}

/* The name of s's statement prepared on its connection with these
 * parameter types, preparing it the first time; "" when the cache is full
 * (run it unprepared). DX_EIO (the server's message) when it can't be
 * prepared. */
static dx_status pg_prepared_name(sql_stmt *s, const unsigned *oids, const char **name)
{
    sql *c = s->c;
    *name = "";
    char types[MAX_PARAMS + 1];
    for (int i = 0; i < s->n_params; i++)
        types[i] = type_letter(oids[i]);
    types[s->n_params] = '\0';
    size_t tlen = strlen(s->text);
    unsigned long long h = fnv1a(s->text, tlen, 1469598103934665603ULL);
    h = fnv1a("\n", 1, h);
    h = fnv1a(types, (size_t)s->n_params, h);
    for (int i = 0; i < c->n_prepared; i++) {
        pg_prepared *p = &c->prepared[i];
        if (p->hash == h && !strncmp(p->key, s->text, tlen) && p->key[tlen] == '\n' &&
            !strcmp(p->key + tlen + 1, types)) {
            *name = p->name;
            return DX_OK;
        }
    }
    if (c->n_prepared >= MAX_PREPARED)
        return DX_OK;
    pg_prepared *p = &c->prepared[c->n_prepared];
    if (!(p->key = malloc(tlen + 2 + (size_t)s->n_params)))
        return dx_oom("store");
    memcpy(p->key, s->text, tlen);
    p->key[tlen] = '\n';
    memcpy(p->key + tlen + 1, types, (size_t)s->n_params + 1);
    p->hash = h;
    snprintf(p->name, sizeof p->name, "dx%u", c->next_name++);
    PGresult *r = PQprepare(c->pg, p->name, s->text, s->n_params, (const Oid *)oids);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        dx_status st = pg_fail(c, r, "query");
        PQclear(r);
        free(p->key);
        return st;
    }
    PQclear(r);
    c->n_prepared++;
    *name = p->name;
    return DX_OK;
}

static dx_status pg_run(sql_stmt *s)
{
    sql *c = s->c;
    const char *vals[MAX_PARAMS];
    int lens[MAX_PARAMS], fmts[MAX_PARAMS];
    unsigned oids[MAX_PARAMS];
    for (int i = 0; i < s->n_params; i++) {
        vals[i] = s->params[i].val;
        lens[i] = s->params[i].len;
        fmts[i] = s->params[i].fmt;
        oids[i] = s->params[i].oid;
    }
    for (int attempt = 0;; attempt++) {
        PQclear(s->res);
        s->res = NULL;
        const char *name;
        dx_status st = pg_prepared_name(s, oids, &name);
        if (st && attempt == 0 && pg_revive(c))
            continue;
        if (st)
            return st;
        s->res = name[0] ? PQexecPrepared(c->pg, name, s->n_params, vals, lens, fmts, 0)
                         : PQexecParams(c->pg, s->text, s->n_params, (const Oid *)oids, vals, lens,
                                        fmts, 0);
        ExecStatusType es = PQresultStatus(s->res);
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
            s->n_rows = es == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
            s->row = -1;
            const char *ct = PQcmdTuples(s->res);
            s->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
            return DX_OK;
        }
        if (attempt == 0 && pg_revive(c))
            continue;
        return pg_fail(c, s->res, "query");
    }
}

dx_status sql_step(sql_stmt *s, bool *row)
{
    *row = false;
    sql *c = s->c;
    c->err = SQL_ERR_NONE;
    if (s->lite) {
        int rc = sqlite3_step(s->lite);
        if (rc == SQLITE_ROW) {
            *row = true;
            return DX_OK;
        }
        if (rc == SQLITE_DONE) {
            s->changes = sqlite3_changes(c->lite);
            return DX_OK;
        }
        return lite_fail(c, rc, "query");
    }
    if (!s->ran) {
        s->ran = true;
        dx_status st = pg_run(s);
        if (st)
            return st;
    }
    if (s->row + 1 < s->n_rows) {
        s->row++;
        *row = true;
    }
    return DX_OK;
}

dx_status sql_run(sql_stmt *s)
{
    bool row;
    dx_status st;
    while (!(st = sql_step(s, &row)) && row)
        ;
    return st;
}

long long sql_changes(sql_stmt *s)
{
    return s->changes;
}

void sql_reset(sql_stmt *s)
{
    if (s->lite) {
        sqlite3_reset(s->lite);
        return;
    }
    PQclear(s->res);
    s->res = NULL;
    s->ran = false;
    s->row = -1;
    s->n_rows = 0;
}

void sql_finalize(sql_stmt *s)
{
    if (!s)
        return;
    if (s->lite)
        sqlite3_finalize(s->lite);
    for (int i = 0; i < MAX_PARAMS; i++)
        free(s->params[i].val);
    PQclear(s->res);
    PQfreemem(s->blob);
    free(s->text);
    free(s);
}

/* ---- columns ---- */

static const char *pg_val(sql_stmt *s, int col)
{
    if (!s->res || s->row < 0 || s->row >= s->n_rows || col < 0 || col >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

bool sql_is_null(sql_stmt *s, int col)
{
    if (s->lite)
        return sqlite3_column_type(s->lite, col) == SQLITE_NULL;
    return pg_val(s, col) == NULL;
}

long long sql_int(sql_stmt *s, int col)
{
    if (s->lite)
        return sqlite3_column_int64(s->lite, col);
    const char *v = pg_val(s, col);
    if (!v)
        return 0;
    if (!strcmp(v, "t"))
        return 1; /* a boolean expression */
    return strtoll(v, NULL, 10);
}

double sql_double(sql_stmt *s, int col)
{
    if (s->lite)
        return sqlite3_column_double(s->lite, col);
    const char *v = pg_val(s, col);
    return v ? strtod(v, NULL) : 0;
}

const char *sql_text(sql_stmt *s, int col)
{
    if (s->lite) {
        const char *t = (const char *)sqlite3_column_text(s->lite, col);
        s->last_bytes = (size_t)sqlite3_column_bytes(s->lite, col);
        return t;
    }
    const char *v = pg_val(s, col);
    s->last_bytes = v ? (size_t)PQgetlength(s->res, s->row, col) : 0;
    return v;
}

size_t sql_bytes(sql_stmt *s, int col)
{
    (void)col;
    return s->last_bytes;
}

const void *sql_blob(sql_stmt *s, int col)
{
    if (s->lite) {
        const void *b = sqlite3_column_blob(s->lite, col);
        s->last_bytes = (size_t)sqlite3_column_bytes(s->lite, col);
        return b;
    }
    const char *v = pg_val(s, col);
    PQfreemem(s->blob);
    s->blob = NULL;
    s->last_bytes = 0;
    if (!v)
        return NULL;
    size_t n = 0;
    s->blob = PQunescapeBytea((const unsigned char *)v, &n);
    s->last_bytes = s->blob ? n : 0;
    return s->blob;
}

/* ---- one-call statements ---- */

dx_status sql_do(sql *c, long long *changes, const char *text, const char *types, ...)
{
    sql_stmt *s;
    va_list ap;
    va_start(ap, types);
    dx_status st = sql_vprep(c, &s, text, types, ap);
    va_end(ap);
    if (st)
        return st;
    st = sql_run(s);
    if (!st && changes)
        *changes = sql_changes(s);
    sql_finalize(s);
    return st;
}

/* ---- schema version ---- */

dx_status sql_schema_version(sql *c, int *out)
{
    *out = -1;
    sql_stmt *s;
    dx_status st;
    if (c->kind == SQL_POSTGRES) {
        st = sql_exec(c, "CREATE TABLE IF NOT EXISTS drux_schema(version INTEGER NOT NULL)");
        if (st)
            return st;
    }
    st = stmt_new(c,
                  c->kind == SQL_SQLITE ? "PRAGMA user_version"
                                        : "SELECT COALESCE(MAX(version), 0) FROM drux_schema",
                  &s);
    bool row = false;
    if (!st)
        st = sql_step(s, &row);
    if (!st)
        *out = row ? (int)sql_int(s, 0) : 0;
    sql_finalize(s);
    return st;
}

dx_status sql_schema_version_set(sql *c, int v)
{
    if (c->kind == SQL_SQLITE) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
        return sql_exec(c, pragma);
    }
    dx_status st = sql_do(c, NULL, "DELETE FROM drux_schema", "");
    return st ? st
              : sql_do(c, NULL, "INSERT INTO drux_schema(version) VALUES(?)", "i", (long long)v);
}

dx_status sql_lock_schema(sql *c)
{
    if (c->kind == SQL_SQLITE)
        return DX_OK;
    /* one key for "drux migrates this database", held to the end of the transaction */
    return sql_exec(c, "SELECT pg_advisory_xact_lock(7243116520441)");
}

/* ---- notifications ---- */

dx_status sql_notify(sql *c, const char *channel, const char *payload)
{
    if (c->kind != SQL_POSTGRES)
        return dx_fail(DX_EUNSUPPORTED, "store: notifications need PostgreSQL");
    return sql_do(c, NULL, "SELECT pg_notify(?, ?)", "tt", channel, payload);
}

dx_status sql_listen(sql *c, const char *channel)
{
    if (c->kind != SQL_POSTGRES)
        return dx_fail(DX_EUNSUPPORTED, "store: notifications need PostgreSQL");
    char *q = PQescapeIdentifier(c->pg, channel, strlen(channel));
    if (!q)
        return pg_fail(c, NULL, "listen");
    char text[160];
    snprintf(text, sizeof text, "LISTEN %s", q);
    PQfreemem(q);
    snprintf(c->listen, sizeof c->listen, "%s", text);
    return sql_exec(c, text);
}

dx_status sql_wait_notify(sql *c, int timeout_ms, char *payload, size_t cap, bool *got)
{
    *got = false;
    if (cap)
        payload[0] = '\0';
    if (c->kind != SQL_POSTGRES)
        return dx_fail(DX_EUNSUPPORTED, "store: notifications need PostgreSQL");
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        PQreset(c->pg);
        if (PQstatus(c->pg) != CONNECTION_OK)
            return fail_kind(c, SQL_ERR_CONNECTION, "listen", PQerrorMessage(c->pg));
        dx_status st = c->listen[0] ? sql_exec(c, c->listen) : DX_OK;
        if (st)
            return st;
    }
    PGnotify *n = NULL;
    if (!PQconsumeInput(c->pg))
        return fail_kind(c, SQL_ERR_CONNECTION, "listen", PQerrorMessage(c->pg));
    if (!(n = PQnotifies(c->pg))) {
        int fd = PQsocket(c->pg);
        if (fd < 0)
            return fail_kind(c, SQL_ERR_CONNECTION, "listen", "no socket");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, timeout_ms);
        if (rc < 0)
            return DX_OK; /* a signal: the caller loops */
        if (rc > 0 && !PQconsumeInput(c->pg))
            return fail_kind(c, SQL_ERR_CONNECTION, "listen", PQerrorMessage(c->pg));
        n = PQnotifies(c->pg);
    }
    if (n) {
        if (cap)
            snprintf(payload, cap, "%s", n->extra ? n->extra : "");
        *got = true;
        PQfreemem(n);
    }
    return DX_OK;
}
