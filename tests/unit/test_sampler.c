#include "engine/sampler.h"
#include "test.h"

static sampler *make(sampler_params p, int n)
{
    sampler *s = NULL;
    if (sampler_new(&p, n, &s))
        return NULL;
    return s;
}

TEST(greedy_takes_argmax_and_lowest_on_ties)
{
    sampler_params p = sampler_defaults();
    p.temperature = 0;
    sampler *s = make(p, 5);
    CHECK(s);
    float l[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
    CHECK_EQ_INT(sampler_sample(s, l), 1);
    sampler_free(s);
}

TEST(top_k_one_is_greedy_whatever_the_temperature)
{
    sampler_params p = sampler_defaults();
    p.temperature = 5.0f;
    p.top_k = 1;
    p.seed = 7;
    sampler *s = make(p, 4);
    CHECK(s);
    float l[4] = {1.0f, 0.5f, 1.5f, 1.4f};
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(sampler_sample(s, l), 2);
    sampler_free(s);
}

TEST(same_seed_same_draws_other_seed_differs)
{
    sampler_params p = sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    float l[16];
    for (int i = 0; i < 16; i++)
        l[i] = 0.0f; /* uniform */
    int a[64], b[64], c[64];
    p.seed = 42;
    sampler *s1 = make(p, 16), *s2 = make(p, 16);
    p.seed = 43;
    sampler *s3 = make(p, 16);
    CHECK(s1 && s2 && s3);
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        a[i] = sampler_sample(s1, l);
        b[i] = sampler_sample(s2, l);
        c[i] = sampler_sample(s3, l);
        CHECK_EQ_INT(a[i], b[i]);
        differ += a[i] != c[i];
    }
    CHECK(differ > 10);
    sampler_free(s1);
    sampler_free(s2);
    sampler_free(s3);
}

TEST(temperature_follows_the_softmax)
{
    /* logits log(0.7), log(0.2), log(0.1): draws should match those odds */
    sampler_params p = sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    p.seed = 1;
    sampler *s = make(p, 3);
    CHECK(s);
    float l[3] = {logf(0.7f), logf(0.2f), logf(0.1f)};
    int count[3] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++)
        count[sampler_sample(s, l)]++;
    CHECK_NEAR(count[0] / (double)N, 0.7, 0.02);
    CHECK_NEAR(count[1] / (double)N, 0.2, 0.02);
    CHECK_NEAR(count[2] / (double)N, 0.1, 0.02);
    sampler_free(s);
}

TEST(top_p_and_min_p_cut_the_tail)
{
    sampler_params p = sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 0.75f; /* keeps 0.7 + 0.2 */
    p.min_p = 0;
    p.seed = 3;
    sampler *s = make(p, 3);
    CHECK(s);
    float l[3] = {logf(0.7f), logf(0.2f), logf(0.1f)};
    for (int i = 0; i < 2000; i++)
        CHECK(sampler_sample(s, l) != 2);
    sampler_free(s);
    p.top_p = 1.0f;
    p.min_p = 0.25f; /* 0.2 < 0.25 * 0.7 is false: keeps 0 and 1 (0.2 >= 0.175) */
    s = make(p, 3);
    CHECK(s);
    for (int i = 0; i < 2000; i++)
        CHECK(sampler_sample(s, l) != 2);
    sampler_free(s);
}

TEST(repeat_penalty_discourages_recent_tokens)
{
    sampler_params p = sampler_defaults();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    sampler *s = make(p, 3);
    CHECK(s);
    float l[3] = {2.0f, 1.5f, -1.0f};
    CHECK_EQ_INT(sampler_sample(s, l), 0);
    sampler_accept(s, 0);
    CHECK_EQ_INT(sampler_sample(s, l), 1); /* 2.0 / 2 = 1.0 < 1.5 */
    sampler_reset(s);
    CHECK_EQ_INT(sampler_sample(s, l), 0);
    sampler_free(s);
}

int main(void)
{
    RUN(greedy_takes_argmax_and_lowest_on_ties);
    RUN(top_k_one_is_greedy_whatever_the_temperature);
    RUN(same_seed_same_draws_other_seed_differs);
    RUN(temperature_follows_the_softmax);
    RUN(top_p_and_min_p_cut_the_tail);
    RUN(repeat_penalty_discourages_recent_tokens);
    return test_summary();
}
