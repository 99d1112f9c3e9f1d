/*
 * synth — prompts for the synthesizer, the extractive fallback, derived
 * follow-ups and the keyword category (see synth.h, docs/consensus.md).
 */
#include "consensus/synth.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "consensus/text.h"
#include "core/limits.h"

const char *const cns_categories[] = {
    "Technology", "Health", "Science", "Math", "History",  "Geography", "Business", "Law",
    "Politics",   "Arts",   "Sports",  "Food", "Language", "General",   NULL,
};

/* Keywords per category (stemmed at use); docs/consensus.md lists them too. */
static const char *const keywords[][40] = {
    /* Technology */ {"software",   "computer",   "program",   "programming", "code",
                      "python",     "javascript", "linux",     "internet",    "app",
                      "database",   "algorithm",  "network",   "server",      "api",
                      "license",    "licence",    "gpu",       "cpu",         "web",
                      "browser",    "encryption", "compiler",  "git",         "smartphone",
                      "technology", "sqlite",     "framework", "library",     "language model",
                      "operating",  "memory",     "hardware",  "website",     "digital",
                      "cloud",      "robot",      NULL},
    /* Health */ {"health",  "disease",   "symptom", "doctor",  "medicine",  "medical",
                  "drug",    "vaccine",   "virus",   "cancer",  "diet",      "exercise",
                  "sleep",   "pain",      "blood",   "heart",   "treatment", "nutrition",
                  "vitamin", "infection", "mental",  "therapy", "pregnancy", "hospital",
                  "patient", "dose",      "body",    "brain",   "skin",      "weight",
                  NULL},
    /* Science */ {"physics", "chemistry", "biology", "atom",     "molecule",   "energy",
                   "planet",  "star",      "galaxy",  "universe", "gravity",    "evolution",
                   "cell",    "species",   "light",   "quantum",  "experiment", "theory",
                   "climate", "earth",     "moon",    "sun",      "scientist",  "element",
                   "boil",    "water",     "speed",   "dna",      "animal",     "plant",
                   NULL},
    /* Math */ {"math",     "mathematics", "equation", "sum",   "calculate", "algebra",
                "geometry", "probability", "integer",  "prime", "fraction",  "average",
                "multiply", "divide",      "total",    "solve", "formula",   "percent",
                "number",   "square",      NULL},
    /* History */
    {"history", "war", "empire", "century", "ancient", "king", "queen", "revolution", "dynasty",
     "battle", "medieval", "historical", "emperor", "civilization", "invented", "founded",
     "discovered", NULL},
    /* Geography */
    {"capital", "country", "city", "river", "mountain", "continent", "ocean", "population",
     "border", "island", "lake", "desert", "located", "map", "region", NULL},
    /* Business */ {"business", "company", "market",    "stock",   "price", "money",    "invest",
                    "economy",  "tax",     "bank",      "finance", "sales", "startup",  "revenue",
                    "profit",   "salary",  "inflation", "dollar",  "cost",  "customer", NULL},
    /* Law */
    {"law", "legal", "court", "rights", "contract", "lawsuit", "crime", "police", "judge",
     "attorney", "copyright", "patent", "illegal", "regulation", NULL},
    /* Politics */
    {"government", "election", "vote", "party", "politics", "policy", "senate", "president",
     "minister", "democracy", "parliament", "political", NULL},
    /* Arts */ {"music",    "song",   "film",   "movie",  "book",  "novel", "author",
                "painting", "artist", "art",    "poem",   "album", "actor", "season",
                "episode",  "show",   "series", "singer", "wrote", "sang",  NULL},
    /* Sports */ {"sport",    "football", "soccer",     "basketball",   "baseball", "tennis",
                  "olympics", "team",     "player",     "championship", "league",   "ncaa",
                  "cup",      "coach",    "tournament", "won",          "race",     "marathon",
                  "olympic",  "athlete",  NULL},
    /* Food */
    {"food", "recipe", "cook", "cooking", "eat", "fruit", "vegetable", "meat", "bake", "ingredient",
     "coffee", "wine", "seed", "cookie", "drink", "taste", NULL},
    /* Language */
    {"word", "language", "grammar", "meaning", "translate", "spelling", "english", "pronounce",
     "synonym", "phrase", "mean", NULL},
};
#define N_KEYWORD_CATS (sizeof keywords / sizeof keywords[0])

