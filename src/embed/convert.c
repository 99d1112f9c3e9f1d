/*
 * convert — a Hugging Face BERT folder to a `bert` GGUF (see convert.h).
 *
 * The GGUF is written in one pass: the header (metadata, then the tensor
 * table with offsets computed up front), padding to the alignment, then each
 * tensor converted to F32 in chunks from the mmap'd safetensors file.
 */
#include "embed/convert.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/str.h"
#include "embed/safetensors.h"
#include "gguf/gguf.h"

#define ALIGN 32u

/* ---- reading the folder ---------------------------------------------------- */

static bool file_exists(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, rel) >= sizeof p)
        return false;
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* *out is NULL (and DX_OK) when the file is absent and not required. */
static dx_status read_json(const char *dir, const char *rel, bool required, json_t **out)
{
    *out = NULL;
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, rel) >= sizeof p)
        return dx_fail(DX_EARG, "convert: path too long: %s/%s", dir, rel);
    if (!file_exists(dir, rel))
        return required ? dx_fail(DX_ENOTFOUND, "convert: %s is missing", p) : DX_OK;
    char *text;
    size_t len;
    dx_status st = dx_read_file(p, DX_MAX_JSON_BYTES, &text, &len);
    if (st)
        return dx_wrap(st, "convert: %s", p);
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    free(text);
    if (!*out)
        return dx_fail(DX_EFORMAT, "convert: %s: line %d: %s", p, je.line, je.text);
    return DX_OK;
}

static dx_status cfg_int(json_t *cfg, const char *key, int lo, int hi, int dflt, int *out)
{
    json_t *v = json_object_get(cfg, key);
    if (!v) {
        if (dflt < 0)
            return dx_fail(DX_EFORMAT, "convert: config.json has no %s", key);
        *out = dflt;
        return DX_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return dx_fail(DX_EFORMAT, "convert: config.json %s must be an integer in [%d, %d]", key,
                       lo, hi);
    *out = (int)json_integer_value(v);
    return DX_OK;
}

bool cvt_is_bert_dir(const char *dir)
{
    json_t *cfg = NULL;
    if (read_json(dir, "config.json", true, &cfg) || !file_exists(dir, "model.safetensors")) {
        json_decref(cfg);
        dx_fail(DX_OK, "%s", "");
        return false;
    }
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    bool ok = mt && !strcmp(mt, "bert");
    json_decref(cfg);
    return ok;
}

/* Pooling from sentence-transformers' modules.json and its Pooling module. */
static dx_status read_pooling(const char *dir, enum cvt_pooling *pool, bool *normalize)
{
    *pool = CVT_POOL_MEAN; /* sentence-transformers' default for a bare transformer */
    *normalize = false;
    json_t *mods = NULL, *pc = NULL;
    dx_status st = read_json(dir, "modules.json", false, &mods);
    if (st || !mods)
        return st;
    const char *pool_path = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m)
    {
        const char *type = json_string_value(json_object_get(m, "type"));
        if (!type)
            continue;
        if (strstr(type, "Pooling"))
            pool_path = json_string_value(json_object_get(m, "path"));
        else if (strstr(type, "Normalize"))
            *normalize = true;
        else if (!strstr(type, "Transformer")) {
            st = dx_fail(DX_EUNSUPPORTED,
                         "convert: modules.json names a %s module, which drux "
                         "does not run (Transformer, Pooling, Normalize only)",
                         type);
            goto out;
        }
    }
    if (pool_path) {
        char rel[PATH_MAX];
        if ((size_t)snprintf(rel, sizeof rel, "%s/config.json", pool_path) >= sizeof rel ||
            strstr(pool_path, "..")) {
            st = dx_fail(DX_EFORMAT, "convert: modules.json has a bad Pooling path");
            goto out;
        }
        if ((st = read_json(dir, rel, true, &pc)))
            goto out;
        const bool cls = json_is_true(json_object_get(pc, "pooling_mode_cls_token"));
        const bool mean = json_is_true(json_object_get(pc, "pooling_mode_mean_tokens"));
        const bool other = json_is_true(json_object_get(pc, "pooling_mode_max_tokens")) ||
                           json_is_true(json_object_get(pc, "pooling_mode_mean_sqrt_len_tokens")) ||
                           json_is_true(json_object_get(pc, "pooling_mode_weightedmean_tokens")) ||
                           json_is_true(json_object_get(pc, "pooling_mode_lasttoken"));
        if (cls + mean + other != 1) {
            st = dx_fail(DX_EUNSUPPORTED,
                         "convert: %s/%s asks for a pooling drux does not do "
                         "(exactly one of CLS or mean)",
                         dir, rel);
            goto out;
        }
        *pool = cls ? CVT_POOL_CLS : CVT_POOL_MEAN;
    }
out:
    json_decref(mods);
    json_decref(pc);
    return st;
}

