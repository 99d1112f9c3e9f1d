/*
 * db — drux's store: the questions asked through the server, their members'
 * answers, the analysis and timings, in one SQLite file (WAL, the default)
 * or in a PostgreSQL database (a postgres:// URL) that several drux
 * instances share. The same functions run on both (store/sql.h).
 *
 * A question is one turn of a thread: a first question and its follow-ups
 * ("thread" is the first question's id, "turn" its place, from 1).
 *
 *     db *d;
 *     if (db_open("/home/me/.local/share/drux/drux.db", &d)) die(dx_errmsg());
 *     db_question_insert(d, "k3x9ab", "Why is the sky blue?", NULL, 0, now);
 *     ...                                  // db_member_save as members answer
 *     db_question_finish(d, &fin);         // result, members, timings: one transaction
 *     json_t *q; db_question_get(d, "k3x9ab", &q);   // the stored question JSON
 *     db_close(d);
 *
 * The schema is versioned (SQLite: PRAGMA user_version; PostgreSQL: the
 * table drux_schema) and migrated forward on open (docs/operations.md). Opening also marks every
 * question still "queued" or "running" as "interrupted": the process that ran it is gone. A
 * finished result is written in a single transaction, so a crash leaves either the whole result or
 * the question as it was (interrupted on restart).
 *
 * One db may be used from many threads: each call takes a connection of a
 * small pool (one on SQLite, where calls are serialised) for its length.
 */
#ifndef DX_STORE_DB_H
#define DX_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/limits.h"
#include "core/status.h"

typedef struct json_t json_t;
typedef struct db db;

#define DB_SCHEMA_VERSION 5

/* Connections a PostgreSQL store keeps open for its calls (besides a
 * listener's): $DRUX_DB_CONNECTIONS, default DB_CONNECTIONS, at most
 * DB_MAX_CONNECTIONS. A SQLite store has one. */
#define DB_CONNECTIONS 4
#define DB_MAX_CONNECTIONS 32

/* Opens (creating when absent) and migrates the store at path, a SQLite
 * file whose directory must exist or a postgres:// URL (libpq's form).
 * DX_EIO with the database's message when it can't be used (a password in
 * the URL is never shown), DX_EUNSUPPORTED when it was written by a newer
 * drux. */
dx_status db_open(const char *path, db **out);
void db_close(db *d); /* NULL is a no-op */

/* The schema version of an open store (== DB_SCHEMA_VERSION). */
int db_schema_version(db *d);

/* True when the store is PostgreSQL, which several drux instances may
 * share; false for a SQLite file (one process). */
bool db_is_shared(db *d);

/* A question's status: the one list of them, with one name each. */
typedef enum question_status {
    QUESTION_QUEUED,      /* admitted, waiting for a free slot */
    QUESTION_RUNNING,     /* holding a slot: members asked, analysis, synthesis */
    QUESTION_DONE,        /* answered and analysed */
    QUESTION_FAILED,      /* ended without a result (error says why) */
    QUESTION_INTERRUPTED, /* the server stopped before it finished; re-runnable */
    QUESTION_STATUS_COUNT
} question_status;

/* "queued", "running", "done", "failed", "interrupted". Never NULL. */
const char *question_status_str(question_status st);
/* The status named s; false (and *out untouched) for NULL or any other text. */
bool question_status_parse(const char *s, question_status *out);
/* Done, failed or interrupted: nothing more will happen to the question. */
bool question_status_final(question_status st);

/* A new question, status "queued". members: the names of the members asked
 * (n_members of them), or NULL for the whole council. */
dx_status db_question_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at);

/* The same, asked by a signed-in user (owner > 0, store/users.h): only that
 * user lists and changes it; others read it only with its share token.
 * owner 0: anonymous (share is ignored then). */
dx_status db_question_insert_as(db *d, const char *id, const char *question,
                                const char *const *members, size_t n_members,
                                const char *created_at, long long owner, const char *share);

/* Turns one thread may hold (a follow-up past it is DX_ELIMIT). */
#define DB_MAX_THREAD_TURNS 100

/* A new question, status "queued", continuing the thread of `parent`: turn
 * last + 1 of it. In one transaction the parent must be the thread's last
 * turn and finished (done, failed or interrupted), else DX_EARG with why;
 * DX_ENOTFOUND when there is no parent; DX_ELIMIT past DB_MAX_THREAD_TURNS.
 * It belongs to whoever the parent belongs to (its owner and share token):
 * a thread has one owner and one share link. thread and *turn get the new
 * question's place. */
dx_status db_followup_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at,
                             const char *parent, char thread[DX_HTTP_MAX_ID + 1], int *turn);

/* Where question id is: its thread (the id of the thread's first question),
 * its turn (1 = the first) and the thread's last turn. DX_ENOTFOUND. */
