/*
 * atoms — one sentence into atomic claims (see text.h, docs/consensus.md §2).
 *
 * A sentence is cut at a coordinating word ("and", "but", and after a comma
 * "yet", "whereas", "while", "although", "though") only where both sides
 * are statements of their own: the left side has a verb, and the right side
 * is a clause (a subject then a verb: "... and the grass is green") or a
 * predicate that continues the left side's subject ("Paris is the capital
 * and is its largest city", "Water boils at 100 °C and freezes at 0 °C").
 * A predicate part gets that subject in front, so it reads as a claim of its
 * own; its evidence is still the words as written. Noun phrases ("salt and
 * pepper", "Bosnia and Herzegovina", "between 5 and 10") have no verb on one
 * side and stay whole. Verbs are recognised without a dictionary: the
 * auxiliaries and modals, and a word ending in -s or -ed only where it sits
 * like a verb (after a pronoun, or before a preposition, article or number
 * with a matching verb on the other side). What is not sure stays joined.
 */
#include <ctype.h>
#include <string.h>

#include "consensus/text.h"
#include "core/limits.h"

#define ATOM_MAX_WORDS 128  /* words of a sentence looked at; the rest stays in its last part */
#define ATOM_MAX_SUBJECT 8  /* words a carried subject may have */
#define ATOM_CLAUSE_REACH 6 /* a clause's verb comes within this many words */
#define ATOM_MIN_WORDS 2    /* each part has at least this many words */

typedef struct word {
    size_t b, e;  /* bytes of the word in the sentence, punctuation included */
    char key[24]; /* lower case, leading/trailing punctuation dropped */
    bool comma;   /* followed by ',' */
    bool cap;     /* starts with a capital */
    bool digit;   /* starts with a digit */
    int depth;    /* inside parentheses or quotes */
} word;

static bool in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list))
            return true;
    return false;
}

static const char *const aux[] = {
    "is",      "are",     "was",      "were",    "be",       "been",      "am",    "has",
    "have",    "had",     "does",     "do",      "did",      "can",       "could", "will",
    "would",   "shall",   "should",   "may",     "might",    "must",      "isn't", "aren't",
    "wasn't",  "weren't", "hasn't",   "haven't", "hadn't",   "doesn't",   "don't", "didn't",
    "can't",   "cannot",  "couldn't", "won't",   "wouldn't", "shouldn't", "it's",  "that's",
    "there's", "he's",    "she's",    "they're", "we're",    "you're",    NULL};

static const char *const pronouns[] = {"i",     "you",  "he",   "she",   "it",    "we",
                                       "they",  "this", "that", "these", "those", "there",
                                       "which", "who",  "one",  NULL};

static const char *const determiners[] = {
    "the",  "a",     "an", "this", "that", "these", "those", "its",     "their", "his",
    "her",  "our",   "my", "your", "some", "many",  "most",  "several", "all",   "both",
    "each", "every", "no", "any",  "much", "more",  "other", "such",    "one",   NULL};

static const char *const preps[] = {
    "at",     "in",     "on",    "to",     "from",    "by",      "with",   "into",
    "about",  "around", "over",  "under",  "for",     "of",      "as",     "after",
    "before", "since",  "until", "during", "through", "between", "within", "without",
    "across", "up",     "down",  "out",    "off",     "near",    "than",   NULL};

/* Words that may sit between a subject and its verb, or open a predicate. */
static const char *const adverbs[] = {"also",    "then",      "later",     "still",     "often",
                                      "usually", "now",       "mostly",    "only",      "always",
                                      "never",   "sometimes", "generally", "typically", NULL};

/* A word in -s or -ed that may be a verb (lower case letters, not a plural-looking
 * "-ss", "-us", "-is", "-ics"). 1: -s, 2: -ed, 0: neither. */
static int verb_form(const word *w)
{
    size_t n = strlen(w->key);
    if (w->cap || w->digit || n < 4)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)w->key[i]))
            return 0;
    const char *k = w->key;
    if (!strcmp(k + n - 2, "ed") && strcmp(k + n - 3, "eed"))
        return 2; /* "founded", "died"; not "need", "speed" */
    if (k[n - 1] != 's' || strchr("su'", k[n - 2]) || !strcmp(k + n - 2, "is") ||
        (n >= 3 && !strcmp(k + n - 3, "ics")))
        return 0;
    return 1;
}

/* Whether the word after a verb-looking word makes it read as a verb: a
 * preposition, an article, a number ("freezes at 0 °C", "sold 10 million"). */
