/*
 * test_atoms — sentences into atomic claims: compound sentences and "X, but
 * Y" split into statements, noun phrases ("salt and pepper", "Bosnia and
 * Herzegovina") kept whole; and in an analysis, each fact of a compound
 * sentence is matched (and contradicted) on its own, with its own evidence;
 * direct answers read exactly stay apart, unless the optional yes/no check
 * reads two sides of a dispute as one answer.
 */
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/text.h"
#include "test.h"

/* Each case: a sentence and its claims, " | " between them. Written for this
 * test from general knowledge, apart from every answer set. */
static const struct {
    const char *in, *out;
} cases[] = {
    /* two clauses */
    {"The sky is blue and the grass is green.", "The sky is blue | the grass is green."},
    {"Python is easy to learn, and it has a large community.",
     "Python is easy to learn | it has a large community."},
    {"Paris is in France and Berlin is in Germany.", "Paris is in France | Berlin is in Germany."},
    {"In 1969 Apollo 11 landed on the Moon and Neil Armstrong walked on it first.",
     "In 1969 Apollo 11 landed on the Moon | Neil Armstrong walked on it first."},
    /* a predicate that continues the subject: the subject is carried */
    {"Paris is the capital of France and is also its largest city.",
     "Paris is the capital of France | Paris is also its largest city."},
    {"Water boils at 100 °C and freezes at 0 °C at sea level.",
     "Water boils at 100 °C | Water freezes at 0 °C at sea level."},
    {"Shakespeare was born in 1564 and died in 1616.",
     "Shakespeare was born in 1564 | Shakespeare died in 1616."},
    {"The vaccine is generally safe but can cause a mild fever.",
     "The vaccine is generally safe | The vaccine can cause a mild fever."},
    {"The bridge was opened in 1937 and was painted orange.",
     "The bridge was opened in 1937 | The bridge was painted orange."},
    /* contrasts after a comma */
    {"Coffee is safe in moderation, but too much can cause insomnia.",
     "Coffee is safe in moderation | too much can cause insomnia."},
    {"Tomatoes are botanically fruits, although they are cooked as vegetables.",
     "Tomatoes are botanically fruits | they are cooked as vegetables."},
    {"Mercury is the closest planet to the Sun, while Venus is the hottest.",
     "Mercury is the closest planet to the Sun | Venus is the hottest."},
    {"A verbal agreement is usually binding, although some deals (such as home sales) must be "
     "in writing.",
     "A verbal agreement is usually binding | some deals (such as home sales) must be in "
     "writing."},
    /* three parts */
    {"The Nile is long, it flows north, and it ends in the Mediterranean.",
     "The Nile is long, it flows north | it ends in the Mediterranean."},
    {"Gold is dense and is soft and it does not rust.",
     "Gold is dense | Gold is soft | it does not rust."},
    /* noun phrases and lists stay whole */
    {"Bosnia and Herzegovina is a country in the Balkans.",
     "Bosnia and Herzegovina is a country in the Balkans."},
    {"Sarajevo is the capital of Bosnia and Herzegovina.",
     "Sarajevo is the capital of Bosnia and Herzegovina."},
    {"Season the soup with salt and pepper.", "Season the soup with salt and pepper."},
    {"Salt and pepper are the most common seasonings.",
     "Salt and pepper are the most common seasonings."},
    {"The flag is red, white and blue.", "The flag is red, white and blue."},
    {"Paris is the capital and the largest city of France.",
     "Paris is the capital and the largest city of France."},
    {"He bought apples and oranges from the market.",
     "He bought apples and oranges from the market."},
    {"Adults need between 7 and 9 hours of sleep.", "Adults need between 7 and 9 hours of sleep."},
    {"Both cats and dogs are popular pets.", "Both cats and dogs are popular pets."},
    {"It is small but powerful.", "It is small but powerful."},
    {"Canberra is the capital, but not the largest city.",
     "Canberra is the capital, but not the largest city."},
    {"It is not only fast but also cheap.", "It is not only fast but also cheap."},
    {"Research and development takes years.", "Research and development takes years."},
    {"Rock and roll was born in the 1950s.", "Rock and roll was born in the 1950s."},
    {"16 + 3 = 19 and 19 - 4 = 15.", "16 + 3 = 19 and 19 - 4 = 15."},
    {"The ratio (which is 3 and is fixed) holds.", "The ratio (which is 3 and is fixed) holds."},
    {"Yes.", "Yes."},
};

