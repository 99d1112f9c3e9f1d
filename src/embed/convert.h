/*
 * convert — Hugging Face model folders to GGUF files drux (and llama.cpp) run.
 *
 * Sentence-embedding models travel as a folder: config.json, model.safetensors,
 * vocab.txt (or tokenizer.json), and for sentence-transformers models
 * modules.json + 1_Pooling/config.json saying how token vectors become one
 * sentence vector. cvt_bert_dir writes one GGUF of architecture `bert` with
 * llama.cpp's tensor names and keys, plus the pooling mode, the WordPiece
 * vocabulary in llama.cpp's form (word-initial pieces prefixed with U+2581,
 * "##" continuations bare) and whether the output is L2-normalised.
 *
 *     cvt_info info;
 *     if (cvt_bert_dir("all-MiniLM-L6-v2/", "minilm.gguf", NULL, CVT_POOL_NONE, &info))
 * die(dx_errmsg());
 *
 * Weights are written as F32 (exact). Everything read is validated: a folder
 * that is not a BERT encoder drux can run fails with a message naming the
 * file and what is wrong.
 */
#ifndef DX_CONVERT_H
#define DX_CONVERT_H

#include <stdbool.h>

#include "core/status.h"

/* bert.pooling_type values, as llama.cpp numbers them */
enum cvt_pooling { CVT_POOL_NONE = 0, CVT_POOL_MEAN = 1, CVT_POOL_CLS = 2 };

typedef struct cvt_info {
    char name[128]; /* from the folder or config._name_or_path */
    int n_layer, n_embd, n_vocab, max_tokens;
    enum cvt_pooling pooling;
    bool normalize;
} cvt_info;

/* True if dir looks like a BERT model folder (config.json with model_type
 * "bert" or BertModel and a model.safetensors). */
bool cvt_is_bert_dir(const char *dir);

/* Converts the folder to a new GGUF at out_path (written to out_path.tmp and
 * renamed). name becomes general.name (NULL: the folder's name, or config's
 * _name_or_path when the folder is just "model"). pooling_override:
 * CVT_POOL_NONE keeps what the folder says (mean when it says nothing). info
 * may be NULL. */
dx_status cvt_bert_dir(const char *dir, const char *out_path, const char *name,
                       enum cvt_pooling pooling_override, cvt_info *info);

#endif
