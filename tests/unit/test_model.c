/*
 * The engine against real models: greedy continuations pinned to what
 * llama.cpp produces, and the answers a user would check by eye.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/sampler.h"
#include "gen/gen.h"
#include "test.h"
#include "test_models.h"

/* llama.cpp (llama-cpp-python 0.3.36), greedy, "Once upon a time" with BOS. */
static const int32_t stories_prompt[] = {1, 403, 407, 261, 378};
static const int32_t stories_greedy[] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                         426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
                                         411, 322, 265, 282, 295, 433, 426, 385, 328, 432,
                                         358, 394, 261, 370, 432, 352, 266, 268, 388, 426};

TEST(stories_greedy_token_ids_match_llama_cpp)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK_MSG(eng_model_open(path, &m) == DX_OK, "%s", dx_errmsg());
    eng_session *s;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 256}, &s) == DX_OK);
    const float *logits;
    CHECK(eng_session_decode(s, stories_prompt, 5, &logits) == DX_OK);
    const int n = (int)(sizeof stories_greedy / sizeof stories_greedy[0]);
    for (int i = 0; i < n; i++) {
        int32_t id = argmax(logits, eng_model_hparams(m)->n_vocab);
        CHECK_MSG(id == stories_greedy[i], "token %d: got %d, llama.cpp %d", i, id,
                  stories_greedy[i]);
        CHECK(eng_session_decode(s, &id, 1, &logits) == DX_OK);
    }
    eng_session_free(s);
    eng_model_close(m);
}

TEST(batched_prefill_equals_token_by_token)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK(eng_model_open(path, &m) == DX_OK);
    eng_session *a, *b;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 128, .n_batch = 16}, &a) == DX_OK);
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 128, .n_batch = 1}, &b) == DX_OK);
    int32_t ids[45];
    memcpy(ids, stories_prompt, sizeof stories_prompt);
    memcpy(ids + 5, stories_greedy, sizeof stories_greedy);
    const float *la, *lb;
    CHECK(eng_session_decode(a, ids, 45, &la) == DX_OK);
    CHECK(eng_session_decode(b, ids, 45, &lb) == DX_OK);
    for (int i = 0; i < eng_model_hparams(m)->n_vocab; i++)
        CHECK_NEAR(la[i], lb[i], 1e-3);
    eng_session_free(a);
    eng_session_free(b);
    eng_model_close(m);
}

/* The blocked prompt attention (whole GQA groups, blocks of tokens, online
 * softmax) against one token at a time (the per-row path), on the random
 * Gemma 3 of tests/data/ref: two K/V heads of two query heads each, head
 * size 128, sliding windows of 8 on five layers of six, and a prompt of 40
 * tokens that slides well past them. */
TEST(blocked_prompt_attention_equals_token_by_token_with_windows)
{
    char path[256];
    if (!test_make_model(path, sizeof path, "gemma3-tiny", "F32", 1, 0))
        SKIP("tools/make_model.py could not write a gemma3-tiny F32 model (python3 with gguf and "
             "numpy needed)");
    eng_model *m;
    CHECK_MSG(eng_model_open(path, &m) == DX_OK, "%s", dx_errmsg());
    const eng_hparams *hp = eng_model_hparams(m);
    CHECK(hp->n_swa > 0 && hp->n_swa < 40 && hp->n_head_kv > 1 && hp->n_head > hp->n_head_kv);
    eng_session *a, *b;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 40}, &a) == DX_OK);
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 1}, &b) == DX_OK);
    int32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = 3 + (i * 37) % (hp->n_vocab - 3);
    const float *la, *lb;
    CHECK(eng_session_decode(a, ids, 40, &la) == DX_OK);
    CHECK(eng_session_decode(b, ids, 40, &lb) == DX_OK);
    double worst = 0;
    for (int i = 0; i < hp->n_vocab; i++)
        if (fabs(la[i] - lb[i]) > worst)
            worst = fabs(la[i] - lb[i]);
    CHECK_MSG(worst <= 1e-3, "batched and one-by-one logits differ by %g", worst);
    CHECK_EQ_INT(argmax(la, hp->n_vocab), argmax(lb, hp->n_vocab));
    eng_session_free(a);
    eng_session_free(b);
    eng_model_close(m);
}

