/*
 * synth — the answer written from an analysis: prompts for the synthesizer
 * model, the extractive fallback, follow-up questions and the category.
 *
 *     dx_buf p = dx_buf_make(DX_MAX_PROMPT_BYTES);
 *     cns_prompt_synthesis(r, &p);          // what the synthesizer model is asked
 *
 * The public step is cns_synthesize (consensus.h). Internal to src/consensus
 * and its tests; see docs/consensus.md ("Synthesis").
 */
#ifndef DX_CNS_SYNTH_H
#define DX_CNS_SYNTH_H

#include "consensus/consensus.h"

/* The category list, in the order ties are broken; NULL-terminated. */
extern const char *const cns_categories[];

/* Keyword classifier over the question (counted 3x) and the usable answers.
 * Returns one of cns_categories ("General" when nothing matches). */
const char *cns_category_derive(const cns_result *r);

/* Prompts; each appended to b. */
dx_status cns_prompt_synthesis(const cns_result *r, dx_buf *b);
dx_status cns_prompt_followups(const cns_result *r, dx_buf *b);
dx_status cns_prompt_category(const cns_result *r, dx_buf *b);

#endif
