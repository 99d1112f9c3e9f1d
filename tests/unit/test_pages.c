/*
 * test_pages — the web pages, rendered from stored-question fixtures
 * (tests/data/pages/NAME.json: real analysis objects from drux analyze), checked
 * for what a person would see: the banner, the percentage or its absence,
 * counts that match the object, escaped model output, no script or
 * javascript: link that a model could smuggle in, nothing the CSP would block.
 */
#include <ctype.h>
#include <jansson.h>
#include <strings.h>

#include "core/limits.h"
#include "server/pages.h"
#include "test.h"

static json_t *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/pages/%s.json", name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        printf("  cannot read %s: %s\n", path, err.text);
    return j;
}

/* Renders fixture `name` (full page or fragment); caller frees the result. */
static char *render(const char *name, bool fragment)
{
    json_t *q = fixture(name);
    if (!q)
        return NULL;
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_question(&b, q, fragment, NULL);
    json_decref(q);
    if (st) {
        printf("  page_question(%s): %s\n", name, dx_errmsg());
        dx_buf_free(&b);
        return NULL;
    }
    return dx_buf_take(&b);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char *stristr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return hay;
    return NULL;
}

/* The text between the first `from` and the next `to` (static buffer). */
static const char *between(const char *html, const char *from, const char *to)
{
    static char buf[1 << 16];
    const char *a = strstr(html, from);
    if (!a)
        return "";
    const char *b = strstr(a, to);
    size_t n = b ? (size_t)(b - a) : strlen(a);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, a, n);
    buf[n] = 0;
    return buf;
}

/*
 * Walks every tag of the page (all text is escaped, so each '<' + letter
 * opens a real tag) and reports the first thing a hostile answer could use:
 * an on* handler, a style attribute (CSP), a script without src or with
 * content, a href/src/action with a scheme other than http(s)/mailto.
 */
static const char *unsafe_markup(const char *html, char *why, size_t cap)
{
    for (const char *p = html; (p = strchr(p, '<')); p++) {
        if (!isalpha((unsigned char)p[1]))
            continue;
        const char *t = p + 1;
        size_t tn = strcspn(t, " \t\n>/");
        bool script = tn == 6 && !strncasecmp(t, "script", 6);
        const char *q = t + tn;
        bool has_src = false;
        while (*q && *q != '>') {
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '/')
                q++;
            const char *an = q;
            while (*q && !strchr(" \t\n=>", *q))
                q++;
            size_t al = (size_t)(q - an);
            const char *val = "";
            size_t vl = 0;
            if (*q == '=') {
                q++;
                if (*q == '"' || *q == '\'') {
                    char qc = *q++;
                    val = q;
                    while (*q && *q != qc)
                        q++;
                    vl = (size_t)(q - val);
                    if (*q)
                        q++;
                } else {
                    val = q;
                    while (*q && !strchr(" \t\n>", *q))
                        q++;
                    vl = (size_t)(q - val);
                }
            }
            if (al >= 2 && !strncasecmp(an, "on", 2)) {
                snprintf(why, cap, "event handler %.*s in <%.*s>", (int)al, an, (int)tn, t);
                return p;
            }
            if (al == 5 && !strncasecmp(an, "style", 5)) {
                snprintf(why, cap, "style attribute in <%.*s>", (int)tn, t);
                return p;
            }
            bool url = (al == 4 && !strncasecmp(an, "href", 4)) ||
                       (al == 3 && !strncasecmp(an, "src", 3)) ||
                       (al == 6 && !strncasecmp(an, "action", 6)) ||
                       (al == 10 && !strncasecmp(an, "formaction", 10));
            if (al == 3 && !strncasecmp(an, "src", 3))
                has_src = true;
            if (url) {
                size_t sn = strcspn(val, ":/?#");
                if (sn < vl && val[sn] == ':' &&
                    !((sn == 4 && !strncasecmp(val, "http", 4)) ||
                      (sn == 5 && !strncasecmp(val, "https", 5)) ||
                      (sn == 6 && !strncasecmp(val, "mailto", 6)))) {
                    snprintf(why, cap, "%.*s=\"%.*s\"", (int)al, an, (int)(vl > 40 ? 40 : vl), val);
                    return p;
                }
                if (vl == 0) {
                    snprintf(why, cap, "empty %.*s in <%.*s>", (int)al, an, (int)tn, t);
                    return p;
                }
            }
            if (al == 0 && *q && *q != '>')
                q++;
        }
        if (script && (!has_src || strncmp(q, "></script>", 10))) {
            snprintf(why, cap, "inline script");
            return p;
        }
        if (!*q)
            break;
    }
    return NULL;
}

#define CHECK_SAFE(html)                                                                           \
    do {                                                                                           \
        char why_[160] = "";                                                                       \
        const char *at_ = unsafe_markup((html), why_, sizeof why_);                                \
        CHECK_MSG(!at_, "unsafe markup: %s at \"%.60s\"", why_, at_);                              \
    } while (0)

/* ---- the question page ---------------------------------------------------------- */

