/*
 * text — claim features: Unicode normalisation, words, stems, numbers and
 * units, negation, names (see text.h and docs/consensus.md).
 */
#include "consensus/text.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "consensus/rules.h"
#include "core/limits.h"
#include "core/str.h"

/* ---- word lists ---------------------------------------------------------- */

static const char *const stopwords[] = {
    "a",        "about",     "above",      "after",  "again",   "against",   "all",      "also",
    "although", "am",        "an",         "and",    "any",     "are",       "as",       "at",
    "be",       "because",   "been",       "before", "being",   "below",     "between",  "both",
    "but",      "by",        "can",        "could",  "did",     "do",        "does",     "doing",
    "down",     "during",    "each",       "either", "etc",     "few",       "for",      "from",
    "further",  "generally", "had",        "has",    "have",    "having",    "he",       "her",
    "here",     "hers",      "herself",    "him",    "himself", "his",       "how",      "however",
    "i",        "if",        "in",         "into",   "is",      "it",        "its",      "itself",
    "just",     "may",       "me",         "might",  "mostly",  "much",      "must",     "my",
    "myself",   "of",        "off",        "often",  "on",      "once",      "only",     "or",
    "other",    "our",       "ours",       "out",    "over",    "own",       "same",     "she",
    "should",   "so",        "some",       "such",   "than",    "that",      "the",      "their",
    "theirs",   "them",      "themselves", "then",   "there",   "these",     "they",     "this",
    "those",    "through",   "thus",       "to",     "too",     "typically", "under",    "until",
    "up",       "usually",   "very",       "was",    "we",      "were",      "what",     "when",
    "where",    "whether",   "which",      "while",  "who",     "whom",      "whose",    "why",
    "will",     "with",      "within",     "would",  "you",     "your",      "yours",    "yourself",
    "overall",  "summary",   "conclusion", "answer", "short",   "basically", "actually", "really",
    "indeed",   "therefore", "hence",      "since",  "version", "ver",       "per",      "via",
    "onto",     "upon",      "yes",        "let",    "like",    "well",      "get",      "got",
    "make",     "makes",     "made",       "known",  "called",  "many",      "more",     "most",
    "one's",    "s",         "t",          "d",      "ll",      "re",        "ve",       "m",
    "o",        "y",         "us",         "an",     "e.g",     "i.e",       "vs",       "el",
    "la",
};

/* Words that negate the statement they are in. */
static const char *const negators[] = {
    "not",     "no",     "never",   "none",  "neither", "nor",      "cannot",
    "nothing", "nobody", "nowhere", "avoid", "avoids",  "avoiding",
};

/* Antonyms folded onto one word plus a negation, so "unsafe" opposes "safe". */
static const struct {
    const char *word, *as;
} antonyms[] = {
    {"false", "true"},
    {"untrue", "true"},
    {"incorrect", "correct"},
    {"wrong", "correct"},
    {"unsafe", "safe"},
    {"dangerous", "safe"},
    {"impossible", "possible"},
    {"illegal", "legal"},
    {"unhealthy", "healthy"},
    {"invalid", "valid"},
    {"unnecessary", "necessary"},
    {"ineffective", "effective"},
    {"inaccurate", "accurate"},
    {"unlikely", "likely"},
    {"harmless", "harmful"},
    {"decrease", "increase"},
    {"decreases", "increases"},
    {"decreased", "increased"},
    {"lower", "higher"},
    {"fewer", "more"},
    {"less", "more"},
    {"worse", "better"},
    {"disagree", "agree"},
    {"unsupported", "supported"},
    {"insecure", "secure"},
    {"unstable", "stable"},
    {"closed-source", "open-source"},
    {"proprietary", "open-source"},
};

static const char *const months[] = {
    "january",   "february", "march",    "april",    "may",  "june", "july", "august",
    "september", "october",  "november", "december", "jan",  "feb",  "mar",  "apr",
    "jun",       "jul",      "aug",      "sep",      "sept", "oct",  "nov",  "dec",
};

static const char *const approx_words[] = {
    "about", "approximately", "around",    "roughly", "nearly", "almost", "approx", "circa",
    "ca",    "some",          "estimated", "over",    "under",  "close",
};

/* Words of one meaning folded onto the first of their group, so paraphrases
 * match lexically (irregular forms listed too; all are stemmed before use). */
static const char *const synonyms[][8] = {
    {"create", "develop", "design", "invent", "devise", NULL},
    {"release", "launch", "publish", "introduce", "debut", NULL},
    {"begin", "start", "commence", "began", "begun", NULL},
    {"end", "finish", "conclude", NULL},
    {"build", "built", "construct", NULL},
    {"large", "big", "huge", "enormous", NULL},
    {"small", "little", "tiny", NULL},
    {"fast", "quick", "rapid", "speedy", NULL},
    {"help", "assist", "aid", NULL},
    {"use", "utilize", "utilise", "employ", NULL},
    {"need", "require", "necessary", NULL},
    {"cause", "trigger", NULL},
    {"increase", "raise", "boost", "rise", "rose", NULL},
    {"important", "essential", "crucial", "vital", NULL},
    {"common", "popular", "widespread", "prevalent", NULL},
    {"cheap", "inexpensive", NULL},
    {"buy", "purchase", "bought", NULL},
    {"doctor", "physician", NULL},
    {"child", "children", "kid", NULL},
    {"car", "automobile", NULL},
    {"show", "demonstrate", NULL},
    {"say", "state", "said", NULL},
    {"write", "wrote", "written", NULL},
    {"die", "died", "death", NULL},
    {"locate", "situate", NULL},
    {"choose", "select", "pick", "chose", "chosen", NULL},
    {"tall", "high", "tallest", "highest", "taller", "higher", NULL},
    {"license", "licence", "licensed", "licenced", NULL},
    {"color", "colour", NULL},
    {"favorite", "favourite", NULL},
    {"center", "centre", NULL},
    {"theater", "theatre", NULL},
    {"analyze", "analyse", NULL},
    {"organize", "organise", NULL},
    {"recognize", "recognise", NULL},
};
#define N_SYNONYMS (sizeof synonyms / sizeof synonyms[0])

/* The canonical stem for a stem, or the stem itself. */
static char synonym_stems[N_SYNONYMS][8][24];
static pthread_once_t synonym_once = PTHREAD_ONCE_INIT;

static void synonyms_init(void)
{
    for (size_t g = 0; g < N_SYNONYMS; g++)
        for (size_t k = 0; k < 8 && synonyms[g][k]; k++) {
            char *w = synonym_stems[g][k];
            snprintf(w, sizeof synonym_stems[g][k], "%s", synonyms[g][k]);
            w[cns_stem(w, strlen(w))] = '\0';
        }
}

