/*
 * drux ask — put a question to the council: live progress per member, then
 * the label and consensus, agreed and disputed points, and the answer.
 *
 *     drux ask "Why is the sky blue?"
 *     drux ask --json "Is Rust memory safe?"     # the whole analysis object
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ask/ask.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/term_md.h"
#include "core/limits.h"

static const char ask_usage[] =
    "usage: drux ask [options] QUESTION\n"
    "\n"
    "Asks every member of the council at once, shows each answer's progress, then how\n"
    "far they agree (label and consensus percentage), the agreed and disputed points, and\n"
    "one answer written from them, with follow-up questions.\n"
    "\n"
    "  --config FILE     the council (default: $DRUX_CONFIG, ~/.config/drux/drux.ini,\n"
    "                    else every model in the cache)\n"
    "  --member NAME     ask only this member\n"
    "  --json            print the analysis object as JSON (schema: docs/api.md)\n"
    "  --no-synthesis    only the analysis: no written answer, no follow-ups\n"
    "  -q, --quiet       no live progress\n";

typedef struct view {
    const council_config *cfg;
    bool tty, quiet;
    int lines; /* member lines drawn so far (tty) */
    member_status status[DX_MAX_MEMBERS];
    int tokens[DX_MAX_MEMBERS];
    double latency[DX_MAX_MEMBERS];
    double cost[DX_MAX_MEMBERS]; /* USD, < 0 unknown */
    char error[DX_MAX_MEMBERS][96];
    const char *phase;
    bool json;        /* the object at the end; nothing streamed */
    bool color;       /* stdout is a terminal that takes colour */
    bool answering;   /* the analysis is printed and the answer is streaming */
    dx_buf *streamed; /* the answer as streamed */
} view;

static void draw(view *v)
{
    if (v->lines)
        fprintf(stderr, "\033[%dA", v->lines);
    for (size_t i = 0; i < v->cfg->n_members; i++) {
        const member_config *mc = &v->cfg->members[i];
        fprintf(stderr, "\033[2K  %-22.22s %-7s %-9s", mc->name, member_tier_str(mc),
                member_status_str(v->status[i]));
        if (v->tokens[i])
            fprintf(stderr, " %5d tok", v->tokens[i]);
        if (member_status_final(v->status[i]))
            fprintf(stderr, "  %.1f s", v->latency[i] / 1000.0);
        if (member_status_final(v->status[i]) && v->cost[i] > 0)
            fprintf(stderr, "  ~$%.4f", v->cost[i]);
        if (v->error[i][0])
            fprintf(stderr, "  %s", v->error[i]);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "\033[2K%s\n", v->phase ? v->phase : "");
    v->lines = (int)v->cfg->n_members + 1;
    fflush(stderr);
}

static dx_status print_analysis(const cns_result *r, bool color);

static void on_event(const ask_event *ev, void *user)
{
    view *v = user;
    if (!ev->is_member && ev->phase == ASK_SYNTHESIZING && ev->result && !v->json) {
        /* the analysis now; the answer streams below it */
        if (v->tty && !v->quiet) {
            v->phase = "writing the answer...";
            draw(v);
        }
        v->answering = true;
        if (print_analysis(ev->result, v->color) == DX_OK)
            printf("\n%sAnswer%s\n\n", v->color ? "\033[1m" : "", v->color ? "\033[0m" : "");
        fflush(stdout);
        return;
    }
    if (v->quiet || v->answering)
        return;
    if (!ev->is_member) {
        static const char *const names[] = {"asking the council...", "analysing the answers...",
                                            "writing the answer...", ""};
        v->phase = names[ev->phase];
        if (v->tty)
            draw(v);
        else if (ev->phase != ASK_DONE)
            fprintf(stderr, "%s\n", v->phase);
        return;
    }
    const member_event *me = ev->member;
    size_t i = me->index;
    if (i >= DX_MAX_MEMBERS)
        return;
    const member_result *r = me->result;
    member_status old = v->status[i];
    v->status[i] = r->status;
    v->tokens[i] = r->completion_tokens > 0 ? r->completion_tokens : v->tokens[i];
    if (me->kind == MEMBER_EV_TEXT)
        v->tokens[i]++;
    v->latency[i] = r->latency_ms;
    v->cost[i] = r->cost_usd;
    snprintf(v->error[i], sizeof v->error[i], "%.95s", r->status == MEMBER_DONE ? "" : r->error);
    if (v->tty) {
        if (me->kind == MEMBER_EV_STATUS || v->tokens[i] % 8 == 0)
            draw(v);
    } else if (me->kind == MEMBER_EV_STATUS && old != r->status) {
        fprintf(stderr, "  %s: %s%s%s\n", r->name, member_status_str(r->status),
                r->error[0] ? " - " : "", r->error);
    }
}

