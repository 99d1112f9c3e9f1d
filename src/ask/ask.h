/*
 * ask — drux's main job: a question goes to the council, the answers are
 * analysed, and one answer is written from what they agree on.
 *
 *     ask_opts o = {.cfg = cfg, .reg = reg, .synthesis = true, .on_event = show, .user = ui};
 *     arena a = arena_make(64 << 10, 64 << 20);
 *     cns_result *r;
 *     if (ask_run("Why is the sky blue?", &o, &a, &r) == DX_OK)
 *         puts(cns_to_json_string(r, true));   // the one analysis object
 *     arena_free(&a);
 *
 * Events arrive while members answer (their status and text) and between
 * the phases, so a terminal or a web page can show progress live; the
 * result is the single object everything shown afterwards comes from.
 */
#ifndef DX_ASK_H
#define DX_ASK_H

#include <stdatomic.h>
#include <stdbool.h>

#include "consensus/consensus.h"
#include "core/arena.h"
#include "council/config.h"
#include "council/local.h"
#include "council/member.h"
#include "embed/embed.h"

typedef enum ask_phase { ASK_ASKING, ASK_ANALYZING, ASK_SYNTHESIZING, ASK_DONE } ask_phase;

typedef struct ask_event {
    bool is_member; /* a member event (below) or a phase change */
    const member_event *member;
    ask_phase phase;
    /* ASK_SYNTHESIZING: the analysis (no answer yet); ASK_DONE: the result.
     * NULL for the other phases; valid during the call only. */
    const cns_result *result;
} ask_event;

typedef void (*ask_event_fn)(const ask_event *ev, void *user);

/* A piece of the answer as it is written (see cns_synth_options.on_answer:
 * the result's answer is authoritative, r->answer_check says when the pieces
 * were replaced). Called on the asking thread, in order. */
typedef void (*ask_answer_fn)(const char *piece, size_t len, void *user);

/* The system prompt council members get when the config sets none. */
extern const char ask_default_system_prompt[];

typedef struct ask_opts {
    const council_config *cfg;
    local_registry *reg;   /* shared loaded models; required for local members */
    ask_event_fn on_event; /* NULL: none */
    void *user;
    ask_answer_fn on_answer;     /* the answer as it is written, with user; NULL: none */
    const atomic_int *cancel;    /* nonzero stops the members still answering */
    bool synthesis;              /* write the answer, follow-ups and category */
    const char *only;            /* ask one member of this name; NULL: all */
    const embed_model *embedder; /* sentence encoder for matching claims; NULL: lexical */
    /* A follow-up: the thread's earlier turns, oldest first, which every
     * member answers after (trimmed to its context, fanout_opts.history).
     * The analysis and the answer are about the new question only. */
    const council_turn *history;
    size_t n_history;
} ask_opts;

/* Ask, analyse, synthesise. *out lives in a. Fails for a bad question
 * (empty, over DX_MAX_QUESTION_BYTES) or out of memory; members failing is
 * not a failure: it shows in the result (label no_answer when none answers). */
dx_status ask_run(const char *question, const ask_opts *o, arena *a, cns_result **out);

/* Open the sentence encoder that matches claims by meaning: cfg->embedder (a
 * cache name or path) when the config names one, else the cached default
 * (EMBED_DEFAULT_MODEL) when it has been pulled. *out is NULL (lexical
 * matching) when the config says "none" / "off", or names none and the
 * default is not cached; cfg may be NULL. Fails when a named one cannot open. */
dx_status ask_open_embedder(const council_config *cfg, embed_model **out);

/* Sets co's embedding seam to em (nothing when em is NULL). */
void ask_match_options(const embed_model *em, cns_options *co);

/* The member that writes the synthesis: the config's synthesizer, else the
 * local member with a chat template and the most parameters, else the first remote member;
 * NULL when none can (the answer is then extractive). */
const member_config *ask_synthesizer(const ask_opts *o);

#endif
