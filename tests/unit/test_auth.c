/* Accounts: password hashes, session ids, throttling, sealed secrets
 * (server/auth.c) and their store (store/users.c), including the upgrade
 * of a store written before accounts existed. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/auth.h"
#include "store/db.h"
#include "store/users.h"
#include "test.h"

static char dir[] = "/tmp/drux-test-auth-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

TEST(passwords)
{
    char h[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
    CHECK(auth_password_hash("correct horse battery", h) == DX_OK);
    CHECK(!strncmp(h, "$argon2id$", 10));
    CHECK(auth_password_verify(h, "correct horse battery"));
    CHECK(!auth_password_verify(h, "correct horse batterY"));
    CHECK(!auth_password_verify(h, ""));
    CHECK(!auth_password_needs_rehash(h));
    /* salted: the same password hashes differently */
    CHECK(auth_password_hash("correct horse battery", h2) == DX_OK && strcmp(h, h2));
    CHECK(auth_password_hash("short", h) == DX_EARG);
    CHECK(!auth_password_verify("$argon2id$garbage", "correct horse battery"));
    char big[AUTH_MAX_PASSWORD + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(auth_password_hash(big, h) == DX_EARG);
}

TEST(tokens)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1], da[AUTH_DIGEST_LEN + 1],
        db_[AUTH_DIGEST_LEN + 1];
    auth_token_new(a);
    auth_token_new(b);
    CHECK(strlen(a) == AUTH_TOKEN_LEN && strcmp(a, b));
    CHECK(auth_token_valid(a) && auth_token_valid(b));
    auth_token_digest(a, da);
    auth_token_digest(b, db_);
    CHECK(strlen(da) == AUTH_DIGEST_LEN && strcmp(da, db_) && !strstr(da, a));
    char forged[AUTH_TOKEN_LEN + 1];
    memcpy(forged, a, sizeof forged);
    forged[5] = forged[5] == 'A' ? 'B' : 'A';
    auth_token_digest(forged, db_);
    CHECK(strcmp(da, db_));
    CHECK(!auth_token_valid("short"));
    CHECK(!auth_token_valid("abc;def"));
    char bad[AUTH_TOKEN_LEN + 1];
    memset(bad, 'a', AUTH_TOKEN_LEN);
    bad[AUTH_TOKEN_LEN] = 0;
    bad[3] = '=';
    CHECK(!auth_token_valid(bad));
    CHECK(!auth_token_valid(NULL));
}

TEST(names)
{
    char n[AUTH_MAX_NAME];
    CHECK(auth_name_canonical("Ada.Lovelace+x@Example.org", n) == DX_OK);
    CHECK_STR(n, "ada.lovelace+x@example.org");
    CHECK(auth_name_canonical("ab", n) == DX_EARG);
    CHECK(auth_name_canonical("a b c", n) == DX_EARG);
    CHECK(auth_name_canonical("caf\xC3\xA9", n) == DX_EARG);
}

TEST(throttle)
{
    auth_throttle *t = auth_throttle_new(3, 60);
    double retry = 0;
    CHECK(t);
    for (int i = 0; i < 3; i++) {
        CHECK(auth_throttle_allowed(t, "ada", 100 + i, NULL));
        auth_throttle_failure(t, "ada", 100 + i);
    }
    CHECK(!auth_throttle_allowed(t, "ada", 110, &retry));
    CHECK(retry > 49 && retry <= 50);
    CHECK(auth_throttle_allowed(t, "ip:10.0.0.1", 110, NULL)); /* keys are apart */
    CHECK(auth_throttle_allowed(t, "ada", 160.5, NULL));       /* the oldest left the window */
    for (int i = 0; i < 3; i++)
        auth_throttle_failure(t, "ada", 200 + i);
    CHECK(!auth_throttle_allowed(t, "ada", 203, NULL));
    auth_throttle_success(t, "ada"); /* a right password clears the count */
    CHECK(auth_throttle_allowed(t, "ada", 203, NULL));
    auth_throttle_free(t);
    auth_throttle_free(NULL);
}

