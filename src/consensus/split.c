/*
 * split — markdown answer to claim candidates (see text.h).
 *
 * The answer is parsed once by cmark-gfm (cns_md_parse, the same tree the
 * terminal renders) and its tree walked: paragraphs and list items are split
 * into sentences, each table row becomes one "first cell — header: cell; ..."
 * claim; headings, rules and code blocks are dropped, HTML keeps its text. Inline
 * markup is flattened to its text (code keeps what it says, links their text).
 */
#include <cmark-gfm.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "consensus/md.h"
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

static bool starts_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != *prefix)
            return false;
    return true;
}

/* Whether a lead-in states a number of three words or more ("There are 5 continents:"): a
 * count or amount that may answer the question, not only an opening for the list after it. */
static bool states_number(const char *s, size_t n)
{
    bool digit = false;
    for (size_t i = 0; i < n && !digit; i++)
        digit = isdigit((unsigned char)s[i]) != 0;
    return digit && cns_count_words(s, n) >= 3;
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
    /* "That's a great question!", "This is an interesting historical question." */
    static const char *const about[] = {"this is a", "that is a", "that's a",
                                        "it is a",   "it's a",    "what a"};
    for (size_t i = 0; i < sizeof about / sizeof about[0]; i++)
        if (starts_ci(s, about[i]) && n < 80 &&
            (memmem(s, n, "question", 8) || memmem(s, n, "Question", 8)))
            return true;
    if (n && s[n - 1] == ':' && !states_number(s, n))
        return true; /* "The main reasons are:", but not "There are 5 continents:" */
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

/* Whether one word (ASCII, with a lower-case letter) cannot be read as a word:
 * its letters have no vowel ("zxc", "xq7") or four consonants in a row
 * ("asdkj"), or a sign sits inside it ("rr#t"). Punctuation around it is left
 * out; capitalised words, acronyms, one letter, a number with a unit ("6ft",
 * "2nd") and words in other scripts are never unreadable. */
static bool unreadable(const char *w, size_t n)
{
    while (n && !isalnum((unsigned char)w[0]) && (unsigned char)w[0] < 0x80) {
        w++;
        n--;
    }
    while (n && !isalnum((unsigned char)w[n - 1]) && (unsigned char)w[n - 1] < 0x80)
        n--;
    if (!n || isdigit((unsigned char)w[0]) || isupper((unsigned char)w[0]))
        return false;
    bool lower = false, vowel = false, sign = false;
    int run = 0, longest = 0, letters = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 0x80)
            return false;
        if (isalpha(c)) {
            letters++;
            lower |= islower(c) != 0;
            bool v = strchr("aeiouyAEIOUY", c) != NULL;
            vowel |= v;
            run = v ? 0 : run + 1;
            longest = run > longest ? run : longest;
        } else if (!isdigit(c) && c != '\'' && c != '-') {
            sign = true;
        }
    }
    if (!lower || letters < 2)
        return false; /* "x", "n": a variable */
    return !vowel || longest >= 4 || sign;
}

/* Keyboard noise ("asdkj qwe zxc", "xq7 zzkv plm0"): two or more words, more
 * than half of them unreadable. Not a claim. */
