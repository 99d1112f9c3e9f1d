/*
 * sql — the store's thin seam over its two databases: SQLite (the embedded
 * default, a file path) and PostgreSQL through libpq (a postgres:// URL).
 * Each store function is written once against this interface; the SQL it
 * passes is portable (docs/operations.md, "The store's SQL").
 *
 *     sql *c;
 *     if (sql_open("postgres://drux@db/drux", &c)) die(dx_errmsg());
 *     sql_stmt *s;
 *     dx_status st = sql_prep(c, &s, "SELECT id, question FROM questions WHERE status = ?",
 *                             "t", "running");
 *     bool row;
 *     while (!st && !(st = sql_step(s, &row)) && row)
 *         printf("%s %s\n", sql_text(s, 0), sql_text(s, 1));
 *     sql_finalize(s);
 *     sql_close(c);
 *
 * Placeholders are `?` or `?N` (1-based; the same N may appear twice); the
 * PostgreSQL side rewrites them to $N. Migrations (sql_exec_ddl) are written
 * with SQLite's types (INTEGER, TEXT, BLOB, REAL and `INTEGER PRIMARY KEY
 * AUTOINCREMENT`); PostgreSQL gets BIGINT, TEXT, BYTEA, DOUBLE PRECISION and
 * BIGSERIAL PRIMARY KEY for them, so an INTEGER is 64 bits on both.
 *
 * A connection is one thread's at a time (the store's mutex); a statement
 * belongs to its connection. Failures record a message (dx_fail) and return
 * a dx_status; sql_error() says which kind, for decisions.
 */
#ifndef DX_STORE_SQL_H
#define DX_STORE_SQL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct sql sql;
typedef struct sql_stmt sql_stmt;

typedef enum sql_kind { SQL_SQLITE, SQL_POSTGRES } sql_kind;

/* What went wrong with the last failed call on a connection. */
typedef enum sql_error {
    SQL_ERR_NONE,
    SQL_ERR_CONSTRAINT, /* unique, foreign key, not null, check: DX_EARG */
    SQL_ERR_BUSY,       /* locked, serialization failure, deadlock: DX_EBUSY */
    SQL_ERR_CONNECTION, /* the server went away (PostgreSQL): DX_EIO */
    SQL_ERR_OTHER,      /* anything else: DX_EIO */
} sql_error;

/* True when target names a PostgreSQL database (postgres:// or
 * postgresql://, or a libpq "key=value" string with dbname= or host=). */
bool sql_target_is_postgres(const char *target);

/* target with any password replaced by "***", for messages and logs (a URL's
 * user:password@ and a password= parameter, in URL or key=value form).
 * Always NUL-terminates out (cap > 0); long targets are cut. */
void sql_target_redact(const char *target, char *out, size_t cap);

/* Opens a SQLite file (created when absent; its directory must exist) or
 * connects to PostgreSQL. DX_EIO with the database's message (password
 * redacted). */
dx_status sql_open(const char *target, sql **out);
void sql_close(sql *c); /* NULL is a no-op */
sql_kind sql_kind_of(sql *c);
/* The kind of the last failure on c (SQL_ERR_NONE after a success). */
sql_error sql_error_of(sql *c);

/* Runs statements without parameters (several, separated by ';'). */
dx_status sql_exec(sql *c, const char *text);
/* As sql_exec, for schema text written with SQLite's types (see above). */
dx_status sql_exec_ddl(sql *c, const char *text);

/* Transactions. begin takes the write lock at once on SQLite (BEGIN
 * IMMEDIATE). rollback never fails (it is the cleanup path). */
dx_status sql_begin(sql *c);
dx_status sql_commit(sql *c);
void sql_rollback(sql *c);

/* Prepares text and binds parameters from types, one letter each, in order:
 * 't' const char * (NULL binds NULL), 'i' long long, 'n' NULL (no
 * argument), 'b' const void *, size_t (a blob; NULL binds NULL). Parameter k
 * of types binds ?k. On failure *out is NULL. */
dx_status sql_prep(sql *c, sql_stmt **out, const char *text, const char *types, ...);
/* As sql_prep, with the arguments in ap (for the store's own variadic helpers). */
dx_status sql_vprep(sql *c, sql_stmt **out, const char *text, const char *types, va_list ap);
/* Binding one by one (1-based index), before the first step or after reset. */
void sql_bind_text(sql_stmt *s, int i, const char *t);
void sql_bind_textn(sql_stmt *s, int i, const char *t, size_t n);
void sql_bind_int(sql_stmt *s, int i, long long v);
void sql_bind_null(sql_stmt *s, int i);
void sql_bind_blob(sql_stmt *s, int i, const void *p, size_t n);

/* Advances to the next row: *row true while there is one. The first step
 * runs the statement. */
dx_status sql_step(sql_stmt *s, bool *row);
/* Runs a statement to its end (rows, if any, are skipped). */
dx_status sql_run(sql_stmt *s);
/* Rows changed by the statement once it has run (INSERT/UPDATE/DELETE). */
long long sql_changes(sql_stmt *s);
/* Back to before the first step, keeping the bindings. */
void sql_reset(sql_stmt *s);
void sql_finalize(sql_stmt *s); /* NULL is a no-op */

/* Columns of the current row (0-based). Text is valid until the next step
 * or finalize; NULL for SQL NULL. An integer column read as text gives its
 * digits; a boolean (PostgreSQL) reads as 0/1. */
bool sql_is_null(sql_stmt *s, int col);
long long sql_int(sql_stmt *s, int col);
double sql_double(sql_stmt *s, int col);
const char *sql_text(sql_stmt *s, int col);
size_t sql_bytes(sql_stmt *s, int col); /* of sql_text or sql_blob, whichever was read last */
const void *sql_blob(sql_stmt *s, int col);

/* Prepare, bind, run to the end and finalize in one call: *changes (may be
 * NULL) gets the rows changed. */
dx_status sql_do(sql *c, long long *changes, const char *text, const char *types, ...);

/* The schema version kept in the database (0 for a new one): SQLite's
 * PRAGMA user_version, a one-row table on PostgreSQL. set runs inside the
 * migration's transaction. */
dx_status sql_schema_version(sql *c, int *out);
dx_status sql_schema_version_set(sql *c, int v);
/* Inside a transaction: waits until no other process migrates the same
 * database (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already is). */
dx_status sql_lock_schema(sql *c);

/* ---- notifications between processes (PostgreSQL LISTEN/NOTIFY) ---- */

/* Sends payload on channel to every connection listening (after the
 * current transaction commits). DX_EUNSUPPORTED on SQLite. */
dx_status sql_notify(sql *c, const char *channel, const char *payload);
/* This connection listens on channel from now on (a connection kept for
 * it: a listener takes no other statements). DX_EUNSUPPORTED on SQLite. */
dx_status sql_listen(sql *c, const char *channel);
/* Waits up to timeout_ms for a notification: *got true and payload filled
 * (cut to cap) when one came. A lost connection is reopened and listens
 * again; DX_EIO when it can't be (wait a while and call again). */
dx_status sql_wait_notify(sql *c, int timeout_ms, char *payload, size_t cap, bool *got);

#endif
