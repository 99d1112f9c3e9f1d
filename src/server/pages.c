/*
 * pages — server-side HTML for the web app (see pages.h).
 *
 * Output goes through a small writer with a sticky status, so a page is a
 * straight sequence of put/esc calls and the first failure (a full buffer)
 * is what the function returns. Every string that came from a model, a
 * person or the store goes through esc() or page_markdown(); literal markup
 * is only ever written from string constants in this file.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include "core/arena.h"
#include "core/limits.h"
#include "server/pages.h"
#include "store/db.h"

/* ---- writer -------------------------------------------------------------------- */

typedef struct w {
    dx_buf *b;
    dx_status st;
    const char *token; /* the session's form token, put in every POST form; NULL: none */
} w;

static void putn(w *o, const char *s, size_t n)
{
    if (!o->st && n)
        o->st = dx_buf_append(o->b, s, n);
}

static void put(w *o, const char *s)
{
    if (s)
        putn(o, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) putf(w *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || o->st)
        return;
    if ((size_t)n < sizeof tmp) {
        putn(o, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        o->st = dx_fail(DX_ENOMEM, "pages: out of memory");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    putn(o, big, (size_t)n);
    free(big);
}

/* Text or attribute value: & < > " ' become entities. NULL writes nothing. */
static void escn(w *o, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n && !o->st; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (!rep)
            continue;
        putn(o, s + run, i - run);
        put(o, rep);
        run = i + 1;
    }
    if (run < n)
        putn(o, s + run, n - run);
}

static void esc(w *o, const char *s)
{
    if (s)
        escn(o, s, strlen(s));
}

/* At most max bytes of s, cut on a UTF-8 character boundary, with "…" when cut. */
static void esc_trunc(w *o, const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    if (n <= max) {
        escn(o, s, n);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    escn(o, s, max);
    put(o, "\xE2\x80\xA6");
}

/* An id inside a URL path: only [A-Za-z0-9_-] pass, the rest is %XX. */
static void put_id_url(w *o, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(id ? id : ""); *p && !o->st; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_') {
            putn(o, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            putn(o, e, 3);
        }
    }
}

/* ---- JSON access: absent or mistyped reads as absent ---------------------------- */

static const char *js(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long ji(json_t *o, const char *k, long long def)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) > -9e15 && json_real_value(v) < 9e15)
        return (long long)json_real_value(v);
    return def;
}

static json_t *ja(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_array(v) ? v : NULL;
}

static json_t *jo(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_object(v) ? v : NULL;
}

static bool streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* ---- markdown ------------------------------------------------------------------- */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
    cmark_gfm_core_extensions_ensure_registered();
}

/* http, https, mailto, or no scheme at all (relative); nothing with control
 * characters or spaces, which browsers strip or fold into a scheme. */
static bool url_safe(const char *u)
{
    if (!u)
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return false;
    size_t n = strcspn(u, ":/?#");
    if (u[n] != ':')
        return true;
    return (n == 4 && !strncasecmp(u, "http", 4)) || (n == 5 && !strncasecmp(u, "https", 5)) ||
           (n == 6 && !strncasecmp(u, "mailto", 6));
}

/* Moves node's children in front of it, then frees it. */
static void md_unwrap(cmark_node *node)
{
    cmark_node *c;
    while ((c = cmark_node_first_child(node)))
        cmark_node_insert_before(node, c);
    cmark_node_free(node);
}

static void md_replace_literal(cmark_node *node, cmark_node_type type)
{
    cmark_node *t = cmark_node_new(type);
    if (!t)
        return;
    const char *lit = cmark_node_get_literal(node);
    cmark_node_set_literal(t, lit ? lit : "");
    if (!cmark_node_insert_before(node, t)) {
        cmark_node_free(t);
        return;
    }
    cmark_node_free(node);
}

/* Raw HTML becomes visible text, unsafe links lose their link, images become
 * links to the image (no remote loads from a model's answer). */
static dx_status md_sanitize(cmark_node *doc)
{
    size_t n = 0, cap = 0;
    cmark_node **todo = NULL;
    cmark_iter *it = cmark_iter_new(doc);
    if (!it)
        return dx_fail(DX_ENOMEM, "pages: out of memory");
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev != CMARK_EVENT_ENTER)
            continue;
        cmark_node *node = cmark_iter_get_node(it);
        cmark_node_type t = cmark_node_get_type(node);
        if (t != CMARK_NODE_HTML_BLOCK && t != CMARK_NODE_HTML_INLINE && t != CMARK_NODE_LINK &&
            t != CMARK_NODE_IMAGE)
            continue;
        if (n == cap && arena_grow(NULL, &todo, n, &cap, sizeof *todo, 64)) {
            free(todo);
            cmark_iter_free(it);
            return dx_wrap(DX_ENOMEM, "pages");
        }
        todo[n++] = node;
    }
    cmark_iter_free(it);
    /* children before parents is not needed: each change keeps the others valid */
    for (size_t i = 0; i < n; i++) {
        cmark_node *node = todo[i];
        switch (cmark_node_get_type(node)) {
        case CMARK_NODE_HTML_BLOCK:
            md_replace_literal(node, CMARK_NODE_CODE_BLOCK);
            break;
        case CMARK_NODE_HTML_INLINE:
            md_replace_literal(node, CMARK_NODE_TEXT);
            break;
        case CMARK_NODE_LINK:
            if (!url_safe(cmark_node_get_url(node)))
                md_unwrap(node);
            break;
        case CMARK_NODE_IMAGE: {
            const char *url = cmark_node_get_url(node);
            cmark_node *link = url_safe(url) ? cmark_node_new(CMARK_NODE_LINK) : NULL;
            if (link && cmark_node_set_url(link, url) && cmark_node_insert_before(node, link)) {
                cmark_node *c;
                while ((c = cmark_node_first_child(node)))
                    cmark_node_append_child(link, c);
                if (!cmark_node_first_child(link)) {
                    cmark_node *t = cmark_node_new(CMARK_NODE_TEXT);
                    if (t &&
                        (!cmark_node_set_literal(t, "image") || !cmark_node_append_child(link, t)))
                        cmark_node_free(t);
                }
                cmark_node_free(node);
            } else {
                if (link) /* cmark_node_free(NULL) is not a no-op */
                    cmark_node_free(link);
                md_unwrap(node);
            }
            break;
        }
        default:
            break;
        }
    }
    free(todo);
    return DX_OK;
}

dx_status page_markdown(dx_buf *out, const char *md, size_t len)
{
    if (len > DX_PAGE_MAX_MARKDOWN) {
        /* cmark-gfm's inline parser is worse than quadratic on some text (1 MiB
         * of brackets and emphasis marks: over a minute of CPU per view), so a
         * longer answer is shown whole as plain text (docs/web.md) */
        w o = {.b = out};
        put(&o, "<p class=\"md-plain\">");
        escn(&o, md, len);
        put(&o, "</p>\n");
        return o.st;
    }
    dx_status st = DX_OK;
    char *html = NULL;
    pthread_once(&md_once, md_init);
    int opts = CMARK_OPT_VALIDATE_UTF8; /* not CMARK_OPT_UNSAFE: the renderer omits raw HTML too */
    cmark_parser *p = cmark_parser_new(opts);
    cmark_node *doc = NULL;
    if (!p)
        return dx_fail(DX_ENOMEM, "pages: out of memory");
    static const char *const exts[] = {"table", "strikethrough", "autolink"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
        if (e)
            cmark_parser_attach_syntax_extension(p, e);
    }
    cmark_parser_feed(p, md ? md : "", md ? len : 0);
    doc = cmark_parser_finish(p);
    if (!doc) {
        st = dx_fail(DX_ENOMEM, "pages: out of memory");
        goto out;
    }
    if ((st = md_sanitize(doc)))
        goto out;
    html = cmark_render_html(doc, opts, cmark_parser_get_syntax_extensions(p));
    if (!html) {
        st = dx_fail(DX_ENOMEM, "pages: out of memory");
        goto out;
    }
    st = dx_buf_puts(out, html);
out:
    free(html);
    cmark_node_free(doc);
    cmark_parser_free(p);
    return st;
}