TEST(context_overflow_is_a_clear_error)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK(eng_model_open(path, &m) == DX_OK);
    eng_session *s;
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 8}, &s) == DX_OK);
    int32_t ids[9] = {1, 403, 407, 261, 378, 432, 383, 286, 261};
    CHECK(eng_session_decode(s, ids, 9, NULL) == DX_ELIMIT);
    CHECK(strstr(dx_errmsg(), "context") != NULL);
    CHECK_EQ_INT(eng_session_pos(s), 0);
    int32_t bad = 100000;
    CHECK(eng_session_decode(s, &bad, 1, NULL) == DX_EARG);
    eng_session_free(s);
    CHECK(eng_session_new(m, &(eng_options){.n_ctx = 1 << 20}, &s) == DX_EARG);
    eng_model_close(m);
}

/* Three sessions at different points of the stories prompt, decoded together
 * and one at a time: the same logits (and the same caches, as a later
 * separate step shows). */
TEST(batch_decode_across_sessions_equals_separate_decodes)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    eng_model *m;
    CHECK(eng_model_open(path, &m) == DX_OK);
    const int nv = eng_model_hparams(m)->n_vocab;
    enum { NS = 3 };
    eng_session *bat[NS], *sep[NS];
    const int prefix[NS] = {5, 9, 1};
    int32_t ids[45];
    memcpy(ids, stories_prompt, sizeof stories_prompt);
    memcpy(ids + 5, stories_greedy, sizeof stories_greedy);
    for (int i = 0; i < NS; i++) {
        CHECK(eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 4}, &bat[i]) == DX_OK);
        CHECK(eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 4}, &sep[i]) == DX_OK);
        CHECK(eng_session_decode(bat[i], ids, prefix[i], NULL) == DX_OK);
        CHECK(eng_session_decode(sep[i], ids, prefix[i], NULL) == DX_OK);
    }
    for (int step = 0; step < 4; step++) {
        int32_t next[NS];
        for (int i = 0; i < NS; i++)
            next[i] = ids[prefix[i] + step];
        CHECK(eng_batch_decode(bat, next, NS) == DX_OK);
        for (int i = 0; i < NS; i++) {
            const float *ls;
            CHECK(eng_session_decode(sep[i], &next[i], 1, &ls) == DX_OK);
            const float *lb = eng_session_logits(bat[i]);
            CHECK_EQ_INT(eng_session_pos(bat[i]), eng_session_pos(sep[i]));
            for (int v = 0; v < nv; v++)
                CHECK_NEAR(lb[v], ls[v], 1e-4);
            CHECK_EQ_INT(argmax(lb, nv), argmax(ls, nv));
        }
    }
    /* errors change nothing */
    eng_session *twice[2] = {bat[0], bat[0]};
    int32_t two[2] = {1, 1};
    CHECK(eng_batch_decode(twice, two, 2) == DX_EARG);
    int32_t bad[NS] = {1, 100000, 1};
    CHECK(eng_batch_decode(bat, bad, NS) == DX_EARG);
    CHECK_EQ_INT(eng_session_pos(bat[0]), prefix[0] + 4);
    for (int i = 0; i < NS; i++) {
        eng_session_free(bat[i]);
        eng_session_free(sep[i]);
    }
    eng_model_close(m);
}

TEST(stories_text_is_coherent)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    gen_model *gm;
    CHECK_MSG(gen_model_open(path, &gm) == DX_OK, "%s", dx_errmsg());
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 30;
    collect c = {0};
    gen_stats st;
    CHECK_MSG(gen_generate(gm, &p, "Once upon a time", collect_piece, &c, &st) == DX_OK, "%s",
              dx_errmsg());
    CHECK_MSG(strstr(c.text, "there was a little girl named Lily") != NULL, "got: %s", c.text);
    CHECK_EQ_INT(st.prompt_tokens, 5);
    CHECK_EQ_INT(st.gen_tokens, 30);
    CHECK_STR(st.stop, "length");
    gen_model_close(gm);
}

TEST(smollm2_chat_knows_the_capital_of_france)
{
    if (test_is_sanitizer_build())
        SKIP("real-model answers run in the release suite");
    char path[1024];
    if (!test_model_path(path, sizeof path, "SmolLM2-135M-Instruct.Q4_1.gguf"))
        SKIP("SmolLM2-135M-Instruct not in the model cache (make setup pulls it)");
    gen_model *gm;
    CHECK_MSG(gen_model_open(path, &gm) == DX_OK, "%s", dx_errmsg());
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 48;
    p.chat = true;
    collect c = {0};
    gen_stats st;
    CHECK_MSG(gen_generate(gm, &p, "What is the capital of France?", collect_piece, &c, &st) ==
                  DX_OK,
              "%s", dx_errmsg());
    CHECK_MSG(strstr(c.text, "Paris") != NULL, "got: %s", c.text);
    CHECK_MSG(strstr(c.text, "<|im_end|>") == NULL, "end-of-turn leaked: %s", c.text);
    gen_model_close(gm);
}

