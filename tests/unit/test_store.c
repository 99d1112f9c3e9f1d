/* The store: schema and migrations, a question's life, interruption on
 * reopen, search and paging, and the all-or-nothing finish. Every test runs
 * twice: on a SQLite file and on PostgreSQL (a server started for the run by
 * tests/pg-server; skipped with one line when PostgreSQL is not installed).
 * Then the SQL seam's own cases: placeholders, types, errors, redaction. */
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/db.h"
#include "store/sql.h"
#include "test.h"
#include "test_pg.h"

static char dir[] = "/tmp/drux-store-XXXXXX";
static char path[600];
static char pg_url[512]; /* the test server's maintenance database; "" on SQLite */

/* A new empty store: a file on SQLite, a new database on PostgreSQL. */
static void fresh(void)
{
    static int n;
    if (pg_url[0]) {
        if (!test_pg_fresh(pg_url, path, sizeof path))
            snprintf(path, sizeof path, "postgresql:///no-database");
        return;
    }
    snprintf(path, sizeof path, "%s/t%d.db", dir, n++);
}

/* Sets the stored schema version behind the store's back. */
static bool force_version(int v)
{
    char q[160];
    if (pg_url[0]) {
        snprintf(q, sizeof q,
                 "CREATE TABLE IF NOT EXISTS drux_schema(version BIGINT NOT NULL); "
                 "DELETE FROM drux_schema; INSERT INTO drux_schema VALUES(%d)",
                 v);
        return test_pg_exec(path, q);
    }
    sqlite3 *h;
    if (sqlite3_open(path, &h) != SQLITE_OK)
        return false;
    snprintf(q, sizeof q, "PRAGMA user_version = %d", v);
    bool ok = sqlite3_exec(h, q, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(h);
    return ok;
}

static db_member member(const char *name, const char *status, const char *text)
{
    return (db_member){.name = name,
                       .model = "m.gguf",
                       .status = status,
                       .text = text,
                       .text_len = text ? strlen(text) : 0,
                       .latency_ms = 12,
                       .tokens = 3};
}

TEST(new_store_has_current_schema)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_schema_version(d), DB_SCHEMA_VERSION);
    db_close(d);
    /* reopening migrates nothing and still works */
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_schema_version(d), DB_SCHEMA_VERSION);
    db_close(d);
}

TEST(newer_schema_is_refused)
{
    fresh();
    CHECK(force_version(99));
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_EUNSUPPORTED);
    CHECK(strstr(dx_errmsg(), "newer") != NULL);
}

TEST(question_lifecycle)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    const char *names[] = {"alpha"};
    json_t *sel = json_pack("[s]", "alpha");
    CHECK_EQ_INT(
        db_question_insert(d, "q1", "How long is a 5K run?", names, 1, "2026-11-25T02:00:00Z"),
        DX_OK);
    db_member m = member("alpha", "running", "A 5K");
    CHECK_EQ_INT(db_member_save(d, "q1", 0, &m), DX_OK);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "q1", true, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "queued");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(q, "members"), 0), "text")),
              "A 5K");
    CHECK(json_is_null(json_object_get(q, "result")));
    json_decref(q);

    db_member members[] = {member("alpha", "done", "A 5K run is 5 km.")};
    json_t *result = json_pack("{s:s, s:{s:s, s:i}}", "question", "How long is a 5K run?",
                               "analysis", "label", "single_voice", "consensus", 0);
    char *result_text = json_dumps(result, JSON_COMPACT);
    db_finish f = {.id = "q1",
                   .status = QUESTION_DONE,
                   .finished_at = "2026-11-25T02:00:09Z",
                   .members = members,
                   .n_members = 1,
                   .result = result_text,
                   .label = "single_voice",
                   .has_consensus = true,
                   .consensus = 0,
                   .total_ms = 9000};
    CHECK_EQ_INT(db_question_finish(d, &f), DX_OK);
    CHECK_EQ_INT(db_question_get(d, "q1", true, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "done");
    CHECK_STR(json_string_value(json_object_get(q, "finished_at")), "2026-11-25T02:00:09Z");
    CHECK(json_equal(json_object_get(q, "result"), result));
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(q, "members"), 0), "text")),
              "A 5K run is 5 km.");
    json_decref(q);
    db_source src;
    CHECK_EQ_INT(db_question_source(d, "q1", &src), DX_OK);
    CHECK_STR(src.question, "How long is a 5K run?");
    CHECK(src.members.stored && src.members.n == 1);
    CHECK_STR(src.members.names[0], "alpha");
    db_source_free(&src);
    /* asked of every member: no list; of none chosen: an empty one */
    CHECK_EQ_INT(db_question_insert(d, "q2", "All?", NULL, 0, "2026-11-25T02:00:01Z"), DX_OK);
    CHECK_EQ_INT(db_question_source(d, "q2", &src), DX_OK);
    CHECK(!src.members.stored && src.members.n == 0);
    CHECK_STR(src.question, "All?");
    db_source_free(&src);
    CHECK_EQ_INT(db_question_insert(d, "q3", "None?", names, 0, "2026-11-25T02:00:02Z"), DX_OK);
    CHECK_EQ_INT(db_question_source(d, "q3", &src), DX_OK);
    CHECK(src.members.stored && src.members.n == 0);
    db_source_free(&src);
    CHECK_EQ_INT(db_question_source(d, "q9", &src), DX_ENOTFOUND);
    CHECK(!src.question && !src.members.stored);
    db_source_free(&src);
    CHECK_EQ_INT(db_question_delete(d, "q1"), DX_OK);
    CHECK_EQ_INT(db_question_get(d, "q1", true, &q), DX_ENOTFOUND);
    CHECK_EQ_INT(db_question_delete(d, "q1"), DX_ENOTFOUND);
    free(result_text);
    json_decref(result);
    json_decref(sel);
    db_close(d);
}