TEST(single_voice_shows_banner_and_no_percentage)
{
    char *h = render("single_voice", false);
    CHECK(h);
    const char *v = between(h, "<section class=\"verdict", "</section>");
    bool ok =
        strstr(v, "Single voice") && strstr(v, "Only one model gave a usable answer: smollm.") &&
        strstr(v, "consensus not measurable") && !strstr(v, "%") && !strstr(h, "<meter") &&
        strstr(h, "<strong>3 models</strong> \xC2\xB7 complete \xE2\x80\x94 1 done, 1 failed, 1 "
                  "timed out") &&
        !strstr(h, "Agreed points") && strstr(h, "HTTP 401: invalid API key") &&
        strstr(h, "<details open><summary><h2 id=\"unique-h\">") && /* the only points: shown */
        strstr(h, "The capital of Australia is Canberra.");
    free(h);
    CHECK(ok);
}

TEST(consensus_shows_percentage_meter_and_agreed_points)
{
    json_t *q = fixture("consensus");
    CHECK(q);
    json_t *an = json_object_get(json_object_get(q, "result"), "analysis");
    long long pct = json_integer_value(json_object_get(an, "consensus"));
    size_t n_agreed = json_array_size(json_object_get(an, "agreed"));
    json_decref(q);
    CHECK(pct >= 70 && n_agreed >= 1);
    char *h = render("consensus", false);
    CHECK(h);
    char want_pct[64], want_meter[64], want_n[96];
    snprintf(want_pct, sizeof want_pct, "<span class=\"pct\">%lld%%</span>", pct);
    snprintf(want_meter, sizeof want_meter, "value=\"%lld\"", pct);
    snprintf(want_n, sizeof want_n, "Agreed points <span class=\"n\">%zu</span>", n_agreed);
    char want_explain[96];
    snprintf(want_explain, sizeof want_explain,
             "From 3 usable answers, compared by lexical matching.</p>");
    const char *agreed = between(h, "<section class=\"points agreed\"", "</section>");
    bool ok = strstr(h, "<span class=\"label\">Consensus</span>") && strstr(h, want_pct) &&
              strstr(h, want_meter) && strstr(h, want_n) && strstr(h, want_explain) &&
              count(agreed, "<li>") == (int)n_agreed &&
              strstr(agreed, "3 of 3: smollm, gemma and remote") && !strstr(h, "banner single") &&
              strstr(h, "<strong>3 models</strong> \xC2\xB7 complete \xE2\x80\x94 3 done") &&
              strstr(h, "<p class=\"tag\"><span class=\"vh\">Category: </span>Technology</p>") &&
              strstr(h, "<details><summary><h2 id=\"unique-h\">");
    free(h);
    CHECK(ok);
}

TEST(answer_markdown_is_rendered_with_gfm)
{
    char *h = render("consensus", false);
    CHECK(h);
    const char *a = between(h, "<section class=\"answer\"", "</section>");
    bool ok = strstr(a, "<strong>SQLite is in the public domain.</strong>") &&
              strstr(a, "<table>") && strstr(a, "<td>Commercial</td>") &&
              strstr(a, "<del>GPL</del>") &&
              strstr(a, "<a href=\"https://sqlite.org/copyright.html\">") &&
              strstr(a, "Written by the synthesizer model");
    free(h);
    CHECK(ok);
}

/* The page says which kind of answer it shows (answer_kind), and why a
 * written answer was replaced. */
TEST(answer_kind_is_shown)
{
    json_t *q = fixture("consensus");
    CHECK(q);
    json_t *r = json_object_get(q, "result");
    json_object_set_new(r, "answer_kind", json_string("extractive"));
    json_object_set_new(r, "answer_check",
                        json_string("it names \"<b>C++</b>\", which no member did"));
    json_object_set_new(json_object_get(r, "sources"), "answer", json_string("extractive"));
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK(page_question(&b, q, false, NULL) == DX_OK);
    bool replaced = strstr(b.data, "The written answer failed the check (it names") &&
                    strstr(b.data, "&lt;b&gt;C++") && !strstr(b.data, "<b>C++");
    dx_buf_clear(&b);
    json_object_set_new(r, "answer_kind", json_string("single_voice"));
    json_object_set_new(r, "answer_check", json_null());
    CHECK(page_question(&b, q, false, NULL) == DX_OK);
    bool single = strstr(b.data, "exactly as its model wrote it") != NULL;
    dx_buf_clear(&b);
    json_object_set_new(r, "answer_kind", json_string("synthesized"));
    json_object_set_new(json_object_get(r, "sources"), "answer", json_string("model"));
    CHECK(page_question(&b, q, false, NULL) == DX_OK);
    bool written = strstr(b.data, "and checked against them") != NULL;
    dx_buf_clear(&b);
    json_object_set_new(r, "answer_kind", json_string("strongest"));
    json_object_set_new(r, "answer_member", json_string("<i>big</i>"));
    json_object_set_new(json_object_get(r, "sources"), "answer", json_string("extractive"));
    CHECK(page_question(&b, q, false, NULL) == DX_OK);
    bool strongest = strstr(b.data, "data-kind=\"strongest\">This is the answer of &lt;i&gt;big") &&
                     strstr(b.data, "exactly as it wrote it") && !strstr(b.data, "<i>big");
    dx_buf_free(&b);
    json_decref(q);
    CHECK(replaced);
    CHECK(single);
    CHECK(written);
    CHECK(strongest);
}

