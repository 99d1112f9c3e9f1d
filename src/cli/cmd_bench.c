/*
 * drux bench — how fast the engine runs a model on this machine.
 *
 * Measures what bench/compare measures on llama.cpp's side, the same way:
 * pp64/pp512 (one batch of 64/512 prompt tokens from an empty context),
 * tg64 (64 single-token decodes, each the argmax of the previous logits),
 * ttft (a 64-token prompt to its first token), each the median of -r runs,
 * after a warm-up; the prompt ids are 260 + (i * 7919) % (n_vocab - 300).
 * Also the machine's memory bandwidth (a streaming read of a buffer eight
 * times the last-level cache, all threads, best of 9, in a child process so
 * it stays out of the peak RSS), the decode ceiling it
 * implies (bandwidth / bytes of weights read per token) and peak RSS.
 *
 * With --sessions N it measures sessions decoding at once instead: N threads
 * each decode tg64 in a session of their own, once each on its own (taking
 * turns on the pool) and once sharing steps through a batcher (gen/batch.h),
 * alternating for -r reps; it reports the aggregate tok/s of both and the ratio.
 *
 *     drux bench -m smollm2 -t 2
 *     drux bench -m model.gguf --json
 *     drux bench -m smollm2 --sessions 3
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "engine/model.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "gen/batch.h"
#include "hub/hub.h"

static const char bench_usage[] =
    "usage: drux bench -m MODEL [-t THREADS] [-r REPS] [--sessions N] [--json]\n"
    "\n"
    "Times the engine on MODEL (a file or a cached model name): prompt processing\n"
    "(pp64, pp512 tok/s), generation (tg64 tok/s), time to first token of a 64-token\n"
    "prompt, and peak memory; then the machine's memory bandwidth and the decode\n"
    "speed it allows for this model (every weight is read once per token).\n"
    "Each figure is the median of REPS runs (default 3). --json prints one line:\n"
    "{\"model\", \"threads\", \"pp64\", \"pp512\", \"tg64\", \"ttft_ms\", \"peak_rss_mb\",\n"
    " \"mem_bw_gbs\", \"decode_ceiling_tps\"}.\n"
    "\n"
    "--sessions N times N sessions generating at once instead (N threads, 64 tokens\n"
    "each): aggregate tok/s when each decodes on its own and when they share decode\n"
    "steps (how drux runs concurrent answers of one model), and the ratio. --json:\n"
    "{\"model\", \"threads\", \"sessions\", \"tg_separate\", \"tg_batched\", \"ratio\",\n"
    " \"mean_batch\"}.\n";

#define BENCH_MAX_REPS 50
#define BENCH_PROMPT 512

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int32_t argmax(const float *x, int n)
{
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* ---- memory bandwidth ---------------------------------------------------- */

typedef struct {
    const uint64_t *buf;
    size_t n;             /* uint64 words */
    uint64_t sink[64][8]; /* one cache line per thread */
} bw_job;

static void bw_worker(void *ctx, int ith, int nth)
{
    bw_job *j = ctx;
    int lo, hi;
    /* split in 4 KiB pages so each thread streams its own contiguous part */
    const int pages = (int)(j->n / 512);
    pool_range(pages, ith, nth, &lo, &hi);
    const uint64_t *p = j->buf + (size_t)lo * 512, *e = j->buf + (size_t)hi * 512;
    uint64_t a = 0, b = 0, c = 0, d = 0, f = 0, g = 0, h = 0, k = 0;
    for (; p < e; p += 8) {
        a += p[0];
        b += p[1];
        c += p[2];
        d += p[3];
        f += p[4];
        g += p[5];
        h += p[6];
        k += p[7];
    }
    j->sink[ith & 63][0] = a + b + c + d + f + g + h + k;
}

/* The last-level cache as sysfs tells it ("32768K"); virtual machines'
 * sysconf answers can be far off. 32 MiB if neither knows. */