static void md(w *o, const char *s)
{
    if (!o->st && s)
        o->st = page_markdown(o->b, s, strlen(s));
}

/* ---- words ---------------------------------------------------------------------- */

/* A word table: what the page says for each stored value. */
typedef struct {
    const char *key, *words;
} words;

static const char *words_for(const words *t, size_t n, const char *key, const char *none)
{
    for (size_t i = 0; i < n; i++)
        if (streq(key, t[i].key))
            return t[i].words;
    return none;
}
#define WORDS_FOR(table, key, none) words_for(table, sizeof table / sizeof *table, key, none)

static const words label_titles[] = {
    {"consensus", "Consensus"},   {"partial", "Partial agreement"},
    {"disagree", "Disagreement"}, {"single_voice", "Single voice"},
    {"no_answer", "No answer"},   {"no_common_ground", "No common ground"},
};

const char *page_label_title(const char *label)
{
    return WORDS_FOR(label_titles, label, NULL);
}

/* A stored question's status; QUESTION_STATUS_COUNT when absent or unknown. */
static question_status qstatus(json_t *q)
{
    question_status st = QUESTION_STATUS_COUNT;
    question_status_parse(json_string_value(json_object_get(q, "status")), &st);
    return st;
}

/* A known word for a CSS class, so no stored string ever lands in a class. */
static const char *status_key(const char *s)
{
    static const char *const known[] = {"queued",  "running",   "done",    "failed",
                                        "timeout", "cancelled", "refused", "interrupted"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (streq(s, known[i]))
            return known[i];
    return "unknown";
}

static const words status_phrases[] = {
    {"queued", "waiting"},  {"running", "answering"}, {"done", "done"},
    {"failed", "failed"},   {"timeout", "timed out"}, {"cancelled", "cancelled"},
    {"refused", "refused"},
};

static const char *status_words(const char *s)
{
    return WORDS_FOR(status_phrases, s, "unknown");
}

static void put_time(w *o, const char *iso)
{
    if (!iso || strlen(iso) < 16)
        return;
    put(o, "<time datetime=\"");
    esc(o, iso);
    put(o, "\">");
    escn(o, iso, 10);
    put(o, " ");
    escn(o, iso + 11, 5);
    if (iso[strlen(iso) - 1] == 'Z')
        put(o, " UTC");
    put(o, "</time>");
}

static void put_seconds(w *o, long long ms)
{
    if (ms < 1000)
        putf(o, "%lld ms", ms);
    else if (ms < 10000)
        putf(o, "%.1f s", (double)ms / 1000.0);
    else
        putf(o, "%lld s", (ms + 500) / 1000);
}

/* ---- who is looking --------------------------------------------------------------- */

/* The viewer of the pages rendered on this thread (page_viewer_set); NULL:
 * anonymous, and a question page offers re-run and delete as it always did. */
static _Thread_local const page_viewer *viewer;

void page_viewer_set(const page_viewer *v)
{
    viewer = v;
}

static const char *viewer_account(void)
{
    return viewer && viewer->account && *viewer->account ? viewer->account : NULL;
}

/* ---- page frame ----------------------------------------------------------------- */

static void put_token(w *o);

static void head(w *o, const char *title, bool refresh)
{
    put(o, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"color-scheme\" content=\"light dark\">\n"
           "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
    if (title && *title) {
        esc_trunc(o, title, 90);
        put(o, " \xE2\x80\x94 drux");
    } else {
        put(o, "drux");
    }
    put(o, "</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
           "<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\n"
           "<script src=\"/static/app.js\" defer></script>\n");
    if (refresh) /* without JavaScript a running question reloads until it is done */
        put(o, "<noscript><meta http-equiv=\"refresh\" content=\"4\"></noscript>\n");
    put(o,
        "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
        "<header class=\"top\">\n<a class=\"brand\" href=\"/\" aria-label=\"drux home\">drux</a>\n"
        "<nav aria-label=\"Main\"><a href=\"/\">New search</a> <a "
        "href=\"/history\">History</a></nav>\n");
    put(o, "<nav class=\"account\" aria-label=\"Account\">");
    if (viewer_account()) {
        put(o, "<a href=\"/settings\" class=\"who\" title=\"Settings\">");
        esc(o, viewer_account());
        put(o, "</a>");
        if (o->token) {
            put(o, " <form class=\"inline\" method=\"post\" action=\"/signout\">");
            put_token(o);
            put(o, "<button type=\"submit\" class=\"link\">Sign out</button></form>");
        }
    } else {
        put(o, "<a href=\"/signin\">Sign in</a>");
    }
    put(o, "</nav>\n</header>\n");
}

static void foot(w *o)
{
    put(o, "<footer class=\"foot\"><p>drux asks a council of language models and shows where they "
           "agree. Models make mistakes: check what matters.</p></footer>\n</body>\n</html>\n");
}

/* The form token field every POST form carries (the server refuses a form without it). */
static void put_token(w *o)
{
    if (!o->token)
        return;
    put(o, "<input type=\"hidden\" name=\"token\" value=\"");
    esc(o, o->token);
    put(o, "\">");
}

/* For an anonymous visitor of a server with premium members: what signing in adds. */
static void invitation(w *o)
{
    if (viewer_account() || !viewer || !viewer->premium)
        return;
    put(o,
        "<aside class=\"invite\" aria-label=\"Premium members\"><p><strong>Want GPT-5, Claude, "
        "Gemini &amp; more on the same question?</strong> <a href=\"/signin\">Sign in</a> free to "
        "run any question against frontier models \xE2\x80\x94 side by side, same synthesis, "
        "honest comparison.</p><p class=\"limit\">Free models only \xC2\xB7 sign in for "
        "premium</p></aside>\n");
}

/* A signed-in user's premium members to tick for this question (pm<index>),
 * their defaults ticked; pmsel says the form carries a choice. */
static void premium_choices(w *o, const char *legend)
{
    const page_premium *p = viewer && viewer_account() ? viewer->premium : NULL;
    if (!p || !p->n_members)
        return;
    put(o, "<fieldset class=\"premium\"><legend>");
    put(o, legend);
    put(o, "</legend><input type=\"hidden\" name=\"pmsel\" value=\"1\">\n");
    for (size_t i = 0; i < p->n_members; i++) {
        const page_member_choice *c = &p->members[i];
        putf(o, "<label><input type=\"checkbox\" name=\"pm%d\" value=\"1\"%s> ", c->index,
             c->chosen ? " checked" : "");
        esc(o, c->name);
        if (c->model && *c->model) {
            put(o, " <span class=\"m-model\">");
            esc(o, c->model);
            put(o, "</span>");
        }
        put(o, "</label>\n");
    }
    if (p->daily_limit >= 0)
        putf(o, "<p class=\"limit\">Premium calls today: %d of %d.</p>\n", p->used_today,
             p->daily_limit);
    put(o, "</fieldset>\n");
}

static void ask_form(w *o, const char *id, bool autofocus)
{
    put(o, "<form class=\"ask\" method=\"post\" action=\"/ask\" role=\"search\">\n");
    put_token(o);
    put(o, "<label for=\"");
    put(o, id);
    put(o, "\">Ask the council</label>\n<div class=\"ask-row\"><textarea id=\"");
    put(o, id);
    putf(o,
         "\" name=\"q\" rows=\"2\" required maxlength=\"%u\" data-max-chars=\"%u\" "
         "aria-describedby=\"%s-limit\" placeholder=\"Ask a question\"%s></textarea>\n",
         (unsigned)DX_MAX_QUESTION_CHARS, (unsigned)DX_MAX_QUESTION_CHARS, id,
         autofocus ? " autofocus" : "");
    put(o, "<button type=\"submit\">Ask</button></div>\n");
    /* the limit, said before sending; the script counts down to it */
    putf(o, "<p class=\"limit\" id=\"%s-limit\">Up to %u characters.</p>\n", id,
         (unsigned)DX_MAX_QUESTION_CHARS);
    premium_choices(o, "Premium members for this question");
    put(o, "</form>\n");
    invitation(o);
}

/* "Consensus 89%", "Single voice", "answering…": one short badge for a list
 * row. A list item carries the analysis' label and consensus at the top
 * level (the store copies them from the object); a whole stored question has
 * them under result.analysis. */
static void put_badge(w *o, json_t *q)
{
    json_t *r = jo(q, "result");
    json_t *an = r ? jo(r, "analysis") : q;
    question_status status = qstatus(q);
    const char *title = page_label_title(js(an, "label"));
    if (an && title) {
        put(o, "<span class=\"badge lbl-");
        put(o, js(an, "label"));
        put(o, "\">");
        put(o, title);
        json_t *c = json_object_get(an, "consensus");
        if (json_is_integer(c))
            putf(o, " %lld%%", (long long)json_integer_value(c));
        put(o, "</span>");
    } else if (status == QUESTION_RUNNING) {
        put(o, "<span class=\"badge st-running\">answering\xE2\x80\xA6</span>");
    } else {
        put(o, "<span class=\"badge st-");
        put(o, status_key(js(q, "status")));
        put(o, "\">");
        put(o, status == QUESTION_INTERRUPTED ? "interrupted"
               : status == QUESTION_FAILED    ? "failed"
                                              : "no result");
        put(o, "</span>");
    }
}

static void question_list(w *o, json_t *items, bool with_delete)
{
    put(o, "<ul class=\"qlist\">\n");
    size_t i;
    json_t *q;
    json_array_foreach(items, i, q)
    {
        if (!json_is_object(q))
            continue;
        const char *id = js(q, "id");
        if (!id)
            continue;
        put(o, "<li><a class=\"qlink\" href=\"/q/");
        put_id_url(o, id);
        put(o, "\">");
        const char *text = js(q, "question");
        esc_trunc(o, text && *text ? text : "(no question)", 300);
        put(o, "</a>\n<span class=\"meta\">");
        if (ji(q, "turn", 1) > 1)
            put(o, "<span class=\"badge turn\">follow-up</span> ");
        put_badge(o, q);
        put(o, " ");
        put_time(o, js(q, "created_at"));
        put(o, "</span>");
        if (with_delete) {
            put(o, "\n<form class=\"del\" method=\"post\" action=\"/q/");
            put_id_url(o, id);
            put(o, "/delete\">");
            put_token(o);
            put(o, "<button type=\"submit\" class=\"link danger\" aria-label=\"Delete: ");
            esc_trunc(o, text, 120);
            put(o, "\">Delete</button></form>");
        }
        put(o, "</li>\n");
    }
    put(o, "</ul>\n");
}

/* ---- home, history, error -------------------------------------------------------- */

static const char *const default_examples[] = {
    "Why is the sky blue?",
    "What is the capital of Australia?",
    "How many moons does Mars have?",
    "Can I use SQLite in a commercial product?",
};

static void example_form(w *o, const char *text)
{
    put(o, "<li><form method=\"post\" action=\"/ask\">");
    put_token(o);
    put(o, "<input type=\"hidden\" name=\"q\" value=\"");
    esc(o, text);
    put(o, "\"><button type=\"submit\" class=\"chip\">");
    esc(o, text);
    put(o, "</button></form></li>\n");
}

dx_status page_home(dx_buf *out, json_t *recent, json_t *examples, const char *form_token)
{
    w o = {out, DX_OK, form_token};
    head(&o, NULL, false);
    put(&o,
        "<main id=\"main\" class=\"home\">\n<h1>Ask once, hear the council</h1>\n"
        "<p class=\"lede\">Your question goes to several language models at once; drux shows where "
        "they agree, where they differ, and one answer built from what they share.</p>\n");
    ask_form(&o, "q", true);
    put(&o, "<section aria-labelledby=\"ex-h\">\n<h2 id=\"ex-h\">Try an example</h2>\n<ul "
            "class=\"chips\">\n");
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(examples, i, e)
    {
        if (json_is_string(e) && json_string_length(e)) {
            example_form(&o, json_string_value(e));
            n++;
        }
    }
    for (i = 0; n == 0 && i < sizeof default_examples / sizeof *default_examples; i++)
        example_form(&o, default_examples[i]);
    put(&o, "</ul>\n</section>\n");
    put(&o, "<section aria-labelledby=\"recent-h\">\n<h2 id=\"recent-h\">Recent questions</h2>\n");
    if (json_array_size(recent)) {
        question_list(&o, recent, false);
        put(&o, "<p><a href=\"/history\">All questions</a></p>\n");
    } else {
        put(&o, "<p class=\"empty\">No questions yet. Ask one above.</p>\n");
    }
    put(&o, "</section>\n</main>\n");
    foot(&o);
    return o.st;
}

dx_status page_history(dx_buf *out, json_t *items, const char *query, const char *before, bool more,
                       const char *form_token)
{
    w o = {out, DX_OK, form_token};
    bool searching = query && *query;
    head(&o, "History", false);
    put(&o, viewer_account() ? "<main id=\"main\" class=\"history\">\n<h1>Your questions</h1>\n"
                             : "<main id=\"main\" class=\"history\">\n<h1>History</h1>\n");
    put(&o, "<form class=\"search\" method=\"get\" action=\"/history\" role=\"search\">\n"
            "<label for=\"hq\">Search your questions</label>\n<div class=\"ask-row\">"
            "<input type=\"search\" id=\"hq\" name=\"q\" value=\"");
    esc(&o, query);
    put(&o, "\"><button type=\"submit\">Search</button></div>\n</form>\n");
    size_t n = json_array_size(items);
    if (searching) {
        put(&o, "<p class=\"count\" role=\"status\">");
        putf(&o, "%zu question%s matching \xE2\x80\x9C", n, n == 1 ? "" : "s");
        esc(&o, query);
        put(&o, more || before ? "\xE2\x80\x9D on this page" : "\xE2\x80\x9D");
        put(&o, " \xC2\xB7 <a href=\"/history\">show all</a></p>\n");
    }
    if (n)
        question_list(&o, items, true);
    else if (!searching && !before)
        put(&o, "<p class=\"empty\">No questions yet. <a href=\"/\">Ask one</a>.</p>\n");
    else if (!searching)
        put(&o, "<p class=\"empty\">No older questions.</p>\n");
    if (before ||
        (more && n)) { /* pages: newest first, "older" continues after the last one shown */
        put(&o, "<nav class=\"pages\" aria-label=\"History pages\"><p>");
        if (before) {
            put(&o, "<a href=\"/history");
            if (searching) {
                put(&o, "?q=");
                put_id_url(&o, query);
            }
            put(&o, "\">Newest questions</a>");
        }
        if (more && n) {
            put(&o, before ? " \xC2\xB7 " : "");
            put(&o, "<a rel=\"next\" href=\"/history?before=");
            put_id_url(&o, json_string_value(json_object_get(json_array_get(items, n - 1), "id")));
            if (searching) {
                put(&o, "&amp;q=");
                put_id_url(&o, query);
            }
            put(&o, "\">Older questions</a>");
        }
        put(&o, "</p></nav>\n");
    }
    put(&o, "</main>\n");
    foot(&o);
    return o.st;
}

static const char *reason(int code)
{
    switch (code) {
    case 400:
        return "Bad request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Too large";
    case 429:
        return "Too many requests";
    case 500:
        return "Server error";
    case 503:
        return "Unavailable";
    default:
        return code >= 500 ? "Server error" : "Error";
    }
}

dx_status page_error(dx_buf *out, int http_status, const char *message)
{
    w o = {out, DX_OK, NULL};
    char title[64];
    snprintf(title, sizeof title, "%d %s", http_status, reason(http_status));
    head(&o, title, false);
    put(&o, "<main id=\"main\" class=\"error\">\n<h1>");
    esc(&o, title);
    put(&o, "</h1>\n<p class=\"msg\">");
    esc(&o, message && *message ? message : "Something went wrong.");
    put(&o, "</p>\n<p><a href=\"/\">New search</a> \xC2\xB7 <a "
            "href=\"/history\">History</a></p>\n</main>\n");
    foot(&o);
    return o.st;
}

/* ---- the question page ------------------------------------------------------------ */

typedef struct counts {
    size_t total, by[8]; /* indexes as status_order */
} counts;

static const char *const status_order[] = {"done",    "running", "queued",    "failed",
                                           "timeout", "refused", "cancelled", "unknown"};

static counts count_members(json_t *members)
{
    counts c = {0};
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        const char *k = status_key(js(m, "status"));
        size_t s = 7;
        for (size_t j = 0; j < 7; j++)
            if (!strcmp(k, status_order[j]))
                s = j;
        c.by[s]++;
        c.total++;
    }
    return c;
}

/* "3 models · complete — 1 done, 1 timed out, 1 failed": every number from members[]. */
static void progress(w *o, json_t *q, json_t *members, bool finished)
{
    counts c = count_members(members);
    question_status status = qstatus(q);
    put(o, "<p class=\"summary\" id=\"progress\" role=\"status\" aria-live=\"polite\">");
    putf(o, "<strong>%zu model%s</strong> \xC2\xB7 ", c.total, c.total == 1 ? "" : "s");
    if (finished)
        put(o, "complete");
    else if (status == QUESTION_INTERRUPTED)
        put(o, "interrupted");
    else if (status == QUESTION_FAILED)
        put(o, "stopped");
    else if (status == QUESTION_QUEUED)
        put(o, "waiting for a free slot\xE2\x80\xA6");
    else if (c.total && c.by[1] + c.by[2] == 0)
        put(o, "analysing the answers\xE2\x80\xA6");
    else
        put(o, "answering\xE2\x80\xA6");
    bool first = true;
    for (size_t j = 0; j < 8; j++) {
        if (!c.by[j])
            continue;
        putf(o, "%s%zu %s", first ? " \xE2\x80\x94 " : ", ", c.by[j],
             status_words(status_order[j]));
        first = false;
    }
    put(o, "</p>\n");
}

/* "2.1 s · 48 tokens · 26.7 tok/s · first token 0.3 s": each stat kept whole
 * (it never wraps inside), tok/s over the time after the first token. */
static void member_stats(w *o, json_t *m, long long lat, long long tok, long long ttft,
                         bool running)
{
    put(o, " <span class=\"m-stats\">"); /* the dots between stats come from the CSS */
    if (lat > 0 && !running) {
        put(o, "<span class=\"stat\">");
        put_seconds(o, lat);
        put(o, "</span>");
    }
    if (tok > 0) {
        putf(o, "<span class=\"stat\"><span class=\"m-tokens\">%lld</span> token%s</span>", tok,
             tok == 1 ? "" : "s");
        long long gen_ms = lat > ttft && ttft > 0 ? lat - ttft : lat;
        if (!running && gen_ms > 0)
            putf(o, "<span class=\"stat m-rate\">%.1f tok/s</span>",
                 (double)tok * 1000.0 / (double)gen_ms);
    }
    if (ttft > 0) {
        put(o, "<span class=\"stat\">first token ");
        put_seconds(o, ttft);
        put(o, "</span>");
    }
    json_t *cost = json_object_get(m, "cost_usd");
    if (json_is_number(cost) && json_number_value(cost) > 0 && !running)
        putf(o, "<span class=\"stat m-cost\">~$%.4f</span>", json_number_value(cost));
    put(o, "</span>");
}

static void member_card(w *o, json_t *m, size_t index, bool live, bool analysed)
{
    const char *status = js(m, "status");
    const char *key = status_key(status);
    const char *name = js(m, "name");
    const char *model = js(m, "model");
    const char *text = js(m, "text");
    const char *error = js(m, "error");
    long long lat = ji(m, "latency_ms", 0), tok = ji(m, "tokens", 0), ttft = ji(m, "ttft_ms", 0);
    bool running = streq(key, "running") || streq(key, "queued");
    (void)live; /* every card open: the answers read side by side (stacked on a phone) */
    putf(o, "<li><details class=\"member st-%s\" id=\"m-%zu\" data-index=\"%zu\" data-name=\"", key,
         index, index);
    esc(o, name && *name ? name : model);
    put(o, "\" open>\n<summary>");
    put(o, "<span class=\"m-name\">");
    esc(o, name && *name ? name : model);
    put(o, "</span>");
    if (model && name && strcmp(model, name)) {
        /* a model given as a file path shows its file name only: no path on a page */
        const char *base = strrchr(model, '/');
        if (base && base[1])
            model = base + 1;
        put(o, " <span class=\"m-model\">");
        esc(o, model);
        put(o, "</span>");
    }
    if (streq(js(m, "tier"), "premium"))
        put(o, " <span class=\"m-tier badge\">premium</span>");
    else if (streq(js(m, "tier"), "free"))
        put(o, " <span class=\"m-tier badge free\">free</span>");
    put(o, " <span class=\"m-status badge st-");
    put(o, key);
    put(o, "\">");
    put(o, status_words(key));
    put(o, "</span>");
    member_stats(o, m, lat, tok, ttft, running);
    json_t *usable = json_object_get(m, "usable");
    if (analysed && streq(key, "done") && json_is_false(usable))
        put(o, " <span class=\"badge st-unused\">not counted</span>");
    if (error && *error && !streq(key, "done")) {
        put(o, " <span class=\"m-why\">");
        esc_trunc(o, error, 100);
        put(o, "</span>");
    }
    put(o, "</summary>\n<div class=\"m-body\">\n");
    if (error && *error) {
        put(o, "<p class=\"m-error\">");
        esc(o, error);
        put(o, "</p>\n");
    }
    if (running) {
        /* the script appends streamed text here as plain text */
        put(o, "<div class=\"m-text live\">");
        esc(o, text);
        put(o, "</div>\n");
    } else if (text && *text) {
        put(o, "<div class=\"m-text md\">");
        md(o, text);
        put(o, "</div>\n");
    } else {
        put(o, "<p class=\"m-none\">No answer text.</p>\n");
    }
    put(o, "</div>\n</details></li>\n");
}

static void members_section(w *o, json_t *members, bool live, bool analysed)
{
    put(o, "<section class=\"members\" aria-labelledby=\"members-h\">\n"
           "<h2 id=\"members-h\">Each model\xE2\x80\x99s answer</h2>\n<ul class=\"cards\">\n");
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) member_card(o, m, i, live, analysed);
    put(o, "</ul>\n</section>\n");
}

