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
#include "core/log.h"

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
    if (an->usable == 1)
        dx_buf_add(b, "Notes (one model answered, so nothing could be cross-checked):\n");
    else if (an->consensus >= 0)
        dx_buf_addf(b, "Notes (%d models answered; consensus %d%%):\n", an->usable, an->consensus);
    else
        dx_buf_addf(b, "Notes (%d models answered):\n", an->usable);
    for (size_t i = 0; i < an->n_agreed; i++)
        dx_buf_addf(b, "- %zu of %d models agree: %s\n", an->agreed[i].n_members, an->usable,
                    an->agreed[i].text);
    for (size_t i = 0; i < an->n_disputed; i++) {
        dx_buf_addf(b, "- The models disagree: %s\n", an->disputed[i].text);
        for (size_t k = 0; k < an->disputed[i].n_stances; k++)
            dx_buf_addf(b, "  - %s says: %s\n", an->disputed[i].stances[k].member,
                        an->disputed[i].stances[k].text);
    }
    for (size_t i = 0; i < an->n_unique && i < NOTES_MAX_UNIQUE; i++)
        dx_buf_addf(b, "- Only %s said (unconfirmed): %s\n", an->unique[i].member,
                    an->unique[i].text);
    return b->err;
}

/* The instructions of the answer prompt, one per line; an answer that copies
 * five words in a row from them is echoing its prompt. */
static const char *const answer_rules[] = {
    "Write the answer to the question for the reader, using only the answers above.",
    "Start with the direct answer in one sentence.",
    "Use only facts that the models stated; add nothing of your own.",
    "Where the models disagree, say that the point is disputed and which model said what.",
    "Be brief: a short paragraph or a short list.",
    "Then write the line \"Follow-up questions:\" and three new questions the reader could ask "
    "next, each one step beyond the question, one per line.",
    NULL,
};

#define RULE_DISAGREE 3 /* answer_rules[3]: say which point is disputed */

/* The marker between the answer and the follow-ups in the synthesizer's reply. */
#define FOLLOWUP_MARK "follow-up questions"

/* Each usable answer goes into the prompt cut to this many bytes. */
#define PROMPT_ANSWER_MAX 800

dx_status cns_prompt_synthesis(const cns_result *r, dx_buf *b)
{
    dx_buf_addf(b, "Question: %s\n\nThe answers of %d AI models:\n", r->question,
                r->analysis.usable);
    for (size_t i = 0; i < r->n_members; i++) {
        if (!r->members[i].usable)
            continue;
        const char *t = r->members[i].text;
        size_t n = strlen(t);
        while (n > PROMPT_ANSWER_MAX)
            for (n = PROMPT_ANSWER_MAX; n && ((unsigned char)t[n] & 0xC0) == 0x80; n--)
                ;
        dx_buf_addf(b, "\n[%s] %.*s\n", r->members[i].name, (int)n, t);
    }
    dx_buf_add(b, "\n");
    put_notes(r, b);
    dx_buf_add(b, "\n");
    /* the rule about disagreement only when there is one: small writers
     * otherwise repeat it ("The models disagree, saying that ...") */
    for (size_t i = 0; answer_rules[i]; i++)
        if (i != RULE_DISAGREE || r->analysis.n_disputed)
            dx_buf_addf(b, "%s\n", answer_rules[i]);
    return b->err;
}

/* A reply that copies the prompt's scaffolding instead of answering: a line
 * that starts like one of the notes or rules. */
static bool restates_prompt(const char *reply)
{
    static const char *const marks[] = {"notes (",
                                        "rules:",
                                        "question:",
                                        "agreed points",
                                        "disputed points",
                                        "points only one",
                                        "the models disagree:",
                                        "only one model said",
                                        "the answers of"};
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
    dx_buf_addf(b, "Question: %s\n\n", r->question);
    if (r->answer)
        dx_buf_addf(b, "Answer: %.*s\n\n", PROMPT_ANSWER_MAX, r->answer);
    dx_buf_add(b, "Write three new questions the reader could ask next, each one step beyond the "
                  "question, one per line, each ending with a question mark. Write nothing "
                  "else.\n");
    return b->err;
}

dx_status cns_prompt_category(const cns_result *r, dx_buf *b)
{
    dx_buf_add(b, "Which one category fits this question best? Reply with one word from: ");
    for (size_t i = 0; cns_categories[i]; i++)
        dx_buf_addf(b, "%s%s", i ? ", " : "", cns_categories[i]);
    dx_buf_addf(b, ".\n\nQuestion: %s\n\nCategory:", r->question);
    return b->err;
}

/* ---- fallbacks ------------------------------------------------------------- */

/* s cut to about max bytes on a UTF-8 boundary, without trailing ".:;, ", in a. */
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
    while (n && strchr(".:;, ", s[n - 1]))
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

/* The disputed points under heading: each with one line per side, its
 * members and their most explicit statement. */
static dx_status put_disputed(const cns_result *r, const char *heading, dx_buf *b)
{
    const cns_analysis *an = &r->analysis;
    dx_buf_add(b, heading);
    for (size_t i = 0; i < an->n_disputed; i++) {
        const cns_disputed *d = &an->disputed[i];
        dx_buf_addf(b, "- Disputed: %s\n", d->text);
        /* one line per side: its members, then its most explicit statement */
        for (int pos = 0;; pos++) {
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
            dx_buf_add(b, "  - ");
            size_t done = 0;
            for (size_t k = 0; k < d->n_stances; k++)
                if (d->stances[k].position == pos)
                    dx_buf_addf(b, "%s%s", done++ ? ", " : "", d->stances[k].member);
            dx_buf_addf(b, ": %s\n", text);
        }
    }
    return b->err;
}

