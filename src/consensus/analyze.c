/*
 * analyze — claims to points: matching, conflicts, support, score, label.
 * The method and every threshold are documented in docs/consensus.md.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consensus/consensus.h"
#include "consensus/direct.h"
#include "consensus/rules.h"
#include "consensus/text.h"
#include "core/limits.h"

enum { REL_NONE, REL_AGREE, REL_CONFLICT };

/* token flags set once the whole answer set is read (beside CNS_TOK_NAME) */
enum { TOK_IN_QUESTION = 1u << 8, TOK_NAME_ANYWHERE = 1u << 9 };

typedef struct claim {
    const char *text;
    int member;
    bool lead;      /* first claim of its answer */
    bool direct;    /* lead claim of a short answer (<= CNS_DIRECT_MAX_CLAIMS claims): answers the
                       question */
    bool prose;     /* a sentence of prose (not a list item or table row) */
    bool restates;  /* carries at least half of the question's words */
    bool calc;      /* a worked calculation ("16 - 3 - 4 = 9"): its numbers are steps, not claims */
    bool row;       /* a table row */
    bool nonanswer; /* says nothing the question lacks ("I am not sure", the question restated) */
    const char *ev; /* the claim as its member wrote it (verbatim); NULL: not found */
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
    double conf; /* a yes/no check's probability that its supporters agree (-1: none asked) */
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
    float *near; /* nm x nm: how near in meaning two members' closest claims are (section 7) */
    bool yesno;  /* the question asks yes or no ("Is ...?", "Can ...?") */
    bool many;   /* the question asks for several things ("What are ...", "some") */
    float *vecs; /* claim embeddings, nc x embed_dim */
    const char **names; /* name stems seen anywhere */
    size_t n_names, cap_names;
    /* direct answers (docs/consensus.md, "Direct answers"), per member */
    cns_direct *dv;
    int *dgroup;          /* group per member (cns_direct_group), -1 none */
    int *dclaim;          /* the claim that states it, -1 none */
    bool direct_on;       /* two or more members gave a direct answer: it is a point of its own */
    int asked, confirmed; /* yes/no checks (cns_options.check) asked and answered yes */
    double direct_conf;   /* a yes/no check's probability that the direct answers agree (-1) */
} ctx;

/* The percentage's running sums (docs/consensus.md, section 7). */
typedef struct score {
    double num, den;
    int no_majority; /* disputes where no side holds more than half the stance weight */
} score;

static const char *const label_names[] = {"consensus",    "partial",   "disagree",
                                          "single_voice", "no_answer", "no_common_ground"};
static const char *const status_names[] = {"done", "failed", "timeout", "cancelled", "refused"};

const char *cns_label_str(cns_label l)
{
    return (unsigned)l < sizeof label_names / sizeof label_names[0] ? label_names[l] : "no_answer";
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
    double sim;              /* mean of Dice and overlap coefficient */
    double shared;           /* weight shared */
    double total_a, total_b; /* each claim's weight */
    double new_a, new_b;     /* weight each adds to the question */
    double new_shared;       /* of that, shared */
    bool excl_a, excl_b;     /* has a name the other lacks */
} ov;

/* A token only one claim has: counted in that claim's total (unless frame leaves names out)
 * and, when not a question word, in what it adds; a name makes the claim exclusive. */
static void overlap_one_side(const cns_tok *t, bool frame, double *total, double *added, bool *excl)
{
    double w = tok_weight(t);
    bool nm = (t->flags & TOK_NAME_ANYWHERE) && w == 1.0;
    if (nm)
        *excl = true;
    if (!(frame && nm))
        *total += w;
    if (w == 1.0)
        *added += 1;
}

/* Merges the two sorted token lists into o. */
static void overlap_tokens(const cns_tok *ta, size_t na, const cns_tok *tb, size_t nb, bool frame,
                           ov *o)
{
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(ta[i].stem, tb[j].stem);
        if (c == 0) {
            double w = tok_weight(&ta[i]);
            o->shared += w;
            o->total_a += w;
            o->total_b += w;
            if (w == 1.0) {
                o->new_shared += 1;
                o->new_a += 1;
                o->new_b += 1;
            }
            i++;
            j++;
        } else if (c < 0) {
            overlap_one_side(&ta[i++], frame, &o->total_a, &o->new_a, &o->excl_a);
        } else {
            overlap_one_side(&tb[j++], frame, &o->total_b, &o->new_b, &o->excl_b);
        }
    }
}

/* How many of x's quantities agree with one of y's (cns_qty_agree is symmetric). */
static double qty_matched(const cns_qty *x, size_t nx, const cns_qty *y, size_t ny)
{
    double m = 0;
    for (size_t p = 0; p < nx; p++)
        for (size_t q = 0; q < ny; q++)
            if (cns_qty_agree(&x[p], &y[q])) {
                m += 1;
                break;
            }
    return m;
}

/* Numbers that agree count as a shared word; others as words of their own. */
static void overlap_numbers(const claim *a, const claim *b, ov *o)
{
    double ma = qty_matched(a->f.qty, a->f.n_qty, b->f.qty, b->f.n_qty);
    double mb = qty_matched(b->f.qty, b->f.n_qty, a->f.qty, a->f.n_qty);
    o->shared += (ma + mb) / 2;
    o->total_a += (double)a->f.n_qty;
    o->total_b += (double)b->f.n_qty;
    o->new_shared += (ma + mb) / 2;
    o->new_a += (double)a->f.n_qty;
    o->new_b += (double)b->f.n_qty;
}

/* Two leading claims' verdicts count as a word each, shared when they are the same. */
static void overlap_verdicts(const claim *a, const claim *b, ov *o)
{
    if (a->f.verdict == b->f.verdict) {
        o->shared += 1;
        o->new_shared += 1;
    }
    if (a->f.verdict) {
        o->total_a += 1;
        o->new_a += 1;
    }
    if (b->f.verdict) {
        o->total_b += 1;
        o->new_b += 1;
    }
}

/* Weighted overlap of two token sets: mean of Dice and overlap coefficient.
 * frame: names found in only one of the two are left out (they are the
 * values a frame holds), numbers are left out. */