static void name_list(w *o, json_t *names)
{
    size_t i, n = json_array_size(names);
    json_t *s;
    json_array_foreach(names, i, s)
    {
        if (i)
            put(o, i + 1 == n ? " and " : ", ");
        esc(o, json_string_value(s));
    }
}

static void verdict(w *o, json_t *r)
{
    json_t *an = jo(r, "analysis");
    const char *label = js(an, "label");
    const char *title = page_label_title(label);
    json_t *cons = json_object_get(an, "consensus");
    long long usable = ji(an, "usable", 0);
    put(o, "<section class=\"verdict lbl-");
    put(o, title ? label : "unknown");
    put(o, "\" aria-labelledby=\"verdict-h\">\n<h2 id=\"verdict-h\"><span class=\"label\">");
    put(o, title ? title : "Not analysed");
    put(o, "</span>");
    if (json_is_integer(cons)) {
        long long pct = json_integer_value(cons);
        if (pct < 0)
            pct = 0;
        if (pct > 100)
            pct = 100;
        putf(o, " <span class=\"pct\">%lld%%</span></h2>\n", pct);
        putf(o,
             "<meter class=\"meter\" min=\"0\" max=\"100\" low=\"35\" high=\"70\" optimum=\"100\" "
             "value=\"%lld\" aria-hidden=\"true\">%lld%%</meter>\n",
             pct, pct); /* the heading says the percentage: read once, not twice */
        putf(
            o,
            "<p class=\"explain\">%lld%% is how much of what the models said is backed by the "
            "others: "
            "a point counts by the share of models that made it, a disputed point only for a clear "
            "majority, and a point only one model made lowers it a little. From %lld usable "
            "answers, "
            "compared by ",
            pct, usable);
        esc(o, js(an, "method") ? js(an, "method") : "lexical");
        put(o, " matching.</p>\n");
    } else {
        put(o, " <span class=\"pct none\">consensus not measurable</span></h2>\n");
        putf(o,
             "<p class=\"explain\">A consensus percentage needs at least two usable answers; "
             "this question has %lld.</p>\n",
             usable);
    }
    json_t *members = ja(r, "members");
    if (streq(label, "single_voice")) {
        put(o, "<div class=\"banner single\" role=\"note\"><strong>Only one model gave a usable "
               "answer");
        size_t i;
        json_t *m;
        bool first = true;
        json_array_foreach(members, i, m)
        {
            if (!json_is_true(json_object_get(m, "usable")))
                continue;
            put(o, first ? ": " : ", ");
            esc(o, js(m, "name"));
            first = false;
        }
        put(o, ".</strong> Its answer is shown as it is: no other model checked it, so there is no "
               "agreement to measure.</div>\n");
    } else if (streq(label, "no_common_ground")) {
        put(o, "<div class=\"banner none\" role=\"note\"><strong>The answers have nothing in "
               "common.</strong> They neither agree nor contradict each other on any point: this "
               "is not disagreement.</div>\n");
    } else if (streq(label, "no_answer")) {
        put(o, "<div class=\"banner none\" role=\"note\"><strong>No model gave a usable "
               "answer.</strong> "
               "Each model\xE2\x80\x99s status and error are below.</div>\n");
    }
    size_t i;
    json_t *sm;
    json_array_foreach(ja(an, "shared_models"), i, sm)
    {
        put(o, "<p class=\"note\">");
        name_list(o, ja(sm, "members"));
        put(o, " are the same model (");
        esc(o, js(sm, "model"));
        put(o, "); their voices count with reduced weight.</p>\n");
    }
    put(o, "</section>\n");
}

