#include "council/sse.h"

#include <string.h>

void sse_init(sse_parser *p, size_t max_line)
{
    memset(p, 0, sizeof *p);
    p->max = max_line;
    p->line = dx_buf_make(max_line);
    p->data = dx_buf_make(max_line);
}

void sse_reset(sse_parser *p)
{
    dx_buf_clear(&p->line);
    dx_buf_clear(&p->data);
    p->event[0] = 0;
    p->has_data = p->after_cr = p->started = false;
}

void sse_free(sse_parser *p)
{
    dx_buf_free(&p->line);
    dx_buf_free(&p->data);
}

static dx_status dispatch(sse_parser *p, sse_event_fn fn, void *user)
{
    dx_status st = DX_OK;
    if (p->has_data) {
        if (p->data.len && p->data.data[p->data.len - 1] == '\n')
            p->data.data[--p->data.len] = 0;
        p->events++;
        st = fn(user, p->event[0] ? p->event : "message", p->data.data ? p->data.data : "",
                p->data.len);
    }
    dx_buf_clear(&p->data);
    p->event[0] = 0;
    p->has_data = false;
    return st;
}

/* One complete line, without its terminator. */
static dx_status line_done(sse_parser *p, sse_event_fn fn, void *user)
{
    const char *s = p->line.data ? p->line.data : "";
    size_t n = p->line.len;
    dx_status st = DX_OK;
    if (n == 0) {
        st = dispatch(p, fn, user);
        goto out;
    }
    if (s[0] == ':') /* comment, often a keep-alive */
        goto out;
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = n - (size_t)(v - s);
    if (vlen && *v == ' ')
        v++, vlen--;
    if (flen == 4 && !memcmp(s, "data", 4)) {
        if ((st = dx_buf_append(&p->data, v, vlen)) || (st = dx_buf_putc(&p->data, '\n'))) {
            st = dx_fail(DX_ELIMIT, "event stream: one event's data is over %zu bytes", p->max);
            goto out;
        }
        p->has_data = true;
    } else if (flen == 5 && !memcmp(s, "event", 5)) {
        size_t k = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, k);
        p->event[k] = 0;
    }
    /* id, retry and unknown fields do not matter for a completion stream */
out:
    dx_buf_clear(&p->line);
    return st;
}

dx_status sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *user)
{
    size_t i = 0;
    if (!p->started && n) {
        /* a UTF-8 BOM may open the stream; it can arrive split */
        static const char bom[3] = "\xEF\xBB\xBF";
        size_t have = p->line.len;
        while (i < n && have + i < 3 && buf[i] == bom[have + i])
            i++;
        if (have + i < 3 && i == n) { /* still could be a BOM */
            dx_status st = dx_buf_append(&p->line, buf, n);
            return st;
        }
        if (have + i == 3) {
            dx_buf_clear(&p->line);
        } else {
            i = 0; /* not a BOM: what was held back is ordinary text */
        }
        p->started = true;
    }
    while (i < n) {
        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j > i && dx_buf_append(&p->line, buf + i, j - i))
            return dx_fail(DX_ELIMIT, "event stream: line longer than %zu bytes", p->max);
        if (j == n)
            break;
        p->after_cr = buf[j] == '\r';
        i = j + 1;
        dx_status st = line_done(p, fn, user);
        if (st)
            return st;
    }
    return DX_OK;
}

dx_status sse_finish(sse_parser *p, sse_event_fn fn, void *user)
{
    dx_status st = DX_OK;
    if (p->line.len)
        st = line_done(p, fn, user);
    if (!st)
        st = dispatch(p, fn, user);
    return st;
}
