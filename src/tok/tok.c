/*
 * tok — SentencePiece-style, byte-level BPE and WordPiece tokenizers. See tok.h
 * and docs/tokenizers.md.
 */
#include "tok/tok.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/arena.h"
#include "core/limits.h"
#include "core/log.h"
#include "tok/pretok.h"

enum {
    A_NORMAL = 1 << 0,
    A_UNKNOWN = 1 << 1,
    A_CONTROL = 1 << 2,
    A_USER = 1 << 3,
    A_UNUSED = 1 << 4,
    A_BYTE = 1 << 5,
    A_LSTRIP = 1 << 6,
    A_RSTRIP = 1 << 7,
};

/* open-addressing table of ids keyed by bytes */
typedef struct idmap {
    int32_t *slot; /* -1 = empty */
    uint32_t mask;
} idmap;

struct tok {
    enum tok_model model;
    const pretok_kind *pre;
    uint32_t n;
    char *blob; /* all token texts */
    uint32_t *off, *len;
    float *score;
    uint8_t *attr;
    idmap ids; /* text -> id */
    int max_len;

    uint32_t n_merges;
    char *mblob;                 /* "left right" strings */
    uint32_t *m_off, *m_l, *m_r; /* offset, left length, right length */
    idmap merges;                /* "left right" -> merge index (= rank) */

    int32_t *special; /* control/user-defined/unknown ids, longest text first */
    uint32_t n_special;
    idmap special_ids;
    uint32_t *special_lens; /* distinct lengths */
    uint32_t n_special_lens;
    uint8_t special_first[32]; /* bitset of first bytes */

    int32_t bos, eos, eot, eom, unk, sep, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    bool lowercase, strip_accents; /* WordPiece */
    int32_t *eog;
    uint32_t n_eog;

    int32_t byte_tok[256]; /* SentencePiece byte fallback ids, TOK_NONE if absent */
    char b2u[256][2];      /* byte-level BPE: byte -> UTF-8 of its stand-in */
    uint8_t b2u_len[256];
    int16_t u2b[0x144]; /* stand-in code point -> byte, -1 if none */
};

/* ---- hashing ---- */

static uint64_t fnv_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV0 0xcbf29ce484222325ull

static dx_status idmap_init(idmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot)
        return dx_fail(DX_ENOMEM, "tok: out of memory for a table of %zu entries", n);
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    m->mask = (uint32_t)(cap - 1);
    return DX_OK;
}

static dx_str tok_str(const tok *t, int32_t id)
{
    return (dx_str){t->blob + t->off[id], t->len[id]};
}

/* Lookup of a token's text in one of the id tables (open addressing). */
static int32_t idmap_find(const tok *t, const idmap *m, const char *s, size_t n)
{
    uint32_t i = (uint32_t)fnv_add(FNV0, s, n) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        if (id < 0)
            return TOK_NONE;
        if (t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0)
            return id;
    }
}

static int32_t find_text(const tok *t, const char *s, size_t n)
{
    return idmap_find(t, &t->ids, s, n);
}

static int32_t find_special(const tok *t, const char *s, size_t n)
{
    return idmap_find(t, &t->special_ids, s, n);
}

static void idmap_put(idmap *m, uint64_t h, int32_t v)
{
    uint32_t i = (uint32_t)h & m->mask;
    while (m->slot[i] >= 0)
        i = (i + 1) & m->mask;
    m->slot[i] = v;
}

/* rank of merging left and right, or -1 */
static int32_t find_merge(const tok *t, const char *l, size_t nl, const char *r, size_t nr)
{
    if (!t->n_merges)
        return -1;
    uint64_t h = fnv_add(fnv_add(fnv_add(FNV0, l, nl), " ", 1), r, nr);
    uint32_t i = (uint32_t)h & t->merges.mask;
    for (;; i = (i + 1) & t->merges.mask) {
        int32_t k = t->merges.slot[i];
        if (k < 0)
            return -1;
        const char *m = t->mblob + t->m_off[k];
        if (t->m_l[k] == nl && t->m_r[k] == nr && memcmp(m, l, nl) == 0 &&
            memcmp(m + nl + 1, r, nr) == 0)
            return k;
    }
}

/* ---- construction ---- */

tok_spec tok_spec_make(enum tok_model model)
{
    tok_spec s;
    memset(&s, 0, sizeof s);
    s.model = model;
    s.bos = s.eos = s.eot = s.eom = s.unk = s.sep = s.pad = TOK_ID_DEFAULT;
    s.add_bos = s.add_eos = s.add_space_prefix = -1;
    s.lowercase = s.strip_accents = -1;
    return s;
}

void tok_free(tok *t)
{
    if (!t)
        return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->attr);
    free(t->ids.slot);
    free(t->mblob);
    free(t->m_off);
    free(t->m_l);
    free(t->m_r);
    free(t->merges.slot);
    free(t->special);
    free(t->special_ids.slot);
    free(t->special_lens);
    free(t->eog);
    free(t);
}

static uint8_t attr_of_type(int32_t type)
{
    switch (type) {
    case TOK_TYPE_NORMAL:
        return A_NORMAL;
    case TOK_TYPE_UNKNOWN:
        return A_UNKNOWN;
    case TOK_TYPE_CONTROL:
        return A_CONTROL;
    case TOK_TYPE_USER_DEFINED:
        return A_USER;
    case TOK_TYPE_UNUSED:
        return A_UNUSED;
    case TOK_TYPE_BYTE:
        return A_BYTE;
    default:
        return 0;
    }
}