static void answer_section(w *o, json_t *r)
{
    const char *answer = js(r, "answer");
    if (!answer)
        return;
    const char *src = js(jo(r, "sources"), "answer"), *kind = js(r, "answer_kind");
    put(o,
        "<section class=\"answer\" aria-labelledby=\"answer-h\">\n<h2 id=\"answer-h\">Answer</h2>\n"
        "<div class=\"md\">");
    md(o, answer);
    put(o, "</div>\n");
    if (streq(kind, "synthesized") || (!kind && streq(src, "model")))
        put(o, "<p class=\"source\" data-kind=\"synthesized\">Written by the synthesizer model "
               "from the council\xE2\x80\x99s answers, and checked against them.</p>\n");
    else if (streq(kind, "single_voice") ||
             (streq(src, "extractive") && streq(js(jo(r, "analysis"), "label"), "single_voice")))
        put(o, "<p class=\"source\" data-kind=\"single_voice\">This is the one usable answer, "
               "exactly as its model wrote it.</p>\n");
    else if (streq(kind, "strongest")) {
        put(o, "<p class=\"source\" data-kind=\"strongest\">This is the answer of ");
        esc(o, js(r, "answer_member") ? js(r, "answer_member") : "the strongest member");
        put(o, ", the council\xE2\x80\x99s most accurate member when measured, exactly as it "
               "wrote it: the members agree on nothing, or on this direct answer. What the others "
               "dispute is flagged below it.</p>\n");
    } else if (streq(kind, "extractive") && js(r, "answer_check")) {
        put(o,
            "<p class=\"source\" data-kind=\"extractive\">The written answer failed the check (");
        esc(o, js(r, "answer_check"));
        put(o, "): this answer is put together from the models\xE2\x80\x99 own points.</p>\n");
    } else if (streq(src, "extractive"))
        put(o, "<p class=\"source\">No synthesizer model was available: this answer is put "
               "together from "
               "the models\xE2\x80\x99 own points.</p>\n");
    put(o, "</section>\n");
}