TEST(unfinished_questions_are_interrupted_on_reopen)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_question_insert(d, "a", "first", NULL, 0, "2026-11-25T02:00:00Z"), DX_OK);
    CHECK_EQ_INT(db_question_insert(d, "b", "second", NULL, 0, "2026-11-25T02:00:01Z"), DX_OK);
    CHECK_EQ_INT(db_question_set_status(d, "b", QUESTION_RUNNING, NULL), DX_OK);
    db_finish f = {.id = "a", .status = QUESTION_FAILED, .error = "boom", .finished_at = "x"};
    CHECK_EQ_INT(db_question_finish(d, &f), DX_OK);
    db_close(d);
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "b", false, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "interrupted");
    json_decref(q);
    CHECK_EQ_INT(db_question_get(d, "a", false, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "failed");
    CHECK_STR(json_string_value(json_object_get(q, "error")), "boom");
    json_decref(q);
    db_close(d);
}

TEST(finish_is_all_or_nothing)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_question_insert(d, "q", "x", NULL, 0, "t"), DX_OK);
    db_member members[] = {member("ok", "done", "fine"), {.name = NULL}};
    db_finish f = {.id = "q",
                   .status = QUESTION_DONE,
                   .finished_at = "t2",
                   .members = members,
                   .n_members = 2,
                   .result = "{\"analysis\":{\"label\":\"consensus\"}}",
                   .label = "consensus"};
    /* the second member is bad: the first, the status and the analysis
     * must not be stored either */
    CHECK_EQ_INT(db_question_finish(d, &f), DX_EARG);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "q", true, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "queued");
    CHECK(json_is_null(json_object_get(q, "result")));
    CHECK(json_is_null(json_object_get(q, "finished_at")));
    CHECK_EQ_INT(json_array_size(json_object_get(q, "members")), 0);
    json_decref(q);
    db_close(d);
}

TEST(list_search_and_pages)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    const char *ids[] = {"k1", "k2", "k3", "k4", "k5"};
    const char *texts[] = {"Why is the SKY blue?", "How long is a marathon?", "Sky at night",
                           "Capital of France", "What colour is the sky"};
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(db_question_insert(d, ids[i], texts[i], NULL, 0, "t"), DX_OK);
    db_member m0 = member("alpha", "done", "blue"), m1 = member("beta", "running", "sky");
    CHECK_EQ_INT(db_member_save(d, "k5", 1, &m1), DX_OK);
    CHECK_EQ_INT(db_member_save(d, "k5", 0, &m0), DX_OK);
    CHECK_EQ_INT(db_member_save(d, "k3", 0, &m1), DX_OK);
    json_t *l;
    CHECK_EQ_INT(db_question_list(d, NULL, 2, NULL, &l), DX_OK);
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "k5");
    /* each with its own members, in council order, without texts */
    json_t *ms = json_object_get(json_array_get(l, 0), "members");
    CHECK_EQ_INT(json_array_size(ms), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 0), "name")), "alpha");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 1), "status")), "running");
    CHECK(!json_object_get(json_array_get(ms, 0), "text"));
    CHECK_EQ_INT(json_array_size(json_object_get(json_array_get(l, 1), "members")), 0);
    json_decref(l);
    CHECK_EQ_INT(db_question_list(d, NULL, 10, "k4", &l), DX_OK);
    CHECK_EQ_INT(json_array_size(json_object_get(json_array_get(l, 0), "members")), 1);
    json_decref(l);
    CHECK_EQ_INT(db_question_list(d, NULL, 10, "k4", &l), DX_OK);
    CHECK_EQ_INT(json_array_size(l), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "k3");
    json_decref(l);
    CHECK_EQ_INT(db_question_list(d, "sky", 10, NULL, &l), DX_OK);
    CHECK_EQ_INT(json_array_size(l), 3); /* case-insensitive */
    json_decref(l);
    CHECK_EQ_INT(db_question_list(d, "%", 10, NULL, &l), DX_OK);
    CHECK_EQ_INT(json_array_size(l), 0); /* no LIKE wildcards */
    json_decref(l);
    db_close(d);
}

/* A store written before threads (schema 1, as drux 1 wrote it) keeps every
 * question, each as a thread of one, with its members and its analysis. */
