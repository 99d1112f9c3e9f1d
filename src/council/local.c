#include "council/local.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "hub/hub.h"

typedef struct entry {
    char *path;
    gen_model *gm;
} entry;

struct local_registry {
    pthread_mutex_t mu;
    entry e[DX_MAX_MEMBERS + 4];
    size_t n;
};

local_registry *local_registry_new(void)
{
    local_registry *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

void local_registry_free(local_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        gen_model_close(r->e[i].gm);
        free(r->e[i].path);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

dx_status local_registry_get(local_registry *r, const char *model, gen_model **out)
{
    *out = NULL;
    char *path = NULL;
    dx_status st = hub_resolve_model(model, &path);
    if (st)
        return st;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].path, path)) {
            *out = r->e[i].gm;
            goto out;
        }
    if (r->n == sizeof r->e / sizeof r->e[0]) {
        st = dx_fail(DX_ELIMIT, "too many different local models in one council");
        goto out;
    }
    gen_model *gm;
    if ((st = gen_model_open(path, &gm)))
        goto out;
    r->e[r->n].path = path;
    r->e[r->n].gm = gm;
    r->n++;
    path = NULL;
    *out = gm;
out:
    pthread_mutex_unlock(&r->mu);
    free(path);
    return st;
}

typedef struct local_member {
    gen_model *gm;
    const member_config *mc;
} local_member;

typedef struct {
    member_ctx *ctx;
    bool full;
} piece_state;

static int on_piece(void *ud, const char *piece, size_t len)
{
    piece_state *ps = ud;
    dx_status st = member_ctx_text(ps->ctx, piece, len);
    if (st == DX_ELIMIT)
        ps->full = true;
    return st != DX_OK;
}

static gen_params member_params(const member_config *mc)
{
    gen_params p = gen_defaults();
    p.chat = true;
    p.max_tokens = mc->max_tokens > 0 ? mc->max_tokens : 512;
    /* A council voice answers carefully: low temperature unless configured. */
    p.sampling.temperature = mc->has_temperature ? (float)mc->temperature : 0.0f;
    if (mc->has_top_p)
        p.sampling.top_p = (float)mc->top_p;
    p.sampling.seed = mc->has_seed ? mc->seed : 0;
    p.sampling.repeat_penalty = 1.1f;
    p.stop_loops = true; /* a voice that repeats itself has said what it will say */
    return p;
}

/* A follow-up as a conversation: the system prompt, the earlier turns from
 * `first` on (question, the council's answer), the question. */
typedef struct conversation {
    chat_msg *msgs;
    size_t n;
    const council_turn *turns;
    size_t n_turns;
    const char *system, *question;
    const gen_model *gm;
    const gen_params *p;
    size_t budget; /* tokens the prompt may take: the context less room for the answer */
} conversation;

static size_t conversation_build(conversation *c, size_t first)
{
    size_t n = 0;
    if (c->system)
        c->msgs[n++] = (chat_msg){CHAT_SYSTEM, c->system};
    for (size_t i = first; i < c->n_turns; i++) {
        c->msgs[n++] = (chat_msg){CHAT_USER, c->turns[i].question};
        c->msgs[n++] = (chat_msg){CHAT_ASSISTANT, c->turns[i].answer};
    }
    c->msgs[n++] = (chat_msg){CHAT_USER, c->question};
    return c->n = n;
}

/* council_turns_trim's test: the prompt from turn `first` on leaves room for the answer. */
static bool conversation_fits(void *user, size_t first)
{
    conversation *c = user;
    size_t tokens;
    size_t n = conversation_build(c, first);
    return gen_chat_tokens(c->gm, c->p, c->msgs, n, &tokens) == DX_OK && tokens <= c->budget;
}

/* Answers the question, after the thread's earlier turns when it has some:
 * as many of the latest as fit the context with room for the answer
 * (max_tokens, at most half the context), the oldest left out first. */
