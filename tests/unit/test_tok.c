/*
 * test_tok — tokenizers against llama.cpp's ids.
 *
 * 1. Every ../shared/fixtures/tokenizer/ggml-vocab-X.gguf with X.gguf.inp/.out
 *    vectors (llama.cpp's test-tokenizer-0 data): loaded through tok_load,
 *    every string must give exactly the recorded ids. Per-vocabulary counts
 *    are printed.
 * 2. Vectors whose vocabulary file is not in the fixtures (llama-bpe, qwen2,
 *    ...): run against a local model with the same tokenizer.ggml.pre when
 *    one is found in drux's model cache (tests/test_models.h), else skip.
 * 3. The real models SmolLM2-135M-Instruct and Gemma 3 270M against
 *    tests/data/tok/<model>.json, recorded from llama-cpp-python by
 *    tools/record_tok_vectors.py (skip when the model file is absent).
 * 4. A 31 KB hostile mixed corpus (tests/data/tok/mixed-corpus.bin: every
 *    plane, marks, unassigned code points, stray bytes, special-token texts)
 *    through every vocabulary above: the count and SHA-256 of the ids must
 *    equal llama-cpp-python's (tools/record_tok_digests.py).
 * 5. The hand-written pre-tokenizers against Python's regex engine running the
 *    original expressions (tests/data/tok/pretok.json): needs no model file.
 * 6. Small vocabularies built in code: behaviour that needs no files.
 */
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "core/limits.h"
#include "gguf/gguf.h"
#include "test.h"
#include "test_models.h"
#include "tok/pretok.h"
#include "tok/tok.h"

#define MAX_IDS 8192

static tok *load_tok(const char *path)
{
    gguf *g = NULL;
    tok *t = NULL;
    if (gguf_open(path, &g)) {
        printf("  cannot open %s: %s\n", path, dx_errmsg());
        return NULL;
    }
    if (tok_load(g, &t))
        printf("  tok_load %s: %s\n", path, dx_errmsg());
    gguf_close(g);
    return t;
}

static char *slurp(const char *path, size_t *len)
{
    char *s = NULL;
    if (dx_read_file(path, 64u << 20, &s, len))
        return NULL;
    return s;
}

/* Runs llama.cpp's .inp/.out vectors through t; returns failures, sets *total. */
static int run_vectors(tok *t, const char *inp_path, const char *out_path, int *total)
{
    size_t ni, no;
    char *inp = slurp(inp_path, &ni), *outp = slurp(out_path, &no);
    int fails = 0;
    *total = 0;
    if (!inp || !outp) {
        free(inp);
        free(outp);
        *total = -1;
        return 1;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = outp;
    int32_t *ids = malloc(MAX_IDS * sizeof *ids);
    for (;;) {
        char *q = strstr(p, sep);
        char *nl = strchr(line, '\n');
        if (!q || !nl)
            break;
        *q = 0;
        *nl = 0;
        size_t n = 0;
        char got[MAX_IDS * 8];
        size_t gl = 0;
        got[0] = 0;
        if (tok_encode(t, p, strlen(p), false, false, ids, MAX_IDS, &n) == DX_OK)
            for (size_t i = 0; i < n && gl + 16 < sizeof got; i++)
                gl += (size_t)snprintf(got + gl, sizeof got - gl, " %d", ids[i]);
        if (strcmp(got, line) != 0) {
            if (++fails <= 3)
                printf("  mismatch for \"%s\":\n    want%s\n    got %s\n", p, line, got);
        }
        (*total)++;
        p = q + sizeof sep - 1;
        line = nl + 1;
    }
    free(ids);
    free(inp);
    free(outp);
    return fails;
}

/* Vocabularies with vectors whose algorithm drux does not implement. */
static const struct {
    const char *vocab, *reason;
} known_skips[] = {
    {"chameleon", "the chameleon pre-tokenizer (image/sentinel tokens) is not implemented"},
};

static const char *known_skip(const char *vocab)
{
    for (size_t i = 0; i < sizeof known_skips / sizeof *known_skips; i++)
        if (!strcmp(known_skips[i].vocab, vocab))
            return known_skips[i].reason;
    return NULL;
}

TEST(fixture_vocab_vectors)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizer", test_shared_dir());
    DIR *d = opendir(dir);
    if (!d)
        SKIP("%s is absent", dir);
    int vocabs = 0, failed = 0;
    struct dirent *e;
    char names[64][64];
    int n_names = 0;
    while ((e = readdir(d)) && n_names < 64) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "ggml-vocab-", 11) || l < 16 || strcmp(e->d_name + l - 5, ".gguf"))
            continue;
        snprintf(names[n_names++], 64, "%.*s", (int)(l - 16), e->d_name + 11);
    }
    closedir(d);
    for (int i = 0; i < n_names; i++) {
        char gg[1200], in[1300], out[1300];
        snprintf(gg, sizeof gg, "%s/ggml-vocab-%.63s.gguf", dir, names[i]);
        snprintf(in, sizeof in, "%s.inp", gg);
        snprintf(out, sizeof out, "%s.out", gg);
        FILE *f = fopen(in, "rb");
        if (!f)
            continue; /* a vocabulary without vectors: see all_fixture_vocabs_load */
        fclose(f);
        const char *why = known_skip(names[i]);
        if (why) {
            printf("  vocab %-16s skipped: %s\n", names[i], why);
            continue;
        }
        tok *t = load_tok(gg);
        if (!t) {
            failed++;
            continue;
        }
        int total, fails = run_vectors(t, in, out, &total);
        printf("  vocab %-16s %d/%d strings exact\n", names[i], total - fails, total);
        vocabs++;
        if (fails || total <= 0)
            failed++;
        tok_free(t);
    }
    CHECK_MSG(vocabs > 0, "no vocabulary with vectors found in %s", dir);
    CHECK_MSG(failed == 0, "%d vocabularies differ from llama.cpp", failed);
}

