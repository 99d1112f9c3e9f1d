#include "ask/ask.h"

#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "core/limits.h"
#include "council/fanout.h"
#include "hub/hub.h"

/* Threads that embed an analysis's claims (the budget: one analysis of six long answers in
 * under a second on two threads; bench/bench_consensus measures it). */
#define ASK_EMBED_THREADS 2

const char ask_default_system_prompt[] =
    "Answer the question accurately and concisely. Use markdown lists or tables where they help. "
    "If you are not sure, say so.";

static void phase(const ask_opts *o, ask_phase ph)
{
    if (o->on_event) {
        ask_event ev = {.is_member = false, .phase = ph};
        o->on_event(&ev, o->user);
    }
}

static void phase_result(const ask_opts *o, ask_phase ph, const cns_result *r)
{
    if (o->on_event) {
        ask_event ev = {.is_member = false, .phase = ph, .result = r};
        o->on_event(&ev, o->user);
    }
}

static void forward_event(const member_event *mev, void *user)
{
    const ask_opts *o = user;
    ask_event ev = {.is_member = true, .member = mev};
    o->on_event(&ev, o->user);
}

const member_config *ask_synthesizer(const ask_opts *o)
{
    const council_config *cfg = o->cfg;
    if (cfg->synthesizer)
        return council_config_member(cfg, cfg->synthesizer);
    /* the strongest writer among the local chat models: the most parameters */
    const member_config *best = NULL;
    uint64_t best_params = 0;
    for (size_t i = 0; i < cfg->n_members; i++) {
        const member_config *mc = &cfg->members[i];
        gen_model *gm;
        if (mc->kind == MEMBER_LOCAL && o->reg &&
            local_registry_get(o->reg, mc->model, &gm) == DX_OK &&
            gen_model_chat(gm)->family != CHAT_NONE &&
            eng_model_n_params(gen_model_engine(gm)) > best_params) {
            best = mc;
            best_params = eng_model_n_params(gen_model_engine(gm));
        }
    }
    if (best)
        return best;
    for (size_t i = 0; i < cfg->n_members; i++)
        if (cfg->members[i].kind == MEMBER_REMOTE)
            return &cfg->members[i];
    return NULL;
}

typedef struct {
    const ask_opts *o;
    const member_config *mc;
} synth_ctx;

typedef struct {
    cns_reply_fn piece;
    void *user;
} remote_pieces;

/* A remote completion runs to its end: a stop asked by piece is not passed
 * on (what follows is cut by the caller's parsing). */
static void forward_remote_text(const member_event *ev, void *user)
{
    remote_pieces *rp = user;
    if (ev->kind == MEMBER_EV_TEXT && rp->piece)
        (void)rp->piece(rp->user, ev->text, ev->len);
}

typedef struct {
    const atomic_int *cancel;
    cns_reply_fn piece;
    void *user;
} local_pieces;

/* A local writer's piece: the generation ends once the run is cancelled (a
 * remote writer's completion is cancelled by the fan-out), or when piece
 * says so. */
static bool forward_local_text(void *user, const char *text, size_t len)
{
    local_pieces *lp = user;
    if (lp->cancel && atomic_load(lp->cancel))
        return true;
    return lp->piece && lp->piece(lp->user, text, len);
}

/* cns_stream_fn: one completion from the synthesizer member, its pieces
 * passed to piece as they come; a local model stops when piece says so.
 * DX_ECANCELLED when the run was cancelled meanwhile. */
static dx_status synth_stream(void *user, const char *prompt, cns_reply_fn piece, void *piece_user,
                              dx_buf *out)
{
    synth_ctx *sc = user;
    if (sc->mc->kind == MEMBER_LOCAL) {
        gen_params p = gen_defaults();
        p.chat = true;
        p.sampling.temperature = 0;
        p.sampling.repeat_penalty = 1.1f;
        p.stop_loops = true;
        p.max_tokens = sc->mc->max_tokens > 0 ? sc->mc->max_tokens : 512;
        local_pieces lp = {sc->o->cancel, piece, piece_user};
        dx_status st =
            local_stream(sc->o->reg, sc->mc->model, &p, prompt, forward_local_text, &lp, out, NULL);
        if (!st && sc->o->cancel && atomic_load(sc->o->cancel))
            st = dx_fail(DX_ECANCELLED, "synthesizer %s: cancelled", sc->mc->name);
        return st;
    }
    remote_pieces rp = {piece, piece_user};
    fanout_opts fo = {.only = sc->mc->name,
                      .system_prompt = "",
                      .cancel = sc->o->cancel,
                      .on_event = piece ? forward_remote_text : NULL,
                      .user = &rp};
    member_result *res = NULL;
    size_t n = 0;
    dx_status st = fanout_run(sc->o->cfg, prompt, &fo, &res, &n);
    if (st)
        return st;
    if (n != 1 || res[0].status != MEMBER_DONE)
        st = dx_fail(DX_ENET, "synthesizer %s: %s", sc->mc->name,
                     n == 1 && res[0].error[0] ? res[0].error : "no answer");
    else
        st = dx_buf_append(out, res[0].text, res[0].text_len);
    fanout_results_free(res, n);
    return st;
}

