/*
 * fuzz_quant — every kernel of every level over arbitrary bytes: weight
 * blocks with any bit pattern (inf/nan/huge scales included) and arbitrary
 * activation floats. Nothing here may crash or trip the sanitizers; results
 * are not compared (with arbitrary scales the float sums may overflow).
 *
 * Input: byte 0 picks the format, then the weight blocks, then the floats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

static const uint32_t types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0, QT_Q4_1,
                                 QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_Q2_K,
                                 QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_Q8_K};

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t t = types[data[0] % (sizeof types / sizeof types[0])];
    data++;
    size--;
    quant_traits wt;
    if (!quant_get_level(t, QL_SCALAR, &wt))
        return 0;
    size_t per_block = wt.type_size + (size_t)wt.block_size * sizeof(float);
    size_t nb = size / per_block, max_blocks = wt.block_size == 1 ? 64 : 4;
    if (nb > max_blocks)
        nb = max_blocks;
    if (!nb)
        return 0;
    int n = (int)nb * wt.block_size;
    size_t wbytes = nb * wt.type_size;
    uint8_t *w = malloc(wbytes), *q = malloc(nb * 300 + 64), *aq = malloc(nb * 300 + 64);
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    memcpy(w, data, wbytes);
    memcpy(x, data + wbytes, (size_t)n * sizeof(float));
    wt.to_float(w, y, n);
    for (int lvl = 0; lvl < QL_COUNT; lvl++) {
        quant_traits tr, at;
        if (!quant_get_level(t, lvl, &tr))
            continue;
        if (tr.from_float)
            tr.from_float(x, q, n); /* quantizers on any floats, nan and inf included */
        if (tr.vec_dot && quant_get_level(tr.vec_dot_type, lvl, &at)) {
            float s = 0;
            at.from_float(x, aq, n);
            tr.vec_dot(n, &s, w, aq);
            sink = s;
        }
    }
    sink = y[0];
    free(w);
    free(q);
    free(aq);
    free(x);
    free(y);
    return 0;
}
