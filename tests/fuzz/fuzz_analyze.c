/*
 * fuzz_analyze — the analyze input parser, the markdown splitter and the
 * whole analysis on arbitrary bytes. Input that parses as JSON is analysed;
 * the raw bytes are also split and featurised as one markdown answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena a = arena_make(64 << 10, 256 << 20);
    cns_input in;
    if (cns_input_parse((const char *)data, size, &a, &in) == DX_OK) {
        cns_synth_options so = {.answer = true};
        cns_result *r = NULL;
        if (cns_analyze(&in, NULL, &a, &r) == DX_OK) {
            /* every analysis keeps its invariants (docs/consensus.md, section 8) */
            if (cns_check(r))
                abort();
        }
        if (r && cns_synthesize(r, &so, &a) == DX_OK) {
            /* a result always serialises: every string in it is valid UTF-8 */
            char *js = cns_to_json_string(r, false);
            if (!js)
                abort();
            free(js);
            dx_buf b = dx_buf_make(0);
            cns_to_text(r, &b);
            dx_buf_free(&b);
        }
    }
    arena_reset(&a);
    cns_span *sp;
    size_t n;
    if (cns_markdown_split((const char *)data, size, &a, &sp, &n) == DX_OK) {
        cns_features f;
        for (size_t i = 0; i < n; i++)
            cns_text_features(sp[i].text, &a, &f);
    }
    arena_free(&a);
    return 0;
}