TEST(all_fixture_vocabs_load)
{
    /* every vocabulary file loads and round-trips plain ASCII through pieces */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizer", test_shared_dir());
    DIR *d = opendir(dir);
    if (!d)
        SKIP("%s is absent", dir);
    struct dirent *e;
    int n = 0;
    const char *text = "The quick brown fox, 42 times.";
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf"))
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        tok *t = load_tok(path);
        if (!t) {
            closedir(d);
            CHECK_MSG(0, "%s does not load", e->d_name);
        }
        int32_t ids[256];
        size_t k;
        dx_status st = tok_encode(t, text, strlen(text), false, false, ids, 256, &k);
        char buf[512];
        size_t o = 0;
        for (size_t i = 0; st == DX_OK && i < k; i++)
            o += tok_piece(t, ids[i], false, buf + o, sizeof buf - o - 1);
        buf[o] = 0;
        /* SentencePiece and WordPiece add a leading space; WordPiece lowercases */
        const char *got = buf[0] == ' ' && text[0] != ' ' ? buf + 1 : buf;
        bool wpm = tok_model_of(t) == TOK_WPM;
        tok_free(t);
        if (!wpm && strcmp(got, text)) {
            closedir(d);
            CHECK_MSG(0, "%s: \"%s\" came back as \"%s\"", e->d_name, text, got);
        }
        n++;
    }
    closedir(d);
    CHECK(n > 0);
}

/* drux's model cache (or $DRUX_TEST_MODELS): where `make setup` puts the models. */
static const char *models_dir(void)
{
    static char buf[1024];
    const char *d = test_models_dir(buf, sizeof buf);
    return d ? d : "the drux model cache (absent)";
}

/* A local model whose tokenizer.ggml.pre is pre, or NULL. */
static char *find_model_with_pre(const char *pre)
{
    DIR *d = opendir(models_dir());
    if (!d)
        return NULL;
    struct dirent *e;
    char *found = NULL;
    while (!found && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", models_dir(), e->d_name);
        gguf *g;
        if (gguf_open(path, &g))
            continue;
        dx_str v;
        if (gguf_get_str(g, "tokenizer.ggml.pre", &v) && dx_str_eqc(v, pre))
            found = strdup(path);
        gguf_close(g);
    }
    closedir(d);
    return found;
}