/* The vocabulary as llama.cpp stores a WordPiece one: "##x" -> "x", a
 * bracketed special "[CLS]" as is, any other word-initial piece "\u2581"+word. */
typedef struct {
    char *text; /* all tokens, NUL-separated, already transformed */
    char **tok; /* n pointers into text */
    int32_t *type;
    uint32_t n;
} vocab;

static void vocab_free(vocab *v)
{
    free(v->text);
    free(v->tok);
    free(v->type);
}

static dx_status read_vocab(const char *dir, vocab *v)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    char *raw;
    size_t len;
    dx_status st = dx_read_file(p, DX_MAX_VOCAB_TXT, &raw, &len);
    if (st)
        return dx_wrap(st, "convert: %s (a WordPiece vocab.txt is needed)", dir);
    uint32_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += raw[i] == '\n';
    if (len && raw[len - 1] != '\n')
        lines++;
    if (lines == 0 || lines > DX_MAX_VOCAB) {
        free(raw);
        return dx_fail(DX_EFORMAT, "convert: %s has %u entries", p, lines);
    }
    v->text = malloc(len + (size_t)lines * 4 + 1);
    v->tok = calloc(lines, sizeof *v->tok);
    v->type = calloc(lines, sizeof *v->type);
    if (!v->text || !v->tok || !v->type) {
        free(raw);
        return dx_fail(DX_ENOMEM, "convert: out of memory for the vocabulary");
    }
    char *o = v->text;
    size_t i = 0;
    while (i < len && v->n < lines) {
        size_t e = i;
        while (e < len && raw[e] != '\n')
            e++;
        size_t l = e - i;
        if (l && raw[i + l - 1] == '\r')
            l--;
        if (l > DX_MAX_TOKEN_BYTES) {
            free(raw);
            return dx_fail(DX_ELIMIT, "convert: %s line %u is longer than %u bytes", p, v->n + 1,
                           DX_MAX_TOKEN_BYTES);
        }
        const char *s = raw + i;
        v->tok[v->n] = o;
        v->type[v->n] = 1; /* normal */
        if (l >= 2 && s[0] == '[' && s[l - 1] == ']') {
            memcpy(o, s, l);
            o += l;
        } else if (l > 2 && s[0] == '#' && s[1] == '#') {
            memcpy(o, s + 2, l - 2);
            o += l - 2;
        } else {
            memcpy(o, "\xe2\x96\x81", 3);
            memcpy(o + 3, s, l);
            o += 3 + l;
        }
        *o++ = '\0';
        v->n++;
        i = e + 1;
    }
    free(raw);
    return DX_OK;
}

static int32_t vocab_find(const vocab *v, const char *text)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (!strcmp(v->tok[i], text))
            return (int32_t)i;
    return -1;
}

/* ---- GGUF writing ------------------------------------------------------------ */

/* A byte buffer whose first failed append (out of memory, or past its limit)
 * sticks: the writer checks `bad` once at the end instead of after each put. */
typedef struct {
    dx_buf b;
    bool bad;
} gbuf;

typedef struct {
    gbuf g;
    uint64_t n_kv;
} kvbuf;

