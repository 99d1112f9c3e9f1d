#include "store/db.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
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

static dx_status sqlfail(db *d, const char *what)
{
    return dx_fail(DX_EIO, "store: %s: %s", what, sqlite3_errmsg(d->h));
}

static dx_status exec(db *d, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &err) != SQLITE_OK) {
        dx_status st = dx_fail(DX_EIO, "store: %s", err ? err : sqlite3_errmsg(d->h));
        sqlite3_free(err);
        return st;
    }
    return DX_OK;
}

static int user_version(db *d)
{
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_prepare_v2(d->h, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static dx_status migrate(db *d)
{
    int v = user_version(d);
    if (v < 0)
        return sqlfail(d, "reading the schema version");
    if (v > DB_SCHEMA_VERSION)
        return dx_fail(DX_EUNSUPPORTED,
                       "store: schema version %d is newer than this drux knows (%d); use a newer "
                       "drux or another --db",
                       v, DB_SCHEMA_VERSION);
    for (; v < DB_SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        dx_status st = exec(d, "BEGIN IMMEDIATE");
        if (!st)
            st = exec(d, migrations[v]);
        if (!st)
            st = exec(d, pragma);
        if (!st)
            st = exec(d, "COMMIT");
        if (st) {
            sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
            return dx_wrap(st, "migrating to schema %d", v + 1);
        }
    }
    return DX_OK;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t);

/* The process that ran a queued or running question is gone: mark it interrupted. */
static dx_status interrupt_unfinished(db *d)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->h,
                           "UPDATE questions SET status = ?1, error = ?2 WHERE status IN (?3, ?4)",
                           -1, &s, NULL) != SQLITE_OK)
        return sqlfail(d, "mark interrupted questions");
    bind_text(s, 1, question_status_str(QUESTION_INTERRUPTED));
    bind_text(s, 2, "the server stopped before this question finished");
    bind_text(s, 3, question_status_str(QUESTION_QUEUED));
    bind_text(s, 4, question_status_str(QUESTION_RUNNING));
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? DX_OK : sqlfail(d, "mark interrupted questions");
}