static const char *synonym_of(const char *stem)
{
    char(*stems)[8][24] = synonym_stems;
    pthread_once(&synonym_once, synonyms_init);
    for (size_t g = 0; g < N_SYNONYMS; g++)
        for (size_t k = 1; k < 8 && synonyms[g][k]; k++)
            if (!strcmp(stem, stems[g][k]))
                return stems[g][0];
    return stem;
}

static const struct {
    const char *w;
    int v;
} number_words[] = {
    {"zero", 0},     {"one", 1},      {"two", 2},        {"three", 3},     {"four", 4},
    {"five", 5},     {"six", 6},      {"seven", 7},      {"eight", 8},     {"nine", 9},
    {"ten", 10},     {"eleven", 11},  {"twelve", 12},    {"thirteen", 13}, {"fourteen", 14},
    {"fifteen", 15}, {"sixteen", 16}, {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19},
    {"twenty", 20},  {"thirty", 30},  {"forty", 40},     {"fifty", 50},    {"sixty", 60},
    {"seventy", 70}, {"eighty", 80},  {"ninety", 90},    {"hundred", 100}, {"dozen", 12},
};

static const struct {
    const char *w;
    double f;
} scales[] = {
    {"thousand", 1e3},  {"million", 1e6},  {"billion", 1e9},
    {"trillion", 1e12}, {"millions", 1e6}, {"billions", 1e9},
};

/* Units: dimension, factor to the base unit, offset (temperatures only). */
typedef struct unit_def {
    const char *name;
    int dim;
    double f, off;
} unit_def;
static const unit_def units[] = {
    {"%", CNS_DIM_PERCENT, 1, 0},
    {"percent", CNS_DIM_PERCENT, 1, 0},
    {"pct", CNS_DIM_PERCENT, 1, 0},
    {"mm", CNS_DIM_LENGTH, 1e-3, 0},
    {"millimeter", CNS_DIM_LENGTH, 1e-3, 0},
    {"millimetre", CNS_DIM_LENGTH, 1e-3, 0},
    {"cm", CNS_DIM_LENGTH, 1e-2, 0},
    {"centimeter", CNS_DIM_LENGTH, 1e-2, 0},
    {"centimetre", CNS_DIM_LENGTH, 1e-2, 0},
    {"m", CNS_DIM_LENGTH, 1, 0},
    {"meter", CNS_DIM_LENGTH, 1, 0},
    {"metre", CNS_DIM_LENGTH, 1, 0},
    {"km", CNS_DIM_LENGTH, 1e3, 0},
    {"kilometer", CNS_DIM_LENGTH, 1e3, 0},
    {"kilometre", CNS_DIM_LENGTH, 1e3, 0},
    {"inch", CNS_DIM_LENGTH, 0.0254, 0},
    {"inches", CNS_DIM_LENGTH, 0.0254, 0},
    {"ft", CNS_DIM_LENGTH, 0.3048, 0},
    {"foot", CNS_DIM_LENGTH, 0.3048, 0},
    {"feet", CNS_DIM_LENGTH, 0.3048, 0},
    {"yd", CNS_DIM_LENGTH, 0.9144, 0},
    {"yard", CNS_DIM_LENGTH, 0.9144, 0},
    {"mi", CNS_DIM_LENGTH, 1609.344, 0},
    {"mile", CNS_DIM_LENGTH, 1609.344, 0},
    {"mg", CNS_DIM_MASS, 1e-3, 0},
    {"milligram", CNS_DIM_MASS, 1e-3, 0},
    {"g", CNS_DIM_MASS, 1, 0},
    {"gram", CNS_DIM_MASS, 1, 0},
    {"kg", CNS_DIM_MASS, 1e3, 0},
    {"kilogram", CNS_DIM_MASS, 1e3, 0},
    {"kilo", CNS_DIM_MASS, 1e3, 0},
    {"tonne", CNS_DIM_MASS, 1e6, 0},
    {"ton", CNS_DIM_MASS, 1e6, 0}, /* metric; a short ton is 9% less, within a hedge */
    {"lb", CNS_DIM_MASS, 453.59237, 0},
    {"lbs", CNS_DIM_MASS, 453.59237, 0},
    {"pound", CNS_DIM_MASS, 453.59237, 0},
    {"oz", CNS_DIM_MASS, 28.349523125, 0},
    {"ounce", CNS_DIM_MASS, 28.349523125, 0},
    {"°c", CNS_DIM_TEMP, 1, 0},
    {"celsius", CNS_DIM_TEMP, 1, 0},
    {"°f", CNS_DIM_TEMP, 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {"fahrenheit", CNS_DIM_TEMP, 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {"kelvin", CNS_DIM_TEMP, 1, -273.15},
    {"°k", CNS_DIM_TEMP, 1, -273.15},
    {"ms", CNS_DIM_TIME, 1e-3, 0},
    {"millisecond", CNS_DIM_TIME, 1e-3, 0},
    {"s", CNS_DIM_TIME, 1, 0},
    {"sec", CNS_DIM_TIME, 1, 0},
    {"second", CNS_DIM_TIME, 1, 0},
    {"min", CNS_DIM_TIME, 60, 0},
    {"minute", CNS_DIM_TIME, 60, 0},
    {"h", CNS_DIM_TIME, 3600, 0},
    {"hr", CNS_DIM_TIME, 3600, 0},
    {"hour", CNS_DIM_TIME, 3600, 0},
    {"day", CNS_DIM_TIME, 86400, 0},
    {"week", CNS_DIM_TIME, 604800, 0},
    {"month", CNS_DIM_TIME, 2629800, 0},
    {"year", CNS_DIM_TIME, 31557600, 0},
    {"yr", CNS_DIM_TIME, 31557600, 0},
    {"decade", CNS_DIM_TIME, 315576000, 0},
    {"century", CNS_DIM_TIME, 3155760000.0, 0},
    {"centuries", CNS_DIM_TIME, 3155760000.0, 0},
    {"ml", CNS_DIM_VOLUME, 1e-3, 0},
    {"milliliter", CNS_DIM_VOLUME, 1e-3, 0},
    {"millilitre", CNS_DIM_VOLUME, 1e-3, 0},
    {"l", CNS_DIM_VOLUME, 1, 0},
    {"liter", CNS_DIM_VOLUME, 1, 0},
    {"litre", CNS_DIM_VOLUME, 1, 0},
    {"gallon", CNS_DIM_VOLUME, 3.785411784, 0},
    {"gal", CNS_DIM_VOLUME, 3.785411784, 0},
    {"mph", CNS_DIM_SPEED, 0.44704, 0},
    {"kph", CNS_DIM_SPEED, 1 / 3.6, 0},
    {"kmh", CNS_DIM_SPEED, 1 / 3.6, 0},
    {"byte", CNS_DIM_DATA, 1, 0},
    {"kb", CNS_DIM_DATA, 1e3, 0},
    {"mb", CNS_DIM_DATA, 1e6, 0},
    {"gb", CNS_DIM_DATA, 1e9, 0},
    {"tb", CNS_DIM_DATA, 1e12, 0},
    {"kib", CNS_DIM_DATA, 1024, 0},
    {"mib", CNS_DIM_DATA, 1048576, 0},
    {"gib", CNS_DIM_DATA, 1073741824.0, 0},
    {"kcal", CNS_DIM_ENERGY, 1, 0},
    {"calorie", CNS_DIM_ENERGY, 1, 0},
    {"cal", CNS_DIM_ENERGY, 1, 0},
    {"kj", CNS_DIM_ENERGY, 0.239005736, 0},
    {"dollar", CNS_DIM_USD, 1, 0},
    {"usd", CNS_DIM_USD, 1, 0},
    {"euro", CNS_DIM_EUR, 1, 0},
    {"eur", CNS_DIM_EUR, 1, 0},
    {"gbp", CNS_DIM_GBP, 1, 0},
    {"pa", CNS_DIM_PRESSURE, 1, 0},
    {"pascal", CNS_DIM_PRESSURE, 1, 0},
    {"hpa", CNS_DIM_PRESSURE, 100, 0},
    {"kpa", CNS_DIM_PRESSURE, 1e3, 0},
    {"mpa", CNS_DIM_PRESSURE, 1e6, 0},
    {"mbar", CNS_DIM_PRESSURE, 100, 0},
    {"millibar", CNS_DIM_PRESSURE, 100, 0},
    {"atm", CNS_DIM_PRESSURE, 101325, 0},
    {"atmosphere", CNS_DIM_PRESSURE, 101325, 0},
    {"psi", CNS_DIM_PRESSURE, 6894.757, 0},
    {"mmhg", CNS_DIM_PRESSURE, 133.322, 0},
    {"torr", CNS_DIM_PRESSURE, 133.322, 0},
    {"inhg", CNS_DIM_PRESSURE, 3386.39, 0},
};

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w, list[i]))
            return true;
    return false;
}

