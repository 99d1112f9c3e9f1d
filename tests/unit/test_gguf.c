/*
 * test_gguf — the GGUF reader on real models, on files written by the Python
 * `gguf` package (tests/data/gguf/, made by tools/make_gguf_corpus.py), on
 * the broken-file corpus (tests/data/corpus/gguf/), and on hostile headers
 * built here in memory.
 */
#include <dirent.h>
#include <stdint.h>
#include <time.h>

#include "core/limits.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "test.h"
#include "test_models.h"

#define DATA "tests/data/gguf/"
#define CORPUS "tests/data/corpus/gguf/"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int str_is(dx_str s, const char *c)
{
    return dx_str_eqc(s, c);
}

/* Every tensor's data lies inside the file, after the data section start,
 * and its name finds it. */
static int tensors_consistent(const gguf *g, const char **why)
{
    const gguf_tensor *t0 = gguf_tensor_at(g, 0);
    const unsigned char *base =
        t0 ? (const unsigned char *)t0->data - t0->offset - gguf_data_offset(g) : NULL;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        const unsigned char *d = t->data;
        if (gguf_find_tensor(g, t->name) != t)
            return *why = "name lookup", 0;
        if (d < base + gguf_data_offset(g) || d + t->nbytes > base + gguf_file_size(g))
            return *why = "data outside the file", 0;
        if ((size_t)(d - base) % gguf_alignment(g))
            return *why = "data not aligned", 0;
    }
    return 1;
}

/* ---- real files --------------------------------------------------------- */

TEST(stories260k_values)
{
    char path[512];
    if (!test_shared_path(path, sizeof path, "fixtures/models/stories260K.gguf"))
        SKIP("../shared/fixtures/models/stories260K.gguf absent");
    gguf *g;
    CHECK_MSG(gguf_open(path, &g) == DX_OK, "%s", dx_errmsg());
    dx_str arch;
    uint32_t ctx = 0, embd = 0, blocks = 0;
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK(gguf_get_str(g, "general.architecture", &arch) && str_is(arch, "llama"));
    CHECK(gguf_get_u32(g, "llama.context_length", &ctx));
    CHECK_EQ_INT(ctx, 2048);
    CHECK(gguf_get_u32(g, "llama.embedding_length", &embd));
    CHECK_EQ_INT(embd, 64);
    CHECK(gguf_get_u32(g, "llama.block_count", &blocks));
    CHECK_EQ_INT(blocks, 5);
    float eps = 0;
    CHECK(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK_NEAR(eps, 1e-5, 1e-9);
    const dx_str *toks;
    uint64_t n = 0;
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n));
    CHECK_EQ_INT(n, 512);
    CHECK(str_is(toks[0], "<unk>") && str_is(toks[1], "<s>") && str_is(toks[2], "</s>"));
    enum gguf_vtype et;
    const void *scores;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &scores));
    CHECK(et == GGUF_F32 && n == 512 && scores != NULL);
    CHECK(!gguf_get_arr_str(g, "tokenizer.ggml.scores", &toks, &n)); /* not strings */

    CHECK_EQ_INT(gguf_n_tensors(g), 48); /* 3 + 9 per block */
    const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    CHECK_EQ_INT(t->n_dims, 2);
    CHECK(t->ne[0] == 64 && t->ne[1] == 512 && t->ne[2] == 1 && t->ne[3] == 1);
    CHECK_EQ_INT(t->type, QT_F32);
    CHECK_EQ_INT(t->nbytes, 64 * 512 * 4);
    CHECK_EQ_INT((uintptr_t)t->data % 32, 0); /* mapping is page-aligned */
    CHECK(gguf_find_tensor(g, "blk.4.ffn_down.weight") != NULL);
    CHECK(gguf_find_tensor(g, "blk.5.ffn_down.weight") == NULL);
    const char *why = "";
    CHECK_MSG(tensors_consistent(g, &why), "%s", why);
    gguf_close(g);
}

/* Ids in X.gguf.out (the expected tokenizations) must be valid token ids. */
static int out_ids_in_range(const char *out_path, uint64_t n_tokens, long *max_seen)
{
    FILE *f = fopen(out_path, "r");
    if (!f)
        return 1;
    long id;
    int ok = 1;
    *max_seen = -1;
    while (fscanf(f, "%ld", &id) == 1) {
        if (id < 0 || (uint64_t)id >= n_tokens)
            ok = 0;
        if (id > *max_seen)
            *max_seen = id;
    }
    fclose(f);
    return ok;
}

