#include "store/db.h"

#include <jansson.h>
#include <pthread.h>
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

static dx_status migrate(db *d)
{
    /* one transaction: a second process opening the same database waits here
     * and then finds the schema current */
    dx_status st = sql_begin(d->c);
    int v = -1;
    if (!st)
        st = sql_lock_schema(d->c);
    if (!st)
        st = sql_schema_version(d->c, &v);
    if (st) {
        sql_rollback(d->c);
        return dx_wrap(st, "reading the schema version");
    }
    if (v > DB_SCHEMA_VERSION) {
        sql_rollback(d->c);
        return dx_fail(DX_EUNSUPPORTED,
                       "store: schema version %d is newer than this drux knows (%d); use a newer "
                       "drux or another --db",
                       v, DB_SCHEMA_VERSION);
    }
    for (; v < DB_SCHEMA_VERSION; v++) {
        if ((st = sql_exec_ddl(d->c, migrations[v])) ||
            (st = sql_schema_version_set(d->c, v + 1))) {
            sql_rollback(d->c);
            return dx_wrap(st, "migrating to schema %d", v + 1);
        }
    }
    return sql_commit(d->c);
}

/* The process that ran a queued or running question is gone: mark it interrupted. */
static dx_status interrupt_unfinished(db *d)
{
    return sql_do(d->c, NULL, "UPDATE questions SET status = ?, error = ? WHERE status IN (?, ?)",
                  "tttt", question_status_str(QUESTION_INTERRUPTED),
                  "the server stopped before this question finished",
                  question_status_str(QUESTION_QUEUED), question_status_str(QUESTION_RUNNING));
}

