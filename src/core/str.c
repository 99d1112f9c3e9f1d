#include "core/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

dx_buf dx_buf_make(size_t max)
{
    return (dx_buf){NULL, 0, 0, max ? max : SIZE_MAX / 2, DX_OK};
}

dx_status dx_buf_reserve(dx_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return dx_fail(DX_ELIMIT, "buffer limit of %zu bytes exceeded", b->max);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return DX_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return DX_OK;
}

dx_status dx_buf_append(dx_buf *b, const void *p, size_t n)
{
    dx_status st = dx_buf_reserve(b, n);
    if (st)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DX_OK;
}

dx_status dx_buf_puts(dx_buf *b, const char *s)
{
    return dx_buf_append(b, s, strlen(s));
}

dx_status dx_buf_putc(dx_buf *b, char c)
{
    return dx_buf_append(b, &c, 1);
}

static dx_status buf_vprintf(dx_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    dx_status st = DX_OK;
    if (n < 0) {
        st = dx_fail(DX_EARG, "bad format string");
        goto out;
    }
    st = dx_buf_reserve(b, (size_t)n);
    if (st)
        goto out;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
out:
    va_end(ap2);
    return st;
}

dx_status dx_buf_printf(dx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dx_status st = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

void dx_buf_addn(dx_buf *b, const void *p, size_t n)
{
    if (!b->err)
        b->err = dx_buf_append(b, p, n);
}

void dx_buf_add(dx_buf *b, const char *s)
{
    dx_buf_addn(b, s, strlen(s));
}

void dx_buf_addf(dx_buf *b, const char *fmt, ...)
{
    if (b->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    b->err = buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void dx_buf_clear(dx_buf *b)
{
    b->len = 0;
    b->err = DX_OK;
    if (b->data)
        b->data[0] = '\0';
}

char *dx_buf_take(dx_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = DX_OK;
    return p;
}

void dx_buf_free(dx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = DX_OK;
}

dx_status dx_read_file(const char *path, size_t max, char **out, size_t *len)
{
    dx_status st = DX_OK;
    dx_buf b = dx_buf_make(max);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dx_fail(errno == ENOENT ? DX_ENOTFOUND : DX_EIO, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        st = dx_buf_append(&b, chunk, n);
        if (st) {
            dx_wrap(st, "%s", path);
            goto out;
        }
    }
    if (ferror(f)) {
        st = dx_fail(DX_EIO, "%s: read error", path);
        goto out;
    }
    *len = b.len;
    *out = dx_buf_take(&b);
out:
    fclose(f);
    if (st)
        dx_buf_free(&b);
    return st;
}

size_t dx_utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars;
}
