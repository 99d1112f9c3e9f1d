/*
 * test_direct — direct answers (src/consensus/direct.h): which questions ask for one thing,
 * what each answer says to it, and whether two answers say the same. Cases are written for
 * these tests across domains and phrasings; none comes from tests/answersets/.
 */
#include <stdint.h>

#include "consensus/direct.h"
#include "core/limits.h"
#include "test.h"

TEST(classify_questions)
{
    static const struct {
        const char *q;
        cns_qkind k;
    } cases[] = {
        {"Who painted The Starry Night?", CNS_Q_WHO},
        {"Who are the members of the Beatles?", CNS_Q_OPEN},
        {"When was the Eiffel Tower completed?", CNS_Q_WHEN},
        {"When should I replace my running shoes?", CNS_Q_OPEN},
        {"Where is Machu Picchu?", CNS_Q_WHERE},
        {"How many moons does Mars have?", CNS_Q_COUNT},
        {"How far is Paris from London?", CNS_Q_AMOUNT},
        {"How tall is the Burj Khalifa?", CNS_Q_AMOUNT},
        {"How old was Mozart when he died?", CNS_Q_AMOUNT},
        {"How often should I water a cactus?", CNS_Q_AMOUNT},
        {"How do vaccines work?", CNS_Q_OPEN},
        {"How can I improve my posture?", CNS_Q_OPEN},
        {"Why do cats purr?", CNS_Q_OPEN},
        {"What is the capital of Kenya?", CNS_Q_WHAT},
        {"What's the boiling point of nitrogen?", CNS_Q_AMOUNT},
        {"What is the melting point of lead in Celsius?", CNS_Q_AMOUNT},
        {"What is a black hole?", CNS_Q_OPEN},
        {"What are the symptoms of the flu?", CNS_Q_OPEN},
        {"What does NASA stand for?", CNS_Q_WHAT},
        {"What does a mitochondrion do?", CNS_Q_OPEN},
        {"What do the colours of the Olympic rings mean?", CNS_Q_OPEN},
        {"In what year did the Chernobyl disaster happen?", CNS_Q_WHEN},
        {"What year did the Chernobyl disaster happen?", CNS_Q_WHEN},
        {"What language is spoken in Brazil?", CNS_Q_WHAT},
        {"What is the largest organ of the human body?", CNS_Q_WHAT},
        {"What is the difference between a virus and a bacterium?", CNS_Q_OPEN},
        {"What causes earthquakes?", CNS_Q_OPEN},
        {"Which planet is closest to the Sun?", CNS_Q_WHICH},
        {"Which vegetables are high in iron?", CNS_Q_OPEN},
        {"Which is heavier, a kilogram of feathers or a kilogram of iron?", CNS_Q_WHICH},
        {"Is Pluto a planet?", CNS_Q_YESNO},
        {"Can dogs eat chocolate?", CNS_Q_YESNO},
        {"Does the Great Barrier Reef lie off Queensland?", CNS_Q_YESNO},
        {"Is a whale a fish or a mammal?", CNS_Q_WHICH},
        {"Can you tell me who invented the telephone?", CNS_Q_WHO},
        {"Can you explain how DNS works?", CNS_Q_OPEN},
        {"Do you know when the first email was sent?", CNS_Q_WHEN},
        {"Name three primary colours.", CNS_Q_OPEN},
        {"Explain recursion.", CNS_Q_OPEN},
        {"Give me an example of a prime number.", CNS_Q_OPEN},
        {"What is 15% of 80?", CNS_Q_AMOUNT},
        {"What is 12 squared?", CNS_Q_AMOUNT},
        {"What is the largest lake by volume?", CNS_Q_WHAT},
        {"Which desert is the biggest by area?", CNS_Q_WHICH},
        {"What is the area of Greenland?", CNS_Q_AMOUNT},
        {"What is the sum of the angles of a triangle?", CNS_Q_AMOUNT},
        {"What is the total length of the Great Wall?", CNS_Q_AMOUNT},
        {"", CNS_Q_OPEN},
        {"???", CNS_Q_OPEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(cns_direct_classify(cases[i].q) == cases[i].k, "\"%s\": %s, want %s", cases[i].q,
                  cns_direct_qkind_str(cns_direct_classify(cases[i].q)),
                  cns_direct_qkind_str(cases[i].k));
    CHECK(cns_direct_classify(NULL) == CNS_Q_OPEN);
    CHECK_STR(cns_direct_qkind_str(CNS_Q_YESNO), "yes/no");
    CHECK_STR(cns_direct_qkind_str((cns_qkind)99), "open");
}

typedef struct dcase {
    const char *text;
    cns_dvtype type;
    const char *value; /* the normalised value; NULL: not checked */
    const char *span;  /* the verbatim span; NULL: not checked */
} dcase;

/* Extracts every case's answer to q, checks it, and returns how many groups they form
 * (answers that say the same thing share a group); groups[] gets cns_direct_group's result. */
static int run_cases(const char *q, const dcase *cs, size_t n, int *groups)
{
    arena a = arena_make(4096, 1 << 22);
    cns_direct d[16];
    cns_qkind k = cns_direct_classify(q);
    int bad = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (cns_direct_extract(q, k, cs[i].text, &a, &d[i]) != DX_OK) {
            printf("  extract failed: %s\n", cs[i].text);
            bad = 1;
            continue;
        }
        const cns_direct *x = &d[i];
        if (x->type != cs[i].type ||
            (cs[i].value && (!x->value || strcmp(x->value, cs[i].value))) ||
            (cs[i].span && (!x->span || strcmp(x->span, cs[i].span)))) {
            printf("  \"%s\" -> type %d value \"%s\" span \"%s\"; want type %d \"%s\" \"%s\"\n",
                   cs[i].text, x->type, x->value ? x->value : "", x->span ? x->span : "",
                   cs[i].type, cs[i].value ? cs[i].value : "*", cs[i].span ? cs[i].span : "*");
            bad = 1;
        }
        /* the span is the member's own bytes */
        if (x->type != CNS_DV_NONE &&
            (x->start + x->len > strlen(cs[i].text) ||
             strncmp(cs[i].text + x->start, x->span, x->len) || strlen(x->span) != x->len ||
             x->sent_start > x->start || x->sent_start + x->sent_len < x->start + x->len ||
             strncmp(cs[i].text + x->sent_start, x->sentence, x->sent_len))) {
            printf("  span of \"%s\" is not verbatim\n", cs[i].text);
            bad = 1;
        }
    }
    if (!bad)
        cns_direct_group(q, d, n, groups);
    arena_free(&a);
    return bad;
}

#define CASES(q, groups_want, ...)                                                                 \
    do {                                                                                           \
        static const dcase cs_[] = {__VA_ARGS__};                                                  \
        static const int want_[] = groups_want;                                                    \
        int g_[16];                                                                                \
        size_t n_ = sizeof cs_ / sizeof cs_[0];                                                    \
        CHECK_MSG(!run_cases(q, cs_, n_, g_), "extraction for \"%s\"", q);                         \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            CHECK_MSG(g_[i_] == want_[i_], "\"%s\": answer %zu in group %d, want %d", q, i_,       \
                      g_[i_], want_[i_]);                                                          \
    } while (0)
#define G(...)                                                                                     \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

TEST(entities_names_and_aliases)
{
    CASES("Who painted The Starry Night?", G(0, 0, 2, 0),
          {"Vincent van Gogh painted it in 1889.", CNS_DV_ENTITY, "vincent van gogh",
           "Vincent van Gogh"},
          {"It was painted by **Van Gogh** while he stayed at an asylum.", CNS_DV_ENTITY,
           "van gogh", "Van Gogh"},
          {"The Starry Night is a work by Claude Monet.", CNS_DV_ENTITY, "claude monet", NULL},
          {"Van Gogh.", CNS_DV_ENTITY, "van gogh", NULL});
    CASES("Who invented the telephone?", G(0, 0, 2),
          {"Alexander Graham Bell is credited with inventing the telephone in 1876.", CNS_DV_ENTITY,
           "alexander graham bell", NULL},
          {"Bell invented it.", CNS_DV_ENTITY, "bell", NULL},
          {"The telephone was invented by Antonio Meucci, according to some historians.",
           CNS_DV_ENTITY, "antonio meucci", NULL});
    CASES("What is the capital of Kenya?", G(0, 0, 2, 0),
          {"Nairobi.", CNS_DV_ENTITY, "nairobi", NULL},
          {"The capital city of Kenya is Nairobi, which is also its largest city.", CNS_DV_ENTITY,
           "nairobi", "Nairobi"},
          {"Mombasa is Kenya's capital.", CNS_DV_ENTITY, "mombasa", NULL},
          {"La capitale du Kenya est Nairobi.", CNS_DV_ENTITY, "nairobi", NULL});
    CASES("What language is spoken in Brazil?", G(0, 0, 2),
          {"Portuguese is the official language of Brazil.", CNS_DV_ENTITY, "portuguese", NULL},
          {"Brazilians speak Portuguese.", CNS_DV_ENTITY, "portuguese", NULL},
          {"Spanish.", CNS_DV_ENTITY, "spanish", NULL});
    CASES(
        "Which country has the largest economy?", G(0, 0, 0, 3),
        {"The United States.", CNS_DV_ENTITY, "united states", NULL},
        {"The USA has the largest economy by nominal GDP.", CNS_DV_ENTITY, "united states", "USA"},
        {"By nominal GDP it is the U.S., followed by China.", CNS_DV_ENTITY, "united states", NULL},
        {"China, measured at purchasing power parity.", CNS_DV_ENTITY, "china", NULL});
    /* case and diacritics */
    CASES("What is the capital of Brazil?", G(0, 0, 2),
          {"Brasília is the capital.", CNS_DV_ENTITY, "brasilia", NULL},
          {"BRASILIA", CNS_DV_ENTITY, "brasilia", NULL},
          {"It is Rio de Janeiro.", CNS_DV_ENTITY, "rio de janeiro", NULL});
    /* the question's own word inside a name does not make two names one */
    CASES("Which ocean is the deepest?", G(0, 0, 2),
          {"The Pacific Ocean is the deepest ocean.", CNS_DV_ENTITY, "pacific ocean", NULL},
          {"The Pacific.", CNS_DV_ENTITY, "pacific", NULL},
          {"The Indian Ocean.", CNS_DV_ENTITY, "indian ocean", NULL});
    CASES("What is the chemical symbol for sodium?", G(0, 0, 2),
          {"Na (from the Latin natrium).", CNS_DV_ENTITY, "na", NULL},
          {"Sodium's symbol is Na.", CNS_DV_ENTITY, "na", NULL},
          {"The symbol is Sn.", CNS_DV_ENTITY, "sn", NULL});
    CASES("What does NASA stand for?", G(0, 0),
          {"NASA stands for National Aeronautics and Space Administration.", CNS_DV_ENTITY,
           "national aeronautics", NULL},
          {"It means the **National Aeronautics and Space Administration**.", CNS_DV_ENTITY,
           "national aeronautics and space administration", NULL});
}

/* answers in other languages: an article opening the sentence is no name, the agent of a
 * passive is who did it, a name with other particles is the same name, a name in another script
 * does not compare with a Latin one (no side of the direct answers) */
TEST(entities_in_other_languages)
{
    CASES("Who wrote The Little Prince?", G(0, 0, 0, 0, 4),
          {"Le Petit Prince a été écrit par Antoine de Saint-Exupéry.", CNS_DV_ENTITY,
           "antoine de saint exupery", NULL},
          {"Der kleine Prinz wurde von Antoine de Saint-Exupéry geschrieben.", CNS_DV_ENTITY,
           "antoine de saint exupery", NULL},
          {"El principito fue escrito por Antoine de Saint-Exupéry en 1943.", CNS_DV_ENTITY, NULL,
           NULL},
          {"Saint-Exupéry wrote it.", CNS_DV_ENTITY, "saint exupery", NULL},
          {"Il Piccolo Principe è stato scritto da Italo Calvino.", CNS_DV_ENTITY, "italo calvino",
           NULL});
    CASES("What is the capital of Germany?", G(0, 0, 0),
          {"La capital de Alemania es Berlín.", CNS_DV_ENTITY, "berlin", "Berlín"},
          {"Die Hauptstadt Deutschlands ist Berlin.", CNS_DV_ENTITY, "berlin", NULL},
          {"Berlin.", CNS_DV_ENTITY, "berlin", NULL});
    /* a name in another script: the same script compares (no spaces: one inside the other) */
    CASES("What is the tallest mountain in Japan?", G(0, -1, 0),
          {"日本で一番高い山は富士山です。", CNS_DV_ENTITY, NULL, NULL},
          {"Mount Fuji.", CNS_DV_ENTITY, "mount fuji", NULL},
          {"富士山", CNS_DV_ENTITY, NULL, NULL});
    CASES("Who was the first woman to win a Nobel Prize?", G(0, 0),
          {"Marie Skłodowska-Curie.", CNS_DV_ENTITY, NULL, NULL},
          {"Marie Curie.", CNS_DV_ENTITY, "marie curie", NULL});
    /* a one-word answer is no article: "O" is oxygen */
    CASES("What is the chemical symbol for oxygen?", G(0, 0), {"O.", CNS_DV_ENTITY, "o", NULL},
          {"Oxygen's symbol is O.", CNS_DV_ENTITY, "o", NULL});
}

/* A plain noun phrase from a rambling first sentence gives way to a sentence soon after that says
 * more of the question; a name in the first sentence stays the answer. */
TEST(entities_after_a_rambling_lead)
{
    CASES("Which gas makes up most of the Earth's atmosphere?", G(0, 0),
          {"The atmosphere is a thin layer of gases that surrounds our planet and protects it. "
           "The gas that makes up most of it is nitrogen, about 78 percent.",
           CNS_DV_ENTITY, "nitrogen", NULL},
          {"Nitrogen.", CNS_DV_ENTITY, "nitrogen", NULL});
    CASES("What is the capital of Australia?", G(0, 1),
          {"Canberra is the capital. Sydney is the largest city in Australia and the capital of "
           "New South Wales.",
           CNS_DV_ENTITY, "canberra", NULL},
          {"Sydney.", CNS_DV_ENTITY, "sydney", NULL});
    /* a name that only sets the scene gives way too; the subject of "X is ..." is a name */
    CASES("What is the official language of Austria?", G(0, 0),
          {"Austria is a small country in Central Europe, famous for Vienna and the Alps. The "
           "official language of Austria is German.",
           CNS_DV_ENTITY, "german", NULL},
          {"German.", CNS_DV_ENTITY, "german", NULL});
    CASES(
        "What is the capital of Scotland?", G(0, 1, 0),
        {"Edinburgh is the Scottish capital and seat of the Scottish Parliament.", CNS_DV_ENTITY,
         "edinburgh", NULL},
        {"Glasgow.", CNS_DV_ENTITY, "glasgow", NULL},
        {"The capital is Edinburgh, though Glasgow is larger.", CNS_DV_ENTITY, "edinburgh", NULL});
    /* a number the question states is not the answer after a word of the question */
    CASES("Who wrote the novel 1984?", G(0, 0),
          {"George Orwell wrote 1984, published in 1949.", CNS_DV_ENTITY, "george orwell", NULL},
          {"Orwell.", CNS_DV_ENTITY, "orwell", NULL});
}

TEST(entities_plain_nouns_and_choices)
{
    CASES("What is the main ingredient of pesto?", G(0, 0, 2),
          {"Fresh basil is the main ingredient of pesto.", CNS_DV_ENTITY, "fresh basil", NULL},
          {"Pesto is made mostly from basil, with pine nuts, garlic and parmesan.", CNS_DV_ENTITY,
           "basil", "basil"},
          {"Spinach.", CNS_DV_ENTITY, "spinach", NULL});
    CASES("Is a whale a fish or a mammal?", G(0, 0, 2),
          {"A whale is a mammal.", CNS_DV_ENTITY, "mammal", NULL},
          {"Whales are mammals, not fish.", CNS_DV_ENTITY, "mammal", NULL},
          {"It's a fish.", CNS_DV_ENTITY, "fish", NULL});
    /* a table row that names the question's word */
    CASES("Who created the Linux kernel?", G(0, 0),
          {"| Fact | Value |\n|---|---|\n| Creator | Linus Torvalds |\n| Year | 1991 |",
           CNS_DV_ENTITY, "linus torvalds", "Linus Torvalds"},
          {"Linus Torvalds.", CNS_DV_ENTITY, "linus torvalds", NULL});
}

TEST(numbers_units_and_words)
{
    CASES("How far is it from London to Paris?", G(0, 0, 2),
          {"About 344 km in a straight line.", CNS_DV_NUMBER, "344000 m", "About 344 km"},
          {"Roughly 214 miles.", CNS_DV_NUMBER, NULL, "Roughly 214 miles"},
          {"About 450 km by road.", CNS_DV_NUMBER, "450000 m", NULL});
    CASES("How tall is the Eiffel Tower?", G(0, 0, 2),
          {"It is 330 metres tall.", CNS_DV_NUMBER, "330 m", NULL},
          {"The tower stands 1,083 feet high.", CNS_DV_NUMBER, NULL, "1,083 feet"},
          {"It is 300 m.", CNS_DV_NUMBER, "300 m", NULL});
    CASES("How many moons does Mars have?", G(0, 0, 2),
          {"Mars has two moons, Phobos and Deimos.", CNS_DV_NUMBER, "2", "two"},
          {"2.", CNS_DV_NUMBER, "2", NULL}, {"Three", CNS_DV_NUMBER, "3", NULL});
    CASES("How many US gallons are in a barrel of oil?", G(0, 0),
          {"Forty-two gallons.", CNS_DV_NUMBER, NULL, NULL},
          {"A barrel holds 42 US gallons.", CNS_DV_NUMBER, NULL, NULL});
    /* "one cup" says the question's "a cup" */
    CASES("How many tablespoons are in a cup?", G(0, 0),
          {"One cup equals 16 tablespoons.", CNS_DV_NUMBER, "16", "16"},
          {"16.", CNS_DV_NUMBER, "16", NULL});
    /* number words of other languages */
    CASES("How many legs does an insect have?", G(0, 0, 0, 3),
          {"Six legs.", CNS_DV_NUMBER, "6", NULL},
          {"Un insecte a six pattes.", CNS_DV_NUMBER, "6", NULL},
          {"Los insectos tienen seis patas.", CNS_DV_NUMBER, "6", "seis"},
          {"Insekten haben acht Beine.", CNS_DV_NUMBER, "8", NULL});
    CASES("How many players are on a rugby union team?", G(0, 0, 0, 3),
          {"Il y a quinze joueurs.", CNS_DV_NUMBER, "15", "quinze"},
          {"Fünfzehn Spieler.", CNS_DV_NUMBER, "15", NULL},
          {"15 players.", CNS_DV_NUMBER, "15", NULL},
          {"Ci sono tredici giocatori.", CNS_DV_NUMBER, "13", NULL});
    CASES("How many people live in Reykjavik?", G(0, 0, 2),
          {"About 140,000 people.", CNS_DV_NUMBER, "140000", NULL},
          {"Roughly 140000 people live there.", CNS_DV_NUMBER, "140000", NULL},
          {"1,400,000", CNS_DV_NUMBER, "1400000", NULL});
    CASES("What is the boiling point of water in Fahrenheit?", G(0, 0, 2),
          {"212 °F.", CNS_DV_NUMBER, "100 °C", "212 °F"},
          {"It boils at 100 degrees Celsius, which is the same thing.", CNS_DV_NUMBER, "100 °C",
           NULL},
          {"It boils at 180 °F.", CNS_DV_NUMBER, NULL, NULL});
    CASES("How heavy is an adult male African elephant?", G(0, 0),
          {"Up to 6,000 kg.", CNS_DV_NUMBER, "6000000 g", NULL},
          {"Around 13,000 pounds.", CNS_DV_NUMBER, NULL, NULL});
    /* a decimal comma and a sum of durations */
    CASES("How long is a day on Mars?", G(0, 0, 0, 3),
          {"24 hours and 37 minutes.", CNS_DV_NUMBER, "88620 s", NULL},
          {"About 24.6 hours.", CNS_DV_NUMBER, NULL, NULL},
          {"Ein Marstag dauert etwa 24,6 h.", CNS_DV_NUMBER, NULL, "etwa 24,6 h"},
          {"About 12 hours.", CNS_DV_NUMBER, NULL, NULL});
    /* a temperature range converts both ends */
    CASES("What is a normal body temperature for an adult?", G(0, 0, 2),
          {"Roughly 36.5 to 37.5 degrees Celsius.", CNS_DV_NUMBER, "36.5-37.5 °C", NULL},
          {"Between 97.7 and 99.5 °F.", CNS_DV_NUMBER, NULL, NULL},
          {"About 39 °C.", CNS_DV_NUMBER, "39 °C", NULL});
    /* "what is the value of ...", "how much does ... weigh": an amount, of a mass */
    CASES("What is the value of Euler's number to three decimal places?", G(0, 0, 2),
          {"e ≈ 2.71828, so 2.718.", CNS_DV_NUMBER, "2.71828", NULL},
          {"It is 2.718.", CNS_DV_NUMBER, "2.718", NULL},
          {"About 3.1.", CNS_DV_NUMBER, NULL, NULL});
    CASES("How much does a gallon of milk weigh?", G(0, 0, 2),
          {"One gallon of milk weighs about 8.6 pounds.", CNS_DV_NUMBER, NULL, "about 8.6 pounds"},
          {"Roughly 3.9 kg.", CNS_DV_NUMBER, NULL, NULL},
          {"A gallon is 3.8 litres, so about 2 kg.", CNS_DV_NUMBER, "2000 g", NULL});
    CASES("What is the air pressure at the top of Mount Everest?", G(0, 0, 2),
          {"About 33.7 kPa.", CNS_DV_NUMBER, "33700 Pa", NULL},
          {"Roughly a third of sea level: about 337 hPa (0.33 atm).", CNS_DV_NUMBER, NULL, NULL},
          {"About 14.7 psi, the same as at sea level.", CNS_DV_NUMBER, NULL, NULL});
    /* ranges: the same answer when they overlap */
    CASES("How many hours of sleep does a teenager need?", G(0, 0, 2, 0),
          {"8 to 10 hours a night.", CNS_DV_NUMBER, "28800-36000 s", NULL},
          {"About 9 hours.", CNS_DV_NUMBER, NULL, NULL},
          {"Only 5 hours.", CNS_DV_NUMBER, NULL, NULL},
          {"Between 8 and 10 hours.", CNS_DV_NUMBER, "28800-36000 s", NULL});
}

TEST(numbers_in_calculations)
{
    CASES("What is 17 × 23?", G(0, 0, 2, 3), {"17 × 23 = 391", CNS_DV_NUMBER, "391", "391"},
          {"The product is 391.", CNS_DV_NUMBER, "391", NULL},
          {"17 + 23 = 40, so the answer is 40.", CNS_DV_NUMBER, "40", NULL},
          {"6 * 89 ≈ 521", CNS_DV_NUMBER, "521", NULL});
    /* a worked calculation: its marked result, not a number of the working */
    CASES("What is 17 × 23?", G(0, 0, 2),
          {"To find the product, split the numbers:\n\n\\[ 17 \\times 23 = (10 + 7) \\times (20 + "
           "3) \\]\n\nThat is 200 + 30 + 140 + 21.\n\nSo, the answer is:\n\n\\[\n\\boxed{391}\n\\]",
           CNS_DV_NUMBER, "391", "391"},
          {"The answer is 391.", CNS_DV_NUMBER, "391", NULL},
          {"First, 17 × 20 = 340. Then 17 × 3 = 51. The final answer is 390.", CNS_DV_NUMBER, "390",
           NULL});
    CASES("What is 15% of 80?", G(0, 0, 2), {"15% of 80 is 12.", CNS_DV_NUMBER, "12", NULL},
          {"12", CNS_DV_NUMBER, "12", NULL}, {"It is 1.2.", CNS_DV_NUMBER, "1.2", NULL});
    CASES("How much does one litre of water weigh?", G(0, 0),
          {"One litre of water weighs about 1 kg.", CNS_DV_NUMBER, "1000 g", NULL},
          {"About 1,000 grams.", CNS_DV_NUMBER, NULL, NULL});
}

TEST(dates)
{
    CASES("When did the Titanic sink?", G(0, 0, 0, 0, 4, 5),
          {"On 15 April 1912.", CNS_DV_DATE, "1912-04-15", "15 April 1912"},
          {"April 15, 1912, after hitting an iceberg.", CNS_DV_DATE, "1912-04-15", NULL},
          {"1912-04-15", CNS_DV_DATE, "1912-04-15", NULL},
          {"It sank in 1912.", CNS_DV_DATE, "1912", "1912"},
          {"It sank on the 14th of April 1912.", CNS_DV_DATE, "1912-04-14", NULL},
          {"The Titanic sank in 1915.", CNS_DV_DATE, "1915", NULL});
    CASES("When was Julius Caesar assassinated?", G(0, 0, 2),
          {"In 44 BC, on the Ides of March.", CNS_DV_DATE, "-44", "44 BC"},
          {"March 15, 44 BCE.", CNS_DV_DATE, NULL, NULL},
          {"He was killed in 45 BC.", CNS_DV_DATE, "-45", NULL});
    CASES("What year did the Chernobyl disaster happen?", G(0, 0, 2),
          {"1986", CNS_DV_DATE, "1986", NULL},
          {"The reactor exploded on 26 April 1986.", CNS_DV_DATE, "1986-04-26", NULL},
          {"It happened in May 1987.", CNS_DV_DATE, "1987-05", NULL});
    /* numbers that are not dates: "Apollo 11", a day without a year */
    arena a = arena_make(4096, 1 << 20);
    cns_direct d;
    const char *q = "When did Apollo 11 land on the Moon?";
    CHECK(cns_direct_extract(q, cns_direct_classify(q), "Apollo 11 landed on 20 July 1969.", &a,
                             &d) == DX_OK);
    CHECK(d.type == CNS_DV_DATE && d.year == 1969 && d.month == 7 && d.day == 20);
    CHECK(cns_direct_extract(q, cns_direct_classify(q), "It landed on 20 July.", &a, &d) == DX_OK);
    CHECK(d.type == CNS_DV_NONE);
    arena_free(&a);
}

TEST(yes_no)
{
    CASES("Is Pluto a planet?", G(0, 0, 2, 0, 0),
          {"No, Pluto was reclassified as a dwarf planet in 2006.", CNS_DV_YESNO, "no", "No"},
          {"Pluto is not considered a planet anymore.", CNS_DV_YESNO, "no", NULL},
          {"Yes.", CNS_DV_YESNO, "yes", NULL}, {"Nope.", CNS_DV_YESNO, "no", NULL},
          {"* No\n* It is a dwarf planet", CNS_DV_YESNO, "no", NULL});
    CASES("Can dogs eat chocolate?", G(0, 0, 2),
          {"No! Chocolate is toxic to dogs.", CNS_DV_YESNO, "no", NULL},
          {"Dogs should never eat chocolate: theobromine poisons them.", CNS_DV_YESNO, "no", NULL},
          {"Dogs can eat small amounts of chocolate without harm.", CNS_DV_YESNO, "yes", NULL});
    /* "Is it X to ...?" answered "It is (not) X" */
    CASES("Is it safe to eat raw cookie dough?", G(0, 0, 2),
          {"It is not safe: raw flour and eggs can carry bacteria.", CNS_DV_YESNO, "no", NULL},
          {"It isn't safe, mainly because of the raw flour.", CNS_DV_YESNO, "no", NULL},
          {"It's safe in small amounts.", CNS_DV_YESNO, "yes", NULL});
    CASES("Can ostriches fly?", G(0, 0, 2),
          {"No — ostriches are flightless.", CNS_DV_YESNO, "no", "No"},
          {"No - their wings are too small.", CNS_DV_YESNO, "no", NULL},
          {"Yes – for short hops.", CNS_DV_YESNO, "yes", NULL});
    CASES("Is the Great Wall of China longer than 20,000 km?", G(0, 0),
          {"Yes, the 2012 survey measured 21,196 km.", CNS_DV_YESNO, "yes", NULL},
          {"Absolutely, it is about 21,000 km including all branches.", CNS_DV_YESNO, "yes", NULL});
    /* no verdict and no restatement: nothing */
    CASES("Is coffee bad for your heart?", G(-1, 1),
          {"It depends on how much you drink.", CNS_DV_NONE, NULL, NULL},
          {"Moderate coffee is not bad for your heart.", CNS_DV_YESNO, "no", NULL});
}

TEST(no_answer)
{
    CASES("What is the capital of Kenya?", G(-1, -1, -1, -1, -1, -1, -1, -1, -1, 9),
          {"I cannot say.", CNS_DV_NONE, NULL, NULL},
          {"I'm not sure, sorry.", CNS_DV_NONE, NULL, NULL},
          {"As an AI language model, I can't answer that.", CNS_DV_NONE, NULL, NULL},
          {"", CNS_DV_NONE, NULL, NULL}, {" \n\t", CNS_DV_NONE, NULL, NULL},
          {"<|im_end|><|im_end|>", CNS_DV_NONE, NULL, NULL},
          {"What is the capital of Kenya?", CNS_DV_NONE, NULL, NULL},
          {"I'm sorry, but I can't help with that.", CNS_DV_NONE, NULL, NULL},
          {"I can't predict that.", CNS_DV_NONE, NULL, NULL},
          {"```\nprint(1)\n```\nNairobi.", CNS_DV_ENTITY, "nairobi", NULL});
    /* a sentence off the question's topic is no answer to it */
    CASES("What does HTML stand for?", G(-1, 1),
          {"The internet is a global network of computers. Many people use it every day.",
           CNS_DV_NONE, NULL, NULL},
          {"It stands for HyperText Markup Language.", CNS_DV_ENTITY, "hypertext markup language",
           NULL});
    /* a refusal with content after ", but" keeps the content */
    CASES("What is the maximum daily dose of paracetamol for adults?", G(0, 0),
          {"I can't give medical advice, but the usual adult limit is 4 g a day.", CNS_DV_NUMBER,
           "4 g", NULL},
          {"4,000 mg in 24 hours.", CNS_DV_NUMBER, NULL, NULL});
    /* open questions have no direct answer */
    arena a = arena_make(4096, 1 << 20);
    cns_direct d;
    CHECK(cns_direct_extract("Why is the sky blue?", CNS_Q_OPEN, "Rayleigh scattering.", &a, &d) ==
          DX_OK);
    CHECK(d.type == CNS_DV_NONE && d.value == NULL);
    CHECK(cns_direct_extract(NULL, CNS_Q_WHO, NULL, &a, &d) == DX_OK && d.type == CNS_DV_NONE);
    arena_free(&a);
}

TEST(compare_kinds_and_unknown)
{
    arena a = arena_make(4096, 1 << 20);
    const char *q = "How many legs does a spider have?";
    cns_direct x, y, none;
    CHECK(cns_direct_extract(q, CNS_Q_COUNT, "Eight legs.", &a, &x) == DX_OK);
    CHECK(cns_direct_extract(q, CNS_Q_COUNT, "A spider has 8 legs.", &a, &y) == DX_OK);
    CHECK(cns_direct_extract(q, CNS_Q_COUNT, "I don't know.", &a, &none) == DX_OK);
    CHECK(cns_direct_compare(q, &x, &y) == CNS_DIRECT_SAME);
    CHECK(cns_direct_compare(q, &y, &x) == CNS_DIRECT_SAME);
    CHECK(cns_direct_compare(q, &x, &none) == CNS_DIRECT_UNKNOWN);
    CHECK(cns_direct_compare(q, &none, &none) == CNS_DIRECT_UNKNOWN);
    /* an amount and a name do not compare */
    cns_direct e;
    CHECK(cns_direct_extract("Who was the first person in space?", CNS_Q_WHO,
                             "Yuri Gagarin, in 1961.", &a, &e) == DX_OK);
    CHECK(e.type == CNS_DV_ENTITY);
    CHECK(cns_direct_compare(q, &x, &e) == CNS_DIRECT_UNKNOWN);
    /* different dimensions do not compare */
    cns_direct m, s;
    CHECK(cns_direct_extract("How long is it?", CNS_Q_AMOUNT, "5 km.", &a, &m) == DX_OK);
    CHECK(cns_direct_extract("How long is it?", CNS_Q_AMOUNT, "5 minutes.", &a, &s) == DX_OK);
    CHECK(m.type == CNS_DV_NUMBER && s.type == CNS_DV_NUMBER);
    CHECK(cns_direct_compare("How long is it?", &m, &s) == CNS_DIRECT_UNKNOWN);
    arena_free(&a);
}

TEST(limits_and_hostile_text)
{
    arena a = arena_make(4096, 8 << 20);
    cns_direct d;
    const char *q = "What is the capital of Kenya?";
    /* the answer past the scanned prefix is not read */
    size_t big = DX_CNS_MAX_DIRECT_SCAN * 4;
    char *t = malloc(big + 64);
    CHECK(t);
    for (size_t i = 0; i < big; i++)
        t[i] = (i % 64 == 63) ? '\n' : '-';
    strcpy(t + big, "\nNairobi.");
    CHECK(cns_direct_extract(q, CNS_Q_WHAT, t, &a, &d) == DX_OK);
    CHECK(d.type == CNS_DV_NONE);
    /* one enormous sentence of words: bounded, no crash */
    for (size_t i = 0; i < big; i++)
        t[i] = (i % 7 == 6) ? ' ' : "Nairobi"[i % 7];
    t[big] = 0;
    CHECK(cns_direct_extract(q, CNS_Q_WHAT, t, &a, &d) == DX_OK);
    free(t);
    /* invalid UTF-8 is skipped; the span stays on whole characters */
    CHECK(cns_direct_extract(q, CNS_Q_WHAT, "\xff\xfe Nairobi \xc3", &a, &d) == DX_OK);
    CHECK(d.type == CNS_DV_ENTITY && !strcmp(d.value, "nairobi") && !strcmp(d.span, "Nairobi"));
    CHECK(cns_direct_extract("How hot?", CNS_Q_AMOUNT, "It is 40 \xc2\xb0\xc3", &a, &d) == DX_OK);
    /* a full arena is an error, and leaves no half answer */
    arena tiny = arena_make(16, 16);
    dx_status st = cns_direct_extract(q, CNS_Q_WHAT, "Nairobi is the capital.", &tiny, &d);
    CHECK(st == DX_ENOMEM && d.type == CNS_DV_NONE);
    arena_free(&tiny);
    arena_free(&a);
}

int main(void)
{
    RUN(classify_questions);
    RUN(entities_names_and_aliases);
    RUN(entities_in_other_languages);
    RUN(entities_after_a_rambling_lead);
    RUN(entities_plain_nouns_and_choices);
    RUN(numbers_units_and_words);
    RUN(numbers_in_calculations);
    RUN(dates);
    RUN(yes_no);
    RUN(no_answer);
    RUN(compare_kinds_and_unknown);
    RUN(limits_and_hostile_text);
    return test_summary();
}
