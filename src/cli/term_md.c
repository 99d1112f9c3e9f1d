#include "cli/term_md.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <string.h>
#include <utf8proc.h>

#include "consensus/md.h"
#include "core/limits.h"

#define MAX_COLS 16
#define MAX_ROWS 256

typedef struct rd {
    dx_buf *out;
    bool color;
    int depth; /* list nesting */
    dx_status st;
} rd;

static void put(rd *r, const char *s)
{
    if (!r->st)
        r->st = dx_buf_puts(r->out, s);
}

static void style(rd *r, const char *code)
{
    if (r->color)
        put(r, code);
}

dx_status term_md_clean(dx_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            continue;
        /* C1 controls (U+0080..U+009F) are two bytes in UTF-8: C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F) {
            i++;
            continue;
        }
        dx_status st = dx_buf_putc(out, (char)c);
        if (st)
            return st;
    }
    return DX_OK;
}

static void text(rd *r, const char *s)
{
    if (!r->st && s)
        r->st = term_md_clean(r->out, s, strlen(s));
}

static void inlines(rd *r, cmark_node *n);

static void inline_node(rd *r, cmark_node *n)
{
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_TEXT:
        text(r, cmark_node_get_literal(n));
        break;
    case CMARK_NODE_SOFTBREAK:
        put(r, " ");
        break;
    case CMARK_NODE_LINEBREAK:
        put(r, "\n");
        break;
    case CMARK_NODE_CODE:
        style(r, "\033[36m");
        text(r, cmark_node_get_literal(n));
        style(r, "\033[0m");
        break;
    case CMARK_NODE_EMPH:
        style(r, "\033[3m");
        inlines(r, n);
        style(r, "\033[23m");
        break;
    case CMARK_NODE_STRONG:
        style(r, "\033[1m");
        inlines(r, n);
        style(r, "\033[22m");
        break;
    case CMARK_NODE_LINK: {
        inlines(r, n);
        const char *url = cmark_node_get_url(n);
        if (url && *url) {
            put(r, " (");
            text(r, url);
            put(r, ")");
        }
        break;
    }
    case CMARK_NODE_HTML_INLINE:
        text(r, cmark_node_get_literal(n)); /* shown as written, never interpreted */
        break;
    default:
        if (!strcmp(cmark_node_get_type_string(n), "strikethrough")) {
            style(r, "\033[9m");
            inlines(r, n);
            style(r, "\033[29m");
        } else {
            inlines(r, n);
        }
    }
}

static void inlines(rd *r, cmark_node *n)
{
    for (cmark_node *c = cmark_node_first_child(n); c && !r->st; c = cmark_node_next(c))
        inline_node(r, c);
}

/* Display width of UTF-8 text (wide characters count 2). */
static size_t width(const char *s)
{
    size_t w = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t cp;
    while (*p) {
        utf8proc_ssize_t k = utf8proc_iterate(p, -1, &cp);
        if (k <= 0) {
            p++;
            w++;
            continue;
        }
        int cw = utf8proc_charwidth(cp);
        w += cw > 0 ? (size_t)cw : 0;
        p += k;
    }
    return w;
}

static void table(rd *r, cmark_node *t)
{
    /* render every cell to plain text first, then align */
    char *cell[MAX_ROWS][MAX_COLS] = {{0}};
    size_t wid[MAX_COLS] = {0};
    int rows = 0, cols = 0;
    for (cmark_node *row = cmark_node_first_child(t); row && rows < MAX_ROWS;
         row = cmark_node_next(row)) {
        int c = 0;
        for (cmark_node *cn = cmark_node_first_child(row); cn && c < MAX_COLS;
             cn = cmark_node_next(cn)) {
            dx_buf b = dx_buf_make(DX_MAX_ANSWER_BYTES);
            rd sub = {&b, false, 0, DX_OK};
            inlines(&sub, cn);
            cell[rows][c] = dx_buf_take(&b);
            size_t w = cell[rows][c] ? width(cell[rows][c]) : 0;
            if (w > wid[c])
                wid[c] = w;
            c++;
        }
        if (c > cols)
            cols = c;
        rows++;
    }
    for (int i = 0; i < rows; i++) {
        put(r, "  ");
        for (int c = 0; c < cols; c++) {
            const char *s = cell[i][c] ? cell[i][c] : "";
            if (i == 0)
                style(r, "\033[1m");
            put(r, s);
            if (i == 0)
                style(r, "\033[22m");
            for (size_t k = width(s); k < wid[c]; k++)
                put(r, " ");
            put(r, c + 1 < cols ? " │ " : "\n");
        }
        if (i == 0) {
            put(r, "  ");
            for (int c = 0; c < cols; c++) {
                for (size_t k = 0; k < wid[c]; k++)
                    put(r, "─");
                put(r, c + 1 < cols ? "─┼─" : "\n");
            }
        }
    }
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < MAX_COLS; c++)
            free(cell[i][c]);
}

