/*
 * cli — the drux command line: one function per subcommand.
 *
 * Each cmd_* takes the arguments after its name (argv[0] is the subcommand)
 * and returns the process exit code: 0 success, 1 failure (message printed),
 * 2 usage error.
 */
#ifndef DX_CLI_H
#define DX_CLI_H

#include <stdatomic.h>

#include "core/status.h"

typedef int (*cli_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_command;

/* Print "drux: <message>" for the last failure on this thread; returns 1. */
int cli_error(const char *what);

/* Ctrl-C for commands that run the council: the first sets the returned flag
 * (pass it as the cancel flag: members stop and what arrived is reported), a
 * second ends the process the usual way. */
const atomic_int *cli_cancel_on_sigint(void);

/* The subcommands, each in src/cli/cmd_<name>.c. */
int cmd_run(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_pull(int argc, char **argv);    /* cmd_hub.c */
int cmd_models(int argc, char **argv);  /* cmd_hub.c */
int cmd_rm(int argc, char **argv);      /* cmd_hub.c */
int cmd_members(int argc, char **argv); /* cmd_council.c */
int cmd_user(int argc, char **argv);    /* cmd_user.c */
int cmd_analyze(int argc, char **argv);
int cmd_convert(int argc, char **argv); /* cmd_embed.c */
int cmd_embed(int argc, char **argv);   /* cmd_embed.c */
int cmd_serve(int argc, char **argv);

#endif
