/*
 * model.c — loading hyperparameters and weights, and the forward pass.
 *
 * The forward pass works on a batch of n tokens at once: activations are
 * [n][dim] row-major, each weight matrix is applied to all n rows while its
 * rows are in cache, and the KV cache is f16 ([layer][position][kv_dim]).
 */
#include "engine/model.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "engine/attn.h"
#include "engine/ops.h"
#include "engine/pool.h"
#include "engine/repack.h"

typedef struct weight {
    const char *name;
    const uint8_t *data;
    const quant_traits *qt;
    size_t row_bytes;
    int rows, cols;        /* y[rows] = W[rows][cols] . x[cols] */
    const uint8_t *packed; /* interleaved (repack.h), or NULL: data as in the file */
    size_t group_bytes;    /* of packed: bytes per RP_ROWS rows */
} weight;

static uint32_t type_of(const weight *w);

typedef struct layer {
    const float *attn_norm, *ffn_norm;           /* (n_embd) */
    const float *post_attn_norm, *post_ffw_norm; /* gemma3: (n_embd), else NULL */
    const float *q_norm, *k_norm;                /* gemma3, qwen3: (head_dim), else NULL */
    const float *bq, *bk, *bv;                   /* qwen2: biases, else NULL */
    weight wq;                                   /* (n_head*hdk, n_embd) */
    weight wk;                                   /* (n_head_kv*hdk, n_embd) */
    weight wv;                                   /* (n_head_kv*hdv, n_embd) */
    weight wo;                                   /* (n_embd, n_head*hdv) */
    weight w_gate;                               /* (n_ff, n_embd) */
    weight w_up;                                 /* (n_ff, n_embd) */
    weight w_down;                               /* (n_embd, n_ff) */
} layer;

struct eng_model {
    atomic_int refs;
    gguf *g;
    eng_hparams hp;
    weight tok_embd;          /* (n_vocab, n_embd): rows are looked up */
    weight output;            /* (n_vocab, n_embd): tok_embd when tied */
    const float *output_norm; /* (n_embd) */
    const float *rope_freqs;  /* optional (n_rot/2) divisors of the frequencies */
    layer *layers;            /* (n_layer) */
    float **owned;            /* vectors converted to f32 at load */
    size_t n_owned;
    uint64_t n_params, weight_bytes;
    size_t max_act_row; /* largest quantized activation row, bytes */
    uint8_t *packed;    /* the repacked matrices (weight.packed points here) */
    size_t packed_bytes;
};

/* Where one token of a forward step goes: its session's KV cache, its position. */
typedef struct tok_slot {
    eng_session *s;
    int pos;
    float *logits; /* where its logits go, or NULL for none */
} tok_slot;

#define MM_MAX_W 3 /* weights sharing one input in a fused matmul (q, k, v) */

struct eng_session {
    eng_model *m;
    pool *pool;
    int n_ctx, n_batch, pos;
    size_t kv_dim_k, kv_dim_v;
    dx_f16 *k_cache, *v_cache;      /* (n_layer, n_ctx, kv_dim) */
    float *x;                       /* (n_batch, n_embd) residual stream */
    float *xb;                      /* (n_batch, n_embd) normed input */
    float *xb2;                     /* (n_batch, n_embd) branch output */
    float *q;                       /* (n_batch, n_head*hdk) */
    float *k, *v;                   /* (n_batch, kv_dim) */
    float *att;                     /* (n_batch, n_head*hdv) */
    float *hb, *hb2;                /* (n_batch, n_ff) */
    float *logits;                  /* (n_vocab) */
    uint8_t *xq;                    /* (MM_MAX_W, n_batch, max_act_row) quantized activations */
    size_t xq_cap;                  /* bytes of one of the MM_MAX_W parts */
    uint8_t *attn_work;             /* (threads, attn_work_bytes) attention scratch */
    size_t attn_work_bytes;         /* one thread's part */
    float *inv_freq, *inv_freq_swa; /* (n_rot/2) */
    tok_slot *slots;                /* (n_batch) */
    float **rows;                   /* (n_batch) output row pointers */
    bool per_token; /* this step's tokens are single decodes: use the one-token kernels */
};

/* ---- loading --------------------------------------------------------------- */

static const char *arch_key(const eng_model *m, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", m->hp.arch_name, suffix);
    return buf;
}

static bool get_u32(const eng_model *m, const char *suffix, uint32_t *out)
{
    char k[128];
    return gguf_get_u32(m->g, arch_key(m, suffix, k, sizeof k), out);
}

static bool get_f32(const eng_model *m, const char *suffix, float *out)
{
    char k[128];
    return gguf_get_f32(m->g, arch_key(m, suffix, k, sizeof k), out);
}

static dx_status need_u32(const eng_model *m, const char *suffix, uint32_t lo, uint32_t hi,
                          int *out)
{
    uint32_t v;
    if (!get_u32(m, suffix, &v))
        return dx_fail(DX_EFORMAT, "missing metadata key %s.%s", m->hp.arch_name, suffix);
    if (v < lo || v > hi)
        return dx_fail(DX_EFORMAT, "metadata %s.%s = %u is out of range [%u, %u]", m->hp.arch_name,
                       suffix, v, lo, hi);
    *out = (int)v;
    return DX_OK;
}

/* The architectures the engine runs (general.architecture). */
static const struct {
    const char *name;
    eng_arch arch;
} archs[] = {
    {"llama", ARCH_LLAMA}, {"gemma3", ARCH_GEMMA3}, {"qwen2", ARCH_QWEN2},
    {"qwen3", ARCH_QWEN3}, {"phi3", ARCH_PHI3},
};

bool eng_arch_supported(const char *name)
{
    for (size_t i = 0; name && i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(name, archs[i].name))
            return true;
    return false;
}

