/*
 * Generations of one model decoding together (gen/batch.h): several threads
 * generating at once on stories260K must each get exactly the text they get
 * alone, whether they stop early, get cancelled, fill their context or run
 * with many others; and the steps must really be shared.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "gen/batch.h"
#include "gen/gen.h"
#include "test.h"
#include "test_models.h"

static const char *const prompts[] = {"Once upon a time", "The little dog", "Lily and Tom",
                                      "One day, a big"};
enum { NP = sizeof prompts / sizeof prompts[0] };

typedef struct {
    gen_model *gm;
    pthread_barrier_t *start; /* NULL: no barrier */
    pthread_barrier_t *first; /* if set, waited on at the first piece: all are decoding then */
    const char *prompt;
    int max_tokens, n_ctx;
    int cancel_after; /* > 0: stop after this many pieces */
    bool solo;
    /* results */
    collect c;
    int pieces;
    gen_stats st;
    dx_status rc;
    char err[256];
} job;

static int job_piece(void *ud, const char *p, size_t n)
{
    job *j = ud;
    if (j->first && j->c.len == 0)
        pthread_barrier_wait(j->first);
    if (collect_piece(&j->c, p, n))
        return 1;
    return j->cancel_after > 0 && ++j->pieces >= j->cancel_after;
}

static void *job_run(void *arg)
{
    job *j = arg;
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = j->max_tokens;
    p.n_ctx = j->n_ctx ? j->n_ctx : 256;
    p.solo = j->solo;
    j->c.len = 0;
    j->c.text[0] = '\0';
    j->pieces = 0;
    if (j->start)
        pthread_barrier_wait(j->start);
    j->rc = gen_generate(j->gm, &p, j->prompt, job_piece, j, &j->st);
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", dx_errmsg());
    return NULL;
}

/* Runs the jobs on n threads at once (started together). */
static void run_together(job *jobs, int n)
{
    pthread_t th[64];
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        jobs[i].start = &b;
        pthread_create(&th[i], NULL, job_run, &jobs[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&b);
    for (int i = 0; i < n; i++)
        jobs[i].start = NULL;
}

static gen_model *open_stories(void)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        return NULL;
    gen_model *gm = NULL;
    if (gen_model_open(path, &gm))
        return NULL;
    return gm;
}

/* The same job run alone, for comparison. */
static job alone(const job *j)
{
    job a = *j;
    a.start = NULL;
    a.solo = true;
    job_run(&a);
    return a;
}

static int total_batched(const job *jobs, int n)
{
    int t = 0;
    for (int i = 0; i < n; i++)
        t += jobs[i].st.batched_tokens;
    return t;
}

TEST(concurrent_greedy_generations_equal_each_alone)
{
    gen_model *gm = open_stories();
    if (!gm)
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    job jobs[NP];
    /* all four meet at their first piece, so their decoding overlaps however
     * the threads are scheduled */
    pthread_barrier_t first;
    pthread_barrier_init(&first, NULL, NP);
    for (int i = 0; i < NP; i++)
        jobs[i] = (job){.gm = gm, .prompt = prompts[i], .max_tokens = 48, .first = &first};
    run_together(jobs, NP);
    pthread_barrier_destroy(&first);
    for (int i = 0; i < NP; i++) {
        jobs[i].first = NULL;
        job a = alone(&jobs[i]);
        CHECK_MSG(jobs[i].rc == DX_OK, "%s", jobs[i].err);
        CHECK(a.rc == DX_OK);
        CHECK_EQ_INT(a.st.batched_tokens, 0);
        CHECK_MSG(!strcmp(jobs[i].c.text, a.c.text), "'%s' together, '%s' alone", jobs[i].c.text,
                  a.c.text);
        CHECK_EQ_INT(jobs[i].st.gen_tokens, a.st.gen_tokens);
        CHECK_STR(jobs[i].st.stop, a.st.stop);
        CHECK(jobs[i].st.gen_tokens > 10);
    }
    /* the steps were shared, and the model's counters say so */
    CHECK(total_batched(jobs, NP) > 0);
    batch_stats bs = gen_model_batch_stats(gm);
    CHECK(bs.shared_steps > 0);
    CHECK(bs.max_batch >= 2 && bs.max_batch <= NP);
    CHECK(bs.shared_tokens >= (uint64_t)total_batched(jobs, NP));
    gen_model_close(gm);
}

