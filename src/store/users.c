#include "store/users.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"

static dx_status fail(db *d, const char *what)
{
    return dx_fail(DX_EIO, "store: %s: %s", what, sqlite3_errmsg(d->h));
}

/* Prepares sql and binds the parameters: 't' text, 'i' int64, 'n' null.
 * On failure *s is finalized and NULL. Caller holds d->mu. */
static dx_status prep(db *d, sqlite3_stmt **s, const char *sql, const char *types, ...)
{
    if (sqlite3_prepare_v2(d->h, sql, -1, s, NULL) != SQLITE_OK) {
        *s = NULL;
        return fail(d, "prepare");
    }
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') {
            const char *t = va_arg(ap, const char *);
            if (t)
                sqlite3_bind_text(*s, i + 1, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(*s, i + 1);
        } else if (types[i] == 'i') {
            sqlite3_bind_int64(*s, i + 1, va_arg(ap, long long));
        }
    }
    va_end(ap);
    return DX_OK;
}

static dx_status run(db *d, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? DX_OK : fail(d, what);
}

static void read_user(sqlite3_stmt *s, db_user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(s, 0);
    snprintf(u->name, sizeof u->name, "%s", (const char *)sqlite3_column_text(s, 1));
    snprintf(u->pw_hash, sizeof u->pw_hash, "%s", (const char *)sqlite3_column_text(s, 2));
    u->disabled = sqlite3_column_int(s, 3) != 0;
    u->daily_premium = sqlite3_column_int(s, 4);
}

#define USER_COLS "users.id, users.name, users.pw_hash, users.disabled, users.daily_premium"

dx_status db_user_add(db *d, const char *name, const char *pw_hash, const char *created_at,
                      long long *id)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    /* RETURNING: the new id on any SQL engine (SQLite >= 3.35, PostgreSQL) */
    dx_status st =
        prep(d, &s, "INSERT INTO users(name, pw_hash, created_at) VALUES(?, ?, ?) RETURNING id",
             "ttt", name, pw_hash, created_at);
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_CONSTRAINT)
            st = dx_fail(DX_EARG, "an account named '%s' exists", name);
        else if (rc != SQLITE_ROW)
            st = fail(d, "add user");
        else if (id)
            *id = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_get(db *d, const char *name, db_user *out)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "SELECT " USER_COLS " FROM users WHERE name = ?", "t", name);
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            read_user(s, out);
        else if (rc == SQLITE_DONE)
            st = dx_fail(DX_ENOTFOUND, "no account named '%s'", name);
        else
            st = fail(d, "read user");
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

/* One statement that changes rows; DX_ENOTFOUND when it changed none. */
static dx_status change(db *d, sqlite3_stmt *s, dx_status st, const char *what, bool must_hit)
{
    if (!st)
        st = run(d, s, what);
    if (!st && must_hit && sqlite3_changes(d->h) == 0)
        st = dx_fail(DX_ENOTFOUND, "%s: no such account", what);
    sqlite3_finalize(s);
    return st;
}