/* general.architecture: one drux runs, else what to use instead. */
static dx_status read_arch(eng_model *m)
{
    eng_hparams *hp = &m->hp;
    dx_str arch;
    if (!gguf_get_str(m->g, "general.architecture", &arch))
        return dx_fail(DX_EFORMAT, "missing metadata key general.architecture");
    hp->arch_name = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (dx_str_eqc(arch, archs[i].name)) {
            hp->arch = archs[i].arch;
            hp->arch_name = archs[i].name;
        }
    if (!hp->arch_name && dx_str_eqc(arch, "bert"))
        return dx_fail(DX_EUNSUPPORTED, "this is a BERT sentence encoder, not a language model: "
                                        "use it with drux embed");
    if (!hp->arch_name)
        return dx_fail(
            DX_EUNSUPPORTED,
            "architecture '%.*s' is not supported (drux runs: llama, gemma3, qwen2, qwen3, phi3)",
            (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    return DX_OK;
}

/* The transformer's sizes: width, depth, heads and their dimensions, the
 * rotary dimensions and the training context. */
static dx_status read_shape(eng_model *m)
{
    eng_hparams *hp = &m->hp;
    dx_status st;
    if ((st = need_u32(m, "embedding_length", 1, 1 << 16, &hp->n_embd)) ||
        (st = need_u32(m, "block_count", 1, 1024, &hp->n_layer)) ||
        (st = need_u32(m, "feed_forward_length", 1, 1 << 18, &hp->n_ff)) ||
        (st = need_u32(m, "attention.head_count", 1, 1024, &hp->n_head)))
        return st;
    uint32_t v;
    hp->n_head_kv = get_u32(m, "attention.head_count_kv", &v) ? (int)v : hp->n_head;
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv)
        return dx_fail(DX_EFORMAT, "attention.head_count_kv = %d does not divide head_count = %d",
                       hp->n_head_kv, hp->n_head);
    hp->head_dim_k = hp->n_embd / hp->n_head;
    if (get_u32(m, "attention.key_length", &v))
        hp->head_dim_k = (int)v;
    hp->head_dim_v = get_u32(m, "attention.value_length", &v) ? (int)v : hp->head_dim_k;
    if (hp->head_dim_k < 2 || hp->head_dim_k > 1024 || hp->head_dim_v < 1 ||
        hp->head_dim_v > 1024 || hp->head_dim_k % 2)
        return dx_fail(DX_EFORMAT, "bad head dimensions %d/%d", hp->head_dim_k, hp->head_dim_v);
    hp->n_rot = get_u32(m, "rope.dimension_count", &v) ? (int)v : hp->head_dim_k;
    if (hp->n_rot < 2 || hp->n_rot > hp->head_dim_k || hp->n_rot % 2)
        return dx_fail(DX_EFORMAT, "rope.dimension_count = %d does not fit head size %d", hp->n_rot,
                       hp->head_dim_k);
    hp->n_ctx_train = get_u32(m, "context_length", &v) ? (int)v : 2048;
    if (hp->n_ctx_train < 1)
        return dx_fail(DX_EFORMAT, "bad context_length %d", hp->n_ctx_train);
    return DX_OK;
}

/* The norm's epsilon, RoPE's base and (linear) scaling, and the attention
 * and embedding scales every architecture starts from. */
static dx_status read_norm_rope(eng_model *m)
{
    eng_hparams *hp = &m->hp;
    hp->rms_eps = 1e-5f;
    get_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps);
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
        return dx_fail(DX_EFORMAT, "bad layer_norm_rms_epsilon %g", hp->rms_eps);
    hp->rope_base = 10000.0f;
    get_f32(m, "rope.freq_base", &hp->rope_base);
    hp->rope_base_swa = hp->rope_base;
    hp->rope_freq_scale = 1.0f;
    char key[128];
    dx_str scaling;
    if (gguf_get_str(m->g, arch_key(m, "rope.scaling.type", key, sizeof key), &scaling) &&
        !dx_str_eqc(scaling, "none")) {
        float factor = 1.0f;
        get_f32(m, "rope.scaling.factor", &factor);
        if (!dx_str_eqc(scaling, "linear"))
            return dx_fail(DX_EUNSUPPORTED, "RoPE scaling '%.*s' is not supported (only linear)",
                           (int)(scaling.len > 32 ? 32 : scaling.len), scaling.ptr);
        if (!(factor > 0))
            return dx_fail(DX_EFORMAT, "bad rope.scaling.factor %g", factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    if (!(hp->rope_base > 0))
        return dx_fail(DX_EFORMAT, "bad rope.freq_base %g", hp->rope_base);
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    hp->embd_scale = 1.0f;
    hp->rope_neox = hp->arch != ARCH_LLAMA;
    return DX_OK;
}

/* Gemma 3 scales its embeddings and alternates five sliding-window layers
 * (RoPE base 10k) with one global layer (the file's base). */
static void read_gemma3(eng_model *m)
{
    eng_hparams *hp = &m->hp;
    uint32_t v;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->n_swa = get_u32(m, "attention.sliding_window", &v) ? (int)v : 0;
    hp->swa_pattern = 6;
    if (get_u32(m, "attention.sliding_window_pattern", &v))
        hp->swa_pattern = (int)v;
    hp->rope_base_swa = 10000.0f;
    get_f32(m, "rope.freq_base_swa", &hp->rope_base_swa);
    float scale;
    if (get_f32(m, "attention.scale", &scale) && scale > 0)
        hp->attn_scale = scale;
}

static dx_status load_hparams(eng_model *m)
{
    dx_status st;
    if ((st = read_arch(m)) || (st = read_shape(m)) || (st = read_norm_rope(m)))
        return st;
    if (m->hp.arch == ARCH_GEMMA3)
        read_gemma3(m);
    /* phi3: llama.cpp ignores phi3.attention.sliding_window (its Phi-3 SWA is
     * disabled), so every layer attends to the whole context here too. The
     * 128k variants' LongRoPE factors are refused in load_weights. */
    return DX_OK;
}

/* A 1-D vector of n floats, always as an owned f32 copy: norms and biases are
 * read on every token, and a read of the mapping maps the whole page-cache
 * folio around it (up to 2 MiB), which would pin the file's pages that
 * repacking dropped (74 MB of Qwen2.5-0.5B Q8_0). The copies are a few KB. */
static dx_status bind_vec(eng_model *m, const char *name, int64_t n, bool optional,
                          const float **out)
{
    *out = NULL;
    const gguf_tensor *t = gguf_find_tensor(m->g, name);
    if (!t) {
        if (optional)
            return DX_OK;
        return dx_fail(DX_EFORMAT, "missing tensor '%s'", name);
    }
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return dx_fail(DX_EFORMAT, "tensor '%s' has shape [%lld, %lld], expected [%lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    m->n_params += (uint64_t)n;
    const quant_traits *qt = quant_get(t->type);
    if (!qt || n % qt->block_size)
        return dx_fail(DX_EUNSUPPORTED, "tensor '%s' is stored as %s, which drux cannot read here",
                       name, gguf_type_name(t->type));
    float *buf = malloc((size_t)n * sizeof(float));
    float **owned = realloc(m->owned, (m->n_owned + 1) * sizeof *owned);
    if (!buf || !owned) {
        free(buf);
        if (owned)
            m->owned = owned;
        return dx_fail(DX_ENOMEM, "out of memory converting tensor '%s'", name);
    }
    m->owned = owned;
    m->owned[m->n_owned++] = buf;
    qt->to_float(t->data, buf, n);
    *out = buf;
    return DX_OK;
}

/* A matrix of rows x cols, in any format drux can compute with. */
static dx_status bind_mat(eng_model *m, const char *name, int64_t cols, int64_t rows, bool optional,
                          weight *w)
{
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = gguf_find_tensor(m->g, name);
    if (!t) {
        if (optional)
            return DX_OK;
        return dx_fail(DX_EFORMAT, "missing tensor '%s'", name);
    }
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return dx_fail(DX_EFORMAT, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)cols,
                       (long long)rows);
    const quant_traits *qt = quant_get(t->type);
    if (!qt || !qt->vec_dot)
        return dx_fail(DX_EUNSUPPORTED,
                       "tensor '%s' is stored as %s, which drux cannot compute with", name,
                       gguf_type_name(t->type));
    size_t rb;
    if (!gguf_type_row_size(t->type, cols, &rb))
        return dx_fail(DX_EFORMAT, "tensor '%s': row of %lld is not a whole number of %s blocks",
                       name, (long long)cols, qt->name);
    size_t act;
    if (!gguf_type_row_size(qt->vec_dot_type, cols, &act))
        return dx_fail(DX_EFORMAT, "tensor '%s': rows of %lld cannot be paired with %s activations",
                       name, (long long)cols, gguf_type_name(qt->vec_dot_type));
    if (act > m->max_act_row)
        m->max_act_row = act;
    w->name = t->name;
    w->data = t->data;
    w->qt = qt;
    w->row_bytes = rb;
    w->rows = (int)rows;
    w->cols = (int)cols;
    m->n_params += (uint64_t)(rows * cols);
    return DX_OK;
}

/* Row views into one fused matrix (phi3's attn_qkv and ffn_up): parts[i]
 * takes rows[i] consecutive rows, in order; the rows must add up to the
 * tensor's. The views share the mapping, so the forward pass sees ordinary
 * separate matrices. */
static dx_status bind_fused(eng_model *m, const char *name, int64_t cols, const int64_t *rows,
                            weight *const *parts, int n_parts)
{
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++)
        total += rows[i];
    weight all;
    dx_status st = bind_mat(m, name, cols, total, false, &all);
    if (st)
        return st;
    int64_t r0 = 0;
    for (int i = 0; i < n_parts; i++) {
        *parts[i] = all;
        parts[i]->data = all.data + (size_t)r0 * all.row_bytes;
        parts[i]->rows = (int)rows[i];
        r0 += rows[i];
    }
    return DX_OK;
}

/* Layer i's matrices and vectors (phi3's fused QKV and gate-up split into
 * their parts); its matrices count in m->weight_bytes. */
static dx_status bind_layer(eng_model *m, int i)
{
    const eng_hparams *hp = &m->hp;
    dx_status st;
    layer *L = &m->layers[i];
    const int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k,
                  kd = (int64_t)hp->n_head_kv * hp->head_dim_k,
                  vd = (int64_t)hp->n_head_kv * hp->head_dim_v,
                  od = (int64_t)hp->n_head * hp->head_dim_v;
    const bool gemma = hp->arch == ARCH_GEMMA3;
    const bool qk_norm = gemma || hp->arch == ARCH_QWEN3;
    const bool phi3 = hp->arch == ARCH_PHI3;
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, i), n)
    /* phi3 stores Q, K and V as one attn_qkv matrix (when not split by the
     * converter) and gate and up as one ffn_up of 2*n_ff rows, gate first. */
    const bool fused_qkv = phi3 && gguf_find_tensor(m->g, NAME("attn_qkv.weight"));
    if (fused_qkv) {
        const int64_t rows[] = {qd, kd, vd};
        weight *const parts[] = {&L->wq, &L->wk, &L->wv};
        st = bind_fused(m, NAME("attn_qkv.weight"), d, rows, parts, 3);
    } else if (!(st = bind_mat(m, NAME("attn_q.weight"), d, qd, false, &L->wq)) &&
               !(st = bind_mat(m, NAME("attn_k.weight"), d, kd, false, &L->wk))) {
        st = bind_mat(m, NAME("attn_v.weight"), d, vd, false, &L->wv);
    }
    if (st)
        return st;
    if (phi3) {
        const int64_t rows[] = {hp->n_ff, hp->n_ff};
        weight *const parts[] = {&L->w_gate, &L->w_up};
        st = bind_fused(m, NAME("ffn_up.weight"), d, rows, parts, 2);
    } else if (!(st = bind_mat(m, NAME("ffn_gate.weight"), d, hp->n_ff, false, &L->w_gate))) {
        st = bind_mat(m, NAME("ffn_up.weight"), d, hp->n_ff, false, &L->w_up);
    }
    if (st)
        return st;
    if ((st = bind_vec(m, NAME("attn_norm.weight"), d, false, &L->attn_norm)) ||
        (st = bind_vec(m, NAME("ffn_norm.weight"), d, false, &L->ffn_norm)) ||
        (st = bind_mat(m, NAME("attn_output.weight"), od, d, false, &L->wo)) ||
        (st = bind_mat(m, NAME("ffn_down.weight"), hp->n_ff, d, false, &L->w_down)) ||
        (st = bind_vec(m, NAME("attn_q_norm.weight"), hp->head_dim_k, !qk_norm, &L->q_norm)) ||
        (st = bind_vec(m, NAME("attn_k_norm.weight"), hp->head_dim_k, !qk_norm, &L->k_norm)) ||
        (st = bind_vec(m, NAME("post_attention_norm.weight"), d, !gemma, &L->post_attn_norm)) ||
        (st = bind_vec(m, NAME("post_ffw_norm.weight"), d, !gemma, &L->post_ffw_norm)) ||
        (st = bind_vec(m, NAME("attn_q.bias"), qd, true, &L->bq)) ||
        (st = bind_vec(m, NAME("attn_k.bias"), kd, true, &L->bk)) ||
        (st = bind_vec(m, NAME("attn_v.bias"), vd, true, &L->bv)))
        return st;
