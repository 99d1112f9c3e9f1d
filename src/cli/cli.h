/*
 * cli — the drux command line: one function per subcommand.
 *
 * Each cmd_* takes the arguments after its name (argv[0] is the subcommand)
 * and returns the process exit code: 0 success, 1 failure (message printed),
 * 2 usage error.
 */
#ifndef DX_CLI_H
#define DX_CLI_H

typedef int (*cli_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_command;

/* Print "drux: <message>" for the last failure on this thread; returns 1. */
int cli_error(const char *what);

/* The subcommands, each in src/cli/cmd_<name>.c. */
int cmd_version(int argc, char **argv);
int cmd_analyze(int argc, char **argv);

#endif
