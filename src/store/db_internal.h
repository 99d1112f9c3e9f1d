/*
 * db_internal — the store's handle, shared by the files of src/store only
 * (db.c: questions; the other store files). Not for other modules. Every
 * call holds mu while it talks to the database: one statement at a time.
 */
#ifndef DX_STORE_DB_INTERNAL_H
#define DX_STORE_DB_INTERNAL_H

#include <pthread.h>

#include "store/db.h"
#include "store/sql.h"

struct db {
    sql *c;
    pthread_mutex_t mu;
};

#endif
