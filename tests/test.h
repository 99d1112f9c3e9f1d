/*
 * test.h — the unit-test harness: one binary per tests/unit/test_*.c.
 *
 *     TEST(adds) { CHECK_EQ_INT(1 + 1, 2); }
 *     int main(void) { RUN(adds); return test_summary(); }
 *
 * Each test prints "ok NAME", "FAIL NAME: file:line: what" or
 * "skip NAME: why"; test_summary prints "N passed, N failed, N skipped" and
 * returns the exit code. A CHECK that fails ends the current test.
 */
#ifndef DX_TEST_H
#define DX_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;
static int test_cur_failed, test_cur_skipped;
static const char *test_cur_name;

#define TEST(name) static void name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        test_cur_name = #name;                                                                     \
        test_cur_failed = test_cur_skipped = 0;                                                    \
        name();                                                                                    \
        if (test_cur_skipped)                                                                      \
            test_skipped++;                                                                        \
        else if (test_cur_failed)                                                                  \
            test_failed++;                                                                         \
        else {                                                                                     \
            test_passed++;                                                                         \
            printf("ok %s\n", #name);                                                              \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#define TEST_FAILF(...)                                                                            \
    do {                                                                                           \
        printf("FAIL %s: %s:%d: ", test_cur_name, __FILE__, __LINE__);                             \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        test_cur_failed = 1;                                                                       \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            TEST_FAILF("%s", #cond);                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            TEST_FAILF(__VA_ARGS__);                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            TEST_FAILF("%s == %s (%lld vs %lld)", #a, #b, a_, b_);                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_)) {                                                        \
            TEST_FAILF("%s == %s (\"%s\" vs \"%s\")", #a, #b, a_ ? a_ : "(null)",                  \
                       b_ ? b_ : "(null)");                                                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            TEST_FAILF("%s ~= %s (%g vs %g, tol %g)", #a, #b, a_, b_, (double)(tol));              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Ends the current test as skipped, with a one-line reason. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        printf("skip %s: ", test_cur_name);                                                        \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        test_cur_skipped = 1;                                                                      \
        return;                                                                                    \
    } while (0)

static inline int test_summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

/* ../shared beside the checkout, or $DRUX_SHARED. Tests run from the repo root. */
static inline const char *test_shared_dir(void)
{
    const char *e = getenv("DRUX_SHARED");
    return e && *e ? e : "../shared";
}

/* Fills buf with "<shared>/<rel>"; returns buf, or NULL when the file is absent. */
static inline const char *test_shared_path(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", test_shared_dir(), rel);
    FILE *f = fopen(buf, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return buf;
}

#endif