#undef NAME
    const weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++)
        m->weight_bytes += (uint64_t)ws[j]->row_bytes * (uint64_t)ws[j]->rows;
    return DX_OK;
}

static dx_status load_weights(eng_model *m)
{
    eng_hparams *hp = &m->hp;
    dx_status st;
    const gguf_tensor *te = gguf_find_tensor(m->g, "token_embd.weight");
    if (!te)
        return dx_fail(DX_EFORMAT, "missing tensor 'token_embd.weight'");
    if (te->ne[1] < 1 || te->ne[1] > (int64_t)DX_MAX_VOCAB)
        return dx_fail(DX_EFORMAT, "token_embd.weight: vocabulary of %lld tokens is out of range",
                       (long long)te->ne[1]);
    hp->n_vocab = (int)te->ne[1];
    if ((st = bind_mat(m, "token_embd.weight", hp->n_embd, hp->n_vocab, false, &m->tok_embd)))
        return st;
    if ((st = bind_vec(m, "output_norm.weight", hp->n_embd, false, &m->output_norm)))
        return st;
    if ((st = bind_mat(m, "output.weight", hp->n_embd, hp->n_vocab, true, &m->output)))
        return st;
    if (!m->output.data)
        m->output = m->tok_embd; /* tied embeddings */
    m->weight_bytes += (uint64_t)m->output.row_bytes * (uint64_t)m->output.rows;
    if ((st = bind_vec(m, "rope_freqs.weight", hp->n_rot / 2, true, &m->rope_freqs)))
        return st;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return dx_fail(DX_ENOMEM, "out of memory");
    if (hp->arch == ARCH_PHI3 && (gguf_find_tensor(m->g, "rope_factors_long.weight") ||
                                  gguf_find_tensor(m->g, "rope_factors_short.weight")))
        return dx_fail(DX_EUNSUPPORTED, "Phi-3 LongRoPE factors (the 128k-context variants) are "
                                        "not supported; use a 4k-context Phi-3 model");
    for (int i = 0; i < hp->n_layer; i++)
        if ((st = bind_layer(m, i)))
            return st;
    return DX_OK;
}

/* The i-th matrix the forward pass multiplies by, or NULL past the last. */
static weight *matrix_at(eng_model *m, int i)
{
    if (i < 7 * m->hp.n_layer) {
        layer *L = &m->layers[i / 7];
        weight *const ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        return ws[i % 7];
    }
    if (i == 7 * m->hp.n_layer)
        return &m->output;
    return NULL;
}

/* One piece of the repacking: rows [r0, r1) of a matrix into dst, its place
 * in the arena: repacked (r0 a multiple of RP_ROWS), or copied as it is. */
typedef struct pack_piece {
    const weight *w;
    uint8_t *dst;
    int r0, r1;
    bool copy;
} pack_piece;

typedef struct pack_job {
    pack_piece *pieces;
    uintptr_t page;
    uintptr_t map_lo, map_hi; /* the file's mapping, page-aligned; map_lo == 0 when there is none */
} pack_job;

#define PACK_PIECE_BYTES ((size_t)4 << 20) /* of the file's rows, at most (but one group) */
#define PACK_ALIGN ((size_t)2 << 20)       /* the packed weights ask for 2 MiB pages */
#define PACK_SLACK ((uintptr_t)2 << 20)    /* the largest page-cache folio one fault maps */

/* Drops the file's pages over [lo, hi) and PACK_SLACK either side, within the
 * mapping. The slack matters: the kernel maps a whole large folio of the page
 * cache on one fault, so reading the start of a piece maps back the tail of
 * the piece before it (measured: 85 MB of Qwen2.5-0.5B Q8_0 stayed resident
 * without it). Dropping pages another thread is still reading costs it a
 * minor fault, nothing more: the mapping is private and never written. */