/* llama.cpp (llama-cpp-python 0.3.36), greedy, Gemma 3 270M Q4_K_M, "The capital of France is"
 * with BOS. The base model does not say Paris here (" the capital of the country of France.
 * It is the largest city in France"). Positions 11 and 15 are near ties (top two logits 0.2 and
 * 0.04 apart in llama.cpp, which itself flips position 11 between batched and one-by-one runs). */
static const int32_t gemma_prompt[] = {2, 818, 5279, 529, 7001, 563};
static const int32_t gemma_greedy[] = {506,  5279, 529, 506,  2891, 529, 7001, 236761,
                                       1030, 563,  506, 7488, 3207, 528, 7001};

TEST(gemma3_greedy_token_ids_match_llama_cpp)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    char path[1024];
    if (!test_model_path(path, sizeof path, "gemma-3-270m-q4_k_m.gguf"))
        SKIP("Gemma 3 270M not in the model cache (make setup pulls it)");
    gen_model *gm;
    CHECK_MSG(gen_model_open(path, &gm) == DX_OK, "%s", dx_errmsg());
    int32_t *ids;
    size_t n;
    gen_params p = gen_defaults();
    CHECK(gen_prompt_ids(gm, &p, "The capital of France is", &ids, &n) == DX_OK);
    CHECK_EQ_INT(n, 6);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(ids[i], gemma_prompt[i]);
    free(ids);
    eng_session *s;
    CHECK(eng_session_new(gen_model_engine(gm), &(eng_options){.n_ctx = 64}, &s) == DX_OK);
    const float *logits;
    CHECK(eng_session_decode(s, gemma_prompt, 6, &logits) == DX_OK);
    /* Teacher-forced: at each position llama.cpp's token must be ours, or a
     * near tie with ours (llama.cpp's own batched and one-by-one runs differ by
     * up to 0.2 here, logits being around 17). */
    const float tie = 0.25f;
    int exact = 0;
    for (size_t i = 0; i < sizeof gemma_greedy / sizeof gemma_greedy[0]; i++) {
        const int32_t ref = gemma_greedy[i];
        int32_t id = argmax(logits, eng_model_hparams(gen_model_engine(gm))->n_vocab);
        CHECK_MSG(id == ref || logits[id] - logits[ref] <= tie,
                  "token %zu: got %d (%.3f), llama.cpp %d (%.3f here)", i, id, logits[id], ref,
                  logits[ref]);
        exact += id == ref;
        CHECK(eng_session_decode(s, &ref, 1, &logits) == DX_OK);
    }
    CHECK_MSG(exact >= 13, "only %d of 15 tokens equal llama.cpp's", exact);
    eng_session_free(s);
    gen_model_close(gm);
}

TEST(gemma3_base_model_answers_paris_when_asked)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    char path[1024];
    if (!test_model_path(path, sizeof path, "gemma-3-270m-q4_k_m.gguf"))
        SKIP("Gemma 3 270M not in the model cache (make setup pulls it)");
    gen_model *gm;
    CHECK_MSG(gen_model_open(path, &gm) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(gen_model_chat(gm)->family, CHAT_NONE);
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 24;
    p.chat = true; /* a base model is asked with drux's Question/Answer prompt */
    collect c = {0};
    gen_stats st;
    CHECK_MSG(gen_generate(gm, &p, "What is the capital of France?", collect_piece, &c, &st) ==
                  DX_OK,
              "%s", dx_errmsg());
    CHECK_MSG(strstr(c.text, "Paris") != NULL, "got: %s", c.text);
    CHECK_MSG(strstr(c.text, "Question:") == NULL, "did not stop at the next question: %s", c.text);
    gen_model_close(gm);
}

int main(void)
{
    RUN(stories_greedy_token_ids_match_llama_cpp);
    RUN(batched_prefill_equals_token_by_token);
    RUN(blocked_prompt_attention_equals_token_by_token_with_windows);
    RUN(context_overflow_is_a_clear_error);
    RUN(batch_decode_across_sessions_equals_separate_decodes);
    RUN(stories_text_is_coherent);
    RUN(smollm2_chat_knows_the_capital_of_france);
    RUN(gemma3_greedy_token_ids_match_llama_cpp);
    RUN(gemma3_base_model_answers_paris_when_asked);
    return test_summary();
}