static int count_hits(const cns_features *f, size_t cat)
{
    int hits = 0;
    for (size_t k = 0; keywords[cat][k]; k++) {
        char w[64];
        snprintf(w, sizeof w, "%s", keywords[cat][k]);
        size_t n = cns_stem(w, strlen(w));
        w[n] = '\0';
        for (size_t i = 0; i < f->n_tok; i++)
            if (!strcmp(f->toks[i].stem, w)) {
                hits++;
                break;
            }
    }
    return hits;
}

const char *cns_category_derive(const cns_result *r)
{
    int score[N_KEYWORD_CATS] = {0};
    arena a = arena_make(64 << 10, 64 << 20);
    cns_features f;
    if (cns_text_features(r->question, &a, &f) == DX_OK)
        for (size_t c = 0; c < N_KEYWORD_CATS; c++)
            score[c] += 3 * count_hits(&f, c);
    for (size_t i = 0; i < r->n_members; i++) {
        if (!r->members[i].usable)
            continue;
        arena_reset(&a);
        /* the first 4 KiB of each answer are enough to tell its field */
        char buf[4097];
        snprintf(buf, sizeof buf, "%s", r->members[i].text);
        if (cns_text_features(buf, &a, &f) == DX_OK)
            for (size_t c = 0; c < N_KEYWORD_CATS; c++)
                score[c] += count_hits(&f, c);
    }
    arena_free(&a);
    size_t best = N_KEYWORD_CATS;
    int bs = 0;
    for (size_t c = 0; c < N_KEYWORD_CATS; c++)
        if (score[c] > bs) {
            bs = score[c];
            best = c;
        }
    return best < N_KEYWORD_CATS ? cns_categories[best] : "General";
}

/* ---- prompts -----------------------------------------------------------------
 * The analysis goes to the synthesizer as plain notes, one sentence per point,
 * not as headed sections: small models copy headings ("Agreed points:") into
 * their reply instead of answering (measured on Qwen2.5-Coder 0.5B/1.5B). */

#define NOTES_MAX_UNIQUE 8

static dx_status put_notes(const cns_result *r, dx_buf *b)
{
    const cns_analysis *an = &r->analysis;
    dx_status st;
    if (an->usable == 1)
        st = dx_buf_puts(b, "Notes (one model answered, so nothing could be cross-checked):\n");
    else if (an->consensus >= 0)
        st = dx_buf_printf(b, "Notes (%d models answered; consensus %d%%):\n", an->usable,
                           an->consensus);
    else
        st = dx_buf_printf(b, "Notes (%d models answered):\n", an->usable);
    for (size_t i = 0; i < an->n_agreed && !st; i++)
        st = dx_buf_printf(b, "- %zu of %d models agree: %s\n", an->agreed[i].n_members, an->usable,
                           an->agreed[i].text);
    for (size_t i = 0; i < an->n_disputed && !st; i++) {
        st = dx_buf_printf(b, "- The models disagree: %s\n", an->disputed[i].text);
        for (size_t k = 0; k < an->disputed[i].n_stances && !st; k++)
            st = dx_buf_printf(b, "  - %s says: %s\n", an->disputed[i].stances[k].member,
                               an->disputed[i].stances[k].text);
    }
    for (size_t i = 0; i < an->n_unique && i < NOTES_MAX_UNIQUE && !st; i++)
        st = dx_buf_printf(b, "- Only %s said (unconfirmed): %s\n", an->unique[i].member,
                           an->unique[i].text);
    return st;
}

dx_status cns_prompt_synthesis(const cns_result *r, dx_buf *b)
{
    dx_status st = dx_buf_puts(
        b,
        "Several AI models answered the question below. Write the final answer for the person who "
        "asked, using their answers and the notes on where they agree.\n\n"
        "Rules:\n"
        "- Begin with the direct answer in one or two sentences.\n"
        "- Rely on the points the models agree on.\n"
        "- Where the models disagree, say so and give each side.\n"
        "- Mention a point only one model made only if it matters, and say it is unconfirmed.\n"
        "- Add no facts that no model gave. Do not repeat these rules or the notes.\n"
        "- Be brief. Use markdown (a list, a table, code) only where it helps.\n\n");
    if (!st)
        st = dx_buf_printf(b, "Question: %s\n\n", r->question);
    if (!st)
        st = put_notes(r, b);
    if (!st)
        st = dx_buf_puts(b, "\nThe answers:\n");
    for (size_t i = 0; i < r->n_members && !st; i++) {
        if (!r->members[i].usable)
            continue;
        st = dx_buf_printf(b, "\n[%s] %s\n", r->members[i].name, r->members[i].text);
    }
    if (!st)
        st = dx_buf_puts(b, "\nWrite the final answer now.\n");
    return st;
}