/* A point's text. With evidence (the spans of the members' answers that
 * made it: [{member, text}]) it is a button that marks them in the answers
 * below (the script does; without it the point reads as text). */
static void put_point(w *o, json_t *p)
{
    json_t *ev = ja(p, "evidence");
    char *evj = json_array_size(ev) ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (evj) {
        put(o, "<button type=\"button\" class=\"pt evid\" aria-pressed=\"false\" "
               "data-evidence=\"");
        esc(o, evj);
        put(o, "\">");
        esc(o, js(p, "text"));
        put(o, "</button>");
        free(evj);
        return;
    }
    put(o, "<span class=\"pt\">");
    esc(o, js(p, "text"));
    put(o, "</span>");
}

static void points_sections(w *o, json_t *r)
{
    json_t *an = jo(r, "analysis");
    json_t *agreed = ja(an, "agreed"), *disputed = ja(an, "disputed"), *unique = ja(an, "unique");
    long long usable = ji(an, "usable", 0);
    size_t i, k;
    json_t *p, *s;
    if (json_array_size(agreed)) {
        putf(o,
             "<section class=\"points agreed\" aria-labelledby=\"agreed-h\">\n"
             "<h2 id=\"agreed-h\">Agreed points <span class=\"n\">%zu</span></h2>\n<ul>\n",
             json_array_size(agreed));
        json_array_foreach(agreed, i, p)
        {
            put(o, "<li>");
            put_point(o, p);
            putf(o, " <span class=\"who\">%zu of %lld: ", json_array_size(ja(p, "members")),
                 usable);
            name_list(o, ja(p, "members"));
            put(o, "</span></li>\n");
        }
        put(o, "</ul>\n</section>\n");
    }
    if (json_array_size(disputed)) {
        putf(o,
             "<section class=\"points disputed\" aria-labelledby=\"disputed-h\">\n"
             "<h2 id=\"disputed-h\">Disputed points <span class=\"n\">%zu</span></h2>\n<ul>\n",
             json_array_size(disputed));
        json_array_foreach(disputed, i, p)
        {
            put(o, "<li>");
            put_point(o, p);
            put(o, "\n<ul class=\"stances\">\n");
            json_array_foreach(ja(p, "stances"), k, s)
            {
                long long pos = ji(s, "position", 0);
                if (pos < 0 || pos > 25)
                    pos = 25;
                putf(o, "<li class=\"side side-%lld\"><span class=\"pos\">side %c</span> <strong>",
                     pos < 4 ? pos : 4, (char)('A' + pos));
                esc(o, js(s, "member"));
                put(o, "</strong>: ");
                esc(o, js(s, "text"));
                put(o, "</li>\n");
            }
            put(o, "</ul></li>\n");
        }
        put(o, "</ul>\n</section>\n");
    }
    if (json_array_size(unique)) {
        putf(o,
             "<section class=\"points unique\" aria-labelledby=\"unique-h\">\n"
             "<details%s><summary><h2 id=\"unique-h\">Said by one model only <span "
             "class=\"n\">%zu</span>"
             "</h2></summary>\n<ul>\n",
             /* open when they are all there is: they are why the number is what it is */
             json_array_size(agreed) + json_array_size(disputed) ? "" : " open",
             json_array_size(unique));
        json_array_foreach(unique, i, p)
        {
            put(o, "<li>");
            put_point(o, p);
            put(o, " <span class=\"who\">");
            esc(o, js(p, "member"));
            put(o, "</span></li>\n");
        }
        put(o, "</ul>\n</details>\n</section>\n");
    }
}

/* Suggested follow-ups: each continues the thread (a follow-up on the
 * current turn, id). */
static void followups(w *o, json_t *r, const char *id)
{
    json_t *fu = ja(r, "followups");
    if (!json_array_size(fu))
        return;
    put(o, "<section class=\"followups\" aria-labelledby=\"fu-h\">\n<h2 id=\"fu-h\">Follow-up "
           "questions</h2>\n"
           "<ul>\n");
    size_t i;
    json_t *f;
    json_array_foreach(fu, i, f)
    {
        if (!json_is_string(f))
            continue;
        put(o, "<li><form method=\"post\" action=\"/q/");
        put_id_url(o, id);
        put(o, "/followup\">");
        put_token(o);
        put(o, "<input type=\"hidden\" name=\"q\" value=\"");
        esc(o, json_string_value(f));
        put(o, "\"><button type=\"submit\" class=\"followup\">");
        esc(o, json_string_value(f));
        put(o, "</button></form></li>\n");
    }
    put(o, "</ul>\n</section>\n");
}

