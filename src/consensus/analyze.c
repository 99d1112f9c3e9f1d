/*
 * analyze — claims to points: matching, conflicts, support, score, label.
 * The method and every threshold are documented in docs/consensus.md.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consensus/consensus.h"
#include "consensus/rules.h"
#include "consensus/text.h"
#include "core/limits.h"

enum { REL_NONE, REL_AGREE, REL_CONFLICT };

/* token flags set once the whole answer set is read (beside CNS_TOK_NAME) */
enum { TOK_IN_QUESTION = 1u << 8, TOK_NAME_ANYWHERE = 1u << 9 };

typedef struct claim {
    const char *text;
    int member;
    bool lead;     /* first claim of its answer */
    bool direct;   /* lead claim of a short answer (<= CNS_DIRECT_MAX_CLAIMS claims): answers the
                      question */
    bool prose;    /* a sentence of prose (not a list item or table row) */
    bool restates; /* carries at least half of the question's words */
    bool calc;     /* a worked calculation ("16 - 3 - 4 = 9"): its numbers are steps, not claims */
    cns_features f;
    cns_tok *ftoks; /* frame tokens: toks, plus the question's for direct claims */
    size_t n_ftok;
    float *vec;
} claim;

typedef struct point {
    int rep;
    uint64_t mask;
    int *by_member; /* claim index per member, -1 none */
    int comp;       /* union-find parent among points */
    bool disputed;
} point;

typedef struct ctx {
    arena *a;
    const cns_options *opt;
    cns_features q;
    claim *c;
    size_t nc;
    uint8_t *rel;
    uint8_t *sim; /* similarity * 255 */
    size_t nm;
    bool yesno;         /* the question asks yes or no ("Is ...?", "Can ...?") */
    bool many;          /* the question asks for several things ("What are ...", "some") */
    const char **names; /* name stems seen anywhere */
    size_t n_names;
} ctx;

static const char *const label_names[] = {"consensus", "partial", "disagree", "single_voice",
                                          "no_answer"};
static const char *const status_names[] = {"done", "failed", "timeout", "cancelled", "refused"};

const char *cns_label_str(cns_label l)
{
    return (unsigned)l < 5 ? label_names[l] : "no_answer";
}

const char *cns_status_str(cns_status s)
{
    return (unsigned)s < 5 ? status_names[s] : "failed";
}

static bool has_stem(const cns_tok *t, size_t n, const char *stem)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t[mid].stem, stem);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool is_name(const ctx *x, const char *stem)
{
    for (size_t i = 0; i < x->n_names; i++)
        if (!strcmp(x->names[i], stem))
            return true;
    return false;
}

static double tok_weight(const cns_tok *t)
{
    return (t->flags & TOK_IN_QUESTION) ? CNS_W_QUESTION_WORD : 1.0;
}

/* What two claims share. "new" is what a claim adds to the question: its words
 * the question lacks, its numbers, its verdict. */
typedef struct ov {
    double sim;          /* mean of Dice and overlap coefficient */
    double shared;       /* weight shared */
    double new_a, new_b; /* weight each adds to the question */
    double new_shared;   /* of that, shared */
    bool excl_a, excl_b; /* has a name the other lacks */
} ov;

/* Weighted overlap of two token sets: mean of Dice and overlap coefficient.
 * frame: names found in only one of the two are left out (they are the
 * values a frame holds), numbers are left out. */
static ov overlap(const claim *a, const claim *b, bool frame)
{
    const cns_tok *ta = frame ? a->ftoks : a->f.toks, *tb = frame ? b->ftoks : b->f.toks;
    size_t na = frame ? a->n_ftok : a->f.n_tok, nb = frame ? b->n_ftok : b->f.n_tok;
    ov o = {0};
    double S = 0, TA = 0, TB = 0;
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(ta[i].stem, tb[j].stem);
        if (c == 0) {
            double w = tok_weight(&ta[i]);
            S += w;
            TA += w;
            TB += w;
            if (w == 1.0) {
                o.new_shared += 1;
                o.new_a += 1;
                o.new_b += 1;
            }
            i++;
            j++;
        } else if (c < 0) {
            double w = tok_weight(&ta[i]);
            bool nm = (ta[i].flags & TOK_NAME_ANYWHERE) && w == 1.0;
            if (nm)
                o.excl_a = true;
            if (!(frame && nm))
                TA += w;
            if (w == 1.0)
                o.new_a += 1;
            i++;
        } else {
            double w = tok_weight(&tb[j]);
            bool nm = (tb[j].flags & TOK_NAME_ANYWHERE) && w == 1.0;
            if (nm)
                o.excl_b = true;
            if (!(frame && nm))
                TB += w;
            if (w == 1.0)
                o.new_b += 1;
            j++;
        }
    }
    if (!frame) {
        /* numbers that agree count as a shared word; others as words of their own */
        double ma = 0, mb = 0;
        for (size_t p = 0; p < a->f.n_qty; p++)
            for (size_t q = 0; q < b->f.n_qty; q++)
                if (cns_qty_agree(&a->f.qty[p], &b->f.qty[q])) {
                    ma += 1;
                    break;
                }
        for (size_t q = 0; q < b->f.n_qty; q++)
            for (size_t p = 0; p < a->f.n_qty; p++)
                if (cns_qty_agree(&a->f.qty[p], &b->f.qty[q])) {
                    mb += 1;
                    break;
                }
        S += (ma + mb) / 2;
        TA += (double)a->f.n_qty;
        TB += (double)b->f.n_qty;
        o.new_shared += (ma + mb) / 2;
        o.new_a += (double)a->f.n_qty;
        o.new_b += (double)b->f.n_qty;
    }
    if (a->lead && b->lead && (a->f.verdict || b->f.verdict)) {
        if (a->f.verdict == b->f.verdict) {
            S += 1;
            o.new_shared += 1;
        }
        if (a->f.verdict) {
            TA += 1;
            o.new_a += 1;
        }
        if (b->f.verdict) {
            TB += 1;
            o.new_b += 1;
        }
    }
    o.shared = S;
    if (TA > 0 && TB > 0)
        o.sim = (2 * S / (TA + TB) + S / fmin(TA, TB)) / 2;
    return o;
}

