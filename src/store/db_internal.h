/*
 * db_internal — the store's handle, shared by the files of src/store only
 * (db.c: questions; the other store files). Not for other modules. Every
 * call holds mu while it talks to the database: one statement at a time.
 */
#ifndef DX_STORE_DB_INTERNAL_H
#define DX_STORE_DB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "store/db.h"
#include "store/sql.h"

struct db {
    sql *c;
    pthread_mutex_t mu;
    char *target;      /* what db_open was given (a listener opens it again) */
    char instance[32]; /* this process's row in `instances`: it owns the questions it asks */
    bool registered;   /* that row was written (db_close removes it) */
    int version;       /* the schema version, once migrated */
    /* events posted for the writer thread (db_event_post), oldest first */
    pthread_mutex_t qmu;
    pthread_cond_t qcond;
    struct db_posted *qhead, *qtail;
    size_t qbytes;
    bool qthread, qstop;
    pthread_t writer;
};

#endif
