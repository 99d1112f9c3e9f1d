#include "eval/eval.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/limits.h"
#include "core/str.h"

/* ---- normalisation and grading ------------------------------------------ */

char *eval_normalize(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *w = out;
    if (!out)
        return NULL;
    const char *p = s;
    bool space = true; /* collapse leading spaces */
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || c >= 0x80) {
            /* a word: copy it lower-cased, then drop it if it is an article */
            char *start = w;
            while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80))
                *w++ = (char)tolower((unsigned char)*p++);
            size_t len = (size_t)(w - start);
            if ((len == 1 && start[0] == 'a') || (len == 2 && !memcmp(start, "an", 2)) ||
                (len == 3 && !memcmp(start, "the", 3))) {
                w = start;
                continue;
            }
            *w++ = ' ';
            space = true;
            continue;
        }
        p++; /* punctuation and spaces separate words */
        (void)space;
    }
    if (w > out && w[-1] == ' ')
        w--;
    *w = '\0';
    return out;
}

/* Does normalised haystack contain normalised needle on word boundaries? */
static bool contains_words(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl)
        return false;
    for (const char *p = hay; (p = strstr(p, needle)); p++) {
        bool left = p == hay || p[-1] == ' ';
        bool right = p[nl] == '\0' || p[nl] == ' ';
        if (left && right)
            return true;
    }
    return false;
}

/* The last number in a text ("1,234.50" -> 1234.5); false if none. */
static bool last_number(const char *s, double *out)
{
    bool found = false;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            continue;
        bool neg = p > s && p[-1] == '-';
        char buf[64];
        size_t n = 0;
        while (*p && (isdigit((unsigned char)*p) || *p == ',' || *p == '.') && n < sizeof buf - 1) {
            if (*p != ',')
                buf[n++] = *p;
            p++;
        }
        while (n && buf[n - 1] == '.')
            n--; /* a sentence's full stop */
        buf[n] = '\0';
        *out = strtod(buf, NULL) * (neg ? -1 : 1);
        found = true;
        if (!*p)
            break;
    }
    return found;
}

/* Token-overlap F1 between two normalised texts. */
static double overlap_f1(const char *a, const char *b)
{
    char *x = strdup(a), *y = strdup(b);
    double f1 = 0;
    if (!x || !y)
        goto out;
    const char *tx[256], *ty[256];
    size_t nx = 0, ny = 0;
    for (char *t = strtok(x, " "); t && nx < 256; t = strtok(NULL, " "))
        tx[nx++] = t;
    for (char *t = strtok(y, " "); t && ny < 256; t = strtok(NULL, " "))
        ty[ny++] = t;
    if (!nx || !ny)
        goto out;
    bool used[256] = {0};
    size_t common = 0;
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++)
            if (!used[j] && !strcmp(tx[i], ty[j])) {
                used[j] = true;
                common++;
                break;
            }
    if (common) {
        double p = (double)common / nx, r = (double)common / ny;
        f1 = 2 * p * r / (p + r);
    }
out:
    free(x);
    free(y);
    return f1;
}

/* The best overlap F1 of a normalized answer with any of n references. */
static double best_f1(const char *a, const char *const *refs, size_t n)
{
    double best = 0;
    for (size_t i = 0; i < n; i++) {
        char *c = eval_normalize(refs[i]);
        if (c) {
            double f = overlap_f1(a, c);
            best = f > best ? f : best;
        }
        free(c);
    }
    return best;
}

bool eval_grade(eval_kind kind, const eval_item *item, const char *answer)
{
    if (kind == EVAL_MATH) {
        double got, want;
        if (!item->n_correct || !last_number(answer, &got) || !last_number(item->correct[0], &want))
            return false;
        return fabs(got - want) < 1e-6 * (fabs(want) > 1 ? fabs(want) : 1);
    }
    char *a = eval_normalize(answer);
    if (!a)
        return false;
    bool ok = false;
    if (kind == EVAL_SHORT_ANSWER) {
        for (size_t i = 0; i < item->n_correct && !ok; i++) {
            char *c = eval_normalize(item->correct[i]);
            ok = c && contains_words(a, c);
            free(c);
        }
    } else {
        ok = best_f1(a, item->correct, item->n_correct) >
             best_f1(a, item->incorrect, item->n_incorrect);
    }
    free(a);
    return ok;
}

/* ---- statistics ---------------------------------------------------------- */

void eval_wilson(size_t k, size_t n, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    const double z = 1.959963984540054, p = (double)k / n, z2 = z * z;
    double centre = (p + z2 / (2.0 * n)) / (1 + z2 / n);
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
    *lo = centre - half < 0 ? 0 : centre - half;
    *hi = centre + half > 1 ? 1 : centre + half;
}

