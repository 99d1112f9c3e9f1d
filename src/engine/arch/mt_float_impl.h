/*
 * mt_float_impl — the matrix kernels for unquantized weights (F32, F16,
 * BF16), written once for the AVX2 and AVX-512 files, which include this
 * after defining for their instruction set:
 *
 *     ACC              the accumulator type (__m256, __m512: STEP f32 lanes)
 *     ACC_ZERO()       a zeroed accumulator
 *     REDUCE(acc)      the sum of its lanes, a float
 *     MAX_RM           weight rows per register tile (as many as the
 *                      registers hold with four tokens)
 *     ALL_CASES(NAME)  CASES_RM(NAME, 1) ... CASES_RM(NAME, MAX_RM)
 *
 * and, per format, a vector type V, a load LD(p) of one vector's worth of
 * elements, a load LD_TAIL(p, k) of the k < that many at p (zeros after)
 * and FMA(acc, w, a). FLOAT_KERNELS(NAME, ET, STEP, V, LD, LD_TAIL, FMA, PF, KC)
 * (PF: whether decode prefetches, see PF_AHEAD; KC: the column span of
 * prompt processing, 0 for whole rows, see MB_TOKENS) then defines:
 *
 *   mb_NAME  prompt processing (ops_block_fn): the block is cut into tiles
 *            of up to MAX_RM rows by four tokens; a tile keeps its
 *            MAX_RM * 4 sums in registers over the whole row, so each
 *            weight vector is loaded once for four tokens and each
 *            activation vector once for MAX_RM rows;
 *   mr_NAME  decode (ops_rows_fn): four rows against one vector, the vector
 *            loaded once for the four rows, and the next four rows
 *            prefetched while these are read (the kernel is bound by the
 *            memory the weights stream from, so one sum per row is enough).
 *
 * Both add the products in the same order (one vector sum over the row,
 * the tail last, then its lanes), so a token's outputs are the same bits
 * whether it comes in a batch or alone.
 *
 * Everything is static, so each file gets its own copy with its own flags.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/arch/ops_arch.h"

/* Decode prefetches the rows PF_AHEAD rows on (the next call's) into L2.
 * Not non-temporal: on Intel's server cores an NTA prefetch fills L1 only,
 * and four rows of a wide matrix (4 x 19 KiB for Qwen2.5-0.5B's ffn_down in
 * F32) are more than L1 holds, so the lines were gone before their load and
 * were read from memory twice (F32 decode at 43% of the bandwidth bound on a
 * Xeon; T1 gives 90-100%, and 19-21 against 17-18 tok/s for T0 on F16). */
#ifndef PF_AHEAD
#define PF_AHEAD 4
#endif
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T1
#endif
#define AT(T, p, bytes) ((const T *)((const char *)(p) + (bytes)))

/* Prompt processing can walk the columns in spans of KC elements of each
 * weight row (KC > 0): a tile's MAX_RM rows of one span then stay in L1
 * while every token group of the call passes over them, and the sums carry
 * from span to span in `keep` (the same adds in the same order as one pass
 * over the row, so the bits do not change). Whole rows do not fit L1 for
 * wide matrices (six F32 rows of Qwen2.5-0.5B's ffn_down are 114 KiB), and a
 * tile then reads both its weights and its activations from L2. */
#define MB_TOKENS 64 /* tokens per pass of mb_ (the sums of all its token groups are kept) */

/* One tile: rows w + r * ws (r < RM) against tokens a + t * as (t < RN),
 * columns [i0, i1) of n. The sums start at zero at column 0 and from keep
 * otherwise; at column n they are reduced into y[t][r0 + r], before it they
 * go back to keep. RM and RN are constants at every call, so the loops
 * unroll and the sums live in registers. i0 and i1 - i0 (below n) are
 * multiples of STEP. */