TEST(a_cancelled_generation_leaves_the_others_running)
{
    gen_model *gm = open_stories();
    if (!gm)
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    job jobs[3];
    for (int i = 0; i < 3; i++)
        jobs[i] = (job){.gm = gm, .prompt = prompts[i], .max_tokens = 40};
    jobs[1].cancel_after = 4;
    run_together(jobs, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(jobs[i].rc == DX_OK, "%s", jobs[i].err);
        job a = alone(&jobs[i]);
        CHECK_MSG(!strcmp(jobs[i].c.text, a.c.text), "'%s' together, '%s' alone", jobs[i].c.text,
                  a.c.text);
    }
    CHECK_STR(jobs[1].st.stop, "cancelled");
    CHECK_EQ_INT(jobs[1].pieces, 4);
    CHECK_STR(jobs[0].st.stop, "length");
    CHECK_EQ_INT(jobs[0].st.gen_tokens, 40);
    gen_model_close(gm);
}

TEST(different_lengths_and_a_full_context_finish_as_alone)
{
    gen_model *gm = open_stories();
    if (!gm)
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    /* one stops after 3 tokens, one after 60, one fills a 20-token context
     * (and has the smallest context in the batch), one has no limit but a
     * 64-token context, one has a prompt of several chunks, fed while the
     * others decode */
    char long_prompt[2048] = "";
    for (int i = 0; i < 24; i++)
        strcat(long_prompt, i % 2 ? "The dog ran to the park. " : "Lily saw a big red ball. ");
    job jobs[5] = {
        {.gm = gm, .prompt = prompts[0], .max_tokens = 3},
        {.gm = gm, .prompt = prompts[1], .max_tokens = 60},
        {.gm = gm, .prompt = prompts[2], .max_tokens = 0, .n_ctx = 20},
        {.gm = gm, .prompt = prompts[3], .max_tokens = 0, .n_ctx = 64},
        {.gm = gm, .prompt = long_prompt, .max_tokens = 20, .n_ctx = 512},
    };
    run_together(jobs, 5);
    CHECK(jobs[4].st.prompt_tokens > 3 * 64);
    for (int i = 0; i < 5; i++) {
        CHECK_MSG(jobs[i].rc == DX_OK, "%s", jobs[i].err);
        job a = alone(&jobs[i]);
        CHECK_MSG(!strcmp(jobs[i].c.text, a.c.text), "job %d: '%s' together, '%s' alone", i,
                  jobs[i].c.text, a.c.text);
        CHECK_STR(jobs[i].st.stop, a.st.stop);
        CHECK_EQ_INT(jobs[i].st.gen_tokens, a.st.gen_tokens);
    }
    CHECK_EQ_INT(jobs[0].st.gen_tokens, 3);
    CHECK_STR(jobs[2].st.stop, "context");
    /* the last sampled token is counted but never needs the cache */
    CHECK_EQ_INT(jobs[2].st.prompt_tokens + jobs[2].st.gen_tokens, 20 + 1);
    gen_model_close(gm);
}

/* Many threads, each running several generations of random lengths, some
 * cancelled: all must finish, and each text is a prefix of its prompt's
 * full text alone. */
enum { STRESS_THREADS = 12, STRESS_ROUNDS = 3 };

typedef struct {
    gen_model *gm;
    pthread_barrier_t *start;
    const collect *full; /* (NP) texts alone, 48 tokens */
    unsigned seed;
    int bad; /* generations that were not a prefix of the full text */
    int errors;
} stress_arg;

