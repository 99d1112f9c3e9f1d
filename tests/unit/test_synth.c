/*
 * test_synth — the written answer: checked before it is shown (grounded in
 * what the members said, no echo, no loop, the agreed answer stated), a
 * single voice shown as written, disputed points flagged, streamed as it is
 * written; and follow-ups judged by the rules a person would apply.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "consensus/consensus.h"
#include "consensus/synth.h"
#include "test.h"

/* A synthesizer that answers the answer prompt with a fixed reply. */
typedef struct canned {
    const char *reply;     /* to the answer prompt (with its follow-ups) */
    const char *followups; /* to the follow-ups-only prompt */
    int calls;
    int answer_calls;  /* answer prompts asked */
    size_t stopped_at; /* bytes streamed when the writer was told to stop; 0: never */
    size_t streamed;   /* bytes of the reply streamed so far */
} canned;

static dx_status canned_generate(void *user, const char *prompt, dx_buf *out)
{
    canned *c = user;
    c->calls++;
    if (strstr(prompt, "Which one category"))
        return dx_buf_puts(out, "General");
    if (strstr(prompt, "Write three new questions"))
        return dx_buf_puts(out, c->followups ? c->followups : "");
    if (strstr(prompt, "Follow-up questions:")) {
        c->answer_calls++;
        return dx_buf_puts(out, c->reply);
    }
    return dx_fail(DX_EINTERNAL, "unexpected prompt");
}

/* The same, streamed a few bytes at a time. */
static dx_status canned_stream(void *user, const char *prompt, cns_reply_fn piece, void *piece_user,
                               dx_buf *out)
{
    canned *c = user;
    dx_buf all = dx_buf_make(1 << 20);
    dx_status st = canned_generate(user, prompt, &all);
    for (size_t i = 0; !st && i < all.len; i += 3) {
        size_t n = all.len - i < 3 ? all.len - i : 3;
        st = dx_buf_append(out, all.data + i, n);
        c->streamed = i + n;
        if (!st && piece && piece(piece_user, all.data + i, n)) {
            c->stopped_at = i + n; /* the writer is told to stop here */
            break;
        }
    }
    dx_buf_free(&all);
    return st;
}

typedef struct pieces {
    char text[8192];
    size_t len;
    int n;
} pieces;

static void collect(void *user, const char *t, size_t n)
{
    pieces *p = user;
    if (p->len + n < sizeof p->text) {
        memcpy(p->text + p->len, t, n);
        p->len += n;
        p->text[p->len] = '\0';
    }
    p->n++;
}

static const char *brazil =
    "{\"question\":\"What language is spoken in Brazil?\",\"answers\":["
    "{\"model\":\"a\",\"name\":\"big\",\"text\":\"The official language of Brazil is "
    "Portuguese.\"},"
    "{\"model\":\"b\",\"name\":\"small\",\"text\":\"Portuguese is the official language of "
    "Brazil.\"}]}";

/* Synthesize the answer for json with a canned reply, strongest (NULL: none)
 * named as the strongest member; returns the result. */
static cns_result *run_strongest(arena *a, const char *json, canned *c, pieces *p,
                                 const char *strongest)
{
    cns_input in;
    cns_result *r = NULL;
    if (cns_input_parse(json, strlen(json), a, &in) || cns_analyze(&in, NULL, a, &r))
        return NULL;
    cns_synth_options so = {.generate = canned_generate,
                            .stream = p ? canned_stream : NULL,
                            .generate_user = c,
                            .on_answer = p ? collect : NULL,
                            .on_answer_user = p,
                            .answer = true,
                            .strongest = strongest};
    if (cns_synthesize(r, &so, a))
        return NULL;
    return r;
}

static cns_result *run(arena *a, const char *json, canned *c, pieces *p)
{
    return run_strongest(a, json, c, p, NULL);
}

/* The reply to Brazil's question is taken as the synthesized answer want, streamed and final
 * alike. */
static void check_answer_kept(const char *reply, const char *want)
{
    arena a = arena_make(64 << 10, 64 << 20);
    canned c = {.reply = reply};
    pieces p = {0};
    cns_result *r = run(&a, brazil, &c, &p);
    CHECK(r);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK_STR(r->answer, want);
    CHECK_STR(p.text, r->answer);
    arena_free(&a);
}

