#include "store/db.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "store/db_internal.h"

/* migrations[i] takes the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE questions("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  question TEXT NOT NULL,"
    "  members_sel TEXT," /* JSON array of member names, NULL: all */
    "  status TEXT NOT NULL,"
    "  error TEXT,"
    "  created_at TEXT NOT NULL,"
    "  finished_at TEXT);"
    "CREATE TABLE members("
    "  question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  name TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, error TEXT,"
    "  latency_ms INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,"
    "  ttft_ms INTEGER NOT NULL DEFAULT 0, text TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(question_id, idx));"
    "CREATE TABLE analyses("
    "  question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE CASCADE,"
    "  label TEXT, consensus INTEGER, result TEXT NOT NULL);"
    "CREATE TABLE timings("
    "  question_id TEXT PRIMARY KEY REFERENCES questions(id) ON DELETE CASCADE,"
    "  queued_ms INTEGER, asking_ms INTEGER, analyzing_ms INTEGER,"
    "  synthesizing_ms INTEGER, total_ms INTEGER);",
    /* 1 -> 2: accounts (store/users.c); existing questions stay anonymous */
    "CREATE TABLE users("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pw_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  daily_premium INTEGER NOT NULL DEFAULT 50,"
    "  default_members TEXT,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE sessions("
    "  digest TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_s INTEGER NOT NULL, expires_s INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE user_keys("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  provider TEXT NOT NULL, sealed TEXT NOT NULL,"
    "  PRIMARY KEY(user_id, provider));"
    "CREATE TABLE premium_calls("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  day TEXT NOT NULL, calls INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(user_id, day));"
    /* owner NULL: asked anonymously, public as before; else only its owner
     * lists and changes it, and others read it only with its share token */
    "ALTER TABLE questions ADD COLUMN owner INTEGER REFERENCES users(id) ON DELETE CASCADE;"
    "ALTER TABLE questions ADD COLUMN share TEXT;"
    "CREATE INDEX questions_owner ON questions(owner, seq);",
    /* 2 -> 3: threads. A question is turn `turn` of thread `thread_id` (the id of the thread's
     * first question); a store from before keeps every question as a thread of one. Each
     * member says how many earlier turns it was given and how many were left out to fit. */
    "ALTER TABLE questions ADD COLUMN thread_id TEXT;"
    "ALTER TABLE questions ADD COLUMN turn INTEGER NOT NULL DEFAULT 1;"
    "UPDATE questions SET thread_id = id;"
    "CREATE UNIQUE INDEX questions_thread ON questions(thread_id, turn);"
    "ALTER TABLE members ADD COLUMN context_turns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE members ADD COLUMN context_dropped INTEGER NOT NULL DEFAULT 0;",
    /* 3 -> 4: several instances on one store (db.h): who owns a question, who
     * is alive, the events others follow, the rate limit they share */
    "CREATE TABLE instances("
    "  id TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
    "  seen_ms INTEGER NOT NULL, capacity INTEGER NOT NULL DEFAULT 0);"
    "ALTER TABLE questions ADD COLUMN instance TEXT;"
    "CREATE INDEX questions_status ON questions(status);"
    "CREATE TABLE events("
    "  question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL, name TEXT NOT NULL, data TEXT,"
    "  PRIMARY KEY(question_id, seq));"
    "CREATE TABLE rate_buckets("
    "  client TEXT PRIMARY KEY, milli INTEGER NOT NULL, updated_ms INTEGER NOT NULL);",
    /* 4 -> 5: the earlier turns a question's asker gave (a /v1 conversation), kept so that any
     * instance can run it from the shared queue; NULL: none, or its thread's own */
    "ALTER TABLE questions ADD COLUMN context TEXT;",
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(N_MIGRATIONS == DB_SCHEMA_VERSION, "one migration per schema version");

static const char *const status_names[QUESTION_STATUS_COUNT] = {
    [QUESTION_QUEUED] = "queued", [QUESTION_RUNNING] = "running",         [QUESTION_DONE] = "done",
    [QUESTION_FAILED] = "failed", [QUESTION_INTERRUPTED] = "interrupted",
};

const char *question_status_str(question_status st)
{
    return (unsigned)st < QUESTION_STATUS_COUNT ? status_names[st] : "unknown";
}

bool question_status_parse(const char *s, question_status *out)
{
    for (int i = 0; s && i < QUESTION_STATUS_COUNT; i++)
        if (!strcmp(s, status_names[i])) {
            *out = (question_status)i;
            return true;
        }
    return false;
}

bool question_status_final(question_status st)
{
    return st == QUESTION_DONE || st == QUESTION_FAILED || st == QUESTION_INTERRUPTED;
}

static dx_status migrate(db *d, sql *c)
{
    /* one transaction: a second process opening the same database waits here
     * and then finds the schema current */
    dx_status st = sql_begin(c);
    int v = -1;
    if (!st)
        st = sql_lock_schema(c);
    if (!st)
        st = sql_schema_version(c, &v);
    if (st) {
        sql_rollback(c);
        return dx_wrap(st, "reading the schema version");
    }
    if (v > DB_SCHEMA_VERSION) {
        sql_rollback(c);
        return dx_fail(DX_EUNSUPPORTED,
                       "store: schema version %d is newer than this drux knows (%d); use a newer "
                       "drux or another --db",
                       v, DB_SCHEMA_VERSION);
    }
    for (; v < DB_SCHEMA_VERSION; v++) {
        if ((st = sql_exec_ddl(c, migrations[v])) || (st = sql_schema_version_set(c, v + 1))) {
            sql_rollback(c);
            return dx_wrap(st, "migrating to schema %d", v + 1);
        }
    }
    d->version = v;
    return sql_commit(c);
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_instance_id(char out[13])
{
    static const char abc[] = "abcdefghijkmnpqrstuvwxyz23456789";
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        unsigned long long t = (unsigned long long)wall_ms() ^ ((unsigned long long)getpid() << 20);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 37);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        out[i] = abc[rnd[i] % 32];
    out[12] = '\0';
}

/* The process that ran a queued or running question is gone: mark it
 * interrupted. A SQLite file has one process, so on open that is every
 * unfinished question; a shared store's other instances may still be
 * running theirs (db_heartbeat reaps those whose instance died). */
static dx_status interrupt_unfinished(db *d, sql *c)
{
    if (d->kind == SQL_POSTGRES)
        return db_heartbeat(d, 0, DB_LEASE_MS, NULL);
    return sql_do(c, NULL, "UPDATE questions SET status = ?, error = ? WHERE status IN (?, ?)",
                  "tttt", question_status_str(QUESTION_INTERRUPTED),
                  "the server stopped before this question finished",
                  question_status_str(QUESTION_QUEUED), question_status_str(QUESTION_RUNNING));
}