TEST(vocab_files_tokens)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizer", test_shared_dir());
    DIR *d = opendir(dir);
    if (!d)
        SKIP("%s absent", dir);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf"))
            continue;
        char path[1024], out[1100];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gguf *g;
        if (gguf_open(path, &g) != DX_OK) {
            closedir(d);
            CHECK_MSG(0, "%s", dx_errmsg());
        }
        files++;
        const dx_str *toks;
        uint64_t n = 0, n2;
        dx_str model;
        int ok = gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n) && n > 0 &&
                 n <= DX_MAX_VOCAB && gguf_get_str(g, "tokenizer.ggml.model", &model) &&
                 model.len > 0 && gguf_n_tensors(g) == 0;
        /* parallel arrays have one entry per token */
        if (ok && gguf_get_arr(g, "tokenizer.ggml.token_type", NULL, &n2, NULL))
            ok = n2 == n;
        if (ok && gguf_get_arr(g, "tokenizer.ggml.scores", NULL, &n2, NULL))
            ok = n2 == n;
        long max_id = -1;
        snprintf(out, sizeof out, "%s.out", path);
        if (ok)
            ok = out_ids_in_range(out, n, &max_id);
        if (ok && !strcmp(e->d_name, "ggml-vocab-llama-spm.gguf"))
            ok = n == 32000 && str_is(toks[1], "<s>") && str_is(toks[2], "</s>") &&
                 str_is(model, "llama");
        if (ok && !strcmp(e->d_name, "ggml-vocab-gpt-2.gguf"))
            ok = n == 50257 && str_is(toks[0], "!") && str_is(toks[50256], "<|endoftext|>") &&
                 str_is(model, "gpt2") && gguf_get_arr_str(g, "tokenizer.ggml.merges", NULL, &n2) &&
                 n2 > 0;
        gguf_close(g);
        if (!ok) {
            closedir(d);
            CHECK_MSG(0, "%s: vocabulary not as expected (%llu tokens, max id in .out %ld)",
                      e->d_name, (unsigned long long)n, max_id);
        }
    }
    closedir(d);
    if (files == 0)
        SKIP("no .gguf files in %s", dir);
    CHECK(files >= 1);
}

TEST(real_models)
{
    static const struct {
        const char *file, *arch;
        size_t n_tensors;
        uint64_t vocab;
        uint32_t main_type;
    } models[] = {
        {"SmolLM2-135M-Instruct.Q4_1.gguf", "llama", 272, 49152, QT_Q4_1},
        {"gemma-3-270m-q4_k_m.gguf", "gemma3", 236, 262144, QT_Q4_K},
    };
    int seen = 0;
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char path[1024];
        if (!test_model_path(path, sizeof path, models[m].file))
            continue;
        seen++;
        gguf *g;
        double t0 = now_ms();
        CHECK_MSG(gguf_open(path, &g) == DX_OK, "%s", dx_errmsg());
        double ms = now_ms() - t0;
        printf("# %s: opened in %.1f ms (%zu tensors, %zu kv, %zu MB)\n", models[m].file, ms,
               gguf_n_tensors(g), gguf_n_kv(g), gguf_file_size(g) >> 20);
        dx_str arch;
        const dx_str *toks;
        uint64_t n = 0;
        CHECK(gguf_get_str(g, "general.architecture", &arch) && str_is(arch, models[m].arch));
        CHECK_EQ_INT(gguf_n_tensors(g), models[m].n_tensors);
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n));
        CHECK_EQ_INT(n, models[m].vocab);
        size_t of_main_type = 0;
        for (size_t i = 0; i < gguf_n_tensors(g); i++)
            of_main_type += gguf_tensor_at(g, i)->type == models[m].main_type;
        CHECK(of_main_type > 0);
        const char *why = "";
        CHECK_MSG(tensors_consistent(g, &why), "%s: %s", models[m].file, why);
        gguf_close(g);
    }
    if (!seen)
        SKIP("neither SmolLM2 nor Gemma 3 270M is in the model cache (make setup pulls them)");
}

/* ---- files written by the Python gguf package --------------------------- */

