/*
 * sampler — choosing the next token from logits.
 *
 * The chain, in llama.cpp's default order: repetition penalty over the last
 * penalty_last_n tokens, top-k, top-p, min-p, temperature, then a draw from
 * the remaining distribution. temperature <= 0 means greedy (argmax, ties to
 * the lowest id). A seed makes a run reproducible; all buffers are allocated
 * by sampler_new, so sampling allocates nothing.
 *
 *     sampler *sp;
 *     sampler_new(&(sampler_params){.temperature = 0.7f, .top_k = 40, .seed = 1}, n_vocab, &sp);
 *     int32_t id = sampler_sample(sp, logits);
 *     sampler_accept(sp, id);
 *     sampler_free(sp);
 */
#ifndef DX_SAMPLER_H
#define DX_SAMPLER_H

#include <stdint.h>

#include "core/status.h"

typedef struct sampler_params {
    float temperature;    /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1 or <= 0: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1 or <= 0: off */
    int penalty_last_n;   /* tokens looked back for the penalty; 0 = 64 */
    uint64_t seed;
} sampler_params;

typedef struct sampler sampler;

/* Defaults a user would expect from a model runner: temperature 0.8, top-k 40,
 * top-p 0.95, min-p 0.05, repeat penalty 1.0 (off), seed 0. */
sampler_params sampler_defaults(void);

dx_status sampler_new(const sampler_params *p, int n_vocab, sampler **out);
void sampler_free(sampler *s);
/* Pick a token from n_vocab logits (not modified). */
int32_t sampler_sample(sampler *s, const float *logits);
/* Record a token (prompt or generated) for the repetition penalty. */
void sampler_accept(sampler *s, int32_t id);
void sampler_reset(sampler *s); /* forget history; keeps the random state */

#endif