TEST(followups_continue_the_thread_without_script)
{
    json_t *q = fixture("consensus");
    CHECK(q);
    size_t n = json_array_size(json_object_get(json_object_get(q, "result"), "followups"));
    json_decref(q);
    char *h = render("consensus", false);
    CHECK(h);
    const char *f = between(h, "<section class=\"followups\"", "</section>");
    int forms = count(f, "<form method=\"post\" action=\"/q/cn1/followup\"><input "
                         "type=\"hidden\" name=\"q\"");
    bool typed = strstr(h, "<form class=\"ask followup-ask\" method=\"post\" "
                           "action=\"/q/cn1/followup\">") != NULL;
    bool share = strstr(h, "<a class=\"permalink\" href=\"/q/cn1\">") &&
                 strstr(h, "<a class=\"button\" href=\"/\">New search</a>");
    free(h);
    CHECK(n >= 1);
    CHECK_EQ_INT(forms, n);
    CHECK(typed);
    CHECK(share);
}

/* A thread of three: every turn with its own verdict and answers, newest
 * last and live; earlier turns' ids prefixed so none repeats; follow-ups
 * only under the last answer; one share link; deleting an earlier turn says
 * how many later ones go with it; a member that got fewer turns says so. */
TEST(thread_page_shows_every_turn_newest_last)
{
    json_t *t1 = fixture("consensus"), *t2 = fixture("disagree"), *t3 = fixture("running");
    CHECK(t1 && t2 && t3);
    json_object_set_new(t1, "thread", json_string("cn1"));
    json_object_set_new(t2, "id", json_string("dis2"));
    json_object_set_new(t2, "thread", json_string("cn1"));
    json_object_set_new(t2, "turn", json_integer(2));
    json_t *m0 = json_array_get(json_object_get(t2, "members"), 0);
    json_object_set_new(m0, "context_turns", json_integer(0));
    json_object_set_new(m0, "context_dropped", json_integer(1));
    json_object_set_new(t3, "id", json_string("run3"));
    json_object_set_new(t3, "thread", json_string("cn1"));
    json_object_set_new(t3, "turn", json_integer(3));
    json_t *turns = json_pack("[o, o, o]", t1, t2, t3);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_thread(&b, turns, false, "tok"), DX_OK);
    const char *h = b.data;
    const char *a1 = strstr(h, "<article class=\"turn\" id=\"t-1\""),
               *a2 = strstr(h, "<article class=\"turn\" id=\"t-2\""),
               *a3 = strstr(h, "<article class=\"turn current\" id=\"t-3\"");
    bool order = a1 && a2 && a3 && a1 < a2 && a2 < a3;
    bool ids = count(h, "id=\"verdict-h\"") == 0 && count(h, "id=\"t1-verdict-h\"") == 1 &&
               count(h, "id=\"t2-verdict-h\"") == 1 && count(h, "id=\"progress\"") == 1 &&
               count(h, "id=\"t2-m-0\"") == 1 && count(h, "id=\"m-0\"") == 1;
    bool live = strstr(h, "data-events=\"/api/v1/questions/run3/events\"") != NULL;
    bool fu = count(h, "/followup\"") == 0; /* the last turn is still running */
    bool share = count(h, "class=\"permalink\" href=\"/q/cn1\">Link to this thread") == 1 &&
                 strstr(h, "href=\"/api/v1/threads/cn1/export.md\"") &&
                 strstr(h, "href=\"/api/v1/threads/cn1/export.json\"");
    bool del = strstr(h, "action=\"/q/cn1/delete\" data-later=\"2\"") &&
               strstr(h, "action=\"/q/dis2/delete\" data-later=\"1\"");
    bool trimmed = strstr(a2, "class=\"banner trimmed\"") && strstr(a2, "read none of the 1");
    dx_buf_free(&b);
    CHECK(order);
    CHECK(ids);
    CHECK(live);
    CHECK(fu);
    CHECK(share);
    CHECK(del);
    CHECK(trimmed);
    /* once the last turn is done, the follow-ups continue from it */
    json_array_set_new(turns, 2, fixture("consensus"));
    json_t *last = json_array_get(turns, 2);
    json_object_set_new(last, "id", json_string("cn3"));
    json_object_set_new(last, "turn", json_integer(3));
    b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_thread(&b, turns, false, "tok"), DX_OK);
    bool next = strstr(b.data, "action=\"/q/cn3/followup\"") && !strstr(b.data, "/q/cn1/followup");
    dx_buf_free(&b);
    CHECK(next);
    /* the page that asks first, without script */
    b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_delete_confirm(&b, turns, "dis2", "tok"), DX_OK);
    bool confirm = strstr(b.data, "deletes the 1 later question of its thread") &&
                   strstr(b.data, "name=\"confirm\" value=\"1\"") &&
                   strstr(b.data, "action=\"/q/dis2/delete\"");
    dx_buf_free(&b);
    json_decref(turns);
    CHECK(confirm);
}

