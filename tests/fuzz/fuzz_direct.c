/*
 * fuzz_direct — direct answers on arbitrary bytes: the first line is the question, the rest
 * one answer (and, split at a NUL byte if there is one, a second answer). Classifies, extracts
 * under every question kind, checks each span lies inside its text, and compares.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/direct.h"

static void check_span(const char *text, const cns_direct *d)
{
    if (d->type == CNS_DV_NONE)
        return;
    size_t n = strlen(text);
    if (d->start + d->len > n || d->sent_start + d->sent_len > n || !d->span || !d->value ||
        strncmp(text + d->start, d->span, d->len) || d->sent_start > d->start ||
        d->sent_start + d->sent_len < d->start + d->len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = 0;
    char *nl = memchr(buf, '\n', size);
    const char *q = buf, *t1 = nl ? nl + 1 : buf;
    if (nl)
        *nl = 0;
    const char *t2 = t1 + strlen(t1) + 1; /* after a NUL inside, or the empty string at the end */
    if (t2 > buf + size)
        t2 = buf + size + 1;
    arena a = arena_make(4096, 16 << 20);
    (void)cns_direct_classify(q);
    cns_direct x, y;
    for (int kind = (int)CNS_Q_OPEN; kind <= (int)CNS_Q_YESNO; kind++) {
        if (cns_direct_extract(q, (cns_qkind)kind, t1, &a, &x) ||
            cns_direct_extract(q, (cns_qkind)kind, t2, &a, &y))
            continue;
        check_span(t1, &x);
        check_span(t2, &y);
        cns_direct_cmp c1 = cns_direct_compare(q, &x, &y), c2 = cns_direct_compare(q, &y, &x);
        if (c1 != c2 || (x.type != CNS_DV_NONE && cns_direct_compare(q, &x, &x) != CNS_DIRECT_SAME))
            abort(); /* symmetric; a value is the same as itself */
        cns_direct both[2] = {x, y};
        int g[2];
        cns_direct_group(q, both, 2, g);
    }
    arena_free(&a);
    free(buf);
    return 0;
}