/* GPT-2's table of printable stand-ins for the 256 byte values. */
static void build_byte_map(tok *t)
{
    for (int i = 0; i < 0x144; i++)
        t->u2b[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = printable ? (uint32_t)b : (uint32_t)(256 + extra++);
        t->b2u_len[b] = (uint8_t)ucp_encode(cp, t->b2u[b]);
        t->u2b[cp] = (int16_t)b;
    }
}

/* Tokens llama.cpp recognises by their text (its vocabulary loader). */
#define NTEXTS(a) (sizeof(a) / sizeof *(a))

static const char *const eot_texts[] = {
    "<|eot_id|>",         "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>",    "<EOT>",      "_<EOT>",  "[EOT]",         "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
};

static const char *const eog_texts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
};

/* fill-in-the-middle markers: prefix, suffix, middle, pad, repo, file separator */
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",    "<｜fim▁begin｜>",
    "<PRE>",          "▁<PRE>",       "<|code_prefix|>", "<|prefix|>",
};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",    "<｜fim▁hole｜>",
    "<SUF>",          "▁<SUF>",       "<|code_suffix|>", "<|suffix|>",
};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",    "<｜fim▁end｜>",
    "<MID>",          "▁<MID>",       "<|code_middle|>", "<|middle|>",
};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                            "[PAD]"};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            "<reponame>"};
static const char *const fim_sep_texts[] = {"<|file_sep|>"};

static bool text_in(dx_str s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (dx_str_eqc(s, list[i]))
            return true;
    return false;
}

