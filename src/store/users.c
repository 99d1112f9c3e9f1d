#include "store/users.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"

/* The failure just recorded by the seam, with what was being done. */
static dx_status fail(const char *what)
{
    return dx_wrap(DX_EIO, "store: %s", what);
}

/* Prepares text on c with types' arguments (as sql_prep) and steps to its
 * first row: *found says whether there is one. *s is set even on failure
 * (finalize it); a failure to step is told with what. */
static dx_status first_row(sql *c, sql_stmt **s, bool *found, const char *what, const char *text,
                           const char *types, ...)
{
    *found = false;
    va_list ap;
    va_start(ap, types);
    dx_status st = sql_vprep(c, s, text, types, ap);
    va_end(ap);
    if (!st && sql_step(*s, found))
        st = fail(what);
    return st;
}

/* Runs one statement that changes rows, prepared on c from text and types'
 * arguments: a failure to run is told with what; DX_ENOTFOUND when must_hit
 * and it changed none. */
static dx_status vchange(sql *c, const char *what, bool must_hit, const char *text,
                         const char *types, va_list ap)
{
    sql_stmt *s;
    dx_status st = sql_vprep(c, &s, text, types, ap);
    if (!st && sql_run(s))
        st = fail(what);
    if (!st && must_hit && sql_changes(s) == 0)
        st = dx_fail(DX_ENOTFOUND, "%s: no such account", what);
    sql_finalize(s);
    return st;
}

static dx_status change(sql *c, const char *what, bool must_hit, const char *text,
                        const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    dx_status st = vchange(c, what, must_hit, text, types, ap);
    va_end(ap);
    return st;
}

/* As change, on a connection of d's pool taken for this statement alone. */
static dx_status change_one(db *d, const char *what, bool must_hit, const char *text,
                            const char *types, ...)
{
    sql *c = db_take(d);
    va_list ap;
    va_start(ap, types);
    dx_status st = vchange(c, what, must_hit, text, types, ap);
    va_end(ap);
    db_put(d, c);
    return st;
}

static void read_user(sql_stmt *s, db_user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sql_int(s, 0);
    snprintf(u->name, sizeof u->name, "%s", sql_text(s, 1));
    snprintf(u->pw_hash, sizeof u->pw_hash, "%s", sql_text(s, 2));
    u->disabled = sql_int(s, 3) != 0;
    u->daily_premium = (int)sql_int(s, 4);
}

#define USER_COLS "users.id, users.name, users.pw_hash, users.disabled, users.daily_premium"

