/*
 * drux run — run one model on one prompt and stream the output.
 *
 *     drux run -m MODEL.gguf -p "Once upon a time" [-n 64] [--chat] [--temp 0.7] [--seed 1]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/limits.h"
#include "core/str.h"
#include "gen/gen.h"
#include "hub/hub.h"

static const char run_usage[] =
    "usage: drux run -m MODEL -p PROMPT [options]\n"
    "\n"
    "Runs one local model on a prompt and streams the output, then prints a\n"
    "one-line summary (tokens and speed of each phase) on stderr.\n"
    "\n"
    "  -m, --model MODEL     a GGUF file, or the name of a model in the cache (drux models)\n"
    "  -p, --prompt TEXT     the prompt; -f FILE reads it from a file, '-' from stdin\n"
    "      --chat            treat the prompt as a user turn in the model's chat format\n"
    "      --system TEXT     system prompt (with --chat)\n"
    "      --default-system  with no --system, use the template's own default system prompt\n"
    "  -n, --max-tokens N    generate at most N tokens (default 256)\n"
    "  -c, --ctx N           context size in tokens (default: min(model's, 4096))\n"
    "      --temp T          temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K         (default 40)    --top-p P  (default 0.95)\n"
    "      --min-p P         (default 0.05)  --repeat-penalty R (default 1.0 = off)\n"
    "      --seed S          random seed, for reproducible sampling (default 0)\n"
    "  -t, --threads N       worker threads (default: all cores)\n"
    "      --show-prompt     print the prompt's token ids on stderr first\n";

static int print_piece(void *ud, const char *piece, size_t len)
{
    (void)ud;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

typedef struct run_args {
    const char *model, *prompt, *prompt_file;
    gen_params p;
    bool show_prompt;
    int threads;
} run_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, run_args *r)
{
    gen_params *p = &r->p;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(run_usage, stdout);
            return 0;
        } else if (args_str(&a, "-m", "--model", &r->model) ||
                   args_str(&a, "-p", "--prompt", &r->prompt) ||
                   args_str(&a, "-f", "--file", &r->prompt_file) ||
                   args_str(&a, NULL, "--system", &p->system) ||
                   args_int(&a, "-n", "--max-tokens", 1, 1 << 20, &p->max_tokens) ||
                   args_int(&a, "-c", "--ctx", 1, 1 << 20, &p->n_ctx) ||
                   args_float(&a, NULL, "--temp", 0, 100, &p->sampling.temperature) ||
                   args_int(&a, NULL, "--top-k", 0, 1 << 20, &p->sampling.top_k) ||
                   args_float(&a, NULL, "--top-p", 0, 1, &p->sampling.top_p) ||
                   args_float(&a, NULL, "--min-p", 0, 1, &p->sampling.min_p) ||
                   args_float(&a, NULL, "--repeat-penalty", 0, 100, &p->sampling.repeat_penalty) ||
                   args_u64(&a, NULL, "--seed", &p->sampling.seed) ||
                   args_int(&a, "-t", "--threads", 1, 256, &r->threads)) {
            continue;
        } else if (args_flag(&a, NULL, "--chat")) {
            p->chat = true;
        } else if (args_flag(&a, NULL, "--default-system")) {
            p->default_system = true;
        } else if (args_flag(&a, NULL, "--show-prompt")) {
            r->show_prompt = true;
        } else {
            return args_unknown(&a, run_usage);
        }
    }
    if (a.error)
        return 2;
    if (!r->model || (!r->prompt && !r->prompt_file)) {
        fputs(run_usage, stderr);
        return 2;
    }
    return -1;
}

/* The one-line summary on stderr: tokens and speed of each phase. */
static void print_summary(const gen_stats *st)
{
    fprintf(stderr, "prompt: %d tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s | stop: %s\n",
            st->prompt_tokens,
            st->prefill_ms > 0 ? st->prompt_tokens * 1000.0 / st->prefill_ms : 0.0, st->gen_tokens,
            st->decode_ms > 0 && st->gen_tokens > 1 ? (st->gen_tokens - 1) * 1000.0 / st->decode_ms
                                                    : 0.0,
            st->stop);
}

int cmd_run(int argc, char **argv)
{
    run_args r = {.p = gen_defaults()};
    int done = parse_args(argc, argv, &r);
    if (done >= 0)
        return done;
    const char *prompt = r.prompt;
    if (r.threads > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", r.threads);
        setenv("DRUX_THREADS", buf, 1);
    }

    int rc = 1;
    char *text = NULL, *path = NULL;
    gen_model *gm = NULL;
    int32_t *ids = NULL;
    if (r.prompt_file) {
        size_t len;
        dx_status st = strcmp(r.prompt_file, "-")
                           ? dx_read_file(r.prompt_file, DX_MAX_PROMPT_BYTES, &text, &len)
                           : dx_read_file("/dev/stdin", DX_MAX_PROMPT_BYTES, &text, &len);
        if (st) {
            cli_error("reading the prompt");
            goto out;
        }
        prompt = text;
    }
    if (hub_resolve_model(r.model, &path) || gen_model_open(path, &gm)) {
        cli_error(NULL);
        goto out;
    }
    if (r.show_prompt) {
        size_t n;
        if (gen_prompt_ids(gm, &r.p, prompt, &ids, &n)) {
            cli_error(NULL);
            goto out;
        }
        fprintf(stderr, "prompt tokens (%zu):", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    gen_stats st;
    if (gen_generate(gm, &r.p, prompt, print_piece, NULL, &st)) {
        printf("\n");
        cli_error(NULL);
        goto out;
    }
    printf("\n");
    fflush(stdout);
    print_summary(&st);
    rc = 0;
out:
    free(ids);
    gen_model_close(gm);
    free(path);
    free(text);
    return rc;
}