TEST(good_answer_is_shown_and_streamed)
{
    arena a = arena_make(64 << 10, 64 << 20);
    canned c = {.reply = "Portuguese is the language spoken in Brazil; it is the official "
                         "language.\n\nFollow-up questions:\n"
                         "1. How did Portuguese become the language of Brazil?\n"
                         "2. How does Brazilian Portuguese differ from the Portuguese of "
                         "Portugal?\n"
                         "3. Which other languages are spoken in Brazil?\n"};
    pieces p = {0};
    cns_result *r = run(&a, brazil, &c, &p);
    CHECK(r);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK_STR(cns_answer_kind_str(r->answer_kind), "synthesized");
    CHECK(r->answer_check == NULL);
    CHECK_STR(r->answer,
              "Portuguese is the language spoken in Brazil; it is the official language.");
    /* streamed in pieces, and the pieces are the answer: no follow-ups in them */
    CHECK(p.n > 5);
    CHECK_STR(p.text, r->answer);
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups_source, "model");
    CHECK_STR(r->followups[2], "Which other languages are spoken in Brazil?");
    arena_free(&a);
}

/* A model that runs the follow-ups into its last sentence: they are still
 * not part of the answer, streamed or final. */
TEST(inline_followup_marker_ends_the_answer)
{
    check_answer_kept("Portuguese is the official language of Brazil. Follow-up questions: How "
                      "did Portuguese come to Brazil? Which other languages are spoken in Brazil?",
                      "Portuguese is the official language of Brazil.");
}

/* A writer that goes on after its three follow-ups (more questions, a
 * summary, a loop) is stopped there: nothing after them is ever read, and
 * each token of it is time the reader waits for the result. */
TEST(writer_is_stopped_once_the_followups_are_written)
{
    arena a = arena_make(64 << 10, 64 << 20);
    canned c = {.reply = "Portuguese is the official language of Brazil.\n\n"
                         "Follow-up questions:\n"
                         "1. How did Portuguese become the language of Brazil?\n"
                         "2. Which other languages are spoken in Brazil?\n"
                         "3. How does Brazilian Portuguese differ from European Portuguese?\n"
                         "4. What is the history of the Portuguese language in Brazil?\n"
                         "In summary, Portuguese is spoken in Brazil. In summary, Portuguese is "
                         "spoken in Brazil. In summary, Portuguese is spoken in Brazil.\n"};
    pieces p = {0};
    cns_result *r = run(&a, brazil, &c, &p);
    CHECK(r);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK_STR(r->answer, "Portuguese is the official language of Brazil.");
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups[2], "How does Brazilian Portuguese differ from European Portuguese?");
    /* stopped right after the third question's line, before the fourth */
    const char *third = strstr(c.reply, "3. How");
    const char *fourth = strstr(c.reply, "4. What");
    CHECK(c.stopped_at > (size_t)(third - c.reply));
    CHECK(c.stopped_at <= (size_t)(fourth - c.reply) + 3);

    /* follow-up lines that a person would drop do not count: the writer goes
     * on until three are kept, or six lines are written */
    canned d = {.reply = "Portuguese is the official language of Brazil.\n\n"
                         "Follow-up questions:\n"
                         "1. What language is spoken in Brazil?\n"
                         "2. Is it true that Portuguese is spoken in Brazil?\n"
                         "3. How did Portuguese become the language of Brazil?\n"
                         "4. Which other languages are spoken in Brazil?\n"
                         "5. Brazil.\n"
                         "6. Brazil.\n"
                         "7. How many people in Brazil speak Portuguese at home?\n"
                         "8. What is spoken in Brazil?\n"};
    p = (pieces){0};
    r = run(&a, brazil, &d, &p);
    CHECK(r);
    CHECK(d.stopped_at > (size_t)(strstr(d.reply, "6. Brazil") - d.reply));
    CHECK(d.stopped_at < (size_t)(strstr(d.reply, "7. How") - d.reply) + 3);
    CHECK_EQ_INT(r->n_followups, 3); /* two kept, one derived */
    CHECK_STR(r->followups_source, "model+derived");

    /* follow-ups run together on the marker's line, as the 0.5B writer
     * does: each question is one, and the writer stops after the third */
    canned f = {.reply = "Portuguese is the official language of Brazil. Follow-up questions: "
                         "How did Portuguese become the language of Brazil? Which other "
                         "languages are spoken in Brazil? How does Brazilian Portuguese differ "
                         "from European Portuguese? What is the language of a town? What is the "
                         "language of a village? What is the language of a town?"};
    p = (pieces){0};
    r = run(&a, brazil, &f, &p);
    CHECK(r);
    CHECK_STR(r->answer, "Portuguese is the official language of Brazil.");
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups_source, "model");
    CHECK_STR(r->followups[0], "How did Portuguese become the language of Brazil?");
    CHECK(f.stopped_at > (size_t)(strstr(f.reply, "European Portuguese?") - f.reply));
    CHECK(f.stopped_at < (size_t)(strstr(f.reply, "of a town?") - f.reply));

    /* a reply that ends by itself is read to its end */
    canned e = {.reply = "Portuguese is the official language of Brazil.\n\nFollow-up "
                         "questions:\n1. Which other languages are spoken in Brazil?\n"};
    p = (pieces){0};
    r = run(&a, brazil, &e, &p);
    CHECK(r);
    CHECK_EQ_INT(e.stopped_at, 0);
    arena_free(&a);
}

