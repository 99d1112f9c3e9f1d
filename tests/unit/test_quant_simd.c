/*
 * test_quant_simd — every SIMD kernel held to its scalar reference, at each
 * kernel level this CPU can run (levels it lacks are skipped), and the
 * run-time choice of level (DRUX_KERNELS).
 *
 * Tolerances: a SIMD vec_dot sums blocks in another order (and with fused
 * multiply-adds), so it must agree with the scalar kernel within 2e-5 of
 * sum |w_i * a_i| (the magnitude of the dot product's terms, from the
 * dequantized vectors). The activation quantizers must give the same bytes
 * as the scalar ones for finite inputs.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/quant.h"
#include "test.h"
#include "test_rand.h"
#include "unit/quant_vectors.h"

/* Byte offsets of the f16 scale fields in one block of each format. */
static int f16_fields(uint32_t t, int off[2])
{
    switch (t) {
    case QT_Q4_0:
    case QT_Q5_0:
    case QT_Q8_0:
        off[0] = 0;
        return 1;
    case QT_Q4_1:
    case QT_Q5_1:
    case QT_Q4_K:
    case QT_Q5_K:
        off[0] = 0;
        off[1] = 2;
        return 2;
    case QT_Q6_K:
        off[0] = 208;
        return 1;
    case QT_Q2_K:
        off[0] = 80;
        off[1] = 82;
        return 2;
    case QT_Q3_K:
        off[0] = 108;
        return 1;
    default:
        return 0;
    }
}

/* Random bytes (every bit pattern is a valid block) with sane half scales:
 * this reaches values a quantizer never makes, like -128 in Q8_0. */
static void random_row(uint32_t t, const quant_traits *tr, int n, uint8_t *q)
{
    size_t bytes = (size_t)n / (size_t)tr->block_size * tr->type_size;
    for (size_t i = 0; i < bytes; i++)
        q[i] = (uint8_t)rnd();
    int off[2], nf = f16_fields(t, off);
    if (t == QT_F16 || t == QT_BF16 || t == QT_F32) {
        float *x = malloc((size_t)n * 4);
        fill_random(x, n);
        tr->from_float(x, q, n);
        free(x);
        return;
    }
    for (int b = 0; b < n / tr->block_size; b++)
        for (int f = 0; f < nf; f++) {
            float v = (0.001f + 0.05f * rnd_unit()) * (rnd() & 1 ? 1.f : -1.f);
            dx_f16 h = dx_f32_to_f16(v);
            memcpy(q + (size_t)b * tr->type_size + off[f], &h, 2);
        }
}

static const uint32_t types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1,
                                 QT_Q8_0, QT_Q2_K, QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K};
#define N_TYPES (sizeof types / sizeof types[0])

static void check_vec_dots(int level)
{
    if (!quant_level_supported(level))
        SKIP("this CPU can't run %s kernels", quant_level_name(level));
    const int ns[] = {1, 7, 32, 64, 96, 256, 512, 1000, 2048, 4096};
    enum { MAXN = 4096 };
    float *x = malloc(MAXN * 4), *a = malloc(MAXN * 4), *xd = malloc(MAXN * 4),
          *ad = malloc(MAXN * 4);
    uint8_t *wq = malloc(MAXN * 4 + 1024), *aq = malloc(MAXN * 4 + 1024);
    int compared = 0;
    for (size_t k = 0; k < N_TYPES; k++) {
        quant_traits ref, lvl, act;
        CHECK(quant_get_level(types[k], QL_SCALAR, &ref));
        CHECK(quant_get_level(types[k], level, &lvl));
        CHECK(quant_get_level(ref.vec_dot_type, QL_SCALAR, &act));
        if (lvl.vec_dot == ref.vec_dot)
            continue;
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int n = ns[ni];
            if (n % ref.block_size)
                continue;
            for (int rep = 0; rep < 4; rep++) {
                if (rep % 2 == 0 && ref.from_float) {
                    fill_random(x, n);
                    ref.from_float(x, wq, n);
                } else {
                    random_row(types[k], &ref, n, wq);
                }
                fill_random(a, n);
                if (rep == 3) /* extremes: the largest activations of both signs */
                    for (int i = 0; i < n; i++)
                        a[i] = (i % 3 == 0) ? -1.f : 1.f;
                act.from_float(a, aq, n);
                ref.to_float(wq, xd, n);
                act.to_float(aq, ad, n);
                double mag = 0;
                for (int i = 0; i < n; i++)
                    mag += fabs((double)xd[i] * ad[i]);
                float want = NAN, got = NAN;
                ref.vec_dot(n, &want, wq, aq);
                lvl.vec_dot(n, &got, wq, aq);
                double tol = 2e-5 * mag + 1e-30;
                if (!(fabs((double)got - want) <= tol)) {
                    TEST_FAILF("%s %s n=%d rep %d: %.9g, scalar %.9g (tol %.3g)",
                               quant_level_name(level), ref.name, n, rep, got, want, tol);
                    goto out;
                }
                compared++;
            }
        }
    }
    if (!compared)
        TEST_FAILF("%s: no kernel differs from the scalar one", quant_level_name(level));