static int32_t pick_id(int64_t given, int32_t dflt, uint32_t n_vocab, const char *what)
{
    if (dflt >= 0 && (uint32_t)dflt >= n_vocab)
        dflt = TOK_NONE;
    if (given == TOK_ID_DEFAULT)
        return dflt;
    /* GGUF writers store "none" as -1, which a u32 field holds as 0xFFFFFFFF */
    if (given < 0 || given == (int64_t)UINT32_MAX)
        return TOK_NONE;
    if ((uint64_t)given >= n_vocab) {
        log_warn("tok: %s token id %lld is out of the vocabulary (%u), using %d", what,
                 (long long)given, n_vocab, dflt);
        return dflt;
    }
    return (int32_t)given;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const tok *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y])
        return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool name_has_phi3(const char *name)
{
    if (!name)
        return false;
    char low[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    return strstr(low, "phi-3") || strstr(low, "phi3");
}

static void set_attr_by_text(tok *t, const char *text, uint8_t bit, bool on)
{
    int32_t id = find_text(t, text, strlen(text));
    if (id < 0)
        return;
    t->attr[id] = on ? (uint8_t)(t->attr[id] | bit) : (uint8_t)(t->attr[id] & ~bit);
}

static dx_status build_vocab(tok *t, const tok_spec *s)
{
    size_t total = 0;
    for (uint32_t i = 0; i < s->n_vocab; i++) {
        if (s->tokens[i].len > DX_MAX_TOKEN_BYTES)
            return dx_fail(DX_ELIMIT, "tok: token %u is %zu bytes, over the limit of %u", i,
                           s->tokens[i].len, DX_MAX_TOKEN_BYTES);
        total += s->tokens[i].len;
    }
    if (total > UINT32_MAX)
        return dx_fail(DX_ELIMIT, "tok: token texts total %zu bytes, over 4 GiB", total);
    t->blob = malloc(total ? total : 1);
    t->off = malloc(s->n_vocab * sizeof *t->off);
    t->len = malloc(s->n_vocab * sizeof *t->len);
    t->score = malloc(s->n_vocab * sizeof *t->score);
    t->attr = malloc(s->n_vocab);
    if (!t->blob || !t->off || !t->len || !t->score || !t->attr)
        return dx_fail(DX_ENOMEM, "tok: out of memory for %u tokens", s->n_vocab);
    dx_status st = idmap_init(&t->ids, s->n_vocab);
    if (st)
        return st;
    size_t o = 0;
    for (uint32_t i = 0; i < s->n_vocab; i++) {
        dx_str w = s->tokens[i];
        if (w.len)
            memcpy(t->blob + o, w.ptr, w.len);
        t->off[i] = (uint32_t)o;
        t->len[i] = (uint32_t)w.len;
        o += w.len;
        t->score[i] = s->scores ? s->scores[i] : 0.0f;
        t->attr[i] = s->types ? attr_of_type(s->types[i]) : A_NORMAL;
        if ((int)w.len > t->max_len)
            t->max_len = (int)w.len;
        if (w.len == 0)
            continue; /* can never match text */
        if (find_text(t, w.ptr, w.len) >= 0) {
            log_warn("tok: token %u duplicates an earlier entry; the first one is used", i);
            continue;
        }
        idmap_put(&t->ids, fnv_add(FNV0, w.ptr, w.len), (int32_t)i);
    }
    return DX_OK;
}

static dx_status build_merges(tok *t, const tok_spec *s)
{
    if (s->n_merges > DX_MAX_MERGES)
        return dx_fail(DX_ELIMIT, "tok: %u merges exceed the limit of %u", s->n_merges,
                       DX_MAX_MERGES);
    size_t total = 0;
    for (uint32_t i = 0; i < s->n_merges; i++) {
        if (s->merges[i].len > 2 * DX_MAX_TOKEN_BYTES + 1)
            return dx_fail(DX_ELIMIT, "tok: merge %u is %zu bytes, over the limit", i,
                           s->merges[i].len);
        total += s->merges[i].len;
    }
    if (total > UINT32_MAX)
        return dx_fail(DX_ELIMIT, "tok: merges total %zu bytes, over 4 GiB", total);
    t->mblob = malloc(total ? total : 1);
    t->m_off = malloc((s->n_merges ? s->n_merges : 1) * sizeof *t->m_off);
    t->m_l = malloc((s->n_merges ? s->n_merges : 1) * sizeof *t->m_l);
    t->m_r = malloc((s->n_merges ? s->n_merges : 1) * sizeof *t->m_r);
    if (!t->mblob || !t->m_off || !t->m_l || !t->m_r)
        return dx_fail(DX_ENOMEM, "tok: out of memory for %u merges", s->n_merges);
    dx_status st = idmap_init(&t->merges, s->n_merges);
    if (st)
        return st;
    size_t o = 0;
    for (uint32_t i = 0; i < s->n_merges; i++) {
        dx_str m = s->merges[i];
        memcpy(t->mblob + o, m.ptr, m.len);
        t->m_off[i] = (uint32_t)o;
        o += m.len;
        /* split at the first space after the first byte, as llama.cpp does */
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        if (!sp) {
            t->m_l[i] = t->m_r[i] = UINT32_MAX; /* never matches */
            continue;
        }
        t->m_l[i] = (uint32_t)(sp - m.ptr);
        t->m_r[i] = (uint32_t)(m.len - t->m_l[i] - 1);
        if (find_merge(t, m.ptr, t->m_l[i], sp + 1, t->m_r[i]) >= 0)
            continue; /* an earlier rule wins */
        idmap_put(&t->merges, fnv_add(FNV0, m.ptr, m.len), (int32_t)i);
    }
    t->n_merges = s->n_merges;
    return DX_OK;
}

static dx_status build_specials(tok *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if ((t->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN)) && t->len[i])
            n++;
    t->special = malloc((n ? n : 1) * sizeof *t->special);
    t->special_lens = malloc((n ? n : 1) * sizeof *t->special_lens);
    if (!t->special || !t->special_lens)
        return dx_fail(DX_ENOMEM, "tok: out of memory for special tokens");
    dx_status st = idmap_init(&t->special_ids, n);
    if (st)
        return st;
    for (uint32_t i = 0; i < t->n; i++) {
        if (!((t->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN)) && t->len[i]))
            continue;
        t->special[t->n_special++] = (int32_t)i;
        dx_str w = tok_str(t, (int32_t)i);
        if (find_special(t, w.ptr, w.len) < 0)
            idmap_put(&t->special_ids, fnv_add(FNV0, w.ptr, w.len), (int32_t)i);
        unsigned char c = (unsigned char)w.ptr[0];
        t->special_first[c >> 3] |= (uint8_t)(1u << (c & 7));
        bool seen = false;
        for (uint32_t k = 0; k < t->n_special_lens && !seen; k++)
            seen = t->special_lens[k] == w.len;
        if (!seen)
            t->special_lens[t->n_special_lens++] = (uint32_t)w.len;
    }
    qsort_r(t->special, t->n_special, sizeof *t->special, cmp_special, t);
    return DX_OK;
}