dx_status db_question_position(db *d, const char *id, char thread[DX_HTTP_MAX_ID + 1], int *turn,
                               int *last_turn);

/* Every turn of a thread, first to last: a JSON array of stored questions
 * (as db_question_get; with_texts as there). DX_ENOTFOUND when the thread
 * has no question. */
dx_status db_thread_get(db *d, const char *thread, bool with_texts, json_t **out);

/* Status of a question and why (NULL: no error). */
dx_status db_question_set_status(db *d, const char *id, question_status status, const char *error);

/* One member's state as stored. Strings are borrowed; error and text may be
 * NULL (none, ""). status is the member's status name ("running", "done"...). */
typedef struct db_member {
    const char *name, *model, *status, *error;
    const char *text;
    size_t text_len;
    long long latency_ms, tokens, ttft_ms;
    int context_turns;   /* earlier turns of its thread the member was given */
    int context_dropped; /* earlier turns left out to fit its context window */
} db_member;

/* One member's live state, saved as it goes (index: its place in the council). */
dx_status db_member_save(db *d, const char *id, int index, const db_member *m);

typedef struct db_finish {
    const char *id;
    question_status status; /* QUESTION_DONE or QUESTION_FAILED */
    const char *error;      /* NULL when done */
    const char *finished_at;
    const db_member *members;
    size_t n_members;
    const char *result; /* the analysis object (cns_to_json) as JSON text, NULL when failed */
    const char *label;  /* its label, NULL when none: kept beside it for lists */
    bool has_consensus; /* its consensus %, when it has one */
    int consensus;
    long long queued_ms, asking_ms, analyzing_ms, synthesizing_ms, total_ms;
} db_finish;

/* Writes the end of a question in one transaction: status, members,
 * analysis and timings. Either all of it is stored or none. DX_EARG for a
 * member without name or status (nothing stored). */
dx_status db_question_finish(db *d, const db_finish *f);

/* The stored question (contract in docs/api.md), new reference in *out;
 * DX_ENOTFOUND when there is no such id. with_texts false leaves members'
 * "text" out (lists). */
dx_status db_question_get(db *d, const char *id, bool with_texts, json_t **out);

/* Newest first: at most limit questions created before the question
 * `before` (NULL: from the newest), whose text contains query (NULL or "":
 * all), among the questions asked anonymously. *out is a JSON array of
 * stored questions without member texts and without "result" (a "label"
 * and "consensus" summary instead). */
dx_status db_question_list(db *d, const char *query, int limit, const char *before, json_t **out);
/* The same over one user's questions (owner > 0); owner 0 lists the
 * anonymous ones, which is what db_question_list does. */
dx_status db_question_list_of(db *d, long long owner, const char *query, int limit,
                              const char *before, json_t **out);

/* Removes a question, the later turns of its thread, and all that belongs
 * to them, in one statement; DX_ENOTFOUND if absent. */
dx_status db_question_delete(db *d, const char *id);

/* Member names read back from the store (a question's selection, a user's
 * default premium members): names[0..n) point into text, which owns them. */
typedef struct db_names {
    bool stored; /* a JSON array was stored; false: none (every member, no defaults) */
    size_t n;    /* the list's names, at most DX_MAX_MEMBERS */
    const char *names[DX_MAX_MEMBERS];
    char *text; /* malloc'd */
} db_names;
void db_names_free(db_names *n); /* frees text; a zeroed db_names is fine */

/* What a stored question was asked with, to ask it again (or to run it
 * where it was claimed). */
typedef struct db_source {
    char *question;   /* malloc'd */
    db_names members; /* the members it was asked of; .stored false: all */
    char thread[DX_HTTP_MAX_ID + 1];
    int turn;            /* its place in the thread, from 1 */
    char created_at[32]; /* ISO 8601, UTC */
} db_source;
void db_source_free(db_source *s); /* a zeroed db_source is fine */

/* The question text, member selection and place of a stored question:
 * DX_ENOTFOUND if absent, DX_EINTERNAL when its row has no place in a thread.
 * *out is zeroed first; free it with db_source_free whatever the result. */
dx_status db_question_source(db *d, const char *id, db_source *out);

/* One turn of a thread, as a later turn continues from it. */
typedef struct db_turn {
    char id[DX_HTTP_MAX_ID + 1];
    int turn;
    char *question; /* malloc'd: as the analysis read it, else as asked */
    char *answer;   /* malloc'd: the council's written answer; NULL when none */
} db_turn;

typedef struct db_thread {
    size_t n;
    db_turn turns[DB_MAX_THREAD_TURNS]; /* first to last */
} db_thread;
void db_thread_free(db_thread *t); /* a zeroed db_thread is fine */

