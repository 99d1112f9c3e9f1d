/*
 * stem — the Porter (1980) suffix-stripping algorithm for English words,
 * written for drux from the published description of its five steps.
 * Works in place on a lowercase ASCII word.
 */
#include <stdbool.h>
#include <string.h>

#include "consensus/text.h"

typedef struct stemmer {
    char *b;
    int k; /* index of the last letter */
    int j; /* end of the stem when a suffix matched */
} stemmer;

static bool is_cons(const stemmer *z, int i)
{
    switch (z->b[i]) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
        return false;
    case 'y':
        return i == 0 ? true : !is_cons(z, i - 1);
    default:
        return true;
    }
}

/* Moves *i past the letters of b[*i..j] that are consonants (cons) or vowels (!cons); false
 * when it runs past j. */
static bool skip_run(const stemmer *z, int *i, bool cons)
{
    for (; *i <= z->j; (*i)++)
        if (is_cons(z, *i) != cons)
            return true;
    return false;
}

/* Number of vowel-consonant sequences in b[0..j]: [C](VC)^m[V]. */
static int measure(const stemmer *z)
{
    int n = 0, i = 0;
    if (!skip_run(z, &i, true))
        return n;
    i++;
    for (;;) {
        if (!skip_run(z, &i, false))
            return n;
        i++;
        n++;
        if (!skip_run(z, &i, true))
            return n;
        i++;
    }
}

static bool vowel_in_stem(const stemmer *z)
{
    for (int i = 0; i <= z->j; i++)
        if (!is_cons(z, i))
            return true;
    return false;
}

static bool double_cons(const stemmer *z, int i)
{
    return i >= 1 && z->b[i] == z->b[i - 1] && is_cons(z, i);
}

/* consonant-vowel-consonant ending at i, the last not w, x or y */
static bool cvc(const stemmer *z, int i)
{
    if (i < 2 || !is_cons(z, i) || is_cons(z, i - 1) || !is_cons(z, i - 2))
        return false;
    char c = z->b[i];
    return c != 'w' && c != 'x' && c != 'y';
}

static bool ends(stemmer *z, const char *s)
{
    int len = (int)strlen(s);
    if (len > z->k + 1 || memcmp(z->b + z->k - len + 1, s, (size_t)len) != 0)
        return false;
    z->j = z->k - len;
    return true;
}

static void set_to(stemmer *z, const char *s)
{
    int len = (int)strlen(s);
    memcpy(z->b + z->j + 1, s, (size_t)len);
    z->k = z->j + len;
}

static void replace_if_m(stemmer *z, const char *s)
{
    if (measure(z) > 0)
        set_to(z, s);
}

static void step1ab(stemmer *z)
{
    if (z->b[z->k] == 's') {
        if (ends(z, "sses"))
            z->k -= 2;
        else if (ends(z, "ies"))
            set_to(z, "i");
        else if (z->k >= 1 && z->b[z->k - 1] != 's')
            z->k--;
    }
    if (ends(z, "eed")) {
        if (measure(z) > 0)
            z->k--;
    } else if ((ends(z, "ed") || ends(z, "ing")) && vowel_in_stem(z)) {
        z->k = z->j;
        if (ends(z, "at"))
            set_to(z, "ate");
        else if (ends(z, "bl"))
            set_to(z, "ble");
        else if (ends(z, "iz"))
            set_to(z, "ize");
        else if (double_cons(z, z->k)) {
            char c = z->b[z->k];
            if (c != 'l' && c != 's' && c != 'z')
                z->k--;
        } else {
            z->j = z->k;
            if (measure(z) == 1 && cvc(z, z->k))
                set_to(z, "e");
        }
    }
}

static void step1c(stemmer *z)
{
    if (ends(z, "y") && vowel_in_stem(z))
        z->b[z->k] = 'i';
}

typedef struct rule {
    const char *from, *to;
} rule;

static void apply_rules(stemmer *z, const rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ends(z, r[i].from)) {
            replace_if_m(z, r[i].to);
            return;
        }
}

static void step2(stemmer *z)
{
    static const rule r[] = {
        {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},   {"anci", "ance"},
        {"izer", "ize"},    {"bli", "ble"},     {"alli", "al"},     {"entli", "ent"},
        {"eli", "e"},       {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
        {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"}, {"fulness", "ful"},
        {"ousness", "ous"}, {"aliti", "al"},    {"iviti", "ive"},   {"biliti", "ble"},
        {"logi", "log"},
    };
    if (z->k < 2)
        return;
    apply_rules(z, r, sizeof r / sizeof r[0]);
}

static void step3(stemmer *z)
{
    static const rule r[] = {
        {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
        {"ical", "ic"},  {"ful", ""},   {"ness", ""},
    };
    apply_rules(z, r, sizeof r / sizeof r[0]);
}

static void step4(stemmer *z)
{
    static const char *const sfx[] = {
        "al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement", "ment",
        "ent", "ion",  "ou",   "ism", "ate", "iti",  "ous",  "ive", "ize",
    };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        if (!ends(z, sfx[i]))
            continue;
        if (!strcmp(sfx[i], "ion") && !(z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')))
            return;
        if (measure(z) > 1)
            z->k = z->j;
        return;
    }
}

static void step5(stemmer *z)
{
    z->j = z->k;
    if (z->b[z->k] == 'e') {
        int m = measure(z);
        if (m > 1 || (m == 1 && !cvc(z, z->k - 1)))
            z->k--;
    }
    z->j = z->k;
    if (z->b[z->k] == 'l' && double_cons(z, z->k) && measure(z) > 1)
        z->k--;
}

size_t cns_stem(char *w, size_t len)
{
    if (len <= 2)
        return len;
    for (size_t i = 0; i < len; i++)
        if (w[i] < 'a' || w[i] > 'z')
            return len; /* only plain lowercase English words */
    stemmer z = {w, (int)len - 1, 0};
    step1ab(&z);
    if (z.k > 0) {
        step1c(&z);
        step2(&z);
        step3(&z);
        step4(&z);
        step5(&z);
    }
    w[z.k + 1] = '\0';
    return (size_t)z.k + 1;
}
