/*
 * bench_batch — what one forward step of several sessions costs against as
 * many separate one-token decodes, in CPU time.
 *
 *     build/release/bench/bench_batch [MODEL.gguf ...]
 *
 * With no model given, the default local models (SmolLM2, Gemma 3 270M in
 * $DRUX_HOME/models or ~/.local/share/drux/models) that are present. For
 * n = 1..4 sessions at position 8: one eng_batch_decode of n tokens against
 * n eng_session_decode calls of one token each (with logits), interleaved,
 * 30 times; the minimum of each. Times are the process's CPU time, so run it
 * with DRUX_THREADS=1 for figures a busy machine disturbs least (the thread
 * pool's spinning workers count otherwise). Not a test; drux bench
 * --sessions measures the same end to end, with threads and the batcher.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/model.h"

#define NS 4
#define REPS 30

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench_one(const char *path)
{
    eng_model *m;
    if (eng_model_open(path, &m)) {
        fprintf(stderr, "bench_batch: %s\n", dx_errmsg());
        return 1;
    }
    eng_session *s[NS] = {0};
    int32_t ids[8];
    const int nv = eng_model_hparams(m)->n_vocab;
    for (int i = 0; i < 8; i++)
        ids[i] = (int32_t)((300 + i * 17) % nv);
    int rc = 1;
    for (int i = 0; i < NS; i++)
        if (eng_session_new(m, &(eng_options){.n_ctx = 64}, &s[i]) ||
            eng_session_decode(s[i], ids, 8, NULL)) {
            fprintf(stderr, "bench_batch: %s\n", dx_errmsg());
            goto out;
        }
    double bat[NS + 1], sep[NS + 1];
    for (int n = 0; n <= NS; n++)
        bat[n] = sep[n] = 1e9;
    for (int r = 0; r < REPS; r++)
        for (int n = 1; n <= NS; n++) {
            const float *lg;
            for (int i = 0; i < NS; i++)
                eng_session_truncate(s[i], 8);
            double t0 = cpu_now();
            for (int i = 0; i < n; i++)
                eng_session_decode(s[i], ids, 1, &lg);
            double d = cpu_now() - t0;
            if (d < sep[n])
                sep[n] = d;
            for (int i = 0; i < NS; i++)
                eng_session_truncate(s[i], 8);
            t0 = cpu_now();
            eng_batch_decode(s, ids, n);
            d = cpu_now() - t0;
            if (d < bat[n])
                bat[n] = d;
        }
    printf("%s\n", path);
    for (int n = 1; n <= NS; n++)
        printf("  %d sessions: one step %7.2f ms, %d separate decodes %7.2f ms: %.2fx\n", n,
               bat[n] * 1e3, n, sep[n] * 1e3, sep[n] / bat[n]);
    rc = 0;
out:
    for (int i = 0; i < NS; i++)
        eng_session_free(s[i]);
    eng_model_close(m);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, given = 0;
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(argv[i]);
        if (l > 5 && !strcmp(argv[i] + l - 5, ".gguf")) {
            given++;
            rc |= bench_one(argv[i]);
        }
    }
    if (given)
        return rc;
    const char *home = getenv("DRUX_HOME"), *h = getenv("HOME");
    char dir[512];
    if (home && *home)
        snprintf(dir, sizeof dir, "%s/models", home);
    else
        snprintf(dir, sizeof dir, "%s/.local/share/drux/models", h ? h : ".");
    static const char *const defaults[] = {"SmolLM2-135M-Instruct.Q4_1.gguf",
                                           "gemma-3-270m-q4_k_m.gguf"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, defaults[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("bench_batch: %s not found, skipped\n", path);
            continue;
        }
        fclose(f);
        rc |= bench_one(path);
    }
    return rc;
}
