/*
 * drux eval — run a QA set through the council and measure it: accuracy of
 * each member and of the council's answer (with 95% intervals), and how well
 * the consensus percentage predicts that the answer is right (AUROC and a
 * reliability table).
 *
 *     drux eval ../shared/eval/nq-open-dev-a.jsonl --limit 50
 */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ask/ask.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "eval/eval.h"

static const char eval_usage[] =
    "usage: drux eval FILE [options]\n"
    "\n"
    "Runs a question-answering set through the council and reports, per member and for\n"
    "the council's answer, the accuracy with a 95% interval, and how well the consensus\n"
    "percentage predicts a correct answer (AUROC and a reliability table).\n"
    "Sets: NQ-open JSONL {question, answer: [...]}, GSM8K JSONL {question, answer: \"... #### "
    "n\"},\n"
    "TruthfulQA CSV (Question, Correct Answers, Incorrect Answers).\n"
    "\n"
    "  --limit N       the first N questions (after --offset); default 20\n"
    "  --offset K      skip the first K questions\n"
    "  --config FILE   the council (as for drux ask)\n"
    "  --no-synthesis  grade the members only: no written answer (much faster)\n"
    "  --json          the report as JSON, with every question's outcome\n";

#define N_BINS 5

typedef struct tally {
    size_t correct, n;
    double seconds; /* summed time to a final answer */
} tally;

static json_t *tally_json(const char *name, const tally *t)
{
    double lo, hi;
    eval_wilson(t->correct, t->n, &lo, &hi);
    return json_pack("{s:s, s:I, s:I, s:o, s:[f,f], s:o}", "name", name, "correct",
                     (json_int_t)t->correct, "n", (json_int_t)t->n, "accuracy",
                     t->n ? json_real((double)t->correct / t->n) : json_null(), "ci95", lo, hi,
                     "seconds_per_question", t->n ? json_real(t->seconds / t->n) : json_null());
}

static void print_tally(const char *name, const tally *t)
{
    double lo, hi;
    eval_wilson(t->correct, t->n, &lo, &hi);
    if (!t->n) {
        printf("  %-28s no answers graded\n", name);
        return;
    }
    printf("  %-28s %4zu/%-4zu %5.1f%%   95%% CI [%4.1f%%, %4.1f%%]   %5.1f s/question\n", name,
           t->correct, t->n, 100.0 * t->correct / t->n, 100 * lo, 100 * hi, t->seconds / t->n);
}

static void progress(size_t done, size_t total, const tally *council, double elapsed)
{
    if (!isatty(STDERR_FILENO))
        return;
    int width = 24, fill = total ? (int)(width * done / total) : width;
    double eta = done ? elapsed / done * (total - done) : 0;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu  council %s%.0f%%  eta %.0fs   ", fill,
            "########################", width - fill, "", done, total, council->n ? "" : "-",
            council->n ? 100.0 * council->correct / council->n : 0.0, eta);
    fflush(stderr);
}

static const char *const bin_names[N_BINS + 1] = {"0-19%",  "20-39%",  "40-59%",
                                                  "60-79%", "80-100%", "no percentage"};

/* What a run of the set collects: tallies, the (consensus, correct) pairs
 * for the AUROC, and one JSON object per question. */
typedef struct eval_run {
    tally council, bins[N_BINS + 1];
    tally *members; /* one per council member */
    double *score;  /* consensus of the questions that had one */
    bool *label;    /* whether the council's answer to it was right */
    size_t n_scored, done;
    json_t *items;
    bool synthesis; /* the council's answer is written and graded */
} eval_run;

