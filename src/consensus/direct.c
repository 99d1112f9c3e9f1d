/*
 * direct — finds, normalises and compares direct answers (direct.h). Method and its limits:
 * docs/consensus.md, "Direct answers".
 *
 * Text is read as words with byte offsets into the member's own text, so every value comes
 * with the verbatim span that states it. Words are folded (case, diacritics) one code point
 * at a time with utf8proc, into fixed buffers: nothing here grows with the input beyond the
 * limits in core/limits.h.
 */
#include "consensus/direct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "consensus/rules.h"
#include "core/limits.h"

#define WORD_MAX 48 /* folded bytes kept of one word (longer words are cut) */
#define WINDOW_MAX 160

/* ---- words ------------------------------------------------------------------------ */

enum {
    W_CAP = 1u << 0,     /* starts with an upper-case letter */
    W_NUM = 1u << 1,     /* digits: 42, 1,400, 3.5, 9,81, 4th */
    W_ALPHA = 1u << 2,   /* has a letter */
    W_Q = 1u << 3,       /* says a content word of the question */
    W_STOP = 1u << 4,    /* function word, auxiliary, pronoun, common verb */
    W_INITIAL = 1u << 5, /* first word of its sentence */
    W_ACRO = 1u << 6,    /* two or more capitals (CPU, U.S., CO2) */
    W_PART = 1u << 7,    /* a particle inside names: van, da, de, von, ... */
};

typedef struct word {
    size_t s, e; /* bytes of the text */
    unsigned f;
    char w[WORD_MAX]; /* case-folded, diacritics stripped, "'s" dropped */
} word;

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static bool is_upper_ascii(int c)
{
    return c >= 'A' && c <= 'Z';
}

/* Code point at p (at most n bytes); invalid bytes read as one U+FFFD of length 1. */
static size_t next_cp(const char *p, size_t n, utf8proc_int32_t *cp)
{
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, cp);
    if (k <= 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return (size_t)k;
}

static bool cp_is_wordchar(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || is_digit(cp);
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) || c == UTF8PROC_CATEGORY_ND;
}

/* Appends the folded form of cp (case-folded, marks stripped) to w. */
static void fold_cp(utf8proc_int32_t cp, char *w, size_t *wl)
{
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(
        cp, buf, 8, UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD, &last);
    if (n < 0 || n > 8) {
        buf[0] = cp;
        n = 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_encode_char(buf[i], enc);
        if (k <= 0 || *wl + (size_t)k >= WORD_MAX)
            return;
        memcpy(w + *wl, enc, (size_t)k);
        *wl += (size_t)k;
    }
    w[*wl] = 0;
}

static bool in_list(const char *w, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(w, list[i]))
            return true;
    return false;
}

/* Function words of English and of the other languages answers come in (French, German,
 * Spanish, Portuguese, Italian), auxiliaries, pronouns and verbs that carry no answer. */
static const char *const STOP_EN[] = {
    "a",          "an",        "the",       "of",       "in",      "on",
    "at",         "to",        "for",       "from",     "by",      "with",
    "about",      "as",        "into",      "onto",     "over",    "under",
    "than",       "then",      "and",       "or",       "but",     "nor",
    "so",         "if",        "because",   "while",    "when",    "where",
    "which",      "who",       "whom",      "whose",    "what",    "why",
    "how",        "that",      "this",      "these",    "those",   "there",
    "here",       "it",        "its",       "it's",     "they",    "them",
    "their",      "he",        "him",       "his",      "she",     "her",
    "we",         "us",        "our",       "you",      "your",    "i",
    "me",         "my",        "is",        "are",      "was",     "were",
    "be",         "been",      "being",     "am",       "do",      "does",
    "did",        "done",      "has",       "have",     "had",     "having",
    "can",        "could",     "will",      "would",    "shall",   "should",
    "may",        "might",     "must",      "not",      "no",      "yes",
    "also",       "only",      "just",      "very",     "more",    "most",
    "much",       "many",      "some",      "any",      "all",     "each",
    "every",      "both",      "either",    "neither",  "such",    "same",
    "other",      "another",   "one",       "ones",     "around",  "approximately",
    "roughly",    "nearly",    "almost",    "exactly",  "usually", "generally",
    "typically",  "often",     "sometimes", "always",   "never",   "still",
    "since",      "until",     "after",     "before",   "during",  "between",
    "among",      "through",   "per",       "via",      "called",  "known",
    "named",      "make",      "makes",     "made",     "take",    "takes",
    "took",       "taken",     "get",       "gets",     "got",     "use",
    "uses",       "used",      "say",       "says",     "said",    "think",
    "considered", "believe",   "answer",    "question", "great",   "good",
    "sure",       "certainly", "well",      "actually", "however", "according",
    "probably",   "perhaps",   "maybe",     "what's",   "that's",  "there's",
    "who's",      "he's",      "she's",     "here's",   "let's",   "how's",
    "where's",    "when's",    NULL};
/* ... and of French, German, Spanish, Portuguese, Italian: capitalised inside a sentence they
 * are part of a name ("Au", "La Paz", "Los Angeles") */
static const char *const STOP_OTHER[] = {
    "le",    "la",   "les",   "l",   "un",  "une",  "des", "du",  "de",  "d",   "et",  "est",
    "sont",  "en",   "au",    "aux", "par", "pour", "der", "die", "das", "den", "dem", "des",
    "ein",   "eine", "einer", "und", "ist", "sind", "war", "von", "vom", "zu",  "im",  "mit",
    "auf",   "bei",  "el",    "los", "las", "una",  "y",   "es",  "son", "fue", "por", "para",
    "con",   "del",  "al",    "o",   "os",  "as",   "um",  "uma", "e",   "foi", "do",  "da",
    "dos",   "das",  "no",    "na",  "il",  "lo",   "gli", "di",  "che", "ed",  "era", "nel",
    "della", "sim",  "oui",   "ja",  "si",  NULL};

/* Articles of French, German, Spanish, Portuguese and Italian. */
static const char *const ARTICLES_OTHER[] = {
    "le", "la", "les", "l", "el", "los", "las", "der", "die",  "das", "den", "dem", "des",
    "il", "lo", "gli", "o", "os", "un",  "une", "ein", "eine", "una", "uma", "um",  NULL};

/* Lower-case particles that belong to a name between capitalised words. */
static const char *const PARTICLES[] = {"van", "von",   "der", "den", "de", "da",  "di",
                                        "del", "della", "la",  "le",  "du", "dos", "das",
                                        "bin", "ibn",   "al",  "el",  "y",  "of",  NULL};

static bool is_stop(const char *w)
{
    return in_list(w, STOP_EN) || in_list(w, STOP_OTHER);
}

/* Drops a plural "s" ("chickpeas", "stands") for comparing words; not from "ss", "us", "is". */
static size_t base_len(const char *w)
{
    size_t n = strlen(w);
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i')
        return n - 1;
    return n;
}

/* Two folded words name the same thing: equal up to a plural, or the shorter (5 letters or
 * more) begins the longer, which adds at most two ("antarctic"/"antarctica"). */
static bool word_eq(const char *a, const char *b)
{
    size_t la = base_len(a), lb = base_len(b);
    if (la == lb && !strncmp(a, b, la))
        return true;
    size_t m = la < lb ? la : lb, M = la < lb ? lb : la;
    return m >= 5 && M - m <= 2 && !strncmp(a, b, m);
}

/* Looser, for recognising the question's own words in an answer: also two forms of one
 * stem that share 5 letters and all but two of the shorter ("created"/"creator",
 * "leavening"/"leavened", "capital"/"capitale"). */
static bool word_like(const char *a, const char *b)
{
    if (word_eq(a, b))
        return true;
    size_t la = base_len(a), lb = base_len(b);
    size_t m = la < lb ? la : lb, M = la < lb ? lb : la;
    if (m < 5 || M - m > 3)
        return false;
    size_t k = 0;
    while (k < m && a[k] == b[k])
        k++;
    return k >= 5 && k + 2 >= m;
}

/* What a word's characters said while word_scan read it. */
typedef struct wscan {
    int caps;
    bool digits_only, has_digit;
} wscan;

/* Reads the word that starts at text[i] (a word character) into w (folded, W_CAP, W_ALPHA),
 * through the joiners that keep it one word: 1,400 3.5 1776-07-04 Berners-Lee don't U.S.
 * Returns where it ends. */
static size_t word_scan(const char *text, size_t i, size_t e, word *w, wscan *sc)
{
    utf8proc_int32_t cp;
    size_t wl = 0, k;
    *sc = (wscan){0, true, false};
    next_cp(text + i, e - i, &cp);
    if (cp < 0x80 ? is_upper_ascii(cp) : utf8proc_category(cp) == UTF8PROC_CATEGORY_LU)
        w->f |= W_CAP;
    while (i < e) {
        k = next_cp(text + i, e - i, &cp);
        if (cp_is_wordchar(cp)) {
            if (cp < 0x80 ? is_upper_ascii(cp) : utf8proc_category(cp) == UTF8PROC_CATEGORY_LU)
                sc->caps++;
            if (cp < 0x80 && is_digit(cp))
                sc->has_digit = true;
            else
                sc->digits_only = false, w->f |= W_ALPHA;
            fold_cp(cp, w->w, &wl);
            i += k;
            continue;
        }
        char c = text[i];
        bool next_word = false;
        if (i + 1 < e) {
            utf8proc_int32_t nc;
            next_cp(text + i + 1, e - i - 1, &nc);
            next_word = cp_is_wordchar(nc);
        }
        if (next_word && (c == '-' || c == '\'' || (c == '.' && sc->caps > 0 && wl <= 3)) &&
            wl + 1 < WORD_MAX) {
            if (c != '.') { /* U.S. folds to "us" */
                w->w[wl++] = c;
                w->w[wl] = 0;
            }
            i++;
            continue;
        }
        if (next_word && (c == ',' || c == '.') && sc->has_digit && sc->digits_only &&
            is_digit((unsigned char)text[i + 1]) && wl + 1 < WORD_MAX) {
            w->w[wl++] = c;
            w->w[wl] = 0;
            i++;
            continue;
        }
        break;
    }
    /* "U.S." ends with its dot */
    if (i < e && text[i] == '.' && sc->caps >= 1 && wl <= 3 && !sc->digits_only && i >= w->s + 2 &&
        text[i - 2] == '.')
        i++;
    return i;
}

/* The flags of a word just read: a number (or an ordinal), an acronym, the first of its
 * sentence, a function word, a particle inside names; "Japan's" loses its "'s". */
static void word_flags(word *w, const wscan *sc, bool first)
{
    if (sc->has_digit && (sc->digits_only || strlen(w->w) <= 6))
        if (sc->digits_only ||
            (is_digit((unsigned char)w->w[0]) && (strstr(w->w, "st") || strstr(w->w, "nd") ||
                                                  strstr(w->w, "rd") || strstr(w->w, "th"))))
            w->f |= W_NUM;
    if (sc->caps >= 2 && !sc->digits_only)
        w->f |= W_ACRO;
    /* possessive: "Japan's" -> japan (but "what's", "it's" stay) */
    size_t l = strlen(w->w);
    if (l > 2 && !strcmp(w->w + l - 2, "'s") && !is_stop(w->w))
        w->w[l - 2] = 0;
    if (first)
        w->f |= W_INITIAL;
    /* a function word of another language is one in lower case; capitalised inside a sentence
     * it is part of a name ("La Paz"); an article opening a sentence is one ("Die Mona Lisa
     * wurde ...", "La capital de ...": words_read undoes it for a one-word answer) */
    if (in_list(w->w, STOP_EN) || (in_list(w->w, STOP_OTHER) && !(w->f & W_CAP)) ||
        (first && in_list(w->w, ARTICLES_OTHER)))
        w->f |= W_STOP;
    if (w->f & W_ACRO)
        w->f &= ~(unsigned)W_STOP; /* "US", "IT" are names */
    if (in_list(w->w, PARTICLES) && !(w->f & W_CAP))
        w->f |= W_PART;
}

static size_t words_read(const char *text, size_t s, size_t e, word *ws, size_t cap)
{
    size_t n = 0, i = s;
    while (i < e && n < cap) {
        utf8proc_int32_t cp;
        size_t k = next_cp(text + i, e - i, &cp);
        if (!cp_is_wordchar(cp)) {
            i += k;
            continue;
        }
        word *w = &ws[n];
        memset(w, 0, sizeof *w);
        w->s = i;
        wscan sc;
        i = word_scan(text, i, e, w, &sc);
        w->e = i;
        word_flags(w, &sc, n == 0);
        n++;
    }
    if (n == 1 && (ws[0].f & W_CAP) && in_list(ws[0].w, ARTICLES_OTHER))
        ws[0].f &= ~(unsigned)W_STOP; /* "O." names oxygen */
    return n;
}

