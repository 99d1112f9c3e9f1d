/*
 * split — markdown answer to claim candidates (see text.h).
 *
 * Line-oriented: fences, headings and rules are dropped; table rows become
 * "first cell — header: cell; ..." claims; list items and prose paragraphs are
 * split into sentences. Inline markup (emphasis, code ticks, links, HTML tags)
 * is removed from what is kept.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "consensus/text.h"
#include "core/limits.h"
#include "core/str.h"

typedef struct splitter {
    arena *a;
    cns_span *spans;
    size_t n, cap;
    dx_status st;
} splitter;

static void trim(const char **p, size_t *n)
{
    while (*n && isspace((unsigned char)(*p)[0])) {
        (*p)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*p)[*n - 1]))
        (*n)--;
}

/* Removes inline markdown into b: **, __, `, *, [text](url), ![alt](url), <tags>. */
static dx_status strip_inline(const char *p, size_t n, dx_buf *b)
{
    dx_status st = DX_OK;
    for (size_t i = 0; i < n && !st; i++) {
        char c = p[i];
        if (c == '`') {
            /* inline code is kept as written, without its ticks */
            size_t ticks = 0;
            while (i + ticks < n && p[i + ticks] == '`')
                ticks++;
            size_t j = i + ticks, close = 0;
            for (; j + ticks <= n; j++) {
                size_t k = 0;
                while (k < ticks && p[j + k] == '`')
                    k++;
                if (k == ticks && (j + k == n || p[j + k] != '`')) {
                    close = j;
                    break;
                }
            }
            if (close) {
                st = dx_buf_append(b, p + i + ticks, close - i - ticks);
                i = close + ticks - 1;
            } else {
                i += ticks - 1;
            }
            continue;
        }
        if (c == '*') {
            /* emphasis markers go; a product "9 * 2" or "9*2" stays */
            bool pd = i > 0 && isdigit((unsigned char)p[i - 1]),
                 nd = i + 1 < n && isdigit((unsigned char)p[i + 1]);
            bool ps = i > 0 && p[i - 1] == ' ', ns = i + 1 < n && p[i + 1] == ' ';
            if (!((pd && nd) || (ps && ns && i > 1 && isdigit((unsigned char)p[i - 2]))))
                continue;
        }
        if (c == '_' &&
            ((i + 1 < n && p[i + 1] == '_') || (i > 0 && p[i - 1] == '_') || i == 0 || i + 1 == n ||
             isspace((unsigned char)p[i - 1]) || isspace((unsigned char)p[i + 1])))
            continue;
        if (c == '!' && i + 1 < n && p[i + 1] == '[')
            continue;
        if (c == '[') {
            /* [text](target): look a bounded way ahead, so "[[[[..." stays linear */
            size_t look = n - i < 1024 ? n - i : 1024;
            const char *close = memchr(p + i, ']', look);
            size_t rest = close ? n - (size_t)(close - p) : 0;
            if (close && rest > 1 && close[1] == '(') {
                const char *end = memchr(close, ')', rest < 2048 ? rest : 2048);
                if (end) {
                    st = dx_buf_append(b, p + i + 1, (size_t)(close - p - (ptrdiff_t)i - 1));
                    i = (size_t)(end - p);
                    continue;
                }
            }
            continue;
        }
        if (c == ']')
            continue;
        if (c == '<') {
            size_t j = i + 1;
            while (j < n && j < i + 40 && p[j] != '>' && p[j] != '<')
                j++;
            if (j < n && p[j] == '>' && j > i + 1 &&
                (isalpha((unsigned char)p[i + 1]) || p[i + 1] == '/')) {
                st = dx_buf_putc(b, ' ');
                i = j;
                continue;
            }
        }
        if (c == '\t' || c == '\n' || c == '\r')
            c = ' ';
        if (c == ' ' && b->len && b->data[b->len - 1] == ' ')
            continue;
        st = dx_buf_putc(b, c);
    }
    return st;
}

static bool starts_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != *prefix)
            return false;
    return true;
}