TEST(sealed_secrets)
{
    uint8_t key[AUTH_SECRET_KEY_BYTES], key2[AUTH_SECRET_KEY_BYTES], other[AUTH_SECRET_KEY_BYTES];
    const char *kp = tmp_path("server.key");
    CHECK(auth_server_key_load(kp, key) == DX_OK); /* created */
    struct stat sb;
    CHECK(stat(kp, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(auth_server_key_load(kp, key2) == DX_OK && !memcmp(key, key2, sizeof key));
    chmod(kp, 0644);
    CHECK(auth_server_key_load(kp, key2) == DX_EARG);
    chmod(kp, 0600);

    char *sealed = NULL, *plain = NULL;
    CHECK(auth_secret_seal(key, "sk-ant-user-secret-99", &sealed) == DX_OK);
    CHECK(!strstr(sealed, "sk-ant-user-secret-99"));
    CHECK(auth_secret_open(key, sealed, &plain) == DX_OK);
    CHECK_STR(plain, "sk-ant-user-secret-99");
    auth_secret_free(plain);
    memset(other, 7, sizeof other);
    CHECK(auth_secret_open(other, sealed, &plain) == DX_EFORMAT && !plain);
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A'; /* tampered */
    CHECK(auth_secret_open(key, sealed, &plain) == DX_EFORMAT && !plain);
    CHECK(auth_secret_open(key, "not base64 !!", &plain) == DX_EFORMAT);
    CHECK(auth_secret_open(key, "QUJD", &plain) == DX_EFORMAT); /* too short for a box */
    free(sealed);
}

TEST(users_and_sessions)
{
    db *d = NULL;
    CHECK(db_open(tmp_path("users.db"), &d) == DX_OK);
    CHECK(db_schema_version(d) == DB_SCHEMA_VERSION && DB_SCHEMA_VERSION >= 2);
    long long ada = 0, bob = 0;
    CHECK(db_user_add(d, "ada", "$h1", "2026-01-01T00:00:00Z", &ada) == DX_OK && ada > 0);
    CHECK(db_user_add(d, "ada", "$h2", "2026-01-01T00:00:00Z", NULL) == DX_EARG);
    CHECK(db_user_add(d, "bob", "$h3", "2026-01-02T00:00:00Z", &bob) == DX_OK);
    db_user u;
    CHECK(db_user_get(d, "ada", &u) == DX_OK && u.id == ada && !strcmp(u.pw_hash, "$h1"));
    CHECK(db_user_get(d, "nobody", &u) == DX_ENOTFOUND);

    CHECK(db_session_add(d, "dig-a1", ada, 1000, 100) == DX_OK);
    CHECK(db_session_add(d, "dig-a2", ada, 1000, 100) == DX_OK);
    CHECK(db_session_add(d, "dig-b1", bob, 1000, 100) == DX_OK);
    CHECK(db_session_user(d, "dig-a1", 1050, &u) == DX_OK && !strcmp(u.name, "ada"));
    CHECK(db_session_user(d, "dig-b1", 1050, &u) == DX_OK && !strcmp(u.name, "bob"));
    CHECK(db_session_user(d, "dig-zz", 1050, &u) == DX_ENOTFOUND);
    CHECK(db_session_user(d, "dig-a1", 1100, &u) == DX_ENOTFOUND); /* expired */
    CHECK(db_session_user(d, "dig-a1", 1050, &u) == DX_ENOTFOUND); /* and gone */
    CHECK(db_session_user(d, "dig-a2", 1050, &u) == DX_OK);        /* the other one lives */
    CHECK(db_session_user(d, "dig-a2", 1100, &u) == DX_ENOTFOUND); /* until its own end */

    /* a new password signs out everywhere, the other account stays in */
    CHECK(db_session_add(d, "dig-a3", ada, 2000, 100) == DX_OK);
    CHECK(db_user_set_password(d, ada, "$h9") == DX_OK);
    CHECK(db_session_user(d, "dig-a3", 2001, &u) == DX_ENOTFOUND);
    CHECK(db_user_get(d, "ada", &u) == DX_OK && !strcmp(u.pw_hash, "$h9"));
    CHECK(db_session_add(d, "dig-b2", bob, 2000, 100) == DX_OK);
    CHECK(db_session_user(d, "dig-b2", 2001, &u) == DX_OK);

    /* disabling ends the sessions and refuses new ones' use */
    CHECK(db_user_set_disabled(d, "bob", true) == DX_OK);
    CHECK(db_session_user(d, "dig-b2", 2001, &u) == DX_ENOTFOUND);
    CHECK(db_session_add(d, "dig-b3", bob, 2000, 100) == DX_OK);
    CHECK(db_session_user(d, "dig-b3", 2001, &u) == DX_ENOTFOUND);
    CHECK(db_user_set_disabled(d, "nobody", true) == DX_ENOTFOUND);
    CHECK(db_user_set_disabled(d, "bob", false) == DX_OK);

    json_t *list = NULL;
    CHECK(db_user_list(d, &list) == DX_OK && json_array_size(list) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "name")), "ada");
    json_decref(list);

    /* sealed keys per user and provider */
    char *s = NULL;
    CHECK(db_user_key_set(d, ada, "anthropic", "sealed-1") == DX_OK);
    CHECK(db_user_key_set(d, ada, "anthropic", "sealed-2") == DX_OK);
    CHECK(db_user_key_get(d, ada, "anthropic", &s) == DX_OK && !strcmp(s, "sealed-2"));
    free(s);
    CHECK(db_user_key_get(d, bob, "anthropic", &s) == DX_ENOTFOUND && !s);
    CHECK(db_user_key_delete(d, ada, "anthropic") == DX_OK);
    CHECK(db_user_key_get(d, ada, "anthropic", &s) == DX_ENOTFOUND);

    /* the daily premium allowance */
    int used = -1;
    CHECK(db_user_set_quota(d, "ada", 5) == DX_OK);
    CHECK(db_premium_take(d, ada, "2026-01-01", 3, &used) == DX_OK && used == 3);
    CHECK(db_premium_take(d, ada, "2026-01-01", 3, &used) == DX_ELIMIT && used == 3);
    CHECK(db_premium_take(d, ada, "2026-01-01", 2, &used) == DX_OK && used == 5);
    CHECK(db_premium_take(d, ada, "2026-01-02", 5, &used) == DX_OK && used == 5);
    CHECK(db_premium_take(d, ada, "2026-01-03", 6, &used) == DX_ELIMIT && used == 0);
    db_close(d);
}

