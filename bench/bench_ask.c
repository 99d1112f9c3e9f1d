/*
 * bench_ask — time to a council answer, as a person waits for it (bench/ask
 * runs it; not a test, and not part of make bench: it takes minutes).
 *
 *     DRUX_THREADS=2 build/release/bench/bench_ask [-n QUESTIONS] [--schedule S] [--json]
 *
 * On the default council (the `default` preset, or $DRUX_COUNCIL / a config
 * named by $DRUX_CONFIG), for each of up to 20 short factual questions:
 * time to the first member token, to all members done, to the first answer
 * token, to the whole answer text, and to the whole result (follow-ups and
 * category too); an answer that failed the check is whole only with the
 * result, which carries its replacement; and how many answers were kept as
 * written; beside it the best single member alone (the preset's
 * synthesizer, asked on its own with no synthesis). S is `together`,
 * `one_at_a_time` or `both` (default: both, each question under each in
 * turn, so that a busy machine disturbs both alike). Reported: median and
 * p90 of each, in seconds. The models are loaded once (as in drux serve)
 * by a warm-up question that is not counted; the best member alone runs on
 * a copy of its model of its own, so it never finds the question it is
 * asked already prefilled by the council's turn. --synthesizer MEMBER has
 * another member write the answer. The best member alone is the council's
 * strongest member (`strongest`, measured in docs/models.md), else the
 * largest local chat model. --answer written|strongest|both: the writer
 * writes every answer, or the strongest member's answer leads where the
 * council allows it (cns_synth_options.strongest), or both, each question
 * under each in turn (schedule together; default: the config's way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ask/ask.h"
#include "council/fanout.h"

static const char *const questions[] = {
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "What is the chemical symbol for gold?",
    "In what year did World War II end?",
    "Which planet is the largest in the solar system?",
    "What language is spoken in Brazil?",
    "At what temperature does water boil at sea level in Celsius?",
    "Who painted the Mona Lisa?",
    "What is the largest ocean on Earth?",
    "How many continents are there?",
    "Who developed the theory of relativity?",
    "What is the currency of Japan?",
    "What is the tallest mountain in the world?",
    "Which element has the atomic number 1?",
    "Who was the first person to walk on the Moon?",
    "What is the longest river in Africa?",
    "How many legs does a spider have?",
    "What gas do plants absorb from the air?",
    "Who discovered penicillin?",
    "What is the smallest prime number?",
};
#define N_QUESTIONS (sizeof questions / sizeof questions[0])

enum {
    M_FIRST_MEMBER,
    M_MEMBERS_DONE,
    M_ANALYSED,
    M_FIRST_ANSWER,
    M_ANSWER,
    M_RESULT,
    M_ALONE,
    N_METRICS
};
static const char *const metric_names[N_METRICS] = {
    "first member token", "all members done", "analysis done",    "first answer token",
    "whole answer text",  "whole result",     "best member alone"};

typedef struct timing {
    double t0, first_member, members_done, analysed, first_answer, last_answer, done;
} timing;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_event(const ask_event *ev, void *user)
{
    timing *t = user;
    double now = now_s() - t->t0;
    if (ev->is_member && ev->member->kind == MEMBER_EV_TEXT && t->first_member < 0)
        t->first_member = now;
    if (!ev->is_member && ev->phase == ASK_ANALYZING)
        t->members_done = now;
    if (!ev->is_member && ev->phase == ASK_SYNTHESIZING)
        t->analysed = now;
    if (!ev->is_member && ev->phase == ASK_DONE)
        t->done = now;
}

static void on_answer(const char *piece, size_t len, void *user)
{
    (void)piece;
    (void)len;
    timing *t = user;
    double now = now_s() - t->t0;
    if (t->first_answer < 0)
        t->first_answer = now;
    t->last_answer = now;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile by the nearest-rank method. */
static double quantile(double *v, size_t n, double q)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, cmp_double);
    size_t k = (size_t)(q * (double)n + 0.999999);
    return v[k ? k - 1 : 0];
}