/* why: what kept the synthesizer from writing the answer, as the note says it. */
static dx_status extractive(const cns_result *r, const char *why, dx_buf *b)
{
    const cns_analysis *an = &r->analysis;
    if (an->label == CNS_LABEL_NO_ANSWER) {
        dx_buf_add(
            b, "No member of the council gave a usable answer, so there is no answer to show.\n\n");
        for (size_t i = 0; i < r->n_members; i++) {
            const cns_member *m = &r->members[i];
            dx_buf_addf(b, "- %s: %s%s%s\n", m->name, cns_status_str(m->status),
                        m->error ? " — " : "", m->error ? m->error : "");
        }
        return b->err;
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
    dx_buf_addf(b,
                "_Extractive answer: %s, so these are the members' own statements, most "
                "supported first._\n",
                why);
    if (an->n_agreed)
        dx_buf_add(b, "\n**Agreed**\n\n");
    for (size_t i = 0; i < an->n_agreed; i++)
        dx_buf_addf(b, "- %s (%zu of %d members)\n", an->agreed[i].text, an->agreed[i].n_members,
                    an->usable);
    if (an->n_disputed)
        put_disputed(r, "\n**Disputed**\n\n", b);
    if (an->n_unique)
        dx_buf_add(b, "\n**Said by one member only**\n\n");
    for (size_t i = 0; i < an->n_unique && i < 8; i++)
        dx_buf_addf(b, "- %s (%s)\n", an->unique[i].text, an->unique[i].member);
    if (an->n_unique > 8)
        dx_buf_addf(b, "- … and %zu more\n", an->n_unique - 8);
    return b->err;
}

/* ---- the check of a written answer -------------------------------------------
 * docs/consensus.md ("Synthesis"): a written answer is shown only when it does
 * not echo its prompt or the question, does not loop, states the agreed answer,
 * and names no name and gives no number that no member gave. */

/* Lower-case ASCII words (letters and digits; other bytes are letters too)
 * of s, into a; returns how many. */
static size_t words_of(const char *s, arena *a, const char ***out)
{
    size_t n = 0, cap = 16;
    const char **w = arena_alloc_array(a, cap, sizeof *w);
    while (w && *s) {
        while (*s && !(isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80))
            s++;
        const char *b = s;
        while (*s && (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80))
            s++;
        if (s == b)
            break;
        if (n == cap) {
            const char **g = arena_alloc_array(a, cap * 2, sizeof *g);
            if (!g)
                return *out = NULL, 0;
            memcpy(g, w, n * sizeof *w);
            w = g;
            cap *= 2;
        }
        char *x = arena_strndup(a, b, (size_t)(s - b));
        if (!x)
            return *out = NULL, 0;
        for (char *p = x; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        w[n++] = x;
    }
    *out = w;
    return w ? n : 0;
}

/* Does the word sequence hay contain needle[0..k) contiguously? */
static bool has_run(const char **hay, size_t nh, const char **needle, size_t k)
{
    for (size_t i = 0; k && i + k <= nh; i++) {
        size_t j = 0;
        while (j < k && !strcmp(hay[i + j], needle[j]))
            j++;
        if (j == k)
            return true;
    }
    return false;
}

#define ECHO_WORDS 5 /* words in a row copied from the instructions */

static bool echoes(const cns_result *r, const char **aw, size_t na, arena *a)
{
    const char **qw;
    size_t nq = words_of(r->question, a, &qw);
    if (nq >= 4 && has_run(aw, na, qw, nq))
        return true; /* the question, word for word */
    for (size_t i = 0; answer_rules[i]; i++) {
        const char **rw;
        size_t nr = words_of(answer_rules[i], a, &rw);
        for (size_t k = 0; k + ECHO_WORDS <= nr; k++)
            if (has_run(aw, na, rw + k, ECHO_WORDS))
                return true;
    }
    return false;
}

/* A block of up to 12 words said three times in a row (12 words at least),
 * or a line of 16+ characters written twice. */
static bool loops(const char *text, const char **w, size_t n)
{
    for (size_t p = 1; p <= 12; p++) {
        size_t run = 0;
        for (size_t i = p; i < n; i++) {
            run = strcmp(w[i], w[i - p]) ? 0 : run + 1;
            if (run + p >= 3 * p && run + p >= 12)
                return true;
        }
    }
    const char *lines[64];
    size_t lens[64], nl = 0;
    for (const char *p = text; *p && nl < 64;) {
        while (*p == ' ' || *p == '\t' || *p == '-' || *p == '*' || *p == '#' ||
               isdigit((unsigned char)*p) || *p == '.' || *p == ')')
            p++;
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len >= 16) {
            for (size_t k = 0; k < nl; k++)
                if (lens[k] == len && !strncasecmp(lines[k], p, len))
                    return true;
            lines[nl] = p;
            lens[nl++] = len;
        }
        p = e ? e + 1 : p + strlen(p);
    }
    return false;
}

typedef struct sources {
    cns_features f[DX_MAX_MEMBERS + 3];
    size_t n;
} sources;

static bool stem_known(const sources *s, const char *stem)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->f[i].n_tok; k++)
            if (!strcmp(s->f[i].toks[k].stem, stem))
                return true;
    return false;
}

static bool qty_known(const sources *s, const cns_qty *q)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->f[i].n_qty; k++)
            if (s->f[i].qty[k].dim == q->dim && cns_qty_agree(&s->f[i].qty[k], q))
                return true;
    return false;
}

/* Words an answer may use about the council itself. */
static const char council_words[] =
    "AI model models council member members answer answers disputed agreed unconfirmed "
    "however note yes no I";

/* Why a written answer must not be shown, or NULL when it may. Strings are
 * static or in a. */