static void put(gbuf *g, const void *p, size_t n)
{
    if (!g->bad && dx_buf_append(&g->b, p, n))
        g->bad = true;
}
static void put_u32(gbuf *g, uint32_t v)
{
    put(g, &v, 4);
}
static void put_u64(gbuf *g, uint64_t v)
{
    put(g, &v, 8);
}
static void put_str(gbuf *g, const char *s)
{
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}
static void kv_key(kvbuf *k, const char *key, uint32_t type)
{
    put_str(&k->g, key);
    put_u32(&k->g, type);
    k->n_kv++;
}
static void kv_str(kvbuf *k, const char *key, const char *v)
{
    kv_key(k, key, GGUF_STRING);
    put_str(&k->g, v);
}
static void kv_u32(kvbuf *k, const char *key, uint32_t v)
{
    kv_key(k, key, GGUF_U32);
    put_u32(&k->g, v);
}
static void kv_f32(kvbuf *k, const char *key, float v)
{
    kv_key(k, key, GGUF_F32);
    put(&k->g, &v, 4);
}
static void kv_bool(kvbuf *k, const char *key, bool v)
{
    kv_key(k, key, GGUF_BOOL);
    uint8_t x = v;
    put(&k->g, &x, 1);
}

typedef struct {
    char name[96];
    const st_tensor *src;
    int n_dims;
    int64_t ne[2];   /* ne[0] fastest */
    int64_t n_write; /* leading elements of src written (position table cut to max tokens) */
    uint64_t offset;
} out_tensor;

static dx_status add_tensor(out_tensor *ts, int *n, const st_file *f, const char *gguf_name,
                            const char *src_name, int64_t rows, int64_t cols)
{
    const st_tensor *t = st_find(f, src_name);
    if (!t) {
        char alt[160];
        snprintf(alt, sizeof alt, "bert.%s", src_name); /* BertForMaskedLM-style names */
        t = st_find(f, alt);
    }
    if (!t)
        return dx_fail(DX_EFORMAT, "convert: model.safetensors has no tensor '%s'", src_name);
    if (t->dtype == ST_OTHER)
        return dx_fail(DX_EUNSUPPORTED, "convert: tensor '%s' is %s, not a float format", src_name,
                       t->dtype_name);
    const bool vec = rows == 0;
    if (vec ? (t->n_dims != 1 || t->shape[0] != cols)
            : (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols))
        return dx_fail(DX_EFORMAT,
                       "convert: tensor '%s' does not have the shape config.json implies",
                       src_name);
    out_tensor *o = &ts[(*n)++];
    snprintf(o->name, sizeof o->name, "%s", gguf_name);
    o->src = t;
    o->n_dims = vec ? 1 : 2;
    o->ne[0] = cols;
    o->ne[1] = vec ? 1 : rows;
    o->n_write = t->n_elems;
    return DX_OK;
}

static dx_status write_all(FILE *fp, const void *p, size_t n)
{
    if (fwrite(p, 1, n, fp) != n)
        return dx_fail(DX_EIO, "convert: write failed: %s", strerror(errno));
    return DX_OK;
}

static dx_status write_pad(FILE *fp, uint64_t at)
{
    static const uint8_t zero[ALIGN];
    const size_t pad = (size_t)((ALIGN - at % ALIGN) % ALIGN);
    return pad ? write_all(fp, zero, pad) : DX_OK;
}

/* ---- the conversion, phase by phase ------------------------------------------- */

/* What config.json and the sentence-transformers files say about the model. */
typedef struct {
    int d, L, H, ff, n_pos, n_types, n_vocab;
    double eps;
    int max_tokens; /* positions kept: max_seq_length when it is smaller */
    enum cvt_pooling pool;
    bool normalize;
    char name_or_path[PATH_MAX]; /* config.json _name_or_path, or "" */
} bert_cfg;

/* config.json (a gelu BERT with absolute positions), tokenizer_config.json
 * (uncased), sentence_bert_config.json (max_seq_length) and the pooling. */
