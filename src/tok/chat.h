/*
 * chat — turns a conversation into the prompt text a model was trained on.
 *
 * A GGUF model carries its chat template (Jinja) in tokenizer.chat_template.
 * drux does not run Jinja: it recognises the template's family by markers
 * that only that family writes (as llama.cpp does for its built-in formats)
 * and formats the turns itself, byte for byte as llama.cpp would. A model
 * without a template (a base model) gets CHAT_NONE: a plain completion prompt
 * ("Question: ...\nAnswer:"); see docs/chat.md.
 *
 *     dx_str src = {0};
 *     gguf_get_str(g, "tokenizer.chat_template", &src);   // absent: stays empty
 *     chat_tmpl ct;
 *     chat_tmpl_detect(src, &ct);
 *     chat_msg m[] = {{CHAT_SYSTEM, "Be brief."}, {CHAT_USER, "Hi"}};
 *     dx_buf prompt = dx_buf_make(DX_MAX_PROMPT_BYTES);
 *     if (chat_format(&ct, m, 2, true, &prompt)) ...;
 *     // tokenize prompt.data with add_special and parse_special set;
 *     // stop at chat_stops(&ct) strings or tok_is_eog tokens.
 *     dx_buf_free(&prompt);
 *
 * Everything here is pure and thread-safe.
 */
#ifndef DX_TOK_CHAT_H
#define DX_TOK_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "core/str.h"

enum chat_family {
    CHAT_NONE = 0, /* no template: base model, completion-style prompt */
    CHAT_UNKNOWN,  /* a template drux does not recognise */
    CHAT_CHATML,   /* <|im_start|>role ... <|im_end|> (SmolLM2, Qwen2, ...) */
    CHAT_LLAMA3,   /* <|start_header_id|>role<|end_header_id|> ... <|eot_id|> */
    CHAT_GEMMA,    /* <start_of_turn>user|model ... <end_of_turn>; no system role */
    CHAT_PHI3,     /* <|user|> ... <|end|> */
    CHAT_ZEPHYR,   /* <|user|> ... <|endoftext|> */
    CHAT_LLAMA2,   /* [INST] ... [/INST] (Llama-2 and its variants) */
    CHAT_MISTRAL,  /* Mistral v1/v3/v3-tekken [INST] forms */
    CHAT_MISTRAL7, /* [SYSTEM_PROMPT] ... [INST] ... [/INST] */
    CHAT_FAMILY_COUNT
};

enum chat_role { CHAT_SYSTEM, CHAT_USER, CHAT_ASSISTANT };

typedef struct chat_msg {
    enum chat_role role;
    const char *content; /* NUL-terminated UTF-8 */
} chat_msg;

#define CHAT_DEFAULT_SYSTEM_MAX 1024

typedef struct chat_tmpl {
    enum chat_family family;
    /* variant switches, set by detection */
    bool llama2_sys, llama2_bos_inside, llama2_strip; /* CHAT_LLAMA2 */
    bool mistral_v1, mistral_tekken, mistral_trim;    /* CHAT_MISTRAL, CHAT_MISTRAL7 */
    /* A system prompt the template inserts when the conversation has none
     * (SmolLM2's "You are a helpful AI assistant named SmolLM..."), or "". */
    char default_system[CHAT_DEFAULT_SYSTEM_MAX];
} chat_tmpl;

/* Recognise the family of a Jinja template text (empty: CHAT_NONE). Never fails. */
void chat_tmpl_detect(dx_str tmpl, chat_tmpl *out);
/* A template of the given family with default variants and no default system. */
chat_tmpl chat_tmpl_of(enum chat_family f);
const char *chat_family_name(enum chat_family f);
/* Family by name ("chatml", "llama3", "gemma", "phi3", "zephyr", "llama2",
 * "mistral", "mistral-v7", "none"), or CHAT_UNKNOWN. */
enum chat_family chat_family_from_name(const char *name);

/* Append the prompt for n messages to out; with add_generation_prompt the
 * text ends where the assistant's reply starts. The text carries no BOS:
 * the tokenizer adds it (tok_encode with add_special). DX_EARG for a bad
 * role or NULL content, DX_EUNSUPPORTED for CHAT_UNKNOWN, DX_ELIMIT when out
 * would pass its max or n exceeds DX_MAX_CHAT_MESSAGES. */
dx_status chat_format(const chat_tmpl *ct, const chat_msg *msgs, size_t n,
                      bool add_generation_prompt, dx_buf *out);

/* Strings that end the assistant's turn for this family, NULL-terminated
 * (e.g. "<|im_end|>"). Generation stops at the first one produced; they are
 * usually single control tokens too (resolve with tok_find). For CHAT_NONE:
 * the blank line and the next "Question:" (see docs/chat.md). */
const char *const *chat_stops(const chat_tmpl *ct);

#endif
