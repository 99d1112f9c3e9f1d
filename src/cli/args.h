/*
 * args — a small option parser for the subcommands.
 *
 *     args a = args_begin(argc, argv);
 *     while (args_next(&a)) {
 *         if (args_str(&a, "-m", "--model", &model)) continue;
 *         if (args_int(&a, "-n", NULL, 1, 4096, &n)) continue;
 *         return args_unknown(&a, usage);
 *     }
 *     if (a.error) return 2;
 *
 * Accepts "-m X", "--model X" and "--model=X". Positional arguments are
 * returned one by one through args_positional. Errors print a message and set
 * a.error; the matching helper then returns true so the loop goes on to the end.
 */
#ifndef DX_ARGS_H
#define DX_ARGS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct args {
    int argc, i;
    char **argv;
    const char *cur;        /* the argument being looked at */
    const char *inline_val; /* value after '=' in --name=value, or NULL */
    bool error;
} args;

args args_begin(int argc, char **argv);
bool args_next(args *a);
bool args_flag(args *a, const char *short_name, const char *long_name);
bool args_str(args *a, const char *short_name, const char *long_name, const char **out);
bool args_int(args *a, const char *short_name, const char *long_name, int lo, int hi, int *out);
bool args_float(args *a, const char *short_name, const char *long_name, float lo, float hi,
                float *out);
bool args_u64(args *a, const char *short_name, const char *long_name, uint64_t *out);
/* A non-option argument ("-" alone counts as one). */
bool args_positional(args *a, const char **out);
/* Report an unknown option; returns 2. */
int args_unknown(args *a, const char *usage);

#endif
