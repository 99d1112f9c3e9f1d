/*
 * str — sized strings and a bounded growable buffer.
 *
 * dx_str is a view: {ptr, len}, not NUL-terminated, owned by someone else.
 * dx_buf owns its bytes, keeps them NUL-terminated, and refuses to grow past
 * its `max` (DX_ELIMIT), so a buffer filled from outside input stays bounded.
 *
 *     dx_buf b = dx_buf_make(1 << 20);
 *     if (dx_buf_printf(&b, "%d tokens", n)) goto out;
 *     puts(b.data);
 *     dx_buf_free(&b);
 *
 * A document written piece by piece uses the sticky calls instead: each
 * dx_buf_add* does nothing once one of them has failed, and the first failure
 * stays in b.err (its message in dx_errmsg), checked once at the end:
 *
 *     dx_buf_add(&b, "# ");
 *     dx_buf_addf(&b, "%zu turns\n", n);
 *     if (b.err) goto out;
 */
#ifndef DX_STR_H
#define DX_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/status.h"

typedef struct dx_str {
    const char *ptr;
    size_t len;
} dx_str;

#define DX_STR(lit) ((dx_str){(lit), sizeof(lit) - 1})

static inline dx_str dx_str_c(const char *s)
{
    return (dx_str){s, s ? strlen(s) : 0};
}

static inline bool dx_str_eq(dx_str a, dx_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool dx_str_eqc(dx_str a, const char *b)
{
    return dx_str_eq(a, dx_str_c(b));
}

typedef struct dx_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len, cap, max;
    dx_status err; /* first failure of a dx_buf_add* call; DX_OK until then */
} dx_buf;

dx_buf dx_buf_make(size_t max);
dx_status dx_buf_reserve(dx_buf *b, size_t extra);
dx_status dx_buf_append(dx_buf *b, const void *p, size_t n);
dx_status dx_buf_puts(dx_buf *b, const char *s);
dx_status dx_buf_putc(dx_buf *b, char c);
dx_status dx_buf_printf(dx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sticky appends (see above): no status to check after each; b->err keeps the
 * first failure and every later dx_buf_add* is a no-op. The plain calls above
 * neither read nor set b->err. */
void dx_buf_addn(dx_buf *b, const void *p, size_t n);
void dx_buf_add(dx_buf *b, const char *s);
void dx_buf_addf(dx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void dx_buf_clear(dx_buf *b); /* len = 0 and err = DX_OK, keep memory */
/* Hand the bytes to the caller (who frees them); b becomes empty (err too). */
char *dx_buf_take(dx_buf *b);
void dx_buf_free(dx_buf *b);

/* Read a whole file into memory, NUL-terminated; fails with DX_ELIMIT past
 * max bytes. The caller frees *out. */
dx_status dx_read_file(const char *path, size_t max, char **out, size_t *len);

/* Characters (Unicode code points) in n bytes of UTF-8: the bytes that don't
 * continue a character. This function can't fail. */
size_t dx_utf8_chars(const char *s, size_t n);

#endif
