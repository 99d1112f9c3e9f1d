/*
 * consensus — how much a council's answers agree, and one answer built on it.
 *
 * Two public steps. cns_analyze is pure analysis: it reads the answers and
 * writes the analysis object; it never writes prose. cns_synthesize then
 * adds what is written from that analysis: the category, and (when asked)
 * the answer and three follow-up questions. ask_run sequences the two.
 *
 * The answers are split into claims (sentences, list items, table rows),
 * matched across members by meaning (an embedding provider when one is given,
 * a stemmed lexical method otherwise), checked for conflicts (numbers, names,
 * yes/no, negation), and summed up in one analysis object: a consensus
 * percentage, agreed / disputed / unique points and a label. The method and
 * the exact formula are in docs/consensus.md; the JSON schema in docs/api.md.
 *
 *     arena a = arena_make(64 << 10, 64 << 20);
 *     cns_input in;
 *     if (cns_input_parse(json, len, &a, &in)) { ... dx_errmsg() ... }
 *     cns_result *r;
 *     if (cns_analyze(&in, NULL, &a, &r) == DX_OK) {               // lexical matching
 *         cns_synth_options so = {.answer = true};                 // no model: extractive
 *         if (cns_synthesize(r, &so, &a) == DX_OK) {
 *             char *s = cns_to_json_string(r, true);               // caller frees
 *             ...
 *         }
 *     }
 *     arena_free(&a);
 *
 * Everything a result points to lives in the arena passed to cns_analyze.
 * Not thread-safe per arena; separate arenas may be used from separate threads.
 */
#ifndef DX_CONSENSUS_H
#define DX_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/str.h"

typedef struct json_t json_t;

typedef enum cns_status {
    CNS_DONE,
    CNS_FAILED,
    CNS_TIMEOUT,
    CNS_CANCELLED,
    CNS_REFUSED,
} cns_status;

/* One council member's answer. Strings are NUL-terminated; error may be NULL. */
typedef struct cns_member {
    const char *name;
    const char *model;
    cns_status status;
    const char *error;
    const char *text;
    long long latency_ms, tokens, ttft_ms; /* 0 when unknown */
    bool premium;    /* a paid provider's model; the analysis weighs it like any other */
    double cost_usd; /* estimated cost of the answer; < 0 when unknown */
    /* set by cns_analyze: */
    bool usable;   /* done, not a refusal, at least one claim */
    double weight; /* independent weight (voices of one model share) */
    int claims;    /* claims taken from the answer */
} cns_member;

typedef struct cns_input {
    const char *question;
    cns_member *members;
    size_t n_members;
} cns_input;

typedef enum cns_label {
    CNS_LABEL_CONSENSUS,
    CNS_LABEL_PARTIAL,
    CNS_LABEL_DISAGREE,
    CNS_LABEL_SINGLE_VOICE,
    CNS_LABEL_NO_ANSWER,
    CNS_LABEL_NO_COMMON_GROUND, /* usable answers that neither share nor contradict anything */
} cns_label;

/* A supporter's own words: a span found verbatim in that member's text. */
typedef struct cns_evidence {
    const char *member;
    const char *text;
} cns_evidence;

typedef struct cns_agreed {
    const char *text;
    const char **members;
    cns_evidence *evidence; /* one per member, in the same order */
    size_t n_members;
    double support; /* share of usable weight, 0..1 */
    bool direct;    /* the point is the direct answer (counts CNS_W_DIRECT in the percentage) */
    double check_p; /* probability of the graded yes/no check that made or kept it; -1: none */
} cns_agreed;

typedef struct cns_stance {
    const char *member;
    const char *text; /* the member's own words, verbatim from its text */
    int position;     /* stances with the same position say the same thing */
} cns_stance;

typedef struct cns_disputed {
    const char *text;
    cns_stance *stances;
    size_t n_stances;
    bool direct; /* the stances are the members' direct answers */
} cns_disputed;

typedef struct cns_unique {
    const char *text;
    const char *member;
} cns_unique;

/* A member's direct answer to a question that asks for one thing. */
typedef struct cns_direct_answer {
    const char *member;
    const char *value; /* normalised ("42195 m", "yes", "william shakespeare") */
    const char *text;  /* the member's own words that state it (verbatim) */
    int group;         /* members with the same group gave the same answer (0 = the most held) */
} cns_direct_answer;

typedef struct cns_shared_model {
    const char *model;
    const char **members;
    size_t n_members;
} cns_shared_model;