static bool verb_context(const word *w, size_t i, size_t end)
{
    if (i + 1 >= end)
        return false;
    const word *nx = &w[i + 1];
    return nx->digit || in_list(nx->key, preps) || in_list(nx->key, determiners);
}

/* The first verb of words[from, end): an auxiliary anywhere, or an -s/-ed
 * word in verb context that follows a subject word; -1 when none. */
static long first_verb(const word *w, size_t from, size_t end, size_t reach)
{
    for (size_t i = from, seen = 0; i < end && seen < reach; i++) {
        if (w[i].depth)
            continue; /* a parenthesis is not counted: "some contracts (such as ...) must" */
        seen++;
        if (in_list(w[i].key, aux))
            return (long)i;
        if (i > from && verb_form(&w[i]) && !in_list(w[i - 1].key, determiners) &&
            !in_list(w[i - 1].key, preps) &&
            (in_list(w[i - 1].key, pronouns) || verb_context(w, i, end)))
            return (long)i;
    }
    return -1;
}

/* Whether words[from, end) is a clause of its own: it opens like a subject
 * (a pronoun, an article, a name, a number; any word after a contrast) and
 * has its verb soon after, with no preposition or comma before it. */
static bool is_clause(const word *w, size_t from, size_t end, bool contrast)
{
    const word *f = &w[from];
    /* after "but", "while" ... a clause may open with any word ("too much can ...") */
    if (!contrast &&
        !(in_list(f->key, pronouns) || in_list(f->key, determiners) || f->cap || f->digit))
        return false;
    long v = first_verb(w, from, end, ATOM_CLAUSE_REACH);
    if (v <= (long)from)
        return false;
    for (long i = (long)from; i < v; i++)
        if (!w[i].depth && (in_list(w[i].key, preps) || w[i].comma))
            return false;
    return true;
}

/* Whether words[from, end) is a predicate that continues the subject: it
 * opens (after an adverb) with an auxiliary, or with a verb of the same form
 * as the left side's verb lv, in verb context. */
static bool is_predicate(const word *w, size_t from, size_t end, const word *lv)
{
    size_t i = from;
    while (i < end && in_list(w[i].key, adverbs))
        i++;
    if (i >= end)
        return false;
    if (in_list(w[i].key, aux))
        return !in_list(w[i].key, pronouns) && strchr(w[i].key, '\'') == NULL;
    int form = verb_form(&w[i]);
    if (!form || !verb_context(w, i, end))
        return false;
    /* "... boils at 100 °C and freezes at 0 °C"; a participle after "was ..." */
    return form == verb_form(lv) || (form == 2 && in_list(lv->key, aux));
}

/* Reads the words of s; returns how many (at most max). */
static size_t read_words(const char *s, word *w, size_t max)
{
    size_t n = 0, i = 0, len = strlen(s);
    int depth = 0;
    while (i < len && n < max) {
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        if (i >= len)
            break;
        size_t b = i;
        while (i < len && !isspace((unsigned char)s[i]))
            i++;
        word *x = &w[n++];
        memset(x, 0, sizeof *x);
        x->b = b;
        x->e = i;
        size_t kb = b, ke = i;
        int open = 0, close = 0;
        while (kb < ke && strchr("([{\"'", s[kb]))
            open += s[kb++] != '\'';
        while (ke > kb && strchr(")]}\"',.;:!?", s[ke - 1])) {
            if (s[ke - 1] == ',')
                x->comma = true;
            close += strchr(")]}\"", s[ke - 1]) != NULL;
            ke--;
        }
        x->depth = depth + open;
        depth += open - close;
        if (depth < 0)
            depth = 0;
        x->cap = kb < ke && isupper((unsigned char)s[kb]);
        x->digit = kb < ke && isdigit((unsigned char)s[kb]);
        size_t k = 0;
        for (size_t j = kb; j < ke && k + 1 < sizeof x->key; j++) {
            unsigned char c = (unsigned char)s[j];
            if (!strncmp(s + j, "\xe2\x80\x99", 3)) { /* typographic apostrophe */
                x->key[k++] = '\'';
                j += 2;
                continue;
            }
            x->key[k++] = (char)tolower(c);
        }
        x->key[k] = '\0';
    }
    return n;
}

/* The connective at word i that may join two statements; false for "and"
 * inside "between ... and", "both ... and", and for "but not", "but also". */
