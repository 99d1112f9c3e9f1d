/*
 * users — accounts in the store: users, their sessions (by digest, never
 * the id itself), their sealed provider keys and their daily premium calls.
 * Schema version 2 (docs/operations.md); questions gain an owner.
 *
 *     long long uid;
 *     db_user_add(d, "ada", hash, "2026-01-01T00:00:00Z", &uid);
 *     db_session_add(d, digest, uid, now_s, 14 * 86400);
 *     db_user u;
 *     if (db_session_user(d, digest, now_s, &u) == DX_OK) ... signed in as u.name
 *
 * Thread-safe like the rest of db.h.
 */
#ifndef DX_STORE_USERS_H
#define DX_STORE_USERS_H

#include <stdbool.h>

#include "core/status.h"
#include "store/db.h"

typedef struct db_user {
    long long id;
    char name[64];
    char pw_hash[128];
    bool disabled;
    int daily_premium; /* premium member calls allowed per UTC day */
} db_user;

/* DX_EARG when the name is taken. */
dx_status db_user_add(db *d, const char *name, const char *pw_hash, const char *created_at,
                      long long *id);
/* DX_ENOTFOUND when there is no such account. */
dx_status db_user_get(db *d, const char *name, db_user *out);
/* A new password ends every session of the account (sign-out everywhere). */
dx_status db_user_set_password(db *d, long long id, const char *pw_hash);
/* Disabling ends every session too; DX_ENOTFOUND for an unknown name. */
dx_status db_user_set_disabled(db *d, const char *name, bool disabled);
dx_status db_user_set_quota(db *d, const char *name, int daily_premium);
/* One account as a list shows it. */
typedef struct db_account {
    char name[64];
    bool disabled;
    int daily_premium;
    char created_at[32]; /* ISO 8601, UTC */
    long long sessions;  /* live or expired, not yet removed */
} db_account;

/* Every account, by name: *out malloc'd (free it), *n of them. */
dx_status db_user_list(db *d, db_account **out, size_t *n);

dx_status db_session_add(db *d, const char *digest, long long user_id, long long now_s,
                         long long ttl_s);
/* The account a live session belongs to: DX_ENOTFOUND when the digest is
 * unknown, expired (it is deleted then) or its account disabled. */
dx_status db_session_user(db *d, const char *digest, long long now_s, db_user *out);
dx_status db_session_delete(db *d, const char *digest);
dx_status db_session_delete_user(db *d, long long user_id);

/* A user's sealed key for a provider (auth_secret_seal's text). get:
 * DX_ENOTFOUND when none; *sealed is malloc'd. */
dx_status db_user_key_set(db *d, long long user_id, const char *provider, const char *sealed);
dx_status db_user_key_get(db *d, long long user_id, const char *provider, char **sealed);
dx_status db_user_key_delete(db *d, long long user_id, const char *provider);

/* Takes n premium calls from the user's allowance for `day` (YYYY-MM-DD):
 * DX_ELIMIT, taking none, when that would pass daily_premium. *used is the
 * day's count after the call. */
dx_status db_premium_take(db *d, long long user_id, const char *day, int n, int *used);

/* The user's default premium members: names[0..n) (names NULL: none
 * chosen). get: out->stored false when none were chosen; free it with
 * db_names_free whatever the result; DX_ENOTFOUND for an unknown user. */
dx_status db_user_defaults_set(db *d, long long user_id, const char *const *names, size_t n);
dx_status db_user_defaults_get(db *d, long long user_id, db_names *out);

/* Who a question belongs to: *owner 0 when it was asked anonymously, and
 * its share token in share (cap bytes, "" when none). DX_ENOTFOUND if absent. */
dx_status db_question_owner(db *d, const char *id, long long *owner, char *share, size_t cap);

#endif
