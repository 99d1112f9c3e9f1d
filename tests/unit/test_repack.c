/*
 * test_repack — the interleaved Q4_0, Q5_0, Q8_0 and Q2_K to Q6_K layouts and their kernels
 * held to the formats' scalar vec_dot, on random matrices whose row counts are and are not
 * multiples of the 16-row group, with odd and even block counts, for every
 * token count a kernel call takes (1 to 8).
 *
 * Tolerance: the scalar kernel does the same sums in the same order as
 * vec_dot, so it must agree exactly; the SIMD ones take d_w * d_a times the
 * block sum with one fused multiply-add, so within 2e-5 of sum |w_i * a_i|.
 * The K-quant kernels (Q2_K to Q6_K) round as vec_dot does, step by step, so they
 * must agree exactly at every level.
 * A whole model (qwen2-tiny in Q4_0 and Q6_K, whose output is tok_embd, and llama-tiny
 * in Q8_0, Q4_K_M, Q5_K_M, Q3_K_S and Q2_K, with a 300-token vocabulary, so the output matrix ends
 * in a part group) must give the same logits, within MODEL_LOGIT_ABS, and the same greedy tokens
 * repacked as in the file's layout; the K-quant mixes at every SIMD level the CPU runs (AVX2 as
 * well as AVX-512), and Q3_K_M there too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/repack.h"
#include "test.h"
#include "test_models.h"
#include "test_rand.h"

/* rows x cols of a format from random floats, and their dequantized values. */
static uint8_t *random_rows(uint32_t type, int rows, int cols, float *deq)
{
    quant_traits q4;
    if (!quant_get_level(type, QL_SCALAR, &q4))
        return NULL;
    size_t rb;
    gguf_type_row_size(type, cols, &rb);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)cols);
    if (!w || !f) {
        free(w);
        free(f);
        return NULL;
    }
    for (int r = 0; r < rows; r++) {
        fill_random(f, cols);
        q4.from_float(f, w + (size_t)r * rb, cols);
        q4.to_float(w + (size_t)r * rb, deq + (size_t)r * cols, cols);
    }
    free(f);
    return w;
}

TEST(act_quantize_is_q8_0_with_sums)
{
    float x[96];
    fill_random(x, 96);
    x[5] = 0; /* a block of zeros too */
    memset(x + 64, 0, 32 * sizeof(float));
    block_q8_0 q[3];
    rp_act_block a[3];
    CHECK_EQ_INT(rp_act_row_bytes(96), sizeof a);
    quant_get(QT_Q8_0)->from_float(x, q, 96);
    rp_act_quantize(x, 96, a);
    for (int b = 0; b < 3; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            CHECK_EQ_INT(a[b].qs[j], q[b].qs[j]);
            sum += q[b].qs[j];
        }
        CHECK(a[b].d == dx_f16_to_f32(q[b].d));
        CHECK_EQ_INT(a[b].off, -8 * sum);
    }
}

