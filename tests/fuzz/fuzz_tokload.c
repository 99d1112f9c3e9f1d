/*
 * fuzz_tokload — libFuzzer target: any bytes as a GGUF file, then tok_load
 * on its tokenizer metadata, and when that succeeds, encode and decode a few
 * fixed strings and format a chat with the file's template.
 *
 * Checks: a failed load leaves no tokenizer and says why; a loaded one never
 * crashes, returns ids in range and pieces no longer than measured. Seeds in
 * tests/data/corpus/tokload/ come from tools/make_tok_corpus.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "gguf/gguf.h"
#include "tok/chat.h"
#include "tok/tok.h"

static const char *const texts[] = {
    "Hello world, it's 2024!",
    "  \n\t<|im_end|> <s>ab</s> [CLS] \xc3\xa9\xe6\x97\xa5 \xff\xfe",
    "",
    "<|endoftext|><eos>'LL 123456 \xf0\x9f\xa6\x99",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf *g = NULL;
    if (gguf_open_mem(data, size, &g))
        return 0;
    tok *t = NULL;
    if (tok_load(g, &t)) {
        if (t || !dx_errmsg()[0])
            __builtin_trap(); /* a failure leaves no tokenizer and says why */
        gguf_close(g);
        return 0;
    }
    uint32_t nv = tok_n_vocab(t);
    int32_t ids[512];
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        for (int sp = 0; sp < 2; sp++) {
            size_t n = 0;
            dx_status st = tok_encode(t, texts[k], strlen(texts[k]), true, sp, ids, 512, &n);
            if (st && st != DX_ELIMIT)
                __builtin_trap();
            for (size_t i = 0; i < n && i < 512; i++) {
                if (ids[i] < 0 || (uint32_t)ids[i] >= nv)
                    __builtin_trap();
                char buf[16];
                size_t need = tok_piece(t, ids[i], sp, NULL, 0);
                if (tok_piece(t, ids[i], sp, buf, sizeof buf) != need)
                    __builtin_trap();
            }
        }
    }
    dx_str src = {0};
    gguf_get_str(g, "tokenizer.chat_template", &src);
    chat_tmpl ct;
    chat_tmpl_detect(src, &ct);
    chat_msg m[] = {{CHAT_SYSTEM, "s"}, {CHAT_USER, "u"}, {CHAT_ASSISTANT, "a"}, {CHAT_USER, "q"}};
    dx_buf b = dx_buf_make(1 << 16);
    dx_status st = chat_format(&ct, m, 4, true, &b);
    if (st && st != DX_EUNSUPPORTED)
        __builtin_trap();
    for (const char *const *s = chat_stops(&ct); *s; s++)
        (void)tok_find(t, *s);
    dx_buf_free(&b);
    tok_free(t);
    gguf_close(g);
    return 0;
}