typedef struct cns_analysis {
    cns_label label;
    int consensus;        /* 0..100, or -1 for null (fewer than two usable answers) */
    double nearness;      /* how near in meaning the members' answers came, 0..1 (section 7) */
    double unique_weight; /* what one unique point counts in the percentage (section 7) */
    cns_agreed *agreed;
    size_t n_agreed;
    cns_disputed *disputed;
    size_t n_disputed;
    cns_unique *unique;
    size_t n_unique;
    cns_shared_model *shared;
    size_t n_shared;
    int usable;
    const char *direct_kind;   /* what the question asks for ("who", "how many", ...); NULL: open */
    cns_direct_answer *direct; /* usable members with a direct answer */
    size_t n_direct;
    const char *method;                 /* "lexical" or "embedding" */
    int checks_asked, checks_confirmed; /* optional support checks */
} cns_analysis;

/* What r->answer is. */
typedef enum cns_answer_kind {
    CNS_ANSWER_NONE,         /* no answer written (analysis only) */
    CNS_ANSWER_SYNTHESIZED,  /* written by the synthesizer and passed the check */
    CNS_ANSWER_EXTRACTIVE,   /* built from the agreed and disputed points */
    CNS_ANSWER_SINGLE_VOICE, /* the one usable answer, exactly as its member wrote it */
    /* the strongest member's answer exactly as it wrote it, each disputed
     * point flagged below it (cns_synth_options.strongest) */
    CNS_ANSWER_STRONGEST
} cns_answer_kind;

typedef struct cns_result {
    const char *question;
    const char *category;        /* NULL until cns_synthesize */
    const char *category_source; /* "model" or "derived"; NULL until cns_synthesize */
    cns_member *members;
    size_t n_members;
    cns_analysis analysis;
    const char *answer;        /* NULL without synthesis */
    const char *answer_source; /* "model", "extractive" or NULL */
    cns_answer_kind answer_kind;
    const char *answer_check;  /* why a written answer was replaced (kind extractive), or NULL */
    const char *answer_member; /* whose answer it is (single_voice, strongest), or NULL */
    const char *followups[3];
    size_t n_followups;
    const char *followups_source; /* "model", "derived" or NULL */
} cns_result;

/* Text -> L2-normalised vector of `dim` floats written to out. Seam for the
 * engine's sentence encoder; must be callable many times. */
typedef dx_status (*cns_embed_fn)(void *user, const char *text, float *out, size_t dim);
/* n texts -> n such vectors at out[i * dim]; the same vectors as n cns_embed_fn
 * calls, faster (an encoder reads its weights once per batch). */
typedef dx_status (*cns_embed_many_fn)(void *user, size_t n, const char *const *texts, float *out,
                                       size_t dim);

/* Prompt -> completion appended to out (bounded by out->max). Seam for a
 * council model: the synthesizer, or the member that answers yes/no checks. */
typedef dx_status (*cns_generate_fn)(void *user, const char *prompt, dx_buf *out);

/* Prompt -> the model's probability (0..1) that its reply opens with "yes"
 * rather than "no", read from its next-token logits. Seam for graded yes/no
 * checks (docs/consensus.md, section 5). */
typedef dx_status (*cns_yesno_fn)(void *user, const char *prompt, double *p_yes);

/* Options of the analysis. */
typedef struct cns_options {
    cns_embed_fn embed;           /* NULL: lexical matching */
    cns_embed_many_fn embed_many; /* optional with embed: claims in batches (same user) */
    void *embed_user;
    size_t embed_dim;
    int embed_threads;     /* > 1: embed calls from that many threads at once (embed thread-safe) */
    cns_generate_fn check; /* answers yes/no support checks; NULL: none asked */
    void *check_user;
    cns_yesno_fn yesno; /* graded yes/no checks; used instead of check when set */
    void *yesno_user;
    int support_checks; /* max yes/no "is this supported" checks (0 = off) */
} cns_options;

/* A piece of text as a model writes it. */
typedef void (*cns_piece_fn)(void *user, const char *text, size_t len);

/* A piece of a completion as the model writes it; returns true when the
 * completion is complete and the model should stop writing. */
typedef bool (*cns_reply_fn)(void *user, const char *text, size_t len);

/* Like cns_generate_fn, and calls piece(piece_user, ...) with each piece of
 * the completion as it is generated; when piece returns true the generation
 * ends there (what was written so far is the completion). */
typedef dx_status (*cns_stream_fn)(void *user, const char *prompt, cns_reply_fn piece,
                                   void *piece_user, dx_buf *out);

