/* fuzz_provider.h — the body shared by the upstream stream fuzz targets
 * (fuzz_sse.c for OpenAI-compatible servers, fuzz_anthropic.c, fuzz_gemini.c). Before including
 * it, a target defines DECODE(event, data, len, chunk), one streamed event through its decoder,
 * and WHOLE(data, len, chunk), a non-streamed reply. The first input byte picks where the input
 * is split into two reads; then the whole input goes through WHOLE and the error-body and header
 * helpers (message, retry hint, durations, RFC 3339 times, redaction).
 * Nothing may crash, read out of bounds or grow past the line limit. */
#ifndef DRUX_FUZZ_PROVIDER_H
#define DRUX_FUZZ_PROVIDER_H

#include <stdint.h>
#include <string.h>

#include "council/remote.h"
#include "council/sse.h"

static dx_status on_event(void *user, const char *event, const char *data, size_t len)
{
    size_t *total = user;
    if (strlen(data) > len || len > 4096)
        __builtin_trap();
    remote_chunk c;
    if (DECODE(event, data, len, &c) == DX_OK) {
        if (c.content)
            *total += c.content_len;
        if (c.content && memchr(c.content, 0, c.content_len) == NULL &&
            strlen(c.content) != c.content_len)
            __builtin_trap();
    }
    remote_chunk_clear(&c);
    return DX_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cut = data[0] % size;
    const char *s = (const char *)data + 1;
    size_t n = size - 1, total = 0;
    if (cut > n)
        cut = n;
    sse_parser p;
    sse_init(&p, 4096);
    dx_status st = sse_feed(&p, s, cut, on_event, &total);
    if (!st)
        st = sse_feed(&p, s + cut, n - cut, on_event, &total);
    if (!st)
        sse_finish(&p, on_event, &total);
    if (p.line.len > 4096 || p.data.len > 4096)
        __builtin_trap();
    sse_free(&p);
    remote_chunk c;
    WHOLE(s, n, &c);
    remote_chunk_clear(&c);
    char buf[64];
    remote_error_message(s, n, buf, sizeof buf);
    remote_error_retry_s(s, n);
    remote_duration_s(s, n < 64 ? n : 64);
    remote_rfc3339_s(s, n < 64 ? n : 64); /* Anthropic's ratelimit reset times */
    char copy[256];
    size_t k = n < sizeof copy - 1 ? n : sizeof copy - 1;
    memcpy(copy, s, k);
    copy[k] = 0;
    if (remote_redact(copy, k, "sk-fuzz-key") > k)
        __builtin_trap();
    return 0;
}

#endif