static void drop_file_pages(const pack_job *j, uintptr_t lo, uintptr_t hi)
{
    if (!j->map_lo)
        return;
    lo = lo > j->map_lo + PACK_SLACK ? (lo - PACK_SLACK) / j->page * j->page : j->map_lo;
    hi = hi < j->map_hi - PACK_SLACK ? (hi + PACK_SLACK + j->page - 1) / j->page * j->page
                                     : j->map_hi;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Repacks or copies one piece and drops the file's pages it came from, so
 * that no more than a piece per thread is resident twice while the model
 * loads. */
static void pack_chunk(void *ctx, int i, int ith)
{
    (void)ith;
    const pack_job *j = ctx;
    const pack_piece *pc = &j->pieces[i];
    const weight *w = pc->w;
    const uint8_t *src = w->data + (size_t)pc->r0 * w->row_bytes;
    if (pc->copy)
        memcpy(pc->dst + (size_t)pc->r0 * w->row_bytes, src,
               (size_t)(pc->r1 - pc->r0) * w->row_bytes);
    else
        rp_pack(type_of(w), src, pc->r1 - pc->r0, w->cols,
                pc->dst + (size_t)(pc->r0 / RP_ROWS) * w->group_bytes);
    drop_file_pages(j, (uintptr_t)src, (uintptr_t)src + (size_t)(pc->r1 - pc->r0) * w->row_bytes);
}

/* Rows per piece of a matrix: about PACK_PIECE_BYTES of the file, whole
 * groups when repacked. */
static int piece_rows(const weight *w)
{
    if (!rp_tile(type_of(w))) {
        const size_t rows = PACK_PIECE_BYTES / w->row_bytes;
        return rows ? (int)rows : 1;
    }
    const size_t groups = PACK_PIECE_BYTES / (w->row_bytes * RP_ROWS);
    return groups ? (int)groups * RP_ROWS : RP_ROWS;
}

/* Bytes of a matrix in the arena: repacked, else copied as it is. */
static size_t arena_bytes(const weight *w)
{
    if (w->rows <= 0)
        return 0;
    if (rp_tile(type_of(w)))
        return rp_bytes(type_of(w), w->rows, w->cols);
    return ((size_t)w->rows * w->row_bytes + 63) / 64 * 64;
}

/* Q4_0, Q5_0, Q8_0 and Q2_K to Q6_K matrices get the interleaved layout of repack.h, in memory
 * of the model's own, when the kernel level has a kernel for them
 * ($DRUX_REPACK=0: never); the pool's threads repack them piece by piece.
 * The file's pages of a repacked piece are dropped from memory (they are
 * read back from the file should anything touch them again), so the copy
 * costs no resident memory. A tied output matrix is repacked too, and the
 * token rows are then looked up in the copy. When any matrix is repacked,
 * the others (e.g. a Q4_1 or float matrix beside them) are copied
 * into the arena as they are: read from the mapping, each fault would map a
 * whole page-cache folio and with it up to 2 MiB of the dropped matrices
 * next to it. */
static dx_status repack_weights(eng_model *m)
{
    if (!rp_enabled())
        return DX_OK;
    size_t total = 0, packed = 0;
    int count = 0;
    weight *w;
    for (int i = 0; (w = matrix_at(m, i)); i++)
        if (arena_bytes(w)) {
            total += arena_bytes(w);
            if (rp_tile(type_of(w)))
                packed += arena_bytes(w);
            count += (w->rows + piece_rows(w) - 1) / piece_rows(w);
        }
    if (!packed) /* nothing to repack: every matrix is read where the file has it */
        return DX_OK;
    const size_t cap = (total + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
    pack_job j = {.pieces = malloc((size_t)count * sizeof *j.pieces),
                  .page = (uintptr_t)sysconf(_SC_PAGESIZE)};
    if (gguf_mapping(m->g)) {
        j.map_lo = (uintptr_t)gguf_mapping(m->g);
        j.map_hi = j.map_lo + (gguf_file_size(m->g) + j.page - 1) / j.page * j.page;
    }
    m->packed = aligned_alloc(PACK_ALIGN, cap);
    if (!m->packed || !j.pieces || !j.page) {
        free(j.pieces);
        return dx_fail(DX_ENOMEM, "out of memory repacking %zu MB of weights", total >> 20);
    }
    madvise(m->packed, cap,
            MADV_HUGEPAGE); /* fewer faults to fill it, fewer TLB misses to stream it */
    size_t at = 0;
    count = 0;
    for (int i = 0; (w = matrix_at(m, i)); i++) {
        const uint32_t type = type_of(w);
        const size_t bytes = arena_bytes(w);
        if (!bytes)
            continue;
        const bool copy = !rp_tile(type);
        uint8_t *dst = m->packed + at;
        at += bytes;
        if (!copy) {
            w->packed = dst;
            w->group_bytes = rp_group_bytes(type, w->cols);
            const size_t act = rp_act_row_bytes(w->cols);
            if (act > m->max_act_row)
                m->max_act_row = act;
        }
        for (int r = 0; r < w->rows; r += piece_rows(w))
            j.pieces[count++] = (pack_piece){
                w, dst, r, r + piece_rows(w) < w->rows ? r + piece_rows(w) : w->rows, copy};
    }
    pool *p = pool_global();
    if (p) {
        pool_lock(p);
        pool_for(p, count, pack_chunk, &j);
        pool_unlock(p);
    } else {
        for (int i = 0; i < count; i++)
            pack_chunk(&j, i, 0);
    }
    const bool tied = m->output.data == m->tok_embd.data;
    for (int i = 0; i < count; i++) /* copied matrices are read from the copy from now on */
        if (j.pieces[i].copy)
            ((weight *)j.pieces[i].w)->data = j.pieces[i].dst;
    free(j.pieces);
    if (tied) { /* the token rows are looked up in the copy */
        m->tok_embd.data = m->output.data;
        m->tok_embd.packed = m->output.packed;
        m->tok_embd.group_bytes = m->output.group_bytes;
    }
    m->packed_bytes = total;
    log_debug("repacked %zu MB of weights, copied %zu MB", packed >> 20, (total - packed) >> 20);
    return DX_OK;
}

dx_status eng_model_open(const char *path, eng_model **out)
{
    *out = NULL;
    eng_model *m = calloc(1, sizeof *m);
    if (!m)
        return dx_fail(DX_ENOMEM, "out of memory");
    atomic_init(&m->refs, 1);
    dx_status st = DX_OK;
    if ((st = gguf_open(path, &m->g)))
        goto out;
    if ((st = load_hparams(m)) || (st = load_weights(m)) || (st = repack_weights(m))) {
        dx_wrap(st, "%s", path);
        goto out;
    }
    log_info("%s: %s, %d layers, %d-dim, %d heads (%d kv), vocab %d, context %d", path,
             m->hp.arch_name, m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_head_kv,
             m->hp.n_vocab, m->hp.n_ctx_train);
out:
    if (st) {
        eng_model_close(m);
        return st;
    }
    *out = m;
    return DX_OK;
}

eng_model *eng_model_ref(eng_model *m)
{
    atomic_fetch_add(&m->refs, 1);
    return m;
}

void eng_model_close(eng_model *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->packed);
    gguf_close(m->g);
    free(m);
}

const eng_hparams *eng_model_hparams(const eng_model *m)
{
    return &m->hp;
}
const gguf *eng_model_gguf(const eng_model *m)
{
    return m->g;
}
uint64_t eng_model_n_params(const eng_model *m)
{
    return m->n_params;
}
uint64_t eng_model_weight_bytes(const eng_model *m)
{
    return m->weight_bytes;
}
uint64_t eng_model_packed_bytes(const eng_model *m)
{
    return m->packed_bytes;
}

/* ---- sessions ------------------------------------------------------------- */

/* Zeroed and cache-line aligned, so threads writing neighbouring parts of
 * different buffers never share a line. */
static void *xcalloc(size_t n, size_t size, bool *ok)
{
    size_t bytes = (n ? n : 1) * size;
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p)
        *ok = false;
    else
        memset(p, 0, bytes);
    return p;
}

static float *make_inv_freq(const eng_model *m, float base, bool *ok)
{
    const int half = m->hp.n_rot / 2;
    float *f = xcalloc((size_t)half, sizeof(float), ok);
    if (!f)
        return NULL;
    for (int i = 0; i < half; i++) {
        double inv = pow((double)base, -2.0 * i / m->hp.n_rot);
        if (m->rope_freqs)
            inv /= m->rope_freqs[i];
        f[i] = (float)inv;
    }
    return f;
}