/* A writer that labels its reply ("Question: ...", "Answer:"): the labels
 * go, the answer is kept, streamed and final alike. */
TEST(question_and_answer_labels_are_dropped)
{
    check_answer_kept("Question: What language is spoken in Brazil?\n**Answer:** Portuguese is "
                      "the official language of Brazil.\n\nFollow-up questions:\n",
                      "Portuguese is the official language of Brazil.");
}

/* Each reply must be replaced by the extractive answer, for the reason given. */
TEST(failing_answers_are_replaced)
{
    static const struct {
        const char *reply, *why;
    } cases[] = {
        /* echoes the question (issue 13) */
        {"The person who asked: \"What language is spoken in Brazil?\"", "repeats its"},
        /* echoes its instructions */
        {"Start with the direct answer in one sentence. Portuguese.", "repeats its"},
        /* misses the agreed answer */
        {"Brazil is a very large country with many regions and a long coast.", "leaves out"},
        /* names what no member named */
        {"Portuguese is spoken in Brazil, and Spanish in Argentina.", "names"},
        /* a number no member gave */
        {"Portuguese is the official language of Brazil, spoken by 211 million people.", "number"},
        /* loops */
        {"Portuguese is the official language.\n- Portuguese is the official language of "
         "Brazil\n- Portuguese is the official language of Brazil\n",
         "repeats itself"},
        {"", "did not answer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena a = arena_make(64 << 10, 64 << 20);
        canned c = {.reply = cases[i].reply};
        pieces p = {0};
        cns_result *r = run(&a, brazil, &c, &p);
        CHECK(r);
        CHECK_MSG(r->answer_kind == CNS_ANSWER_EXTRACTIVE, "case %zu kept: %s", i, r->answer);
        CHECK_STR(r->answer_source, "extractive");
        CHECK_MSG(strstr(r->answer, cases[i].why) != NULL, "case %zu: %s", i, r->answer);
        if (cases[i].reply[0])
            CHECK_MSG(r->answer_check && strstr(r->answer_check, cases[i].why), "case %zu: %s", i,
                      r->answer_check ? r->answer_check : "(none)");
        /* the extractive answer states the agreed point */
        CHECK(strstr(r->answer, "Portuguese") != NULL);
        CHECK(strstr(r->answer, "The person who asked") == NULL);
        arena_free(&a);
    }
}

TEST(single_voice_is_shown_as_written)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"What is the best small open source model?\",\"answers\":["
                    "{\"model\":\"a\",\"name\":\"one\",\"text\":\"It depends on the task; for "
                    "code, *Qwen2.5-Coder* is a good start.\\n\\n- small\\n- fast\\n\"},"
                    "{\"model\":\"b\",\"name\":\"two\",\"status\":\"failed\",\"text\":\"\"}]}";
    canned c = {.reply = "C++ is the best.",
                .followups = "Which tasks is Qwen2.5-Coder best at?\nHow small is Qwen2.5-Coder?\n"
                             "What other open source models are good for code?\n"};
    pieces p = {0};
    cns_result *r = run(&a, j, &c, &p);
    CHECK(r);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SINGLE_VOICE);
    CHECK_STR(r->answer,
              "It depends on the task; for code, *Qwen2.5-Coder* is a good start.\n\n- small\n- "
              "fast\n");
    CHECK_STR(p.text, r->answer);
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups[0], "Which tasks is Qwen2.5-Coder best at?");
    arena_free(&a);
}

