/*
 * db — drux's store: the questions asked through the server, their members'
 * answers, the analysis and timings, in one SQLite file (WAL, the default)
 * or in a PostgreSQL database (a postgres:// URL) that several drux
 * instances share. The same functions run on both (store/sql.h).
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
 * One db may be used from many threads: calls are serialised by a mutex.
 */
#ifndef DX_STORE_DB_H
#define DX_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct json_t json_t;
typedef struct db db;

#define DB_SCHEMA_VERSION 1

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

/* Status of a question and why (NULL: no error). */
dx_status db_question_set_status(db *d, const char *id, question_status status, const char *error);

/* One member's state as stored. Strings are borrowed; error and text may be
 * NULL (none, ""). status is the member's status name ("running", "done"...). */
typedef struct db_member {
    const char *name, *model, *status, *error;
    const char *text;
    size_t text_len;
    long long latency_ms, tokens, ttft_ms;
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
 * all). *out is a JSON array of stored questions without member texts and
 * without "result" (a "label" and "consensus" summary instead). */
dx_status db_question_list(db *d, const char *query, int limit, const char *before, json_t **out);

/* Removes a question and all that belongs to it; DX_ENOTFOUND if absent. */
dx_status db_question_delete(db *d, const char *id);

/* The question text and member selection of a stored question (to re-run
 * it). *question is malloc'd; *members a new reference or NULL. */
dx_status db_question_source(db *d, const char *id, char **question, json_t **members);

#endif
