/*
 * test_chat — chat formatting against llama.cpp and real Jinja templates.
 *
 * tests/data/tok/chat.json (tools/record_chat_vectors.py) holds prompts made
 * by llama.cpp's built-in formats (llama_chat_apply_template) and by the
 * Jinja templates inside SmolLM2-135M-Instruct and the phi-3 fixture; drux
 * must produce the same bytes.
 */
#include <jansson.h>
#include <string.h>

#include "core/limits.h"
#include "gguf/gguf.h"
#include "test.h"
#include "test_models.h"
#include "tok/chat.h"
#include "tok/tok.h"

#define CHAT_JSON "tests/data/tok/chat.json"

static json_t *load_json(void)
{
    json_error_t err;
    json_t *doc = json_load_file(CHAT_JSON, 0, &err);
    if (!doc)
        printf("  %s: %s (line %d)\n", CHAT_JSON, err.text, err.line);
    return doc;
}

/* conversation name -> messages (pointing into the JSON document) */
static size_t conversation(json_t *doc, const char *name, chat_msg *m, size_t cap)
{
    json_t *c = json_object_get(json_object_get(doc, "conversations"), name);
    size_t n = 0, i;
    json_t *pair;
    json_array_foreach(c, i, pair)
    {
        if (n == cap)
            break;
        const char *role = json_string_value(json_array_get(pair, 0));
        m[n].role = !strcmp(role, "system") ? CHAT_SYSTEM
                    : !strcmp(role, "user") ? CHAT_USER
                                            : CHAT_ASSISTANT;
        m[n].content = json_string_value(json_array_get(pair, 1));
        n++;
    }
    return n;
}

static bool tmpl_for_builtin(const char *name, chat_tmpl *ct)
{
    static const struct {
        const char *name;
        enum chat_family f;
        bool sys, bos_inside, strip, v1, tekken, trim;
    } map[] = {
        {"chatml", CHAT_CHATML, 0, 0, 0, 0, 0, 0},
        {"llama3", CHAT_LLAMA3, 0, 0, 0, 0, 0, 0},
        {"gemma", CHAT_GEMMA, 0, 0, 0, 0, 0, 0},
        {"phi3", CHAT_PHI3, 0, 0, 0, 0, 0, 0},
        {"zephyr", CHAT_ZEPHYR, 0, 0, 0, 0, 0, 0},
        {"llama2", CHAT_LLAMA2, 0, 0, 0, 0, 0, 0},
        {"llama2-sys", CHAT_LLAMA2, 1, 0, 0, 0, 0, 0},
        {"llama2-sys-bos", CHAT_LLAMA2, 1, 1, 0, 0, 0, 0},
        {"llama2-sys-strip", CHAT_LLAMA2, 1, 0, 1, 0, 0, 0},
        {"mistral-v1", CHAT_MISTRAL, 0, 0, 0, 1, 0, 0},
        {"mistral-v3", CHAT_MISTRAL, 0, 0, 0, 0, 0, 1},
        {"mistral-v3-tekken", CHAT_MISTRAL, 0, 0, 0, 0, 1, 0},
        {"mistral-v7", CHAT_MISTRAL7, 0, 0, 0, 0, 0, 0},
        {"mistral-v7-tekken", CHAT_MISTRAL7, 0, 0, 0, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(map[i].name, name))
            continue;
        *ct = chat_tmpl_of(map[i].f);
        ct->llama2_sys = map[i].sys;
        ct->llama2_bos_inside = map[i].bos_inside;
        ct->llama2_strip = map[i].strip;
        ct->mistral_v1 = map[i].v1;
        ct->mistral_tekken = map[i].tekken;
        ct->mistral_trim = map[i].trim;
        return true;
    }
    return false;
}

static void show_diff(const char *want, const char *got)
{
    printf("    want: ");
    for (const char *p = want; *p; p++)
        printf(*p == '\n' ? "\\n" : "%c", *p);
    printf("\n    got:  ");
    for (const char *p = got; *p; p++)
        printf(*p == '\n' ? "\\n" : "%c", *p);
    printf("\n");
}