static const char *check_answer(const cns_result *r, const char *ans, arena *a)
{
    const cns_analysis *an = &r->analysis;
    const char **aw;
    size_t na = words_of(ans, a, &aw);
    if (!aw || na == 0)
        return "it is empty";
    if (restates_prompt(ans) || echoes(r, aw, na, a))
        return "it repeats its instructions or the question instead of answering";
    if (loops(ans, aw, na))
        return "it repeats itself";
    /* what the members said, the question, the members' names */
    sources *src = arena_alloc(a, sizeof *src);
    if (!src)
        return NULL;
    memset(src, 0, sizeof *src);
    dx_buf names = dx_buf_make(4096);
    dx_buf_puts(&names, council_words);
    for (size_t i = 0; i < r->n_members; i++) {
        dx_buf_printf(&names, " %s", r->members[i].name);
        if (r->members[i].usable &&
            cns_text_features(r->members[i].text, a, &src->f[src->n]) == DX_OK)
            src->n++;
    }
    if (cns_text_features(r->question, a, &src->f[src->n]) == DX_OK)
        src->n++;
    if (names.data && cns_text_features(names.data, a, &src->f[src->n]) == DX_OK)
        src->n++;
    dx_buf_free(&names);
    /* each sentence: its names and numbers must come from the sources */
    cns_span *sp;
    size_t nsp = 0;
    const char *why = NULL;
    if (cns_markdown_split(ans, strlen(ans), a, &sp, &nsp) != DX_OK)
        return NULL;
    for (size_t i = 0; i < nsp && !why; i++) {
        cns_features f;
        if (cns_text_features(sp[i].text, a, &f))
            continue;
        for (size_t k = 0; k < f.n_tok && !why; k++)
            if ((f.toks[k].flags & CNS_TOK_NAME) && !stem_known(src, f.toks[k].stem)) {
                char msg[160];
                snprintf(msg, sizeof msg, "it names \"%.100s\", which no member did",
                         f.toks[k].stem);
                why = arena_strdup(a, msg);
            }
        for (size_t k = 0; k < f.n_qty && !why; k++)
            if (!qty_known(src, &f.qty[k]))
                why = "it gives a number that no member gave";
    }
    if (why)
        return why;
    /* the most supported agreed point: its words that are not the question's,
     * at least half of them, and its numbers */
    if (an->usable >= 2 && an->n_agreed) {
        cns_features pf, qf, af;
        if (cns_text_features(an->agreed[0].text, a, &pf) ||
            cns_text_features(r->question, a, &qf) || cns_text_features(ans, a, &af))
            return NULL;
        sources qs = {.n = 1}, as = {.n = 1};
        qs.f[0] = qf;
        as.f[0] = af;
        size_t want = 0, have = 0;
        for (size_t k = 0; k < pf.n_tok; k++) {
            if (stem_known(&qs, pf.toks[k].stem))
                continue;
            want++;
            have += stem_known(&as, pf.toks[k].stem);
        }
        if (want && 2 * have < want)
            return "it leaves out the answer the members agree on";
        for (size_t k = 0; k < pf.n_qty; k++)
            if (!qty_known(&as, &pf.qty[k]))
                return "it leaves out the answer the members agree on";
    }
    return NULL;
}

/* ---- follow-ups ------------------------------------------------------------
 * Three new questions one step beyond the asked one. A candidate (the
 * model's, or one derived from the analysis) is kept only when a person would
 * keep it: a question (ends with '?'), under FOLLOWUP_MAX characters, not the
 * question again (it must bring a content word the question does not have,
 * and with an encoder not mean the question again), on topic (it shares a
 * content word with the question or the answers, or with an encoder is close
 * to the question in meaning), not filler, and not a repeat of one already
 * kept. */

#define FOLLOWUP_MAX 120

static const char *const filler[] = {
    "is it true that",        "what is the evidence for",
    "where can i check",      "can you tell me",
    "could you tell me",      "do you know",
    "what do you think",      "any other questions",
    "is there anything else", "which is right:",
    "when does \"",           NULL,
};

/* Content stems of text (arena a). */
static bool stems(const char *text, arena *a, sources *s)
{
    s->n = 0;
    if (cns_text_features(text, a, &s->f[0]))
        return false;
    s->n = 1;
    return true;
}

/* Words that do not make a question new. */
static const char function_words[] =
    " what which who whom whose how why when where is are was were do does did the a an and or "
    "of for to in on at by it its that this these those can could would should will has have "
    "had be been ";

/* " word " in a, for matching whole words in a list. */
static const char *arena_sprintf_word(arena *a, const char *w)
{
    size_t n = strlen(w);
    char *s = arena_alloc(a, n + 3);
    if (!s)
        return "\x01";
    s[0] = ' ';
    memcpy(s + 1, w, n);
    s[n + 1] = ' ';
    s[n + 2] = '\0';
    return s;
}

/* What judges follow-ups: the options, and the question's vector by the
 * sentence encoder, embedded once (NULL without an encoder, or when it failed:
 * the word rules alone judge then). */
typedef struct fu_judge {
    const cns_synth_options *opt;
    const float *qv;
} fu_judge;

static fu_judge judge_make(const cns_result *r, const cns_synth_options *opt, arena *a)
{
    fu_judge j = {opt, NULL};
    if (!opt->embed || opt->embed_dim == 0 || opt->embed_dim > DX_CNS_MAX_EMBED_DIM)
        return j;
    float *u = arena_alloc(a, opt->embed_dim * sizeof *u);
    if (u && !opt->embed(opt->embed_user, r->question, u, opt->embed_dim))
        j.qv = u;
    return j;
}

/* The cosine of q and the question, or -2 without the question's vector (or
 * when embedding q fails). */
static double question_cosine(const fu_judge *j, const char *q, arena *a)
{
    if (!j || !j->qv)
        return -2;
    const size_t dim = j->opt->embed_dim;
    float *v = arena_alloc(a, dim * sizeof *v);
    if (!v || j->opt->embed(j->opt->embed_user, q, v, dim))
        return -2;
    double dot = 0;
    for (size_t i = 0; i < dim; i++)
        dot += (double)j->qv[i] * v[i];
    return dot;
}