/* Grades one question's result into the run. */
static void grade(eval_run *ev, const eval_set *set, const eval_item *it, size_t n_members,
                  const cns_result *r, double secs)
{
    const bool syn = ev->synthesis;
    json_t *per = json_object(), *texts = json_object();
    for (size_t m = 0; m < r->n_members && m < n_members; m++) {
        bool ok = r->members[m].status == CNS_DONE && eval_grade(set->kind, it, r->members[m].text);
        ev->members[m].n++;
        ev->members[m].correct += ok;
        ev->members[m].seconds += r->members[m].latency_ms / 1000.0;
        json_object_set_new(per, r->members[m].name, json_boolean(ok));
        json_object_set_new(texts, r->members[m].name, json_string(r->members[m].text));
    }
    bool ok = r->answer && eval_grade(set->kind, it, r->answer);
    ev->council.n += syn;
    ev->council.correct += syn && ok;
    ev->council.seconds += syn ? secs : 0;
    int c = r->analysis.consensus;
    int bin = c < 0 ? N_BINS : (c >= 100 ? N_BINS - 1 : c * N_BINS / 100);
    ev->bins[bin].n += syn;
    ev->bins[bin].correct += syn && ok;
    if (c >= 0 && syn) {
        ev->score[ev->n_scored] = c;
        ev->label[ev->n_scored++] = ok;
    }
    json_array_append_new(
        ev->items,
        json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:f, s:o, s:o}", "question", it->question,
                  "consensus", c >= 0 ? json_integer(c) : json_null(), "label",
                  cns_label_str(r->analysis.label), "council_correct",
                  syn ? json_boolean(ok) : json_null(), "members", per, "member_answers", texts,
                  "seconds", secs, "answer_kind",
                  r->answer_kind ? json_string(cns_answer_kind_str(r->answer_kind)) : json_null(),
                  "answer", r->answer ? json_string(r->answer) : json_null()));
}

/* Asks the council questions first .. first+total-1 in turn (until Ctrl-C),
 * grading each; a question that fails is reported and skipped. */
static void run_questions(eval_run *ev, const eval_set *set, size_t first, size_t total,
                          const ask_opts *base)
{
    struct timespec t0, t1, tq;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t1 = t0;
    for (size_t k = 0; k < total && !atomic_load(base->cancel); k++) {
        const eval_item *it = &set->items[first + k];
        arena mem = arena_make(64 << 10, 256u << 20);
        cns_result *r;
        if (ask_run(it->question, base, &mem, &r)) {
            fprintf(stderr, "\ndrux: question %zu: %s\n", first + k + 1, dx_errmsg());
            arena_free(&mem);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &tq);
        grade(ev, set, it, base->cfg->n_members, r,
              (tq.tv_sec - t1.tv_sec) + (tq.tv_nsec - t1.tv_nsec) / 1e9);
        arena_free(&mem);
        ev->done++;
        t1 = tq;
        progress(ev->done, total, &ev->council,
                 (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
}

/* The 95% interval of the AUROC over the run's graded questions. */
static void auroc_interval(const eval_run *ev, double auroc, double *lo, double *hi)
{
    size_t pos = 0;
    for (size_t i = 0; i < ev->n_scored; i++)
        pos += ev->label[i];
    eval_auroc_interval(auroc, pos, ev->n_scored - pos, lo, hi);
}

static void report_json(const char *path, const eval_set *set, const council_config *cfg,
                        const eval_run *ev, double auroc)
{
    json_t *jm = json_array(), *jb = json_array();
    for (size_t m = 0; m < cfg->n_members; m++)
        json_array_append_new(jm, tally_json(cfg->members[m].name, &ev->members[m]));
    for (int b = 0; b <= N_BINS; b++)
        json_array_append_new(
            jb, json_pack("{s:s, s:I, s:o}", "consensus", bin_names[b], "n",
                          (json_int_t)ev->bins[b].n, "accuracy",
                          ev->bins[b].n ? json_real((double)ev->bins[b].correct / ev->bins[b].n)
                                        : json_null()));
    json_t *rep = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:O}", "set", path, "format",
                            set->format, "questions", (json_int_t)ev->done, "members", jm,
                            "council", tally_json("council", &ev->council), "auroc",
                            auroc >= 0 ? json_real(auroc) : json_null(), "reliability", jb, "items",
                            ev->items);
    double lo, hi;
    auroc_interval(ev, auroc, &lo, &hi);
    if (rep)
        json_object_set_new(rep, "auroc_interval",
                            auroc >= 0 ? json_pack("[f,f]", lo, hi) : json_null());
    char *s = rep ? json_dumps(rep, JSON_INDENT(2)) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(rep);
}

static void report_text(const char *path, const eval_set *set, const council_config *cfg,
                        const eval_run *ev, double auroc)
{
    printf("%s (%s): %zu questions\n\naccuracy\n", path, set->format, ev->done);
    for (size_t m = 0; m < cfg->n_members; m++)
        print_tally(cfg->members[m].name, &ev->members[m]);
    if (ev->synthesis)
        print_tally("council (written answer)", &ev->council);
    double lo, hi;
    auroc_interval(ev, auroc, &lo, &hi);
    if (auroc >= 0)
        printf("\nconsensus as a predictor of a correct council answer: AUROC %.3f (95%% "
               "interval %.3f-%.3f) over %zu questions\n"
               "(0.5 = no better than chance, 1.0 = perfect)\n",
               auroc, lo, hi, ev->n_scored);
    else
        printf("\nconsensus as a predictor: AUROC cannot be computed (%s)\n",
               ev->n_scored ? "all graded answers were right, or all wrong"
                            : "no question had a percentage");
    printf("\nreliability\n  %-14s %6s %9s\n", "consensus", "n", "accuracy");
    for (int b = 0; b <= N_BINS; b++) {
        if (ev->bins[b].n)
            printf("  %-14s %6zu %8.1f%%\n", bin_names[b], ev->bins[b].n,
                   100.0 * ev->bins[b].correct / ev->bins[b].n);
        else
            printf("  %-14s %6d %9s\n", bin_names[b], 0, "-");
    }
}

typedef struct eval_args {
    const char *path, *config;
    int limit, offset;
    bool json, synthesis;
} eval_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, eval_args *e)
{
    *e = (eval_args){.limit = 20, .synthesis = true};
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(eval_usage, stdout);
            return 0;
        } else if (args_int(&a, NULL, "--limit", 1, 1000000, &e->limit) ||
                   args_int(&a, NULL, "--offset", 0, 100000000, &e->offset) ||
                   args_str(&a, NULL, "--config", &e->config)) {
            continue;
        } else if (args_flag(&a, NULL, "--json")) {
            e->json = true;
        } else if (args_flag(&a, NULL, "--no-synthesis")) {
            e->synthesis = false;
        } else if (!e->path && args_positional(&a, &e->path)) {
            continue;
        } else {
            return args_unknown(&a, eval_usage);
        }
    }
    if (a.error)
        return 2;
    if (!e->path) {
        fputs(eval_usage, stderr);
        return 2;
    }
    return -1;
}