TEST(builtin_formats_match_llama_cpp)
{
    json_t *doc = load_json();
    CHECK(doc);
    json_t *cases = json_object_get(doc, "builtin");
    size_t i, fails = 0, total = 0;
    json_t *c;
    dx_buf b = dx_buf_make(1 << 20);
    json_array_foreach(cases, i, c)
    {
        const char *fmt = json_string_value(json_object_get(c, "format"));
        const char *conv = json_string_value(json_object_get(c, "conversation"));
        bool gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        const char *want = json_string_value(json_object_get(c, "prompt"));
        chat_tmpl ct;
        if (!tmpl_for_builtin(fmt, &ct)) {
            printf("  no drux family for format %s\n", fmt);
            fails++;
            continue;
        }
        chat_msg m[16];
        size_t n = conversation(doc, conv, m, 16);
        dx_buf_clear(&b);
        dx_status st = chat_format(&ct, m, n, gen, &b);
        total++;
        if (st || strcmp(b.data ? b.data : "", want)) {
            if (++fails <= 5) {
                printf("  %s / %s / gen=%d:\n", fmt, conv, gen);
                show_diff(want, b.data ? b.data : "");
            }
        }
    }
    printf("  %zu/%zu built-in prompts exact\n", total - fails, total);
    dx_buf_free(&b);
    json_decref(doc);
    CHECK(total > 100);
    CHECK_EQ_INT(fails, 0);
}

/* drux's model cache (or $DRUX_TEST_MODELS): where `make setup` puts the models. */
static const char *models_dir(void)
{
    static char buf[1024];
    const char *d = test_models_dir(buf, sizeof buf);
    return d ? d : "the drux model cache (absent)";
}

/* Opens the model file a jinja case was recorded from; NULL if absent. */
static gguf *open_model(const char *file)
{
    char path[2048];
    gguf *g = NULL;
    snprintf(path, sizeof path, "%s/%s", models_dir(), file);
    if (gguf_open(path, &g) == DX_OK)
        return g;
    snprintf(path, sizeof path, "%s/fixtures/tokenizer/%s", test_shared_dir(), file);
    if (gguf_open(path, &g) == DX_OK)
        return g;
    return NULL;
}

static void jinja_model(const char *file, enum chat_family want_family, bool system_dropped)
{
    json_t *doc = load_json();
    CHECK(doc);
    gguf *g = open_model(file);
    if (!g) {
        json_decref(doc);
        SKIP("%s is absent", file);
    }
    dx_str src;
    CHECK(gguf_get_str(g, "tokenizer.chat_template", &src));
    chat_tmpl ct;
    chat_tmpl_detect(src, &ct);
    gguf_close(g);
    CHECK_STR(chat_family_name(ct.family), chat_family_name(want_family));

    size_t i, total = 0, same = 0, known = 0;
    json_t *c;
    dx_buf b = dx_buf_make(1 << 20);
    json_array_foreach(json_object_get(doc, "jinja"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "model")), file))
            continue;
        const char *conv = json_string_value(json_object_get(c, "conversation"));
        bool gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        const char *want = json_string_value(json_object_get(c, "prompt"));
        chat_msg m[16];
        size_t n = conversation(doc, conv, m, 16);
        bool has_system = false;
        for (size_t k = 0; k < n; k++)
            has_system |= m[k].role == CHAT_SYSTEM;
        dx_buf_clear(&b);
        CHECK_EQ_INT(chat_format(&ct, m, n, gen, &b), DX_OK);
        total++;
        /* phi-3-mini's template drops system turns and always opens the
         * assistant turn; drux formats as llama.cpp's built-in phi3 does */
        if (system_dropped && (has_system || !gen)) {
            known++;
            continue;
        }
        if (strcmp(b.data, want)) {
            printf("  %s / %s / gen=%d:\n", file, conv, gen);
            show_diff(want, b.data);
            dx_buf_free(&b);
            json_decref(doc);
            CHECK_MSG(0, "prompt differs from the model's template");
        }
        same++;
    }
    printf("  %s: %zu/%zu prompts exact, %zu known template differences\n", file, same, total,
           known);
    dx_buf_free(&b);
    json_decref(doc);
    CHECK(same > 0);
}