static void check_all_types(const char *path, uint32_t version)
{
    gguf *g;
    CHECK_MSG(gguf_open(path, &g) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(gguf_version(g), version);
    CHECK_EQ_INT(gguf_alignment(g), 32);
    uint32_t u;
    int64_t v;
    float f;
    bool b;
    dx_str s;
    CHECK(gguf_get_u32(g, "test.u8", &u) && u == 200);
    CHECK(gguf_get_i64(g, "test.i8", &v) && v == -100);
    CHECK(!gguf_get_u32(g, "test.i8", &u)); /* negative does not fit */
    CHECK(gguf_get_u32(g, "test.u16", &u) && u == 60000);
    CHECK(gguf_get_i64(g, "test.i16", &v) && v == -30000);
    CHECK(gguf_get_u32(g, "test.u32", &u) && u == 4000000000u);
    CHECK(gguf_get_i64(g, "test.i32", &v) && v == -2000000000);
    CHECK(!gguf_get_u32(g, "test.u64", &u)); /* 2^40 + 3 does not fit */
    CHECK(gguf_get_i64(g, "test.u64", &v) && v == (1ll << 40) + 3);
    CHECK(!gguf_get_i64(g, "test.u64_big", &v)); /* 2^63 + 5 does not fit */
    CHECK(gguf_get_i64(g, "test.i64", &v) && v == -(1ll << 40) - 7);
    CHECK(gguf_get_f32(g, "test.f32", &f) && f == 0.15625f);
    CHECK(gguf_get_f32(g, "test.f64", &f) && f == 3.25f);
    CHECK(!gguf_get_f32(g, "test.f64_big", &f)); /* 1e300 is no float */
    CHECK(!gguf_get_f32(g, "test.u32", &f) && !gguf_get_u32(g, "test.f32", &u));
    CHECK(gguf_get_bool(g, "test.bool_t", &b) && b);
    CHECK(gguf_get_bool(g, "test.bool_f", &b) && !b);
    CHECK(!gguf_get_bool(g, "test.u8", &b) && !gguf_get_u32(g, "test.bool_t", &u));
    CHECK(gguf_get_str(g, "test.str", &s) && str_is(s, "h\xc3\xa9llo, w\xc3\xb6rld"));
    CHECK(gguf_get_str(g, "test.str_empty", &s) && s.len == 0);
    CHECK(gguf_get_str(g, "test.str_bytes", &s) && s.len == 4 && !memcmp(s.ptr, "a\0b\xff", 4));
    CHECK(gguf_get_str(g, "test.after", &s) && str_is(s, "end"));
    CHECK(!gguf_get_str(g, "test.missing", &s) && gguf_find_key(g, "test.missing") == -1);
    CHECK(gguf_find_key(g, "test.u") == -1 && gguf_find_key(g, "test.u88") == -1);
    CHECK(!gguf_get_str(g, "test.u32", &s));

    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    const unsigned char *p;
    CHECK(gguf_get_arr(g, "test.arr_u8", &et, &n, &data) && et == GGUF_U8 && n == 4);
    p = data;
    CHECK(p[0] == 1 && p[3] == 250);
    CHECK(gguf_get_arr(g, "test.arr_i16", &et, &n, &data) && et == GGUF_I16 && n == 3);
    int16_t i16[3];
    memcpy(i16, data, sizeof i16);
    CHECK(i16[0] == -1 && i16[1] == 2 && i16[2] == -3);
    CHECK(gguf_get_arr(g, "test.arr_i32", &et, &n, &data) && et == GGUF_I32 && n == 3);
    int32_t i32[3];
    memcpy(i32, data, sizeof i32);
    CHECK(i32[0] == 10 && i32[1] == -20 && i32[2] == 30);
    CHECK(gguf_get_arr(g, "test.arr_u64", &et, &n, &data) && et == GGUF_U64 && n == 2);
    uint64_t u64[2];
    memcpy(u64, data, sizeof u64);
    CHECK(u64[0] == 1 && u64[1] == 1ull << 50);
    CHECK(gguf_get_arr(g, "test.arr_f32", &et, &n, &data) && et == GGUF_F32 && n == 2);
    float f32[2];
    memcpy(f32, data, sizeof f32);
    CHECK(f32[0] == 0.5f && f32[1] == -1.25f);
    CHECK(gguf_get_arr(g, "test.arr_f64", &et, &n, &data) && et == GGUF_F64 && n == 1);
    CHECK(gguf_get_arr(g, "test.arr_bool", &et, &n, &data) && et == GGUF_BOOL && n == 3);
    p = data;
    CHECK(p[0] == 1 && p[1] == 0 && p[2] == 1);
    const dx_str *strs;
    CHECK(gguf_get_arr_str(g, "test.arr_str", &strs, &n) && n == 4);
    CHECK(str_is(strs[0], "a") && strs[1].len == 0 && str_is(strs[2], "ccc") &&
          str_is(strs[3], "\xc3\xbcn\xc3\xaf"));
    CHECK(gguf_get_arr(g, "test.arr_str", &et, &n, &data) && et == GGUF_STRING && !data);
    /* arrays of arrays: validated and skipped; type and count are visible */
    CHECK(gguf_get_arr(g, "test.nested", &et, &n, &data) && et == GGUF_ARRAY && n == 3 && !data);
    CHECK(gguf_get_arr(g, "test.nested_str", &et, &n, &data) && et == GGUF_ARRAY && n == 2);
    CHECK(!gguf_get_arr_str(g, "test.nested_str", &strs, &n));
    CHECK(gguf_get_arr(g, "test.deep8", &et, &n, &data) && et == GGUF_ARRAY && n == 1);
    CHECK(!gguf_get_arr(g, "test.str", &et, &n, &data));

    /* the key table: every key is found at its own index */
    CHECK_EQ_INT(gguf_n_kv(g), 32);
    CHECK(gguf_kv_key(g, 0) && !strcmp(gguf_kv_key(g, 0), "general.architecture"));
    CHECK(gguf_kv_type(g, 0) == GGUF_STRING && gguf_kv_key(g, 32) == NULL);
    CHECK(gguf_kv_type(g, 32) == GGUF_VTYPE_COUNT);
    for (size_t i = 0; i < gguf_n_kv(g); i++)
        CHECK(gguf_find_key(g, gguf_kv_key(g, i)) == (int64_t)i);

    /* tensors: types and sizes as the gguf package computed them */
    const void *tt, *tn;
    uint64_t ntypes, nsizes;
    CHECK(gguf_get_arr(g, "test.tensor_types", &et, &ntypes, &tt) && et == GGUF_U32);
    CHECK(gguf_get_arr(g, "test.tensor_nbytes", &et, &nsizes, &tn) && et == GGUF_U64);
    CHECK_EQ_INT(gguf_n_tensors(g), ntypes);
    CHECK_EQ_INT(ntypes, nsizes);
    CHECK(ntypes >= 30); /* every type id drux knows the layout of */
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint32_t type;
        uint64_t nbytes;
        memcpy(&type, (const char *)tt + 4 * i, 4);
        memcpy(&nbytes, (const char *)tn + 8 * i, 8);
        CHECK_MSG(t->type == type && t->nbytes == nbytes,
                  "%s: type %u (want %u), %zu bytes (want %llu)", t->name, t->type, type, t->nbytes,
                  (unsigned long long)nbytes);
        if (!strncmp(t->name, "q.", 2)) {
            /* raw blocks: byte j of the tensor with seed k is (7 j + k) mod 256 */
            CHECK(!strcmp(t->name + 2, gguf_type_name(t->type)));
            const unsigned char *d = t->data;
            unsigned k = d[0];
            CHECK(d[t->nbytes - 1] == (unsigned char)(7 * (t->nbytes - 1) + k));
            CHECK(t->n_dims == 2 && t->ne[1] == 2);
        }
    }
    const gguf_tensor *t = gguf_find_tensor(g, "t.f32");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 3 && t->type == QT_F32);
    float row1[4];
    memcpy(row1, (const float *)t->data + 4, sizeof row1);
    CHECK(row1[0] == 4.0f && row1[3] == 7.0f);
    t = gguf_find_tensor(g, "t.4d");
    CHECK(t && t->n_dims == 4 && t->ne[0] == 8 && t->ne[1] == 3 && t->ne[2] == 2 && t->ne[3] == 1);
    CHECK(!strcmp(gguf_type_name(t->type), "I8"));
    t = gguf_find_tensor(g, "q.Q4_K");
    CHECK(t && t->ne[0] == 256 && t->nbytes == 2 * 144);
    const char *why = "";
    CHECK_MSG(tensors_consistent(g, &why), "%s", why);
    gguf_close(g);
}