void eval_auroc_interval(double auc, size_t pos, size_t neg, double *lo, double *hi)
{
    *lo = 0;
    *hi = 1;
    if (!pos || !neg || auc < 0)
        return;
    double q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc), p = (double)pos, n = (double)neg;
    double var =
        (auc * (1 - auc) + (p - 1) * (q1 - auc * auc) + (n - 1) * (q2 - auc * auc)) / (p * n);
    double se = var > 0 ? sqrt(var) : 0;
    *lo = auc - 1.959963984540054 * se < 0 ? 0 : auc - 1.959963984540054 * se;
    *hi = auc + 1.959963984540054 * se > 1 ? 1 : auc + 1.959963984540054 * se;
}

double eval_auroc(const double *score, const bool *label, size_t n)
{
    /* the probability that a random positive scores above a random negative */
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++)
        label[i] ? pos++ : neg++;
    if (!pos || !neg)
        return -1;
    double wins = 0;
    for (size_t i = 0; i < n; i++) {
        if (!label[i])
            continue;
        for (size_t j = 0; j < n; j++) {
            if (label[j])
                continue;
            wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    return wins / ((double)pos * (double)neg);
}

/* ---- loading --------------------------------------------------------------- */

static dx_status add_item(eval_set *s, size_t *cap)
{
    if (s->n >= DX_MAX_EVAL_ITEMS)
        return dx_fail(DX_ELIMIT, "more than %u questions in one set", DX_MAX_EVAL_ITEMS);
    dx_status st = arena_grow(NULL, &s->items, s->n, cap, sizeof *s->items, 256);
    if (st)
        return st;
    memset(&s->items[s->n], 0, sizeof s->items[0]);
    s->n++;
    return DX_OK;
}

static dx_status parse_jsonl(const char *text, size_t len, const char *name, eval_set *s)
{
    size_t cap = 0, line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < le && isspace((unsigned char)*q))
            q++;
        if (q == le) {
            p = le + 1;
            continue;
        }
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(le - p), 0, &err);
        const char *question = o ? json_string_value(json_object_get(o, "question")) : NULL;
        json_t *ans = o ? json_object_get(o, "answer") : NULL;
        if (!o || !json_is_object(o) || !question || !(json_is_string(ans) || json_is_array(ans))) {
            json_decref(o);
            return dx_fail(DX_EFORMAT,
                           "%s:%zu: expected {\"question\": \"...\", \"answer\": ...}%s%s", name,
                           line, o ? "" : ": ", o ? "" : err.text);
        }
        dx_status st = add_item(s, &cap);
        if (st) {
            json_decref(o);
            return st;
        }
        eval_item *it = &s->items[s->n - 1];
        it->question = arena_strdup(&s->mem, question);
        if (json_is_string(ans)) {
            /* GSM8K: a worked solution ending in "#### <number>" */
            const char *a = json_string_value(ans), *h = strstr(a, "####");
            if (!h) {
                json_decref(o);
                return dx_fail(DX_EFORMAT, "%s:%zu: a string answer must end with '#### <number>'",
                               name, line);
            }
            s->kind = EVAL_MATH;
            it->correct = arena_alloc(&s->mem, sizeof *it->correct);
            if (it->correct)
                it->correct[0] = arena_strdup(&s->mem, h + 4);
            it->n_correct = 1;
        } else {
            size_t n = json_array_size(ans);
            it->correct = arena_alloc_array(&s->mem, n ? n : 1, sizeof *it->correct);
            for (size_t i = 0; it->correct && i < n; i++) {
                const char *v = json_string_value(json_array_get(ans, i));
                if (v)
                    it->correct[it->n_correct++] = arena_strdup(&s->mem, v);
            }
        }
        json_decref(o);
        if (!it->question || !it->correct)
            return dx_fail(DX_ENOMEM, "out of memory");
        p = le + 1;
    }
    s->format = s->kind == EVAL_MATH ? "gsm8k jsonl" : "nq-open jsonl";
    return DX_OK;
}

/* One CSV record (RFC 4180: quotes, doubled quotes, newlines inside quotes).
 * Fields are written into arena copies; returns the number of fields. */
static dx_status csv_record(const char **pp, const char *end, arena *a, char **fields, size_t max,
                            size_t *nf)
{
    const char *p = *pp;
    *nf = 0;
    dx_buf f = dx_buf_make(DX_MAX_ANSWER_BYTES);
    dx_status st = DX_OK;
    for (;;) {
        dx_buf_clear(&f);
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    st = dx_fail(DX_EFORMAT, "a quoted field is not closed");
                    goto out;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if ((st = dx_buf_putc(&f, '"')))
                            goto out;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if ((st = dx_buf_putc(&f, *p++)))
                    goto out;
            }
        } else {
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                if ((st = dx_buf_putc(&f, *p++)))
                    goto out;
        }
        if (*nf == max) {
            st = dx_fail(DX_EFORMAT, "more than %zu fields", max);
            goto out;
        }
        fields[(*nf)++] = arena_strndup(a, f.data ? f.data : "", f.len);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        break;
    }
