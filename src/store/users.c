#include "store/users.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"

/* The failure just recorded by the seam, with what was being done. */
static dx_status fail(db *d, const char *what)
{
    (void)d;
    return dx_wrap(DX_EIO, "store: %s", what);
}

/* 1: a row, 0: no more rows, -1: failed (the message recorded). */
static int step(sql_stmt *s)
{
    bool row;
    if (sql_step(s, &row))
        return -1;
    return row ? 1 : 0;
}

static dx_status run(db *d, sql_stmt *s, const char *what)
{
    return sql_run(s) ? fail(d, what) : DX_OK;
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
    dx_status st = sql_prep(c, &s,
                            "INSERT INTO users(name, pw_hash, created_at) VALUES(?, ?, ?) "
                            "RETURNING id",
                            "ttt", name, pw_hash, created_at);
    if (!st) {
        int rc = step(s);
        if (rc < 0 && sql_error_of(c) == SQL_ERR_CONSTRAINT)
            st = dx_fail(DX_EARG, "an account named '%s' exists", name);
        else if (rc != 1)
            st = fail(d, "add user");
        else if (id)
            *id = sql_int(s, 0);
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_user_get(db *d, const char *name, db_user *out)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "SELECT " USER_COLS " FROM users WHERE name = ?", "t", name);
    if (!st) {
        int rc = step(s);
        if (rc == 1)
            read_user(s, out);
        else if (rc == 0)
            st = dx_fail(DX_ENOTFOUND, "no account named '%s'", name);
        else
            st = fail(d, "read user");
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}

/* One statement that changes rows; DX_ENOTFOUND when it changed none. */
static dx_status change(db *d, sql_stmt *s, dx_status st, const char *what, bool must_hit)
{
    if (!st)
        st = run(d, s, what);
    if (!st && must_hit && sql_changes(s) == 0)
        st = dx_fail(DX_ENOTFOUND, "%s: no such account", what);
    sql_finalize(s);
    return st;
}

dx_status db_user_set_password(db *d, long long id, const char *pw_hash)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "UPDATE users SET pw_hash = ? WHERE id = ?", "ti", pw_hash, id);
    st = change(d, s, st, "set password", true);
    if (!st) {
        st = sql_prep(c, &s, "DELETE FROM sessions WHERE user_id = ?", "i", id);
        st = change(d, s, st, "end sessions", false);
    }
    db_put(d, c);
    return st;
}

dx_status db_user_set_disabled(db *d, const char *name, bool disabled)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "UPDATE users SET disabled = ? WHERE name = ?", "it",
                            (long long)disabled, name);
    st = change(d, s, st, "disable user", true);
    if (!st && disabled) {
        st = sql_prep(c, &s,
                      "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                      "t", name);
        st = change(d, s, st, "end sessions", false);
    }
    db_put(d, c);
    return st;
}

dx_status db_user_set_quota(db *d, const char *name, int daily_premium)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "UPDATE users SET daily_premium = ? WHERE name = ?", "it",
                            (long long)daily_premium, name);
    st = change(d, s, st, "set quota", true);
    db_put(d, c);
    return st;
}

dx_status db_user_list(db *d, json_t **out)
{
    *out = NULL;
    json_t *arr = json_array();
    if (!arr)
        return dx_fail(DX_ENOMEM, "out of memory");
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT name, disabled, daily_premium, created_at, "
                            "(SELECT count(*) FROM sessions WHERE user_id = users.id) "
                            "FROM users ORDER BY name",
                            "");
    int rc = 0;
    while (!st && (rc = step(s)) == 1)
        json_array_append_new(arr, json_pack("{s:s, s:b, s:i, s:s, s:I}", "name", sql_text(s, 0),
                                             "disabled", (int)sql_int(s, 1), "daily_premium",
                                             (int)sql_int(s, 2), "created_at", sql_text(s, 3),
                                             "sessions", (json_int_t)sql_int(s, 4)));
    if (!st && rc != 0)
        st = fail(d, "list users");
    sql_finalize(s);
    db_put(d, c);
    if (st)
        json_decref(arr);
    else
        *out = arr;
    return st;
}

dx_status db_session_add(db *d, const char *digest, long long user_id, long long now_s,
                         long long ttl_s)
{
    sql *c = db_take(d);
    sql_stmt *s;
    /* expired sessions go as new ones come */
    dx_status st = sql_prep(c, &s, "DELETE FROM sessions WHERE expires_s <= ?", "i", now_s);
    st = change(d, s, st, "expire sessions", false);
    if (!st) {
        st = sql_prep(
            c, &s, "INSERT INTO sessions(digest, user_id, created_s, expires_s) VALUES(?, ?, ?, ?)",
            "tiii", digest, user_id, now_s, now_s + ttl_s);
        st = change(d, s, st, "add session", false);
    }
    db_put(d, c);
    return st;
}