out:
    free(x);
    free(a);
    free(xd);
    free(ad);
    free(wq);
    free(aq);
}

static void check_quantizers(int level)
{
    if (!quant_level_supported(level))
        SKIP("this CPU can't run %s kernels", quant_level_name(level));
    const uint32_t acts[] = {QT_Q8_0, QT_Q8_1, QT_Q8_K, QT_F16, QT_BF16};
    enum { N = 2048 };
    float x[N];
    static uint8_t q1[N * 2], q2[N * 2];
    int compared = 0;
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        quant_traits ref, lvl;
        CHECK(quant_get_level(acts[k], QL_SCALAR, &ref));
        CHECK(quant_get_level(acts[k], level, &lvl));
        if (lvl.from_float == ref.from_float)
            continue;
        for (int rep = 0; rep < 4; rep++) {
            fill_random(x, N);
            if (rep == 1) { /* ties: block max 127 gives d = 1 (Q8_0) or iscale 1 (Q8_K) */
                for (int i = 0; i < N; i++)
                    x[i] = (float)((int)(rnd() % 254) - 127) + 0.5f * (float)(rnd() & 1);
                for (int b = 0; b < N / 32; b++)
                    x[32 * b + (rnd() % 32)] = -127.f;
            }
            if (rep == 2) { /* an all-zero block; equal magnitudes of both signs */
                memset(x, 0, 256 * sizeof x[0]);
                x[300] = 50.f;
                x[301] = -50.f;
                x[600] = -50.f;
                x[601] = 50.f;
            }
            if (rep == 3) /* tiny values: subnormal scales */
                for (int i = 0; i < N; i++)
                    x[i] *= 1e-38f;
            memset(q1, 0, sizeof q1);
            memset(q2, 0, sizeof q2);
            ref.from_float(x, q1, N);
            lvl.from_float(x, q2, N);
            size_t bytes = N / (size_t)ref.block_size * ref.type_size;
            for (size_t i = 0; i < bytes; i++)
                if (q1[i] != q2[i]) {
                    TEST_FAILF("%s %s rep %d: byte %zu (block %zu) is %02x, scalar %02x",
                               quant_level_name(level), ref.name, rep, i, i / ref.type_size, q2[i],
                               q1[i]);
                    return;
                }
            compared++;
        }
    }
    if (!compared)
        TEST_FAILF("%s: no quantizer differs from the scalar one", quant_level_name(level));
}

TEST(avx2_vec_dots_match_scalar)
{
    check_vec_dots(QL_AVX2);
}
TEST(avx512_vec_dots_match_scalar)
{
    check_vec_dots(QL_AVX512);
}
TEST(avx2_quantizers_match_scalar)
{
    check_quantizers(QL_AVX2);
}
TEST(avx512_quantizers_match_scalar)
{
    check_quantizers(QL_AVX512);
}

/* Rows of real model tensors (tests/data/quant/real_*.txt) against random
 * activations: every level's vec_dot within the same tolerance. */