TEST(vectors_without_fixture_vocab)
{
    static const char *const vocabs[] = {"llama-bpe",        "qwen2",       "command-r",
                                         "deepseek-r1-qwen", "roberta-bpe", "chameleon"};
    int ran = 0, missing = 0;
    for (size_t i = 0; i < sizeof vocabs / sizeof *vocabs; i++) {
        char in[1200], out[1200], buf[1100];
        snprintf(buf, sizeof buf, "fixtures/tokenizer/ggml-vocab-%s.gguf.inp", vocabs[i]);
        if (!test_shared_path(in, sizeof in, buf))
            continue;
        snprintf(out, sizeof out, "%.*s.out", (int)(strlen(in) - 4), in);
        const char *why = known_skip(vocabs[i]);
        if (why) {
            printf("  vocab %-16s skipped: %s\n", vocabs[i], why);
            continue;
        }
        char *model = find_model_with_pre(vocabs[i]);
        if (!model) {
            printf("  vocab %-16s skipped: no model with tokenizer.ggml.pre=%s in %s\n", vocabs[i],
                   vocabs[i], models_dir());
            missing++;
            continue;
        }
        tok *t = load_tok(model);
        CHECK_MSG(t, "%s does not load", model);
        int total, fails = run_vectors(t, in, out, &total);
        printf("  vocab %-16s %d/%d strings exact (%s)\n", vocabs[i], total - fails, total, model);
        tok_free(t);
        free(model);
        CHECK_MSG(fails == 0 && total > 0, "%s differs from llama.cpp", vocabs[i]);
        ran++;
    }
    if (!ran)
        SKIP("no local model matches the %d vocabularies whose vectors have no .gguf", missing);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Replays tests/data/tok/<json> against the model file; returns failures. */
static int run_recorded(const char *json_path, const char *model_path, int *total)
{
    json_error_t err;
    json_t *doc = json_load_file(json_path, 0, &err);
    *total = 0;
    if (!doc) {
        printf("  %s: %s\n", json_path, err.text);
        return 1;
    }
    tok *t = load_tok(model_path);
    if (!t) {
        json_decref(doc);
        return 1;
    }
    int fails = 0;
    json_t *cases = json_object_get(doc, "cases");
    size_t i;
    json_t *c;
    int32_t *ids = malloc(MAX_IDS * sizeof *ids);
    json_array_foreach(cases, i, c)
    {
        const char *hex = json_string_value(json_object_get(c, "hex"));
        size_t hl = hex ? strlen(hex) : 0;
        char *text = malloc(hl / 2 + 1);
        for (size_t k = 0; k + 1 < hl; k += 2)
            text[k / 2] = (char)(hexval(hex[k]) * 16 + hexval(hex[k + 1]));
        bool add = json_is_true(json_object_get(c, "add_special"));
        bool parse = json_is_true(json_object_get(c, "parse_special"));
        json_t *want = json_object_get(c, "ids");
        size_t n = 0;
        dx_status st = tok_encode(t, text, hl / 2, add, parse, ids, MAX_IDS, &n);
        bool ok = st == DX_OK && n == json_array_size(want);
        for (size_t k = 0; ok && k < n; k++)
            ok = ids[k] == json_integer_value(json_array_get(want, k));
        if (!ok && ++fails <= 5) {
            printf("  mismatch (add_special=%d parse_special=%d) for hex %s\n    want", add, parse,
                   hex);
            for (size_t k = 0; k < json_array_size(want); k++)
                printf(" %lld", (long long)json_integer_value(json_array_get(want, k)));
            printf("\n    got ");
            for (size_t k = 0; k < n && k < MAX_IDS; k++)
                printf(" %d", ids[k]);
            printf("\n");
        }
        free(text);
        (*total)++;
    }
    free(ids);
    tok_free(t);
    json_decref(doc);
    return fails;
}

static void recorded_model(const char *file, const char *json)
{
    char model[2048];
    snprintf(model, sizeof model, "%s/%s", models_dir(), file);
    FILE *f = fopen(model, "rb");
    if (!f)
        SKIP("%s is absent", model);
    fclose(f);
    int total, fails = run_recorded(json, model, &total);
    printf("  %s: %d/%d cases exact\n", file, total - fails, total);
    CHECK_MSG(total > 0, "no cases in %s", json);
    CHECK_MSG(fails == 0, "%d cases differ from llama.cpp", fails);
}

TEST(smollm2_matches_llama_cpp)
{
    recorded_model("SmolLM2-135M-Instruct.Q4_1.gguf", "tests/data/tok/smollm2-135m.json");
}

TEST(gemma3_matches_llama_cpp)
{
    recorded_model("gemma-3-270m-q4_k_m.gguf", "tests/data/tok/gemma3-270m.json");
}

static void sha256_ids(const int32_t *ids, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
        EVP_DigestUpdate(c, le, 4);
    }
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

TEST(mixed_corpus_digests)
{
    size_t len;
    char *text = slurp("tests/data/tok/mixed-corpus.bin", &len);
    CHECK(text);
    json_error_t err;
    json_t *doc = json_load_file("tests/data/tok/digests.json", 0, &err);
    if (!doc) {
        free(text);
        CHECK_MSG(0, "digests.json: %s", err.text);
    }
    int32_t *ids = malloc((len * 3 + 16) * sizeof *ids);
    const char *file;
    json_t *entry;
    int checked = 0, failed = 0, absent = 0;
    json_object_foreach(json_object_get(doc, "models"), file, entry)
    {
        char path[2048], rel[1100];
        snprintf(rel, sizeof rel, "fixtures/tokenizer/%s", file);
        if (!test_shared_path(path, sizeof path, rel)) {
            snprintf(path, sizeof path, "%s/%s", models_dir(), file);
            FILE *f = fopen(path, "rb");
            if (!f) {
                absent++;
                continue;
            }
            fclose(f);
        }
        tok *t = load_tok(path);
        if (!t) {
            failed++;
            continue;
        }
        for (int sp = 0; sp < 2; sp++) {
            json_t *want = json_object_get(entry, sp ? "special" : "plain");
            size_t n = 0;
            char hex[65] = "";
            if (tok_encode(t, text, len, true, sp, ids, len * 3 + 16, &n) == DX_OK)
                sha256_ids(ids, n, hex);
            bool ok = n == (size_t)json_integer_value(json_object_get(want, "n")) &&
                      !strcmp(hex, json_string_value(json_object_get(want, "sha256")));
            printf("  %-34s parse_special=%d %6zu ids %s\n", file, sp, n,
                   ok ? "identical" : "DIFFER from llama.cpp");
            failed += !ok;
            checked++;
        }
        tok_free(t);
    }
    free(ids);
    free(text);
    json_decref(doc);
    if (!checked)
        SKIP("none of the %d vocabularies is present", absent);
    CHECK_MSG(failed == 0, "%d of %d encodings differ (see tools/record_tok_digests.py)", failed,
              checked);
}

TEST(pretokenizers_match_the_regex_engine)
{
    /* needs no model: splits recorded from Python's regex engine running the
     * original expressions (tools/record_pretok_vectors.py) */
    json_error_t err;
    json_t *doc = json_load_file("tests/data/tok/pretok.json", 0, &err);
    CHECK_MSG(doc, "pretok.json: %s", err.text);
    const char *name;
    json_t *cases;
    int kinds = 0, fails = 0, total = 0;
    json_object_foreach(json_object_get(doc, "kinds"), name, cases)
    {
        const pretok_kind *k = pretok_find(name);
        if (!k) {
            json_decref(doc);
            CHECK_MSG(0, "no pre-tokenizer named %s", name);
        }
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c)
        {
            const char *text = json_string_value(json_object_get(c, "text"));
            json_t *want = json_object_get(c, "pieces");
            pretok_text t;
            bool ok = pretok_text_init(&t, text, strlen(text)) == DX_OK &&
                      pretok_split(k, &t) == DX_OK && t.n_seg == json_array_size(want);
            for (size_t s = 0; ok && s < t.n_seg; s++) {
                char piece[512];
                size_t o = 0;
                for (size_t p = t.seg[s].start; p < t.seg[s].end && o + 4 < sizeof piece; p++)
                    o += ucp_encode(t.cp[p], piece + o);
                piece[o] = 0;
                ok = !strcmp(piece, json_string_value(json_array_get(want, s)));
            }
            if (!ok && ++fails <= 5)
                printf("  %s splits \"%s\" differently (%zu pieces, want %zu)\n", name, text,
                       t.n_seg, json_array_size(want));
            pretok_text_free(&t);
            total++;
        }
        kinds++;
    }
    json_decref(doc);
    printf("  %d pre-tokenizers, %d/%d splits equal to the regex engine's\n", kinds, total - fails,
           total);
    CHECK(total > 100);
    CHECK_EQ_INT(fails, 0);
}