static ov overlap(const claim *a, const claim *b, bool frame)
{
    ov o = {0};
    if (frame)
        overlap_tokens(a->ftoks, a->n_ftok, b->ftoks, b->n_ftok, true, &o);
    else
        overlap_tokens(a->f.toks, a->f.n_tok, b->f.toks, b->f.n_tok, false, &o);
    if (!frame)
        overlap_numbers(a, b, &o);
    if (a->lead && b->lead && (a->f.verdict || b->f.verdict))
        overlap_verdicts(a, b, &o);
    double S = o.shared, TA = o.total_a, TB = o.total_b;
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

/* Whether each claim says a word of the question that the other does not:
 * they answer different parts of it ("Water boils at 100 °C" / "Water
 * freezes at 0 °C" to a question about both). */
static bool question_parts_differ(const claim *a, const claim *b)
{
    bool only_a = false, only_b = false;
    for (size_t i = 0; i < a->f.n_tok && !only_a; i++)
        only_a = (a->f.toks[i].flags & TOK_IN_QUESTION) &&
                 !has_stem(b->f.toks, b->f.n_tok, a->f.toks[i].stem);
    for (size_t i = 0; i < b->f.n_tok && !only_b; i++)
        only_b = (b->f.toks[i].flags & TOK_IN_QUESTION) &&
                 !has_stem(a->f.toks, a->f.n_tok, b->f.toks[i].stem);
    return only_a && only_b;
}

/* A claim that asks the question back: a question made of nothing but the
 * question's words, at least half of them ("Why did the Ming dynasty build the
 * Great Wall?"). A statement of its words answers: a pick ("A hare is faster",
 * "Carrie"), or words the features do not keep ("born in the U.S."). */
static bool says_back(const claim *c)
{
    size_t n = strlen(c->text);
    while (n && (isspace((unsigned char)c->text[n - 1]) || c->text[n - 1] == '*'))
        n--;
    return c->nonanswer && c->restates && n && c->text[n - 1] == '?';
}

static int relate(const ctx *x, const claim *a, const claim *b, double *sim_out)
{
    ov o = overlap(a, b, false);
    /* direct answers are framed by the whole question, unless they answer
     * different parts of it: then each is framed by its own words */
    bool parts = (a->direct || b->direct) && question_parts_differ(a, b);
    ov fr;
    if (parts) {
        claim pa = *a, pb = *b;
        pa.ftoks = a->f.toks, pa.n_ftok = a->f.n_tok;
        pb.ftoks = b->f.toks, pb.n_ftok = b->f.n_tok;
        fr = overlap(&pa, &pb, true);
    } else {
        fr = overlap(a, b, true);
    }
    double sim = o.sim, fsim = fr.sim;
    float cs = x->opt->embed ? cosine(x, a, b) : 0;
    /* a frame shares at least one real word; direct answers share the question */
    bool anchored =
        fr.shared >= CNS_FRAME_ANCHOR || (a->direct && b->direct && !parts && fr.shared > 0);
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
    /* a restated question takes no side, and two restatements of the whole question
     * agree on no answer (two picks from it, "Carrie" / "Carrie Underwood", do) */
    if (a->nonanswer || b->nonanswer)
        return same && !(says_back(a) && says_back(b)) ? REL_AGREE : REL_NONE;
    if (a->lead && b->lead && a->f.verdict && b->f.verdict && a->f.verdict != b->f.verdict)
        return REL_CONFLICT;
    if (frame && !a->calc && !b->calc && numbers_conflict(a, b))
        return REL_CONFLICT;
    /* names in the same slot: the words around them must match (the meaning alone
     * matches two sentences that add different details) */
    if (o.excl_a && o.excl_b && anchored &&
        (fsim >= CNS_LEX_FRAME_NAMES ||
         (x->opt->embed && cs >= CNS_EMB_AGREE && fsim >= CNS_LEX_FRAME)))
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
        return dx_oom("consensus");
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
        if (x->n_names == x->cap_names &&
            arena_grow(x->a, &x->names, x->n_names, &x->cap_names, sizeof *x->names, 64))
            return dx_wrap(DX_ENOMEM, "consensus");
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

/* Whether a claim says nothing the question lacks (the question restated):
 * not a side of a dispute. Marked tokens first. */
static bool only_question(const ctx *x, const claim *c)
{
    /* "French people don't have bad breath" to "Why do French people have bad
     * breath?" denies the question's premise: an answer, not a restatement */
    if (c->f.n_qty || c->f.verdict || !c->f.n_tok || (c->f.neg > 0) != (x->q.neg > 0))
        return false;
    for (size_t i = 0; i < c->f.n_tok; i++)
        if (!(c->f.toks[i].flags & TOK_IN_QUESTION))
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

/* What of a sentence is a claim: a refusal or a non-answer is none (NULL),
 * unless ", but" follows with content ("As an AI I can't ..., but X" keeps X). */
static const char *claim_part(const char *text, bool *refusal)
{
    *refusal = false;
    if (cns_is_refusal(text)) {
        const char *but = strstr(text, ", but ");
        if (!but || cns_is_refusal(but + 6)) {
            *refusal = true;
            return NULL;
        }
        text = but + 6;
    }
    if (cns_is_nonanswer(text)) {
        /* "I'm not sure, but it is about 300 km" */
        const char *but = strstr(text, ", but ");
        if (!but || cns_is_nonanswer(but + 6))
            return NULL;
        text = but + 6;
    }
    return text;
}

/* Marks the direct claims of one member's claims first..x->nc, which came
 * from `sentences` sentences, items and rows (docs/consensus.md §2). */
static void mark_direct(ctx *x, const cns_member *mb, size_t first, size_t sentences)
{
    /* a short answer opening with a sentence answers the question directly;
     * a list's first item is one of several, not the answer */
    for (size_t k = first; k < x->nc; k++)
        x->c[k].restates = restates_question(x, &x->c[k]);
    if (mb->claims > 0 && x->c[first].prose && !x->c[first].calc &&
        (sentences <= CNS_DIRECT_MAX_CLAIMS || x->c[first].restates))
        x->c[first].direct = true;
    /* a sentence with nothing but a number or a verdict ("The answer is 18.")
     * can only be an answer to the question */
    for (size_t k = first; k < x->nc; k++)
        if (x->c[k].prose && !x->c[k].calc && !x->c[k].f.n_tok &&
            (x->c[k].f.n_qty || x->c[k].f.verdict))
            x->c[k].direct = true;
}

/* The claims of member i (a done answer with content), at most per_member;
 * marks it refused when it opens with a refusal and says little else. */
static dx_status member_claims(ctx *x, cns_member *mb, int i, size_t per_member)
{
    cns_span *sp;
    size_t ns;
    cns_source src;
    dx_status st = cns_markdown_split(mb->text, strlen(mb->text), x->a, &sp, &ns);
    if (!st)
        st = cns_source_index(mb->text, x->a, &src);
    if (st)
        return st;
    size_t first = x->nc, sentences = 0;
    const char *refusal_text = NULL;
    for (size_t s = 0; s < ns && x->nc - first < per_member; s++) {
        bool refusal;
        const char *text = claim_part(sp[s].text, &refusal);
        if (refusal && s < CNS_REFUSAL_LEAD_SENTENCES && !refusal_text)
            refusal_text = sp[s].text;
        if (!text)
            continue;
        /* one claim per fact: a sentence of prose or an item split into its
         * atomic claims; a table row is one */
        cns_atom atoms[CNS_MAX_ATOMS];
        size_t na = 1;
        atoms[0] = (cns_atom){text, text};
        if (sp[s].kind != CNS_SPAN_ROW &&
            (st = cns_atoms_split(text, x->a, atoms, CNS_MAX_ATOMS, &na)))
            return st;
        size_t before = x->nc;
        for (size_t k = 0; k < na && x->nc - first < per_member; k++) {
            claim c = {.text = atoms[k].text, .member = i, .lead = x->nc == first};
            if ((st = cns_text_features(c.text, x->a, &c.f)))
                return st;
            if (!c.f.n_tok && !c.f.n_qty && !c.f.verdict)
                continue;
            c.calc = strchr(c.text, '=') != NULL || c.f.n_qty > CNS_CALC_MIN_NUMBERS;
            c.prose = sp[s].kind == CNS_SPAN_SENTENCE;
            c.row = sp[s].kind == CNS_SPAN_ROW;
            c.ev = cns_evidence_find(&src, atoms[k].said, c.row, x->a);
            x->c[x->nc++] = c;
        }
        sentences += x->nc > before;
    }
    if (refusal_text && x->nc - first <= CNS_REFUSAL_MAX_CLAIMS) {
        /* "I can't help with that. Please see a professional." */
        mb->status = CNS_REFUSED;
        if (!mb->error)
            mb->error = refusal_text; /* say why: the refusing sentence */
        x->nc = first;
        return DX_OK;
    }
    mb->claims = (int)(x->nc - first);
    mark_direct(x, mb, first, sentences);
    mb->usable = mb->claims > 0;
    return DX_OK;
}

/* Whether an answer holds nothing but whitespace and a model's special tokens
 * ("<|endoftext|>", "<|im_start|>assistant", "<s>", "</s>", "<eos>"): a
 * generation that ended before it wrote anything. */
static bool blank_answer(const char *s)
{
    static const char *const plain[] = {"<s>", "</s>", "<eos>", "<bos>", "<pad>", "<unk>"};
    while (s && *s) {
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        if (!strncmp(s, "<|", 2)) {
            const char *e = strstr(s + 2, "|>");
            if (!e || e - s > 64)
                return false;
            s = e + 2;
            /* a role name right after a turn marker is part of the template */
            if (!strncmp(s, "assistant", 9) || !strncmp(s, "user", 4) || !strncmp(s, "system", 6))
                while (isalpha((unsigned char)*s))
                    s++;
            continue;
        }
        size_t i = 0, n = sizeof plain / sizeof *plain;
        while (i < n && strncmp(s, plain[i], strlen(plain[i])))
            i++;
        if (i == n)
            return false;
        s += strlen(plain[i]);
    }
    return true;
}

/* Claims of every member that answered; marks refusals and empty answers. */
static dx_status collect_claims(ctx *x, cns_member *m, size_t nm)
{
    dx_status st = DX_OK;
    size_t done = 0;
    for (size_t i = 0; i < nm; i++)
        if (m[i].status == CNS_DONE && !blank_answer(m[i].text))
            done++;
    size_t per_member = done ? DX_CNS_MAX_TOTAL_CLAIMS / done : DX_CNS_MAX_TOTAL_CLAIMS;
    if (per_member > DX_CNS_MAX_CLAIMS)
        per_member = DX_CNS_MAX_CLAIMS;
    x->c = arena_alloc_array(x->a, DX_CNS_MAX_TOTAL_CLAIMS, sizeof *x->c);
    if (!x->c)
        return dx_oom("consensus");
    for (size_t i = 0; i < nm && !st; i++) {
        cns_member *mb = &m[i];
        mb->usable = false;
        mb->claims = 0;
        if (mb->status != CNS_DONE)
            continue;
        if (blank_answer(mb->text)) {
            mb->status = CNS_FAILED;
            if (!mb->error)
                mb->error =
                    all_space(mb->text) ? "empty answer" : "empty answer (only special tokens)";
            continue;
        }
        st = member_claims(x, mb, (int)i, per_member);
    }
    for (size_t i = 0; i < x->nc && !st; i++)
        st = note_names(x, &x->c[i].f);
    if (st)
        return st;
    mark_tokens(x, &x->q);
    for (size_t i = 0; i < x->nc; i++) {
        mark_tokens(x, &x->c[i].f);
        x->c[i].nonanswer = only_question(x, &x->c[i]);
    }
    /* an answer that only says the question back says nothing: not usable (§1); one
     * that picks words of it ("Carrie" to "Kelly or Carrie?") answers */
    for (size_t i = 0; i < nm; i++) {
        bool says = false;
        for (size_t k = 0; k < x->nc && !says; k++)
            says = x->c[k].member == (int)i && !says_back(&x->c[k]);
        m[i].usable &= says;
    }
    for (size_t i = 0; i < x->nc && !st; i++)
        st = frame_tokens(x, &x->c[i]);
    return st;
}

#define CNS_EMBED_MAX_THREADS 8 /* threads that embed claims at once, at most */
#define CNS_EMBED_BATCH 16      /* claims per embed_many call */

/* One embedding worker. One claim at a time: claims from..n in steps of
 * `step`. In batches (embed_many): the next batch of the distinct texts in
 * `pending` until none is left, so a worker that gets its core late takes fewer.
 * A claim whose text an earlier claim has is not embedded again (closing
 * summaries, voices). */
typedef struct embed_job {
    ctx *x;
    size_t from, step;
    const size_t *pending; /* claim indices to embed (batches) */
    size_t n_pending;
    atomic_size_t *next; /* the next batch to take, shared */
    dx_status st;
    char why[256];
} embed_job;

static void embed_batches(embed_job *j)
{
    ctx *x = j->x;
    const cns_options *o = x->opt;
    const char *texts[CNS_EMBED_BATCH];
    /* a batch's claims need not be adjacent (repeats are skipped): embed
     * into a block, then copy each vector to its claim's slot */
    float *v = malloc(CNS_EMBED_BATCH * o->embed_dim * sizeof *v);
    if (!v) {
        j->st = DX_ENOMEM;
        snprintf(j->why, sizeof j->why, "out of memory");
        return;
    }
    for (;;) {
        const size_t b = atomic_fetch_add(j->next, 1) * CNS_EMBED_BATCH;
        if (b >= j->n_pending)
            break;
        const size_t n = j->n_pending - b < CNS_EMBED_BATCH ? j->n_pending - b : CNS_EMBED_BATCH;
        for (size_t i = 0; i < n; i++)
            texts[i] = x->c[j->pending[b + i]].text;
        j->st = o->embed_many(o->embed_user, n, texts, v, o->embed_dim);
        if (j->st) {
            snprintf(j->why, sizeof j->why, "%s", dx_errmsg());
            break;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(x->vecs + j->pending[b + i] * o->embed_dim, v + i * o->embed_dim,
                   o->embed_dim * sizeof *v);
    }
    free(v);
}

static void *embed_worker(void *arg)
{
    embed_job *j = arg;
    ctx *x = j->x;
    const cns_options *o = x->opt;
    if (j->pending) {
        embed_batches(j);
        return NULL;
    }
    for (size_t i = j->from; i < x->nc && !j->st; i += j->step) {
        if (x->c[i].vec)
            continue; /* a copy of an earlier claim's text */
        j->st = o->embed(o->embed_user, x->c[i].text, x->vecs + i * o->embed_dim, o->embed_dim);
        if (j->st)
            snprintf(j->why, sizeof j->why, "%s", dx_errmsg());
    }
    return NULL;
}

static dx_status embed_claims(ctx *x)
{
    const cns_options *o = x->opt;
    if (!o->embed)
        return DX_OK;
    if (!o->embed_dim || o->embed_dim > DX_CNS_MAX_EMBED_DIM)
        return dx_fail(DX_EARG, "consensus: embedding size %zu is outside 1..%u", o->embed_dim,
                       DX_CNS_MAX_EMBED_DIM);
    x->vecs = arena_alloc_array(x->a, x->nc ? x->nc * o->embed_dim : 1, sizeof *x->vecs);
    if (!x->vecs)
        return dx_oom("consensus");
    /* a repeated text shares the first one's vector (marked now, filled below) */
    for (size_t i = 0; i < x->nc; i++)
        for (size_t k = 0; k < i; k++)
            if (!x->c[k].vec && !strcmp(x->c[k].text, x->c[i].text)) {
                x->c[i].vec = x->vecs + k * o->embed_dim;
                break;
            }
    size_t nt = o->embed_threads > 1 ? (size_t)o->embed_threads : 1;
    if (nt > CNS_EMBED_MAX_THREADS)
        nt = CNS_EMBED_MAX_THREADS;
    /* in batches: the distinct texts, in claim order */
    size_t *pending = NULL, n_pending = 0;
    atomic_size_t next = 0;
    if (o->embed_many) {
        pending = arena_alloc_array(x->a, x->nc ? x->nc : 1, sizeof *pending);
        if (!pending)
            return dx_oom("consensus");
        for (size_t i = 0; i < x->nc; i++)
            if (!x->c[i].vec)
                pending[n_pending++] = i;
        const size_t batches = (n_pending + CNS_EMBED_BATCH - 1) / CNS_EMBED_BATCH;
        if (nt > batches)
            nt = batches ? batches : 1;
    }
    embed_job jobs[CNS_EMBED_MAX_THREADS];
    pthread_t th[CNS_EMBED_MAX_THREADS];
    bool started[CNS_EMBED_MAX_THREADS] = {0};
    for (size_t t = 0; t < nt; t++) {
        jobs[t] = (embed_job){.x = x,
                              .from = t,
                              .step = nt,
                              .pending = pending,
                              .n_pending = n_pending,
                              .next = &next};
        if (t > 0)
            started[t] = pthread_create(&th[t], NULL, embed_worker, &jobs[t]) == 0;
    }
    /* the calling thread is worker 0, and takes over the share of any that did not start */
    embed_worker(&jobs[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            embed_worker(&jobs[t]);
    }
    for (size_t t = 0; t < nt; t++)
        if (jobs[t].st)
            return dx_fail(jobs[t].st, "consensus: embedding a claim: %s", jobs[t].why);
    for (size_t i = 0; i < x->nc; i++)
        if (!x->c[i].vec)
            x->c[i].vec = x->vecs + i * o->embed_dim;
    return DX_OK;
}

/* ---- direct answers --------------------------------------------------------- */

/* The first claim of member k that holds the words of its direct answer;
 * else (an answer read from a whole sentence that was split into atomic
 * claims) the first claim whose words the answer holds. */
static int claim_holding(const ctx *x, int k, const char *span)
{
    for (size_t i = 0; span && *span && i < x->nc; i++)
        if (x->c[i].member == k && x->c[i].ev && strstr(x->c[i].ev, span))
            return (int)i;
    for (size_t i = 0; span && *span && i < x->nc; i++)
        if (x->c[i].member == k && x->c[i].ev && strstr(span, x->c[i].ev))
            return (int)i;
    return -1;
}

/* Groups renumbered by weight, the most held first (ties: the earlier member). */
static int rank_groups(const ctx *x, const cns_member *m, size_t nm)
{
    int *rank = arena_alloc_array(x->a, nm, sizeof *rank);
    double *w = arena_alloc_array(x->a, nm, sizeof *w);
    if (!rank || !w)
        return -1;
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0)
            w[x->dgroup[i]] += m[i].weight;
    int n = 0;
    for (;;) {
        int best = -1;
        for (size_t g = 0; g < nm; g++)
            if (w[g] > 0 && (best < 0 || w[g] > w[best] + 1e-12))
                best = (int)g;
        if (best < 0)
            break;
        rank[best] = n++;
        w[best] = 0;
    }
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0)
            x->dgroup[i] = rank[x->dgroup[i]];
    return n;
}

/* Each usable member's direct answer when the question asks for one thing,
 * grouped by cns_direct_group, published in the analysis (docs/consensus.md,
 * "Direct answers"). Weights are assigned first. */
static dx_status direct_answers(ctx *x, cns_result *r)
{
    cns_qkind kind = cns_direct_classify(r->question);
    if (kind == CNS_Q_OPEN)
        return DX_OK;
    const cns_member *m = r->members;
    size_t nm = r->n_members;
    cns_analysis *an = &r->analysis;
    an->direct_kind = cns_direct_qkind_str(kind);
    x->dv = arena_alloc_array(x->a, nm ? nm : 1, sizeof *x->dv);
    x->dgroup = arena_alloc_array(x->a, nm ? nm : 1, sizeof *x->dgroup);
    x->dclaim = arena_alloc_array(x->a, nm ? nm : 1, sizeof *x->dclaim);
    an->direct = arena_alloc_array(x->a, nm ? nm : 1, sizeof *an->direct);
    if (!x->dv || !x->dgroup || !x->dclaim || !an->direct)
        return dx_oom("consensus");
    for (size_t i = 0; i < nm; i++) {
        x->dclaim[i] = -1;
        if (!m[i].usable)
            continue; /* type CNS_DV_NONE (zeroed) */
        dx_status st = cns_direct_extract(r->question, kind, m[i].text, x->a, &x->dv[i]);
        if (st)
            return st;
    }
    cns_direct_group(r->question, x->dv, nm, x->dgroup);
    /* a direct answer is one that a claim states (not a lead-in, a refusal, filler) */
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0 && (x->dclaim[i] = claim_holding(x, (int)i, x->dv[i].span)) < 0)
            x->dgroup[i] = -1;
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0 && x->dgroup[x->dgroup[i]] < 0) {
            /* its group's first member lost its answer: the group takes a new first */
            int old = x->dgroup[i];
            for (size_t j = i; j < nm; j++)
                if (x->dgroup[j] == old)
                    x->dgroup[j] = (int)i;
        }
    return DX_OK;
}

/* Whether two normalised values share a word (one word the start of the
 * other's: "gnu gpl" / "gplv2"), at least three letters long. */
static bool share_word(const char *p, const char *q)
{
    for (const char *a = p; *a;) {
        size_t la = strcspn(a, " ");
        for (const char *b = q; *b;) {
            size_t lb = strcspn(b, " "), l = la < lb ? la : lb;
            if (l >= 3 && !strncmp(a, b, l))
                return true;
            b += lb + (b[lb] == ' ');
        }
        a += la + (a[la] == ' ');
    }
    return false;
}

/* Whether two direct answers that the claim matcher finds the same may be
 * one answer read too narrowly: names or things, and not two proper names
 * without a word in common. Amounts, dates and yes/no are read exactly, and
 * so are names ("France" / "Croatia" stay two answers even beside "France
 * won ..., beating Croatia"); but "GNU GPL" may be "GPLv2" read short, and a
 * common noun phrase may be the wrong words of its sentence ("dedicated" for
 * "dedicated to the public domain"). */
static bool read_too_narrowly(const ctx *x, int i, int j)
{
    const cns_direct *p = &x->dv[i], *q = &x->dv[j];
    if (p->type != CNS_DV_ENTITY || q->type != CNS_DV_ENTITY)
        return false;
    bool names = isupper((unsigned char)p->span[0]) && isupper((unsigned char)q->span[0]);
    return !names || share_word(p->value, q->value);
}

static double same_answer(ctx *x, const char *question, const char *a, const char *b,
                          dx_status *st);
static bool checks_on(const ctx *x);
static void set_near(ctx *x, int i, int j, double p);

/* With a yes/no model: two groups of direct answers that the model reads as
 * one answer ("1996" / "in July 1996", a name and its description) are one
 * group, so the direct point is agreed (docs/consensus.md §5, "checks"). */
static dx_status check_direct_dispute(ctx *x, cns_result *r)
{
    if (!checks_on(x) || x->asked >= x->opt->support_checks)
        return DX_OK;
    int first[2] = {-1, -1};
    for (size_t i = 0; i < r->n_members; i++)
        if (x->dgroup[i] >= 0 && x->dgroup[i] < 2 && first[x->dgroup[i]] < 0)
            first[x->dgroup[i]] = (int)i;
    if (first[0] < 0 || first[1] < 0)
        return DX_OK;
    bool more = false; /* three or more answers: the check compares two only */
    for (size_t i = 0; i < r->n_members; i++)
        more |= x->dgroup[i] >= 2;
    if (more)
        return DX_OK;
    dx_status st = DX_OK;
    double p = same_answer(x, r->question, x->dv[first[0]].sentence, x->dv[first[1]].sentence, &st);
    if (p >= CNS_CHECK_YES) {
        for (size_t i = 0; i < r->n_members; i++)
            if (x->dgroup[i] > 0)
                x->dgroup[i] = 0;
        x->direct_conf = p;
    } else {
        for (size_t i = 0; i < r->n_members; i++)
            for (size_t j = 0; j < r->n_members; j++)
                if (x->dgroup[i] == 0 && x->dgroup[j] == 1)
                    set_near(x, (int)i, (int)j, p);
    }
    return st;
}

/* After the claims are related: two groups whose stating claims the claim
 * matcher finds the same are one answer (the extraction read one of them too
 * narrowly); then groups are ranked and published. Two members of one group
 * whose stating claims contradict each other leave the direct answers to the
 * claim-by-claim analysis. */
static dx_status direct_settle(ctx *x, cns_result *r)
{
    const cns_member *m = r->members;
    size_t nm = r->n_members, nc = x->nc, with = 0;
    cns_analysis *an = &r->analysis;
    if (!x->dgroup)
        return DX_OK;
    for (size_t i = 0; i < nm; i++)
        for (size_t j = i + 1; j < nm; j++) {
            int gi = x->dgroup[i], gj = x->dgroup[j];
            if (gi < 0 || gj < 0 || gi == gj ||
                x->rel[(size_t)x->dclaim[i] * nc + (size_t)x->dclaim[j]] != REL_AGREE ||
                !read_too_narrowly(x, (int)i, (int)j))
                continue;
            int keep = gi < gj ? gi : gj, drop = gi < gj ? gj : gi;
            for (size_t k = 0; k < nm; k++)
                if (x->dgroup[k] == drop)
                    x->dgroup[k] = keep;
        }
    if (rank_groups(x, m, nm) < 0)
        return dx_oom("consensus");
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0) {
            an->direct[an->n_direct++] =
                (cns_direct_answer){m[i].name, x->dv[i].value, x->dv[i].span, x->dgroup[i]};
            with++;
        }
    /* one direct answer alone is compared claim by claim, as any other; so are
     * two amounts read as the same that differ at the precision they were
     * written with ("$70,000" / "$70,001": section 3's rule decides), and two
     * yes/no answers implied by statements that contradict each other */
    bool contradicted = false;
    for (size_t i = 0; i < nm; i++)
        for (size_t j = i + 1; j < nm; j++) {
            const cns_direct *p = &x->dv[i], *q = &x->dv[j];
            if (x->dgroup[i] < 0 || x->dgroup[i] != x->dgroup[j] ||
                x->rel[(size_t)x->dclaim[i] * nc + (size_t)x->dclaim[j]] != REL_CONFLICT)
                continue;
            bool amounts = p->type == CNS_DV_NUMBER && q->type == CNS_DV_NUMBER &&
                           p->hi == p->qty.value && q->hi == q->qty.value &&
                           p->qty.dim == q->qty.dim && !cns_qty_agree(&p->qty, &q->qty);
            /* a "yes" read from a statement, not said: the statements decide */
            bool implied = p->type == CNS_DV_YESNO && !x->c[x->dclaim[i]].f.verdict &&
                           !x->c[x->dclaim[j]].f.verdict;
            contradicted |= amounts || implied;
        }
    x->direct_on = with >= 2 && !contradicted;
    if (x->direct_on)
        return check_direct_dispute(x, r);
    return DX_OK;
}