bool cns_is_stopword(const char *w)
{
    return in_list(w, stopwords, sizeof stopwords / sizeof stopwords[0]);
}

/* Unit index for a casefolded word (plural "s" allowed on long names), or -1. */
static int find_unit(const char *w)
{
    size_t len = strlen(w);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        const char *u = units[i].name;
        size_t ul = strlen(u);
        if (!strcmp(w, u))
            return (int)i;
        if (ul >= 3 && len == ul + 1 && w[ul] == 's' && !strncmp(w, u, ul))
            return (int)i;
    }
    return -1;
}

/* ---- raw tokens ----------------------------------------------------------- */

enum { RT_WORD, RT_NUM, RT_SYM };

typedef struct rawtok {
    int kind;
    char *s;    /* NFKC text, original case (words) or the symbol */
    char *fold; /* casefolded (words) */
    double v, half;
    bool initial; /* first word of the claim or of a table cell */
    bool colon_after, comma_after, comma_before, grouped;
    bool range_next; /* RT_NUM: "2-3", "2–3", "2 to 3": the next number ends a range */
    uint32_t sym;    /* RT_SYM: the code point */
} rawtok;

typedef struct scan {
    arena *a;
    rawtok *t;
    size_t n, cap;
} scan;

static dx_status push(scan *sc, rawtok r)
{
    if (sc->n >= DX_CNS_MAX_CLAIM_TOKENS)
        return DX_OK; /* rest of a long claim is ignored */
    if (sc->n == sc->cap && arena_grow(sc->a, &sc->t, sc->n, &sc->cap, sizeof *sc->t, 32))
        return dx_wrap(DX_ENOMEM, "consensus: reading a claim");
    sc->t[sc->n++] = r;
    return DX_OK;
}

/* Copy of s with invalid UTF-8 replaced by spaces, NFKC-normalised. Caller frees. */
static char *nfkc(const char *s, size_t len)
{
    char *clean = malloc(len + 1);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp == 0) {
            clean[o++] = ' ';
            i++;
            continue;
        }
        memcpy(clean + o, s + i, (size_t)k);
        o += (size_t)k;
        i += (size_t)k;
    }
    clean[o] = '\0';
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)o, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (r < 0)
        return clean; /* keep the cleaned text as is */
    free(clean);
    return (char *)out;
}

static char *casefold(arena *a, const char *s, size_t len)
{
    bool ascii = true;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) {
            ascii = false;
            break;
        }
    if (ascii) {
        char *r = arena_strndup(a, s, len);
        if (r)
            for (size_t i = 0; i < len; i++)
                r[i] = (char)tolower((unsigned char)r[i]);
        return r;
    }
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t k =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &out,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
    if (k < 0)
        return arena_strndup(a, s, len);
    char *r = arena_strndup(a, (const char *)out, (size_t)k);
    free(out);
    return r;
}

static bool is_wordcp(utf8proc_int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO);
}

static bool is_digit_at(const char *s, size_t i, size_t n)
{
    return i < n && s[i] >= '0' && s[i] <= '9';
}

/* Reads a number written with digits at s[i]: 1,234.5 / 3.1 / 1000. */
static size_t read_number(const char *s, size_t i, size_t n, double *v, double *half, bool *grouped)
{
    char buf[64];
    size_t bl = 0, j = i;
    int decimals = -1, trailing_zeros = 0;
    *grouped = false;
    while (j < n && bl < sizeof buf - 1) {
        char c = s[j];
        if (c >= '0' && c <= '9') {
            buf[bl++] = c;
            if (decimals >= 0)
                decimals++;
            j++;
        } else if (c == ',' && decimals < 0 && is_digit_at(s, j + 1, n) &&
                   is_digit_at(s, j + 2, n) && is_digit_at(s, j + 3, n) &&
                   !is_digit_at(s, j + 4, n)) {
            *grouped = true; /* thousands separator */
            j++;
        } else if (c == '.' && decimals < 0 && is_digit_at(s, j + 1, n)) {
            buf[bl++] = '.';
            decimals = 0;
            j++;
        } else {
            break;
        }
    }
    buf[bl] = '\0';
    *v = strtod(buf, NULL);
    if (decimals > 0) {
        *half = 0.5 * pow(10, -decimals);
    } else {
        size_t k = bl;
        while (k > 1 && buf[k - 1] == '0') {
            k--;
            trailing_zeros++;
        }
        *half = 0.5 * pow(10, trailing_zeros);
    }
    return j;
}

/* Whether a range's second number follows s[j]: "-" with no space ("2-3"), an en dash with or
 * without spaces ("2–3", "2 – 3"), or " to " ("5 to 10"). A spaced hyphen is a minus. */