static bool followup_ok(const cns_result *r, const fu_judge *j, const char *q, arena *a)
{
    size_t len = strlen(q);
    if (len < 10 || len >= FOLLOWUP_MAX || q[len - 1] != '?')
        return false;
    if (!strncasecmp(q, "question", 8) || !strncasecmp(q, "follow-up", 9) ||
        !strncasecmp(q, "q:", 2))
        return false;
    for (size_t i = 0; filler[i]; i++)
        if (strcasestr(q, filler[i]))
            return false;
    for (size_t i = 0; i < r->n_followups; i++)
        if (!strcasecmp(r->followups[i], q))
            return false;
    /* not the question again: a word (2+ letters, not a function word,
     * plural or not) that the question does not have */
    const char **fw, **qw;
    size_t nf = words_of(q, a, &fw), nq = words_of(r->question, a, &qw);
    bool new_word = false;
    for (size_t i = 0; i < nf && !new_word; i++) {
        size_t len = strlen(fw[i]);
        if (len < 2 || strstr(function_words, arena_sprintf_word(a, fw[i])))
            continue;
        bool seen = false;
        for (size_t k = 0; k < nq && !seen; k++) {
            size_t ql = strlen(qw[k]);
            seen = !strcmp(fw[i], qw[k]) ||
                   (len == ql + 1 && fw[i][ql] == 's' && !strncmp(fw[i], qw[k], ql)) ||
                   (ql == len + 1 && qw[k][len] == 's' && !strncmp(fw[i], qw[k], len));
        }
        new_word = !seen;
    }
    if (!new_word)
        return false;
    /* by meaning, when an encoder is given: the question in other words, or
     * on topic though it shares no word ("the play" for Hamlet) */
    double cos = question_cosine(j, q, a);
    if (cos >= CNS_FOLLOWUP_RESTATED)
        return false;
    if (cos >= CNS_FOLLOWUP_ON_TOPIC)
        return true;
    sources fq, qq, ctx;
    if (!stems(q, a, &fq) || !stems(r->question, a, &qq))
        return false;
    bool on_topic = false;
    for (size_t k = 0; k < fq.f[0].n_tok && !on_topic; k++)
        on_topic = stem_known(&qq, fq.f[0].toks[k].stem);
    /* on topic: shares a word with the question, or with an answer */
    for (size_t i = 0; i < r->n_members && !on_topic; i++) {
        if (!r->members[i].usable || !stems(r->members[i].text, a, &ctx))
            continue;
        for (size_t k = 0; k < fq.f[0].n_tok && !on_topic; k++)
            on_topic = stem_known(&ctx, fq.f[0].toks[k].stem);
    }
    return on_topic;
}

static void add_followup(cns_result *r, const fu_judge *j, const char *q, arena *a)
{
    if (r->n_followups < 3 && followup_ok(r, j, q, a)) {
        const char *c = arena_strdup(a, q);
        if (c)
            r->followups[r->n_followups++] = c;
    }
}

/* A copy of s[0..n) with one question per line: a '?' followed by blanks
 * and more text ends its line (small writers run the follow-ups together:
 * "Follow-up questions: What ...? How ...?"). NULL when a is full. */
static char *one_per_line(arena *a, const char *s, size_t n)
{
    char *t = arena_alloc(a, n + 1);
    if (!t)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        t[k++] = s[i];
        if (s[i] != '?')
            continue;
        size_t j = i + 1;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j > i + 1 && j < n && s[j] != '\n') {
            t[k++] = '\n';
            i = j - 1;
        }
    }
    t[k] = '\0';
    return t;
}

/* Follow-up lines from a model reply: bullets, numbers, emphasis and
 * "Question:" labels stripped, each line judged by followup_ok. */
static void parse_followups(cns_result *r, const fu_judge *j, const char *reply, arena *a)
{
    reply = one_per_line(a, reply, strlen(reply));
    for (const char *p = reply; p && *p && r->n_followups < 3;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        for (bool more = true; more && len;) {
            more = false;
            while (len && (isspace((unsigned char)*s) || *s == '-' || *s == '*' ||
                           isdigit((unsigned char)*s) || *s == '.' || *s == ')' || *s == '_' ||
                           *s == '"' || *s == '#')) {
                s++;
                len--;
            }
            static const char *const labels[] = {"question:",
                                                 "follow-up question:",
                                                 "follow-up questions:",
                                                 "follow up questions:",
                                                 "follow-up:",
                                                 "q:"};
            for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++)
                if (len > strlen(labels[k]) && !strncasecmp(s, labels[k], strlen(labels[k]))) {
                    s += strlen(labels[k]);
                    len -= strlen(labels[k]);
                    more = true;
                }
        }
        while (len && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '*' ||
                       s[len - 1] == '_' || s[len - 1] == '"'))
            len--;
        if (len && len < 400) {
            char *q = arena_strndup(a, s, len);
            if (q)
                add_followup(r, j, q, a);
        }
        p = e ? e + 1 : p + strlen(p);
    }
}

/* s with its first letter in lower case, unless it starts a name ("Paris",
 * "NASA"): only a capital followed by a lower-case letter and a lower-case
 * second word is lowered ("The capital ..." -> "the capital ..."). */
static const char *lower_first(arena *a, const char *s)
{
    static const char *const starts[] = {"The ",   "A ",    "An ",  "It ", "This ", "These ",
                                         "There ", "They ", "Its ", "In ", NULL};
    for (size_t i = 0; starts[i]; i++)
        if (!strncmp(s, starts[i], strlen(starts[i]))) {
            char *c = arena_strdup(a, s);
            if (c)
                c[0] = (char)tolower((unsigned char)c[0]);
            return c ? c : s;
        }
    return s;
}

/* prefix + text + "?" cut to fit under FOLLOWUP_MAX characters. */
static void fit(char *buf, size_t cap, const char *prefix, arena *a, const char *text,
                const char *mid, const char *text2)
{
    size_t room = FOLLOWUP_MAX - 4 - strlen(prefix) - (mid ? strlen(mid) : 0);
    if (text2)
        room /= 2;
    snprintf(buf, cap, "%s%s%s%s?", prefix, lower_first(a, shorten(a, text, room)), mid ? mid : "",
             text2 ? lower_first(a, shorten(a, text2, room)) : "");
}

/* The subject of a question: "What is the speed of light?" -> "the speed of
 * light"; NULL when it does not start with a question word and a verb. */