TEST(roundtrip_all_types_v3)
{
    check_all_types(DATA "all_types.gguf", 3);
}

TEST(roundtrip_all_types_v2)
{
    check_all_types(DATA "all_types_v2.gguf", 2);
}

TEST(roundtrip_alignment_64)
{
    gguf *g;
    CHECK_MSG(gguf_open(DATA "align64.gguf", &g) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(gguf_alignment(g), 64);
    CHECK_EQ_INT(gguf_data_offset(g) % 64, 0);
    const gguf_tensor *a = gguf_find_tensor(g, "a"), *b = gguf_find_tensor(g, "b");
    CHECK(a && b && a->nbytes == 40 && b->nbytes == 64);
    CHECK(a->offset == 0 && b->offset == 64);
    CHECK_EQ_INT((uintptr_t)b->data % 64, 0);
    const unsigned char *d = b->data;
    CHECK(d[0] == 1 && d[63] == (unsigned char)(7 * 63 + 1));
    gguf_close(g);
}

TEST(roundtrip_no_tensors)
{
    /* the writer pads the header; vocab files from llama.cpp are unpadded */
    static const char *const files[] = {DATA "no_tensors.gguf", DATA "no_tensors_unpadded.gguf"};
    for (int i = 0; i < 2; i++) {
        gguf *g;
        CHECK_MSG(gguf_open(files[i], &g) == DX_OK, "%s", dx_errmsg());
        const dx_str *toks;
        uint64_t n;
        CHECK(gguf_n_tensors(g) == 0 && gguf_tensor_at(g, 0) == NULL);
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n) && n == 4);
        CHECK(str_is(toks[0], "<s>") && str_is(toks[3], " world"));
        CHECK(gguf_data_offset(g) <= gguf_file_size(g));
        gguf_close(g);
    }
}

TEST(valid_folder_opens)
{
    DIR *d = opendir(DATA);
    CHECK_MSG(d != NULL, "%s missing: run tools/make_gguf_corpus.py", DATA);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf"))
            continue;
        char path[600];
        snprintf(path, sizeof path, DATA "%s", e->d_name);
        gguf *g;
        dx_status st = gguf_open(path, &g);
        const char *why = "";
        int ok = st == DX_OK && tensors_consistent(g, &why);
        gguf_close(g);
        files++;
        if (!ok) {
            closedir(d);
            CHECK_MSG(0, "%s: %s %s", e->d_name, dx_errmsg(), why);
        }
    }
    closedir(d);
    CHECK(files >= 5);
}

/* ---- the broken-file corpus --------------------------------------------- */

static int read_whole(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = n > 0 && fread(*buf, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
    fclose(f);
    return 1;
}

/* msg contains one of the |-separated alternatives (all when empty) */
static int contains_one_of(const char *msg, const char *alts)
{
    if (!*alts)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", alts);
    for (char *save, *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
        if (strstr(msg, w))
            return 1;
    return 0;
}

TEST(corpus_files_fail_cleanly)
{
    DIR *d = opendir(CORPUS);
    CHECK_MSG(d != NULL, "%s missing: run tools/make_gguf_corpus.py", CORPUS);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, CORPUS "%s", e->d_name);
        /* through both entry points: the file and a buffer of its bytes */
        gguf *g = (gguf *)1;
        dx_status st = gguf_open(path, &g);
        int ok = (st == DX_EFORMAT || st == DX_ELIMIT) && g == NULL && dx_errmsg()[0] &&
                 strstr(dx_errmsg(), e->d_name);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (ok && read_whole(path, &buf, &len))
            ok = gguf_open_mem(buf, len, &g) == st && g == NULL && !strstr(dx_errmsg(), path);
        free(buf);
        files++;
        if (!ok) {
            closedir(d);
            CHECK_MSG(0, "%s: status %d, message '%s'", e->d_name, st, dx_errmsg());
        }
    }
    closedir(d);
    CHECK(files >= 200);
}

TEST(corpus_expected_messages)
{
    FILE *f = fopen(DATA "corpus_expect.tsv", "r");
    CHECK_MSG(f != NULL, DATA "corpus_expect.tsv missing: run tools/make_gguf_corpus.py");
    char line[1024];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *save, *name = strtok_r(line, "\t", &save), *status = strtok_r(NULL, "\t", &save);
        char *words = strtok_r(NULL, "", &save);
        if (!name || !status)
            continue;
        char path[600];
        snprintf(path, sizeof path, CORPUS "%s", name);
        gguf *g;
        dx_status want = !strcmp(status, "limit") ? DX_ELIMIT : DX_EFORMAT;
        dx_status st = gguf_open(path, &g);
        if (!strcmp(status, "any") && st == DX_ELIMIT)
            want = DX_ELIMIT;
        if (st != want || !contains_one_of(dx_errmsg(), words ? words : "")) {
            fclose(f);
            gguf_close(g);
            CHECK_MSG(0, "%s: want %s '%s', got status %d '%s'", name, status, words ? words : "",
                      st, dx_errmsg());
        }
        checked++;
    }
    fclose(f);
    CHECK(checked >= 200);
}