/* Some dimension both claims state, with no value of one agreeing with the other's. */
static bool numbers_conflict(const claim *a, const claim *b)
{
    for (size_t p = 0; p < a->f.n_qty; p++) {
        int dim = a->f.qty[p].dim;
        bool b_has = false, agree = false;
        for (size_t q = 0; q < b->f.n_qty; q++) {
            if (b->f.qty[q].dim != dim)
                continue;
            b_has = true;
            for (size_t r = 0; r < a->f.n_qty && !agree; r++)
                if (a->f.qty[r].dim == dim && cns_qty_agree(&a->f.qty[r], &b->f.qty[q]))
                    agree = true;
        }
        if (b_has && !agree)
            return true;
    }
    /* one number each, one of them bare: "The answer is 18" vs "She makes $20" */
    if (a->f.n_qty == 1 && b->f.n_qty == 1) {
        const cns_qty *p = &a->f.qty[0], *q = &b->f.qty[0];
        if (p->dim != q->dim && (p->dim == CNS_DIM_NONE || q->dim == CNS_DIM_NONE) &&
            p->dim != CNS_DIM_YEAR && q->dim != CNS_DIM_YEAR)
            return !cns_qty_agree(p, q);
    }
    return false;
}

static float cosine(const ctx *x, const claim *a, const claim *b)
{
    if (!a->vec || !b->vec)
        return 0;
    double s = 0;
    for (size_t i = 0; i < x->opt->embed_dim; i++)
        s += (double)a->vec[i] * b->vec[i];
    return (float)s;
}

/* Whether a word the negated claim negates is a word the other claim says. */
static bool negation_meets(const claim *neg, const claim *other)
{
    for (size_t i = 0; i < neg->f.n_tok; i++)
        if ((neg->f.toks[i].flags & CNS_TOK_NEGATED) &&
            has_stem(other->f.toks, other->f.n_tok, neg->f.toks[i].stem))
            return true;
    return false;
}

static int relate(const ctx *x, const claim *a, const claim *b, double *sim_out)
{
    ov o = overlap(a, b, false);
    ov fr = overlap(a, b, true);
    double sim = o.sim, fsim = fr.sim;
    float cs = x->opt->embed ? cosine(x, a, b) : 0;
    /* a frame shares at least one real word; direct answers share the question */
    bool anchored = fr.shared >= CNS_FRAME_ANCHOR || (a->direct && b->direct && fr.shared > 0);
    bool frame = (fsim >= CNS_LEX_FRAME && anchored) || (x->opt->embed && cs >= CNS_EMB_FRAME);
    /* both add something to the question, and nothing of it in common: not the same
     * point. Not for yes/no questions, where restating the question is the answer. */
    bool apart = !x->yesno && o.new_a > 0 && o.new_b > 0 && o.new_shared == 0;
    /* a direct answer whose whole new information the other claim states says the
     * same ("World War II ended in 1945" / "... on 2 September 1945 with ...") */
    bool subsumed = (a->direct && o.new_a > 0 && o.new_shared >= o.new_a) ||
                    (b->direct && o.new_b > 0 && o.new_shared >= o.new_b);
    bool same =
        ((sim >= CNS_LEX_AGREE || subsumed) && !apart) || (x->opt->embed && cs >= CNS_EMB_AGREE);
    *sim_out = fmax(apart ? 0 : sim, cs);
    if (a->lead && b->lead && a->f.verdict && b->f.verdict && a->f.verdict != b->f.verdict)
        return REL_CONFLICT;
    if (frame && !a->calc && !b->calc && numbers_conflict(a, b))
        return REL_CONFLICT;
    if (o.excl_a && o.excl_b &&
        ((fsim >= CNS_LEX_FRAME_NAMES && anchored) || (x->opt->embed && cs >= CNS_EMB_AGREE)))
        return REL_CONFLICT;
    /* two direct answers to a one-answer question, filling the same frame with
     * different words ("the spiciest part is the placenta" / "... the seeds");
     * two answers that both give numbers are compared by them (rule 2) instead */
    if (!x->many && a->direct && b->direct && apart && anchored && !(a->f.n_qty && b->f.n_qty) &&
        (fsim >= CNS_LEX_FRAME || (a->restates && b->restates)))
        return REL_CONFLICT;
    /* negation: one side negated, the other not, about the same words; two answers
     * that both open with the same "Yes"/"No" already agree on polarity */
    bool same_verdict = a->f.verdict && a->f.verdict == b->f.verdict;
    if (((sim >= CNS_LEX_NEGATION && !apart) || (x->opt->embed && cs >= CNS_EMB_AGREE)) &&
        (a->f.neg > 0) != (b->f.neg > 0) && fsim >= CNS_LEX_FRAME && !same_verdict &&
        negation_meets(a->f.neg > 0 ? a : b, a->f.neg > 0 ? b : a))
        return REL_CONFLICT;
    return same ? REL_AGREE : REL_NONE;
}