static bool range_follows(const char *s, size_t j, size_t n)
{
    if (j + 1 < n && s[j] == '-' && isdigit((unsigned char)s[j + 1]))
        return true;
    size_t k = j;
    while (k < n && s[k] == ' ')
        k++;
    if (k + 3 < n && !memcmp(s + k, "\xe2\x80\x93", 3))
        k += 3;
    else if (k > j && k + 3 < n && !strncmp(s + k, "to ", 3))
        k += 3;
    else
        return false;
    while (k < n && s[k] == ' ')
        k++;
    return k < n && isdigit((unsigned char)s[k]);
}

/* The number at s[*i]: pushes it as a number token, or "1980s" as a word (a decade; "5km" stays a
 * number and a unit). Moves *i past what it read. */
static dx_status tokenize_number(scan *sc, const char *s, size_t n, size_t *i, bool initial)
{
    size_t at = *i;
    rawtok r = {.kind = RT_NUM};
    size_t j = read_number(s, at, n, &r.v, &r.half, &r.grouped);
    /* a minus sign right before, not part of a range like 5-10 */
    if (at > 0 && (s[at - 1] == '-') &&
        (at == 1 || isspace((unsigned char)s[at - 2]) || s[at - 2] == '('))
        r.v = -r.v;
    if (at >= 3 && !memcmp(s + at - 3, "\xe2\x88\x92", 3))
        r.v = -r.v; /* U+2212 */
    r.s = arena_strndup(sc->a, s + at, j - at);
    if (!r.s)
        return dx_oom("consensus");
    r.range_next = range_follows(s, j, n);
    if (j < n && s[j] == 's' && (j + 1 == n || !isalpha((unsigned char)s[j + 1])) && r.half >= 5 &&
        r.v >= CNS_YEAR_MIN && r.v <= CNS_YEAR_MAX) {
        rawtok w = {.kind = RT_WORD, .initial = initial};
        w.s = arena_strndup(sc->a, s + at, j + 1 - at);
        w.fold = w.s;
        if (!w.s)
            return dx_oom("consensus");
        *i = j + 1;
        return push(sc, w);
    }
    *i = j;
    return push(sc, r);
}

/* Where the word that starts at s[i] ends: letters, then digits kept with them ("v3", "mp3"), and
 * an apostrophe only inside the word. */
static size_t word_end(const char *s, size_t i, size_t n)
{
    size_t j = i;
    while (j < n) {
        utf8proc_int32_t c2;
        utf8proc_ssize_t k2 =
            utf8proc_iterate((const utf8proc_uint8_t *)s + j, (utf8proc_ssize_t)(n - j), &c2);
        if (k2 <= 0)
            break;
        if (c2 >= '0' && c2 <= '9' && j > i) {
            /* letters then digits: keep together ("v3", "mp3") */
        } else if (!is_wordcp(c2) && !(c2 == '\'' || c2 == 0x2019)) {
            break;
        } else if (c2 == '\'' || c2 == 0x2019) {
            /* apostrophe only inside a word */
            utf8proc_int32_t c3 = 0;
            if (j + (size_t)k2 < n)
                utf8proc_iterate((const utf8proc_uint8_t *)s + j + k2,
                                 (utf8proc_ssize_t)(n - j - (size_t)k2), &c3);
            if (!is_wordcp(c3))
                break;
        }
        j += (size_t)k2;
    }
    return j;
}

/* "GPLv2", "Python3": a name and a version number, read as both. For the word s[i..*j) of two or
 * more letters then only digits, shortens *j to the name (without a trailing "v" after three
 * letters) and returns where the digits start; otherwise returns *j unchanged. */
static size_t split_version(const char *s, size_t i, size_t *j)
{
    size_t letters = 0;
    while (i + letters < *j && isalpha((unsigned char)s[i + letters]))
        letters++;
    if (letters < 2 || i + letters >= *j)
        return *j;
    for (size_t q = i + letters; q < *j; q++)
        if (!isdigit((unsigned char)s[q]))
            return *j;
    size_t next_i = i + letters;
    *j = (letters >= 3 && (s[next_i - 1] == 'v' || s[next_i - 1] == 'V')) ? next_i - 1 : next_i;
    return next_i;
}

/* The word token s[i..j) with its neighbouring punctuation, the typographic apostrophe made
 * plain, and its case-folded form. */
static dx_status push_word(scan *sc, const char *s, size_t n, size_t i, size_t j, bool initial)
{
    rawtok r = {.kind = RT_WORD, .initial = initial};
    size_t pb = i;
    while (pb > 0 && s[pb - 1] == ' ')
        pb--;
    r.comma_before = pb > 0 && s[pb - 1] == ',';
    /* normalise the typographic apostrophe */
    dx_buf w = dx_buf_make(DX_CNS_MAX_CLAIM_BYTES * 4);
    for (size_t q = i; q < j;) {
        if (q + 3 <= j && !memcmp(s + q, "\xe2\x80\x99", 3)) {
            dx_buf_putc(&w, '\'');
            q += 3;
        } else
            dx_buf_putc(&w, s[q++]);
    }
    r.s = arena_strndup(sc->a, w.data ? w.data : "", w.len);
    r.fold = r.s ? casefold(sc->a, r.s, w.len) : NULL;
    dx_buf_free(&w);
    if (!r.s || !r.fold)
        return dx_oom("consensus");
    size_t q = j;
    while (q < n && s[q] == ' ')
        q++;
    r.colon_after = q < n && s[q] == ':';
    r.comma_after = q < n && (s[q] == ',' || s[q] == '.' || s[q] == '!');
    return push(sc, r);
}

/* Splits s into number, word and symbol tokens; a word is "initial" at the start of a sentence
 * or after a colon, dash, bar or semicolon. */
static dx_status tokenize(scan *sc, const char *s, size_t n)
{
    dx_status st = DX_OK;
    bool next_initial = true;
    size_t i = 0;
    while (i < n && !st) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            i++;
            continue;
        }
        if (cp >= '0' && cp <= '9') {
            st = tokenize_number(sc, s, n, &i, next_initial);
            next_initial = false;
            continue;
        }
        if (is_wordcp(cp)) {
            size_t j = word_end(s, i, n);
            size_t next_i = split_version(s, i, &j);
            st = push_word(sc, s, n, i, j, next_initial);
            next_initial = false;
            i = next_i;
            continue;
        }
        if (cp == '%' || cp == '$' || cp == 0x20AC || cp == 0xA3 || cp == '~' || cp == 0x2248 ||
            cp == 0xB0 || cp == '/') {
            rawtok r = {.kind = RT_SYM, .sym = (uint32_t)cp};
            r.s = arena_strndup(sc->a, s + i, (size_t)k);
            if (!r.s)
                return dx_oom("consensus");
            st = push(sc, r);
        } else if (cp == ':' || cp == 0x2014 || cp == '|' || cp == ';' || cp == '(') {
            next_initial = (cp != '(');
        } else if (cp == '.' || cp == '!' || cp == '?') {
            next_initial = true;
        }
        i += (size_t)k;
    }
    return st;
}