/* ---- the connection pool ---- */

sql *db_take(db *d)
{
    pthread_mutex_lock(&d->mu);
    while (!d->n_idle)
        pthread_cond_wait(&d->freed, &d->mu);
    sql *c = d->idle[--d->n_idle];
    pthread_mutex_unlock(&d->mu);
    return c;
}

void db_put(db *d, sql *c)
{
    pthread_mutex_lock(&d->mu);
    d->idle[d->n_idle++] = c;
    pthread_cond_signal(&d->freed);
    pthread_mutex_unlock(&d->mu);
}

/* The pool's size for a PostgreSQL store: $DRUX_DB_CONNECTIONS within
 * 1..DB_MAX_CONNECTIONS, else DB_CONNECTIONS. */
static int pool_size(void)
{
    const char *e = getenv("DRUX_DB_CONNECTIONS");
    long n = e ? strtol(e, NULL, 10) : 0;
    return n >= 1 && n <= DB_MAX_CONNECTIONS ? (int)n : DB_CONNECTIONS;
}

/* Opens the pool's other connections (the first one is open). */
static dx_status pool_fill(db *d)
{
    int want = d->kind == SQL_POSTGRES ? pool_size() : 1;
    dx_status st = DX_OK;
    while (!st && d->n_conns < want) {
        sql *c;
        if (!(st = sql_open(d->target, &c))) {
            d->conns[d->n_conns++] = c;
            d->idle[d->n_idle++] = c;
        }
    }
    return st;
}

dx_status db_open(const char *path, db **out)
{
    *out = NULL;
    db *d = calloc(1, sizeof *d);
    if (!d)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->freed, NULL);
    pthread_mutex_init(&d->qmu, NULL);
    pthread_cond_init(&d->qcond, NULL);
    new_instance_id(d->instance);
    char now[32];
    utc_now(now);
    sql *c = NULL;
    dx_status st = (d->target = strdup(path)) ? sql_open(path, &c) : dx_oom("store");
    if (!st) {
        d->kind = sql_kind_of(c);
        d->conns[d->n_conns++] = c;
        d->idle[d->n_idle++] = c;
        st = migrate(d, c);
    }
    if (!st)
        st = sql_do(c, NULL, "INSERT INTO instances(id, started_at, seen_ms) VALUES(?, ?, ?)",
                    "tti", d->instance, now, wall_ms());
    d->registered = !st;
    if (!st)
        st = pool_fill(d);
    if (!st)
        st = interrupt_unfinished(d, c);
    if (st) {
        char shown[256];
        sql_target_redact(path, shown, sizeof shown);
        dx_wrap(st, "%s", shown);
        db_close(d);
        return st;
    }
    *out = d;
    return DX_OK;
}

void db_close(db *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->qmu); /* the event writer stores what is queued, then ends */
    d->qstop = true;
    pthread_cond_broadcast(&d->qcond);
    bool writer = d->qthread;
    pthread_mutex_unlock(&d->qmu);
    if (writer)
        pthread_join(d->writer, NULL);
    if (d->registered) /* a clean stop: this instance is gone now, not after its lease */
        sql_do(d->conns[0], NULL, "DELETE FROM instances WHERE id = ?", "t", d->instance);
    for (int i = 0; i < d->n_conns; i++) /* every call has ended: all are idle */
        sql_close(d->conns[i]);
    free(d->target);
    pthread_cond_destroy(&d->freed);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->qmu);
    pthread_cond_destroy(&d->qcond);
    free(d);
}

int db_schema_version(db *d)
{
    return d->version; /* read once, when it was migrated: health asks on every request */
}

bool db_is_shared(db *d)
{
    return d->kind == SQL_POSTGRES;
}

/* Runs a query with one parameter, the question id, and steps to its row:
 * DX_ENOTFOUND when there is none. *s is set even on failure (finalize it). */
static dx_status question_row(sql *c, const char *text, const char *id, sql_stmt **s)
{
    bool row = false;
    dx_status st = sql_prep(c, s, text, "t", id);
    if (!st)
        st = sql_step(*s, &row);
    if (st)
        return dx_wrap(st, "read question");
    if (!row)
        return dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
    return DX_OK;
}

dx_status db_names_json(const char *const *members, size_t n, char **out)
{
    *out = NULL;
    if (!members)
        return DX_OK;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(members[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return *out ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}

dx_status db_names_parse(const char *text, db_names *out)
{
    memset(out, 0, sizeof *out);
    json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
    if (!arr)
        return DX_OK;
    out->stored = json_is_array(arr);
    size_t bytes = 1;
    for (size_t i = 0, k = 0; i < json_array_size(arr) && k < DX_MAX_MEMBERS; i++)
        if (json_is_string(json_array_get(arr, i))) {
            bytes += strlen(json_string_value(json_array_get(arr, i))) + 1;
            k++;
        }
    char *p = out->text = malloc(bytes);
    for (size_t i = 0; p && i < json_array_size(arr) && out->n < DX_MAX_MEMBERS; i++)
        if (json_is_string(json_array_get(arr, i))) {
            const char *v = json_string_value(json_array_get(arr, i));
            size_t len = strlen(v);
            memcpy(p, v, len + 1);
            out->names[out->n++] = p;
            p += len + 1;
        }
    json_decref(arr);
    return out->text ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}

void db_names_free(db_names *n)
{
    free(n->text);
    memset(n, 0, sizeof *n);
}

void db_source_free(db_source *s)
{
    free(s->question);
    s->question = NULL;
    db_names_free(&s->members);
}

void db_thread_free(db_thread *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->turns[i].question);
        free(t->turns[i].answer);
    }
    memset(t, 0, sizeof *t);
}

/* Inserts a queued question as turn `turn` of thread_id, owned by owner (0:
 * anonymous) with its share token. Caller holds c. */
static dx_status insert_locked(db *d, sql *c, const char *id, const char *question, const char *sel,
                               const char *created_at, const char *thread_id, long long turn,
                               long long owner, const char *share)
{
    const char *ins =
        "INSERT INTO questions(id, question, members_sel, status, created_at, "
        "instance, owner, share, thread_id, turn) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const char *queued = question_status_str(QUESTION_QUEUED);
    dx_status st = owner > 0 ? sql_do(c, NULL, ins, "ttttttitti", id, question, sel, queued,
                                      created_at, d->instance, owner, share, thread_id, turn)
                             : sql_do(c, NULL, ins, "ttttttnnti", id, question, sel, queued,
                                      created_at, d->instance, thread_id, turn);
    return st ? dx_wrap(st, "insert question") : DX_OK;
}

