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
    RUN(question_status_names_round_trip);
    RUN(unopenable_path_fails_with_message);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    return test_summary();
}
