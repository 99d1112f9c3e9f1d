/*
 * drux members — show the council (validating its config), and optionally
 * put one question to every member to check that each one answers.
 *
 *     drux members [--config FILE]
 *     drux members [--config FILE] --ask "Say hi" [--json]
 */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cli/cli.h"
#include "core/limits.h"
#include "council/config.h"
#include "council/fanout.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: drux members [--config FILE] [--ask QUESTION [--json]]\n"
               "\n"
               "Lists the council members and checks the config. The config is FILE, else\n"
               "$DRUX_CONFIG, else $XDG_CONFIG_HOME/drux/drux.ini (~/.config/drux/drux.ini);\n"
               "with none, every model in the cache is a local member. See docs/config.md.\n"
               "\n"
               "  --ask QUESTION  ask every member at once and report how each did\n"
               "  --json          with --ask: print the results as JSON on stdout\n"
               "\n"
               "Exit status: 0 when every member is valid (and, with --ask, answered).\n");
}

static void list(const council_config *c)
{
    printf("council: %s (%zu member%s", c->source, c->n_members, c->n_members == 1 ? "" : "s");
    if (c->synthesizer)
        printf(", synthesizer %s", c->synthesizer);
    if (c->embedder)
        printf(", embedder %s", c->embedder);
    printf(")\n");
    for (size_t i = 0; i < c->n_members; i++) {
        const member_config *m = &c->members[i];
        printf("  %-16s %-6s %-7s %s", m->name, member_kind_str(m->kind), member_tier_str(m),
               m->model);
        if (m->kind == MEMBER_REMOTE)
            printf(" at %s (%s API)", m->base_url, member_api_str(m->api));
        if (m->has_price)
            printf(", $%g/$%g per M tokens in/out", m->input_price, m->output_price);
        if (m->has_temperature)
            printf(", temperature %g", m->temperature);
        if (m->has_top_p)
            printf(", top_p %g", m->top_p);
        if (m->has_seed)
            printf(", seed %llu", (unsigned long long)m->seed);
        printf(", max_tokens %d, timeout %g s\n", m->max_tokens, m->timeout_s);
        if (m->api_key_env && !getenv(m->api_key_env))
            fprintf(stderr, "drux: warning: %s: $%s is not set\n", m->name, m->api_key_env);
    }
}

static void progress(const member_event *ev, void *user)
{
    (void)user;
    const member_result *r = ev->result;
    if (ev->kind == MEMBER_EV_RETRY) {
        fprintf(stderr, "  %s: retry in %.1f s: %.*s\n", r->name, ev->wait_ms / 1000, (int)ev->len,
                ev->text);
    } else if (ev->kind == MEMBER_EV_STATUS && r->status != MEMBER_QUEUED) {
        if (r->status == MEMBER_RUNNING)
            fprintf(stderr, "  %s: running\n", r->name);
        else
            fprintf(stderr, "  %s: %s after %.0f ms%s%s\n", r->name, member_status_str(r->status),
                    r->latency_ms, *r->error ? ": " : "", r->error);
    }
}

/* The answer as a JSON string; bytes that are not UTF-8 (a local model
 * can emit half a character) become U+FFFD rather than losing the text. */
