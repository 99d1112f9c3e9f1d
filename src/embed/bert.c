/*
 * bert — the BERT encoder behind embed.h.
 *
 * Post-norm transformer: embeddings (token + position + token type 0) and a
 * LayerNorm, then per layer self-attention over all tokens (no mask: one
 * sequence, no padding) with biases, residual + LayerNorm, a GELU (erf) feed-
 * forward with biases, residual + LayerNorm. Pooling and L2 normalisation at
 * the end. Activations are [n_tokens][dim] row-major, all on the calling
 * thread.
 */
#include "embed/embed.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "engine/ops.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "tok/tok.h"

typedef struct mat {
    const uint8_t *data;
    const quant_traits *qt;
    ops_block_fn block; /* the engine's tiled kernel for the format, or NULL (vec_dot) */
    size_t row_bytes;
    int rows, cols;
} mat;

typedef struct bert_layer {
    mat wq, wk, wv, wo, up, down;
    const float *bq, *bk, *bv, *bo, *bup, *bdown; /* (rows) */
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;   /* (dim) */
} bert_layer;

struct embed_model {
    gguf *g;
    tok *tk;
    int dim, n_layer, n_head, n_ff, n_pos, n_types, n_vocab, max_tokens;
    float eps;
    enum embed_pooling pooling;
    mat tok_embd, pos_embd, type_embd;
    const float *ln_w, *ln_b;
    bert_layer *layers;
    float **owned;
    size_t n_owned;
    size_t max_act_row;
    bool reference; /* embed_model_set_reference: the one-row-at-a-time path */
};

/* ---- loading ------------------------------------------------------------- */

static dx_status bind_vec(embed_model *em, const char *name, int64_t n, const float **out)
{
    const gguf_tensor *t = gguf_find_tensor(em->g, name);
    if (!t)
        return dx_fail(DX_EFORMAT, "missing tensor '%s'", name);
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return dx_fail(DX_EFORMAT, "tensor '%s' has shape [%lld, %lld], expected [%lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    if (t->type == QT_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return DX_OK;
    }
    const quant_traits *qt = quant_get(t->type);
    if (!qt || n % qt->block_size)
        return dx_fail(DX_EUNSUPPORTED, "tensor '%s' is stored as %s, which drux cannot read here",
                       name, gguf_type_name(t->type));
    float *buf = malloc((size_t)n * sizeof(float));
    float **owned = realloc(em->owned, (em->n_owned + 1) * sizeof *owned);
    if (owned)
        em->owned = owned;
    if (!buf || !owned) {
        free(buf);
        return dx_fail(DX_ENOMEM, "out of memory converting '%s'", name);
    }
    em->owned[em->n_owned++] = buf;
    qt->to_float(t->data, buf, n);
    *out = buf;
    return DX_OK;
}

static dx_status bind_mat(embed_model *em, const char *name, int64_t cols, int64_t rows, mat *w)
{
    const gguf_tensor *t = gguf_find_tensor(em->g, name);
    if (!t)
        return dx_fail(DX_EFORMAT, "missing tensor '%s'", name);
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return dx_fail(DX_EFORMAT, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)cols,
                       (long long)rows);
    const quant_traits *qt = quant_get(t->type);
    size_t rb, act;
    if (!qt || !qt->vec_dot || !qt->to_float)
        return dx_fail(DX_EUNSUPPORTED,
                       "tensor '%s' is stored as %s, which drux cannot compute with", name,
                       gguf_type_name(t->type));
    if (!gguf_type_row_size(t->type, cols, &rb) ||
        !gguf_type_row_size(qt->vec_dot_type, cols, &act))
        return dx_fail(DX_EFORMAT, "tensor '%s': rows of %lld do not fit %s blocks", name,
                       (long long)cols, gguf_type_name(t->type));
    if (act > em->max_act_row)
        em->max_act_row = act;
    w->data = t->data;
    w->qt = qt;
    w->block = ops_block(t->type);
    w->row_bytes = rb;
    w->rows = (int)rows;
    w->cols = (int)cols;
    return DX_OK;
}

