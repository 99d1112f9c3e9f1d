#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

args args_begin(int argc, char **argv)
{
    return (args){.argc = argc, .argv = argv, .i = 0};
}

bool args_next(args *a)
{
    if (++a->i >= a->argc)
        return false;
    a->cur = a->argv[a->i];
    a->inline_val = NULL;
    return true;
}

static bool matches(args *a, const char *s, const char *l)
{
    if (s && !strcmp(a->cur, s))
        return true;
    if (!l)
        return false;
    size_t n = strlen(l);
    if (!strncmp(a->cur, l, n)) {
        if (a->cur[n] == '\0')
            return true;
        if (a->cur[n] == '=') {
            a->inline_val = a->cur + n + 1;
            return true;
        }
    }
    return false;
}

bool args_flag(args *a, const char *s, const char *l)
{
    return matches(a, s, l) && !a->inline_val;
}

static const char *value(args *a)
{
    if (a->inline_val)
        return a->inline_val;
    if (a->i + 1 >= a->argc) {
        fprintf(stderr, "drux: option %s needs a value\n", a->cur);
        a->error = true;
        return NULL;
    }
    return a->argv[++a->i];
}

bool args_str(args *a, const char *s, const char *l, const char **out)
{
    if (!matches(a, s, l))
        return false;
    const char *v = value(a);
    if (v)
        *out = v;
    return true;
}

bool args_int(args *a, const char *s, const char *l, int lo, int hi, int *out)
{
    if (!matches(a, s, l))
        return false;
    const char *opt = a->cur, *v = value(a);
    if (!v)
        return true;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "drux: %s wants a whole number from %d to %d, not '%s'\n", opt, lo, hi, v);
        a->error = true;
        return true;
    }
    *out = (int)x;
    return true;
}

bool args_float(args *a, const char *s, const char *l, float lo, float hi, float *out)
{
    if (!matches(a, s, l))
        return false;
    const char *opt = a->cur, *v = value(a);
    if (!v)
        return true;
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "drux: %s wants a number from %g to %g, not '%s'\n", opt, lo, hi, v);
        a->error = true;
        return true;
    }
    *out = x;
    return true;
}

bool args_u64(args *a, const char *s, const char *l, uint64_t *out)
{
    if (!matches(a, s, l))
        return false;
    const char *opt = a->cur, *v = value(a);
    if (!v)
        return true;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "drux: %s wants a non-negative whole number, not '%s'\n", opt, v);
        a->error = true;
        return true;
    }
    *out = x;
    return true;
}

bool args_positional(args *a, const char **out)
{
    if (a->cur[0] == '-' && a->cur[1] != '\0')
        return false;
    *out = a->cur;
    return true;
}

int args_unknown(args *a, const char *usage)
{
    fprintf(stderr, "drux: unknown option '%s'\n\n%s", a->cur, usage);
    a->error = true;
    return 2;
}