TEST(disagree_shows_each_side)
{
    char *h = render("disagree", false);
    CHECK(h);
    const char *d = between(h, "<section class=\"points disputed\"", "</section>");
    bool ok = strstr(h, "<span class=\"label\">Disagreement</span>") &&
              strstr(h, "<span class=\"pct\">0%</span>") && !strstr(h, "Agreed points") &&
              strstr(d, "side A</span> <strong>") && strstr(d, "side B</span> <strong>") &&
              strstr(d, "Mars has 2 moons.") && strstr(d, "Mars has 5 moons.");
    free(h);
    CHECK(ok);
}

TEST(no_answer_says_so_without_a_number)
{
    char *h = render("no_answer", false);
    CHECK(h);
    const char *v = between(h, "<section class=\"verdict", "</section>");
    bool ok = strstr(v, "No model gave a usable answer.") && !strstr(v, "%") &&
              !strstr(h, "<meter") && strstr(h, "1 failed, 1 refused") &&
              strstr(h, "model file missing");
    free(h);
    CHECK(ok);
}

TEST(running_page_updates_live_and_reloads_without_script)
{
    char *h = render("running", false);
    CHECK(h);
    bool ok =
        strstr(h, "data-events=\"/api/v1/questions/rn1/events\"") &&
        strstr(h, "data-fragment=\"/q/rn1?fragment=1\"") &&
        strstr(h, "<noscript><meta http-equiv=\"refresh\"") &&
        strstr(h, "\xC2\xB7 answering\xE2\x80\xA6 \xE2\x80\x94 1 done, 1 answering, 1 waiting") &&
        strstr(h, "aria-live=\"polite\"") &&
        strstr(h, "<div class=\"m-text live\">At sea level water</div>") &&
        !strstr(h, "class=\"verdict") && !strstr(h, "<meter") && !strstr(h, "/rerun");
    free(h);
    CHECK(ok);
}

/* Two answers came back but only one counts: the page says which, and why the
 * other is not in the number. */