dx_status db_question_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at)
{
    return db_question_insert_as(d, id, question, members, n_members, created_at, 0, NULL);
}

dx_status db_question_insert_as(db *d, const char *id, const char *question,
                                const char *const *members, size_t n_members,
                                const char *created_at, long long owner, const char *share)
{
    char *sel;
    dx_status st = db_names_json(members, n_members, &sel);
    if (st)
        return st;
    sql *c = db_take(d);
    st = insert_locked(d, c, id, question, sel, created_at, id, 1, owner, share);
    db_put(d, c);
    free(sel);
    return st;
}

/* The thread, turn and status of question id, and the last turn of its
 * thread; with owner, also who owns it and its share token (share_cap
 * bytes). Caller holds c. */
static dx_status owner_position_locked(sql *c, const char *id, char thread[DX_HTTP_MAX_ID + 1],
                                       long long *turn, long long *last, question_status *status,
                                       long long *owner, char *share, size_t share_cap)
{
    sql_stmt *s = NULL;
    dx_status st = question_row(c,
                                "SELECT q.thread_id, q.turn, q.status, (SELECT MAX(t.turn) FROM "
                                "questions t WHERE t.thread_id = q.thread_id), q.owner, q.share "
                                "FROM questions q WHERE q.id = ?",
                                id, &s);
    if (!st) {
        const char *t = sql_text(s, 0);
        snprintf(thread, DX_HTTP_MAX_ID + 1, "%s", t ? t : id);
        *turn = sql_int(s, 1);
        *last = sql_int(s, 3);
        if (!question_status_parse(sql_text(s, 2), status))
            *status = QUESTION_INTERRUPTED;
        if (owner)
            *owner = sql_int(s, 4);
        const char *sh = sql_text(s, 5);
        if (share)
            snprintf(share, share_cap, "%s", sh ? sh : "");
    }
    sql_finalize(s);
    return st;
}

/* As owner_position_locked without the owner. */
static dx_status position_locked(sql *c, const char *id, char thread[DX_HTTP_MAX_ID + 1],
                                 long long *turn, long long *last, question_status *status)
{
    return owner_position_locked(c, id, thread, turn, last, status, NULL, NULL, 0);
}

dx_status db_question_position(db *d, const char *id, char thread[DX_HTTP_MAX_ID + 1], int *turn,
                               int *last_turn)
{
    long long t = 0, last = 0;
    question_status qs;
    sql *c = db_take(d);
    dx_status st = position_locked(c, id, thread, &t, &last, &qs);
    db_put(d, c);
    *turn = (int)t;
    *last_turn = (int)last;
    return st;
}

dx_status db_followup_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at,
                             const char *parent, char thread[DX_HTTP_MAX_ID + 1], int *turn)
{
    char *sel;
    dx_status st = db_names_json(members, n_members, &sel);
    if (st)
        return st;
    long long pturn = 0, last = 0, owner = 0;
    char share[128];
    question_status pst;
    sql *c = db_take(d);
    if ((st = sql_begin(c)))
        goto out;
    if ((st = owner_position_locked(c, parent, thread, &pturn, &last, &pst, &owner, share,
                                    sizeof share)))
        goto out;
    if (!question_status_final(pst)) {
        st = dx_fail(DX_EARG, "question '%s' is still being answered: follow up once it is done",
                     parent);
        goto out;
    }
    if (pturn != last) {
        st = dx_fail(DX_EARG,
                     "question '%s' is turn %lld of a thread of %lld: a follow-up continues the "
                     "thread from its last turn",
                     parent, pturn, last);
        goto out;
    }
    if (last >= DB_MAX_THREAD_TURNS) {
        st = dx_fail(DX_ELIMIT, "a thread holds at most %d turns: start a new one",
                     DB_MAX_THREAD_TURNS);
        goto out;
    }
    if ((st = insert_locked(d, c, id, question, sel, created_at, thread, last + 1, owner,
                            owner > 0 ? share : NULL)))
        goto out;
    st = sql_commit(c);
    *turn = (int)(last + 1);
out:
    if (st)
        sql_rollback(c);
    db_put(d, c);
    free(sel);
    return st;
}

dx_status db_question_set_status(db *d, const char *id, question_status status, const char *error)
{
    sql *c = db_take(d);
    dx_status st = sql_do(c, NULL, "UPDATE questions SET status = ?, error = ? WHERE id = ?", "ttt",
                          question_status_str(status), error, id);
    db_put(d, c);
    return st ? dx_wrap(st, "update status") : DX_OK;
}

/* Caller holds c. */
static dx_status member_save_locked(sql *c, const char *id, int index, const db_member *m)
{
    if (!m->name || !m->status)
        return dx_fail(DX_EARG, "store: member %d of %s has no name or status", index, id);
    sql_stmt *s;
    dx_status st = sql_prep(
        c, &s,
        "INSERT INTO members(question_id, idx, name, model, status, error, latency_ms, tokens, "
        "ttft_ms, text, context_turns, context_dropped) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(question_id, idx) DO UPDATE SET "
        "name = excluded.name, model = excluded.model, status = excluded.status, "
        "error = excluded.error, latency_ms = excluded.latency_ms, tokens = excluded.tokens, "
        "ttft_ms = excluded.ttft_ms, text = excluded.text, "
        "context_turns = excluded.context_turns, context_dropped = excluded.context_dropped",
        "titttt", id, (long long)index, m->name, m->model ? m->model : "", m->status, m->error);
    if (st)
        return dx_wrap(st, "save member");
    sql_bind_int(s, 7, m->latency_ms);
    sql_bind_int(s, 8, m->tokens);
    sql_bind_int(s, 9, m->ttft_ms);
    if (m->text)
        sql_bind_textn(s, 10, m->text, m->text_len);
    else
        sql_bind_text(s, 10, "");
    sql_bind_int(s, 11, m->context_turns);
    sql_bind_int(s, 12, m->context_dropped);
    st = sql_run(s);
    sql_finalize(s);
    return st ? dx_wrap(st, "save member") : DX_OK;
}

dx_status db_member_save(db *d, const char *id, int index, const db_member *member)
{
    sql *c = db_take(d);
    dx_status st = member_save_locked(c, id, index, member);
    db_put(d, c);
    return st;
}

/* The statements of db_question_finish after the status. Caller holds the
 * lock, inside the transaction. */
