/*
 * rules — every number that decides an analysis outcome, in one place.
 *
 * Each constant names the rule of docs/consensus.md it belongs to (section
 * number and name), so a change here is a change of the documented method
 * and the page must change with it. Internal to src/consensus.
 *
 *     if (sim >= CNS_LEX_AGREE) ...   // rule 6 of section 4: "agree"
 */
#ifndef DX_CNS_RULES_H
#define DX_CNS_RULES_H

/* ---- 2. Claims ---------------------------------------------------------------- */

/* §2 "direct answer": the lead claim of an answer of at most this many sentences (items, rows). */
#define CNS_DIRECT_MAX_CLAIMS 3
/* §2 "atomic claims": a sentence is split into at most this many claims (the rest stays in
 * its last part). */
#define CNS_MAX_ATOMS 8
/* §2 "restates the question": a claim carrying at least this share of the question's stems. */
#define CNS_RESTATE_SHARE 0.5
/* §2 "calculation": a claim with more than this many numbers (or "=") is a worked calculation. */
#define CNS_CALC_MIN_NUMBERS 4
/* §1 "refused": a refusal among the first this many sentences ... */
#define CNS_REFUSAL_LEAD_SENTENCES 2
/* §1 "refused": ... and at most this many other claims mark the answer refused. */
#define CNS_REFUSAL_MAX_CLAIMS 1

/* §1 "non-answer": the not-knowing phrase starts within this many bytes of the sentence. */
#define CNS_NONANSWER_MAX_START 16

/* ---- 3. Numbers --------------------------------------------------------------- */

/* §3.7 "year": a whole number in this range, without separators or unit, is a year. */
#define CNS_YEAR_MIN 1000
#define CNS_YEAR_MAX 2100
/* §3.7 "date": a whole number in this range next to a month name is a day, not a quantity. */
#define CNS_DAY_MIN 1
#define CNS_DAY_MAX 31
/* §3 table "same unit, no hedge": at most this relative difference. */
#define CNS_QTY_REL_SAME_UNIT 0.02
/* §3 table "different units or a hedge": within rounding, at most this relative difference ... */
#define CNS_QTY_REL_OTHER_UNIT 0.05
/* ... or this one when either side is hedged ("about") ... */
#define CNS_QTY_REL_HEDGED 0.10
/* ... and outside rounding, at most this one. */
#define CNS_QTY_REL_ANY 0.01
/* §3 table "temperatures": at most this many °C apart ... */
#define CNS_QTY_TEMP_MAX_C 1.0
/* ... or this many in different units (°C / °F), within the rounding of either as written with
 * its trailing zeros ("200 °C" / "400 °F"): one of the two is a rounded conversion. */
#define CNS_QTY_TEMP_OTHER_UNIT_MAX_C 5.0
/* ... and in different units a whole-degree value converted ("37 °C" = "98.6 °F") may be
 * set beside a figure rounded to a tenth ("36.8 °C"): they agree within half a degree C */
#define CNS_QTY_TEMP_CONVERTED_HALF_C 0.5
/* §3 table "a bare number and a quantity": compared as written, as in "same unit". */
#define CNS_QTY_REL_BARE CNS_QTY_REL_SAME_UNIT

/* ---- 4. Matching -------------------------------------------------------------- */

/* §4 "lexical similarity": weight of a word the question already has (1 otherwise). */
#define CNS_W_QUESTION_WORD 0.5
/* §4 rule 6 "agree": lexical similarity for "says the same". */
#define CNS_LEX_AGREE 0.50
/* §4 "frame similarity", rules 2, 4, 5: "talks about the same thing". */
#define CNS_LEX_FRAME 0.60
/* §4 "frame similarity": shared weight that anchors a frame (one real word). */
#define CNS_FRAME_ANCHOR 1.0
/* §4 rule 3 "conflict (names)": frame similarity for names in the same slot. */
#define CNS_LEX_FRAME_NAMES 0.75
/* §4 rule 5 "conflict (negation)": similarity for "says the same, but negated". */
#define CNS_LEX_NEGATION 0.60
/* §4 rule 5: a negation applies to this many content words after it, within its clause. */
#define CNS_NEGATION_SCOPE 3
/* §4 rules 3, 5, 6 (cosine): "says the same" with an embedder (all-MiniLM-L6-v2). */
#define CNS_EMB_AGREE 0.70
/* §4 rule 2 (cosine): "talks about the same thing" with an embedder. */
#define CNS_EMB_FRAME 0.62

/* §5 "yes/no checks": a check confirms when the model's probability of "yes" is at least this. */
#define CNS_CHECK_YES 0.5

/* ---- 6. Weights --------------------------------------------------------------- */

/* §6: each further voice of one model adds this much to the model's total weight. */
#define CNS_W_EXTRA_VOICE 0.5

/* ---- 7. The percentage -------------------------------------------------------- */

/* §7 table "direct answer": the count c_p of the direct-answer point (agreed or disputed). */
#define CNS_W_DIRECT 2.0
/* §7 table "unique": the count c_p of a one-member point ... */
#define CNS_W_UNIQUE 0.1
/* ... and for a question asking for several things, where each item only one member lists is
 * a difference in the answer, not a detail beside it. */
#define CNS_W_UNIQUE_LIST 0.25

/* §7: with an agreed point the percentage is at least this (so ≤ 5 % means nothing agreed). */
#define CNS_AGREED_MIN_PERCENT 6
/* §7 "nothing agreed": the percentage is then at most this, graded by how near in meaning the
 * answers came (so it stays below CNS_AGREED_MIN_PERCENT). */
#define CNS_NEAR_MAX_PERCENT 5
/* §7 "nothing agreed": two claims sharing at least this lexical similarity state one sentence
 * frame (with different values): their cosine measures the frame, so they count as not near. */
#define CNS_NEAR_MAX_LEX 0.30

/* ---- 8. The label ------------------------------------------------------------- */

/* §8 rule 3: at least this percentage (with an agreed point, no dispute) is "consensus". */
#define CNS_LABEL_CONSENSUS_MIN 70
/* §8 rule 5: at least this percentage, or a majority on every dispute, is "partial". */
#define CNS_LABEL_PARTIAL_MIN 35
/* §8 rule 5 "majority": a side holding more than this share of a dispute's stance weight. */
#define CNS_MAJORITY_SHARE 0.5

/* ---- Direct answers ----------------------------------------------------------- */

/* A plain noun phrase read from a sentence of at least this many words may only open a rambling
 * answer ("Atomic numbers are a very important concept ...") ... */
#define CNS_DIRECT_LEAD_MIN_WORDS 6
/* ... so the next this many sentences are read too; one that says more of the question's words
 * gives the answer. */
#define CNS_DIRECT_LOOKAHEAD 3

#endif
