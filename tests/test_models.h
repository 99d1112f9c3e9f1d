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
