/*
 * model — transformer language models from GGUF files, run on the CPU.
 *
 * A model is the mmap'd file plus its hyperparameters and weight views; it is
 * read-only once open and shared by every session that uses it (refcounted).
 * A session owns one KV cache and the scratch buffers for a batch of tokens,
 * all allocated when it is created, so decoding allocates nothing.
 *
 *     eng_model *m;
 *     if (eng_model_open("smollm2.gguf", &m)) die(dx_errmsg());
 *     eng_session *s;
 *     eng_session_new(m, &(eng_options){.n_ctx = 2048}, &s);
 *     const float *logits;
 *     eng_session_decode(s, prompt_ids, n_prompt, &logits); // logits of the last token
 *     ...
 *     eng_session_free(s);
 *     eng_model_close(m);
 *
 * Supported families: llama (Llama 2/3, SmolLM, TinyLlama, Mistral), gemma3,
 * qwen2 (Qwen2/2.5, q/k/v biases), qwen3 (q/k norms), phi3 (fused QKV and
 * gate/up matrices, bound as row views at load time).
 * Every hyperparameter comes from the GGUF metadata; an unknown architecture
 * or a missing tensor is refused with a message naming it.
 */
#ifndef DX_MODEL_H
#define DX_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "gguf/gguf.h"

typedef enum eng_arch { ARCH_LLAMA, ARCH_GEMMA3, ARCH_QWEN2, ARCH_QWEN3, ARCH_PHI3 } eng_arch;

/* True when the engine runs models of this general.architecture ("llama"...);
 * false for others, "bert" (a sentence encoder) included. */
bool eng_arch_supported(const char *name);

typedef struct eng_hparams {
    eng_arch arch;
    const char *arch_name; /* as in general.architecture */
    int n_vocab;
    int n_ctx_train; /* context length the model was trained for */
    int n_embd;
    int n_layer;
    int n_ff;
    int n_head;
    int n_head_kv;
    int head_dim_k, head_dim_v;
    int n_rot;             /* dimensions rotated by RoPE */
    bool rope_neox;        /* rotate halves (NEOX) instead of adjacent pairs */
    float rope_base;       /* global layers */
    float rope_base_swa;   /* sliding-window layers */
    float rope_freq_scale; /* linear RoPE scaling: position multiplier */
    float rms_eps;
    float attn_scale; /* multiplies q.k */
    float embd_scale; /* multiplies the token embedding (gemma: sqrt(n_embd)) */
    int n_swa;        /* sliding window in tokens, 0 = none */
    int swa_pattern;  /* every swa_pattern-th layer is global; 0 = all global */
} eng_hparams;

typedef struct eng_model eng_model;
typedef struct eng_session eng_session;

typedef struct eng_options {
    int n_ctx;   /* KV cache size in tokens; 0 = min(trained context, 4096) */
    int n_batch; /* tokens per forward step during prompt processing; 0 = 64 */
} eng_options;

/* Open a model file; the caller owns one reference. On error *out is NULL and
 * dx_errmsg() names the problem (file, architecture or tensor). */
dx_status eng_model_open(const char *path, eng_model **out);
eng_model *eng_model_ref(eng_model *m);
void eng_model_close(eng_model *m); /* drops one reference; NULL is a no-op */

const eng_hparams *eng_model_hparams(const eng_model *m);
const gguf *eng_model_gguf(const eng_model *m);
uint64_t eng_model_n_params(const eng_model *m);
/* Bytes of weights read per generated token (all matrices once). */
uint64_t eng_model_weight_bytes(const eng_model *m);
/* Bytes of weights held repacked for faster kernels (engine/repack.h) in
 * memory of the model's own; 0 when all are used as stored in the file. */
uint64_t eng_model_packed_bytes(const eng_model *m);

/* A new session with an empty KV cache. Fails with DX_EARG when n_ctx is
 * larger than the model's trained context or DX_ENOMEM. */
dx_status eng_session_new(eng_model *m, const eng_options *opt, eng_session **out);
void eng_session_free(eng_session *s);
int eng_session_n_ctx(const eng_session *s);
int eng_session_n_batch(const eng_session *s); /* tokens per forward step */
int eng_session_pos(const eng_session *s);     /* tokens held in the cache */
/* Forget cached tokens from position pos on (0 clears the cache). */
void eng_session_truncate(eng_session *s, int pos);

/* Feed n tokens after the cached ones. If logits is non-NULL it receives the
 * last token's logits (n_vocab floats, valid until the next call). Fails with
 * DX_ELIMIT (and changes nothing) if the tokens do not fit in the context,
 * DX_EARG on a token id outside the vocabulary. Sessions may run on
 * different threads; they take turns on the shared thread pool. */
dx_status eng_session_decode(eng_session *s, const int32_t *tokens, int n, const float **logits);

/* Decode one token for each of n sessions of the same model in one forward
 * pass (the weights are read once for all of them): tokens[i] goes after
 * sessions[i]'s cached ones, and its logits land in eng_session_logits
 * (sessions[i]), bit for bit what eng_session_decode of that one token
 * would give. The first session's scratch is used, so n is at most its
 * n_batch (DX_ELIMIT past it) and no session may be at a position past its
 * context (DX_EARG: put the largest context first). Sessions must be
 * distinct (DX_EARG), and none may be in use on another thread. A full
 * context is DX_ELIMIT; on any error nothing changes. */
dx_status eng_batch_decode(eng_session *const *sessions, const int32_t *tokens, int n);
/* The logits of the last token decoded with logits (n_vocab floats). */
const float *eng_session_logits(const eng_session *s);

#endif