/* A reply that copies the prompt's scaffolding instead of answering: a line
 * that starts like one of the notes or rules. */
static bool restates_prompt(const char *reply)
{
    static const char *const marks[] = {"notes (",
                                        "rules:",
                                        "agreed points",
                                        "disputed points",
                                        "points only one",
                                        "the models disagree:",
                                        "only one model said"};
    for (const char *p = reply; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        while (*p == ' ' || *p == '\t' || *p == '#' || *p == '*' || *p == '-')
            p++;
        for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++)
            if (!strncasecmp(p, marks[k], strlen(marks[k])))
                return true;
        const char *agree = strstr(p, " models agree:"), *eol = strchr(p, '\n');
        if (agree && (!eol || agree < eol))
            return true;
    }
    return false;
}

dx_status cns_prompt_followups(const cns_result *r, dx_buf *b)
{
    dx_status st = dx_buf_puts(b, "Write three short follow-up questions the person might ask "
                                  "next, one per line, each ending "
                                  "with a question mark. Prefer questions that would settle the "
                                  "disputed points. Write nothing "
                                  "else.\n\n");
    if (!st)
        st = dx_buf_printf(b, "Question: %s\n\n", r->question);
    if (!st)
        st = put_notes(r, b);
    if (!st && r->answer)
        st = dx_buf_printf(b, "\nAnswer given:\n%s\n", r->answer);
    if (!st)
        st = dx_buf_puts(b, "\nFollow-up questions:\n");
    return st;
}

dx_status cns_prompt_category(const cns_result *r, dx_buf *b)
{
    dx_status st =
        dx_buf_puts(b, "Which one category fits this question best? Reply with one word from: ");
    for (size_t i = 0; cns_categories[i] && !st; i++)
        st = dx_buf_printf(b, "%s%s", i ? ", " : "", cns_categories[i]);
    if (!st)
        st = dx_buf_printf(b, ".\n\nQuestion: %s\n\nCategory:", r->question);
    return st;
}

/* ---- fallbacks ------------------------------------------------------------- */

/* s cut to about max bytes on a UTF-8 boundary, without trailing '.', in a. */
static const char *shorten(arena *a, const char *s, size_t max)
{
    size_t n = strlen(s);
    bool cut = false;
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
        n--;
    char *r = arena_alloc(a, n + 4);
    if (!r)
        return "";
    memcpy(r, s, n);
    if (cut)
        memcpy(r + n, "\xe2\x80\xa6", 4);
    else
        r[n] = '\0';
    return r;
}