/* Options of the synthesis. */
typedef struct cns_synth_options {
    cns_generate_fn generate; /* NULL: derived category, extractive answer, derived follow-ups */
    void *generate_user;
    /* The same model, streaming (optional): used for the answer when set, so
     * on_answer sees it being written. */
    cns_stream_fn stream;
    /* The answer's text as it is written (NULL: none). Pieces of a written
     * answer arrive as the model writes them; an answer that is not written
     * token by token (extractive, single voice) arrives as one piece. The
     * final r->answer is authoritative: a written answer that fails the check
     * is replaced (r->answer_kind says so), and so may differ from the pieces. */
    cns_piece_fn on_answer;
    void *on_answer_user;
    bool answer; /* also write the answer and follow-ups (else only the category) */
    /* The name of the member that answers best on its own (measured, e.g. by
     * drux eval), or NULL. When it answered and the members agree on nothing
     * (labels disagree, no_common_ground) or agree on the direct answer with
     * nothing disputed (consensus), the answer is its text as written with
     * every disputed point flagged: a writer could only blend the sides or
     * restate the agreed answer (docs/consensus.md, section 9). */
    const char *strongest;
    /* The model that writes the follow-ups where the writer is not asked for
     * the answer (single voice, the strongest member's answer), or NULL: the
     * writer then. The strongest member wrote better ones than a smaller writer
     * (docs/consensus.md, "Follow-ups"). */
    cns_generate_fn followups;
    void *followups_user;
    /* The sentence encoder (optional): a follow-up that means the question
     * again (cosine >= CNS_FOLLOWUP_RESTATED) is dropped, one close to it
     * (>= CNS_FOLLOWUP_ON_TOPIC) is on topic. */
    cns_embed_fn embed;
    void *embed_user;
    size_t embed_dim;
} cns_synth_options;

/* A follow-up this close to the question by meaning asks it again; one at
 * least CNS_FOLLOWUP_ON_TOPIC close is on topic though it shares no word
 * (measured on tests/data/followups.jsonl: docs/consensus.md, "Follow-ups"). */
#define CNS_FOLLOWUP_RESTATED 0.87
#define CNS_FOLLOWUP_ON_TOPIC 0.35

/* Parses {"question":..., "answers":[{"model":..., "text":..., "name"?,
 * "status"?, "error"?, ...}]} into in (strings in a). DX_EFORMAT / DX_ELIMIT
 * with a one-line message on bad input; never crashes. */
dx_status cns_input_parse(const char *json, size_t len, arena *a, cns_input *in);

/* The analysis only (no category, answer or follow-ups: those are
 * cns_synthesize's); opt may be NULL (lexical, no checks). in->members are
 * copied; *out and all it points to live in a. Fails only on DX_ENOMEM
 * (arena cap), DX_ELIMIT (more than DX_MAX_MEMBERS answers), DX_EARG
 * (embed_dim outside 1..DX_CNS_MAX_EMBED_DIM) or the error of opt->embed(_many). A
 * failing opt->check is not an error: the point keeps its support.
 * Reentrant: no global state. */
dx_status cns_analyze(const cns_input *in, const cns_options *opt, arena *a, cns_result **out);

/* The invariants every analysis holds (docs/consensus.md, "Invariants"):
 * NULL when r keeps them all, else a fixed sentence naming the first broken
 * one. Callers check before showing a result: one that breaks an invariant
 * is a bug, never displayed. Thread-safe; reads r only. */
const char *cns_check(const cns_result *r);

/* What is written from an analysis: r->category (the model's when
 * opt->generate replies with a listed one, else derived), and with
 * opt->answer also r->answer and r->followups. The answer and the follow-ups
 * come from one generation; the answer is checked (docs/consensus.md,
 * "Synthesis") and replaced by the extractive one when it fails; a single
 * voice is shown as written. opt may be NULL (derived category only). A
 * failing model is not an error: it falls back, and r->answer_kind and the
 * *_source fields say so. Fails only on DX_ENOMEM. Strings live in a. */
dx_status cns_synthesize(cns_result *r, const cns_synth_options *opt, arena *a);

/* The result as the JSON object of docs/api.md. New reference; NULL on OOM. */
json_t *cns_to_json(const cns_result *r);
/* Same, serialised (pretty when indent). Caller frees; NULL on OOM. */
char *cns_to_json_string(const cns_result *r, bool indent);

/* Human-readable report of a result appended to b (DX_ELIMIT past b->max). */
dx_status cns_to_text(const cns_result *r, dx_buf *b);

/* Fixed names as in the JSON ("consensus", "done", ...). Never NULL. */
const char *cns_label_str(cns_label l);
/* "synthesized", "extractive", "single_voice", "strongest", or NULL for
 * CNS_ANSWER_NONE. */
const char *cns_answer_kind_str(cns_answer_kind k);
const char *cns_status_str(cns_status s);

#endif