/* A store written before accounts (schema 1, as the previous release made
 * it) opens, migrates, and keeps every question. */
TEST(migration_keeps_questions)
{
    const char *path = tmp_path("v1.db");
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    const char *v1 =
        "CREATE TABLE questions(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " question TEXT NOT NULL, members_sel TEXT, status TEXT NOT NULL, error TEXT,"
        " created_at TEXT NOT NULL, finished_at TEXT);"
        "CREATE TABLE members(question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE "
        "CASCADE, idx INTEGER NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL, status TEXT "
        "NOT NULL, error TEXT, latency_ms INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL "
        "DEFAULT 0, ttft_ms INTEGER NOT NULL DEFAULT 0, text TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY(question_id, idx));"
        "CREATE TABLE analyses(question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE "
        "CASCADE, label TEXT, consensus INTEGER, result TEXT NOT NULL);"
        "CREATE TABLE timings(question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE "
        "CASCADE, queued_ms INTEGER, asking_ms INTEGER, analyzing_ms INTEGER, synthesizing_ms "
        "INTEGER, total_ms INTEGER);"
        "INSERT INTO questions(id, question, status, created_at, finished_at) VALUES"
        " ('q1', 'Why is the sky blue?', 'done', '2025-12-01T10:00:00Z', "
        "'2025-12-01T10:00:05Z'),"
        " ('q2', 'What is 2+2?', 'failed', '2025-12-02T10:00:00Z', '2025-12-02T10:00:01Z');"
        "INSERT INTO members VALUES('q1', 0, 'smol', 'smol.gguf', 'done', NULL, 900, 12, 80, "
        "'Rayleigh scattering.');"
        "PRAGMA user_version = 1;";
    CHECK(sqlite3_exec(h, v1, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);

    db *d = NULL;
    CHECK_MSG(db_open(path, &d) == DX_OK, "%s", dx_errmsg());
    CHECK(db_schema_version(d) == DB_SCHEMA_VERSION);
    json_t *q = NULL;
    CHECK(db_question_get(d, "q1", true, &q) == DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "question")), "Why is the sky blue?");
    json_t *m = json_array_get(json_object_get(q, "members"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "text")), "Rayleigh scattering.");
    json_decref(q);
    json_t *list = NULL;
    CHECK(db_question_list(d, NULL, 10, NULL, &list) == DX_OK && json_array_size(list) == 2);
    json_decref(list);
    /* the upgraded store takes accounts and owners */
    long long ada;
    CHECK(db_user_add(d, "ada", "$h", "2026-01-01T00:00:00Z", &ada) == DX_OK);
    CHECK(db_question_set_owner(d, "q2", ada, true) == DX_OK);
    CHECK(db_question_set_owner(d, "nope", ada, true) == DX_ENOTFOUND);
    db_close(d);
    /* and opens again without migrating twice */
    CHECK(db_open(path, &d) == DX_OK);
    db_close(d);
}

int main(void)
{
    if (!mkdtemp(dir) || auth_init()) {
        printf("0 passed, 1 failed, 0 skipped\n");
        return 1;
    }
    RUN(passwords);
    RUN(tokens);
    RUN(names);
    RUN(throttle);
    RUN(sealed_secrets);
    RUN(users_and_sessions);
    RUN(migration_keeps_questions);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
    return test_summary();
}