/* The direct answers as the first point: agreed when all are one answer, else
 * a dispute whose stances are the members' sentences stating them. */
static dx_status add_direct_point(ctx *x, cns_result *r, double W, score *sc)
{
    if (!x->direct_on)
        return DX_OK;
    const cns_member *m = r->members;
    size_t nm = r->n_members, n = 0;
    cns_analysis *an = &r->analysis;
    int sides = 0;
    double side_w[DX_MAX_MEMBERS] = {0}, total = 0;
    for (size_t i = 0; i < nm; i++)
        if (x->dgroup[i] >= 0) {
            n++;
            sides = x->dgroup[i] + 1 > sides ? x->dgroup[i] + 1 : sides;
            side_w[x->dgroup[i]] += m[i].weight;
            total += m[i].weight;
        }
    if (sides == 1) {
        cns_agreed *g = &an->agreed[an->n_agreed++];
        g->members = arena_alloc_array(x->a, n, sizeof *g->members);
        g->evidence = arena_alloc_array(x->a, n, sizeof *g->evidence);
        if (!g->members || !g->evidence)
            return dx_oom("consensus");
        for (size_t i = 0; i < nm; i++)
            if (x->dgroup[i] == 0) {
                if (!g->text)
                    g->text = x->dv[i].sentence;
                g->evidence[g->n_members] = (cns_evidence){m[i].name, x->dv[i].sentence};
                g->members[g->n_members++] = m[i].name;
            }
        g->support = W > 0 ? total / W : 0;
        g->direct = true;
        g->check_p = x->direct_conf;
        sc->num += CNS_W_DIRECT * g->support * (g->check_p < 0 ? 1 : g->check_p);
        sc->den += CNS_W_DIRECT;
        return DX_OK;
    }
    cns_disputed *d = &an->disputed[an->n_disputed++];
    d->stances = arena_alloc_array(x->a, n, sizeof *d->stances);
    if (!d->stances)
        return dx_oom("consensus");
    for (int s = 0; s < sides; s++)
        for (size_t i = 0; i < nm; i++)
            if (x->dgroup[i] == s)
                d->stances[d->n_stances++] = (cns_stance){m[i].name, x->dv[i].sentence, s};
    d->text = d->stances[0].text;
    d->direct = true;
    size_t on_top = 0;
    for (size_t i = 0; i < nm; i++)
        on_top += x->dgroup[i] == 0;
    double top = total > 0 ? side_w[0] / total : 0;
    if (!(top > CNS_MAJORITY_SHARE && on_top >= 2))
        sc->no_majority++;
    sc->num += CNS_W_DIRECT * fmax(0.0, 2 * top - 1);
    sc->den += CNS_W_DIRECT;
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
        return dx_oom("consensus");
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
            return dx_oom("consensus");
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

static dx_status support_checks(ctx *x, cns_result *r, point *pts, size_t np);
static dx_status dispute_checks(ctx *x, cns_result *r, point *pts, size_t np);
static dx_status meaning_checks(ctx *x, cns_result *r, point *pts, size_t np);

/* Relation and similarity of every pair of claims; drops a member's repeats. */
/* Section 7 "nothing agreed": how near in meaning two members' claims are (the
 * cosine, or the lexical similarity without an embedder), kept per member pair
 * as the nearest. Claims of one sentence frame with different values, and
 * restatements of the question, are not near. */
static void note_near(ctx *x, const claim *a, const claim *b)
{
    if (a->member == b->member || a->nonanswer || b->nonanswer)
        return;
    double lex = overlap(a, b, false).sim;
    if (lex >= CNS_NEAR_MAX_LEX)
        return;
    double v = fmax(0.0, x->opt->embed ? cosine(x, a, b) : lex);
    float *n1 = &x->near[(size_t)a->member * x->nm + (size_t)b->member];
    float *n2 = &x->near[(size_t)b->member * x->nm + (size_t)a->member];
    if (v > *n1)
        *n1 = *n2 = (float)fmin(v, 1.0);
}

/* A yes/no check that found members i and j not to agree: its probability is
 * their nearness (the model's word over the cosine). */
static void set_near(ctx *x, int i, int j, double p)
{
    x->near[(size_t)i * x->nm + (size_t)j] = x->near[(size_t)j * x->nm + (size_t)i] = (float)p;
}

/* The mean nearness over pairs of members that count in the percentage (usable,
 * weight > 0), 0..1 (section 7). */
static double members_near(const ctx *x, const cns_member *m, size_t nm)
{
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < nm; i++)
        for (size_t j = i + 1; j < nm; j++)
            if (m[i].usable && m[j].usable && m[i].weight > 0 && m[j].weight > 0) {
                sum += x->near[i * x->nm + j];
                pairs++;
            }
    return pairs ? sum / pairs : 0;
}