int cmd_eval(int argc, char **argv)
{
    eval_args e;
    int rc = parse_args(argc, argv, &e);
    if (rc >= 0)
        return rc;
    const char *path = e.path;
    rc = 1;
    eval_set set = {0};
    council_config *cfg = NULL;
    local_registry *reg = NULL;
    embed_model *em = NULL;
    eval_run ev = {.items = json_array(), .synthesis = e.synthesis};
    if (eval_load(path, &set) || council_config_open(e.config, &cfg)) {
        cli_error(NULL);
        goto out;
    }
    if (cfg->n_members == 0) {
        fprintf(stderr,
                "drux: the council has no members (drux pull a model, or see docs/config.md)\n");
        goto out;
    }
    if (ask_open_embedder(cfg, &em)) {
        cli_error(NULL);
        goto out;
    }
    size_t first = (size_t)e.offset < set.n ? (size_t)e.offset : set.n;
    size_t total = set.n - first < (size_t)e.limit ? set.n - first : (size_t)e.limit;
    ev.members = calloc(cfg->n_members, sizeof *ev.members);
    ev.score = calloc(total ? total : 1, sizeof *ev.score);
    ev.label = calloc(total ? total : 1, sizeof *ev.label);
    reg = local_registry_new();
    if (!ev.members || !ev.score || !ev.label || !reg || !ev.items) {
        fprintf(stderr, "drux: out of memory\n");
        goto out;
    }
    const atomic_int *cancel = cli_cancel_on_sigint();
    fprintf(stderr, "%s: %s, questions %zu..%zu of %zu, council of %zu\n", path, set.format,
            first + 1, first + total, set.n, cfg->n_members);
    ask_opts o = {
        .cfg = cfg, .reg = reg, .cancel = cancel, .synthesis = e.synthesis, .embedder = em};
    run_questions(&ev, &set, first, total, &o);
    double auroc = eval_auroc(ev.score, ev.label, ev.n_scored);
    if (e.json)
        report_json(path, &set, cfg, &ev, auroc);
    else
        report_text(path, &set, cfg, &ev, auroc);
    rc = atomic_load(cancel) ? 130 : 0;
out:
    json_decref(ev.items);
    free(ev.members);
    free(ev.score);
    free(ev.label);
    local_registry_free(reg);
    embed_model_close(em);
    council_config_free(cfg);
    eval_set_free(&set);
    return rc;
}
