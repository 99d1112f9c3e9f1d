#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/str.h"

struct gen_model {
    eng_model *m;
    tok *t;
    chat_tmpl chat;
    batcher *b; /* the decode steps of this model's concurrent generations */
};

gen_params gen_defaults(void)
{
    return (gen_params){.sampling = sampler_defaults(), .max_tokens = 256};
}

dx_status gen_model_open(const char *path, gen_model **out)
{
    *out = NULL;
    gen_model *gm = calloc(1, sizeof *gm);
    if (!gm)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = eng_model_open(path, &gm->m);
    if (st)
        goto out;
    if (!(gm->b = batcher_new())) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    if ((st = tok_load(eng_model_gguf(gm->m), &gm->t))) {
        dx_wrap(st, "%s", path);
        goto out;
    }
    if (tok_n_vocab(gm->t) > (uint32_t)eng_model_hparams(gm->m)->n_vocab) {
        st = dx_fail(DX_EFORMAT, "%s: tokenizer has %u tokens but the model only %d", path,
                     tok_n_vocab(gm->t), eng_model_hparams(gm->m)->n_vocab);
        goto out;
    }
    dx_str tmpl = {0};
    gguf_get_str(eng_model_gguf(gm->m), "tokenizer.chat_template", &tmpl);
    chat_tmpl_detect(tmpl, &gm->chat);
out:
    if (st) {
        gen_model_close(gm);
        return st;
    }
    *out = gm;
    return DX_OK;
}

void gen_model_close(gen_model *gm)
{
    if (!gm)
        return;
    tok_free(gm->t);
    batcher_free(gm->b);
    eng_model_close(gm->m);
    free(gm);
}

eng_model *gen_model_engine(const gen_model *gm)
{
    return gm->m;
}
const chat_tmpl *gen_model_chat(const gen_model *gm)
{
    return &gm->chat;
}
batch_stats gen_model_batch_stats(const gen_model *gm)
{
    return batcher_stats(gm->b);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The text fed to the tokenizer: the raw prompt, a chat turn, or (msgs
 * not NULL) a whole conversation. */
static dx_status prompt_text(const gen_model *gm, const gen_params *p, const char *prompt,
                             const chat_msg *conv, size_t n_conv, dx_buf *out)
{
    if (!p->chat && !conv)
        return dx_buf_puts(out, prompt);
    chat_msg msgs[2];
    size_t n = 0;
    if (!conv) {
        if (p->system && *p->system)
            msgs[n++] = (chat_msg){CHAT_SYSTEM, p->system};
        msgs[n++] = (chat_msg){CHAT_USER, prompt};
        conv = msgs;
        n_conv = n;
    }
    /* Like llama.cpp's built-in formats, a template's default system prompt
     * is used only when asked for. */
    chat_tmpl ct = gm->chat;
    if (!p->default_system)
        ct.default_system[0] = '\0';
    return chat_format(&ct, conv, n_conv, true, out);
}

static dx_status prompt_ids(const gen_model *gm, const gen_params *p, const char *prompt,
                            const chat_msg *conv, size_t n_conv, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    dx_buf text = dx_buf_make(DX_MAX_PROMPT_BYTES * 2);
    dx_status st = prompt_text(gm, p, prompt, conv, n_conv, &text);
    if (st)
        goto out;
    /* a token never covers less than one byte, plus BOS/EOS */
    size_t cap = text.len + 8;
    int32_t *buf = malloc(cap * sizeof *buf);
    if (!buf) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    /* chat templates carry their own special tokens; BOS as the model says */
    st =
        tok_encode(gm->t, text.data ? text.data : "", text.len, true, p->chat || conv, buf, cap, n);
    if (st) {
        free(buf);
        goto out;
    }
    *ids = buf;
out:
    dx_buf_free(&text);
    return st;
}

dx_status gen_prompt_ids(const gen_model *gm, const gen_params *p, const char *prompt,
                         int32_t **ids, size_t *n)
{
    return prompt_ids(gm, p, prompt, NULL, 0, ids, n);
}

dx_status gen_chat_tokens(const gen_model *gm, const gen_params *p, const chat_msg *msgs, size_t n,
                          size_t *count)
{
    *count = 0;
    if (n == 0)
        return dx_fail(DX_EARG, "a chat needs at least one message");
    int32_t *ids;
    dx_status st = prompt_ids(gm, p, NULL, msgs, n, &ids, count);
    free(ids);
    return st;
}

int gen_context_size(const gen_model *gm, const gen_params *p)
{
    int train = eng_model_hparams(gm->m)->n_ctx_train;
    if (p->n_ctx > 0)
        return p->n_ctx < train ? p->n_ctx : train;
    return train < 4096 ? train : 4096;
}

/* Length of the longest prefix of a UTF-8 string that ends on a whole character. */
static size_t utf8_whole(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4) {
        unsigned char c = (unsigned char)s[i - 1];
        if ((c & 0xC0) != 0x80) {
            size_t need = c < 0x80         ? 1
                          : (c >> 5) == 6  ? 2
                          : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4
                                           : 1;
            return back + 1 >= need ? n : i - 1;
        }
        i--;
        back++;
    }
    return n;
}

