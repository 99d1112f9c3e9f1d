/*
 * drux analyze — the consensus analysis of fixed answers.
 *
 *     drux analyze answers.json            # the analysis object as JSON
 *     cat answers.json | drux analyze - --text
 *
 * Input: {"question": "...", "answers": [{"model": "...", "text": "...",
 * "name"?, "status"?, "error"?}]}. See docs/consensus.md and docs/api.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ask/ask.h"
#include "cli/cli.h"
#include "consensus/consensus.h"
#include "core/limits.h"
#include "core/str.h"
#include "council/local.h"
#include "hub/hub.h"

static void analyze_usage(FILE *f)
{
    fprintf(
        f,
        "usage: drux analyze FILE|- [--json|--text] [--compact] [--lines] [--no-synthesis]\n"
        "                    [--lexical] [--check-model M [--checks N]]\n\n"
        "Reads {\"question\": ..., \"answers\": [{\"model\": ..., \"text\": ...}]} (optional per "
        "answer:\n"
        "\"name\", \"status\" done|failed|timeout|cancelled|refused, \"error\") and prints the\n"
        "analysis object: how far the answers agree, agreed / disputed / unique points, a label,\n"
        "an answer built from them, follow-up questions and a category.\n\n"
        "  --json          the analysis object as JSON (default)\n"
        "  --text          a readable report instead\n"
        "  --compact       JSON on one line\n"
        "  --lines         one answer set per input line, one compact result per line\n"
        "  --no-synthesis  no answer and no follow-ups, only the analysis\n"
        "  --lexical       match claims by their words only, not by meaning with the cached\n"
        "                  sentence encoder (" EMBED_DEFAULT_MODEL ", used when pulled)\n"
        "  --check-model M ask local model M (cache name or path) yes/no whether two answers\n"
        "                  that seem to differ give the same answer, and whether another answer\n"
        "                  states a point only one member made (docs/consensus.md §5)\n"
        "  --checks N      at most N such questions (default 4 with --check-model)\n");
}

/* The local model that answers the yes/no checks. */
typedef struct check_model {
    local_registry *reg;
    const char *model;
} check_model;

/* The token of a one-token word (a leading BOS left out), or -1. */
static int32_t word_token(const gen_model *gm, const char *word)
{
    gen_params raw = gen_defaults();
    int32_t *bare = NULL, *ids = NULL;
    size_t nb = 0, n = 0;
    int32_t id = -1;
    if (!gen_prompt_ids(gm, &raw, "", &bare, &nb) && !gen_prompt_ids(gm, &raw, word, &ids, &n) &&
        n == nb + 1)
        id = ids[nb];
    free(bare);
    free(ids);
    return id;
}

/* cns_yesno_fn: the model's next-token probability of "yes" against "no" after
 * the prompt as a chat turn (the spellings "Yes", "yes", "YES" and the same of
 * "no" that are one token each). */
static dx_status check_yes_prob(void *user, const char *prompt, double *p_yes)
{
    const check_model *cm = user;
    gen_model *gm;
    dx_status st = local_registry_get(cm->reg, cm->model, &gm);
    if (st)
        return st;
    gen_params p = gen_defaults();
    p.chat = true;
    int32_t *ids = NULL;
    size_t n = 0;
    eng_session *s = NULL;
    if ((st = gen_prompt_ids(gm, &p, prompt, &ids, &n)))
        return st;
    st = eng_session_new(gen_model_engine(gm), &(eng_options){.n_ctx = (int)n + 8}, &s);
    const float *logits = NULL;
    if (!st) {
        size_t nb = (size_t)eng_session_n_batch(s);
        for (size_t i = 0; i < n && !st; i += nb)
            st = eng_session_decode(s, ids + i, (int)(n - i < nb ? n - i : nb),
                                    i + nb >= n ? &logits : NULL);
    }
    if (!st && !logits)
        st = dx_fail(DX_EINTERNAL, "check model: empty prompt");
    static const char *const yes[] = {"Yes", "yes", "YES"}, *const no[] = {"No", "no", "NO"};
    double max = -INFINITY, sy = 0, sn = 0;
    int32_t idy[3], idn[3];
    for (int k = 0; k < 3 && !st; k++) {
        idy[k] = word_token(gm, yes[k]);
        idn[k] = word_token(gm, no[k]);
        if (idy[k] >= 0 && logits[idy[k]] > max)
            max = logits[idy[k]];
        if (idn[k] >= 0 && logits[idn[k]] > max)
            max = logits[idn[k]];
    }
    for (int k = 0; k < 3 && !st; k++) {
        sy += idy[k] >= 0 ? exp(logits[idy[k]] - max) : 0;
        sn += idn[k] >= 0 ? exp(logits[idn[k]] - max) : 0;
    }
    if (!st && sy + sn <= 0)
        st = dx_fail(DX_EINTERNAL, "check model: no one-token \"yes\" or \"no\"");
    if (!st)
        *p_yes = sy / (sy + sn);
    eng_session_free(s);
    free(ids);
    return st;
}

static dx_status read_stdin(size_t max, char **out, size_t *len)
{
    dx_buf b = dx_buf_make(max);
    char chunk[65536];
    size_t n;
    dx_status st = DX_OK;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if ((st = dx_buf_append(&b, chunk, n))) {
            dx_buf_free(&b);
            return dx_fail(DX_ELIMIT, "input is larger than %zu bytes", max);
        }
    if (ferror(stdin)) {
        dx_buf_free(&b);
        return dx_fail(DX_EIO, "cannot read standard input");
    }
    *len = b.len;
    *out = b.data ? dx_buf_take(&b) : strdup("");
    return *out ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}

