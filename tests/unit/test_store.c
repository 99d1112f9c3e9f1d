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

static json_t *member(const char *name, const char *status, const char *text)
{
    return json_pack("{s:s, s:s, s:s, s:n, s:i, s:i, s:i, s:s}", "name", name, "model", "m.gguf",
                     "status", status, "error", "latency_ms", 120, "tokens", 7, "ttft_ms", 30,
                     "text", text);
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
    json_t *sel = json_pack("[s]", "alpha");
    CHECK_EQ_INT(db_question_insert(d, "q1", "How long is a 5K run?", sel, "2026-11-25T02:00:00Z"),
                 DX_OK);
    json_t *m = member("alpha", "running", "A 5K");
    CHECK_EQ_INT(db_member_save(d, "q1", 0, m), DX_OK);
    json_decref(m);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, "q1", true, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "status")), "queued");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(q, "members"), 0), "text")),
              "A 5K");
    CHECK(json_is_null(json_object_get(q, "result")));
    json_decref(q);

    json_t *members = json_array();
    json_array_append_new(members, member("alpha", "done", "A 5K run is 5 km."));
    json_t *result = json_pack("{s:s, s:{s:s, s:i}}", "question", "How long is a 5K run?",
                               "analysis", "label", "single_voice", "consensus", 0);
    db_finish f = {.id = "q1",
                   .status = "done",
                   .finished_at = "2026-11-25T02:00:09Z",
                   .members = members,
                   .result = result,
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
    json_decref(members);
    json_decref(result);
    json_decref(sel);
    db_close(d);
}

TEST(unfinished_questions_are_interrupted_on_reopen)
{
    fresh();
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    CHECK_EQ_INT(db_question_insert(d, "a", "first", NULL, "2026-11-25T02:00:00Z"), DX_OK);
    CHECK_EQ_INT(db_question_insert(d, "b", "second", NULL, "2026-11-25T02:00:01Z"), DX_OK);
    CHECK_EQ_INT(db_question_set_status(d, "b", "running", NULL), DX_OK);
    json_t *members = json_array();
    db_finish f = {
        .id = "a", .status = "failed", .error = "boom", .finished_at = "x", .members = members};
    CHECK_EQ_INT(db_question_finish(d, &f), DX_OK);
    json_decref(members);
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
    CHECK_EQ_INT(db_question_insert(d, "q", "x", NULL, "t"), DX_OK);
    json_t *members = json_array();
    json_array_append_new(members, member("ok", "done", "fine"));
    json_array_append_new(members, json_pack("{s:n}", "name"));
    json_t *result = json_pack("{s:{s:s}}", "analysis", "label", "consensus");
    db_finish f = {
        .id = "q", .status = "done", .finished_at = "t2", .members = members, .result = result};
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
    json_decref(members);
    json_decref(result);
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
        CHECK_EQ_INT(db_question_insert(d, ids[i], texts[i], NULL, "t"), DX_OK);
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
    RUN(unopenable_path_fails_with_message);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    return test_summary();
}
