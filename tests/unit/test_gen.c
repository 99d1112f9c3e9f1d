/*
 * test_gen — generation's stopping rules: repetition loops (token cycles and
 * repeated lines) end a generation with GEN_STOP_REPETITION, ordinary text
 * does not.
 */
#include "gen/gen.h"

#include <string.h>

#include "test.h"
#include "test_models.h"

TEST(token_cycle_of_one_token)
{
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = 7;
    CHECK(!gen_loop_tokens(ids, GEN_LOOP_MIN_TOKENS - 1));
    CHECK(gen_loop_tokens(ids, GEN_LOOP_MIN_TOKENS));
}

TEST(token_cycle_of_a_sentence)
{
    /* a 12-token sentence said three times, after a different start */
    int32_t ids[64];
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        ids[n++] = 1000 + i;
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < 12; i++)
            ids[n++] = 200 + i;
    CHECK(gen_loop_tokens(ids, n));
    /* twice is not a loop yet */
    CHECK(!gen_loop_tokens(ids, n - 12));
    /* nor is the third copy before it is complete enough to cover the minimum */
    CHECK(!gen_loop_tokens(ids, n - 5));
}

TEST(ordinary_token_text_is_no_loop)
{
    /* a table rule repeats a short pattern, but far less than the minimum */
    int32_t ids[40];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        ids[n++] = 100 + i;
    for (int i = 0; i < 6; i++) {
        ids[n++] = 5;
        ids[n++] = 6;
    }
    for (int i = 0; i < 10; i++)
        ids[n++] = 300 + i;
    CHECK(!gen_loop_tokens(ids, n));
    CHECK(!gen_loop_tokens(ids, 0));
    CHECK(!gen_loop_tokens(ids, 1));
}

static bool feed(gen_loop *lp, const char *text)
{
    /* as a generation would: the text grows a few bytes at a time */
    size_t len = strlen(text);
    for (size_t i = 1; i <= len; i += 3)
        if (gen_loop_lines(lp, text, i))
            return true;
    return gen_loop_lines(lp, text, len);
}

TEST(repeated_list_item_is_a_loop)
{
    gen_loop lp = {0};
    CHECK(feed(&lp, "The best small models:\n"
                    "1. Community-driven systems\n"
                    "2. Qwen2.5 in its small sizes\n"
                    "3. Community-driven systems\n"
                    "4. SmolLM2, for very small devices\n"
                    "5. Community-driven systems\n"
                    "6. Something else\n"));
}

TEST(repeated_line_twice_or_short_is_no_loop)
{
    gen_loop lp = {0};
    CHECK(!feed(&lp, "int main(void)\n{\n    if (x) {\n        return 1;\n    }\n"
                     "    if (y) {\n        return 1;\n    }\n    if (z) {\n"
                     "        return 1;\n    }\n}\n"));
    gen_loop lp2 = {0};
    CHECK(!feed(&lp2, "Paris is the capital of France.\nIt is on the Seine.\n"
                      "Paris is the capital of France.\nThat is all.\n"));
    /* case and bullets do not hide a repeat */
    gen_loop lp3 = {0};
    CHECK(feed(&lp3, "- Water boils at 100 degrees\n* water boils at 100 degrees\n"
                     "3) WATER BOILS AT 100 DEGREES\n"));
}

TEST(stop_names)
{
    CHECK_STR(gen_stop_str(GEN_STOP_REPETITION), "repetition");
    CHECK_STR(gen_stop_str(GEN_STOP_LENGTH), "length");
    CHECK_STR(gen_stop_str(GEN_STOP_EOG), "eog");
}

typedef struct {
    char text[8192];
    size_t len;
} sink;

static int sink_piece(void *ud, const char *piece, size_t len)
{
    sink *s = ud;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return 0;
}

/* A real model asked to continue a text that repeats itself keeps
 * repeating; with stop_loops it stops early, with the distinct reason. */