/* Every turn of a thread, first to last: DX_ENOTFOUND when it has none.
 * *out is zeroed first; free it with db_thread_free whatever the result. */
dx_status db_thread_turns(db *d, const char *thread, db_thread *out);

/* ---- several instances on one store ----
 *
 * Every open store registers an instance (a row with a random id) that owns
 * the questions it inserts. An instance that is not heard from for a lease
 * is dead: another instance's heartbeat marks its queued and running
 * questions interrupted. On PostgreSQL, a question's events go to the store
 * too, so any instance can follow it live, and a notification
 * ("e ID": new events, "d ID": deleted, "q ID": released to the shared
 * queue) wakes the others' listeners. On a SQLite file (one process)
 * opening it interrupts every unfinished question, as before. All
 * thread-safe. */

/* How long an instance may go unheard before the others take it for dead
 * (the default; jobs may use another). */
#define DB_LEASE_MS 15000

/* This store's instance id (12 characters). */
const char *db_instance(db *d);

/* Says this instance is alive (capacity: the questions it admits, running
 * and queued), and marks interrupted every queued or running question whose
 * instance has not done so within lease_ms (each gets an "error" event
 * {"code": "interrupted", ...} and an "end" event). *reaped (may be NULL)
 * gets how many. */
dx_status db_heartbeat(db *d, int capacity, long long lease_ms, int *reaped);

/* Questions queued or running in the whole store, and the capacity of the
 * instances alive within lease_ms (the global queue bound). */
dx_status db_load(db *d, long long lease_ms, int *active, int *capacity);

/* The shared work queue. A question is inserted as its instance's own
 * (it runs there, or is interrupted when that instance dies). Released, it
 * is nobody's until an instance with a free slot claims it, the oldest
 * first; a released question outlives the instance that released it. */

/* Makes queued question id, inserted by this instance, claimable by any
 * instance, and notifies "q ID". DX_ENOTFOUND when it is not a queued
 * question of this instance (deleted meanwhile). */
dx_status db_question_release(db *d, const char *id);

/* The earlier turns a question was asked after, when its asker gave them
 * (not its thread's): JSON text [[question, answer], ...], stored so that
 * any instance can run it. DX_ENOTFOUND without the question. */
dx_status db_question_context_set(db *d, const char *id, const char *turns_json);
/* Those turns as stored: *turns_json malloc'd, NULL when there are none.
 * DX_ENOTFOUND without the question. */
dx_status db_question_context(db *d, const char *id, char **turns_json);

/* Claims the oldest released question for this instance: *got true and id
 * set when there was one (it stays queued, now this instance's). Two
 * instances never claim the same question. */
dx_status db_question_claim(db *d, char id[DX_HTTP_MAX_ID + 1], bool *got);

/* Appends event number seq (1, 2, ...) of question id: name and its JSON
 * text (NULL for "end", which ends the stream), and notifies "e ID". */
dx_status db_event_add(db *d, const char *id, long long seq, const char *name, const char *data);

/* As db_event_add, but without waiting: the event is queued and a writer
 * thread stores queued events in order, many in one statement (PostgreSQL;
 * on SQLite it is db_event_add). Events of a question deleted meanwhile are
 * dropped. Waits only when DB_EVENT_QUEUE_BYTES are queued. */
#define DB_EVENT_QUEUE_BYTES (64u << 20)
dx_status db_event_post(db *d, const char *id, long long seq, const char *name, const char *data);

/* Calls fn for each event of id after after_seq, in order. */
typedef void (*db_event_fn)(void *user, long long seq, const char *name, const char *data,
                            size_t len);
dx_status db_events_since(db *d, const char *id, long long after_seq, db_event_fn fn, void *user);

/* Tells the other instances that question id was deleted ("d ID"). A no-op
 * on SQLite. */
dx_status db_notify_deleted(db *d, const char *id);

/* Takes one request from client's token bucket: per_min a minute, at most
 * burst saved up. *ok false when the bucket is empty. Shared by every
 * instance of the store. */
dx_status db_rate_take(db *d, const char *client, int per_min, int burst, bool *ok);

/* A listener: its own connection, woken by the notifications above.
 * PostgreSQL only (DX_EUNSUPPORTED on SQLite). One thread's. */
typedef struct db_listener db_listener;
dx_status db_listener_open(db *d, db_listener **out);
/* Waits up to timeout_ms: *got true with kind 'e' (new events), 'd'
 * (deleted) or 'q' (released to the queue) and the question id when a
 * notification came. DX_EIO when the connection is lost and can't
 * be reopened yet. */
dx_status db_listener_wait(db_listener *l, int timeout_ms, char *kind, char *id, size_t id_cap,
                           bool *got);
void db_listener_close(db_listener *l); /* NULL is a no-op */

#endif
