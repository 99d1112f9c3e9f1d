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
 *     drux bench -m smollm2 -t 2
 *     drux bench -m model.gguf --json
 */
#include <errno.h>
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

static const char bench_usage[] =
    "usage: drux bench -m MODEL [-t THREADS] [-r REPS] [--json]\n"
    "\n"
    "Times the engine on MODEL (a file or a cached model name): prompt processing\n"
    "(pp64, pp512 tok/s), generation (tg64 tok/s), time to first token of a 64-token\n"
    "prompt, and peak memory; then the machine's memory bandwidth and the decode\n"
    "speed it allows for this model (every weight is read once per token).\n"
    "Each figure is the median of REPS runs (default 3). --json prints one line:\n"
    "{\"model\", \"threads\", \"pp64\", \"pp512\", \"tg64\", \"ttft_ms\", \"peak_rss_mb\",\n"
    " \"mem_bw_gbs\", \"decode_ceiling_tps\"}.\n";

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

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 0, reps = 3;
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
    /* Bandwidth first, in a child process, before this one has threads. */
    const double bw = measure_bandwidth();
    pool *p = pool_global();
    if (!p)
        return cli_error("starting the thread pool");

    int rc = 1;
    char *path = NULL;
    eng_model *m = NULL;
    bench_result r = {.threads = pool_threads(p)};
    r.bw_gbs = bw;
    if (cli_resolve_model(model, &path)) {
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
    if (json) {
        printf("{\"model\": ");
        json_str(path);
        printf(", \"threads\": %d, \"pp64\": %.2f, \"pp512\": %.2f, \"tg64\": %.2f, \"ttft_ms\": %.2f, "
               "\"peak_rss_mb\": %.1f, ",
               r.threads, r.pp64, r.pp512, r.tg64, r.ttft_ms, r.peak_rss_mb);
        if (r.bw_gbs > 0) /* null: the probe could not run, so there is no figure */
            printf("\"mem_bw_gbs\": %.2f, \"decode_ceiling_tps\": %.2f}\n", r.bw_gbs, r.ceiling);
        else
            printf("\"mem_bw_gbs\": null, \"decode_ceiling_tps\": null}\n");
    } else {
        const eng_hparams *hp = eng_model_hparams(m);
        printf("model        %s\n", path);
        printf("             %s, %d layers, %d-dim, vocab %d, %.1f MiB of weights read per token\n",
               hp->arch_name, hp->n_layer, hp->n_embd, hp->n_vocab, (double)wb / (1 << 20));
        printf("threads      %d (kernels: %s), median of %d runs, load %.0f ms\n", r.threads,
               quant_kernel_level(), reps, r.load_ms);
        printf("pp64         %8.1f tok/s\n", r.pp64);
        printf("pp512        %8.1f tok/s\n", r.pp512);
        printf("tg64         %8.1f tok/s\n", r.tg64);
        printf("ttft         %8.1f ms (64-token prompt)\n", r.ttft_ms);
        printf("peak RSS     %8.1f MB\n", r.peak_rss_mb);
        if (r.bw_gbs > 0) {
            printf("memory bw    %8.2f GB/s (streaming read, %d threads, best of 9)\n", r.bw_gbs, r.threads);
            printf("decode ceil  %8.1f tok/s (bandwidth / weight bytes); tg64 is %.0f%% of it\n", r.ceiling,
                   100.0 * r.tg64 / r.ceiling);
        } else {
            puts("memory bw    unknown (the probe could not get its buffer or a process to run in)");
            puts("decode ceil  unknown");
        }
    }
    rc = 0;
out:
    eng_model_close(m);
    free(path);
    return rc;
}