static dx_status read_config(const char *dir, bert_cfg *c)
{
    json_t *cfg = NULL, *tcfg = NULL, *sbc = NULL;
    dx_status st;
    if ((st = read_json(dir, "config.json", true, &cfg)))
        goto out;
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    if (!mt || strcmp(mt, "bert")) {
        st = dx_fail(DX_EUNSUPPORTED,
                     "convert: %s/config.json model_type is '%s'; drux converts "
                     "BERT encoders only",
                     dir, mt ? mt : "(none)");
        goto out;
    }
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (act && strcmp(act, "gelu")) {
        st = dx_fail(DX_EUNSUPPORTED, "convert: hidden_act '%s' is not supported (gelu only)", act);
        goto out;
    }
    const char *pe = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (pe && strcmp(pe, "absolute")) {
        st = dx_fail(DX_EUNSUPPORTED, "convert: position_embedding_type '%s' is not supported", pe);
        goto out;
    }
    if ((st = cfg_int(cfg, "hidden_size", 1, 1 << 14, -1, &c->d)) ||
        (st = cfg_int(cfg, "num_hidden_layers", 1, 256, -1, &c->L)) ||
        (st = cfg_int(cfg, "num_attention_heads", 1, 256, -1, &c->H)) ||
        (st = cfg_int(cfg, "intermediate_size", 1, 1 << 16, -1, &c->ff)) ||
        (st = cfg_int(cfg, "max_position_embeddings", 1, 1 << 16, 512, &c->n_pos)) ||
        (st = cfg_int(cfg, "type_vocab_size", 1, 16, 2, &c->n_types)) ||
        (st = cfg_int(cfg, "vocab_size", 1, (int)DX_MAX_VOCAB, -1, &c->n_vocab)))
        goto out;
    if (c->d % c->H) {
        st = dx_fail(DX_EFORMAT, "convert: hidden_size %d is not a multiple of %d heads", c->d,
                     c->H);
        goto out;
    }
    c->eps = 1e-12;
    json_t *je = json_object_get(cfg, "layer_norm_eps");
    if (je && json_is_number(je))
        c->eps = json_number_value(je);
    if (!(c->eps > 0 && c->eps < 1)) {
        st = dx_fail(DX_EFORMAT, "convert: bad layer_norm_eps");
        goto out;
    }
    const char *nop = json_string_value(json_object_get(cfg, "_name_or_path"));
    snprintf(c->name_or_path, sizeof c->name_or_path, "%s", nop ? nop : "");
    /* cased models would need a tokenizer that keeps case: drux lower-cases */
    if ((st = read_json(dir, "tokenizer_config.json", false, &tcfg)))
        goto out;
    if (tcfg && json_is_false(json_object_get(tcfg, "do_lower_case"))) {
        st = dx_fail(DX_EUNSUPPORTED,
                     "convert: %s is a cased model (do_lower_case false); drux's "
                     "WordPiece lower-cases",
                     dir);
        goto out;
    }
    c->max_tokens = c->n_pos;
    if ((st = read_json(dir, "sentence_bert_config.json", false, &sbc)))
        goto out;
    json_t *msl = json_object_get(sbc, "max_seq_length");
    if (json_is_integer(msl) && json_integer_value(msl) > 0 &&
        json_integer_value(msl) < c->max_tokens)
        c->max_tokens = (int)json_integer_value(msl);
    st = read_pooling(dir, &c->pool, &c->normalize);
out:
    json_decref(cfg);
    json_decref(tcfg);
    json_decref(sbc);
    return st;
}

/* The special tokens: ids of [PAD] [UNK] [CLS] [SEP] [MASK] (-1 if absent),
 * marked as control tokens; [CLS], [SEP] and [UNK] must be there. */
enum { SP_PAD, SP_UNK, SP_CLS, SP_SEP, SP_MASK, SP_COUNT };

static dx_status find_specials(vocab *v, int32_t sid[SP_COUNT])
{
    static const char *const specials[SP_COUNT] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < SP_COUNT; i++) {
        sid[i] = vocab_find(v, specials[i]);
        if (sid[i] >= 0)
            v->type[sid[i]] = 3; /* control */
    }
    if (sid[SP_CLS] < 0 || sid[SP_SEP] < 0 || sid[SP_UNK] < 0)
        return dx_fail(DX_EFORMAT, "convert: vocab.txt lacks [CLS], [SEP] or [UNK]");
    return DX_OK;
}