/* ---- hostile headers built in memory ------------------------------------ */

typedef struct gb {
    unsigned char *p;
    size_t len, cap;
} gb;

static void gb_put(gb *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void gb_u32(gb *b, uint32_t v)
{
    unsigned char x[4] = {v, v >> 8, v >> 16, v >> 24};
    gb_put(b, x, 4);
}

static void gb_u64(gb *b, uint64_t v)
{
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}

static void gb_strn(gb *b, const char *s, size_t n)
{
    gb_u64(b, n);
    gb_put(b, s, n);
}

static void gb_str(gb *b, const char *s)
{
    gb_strn(b, s, strlen(s));
}

static void gb_header(gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}

static void gb_kv_u32(gb *b, const char *key, uint32_t v)
{
    gb_str(b, key);
    gb_u32(b, GGUF_U32);
    gb_u32(b, v);
}

static void gb_tensor(gb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                      uint64_t offset)
{
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

static void gb_pad(gb *b, size_t align, size_t extra)
{
    while (b->len % align)
        gb_put(b, "", 1);
    for (size_t i = 0; i < extra; i++)
        gb_put(b, "\x5a", 1);
}

/* One tensor of n_dims/ne/type at offset, data section of `data` bytes. */
static void one_tensor(gb *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                       size_t data)
{
    gb_header(b, 3, 1, 0);
    gb_tensor(b, "w", n_dims, ne, type, offset);
    gb_pad(b, 32, data);
}

static void nested_kv(gb *b, int depth)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "deep");
    gb_u32(b, GGUF_ARRAY);
    for (int i = 1; i < depth; i++) {
        gb_u32(b, GGUF_ARRAY);
        gb_u64(b, 1);
    }
    gb_u32(b, GGUF_U8);
    gb_u64(b, 1);
    gb_put(b, "\x07", 1);
}