TEST(simd_matches_scalar_on_real_rows)
{
    DIR *d = opendir(VEC_DIR);
    CHECK_MSG(d, "cannot open %s", VEC_DIR);
    int seen = 0, failed = 0;
    struct dirent *e;
    while (!failed && (e = readdir(d))) {
        if (strncmp(e->d_name, "real_", 5))
            continue;
        char path[512];
        snprintf(path, sizeof path, VEC_DIR "/%s", e->d_name);
        vecfile v;
        if (!vecfile_read(path, &v)) {
            TEST_FAILF("cannot read %s", path);
            break;
        }
        int t = type_by_name(v.type);
        quant_traits ref, act;
        if (t < 0 || !quant_get_level((uint32_t)t, QL_SCALAR, &ref) ||
            !quant_get_level(ref.vec_dot_type, QL_SCALAR, &act)) {
            TEST_FAILF("%s: unknown type %s", e->d_name, v.type);
            vecfile_free(&v);
            break;
        }
        int n = (int)v.n;
        float *a = malloc((size_t)n * 4), *ad = malloc((size_t)n * 4);
        uint8_t *aq = malloc((size_t)n * 4 + 1024);
        fill_random(a, n);
        act.from_float(a, aq, n);
        act.to_float(aq, ad, n);
        double mag = 0;
        for (int i = 0; i < n; i++)
            mag += fabs((double)((const float *)(const void *)v.dequant)[i] * ad[i]);
        float want;
        ref.vec_dot(n, &want, v.raw, aq);
        for (int lvl = QL_SCALAR + 1; lvl < QL_COUNT && !failed; lvl++) {
            quant_traits tr;
            if (!quant_get_level((uint32_t)t, lvl, &tr))
                continue;
            float got;
            tr.vec_dot(n, &got, v.raw, aq);
            if (!(fabs((double)got - want) <= 2e-5 * mag + 1e-30)) {
                TEST_FAILF("%s %s: %.9g, scalar %.9g (tol %.3g)", e->d_name, quant_level_name(lvl),
                           got, want, 2e-5 * mag);
                failed = 1;
            }
        }
        free(a);
        free(ad);
        free(aq);
        vecfile_free(&v);
        seen++;
    }
    closedir(d);
    if (!failed && !seen)
        SKIP("no real_*.txt rows in %s", VEC_DIR);
}

/* Every level's dot products agree with GGML's CPU ones on the vectors it
 * recorded (tests/data/quant/<format>.txt), within 1e-5 of sum |w_i a_i|. */
TEST(every_level_matches_ggml_dot)
{
    static const char *const names[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                        "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    int checked = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, VEC_DIR "/%s.txt", names[k]);
        vecfile v;
        CHECK_MSG(vecfile_read(path, &v), "cannot read %s", path);
        int t = type_by_name(v.type), ta = type_by_name(v.act_type);
        for (int lvl = QL_SCALAR; lvl < QL_COUNT && v.act_quant && t >= 0 && ta >= 0; lvl++) {
            quant_traits wt, at;
            double err, tol;
            float ours, ggml;
            if (!quant_get_level((uint32_t)t, lvl, &wt) ||
                !quant_get_level((uint32_t)ta, lvl, &at) ||
                !vecfile_dot_check(&v, &wt, &at, &err, &tol, &ours, &ggml))
                continue;
            if (!(err <= tol)) {
                TEST_FAILF("%s %s: %.9g, GGML %.9g (tol %.3g)", quant_level_name(lvl), names[k],
                           ours, ggml, tol);
                vecfile_free(&v);
                return;
            }
            checked++;
        }
        vecfile_free(&v);
    }
    if (!checked)
        SKIP("the vectors have no GGML dot products (made without llama-cpp-python)");
}

/* In a child process (the level is picked once per process): with
 * DRUX_KERNELS=want, quant_kernel_level() says expect. */
static int level_in_child(const char *want, const char *expect)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (want)
            setenv("DRUX_KERNELS", want, 1);
        else
            unsetenv("DRUX_KERNELS");
        const char *got = quant_kernel_level();
        int ok = !strcmp(got, expect);
        quant_traits ref;
        /* forcing scalar really hands out the scalar kernels */
        if (!strcmp(expect, "scalar") && quant_get_level(QT_Q8_0, QL_SCALAR, &ref))
            ok = ok && quant_get(QT_Q8_0)->vec_dot == ref.vec_dot;
        if (!ok)
            printf("  DRUX_KERNELS=%s: level %s, expected %s\n", want ? want : "(unset)", got,
                   expect);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(kernel_level_is_chosen_at_run_time)
{
    int best = QL_SCALAR;
    while (best + 1 < QL_COUNT && quant_level_supported(best + 1))
        best++;
    CHECK(level_in_child(NULL, quant_level_name(best)));
    CHECK(level_in_child("scalar", "scalar"));
    CHECK(level_in_child("avx2", quant_level_name(best < QL_AVX2 ? best : QL_AVX2)));
    CHECK(level_in_child("avx512", quant_level_name(best)));
    CHECK(level_in_child("bogus", quant_level_name(best))); /* unknown names are ignored */
    CHECK(quant_level_name(QL_COUNT) == NULL);
    CHECK(!quant_level_supported(-1));
}

