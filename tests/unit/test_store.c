/* The store: schema and migrations, a question's life, interruption on
 * reopen, search and paging, and the all-or-nothing finish. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/db.h"
#include "test.h"

static char dir[] = "/tmp/drux-store-XXXXXX";
static char path[256];

static void fresh(void)
{
    static int n;
    snprintf(path, sizeof path, "%s/t%d.db", dir, n++);
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
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(h);
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
    char *text;
    json_t *back;
    CHECK_EQ_INT(db_question_source(d, "q1", &text, &back), DX_OK);
    CHECK_STR(text, "How long is a 5K run?");
    CHECK(json_equal(back, sel));
    free(text);
    json_decref(back);
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
    json_t *l;
    CHECK_EQ_INT(db_question_list(d, NULL, 2, NULL, &l), DX_OK);
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "id")), "k5");
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
    CHECK_EQ_INT(db_open("/nonexistent-dir/x/drux.db", &d), DX_EIO);
    CHECK(strstr(dx_errmsg(), "/nonexistent-dir/x/drux.db") != NULL);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(new_store_has_current_schema);
    RUN(newer_schema_is_refused);
    RUN(question_lifecycle);
    RUN(unfinished_questions_are_interrupted_on_reopen);
    RUN(finish_is_all_or_nothing);
    RUN(list_search_and_pages);
    RUN(old_store_keeps_every_question_as_a_thread_of_one);
    RUN(threads_grow_from_the_last_turn_and_delete_from_a_turn_on);
    RUN(question_status_names_round_trip);
    RUN(unopenable_path_fails_with_message);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    return test_summary();
}