/* ---- the question ----------------------------------------------------------------- */

enum { HINT_LENGTH = 1, HINT_MASS = 2, HINT_TEMP = 4, HINT_TIME = 8, HINT_SPEED = 16 };

typedef struct qinfo {
    cns_qkind kind;
    word w[DX_CNS_MAX_DIRECT_TOKENS];
    size_t n;
    unsigned hint;   /* dimensions an amount question asks for (HINT_*), 0: any */
    bool math;       /* "17 × 23", "square root of 144": numbers of the question are operands */
    int alt[2];      /* "X or Y": the words of the alternatives (indexes in w), -1 if none */
    int negs;        /* negations in the question */
    const char *src; /* the question text (w's offsets point into it) */
    /* the one temperature scale the question names (SCALES: "What is the boiling point of
     * water in Fahrenheit?"), a word of w: a bare "212 degrees" is in it; else NULL */
    const char *scale;
} qinfo;

/* Temperature scales, as words; and what else may follow "degrees" to name one. */
static const char *const SCALES[] = {"fahrenheit", "celsius", "kelvin", NULL};
static const char *const SCALES_SHORT[] = {"c", "f", "centigrade", NULL};

static const char *const AUX[] = {
    "is",    "are",      "was",    "were",     "do",        "does",    "did",     "can",   "could",
    "will",  "would",    "should", "shall",    "has",       "have",    "had",     "may",   "might",
    "must",  "am",       "isn't",  "aren't",   "wasn't",    "weren't", "doesn't", "don't", "didn't",
    "can't", "couldn't", "won't",  "wouldn't", "shouldn't", "hasn't",  "haven't", NULL};
static const char *const OPEN_VERBS[] = {
    "explain", "describe",  "list",      "name",  "give",   "recommend", "suggest",
    "compare", "summarize", "summarise", "write", "define", "discuss",   "outline",
    "provide", "share",     "help",      "show",  "teach",  NULL};
static const char *const OPEN_NOUNS[] = {
    "difference",    "differences", "compare", "comparison", "pros",   "cons",     "advantages",
    "disadvantages", "benefits",    "tips",    "ways",       "steps",  "reasons",  "examples",
    "types",         "kinds",       "causes",  "happens",    "happen", "elements", "factors",
    "effects",       "options",     "ideas",   "things",     "signs",  "symptoms", "rules",
    "features",      "uses",        NULL};
static const char *const NEGS[] = {
    "not",    "no",      "never",    "none",   "nothing",  "neither",   "nor",     "cannot",
    "nobody", "nowhere", "isn't",    "aren't", "wasn't",   "weren't",   "doesn't", "don't",
    "didn't", "can't",   "couldn't", "won't",  "wouldn't", "shouldn't", "hasn't",  "haven't",
    "ne",     "nicht",   "kein",     "keine",  "nao",      "non",       "nunca",   NULL};

/* Quantity nouns: an amount question without "how" ("What is the boiling point of ...",
 * "What oven temperature ..."). */
static unsigned quantity_hint(const char *w, bool *is_qty)
{
    static const struct {
        const char *w;
        unsigned hint;
    } q[] = {
        {"temperature", HINT_TEMP},
        {"boiling", HINT_TEMP},
        {"freezing", HINT_TEMP},
        {"melting", HINT_TEMP},
        {"speed", HINT_SPEED},
        {"velocity", HINT_SPEED},
        {"distance", HINT_LENGTH},
        {"length", HINT_LENGTH},
        {"height", HINT_LENGTH},
        {"depth", HINT_LENGTH},
        {"width", HINT_LENGTH},
        {"altitude", HINT_LENGTH},
        {"elevation", HINT_LENGTH},
        {"diameter", HINT_LENGTH},
        {"radius", HINT_LENGTH},
        {"weight", HINT_MASS},
        {"mass", HINT_MASS},
        {"dose", 0},
        {"dosage", 0},
        {"population", 0},
        {"age", HINT_TIME},
        {"duration", HINT_TIME},
        {"lifespan", HINT_TIME},
        {"price", 0},
        {"cost", 0},
        {"percentage", 0},
        {"acceleration", 0},
        {"amount", 0},
        {"number", 0},
        {"size", 0},
        {"area", 0},
        {"volume", 0},
        {"rate", 0},
        {"value", 0},
        {"pressure", 0},
        {"sum", 0},
        {"total", 0},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (!strcmp(w, q[i].w)) {
            *is_qty = true;
            return q[i].hint;
        }
    *is_qty = false;
    return 0;
}

static unsigned how_hint(const char *w, bool *ok)
{
    static const struct {
        const char *w;
        unsigned hint;
    } h[] = {
        {"much", 0},           {"long", HINT_LENGTH | HINT_TIME},
        {"far", HINT_LENGTH},  {"tall", HINT_LENGTH},
        {"high", HINT_LENGTH}, {"deep", HINT_LENGTH},
        {"wide", HINT_LENGTH}, {"big", 0},
        {"large", 0},          {"small", 0},
        {"heavy", HINT_MASS},  {"old", HINT_TIME},
        {"often", HINT_TIME},  {"frequently", HINT_TIME},
        {"fast", HINT_SPEED},  {"quickly", HINT_SPEED | HINT_TIME},
        {"hot", HINT_TEMP},    {"cold", HINT_TEMP},
        {"warm", HINT_TEMP},   {"thick", HINT_LENGTH},
        {"soon", HINT_TIME},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (!strcmp(w, h[i].w)) {
            *ok = true;
            return h[i].hint;
        }
    *ok = false;
    return 0;
}

static bool is_math_word(const char *w)
{
    static const char *const m[] = {"plus", "minus",   "times",     "multiplied", "divided",
                                    "sum",  "product", "squared",   "cubed",      "root",
                                    "sqrt", "percent", "factorial", NULL};
    return in_list(w, m);
}

static bool plural_noun(const char *w)
{
    size_t n = strlen(w);
    return n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i';
}

/* Arithmetic in the question: an operator sign or word with a number in it. Counts the
 * negations too. */
static void question_math(qinfo *q, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)q->src[i];
        if (c == '*' || c == '+' || c == '/' || c == '=' || c == '^' || c == '%' ||
            (c == 0xC3 && i + 1 < len && (unsigned char)q->src[i + 1] == 0x97) || /* × */
            (c == 0xC3 && i + 1 < len && (unsigned char)q->src[i + 1] == 0xB7) || /* ÷ */
            (c == 0xE2 && i + 2 < len && (unsigned char)q->src[i + 1] == 0x88 &&
             (unsigned char)q->src[i + 2] == 0x9A)) /* √ */
            q->math = true;
        if (c == '-' && i > 0 && i + 1 < len && q->src[i - 1] == ' ' && q->src[i + 1] == ' ')
            q->math = true;
    }
    bool has_num = false;
    for (size_t i = 0; i < q->n; i++) {
        if (q->w[i].f & W_NUM)
            has_num = true;
        if (is_math_word(q->w[i].w))
            q->math = true;
        if (in_list(q->w[i].w, NEGS))
            q->negs++;
    }
    q->math = q->math && has_num;
}

/* Where the question proper starts: after a lead-in ("so", "please", "can you tell me", "do you
 * know", "tell me") and at a preposition before the question word ("In which year"). */
static size_t skip_lead_in(const qinfo *q)
{
    size_t i = 0;
    for (;;) {
        const char *w0 = i < q->n ? q->w[i].w : "";
        const char *w1 = i + 1 < q->n ? q->w[i + 1].w : "";
        const char *w2 = i + 2 < q->n ? q->w[i + 2].w : "";
        if (!strcmp(w0, "so") || !strcmp(w0, "ok") || !strcmp(w0, "okay") ||
            !strcmp(w0, "please") || !strcmp(w0, "hey") || !strcmp(w0, "and") ||
            !strcmp(w0, "quick"))
            i++;
        else if ((!strcmp(w0, "can") || !strcmp(w0, "could") || !strcmp(w0, "would")) &&
                 !strcmp(w1, "you") && (!strcmp(w2, "tell") || !strcmp(w2, "say")))
            i += 3 + (i + 3 < q->n && !strcmp(q->w[i + 3].w, "me"));
        else if ((!strcmp(w0, "do") || !strcmp(w0, "does")) && !strcmp(w1, "you") &&
                 !strcmp(w2, "know"))
            i += 3;
        else if ((!strcmp(w0, "tell") || !strcmp(w0, "say")) && !strcmp(w1, "me") && i + 2 < q->n &&
                 (in_list(w2, (const char *const[]){"who", "what", "when", "where", "which", "how",
                                                    "whether", "if", NULL})))
            i += 2;
        else if (!strcmp(w0, "i") && (!strcmp(w1, "wonder") || !strcmp(w1, "want")))
            i += 2 + (!strcmp(w2, "to")) * 2;
        else
            break;
        if (i >= q->n)
            break;
    }
    /* a preposition before the question word: "In which year", "At what temperature" */
    if (i + 1 < q->n &&
        in_list(q->w[i].w, (const char *const[]){"in", "on", "at", "for", "to", "from", "by", "of",
                                                 "with", "since", NULL}) &&
        in_list(q->w[i + 1].w,
                (const char *const[]){"what", "which", "whom", "whose", "how", NULL}))
        i++;
    return i;
}

/* What the nouns after the question word at q->w[i] say: one that asks for an explanation
 * (OPEN_NOUNS), and the first that asks for a quantity (its unit hint). */
typedef struct qnouns {
    bool open_noun, qty_noun;
    unsigned hint;
} qnouns;

static qnouns question_nouns(const qinfo *q, size_t i)
{
    qnouns qn = {0};
    for (size_t k = i; k < q->n; k++) {
        if (in_list(q->w[k].w, OPEN_NOUNS))
            qn.open_noun = true;
        bool is_q;
        unsigned h = quantity_hint(q->w[k].w, &is_q);
        /* "the largest country by area": the measure ranks the things asked for */
        if (is_q && k > 0 && !strcmp(q->w[k - 1].w, "by"))
            continue;
        if (is_q && !qn.qty_noun) {
            qn.qty_noun = true;
            qn.hint = h;
        }
    }
    return qn;
}

/* "What/which is|was X ...": an amount, a choice, a thing ("of", "for" or a superlative after
 * it), or a definition ("What is a tort?"). The words from q->w[from] on are read. */
static void kind_what_is(qinfo *q, size_t from, bool which, qnouns qn)
{
    bool of = false, sup = false;
    for (size_t k = from; k < q->n; k++) {
        const char *w = q->w[k].w;
        size_t l = strlen(w);
        if (in_list(w, (const char *const[]){"of", "for", "in", "on", "between", NULL}))
            of = true;
        if ((l > 4 && !strcmp(w + l - 3, "est") && strcmp(w, "interest") && strcmp(w, "forest") &&
             strcmp(w, "request") && strcmp(w, "contest")) ||
            !strcmp(w, "most") || !strcmp(w, "least") || !strcmp(w, "first") ||
            !strcmp(w, "last") || !strcmp(w, "main") || !strcmp(w, "only"))
            sup = true;
    }
    if (qn.qty_noun)
        q->kind = CNS_Q_AMOUNT, q->hint = qn.hint;
    else if (which)
        q->kind = CNS_Q_WHICH;
    else if (of || sup)
        q->kind = CNS_Q_WHAT;
    else
        q->kind = CNS_Q_OPEN;
}

/* A question that starts "what", "which" or "what's" at q->w[i]. */
static void kind_what(qinfo *q, size_t i, qnouns qn)
{
    const char *w0 = q->w[i].w;
    const char *w1 = i + 1 < q->n ? q->w[i + 1].w : "";
    bool which = !strcmp(w0, "which");
    if (!strcmp(w0, "what's"))
        w1 = "is", i--; /* "what's the ..." reads as "what is the ..." */
    const char *w2 = i + 2 < q->n ? q->w[i + 2].w : "";
    if (in_list(w1,
                (const char *const[]){"year", "date", "day", "month", "century", "decade", NULL}))
        q->kind = CNS_Q_WHEN;
    else if (q->math)
        q->kind = CNS_Q_AMOUNT;
    else if (qn.open_noun)
        q->kind = CNS_Q_OPEN;
    else if (!strcmp(w1, "are") || !strcmp(w1, "were"))
        q->kind = CNS_Q_OPEN;
    else if (!strcmp(w1, "is") || !strcmp(w1, "was")) {
        kind_what_is(q, i + 2, which, qn);
    } else if (in_list(w1, (const char *const[]){"does", "do", "did", NULL})) {
        /* "What does X stand for" asks for one thing; "what do X and Y mean" for several */
        /* "What does GDPR stand for / mean?" asks for one expansion */
        bool stand = false;
        for (size_t k = i + 2; k < q->n; k++)
            if ((!strcmp(q->w[k].w, "stand") && k + 1 < q->n && !strcmp(q->w[k + 1].w, "for")) ||
                !strcmp(q->w[k].w, "mean"))
                stand = strcmp(w1, "do") != 0;
        q->kind = stand ? CNS_Q_WHAT : which ? CNS_Q_WHICH : CNS_Q_OPEN;
    } else if (in_list(w1, AUX) ||
               in_list(w1, (const char *const[]){"causes", "cause", "makes", "make", "happens",
                                                 "happened", "caused", "made", NULL})) {
        q->kind = CNS_Q_OPEN;
    } else if (*w1) {
        /* "what gas do plants absorb", "which country won", "which foods are ..." */
        bool is_q, is_q2;
        unsigned h = quantity_hint(w1, &is_q), h2 = quantity_hint(w2, &is_q2);
        if (is_q || is_q2)
            q->kind = CNS_Q_AMOUNT, q->hint = is_q ? h : h2;
        else if (plural_noun(w1) && in_list(w2, (const char *const[]){"are", "were", "have", "do",
                                                                      "can", "should", NULL}))
            q->kind = CNS_Q_OPEN;
        else
            q->kind = which ? CNS_Q_WHICH : CNS_Q_WHAT;
    }
}