/* ---- building claims --------------------------------------------------------- */

static dx_status frame_tokens(ctx *x, claim *c)
{
    if (!c->direct || !x->q.n_tok) {
        c->ftoks = c->f.toks;
        c->n_ftok = c->f.n_tok;
        return DX_OK;
    }
    cns_tok *t = arena_alloc_array(x->a, c->f.n_tok + x->q.n_tok, sizeof *t);
    if (!t)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    size_t i = 0, j = 0, n = 0;
    while (i < c->f.n_tok || j < x->q.n_tok) {
        int cmp = i == c->f.n_tok   ? 1
                  : j == x->q.n_tok ? -1
                                    : strcmp(c->f.toks[i].stem, x->q.toks[j].stem);
        if (cmp <= 0) {
            t[n++] = c->f.toks[i++];
            if (!cmp)
                j++;
        } else
            t[n++] = x->q.toks[j++];
    }
    c->ftoks = t;
    c->n_ftok = n;
    return DX_OK;
}

static dx_status note_names(ctx *x, const cns_features *f)
{
    for (size_t i = 0; i < f->n_tok; i++) {
        if (!(f->toks[i].flags & CNS_TOK_NAME) || is_name(x, f->toks[i].stem))
            continue;
        if (x->n_names % 64 == 0) {
            const char **nn = arena_alloc_array(x->a, x->n_names + 64, sizeof *nn);
            if (!nn)
                return dx_fail(DX_ENOMEM, "consensus: out of memory");
            if (x->n_names)
                memcpy(nn, x->names, x->n_names * sizeof *nn);
            x->names = nn;
        }
        x->names[x->n_names++] = f->toks[i].stem;
    }
    return DX_OK;
}

static void mark_tokens(const ctx *x, cns_features *f)
{
    for (size_t i = 0; i < f->n_tok; i++) {
        cns_tok *t = &f->toks[i];
        /* a yes/no question's words are the claim itself, not shared context */
        if (!x->yesno && has_stem(x->q.toks, x->q.n_tok, t->stem))
            t->flags |= TOK_IN_QUESTION;
        if (is_name(x, t->stem))
            t->flags |= TOK_NAME_ANYWHERE;
    }
}