static void on_answer(const char *piece, size_t len, void *user)
{
    view *v = user;
    if (v->json || !v->answering)
        return;
    dx_buf_append(v->streamed, piece, len);
    dx_buf out = dx_buf_make(0);
    if (term_md_clean(&out, piece, len) == DX_OK)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    dx_buf_free(&out);
    fflush(stdout);
}

/* The analysis as text; nothing a model wrote can send control sequences. */
static dx_status print_analysis(const cns_result *r, bool color)
{
    (void)color;
    cns_result head = *r;
    head.answer = NULL;
    head.n_followups = 0;
    dx_buf text = dx_buf_make(0), out = dx_buf_make(0);
    dx_status st = cns_to_text(&head, &text);
    if (!st)
        st = term_md_clean(&out, text.data ? text.data : "", text.len);
    if (!st)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    dx_buf_free(&text);
    dx_buf_free(&out);
    return st;
}

static const char *answer_note(const cns_result *r)
{
    switch (r->answer_kind) {
    case CNS_ANSWER_SYNTHESIZED:
        return "written by the synthesizer from the council's answers, and checked";
    case CNS_ANSWER_SINGLE_VOICE:
        return "the one usable answer, exactly as its member wrote it";
    case CNS_ANSWER_EXTRACTIVE:
        return "extractive: built from the members' own points";
    case CNS_ANSWER_STRONGEST:
        return "the answer of the council's strongest member, exactly as it wrote it; what the "
               "others dispute is flagged";
    default:
        return "?";
    }
}

/* The report for a terminal: the analysis (unless it was printed before the
 * answer streamed), the answer (rendered when it was not streamed, or when
 * the streamed one was replaced), and the follow-ups. */
static dx_status print_result(const cns_result *r, view *v)
{
    bool color = v->color;
    dx_buf out = dx_buf_make(0);
    dx_status st = v->answering ? DX_OK : print_analysis(r, color);
    bool streamed = v->answering && r->answer && v->streamed->len == strlen(r->answer) &&
                    !memcmp(v->streamed->data, r->answer, v->streamed->len);
    if (r->answer && streamed) {
        dx_buf_addf(&out, "\n\n(%s%s%s)\n", r->answer_member ? r->answer_member : "",
                    r->answer_member ? ": " : "", answer_note(r));
    } else if (r->answer) {
        if (v->answering && v->streamed->len)
            dx_buf_addf(&out, "\n\n%sThe written answer failed the check (%s); instead:%s\n\n",
                        color ? "\033[2m" : "", r->answer_check ? r->answer_check : "it changed",
                        color ? "\033[0m" : "");
        else if (!v->answering)
            dx_buf_addf(&out, "\n%sAnswer%s\n\n", color ? "\033[1m" : "", color ? "\033[0m" : "");
        if (!st && !out.err)
            st = term_md_render(r->answer, color, &out);
        dx_buf_addf(&out, "\n(%s%s%s)\n", r->answer_member ? r->answer_member : "",
                    r->answer_member ? ": " : "", answer_note(r));
    }
    for (size_t i = 0; i < r->n_followups; i++) {
        dx_buf_addf(&out, "%s  %zu. ", i == 0 ? "\nFollow-up questions:\n" : "", i + 1);
        if (!st && !out.err)
            st = term_md_clean(&out, r->followups[i], strlen(r->followups[i]));
        dx_buf_add(&out, "\n");
    }
    /* premium members cost money: each one's estimate and the question's */
    double total = 0;
    bool any = false, unknown = false;
    for (size_t i = 0; i < r->n_members; i++) {
        const cns_member *m = &r->members[i];
        if (!m->premium)
            continue;
        dx_buf_add(&out, any ? "" : "\nPremium members:");
        any = true;
        if (m->cost_usd >= 0)
            dx_buf_addf(&out, " %s %.1f s ~$%.4f;", m->name, m->latency_ms / 1000.0, m->cost_usd);
        else
            dx_buf_addf(&out, " %s %.1f s (no prices);", m->name, m->latency_ms / 1000.0);
        total += m->cost_usd >= 0 ? m->cost_usd : 0;
        unknown |= m->cost_usd < 0;
    }
    if (any)
        dx_buf_addf(&out, " question ~$%.4f%s\n", total, unknown ? " and more" : "");
    if (!st)
        st = out.err;
    if (!st)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    dx_buf_free(&out);
    return st;
}