/* A question that starts with an auxiliary at q->w[i] ("Is", "Can", "Does"): yes/no, a choice
 * between the two alternatives around "or", or ("Can you explain ...") an explanation. */
static void kind_aux(qinfo *q, size_t i)
{
    const char *w1 = i + 1 < q->n ? q->w[i + 1].w : "";
    if (!strcmp(w1, "you") && i + 2 < q->n && in_list(q->w[i + 2].w, OPEN_VERBS)) {
        q->kind = CNS_Q_OPEN;
        return;
    }
    q->kind = CNS_Q_YESNO;
    for (size_t k = i + 1; k + 1 < q->n; k++)
        if (!strcmp(q->w[k].w, "or") && strcmp(q->w[k + 1].w, "not")) {
            size_t b = k + 1;
            while (b < q->n && (q->w[b].f & W_STOP))
                b++;
            size_t a = k;
            while (a > i + 1 && (q->w[a - 1].f & W_STOP))
                a--;
            if (b < q->n && a > i + 1) {
                q->alt[0] = (int)(a - 1);
                q->alt[1] = (int)b;
                q->kind = CNS_Q_WHICH;
            }
            break;
        }
}

/* The kind of question whose question word is q->w[i]. */
static void question_kind(qinfo *q, size_t i)
{
    const char *w0 = q->w[i].w;
    const char *w1 = i + 1 < q->n ? q->w[i + 1].w : "";
    qnouns qn = question_nouns(q, i);
    if (!strcmp(w0, "whether") || !strcmp(w0, "if")) {
        q->kind = CNS_Q_YESNO;
    } else if (!strcmp(w0, "who") || !strcmp(w0, "whom") || !strcmp(w0, "whose")) {
        q->kind = (!strcmp(w1, "are") || !strcmp(w1, "were")) ? CNS_Q_OPEN : CNS_Q_WHO;
    } else if (!strcmp(w0, "when")) {
        q->kind = in_list(w1, (const char *const[]){"should", "can", "could", "would", "might",
                                                    "must", "shall", NULL})
                      ? CNS_Q_OPEN
                      : CNS_Q_WHEN;
    } else if (!strcmp(w0, "where")) {
        q->kind = in_list(w1, (const char *const[]){"should", "can", "could", NULL}) ? CNS_Q_OPEN
                                                                                     : CNS_Q_WHERE;
    } else if (!strcmp(w0, "how")) {
        bool ok;
        unsigned hint;
        if (!strcmp(w1, "many"))
            q->kind = CNS_Q_COUNT;
        else if ((hint = how_hint(w1, &ok)), ok)
            q->kind = CNS_Q_AMOUNT, q->hint = hint;
        else
            q->kind = CNS_Q_OPEN;
    } else if (!strcmp(w0, "what") || !strcmp(w0, "which") || !strcmp(w0, "what's")) {
        kind_what(q, i, qn);
    } else if (in_list(w0, AUX)) {
        kind_aux(q, i);
    }
}

static void question_read(const char *question, qinfo *q)
{
    memset(q, 0, sizeof *q);
    q->alt[0] = q->alt[1] = -1;
    q->kind = CNS_Q_OPEN;
    q->src = question ? question : "";
    size_t len = strnlen(q->src, DX_MAX_QUESTION_BYTES);
    q->n = words_read(q->src, 0, len, q->w, DX_CNS_MAX_DIRECT_TOKENS);
    question_math(q, len);
    size_t i = skip_lead_in(q);
    if (i >= q->n)
        return;
    question_kind(q, i);
    /* "How much does a litre of water weigh?" asks for a mass, not for the litre */
    for (size_t k = i; q->kind == CNS_Q_AMOUNT && !q->hint && k < q->n; k++)
        if (!strcmp(q->w[k].w, "weigh") || !strcmp(q->w[k].w, "weighs") ||
            !strcmp(q->w[k].w, "weighed"))
            q->hint = HINT_MASS;
    /* content words: what the question itself says, not an answer */
    for (size_t k = 0; k < q->n; k++)
        if (!(q->w[k].f & W_STOP) && !(q->w[k].f & W_NUM))
            q->w[k].f |= W_Q;
    bool two = false; /* "from Celsius to Fahrenheit": no one scale */
    for (size_t k = 0; k < q->n; k++)
        if (in_list(q->w[k].w, SCALES)) {
            two |= q->scale && strcmp(q->scale, q->w[k].w);
            q->scale = q->w[k].w;
        }
    if (two)
        q->scale = NULL;
}

/* Whether w is "degree(s)" with no scale after it (next: the word after, or NULL). */
static bool bare_degrees(const word *w, const word *next)
{
    return (!strcmp(w->w, "degrees") || !strcmp(w->w, "degree")) &&
           !(next && (in_list(next->w, SCALES) || in_list(next->w, SCALES_SHORT)));
}

cns_qkind cns_direct_classify(const char *question)
{
    qinfo *q = malloc(sizeof *q);
    if (!q)
        return CNS_Q_OPEN;
    question_read(question, q);
    cns_qkind k = q->kind;
    free(q);
    return k;
}

const char *cns_direct_qkind_str(cns_qkind k)
{
    switch (k) {
    case CNS_Q_WHO:
        return "who";
    case CNS_Q_WHAT:
        return "what";
    case CNS_Q_WHICH:
        return "which";
    case CNS_Q_WHERE:
        return "where";
    case CNS_Q_WHEN:
        return "when";
    case CNS_Q_COUNT:
        return "how many";
    case CNS_Q_AMOUNT:
        return "how much";
    case CNS_Q_YESNO:
        return "yes/no";
    case CNS_Q_OPEN:
        break;
    }
    return "open";
}

/* Whether answer word w says a content word of the question. */
static bool says_question_word(const qinfo *q, const char *w)
{
    for (size_t k = 0; k < q->n; k++)
        if ((q->w[k].f & W_Q) && word_like(q->w[k].w, w))
            return true;
    return false;
}

/* ---- segments: sentences, list items, table rows ---------------------------------- */

typedef enum { SEG_PROSE, SEG_ITEM, SEG_ROW } seg_kind;

typedef struct seg {
    size_t s, e;
    seg_kind kind;
} seg;

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where the sentence starting at s ends, within [s, e): after . ! ? ; or ": " followed by
 * space, not inside a number or after an initial ("U.S.", "J. K.") or "e.g.", "Dr.". */
static size_t sentence_end(const char *t, size_t s, size_t e)
{
    for (size_t i = s; i < e; i++) {
        char c = t[i];
        if (c != '.' && c != '!' && c != '?' && c != ';' && c != ':')
            continue;
        if (i + 1 < e && !is_space((unsigned char)t[i + 1]))
            continue;
        if (c == '.') {
            /* a single letter before ("U.S." "J.") or a short abbreviation */
            size_t b = i;
            while (b > s && !is_space((unsigned char)t[b - 1]))
                b--;
            size_t wl = i - b;
            if (wl == 1 && is_upper_ascii((unsigned char)t[b]))
                continue;
            if (wl >= 2 && wl <= 4 && memchr(t + b, '.', wl))
                continue; /* e.g. i.e. U.S */
            static const char *const abbr[] = {"Dr",     "Mr", "Mrs", "Ms", "St", "vs",   "etc",
                                               "approx", "ca", "No",  "Jr", "Sr", "Prof", NULL};
            bool ab = false;
            for (size_t k = 0; abbr[k]; k++)
                if (strlen(abbr[k]) == wl && !strncmp(t + b, abbr[k], wl))
                    ab = true;
            if (ab)
                continue;
        }
        return i + 1;
    }
    return e;
}

static size_t trim_left(const char *t, size_t s, size_t e)
{
    while (s < e && is_space((unsigned char)t[s]))
        s++;
    return s;
}

static size_t trim_right(const char *t, size_t s, size_t e)
{
    while (e > s && is_space((unsigned char)t[e - 1]))
        e--;
    return e;
}

/* Splits the first DX_CNS_MAX_DIRECT_SCAN bytes of markdown into at most cap segments:
 * headings, rules, code fences and table separator rows are skipped. */
static size_t segments_read(const char *t, size_t len, seg *out, size_t cap)
{
    size_t n = 0, i = 0;
    bool fence = false;
    while (i < len && n < cap) {
        size_t le = i;
        while (le < len && t[le] != '\n')
            le++;
        size_t s = trim_left(t, i, le), e = trim_right(t, s, le);
        size_t next = le < len ? le + 1 : le;
        if (e - s >= 3 && (!strncmp(t + s, "```", 3) || !strncmp(t + s, "~~~", 3))) {
            fence = !fence;
            i = next;
            continue;
        }
        if (fence || s == e || t[s] == '#' ||
            (e - s >= 3 && (t[s] == '-' || t[s] == '*' || t[s] == '_') &&
             strspn(t + s, "-*_ ") >= e - s)) {
            i = next;
            continue;
        }
        if (t[s] == '|') {
            if (strspn(t + s, "|-: ") < e - s && n < cap)
                out[n++] = (seg){s, e, SEG_ROW};
            i = next;
            continue;
        }
        seg_kind kind = SEG_PROSE;
        /* list markers: - * + • 1. 1) */
        if (e - s >= 2 && (t[s] == '-' || t[s] == '*' || t[s] == '+') && t[s + 1] == ' ') {
            s = trim_left(t, s + 1, e);
            kind = SEG_ITEM;
        } else if (e - s >= 4 && !strncmp(t + s, "\xE2\x80\xA2", 3)) {
            s = trim_left(t, s + 3, e);
            kind = SEG_ITEM;
        } else {
            size_t d = s;
            while (d < e && is_digit((unsigned char)t[d]))
                d++;
            if (d > s && d - s <= 3 && d + 1 < e && (t[d] == '.' || t[d] == ')') &&
                t[d + 1] == ' ') {
                s = trim_left(t, d + 1, e);
                kind = SEG_ITEM;
            }
        }
        if (t[s] == '>')
            s = trim_left(t, s + 1, e);
        /* a prose paragraph runs on over its lines until a blank or a marked line */
        if (kind == SEG_PROSE) {
            while (next < len) {
                size_t ne = next;
                while (ne < len && t[ne] != '\n')
                    ne++;
                size_t ns = trim_left(t, next, ne);
                if (ns == ne || strchr("#|-*+>`", t[ns]) || is_digit((unsigned char)t[ns]))
                    break;
                e = trim_right(t, ns, ne);
                next = ne < len ? ne + 1 : ne;
            }
        }
        while (s < e && n < cap) {
            size_t se = sentence_end(t, s, e);
            size_t te = trim_right(t, s, se);
            if (te > s)
                out[n++] = (seg){s, te, kind};
            s = trim_left(t, se, e);
        }
        i = next;
    }
    return n;
}

/* ---- non-answers ------------------------------------------------------------------- */

/* "I don't know", "I cannot say", "no idea", a refusal: an answer that gives
 * none (the analysis's own rules: cns_is_refusal, cns_is_nonanswer). */
static bool is_nonanswer(const char *t, size_t s, size_t e)
{
    char buf[512];
    size_t n = e - s < sizeof buf - 1 ? e - s : sizeof buf - 1;
    memcpy(buf, t + s, n);
    buf[n] = 0;
    return cns_is_refusal(buf) || cns_is_nonanswer(buf);
}