dx_status db_open(const char *path, db **out)
{
    *out = NULL;
    db *d = calloc(1, sizeof *d);
    if (!d)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    dx_status st = sql_open(path, &d->c);
    if (!st)
        st = migrate(d);
    if (!st)
        st = interrupt_unfinished(d);
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
    sql_close(d->c);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int db_schema_version(db *d)
{
    pthread_mutex_lock(&d->mu);
    int v = -1;
    sql_schema_version(d->c, &v);
    pthread_mutex_unlock(&d->mu);
    return v;
}

bool db_is_shared(db *d)
{
    return sql_kind_of(d->c) == SQL_POSTGRES;
}

/* Runs a query with one parameter, the question id, and steps to its row:
 * DX_ENOTFOUND when there is none. *s is set even on failure (finalize it). */
static dx_status question_row(db *d, const char *text, const char *id, sql_stmt **s)
{
    bool row = false;
    dx_status st = sql_prep(d->c, s, text, "t", id);
    if (!st)
        st = sql_step(*s, &row);
    if (st)
        return dx_wrap(st, "read question");
    if (!row)
        return dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
    return DX_OK;
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

dx_status db_question_insert(db *d, const char *id, const char *question,
                             const char *const *members, size_t n_members, const char *created_at)
{
    char *sel;
    dx_status st = selection_json(members, n_members, &sel);
    if (st)
        return st;
    pthread_mutex_lock(&d->mu);
    st = sql_do(d->c, NULL,
                "INSERT INTO questions(id, question, members_sel, status, created_at) "
                "VALUES(?, ?, ?, ?, ?)",
                "ttttt", id, question, sel, question_status_str(QUESTION_QUEUED), created_at);
    pthread_mutex_unlock(&d->mu);
    free(sel);
    return st ? dx_wrap(st, "insert question") : DX_OK;
}

dx_status db_question_set_status(db *d, const char *id, question_status status, const char *error)
{
    pthread_mutex_lock(&d->mu);
    dx_status st = sql_do(d->c, NULL, "UPDATE questions SET status = ?, error = ? WHERE id = ?",
                          "ttt", question_status_str(status), error, id);
    pthread_mutex_unlock(&d->mu);
    return st ? dx_wrap(st, "update status") : DX_OK;
}

/* Caller holds the lock. */
static dx_status member_save_locked(db *d, const char *id, int index, const db_member *m)
{
    if (!m->name || !m->status)
        return dx_fail(DX_EARG, "store: member %d of %s has no name or status", index, id);
    sql_stmt *s;
    dx_status st = sql_prep(
        d->c, &s,
        "INSERT INTO members(question_id, idx, name, model, status, error, latency_ms, tokens, "
        "ttft_ms, text) VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(question_id, idx) DO UPDATE SET "
        "name = excluded.name, model = excluded.model, status = excluded.status, "
        "error = excluded.error, latency_ms = excluded.latency_ms, tokens = excluded.tokens, "
        "ttft_ms = excluded.ttft_ms, text = excluded.text",
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
    st = sql_run(s);
    sql_finalize(s);
    return st ? dx_wrap(st, "save member") : DX_OK;
}

dx_status db_member_save(db *d, const char *id, int index, const db_member *member)
{
    pthread_mutex_lock(&d->mu);
    dx_status st = member_save_locked(d, id, index, member);
    pthread_mutex_unlock(&d->mu);
    return st;
}

/* The statements of db_question_finish after the status. Caller holds the
 * lock, inside the transaction. */
static dx_status finish_rows(db *d, const db_finish *f)
{
    dx_status st = DX_OK;
    for (size_t i = 0; !st && i < f->n_members; i++)
        st = member_save_locked(d, f->id, (int)i, &f->members[i]);
    if (!st && f->result) {
        const char *ins = "INSERT INTO analyses(question_id, label, consensus, result) "
                          "VALUES(?,?,?,?) ON CONFLICT(question_id) DO UPDATE SET "
                          "label = excluded.label, consensus = excluded.consensus, "
                          "result = excluded.result";
        st = f->has_consensus ? sql_do(d->c, NULL, ins, "ttit", f->id, f->label,
                                       (long long)f->consensus, f->result)
                              : sql_do(d->c, NULL, ins, "ttnt", f->id, f->label, f->result);
        if (st)
            return dx_wrap(st, "save analysis");
    }
    if (!st) {
        st = sql_do(d->c, NULL,
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
    pthread_mutex_lock(&d->mu);
    dx_status st = sql_begin(d->c);
    if (!st) {
        st = sql_do(d->c, NULL,
                    "UPDATE questions SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                    "tttt", question_status_str(f->status), f->error, f->finished_at, f->id);
        if (st)
            dx_wrap(st, "finish question");
    }
    if (!st)
        st = finish_rows(d, f);
    if (!st)
        st = sql_commit(d->c);
    if (st)
        sql_rollback(d->c);
    pthread_mutex_unlock(&d->mu);
    return st;
}

static json_t *col_str(sql_stmt *s, int i)
{
    const char *t = sql_text(s, i);
    return t ? json_stringn(t, sql_bytes(s, i)) : json_null();
}

/* Members of one question, in order. Caller holds the lock. */
static dx_status members_locked(db *d, const char *id, bool with_texts, json_t *arr)
{
    sql_stmt *s;
    dx_status st = sql_prep(d->c, &s,
                            "SELECT name, model, status, error, latency_ms, tokens, ttft_ms, "
                            "text FROM members WHERE question_id = ? ORDER BY idx",
                            "t", id);
    bool row;
    while (!st && !(st = sql_step(s, &row)) && row) {
        json_t *m = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", col_str(s, 0), "model",
                              col_str(s, 1), "status", col_str(s, 2), "error", col_str(s, 3),
                              "latency_ms", (json_int_t)sql_int(s, 4), "tokens",
                              (json_int_t)sql_int(s, 5), "ttft_ms", (json_int_t)sql_int(s, 6));
        if (m && with_texts)
            json_object_set_new(m, "text", col_str(s, 7));
        if (!m || json_array_append_new(arr, m))
            st = dx_fail(DX_ENOMEM, "out of memory");
    }
    sql_finalize(s);
    return st ? dx_wrap(st, "read members") : DX_OK;
}

/* Columns: id, question, status, error, created_at, finished_at, members_sel, label, consensus,
 * result */
#define Q_COLS                                                                                     \
    "q.id, q.question, q.status, q.error, q.created_at, q.finished_at, q.members_sel, a.label, "   \
    "a.consensus, "

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
    return q;
}

dx_status db_question_get(db *d, const char *id, bool with_texts, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&d->mu);
    sql_stmt *s = NULL;
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
    const char *res = sql_text(s, 9);
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
    st = members_locked(d, id, with_texts, members);
out:
    sql_finalize(s);
    pthread_mutex_unlock(&d->mu);
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

dx_status db_question_list(db *d, const char *query, int limit, const char *before, json_t **out)
{
    *out = NULL;
    bool oom;
    char *pattern = like_pattern(query, &oom);
    json_t *arr = json_array();
    if (!arr || oom) {
        json_decref(arr);
        free(pattern);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&d->mu);
    sql_stmt *s;
    dx_status st = sql_prep(
        d->c, &s,
        "SELECT " Q_COLS "NULL FROM questions q LEFT JOIN analyses a ON a.question_id = q.id "
        "WHERE (CAST(?1 AS TEXT) IS NULL OR lower(q.question) LIKE lower(?1) ESCAPE '\\') "
        "AND (CAST(?2 AS TEXT) IS NULL OR q.seq < (SELECT seq FROM questions WHERE id = ?2)) "
        "ORDER BY q.seq DESC LIMIT ?3",
        "tti", pattern, before && *before ? before : NULL, (long long)limit);
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
    if (st)
        dx_wrap(st, "list questions");
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
    pthread_mutex_unlock(&d->mu);
    free(pattern);
    if (st)
        json_decref(arr);
    else
        *out = arr;
    return st;
}

dx_status db_question_delete(db *d, const char *id)
{
    pthread_mutex_lock(&d->mu);
    long long changed = 0;
    dx_status st = sql_do(d->c, &changed, "DELETE FROM questions WHERE id = ?", "t", id);
    pthread_mutex_unlock(&d->mu);
    if (st)
        return dx_wrap(st, "delete question");
    return changed ? DX_OK : dx_fail(DX_ENOTFOUND, "no question with id '%s'", id);
}

dx_status db_question_source(db *d, const char *id, char **question, json_t **members)
{
    *question = NULL;
    *members = NULL;
    pthread_mutex_lock(&d->mu);
    sql_stmt *s = NULL;
    dx_status st = DX_OK;
    if ((st = question_row(d, "SELECT question, members_sel FROM questions WHERE id = ?", id, &s)))
        goto out;
    *question = strdup(sql_text(s, 0));
    const char *sel = sql_text(s, 1);
    if (sel)
        *members = json_loads(sel, 0, NULL);
    if (!*question)
        st = dx_fail(DX_ENOMEM, "out of memory");
out:
    sql_finalize(s);
    pthread_mutex_unlock(&d->mu);
    return st;
}