static bool all_space(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

/* Whether a claim carries at least half of the question's words: the opening
 * sentence of a longer answer that takes up the question ("Seasons are caused by"). */
static bool restates_question(const ctx *x, const claim *c)
{
    if (!x->q.n_tok)
        return false;
    size_t hit = 0;
    for (size_t i = 0; i < x->q.n_tok; i++)
        hit += has_stem(c->f.toks, c->f.n_tok, x->q.toks[i].stem);
    return (double)hit >= CNS_RESTATE_SHARE * (double)x->q.n_tok;
}

/* Claims of every member that answered; marks refusals and empty answers. */
static dx_status collect_claims(ctx *x, cns_member *m, size_t nm)
{
    dx_status st = DX_OK;
    size_t done = 0;
    for (size_t i = 0; i < nm; i++)
        if (m[i].status == CNS_DONE && !all_space(m[i].text))
            done++;
    size_t per_member = done ? DX_CNS_MAX_TOTAL_CLAIMS / done : DX_CNS_MAX_TOTAL_CLAIMS;
    if (per_member > DX_CNS_MAX_CLAIMS)
        per_member = DX_CNS_MAX_CLAIMS;
    x->c = arena_alloc_array(x->a, DX_CNS_MAX_TOTAL_CLAIMS, sizeof *x->c);
    if (!x->c)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    for (size_t i = 0; i < nm; i++) {
        cns_member *mb = &m[i];
        mb->usable = false;
        mb->claims = 0;
        if (mb->status != CNS_DONE)
            continue;
        if (all_space(mb->text)) {
            mb->status = CNS_FAILED;
            if (!mb->error)
                mb->error = "empty answer";
            continue;
        }
        cns_span *sp;
        size_t ns;
        st = cns_markdown_split(mb->text, strlen(mb->text), x->a, &sp, &ns);
        if (st)
            return st;
        size_t first = x->nc;
        bool refusal_early = false;
        const char *refusal_text = NULL;
        for (size_t s = 0; s < ns && x->nc - first < per_member; s++) {
            const char *text = sp[s].text;
            if (cns_is_refusal(text)) {
                /* "As an AI I can't give advice, but ..." keeps what follows "but" */
                const char *but = strstr(text, ", but ");
                if (!but || cns_is_refusal(but + 6)) {
                    if (s < CNS_REFUSAL_LEAD_SENTENCES && !refusal_early) {
                        refusal_early = true;
                        refusal_text = text;
                    }
                    continue;
                }
                text = but + 6;
            }
            claim c = {.text = text, .member = (int)i, .lead = x->nc == first};
            st = cns_text_features(c.text, x->a, &c.f);
            if (st)
                return st;
            if (!c.f.n_tok && !c.f.n_qty && !c.f.verdict)
                continue;
            c.calc = strchr(text, '=') != NULL || c.f.n_qty > CNS_CALC_MIN_NUMBERS;
            c.prose = sp[s].kind == CNS_SPAN_SENTENCE;
            x->c[x->nc++] = c;
        }
        if (refusal_early && x->nc - first <= CNS_REFUSAL_MAX_CLAIMS) {
            /* "I can't help with that. Please see a professional." */
            mb->status = CNS_REFUSED;
            if (!mb->error)
                mb->error = refusal_text; /* say why: the refusing sentence */
            x->nc = first;
            continue;
        }
        mb->claims = (int)(x->nc - first);
        /* a short answer opening with a sentence answers the question directly;
         * a list's first item is one of several, not the answer */
        for (size_t k = first; k < x->nc; k++)
            x->c[k].restates = restates_question(x, &x->c[k]);
        if (mb->claims > 0 && x->c[first].prose && !x->c[first].calc &&
            (mb->claims <= CNS_DIRECT_MAX_CLAIMS || x->c[first].restates))
            x->c[first].direct = true;
        /* a sentence with nothing but a number or a verdict ("The answer is 18.")
         * can only be an answer to the question */
        for (size_t k = first; k < x->nc; k++)
            if (x->c[k].prose && !x->c[k].calc && !x->c[k].f.n_tok &&
                (x->c[k].f.n_qty || x->c[k].f.verdict))
                x->c[k].direct = true;
        mb->usable = mb->claims > 0;
    }
    for (size_t i = 0; i < x->nc && !st; i++)
        st = note_names(x, &x->c[i].f);
    if (st)
        return st;
    mark_tokens(x, &x->q);
    for (size_t i = 0; i < x->nc; i++)
        mark_tokens(x, &x->c[i].f);
    for (size_t i = 0; i < x->nc && !st; i++)
        st = frame_tokens(x, &x->c[i]);
    return st;
}

static dx_status embed_claims(ctx *x)
{
    const cns_options *o = x->opt;
    if (!o->embed)
        return DX_OK;
    if (!o->embed_dim || o->embed_dim > DX_CNS_MAX_EMBED_DIM)
        return dx_fail(DX_EARG, "consensus: embedding size %zu is outside 1..%u", o->embed_dim,
                       DX_CNS_MAX_EMBED_DIM);
    for (size_t i = 0; i < x->nc; i++) {
        float *v = arena_alloc_array(x->a, o->embed_dim, sizeof *v);
        if (!v)
            return dx_fail(DX_ENOMEM, "consensus: out of memory");
        dx_status st = o->embed(o->embed_user, x->c[i].text, v, o->embed_dim);
        if (st)
            return dx_wrap(st, "consensus: embedding a claim");
        x->c[i].vec = v;
    }
    return DX_OK;
}

/* ---- points ------------------------------------------------------------------- */

static double mask_weight(const cns_member *m, size_t nm, uint64_t mask)
{
    double w = 0;
    for (size_t i = 0; i < nm; i++)
        if (mask >> i & 1)
            w += m[i].weight;
    return w;
}

static int find(point *p, int i)
{
    while (p[i].comp != i)
        i = p[i].comp = p[p[i].comp].comp;
    return i;
}

static void assign_weights(cns_member *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        m[i].weight = 0;
        if (!m[i].usable)
            continue;
        int k = 0;
        for (size_t j = 0; j < nm; j++)
            if (m[j].usable && !strcasecmp(m[j].model, m[i].model))
                k++;
        m[i].weight = (1.0 + (k - 1) * CNS_W_EXTRA_VOICE) / k;
    }
}