static dx_status add_eog(tok *t, int32_t id)
{
    if (id < 0)
        return DX_OK;
    for (uint32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return DX_OK;
    int32_t *p = realloc(t->eog, (t->n_eog + 1) * sizeof *p);
    if (!p)
        return dx_fail(DX_ENOMEM, "tok: out of memory");
    t->eog = p;
    t->eog[t->n_eog++] = id;
    return DX_OK;
}

static int32_t eog_find_text(const tok *t, const char *text)
{
    for (uint32_t i = 0; i < t->n_eog; i++)
        if (dx_str_eqc(tok_str(t, t->eog[i]), text))
            return t->eog[i];
    return TOK_NONE;
}

static void eog_remove(tok *t, int32_t id)
{
    for (uint32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) {
            t->eog[i] = t->eog[--t->n_eog];
            return;
        }
}

/* Special tokens llama.cpp finds by their text: end of turn and of message,
 * fill-in-the-middle markers (all made control tokens) and the set of tokens
 * that end generation, with its two exceptions. */
static dx_status mark_by_text(tok *t)
{
    dx_status st;
    int32_t fim[6] = {TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE, TOK_NONE};
    static const struct {
        const char *const *texts;
        size_t n;
    } fim_lists[6] = {
        {fim_pre_texts, NTEXTS(fim_pre_texts)}, {fim_suf_texts, NTEXTS(fim_suf_texts)},
        {fim_mid_texts, NTEXTS(fim_mid_texts)}, {fim_pad_texts, NTEXTS(fim_pad_texts)},
        {fim_rep_texts, NTEXTS(fim_rep_texts)}, {fim_sep_texts, NTEXTS(fim_sep_texts)},
    };
    for (uint32_t i = 0; i < t->n; i++) {
        dx_str w = tok_str(t, (int32_t)i);
        if (w.len == 0)
            continue;
        if (t->eot < 0 && text_in(w, eot_texts, NTEXTS(eot_texts))) {
            t->eot = (int32_t)i;
            t->attr[i] |= A_CONTROL;
        }
        if (t->eom < 0 && dx_str_eqc(w, "<|eom_id|>")) {
            t->eom = (int32_t)i;
            t->attr[i] |= A_CONTROL;
        }
        for (int k = 0; k < 6; k++)
            if (fim[k] < 0 && text_in(w, fim_lists[k].texts, fim_lists[k].n)) {
                fim[k] = (int32_t)i;
                t->attr[i] |= A_CONTROL;
            }
    }
    for (int k = 3; k < 6; k++) /* pad, repo and file separator end generation */
        if ((st = add_eog(t, fim[k])))
            return st;
    for (uint32_t i = 0; i < t->n; i++) {
        dx_str w = tok_str(t, (int32_t)i);
        if (w.len && text_in(w, eog_texts, NTEXTS(eog_texts))) {
            t->attr[i] |= A_CONTROL;
            if ((st = add_eog(t, (int32_t)i)))
                return st;
        }
    }
    /* gpt-oss channel markers are always rendered */
    static const char *const shown[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
    for (size_t k = 0; k < NTEXTS(shown); k++) {
        int32_t id = find_text(t, shown[k], strlen(shown[k]));
        if (id >= 0)
            t->attr[id] = A_USER;
    }
    if ((st = add_eog(t, t->eos)) || (st = add_eog(t, t->eot)) || (st = add_eog(t, t->eom)))
        return st;
    /* harmony-style vocabularies: <|end|> ends a message, not generation */
    int32_t end = eog_find_text(t, "<|end|>");
    bool call = eog_find_text(t, "<|call|>") >= 0 || eog_find_text(t, "<|calls|>") >= 0;
    if (end >= 0 && call &&
        (eog_find_text(t, "<|return|>") >= 0 || eog_find_text(t, "<|flush|>") >= 0)) {
        eog_remove(t, end);
        t->attr[end] = A_USER;
    }
    /* vocabularies with <|tool_response> use </s> as ordinary text */
    int32_t s_id = eog_find_text(t, "</s>");
    if (s_id >= 0 && eog_find_text(t, "<|tool_response>") >= 0) {
        eog_remove(t, s_id);
        t->attr[s_id] = A_NORMAL;
    }
    return DX_OK;
}

/* The spec is one drux can build: a known model, a vocabulary within the
 * limit, merges for BPE and a pre-tokenizer it knows (*pre). */
static dx_status check_spec(const tok_spec *s, const pretok_kind **pre)
{
    *pre = NULL;
    if (s->model != TOK_SPM && s->model != TOK_BPE && s->model != TOK_WPM)
        return dx_fail(DX_EUNSUPPORTED, "tok: unknown tokenizer model %d", (int)s->model);
    if (s->n_vocab == 0 || !s->tokens)
        return dx_fail(DX_EFORMAT, "tok: the vocabulary is empty");
    if (s->n_vocab > DX_MAX_VOCAB)
        return dx_fail(DX_ELIMIT, "tok: %u tokens exceed the limit of %u", s->n_vocab,
                       DX_MAX_VOCAB);
    if (s->model == TOK_BPE && (!s->merges || s->n_merges == 0))
        return dx_fail(DX_EFORMAT, "tok: a BPE vocabulary needs tokenizer.ggml.merges");
    if (s->model == TOK_BPE) {
        *pre = pretok_find(s->pre);
        if (!*pre)
            return dx_fail(DX_EUNSUPPORTED,
                           "tok: pre-tokenizer '%s' is not supported (supported: %s)", s->pre,
                           pretok_names());
    }
    return DX_OK;
}

/* Special ids and flags: the model type's defaults, then the file's. */
static dx_status pick_specials(tok *t, const tok_spec *s)
{
    int32_t d_bos = 1, d_eos = 2, d_unk = 0, d_sep = TOK_NONE, d_pad = TOK_NONE;
    bool d_add_bos = true, d_space = true;
    if (s->model == TOK_BPE) {
        d_bos = d_eos = 11;
        d_unk = TOK_NONE;
        d_add_bos = pretok_default_bos(t->pre);
        d_space = false;
        t->ignore_merges = pretok_ignore_merges(t->pre);
    } else if (s->model == TOK_WPM) {
        d_bos = 101;
        d_eos = TOK_NONE;
        d_unk = 100;
        d_sep = 102;
        d_pad = 0;
        d_space = false;
    }
    t->bos = pick_id(s->bos, d_bos, t->n, "BOS");
    t->eos = pick_id(s->eos, d_eos, t->n, "EOS");
    t->eot = pick_id(s->eot, TOK_NONE, t->n, "EOT");
    t->eom = pick_id(s->eom, TOK_NONE, t->n, "EOM");
    t->unk = pick_id(s->unk, d_unk, t->n, "UNK");
    t->sep = pick_id(s->sep, d_sep, t->n, "SEP");
    t->pad = pick_id(s->pad, d_pad, t->n, "PAD");
    t->add_bos = s->add_bos >= 0 ? s->add_bos : d_add_bos;
    t->add_eos = s->add_eos >= 0 ? s->add_eos : false;
    t->add_space_prefix = s->add_space_prefix >= 0 ? s->add_space_prefix : d_space;
    t->lowercase = s->lowercase != 0;
    t->strip_accents = s->strip_accents >= 0 ? s->strip_accents != 0 : t->lowercase;
    if (s->model != TOK_WPM && t->add_bos && t->bos < 0)
        return dx_fail(DX_EFORMAT, "tok: add_bos_token is set but there is no BOS token");
    if (s->model != TOK_WPM && t->add_eos && t->eos < 0)
        return dx_fail(DX_EFORMAT, "tok: add_eos_token is set but there is no EOS token");
    return DX_OK;
}

/* SentencePiece byte fallback: <0xNN>, else the byte itself as a token. */
static void build_byte_tokens(tok *t)
{
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = find_text(t, hex, 6);
        if (id < 0) {
            char c = (char)b;
            id = find_text(t, &c, 1);
        }
        t->byte_tok[b] = id;
    }
}

dx_status tok_new(const tok_spec *s, tok **out)
{
    const pretok_kind *pre;
    *out = NULL;
    dx_status st = check_spec(s, &pre);
    if (st)
        return st;
    tok *t = calloc(1, sizeof *t);
    if (!t)
        return dx_fail(DX_ENOMEM, "tok: out of memory");
    t->model = s->model;
    t->pre = pre;
    t->n = s->n_vocab;
    build_byte_map(t);
    if ((st = build_vocab(t, s)) || (s->model == TOK_BPE && (st = build_merges(t, s))) ||
        (st = pick_specials(t, s)) || (st = mark_by_text(t)) || (st = build_specials(t))) {
        tok_free(t);
        return st;
    }
    if (name_has_phi3(s->name)) { /* Phi-3 strips spaces after its special tokens */
        for (uint32_t i = 0; i < t->n_special; i++)
            t->attr[t->special[i]] |= A_RSTRIP;
        set_attr_by_text(t, "</s>", A_RSTRIP, true);
        set_attr_by_text(t, "<unk>", A_RSTRIP, false);
        set_attr_by_text(t, "<s>", A_RSTRIP, false);
        set_attr_by_text(t, "<|endoftext|>", A_RSTRIP, false);
    }
    build_byte_tokens(t);
    *out = t;
    return DX_OK;
}

/* ---- output and work buffers ---- */

typedef struct outv {
    int32_t *ids;
    size_t cap, n;
} outv;

static void emit(outv *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

typedef struct sym {
    int prev, next;
    uint32_t start, n;
} sym;

typedef struct bigram {
    double prio; /* lower first */
    int left, right;
    uint32_t size;
} bigram;

typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

static bool bg_before(const bigram *a, const bigram *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

static dx_status heap_push(heap *h, bigram b)
{
    if (arena_grow(NULL, &h->v, h->n, &h->cap, sizeof *h->v, 64))
        return dx_oom("tok: merging");
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!bg_before(&b, &h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = b;
    return DX_OK;
}

static bigram heap_pop(heap *h)
{
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && bg_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!bg_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

typedef struct work {
    sym *syms;
    size_t cap_syms;
    heap q;
    char *buf;
    size_t cap_buf;
} work;

static void work_free(work *w)
{
    free(w->syms);
    free(w->q.v);
    free(w->buf);
}

static dx_status work_reserve(work *w, size_t nsyms, size_t nbuf)
{
    if (nsyms > w->cap_syms) {
        sym *p = realloc(w->syms, nsyms * sizeof *p);
        if (!p)
            return dx_fail(DX_ENOMEM, "tok: out of memory");
        w->syms = p;
        w->cap_syms = nsyms;
    }
    if (nbuf > w->cap_buf) {
        char *p = realloc(w->buf, nbuf);
        if (!p)
            return dx_fail(DX_ENOMEM, "tok: out of memory");
        w->buf = p;
        w->cap_buf = nbuf;
    }
    return DX_OK;
}

static size_t utf8_len(unsigned char c)
{
    static const unsigned char lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[c >> 4];
}

/* Split w->buf[0..n) into characters as the symbol chain. Returns the count. */
static size_t split_chars(work *w, size_t n)
{
    size_t k = 0, o = 0;
    while (o < n) {
        size_t l = utf8_len((unsigned char)w->buf[o]);
        if (l > n - o)
            l = n - o;
        w->syms[k] = (sym){(int)k - 1, o + l == n ? -1 : (int)k + 1, (uint32_t)o, (uint32_t)l};
        o += l;
        k++;
    }
    return k;
}

/* Ranks the pair of adjacent symbols l, r and queues it if it can merge. */
typedef dx_status (*bigram_fn)(const tok *t, work *w, int l, int r);

/* Merge adjacent symbols, best-ranked pair first, until no pair can merge:
 * the loop both SentencePiece (by score) and byte-level BPE (by merge rank)
 * share; they differ only in how a pair is ranked. */
static dx_status merge_symbols(const tok *t, work *w, size_t ns, bigram_fn rank)
{
    dx_status st;
    w->q.n = 0;
    for (size_t i = 1; i < ns; i++)
        if ((st = rank(t, w, (int)i - 1, (int)i)))
            return st;
    while (w->q.n) {
        bigram b = heap_pop(&w->q);
        sym *L = &w->syms[b.left], *R = &w->syms[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size)
            continue; /* stale: one side merged since it was queued */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            w->syms[R->next].prev = b.left;
        if ((st = rank(t, w, L->prev, b.left)) || (st = rank(t, w, b.left, L->next)))
            return st;
    }
    return DX_OK;
}

/* ---- SentencePiece-style ---- */

static dx_status spm_bigram(const tok *t, work *w, int l, int r)
{
    if (l < 0 || r < 0)
        return DX_OK;
    uint32_t size = w->syms[l].n + w->syms[r].n;
    int32_t id = find_text(t, w->buf + w->syms[l].start, size);
    if (id < 0)
        return DX_OK;
    return heap_push(&w->q, (bigram){-(double)t->score[id], l, r, size});
}

static dx_status spm_encode(const tok *t, work *w, const char *s, size_t n, bool prefix, outv *o)
{
    /* ' ' becomes ▁ (3 bytes) */
    size_t cap = (n + 1) * 3;
    dx_status st = work_reserve(w, cap, cap); /* a symbol per byte at most */
    if (st)
        return st;
    size_t m = 0;
    if (prefix) {
        memcpy(w->buf, "\xe2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(w->buf + m, "\xe2\x96\x81", 3);
            m += 3;
        } else {
            w->buf[m++] = s[i];
        }
    }
    size_t ns = split_chars(w, m);
    if (ns == 0)
        return DX_OK;
    if ((st = merge_symbols(t, w, ns, spm_bigram)))
        return st;
    for (int i = 0; i != -1; i = w->syms[i].next) {
        sym *y = &w->syms[i];
        int32_t id = find_text(t, w->buf + y->start, y->n);
        if (id >= 0) {
            emit(o, id);
            continue;
        }
        for (uint32_t k = 0; k < y->n; k++) {
            int32_t b = t->byte_tok[(unsigned char)w->buf[y->start + k]];
            if (b < 0)
                b = t->unk;
            if (b >= 0)
                emit(o, b);
        }
    }
    return DX_OK;
}

/* ---- byte-level BPE ---- */

static dx_status bpe_bigram(const tok *t, work *w, int l, int r)
{
    if (l < 0 || r < 0)
        return DX_OK;
    const sym *L = &w->syms[l], *R = &w->syms[r];
    int32_t rank = find_merge(t, w->buf + L->start, L->n, w->buf + R->start, R->n);
    if (rank < 0)
        return DX_OK;
    return heap_push(&w->q, (bigram){(double)rank, l, r, L->n + R->n});
}

static dx_status bpe_word(const tok *t, work *w, size_t m, outv *o)
{
    dx_status st;
    if (t->ignore_merges) {
        int32_t id = find_text(t, w->buf, m);
        if (id >= 0) {
            emit(o, id);
            return DX_OK;
        }
    }
    size_t ns = split_chars(w, m);
    if ((st = merge_symbols(t, w, ns, bpe_bigram)))
        return st;
    for (int i = 0; ns && i != -1; i = w->syms[i].next) {
        sym *y = &w->syms[i];
        int32_t id = find_text(t, w->buf + y->start, y->n);
        if (id >= 0) {
            emit(o, id);
            continue;
        }
        /* llama.cpp falls back to single-byte entries (only ASCII can hit) */
        for (uint32_t k = 0; k < y->n; k++) {
            int32_t b = find_text(t, w->buf + y->start + k, 1);
            if (b >= 0)
                emit(o, b);
        }
    }
    return DX_OK;
}

static dx_status bpe_encode(const tok *t, work *w, const char *s, size_t n, outv *o)
{
    pretok_text pt;
    dx_status st = pretok_text_init(&pt, s, n);
    if (st)
        return st;
    if ((st = pretok_split(t->pre, &pt)))
        goto out;
    for (size_t i = 0; i < pt.n_seg; i++) {
        size_t a = pt.seg[i].start, b = pt.seg[i].end;
        /* each code point: at most 4 UTF-8 bytes, each byte 2 bytes mapped */
        if ((st = work_reserve(w, (b - a) * 4 + 1, (b - a) * 8 + 1)))
            goto out;
        size_t m = 0;
        for (size_t k = a; k < b; k++) {
            char u[4];
            size_t ul = ucp_encode(pt.cp[k], u);
            for (size_t j = 0; j < ul; j++) {
                unsigned char c = (unsigned char)u[j];
                memcpy(w->buf + m, t->b2u[c], t->b2u_len[c]);
                m += t->b2u_len[c];
            }
        }
        if ((st = bpe_word(t, w, m, o)))
            goto out;
    }
out:
    pretok_text_free(&pt);
    return st;
}

/* ---- WordPiece ---- */

static bool is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* first code point of the canonical decomposition (accent stripping) */
static uint32_t nfd_first(uint32_t c)
{
    utf8proc_int32_t d[8];
    utf8proc_ssize_t k =
        utf8proc_decompose_char((utf8proc_int32_t)c, d, 8, UTF8PROC_DECOMPOSE, NULL);
    return k >= 1 ? (uint32_t)d[0] : c;
}

static dx_status wpm_word(const tok *t, work *w, size_t m, outv *o)
{
    /* w->buf[0..m) holds "▁" + word; greedy longest match from the left */
    size_t before = o->n;
    for (size_t i = 0; i < m;) {
        size_t j = m < i + (size_t)t->max_len ? m : i + (size_t)t->max_len;
        int32_t id = TOK_NONE;
        for (; j > i; j--)
            if ((id = find_text(t, w->buf + i, j - i)) >= 0)
                break;
        if (id < 0) {
            o->n = before;
            break;
        }
        emit(o, id);
        i = j;
    }
    if (o->n == before && t->unk >= 0)
        emit(o, t->unk);
    return DX_OK;
}

static dx_status wpm_encode(const tok *t, work *w, const char *s, size_t n, outv *o)
{
    pretok_text pt;
    dx_status st = pretok_text_init(&pt, s, n);
    if (st)
        return st;
    if ((st = work_reserve(w, 1, n * 4 + 8)))
        goto out;
    size_t m = 0;
#define WPM_FLUSH()                                                                                \
    do {                                                                                           \
        if (m > 3 && (st = wpm_word(t, w, m, o)))                                                  \
            goto out;                                                                              \
        m = 0;                                                                                     \
    } while (0)
    for (size_t i = 0; i < pt.n; i++) {
        /* accents stripped as BERT's normalizer does: decomposed, marks dropped */
        uint32_t c = t->strip_accents ? nfd_first(pt.cp[i]) : pt.cp[i];
        unsigned f = ucp_flags(c);
        if (f & UCP_WS) {
            WPM_FLUSH();
            continue;
        }
        if (c == 0 || c == 0xFFFD || (f & UCP_C) || (t->strip_accents && (f & UCP_M)))
            continue;
        bool alone = (f & UCP_P) || (c < 0x7F && (f & UCP_S)) || is_chinese(c);
        if (t->lowercase)
            c = ucp_tolower(c);
        if (alone)
            WPM_FLUSH();
        if (m == 0) {
            memcpy(w->buf, "\xe2\x96\x81", 3);
            m = 3;
        }
        m += ucp_encode(c, w->buf + m);
        if (alone)
            WPM_FLUSH();
    }
    WPM_FLUSH();
#undef WPM_FLUSH
out:
    pretok_text_free(&pt);
    return st;
}

/* ---- special tokens ---- */

typedef struct frag {
    int32_t id; /* TOK_NONE: text */
    size_t off, len;
} frag;

typedef struct fragv {
    frag *v;
    size_t n, cap;
} fragv;

static dx_status frag_push(fragv *f, frag x)
{
    if (arena_grow(NULL, &f->v, f->n, &f->cap, sizeof *f->v, 16))
        return dx_oom("tok");
    f->v[f->n++] = x;
    return DX_OK;
}

static bool special_usable(const tok *t, int32_t id, bool parse_special)
{
    return parse_special || !(t->attr[id] & (A_CONTROL | A_UNKNOWN));
}

/* Marks in cand the usable special tokens that occur in s (by the first byte and the lengths
 * special tokens have); returns whether there is any. */
static bool special_candidates(const tok *t, const char *s, size_t n, bool parse_special,
                               uint8_t *cand)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(t->special_first[c >> 3] & (1u << (c & 7))))
            continue;
        for (uint32_t k = 0; k < t->n_special_lens; k++) {
            uint32_t L = t->special_lens[k];
            if (L > n - i)
                continue;
            int32_t id = find_special(t, s + i, L);
            if (id >= 0 && special_usable(t, id, parse_special)) {
                cand[id] = 1;
                any = true;
            }
        }
    }
    return any;
}

/* The text fragment s[base, base + blen) cut at every occurrence of special token id, the
 * pieces and the token appended to next; the token's lstrip/rstrip attributes drop the blanks
 * beside it. */
static dx_status cut_fragment(const tok *t, const char *s, int32_t id, size_t base, size_t blen,
                              fragv *next)
{
    dx_str w = tok_str(t, id);
    dx_status st;
    for (;;) {
        const char *hit = blen >= w.len ? memmem(s + base, blen, w.ptr, w.len) : NULL;
        if (!hit)
            return blen ? frag_push(next, (frag){TOK_NONE, base, blen}) : DX_OK;
        size_t at = (size_t)(hit - s);
        size_t llen = at - base;
        if (t->attr[id] & A_LSTRIP)
            while (llen && isspace((unsigned char)s[base + llen - 1]))
                llen--;
        if (llen && (st = frag_push(next, (frag){TOK_NONE, base, llen})))
            return st;
        if ((st = frag_push(next, (frag){id, at, w.len})))
            return st;
        size_t roff = at + w.len, rlen = base + blen - roff;
        if (t->attr[id] & A_RSTRIP)
            while (rlen && isspace((unsigned char)s[roff])) {
                roff++;
                rlen--;
            }
        base = roff;
        blen = rlen;
        if (!blen)
            return DX_OK;
    }
}

/* Cut special tokens out of the text, longest first, as llama.cpp does. */
static dx_status partition(const tok *t, const char *s, size_t n, bool parse_special, fragv *fr)
{
    dx_status st = DX_OK;
    fragv next = {0};
    fr->n = 0;
    if (n == 0)
        return DX_OK;
    if ((st = frag_push(fr, (frag){TOK_NONE, 0, n})))
        return st;
    if (t->n_special == 0)
        return DX_OK;
    uint8_t *cand = calloc(t->n, 1);
    if (!cand)
        return dx_fail(DX_ENOMEM, "tok: out of memory");
    bool any = special_candidates(t, s, n, parse_special, cand);
    for (uint32_t k = 0; any && k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!cand[id])
            continue;
        next.n = 0;
        for (size_t f = 0; f < fr->n && !st; f++) {
            frag x = fr->v[f];
            st = x.id != TOK_NONE ? frag_push(&next, x)
                                  : cut_fragment(t, s, id, x.off, x.len, &next);
        }
        if (st)
            break;
        fragv tmp = *fr;
        *fr = next;
        next = tmp;
    }
    free(next.v);
    free(cand);
    return st;
}

/* ---- encode ---- */

dx_status tok_encode(const tok *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *ids, size_t cap, size_t *n)
{
    dx_status st = DX_OK;
    outv o = {ids, ids ? cap : 0, 0};
    fragv fr = {0};
    work w = {0};
    *n = 0;
    if (len > DX_MAX_PROMPT_BYTES)
        return dx_fail(DX_ELIMIT, "tok: text of %zu bytes exceeds the limit of %u", len,
                       DX_MAX_PROMPT_BYTES);
    if (len && !text)
        return dx_fail(DX_EARG, "tok: NULL text");
    if ((st = partition(t, text, len, parse_special, &fr)))
        goto out;

    if (add_special && (t->model == TOK_WPM || t->add_bos) && t->bos >= 0)
        emit(&o, t->bos);
    bool prev_special = true; /* SentencePiece: space prefix at the start */
    for (size_t i = 0; i < fr.n; i++) {
        frag f = fr.v[i];
        if (f.id != TOK_NONE) {
            emit(&o, f.id);
            prev_special = true;
            continue;
        }
        if (t->model == TOK_SPM)
            st = spm_encode(t, &w, text + f.off, f.len, t->add_space_prefix && prev_special, &o);
        else if (t->model == TOK_BPE)
            st = bpe_encode(t, &w, text + f.off, f.len, &o);
        else
            st = wpm_encode(t, &w, text + f.off, f.len, &o);
        if (st)
            goto out;
        prev_special = false;
    }
    if (add_special) {
        if (t->model == TOK_WPM) {
            if (t->sep >= 0)
                emit(&o, t->sep);
        } else if (t->add_eos) {
            emit(&o, t->eos);
        }
    }
    *n = o.n;
    if (o.n > cap)
        st = dx_fail(DX_ELIMIT, "tok: %zu tokens do not fit in %zu", o.n, cap);
out:
    free(fr.v);
    work_free(&w);
    return st;
}

/* ---- pieces and accessors ---- */

static size_t put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap)
        memcpy(buf + at, s, n < cap - at ? n : cap - at);
    return at + n;
}

