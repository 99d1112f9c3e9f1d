/*
 * bench_consensus — how long one analysis of a 6-member council with long
 * markdown answers takes (issue 12's budget: under 1 s on 2 threads without
 * yes/no checks), by words only and, when the default sentence encoder is
 * cached, by meaning.
 *
 *     build/release/bench/bench_consensus [rounds] [--reference] [--dump FILE]
 *
 * (rounds: 5). --dump writes the answer set as `drux analyze` input, so the
 * same set can be timed through the command, e.g. with and without
 * `--check-model` (the yes/no checks' added time).
 *
 * The answers are generated (fixed seed): each ~45 claims of prose, a list
 * and a table, sharing some facts across members and contradicting others, so
 * every phase (split, features, pairwise relations, points) does real work.
 * Reports the median wall time per analysis, its share of the 1 s budget
 * and the median CPU time (user + sys of the whole process: all threads), the
 * number that holds on a loaded machine. With --reference, the encoder runs
 * its old path too (one text at a time, one vec_dot per weight row and token)
 * for a before/after on the same binary. Not a test.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ask/ask.h"
#include "consensus/consensus.h"
#include "core/str.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static unsigned long long seed = 0x2545F4914F6CDD1Dull;

static unsigned next(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed >> 33) % n;
}

static const char *const subjects[] = {
    "The Eiffel Tower", "The Great Wall",    "Mount Everest",    "The Amazon river",
    "Lake Baikal",      "The Sahara",        "The Moon",         "Mars",
    "Jupiter",          "The Pacific Ocean", "Python",           "The Linux kernel",
    "SQLite",           "The human heart",   "Regular exercise",
};
static const char *const verbs[] = {"is about",       "measures", "was built over",
                                    "covers roughly", "has",      "reaches"};
static const char *const units[] = {"metres", "km",     "years", "square kilometres",
                                    "moons",  "percent"};
static const char *const extra[] = {
    "according to most sources", "which surprises many visitors", "as recorded in 2019",
    "by current estimates",      "in the official survey",        "though estimates vary",
};

/* One member's answer: prose sentences, a list and a table (~45 claims). */
static char *answer(int member)
{
    dx_buf b = dx_buf_make(0);
    dx_buf_puts(&b, "Here is a detailed overview.\n\n");
    for (int i = 0; i < 20; i++) {
        unsigned s = next(15), v = next(6), u = next(6), e = next(6);
        /* a shared core of facts (same numbers), the rest member-specific */
        unsigned n = i < 8 ? 100 + 37 * (unsigned)i : 100 + next(900) + (unsigned)member;
        dx_buf_printf(&b, "%s %s %u %s, %s. ", subjects[s], verbs[v], n, units[u], extra[e]);
        if (i % 5 == 4)
            dx_buf_puts(&b, "\n\n");
    }
    dx_buf_puts(&b, "\nKey facts:\n\n");
    for (int i = 0; i < 12; i++)
        dx_buf_printf(&b, "- **%s** is %s known for its %s.\n", subjects[next(15)],
                      i % 3 ? "widely" : "not", units[next(6)]);
    dx_buf_puts(&b, "\n| Item | Value | Note |\n|---|---|---|\n");
    for (int i = 0; i < 10; i++)
        dx_buf_printf(&b, "| %s | %u %s | %s |\n", subjects[next(15)], 10 + next(90),
                      units[next(6)], extra[next(6)]);
    dx_buf_puts(&b, "\nI hope this helps!\n");
    return dx_buf_take(&b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct timing {
    double wall, cpu; /* medians, seconds per analysis */
    const char *method;
    int points, consensus;
} timing;

static timing run(const cns_input *in, const cns_options *opt, int rounds)
{
    double t[32], c[32];
    timing tm = {0};
    for (int r = 0; r < rounds; r++) {
        arena a = arena_make(256 << 10, 512u << 20);
        cns_result *res;
        double t0 = now(), c0 = cpu_now();
        if (cns_analyze(in, opt, &a, &res)) {
            fprintf(stderr, "bench_consensus: %s\n", dx_errmsg());
            exit(1);
        }
        t[r] = now() - t0;
        c[r] = cpu_now() - c0;
        tm.method = res->analysis.method;
        tm.points =
            (int)(res->analysis.n_agreed + res->analysis.n_disputed + res->analysis.n_unique);
        tm.consensus = res->analysis.consensus;
        arena_free(&a);
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp_double);
    qsort(c, (size_t)rounds, sizeof *c, cmp_double);
    tm.wall = t[rounds / 2];
    tm.cpu = c[rounds / 2];
    return tm;
}

static void report(size_t bytes, const char *how, timing tm)
{
    printf("consensus: 6 members, %zu bytes of answers, %s%s: %.3f s per analysis, %.3f s CPU "
           "(%d points, consensus %d%%), %.0f%% of the 1 s budget\n",
           bytes, tm.method, how, tm.wall, tm.cpu, tm.points, tm.consensus, 100 * tm.wall);
}

int main(int argc, char **argv)
{
    int rounds = 5;
    bool reference = false;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reference"))
            reference = true;
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dump = argv[++i];
        else
            rounds = atoi(argv[i]);
    }
    if (rounds < 1 || rounds > 32)
        rounds = 5;
    cns_member m[6];
    char *texts[6];
    size_t bytes = 0;
    for (int i = 0; i < 6; i++) {
        texts[i] = answer(i);
        bytes += strlen(texts[i]);
        char *name = malloc(8);
        snprintf(name, 8, "m%d", i);
        m[i] = (cns_member){.name = name, .model = name, .status = CNS_DONE, .text = texts[i]};
    }
    cns_input in = {"Tell me about famous landmarks and their sizes.", m, 6};
    if (dump) {
        json_t *ans = json_array();
        for (int i = 0; i < 6; i++)
            json_array_append_new(ans,
                                  json_pack("{s:s, s:s}", "model", m[i].model, "text", texts[i]));
        json_t *doc = json_pack("{s:s, s:o}", "question", in.question, "answers", ans);
        if (!doc || json_dump_file(doc, dump, JSON_INDENT(1))) {
            fprintf(stderr, "bench_consensus: cannot write %s\n", dump);
            return 1;
        }
        json_decref(doc);
    }
    cns_options lex = {0};
    report(bytes, "", run(&in, &lex, rounds));
    embed_model *em = NULL;
    if (ask_open_embedder(NULL, &em) || !em) {
        printf("consensus: by meaning: skipped (%s is not cached)\n", EMBED_DEFAULT_MODEL);
    } else {
        cns_options emb = {0};
        ask_match_options(em, &emb);
        report(bytes, ", batched", run(&in, &emb, rounds));
        if (reference) {
            embed_model_set_reference(em, true);
            emb.embed_many = NULL;
            report(bytes, ", reference path", run(&in, &emb, rounds));
        }
        embed_model_close(em);
    }
    for (int i = 0; i < 6; i++) {
        free(texts[i]);
        free((char *)m[i].name);
    }
    return 0;
}