static void *stress_run(void *arg)
{
    stress_arg *sa = arg;
    pthread_barrier_wait(sa->start);
    for (int r = 0; r < STRESS_ROUNDS; r++) {
        sa->seed = sa->seed * 1103515245u + 12345u;
        const int k = (int)(sa->seed >> 16) % NP;
        job j = {.gm = sa->gm,
                 .prompt = prompts[k],
                 .max_tokens = 1 + (int)(sa->seed >> 8) % 48,
                 .cancel_after = (sa->seed >> 4) % 3 == 0 ? 1 + (int)(sa->seed >> 20) % 6 : 0};
        job_run(&j);
        if (j.rc)
            sa->errors++;
        else if (strncmp(j.c.text, sa->full[k].text, j.c.len))
            sa->bad++;
    }
    return NULL;
}

TEST(many_threads_with_random_lengths_all_finish)
{
    gen_model *gm = open_stories();
    if (!gm)
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    collect full[NP];
    for (int k = 0; k < NP; k++) {
        job a = alone(&(job){.gm = gm, .prompt = prompts[k], .max_tokens = 48});
        CHECK(a.rc == DX_OK);
        full[k] = a.c;
    }
    pthread_t th[STRESS_THREADS];
    stress_arg sa[STRESS_THREADS];
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, STRESS_THREADS);
    for (int i = 0; i < STRESS_THREADS; i++) {
        sa[i] = (stress_arg){.gm = gm, .start = &b, .full = full, .seed = 7u + 31u * (unsigned)i};
        pthread_create(&th[i], NULL, stress_run, &sa[i]);
    }
    int bad = 0, errors = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += sa[i].bad;
        errors += sa[i].errors;
    }
    pthread_barrier_destroy(&b);
    CHECK_EQ_INT(errors, 0);
    CHECK_EQ_INT(bad, 0);
    CHECK(gen_model_batch_stats(gm).shared_steps > 0);
    gen_model_close(gm);
}

/* The engine's side: a batched step's logits are bit for bit a solo
 * decode's, for the quantized formats whose many-token kernels round
 * differently too (the random-weight models test_ref writes). */
static void check_bitwise(const char *path)
{
    eng_model *m;
    CHECK_MSG(eng_model_open(path, &m) == DX_OK, "%s", dx_errmsg());
    const int nv = eng_model_hparams(m)->n_vocab;
    enum { NS = 6 };
    eng_session *bat[NS], *sep[NS];
    int32_t ids[NS + 8];
    for (int i = 0; i < NS + 8; i++)
        ids[i] = (int32_t)((3 + i * 37) % nv);
    for (int i = 0; i < NS; i++) {
        CHECK(eng_session_new(m, &(eng_options){.n_ctx = 32}, &bat[i]) == DX_OK);
        CHECK(eng_session_new(m, &(eng_options){.n_ctx = 32}, &sep[i]) == DX_OK);
        CHECK(eng_session_decode(bat[i], ids, 1 + i, NULL) == DX_OK);
        CHECK(eng_session_decode(sep[i], ids, 1 + i, NULL) == DX_OK);
    }
    /* 2 and 3 sessions take the one-token kernels, 6 the tiles where exact */
    const int sizes[] = {2, 3, NS, 2};
    for (int step = 0; step < 4; step++) {
        const int nn = sizes[step];
        CHECK(eng_batch_decode(bat, ids + step, nn) == DX_OK);
        for (int i = 0; i < nn; i++) {
            const float *ls;
            CHECK(eng_session_decode(sep[i], &ids[step + i], 1, &ls) == DX_OK);
            CHECK_MSG(!memcmp(ls, eng_session_logits(bat[i]), (size_t)nv * sizeof(float)),
                      "%s: session %d's logits differ from its solo decode at step %d", path, i,
                      step);
        }
    }
    for (int i = 0; i < NS; i++) {
        eng_session_free(bat[i]);
        eng_session_free(sep[i]);
    }
    eng_model_close(m);
}