dx_status db_open(const char *path, db **out)
{
    *out = NULL;
    db *d = calloc(1, sizeof *d);
    if (!d)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    dx_status st = DX_OK;
    if (sqlite3_open_v2(path, &d->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        st = dx_fail(DX_EIO, "store: can't open %s: %s", path,
                     d->h ? sqlite3_errmsg(d->h) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(d->h, 5000);
    /* WAL: readers don't block the writer; NORMAL sync is durable across a
     * process crash (kill -9), which is what the store promises. */
    if ((st = exec(d, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                      "PRAGMA foreign_keys = ON;")))
        goto out;
    if ((st = migrate(d)))
        goto out;
    if ((st = interrupt_unfinished(d)))
        goto out;
out:
    if (st) {
        dx_wrap(st, "%s", path);
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
    sqlite3_close(d->h);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int db_schema_version(db *d)
{
    pthread_mutex_lock(&d->mu);
    int v = user_version(d);
    pthread_mutex_unlock(&d->mu);
    return v;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

/* Runs a query with one parameter, the question id, and steps to its row:
 * DX_ENOTFOUND when there is none. *s is set even on failure (finalize it). */
static dx_status question_row(db *d, const char *sql, const char *id, sqlite3_stmt **s)
{
    *s = NULL;
    if (sqlite3_prepare_v2(d->h, sql, -1, s, NULL))
        return sqlfail(d, "read question");
    bind_text(*s, 1, id);
    int rc = sqlite3_step(*s);
    if (rc == SQLITE_DONE)
        return dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
    if (rc != SQLITE_ROW)
        return sqlfail(d, "read question");
    return DX_OK;
}

/* Runs one statement to completion. */
static dx_status step_done(db *d, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? DX_OK : sqlfail(d, what);
}

/* The member selection as stored: a JSON array of names, malloc'd; NULL for none. */
static dx_status selection_json(const char *const *members, size_t n, char **out)
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

/* Inserts a queued question as turn `turn` of thread_id, owned by owner (0:
 * anonymous) with its share token. Caller holds the lock. */
static dx_status insert_locked(db *d, const char *id, const char *question, const char *sel,
                               const char *created_at, const char *thread_id, long long turn,
                               long long owner, const char *share)
{
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (sqlite3_prepare_v2(d->h,
                           "INSERT INTO questions(id, question, members_sel, status, created_at, "
                           "owner, share, thread_id, turn) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &s, NULL) != SQLITE_OK) {
        st = sqlfail(d, "insert question");
        goto out;
    }
    bind_text(s, 1, id);
    bind_text(s, 2, question);
    bind_text(s, 3, sel);
    bind_text(s, 4, question_status_str(QUESTION_QUEUED));
    bind_text(s, 5, created_at);
    if (owner > 0)
        sqlite3_bind_int64(s, 6, owner);
    else
        sqlite3_bind_null(s, 6);
    bind_text(s, 7, owner > 0 ? share : NULL);
    bind_text(s, 8, thread_id);
    sqlite3_bind_int64(s, 9, turn);
    st = step_done(d, s, "insert question");
out:
    sqlite3_finalize(s);
    return st;
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
    dx_status st = selection_json(members, n_members, &sel);
    if (st)
        return st;
    pthread_mutex_lock(&d->mu);
    st = insert_locked(d, id, question, sel, created_at, id, 1, owner, share);
    pthread_mutex_unlock(&d->mu);
    free(sel);
    return st;
}

/* The thread, turn and status of question id, and the last turn of its
 * thread; with owner, also who owns it and its share token (share_cap
 * bytes). Caller holds the lock. */
static dx_status owner_position_locked(db *d, const char *id, char thread[DX_HTTP_MAX_ID + 1],
                                       long long *turn, long long *last, question_status *status,
                                       long long *owner, char *share, size_t share_cap)
{
    sqlite3_stmt *s = NULL;
    dx_status st = question_row(d,
                                "SELECT q.thread_id, q.turn, q.status, (SELECT MAX(t.turn) FROM "
                                "questions t WHERE t.thread_id = q.thread_id), q.owner, q.share "
                                "FROM questions q WHERE q.id = ?",
                                id, &s);
    if (!st) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(thread, DX_HTTP_MAX_ID + 1, "%s", t ? (const char *)t : id);
        *turn = sqlite3_column_int64(s, 1);
        *last = sqlite3_column_int64(s, 3);
        if (!question_status_parse((const char *)sqlite3_column_text(s, 2), status))
            *status = QUESTION_INTERRUPTED;
        if (owner)
            *owner = sqlite3_column_int64(s, 4);
        const unsigned char *sh = sqlite3_column_text(s, 5);
        if (share)
            snprintf(share, share_cap, "%s", sh ? (const char *)sh : "");
    }
    sqlite3_finalize(s);
    return st;
}

/* As owner_position_locked without the owner. */
static dx_status position_locked(db *d, const char *id, char thread[DX_HTTP_MAX_ID + 1],
                                 long long *turn, long long *last, question_status *status)
{
    return owner_position_locked(d, id, thread, turn, last, status, NULL, NULL, 0);
}

dx_status db_question_position(db *d, const char *id, char thread[DX_HTTP_MAX_ID + 1], int *turn,
                               int *last_turn)
{
    long long t = 0, last = 0;
    question_status qs;
    pthread_mutex_lock(&d->mu);
    dx_status st = position_locked(d, id, thread, &t, &last, &qs);
    pthread_mutex_unlock(&d->mu);
    *turn = (int)t;
    *last_turn = (int)last;
    return st;
}

dx_status db_followup_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at,
                             const char *parent, char thread[DX_HTTP_MAX_ID + 1], int *turn)
{
    char *sel;
    dx_status st = selection_json(members, n_members, &sel);
    if (st)
        return st;
    long long pturn = 0, last = 0, owner = 0;
    char share[128];
    question_status pst;
    pthread_mutex_lock(&d->mu);
    if ((st = exec(d, "BEGIN IMMEDIATE")))
        goto out;
    if ((st = owner_position_locked(d, parent, thread, &pturn, &last, &pst, &owner, share,
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
    if ((st = insert_locked(d, id, question, sel, created_at, thread, last + 1, owner, share)))
        goto out;
    st = exec(d, "COMMIT");
    *turn = (int)(last + 1);
out:
    if (st)
        sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&d->mu);
    free(sel);
    return st;
}

dx_status db_question_set_status(db *d, const char *id, question_status status, const char *error)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (sqlite3_prepare_v2(d->h, "UPDATE questions SET status = ?, error = ? WHERE id = ?", -1, &s,
                           NULL)) {
        st = sqlfail(d, "update status");
        goto out;
    }
    bind_text(s, 1, question_status_str(status));
    bind_text(s, 2, error);
    bind_text(s, 3, id);
    st = step_done(d, s, "update status");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

/* Caller holds the lock. */
static dx_status member_save_locked(db *d, const char *id, int index, const db_member *m)
{
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (!m->name || !m->status)
        return dx_fail(DX_EARG, "store: member %d of %s has no name or status", index, id);
    if (sqlite3_prepare_v2(d->h,
                           "INSERT OR REPLACE INTO members(question_id, idx, name, model, status, "
                           "error, latency_ms, tokens, ttft_ms, text, context_turns, "
                           "context_dropped) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &s, NULL) != SQLITE_OK) {
        st = sqlfail(d, "save member");
        goto out;
    }
    bind_text(s, 1, id);
    sqlite3_bind_int(s, 2, index);
    bind_text(s, 3, m->name);
    bind_text(s, 4, m->model ? m->model : "");
    bind_text(s, 5, m->status);
    bind_text(s, 6, m->error);
    sqlite3_bind_int64(s, 7, m->latency_ms);
    sqlite3_bind_int64(s, 8, m->tokens);
    sqlite3_bind_int64(s, 9, m->ttft_ms);
    if (m->text)
        sqlite3_bind_text(s, 10, m->text, (int)m->text_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_text(s, 10, "", 0, SQLITE_STATIC);
    sqlite3_bind_int(s, 11, m->context_turns);
    sqlite3_bind_int(s, 12, m->context_dropped);
    st = step_done(d, s, "save member");
out:
    sqlite3_finalize(s);
    return st;
}

dx_status db_member_save(db *d, const char *id, int index, const db_member *member)
{
    pthread_mutex_lock(&d->mu);
    dx_status st = member_save_locked(d, id, index, member);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_question_finish(db *d, const db_finish *f)
{
    const char *result = f->result;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    dx_status st = exec(d, "BEGIN IMMEDIATE");
    if (st)
        goto out;
    if (sqlite3_prepare_v2(d->h,
                           "UPDATE questions SET status = ?, error = ?, finished_at = ? "
                           "WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK) {
        st = sqlfail(d, "finish question");
        goto out;
    }
    bind_text(s, 1, question_status_str(f->status));
    bind_text(s, 2, f->error);
    bind_text(s, 3, f->finished_at);
    bind_text(s, 4, f->id);
    if ((st = step_done(d, s, "finish question")))
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    for (size_t i = 0; i < f->n_members; i++)
        if ((st = member_save_locked(d, f->id, (int)i, &f->members[i])))
            goto out;
    if (result) {
        if (sqlite3_prepare_v2(d->h,
                               "INSERT OR REPLACE INTO analyses(question_id, label, "
                               "consensus, result) VALUES(?,?,?,?)",
                               -1, &s, NULL)) {
            st = sqlfail(d, "save analysis");
            goto out;
        }
        bind_text(s, 1, f->id);
        bind_text(s, 2, f->label);
        if (f->has_consensus)
            sqlite3_bind_int64(s, 3, f->consensus);
        else
            sqlite3_bind_null(s, 3);
        bind_text(s, 4, result);
        if ((st = step_done(d, s, "save analysis")))
            goto out;
        sqlite3_finalize(s);
        s = NULL;
    }
    if (sqlite3_prepare_v2(d->h,
                           "INSERT OR REPLACE INTO timings(question_id, queued_ms, "
                           "asking_ms, analyzing_ms, synthesizing_ms, total_ms) "
                           "VALUES(?,?,?,?,?,?)",
                           -1, &s, NULL)) {
        st = sqlfail(d, "save timings");
        goto out;
    }
    bind_text(s, 1, f->id);
    sqlite3_bind_int64(s, 2, f->queued_ms);
    sqlite3_bind_int64(s, 3, f->asking_ms);
    sqlite3_bind_int64(s, 4, f->analyzing_ms);
    sqlite3_bind_int64(s, 5, f->synthesizing_ms);
    sqlite3_bind_int64(s, 6, f->total_ms);
    if ((st = step_done(d, s, "save timings")))
        goto out;
    st = exec(d, "COMMIT");
out:
    sqlite3_finalize(s);
    if (st)
        sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&d->mu);
    return st;
}

static json_t *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? json_string((const char *)t) : json_null();
}

/* Members of one question, in order. Caller holds the lock. */
static dx_status members_locked(db *d, const char *id, bool with_texts, json_t *arr)
{
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (sqlite3_prepare_v2(d->h,
                           "SELECT name, model, status, error, latency_ms, tokens, ttft_ms, "
                           "text, context_turns, context_dropped FROM members WHERE question_id "
                           "= ? ORDER BY idx",
                           -1, &s, NULL)) {
        st = sqlfail(d, "read members");
        goto out;
    }
    bind_text(s, 1, id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *m = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", col_str(s, 0), "model",
                              col_str(s, 1), "status", col_str(s, 2), "error", col_str(s, 3),
                              "latency_ms", (json_int_t)sqlite3_column_int64(s, 4), "tokens",
                              (json_int_t)sqlite3_column_int64(s, 5), "ttft_ms",
                              (json_int_t)sqlite3_column_int64(s, 6));
        if (m && with_texts)
            json_object_set_new(m, "text", col_str(s, 7));
        if (m) {
            json_object_set_new(m, "context_turns", json_integer(sqlite3_column_int(s, 8)));
            json_object_set_new(m, "context_dropped", json_integer(sqlite3_column_int(s, 9)));
        }
        if (!m || json_array_append_new(arr, m)) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        st = sqlfail(d, "read members");
out:
    sqlite3_finalize(s);
    return st;
}

/* Columns: id, question, status, error, created_at, finished_at, members_sel, label, consensus,
 * thread_id, turn, result */
#define Q_COLS                                                                                     \
    "q.id, q.question, q.status, q.error, q.created_at, q.finished_at, q.members_sel, a.label, "   \
    "a.consensus, q.thread_id, q.turn, "
#define Q_RESULT 11

static json_t *row_question(sqlite3_stmt *s)
{
    json_t *q = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(s, 0), "question",
                          col_str(s, 1), "status", col_str(s, 2), "error", col_str(s, 3),
                          "created_at", col_str(s, 4), "finished_at", col_str(s, 5));
    if (!q)
        return NULL;
    const unsigned char *sel = sqlite3_column_text(s, 6);
    json_t *selj = sel ? json_loads((const char *)sel, 0, NULL) : NULL;
    json_object_set_new(q, "asked", selj ? selj : json_null());
    json_object_set_new(q, "thread",
                        sqlite3_column_type(s, 9) == SQLITE_NULL
                            ? json_incref(json_object_get(q, "id"))
                            : col_str(s, 9));
    json_object_set_new(q, "turn", json_integer(sqlite3_column_int64(s, 10)));
    return q;
}

dx_status db_question_get(db *d, const char *id, bool with_texts, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    json_t *q = NULL;
    dx_status st = DX_OK;
    if ((st = question_row(d,
                           "SELECT " Q_COLS "a.result FROM questions q LEFT JOIN analyses a "
                           "ON a.question_id = q.id WHERE q.id = ?",
                           id, &s)))
        goto out;
    if (!(q = row_question(s))) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    const unsigned char *res = sqlite3_column_text(s, Q_RESULT);
    json_t *rj = res ? json_loads((const char *)res, 0, NULL) : NULL;
    json_object_set_new(q, "result", rj ? rj : json_null());
    json_t *members = json_array();
    json_object_set_new(q, "members", members);
    if (!members) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    st = members_locked(d, id, with_texts, members);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    if (st)
        json_decref(q);
    else
        *out = q;
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
    json_t *arr = json_array();
    if (!arr)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (sqlite3_prepare_v2(d->h,
                           "SELECT " Q_COLS
                           "NULL FROM questions q LEFT JOIN analyses a ON a.question_id = q.id "
                           "WHERE (q.owner = ?4 OR (?4 = 0 AND q.owner IS NULL)) "
                           "AND (?1 IS NULL OR instr(lower(q.question), lower(?1)) > 0) "
                           "AND (?2 IS NULL OR q.seq < (SELECT seq FROM questions WHERE id = ?2)) "
                           "ORDER BY q.seq DESC LIMIT ?3",
                           -1, &s, NULL)) {
        st = sqlfail(d, "list questions");
        goto out;
    }
    bind_text(s, 1, query && *query ? query : NULL);
    bind_text(s, 2, before && *before ? before : NULL);
    sqlite3_bind_int(s, 3, limit);
    sqlite3_bind_int64(s, 4, owner > 0 ? owner : 0);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *q = row_question(s);
        if (!q || json_array_append_new(arr, q)) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(q, "label", col_str(s, 7));
        json_object_set_new(q, "consensus",
                            sqlite3_column_type(s, 8) == SQLITE_NULL
                                ? json_null()
                                : json_integer(sqlite3_column_int(s, 8)));
    }
    if (rc != SQLITE_DONE)
        st = sqlfail(d, "list questions");
    size_t i;
    json_t *q;
    json_array_foreach(arr, i, q)
    {
        json_t *members = json_array();
        json_object_set_new(q, "members", members);
        if (!st && (!members || (st = members_locked(d, json_string_value(json_object_get(q, "id")),
                                                     false, members))))
            break;
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    if (st)
        json_decref(arr);
    else
        *out = arr;
    return st;
}

dx_status db_question_delete(db *d, const char *id)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    char thread[DX_HTTP_MAX_ID + 1];
    long long turn, last;
    question_status qs;
    dx_status st = position_locked(d, id, thread, &turn, &last, &qs);
    if (st)
        goto out;
    /* the question and every later turn of its thread, in one statement */
    if (sqlite3_prepare_v2(d->h, "DELETE FROM questions WHERE thread_id = ? AND turn >= ?", -1, &s,
                           NULL)) {
        st = sqlfail(d, "delete question");
        goto out;
    }
    bind_text(s, 1, thread);
    sqlite3_bind_int64(s, 2, turn);
    if ((st = step_done(d, s, "delete question")))
        goto out;
    if (sqlite3_changes(d->h) == 0)
        st = dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_question_source(db *d, const char *id, char **question, json_t **members)
{
    *question = NULL;
    *members = NULL;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if ((st = question_row(d, "SELECT question, members_sel FROM questions WHERE id = ?", id, &s)))
        goto out;
    *question = strdup((const char *)sqlite3_column_text(s, 0));
    const unsigned char *sel = sqlite3_column_text(s, 1);
    if (sel)
        *members = json_loads((const char *)sel, 0, NULL);
    if (!*question)
        st = dx_fail(DX_ENOMEM, "out of memory");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}

dx_status db_thread_get(db *d, const char *thread, bool with_texts, json_t **out)
{
    *out = NULL;
    json_t *ids = json_array();
    if (!ids)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *s = NULL;
    dx_status st = DX_OK;
    if (sqlite3_prepare_v2(d->h, "SELECT id FROM questions WHERE thread_id = ? ORDER BY turn", -1,
                           &s, NULL)) {
        st = sqlfail(d, "read thread");
        goto out;
    }
    bind_text(s, 1, thread);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (json_array_append_new(ids, col_str(s, 0))) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            goto out;
        }
    if (rc != SQLITE_DONE)
        st = sqlfail(d, "read thread");
    else if (!json_array_size(ids))
        st = dx_fail(DX_ENOTFOUND, "no thread with id '%s'", thread);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&d->mu);
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