static dx_status need_u32(const gguf *g, const char *key, uint32_t lo, uint32_t hi, int *out)
{
    uint32_t v;
    if (!gguf_get_u32(g, key, &v))
        return dx_fail(DX_EFORMAT, "missing metadata key %s", key);
    if (v < lo || v > hi)
        return dx_fail(DX_EFORMAT, "metadata %s = %u is out of range [%u, %u]", key, v, lo, hi);
    *out = (int)v;
    return DX_OK;
}

/* Architecture bert, the shape, layer-norm epsilon and pooling. */
static dx_status load_hparams(embed_model *em)
{
    const gguf *g = em->g;
    dx_str arch;
    dx_status st;
    if (!gguf_get_str(g, "general.architecture", &arch))
        return dx_fail(DX_EFORMAT, "missing metadata key general.architecture");
    if (!dx_str_eqc(arch, "bert"))
        return dx_fail(DX_EUNSUPPORTED,
                       "architecture '%.*s' is not a sentence encoder drux runs "
                       "(bert only)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    if ((st = need_u32(g, "bert.embedding_length", 1, 1 << 14, &em->dim)) ||
        (st = need_u32(g, "bert.block_count", 1, 256, &em->n_layer)) ||
        (st = need_u32(g, "bert.attention.head_count", 1, 256, &em->n_head)) ||
        (st = need_u32(g, "bert.feed_forward_length", 1, 1 << 16, &em->n_ff)) ||
        (st = need_u32(g, "bert.context_length", 2, 1 << 16, &em->max_tokens)))
        return st;
    if (em->dim % em->n_head)
        return dx_fail(DX_EFORMAT, "embedding_length %d is not a multiple of %d heads", em->dim,
                       em->n_head);
    em->eps = 1e-12f;
    gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &em->eps);
    if (!(em->eps > 0 && em->eps < 1))
        return dx_fail(DX_EFORMAT, "bad layer_norm_epsilon %g", em->eps);
    uint32_t pool = EMBED_POOL_MEAN;
    gguf_get_u32(g, "bert.pooling_type", &pool);
    if (pool != EMBED_POOL_MEAN && pool != EMBED_POOL_CLS)
        return dx_fail(DX_EUNSUPPORTED, "bert.pooling_type %u is not supported (1 mean, 2 CLS)",
                       pool);
    em->pooling = (enum embed_pooling)pool;
    return DX_OK;
}

/* The token, position and type tables (their row counts give the vocabulary,
 * positions and types) and the embedding norm; max_tokens fits the table. */
static dx_status bind_embeddings(embed_model *em)
{
    const gguf *g = em->g;
    const gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
    const gguf_tensor *tp = gguf_find_tensor(g, "position_embd.weight");
    const gguf_tensor *tt = gguf_find_tensor(g, "token_types.weight");
    if (!te || !tp || !tt)
        return dx_fail(DX_EFORMAT, "missing tensor token_embd, position_embd or token_types");
    if (te->ne[1] < 1 || te->ne[1] > (int64_t)DX_MAX_VOCAB || tp->ne[1] < 2 ||
        tp->ne[1] > 1 << 16 || tt->ne[1] < 1 || tt->ne[1] > 16)
        return dx_fail(DX_EFORMAT, "embedding tables have impossible sizes");
    em->n_vocab = (int)te->ne[1];
    em->n_pos = (int)tp->ne[1];
    em->n_types = (int)tt->ne[1];
    if (em->max_tokens > em->n_pos)
        em->max_tokens = em->n_pos;
    if (em->max_tokens > (int)DX_MAX_EMBED_TOKENS)
        em->max_tokens = (int)DX_MAX_EMBED_TOKENS;
    const int d = em->dim;
    dx_status st;
    if ((st = bind_mat(em, "token_embd.weight", d, em->n_vocab, &em->tok_embd)) ||
        (st = bind_mat(em, "position_embd.weight", d, em->n_pos, &em->pos_embd)) ||
        (st = bind_mat(em, "token_types.weight", d, em->n_types, &em->type_embd)) ||
        (st = bind_vec(em, "token_embd_norm.weight", d, &em->ln_w)) ||
        (st = bind_vec(em, "token_embd_norm.bias", d, &em->ln_b)))
        return st;
    return DX_OK;
}