TEST(batched_logits_are_bitwise_solo_logits)
{
    /* random-weight models in the formats whose tiles round differently
     * from their one-token kernels; written here when missing */
    static const char *const specs[][2] = {{"llama-tiny", "Q4_0"},
                                           {"llama-tiny", "Q4_K"},
                                           {"llama-tiny", "Q6_K"},
                                           {"qwen2-tiny", "Q8_0"},
                                           {"gemma3-tiny", "Q5_0"}};
    int tested = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char path[256];
        if (!test_make_model(path, sizeof path, specs[i][0], specs[i][1], 1, 0))
            continue;
        check_bitwise(path);
        if (test_cur_failed)
            return;
        tested++;
    }
    if (!tested)
        SKIP("tools/make_model.py could not write the models (python3 with gguf and numpy needed)");
}

TEST(a_batch_refuses_a_session_past_the_first_ones_context)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK(eng_model_open(path, &m) == DX_OK);
    eng_session *small, *big;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 8}, &small) == DX_OK);
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 64}, &big) == DX_OK);
    int32_t ids[12] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
    CHECK(eng_session_decode(small, ids, 2, NULL) == DX_OK);
    CHECK(eng_session_decode(big, ids, 12, NULL) == DX_OK);
    int32_t next[2] = {1, 1};
    CHECK(eng_batch_decode((eng_session *[]){small, big}, next, 2) == DX_EARG);
    CHECK(strstr(dx_errmsg(), "largest context first") != NULL);
    CHECK_EQ_INT(eng_session_pos(big), 12);
    CHECK(eng_batch_decode((eng_session *[]){big, small}, next, 2) == DX_OK);
    CHECK_EQ_INT(eng_session_pos(big), 13);
    CHECK_EQ_INT(eng_session_pos(small), 3);
    eng_session_free(small);
    eng_session_free(big);
    eng_model_close(m);
}

/* The batcher alone: one joined session never waits for partners, and a
 * session that leaves does not hold up a leader. */
TEST(a_lone_session_does_not_wait)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK(eng_model_open(path, &m) == DX_OK);
    eng_session *s;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 300}, &s) == DX_OK);
    batcher *b = batcher_new();
    CHECK(b);
    batch_join(b);
    batch_join(b);  /* a second session that joined and then ... */
    batch_leave(b); /* ... left without submitting */
    int32_t tok = 1;
    const float *logits;
    for (int i = 0; i < 200; i++) {
        bool shared = true;
        CHECK(batch_decode(b, s, tok, &logits, &shared) == DX_OK);
        CHECK(!shared);
        tok = argmax(logits, eng_model_hparams(m)->n_vocab);
    }
    batch_leave(b);
    batch_stats bs = batcher_stats(b);
    CHECK_EQ_INT(bs.waited_out, 0); /* never waited for a partner */
    CHECK_EQ_INT(bs.steps, 200);
    CHECK_EQ_INT(bs.shared_steps, 0);
    CHECK_EQ_INT(bs.max_batch, 1);
    /* an error is the session's own, with its own message: a full context */
    eng_session *full;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 2}, &full) == DX_OK);
    CHECK(eng_session_decode(full, (int32_t[]){1, 403}, 2, NULL) == DX_OK);
    batch_join(b);
    dx_fail(DX_OK, "%s", "");
    CHECK(batch_decode(b, full, 1, &logits, NULL) == DX_ELIMIT);
    CHECK(strstr(dx_errmsg(), "context") != NULL);
    batch_leave(b);
    CHECK_EQ_INT(batcher_stats(b).steps, 200);
    eng_session_free(full);
    batcher_free(b);
    eng_session_free(s);
    eng_model_close(m);
}

int main(void)
{
    RUN(concurrent_greedy_generations_equal_each_alone);
    RUN(a_cancelled_generation_leaves_the_others_running);
    RUN(different_lengths_and_a_full_context_finish_as_alone);
    RUN(many_threads_with_random_lengths_all_finish);
    RUN(batched_logits_are_bitwise_solo_logits);
    RUN(a_batch_refuses_a_session_past_the_first_ones_context);
    RUN(a_lone_session_does_not_wait);
    return test_summary();
}