static dx_status finish_rows(sql *c, const db_finish *f)
{
    dx_status st = DX_OK;
    for (size_t i = 0; !st && i < f->n_members; i++)
        st = member_save_locked(c, f->id, (int)i, &f->members[i]);
    if (!st && f->result) {
        const char *ins = "INSERT INTO analyses(question_id, label, consensus, result) "
                          "VALUES(?,?,?,?) ON CONFLICT(question_id) DO UPDATE SET "
                          "label = excluded.label, consensus = excluded.consensus, "
                          "result = excluded.result";
        st = f->has_consensus
                 ? sql_do(c, NULL, ins, "ttit", f->id, f->label, (long long)f->consensus, f->result)
                 : sql_do(c, NULL, ins, "ttnt", f->id, f->label, f->result);
        if (st)
            return dx_wrap(st, "save analysis");
    }
    if (!st) {
        st = sql_do(c, NULL,
                    "INSERT INTO timings(question_id, queued_ms, asking_ms, analyzing_ms, "
                    "synthesizing_ms, total_ms) VALUES(?,?,?,?,?,?) ON CONFLICT(question_id) DO "
                    "UPDATE SET queued_ms = excluded.queued_ms, asking_ms = excluded.asking_ms, "
                    "analyzing_ms = excluded.analyzing_ms, synthesizing_ms = "
                    "excluded.synthesizing_ms, total_ms = excluded.total_ms",
                    "tiiiii", f->id, f->queued_ms, f->asking_ms, f->analyzing_ms,
                    f->synthesizing_ms, f->total_ms);
        if (st)
            return dx_wrap(st, "save timings");
    }
    return st;
}

dx_status db_question_finish(db *d, const db_finish *f)
{
    sql *c = db_take(d);
    dx_status st = sql_begin(c);
    if (!st) {
        st = sql_do(c, NULL,
                    "UPDATE questions SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                    "tttt", question_status_str(f->status), f->error, f->finished_at, f->id);
        if (st)
            dx_wrap(st, "finish question");
    }
    if (!st)
        st = finish_rows(c, f);
    if (!st)
        st = sql_commit(c);
    if (st)
        sql_rollback(c);
    db_put(d, c);
    return st;
}

static json_t *col_str(sql_stmt *s, int i)
{
    const char *t = sql_text(s, i);
    return t ? json_stringn(t, sql_bytes(s, i)) : json_null();
}

/* Members of one question, in order. Caller holds c. */
static dx_status members_locked(sql *c, const char *id, bool with_texts, json_t *arr)
{
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT name, model, status, error, latency_ms, tokens, ttft_ms, "
                            "text, context_turns, context_dropped FROM members WHERE "
                            "question_id = ? ORDER BY idx",
                            "t", id);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row) {
        json_t *m = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", col_str(s, 0), "model",
                              col_str(s, 1), "status", col_str(s, 2), "error", col_str(s, 3),
                              "latency_ms", (json_int_t)sql_int(s, 4), "tokens",
                              (json_int_t)sql_int(s, 5), "ttft_ms", (json_int_t)sql_int(s, 6));
        if (m && with_texts)
            json_object_set_new(m, "text", col_str(s, 7));
        if (m) {
            json_object_set_new(m, "context_turns", json_integer(sql_int(s, 8)));
            json_object_set_new(m, "context_dropped", json_integer(sql_int(s, 9)));
        }
        if (!m || json_array_append_new(arr, m))
            st = dx_fail(DX_ENOMEM, "out of memory");
    }
    sql_finalize(s);
    return st ? dx_wrap(st, "read members") : DX_OK;
}

/* Columns: id, question, status, error, created_at, finished_at, members_sel, label, consensus,
 * thread_id, turn, result */
#define Q_COLS                                                                                     \
    "q.id, q.question, q.status, q.error, q.created_at, q.finished_at, q.members_sel, a.label, "   \
    "a.consensus, q.thread_id, q.turn, "
#define Q_RESULT 11

static json_t *row_question(sql_stmt *s)
{
    json_t *q = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(s, 0), "question",
                          col_str(s, 1), "status", col_str(s, 2), "error", col_str(s, 3),
                          "created_at", col_str(s, 4), "finished_at", col_str(s, 5));
    if (!q)
        return NULL;
    const char *sel = sql_text(s, 6);
    json_t *selj = sel ? json_loads(sel, 0, NULL) : NULL;
    json_object_set_new(q, "asked", selj ? selj : json_null());
    json_object_set_new(q, "thread",
                        sql_is_null(s, 9) ? json_incref(json_object_get(q, "id")) : col_str(s, 9));
    json_object_set_new(q, "turn", json_integer(sql_int(s, 10)));
    return q;
}

dx_status db_question_get(db *d, const char *id, bool with_texts, json_t **out)
{
    *out = NULL;
    sql *c = db_take(d);
    sql_stmt *s = NULL;
    json_t *q = NULL;
    dx_status st = DX_OK;
    if ((st = question_row(c,
                           "SELECT " Q_COLS "a.result FROM questions q LEFT JOIN analyses a "
                           "ON a.question_id = q.id WHERE q.id = ?",
                           id, &s)))
        goto out;
    if (!(q = row_question(s))) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    const char *res = sql_text(s, Q_RESULT);
    json_t *rj = res ? json_loads(res, 0, NULL) : NULL;
    json_object_set_new(q, "result", rj ? rj : json_null());
    json_t *members = json_array();
    json_object_set_new(q, "members", members);
    if (!members) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    sql_finalize(s);
    s = NULL;
    st = members_locked(c, id, with_texts, members);
out:
    sql_finalize(s);
    db_put(d, c);
    if (st)
        json_decref(q);
    else
        *out = q;
    return st;
}

/* query as a LIKE pattern that matches it literally, lower-cased: %, _ and
 * the escape \ are escaped. malloc'd, NULL for none or OOM (*oom). */
static char *like_pattern(const char *query, bool *oom)
{
    *oom = false;
    if (!query || !*query)
        return NULL;
    size_t n = strlen(query);
    char *p = malloc(2 * n + 3);
    if (!p) {
        *oom = true;
        return NULL;
    }
    size_t o = 0;
    p[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (query[i] == '%' || query[i] == '_' || query[i] == '\\')
            p[o++] = '\\';
        p[o++] = query[i];
    }
    p[o++] = '%';
    p[o] = '\0';
    return p;
}

/* The filter of a list page: ?1 the LIKE pattern or NULL, ?2 the id to list
 * before or NULL, ?3 the page size, ?4 the owner (0: the anonymous questions). */
#define LIST_WHERE                                                                                 \
    "(q.owner = ?4 OR (?4 = 0 AND q.owner IS NULL)) AND "                                          \
    "(CAST(?1 AS TEXT) IS NULL OR lower(q.question) LIKE lower(?1) ESCAPE '\\') "                  \
    "AND (CAST(?2 AS TEXT) IS NULL OR q.seq < (SELECT seq FROM questions WHERE id = ?2)) "