dx_status db_user_add(db *d, const char *name, const char *pw_hash, const char *created_at,
                      long long *id)
{
    sql *c = db_take(d);
    sql_stmt *s;
    bool found;
    dx_status st = first_row(c, &s, &found, "add user",
                             "INSERT INTO users(name, pw_hash, created_at) VALUES(?, ?, ?) "
                             "RETURNING id",
                             "ttt", name, pw_hash, created_at);
    if (st && s && sql_error_of(c) == SQL_ERR_CONSTRAINT)
        st = dx_fail(DX_EARG, "an account named '%s' exists", name);
    else if (!st && !found)
        st = fail("add user");
    else if (!st && id)
        *id = sql_int(s, 0);
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_user_get(db *d, const char *name, db_user *out)
{
    sql *c = db_take(d);
    sql_stmt *s;
    bool found;
    dx_status st = first_row(c, &s, &found, "read user",
                             "SELECT " USER_COLS " FROM users WHERE name = ?", "t", name);
    if (!st && found)
        read_user(s, out);
    else if (!st)
        st = dx_fail(DX_ENOTFOUND, "no account named '%s'", name);
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_user_set_password(db *d, long long id, const char *pw_hash)
{
    sql *c = db_take(d);
    dx_status st = change(c, "set password", true, "UPDATE users SET pw_hash = ? WHERE id = ?",
                          "ti", pw_hash, id);
    if (!st)
        st = change(c, "end sessions", false, "DELETE FROM sessions WHERE user_id = ?", "i", id);
    db_put(d, c);
    return st;
}

dx_status db_user_set_disabled(db *d, const char *name, bool disabled)
{
    sql *c = db_take(d);
    dx_status st = change(c, "disable user", true, "UPDATE users SET disabled = ? WHERE name = ?",
                          "it", (long long)disabled, name);
    if (!st && disabled)
        st = change(c, "end sessions", false,
                    "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                    "t", name);
    db_put(d, c);
    return st;
}

dx_status db_user_set_quota(db *d, const char *name, int daily_premium)
{
    return change_one(d, "set quota", true, "UPDATE users SET daily_premium = ? WHERE name = ?",
                      "it", (long long)daily_premium, name);
}

dx_status db_user_list(db *d, db_account **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sql *c = db_take(d);
    sql_stmt *s;
    bool row;
    dx_status st = first_row(c, &s, &row, "list users",
                             "SELECT name, disabled, daily_premium, created_at, "
                             "(SELECT count(*) FROM sessions WHERE user_id = users.id) "
                             "FROM users ORDER BY name",
                             "");
    size_t cap = 0;
    while (!st && row) {
        if (*n == cap) {
            db_account *more = realloc(*out, (cap ? 2 * cap : 8) * sizeof *more);
            if (!more) {
                st = dx_fail(DX_ENOMEM, "out of memory");
                break;
            }
            *out = more;
            cap = cap ? 2 * cap : 8;
        }
        db_account *u = &(*out)[(*n)++];
        snprintf(u->name, sizeof u->name, "%s", sql_text(s, 0));
        u->disabled = sql_int(s, 1) != 0;
        u->daily_premium = (int)sql_int(s, 2);
        snprintf(u->created_at, sizeof u->created_at, "%s", sql_text(s, 3));
        u->sessions = sql_int(s, 4);
        if (sql_step(s, &row))
            st = fail("list users");
    }
    sql_finalize(s);
    db_put(d, c);
    if (st) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

dx_status db_session_add(db *d, const char *digest, long long user_id, long long now_s,
                         long long ttl_s)
{
    sql *c = db_take(d);
    /* expired sessions go as new ones come */
    dx_status st = change(c, "expire sessions", false, "DELETE FROM sessions WHERE expires_s <= ?",
                          "i", now_s);
    if (!st)
        st =
            change(c, "add session", false,
                   "INSERT INTO sessions(digest, user_id, created_s, expires_s) VALUES(?, ?, ?, ?)",
                   "tiii", digest, user_id, now_s, now_s + ttl_s);
    db_put(d, c);
    return st;
}

dx_status db_session_user(db *d, const char *digest, long long now_s, db_user *out)
{
    sql *c = db_take(d);
    sql_stmt *s;
    bool found, expired = false;
    dx_status st = first_row(c, &s, &found, "read session",
                             "SELECT " USER_COLS ", sessions.expires_s FROM sessions JOIN users "
                             "ON users.id = sessions.user_id WHERE sessions.digest = ?",
                             "t", digest);
    if (!st && found) {
        read_user(s, out);
        expired = sql_int(s, 5) <= now_s;
        if (expired || out->disabled)
            st = dx_fail(DX_ENOTFOUND, "the session has ended");
    } else if (!st) {
        st = dx_fail(DX_ENOTFOUND, "no such session");
    }
    sql_finalize(s);
    if (expired) {
        change(c, "expire session", false, "DELETE FROM sessions WHERE digest = ?", "t", digest);
        dx_fail(DX_ENOTFOUND, "the session has ended");
    }
    db_put(d, c);
    return st;
}

dx_status db_session_delete(db *d, const char *digest)
{
    return change_one(d, "end session", false, "DELETE FROM sessions WHERE digest = ?", "t",
                      digest);
}

dx_status db_session_delete_user(db *d, long long user_id)
{
    return change_one(d, "end sessions", false, "DELETE FROM sessions WHERE user_id = ?", "i",
                      user_id);
}

dx_status db_user_key_set(db *d, long long user_id, const char *provider, const char *sealed)
{
    return change_one(d, "save key", false,
                      "INSERT INTO user_keys(user_id, provider, sealed) VALUES(?, ?, ?) "
                      "ON CONFLICT(user_id, provider) DO UPDATE SET sealed = excluded.sealed",
                      "itt", user_id, provider, sealed);
}

dx_status db_user_key_get(db *d, long long user_id, const char *provider, char **sealed)
{
    *sealed = NULL;
    sql *c = db_take(d);
    sql_stmt *s;
    bool found;
    dx_status st = first_row(c, &s, &found, "read key",
                             "SELECT sealed FROM user_keys WHERE user_id = ? AND provider = ?",
                             "it", user_id, provider);
    if (!st && !found)
        st = dx_fail(DX_ENOTFOUND, "no %s key saved", provider);
    else if (!st && !(*sealed = strdup(sql_text(s, 0) ? sql_text(s, 0) : "")))
        st = dx_fail(DX_ENOMEM, "out of memory");
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_user_key_delete(db *d, long long user_id, const char *provider)
{
    return change_one(d, "delete key", false,
                      "DELETE FROM user_keys WHERE user_id = ? AND provider = ?", "it", user_id,
                      provider);
}

dx_status db_premium_take(db *d, long long user_id, const char *day, int n, int *used)
{
    sql *c = db_take(d);
    sql_stmt *s;
    /* the day's row, then one UPDATE that moves the count only when it stays
     * within the allowance: atomic on its own, on any SQL engine */
    dx_status st = change(c, "count premium calls", false,
                          "INSERT INTO premium_calls(user_id, day, calls) VALUES(?, ?, 0) "
                          "ON CONFLICT(user_id, day) DO NOTHING",
                          "it", user_id, day);
    bool taken = false;
    if (!st) {
        st =
            sql_prep(c, &s,
                     "UPDATE premium_calls SET calls = calls + ? WHERE user_id = ? AND day = ? AND "
                     "calls + ? <= (SELECT daily_premium FROM users WHERE id = ?)",
                     "iitii", (long long)n, user_id, day, (long long)n, user_id);
        if (!st && sql_run(s))
            st = fail("count premium calls");
        taken = !st && sql_changes(s) > 0;
        sql_finalize(s);
    }
    int count = 0;
    if (!st) {
        bool found;
        st = sql_prep(c, &s, "SELECT calls FROM premium_calls WHERE user_id = ? AND day = ?", "it",
                      user_id, day);
        if (!st && !sql_step(s, &found) && found)
            count = (int)sql_int(s, 0);
        sql_finalize(s);
    }
    if (!st && !taken)
        st = dx_fail(DX_ELIMIT, "today's allowance of premium calls is used up (%d made)", count);
    if (used)
        *used = count;
    db_put(d, c);
    return st;
}

dx_status db_user_defaults_set(db *d, long long user_id, const char *const *names, size_t n)
{
    char *text;
    dx_status st = db_names_json(names, n, &text);
    if (!st)
        st = change_one(d, "save default members", true,
                        "UPDATE users SET default_members = ? WHERE id = ?", "ti", text, user_id);
    free(text);
    return st;
}

dx_status db_user_defaults_get(db *d, long long user_id, db_names *out)
{
    memset(out, 0, sizeof *out);
    sql *c = db_take(d);
    sql_stmt *s;
    bool found;
    dx_status st = first_row(c, &s, &found, "read default members",
                             "SELECT default_members FROM users WHERE id = ?", "i", user_id);
    if (!st && !found)
        st = dx_fail(DX_ENOTFOUND, "no such account");
    else if (!st)
        st = db_names_parse(sql_text(s, 0), out);
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_question_owner(db *d, const char *id, long long *owner, char *share, size_t cap)
{
    *owner = 0;
    if (share && cap)
        share[0] = '\0';
    sql *c = db_take(d);
    sql_stmt *s;
    bool found;
    dx_status st = first_row(c, &s, &found, "read question owner",
                             "SELECT owner, share FROM questions WHERE id = ?", "t", id);
    if (!st && !found) {
        st = dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
    } else if (!st) {
        *owner = sql_is_null(s, 0) ? 0 : sql_int(s, 0);
        const char *t = sql_text(s, 1);
        if (share && cap && t)
            snprintf(share, cap, "%s", t);
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}