/* Model garbage: special tokens, one word over and over, letter salad. */
static bool is_garbage(const char *t, size_t s, size_t e, const word *ws, size_t n)
{
    for (size_t i = s; i + 1 < e; i++)
        if ((t[i] == '<' && t[i + 1] == '|') || (t[i] == '|' && t[i + 1] == '>'))
            return true;
    if (n >= 6) {
        for (size_t i = 0; i < n; i++) {
            size_t same = 0;
            for (size_t j = 0; j < n; j++)
                same += !strcmp(ws[i].w, ws[j].w);
            if (2 * same > n)
                return true;
        }
    }
    size_t alpha = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *w = ws[i].w;
        bool ascii = true, vowel = false, digit = false;
        size_t run = 0, maxrun = 0;
        for (const char *p = w; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c >= 0x80)
                ascii = false;
            if (is_digit(c))
                digit = true;
            if (strchr("aeiouy", c) && c)
                vowel = true, run = 0;
            else if (c >= 'a' && c <= 'z' && ++run > maxrun)
                maxrun = run;
        }
        if (!ascii || !(ws[i].f & W_ALPHA) || (ws[i].f & W_ACRO) || strlen(w) < 3)
            continue;
        alpha++;
        if (!vowel || maxrun >= 5 || (digit && !(ws[i].f & W_NUM)))
            bad++;
    }
    return alpha > 0 && 2 * bad >= alpha + (alpha > 1);
}

/* ---- values -------------------------------------------------------------------------- */

static char *copy_range(arena *a, const char *t, size_t s, size_t e)
{
    char *p = arena_alloc(a, e - s + 1);
    if (p) {
        memcpy(p, t + s, e - s);
        p[e - s] = 0;
    }
    return p;
}

typedef struct ctx {
    const qinfo *q;
    const char *t;
    arena *a;
    word w[DX_CNS_MAX_DIRECT_TOKENS];
    size_t n;
    seg sg;
    int choice; /* the alternative of the question a choice answer names, -1 */
} ctx;

static void set_span(ctx *c, cns_direct *d, size_t s, size_t e)
{
    d->start = s;
    d->len = e - s;
    d->sent_start = c->sg.s;
    d->sent_len = c->sg.e - c->sg.s;
}

/* yes/no: a leading word, else a sentence that restates the question, negated or not */
static bool find_yesno(ctx *c, cns_direct *d, bool lead)
{
    static const char *const YES[] = {
        "yes", "yeah", "yep", "yup", "correct",   "absolutely", "definitely", "indeed", "sim",
        "si",  "oui",  "ja",  "da",  "certainly", "sure",       "true",       NULL};
    static const char *const NO[] = {"no",  "nope", "nah", "incorrect", "false", "nao",
                                     "non", "nein", "net", "wrong",     NULL};
    if (c->n == 0)
        return false;
    const word *w0 = &c->w[0];
    size_t after = w0->e;
    bool punct = after >= c->sg.e || c->t[after] == ',' || c->t[after] == '.' ||
                 c->t[after] == '!' || c->t[after] == ';' || c->t[after] == ':' ||
                 c->t[after] == ' ' || c->t[after] == '*';
    /* "No — penguins ...": a dash after the space ends the word as a comma would */
    size_t k = after;
    while (k < c->sg.e && c->t[k] == ' ')
        k++;
    bool dash = k > after && k < c->sg.e &&
                (c->t[k] == '-' || !strncmp(c->t + k, "\xE2\x80\x94", 3) ||
                 !strncmp(c->t + k, "\xE2\x80\x93", 3));
    if (lead && in_list(w0->w, YES) &&
        (c->n == 1 || c->t[after] != ' ' || dash || !strcmp(w0->w, "yes")))
        d->yes = 1;
    else if (lead && in_list(w0->w, NO) && punct && (c->n == 1 || c->t[after] != ' ' || dash))
        d->yes = -1;
    else if (lead && c->n >= 2 && !strcmp(w0->w, "not") &&
             (!strcmp(c->w[1].w, "really") || !strcmp(c->w[1].w, "at") ||
              !strcmp(c->w[1].w, "necessarily")))
        d->yes = -1;
    if (d->yes) {
        d->type = CNS_DV_YESNO;
        set_span(c, d, w0->s, c->n > 1 && !strcmp(w0->w, "not") ? c->w[1].e : w0->e);
        return true;
    }
    /* "Is it dangerous to swim after eating?" answered "It is not dangerous.": "it" and the
     * question's word after "is it", negated or not */
    const qinfo *q = c->q;
    if (lead && q->n >= 3 && in_list(q->w[0].w, AUX) && !strcmp(q->w[1].w, "it") &&
        (q->w[2].f & W_Q) && (!strcmp(w0->w, "it") || !strcmp(w0->w, "it's")))
        for (size_t j = 1; j < c->n && j <= 3; j++)
            if (word_like(q->w[2].w, c->w[j].w)) {
                int negs = 0;
                for (size_t k = 0; k < j; k++)
                    negs += in_list(c->w[k].w, NEGS) || strstr(c->w[k].w, "n't") != NULL;
                d->type = CNS_DV_YESNO;
                d->yes = negs % 2 ? -1 : 1;
                set_span(c, d, w0->s, c->w[j].e);
                return true;
            }
    /* the question restated: all its content words (one may be missing from four or more) */
    size_t need = 0, have = 0;
    for (size_t k = 0; k < c->q->n; k++) {
        if (!(c->q->w[k].f & W_Q))
            continue;
        need++;
        for (size_t j = 0; j < c->n; j++)
            if (word_like(c->q->w[k].w, c->w[j].w)) {
                have++;
                break;
            }
    }
    if (need == 0 || have + (need >= 4 ? need / 3 : 0) < need)
        return false;
    int negs = 0;
    for (size_t j = 0; j < c->n; j++)
        negs += in_list(c->w[j].w, NEGS) || strstr(c->w[j].w, "n't") != NULL;
    d->type = CNS_DV_YESNO;
    d->yes = ((negs + c->q->negs) % 2) ? -1 : 1;
    set_span(c, d, c->sg.s, c->sg.e);
    return true;
}

/* Number words of French, German, Spanish, Portuguese and Italian (folded), 2 to 20 and 100,
 * read as their digits. Left out where the word is common in English or is an article too:
 * un/uno/ein/um, dos, due, sei, once, elf, sept, cent. */
static int foreign_number(const char *w)
{
    static const struct {
        const char *w;
        int v;
    } t[] = {
        {"deux", 2},
        {"trois", 3},
        {"quatre", 4},
        {"cinq", 5},
        {"huit", 8},
        {"neuf", 9},
        {"dix", 10},
        {"onze", 11},
        {"douze", 12},
        {"vingt", 20},
        {"zwei", 2},
        {"drei", 3},
        {"vier", 4},
        {"funf", 5},
        {"sechs", 6},
        {"sieben", 7},
        {"acht", 8},
        {"neun", 9},
        {"zehn", 10},
        {"zwolf", 12},
        {"zwanzig", 20},
        {"hundert", 100},
        {"tres", 3},
        {"cuatro", 4},
        {"cinco", 5},
        {"seis", 6},
        {"siete", 7},
        {"ocho", 8},
        {"nueve", 9},
        {"diez", 10},
        {"doce", 12},
        {"veinte", 20},
        {"cien", 100},
        {"dois", 2},
        {"duas", 2},
        {"quatro", 4},
        {"sete", 7},
        {"oito", 8},
        {"nove", 9},
        {"dez", 10},
        {"doze", 12},
        {"vinte", 20},
        {"cem", 100},
        {"tre", 3},
        {"quattro", 4},
        {"cinque", 5},
        {"sette", 7},
        {"otto", 8},
        {"dieci", 10},
        {"dodici", 12},
        {"venti", 20},
        {"cento", 100},
        /* 13-19 (not "seize" and "quince": English words too) */
        {"treize", 13},
        {"quatorze", 14},
        {"quinze", 15},
        {"dix-sept", 17},
        {"dix-huit", 18},
        {"dix-neuf", 19},
        {"dreizehn", 13},
        {"vierzehn", 14},
        {"funfzehn", 15},
        {"sechzehn", 16},
        {"siebzehn", 17},
        {"achtzehn", 18},
        {"neunzehn", 19},
        {"trece", 13},
        {"catorce", 14},
        {"dieciseis", 16},
        {"diecisiete", 17},
        {"dieciocho", 18},
        {"diecinueve", 19},
        {"treze", 13},
        {"catorze", 14},
        {"dezesseis", 16},
        {"dezessete", 17},
        {"dezoito", 18},
        {"dezenove", 19},
        {"tredici", 13},
        {"quattordici", 14},
        {"quindici", 15},
        {"sedici", 16},
        {"diciassette", 17},
        {"diciotto", 18},
        {"diciannove", 19},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(w, t[i].w))
            return t[i].v;
    return 0;
}

static bool is_number_word(const char *w)
{
    if (foreign_number(w))
        return true;
    static const char *const nw[] = {
        "zero",     "one",     "two",     "three",     "four",     "five",     "six",
        "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",   "thirteen",
        "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
        "thirty",   "forty",   "fifty",   "sixty",     "seventy",  "eighty",   "ninety",
        "hundred",  "dozen",   "half",    NULL};
    char head[WORD_MAX];
    size_t k = strcspn(w, "-");
    memcpy(head, w, k);
    head[k] = 0;
    return in_list(head, nw);
}

static bool hint_ok(unsigned hint, int dim)
{
    if (!hint)
        return dim != CNS_DIM_YEAR;
    return ((hint & HINT_LENGTH) && dim == CNS_DIM_LENGTH) ||
           ((hint & HINT_MASS) && dim == CNS_DIM_MASS) ||
           ((hint & HINT_TEMP) && dim == CNS_DIM_TEMP) ||
           ((hint & HINT_TIME) && dim == CNS_DIM_TIME) ||
           ((hint & HINT_SPEED) && dim == CNS_DIM_SPEED);
}

static const char *base_unit(int dim)
{
    switch (dim) {
    case CNS_DIM_PERCENT:
        return "%";
    case CNS_DIM_LENGTH:
        return "m";
    case CNS_DIM_MASS:
        return "g";
    case CNS_DIM_TEMP:
        return "°C";
    case CNS_DIM_TIME:
        return "s";
    case CNS_DIM_VOLUME:
        return "L";
    case CNS_DIM_SPEED:
        return "m/s";
    case CNS_DIM_DATA:
        return "B";
    case CNS_DIM_ENERGY:
        return "kcal";
    case CNS_DIM_USD:
        return "USD";
    case CNS_DIM_EUR:
        return "EUR";
    case CNS_DIM_GBP:
        return "GBP";
    case CNS_DIM_PRESSURE:
        return "Pa";
    default:
        return "";
    }
}

/* The quantities of the words [i, j) of the sentence, read by text.h from a copy in which
 * a decimal comma is a point ("9,81") and a lone "K" is kelvin. */
static dx_status window_qty(ctx *c, size_t s, size_t e, cns_features *f)
{
    char win[WINDOW_MAX];
    size_t n = 0;
    word ws[16];
    size_t nw = words_read(c->t, s, e, ws, 16), wi = 0;
    for (size_t i = s; i < e && n + 8 < sizeof win; i++) {
        char ch = c->t[i];
        while (wi < nw && ws[wi].e <= i)
            wi++;
        int v;
        if (c->q->scale && wi < nw && ws[wi].s == i &&
            bare_degrees(&ws[wi], wi + 1 < nw ? &ws[wi + 1] : NULL) &&
            n + (ws[wi].e - ws[wi].s) + strlen(c->q->scale) + 10 < sizeof win) {
            /* "212 degrees" answering a question in Fahrenheit reads "212 degrees fahrenheit" */
            n += (size_t)snprintf(win + n, sizeof win - n, "%.*s %s", (int)(ws[wi].e - ws[wi].s),
                                  c->t + ws[wi].s, c->q->scale);
            i = ws[wi].e - 1;
            continue;
        }
        if (wi < nw && ws[wi].s == i && (v = foreign_number(ws[wi].w)) > 0) {
            n += (size_t)snprintf(win + n, sizeof win - n, "%d", v);
            i = ws[wi].e - 1; /* "nueve planetas" reads as "9 planetas" */
            continue;
        }
        if (ch == ',' && i > s && is_digit((unsigned char)c->t[i - 1]) && i + 1 < e &&
            is_digit((unsigned char)c->t[i + 1])) {
            size_t d = i + 1;
            while (d < e && is_digit((unsigned char)c->t[d]))
                d++;
            if (d - i - 1 != 3) {
                win[n++] = '.';
                continue;
            }
        }
        if (ch == 'K' && i > s && (c->t[i - 1] == ' ' || is_digit((unsigned char)c->t[i - 1])) &&
            (i + 1 >= e || !cp_is_wordchar((unsigned char)c->t[i + 1]))) {
            memcpy(win + n, " kelvin", 7);
            n += 7;
            continue;
        }
        win[n++] = ch;
    }
    win[n] = 0;
    return cns_text_features(win, c->a, f);
}

