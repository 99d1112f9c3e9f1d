#include "hub/download.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"

#define USER_AGENT "drux/0.1 (+https://github.com/drux)"

dx_status dl_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return dx_fail(DX_EINTERNAL, "libcurl failed to initialise");
    return DX_OK;
}

uint64_t dl_max_bytes(void)
{
    uint64_t lim = DX_MAX_DOWNLOAD_BYTES;
    const char *e = getenv("DRUX_MAX_DOWNLOAD");
    if (e && *e) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e, &end, 10);
        if (!errno && *end == '\0' && v > 0 && v < lim)
            lim = v;
    }
    return lim;
}

const char *dl_human_size(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

bool dl_sha256_parse(const char *s, size_t len, char hex[65])
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return false;
        hex[i] = (char)tolower((unsigned char)s[i]);
    }
    hex[64] = '\0';
    return true;
}

void dl_sha256_hex(EVP_MD_CTX *md, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    hex[64] = '\0';
}

/* Feeds the first `limit` bytes of f (from its start) into md. */
static dx_status hash_stream(FILE *f, uint64_t limit, EVP_MD_CTX *md, const char *path)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return dx_fail(DX_ENOMEM, "out of memory hashing %s", path);
    dx_status st = DX_OK;
    if (fseeko(f, 0, SEEK_SET)) {
        st = dx_fail(DX_EIO, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    uint64_t left = limit;
    while (left > 0) {
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        size_t got = fread(buf, 1, want, f);
        if (got == 0) {
            if (ferror(f))
                st = dx_fail(DX_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        EVP_DigestUpdate(md, buf, got);
        left -= got;
    }
out:
    free(buf);
    return st;
}

dx_status dl_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dx_fail(errno == ENOENT ? DX_ENOTFOUND : DX_EIO, "cannot open %s: %s", path,
                       strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    dx_status st = DX_OK;
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        st = dx_fail(DX_ENOMEM, "cannot start sha256");
        goto out;
    }
    st = hash_stream(f, UINT64_MAX, md, path);
    if (!st)
        dl_sha256_hex(md, hex);
out:
    EVP_MD_CTX_free(md);
    fclose(f);
    return st;
}

/* ---- one transfer ------------------------------------------------------ */

typedef struct xfer {
    const dl_opts *o;
    const char *label;
    char part[PATH_MAX];
    FILE *f;
    EVP_MD_CTX *md;
    CURL *curl;
    uint64_t have;    /* bytes in .part when the request went out */
    uint64_t written; /* bytes in .part now */
    uint64_t limit;
    uint64_t range_start; /* from Content-Range of a 206 */
    bool started;         /* first body bytes seen and the file set up for them */
    bool resumed;
    bool bad_status; /* body of an error response: not written */
    bool over_limit;
    bool range_mismatch;
    int werr;        /* errno of a failed write */
    char etag[65];   /* sha256 from ETag of the last response */
    char linked[65]; /* sha256 from X-Linked-ETag of any response */
    char got[65];    /* sha256 of the finished file */
    /* progress */
    bool tty, drew;
    double t0, last;
} xfer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pulls a 64-hex sha256 out of an ETag value ("...", W/"..."). */
static void etag_sha(const char *v, size_t len, char out[65])
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= 2 && v[0] == 'W' && v[1] == '/') {
        v += 2;
        len -= 2;
    }
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (!dl_sha256_parse(v, len, out))
        out[0] = '\0';
}

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(b, "HTTP/", 5)) {
        x->etag[0] = '\0'; /* a new response (after a redirect) */
        x->range_start = 0;
        return len;
    }
    const char *colon = memchr(b, ':', len);
    if (!colon)
        return len;
    size_t kl = (size_t)(colon - b);
    const char *v = colon + 1;
    size_t vl = len - kl - 1;
    if (kl == 13 && !strncasecmp(b, "x-linked-etag", 13))
        etag_sha(v, vl, x->linked);
    else if (kl == 4 && !strncasecmp(b, "etag", 4))
        etag_sha(v, vl, x->etag);
    else if (kl == 13 && !strncasecmp(b, "content-range", 13)) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 127 ? vl : 127), v);
        unsigned long long s = 0;
        if (sscanf(tmp, " bytes %llu-", &s) == 1)
            x->range_start = s;
    }
    return len;
}

/* Sets up the .part file for the body that is starting: append after a 206
 * that continues where we stopped, start over after a 200. */