static void check_kernels(uint32_t type)
{
    const bool kq = rp_kquant(type); /* Q8_K activations, 256-column super-blocks */
    quant_traits q4, q8;
    CHECK(quant_get_level(type, QL_SCALAR, &q4) &&
          quant_get_level(kq ? QT_Q8_K : QT_Q8_0, QL_SCALAR, &q8));
    CHECK(rp_supports(type));
    const int shapes_32[][2] = {{16, 32}, {5, 96}, {37, 224}, {48, 256}, {33, 896}, {16, 4864}};
    const int shapes_256[][2] = {{16, 256}, {5, 512},   {37, 1536},
                                 {48, 256}, {33, 2304}, {16, 8960}};
    const int(*shapes)[2] = kq ? shapes_256 : shapes_32;
    int levels = 0;
    for (int lvl = QL_SCALAR; lvl < QL_COUNT; lvl++) {
        rp_tile_fn tile = rp_tile_level(type, lvl);
        if (!tile)
            continue;
        levels++;
        for (size_t s = 0; s < sizeof shapes_32 / sizeof shapes_32[0]; s++) {
            const int rows = shapes[s][0], cols = shapes[s][1], nb = cols / 32;
            const int ntok =
                RP_MAX_TOKENS * (RP_MAX_TOKENS + 1) / 2; /* calls of 1, 2, ... 8 tokens */
            size_t rb, ab;
            gguf_type_row_size(type, cols, &rb);
            gguf_type_row_size(kq ? QT_Q8_K : QT_Q8_0, cols, &ab);
            /* a stride that is not the row */
            const size_t as = (kq ? ab : rp_act_row_bytes(cols)) + 40;
            float *deq = malloc(sizeof(float) * (size_t)(rows + ntok) * cols);
            uint8_t *w = deq ? random_rows(type, rows, cols, deq) : NULL;
            uint8_t *packed = aligned_alloc(64, rp_bytes(type, rows, cols));
            uint8_t *a8 = malloc(ab * ntok), *ar = malloc(as * ntok);
            float *x = malloc(sizeof(float) * (size_t)cols);
            CHECK(deq && w && packed && a8 && ar && x);
            rp_pack(type, w, rows, cols, packed);
            for (int r = 0; r < rows;
                 r++) { /* rows read back from the packed copy are to_float's */
                rp_row_to_float(type, packed, cols, r, x);
                CHECK_MSG(!memcmp(x, deq + (size_t)r * cols, sizeof(float) * (size_t)cols),
                          "%s %dx%d row %d read back", q4.name, rows, cols, r);
            }
            for (int t = 0; t < ntok; t++) {
                fill_random(x, cols);
                q8.from_float(x, a8 + (size_t)t * ab, cols);
                q8.to_float(a8 + (size_t)t * ab, deq + (size_t)(rows + t) * cols, cols);
                if (kq)
                    q8.from_float(x, ar + (size_t)t * as, cols);
                else
                    rp_act_quantize(x, cols, ar + (size_t)t * as);
            }
            const size_t gb = rp_group_bytes(type, cols);
            int bad = 0;
            for (int g = 0; g * RP_ROWS < rows; g++)
                for (int t0 = 0, nt = 1; t0 < ntok; t0 += nt, nt++) {
                    float out[RP_MAX_TOKENS * RP_ROWS];
                    tile(nb, packed + (size_t)g * gb, ar + (size_t)t0 * as, as, nt, out);
                    for (int t = 0; t < nt; t++)
                        for (int r = 0; r < RP_ROWS; r++) {
                            const int row = g * RP_ROWS + r;
                            const float got = out[t * RP_ROWS + r];
                            if (row >= rows) { /* padding rows are zero */
                                bad += got != 0.f;
                                continue;
                            }
                            float ref, mag = 0;
                            q4.vec_dot(cols, &ref, w + (size_t)row * rb,
                                       a8 + (size_t)(t0 + t) * ab);
                            for (int i = 0; i < cols; i++)
                                mag += fabsf(deq[(size_t)row * cols + i] *
                                             deq[(size_t)(rows + t0 + t) * cols + i]);
                            /* the K-quant kernels round as vec_dot does, step by step */
                            const float tol = lvl == QL_SCALAR || kq ? 0.f : 2e-5f * mag;
                            if (!(fabsf(got - ref) <= tol) && bad++ < 5)
                                printf("  %s level %d %dx%d row %d token %d: %g vs vec_dot %g\n",
                                       q4.name, lvl, rows, cols, row, t0 + t, got, ref);
                        }
                }
            free(deq);
            free(w);
            free(packed);
            free(a8);
            free(ar);
            free(x);
            CHECK_MSG(bad == 0, "%s level %d, %d x %d: %d results differ", q4.name, lvl, rows, cols,
                      bad);
        }
    }
    CHECK(levels >= 1);
}

TEST(q4_0_kernels_match_vec_dot)
{
    check_kernels(QT_Q4_0);
}
TEST(q5_0_kernels_match_vec_dot)
{
    check_kernels(QT_Q5_0);
}
TEST(q8_0_kernels_match_vec_dot)
{
    check_kernels(QT_Q8_0);
}
TEST(q2_K_kernels_match_vec_dot)
{
    check_kernels(QT_Q2_K);
}
TEST(q3_K_kernels_match_vec_dot)
{
    check_kernels(QT_Q3_K);
}
TEST(q4_K_kernels_match_vec_dot)
{
    check_kernels(QT_Q4_K);
}
TEST(q5_K_kernels_match_vec_dot)
{
    check_kernels(QT_Q5_K);
}
TEST(q6_K_kernels_match_vec_dot)
{
    check_kernels(QT_Q6_K);
}

/* The active kernel, if any, is one of a level this CPU runs; other formats have none. */
TEST(active_kernel_is_a_supported_level)
{
    CHECK(!rp_supports(QT_Q4_1) && !rp_tile(QT_Q4_1) && !rp_tile_level(QT_Q5_1, QL_SCALAR));
    rp_tile_fn k = rp_tile(QT_Q4_0);
    if (!k)
        SKIP("the active kernel level (%s) keeps the file's layout", quant_kernel_level());
    bool found = false;
    for (int l = QL_SCALAR; l < QL_COUNT; l++)
        found |= rp_tile_level(QT_Q4_0, l) == k;
    CHECK(found);
}

/* Prompt logits of 45 tokens (one batch: calls of 8 tokens and one of 5), then 8 steps
 * of one token: the greedy ones, or those of force when not NULL (teacher
 * forcing, so one near tie cannot derail the rest). */
