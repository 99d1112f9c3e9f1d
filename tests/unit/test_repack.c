/*
 * test_repack — the interleaved Q4_0 layout and its kernels held to Q4_0's
 * scalar vec_dot, on random matrices whose row counts are and are not
 * multiples of the 16-row group, with odd and even block counts, for every
 * token count a kernel call takes.
 *
 * Tolerance: the scalar kernel does the same sums in the same order as
 * vec_dot, so it must agree exactly; the SIMD ones take d_w * d_a times the
 * block sum with one fused multiply-add, so within 2e-5 of sum |w_i * a_i|.
 * A whole model (llama-tiny in Q4_0 with a 300-token vocabulary, so its
 * output matrix ends in a part group) must give the same logits, within
 * 1e-3, and the same greedy tokens repacked as in the file's layout.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/repack.h"
#include "test.h"
#include "test_models.h"
#include "test_rand.h"

/* rows x cols of Q4_0 from random floats, and their dequantized values. */
static uint8_t *random_q4_0(int rows, int cols, float *deq)
{
    quant_traits q4;
    if (!quant_get_level(QT_Q4_0, QL_SCALAR, &q4))
        return NULL;
    size_t rb;
    quant_row_size(QT_Q4_0, cols, &rb);
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

TEST(kernels_match_q4_0_vec_dot)
{
    quant_traits q4, q8;
    CHECK(quant_get_level(QT_Q4_0, QL_SCALAR, &q4) && quant_get_level(QT_Q8_0, QL_SCALAR, &q8));
    const int shapes[][2] = {{16, 32}, {5, 96}, {37, 224}, {48, 256}, {33, 896}, {16, 4864}};
    int levels = 0;
    for (int lvl = QL_SCALAR; lvl < QL_COUNT; lvl++) {
        rp_tile_fn tile = rp_tile_level(lvl);
        if (!tile)
            continue;
        levels++;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int rows = shapes[s][0], cols = shapes[s][1], nb = cols / 32;
            const int ntok = RP_MAX_TOKENS + 3; /* a call with the most tokens, then the rest */
            size_t rb, ab;
            quant_row_size(QT_Q4_0, cols, &rb);
            quant_row_size(QT_Q8_0, cols, &ab);
            const size_t as = rp_act_row_bytes(cols) + 40; /* a stride that is not the row */
            float *deq = malloc(sizeof(float) * (size_t)(rows + ntok) * cols);
            uint8_t *w = deq ? random_q4_0(rows, cols, deq) : NULL;
            uint8_t *packed = aligned_alloc(64, rp_q4_0_bytes(rows, cols));
            uint8_t *a8 = malloc(ab * ntok), *ar = malloc(as * ntok);
            float *x = malloc(sizeof(float) * (size_t)cols);
            CHECK(deq && w && packed && a8 && ar && x);
            rp_q4_0_pack(w, rows, cols, packed);
            for (int t = 0; t < ntok; t++) {
                fill_random(x, cols);
                q8.from_float(x, a8 + (size_t)t * ab, cols);
                q8.to_float(a8 + (size_t)t * ab, deq + (size_t)(rows + t) * cols, cols);
                rp_act_quantize(x, cols, ar + (size_t)t * as);
            }
            const size_t gb = rp_group_bytes(cols);
            int bad = 0;
            for (int g = 0; g * RP_ROWS < rows; g++)
                for (int t0 = 0; t0 < ntok; t0 += RP_MAX_TOKENS) {
                    const int nt = ntok - t0 < RP_MAX_TOKENS ? ntok - t0 : RP_MAX_TOKENS;
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
                            q4.vec_dot(cols, &ref, w + (size_t)row * rb, a8 + (size_t)(t0 + t) * ab);
                            for (int i = 0; i < cols; i++)
                                mag += fabsf(deq[(size_t)row * cols + i] * deq[(size_t)(rows + t0 + t) * cols + i]);
                            const float tol = lvl == QL_SCALAR ? 0.f : 2e-5f * mag;
                            if (!(fabsf(got - ref) <= tol) && bad++ < 5)
                                printf("  level %d %dx%d row %d token %d: %g vs vec_dot %g\n", lvl, rows, cols,
                                       row, t0 + t, got, ref);
                        }
                }
            free(deq);
            free(w);
            free(packed);
            free(a8);
            free(ar);
            free(x);
            CHECK_MSG(bad == 0, "level %d, %d x %d: %d results differ", lvl, rows, cols, bad);
        }
    }
    CHECK(levels >= 1);
}