TEST(real_model_stops_on_a_loop)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    char mp[1024];
    if (!test_model_path(mp, sizeof mp, "SmolLM2-135M-Instruct.Q4_1.gguf"))
        SKIP("SmolLM2-135M-Instruct.Q4_1.gguf not in the model cache");
    gen_model *gm;
    CHECK_MSG(gen_model_open(mp, &gm) == DX_OK, "%s", dx_errmsg());
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 200;
    const char *prompt = "la la la la la la la la la la la la la la la la la la la la la la";
    sink a = {0}, b = {0};
    gen_stats sa, sb;
    dx_status st = gen_generate(gm, &p, prompt, sink_piece, &a, &sa);
    p.stop_loops = true;
    if (!st)
        st = gen_generate(gm, &p, prompt, sink_piece, &b, &sb);
    gen_model_close(gm);
    CHECK_MSG(st == DX_OK, "%s", dx_errmsg());
    /* without the rule it runs to its budget; with it, it stops soon */
    CHECK_EQ_INT(sa.stop_reason, GEN_STOP_LENGTH);
    CHECK_EQ_INT(sb.stop_reason, GEN_STOP_REPETITION);
    CHECK_STR(sb.stop, "repetition");
    CHECK(sb.gen_tokens < GEN_LOOP_MIN_TOKENS + 8);
    /* what was said before the stop is the same text */
    CHECK(b.len > 0 && !strncmp(a.text, b.text, b.len));
}

static gen_model *open_stories(void)
{
    char path[512];
    gen_model *gm = NULL;
    if (test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf") &&
        gen_model_open(path, &gm))
        gm = NULL;
    return gm;
}

/* A prompt that starts like an earlier one is prefilled only from where
 * they differ (the earlier generation's session is kept), and the text is
 * what a model that never saw the earlier prompt writes (exactly, on this
 * F32 model: gen.h says why a quantized one may differ in a near tie). */
TEST(a_prompt_that_starts_like_an_earlier_one_reuses_its_session)
{
    gen_model *warm = open_stories(), *cold = open_stories();
    if (!warm || !cold) {
        gen_model_close(warm);
        gen_model_close(cold);
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    }
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 40;
    const char *first = "Once upon a time there was a little dog";
    const char *longer =
        "Once upon a time there was a little dog. He liked to play in the park with";
    sink a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    gen_stats sa, sb, sc, sd, se;
    CHECK(gen_generate(warm, &p, first, sink_piece, &a, &sa) == DX_OK);
    CHECK_EQ_INT(sa.reused_tokens, 0); /* nothing before it */
    CHECK(gen_generate(warm, &p, longer, sink_piece, &b, &sb) == DX_OK);
    CHECK(gen_generate(cold, &p, longer, sink_piece, &c, &sc) == DX_OK);
    CHECK_MSG(sb.reused_tokens >= sa.prompt_tokens - 2 && sb.reused_tokens < sa.prompt_tokens + 1,
              "reused %d of %d, the first prompt was %d", sb.reused_tokens, sb.prompt_tokens,
              sa.prompt_tokens);
    CHECK_EQ_INT(sc.reused_tokens, 0);
    CHECK_EQ_INT(sb.prompt_tokens, sc.prompt_tokens);
    CHECK_MSG(!strcmp(b.text, c.text), "reused: %s\nfresh: %s", b.text, c.text);
    /* the same prompt again: all but its last token come from the cache */
    CHECK(gen_generate(warm, &p, first, sink_piece, &d, &sd) == DX_OK);
    CHECK_EQ_INT(sd.reused_tokens, sa.prompt_tokens - 1);
    CHECK_MSG(!strcmp(a.text, d.text), "first: %s\nagain: %s", a.text, d.text);
    /* a session of another context size is not reused */
    p.n_ctx = 64;
    CHECK(gen_generate(warm, &p, first, sink_piece, &e, &se) == DX_OK);
    CHECK_EQ_INT(se.reused_tokens, 0);
    CHECK_MSG(!strncmp(a.text, e.text, e.len), "first: %s\nsmall context: %s", a.text, e.text);
    gen_model_close(warm);
    gen_model_close(cold);
}

int main(void)
{
    RUN(token_cycle_of_one_token);
    RUN(token_cycle_of_a_sentence);
    RUN(ordinary_token_text_is_no_loop);
    RUN(repeated_list_item_is_a_loop);
    RUN(repeated_line_twice_or_short_is_no_loop);
    RUN(stop_names);
    RUN(real_model_stops_on_a_loop);
    RUN(a_prompt_that_starts_like_an_earlier_one_reuses_its_session);
    return test_summary();
}
