/*
 * tok_gguf — tok_load: reads the tokenizer.* arrays and keys of a GGUF file
 * and hands them to tok_new. Kept apart from tok.c so that code using only
 * tok_new (tests, fuzzing) does not pull in the GGUF reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tok/tok.h"

static void get_id(const gguf *g, const char *key, int64_t *out)
{
    int64_t v;
    if (gguf_get_i64(g, key, &v))
        *out = v < 0 ? TOK_NONE : v;
}

static void get_flag(const gguf *g, const char *key, int *out)
{
    bool b;
    if (gguf_get_bool(g, key, &b))
        *out = b;
}

/* Copy a numeric array of n elements of type want (4-byte) into a new buffer. */
static dx_status get_arr4(const gguf *g, const char *key, enum gguf_vtype want, uint32_t n,
                          void **out)
{
    enum gguf_vtype elem;
    uint64_t count;
    const void *data;
    *out = NULL;
    if (!gguf_get_arr(g, key, &elem, &count, &data))
        return gguf_find_key(g, key) >= 0 ? dx_fail(DX_EFORMAT, "tok: %s is not an array", key)
                                          : DX_OK;
    if (elem != want)
        return dx_fail(DX_EFORMAT, "tok: %s has elements of type %s, expected %s", key,
                       gguf_vtype_name(elem), gguf_vtype_name(want));
    if (count < n)
        return dx_fail(DX_EFORMAT, "tok: %s has %llu entries for %u tokens", key,
                       (unsigned long long)count, n);
    *out = malloc((size_t)n * 4 + 4);
    if (!*out)
        return dx_fail(DX_ENOMEM, "tok: out of memory reading %s", key);
    memcpy(*out, data, (size_t)n * 4);
    return DX_OK;
}

/* tokenizer.ggml.model: llama (SentencePiece), gpt2 (BPE) or bert (WordPiece). */
static dx_status read_model(const gguf *g, enum tok_model *m)
{
    dx_str model;
    if (!gguf_get_str(g, "tokenizer.ggml.model", &model))
        return dx_fail(DX_EFORMAT, "tok: the file has no tokenizer.ggml.model");
    if (dx_str_eqc(model, "llama"))
        *m = TOK_SPM;
    else if (dx_str_eqc(model, "gpt2"))
        *m = TOK_BPE;
    else if (dx_str_eqc(model, "bert"))
        *m = TOK_WPM;
    else
        return dx_fail(DX_EUNSUPPORTED,
                       "tok: tokenizer model '%.*s' is not supported (llama, gpt2 and bert are)",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    return DX_OK;
}

/* The pre-tokenizer and model names (copied into pre and name), the special
 * token ids and the flags, where the file has them. */
static void read_options(const gguf *g, tok_spec *s, char pre[128], char name[256])
{
    dx_str v;
    if (gguf_get_str(g, "tokenizer.ggml.pre", &v)) {
        snprintf(pre, 128, "%.*s", (int)(v.len < 128 ? v.len : 127), v.ptr);
        s->pre = pre;
    }
    if (gguf_get_str(g, "general.name", &v)) {
        snprintf(name, 256, "%.*s", (int)(v.len < 256 ? v.len : 255), v.ptr);
        s->name = name;
    }
    get_id(g, "tokenizer.ggml.bos_token_id", &s->bos);
    get_id(g, "tokenizer.ggml.eos_token_id", &s->eos);
    get_id(g, "tokenizer.ggml.eot_token_id", &s->eot);
    get_id(g, "tokenizer.ggml.eom_token_id", &s->eom);
    get_id(g, "tokenizer.ggml.unknown_token_id", &s->unk);
    get_id(g, "tokenizer.ggml.seperator_token_id", &s->sep); /* sic: the key's spelling */
    get_id(g, "tokenizer.ggml.padding_token_id", &s->pad);
    get_flag(g, "tokenizer.ggml.add_bos_token", &s->add_bos);
    get_flag(g, "tokenizer.ggml.add_eos_token", &s->add_eos);
    get_flag(g, "tokenizer.ggml.add_space_prefix", &s->add_space_prefix);
    get_flag(g, "tokenizer.ggml.normalizer.lowercase", &s->lowercase);
    get_flag(g, "tokenizer.ggml.normalizer.strip_accents", &s->strip_accents);
}

dx_status tok_load(const gguf *g, tok **out)
{
    dx_status st = DX_OK;
    float *scores = NULL;
    int32_t *types = NULL;
    char pre[128] = "", name[256] = "";
    *out = NULL;

    enum tok_model m = TOK_SPM;
    if ((st = read_model(g, &m)))
        return st;
    tok_spec s = tok_spec_make(m);

    const dx_str *tokens;
    uint64_t n_tokens;
    if (!gguf_get_arr_str(g, "tokenizer.ggml.tokens", &tokens, &n_tokens))
        return dx_fail(DX_EFORMAT, "tok: the file has no string array tokenizer.ggml.tokens");
    if (n_tokens > UINT32_MAX)
        return dx_fail(DX_ELIMIT, "tok: %llu tokens", (unsigned long long)n_tokens);
    s.n_vocab = (uint32_t)n_tokens;
    s.tokens = tokens;

    if ((st = get_arr4(g, "tokenizer.ggml.scores", GGUF_F32, s.n_vocab, (void **)&scores)))
        goto out;
    if ((st = get_arr4(g, "tokenizer.ggml.token_type", GGUF_I32, s.n_vocab, (void **)&types)))
        goto out;
    s.scores = scores;
    s.types = types;

    if (m == TOK_BPE) {
        const dx_str *merges;
        uint64_t n_merges;
        if (!gguf_get_arr_str(g, "tokenizer.ggml.merges", &merges, &n_merges)) {
            st = dx_fail(DX_EFORMAT, "tok: a gpt2 tokenizer needs tokenizer.ggml.merges");
            goto out;
        }
        if (n_merges > UINT32_MAX) {
            st = dx_fail(DX_ELIMIT, "tok: %llu merges", (unsigned long long)n_merges);
            goto out;
        }
        s.merges = merges;
        s.n_merges = (uint32_t)n_merges;
    }
    read_options(g, &s, pre, name);
    st = tok_new(&s, out);
out:
    free(scores);
    free(types);
    return st;
}
