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

dx_status cvt_bert_dir(const char *dir, const char *out_path, const char *name,
                       enum cvt_pooling pooling_override, cvt_info *info)
{
    json_t *cfg = NULL, *tcfg = NULL, *sbc = NULL;
    st_file *sf = NULL;
    vocab v = {0};
    kvbuf k = {{dx_buf_make(DX_MAX_VOCAB_TXT * 2), false}, 0};
    gbuf hdr = {dx_buf_make((size_t)1 << 30), false};
    out_tensor *ts = NULL;
    FILE *fp = NULL;
    float *chunk = NULL;
    char tmp[PATH_MAX];
    dx_status st;
    cvt_info ci = {0};
    tmp[0] = '\0';

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
    int d, L, H, ff, n_pos, n_types, n_vocab_cfg;
    if ((st = cfg_int(cfg, "hidden_size", 1, 1 << 14, -1, &d)) ||
        (st = cfg_int(cfg, "num_hidden_layers", 1, 256, -1, &L)) ||
        (st = cfg_int(cfg, "num_attention_heads", 1, 256, -1, &H)) ||
        (st = cfg_int(cfg, "intermediate_size", 1, 1 << 16, -1, &ff)) ||
        (st = cfg_int(cfg, "max_position_embeddings", 1, 1 << 16, 512, &n_pos)) ||
        (st = cfg_int(cfg, "type_vocab_size", 1, 16, 2, &n_types)) ||
        (st = cfg_int(cfg, "vocab_size", 1, (int)DX_MAX_VOCAB, -1, &n_vocab_cfg)))
        goto out;
    if (d % H) {
        st = dx_fail(DX_EFORMAT, "convert: hidden_size %d is not a multiple of %d heads", d, H);
        goto out;
    }
    double eps = 1e-12;
    json_t *je = json_object_get(cfg, "layer_norm_eps");
    if (je && json_is_number(je))
        eps = json_number_value(je);
    if (!(eps > 0 && eps < 1)) {
        st = dx_fail(DX_EFORMAT, "convert: bad layer_norm_eps");
        goto out;
    }
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
    int max_tokens = n_pos;
    if ((st = read_json(dir, "sentence_bert_config.json", false, &sbc)))
        goto out;
    json_t *msl = json_object_get(sbc, "max_seq_length");
    if (json_is_integer(msl) && json_integer_value(msl) > 0 && json_integer_value(msl) < max_tokens)
        max_tokens = (int)json_integer_value(msl);
    bool normalize;
    enum cvt_pooling pool;
    if ((st = read_pooling(dir, &pool, &normalize)))
        goto out;
    if (pooling_override != CVT_POOL_NONE)
        pool = pooling_override;
    if ((st = read_vocab(dir, &v)))
        goto out;
    if ((int)v.n != n_vocab_cfg) {
        st = dx_fail(DX_EFORMAT, "convert: vocab.txt has %u entries, config.json vocab_size %d",
                     v.n, n_vocab_cfg);
        goto out;
    }
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int32_t sid[5];
    for (int i = 0; i < 5; i++) {
        sid[i] = vocab_find(&v, specials[i]);
        if (sid[i] >= 0)
            v.type[sid[i]] = 3; /* control */
    }
    if (sid[2] < 0 || sid[3] < 0 || sid[1] < 0) {
        st = dx_fail(DX_EFORMAT, "convert: vocab.txt lacks [CLS], [SEP] or [UNK]");
        goto out;
    }

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((st = st_open(path, &sf)))
        goto out;

    /* tensor plan */
    const int max_t = 5 + L * 16;
    ts = calloc((size_t)max_t, sizeof *ts);
    if (!ts) {
        st = dx_fail(DX_ENOMEM, "convert: out of memory");
        goto out;
    }
    int nt = 0;
    if ((st = add_tensor(ts, &nt, sf, "token_embd.weight", "embeddings.word_embeddings.weight", v.n,
                         d)) ||
        (st = add_tensor(ts, &nt, sf, "token_types.weight",
                         "embeddings.token_type_embeddings.weight", n_types, d)) ||
        (st = add_tensor(ts, &nt, sf, "position_embd.weight",
                         "embeddings.position_embeddings.weight", n_pos, d)) ||
        (st = add_tensor(ts, &nt, sf, "token_embd_norm.weight", "embeddings.LayerNorm.weight", 0,
                         d)) ||
        (st = add_tensor(ts, &nt, sf, "token_embd_norm.bias", "embeddings.LayerNorm.bias", 0, d)))
        goto out;
    /* llama.cpp sizes the position table by context_length: keep the rows
     * max_seq_length allows (sentence-transformers never uses the rest) */
    ts[2].ne[1] = max_tokens;
    ts[2].n_write = (int64_t)max_tokens * d;
    for (int l = 0; l < L; l++) {
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
        for (size_t j = 0; j < sizeof map / sizeof map[0]; j++) {
            char dn[96], sn[160];
            snprintf(dn, sizeof dn, "blk.%d.%s", l, map[j].dst);
            snprintf(sn, sizeof sn, "encoder.layer.%d.%s", l, map[j].src);
            const int64_t rows = map[j].rows == 0 ? 0 : map[j].rows == 1 ? d : ff;
            const int64_t cols = map[j].cols == 1 ? d : ff;
            if ((st = add_tensor(ts, &nt, sf, dn, sn, rows, cols)))
                goto out;
        }
    }