static dx_status shared_models(ctx *x, cns_result *r)
{
    cns_analysis *an = &r->analysis;
    an->shared = arena_alloc_array(x->a, r->n_members ? r->n_members : 1, sizeof *an->shared);
    if (!an->shared)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    for (size_t i = 0; i < r->n_members; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (!strcasecmp(r->members[j].model, r->members[i].model))
                seen = true;
        if (seen)
            continue;
        size_t k = 0;
        for (size_t j = i; j < r->n_members; j++)
            if (!strcasecmp(r->members[j].model, r->members[i].model))
                k++;
        if (k < 2)
            continue;
        cns_shared_model *s = &an->shared[an->n_shared++];
        s->model = r->members[i].model;
        s->members = arena_alloc_array(x->a, k, sizeof *s->members);
        if (!s->members)
            return dx_fail(DX_ENOMEM, "consensus: out of memory");
        for (size_t j = i; j < r->n_members; j++)
            if (!strcasecmp(r->members[j].model, r->members[i].model))
                s->members[s->n_members++] = r->members[j].name;
    }
    return DX_OK;
}

static int best_in_member(const ctx *x, int c, int m)
{
    int best = -1;
    int bs = -1;
    for (size_t d = 0; d < x->nc; d++) {
        if (x->c[d].member != m)
            continue;
        size_t k = (size_t)c * x->nc + d;
        if (x->rel[k] == REL_AGREE && x->sim[k] > bs) {
            bs = x->sim[k];
            best = (int)d;
        }
    }
    return best;
}

static dx_status support_checks(ctx *x, cns_result *r, point *pts, size_t np, int *asked,
                                int *confirmed);

/* Relation and similarity of every pair of claims; drops a member's repeats. */
static dx_status relate_all(ctx *x, bool *dropped)
{
    size_t nc = x->nc;
    x->rel = arena_alloc(x->a, nc ? nc * nc : 1);
    x->sim = arena_alloc(x->a, nc ? nc * nc : 1);
    if (!x->rel || !x->sim)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    for (size_t i = 0; i < nc; i++)
        for (size_t j = i + 1; j < nc; j++) {
            double s;
            int rl = relate(x, &x->c[i], &x->c[j], &s);
            uint8_t q = (uint8_t)lrint(fmin(1.0, fmax(0.0, s)) * 255);
            x->rel[i * nc + j] = x->rel[j * nc + i] = (uint8_t)rl;
            x->sim[i * nc + j] = x->sim[j * nc + i] = q;
        }
    /* a member repeating itself (a closing summary) counts once: the earlier
     * claim stays, unless it is a calculation and the later one states the result */
    for (size_t i = 0; i < nc; i++)
        for (size_t j = i + 1; j < nc && !dropped[i]; j++)
            if (!dropped[j] && x->c[i].member == x->c[j].member &&
                x->rel[i * nc + j] == REL_AGREE) {
                if (x->c[i].calc && !x->c[j].calc)
                    dropped[i] = true;
                else
                    dropped[j] = true;
            }
    return DX_OK;
}

/* Greedy points: the uncovered claim with most support weight, its supporters
 * (closest first, none contradicting another), and everything they cover. */
static dx_status pick_points(ctx *x, const cns_result *r, const bool *dropped, point *pts,
                             size_t *np_out)
{
    const cns_member *m = r->members;
    size_t nm = r->n_members, nc = x->nc, np = 0;
    bool *covered = arena_alloc_array(x->a, nc ? nc : 1, sizeof *covered);
    uint64_t *mask = arena_alloc_array(x->a, nc ? nc : 1, sizeof *mask);
    if (!covered || !mask)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    for (size_t i = 0; i < nc; i++) {
        mask[i] = 1ull << x->c[i].member;
        for (size_t j = 0; j < nc; j++)
            if (!dropped[j] && x->c[j].member != x->c[i].member && x->rel[i * nc + j] == REL_AGREE)
                mask[i] |= 1ull << x->c[j].member;
    }
    for (;;) {
        int pick = -1;
        double pw = -1;
        for (size_t i = 0; i < nc; i++) {
            if (dropped[i] || covered[i])
                continue;
            double w = mask_weight(m, nm, mask[i]) + (x->c[i].lead ? 1e-6 : 0);
            if (w > pw + 1e-9) {
                pw = w;
                pick = (int)i;
            }
        }
        if (pick < 0)
            break;
        point *p = &pts[np];
        p->rep = pick;
        p->mask = mask[pick];
        p->comp = (int)np;
        p->by_member = arena_alloc_array(x->a, nm, sizeof *p->by_member);
        if (!p->by_member)
            return dx_fail(DX_ENOMEM, "consensus: out of memory");
        for (size_t k = 0; k < nm; k++)
            p->by_member[k] = -1;
        p->by_member[x->c[pick].member] = pick;
        for (size_t k = 0; k < nm; k++)
            if ((p->mask >> k & 1) && p->by_member[k] < 0)
                p->by_member[k] = best_in_member(x, pick, (int)k);
        /* supporters join closest first; one that contradicts a supporter already in
         * ("$70,000" / "$70,001" both near "about $70,000") is left for its own point */
        uint64_t in = 1ull << x->c[pick].member;
        for (;;) {
            int bk = -1, bs = -1;
            for (size_t k = 0; k < nm; k++) {
                int d = p->by_member[k];
                if (d < 0 || (in >> k & 1))
                    continue;
                int sv = x->sim[(size_t)pick * nc + (size_t)d];
                if (sv > bs) {
                    bs = sv;
                    bk = (int)k;
                }
            }
            if (bk < 0)
                break;
            bool clash = false;
            for (size_t k = 0; k < nm && !clash; k++)
                if ((in >> k & 1) &&
                    x->rel[(size_t)p->by_member[k] * nc + (size_t)p->by_member[bk]] == REL_CONFLICT)
                    clash = true;
            if (clash) {
                p->mask &= ~(1ull << bk);
                p->by_member[bk] = -1;
                continue;
            }
            in |= 1ull << bk;
        }
        covered[pick] = true;
        for (size_t j = 0; j < nc; j++)
            if (x->rel[(size_t)pick * nc + j] == REL_AGREE && (p->mask >> x->c[j].member & 1))
                covered[j] = true;
        np++;
    }
    *np_out = np;
    return DX_OK;
}