/* cns_generate_fn over synth_stream */
static dx_status synth_generate(void *user, const char *prompt, dx_buf *out)
{
    return synth_stream(user, prompt, NULL, NULL, out);
}

static void answer_piece(void *user, const char *text, size_t len)
{
    const ask_opts *o = user;
    o->on_answer(text, len, o->user);
}

/* cns_embed_fn over the engine's sentence encoder */
static dx_status embed_fn(void *user, const char *text, float *out, size_t dim)
{
    const embed_model *em = user;
    if ((size_t)embed_dim(em) != dim)
        return dx_fail(DX_EINTERNAL, "embedding size %d, expected %zu", embed_dim(em), dim);
    return embed_text(em, text, strlen(text), out);
}

/* cns_embed_many_fn over the same encoder: a batch of claims through each layer at once */
static dx_status embed_many_fn(void *user, size_t n, const char *const *texts, float *out,
                               size_t dim)
{
    const embed_model *em = user;
    if ((size_t)embed_dim(em) != dim)
        return dx_fail(DX_EINTERNAL, "embedding size %d, expected %zu", embed_dim(em), dim);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!lens)
        return dx_fail(DX_ENOMEM, "embed: out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    dx_status st = embed_texts(em, n, texts, lens, out);
    free(lens);
    return st;
}

dx_status ask_open_embedder(const council_config *cfg, embed_model **out)
{
    *out = NULL;
    const char *name = cfg ? cfg->embedder : NULL;
    if (name && (!strcmp(name, "none") || !strcmp(name, "off")))
        return DX_OK; /* matching by words only, on purpose */
    char *path = NULL;
    dx_status st = hub_resolve_model(name ? name : EMBED_DEFAULT_MODEL, &path);
    if (st && !name)
        return DX_OK; /* the default encoder is not pulled: lexical matching */
    if (!st)
        st = embed_model_open(path, out);
    free(path);
    if (st)
        dx_wrap(st, "embedder");
    return st;
}

void ask_match_options(const embed_model *em, cns_options *co)
{
    if (!em)
        return;
    co->embed = embed_fn;
    co->embed_many = embed_many_fn;
    co->embed_user = (void *)em;
    co->embed_dim = (size_t)embed_dim(em);
    co->embed_threads = ASK_EMBED_THREADS; /* embed_text(s) is thread-safe */
}

static cns_status member_to_cns(member_status s)
{
    switch (s) {
    case MEMBER_DONE:
        return CNS_DONE;
    case MEMBER_TIMEOUT:
        return CNS_TIMEOUT;
    case MEMBER_CANCELLED:
        return CNS_CANCELLED;
    default:
        return CNS_FAILED;
    }
}

/* The members' results as the analysis takes them, copied into a. */
static dx_status members_to_cns(const member_result *res, size_t n, arena *a, cns_member **out)
{
    cns_member *cm = arena_alloc_array(a, n ? n : 1, sizeof *cm);
    if (!cm)
        return dx_oom("ask");
    for (size_t i = 0; i < n; i++) {
        const member_result *r = &res[i];
        cm[i].name = arena_strdup(a, r->name);
        cm[i].model = arena_strdup(a, r->model);
        cm[i].status = member_to_cns(r->status);
        cm[i].error = r->error[0] ? arena_strdup(a, r->error) : NULL;
        cm[i].text = arena_strndup(a, r->text, r->text_len);
        cm[i].latency_ms = (long long)r->latency_ms;
        cm[i].ttft_ms = r->ttft_ms > 0 ? (long long)r->ttft_ms : 0;
        cm[i].tokens = r->completion_tokens > 0 ? r->completion_tokens : 0;
        cm[i].premium = r->premium;
        cm[i].cost_usd = r->cost_usd;
        if (!cm[i].name || !cm[i].model || !cm[i].text)
            return dx_oom("ask");
    }
    *out = cm;
    return DX_OK;
}

