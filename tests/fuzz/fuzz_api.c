/* fuzz_api — the server's request-body parsers. The first byte picks one:
 * a form field (POST /ask), a question (POST /api/v1/questions), a chat
 * completion request (POST /v1/chat/completions) or a question id. Nothing
 * may crash, and what is accepted must hold to its limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        char out[64];
        if (api_form_value(s, n, "q", out, sizeof out) == DX_OK && strlen(out) >= sizeof out)
            __builtin_trap();
        break;
    }
    case 1: {
        char *q;
        json_t *m;
        if (api_question_parse(s, n, &q, &m) == DX_OK) {
            if (strlen(q) > DX_MAX_QUESTION_BYTES || (m && json_array_size(m) > DX_MAX_MEMBERS))
                __builtin_trap();
            free(q);
            json_decref(m);
        }
        break;
    }
    case 2: {
        api_chat c;
        if (api_chat_parse(s, n, &c) == DX_OK) {
            if (!c.model || !c.last_user || c.n_messages == 0 ||
                c.n_messages > API_CHAT_MAX_MESSAGES)
                __builtin_trap();
            council_turn turns[8]; /* a conversation's earlier turns, at most 8 kept */
            size_t nt = 0;
            if (api_chat_turns(&c, turns, 8, &nt) == DX_OK)
                for (size_t i = 0; i < nt; i++)
                    if (nt > 8 || !turns[i].question || !turns[i].answer || !*turns[i].answer)
                        __builtin_trap();
            api_chat_free(&c);
        }
        break;
    }
    default:
        if (api_id_valid(s, n) && (n == 0 || n > DX_HTTP_MAX_ID))
            __builtin_trap();
        break;
    }
    return 0;
}