static int start_body(xfer *x)
{
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) {
        x->bad_status = true;
        return 0;
    }
    if (code == 206 && x->range_start != x->have) {
        x->range_mismatch = true;
        return -1;
    }
    if (code == 206 && x->have > 0) {
        if (hash_stream(x->f, x->have, x->md, x->part)) {
            x->werr = errno ? errno : EIO;
            return -1;
        }
        x->resumed = true;
        x->written = x->have;
    } else {
        if (x->have > 0 && ftruncate(fileno(x->f), 0)) {
            x->werr = errno;
            return -1;
        }
        EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
        x->written = 0;
    }
    if (fseeko(x->f, (off_t)x->written, SEEK_SET)) {
        x->werr = errno;
        return -1;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl > 0 && x->written + (uint64_t)cl > x->limit) {
        x->over_limit = true;
        return -1;
    }
    return 0;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (!x->started) {
        x->started = true;
        if (start_body(x) < 0)
            return 0;
    }
    if (x->bad_status)
        return len; /* error page: read and drop it */
    if (len > x->limit - x->written) {
        x->over_limit = true;
        return 0;
    }
    if (fwrite(b, 1, len, x->f) != len) {
        x->werr = errno ? errno : EIO;
        return 0;
    }
    EVP_DigestUpdate(x->md, b, len);
    x->written += len;
    return len;
}

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 359999)
        snprintf(buf, cap, "--:--");
    else if (s >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(buf, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void draw_progress(xfer *x, uint64_t now_bytes, uint64_t total, bool final)
{
    double t = now_s();
    if (!final && t - x->last < 0.2)
        return;
    x->last = t;
    double el = t - x->t0;
    uint64_t base = x->resumed ? x->have : 0, fresh = now_bytes > base ? now_bytes - base : 0;
    double speed = el > 0.05 ? (double)fresh / el : 0;
    char a[32], b[32], sp[32], eta[32];
    dl_human_size(now_bytes, a, sizeof a);
    dl_human_size(total, b, sizeof b);
    dl_human_size((uint64_t)speed, sp, sizeof sp);
    fmt_eta(speed > 0 && total > now_bytes ? (double)(total - now_bytes) / speed
                                           : (total && now_bytes >= total ? 0 : -1),
            eta, sizeof eta);
    int pct = total ? (int)(100.0 * (double)now_bytes / (double)total) : 0;
    if (total)
        fprintf(stderr, "\r%-28.28s %10s / %-10s %3d%% %10s/s  ETA %-8s", x->label, a, b, pct, sp,
                eta);
    else
        fprintf(stderr, "\r%-28.28s %10s %10s/s            ", x->label, a, sp);
    x->drew = true;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ul,
                       curl_off_t ulnow)
{
    (void)ul;
    (void)ulnow;
    xfer *x = ud;
    if (x->tty && x->started && !x->bad_status) {
        uint64_t base = x->resumed ? x->have : 0;
        draw_progress(x, base + (uint64_t)dlnow, dltotal > 0 ? base + (uint64_t)dltotal : 0, false);
    }
    return 0;
}

static void set_common(CURL *c, const char *url, struct curl_slist *hdrs, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer ends */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
}

static struct curl_slist *auth_headers(const char *bearer, dx_status *st)
{
    *st = DX_OK;
    if (!bearer || !*bearer)
        return NULL;
    char h[4096];
    if ((size_t)snprintf(h, sizeof h, "Authorization: Bearer %s", bearer) >= sizeof h) {
        *st = dx_fail(DX_EARG, "token too long");
        return NULL;
    }
    struct curl_slist *l = curl_slist_append(NULL, h);
    if (!l)
        *st = dx_fail(DX_ENOMEM, "out of memory");
    return l;
}

/* Turns a finished transfer into a status; *retry says whether trying
 * again may help. */
static dx_status map_result(CURLcode rc, long code, const char *url, const char *errbuf,
                            bool *retry)
{
    *retry = false;
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && code >= 400)) {
        if (code == 404 || code == 410)
            return dx_fail(DX_ENOTFOUND, "not found: %s", url);
        if (code == 401 || code == 403)
            return dx_fail(DX_ENET,
                           "access denied (HTTP %ld): %s; for a gated or private Hugging Face "
                           "repository set HF_TOKEN",
                           code, url);
        if (code >= 500 || code == 429)
            *retry = true;
        if (code >= 400 || (code != 200 && code != 206))
            return dx_fail(DX_ENET, "HTTP %ld from %s", code, url);
        return DX_OK;
    }
    const char *msg = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        return dx_fail(DX_ENET, "TLS error with %s: %s", url, msg);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return dx_fail(DX_ENET, "cannot resolve the host of %s: %s", url, msg);
    case CURLE_COULDNT_CONNECT:
        return dx_fail(DX_ENET, "cannot connect to %s: %s", url, msg);
    case CURLE_OPERATION_TIMEDOUT:
        *retry = true;
        return dx_fail(DX_ETIMEOUT, "transfer stalled: %s: %s", url, msg);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return dx_fail(DX_EARG, "bad URL %s: %s", url, msg);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        *retry = true;
        return dx_fail(DX_ENET, "download interrupted: %s: %s", url, msg);
    default:
        return dx_fail(DX_ENET, "download failed: %s: %s", url, msg);
    }
}

