/*
 * drux analyze — the consensus analysis of fixed answers.
 *
 *     drux analyze answers.json            # the analysis object as JSON
 *     cat answers.json | drux analyze - --text
 *
 * Input: {"question": "...", "answers": [{"model": "...", "text": "...",
 * "name"?, "status"?, "error"?}]}. See docs/consensus.md and docs/api.md.
 */
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
        "usage: drux analyze FILE|- [--json|--text] [--compact] [--no-synthesis] [--lexical]\n\n"
        "Reads {\"question\": ..., \"answers\": [{\"model\": ..., \"text\": ...}]} (optional per "
        "answer:\n"
        "\"name\", \"status\" done|failed|timeout|cancelled|refused, \"error\") and prints the\n"
        "analysis object: how far the answers agree, agreed / disputed / unique points, a label,\n"
        "an answer built from them, follow-up questions and a category.\n\n"
        "  --json          the analysis object as JSON (default)\n"
        "  --text          a readable report instead\n"
        "  --compact       JSON on one line\n"
        "  --no-synthesis  no answer and no follow-ups, only the analysis\n"
        "  --lexical       match claims by their words only, not by meaning with the cached\n"
        "                  sentence encoder (" EMBED_DEFAULT_MODEL ", used when pulled)\n"
        "  --check-model M ask local model M (cache name or path) yes/no whether two answers\n"
        "                  that seem to differ give the same answer, and whether another answer\n"
        "                  states a point only one member made (docs/consensus.md §5)\n"
        "  --checks N      at most N such questions (default 4 with --check-model)\n");
}

/* cns_generate_fn for the yes/no checks: a short greedy reply. */
typedef struct check_model {
    local_registry *reg;
    const char *model;
} check_model;

static dx_status check_generate(void *user, const char *prompt, dx_buf *out)
{
    const check_model *cm = user;
    gen_params p = gen_defaults();
    p.chat = true;
    p.sampling.temperature = 0;
    p.max_tokens = 3; /* "yes" or "no" */
    return local_complete(cm->reg, cm->model, &p, prompt, out);
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
    bool text, compact, synthesis, lexical;
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
        co.check = check_generate;
        co.check_user = (void *)cm;
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
    cns_input in;
    if (cns_input_parse(data, len, &a, &in)) {
        rc = cli_error(NULL);
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
    cns_result *r;
    if (analyze(&in, em, reg ? &cm : NULL, &args, &a, &r)) {
        rc = cli_error("analyze");
        goto out;
    }
    rc = print_result(r, &args);
out:
    local_registry_free(reg);
    embed_model_close(em);
    free(data);
    arena_free(&a);
    return rc;
}
