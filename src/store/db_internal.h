/*
 * db_internal — the store's handle, shared by the files of src/store only
 * (db.c: questions; the other store files). Not for other modules. Every
 * call takes one connection of the pool for its whole length (its
 * transaction, if any, stays on it) and gives it back:
 *
 *     sql *c = db_take(d);
 *     dx_status st = sql_do(c, NULL, "DELETE FROM sessions WHERE digest = ?", "t", digest);
 *     db_put(d, c);
 *
 * A SQLite store has one connection (one call at a time, as SQLite
 * writes); a PostgreSQL one has DRUX_DB_CONNECTIONS (db.h).
 */
#ifndef DX_STORE_DB_INTERNAL_H
#define DX_STORE_DB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "store/db.h"
#include "store/sql.h"

struct db {
    sql_kind kind;
    /* the pool: conns[0..n_conns) open, idle[0..n_idle) of them free */
    sql *conns[DB_MAX_CONNECTIONS];
    sql *idle[DB_MAX_CONNECTIONS];
    int n_conns, n_idle;
    pthread_mutex_t mu;   /* guards idle, n_idle */
    pthread_cond_t freed; /* a connection came back */
    char *target;         /* what db_open was given (a listener opens it again) */
    char instance[32];    /* this process's row in `instances`: it owns the questions it asks */
    bool registered;      /* that row was written (db_close removes it) */
    int version;          /* the schema version, once migrated */
    /* events posted for the writer thread (db_event_post), oldest first */
    pthread_mutex_t qmu;
    pthread_cond_t qcond;
    struct db_posted *qhead, *qtail;
    size_t qbytes;
    bool qthread, qstop;
    pthread_t writer;
};

/* A free connection of d's pool, waiting while every one is in use. Never
 * fails (the pool has at least one). */
sql *db_take(db *d);
/* The stored JSON array text (NULL: none) as names (db.h): its strings, at
 * most DX_MAX_MEMBERS; out->stored when text is JSON at all. DX_ENOMEM. */
dx_status db_names_parse(const char *text, db_names *out);
/* names[0..n) as the JSON array text the store keeps, malloc'd in *out;
 * NULL (none stored) when names is NULL. DX_ENOMEM. */
dx_status db_names_json(const char *const *names, size_t n, char **out);

/* Gives c back to the pool (c's last failure kind stays readable until the
 * next db_take hands it out: read sql_error_of before). */
void db_put(db *d, sql *c);

#endif
