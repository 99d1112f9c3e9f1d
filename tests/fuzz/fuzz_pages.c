/* fuzz_pages — model output through the pages: the first byte picks whether
 * the rest is markdown (page_markdown), a stored question as JSON
 * (page_question, and as two turns of a thread: page_thread and the
 * Markdown export), or a member's answer and the synthesized answer inside a
 * finished question. Nothing may crash, and the HTML may hold no script,
 * style, image, event handler or link with a scheme other than http(s)/mailto
 * beyond the page's own /static/app.js. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"
#include "server/pages.h"
#include "server/srv.h"

static void check_html(const char *h)
{
    for (const char *p = h; (p = strchr(p, '<')); p++) {
        const char *t = p + 1;
        if (*t == '/')
            continue;
        size_t tn = strcspn(t, " \t\n>");
        if ((tn == 6 && !strncasecmp(t, "script", 6) &&
             strncmp(t, "script src=\"/static/app.js\" defer></script>", 43)) ||
            (tn == 5 && !strncasecmp(t, "style", 5)) || (tn == 3 && !strncasecmp(t, "img", 3)) ||
            (tn == 6 && !strncasecmp(t, "iframe", 6)) || (tn == 6 && !strncasecmp(t, "object", 6)))
            __builtin_trap();
        const char *end = strchr(t, '>');
        if (!end)
            __builtin_trap(); /* a tag the page never closes */
        for (const char *a = t + tn; a < end; a++) {
            if (*a == '"') { /* skip a quoted value */
                const char *q = memchr(a + 1, '"', (size_t)(end - a - 1));
                if (!q)
                    __builtin_trap();
                a = q;
                continue;
            }
            if ((a[-1] == ' ') && !strncasecmp(a, "on", 2))
                __builtin_trap();
            if ((a[-1] == ' ') && !strncasecmp(a, "style=", 6))
                __builtin_trap();
            if (!strncmp(a, "href=\"", 6) || !strncmp(a, "src=\"", 5) ||
                !strncmp(a, "action=\"", 8)) {
                const char *v = strchr(a, '"') + 1;
                size_t sn = strcspn(v, ":/?#\"");
                if (v[sn] == ':' && !((sn == 4 && !strncasecmp(v, "http", 4)) ||
                                      (sn == 5 && !strncasecmp(v, "https", 5)) ||
                                      (sn == 6 && !strncasecmp(v, "mailto", 6))))
                    __builtin_trap();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    int mode = data[0] % 3;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    size_t n = strlen(s); /* text reaches the pages through JSON strings: no NUL inside */
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    json_t *q = NULL;
    if (mode == 0) {
        if (page_markdown(&b, s, n) == DX_OK)
            check_html(b.data ? b.data : "");
    } else if (mode == 1) {
        q = json_loadb(s, n, 0, NULL);
        if (q && page_question(&b, q, data[0] & 4, NULL) == DX_OK)
            check_html(b.data ? b.data : "");
        /* the same question as two turns of a thread, on the page and in the Markdown export */
        json_t *turns = q ? json_pack("[O, O]", q, q) : NULL;
        dx_buf tb = dx_buf_make(DX_PAGE_MAX_BYTES), md = dx_buf_make(DX_PAGE_MAX_BYTES);
        if (turns && page_thread(&tb, turns, false, "t") == DX_OK)
            check_html(tb.data ? tb.data : "");
        json_t *thread = turns ? json_pack("{s:s, s:O}", "thread", "f1", "questions", turns) : NULL;
        if (thread)
            export_thread_md(&md, thread);
        json_decref(thread);
        json_decref(turns);
        dx_buf_free(&tb);
        dx_buf_free(&md);
    } else {
        json_t *text = json_stringn_nocheck(s, n);
        q = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:[{s:s, s:s, s:s, s:O}], s:{s:s, s:i, s:[], "
                      "s:[], s:[]}, "
                      "s:O, s:[O]}}",
                      "id", "f1", "question", "q", "status", "done", "result", "question", "q",
                      "category", "General", "members", "name", "a", "model", "m", "status", "done",
                      "text", text, "analysis", "label", "partial", "consensus", 50, "agreed",
                      "disputed", "unique", "answer", text, "followups", text);
        json_decref(text);
        if (q && page_question(&b, q, false, NULL) == DX_OK)
            check_html(b.data ? b.data : "");
    }
    json_decref(q);
    dx_buf_free(&b);
    free(s);
    return 0;
}