static const char *subject(const char *q, arena *a)
{
    static const char *const heads[] = {"what is ",  "what are ", "who is ",   "who was ",
                                        "what was ", "where is ", "which is ", NULL};
    for (size_t i = 0; heads[i]; i++)
        if (!strncasecmp(q, heads[i], strlen(heads[i]))) {
            const char *s = q + strlen(heads[i]);
            size_t n = strlen(s);
            while (n && (s[n - 1] == '?' || s[n - 1] == ' '))
                n--;
            return n ? arena_strndup(a, s, n) : NULL;
        }
    return NULL;
}

/* Whether a point reads as a statement to wrap in "Why is it that ...?": at
 * least three words ("Africa", a list item, would make "How could one
 * confirm that Africa?"). */
static bool statement_like(const char *t)
{
    return cns_count_words(t, strlen(t)) >= 3;
}

/* Follow-ups built from the analysis when the model gave fewer than three
 * good ones, each judged by the same rules. */
static void derive_followups(cns_result *r, const fu_judge *j, arena *a)
{
    const cns_analysis *an = &r->analysis;
    char buf[FOLLOWUP_MAX * 2];
    /* a disputed point: which side is right */
    for (size_t i = 0; i < an->n_disputed && r->n_followups < 3; i++) {
        const cns_disputed *d = &an->disputed[i];
        const char *s0 = NULL, *s1 = NULL;
        for (size_t k = 0; k < d->n_stances; k++) {
            const char *t = d->stances[k].text;
            if (d->stances[k].position == 0 && (!s0 || strlen(t) < strlen(s0)))
                s0 = t;
            if (d->stances[k].position == 1 && (!s1 || strlen(t) < strlen(s1)))
                s1 = t;
        }
        if (s0 && s1) {
            fit(buf, sizeof buf, "Which is correct: ", a, s0, ", or ", s1);
            add_followup(r, j, buf, a);
        }
    }
    /* the agreed points: one step further */
    static const char *const steps[] = {"Why is it that ", "How was it established that ",
                                        "What follows from the fact that "};
    /* a bare answer ("Portuguese.", "7") is no clause: "Why is it that
     * Portuguese?" reads as garbage */
    static const char *const answer_steps[] = {"Why is the answer ",
                                               "How was it established that the answer is ",
                                               "What follows from the answer being "};
    size_t step = 0;
    for (size_t i = 0; i < an->n_agreed && r->n_followups < 3; i++) {
        const bool clause = statement_like(an->agreed[i].text);
        for (size_t s = 0; s < 3 && r->n_followups < 3; s++, step++) {
            fit(buf, sizeof buf, (clause ? steps : answer_steps)[step % 3], a, an->agreed[i].text,
                NULL, NULL);
            add_followup(r, j, buf, a);
        }
    }
    for (size_t i = 0; i < an->n_unique && r->n_followups < 3; i++) {
        if (!statement_like(an->unique[i].text))
            continue;
        fit(buf, sizeof buf, "How could one confirm that ", a, an->unique[i].text, NULL, NULL);
        add_followup(r, j, buf, a);
    }
    /* little to build on: the question's subject, from other sides */
    const char *subj = subject(r->question, a);
    static const char *const about[] = {"What is the history of ",
                                        "What are common misconceptions about ",
                                        "Where does it matter in practice what "};
    for (size_t s = 0; subj && s < 3 && r->n_followups < 3; s++) {
        fit(buf, sizeof buf, about[s], a, subj, s == 2 ? " is" : NULL, NULL);
        add_followup(r, j, buf, a);
    }
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
        st = opt->generate ? opt->generate(opt->generate_user, p.data, reply)
                           : opt->stream(opt->generate_user, p.data, NULL, NULL, reply);
    dx_buf_free(&p);
    return st;
}

/* The follow-ups prompt, asked of opt->followups when set, else of the writer. */
static dx_status ask_followups(const cns_synth_options *opt, const cns_result *r, dx_buf *reply)
{
    cns_synth_options f = *opt;
    if (opt->followups) {
        f.generate = opt->followups;
        f.generate_user = opt->followups_user;
        f.stream = NULL;
    }
    return ask(&f, cns_prompt_followups, r, reply);
}

/* ---- writing the answer ------------------------------------------------------ */

const char *cns_answer_kind_str(cns_answer_kind k)
{
    switch (k) {
    case CNS_ANSWER_SYNTHESIZED:
        return "synthesized";
    case CNS_ANSWER_EXTRACTIVE:
        return "extractive";
    case CNS_ANSWER_SINGLE_VOICE:
        return "single_voice";
    case CNS_ANSWER_STRONGEST:
        return "strongest";
    case CNS_ANSWER_NONE:
        break;
    }
    return NULL;
}

/* Where the follow-ups start in a reply: the start of a line that begins
 * (after blanks, '#', '*', '_') with FOLLOWUP_MARK or "follow up"; len if none. */
static size_t followup_mark(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (i && s[i - 1] != '\n')
            continue;
        size_t j = i;
        while (j < len && strchr(" \t#*_", s[j]))
            j++;
        if ((len - j >= 9 && !strncasecmp(s + j, "follow-up", 9)) ||
            (len - j >= 9 && !strncasecmp(s + j, "follow up", 9)) ||
            (len - j >= 8 && !strncasecmp(s + j, "followup", 8)))
            return i;
    }
    /* run into a sentence: "... Paris. Follow-up questions: Why ...?" */
    static const char *const inline_marks[] = {
        "follow-up questions:", "follow up questions:", "followup questions:"};
    size_t best = len;
    for (size_t k = 0; k < sizeof inline_marks / sizeof inline_marks[0]; k++) {
        size_t ml = strlen(inline_marks[k]);
        for (size_t i = 0; i + ml <= best; i++)
            if (!strncasecmp(s + i, inline_marks[k], ml)) {
                best = i;
                break;
            }
    }
    return best;
}

/* How many bytes at the end of s[0..n) could still grow into an inline
 * follow-up marker ("... Follow-up quest"): those wait. */