static dx_status bind_layer(embed_model *em, int i, bert_layer *L)
{
    const int d = em->dim, ff = em->n_ff;
    char n[96];
    dx_status st;
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, i), n)
    if ((st = bind_mat(em, NAME("attn_q.weight"), d, d, &L->wq)) ||
        (st = bind_vec(em, NAME("attn_q.bias"), d, &L->bq)) ||
        (st = bind_mat(em, NAME("attn_k.weight"), d, d, &L->wk)) ||
        (st = bind_vec(em, NAME("attn_k.bias"), d, &L->bk)) ||
        (st = bind_mat(em, NAME("attn_v.weight"), d, d, &L->wv)) ||
        (st = bind_vec(em, NAME("attn_v.bias"), d, &L->bv)) ||
        (st = bind_mat(em, NAME("attn_output.weight"), d, d, &L->wo)) ||
        (st = bind_vec(em, NAME("attn_output.bias"), d, &L->bo)) ||
        (st = bind_vec(em, NAME("attn_output_norm.weight"), d, &L->ln1_w)) ||
        (st = bind_vec(em, NAME("attn_output_norm.bias"), d, &L->ln1_b)) ||
        (st = bind_mat(em, NAME("ffn_up.weight"), d, ff, &L->up)) ||
        (st = bind_vec(em, NAME("ffn_up.bias"), ff, &L->bup)) ||
        (st = bind_mat(em, NAME("ffn_down.weight"), ff, d, &L->down)) ||
        (st = bind_vec(em, NAME("ffn_down.bias"), d, &L->bdown)) ||
        (st = bind_vec(em, NAME("layer_output_norm.weight"), d, &L->ln2_w)) ||
        (st = bind_vec(em, NAME("layer_output_norm.bias"), d, &L->ln2_b)))
        return st;
#undef NAME
    return DX_OK;
}

static dx_status load(embed_model *em)
{
    dx_status st;
    if ((st = load_hparams(em)) || (st = bind_embeddings(em)))
        return st;
    em->layers = calloc((size_t)em->n_layer, sizeof *em->layers);
    if (!em->layers)
        return dx_fail(DX_ENOMEM, "out of memory");
    for (int i = 0; i < em->n_layer; i++)
        if ((st = bind_layer(em, i, &em->layers[i])))
            return st;
    if ((st = tok_load(em->g, &em->tk)))
        return st;
    if (tok_model_of(em->tk) != TOK_WPM)
        return dx_fail(DX_EUNSUPPORTED,
                       "the vocabulary is not WordPiece (tokenizer.ggml.model bert)");
    if ((int)tok_n_vocab(em->tk) != em->n_vocab)
        return dx_fail(DX_EFORMAT, "vocabulary of %u tokens, token_embd has %d rows",
                       tok_n_vocab(em->tk), em->n_vocab);
    return DX_OK;
}

dx_status embed_model_open(const char *path, embed_model **out)
{
    *out = NULL;
    embed_model *em = calloc(1, sizeof *em);
    if (!em)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = gguf_open(path, &em->g);
    if (!st && (st = load(em)))
        dx_wrap(st, "%s", path);
    if (st) {
        embed_model_close(em);
        return st;
    }
    *out = em;
    return DX_OK;
}

void embed_model_close(embed_model *em)
{
    if (!em)
        return;
    for (size_t i = 0; i < em->n_owned; i++)
        free(em->owned[i]);
    free(em->owned);
    free(em->layers);
    tok_free(em->tk);
    gguf_close(em->g);
    free(em);
}

int embed_dim(const embed_model *em)
{
    return em->dim;
}
int embed_max_tokens(const embed_model *em)
{
    return em->max_tokens;
}
enum embed_pooling embed_pooling_of(const embed_model *em)
{
    return em->pooling;
}

/* ---- the encoder ---------------------------------------------------------- */

/* Activations of a batch: its texts' tokens laid end to end, n in all, text i
 * holding rows [start[i], start[i] + len[i]). [n][d] unless noted. */