/* Politeness and lead-ins that state nothing about the question. */
static bool is_filler(const char *s, size_t n)
{
    static const char *const starts[] = {
        "i hope this helps", "hope this helps", "let me know",           "feel free",
        "if you have any",   "i'd be happy",    "i would be happy",      "i'm happy to",
        "great question",    "good question",   "please note that this", "here is a",
        "here are",          "here's",          "thanks for asking",
    };
    static const char *const whole[] = {
        "sure",  "certainly", "of course", "absolutely", "great",     "okay",   "ok",
        "hello", "hi",        "thanks",    "thank you",  "good luck", "cheers",
    };
    if (n && s[n - 1] == ':')
        return true; /* "The main reasons are:" */
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        if (starts_ci(s, starts[i]))
            return true;
    size_t m = n;
    while (m && (ispunct((unsigned char)s[m - 1]) || isspace((unsigned char)s[m - 1])))
        m--;
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
        if (strlen(whole[i]) == m && starts_ci(s, whole[i]))
            return true;
    return false;
}

static void add_span(splitter *z, const char *p, size_t n, cns_span_kind kind)
{
    if (z->st)
        return;
    trim(&p, &n);
    while (n && (*p == '-' || *p == ':' || *p == ',' || *p == ';')) {
        p++;
        n--;
        trim(&p, &n);
    }
    if (!n || is_filler(p, n))
        return;
    if (z->n >= DX_CNS_MAX_CLAIMS)
        return; /* the rest of a very long answer is not read */
    if (n > DX_CNS_MAX_CLAIM_BYTES) {
        n = DX_CNS_MAX_CLAIM_BYTES;
        while (n && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--; /* whole UTF-8 characters */
    }
    if (z->n == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 16;
        if (cap > DX_CNS_MAX_CLAIMS)
            cap = DX_CNS_MAX_CLAIMS;
        cns_span *s = arena_alloc_array(z->a, cap, sizeof *s);
        if (!s) {
            z->st = dx_fail(DX_ENOMEM, "consensus: out of memory splitting an answer");
            return;
        }
        if (z->n)
            memcpy(s, z->spans, z->n * sizeof *s);
        z->spans = s;
        z->cap = cap;
    }
    char *t = arena_strndup(z->a, p, n);
    if (!t) {
        z->st = dx_fail(DX_ENOMEM, "consensus: out of memory splitting an answer");
        return;
    }
    z->spans[z->n++] = (cns_span){t, kind};
}

static bool is_abbrev(const char *s, size_t end)
{
    /* the word before the '.' at s[end] */
    size_t b = end;
    while (b && isalpha((unsigned char)s[b - 1]))
        b--;
    size_t len = end - b;
    if (len == 1 && isupper((unsigned char)s[b]))
        return true; /* initials, "U.S." */
    static const char *const ab[] = {"e.g", "i.e",    "etc", "vs",  "dr",   "mr",  "mrs", "ms",
                                     "st",  "approx", "fig", "jr",  "sr",   "inc", "ltd", "no",
                                     "vol", "ca",     "cf",  "al",  "prof", "mt",  "jan", "feb",
                                     "aug", "sept",   "oct", "nov", "dec",  "est"};
    if (len == 0)
        return false;
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++) {
        size_t l = strlen(ab[i]);
        if (l == len && starts_ci(s + b, ab[i]))
            return true;
        /* "e.g." / "i.e.": the letter before the final '.' follows another '.' */
        if (l == 3 && ab[i][1] == '.' && b >= 2 && s[b - 1] == '.' && len == 1)
            return true;
    }
    return false;
}