/* ---- features -------------------------------------------------------------- */

typedef struct feat_builder {
    arena *a;
    cns_tok *toks;
    size_t n_tok, cap_tok;
    cns_qty *qty;
    size_t n_qty, cap_qty;
} feat_builder;

static dx_status add_tok(feat_builder *fb, const char *stem, unsigned flags)
{
    for (size_t i = 0; i < fb->n_tok; i++)
        if (!strcmp(fb->toks[i].stem, stem)) {
            fb->toks[i].flags |= flags;
            return DX_OK;
        }
    if (fb->n_tok == fb->cap_tok &&
        arena_grow(fb->a, &fb->toks, fb->n_tok, &fb->cap_tok, sizeof *fb->toks, 16))
        return dx_wrap(DX_ENOMEM, "consensus");
    fb->toks[fb->n_tok++] = (cns_tok){stem, flags};
    return DX_OK;
}

static dx_status add_qty(feat_builder *fb, cns_qty q)
{
    if (fb->n_qty == fb->cap_qty &&
        arena_grow(fb->a, &fb->qty, fb->n_qty, &fb->cap_qty, sizeof *fb->qty, 8))
        return dx_wrap(DX_ENOMEM, "consensus");
    fb->qty[fb->n_qty++] = q;
    return DX_OK;
}

static int number_word(const char *w)
{
    for (size_t i = 0; i < sizeof number_words / sizeof number_words[0]; i++)
        if (!strcmp(w, number_words[i].w))
            return number_words[i].v;
    return -1;
}

static double scale_word(const char *w)
{
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
        if (!strcmp(w, scales[i].w))
            return scales[i].f;
    return 0;
}

static bool name_like(const rawtok *r)
{
    /* a month is a date, not a name ("on 15 June 1215") */
    if (in_list(r->fold, months, sizeof months / sizeof months[0]) && strlen(r->fold) > 3)
        return false;
    /* count upper/lower letters (ASCII decides; other scripts rarely case-mark names) */
    int up = 0, low = 0;
    bool up_after_low = false;
    for (const char *p = r->s; *p; p++) {
        if (isupper((unsigned char)*p)) {
            up++;
            if (low)
                up_after_low = true;
        } else if (islower((unsigned char)*p))
            low++;
    }
    if (up >= 2 && strlen(r->s) >= 2)
        return true; /* MIT, GPL, SQLite, NumPy */
    if (up_after_low)
        return true; /* iPhone */
    if (up == 1 && isupper((unsigned char)r->s[0]) && !r->initial && !r->colon_after)
        return true;
    return false;
}

/* The currency of a symbol right before t[i] ("$", "€", "£"), or CNS_DIM_NONE. */
static int currency_before(const rawtok *t, size_t i)
{
    if (i == 0 || t[i - 1].kind != RT_SYM)
        return CNS_DIM_NONE;
    switch (t[i - 1].sym) {
    case '$':
        return CNS_DIM_USD;
    case 0x20AC:
        return CNS_DIM_EUR;
    case 0xA3:
        return CNS_DIM_GBP;
    default:
        return CNS_DIM_NONE;
    }
}

/* The unit word at t[j] as the unit table spells it ("degrees c" -> "celsius", "per cent" ->
 * "percent"); *extra says how many tokens after t[j] it also takes. */
static const char *unit_word(const rawtok *t, size_t n, size_t j, size_t *extra)
{
    const char *w = t[j].fold;
    *extra = 0;
    if ((!strcmp(w, "degrees") || !strcmp(w, "degree")) && j + 1 < n && t[j + 1].kind == RT_WORD) {
        w = t[j + 1].fold;
        *extra = 1;
        if (!strcmp(w, "c"))
            w = "celsius";
        else if (!strcmp(w, "f"))
            w = "fahrenheit";
    }
    /* "6 metric tons" */
    if (!strcmp(w, "metric") && j + 1 < n && t[j + 1].kind == RT_WORD) {
        w = t[j + 1].fold;
        *extra = 1;
    }
    if (!strcmp(w, "per") && j + 1 < n && t[j + 1].kind == RT_WORD &&
        !strcmp(t[j + 1].fold, "cent")) {
        w = "percent";
        *extra = 1;
    }
    return w;
}

/* "/h", "per second" at t[j] after a length: the time unit's index (a length per time is a
 * speed: km/h, m/s, "miles per second"), or -1. */
static int speed_per(const rawtok *t, size_t n, size_t j)
{
    if (j + 1 >= n || t[j + 1].kind != RT_WORD)
        return -1;
    if (!((t[j].kind == RT_SYM && t[j].sym == '/') ||
          (t[j].kind == RT_WORD && !strcmp(t[j].fold, "per"))))
        return -1;
    int per = find_unit(t[j + 1].fold);
    return per >= 0 && units[per].dim == CNS_DIM_TIME ? per : -1;
}

/* The unit at t[*j] after a number: "%", "°C", a unit word or a speed. Sets q->dim and q->unit,
 * converts *v and *half to the dimension's base unit, moves *j past the unit and returns the
 * factor used (1 without a unit). */
static double read_unit(const rawtok *t, size_t n, size_t *j, cns_qty *q, double *v, double *half)
{
    int u = -1;
    if (t[*j].kind == RT_SYM && t[*j].sym == '%') {
        u = find_unit("%");
        (*j)++;
    } else if (t[*j].kind == RT_SYM && t[*j].sym == 0xB0) {
        if (*j + 1 < n && t[*j + 1].kind == RT_WORD && strlen(t[*j + 1].fold) == 1) {
            char tmp[8];
            snprintf(tmp, sizeof tmp, "°%c", t[*j + 1].fold[0]);
            u = find_unit(tmp);
            if (u >= 0)
                *j += 2;
        }
    } else if (t[*j].kind == RT_WORD) {
        size_t extra;
        u = find_unit(unit_word(t, n, *j, &extra));
        if (u >= 0) {
            *j += 1 + extra;
            int per = units[u].dim == CNS_DIM_LENGTH ? speed_per(t, n, *j) : -1;
            if (per >= 0) {
                *j += 2;
                q->dim = CNS_DIM_SPEED;
                q->unit = 2000 + u * 100 + per; /* a unit id of its own */
                double f = units[u].f / units[per].f;
                *v *= f;
                *half *= f;
                return f;
            }
        }
    }
    if (u < 0)
        return 1;
    q->dim = units[u].dim;
    q->unit = u;
    *v = *v * units[u].f + units[u].off;
    *half *= units[u].f;
    return units[u].f;
}