dx_status eng_session_new(eng_model *m, const eng_options *opt, eng_session **out)
{
    *out = NULL;
    const eng_hparams *hp = &m->hp;
    int n_ctx =
        opt && opt->n_ctx > 0 ? opt->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int n_batch = opt && opt->n_batch > 0 ? opt->n_batch : 64;
    if (n_ctx > hp->n_ctx_train)
        return dx_fail(DX_EARG, "context of %d tokens is larger than the model's %d", n_ctx,
                       hp->n_ctx_train);
    if (n_ctx > (int)DX_MAX_CONTEXT)
        return dx_fail(DX_ELIMIT, "context of %d tokens is over drux's limit of %u", n_ctx,
                       DX_MAX_CONTEXT);
    if (n_batch > n_ctx)
        n_batch = n_ctx;
    pool *p = pool_global();
    if (!p)
        return DX_ENOMEM;
    eng_session *s = calloc(1, sizeof *s);
    if (!s)
        return dx_fail(DX_ENOMEM, "out of memory");
    bool ok = true;
    s->m = eng_model_ref(m);
    s->pool = p;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->kv_dim_k = (size_t)hp->n_head_kv * hp->head_dim_k;
    s->kv_dim_v = (size_t)hp->n_head_kv * hp->head_dim_v;
    const size_t B = (size_t)n_batch, L = (size_t)hp->n_layer, C = (size_t)n_ctx;
    s->k_cache = xcalloc(L * C * s->kv_dim_k, sizeof(dx_f16), &ok);
    s->v_cache = xcalloc(L * C * s->kv_dim_v, sizeof(dx_f16), &ok);
    s->x = xcalloc(B * hp->n_embd, sizeof(float), &ok);
    s->xb = xcalloc(B * hp->n_embd, sizeof(float), &ok);
    s->xb2 = xcalloc(B * hp->n_embd, sizeof(float), &ok);
    s->q = xcalloc(B * hp->n_head * hp->head_dim_k, sizeof(float), &ok);
    s->k = xcalloc(B * s->kv_dim_k, sizeof(float), &ok);
    s->v = xcalloc(B * s->kv_dim_v, sizeof(float), &ok);
    s->att = xcalloc(B * hp->n_head * hp->head_dim_v, sizeof(float), &ok);
    s->hb = xcalloc(B * hp->n_ff, sizeof(float), &ok);
    s->hb2 = xcalloc(B * hp->n_ff, sizeof(float), &ok);
    s->logits = xcalloc((size_t)hp->n_vocab, sizeof(float), &ok);
    s->xq_cap = (B * m->max_act_row + 63) / 64 * 64;
    s->xq = aligned_alloc(64, MM_MAX_W * s->xq_cap);
    if (!s->xq)
        ok = false;
    s->slots = xcalloc(B, sizeof *s->slots, &ok);
    s->rows = xcalloc(B, sizeof *s->rows, &ok);
    s->attn_work_bytes = attn_work_bytes(n_ctx, hp->head_dim_k, hp->head_dim_v);
    s->attn_work = xcalloc((size_t)pool_threads(p), s->attn_work_bytes, &ok);
    s->inv_freq = make_inv_freq(m, hp->rope_base, &ok);
    s->inv_freq_swa = make_inv_freq(m, hp->rope_base_swa, &ok);
    if (!ok) {
        eng_session_free(s);
        return dx_fail(DX_ENOMEM, "out of memory for a %d-token context", n_ctx);
    }
    *out = s;
    return DX_OK;
}

void eng_session_free(eng_session *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->hb);
    free(s->hb2);
    free(s->logits);
    free(s->xq);
    free(s->attn_work);
    free(s->inv_freq);
    free(s->inv_freq_swa);
    free(s->slots);
    free(s->rows);
    eng_model_close(s->m);
    free(s);
}

int eng_session_n_ctx(const eng_session *s)
{
    return s->n_ctx;
}
int eng_session_n_batch(const eng_session *s)
{
    return s->n_batch;
}
int eng_session_pos(const eng_session *s)
{
    return s->pos;
}

void eng_session_truncate(eng_session *s, int pos)
{
    if (pos < 0)
        pos = 0;
    if (pos < s->pos)
        s->pos = pos;
}