/* Bytes of `s` (length n) that can be released: everything except a tail
 * that is a proper prefix of a stop string. */
static size_t releasable(const char *s, size_t n, const char *const *stops)
{
    size_t keep = 0;
    for (const char *const *st = stops; st && *st; st++) {
        size_t sl = strlen(*st);
        for (size_t k = sl - 1; k > keep && k > 0; k--)
            if (k <= n && !memcmp(s + n - k, *st, k)) {
                keep = k;
                break;
            }
    }
    return n - keep;
}

const char *gen_stop_str(gen_stop s)
{
    switch (s) {
    case GEN_STOP_EOG:
        return "eog";
    case GEN_STOP_STRING:
        return "stop string";
    case GEN_STOP_CONTEXT:
        return "context";
    case GEN_STOP_CANCELLED:
        return "cancelled";
    case GEN_STOP_REPETITION:
        return "repetition";
    case GEN_STOP_LENGTH:
        break;
    }
    return "length";
}

bool gen_loop_tokens(const int32_t *ids, size_t n)
{
    for (size_t p = 1; p <= GEN_LOOP_MAX_PERIOD && 2 * p <= n; p++) {
        /* the tail where each token equals the one p before it */
        size_t run = 0;
        while (run + p < n && ids[n - 1 - run] == ids[n - 1 - run - p])
            run++;
        size_t span = run + p; /* tokens covered by the repeating block */
        if (span >= 3 * p && span >= GEN_LOOP_MIN_TOKENS)
            return true;
    }
    return false;
}

/* FNV-1a of a line with leading bullets, numbers and blanks dropped and
 * ASCII folded to lower case; *chars counts the bytes hashed. */
static uint64_t line_key(const char *s, size_t n, size_t *chars)
{
    size_t i = 0;
    while (i < n && (strchr(" \t-*+>#.)", s[i]) || (s[i] >= '0' && s[i] <= '9')))
        i++;
    while (n > i && strchr(" \t\r", s[n - 1]))
        n--;
    uint64_t h = 1469598103934665603ull;
    for (size_t k = i; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 1099511628211ull;
    }
    *chars = n - i;
    return h;
}

bool gen_loop_lines(gen_loop *lp, const char *text, size_t len)
{
    bool loop = false;
    for (size_t i = lp->line_start; i < len; i++) {
        if (text[i] != '\n')
            continue;
        size_t chars;
        uint64_t h = line_key(text + lp->line_start, i - lp->line_start, &chars);
        lp->line_start = i + 1;
        if (chars < GEN_LOOP_MIN_LINE)
            continue;
        size_t k = 0;
        while (k < lp->n_lines && lp->line_hash[k] != h)
            k++;
        if (k == lp->n_lines) {
            if (lp->n_lines == GEN_LOOP_MAX_LINES)
                continue; /* a very long text: lines past the table are not tracked */
            lp->line_hash[lp->n_lines] = h;
            lp->line_count[lp->n_lines++] = 0;
        }
        if (++lp->line_count[k] >= 3)
            loop = true;
    }
    return loop;
}