TEST(old_store_keeps_every_question_as_a_thread_of_one)
{
    fresh();
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    const char *v1 =
        "CREATE TABLE questions(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " question TEXT NOT NULL, members_sel TEXT, status TEXT NOT NULL, error TEXT,"
        " created_at TEXT NOT NULL, finished_at TEXT);"
        "CREATE TABLE members(question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE "
        "CASCADE, idx INTEGER NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT "
        "NULL, error TEXT, latency_ms INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT "
        "0, ttft_ms INTEGER NOT NULL DEFAULT 0, text TEXT NOT NULL DEFAULT '', PRIMARY "
        "KEY(question_id, idx));"
        "CREATE TABLE analyses(question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE "
        "CASCADE, label TEXT, consensus INTEGER, result TEXT NOT NULL);"
        "CREATE TABLE timings(question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE "
        "CASCADE, queued_ms INTEGER, asking_ms INTEGER, analyzing_ms INTEGER, synthesizing_ms "
        "INTEGER, total_ms INTEGER);"
        "INSERT INTO questions(id, question, status, created_at) VALUES"
        " ('old1', 'What is the capital of Japan?', 'done', '2026-01-01T00:00:00Z'),"
        " ('old2', 'Why is the sky blue?', 'done', '2026-01-02T00:00:00Z'),"
        " ('old3', 'How long is a marathon?', 'running', '2026-01-03T00:00:00Z');"
        "INSERT INTO members(question_id, idx, name, model, status, text) VALUES"
        " ('old1', 0, 'smol', 'smol', 'done', 'Tokyo.'), ('old2', 0, 'smol', 'smol', 'done', "
        "'Rayleigh scattering.');"
        "INSERT INTO analyses VALUES ('old1', 'single_voice', NULL, '{\"answer\": \"Tokyo.\"}');"
        "PRAGMA user_version = 1;";
    CHECK(sqlite3_exec(h, v1, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_schema_version(d), DB_SCHEMA_VERSION);
    json_t *list;
    CHECK_EQ_INT(db_question_list(d, NULL, 10, NULL, &list), DX_OK);
    CHECK_EQ_INT((int)json_array_size(list), 3);
    static const char *const ids[] = {"old1", "old2", "old3"};
    for (size_t i = 0; i < 3; i++) {
        json_t *q;
        CHECK_EQ_INT(db_question_get(d, ids[i], true, &q), DX_OK);
        CHECK_STR(json_string_value(json_object_get(q, "thread")), ids[i]);
        CHECK_EQ_INT((int)json_integer_value(json_object_get(q, "turn")), 1);
        json_decref(q);
        char thread[DX_HTTP_MAX_ID + 1];
        int turn, last;
        CHECK_EQ_INT(db_question_position(d, ids[i], thread, &turn, &last), DX_OK);
        CHECK(turn == 1 && last == 1);
    }
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "old1", true, &q), DX_OK);
    json_t *m = json_array_get(json_object_get(q, "members"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "text")), "Tokyo.");
    CHECK_EQ_INT((int)json_integer_value(json_object_get(m, "context_turns")), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(q, "result"), "answer")), "Tokyo.");
    json_decref(q);
    /* the question that was running when that drux died is interrupted, still there */
    CHECK_EQ_INT(db_question_get(d, "old3", false, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "interrupted");
    json_decref(q);
    /* and an old question can be followed up */
    char thread[DX_HTTP_MAX_ID + 1];
    int turn = 0;
    CHECK_EQ_INT(db_followup_insert(d, "new1", "What is its population?", NULL, 0,
                                    "2026-02-01T00:00:00Z", "old1", thread, &turn),
                 DX_OK);
    CHECK_STR(thread, "old1");
    CHECK_EQ_INT(turn, 2);
    json_decref(list);
    db_close(d);
}

static void finish_done(db *d, const char *id)
{
    db_finish f = {.id = id, .status = QUESTION_DONE, .finished_at = "2026-02-01T00:00:01Z"};
    CHECK_EQ_INT(db_question_finish(d, &f), DX_OK);
}

/* A thread: follow-ups continue from its last finished turn only; deleting
 * a turn takes its later turns with it and leaves the earlier ones. */
TEST(threads_grow_from_the_last_turn_and_delete_from_a_turn_on)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    char thread[DX_HTTP_MAX_ID + 1];
    int turn = 0;
    CHECK_EQ_INT(db_question_insert(d, "t1", "What is the capital of Japan?", NULL, 0, "x"), DX_OK);
    /* not finished yet: no follow-up */
    CHECK_EQ_INT(db_followup_insert(d, "t2", "Its population?", NULL, 0, "x", "t1", thread, &turn),
                 DX_EARG);
    finish_done(d, "t1");
    CHECK_EQ_INT(db_followup_insert(d, "t2", "Its population?", NULL, 0, "x", "t1", thread, &turn),
                 DX_OK);
    CHECK(!strcmp(thread, "t1") && turn == 2);
    finish_done(d, "t2");
    /* t1 is no longer the last turn */
    CHECK_EQ_INT(db_followup_insert(d, "tx", "Other?", NULL, 0, "x", "t1", thread, &turn), DX_EARG);
    CHECK(strstr(dx_errmsg(), "last turn") != NULL);
    CHECK_EQ_INT(db_followup_insert(d, "t3", "Its area?", NULL, 0, "x", "t2", thread, &turn),
                 DX_OK);
    CHECK_EQ_INT(turn, 3);
    CHECK_EQ_INT(db_followup_insert(d, "ty", "?", NULL, 0, "x", "nope", thread, &turn),
                 DX_ENOTFOUND);
    json_t *t;
    CHECK_EQ_INT(db_thread_get(d, "t1", false, &t), DX_OK);
    CHECK_EQ_INT((int)json_array_size(t), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(t, 2), "id")), "t3");
    json_decref(t);
    CHECK_EQ_INT(db_question_delete(d, "t2"), DX_OK);
    CHECK_EQ_INT(db_thread_get(d, "t1", false, &t), DX_OK);
    CHECK_EQ_INT((int)json_array_size(t), 1);
    json_decref(t);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "t3", false, &q), DX_ENOTFOUND);
    /* the thread goes on from what is left */
    CHECK_EQ_INT(db_followup_insert(d, "t4", "Its flag?", NULL, 0, "x", "t1", thread, &turn),
                 DX_OK);
    CHECK_EQ_INT(turn, 2);
    db_close(d);
}

/* A thread read back as typed turns (what a follow-up continues from), and
 * a turn's place and members as typed source. */