static json_t *text_json(const char *s, size_t n)
{
    json_t *t = json_stringn(s, n);
    if (t)
        return t;
    char *clean = malloc(n * 3 + 1);
    if (!clean)
        return json_string("");
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k > 0 && cp != 0) {
            memcpy(clean + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    t = json_stringn(clean, o);
    free(clean);
    return t ? t : json_string("");
}

static json_t *result_json(const member_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "kind", json_string(member_kind_str(r->kind)));
    json_object_set_new(o, "tier", json_string(r->premium ? "premium" : "free"));
    json_object_set_new(o, "provider", r->provider ? json_string(r->provider) : json_null());
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "status", json_string(member_status_str(r->status)));
    json_object_set_new(o, "error", json_string(r->error));
    json_object_set_new(o, "text", text_json(r->text, r->text_len));
    json_object_set_new(o, "truncated", json_boolean(r->truncated));
    json_object_set_new(o, "ttft_ms", r->ttft_ms >= 0 ? json_real(r->ttft_ms) : json_null());
    json_object_set_new(o, "latency_ms", json_real(r->latency_ms));
    json_object_set_new(o, "cost_usd", r->cost_usd >= 0 ? json_real(r->cost_usd) : json_null());
    json_object_set_new(o, "prompt_tokens",
                        r->prompt_tokens >= 0 ? json_integer(r->prompt_tokens) : json_null());
    json_object_set_new(o, "completion_tokens", json_integer(r->completion_tokens));
    json_object_set_new(o, "tokens_estimated", json_boolean(r->tokens_estimated));
    json_object_set_new(o, "tokens_per_s", json_real(r->tokens_per_s));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "http_status", json_integer(r->http_status));
    json_object_set_new(o, "finish_reason", json_string(r->finish_reason));
    return o;
}

static int ask(const council_config *cfg, const char *question, bool as_json)
{
    /* first Ctrl-C: cancel the members and report; second: the usual */
    fanout_opts o = {.on_event = progress, .cancel = cli_cancel_on_sigint()};
    member_result *res = NULL;
    size_t n = 0;
    double t0 = council_now_ms();
    dx_status st = fanout_run(cfg, question, &o, &res, &n);
    double wall = council_now_ms() - t0;
    if (st)
        return cli_error("members --ask");
    int answered = 0, unpriced = 0;
    double cost = 0;
    for (size_t i = 0; i < n; i++) {
        answered += res[i].status == MEMBER_DONE;
        if (res[i].cost_usd >= 0)
            cost += res[i].cost_usd;
        else
            unpriced++;
    }
    if (as_json) {
        json_t *root = json_object(), *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, result_json(&res[i]));
        json_object_set_new(root, "config", json_string(cfg->source));
        json_object_set_new(root, "wall_ms", json_real(wall));
        json_object_set_new(root, "cost_usd", json_real(cost));
        json_object_set_new(root, "unpriced_members", json_integer(unpriced));
        json_object_set_new(root, "members", arr);
        json_dumpf(root, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(root);
    } else {
        for (size_t i = 0; i < n; i++) {
            const member_result *r = &res[i];
            printf("== %s (%s, %s): %s, %.0f ms", r->name, r->model,
                   r->premium ? "premium" : "free", member_status_str(r->status), r->latency_ms);
            if (r->cost_usd > 0)
                printf(", ~$%.4f", r->cost_usd);
            if (r->ttft_ms >= 0)
                printf(", first text at %.0f ms", r->ttft_ms);
            if (r->completion_tokens)
                printf(", %s%d tokens, %.1f tok/s", r->tokens_estimated ? "~" : "",
                       r->completion_tokens, r->tokens_per_s);
            if (r->attempts > 1)
                printf(", %d attempts", r->attempts);
            printf("\n");
            if (*r->error)
                printf("   %s\n", r->error);
            if (r->text_len)
                printf("%s\n", r->text);
        }
        printf("%d of %zu members answered in %.0f ms", answered, n, wall);
        if (cost > 0 || unpriced)
            printf(", ~$%.4f%s", cost, unpriced ? " (some premium members have no prices)" : "");
        printf("\n");
    }
    fanout_results_free(res, n);
    return (size_t)answered == n ? 0 : 1;
}

int cmd_members(int argc, char **argv)
{
    const char *config = NULL, *question = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--ask") && i + 1 < argc) {
            question = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else {
            fprintf(stderr, "drux members: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (question && strlen(question) > DX_MAX_QUESTION_BYTES) {
        fprintf(stderr, "drux members: the question is longer than %u bytes\n",
                DX_MAX_QUESTION_BYTES);
        return 2;
    }
    council_config *cfg = NULL;
    if (council_config_open(config, &cfg))
        return cli_error(NULL);
    int rc = 0;
    if (question)
        rc = ask(cfg, question, as_json);
    else
        list(cfg);
    council_config_free(cfg);
    return rc;
}
