/*
 * evidence — where a claim stands in its member's own text (see text.h).
 *
 * Claims are markdown with the markup taken out, so they are found in the
 * answer by comparing both without whitespace and markup characters; the
 * span returned is the answer's own bytes from the first to the last
 * character that matched.
 */
#include <ctype.h>
#include <string.h>

#include "consensus/text.h"
#include "core/limits.h"

/* Markup characters that a claim may have lost (emphasis, code ticks,
 * headings, quotes, table pipes, link brackets, escapes). */
static bool is_markup(char c)
{
    return c == '*' || c == '_' || c == '`' || c == '~' || c == '#' || c == '>' || c == '|' ||
           c == '[' || c == ']' || c == '\\';
}

static bool skipped(char c)
{
    return isspace((unsigned char)c) || is_markup(c);
}

dx_status cns_source_index(const char *raw, arena *a, cns_source *out)
{
    size_t n = strlen(raw);
    out->raw = raw;
    out->len = 0;
    out->from = 0;
    out->text = arena_alloc(a, n + 1);
    out->pos = arena_alloc_array(a, n ? n : 1, sizeof *out->pos);
    if (!out->text || !out->pos)
        return dx_oom("consensus: indexing an answer");
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == ']' && i + 1 < n && raw[i + 1] == '(') {
            /* a link target is not text: "[Paris](https://...)" reads "Paris" */
            const char *end = memchr(raw + i, ')', n - i < 2048 ? n - i : 2048);
            if (end) {
                i = (size_t)(end - raw);
                continue;
            }
        }
        if (c == '<' && i + 1 < n && (isalpha((unsigned char)raw[i + 1]) || raw[i + 1] == '/')) {
            const char *end = memchr(raw + i, '>', n - i < 64 ? n - i : 64);
            if (end) {
                i = (size_t)(end - raw); /* an HTML tag */
                continue;
            }
        }
        if (c == '!' && i + 1 < n && raw[i + 1] == '[')
            continue;
        if (skipped(c))
            continue;
        out->text[out->len] = c;
        out->pos[out->len++] = (unsigned)i;
    }
    out->text[out->len] = '\0';
    return DX_OK;
}

/* The claim without whitespace and markup, in buf (at most cap-1 bytes). */
static size_t squeeze(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (!skipped(s[i]))
            buf[k++] = s[i];
    buf[k] = '\0';
    return k;
}

/* Raw byte range of a squeezed match, widened over markup right around it
 * ("**Paris** is ..." keeps both pairs of stars) and trimmed of space. */
static const char *span(const cns_source *src, size_t at, size_t k, arena *a)
{
    size_t b = src->pos[at], e = src->pos[at + k - 1] + 1;
    while (b > 0 && (src->raw[b - 1] == '*' || src->raw[b - 1] == '_' || src->raw[b - 1] == '`'))
        b--;
    while (src->raw[e] == '*' || src->raw[e] == '_' || src->raw[e] == '`')
        e++;
    return arena_strndup(a, src->raw + b, e - b);
}

static const char *find(cns_source *src, const char *key, size_t k, arena *a)
{
    if (!k || k > src->len)
        return NULL;
    /* claims come in the order they were written: look after the last one first */
    const char *hit = NULL;
    if (src->from < src->len)
        hit = memmem(src->text + src->from, src->len - src->from, key, k);
    if (!hit)
        hit = memmem(src->text, src->len, key, k);
    if (!hit)
        return NULL;
    size_t at = (size_t)(hit - src->text);
    src->from = at + k;
    return span(src, at, k, a);
}

/* A table row claim ("Bob — Age: 42") is found by its first cell; the
 * evidence is the row as written ("| **Bob** | 42 |"). */
static const char *find_row(cns_source *src, const char *claim, arena *a)
{
    const char *dash = strstr(claim, " \xe2\x80\x94 ");
    size_t n = dash ? (size_t)(dash - claim) : strlen(claim);
    char key[DX_CNS_MAX_CLAIM_BYTES];
    size_t k = squeeze(claim, n, key, sizeof key);
    if (!k || k > src->len)
        return NULL;
    for (const char *hit = memmem(src->text, src->len, key, k); hit;
         hit = memmem(hit + 1, src->len - (size_t)(hit + 1 - src->text), key, k)) {
        size_t p = src->pos[hit - src->text];
        size_t b = p, e = p;
        while (b > 0 && src->raw[b - 1] != '\n')
            b--;
        while (src->raw[e] && src->raw[e] != '\n')
            e++;
        const char *line = src->raw + b;
        size_t len = e - b;
        while (len && (isspace((unsigned char)*line) || *line == '|')) {
            line++;
            len--;
        }
        while (len && (isspace((unsigned char)line[len - 1]) || line[len - 1] == '|'))
            len--;
        if (len && memchr(src->raw + b, '|', e - b))
            return arena_strndup(a, line, len);
    }
    return NULL;
}

const char *cns_evidence_find(cns_source *src, const char *claim, bool row, arena *a)
{
    if (row)
        return find_row(src, claim, a);
    char key[DX_CNS_MAX_CLAIM_BYTES];
    size_t k = squeeze(claim, strlen(claim), key, sizeof key);
    return find(src, key, k, a);
}
