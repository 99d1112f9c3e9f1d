/*
 * json — the analyze input and the analysis object as JSON (jansson), and a
 * plain-text view. The schema is documented in docs/api.md.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "consensus/consensus.h"
#include "core/limits.h"

static dx_status get_string(json_t *obj, const char *key, const char *where, size_t max,
                            bool required, arena *a, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return dx_fail(DX_EFORMAT, "analyze: %s needs a \"%s\" string", where, key);
        return DX_OK;
    }
    if (!json_is_string(v))
        return dx_fail(DX_EFORMAT, "analyze: %s \"%s\" must be a string", where, key);
    size_t n = json_string_length(v);
    if (n > max)
        return dx_fail(DX_ELIMIT, "analyze: %s \"%s\" is %zu bytes, at most %zu", where, key, n,
                       max);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n))
        return dx_fail(DX_EFORMAT, "analyze: %s \"%s\" contains a NUL character", where, key);
    *out = arena_strndup(a, s, n);
    if (!*out)
        return dx_oom("analyze");
    return DX_OK;
}

static dx_status get_count(json_t *obj, const char *key, const char *where, long long *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return DX_OK;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v) && isfinite(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        *out = (long long)json_real_value(v);
    else
        return dx_fail(DX_EFORMAT, "analyze: %s \"%s\" must be a number", where, key);
    if (*out < 0)
        return dx_fail(DX_EFORMAT, "analyze: %s \"%s\" must not be negative", where, key);
    return DX_OK;
}

static bool parse_status(const char *s, cns_status *out)
{
    static const char *const names[] = {"done", "failed", "timeout", "cancelled", "refused"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (cns_status)i;
            return true;
        }
    if (!strcmp(s, "error")) {
        *out = CNS_FAILED;
        return true;
    }
    if (!strcmp(s, "canceled")) {
        *out = CNS_CANCELLED;
        return true;
    }
    return false;
}

/* The name of answers[i] when it gives none: its model, numbered "model#k" when that model
 * answers more than once. NULL when out of memory. */
static const char *default_name(json_t *ans, size_t i, const char *model, arena *a)
{
    int same = 0, before = 0;
    for (size_t j = 0; j < json_array_size(ans); j++) {
        json_t *mj = json_object_get(json_array_get(ans, j), "model");
        if (json_is_string(mj) && !strcmp(json_string_value(mj), model)) {
            same++;
            if (j < i)
                before++;
        }
    }
    if (same <= 1)
        return model;
    char nm[DX_MAX_NAME_BYTES + 16];
    snprintf(nm, sizeof nm, "%s#%d", model, before + 1);
    return arena_strdup(a, nm);
}

/* Reads answers[i] into members[i] (model, name, status, error, counts, tier, cost, text); its
 * name must differ from those of members[0..i). */
static dx_status parse_member(json_t *ans, size_t i, arena *a, cns_member *members)
{
    dx_status st;
    json_t *o = json_array_get(ans, i);
    char where[48];
    snprintf(where, sizeof where, "answers[%zu]", i);
    if (!json_is_object(o))
        return dx_fail(DX_EFORMAT, "analyze: %s must be an object", where);
    cns_member *m = &members[i];
    const char *status = NULL;
    if ((st = get_string(o, "model", where, DX_MAX_NAME_BYTES, true, a, &m->model)) ||
        (st = get_string(o, "name", where, DX_MAX_NAME_BYTES, false, a, &m->name)) ||
        (st = get_string(o, "status", where, 32, false, a, &status)) ||
        (st = get_string(o, "error", where, DX_MAX_ERROR_BYTES, false, a, &m->error)) ||
        (st = get_count(o, "latency_ms", where, &m->latency_ms)) ||
        (st = get_count(o, "tokens", where, &m->tokens)) ||
        (st = get_count(o, "ttft_ms", where, &m->ttft_ms)))
        return st;
    json_t *tier = json_object_get(o, "tier"), *cost = json_object_get(o, "cost_usd");
    m->premium = json_is_string(tier) && !strcmp(json_string_value(tier), "premium");
    m->cost_usd = json_is_number(cost) && json_number_value(cost) >= 0 ? json_number_value(cost)
                  : m->premium                                         ? -1
                                                                       : 0;
    m->status = CNS_DONE;
    if (status && !parse_status(status, &m->status))
        return dx_fail(DX_EFORMAT,
                       "analyze: %s \"status\" must be done, failed, timeout, cancelled or refused",
                       where);
    st = get_string(o, "text", where, DX_MAX_ANSWER_BYTES, m->status == CNS_DONE, a, &m->text);
    if (st)
        return st;
    if (!m->text)
        m->text = "";
    if ((!m->name || !*m->name) && !(m->name = default_name(ans, i, m->model, a)))
        return dx_oom("analyze");
    for (size_t j = 0; j < i; j++)
        if (!strcmp(members[j].name, m->name))
            return dx_fail(DX_EFORMAT,
                           "analyze: %s name \"%s\" is used twice; names must be unique", where,
                           m->name);
    return DX_OK;
}