/* Points whose claims conflict join one union-find component (a dispute). */
static void link_conflicts(const ctx *x, point *pts, size_t np, size_t nm)
{
    size_t nc = x->nc;
    for (size_t p = 0; p < np; p++)
        for (size_t q = p + 1; q < np; q++) {
            bool conflict = false;
            for (size_t a = 0; a < nm && !conflict; a++)
                for (size_t b = 0; b < nm && !conflict; b++) {
                    int ca = pts[p].by_member[a], cb = pts[q].by_member[b];
                    if (ca >= 0 && cb >= 0 && x->rel[(size_t)ca * nc + (size_t)cb] == REL_CONFLICT)
                        conflict = true;
                }
            if (conflict) {
                int rp = find(pts, (int)p), rq = find(pts, (int)q);
                if (rp != rq)
                    pts[rq > rp ? rq : rp].comp = rq > rp ? rp : rq;
            }
        }
}

typedef struct score {
    double num, den;
} score;

/* One component of two or more points becomes a disputed point when at least
 * two sides keep members (otherwise its points stay agreed or unique). */
static dx_status add_dispute(ctx *x, cns_result *r, point *pts, int *comp, size_t ncomp,
                             double *side_w, score *sc)
{
    const cns_member *m = r->members;
    size_t nm = r->n_members;
    cns_analysis *an = &r->analysis;
    /* sides, largest support first; each member once */
    for (size_t i = 1; i < ncomp; i++) {
        int v = comp[i];
        size_t j = i;
        while (j > 0 &&
               mask_weight(m, nm, pts[comp[j - 1]].mask) < mask_weight(m, nm, pts[v].mask)) {
            comp[j] = comp[j - 1];
            j--;
        }
        comp[j] = v;
    }
    cns_disputed *d = &an->disputed[an->n_disputed];
    d->n_stances = 0;
    d->stances = arena_alloc_array(x->a, nm, sizeof *d->stances);
    if (!d->stances)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    uint64_t seen = 0;
    int pos = 0;
    double total_w = 0;
    memset(side_w, 0, ncomp * sizeof *side_w);
    for (size_t i = 0; i < ncomp; i++) {
        point *pt = &pts[comp[i]];
        bool any = false;
        for (size_t k = 0; k < nm; k++) {
            if (!(pt->mask >> k & 1) || (seen >> k & 1) || pt->by_member[k] < 0)
                continue;
            seen |= 1ull << k;
            d->stances[d->n_stances++] = (cns_stance){m[k].name, x->c[pt->by_member[k]].text, pos};
            side_w[pos] += m[k].weight;
            total_w += m[k].weight;
            any = true;
        }
        if (any)
            pos++;
    }
    if (pos < 2)
        return DX_OK; /* every side was one member's: not a dispute */
    /* the dispute is named by the most explicit statement of the leading side */
    d->text = NULL;
    for (size_t k = 0; k < d->n_stances; k++)
        if (d->stances[k].position == 0 &&
            (!d->text || strlen(d->stances[k].text) > strlen(d->text)))
            d->text = d->stances[k].text;
    an->n_disputed++;
    double top = total_w > 0 ? side_w[0] / total_w : 0;
    sc->num += fmax(0.0, 2 * top - 1);
    sc->den += 1;
    for (size_t i = 0; i < ncomp; i++)
        pts[comp[i]].disputed = true;
    return DX_OK;
}