static dx_status generate(gen_model *gm, const gen_params *p, const char *prompt,
                          const chat_msg *conv, size_t n_conv, gen_piece_fn cb, void *ud,
                          gen_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->stop = "length";
    stats->stop_reason = GEN_STOP_LENGTH;
    int32_t *ids = NULL, *out_ids = NULL;
    gen_loop *lp = NULL;
    size_t n_ids = 0;
    eng_session *s = NULL;
    sampler *sp = NULL;
    bool joined = false; /* in gm->b's decoding sessions */
    dx_buf pend = dx_buf_make(DX_MAX_ANSWER_BYTES);
    const char *const *stops = p->chat || conv ? chat_stops(&gm->chat) : NULL;
    dx_status st = prompt_ids(gm, p, prompt, conv, n_conv, &ids, &n_ids);
    if (st)
        goto out;
    eng_options eo = {.n_ctx = p->n_ctx};
    if ((st = eng_session_new(gm->m, &eo, &s)))
        goto out;
    if ((int64_t)n_ids >= eng_session_n_ctx(s)) {
        st = dx_fail(DX_ELIMIT,
                     "the prompt is %zu tokens; it does not fit the %d-token context "
                     "(use a shorter prompt or a larger --ctx)",
                     n_ids, eng_session_n_ctx(s));
        goto out;
    }
    const int n_vocab = eng_model_hparams(gm->m)->n_vocab;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            st = dx_fail(DX_EFORMAT, "tokenizer produced id %d outside the model's vocabulary",
                         ids[i]);
            goto out;
        }
    if ((st = sampler_new(&p->sampling, n_vocab, &sp)))
        goto out;
    for (size_t i = 0; i < n_ids; i++)
        sampler_accept(sp, ids[i]);
    stats->prompt_tokens = (int)n_ids;

    double t0 = now_ms(), t1 = t0;
    const float *logits = NULL;
    /* The prompt a chunk at a time, letting the sessions that are decoding
     * take a step in between (the pool is held for a whole call). */
    const size_t nb = (size_t)eng_session_n_batch(s);
    for (size_t i = 0; i < n_ids; i += nb) {
        const size_t n = n_ids - i < nb ? n_ids - i : nb;
        if (i && !p->solo)
            batch_yield(gm->b);
        if ((st = eng_session_decode(s, ids + i, (int)n, i + n == n_ids ? &logits : NULL)))
            goto out;
    }
    if (!p->solo) {
        batch_join(gm->b);
        joined = true;
    }
    const int limit = p->max_tokens > 0 ? p->max_tokens : INT32_MAX;
    if (p->stop_loops) {
        /* every generated id, for the cycle check: never more than the context holds */
        size_t cap = (size_t)eng_session_n_ctx(s) + 1;
        if ((size_t)limit < cap)
            cap = (size_t)limit + 1;
        out_ids = malloc(cap * sizeof *out_ids);
        lp = calloc(1, sizeof *lp);
        if (!out_ids || !lp) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            goto out;
        }
    }
    char piece[DX_MAX_TOKEN_BYTES];
    size_t emitted = 0; /* bytes of pend already passed to cb */
    for (;;) {
        int32_t id = sampler_sample(sp, logits);
        if (stats->gen_tokens == 0) {
            t1 = now_ms();
            stats->prefill_ms = t1 - t0;
        }
        if (tok_is_eog(gm->t, id)) {
            stats->stop_reason = GEN_STOP_EOG;
            break;
        }
        if (out_ids)
            out_ids[stats->gen_tokens] = id;
        stats->gen_tokens++;
        sampler_accept(sp, id);
        size_t len = tok_piece(gm->t, id, false, piece, sizeof piece);
        if (len > sizeof piece)
            len = sizeof piece;
        if ((st = dx_buf_append(&pend, piece, len)))
            goto out;
        /* a stop string ends the answer; it is not part of it */
        bool stopped = false;
        for (const char *const *ss = stops; ss && *ss; ss++) {
            char *hit = strstr(pend.data + emitted, *ss);
            if (hit) {
                pend.len = (size_t)(hit - pend.data);
                pend.data[pend.len] = '\0';
                stopped = true;
            }
        }
        size_t ready =
            utf8_whole(pend.data, releasable(pend.data, pend.len, stopped ? NULL : stops));
        if (ready > emitted) {
            if (cb(ud, pend.data + emitted, ready - emitted)) {
                emitted = ready;
                stats->stop_reason = GEN_STOP_CANCELLED;
                break;
            }
            emitted = ready;
        }
        if (stopped) {
            stats->stop_reason = GEN_STOP_STRING;
            break;
        }
        if (lp && (gen_loop_tokens(out_ids, (size_t)stats->gen_tokens) ||
                   gen_loop_lines(lp, pend.data, pend.len))) {
            stats->stop_reason = GEN_STOP_REPETITION;
            break;
        }
        if (stats->gen_tokens >= limit)
            break;
        if (eng_session_pos(s) >= eng_session_n_ctx(s)) {
            stats->stop_reason = GEN_STOP_CONTEXT;
            break;
        }
        bool shared = false;
        if (joined)
            st = batch_decode(gm->b, s, id, &logits, &shared);
        else
            st = eng_session_decode(s, &id, 1, &logits);
        if (st)
            goto out;
        stats->batched_tokens += shared;
    }
    if (joined) {
        batch_leave(gm->b);
        joined = false;
    }
    if (pend.len > emitted && stats->stop_reason != GEN_STOP_CANCELLED)
        cb(ud, pend.data + emitted, pend.len - emitted);
    stats->decode_ms = now_ms() - t1;
out:
    stats->stop = gen_stop_str(stats->stop_reason);
    free(lp);
    free(out_ids);
    if (joined)
        batch_leave(gm->b);
    dx_buf_free(&pend);
    sampler_free(sp);
    eng_session_free(s);
    free(ids);
    return st;
}

dx_status gen_generate(gen_model *gm, const gen_params *p, const char *prompt, gen_piece_fn cb,
                       void *ud, gen_stats *stats)
{
    return generate(gm, p, prompt, NULL, 0, cb, ud, stats);
}

dx_status gen_generate_chat(gen_model *gm, const gen_params *p, const chat_msg *msgs, size_t n,
                            gen_piece_fn cb, void *ud, gen_stats *stats)
{
    if (n == 0) {
        memset(stats, 0, sizeof *stats);
        stats->stop = "length";
        stats->stop_reason = GEN_STOP_LENGTH;
        return dx_fail(DX_EARG, "a chat needs at least one message");
    }
    return generate(gm, p, NULL, msgs, n, cb, ud, stats);
}