TEST(smollm2_template_is_chatml_with_default_system)
{
    jinja_model("SmolLM2-135M-Instruct.Q4_1.gguf", CHAT_CHATML, false);
}

TEST(phi3_template_matches_where_it_keeps_turns)
{
    jinja_model("ggml-vocab-phi-3.gguf", CHAT_PHI3, true);
}

TEST(smollm2_stops_are_eog_tokens)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models_dir());
    gguf *g;
    if (gguf_open(path, &g))
        SKIP("%s is absent", path);
    tok *t = NULL;
    dx_status st = tok_load(g, &t);
    dx_str src = {0};
    gguf_get_str(g, "tokenizer.chat_template", &src);
    chat_tmpl ct;
    chat_tmpl_detect(src, &ct);
    gguf_close(g);
    CHECK_EQ_INT(st, DX_OK);
    const char *const *stops = chat_stops(&ct);
    CHECK(stops[0]);
    for (size_t i = 0; stops[i]; i++) {
        int32_t id = tok_find(t, stops[i]);
        CHECK_MSG(id >= 0, "stop %s is not a token", stops[i]);
        CHECK_MSG(tok_is_eog(t, id), "stop %s does not end generation", stops[i]);
    }
    /* the formatted prompt tokenizes its markers as single special tokens */
    chat_msg m[] = {{CHAT_USER, "Hi"}};
    dx_buf b = dx_buf_make(4096);
    CHECK_EQ_INT(chat_format(&ct, m, 1, true, &b), DX_OK);
    int32_t ids[256];
    size_t n;
    CHECK_EQ_INT(tok_encode(t, b.data, b.len, true, true, ids, 256, &n), DX_OK);
    CHECK_EQ_INT(ids[0], tok_find(t, "<|im_start|>"));
    /* ... <|im_start|> "ass" "istant" "\n", as llama.cpp tokenizes it */
    CHECK(n > 4);
    CHECK_EQ_INT(ids[n - 4], tok_find(t, "<|im_start|>"));
    CHECK_EQ_INT(ids[n - 1], tok_find(t, "\xc4\x8a")); /* "\n" as byte-level BPE writes it */
    dx_buf_free(&b);
    tok_free(t);
}