TEST(disputed_points_are_flagged_with_who_said_what)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"Who created the Python programming language?\",\"answers\":["
                    "{\"model\":\"a\",\"name\":\"alpha\",\"text\":\"Python was created by Guido "
                    "van Rossum.\"},"
                    "{\"model\":\"b\",\"name\":\"beta\",\"text\":\"Python was created by James "
                    "Gosling.\"}]}";
    canned c = {.reply = "The models disagree on who created Python.\n\nFollow-up questions:\n"};
    cns_result *r = run(&a, j, &c, NULL);
    CHECK(r);
    if (r->analysis.n_disputed == 0)
        SKIP("the analysis found no disputed point here");
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK(strstr(r->answer, "**Disputed**") != NULL);
    CHECK(strstr(r->answer, "alpha") && strstr(r->answer, "Guido van Rossum"));
    CHECK(strstr(r->answer, "beta") && strstr(r->answer, "James Gosling"));
    arena_free(&a);
}

#define PYTHON_DISPUTE(more)                                                                       \
    "{\"question\":\"Who created the Python programming language?\",\"answers\":["                 \
    "{\"model\":\"a\",\"name\":\"alpha\",\"text\":\"Python was created by Guido van Rossum."       \
    "\"},"                                                                                         \
    "{\"model\":\"b\",\"name\":\"beta\",\"text\":\"Python was created by James Gosling in "        \
    "1991.\"}" more "]}"

/* Members that agree on nothing: the named strongest member's answer leads,
 * exactly as it wrote it (even where it is wrong: which member is strongest
 * is measured, not judged per question), the other side flagged as disputed
 * with who said it; no writer is asked for the answer. */
TEST(strongest_member_leads_when_the_members_disagree)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = PYTHON_DISPUTE("");
    canned c = {.reply = "Python was written by a committee.\n\nFollow-up questions:\n",
                .followups = "When was Python first released?\nWhy is Python named after Monty "
                             "Python?\nWhich companies use Python?\n"};
    pieces p = {0};
    cns_result *r = run_strongest(&a, j, &c, &p, "beta");
    CHECK(r);
    CHECK_EQ_INT(r->analysis.label, CNS_LABEL_DISAGREE);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_STRONGEST);
    CHECK_STR(cns_answer_kind_str(r->answer_kind), "strongest");
    CHECK_STR(r->answer_member, "beta");
    CHECK_EQ_INT(c.answer_calls, 0);
    const char *lead = "Python was created by James Gosling in 1991.\n\n**Disputed**\n\n";
    CHECK(!strncmp(r->answer, lead, strlen(lead)));
    CHECK(strstr(r->answer, "alpha: ") && strstr(r->answer, "Guido van Rossum"));
    CHECK(!strstr(r->answer, "committee"));
    CHECK_STR(p.text, r->answer);
    CHECK_EQ_INT(r->n_followups, 3);
    CHECK_STR(r->followups[0], "When was Python first released?");
    arena_free(&a);
}

/* Members that agree on the direct answer, nothing disputed: the strongest
 * member's answer is the council's, as written, without a writer. */
TEST(strongest_member_states_an_agreed_direct_answer)
{
    arena a = arena_make(64 << 10, 64 << 20);
    canned c = {.reply = "Brazilians speak Portuguese.\n\nFollow-up questions:\n"};
    cns_result *r = run_strongest(&a, brazil, &c, NULL, "small");
    CHECK(r);
    CHECK_EQ_INT(r->analysis.label, CNS_LABEL_CONSENSUS);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_STRONGEST);
    CHECK_STR(r->answer, "Portuguese is the official language of Brazil.");
    CHECK_EQ_INT(c.answer_calls, 0);
    arena_free(&a);
}

/* A stand-in sentence encoder in two dimensions: the cosine of a text with
 * the question is the number the table gives it (0.6 for any other text). */
static dx_status fake_embed(void *user, const char *text, float *out, size_t dim)
{
    (void)user;
    static const struct {
        const char *text;
        float cos;
    } table[] = {
        {"Who created the Python programming language?", 1.0f},
        {"Who is the author of Python?", 0.95f}, /* the question again */
        {"What does the interpreter do?", 0.5f}, /* on topic, no shared word */
        {"How do I bake bread?", 0.1f},          /* off topic */
    };
    float c = 0.6f;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(text, table[i].text))
            c = table[i].cos;
    if (dim != 2)
        return dx_fail(DX_EARG, "dim %zu", dim);
    out[0] = c;
    out[1] = sqrtf(1 - c * c);
    return DX_OK;
}