/* ---- small vocabularies built in code ---- */

static tok *tiny_spm(void)
{
    static const char *const words[] = {
        "<unk>",
        "<s>",
        "</s>",
        "<0x41>",
        "<0xE2>",
        "<0x96>",
        "<0x81>",
        "<0xC3>",
        "<0xA9>",
        "\xe2\x96\x81",
        "a",
        "b",
        "c",
        "\xe2\x96\x81"
        "a",
        "ab",
        "\xe2\x96\x81"
        "ab",
        "<|x|>",
    };
    static const int32_t types[] = {2, 3, 3, 6, 6, 6, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 3};
    static const float scores[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -3, -4, -5, 0};
    enum { N = sizeof words / sizeof *words };
    dx_str toks[N];
    for (int i = 0; i < N; i++)
        toks[i] = dx_str_c(words[i]);
    tok_spec s = tok_spec_make(TOK_SPM);
    s.n_vocab = N;
    s.tokens = toks;
    s.types = types;
    s.scores = scores;
    tok *t = NULL;
    if (tok_new(&s, &t))
        printf("  tok_new: %s\n", dx_errmsg());
    return t;
}

TEST(spm_merges_by_score_and_falls_back_to_bytes)
{
    tok *t = tiny_spm();
    CHECK(t);
    int32_t ids[16];
    size_t n;
    /* "ab": "▁a"+"b" scores -3... "ab" is -4, "▁ab" -5: merging picks the best
     * pair first (▁ a -> "▁a", -3), then "▁a"+"b" -> "▁ab" */
    CHECK_EQ_INT(tok_encode(t, "ab", 2, true, false, ids, 16, &n), DX_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[1], 15);
    /* "é" is not in the vocabulary: its two bytes become <0xC3> <0xA9> */
    CHECK_EQ_INT(tok_encode(t, "\xc3\xa9", 2, false, false, ids, 16, &n), DX_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(ids[0], 9);
    CHECK_EQ_INT(ids[1], 7);
    CHECK_EQ_INT(ids[2], 8);
    char buf[8];
    CHECK_EQ_INT(tok_piece(t, 7, false, buf, sizeof buf), 1);
    CHECK_EQ_INT((unsigned char)buf[0], 0xC3);
    CHECK_EQ_INT(tok_piece(t, 15, false, buf, sizeof buf), 3);
    CHECK(memcmp(buf, " ab", 3) == 0);
    tok_free(t);
}

TEST(special_tokens_only_when_asked)
{
    tok *t = tiny_spm();
    CHECK(t);
    int32_t ids[32];
    size_t n;
    CHECK_EQ_INT(tok_encode(t, "a<|x|>b", 7, false, true, ids, 32, &n), DX_OK);
    /* ▁a <|x|> ▁ b: text after a special token gets the space prefix again */
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(ids[0], 13);
    CHECK_EQ_INT(ids[1], 16);
    CHECK_EQ_INT(ids[2], 9);
    CHECK_EQ_INT(ids[3], 11);
    /* without parse_special the control token's text is plain text */
    CHECK_EQ_INT(tok_encode(t, "a<|x|>b", 7, false, false, ids, 32, &n), DX_OK);
    CHECK(n > 4);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] != 16);
    char buf[16];
    CHECK_EQ_INT(tok_piece(t, 16, false, buf, sizeof buf), 0);
    CHECK_EQ_INT(tok_piece(t, 16, true, buf, sizeof buf), 5);
    CHECK(tok_is_control(t, 16));
    CHECK(tok_is_eog(t, 2));
    CHECK(!tok_is_eog(t, 1));
    tok_free(t);
}