/* The active kernel, if any, is one of a level this CPU runs. */
TEST(active_kernel_is_a_supported_level)
{
    rp_tile_fn k = rp_tile();
    if (!k)
        SKIP("the active kernel level (%s) keeps the file's layout", quant_kernel_level());
    bool found = false;
    for (int l = QL_SCALAR; l < QL_COUNT; l++)
        found |= rp_tile_level(l) == k;
    CHECK(found);
}

/* A random-weight Q4_0 llama written by tools/make_model.py (kept in build/
 * for the next run), or NULL when it can't be. */
#define TINY_Q4_0 "build/test-models/llama-tiny-Q4_0-v300.gguf"
static const char *tiny_q4_0(void)
{
    if (access(TINY_Q4_0, R_OK) == 0)
        return TINY_Q4_0;
    mkdir("build", 0755);
    mkdir("build/test-models", 0755);
    char cmd[512];
    const int pid = (int)getpid();
    snprintf(cmd, sizeof cmd,
             "python3 tools/make_model.py --preset llama-tiny --type Q4_0 --seed 3 --vocab 300 -q "
             "-o %s.%d >/dev/null 2>&1 && mv %s.%d %s", TINY_Q4_0, pid, TINY_Q4_0, pid, TINY_Q4_0);
    return system(cmd) == 0 ? TINY_Q4_0 : NULL;
}

/* Prompt logits of 40 tokens (one batch: full and part tiles), then 8 greedy steps. */
static int run_model(eng_model *m, float *logits, int32_t *ids)
{
    const int nv = eng_model_hparams(m)->n_vocab;
    eng_session *s;
    if (eng_session_new(m, &(eng_options){.n_ctx = 64, .n_batch = 64}, &s))
        return -1;
    int32_t prompt[40];
    for (int i = 0; i < 40; i++)
        prompt[i] = (int32_t)(3 + (i * 37) % (nv - 3));
    const float *lg;
    int rc = eng_session_decode(s, prompt, 40, &lg) ? -1 : 0;
    for (int k = 0; k < 9 && !rc; k++) {
        memcpy(logits + (size_t)k * nv, lg, sizeof(float) * (size_t)nv);
        ids[k] = argmax(lg, nv);
        if (k < 8 && eng_session_decode(s, &ids[k], 1, &lg))
            rc = -1;
    }
    eng_session_free(s);
    return rc;
}

TEST(repacked_model_gives_the_same_logits)
{
    if (!rp_tile())
        SKIP("the active kernel level (%s) keeps the file's layout", quant_kernel_level());
    const char *path = tiny_q4_0();
    if (!path)
        SKIP("tools/make_model.py could not write a Q4_0 model (python3 with gguf and numpy needed)");
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
    float *l0 = malloc(sizeof(float) * 9 * (size_t)nv), *l1 = malloc(sizeof(float) * 9 * (size_t)nv);
    int32_t id0[9], id1[9];
    CHECK(l0 && l1);
    CHECK(run_model(file_layout, l0, id0) == 0 && run_model(packed, l1, id1) == 0);
    double worst = 0;
    for (int i = 0; i < 9 * nv; i++)
        worst = fmax(worst, fabs((double)l0[i] - l1[i]));
    for (int k = 0; k < 9; k++)
        CHECK_MSG(id0[k] == id1[k], "step %d: greedy token %d repacked, %d in the file's layout", k, id1[k], id0[k]);
    free(l0);
    free(l1);
    eng_model_close(file_layout);
    eng_model_close(packed);
    CHECK_MSG(worst <= 1e-3, "logits differ by up to %g", worst);
    printf("  max |logit diff| %.2g\n", worst);
}

int main(void)
{
    test_rng_seed(0x51f15eedull);
    RUN(act_quantize_is_q8_0_with_sums);
    RUN(kernels_match_q4_0_vec_dot);
    RUN(active_kernel_is_a_supported_level);
    RUN(repacked_model_gives_the_same_logits);
    return test_summary();
}