static bool connective(const word *w, size_t from, size_t i, size_t n)
{
    static const char *const after_comma[] = {"yet",      "whereas", "while",
                                              "although", "though",  NULL};
    if (w[i].depth || i + 1 >= n || i == from)
        return false;
    const char *k = w[i].key;
    bool and = !strcmp(k, "and"), but = !strcmp(k, "but");
    if (!and&&!but && !(w[i - 1].comma && in_list(k, after_comma)))
        return false;
    if (but && (!strcmp(w[i + 1].key, "not") || !strcmp(w[i + 1].key, "also")))
        return false;
    if (and)
        for (size_t j = i; j > from && j + 6 > i; j--)
            if (!strcmp(w[j - 1].key, "between") || !strcmp(w[j - 1].key, "both"))
                return false;
    return true;
}

static dx_status add_atom(const char *s, const word *w, size_t from, size_t end,
                          const char *subject, size_t subject_len, arena *a, cns_atom *out,
                          size_t *n)
{
    size_t b = w[from].b, e = w[end - 1].e;
    /* a part that is not the sentence's last loses the comma before its connective */
    while (e > b && (s[e - 1] == ',' || isspace((unsigned char)s[e - 1])))
        e--;
    char *said = arena_strndup(a, s + b, e - b);
    if (!said)
        return dx_oom("consensus: splitting a sentence");
    const char *text = said;
    if (subject_len) {
        char *t = arena_alloc(a, subject_len + 1 + (e - b) + 1);
        if (!t)
            return dx_oom("consensus: splitting a sentence");
        memcpy(t, subject, subject_len);
        t[subject_len] = ' ';
        memcpy(t + subject_len + 1, said, e - b + 1);
        text = t;
    }
    out[(*n)++] = (cns_atom){text, said};
    return DX_OK;
}

dx_status cns_atoms_split(const char *s, arena *a, cns_atom *out, size_t max, size_t *n)
{
    *n = 0;
    word w[ATOM_MAX_WORDS];
    size_t nw = read_words(s, w, ATOM_MAX_WORDS);
    if (max == 0)
        return DX_OK;
    if (nw < 2 * ATOM_MIN_WORDS + 1 || strchr(s, '=')) {
        out[(*n)++] = (cns_atom){s, s};
        return DX_OK;
    }
    /* the part being read: words [from, ...) with the subject it continues */
    size_t from = 0;
    const char *subject = NULL;
    size_t subject_len = 0;
    for (size_t i = 1; i + 1 < nw && *n + 1 < max; i++) {
        if (!connective(w, from, i, nw))
            continue;
        /* the left part's verb: its own, or (a predicate part) its first word */
        long v = first_verb(w, from, i, i - from);
        if (v < 0 && subject_len &&
            (in_list(w[from].key, aux) || verb_form(&w[from]) || in_list(w[from].key, adverbs)))
            v = (long)from;
        if (v < 0 || i - from < ATOM_MIN_WORDS || nw - (i + 1) < ATOM_MIN_WORDS)
            continue;
        size_t r = i + 1;
        bool clause = is_clause(w, r, nw, strcmp(w[i].key, "and") != 0);
        bool predicate = !clause && is_predicate(w, r, nw, &w[v]);
        if (!clause && !predicate)
            continue;
        if (predicate && !subject_len) {
            /* the left part's own subject, carried over */
            if (v == (long)from || v - (long)from > ATOM_MAX_SUBJECT)
                continue;
            size_t last = (size_t)v - 1;
            subject = s + w[from].b;
            subject_len = w[last].e - w[from].b;
        }
        dx_status st =
            add_atom(s, w, from, i, from ? subject : NULL, from ? subject_len : 0, a, out, n);
        if (st)
            return st;
        from = r;
        if (clause) {
            subject = NULL;
            subject_len = 0;
        }
    }
    if (from == 0) {
        out[(*n)++] = (cns_atom){s, s};
        return DX_OK;
    }
    /* the last part runs to the sentence's end, its full stop included */
    size_t b = w[from].b;
    size_t len = strlen(s + b);
    char *said = arena_strndup(a, s + b, len);
    if (!said)
        return dx_oom("consensus: splitting a sentence");
    const char *text = said;
    if (subject_len) {
        char *t = arena_alloc(a, subject_len + 1 + len + 1);
        if (!t)
            return dx_oom("consensus: splitting a sentence");
        memcpy(t, subject, subject_len);
        t[subject_len] = ' ';
        memcpy(t + subject_len + 1, said, len + 1);
        text = t;
    }
    out[(*n)++] = (cns_atom){text, said};
    return DX_OK;
}