/* Typing a follow-up under the answer: the next turn of the thread. */
static void followup_form(w *o, const char *id)
{
    put(o, "<form class=\"ask followup-ask\" method=\"post\" action=\"/q/");
    put_id_url(o, id);
    put(o, "/followup\">\n");
    put_token(o);
    putf(o,
         "<label for=\"fq\">Ask a follow-up</label>\n<div class=\"ask-row\"><textarea id=\"fq\" "
         "name=\"q\" rows=\"2\" required maxlength=\"%u\" data-max-chars=\"%u\" "
         "aria-describedby=\"fq-limit\" placeholder=\"Continue this thread\"></textarea>\n"
         "<button type=\"submit\">Ask</button></div>\n"
         "<p class=\"limit\" id=\"fq-limit\">The council answers with this thread so far as "
         "context. Up to %u characters.</p>\n</form>\n",
         (unsigned)DX_MAX_QUESTION_CHARS, (unsigned)DX_MAX_QUESTION_CHARS,
         (unsigned)DX_MAX_QUESTION_CHARS);
}

/* The delete button of one turn: it takes the later turns with it, which
 * the confirmation says (data-later for the script's dialog; without
 * script the server asks on a page of its own). */
static void delete_form(w *o, const char *id, size_t later, const char *button_class)
{
    put(o, "<form class=\"del\" method=\"post\" action=\"/q/");
    put_id_url(o, id);
    putf(o, "/delete\" data-later=\"%zu\">", later);
    put_token(o);
    put(o, "<button type=\"submit\" class=\"");
    put(o, button_class);
    put(o, "\">");
    put(o, later ? "Delete this and later questions" : "Delete");
    put(o, "</button></form>");
}

/* The share token a link must carry for this viewer: the owner's (to hand
 * out) or the one the page was opened with; NULL for an anonymous thread. */
static const char *share_token(void)
{
    if (viewer && viewer->share && *viewer->share)
        return viewer->share;
    if (viewer && viewer->via_share && *viewer->via_share)
        return viewer->via_share;
    return NULL;
}

/* The thread's link; an owned thread's carries its share token (s=), so
 * whoever is given it can read it. A thread has one link: its first
 * question's. */
static void put_share_url(w *o, const char *thread)
{
    put(o, "/q/");
    put_id_url(o, thread);
    if (viewer && viewer->share && *viewer->share) {
        put(o, "?s=");
        put_id_url(o, viewer->share);
    }
}

/* May the viewer change the thread (follow up, re-run, delete)? */
static bool viewer_may_change(void)
{
    return !viewer || viewer->can_change;
}

static void export_link(w *o, const char *thread, const char *what)
{
    put(o, "<a href=\"/api/v1/threads/");
    put_id_url(o, thread);
    put(o, what);
    if (share_token()) {
        put(o, "?s=");
        put_id_url(o, share_token());
    }
    put(o, "\" download>");
}

static void actions(w *o, const char *id, const char *thread, size_t n_turns,
                    bool finished_or_stopped)
{
    bool shared = viewer && viewer->share && *viewer->share;
    put(o, "<section class=\"actions\" aria-label=\"Actions\">\n<p class=\"share\"><a "
           "class=\"permalink\" href=\"");
    put_share_url(o, thread);
    put(o, shared        ? (n_turns > 1 ? "\">Share link (whoever has it can read this thread)</a>"
                                        : "\">Share link (whoever has it can read this question)</a>")
           : n_turns > 1 ? "\">Link to this thread</a>"
                         : "\">Link to this question</a>");
    put(o, " <button type=\"button\" class=\"copy\" data-copy=\"");
    put_share_url(o, thread);
    put(o, "\" hidden>Copy link</button> <span class=\"export\">Download: ");
    export_link(o, thread, "/export.md");
    put(o, "Markdown</a> \xC2\xB7 ");
    export_link(o, thread, "/export.json");
    put(o, "JSON</a></span></p>\n<div class=\"buttons\"><a "
           "class=\"button\" href=\"/\">New search</a>");
    if (finished_or_stopped && viewer_may_change()) {
        put(o, "\n<form method=\"post\" action=\"/q/");
        put_id_url(o, id);
        put(o, "/rerun\">");
        put_token(o);
        put(o, "<button type=\"submit\" class=\"secondary\">Ask again</button></form>\n");
        delete_form(o, id, 0, "secondary danger");
    }
    put(o, "</div>\n</section>\n");
}

/* What each member was given of the thread: said when a member got less
 * than all earlier turns (its context window is smaller than the thread). */
static void context_note(w *o, json_t *q)
{
    long long turn = ji(q, "turn", 1);
    if (turn <= 1)
        return;
    json_t *members = ja(q, "members");
    size_t i;
    json_t *m;
    bool trimmed = false;
    json_array_foreach(members, i, m) trimmed |= ji(m, "context_dropped", 0) > 0;
    if (!trimmed) {
        put(o, "<p class=\"note context\">Asked with the earlier questions of this thread and the "
               "council\xE2\x80\x99s answers to them as context.</p>\n");
        return;
    }
    put(o, "<div class=\"banner trimmed\" role=\"note\"><strong>The thread is longer than some "
           "models can read.</strong> To fit their context, the oldest turns were left out: ");
    bool first = true;
    json_array_foreach(members, i, m)
    {
        long long used = ji(m, "context_turns", 0), dropped = ji(m, "context_dropped", 0);
        if (dropped <= 0)
            continue;
        put(o, first ? "" : "; ");
        esc(o, js(m, "name"));
        if (used)
            putf(o, " read the last %lld of %lld earlier turns", used, used + dropped);
        else
            putf(o, " read none of the %lld earlier turn%s", dropped, dropped == 1 ? "" : "s");
        first = false;
    }
    put(o, ".</div>\n");
}

/* One turn of the thread: its question, state, analysis and answers. The
 * current (last) turn is the live one; earlier turns are written with their
 * element ids prefixed by the caller. */
static void turn_body(w *o, json_t *q, bool current, bool first_turn)
{
    json_t *r = jo(q, "result");
    question_status status = qstatus(q);
    bool finished = r != NULL;
    bool running = !finished && (status == QUESTION_RUNNING || status == QUESTION_QUEUED);
    json_t *members = finished ? ja(r, "members") : ja(q, "members");
    const char *question = finished && js(r, "question") ? js(r, "question") : js(q, "question");
    put(o, "<header class=\"qhead\">\n");
    const char *cat = finished ? js(r, "category") : NULL;
    if (cat) {
        put(o, "<p class=\"tag\"><span class=\"vh\">Category: </span>");
        esc(o, cat);
        put(o, "</p>\n");
    }
    put(o, first_turn ? "<h1 class=\"q\" id=\"qh\">" : "<h2 class=\"q\" id=\"qh\">");
    esc(o, question && *question ? question : "(no question)");
    put(o, first_turn ? "</h1>\n" : "</h2>\n");
    put(o, "<p class=\"when\">Asked ");
    put_time(o, js(q, "created_at"));
    put(o, "</p>\n");
    progress(o, q, members, finished);
    if (running && status == QUESTION_QUEUED)
        put(o, "<p class=\"phase\" id=\"phase\">Waiting for a free slot: other questions are "
               "being answered. This page updates when the models start.</p>\n");
    else if (running)
        put(o, "<p class=\"phase\" id=\"phase\">The models are answering; this page updates as "
               "they do.</p>\n");
    put(o, "</header>\n");
    context_note(o, q);

    if (finished) {
        verdict(o, r);
        answer_section(o, r);
        points_sections(o, r);
        if (current && viewer_may_change())
            followups(o, r, js(q, "id"));
    } else if (status == QUESTION_INTERRUPTED) {
        put(o, "<div class=\"banner stopped\" role=\"note\"><strong>This question was "
               "interrupted</strong> "
               "before the council finished (the server stopped). What the models had written is "
               "below; "
               "nothing was analysed. Ask again to get a full answer.</div>\n");
    } else if (status == QUESTION_FAILED) {
        put(o,
            "<div class=\"banner stopped\" role=\"alert\"><strong>This question failed:</strong> ");
        esc(o, js(q, "error") ? js(q, "error") : "no reason was recorded.");
        put(o, "</div>\n");
    } else if (!running) {
        put(o, "<div class=\"banner stopped\" role=\"note\">No analysis was stored for this "
               "question.</div>\n");
    }
    members_section(o, members, running, finished);
}