/* The members of every question of a list page in one query (not one per
 * question: each is a round trip on PostgreSQL). Caller holds c. */
static dx_status list_members_locked(sql *c, const char *pattern, const char *before, int limit,
                                     long long owner, json_t *arr)
{
    size_t i;
    json_t *q;
    json_array_foreach(arr, i, q)
    {
        json_t *members = json_array();
        if (!members || json_object_set_new(q, "members", members))
            return dx_oom("store");
    }
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT m.question_id, m.name, m.model, m.status, m.error, "
                            "m.latency_ms, m.tokens, m.ttft_ms, m.context_turns, "
                            "m.context_dropped FROM members m WHERE "
                            "m.question_id IN (SELECT q.id FROM questions q WHERE " LIST_WHERE
                            "ORDER BY q.seq DESC LIMIT ?3) ORDER BY m.question_id, m.idx",
                            "ttii", pattern, before, (long long)limit, owner);
    bool row;
    json_t *members = NULL;
    char cur[DX_HTTP_MAX_ID + 1] = "";
    while (!st && !(st = sql_step(s, &row)) && row) {
        const char *id = sql_text(s, 0);
        if (!id)
            continue;
        if (strcmp(id, cur)) { /* the next question's members */
            snprintf(cur, sizeof cur, "%s", id);
            members = NULL;
            json_array_foreach(arr, i, q)
            {
                if (!strcmp(json_string_value(json_object_get(q, "id")), cur))
                    members = json_object_get(q, "members");
            }
        }
        if (!members)
            continue;
        json_t *m = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", col_str(s, 1), "model",
                              col_str(s, 2), "status", col_str(s, 3), "error", col_str(s, 4),
                              "latency_ms", (json_int_t)sql_int(s, 5), "tokens",
                              (json_int_t)sql_int(s, 6), "ttft_ms", (json_int_t)sql_int(s, 7));
        if (m) {
            json_object_set_new(m, "context_turns", json_integer(sql_int(s, 8)));
            json_object_set_new(m, "context_dropped", json_integer(sql_int(s, 9)));
        }
        if (!m || json_array_append_new(members, m))
            st = dx_oom("store");
    }
    sql_finalize(s);
    return st;
}

dx_status db_question_list(db *d, const char *query, int limit, const char *before, json_t **out)
{
    return db_question_list_of(d, 0, query, limit, before, out);
}

dx_status db_question_list_of(db *d, long long owner, const char *query, int limit,
                              const char *before, json_t **out)
{
    *out = NULL;
    if (owner < 0)
        owner = 0;
    bool oom;
    char *pattern = like_pattern(query, &oom);
    json_t *arr = json_array();
    if (!arr || oom) {
        json_decref(arr);
        free(pattern);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    if (before && !*before)
        before = NULL;
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT " Q_COLS "NULL FROM questions q LEFT JOIN analyses a ON "
                            "a.question_id = q.id WHERE " LIST_WHERE "ORDER BY q.seq DESC LIMIT ?3",
                            "ttii", pattern, before, (long long)limit, owner);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row) {
        json_t *q = row_question(s);
        if (!q || json_array_append_new(arr, q)) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            break;
        }
        json_object_set_new(q, "label", col_str(s, 7));
        json_object_set_new(q, "consensus",
                            sql_is_null(s, 8) ? json_null() : json_integer(sql_int(s, 8)));
    }
    sql_finalize(s);
    if (!st)
        st = list_members_locked(c, pattern, before, limit, owner, arr);
    db_put(d, c);
    free(pattern);
    if (st) {
        dx_wrap(st, "list questions");
        json_decref(arr);
    } else {
        *out = arr;
    }
    return st;
}

dx_status db_question_delete(db *d, const char *id)
{
    sql *c = db_take(d);
    char thread[DX_HTTP_MAX_ID + 1];
    long long turn, last, changed = 0;
    question_status qs;
    dx_status st = position_locked(c, id, thread, &turn, &last, &qs);
    /* the question and every later turn of its thread, in one statement */
    if (!st) {
        st = sql_do(c, &changed, "DELETE FROM questions WHERE thread_id = ? AND turn >= ?", "ti",
                    thread, turn);
        if (st)
            dx_wrap(st, "delete question");
        else if (!changed)
            st = dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
    }
    db_put(d, c);
    return st;
}

dx_status db_question_source(db *d, const char *id, db_source *out)
{
    memset(out, 0, sizeof *out);
    sql *c = db_take(d);
    sql_stmt *s = NULL;
    dx_status st = question_row(
        c, "SELECT question, members_sel, thread_id, turn, created_at FROM questions WHERE id = ?",
        id, &s);
    if (!st && !(out->question = strdup(sql_text(s, 0))))
        st = dx_fail(DX_ENOMEM, "out of memory");
    if (!st)
        st = db_names_parse(sql_text(s, 1), &out->members);
    if (!st) {
        const char *thread = sql_is_null(s, 2) ? id : sql_text(s, 2); /* schema 1: its own */
        long long turn = sql_int(s, 3);
        if (strlen(thread) > DX_HTTP_MAX_ID || turn < 1 || turn > DB_MAX_THREAD_TURNS)
            st = dx_fail(DX_EINTERNAL, "question %s has no text or no place in a thread", id);
        snprintf(out->thread, sizeof out->thread, "%s", thread);
        out->turn = (int)turn;
        snprintf(out->created_at, sizeof out->created_at, "%s", sql_text(s, 4));
    }
    sql_finalize(s);
    db_put(d, c);
    return st;
}

/* The turn of the current row: id, turn, the question (the analysis's
 * reading when result has one) and the written answer. */
static dx_status read_turn(sql_stmt *s, db_turn *t)
{
    snprintf(t->id, sizeof t->id, "%s", sql_text(s, 0));
    t->turn = (int)sql_int(s, 1);
    const char *res = sql_text(s, 3);
    json_t *r = res ? json_loads(res, 0, NULL) : NULL;
    const char *q = json_string_value(json_object_get(r, "question"));
    const char *a = json_string_value(json_object_get(r, "answer"));
    t->question = strdup(q ? q : sql_text(s, 2));
    t->answer = a ? strdup(a) : NULL;
    json_decref(r);
    return t->question && (t->answer || !a) ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}

