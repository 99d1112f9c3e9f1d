#include "gen/gen.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/str.h"

/* A finished generation's session, kept with the prompt its cache holds. */
typedef struct idle_session {
    eng_session *s; /* NULL: a free slot */
    int32_t *ids;   /* the prompt in its KV cache */
    size_t n_ids;
    uint64_t last_used;
} idle_session;

struct gen_model {
    eng_model *m;
    tok *t;
    chat_tmpl chat;
    batcher *b; /* the decode steps of this model's concurrent generations */
    pthread_mutex_t idle_mu;
    idle_session idle[GEN_IDLE_SESSIONS];
    uint64_t clock;
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
    pthread_mutex_init(&gm->idle_mu, NULL);
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
    for (size_t i = 0; i < GEN_IDLE_SESSIONS; i++) {
        eng_session_free(gm->idle[i].s);
        free(gm->idle[i].ids);
    }
    pthread_mutex_destroy(&gm->idle_mu);
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

/* ---- idle sessions -----------------------------------------------------------
 * A new session zeroes a KV cache of the whole context (tens of MB), and a
 * prompt that starts like an earlier one (the same system prompt, the same
 * instructions, a conversation one turn longer) would prefill the same tokens
 * again. So a finished generation's session is kept, cut back to its prompt,
 * and the next generation with the same context size takes the one that
 * shares the longest start with its prompt and prefills only the rest. */

/* The shortest shared start worth taking a kept session for. */
#define GEN_REUSE_MIN_TOKENS 8

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = 0;
    while (n < na && n < nb && a[n] == b[n])
        n++;
    return n;
}

/* An idle session of n_ctx tokens for the prompt ids[0..n): the one holding
 * the longest start of it, at least GEN_REUSE_MIN_TOKENS (cut back to that),
 * else NULL: a session whose prompt shares only a chat header stays for the
 * prompts that start like it. *reused gets the tokens already in its cache;
 * at least the last prompt token is left to decode, for its logits. */
static eng_session *idle_take(gen_model *gm, int n_ctx, const int32_t *ids, size_t n,
                              size_t *reused)
{
    *reused = 0;
    pthread_mutex_lock(&gm->idle_mu);
    idle_session *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < GEN_IDLE_SESSIONS; i++) {
        idle_session *is = &gm->idle[i];
        if (!is->s || eng_session_n_ctx(is->s) != n_ctx)
            continue;
        size_t c = common_prefix(is->ids, is->n_ids, ids, n);
        if (!best || c > best_n || (c == best_n && is->last_used > best->last_used)) {
            best = is;
            best_n = c;
        }
    }
    eng_session *s = NULL;
    if (best && best_n >= GEN_REUSE_MIN_TOKENS) {
        s = best->s;
        best->s = NULL;
        free(best->ids);
        best->ids = NULL;
        if (best_n >= n)
            best_n = n ? n - 1 : 0;
        eng_session_truncate(s, (int)best_n);
        *reused = best_n;
    }
    pthread_mutex_unlock(&gm->idle_mu);
    return s;
}

/* Keeps s (its cache cut back to the prompt ids[0..n), which it must hold)
 * for a later generation, in a free slot or the least recently used one;
 * takes ownership of s either way. */
static void idle_put(gen_model *gm, eng_session *s, const int32_t *ids, size_t n)
{
    int32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy) {
        eng_session_free(s);
        return;
    }
    memcpy(copy, ids, n * sizeof *copy);
    eng_session_truncate(s, (int)n);
    pthread_mutex_lock(&gm->idle_mu);
    idle_session *slot = &gm->idle[0];
    for (size_t i = 0; i < GEN_IDLE_SESSIONS; i++) {
        idle_session *is = &gm->idle[i];
        if (!is->s) {
            slot = is;
            break;
        }
        if (is->last_used < slot->last_used)
            slot = is;
    }
    eng_session *old = slot->s;
    int32_t *old_ids = slot->ids;
    *slot = (idle_session){.s = s, .ids = copy, .n_ids = n, .last_used = ++gm->clock};
    pthread_mutex_unlock(&gm->idle_mu);
    eng_session_free(old);
    free(old_ids);
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