static size_t llc_bytes(void)
{
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            unsigned long v = strtoul(buf, &end, 10);
            size_t b = *end == 'K' ? v << 10 : *end == 'M' ? v << 20 : v;
            if (b > best)
                best = b;
        }
        fclose(f);
    }
    if (!best) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        best = l3 > 0 ? (size_t)l3 : (size_t)32 << 20;
    }
    return best;
}

/* Best-of-N streaming read, all threads, over a buffer eight times the
 * last-level cache (256 MiB to 1 GiB), in GB/s; 0 if it cannot be measured.
 * It runs in a child process with its own pool, before this process starts
 * its threads, so that neither the buffer nor its page tables count in the
 * peak RSS reported for the model. */
static double bandwidth_in_child(void)
{
    size_t bytes = 8 * llc_bytes();
    if (bytes < ((size_t)256 << 20))
        bytes = (size_t)256 << 20;
    if (bytes > ((size_t)1 << 30))
        bytes = (size_t)1 << 30;
    pool *p = NULL;
    if (pool_new(0, &p))
        return 0;
    double best = 0;
    uint64_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bw_job *j = calloc(1, sizeof *j);
    if (buf == MAP_FAILED || !j)
        goto out;
    for (size_t i = 0; i < bytes / 8; i++)
        buf[i] = i;
    j->buf = buf;
    j->n = bytes / 8;
    for (int rep = 0; rep < 9; rep++) {
        double t0 = now_s();
        pool_run(p, bw_worker, j);
        double dt = now_s() - t0;
        double gbs = (double)(j->n / 512 * 4096) / dt / 1e9;
        if (gbs > best)
            best = gbs;
    }
out:
    free(j);
    if (buf != MAP_FAILED)
        munmap(buf, bytes);
    pool_free(p);
    return best;
}

static double measure_bandwidth(void)
{
    int fd[2];
    if (pipe(fd))
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        double v = bandwidth_in_child();
        ssize_t w = write(fd[1], &v, sizeof v);
        _exit(w == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fd[1]);
    double v = 0;
    ssize_t got;
    do
        got = read(fd[0], &v, sizeof v);
    while (got < 0 && errno == EINTR);
    close(fd[0]);
    int wst;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;
    return got == (ssize_t)sizeof v && v > 0 ? v : 0;
}

/* ---- the model runs -------------------------------------------------------- */

static dx_status run_pp(eng_session *s, const int32_t *toks, int n, double *tps)
{
    eng_session_truncate(s, 0);
    const float *logits;
    double t0 = now_s();
    dx_status st = eng_session_decode(s, toks, n, &logits);
    *tps = n / (now_s() - t0);
    return st;
}

static dx_status run_tg(eng_session *s, int32_t first, int n, int n_vocab, double *tps)
{
    eng_session_truncate(s, 0);
    int32_t tok = first;
    const float *logits;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        dx_status st = eng_session_decode(s, &tok, 1, &logits);
        if (st)
            return st;
        tok = argmax(logits, n_vocab);
    }
    *tps = n / (now_s() - t0);
    return DX_OK;
}

static dx_status run_ttft(eng_session *s, const int32_t *toks, int n_vocab, double *ms)
{
    eng_session_truncate(s, 0);
    const float *logits;
    double t0 = now_s();
    dx_status st = eng_session_decode(s, toks, 64, &logits);
    if (!st)
        (void)argmax(logits, n_vocab);
    *ms = (now_s() - t0) * 1e3;
    return st;
}

typedef struct {
    double pp64, pp512, tg64, ttft_ms, peak_rss_mb, bw_gbs, ceiling, load_ms;
    int threads;
} bench_result;