/* A hedge within the two tokens before t[i]: "~", "≈" or an approximating word ("about"). */
static bool hedged(const rawtok *t, size_t i)
{
    bool approx = false;
    for (size_t b = 1; b <= 2 && b <= i; b++) {
        const rawtok *p = &t[i - b];
        if ((p->kind == RT_SYM && (p->sym == '~' || p->sym == 0x2248)) ||
            (p->kind == RT_WORD &&
             in_list(p->fold, approx_words, sizeof approx_words / sizeof approx_words[0])))
            approx = true;
    }
    return approx;
}

/* Reads a quantity starting at t[i] (a number or number words); returns tokens used. */
static size_t read_quantity(rawtok *t, size_t n, size_t i, double v, double half, size_t used,
                            cns_qty *q)
{
    size_t j = i + used;
    bool scaled = false;
    double unit_f = 1;
    q->unit = -1;
    /* scale words: 1.4 million */
    if (j < n && t[j].kind == RT_WORD) {
        double sc = scale_word(t[j].fold);
        if (sc > 0) {
            v *= sc;
            half *= sc;
            j++;
            scaled = true;
        }
    }
    q->dim = currency_before(t, i);
    q->written = v;
    q->whalf = half;
    if (q->dim == CNS_DIM_NONE && j < n)
        unit_f = read_unit(t, n, &j, q, &v, &half);
    if (q->dim == CNS_DIM_NONE && used == 1 && j == i + 1 && t[i].kind == RT_NUM && !t[i].grouped &&
        !strchr(t[i].s, '.') && v >= CNS_YEAR_MIN && v <= CNS_YEAR_MAX) {
        q->dim = CNS_DIM_YEAR;
        half = 0.5;
    }
    if (q->dim >= CNS_DIM_USD && q->unit < 0)
        q->unit = 1000 + q->dim;
    q->approx = hedged(t, i);
    /* trailing zeros of a whole number are rounding only when hedged or scaled
     * ("about 8,800", "14 million"); a plain "70000" is exact */
    if (!q->approx && !scaled && half > 0.5 * unit_f && t[i].kind == RT_NUM &&
        !strchr(t[i].s, '.')) {
        half = 0.5 * unit_f;
        q->whalf = 0.5;
    }
    q->value = v;
    q->half = half;
    q->hi = v;
    return j - i;
}

/* q, a bare number, read in the unit of like ("2" of "2-3 L"); false when like's unit is not one
 * of the table's (a speed) or q has a unit. */
static bool take_unit(cns_qty *q, const cns_qty *like)
{
    int nu = (int)(sizeof units / sizeof units[0]);
    if (q->dim != CNS_DIM_NONE)
        return q->dim == like->dim;
    if (like->unit >= 0 && like->unit < nu) {
        q->value = q->written * units[like->unit].f + units[like->unit].off;
        q->half = q->whalf * units[like->unit].f;
    } else if (!(like->dim >= CNS_DIM_USD && like->dim <= CNS_DIM_GBP)) {
        return false;
    }
    q->dim = like->dim;
    q->unit = like->unit;
    q->hi = q->value;
    return true;
}

/* The walk over one claim's raw tokens, phase by phase (cns_text_features). */
typedef struct walk {
    rawtok *t;
    size_t n, i; /* tokens, and the next one to read */
    arena *a;
    cns_features *f;
    feat_builder fb;
    bool first_word;
    int negate_next;   /* the next this many content words are what a negation applies to */
    int contrast_left; /* words still inside a ", not X" contrast */
} walk;

static bool word_at(const walk *w, size_t i, const char *word)
{
    return i < w->n && w->t[i].kind == RT_WORD && !strcmp(w->t[i].fold, word);
}

static bool month_at(const walk *w, size_t i)
{
    return i < w->n && w->t[i].kind == RT_WORD &&
           in_list(w->t[i].fold, months, sizeof months / sizeof months[0]);
}

/* A number written in digits, with its unit; the day of a date is not a quantity. */
static dx_status digits_phase(walk *w)
{
    const rawtok *r = &w->t[w->i];
    cns_qty q;
    size_t used = read_quantity(w->t, w->n, w->i, r->v, r->half, 1, &q);
    /* the day in "2 September 1945" / "September 2, 1945" is part of a date */
    bool day = q.dim == CNS_DIM_NONE && r->v >= CNS_DAY_MIN && r->v <= CNS_DAY_MAX &&
               r->half == 0.5 && (month_at(w, w->i + 1) || (w->i > 0 && month_at(w, w->i - 1)));
    w->i += used;
    w->first_word = false;
    /* a range "2-3 L", "5 to 10 minutes": one quantity from the first number to the second, in
     * the second's unit (not years: "1939-1945" names two) */
    size_t k = w->i + word_at(w, w->i, "to");
    if (!day && r->range_next && used == 1 && k < w->n && w->t[k].kind == RT_NUM &&
        q.dim != CNS_DIM_YEAR) {
        cns_qty q2;
        size_t used2 = read_quantity(w->t, w->n, k, w->t[k].v, w->t[k].half, 1, &q2);
        if (q2.dim != CNS_DIM_YEAR && take_unit(&q, &q2) && q2.value > q.value) {
            q.hi = q2.value;
            q.approx |= q2.approx;
            w->i = k + used2;
        }
    }
    return day ? DX_OK : add_qty(&w->fb, q);
}

/* A leading "Yes" / "No," sets the verdict; true when the word was one. */
static bool verdict_phase(walk *w)
{
    const rawtok *r = &w->t[w->i];
    bool first = w->first_word;
    w->first_word = false;
    if (first && !strcmp(r->fold, "yes"))
        w->f->verdict = 1;
    else if (first && !strcmp(r->fold, "no") && (r->comma_after || w->i + 1 == w->n))
        w->f->verdict = -1;
    else
        return false;
    w->i++;
    return true;
}

/* "one" that is not a number: "one of", "the one", "which one" ... */
static bool one_is_a_word(const walk *w)
{
    static const char *const before[] = {"the", "this", "that",  "which",
                                         "any", "each", "every", "no"};
    size_t i = w->i;
    if (word_at(w, i + 1, "of") || word_at(w, i + 1, "another") || word_at(w, i + 1, "or"))
        return true;
    for (size_t k = 0; i > 0 && k < sizeof before / sizeof before[0]; k++)
        if (word_at(w, i - 1, before[k]))
            return true;
    return false;
}

/* Numbers in words ("three", "twenty-one", "two hundred", "half a gallon");
 * *taken is set when the words were a quantity. */
