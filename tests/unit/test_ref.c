/*
 * The engine against llama.cpp's recorded outputs (tests/data/ref/NAME.json,
 * written by tools/llama_ref.py with llama-cpp-python): for every model and
 * prompt, the prompt's token ids, the logits after the prompt, and at each
 * greedy step (fed llama.cpp's token, so one near tie does not derail the
 * rest) the top-5 logits within the file's stated tolerance and the same
 * argmax up to the first step whose top-two gap is below it.
 *
 * Random-weight models are regenerated with tools/make_model.py (the command
 * and sha256 are in each file's header); real models come from ../shared or
 * the model cache. Missing ones skip with a one-line reason.
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "gen/gen.h"
#include "hub/download.h"
#include "test.h"
#include "test_models.h"

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Path of the model a reference file describes, or NULL with *why set. */
static const char *model_for(json_t *hdr, char *buf, size_t cap, const char **why)
{
    const char *file = json_string_value(json_object_get(hdr, "model_file"));
    const char *make = json_string_value(json_object_get(hdr, "make_model"));
    const char *sha = json_string_value(json_object_get(hdr, "model_sha256"));
    if (!file) {
        *why = "no model_file in the header";
        return NULL;
    }
    if (make) {
        snprintf(buf, cap, "build/ref-models/%s", file);
        struct stat st;
        if (stat(buf, &st) != 0) {
            mkdir("build", 0755);
            mkdir("build/ref-models", 0755);
            char cmd[1024];
            snprintf(cmd, sizeof cmd, "%s >/dev/null 2>&1", make);
            if (system(cmd) != 0) {
                *why = "tools/make_model.py could not regenerate it (python3 with the gguf package)";
                return NULL;
            }
        }
        char hex[65];
        if (sha && (dl_sha256_file(buf, hex) || strcmp(hex, sha))) {
            *why = "the regenerated file's sha256 differs from the recorded one";
            return NULL;
        }
        return buf;
    }
    if (!strcmp(file, "stories260K.gguf")) {
        if (test_shared_path(buf, cap, "fixtures/models/stories260K.gguf"))
            return buf;
        *why = "../shared/fixtures/models/stories260K.gguf not found";
        return NULL;
    }
    if (test_model_path(buf, cap, file))
        return buf;
    *why = "not in the model cache";
    return NULL;
}

static int n_files, n_cases, n_steps;