static bool connector(const ctx *c, size_t from, size_t to, bool *range, bool *plus)
{
    /* between two numbers: "-", "–", "to", "and" (with "between" before), "or" */
    *range = *plus = false;
    char buf[24];
    size_t n = 0;
    for (size_t i = from; i < to && n + 1 < sizeof buf; i++)
        if (!is_space((unsigned char)c->t[i]))
            buf[n++] = c->t[i] >= 'A' && c->t[i] <= 'Z' ? (char)(c->t[i] - 'A' + 'a') : c->t[i];
    buf[n] = 0;
    if (!strcmp(buf, "-") || !strcmp(buf, "\xE2\x80\x93") || !strcmp(buf, "\xE2\x80\x94") ||
        !strcmp(buf, "to") || !strcmp(buf, "or"))
        *range = true;
    else if (!strcmp(buf, "and") || !strcmp(buf, ","))
        *plus = true;
    return *range || *plus;
}

static bool find_number_pass(ctx *c, cns_direct *d, bool bare);

/* An amount: first one of the dimension the question asks for, else a bare number. */
static bool find_number(ctx *c, cns_direct *d)
{
    return find_number_pass(c, d, false) || (c->q->hint && find_number_pass(c, d, true));
}

/* Where the result of a calculation starts: after the last "=" or "≈" of the segment. */
static size_t result_start(const ctx *c)
{
    size_t from = c->sg.s;
    for (size_t i = c->sg.s; i < c->sg.e; i++)
        if (c->t[i] == '=' ||
            (c->t[i] == (char)0xE2 && i + 2 < c->sg.e && (unsigned char)c->t[i + 1] == 0x89 &&
             (unsigned char)c->t[i + 2] == 0x88)) /* ≈ */
            from = i + 1;
    return from;
}

/* A number the question states is not its answer ("12 times 12 is 144", "how much does one cup
 * weigh"). */
static bool question_states(const ctx *c, const word *w)
{
    for (size_t k = 0; k < c->q->n; k++)
        if (((c->q->w[k].f & W_NUM) || is_number_word(c->q->w[k].w)) && !strcmp(c->q->w[k].w, w->w))
            return true;
    /* "One tablespoon equals 2 teaspoons" to "How many teaspoons are in a tablespoon?": the
     * question's "a tablespoon" said as one */
    size_t i = (size_t)(w - c->w);
    if (i + 1 < c->n && (!strcmp(w->w, "one") || !strcmp(w->w, "1")))
        for (size_t k = 1; k < c->q->n; k++)
            if (in_list(c->q->w[k - 1].w, (const char *const[]){"a", "an", "one", "each", NULL}) &&
                (c->q->w[k].f & W_Q) && word_eq(c->q->w[k].w, c->w[i + 1].w))
                return true;
    return false;
}

/* Where the number at c->w[i] starts: a hedge just before belongs to it ("about 40", "~40",
 * "$40"). */
static size_t hedge_start(const ctx *c, size_t i)
{
    size_t ws = c->w[i].s;
    if (i > 0 &&
        in_list(c->w[i - 1].w,
                (const char *const[]){"about", "approximately", "around", "roughly", "nearly",
                                      "almost", "circa", "some", "over", "under", "approx", "ca",
                                      "etwa", "environ", "aproximadamente", "cerca", NULL}))
        ws = c->w[i - 1].s;
    else if (ws > c->sg.s && (c->t[ws - 1] == '~' || c->t[ws - 1] == '$'))
        ws--;
    return ws;
}

/* The words of the amount that starts with the number c->w[i]: up to four more words after the
 * last number, not past a bracket or ";", nor past a second number unless it makes a range
 * ("7 to 9 hours", "9-12 minutes", "between 100 and 110 m"), a sum ("8 minutes and 20 seconds")
 * or one number ("two hundred"). Returns its last word; *lastnum is its last number. */
static size_t amount_extent(const ctx *c, size_t i, size_t *lastnum, bool *range, bool *plus)
{
    bool between = i > 0 && !strcmp(c->w[i - 1].w, "between");
    size_t j = i + 1, last = i;
    *lastnum = i;
    *range = *plus = false;
    while (j < c->n && j <= *lastnum + 4) {
        bool stop = false;
        for (size_t k = c->w[j - 1].e; k < c->w[j].s; k++)
            if (strchr("();:[]|", c->t[k]))
                stop = true;
        if (stop)
            break;
        if ((c->w[j].f & W_NUM) || is_number_word(c->w[j].w)) {
            bool r = false, p = false;
            if (j == *lastnum + 1 && is_number_word(c->w[j].w) && is_number_word(c->w[*lastnum].w))
                ; /* "two hundred", "forty million" */
            else if (*range || *plus)
                break;
            else if (j == *lastnum + 1 && connector(c, c->w[j - 1].e, c->w[j].s, &r, &p))
                *range = r, *plus = p;
            else if (j >= *lastnum + 2 && connector(c, c->w[j - 1].s, c->w[j - 1].e, &r, &p))
                *range = r || (p && between), *plus = p && !between;
            else
                break;
            *lastnum = j;
        } else if (c->w[j - 1].e < c->w[j].s && c->t[c->w[j - 1].e] == ',')
            break; /* "42 km, the ..." */
        last = j;
        j++;
    }
    /* a connector left dangling at the end ("... 10 and") is no part of it */
    while (last > *lastnum && (!strcmp(c->w[last].w, "and") || !strcmp(c->w[last].w, "to") ||
                               !strcmp(c->w[last].w, "or")))
        last--;
    return last;
}

/* The end of a word that ends at e with a unit sign right after it (°C, %, ²), at most limit,
 * never inside a character. */
static size_t sign_end(const ctx *c, size_t e, size_t limit)
{
    size_t we = e;
    while (we < limit && we - e < 4 && !is_space((unsigned char)c->t[we]) &&
           !strchr(".,;:)(|", c->t[we]))
        we++;
    while (we < limit && ((unsigned char)c->t[we] & 0xC0) == 0x80)
        we++;
    return we;
}

/* "36.5 to 37.5 degrees Celsius": the range's first end in the second's unit, read from its
 * own digits (c->t[ws..] up to the number c->w[i]) followed by the unit's words (after the last
 * number c->w[lastnum], up to we). Returns true on an error. */
static bool first_end_in_unit(ctx *c, size_t i, size_t lastnum, size_t ws, size_t we,
                              const cns_qty *q1, cns_qty *q0)
{
    char win[WINDOW_MAX];
    size_t nl = c->w[i].e - ws, ul = we - c->w[lastnum].e;
    cns_features f1;
    if (nl + ul + 2 >= sizeof win)
        return false;
    memcpy(win, c->t + ws, nl);
    win[nl] = ' ';
    memcpy(win + nl + 1, c->t + c->w[lastnum].e, ul);
    win[nl + 1 + ul] = 0;
    if (cns_text_features(win, c->a, &f1))
        return true;
    if (f1.n_qty >= 1 && f1.qty[0].dim == q1->dim)
        *q0 = f1.qty[0];
    return false;
}

/* The shortest window from ws, ending at one of the words lastnum..last (with its unit sign),
 * that reads the same quantities as f; *we is moved back to its end. Returns true on an
 * error. */
static bool shortest_window(ctx *c, size_t ws, size_t lastnum, size_t last, const cns_features *f,
                            size_t *we)
{
    for (size_t k = lastnum; k < last; k++) {
        size_t ke = sign_end(c, c->w[k].e, *we);
        cns_features f2;
        if (window_qty(c, ws, ke, &f2))
            return true;
        if (f2.n_qty >= 1 && f2.qty[0].dim == f->qty[0].dim && f2.qty[0].value == f->qty[0].value &&
            f2.n_qty == f->n_qty) {
            *we = ke;
            break;
        }
    }
    return false;
}

static bool find_number_pass(ctx *c, cns_direct *d, bool bare)
{
    size_t from = result_start(c);
    for (size_t i = 0; i < c->n; i++) {
        const word *w = &c->w[i];
        if (w->s < from || !((w->f & W_NUM) || is_number_word(w->w)))
            continue;
        if ((w->f & W_NUM) && !(w->f & W_ALPHA) && w->s > c->sg.s &&
            cp_is_wordchar((unsigned char)c->t[w->s - 1]))
            continue; /* the 2 of "H2O" */
        if (question_states(c, w))
            continue;
        size_t ws = hedge_start(c, i), lastnum;
        bool range, plus;
        size_t last = amount_extent(c, i, &lastnum, &range, &plus);
        size_t we = sign_end(c, c->w[last].e, c->sg.e);
        cns_features f;
        if (window_qty(c, ws, we, &f))
            return false;
        if (f.n_qty == 0)
            continue;
        cns_qty q0 = f.qty[0];
        double hi = q0.hi > q0.value ? q0.hi : q0.value; /* "7-9 hours" read as one range */
        q0.hi = q0.value;
        if (f.n_qty >= 2 && range) {
            cns_qty q1 = f.qty[1];
            if (q0.dim == CNS_DIM_NONE && q1.dim != CNS_DIM_NONE &&
                first_end_in_unit(c, i, lastnum, ws, we, &q1, &q0))
                return false;
            if (q1.dim == q0.dim) {
                hi = q1.value;
                if (hi < q0.value) {
                    double tmp = hi;
                    hi = q0.value, q0.value = tmp;
                }
            }
        } else if (f.n_qty >= 2 && plus && q0.dim == CNS_DIM_TIME && f.qty[1].dim == CNS_DIM_TIME &&
                   f.qty[1].value < q0.value) {
            q0.value += f.qty[1].value;
            q0.half = f.qty[1].half;
            hi = q0.value;
        }
        /* the span ends where the unit does: the shortest window that reads the same */
        if (shortest_window(c, ws, lastnum, last, &f, &we))
            return false;
        if (c->q->kind == CNS_Q_AMOUNT && !hint_ok(c->q->hint, q0.dim) && !c->q->math &&
            !(bare && q0.dim == CNS_DIM_NONE))
            continue;
        if (c->q->kind == CNS_Q_COUNT && q0.dim == CNS_DIM_YEAR)
            continue;
        d->type = CNS_DV_NUMBER;
        d->qty = q0;
        d->hi = hi;
        set_span(c, d, ws, we);
        return true;
    }
    return false;
}

