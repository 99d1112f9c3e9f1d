/*
 * status — the one error type of drux.
 *
 * Every fallible function returns a dx_status; DX_OK is zero, so
 *
 *     dx_status st = gguf_open(path, &g);
 *     if (st) { fprintf(stderr, "drux: %s\n", dx_errmsg()); goto out; }
 *
 * is the whole idiom. The function that detects a problem records a one-line
 * message for a person with dx_fail(), which returns its status so it can be
 * returned directly:
 *
 *     return dx_fail(DX_EFORMAT, "gguf: tensor '%s' extends past end of file", name);
 *
 * The message lives in a thread-local buffer: it describes the most recent
 * failure on the calling thread and stays valid until the next dx_fail there.
 */
#ifndef DX_STATUS_H
#define DX_STATUS_H

typedef enum dx_status {
    DX_OK = 0,
    DX_ENOMEM,       /* allocation failed */
    DX_EIO,          /* file or socket I/O failed */
    DX_EFORMAT,      /* malformed input: file, JSON, HTTP, stream */
    DX_EARG,         /* bad argument from the caller or the user */
    DX_EUNSUPPORTED, /* well-formed but not something drux can handle */
    DX_ELIMIT,       /* input exceeds a configured limit (see limits.h) */
    DX_ENOTFOUND,    /* file, key, tensor, model, route not found */
    DX_ENET,         /* network failure or upstream error */
    DX_ETIMEOUT,     /* deadline passed */
    DX_ECANCELLED,   /* stopped on request */
    DX_EINTERNAL,    /* a bug in drux: an invariant did not hold */
    DX_EBUSY,        /* every slot and queue place is taken: try again shortly */
    DX_STATUS_COUNT
} dx_status;

/* Short fixed name of a status, e.g. "format error". Never NULL. */
const char *dx_status_str(dx_status st);

/* Record a printf-style message for st on this thread and return st.
 * Passing DX_OK clears the message. This function can't fail (long messages
 * are truncated). */
dx_status dx_fail(dx_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dx_fail(DX_ENOMEM, "WHERE: out of memory"), or "out of memory" for a NULL
 * where: the one message for a failed allocation. */
dx_status dx_oom(const char *where);

/* The message recorded by the last dx_fail on this thread, or the status
 * name of the last failure if it gave no message; "" if none. */
const char *dx_errmsg(void);

/* Prefix the current message with "prefix: " (for adding context while an
 * error travels up, e.g. the file name). Returns st. */
dx_status dx_wrap(dx_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