/* Where only follow-ups are asked (the strongest member's answer), they are
 * asked of the follow-ups model, not the writer; with an encoder, one that
 * means the question again is dropped and one close to it in meaning is on
 * topic though it shares no word with the question or the answers. */
TEST(followups_from_their_own_model_judged_by_meaning)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = PYTHON_DISPUTE("");
    canned writer = {.reply = "unused", .followups = "Which companies use Python?\n"};
    canned asker = {.followups = "Who is the author of Python?\nWhat does the interpreter do?\nHow "
                                 "do I bake bread?\nWhen was Python first released?\n"};
    cns_input in;
    cns_result *r = NULL;
    CHECK(!cns_input_parse(j, strlen(j), &a, &in) && !cns_analyze(&in, NULL, &a, &r));
    cns_synth_options so = {.generate = canned_generate,
                            .generate_user = &writer,
                            .answer = true,
                            .strongest = "beta",
                            .followups = canned_generate,
                            .followups_user = &asker,
                            .embed = fake_embed,
                            .embed_dim = 2};
    CHECK(!cns_synthesize(r, &so, &a));
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_STRONGEST);
    CHECK_EQ_INT(asker.calls, 1);
    CHECK_EQ_INT(writer.answer_calls, 0);
    CHECK_EQ_INT(r->n_followups, 3); /* the third derived from the analysis */
    CHECK_STR(r->followups[0], "What does the interpreter do?");
    CHECK_STR(r->followups[1], "When was Python first released?");
    for (size_t i = 0; i < r->n_followups; i++) {
        CHECK(strcmp(r->followups[i], "Who is the author of Python?"));
        CHECK(strcmp(r->followups[i], "How do I bake bread?"));
        CHECK(strcmp(r->followups[i], "Which companies use Python?"));
    }
    /* without the encoder the word rules alone judge: the author question
     * brings a new word, the interpreter one shares none */
    arena_free(&a);
    a = arena_make(64 << 10, 64 << 20);
    CHECK(!cns_input_parse(j, strlen(j), &a, &in) && !cns_analyze(&in, NULL, &a, &r));
    so.embed = NULL;
    asker.calls = 0;
    CHECK(!cns_synthesize(r, &so, &a));
    CHECK_EQ_INT(asker.calls, 1);
    CHECK_STR(r->followups[0], "Who is the author of Python?");
    CHECK_STR(r->followups[1], "When was Python first released?");
    arena_free(&a);
}

/* No strongest member named, one not in the council, or one that did not
 * answer: the writer writes, as before. */
TEST(without_a_strongest_member_that_answered_the_writer_writes)
{
    static const char *const names[] = {NULL, "nobody", "gamma"};
    const char *j =
        PYTHON_DISPUTE(",{\"model\":\"c\",\"name\":\"gamma\",\"status\":\"failed\",\"text\":\"\"}");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        arena a = arena_make(64 << 10, 64 << 20);
        canned c = {.reply = "Guido van Rossum and James Gosling are both named.\n\nFollow-up "
                             "questions:\n"};
        cns_result *r = run_strongest(&a, j, &c, NULL, names[i]);
        CHECK(r);
        CHECK_EQ_INT(c.answer_calls, 1);
        CHECK(r->answer_kind != CNS_ANSWER_STRONGEST);
        CHECK(r->answer_member == NULL);
        arena_free(&a);
    }
}

typedef struct {
    canned *c;
    size_t disputed_at; /* reply bytes streamed when the Disputed section arrived; 0: never */
    int n_disputed;     /* pieces with the Disputed section */
} watch;

static void watch_piece(void *user, const char *t, size_t n)
{
    watch *w = user;
    if (memmem(t, n, "**Disputed**", 12) && !w->n_disputed++)
        w->disputed_at = w->c->streamed;
}

/* The disputed points follow the written answer as soon as its end (the
 * follow-up marker) is written, not after the follow-ups: the reader has the
 * whole answer while the writer is still writing them. */
