/*
 * test_models.h — finding real model files for tests.
 *
 * Models live in drux's cache ($DRUX_HOME/models, else $XDG_DATA_HOME/drux/models,
 * else ~/.local/share/drux/models) or in $DRUX_TEST_MODELS; tests that need one
 * skip with a one-line message when it is absent.
 */
#ifndef DX_TEST_MODELS_H
#define DX_TEST_MODELS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline bool test_is_sanitizer_build(void)
{
    const char *m = getenv("DRUX_TEST_MODE");
    return m && !strcmp(m, "debug");
}

/* The model directories in the order they are searched; returns how many. */
static inline int test_model_dirs(char dirs[4][768])
{
    const char *home = getenv("HOME");
    const char *e;
    int n = 0;
    if ((e = getenv("DRUX_TEST_MODELS")) && *e)
        snprintf(dirs[n++], 768, "%s", e);
    if ((e = getenv("DRUX_HOME")) && *e)
        snprintf(dirs[n++], 768, "%s/models", e);
    if ((e = getenv("XDG_DATA_HOME")) && *e)
        snprintf(dirs[n++], 768, "%s/drux/models", e);
    if (home)
        snprintf(dirs[n++], 768, "%s/.local/share/drux/models", home);
    return n;
}

/* The first of the model directories that exists (for tests that scan it),
 * or NULL. */
static inline const char *test_models_dir(char *buf, size_t cap)
{
    char dirs[4][768];
    const int n = test_model_dirs(dirs);
    for (int i = 0; i < n; i++)
        if (access(dirs[i], R_OK | X_OK) == 0 && (size_t)snprintf(buf, cap, "%s", dirs[i]) < cap)
            return buf;
    return NULL;
}

/* FILE in the first model directory that has it, or NULL. */
static inline const char *test_model_path(char *buf, size_t cap, const char *file)
{
    char dirs[4][768];
    const int n = test_model_dirs(dirs);
    for (int i = 0; i < n; i++) {
        if ((size_t)snprintf(buf, cap, "%.*s/%s", 700, dirs[i], file) >= cap)
            continue;
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

/* A random-weight model of a tools/make_model.py preset in one format:
 * build/test-models/PRESET-TYPE-sSEED[-vVOCAB].gguf, written when missing
 * (through a temporary name, so concurrent test binaries never see half a
 * file) and kept for the next run. vocab 0 keeps the preset's. NULL when it
 * can't be written (python3 with gguf and numpy needed: scripts/setup --deps). */
static inline const char *test_make_model(char *path, size_t cap, const char *preset,
                                          const char *type, int seed, int vocab)
{
    char v[24] = "";
    if (vocab > 0)
        snprintf(v, sizeof v, "-v%d", vocab);
    const int len =
        snprintf(path, cap, "build/test-models/%s-%s-s%d%s.gguf", preset, type, seed, v);
    if (len < 0 || (size_t)len >= cap || len > 200)
        return NULL;
    if (access(path, R_OK) == 0)
        return path;
    mkdir("build", 0755);
    mkdir("build/test-models", 0755);
    char vocab_arg[32] = "", cmd[1024];
    if (vocab > 0)
        snprintf(vocab_arg, sizeof vocab_arg, "--vocab %d", vocab);
    const int pid = (int)getpid();
    snprintf(cmd, sizeof cmd,
             "python3 tools/make_model.py --preset %.60s --type %.20s --seed %d %s -q -o %.200s.%d "
             ">/dev/null 2>&1 && "
             "mv %.200s.%d %.200s",
             preset, type, seed, vocab_arg, path, pid, path, pid, path);
    return system(cmd) == 0 ? path : NULL;
}

/* Index of the largest of n logits (the lowest index on ties): greedy decoding. */
static inline int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Generated text collected from gen_generate's callback (stops when full). */
typedef struct {
    char text[4096];
    size_t len;
} collect;

static inline int collect_piece(void *ud, const char *p, size_t n)
{
    collect *c = ud;
    if (c->len + n >= sizeof c->text)
        return 1;
    memcpy(c->text + c->len, p, n);
    c->len += n;
    c->text[c->len] = '\0';
    return 0;
}

#endif