dx_status cns_input_parse(const char *json, size_t len, arena *a, cns_input *in)
{
    dx_status st = DX_OK;
    memset(in, 0, sizeof *in);
    if (len > DX_MAX_JSON_BYTES)
        return dx_fail(DX_ELIMIT, "analyze: input is %zu bytes, at most %u", len,
                       DX_MAX_JSON_BYTES);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return dx_fail(DX_EFORMAT, "analyze: not valid JSON at line %d column %d: %s", err.line,
                       err.column, err.text);
    if (!json_is_object(root)) {
        st = dx_fail(DX_EFORMAT,
                     "analyze: input must be a JSON object with \"question\" and \"answers\"");
        goto out;
    }
    st = get_string(root, "question", "the input", DX_MAX_QUESTION_BYTES, true, a, &in->question);
    if (!st && dx_utf8_chars(in->question, strlen(in->question)) > DX_MAX_QUESTION_CHARS)
        st = dx_fail(DX_ELIMIT, "analyze: the question is over %u characters",
                     DX_MAX_QUESTION_CHARS);
    if (st)
        goto out;
    json_t *ans = json_object_get(root, "answers");
    if (!json_is_array(ans)) {
        st = dx_fail(DX_EFORMAT, "analyze: \"answers\" must be an array of {\"model\", \"text\"}");
        goto out;
    }
    size_t n = json_array_size(ans);
    if (n > DX_MAX_MEMBERS) {
        st = dx_fail(DX_ELIMIT, "analyze: %zu answers, at most %u", n, DX_MAX_MEMBERS);
        goto out;
    }
    in->members = arena_alloc_array(a, n ? n : 1, sizeof *in->members);
    if (!in->members) {
        st = dx_oom("analyze");
        goto out;
    }
    for (size_t i = 0; i < n && !st; i++)
        st = parse_member(ans, i, a, in->members);
    if (!st)
        in->n_members = n;
out:
    json_decref(root);
    return st;
}

/* ---- output ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int put(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static int push(json_t *arr, json_t *v)
{
    return v ? json_array_append_new(arr, v) : -1;
}

/* The agreed points into ag: text, members, each member's evidence, whether direct. Returns
 * non-zero when something could not be added. */
static int agreed_json(json_t *ag, const cns_analysis *an)
{
    int bad = 0;
    for (size_t i = 0; ag && i < an->n_agreed; i++) {
        json_t *p = json_object(), *ms = json_array();
        bad |= push(ag, p);
        if (!p)
            break;
        json_t *ev = json_array();
        bad |= put(p, "text", json_string(an->agreed[i].text)) | put(p, "members", ms) |
               put(p, "evidence", ev) | put(p, "direct", json_boolean(an->agreed[i].direct)) |
               put(p, "check_p",
                   an->agreed[i].check_p >= 0 ? json_real(an->agreed[i].check_p) : json_null());
        for (size_t k = 0; ms && k < an->agreed[i].n_members; k++)
            bad |= push(ms, json_string(an->agreed[i].members[k]));
        for (size_t k = 0; ev && k < an->agreed[i].n_members; k++) {
            json_t *e = json_object();
            bad |= push(ev, e);
            if (e)
                bad |= put(e, "member", json_string(an->agreed[i].evidence[k].member)) |
                       put(e, "text", json_string(an->agreed[i].evidence[k].text));
        }
    }
    return bad;
}

/* The disputed points into di: text, each member's stance, whether direct. */
static int disputed_json(json_t *di, const cns_analysis *an)
{
    int bad = 0;
    for (size_t i = 0; di && i < an->n_disputed; i++) {
        json_t *p = json_object(), *ss = json_array();
        bad |= push(di, p);
        if (!p)
            break;
        bad |= put(p, "text", json_string(an->disputed[i].text)) | put(p, "stances", ss) |
               put(p, "direct", json_boolean(an->disputed[i].direct));
        for (size_t k = 0; ss && k < an->disputed[i].n_stances; k++) {
            const cns_stance *s = &an->disputed[i].stances[k];
            json_t *so = json_object();
            bad |= push(ss, so);
            if (so)
                bad |= put(so, "member", json_string(s->member)) |
                       put(so, "text", json_string(s->text)) |
                       put(so, "position", json_integer(s->position));
        }
    }
    return bad;
}