/* Sentences of one block of inline text. */
static void add_sentences(splitter *z, const char *s, size_t n, cns_span_kind kind)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ';') { /* clauses joined by ';' are separate claims */
            add_span(z, s + start, i - start, kind);
            start = i + 1;
            continue;
        }
        if (c != '.' && c != '!' && c != '?')
            continue;
        size_t j = i + 1;
        while (j < n && (s[j] == '.' || s[j] == '!' || s[j] == '?' || s[j] == '"' || s[j] == ')'))
            j++;
        if (j < n && !isspace((unsigned char)s[j]))
            continue;
        size_t k = j;
        while (k < n && isspace((unsigned char)s[k]))
            k++;
        if (k < n) {
            unsigned char nx = (unsigned char)s[k];
            if (!(isupper(nx) || isdigit(nx) || nx == '"' || nx == '(' || nx >= 0x80))
                continue;
        }
        if (c == '.' && is_abbrev(s, i))
            continue;
        add_span(z, s + start, j - start, kind);
        start = k;
        i = k ? k - 1 : 0;
    }
    if (start < n)
        add_span(z, s + start, n - start, kind);
}

static void add_block(splitter *z, const char *p, size_t n, cns_span_kind kind)
{
    dx_buf b = dx_buf_make(DX_MAX_ANSWER_BYTES);
    dx_status st = strip_inline(p, n, &b);
    if (st) {
        z->st = st;
        dx_buf_free(&b);
        return;
    }
    if (b.len)
        add_sentences(z, b.data, b.len, kind);
    dx_buf_free(&b);
}

/* Splits a table line "| a | b |" into at most 16 trimmed cells. */
static size_t table_cells(const char *p, size_t n, const char **cell, size_t *clen, size_t max)
{
    trim(&p, &n);
    if (n && *p == '|') {
        p++;
        n--;
    }
    if (n && p[n - 1] == '|')
        n--;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i == n || (p[i] == '|' && (i == 0 || p[i - 1] != '\\'))) {
            const char *c = p + start;
            size_t cl = i - start;
            trim(&c, &cl);
            cell[k] = c;
            clen[k] = cl;
            k++;
            start = i + 1;
        }
    }
    return k;
}

static bool is_table_sep(const char *p, size_t n)
{
    bool dash = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '-')
            dash = true;
        else if (c != '|' && c != ':' && !isspace((unsigned char)c))
            return false;
    }
    return dash;
}

