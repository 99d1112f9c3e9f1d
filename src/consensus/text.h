/*
 * text — the consensus module's text layer: markdown to claims, claims to
 * comparable features (stems, quantities, names, polarity).
 *
 *     cns_span *sp; size_t n;
 *     cns_markdown_split(md, strlen(md), &a, &sp, &n);
 *     cns_features f;
 *     cns_text_features(sp[0].text, &a, &f);   // stems, quantities, negation
 *
 * Internal to src/consensus (and its tests). Everything lives in the arena.
 */
#ifndef DX_CNS_TEXT_H
#define DX_CNS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"

typedef enum cns_span_kind {
    CNS_SPAN_SENTENCE,
    CNS_SPAN_ITEM,
    CNS_SPAN_ROW,
} cns_span_kind;

typedef struct cns_span {
    const char *text; /* markdown markup removed, trimmed */
    cns_span_kind kind;
} cns_span;

/* Splits markdown into claim candidates: sentences of prose, list items
 * (split further into sentences), table rows ("first cell — header: cell").
 * Headings, rules, fences and filler ("I hope this helps") are dropped.
 * At most DX_CNS_MAX_CLAIMS spans; DX_ENOMEM on arena exhaustion. */
dx_status cns_markdown_split(const char *md, size_t len, arena *a, cns_span **out, size_t *n);

/* One atomic claim of a sentence: text is the claim (the part, with the
 * sentence's subject in front when the part continues it: "Paris is the
 * capital and is its largest city" -> "Paris is the capital", "Paris is its
 * largest city"); said is the part as written, for its evidence. */
typedef struct cns_atom {
    const char *text;
    const char *said;
} cns_atom;

/* Splits a sentence (a claim candidate, markup removed) into at most max
 * atomic claims in out, in order; *n >= 1 when max >= 1 (a sentence that
 * cannot be split safely is one part, text == said == s). Parts are cut at
 * "and", "but" and (after a comma) "yet", "whereas", "while", "although",
 * "though" only where both sides are statements (docs/consensus.md §2).
 * Strings live in a (s itself for an unsplit sentence); DX_ENOMEM only. */
dx_status cns_atoms_split(const char *s, arena *a, cns_atom *out, size_t max, size_t *n);

/* An answer indexed for finding its claims' evidence: its characters without
 * whitespace and markup, each with its byte offset in raw. */
typedef struct cns_source {
    const char *raw;
    char *text;    /* squeezed characters, NUL-terminated */
    unsigned *pos; /* offset in raw of each */
    size_t len;
    size_t from; /* where the next claim is looked for first */
} cns_source;

/* Indexes raw (NUL-terminated) into out; everything in a. DX_ENOMEM only. */
dx_status cns_source_index(const char *raw, arena *a, cns_source *out);

/* The bytes of src->raw that state the claim (its markup kept), copied into
 * a; NULL when the claim is not found there. A table row (row) is found by
 * its first cell and its evidence is the row as written. */
const char *cns_evidence_find(cns_source *src, const char *claim, bool row, arena *a);

/* Dimensions of quantities; values are converted to one base unit each. */
enum {
    CNS_DIM_NONE,
    CNS_DIM_YEAR,
    CNS_DIM_PERCENT,
    CNS_DIM_LENGTH,
    CNS_DIM_MASS,
    CNS_DIM_TEMP,
    CNS_DIM_TIME,
    CNS_DIM_VOLUME,
    CNS_DIM_SPEED,
    CNS_DIM_DATA,
    CNS_DIM_ENERGY,
    CNS_DIM_USD,
    CNS_DIM_EUR,
    CNS_DIM_GBP,
    CNS_DIM_PRESSURE,
    CNS_DIM_COUNT
};

typedef struct cns_qty {
    double value;   /* in the dimension's base unit */
    double written; /* the number as written, before unit conversion */
    double whalf;   /* half a unit of its last digit, as written */
    double half;    /* half a unit of the last written digit, base unit */
    int dim;
    int unit;    /* which unit it was written in (same unit: stricter) */
    bool approx; /* "about", "~", "roughly" ... */
    double hi;   /* a range ("2-3 L", "5 to 10 minutes"): its upper end; else <= value */
} cns_qty;

enum {
    CNS_TOK_NAME = 1,    /* capitalised mid-sentence, acronym, or CamelCase */
    CNS_TOK_NEGATED = 2, /* the word a negation applies to ("not SAFE", "UNSAFE") */
};

typedef struct cns_tok {
    const char *stem;
    unsigned flags;
} cns_tok;

typedef struct cns_features {
    cns_tok *toks; /* content stems, sorted by stem, unique */
    size_t n_tok;
    cns_qty *qty;
    size_t n_qty;
    int neg;     /* count of negations (not, never, n't, antonym flips) */
    int verdict; /* +1 starts with "yes", -1 with "no,", 0 otherwise */
} cns_features;

/* Features of one claim: NFKC + casefold (utf8proc), stop words out, Porter
 * stems, numbers with units normalised. Invalid UTF-8 bytes are skipped. */
dx_status cns_text_features(const char *text, arena *a, cns_features *f);

/* Porter stemmer on a lowercase ASCII word in place; returns the new length. */
size_t cns_stem(char *w, size_t len);

/* Whether two quantities of one dimension state the same amount, within the
 * precision they were written with (docs/consensus.md, "Numbers"). */
bool cns_qty_agree(const cns_qty *x, const cns_qty *y);

/* Whether a sentence reads like a refusal ("I can't help with that",
 * "As an AI language model ..."). */
bool cns_is_refusal(const char *text);

/* Whether a sentence says the member does not know ("I'm not sure", "I
 * cannot say"): a non-answer, never a claim and never a side of a dispute. */
bool cns_is_nonanswer(const char *text);

/* The words of s[0..n): runs of characters between ASCII white space. */
size_t cns_count_words(const char *s, size_t n);

/* Whether a stem is an English stop word (expects a casefolded word). */
bool cns_is_stopword(const char *w);

#endif