static int month_of(const char *w)
{
    static const char *const m[][12] = {
        {"january", "february", "march", "april", "may", "june", "july", "august", "september",
         "october", "november", "december"},
        {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"},
        {"janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
         "octobre", "novembre", "decembre"},
        {"januar", "februar", "marz", "april", "mai", "juni", "juli", "august", "september",
         "oktober", "november", "dezember"},
        {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
         "octubre", "noviembre", "diciembre"},
    };
    for (size_t r = 0; r < sizeof m / sizeof m[0]; r++)
        for (int k = 0; k < 12; k++)
            if (!strcmp(w, m[r][k]))
                return k + 1;
    if (!strcmp(w, "sept"))
        return 9;
    return 0;
}

/* A whole number in w ("4", "4th", "1776"); -1 if w is not one. */
static long whole(const word *w)
{
    if (!(w->f & W_NUM))
        return -1;
    long v = 0;
    const char *p = w->w;
    if (!is_digit((unsigned char)*p))
        return -1;
    for (; is_digit((unsigned char)*p); p++)
        if ((v = v * 10 + (*p - '0')) > 100000)
            return -1;
    if (*p && strcmp(p, "st") && strcmp(p, "nd") && strcmp(p, "rd") && strcmp(p, "th"))
        return -1;
    return v;
}

static bool is_era(const char *w, int *sign)
{
    *sign = (!strcmp(w, "bc") || !strcmp(w, "bce")) ? -1 : 1;
    return !strcmp(w, "bc") || !strcmp(w, "bce") || !strcmp(w, "ad") || !strcmp(w, "ce");
}

/* A year at word k: 1000-2999, or any whole number with an era after it ("44 BC", "476 AD")
 * or "in"/"year" before it. Sets *end to the last byte read; 0 when none. */
static int year_at(const ctx *c, size_t k, size_t *end)
{
    if (k >= c->n)
        return 0;
    long v = whole(&c->w[k]);
    if (v < 1 || v > 2999 || strchr(c->w[k].w, ',') || strchr(c->w[k].w, '.') ||
        !is_digit((unsigned char)c->w[k].w[strlen(c->w[k].w) - 1]))
        return 0;
    int sign = 1;
    if (k + 1 < c->n && is_era(c->w[k + 1].w, &sign)) {
        *end = c->w[k + 1].e;
        return sign * (int)v;
    }
    if (k > 0 && (!strcmp(c->w[k - 1].w, "ad") || !strcmp(c->w[k - 1].w, "anno"))) {
        *end = c->w[k].e;
        return (int)v;
    }
    const char *pv = k > 0 ? c->w[k - 1].w : "";
    if (v >= 1000 || (v >= 100 && (!strcmp(pv, "in") || !strcmp(pv, "year")))) {
        *end = c->w[k].e;
        return (int)v;
    }
    return 0;
}

static bool find_date(ctx *c, cns_direct *d)
{
    for (size_t i = 0; i < c->n; i++) {
        const word *w = &c->w[i];
        int y = 0, mo = 0, dd = 0;
        size_t s = w->s, e = w->e;
        if (strlen(w->w) == 10 && w->w[4] == '-' && w->w[7] == '-' &&
            is_digit((unsigned char)w->w[0])) {
            /* 1776-07-04 */
            y = atoi(w->w), mo = atoi(w->w + 5), dd = atoi(w->w + 8);
            if (mo < 1 || mo > 12 || dd < 1 || dd > 31)
                continue;
        } else if ((mo = month_of(w->w)) > 0) {
            /* July 4, 1776 / July 4th 1776 / July 1776 ("may" only as May) */
            if (!strcmp(w->w, "may") && !(w->f & W_CAP))
                continue;
            long v = i + 1 < c->n ? whole(&c->w[i + 1]) : -1;
            if (v >= 1 && v <= 31 && (y = year_at(c, i + 2, &e)) != 0)
                dd = (int)v;
            else if ((y = year_at(c, i + 1, &e)) == 0)
                continue;
        } else {
            long v = whole(w);
            if (v < 0)
                continue;
            /* 4 July 1776 / 4th of July 1776; a day without a year is no answer to "when" */
            size_t k = i + 1;
            if (k < c->n && !strcmp(c->w[k].w, "of"))
                k++;
            if (v >= 1 && v <= 31 && k < c->n && (mo = month_of(c->w[k].w)) > 0) {
                if ((y = year_at(c, k + 1, &e)) == 0)
                    continue;
                dd = (int)v;
            } else if ((y = year_at(c, i, &e)) == 0)
                continue;
        }
        if (y == 0)
            continue;
        d->type = CNS_DV_DATE;
        d->year = y, d->month = mo, d->day = dd;
        set_span(c, d, s, e);
        return true;
    }
    return false;
}

/* Entity: a bold phrase; else the best run of words that are neither the question's nor
 * function words, names first, after "is"/"by"/"in" next, numbers last. */
static const char *const COPULA[] = {"is",     "was",   "are", "were", "by",  "be",   "est",
                                     "ist",    "es",    "e",   "fue",  "war", "sont", "als",
                                     "called", "named", "for", "from", "as",  NULL};

/* Verbs of being that follow a subject: "Bern is ...", "Chickpeas are ...". */
static const char *const BEING[] = {"is",  "was", "are",  "were", "est", "ist",
                                    "fue", "war", "sont", "es",   NULL};

/* Whether the sentence's first word is the subject of "X is ...": a name for scoring. */
static bool initial_subject(const ctx *c, size_t i)
{
    return i == 0 && (c->w[0].f & W_CAP) && !(c->w[0].f & W_STOP) && c->n > 1 &&
           in_list(c->w[1].w, BEING);
}

static bool is_adverb(const char *w)
{
    size_t l = strlen(w);
    return l > 4 && !strcmp(w + l - 2, "ly") && strcmp(w, "italy") && strcmp(w, "july") &&
           strcmp(w, "lily") && strcmp(w, "sicily") && strcmp(w, "family") &&
           strcmp(w, "assembly") && strcmp(w, "supply") && strcmp(w, "emily");
}

static bool entity_word(const ctx *c, size_t i)
{
    const word *w = &c->w[i];
    return !(w->f & (W_STOP | W_Q)) && !is_adverb(w->w) && (w->f & W_ALPHA);
}

static bool is_name_word(const ctx *c, size_t i)
{
    const word *w = &c->w[i];
    if (w->f & W_ACRO)
        return true;
    if (!(w->f & W_CAP))
        return false;
    if (!(w->f & W_INITIAL))
        return true;
    /* a sentence's first word is a name only when the name goes on: "Leonardo da Vinci" */
    return i + 1 < c->n && ((c->w[i + 1].f & W_CAP) || (c->w[i + 1].f & W_PART)) &&
           !(c->w[i + 1].f & W_STOP && !(c->w[i + 1].f & W_PART));
}

/* Where the segment's first clause ends: at its first character out of delims, else at the
 * segment's end. */
static size_t clause_end(const ctx *c, const char *delims)
{
    for (size_t i = c->sg.s; i < c->sg.e; i++)
        if (strchr(delims, c->t[i]) && c->t[i])
            return i;
    return c->sg.e;
}

static bool find_choice(ctx *c, cns_direct *d)
{
    int hit = -1;
    size_t hs = 0, he = 0;
    /* the first clause decides when it names one alternative */
    for (int pass = 0; pass < 2; pass++) {
        size_t end = pass == 0 ? clause_end(c, ",;") : c->sg.e;
        int found = -1, count = 0;
        for (int k = 0; k < 2; k++) {
            const char *aw = c->q->w[c->q->alt[k]].w;
            for (size_t j = 0; j < c->n && c->w[j].e <= end; j++)
                if (word_like(aw, c->w[j].w)) {
                    if (found != k)
                        count++;
                    found = k;
                    hs = c->w[j].s, he = c->w[j].e;
                    break;
                }
        }
        if (count == 1) {
            hit = found;
            break;
        }
        if (count == 2)
            return false;
    }
    if (hit < 0)
        return false;
    c->choice = hit;
    d->type = CNS_DV_ENTITY;
    set_span(c, d, hs, he);
    return true;
}

/* A **bold** or __bold__ answer of at most 8 words with a word of its own (not the question's). */
static bool find_bold(ctx *c, cns_direct *d, size_t *ns, size_t *ne)
{
    for (size_t i = c->sg.s; i + 1 < c->sg.e; i++)
        if ((c->t[i] == '*' && c->t[i + 1] == '*') || (c->t[i] == '_' && c->t[i + 1] == '_')) {
            size_t b = i + 2;
            size_t k = b;
            while (k + 1 < c->sg.e && !(c->t[k] == c->t[i] && c->t[k + 1] == c->t[i]))
                k++;
            if (k + 1 >= c->sg.e || k == b || k - b > 120)
                break;
            bool own = false;
            size_t words = 0;
            for (size_t j = 0; j < c->n; j++)
                if (c->w[j].s >= b && c->w[j].e <= k) {
                    words++;
                    own |= entity_word(c, j);
                }
            if (own && words <= 8) {
                *ns = b, *ne = k;
                d->type = CNS_DV_ENTITY;
                set_span(c, d, b, k);
                return true;
            }
            i = k + 1;
        }
    return false;
}

/* Where the run of entity words that starts at c->w[i] ends (one past its last word), not past
 * end: entity words, with name particles and the question's capitalised words inside a name
 * ("Pacific Ocean", "Guido van Rossum"), at most 6 words, no particle or function word last. */
static size_t run_end(const ctx *c, size_t i, size_t end)
{
    size_t j = i + 1;
    bool name = is_name_word(c, i);
    while (j < c->n && c->w[j].e <= end) {
        bool gap_ok = true;
        for (size_t k = c->w[j - 1].e; k < c->w[j].s; k++)
            if (!is_space((unsigned char)c->t[k]) && c->t[k] != '*' && c->t[k] != '_')
                gap_ok = false;
        if (!gap_ok)
            break;
        if (entity_word(c, j) && !name && is_name_word(c, j))
            break; /* "speak Portuguese": the name is a run of its own */
        if (entity_word(c, j) && !(name && !(c->w[j].f & W_CAP) && !(c->w[j].f & W_NUM)))
            j++;
        else if (name && (c->w[j].f & W_CAP))
            j++; /* "Pacific Ocean": the question's word inside a name */
        else if (name && (c->w[j].f & W_PART) && j + 1 < c->n && (c->w[j + 1].f & W_CAP))
            j++;
        else
            break;
        if (j - i >= 6)
            break;
    }
    while (j > i + 1 && (c->w[j - 1].f & (W_PART | W_STOP | W_Q)) && !(c->w[j - 1].f & W_CAP))
        j--;
    return j;
}

/* Whether c->w[i] follows the agent marker of a passive ("painted by", "peinte par", "von ...
 * gemalt", "escrito por", "dipinta da"), not a particle inside a name ("Leonardo da Vinci"). */
static bool after_agent(const ctx *c, size_t i)
{
    static const char *const AGENT[] = {"by", "par", "von", "por", "pelo", "pela", "da", NULL};
    return i > 0 && !(c->w[i - 1].f & W_CAP) && in_list(c->w[i - 1].w, AGENT) &&
           (i < 2 || !(c->w[i - 2].f & W_CAP));
}

/* How much the run c->w[i..j) looks like the answer: a name, after "is" (a copula), after "in"
 * for a where-question; less for a bare number, or for a word that describes the question's own
 * noun ("the official language of ..."). */
static int run_score(const ctx *c, size_t i, size_t j, bool num)
{
    int score = 0;
    for (size_t k = i; k < j; k++)
        if (is_name_word(c, k) || initial_subject(c, k))
            score = 3;
    if ((i > 0 && in_list(c->w[i - 1].w, COPULA)) || initial_subject(c, i))
        score += 2; /* "... is X", or X the subject of "X is ..." */
    else if (i > 1 && in_list(c->w[i - 2].w, COPULA) && (c->w[i - 1].f & W_STOP))
        score += 2;
    if (c->q->kind == CNS_Q_WHERE && i > 0 &&
        in_list(c->w[i - 1].w, (const char *const[]){"in", "at", "on", "near", NULL}))
        score += 2;
    /* the agent of a passive names who did it: "was painted by", "peinte par", "von ... gemalt",
     * "escrito por" */
    if (c->q->kind == CNS_Q_WHO && after_agent(c, i))
        score += 2;
    if (num)
        score -= 4;
    if (j < c->n && (c->w[j].f & W_Q) && !(c->w[j].f & W_CAP) && c->w[j - 1].e + 1 == c->w[j].s &&
        i > 0 &&
        in_list(c->w[i - 1].w,
                (const char *const[]){"the", "a", "an", "its", "their", "his", "her", "our", NULL}))
        score -= 3;
    return score;
}

static bool find_entity(ctx *c, cns_direct *d, size_t *ns, size_t *ne)
{
    if (find_bold(c, d, ns, ne))
        return true;
    /* runs in the first clause, then in the whole sentence */
    for (int pass = 0; pass < 2; pass++) {
        size_t end = c->sg.e;
        if (pass == 0) {
            end = clause_end(c, ",;(:");
            if (end == c->sg.e)
                pass = 1;
        }
        int best = -1000;
        size_t bs = 0, be = 0;
        for (size_t i = 0; i < c->n && c->w[i].e <= end; i++) {
            if (!entity_word(c, i) && !(is_name_word(c, i) && !(c->w[i].f & W_STOP)))
                continue;
            size_t j = run_end(c, i, end);
            bool own = false, num = true;
            for (size_t k = i; k < j; k++) {
                own |= entity_word(c, k);
                num &= (c->w[k].f & W_NUM) != 0;
            }
            if (!own) {
                i = j - 1;
                continue;
            }
            int score = run_score(c, i, j, num);
            if (score > best) {
                best = score;
                bs = i, be = j;
            }
            i = j - 1;
        }
        if (best > -1000) {
            *ns = c->w[bs].s, *ne = c->w[be - 1].e;
            d->type = CNS_DV_ENTITY;
            set_span(c, d, *ns, *ne);
            return true;
        }
    }
    return false;
}

/* A table row "| Creator | Guido van Rossum |": the cell after one that names a word of the
 * question. */
static bool find_in_row(ctx *c, cns_direct *d)
{
    size_t cs[16], ce[16], nc = 0;
    size_t i = c->sg.s;
    while (i < c->sg.e && nc < 16) {
        while (i < c->sg.e && c->t[i] == '|')
            i++;
        size_t s = i;
        while (i < c->sg.e && c->t[i] != '|')
            i++;
        size_t a = trim_left(c->t, s, i), b = trim_right(c->t, a, i);
        if (b > a)
            cs[nc] = a, ce[nc] = b, nc++;
    }
    for (size_t k = 0; k + 1 < nc; k++) {
        bool named = false;
        for (size_t j = 0; j < c->n; j++)
            if (c->w[j].s >= cs[k] && c->w[j].e <= ce[k] && (c->w[j].f & W_Q))
                named = true;
        if (!named)
            continue;
        d->type = CNS_DV_ENTITY;
        seg keep = c->sg;
        c->sg = (seg){cs[k + 1], ce[k + 1], SEG_ROW};
        set_span(c, d, cs[k + 1], ce[k + 1]);
        c->sg = keep;
        d->sent_start = keep.s, d->sent_len = keep.e - keep.s;
        return true;
    }
    return false;
}

/* ---- normalised entity keys ---------------------------------------------------------- */

/* Common aliases only (docs/consensus.md, "Direct answers"): each row's names read as the
 * first. Folded, without articles or punctuation. */
static const char *const ALIASES[][6] = {
    {"united states", "usa", "us", "u s", "united states of america", "america"},
    {"united kingdom", "uk", "u k", "britain", "great britain", NULL},
    {"soviet union", "ussr", NULL},
    {"united arab emirates", "uae", NULL},
    {"european union", "eu", NULL},
    {"united nations", "un", NULL},
    {"carbon dioxide", "co2", NULL},
    {"water", "h2o", NULL},
    {"deoxyribonucleic acid", "dna", NULL},
    {"artificial intelligence", "ai", NULL},
    {"new york city", "nyc", NULL},
    {"world war ii", "world war 2", "second world war", "ww2", "wwii", NULL},
    {"world war i", "world war 1", "first world war", "ww1", "wwi", NULL},
};

static const char *const ARTICLES[] = {"the", "a",   "an",  "le",  "la", "les", "l", "el", "los",
                                       "las", "der", "die", "das", "il", "lo",  "o", "os", NULL};

/* The key of an entity span: folded words without articles, joined by one space; aliases
 * mapped to their first form. */
static char *entity_key(arena *a, const char *t, size_t s, size_t e)
{
    word ws[24];
    size_t n = words_read(t, s, e, ws, 24);
    char buf[512];
    size_t bl = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_list(ws[i].w, ARTICLES) && i + 1 < n)
            continue;
        size_t l = strlen(ws[i].w);
        if (bl + l + 2 >= sizeof buf)
            break;
        if (bl)
            buf[bl++] = ' ';
        for (size_t k = 0; k < l; k++)
            buf[bl++] = ws[i].w[k] == '-' ? ' ' : ws[i].w[k];
    }
    buf[bl] = 0;
    for (size_t r = 0; r < sizeof ALIASES / sizeof ALIASES[0]; r++)
        for (size_t k = 1; k < 6 && ALIASES[r][k]; k++)
            if (!strcmp(buf, ALIASES[r][k])) {
                snprintf(buf, sizeof buf, "%s", ALIASES[r][0]);
                break;
            }
    char *p = arena_alloc(a, bl + 1 > strlen(buf) + 1 ? bl + 1 : strlen(buf) + 1);
    if (p)
        strcpy(p, buf);
    return p;
}

