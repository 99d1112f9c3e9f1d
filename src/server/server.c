/* `drux serve`'s assembly: the question runtime, the transport, the routes
 * and (unless API-only) the pages' error renderer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "server/auth.h"
#include "server/pages.h"
#include "server/srv.h"
#include "store/sql.h"

static bool path_safe(const char *p)
{
    /* no "..", no backslashes, no NUL-hidden tricks (MHD has decoded %xx) */
    return !strstr(p, "..") && !strchr(p, '\\') && !strstr(p, "//");
}

static enum MHD_Result dispatch(http_req *r)
{
    const char *url = r->url;
    if (strcmp(r->method, "GET") && strcmp(r->method, "POST") && strcmp(r->method, "DELETE") &&
        strcmp(r->method, "HEAD"))
        return http_error(r, 405, "method_not_allowed", "method %.16s is not supported", r->method);
    if (!http_guard_host_ok(r))
        return http_error(r, 421, "host_not_allowed",
                          "this server does not answer for that host name (see --allowed-host "
                          "in docs/operations.md)");
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD") && !http_guard_same_origin(r))
        return http_error(r, 403, "cross_site",
                          "a request from another site was refused: send it from this "
                          "server's own pages");
    if (url[0] != '/' || !path_safe(url))
        return http_error(r, 400, "bad_path", "the path is not allowed");
    if (!strncmp(url, "/api/v1/", 8))
        return api_route(r, url + 7);
    if (!strncmp(url, "/v1/", 4))
        return openai_route(r, url + 3);
    bool handled = false;
    enum MHD_Result ret = html_route(r, url, &handled);
    if (handled)
        return ret;
    return http_error(r, 404, "not_found", "no such page or route: %.200s", url);
}

/* The server key (form tokens; accounts seal provider keys with it): --key-file,
 * else $DRUX_SERVER_KEY, else beside the store: <db>.key. A PostgreSQL store has
 * no file to stand beside: $DRUX_HOME/server.key then (instances sharing the
 * store must share the key: give each the same --key-file). */
static dx_status server_key(http_server *s, const http_opts *o)
{
    char path[4200];
    const char *env = getenv("DRUX_SERVER_KEY");
    if (o->key_file) {
        snprintf(path, sizeof path, "%s", o->key_file);
    } else if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else if (o->db_path && sql_target_is_postgres(o->db_path)) {
        char home[4096];
        dx_status st = hub_home(home, sizeof home);
        if (st)
            return st;
        snprintf(path, sizeof path, "%s/server.key", home);
    } else {
        snprintf(path, sizeof path, "%s.key", o->db_path ? o->db_path : "drux.db");
    }
    dx_status st = auth_init();
    return st ? st : auth_server_key_load(path, s->secret);
}

dx_status http_server_start(const http_opts *o, http_server **out)
{
    *out = NULL;
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return dx_fail(DX_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->pages = !o->api_only;
    s->route = dispatch;
    s->error_page = s->pages ? page_error : NULL;
    s->rate_per_min = o->rate_per_min == 0 ? 60 : o->rate_per_min;
    jobs_opts jo = {.cfg = o->cfg, .db_path = o->db_path, .max_running = o->max_running};
    dx_status st = DX_OK;
    if (!(s->buckets = calloc(DX_HTTP_MAX_CLIENTS, sizeof *s->buckets)) ||
        !(s->conns = calloc(DX_HTTP_MAX_CONNECTIONS, sizeof *s->conns)) ||
        !(s->peers = calloc(DX_HTTP_MAX_CONNECTIONS, sizeof *s->peers)))
        st = dx_fail(DX_ENOMEM, "out of memory");
    if (!st)
        st = server_key(s, o);
    if (!st)
        st = http_guard_init(s, o);
    if (!st)
        st = acct_init(s, o);
    if (!st)
        st = jobs_open(&jo, &s->jobs);
    if (!st)
        st = http_listen(s, o->host ? o->host : "127.0.0.1", o->port);
    if (st) {
        http_server_stop(s);
        return st;
    }
    *out = s;
    return DX_OK;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    /* questions first (interrupted, followers woken, workers ended), so no
     * connection is left waiting on one; then the daemon and its threads */
    if (s->jobs)
        jobs_stop(s->jobs);
    http_unlisten(s);
    jobs_close(s->jobs);
    acct_free(s);
    free(s->buckets);
    free(s->conns);
    free(s->peers);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