static dx_status bench_model(eng_model *m, int reps, bench_result *r)
{
    const eng_hparams *hp = eng_model_hparams(m);
    int n_ctx = hp->n_ctx_train < 1024 ? hp->n_ctx_train : 1024;
    if (n_ctx < BENCH_PROMPT + 64)
        return dx_fail(DX_EARG, "the model's context (%d) is too short for pp512", hp->n_ctx_train);
    int32_t toks[BENCH_PROMPT];
    int span = hp->n_vocab - 300 > 1 ? hp->n_vocab - 300 : 1;
    for (int i = 0; i < BENCH_PROMPT; i++)
        toks[i] = (int32_t)((260 + (int64_t)i * 7919 % span) % hp->n_vocab);
    eng_session *s;
    dx_status st = eng_session_new(m, &(eng_options){.n_ctx = n_ctx, .n_batch = BENCH_PROMPT}, &s);
    if (st)
        return st;
    double pp64[BENCH_MAX_REPS], pp512[BENCH_MAX_REPS], tg[BENCH_MAX_REPS], tt[BENCH_MAX_REPS], w;
    /* warm-up: first touch of the weights and the scratch, thread start */
    if ((st = run_pp(s, toks, 16, &w)) || (st = run_tg(s, toks[0], 4, hp->n_vocab, &w)))
        goto out;
    for (int i = 0; i < reps; i++)
        if ((st = run_pp(s, toks, 64, &pp64[i])))
            goto out;
    for (int i = 0; i < reps; i++)
        if ((st = run_pp(s, toks, 512, &pp512[i])))
            goto out;
    for (int i = 0; i < reps; i++)
        if ((st = run_tg(s, toks[0], 64, hp->n_vocab, &tg[i])))
            goto out;
    for (int i = 0; i < reps; i++)
        if ((st = run_ttft(s, toks, hp->n_vocab, &tt[i])))
            goto out;
    r->pp64 = median(pp64, reps);
    r->pp512 = median(pp512, reps);
    r->tg64 = median(tg, reps);
    r->ttft_ms = median(tt, reps);
out:
    eng_session_free(s);
    return st;
}

/* ---- several sessions at once ---------------------------------------------- */

#define BENCH_MAX_SESSIONS 32
#define BENCH_TG 64

typedef struct {
    eng_session *s;
    batcher *b;               /* NULL: decode on its own */
    pthread_barrier_t *start; /* after the prompt, before the timed part */
    int32_t prompt[16];
    int n_vocab;
    dx_status st;
    char err[256];
} sess_job;

static void *sess_run(void *arg)
{
    sess_job *j = arg;
    eng_session_truncate(j->s, 0);
    const float *logits;
    j->st = eng_session_decode(j->s, j->prompt, 16, &logits);
    if (j->b)
        batch_join(j->b);
    pthread_barrier_wait(j->start);
    for (int i = 0; i < BENCH_TG && !j->st; i++) {
        int32_t tok = argmax(logits, j->n_vocab);
        j->st = j->b ? batch_decode(j->b, j->s, tok, &logits, NULL)
                     : eng_session_decode(j->s, &tok, 1, &logits);
    }
    if (j->b)
        batch_leave(j->b);
    if (j->st)
        snprintf(j->err, sizeof j->err, "%s", dx_errmsg());
    return NULL;
}

