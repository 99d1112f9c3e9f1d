/*
 * remote — council members behind OpenAI-compatible chat-completions
 * endpoints, all streamed at once from one thread with libcurl's multi
 * interface.
 *
 * The fan-out hands every remote member's context to remote_run_all on one
 * thread:
 *
 *     remote_run_all(ctxs, n);   // returns when each has a final status
 *
 * Per member: POST {base_url}/chat/completions with stream=true and
 * stream_options.include_usage; the SSE stream (sse.h) feeds text into the
 * context as it arrives. Bearer key from the environment variable the
 * config names, extra headers as given. 408/429/5xx and connection failures
 * before any text are retried with exponential backoff and jitter (or the
 * server's Retry-After, if longer), never past the member's deadline and at
 * most max_attempts times. A reply that breaks the protocol (bad JSON, an
 * over-long line, a stream cut before [DONE]) fails that member alone with
 * a reason naming the problem.
 */
#ifndef DX_COUNCIL_REMOTE_H
#define DX_COUNCIL_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "council/member.h"

/* Drive the given remote members to a final status. Blocks; returns after
 * the last one ends (done, failed, timed out or stopped via its context).
 * Thread-safe with respect to other remote_run_all calls. */
void remote_run_all(member_ctx **ctxs, size_t n);

/* One decoded chat-completions chunk (or a whole non-streamed reply). The
 * strings point into `json` and live until remote_chunk_clear. */
typedef struct remote_chunk {
    void *json;          /* jansson root, owned */
    const char *content; /* text in this chunk, or NULL */
    size_t content_len;
    const char *finish_reason; /* or NULL */
    bool has_usage;
    int prompt_tokens, completion_tokens;
    const char *error; /* upstream error message, or NULL */
} remote_chunk;

/* Decode the JSON of one stream event (`whole`: a non-streamed reply, whose
 * text is in choices[0].message rather than .delta). DX_EFORMAT with a
 * message quoting the problem when it is not a chunk. out is cleared first;
 * call remote_chunk_clear after either result. */
dx_status remote_chunk_parse(const char *data, size_t len, bool whole, remote_chunk *out);
void remote_chunk_clear(remote_chunk *c);

/* The upstream message in an error body ({"error": {"message": ...}} or
 * {"error": "..."} or {"message": ...} or, failing that, the first line of
 * the body as text), written into buf; returns buf. */
const char *remote_error_message(const char *body, size_t len, char *buf, size_t cap);

#endif