static bool is_gibberish(const char *s, size_t n)
{
    size_t words = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        size_t j = i;
        while (j < n && !isspace((unsigned char)s[j]))
            j++;
        if (j > i) {
            words++;
            bad += unreadable(s + i, j - i);
        }
        i = j;
    }
    return words >= 2 && 2 * bad > words;
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
    if (!n || is_filler(p, n) || is_gibberish(p, n))
        return;
    if (z->n >= DX_CNS_MAX_CLAIMS)
        return; /* the rest of a very long answer is not read */
    if (n > DX_CNS_MAX_CLAIM_BYTES) {
        n = DX_CNS_MAX_CLAIM_BYTES;
        while (n && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--; /* whole UTF-8 characters */
    }
    if (z->n == z->cap && arena_grow(z->a, &z->spans, z->n, &z->cap, sizeof *z->spans, 16)) {
        z->st = dx_wrap(DX_ENOMEM, "consensus: splitting an answer");
        return;
    }
    char *t = arena_strndup(z->a, p, n);
    if (!t) {
        z->st = dx_oom("consensus: splitting an answer");
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
        /* initials, "U.S.", "J. Smith"; not a unit after a number or a sign ("100 °C.") */
        return !(b > 0 && ((unsigned char)s[b - 1] >= 0x80 || isdigit((unsigned char)s[b - 1])));
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

static bool text_ends_digit(cmark_node *n, bool at_end)
{
    const char *t =
        n && cmark_node_get_type(n) == CMARK_NODE_TEXT ? cmark_node_get_literal(n) : NULL;
    if (!t || !*t)
        return false;
    return isdigit((unsigned char)(at_end ? t[strlen(t) - 1] : t[0]));
}

/* Emphasis between digits ("2*3*4") was a product that cmark read as emphasis. */
static bool is_product(cmark_node *emph)
{
    return text_ends_digit(cmark_node_previous(emph), true) &&
           text_ends_digit(cmark_node_first_child(emph), false);
}

/* The text of an inline subtree appended to b: code as written, links and
 * images by their text, breaks and HTML tags as one space. */
static dx_status flatten(cmark_node *n, dx_buf *b)
{
    dx_status st = DX_OK;
    cmark_iter *it = cmark_iter_new(n);
    if (!it)
        return dx_oom("consensus: splitting an answer");
    cmark_event_type ev;
    while (!st && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *c = cmark_iter_get_node(it);
        if (c == n)
            continue;
        if (cmark_node_get_type(c) == CMARK_NODE_EMPH && is_product(c)) {
            st = dx_buf_putc(b, '*'); /* "2*3*4" is a product, not emphasis */
            continue;
        }
        if (ev != CMARK_EVENT_ENTER)
            continue;
        const char *lit = NULL;
        switch (cmark_node_get_type(c)) {
        case CMARK_NODE_TEXT:
        case CMARK_NODE_CODE:
            lit = cmark_node_get_literal(c);
            break;
        case CMARK_NODE_SOFTBREAK:
        case CMARK_NODE_LINEBREAK:
        case CMARK_NODE_HTML_INLINE:
            lit = " ";
            break;
        default:
            break;
        }
        for (; lit && *lit && !st; lit++) {
            char ch = *lit == '\t' || *lit == '\n' || *lit == '\r' ? ' ' : *lit;
            if (ch == ' ' && (!b->len || b->data[b->len - 1] == ' '))
                continue;
            st = dx_buf_putc(b, ch);
        }
    }
    cmark_iter_free(it);
    return st;
}

static void add_paragraph(splitter *z, cmark_node *para, cns_span_kind kind)
{
    dx_buf b = dx_buf_make(DX_MAX_ANSWER_BYTES);
    dx_status st = flatten(para, &b);
    if (st)
        z->st = st;
    else if (b.len)
        add_sentences(z, b.data, b.len, kind);
    dx_buf_free(&b);
}

/* An HTML block's text without its tags ("<p>Water boils.</p>"). */
static void add_html(splitter *z, cmark_node *html)
{
    const char *h = cmark_node_get_literal(html);
    dx_buf b = dx_buf_make(DX_MAX_ANSWER_BYTES);
    bool tag = false;
    for (; h && *h && !z->st; h++) {
        char ch = *h;
        if (ch == '<' || ch == '>') {
            tag = ch == '<';
            ch = ' ';
        } else if (tag) {
            continue;
        }
        if (ch == '\t' || ch == '\n' || ch == '\r')
            ch = ' ';
        if (ch == ' ' && (!b.len || b.data[b.len - 1] == ' '))
            continue;
        z->st = dx_buf_putc(&b, ch);
    }
    if (!z->st && b.len)
        add_sentences(z, b.data, b.len, CNS_SPAN_SENTENCE);
    dx_buf_free(&b);
}

/* One claim per body row: "first cell — header: cell; header: cell". */
static void add_table(splitter *z, cmark_node *table)
{
    enum { MAX_COLS = 16 };
    dx_buf hdr[MAX_COLS];
    size_t nhdr = 0;
    for (size_t i = 0; i < MAX_COLS; i++)
        hdr[i] = dx_buf_make(DX_MAX_ANSWER_BYTES);
    bool header = true;
    for (cmark_node *row = cmark_node_first_child(table); row && !z->st;
         row = cmark_node_next(row)) {
        dx_buf line = dx_buf_make(DX_MAX_ANSWER_BYTES), cell = dx_buf_make(DX_MAX_ANSWER_BYTES);
        size_t i = 0;
        for (cmark_node *cn = cmark_node_first_child(row); cn && i < MAX_COLS && !z->st;
             cn = cmark_node_next(cn), i++) {
            dx_buf_clear(&cell);
            dx_status st = flatten(cn, &cell);
            if (!st && header)
                st = dx_buf_append(&hdr[i], cell.data ? cell.data : "", cell.len);
            if (header) {
                nhdr = i + 1;
            } else if (!st && cell.len) {
                if (line.len)
                    st = dx_buf_puts(&line, i == 1 ? " — " : "; ");
                if (!st && i > 0 && i < nhdr && hdr[i].len)
                    st = dx_buf_printf(&line, "%s: ", hdr[i].data);
                if (!st)
                    st = dx_buf_append(&line, cell.data, cell.len);
            }
            if (st)
                z->st = st;
        }
        if (!header && line.len)
            add_span(z, line.data, line.len, CNS_SPAN_ROW);
        header = false;
        dx_buf_free(&line);
        dx_buf_free(&cell);
    }
    for (size_t i = 0; i < MAX_COLS; i++)
        dx_buf_free(&hdr[i]);
}

static bool is_type(cmark_node *n, const char *name)
{
    return !strcmp(cmark_node_get_type_string(n), name);
}

/* Whether the node sits inside a list item (its sentences are items). */
static bool in_item(cmark_node *n)
{
    for (cmark_node *p = cmark_node_parent(n); p; p = cmark_node_parent(p))
        if (cmark_node_get_type(p) == CMARK_NODE_ITEM)
            return true;
    return false;
}

/* Whether the text is one number and a full stop or bracket ("4.", "1969.",
 * "1,234)"): CommonMark reads that as an empty numbered list item, but as a
 * whole answer it is the number. */
static bool bare_number(const char *p, size_t n)
{
    trim(&p, &n);
    if (n < 2 || (p[n - 1] != '.' && p[n - 1] != ')'))
        return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (!isdigit((unsigned char)p[i]) && !(i && (p[i] == ',' || p[i] == '.')))
            return false;
    return isdigit((unsigned char)p[n - 2]);
}

dx_status cns_markdown_split(const char *md, size_t len, arena *a, cns_span **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len > DX_MAX_ANSWER_BYTES)
        return dx_fail(DX_ELIMIT, "consensus: an answer is longer than %u bytes",
                       DX_MAX_ANSWER_BYTES);
    if (bare_number(md, len)) {
        splitter z = {.a = a};
        add_span(&z, md, len, CNS_SPAN_SENTENCE);
        *out = z.spans;
        *n = z.n;
        return z.st;
    }
    cmark_node *doc;
    dx_status st = cns_md_parse(md, len, &doc);
    if (st)
        return st;
    splitter z = {.a = a};
    cmark_iter *it = cmark_iter_new(doc);
    if (!it)
        z.st = dx_oom("consensus: splitting an answer");
    cmark_event_type ev;
    while (!z.st && z.n < DX_CNS_MAX_CLAIMS && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *c = cmark_iter_get_node(it);
        if (ev != CMARK_EVENT_ENTER)
            continue;
        if (cmark_node_get_type(c) == CMARK_NODE_PARAGRAPH) {
            /* a table cell's paragraph is read with its row */
            add_paragraph(&z, c, in_item(c) ? CNS_SPAN_ITEM : CNS_SPAN_SENTENCE);
            cmark_iter_reset(it, c, CMARK_EVENT_EXIT);
        } else if (is_type(c, "table")) {
            add_table(&z, c);
            cmark_iter_reset(it, c, CMARK_EVENT_EXIT);
        } else if (cmark_node_get_type(c) == CMARK_NODE_HTML_BLOCK) {
            add_html(&z, c);
        } else if (cmark_node_get_type(c) == CMARK_NODE_HEADING) {
            cmark_iter_reset(it, c, CMARK_EVENT_EXIT); /* a heading is not a claim */
        }
        /* code blocks and rules have no paragraphs: nothing is read */
    }
    cmark_iter_free(it);
    cmark_node_free(doc);
    if (z.st)
        return z.st;
    *out = z.spans;
    *n = z.n;
    return DX_OK;
}