static dx_status number_words_phase(walk *w, bool *taken)
{
    const char *word = w->t[w->i].fold;
    *taken = false;
    if (!strcmp(word, "half") && w->i + 2 < w->n && w->t[w->i + 2].kind == RT_WORD &&
        (word_at(w, w->i + 1, "a") || word_at(w, w->i + 1, "an")) &&
        find_unit(w->t[w->i + 2].fold) >= 0) {
        cns_qty q;
        size_t used = read_quantity(w->t, w->n, w->i + 1, 0.5, 0.05, 1, &q);
        w->i += 1 + used;
        *taken = true;
        return add_qty(&w->fb, q);
    }
    int nv = number_word(word);
    if (nv < 0 || (nv == 1 && one_is_a_word(w)) ||
        (nv == 100 && !(w->i > 0 && word_at(w, w->i - 1, "a"))))
        return DX_OK;
    double cur = 0;
    size_t j = w->i;
    while (j < w->n && w->t[j].kind == RT_WORD) {
        int x = number_word(w->t[j].fold);
        if (x < 0)
            break;
        if (x == 100)
            cur = (cur ? cur : 1) * 100;
        else
            cur += x;
        j++;
    }
    cns_qty q;
    size_t used = read_quantity(w->t, w->n, w->i, cur, 0.5, j - w->i, &q);
    w->i += used;
    *taken = true;
    return add_qty(&w->fb, q);
}

/* "not", "never", ...: true when the word was a negation (or a ", not X" contrast). */
static bool negation_phase(walk *w)
{
    const rawtok *r = &w->t[w->i];
    if (!in_list(r->fold, negators, sizeof negators / sizeof negators[0]))
        return false;
    /* ", not Sydney" contrasts a name; it does not negate the statement */
    if (!(r->comma_before && !strcmp(r->fold, "not"))) {
        w->f->neg++;
        w->negate_next = CNS_NEGATION_SCOPE;
    } else {
        w->contrast_left = 3; /* ", not Sydney": the contrasted words are not claimed */
    }
    w->i++;
    return true;
}

/* A content word: "n't" and "'s" off, antonyms folded, stop words out,
 * stemmed, synonyms folded, then added with its flags. */
static dx_status word_phase(walk *w)
{
    const rawtok *r = &w->t[w->i];
    size_t wl = strlen(r->fold);
    char *word = arena_strdup(w->a, r->fold);
    if (!word)
        return dx_oom("consensus");
    if (wl >= 3 && !strcmp(word + wl - 3, "n't")) {
        w->f->neg++;
        w->negate_next = CNS_NEGATION_SCOPE;
        word[wl - 3] = '\0';
        wl -= 3;
    }
    if (wl >= 2 && !strcmp(word + wl - 2, "'s")) {
        word[wl - 2] = '\0';
        wl -= 2;
    }
    char *ap = strchr(word, '\'');
    if (ap) {
        *ap = '\0';
        wl = (size_t)(ap - word);
    }
    unsigned flags = 0;
    for (size_t k = 0; k < sizeof antonyms / sizeof antonyms[0]; k++)
        if (!strcmp(word, antonyms[k].word)) {
            word = (char *)antonyms[k].as;
            w->f->neg++;
            flags |= CNS_TOK_NEGATED;
            wl = strlen(word);
            break;
        }
    w->i++;
    if (w->contrast_left > 0) {
        w->contrast_left = r->comma_after ? 0 : w->contrast_left - 1;
        return DX_OK;
    }
    if (wl == 0 || cns_is_stopword(word) || (wl == 1 && !(word[0] & 0x80)) ||
        in_list(word, approx_words, sizeof approx_words / sizeof approx_words[0]) ||
        scale_word(word) > 0)
        return DX_OK;
    char *stem = arena_strdup(w->a, word);
    if (!stem)
        return dx_oom("consensus");
    stem[cns_stem(stem, wl)] = '\0';
    const char *canon = synonym_of(stem);
    if (canon != stem && !(stem = arena_strdup(w->a, canon)))
        return dx_oom("consensus");
    if (w->negate_next > 0) {
        flags |= CNS_TOK_NEGATED;
        w->negate_next = r->comma_after ? 0 : w->negate_next - 1;
    }
    return add_tok(&w->fb, stem, flags | (name_like(r) ? CNS_TOK_NAME : 0));
}

/* Tokens sorted by stem, so two claims intersect in one pass. */
static void sort_tokens(cns_features *f)
{
    for (size_t i = 1; i < f->n_tok; i++) {
        cns_tok x = f->toks[i];
        size_t j = i;
        while (j > 0 && strcmp(f->toks[j - 1].stem, x.stem) > 0) {
            f->toks[j] = f->toks[j - 1];
            j--;
        }
        f->toks[j] = x;
    }
}

dx_status cns_text_features(const char *text, arena *a, cns_features *f)
{
    memset(f, 0, sizeof *f);
    size_t len = strlen(text);
    if (len > DX_CNS_MAX_CLAIM_BYTES * 4)
        len = DX_CNS_MAX_CLAIM_BYTES * 4;
    char *norm = nfkc(text, len);
    if (!norm)
        return dx_oom("consensus");
    scan sc = {.a = a};
    dx_status st = tokenize(&sc, norm, strlen(norm));
    walk w = {.t = sc.t, .n = sc.n, .a = a, .f = f, .fb = {.a = a}, .first_word = true};
    while (!st && w.i < w.n) {
        bool taken = false;
        if (w.t[w.i].kind == RT_SYM)
            w.i++;
        else if (w.t[w.i].kind == RT_NUM)
            st = digits_phase(&w);
        else if (verdict_phase(&w))
            continue;
        else if ((st = number_words_phase(&w, &taken)) || taken)
            continue;
        else if (!negation_phase(&w))
            st = word_phase(&w);
    }
    if (!st) {
        f->toks = w.fb.toks;
        f->n_tok = w.fb.n_tok;
        f->qty = w.fb.qty;
        f->n_qty = w.fb.n_qty;
        sort_tokens(f);
    }
    free(norm);
    return st;
}

/* ---- quantities -------------------------------------------------------------- */

static bool bare_agrees(const cns_qty *bare, const cns_qty *u)
{
    /* "18" and "$18": a bare number matches a quantity with the same written value */
    double d = fabs(bare->written - u->written);
    return d <= fmax(bare->whalf, u->whalf) + 1e-9 &&
           d <= CNS_QTY_REL_BARE * fmax(fabs(bare->written), fabs(u->written));
}

/* The rounding a converted whole number of three or more digits ending in zero may stand for:
 * to the ten ("400" -> 5, "180" -> 5), in the base unit; for other numbers their written
 * rounding. A two-digit number's zero is a digit ("40 °C" is not "about 37 °C"). */
static double zeros_half(const cns_qty *q)
{
    double w = fabs(q->written);
    if (!(q->whalf > 0) || w < 100 || w > 1e15 || w != floor(w) || fmod(w, 10) != 0)
        return q->half;
    return fmax(q->half, 5 * q->half / q->whalf); /* whalf -> half is the unit's scale */
}

