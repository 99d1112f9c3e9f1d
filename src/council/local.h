/*
 * local — council members that drux runs itself from GGUF files.
 *
 * local_open is a member_open_fn for fanout_opts.open_local. Loaded models
 * are kept in a registry, so members that use the same file (sampling
 * voices of one model) share one mmap'd copy; each answer gets its own
 * session. Voices of one model decode together (one forward pass per token
 * for all of them, gen/batch.h); sessions of different models take turns on
 * the engine's thread pool, one decode step at a time.
 *
 *     local_registry *reg = local_registry_new();
 *     fanout_opts o = {.open_local = local_open, .local_user = reg};
 *     fanout_run(cfg, question, &o, &results, &n);
 *     local_registry_free(reg);   // after every run that used it
 */
#ifndef DX_COUNCIL_LOCAL_H
#define DX_COUNCIL_LOCAL_H

#include "council/member.h"
#include "gen/gen.h"

typedef struct local_registry local_registry;

local_registry *local_registry_new(void); /* NULL on out of memory */
void local_registry_free(local_registry *r);

/* Open (or reuse) a model by cache name or path. The registry owns it and
 * frees it in local_registry_free. Thread-safe. */
dx_status local_registry_get(local_registry *r, const char *model, gen_model **out);

/* member_open_fn: user is a local_registry. */
dx_status local_open(const member_config *mc, void *user, const member_ops **ops, void **impl);

/* Run one prompt on a model outside the fan-out (the synthesizer, the
 * category tagger): greedy unless params say otherwise; the answer is
 * appended to out. */
dx_status local_complete(local_registry *r, const char *model, const gen_params *p,
                         const char *prompt, dx_buf *out);

/* Like local_complete, and piece(piece_user, text, len) is called with each
 * piece as it is generated (whole UTF-8 characters); piece may be NULL.
 * *stop, when not NULL, gets why the generation ended. */
dx_status local_stream(local_registry *r, const char *model, const gen_params *p,
                       const char *prompt, void (*piece)(void *, const char *, size_t),
                       void *piece_user, dx_buf *out, gen_stop *stop);

#endif