TEST(done_but_unusable_member_is_marked_not_counted)
{
    json_t *q =
        json_loads("{\"id\": \"u1\", \"question\": \"Q?\", \"status\": \"done\", \"result\": "
                   "{\"question\": \"Q?\", "
                   "\"members\": [{\"name\": \"a\", \"model\": \"m\", \"status\": \"done\", "
                   "\"usable\": true, \"text\": \"Yes.\"},"
                   " {\"name\": \"b\", \"model\": \"m2\", \"status\": \"done\", \"usable\": false, "
                   "\"text\": \"...\"}],"
                   " \"analysis\": {\"label\": \"single_voice\", \"consensus\": null, \"agreed\": "
                   "[], \"disputed\": [],"
                   " \"unique\": [{\"text\": \"Yes.\", \"member\": \"a\"}], \"usable\": 1}}}",
                   0, NULL);
    CHECK(q);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_question(&b, q, false, NULL);
    json_decref(q);
    const char *card_b = st ? "" : between(b.data, "id=\"m-1\"", "</summary>");
    bool ok = st == DX_OK && strstr(b.data, "Only one model gave a usable answer: a.</strong>") &&
              strstr(b.data, "\xC2\xB7 complete \xE2\x80\x94 2 done") &&
              strstr(card_b, "not counted") &&
              !strstr(between(b.data, "id=\"m-0\"", "</summary>"), "not counted");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(queued_question_is_live_too)
{
    json_t *q = json_loads(
        "{\"id\": \"qd1\", \"question\": \"Why?\", \"status\": \"queued\", \"result\": null, "
        "\"members\": [{\"name\": \"a\", \"model\": \"m\", \"status\": \"queued\"}]}",
        0, NULL);
    CHECK(q);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_question(&b, q, false, NULL);
    json_decref(q);
    bool ok =
        st == DX_OK &&
        strstr(b.data, "data-status=\"queued\" data-events=\"/api/v1/questions/qd1/events\"") &&
        strstr(b.data, "waiting for a free slot\xE2\x80\xA6 \xE2\x80\x94 1 waiting") &&
        strstr(b.data, "http-equiv=\"refresh\"") && !strstr(b.data, "No analysis was stored");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(interrupted_page_explains_and_offers_rerun)
{
    char *h = render("interrupted", false);
    CHECK(h);
    bool ok = strstr(h, "This question was interrupted") && !strstr(h, "data-events") &&
              !strstr(h, "http-equiv") &&
              strstr(h, "\xC2\xB7 interrupted \xE2\x80\x94 1 done, 2 cancelled") &&
              !strstr(h, "<meter") && strstr(h, "action=\"/q/it1/rerun\"") &&
              strstr(h, "the server stopped");
    free(h);
    CHECK(ok);
}

TEST(hostile_output_is_escaped_everywhere)
{
    char *h = render("hostile", false);
    CHECK(h);
    CHECK_SAFE(h);
    int scripts = count(h, "<script");
    bool ok =
        scripts == 1 && !stristr(h, "href=\"javascript") && !stristr(h, "href=\"vbscript") &&
        !stristr(h, "href=\"data:") && !strstr(h, "<img") &&
        strstr(h, "&lt;script&gt;alert(5)&lt;/script&gt;") &&  /* raw HTML shown as text */
        strstr(h, "&lt;script&gt;alert(13)&lt;/script&gt;") && /* ...in the answer too */
        strstr(h, "Click here or there now.") &&               /* unsafe links lose the link */
        strstr(h, "<a href=\"https://example.org/a?b=1&amp;c=2\">ok</a>") &&
        strstr(h, "&lt;b&gt;bold&lt;/b&gt;") && /* member names */
        strstr(h, "value=\"&quot;&gt;&lt;script&gt;alert(16)&lt;/script&gt;\"") && /* follow-ups */
        strstr(h, "href=\"/q/ho1%3Cx%3E\"");                                       /* ids in URLs */
    if (!ok)
        printf("  scripts=%d\n", scripts);
    free(h);
    CHECK(ok);
}

TEST(fragment_is_only_main)
{
    char *h = render("consensus", true);
    CHECK(h);
    size_t n = strlen(h);
    bool ok = !strncmp(h, "<main id=\"main\"", 15) && n > 9 && !strcmp(h + n - 8, "</main>\n") &&
              !strstr(h, "<html") && !strstr(h, "<script") && strstr(h, "class=\"verdict");
    free(h);
    CHECK(ok);
}

/* The rule above all, over every fixture: a number only where the object has
 * one, counts equal to the object's arrays. */
TEST(every_fixture_is_consistent_with_its_object)
{
    static const char *const names[] = {"single_voice", "consensus",   "disagree", "no_answer",
                                        "running",      "interrupted", "hostile"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        json_t *q = fixture(names[i]);
        CHECK(q);
        json_t *r = json_object_get(q, "result");
        json_t *an = json_object_get(r, "analysis");
        json_t *members =
            json_is_object(r) ? json_object_get(r, "members") : json_object_get(q, "members");
        json_t *c = json_object_get(an, "consensus");
        size_t n_members = json_array_size(members),
               n_agreed = json_array_size(json_object_get(an, "agreed"));
        bool has_number = json_is_integer(c);
        json_decref(q);
        char *h = render(names[i], false);
        CHECK_MSG(h, "%s did not render", names[i]);
        CHECK_SAFE(h);
        char want[96];
        snprintf(want, sizeof want, "<strong>%zu model%s</strong>", n_members,
                 n_members == 1 ? "" : "s");
        bool has_total = strstr(h, want) != NULL;
        bool has_meter = strstr(h, "<meter") != NULL;
        int cards = count(h, "<details class=\"member ");
        int agreed_items =
            count(between(h, "<section class=\"points agreed\"", "</section>"), "<li>");
        free(h);
        CHECK_MSG(has_total, "%s: summary lacks %s", names[i], want);
        CHECK_MSG(has_meter == has_number, "%s: meter shown %d, consensus %s", names[i], has_meter,
                  has_number ? "a number" : "null");
        CHECK_MSG(cards == (int)n_members, "%s: %d cards for %zu members", names[i], cards,
                  n_members);
        CHECK_MSG(agreed_items == (int)n_agreed, "%s: %d agreed shown, %zu in the object", names[i],
                  agreed_items, n_agreed);
    }
}

TEST(malformed_stored_question_renders_without_crashing)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"id\": 5, \"question\": [], \"status\": 7, \"members\": {}, \"result\": \"x\"}",
        "{\"id\": \"a\", \"status\": \"done\", \"result\": {\"analysis\": {\"label\": "
        "\"consensus\", "
        "\"consensus\": \"90\", \"agreed\": [{\"text\": 3, \"members\": [1, null]}], \"disputed\": "
        "[{\"stances\": "
        "[{\"position\": -5}, {\"position\": 1e30}, 4]}]}, \"members\": [null, 3, {\"status\": "
        "\"zzz\"}], "
        "\"followups\": [1, \"ok?\"], \"answer\": 5}}",
        "{\"id\": \"b\", \"status\": \"done\", \"created_at\": \"2026\", \"result\": "
        "{\"analysis\": {\"consensus\": "
        "250, \"label\": \"<x>\"}}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        json_t *q = json_loads(docs[i], 0, NULL);
        CHECK(q);
        dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
        dx_status st = page_question(&b, q, false, NULL);
        json_decref(q);
        bool ok = st == DX_OK && strstr(b.data, "</html>") && !strstr(b.data, "&lt;x&gt;\">");
        bool clamped = i != 4 || strstr(b.data, "100%");
        dx_buf_free(&b);
        CHECK_MSG(ok, "doc %zu", i);
        CHECK_MSG(clamped, "doc %zu: percentage not clamped", i);
    }
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_question(&b, NULL, true, NULL), DX_OK);
    dx_buf_free(&b);
}

TEST(full_buffer_fails_with_limit)
{
    json_t *q = fixture("consensus");
    CHECK(q);
    dx_buf b = dx_buf_make(1000);
    dx_status st = page_question(&b, q, false, NULL);
    json_decref(q);
    dx_buf_free(&b);
    CHECK_EQ_INT(st, DX_ELIMIT);
}

/* ---- markdown ------------------------------------------------------------------- */