typedef struct ask_args {
    const char *config, *only, *question;
    bool json, synthesis, quiet;
} ask_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, ask_args *r)
{
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(ask_usage, stdout);
            return 0;
        } else if (args_str(&a, NULL, "--config", &r->config) ||
                   args_str(&a, NULL, "--member", &r->only)) {
            continue;
        } else if (args_flag(&a, NULL, "--json")) {
            r->json = true;
        } else if (args_flag(&a, NULL, "--no-synthesis")) {
            r->synthesis = false;
        } else if (args_flag(&a, "-q", "--quiet")) {
            r->quiet = true;
        } else if (!r->question && args_positional(&a, &r->question)) {
            continue;
        } else {
            return args_unknown(&a, ask_usage);
        }
    }
    if (a.error)
        return 2;
    if (!r->question) {
        fputs(ask_usage, stderr);
        return 2;
    }
    return -1;
}

/* What a question needs besides itself: the council (with at least one member), the registry
 * of local models and the sentence encoder when one is cached. The message is printed. */
static dx_status open_council(const char *config, council_config **cfg, local_registry **reg,
                              embed_model **em)
{
    dx_status st = council_config_open(config, cfg);
    if (st) {
        cli_error(NULL);
        return st;
    }
    if ((*cfg)->n_members == 0) {
        fprintf(stderr, "drux: the council has no members: pull a model (drux pull) or write a "
                        "config (docs/config.md)\n");
        return DX_EARG;
    }
    if (!(*reg = local_registry_new())) {
        fprintf(stderr, "drux: out of memory\n");
        return DX_ENOMEM;
    }
    if ((st = ask_open_embedder(*cfg, em)))
        cli_error(NULL);
    return st;
}

/* The whole analysis object as JSON on stdout. */
static int print_json(const cns_result *r)
{
    char *out = cns_to_json_string(r, true);
    if (!out) {
        fprintf(stderr, "drux: out of memory\n");
        return 1;
    }
    printf("%s\n", out);
    free(out);
    return 0;
}

int cmd_ask(int argc, char **argv)
{
    ask_args args = {.synthesis = true};
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    rc = 1;
    council_config *cfg = NULL;
    local_registry *reg = NULL;
    embed_model *em = NULL;
    arena mem = arena_make(64 << 10, 256u << 20);
    dx_buf streamed = dx_buf_make(DX_MAX_ANSWER_BYTES);
    if (open_council(args.config, &cfg, &reg, &em))
        goto done;
    view v = {.cfg = cfg,
              .tty = isatty(STDERR_FILENO),
              .quiet = args.quiet,
              .json = args.json,
              .color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR"),
              .streamed = &streamed};
    ask_opts o = {.cfg = cfg,
                  .reg = reg,
                  .on_event = on_event,
                  .on_answer = on_answer,
                  .user = &v,
                  .cancel = cli_cancel_on_sigint(),
                  .synthesis = args.synthesis,
                  .only = args.only,
                  .embedder = em};
    cns_result *r;
    if (ask_run(args.question, &o, &mem, &r)) {
        cli_error(NULL);
        goto done;
    }
    if (args.json)
        rc = print_json(r);
    else
        rc = print_result(r, &v) ? cli_error(NULL) : 0;
done:
    dx_buf_free(&streamed);
    arena_free(&mem);
    local_registry_free(reg);
    embed_model_close(em);
    council_config_free(cfg);
    return rc;
}