#define FLOAT_TILE(NAME, ET, STEP, V, LD, LD_TAIL, FMA)                                            \
    static inline __attribute__((always_inline)) void tile_##NAME(                                 \
        const int RM, const int RN, int i0, int i1, int n, const ET *w, size_t ws, const ET *a,    \
        size_t as, ACC *keep, float *const *y, int r0)                                             \
    {                                                                                              \
        ACC acc[MAX_RM][4];                                                                        \
        _Pragma("GCC unroll 8") for (int r = 0; r < RM; r++)                                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) acc[r][t] =                       \
                i0 == 0 ? ACC_ZERO() : keep[4 * r + t];                                            \
        int i = i0;                                                                                \
        for (; i + STEP <= i1; i += STEP) {                                                        \
            V v[4];                                                                                \
            _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) v[t] =                            \
                LD(AT(ET, a, (size_t)t * as) + i);                                                 \
            _Pragma("GCC unroll 8") for (int r = 0; r < RM; r++)                                   \
            {                                                                                      \
                const V u = LD(AT(ET, w, (size_t)r * ws) + i);                                     \
                _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) acc[r][t] =                   \
                    FMA(acc[r][t], u, v[t]);                                                       \
            }                                                                                      \
        }                                                                                          \
        if (i1 < n) {                                                                              \
            _Pragma("GCC unroll 8") for (int r = 0; r < RM; r++)                                   \
                _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) keep[4 * r + t] = acc[r][t];  \
            return;                                                                                \
        }                                                                                          \
        if (i < n) {                                                                               \
            V v[4];                                                                                \
            _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) v[t] =                            \
                LD_TAIL(AT(ET, a, (size_t)t * as) + i, n - i);                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < RM; r++)                                   \
            {                                                                                      \
                const V u = LD_TAIL(AT(ET, w, (size_t)r * ws) + i, n - i);                         \
                _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) acc[r][t] =                   \
                    FMA(acc[r][t], u, v[t]);                                                       \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < RM; r++)                                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < RN; t++) y[t][r0 + r] = REDUCE(acc[r][t]); \
    }

#define CASE_TILE(NAME, RM, RN)                                                                    \
    case (RM)*8 + (RN):                                                                            \
        tile_##NAME(RM, RN, i0, i1, n, wr, ws, at, as, keep[(t - t0) / 4], y + t, r);              \
        break;
#define CASES_RM(NAME, RM)                                                                         \
    CASE_TILE(NAME, RM, 1) CASE_TILE(NAME, RM, 2) CASE_TILE(NAME, RM, 3) CASE_TILE(NAME, RM, 4)

#define FLOAT_KERNELS(NAME, ET, STEP, V, LD, LD_TAIL, FMA, PF, KC)                                 \
    FLOAT_TILE(NAME, ET, STEP, V, LD, LD_TAIL, FMA)                                                \
                                                                                                   \
    static void mb_##NAME(int n, const void *w, size_t ws, int rows, const void *a, size_t as,     \
                          int tokens, float *const *y)                                             \
    {                                                                                              \
        enum { SPAN = (KC) > 0 ? (KC) / STEP * STEP : 1 << 30 };                                   \
        ACC keep[MB_TOKENS / 4][MAX_RM * 4];                                                       \
        for (int t0 = 0; t0 < tokens; t0 += MB_TOKENS) {                                           \
            const int tn = tokens - t0 < MB_TOKENS ? tokens - t0 : MB_TOKENS;                      \
            for (int r = 0; r < rows; r += MAX_RM) {                                               \
                const int rm = rows - r < MAX_RM ? rows - r : MAX_RM;                              \
                const ET *wr = AT(ET, w, (size_t)r * ws);                                          \
                for (int i0 = 0; i0 < n; i0 += SPAN) {                                             \
                    const int i1 = n - i0 > SPAN ? i0 + SPAN : n;                                  \
                    for (int t = t0; t < t0 + tn; t += 4) {                                        \
                        const int rn = t0 + tn - t < 4 ? t0 + tn - t : 4;                          \
                        const ET *at = AT(ET, a, (size_t)t * as);                                  \
                        switch (rm * 8 + rn) {                                                     \
                            ALL_CASES(NAME)                                                        \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void mr_##NAME(int n, const void *w, size_t ws, const void *a, float *out)              \
    {                                                                                              \
        const ET *y = a;                                                                           \
        ACC acc[4];                                                                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] = ACC_ZERO();                   \
        int i = 0;                                                                                 \
        /* the next four rows, which follow these in memory, in address order:                     \
           as many lines per step as the step reads */                                             \
        enum {                                                                                     \
            PF_LINES = 4 * STEP * (int)sizeof(ET) / 64 > 0 ? 4 * STEP * (int)sizeof(ET) / 64 : 1   \
        };                                                                                         \
        const char *pf = (const char *)w + PF_AHEAD * ws;                                          \
        for (; i + STEP <= n; i += STEP) {                                                         \
            const V v = LD(y + i);                                                                 \
            if (PF) {                                                                              \
                _Pragma("GCC unroll 4") for (int k = 0; k < PF_LINES; k++)                         \
                    _mm_prefetch(pf + 64 * k, PF_HINT);                                            \
                pf += 64 * PF_LINES;                                                               \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] =                           \
                FMA(acc[r], LD(AT(ET, w, (size_t)r * ws) + i), v);                                 \
        }                                                                                          \
        if (i < n) {                                                                               \
            const V v = LD_TAIL(y + i, n - i);                                                     \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r] =                           \
                FMA(acc[r], LD_TAIL(AT(ET, w, (size_t)r * ws) + i, n - i), v);                     \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) out[r] = REDUCE(acc[r]);               \
    }
