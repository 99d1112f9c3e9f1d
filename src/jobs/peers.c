/* Other instances on a shared store: live events, deletions, heartbeats. */
#include "jobs/peers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/log.h"

#define HEARTBEAT_DIVISOR 5 /* heartbeats per lease */
#define POLL_MS 1000        /* followed questions are read this often without a notification */

typedef struct follow {
    struct follow *next;
    char id[DX_HTTP_MAX_ID + 1];
    jobs_stream *ev;
    long long seq; /* last event copied into ev */
    bool ended;
} follow;

struct peers {
    peers_opts o;
    bool shared;
    pthread_t thread;
    bool started;
    atomic_int stop;
    atomic_int poked;   /* on_queued is due */
    pthread_mutex_t mu; /* guards follows */
    follow *follows;
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* db_event_fn: one stored event into the follow's stream. */
static void copy_event(void *user, long long seq, const char *name, const char *data, size_t len)
{
    follow *f = user;
    if (f->ended || seq <= f->seq)
        return;
    f->seq = seq;
    if (!name || !strcmp(name, "end")) {
        f->ended = true;
        return;
    }
    char head[64];
    int n = snprintf(head, sizeof head, "event: %.32s\ndata: ", name);
    /* the stream takes the whole event or nothing (past its bound) */
    size_t total = (size_t)n + len + 2;
    char *buf = malloc(total);
    if (!buf)
        return;
    memcpy(buf, head, (size_t)n);
    if (len)
        memcpy(buf + n, data, len);
    memcpy(buf + n + len, "\n\n", 2);
    jobs_stream_write(f->ev, buf, total);
    free(buf);
}

/* Reads the follow's new events; ends it after the question's end. Caller
 * holds p->mu. */
static void follow_pull(peers *p, follow *f)
{
    if (f->ended)
        return;
    if (db_events_since(p->o.db, f->id, f->seq, copy_event, f))
        log_warn("peers: %s", dx_errmsg());
    if (f->ended)
        jobs_stream_close(f->ev);
}

static void follow_end(follow *f, const char *code, const char *msg)
{
    if (f->ended)
        return;
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (e)
        jobs_stream_event(f->ev, "error", e);
    json_decref(e);
    f->ended = true;
    jobs_stream_close(f->ev);
}

/* Drops follows nobody reads any more (only the list's reference left) and
 * ended ones. Caller holds p->mu. */
static void follows_prune(peers *p)
{
    for (follow **pp = &p->follows; *pp;) {
        follow *f = *pp;
        if (f->ended) {
            *pp = f->next;
            jobs_stream_unref(f->ev);
            free(f);
        } else {
            pp = &f->next;
        }
    }
}

static void on_note(peers *p, char kind, const char *id)
{
    if (kind == 'q') {
        atomic_store(&p->poked, 1);
        return;
    }
    if (kind == 'd' && p->o.on_deleted)
        p->o.on_deleted(p->o.user, id);
    pthread_mutex_lock(&p->mu);
    for (follow *f = p->follows; f; f = f->next) {
        if (strcmp(f->id, id))
            continue;
        if (kind == 'd')
            follow_end(f, "deleted", "the question was deleted");
        else
            follow_pull(p, f);
    }
    follows_prune(p);
    pthread_mutex_unlock(&p->mu);
}

static void *listener(void *arg)
{
    peers *p = arg;
    db_listener *l = NULL;
    double last_beat = mono_ms(), last_poll = last_beat,
           beat_ms = (double)p->o.lease_ms / HEARTBEAT_DIVISOR;
    while (!atomic_load(&p->stop)) {
        double now = mono_ms();
        if (now - last_beat >= beat_ms) {
            last_beat = now;
            int reaped = 0;
            if (db_heartbeat(p->o.db, p->o.capacity, p->o.lease_ms, &reaped))
                log_warn("peers: %s", dx_errmsg());
            else if (reaped)
                log_info("peers: %d questions of a stopped instance marked interrupted", reaped);
        }
        if (!p->shared) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (!l && db_listener_open(p->o.db, &l)) {
            log_warn("peers: %s", dx_errmsg());
            l = NULL;
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        char kind = 0, id[DX_HTTP_MAX_ID + 1];
        bool got = false;
        if (l && db_listener_wait(l, 100, &kind, id, sizeof id, &got)) {
            log_warn("peers: %s", dx_errmsg());
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (got)
            on_note(p, kind, id);
        bool poll_due = mono_ms() - last_poll >= POLL_MS; /* a notification may have been missed */
        if (p->o.on_queued && (atomic_exchange(&p->poked, 0) || poll_due))
            p->o.on_queued(p->o.user);
        if (poll_due) {
            last_poll = mono_ms();
            pthread_mutex_lock(&p->mu);
            for (follow *f = p->follows; f; f = f->next)
                follow_pull(p, f);
            follows_prune(p);
            pthread_mutex_unlock(&p->mu);
        }
    }
    db_listener_close(l);
    return NULL;
}

dx_status peers_open(const peers_opts *o, peers **out)
{
    *out = NULL;
    peers *p = calloc(1, sizeof *p);
    if (!p)
        return dx_oom("peers");
    p->o = *o;
    if (p->o.lease_ms <= 0)
        p->o.lease_ms = DB_LEASE_MS;
    p->shared = db_is_shared(o->db);
    pthread_mutex_init(&p->mu, NULL);
    dx_status st = db_heartbeat(o->db, o->capacity, p->o.lease_ms, NULL);
    if (!st && pthread_create(&p->thread, NULL, listener, p))
        st = dx_fail(DX_ENOMEM, "peers: can't start the listener thread");
    if (st) {
        peers_close(p);
        return st;
    }
    p->started = true;
    *out = p;
    return DX_OK;
}

void peers_close(peers *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    if (p->started)
        pthread_join(p->thread, NULL);
    pthread_mutex_lock(&p->mu);
    for (follow *f = p->follows; f; f = f->next)
        if (!f->ended) {
            f->ended = true;
            jobs_stream_close(f->ev);
        }
    follows_prune(p);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void peers_poke(peers *p)
{
    if (p)
        atomic_store(&p->poked, 1);
}

dx_status peers_follow(peers *p, const char *id, jobs_stream **ev)
{
    *ev = NULL;
    if (!p->shared)
        return dx_fail(DX_EUNSUPPORTED, "peers: a SQLite store has no other instances");
    pthread_mutex_lock(&p->mu);
    follow *f = p->follows;
    while (f && (f->ended || strcmp(f->id, id)))
        f = f->next;
    dx_status st = DX_OK;
    if (!f) {
        if (!(f = calloc(1, sizeof *f)) ||
            !(f->ev = jobs_stream_new(DX_HTTP_MAX_EVENT_LOG + 2 * DX_MAX_JSON_BYTES))) {
            free(f);
            pthread_mutex_unlock(&p->mu);
            return dx_oom("peers");
        }
        snprintf(f->id, sizeof f->id, "%s", id);
        f->next = p->follows;
        p->follows = f;
        follow_pull(p, f);
    }
    jobs_stream_ref(f->ev);
    *ev = f->ev;
    follows_prune(p);
    pthread_mutex_unlock(&p->mu);
    return st;
}