/* ---- operators ------------------------------------------------------------ */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    /* eight partial sums: independent adds the compiler can vectorise, and a
     * shorter chain of roundings than one running sum */
    float part[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            part[k] += x[i + k] * x[i + k];
    float ss = 0.0f;
    for (; i < n; i++)
        ss += x[i] * x[i];
    for (int k = 0; k < 8; k++)
        ss += part[k];
    const float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* ---- matmul ----------------------------------------------------------------
 *
 * y_k[t][r] = W_k[r] . x[t] for up to MM_MAX_W weights that share the input x
 * (q, k, v; gate, up) and n tokens. x is quantized once per distinct
 * vec_dot_type, then the rows of all the weights are cut into chunks of
 * a multiple of MM_ROWS (a cache line of output floats), about 8 per
 * thread so that the shared counter is touched rarely (fewer for long
 * batches, so each chunk stays short), which the pool's
 * threads take in turn; within a chunk, tokens go in tiles of MM_TOKENS so that the chunk's
 * weight rows and the tile's activations both stay in L1.
 */
#define MM_ROWS 16
#define MM_TOKENS 16
_Static_assert(MM_ROWS % RP_ROWS == 0, "chunks must hold whole repacked groups");
#define MM_RP_ACT ((enum qtype)QT_COUNT) /* the activation format of repacked weights */
#define MM_CHUNK_WORK (4L << 20)
/* Block kernels (float weights) take the chunk's rows with up to MM_BLOCK_TOKENS tokens, as many
 * as keep about MM_BLOCK_ACT bytes of activations (in L2): a chunk's weights then come from
 * memory once for 64 tokens, not once per 16, while the kernel computes on them. */
#define MM_BLOCK_TOKENS 64
#define MM_BLOCK_ACT (256L << 10)

typedef struct mm_job {
    int nw, n;
    const weight *w[MM_MAX_W];
    const uint8_t *xq[MM_MAX_W];
    size_t xq_stride[MM_MAX_W];
    ops_tile_fn tile[MM_MAX_W];        /* NULL: vec_dot only */
    ops_rows_fn rows4[MM_MAX_W];       /* NULL: vec_dot only */
    rp_tile_fn rp[MM_MAX_W];           /* for repacked weights */
    const ops_tile_fn *part[MM_MAX_W]; /* tiles for 2, 3 tokens (exact formats), or NULL */
    ops_block_fn block[MM_MAX_W]; /* when set, it does the chunk's rows, block_tokens at a time */
    int block_tokens[MM_MAX_W];
    float *y[MM_MAX_W];       /* (n, rows): y[t * rows + r] */
    float *const *yrow;       /* when non-NULL, token t's outputs go to yrow[t] (one weight) */
    int chunk0[MM_MAX_W + 1]; /* first chunk of each weight */
    int chunk_rows[MM_MAX_W];
    /* quantization */
    const float *x;
    int n_types;
    enum qtype types[MM_MAX_W];
    uint8_t *xq_type[MM_MAX_W];
    size_t stride_type[MM_MAX_W];
    int cols;
} mm_job;

#define Y(t, r) (j->yrow ? j->yrow[t] + (r) : j->y[k] + (size_t)(t)*w->rows + (r))

/* Rows [r0, r1) of repacked weight k (r0 a multiple of RP_ROWS): a group of
 * rows by up to RP_MAX_TOKENS tokens per kernel call. */
static void mm_chunk_packed(const mm_job *j, int k, int r0, int r1)
{
    const weight *w = j->w[k];
    const size_t gb = w->group_bytes, xs = j->xq_stride[k];
    for (int t0 = 0; t0 < j->n; t0 += MM_TOKENS) {
        const int t1 = t0 + MM_TOKENS < j->n ? t0 + MM_TOKENS : j->n;
        for (int r = r0; r < r1; r += RP_ROWS) {
            const uint8_t *g = w->packed + (size_t)(r / RP_ROWS) * gb;
            const int nr = r1 - r < RP_ROWS ? r1 - r : RP_ROWS;
            for (int t = t0; t < t1; t += RP_MAX_TOKENS) {
                const int nt = t1 - t < RP_MAX_TOKENS ? t1 - t : RP_MAX_TOKENS;
                float out[RP_MAX_TOKENS * RP_ROWS];
                j->rp[k](w->cols / 32, g, j->xq[k] + (size_t)t * xs, xs, nt, out);
                for (int i = 0; i < nt; i++)
                    if (nr == RP_ROWS) /* a fixed size: one store, not a call */
                        memcpy(Y(t + i, r), out + i * RP_ROWS, RP_ROWS * sizeof(float));
                    else
                        memcpy(Y(t + i, r), out + i * RP_ROWS, (size_t)nr * sizeof(float));
            }
        }
    }
}

static void mm_chunk(void *ctx, int chunk, int ith)
{
    (void)ith;
    const mm_job *j = ctx;
    int k = 0;
    while (chunk >= j->chunk0[k + 1])
        k++;
    const weight *w = j->w[k];
    const int r0 = (chunk - j->chunk0[k]) * j->chunk_rows[k];
    const int r1 = r0 + j->chunk_rows[k] < w->rows ? r0 + j->chunk_rows[k] : w->rows;
    if (w->packed) {
        mm_chunk_packed(j, k, r0, r1);
        return;
    }
    const quant_vec_dot_fn dot = w->qt->vec_dot;
    const ops_tile_fn tile = j->tile[k];
    const uint8_t *xq = j->xq[k];
    const size_t xs = j->xq_stride[k];
    if (j->block[k]) { /* the kernel tiles rows and tokens itself */
        float *yt[MM_BLOCK_TOKENS];
        for (int t0 = 0; t0 < j->n; t0 += j->block_tokens[k]) {
            const int t1 = t0 + j->block_tokens[k] < j->n ? t0 + j->block_tokens[k] : j->n;
            for (int t = t0; t < t1; t++)
                yt[t - t0] = Y(t, r0);
            j->block[k](w->cols, w->data + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0,
                        xq + (size_t)t0 * xs, xs, t1 - t0, yt);
        }
        return;
    }
    for (int t0 = 0; t0 < j->n; t0 += MM_TOKENS) {
        const int t1 = t0 + MM_TOKENS < j->n ? t0 + MM_TOKENS : j->n;
        int r = r0;
        const ops_tile_fn *part = j->part[k];
        if (tile &&
            (t1 - t0 >= 4 || (part && t1 - t0 >= 2))) /* two rows by four tokens at a time */
            for (; r + 2 <= r1; r += 2) {
                const uint8_t *row = w->data + (size_t)r * w->row_bytes;
                int t = t0;
                for (; t + 4 <= t1; t += 4) {
                    float out[8];
                    tile(w->cols, row, row + w->row_bytes, xq + (size_t)t * xs, xs, out);
                    for (int i = 0; i < 4; i++) {
                        *Y(t + i, r) = out[i];
                        *Y(t + i, r + 1) = out[4 + i];
                    }
                }
                if (part && t1 - t >= 2) { /* two or three left */
                    const int m = t1 - t;
                    float out[8];
                    part[m - 2](w->cols, row, row + w->row_bytes, xq + (size_t)t * xs, xs, out);
                    for (int i = 0; i < m; i++) {
                        *Y(t + i, r) = out[i];
                        *Y(t + i, r + 1) = out[4 + i];
                    }
                    t = t1;
                }
                for (; t < t1; t++) {
                    dot(w->cols, Y(t, r), row, xq + (size_t)t * xs);
                    dot(w->cols, Y(t, r + 1), row + w->row_bytes, xq + (size_t)t * xs);
                }
            }
        if (j->rows4[k]) /* four rows at a time, one token (decode) */
            for (; r + 4 <= r1; r += 4) {
                const uint8_t *row = w->data + (size_t)r * w->row_bytes;
                for (int t = t0; t < t1; t++) {
                    float out[4];
                    j->rows4[k](w->cols, row, w->row_bytes, xq + (size_t)t * xs, out);
                    for (int i = 0; i < 4; i++)
                        *Y(t, r + i) = out[i];
                }
            }
        for (; r < r1; r++) {
            const uint8_t *row = w->data + (size_t)r * w->row_bytes;
            for (int t = t0; t < t1; t++)
                dot(w->cols, Y(t, r), row, xq + (size_t)t * xs);
        }
    }
#undef Y
}

/* Quantize tokens [MM_TOKENS*chunk, ...) of x for every type the job needs. */
static void mm_quant_chunk(void *ctx, int chunk, int ith)
{
    (void)ith;
    const mm_job *j = ctx;
    const int t0 = chunk * MM_TOKENS, t1 = t0 + MM_TOKENS < j->n ? t0 + MM_TOKENS : j->n;
    for (int i = 0; i < j->n_types; i++) {
        const quant_traits *at = j->types[i] == MM_RP_ACT ? NULL : quant_get(j->types[i]);
        for (int t = t0; t < t1; t++) {
            const float *x = j->x + (size_t)t * j->cols;
            uint8_t *xq = j->xq_type[i] + (size_t)t * j->stride_type[i];
            if (at)
                at->from_float(x, xq, j->cols);
            else
                rp_act_quantize(x, j->cols, xq);
        }
    }
}

/* A weight's format (its traits are quant_get's). */
static uint32_t type_of(const weight *w)
{
    for (uint32_t t = 0; t < QT_COUNT; t++)
        if (quant_get(t) == w->qt)
            return t;
    return QT_COUNT;
}

static void matmul_fused(eng_session *s, int nw, const weight *const *w, const float *x, int n,
                         float *const *y, float *const *yrow)
{
    mm_job j = {.nw = nw, .n = n, .x = x, .cols = w[0]->cols, .yrow = yrow};
    for (int k = 0; k < nw; k++) {
        const uint32_t wtype = type_of(w[k]);
        /* repacked K-quants take their format's own Q8_K activations */
        const enum qtype vt =
            w[k]->packed && !rp_kquant(wtype) ? MM_RP_ACT : w[k]->qt->vec_dot_type;
        int i = 0;
        while (i < j.n_types && j.types[i] != vt)
            i++;
        if (i == j.n_types) {
            j.types[i] = vt;
            j.xq_type[i] = s->xq + (size_t)i * s->xq_cap;
            if (vt == MM_RP_ACT)
                j.stride_type[i] = rp_act_row_bytes(j.cols);
            else
                gguf_type_row_size(vt, j.cols, &j.stride_type[i]);
            j.n_types++;
        }
        j.w[k] = w[k];
        /* A step of several sessions' single tokens must round as a solo
         * decode does: where the format has a four-row kernel, that one per
         * token (also faster there than a tile, e.g. Q4_K: 23.8 against
         * 29.4 ms for four Gemma 3 270M sessions); otherwise a tile marked
         * exact, in its 2- and 3-token forms for fewer tokens (these also
         * serve prompt chunks of 2-3 tokens: the same bits as vec_dot). */
        const bool exact = ops_tile_exact(wtype), rows = ops_rows(wtype) != NULL;
        j.part[k] = exact && !rows ? ops_tile_parts(wtype) : NULL;
        const bool tiled = s->per_token ? exact && !rows && (n >= 4 || (n >= 2 && j.part[k]))
                                        : n >= 4 || (n >= 2 && j.part[k]);
        j.tile[k] = tiled ? ops_tile(wtype) : NULL;
        j.rows4[k] = tiled ? NULL : ops_rows(wtype);
        /* repacked weights: one kernel for any number of tokens, each token
         * summed in the same order, so batched steps are exact there too */
        j.rp[k] = w[k]->packed ? rp_tile(wtype) : NULL;
        j.block[k] = n > 1 ? ops_block(wtype) : NULL;
        const long bt = MM_BLOCK_ACT / (long)j.stride_type[i] / 4 * 4;
        j.block_tokens[k] = bt < MM_TOKENS         ? MM_TOKENS
                            : bt > MM_BLOCK_TOKENS ? MM_BLOCK_TOKENS
                                                   : (int)bt;
        j.y[k] = y ? y[k] : NULL;
        j.xq[k] = j.xq_type[i];
        j.xq_stride[k] = j.stride_type[i];
        /* about 8 chunks per thread (32 for one token), but none over
         * MM_CHUNK_WORK multiply-adds: a thread that loses its core mid-chunk
         * holds the others up that long. A decode step's matrices are read
         * once and bound by memory: smaller chunks even out what each thread
         * streams (F32 Qwen2.5-0.5B shape at 2 threads under load, alternating:
         * tg64 11.0-11.8 -> 12.3-12.7 tok/s; Q4_K_M 1.5B and F16 the same). */
        int per = w[k]->rows / ((n == 1 ? 32 : 8) * pool_threads(s->pool));
        const long cap = MM_CHUNK_WORK / ((long)n * w[k]->cols);
        if (per > cap)
            per = (int)cap;
        j.chunk_rows[k] = per <= MM_ROWS ? MM_ROWS : (per + MM_ROWS - 1) / MM_ROWS * MM_ROWS;
        j.chunk0[k + 1] = j.chunk0[k] + (w[k]->rows + j.chunk_rows[k] - 1) / j.chunk_rows[k];
    }
    const int qchunks = (n + MM_TOKENS - 1) / MM_TOKENS;
    if (qchunks > 1)
        pool_for(s->pool, qchunks, mm_quant_chunk, &j);
    else
        mm_quant_chunk(&j, 0, 0);
    pool_for(s->pool, j.chunk0[nw], mm_chunk, &j);
}

static void matmul(eng_session *s, const weight *w, const float *x, int n, float *y)
{
    matmul_fused(s, 1, &w, x, n, &y, NULL);
}

/* ---- attention -------------------------------------------------------------
 * One chunk is one unit of attn_run: a block of qb tokens times hps query
 * heads of one K/V head, read from the tokens' session's cache. A batch that
 * mixes sessions (eng_batch_decode) and a single token use qb = hps = 1, one
 * (token, head) pair per chunk; a prompt uses whole GQA groups and blocks of
 * tokens, so that each K/V row loaded serves all of them (attn.h). */
typedef struct {
    eng_session *s; /* the scratch owner */
    int layer, n;
    bool swa;
    int qb, hps;   /* tokens and query heads per unit */
    int n_tb;      /* token blocks */
    int per_block; /* units per token block: n_head_kv * (group / hps) */
} att_job;

static void att_chunk(void *ctx, int c, int ith)
{
    const att_job *j = ctx;
    eng_session *s = j->s;
    const eng_hparams *hp = &s->m->hp;
    const int hdk = hp->head_dim_k, hdv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    const int slices = group / j->hps;
    /* the last token blocks see the most keys: they go first */
    const int tb = j->n_tb - 1 - c / j->per_block, rest = c % j->per_block;
    const int g = rest / slices, h0 = g * group + rest % slices * j->hps;
    const int t0 = tb * j->qb, t1 = t0 + j->qb < j->n ? t0 + j->qb : j->n;
    const eng_session *o = s->slots[t0].s;
    const float *q[ATTN_MAX_ROWS];
    float *out[ATTN_MAX_ROWS];
    int lo[ATTN_MAX_ROWS], hi[ATTN_MAX_ROWS], n = 0;
    for (int t = t0; t < t1; t++) {
        const int p = s->slots[t].pos;
        const int first = j->swa && hp->n_swa > 0 && p - hp->n_swa + 1 > 0 ? p - hp->n_swa + 1 : 0;
        for (int h = h0; h < h0 + j->hps; h++, n++) {
            q[n] = s->q + (size_t)t * hp->n_head * hdk + (size_t)h * hdk;
            out[n] = s->att + (size_t)t * hp->n_head * hdv + (size_t)h * hdv;
            lo[n] = first;
            hi[n] = p;
        }
    }
    const attn_rows a = {
        .n = n,
        .hdk = hdk,
        .hdv = hdv,
        .scale = hp->attn_scale,
        .q = q,
        .out = out,
        .lo = lo,
        .hi = hi,
        .k = o->k_cache + (size_t)j->layer * o->n_ctx * o->kv_dim_k + (size_t)g * hdk,
        .v = o->v_cache + (size_t)j->layer * o->n_ctx * o->kv_dim_v + (size_t)g * hdv,
        .k_stride = o->kv_dim_k,
        .v_stride = o->kv_dim_v,
    };
    attn_run(&a, s->attn_work + (size_t)ith * s->attn_work_bytes);
}

/* Attention of layer l for the n tokens of s->slots. */
static void attention(eng_session *s, int l, int n, bool swa)
{
    const eng_hparams *hp = &s->m->hp;
    const int group = hp->n_head / hp->n_head_kv;
    bool one_session = true;
    for (int t = 1; t < n; t++)
        one_session &= s->slots[t].s == s->slots[0].s;
    att_job j = {.s = s, .layer = l, .n = n, .swa = swa, .qb = 1, .hps = 1};
    if (one_session && n > 1 && group <= ATTN_MAX_ROWS) {
        /* whole groups, blocks of tokens up to ATTN_MAX_ROWS rows, but about
         * four units per thread so that the threads finish together */
        j.hps = group;
        const int want_tb = (4 * pool_threads(s->pool) + hp->n_head_kv - 1) / hp->n_head_kv;
        const int even = (n + want_tb - 1) / want_tb;
        j.qb = ATTN_MAX_ROWS / group < even ? ATTN_MAX_ROWS / group : even;
    }
    j.n_tb = (n + j.qb - 1) / j.qb;
    j.per_block = hp->n_head_kv * (group / j.hps);
    pool_for(s->pool, j.n_tb * j.per_block, att_chunk, &j);
}

/* ---- the forward pass ------------------------------------------------------
 * n tokens, token t at s->slots[t] (its session and position); s owns the
 * scratch. Tokens whose slot has a logits pointer get their logits there.
 *
 * Between the matrix products, the work of each token on its own rows
 * (norms, biases, RoPE, the KV store, residual adds) is one pool job per
 * step, TOK_CHUNK tokens a chunk, so that in a long prompt no thread waits
 * while one does it all; a single token runs it inline. */
#define TOK_CHUNK 8

typedef enum {
    TOK_EMBED,    /* embedding lookup and scale, layer 0's attn_norm */
    TOK_QKV,      /* biases, q/k norms, RoPE, K and V into the cache */
    TOK_ATTN_OUT, /* post-attention norm, residual, ffn_norm */
    TOK_GLU,      /* the gate: hb = act(hb) * hb2 */
    TOK_FFN_OUT,  /* post-FFN norm, residual, the next layer's attn_norm */
} tok_step;

typedef struct {
    eng_session *s;
    const int32_t *tok;
    int l, n;
    tok_step step;
    const float *inv_freq; /* TOK_QKV: the layer's RoPE frequencies */
} tok_job;

/* RoPE of every head of one vector (n_head heads of hd), cos/sin shared. */
static void rope_heads(float *x, int n_head, int hd, const float *norm, const eng_hparams *hp,
                       const float *cs, const float *sn)
{
    const int half = hp->n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *xh = x + (size_t)h * hd;
        if (norm)
            rmsnorm(xh, xh, norm, hd, hp->rms_eps);
        for (int i = 0; i < half; i++) {
            const int a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
            const float x0 = xh[a], x1 = xh[b];
            xh[a] = x0 * cs[i] - x1 * sn[i];
            xh[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

static void tok_chunk(void *ctx, int c, int ith)
{
    (void)ith;
    const tok_job *j = ctx;
    eng_session *s = j->s;
    const eng_model *m = s->m;
    const eng_hparams *hp = &m->hp;
    const layer *L = &m->layers[j->l];
    const int d = hp->n_embd, hdk = hp->head_dim_k, qd = hp->n_head * hdk;
    const int kd = (int)s->kv_dim_k, vd = (int)s->kv_dim_v;
    const int t1 = (c + 1) * TOK_CHUNK < j->n ? (c + 1) * TOK_CHUNK : j->n;
    for (int t = c * TOK_CHUNK; t < t1; t++) {
        float *x = s->x + (size_t)t * d, *xb = s->xb + (size_t)t * d, *b = s->xb2 + (size_t)t * d;
        switch (j->step) {
        case TOK_EMBED:
            if (m->tok_embd.packed) /* a tied output repacked: the row comes from the copy */
                rp_row_to_float(type_of(&m->tok_embd), m->tok_embd.packed, d, j->tok[t], x);
            else
                m->tok_embd.qt->to_float(
                    m->tok_embd.data + (size_t)j->tok[t] * m->tok_embd.row_bytes, x, d);
            if (hp->embd_scale != 1.0f)
                for (int i = 0; i < d; i++)
                    x[i] *= hp->embd_scale;
            rmsnorm(xb, x, m->layers[0].attn_norm, d, hp->rms_eps);
            break;
        case TOK_QKV: {
            float *q = s->q + (size_t)t * qd, *k = s->k + (size_t)t * kd,
                  *v = s->v + (size_t)t * vd;
            if (L->bq)
                for (int i = 0; i < qd; i++)
                    q[i] += L->bq[i];
            if (L->bk)
                for (int i = 0; i < kd; i++)
                    k[i] += L->bk[i];
            if (L->bv)
                for (int i = 0; i < vd; i++)
                    v[i] += L->bv[i];
            eng_session *o = s->slots[t].s;
            const int pos = s->slots[t].pos;
            float cs[512], sn[512]; /* n_rot <= head_dim_k <= 1024 */
            const float p = (float)pos * hp->rope_freq_scale;
            for (int i = 0; i < hp->n_rot / 2; i++) {
                const float theta = p * j->inv_freq[i];
                cs[i] = cosf(theta);
                sn[i] = sinf(theta);
            }
            rope_heads(q, hp->n_head, hdk, L->q_norm, hp, cs, sn);
            rope_heads(k, hp->n_head_kv, hdk, L->k_norm, hp, cs, sn);
            const ops_kernels *ops = ops_get();
            ops->to_f16(o->k_cache + ((size_t)j->l * o->n_ctx + (size_t)pos) * o->kv_dim_k, k, kd);
            ops->to_f16(o->v_cache + ((size_t)j->l * o->n_ctx + (size_t)pos) * o->kv_dim_v, v, vd);
            break;
        }
        case TOK_ATTN_OUT:
            if (L->post_attn_norm)
                rmsnorm(b, b, L->post_attn_norm, d, hp->rms_eps);
            for (int i = 0; i < d; i++)
                x[i] += b[i];
            rmsnorm(xb, x, L->ffn_norm, d, hp->rms_eps);
            break;
        case TOK_GLU: {
            const ops_kernels *ops = ops_get();
            float *g = s->hb + (size_t)t * hp->n_ff, *u = s->hb2 + (size_t)t * hp->n_ff;
            if (hp->arch == ARCH_GEMMA3)
                ops->gelu_mul(g, u, hp->n_ff);
            else
                ops->silu_mul(g, u, hp->n_ff);
            break;
        }
        case TOK_FFN_OUT:
            if (L->post_ffw_norm)
                rmsnorm(b, b, L->post_ffw_norm, d, hp->rms_eps);
            for (int i = 0; i < d; i++)
                x[i] += b[i];
            if (j->l + 1 < hp->n_layer)
                rmsnorm(xb, x, m->layers[j->l + 1].attn_norm, d, hp->rms_eps);
            break;
        }
    }
}

static void per_token(eng_session *s, const tok_job *j)
{
    pool_for(s->pool, (j->n + TOK_CHUNK - 1) / TOK_CHUNK, tok_chunk, (void *)j);
}

/* Move the residual and attention rows of the tokens that want logits to
 * the front, in order, and return how many there are: the last layer's
 * output projection and FFN then run on those rows alone (a prompt's
 * 64 tokens, one wanted: 1/64 of that layer's matrix work). Those rows
 * now go through that layer as a smaller batch: where the kernels sum in
 * the same order at any batch size (float, repacked, the exact tiles) the
 * logits are the same bits as before; elsewhere they may move in the last
 * bits, as they do between a prompt decoded whole and token by token. */
static int logit_rows(eng_session *s, int n)
{
    const eng_hparams *hp = &s->m->hp;
    const size_t d = (size_t)hp->n_embd, da = (size_t)hp->n_head * (size_t)hp->head_dim_v;
    int k = 0;
    for (int t = 0; t < n; t++) {
        if (!s->slots[t].logits)
            continue;
        if (k != t) {
            memcpy(s->x + (size_t)k * d, s->x + (size_t)t * d, d * sizeof(float));
            memcpy(s->att + (size_t)k * da, s->att + (size_t)t * da, da * sizeof(float));
        }
        k++;
    }
    return k;
}

static void forward(eng_session *s, const int32_t *tok, int n)
{
    const eng_model *m = s->m;
    const eng_hparams *hp = &m->hp;
    const int d = hp->n_embd;

    per_token(s, &(tok_job){.s = s, .tok = tok, .l = 0, .n = n, .step = TOK_EMBED});
    for (int l = 0; l < hp->n_layer; l++) {
        const layer *L = &m->layers[l];
        const bool swa = hp->n_swa > 0 && hp->swa_pattern > 0 && (l + 1) % hp->swa_pattern != 0;
        {
            const weight *w[3] = {&L->wq, &L->wk, &L->wv};
            float *y[3] = {s->q, s->k, s->v};
            matmul_fused(s, 3, w, s->xb, n, y, NULL);
        }
        per_token(s, &(tok_job){.s = s,
                                .l = l,
                                .n = n,
                                .step = TOK_QKV,
                                .inv_freq = swa ? s->inv_freq_swa : s->inv_freq});
        attention(s, l, n, swa);
        /* every token's keys and values are in the cache now; past the last
         * layer's attention only the rows that want logits are needed */
        const int nr = l + 1 < hp->n_layer ? n : logit_rows(s, n);
        if (!nr) /* a prompt chunk that wants no logits */
            break;
        matmul(s, &L->wo, s->att, nr, s->xb2);
        per_token(s, &(tok_job){.s = s, .l = l, .n = nr, .step = TOK_ATTN_OUT});
        {
            const weight *w[2] = {&L->w_gate, &L->w_up};
            float *y[2] = {s->hb, s->hb2};
            matmul_fused(s, 2, w, s->xb, nr, y, NULL);
        }
        per_token(s, &(tok_job){.s = s, .l = l, .n = nr, .step = TOK_GLU});
        matmul(s, &L->w_down, s->hb, nr, s->xb2);
        per_token(s, &(tok_job){.s = s, .l = l, .n = nr, .step = TOK_FFN_OUT});
    }

    /* logits for the tokens that want them (rows 0..nl-1 now): norm their
     * rows together, one matmul */
    int nl = 0;
    for (int t = 0; t < n; t++)
        if (s->slots[t].logits) {
            rmsnorm(s->xb + (size_t)nl * d, s->x + (size_t)nl * d, m->output_norm, d, hp->rms_eps);
            s->rows[nl++] = s->slots[t].logits;
        }
    if (nl) {
        const weight *w = &m->output;
        matmul_fused(s, 1, &w, s->xb, nl, NULL, s->rows);
    }
}

static dx_status check_tokens(const eng_session *s, const int32_t *tokens, int n)
{
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->hp.n_vocab)
            return dx_fail(DX_EARG, "token id %d is outside the vocabulary (%d)", tokens[i],
                           s->m->hp.n_vocab);
    return DX_OK;
}

dx_status eng_session_decode(eng_session *s, const int32_t *tokens, int n, const float **logits)
{
    if (logits)
        *logits = NULL;
    if (n <= 0)
        return dx_fail(DX_EARG, "no tokens to decode");
    if (n > s->n_ctx - s->pos)
        return dx_fail(DX_ELIMIT, "%d tokens do not fit in the context: %d of %d already used", n,
                       s->pos, s->n_ctx);
    dx_status st = check_tokens(s, tokens, n);
    if (st)
        return st;
    pool_lock(s->pool);
    for (int i = 0; i < n; i += s->n_batch) {
        const int chunk = n - i < s->n_batch ? n - i : s->n_batch;
        for (int t = 0; t < chunk; t++)
            s->slots[t] = (tok_slot){s, s->pos + t, NULL};
        if (logits && i + chunk == n)
            s->slots[chunk - 1].logits = s->logits;
        forward(s, tokens + i, chunk);
        s->pos += chunk;
    }
    pool_unlock(s->pool);
    if (logits)
        *logits = s->logits;
    return DX_OK;
}

dx_status eng_batch_decode(eng_session *const *ss, const int32_t *tokens, int n)
{
    if (n <= 0)
        return dx_fail(DX_EARG, "no sessions to decode");
    eng_session *s = ss[0];
    if (n > s->n_batch)
        return dx_fail(DX_ELIMIT,
                       "%d sessions in one batch is more than the first session's batch of %d", n,
                       s->n_batch);
    for (int i = 0; i < n; i++) {
        if (ss[i]->m != s->m)
            return dx_fail(DX_EARG, "sessions in one batch must use the same model");
        if (ss[i]->pos >= ss[i]->n_ctx)
            return dx_fail(DX_ELIMIT, "session %d's context is full (%d tokens)", i, ss[i]->n_ctx);
        /* attention scores live in the first session's (threads, n_ctx) scratch */
        if (ss[i]->pos >= s->n_ctx)
            return dx_fail(DX_EARG,
                           "session %d is at position %d, past the first session's %d-token "
                           "context (put the session with the largest context first)",
                           i, ss[i]->pos, s->n_ctx);
        for (int k = 0; k < i; k++)
            if (ss[k] == ss[i])
                return dx_fail(DX_EARG, "session %d appears twice in one batch", i);
    }
    dx_status st = check_tokens(s, tokens, n);
    if (st)
        return st;
    pool_lock(s->pool);
    for (int t = 0; t < n; t++)
        s->slots[t] = (tok_slot){ss[t], ss[t]->pos, ss[t]->logits};
    s->per_token = true;
    forward(s, tokens, n);
    s->per_token = false;
    for (int t = 0; t < n; t++)
        ss[t]->pos++;
    pool_unlock(s->pool);
    return DX_OK;
}

const float *eng_session_logits(const eng_session *s)
{
    return s->logits;
}