bool cns_qty_agree(const cns_qty *x, const cns_qty *y)
{
    if (x->dim != y->dim) {
        if (x->dim == CNS_DIM_NONE && y->dim != CNS_DIM_YEAR)
            return bare_agrees(x, y);
        if (y->dim == CNS_DIM_NONE && x->dim != CNS_DIM_YEAR)
            return bare_agrees(y, x);
        return false;
    }
    /* a range agrees with what falls in it, widened by the coarser rounding ("2-3 L" / "2.5 L") */
    if (x->hi > x->value || y->hi > y->value) {
        double tol = fmax(x->half, y->half) + 1e-9 * fmax(1.0, fabs(x->value));
        return x->value - tol <= fmax(y->hi, y->value) && y->value - tol <= fmax(x->hi, x->value);
    }
    double d = fabs(x->value - y->value);
    double mag = fmax(fabs(x->value), fabs(y->value));
    if (d <= 1e-9 * fmax(1.0, mag))
        return true;
    if (x->dim == CNS_DIM_YEAR)
        return false;
    double half = fmax(x->half, y->half); /* the coarser of the two as written */
    double rel = mag > 0 ? d / mag : 0;
    bool same_unit = x->unit == y->unit;
    double cap = (x->approx || y->approx) ? CNS_QTY_REL_HEDGED : CNS_QTY_REL_OTHER_UNIT;
    if (x->dim == CNS_DIM_TEMP) {
        /* absolute in °C: rounding of either, at most 1 °C apart; in different units one is
         * a rounded conversion, so trailing zeros are rounding too, at most 5 °C apart */
        if (!same_unit)
            return d <= fmax(fmax(zeros_half(x), zeros_half(y)), CNS_QTY_TEMP_CONVERTED_HALF_C) +
                            1e-9 &&
                   d <= CNS_QTY_TEMP_OTHER_UNIT_MAX_C;
        return d <= half + 1e-9 && d <= CNS_QTY_TEMP_MAX_C;
    }
    if (same_unit && !x->approx && !y->approx)
        return d <= half + 1e-9 * fmax(1.0, mag) && rel <= CNS_QTY_REL_SAME_UNIT;
    /* different units: one of the two is a conversion rounded in its own unit ("3.5 kg" /
     * "7.5 pounds"), so the written digits cannot match: at most 5% apart (10% hedged) */
    if (!same_unit)
        return rel <= cap;
    /* a hedge in one unit: the rounding of either, capped at 10% */
    return d <= half + 1e-9 * fmax(1.0, mag) ? rel <= cap : rel <= CNS_QTY_REL_ANY;
}

/* ---- refusals ------------------------------------------------------------------- */

/* Whether text (case-folded, typographic apostrophe read as ') holds one of
 * the phrases as whole words, starting within max_start bytes; a phrase
 * ending "i can" also matches "i can't". */
static bool has_phrase(const char *text, const char *const *pats, size_t npats, size_t max_start)
{
    char buf[400];
    size_t o = 0;
    for (const char *p = text; *p && o < sizeof buf - 1; p++) {
        if (!strncmp(p, "\xe2\x80\x99", 3)) {
            buf[o++] = '\'';
            p += 2;
            continue;
        }
        buf[o++] = (char)tolower((unsigned char)*p);
    }
    buf[o] = '\0';
    for (size_t i = 0; i < npats; i++) {
        size_t pl = strlen(pats[i]);
        for (const char *h = strstr(buf, pats[i]); h; h = strstr(h + 1, pats[i])) {
            /* whole words only: "was an air force" is not "as an ai" */
            bool start = h == buf || !isalnum((unsigned char)h[-1]);
            bool prefix =
                pl >= 5 && !strcmp(pats[i] + pl - 5, "i can"); /* ... i can't / i cannot */
            bool end = prefix || !isalnum((unsigned char)h[pl]);
            if (start && end && (size_t)(h - buf) <= max_start)
                return true;
        }
    }
    return false;
}

bool cns_is_refusal(const char *text)
{
    static const char *const pats[] = {
        "i can't help",
        "i cannot help",
        "i can't assist",
        "i cannot assist",
        "i can't provide",
        "i cannot provide",
        "i'm unable to",
        "i am unable to",
        "i'm not able to",
        "i am not able to",
        "i won't be able to",
        "i can't answer",
        "i cannot answer",
        "i can't do that",
        "i must decline",
        "i can't comply",
        "i cannot comply",
        "i'm sorry, but i can",
        "i apologize, but i can",
        "as an ai",
        "as a language model",
        "i'm just an ai",
        "i am just an ai",
        "i can't fulfill",
        "i cannot fulfill",
        "i'm not comfortable",
        "i do not feel comfortable",
        "i can't share",
        "i cannot share",
        "i won't help",
        "i will not help",
        "i can not help",
        "i can't discuss",
        "i cannot discuss",
        "as a large language model",
        "as an artificial intelligence",
        "i won't provide",
        "i will not provide",
        "i'm afraid i can",
        "unfortunately, i can't",
        "unfortunately, i cannot",
        "i don't have the ability",
        "i do not have the ability",
        "i'm not allowed to",
        "i am not allowed to",
        "i can't give",
        "i cannot give",
    };
    return has_phrase(text, pats, sizeof pats / sizeof pats[0], SIZE_MAX);
}

size_t cns_count_words(const char *s, size_t n)
{
    size_t words = 0;
    for (size_t i = 0; i < n; i++)
        words += !isspace((unsigned char)s[i]) && (i == 0 || isspace((unsigned char)s[i - 1]));
    return words;
}

bool cns_is_nonanswer(const char *text)
{
    static const char *const pats[] = {
        "i don't know",
        "i do not know",
        "i'm not sure",
        "i am not sure",
        "i'm not certain",
        "i am not certain",
        "i can't say",
        "i cannot say",
        "i can't be sure",
        "i cannot be sure",
        "i have no information",
        "it is not possible to say",
        "it's not possible to say",
        "it is impossible to say",
        "it's impossible to say",
        "there is no way to know",
        "i'm unsure",
        "i am unsure",
        "i dont know",
        "i can not say",
        "no idea",
        "not sure",
        "cannot be determined",
        "can't be determined",
        "unable to determine",
        "i don't have",
        "i do not have",
        "i can't predict",
        "i cannot predict",
        "i can not predict",
        "it's impossible to predict",
        "it is impossible to predict",
        "it's impossible to know",
        "it is impossible to know",
        "no one can predict",
        "nobody can predict",
        "i have no comment",
        "no comment",
        "i'd rather not say",
        "i would rather not say",
        "i prefer not to say",
        "i decline to comment",
    };
    /* "I'm not sure." / "Honestly, I don't know": the sentence opens with it */
    return has_phrase(text, pats, sizeof pats / sizeof pats[0], CNS_NONANSWER_MAX_START);
}
