/*
 * drux serve — the council on the web: pages, the JSON API and an
 * OpenAI-compatible endpoint, on 127.0.0.1:8080 unless told otherwise.
 *
 *     drux serve
 *     drux serve --port 9000 --db /tmp/drux.db --config council.ini
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "hub/hub.h"
#include "server/http.h"
#include "store/sql.h"

static const char serve_usage[] =
    "usage: drux serve [options]\n"
    "\n"
    "Serves the council: the web pages, the JSON API under /api/v1 (docs/api.md) and an\n"
    "OpenAI-compatible /v1/chat/completions with a \"council\" model. Stop with Ctrl-C.\n"
    "\n"
    "  --host ADDR        address to listen on (default 127.0.0.1; see docs/operations.md\n"
    "                     before exposing it)\n"
    "  --port N           port (default 8080; 0 picks a free one)\n"
    "  --db FILE|URL      the store: a SQLite file (default $DRUX_HOME/drux.db) or a\n"
    "                     PostgreSQL URL postgres://user@host/db that several instances\n"
    "                     may share (env DRUX_DB)\n"
    "  --config FILE      the council (default: as for drux ask)\n"
    "  --max-running N    questions answered at once (default 2; more wait as queued)\n"
    "  --rate-limit N     questions and completions per client per minute (default 60, 0: off)\n"
    "  --allowed-host H   also answer requests for host name H (repeatable, or a comma list;\n"
    "                     default: loopback names and the --host address; env\n"
    "                     DRUX_ALLOWED_HOSTS, or allowed_hosts in the config's [server])\n"
    "  --trusted-proxy A  a reverse proxy at address A whose X-Forwarded-For names the client\n"
    "                     (repeatable; env DRUX_TRUSTED_PROXIES, or trusted_proxies in the\n"
    "                     config's [server]; see docs/operations.md)\n"
    "  --api-only         serve /api/v1 and /v1 only, no web pages\n"
    "  --https            clients reach the server over TLS (a proxy terminates it): account\n"
    "                     cookies are Secure (docs/accounts.md)\n"
    "  --session-ttl S    an account session lasts S seconds (default 1209600: 14 days)\n"
    "  --no-signup        visitors can't create accounts (drux user add still can)\n"
    "  --open-premium     anonymous visitors ask the premium members too (default: only\n"
    "                     signed-in users do; for a private server behind a login)\n"
    "  --key-file FILE    the key that seals users' provider keys (default: the store's path\n"
    "                     + .key; created, mode 0600, when absent)\n";

/* Appends v to a comma list in buf (repeatable flags). */
static void list_add(char *buf, size_t cap, const char *v)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? "," : "", v);
}

/* The flags. Those http_opts keeps as given go straight into it; the
 * repeatable ones collect comma lists here. */
typedef struct serve_args {
    http_opts o;
    const char *config;
    int rate, session_ttl;
    char hosts[4096], proxies[4096];
} serve_args;

/* Returns -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, serve_args *r)
{
    http_opts *o = &r->o;
    const char *v;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(serve_usage, stdout);
            return 0;
        } else if (args_flag(&a, NULL, "--api-only")) {
            o->api_only = true;
        } else if (args_flag(&a, NULL, "--https")) {
            o->https = true;
        } else if (args_flag(&a, NULL, "--no-signup")) {
            o->no_signup = true;
        } else if (args_flag(&a, NULL, "--open-premium")) {
            o->open_premium = true;
        } else if (args_str(&a, NULL, "--allowed-host", &v)) {
            list_add(r->hosts, sizeof r->hosts, v);
        } else if (args_str(&a, NULL, "--trusted-proxy", &v)) {
            list_add(r->proxies, sizeof r->proxies, v);
        } else if (args_str(&a, NULL, "--host", &o->host) ||
                   args_str(&a, NULL, "--db", &o->db_path) ||
                   args_str(&a, NULL, "--config", &r->config) ||
                   args_str(&a, NULL, "--key-file", &o->key_file) ||
                   args_int(&a, "-p", "--port", 0, 65535, &o->port) ||
                   args_int(&a, NULL, "--max-running", 1, 8, &o->max_running) ||
                   args_int(&a, NULL, "--rate-limit", 0, 1000000, &r->rate) ||
                   args_int(&a, NULL, "--session-ttl", 1, 366 * 86400, &r->session_ttl)) {
            continue;
        } else {
            return args_unknown(&a, serve_usage);
        }
    }
    return a.error ? 2 : -1;
}

/* $DRUX_HOME, created like mkdir -p ($DRUX_HOME or ~/.local/share/drux may
 * not exist yet), and $DRUX_HOME/drux.db into db. Returns -1 on success, else
 * the exit code. */