typedef struct {
    int n_seq;
    const int *start, *len;
    float *x, *xb, *q, *k, *v, *att;
    float *h;     /* [n][n_ff] */
    float *sc;    /* [longest text]: one row of attention scores */
    uint8_t *xq;  /* activations converted for a quantized format's vec_dot */
    float **yrow; /* [n]: where each token's outputs go, for the tiled kernel */
} acts;

/* y[t][r] = W[r] . x[t] + b[r] for n rows of x. Through the engine's tiled
 * kernel where the format has one (a tile of weight rows stays in registers
 * for four tokens, so the weights are read once per batch, not per token);
 * otherwise, and on the reference path, rows outer and tokens inner with one
 * vec_dot each. */
static void linear(const embed_model *em, const mat *w, const float *b, const float *x, int n,
                   float *y, acts *a)
{
    const bool f32 = w->qt->vec_dot_type == QT_F32;
    size_t stride = (size_t)w->cols * sizeof(float);
    if (!f32) {
        const quant_traits *at = quant_get(w->qt->vec_dot_type);
        gguf_type_row_size(w->qt->vec_dot_type, w->cols, &stride);
        for (int t = 0; t < n; t++)
            at->from_float(x + (size_t)t * w->cols, a->xq + (size_t)t * stride, w->cols);
    }
    const uint8_t *act = f32 ? (const uint8_t *)x : a->xq;
    if (w->block && !em->reference) {
        for (int t = 0; t < n; t++)
            a->yrow[t] = y + (size_t)t * w->rows;
        w->block(w->cols, w->data, w->row_bytes, w->rows, act, stride, n, a->yrow);
        for (int t = 0; t < n; t++) {
            float *yt = y + (size_t)t * w->rows;
            for (int r = 0; r < w->rows; r++)
                yt[r] += b[r];
        }
        return;
    }
    for (int r = 0; r < w->rows; r++) {
        const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
        for (int t = 0; t < n; t++) {
            float *yt = y + (size_t)t * w->rows + r;
            w->qt->vec_dot(w->cols, yt, wr, act + (size_t)t * stride);
            *yt += b[r];
        }
    }
}

static void layernorm(float *x, const float *w, const float *b, int n, float eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    const float inv = (float)(1.0 / sqrt(var + eps));
    for (int i = 0; i < n; i++)
        x[i] = ((float)(x[i] - mean)) * inv * w[i] + b[i];
}

