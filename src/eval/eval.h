/*
 * eval — question-answering sets, grading, and the statistics that say
 * whether the council's consensus number means anything.
 *
 *     eval_set set;
 *     if (eval_load("../shared/eval/nq-open-dev-a.jsonl", &set)) die(dx_errmsg());
 *     bool ok = eval_grade(&set.items[0], "It was in December 1972.");
 *     eval_set_free(&set);
 *
 * Formats (chosen by content): NQ-open style JSONL {"question", "answer": [..]}
 * (correct when the normalised answer contains an accepted one), GSM8K JSONL
 * {"question", "answer": "... #### 18"} (correct when the last number equals),
 * TruthfulQA CSV (Question, Best Answer, Correct Answers, Incorrect Answers;
 * correct when closer to a correct reference than to every incorrect one).
 */
#ifndef DX_EVAL_H
#define DX_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"

typedef enum eval_kind { EVAL_SHORT_ANSWER, EVAL_MATH, EVAL_TRUTHFUL } eval_kind;

typedef struct eval_item {
    const char *question;
    const char **correct; /* accepted answers (math: the one number) */
    size_t n_correct;
    const char **incorrect; /* TruthfulQA only */
    size_t n_incorrect;
} eval_item;

typedef struct eval_set {
    eval_kind kind;
    const char *format; /* "nq-open jsonl", "gsm8k jsonl", "truthfulqa csv" */
    eval_item *items;
    size_t n;
    arena mem;
} eval_set;

/* Read a set from a file (bounded by DX_MAX_EVAL_BYTES); DX_EFORMAT names the
 * line that is wrong. */
dx_status eval_load(const char *path, eval_set *out);
dx_status eval_parse(const char *text, size_t len, const char *name, eval_set *out);
void eval_set_free(eval_set *s);

/* Is `answer` correct for item under the set's convention? */
bool eval_grade(eval_kind kind, const eval_item *item, const char *answer);

/* Lower-case, drop punctuation and the articles a/an/the, fold spaces (the
 * standard SQuAD/NQ normalisation); returns a malloc'd string or NULL. */
char *eval_normalize(const char *s);

/* Wilson score interval for k successes in n trials at 95%. */
void eval_wilson(size_t k, size_t n, double *lo, double *hi);

/* Area under the ROC curve of `score` as a predictor of `label` (ties count
 * half); -1 when either class is empty. */
double eval_auroc(const double *score, const bool *label, size_t n);

/* 95% interval of an AUROC `auc` measured on `pos` positives and `neg`
 * negatives (Hanley & McNeil 1982 standard error), clipped to 0..1. */
void eval_auroc_interval(double auc, size_t pos, size_t neg, double *lo, double *hi);

#endif
