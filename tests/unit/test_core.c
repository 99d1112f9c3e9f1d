#include "core/arena.h"
#include "core/status.h"
#include "core/str.h"
#include "test.h"

TEST(status_messages)
{
    CHECK(dx_fail(DX_EFORMAT, "bad %s at %d", "header", 12) == DX_EFORMAT);
    CHECK_STR(dx_errmsg(), "bad header at 12");
    dx_wrap(DX_EFORMAT, "model.gguf");
    CHECK_STR(dx_errmsg(), "model.gguf: bad header at 12");
    CHECK_STR(dx_status_str(DX_ELIMIT), "limit exceeded");
    CHECK_STR(dx_status_str((dx_status)999), "unknown status");
}

TEST(arena_respects_cap)
{
    arena a = arena_make(1024, 4096);
    char *s = arena_strdup(&a, "hello");
    CHECK_STR(s, "hello");
    CHECK(arena_alloc(&a, 3000) != NULL);
    CHECK(arena_alloc(&a, 3000) == NULL); /* would pass the 4 KiB cap */
    CHECK(arena_alloc_array(&a, (size_t)-1, 16) == NULL);
    arena_reset(&a);
    CHECK(a.used <= 4096);
    arena_free(&a);
    CHECK(a.used == 0);
}

TEST(arena_grow_keeps_elements)
{
    /* from an arena: doubles from `first`, keeps what was pushed, fails at the cap unchanged */
    arena a = arena_make(256, 12 << 10);
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 600; i++) {
        CHECK(arena_grow(&a, &v, n, &cap, sizeof *v, 4) == DX_OK);
        v[n++] = i * 3;
    }
    CHECK_EQ_INT(cap, 1024); /* 4, 8, ..., 1024 */
    int ok = 1;
    for (int i = 0; i < 600; i++)
        ok &= v[i] == i * 3;
    CHECK(ok);
    int *before = v;
    n = cap;
    CHECK(arena_grow(&a, &v, n, &cap, sizeof *v, 4) == DX_ENOMEM); /* 8 KiB more: over the cap */
    CHECK(v == before && cap == 1024);
    CHECK(strstr(dx_errmsg(), "out of memory") != NULL);
    arena_free(&a);

    /* from the heap: realloc, the caller frees */
    char *h = NULL;
    size_t hn = 0, hcap = 0;
    for (int i = 0; i < 100; i++) {
        CHECK(arena_grow(NULL, &h, hn, &hcap, 1, 16) == DX_OK);
        h[hn++] = (char)('a' + i % 26);
    }
    CHECK_EQ_INT(hcap, 128);
    CHECK(h[0] == 'a' && h[26] == 'a' && h[99] == 'a' + 99 % 26);
    CHECK(arena_grow(NULL, &h, 5, &hcap, 1, 16) == DX_OK && hcap == 128); /* room: no-op */
    free(h);
    CHECK(dx_oom("tok: merging") == DX_ENOMEM);
    CHECK_STR(dx_errmsg(), "tok: merging: out of memory");
}

TEST(buf_is_bounded)
{
    dx_buf b = dx_buf_make(16);
    CHECK(dx_buf_puts(&b, "0123456789") == DX_OK);
    CHECK(dx_buf_printf(&b, "%d", 12345) == DX_OK);
    CHECK_STR(b.data, "012345678912345");
    CHECK(dx_buf_puts(&b, "xx") == DX_ELIMIT);
    CHECK_EQ_INT(b.len, 15);
    dx_buf_free(&b);
}

TEST(buf_add_keeps_the_first_failure)
{
    dx_buf b = dx_buf_make(12);
    dx_buf_add(&b, "0123");
    dx_buf_addf(&b, "%d", 456);
    dx_buf_addn(&b, "78xyz", 2);
    CHECK(b.err == DX_OK);
    CHECK_STR(b.data, "012345678");
    dx_buf_addf(&b, "%s", "long enough to fail"); /* past max: the first failure */
    CHECK(b.err == DX_ELIMIT);
    CHECK(strstr(dx_errmsg(), "limit of 12 bytes") != NULL);
    dx_buf_add(&b, "9"); /* would fit, but the buffer has failed: nothing is added */
    dx_buf_addn(&b, "9", 1);
    CHECK(b.err == DX_ELIMIT);
    CHECK_STR(b.data, "012345678");
    CHECK(dx_buf_puts(&b, "9") == DX_OK); /* the plain calls ignore err */
    CHECK(b.err == DX_ELIMIT);
    dx_buf_clear(&b); /* forgets the failure */
    CHECK(b.err == DX_OK && b.len == 0);
    dx_buf_add(&b, "ok");
    CHECK_STR(b.data, "ok");
    dx_buf_free(&b);
}

TEST(read_file_missing)
{
    char *data;
    size_t len;
    CHECK(dx_read_file("/nonexistent/drux", 100, &data, &len) == DX_ENOTFOUND);
    CHECK(strstr(dx_errmsg(), "/nonexistent/drux") != NULL);
}

int main(void)
{
    RUN(status_messages);
    RUN(arena_respects_cap);
    RUN(arena_grow_keeps_elements);
    RUN(buf_is_bounded);
    RUN(buf_add_keeps_the_first_failure);
    RUN(read_file_missing);
    return test_summary();
}