/* The unique points into un, and the models that several members share into sh. */
static int unique_and_shared_json(json_t *un, json_t *sh, const cns_analysis *an)
{
    int bad = 0;
    for (size_t i = 0; un && i < an->n_unique; i++) {
        json_t *p = json_object();
        bad |= push(un, p);
        if (p)
            bad |= put(p, "text", json_string(an->unique[i].text)) |
                   put(p, "member", json_string(an->unique[i].member));
    }
    for (size_t i = 0; sh && i < an->n_shared; i++) {
        json_t *p = json_object(), *ms = json_array();
        bad |= push(sh, p);
        if (!p)
            break;
        bad |= put(p, "model", json_string(an->shared[i].model)) | put(p, "members", ms);
        for (size_t k = 0; ms && k < an->shared[i].n_members; k++)
            bad |= push(ms, json_string(an->shared[i].members[k]));
    }
    return bad;
}

/* The direct answers ({kind, answers: [{member, value, text, group}]}), or null. */
static int direct_json(json_t *o, const cns_analysis *an)
{
    if (!an->direct_kind)
        return put(o, "direct", json_null());
    json_t *dj = json_object(), *da = json_array();
    int bad = put(o, "direct", dj);
    if (dj)
        bad |= put(dj, "kind", json_string(an->direct_kind)) | put(dj, "answers", da);
    for (size_t i = 0; da && i < an->n_direct; i++) {
        json_t *e = json_object();
        bad |= push(da, e);
        if (e)
            bad |= put(e, "member", json_string(an->direct[i].member)) |
                   put(e, "value", json_string(an->direct[i].value)) |
                   put(e, "text", json_string(an->direct[i].text)) |
                   put(e, "group", json_integer(an->direct[i].group));
    }
    return bad;
}

