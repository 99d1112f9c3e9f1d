/*
 * jobs — the question runtime behind every front end of `drux serve`: each
 * question on a worker thread of its own, at most max_running at once (more
 * wait as queued, up to DX_HTTP_MAX_QUEUED; past that DX_EBUSY), its live
 * state in memory, its events in a followable stream, its progress and end
 * in the store. No HTTP here: the JSON API, the pages and the OpenAI
 * endpoint are thin adapters over these calls.
 *
 *     jobs_opts o = {.cfg = cfg, .db_path = "drux.db", .max_running = 2};
 *     jobs *j;
 *     if (jobs_open(&o, &j)) die(dx_errmsg());
 *     char id[DX_HTTP_MAX_ID + 1];
 *     if (jobs_question_start(j, "Why is the sky blue?", NULL, 0, id) == DX_EBUSY) ...
 *     json_t *q; jobs_question_wait(j, id, &q);      // the stored question, with its result
 *     jobs_close(j);                                 // interrupts what still runs
 *
 * A question's status is a question_status (store/db.h). The questions share
 * one local_registry, so a model is loaded once for the runtime's lifetime.
 * Every call is thread-safe.
 */
#ifndef DX_JOBS_H
#define DX_JOBS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/limits.h"
#include "core/status.h"
#include "council/config.h"
#include "council/local.h"
#include "jobs/stream.h"
#include "store/db.h"

typedef struct jobs jobs;

typedef struct jobs_opts {
    const council_config *cfg; /* the council; must outlive the runtime */
    const char *db_path;       /* the store (created when absent) */
    int max_running; /* jobs holding a slot at once; <= 0: 2, capped at DX_HTTP_MAX_RUNNING */
} jobs_opts;

/* Opens the store and the council's sentence encoder. DX_EIO when the store
 * can't be opened; the encoder's errors as they come. */
dx_status jobs_open(const jobs_opts *o, jobs **out);
/* Stops (as jobs_stop), waits for every worker to end and frees everything.
 * NULL is a no-op. */
void jobs_close(jobs *j);
/* Interrupts every question (stored as interrupted, re-runnable), wakes every
 * follower and waits until every worker thread has ended. New work is refused
 * with DX_ECANCELLED from now on. */
void jobs_stop(jobs *j);
/* Nonzero once jobs_stop began: a stop flag for loops that follow a stream. */
const atomic_int *jobs_stopping(jobs *j);

const council_config *jobs_council(jobs *j);
local_registry *jobs_registry(jobs *j);
/* The runtime's store (accounts live beside the questions: store/users.h). */
db *jobs_store(jobs *j);
/* The store's schema version. */
int jobs_schema_version(jobs *j);

/* A member's model as shown to people: a GGUF file path becomes its file
 * name without ".gguf"; a cache name or remote model id stays as it is. */
void jobs_model_name(const char *model, char *out, size_t cap);
/* msg with every absolute path ("/a/b/m.gguf", "~/x") cut to its last part:
 * messages shown to clients name files, never where they are. */
void jobs_scrub_paths(const char *msg, char *out, size_t cap);

/* ---- questions ---- */

/* Stores a question as queued and starts its worker; id gets its id.
 * members: names of the members to ask (n of them, asked in council order),
 * or NULL for the whole council. DX_EARG for an empty question or an unknown
 * member, DX_ELIMIT over DX_MAX_QUESTION_CHARS characters, DX_EBUSY when every slot and
 * queue place is taken, DX_ECANCELLED when stopping. */
dx_status jobs_question_start(jobs *j, const char *question, const char *const *members, size_t n,
                              char id[DX_HTTP_MAX_ID + 1]);
/* Who asks a question. owner > 0: a signed-in user (store/users.h), who
 * alone lists and changes it; others read it only with share, its share
 * token (at most 63 bytes). NULL or owner 0: anonymous. */
#define JOBS_MAX_KEYS 16 /* providers an asker may bring keys for */

typedef struct jobs_asker {
    long long owner;
    const char *share;
    /* the asker's own provider keys: the premium members whose provider is
     * key_provider[k] use key_value[k] instead of the server's key. Copied;
     * the copies are wiped when the question ends. */
    size_t n_keys;
    const char *key_provider[JOBS_MAX_KEYS];
    const char *key_value[JOBS_MAX_KEYS];
} jobs_asker;

/* jobs_question_start for who. */
dx_status jobs_question_start_as(jobs *j, const char *question, const char *const *members,
                                 size_t n, const jobs_asker *who, char id[DX_HTTP_MAX_ID + 1]);