static tok *tiny_wpm(int lowercase)
{
    static const char *const words[] = {"[PAD]",
                                        "[UNK]",
                                        "[CLS]",
                                        "[SEP]",
                                        "\xe2\x96\x81hello",
                                        "\xe2\x96\x81Hello",
                                        "\xe2\x96\x81"
                                        "cafe",
                                        "\xe2\x96\x81"
                                        "caf",
                                        "\xc3\xa9",
                                        "\xe2\x96\x81!",
                                        "s"};
    enum { N = sizeof words / sizeof *words };
    dx_str toks[N];
    int32_t types[N];
    for (int i = 0; i < N; i++) {
        toks[i] = dx_str_c(words[i]);
        types[i] = i < 4 ? TOK_TYPE_CONTROL : TOK_TYPE_NORMAL;
    }
    tok_spec s = tok_spec_make(TOK_WPM);
    s.n_vocab = N;
    s.tokens = toks;
    s.types = types;
    s.lowercase = lowercase;
    s.bos = 2; /* [CLS] */
    s.sep = 3;
    s.unk = 1;
    tok *t = NULL;
    if (tok_new(&s, &t))
        printf("  tok_new: %s\n", dx_errmsg());
    return t;
}

TEST(wordpiece_normalizer_switches)
{
    /* default (uncased BERT): lower-cased, accents stripped, punctuation alone */
    tok *t = tiny_wpm(-1);
    CHECK(t);
    int32_t ids[16];
    size_t n;
    const char *text = "Hellos CAF\xc3\x89!";
    CHECK_EQ_INT(tok_encode(t, text, strlen(text), true, false, ids, 16, &n), DX_OK);
    int32_t want[] = {2, 4, 10, 6, 9, 3}; /* [CLS] ▁hello s ▁cafe ▁! [SEP] */
    CHECK_EQ_INT(n, 6);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(ids[i], want[i]);
    tok_free(t);
    /* cased: case and accents kept; an unmatched word is one [UNK] */
    t = tiny_wpm(0);
    CHECK(t);
    text = "Hellos caf\xc3\xa9 HELLO";
    CHECK_EQ_INT(tok_encode(t, text, strlen(text), false, false, ids, 16, &n), DX_OK);
    int32_t want2[] = {5, 10, 7, 8, 1}; /* ▁Hello s ▁caf é [UNK] */
    CHECK_EQ_INT(n, 5);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(ids[i], want2[i]);
    char buf[16];
    CHECK_EQ_INT(tok_piece(t, 5, false, buf, sizeof buf), 6);
    CHECK(memcmp(buf, " Hello", 6) == 0);
    tok_free(t);
}