static float gelu_erf(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

static void row(const mat *m, int i, float *out)
{
    m->qt->to_float(m->data + (size_t)i * m->row_bytes, out, m->cols);
}

/* The token ids of a text, [CLS] ... [SEP], cut to max_tokens (keeping the
 * head of the text and the final [SEP]). *out is malloc'd. */
static dx_status encode_ids(const embed_model *em, const char *text, size_t len, int32_t **out,
                            int *n_out)
{
    size_t n = 0;
    *out = NULL;
    dx_status st = tok_encode(em->tk, text, len, true, false, NULL, 0, &n);
    if (st == DX_ELIMIT && n > 0)
        st = DX_OK; /* only asked for the count */
    if (st)
        return st;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return dx_fail(DX_ENOMEM, "embed: out of memory for %zu tokens", n);
    if ((st = tok_encode(em->tk, text, len, true, false, ids, n, &n))) {
        free(ids);
        return st;
    }
    if (n > (size_t)em->max_tokens) {
        ids[em->max_tokens - 1] = ids[n - 1];
        n = (size_t)em->max_tokens;
    }
    *out = ids;
    *n_out = (int)n;
    return DX_OK;
}

/* x = LayerNorm(token + position + type-0 embedding), one row per token;
 * positions count from 0 in each text. tmp holds d floats. */
static void embed_input(const embed_model *em, int32_t *const *ids, const acts *a, float *tmp)
{
    const int d = em->dim;
    for (int s = 0; s < a->n_seq; s++)
        for (int p = 0; p < a->len[s]; p++) {
            float *xt = a->x + (size_t)(a->start[s] + p) * d;
            row(&em->tok_embd, ids[s][p], xt);
            row(&em->pos_embd, p, tmp);
            for (int i = 0; i < d; i++)
                xt[i] += tmp[i];
            row(&em->type_embd, 0, tmp);
            for (int i = 0; i < d; i++)
                xt[i] += tmp[i];
            layernorm(xt, em->ln_w, em->ln_b, d, em->eps);
        }
}

/* att = softmax(q k^T / sqrt(hd)) v, head by head, every token seeing every
 * token of its own text (and none of the others'). */
static void self_attention(const embed_model *em, acts *a)
{
    const int d = em->dim, H = em->n_head, hd = d / H;
    const float scale = 1.0f / sqrtf((float)hd);
    const quant_vec_dot_fn f32dot = quant_get(QT_F32)->vec_dot; /* SIMD where the CPU has it */
    for (int sq = 0; sq < a->n_seq; sq++) {
        const int T = a->len[sq];
        const size_t base = (size_t)a->start[sq] * d;
        const float *q = a->q + base, *k = a->k + base, *v = a->v + base;
        float *att = a->att + base;
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + (size_t)t * d + (size_t)hh * hd;
                float mx = -INFINITY, sum = 0;
                for (int s = 0; s < T; s++) {
                    float dot;
                    f32dot(hd, &dot, k + (size_t)s * d + (size_t)hh * hd, qt);
                    a->sc[s] = dot * scale;
                    if (a->sc[s] > mx)
                        mx = a->sc[s];
                }
                for (int s = 0; s < T; s++) {
                    a->sc[s] = expf(a->sc[s] - mx);
                    sum += a->sc[s];
                }
                float *o = att + (size_t)t * d + (size_t)hh * hd;
                memset(o, 0, (size_t)hd * sizeof(float));
                for (int s = 0; s < T; s++) {
                    const float w = a->sc[s] / sum;
                    const float *vs = v + (size_t)s * d + (size_t)hh * hd;
                    for (int i = 0; i < hd; i++)
                        o[i] += w * vs[i];
                }
            }
    }
}

/* x = LayerNorm(x + y), row by row (the post-norm residual). */
static void add_norm(float *x, const float *y, int T, int d, const float *w, const float *b,
                     float eps)
{
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * d;
        const float *yt = y + (size_t)t * d;
        for (int i = 0; i < d; i++)
            xt[i] += yt[i];
        layernorm(xt, w, b, d, eps);
    }
}

/* One encoder layer over the n rows of a->x: attention, then the GELU feed-forward. */
static void encoder_layer(const embed_model *em, const bert_layer *L, int n, acts *a)
{
    const int d = em->dim, ff = em->n_ff;
    linear(em, &L->wq, L->bq, a->x, n, a->q, a);
    linear(em, &L->wk, L->bk, a->x, n, a->k, a);
    linear(em, &L->wv, L->bv, a->x, n, a->v, a);
    self_attention(em, a);
    linear(em, &L->wo, L->bo, a->att, n, a->xb, a);
    add_norm(a->x, a->xb, n, d, L->ln1_w, L->ln1_b, em->eps);
    linear(em, &L->up, L->bup, a->x, n, a->h, a);
    for (size_t i = 0; i < (size_t)n * ff; i++)
        a->h[i] = gelu_erf(a->h[i]);
    linear(em, &L->down, L->bdown, a->h, n, a->xb, a);
    add_norm(a->x, a->xb, n, d, L->ln2_w, L->ln2_b, em->eps);
}

/* out = the [CLS] row or the mean of the T rows at x, scaled to unit length. */
static void pool(const embed_model *em, const float *x, int T, float *out)
{
    const int d = em->dim;
    double norm = 0;
    for (int i = 0; i < d; i++) {
        double s = 0;
        if (em->pooling == EMBED_POOL_CLS)
            s = x[i];
        else {
            for (int t = 0; t < T; t++)
                s += x[(size_t)t * d + i];
            s /= T;
        }
        out[i] = (float)s;
        norm += s * s;
    }
    norm = sqrt(norm);
    if (norm > 0)
        for (int i = 0; i < d; i++)
            out[i] = (float)(out[i] / norm);
}

