/*
 * fanout — ask every council member at once and wait for them all, but
 * never longer than each member's timeout.
 *
 *     static void show(const member_event *ev, void *user) {
 *         if (ev->kind == MEMBER_EV_TEXT) fwrite(ev->text, 1, ev->len, stdout);
 *     }
 *     fanout_opts o = {.on_event = show, .open_local = engine_member_open};
 *     member_result *res; size_t n;
 *     if (fanout_run(cfg, "Why is the sky blue?", &o, &res, &n) == DX_OK) {
 *         for (size_t i = 0; i < n; i++)
 *             printf("%s: %s\n", res[i].name, member_status_str(res[i].status));
 *         fanout_results_free(res, n);
 *     }
 *
 * Remote members stream together on one thread (remote.h); each local member
 * runs on a thread of its own through the member_ops its opener returns. The
 * calling thread watches the clock: a member still running at its deadline
 * is marked timed out and told to stop; setting *opts.cancel (from any
 * thread, or a signal handler) stops them all. A member's failure is
 * recorded in its result and never fails the call.
 */
#ifndef DX_COUNCIL_FANOUT_H
#define DX_COUNCIL_FANOUT_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/status.h"
#include "council/config.h"
#include "council/member.h"

typedef struct fanout_opts {
    member_event_fn on_event; /* NULL: no live events */
    void *user;
    /* Opens local members; NULL reports each local member failed with
     * "no local engine in this build". */
    member_open_fn open_local;
    void *local_user;
    /* Nonzero stops every member that has not finished (status cancelled). */
    const atomic_int *cancel;
    /* Ask only the member of this name (e.g. the synthesizer with its
     * prompt); NULL asks all. */
    const char *only;
    /* Replaces every member's system prompt; "" for none, NULL keeps the
     * config's. */
    const char *system_prompt;
    /* The thread's earlier turns, oldest first: each member gets them as the
     * conversation before the question, trimmed from the oldest turn to fit
     * its context window. NULL, 0: a first question. */
    const council_turn *history;
    size_t n_history;
} fanout_opts;

/* Ask cfg's members `question` and wait until each has a final status.
 * *out gets one result per member asked, in config order (free with
 * fanout_results_free). Fails only for a bad question (empty, over
 * DX_MAX_PROMPT_BYTES: user questions are bounded by DX_MAX_QUESTION_BYTES
 * where they come in), an unknown opts.only, or when threads/memory can't
 * be had. opts may be NULL. cfg must outlive the results (names point
 * into it). */
dx_status fanout_run(const council_config *cfg, const char *question, const fanout_opts *opts,
                     member_result **out, size_t *n);

void fanout_results_free(member_result *res, size_t n);

#endif