/* The sha256 the file must have: the caller's, else the server's; "" if none. */
static const char *expected_sha(const xfer *x)
{
    if (x->o->sha256 && *x->o->sha256)
        return x->o->sha256;
    return x->linked[0] ? x->linked : x->etag;
}

/* Opens (or creates) the .part file, to be continued from its end, and
 * resets the transfer's state for one try. */
static dx_status open_part(xfer *x)
{
    int fd = open(x->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return dx_fail(DX_EIO, "cannot create %s: %s", x->part, strerror(errno));
    x->f = fdopen(fd, "r+b");
    if (!x->f) {
        close(fd);
        return dx_fail(DX_EIO, "cannot open %s: %s", x->part, strerror(errno));
    }
    struct stat sb;
    x->have = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    x->written = x->have;
    x->started = x->bad_status = x->over_limit = x->range_mismatch = false;
    x->resumed = false;
    x->werr = 0;
    x->range_start = 0;
    x->etag[0] = '\0';
    x->t0 = x->last = now_s();
    EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
    return DX_OK;
}

/* What a finished try means: a write error, the size limit, a resume at the
 * wrong offset, a whole .part already (416), or the transfer's own result. */
static dx_status judge_try(const dl_opts *o, xfer *x, CURLcode rc, long code, const char *errbuf,
                           bool *retry)
{
    if (fflush(x->f) && !x->werr)
        x->werr = errno;
    if (x->werr)
        return dx_fail(DX_EIO, x->werr == ENOSPC ? "disk full writing %s" : "cannot write %s: %s",
                       x->part, strerror(x->werr));
    if (x->over_limit) {
        unlink(x->part);
        return dx_fail(DX_ELIMIT, "%s is larger than the download limit of %" PRIu64 " bytes",
                       o->url, x->limit);
    }
    if (x->range_mismatch) {
        /* the server resumed somewhere else: start over */
        unlink(x->part);
        *retry = true;
        return dx_fail(DX_ENET, "server answered the resume of %s at the wrong offset", o->url);
    }
    dx_status st;
    if (code == 416 && x->have > 0) {
        /* nothing past what we have: the .part is whole if its sha256 is
         * the expected one; otherwise it goes and the next try starts over */
        x->resumed = true;
        if ((st = hash_stream(x->f, x->have, x->md, x->part)))
            return st;
        dl_sha256_hex(x->md, x->got);
        const char *want = expected_sha(x);
        if (!*want || strcmp(want, x->got)) {
            unlink(x->part);
            *retry = true;
            st = dx_fail(DX_ENET, "stale partial download of %s removed", o->url);
        }
        x->written = x->have;
        return st;
    }
    st = map_result(rc, code, o->url, errbuf, retry);
    if (st && *retry && x->written > 0)
        dx_wrap(st, "after %" PRIu64 " bytes (kept in %s; run the same command to resume)",
                x->written, x->part);
    if (!st)
        dl_sha256_hex(x->md, x->got);
    return st;
}

static dx_status fetch_once(const dl_opts *o, xfer *x, struct curl_slist *hdrs, bool *retry)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    *retry = false;
    dx_status st = open_part(x);
    if (st)
        return st;
    CURL *c = x->curl = curl_easy_init();
    if (!c) {
        st = dx_fail(DX_ENOMEM, "libcurl: cannot create a handle");
        goto out;
    }
    set_common(c, o->url, hdrs, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    char range[48];
    if (x->have > 0) { /* CURLOPT_RANGE, not RESUME_FROM: a 200 reply must restart, not fail */
        snprintf(range, sizeof range, "%" PRIu64 "-", x->have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (x->tty && x->started && !x->bad_status && rc == CURLE_OK)
        draw_progress(x, x->written, x->written, true);
    if (x->drew) {
        fputc('\n', stderr);
        x->drew = false;
    }
    st = judge_try(o, x, rc, code, errbuf, retry);
out:
    if (x->curl)
        curl_easy_cleanup(x->curl);
    x->curl = NULL;
    if (x->f) {
        /* an empty .part (404, refused connection) is nothing to resume */
        struct stat sb;
        if (st && fstat(fileno(x->f), &sb) == 0 && sb.st_size == 0)
            unlink(x->part);
        fclose(x->f);
    }
    x->f = NULL;
    return st;
}

dx_status dl_fetch(const dl_opts *o, dl_result *r)
{
    dx_status st = DX_OK;
    struct curl_slist *hdrs = NULL;
    xfer x = {.o = o};
    memset(r, 0, sizeof *r);
    if ((size_t)snprintf(x.part, sizeof x.part, "%s.part", o->dest) >= sizeof x.part)
        return dx_fail(DX_ELIMIT, "path too long: %s", o->dest);
    x.limit = o->max_bytes ? o->max_bytes : dl_max_bytes();
    x.tty = !o->quiet && isatty(2);
    x.label = o->label;
    if (!x.label) {
        const char *s = strrchr(o->dest, '/');
        x.label = s ? s + 1 : o->dest;
    }
    x.md = EVP_MD_CTX_new();
    if (!x.md)
        return dx_fail(DX_ENOMEM, "cannot start sha256");
    hdrs = auth_headers(o->bearer, &st);
    if (st)
        goto out;
    int attempts = 1 + (o->retries > 0 ? o->retries : 0);
    for (int i = 0; i < attempts; i++) {
        bool retry = false;
        st = fetch_once(o, &x, hdrs, &retry);
        if (!st || !retry || i + 1 == attempts)
            break;
        if (!o->quiet)
            fprintf(stderr, "drux: %s; retrying\n", dx_errmsg());
        struct timespec ts = {0, 300000000L * (i + 1)};
        nanosleep(&ts, NULL);
    }
    if (st)
        goto out;
    const char *want = expected_sha(&x);
    if (*want && strcmp(want, x.got)) {
        unlink(x.part);
        st = dx_fail(DX_EFORMAT, "sha256 mismatch for %s: expected %s, got %s (download removed)",
                     o->url, want, x.got);
        goto out;
    }
    if (rename(x.part, o->dest)) {
        st = dx_fail(DX_EIO, "cannot rename %s to %s: %s", x.part, o->dest, strerror(errno));
        goto out;
    }
    memcpy(r->sha256, x.got, sizeof x.got);
    r->size = x.written;
    r->resumed = x.resumed;
out:
    curl_slist_free_all(hdrs);
    EVP_MD_CTX_free(x.md);
    return st;
}

/* ---- small GETs into memory -------------------------------------------- */

typedef struct membody {
    dx_buf *b;
    bool over;
} membody;

static size_t on_mem(char *p, size_t size, size_t n, void *ud)
{
    membody *m = ud;
    size_t len = size * n;
    if (dx_buf_append(m->b, p, len)) {
        m->over = true;
        return 0;
    }
    return len;
}

dx_status dl_get(const char *url, const char *bearer, size_t max, dx_buf *out)
{
    dx_status st = DX_OK;
    char errbuf[CURL_ERROR_SIZE] = "";
    *out = dx_buf_make(max);
    membody m = {out, false};
    struct curl_slist *hdrs = auth_headers(bearer, &st);
    if (st)
        return st;
    CURL *c = curl_easy_init();
    if (!c) {
        st = dx_fail(DX_ENOMEM, "libcurl: cannot create a handle");
        goto out;
    }
    set_common(c, url, hdrs, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (m.over) {
        st = dx_fail(DX_ELIMIT, "response from %s is larger than %zu bytes", url, max);
        goto out;
    }
    bool retry;
    st = map_result(rc, code, url, errbuf, &retry);
    if (!st && !out->data)
        st = dx_buf_append(out, "", 0);
out:
    if (st)
        dx_buf_free(out);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return st;
}