static dx_status local_answer(local_member *lm, member_ctx *ctx, gen_params *p, piece_state *ps,
                              gen_stats *st)
{
    size_t n_turns;
    const council_turn *turns = member_ctx_history(ctx, &n_turns);
    if (!turns || gen_model_chat(lm->gm)->family == CHAT_NONE) {
        /* a base model (no template) has no turns to hold a conversation in */
        if (turns)
            member_ctx_context(ctx, 0, (int)n_turns);
        return gen_generate(lm->gm, p, member_ctx_question(ctx), on_piece, ps, st);
    }
    conversation c = {.msgs = calloc(2 * n_turns + 2, sizeof(chat_msg)),
                      .turns = turns,
                      .n_turns = n_turns,
                      .system = p->system,
                      .question = member_ctx_question(ctx),
                      .gm = lm->gm,
                      .p = p};
    if (!c.msgs) {
        memset(st, 0, sizeof *st);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    size_t ctx_tokens = (size_t)gen_context_size(lm->gm, p);
    size_t room = p->max_tokens > 0 ? (size_t)p->max_tokens : ctx_tokens / 2;
    if (room > ctx_tokens / 2)
        room = ctx_tokens / 2;
    c.budget = ctx_tokens - room;
    size_t first = council_turns_trim(n_turns, conversation_fits, &c);
    member_ctx_context(ctx, (int)(n_turns - first), (int)first);
    if (first)
        log_info("member %s: %zu of %zu earlier turns left out to fit its %zu-token context",
                 lm->mc->name, first, n_turns, ctx_tokens);
    size_t n = conversation_build(&c, first);
    dx_status s = gen_generate_chat(lm->gm, p, c.msgs, n, on_piece, ps, st);
    free(c.msgs);
    return s;
}

static void local_run(void *impl, member_ctx *ctx)
{
    local_member *lm = impl;
    member_ctx_running(ctx);
    member_ctx_attempt(ctx, 1, 0);
    gen_params p = member_params(lm->mc);
    p.system = member_ctx_system_prompt(ctx);
    if (lm->mc->context > 0) {
        p.n_ctx = lm->mc->context;
        p.n_ctx = gen_context_size(lm->gm, &p); /* never past the model's own */
    }
    piece_state ps = {ctx, false};
    gen_stats st;
    dx_status s = local_answer(lm, ctx, &p, &ps, &st);
    member_ctx_usage(ctx, st.prompt_tokens, st.gen_tokens, false);
    log_info(
        "member %s: %d prompt tokens (%d of them cached) in %.0f ms, %d tokens in %.0f ms (%s)",
        lm->mc->name, st.prompt_tokens, st.reused_tokens, st.prefill_ms, st.gen_tokens,
        st.decode_ms, st.stop ? st.stop : "failed");
    log_debug("member %s: %d of %d tokens decoded in steps shared with other voices of its model",
              lm->mc->name, st.batched_tokens, st.gen_tokens);
    if (s) {
        member_ctx_finish(ctx, MEMBER_FAILED, "%s", dx_errmsg());
        return;
    }
    if (st.stop_reason == GEN_STOP_CANCELLED && !ps.full) {
        /* the fan-out decides whether that was a timeout or a cancel */
        member_ctx_finish(ctx, MEMBER_CANCELLED, "stopped");
        return;
    }
    member_ctx_finish_reason(ctx, st.stop_reason == GEN_STOP_LENGTH || ps.full ? "length"
                                  : st.stop_reason == GEN_STOP_REPETITION      ? "repetition"
                                                                               : "stop");
    member_ctx_finish(ctx, MEMBER_DONE, NULL);
}

static void local_free(void *impl)
{
    free(impl); /* the model belongs to the registry */
}

static const member_ops local_ops = {"local", local_run, local_free};

dx_status local_open(const member_config *mc, void *user, const member_ops **ops, void **impl)
{
    local_registry *r = user;
    local_member *lm = calloc(1, sizeof *lm);
    if (!lm)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = local_registry_get(r, mc->model, &lm->gm);
    if (st) {
        free(lm);
        return st;
    }
    lm->mc = mc;
    *ops = &local_ops;
    *impl = lm;
    return DX_OK;
}

static int append_piece(void *ud, const char *piece, size_t len)
{
    return dx_buf_append(ud, piece, len) != DX_OK;
}

typedef struct {
    dx_buf *out;
    bool (*piece)(void *, const char *, size_t);
    void *user;
} stream_state;

static int stream_piece(void *ud, const char *piece, size_t len)
{
    stream_state *ss = ud;
    if (dx_buf_append(ss->out, piece, len))
        return 1;
    return ss->piece && ss->piece(ss->user, piece, len);
}

dx_status local_stream(local_registry *r, const char *model, const gen_params *p,
                       const char *prompt, bool (*piece)(void *, const char *, size_t),
                       void *piece_user, dx_buf *out, gen_stop *stop)
{
    gen_model *gm;
    dx_status st = local_registry_get(r, model, &gm);
    if (st)
        return st;
    gen_stats gs;
    stream_state ss = {out, piece, piece_user};
    st = gen_generate(gm, p, prompt, stream_piece, &ss, &gs);
    log_info("%s: %d prompt tokens (%d of them cached) in %.0f ms, %d tokens in %.0f ms (%s)",
             model, gs.prompt_tokens, gs.reused_tokens, gs.prefill_ms, gs.gen_tokens, gs.decode_ms,
             gs.stop);
    if (stop)
        *stop = gs.stop_reason;
    return st;
}

dx_status local_complete(local_registry *r, const char *model, const gen_params *p,
                         const char *prompt, dx_buf *out)
{
    gen_model *gm;
    dx_status st = local_registry_get(r, model, &gm);
    if (st)
        return st;
    gen_stats gs;
    return gen_generate(gm, p, prompt, append_piece, out, &gs);
}