/* One generation's state, from the prompt to the last piece (generate). */
typedef struct gen_run {
    gen_model *gm;
    const gen_params *p;
    gen_piece_fn cb;
    void *ud;
    gen_stats *stats;
    const char *const *stops; /* the chat format's stop strings, or NULL */
    int32_t *ids;             /* the prompt */
    size_t n_ids;
    eng_session *s;
    size_t reused; /* prompt tokens already in s's cache (an idle session's) */
    sampler *sp;
    const float *logits; /* of the last position decoded */
    bool joined;         /* in gm->b's decoding sessions */
    int32_t *out_ids;    /* every generated id (stop_loops only) */
    gen_loop *lp;        /* repeated lines (stop_loops only) */
    dx_buf pend;         /* the text generated so far */
    size_t emitted;      /* bytes of pend already passed to cb */
} gen_run;

/* Tokenizes the prompt and opens the session and the sampler; the prompt must fit the context
 * and its ids the model's vocabulary. */
static dx_status run_open(gen_run *r, const char *prompt, const chat_msg *conv, size_t n_conv)
{
    dx_status st = prompt_ids(r->gm, r->p, prompt, conv, n_conv, &r->ids, &r->n_ids);
    if (st)
        return st;
    eng_options eo = {.n_ctx = r->p->n_ctx};
    r->s = idle_take(r->gm, gen_context_size(r->gm, r->p), r->ids, r->n_ids, &r->reused);
    if (!r->s && (st = eng_session_new(r->gm->m, &eo, &r->s)))
        return st;
    if ((int64_t)r->n_ids >= eng_session_n_ctx(r->s))
        return dx_fail(DX_ELIMIT,
                       "the prompt is %zu tokens; it does not fit the %d-token context "
                       "(use a shorter prompt or a larger --ctx)",
                       r->n_ids, eng_session_n_ctx(r->s));
    const int n_vocab = eng_model_hparams(r->gm->m)->n_vocab;
    for (size_t i = 0; i < r->n_ids; i++)
        if (r->ids[i] < 0 || r->ids[i] >= n_vocab)
            return dx_fail(DX_EFORMAT, "tokenizer produced id %d outside the model's vocabulary",
                           r->ids[i]);
    if ((st = sampler_new(&r->p->sampling, n_vocab, &r->sp)))
        return st;
    for (size_t i = 0; i < r->n_ids; i++)
        sampler_accept(r->sp, r->ids[i]);
    r->stats->prompt_tokens = (int)r->n_ids;
    r->stats->reused_tokens = (int)r->reused;
    return DX_OK;
}

/* The prompt a chunk at a time, letting the sessions that are decoding take a step in between
 * (the pool is held for a whole call); then the session joins the batcher unless it is solo. */
static dx_status run_prefill(gen_run *r)
{
    const size_t nb = (size_t)eng_session_n_batch(r->s);
    for (size_t i = r->reused; i < r->n_ids; i += nb) {
        const size_t n = r->n_ids - i < nb ? r->n_ids - i : nb;
        if (i > r->reused && !r->p->solo)
            batch_yield(r->gm->b);
        dx_status st =
            eng_session_decode(r->s, r->ids + i, (int)n, i + n == r->n_ids ? &r->logits : NULL);
        if (st)
            return st;
    }
    if (!r->p->solo) {
        batch_join(r->gm->b);
        r->joined = true;
    }
    return DX_OK;
}

/* For stop_loops: room for every generated id (never more than the context holds) and the
 * table of lines. */
static dx_status run_watch_loops(gen_run *r, int limit)
{
    size_t cap = (size_t)eng_session_n_ctx(r->s) + 1;
    if ((size_t)limit < cap)
        cap = (size_t)limit + 1;
    r->out_ids = malloc(cap * sizeof *r->out_ids);
    r->lp = calloc(1, sizeof *r->lp);
    if (!r->out_ids || !r->lp)
        return dx_fail(DX_ENOMEM, "out of memory");
    return DX_OK;
}

/* Adds id's text, cuts it at a stop string (which is not part of the answer) and passes on what
 * can be released: whole UTF-8 characters that cannot become a stop string. *end is set when a
 * stop string was found or the callback cancelled (stats->stop_reason says which). */
static dx_status run_emit(gen_run *r, int32_t id, bool *end)
{
    char piece[DX_MAX_TOKEN_BYTES];
    size_t len = tok_piece(r->gm->t, id, false, piece, sizeof piece);
    if (len > sizeof piece)
        len = sizeof piece;
    dx_status st = dx_buf_append(&r->pend, piece, len);
    if (st)
        return st;
    bool stopped = false;
    for (const char *const *ss = r->stops; ss && *ss; ss++) {
        char *hit = strstr(r->pend.data + r->emitted, *ss);
        if (hit) {
            r->pend.len = (size_t)(hit - r->pend.data);
            r->pend.data[r->pend.len] = '\0';
            stopped = true;
        }
    }
    size_t ready =
        utf8_whole(r->pend.data, releasable(r->pend.data, r->pend.len, stopped ? NULL : r->stops));
    if (ready > r->emitted) {
        bool cancel = r->cb(r->ud, r->pend.data + r->emitted, ready - r->emitted);
        r->emitted = ready;
        if (cancel) {
            r->stats->stop_reason = GEN_STOP_CANCELLED;
            *end = true;
            return DX_OK;
        }
    }
    if (stopped) {
        r->stats->stop_reason = GEN_STOP_STRING;
        *end = true;
    }
    return DX_OK;
}