/* Points to agreed / disputed / unique lists, the percentage and the label. */
static dx_status summarize(ctx *x, cns_result *r, point *pts, size_t np)
{
    const cns_member *m = r->members;
    size_t nm = r->n_members;
    cns_analysis *an = &r->analysis;
    an->agreed = arena_alloc_array(x->a, np ? np : 1, sizeof *an->agreed);
    an->disputed = arena_alloc_array(x->a, np ? np : 1, sizeof *an->disputed);
    an->unique = arena_alloc_array(x->a, np ? np : 1, sizeof *an->unique);
    int *comp = arena_alloc_array(x->a, np ? np : 1, sizeof *comp);
    double *side_w = arena_alloc_array(x->a, np ? np : 1, sizeof *side_w);
    if (!an->agreed || !an->disputed || !an->unique || !comp || !side_w)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    double W = mask_weight(m, nm, ~0ull);
    score sc = {0};
    for (size_t p = 0; p < np; p++) {
        int root = find(pts, (int)p);
        if (root != (int)p)
            continue;
        size_t ncomp = 0;
        for (size_t q = p; q < np; q++)
            if (find(pts, (int)q) == root)
                comp[ncomp++] = (int)q;
        if (ncomp >= 2) {
            dx_status st = add_dispute(x, r, pts, comp, ncomp, side_w, &sc);
            if (st)
                return st;
        }
    }
    for (size_t p = 0; p < np; p++) {
        point *pt = &pts[p];
        if (pt->disputed)
            continue;
        int n_sup = __builtin_popcountll(pt->mask);
        if (n_sup >= 2) {
            cns_agreed *g = &an->agreed[an->n_agreed++];
            g->text = x->c[pt->rep].text;
            g->members = arena_alloc_array(x->a, (size_t)n_sup, sizeof *g->members);
            if (!g->members)
                return dx_fail(DX_ENOMEM, "consensus: out of memory");
            for (size_t k = 0; k < nm; k++)
                if (pt->mask >> k & 1)
                    g->members[g->n_members++] = m[k].name;
            g->support = W > 0 ? mask_weight(m, nm, pt->mask) / W : 0;
            sc.num += g->support;
            sc.den += 1;
        } else {
            an->unique[an->n_unique++] =
                (cns_unique){x->c[pt->rep].text, m[x->c[pt->rep].member].name};
            sc.den += CNS_W_UNIQUE;
        }
    }
    /* agreed points by support, most supported first (stable) */
    for (size_t i = 1; i < an->n_agreed; i++) {
        cns_agreed v = an->agreed[i];
        size_t j = i;
        while (j > 0 && an->agreed[j - 1].support < v.support - 1e-12) {
            an->agreed[j] = an->agreed[j - 1];
            j--;
        }
        an->agreed[j] = v;
    }
    if (an->usable >= 2) {
        an->consensus = sc.den > 0 ? (int)lrint(100.0 * sc.num / sc.den) : 0;
        if (an->consensus >= CNS_LABEL_CONSENSUS_MIN && an->n_agreed > 0 && an->n_disputed == 0)
            an->label = CNS_LABEL_CONSENSUS;
        else if (an->consensus >= CNS_LABEL_PARTIAL_MIN)
            an->label = CNS_LABEL_PARTIAL;
        else
            an->label = CNS_LABEL_DISAGREE;
    }
    return DX_OK;
}

static dx_status build_points(ctx *x, cns_result *r)
{
    size_t nc = x->nc, np = 0;
    bool *dropped = arena_alloc_array(x->a, nc ? nc : 1, sizeof *dropped);
    point *pts = arena_alloc_array(x->a, nc ? nc : 1, sizeof *pts);
    if (!dropped || !pts)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    dx_status st = relate_all(x, dropped);
    if (!st)
        st = pick_points(x, r, dropped, pts, &np);
    if (st)
        return st;
    link_conflicts(x, pts, np, r->n_members);
    int asked = 0, confirmed = 0;
    if (x->opt->check && x->opt->support_checks > 0) {
        st = support_checks(x, r, pts, np, &asked, &confirmed);
        if (st)
            return st;
    }
    r->analysis.checks_asked = asked;
    r->analysis.checks_confirmed = confirmed;
    return summarize(x, r, pts, np);
}

static bool reply_is_yes(const char *s)
{
    while (*s && !isalpha((unsigned char)*s))
        s++;
    return !strncasecmp(s, "yes", 3) && !isalpha((unsigned char)s[3]);
}

/* The yes/no question a support check asks. */
static dx_status prompt_support(const char *claim, const char *answer, dx_buf *b)
{
    return dx_buf_printf(b,
                         "Reply with one word, yes or no. Does the answer below state or clearly "
                         "imply the claim?\n\n"
                         "Claim: %s\n\nAnswer:\n%.8000s\n\nReply (yes or no):",
                         claim, answer);
}

/* Optional: ask a model whether another member's answer supports a
 * point only one member made; a "yes" adds that member's support. */