dx_status db_thread_turns(db *d, const char *thread, db_thread *out)
{
    memset(out, 0, sizeof *out);
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT q.id, q.turn, q.question, a.result FROM questions q LEFT JOIN "
                            "analyses a ON a.question_id = q.id WHERE q.thread_id = ? "
                            "ORDER BY q.turn",
                            "t", thread);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row) {
        if (out->n == DB_MAX_THREAD_TURNS) {
            st =
                dx_fail(DX_ELIMIT, "thread %s has more than %d turns", thread, DB_MAX_THREAD_TURNS);
            break;
        }
        st = read_turn(s, &out->turns[out->n++]);
    }
    sql_finalize(s);
    db_put(d, c);
    if (st)
        dx_wrap(st, "read thread");
    else if (!out->n)
        st = dx_fail(DX_ENOTFOUND, "no thread with id '%s'", thread);
    return st;
}

dx_status db_thread_get(db *d, const char *thread, bool with_texts, json_t **out)
{
    *out = NULL;
    json_t *ids = json_array();
    if (!ids)
        return dx_fail(DX_ENOMEM, "out of memory");
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st =
        sql_prep(c, &s, "SELECT id FROM questions WHERE thread_id = ? ORDER BY turn", "t", thread);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row)
        if (json_array_append_new(ids, col_str(s, 0)))
            st = dx_fail(DX_ENOMEM, "out of memory");
    sql_finalize(s);
    if (!st && !json_array_size(ids))
        st = dx_fail(DX_ENOTFOUND, "no thread with id '%s'", thread);
    db_put(d, c);
    json_t *turns = st ? NULL : json_array();
    if (!st && !turns)
        st = dx_fail(DX_ENOMEM, "out of memory");
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj)
    {
        json_t *q;
        if (st)
            break;
        /* a turn deleted between the two reads is simply not there */
        dx_status qst = db_question_get(d, json_string_value(idj), with_texts, &q);
        if (qst == DX_ENOTFOUND)
            continue;
        if ((st = qst) == DX_OK && json_array_append_new(turns, q))
            st = dx_fail(DX_ENOMEM, "out of memory");
    }
    json_decref(ids);
    if (!st && !json_array_size(turns))
        st = dx_fail(DX_ENOTFOUND, "no thread with id '%s'", thread);
    if (st)
        json_decref(turns);
    else
        *out = turns;
    return st;
}

/* ---- several instances on one store ---- */

const char *db_instance(db *d)
{
    return d->instance;
}

/* The statuses of an unfinished question, as parameters ?2 and ?3 follow. */
#define UNFINISHED_SQL "status IN (?2, ?3)"

/* Marks question id interrupted when it is still unfinished, with its last
 * events; *done whether this call did it (another instance may have). Caller
 * holds c, inside a transaction on it. */
static dx_status reap_one(db *d, sql *c, const char *id, bool *done)
{
    static const char msg[] = "the drux instance running this question stopped";
    long long changed = 0;
    *done = false;
    dx_status st = sql_do(
        c, &changed,
        "UPDATE questions SET status = ?4, error = ?5 WHERE id = ?1 AND " UNFINISHED_SQL, "ttttt",
        id, question_status_str(QUESTION_QUEUED), question_status_str(QUESTION_RUNNING),
        question_status_str(QUESTION_INTERRUPTED), msg);
    if (st || !changed)
        return st;
    *done = true;
    if (d->kind != SQL_POSTGRES)
        return DX_OK; /* events are kept for followers on other instances only */
    json_t *e = json_pack("{s:s, s:s}", "code", "interrupted", "message", msg);
    char *data = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (!data)
        return dx_oom("store");
    const char *ins = "INSERT INTO events(question_id, seq, name, data) SELECT ?1, "
                      "COALESCE(MAX(seq), 0) + 1, ?2, ?3 FROM events WHERE question_id = ?1";
    st = sql_do(c, NULL, ins, "ttt", id, "error", data);
    if (!st)
        st = sql_do(c, NULL, ins, "ttn", id, "end");
    free(data);
    char note[DX_HTTP_MAX_ID + 8];
    snprintf(note, sizeof note, "e %.32s", id);
    if (!st)
        st = sql_notify(c, "drux", note);
    return st;
}

dx_status db_heartbeat(db *d, int capacity, long long lease_ms, int *reaped)
{
    if (reaped)
        *reaped = 0;
    long long now = wall_ms();
    char ids[64][DX_HTTP_MAX_ID + 1];
    int n = 0;
    sql *c = db_take(d);
    long long changed = 0;
    dx_status st =
        sql_do(c, &changed, "UPDATE instances SET seen_ms = ?, capacity = ? WHERE id = ?", "iit",
               now, (long long)capacity, d->instance);
    if (!st && !changed) { /* taken for dead while it was stalled: here again */
        char t[32];
        utc_now(t);
        st = sql_do(c, NULL,
                    "INSERT INTO instances(id, started_at, seen_ms, capacity) VALUES(?, ?, ?, ?)",
                    "ttii", d->instance, t, now, (long long)capacity);
    }
    /* the unfinished questions of instances not heard from within the lease
     * (a released one, queued for anyone, waits for a live instance) */
    sql_stmt *s = NULL;
    if (!st)
        st = sql_prep(c, &s,
                      "SELECT id FROM questions WHERE " UNFINISHED_SQL
                      " AND (instance NOT IN (SELECT id FROM instances WHERE seen_ms > ?1) OR "
                      "(instance IS NULL AND status = ?3)) ORDER BY seq LIMIT 64",
                      "itt", now - lease_ms, question_status_str(QUESTION_QUEUED),
                      question_status_str(QUESTION_RUNNING));
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row)
        snprintf(ids[n++], sizeof ids[0], "%s", sql_text(s, 0));
    sql_finalize(s);
    for (int i = 0; !st && i < n; i++) {
        bool done = false;
        if (!(st = sql_begin(c)) && !(st = reap_one(d, c, ids[i], &done)))
            st = sql_commit(c);
        if (st)
            sql_rollback(c);
        if (done && reaped)
            (*reaped)++;
    }
    /* long-dead instances and idle rate buckets go */
    if (!st)
        st = sql_do(c, NULL, "DELETE FROM instances WHERE seen_ms < ?", "i", now - 10 * lease_ms);
    if (!st)
        st = sql_do(c, NULL, "DELETE FROM rate_buckets WHERE updated_ms < ?", "i",
                    now - 3600 * 1000LL);
    db_put(d, c);
    return st ? dx_wrap(st, "heartbeat") : DX_OK;
}

dx_status db_load(db *d, long long lease_ms, int *active, int *capacity)
{
    *active = *capacity = 0;
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT (SELECT count(*) FROM questions WHERE " UNFINISHED_SQL "), "
                            "(SELECT COALESCE(SUM(capacity), 0) FROM instances WHERE seen_ms > ?1)",
                            "itt", wall_ms() - lease_ms, question_status_str(QUESTION_QUEUED),
                            question_status_str(QUESTION_RUNNING));
    bool row = false;
    if (!st)
        st = sql_step(s, &row);
    if (!st && row) {
        *active = (int)sql_int(s, 0);
        *capacity = (int)sql_int(s, 1);
    }
    sql_finalize(s);
    db_put(d, c);
    return st ? dx_wrap(st, "load") : DX_OK;
}