/* Tokens one batch of texts holds at most (a text longer than this is a batch
 * of its own). 256 keeps a batch's activations (~15 KiB a token for
 * MiniLM) in a few MiB while each weight matrix is read once for 64 tokens at
 * a time by the tiled kernel. */
#define EMBED_BATCH_TOKENS 256

/* Runs the encoder over texts [0, n) whose ids are given (len[i] tokens each,
 * all in one batch) and pools each into out[i * dim]. a holds scratch for the
 * batch. */
static void encode_batch(const embed_model *em, int n, int32_t *const *ids, const int *len,
                         int *start, acts *a, float *tmp, float *out)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        start[i] = total;
        total += len[i];
    }
    a->n_seq = n;
    a->start = start;
    a->len = len;
    embed_input(em, ids, a, tmp);
    for (int l = 0; l < em->n_layer; l++)
        encoder_layer(em, &em->layers[l], total, a);
    for (int i = 0; i < n; i++)
        pool(em, a->x + (size_t)start[i] * em->dim, len[i], out + (size_t)i * em->dim);
}

dx_status embed_texts_n(const embed_model *em, size_t n, const char *const *texts,
                        const size_t *lens, float *out, int *n_tokens)
{
    const int d = em->dim, ff = em->n_ff;
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    int *len = calloc(n ? n : 1, sizeof *len), *start = calloc(n ? n : 1, sizeof *start);
    float *buf = NULL, *tmp = NULL;
    acts a = {0};
    dx_status st = DX_OK;
    if (!ids || !len || !start) {
        st = dx_fail(DX_ENOMEM, "embed: out of memory for %zu texts", n);
        goto out;
    }
    /* the largest batch and the longest text size the scratch */
    int most = 1, longest = 1, run = 0;
    for (size_t i = 0; i < n; i++) {
        if ((st = encode_ids(em, texts[i], lens[i], &ids[i], &len[i])))
            goto out;
        if (n_tokens)
            n_tokens[i] = len[i];
        if (len[i] > longest)
            longest = len[i];
        run = run && run + len[i] <= EMBED_BATCH_TOKENS && !em->reference ? run + len[i] : len[i];
        if (run > most)
            most = run;
    }
    const size_t nb = (size_t)most * d * 6 + (size_t)most * ff + (size_t)longest + (size_t)d;
    buf = malloc(nb * sizeof(float));
    a.xq = malloc((size_t)most * em->max_act_row + 64);
    a.yrow = malloc((size_t)most * sizeof *a.yrow);
    if (!buf || !a.xq || !a.yrow) {
        st = dx_fail(DX_ENOMEM, "embed: out of memory for %d tokens", most);
        goto out;
    }
    a.x = buf;
    a.xb = a.x + (size_t)most * d;
    a.q = a.xb + (size_t)most * d;
    a.k = a.q + (size_t)most * d;
    a.v = a.k + (size_t)most * d;
    a.att = a.v + (size_t)most * d;
    a.h = a.att + (size_t)most * d;
    a.sc = a.h + (size_t)most * ff;
    tmp = a.sc + longest;
    /* the same cut as above: texts in order while they fit a batch */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int sum = len[i];
        while (j < n && !em->reference && sum + len[j] <= EMBED_BATCH_TOKENS)
            sum += len[j++];
        encode_batch(em, (int)(j - i), ids + i, len + i, start + i, &a, tmp, out + i * (size_t)d);
        i = j;
    }
out:
    if (ids)
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
    free(ids);
    free(len);
    free(start);
    free(buf);
    free(a.xq);
    free(a.yrow);
    return st;
}

dx_status embed_texts(const embed_model *em, size_t n, const char *const *texts, const size_t *lens,
                      float *out)
{
    return embed_texts_n(em, n, texts, lens, out, NULL);
}

dx_status embed_text_n(const embed_model *em, const char *text, size_t len, float *out,
                       int *n_tokens)
{
    return embed_texts_n(em, 1, &text, &len, out, n_tokens);
}

dx_status embed_text(const embed_model *em, const char *text, size_t len, float *out)
{
    return embed_text_n(em, text, len, out, NULL);
}

void embed_model_set_reference(embed_model *em, bool on)
{
    em->reference = on;
}

float embed_cosine(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}