/* The tensors to write, in llama.cpp's names and order; *out is calloc'd. */
static dx_status plan_tensors(const st_file *sf, const bert_cfg *c, uint32_t n_vocab,
                              out_tensor **out, int *n)
{
    const int d = c->d, ff = c->ff;
    out_tensor *ts = calloc((size_t)(5 + c->L * 16), sizeof *ts);
    *out = ts;
    *n = 0;
    if (!ts)
        return dx_fail(DX_ENOMEM, "convert: out of memory");
    dx_status st;
    if ((st = add_tensor(ts, n, sf, "token_embd.weight", "embeddings.word_embeddings.weight",
                         n_vocab, d)) ||
        (st = add_tensor(ts, n, sf, "token_types.weight", "embeddings.token_type_embeddings.weight",
                         c->n_types, d)) ||
        (st = add_tensor(ts, n, sf, "position_embd.weight", "embeddings.position_embeddings.weight",
                         c->n_pos, d)) ||
        (st = add_tensor(ts, n, sf, "token_embd_norm.weight", "embeddings.LayerNorm.weight", 0,
                         d)) ||
        (st = add_tensor(ts, n, sf, "token_embd_norm.bias", "embeddings.LayerNorm.bias", 0, d)))
        return st;
    /* llama.cpp sizes the position table by context_length: keep the rows
     * max_seq_length allows (sentence-transformers never uses the rest) */
    ts[2].ne[1] = c->max_tokens;
    ts[2].n_write = (int64_t)c->max_tokens * d;
    static const struct {
        const char *dst, *src;
        int rows, cols;
    } map[] = {
        /* rows/cols: 1 = hidden, 2 = intermediate, 0 = vector */
        {"attn_q.weight", "attention.self.query.weight", 1, 1},
        {"attn_q.bias", "attention.self.query.bias", 0, 1},
        {"attn_k.weight", "attention.self.key.weight", 1, 1},
        {"attn_k.bias", "attention.self.key.bias", 0, 1},
        {"attn_v.weight", "attention.self.value.weight", 1, 1},
        {"attn_v.bias", "attention.self.value.bias", 0, 1},
        {"attn_output.weight", "attention.output.dense.weight", 1, 1},
        {"attn_output.bias", "attention.output.dense.bias", 0, 1},
        {"attn_output_norm.weight", "attention.output.LayerNorm.weight", 0, 1},
        {"attn_output_norm.bias", "attention.output.LayerNorm.bias", 0, 1},
        {"ffn_up.weight", "intermediate.dense.weight", 2, 1},
        {"ffn_up.bias", "intermediate.dense.bias", 0, 2},
        {"ffn_down.weight", "output.dense.weight", 1, 2},
        {"ffn_down.bias", "output.dense.bias", 0, 1},
        {"layer_output_norm.weight", "output.LayerNorm.weight", 0, 1},
        {"layer_output_norm.bias", "output.LayerNorm.bias", 0, 1},
    };
    for (int l = 0; l < c->L; l++) {
        for (size_t j = 0; j < sizeof map / sizeof map[0]; j++) {
            char dn[96], sn[160];
            snprintf(dn, sizeof dn, "blk.%d.%s", l, map[j].dst);
            snprintf(sn, sizeof sn, "encoder.layer.%d.%s", l, map[j].src);
            const int64_t rows = map[j].rows == 0 ? 0 : map[j].rows == 1 ? d : ff;
            const int64_t cols = map[j].cols == 1 ? d : ff;
            if ((st = add_tensor(ts, n, sf, dn, sn, rows, cols)))
                return st;
        }
    }
    return DX_OK;
}

/* The model's name: the caller's, else the folder's (its parent's
 * _name_or_path when the folder is just "model"). */