static size_t inline_mark_tail(const char *s, size_t n)
{
    static const char mark[] = "follow-up questions:";
    for (size_t k = n < sizeof mark - 2 ? n : sizeof mark - 2; k > 0; k--)
        if (!strncasecmp(s + n - k, mark, k) && (k == n || s[n - k - 1] == ' '))
            return k;
    return 0;
}

/* Where the answer proper starts in a reply: after a first line that
 * labels the question ("Question: ...") and an "Answer:" label, which small
 * writers put first. *sure is false while the first line is unfinished and
 * could still be such a label. */
static size_t answer_start(const char *s, size_t n, bool *sure)
{
    static const char *const labels[] = {"question:", "answer:", "final answer:"};
    size_t i = 0;
    *sure = true;
    for (int round = 0; round < 2; round++) {
        size_t j = i;
        while (j < n && strchr(" \t\n#*_", s[j]))
            j++;
        const char *eol = memchr(s + j, '\n', n - j);
        size_t rest = n - j;
        for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++) {
            size_t ll = strlen(labels[k]);
            if (rest < ll) {
                if (!strncasecmp(s + j, labels[k], rest) && !eol)
                    *sure = false; /* may still become a label */
                continue;
            }
            if (strncasecmp(s + j, labels[k], ll))
                continue;
            if (k == 0) { /* the question's line goes whole */
                if (!eol) {
                    *sure = false;
                    return i;
                }
                i = (size_t)(eol - s) + 1;
            } else {
                i = j + ll;
                while (i < n && (s[i] == ' ' || s[i] == '*' || s[i] == '_'))
                    i++;
                if (i >= n)
                    *sure = false; /* the label's closing marks may follow */
            }
            break;
        }
        if (!*sure)
            return i;
    }
    return i;
}

/* Could the unfinished last line s[0..n) still become the follow-up marker? */
static bool may_become_mark(const char *s, size_t n)
{
    while (n && strchr(" \t#*_", *s))
        s++, n--;
    return n < 9 && (!strncasecmp(s, "follow-up", n) || !strncasecmp(s, "follow up", n) ||
                     !strncasecmp(s, "followup", n));
}

/* The reply is complete once this many follow-up lines are written after
 * the marker, or REPLY_FOLLOWUPS of them would be kept (followup_ok): what a
 * small writer adds after that is never read, and costs seconds (bench/ask). */
#define REPLY_MAX_FOLLOWUP_LINES 6
#define REPLY_FOLLOWUPS 3

/* The answer part of a reply, as judged once it is complete. */
typedef struct judged {
    bool done;          /* judged (the rest is set) */
    const char *text;   /* the answer: labels and the follow-ups cut off */
    const char *fail;   /* why it fails the check; NULL: it stands */
    bool disputed_sent; /* the Disputed section went to on_answer already */
    dx_status st;       /* out of memory while judging */
} judged;

/* Judges the answer part of the reply s[0..len) into *j (strings in a). */
static void judge_reply(const cns_result *r, const char *s, size_t len, arena *a, judged *j)
{
    size_t n = followup_mark(s, len);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    bool sure;
    size_t from = answer_start(s, n, &sure);
    if (from > n)
        from = n;
    j->done = true;
    j->fail = NULL;
    if (!(j->text = arena_strndup(a, s + from, n - from))) {
        j->st = dx_fail(DX_ENOMEM, "consensus: out of memory");
        return;
    }
    arena scratch = arena_make(64 << 10, 64 << 20);
    const char *fail = check_answer(r, j->text, &scratch);
    if (fail && !(j->fail = arena_strdup(a, fail)))
        j->st = dx_fail(DX_ENOMEM, "consensus: out of memory");
    arena_free(&scratch);
}

/* Passes the answer part of a streaming reply on as it grows: text up to the
 * follow-up marker, holding back a last line that may be the marker; and
 * says when the reply is complete (the follow-ups written). */
typedef struct answer_stream {
    const cns_synth_options *opt;
    const cns_result *r;
    arena *a;
    dx_buf text;
    size_t sent; /* 0 until the answer's start is known, then an offset into text */
    size_t mark; /* where the follow-ups start in text (once done) */
    bool started;
    bool done; /* the answer part is over: the marker was written */
    judged *j; /* the answer, judged when the marker is written */
} answer_stream;

/* The marker is written, so the answer is complete: it is checked now, and
 * when it stands, the disputed points are sent at once, so a reader has the
 * whole answer while the follow-ups are still being written. */
static void answer_settle(answer_stream *as)
{
    judge_reply(as->r, as->text.data, as->text.len, as->a, as->j);
    if (as->j->st || as->j->fail || !as->r->analysis.n_disputed || !as->opt->on_answer)
        return;
    dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
    as->j->st = put_disputed(as->r, "\n\n**Disputed**\n\n", &b);
    if (!as->j->st) {
        as->opt->on_answer(as->opt->on_answer_user, b.data, b.len);
        as->j->disputed_sent = true;
    }
    dx_buf_free(&b);
}

/* Whether the follow-ups after the marker are all written: enough kept
 * ones, or enough lines, among the complete questions and lines of text. */
static bool followups_complete(const answer_stream *as)
{
    arena scratch = arena_make(16 << 10, 16 << 20);
    char *t = one_per_line(&scratch, as->text.data + as->mark, as->text.len - as->mark);
    char *end = t ? strrchr(t, '\n') : NULL;
    bool done = false;
    if (end) {
        end[1] = '\0'; /* only whole lines: the last one may still grow */
        size_t lines = 0;
        for (const char *p = t; *p;) {
            const char *e = strchr(p, '\n');
            for (const char *c = p; c < e; c++)
                if (!isspace((unsigned char)*c)) {
                    lines++;
                    break;
                }
            p = e + 1;
        }
        /* the marker's own line, then the follow-ups */
        done = lines > REPLY_MAX_FOLLOWUP_LINES;
        if (!done && lines >= REPLY_FOLLOWUPS) {
            cns_result probe = *as->r; /* the lines as parse_followups will judge them */
            probe.n_followups = 0;
            parse_followups(&probe, NULL, t, &scratch);
            done = probe.n_followups >= REPLY_FOLLOWUPS;
        }
    }
    arena_free(&scratch);
    return done;
}

