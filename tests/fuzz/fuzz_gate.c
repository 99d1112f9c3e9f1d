/* fuzz_gate — the front gate's request-head check (http_head_check), fed
 * any bytes as a client could send them. Nothing may crash; a head accepted
 * must end within the bytes given and the limits, and a refusal must carry
 * a status and a message to send. */
#include <stdint.h>
#include <string.h>

#include "server/srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_head h;
    switch (http_head_check((const char *)data, size, &h)) {
    case HTTP_HEAD_OK:
        if (h.len < 4 || h.len > size || h.len > DX_HTTP_MAX_HEADER ||
            memcmp(data + h.len - 4, "\r\n\r\n", 4) ||
            (h.has_length && h.length > DX_HTTP_MAX_BODY))
            __builtin_trap();
        break;
    case HTTP_HEAD_BAD:
        if (h.status < 400 || h.status > 505 || !h.code || !h.message[0])
            __builtin_trap();
        break;
    case HTTP_HEAD_MORE:
        if (size >= DX_HTTP_MAX_HEADER)
            __builtin_trap();
        break;
    }
    return 0;
}
