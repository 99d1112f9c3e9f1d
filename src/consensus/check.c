/*
 * check — the invariants every analysis object holds (docs/consensus.md,
 * section 8, "Invariants"), checked on the object itself before anyone shows
 * it: a result that breaks one is a bug, never something to display.
 */
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/rules.h"

static const cns_member *member_named(const cns_result *r, const char *name)
{
    for (size_t i = 0; name && i < r->n_members; i++)
        if (!strcmp(r->members[i].name, name))
            return &r->members[i];
    return NULL;
}

/* Whether the words are verbatim in the member's answer. */
static bool said_by(const cns_result *r, const char *member, const char *words)
{
    const cns_member *m = member_named(r, member);
    return m && m->usable && words && *words && strstr(m->text, words);
}

static const char *check_agreed(const cns_result *r)
{
    const cns_analysis *an = &r->analysis;
    for (size_t i = 0; i < an->n_agreed; i++) {
        const cns_agreed *g = &an->agreed[i];
        if (g->n_members < 2)
            return "an agreed point has fewer than two supporters";
        for (size_t k = 0; k < g->n_members; k++) {
            if (!g->evidence || strcmp(g->evidence[k].member, g->members[k]))
                return "an agreed point's supporter has no evidence";
            if (!said_by(r, g->members[k], g->evidence[k].text))
                return "an agreed point's evidence is not in that member's own text";
            for (size_t j = 0; j < k; j++)
                if (!strcmp(g->members[j], g->members[k]))
                    return "an agreed point lists a supporter twice";
        }
    }
    return NULL;
}

static const char *check_disputed(const cns_result *r)
{
    const cns_analysis *an = &r->analysis;
    for (size_t i = 0; i < an->n_disputed; i++) {
        const cns_disputed *d = &an->disputed[i];
        bool other_side = false;
        for (size_t k = 0; k < d->n_stances; k++) {
            const cns_stance *s = &d->stances[k];
            if (!said_by(r, s->member, s->text))
                return "a stance is not in that member's own words";
            if (s->position != d->stances[0].position)
                other_side = true;
            for (size_t j = 0; j < k; j++)
                if (!strcmp(d->stances[j].member, s->member))
                    return "a member is on two sides of a dispute";
        }
        if (!other_side)
            return "a disputed point has one side";
    }
    return NULL;
}

static const char *check_label(const cns_result *r)
{
    const cns_analysis *an = &r->analysis;
    int usable = 0;
    for (size_t i = 0; i < r->n_members; i++)
        usable += r->members[i].usable;
    if (usable != an->usable)
        return "the usable count does not match the members";
    if ((an->label == CNS_LABEL_NO_ANSWER) != (usable == 0))
        return "no_answer must mean no usable answer";
    if ((an->label == CNS_LABEL_SINGLE_VOICE) != (usable == 1))
        return "single_voice must mean exactly one usable answer";
    if ((usable < 2) != (an->consensus < 0))
        return "the percentage is null exactly below two usable answers";
    if (usable < 2)
        return an->n_agreed || an->n_disputed ? "one voice cannot agree or dispute" : NULL;
    if (an->consensus > 100)
        return "the percentage is above 100";
    if (an->n_agreed && an->consensus < CNS_AGREED_MIN_PERCENT)
        return "an agreed point beside a percentage of 5 or less";
    switch (an->label) {
    case CNS_LABEL_CONSENSUS:
        if (an->consensus < CNS_LABEL_CONSENSUS_MIN || !an->n_agreed || an->n_disputed)
            return "consensus needs the threshold, an agreed point and no dispute";
        break;
    case CNS_LABEL_PARTIAL:
        if (!an->n_agreed && !an->n_disputed)
            return "partial with nothing agreed or disputed";
        break;
    case CNS_LABEL_DISAGREE:
        if (!an->n_disputed)
            return "disagree without a disputed point";
        if (an->consensus >= CNS_LABEL_PARTIAL_MIN)
            return "disagree at or above the partial threshold";
        break;
    case CNS_LABEL_NO_COMMON_GROUND:
        if (an->n_agreed || an->n_disputed)
            return "no_common_ground beside an agreed or disputed point";
        break;
    default:
        return "a label that needs fewer usable answers";
    }
    return NULL;
}

const char *cns_check(const cns_result *r)
{
    const char *why = check_label(r);
    if (!why)
        why = check_agreed(r);
    if (!why)
        why = check_disputed(r);
    return why;
}
