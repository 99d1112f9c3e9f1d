/*
 * quant_vectors — reads the tensor-format test vectors in tests/data/quant/
 * (written by tools/make_quant_vectors.py); shared by the quant tests.
 *
 *     vecfile v;
 *     if (vecfile_read(VEC_DIR "/Q4_0.txt", &v)) { ... v.raw, v.dequant ...; vecfile_free(&v); }
 */
#ifndef DX_TEST_QUANT_VECTORS_H
#define DX_TEST_QUANT_VECTORS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

#define VEC_DIR "tests/data/quant"

/* ------------------------------------------------------------ helpers */

typedef struct {
    char type[16];
    long n;
    uint8_t *raw, *input, *quant, *dequant;
    size_t raw_len, input_len, quant_len, dequant_len;
    /* GGML's reference (when the generator had it): activations, their
     * quantization into act_type, and GGML's dot of raw with act_quant over
     * elements [dot_skip, dot_skip + dot_n) */
    char act_type[16];
    uint8_t *act_input, *act_quant, *dot;
    size_t act_input_len, act_quant_len, dot_len;
    long dot_skip, dot_n;
} vecfile;

static void vecfile_free(vecfile *v)
{
    free(v->raw);
    free(v->input);
    free(v->quant);
    free(v->dequant);
    free(v->act_input);
    free(v->act_quant);
    free(v->dot);
    memset(v, 0, sizeof *v);
}

static uint8_t *unhex(const char *s, size_t *len)
{
    size_t n = strcspn(s, "\r\n");
    if (n % 2)
        return NULL;
    uint8_t *out = malloc(n / 2 + 1);
    for (size_t i = 0; out && i < n / 2; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)b;
    }
    *len = n / 2;
    return out;
}

/* Reads one vector file; false (with the file closed) if it can't. */
static bool vecfile_read(const char *path, vecfile *v)
{
    memset(v, 0, sizeof *v);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    static char line[1 << 17];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (line[0] == '#' || !sp)
            continue;
        *sp++ = '\0';
        if (!strcmp(line, "type"))
            ok = sscanf(sp, "%15s", v->type) == 1;
        else if (!strcmp(line, "n"))
            ok = sscanf(sp, "%ld", &v->n) == 1;
        else if (!strcmp(line, "raw"))
            ok = (v->raw = unhex(sp, &v->raw_len)) != NULL;
        else if (!strcmp(line, "dequant"))
            ok = (v->dequant = unhex(sp, &v->dequant_len)) != NULL;
        else if (!strcmp(line, "input"))
            ok = (v->input = unhex(sp, &v->input_len)) != NULL;
        else if (!strcmp(line, "quant"))
            ok = (v->quant = unhex(sp, &v->quant_len)) != NULL;
        else if (!strcmp(line, "act_type"))
            ok = sscanf(sp, "%15s", v->act_type) == 1;
        else if (!strcmp(line, "act_input"))
            ok = (v->act_input = unhex(sp, &v->act_input_len)) != NULL;
        else if (!strcmp(line, "act_quant"))
            ok = (v->act_quant = unhex(sp, &v->act_quant_len)) != NULL;
        else if (!strcmp(line, "dot"))
            ok = (v->dot = unhex(sp, &v->dot_len)) != NULL && v->dot_len == 4;
        else if (!strcmp(line, "dot_skip"))
            ok = sscanf(sp, "%ld", &v->dot_skip) == 1;
        else if (!strcmp(line, "dot_n"))
            ok = sscanf(sp, "%ld", &v->dot_n) == 1;
    }
    fclose(f);
    if (v->act_quant && (!v->act_input || !v->dot || v->act_input_len != (size_t)v->n * 4 ||
                         v->dot_skip < 0 || v->dot_n <= 0 || v->dot_skip + v->dot_n > v->n))
        ok = false;
    if (!ok || !v->raw || !v->dequant || v->dequant_len != (size_t)v->n * 4) {
        vecfile_free(v);
        return false;
    }
    return true;
}

/* The GGML type id drux computes with whose name is name, or -1. */
static int type_by_name(const char *name)
{
    for (int t = 0; t < QT_COUNT; t++) {
        quant_traits tr;
        if (quant_get_level((uint32_t)t, QL_SCALAR, &tr) && !strcmp(tr.name, name))
            return t;
    }
    return -1;
}

/* |ours - GGML's dot| and the tolerance 1e-5 * sum |w_i a_i| over the dotted
 * elements, for the traits wt (weights) and at (activations) of any level.
 * False if the file has no GGML dot. */
static bool vecfile_dot_check(const vecfile *v, const quant_traits *wt, const quant_traits *at,
                              double *err, double *tol, float *ours, float *ggml)
{
    if (!v->act_quant)
        return false;
    size_t wsz = v->raw_len / (size_t)v->n, asz = v->act_quant_len / (size_t)v->n;
    float *ad = malloc((size_t)v->n * sizeof(float));
    at->to_float(v->act_quant, ad, v->n);
    double mag = 0;
    for (long i = v->dot_skip; i < v->dot_skip + v->dot_n; i++) {
        float w;
        memcpy(&w, v->dequant + 4 * i, 4);
        mag += fabs((double)w * ad[i]);
    }
    free(ad);
    wt->vec_dot((int)v->dot_n, ours, v->raw + (size_t)v->dot_skip * wsz,
                v->act_quant + (size_t)v->dot_skip * asz);
    memcpy(ggml, v->dot, 4);
    *err = fabs((double)*ours - *ggml);
    *tol = 1e-5 * mag + 1e-30;
    return true;
}

#endif
