/* fuzz_config — council INI files: any bytes must parse or fail cleanly. */
#include <stdint.h>
#include <string.h>

#include "council/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    council_config *c = NULL;
    if (council_config_parse((const char *)data, size, "fuzz.ini", &c) == DX_OK) {
        /* a council that parsed is complete: every member usable */
        for (size_t i = 0; i < c->n_members; i++) {
            const member_config *m = &c->members[i];
            if (!m->name || !m->model || (m->kind == MEMBER_REMOTE && !m->base_url) ||
                m->timeout_s <= 0 || m->max_tokens < 1 || m->max_attempts < 1 ||
                m->first_byte_timeout_s > m->timeout_s)
                __builtin_trap();
            for (size_t h = 0; h < m->n_headers; h++)
                if (!strchr(m->headers[h], ':'))
                    __builtin_trap();
        }
        if (c->n_members == 0 || c->n_members > DX_MAX_MEMBERS)
            __builtin_trap();
    }
    council_config_free(c);
    return 0;
}