static bool on_reply_piece(void *user, const char *piece, size_t len)
{
    answer_stream *as = user;
    if (dx_buf_append(&as->text, piece, len))
        return true; /* longer than a reply can be */
    if (as->done)
        return followups_complete(as);
    const char *s = as->text.data;
    size_t n = as->text.len, end = followup_mark(s, n);
    if (!as->started) {
        bool sure;
        size_t st = answer_start(s, n, &sure);
        if (!sure)
            return false;
        as->sent = st;
        as->started = true;
    }
    if (end < n) {
        as->done = true;
        as->mark = end;
        while (end > as->sent && isspace((unsigned char)s[end - 1]))
            end--;
    } else {
        size_t line = n;
        while (line && s[line - 1] != '\n')
            line--;
        if (may_become_mark(s + line, n - line))
            end = line;
        else
            end = n - inline_mark_tail(s, n);
    }
    /* blanks wait for the text after them: the answer is sent trimmed */
    while (end > as->sent && isspace((unsigned char)s[end - 1]))
        end--;
    if (end > as->sent) {
        if (as->opt->on_answer)
            as->opt->on_answer(as->opt->on_answer_user, s + as->sent, end - as->sent);
        as->sent = end;
    }
    if (as->done && !as->j->done)
        answer_settle(as);
    return as->done && followups_complete(as);
}

/* The end of a reply: whatever of the answer part was held back. */
static void answer_stream_end(answer_stream *as)
{
    if (as->done || !as->text.len)
        return;
    const char *s = as->text.data;
    size_t end = followup_mark(s, as->text.len);
    if (!as->started) {
        bool sure;
        as->sent = answer_start(s, as->text.len, &sure);
        as->started = true;
    }
    while (end > as->sent && isspace((unsigned char)s[end - 1]))
        end--;
    if (end > as->sent && as->opt->on_answer)
        as->opt->on_answer(as->opt->on_answer_user, s + as->sent, end - as->sent);
    as->sent = end > as->sent ? end : as->sent;
}

/* The writer's reply to the answer prompt in *reply; *j is the answer part
 * judged, when it was while the reply streamed. */
static dx_status write_reply(const cns_synth_options *opt, const cns_result *r, arena *a,
                             dx_buf *reply, judged *j)
{
    dx_buf p = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = cns_prompt_synthesis(r, &p);
    if (st)
        goto out;
    if (opt->stream) {
        /* streamed whenever the model can: it is stopped once the follow-ups are written */
        answer_stream as = {
            .opt = opt, .r = r, .a = a, .text = dx_buf_make(DX_CNS_MAX_GENERATED), .j = j};
        st = opt->stream(opt->generate_user, p.data, on_reply_piece, &as, reply);
        if (!st)
            answer_stream_end(&as);
        dx_buf_free(&as.text);
    } else {
        st = opt->generate(opt->generate_user, p.data, reply);
    }
out:
    dx_buf_free(&p);
    return st;
}

static void send_whole(const cns_synth_options *opt, const char *text)
{
    if (opt->on_answer && text && *text)
        opt->on_answer(opt->on_answer_user, text, strlen(text));
}

static const cns_member *single_voice(const cns_result *r)
{
    for (size_t i = 0; i < r->n_members; i++)
        if (r->members[i].usable)
            return &r->members[i];
    return NULL;
}

/* The strongest member (opt->strongest) when its answer is the council's:
 * it answered, and the members agree on nothing, so a writer could only blend
 * the sides (on TruthfulQA the 0.5B writer lost to the 1.5B member alone
 * there), or they agree on the direct answer with nothing disputed, which it
 * states itself. NULL otherwise (the writer writes). */
static const cns_member *lead_member(const cns_result *r, const cns_synth_options *opt)
{
    const cns_analysis *an = &r->analysis;
    const cns_member *m = NULL;
    for (size_t i = 0; opt->strongest && i < r->n_members && !m; i++)
        if (r->members[i].usable && !strcmp(r->members[i].name, opt->strongest))
            m = &r->members[i];
    if (!m || an->usable < 2)
        return NULL;
    if (an->label == CNS_LABEL_DISAGREE || an->label == CNS_LABEL_NO_COMMON_GROUND)
        return m;
    if (an->label != CNS_LABEL_CONSENSUS)
        return NULL;
    for (size_t i = 0; i < an->n_agreed; i++)
        for (size_t k = 0; an->agreed[i].direct && k < an->agreed[i].n_members; k++)
            if (!strcmp(an->agreed[i].members[k], m->name))
                return m;
    return NULL;
}

/* One usable answer: shown exactly as its member wrote it; only follow-ups
 * are asked (ask_followups). Returns how many follow-ups the model gave. */
static size_t answer_single_voice(cns_result *r, const cns_synth_options *opt, const fu_judge *fj,
                                  bool model, const cns_member *voice, dx_buf *reply, arena *a)
{
    r->answer = voice->text;
    r->answer_member = voice->name;
    r->answer_source = "extractive";
    r->answer_kind = CNS_ANSWER_SINGLE_VOICE;
    send_whole(opt, voice->text);
    if (model && ask_followups(opt, r, reply) == DX_OK && reply->data)
        parse_followups(r, fj, reply->data, a);
    return r->n_followups;
}

/* The strongest member's answer exactly as it wrote it, every disputed point
 * flagged below it with who said what; only follow-ups are asked
 * (ask_followups). *from_model gets how many follow-ups the model gave. */
static dx_status answer_strongest(cns_result *r, const cns_synth_options *opt, const fu_judge *fj,
                                  bool model, const cns_member *lead, dx_buf *reply,
                                  size_t *from_model, arena *a)
{
    dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = dx_buf_puts(&b, lead->text);
    if (!st && r->analysis.n_disputed)
        st = put_disputed(r, "\n\n**Disputed**\n\n", &b);
    if (!st && !(r->answer = arena_strndup(a, b.data ? b.data : "", b.len)))
        st = dx_oom("consensus");
    dx_buf_free(&b);
    if (st)
        return st;
    r->answer_source = "extractive";
    r->answer_kind = CNS_ANSWER_STRONGEST;
    r->answer_member = lead->name;
    send_whole(opt, r->answer);
    if (model && ask_followups(opt, r, reply) == DX_OK && reply->data)
        parse_followups(r, fj, reply->data, a);
    *from_model = r->n_followups;
    return DX_OK;
}