static void blocks(rd *r, cmark_node *n);
static void block(rd *r, cmark_node *n);

static void indent(rd *r)
{
    for (int i = 0; i < r->depth; i++)
        put(r, "   ");
}

/* Each line of s with prefix before it and a newline after; clean: control characters dropped
 * (text from the model), else copied as they are (text this renderer wrote). */
static void prefixed_lines(rd *r, const char *prefix, const char *s, bool clean)
{
    while (s && *s && !r->st) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        put(r, prefix);
        if (!r->st)
            r->st = clean ? term_md_clean(r->out, s, len) : dx_buf_append(r->out, s, len);
        put(r, "\n");
        s += len + (nl ? 1 : 0);
    }
}

/* A bullet or numbered list, nested lists indented; an item's first paragraph goes on the
 * bullet's line, a task item shows its box. */
static void list(rd *r, cmark_node *n)
{
    int num = cmark_node_get_list_start(n);
    bool ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
    for (cmark_node *it = cmark_node_first_child(n); it && !r->st; it = cmark_node_next(it)) {
        indent(r);
        if (ordered) {
            char b[16];
            snprintf(b, sizeof b, "%d. ", num++);
            put(r, b);
        } else {
            put(r, "• ");
        }
        if (!strcmp(cmark_node_get_type_string(it), "tasklist"))
            put(r, cmark_gfm_extensions_get_tasklist_item_checked(it) ? "[x] " : "[ ] ");
        r->depth++;
        for (cmark_node *c = cmark_node_first_child(it); c && !r->st; c = cmark_node_next(c)) {
            if (c != cmark_node_first_child(it) && cmark_node_get_type(c) == CMARK_NODE_PARAGRAPH)
                indent(r);
            block(r, c);
        }
        r->depth--;
    }
    if (!r->depth)
        put(r, "\n");
}

/* A block quote: its blocks rendered on their own, then every line behind a bar. */
static void block_quote(rd *r, cmark_node *n)
{
    dx_buf b = dx_buf_make(DX_MAX_ANSWER_BYTES);
    rd sub = {&b, r->color, 0, DX_OK};
    blocks(&sub, n);
    prefixed_lines(r, "  │ ", b.data ? b.data : "", false);
    dx_buf_free(&b);
}

static void block(rd *r, cmark_node *n)
{
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_HEADING:
        style(r, "\033[1;4m");
        inlines(r, n);
        style(r, "\033[0m");
        put(r, "\n\n");
        break;
    case CMARK_NODE_PARAGRAPH:
        inlines(r, n);
        put(r, "\n");
        if (!r->depth)
            put(r, "\n");
        break;
    case CMARK_NODE_LIST:
        list(r, n);
        break;
    case CMARK_NODE_CODE_BLOCK:
        style(r, "\033[36m");
        prefixed_lines(r, "    ", cmark_node_get_literal(n), true);
        style(r, "\033[0m");
        put(r, "\n");
        break;
    case CMARK_NODE_BLOCK_QUOTE:
        block_quote(r, n);
        break;
    case CMARK_NODE_THEMATIC_BREAK:
        put(r, "────────────────────────────────────────\n\n");
        break;
    case CMARK_NODE_HTML_BLOCK:
        text(r, cmark_node_get_literal(n));
        put(r, "\n");
        break;
    default:
        if (!strcmp(cmark_node_get_type_string(n), "table")) {
            table(r, n);
            put(r, "\n");
        } else {
            blocks(r, n);
        }
    }
}

static void blocks(rd *r, cmark_node *n)
{
    for (cmark_node *c = cmark_node_first_child(n); c && !r->st; c = cmark_node_next(c))
        block(r, c);
}

dx_status term_md_render(const char *md, bool color, dx_buf *out)
{
    cmark_node *doc;
    rd r = {out, color, 0, cns_md_parse(md, strlen(md), &doc)};
    if (!r.st)
        blocks(&r, doc);
    /* no trailing blank lines */
    while (!r.st && out->len && out->data[out->len - 1] == '\n' &&
           (out->len < 2 || out->data[out->len - 2] == '\n'))
        out->data[--out->len] = '\0';
    cmark_node_free(doc);
    return r.st;
}
