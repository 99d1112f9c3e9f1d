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

int cmd_serve(int argc, char **argv)
{
    const char *host = "127.0.0.1", *db_path = NULL, *config = NULL, *key_file = NULL;
    int port = 8080, max_running = 2, rate = 60;
    bool api_only = false, https = false, no_signup = false, open_premium = false;
    int session_ttl = 14 * 86400;
    static char hosts[4096], proxies[4096];
    const char *v;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(serve_usage, stdout);
            return 0;
        } else if (args_flag(&a, NULL, "--api-only")) {
            api_only = true;
        } else if (args_flag(&a, NULL, "--https")) {
            https = true;
        } else if (args_flag(&a, NULL, "--no-signup")) {
            no_signup = true;
        } else if (args_flag(&a, NULL, "--open-premium")) {
            open_premium = true;
        } else if (args_str(&a, NULL, "--allowed-host", &v)) {
            list_add(hosts, sizeof hosts, v);
        } else if (args_str(&a, NULL, "--trusted-proxy", &v)) {
            list_add(proxies, sizeof proxies, v);
        } else if (args_str(&a, NULL, "--host", &host) || args_str(&a, NULL, "--db", &db_path) ||
                   args_str(&a, NULL, "--config", &config) ||
                   args_str(&a, NULL, "--key-file", &key_file) ||
                   args_int(&a, "-p", "--port", 0, 65535, &port) ||
                   args_int(&a, NULL, "--max-running", 1, 8, &max_running) ||
                   args_int(&a, NULL, "--rate-limit", 0, 1000000, &rate) ||
                   args_int(&a, NULL, "--session-ttl", 1, 366 * 86400, &session_ttl)) {
            continue;
        } else {
            return args_unknown(&a, serve_usage);
        }
    }
    if (a.error)
        return 2;
    char home[4096], dbbuf[4200];
    if (!db_path && getenv("DRUX_DB") && *getenv("DRUX_DB"))
        db_path = getenv("DRUX_DB");
    /* $DRUX_HOME holds the store, or, beside a PostgreSQL store, the server key */
    if (!db_path || sql_target_is_postgres(db_path)) {
        if (hub_home(home, sizeof home))
            return cli_error("serve");
        /* like mkdir -p: $DRUX_HOME or ~/.local/share/drux may not exist yet */
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
        snprintf(dbbuf, sizeof dbbuf, "%s/drux.db", home);
        if (!db_path)
            db_path = dbbuf;
    }
    council_config *cfg = NULL;
    http_server *srv = NULL;
    int rc = 1;
    if (council_config_open(config, &cfg)) {
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
    const char *allowed = hosts[0] ? hosts : getenv("DRUX_ALLOWED_HOSTS");
    const char *trusted = proxies[0] ? proxies : getenv("DRUX_TRUSTED_PROXIES");
    http_opts o = {.host = host,
                   .port = port,
                   .db_path = db_path,
                   .cfg = cfg,
                   .max_running = max_running,
                   .rate_per_min = rate == 0 ? -1 : rate,
                   .api_only = api_only,
                   .session_ttl_s = session_ttl,
                   .https = https,
                   .no_signup = no_signup,
                   .key_file = key_file,
                   .open_premium = open_premium,
                   .allowed_hosts = allowed ? allowed : cfg->server.allowed_hosts,
                   .trusted_proxies = trusted ? trusted : cfg->server.trusted_proxies};
    if (http_server_start(&o, &srv)) {
        cli_error("serve");
        goto out;
    }
    const char *shown = strchr(host, ':') ? NULL : host;
    char store[512]; /* never the password of a postgres:// URL */
    sql_target_redact(db_path, store, sizeof store);
    if (shown)
        printf("drux: serving %zu council members on http://%s:%d/ (store %s)\n", cfg->n_members,
               shown, http_server_port(srv), store);
    else
        printf("drux: serving %zu council members on http://[%s]:%d/ (store %s)\n", cfg->n_members,
               host, http_server_port(srv), store);
    printf("drux: API at /api/v1, OpenAI-compatible at /v1; Ctrl-C stops\n");
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "drux: stopping (questions still running are kept as interrupted)\n");
    rc = 0;
out:
    http_server_stop(srv);
    council_config_free(cfg);
    return rc;
}
