/*
 * jobs/peers — the other drux instances on a shared store (PostgreSQL):
 * following their questions live, hearing of deletions and of questions
 * released to the shared queue, and the heartbeat that keeps this instance
 * alive and marks dead instances' questions interrupted. One listener
 * thread (LISTEN on its own connection) feeds a stream per followed
 * question from the store's event rows and claims released questions
 * (on_queued) when there is room here.
 *
 *     peers *p;
 *     peers_open(&(peers_opts){.db = d, .capacity = 18, .lease_ms = 15000,
 *                              .on_deleted = gone, .user = j}, &p);
 *     jobs_stream *ev;
 *     peers_follow(p, "k3x9ab", &ev);   // every event so far, then live ones
 *     ... jobs_stream_read(ev, &off, ...) until it ends; jobs_stream_unref(ev);
 *     peers_close(p);
 *
 * Thread-safe. On a SQLite store there are no peers: peers_open runs only
 * the heartbeat.
 */
#ifndef DX_JOBS_PEERS_H
#define DX_JOBS_PEERS_H

#include <stdatomic.h>

#include "core/status.h"
#include "jobs/stream.h"
#include "store/db.h"

typedef struct peers peers;

typedef struct peers_opts {
    db *db;
    int capacity;       /* questions this instance admits (running + queued) */
    long long lease_ms; /* an instance unheard of this long is dead; <= 0: DB_LEASE_MS */
    /* a question was deleted through another instance (called on the
     * listener thread; may be one this instance runs) */
    void (*on_deleted)(void *user, const char *id);
    /* there may be released questions to claim: one was released, a slot
     * here was freed (peers_poke), or a while passed (called on the
     * listener thread; NULL: none) */
    void (*on_queued)(void *user);
    void *user;
} peers_opts;

dx_status peers_open(const peers_opts *o, peers **out);
/* Ends every followed stream and the listener thread. NULL is a no-op. */
void peers_close(peers *p);

/* Asks the listener thread to call on_queued soon (a slot was freed).
 * Never blocks; safe under the caller's locks. */
void peers_poke(peers *p);

/* A stream of question id's events (text/event-stream framing) from its
 * first, as its instance writes them; it ends after the question's end
 * (result, error or deletion). *ev is a reference: unref it. DX_EUNSUPPORTED
 * on a SQLite store. */
dx_status peers_follow(peers *p, const char *id, jobs_stream **ev);

#endif