/* why: what kept the synthesizer from writing the answer, as the note says it. */
static dx_status extractive(const cns_result *r, const char *why, dx_buf *b)
{
    const cns_analysis *an = &r->analysis;
    dx_status st = DX_OK;
    if (an->label == CNS_LABEL_NO_ANSWER) {
        st = dx_buf_puts(
            b, "No member of the council gave a usable answer, so there is no answer to show.\n\n");
        for (size_t i = 0; i < r->n_members && !st; i++) {
            const cns_member *m = &r->members[i];
            st = dx_buf_printf(b, "- %s: %s%s%s\n", m->name, cns_status_str(m->status),
                               m->error ? " — " : "", m->error ? m->error : "");
        }
        return st;
    }
    if (an->label == CNS_LABEL_SINGLE_VOICE) {
        for (size_t i = 0; i < r->n_members; i++)
            if (r->members[i].usable)
                return dx_buf_printf(b,
                                     "_Extractive answer: %s and only %s gave a usable answer, so "
                                     "this is that answer "
                                     "unchanged; nothing in it was cross-checked._\n\n%s\n",
                                     why, r->members[i].name, r->members[i].text);
    }
    st = dx_buf_printf(b,
                       "_Extractive answer: %s, so these are the members' own statements, most "
                       "supported first._\n",
                       why);
    if (!st && an->n_agreed)
        st = dx_buf_puts(b, "\n**Agreed**\n\n");
    for (size_t i = 0; i < an->n_agreed && !st; i++)
        st = dx_buf_printf(b, "- %s (%zu of %d members)\n", an->agreed[i].text,
                           an->agreed[i].n_members, an->usable);
    if (!st && an->n_disputed)
        st = dx_buf_puts(b, "\n**Disputed**\n\n");
    for (size_t i = 0; i < an->n_disputed && !st; i++) {
        const cns_disputed *d = &an->disputed[i];
        st = dx_buf_printf(b, "- Disputed: %s\n", d->text);
        /* one line per side: its members, then its most explicit statement */
        for (int pos = 0; !st; pos++) {
            const char *text = NULL;
            size_t nmem = 0;
            for (size_t k = 0; k < d->n_stances; k++)
                if (d->stances[k].position == pos) {
                    nmem++;
                    if (!text || strlen(d->stances[k].text) > strlen(text))
                        text = d->stances[k].text;
                }
            if (!nmem)
                break;
            st = dx_buf_puts(b, "  - ");
            size_t done = 0;
            for (size_t k = 0; k < d->n_stances && !st; k++)
                if (d->stances[k].position == pos)
                    st = dx_buf_printf(b, "%s%s", done++ ? ", " : "", d->stances[k].member);
            if (!st)
                st = dx_buf_printf(b, ": %s\n", text);
        }
    }
    if (!st && an->n_unique)
        st = dx_buf_puts(b, "\n**Said by one member only**\n\n");
    for (size_t i = 0; i < an->n_unique && i < 8 && !st; i++)
        st = dx_buf_printf(b, "- %s (%s)\n", an->unique[i].text, an->unique[i].member);
    if (!st && an->n_unique > 8)
        st = dx_buf_printf(b, "- … and %zu more\n", an->n_unique - 8);
    return st;
}

/* Fills the follow-ups up to three (after any the model gave) from the
 * content of the analysis. */
static void derive_followups(cns_result *r, arena *a)
{
    const cns_analysis *an = &r->analysis;
    char buf[600];
    for (size_t i = 0; i < an->n_disputed && r->n_followups < 3; i++) {
        const cns_disputed *d = &an->disputed[i];
        const char *s0 = NULL, *s1 = NULL;
        for (size_t k = 0; k < d->n_stances; k++) {
            const char *t = d->stances[k].text;
            if (d->stances[k].position == 0 && (!s0 || strlen(t) > strlen(s0)))
                s0 = t;
            if (d->stances[k].position == 1 && (!s1 || strlen(t) > strlen(s1)))
                s1 = t;
        }
        if (!s0 || !s1)
            continue;
        snprintf(buf, sizeof buf, "Which is right: \"%s\" or \"%s\"?", shorten(a, s0, 120),
                 shorten(a, s1, 120));
        r->followups[r->n_followups++] = arena_strdup(a, buf);
    }
    for (size_t i = 0; i < an->n_unique && r->n_followups < 3; i++) {
        snprintf(buf, sizeof buf, "Is it true that \"%s\"? Only %s said so.",
                 shorten(a, an->unique[i].text, 200), an->unique[i].member);
        r->followups[r->n_followups++] = arena_strdup(a, buf);
    }
    for (size_t i = an->n_agreed; i > 0 && r->n_followups < 3; i--) {
        snprintf(buf, sizeof buf, "What is the evidence for \"%s\"?",
                 shorten(a, an->agreed[i - 1].text, 200));
        r->followups[r->n_followups++] = arena_strdup(a, buf);
    }
    /* few points: ask about the limits of the agreed ones, then go deeper on the question */
    for (size_t i = an->n_agreed; i > 0 && r->n_followups < 3; i--) {
        const char *t = an->agreed[i - 1].text;
        size_t words = 1;
        for (const char *p = t; *p; p++)
            words += *p == ' ';
        if (words < 4) /* a bare answer ("Paris") has no conditions to ask about */
            continue;
        snprintf(buf, sizeof buf, "When does \"%s\" not hold?", shorten(a, t, 200));
        r->followups[r->n_followups++] = arena_strdup(a, buf);
    }
    if (r->n_followups < 3 && r->question && *r->question) {
        const char *q = shorten(a, r->question, 200);
        size_t n = q ? strlen(q) : 0;
        while (n && (q[n - 1] == '?' || q[n - 1] == ' '))
            n--;
        snprintf(buf, sizeof buf, "Where can I check the answer to \"%.*s\"?", (int)n, q ? q : "");
        r->followups[r->n_followups++] = arena_strdup(a, buf);
    }
    for (size_t i = 0; i < r->n_followups; i++)
        if (!r->followups[i])
            r->n_followups = i;
}

