/*
 * pretok — the pre-tokenizers of byte-level BPE, written by hand (no regex
 * library), plus the few Unicode helpers the tokenizers share.
 *
 * A BPE vocabulary names its pre-tokenizer in `tokenizer.ggml.pre`; each name
 * stands for an ordered list of regular expressions that llama.cpp applies to
 * the text, each one splitting every piece the previous one produced. Here
 * each expression is a small matcher function over code points with Unicode
 * categories from utf8proc, so the split is the same without a regex engine.
 *
 *     const pretok_kind *k = pretok_find("llama-bpe");
 *     pretok_text t;
 *     if (pretok_text_init(&t, text, len)) ...;        // decode UTF-8
 *     if (pretok_split(k, &t)) ...;                      // t.seg[i] = [start, end)
 *     pretok_text_free(&t);
 *
 * Internal to src/tok/. Functions are thread-safe (no shared state).
 */
#ifndef DX_TOK_PRETOK_H
#define DX_TOK_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Category flags of one code point (llama.cpp's \p{..} classes and \s). */
enum {
    UCP_L = 1 << 0,  /* letter */
    UCP_N = 1 << 1,  /* number */
    UCP_P = 1 << 2,  /* punctuation */
    UCP_S = 1 << 3,  /* symbol */
    UCP_M = 1 << 4,  /* mark */
    UCP_Z = 1 << 5,  /* separator */
    UCP_C = 1 << 6,  /* control, format, private use, surrogate */
    UCP_U = 1 << 7,  /* unassigned (llama.cpp's "undefined": not \p{C}) */
    UCP_WS = 1 << 8, /* Unicode White_Space */
};

unsigned ucp_flags(uint32_t cp);
uint32_t ucp_tolower(uint32_t cp);

/* Decode one code point the way llama.cpp does: lenient about overlong forms
 * and surrogates, but a byte that starts no valid sequence (or a value past
 * U+10FFFF) becomes U+FFFD and consumes one byte. Returns bytes consumed. */
size_t ucp_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF, surrogates allowed) into out[4]; returns length. */
size_t ucp_encode(uint32_t cp, char *out);

typedef struct pretok_seg {
    size_t start, end; /* code point indices, [start, end) */
} pretok_seg;

typedef struct pretok_text {
    uint32_t *cp; /* code points */
    uint16_t *fl; /* ucp_flags of each */
    size_t n;
    pretok_seg *seg; /* pieces after pretok_split */
    size_t n_seg, cap_seg;
} pretok_text;

typedef struct pretok_kind pretok_kind;

/* The pre-tokenizer for a `tokenizer.ggml.pre` name, or NULL if unknown. */
const pretok_kind *pretok_find(const char *name);
/* Whether the kind wants whole-word vocabulary hits to skip merging (llama3). */
bool pretok_ignore_merges(const pretok_kind *k);
/* Whether the kind forces add_bos on by default (llama3 family). */
bool pretok_default_bos(const pretok_kind *k);
/* Names accepted by pretok_find, for error messages: "a, b, c". */
const char *pretok_names(void);

dx_status pretok_text_init(pretok_text *t, const char *s, size_t len);
void pretok_text_free(pretok_text *t);
/* Split t into pieces (t->seg); one piece covering everything to begin with. */
dx_status pretok_split(const pretok_kind *k, pretok_text *t);

#endif
