/*
 * test_pg.h — a throwaway PostgreSQL server for unit tests (tests/pg-server),
 * and a fresh database in it for each test.
 *
 *     char url[512], why[256];
 *     if (!test_pg_start(url, sizeof url, why, sizeof why)) printf("skip ...: %s\n", why);
 *     char db[600];
 *     test_pg_fresh(url, db, sizeof db);   // CREATE DATABASE t<n>; db is its URL
 *     ...
 *     test_pg_stop();
 */
#ifndef DX_TEST_PG_H
#define DX_TEST_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char test_pg_dir[64];

/* Starts a server; url gets its maintenance database's URL. false (why says
 * why) when PostgreSQL is not installed or does not start. */
static inline bool test_pg_start(char *url, size_t cap, char *why, size_t why_cap)
{
    snprintf(test_pg_dir, sizeof test_pg_dir, "/tmp/drux-pg-XXXXXX");
    if (!mkdtemp(test_pg_dir)) {
        snprintf(why, why_cap, "mkdtemp failed");
        return false;
    }
    chmod(test_pg_dir, 0755); /* the server may run as another user (root can't run it) */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tests/pg-server start %s/pg 2>&1", test_pg_dir);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(why, why_cap, "can't run tests/pg-server");
        return false;
    }
    char line[512] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    int rc = pclose(p);
    line[strcspn(line, "\n")] = '\0';
    if (rc != 0 || strncmp(line, "postgresql://", 13)) {
        snprintf(why, why_cap, "%.200s", line[0] ? line : "tests/pg-server failed");
        return false;
    }
    snprintf(url, cap, "%s", line);
    return true;
}

/* A new empty database in the server at url; out gets its URL. */
static inline bool test_pg_fresh(const char *url, char *out, size_t cap)
{
    static int n;
    char name[64];
    snprintf(name, sizeof name, "t%d_%d", (int)getpid(), n++);
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "test_pg_fresh: %s", PQerrorMessage(c));
        PQfinish(c);
        return false;
    }
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, q);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "test_pg_fresh: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    /* url is postgresql://drux@/postgres?host=DIR: the database is the path */
    const char *q_at = strstr(url, "/postgres?");
    if (!q_at)
        return false;
    snprintf(out, cap, "%.*s/%s%s", (int)(q_at - url), url, name, q_at + 9);
    return ok;
}

/* Runs one statement on the database at url (setup that bypasses the store). */
static inline bool test_pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    bool ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        fprintf(stderr, "test_pg_exec: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

static inline void test_pg_stop(void)
{
    if (!test_pg_dir[0])
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tests/pg-server stop %s/pg; rm -rf %s", test_pg_dir, test_pg_dir);
    if (system(cmd)) { /* leftovers in /tmp only */
    }
    test_pg_dir[0] = '\0';
}

#endif
