/*
 * test_rand.h — reproducible random data for kernel tests (xorshift64).
 *
 *     test_rng_seed(0x9e3779b97f4a7c15ull);   // once, at the start of main
 *     fill_random(x, 4096);                   // Gaussian, a scale per 32-block
 *     float u = rnd_signed();                 // uniform in [-1, 1)
 */
#ifndef DX_TEST_RAND_H
#define DX_TEST_RAND_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline void test_rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

static inline uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static inline float rnd_unit(void)
{
    return (float)(rnd() & 0xffffff) / 16777216.0f;
}

/* Uniform in [-1, 1), from the top 24 bits of the next state. */
static inline float rnd_signed(void)
{
    (void)rnd();
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static inline float rnd_normal(void)
{
    float u = rnd_unit() + 1e-7f, v = rnd_unit();
    return sqrtf(-2.f * logf(u)) * cosf(6.2831853f * v);
}

/* Gaussian data, each run of 32 with its own scale between e^-4 and e^2. */
static inline void fill_random(float *x, int n)
{
    float scale = 1.f;
    for (int i = 0; i < n; i++) {
        if (i % 32 == 0)
            scale = expf(-4.f + 6.f * rnd_unit());
        x[i] = rnd_normal() * scale;
    }
}

#endif