static void h_magic(gb *b)
{
    gb_put(b, "GGJT\3\0\0\0", 8);
    gb_u64(b, 0);
    gb_u64(b, 0);
}
static void h_short(gb *b)
{
    gb_put(b, "GGUF\3\0\0\0\0\0", 10);
}
static void h_v1(gb *b)
{
    gb_header(b, 1, 0, 0);
}
static void h_v99(gb *b)
{
    gb_header(b, 99, 0, 0);
}
static void h_big_endian(gb *b)
{
    gb_put(b, "GGUF\0\0\0\2", 8);
    gb_u64(b, 0);
    gb_u64(b, 0);
}
static void h_empty_ok(gb *b)
{
    gb_header(b, 2, 0, 0);
}
static void h_kv_limit(gb *b)
{
    gb_header(b, 3, 0, DX_GGUF_MAX_KV + 1);
}
static void h_tensor_limit(gb *b)
{
    gb_header(b, 3, DX_GGUF_MAX_TENSORS + 1, 0);
}
static void h_kv_no_fit(gb *b)
{
    gb_header(b, 3, 0, 3);
    gb_kv_u32(b, "a", 1);
}
static void h_key_256_ok(gb *b)
{
    char k[DX_GGUF_MAX_NAME];
    memset(k, 'k', sizeof k);
    gb_header(b, 3, 0, 1);
    gb_strn(b, k, sizeof k);
    gb_u32(b, GGUF_U8);
    gb_put(b, "\1", 1);
}
static void h_key_257(gb *b)
{
    char k[DX_GGUF_MAX_NAME + 1];
    memset(k, 'k', sizeof k);
    gb_header(b, 3, 0, 1);
    gb_strn(b, k, sizeof k);
    gb_u32(b, GGUF_U8);
    gb_put(b, "\1", 1);
}
static void h_key_nul(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_strn(b, "ab\0c", 4);
    gb_u32(b, GGUF_U8);
    gb_put(b, "\1", 1);
}
static void h_key_del(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "ab\x7f");
    gb_u32(b, GGUF_U8);
    gb_put(b, "\1", 1);
}
static void h_key_utf8_ok(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "cl\xc3\xa9");
    gb_u32(b, GGUF_U8);
    gb_put(b, "\1", 1);
}
static void h_vtype(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "k");
    gb_u32(b, GGUF_VTYPE_COUNT);
    gb_u64(b, 0);
}
static void h_value_cut(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "k");
    gb_u32(b, GGUF_U64);
    gb_u32(b, 5);
}
static void h_dup_key(gb *b)
{
    gb_header(b, 3, 0, 2);
    gb_kv_u32(b, "same", 1);
    gb_kv_u32(b, "same", 2);
}
static void h_str_limit(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "k");
    gb_u32(b, GGUF_STRING);
    gb_u64(b, (uint64_t)DX_GGUF_MAX_STRING + 1);
    gb_put(b, "xxxxxxxxxxxxxxxx", 16);
}
static void h_arr_limit(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "k");
    gb_u32(b, GGUF_ARRAY);
    gb_u32(b, GGUF_U8);
    gb_u64(b, (uint64_t)DX_GGUF_MAX_ARRAY + 1);
}
static void h_arr_empty_ok(gb *b)
{
    gb_header(b, 3, 0, 2);
    gb_str(b, "strs");
    gb_u32(b, GGUF_ARRAY);
    gb_u32(b, GGUF_STRING);
    gb_u64(b, 0);
    gb_str(b, "arrs");
    gb_u32(b, GGUF_ARRAY);
    gb_u32(b, GGUF_ARRAY);
    gb_u64(b, 0);
}
static void h_nested_8_ok(gb *b)
{
    nested_kv(b, DX_GGUF_MAX_NESTING);
}
static void h_nested_9(gb *b)
{
    nested_kv(b, DX_GGUF_MAX_NESTING + 1);
}
static void h_align_3(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_kv_u32(b, "general.alignment", 3);
}
static void h_align_max_ok(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_kv_u32(b, "general.alignment", DX_GGUF_MAX_ALIGNMENT);
}
static void h_align_big(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_kv_u32(b, "general.alignment", DX_GGUF_MAX_ALIGNMENT * 2);
}
static void h_align_i32(gb *b)
{
    gb_header(b, 3, 0, 1);
    gb_str(b, "general.alignment");
    gb_u32(b, GGUF_I32);
    gb_u32(b, 32);
}
static void h_align_offset(gb *b)
{
    uint64_t ne[1] = {8};
    gb_header(b, 3, 1, 1);
    gb_kv_u32(b, "general.alignment", 64);
    gb_tensor(b, "w", 1, ne, QT_F32, 32);
    gb_pad(b, 64, 128);
}
static void h_ndims0(gb *b)
{
    one_tensor(b, 0, NULL, QT_F32, 0, 32);
}
static void h_ndims5(gb *b)
{
    uint64_t ne[5] = {1, 1, 1, 1, 1};
    one_tensor(b, 5, ne, QT_F32, 0, 32);
}
static void h_ne_negative(gb *b)
{
    uint64_t ne[2] = {4, (uint64_t)-1};
    one_tensor(b, 2, ne, QT_F32, 0, 32);
}
static void h_ne_overflow(gb *b)
{
    uint64_t ne[3] = {1u << 22, 1u << 22, 1u << 22};
    one_tensor(b, 3, ne, QT_F32, 0, 32);
}
static void h_ne_block(gb *b)
{
    uint64_t ne[1] = {48};
    one_tensor(b, 1, ne, QT_Q8_0, 0, 64);
}
static void h_ne_k_block(gb *b)
{
    uint64_t ne[1] = {128};
    one_tensor(b, 1, ne, QT_Q6_K, 0, 256);
}
static void h_k_ok(gb *b)
{
    uint64_t ne[2] = {256, 2};
    one_tensor(b, 2, ne, QT_Q4_K, 0, 288);
}
static void h_type_36(gb *b)
{
    uint64_t ne[1] = {32};
    one_tensor(b, 1, ne, 36, 0, 64);
}
static void h_zero_ok(gb *b)
{
    uint64_t ne[2] = {0, 7};
    one_tensor(b, 2, ne, QT_F32, 0, 0);
}
static void h_zero_dim_q(gb *b)
{
    uint64_t ne[2] = {32, 0};
    one_tensor(b, 2, ne, QT_Q4_0, 0, 0);
}
static void h_past_end(gb *b)
{
    uint64_t ne[1] = {1024};
    one_tensor(b, 1, ne, QT_F32, 0, 4095);
}
static void h_offset_past_end(gb *b)
{
    uint64_t ne[1] = {8};
    one_tensor(b, 1, ne, QT_F32, 1ull << 40, 64);
}
static void h_two(gb *b, const char *n2, uint64_t off2)
{
    uint64_t ne[1] = {16};
    gb_header(b, 3, 2, 0);
    gb_tensor(b, "first", 1, ne, QT_F32, 0);
    gb_tensor(b, n2, 1, ne, QT_F32, off2);
    gb_pad(b, 32, 128);
}
static void h_overlap(gb *b)
{
    h_two(b, "second", 32);
}
static void h_adjacent_ok(gb *b)
{
    h_two(b, "second", 64);
}
static void h_dup_tensor(gb *b)
{
    h_two(b, "first", 64);
}
static void h_name_empty(gb *b)
{
    uint64_t ne[1] = {8};
    gb_header(b, 3, 1, 0);
    gb_tensor(b, "", 1, ne, QT_F32, 0);
    gb_pad(b, 32, 32);
}

typedef struct hostile {
    const char *name;
    void (*build)(gb *);
    dx_status want;
    const char *words; /* substring of the message */
} hostile;