typedef struct analyze_args {
    const char *path;
    bool text, compact, synthesis, lexical, lines;
    const char *check_model; /* yes/no checks with this local model, or NULL */
    int checks;
} analyze_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, analyze_args *r)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            analyze_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json"))
            r->text = false;
        else if (!strcmp(a, "--text"))
            r->text = true;
        else if (!strcmp(a, "--compact"))
            r->compact = true;
        else if (!strcmp(a, "--no-synthesis"))
            r->synthesis = false;
        else if (!strcmp(a, "--lexical"))
            r->lexical = true;
        else if (!strcmp(a, "--lines"))
            r->lines = r->compact = true;
        else if (!strcmp(a, "--check-model") && i + 1 < argc)
            r->check_model = argv[++i];
        else if (!strcmp(a, "--checks") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 64) {
                fprintf(stderr, "drux analyze: --checks takes a number from 0 to 64\n");
                return 2;
            }
            r->checks = (int)v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "drux analyze: unknown option '%s'\n", a);
            analyze_usage(stderr);
            return 2;
        } else if (!r->path)
            r->path = a;
        else {
            fprintf(stderr, "drux analyze: one input file, got '%s' and '%s'\n", r->path, a);
            return 2;
        }
    }
    if (!r->path) {
        analyze_usage(stderr);
        return 2;
    }
    return -1;
}

/* Analysis, its self-check, then synthesis (the answer only when asked for). */
static dx_status analyze(const cns_input *in, embed_model *em, const check_model *cm,
                         const analyze_args *args, arena *a, cns_result **r)
{
    cns_options co = {0};
    ask_match_options(em, &co);
    if (cm) {
        co.yesno = check_yes_prob;
        co.yesno_user = (void *)cm;
        co.support_checks = args->checks;
    }
    cns_synth_options so = {.answer = args->synthesis};
    dx_status st = cns_analyze(in, &co, a, r);
    const char *broken = st ? NULL : cns_check(*r);
    if (broken)
        st = dx_fail(DX_EINTERNAL, "the analysis contradicts itself (%s)", broken);
    if (!st)
        st = cns_synthesize(*r, &so, a);
    return st;
}

/* The result on stdout, as a text report or as JSON; returns the exit code. */
static int print_result(const cns_result *r, const analyze_args *args)
{
    if (args->text) {
        dx_buf out = dx_buf_make(0);
        int rc = cns_to_text(r, &out) ? cli_error("analyze") : 0;
        if (!rc)
            fputs(out.data ? out.data : "", stdout);
        dx_buf_free(&out);
        if (rc)
            return rc;
    } else {
        char *json = cns_to_json_string(r, !args->compact);
        if (!json) {
            fprintf(stderr, "drux: analyze: out of memory writing JSON\n");
            return 1;
        }
        puts(json);
        free(json);
    }
    return fflush(stdout) ? 1 : 0;
}

int cmd_analyze(int argc, char **argv)
{
    analyze_args args = {.synthesis = true, .checks = 4};
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    rc = 1;
    const char *path = args.path;
    char *data = NULL;
    embed_model *em = NULL;
    local_registry *reg = NULL;
    check_model cm = {0};
    size_t len = 0;
    arena a = arena_make(256 << 10, 512u << 20);
    dx_status st = !strcmp(path, "-") ? read_stdin(DX_MAX_JSON_BYTES, &data, &len)
                                      : dx_read_file(path, DX_MAX_JSON_BYTES, &data, &len);
    if (st) {
        rc = cli_error(!strcmp(path, "-") ? "analyze" : path);
        goto out;
    }
    if (!args.lexical && ask_open_embedder(NULL, &em)) {
        rc = cli_error("analyze");
        goto out;
    }
    if (args.check_model) {
        /* the model loads at the first question asked: many analyses ask none */
        char *found = NULL;
        if (hub_resolve_model(args.check_model, &found)) {
            rc = cli_error(args.check_model);
            goto out;
        }
        free(found);
        if (!(reg = local_registry_new())) {
            fprintf(stderr, "drux: analyze: out of memory\n");
            goto out;
        }
        cm = (check_model){reg, args.check_model};
    }
    /* --lines: one answer set per line, one result per line, the models loaded once */
    for (const char *line = data, *end = data + len; line < end || !args.lines;) {
        const char *nl = args.lines ? memchr(line, '\n', (size_t)(end - line)) : NULL;
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        const char *next = nl ? nl + 1 : end;
        if (args.lines && strspn(line, " \t\r") >= n) {
            line = next;
            continue;
        }
        cns_input in;
        cns_result *r;
        if (cns_input_parse(line, n, &a, &in)) {
            rc = cli_error(NULL);
            goto out;
        }
        if (analyze(&in, em, reg ? &cm : NULL, &args, &a, &r)) {
            rc = cli_error("analyze");
            goto out;
        }
        if ((rc = print_result(r, &args)) || !args.lines)
            goto out;
        arena_reset(&a);
        line = next;
    }
    rc = 0;
out:
    local_registry_free(reg);
    embed_model_close(em);
    free(data);
    arena_free(&a);
    return rc;
}
