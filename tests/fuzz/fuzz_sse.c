/* fuzz_sse — an upstream event stream: the first byte picks where the input
 * is split into two reads, each event's data goes through the chunk decoder
 * as remote members do. Nothing may crash or grow past the line limit. */
#include <stdint.h>
#include <string.h>

#include "council/remote.h"
#include "council/sse.h"

static dx_status on_event(void *user, const char *event, const char *data, size_t len)
{
    size_t *total = user;
    (void)event;
    if (strlen(data) > len || len > 4096)
        __builtin_trap();
    remote_chunk c;
    if (remote_chunk_parse(data, len, false, &c) == DX_OK && c.content)
        *total += c.content_len;
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
    /* and a whole reply, as a server that ignores stream=true sends */
    remote_chunk c;
    remote_chunk_parse(s, n, true, &c);
    remote_chunk_clear(&c);
    char buf[64];
    remote_error_message(s, n, buf, sizeof buf);
    return 0;
}