    /* metadata */
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", dir);
    for (size_t n = strlen(folder); n > 1 && folder[n - 1] == '/'; n--)
        folder[n - 1] = '\0';
    const char *base = strrchr(folder, '/');
    base = base ? base + 1 : folder;
    const char *nop = json_string_value(json_object_get(cfg, "_name_or_path"));
    if (!name)
        name = !strcmp(base, "model") && nop && *nop ? nop : base;
    snprintf(ci.name, sizeof ci.name, "%.*s", (int)sizeof ci.name - 1, name);
    kv_str(&k, "general.architecture", "bert");
    kv_str(&k, "general.name", ci.name);
    kv_u32(&k, "general.alignment", ALIGN);
    kv_u32(&k, "general.file_type", 0);
    kv_u32(&k, "bert.context_length", (uint32_t)max_tokens);
    kv_u32(&k, "bert.embedding_length", (uint32_t)d);
    kv_u32(&k, "bert.feed_forward_length", (uint32_t)ff);
    kv_u32(&k, "bert.block_count", (uint32_t)L);
    kv_u32(&k, "bert.attention.head_count", (uint32_t)H);
    kv_f32(&k, "bert.attention.layer_norm_epsilon", (float)eps);
    kv_bool(&k, "bert.attention.causal", false);
    kv_u32(&k, "tokenizer.ggml.token_type_count", (uint32_t)n_types);
    kv_u32(&k, "bert.pooling_type", (uint32_t)pool);
    kv_bool(&k, "drux.embed.normalize", normalize);
    kv_str(&k, "tokenizer.ggml.model", "bert");
    kv_key(&k, "tokenizer.ggml.tokens", GGUF_ARRAY);
    put_u32(&k.g, GGUF_STRING);
    put_u64(&k.g, v.n);
    for (uint32_t i = 0; i < v.n; i++)
        put_str(&k.g, v.tok[i]);
    kv_key(&k, "tokenizer.ggml.token_type", GGUF_ARRAY);
    put_u32(&k.g, GGUF_I32);
    put_u64(&k.g, v.n);
    put(&k.g, v.type, (size_t)v.n * 4);
    kv_u32(&k, "tokenizer.ggml.bos_token_id", (uint32_t)sid[2]);
    kv_u32(&k, "tokenizer.ggml.cls_token_id", (uint32_t)sid[2]);
    kv_u32(&k, "tokenizer.ggml.seperator_token_id", (uint32_t)sid[3]); /* sic, llama.cpp's key */
    kv_u32(&k, "tokenizer.ggml.unknown_token_id", (uint32_t)sid[1]);
    if (sid[0] >= 0)
        kv_u32(&k, "tokenizer.ggml.padding_token_id", (uint32_t)sid[0]);
    if (sid[4] >= 0)
        kv_u32(&k, "tokenizer.ggml.mask_token_id", (uint32_t)sid[4]);
    if (k.g.bad) {
        st = dx_fail(DX_ELIMIT, "convert: the metadata (vocabulary) does not fit in %u bytes",
                     DX_MAX_VOCAB_TXT * 2);
        goto out;
    }

    put(&hdr, "GGUF", 4);
    put_u32(&hdr, 3);
    put_u64(&hdr, (uint64_t)nt);
    put_u64(&hdr, k.n_kv);
    put(&hdr, k.g.b.data, k.g.b.len);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        ts[i].offset = off;
        put_str(&hdr, ts[i].name);
        put_u32(&hdr, (uint32_t)ts[i].n_dims);
        for (int j = 0; j < ts[i].n_dims; j++)
            put_u64(&hdr, (uint64_t)ts[i].ne[j]);
        put_u32(&hdr, 0); /* F32 */
        put_u64(&hdr, off);
        off += (uint64_t)ts[i].n_write * 4;
        off += (ALIGN - off % ALIGN) % ALIGN;
    }
    if (hdr.bad) {
        st = dx_fail(DX_ENOMEM, "convert: out of memory for the header");
        goto out;
    }

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out_path) >= sizeof tmp) {
        st = dx_fail(DX_EARG, "convert: output path too long");
        tmp[0] = '\0';
        goto out;
    }
    fp = fopen(tmp, "wb");
    if (!fp) {
        st = dx_fail(DX_EIO, "convert: %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    if ((st = write_all(fp, hdr.b.data, hdr.b.len)) || (st = write_pad(fp, hdr.b.len)))
        goto out;
    const int64_t CH = 1 << 16;
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
    if (rename(tmp, out_path) != 0) {
        st = dx_fail(DX_EIO, "convert: rename to %s: %s", out_path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    ci.n_layer = L;
    ci.n_embd = d;
    ci.n_vocab = (int)v.n;
    ci.max_tokens = max_tokens;
    ci.pooling = pool;
    ci.normalize = normalize;
    if (info)
        *info = ci;
out:
    if (fp)
        fclose(fp);
    if (st && tmp[0])
        unlink(tmp);
    free(chunk);
    free(ts);
    st_close(sf);
    vocab_free(&v);
    dx_buf_free(&k.g.b);
    dx_buf_free(&hdr.b);
    json_decref(cfg);
    json_decref(tcfg);
    json_decref(sbc);
    return st;
}