/* Copies html into o with every id and aria-labelledby/-describedby
 * reference prefixed by pfx: an earlier turn's elements stay unique on the
 * page. Model text in html is escaped (no raw quote), so only the page's own
 * attributes match. */
static void put_prefixed_ids(w *o, const char *html, size_t len, const char *pfx)
{
    static const char *const attrs[] = {" id=\"", " aria-labelledby=\"", " aria-describedby=\"",
                                        " for=\""};
    size_t i = 0, from = 0;
    while (i < len) {
        size_t hit = 0;
        for (size_t k = 0; k < sizeof attrs / sizeof *attrs && !hit; k++) {
            size_t an = strlen(attrs[k]);
            if (len - i >= an && !memcmp(html + i, attrs[k], an))
                hit = an;
        }
        if (!hit) {
            i++;
            continue;
        }
        putn(o, html + from, i + hit - from);
        put(o, pfx);
        i += hit;
        from = i;
    }
    putn(o, html + from, len - from);
}

/* The page's <main>: the data attributes the script reads (the turn shown,
 * its thread, how many turns, its status, and while it runs where its events
 * are), up to the end of the tag. */
static void main_open(w *o, const char *id, const char *thread, size_t n, bool finished,
                      question_status status, bool running)
{
    put(o, "<main id=\"main\" class=\"qpage\" data-id=\"");
    esc(o, id);
    put(o, "\" data-thread=\"");
    esc(o, thread);
    putf(o, "\" data-turns=\"%zu", n);
    put(o, "\" data-status=\"");
    put(o, finished                         ? "done"
           : status < QUESTION_STATUS_COUNT ? question_status_str(status)
                                            : "unknown");
    const char *via = viewer && viewer->via_share ? viewer->via_share : NULL;
    if (running) {
        put(o, "\" data-events=\"/api/v1/questions/");
        put_id_url(o, id);
        put(o, "/events");
        if (via) {
            put(o, "?s=");
            put_id_url(o, via);
        }
    }
    /* the script swaps in the page again as rendered here once the turn ends */
    put(o, "\" data-fragment=\"/q/");
    put_id_url(o, id);
    put(o, "?fragment=1");
    if (via) {
        put(o, "&amp;s=");
        put_id_url(o, via);
    }
    put(o, "\">\n");
}

/* An earlier turn of the thread, its ids prefixed "tN-" so they stay unique
 * on the page; its delete form ends the thread there (later turns left). */
static void earlier_turn(w *o, json_t *t, size_t i, size_t n)
{
    long long tn = ji(t, "turn", (long long)i + 1);
    putf(o, "<article class=\"turn\" id=\"t-%lld\" aria-labelledby=\"t%lld-qh\">\n", tn, tn);
    dx_buf tb = dx_buf_make(DX_PAGE_MAX_BYTES);
    w to = {&tb, DX_OK, o->token};
    turn_body(&to, t, false, i == 0);
    if (viewer_may_change()) {
        put(&to, "<div class=\"turn-actions\">");
        delete_form(&to, js(t, "id"), n - 1 - i, "link danger");
        put(&to, "</div>\n");
    }
    char pfx[32];
    snprintf(pfx, sizeof pfx, "t%lld-", tn);
    if (to.st)
        o->st = to.st;
    else
        put_prefixed_ids(o, tb.data ? tb.data : "", tb.len, pfx);
    dx_buf_free(&tb);
    put(o, "</article>\n");
}

dx_status page_thread(dx_buf *out, json_t *turns, bool fragment, const char *form_token)
{
    w o = {out, DX_OK, form_token};
    json_t *none = NULL; /* what a thread without questions renders as */
    size_t n = json_array_size(turns);
    json_t *q = json_array_get(turns, n ? n - 1 : 0), *first = json_array_get(turns, 0);
    if (!json_is_object(q) || !json_is_object(first)) {
        if (!(none = json_pack("[{}]")))
            return dx_fail(DX_ENOMEM, "pages: out of memory");
        turns = none;
        n = 1;
        q = first = json_array_get(none, 0);
    }
    json_t *r = jo(q, "result");
    question_status status = qstatus(q);
    const char *id = js(q, "id");
    const char *thread = js(q, "thread") ? js(q, "thread") : js(first, "id");
    bool finished = r != NULL;
    /* queued: waiting for a free slot on the server; live like running */
    bool running = !finished && (status == QUESTION_RUNNING || status == QUESTION_QUEUED);
    json_t *fr = jo(first, "result");
    const char *title = fr && js(fr, "question") ? js(fr, "question") : js(first, "question");
    if (!fragment)
        head(&o, title, running);
    main_open(&o, id, thread, n, finished, status, running);
    if (n > 1)
        putf(&o,
             "<p class=\"thread-note\">A thread of %zu questions, newest last: each follow-up "
             "was asked with the questions and answers before it.</p>\n",
             n);
    for (size_t i = 0; i + 1 < n && !o.st; i++)
        earlier_turn(&o, json_array_get(turns, i), i, n);
    putf(&o, "<article class=\"turn current\" id=\"t-%lld\" aria-labelledby=\"qh\">\n",
         ji(q, "turn", (long long)n));
    turn_body(&o, q, true, n <= 1);
    put(&o, "</article>\n");
    if (!running && id && viewer_may_change())
        followup_form(&o, id);
    invitation(&o);
    actions(&o, id, thread ? thread : id, n, !running);
    put(&o, "</main>\n");
    if (!fragment)
        foot(&o);
    json_decref(none);
    return o.st;
}

dx_status page_question(dx_buf *out, json_t *q, bool fragment, const char *form_token)
{
    json_t *one = q ? json_pack("[O]", q) : json_array();
    if (!one)
        return dx_fail(DX_ENOMEM, "pages: out of memory");
    dx_status st = page_thread(out, one, fragment, form_token);
    json_decref(one);
    return st;
}

dx_status page_delete_confirm(dx_buf *out, json_t *turns, const char *id, const char *form_token)
{
    w o = {out, DX_OK, form_token};
    size_t i, n = 0, from = 0;
    json_t *t;
    json_array_foreach(turns, i, t)
    {
        if (streq(js(t, "id"), id))
            from = i;
    }
    n = json_array_size(turns) - from;
    head(&o, "Delete?", false);
    put(&o, "<main id=\"main\" class=\"confirm\">\n<h1>");
    put(&o, n > 1 ? "Delete these questions?" : "Delete this question?");
    put(&o, "</h1>\n");
    if (n > 1)
        putf(&o,
             "<p>A follow-up depends on the questions before it, so deleting this question "
             "deletes the %zu later question%s of its thread too. This cannot be undone.</p>\n",
             n - 1, n == 2 ? "" : "s");
    else
        put(&o, "<p>This cannot be undone.</p>\n");
    put(&o, "<ol class=\"qlist\">\n");
    for (i = from; i < json_array_size(turns); i++) {
        put(&o, "<li>");
        esc_trunc(&o, js(json_array_get(turns, i), "question"), 300);
        put(&o, "</li>\n");
    }
    put(&o, "</ol>\n<div class=\"buttons\"><form method=\"post\" action=\"/q/");
    put_id_url(&o, id);
    put(&o, "/delete\">");
    put_token(&o);
    put(&o, "<input type=\"hidden\" name=\"confirm\" value=\"1\"><button type=\"submit\" "
            "class=\"danger\">Delete</button></form>\n<a class=\"button secondary\" href=\"/q/");
    put_id_url(&o, id);
    put(&o, "\">Cancel</a></div>\n</main>\n");
    foot(&o);
    return o.st;
}

