/*
 * jobs/stream — a bounded byte stream with one writer and any number of
 * followers, each reading from its own offset: a question's event log, a
 * streamed completion.
 *
 *     jobs_stream *s = jobs_stream_new(1 << 20);
 *     jobs_stream_event(s, "phase", j);          // writer
 *     size_t off = 0;                            // a follower
 *     while ((n = jobs_stream_read(s, &off, buf, sizeof buf, 1000, NULL)) >= 0) ...
 *     jobs_stream_close(s);                      // writer: no more bytes
 *     jobs_stream_unref(s);                      // each holder once
 *
 * Events are written in text/event-stream framing ("event: NAME\ndata:
 * JSON\n\n"), so a follower can pass the bytes on unchanged. Thread-safe;
 * refcounted: the writer and each follower hold one reference.
 */
#ifndef DX_JOBS_STREAM_H
#define DX_JOBS_STREAM_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/status.h"

typedef struct jobs_stream jobs_stream;

/* A new stream holding at most max bytes, one reference; NULL on OOM. */
jobs_stream *jobs_stream_new(size_t max);
void jobs_stream_ref(jobs_stream *s);
void jobs_stream_unref(jobs_stream *s); /* NULL is a no-op */
/* Append (DX_ELIMIT past max: nothing appended; DX_EARG once closed). Wakes readers. */
dx_status jobs_stream_write(jobs_stream *s, const void *p, size_t n);
/* Append the event "event: NAME\ndata: JSON\n\n" (data compact, one line). */
dx_status jobs_stream_event(jobs_stream *s, const char *name, json_t *data);
size_t jobs_stream_len(jobs_stream *s);
/* No more writes: readers end after the last byte. */
void jobs_stream_close(jobs_stream *s);
/* Wake every reader (shutdown). */
void jobs_stream_wake(jobs_stream *s);
/* Copy up to max bytes from *off into buf, waiting up to wait_ms for data.
 * Returns the count; 0 when the wait ran out (send a keep-alive); -1 at the
 * end of a closed stream or when *stop became nonzero. */
long jobs_stream_read(jobs_stream *s, size_t *off, char *buf, size_t max, int wait_ms,
                      const atomic_int *stop);

#endif