size_t tok_piece(const tok *t, int32_t id, bool special, char *buf, size_t cap)
{
    if (id < 0 || (uint32_t)id >= t->n)
        return 0;
    uint8_t a = t->attr[id];
    dx_str w = tok_str(t, id);
    if (a & (A_UNKNOWN | A_CONTROL))
        return special ? put(buf, cap, 0, w.ptr, w.len) : 0;
    if (a & A_USER)
        return put(buf, cap, 0, w.ptr, w.len);
    if (a & A_NORMAL) {
        size_t o = 0;
        if (t->model != TOK_BPE) { /* ▁ -> ' ' */
            for (size_t i = 0; i < w.len;) {
                if (w.len - i >= 3 && memcmp(w.ptr + i, "\xe2\x96\x81", 3) == 0) {
                    o = put(buf, cap, o, " ", 1);
                    i += 3;
                } else {
                    o = put(buf, cap, o, w.ptr + i, 1);
                    i++;
                }
            }
            return o;
        }
        for (size_t i = 0; i < w.len;) {
            uint32_t c;
            size_t l = ucp_decode((const unsigned char *)w.ptr + i, w.len - i, &c);
            if (c < 0x144 && t->u2b[c] >= 0) {
                char b = (char)t->u2b[c];
                o = put(buf, cap, o, &b, 1);
            } else {
                o = put(buf, cap, o, w.ptr + i, l); /* not a byte stand-in: as is */
            }
            i += l;
        }
        return o;
    }
    if ((a & A_BYTE) && w.len == 6 && memcmp(w.ptr, "<0x", 3) == 0) {
        char hex[3] = {w.ptr[3], w.ptr[4], 0};
        char b = (char)strtol(hex, NULL, 16);
        return put(buf, cap, 0, &b, 1);
    }
    return 0;
}

uint32_t tok_n_vocab(const tok *t)
{
    return t->n;
}
enum tok_model tok_model_of(const tok *t)
{
    return t->model;
}
int32_t tok_bos(const tok *t)
{
    return t->bos;
}
bool tok_add_bos(const tok *t)
{
    return t->add_bos;
}

bool tok_is_eog(const tok *t, int32_t id)
{
    for (uint32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return true;
    return false;
}

bool tok_is_control(const tok *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n && (t->attr[id] & A_CONTROL);
}

int32_t tok_find(const tok *t, const char *text)
{
    return text ? find_text(t, text, strlen(text)) : TOK_NONE;
}