static void model_name(const char *dir, const char *name, const bert_cfg *c, char *out, size_t cap)
{
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", dir);
    for (size_t n = strlen(folder); n > 1 && folder[n - 1] == '/'; n--)
        folder[n - 1] = '\0';
    const char *base = strrchr(folder, '/');
    base = base ? base + 1 : folder;
    if (!name)
        name = !strcmp(base, "model") && c->name_or_path[0] ? c->name_or_path : base;
    snprintf(out, cap, "%.*s", (int)cap - 1, name);
}

/* The metadata llama.cpp's bert loader reads, plus drux.embed.normalize. */
static dx_status put_metadata(kvbuf *k, const bert_cfg *c, const char *name, const vocab *v,
                              const int32_t sid[SP_COUNT])
{
    kv_str(k, "general.architecture", "bert");
    kv_str(k, "general.name", name);
    kv_u32(k, "general.alignment", ALIGN);
    kv_u32(k, "general.file_type", 0);
    kv_u32(k, "bert.context_length", (uint32_t)c->max_tokens);
    kv_u32(k, "bert.embedding_length", (uint32_t)c->d);
    kv_u32(k, "bert.feed_forward_length", (uint32_t)c->ff);
    kv_u32(k, "bert.block_count", (uint32_t)c->L);
    kv_u32(k, "bert.attention.head_count", (uint32_t)c->H);
    kv_f32(k, "bert.attention.layer_norm_epsilon", (float)c->eps);
    kv_bool(k, "bert.attention.causal", false);
    kv_u32(k, "tokenizer.ggml.token_type_count", (uint32_t)c->n_types);
    kv_u32(k, "bert.pooling_type", (uint32_t)c->pool);
    kv_bool(k, "drux.embed.normalize", c->normalize);
    kv_str(k, "tokenizer.ggml.model", "bert");
    kv_key(k, "tokenizer.ggml.tokens", GGUF_ARRAY);
    put_u32(&k->g, GGUF_STRING);
    put_u64(&k->g, v->n);
    for (uint32_t i = 0; i < v->n; i++)
        put_str(&k->g, v->tok[i]);
    kv_key(k, "tokenizer.ggml.token_type", GGUF_ARRAY);
    put_u32(&k->g, GGUF_I32);
    put_u64(&k->g, v->n);
    put(&k->g, v->type, (size_t)v->n * 4);
    kv_u32(k, "tokenizer.ggml.bos_token_id", (uint32_t)sid[SP_CLS]);
    kv_u32(k, "tokenizer.ggml.cls_token_id", (uint32_t)sid[SP_CLS]);
    kv_u32(k, "tokenizer.ggml.seperator_token_id", (uint32_t)sid[SP_SEP]); /* sic, llama.cpp's */
    kv_u32(k, "tokenizer.ggml.unknown_token_id", (uint32_t)sid[SP_UNK]);
    if (sid[SP_PAD] >= 0)
        kv_u32(k, "tokenizer.ggml.padding_token_id", (uint32_t)sid[SP_PAD]);
    if (sid[SP_MASK] >= 0)
        kv_u32(k, "tokenizer.ggml.mask_token_id", (uint32_t)sid[SP_MASK]);
    if (k->g.bad)
        return dx_fail(DX_ELIMIT, "convert: the metadata (vocabulary) does not fit in %u bytes",
                       DX_MAX_VOCAB_TXT * 2);
    return DX_OK;
}

/* The GGUF header: magic, counts, metadata, then the tensor table with each
 * tensor's offset (F32, aligned). */
static dx_status put_header(gbuf *hdr, const kvbuf *k, out_tensor *ts, int nt)
{
    put(hdr, "GGUF", 4);
    put_u32(hdr, 3);
    put_u64(hdr, (uint64_t)nt);
    put_u64(hdr, k->n_kv);
    put(hdr, k->g.b.data, k->g.b.len);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        ts[i].offset = off;
        put_str(hdr, ts[i].name);
        put_u32(hdr, (uint32_t)ts[i].n_dims);
        for (int j = 0; j < ts[i].n_dims; j++)
            put_u64(hdr, (uint64_t)ts[i].ne[j]);
        put_u32(hdr, 0); /* F32 */
        put_u64(hdr, off);
        off += (uint64_t)ts[i].n_write * 4;
        off += (ALIGN - off % ALIGN) % ALIGN;
    }
    if (hdr->bad)
        return dx_fail(DX_ENOMEM, "convert: out of memory for the header");
    return DX_OK;
}

