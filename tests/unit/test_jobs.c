/* The question runtime without HTTP: admission, the busy code, deletes of
 * waiting questions, waiting for an end, reruns. The council is one remote
 * member at a closed local port, so every question ends quickly (its member
 * fails to connect) without a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/jobs.h"
#include "test.h"

static char dir[] = "/tmp/drux-test-jobs-XXXXXX";

static council_config *council(void)
{
    static const char ini[] = "[member.closed]\n"
                              "type = remote\n"
                              "base_url = http://127.0.0.1:9/v1\n"
                              "model = m\n"
                              "timeout_s = 5\n"
                              "max_attempts = 1\n";
    council_config *c = NULL;
    if (council_config_parse(ini, sizeof ini - 1, "test.ini", &c))
        fprintf(stderr, "config: %s\n", dx_errmsg());
    return c;
}

static jobs *open_jobs(const council_config *c, const char *name, int max_running)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    jobs_opts o = {.cfg = c, .db_path = path, .max_running = max_running};
    jobs *j = NULL;
    if (jobs_open(&o, &j))
        fprintf(stderr, "jobs_open: %s\n", dx_errmsg());
    return j;
}

static const char *status_of(json_t *q)
{
    return json_string_value(json_object_get(q, "status"));
}

TEST(question_runs_to_its_end)
{
    council_config *c = council();
    jobs *j = open_jobs(c, "a.db", 1);
    char id[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_start(j, "Why is the sky blue?", NULL, 0, id), DX_OK);
    json_t *q = NULL;
    CHECK_EQ_INT(jobs_question_wait(j, id, &q), DX_OK);
    /* the member was refused; the question still ends, stored, with an analysis */
    CHECK_STR(status_of(q), "done");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(q, "members"), 0), "status")),
              "failed");
    json_decref(q);
    char again[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_rerun(j, id, again), DX_OK);
    CHECK(strcmp(again, id) != 0);
    CHECK_EQ_INT(jobs_question_wait(j, again, &q), DX_OK);
    CHECK_STR(json_string_value(json_object_get(q, "question")), "Why is the sky blue?");
    json_decref(q);
    CHECK_EQ_INT(jobs_question_rerun(j, "nosuchid", again), DX_ENOTFOUND);
    jobs_close(j);
    council_config_free(c);
}

TEST(bad_questions_are_refused_by_code)
{
    council_config *c = council();
    jobs *j = open_jobs(c, "b.db", 1);
    char id[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_start(j, " \n\t", NULL, 0, id), DX_EARG);
    const char *nobody[] = {"nobody"};
    CHECK_EQ_INT(jobs_question_start(j, "x?", nobody, 1, id), DX_EARG);
    char *big = malloc(DX_MAX_QUESTION_BYTES + 2);
    memset(big, 'a', DX_MAX_QUESTION_BYTES + 1);
    big[DX_MAX_QUESTION_BYTES + 1] = '\0';
    CHECK_EQ_INT(jobs_question_start(j, big, NULL, 0, id), DX_ELIMIT);
    free(big);
    json_t *q;
    CHECK_EQ_INT(jobs_question_json(j, "nosuchid", false, &q), DX_ENOTFOUND);
    CHECK_EQ_INT(jobs_question_delete(j, "nosuchid"), DX_ENOTFOUND);
    jobs_close(j);
    council_config_free(c);
}

TEST(full_queue_is_busy_and_deleted_waiters_leave_the_counts_at_once)
{
    council_config *c = council();
    jobs *j = open_jobs(c, "c.db", 1);
    /* a completion holds the only slot: every question waits */
    CHECK_EQ_INT(jobs_slot_enter(j), DX_OK);
    char ids[DX_HTTP_MAX_QUEUED][DX_HTTP_MAX_ID + 1];
    for (unsigned i = 0; i < DX_HTTP_MAX_QUEUED; i++)
        CHECK_EQ_INT(jobs_question_start(j, "Wait?", NULL, 0, ids[i]), DX_OK);
    char extra[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_start(j, "One more?", NULL, 0, extra), DX_EBUSY);
    CHECK_EQ_INT(jobs_slot_enter(j), DX_EBUSY);
    jobs_counts n;
    jobs_health(j, &n);
    CHECK_EQ_INT(n.running, 1);
    CHECK_EQ_INT(n.queued, (int)DX_HTTP_MAX_QUEUED);
    json_t *q;
    CHECK_EQ_INT(jobs_question_json(j, ids[0], false, &q), DX_OK);
    CHECK_STR(status_of(q), "queued");
    json_decref(q);
    /* deleting a waiting question: gone from the counts when the call returns */
    CHECK_EQ_INT(jobs_question_delete(j, ids[0]), DX_OK);
    jobs_health(j, &n);
    CHECK_EQ_INT(n.queued, (int)DX_HTTP_MAX_QUEUED - 1);
    CHECK_EQ_INT(jobs_question_json(j, ids[0], false, &q), DX_ENOTFOUND);
    /* and its place is free again */
    CHECK_EQ_INT(jobs_question_start(j, "One more?", NULL, 0, extra), DX_OK);
    jobs_slot_leave(j);
    CHECK_EQ_INT(jobs_question_wait(j, extra, &q), DX_OK);
    CHECK_STR(status_of(q), "done");
    json_decref(q);
    jobs_close(j);
    council_config_free(c);
}

TEST(stopping_interrupts_waiting_questions)
{
    council_config *c = council();
    char path[128];
    snprintf(path, sizeof path, "%s/d.db", dir);
    jobs *j = open_jobs(c, "d.db", 1);
    CHECK_EQ_INT(jobs_slot_enter(j), DX_OK);
    char id[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_start(j, "Wait?", NULL, 0, id), DX_OK);
    jobs_stop(j);
    char id2[DX_HTTP_MAX_ID + 1];
    CHECK_EQ_INT(jobs_question_start(j, "After?", NULL, 0, id2), DX_ECANCELLED);
    jobs_slot_leave(j);
    jobs_close(j);
    db *d;
    CHECK_EQ_INT(db_open(path, &d), DX_OK);
    json_t *q;
    CHECK_EQ_INT(db_question_get(d, id, false, &q), DX_OK);
    CHECK_STR(status_of(q), "interrupted");
    json_decref(q);
    db_close(d);
    council_config_free(c);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(question_runs_to_its_end);
    RUN(bad_questions_are_refused_by_code);
    RUN(full_queue_is_busy_and_deleted_waiters_leave_the_counts_at_once);
    RUN(stopping_interrupts_waiting_questions);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    return test_summary();
}