TEST(disputed_points_are_sent_when_the_answer_ends)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"Who created the Python programming language?\",\"answers\":["
                    "{\"model\":\"a\",\"name\":\"alpha\",\"text\":\"Python was created by Guido "
                    "van Rossum.\"},"
                    "{\"model\":\"b\",\"name\":\"beta\",\"text\":\"Python was created by James "
                    "Gosling.\"}]}";
    const char *reply = "The models disagree on who created Python.\n\nFollow-up questions:\n"
                        "What year was Python first released?\n"
                        "Which companies use Python today?\n"
                        "How does Python compare with Java for beginners?\n";
    canned c = {.reply = reply};
    watch w = {.c = &c};
    cns_input in;
    cns_result *r = NULL;
    CHECK(cns_input_parse(j, strlen(j), &a, &in) == DX_OK &&
          cns_analyze(&in, NULL, &a, &r) == DX_OK);
    if (r->analysis.n_disputed == 0)
        SKIP("the analysis found no disputed point here");
    cns_synth_options so = {.generate = canned_generate,
                            .stream = canned_stream,
                            .generate_user = &c,
                            .on_answer = watch_piece,
                            .on_answer_user = &w,
                            .answer = true};
    CHECK(cns_synthesize(r, &so, &a) == DX_OK);
    CHECK_EQ_INT(r->answer_kind, CNS_ANSWER_SYNTHESIZED);
    CHECK(strstr(r->answer, "**Disputed**") != NULL);
    size_t marker_end = (size_t)(strstr(reply, "questions:") - reply) + strlen("questions:") + 3;
    CHECK_MSG(w.disputed_at > 0 && w.disputed_at <= marker_end,
              "the Disputed section came %zu bytes into the %zu-byte reply (marker ends at %zu)",
              w.disputed_at, strlen(reply), marker_end);
    CHECK_EQ_INT(w.n_disputed, 1); /* and only then, not again at the end */
    CHECK_EQ_INT(r->n_followups, 3);
    arena_free(&a);
}

/* ---- follow-ups on 30 questions, by a person's rules ---- */

static const struct {
    const char *q, *a1, *a2;
} qs[30] = {
    {"What is the capital of France?", "The capital of France is Paris.", "Paris."},
    {"What is the capital of Italy?", "Rome is the capital of Italy.", "The capital is Rome."},
    {"What is the capital of Japan?", "Tokyo is the capital of Japan.", "Tokyo."},
    {"At what temperature does water boil?", "Water boils at 100 °C at sea level.",
     "At sea level, 212 °F."},
    {"What is the speed of light?", "About 299,792 km per second in a vacuum.",
     "Light travels at roughly 300,000 km/s."},
    {"Who wrote Hamlet?", "William Shakespeare wrote Hamlet.", "Hamlet is by Shakespeare."},
    {"What language is spoken in Brazil?", "Portuguese.", "Brazilians speak Portuguese."},
    {"What is the chemical symbol for gold?", "The symbol for gold is Au.", "Au."},
    {"In what year did World War II end?", "World War II ended in 1945.", "It ended in 1945."},
    {"Which planet is the largest in the solar system?", "Jupiter is the largest planet.",
     "Jupiter."},
    {"Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa.",
     "It was painted by Leonardo da Vinci."},
    {"How many continents are there?", "There are seven continents.", "Seven."},
    {"What is the largest ocean on Earth?", "The Pacific Ocean is the largest.", "The Pacific."},
    {"Who was the first person to walk on the Moon?", "Neil Armstrong, in 1969.",
     "Neil Armstrong was the first, in 1969."},
    {"What gas do plants absorb from the air?", "Plants absorb carbon dioxide.",
     "Carbon dioxide (CO2)."},
    {"What is the freezing point of water in Fahrenheit?", "Water freezes at 32 °F.",
     "32 degrees Fahrenheit."},
    {"Who developed the theory of relativity?", "Albert Einstein developed it.", "Einstein."},
    {"What is the hardest natural substance?", "Diamond is the hardest natural substance.",
     "Diamond."},
    {"How many legs does a spider have?", "A spider has eight legs.", "Eight legs."},
    {"What is the tallest mountain in the world?", "Mount Everest is the tallest.",
     "Everest, at 8,849 m."},
    {"Which element has the atomic number 1?", "Hydrogen has atomic number 1.", "Hydrogen."},
    {"What currency is used in Japan?", "Japan uses the yen.", "The Japanese yen."},
    {"Who invented the telephone?", "Alexander Graham Bell is credited with it.",
     "Alexander Graham Bell."},
    {"What is the longest river in Africa?", "The Nile is the longest river in Africa.",
     "The Nile."},
    {"How many days are in a leap year?", "A leap year has 366 days.", "366 days."},
    {"What is the main language of Argentina?", "Spanish is the main language of Argentina.",
     "Spanish."},
    {"Which organ pumps blood through the body?", "The heart pumps blood.", "The heart."},
    {"What is the square root of 64?", "The square root of 64 is 8.", "8."},
    {"Who discovered penicillin?", "Alexander Fleming discovered penicillin in 1928.",
     "Alexander Fleming, 1928."},
    {"What is the smallest prime number?", "The smallest prime number is 2.", "2."},
};