/* Writes header and tensors (converted to F32 in chunks) to out_path.tmp,
 * syncs it and renames it over out_path; on failure the .tmp is removed. */
static dx_status write_gguf(const char *out_path, const gbuf *hdr, const out_tensor *ts, int nt)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out_path) >= sizeof tmp)
        return dx_fail(DX_EARG, "convert: output path too long");
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return dx_fail(DX_EIO, "convert: %s: %s", tmp, strerror(errno));
    const int64_t CH = 1 << 16;
    float *chunk = NULL;
    dx_status st;
    if ((st = write_all(fp, hdr->b.data, hdr->b.len)) || (st = write_pad(fp, hdr->b.len)))
        goto out;
    chunk = malloc((size_t)CH * sizeof(float));
    if (!chunk) {
        st = dx_fail(DX_ENOMEM, "convert: out of memory");
        goto out;
    }
    for (int i = 0; i < nt; i++) {
        const st_tensor *t = ts[i].src;
        const int64_t ne = ts[i].n_write;
        for (int64_t o = 0; o < ne; o += CH) {
            const int64_t n = ne - o < CH ? ne - o : CH;
            if ((st = st_to_f32(t, o, n, chunk)) || (st = write_all(fp, chunk, (size_t)n * 4)))
                goto out;
        }
        if ((st = write_pad(fp, (uint64_t)ne * 4)))
            goto out;
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        st = dx_fail(DX_EIO, "convert: %s: %s", tmp, strerror(errno));
        goto out;
    }
    fclose(fp);
    fp = NULL;
    if (rename(tmp, out_path) != 0)
        st = dx_fail(DX_EIO, "convert: rename to %s: %s", out_path, strerror(errno));
out:
    if (fp)
        fclose(fp);
    if (st)
        unlink(tmp);
    free(chunk);
    return st;
}

dx_status cvt_bert_dir(const char *dir, const char *out_path, const char *name,
                       enum cvt_pooling pooling_override, cvt_info *info)
{
    bert_cfg c = {0};
    st_file *sf = NULL;
    vocab v = {0};
    kvbuf k = {{dx_buf_make(DX_MAX_VOCAB_TXT * 2), false}, 0};
    gbuf hdr = {dx_buf_make((size_t)1 << 30), false};
    out_tensor *ts = NULL;
    int nt = 0;
    int32_t sid[SP_COUNT];
    cvt_info ci = {0};
    char path[PATH_MAX];
    dx_status st;

    if ((st = read_config(dir, &c)))
        goto out;
    if (pooling_override != CVT_POOL_NONE)
        c.pool = pooling_override;
    if ((st = read_vocab(dir, &v)))
        goto out;
    if ((int)v.n != c.n_vocab) {
        st = dx_fail(DX_EFORMAT, "convert: vocab.txt has %u entries, config.json vocab_size %d",
                     v.n, c.n_vocab);
        goto out;
    }
    if ((st = find_specials(&v, sid)))
        goto out;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((st = st_open(path, &sf)) || (st = plan_tensors(sf, &c, v.n, &ts, &nt)))
        goto out;
    model_name(dir, name, &c, ci.name, sizeof ci.name);
    if ((st = put_metadata(&k, &c, ci.name, &v, sid)) || (st = put_header(&hdr, &k, ts, nt)) ||
        (st = write_gguf(out_path, &hdr, ts, nt)))
        goto out;
    ci.n_layer = c.L;
    ci.n_embd = c.d;
    ci.n_vocab = (int)v.n;
    ci.max_tokens = c.max_tokens;
    ci.pooling = c.pool;
    ci.normalize = c.normalize;
    if (info)
        *info = ci;
out:
    free(ts);
    st_close(sf);
    vocab_free(&v);
    dx_buf_free(&k.g.b);
    dx_buf_free(&hdr.b);
    return st;
}
