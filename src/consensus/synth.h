/*
 * synth — the answer written from an analysis: prompts for the synthesizer
 * model, the extractive fallback, follow-up questions and the category.
 *
 *     cns_synthesize(r, opt, &arena);   // fills r->answer, r->followups
 *     r->category = cns_category_derive(question, answers...);
 *
 * Internal to src/consensus; see docs/consensus.md ("Synthesis").
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
dx_status cns_prompt_support(const char *claim, const char *answer, dx_buf *b);

/* Category (model when opt->generate answers with a listed one, else
 * derived); with opt->synthesis also answer and follow-ups (model, else
 * extractive / derived). Model failures fall back, never fail the call. */
dx_status cns_synthesize(cns_result *r, const cns_options *opt, arena *a);

#endif