dx_status db_question_release(db *d, const char *id)
{
    const char *queued = question_status_str(QUESTION_QUEUED);
    char note[DX_HTTP_MAX_ID + 8];
    snprintf(note, sizeof note, "q %.32s", id);
    long long changed = 0;
    sql *c = db_take(d);
    /* PostgreSQL: the release and its notification in one round trip */
    dx_status st =
        d->kind == SQL_POSTGRES
            ? sql_do(c, &changed,
                     "WITH r AS (UPDATE questions SET instance = NULL WHERE id = ?1 AND "
                     "instance = ?2 AND status = ?3 RETURNING id) SELECT pg_notify('drux', ?4) "
                     "FROM r",
                     "tttt", id, d->instance, queued, note)
            : sql_do(c, &changed,
                     "UPDATE questions SET instance = NULL WHERE id = ?1 AND instance = ?2 AND "
                     "status = ?3",
                     "ttt", id, d->instance, queued);
    db_put(d, c);
    if (st)
        return dx_wrap(st, "release question");
    return changed ? DX_OK : dx_fail(DX_ENOTFOUND, "no queued question '%s' of this instance", id);
}

dx_status db_question_context_set(db *d, const char *id, const char *turns_json)
{
    long long changed = 0;
    sql *c = db_take(d);
    dx_status st =
        sql_do(c, &changed, "UPDATE questions SET context = ? WHERE id = ?", "tt", turns_json, id);
    db_put(d, c);
    if (st)
        return dx_wrap(st, "save context");
    return changed ? DX_OK : dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
}

dx_status db_question_context(db *d, const char *id, char **turns_json)
{
    *turns_json = NULL;
    sql *c = db_take(d);
    sql_stmt *s = NULL;
    dx_status st = question_row(c, "SELECT context FROM questions WHERE id = ?", id, &s);
    const char *t = st ? NULL : sql_text(s, 0);
    if (t && !(*turns_json = strdup(t)))
        st = dx_oom("store");
    sql_finalize(s);
    db_put(d, c);
    return st;
}

dx_status db_question_claim(db *d, char id[DX_HTTP_MAX_ID + 1], bool *got)
{
    *got = false;
    id[0] = '\0';
    const bool pg = d->kind == SQL_POSTGRES;
    /* one statement: PostgreSQL skips the rows another instance is claiming
     * at this moment (the recheck of instance IS NULL covers the rest);
     * SQLite has one writer at a time */
    char text[400];
    snprintf(text, sizeof text,
             "UPDATE questions SET instance = ?1 WHERE id = (SELECT id FROM questions WHERE "
             "status = ?2 AND instance IS NULL ORDER BY seq LIMIT 1%s) AND status = ?2 AND "
             "instance IS NULL RETURNING id",
             pg ? " FOR UPDATE SKIP LOCKED" : "");
    sql *c = db_take(d);
    sql_stmt *s;
    bool row = false;
    dx_status st = sql_prep(c, &s, text, "tt", d->instance, question_status_str(QUESTION_QUEUED));
    if (!st)
        st = sql_step(s, &row);
    if (!st && row) {
        snprintf(id, DX_HTTP_MAX_ID + 1, "%s", sql_text(s, 0));
        *got = true;
    }
    if (!st && row) /* to the statement's end: SQLite writes it then */
        st = sql_run(s);
    sql_finalize(s);
    db_put(d, c);
    if (st)
        *got = false;
    return st ? dx_wrap(st, "claim question") : DX_OK;
}

dx_status db_event_add(db *d, const char *id, long long seq, const char *name, const char *data)
{
    char note[DX_HTTP_MAX_ID + 8];
    snprintf(note, sizeof note, "e %.32s", id);
    sql *c = db_take(d);
    /* PostgreSQL: the row and its notification in one round trip */
    dx_status st =
        d->kind == SQL_POSTGRES
            ? sql_do(c, NULL,
                     "WITH e AS (INSERT INTO events(question_id, seq, name, data) "
                     "VALUES(?1, ?2, ?3, ?4) RETURNING seq) SELECT pg_notify('drux', ?5) FROM e",
                     "titt"
                     "t",
                     id, seq, name, data, note)
            : sql_do(c, NULL,
                     "INSERT INTO events(question_id, seq, name, data) SELECT ?1, ?2, ?3, ?4 "
                     "WHERE EXISTS (SELECT 1 FROM questions WHERE id = ?1)",
                     "titt", id, seq, name, data);
    db_put(d, c);
    return st ? dx_wrap(st, "event") : DX_OK;
}

struct db_posted {
    struct db_posted *next;
    char id[DX_HTTP_MAX_ID + 1];
    char name[24];
    long long seq;
    char *data; /* NULL for none */
    size_t bytes;
};

#define BATCH 16 /* events per statement: 4 parameters each, within the seam's 64 */

/* Stores up to BATCH queued events in one statement with one notification
 * per question. Caller holds c. */
static dx_status write_batch(sql *c, struct db_posted **ev, int n)
{
    char text[2048];
    size_t o = (size_t)snprintf(text, sizeof text,
                                "WITH e AS (INSERT INTO events(question_id, seq, name, data) "
                                "SELECT v.q, v.s, v.n, v.d FROM (VALUES ");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s(?%d, ?%d, ?%d, ?%d)", i ? ", " : "",
                              4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4);
    snprintf(
        text + o, sizeof text - o,
        ") AS v(q, s, n, d) WHERE EXISTS (SELECT 1 FROM questions WHERE id = v.q) "
        "ON CONFLICT DO NOTHING RETURNING question_id) "
        "SELECT pg_notify('drux', 'e ' || q) FROM (SELECT DISTINCT question_id AS q FROM e) x");
    sql_stmt *s;
    dx_status st = sql_prep(c, &s, text, "");
    for (int i = 0; !st && i < n; i++) {
        sql_bind_text(s, 4 * i + 1, ev[i]->id);
        sql_bind_int(s, 4 * i + 2, ev[i]->seq);
        sql_bind_text(s, 4 * i + 3, ev[i]->name);
        sql_bind_text(s, 4 * i + 4, ev[i]->data);
    }
    if (!st)
        st = sql_run(s);
    sql_finalize(s);
    return st;
}