static int run_model(eng_model *m, const int32_t *force, float *logits, int32_t *ids)
{
    const int nv = eng_model_hparams(m)->n_vocab;
    eng_session *s;
    if (eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 64}, &s))
        return -1;
    int32_t prompt[45];
    for (int i = 0; i < 45; i++)
        prompt[i] = (int32_t)(3 + (i * 37) % (nv - 3));
    const float *lg;
    int rc = eng_session_decode(s, prompt, 45, &lg) ? -1 : 0;
    for (int k = 0; k < 9 && !rc; k++) {
        memcpy(logits + (size_t)k * nv, lg, sizeof(float) * (size_t)nv);
        ids[k] = argmax(lg, nv);
        if (k < 8 && eng_session_decode(s, force ? &force[k] : &ids[k], 1, &lg))
            rc = -1;
    }
    eng_session_free(s);
    return rc;
}

/* The two layouts' sums differ in rounding only, but a random-weight model
 * passes that on: an activation that rounds the other way when quantized
 * moves logits by a few hundredths (as much as the file's layout moves
 * between kernel levels). A wrong row or block moves them by whole units. */
#define MODEL_LOGIT_ABS 0.25
#define MODEL_MIN_GAP 0.5

static void check_model(const char *preset, const char *type_name, uint32_t type)
{
    if (!rp_tile(type))
        SKIP("the active kernel level (%s) keeps %s in the file's layout", quant_kernel_level(),
             type_name);
    char path[256];
    if (!test_make_model(path, sizeof path, preset, type_name, 3, 300))
        SKIP("tools/make_model.py could not write a %s model (python3 with gguf and numpy needed)",
             type_name);
    eng_model *file_layout, *packed;
    setenv("DRUX_REPACK", "0", 1);
    dx_status st = eng_model_open(path, &file_layout);
    unsetenv("DRUX_REPACK");
    CHECK_MSG(st == DX_OK, "%s", dx_errmsg());
    CHECK_MSG(eng_model_open(path, &packed) == DX_OK, "%s", dx_errmsg());
    CHECK_EQ_INT(eng_model_packed_bytes(file_layout), 0);
    CHECK(eng_model_packed_bytes(packed) > 0);
    const int nv = eng_model_hparams(packed)->n_vocab;
    CHECK_EQ_INT(nv, 300);
    float *l0 = malloc(sizeof(float) * 9 * (size_t)nv),
          *l1 = malloc(sizeof(float) * 9 * (size_t)nv);
    int32_t id0[9], id1[9];
    CHECK(l0 && l1);
    CHECK(run_model(file_layout, NULL, l0, id0) == 0 && run_model(packed, id0, l1, id1) == 0);
    double worst = 0;
    int ids_checked = 0, bad_id = -1;
    for (int k = 0; k < 9; k++) {
        const float *a = l0 + (size_t)k * nv;
        float second = -INFINITY;
        for (int i = 0; i < nv; i++) {
            worst = fmax(worst, fabs((double)a[i] - l1[(size_t)k * nv + i]));
            if (i != id0[k] && a[i] > second)
                second = a[i];
        }
        if (a[id0[k]] - second >= MODEL_MIN_GAP) {
            ids_checked++;
            if (id1[k] != id0[k] && bad_id < 0)
                bad_id = k;
        }
    }
    free(l0);
    free(l1);
    eng_model_close(file_layout);
    eng_model_close(packed);
    CHECK_MSG(worst <= MODEL_LOGIT_ABS, "logits differ by up to %g", worst);
    CHECK_MSG(bad_id < 0, "step %d: greedy token %d repacked, %d in the file's layout", bad_id,
              id1[bad_id], id0[bad_id]);
    CHECK(ids_checked > 0);
    printf("  %s %s: max |logit diff| %.2g, %d greedy ids\n", preset, type_name, worst,
           ids_checked);
}

/* qwen2-tiny ties its output to tok_embd: token rows are then looked up in the packed copy */
TEST(repacked_q4_0_model_gives_the_same_logits)
{
    check_model("qwen2-tiny", "Q4_0", QT_Q4_0);
}
TEST(repacked_q8_0_model_gives_the_same_logits)
{
    check_model("llama-tiny", "Q8_0", QT_Q8_0);
}
/* gemma3-tiny ties its output too, and scales the looked-up rows */
TEST(repacked_q5_0_model_gives_the_same_logits)
{
    check_model("gemma3-tiny", "Q5_0", QT_Q5_0);
}