/* One timed run of n sessions, batched or not: aggregate tok/s. */
static dx_status run_sessions(sess_job *jobs, int n, batcher *b, double *tps)
{
    pthread_t th[BENCH_MAX_SESSIONS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    int started = 0;
    dx_status st = DX_OK;
    for (; started < n; started++) {
        jobs[started].b = b;
        jobs[started].start = &start;
        if (pthread_create(&th[started], NULL, sess_run, &jobs[started]))
            break;
    }
    if (started < n) {
        /* cannot happen in practice; the barrier would never open */
        fprintf(stderr, "drux: cannot start %d threads\n", n);
        exit(1);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    *tps = (double)n * BENCH_TG / (now_s() - t0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < n && !st; i++)
        if (jobs[i].st)
            st = dx_fail(jobs[i].st, "session %d: %s", i, jobs[i].err);
    return st;
}

typedef struct {
    double separate, batched, mean_batch;
} sessions_result;

static dx_status bench_sessions(eng_model *m, int n, int reps, sessions_result *r)
{
    const eng_hparams *hp = eng_model_hparams(m);
    sess_job jobs[BENCH_MAX_SESSIONS] = {0};
    batcher *b = batcher_new();
    dx_status st = b ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
    const int span = hp->n_vocab - 300 > 1 ? hp->n_vocab - 300 : 1;
    for (int i = 0; i < n && !st; i++) {
        st = eng_session_new(m, &(eng_options){.n_ctx = 128}, &jobs[i].s);
        jobs[i].n_vocab = hp->n_vocab;
        for (int k = 0; k < 16; k++) /* a different prompt for each session */
            jobs[i].prompt[k] =
                (int32_t)((260 + (int64_t)(k + 16 * i) * 7919 % span) % hp->n_vocab);
    }
    double sep[BENCH_MAX_REPS], bat[BENCH_MAX_REPS], w;
    /* warm-up, then the two ways in turn so that a busy spell hits both alike */
    if (!st)
        st = run_sessions(jobs, n, b, &w);
    const batch_stats before = b ? batcher_stats(b) : (batch_stats){0};
    for (int i = 0; i < reps && !st; i++)
        if (!(st = run_sessions(jobs, n, NULL, &sep[i])))
            st = run_sessions(jobs, n, b, &bat[i]);
    if (!st) {
        const batch_stats after = batcher_stats(b);
        r->separate = median(sep, reps);
        r->batched = median(bat, reps);
        r->mean_batch = after.steps > before.steps ? (double)(after.tokens - before.tokens) /
                                                         (double)(after.steps - before.steps)
                                                   : 0;
    }
    for (int i = 0; i < n; i++)
        eng_session_free(jobs[i].s);
    batcher_free(b);
    return st;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int bench_sessions_cmd(const char *model, int n, int reps, bool json, int threads)
{
    char *path = NULL;
    eng_model *m = NULL;
    int rc = 1;
    sessions_result r = {0};
    if (hub_resolve_model(model, &path) || eng_model_open(path, &m)) {
        cli_error(NULL);
        goto out;
    }
    if (bench_sessions(m, n, reps, &r)) {
        cli_error(path);
        goto out;
    }
    const double ratio = r.separate > 0 ? r.batched / r.separate : 0;
    if (json) {
        printf("{\"model\": ");
        json_str(path);
        printf(", \"threads\": %d, \"sessions\": %d, \"tg_separate\": %.2f, \"tg_batched\": %.2f, "
               "\"ratio\": %.3f, \"mean_batch\": %.2f}\n",
               threads, n, r.separate, r.batched, ratio, r.mean_batch);
    } else {
        printf("model        %s\n", path);
        printf("threads      %d (kernels: %s), %d sessions at once, %d tokens each, median of %d "
               "runs\n",
               threads, quant_kernel_level(), n, BENCH_TG, reps);
        printf("separate     %8.1f tok/s in all (each session decodes on its own)\n", r.separate);
        printf("batched      %8.1f tok/s in all (shared steps, %.2f sessions per step)\n",
               r.batched, r.mean_batch);
        printf("ratio        %8.2fx\n", ratio);
    }
    rc = 0;
out:
    eng_model_close(m);
    free(path);
    return rc;
}

static void print_json(const char *path, const bench_result *r)
{
    printf("{\"model\": ");
    json_str(path);
    printf(", \"threads\": %d, \"pp64\": %.2f, \"pp512\": %.2f, \"tg64\": %.2f, \"ttft_ms\": "
           "%.2f, "
           "\"peak_rss_mb\": %.1f, ",
           r->threads, r->pp64, r->pp512, r->tg64, r->ttft_ms, r->peak_rss_mb);
    if (r->bw_gbs > 0) /* null: the probe could not run, so there is no figure */
        printf("\"mem_bw_gbs\": %.2f, \"decode_ceiling_tps\": %.2f}\n", r->bw_gbs, r->ceiling);
    else
        printf("\"mem_bw_gbs\": null, \"decode_ceiling_tps\": null}\n");
}

static void print_text(const char *path, const eng_model *m, const bench_result *r, int reps)
{
    const eng_hparams *hp = eng_model_hparams(m);
    const uint64_t wb = eng_model_weight_bytes(m);
    printf("model        %s\n", path);
    printf("             %s, %d layers, %d-dim, vocab %d, %.1f MiB of weights read per token\n",
           hp->arch_name, hp->n_layer, hp->n_embd, hp->n_vocab, (double)wb / (1 << 20));
    printf("threads      %d (kernels: %s), median of %d runs, load %.0f ms\n", r->threads,
           quant_kernel_level(), reps, r->load_ms);
    printf("pp64         %8.1f tok/s\n", r->pp64);
    printf("pp512        %8.1f tok/s\n", r->pp512);
    printf("tg64         %8.1f tok/s\n", r->tg64);
    printf("ttft         %8.1f ms (64-token prompt)\n", r->ttft_ms);
    printf("peak RSS     %8.1f MB\n", r->peak_rss_mb);
    if (r->bw_gbs > 0) {
        printf("memory bw    %8.2f GB/s (streaming read, %d threads, best of 9)\n", r->bw_gbs,
               r->threads);
        printf("decode ceil  %8.1f tok/s (bandwidth / weight bytes); tg64 is %.0f%% of it\n",
               r->ceiling, 100.0 * r->tg64 / r->ceiling);
    } else {
        puts("memory bw    unknown (the probe could not get its buffer or a process to run in)");
        puts("decode ceil  unknown");
    }
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 0, reps = 3, sessions = 0;
    bool json = false;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(bench_usage, stdout);
            return 0;
        }
        if (args_str(&a, "-m", "--model", &model))
            continue;
        if (args_int(&a, "-t", "--threads", 1, 256, &threads))
            continue;
        if (args_int(&a, "-r", "--reps", 1, BENCH_MAX_REPS, &reps))
            continue;
        if (args_int(&a, NULL, "--sessions", 1, BENCH_MAX_SESSIONS, &sessions))
            continue;
        if (args_flag(&a, NULL, "--json")) {
            json = true;
            continue;
        }
        return args_unknown(&a, bench_usage);
    }
    if (a.error)
        return 2;
    if (!model) {
        fputs(bench_usage, stderr);
        return 2;
    }
    if (threads > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", threads);
        setenv("DRUX_THREADS", buf, 1);
    }
    /* Bandwidth first, in a child process, before this one has threads
     * (--sessions reports no ceiling, so it skips the probe). */
    const double bw = sessions > 0 ? 0 : measure_bandwidth();
    pool *p = pool_global();
    if (!p)
        return cli_error("starting the thread pool");

    int rc = 1;
    char *path = NULL;
    eng_model *m = NULL;
    bench_result r = {.threads = pool_threads(p)};
    if (sessions > 0) {
        rc = bench_sessions_cmd(model, sessions, reps, json, r.threads);
        goto out;
    }
    r.bw_gbs = bw;
    if (hub_resolve_model(model, &path)) {
        cli_error(NULL);
        goto out;
    }
    double t0 = now_s();
    if (eng_model_open(path, &m)) {
        cli_error(NULL);
        goto out;
    }
    r.load_ms = (now_s() - t0) * 1e3;
    if (bench_model(m, reps, &r)) {
        cli_error(path);
        goto out;
    }
    r.peak_rss_mb = peak_rss_mb();
    const uint64_t wb = eng_model_weight_bytes(m);
    r.ceiling = wb ? r.bw_gbs * 1e9 / (double)wb : 0;
    if (json)
        print_json(path, &r);
    else
        print_text(path, m, &r, reps);
    rc = 0;
out:
    eng_model_close(m);
    free(path);
    return rc;
}
