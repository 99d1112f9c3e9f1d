/*
 * fuzz_tok — libFuzzer target: encode arbitrary bytes with several
 * vocabularies and decode the ids back through tok_piece.
 *
 * The first input byte picks the vocabulary (low 3 bits) and whether special
 * tokens are parsed (bit 3); the rest is the text. Vocabularies: a small
 * byte-level BPE built here (always), and the fixture vocabularies from
 * ../shared (or $DRUX_SHARED) when present: gpt-2, mpt, deepseek-llm (BPE),
 * llama-spm (SentencePiece), bert-bge (WordPiece).
 *
 * Checks: encoding never fails except by a limit, every id is in range, and
 * for byte-level BPE the pieces of valid UTF-8 text put back together give
 * the text exactly (invalid UTF-8 is replaced by U+FFFD before BPE, as in
 * llama.cpp, so it can't round-trip and is only required not to crash).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "gguf/gguf.h"
#include "tok/tok.h"

#define N_VOCABS 6

static tok *vocabs[N_VOCABS];
static int loaded;

/* A byte-level BPE vocabulary: the 256 byte stand-ins and a few merges. */
static tok *builtin_bpe(void)
{
    static char chars[256][3];
    static dx_str toks[256 + 4];
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int cp = printable ? b : 256 + extra++;
        if (cp < 0x80) {
            chars[b][0] = (char)cp;
            toks[b] = (dx_str){chars[b], 1};
        } else {
            chars[b][0] = (char)(0xC0 | (cp >> 6));
            chars[b][1] = (char)(0x80 | (cp & 0x3F));
            toks[b] = (dx_str){chars[b], 2};
        }
    }
    toks[256] = DX_STR("he");
    toks[257] = DX_STR("\xc4\xa0t"); /* "Ġt" */
    toks[258] = DX_STR("\xc4\xa0the");
    toks[259] = DX_STR("<|end|>");
    static const dx_str merges[] = {DX_STR("h e"), DX_STR("\xc4\xa0 t"), DX_STR("\xc4\xa0t he")};
    static int32_t types[260];
    for (int i = 0; i < 260; i++)
        types[i] = i == 259 ? TOK_TYPE_CONTROL : TOK_TYPE_NORMAL;
    tok_spec s = tok_spec_make(TOK_BPE);
    s.pre = "llama-bpe";
    s.n_vocab = 260;
    s.tokens = toks;
    s.types = types;
    s.merges = merges;
    s.n_merges = 3;
    s.bos = TOK_NONE;
    s.add_bos = 0;
    tok *t = NULL;
    if (tok_new(&s, &t))
        __builtin_trap();
    return t;
}

static tok *fixture(const char *name)
{
    const char *dir = getenv("DRUX_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/tokenizer/ggml-vocab-%s.gguf",
             dir && *dir ? dir : "../shared", name);
    gguf *g;
    if (gguf_open(path, &g))
        return NULL;
    tok *t = NULL;
    if (tok_load(g, &t))
        __builtin_trap(); /* the fixtures are known-good */
    gguf_close(g);
    return t;
}

static void load_all(void)
{
    vocabs[0] = builtin_bpe();
    vocabs[1] = fixture("gpt-2");
    vocabs[2] = fixture("mpt");
    vocabs[3] = fixture("deepseek-llm");
    vocabs[4] = fixture("llama-spm");
    vocabs[5] = fixture("bert-bge");
    loaded = 1;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
        if (l <= 0)
            return false;
        i += (size_t)l;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loaded)
        load_all();
    if (size < 1)
        return 0;
    tok *t = vocabs[(data[0] & 7) % N_VOCABS];
    if (!t)
        t = vocabs[0];
    bool parse_special = data[0] & 8;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    size_t cap = len * 3 + 8, n = 0; /* an invalid byte is U+FFFD: 3 byte tokens */
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return 0;
    if (tok_encode(t, text, len, true, parse_special, ids, cap, &n))
        __builtin_trap(); /* at most 3 tokens per byte (+BOS/EOS) */
    uint32_t nv = tok_n_vocab(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= nv)
            __builtin_trap();

    /* decode: measure, then write */
    size_t skip = n && tok_add_bos(t) && ids[0] == tok_bos(t) ? 1 : 0, total = 0, o = 0;
    for (size_t i = skip; i < n; i++)
        total += tok_piece(t, ids[i], true, NULL, 0);
    char *out = malloc(total + 1);
    for (size_t i = skip; out && i < n; i++)
        o += tok_piece(t, ids[i], true, out + o, total - o);
    if (o != total)
        __builtin_trap(); /* measuring and writing agree */
    if (out && tok_model_of(t) == TOK_BPE && valid_utf8(data + 1, len))
        if (o != len || memcmp(out, text, len) != 0)
            __builtin_trap(); /* byte-level BPE must round-trip */
    free(out);
    free(ids);
    return 0;
}