/* a Q4_K_M mix: Q4_K and Q6_K matrices, the output in Q6_K */
TEST(repacked_q4_K_model_gives_the_same_logits)
{
    check_model("llama-tiny", "Q4_K_M", QT_Q4_K);
}
/* a Q5_K_M mix: Q5_K and Q6_K matrices, the output in Q6_K */
TEST(repacked_q5_K_model_gives_the_same_logits)
{
    check_model("llama-tiny", "Q5_K_M", QT_Q5_K);
}
/* Q3_K_S: Q3_K matrices (tok_embd too), the output in Q6_K. (The Q3_K_M mix, with Q4_K and Q5_K
 * matrices, runs at AVX2 below: at AVX-512 the file layout's Q4_K tiles alone move its logits
 * by 0.2 from the scalar vec_dot's, which the repacked model matches to 2e-6.) */
TEST(repacked_q3_K_model_gives_the_same_logits)
{
    check_model("llama-tiny", "Q3_K_S", QT_Q3_K);
}
/* a Q2_K mix: Q2_K and Q3_K matrices, the output in Q6_K */
TEST(repacked_q2_K_model_gives_the_same_logits)
{
    check_model("llama-tiny", "Q2_K", QT_Q2_K);
}
/* qwen2-tiny's tied output in Q6_K: token rows come from the packed copy */
TEST(repacked_q6_K_model_gives_the_same_logits)
{
    check_model("qwen2-tiny", "Q6_K", QT_Q6_K);
}

/* The K-quant mixes at the SIMD levels other than the active one (AVX2 under AVX-512). The level
 * is chosen once per process, so each runs in a fresh copy of this binary (main's
 * --kquant-models) with DRUX_KERNELS set. Its exit status: 0 same logits, 1 they differ, 2 a
 * model was skipped, 3 the level was not taken. */
static int kquant_models_child(void)
{
    static const struct {
        const char *mix;
        uint32_t type;
    } mixes[] = {{"Q4_K_M", QT_Q4_K}, {"Q5_K_M", QT_Q5_K}, {"Q3_K_M", QT_Q3_K}, {"Q2_K", QT_Q2_K}};
    printf("  at %s:\n", quant_kernel_level());
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++) {
        test_cur_name = "kquant_models_child";
        test_cur_failed = test_cur_skipped = 0;
        check_model("llama-tiny", mixes[i].mix, mixes[i].type);
        if (test_cur_failed || test_cur_skipped)
            return test_cur_failed ? 1 : 2;
    }
    return strcmp(quant_kernel_level(), getenv("DRUX_KERNELS")) ? 3 : 0;
}

TEST(repacked_k_models_give_the_same_logits_at_every_level)
{
    int ran = 0;
    for (int level = QL_AVX2; level < QL_COUNT; level++) {
        if (!quant_level_supported(level) || !strcmp(quant_level_name(level), quant_kernel_level()))
            continue; /* the active level: the tests above */
        fflush(stdout);
        const pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            setenv("DRUX_KERNELS", quant_level_name(level), 1);
            execl("/proc/self/exe", "test_repack", "--kquant-models", (char *)NULL);
            _exit(4);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 5;
        if (rc == 2)
            SKIP("a K-quant model was skipped at %s (see above)", quant_level_name(level));
        CHECK_MSG(rc == 0, "K-quant models at %s: child exited %d (1: logits differ, 3: not taken)",
                  quant_level_name(level), rc);
        ran++;
    }
    if (!ran)
        SKIP("this CPU runs no SIMD level but the active one (%s)", quant_kernel_level());
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--kquant-models"))
        return kquant_models_child();
    test_rng_seed(0x51f15eedull);
    RUN(act_quantize_is_q8_0_with_sums);
    RUN(q4_0_kernels_match_vec_dot);
    RUN(q5_0_kernels_match_vec_dot);
    RUN(q8_0_kernels_match_vec_dot);
    RUN(q2_K_kernels_match_vec_dot);
    RUN(q3_K_kernels_match_vec_dot);
    RUN(q4_K_kernels_match_vec_dot);
    RUN(q5_K_kernels_match_vec_dot);
    RUN(q6_K_kernels_match_vec_dot);
    RUN(active_kernel_is_a_supported_level);
    RUN(repacked_q4_0_model_gives_the_same_logits);
    RUN(repacked_q8_0_model_gives_the_same_logits);
    RUN(repacked_q5_0_model_gives_the_same_logits);
    RUN(repacked_q4_K_model_gives_the_same_logits);
    RUN(repacked_q5_K_model_gives_the_same_logits);
    RUN(repacked_q6_K_model_gives_the_same_logits);
    RUN(repacked_q3_K_model_gives_the_same_logits);
    RUN(repacked_q2_K_model_gives_the_same_logits);
    RUN(repacked_k_models_give_the_same_logits_at_every_level);
    return test_summary();
}