static const hostile hostiles[] = {
    {"bad magic", h_magic, DX_EFORMAT, "not a GGUF file (starts with bytes 47 47 4a 54"},
    {"short header", h_short, DX_EFORMAT, "file of 10 bytes is too small"},
    {"version 1", h_v1, DX_EFORMAT, "version 1 is not supported"},
    {"version 99", h_v99, DX_EFORMAT, "unsupported GGUF version 99"},
    {"big-endian", h_big_endian, DX_EFORMAT, "big-endian GGUF file (version 2)"},
    {"empty v2 file", h_empty_ok, DX_OK, ""},
    {"kv count limit", h_kv_limit, DX_ELIMIT, "65537 metadata entries exceed the limit of 65536"},
    {"tensor count limit", h_tensor_limit, DX_ELIMIT, "65537 tensors exceed the limit"},
    {"kv count past file", h_kv_no_fit, DX_EFORMAT, "claims 3 metadata entries and 0 tensors"},
    {"key of 256 bytes", h_key_256_ok, DX_OK, ""},
    {"key of 257 bytes", h_key_257, DX_ELIMIT, "kv 0: key length 257 exceeds the limit of 256"},
    {"key with NUL", h_key_nul, DX_EFORMAT, "kv 0: key has control byte 0x00 at position 2"},
    {"key with DEL", h_key_del, DX_EFORMAT, "control byte 0x7f at position 2"},
    {"key in UTF-8", h_key_utf8_ok, DX_OK, ""},
    {"value type 13", h_vtype, DX_EFORMAT, "kv 0 'k': unknown value type 13"},
    {"value cut short", h_value_cut, DX_EFORMAT,
     "kv 0 'k': value (8 bytes at offset 37) runs past the end of the file (size 41)"},
    {"duplicate key", h_dup_key, DX_EFORMAT, "kv 1 'same': duplicate key (first at kv 0)"},
    {"string over limit", h_str_limit, DX_ELIMIT, "string length 16777217 exceeds the limit"},
    {"array over limit", h_arr_limit, DX_ELIMIT, "array of 16777217 elements exceeds the limit"},
    {"empty arrays", h_arr_empty_ok, DX_OK, ""},
    {"8 nested arrays", h_nested_8_ok, DX_OK, ""},
    {"9 nested arrays", h_nested_9, DX_ELIMIT,
     "element [0][0][0][0][0][0][0]: arrays nested more than 8"},
    {"alignment 3", h_align_3, DX_EFORMAT, "general.alignment 3 is not a power of two"},
    {"alignment at limit", h_align_max_ok, DX_OK, ""},
    {"alignment past limit", h_align_big, DX_ELIMIT, "general.alignment 131072 exceeds the limit"},
    {"alignment as i32", h_align_i32, DX_EFORMAT, "general.alignment must be a u32, not i32"},
    {"offset off alignment", h_align_offset, DX_EFORMAT,
     "tensor 0 'w': data offset 32 is not a multiple of the alignment 64"},
    {"0 dimensions", h_ndims0, DX_EFORMAT, "tensor 0 'w': has 0 dimensions (1 to 4 allowed)"},
    {"5 dimensions", h_ndims5, DX_EFORMAT, "has 5 dimensions"},
    {"negative ne", h_ne_negative, DX_EFORMAT, "ne[1] = 18446744073709551615 is out of range"},
    {"element count overflow", h_ne_overflow, DX_EFORMAT,
     "size of [4194304, 4194304, 4194304, 1] F32 elements overflows"},
    {"row not whole Q8_0 blocks", h_ne_block, DX_EFORMAT,
     "ne[0] = 48 is not a whole number of Q8_0 blocks of 32"},
    {"row not whole Q6_K blocks", h_ne_k_block, DX_EFORMAT, "Q6_K blocks of 256"},
    {"Q4_K tensor", h_k_ok, DX_OK, ""},
    {"type 36", h_type_36, DX_EFORMAT, "tensor 0 'w': unknown tensor type 36"},
    {"zero-size tensor", h_zero_ok, DX_OK, ""},
    {"zero rows of Q4_0", h_zero_dim_q, DX_OK, ""},
    {"data past end", h_past_end, DX_EFORMAT,
     "tensor 0 'w': data [offset 0, 4096 bytes) extends past the end of the file (size 4159"},
    {"offset past end", h_offset_past_end, DX_EFORMAT, "data [offset 1099511627776, 32 bytes)"},
    {"overlapping tensors", h_overlap, DX_EFORMAT,
     "tensor 1 'second': data [offset 32, 64 bytes) overlaps tensor 0 'first' [offset 0, 64 "
     "bytes)"},
    {"adjacent tensors", h_adjacent_ok, DX_OK, ""},
    {"duplicate tensor", h_dup_tensor, DX_EFORMAT, "tensor 1 'first': duplicate tensor name"},
    {"empty tensor name", h_name_empty, DX_EFORMAT, "tensor 0: tensor name is empty"},
};

TEST(hostile_headers)
{
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const hostile *h = &hostiles[i];
        gb b = {0};
        h->build(&b);
        gguf *g = NULL;
        dx_fail(DX_OK, NULL);
        dx_status st = gguf_open_mem(b.p, b.len, &g);
        int ok =
            st == h->want && (st ? g == NULL && strstr(dx_errmsg(), h->words) != NULL : g != NULL);
        if (ok && st)
            ok = !strncmp(dx_errmsg(), "gguf: ", 6);
        if (ok && !st) {
            const char *why = "";
            ok = tensors_consistent(g, &why);
        }
        gguf_close(g);
        free(b.p);
        CHECK_MSG(ok, "%s: want status %d with '%s', got %d '%s'", h->name, h->want, h->words, st,
                  dx_errmsg());
    }
}

TEST(zero_size_tensor)
{
    gb b = {0};
    h_zero_ok(&b);
    gguf *g;
    CHECK(gguf_open_mem(b.p, b.len, &g) == DX_OK);
    const gguf_tensor *t = gguf_find_tensor(g, "w");
    CHECK(t && t->nbytes == 0 && t->ne[0] == 0 && t->ne[1] == 7 && t->data != NULL);
    gguf_close(g);
    free(b.p);
}

/* ---- size and speed ----------------------------------------------------- */

/* A 262144-token vocabulary (gemma 3 size), the kv and tensor tables at
 * their limits: opening stays fast, so nothing in it is quadratic. */