static int make_home(char *home, size_t home_cap, char *db, size_t db_cap)
{
    if (hub_home(home, home_cap))
        return cli_error("serve");
    for (char *p = home + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(home, 0755) && errno != EEXIST) {
                fprintf(stderr, "drux: serve: can't create %s: %s\n", home, strerror(errno));
                return 1;
            }
            if (end)
                break;
            *p = '/';
        }
    }
    snprintf(db, db_cap, "%s/drux.db", home);
    return -1;
}

/* Where the server listens, on stdout (an IPv6 address in brackets; never
 * the password of a postgres:// URL). */
static void print_banner(const http_opts *o, size_t n_members, int port)
{
    const char *shown = strchr(o->host, ':') ? NULL : o->host;
    char store[512];
    sql_target_redact(o->db_path, store, sizeof store);
    if (shown)
        printf("drux: serving %zu council members on http://%s:%d/ (store %s)\n", n_members, shown,
               port, store);
    else
        printf("drux: serving %zu council members on http://[%s]:%d/ (store %s)\n", n_members,
               o->host, port, store);
    printf("drux: API at /api/v1, OpenAI-compatible at /v1; Ctrl-C stops\n");
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    static serve_args r = {.o = {.host = "127.0.0.1", .port = 8080, .max_running = 2},
                           .rate = 60,
                           .session_ttl = 14 * 86400};
    http_opts *o = &r.o;
    int rc = parse_args(argc, argv, &r);
    if (rc >= 0)
        return rc;
    char home[4096], dbbuf[4200];
    if (!o->db_path && getenv("DRUX_DB") && *getenv("DRUX_DB"))
        o->db_path = getenv("DRUX_DB");
    /* $DRUX_HOME holds the store, or, beside a PostgreSQL store, the server key */
    if (!o->db_path || sql_target_is_postgres(o->db_path)) {
        if ((rc = make_home(home, sizeof home, dbbuf, sizeof dbbuf)) >= 0)
            return rc;
        if (!o->db_path)
            o->db_path = dbbuf;
    }
    council_config *cfg = NULL;
    http_server *srv = NULL;
    rc = 1;
    if (council_config_open(r.config, &cfg)) {
        cli_error("serve");
        goto out;
    }
    if (cfg->n_members == 0) {
        fprintf(stderr, "drux: serve: the council has no members: pull a model (drux pull) or "
                        "write a config (docs/config.md)\n");
        goto out;
    }
    /* block the stop signals here so every server thread inherits the mask
     * and this thread alone takes them with sigwait */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a flag wins over the environment, the environment over [server] in the config file */
    const char *allowed = r.hosts[0] ? r.hosts : getenv("DRUX_ALLOWED_HOSTS");
    const char *trusted = r.proxies[0] ? r.proxies : getenv("DRUX_TRUSTED_PROXIES");
    o->cfg = cfg;
    o->rate_per_min = r.rate == 0 ? -1 : r.rate;
    o->session_ttl_s = r.session_ttl;
    o->allowed_hosts = allowed ? allowed : cfg->server.allowed_hosts;
    o->trusted_proxies = trusted ? trusted : cfg->server.trusted_proxies;
    if (http_server_start(o, &srv)) {
        cli_error("serve");
        goto out;
    }
    print_banner(o, cfg->n_members, http_server_port(srv));
    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "drux: stopping (questions still running are kept as interrupted)\n");
    rc = 0;
out:
    http_server_stop(srv);
    council_config_free(cfg);
    return rc;
}
