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
#include "test_pg.h"

static char dir[] = "/tmp/drux-test-auth-XXXXXX";
static char pg_url[512]; /* set: the store tests run on a fresh PostgreSQL database */

/* A new store: a file named name in the test folder, or a new PostgreSQL database. */
static const char *store_path(const char *name)
{
    static char url[600];
    if (pg_url[0])
        return test_pg_fresh(pg_url, url, sizeof url) ? url : "postgresql:///no-database";
    snprintf(url, sizeof url, "%s/%s", dir, name);
    return url;
}

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
    CHECK(db_open(store_path("users.db"), &d) == DX_OK);
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

    db_account *list = NULL;
    size_t n = 0;
    CHECK(db_user_list(d, &list, &n) == DX_OK && n == 2);
    CHECK_STR(list[0].name, "ada");
    CHECK_STR(list[1].name, "bob");
    CHECK(!list[1].disabled && list[1].sessions == 1);
    free(list);

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

/* The store the previous release (schema 1) wrote, tests/data/store/schema1.db:
 * made by its `drux serve` with three questions. It opens, migrates once, and
 * keeps every question, member answer and analysis; its questions stay
 * anonymous. */
TEST(migration_keeps_questions)
{
    const char *path = tmp_path("v1.db");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp tests/data/store/schema1.db '%s'", path);
    CHECK(system(cmd) == 0);
    sqlite3 *h;
    int version = -1;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    sqlite3_stmt *s;
    CHECK(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    CHECK_EQ_INT(version, 1);

    db *d = NULL;
    CHECK_MSG(db_open(path, &d) == DX_OK, "%s", dx_errmsg());
    CHECK(db_schema_version(d) == DB_SCHEMA_VERSION);
    json_t *q = NULL;
    CHECK(db_question_get(d, "2338zs7fuesy", true, &q) == DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "question")), "What is the capital of France?");
    CHECK_EQ_INT((int)json_array_size(json_object_get(q, "members")), 3);
    json_t *m = json_array_get(json_object_get(q, "members"), 0);
    CHECK(strstr(json_string_value(json_object_get(m, "text")), "Paris") != NULL);
    CHECK(json_is_object(json_object_get(q, "result")));
    json_decref(q);
    json_t *list = NULL;
    CHECK(db_question_list(d, NULL, 10, NULL, &list) == DX_OK && json_array_size(list) == 3);
    json_decref(list);
    long long owner = -1;
    char share[64] = "x";
    CHECK(db_question_owner(d, "afb3a826rvcm", &owner, share, sizeof share) == DX_OK);
    CHECK(owner == 0 && !share[0]);
    /* the upgraded store takes accounts and owned questions */
    long long ada;
    CHECK(db_user_add(d, "ada", "$h", "2026-01-01T00:00:00Z", &ada) == DX_OK);
    CHECK(db_question_insert_as(d, "mine", "Ada's own?", NULL, 0, "2026-12-06T00:00:00Z", ada,
                                "tok123") == DX_OK);
    db_close(d);
    /* and opens again without migrating twice */
    CHECK(db_open(path, &d) == DX_OK);
    CHECK(db_schema_version(d) == DB_SCHEMA_VERSION);
    CHECK(db_question_list(d, NULL, 10, NULL, &list) == DX_OK && json_array_size(list) == 3);
    json_decref(list);
    db_close(d);
}

/* A signed-in user's questions are theirs: listed to them only, owner and
 * share token on record; anonymous lists never show them. */
TEST(question_owners)
{
    db *d = NULL;
    CHECK(db_open(store_path("owners.db"), &d) == DX_OK);
    long long ada, bob;
    CHECK(db_user_add(d, "ada", "$h", "t", &ada) == DX_OK);
    CHECK(db_user_add(d, "bob", "$h", "t", &bob) == DX_OK);
    CHECK(db_question_insert(d, "anon1", "anyone's", NULL, 0, "t") == DX_OK);
    CHECK(db_question_insert_as(d, "ada1", "ada's sky", NULL, 0, "t", ada, "s-ada1") == DX_OK);
    CHECK(db_question_insert_as(d, "ada2", "ada's sea", NULL, 0, "t", ada, "s-ada2") == DX_OK);
    CHECK(db_question_insert_as(d, "bob1", "bob's sky", NULL, 0, "t", bob, "s-bob1") == DX_OK);
    json_t *l = NULL;
    CHECK(db_question_list(d, NULL, 10, NULL, &l) == DX_OK && json_array_size(l) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "anon1");
    json_decref(l);
    CHECK(db_question_list_of(d, ada, NULL, 10, NULL, &l) == DX_OK && json_array_size(l) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "ada2");
    json_decref(l);
    CHECK(db_question_list_of(d, ada, "sky", 10, NULL, &l) == DX_OK && json_array_size(l) == 1);
    json_decref(l);
    CHECK(db_question_list_of(d, bob, NULL, 10, NULL, &l) == DX_OK && json_array_size(l) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "bob1");
    json_decref(l);
    long long owner;
    char share[64];
    CHECK(db_question_owner(d, "ada1", &owner, share, sizeof share) == DX_OK);
    CHECK(owner == ada && !strcmp(share, "s-ada1"));
    CHECK(db_question_owner(d, "nope", &owner, share, sizeof share) == DX_ENOTFOUND);

    /* default premium members */
    db_names def;
    CHECK(db_user_defaults_get(d, ada, &def) == DX_OK && !def.stored);
    db_names_free(&def);
    const char *picked[] = {"claude", "gpt"};
    CHECK(db_user_defaults_set(d, ada, picked, 2) == DX_OK);
    CHECK(db_user_defaults_get(d, ada, &def) == DX_OK && def.stored && def.n == 2);
    CHECK(!strcmp(def.names[0], "claude") && !strcmp(def.names[1], "gpt"));
    db_names_free(&def);
    CHECK(db_user_defaults_set(d, ada, picked, 0) == DX_OK); /* none chosen */
    CHECK(db_user_defaults_get(d, ada, &def) == DX_OK && def.stored && def.n == 0);
    db_names_free(&def);
    CHECK(db_user_defaults_set(d, 9999, picked, 2) == DX_ENOTFOUND);
    CHECK(db_user_defaults_get(d, 9999, &def) == DX_ENOTFOUND);
    db_names_free(&def);
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
    RUN(question_owners);
    /* the accounts' store on PostgreSQL too (tests/pg-server) */
    char why[256];
    if (test_pg_start(pg_url, sizeof pg_url, why, sizeof why)) {
        printf("# backend: postgresql\n");
        RUN(users_and_sessions);
        RUN(question_owners);
        test_pg_stop();
    } else {
        printf("skip postgresql: %s\n", why);
        test_skipped++;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
    return test_summary();
}