static dx_status support_checks(ctx *x, cns_result *r, point *pts, size_t np, int *asked,
                                int *confirmed)
{
    cns_member *m = r->members;
    for (size_t p = 0; p < np && *asked < x->opt->support_checks; p++) {
        if (__builtin_popcountll(pts[p].mask) != 1 || find(pts, (int)p) != (int)p)
            continue;
        bool in_dispute = false;
        for (size_t q = 0; q < np; q++)
            if (q != p && find(pts, (int)q) == (int)p)
                in_dispute = true;
        if (in_dispute)
            continue;
        for (size_t k = 0; k < r->n_members && *asked < x->opt->support_checks; k++) {
            if (!m[k].usable || (pts[p].mask >> k & 1))
                continue;
            dx_buf prompt = dx_buf_make(DX_MAX_PROMPT_BYTES),
                   reply = dx_buf_make(DX_CNS_MAX_GENERATED);
            dx_status st = prompt_support(x->c[pts[p].rep].text, m[k].text, &prompt);
            if (!st) {
                (*asked)++;
                if (x->opt->check(x->opt->check_user, prompt.data, &reply) == DX_OK && reply.data &&
                    reply_is_yes(reply.data)) {
                    pts[p].mask |= 1ull << k;
                    (*confirmed)++;
                }
            }
            dx_buf_free(&prompt);
            dx_buf_free(&reply);
            if (st == DX_ENOMEM)
                return st;
        }
    }
    return DX_OK;
}

/* A question that asks for several things: "What are ...", "Which were ...",
 * or one asking for some, examples, ways, types, kinds or a list. */
static bool is_many_question(const char *q)
{
    static const char *const cues[] = {"some",  "examples", "ways", "types",
                                       "kinds", "list",     "name"};
    char w[3][16] = {{0}};
    size_t nw = 0;
    for (const char *p = q; *p;) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        char cur[16];
        size_t n = 0;
        while (*p && isalpha((unsigned char)*p)) {
            if (n < sizeof cur - 1)
                cur[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        cur[n] = '\0';
        if (!n)
            break;
        if (nw < 3)
            memcpy(w[nw++], cur, sizeof cur);
        for (size_t i = 0; i < sizeof cues / sizeof cues[0]; i++)
            if (!strcmp(cur, cues[i]))
                return true;
    }
    bool wh = !strcmp(w[0], "what") || !strcmp(w[0], "which") || !strcmp(w[0], "who");
    return wh && (!strcmp(w[1], "are") || !strcmp(w[1], "were"));
}

/* A question opening with an auxiliary verb asks yes or no. */
static bool is_yesno_question(const char *q)
{
    static const char *const aux[] = {"is",    "are",   "was",    "were",    "do",      "does",
                                      "did",   "can",   "could",  "will",    "would",   "should",
                                      "shall", "has",   "have",   "had",     "may",     "might",
                                      "must",  "isn't", "aren't", "don't",   "doesn't", "didn't",
                                      "can't", "won't", "wasn't", "weren't", "am"};
    while (*q && !isalpha((unsigned char)*q))
        q++;
    char w[16];
    size_t n = 0;
    while (q[n] && n < sizeof w - 1 && (isalpha((unsigned char)q[n]) || q[n] == '\'')) {
        w[n] = (char)tolower((unsigned char)q[n]);
        n++;
    }
    w[n] = '\0';
    for (size_t i = 0; i < sizeof aux / sizeof aux[0]; i++)
        if (!strcmp(w, aux[i]))
            return true;
    return false;
}

dx_status cns_analyze(const cns_input *in, const cns_options *opt, arena *a, cns_result **out)
{
    dx_status st = DX_OK;
    static const cns_options defaults = {0};
    if (!opt)
        opt = &defaults;
    *out = NULL;
    if (in->n_members > DX_MAX_MEMBERS)
        return dx_fail(DX_ELIMIT, "consensus: %zu answers, at most %u", in->n_members,
                       DX_MAX_MEMBERS);
    cns_result *r = arena_alloc(a, sizeof *r);
    cns_member *m = arena_alloc_array(a, in->n_members ? in->n_members : 1, sizeof *m);
    if (!r || !m)
        return dx_fail(DX_ENOMEM, "consensus: out of memory");
    if (in->n_members)
        memcpy(m, in->members, in->n_members * sizeof *m);
    for (size_t i = 0; i < in->n_members; i++) {
        if (!m[i].text)
            m[i].text = "";
        if (!m[i].model)
            m[i].model = "";
        if (!m[i].name)
            m[i].name = m[i].model;
    }
    r->question = in->question ? in->question : "";
    r->members = m;
    r->n_members = in->n_members;
    r->analysis.method = opt->embed ? "embedding" : "lexical";
    r->analysis.consensus = -1;
    ctx x = {.a = a,
             .opt = opt,
             .nm = in->n_members,
             .yesno = is_yesno_question(r->question),
             .many = is_many_question(r->question)};
    st = cns_text_features(r->question, a, &x.q);
    if (!st)
        st = note_names(&x, &x.q);
    if (!st)
        st = collect_claims(&x, m, in->n_members);
    if (!st)
        st = embed_claims(&x);
    if (st)
        return st;
    assign_weights(m, in->n_members);
    for (size_t i = 0; i < in->n_members; i++)
        r->analysis.usable += m[i].usable;
    st = shared_models(&x, r);
    if (st)
        return st;
    if (r->analysis.usable == 0)
        r->analysis.label = CNS_LABEL_NO_ANSWER;
    else if (r->analysis.usable == 1)
        r->analysis.label = CNS_LABEL_SINGLE_VOICE;
    st = build_points(&x, r);
    if (st)
        return st;
    *out = r;
    return DX_OK;
}