static char *value_string(arena *a, const cns_direct *d)
{
    char buf[96];
    switch (d->type) {
    case CNS_DV_YESNO:
        snprintf(buf, sizeof buf, "%s", d->yes > 0 ? "yes" : "no");
        break;
    case CNS_DV_NUMBER: {
        const char *u = base_unit(d->qty.dim);
        if (d->hi > d->qty.value)
            snprintf(buf, sizeof buf, "%.10g-%.10g%s%s", d->qty.value, d->hi, *u ? " " : "", u);
        else
            snprintf(buf, sizeof buf, "%.10g%s%s", d->qty.value, *u ? " " : "", u);
        break;
    }
    case CNS_DV_DATE:
        if (d->day)
            snprintf(buf, sizeof buf, d->year < 0 ? "%d-%02d-%02d" : "%04d-%02d-%02d", d->year,
                     d->month, d->day);
        else if (d->month)
            snprintf(buf, sizeof buf, d->year < 0 ? "%d-%02d" : "%04d-%02d", d->year, d->month);
        else
            snprintf(buf, sizeof buf, "%d", d->year);
        break;
    default:
        return NULL;
    }
    char *p = arena_alloc(a, strlen(buf) + 1);
    if (p)
        strcpy(p, buf);
    return p;
}

/* ---- extraction ------------------------------------------------------------------------ */

static bool extract_in(ctx *c, cns_direct *d, bool lead)
{
    cns_qkind k = c->q->kind;
    if (c->sg.kind == SEG_ROW) {
        if (k == CNS_Q_COUNT || k == CNS_Q_AMOUNT)
            return find_number(c, d);
        if (k == CNS_Q_WHEN)
            return find_date(c, d);
        if (k == CNS_Q_YESNO)
            return false;
        return find_in_row(c, d);
    }
    switch (k) {
    case CNS_Q_YESNO:
        return find_yesno(c, d, lead);
    case CNS_Q_COUNT:
    case CNS_Q_AMOUNT:
        return find_number(c, d);
    case CNS_Q_WHEN:
        return find_date(c, d);
    case CNS_Q_WHICH:
        if (c->q->alt[0] >= 0)
            return find_choice(c, d);
        /* fall through */
    case CNS_Q_WHO:
    case CNS_Q_WHAT:
    case CNS_Q_WHERE: {
        /* an answer to the question says one of its words, or is short ("Nairobi.",
         * "Carbon dioxide, which ..."), or puts it in bold; anything else is off the topic */
        bool related = false;
        size_t clause = 0;
        for (size_t j = 0; j < c->n; j++) {
            related |= (c->w[j].f & W_Q) != 0;
            bool cut = j + 1 == c->n;
            for (size_t k = c->w[j].e; !cut && k < c->w[j + 1].s; k++)
                cut = strchr(",;:(", c->t[k]) != NULL;
            if (clause == 0 && cut)
                clause = j + 1;
        }
        for (size_t i = c->sg.s; i + 1 < c->sg.e && !related; i++)
            related = c->t[i] == '*' && c->t[i + 1] == '*';
        for (size_t j = 1; j < c->n && !related; j++) /* "... ist Paris", "... peinte par X" */
            related = is_name_word(c, j) &&
                      (in_list(c->w[j - 1].w, COPULA) || (k == CNS_Q_WHO && after_agent(c, j)));
        if (!related && clause > 4)
            return false;
        /* "port 443", "index 0": a number right after a word of the question */
        for (size_t j = 1; j < c->n; j++)
            if ((c->w[j].f & W_NUM) && (c->w[j - 1].f & W_Q) && !(c->w[j - 1].f & W_CAP) &&
                !question_states(c, &c->w[j]) && c->w[j - 1].e + 1 == c->w[j].s &&
                find_number(c, d))
                return true;
        size_t s, e;
        if (!find_entity(c, d, &s, &e))
            return k != CNS_Q_WHO && k != CNS_Q_WHERE && find_number(c, d);
        /* "Port 443.", "index 0": the answer is a number */
        bool all_num = true, any = false;
        for (size_t j = 0; j < c->n; j++)
            if (c->w[j].s >= s && c->w[j].e <= e && entity_word(c, j)) {
                any = true;
                all_num &= (c->w[j].f & W_NUM) != 0;
            }
        if (any && all_num) {
            cns_direct n = {0};
            if (find_number(c, &n)) {
                *d = n;
                return true;
            }
        }
        return true;
    }
    case CNS_Q_OPEN:
        break;
    }
    return false;
}

/* A refusal or "I don't know" in segment sg ends the search, unless ", but" brings content: then
 * c reads what follows it. Returns false when the search ends. */
static bool past_nonanswer(ctx *c, const char *text, seg sg)
{
    if (!is_nonanswer(text, sg.s, sg.e))
        return true;
    size_t b = sg.s;
    bool but = false;
    for (; b + 5 <= sg.e; b++)
        if (!strncmp(text + b, ", but", 5)) {
            but = true;
            break;
        }
    if (!but)
        return false;
    c->sg.s = trim_left(text, b + 5, sg.e);
    c->n = words_read(text, c->sg.s, c->sg.e, c->w, DX_CNS_MAX_DIRECT_TOKENS);
    return c->n != 0 && !is_nonanswer(text, c->sg.s, c->sg.e);
}

/* The found answer's span, sentence and value copied into the arena; an entity that folds to
 * nothing is no answer. */
static dx_status direct_finish(const ctx *c, const qinfo *q, const char *text, arena *a,
                               cns_direct *out)
{
    /* a closer without its opener in the span is the markup around it ("\\boxed{491}" reads
     * "491}") */
    static const char pairs[][2] = {{'(', ')'}, {'[', ']'}, {'{', '}'}};
    for (bool cut = true; cut && out->len > 1;) {
        cut = false;
        char last = text[out->start + out->len - 1];
        for (size_t k = 0; k < 3 && !cut; k++)
            if (last == pairs[k][1] && !memchr(text + out->start, pairs[k][0], out->len - 1)) {
                out->len--;
                cut = true;
            }
    }
    out->span = copy_range(a, text, out->start, out->start + out->len);
    out->sentence = copy_range(a, text, out->sent_start, out->sent_start + out->sent_len);
    if (out->type == CNS_DV_ENTITY && c->choice >= 0) {
        /* the alternative as the question words it ("mammals" names "a mammal") */
        const word *w = &q->w[q->alt[c->choice]];
        out->value = entity_key(a, q->src, w->s, w->e);
    } else
        out->value = out->type == CNS_DV_ENTITY
                         ? entity_key(a, text, out->start, out->start + out->len)
                         : value_string(a, out);
    if (!out->span || !out->sentence || !out->value) {
        memset(out, 0, sizeof *out);
        return dx_fail(DX_ENOMEM, "direct answer: arena full");
    }
    if (out->type == CNS_DV_ENTITY && !*out->value)
        memset(out, 0, sizeof *out);
    return DX_OK;
}

/* Reads segment sg into c (its words, the question's words marked); false when the segment is
 * no place for an answer: empty, garbage, a restated question (*stop: a refusal ended the
 * search; *asked: it was a question). */
static bool segment_prepare(ctx *c, const char *text, seg sg, bool *stop, bool *asked)
{
    *stop = *asked = false;
    c->sg = sg;
    c->n = words_read(text, sg.s, sg.e, c->w, DX_CNS_MAX_DIRECT_TOKENS);
    if (c->n == 0)
        return false;
    if (!past_nonanswer(c, text, sg)) {
        *stop = true;
        return false;
    }
    if (is_garbage(text, c->sg.s, c->sg.e, c->w, c->n))
        return false;
    if (c->sg.e > c->sg.s && text[c->sg.e - 1] == '?') {
        *asked = true;
        return false;
    }
    for (size_t j = 0; j < c->n; j++)
        if (!(c->w[j].f & W_STOP) && says_question_word(c->q, c->w[j].w))
            c->w[j].f |= W_Q;
    return true;
}

/* How many of the question's content words the segment in c says. */
static size_t coverage(const ctx *c)
{
    size_t have = 0;
    for (size_t k = 0; k < c->q->n; k++) {
        if (!(c->q->w[k].f & W_Q))
            continue;
        bool dup = false;
        for (size_t m = 0; m < k && !dup; m++)
            dup = (c->q->w[m].f & W_Q) && word_eq(c->q->w[m].w, c->q->w[k].w);
        for (size_t j = 0; j < c->n && !dup; j++)
            if (word_like(c->q->w[k].w, c->w[j].w)) {
                have++;
                break;
            }
    }
    return have;
}

/* A thing read from a long sentence that may only open the answer ("Atomic numbers are a very
 * important concept in chemistry ...", "Switzerland is a beautiful country in Europe ..."), from a
 * sentence of CNS_DIRECT_LEAD_MIN_WORDS words or more, not bold, no number in it: a plain
 * lower-case noun phrase, or a name outside an "X is ..." / "... is X" frame. */
static bool weak_lead(const ctx *c, const cns_direct *d)
{
    if (d->type != CNS_DV_ENTITY || c->n < CNS_DIRECT_LEAD_MIN_WORDS)
        return false;
    if (d->start >= 2 && c->t[d->start - 1] == c->t[d->start - 2] &&
        (c->t[d->start - 1] == '*' || c->t[d->start - 1] == '_'))
        return false;
    size_t first = c->n, last = 0;
    bool name = false;
    for (size_t j = 0; j < c->n; j++)
        if (c->w[j].s >= d->start && c->w[j].e <= d->start + d->len) {
            if (c->w[j].f & W_NUM)
                return false;
            name |= (c->w[j].f & (W_CAP | W_ACRO)) != 0;
            first = j < first ? j : first;
            last = j;
        }
    if (!name || first == c->n)
        return true;
    /* a name is the answer where the sentence says it is something ("Canberra is the capital",
     * "the capital is Canberra"), not where it only sets the scene ("Switzerland is a beautiful
     * country in Europe ...") */
    bool after = (first > 0 && in_list(c->w[first - 1].w, COPULA)) ||
                 (first > 1 && in_list(c->w[first - 2].w, COPULA) && (c->w[first - 1].f & W_STOP));
    bool before = last + 1 < c->n && in_list(c->w[last + 1].w, BEING);
    return !after && !before;
}