TEST(thread_turns_and_sources_read_back_typed)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    char thread[DX_HTTP_MAX_ID + 1];
    int turn = 0;
    CHECK_EQ_INT(db_question_insert(d, "t1", "capital of japan", NULL, 0, "2026-02-01T00:00:00Z"),
                 DX_OK);
    db_finish f = {.id = "t1",
                   .status = QUESTION_DONE,
                   .finished_at = "2026-02-01T00:00:01Z",
                   .label = "agree",
                   .result = "{\"question\": \"What is the capital of Japan?\", \"answer\": "
                             "\"Tokyo.\"}"};
    CHECK_EQ_INT(db_question_finish(d, &f), DX_OK);
    const char *two[] = {"alpha", "beta"};
    CHECK_EQ_INT(db_followup_insert(d, "t2", "Its population?", two, 2, "2026-02-01T00:00:02Z",
                                    "t1", thread, &turn),
                 DX_OK);
    finish_done(d, "t2"); /* no result: no answer to continue from */
    CHECK_EQ_INT(db_followup_insert(d, "t3", "Its area?", NULL, 0, "2026-02-01T00:00:03Z", "t2",
                                    thread, &turn),
                 DX_OK);
    db_thread th;
    CHECK_EQ_INT(db_thread_turns(d, "t1", &th), DX_OK);
    CHECK_EQ_INT((int)th.n, 3);
    CHECK(!strcmp(th.turns[0].id, "t1") && th.turns[0].turn == 1);
    CHECK_STR(th.turns[0].question, "What is the capital of Japan?"); /* as analysed */
    CHECK_STR(th.turns[0].answer, "Tokyo.");
    CHECK(!strcmp(th.turns[1].id, "t2") && th.turns[1].turn == 2 && !th.turns[1].answer);
    CHECK_STR(th.turns[1].question, "Its population?"); /* as asked */
    CHECK(!strcmp(th.turns[2].id, "t3") && th.turns[2].turn == 3);
    db_thread_free(&th);
    CHECK_EQ_INT(db_thread_turns(d, "t2", &th), DX_ENOTFOUND); /* a turn is not a thread */
    db_thread_free(&th);
    db_source src;
    CHECK_EQ_INT(db_question_source(d, "t2", &src), DX_OK);
    CHECK(!strcmp(src.thread, "t1") && src.turn == 2);
    CHECK_STR(src.created_at, "2026-02-01T00:00:02Z");
    CHECK(src.members.stored && src.members.n == 2);
    CHECK(!strcmp(src.members.names[0], "alpha") && !strcmp(src.members.names[1], "beta"));
    db_source_free(&src);
    CHECK_EQ_INT(db_question_source(d, "t1", &src), DX_OK);
    CHECK(!strcmp(src.thread, "t1") && src.turn == 1 && !src.members.stored);
    db_source_free(&src);
    db_close(d);
}

TEST(question_status_names_round_trip)
{
    for (int i = 0; i < QUESTION_STATUS_COUNT; i++) {
        question_status back = QUESTION_STATUS_COUNT;
        CHECK(question_status_parse(question_status_str((question_status)i), &back));
        CHECK_EQ_INT(back, i);
    }
    CHECK_STR(question_status_str(QUESTION_QUEUED), "queued");
    CHECK_STR(question_status_str(QUESTION_INTERRUPTED), "interrupted");
    question_status st = QUESTION_DONE;
    CHECK(!question_status_parse("cancelled", &st)); /* a member's status, not a question's */
    CHECK(!question_status_parse(NULL, &st));
    CHECK_EQ_INT(st, QUESTION_DONE);
    CHECK(question_status_final(QUESTION_INTERRUPTED) && !question_status_final(QUESTION_QUEUED));
}

TEST(unopenable_path_fails_with_message)
{
    db *d;
    if (pg_url[0]) {
        /* no server there; the password in the URL never reaches the message */
        CHECK_EQ_INT(db_open("postgresql://drux:sekret@/x?host=/nonexistent-dir", &d), DX_EIO);
        CHECK(strstr(dx_errmsg(), "nonexistent-dir") != NULL);
        CHECK(strstr(dx_errmsg(), "sekret") == NULL);
        return;
    }
    CHECK_EQ_INT(db_open("/nonexistent-dir/x/drux.db", &d), DX_EIO);
    CHECK(strstr(dx_errmsg(), "/nonexistent-dir/x/drux.db") != NULL);
}

static void *open_close(void *arg)
{
    (void)arg;
    db *d;
    dx_status st = db_open(path, &d);
    db_close(d);
    return (void *)(long)st;
}

TEST(concurrent_opens_migrate_once)
{
    /* instances starting together on one new database: one migrates, the
     * others wait for it and find the schema current */
    fresh();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, open_close, NULL) == 0);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        bad += (long)rc != DX_OK;
    }
    CHECK_EQ_INT(bad, 0);
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_schema_version(d), DB_SCHEMA_VERSION);
    db_close(d);
}

TEST(long_texts_and_unicode_round_trip)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    const char *q = "Wie weit ist es? ‘Quotes’ 'and' \"more\" ?1 $1 -- not a comment; 東京";
    CHECK_EQ_INT(db_question_insert(d, "u1", q, NULL, 0, "t"), DX_OK);
    static char big[200000];
    memset(big, 'x', sizeof big - 1);
    db_member m = member("alpha", "done", big);
    CHECK_EQ_INT(db_member_save(d, "u1", 0, &m), DX_OK);
    m.text = "second save replaces the first";
    m.text_len = strlen(m.text);
    m.latency_ms = 5000000000LL; /* past 32 bits */
    CHECK_EQ_INT(db_member_save(d, "u1", 0, &m), DX_OK);
    json_t *got;
    CHECK_EQ_INT(db_question_get(d, "u1", true, &got), DX_OK);
    CHECK_STR(json_string_value(json_object_get(got, "question")), q);
    json_t *m0 = json_array_get(json_object_get(got, "members"), 0);
    CHECK_STR(json_string_value(json_object_get(m0, "text")), "second save replaces the first");
    CHECK_EQ_INT(json_integer_value(json_object_get(m0, "latency_ms")), 5000000000LL);
    CHECK_EQ_INT(json_array_size(json_object_get(got, "members")), 1);
    json_decref(got);
    CHECK_EQ_INT(db_question_list(d, "?1 $1", 10, NULL, &got), DX_OK);
    CHECK_EQ_INT(json_array_size(got), 1);
    json_decref(got);
    db_close(d);
}

/* ---- several instances on one store ---- */

typedef struct ev_log {
    int n;
    char names[16][16];
    long long seqs[16];
} ev_log;

static void log_event(void *user, long long seq, const char *name, const char *data, size_t len)
{
    (void)data;
    (void)len;
    ev_log *l = user;
    if (l->n < 16) {
        snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
        l->seqs[l->n++] = seq;
    }
}