/* Follow-up lines from a model reply: strip bullets and numbers, keep questions. */
static size_t parse_followups(cns_result *r, const char *reply, arena *a)
{
    size_t n = 0;
    const char *p = reply;
    while (*p && n < 3) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len &&
               (isspace((unsigned char)*s) || *s == '-' || *s == '*' ||
                isdigit((unsigned char)*s) || *s == '.' || *s == ')' || *s == '_' || *s == '"')) {
            s++;
            len--;
        }
        /* markdown emphasis or quotes around the question ("**Why ...?**") */
        while (len && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '*' ||
                       s[len - 1] == '_' || s[len - 1] == '"'))
            len--;
        if (len > 3 && len < 400 && s[len - 1] == '?') {
            char *q = arena_strndup(a, s, len);
            if (q)
                r->followups[n++] = q;
        }
        p = e ? e + 1 : p + strlen(p);
    }
    return n;
}

static const char *parse_category(const char *reply)
{
    const char *s = reply;
    while (*s && !isalpha((unsigned char)*s))
        s++;
    for (size_t i = 0; cns_categories[i]; i++) {
        size_t n = strlen(cns_categories[i]);
        if (!strncasecmp(s, cns_categories[i], n) && !isalpha((unsigned char)s[n]))
            return cns_categories[i];
    }
    return NULL;
}

static dx_status ask(const cns_synth_options *opt,
                     dx_status (*prompt)(const cns_result *, dx_buf *), const cns_result *r,
                     dx_buf *reply)
{
    dx_buf p = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = prompt(r, &p);
    if (!st)
        st = opt->generate(opt->generate_user, p.data, reply);
    dx_buf_free(&p);
    return st;
}

dx_status cns_synthesize(cns_result *r, const cns_synth_options *opt, arena *a)
{
    static const cns_synth_options defaults = {0};
    if (!opt)
        opt = &defaults;
    dx_status st = DX_OK;
    dx_buf reply = dx_buf_make(DX_CNS_MAX_GENERATED);
    r->category = NULL;
    if (opt->generate && r->analysis.usable > 0 &&
        ask(opt, cns_prompt_category, r, &reply) == DX_OK && reply.data)
        r->category = parse_category(reply.data);
    r->category_source = r->category ? "model" : "derived";
    if (!r->category)
        r->category = cns_category_derive(r);
    if (!opt->answer)
        goto out;

    dx_buf_clear(&reply);
    r->answer_source = "extractive";
    const char *why = "no synthesizer model was available";
    if (opt->generate && r->analysis.usable > 0) {
        why = "the synthesizer model did not answer";
        if (ask(opt, cns_prompt_synthesis, r, &reply) == DX_OK && reply.data && reply.len) {
            if (!restates_prompt(reply.data)) {
                r->answer = arena_strndup(a, reply.data, reply.len);
                r->answer_source = "model";
            } else {
                why = "the synthesizer model repeated its instructions instead of answering";
            }
        }
    }
    if (strcmp(r->answer_source, "model")) {
        dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
        st = extractive(r, why, &b);
        if (!st)
            r->answer = arena_strdup(a, b.data ? b.data : "");
        dx_buf_free(&b);
        if (st)
            goto out;
    }
    if (!r->answer) {
        st = dx_fail(DX_ENOMEM, "consensus: out of memory");
        goto out;
    }

    dx_buf_clear(&reply);
    r->n_followups = 0;
    if (opt->generate && r->analysis.usable > 0 &&
        ask(opt, cns_prompt_followups, r, &reply) == DX_OK && reply.data)
        r->n_followups = parse_followups(r, reply.data, a);
    /* small models often write two: the rest come from the analysis, and the source says so */
    const size_t from_model = r->n_followups;
    if (from_model < 3)
        derive_followups(r, a);
    r->followups_source = from_model == 0                ? "derived"
                          : from_model >= r->n_followups ? "model"
                                                         : "model+derived";
out:
    dx_buf_free(&reply);
    return st;
}