/* One question through the council; fills the council metrics in row. */
static int ask_once(council_config *cfg, local_registry *reg, const embed_model *em, const char *q,
                    double *row, bool *kept, bool *lead)
{
    timing t = {.t0 = now_s(), -1, -1, -1, -1, -1, -1};
    ask_opts o = {.cfg = cfg,
                  .reg = reg,
                  .on_event = on_event,
                  .on_answer = on_answer,
                  .user = &t,
                  .synthesis = true,
                  .embedder = em};
    arena a = arena_make(64 << 10, 256u << 20);
    cns_result *r;
    dx_status st = ask_run(q, &o, &a, &r);
    double end = now_s() - t.t0;
    if (st) {
        fprintf(stderr, "bench_ask: %s: %s\n", q, dx_errmsg());
        arena_free(&a);
        return 1;
    }
    row[M_FIRST_MEMBER] = t.first_member;
    row[M_MEMBERS_DONE] = t.members_done;
    row[M_ANALYSED] = t.analysed;
    /* The answer a reader is left with: when the written one was replaced
     * (it failed the check) or nothing was streamed, that is the result's
     * answer, shown when the result comes. */
    bool replaced = r->answer_check != NULL || t.last_answer < 0;
    row[M_FIRST_ANSWER] = t.first_answer >= 0 ? t.first_answer : t.done;
    row[M_ANSWER] = replaced ? t.done : t.last_answer;
    row[M_RESULT] = end;
    *kept = r->answer_kind == CNS_ANSWER_SYNTHESIZED;
    *lead = r->answer_kind == CNS_ANSWER_STRONGEST;
    fprintf(stderr, "  %-5s %5.1f %5.1f %5.1f %5.1f %5.1f %5.1f  %s  %s\n",
            cfg->one_at_a_time ? "turns"
            : cfg->strongest   ? "lead"
                               : "all",
            t.first_member, t.members_done, t.analysed, row[M_FIRST_ANSWER], row[M_ANSWER], end,
            cns_answer_kind_str(r->answer_kind), q);
    arena_free(&a);
    return 0;
}

/* The best member alone: its own answer, no synthesis. */
static int alone_once(council_config *cfg, local_registry *reg, const char *name, const char *q,
                      double *out)
{
    ask_opts o = {.cfg = cfg, .reg = reg, .synthesis = false, .only = name};
    arena a = arena_make(64 << 10, 64u << 20);
    cns_result *r;
    double t0 = now_s();
    dx_status st = ask_run(q, &o, &a, &r);
    *out = now_s() - t0;
    arena_free(&a);
    if (st)
        fprintf(stderr, "bench_ask: %s alone: %s\n", name, dx_errmsg());
    return st != DX_OK;
}