TEST(dead_instances_questions_are_interrupted)
{
    if (!pg_url[0])
        return; /* a SQLite file has one process: reopening interrupts (above) */
    fresh();
    db *a, *b;
    CHECK_EQ_INT(db_open(path, &a), DX_OK);
    CHECK_EQ_INT(db_open(path, &b), DX_OK);
    CHECK(strcmp(db_instance(a), db_instance(b)) != 0);
    CHECK_EQ_INT(db_question_insert(a, "qa", "asked on a", NULL, 0, "t"), DX_OK);
    CHECK_EQ_INT(db_question_set_status(a, "qa", QUESTION_RUNNING, NULL), DX_OK);
    CHECK_EQ_INT(db_event_add(a, "qa", 1, "phase", "{\"phase\":\"asking\"}"), DX_OK);
    /* b opening, and b's heartbeat while a is alive, leave a's question alone */
    int reaped = -1;
    CHECK_EQ_INT(db_heartbeat(b, 18, 60000, &reaped), DX_OK);
    CHECK_EQ_INT(reaped, 0);
    json_t *q;
    CHECK_EQ_INT(db_question_get(b, "qa", false, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "running");
    json_decref(q);
    /* a falls silent for longer than the lease: b marks its question
     * interrupted, once, and ends its events */
    usleep(30 * 1000);
    CHECK_EQ_INT(db_heartbeat(b, 18, 20, &reaped), DX_OK);
    CHECK_EQ_INT(reaped, 1);
    CHECK_EQ_INT(db_heartbeat(b, 18, 20, &reaped), DX_OK);
    CHECK_EQ_INT(reaped, 0);
    CHECK_EQ_INT(db_question_get(b, "qa", false, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "interrupted");
    json_decref(q);
    ev_log l = {0};
    CHECK_EQ_INT(db_events_since(b, "qa", 0, log_event, &l), DX_OK);
    CHECK_EQ_INT(l.n, 3);
    CHECK_STR(l.names[0], "phase");
    CHECK_STR(l.names[1], "error");
    CHECK_STR(l.names[2], "end");
    CHECK_EQ_INT(l.seqs[2], 3);
    /* a comes back (a stall, not a crash): its heartbeat registers it again */
    CHECK_EQ_INT(db_heartbeat(a, 18, 60000, &reaped), DX_OK);
    int active, capacity;
    CHECK_EQ_INT(db_load(b, 60000, &active, &capacity), DX_OK);
    CHECK_EQ_INT(active, 0);
    CHECK_EQ_INT(capacity, 36);
    db_close(a);
    CHECK_EQ_INT(db_load(b, 60000, &active, &capacity), DX_OK);
    CHECK_EQ_INT(capacity, 18); /* a stopped cleanly: gone at once */
    db_close(b);
}

static const char *status_of(db *d, const char *id, char out[16])
{
    json_t *q = NULL;
    out[0] = '\0';
    if (!db_question_get(d, id, false, &q))
        snprintf(out, 16, "%s", json_string_value(json_object_get(q, "status")));
    json_decref(q);
    return out;
}

TEST(released_questions_are_claimed_once_oldest_first)
{
    fresh();
    db *a, *b;
    CHECK_EQ_INT(db_open(path, &a), DX_OK);
    CHECK_EQ_INT(db_open(path, &b), DX_OK);
    db_listener *l = NULL;
    if (pg_url[0])
        CHECK_EQ_INT(db_listener_open(b, &l), DX_OK);
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        CHECK_EQ_INT(db_question_insert(a, id, "x", NULL, 0, "t"), DX_OK);
    }
    /* nothing released: nothing to claim */
    char id[DX_HTTP_MAX_ID + 1];
    bool got = true;
    CHECK_EQ_INT(db_question_claim(b, id, &got), DX_OK);
    CHECK(!got);
    /* only the instance that inserted a queued question releases it, once */
    CHECK_EQ_INT(db_question_release(b, "q2"), DX_ENOTFOUND);
    CHECK_EQ_INT(db_question_release(a, "q2"), DX_OK);
    CHECK_EQ_INT(db_question_release(a, "q2"), DX_ENOTFOUND);
    CHECK_EQ_INT(db_question_release(a, "q1"), DX_OK);
    CHECK_EQ_INT(db_question_release(a, "q3"), DX_OK);
    CHECK_EQ_INT(db_question_set_status(a, "q4", QUESTION_RUNNING, NULL), DX_OK);
    CHECK_EQ_INT(db_question_release(a, "q4"), DX_ENOTFOUND); /* running: not queued */
    if (l) {                                                  /* "q ID" wakes the others */
        char kind = 0, nid[40];
        bool heard = false;
        for (int i = 0; i < 50 && !heard; i++)
            CHECK_EQ_INT(db_listener_wait(l, 100, &kind, nid, sizeof nid, &heard), DX_OK);
        CHECK(heard && kind == 'q' && !strcmp(nid, "q2"));
    }
    /* the oldest first, each once, whichever instance asks */
    CHECK_EQ_INT(db_question_claim(b, id, &got), DX_OK);
    CHECK(got && !strcmp(id, "q1"));
    CHECK_EQ_INT(db_question_claim(a, id, &got), DX_OK);
    CHECK(got && !strcmp(id, "q2"));
    /* a claimed question is its claimer's: it may release it again */
    CHECK_EQ_INT(db_question_release(a, "q1"), DX_ENOTFOUND);
    char stat[16];
    CHECK_STR(status_of(a, "q1", stat), "queued");
    if (pg_url[0]) {
        /* a stops answering: its own questions (q2 claimed, q4 running) are
         * interrupted, b's claim (q1) stays, and the released q3 waits */
        usleep(30 * 1000);
        int reaped = -1;
        CHECK_EQ_INT(db_heartbeat(b, 18, 20, &reaped), DX_OK);
        CHECK_EQ_INT(reaped, 2);
        CHECK_STR(status_of(b, "q2", stat), "interrupted");
        CHECK_STR(status_of(b, "q4", stat), "interrupted");
        CHECK_STR(status_of(b, "q1", stat), "queued");
        CHECK_STR(status_of(b, "q3", stat), "queued");
    }
    /* the earlier turns an asker gave travel with a released question */
    const char *turns = "[[\"Capital of Spain?\", \"Madrid.\"]]";
    char *ctx = NULL;
    CHECK_EQ_INT(db_question_context_set(a, "q3", turns), DX_OK);
    CHECK_EQ_INT(db_question_context_set(a, "nosuch", turns), DX_ENOTFOUND);
    CHECK_EQ_INT(db_question_context(b, "q3", &ctx), DX_OK);
    CHECK(ctx && !strcmp(ctx, turns));
    free(ctx);
    CHECK_EQ_INT(db_question_context(b, "q1", &ctx), DX_OK);
    CHECK(!ctx);
    CHECK_EQ_INT(db_question_context(b, "nosuch", &ctx), DX_ENOTFOUND);
    CHECK_EQ_INT(db_question_claim(b, id, &got), DX_OK);
    CHECK(got && !strcmp(id, "q3"));
    CHECK_EQ_INT(db_question_claim(b, id, &got), DX_OK);
    CHECK(!got);
    db_listener_close(l);
    db_close(a);
    db_close(b);
}

TEST(events_notify_listeners)
{
    if (!pg_url[0])
        return; /* notifications are PostgreSQL's */
    fresh();
    db *a, *b;
    CHECK_EQ_INT(db_open(path, &a), DX_OK);
    CHECK_EQ_INT(db_open(path, &b), DX_OK);
    db_listener *l;
    CHECK_EQ_INT(db_listener_open(b, &l), DX_OK);
    CHECK_EQ_INT(db_question_insert(a, "qn", "x", NULL, 0, "t"), DX_OK);
    CHECK_EQ_INT(db_event_add(a, "qn", 1, "member", "{\"index\":0,\"delta\":\"Hi\"}"), DX_OK);
    CHECK_EQ_INT(db_event_add(a, "qn", 2, "end", NULL), DX_OK);
    char kind = 0, id[40];
    bool got = false;
    for (int i = 0; i < 50 && !got; i++)
        CHECK_EQ_INT(db_listener_wait(l, 100, &kind, id, sizeof id, &got), DX_OK);
    CHECK(got);
    CHECK_EQ_INT(kind, 'e');
    CHECK_STR(id, "qn");
    ev_log e = {0};
    CHECK_EQ_INT(db_events_since(b, "qn", 1, log_event, &e), DX_OK);
    CHECK_EQ_INT(e.n, 1);
    CHECK_STR(e.names[0], "end");
    /* a deletion is told too, and the events go with the question */
    CHECK_EQ_INT(db_question_delete(a, "qn"), DX_OK);
    CHECK_EQ_INT(db_notify_deleted(a, "qn"), DX_OK);
    got = false;
    for (int i = 0; i < 50 && !(got && kind == 'd'); i++)
        CHECK_EQ_INT(db_listener_wait(l, 100, &kind, id, sizeof id, &got), DX_OK);
    CHECK_EQ_INT(kind, 'd');
    CHECK_STR(id, "qn");
    e.n = 0;
    CHECK_EQ_INT(db_events_since(b, "qn", 0, log_event, &e), DX_OK);
    CHECK_EQ_INT(e.n, 0);
    db_listener_close(l);
    db_close(a);
    db_close(b);
}

TEST(posted_events_are_stored_in_order)
{
    fresh();
    db *a, *b;
    CHECK_EQ_INT(db_open(path, &a), DX_OK);
    CHECK_EQ_INT(db_open(path, &b), DX_OK);
    db_listener *l = NULL;
    if (pg_url[0])
        CHECK_EQ_INT(db_listener_open(b, &l), DX_OK);
    CHECK_EQ_INT(db_question_insert(a, "qp", "x", NULL, 0, "t"), DX_OK);
    /* more than one statement's worth, and one for a question that is gone */
    char data[64];
    for (int i = 1; i <= 40; i++) {
        snprintf(data, sizeof data, "{\"delta\":\"%d\"}", i);
        CHECK_EQ_INT(db_event_post(a, "qp", i, "member", i == 40 ? NULL : data), DX_OK);
    }
    CHECK_EQ_INT(db_event_post(a, "nosuch", 1, "member", "{}"), DX_OK);
    if (l) { /* the writer's notification arrives */
        char kind = 0, id[40];
        bool got = false;
        for (int i = 0; i < 50 && !got; i++)
            CHECK_EQ_INT(db_listener_wait(l, 100, &kind, id, sizeof id, &got), DX_OK);
        CHECK(got && kind == 'e' && !strcmp(id, "qp"));
    }
    db_close(a); /* closing writes what is still queued */
    ev_log e = {0};
    CHECK_EQ_INT(db_events_since(b, "qp", 24, log_event, &e), DX_OK);
    CHECK_EQ_INT(e.n, 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(e.seqs[i], 25 + i);
    e.n = 0;
    CHECK_EQ_INT(db_events_since(b, "nosuch", 0, log_event, &e), DX_OK);
    CHECK_EQ_INT(e.n, 0);
    db_listener_close(l);
    db_close(b);
}

TEST(rate_limit_is_shared)
{
    fresh();
    db *a, *b;
    CHECK_EQ_INT(db_open(path, &a), DX_OK);
    CHECK_EQ_INT(db_open(path, &b), DX_OK);
    /* 60 a minute with 5 saved up: the sixth request in a row is refused,
     * whichever instance it reaches; another client has its own bucket */
    int ok_count = 0;
    for (int i = 0; i < 6; i++) {
        bool ok = false;
        CHECK_EQ_INT(db_rate_take(i % 2 ? a : b, "203.0.113.7", 60, 5, &ok), DX_OK);
        ok_count += ok;
    }
    CHECK_EQ_INT(ok_count, 5);
    bool ok = false;
    CHECK_EQ_INT(db_rate_take(a, "203.0.113.8", 60, 5, &ok), DX_OK);
    CHECK(ok);
    /* a second later one request has come back (60 a minute) */
    usleep(1100 * 1000);
    CHECK_EQ_INT(db_rate_take(b, "203.0.113.7", 60, 5, &ok), DX_OK);
    CHECK(ok);
    CHECK_EQ_INT(db_rate_take(a, "203.0.113.7", 60, 5, &ok), DX_OK);
    CHECK(!ok);
    db_close(a);
    db_close(b);
}

/* One thread's share of pool_serves_threads_at_once: questions asked,
 * answered (a transaction) and read back while the others do the same. */
typedef struct pool_job {
    db *d;
    int k, bad;
} pool_job;

static void *pool_worker(void *arg)
{
    pool_job *w = arg;
    for (int i = 0; i < 15; i++) {
        char id[32];
        snprintf(id, sizeof id, "w%d-%d", w->k, i);
        db_member m[2] = {member("alpha", "done", "blue"), member("beta", "done", id)};
        db_finish f = {.id = id,
                       .status = QUESTION_DONE,
                       .finished_at = "2026-02-01T00:00:01Z",
                       .members = m,
                       .n_members = 2,
                       .result = "{\"answer\": \"blue\"}",
                       .label = "agree"};
        json_t *q = NULL;
        if (db_question_insert(w->d, id, "Why is the sky blue?", NULL, 0, "t") ||
            db_member_save(w->d, id, 0, &m[0]) || db_question_finish(w->d, &f) ||
            db_question_get(w->d, id, true, &q)) {
            w->bad++;
            continue;
        }
        json_t *ms = json_object_get(q, "members");
        if (strcmp(json_string_value(json_object_get(q, "status")), "done") ||
            json_array_size(ms) != 2 ||
            strcmp(json_string_value(json_object_get(json_array_get(ms, 1), "text")), id))
            w->bad++;
        json_decref(q);
    }
    return NULL;
}

TEST(pool_serves_threads_at_once)
{
    fresh();
    setenv("DRUX_DB_CONNECTIONS", "3", 1);
    db *d;
    dx_status st = db_open(path, &d);
    unsetenv("DRUX_DB_CONNECTIONS");
    CHECK_EQ_INT(st, DX_OK);
    if (pg_url[0]) { /* three connections to the database, as asked */
        sql *c;
        CHECK_EQ_INT(sql_open(path, &c), DX_OK);
        sql_stmt *s;
        bool row = false;
        CHECK_EQ_INT(sql_prep(c, &s,
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND pid <> pg_backend_pid()",
                              ""),
                     DX_OK);
        CHECK_EQ_INT(sql_step(s, &row), DX_OK);
        CHECK(row);
        CHECK_EQ_INT(sql_int(s, 0), 3);
        sql_finalize(s);
        sql_close(c);
    }
    pool_job w[6];
    pthread_t t[6];
    for (int k = 0; k < 6; k++) {
        w[k] = (pool_job){.d = d, .k = k};
        CHECK(pthread_create(&t[k], NULL, pool_worker, &w[k]) == 0);
    }
    for (int k = 0; k < 6; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ_INT(w[k].bad, 0);
    }
    json_t *list = NULL;
    CHECK_EQ_INT(db_question_list(d, NULL, 200, NULL, &list), DX_OK);
    CHECK_EQ_INT(json_array_size(list), 90);
    json_decref(list);
    db_close(d);
}

/* ---- the seam itself ---- */

TEST(seam_placeholders_types_and_errors)
{
    fresh();
    sql *c;
    CHECK_EQ_INT(sql_open(path, &c), DX_OK);
    CHECK_EQ_INT(sql_exec_ddl(c, "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                                 "name TEXT NOT NULL UNIQUE, n INTEGER, b BLOB, r REAL)"),
                 DX_OK);
    sql_stmt *s;
    bool row;
    /* RETURNING gives the new id on both */
    CHECK_EQ_INT(sql_prep(c, &s, "INSERT INTO t(name, n, b, r) VALUES(?, ?, ?, 2.5) RETURNING id",
                          "tib", "a'?", 1LL << 40, "\0\1\2", (size_t)3),
                 DX_OK);
    CHECK_EQ_INT(sql_step(s, &row), DX_OK);
    CHECK(row);
    long long id = sql_int(s, 0);
    CHECK(id > 0);
    sql_finalize(s);
    /* a ? inside quotes is text; ?N may repeat */
    CHECK_EQ_INT(sql_prep(c, &s,
                          "SELECT '?' || name, n, b, r, n > ?1, ?2 FROM t WHERE id = ?1 OR "
                          "name = ?2",
                          "it", id, "zzz"),
                 DX_OK);
    CHECK_EQ_INT(sql_step(s, &row), DX_OK);
    CHECK(row);
    CHECK_STR(sql_text(s, 0), "?a'?");
    CHECK_EQ_INT(sql_int(s, 1), 1LL << 40);
    const unsigned char *b = sql_blob(s, 2);
    CHECK(b && sql_bytes(s, 2) == 3 && b[0] == 0 && b[1] == 1 && b[2] == 2);
    CHECK_NEAR(sql_double(s, 3), 2.5, 1e-9);
    CHECK_EQ_INT(sql_int(s, 4), 1); /* a comparison reads as 1 on both */
    CHECK_STR(sql_text(s, 5), "zzz");
    CHECK_EQ_INT(sql_step(s, &row), DX_OK);
    CHECK(!row);
    sql_finalize(s);
    /* a unique violation is a constraint error, told by kind */
    CHECK_EQ_INT(sql_do(c, NULL, "INSERT INTO t(name) VALUES(?)", "t", "a'?"), DX_EARG);
    CHECK_EQ_INT(sql_error_of(c), SQL_ERR_CONSTRAINT);
    /* a rolled-back transaction leaves nothing; changes are counted */
    CHECK_EQ_INT(sql_begin(c), DX_OK);
    CHECK_EQ_INT(sql_do(c, NULL, "INSERT INTO t(name) VALUES(?)", "t", "b"), DX_OK);
    sql_rollback(c);
    long long changed = -1;
    CHECK_EQ_INT(
        sql_do(c, &changed, "UPDATE t SET n = n + 1 WHERE name IN (?, ?)", "tt", "a'?", "b"),
        DX_OK);
    CHECK_EQ_INT(changed, 1);
    /* upsert, the portable form */
    CHECK_EQ_INT(sql_do(c, NULL,
                        "INSERT INTO t(name, n) VALUES(?, 7) ON CONFLICT(name) DO UPDATE SET "
                        "n = t.n + excluded.n",
                        "t", "a'?"),
                 DX_OK);
    CHECK_EQ_INT(sql_prep(c, &s, "SELECT n FROM t WHERE name = ?", "t", "a'?"), DX_OK);
    CHECK_EQ_INT(sql_step(s, &row), DX_OK);
    CHECK(row);
    CHECK_EQ_INT(sql_int(s, 0), (1LL << 40) + 8);
    sql_finalize(s);
    /* a syntax error is an error of its own kind, never a crash */
    CHECK_EQ_INT(sql_do(c, NULL, "SELEC nonsense", ""), DX_EIO);
    CHECK_EQ_INT(sql_error_of(c), SQL_ERR_OTHER);
    /* one text run again and again, with a value and with NULL (PostgreSQL
     * prepares it once per parameter type), also after a failed transaction */
    for (int k = 0; k < 6; k++) {
        if (k == 3) {
            CHECK_EQ_INT(sql_begin(c), DX_OK);
            CHECK_EQ_INT(sql_do(c, NULL, "INSERT INTO t(name) VALUES(?)", "t", "a'?"), DX_EARG);
            sql_rollback(c);
        }
        const char *text = "SELECT CAST(?1 AS TEXT) IS NULL, ?2 + 1";
        CHECK_EQ_INT(k % 2 ? sql_prep(c, &s, text, "ni", (long long)k)
                           : sql_prep(c, &s, text, "ti", "x", (long long)k),
                     DX_OK);
        CHECK_EQ_INT(sql_step(s, &row), DX_OK);
        CHECK(row);
        CHECK_EQ_INT(sql_int(s, 0), k % 2);
        CHECK_EQ_INT(sql_int(s, 1), k + 1);
        sql_finalize(s);
    }
    if (pg_url[0]) { /* those two, kept by the server for this connection (and this query) */
        CHECK_EQ_INT(sql_prep(c, &s,
                              "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE "
                              "'SELECT CAST($1 AS TEXT) IS NULL%'",
                              ""),
                     DX_OK);
        CHECK_EQ_INT(sql_step(s, &row), DX_OK);
        CHECK(row);
        CHECK_EQ_INT(sql_int(s, 0), 2);
        sql_finalize(s);
    }
    sql_close(c);
}

TEST(seam_redacts_passwords)
{
    char out[256];
    sql_target_redact("postgres://ada:s3cr%40t@db.example:5432/drux?sslmode=require", out,
                      sizeof out);
    CHECK_STR(out, "postgres://ada:***@db.example:5432/drux?sslmode=require");
    sql_target_redact("postgresql:///drux?host=/run/pg&password=hunter2&user=x", out, sizeof out);
    CHECK_STR(out, "postgresql:///drux?host=/run/pg&password=***&user=x");
    sql_target_redact("host=db dbname=drux password = 'it''s \\' x' user=ada", out, sizeof out);
    CHECK(!strstr(out, "it") && strstr(out, "user=ada") && strstr(out, "password=***"));
    sql_target_redact("postgres://ada@db/drux", out, sizeof out);
    CHECK_STR(out, "postgres://ada@db/drux");
    sql_target_redact("/home/ada/drux.db", out, sizeof out);
    CHECK_STR(out, "/home/ada/drux.db");
    sql_target_redact("postgres://ada:pw@db/drux", out, 12); /* cut, still terminated */
    CHECK_EQ_INT(strlen(out), 11);
    CHECK(sql_target_is_postgres("postgres://x") && sql_target_is_postgres("postgresql://x") &&
          sql_target_is_postgres("host=/run/pg dbname=drux") &&
          !sql_target_is_postgres("/tmp/drux.db") && !sql_target_is_postgres("drux=1.db") &&
          !sql_target_is_postgres("/tmp/host=1.db") && sql_target_is_postgres("dbname=drux"));
}

static void run_all(void)
{
    RUN(new_store_has_current_schema);
    RUN(newer_schema_is_refused);
    RUN(question_lifecycle);
    RUN(unfinished_questions_are_interrupted_on_reopen);
    RUN(finish_is_all_or_nothing);
    RUN(list_search_and_pages);
    RUN(unopenable_path_fails_with_message);
    RUN(concurrent_opens_migrate_once);
    RUN(long_texts_and_unicode_round_trip);
    RUN(seam_placeholders_types_and_errors);
    RUN(dead_instances_questions_are_interrupted);
    RUN(events_notify_listeners);
    RUN(released_questions_are_claimed_once_oldest_first);
    RUN(posted_events_are_stored_in_order);
    RUN(rate_limit_is_shared);
    RUN(pool_serves_threads_at_once);
    RUN(threads_grow_from_the_last_turn_and_delete_from_a_turn_on);
    RUN(thread_turns_and_sources_read_back_typed);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("# backend: sqlite\n");
    run_all();
    RUN(old_store_keeps_every_question_as_a_thread_of_one); /* a SQLite file of schema 1 */
    RUN(question_status_names_round_trip);
    RUN(seam_redacts_passwords);
    char why[256];
    if (test_pg_start(pg_url, sizeof pg_url, why, sizeof why)) {
        printf("# backend: postgresql (%s)\n", pg_url);
        run_all();
        test_pg_stop();
    } else {
        printf("skip postgresql: %s\n", why);
        test_skipped++;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    return test_summary();
}