static bool is_rule(const char *p, size_t n)
{
    trim(&p, &n);
    if (n < 3)
        return false;
    char c = p[0];
    if (c != '-' && c != '*' && c != '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] != c && !isspace((unsigned char)p[i]))
            return false;
    return true;
}

/* Length of a list marker ("- ", "* ", "+ ", "12. ", "3) ") at p, or 0. */
static size_t list_marker(const char *p, size_t n)
{
    if (n >= 2 && (p[0] == '-' || p[0] == '*' || p[0] == '+') && (p[1] == ' ' || p[1] == '\t'))
        return 2;
    size_t i = 0;
    while (i < n && i < 9 && isdigit((unsigned char)p[i]))
        i++;
    if (i && i + 1 < n && (p[i] == '.' || p[i] == ')') && (p[i + 1] == ' ' || p[i + 1] == '\t'))
        return i + 2;
    return 0;
}

typedef struct pending {
    dx_buf text;
    cns_span_kind kind;
    bool open;
    bool quote; /* the block is a blockquote */
} pending;

static void flush(splitter *z, pending *pd)
{
    if (pd->open && pd->text.len)
        add_block(z, pd->text.data, pd->text.len, pd->kind);
    dx_buf_clear(&pd->text);
    pd->open = false;
}

static void append_line(splitter *z, pending *pd, const char *p, size_t n, cns_span_kind kind)
{
    if (!pd->open) {
        pd->open = true;
        pd->kind = kind;
    }
    if (pd->text.len && dx_buf_putc(&pd->text, ' ')) {
        z->st = DX_ELIMIT;
        return;
    }
    if (dx_buf_append(&pd->text, p, n))
        z->st = DX_ELIMIT;
}

dx_status cns_markdown_split(const char *md, size_t len, arena *a, cns_span **out, size_t *n)
{
    splitter z = {.a = a};
    pending pd = {.text = dx_buf_make(DX_MAX_ANSWER_BYTES)};
    const char *hdr[16];
    size_t hlen[16], nhdr = 0;
    bool fence = false;
    char fence_ch = 0;
    size_t pos = 0;
    *out = NULL;
    *n = 0;
    while (pos < len && !z.st && z.n < DX_CNS_MAX_CLAIMS) {
        const char *nl = memchr(md + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - md) : len;
        const char *line = md + pos;
        size_t ll = end - pos;
        pos = nl ? end + 1 : len;
        const char *t = line;
        size_t tl = ll;
        trim(&t, &tl);
        if (tl >= 3 && (t[0] == '`' || t[0] == '~') && t[1] == t[0] && t[2] == t[0]) {
            if (!fence) {
                flush(&z, &pd);
                fence = true;
                fence_ch = t[0];
            } else if (t[0] == fence_ch)
                fence = false;
            continue;
        }
        if (fence)
            continue; /* code is not a claim */
        if (tl == 0) {
            flush(&z, &pd);
            nhdr = 0;
            continue;
        }
        if (t[0] == '#' || is_rule(t, tl)) {
            flush(&z, &pd);
            nhdr = 0;
            continue;
        }
        bool quote = tl && t[0] == '>';
        if (quote != pd.quote)
            flush(&z, &pd); /* a quote is its own block */
        pd.quote = quote;
        while (tl && t[0] == '>') {
            t++;
            tl--;
            trim(&t, &tl);
        }
        if (!tl)
            continue;
        if (t[0] == '|') {
            flush(&z, &pd);
            if (is_table_sep(t, tl))
                continue;
            /* a row followed by a separator line is the header */
            const char *nx = md + pos;
            size_t nxl = 0;
            while (pos + nxl < len && nx[nxl] != '\n')
                nxl++;
            const char *cell[16];
            size_t clen[16];
            size_t nc = table_cells(t, tl, cell, clen, 16);
            if (pos < len && is_table_sep(nx, nxl) && memchr(nx, '-', nxl)) {
                nhdr = nc;
                memcpy(hdr, cell, nc * sizeof *cell);
                memcpy(hlen, clen, nc * sizeof *clen);
                continue;
            }
            dx_buf row = dx_buf_make(DX_MAX_ANSWER_BYTES);
            for (size_t i = 0; i < nc && !z.st; i++) {
                if (!clen[i])
                    continue;
                if (row.len)
                    dx_buf_puts(&row, i == 1 ? " — " : "; ");
                if (i > 0 && i < nhdr && hlen[i]) {
                    dx_buf_append(&row, hdr[i], hlen[i]);
                    dx_buf_puts(&row, ": ");
                }
                dx_buf_append(&row, cell[i], clen[i]);
            }
            if (row.len) {
                dx_buf clean = dx_buf_make(DX_MAX_ANSWER_BYTES);
                if (!strip_inline(row.data, row.len, &clean))
                    add_span(&z, clean.data ? clean.data : "", clean.len, CNS_SPAN_ROW);
                dx_buf_free(&clean);
            }
            dx_buf_free(&row);
            continue;
        }
        size_t mk = list_marker(t, tl);
        if (mk) {
            flush(&z, &pd);
            t += mk;
            tl -= mk;
            trim(&t, &tl);
            if (tl >= 3 && t[0] == '[' && (t[1] == ' ' || t[1] == 'x' || t[1] == 'X') &&
                t[2] == ']') {
                t += 3;
                tl -= 3; /* task list box */
            }
            append_line(&z, &pd, t, tl, CNS_SPAN_ITEM);
            continue;
        }
        append_line(&z, &pd, t, tl, pd.open ? pd.kind : CNS_SPAN_SENTENCE);
    }
    if (!z.st)
        flush(&z, &pd);
    dx_buf_free(&pd.text);
    if (z.st) {
        if (z.st == DX_ELIMIT)
            dx_fail(DX_ELIMIT, "consensus: an answer is longer than %u bytes", DX_MAX_ANSWER_BYTES);
        return z.st;
    }
    *out = z.spans;
    *n = z.n;
    return DX_OK;
}