int main(int argc, char **argv)
{
    size_t n = N_QUESTIONS;
    const char *schedule = "both", *synth = NULL, *answer = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--schedule") && i + 1 < argc)
            schedule = argv[++i];
        else if (!strcmp(argv[i], "--synthesizer") && i + 1 < argc)
            synth = argv[++i];
        else if (!strcmp(argv[i], "--answer") && i + 1 < argc)
            answer = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else {
            fprintf(stderr, "usage: bench_ask [-n QUESTIONS] [--schedule "
                            "together|one_at_a_time|both] [--synthesizer MEMBER] [--answer "
                            "written|strongest|both] [--json]\n");
            return 2;
        }
    }
    if (n < 1 || n > N_QUESTIONS)
        n = N_QUESTIONS;
    /* two ways compared question by question: the answer's (schedule
     * together) or the schedules */
    bool by_answer = answer && !strcmp(answer, "both");
    if (by_answer)
        schedule = "together";
    bool both = by_answer || !strcmp(schedule, "both");
    int n_sched = both ? 2 : 1;
    if (!getenv("DRUX_COUNCIL"))
        setenv("DRUX_COUNCIL", "default", 0);
    council_config *cfg;
    if (council_config_open(NULL, &cfg)) {
        fprintf(stderr, "bench_ask: %s\n", dx_errmsg());
        return 1;
    }
    const char *strongest = cfg->strongest;
    if (answer && strcmp(answer, "written") && !strongest) {
        fprintf(stderr, "bench_ask: the council names no strongest member\n");
        return 2;
    }
    if (answer && !strcmp(answer, "written"))
        cfg->strongest = NULL;
    if (synth && !council_config_member(cfg, synth)) {
        fprintf(stderr, "bench_ask: no member '%s' to write the answer\n", synth);
        return 2;
    }
    /* the best member alone has models of its own: a model keeps its
     * finished sessions for prompts that start alike (gen.h), and the
     * council's member has just been asked the same question */
    local_registry *reg = local_registry_new(), *reg_alone = local_registry_new();
    embed_model *em = NULL;
    if (!reg || !reg_alone || ask_open_embedder(cfg, &em)) {
        fprintf(stderr, "bench_ask: %s\n", dx_errmsg());
        return 1;
    }
    /* the best member: the strongest by measurement, else the largest
     * local chat model (what the council picks to write when no
     * synthesizer is named) */
    const char *named = cfg->synthesizer;
    cfg->synthesizer = NULL;
    ask_opts so = {.cfg = cfg, .reg = reg};
    const member_config *best = ask_synthesizer(&so);
    cfg->synthesizer = named;
    const char *best_name = strongest ? strongest : best ? best->name : cfg->members[0].name;
    if (synth)
        cfg->synthesizer = synth;
    const char *threads = getenv("DRUX_THREADS");
    fprintf(stderr,
            "bench_ask: %zu questions, council %s (%zu members, synthesizer %s, best member %s), "
            "DRUX_THREADS=%s, schedule %s\n  sched first membersdone analysed firstans answer "
            "result (s)\n",
            n, cfg->source, cfg->n_members, cfg->synthesizer ? cfg->synthesizer : best_name,
            best_name, threads ? threads : "(all cores)", schedule);
    /* warm-up: every model loaded once, as drux serve keeps them */
    double warm[N_METRICS];
    bool kept, lead;
    cfg->one_at_a_time = false;
    double warm_alone;
    if (ask_once(cfg, reg, em, "What is the capital of Italy?", warm, &kept, &lead) ||
        alone_once(cfg, reg_alone, best_name, "What is the capital of Italy?", &warm_alone))
        return 1;
    static double v[2][N_METRICS][N_QUESTIONS];
    size_t got[2] = {0, 0}, n_kept[2] = {0, 0}, n_lead[2] = {0, 0};
    double alone[N_QUESTIONS];
    size_t n_alone = 0;
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < n_sched; s++) {
            int which = both        ? ((int)i + s) % 2
                        : by_answer ? 0
                                    : !strcmp(schedule, "one_at_a_time");
            if (by_answer)
                cfg->strongest = which == 1 ? strongest : NULL;
            else
                cfg->one_at_a_time = which == 1;
            double row[N_METRICS];
            if (ask_once(cfg, reg, em, questions[i], row, &kept, &lead) == 0) {
                for (int m = 0; m < M_ALONE; m++)
                    v[which][m][got[which]] = row[m];
                got[which]++;
                n_kept[which] += kept;
                n_lead[which] += lead;
            }
        }
        if (alone_once(cfg, reg_alone, best_name, questions[i], &alone[n_alone]) == 0) {
            fprintf(stderr, "  alone %5.1f  %s\n", alone[n_alone], questions[i]);
            n_alone++;
        }
    }
    double med_alone = quantile(alone, n_alone, 0.5), p90_alone = quantile(alone, n_alone, 0.9);
    if (json)
        printf("{\"questions\": %zu, \"threads\": \"%s\", \"best_member\": \"%s\", "
               "\"best_member_alone_s\": {\"median\": %.2f, \"p90\": %.2f}, \"schedules\": {",
               n, threads ? threads : "", best_name, med_alone, p90_alone);
    else
        printf("bench/ask: %zu short factual questions, default council, DRUX_THREADS=%s\n"
               "best member alone (%s, no synthesis): median %.1f s, p90 %.1f s\n",
               n, threads ? threads : "(all cores)", best_name, med_alone, p90_alone);
    for (int w = 0, first = 1; w < 2; w++) {
        if (!got[w])
            continue;
        const char *name = by_answer ? (w ? "together, strongest leads" : "together, written")
                           : w       ? "one_at_a_time"
                                     : "together";
        if (json)
            printf("%s\"%s\": {\"n\": %zu", first ? "" : ", ", name, got[w]);
        else
            printf("\nschedule %s (%zu questions)          median     p90\n", name, got[w]);
        first = 0;
        double med[M_ALONE];
        for (int m = 0; m < M_ALONE; m++) {
            med[m] = quantile(v[w][m], got[w], 0.5);
            double p90 = quantile(v[w][m], got[w], 0.9);
            if (json)
                printf(", \"%s\": {\"median\": %.2f, \"p90\": %.2f}", metric_names[m], med[m], p90);
            else
                printf("  %-32s %6.1f s %6.1f s\n", metric_names[m], med[m], p90);
        }
        /* the targets, on medians */
        double gap = med[M_FIRST_ANSWER] - med[M_MEMBERS_DONE];
        double ratio = med_alone > 0 ? med[M_ANSWER] / med_alone : -1;
        if (json)
            printf(", \"first_answer_after_members_s\": %.2f, \"answer_over_alone\": %.2f, "
                   "\"kept_as_written\": %zu, \"strongest_leads\": %zu}",
                   gap, ratio, n_kept[w], n_lead[w]);
        else
            printf("  first answer token after members: %.1f s (target <= 2 s)\n"
                   "  whole answer / best member alone: %.2fx (target <= 2x)\n"
                   "  answers kept as written: %zu of %zu; the strongest member's: %zu\n",
                   gap, ratio, n_kept[w], got[w], n_lead[w]);
    }
    if (json)
        printf("}}\n");
    embed_model_close(em);
    local_registry_free(reg);
    local_registry_free(reg_alone);
    council_config_free(cfg);
    return 0;
}