TEST(encode_reports_needed_capacity)
{
    tok *t = tiny_spm();
    CHECK(t);
    int32_t ids[2];
    size_t n;
    CHECK_EQ_INT(tok_encode(t, "c c c", 5, true, false, ids, 2, &n), DX_ELIMIT);
    CHECK_EQ_INT(n, 7); /* BOS, then ▁ c ▁ c ▁ c: "▁c" is not in the vocabulary */
    CHECK(strstr(dx_errmsg(), "do not fit"));
    char big[16];
    CHECK_EQ_INT(tok_encode(t, big, (size_t)DX_MAX_PROMPT_BYTES + 1, false, false, ids, 2, &n),
                 DX_ELIMIT);
    tok_free(t);
}

TEST(bad_specs_fail_with_messages)
{
    tok *t = NULL;
    tok_spec s = tok_spec_make(TOK_BPE);
    dx_str one = DX_STR("a");
    s.n_vocab = 1;
    s.tokens = &one;
    CHECK_EQ_INT(tok_new(&s, &t), DX_EFORMAT); /* no merges */
    CHECK(strstr(dx_errmsg(), "merges"));
    dx_str merge = DX_STR("a a");
    s.merges = &merge;
    s.n_merges = 1;
    s.pre = "no-such-pretokenizer";
    CHECK_EQ_INT(tok_new(&s, &t), DX_EUNSUPPORTED);
    CHECK(strstr(dx_errmsg(), "no-such-pretokenizer"));
    s.pre = "gpt-2";
    s.add_bos = 1;
    s.bos = TOK_NONE;
    CHECK_EQ_INT(tok_new(&s, &t), DX_EFORMAT);
    CHECK(!t);
    s.n_vocab = 0;
    CHECK_EQ_INT(tok_new(&s, &t), DX_EFORMAT);
    tok_free(NULL);
}

int main(void)
{
    RUN(fixture_vocab_vectors);
    RUN(all_fixture_vocabs_load);
    RUN(vectors_without_fixture_vocab);
    RUN(smollm2_matches_llama_cpp);
    RUN(gemma3_matches_llama_cpp);
    RUN(mixed_corpus_digests);
    RUN(pretokenizers_match_the_regex_engine);
    RUN(spm_merges_by_score_and_falls_back_to_bytes);
    RUN(special_tokens_only_when_asked);
    RUN(wordpiece_normalizer_switches);
    RUN(encode_reports_needed_capacity);
    RUN(bad_specs_fail_with_messages);
    return test_summary();
}
