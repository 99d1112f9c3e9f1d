#include "engine/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
} cand;

struct sampler {
    sampler_params p;
    int n_vocab;
    cand *c;          /* (n_vocab) */
    int32_t *history; /* ring of the last penalty_last_n tokens */
    int hist_len, hist_pos;
    uint64_t rng;
};

sampler_params sampler_defaults(void)
{
    return (sampler_params){.temperature = 0.8f,
                            .top_k = 40,
                            .top_p = 0.95f,
                            .min_p = 0.05f,
                            .repeat_penalty = 1.0f,
                            .penalty_last_n = 64,
                            .seed = 0};
}

dx_status sampler_new(const sampler_params *p, int n_vocab, sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0)
        return dx_fail(DX_EARG, "sampler: empty vocabulary");
    sampler *s = calloc(1, sizeof *s);
    if (!s)
        return dx_fail(DX_ENOMEM, "out of memory");
    s->p = *p;
    if (s->p.penalty_last_n <= 0)
        s->p.penalty_last_n = 64;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->history = malloc((size_t)s->p.penalty_last_n * sizeof *s->history);
    if (!s->c || !s->history) {
        sampler_free(s);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    s->rng = p->seed ^ 0x9E3779B97F4A7C15ull;
    *out = s;
    return DX_OK;
}

void sampler_free(sampler *s)
{
    if (!s)
        return;
    free(s->c);
    free(s->history);
    free(s);
}

void sampler_accept(sampler *s, int32_t id)
{
    s->history[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    if (s->hist_len < s->p.penalty_last_n)
        s->hist_len++;
}

void sampler_reset(sampler *s)
{
    s->hist_len = s->hist_pos = 0;
}

/* splitmix64: small, fast, and good enough for sampling */
static double rng_uniform(sampler *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Move the k largest to the front, sorted (partial selection, then sort). */
static void top_k_sort(cand *c, int n, int k)
{
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cand_desc);
        return;
    }
    /* quickselect on logits so that c[0..k) hold the k largest */
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        cand pivot = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cand_desc(&c[i], &pivot) < 0)
                i++;
            while (cand_desc(&c[j], &pivot) > 0)
                j--;
            if (i <= j) {
                cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
    qsort(c, (size_t)k, sizeof *c, cand_desc);
}

int32_t sampler_sample(sampler *s, const float *logits)
{
    const sampler_params *p = &s->p;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) {
        s->c[i].id = i;
        s->c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) {
        for (int h = 0; h < s->hist_len; h++) {
            int32_t id = s->history[h];
            if (id < 0 || id >= n)
                continue;
            cand *c = &s->c[id];
            /* each distinct token is penalised once, as llama.cpp does */
            bool seen = false;
            for (int e = 0; e < h; e++)
                if (s->history[e] == id) {
                    seen = true;
                    break;
                }
            if (seen)
                continue;
            c->logit = c->logit > 0 ? c->logit / p->repeat_penalty : c->logit * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (s->c[i].logit > s->c[best].logit)
                best = i;
        return s->c[best].id;
    }
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k_sort(s->c, n, k);
    n = k;
    /* softmax over the survivors (sorted, so c[0] is the max) */
    const float mx = s->c[0].logit;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(s->c[i].logit - mx));
    if (p->top_p > 0 && p->top_p < 1) {
        double acc = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += exp((double)(s->c[i].logit - mx)) / sum;
            if (acc >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        /* keep tokens whose probability is at least min_p times the top one */
        const float cut = mx + logf(p->min_p);
        int keep = 1;
        while (keep < n && s->c[keep].logit >= cut)
            keep++;
        n = keep;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        s->c[i].logit = (float)exp((double)(s->c[i].logit - mx) / p->temperature);
        total += s->c[i].logit;
    }
    double r = rng_uniform(s) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->c[i].logit;
        if (r < acc)
            return s->c[i].id;
    }
    return s->c[n - 1].id;
}