static void check_case(const char *in, const char *want)
{
    arena a = arena_make(4096, 1 << 20);
    cns_atom at[8];
    size_t n = 0;
    CHECK(cns_atoms_split(in, &a, at, 8, &n) == DX_OK);
    char got[1024] = "";
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(got, " | ");
        strncat(got, at[i].text, sizeof got - strlen(got) - 1);
        /* the words as written are the sentence's own, in order */
        CHECK(strstr(in, at[i].said) != NULL);
        CHECK(strstr(at[i].text, at[i].said) != NULL);
    }
    if (strcmp(got, want))
        fprintf(stderr, "  \"%s\"\n    got  %s\n    want %s\n", in, got, want);
    CHECK_STR(got, want);
    arena_free(&a);
}

TEST(sentences_split_into_atomic_claims)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(cases[i].in, cases[i].out);
}

/* A sentence ending in a unit letter ends there ("°C." is no initial). */
TEST(sentences_end_after_units)
{
    arena a = arena_make(4096, 1 << 20);
    const char *md = "Water boils at 100 °C. It freezes at 32 °F. J. R. R. Tolkien wrote it.";
    cns_span *sp;
    size_t n;
    CHECK(cns_markdown_split(md, strlen(md), &a, &sp, &n) == DX_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(sp[0].text, "Water boils at 100 °C.");
    CHECK_STR(sp[2].text, "J. R. R. Tolkien wrote it.");
    arena_free(&a);
}

TEST(split_is_bounded_and_safe)
{
    arena a = arena_make(4096, 1 << 20);
    cns_atom at[8];
    size_t n = 9;
    /* nothing to split into */
    CHECK(cns_atoms_split("", &a, at, 8, &n) == DX_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(cns_atoms_split("and and and and and and", &a, at, 8, &n) == DX_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(cns_atoms_split("x", &a, at, 0, &n) == DX_OK);
    CHECK_EQ_INT(n, 0);
    /* many clauses: at most max parts, the rest in the last one */
    char s[4096] = "";
    for (int i = 0; i < 20; i++)
        strcat(s, i ? " and it is red" : "It is red");
    strcat(s, ".");
    CHECK(cns_atoms_split(s, &a, at, 4, &n) == DX_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_STR(at[0].text, "It is red");
    CHECK(strlen(at[3].said) > 100);
    /* unbalanced brackets and quotes, long words: no overrun */
    CHECK(cns_atoms_split("((( \"a and b is c and d is e", &a, at, 8, &n) == DX_OK);
    char w[3000];
    memset(w, 'a', sizeof w - 1);
    w[sizeof w - 1] = '\0';
    memcpy(w + 100, " is x and it is y ", 18);
    CHECK(cns_atoms_split(w, &a, at, 8, &n) == DX_OK);
    CHECK(n >= 1);
    arena_free(&a);
}

/* In an analysis: the shared fact of two compound sentences is agreed with
 * each member's own words, and the differing fact is a dispute, which the
 * whole sentences hid ("100 °C" agreed on both sides). */
TEST(compound_sentences_are_compared_fact_by_fact)
{
    arena a = arena_make(64 << 10, 64 << 20);
    cns_member m[2] = {
        {.name = "a",
         .model = "ma",
         .status = CNS_DONE,
         .text = "Water boils at 100 °C and freezes at 0 °C."},
        {.name = "b",
         .model = "mb",
         .status = CNS_DONE,
         .text = "Water freezes at 0 °C and boils at 90 °C."},
    };
    cns_input in = {.question = "Tell me about the boiling and freezing points of water.",
                    .members = m,
                    .n_members = 2};
    cns_result *r;
    CHECK(cns_analyze(&in, NULL, &a, &r) == DX_OK);
    CHECK(cns_check(r) == NULL);
    const cns_analysis *an = &r->analysis;
    bool agreed_freeze = false, disputed_boil = false;
    for (size_t i = 0; i < an->n_agreed; i++)
        if (strstr(an->agreed[i].text, "0 °C") && !strstr(an->agreed[i].text, "100")) {
            agreed_freeze = an->agreed[i].n_members == 2;
            /* each supporter's evidence is its own words for this fact only */
            for (size_t k = 0; k < an->agreed[i].n_members; k++) {
                CHECK(strstr(an->agreed[i].evidence[k].text, "freezes at 0 °C") != NULL);
                CHECK(strstr(an->agreed[i].evidence[k].text, "boils") == NULL);
            }
        }
    for (size_t i = 0; i < an->n_disputed; i++) {
        const cns_disputed *d = &an->disputed[i];
        bool hundred = false, ninety = false;
        for (size_t k = 0; k < d->n_stances; k++) {
            hundred |= strstr(d->stances[k].text, "100 °C") != NULL;
            ninety |= strstr(d->stances[k].text, "90 °C") != NULL;
            CHECK(strstr(d->stances[k].text, "freezes") == NULL); /* each side its own fact */
        }
        disputed_boil |= hundred && ninety;
    }
    CHECK(agreed_freeze);
    CHECK(disputed_boil);
    CHECK(an->label != CNS_LABEL_CONSENSUS);
    arena_free(&a);
}

/* Two members whose direct answers differ, in sentences the claim matcher
 * finds alike, disagree: names written as names and amounts are read
 * exactly, not merged as one answer read too narrowly. */
static const cns_result *pair(arena *a, const char *q, const char *ta, const char *tb)
{
    cns_member *m = arena_alloc_array(a, 2, sizeof *m);
    m[0] = (cns_member){.name = "a", .model = "ma", .status = CNS_DONE, .text = ta};
    m[1] = (cns_member){.name = "b", .model = "mb", .status = CNS_DONE, .text = tb};
    cns_input in = {.question = q, .members = m, .n_members = 2};
    cns_result *r = NULL;
    if (cns_analyze(&in, NULL, a, &r) || cns_check(r))
        return NULL;
    return r;
}

TEST(different_direct_answers_in_alike_sentences_disagree)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const cns_result *r =
        pair(&a, "Which team won the 1998 World Cup final?",
             "Brazil lost the 1998 World Cup final to France, 3–0.", "Brazil won the 1998 final.");
    CHECK(r && r->analysis.n_disputed == 1 && r->analysis.disputed[0].direct);
    CHECK(r && r->analysis.label == CNS_LABEL_DISAGREE);
    r = pair(&a, "What is 15 × 4?", "15 × 4 = 60.", "15 × 4 is 65.");
    CHECK(r && r->analysis.label == CNS_LABEL_DISAGREE);
    /* the same licence read short on one side is still one answer */
    r = pair(&a, "Which licence does Git use?", "Git is released under the GNU GPL version 2.",
             "Git uses the GPLv2 licence.");
    CHECK(r && r->analysis.n_disputed == 0 && r->analysis.n_agreed >= 1);
    arena_free(&a);
}

/* The optional yes/no check of a dispute: a model that reads the two sides
 * as one answer makes them one agreed point, each member with its own words;
 * a "no", a failing model or no budget leave the dispute. */
typedef struct same_model {
    const char *reply;
    int calls;
} same_model;

static dx_status same_reply(void *user, const char *prompt, dx_buf *out)
{
    same_model *sm = user;
    sm->calls++;
    if (!strstr(prompt, "Do answer A and answer B give the same answer"))
        return dx_fail(DX_EINTERNAL, "unexpected prompt");
    if (!sm->reply)
        return dx_fail(DX_ENET, "the model is gone");
    return dx_buf_puts(out, sm->reply);
}

static const cns_result *checked(arena *a, same_model *sm, int budget, const char *q,
                                 const char *ta, const char *tb)
{
    cns_member *m = arena_alloc_array(a, 2, sizeof *m);
    m[0] = (cns_member){.name = "a", .model = "ma", .status = CNS_DONE, .text = ta};
    m[1] = (cns_member){.name = "b", .model = "mb", .status = CNS_DONE, .text = tb};
    cns_input in = {.question = q, .members = m, .n_members = 2};
    cns_options o = {.check = same_reply, .check_user = sm, .support_checks = budget};
    cns_result *r = NULL;
    if (cns_analyze(&in, &o, a, &r) || cns_check(r))
        return NULL;
    return r;
}

TEST(dispute_check_merges_sides_the_model_reads_as_one)
{
    arena a = arena_make(64 << 10, 64 << 20);
    /* a direct answer: two years */
    const char *q = "When did the first film of the series come out?";
    const char *ta = "The first film came out in 1977.", *tb = "It was released in 1978.";
    same_model yes = {.reply = "Yes."}, no = {.reply = "No, they differ."}, gone = {.reply = NULL};
    const cns_result *r = checked(&a, &no, 4, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1 && r->analysis.checks_asked == 1);
    CHECK(r && r->analysis.checks_confirmed == 0 && r->analysis.label == CNS_LABEL_DISAGREE);
    r = checked(&a, &gone, 4, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1);
    r = checked(&a, &yes, 0, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1 && yes.calls == 0); /* no budget: not asked */
    r = checked(&a, &yes, 4, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 0 && r->analysis.n_agreed == 1);
    CHECK(r && r->analysis.checks_confirmed == 1 && r->analysis.agreed[0].n_members == 2);
    CHECK(r && !strcmp(r->analysis.agreed[0].evidence[1].text, "It was released in 1978."));
    /* claim by claim: two numbers in one frame */
    q = "Tell me about the height of the tower.";
    ta = "The tower is 300 m tall and was built in 1889.";
    tb = "The tower is 330 m tall and was built in 1889.";
    r = checked(&a, &no, 4, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1);
    r = checked(&a, &yes, 4, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 0 && r->analysis.checks_confirmed >= 1);
    bool both = false;
    for (size_t i = 0; r && i < r->analysis.n_agreed; i++)
        both |= strstr(r->analysis.agreed[i].text, "300 m") && r->analysis.agreed[i].n_members == 2;
    CHECK(both);
    arena_free(&a);
}

/* The graded check: the model's probability of "yes" (from its logits) decides
 * as 0.5, and it is what the percentage keeps of the point it decided. */
typedef struct prob_model {
    double p; /* < 0: the model fails */
    int calls;
    const char *want; /* a phrase every prompt must hold */
} prob_model;

static dx_status prob_reply(void *user, const char *prompt, double *p_yes)
{
    prob_model *pm = user;
    pm->calls++;
    if (pm->want && !strstr(prompt, pm->want))
        return dx_fail(DX_EINTERNAL, "unexpected prompt");
    if (pm->p < 0)
        return dx_fail(DX_ENET, "the model is gone");
    *p_yes = pm->p;
    return DX_OK;
}

static const cns_result *graded(arena *a, prob_model *pm, const char *q, const char *ta,
                                const char *tb)
{
    cns_member *m = arena_alloc_array(a, 2, sizeof *m);
    m[0] = (cns_member){.name = "a", .model = "ma", .status = CNS_DONE, .text = ta};
    m[1] = (cns_member){.name = "b", .model = "mb", .status = CNS_DONE, .text = tb};
    cns_input in = {.question = q, .members = m, .n_members = 2};
    cns_options o = {.yesno = prob_reply, .yesno_user = pm, .support_checks = 4};
    cns_result *r = NULL;
    if (cns_analyze(&in, &o, a, &r) || cns_check(r))
        return NULL;
    return r;
}

TEST(graded_check_decides_at_one_half_and_scales_the_percentage)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *q = "When did the first film of the series come out?";
    const char *ta = "The first film came out in 1977.", *tb = "It was released in 1978.";
    const char *same = "Do answer A and answer B give the same answer";
    prob_model sure = {.p = 0.9, .want = same}, unsure = {.p = 0.6, .want = same};
    prob_model low = {.p = 0.4, .want = same}, none = {.p = 0.02, .want = same}, gone = {.p = -1};
    const cns_result *r = graded(&a, &sure, q, ta, tb);
    CHECK(r && r->analysis.n_agreed == 1 && r->analysis.n_disputed == 0);
    CHECK(r && r->analysis.checks_asked == 1 && r->analysis.checks_confirmed == 1);
    CHECK(r && r->analysis.consensus == 90);
    const cns_result *r2 = graded(&a, &unsure, q, ta, tb);
    CHECK(r2 && r2->analysis.n_agreed == 1 && r2->analysis.consensus == 60);
    CHECK(r2 && r2->analysis.label == CNS_LABEL_PARTIAL); /* below 70: not "consensus" */
    /* below one half: the dispute stays, and its percentage (at most 5) follows the model */
    r = graded(&a, &low, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1 && r->analysis.checks_confirmed == 0);
    CHECK(r && r->analysis.consensus == 2 && r->analysis.label == CNS_LABEL_DISAGREE);
    r = graded(&a, &none, q, ta, tb);
    CHECK(r && r->analysis.n_disputed == 1 && r->analysis.consensus == 0);
    r = graded(&a, &gone, q, ta, tb); /* a failing model is a "no" */
    CHECK(r && r->analysis.n_disputed == 1 && r->analysis.consensus == 0 && gone.calls == 1);
    /* an agreement found by meaning alone is asked about; by words, it is not */
    prob_model meaning = {.p = 0.1, .want = same};
    r = graded(&a, &meaning, "How many legs does a spider have?", "A spider has eight legs.",
               "Spiders have 8 legs.");
    CHECK(r && r->analysis.n_agreed == 1 && meaning.calls == 0);
    arena_free(&a);
}

int main(void)
{
    RUN(sentences_split_into_atomic_claims);
    RUN(sentences_end_after_units);
    RUN(split_is_bounded_and_safe);
    RUN(compound_sentences_are_compared_fact_by_fact);
    RUN(different_direct_answers_in_alike_sentences_disagree);
    RUN(dispute_check_merges_sides_the_model_reads_as_one);
    RUN(graded_check_decides_at_one_half_and_scales_the_percentage);
    return test_summary();
}
