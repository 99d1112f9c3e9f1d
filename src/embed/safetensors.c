/*
 * safetensors — reads and validates a .safetensors file (see safetensors.h).
 *
 * The header is parsed with jansson; each tensor's shape must multiply out to
 * its byte range, ranges must lie inside the data section and may not
 * overlap (checked after sorting by offset).
 */
#include "embed/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "engine/quant.h"

struct st_file {
    void *map;
    size_t map_len;
    st_tensor *t;
    size_t n;
    char *names; /* all names, NUL-separated */
};

static int elem_size(const char *dt, st_dtype *out)
{
    static const struct {
        const char *name;
        int size;
        st_dtype dt;
    } tab[] = {
        {"F32", 4, ST_F32},    {"F16", 2, ST_F16},       {"BF16", 2, ST_BF16},
        {"F64", 8, ST_OTHER},  {"I64", 8, ST_OTHER},     {"I32", 4, ST_OTHER},
        {"I16", 2, ST_OTHER},  {"I8", 1, ST_OTHER},      {"U8", 1, ST_OTHER},
        {"BOOL", 1, ST_OTHER}, {"U16", 2, ST_OTHER},     {"U32", 4, ST_OTHER},
        {"U64", 8, ST_OTHER},  {"F8_E4M3", 1, ST_OTHER}, {"F8_E5M2", 1, ST_OTHER},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(dt, tab[i].name)) {
            *out = tab[i].dt;
            return tab[i].size;
        }
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    const uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
    return p < q ? -1 : p > q;
}

/* One header entry: dtype, shape and data_offsets, checked against the data
 * section (data_len bytes at data). t->name is set by the caller. */
static dx_status parse_tensor(const char *key, json_t *val, const uint8_t *data, size_t data_len,
                              st_tensor *t)
{
    json_t *dt = json_object_get(val, "dtype"), *shape = json_object_get(val, "shape"),
           *offs = json_object_get(val, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) ||
        json_array_size(offs) != 2)
        return dx_fail(DX_EFORMAT,
                       "safetensors: tensor '%.100s' lacks dtype, shape or data_offsets", key);
    t->dtype_name = json_string_value(dt);
    const int es = elem_size(t->dtype_name, &t->dtype);
    if (!es)
        return dx_fail(DX_EFORMAT, "safetensors: tensor '%.100s' has unknown dtype '%.16s'", key,
                       t->dtype_name);
    if (json_array_size(shape) > 4)
        return dx_fail(DX_EUNSUPPORTED,
                       "safetensors: tensor '%.100s' has %zu dimensions (4 at most)", key,
                       json_array_size(shape));
    t->n_dims = (int)json_array_size(shape);
    int64_t ne = 1;
    for (int i = 0; i < t->n_dims; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > (int64_t)1 << 40)
            return dx_fail(DX_EFORMAT, "safetensors: tensor '%.100s' has a bad dimension", key);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] && ne > ((int64_t)1 << 48) / t->shape[i])
            return dx_fail(DX_EFORMAT, "safetensors: tensor '%.100s' is impossibly large", key);
        ne *= t->shape[i];
    }
    t->n_elems = ne;
    json_t *o0 = json_array_get(offs, 0), *o1 = json_array_get(offs, 1);
    if (!json_is_integer(o0) || !json_is_integer(o1) || json_integer_value(o0) < 0 ||
        json_integer_value(o1) < json_integer_value(o0) ||
        (uint64_t)json_integer_value(o1) > data_len)
        return dx_fail(DX_EFORMAT, "safetensors: tensor '%.100s' data_offsets lie outside the file",
                       key);
    t->nbytes = (size_t)(json_integer_value(o1) - json_integer_value(o0));
    if ((uint64_t)t->nbytes != (uint64_t)ne * (uint64_t)es)
        return dx_fail(DX_EFORMAT,
                       "safetensors: tensor '%.100s' holds %zu bytes, its shape needs %llu", key,
                       t->nbytes, (unsigned long long)ne * (unsigned long long)es);
    t->data = data + json_integer_value(o0);
    return DX_OK;
}

/* No two tensors may share bytes. */
static dx_status check_overlap(const st_file *f)
{
    st_tensor *sorted = malloc((f->n ? f->n : 1) * sizeof *sorted);
    if (!sorted)
        return dx_fail(DX_ENOMEM, "safetensors: out of memory");
    memcpy(sorted, f->t, f->n * sizeof *sorted);
    qsort(sorted, f->n, sizeof *sorted, by_offset);
    dx_status st = DX_OK;
    for (size_t i = 1; i < f->n; i++)
        if ((const uint8_t *)sorted[i - 1].data + sorted[i - 1].nbytes >
            (const uint8_t *)sorted[i].data) {
            st = dx_fail(DX_EFORMAT, "safetensors: tensors '%.100s' and '%.100s' overlap",
                         sorted[i - 1].name, sorted[i].name);
            break;
        }
    free(sorted);
    return st;
}

/* Names and dtype strings must outlive the JSON: dtype names are pointed into
 * a static table (elem_size knew every one). */