/* True when the generation ends before the next token: a repetition loop, the token limit or
 * a full context (stats->stop_reason says which). */
static bool run_at_end(gen_run *r, int limit)
{
    gen_stats *stats = r->stats;
    if (r->lp && (gen_loop_tokens(r->out_ids, (size_t)stats->gen_tokens) ||
                  gen_loop_lines(r->lp, r->pend.data, r->pend.len))) {
        stats->stop_reason = GEN_STOP_REPETITION;
        return true;
    }
    if (stats->gen_tokens >= limit)
        return true;
    if (eng_session_pos(r->s) >= eng_session_n_ctx(r->s)) {
        stats->stop_reason = GEN_STOP_CONTEXT;
        return true;
    }
    return false;
}

/* Decodes id for the next logits: in a batched step with the other joined sessions, or alone. */
static dx_status run_step(gen_run *r, int32_t id)
{
    bool shared = false;
    dx_status st = r->joined ? batch_decode(r->gm->b, r->s, id, &r->logits, &shared)
                             : eng_session_decode(r->s, &id, 1, &r->logits);
    r->stats->batched_tokens += shared;
    return st;
}

/* Samples, emits and decodes until a stop; the pending text goes out at the end unless the
 * callback cancelled. */
static dx_status run_tokens(gen_run *r, double t0)
{
    gen_stats *stats = r->stats;
    const int limit = r->p->max_tokens > 0 ? r->p->max_tokens : INT32_MAX;
    dx_status st = r->p->stop_loops ? run_watch_loops(r, limit) : DX_OK;
    double t1 = t0;
    while (!st) {
        int32_t id = sampler_sample(r->sp, r->logits);
        if (stats->gen_tokens == 0) {
            t1 = now_ms();
            stats->prefill_ms = t1 - t0;
        }
        if (tok_is_eog(r->gm->t, id)) {
            stats->stop_reason = GEN_STOP_EOG;
            break;
        }
        if (r->out_ids)
            r->out_ids[stats->gen_tokens] = id;
        stats->gen_tokens++;
        sampler_accept(r->sp, id);
        bool end = false;
        if ((st = run_emit(r, id, &end)) || end || run_at_end(r, limit))
            break;
        st = run_step(r, id);
    }
    if (st)
        return st;
    if (r->joined) {
        batch_leave(r->gm->b);
        r->joined = false;
    }
    if (r->pend.len > r->emitted && stats->stop_reason != GEN_STOP_CANCELLED)
        r->cb(r->ud, r->pend.data + r->emitted, r->pend.len - r->emitted);
    stats->decode_ms = now_ms() - t1;
    return DX_OK;
}

static dx_status generate(gen_model *gm, const gen_params *p, const char *prompt,
                          const chat_msg *conv, size_t n_conv, gen_piece_fn cb, void *ud,
                          gen_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->stop = "length";
    stats->stop_reason = GEN_STOP_LENGTH;
    gen_run r = {.gm = gm,
                 .p = p,
                 .cb = cb,
                 .ud = ud,
                 .stats = stats,
                 .stops = p->chat || conv ? chat_stops(&gm->chat) : NULL,
                 .pend = dx_buf_make(DX_MAX_ANSWER_BYTES)};
    dx_status st = run_open(&r, prompt, conv, n_conv);
    double t0 = now_ms();
    if (!st)
        st = run_prefill(&r);
    if (!st)
        st = run_tokens(&r, t0);
    stats->stop = gen_stop_str(stats->stop_reason);
    free(r.lp);
    free(r.out_ids);
    if (r.joined)
        batch_leave(gm->b);
    dx_buf_free(&r.pend);
    sampler_free(r.sp);
    if (!st && r.s && eng_session_pos(r.s) >= (int)r.n_ids)
        idle_put(gm, r.s, r.ids, r.n_ids);
    else
        eng_session_free(r.s);
    free(r.ids);
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