TEST(detects_families_by_markers)
{
    static const struct {
        const char *tmpl, *family;
    } cases[] = {
        {"", "none"},
        {"{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
         "chatml"},
        {"{{ '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content + '<|eot_id|>' }}",
         "llama3"},
        {"{{ '<start_of_turn>' + role + '\n' + content + '<end_of_turn>\n' }}", "gemma"},
        {"{{ '<|user|>\n' + content + '<|end|>\n<|assistant|>\n' }}", "phi3"},
        {"{{ '<|user|>\n' + content + '<|endoftext|>' }}", "zephyr"},
        {"{{ bos_token + '[INST] ' + content + ' [/INST]' }}", "llama2"},
        {"[SYSTEM_PROMPT]{{ system }}[/SYSTEM_PROMPT][INST]", "mistral-v7"},
        {"{{ '[AVAILABLE_TOOLS]' }}[INST]", "mistral"},
        {"{{ '<|im_start|>' + role + '<|im_sep|>' }}", "unknown"},
        {"{% for message in messages %}{{ message.content }}{% endfor %}", "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        chat_tmpl ct;
        chat_tmpl_detect(dx_str_c(cases[i].tmpl), &ct);
        CHECK_STR(chat_family_name(ct.family), cases[i].family);
        CHECK(chat_family_from_name(cases[i].family) == ct.family);
    }
    chat_tmpl ct;
    chat_tmpl_detect(DX_STR("[INST] <<SYS>>\\n' + content.strip() + '"), &ct);
    CHECK(ct.family == CHAT_LLAMA2 && ct.llama2_sys && ct.llama2_strip);
    /* a ChatML default system prompt written with a "\n" escape */
    chat_tmpl_detect(DX_STR("{{ '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}<|im_start|>"),
                     &ct);
    CHECK_STR(ct.default_system, "You are Qwen.");
    /* Qwen2.5's shape: a tools branch writes the header first, the default comes later */
    chat_tmpl_detect(
        DX_STR("{%- if tools %}{{- '<|im_start|>system\\n' }}{{- messages[0]['content'] }}"
               "{{- '<|im_end|>' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, "
               "created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"),
        &ct);
    CHECK_STR(ct.default_system,
              "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    /* template code after the header is not a default prompt */
    chat_tmpl_detect(DX_STR("'<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>'"),
                     &ct);
    CHECK_STR(ct.default_system, "");
}

TEST(base_model_gets_question_answer_prompt)
{
    chat_tmpl ct = chat_tmpl_of(CHAT_NONE);
    chat_msg m[] = {
        {CHAT_SYSTEM, "Answer briefly."},
        {CHAT_USER, " What is the capital of France? "},
        {CHAT_ASSISTANT, "Paris."},
        {CHAT_USER, "And of Italy?"},
    };
    dx_buf b = dx_buf_make(4096);
    CHECK_EQ_INT(chat_format(&ct, m, 4, true, &b), DX_OK);
    CHECK_STR(b.data, "Answer briefly.\n\nQuestion: What is the capital of France?\nAnswer: "
                      "Paris.\n\nQuestion: And of Italy?\nAnswer:");
    const char *const *s = chat_stops(&ct);
    CHECK_STR(s[0], "\n\n");
    CHECK_STR(s[1], "\nQuestion:");
    CHECK(s[2] == NULL);
    dx_buf_free(&b);
}

TEST(errors_leave_the_buffer_as_it_was)
{
    chat_tmpl ct = chat_tmpl_of(CHAT_CHATML);
    chat_msg m[] = {{CHAT_USER, "a fairly long question that will not fit"}};
    dx_buf b = dx_buf_make(32);
    CHECK_EQ_INT(dx_buf_puts(&b, "keep"), DX_OK);
    CHECK_EQ_INT(chat_format(&ct, m, 1, true, &b), DX_ELIMIT);
    CHECK_STR(b.data, "keep");
    chat_msg bad[] = {{CHAT_USER, NULL}};
    CHECK_EQ_INT(chat_format(&ct, bad, 1, true, &b), DX_EARG);
    chat_msg badrole[] = {{(enum chat_role)7, "x"}};
    CHECK_EQ_INT(chat_format(&ct, badrole, 1, true, &b), DX_EARG);
    chat_tmpl unk = chat_tmpl_of(CHAT_UNKNOWN);
    CHECK_EQ_INT(chat_format(&unk, m, 1, true, &b), DX_EUNSUPPORTED);
    CHECK(strstr(dx_errmsg(), "chat template"));
    CHECK_EQ_INT(chat_format(&ct, m, (size_t)DX_MAX_CHAT_MESSAGES + 1, true, &b), DX_ELIMIT);
    CHECK_STR(b.data, "keep");
    dx_buf_free(&b);
}

int main(void)
{
    RUN(builtin_formats_match_llama_cpp);
    RUN(smollm2_template_is_chatml_with_default_system);
    RUN(phi3_template_matches_where_it_keeps_turns);
    RUN(smollm2_stops_are_eog_tokens);
    RUN(detects_families_by_markers);
    RUN(base_model_gets_question_answer_prompt);
    RUN(errors_leave_the_buffer_as_it_was);
    return test_summary();
}
