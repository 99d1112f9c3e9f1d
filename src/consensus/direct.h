/*
 * direct — the direct answer of each member, when the question asks for one thing.
 *
 * A question such as "Who wrote Hamlet?", "How long is a marathon?" or "Is a tomato a fruit?"
 * asks for one thing: a name, an amount, a date, yes or no. This module finds that thing in
 * each answer, normalises it (units, number words, dates, case, diacritics, articles, a few
 * common aliases) and compares two of them, so the analysis can count "Shakespeare" and
 * "William Shakespeare wrote it" as one answer and 42 km against 30 km as a dispute. Pure
 * text processing: no model is called. Method: docs/consensus.md, "Direct answers".
 *
 *     cns_qkind k = cns_direct_classify(question);          // CNS_Q_OPEN: nothing to do
 *     cns_direct x, y;
 *     cns_direct_extract(question, k, text_a, &a, &x);      // x.type == CNS_DV_NONE: no answer
 *     cns_direct_extract(question, k, text_b, &a, &y);
 *     if (cns_direct_compare(question, &x, &y) == CNS_DIRECT_DIFFERENT) ...
 *     // x.span: the words of text_a that state it (text_a + x.start, x.len bytes)
 *
 * Internal to src/consensus (and its tests). Strings live in the arena; no global state,
 * so separate arenas may be used from separate threads.
 */
#ifndef DX_CNS_DIRECT_H
#define DX_CNS_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "consensus/text.h"
#include "core/arena.h"
#include "core/status.h"

/* What a question asks for. Everything but CNS_Q_OPEN asks for one thing. */
typedef enum cns_qkind {
    CNS_Q_OPEN,   /* why/how-to/explain, lists, "name a ...", several things */
    CNS_Q_WHO,    /* who wrote/discovered/was ... */
    CNS_Q_WHAT,   /* what is the capital of ..., what does X stand for, what is 17 × 23 */
    CNS_Q_WHICH,  /* which ocean ..., "is it X or Y?" */
    CNS_Q_WHERE,  /* where is ... */
    CNS_Q_WHEN,   /* when / what year / what date */
    CNS_Q_COUNT,  /* how many */
    CNS_Q_AMOUNT, /* how long/far/much/tall/old/fast/often ..., what temperature ... */
    CNS_Q_YESNO,  /* is/are/do/can/should ... without alternatives */
} cns_qkind;

/* The kind of value a direct answer holds. */
typedef enum cns_dvtype {
    CNS_DV_NONE,   /* no direct answer: refusal, "I don't know", empty, not found */
    CNS_DV_YESNO,  /* yes (+1) or no (-1) */
    CNS_DV_NUMBER, /* an amount with its unit (or a bare count) */
    CNS_DV_DATE,   /* a year, month and day as far as stated */
    CNS_DV_ENTITY, /* a name or a noun phrase */
} cns_dvtype;

typedef struct cns_direct {
    cns_dvtype type;
    size_t start, len;           /* the verbatim bytes of the member's text that state it */
    size_t sent_start, sent_len; /* the sentence (list item, table row) holding them */
    const char *span;            /* text + start, len bytes, NUL-terminated (arena) */
    const char *sentence;        /* text + sent_start, sent_len bytes, NUL-terminated (arena) */
    const char *value;           /* normalised, printable: "yes", "42195 m", "1776-07-04" */
    int yes;                     /* CNS_DV_YESNO: +1 or -1 */
    /* CNS_DV_NUMBER: qty as text.h reads it (value in the base unit of qty.dim, its rounding,
     * hedge); hi > qty.value for a range ("7 to 9 hours"), else hi == qty.value. */
    cns_qty qty;
    double hi;
    /* CNS_DV_DATE: year (negative BC); month 1..12 and day 1..31, 0 when not stated */
    int year, month, day;
} cns_direct;

typedef enum cns_direct_cmp {
    CNS_DIRECT_UNKNOWN,   /* cannot tell: a side has no answer, or the values do not compare */
    CNS_DIRECT_SAME,      /* the same answer */
    CNS_DIRECT_DIFFERENT, /* different answers to the same question */
} cns_direct_cmp;

/* The kind of thing a question asks for (see cns_qkind). NULL or empty: CNS_Q_OPEN. Reads at
 * most DX_MAX_QUESTION_BYTES. Never fails. */
cns_qkind cns_direct_classify(const char *question);

/* Name of a kind for JSON and logs ("who", "how many", "yes/no", "open", ...). Never NULL. */
const char *cns_direct_qkind_str(cns_qkind k);

/* Finds the direct answer to question (of kind k) in one member's answer text (markdown).
 * Reads at most DX_CNS_MAX_DIRECT_SCAN bytes of text; *out->type is CNS_DV_NONE when the
 * text gives no direct answer (or k is CNS_Q_OPEN). Strings go to a; DX_ENOMEM when it is
 * full (then *out is CNS_DV_NONE). question may be NULL. */
dx_status cns_direct_extract(const char *question, cns_qkind k, const char *text, arena *a,
                             cns_direct *out);

/* Whether two direct answers are the same. Names compare after normalisation, by an alias
 * table and by containment ("Shakespeare" / "William Shakespeare"), ignoring words of the
 * question ("Pacific Ocean" / "Atlantic Ocean" differ on "ocean"'s question); amounts within
 * the precision they were written with; dates at the precision both state. question may be
 * NULL. Never fails. */
cns_direct_cmp cns_direct_compare(const char *question, const cns_direct *x, const cns_direct *y);

/* Groups n direct answers: group[i] = the index of the first answer the same as answer i
 * (i itself when none before it is), -1 for CNS_DV_NONE. Returns the number of groups. */
size_t cns_direct_group(const char *question, const cns_direct *d, size_t n, int *group);

#endif