/* Many threads asking for kernels at once, before any choice was made, all
 * get the same table (run in a child so the choice is not made yet). */
static void *ask_traits(void *arg)
{
    const quant_traits **out = arg;
    out[0] = quant_get(QT_Q4_K);
    out[1] = quant_get(QT_Q8_K);
    return NULL;
}

TEST(first_use_from_many_threads_is_safe)
{
    pid_t pid = fork();
    if (pid == 0) {
        enum { T = 8 };
        pthread_t th[T];
        const quant_traits *got[T][2];
        for (int i = 0; i < T; i++)
            if (pthread_create(&th[i], NULL, ask_traits, got[i]))
                _exit(2);
        for (int i = 0; i < T; i++)
            pthread_join(th[i], NULL);
        int ok = 1;
        for (int i = 0; i < T; i++)
            ok = ok && got[i][0] == got[0][0] && got[i][1] == got[0][1] && got[i][0] &&
                 got[i][0]->vec_dot && got[i][1]->from_float;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* F16 and BF16 activations at every level, bit for bit with the scalar
 * conversion on the edge cases: exact ties (round to even both ways), the
 * largest values that round down and the first that overflow, halves'
 * subnormals, f32 subnormals (which BF16 keeps), infinities, signed zeros
 * and nans (made quiet). */
TEST(float_activations_round_like_scalar)
{
    enum { N = 67 }; /* past two 32-element vectors and a tail */
    const uint32_t bits[] = {
        0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f800fffu, 0x3f801000u, 0x3f803000u, 0x477fefffu,
        0x477ff000u, 0x7f7fffffu, 0x7f7f8000u, 0x33000000u, 0x33000001u, 0x337fffffu, 0x34400000u,
        0x38800000u, 0x387fe000u, 0x00000001u, 0x80400000u, 0x00008000u, 0x7f800000u, 0xff800000u,
        0x00000000u, 0x80000000u, 0x7fc00001u, 0xff812345u, 0x7f800001u, 0x42f60000u, 0x3eaaaaabu};
    float x[N];
    for (int i = 0; i < N; i++) {
        const uint32_t b = bits[i % (sizeof bits / sizeof bits[0])];
        memcpy(&x[i], &b, sizeof b);
    }
    const uint32_t types[] = {QT_F16, QT_BF16};
    for (int level = QL_AVX2; level < QL_COUNT; level++) {
        if (!quant_level_supported(level))
            continue;
        for (size_t k = 0; k < 2; k++) {
            quant_traits ref, lvl;
            CHECK(quant_get_level(types[k], QL_SCALAR, &ref) &&
                  quant_get_level(types[k], level, &lvl));
            uint16_t a[N], b[N];
            ref.from_float(x, a, N);
            lvl.from_float(x, b, N);
            for (int i = 0; i < N; i++)
                CHECK_MSG(a[i] == b[i], "%s %s: %08x gives %04x, scalar %04x",
                          quant_level_name(level), ref.name,
                          bits[i % (sizeof bits / sizeof bits[0])], b[i], a[i]);
        }
    }
}

int main(void)
{
    test_rng_seed(0x2545f4914f6cdd1dull);
    RUN(avx2_vec_dots_match_scalar);
    RUN(avx512_vec_dots_match_scalar);
    RUN(avx2_quantizers_match_scalar);
    RUN(avx512_quantizers_match_scalar);
    RUN(float_activations_round_like_scalar);
    RUN(simd_matches_scalar_on_real_rows);
    RUN(every_level_matches_ggml_dot);
    RUN(kernel_level_is_chosen_at_run_time);
    RUN(first_use_from_many_threads_is_safe);
    return test_summary();
}
