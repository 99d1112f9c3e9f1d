#include <dirent.h>
#include <jansson.h>
#include <stdint.h>

#include "consensus/consensus.h"
#include "consensus/synth.h"
#include "consensus/text.h"
#include "core/limits.h"
#include "test.h"
#include "test_rand.h"

/* ---- pieces -------------------------------------------------------------- */

static const char *stem_of(const char *w)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%s", w);
    buf[cns_stem(buf, strlen(buf))] = '\0';
    return buf;
}

TEST(porter_stemmer)
{
    CHECK_STR(stem_of("caresses"), "caress");
    CHECK_STR(stem_of("ponies"), "poni");
    CHECK_STR(stem_of("relational"), "relat");
    CHECK_STR(stem_of("hopping"), "hop");
    CHECK_STR(stem_of("filing"), "file");
    CHECK_STR(stem_of("happy"), "happi");
    CHECK_STR(stem_of("generalization"), "gener");
    CHECK_STR(stem_of("electrical"), "electr");
    CHECK_STR(stem_of("adjustment"), "adjust");
    CHECK_STR(stem_of("controlling"), "control");
    CHECK_STR(stem_of("created"), stem_of("creates"));
    CHECK_STR(stem_of("scattered"), stem_of("scattering"));
}

TEST(split_markdown_kinds)
{
    arena a = arena_make(4096, 1 << 20);
    const char *md =
        "# Title\n\nSure! Python was created by Guido van Rossum. It was released in 1991.\n\n"
        "Key facts:\n- **Typed:** dynamically, e.g. at run time\n- Uses [indentation](http://x) "
        "for blocks\n\n"
        "```python\nprint('not a claim')\n```\n\n| Name | Year |\n|---|---|\n| Python | 1991 "
        "|\n\nI hope this helps!";
    cns_span *sp;
    size_t n;
    CHECK(cns_markdown_split(md, strlen(md), &a, &sp, &n) == DX_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_STR(sp[0].text, "Python was created by Guido van Rossum.");
    CHECK(sp[0].kind == CNS_SPAN_SENTENCE);
    CHECK_STR(sp[1].text, "It was released in 1991.");
    CHECK_STR(sp[2].text, "Typed: dynamically, e.g. at run time");
    CHECK(sp[2].kind == CNS_SPAN_ITEM);
    CHECK_STR(sp[3].text, "Uses indentation for blocks");
    CHECK_STR(sp[4].text, "Python — Year: 1991");
    CHECK(sp[4].kind == CNS_SPAN_ROW);
    arena_free(&a);
}

TEST(features_numbers_and_units)
{
    arena a = arena_make(4096, 1 << 20);
    cns_features f, g;
    CHECK(cns_text_features("It is 5 km, or about 3.1 miles.", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 2);
    CHECK(f.qty[0].dim == CNS_DIM_LENGTH && f.qty[1].dim == CNS_DIM_LENGTH);
    CHECK_NEAR(f.qty[0].value, 5000, 1e-6);
    CHECK(cns_qty_agree(&f.qty[0], &f.qty[1]));
    CHECK(cns_text_features("The population is 1,400,000 or 1.4 million; it grew 12% since 2010.",
                            &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 4);
    CHECK_NEAR(f.qty[0].value, 1400000, 1e-6);
    CHECK(cns_qty_agree(&f.qty[0], &f.qty[1]));
    CHECK(f.qty[2].dim == CNS_DIM_PERCENT);
    CHECK(f.qty[3].dim == CNS_DIM_YEAR);
    CHECK(cns_text_features("twenty-one people and two hundred cats", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 2);
    CHECK_NEAR(f.qty[0].value, 21, 1e-9);
    CHECK_NEAR(f.qty[1].value, 200, 1e-9);
    CHECK(cns_text_features("one of the best", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 0);
    CHECK(cns_text_features("98.6 °F", &a, &f) == DX_OK);
    CHECK(cns_text_features("37 °C", &a, &g) == DX_OK);
    CHECK(f.n_qty == 1 && g.n_qty == 1 && cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("40 °C", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* an oven setting converted and rounded to ten degrees: 400 °F is 204.4 °C */
    CHECK(cns_text_features("200 °C", &a, &f) == DX_OK);
    CHECK(cns_text_features("400 °F", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("450 °F", &a, &g) == DX_OK); /* 232 °C */
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("104 °F", &a, &f) == DX_OK); /* 40 °C */
    CHECK(cns_text_features("36.6 °C", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* a weight converted between units cannot keep its written digits: 7.5 lb is 3.40 kg */
    CHECK(cns_text_features("about 3.5 kg", &a, &f) == DX_OK);
    CHECK(cns_text_features("around 7.5 pounds", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("3.5 kg", &a, &f) == DX_OK);
    CHECK(cns_text_features("7.5 pounds", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("6.5 pounds", &a, &g) == DX_OK); /* 2.95 kg */
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("70 kg", &a, &f) == DX_OK);
    CHECK(cns_text_features("154 lb", &a, &g) == DX_OK);
    CHECK(f.qty[0].dim == CNS_DIM_MASS && cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("about 1,000 pounds", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("60 mph", &a, &f) == DX_OK);
    CHECK(cns_text_features("97 km/h", &a, &g) == DX_OK);
    CHECK(f.qty[0].dim == CNS_DIM_SPEED && cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("Python 3.12", &a, &f) == DX_OK);
    CHECK(cns_text_features("Python 3.11", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0])); /* versions: no tolerance */
    CHECK(cns_text_features("16 eggs", &a, &f) == DX_OK);
    CHECK(cns_text_features("15 eggs", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("1991", &a, &f) == DX_OK);
    CHECK(cns_text_features("1994", &a, &g) == DX_OK);
    CHECK(f.qty[0].dim == CNS_DIM_YEAR && !cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* °C spelt two ways: within the rounding of either, or half a degree (as a conversion) */
    CHECK(cns_text_features("about 38 °C", &a, &f) == DX_OK);
    CHECK(cns_text_features("around 37.7 degrees Celsius", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("around 37.2 degrees Celsius", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* a whole-degree value converted to °F beside a tenth in °C: within half a degree */
    CHECK(cns_text_features("100.4 °F", &a, &f) == DX_OK); /* 38.0 °C */
    CHECK(cns_text_features("37.7 °C", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("37.2 °C", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* metric tons and pressures */
    CHECK(cns_text_features("about 4 metric tons", &a, &f) == DX_OK);
    CHECK(cns_text_features("around 8,800 pounds", &a, &g) == DX_OK);
    CHECK(f.qty[0].dim == CNS_DIM_MASS && cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("2.2 bar is 220 kPa or about 32 psi", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 3); /* "bar" alone is not a unit: bars of soap */
    CHECK(f.qty[1].dim == CNS_DIM_PRESSURE && cns_qty_agree(&f.qty[1], &f.qty[2]));
    CHECK(cns_text_features("1 atm", &a, &f) == DX_OK);
    CHECK(cns_text_features("1013 hPa", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("500 mmHg", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    /* a range is one quantity in its second number's unit; it agrees with what falls in it */
    CHECK(cns_text_features("Drink 2-3 L a day", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 1);
    CHECK(f.qty[0].dim == CNS_DIM_VOLUME && f.qty[0].value == 2 && f.qty[0].hi == 3);
    CHECK(cns_text_features("at least 2 litres", &a, &g) == DX_OK);
    CHECK(cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("about 4 litres", &a, &g) == DX_OK);
    CHECK(!cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("Boil it for 9 to 12 minutes", &a, &f) == DX_OK);
    CHECK(cns_text_features("Boil it for 10 minutes", &a, &g) == DX_OK);
    CHECK(f.n_qty == 1 && cns_qty_agree(&f.qty[0], &g.qty[0]));
    CHECK(cns_text_features("150–200 mg", &a, &f) == DX_OK);
    CHECK(f.n_qty == 1 && f.qty[0].hi > f.qty[0].value);
    /* not a range: years, a spaced minus, a smaller second number */
    CHECK(cns_text_features("from 1939-1945", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 2);
    CHECK(cns_text_features("12 - 5 = 7", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 3);
    CHECK(cns_text_features("10-3 km", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.n_qty, 2);
    arena_free(&a);
}

TEST(features_negation_names_unicode)
{
    arena a = arena_make(4096, 1 << 20);
    cns_features f;
    CHECK(cns_text_features("It isn't safe and never was.", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.neg, 2);
    CHECK(cns_text_features("It is unsafe.", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.neg, 1);
    CHECK(f.n_tok == 1 && !strcmp(f.toks[0].stem, "safe"));
    /* "avoid X" says "do not X": "Don't shop hungry" and "avoid shopping hungry" agree */
    CHECK(cns_text_features("Avoid shopping when you are hungry.", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.neg, 1);
    int negated = 0;
    for (size_t i = 0; i < f.n_tok; i++)
        negated += (f.toks[i].flags & CNS_TOK_NEGATED) != 0;
    CHECK(negated >= 1);
    CHECK(cns_text_features("No, Pluto is a dwarf planet.", &a, &f) == DX_OK);
    CHECK_EQ_INT(f.verdict, -1);
    CHECK_EQ_INT(f.neg, 0);
    CHECK(cns_text_features("Flask uses the MIT license, says Armin.", &a, &f) == DX_OK);
    int names = 0;
    for (size_t i = 0; i < f.n_tok; i++)
        names += (f.toks[i].flags & CNS_TOK_NAME) != 0;
    CHECK_EQ_INT(names, 2); /* mit, armin; not the sentence-initial "Flask" */
    /* NFKC + casefold: full-width letters and ligatures compare equal */
    cns_features g;
    CHECK(cns_text_features("ＰＹＴＨＯＮ ﬁle", &a, &f) == DX_OK);
    CHECK(cns_text_features("python file", &a, &g) == DX_OK);
    CHECK_EQ_INT(f.n_tok, 2);
    CHECK_EQ_INT(g.n_tok, 2);
    CHECK_STR(f.toks[0].stem, g.toks[0].stem);
    CHECK_STR(f.toks[1].stem, g.toks[1].stem);
    /* invalid UTF-8 is skipped, not fatal */
    CHECK(cns_text_features("caf\xc3 \xff\xfe ok words", &a, &f) == DX_OK);
    arena_free(&a);
}

TEST(refusals)
{
    CHECK(cns_is_refusal("I'm sorry, but I can't help with that."));
    CHECK(cns_is_refusal("As an AI language model, I do not have opinions."));
    CHECK(cns_is_refusal("I cannot assist with this request."));
    CHECK(!cns_is_refusal("The capital of Australia is Canberra."));
    CHECK(!cns_is_refusal("You can't divide by zero."));
    CHECK(cns_is_refusal("As a large language model, I cannot browse the internet."));
    CHECK(cns_is_refusal("Unfortunately, I can\xe2\x80\x99t share that."));
    CHECK(!cns_is_refusal("I cannot stress enough how important sleep is."));
    CHECK(!cns_is_refusal("The object was an Air Force balloon.")); /* not "as an ai" */
    CHECK(cns_is_refusal("I'm sorry, but I cannot do this."));
}

/* ---- answer sets with known outcomes ---------------------------------------- */

static bool has_member(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i,
                       v) if (json_is_string(v) && !strcmp(json_string_value(v), name)) return true;
    return false;
}

static int member_count(json_t *obj, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(
        json_object_get(obj, "members"), i,
        m) if (!strcmp(json_string_value(json_object_get(m, "name")), name)) return 1;
    return 0;
}

/* Checks that hold for every result: the rule that everything shown comes from one object. */
static const char *invariants(json_t *o)
{
    json_t *an = json_object_get(o, "analysis");
    const char *label = json_string_value(json_object_get(an, "label"));
    json_t *c = json_object_get(an, "consensus");
    size_t na = json_array_size(json_object_get(an, "agreed"));
    size_t usable = (size_t)json_integer_value(json_object_get(an, "usable"));
    if (!label)
        return "no label";
    if ((!strcmp(label, "single_voice") || !strcmp(label, "no_answer")) != json_is_null(c))
        return "consensus must be null exactly for single_voice and no_answer";
    if (!strcmp(label, "single_voice") && (na || usable != 1))
        return "single_voice with agreed points";
    if (!strcmp(label, "no_answer") && usable != 0)
        return "no_answer with usable members";
    if (json_is_integer(c)) {
        long long v = json_integer_value(c);
        if (v < 0 || v > 100)
            return "consensus outside 0..100";
        if (na && v == 0)
            return "0% beside agreed points";
        size_t nd = json_array_size(json_object_get(an, "disputed"));
        if (!strcmp(label, "consensus") && (v < 70 || !na || nd))
            return "consensus label below 70%, nothing agreed or a dispute";
        if (!strcmp(label, "disagree") && v >= 35)
            return "disagree label at 35% or more";
    }
    size_t i, k;
    json_t *p, *s;
    json_array_foreach(json_object_get(an, "agreed"), i, p)
    {
        if (json_array_size(json_object_get(p, "members")) < 2)
            return "agreed point with fewer than two members";
        json_array_foreach(
            json_object_get(p, "members"), k,
            s) if (!member_count(o, json_string_value(s))) return "agreed names an unknown member";
    }
    json_array_foreach(json_object_get(an, "disputed"), i, p)
    {
        json_t *st = json_object_get(p, "stances");
        if (json_array_size(st) < 2)
            return "disputed point with one stance";
        json_array_foreach(
            st, k, s) if (!member_count(o,
                                        json_string_value(json_object_get(
                                            s, "member")))) return "stance of an unknown member";
    }
    return NULL;
}

static int side_of(json_t *disputed, const char *member)
{
    size_t k;
    json_t *s;
    json_array_foreach(
        json_object_get(disputed, "stances"), k,
        s) if (!strcmp(json_string_value(json_object_get(s, "member")),
                       member)) return (int)json_integer_value(json_object_get(s, "position"));
    return -1;
}

/* One answer set: run the analysis and compare with its "expect" block. */
static const char *check_case(const char *path, char *why, size_t whylen)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc) {
        snprintf(why, whylen, "cannot read: %s", err.text);
        return why;
    }
    json_t *ex = json_object_get(doc, "expect");
    char *in_text = json_dumps(json_object_get(doc, "input"), 0);
    arena a = arena_make(64 << 10, 256 << 20);
    cns_input in;
    cns_result *r = NULL;
    json_t *o = NULL;
    const char *fail = NULL;
    if (cns_input_parse(in_text, strlen(in_text), &a, &in)) {
        snprintf(why, whylen, "parse: %s", dx_errmsg());
        fail = why;
        goto out;
    }
    cns_synth_options so = {.answer = true};
    if (cns_analyze(&in, NULL, &a, &r) || cns_synthesize(r, &so, &a)) {
        snprintf(why, whylen, "analyze: %s", dx_errmsg());
        fail = why;
        goto out;
    }
    if ((fail = cns_check(r)))
        goto out;
    o = cns_to_json(r);
    json_t *an = json_object_get(o, "analysis");
    const char *label = json_string_value(json_object_get(an, "label"));
    long long cons = json_integer_value(json_object_get(an, "consensus"));
    size_t na = json_array_size(json_object_get(an, "agreed")),
           nd = json_array_size(json_object_get(an, "disputed"));
    if ((fail = invariants(o)))
        goto out;
    json_t *labels = json_object_get(ex, "label"), *v;
    size_t i;
    bool ok = false;
    json_array_foreach(labels, i, v) if (!strcmp(json_string_value(v), label)) ok = true;
    if (!ok) {
        snprintf(why, whylen, "label %s (consensus %lld, %zu agreed, %zu disputed)", label, cons,
                 na, nd);
        fail = why;
        goto out;
    }
    json_array_foreach(json_object_get(ex, "not_label"), i,
                       v) if (!strcmp(json_string_value(v), label))
    {
        snprintf(why, whylen, "label must not be %s", label);
        fail = why;
        goto out;
    }
#define EXPECT_CMP(key, actual, op)                                                                \
    if ((v = json_object_get(ex, key)) && !((long long)(actual)op json_integer_value(v))) {        \
        snprintf(why, whylen, "%s: got %lld", key, (long long)(actual));                           \
        fail = why;                                                                                \
        goto out;                                                                                  \
    }
    EXPECT_CMP("consensus_min", cons, >=);
    EXPECT_CMP("consensus_max", cons, <=);
    EXPECT_CMP("agreed_min", na, >=);
    EXPECT_CMP("agreed_max", na, <=);
    EXPECT_CMP("disputed_min", nd, >=);
    EXPECT_CMP("disputed_max", nd, <=);
    EXPECT_CMP("usable", json_integer_value(json_object_get(an, "usable")), ==);
    EXPECT_CMP("shared_models", json_array_size(json_object_get(an, "shared_models")), ==);
    if (json_is_true(json_object_get(ex, "consensus_null")) &&
        !json_is_null(json_object_get(an, "consensus"))) {
        fail = "consensus should be null";
        goto out;
    }
    json_t *set;
    json_array_foreach(json_object_get(ex, "agreed_with"), i, set)
    {
        bool found = false;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(an, "agreed"), k, p)
        {
            bool all = true;
            size_t q;
            json_t *nm;
            json_array_foreach(set, q, nm) all &=
                has_member(json_object_get(p, "members"), json_string_value(nm));
            found |= all;
        }
        if (!found) {
            snprintf(why, whylen, "no agreed point held by set %zu (%zu agreed, %zu disputed)", i,
                     na, nd);
            fail = why;
            goto out;
        }
    }
    json_array_foreach(json_object_get(ex, "disputed_between"), i, set)
    {
        bool found = false;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(an, "disputed"), k, p)
        {
            int s0 = side_of(p, json_string_value(json_array_get(set, 0)));
            int s1 = side_of(p, json_string_value(json_array_get(set, 1)));
            found |= s0 >= 0 && s1 >= 0 && s0 != s1;
        }
        if (!found) {
            snprintf(why, whylen, "%s and %s are not on different sides of a dispute",
                     json_string_value(json_array_get(set, 0)),
                     json_string_value(json_array_get(set, 1)));
            fail = why;
            goto out;
        }
    }
    if ((v = json_object_get(ex, "majority_side"))) {
        json_t *d = json_array_get(json_object_get(an, "disputed"), 0);
        long long n0 = 0;
        size_t k;
        json_t *s;
        json_array_foreach(json_object_get(d, "stances"), k, s) n0 +=
            json_integer_value(json_object_get(s, "position")) == 0;
        if (n0 != json_integer_value(v)) {
            snprintf(why, whylen, "first side has %lld members", n0);
            fail = why;
            goto out;
        }
    }
    json_t *st = json_object_get(ex, "status");
    const char *key;
    json_object_foreach(st, key, v)
    {
        json_t *m;
        size_t k;
        bool found = false;
        json_array_foreach(json_object_get(o, "members"), k,
                           m) if (!strcmp(json_string_value(json_object_get(m, "name")), key))
        {
            found = true;
            if (strcmp(json_string_value(json_object_get(m, "status")), json_string_value(v))) {
                snprintf(why, whylen, "%s status %s", key,
                         json_string_value(json_object_get(m, "status")));
                fail = why;
                goto out;
            }
        }
        if (!found) {
            fail = "status of an unknown member";
            goto out;
        }
    }
    json_array_foreach(json_object_get(ex, "weight_below_one"), i, v)
    {
        json_t *m;
        size_t k;
        json_array_foreach(
            json_object_get(o, "members"), k,
            m) if (!strcmp(json_string_value(json_object_get(m, "name")), json_string_value(v)) &&
                   !(json_real_value(json_object_get(m, "weight")) < 1.0))
        {
            fail = "shared-model voice has full weight";
            goto out;
        }
    }
    if ((v = json_object_get(ex, "answer_contains")) &&
        (!r->answer || !strstr(r->answer, json_string_value(v)))) {
        fail = "answer lacks the expected text";
        goto out;
    }
    if (!r->answer || strcmp(r->answer_source, "extractive") || !r->followups_source) {
        fail = "no extractive answer";
        goto out;
    }
out:
    json_decref(o);
    free(in_text);
    arena_free(&a);
    json_decref(doc);
    return fail;
}

TEST(answer_sets)
{
    DIR *d = opendir("tests/data/consensus");
    if (!d)
        SKIP("tests/data/consensus not found (run from the repository root)");
    struct dirent *e;
    int n = 0, bad = 0;
    char names[4096] = "";
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        char path[512], why[512];
        snprintf(path, sizeof path, "tests/data/consensus/%s", e->d_name);
        const char *fail = check_case(path, why, sizeof why);
        n++;
        if (fail) {
            bad++;
            printf("  case %s: %s\n", e->d_name, fail);
            if (strlen(names) + len + 2 < sizeof names) {
                strcat(names, " ");
                strcat(names, e->d_name);
            }
        }
    }
    closedir(d);
    CHECK_MSG(n >= 20, "only %d answer sets", n);
    CHECK_MSG(bad == 0, "%d of %d answer sets failed:%s", bad, n, names);
}

/* ---- seams ------------------------------------------------------------------- */

/* A stand-in encoder for the seam: hashed bag of lowercase words, L2-normalised,
 * with "automobile" and "car" mapped together as a paraphrase an encoder would know. */
static int embed_calls;
static dx_status toy_embed(void *user, const char *text, float *out, size_t dim)
{
    (void)user;
    embed_calls++;
    memset(out, 0, dim * sizeof *out);
    char w[64];
    size_t n = 0;
    for (const char *p = text;; p++) {
        if (*p && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            if (n < sizeof w - 1)
                w[n++] = (char)(*p | 0x20);
            continue;
        }
        if (n > 2) {
            w[n] = '\0';
            const char *t = !strcmp(w, "automobile") ? "car" : !strcmp(w, "vehicles") ? "cars" : w;
            uint32_t h = 2166136261u;
            for (const char *q = t; *q; q++)
                h = (h ^ (uint8_t)*q) * 16777619u;
            out[h % dim] += 1;
        }
        n = 0;
        if (!*p)
            break;
    }
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += out[i] * out[i];
    s = s > 0 ? sqrt(s) : 1;
    for (size_t i = 0; i < dim; i++)
        out[i] = (float)(out[i] / s);
    return DX_OK;
}

static const char *paraphrase_json =
    "{\"question\":\"What do electric cars need?\",\"answers\":["
    "{\"model\":\"a\",\"text\":\"Electric cars need charging stations.\"},"
    "{\"model\":\"b\",\"text\":\"Electric automobile owners need charging stations.\"}]}";

TEST(embedding_seam_is_used)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(paraphrase_json, strlen(paraphrase_json), &a, &in) == DX_OK);
    cns_options opt = {.embed = toy_embed, .embed_dim = 256};
    embed_calls = 0;
    CHECK(cns_analyze(&in, &opt, &a, &r) == DX_OK);
    CHECK(embed_calls >= 2);
    CHECK_STR(r->analysis.method, "embedding");
    CHECK_EQ_INT(r->analysis.n_agreed, 1);
    CHECK(r->answer == NULL); /* synthesis off */
    arena_free(&a);
}

/* A scripted encoder for "nothing agreed": each word is a direction of its own,
 * and the words of one topic also share a topic direction. */
static dx_status topic_embed(void *user, const char *text, float *out, size_t dim)
{
    (void)user;
    memset(out, 0, dim * sizeof *out);
    static const char *const topic[] = {"sarah", "abraham", "isaac"};
    char w[64];
    size_t n = 0;
    for (const char *p = text;; p++) {
        if (*p && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            if (n < sizeof w - 1)
                w[n++] = (char)(*p | 0x20);
            continue;
        }
        if (n > 2) {
            w[n] = '\0';
            uint32_t h = 2166136261u;
            for (const char *q = w; *q; q++)
                h = (h ^ (uint8_t)*q) * 16777619u;
            out[1 + h % (dim - 1)] += 1;
            for (size_t k = 0; k < sizeof topic / sizeof topic[0]; k++)
                if (!strcmp(w, topic[k]))
                    out[0] += 1;
        }
        n = 0;
        if (!*p)
            break;
    }
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += out[i] * out[i];
    s = s > 0 ? sqrt(s) : 1;
    for (size_t i = 0; i < dim; i++)
        out[i] = (float)(out[i] / s);
    return DX_OK;
}

static int pair_percent(arena *a, const char *q, const char *x, const char *y, cns_label *label)
{
    char j[1024];
    snprintf(j, sizeof j,
             "{\"question\":\"%s\",\"answers\":[{\"model\":\"a\",\"text\":\"%s\"},"
             "{\"model\":\"b\",\"text\":\"%s\"}]}",
             q, x, y);
    cns_input in;
    cns_result *r;
    cns_options opt = {.embed = topic_embed, .embed_dim = 64};
    if (cns_input_parse(j, strlen(j), a, &in) || cns_analyze(&in, &opt, a, &r) || cns_check(r))
        return -100;
    *label = r->analysis.label;
    return r->analysis.consensus;
}

/* Nothing agreed: the percentage stays at most 5 and says how near in meaning the
 * answers came. Two names of one story are nearer than an answer about something
 * else; one sentence with two different values is a plain contradiction (0). */
TEST(nothing_agreed_grades_how_near_the_answers_are)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_label l1 = CNS_LABEL_CONSENSUS, l2 = l1, l3 = l1;
    int related = pair_percent(&a, "Who had a baby at 100 in the Bible?", "Sarah", "Abraham", &l1);
    int unrelated = pair_percent(&a, "Who had a baby at 100 in the Bible?", "Sarah",
                                 "The oath of allegiance", &l2);
    int frame = pair_percent(&a, "What is the spiciest part of a chili pepper?",
                             "The spiciest part of a chili pepper is the placenta.",
                             "The spiciest part of a chili pepper is the seeds.", &l3);
    CHECK_MSG(related >= 1 && related <= 5, "related answers: %d%%", related);
    CHECK_EQ_INT(unrelated, 0);
    CHECK_EQ_INT(frame, 0);
    CHECK(l1 != CNS_LABEL_CONSENSUS && l1 != CNS_LABEL_PARTIAL);
    CHECK(l3 == CNS_LABEL_DISAGREE);
    arena_free(&a);
}

static cns_label lexical_pair_label(arena *a, const char *q, const char *x, const char *y)
{
    char j[1024];
    snprintf(j, sizeof j,
             "{\"question\":\"%s\",\"answers\":[{\"model\":\"a\",\"text\":\"%s\"},"
             "{\"model\":\"b\",\"text\":\"%s\"}]}",
             q, x, y);
    cns_input in;
    cns_result *r;
    if (cns_input_parse(j, strlen(j), a, &in) || cns_analyze(&in, NULL, a, &r) || cns_check(r))
        return CNS_LABEL_NO_ANSWER;
    return r->analysis.label;
}

/* A negation reaches the words of its clause after it ("does not have any impact
 * on weight gain" denies the gain), and a sentence that denies the question's
 * premise is an answer, not the question restated. */
TEST(negations_reach_their_clause_and_denials_are_answers)
{
    arena a = arena_make(64 << 10, 64 << 20);
    CHECK(lexical_pair_label(&a, "What happens if you eat after 8pm?",
                             "Eating after 8pm does not have any impact on weight gain.",
                             "If you eat after 8pm, you will gain weight.") == CNS_LABEL_DISAGREE);
    CHECK(lexical_pair_label(&a, "Why do French people have bad breath?",
                             "French people don't have bad breath.",
                             "French people have bad breath because they eat too much cheese.") ==
          CNS_LABEL_DISAGREE);
    /* the same polarity on both sides is still agreement */
    CHECK(lexical_pair_label(
              &a, "Why do French people have bad breath?", "French people don't have bad breath.",
              "French people do not have bad breath at all.") == CNS_LABEL_CONSENSUS);
    arena_free(&a);
}

typedef struct fake_model {
    int calls;
    int support_yes;
    bool two_followups;
} fake_model;

/* A stand-in synthesizer: answers by the kind of prompt it is given. */
static dx_status fake_generate(void *user, const char *prompt, dx_buf *out)
{
    fake_model *m = user;
    m->calls++;
    if (strstr(prompt, "Reply with one word, yes or no")) {
        m->support_yes++;
        return dx_buf_puts(out, "Yes.");
    }
    if (strstr(prompt, "Which one category"))
        return dx_buf_puts(out, " Science\n");
    if (strstr(prompt, "Then write the line \"Follow-up questions:\""))
        return dx_buf_puts(out,
                           m->two_followups
                               ? "Water boils at 100 °C at sea level.\n\n**Follow-up questions:**\n"
                                 "**Why does water boil at a lower temperature on a mountain?**\n\n"
                                 "Question: At what temperature does water boil?\n"
                                 "What is the boiling point of salt water?\n"
                               : "Water boils at 100 °C at sea level.\n\nFollow-up questions:\n"
                                 "1. Why does water boil at a lower temperature on a mountain?\n"
                                 "2. What is the boiling point of salt water?\n"
                                 "- Does the pot's material change when water boils?\n");
    return dx_fail(DX_EINTERNAL, "unexpected prompt");
}

/* A synthesizer that copies its notes back instead of answering. */
static dx_status parrot_generate(void *user, const char *prompt, dx_buf *out)
{
    (void)user;
    if (strstr(prompt, "Follow-up questions:"))
        return dx_buf_puts(out,
                           "**Agreed Points:**\n\n- 2 of 2 models agree: water boils at 100 °C.\n");
    return dx_fail(DX_EINTERNAL, "no reply");
}

static dx_status broken_generate(void *user, const char *prompt, dx_buf *out)
{
    (void)user;
    (void)prompt;
    (void)out;
    return dx_fail(DX_ENET, "synthesizer unreachable");
}

static const char *boil_json =
    "{\"question\":\"At what temperature does water boil?\",\"answers\":["
    "{\"model\":\"a\",\"text\":\"Water boils at 100 °C at sea level. Salt raises the boiling point "
    "a little.\"},"
    "{\"model\":\"b\",\"text\":\"At sea level water boils at 212 °F.\"}]}";

TEST(synthesis_seam_and_support_checks)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(boil_json, strlen(boil_json), &a, &in) == DX_OK);
    fake_model fm = {0};
    cns_synth_options so = {.generate = fake_generate, .generate_user = &fm, .answer = true};
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(r->category == NULL && r->answer == NULL); /* analysis writes no prose */
    CHECK_EQ_INT(fm.calls, 0);
    CHECK(cns_synthesize(r, &so, &a) == DX_OK);
    CHECK_STR(r->answer_source, "model");
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK(r->answer_check == NULL);
    CHECK_STR(r->answer, "Water boils at 100 °C at sea level.");
    CHECK_STR(r->category, "Science");
    CHECK_STR(r->category_source, "derived"); /* no model call for a label while answering */
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups[0], "Why does water boil at a lower temperature on a mountain?");
    CHECK_STR(r->followups[2], "Does the pot's material change when water boils?");
    CHECK_STR(r->followups_source, "model");
    CHECK_EQ_INT(fm.calls, 1); /* the answer with its follow-ups, in one generation */
    /* without an answer to write, the model names the category */
    cns_synth_options cat_only = {.generate = fake_generate, .generate_user = &fm};
    CHECK(cns_synthesize(r, &cat_only, &a) == DX_OK);
    CHECK_STR(r->category_source, "model");
    CHECK_EQ_INT(fm.calls, 2);
    CHECK_EQ_INT(r->analysis.checks_asked, 0);
    size_t unique_before = r->analysis.n_unique;
    int cons_before = r->analysis.consensus;
    CHECK(unique_before == 1);
    /* optional yes/no support check: the salt point gets b's support */
    cns_options opt2 = {.check = fake_generate, .check_user = &fm, .support_checks = 4};
    arena_reset(&a);
    CHECK(cns_input_parse(boil_json, strlen(boil_json), &a, &in) == DX_OK);
    CHECK(cns_analyze(&in, &opt2, &a, &r) == DX_OK);
    CHECK_EQ_INT(r->analysis.checks_asked, 1);
    CHECK_EQ_INT(r->analysis.checks_confirmed, 1);
    CHECK_EQ_INT(r->analysis.n_unique, 0);
    CHECK(r->analysis.consensus > cons_before);
    /* a failing synthesizer falls back to the extractive answer, which says so */
    arena_reset(&a);
    CHECK(cns_input_parse(boil_json, strlen(boil_json), &a, &in) == DX_OK);
    cns_synth_options so3 = {.generate = broken_generate, .answer = true};
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(cns_synthesize(r, &so3, &a) == DX_OK);
    CHECK_STR(r->answer_source, "extractive");
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_EXTRACTIVE);
    CHECK(strstr(r->answer, "Extractive answer") != NULL);
    CHECK(strstr(r->answer, "100 °C") != NULL);
    CHECK_STR(r->followups_source, "derived");
    CHECK_STR(r->category_source, "derived");
    CHECK(strstr(r->answer, "the synthesizer model did not answer") != NULL);
    /* two follow-ups from the model (emphasis stripped), the third derived, and the source says so
     */
    arena_reset(&a);
    CHECK(cns_input_parse(boil_json, strlen(boil_json), &a, &in) == DX_OK);
    fake_model two = {.two_followups = true};
    cns_synth_options so5 = {.generate = fake_generate, .generate_user = &two, .answer = true};
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(cns_synthesize(r, &so5, &a) == DX_OK);
    CHECK_EQ_INT(r->n_followups, 3);
    /* emphasis stripped; the question again ("Question: ...") is not a follow-up */
    CHECK_STR(r->followups[0], "Why does water boil at a lower temperature on a mountain?");
    CHECK_STR(r->followups[1], "What is the boiling point of salt water?");
    CHECK(strstr(r->followups[2], "boil") != NULL);
    CHECK_STR(r->followups_source, "model+derived");
    /* a reply that restates the notes is not passed off as the model's answer */
    arena_reset(&a);
    CHECK(cns_input_parse(boil_json, strlen(boil_json), &a, &in) == DX_OK);
    cns_synth_options so4 = {.generate = parrot_generate, .answer = true};
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(cns_synthesize(r, &so4, &a) == DX_OK);
    CHECK_STR(r->answer_source, "extractive");
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_EXTRACTIVE);
    CHECK(r->answer_check && strstr(r->answer_check, "repeats its instructions"));
    CHECK(strstr(r->answer, "repeats its instructions") != NULL);
    CHECK(strstr(r->answer, "Agreed Points") == NULL);
    /* the prompt gives the analysis as notes, one sentence per point, and every usable answer */
    dx_buf p = dx_buf_make(DX_MAX_PROMPT_BYTES);
    CHECK(cns_prompt_synthesis(r, &p) == DX_OK);
    CHECK(strstr(p.data, "Question: At what temperature does water boil?\n") != NULL);
    CHECK(strstr(p.data, "Notes (2 models answered; consensus ") != NULL);
    CHECK(strstr(p.data, "- 2 of 2 models agree: ") != NULL);
    CHECK(strstr(p.data, "- Only a said (unconfirmed): Salt raises the boiling point a little") !=
          NULL);
    CHECK(strstr(p.data, "\n[b] At sea level water boils at 212 °F.\n") != NULL);
    CHECK(strstr(p.data, "Agreed points") == NULL);
    CHECK(strstr(p.data, "Then write the line \"Follow-up questions:\"") != NULL);
    dx_buf_free(&p);
    arena_free(&a);
}

TEST(derived_followups_and_category_follow_content)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"Who created the Python programming language?\",\"answers\":["
                    "{\"model\":\"a\",\"text\":\"Python was created by Guido van Rossum.\"},"
                    "{\"model\":\"b\",\"text\":\"Python was created by James Gosling.\"}]}";
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(j, strlen(j), &a, &in) == DX_OK);
    cns_synth_options so = {.answer = true};
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(cns_synthesize(r, &so, &a) == DX_OK);
    CHECK_STR(r->category, "Technology");
    CHECK(r->n_followups >= 1);
    CHECK(strstr(r->followups[0], "Guido van Rossum") && strstr(r->followups[0], "James Gosling"));
    CHECK(strstr(r->answer, "Disputed") != NULL);
    arena_free(&a);
}

TEST(split_crlf_nested_and_limits)
{
    arena a = arena_make(4096, 8 << 20);
    const char *md = "Intro line one\r\ncontinues here.\r\n\r\n* Outer item\r\n  * Inner item\r\n"
                     "1) First step\r\n> Quoted claim here.\r\n---\r\n";
    cns_span *sp;
    size_t n;
    CHECK(cns_markdown_split(md, strlen(md), &a, &sp, &n) == DX_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_STR(sp[0].text, "Intro line one continues here.");
    CHECK_STR(sp[1].text, "Outer item");
    CHECK_STR(sp[2].text, "Inner item");
    CHECK_STR(sp[3].text, "First step");
    CHECK_STR(sp[4].text, "Quoted claim here.");
    /* inline code keeps its brackets and stars; emphasis and links go */
    const char *code = "Call `lst[::-1]` or ``a*b`` on **this** [list](http://x).";
    CHECK(cns_markdown_split(code, strlen(code), &a, &sp, &n) == DX_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_STR(sp[0].text, "Call lst[::-1] or a*b on this list.");
    /* a very long answer is read up to DX_CNS_MAX_CLAIMS claims */
    dx_buf b = dx_buf_make(0);
    for (int i = 0; i < 400; i++)
        dx_buf_printf(&b, "Claim number %d is here. ", i);
    CHECK(cns_markdown_split(b.data, b.len, &a, &sp, &n) == DX_OK);
    CHECK_EQ_INT(n, DX_CNS_MAX_CLAIMS);
    dx_buf_free(&b);
    arena_free(&a);
}

static dx_status failing_embed(void *user, const char *text, float *out, size_t dim)
{
    (void)user;
    (void)text;
    (void)out;
    (void)dim;
    return dx_fail(DX_EIO, "encoder crashed");
}

TEST(embedding_errors_are_reported)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(paraphrase_json, strlen(paraphrase_json), &a, &in) == DX_OK);
    cns_options opt = {.embed = failing_embed, .embed_dim = 8};
    CHECK(cns_analyze(&in, &opt, &a, &r) == DX_EIO);
    CHECK(strstr(dx_errmsg(), "encoder crashed") != NULL);
    opt.embed = toy_embed;
    opt.embed_dim = 0;
    CHECK(cns_analyze(&in, &opt, &a, &r) == DX_EARG);
    arena_free(&a);
}

TEST(non_english_and_identical_answers)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"Was ist die Hauptstadt von Deutschland?\",\"answers\":["
                    "{\"model\":\"a\",\"text\":\"Die Hauptstadt von Deutschland ist Berlin.\"},"
                    "{\"model\":\"b\",\"text\":\"BERLIN ist die Hauptstadt von Deutschland!\"},"
                    "{\"model\":\"c\",\"text\":\"Die Hauptstadt von Deutschland ist Bonn.\"}]}";
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(j, strlen(j), &a, &in) == DX_OK);
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK_EQ_INT(r->analysis.usable, 3);
    CHECK_EQ_INT(r->analysis.n_disputed, 1); /* Berlin (a, b) against Bonn (c) */
    CHECK_EQ_INT(r->analysis.disputed[0].n_stances, 3);
    const char *k = "{\"question\":\"東京の人口は?\",\"answers\":["
                    "{\"model\":\"a\",\"text\":\"東京の人口は約1400万人です。\"},"
                    "{\"model\":\"b\",\"text\":\"東京の人口は約1400万人です。\"}]}";
    CHECK(cns_input_parse(k, strlen(k), &a, &in) == DX_OK);
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK_EQ_INT(r->analysis.n_agreed, 1);
    CHECK_EQ_INT(r->analysis.consensus, 100);
    arena_free(&a);
}

TEST(category_keywords)
{
    static const struct {
        const char *q, *cat;
    } cases[] = {
        {"What are the symptoms of the flu and when should I see a doctor?", "Health"},
        {"How many moons does Jupiter have?", "Science"},
        {"Who won the 2018 World Cup?", "Sports"},
        {"How do I undo the last commit in git?", "Technology"},
        {"What is the capital of Canada?", "Geography"},
        {"Zxq blorf?", "General"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cns_result r = {.question = cases[i].q};
        CHECK_STR(cns_category_derive(&r), cases[i].cat);
    }
}

TEST(input_errors_are_one_line)
{
    arena a = arena_make(4096, 1 << 20);
    cns_input in;
    static const char *bad[] = {
        "",
        "[]",
        "{\"answers\":[]}",
        "{\"question\":1,\"answers\":[]}",
        "{\"question\":\"q\"}",
        "{\"question\":\"q\",\"answers\":[1]}",
        "{\"question\":\"q\",\"answers\":[{\"text\":\"x\"}]}",
        "{\"question\":\"q\",\"answers\":[{\"model\":\"m\"}]}",
        "{\"question\":\"q\",\"answers\":[{\"model\":\"m\",\"text\":\"x\",\"status\":\"odd\"}]}",
        "{\"question\":\"q\",\"answers\":[{\"model\":\"m\",\"text\":\"x\",\"name\":\"n\"},{"
        "\"model\":\"m\",\"text\":\"y\",\"name\":\"n\"}]}",
        "{\"question\":\"q\",\"answers\":[{\"model\":\"m\",\"text\":\"x\",\"tokens\":-1}]}",
        "{\"question\":\"q\",\"question\":\"r\",\"answers\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dx_status st = cns_input_parse(bad[i], strlen(bad[i]), &a, &in);
        CHECK_MSG(st == DX_EFORMAT, "case %zu: status %d", i, st);
        CHECK_MSG(!strchr(dx_errmsg(), '\n') && strlen(dx_errmsg()) > 10, "case %zu: message '%s'",
                  i, dx_errmsg());
    }
    /* too many members */
    dx_buf b = dx_buf_make(0);
    dx_buf_puts(&b, "{\"question\":\"q\",\"answers\":[");
    for (unsigned i = 0; i <= DX_MAX_MEMBERS; i++)
        dx_buf_printf(&b, "%s{\"model\":\"m\",\"text\":\"x\"}", i ? "," : "");
    dx_buf_puts(&b, "]}");
    CHECK(cns_input_parse(b.data, b.len, &a, &in) == DX_ELIMIT);
    dx_buf_free(&b);
    /* default names number repeated models */
    const char *j = "{\"question\":\"q\",\"answers\":[{\"model\":\"m\",\"text\":\"x\"},{\"model\":"
                    "\"m\",\"text\":\"y\"}]}";
    CHECK(cns_input_parse(j, strlen(j), &a, &in) == DX_OK);
    CHECK_STR(in.members[0].name, "m#1");
    CHECK_STR(in.members[1].name, "m#2");
    arena_free(&a);
}

TEST(consensus_reproducible_from_object)
{
    /* recompute the percentage from the object's lists and weights (docs/consensus.md) */
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j =
        "{\"question\":\"What is the capital of Australia?\",\"answers\":["
        "{\"model\":\"x\",\"text\":\"Canberra is the capital. It is in the ACT.\"},"
        "{\"model\":\"x\",\"name\":\"x2\",\"text\":\"The capital of Australia is Canberra.\"},"
        "{\"model\":\"y\",\"text\":\"The capital of Australia is Sydney. Sydney is the largest "
        "city.\"}]}";
    cns_input in;
    cns_result *r;
    CHECK(cns_input_parse(j, strlen(j), &a, &in) == DX_OK);
    cns_options opt = {0};
    CHECK(cns_analyze(&in, &opt, &a, &r) == DX_OK);
    const cns_analysis *an = &r->analysis;
    double W = 0, num = 0, den = 0;
    for (size_t i = 0; i < r->n_members; i++)
        W += r->members[i].weight;
    CHECK_NEAR(r->members[0].weight, 0.75, 1e-9);
    CHECK_NEAR(r->members[2].weight, 1.0, 1e-9);
    CHECK_EQ_INT(an->n_shared, 1);
    for (size_t i = 0; i < an->n_agreed; i++) {
        double w = 0;
        for (size_t k = 0; k < an->agreed[i].n_members; k++)
            for (size_t m = 0; m < r->n_members; m++)
                if (!strcmp(r->members[m].name, an->agreed[i].members[k]))
                    w += r->members[m].weight;
        double c = an->agreed[i].direct ? 2 : 1; /* the direct answer counts twice */
        num += c * w / W;
        den += c;
    }
    for (size_t i = 0; i < an->n_disputed; i++) {
        double side[8] = {0}, tot = 0;
        for (size_t k = 0; k < an->disputed[i].n_stances; k++)
            for (size_t m = 0; m < r->n_members; m++)
                if (!strcmp(r->members[m].name, an->disputed[i].stances[k].member)) {
                    side[an->disputed[i].stances[k].position] += r->members[m].weight;
                    tot += r->members[m].weight;
                }
        double c = an->disputed[i].direct ? 2 : 1;
        num += c * fmax(0, 2 * side[0] / tot - 1);
        den += c;
    }
    for (size_t i = 0; i < an->n_unique; i++) /* a member of weight 0 adds nothing */
        for (size_t m = 0; m < r->n_members; m++)
            if (!strcmp(r->members[m].name, an->unique[i].member) && r->members[m].weight > 0)
                den += an->unique_weight;
    CHECK(an->n_disputed == 1);
    CHECK_NEAR(an->unique_weight, 0.1, 1e-12); /* one thing asked: a unique point is a detail */
    CHECK_EQ_INT(an->consensus, (int)lrint(100 * num / den));
    arena_free(&a);
}

/* ---- evidence, labels and invariants (issue 12) ----------------------------- */

static cns_result *analyze_json(arena *a, const char *j)
{
    cns_input in;
    cns_result *r = NULL;
    if (cns_input_parse(j, strlen(j), a, &in) || cns_analyze(&in, NULL, a, &r))
        return NULL;
    return r;
}

/* The weight member k has in the percentage, -1 when it is not in r. */
static double weight_of(const cns_result *r, const char *name)
{
    for (size_t m = 0; r && m < r->n_members; m++)
        if (!strcmp(r->members[m].name, name))
            return r->members[m].weight;
    return -1;
}

TEST(special_tokens_noise_and_bare_numbers)
{
    arena a = arena_make(64 << 10, 64 << 20);
    /* only a model's special tokens: an empty answer (failed), not a claim */
    cns_result *r =
        analyze_json(&a, "{\"question\":\"What is 12 times 12?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"12 x 12 = 144.\"},"
                         "{\"model\":\"b\",\"text\":\"<|im_end|><|im_start|>assistant\"},"
                         "{\"model\":\"c\",\"text\":\" <s> </s> \"}]}");
    CHECK(r && r->analysis.label == CNS_LABEL_SINGLE_VOICE);
    CHECK(r && r->members[1].status == CNS_FAILED && r->members[2].status == CNS_FAILED);
    /* keyboard noise is no claim; real words with units, names and variables are */
    cns_span *sp;
    size_t n;
    CHECK(cns_markdown_split("asdkj qwe zxc", 13, &a, &sp, &n) == DX_OK && n == 0);
    const char *noise = "xq7 zzkv plm0 rr#t 88jj wqq";
    CHECK(cns_markdown_split(noise, strlen(noise), &a, &sp, &n) == DX_OK && n == 0);
    static const char *const words[] = {"6ft 1in",        "It uses python3 and x86.",
                                        "O(log n) time.", "Strengths matter.",
                                        "TCP UDP DNS",    "Le Caire est la capitale."};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        CHECK_MSG(cns_markdown_split(words[i], strlen(words[i]), &a, &sp, &n) == DX_OK && n == 1,
                  "'%s' is a claim", words[i]);
    /* "4." alone is CommonMark's empty numbered list item, but as an answer it is the number */
    CHECK(cns_markdown_split("1969.", 5, &a, &sp, &n) == DX_OK && n == 1 &&
          !strcmp(sp[0].text, "1969."));
    CHECK(cns_markdown_split("4. Paris", 8, &a, &sp, &n) == DX_OK && n == 1 &&
          !strcmp(sp[0].text, "Paris"));
    r = analyze_json(&a,
                     "{\"question\":\"What is 2 + 2?\",\"answers\":["
                     "{\"model\":\"a\",\"text\":\"4.\"},{\"model\":\"b\",\"text\":\"Four.\"}]}");
    CHECK(r && r->analysis.label == CNS_LABEL_CONSENSUS);
    /* the question said back and remarks about the question: nothing agreed, no usable answer */
    r = analyze_json(
        &a, "{\"question\":\"Why did the Ming dynasty build the Great Wall?\",\"answers\":["
            "{\"model\":\"a\",\"text\":\"Why did the Ming dynasty build the Great Wall? "
            "This is an interesting historical question.\"},"
            "{\"model\":\"b\",\"text\":\"That is a great question about the Ming "
            "dynasty and the Great Wall.\"}]}");
    CHECK(r && r->analysis.label == CNS_LABEL_NO_ANSWER && r->analysis.n_agreed == 0);
    /* beside a real answer a restatement is kept, and takes no side */
    r = analyze_json(
        &a, "{\"question\":\"Why did the Ming dynasty build the Great Wall?\",\"answers\":["
            "{\"model\":\"a\",\"text\":\"Why did the Ming dynasty build the Great Wall? "
            "To keep out raids from the Mongols.\"},"
            "{\"model\":\"b\",\"text\":\"The Ming built it to defend against Mongol "
            "raids from the north.\"}]}");
    CHECK(r && r->analysis.usable == 2 && r->analysis.n_disputed == 0);
    /* a statement of the question's words that picks one of its options is an answer */
    r = analyze_json(&a,
                     "{\"question\":\"Who is faster in real life, a tortoise or a hare?\","
                     "\"answers\":[{\"model\":\"a\",\"text\":\"A hare is faster in real life.\"},"
                     "{\"model\":\"b\",\"text\":\"A tortoise is faster in real life.\"}]}");
    CHECK(r && r->analysis.usable == 2);
    arena_free(&a);
}

TEST(members_that_did_not_answer_leave_the_percentage)
{
    /* a one-thing question that two members answer alike: a third member that gives no
     * answer to it (off topic, the question restated, advice to ask someone) neither agrees nor
     * disagrees, so it does not pull the percentage down (docs/consensus.md §7) */
    static const char *other[] = {
        "Pasta is a popular food, and many tourists visit every summer.",
        "What is the capital of Italy? That is a good question.",
        "You should ask a local guide about that.",
    };
    arena a = arena_make(64 << 10, 64 << 20);
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        char j[1024];
        snprintf(j, sizeof j,
                 "{\"question\":\"What is the capital of Italy?\",\"answers\":["
                 "{\"model\":\"a\",\"text\":\"Rome is the capital of Italy.\"},"
                 "{\"model\":\"b\",\"text\":\"The capital of Italy is Rome, on the Tiber.\"},"
                 "{\"model\":\"c\",\"text\":\"%s\"}]}",
                 other[i]);
        cns_result *r = analyze_json(&a, j);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_MSG(r->analysis.label == CNS_LABEL_CONSENSUS && r->analysis.consensus >= 70,
                  "case %zu: %s %d", i, cns_label_str(r->analysis.label), r->analysis.consensus);
        CHECK_NEAR(weight_of(r, "c"), 0, 1e-12);
        CHECK_NEAR(weight_of(r, "a"), 1, 1e-12);
        /* still a usable answer, shown as said by one member; one that only restates the
         * question is no usable answer at all (§1) */
        CHECK(i == 1 ? !r->members[2].usable && r->analysis.usable == 2 : r->analysis.usable == 3);
    }
    /* a member that answers differently stays in: a 2-against-1 dispute */
    cns_result *r =
        analyze_json(&a, "{\"question\":\"What is the capital of Italy?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"Rome is the capital of Italy.\"},"
                         "{\"model\":\"b\",\"text\":\"The capital of Italy is Rome.\"},"
                         "{\"model\":\"c\",\"text\":\"Milan is the capital of Italy.\"}]}");
    CHECK(r && r->analysis.label == CNS_LABEL_PARTIAL && r->analysis.n_disputed == 1);
    CHECK_NEAR(weight_of(r, "c"), 1, 1e-12);
    /* an open question compares no direct answers: an off-topic member still counts */
    r = analyze_json(&a, "{\"question\":\"Why do leaves change colour in autumn?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"Trees stop making chlorophyll, so the green "
                         "fades and yellow pigments show.\"},"
                         "{\"model\":\"b\",\"text\":\"Trees stop making chlorophyll, so the green "
                         "fades and the yellow pigments show through.\"},"
                         "{\"model\":\"c\",\"text\":\"Pasta is a popular food in Italy.\"}]}");
    CHECK(r != NULL);
    CHECK_NEAR(weight_of(r, "c"), 1, 1e-12);
    arena_free(&a);
}

TEST(evidence_is_each_supporters_own_words)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"Who wrote Hamlet?\",\"answers\":["
                    "{\"model\":\"a\",\"text\":\"Hamlet was written by **William Shakespeare**.\\n"
                    "\\n- It is set in [Denmark](https://en.wikipedia.org/wiki/Denmark).\"},"
                    "{\"model\":\"b\",\"text\":\"It was written by William Shakespeare. The play "
                    "is set in Denmark.\"}]}";
    cns_result *r = analyze_json(&a, j);
    CHECK(r != NULL);
    CHECK(cns_check(r) == NULL);
    CHECK(r->analysis.n_agreed >= 1);
    for (size_t i = 0; i < r->analysis.n_agreed; i++) {
        const cns_agreed *g = &r->analysis.agreed[i];
        CHECK_EQ_INT(g->n_members, 2);
        for (size_t k = 0; k < g->n_members; k++) {
            const cns_member *m =
                !strcmp(g->evidence[k].member, "a") ? &r->members[0] : &r->members[1];
            CHECK(strstr(m->text, g->evidence[k].text) != NULL); /* verbatim, markup kept */
        }
    }
    /* the markdown member's words keep their emphasis: its own bytes, not the claim */
    bool seen_bold = false;
    for (size_t i = 0; i < r->analysis.n_agreed; i++)
        for (size_t k = 0; k < r->analysis.agreed[i].n_members; k++)
            seen_bold |= strstr(r->analysis.agreed[i].evidence[k].text, "**William") != NULL;
    CHECK(seen_bold);
    /* a table row's evidence is the row as written */
    cns_source src;
    const char *md = "| City | Country |\n|---|---|\n| **Paris** | France |\n";
    CHECK(cns_source_index(md, &a, &src) == DX_OK);
    const char *ev = cns_evidence_find(&src, "Paris \xe2\x80\x94 Country: France", true, &a);
    CHECK_STR(ev, "**Paris** | France");
    CHECK(cns_evidence_find(&src, "Berlin is a city", false, &a) == NULL);
    arena_free(&a);
}

TEST(labels_no_common_ground_majority_and_nonanswers)
{
    arena a = arena_make(64 << 10, 64 << 20);
    /* answers that neither share nor contradict anything: not disagreement */
    cns_result *r =
        analyze_json(&a, "{\"question\":\"Name a fruit.\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"Bananas grow in tropical climates.\"},"
                         "{\"model\":\"b\",\"text\":\"My favourite car is a red convertible.\"}]}");
    CHECK(r && r->analysis.label == CNS_LABEL_NO_COMMON_GROUND);
    CHECK(r->analysis.n_agreed == 0 && r->analysis.n_disputed == 0);
    CHECK_STR(cns_label_str(r->analysis.label), "no_common_ground");
    /* two against one on the answer is partial agreement, not disagreement */
    r = analyze_json(&a, "{\"question\":\"What is the capital of Australia?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"The capital of Australia is Canberra.\"},"
                         "{\"model\":\"b\",\"text\":\"Canberra is the capital of Australia.\"},"
                         "{\"model\":\"c\",\"text\":\"The capital of Australia is Sydney.\"}]}");
    CHECK(r && r->analysis.n_disputed == 1);
    CHECK(r->analysis.label == CNS_LABEL_PARTIAL);
    /* "I don't know" is no side of a dispute: the member is not usable */
    r = analyze_json(&a, "{\"question\":\"How long is a marathon?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"A marathon is 42.195 km long.\"},"
                         "{\"model\":\"b\",\"text\":\"I'm not sure.\"},"
                         "{\"model\":\"c\",\"text\":\"I don't know the exact distance.\"}]}");
    CHECK(r && r->analysis.usable == 1 && r->analysis.label == CNS_LABEL_SINGLE_VOICE);
    CHECK(cns_check(r) == NULL);
    /* nor is declining to answer ("I have no comment", TruthfulQA's non-answer) */
    r = analyze_json(&a, "{\"question\":\"How old is Barack Obama?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"Barack Obama was born in 1961.\"},"
                         "{\"model\":\"b\",\"text\":\"I have no comment.\"},"
                         "{\"model\":\"c\",\"text\":\"No comment.\"}]}");
    CHECK(r && r->analysis.usable == 1 && r->analysis.label == CNS_LABEL_SINGLE_VOICE);
    CHECK(r->analysis.n_disputed == 0 && cns_check(r) == NULL);
    /* "..., but" keeps what follows */
    r = analyze_json(&a, "{\"question\":\"How long is a marathon?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"A marathon is 42.195 km long.\"},"
                         "{\"model\":\"b\",\"text\":\"I'm not sure, but a marathon is about 42 "
                         "km.\"}]}");
    CHECK(r && r->analysis.usable == 2 && r->analysis.n_agreed == 1);
    CHECK(r->analysis.label == CNS_LABEL_CONSENSUS);
    arena_free(&a);
}

TEST(check_rejects_contradictions)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_result *r = analyze_json(&a, "{\"question\":\"How long is a marathon?\",\"answers\":["
                                     "{\"model\":\"a\",\"text\":\"A marathon is 42.195 km long.\"},"
                                     "{\"model\":\"b\",\"text\":\"A marathon is 30 km long.\"}]}");
    CHECK(r && cns_check(r) == NULL);
    CHECK(r->analysis.label == CNS_LABEL_DISAGREE && r->analysis.n_disputed == 1);
    /* each broken invariant is caught */
    r->analysis.n_disputed = 0;
    CHECK(cns_check(r) != NULL); /* disagree without a dispute */
    r->analysis.n_disputed = 1;
    const char *keep = r->analysis.disputed[0].stances[0].text;
    r->analysis.disputed[0].stances[0].text = "words nobody wrote";
    CHECK(cns_check(r) != NULL);
    r->analysis.disputed[0].stances[0].text = keep;
    r->analysis.disputed[0].stances[1].member = r->analysis.disputed[0].stances[0].member;
    CHECK(cns_check(r) != NULL); /* one member on both sides */
    r = analyze_json(&a, "{\"question\":\"How long is a marathon?\",\"answers\":["
                         "{\"model\":\"a\",\"text\":\"A marathon is 42.195 km long.\"},"
                         "{\"model\":\"b\",\"text\":\"It is 42.195 km.\"}]}");
    CHECK(r && cns_check(r) == NULL && r->analysis.n_agreed == 1);
    r->analysis.agreed[0].evidence[1].text = "It is 30 km.";
    CHECK(cns_check(r) != NULL); /* evidence not in that member's text */
    r->analysis.agreed[0].evidence[1].text = "It is 42.195 km.";
    r->analysis.consensus = 5;
    CHECK(cns_check(r) != NULL); /* 5% beside an agreed point */
    arena_free(&a);
}

/* Pieces of answers for generated answer sets: facts, paraphrases, numbers in
 * other units, names, yes/no, negations, refusals, non-answers, markdown. */
static const char *const gen_pieces[] = {
    "The Eiffel Tower is 330 metres tall.",
    "It is about 1,083 feet high.",
    "The tower is 300 m tall.",
    "Paris is the capital of France.",
    "The capital of France is Lyon.",
    "**Paris** is the capital.",
    "Yes, it is safe.",
    "No, it is not safe.",
    "It is not safe to drink.",
    "I'm not sure.",
    "I don't know, but it might be 42.",
    "As an AI, I can't help with that.",
    "Sure!",
    "- Water boils at 100 °C\n- It freezes at 0 °C",
    "1. Water boils at 212 °F.\n2. Ice melts at 32 °F.",
    "| Planet | Moons |\n|---|---|\n| Mars | 2 |\n| Earth | 1 |",
    "Mars has two moons; Earth has one.",
    "Mars has 3 moons.",
    "Shakespeare wrote Hamlet around 1600.",
    "Hamlet was written by Christopher Marlowe in 1603.",
    "The answer is 391.",
    "17 × 23 = 401.",
    "```\ncode only\n```",
    "# Heading only",
    "Exercise lowers blood pressure, but it does not cure diabetes.",
    "Regular exercise does cure diabetes.",
    "",
    "   ",
    "What is the capital of France?",
    "> A quoted claim about Mars having two moons.",
};

static const char *const gen_questions[] = {
    "How tall is the Eiffel Tower?",
    "What is the capital of France?",
    "Is it safe?",
    "How many moons does Mars have?",
    "Who wrote Hamlet?",
    "What is 17 × 23?",
    "What does exercise do?",
};

TEST(invariants_hold_on_generated_answer_sets)
{
    static const char *const models[] = {"m1", "m2", "m3", "m1"}; /* two voices of m1 */
    test_rng_seed(0x5eed12ull);
    int checked = 0;
    for (int it = 0; it < 3000; it++) {
        arena a = arena_make(64 << 10, 64 << 20);
        cns_member m[6];
        char *texts[6] = {0};
        size_t nm = 2 + rnd() % 5;
        for (size_t i = 0; i < nm; i++) {
            dx_buf b = dx_buf_make(0);
            size_t parts = 1 + rnd() % 3;
            for (size_t p = 0; p < parts; p++) {
                dx_buf_puts(&b, gen_pieces[rnd() % (sizeof gen_pieces / sizeof gen_pieces[0])]);
                dx_buf_puts(&b, rnd() % 2 ? "\n\n" : " ");
            }
            texts[i] = dx_buf_take(&b);
            m[i] = (cns_member){.name = NULL,
                                .model = models[i % 4],
                                .status = rnd() % 10 == 0 ? CNS_TIMEOUT : CNS_DONE,
                                .text = texts[i] ? texts[i] : ""};
            char name[24];
            snprintf(name, sizeof name, "v%zu", i);
            m[i].name = arena_strdup(&a, name);
        }
        cns_input in = {gen_questions[rnd() % (sizeof gen_questions / sizeof gen_questions[0])], m,
                        nm};
        cns_result *r;
        CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
        const char *why = cns_check(r);
        if (why) {
            fprintf(stderr, "  generated set %d (%s): %s\n", it, in.question, why);
            for (size_t i = 0; i < nm; i++)
                fprintf(stderr, "    [%s] %s\n", m[i].name, m[i].text);
        }
        CHECK(why == NULL);
        checked++;
        for (size_t i = 0; i < nm; i++)
            free(texts[i]);
        arena_free(&a);
    }
    CHECK_EQ_INT(checked, 3000);
}

int main(void)
{
    RUN(porter_stemmer);
    RUN(split_markdown_kinds);
    RUN(features_numbers_and_units);
    RUN(features_negation_names_unicode);
    RUN(refusals);
    RUN(answer_sets);
    RUN(embedding_seam_is_used);
    RUN(nothing_agreed_grades_how_near_the_answers_are);
    RUN(negations_reach_their_clause_and_denials_are_answers);
    RUN(synthesis_seam_and_support_checks);
    RUN(derived_followups_and_category_follow_content);
    RUN(split_crlf_nested_and_limits);
    RUN(embedding_errors_are_reported);
    RUN(non_english_and_identical_answers);
    RUN(category_keywords);
    RUN(input_errors_are_one_line);
    RUN(consensus_reproducible_from_object);
    RUN(special_tokens_noise_and_bare_numbers);
    RUN(members_that_did_not_answer_leave_the_percentage);
    RUN(evidence_is_each_supporters_own_words);
    RUN(labels_no_common_ground_majority_and_nonanswers);
    RUN(check_rejects_contradictions);
    RUN(invariants_hold_on_generated_answer_sets);
    return test_summary();
}
