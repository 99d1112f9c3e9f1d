/*
 * drux user — accounts, for operators: add, disable, enable, reset a
 * password, set a daily premium allowance, list.
 *
 *     echo 'a long password' | drux user add ada
 *     drux user disable ada            # and every session of ada ends
 *     drux user list [--json]
 *
 * Passwords are read from standard input (one line; not echoed on a
 * terminal), never from the command line, where other users could see them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "server/auth.h"
#include "store/db.h"
#include "store/users.h"

static const char usage_text[] =
    "usage: drux user add NAME | passwd NAME | disable NAME | enable NAME\n"
    "       drux user quota NAME CALLS_PER_DAY | list [--json]     [--db FILE]\n"
    "\n"
    "Manages the server's accounts (docs/operations.md). add and passwd read the\n"
    "password from standard input (at least 10 characters); disable ends the\n"
    "account's sessions at once. --db defaults to $DRUX_HOME/drux.db.\n";

_Static_assert(AUTH_MIN_PASSWORD == 10, "the usage text says 10");

/* One line from stdin, without echo on a terminal. */
static int read_password(char *buf, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *ok = fgets(buf, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!ok)
        return -1;
    size_t n = strlen(buf);
    if (n && buf[n - 1] != '\n' && !feof(stdin))
        return -2; /* longer than the buffer */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return 0;
}

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int set_password(db *d, const char *name, bool create)
{
    char pw[AUTH_MAX_PASSWORD + 2], hash[AUTH_HASH_MAX];
    int rc = read_password(pw, sizeof pw);
    if (rc) {
        fprintf(stderr, "drux: user: %s\n",
                rc == -2 ? "the password is too long" : "no password on standard input");
        return 2;
    }
    dx_status st = auth_password_hash(pw, hash);
    memset(pw, 0, sizeof pw);
    if (st)
        return cli_error("user");
    if (create) {
        char at[32];
        now_iso(at, sizeof at);
        st = db_user_add(d, name, hash, at, NULL);
    } else {
        db_user u;
        st = db_user_get(d, name, &u);
        if (!st)
            st = db_user_set_password(d, u.id, hash);
    }
    if (st)
        return cli_error("user");
    printf("%s %s\n", create ? "added" : "new password for", name);
    return 0;
}

typedef struct user_args {
    const char *db_path, *verb, *arg1, *arg2;
    bool as_json;
} user_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, user_args *u)
{
    const char *pos;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (args_str(&a, NULL, "--db", &u->db_path))
            continue;
        if (args_flag(&a, NULL, "--json")) {
            u->as_json = true;
            continue;
        }
        if (args_positional(&a, &pos)) {
            if (!u->verb)
                u->verb = pos;
            else if (!u->arg1)
                u->arg1 = pos;
            else if (!u->arg2)
                u->arg2 = pos;
            else
                return args_unknown(&a, usage_text);
            continue;
        }
        return args_unknown(&a, usage_text);
    }
    if (a.error)
        return 2;
    if (!u->verb || (strcmp(u->verb, "list") && !u->arg1) ||
        (!strcmp(u->verb, "quota") && !u->arg2)) {
        fputs(usage_text, stderr);
        return 2;
    }
    return -1;
}

/* drux user quota NAME CALLS; *rc 2 for a count out of range. */
static dx_status set_quota(db *d, const char *name, const char *calls, int *rc)
{
    char *end;
    long n = strtol(calls, &end, 10);
    if (*end || n < 0 || n > 1000000) {
        fprintf(stderr, "drux: user: quota: expected calls per day, 0 to 1000000\n");
        *rc = 2;
        return DX_OK;
    }
    dx_status st = db_user_set_quota(d, name, (int)n);
    if (!st)
        printf("%s may make %ld premium calls a day\n", name, n);
    return st;
}

/* drux user list: a line per account, or the store's JSON. */
static dx_status list_users(db *d, bool as_json)
{
    db_account *users;
    size_t n;
    dx_status st = db_user_list(d, &users, &n);
    if (st)
        return st;
    json_t *arr = as_json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const db_account *u = &users[i];
        if (as_json)
            json_array_append_new(arr, json_pack("{s:s, s:b, s:i, s:s, s:I}", "name", u->name,
                                                 "disabled", u->disabled, "daily_premium",
                                                 u->daily_premium, "created_at", u->created_at,
                                                 "sessions", (json_int_t)u->sessions));
        else
            printf("%-32s %-8s %5lld premium/day  %lld session%s  since %s\n", u->name,
                   u->disabled ? "disabled" : "active", (long long)u->daily_premium, u->sessions,
                   u->sessions == 1 ? "" : "s", u->created_at);
    }
    free(users);
    if (as_json && !arr)
        return dx_fail(DX_ENOMEM, "out of memory");
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(arr);
    return DX_OK;
}

int cmd_user(int argc, char **argv)
{
    user_args u = {0};
    int rc = parse_args(argc, argv, &u);
    if (rc >= 0)
        return rc;
    const char *verb = u.verb;
    bool needs_name = strcmp(verb, "list") != 0;
    char name[AUTH_MAX_NAME], dbbuf[4096];
    if (needs_name && auth_name_canonical(u.arg1, name))
        return cli_error("user");
    if (!u.db_path) {
        const char *home = getenv("DRUX_HOME");
        if (home && *home)
            snprintf(dbbuf, sizeof dbbuf, "%s/drux.db", home);
        else
            snprintf(dbbuf, sizeof dbbuf, "%s/.local/share/drux/drux.db",
                     getenv("HOME") ? getenv("HOME") : ".");
        u.db_path = dbbuf;
    }
    if (auth_init())
        return cli_error("user");
    db *d = NULL;
    if (db_open(u.db_path, &d))
        return cli_error("user");
    rc = 0;
    dx_status st = DX_OK;
    if (!strcmp(verb, "add") || !strcmp(verb, "passwd")) {
        rc = set_password(d, name, !strcmp(verb, "add"));
    } else if (!strcmp(verb, "disable") || !strcmp(verb, "enable")) {
        st = db_user_set_disabled(d, name, !strcmp(verb, "disable"));
        if (!st)
            printf("%sd %s\n", verb, name);
    } else if (!strcmp(verb, "quota")) {
        st = set_quota(d, name, u.arg2, &rc);
    } else if (!strcmp(verb, "list")) {
        st = list_users(d, u.as_json);
    } else {
        fprintf(stderr, "drux: user: unknown command '%s'\n%s", verb, usage_text);
        rc = 2;
    }
    if (st)
        rc = cli_error("user");
    db_close(d);
    return rc;
}
