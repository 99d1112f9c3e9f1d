/*
 * auth — the cryptography and bookkeeping behind accounts: password hashes
 * (argon2id, libsodium), opaque session ids, login throttling per account
 * and per address, and per-user secrets sealed with the server's key
 * (libsodium secretbox). No HTTP here: the routes call these.
 *
 *     if (auth_init()) die(dx_errmsg());
 *     char hash[AUTH_HASH_MAX];
 *     auth_password_hash("correct horse", hash);          // store hash
 *     if (auth_password_verify(hash, typed)) ...           // sign in
 *     char token[AUTH_TOKEN_LEN + 1], digest[AUTH_DIGEST_LEN + 1];
 *     auth_token_new(token);                               // the cookie's value
 *     auth_token_digest(token, digest);                    // what the store keeps
 *
 * The store never holds a session id, only its digest, so a copy of the
 * database does not sign anyone in. All functions are thread-safe after
 * auth_init; a throttle has its own lock.
 */
#ifndef DX_SERVER_AUTH_H
#define DX_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define AUTH_HASH_MAX 128        /* crypto_pwhash_STRBYTES */
#define AUTH_TOKEN_LEN 43        /* 32 random bytes, base64url without padding */
#define AUTH_DIGEST_LEN 64       /* hex of a 32-byte BLAKE2b digest */
#define AUTH_SECRET_KEY_BYTES 32 /* crypto_secretbox_KEYBYTES */
#define AUTH_MIN_PASSWORD 10     /* bytes */
#define AUTH_MAX_PASSWORD 1024   /* bytes: longer is refused before hashing */
#define AUTH_MAX_NAME 64         /* account name, bytes */
#define AUTH_MAX_SECRET 4096     /* one sealed per-user key, plain bytes */
#define AUTH_THROTTLE_SLOTS 4096 /* accounts and addresses tracked at once */

/* Initialises libsodium once; DX_EINTERNAL when it can't. */
dx_status auth_init(void);

/* argon2id with libsodium's "interactive" limits (docs/operations.md);
 * DX_EARG for a password outside AUTH_MIN/MAX_PASSWORD, DX_ENOMEM when the
 * hash's memory can't be had. */
dx_status auth_password_hash(const char *password, char out[AUTH_HASH_MAX]);
/* Constant-time with respect to the password; false for any malformed hash. */
bool auth_password_verify(const char *hash, const char *password);
/* True when a stored hash was made with weaker limits than today's. */
bool auth_password_needs_rehash(const char *hash);

/* A fresh session id: 32 bytes from the system's CSPRNG, base64url. */
void auth_token_new(char out[AUTH_TOKEN_LEN + 1]);
/* Keyless BLAKE2b-256 of a token, hex; what the store keeps. */
void auth_token_digest(const char *token, char out[AUTH_DIGEST_LEN + 1]);
/* A token is exactly AUTH_TOKEN_LEN base64url characters. */
bool auth_token_valid(const char *token);

/* Account names: 3..AUTH_MAX_NAME-1 of [a-z0-9._-] after lower-casing, or
 * an e-mail address's characters (adds '@' and '+'). Writes the canonical
 * (lower-case) form; DX_EARG with a message otherwise. */
dx_status auth_name_canonical(const char *name, char out[AUTH_MAX_NAME]);

/* ---- login throttling ---- */

/* Failures per key (an account name, or an address prefixed "ip:") in a
 * sliding window: after `max_failures` within `window_s`, the key is
 * refused until the oldest of them leaves the window. A success clears the
 * key. At most AUTH_THROTTLE_SLOTS keys; when full, the stalest is
 * forgotten. */
typedef struct auth_throttle auth_throttle;

auth_throttle *auth_throttle_new(int max_failures, double window_s);
void auth_throttle_free(auth_throttle *t);
/* false when the key is locked now; *retry_s says for how long. */
bool auth_throttle_allowed(auth_throttle *t, const char *key, double now_s, double *retry_s);
void auth_throttle_failure(auth_throttle *t, const char *key, double now_s);
void auth_throttle_success(auth_throttle *t, const char *key);

/* ---- per-user secrets ---- */

/* Reads the server's secretbox key from path (32 raw bytes), creating it
 * (mode 0600, random) when absent. DX_EIO / DX_EFORMAT otherwise. */
dx_status auth_server_key_load(const char *path, uint8_t key[AUTH_SECRET_KEY_BYTES]);
/* Seals plain (at most AUTH_MAX_SECRET bytes) as base64 of nonce || box; caller frees. */
dx_status auth_secret_seal(const uint8_t key[AUTH_SECRET_KEY_BYTES], const char *plain, char **out);
/* Opens what auth_secret_seal wrote; DX_EFORMAT for anything forged, cut or
 * sealed with another key. Caller frees (the plain text is wiped first by
 * auth_secret_free). */
dx_status auth_secret_open(const uint8_t key[AUTH_SECRET_KEY_BYTES], const char *sealed,
                           char **out);
void auth_secret_free(char *plain);

#endif
