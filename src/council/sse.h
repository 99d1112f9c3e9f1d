/*
 * sse — an incremental parser for server-sent events (text/event-stream),
 * as OpenAI-compatible servers stream chat completions.
 *
 * Bytes go in as they arrive, split anywhere (even inside a line or a
 * "\r\n"); each complete event comes out through a callback with its data
 * lines joined by "\n":
 *
 *     sse_parser p;
 *     sse_init(&p, DX_MAX_SSE_LINE);
 *     while ((n = read_some(buf)))
 *         if ((st = sse_feed(&p, buf, n, on_event, user))) break;
 *     if (!st) st = sse_finish(&p, on_event, user);
 *     sse_free(&p);
 *
 * A line or an event's data longer than max fails with DX_ELIMIT; the parser
 * never grows past that. After a failure the parser must not be fed again.
 * One parser per stream; not thread-safe.
 */
#ifndef DX_COUNCIL_SSE_H
#define DX_COUNCIL_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "core/str.h"

/* One event: `event` is its type ("message" when the stream gave none),
 * data/len its data (NUL-terminated). Return DX_OK to go on; any other
 * status stops sse_feed, which returns it. */
typedef dx_status (*sse_event_fn)(void *user, const char *event, const char *data, size_t len);

typedef struct sse_parser {
    dx_buf line;    /* the line being read */
    dx_buf data;    /* data lines of the event being read */
    char event[64]; /* its event type, truncated */
    bool has_data;  /* a data: line was seen since the last dispatch */
    bool after_cr;  /* the last byte was '\r': a following '\n' ends nothing */
    bool started;   /* past a possible leading BOM */
    size_t max;
    size_t events; /* events dispatched so far */
} sse_parser;

void sse_init(sse_parser *p, size_t max_line);
dx_status sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *user);
/* End of stream: an event whose closing blank line never came is still
 * dispatched (servers that end with "data: [DONE]\n" are common). */
dx_status sse_finish(sse_parser *p, sse_event_fn fn, void *user);
/* Forget partial state, keep the memory (a new attempt on the same stream). */
void sse_reset(sse_parser *p);
void sse_free(sse_parser *p);

#endif