dx_status db_session_user(db *d, const char *digest, long long now_s, db_user *out)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT " USER_COLS ", sessions.expires_s FROM sessions JOIN users ON "
                            "users.id = sessions.user_id WHERE sessions.digest = ?",
                            "t", digest);
    bool expired = false;
    if (!st) {
        int rc = step(s);
        if (rc == 1) {
            read_user(s, out);
            expired = sql_int(s, 5) <= now_s;
            if (expired || out->disabled)
                st = dx_fail(DX_ENOTFOUND, "the session has ended");
        } else if (rc == 0) {
            st = dx_fail(DX_ENOTFOUND, "no such session");
        } else {
            st = fail(d, "read session");
        }
    }
    sql_finalize(s);
    if (expired) {
        dx_status st2 = sql_prep(c, &s, "DELETE FROM sessions WHERE digest = ?", "t", digest);
        change(d, s, st2, "expire session", false);
        dx_fail(DX_ENOTFOUND, "the session has ended");
    }
    db_put(d, c);
    return st;
}

dx_status db_session_delete(db *d, const char *digest)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "DELETE FROM sessions WHERE digest = ?", "t", digest);
    st = change(d, s, st, "end session", false);
    db_put(d, c);
    return st;
}

dx_status db_session_delete_user(db *d, long long user_id)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "DELETE FROM sessions WHERE user_id = ?", "i", user_id);
    st = change(d, s, st, "end sessions", false);
    db_put(d, c);
    return st;
}

dx_status db_user_key_set(db *d, long long user_id, const char *provider, const char *sealed)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "INSERT INTO user_keys(user_id, provider, sealed) VALUES(?, ?, ?) "
                            "ON CONFLICT(user_id, provider) DO UPDATE SET sealed = excluded.sealed",
                            "itt", user_id, provider, sealed);
    st = change(d, s, st, "save key", false);
    db_put(d, c);
    return st;
}

dx_status db_user_key_get(db *d, long long user_id, const char *provider, char **sealed)
{
    *sealed = NULL;
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st =
        sql_prep(c, &s, "SELECT sealed FROM user_keys WHERE user_id = ? AND provider = ?", "it",
                 user_id, provider);
    if (!st) {
        int rc = step(s);
        if (rc == 1) {
            if (!(*sealed = strdup(sql_text(s, 0) ? sql_text(s, 0) : "")))
                st = dx_fail(DX_ENOMEM, "out of memory");
        } else if (rc == 0) {
            st = dx_fail(DX_ENOTFOUND, "no %s key saved", provider);
        } else {
            st = fail(d, "read key");
        }
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_user_key_delete(db *d, long long user_id, const char *provider)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "DELETE FROM user_keys WHERE user_id = ? AND provider = ?", "it",
                            user_id, provider);
    st = change(d, s, st, "delete key", false);
    db_put(d, c);
    return st;
}

dx_status db_premium_take(db *d, long long user_id, const char *day, int n, int *used)
{
    sql *c = db_take(d);
    sql_stmt *s;
    /* the day's row, then one UPDATE that moves the count only when it stays
     * within the allowance: atomic on its own, on any SQL engine */
    dx_status st = sql_prep(c, &s,
                            "INSERT INTO premium_calls(user_id, day, calls) VALUES(?, ?, 0) "
                            "ON CONFLICT(user_id, day) DO NOTHING",
                            "it", user_id, day);
    st = change(d, s, st, "count premium calls", false);
    bool taken = false;
    if (!st) {
        st =
            sql_prep(c, &s,
                     "UPDATE premium_calls SET calls = calls + ? WHERE user_id = ? AND day = ? AND "
                     "calls + ? <= (SELECT daily_premium FROM users WHERE id = ?)",
                     "iitii", (long long)n, user_id, day, (long long)n, user_id);
        if (!st)
            st = run(d, s, "count premium calls");
        taken = !st && sql_changes(s) > 0;
        sql_finalize(s);
    }
    int count = 0;
    if (!st) {
        st = sql_prep(c, &s, "SELECT calls FROM premium_calls WHERE user_id = ? AND day = ?", "it",
                      user_id, day);
        if (!st && step(s) == 1)
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

dx_status db_user_defaults_set(db *d, long long user_id, const char *members_json)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "UPDATE users SET default_members = ? WHERE id = ?", "ti",
                            members_json, user_id);
    st = change(d, s, st, "save default members", true);
    db_put(d, c);
    return st;
}

dx_status db_user_defaults_get(db *d, long long user_id, json_t **members)
{
    *members = NULL;
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "SELECT default_members FROM users WHERE id = ?", "i", user_id);
    if (!st) {
        int rc = step(s);
        if (rc == 1 && !sql_is_null(s, 0))
            *members = json_loads(sql_text(s, 0), 0, NULL);
        else if (rc == 0)
            st = dx_fail(DX_ENOTFOUND, "no such account");
        else if (rc != 1)
            st = fail(d, "read default members");
    }
    sql_finalize(s);
    db_put(d, c);
    if (!st && *members && !json_is_array(*members)) {
        json_decref(*members);
        *members = NULL;
    }
    return st;
}

dx_status db_question_owner(db *d, const char *id, long long *owner, char *share, size_t cap)
{
    *owner = 0;
    if (share && cap)
        share[0] = '\0';
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, "SELECT owner, share FROM questions WHERE id = ?", "t", id);
    if (!st) {
        int rc = step(s);
        if (rc == 1) {
            *owner = sql_is_null(s, 0) ? 0 : sql_int(s, 0);
            const char *t = sql_text(s, 1);
            if (share && cap && t)
                snprintf(share, cap, "%s", t);
        } else if (rc == 0) {
            st = dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
        } else {
            st = fail(d, "read question owner");
        }
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}
