/*
 * tok — text to token ids and back, for the vocabularies GGUF models carry.
 *
 * Three algorithms, chosen by `tokenizer.ggml.model`, each reproducing what
 * llama.cpp does so a model sees the ids it was trained with:
 *   "llama"  SentencePiece-style: score-driven merging of UTF-8 characters,
 *            the ▁ space marker, byte fallback to <0xNN> tokens;
 *   "gpt2"   byte-level BPE: a pre-tokenizer picked by `tokenizer.ggml.pre`
 *            (see pretok.h), bytes mapped to printable characters, merges
 *            applied by rank;
 *   "bert"   WordPiece: lower-cased, accents stripped, greedy longest match.
 * Special tokens (control, user-defined) are cut out of the text first; see
 * tok_encode.
 *
 *     tok *t;
 *     if (tok_load(g, &t)) { puts(dx_errmsg()); ... }
 *     int32_t ids[512]; size_t n;
 *     if (tok_encode(t, "Hello", 5, true, false, ids, 512, &n)) ...;
 *     char piece[64];
 *     size_t len = tok_piece(t, ids[0], false, piece, sizeof piece);
 *     tok_free(t);
 *
 * A tok is immutable once built: every function may be called from several
 * threads at once.
 */
#ifndef DX_TOK_H
#define DX_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/str.h"

typedef struct gguf gguf;
typedef struct tok tok;

enum tok_model { TOK_SPM = 1, TOK_BPE = 2, TOK_WPM = 3 };

/* Token types as GGUF stores them in tokenizer.ggml.token_type. */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6
};

#define TOK_ID_DEFAULT (-2) /* in tok_spec: use the model type's default */
#define TOK_NONE (-1)       /* no such token */

/* Everything a tokenizer is built from: plain arrays, as GGUF stores them.
 * tok_new copies what it keeps; the arrays may be freed afterwards. */
typedef struct tok_spec {
    enum tok_model model;
    const char *pre;  /* BPE pre-tokenizer name; NULL = "default" */
    const char *name; /* general.name or NULL (a few per-model rules) */
    uint32_t n_vocab;
    const dx_str *tokens; /* n_vocab token texts */
    const float *scores;  /* n_vocab scores, or NULL (all 0) */
    const int32_t *types; /* n_vocab enum tok_type, or NULL (all normal) */
    uint32_t n_merges;
    const dx_str *merges;                      /* BPE "left right", best rank first */
    int64_t bos, eos, eot, eom, unk, sep, pad; /* ids, TOK_NONE or TOK_ID_DEFAULT */
    int add_bos, add_eos, add_space_prefix;    /* 0, 1, or -1 = model default */
    int lowercase, strip_accents;              /* WordPiece normalizer; -1 = default (on;
                                                  strip_accents follows lowercase) */
} tok_spec;

/* A spec with no arrays, every id TOK_ID_DEFAULT and every flag -1. */
tok_spec tok_spec_make(enum tok_model model);

/* Build a tokenizer from arrays. DX_EFORMAT/DX_EUNSUPPORTED/DX_ELIMIT with a
 * message for a vocabulary that can't be used. The caller frees *out. */
dx_status tok_new(const tok_spec *spec, tok **out);
/* Build a tokenizer from a GGUF file's tokenizer.* metadata (tokens, scores,
 * token types, merges, pre, special ids and add_* flags). */
dx_status tok_load(const gguf *g, tok **out);
void tok_free(tok *t); /* NULL is a no-op */

/* Encode len bytes of text. add_special adds BOS/EOS as the vocabulary asks;
 * parse_special lets control tokens written in the text (e.g. "<|im_end|>")
 * become those tokens (user-defined tokens always do, as in llama.cpp).
 * Writes up to cap ids; when they don't fit, returns DX_ELIMIT and sets *n to
 * the count needed (ids may be NULL with cap 0 just to count). Invalid UTF-8 never fails
 * (byte-level BPE sees U+FFFD for a bad byte, as llama.cpp does; SentencePiece falls back to byte
 * tokens). */
dx_status tok_encode(const tok *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *ids, size_t cap, size_t *n);

/* The bytes one token stands for in output text (▁ as space, byte tokens as
 * raw bytes, byte-level BPE decoded). Control tokens give "" unless special.
 * Returns the piece length; writes min(len, cap) bytes (no NUL). An id out of
 * range gives 0. */
size_t tok_piece(const tok *t, int32_t id, bool special, char *buf, size_t cap);

uint32_t tok_n_vocab(const tok *t);
enum tok_model tok_model_of(const tok *t);
int32_t tok_bos(const tok *t);  /* TOK_NONE if the vocabulary has none */
bool tok_add_bos(const tok *t); /* whether add_special prepends BOS */
/* End of generation: EOS, EOT, EOM and the end-of-turn tokens llama.cpp
 * recognises by their text ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"...). */
bool tok_is_eog(const tok *t, int32_t id);
bool tok_is_control(const tok *t, int32_t id);
/* Exact vocabulary lookup of a NUL-terminated text; TOK_NONE if absent. */
int32_t tok_find(const tok *t, const char *text);

#endif