static void intern_dtype_names(st_file *f)
{
    static const char *const dts[] = {"F32", "F16", "BF16", "F64",     "I64",
                                      "I32", "I16", "I8",   "U8",      "BOOL",
                                      "U16", "U32", "U64",  "F8_E4M3", "F8_E5M2"};
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < sizeof dts / sizeof dts[0]; j++)
            if (!strcmp(f->t[i].dtype_name, dts[j]))
                f->t[i].dtype_name = dts[j];
}

/* The 8-byte little-endian header length, then the JSON header, then the
 * tensor table (parse_tensor for each entry but __metadata__). */
static dx_status parse(st_file *f, const uint8_t *p, size_t len)
{
    if (len < 8)
        return dx_fail(DX_EFORMAT, "safetensors: file of %zu bytes is too short for a header", len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | p[i];
    if (hl > DX_ST_MAX_HEADER)
        return dx_fail(DX_ELIMIT, "safetensors: header of %llu bytes is over the limit of %u",
                       (unsigned long long)hl, DX_ST_MAX_HEADER);
    if (hl < 2 || hl > len - 8)
        return dx_fail(DX_EFORMAT, "safetensors: header length %llu does not fit a %zu-byte file",
                       (unsigned long long)hl, len);
    const uint8_t *data = p + 8 + hl;
    const size_t data_len = len - 8 - (size_t)hl;
    json_error_t je;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return dx_fail(DX_EFORMAT, "safetensors: header is not valid JSON: %s", je.text);
    dx_status st = DX_OK;
    size_t names_len = 0, n = 0;
    const char *key;
    json_t *val;
    if (!json_is_object(root)) {
        st = dx_fail(DX_EFORMAT, "safetensors: header is not a JSON object");
        goto out;
    }
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__"))
            continue;
        n++;
        names_len += strlen(key) + 1;
    }
    if (n > DX_ST_MAX_TENSORS) {
        st = dx_fail(DX_ELIMIT, "safetensors: %zu tensors is over the limit of %u", n,
                     DX_ST_MAX_TENSORS);
        goto out;
    }
    f->t = calloc(n ? n : 1, sizeof *f->t);
    f->names = malloc(names_len ? names_len : 1);
    if (!f->t || !f->names) {
        st = dx_fail(DX_ENOMEM, "safetensors: out of memory for %zu tensors", n);
        goto out;
    }
    char *np = f->names;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__"))
            continue;
        st_tensor *t = &f->t[f->n];
        size_t kl = strlen(key);
        memcpy(np, key, kl + 1);
        t->name = np;
        np += kl + 1;
        if ((st = parse_tensor(key, val, data, data_len, t)))
            goto out;
        f->n++;
    }
    if (!(st = check_overlap(f)))
        intern_dtype_names(f);
out:
    json_decref(root);
    return st;
}

static dx_status open_common(st_file *f, const void *p, size_t len, const char *path, st_file **out)
{
    dx_status st = parse(f, p, len);
    if (st) {
        if (path)
            dx_wrap(st, "%s", path);
        st_close(f);
        return st;
    }
    *out = f;
    return DX_OK;
}

dx_status st_open_mem(const void *data, size_t len, st_file **out)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f)
        return dx_fail(DX_ENOMEM, "safetensors: out of memory");
    return open_common(f, data, len, NULL, out);
}

dx_status st_open(const char *path, st_file **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dx_fail(errno == ENOENT ? DX_ENOTFOUND : DX_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return dx_fail(DX_EIO, "%s: not a regular file", path);
    }
    const size_t len = (size_t)sb.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && map == MAP_FAILED)
        return dx_fail(DX_EIO, "%s: mmap: %s", path, strerror(errno));
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        if (map)
            munmap(map, len);
        return dx_fail(DX_ENOMEM, "safetensors: out of memory");
    }
    f->map = map;
    f->map_len = len;
    return open_common(f, map, len, path, out);
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->t);
    free(f->names);
    free(f);
}

size_t st_n_tensors(const st_file *f)
{
    return f->n;
}

const st_tensor *st_tensor_at(const st_file *f, size_t i)
{
    return i < f->n ? &f->t[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

dx_status st_to_f32(const st_tensor *t, int64_t off, int64_t n, float *out)
{
    if (off < 0 || n < 0 || off > t->n_elems || n > t->n_elems - off)
        return dx_fail(DX_EARG, "safetensors: elements [%lld, +%lld) are outside tensor '%s'",
                       (long long)off, (long long)n, t->name);
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case ST_F32:
            memcpy(&out[i], p + (size_t)(off + i) * 4, 4);
            break;
        case ST_F16: {
            uint16_t h;
            memcpy(&h, p + (size_t)(off + i) * 2, 2);
            out[i] = dx_f16_to_f32(h);
            break;
        }
        case ST_BF16: {
            uint16_t h;
            memcpy(&h, p + (size_t)(off + i) * 2, 2);
            out[i] = dx_bf16_to_f32(h);
            break;
        }
        default:
            return dx_fail(DX_EUNSUPPORTED, "safetensors: tensor '%s' is %s, not a float format",
                           t->name, t->dtype_name);
        }
    }
    return DX_OK;
}