/* The last segment of a worked answer that marks its result ("the answer is", "final answer",
 * "\\boxed{", "####"), or n when none does. */
static size_t result_marker(const char *text, const seg *sg, size_t n)
{
    static const char *const marks[] = {"the answer is", "final answer", "\\boxed{", "####",
                                        "the result is"};
    size_t found = n;
    for (size_t i = 0; i < n; i++)
        for (size_t m = 0; m < sizeof marks / sizeof marks[0] && found != i; m++) {
            size_t ml = strlen(marks[m]);
            for (size_t p = sg[i].s; p + ml <= sg[i].e && found != i; p++)
                if (!strncasecmp(text + p, marks[m], ml))
                    found = i;
        }
    return found;
}

/* For a number question answered by a worked calculation: the value of the segment that marks
 * the result, or of the one right after it ("So, the answer is:" then "\\boxed{491}"), before
 * any number of the working ("(10 + 7) × (20 + 3)"). */
static bool extract_marked(ctx *c, const char *text, const seg *sg, size_t n, cns_direct *out)
{
    size_t m = result_marker(text, sg, n);
    bool stop, asked;
    for (size_t j = m; j < n && j <= m + 1; j++) {
        if (!segment_prepare(c, text, sg[j], &stop, &asked))
            continue;
        cns_direct d = {0};
        c->choice = -1;
        if (extract_in(c, &d, true)) {
            *out = d;
            return true;
        }
    }
    return false;
}

dx_status cns_direct_extract(const char *question, cns_qkind k, const char *text, arena *a,
                             cns_direct *out)
{
    memset(out, 0, sizeof *out);
    if (!text || k == CNS_Q_OPEN)
        return DX_OK;
    dx_status st = DX_OK;
    ctx *c = calloc(1, sizeof *c);
    qinfo *q = malloc(sizeof *q);
    seg *sg = malloc(DX_CNS_MAX_DIRECT_SEGMENTS * sizeof *sg);
    if (!c || !q || !sg) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    question_read(question, q);
    q->kind = k; /* the caller's kind wins (it may know better) */
    size_t len = strnlen(text, DX_CNS_MAX_DIRECT_SCAN);
    size_t n = segments_read(text, len, sg, DX_CNS_MAX_DIRECT_SEGMENTS);
    c->q = q, c->t = text, c->a = a;
    bool lead = true, stop, asked;
    /* a worked calculation's marked result comes before the numbers of its working */
    const bool marked =
        (k == CNS_Q_COUNT || k == CNS_Q_AMOUNT) && extract_marked(c, text, sg, n, out);
    for (size_t i = 0; !marked && i < n; i++) {
        if (!segment_prepare(c, text, sg[i], &stop, &asked)) {
            if (stop)
                break;
            lead = lead && !asked; /* a restated question is no answer */
            continue;
        }
        cns_direct d = {0};
        c->choice = -1;
        if (!extract_in(c, &d, lead)) {
            lead = false;
            continue;
        }
        *out = d;
        /* a thing read from a rambling opening: a sentence soon after that says more of the
         * question ("The element with atomic number 1 is hydrogen") holds the answer */
        if (k != CNS_Q_WHO && k != CNS_Q_WHAT && k != CNS_Q_WHICH && k != CNS_Q_WHERE)
            break;
        if (!weak_lead(c, &d))
            break;
        size_t cov = coverage(c);
        int choice = c->choice;
        bool found = false;
        for (size_t j = i + 1; j < n && j <= i + CNS_DIRECT_LOOKAHEAD && !found; j++) {
            if (!segment_prepare(c, text, sg[j], &stop, &asked)) {
                if (stop)
                    break;
                continue;
            }
            cns_direct e = {0};
            c->choice = -1;
            if (coverage(c) > cov && extract_in(c, &e, false)) {
                *out = e;
                found = true;
            }
        }
        if (!found)
            c->choice = choice;
        break;
    }
    if (out->type != CNS_DV_NONE)
        st = direct_finish(c, q, text, a, out);
out:
    free(sg);
    free(q);
    free(c);
    return st;
}

/* ---- comparing ------------------------------------------------------------------------- */

/* Splits a key into words (in place in buf); returns the count. */
static size_t key_words(const char *key, char *buf, size_t cap, const char **w, size_t wcap)
{
    snprintf(buf, cap, "%s", key);
    size_t n = 0;
    for (char *p = strtok(buf, " "); p && n < wcap; p = strtok(NULL, " "))
        w[n++] = p;
    return n;
}

static bool qword(const qinfo *q, const char *w)
{
    return says_question_word(q, w);
}

/* Every word of a (but question words and name particles, when something else is left) is in
 * b: "Léonard de Vinci" is within "Leonardo da Vinci". */
static bool words_within(const qinfo *q, const char **a, size_t na, const char **b, size_t nb)
{
    size_t own = 0;
    for (size_t i = 0; i < na; i++)
        own += !qword(q, a[i]) && !in_list(a[i], PARTICLES);
    if (own == 0)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (qword(q, a[i]) || in_list(a[i], PARTICLES))
            continue;
        bool in = false;
        for (size_t j = 0; j < nb && !in; j++)
            in = word_eq(a[i], b[j]);
        if (!in)
            return false;
    }
    return true;
}

/* Whether a folded key holds letters of a script other than Latin (富士山, Юпитер); Latin
 * letters that keep no ASCII form when folded ("ł", "ø", "þ") are Latin. */
static bool other_script(const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        i += next_cp(key + i, n - i, &cp);
        bool latin = cp < 0x250 || (cp >= 0x1E00 && cp <= 0x1EFF) ||
                     (cp >= 0x2C60 && cp <= 0x2C7F) || (cp >= 0xA720 && cp <= 0xA7FF);
        if (!latin && cp_is_wordchar(cp))
            return true;
    }
    return false;
}

static cns_direct_cmp compare_entity(const qinfo *q, const char *x, const char *y)
{
    if (!strcmp(x, y))
        return CNS_DIRECT_SAME;
    /* a name in another script may be the same name translated: no rule can tell; within one
     * such script, words are not spaced, so one key inside the other is the same answer */
    bool ox_script = other_script(x), oy_script = other_script(y);
    if (ox_script != oy_script)
        return CNS_DIRECT_UNKNOWN;
    if (ox_script && (strstr(x, y) || strstr(y, x)))
        return CNS_DIRECT_SAME;
    char bx[512], by[512];
    const char *wx[32], *wy[32];
    size_t nx = key_words(x, bx, sizeof bx, wx, 32), ny = key_words(y, by, sizeof by, wy, 32);
    if (!nx || !ny)
        return CNS_DIRECT_UNKNOWN;
    if (words_within(q, wx, nx, wy, ny) || words_within(q, wy, ny, wx, nx))
        return CNS_DIRECT_SAME;
    /* nothing but question words on one side ("the ocean"): cannot tell */
    size_t ox = 0, oy = 0;
    for (size_t i = 0; i < nx; i++)
        ox += !qword(q, wx[i]);
    for (size_t i = 0; i < ny; i++)
        oy += !qword(q, wy[i]);
    if (!ox || !oy)
        return CNS_DIRECT_UNKNOWN;
    return CNS_DIRECT_DIFFERENT;
}

static cns_direct_cmp compare_number(const cns_direct *x, const cns_direct *y)
{
    const cns_qty *a = &x->qty, *b = &y->qty;
    bool ra = x->hi > a->value, rb = y->hi > b->value;
    if (a->dim != b->dim && a->dim != CNS_DIM_NONE && b->dim != CNS_DIM_NONE)
        return CNS_DIRECT_UNKNOWN;
    if (!ra && !rb) {
        if (cns_qty_agree(a, b))
            return CNS_DIRECT_SAME;
        /* a hedged amount ("about 3.5 kg" / "around 7.5 pounds") holds within 5 % */
        double mag = fmax(fabs(a->value), fabs(b->value));
        if (a->dim == b->dim && a->dim != CNS_DIM_TEMP && a->dim != CNS_DIM_YEAR &&
            (a->approx || b->approx) && mag > 0 && fabs(a->value - b->value) / mag <= 0.05)
            return CNS_DIRECT_SAME;
        return CNS_DIRECT_DIFFERENT;
    }
    /* ranges: the same answer when they overlap, widened by their rounding */
    double alo = a->value, ahi = x->hi, blo = b->value, bhi = y->hi;
    if (a->dim != b->dim) {
        /* a bare number beside a quantity: compare as written */
        alo = a->written, ahi = a->written * (x->hi / (a->value ? a->value : 1));
        blo = b->written, bhi = b->written * (y->hi / (b->value ? b->value : 1));
    }
    double tol = fmax(a->half, b->half);
    return (alo <= bhi + tol && blo <= ahi + tol) ? CNS_DIRECT_SAME : CNS_DIRECT_DIFFERENT;
}

static cns_direct_cmp compare_date(const cns_direct *x, const cns_direct *y)
{
    if (x->year != y->year)
        return CNS_DIRECT_DIFFERENT;
    if (x->month && y->month && x->month != y->month)
        return CNS_DIRECT_DIFFERENT;
    if (x->month && y->month && x->day && y->day && x->day != y->day)
        return CNS_DIRECT_DIFFERENT;
    return CNS_DIRECT_SAME;
}

static cns_direct_cmp compare_q(const qinfo *q, const cns_direct *x, const cns_direct *y)
{
    if (x->type == CNS_DV_NONE || y->type == CNS_DV_NONE)
        return CNS_DIRECT_UNKNOWN;
    if (x->type != y->type) {
        /* a year read as a number ("1969") against a date */
        const cns_direct *n = x->type == CNS_DV_NUMBER ? x : y;
        const cns_direct *dt = x->type == CNS_DV_DATE ? x : y;
        if (n->type == CNS_DV_NUMBER && dt->type == CNS_DV_DATE &&
            (n->qty.dim == CNS_DIM_YEAR || n->qty.dim == CNS_DIM_NONE) &&
            n->qty.value == floor(n->qty.value))
            return (int)n->qty.value == dt->year ? CNS_DIRECT_SAME : CNS_DIRECT_DIFFERENT;
        return CNS_DIRECT_UNKNOWN;
    }
    switch (x->type) {
    case CNS_DV_YESNO:
        return x->yes == y->yes ? CNS_DIRECT_SAME : CNS_DIRECT_DIFFERENT;
    case CNS_DV_NUMBER:
        return compare_number(x, y);
    case CNS_DV_DATE:
        return compare_date(x, y);
    case CNS_DV_ENTITY:
        return x->value && y->value ? compare_entity(q, x->value, y->value) : CNS_DIRECT_UNKNOWN;
    case CNS_DV_NONE:
        break;
    }
    return CNS_DIRECT_UNKNOWN;
}

cns_direct_cmp cns_direct_compare(const char *question, const cns_direct *x, const cns_direct *y)
{
    qinfo *q = malloc(sizeof *q);
    if (!q)
        return CNS_DIRECT_UNKNOWN;
    question_read(question, q);
    cns_direct_cmp r = compare_q(q, x, y);
    free(q);
    return r;
}

/* Two answers of kinds that do not compare: a number and a name, amounts of two dimensions, names
 * in two scripts. (Not two names that say nothing but the question's words: they may differ.) */
static bool incomparable(const qinfo *q, const cns_direct *x, const cns_direct *y)
{
    if (compare_q(q, x, y) != CNS_DIRECT_UNKNOWN)
        return false;
    if (x->type != y->type || x->type == CNS_DV_NUMBER)
        return true;
    return x->type == CNS_DV_ENTITY && x->value && y->value &&
           other_script(x->value) != other_script(y->value);
}

size_t cns_direct_group(const char *question, const cns_direct *d, size_t n, int *group)
{
    qinfo *q = malloc(sizeof *q);
    if (q)
        question_read(question, q);
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        group[i] = -1;
        if (d[i].type == CNS_DV_NONE)
            continue;
        for (size_t j = 0; j < i && q; j++)
            if (group[j] == (int)j && compare_q(q, &d[j], &d[i]) == CNS_DIRECT_SAME) {
                group[i] = (int)j;
                break;
            }
        if (group[i] < 0) {
            group[i] = (int)i;
            groups++;
        }
    }
    /* an answer that compares with no other (a number beside names, a name in another script)
     * is no side of the direct answers: its claims are compared as any others */
    for (size_t i = 0; i < n && q; i++) {
        if (group[i] != (int)i)
            continue;
        bool alone = true, others = false;
        for (size_t j = 0; j < n && alone; j++)
            if (j != i && group[j] >= 0) {
                others = true;
                alone = group[j] != (int)i && incomparable(q, &d[i], &d[j]);
            }
        if (alone && others) {
            group[i] = -1;
            groups--;
        }
    }
    free(q);
    return groups;
}