/* A follow-up on question parent: the next turn of its thread, asked with
 * the thread's earlier questions and the council's answers to them as the
 * conversation before it (trimmed per member to its context). members NULL:
 * the parent's members. It belongs to the thread's owner (the store copies
 * the parent's owner and share token); who (NULL: anonymous) brings its own
 * provider keys as for start_as. DX_ENOTFOUND without the parent; DX_EARG
 * when the parent is still being answered or is not its thread's last turn,
 * or as start; DX_ELIMIT past DB_MAX_THREAD_TURNS turns. */
dx_status jobs_question_followup(jobs *j, const char *parent, const char *question,
                                 const char *const *members, size_t n, const jobs_asker *who,
                                 char id[DX_HTTP_MAX_ID + 1]);
/* A first question asked after earlier turns the caller gives (a /v1
 * conversation: its earlier user messages and the assistant's replies),
 * oldest first; stored as a thread of one. As start_as otherwise. */
dx_status jobs_question_start_turns(jobs *j, const char *question, const char *const *members,
                                    size_t n, const council_turn *turns, size_t n_turns,
                                    const jobs_asker *who, char id[DX_HTTP_MAX_ID + 1]);
/* The thread of question id (any of its turns): {"thread": first question's
 * id, "questions": [stored questions, first turn to last, live when running,
 * with texts]}. DX_ENOTFOUND. */
dx_status jobs_thread_json(jobs *j, const char *id, json_t **out);

/* Asks a stored question again (same text, same members; a follow-up after
 * the same earlier turns, as a thread of one) as a new question
 * nid. DX_ENOTFOUND when there is no question id; otherwise as start. */
dx_status jobs_question_rerun(jobs *j, const char *id, char nid[DX_HTTP_MAX_ID + 1]);
/* The same, the new question asked by who (NULL: anonymous). */
dx_status jobs_question_rerun_as(jobs *j, const char *id, const jobs_asker *who,
                                 char nid[DX_HTTP_MAX_ID + 1]);
/* The stored-question JSON (docs/api.md), live when it runs; new reference.
 * with_texts false leaves the members' texts out. DX_ENOTFOUND if absent. */
dx_status jobs_question_json(jobs *j, const char *id, bool with_texts, json_t **out);
/* Newest first, as db_question_list, with the live status of those running:
 * the anonymous questions (jobs_question_list) or one user's (owner > 0). */
dx_status jobs_question_list(jobs *j, const char *query, int limit, const char *before,
                             json_t **out);
dx_status jobs_question_list_of(jobs *j, long long owner, const char *query, int limit,
                                const char *before, json_t **out);
/* Deletes a question and the later turns of its thread, stopping each first
 * when it runs or waits: they leave the health counts at once. DX_ENOTFOUND
 * if absent. */
dx_status jobs_question_delete(jobs *j, const char *id);
/* Waits until a question ends (or the runtime stops: DX_ECANCELLED); *out
 * the stored question with its result. */
dx_status jobs_question_wait(jobs *j, const char *id, json_t **out);
/* Subscribes to a question's events: *state its state now (new reference)
 * and, while it runs, *ev its event stream (a reference: unref it) with *off
 * at the point that state was taken, so every later event is read once.
 * *ev is NULL once the question has ended (the state is the end). */
dx_status jobs_question_follow(jobs *j, const char *id, jobs_stream **ev, size_t *off,
                               json_t **state);

/* ---- slots for work outside the question workers (a /v1 completion) ---- */

/* Takes a slot, waiting as queued while all are held. DX_EBUSY when the
 * queue is full; DX_ECANCELLED when stopping. Give it back with slot_leave. */
dx_status jobs_slot_enter(jobs *j);
void jobs_slot_leave(jobs *j);
/* A thread of the caller's that jobs_stop must wait for (a streamed reply):
 * thread_enter before it starts, thread_leave as its last step. */
void jobs_thread_enter(jobs *j);
void jobs_thread_leave(jobs *j);
/* Runs fn(arg) on a new detached thread. Returns 0, or pthread_create's error number (then
 * fn does not run). */
int jobs_thread_spawn(void *(*fn)(void *), void *arg);

/* ---- several instances ---- */

/* The per-client rate limit shared by every instance of a shared store:
 * takes one request from client's bucket (per_min a minute, burst saved
 * up). 1: go on; 0: over the limit; -1: the store is not shared (the caller
 * keeps its own buckets). */
int jobs_rate_take(jobs *j, const char *client, int per_min, int burst);

/* ---- health ---- */

typedef struct jobs_counts {
    int running;     /* jobs holding a slot */
    int queued;      /* jobs admitted and waiting for one */
    int max_running; /* slots */
} jobs_counts;

void jobs_health(jobs *j, jobs_counts *out);

#endif