/* The writer's answer, judged: when it passes, r->answer is it with every
 * disputed point flagged (CNS_ANSWER_SYNTHESIZED); when it fails the check,
 * *why says so for the extractive answer that stands in. The follow-ups the
 * reply carries go to r, their count to *from_model. */
static dx_status answer_written(cns_result *r, const cns_synth_options *opt, const fu_judge *fj,
                                dx_buf *reply, const char **why, size_t *from_model, arena *a)
{
    judged j = {0};
    if (write_reply(opt, r, a, reply, &j) != DX_OK || !reply->data || !reply->len)
        return DX_OK;
    log_debug("synthesis: the writer's reply: %.4000s", reply->data);
    if (!j.done)
        judge_reply(r, reply->data, reply->len, a, &j);
    if (j.st)
        return j.st;
    const char *text = j.text, *fail = j.fail;
    parse_followups(r, fj, reply->data + followup_mark(reply->data, reply->len), a);
    *from_model = r->n_followups;
    if (fail) {
        char msg[300];
        snprintf(msg, sizeof msg, "the synthesizer's answer failed the check (%s)", fail);
        log_info("synthesis: the written answer is replaced (%s): %.400s", fail, text);
        r->answer_check = arena_strdup(a, fail);
        *why = arena_strdup(a, msg);
        if (!*why || !r->answer_check)
            return dx_fail(DX_ENOMEM, "consensus: out of memory");
        return DX_OK;
    }
    /* every disputed point flagged, with who said what */
    dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = dx_buf_puts(&b, text);
    if (!st && r->analysis.n_disputed)
        st = put_disputed(r, "\n\n**Disputed**\n\n", &b);
    if (!st)
        r->answer = arena_strndup(a, b.data, b.len);
    dx_buf_free(&b);
    if (!st && !r->answer) /* before the disputed part is sent from it */
        st = dx_oom("consensus");
    if (st)
        return st;
    if (r->analysis.n_disputed && !j.disputed_sent)
        send_whole(opt, r->answer + strlen(text));
    r->answer_source = "model";
    r->answer_kind = CNS_ANSWER_SYNTHESIZED;
    return DX_OK;
}

/* The answer made of the analysis itself, saying why (no model, no answer,
 * or the written one failed its check). */
static dx_status answer_extractive(cns_result *r, const cns_synth_options *opt, const char *why,
                                   arena *a)
{
    dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = extractive(r, why, &b);
    if (!st)
        r->answer = arena_strdup(a, b.data ? b.data : "");
    dx_buf_free(&b);
    if (st)
        return st;
    r->answer_source = "extractive";
    r->answer_kind = CNS_ANSWER_EXTRACTIVE;
    if (!r->answer_check)
        send_whole(opt, r->answer);
    return DX_OK;
}

/* The answer (single voice, the strongest member's, written or extractive)
 * and its follow-ups. */
static dx_status write_answer(cns_result *r, const cns_synth_options *opt, bool model,
                              dx_buf *reply, arena *a)
{
    dx_status st = DX_OK;
    r->n_followups = 0;
    size_t from_model = 0;
    const cns_member *voice = r->analysis.label == CNS_LABEL_SINGLE_VOICE ? single_voice(r) : NULL;
    const cns_member *lead = voice ? NULL : lead_member(r, opt);
    const fu_judge fj = judge_make(r, opt, a);
    if (voice) {
        from_model = answer_single_voice(r, opt, &fj, model, voice, reply, a);
    } else if (lead) {
        if ((st = answer_strongest(r, opt, &fj, model, lead, reply, &from_model, a)))
            return st;
    } else {
        const char *why = "no synthesizer model was available";
        if (model && r->analysis.label != CNS_LABEL_NO_ANSWER) {
            why = "the synthesizer model did not answer";
            if ((st = answer_written(r, opt, &fj, reply, &why, &from_model, a)))
                return st;
        }
        if (r->answer_kind != CNS_ANSWER_SYNTHESIZED && (st = answer_extractive(r, opt, why, a)))
            return st;
    }
    if (!r->answer)
        return dx_oom("consensus");
    /* small models often write fewer good ones: the rest come from the analysis */
    if (r->n_followups < 3)
        derive_followups(r, &fj, a);
    r->followups_source = from_model == 0                ? "derived"
                          : from_model >= r->n_followups ? "model"
                                                         : "model+derived";
    return DX_OK;
}

dx_status cns_synthesize(cns_result *r, const cns_synth_options *opt, arena *a)
{
    static const cns_synth_options defaults = {0};
    if (!opt)
        opt = &defaults;
    dx_status st = DX_OK;
    dx_buf reply = dx_buf_make(DX_CNS_MAX_GENERATED);
    const bool model = (opt->generate || opt->stream) && r->analysis.usable > 0;
    /* derived now, so the analysis shown while the answer is written has one */
    r->category = cns_category_derive(r);
    r->category_source = "derived";
    r->answer_kind = CNS_ANSWER_NONE;
    r->answer_check = NULL;
    r->answer_member = NULL;
    if (opt->answer && (st = write_answer(r, opt, model, &reply, a)))
        goto out;
    /* With an answer to write, the category stays derived: asking the model
     * costs a whole prompt's prefill (bench/ask: more than the answer's own
     * decode on 2 cores), for a label. Without one, the model is asked. */
    dx_buf_clear(&reply);
    const char *cat = NULL;
    if (model && !opt->answer && ask(opt, cns_prompt_category, r, &reply) == DX_OK && reply.data &&
        (cat = parse_category(reply.data))) {
        r->category = cat;
        r->category_source = "model";
    }
out:
    dx_buf_free(&reply);
    return st;
}