/* ---- accounts ------------------------------------------------------------------- */

static void error_note(w *o, const char *error, const char *notice)
{
    if (error && *error) {
        put(o, "<p class=\"banner stopped\" role=\"alert\">");
        esc(o, error);
        put(o, "</p>\n");
    }
    if (notice && *notice) {
        put(o, "<p class=\"banner ok\" role=\"status\">");
        esc(o, notice);
        put(o, "</p>\n");
    }
}

static void password_field(w *o, const char *id, const char *name, const char *label,
                           const char *autocomplete)
{
    putf(o,
         "<p><label for=\"%s\">%s</label><br><input type=\"password\" id=\"%s\" name=\"%s\" "
         "required maxlength=\"1024\" autocomplete=\"%s\"></p>\n",
         id, label, id, name, autocomplete);
}

dx_status page_account(dx_buf *out, page_account_form form, const char *form_token,
                       const char *name, const char *error, bool signup_open)
{
    w o = {out, DX_OK, form_token};
    bool up = form == PAGE_SIGNUP;
    head(&o, up ? "Sign up" : "Sign in", false);
    put(&o, up ? "<main id=\"main\" class=\"account-form\">\n<h1>Sign up</h1>\n"
               : "<main id=\"main\" class=\"account-form\">\n<h1>Sign in</h1>\n");
    put(&o, "<p class=\"lede\">Signed in, your questions are your own: your history lists "
            "only them, and others read one only through its share link. You can also put "
            "premium members (frontier models) beside the free ones.</p>\n");
    error_note(&o, error, NULL);
    if (up && !signup_open) {
        put(&o, "<p><a href=\"/signin\">Sign in</a> with an account you have.</p>\n</main>\n");
        foot(&o);
        return o.st;
    }
    put(&o, up ? "<form class=\"account\" method=\"post\" action=\"/signup\">\n"
               : "<form class=\"account\" method=\"post\" action=\"/signin\">\n");
    put_token(&o);
    put(&o, "<p><label for=\"name\">Account name or e-mail</label><br><input type=\"text\" "
            "id=\"name\" name=\"name\" required maxlength=\"63\" autocomplete=\"username\" "
            "autocapitalize=\"none\" spellcheck=\"false\" value=\"");
    esc(&o, name);
    put(&o, "\"></p>\n");
    password_field(&o, "password", "password", "Password",
                   up ? "new-password" : "current-password");
    if (up)
        password_field(&o, "password2", "password2", "Password again", "new-password");
    put(&o, up ? "<p class=\"limit\">At least 10 characters.</p>\n"
                 "<button type=\"submit\">Create account</button>\n</form>\n"
                 "<p>Have an account? <a href=\"/signin\">Sign in</a>.</p>\n"
               : "<button type=\"submit\">Sign in</button>\n</form>\n");
    if (!up && signup_open)
        put(&o, "<p>New here? <a href=\"/signup\">Sign up free</a>.</p>\n");
    put(&o, "</main>\n");
    foot(&o);
    return o.st;
}

dx_status page_settings(dx_buf *out, const char *form_token, const char *name, const char *notice,
                        const char *error)
{
    w o = {out, DX_OK, form_token};
    head(&o, "Settings", false);
    put(&o, "<main id=\"main\" class=\"settings\">\n<h1>Settings</h1>\n<p>Signed in as <strong>");
    esc(&o, name);
    put(&o, "</strong>.</p>\n");
    error_note(&o, error, notice);
    put(&o, "<section aria-labelledby=\"pw-h\">\n<h2 id=\"pw-h\">Change password</h2>\n"
            "<form class=\"account\" method=\"post\" action=\"/settings/password\">\n");
    put_token(&o);
    password_field(&o, "old", "old", "Current password", "current-password");
    password_field(&o, "password", "password", "New password (at least 10 characters)",
                   "new-password");
    password_field(&o, "password2", "password2", "New password again", "new-password");
    put(&o, "<button type=\"submit\">Change password</button>\n<p class=\"limit\">This signs "
            "you out everywhere else.</p>\n</form>\n</section>\n");
    const page_premium *p = viewer ? viewer->premium : NULL;
    if (p && p->n_members) {
        put(&o, "<section aria-labelledby=\"pm-h\">\n<h2 id=\"pm-h\">Premium members</h2>\n"
                "<form class=\"account\" method=\"post\" action=\"/settings/members\">\n");
        put_token(&o);
        premium_choices(&o, "Asked by default (you can change it for each question)");
        put(&o, "<button type=\"submit\">Save</button>\n</form>\n</section>\n");
    }
    if (p && p->n_keys) {
        put(&o, "<section aria-labelledby=\"keys-h\">\n<h2 id=\"keys-h\">Your provider keys</h2>\n"
                "<p>Optional: premium members of a provider then use your key instead of the "
                "server's. A key is stored encrypted and never shown again.</p>\n"
                "<form class=\"account\" method=\"post\" action=\"/settings/keys\" "
                "autocomplete=\"off\">\n");
        put_token(&o);
        for (size_t i = 0; i < p->n_keys; i++) {
            const char *prov = p->keys[i].provider;
            put(&o, "<p><label for=\"key_");
            esc(&o, prov);
            put(&o, "\">");
            esc(&o, prov);
            put(&o, p->keys[i].saved ? " (a key is saved)" : " (none saved)");
            put(&o, "</label><br><input type=\"password\" id=\"key_");
            esc(&o, prov);
            put(&o, "\" name=\"key_");
            esc(&o, prov);
            putf(&o, "\" maxlength=\"%d\" autocomplete=\"off\" placeholder=\"%s\">", 4096,
                 p->keys[i].saved ? "enter a new key to replace it" : "paste a key");
            if (p->keys[i].saved) {
                put(&o, " <label><input type=\"checkbox\" name=\"forget_");
                esc(&o, prov);
                put(&o, "\" value=\"1\"> forget it</label>");
            }
            put(&o, "</p>\n");
        }
        put(&o, "<button type=\"submit\">Save keys</button>\n</form>\n</section>\n");
    }
    put(&o, "<section aria-labelledby=\"so-h\">\n<h2 id=\"so-h\">Sessions</h2>\n"
            "<form method=\"post\" action=\"/signout-everywhere\">");
    put_token(&o);
    put(&o, "<button type=\"submit\" class=\"secondary\">Sign out everywhere</button></form>\n"
            "</section>\n</main>\n");
    foot(&o);
    return o.st;
}

/* ---- embedded assets ------------------------------------------------------------ */

typedef struct web_file {
    const char *name;
    const unsigned char *data;
    size_t len;
} web_file;

/* generated at build time from web/ (scripts/embed-web) */
extern const web_file web_files[];
extern const size_t web_n_files;

bool web_asset(const char *path, const unsigned char **data, size_t *len, const char **mime)
{
    static const char prefix[] = "/static/";
    if (!path || strncmp(path, prefix, sizeof prefix - 1))
        return false;
    const char *name = path + sizeof prefix - 1;
    for (size_t i = 0; i < web_n_files; i++) {
        if (strcmp(web_files[i].name, name))
            continue;
        static const struct {
            const char *ext, *mime;
        } types[] = {
            {".css", "text/css; charset=utf-8"},
            {".js", "text/javascript; charset=utf-8"},
            {".svg", "image/svg+xml"},
            {".html", "text/html; charset=utf-8"},
            {".png", "image/png"},
            {".ico", "image/x-icon"},
            {".txt", "text/plain; charset=utf-8"},
            {".json", "application/json"},
        };
        const char *dot = strrchr(name, '.');
        *mime = "application/octet-stream";
        for (size_t k = 0; dot && k < sizeof types / sizeof *types; k++)
            if (!strcmp(dot, types[k].ext))
                *mime = types[k].mime;
        *data = web_files[i].data;
        *len = web_files[i].len;
        return true;
    }
    return false;
}