static dx_status relate_all(ctx *x, bool *dropped)
{
    size_t nc = x->nc;
    x->rel = arena_alloc(x->a, nc ? nc * nc : 1);
    x->sim = arena_alloc(x->a, nc ? nc * nc : 1);
    x->near = arena_alloc_array(x->a, x->nm ? x->nm * x->nm : 1, sizeof *x->near);
    if (!x->rel || !x->sim || !x->near)
        return dx_oom("consensus");
    for (size_t i = 0; i < nc; i++)
        for (size_t j = i + 1; j < nc; j++) {
            double s;
            int rl = relate(x, &x->c[i], &x->c[j], &s);
            uint8_t q = (uint8_t)lrint(fmin(1.0, fmax(0.0, s)) * 255);
            x->rel[i * nc + j] = x->rel[j * nc + i] = (uint8_t)rl;
            x->sim[i * nc + j] = x->sim[j * nc + i] = q;
            note_near(x, &x->c[i], &x->c[j]);
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
        return dx_oom("consensus");
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
        p->conf = -1;
        p->by_member = arena_alloc_array(x->a, nm, sizeof *p->by_member);
        if (!p->by_member)
            return dx_oom("consensus");
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
        return dx_oom("consensus");
    uint64_t seen = 0;
    int pos = 0;
    double total_w = 0;
    memset(side_w, 0, ncomp * sizeof *side_w);
    for (size_t i = 0; i < ncomp; i++) {
        point *pt = &pts[comp[i]];
        bool any = false;
        for (size_t k = 0; k < nm; k++) {
            if (!(pt->mask >> k & 1) || (seen >> k & 1) || pt->by_member[k] < 0 ||
                !x->c[pt->by_member[k]].ev)
                continue; /* a stance is the member's own words, or none */
            seen |= 1ull << k;
            d->stances[d->n_stances++] = (cns_stance){m[k].name, x->c[pt->by_member[k]].ev, pos};
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
    size_t on_top = 0;
    for (size_t k = 0; k < d->n_stances; k++)
        on_top += d->stances[k].position == 0;
    if (!(top > CNS_MAJORITY_SHARE && on_top >= 2))
        sc->no_majority++;
    sc->num += fmax(0.0, 2 * top - 1);
    sc->den += 1;
    for (size_t i = 0; i < ncomp; i++)
        pts[comp[i]].disputed = true;
    return DX_OK;
}

/* The label rule (docs/consensus.md, section 8), for two or more usable answers. */
static cns_label label_of(const cns_analysis *an, const score *sc)
{
    if (an->n_agreed == 0 && an->n_disputed == 0)
        return CNS_LABEL_NO_COMMON_GROUND;
    if (an->n_disputed == 0)
        return an->consensus >= CNS_LABEL_CONSENSUS_MIN ? CNS_LABEL_CONSENSUS : CNS_LABEL_PARTIAL;
    /* a majority on every dispute (2 against 1) is partial agreement */
    if (sc->no_majority == 0 || an->consensus >= CNS_LABEL_PARTIAL_MIN)
        return CNS_LABEL_PARTIAL;
    return CNS_LABEL_DISAGREE;
}

/* The claim of member k that states point pt: the one it was matched on, or
 * (support confirmed by a yes/no check) that member's claim closest to it. */
static int evidence_claim(const ctx *x, const point *pt, int k)
{
    if (pt->by_member[k] >= 0)
        return pt->by_member[k];
    int best = -1, bs = -1;
    for (size_t d = 0; d < x->nc; d++)
        if (x->c[d].member == k && x->sim[(size_t)pt->rep * x->nc + d] > bs) {
            bs = x->sim[(size_t)pt->rep * x->nc + d];
            best = (int)d;
        }
    return best;
}

/* §7 "members that did not answer": when the question asks for one thing and the
 * direct answers were compared, a usable member that gave no direct answer and
 * stands in no agreed or disputed point (garbage, a restated question, advice to
 * ask someone else, an off-topic answer) neither agrees nor disagrees: its
 * weight becomes 0, so it leaves the percentage. Its points stay unique. */
static void leave_out_nonanswers(const ctx *x, cns_result *r, const point *pts, size_t np)
{
    if (!x->direct_on)
        return;
    for (size_t k = 0; k < r->n_members; k++) {
        if (!r->members[k].usable || x->dgroup[k] >= 0)
            continue;
        bool part = false;
        for (size_t p = 0; p < np && !part; p++)
            part = (pts[p].mask >> k & 1) &&
                   (pts[p].disputed || __builtin_popcountll(pts[p].mask) >= 2);
        if (!part)
            r->members[k].weight = 0;
    }
}

/* Each group of conflicting points (a component of the conflict links) of
 * two or more becomes a dispute. comp and side_w are scratch of np entries. */
static dx_status add_disputes(ctx *x, cns_result *r, point *pts, size_t np, int *comp,
                              double *side_w, score *sc)
{
    for (size_t p = 0; p < np; p++) {
        int root = find(pts, (int)p);
        if (root != (int)p)
            continue;
        size_t ncomp = 0;
        for (size_t q = p; q < np; q++)
            if (find(pts, (int)q) == root)
                comp[ncomp++] = (int)q;
        if (ncomp >= 2) {
            dx_status st = add_dispute(x, r, pts, comp, ncomp, side_w, sc);
            if (st)
                return st;
        }
    }
    return DX_OK;
}

/* An undisputed point: agreed when two or more members state it in their own
 * words (W: the whole council's weight), else unique to the member of its
 * representative claim. */
static dx_status list_point(ctx *x, cns_result *r, const point *pt, double W, score *sc)
{
    const cns_member *m = r->members;
    size_t nm = r->n_members;
    cns_analysis *an = &r->analysis;
    /* a supporter is listed only with its own words for the point */
    uint64_t shown = 0;
    for (size_t k = 0; k < nm; k++) {
        int d = pt->mask >> k & 1 ? evidence_claim(x, pt, (int)k) : -1;
        if (d >= 0 && x->c[d].ev)
            shown |= 1ull << k;
    }
    int n_sup = __builtin_popcountll(shown);
    if (n_sup < 2) {
        an->unique[an->n_unique++] = (cns_unique){x->c[pt->rep].text, m[x->c[pt->rep].member].name};
        sc->den += m[x->c[pt->rep].member].weight > 0 ? an->unique_weight : 0;
        return DX_OK;
    }
    cns_agreed *g = &an->agreed[an->n_agreed++];
    g->text = x->c[pt->rep].text;
    g->members = arena_alloc_array(x->a, (size_t)n_sup, sizeof *g->members);
    g->evidence = arena_alloc_array(x->a, (size_t)n_sup, sizeof *g->evidence);
    if (!g->members || !g->evidence)
        return dx_oom("consensus");
    for (size_t k = 0; k < nm; k++)
        if (shown >> k & 1) {
            g->evidence[g->n_members] =
                (cns_evidence){m[k].name, x->c[evidence_claim(x, pt, (int)k)].ev};
            g->members[g->n_members++] = m[k].name;
        }
    g->support = W > 0 ? mask_weight(m, nm, shown) / W : 0;
    g->check_p = pt->conf;
    sc->num += g->support * (g->check_p < 0 ? 1 : g->check_p);
    sc->den += 1;
    return DX_OK;
}

/* Agreed points by support, most supported first (stable). */
static void sort_agreed(cns_analysis *an)
{
    for (size_t i = 1; i < an->n_agreed; i++) {
        cns_agreed v = an->agreed[i];
        size_t j = i;
        while (j > 0 && an->agreed[j - 1].support < v.support - 1e-12) {
            an->agreed[j] = an->agreed[j - 1];
            j--;
        }
        an->agreed[j] = v;
    }
}

/* The percentage and the label from the running sums (two or more usable
 * answers; otherwise they stay as set before). */
static void set_percentage(const ctx *x, cns_result *r, const score *sc)
{
    cns_analysis *an = &r->analysis;
    if (an->usable < 2)
        return;
    an->consensus = sc->den > 0 ? (int)lrint(100.0 * sc->num / sc->den) : 0;
    if (an->n_agreed > 0 && an->consensus < CNS_AGREED_MIN_PERCENT)
        an->consensus = CNS_AGREED_MIN_PERCENT;
    /* nothing agreed: 0..5, how near in meaning the answers came */
    an->nearness = members_near(x, r->members, r->n_members);
    if (an->n_agreed == 0 && an->consensus <= CNS_NEAR_MAX_PERCENT) {
        int near = (int)lrint(CNS_NEAR_MAX_PERCENT * an->nearness);
        an->consensus = near > an->consensus ? near : an->consensus;
    }
    an->label = label_of(an, sc);
}

/* Points to agreed / disputed / unique lists, the percentage and the label. */
static dx_status summarize(ctx *x, cns_result *r, point *pts, size_t np)
{
    leave_out_nonanswers(x, r, pts, np);
    cns_analysis *an = &r->analysis;
    an->agreed = arena_alloc_array(x->a, np + 1, sizeof *an->agreed); /* + the direct answer */
    an->disputed = arena_alloc_array(x->a, np + 1, sizeof *an->disputed);
    an->unique = arena_alloc_array(x->a, np ? np : 1, sizeof *an->unique);
    int *comp = arena_alloc_array(x->a, np ? np : 1, sizeof *comp);
    double *side_w = arena_alloc_array(x->a, np ? np : 1, sizeof *side_w);
    if (!an->agreed || !an->disputed || !an->unique || !comp || !side_w)
        return dx_oom("consensus");
    double W = mask_weight(r->members, r->n_members, ~0ull);
    an->unique_weight = x->many ? CNS_W_UNIQUE_LIST : CNS_W_UNIQUE;
    score sc = {0};
    dx_status st = add_direct_point(x, r, W, &sc);
    if (!st)
        st = add_disputes(x, r, pts, np, comp, side_w, &sc);
    for (size_t p = 0; !st && p < np; p++)
        if (!pts[p].disputed)
            st = list_point(x, r, &pts[p], W, &sc);
    if (st)
        return st;
    sort_agreed(an);
    set_percentage(x, r, &sc);
    return DX_OK;
}

static dx_status build_points(ctx *x, cns_result *r)
{
    size_t nc = x->nc, np = 0;
    bool *dropped = arena_alloc_array(x->a, nc ? nc : 1, sizeof *dropped);
    point *pts = arena_alloc_array(x->a, nc ? nc : 1, sizeof *pts);
    if (!dropped || !pts)
        return dx_oom("consensus");
    dx_status st = relate_all(x, dropped);
    for (size_t i = 0; i < nc; i++)
        dropped[i] |= !r->members[x->c[i].member].usable; /* only restatements (§1) */
    if (!st)
        st = direct_settle(x, r);
    /* the claims stating direct answers are the direct point, not points of their own */
    for (size_t k = 0; x->direct_on && k < r->n_members; k++)
        if (x->dclaim[k] >= 0)
            dropped[x->dclaim[k]] = true;
    if (!st)
        st = pick_points(x, r, dropped, pts, &np);
    if (st)
        return st;
    link_conflicts(x, pts, np, r->n_members);
    if (checks_on(x) && x->opt->support_checks > 0) {
        st = dispute_checks(x, r, pts, np);
        if (!st)
            st = meaning_checks(x, r, pts, np);
        if (!st)
            st = support_checks(x, r, pts, np);
        if (st)
            return st;
    }
    r->analysis.checks_asked = x->asked;
    r->analysis.checks_confirmed = x->confirmed;
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

/* The yes/no question a dispute check asks. */
static dx_status prompt_same(const char *question, const char *a, const char *b, dx_buf *buf)
{
    return dx_buf_printf(buf,
                         "Reply with one word, yes or no. Do answer A and answer B give the same "
                         "answer to the question (in other words, or one with more detail)?\n\n"
                         "Question: %s\n\nAnswer A: %.2000s\n\nAnswer B: %.2000s\n\n"
                         "Reply (yes or no):",
                         question, a, b);
}

/* The lower of a point's check probability so far (-1: none) and p. */
static double lowest(double conf, double p)
{
    return conf < 0 ? p : fmin(conf, p);
}

static bool checks_on(const ctx *x)
{
    return x->opt->yesno || x->opt->check;
}

/* Asks the check model a yes/no prompt and counts the question: the graded
 * seam's probability of "yes", or 1 / 0 for a reply that opens with "yes" /
 * anything else. A failing model is 0. */
static double ask_yes(ctx *x, const char *prompt)
{
    double p = 0;
    x->asked++;
    if (x->opt->yesno) {
        if (x->opt->yesno(x->opt->yesno_user, prompt, &p) != DX_OK || !(p >= 0 && p <= 1))
            p = 0;
    } else {
        dx_buf reply = dx_buf_make(DX_CNS_MAX_GENERATED);
        p = x->opt->check(x->opt->check_user, prompt, &reply) == DX_OK && reply.data &&
            reply_is_yes(reply.data);
        dx_buf_free(&reply);
    }
    x->confirmed += p >= CNS_CHECK_YES;
    return p;
}

/* The check model's probability that a and b give the same answer. *st only
 * reports running out of memory. */
static double same_answer(ctx *x, const char *question, const char *a, const char *b, dx_status *st)
{
    dx_buf prompt = dx_buf_make(DX_MAX_PROMPT_BYTES);
    double p = 0;
    *st = prompt_same(question, a, b, &prompt);
    if (!*st)
        p = ask_yes(x, prompt.data);
    dx_buf_free(&prompt);
    return p;
}

/* Optional: ask a model whether the two most supported sides of each
 * dispute give the same answer in other words; a "yes" makes the dispute
 * one agreed point (every side's members, each with its own words). */
static dx_status dispute_checks(ctx *x, cns_result *r, point *pts, size_t np)
{
    size_t nm = r->n_members;
    int *merged = arena_alloc_array(x->a, np ? np : 1, sizeof *merged);
    if (!merged)
        return dx_oom("consensus");
    for (size_t p = 0; p < np && x->asked < x->opt->support_checks; p++) {
        if (find(pts, (int)p) != (int)p)
            continue;
        int side = -1; /* the next point of the component, with members of its own */
        for (size_t q = p + 1; q < np && side < 0; q++)
            if (find(pts, (int)q) == (int)p && (pts[q].mask & ~pts[p].mask))
                side = (int)q;
        if (side < 0)
            continue;
        dx_status st = DX_OK;
        double ps =
            same_answer(x, r->question, x->c[pts[p].rep].text, x->c[pts[side].rep].text, &st);
        if (st)
            return st;
        if (ps < CNS_CHECK_YES) {
            set_near(x, x->c[pts[p].rep].member, x->c[pts[side].rep].member, ps);
            continue;
        }
        pts[p].conf = lowest(pts[p].conf, ps); /* the model has spoken: no meaning check */
        size_t n = 0;
        for (size_t q = p + 1; q < np; q++)
            if (find(pts, (int)q) == (int)p)
                merged[n++] = (int)q;
        for (size_t i = 0; i < n; i++) {
            point *q = &pts[merged[i]];
            for (size_t k = 0; k < nm; k++)
                if (!(pts[p].mask >> k & 1) && (q->mask >> k & 1)) {
                    pts[p].mask |= 1ull << k;
                    pts[p].by_member[k] = q->by_member[k];
                }
            q->disputed = true; /* merged: shown as part of p */
            q->comp = merged[i];
        }
    }
    return DX_OK;
}

/* Optional: an agreed point whose supporter was matched by meaning alone (its
 * claim shares few words with the point's) is the uncertain band of section 4:
 * the check model is asked whether the two claims give the same answer. Below
 * CNS_CHECK_YES the supporter leaves the point (its nearness is the model's
 * probability); above, the point counts with that probability. */
static dx_status meaning_checks(ctx *x, cns_result *r, point *pts, size_t np)
{
    for (size_t p = 0; p < np && x->asked < x->opt->support_checks; p++) {
        point *pt = &pts[p];
        if (pt->disputed || pt->conf >= 0 || __builtin_popcountll(pt->mask) < 2)
            continue;
        const claim *rc = &x->c[pt->rep];
        for (size_t k = 0; k < r->n_members && x->asked < x->opt->support_checks; k++) {
            int d = pt->by_member[k];
            if (!(pt->mask >> k & 1) || (int)k == rc->member || d < 0 ||
                overlap(rc, &x->c[d], false).sim >= CNS_LEX_AGREE)
                continue;
            dx_status st = DX_OK;
            double ps = same_answer(x, r->question, rc->text, x->c[d].text, &st);
            if (st)
                return st;
            if (ps >= CNS_CHECK_YES) {
                pt->conf = lowest(pt->conf, ps);
            } else {
                pt->mask &= ~(1ull << k);
                pt->by_member[k] = -1;
                set_near(x, rc->member, (int)k, ps);
            }
        }
    }
    return DX_OK;
}

/* Optional: ask a model whether another member's answer supports a
 * point only one member made; a "yes" adds that member's support. */
static dx_status support_checks(ctx *x, cns_result *r, point *pts, size_t np)
{
    cns_member *m = r->members;
    for (size_t p = 0; p < np && x->asked < x->opt->support_checks; p++) {
        if (pts[p].disputed || __builtin_popcountll(pts[p].mask) != 1 ||
            find(pts, (int)p) != (int)p)
            continue;
        bool in_dispute = false;
        for (size_t q = 0; q < np; q++)
            if (q != p && find(pts, (int)q) == (int)p)
                in_dispute = true;
        if (in_dispute)
            continue;
        for (size_t k = 0; k < r->n_members && x->asked < x->opt->support_checks; k++) {
            if (!m[k].usable || (pts[p].mask >> k & 1))
                continue;
            dx_buf prompt = dx_buf_make(DX_MAX_PROMPT_BYTES);
            dx_status st = prompt_support(x->c[pts[p].rep].text, m[k].text, &prompt);
            if (!st) {
                double py = ask_yes(x, prompt.data);
                if (py >= CNS_CHECK_YES) {
                    pts[p].mask |= 1ull << k;
                    pts[p].conf = lowest(pts[p].conf, py);
                } else {
                    set_near(x, x->c[pts[p].rep].member, (int)k, py);
                }
            }
            dx_buf_free(&prompt);
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
        return dx_oom("consensus");
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
             .direct_conf = -1,
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
    if (!st && r->analysis.usable >= 2)
        st = direct_answers(&x, r);
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
