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
 * Per member, in the wire format its config names (member_config.api):
 *   openai     POST {base_url}/chat/completions with stream=true and
 *              stream_options.include_usage; Bearer key; ends at [DONE]
 *   anthropic  POST {base_url}/messages with stream=true; x-api-key and
 *              anthropic-version; message_start ... message_stop events
 *   gemini     POST {base_url}/models/{model}:streamGenerateContent?alt=sse;
 *              x-goog-api-key; GenerateContentResponse chunks, the last with
 *              a finishReason
 * The SSE stream (sse.h) feeds text into the context as it arrives; extra
 * headers go as given. The key (from the environment variable the config
 * names) is never written into a member's error: an upstream message that
 * echoes it shows "[redacted]". 408/429/5xx and connection failures
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
    const char *finish_reason;            /* "stop", "length", ... or NULL */
    bool has_usage;                       /* a token count below is known */
    int prompt_tokens, completion_tokens; /* -1 when this chunk does not say */
    const char *error;                    /* upstream error message, or NULL */
    const char *error_type; /* its kind ("overloaded_error", "RESOURCE_EXHAUSTED"), or NULL */
    bool done;              /* the stream's end marker (Anthropic message_stop) */
    char *owned;            /* content joined from several parts (Gemini); freed by clear */
    char reason_buf[24];
} remote_chunk;

/* Decode the JSON of one stream event (`whole`: a non-streamed reply, whose
 * text is in choices[0].message rather than .delta). DX_EFORMAT with a
 * message quoting the problem when it is not a chunk. out is cleared first;
 * call remote_chunk_clear after either result. */
dx_status remote_chunk_parse(const char *data, size_t len, bool whole, remote_chunk *out);
void remote_chunk_clear(remote_chunk *c);

/* One Anthropic Messages stream event (`event` is the SSE event name, the
 * data's "type" wins), or with `whole` a non-streamed message. Text comes
 * from text_delta blocks, prompt tokens from message_start, completion
 * tokens and the stop reason from message_delta, `done` from message_stop,
 * `error` from an error event. ping and unknown events decode to nothing. */
dx_status remote_anthropic_parse(const char *event, const char *data, size_t len, bool whole,
                                 remote_chunk *out);

/* One Gemini GenerateContentResponse (a stream chunk and a whole reply
 * have the same shape): the text parts of candidates[0] (thoughts
 * skipped), its finishReason (STOP -> "stop", MAX_TOKENS -> "length",
 * others lower-cased), usageMetadata, an error object, or a blocked
 * prompt (promptFeedback.blockReason) as an error. */
dx_status remote_gemini_parse(const char *data, size_t len, remote_chunk *out);

/* Seconds an error body asks the client to wait (Gemini's RetryInfo
 * "retryDelay": "30s"), or 0. */
double remote_error_retry_s(const char *body, size_t len);

/* Seconds in a rate-limit reset header value: "20ms", "1s", "6m0s",
 * "1h2m3.5s" or a bare number of seconds. -1 when it is none of these. */
double remote_duration_s(const char *s, size_t n);
/* An RFC 3339 time ("2026-12-06T21:00:30Z", "...30.5+01:00") as seconds since
 * the epoch; -1 when it is not one (Anthropic's anthropic-ratelimit-*-reset). */
double remote_rfc3339_s(const char *s, size_t n);

/* Replace every occurrence of key (at least 4 bytes) in s[0..n) with
 * "[redacted]" (or asterisks, for a key shorter than that), in place;
 * returns the new length, never more than n. s stays NUL-terminated if it
 * was. */
size_t remote_redact(char *s, size_t n, const char *key);

/* The upstream message in an error body ({"error": {"message": ...}} or
 * {"error": "..."} or {"message": ...} or, failing that, the first line of
 * the body as text), written into buf; returns buf. The error's kind, when
 * the body names one (Anthropic's error.type, Gemini's error.status),
 * comes first: "overloaded_error: Overloaded". */
const char *remote_error_message(const char *body, size_t len, char *buf, size_t cap);

#endif