static json_t *analysis_json(const cns_analysis *an)
{
    json_t *o = json_object();
    int bad = !o;
    if (bad)
        return NULL;
    bad |= put(o, "label", json_string(cns_label_str(an->label)));
    bad |= put(o, "consensus", an->consensus >= 0 ? json_integer(an->consensus) : json_null());
    bad |= put(o, "nearness", json_real(round(an->nearness * 1000) / 1000));
    bad |= put(o, "unique_weight", json_real(an->unique_weight));
    json_t *ag = json_array(), *di = json_array(), *un = json_array(), *sh = json_array();
    bad |= put(o, "agreed", ag) | put(o, "disputed", di) | put(o, "unique", un);
    bad |= agreed_json(ag, an) | disputed_json(di, an);
    bad |= put(o, "shared_models", sh);
    bad |= unique_and_shared_json(un, sh, an);
    bad |= put(o, "usable", json_integer(an->usable));
    bad |= direct_json(o, an);
    bad |= put(o, "method", json_string(an->method ? an->method : "lexical"));
    json_t *ck = json_object();
    bad |= put(o, "support_checks", ck);
    if (ck)
        bad |= put(ck, "asked", json_integer(an->checks_asked)) |
               put(ck, "confirmed", json_integer(an->checks_confirmed));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *cns_to_json(const cns_result *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= put(o, "question", json_string(r->question));
    bad |= put(o, "category", str_or_null(r->category));
    json_t *ms = json_array();
    bad |= put(o, "members", ms);
    for (size_t i = 0; ms && i < r->n_members; i++) {
        const cns_member *m = &r->members[i];
        json_t *p = json_object();
        bad |= push(ms, p);
        if (!p)
            break;
        bad |= put(p, "name", json_string(m->name)) | put(p, "model", json_string(m->model)) |
               put(p, "status", json_string(cns_status_str(m->status))) |
               put(p, "error", str_or_null(m->error)) | put(p, "text", json_string(m->text)) |
               put(p, "latency_ms", json_integer(m->latency_ms)) |
               put(p, "tokens", json_integer(m->tokens)) |
               put(p, "ttft_ms", json_integer(m->ttft_ms)) |
               put(p, "tier", json_string(m->premium ? "premium" : "free")) |
               put(p, "cost_usd", m->cost_usd >= 0 ? json_real(m->cost_usd) : json_null()) |
               put(p, "usable", json_boolean(m->usable)) |
               put(p, "weight", json_real(round(m->weight * 1e6) / 1e6)) |
               put(p, "claims", json_integer(m->claims));
    }
    /* the question's estimated cost: the members' summed; null while any
     * premium member's is unknown (no prices in the config) */
    double cost = 0;
    bool known = true;
    for (size_t i = 0; i < r->n_members; i++) {
        if (r->members[i].cost_usd >= 0)
            cost += r->members[i].cost_usd;
        else
            known = false;
    }
    bad |= put(o, "cost_usd", known ? json_real(cost) : json_null());
    bad |= put(o, "analysis", analysis_json(&r->analysis));
    bad |= put(o, "answer", str_or_null(r->answer));
    bad |= put(o, "answer_kind", str_or_null(cns_answer_kind_str(r->answer_kind)));
    bad |= put(o, "answer_check", str_or_null(r->answer_check));
    bad |= put(o, "answer_member", str_or_null(r->answer_member));
    json_t *fu = json_array();
    bad |= put(o, "followups", fu);
    for (size_t i = 0; fu && i < r->n_followups; i++)
        bad |= push(fu, json_string(r->followups[i]));
    json_t *src = json_object();
    bad |= put(o, "sources", src);
    if (src)
        bad |= put(src, "answer", str_or_null(r->answer_source)) |
               put(src, "followups", str_or_null(r->followups_source)) |
               put(src, "category", str_or_null(r->category_source));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *cns_to_json_string(const cns_result *r, bool indent)
{
    json_t *o = cns_to_json(r);
    if (!o)
        return NULL;
    char *s = json_dumps(o, (indent ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

dx_status cns_to_text(const cns_result *r, dx_buf *b)
{
    const cns_analysis *an = &r->analysis;
    dx_buf_addf(b, "Question: %s\nCategory: %s\n", r->question, r->category ? r->category : "-");
    if (an->consensus >= 0)
        dx_buf_addf(b, "Label: %s, consensus %d%% (%d usable answers, %s matching)\n",
                    cns_label_str(an->label), an->consensus, an->usable, an->method);
    else
        dx_buf_addf(b, "Label: %s, consensus: not measurable with %d usable answer%s\n",
                    cns_label_str(an->label), an->usable, an->usable == 1 ? "" : "s");
    for (size_t i = 0; i < r->n_members; i++) {
        const cns_member *m = &r->members[i];
        dx_buf_addf(b, "  member %s (%s): %s%s%s\n", m->name, m->model, cns_status_str(m->status),
                    m->error ? ", " : "", m->error ? m->error : "");
    }
    for (size_t i = 0; i < an->n_shared; i++)
        dx_buf_addf(b, "  note: %zu voices share the model %s; they count with reduced weight\n",
                    an->shared[i].n_members, an->shared[i].model);
    if (an->n_agreed)
        dx_buf_add(b, "\nAgreed:\n");
    for (size_t i = 0; i < an->n_agreed; i++) {
        const cns_agreed *g = &an->agreed[i];
        dx_buf_addf(b, "  + %s  [", g->text);
        for (size_t k = 0; k < g->n_members; k++)
            dx_buf_addf(b, "%s%s", k ? ", " : "", g->members[k]);
        dx_buf_add(b, "]\n");
        for (size_t k = 0; k < g->n_members; k++)
            dx_buf_addf(b, "      %s: \"%s\"\n", g->evidence[k].member, g->evidence[k].text);
    }
    if (an->n_disputed)
        dx_buf_add(b, "\nDisputed:\n");
    for (size_t i = 0; i < an->n_disputed; i++) {
        const cns_disputed *d = &an->disputed[i];
        dx_buf_addf(b, "  ! %s\n", d->text);
        for (size_t k = 0; k < d->n_stances; k++)
            dx_buf_addf(b, "      %d. %s: %s\n", d->stances[k].position + 1, d->stances[k].member,
                        d->stances[k].text);
    }
    if (an->n_unique)
        dx_buf_add(b, "\nOnly one member:\n");
    for (size_t i = 0; i < an->n_unique; i++)
        dx_buf_addf(b, "  - %s  [%s]\n", an->unique[i].text, an->unique[i].member);
    if (r->answer)
        dx_buf_addf(b, "\nAnswer (%s):\n%s\n", r->answer_source, r->answer);
    if (r->n_followups)
        dx_buf_addf(b, "\nFollow-ups (%s):\n", r->followups_source);
    for (size_t i = 0; i < r->n_followups; i++)
        dx_buf_addf(b, "  %zu. %s\n", i + 1, r->followups[i]);
    return b->err;
}
