/*
 * db_internal — the store's handle, shared by the files of src/store only
 * (db.c: questions; users.c: accounts). Not for other modules.
 */
#ifndef DX_STORE_DB_INTERNAL_H
#define DX_STORE_DB_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/db.h"

struct db {
    sqlite3 *h;
    pthread_mutex_t mu; /* every call holds it: one statement at a time */
};

#endif