/* Words (2+ letters, lower case, not function words) of s, space-separated. */
static void content_words(const char *s, char *out, size_t cap)
{
    static const char *const common[] = {
        "what", "which", "who",  "whom", "how",  "why",   "when",  "where", "is",   "are",
        "was",  "were",  "do",   "does", "did",  "the",   "an",    "and",   "or",   "of",
        "for",  "to",    "in",   "on",   "at",   "by",    "it",    "its",   "that", "this",
        "can",  "could", "will", "be",   "many", "there", "about", NULL};
    size_t n = 0;
    out[0] = '\0';
    while (*s) {
        while (*s && !isalnum((unsigned char)*s))
            s++;
        const char *b = s;
        while (isalnum((unsigned char)*s))
            s++;
        size_t len = (size_t)(s - b);
        if (len < 2 || len > 30)
            continue;
        char w[32];
        for (size_t i = 0; i < len; i++)
            w[i] = (char)tolower((unsigned char)b[i]);
        w[len] = '\0';
        if (len > 3 && w[len - 1] == 's')
            w[--len] = '\0'; /* plural or not */
        bool skip = false;
        for (size_t i = 0; common[i]; i++)
            skip |= !strcmp(w, common[i]);
        if (!skip && n + len + 2 < cap) {
            memcpy(out + n, w, len);
            n += len;
            out[n++] = ' ';
            out[n] = '\0';
        }
    }
}

static bool has_word(const char *list, const char *w)
{
    char pat[40];
    snprintf(pat, sizeof pat, "%s ", w);
    for (const char *p = list; (p = strstr(p, pat)); p++)
        if (p == list || p[-1] == ' ')
            return true;
    return false;
}

/* A person's rules: a question, short, not the question again, on topic,
 * no "Question:" label, no filler. */
static const char *rule_broken(const char *question, const char *answers, const char *f)
{
    size_t n = strlen(f);
    if (n == 0 || f[n - 1] != '?')
        return "not a question";
    if (n >= 120)
        return "120 characters or more";
    if (!strncasecmp(f, "question", 8))
        return "a \"Question:\" label";
    if (n >= 2 && strchr(".:;,", f[n - 2]))
        return "punctuation before the question mark";
    if (!strcasecmp(f, question) || strcasestr(f, question))
        return "the question again";
    if (strcasestr(f, "is it true that") || strcasestr(f, "evidence for") ||
        strcasestr(f, "where can i check"))
        return "filler";
    char fw[512], qw[512], aw[1024];
    content_words(f, fw, sizeof fw);
    content_words(question, qw, sizeof qw);
    content_words(answers, aw, sizeof aw);
    bool new_word = false, topic = false;
    for (char *w = strtok(fw, " "); w; w = strtok(NULL, " ")) {
        if (!has_word(qw, w))
            new_word = true;
        if (has_word(qw, w) || has_word(aw, w))
            topic = true;
    }
    if (!new_word)
        return "a restatement of the question";
    if (!topic)
        return "off topic";
    return NULL;
}

static void check_followups_of(size_t i, const char *reply)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"question\":\"%s\",\"answers\":[{\"model\":\"a\",\"text\":\"%s\"},"
             "{\"model\":\"b\",\"text\":\"%s\"}]}",
             qs[i].q, qs[i].a1, qs[i].a2);
    arena a = arena_make(64 << 10, 64 << 20);
    canned c = {.reply = reply};
    cns_result *r = run(&a, json, &c, NULL);
    CHECK_MSG(r, "question %zu: %s", i, dx_errmsg());
    CHECK_MSG(r->n_followups == 3, "question %zu (%s): %zu follow-ups", i, qs[i].q, r->n_followups);
    char answers[512];
    snprintf(answers, sizeof answers, "%s %s", qs[i].a1, qs[i].a2);
    for (size_t k = 0; k < 3; k++) {
        const char *why = rule_broken(qs[i].q, answers, r->followups[k]);
        CHECK_MSG(!why, "question %zu (%s): follow-up \"%s\" is %s", i, qs[i].q, r->followups[k],
                  why);
        for (size_t j = 0; j < k; j++)
            CHECK_MSG(strcasecmp(r->followups[j], r->followups[k]), "question %zu: twice", i);
    }
    arena_free(&a);
}