dx_status db_user_set_password(db *d, long long id, const char *pw_hash)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "UPDATE users SET pw_hash = ? WHERE id = ?", "ti", pw_hash, id);
    st = change(d, s, st, "set password", true);
    if (!st) {
        st = prep(d, &s, "DELETE FROM sessions WHERE user_id = ?", "i", id);
        st = change(d, s, st, "end sessions", false);
    }
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_set_disabled(db *d, const char *name, bool disabled)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "UPDATE users SET disabled = ? WHERE name = ?", "it",
                        (long long)disabled, name);
    st = change(d, s, st, "disable user", true);
    if (!st && disabled) {
        st = prep(d, &s,
                  "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", "t",
                  name);
        st = change(d, s, st, "end sessions", false);
    }
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_set_quota(db *d, const char *name, int daily_premium)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "UPDATE users SET daily_premium = ? WHERE name = ?", "it",
                        (long long)daily_premium, name);
    st = change(d, s, st, "set quota", true);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_list(db *d, json_t **out)
{
    *out = NULL;
    json_t *arr = json_array();
    if (!arr)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s,
                        "SELECT name, disabled, daily_premium, created_at, "
                        "(SELECT count(*) FROM sessions WHERE user_id = users.id) "
                        "FROM users ORDER BY name",
                        "");
    int rc = SQLITE_DONE;
    while (!st && (rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(
            arr, json_pack("{s:s, s:b, s:i, s:s, s:I}", "name", sqlite3_column_text(s, 0),
                           "disabled", sqlite3_column_int(s, 1), "daily_premium",
                           sqlite3_column_int(s, 2), "created_at", sqlite3_column_text(s, 3),
                           "sessions", (json_int_t)sqlite3_column_int64(s, 4)));
    if (!st && rc != SQLITE_DONE)
        st = fail(d, "list users");
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    if (st)
        json_decref(arr);
    else
        *out = arr;
    return st;
}

dx_status db_session_add(db *d, const char *digest, long long user_id, long long now_s,
                         long long ttl_s)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    /* expired sessions go as new ones come */
    dx_status st = prep(d, &s, "DELETE FROM sessions WHERE expires_s <= ?", "i", now_s);
    st = change(d, s, st, "expire sessions", false);
    if (!st) {
        st = prep(d, &s,
                  "INSERT INTO sessions(digest, user_id, created_s, expires_s) VALUES(?, ?, ?, ?)",
                  "tiii", digest, user_id, now_s, now_s + ttl_s);
        st = change(d, s, st, "add session", false);
    }
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_session_user(db *d, const char *digest, long long now_s, db_user *out)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s,
                        "SELECT " USER_COLS ", sessions.expires_s FROM sessions JOIN users ON "
                        "users.id = sessions.user_id WHERE sessions.digest = ?",
                        "t", digest);
    bool expired = false;
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            read_user(s, out);
            expired = sqlite3_column_int64(s, 5) <= now_s;
            if (expired || out->disabled)
                st = dx_fail(DX_ENOTFOUND, "the session has ended");
        } else if (rc == SQLITE_DONE) {
            st = dx_fail(DX_ENOTFOUND, "no such session");
        } else {
            st = fail(d, "read session");
        }
    }
    sqlite3_finalize(s);
    if (expired) {
        dx_status st2 = prep(d, &s, "DELETE FROM sessions WHERE digest = ?", "t", digest);
        change(d, s, st2, "expire session", false);
        dx_fail(DX_ENOTFOUND, "the session has ended");
    }
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_session_delete(db *d, const char *digest)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "DELETE FROM sessions WHERE digest = ?", "t", digest);
    st = change(d, s, st, "end session", false);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_session_delete_user(db *d, long long user_id)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "DELETE FROM sessions WHERE user_id = ?", "i", user_id);
    st = change(d, s, st, "end sessions", false);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_key_set(db *d, long long user_id, const char *provider, const char *sealed)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s,
                        "INSERT INTO user_keys(user_id, provider, sealed) VALUES(?, ?, ?) "
                        "ON CONFLICT(user_id, provider) DO UPDATE SET sealed = excluded.sealed",
                        "itt", user_id, provider, sealed);
    st = change(d, s, st, "save key", false);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_key_get(db *d, long long user_id, const char *provider, char **sealed)
{
    *sealed = NULL;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "SELECT sealed FROM user_keys WHERE user_id = ? AND provider = ?",
                        "it", user_id, provider);
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            if (!(*sealed = strdup((const char *)sqlite3_column_text(s, 0))))
                st = dx_fail(DX_ENOMEM, "out of memory");
        } else if (rc == SQLITE_DONE) {
            st = dx_fail(DX_ENOTFOUND, "no %s key saved", provider);
        } else {
            st = fail(d, "read key");
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_key_delete(db *d, long long user_id, const char *provider)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "DELETE FROM user_keys WHERE user_id = ? AND provider = ?", "it",
                        user_id, provider);
    st = change(d, s, st, "delete key", false);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_premium_take(db *d, long long user_id, const char *day, int n, int *used)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    /* the day's row, then one UPDATE that moves the count only when it stays
     * within the allowance: atomic on its own, on any SQL engine */
    dx_status st = prep(d, &s,
                        "INSERT INTO premium_calls(user_id, day, calls) VALUES(?, ?, 0) "
                        "ON CONFLICT(user_id, day) DO NOTHING",
                        "it", user_id, day);
    st = change(d, s, st, "count premium calls", false);
    bool taken = false;
    if (!st) {
        st = prep(d, &s,
                  "UPDATE premium_calls SET calls = calls + ? WHERE user_id = ? AND day = ? AND "
                  "calls + ? <= (SELECT daily_premium FROM users WHERE id = ?)",
                  "iitii", (long long)n, user_id, day, (long long)n, user_id);
        if (!st)
            st = run(d, s, "count premium calls");
        taken = !st && sqlite3_changes(d->h) > 0;
        sqlite3_finalize(s);
    }
    int count = 0;
    if (!st) {
        st = prep(d, &s, "SELECT calls FROM premium_calls WHERE user_id = ? AND day = ?", "it",
                  user_id, day);
        if (!st && sqlite3_step(s) == SQLITE_ROW)
            count = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    if (!st && !taken)
        st = dx_fail(DX_ELIMIT, "today's allowance of premium calls is used up (%d made)", count);
    if (used)
        *used = count;
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_defaults_set(db *d, long long user_id, const char *members_json)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "UPDATE users SET default_members = ? WHERE id = ?", "ti",
                        members_json, user_id);
    st = change(d, s, st, "save default members", true);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_user_defaults_get(db *d, long long user_id, json_t **members)
{
    *members = NULL;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "SELECT default_members FROM users WHERE id = ?", "i", user_id);
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
            *members = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
        else if (rc == SQLITE_DONE)
            st = dx_fail(DX_ENOTFOUND, "no such account");
        else if (rc != SQLITE_ROW)
            st = fail(d, "read default members");
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
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
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s;
    dx_status st = prep(d, &s, "SELECT owner, share FROM questions WHERE id = ?", "t", id);
    if (!st) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *owner = sqlite3_column_type(s, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 0);
            const unsigned char *t = sqlite3_column_text(s, 1);
            if (share && cap && t)
                snprintf(share, cap, "%s", (const char *)t);
        } else if (rc == SQLITE_DONE) {
            st = dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
        } else {
            st = fail(d, "read question owner");
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}