static char *mdh(const char *s)
{
    dx_buf b = dx_buf_make(1 << 20);
    if (page_markdown(&b, s, strlen(s))) {
        dx_buf_free(&b);
        return NULL;
    }
    return dx_buf_take(&b);
}

TEST(markdown_drops_unsafe_links_and_shows_raw_html_as_text)
{
    static const struct {
        const char *in, *want, *not ;
    } cases[] = {
        {"[x](javascript:alert(1))", "<p>x</p>", "<a"},
        {"[x](  JaVaScRiPt:alert(1))", "<p>x</p>", "<a"},
        {"[x](&#106;avascript:alert(1))", "<p>x</p>", "<a"},
        {"[x][r]\n\n[r]: vbscript:msgbox", "<p>x</p>", "<a"},
        {"<javascript:alert(1)>", "", "href=\"javascript"},
        {"[x](data:text/html,<script>)", "<p>x</p>", "<a"},
        {"[x](file:///etc/passwd)", "<p>x</p>", "<a"},
        {"[x](https://ok.example/)", "<a href=\"https://ok.example/\">x</a>", "<script"},
        {"[x](mailto:a@b.c)", "<a href=\"mailto:a@b.c\">x</a>", "<script"},
        {"[x](/q/abc)", "<a href=\"/q/abc\">x</a>", "<script"},
        {"a <b onclick=x()>b</b>", "a &lt;b onclick=x()&gt;b&lt;/b&gt;", "<b"},
        {"<script>alert(1)</script>", "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;",
         "<script"},
        {"![alt](https://img.example/x.png)", "<a href=\"https://img.example/x.png\">alt</a>",
         "<img"},
        {"![alt](javascript:x)", "<p>alt</p>", "<img"},
        {"www.example.org", "<a href=\"http://www.example.org\">www.example.org</a>", "<script"},
        {"~~gone~~", "<del>gone</del>", "<script"},
        {"| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>", "<script"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *h = mdh(cases[i].in);
        CHECK_MSG(h, "case %zu did not render", i);
        bool ok = strstr(h, cases[i].want) && !stristr(h, cases[i].not );
        char why[160] = "";
        bool safe = !unsafe_markup(h, why, sizeof why);
        if (!ok || !safe)
            printf("  case %zu: %s -> %s %s\n", i, cases[i].in, h, why);
        free(h);
        CHECK(ok && safe);
    }
}

TEST(markdown_of_a_large_answer_is_bounded_and_linear)
{
    /* a 1 MiB answer of nested brackets and tags renders, and safely */
    size_t n = DX_MAX_ANSWER_BYTES;
    char *s = malloc(n + 1);
    CHECK(s);
    static const char pat[] = "[<a href=javascript:x>](javascript:y) ***_~~|";
    for (size_t i = 0; i < n; i++)
        s[i] = pat[i % (sizeof pat - 1)];
    s[n] = 0;
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_markdown(&b, s, n);
    free(s);
    bool ok = st == DX_OK && !stristr(b.data, "href=\"javascript") &&
              !strstr(b.data, "<a href=javascript");
    /* past DX_PAGE_MAX_MARKDOWN it is shown whole, as text (cmark-gfm is
     * worse than quadratic on such input) */
    bool plain =
        ok && strstr(b.data, "<p class=\"md-plain\">") &&
        count(b.data, "[&lt;a href=javascript:x&gt;](javascript:y)") == (int)(n / (sizeof pat - 1));
    dx_buf_free(&b);
    CHECK(ok && plain);
    /* up to it, Markdown as usual */
    b = dx_buf_make(DX_PAGE_MAX_BYTES);
    char *m = malloc(DX_PAGE_MAX_MARKDOWN + 1);
    CHECK(m);
    memset(m, 'a', DX_PAGE_MAX_MARKDOWN);
    memcpy(m, "**bold** ", 9);
    m[DX_PAGE_MAX_MARKDOWN] = 0;
    st = page_markdown(&b, m, DX_PAGE_MAX_MARKDOWN);
    free(m);
    ok = st == DX_OK && strstr(b.data, "<strong>bold</strong>") && !strstr(b.data, "md-plain");
    dx_buf_free(&b);
    CHECK(ok);
}

/* ---- home, history, error, assets ------------------------------------------------ */

static json_t *recent_list(void)
{
    json_t *a = json_array();
    static const char *const names[] = {"consensus", "single_voice", "running", "hostile"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        json_array_append_new(a, fixture(names[i]));
    return a;
}

TEST(home_has_form_examples_and_recent_questions)
{
    json_t *recent = recent_list();
    json_t *ex = json_pack("[s, s]", "Why is the sky blue?", "<b>x</b> \"quoted\"");
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_home(&b, recent, ex, NULL);
    json_decref(recent);
    json_decref(ex);
    CHECK_EQ_INT(st, DX_OK);
    const char *h = b.data;
    char why[160] = "";
    const char *bad = unsafe_markup(h, why, sizeof why);
    bool ok =
        !bad && strstr(h, "<form class=\"ask\" method=\"post\" action=\"/ask\"") &&
        strstr(h, "<label for=\"q\">Ask the council</label>") && strstr(h, "<main id=\"main\"") &&
        strstr(h, "value=\"&lt;b&gt;x&lt;/b&gt; &quot;quoted&quot;\"") &&
        strstr(h, "<a class=\"qlink\" href=\"/q/cn1\">") && strstr(h, ">Consensus 89%</span>") &&
        strstr(h, ">Single voice</span>") && !strstr(h, "Single voice 0%") &&
        strstr(h, ">answering\xE2\x80\xA6</span>") && count(h, "<script") == 1;
    if (!ok)
        printf("  %s\n", why);
    dx_buf_free(&b);
    CHECK(ok);
}

/* The store's list items carry label and consensus at the top level. */
TEST(list_items_show_label_and_number_from_the_store)
{
    json_t *items = json_loads("[{\"id\": \"a1\", \"question\": \"Q1\", \"status\": \"done\", "
                               "\"label\": \"single_voice\", \"consensus\": null},"
                               " {\"id\": \"a2\", \"question\": \"Q2\", \"status\": \"done\", "
                               "\"label\": \"partial\", \"consensus\": 55},"
                               " {\"id\": \"a3\", \"question\": \"Q3\", \"status\": "
                               "\"interrupted\", \"label\": null, \"consensus\": null}]",
                               0, NULL);
    CHECK(items);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_history(&b, items, NULL, NULL, false, NULL);
    json_decref(items);
    bool ok = st == DX_OK && strstr(b.data, "lbl-single_voice\">Single voice</span>") &&
              strstr(b.data, "lbl-partial\">Partial agreement 55%</span>") &&
              strstr(b.data, "st-interrupted\">interrupted</span>");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(home_without_examples_or_history_uses_defaults)
{
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_home(&b, NULL, NULL, NULL), DX_OK);
    bool ok = count(b.data, "class=\"chip\"") >= 3 && strstr(b.data, "No questions yet");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(history_lists_searches_and_deletes)
{
    json_t *items = recent_list();
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_history(&b, items, "\"><script>alert(1)</script>", NULL, false, NULL), DX_OK);
    json_decref(items);
    const char *h = b.data;
    bool ok = !unsafe_markup(h, (char[160]){0}, 160) && count(h, "<script") == 1 &&
              strstr(h, "value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\"") &&
              strstr(h, "4 questions matching") &&
              count(h, "<form class=\"del\" method=\"post\" action=\"/q/") == 4 &&
              strstr(h, "action=\"/q/cn1/delete\"") &&
              strstr(h, "aria-label=\"Delete: Which licence");
    dx_buf_clear(&b);
    json_t *none = json_array();
    CHECK_EQ_INT(page_history(&b, none, NULL, NULL, false, NULL), DX_OK);
    json_decref(none);
    ok = ok && strstr(b.data, "No questions yet") && !strstr(b.data, "Older questions");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(history_pages_link_older_and_newest_with_the_search_escaped)
{
    json_t *items = recent_list();
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_history(&b, items, "a&b \"<x>", "cn9", true, NULL), DX_OK);
    const char *h = b.data;
    /* the last item's id ("ho1<x>", the hostile fixture) starts the next page; it and the
     * search travel percent-encoded */
    const char *last =
        json_string_value(json_object_get(json_array_get(items, json_array_size(items) - 1), "id"));
    CHECK_STR(last, "ho1<x>");
    const char *want =
        "<a rel=\"next\" href=\"/history?before=ho1%3Cx%3E&amp;q=a%26b%20%22%3Cx%3E\">Older "
        "questions</a>";
    bool ok = !unsafe_markup(h, (char[160]){0}, 160) && strstr(h, want) &&
              strstr(h, "<a href=\"/history?q=a%26b%20%22%3Cx%3E\">Newest questions</a>") &&
              strstr(h, "matching \xE2\x80\x9C"
                        "a&amp;b &quot;&lt;x&gt;\xE2\x80\x9D on this page");
    dx_buf_clear(&b);
    json_t *none = json_array();
    CHECK_EQ_INT(page_history(&b, none, NULL, "cn9", false, NULL), DX_OK);
    ok = ok && strstr(b.data, "No older questions") && !strstr(b.data, "No questions yet") &&
         !strstr(b.data, "Older questions</a>");
    json_decref(none);
    json_decref(items);
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(error_page_escapes_message)
{
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_error(&b, 404, "no question <i>x</i>"), DX_OK);
    bool ok = strstr(b.data, "<h1>404 Not found</h1>") &&
              strstr(b.data, "no question &lt;i&gt;x&lt;/i&gt;") &&
              strstr(b.data, "<title>404 Not found");
    dx_buf_free(&b);
    CHECK(ok);
}

TEST(web_assets_are_embedded_from_web_dir)
{
    static const struct {
        const char *path, *file, *mime;
    } want[] = {
        {"/static/app.js", "web/app.js", "text/javascript; charset=utf-8"},
        {"/static/style.css", "web/style.css", "text/css; charset=utf-8"},
        {"/static/icon.svg", "web/icon.svg", "image/svg+xml"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const unsigned char *data;
        size_t len;
        const char *mime;
        CHECK_MSG(web_asset(want[i].path, &data, &len, &mime), "%s missing", want[i].path);
        char *file;
        size_t flen;
        CHECK(dx_read_file(want[i].file, 1 << 20, &file, &flen) == DX_OK);
        bool same = flen == len && !memcmp(file, data, len);
        free(file);
        CHECK_MSG(same, "%s differs from %s", want[i].path, want[i].file);
        CHECK_STR(mime, want[i].mime);
    }
    const unsigned char *d;
    size_t l;
    const char *m;
    CHECK(!web_asset("/static/nope.js", &d, &l, &m));
    CHECK(!web_asset("/static/../Makefile", &d, &l, &m));
    CHECK(!web_asset("/app.js", &d, &l, &m));
    CHECK(!web_asset("/static/", &d, &l, &m));
    CHECK(!web_asset(NULL, &d, &l, &m));
}

TEST(pages_reference_only_embedded_assets)
{
    char *h = render("consensus", false);
    CHECK(h);
    const unsigned char *d;
    size_t l;
    const char *m;
    bool ok = true;
    for (const char *p = h; (p = strstr(p, "\"/static/")); p++) {
        char path[128];
        size_t n = strcspn(p + 1, "\"");
        snprintf(path, sizeof path, "%.*s", (int)n, p + 1);
        if (!web_asset(path, &d, &l, &m)) {
            printf("  %s is not embedded\n", path);
            ok = false;
        }
    }
    free(h);
    CHECK(ok);
}

/* The screen-reader text says the percentage once: the heading says it, the
 * meter beside it is a picture of the same number. */
TEST(meter_is_not_read_twice)
{
    char *h = render("consensus", false);
    CHECK(h);
    const char *m = h ? strstr(h, "<meter") : NULL;
    const char *end = m ? strchr(m, '>') : NULL;
    CHECK(m && end && memmem(m, (size_t)(end - m), "aria-hidden=\"true\"", 18) &&
          !memmem(m, (size_t)(end - m), "aria-label", 10));
    free(h);
}

/* Every form that posts carries the session's token; model paths show as file names. */
TEST(posting_forms_carry_the_token_and_no_path)
{
    json_t *q = fixture("consensus");
    CHECK(q);
    json_t *m0 = json_array_get(json_object_get(json_object_get(q, "result"), "members"), 0);
    json_object_set_new(m0, "model", json_string("/home/someone/models/Secret-7B.gguf"));
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_question(&b, q, false, "0123456789abcdef0123456789abcdef"), DX_OK);
    CHECK_EQ_INT(dx_buf_puts(&b, ""), DX_OK);
    const char *h = b.data;
    int forms = count(h, "method=\"post\"");
    CHECK(forms >= 2);
    CHECK_EQ_INT(count(h, "name=\"token\" value=\"0123456789abcdef0123456789abcdef\""), forms);
    CHECK(!strstr(h, "/home/someone") && !strstr(h, "title=") && strstr(h, "Secret-7B.gguf"));
    dx_buf_free(&b);
    json_decref(q);
    b = dx_buf_make(DX_PAGE_MAX_BYTES);
    CHECK_EQ_INT(page_home(&b, NULL, NULL, "tok"), DX_OK);
    CHECK_EQ_INT(dx_buf_puts(&b, ""), DX_OK);
    CHECK_EQ_INT(count(b.data, "name=\"token\" value=\"tok\""), count(b.data, "method=\"post\""));
    CHECK(strstr(b.data, "Up to 16384 characters.") != NULL);
    dx_buf_free(&b);
}

int main(void)
{
    RUN(single_voice_shows_banner_and_no_percentage);
    RUN(consensus_shows_percentage_meter_and_agreed_points);
    RUN(meter_is_not_read_twice);
    RUN(posting_forms_carry_the_token_and_no_path);
    RUN(answer_markdown_is_rendered_with_gfm);
    RUN(answer_kind_is_shown);
    RUN(followups_continue_the_thread_without_script);
    RUN(thread_page_shows_every_turn_newest_last);
    RUN(disagree_shows_each_side);
    RUN(no_answer_says_so_without_a_number);
    RUN(running_page_updates_live_and_reloads_without_script);
    RUN(done_but_unusable_member_is_marked_not_counted);
    RUN(queued_question_is_live_too);
    RUN(interrupted_page_explains_and_offers_rerun);
    RUN(hostile_output_is_escaped_everywhere);
    RUN(fragment_is_only_main);
    RUN(every_fixture_is_consistent_with_its_object);
    RUN(malformed_stored_question_renders_without_crashing);
    RUN(full_buffer_fails_with_limit);
    RUN(markdown_drops_unsafe_links_and_shows_raw_html_as_text);
    RUN(markdown_of_a_large_answer_is_bounded_and_linear);
    RUN(home_has_form_examples_and_recent_questions);
    RUN(list_items_show_label_and_number_from_the_store);
    RUN(home_without_examples_or_history_uses_defaults);
    RUN(history_lists_searches_and_deletes);
    RUN(history_pages_link_older_and_newest_with_the_search_escaped);
    RUN(error_page_escapes_message);
    RUN(web_assets_are_embedded_from_web_dir);
    RUN(pages_reference_only_embedded_assets);
    return test_summary();
}