out:
    dx_buf_free(&f);
    *pp = p;
    return st;
}

/* "a; b; c" -> array of trimmed parts */
static const char **split_semis(arena *a, const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ';';
    const char **out = arena_alloc_array(a, cap, sizeof *out);
    *n = 0;
    if (!out)
        return NULL;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ';');
        if (!e)
            e = p + strlen(p);
        const char *b = p;
        while (b < e && isspace((unsigned char)*b))
            b++;
        const char *t = e;
        while (t > b && isspace((unsigned char)t[-1]))
            t--;
        if (t > b)
            out[(*n)++] = arena_strndup(a, b, (size_t)(t - b));
        p = *e ? e + 1 : e;
    }
    return out;
}

static dx_status parse_csv(const char *text, size_t len, const char *name, eval_set *s)
{
    const char *p = text, *end = text + len;
    char *f[16];
    size_t nf, cap = 0, rec = 1;
    dx_status st = csv_record(&p, end, &s->mem, f, 16, &nf);
    if (st)
        return dx_wrap(st, "%s: header", name);
    int iq = -1, ic = -1, ii = -1, ib = -1;
    for (size_t i = 0; i < nf; i++) {
        if (!f[i])
            return dx_fail(DX_ENOMEM, "out of memory");
        if (!strcmp(f[i], "Question"))
            iq = (int)i;
        else if (!strcmp(f[i], "Correct Answers"))
            ic = (int)i;
        else if (!strcmp(f[i], "Incorrect Answers"))
            ii = (int)i;
        else if (!strcmp(f[i], "Best Answer"))
            ib = (int)i;
    }
    if (iq < 0 || ic < 0 || ii < 0)
        return dx_fail(DX_EFORMAT,
                       "%s: a CSV set needs the columns Question, Correct Answers and "
                       "Incorrect Answers (TruthfulQA's)",
                       name);
    while (p < end) {
        rec++;
        if ((st = csv_record(&p, end, &s->mem, f, 16, &nf)))
            return dx_wrap(st, "%s: record %zu", name, rec);
        if (nf == 1 && f[0] && !f[0][0])
            continue; /* blank line */
        if ((int)nf <= iq || (int)nf <= ic || (int)nf <= ii)
            return dx_fail(DX_EFORMAT, "%s: record %zu has %zu fields", name, rec, nf);
        if ((st = add_item(s, &cap)))
            return st;
        eval_item *it = &s->items[s->n - 1];
        it->question = f[iq];
        it->correct = split_semis(&s->mem, f[ic], &it->n_correct);
        it->incorrect = split_semis(&s->mem, f[ii], &it->n_incorrect);
        if (ib >= 0 && it->n_correct == 0 && f[ib] && f[ib][0]) {
            it->correct = split_semis(&s->mem, f[ib], &it->n_correct);
        }
        if (!it->question || !it->correct || !it->incorrect)
            return dx_fail(DX_ENOMEM, "out of memory");
    }
    s->kind = EVAL_TRUTHFUL;
    s->format = "truthfulqa csv";
    return DX_OK;
}

dx_status eval_parse(const char *text, size_t len, const char *name, eval_set *out)
{
    memset(out, 0, sizeof *out);
    out->mem = arena_make(1 << 20, 2 * (size_t)DX_MAX_EVAL_BYTES);
    out->kind = EVAL_SHORT_ANSWER;
    const char *p = text;
    while (p < text + len && isspace((unsigned char)*p))
        p++;
    dx_status st = p < text + len && *p == '{' ? parse_jsonl(text, len, name, out)
                                               : parse_csv(text, len, name, out);
    if (!st && out->n == 0)
        st = dx_fail(DX_EFORMAT, "%s: no questions", name);
    if (st)
        eval_set_free(out);
    return st;
}

dx_status eval_load(const char *path, eval_set *out)
{
    char *text;
    size_t len;
    dx_status st = dx_read_file(path, DX_MAX_EVAL_BYTES, &text, &len);
    if (st)
        return st;
    st = eval_parse(text, len, path, out);
    free(text);
    return st;
}

void eval_set_free(eval_set *s)
{
    free(s->items);
    s->items = NULL;
    s->n = 0;
    arena_free(&s->mem);
}