TEST(large_tables_open_fast)
{
    enum { VOCAB = 262144 };
    gb b = {0};
    gb_header(&b, 3, DX_GGUF_MAX_TENSORS, DX_GGUF_MAX_KV);
    gb_str(&b, "tokenizer.ggml.tokens");
    gb_u32(&b, GGUF_ARRAY);
    gb_u32(&b, GGUF_STRING);
    gb_u64(&b, VOCAB);
    char s[32];
    for (int i = 0; i < VOCAB; i++) {
        snprintf(s, sizeof s, "tok%d", i);
        gb_str(&b, s);
    }
    for (unsigned i = 1; i < DX_GGUF_MAX_KV; i++) {
        snprintf(s, sizeof s, "key.%u", i);
        gb_kv_u32(&b, s, i);
    }
    uint64_t ne[1] = {8};
    for (unsigned i = 0; i < DX_GGUF_MAX_TENSORS; i++) {
        snprintf(s, sizeof s, "blk.%u.weight", i);
        gb_tensor(&b, s, 1, ne, QT_F32, 32ull * i);
    }
    gb_pad(&b, 32, 32ull * DX_GGUF_MAX_TENSORS);
    gguf *g;
    double t0 = now_ms();
    dx_status st = gguf_open_mem(b.p, b.len, &g);
    double ms = now_ms() - t0;
    CHECK_MSG(st == DX_OK, "%s", dx_errmsg());
    printf("# %d-token vocab, %u kv, %u tensors (%zu KB): opened in %.1f ms\n", VOCAB,
           DX_GGUF_MAX_KV, DX_GGUF_MAX_TENSORS, b.len >> 10, ms);
    const dx_str *toks;
    uint64_t n;
    uint32_t v;
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n) && n == VOCAB);
    CHECK(str_is(toks[0], "tok0") && str_is(toks[VOCAB - 1], "tok262143"));
    CHECK(gguf_get_u32(g, "key.65535", &v) && v == 65535);
    const gguf_tensor *t = gguf_find_tensor(g, "blk.65535.weight");
    CHECK(t && t->offset == 32ull * 65535);
    gguf_close(g);
    free(b.p);
    /* generous: a quadratic key or name check would take minutes here */
    CHECK_MSG(ms < 3000, "open took %.0f ms", ms);
}

TEST(string_index_is_bounded)
{
    /* more strings in string arrays than DX_GGUF_MAX_ARR_STRINGS, all empty */
    uint64_t per = DX_GGUF_MAX_ARR_STRINGS / 2 + 1;
    gb b = {0};
    gb_header(&b, 3, 0, 2);
    for (int k = 0; k < 2; k++) {
        gb_str(&b, k ? "b" : "a");
        gb_u32(&b, GGUF_ARRAY);
        gb_u32(&b, GGUF_STRING);
        gb_u64(&b, per);
        if (b.len + per * 8 > b.cap) {
            b.cap = b.len + per * 8 + 64;
            b.p = realloc(b.p, b.cap);
            CHECK(b.p != NULL);
        }
        memset(b.p + b.len, 0, per * 8);
        b.len += per * 8;
    }
    gguf *g;
    dx_status st = gguf_open_mem(b.p, b.len, &g);
    free(b.p);
    CHECK_EQ_INT(st, DX_ELIMIT);
    CHECK_MSG(strstr(dx_errmsg(), "kv 1 'b': string arrays hold more than 4194304 strings"), "%s",
              dx_errmsg());
}

/* ---- API edges ---------------------------------------------------------- */

TEST(open_errors)
{
    gguf *g = (gguf *)1;
    CHECK_EQ_INT(gguf_open("/nonexistent/model.gguf", &g), DX_ENOTFOUND);
    CHECK(g == NULL && strstr(dx_errmsg(), "/nonexistent/model.gguf"));
    CHECK_EQ_INT(gguf_open("tests", &g), DX_EIO);
    CHECK(strstr(dx_errmsg(), "not a regular file"));
    CHECK_EQ_INT(gguf_open_mem(NULL, 0, &g), DX_EFORMAT);
    CHECK(strstr(dx_errmsg(), "file of 0 bytes is too small"));
    CHECK_EQ_INT(gguf_open_mem(NULL, 5, &g), DX_EARG);
    gguf_close(NULL);
    CHECK_STR(gguf_vtype_name(GGUF_ARRAY), "array");
    CHECK_STR(gguf_vtype_name(GGUF_VTYPE_COUNT), "unknown");
    CHECK_STR(gguf_type_name(QT_Q4_K), "Q4_K");
    CHECK_STR(gguf_type_name(4), "type 4");
    size_t bytes = 0;
    CHECK(gguf_type_row_size(QT_Q4_0, 64, &bytes) && bytes == 36);
    CHECK(gguf_type_row_size(QT_BF16, 3, &bytes) && bytes == 6);
    CHECK(!gguf_type_row_size(QT_Q4_0, 33, &bytes) && !gguf_type_row_size(QT_COUNT, 32, &bytes));
    CHECK(!gguf_type_row_size(QT_F32, -1, &bytes));
    CHECK(!gguf_type_row_size(QT_F32, INT64_MAX, &bytes)); /* 4 * (2^63 - 1) bytes overflows */
}

int main(void)
{
    RUN(stories260k_values);
    RUN(vocab_files_tokens);
    RUN(real_models);
    RUN(roundtrip_all_types_v3);
    RUN(roundtrip_all_types_v2);
    RUN(roundtrip_alignment_64);
    RUN(roundtrip_no_tensors);
    RUN(valid_folder_opens);
    RUN(corpus_files_fail_cleanly);
    RUN(corpus_expected_messages);
    RUN(hostile_headers);
    RUN(zero_size_tensor);
    RUN(large_tables_open_fast);
    RUN(string_index_is_bounded);
    RUN(open_errors);
    return test_summary();
}