static void *event_writer(void *arg)
{
    db *d = arg;
    pthread_mutex_lock(&d->qmu);
    for (;;) {
        while (!d->qhead && !d->qstop)
            pthread_cond_wait(&d->qcond, &d->qmu);
        if (!d->qhead)
            break; /* stopping, all written */
        struct db_posted *ev[BATCH];
        int n = 0;
        while (d->qhead && n < BATCH) {
            ev[n] = d->qhead;
            d->qhead = d->qhead->next;
            n++;
        }
        if (!d->qhead)
            d->qtail = NULL;
        pthread_mutex_unlock(&d->qmu);
        sql *c = db_take(d);
        dx_status st = write_batch(c, ev, n);
        db_put(d, c);
        if (st)
            log_warn("store: events of %s: %s", ev[0]->id, dx_errmsg());
        pthread_mutex_lock(&d->qmu);
        for (int i = 0; i < n; i++) {
            d->qbytes -= ev[i]->bytes;
            free(ev[i]->data);
            free(ev[i]);
        }
        pthread_cond_broadcast(&d->qcond); /* room for waiting posters */
    }
    pthread_mutex_unlock(&d->qmu);
    return NULL;
}

dx_status db_event_post(db *d, const char *id, long long seq, const char *name, const char *data)
{
    if (d->kind != SQL_POSTGRES)
        return db_event_add(d, id, seq, name, data);
    struct db_posted *e = calloc(1, sizeof *e);
    if (!e || (data && !(e->data = strdup(data)))) {
        free(e);
        return dx_oom("store");
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->seq = seq;
    e->bytes = sizeof *e + (data ? strlen(data) : 0);
    dx_status st = DX_OK;
    pthread_mutex_lock(&d->qmu);
    if (!d->qthread) {
        if (pthread_create(&d->writer, NULL, event_writer, d))
            st = dx_fail(DX_ENOMEM, "store: can't start the event writer");
        else
            d->qthread = true;
    }
    while (!st && d->qbytes > DB_EVENT_QUEUE_BYTES && !d->qstop)
        pthread_cond_wait(&d->qcond, &d->qmu);
    if (!st && d->qstop)
        st = dx_fail(DX_ECANCELLED, "store: closing");
    if (!st) {
        if (d->qtail)
            d->qtail->next = e;
        else
            d->qhead = e;
        d->qtail = e;
        d->qbytes += e->bytes;
        pthread_cond_broadcast(&d->qcond);
    }
    pthread_mutex_unlock(&d->qmu);
    if (st) {
        free(e->data);
        free(e);
    }
    return st;
}

dx_status db_events_since(db *d, const char *id, long long after_seq, db_event_fn fn, void *user)
{
    sql *c = db_take(d);
    sql_stmt *s;
    dx_status st = sql_prep(c, &s,
                            "SELECT seq, name, data FROM events WHERE question_id = ? AND seq > ? "
                            "ORDER BY seq",
                            "ti", id, after_seq);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row) {
        const char *data = sql_text(s, 2);
        size_t len = data ? sql_bytes(s, 2) : 0;
        fn(user, sql_int(s, 0), sql_text(s, 1), data, len);
    }
    sql_finalize(s);
    db_put(d, c);
    return st ? dx_wrap(st, "read events") : DX_OK;
}

dx_status db_notify_deleted(db *d, const char *id)
{
    if (d->kind != SQL_POSTGRES)
        return DX_OK;
    char note[DX_HTTP_MAX_ID + 8];
    snprintf(note, sizeof note, "d %.32s", id);
    sql *c = db_take(d);
    dx_status st = sql_notify(c, "drux", note);
    db_put(d, c);
    return st;
}

dx_status db_rate_take(db *d, const char *client, int per_min, int burst, bool *ok)
{
    *ok = false;
    long long now = wall_ms(), full = (long long)burst * 1000;
    /* a bucket in thousandths of a request, refilled per_min/60 thousandths a
     * millisecond; one statement, so instances never race on it */
    sql *c = db_take(d);
    long long changed = 0;
    dx_status st = sql_do(
        c, &changed,
        "INSERT INTO rate_buckets(client, milli, updated_ms) VALUES(?1, ?3 - 1000, ?2) "
        "ON CONFLICT(client) DO UPDATE SET "
        "milli = (CASE WHEN rate_buckets.milli + (?2 - rate_buckets.updated_ms) * ?4 / 60 > ?3 "
        "  THEN ?3 ELSE rate_buckets.milli + (CASE WHEN ?2 > rate_buckets.updated_ms THEN "
        "  (?2 - rate_buckets.updated_ms) * ?4 / 60 ELSE 0 END) END) - 1000, "
        "updated_ms = (CASE WHEN ?2 > rate_buckets.updated_ms THEN ?2 ELSE "
        "  rate_buckets.updated_ms END) "
        "WHERE (CASE WHEN rate_buckets.milli + (?2 - rate_buckets.updated_ms) * ?4 / 60 > ?3 "
        "  THEN ?3 ELSE rate_buckets.milli + (CASE WHEN ?2 > rate_buckets.updated_ms THEN "
        "  (?2 - rate_buckets.updated_ms) * ?4 / 60 ELSE 0 END) END) >= 1000",
        "tiii", client, now, full, (long long)per_min);
    db_put(d, c);
    if (st)
        return dx_wrap(st, "rate limit");
    *ok = changed > 0;
    return DX_OK;
}

struct db_listener {
    sql *c;
};

dx_status db_listener_open(db *d, db_listener **out)
{
    *out = NULL;
    if (d->kind != SQL_POSTGRES)
        return dx_fail(DX_EUNSUPPORTED, "store: only a PostgreSQL store has listeners");
    db_listener *l = calloc(1, sizeof *l);
    if (!l)
        return dx_oom("store");
    dx_status st = sql_open(d->target, &l->c);
    if (!st)
        st = sql_listen(l->c, "drux");
    if (st) {
        db_listener_close(l);
        return st;
    }
    *out = l;
    return DX_OK;
}

dx_status db_listener_wait(db_listener *l, int timeout_ms, char *kind, char *id, size_t id_cap,
                           bool *got)
{
    char note[DX_HTTP_MAX_ID + 8];
    dx_status st = sql_wait_notify(l->c, timeout_ms, note, sizeof note, got);
    if (st || !*got)
        return st;
    /* "e ID", "d ID" or "q ID"; anything else is not ours */
    if (!strchr("edq", note[0]) || !note[0] || note[1] != ' ' || !note[2]) {
        *got = false;
        return DX_OK;
    }
    *kind = note[0];
    snprintf(id, id_cap, "%s", note + 2);
    return DX_OK;
}

void db_listener_close(db_listener *l)
{
    if (!l)
        return;
    sql_close(l->c);
    free(l);
}