/* Checks one file; returns false (with a FAIL printed) on a mismatch. */
static void check_file(const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK_MSG(root, "%s: %s", path, err.text);
    if (!json_is_array(json_object_get(root, "cases"))) { /* another kind of reference (kernels) */
        json_decref(root);
        return;
    }
    json_t *hdr = json_object_get(root, "header"), *tol = json_object_get(hdr, "tolerance");
    const double logit_tol = json_number_value(json_object_get(tol, "logit_abs"));
    const double gap_tol = json_number_value(json_object_get(tol, "argmax_min_gap"));
    CHECK_MSG(logit_tol > 0 && gap_tol > 0, "%s: no tolerance in the header", path);
    char mpath[1024];
    const char *why = NULL;
    if (!model_for(hdr, mpath, sizeof mpath, &why)) {
        printf("  %s: skipped: %s\n", path, why);
        json_decref(root);
        return;
    }
    struct stat st;
    stat(mpath, &st);
    if (test_is_sanitizer_build() && st.st_size > (16 << 20)) {
        printf("  %s: skipped in the sanitizer build (large model)\n", path);
        json_decref(root);
        return;
    }
    gen_model *gm;
    CHECK_MSG(gen_model_open(mpath, &gm) == DX_OK, "%s: %s", mpath, dx_errmsg());
    eng_model *m = gen_model_engine(gm);
    const int n_vocab = eng_model_hparams(m)->n_vocab;
    n_files++;
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), ci, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *mode = json_string_value(json_object_get(c, "mode"));
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        json_t *pids = json_object_get(c, "prompt_ids");
        size_t np = json_array_size(pids);
        int32_t *ids = malloc((np + 1) * sizeof *ids);
        for (size_t i = 0; i < np; i++)
            ids[i] = (int32_t)json_integer_value(json_array_get(pids, i));
        /* our tokenizer must give the same prompt ids */
        if (prompt && mode && (!strcmp(mode, "raw") || !strcmp(mode, "chat"))) {
            int32_t tmp[4096];
            size_t nt;
            CHECK(tok_encode(gen_model_tok(gm), prompt, strlen(prompt), true, !strcmp(mode, "chat"),
                             tmp, 4096, &nt) == DX_OK);
            bool same = nt == np;
            for (size_t i = 0; same && i < np; i++)
                same = tmp[i] == ids[i];
            CHECK_MSG(same, "%s/%s: prompt ids differ from llama.cpp's (%zu vs %zu tokens)", path,
                      name, nt, np);
        }
        eng_session *s;
        CHECK(eng_session_new(m, &(eng_options){.n_ctx = (int)np + 64}, &s) == DX_OK);
        const float *logits;
        CHECK_MSG(eng_session_decode(s, ids, (int)np, &logits) == DX_OK, "%s", dx_errmsg());
        json_t *last = json_object_get(c, "last_prompt_logits");
        for (size_t i = 0; i < json_array_size(last) && (int)i < n_vocab; i++) {
            double want = json_number_value(json_array_get(last, i));
            CHECK_MSG(fabs(logits[i] - want) <= logit_tol, "%s/%s: prompt logit %zu: %.4f vs llama.cpp %.4f",
                      path, name, i, logits[i], want);
        }
        bool exact = true; /* until the first near tie, our argmax must be llama.cpp's */
        size_t si;
        json_t *step;
        json_array_foreach(json_object_get(c, "steps"), si, step)
        {
            int32_t ref = (int32_t)json_integer_value(json_object_get(step, "token"));
            double gap = json_number_value(json_object_get(step, "gap"));
            size_t k;
            json_t *pair;
            json_array_foreach(json_object_get(step, "top5"), k, pair)
            {
                int id = (int)json_integer_value(json_array_get(pair, 0));
                double want = json_number_value(json_array_get(pair, 1));
                CHECK_MSG(id >= 0 && id < n_vocab && fabs(logits[id] - want) <= logit_tol,
                          "%s/%s step %zu: logit of %d is %.4f, llama.cpp %.4f (tolerance %.3f)", path, name,
                          si, id, id >= 0 && id < n_vocab ? logits[id] : NAN, want, logit_tol);
            }
            if (gap < gap_tol)
                exact = false;
            if (exact) {
                int got = argmax(logits, n_vocab);
                CHECK_MSG(got == ref, "%s/%s step %zu: greedy token %d, llama.cpp %d (gap %.3f)", path, name,
                          si, got, ref, gap);
            }
            n_steps++;
            if (eng_session_pos(s) >= eng_session_n_ctx(s))
                break;
            CHECK(eng_session_decode(s, &ref, 1, &logits) == DX_OK);
        }
        eng_session_free(s);
        free(ids);
        n_cases++;
    }
    gen_model_close(gm);
    json_decref(root);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(engine_matches_llama_cpp_references)
{
    DIR *d = opendir("tests/data/ref");
    CHECK_MSG(d, "tests/data/ref is missing");
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (strstr(e->d_name, ".json"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "tests/data/ref/%s", names[i]);
        int before = test_cur_failed;
        check_file(path);
        free(names[i]);
        if (test_cur_failed && !before) {
            for (size_t j = i + 1; j < n; j++)
                free(names[j]);
            return;
        }
    }
    printf("  %d models, %d prompts, %d greedy steps checked\n", n_files, n_cases, n_steps);
    CHECK_MSG(n_files > 0, "no reference model could be checked");
}

int main(void)
{
    RUN(engine_matches_llama_cpp_references);
    return test_summary();
}