/* A side that ends in a colon (a list follows it) makes a derived follow-up
 * that ends in "5 continents?", not "5 continents:?". */
TEST(derived_followups_end_cleanly)
{
    arena a = arena_make(64 << 10, 64 << 20);
    const char *j = "{\"question\":\"How many continents are there?\",\"answers\":["
                    "{\"model\":\"a\",\"text\":\"There are 7 continents on Earth.\"},"
                    "{\"model\":\"b\",\"text\":\"There are 5 continents: Africa, America, Asia, "
                    "Europe and Oceania.\"}]}";
    canned c = {.reply = ""};
    cns_result *r = run(&a, j, &c, NULL);
    CHECK(r);
    bool which = false;
    for (size_t k = 0; k < r->n_followups; k++) {
        const char *f = r->followups[k];
        size_t n = strlen(f);
        CHECK_MSG(n >= 2 && !strchr(".:;,", f[n - 2]), "follow-up \"%s\"", f);
        which |= !strncmp(f, "Which is correct: ", 18) && strstr(f, "5 continents");
    }
    CHECK(which);
    arena_free(&a);
    /* list items are no statements: no "How could one confirm that Africa?" */
    a = arena_make(64 << 10, 64 << 20);
    j = "{\"question\":\"How many continents are there?\",\"answers\":["
        "{\"model\":\"a\",\"text\":\"There are 7 continents on Earth.\"},"
        "{\"model\":\"b\",\"text\":\"There are 5 continents:\\n\\n1. Africa\\n2. America\\n3. "
        "Asia\\n4. Europe\\n5. Oceania\"}]}";
    CHECK((r = run(&a, j, &c, NULL)));
    for (size_t k = 0; k < r->n_followups; k++)
        CHECK_MSG(!strstr(r->followups[k], "that Africa?") &&
                      !strstr(r->followups[k], "that Asia?"),
                  "follow-up \"%s\"", r->followups[k]);
    arena_free(&a);
}

/* No model follow-ups at all: every one derived from the analysis. */
TEST(derived_followups_obey_the_rules_on_30_questions)
{
    for (size_t i = 0; i < 30 && !test_cur_failed; i++)
        check_followups_of(i, "");
}

/* A model that repeats the question, labels it, pads with filler and runs
 * long: none of that is kept, and the rest is made up from the analysis. */
TEST(bad_model_followups_are_dropped_on_30_questions)
{
    for (size_t i = 0; i < 30 && !test_cur_failed; i++) {
        char reply[2048];
        snprintf(reply, sizeof reply,
                 "%s\n\nFollow-up questions:\n1. %s\n2. Question: %s\n3. Is it true that \"%s\"? "
                 "Only a said so.\n4. Could you tell me more about everything related to this "
                 "topic and also about all the other things one might want to know about it?\n"
                 "5. Any other questions?\n",
                 qs[i].a1, qs[i].q, qs[i].q, qs[i].a1);
        check_followups_of(i, reply);
    }
}

int main(void)
{
    RUN(good_answer_is_shown_and_streamed);
    RUN(inline_followup_marker_ends_the_answer);
    RUN(writer_is_stopped_once_the_followups_are_written);
    RUN(question_and_answer_labels_are_dropped);
    RUN(failing_answers_are_replaced);
    RUN(single_voice_is_shown_as_written);
    RUN(disputed_points_are_flagged_with_who_said_what);
    RUN(disputed_points_are_sent_when_the_answer_ends);
    RUN(strongest_member_leads_when_the_members_disagree);
    RUN(strongest_member_states_an_agreed_direct_answer);
    RUN(without_a_strongest_member_that_answered_the_writer_writes);
    RUN(followups_from_their_own_model_judged_by_meaning);
    RUN(derived_followups_end_cleanly);
    RUN(derived_followups_obey_the_rules_on_30_questions);
    RUN(bad_model_followups_are_dropped_on_30_questions);
    return test_summary();
}
