/*
 * gen — text generation: a model, its tokenizer and chat format, a sampler,
 * and the rules for when to stop.
 *
 * This is where text meets the engine: gen turns a prompt (or a chat turn)
 * into token ids, runs them through a session, samples, and streams back
 * UTF-8 pieces, holding back bytes that might still become a stop string or
 * an incomplete character.
 *
 *     gen_model *gm;
 *     if (gen_model_open("smollm2.gguf", &gm)) die(dx_errmsg());
 *     gen_params p = gen_defaults();
 *     p.chat = true;
 *     gen_stats st;
 *     gen_generate(gm, &p, "What is the capital of France?", print_piece, NULL, &st);
 *     gen_model_close(gm);
 *
 * A gen_model may be used by several threads at once; each gen_generate
 * call has its own session. Generations of one gen_model decode together:
 * their token-by-token steps share forward passes (gen/batch.h), so N
 * concurrent answers read the weights about once per token instead of N
 * times, and each still gets exactly the tokens it would get alone.
 *
 * A gen_model keeps up to GEN_IDLE_SESSIONS finished sessions (their KV
 * caches cut back to their prompts) for as long as it is open: a generation
 * whose prompt starts like an earlier one (the same system prompt or
 * instructions, a conversation one turn longer) takes the session that
 * shares the longest start and prefills only the rest. Each idle session
 * holds the KV cache of a whole context in memory. The rest of the prompt is
 * then prefilled in other chunks than a fresh session would use, and the
 * engine's multi-token kernels round differently from its one-token ones
 * (engine/model.h): with a quantized model a reused session's logits can
 * differ in their last bits, and a near tie can go the other way (of 20
 * NQ-open questions, 3 answers of the default council changed words).
 */
#ifndef DX_GEN_H
#define DX_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "gen/batch.h"
#include "tok/chat.h"
#include "tok/tok.h"

typedef struct gen_model gen_model;

/* Finished sessions a gen_model keeps for reuse (see above). Three cover a
 * model that both answers as a council member and writes the answer (whose
 * instructions come in two variants, docs/consensus.md §9). */
#define GEN_IDLE_SESSIONS 3

/* Why a generation ended. */
typedef enum gen_stop {
    GEN_STOP_LENGTH,     /* max_tokens reached */
    GEN_STOP_EOG,        /* the model's end-of-generation token */
    GEN_STOP_STRING,     /* a stop string of the chat format */
    GEN_STOP_CONTEXT,    /* the context is full */
    GEN_STOP_CANCELLED,  /* the piece callback asked to stop */
    GEN_STOP_REPETITION, /* the text entered a loop (stop_loops) */
} gen_stop;

typedef struct gen_params {
    sampler_params sampling;
    int max_tokens;      /* generated tokens at most; <= 0: until the context is full */
    int n_ctx;           /* 0: min(model's context, 4096) */
    bool chat;           /* format the prompt as a user turn with the model's template */
    const char *system;  /* system prompt for chat mode, or NULL */
    bool default_system; /* with no system prompt, use the template's own default */
    bool solo;           /* never share decode steps with other generations (benchmarks) */
    bool stop_loops;     /* end on a repetition loop (gen_loop_check), stop GEN_STOP_REPETITION */
} gen_params;

typedef struct gen_stats {
    int prompt_tokens;
    int reused_tokens; /* of those, already in the KV cache of an earlier generation's session */
    int gen_tokens;
    double prefill_ms;  /* prompt processing, including the first token's logits */
    double decode_ms;   /* generating the rest */
    int batched_tokens; /* tokens decoded in a step shared with other generations */
    const char *stop;   /* "eog", "stop string", "length", "context", "cancelled", "repetition" */
    gen_stop stop_reason;
} gen_stats;

/* ---- repetition loops ----
 * A small model sometimes repeats itself until its budget runs out. With
 * gen_params.stop_loops a generation ends as soon as its text is in a loop:
 *  - a cycle of tokens: the last tokens are one block of p tokens (p at most
 *    GEN_LOOP_MAX_PERIOD) over and over, at least 3 times and covering at
 *    least GEN_LOOP_MIN_TOKENS tokens ("the the the ...", a sentence said
 *    three times in a row);
 *  - a repeated line: a line of at least GEN_LOOP_MIN_LINE characters
 *    (leading bullets, numbers and blanks aside, case folded) written for the
 *    third time anywhere in the text (a list that names one item three times).
 * Short lines (code's "}", table rules) never count. */
#define GEN_LOOP_MAX_PERIOD 128
#define GEN_LOOP_MIN_TOKENS 32
#define GEN_LOOP_MIN_LINE 16
#define GEN_LOOP_MAX_LINES 512

typedef struct gen_loop {
    uint64_t line_hash[GEN_LOOP_MAX_LINES]; /* distinct long lines seen so far */
    uint8_t line_count[GEN_LOOP_MAX_LINES];
    size_t n_lines;
    size_t line_start; /* offset of the line being written in the text */
} gen_loop;

/* Is the token sequence ids[0..n) in a token cycle at its end? Pure. */
bool gen_loop_tokens(const int32_t *ids, size_t n);
/* Feed the whole text so far (text[0..len), growing between calls); true
 * once a long line has been completed for the third time. Start from a
 * zeroed gen_loop. */
bool gen_loop_lines(gen_loop *lp, const char *text, size_t len);
const char *gen_stop_str(gen_stop s);

/* Called with each piece of output text (whole UTF-8 characters). Return
 * nonzero to stop generating (stop reason "cancelled"). */
typedef int (*gen_piece_fn)(void *ud, const char *piece, size_t len);

gen_params gen_defaults(void);

dx_status gen_model_open(const char *path, gen_model **out);
void gen_model_close(gen_model *gm);
eng_model *gen_model_engine(const gen_model *gm);
const chat_tmpl *gen_model_chat(const gen_model *gm);
/* Counters of the model's shared decode steps since open. Thread-safe. */
batch_stats gen_model_batch_stats(const gen_model *gm);

/* Build the token ids for a prompt as gen_generate would (for tests and
 * `drux run --show-prompt`). The caller frees *ids. */
dx_status gen_prompt_ids(const gen_model *gm, const gen_params *p, const char *prompt,
                         int32_t **ids, size_t *n);

/* The number of tokens gen_generate_chat would feed for this conversation
 * (the prompt only; add the answer's budget to see whether it fits).
 * Fails as gen_generate_chat would format or tokenize it. */
dx_status gen_chat_tokens(const gen_model *gm, const gen_params *p, const chat_msg *msgs, size_t n,
                          size_t *count);
/* The context in tokens a generation with p gets on this model: p->n_ctx,
 * or the model's own, at most 4096 (as eng_session_new picks it). */
int gen_context_size(const gen_model *gm, const gen_params *p);

/* Generate a continuation of prompt (or an answer to it in chat mode),
 * streaming pieces to cb. A prompt longer than the context is DX_ELIMIT. */
dx_status gen_generate(gen_model *gm, const gen_params *p, const char *prompt, gen_piece_fn cb,
                       void *ud, gen_stats *stats);

/* Like gen_generate for a whole conversation (system, user and assistant
 * turns) formatted with the model's chat template; p->chat and p->system
 * are not used. DX_EUNSUPPORTED for a template drux doesn't know. */
dx_status gen_generate_chat(gen_model *gm, const gen_params *p, const chat_msg *msgs, size_t n,
                            gen_piece_fn cb, void *ud, gen_stats *stats);

#endif