/* The analysis of the members' answers, checked against itself. */
static dx_status analyze_answers(const char *question, const ask_opts *o, const member_result *res,
                                 size_t n, arena *a, cns_result **out)
{
    cns_member *cm = NULL;
    dx_status st = members_to_cns(res, n, a, &cm);
    if (st)
        return st;
    cns_input in = {.question = question, .members = cm, .n_members = n};
    cns_options co = {0};
    ask_match_options(o->embedder, &co);
    if ((st = cns_analyze(&in, &co, a, out)))
        return st;
    const char *broken = cns_check(*out);
    if (broken)
        return dx_fail(DX_EINTERNAL, "consensus: the analysis contradicts itself (%s)", broken);
    return DX_OK;
}

/* The written answer, follow-ups and category, by the synthesizer when
 * o->synthesis (the phases told as they start and end). */
static dx_status synthesize_answer(const ask_opts *o, cns_result *r, arena *a)
{
    dx_status st;
    /* without synthesis the category is still derived, from the analysis alone */
    synth_ctx sc = {o, o->synthesis ? ask_synthesizer(o) : NULL};
    /* the strongest member writes the follow-ups where the writer is not
     * asked for the answer: the 0.5B writer mostly asked the question again
     * (docs/consensus.md, "Follow-ups") */
    synth_ctx fc = {o, o->cfg->strongest ? council_config_member(o->cfg, o->cfg->strongest) : NULL};
    cns_synth_options so = {.generate = sc.mc ? synth_generate : NULL,
                            .stream = sc.mc ? synth_stream : NULL,
                            .generate_user = &sc,
                            .on_answer = o->on_answer ? answer_piece : NULL,
                            .on_answer_user = (void *)o,
                            .answer = o->synthesis,
                            .strongest = o->cfg->strongest,
                            .followups = sc.mc && fc.mc ? synth_generate : NULL,
                            .followups_user = &fc,
                            .embed = o->embedder ? embed_fn : NULL,
                            .embed_user = (void *)o->embedder,
                            .embed_dim = o->embedder ? (size_t)embed_dim(o->embedder) : 0};
    if (o->synthesis) {
        /* the analysis shown while the answer is written has its (derived) category */
        cns_synth_options derived = {0};
        if ((st = cns_synthesize(r, &derived, a)))
            return st;
        phase_result(o, ASK_SYNTHESIZING, r);
    }
    if ((st = cns_synthesize(r, &so, a)))
        return st;
    phase_result(o, ASK_DONE, r);
    return DX_OK;
}

dx_status ask_run(const char *question, const ask_opts *o, arena *a, cns_result **out)
{
    *out = NULL;
    size_t qlen = strlen(question);
    if (qlen == 0)
        return dx_fail(DX_EARG, "the question is empty");
    if (qlen > DX_MAX_QUESTION_BYTES || dx_utf8_chars(question, qlen) > DX_MAX_QUESTION_CHARS)
        return dx_fail(DX_ELIMIT, "the question is %zu characters; the limit is %u",
                       dx_utf8_chars(question, qlen), DX_MAX_QUESTION_CHARS);
    phase(o, ASK_ASKING);
    fanout_opts fo = {
        .on_event = o->on_event ? forward_event : NULL,
        .user = (void *)o,
        .open_local = local_open,
        .local_user = o->reg,
        .cancel = o->cancel,
        .only = o->only,
        .system_prompt = o->cfg->system_prompt ? NULL : ask_default_system_prompt,
        .history = o->history,
        .n_history = o->n_history,
    };
    member_result *res = NULL;
    size_t n = 0;
    dx_status st = fanout_run(o->cfg, question, &fo, &res, &n);
    if (st)
        return st;
    phase(o, ASK_ANALYZING);
    st = analyze_answers(question, o, res, n, a, out);
    if (!st)
        st = synthesize_answer(o, *out, a);
    fanout_results_free(res, n);
    if (st)
        *out = NULL;
    return st;
}
