/*
 * gguf — reads and validates a GGUF file (see gguf.h; design notes in docs/gguf.md).
 *
 * Opening runs two passes over the header. The first checks everything
 * (structure, limits, alignment, tensor shapes and types) without allocating
 * and counts what the index needs; one calloc then holds the metadata table,
 * the tensor table, the string-array index, both hash tables and the copied
 * names; the second pass fills them, refusing duplicate keys and names, and
 * checks each tensor's data against the file. Nothing is allocated per token.
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"

#define GGUF_HEADER_SIZE 24u /* magic, version, tensor count, kv count */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define KV_MIN_SIZE 13u     /* key length + 1 byte key + type + 1 byte value */
#define TENSOR_MIN_SIZE 33u /* name length + 1 byte + n_dims + ne[0] + type + offset */

typedef struct gguf_kv {
    const char *key;    /* NUL-terminated copy */
    uint32_t type;      /* enum gguf_vtype */
    uint32_t elem;      /* arrays: element type */
    uint64_t n;         /* strings: bytes; arrays: elements */
    const uint8_t *val; /* scalar bytes, string bytes, or first array element */
    const dx_str *strs; /* top-level string arrays: the index */
} gguf_kv;

struct gguf {
    const uint8_t *base;
    size_t size;
    void *map; /* mmap'd by gguf_open, else NULL */
    uint32_t version;
    size_t alignment;
    uint64_t data_off; /* start of the data section (aligned) */
    size_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint32_t *kv_hash, *t_hash; /* open addressing: index + 1, 0 = empty */
    uint32_t kv_mask, t_mask;
    void *mem; /* the one allocation holding all of the above tables */
};

/* ---- reading with bounds and context ---------------------------------- */

enum { W_HEADER, W_KV, W_TENSOR };

typedef struct rd {
    const uint8_t *p;
    size_t size, pos;
    const char *path; /* for messages; NULL for memory buffers */
    int where;
    uint64_t idx;   /* kv or tensor number */
    dx_str name;    /* its key or name once read and valid */
    unsigned depth; /* array levels being walked */
    uint64_t elem[DX_GGUF_MAX_NESTING + 1];
} rd;

/* Records "gguf: [path: ][kv N 'key': ][element [i][j]: ]message". */
__attribute__((format(printf, 3, 4))) static dx_status rfail(const rd *r, dx_status st,
                                                             const char *fmt, ...)
{
    char msg[320], where[200] = "", elems[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->where != W_HEADER) {
        const char *what = r->where == W_KV ? "kv" : "tensor";
        if (r->name.len) {
            int shown = r->name.len > 96 ? 96 : (int)r->name.len;
            snprintf(where, sizeof where, "%s %" PRIu64 " '%.*s%s': ", what, r->idx, shown,
                     r->name.ptr, r->name.len > 96 ? "..." : "");
        } else {
            snprintf(where, sizeof where, "%s %" PRIu64 ": ", what, r->idx);
        }
    }
    if (r->depth) {
        size_t n = (size_t)snprintf(elems, sizeof elems, "element ");
        for (unsigned i = 0; i < r->depth && n < sizeof elems; i++)
            n += (size_t)snprintf(elems + n, sizeof elems - n, "[%" PRIu64 "]", r->elem[i]);
        if (n < sizeof elems)
            snprintf(elems + n, sizeof elems - n, ": ");
    }
    return dx_fail(st, "gguf: %s%s%s%s%s", r->path ? r->path : "", r->path ? ": " : "", where,
                   elems, msg);
}

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static dx_status need(rd *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos)
        return rfail(r, DX_EFORMAT,
                     "%s (%" PRIu64
                     " bytes at offset %zu) runs past the end of the file (size %zu)",
                     what, n, r->pos, r->size);
    return DX_OK;
}

static dx_status rd_u32(rd *r, uint32_t *v, const char *what)
{
    dx_status st = need(r, 4, what);
    if (st)
        return st;
    *v = ld32(r->p + r->pos);
    r->pos += 4;
    return DX_OK;
}

static dx_status rd_u64(rd *r, uint64_t *v, const char *what)
{
    dx_status st = need(r, 8, what);
    if (st)
        return st;
    *v = ld64(r->p + r->pos);
    r->pos += 8;
    return DX_OK;
}

/* A length-prefixed string of at most max bytes; s may be NULL. */
static dx_status rd_str(rd *r, dx_str *s, uint64_t max, const char *what)
{
    uint64_t len;
    dx_status st = rd_u64(r, &len, what);
    if (st)
        return st;
    if (len > max)
        return rfail(r, DX_ELIMIT, "%s length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes",
                     what, len, max);
    if ((st = need(r, len, what)))
        return st;
    if (s)
        *s = (dx_str){(const char *)r->p + r->pos, (size_t)len};
    r->pos += (size_t)len;
    return DX_OK;
}

/* A key or tensor name: 1..DX_GGUF_MAX_NAME bytes, no control bytes. */
static dx_status rd_name(rd *r, dx_str *s, const char *what)
{
    dx_status st = rd_str(r, s, DX_GGUF_MAX_NAME, what);
    if (st)
        return st;
    if (s->len == 0)
        return rfail(r, DX_EFORMAT, "%s is empty", what);
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        if (c < 0x20 || c == 0x7f)
            return rfail(r, DX_EFORMAT, "%s has control byte 0x%02x at position %zu", what, c, i);
    }
    return DX_OK;
}

/* ---- metadata values --------------------------------------------------- */

static const uint8_t fixed_size[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1,  [GGUF_I8] = 1,   [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4, [GGUF_I32] = 4,
    [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8, [GGUF_F64] = 8,
};

static const char *const vtype_names[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = "u8",         [GGUF_I8] = "i8",       [GGUF_U16] = "u16", [GGUF_I16] = "i16",
    [GGUF_U32] = "u32",       [GGUF_I32] = "i32",     [GGUF_F32] = "f32", [GGUF_BOOL] = "bool",
    [GGUF_STRING] = "string", [GGUF_ARRAY] = "array", [GGUF_U64] = "u64", [GGUF_I64] = "i64",
    [GGUF_F64] = "f64",
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT ? vtype_names[t] : "unknown";
}

/* Walks the body of an array (element type, count, elements) at depth 1..,
 * checking every element. For a string array with index != NULL, records
 * each string there. */
static dx_status parse_array(rd *r, unsigned depth, uint32_t *elem_out, uint64_t *n_out,
                             const uint8_t **first, dx_str *index)
{
    uint32_t elem;
    uint64_t n;
    dx_status st = rd_u32(r, &elem, "array element type");
    if (st)
        return st;
    if (elem >= GGUF_VTYPE_COUNT)
        return rfail(r, DX_EFORMAT, "array has unknown element type %" PRIu32, elem);
    if ((st = rd_u64(r, &n, "array length")))
        return st;
    if (n > DX_GGUF_MAX_ARRAY)
        return rfail(r, DX_ELIMIT, "array of %" PRIu64 " elements exceeds the limit of %u", n,
                     DX_GGUF_MAX_ARRAY);
    if (elem == GGUF_ARRAY && depth >= DX_GGUF_MAX_NESTING)
        return rfail(r, DX_ELIMIT, "arrays nested more than %u deep", DX_GGUF_MAX_NESTING);
    *elem_out = elem;
    *n_out = n;
    *first = r->p + r->pos;
    if (fixed_size[elem]) {
        uint64_t bytes = n * fixed_size[elem]; /* n is bounded: no overflow */
        if ((st = need(r, bytes, "array data")))
            return st;
        r->pos += (size_t)bytes;
        return DX_OK;
    }
    /* strings take at least 8 bytes each, arrays 12: refuse a count that can't fit */
    uint64_t min = elem == GGUF_STRING ? 8 : 12;
    if (n > (r->size - r->pos) / min)
        return rfail(r, DX_EFORMAT,
                     "array of %" PRIu64 " %ss at offset %zu can't fit in the rest of the file "
                     "(size %zu)",
                     n, vtype_names[elem], r->pos, r->size);
    r->depth = depth;
    for (uint64_t i = 0; i < n; i++) {
        r->elem[depth - 1] = i;
        if (elem == GGUF_STRING) {
            dx_str s;
            if ((st = rd_str(r, &s, DX_GGUF_MAX_STRING, "string")))
                return st;
            if (index)
                index[i] = s;
        } else {
            uint32_t e2;
            uint64_t n2;
            const uint8_t *f2;
            if ((st = parse_array(r, depth + 1, &e2, &n2, &f2, NULL)))
                return st;
            r->depth = depth;
        }
    }
    r->depth = depth - 1;
    return DX_OK;
}

/* ---- the two passes --------------------------------------------------- */

typedef struct counts {
    uint64_t name_bytes; /* keys and tensor names, NUL included */
    uint64_t n_strs;     /* strings in top-level string arrays */
} counts;

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Looks name up in a table of index+1 entries; returns the index or -1. */
static int64_t hash_find(const uint32_t *tab, uint32_t mask, const char *name, size_t len,
                         const char *(*name_at)(const gguf *, size_t), const gguf *g)
{
    for (uint32_t h = hash_bytes(name, len) & mask;; h = (h + 1) & mask) {
        uint32_t e = tab[h];
        if (!e)
            return -1;
        const char *s = name_at(g, e - 1);
        if (strncmp(s, name, len) == 0 && s[len] == '\0')
            return e - 1;
    }
}

/* Inserts index i under name; returns the index already there, or -1. */
static int64_t hash_insert(uint32_t *tab, uint32_t mask, const char *name, size_t len, size_t i,
                           const char *(*name_at)(const gguf *, size_t), const gguf *g)
{
    uint32_t h = hash_bytes(name, len) & mask;
    for (; tab[h]; h = (h + 1) & mask) {
        const char *s = name_at(g, tab[h] - 1);
        if (strncmp(s, name, len) == 0 && s[len] == '\0')
            return tab[h] - 1;
    }
    tab[h] = (uint32_t)i + 1;
    return -1;
}

static const char *kv_name_at(const gguf *g, size_t i)
{
    return g->kv[i].key;
}

static const char *tensor_name_at(const gguf *g, size_t i)
{
    return g->tensors[i].name;
}

static dx_status check_alignment_kv(rd *r, gguf *g, uint32_t type, const uint8_t *val)
{
    if (type != GGUF_U32)
        return rfail(r, DX_EFORMAT, "general.alignment must be a u32, not %s", vtype_names[type]);
    uint32_t a = ld32(val);
    if (a == 0 || (a & (a - 1)))
        return rfail(r, DX_EFORMAT, "general.alignment %" PRIu32 " is not a power of two", a);
    if (a > DX_GGUF_MAX_ALIGNMENT)
        return rfail(r, DX_ELIMIT, "general.alignment %" PRIu32 " exceeds the limit of %u", a,
                     DX_GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return DX_OK;
}

/* Block size of a known type, for messages: the smallest power of two n
 * that is a whole number of blocks (0 if none up to 4096). */
static int64_t block_size_of(uint32_t type)
{
    size_t b;
    for (int64_t n = 1; n <= 4096; n *= 2)
        if (gguf_type_row_size(type, n, &b))
            return n;
    return 0;
}

/* Reads one tensor info entry into t (name not copied) and checks it. */
static dx_status parse_tensor(rd *r, gguf *g, gguf_tensor *t, dx_str *name, bool check_data)
{
    dx_status st = rd_name(r, name, "tensor name");
    if (st)
        return st;
    r->name = *name;
    if ((st = rd_u32(r, &t->n_dims, "dimension count")))
        return st;
    if (t->n_dims < 1 || t->n_dims > DX_GGUF_MAX_DIMS)
        return rfail(r, DX_EFORMAT, "has %" PRIu32 " dimensions (1 to %u allowed)", t->n_dims,
                     DX_GGUF_MAX_DIMS);
    for (uint32_t j = 0; j < 4; j++)
        t->ne[j] = 1;
    for (uint32_t j = 0; j < t->n_dims; j++) {
        uint64_t ne;
        if ((st = rd_u64(r, &ne, "dimension")))
            return st;
        if (ne > (uint64_t)INT64_MAX)
            return rfail(r, DX_EFORMAT, "ne[%" PRIu32 "] = %" PRIu64 " is out of range", j, ne);
        t->ne[j] = (int64_t)ne;
    }
    if ((st = rd_u32(r, &t->type, "tensor type")) || (st = rd_u64(r, &t->offset, "data offset")))
        return st;

    size_t row;
    if (!gguf_type_row_size(t->type, 0, &row))
        return rfail(r, DX_EFORMAT, "unknown tensor type %" PRIu32, t->type);
    bool empty = false;
    int64_t rows = 1;
    for (uint32_t j = 0; j < 4; j++)
        empty |= t->ne[j] == 0;
    for (uint32_t j = 1; j < 4 && !empty; j++) {
        if (rows > INT64_MAX / t->ne[j])
            goto overflow;
        rows *= t->ne[j];
    }
    if (!empty && rows > INT64_MAX / t->ne[0])
        goto overflow;
    if (!gguf_type_row_size(t->type, t->ne[0], &row)) {
        int64_t bs = block_size_of(t->type);
        if (bs == 0 || t->ne[0] % bs != 0)
            return rfail(r, DX_EFORMAT,
                         "ne[0] = %" PRId64 " is not a whole number of %s blocks of %" PRId64,
                         t->ne[0], gguf_type_name(t->type), bs);
        goto overflow;
    }
    if (!empty && row > SIZE_MAX / (uint64_t)rows)
        goto overflow;
    t->nbytes = empty ? 0 : row * (size_t)rows;
    if (t->offset % g->alignment)
        return rfail(r, DX_EFORMAT,
                     "data offset %" PRIu64 " is not a multiple of the alignment %zu", t->offset,
                     g->alignment);
    if (check_data) {
        uint64_t room = g->data_off <= r->size ? r->size - g->data_off : 0;
        if (g->data_off > r->size || t->offset > room || t->nbytes > room - t->offset)
            return rfail(r, DX_EFORMAT,
                         "data [offset %" PRIu64 ", %zu bytes) extends past the end of the file "
                         "(size %zu, data section at %" PRIu64 ")",
                         t->offset, t->nbytes, r->size, g->data_off);
        t->data = r->p + g->data_off + t->offset;
    }
    return DX_OK;
overflow:
    return rfail(r, DX_EFORMAT,
                 "size of [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                 "] %s elements overflows",
                 t->ne[0], t->ne[1], t->ne[2], t->ne[3], gguf_type_name(t->type));
}

/* The metadata entries, from r->pos: fill = false: check and count into c;
 * fill = true: fill g's kv table, names (advanced past the keys) and the
 * string index, and check for duplicate keys. */
static dx_status parse_kvs(rd *r, gguf *g, bool fill, counts *c, char **namesp, dx_str *strs)
{
    dx_status st = DX_OK;
    char *names = *namesp;
    for (size_t i = 0; i < g->n_kv; i++) {
        *r = (rd){
            .p = r->p, .size = r->size, .pos = r->pos, .path = r->path, .where = W_KV, .idx = i};
        dx_str key;
        uint32_t type, elem = 0;
        uint64_t n = 0;
        const uint8_t *val;
        if ((st = rd_name(r, &key, "key")))
            return st;
        r->name = key;
        if ((st = rd_u32(r, &type, "value type")))
            return st;
        if (type >= GGUF_VTYPE_COUNT)
            return rfail(r, DX_EFORMAT, "unknown value type %" PRIu32, type);
        dx_str *index = NULL;
        if (type == GGUF_STRING) {
            dx_str s;
            if ((st = rd_str(r, &s, DX_GGUF_MAX_STRING, "string")))
                return st;
            val = (const uint8_t *)s.ptr;
            n = s.len;
        } else if (type == GGUF_ARRAY) {
            /* peek the element type so the index can be filled on the way */
            if (fill && r->size - r->pos >= 4 && ld32(r->p + r->pos) == GGUF_STRING)
                index = strs;
            if ((st = parse_array(r, 1, &elem, &n, &val, index)))
                return st;
            if (elem == GGUF_STRING) {
                if (!fill) {
                    c->n_strs += n;
                    if (c->n_strs > DX_GGUF_MAX_ARR_STRINGS)
                        return rfail(r, DX_ELIMIT,
                                     "string arrays hold more than %u strings in all (the limit)",
                                     DX_GGUF_MAX_ARR_STRINGS);
                } else {
                    strs += n;
                }
            }
        } else {
            if ((st = need(r, fixed_size[type], "value")))
                return st;
            val = r->p + r->pos;
            r->pos += fixed_size[type];
        }
        if (!fill) {
            c->name_bytes += key.len + 1;
            if (dx_str_eqc(key, "general.alignment") && (st = check_alignment_kv(r, g, type, val)))
                return st;
            continue;
        }
        gguf_kv *kv = &g->kv[i];
        memcpy(names, key.ptr, key.len);
        names[key.len] = '\0';
        *kv =
            (gguf_kv){.key = names, .type = type, .elem = elem, .n = n, .val = val, .strs = index};
        names += key.len + 1;
        int64_t dup = hash_insert(g->kv_hash, g->kv_mask, kv->key, key.len, i, kv_name_at, g);
        if (dup >= 0)
            return rfail(r, DX_EFORMAT, "duplicate key (first at kv %" PRId64 ")", dup);
    }
    *namesp = names;
    return DX_OK;
}

/* The tensor table, after the metadata: as parse_kvs, for tensors. */
static dx_status parse_tensors(rd *r, gguf *g, bool fill, counts *c, char *names)
{
    dx_status st = DX_OK;
    for (size_t i = 0; i < g->n_tensors; i++) {
        *r = (rd){.p = r->p,
                  .size = r->size,
                  .pos = r->pos,
                  .path = r->path,
                  .where = W_TENSOR,
                  .idx = i};
        gguf_tensor tmp = {0}, *t = fill ? &g->tensors[i] : &tmp;
        dx_str name;
        if ((st = parse_tensor(r, g, t, &name, fill)))
            return st;
        if (!fill) {
            c->name_bytes += name.len + 1;
            continue;
        }
        memcpy(names, name.ptr, name.len);
        names[name.len] = '\0';
        t->name = names;
        names += name.len + 1;
        int64_t dup = hash_insert(g->t_hash, g->t_mask, t->name, name.len, i, tensor_name_at, g);
        if (dup >= 0)
            return rfail(r, DX_EFORMAT, "duplicate tensor name (first at tensor %" PRId64 ")", dup);
    }
    return DX_OK;
}

/* One pass over kv and tensor entries. fill = false: check and count into c
 * (and place the data section). fill = true: g's tables exist; fill them and
 * check for duplicates. */
static dx_status parse(rd *r, gguf *g, bool fill, counts *c, char *names, dx_str *strs)
{
    r->pos = GGUF_HEADER_SIZE;
    dx_status st;
    if ((st = parse_kvs(r, g, fill, c, &names, strs)) || (st = parse_tensors(r, g, fill, c, names)))
        return st;
    if (!fill) {
        uint64_t end = r->pos;
        g->data_off = (end + g->alignment - 1) / g->alignment * g->alignment;
    }
    return DX_OK;
}

typedef struct span {
    uint64_t off, end;
    size_t idx;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Refuses tensors whose data ranges overlap (empty tensors overlap nothing). */
static dx_status check_overlaps(rd *r, gguf *g)
{
    dx_status st = DX_OK;
    span *sp = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *sp);
    if (!sp)
        return dx_fail(DX_ENOMEM, "gguf: out of memory");
    size_t n = 0;
    bool sorted = true;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (!t->nbytes)
            continue;
        sp[n] = (span){t->offset, t->offset + t->nbytes, i};
        if (n && sp[n].off < sp[n - 1].off)
            sorted = false;
        n++;
    }
    if (!sorted)
        qsort(sp, n, sizeof *sp, span_cmp);
    for (size_t k = 1; k < n; k++) {
        if (sp[k].off >= sp[k - 1].end)
            continue;
        const gguf_tensor *a = &g->tensors[sp[k - 1].idx], *b = &g->tensors[sp[k].idx];
        r->where = W_TENSOR;
        r->idx = sp[k].idx;
        r->name = dx_str_c(b->name);
        r->depth = 0;
        st = rfail(r, DX_EFORMAT,
                   "data [offset %" PRIu64 ", %zu bytes) overlaps tensor %zu '%.64s' "
                   "[offset %" PRIu64 ", %zu bytes)",
                   b->offset, b->nbytes, sp[k - 1].idx, a->name, a->offset, a->nbytes);
        break;
    }
    free(sp);
    return st;
}

static uint32_t table_cap(size_t n)
{
    uint32_t cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* The fixed header: magic, version (2 or 3, little-endian) and the two
 * counts, within their limits and the room the file has for them. */
static dx_status read_header(rd *r, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv)
{
    const uint8_t *p = r->p;
    const size_t size = r->size;
    if (size >= 4 && memcmp(p, "GGUF", 4) != 0)
        return rfail(r, DX_EFORMAT,
                     "not a GGUF file (starts with bytes %02x %02x %02x %02x, expected 'GGUF')",
                     p[0], p[1], p[2], p[3]);
    if (size < GGUF_HEADER_SIZE)
        return rfail(r, DX_EFORMAT, "file of %zu bytes is too small for a GGUF header (%u bytes)",
                     size, GGUF_HEADER_SIZE);
    *version = ld32(p + 4);
    uint32_t swapped = __builtin_bswap32(*version);
    if (*version == 1)
        return rfail(r, DX_EFORMAT,
                     "GGUF version 1 is not supported (versions 2 and 3 are): convert the model "
                     "again with a current llama.cpp");
    if (*version != 2 && *version != 3) {
        if ((*version & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
            return rfail(r, DX_EFORMAT,
                         "big-endian GGUF file (version %" PRIu32 "): only little-endian files "
                         "are supported",
                         swapped);
        return rfail(r, DX_EFORMAT,
                     "unsupported GGUF version %" PRIu32 " (versions 2 and 3 are supported)",
                     *version);
    }
    *n_tensors = ld64(p + 8);
    *n_kv = ld64(p + 16);
    if (*n_kv > DX_GGUF_MAX_KV)
        return rfail(r, DX_ELIMIT, "%" PRIu64 " metadata entries exceed the limit of %u", *n_kv,
                     DX_GGUF_MAX_KV);
    if (*n_tensors > DX_GGUF_MAX_TENSORS)
        return rfail(r, DX_ELIMIT, "%" PRIu64 " tensors exceed the limit of %u", *n_tensors,
                     DX_GGUF_MAX_TENSORS);
    if (*n_kv * KV_MIN_SIZE + *n_tensors * TENSOR_MIN_SIZE > size - GGUF_HEADER_SIZE)
        return rfail(r, DX_EFORMAT,
                     "header claims %" PRIu64 " metadata entries and %" PRIu64 " tensors, more "
                     "than fit in the file (size %zu)",
                     *n_kv, *n_tensors, size);
    return DX_OK;
}

/* One allocation for the index the first pass counted: kv, tensors, string
 * index, hash tables, names. All terms are bounded by limits.h, so the sum
 * can't overflow. Sets *names and *strs to where the second pass fills them. */
static dx_status alloc_index(gguf *g, const counts *c, char **names, dx_str **strs)
{
    g->kv_mask = table_cap(g->n_kv) - 1;
    g->t_mask = table_cap(g->n_tensors) - 1;
    size_t o_kv = 0;
    size_t o_t = o_kv + round16(g->n_kv * sizeof(gguf_kv));
    size_t o_s = o_t + round16(g->n_tensors * sizeof(gguf_tensor));
    size_t o_kh = o_s + round16((size_t)c->n_strs * sizeof(dx_str));
    size_t o_th = o_kh + round16(((size_t)g->kv_mask + 1) * sizeof(uint32_t));
    size_t o_n = o_th + round16(((size_t)g->t_mask + 1) * sizeof(uint32_t));
    size_t total = o_n + (size_t)c->name_bytes + 1;
    char *mem = calloc(1, total);
    if (!mem)
        return dx_fail(DX_ENOMEM, "gguf: out of memory for the index (%zu bytes)", total);
    g->mem = mem;
    g->kv = (gguf_kv *)(mem + o_kv);
    g->tensors = (gguf_tensor *)(mem + o_t);
    g->kv_hash = (uint32_t *)(mem + o_kh);
    g->t_hash = (uint32_t *)(mem + o_th);
    *names = mem + o_n;
    *strs = (dx_str *)(mem + o_s);
    return DX_OK;
}

/* Header, a first pass that checks and counts, the index, a second pass
 * that fills it, then the tensors' data ranges. */
static dx_status open_common(const uint8_t *p, size_t size, const char *path, gguf **out)
{
    rd r = {.p = p, .size = size, .path = path};
    uint32_t version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    *out = NULL;
    dx_status st = read_header(&r, &version, &n_tensors, &n_kv);
    if (st)
        return st;
    gguf *g = calloc(1, sizeof *g);
    if (!g)
        return dx_fail(DX_ENOMEM, "gguf: out of memory");
    g->base = p;
    g->size = size;
    g->version = version;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    g->n_kv = (size_t)n_kv;
    g->n_tensors = (size_t)n_tensors;
    counts c = {0};
    char *names = NULL;
    dx_str *strs = NULL;
    if ((st = parse(&r, g, false, &c, NULL, NULL)) || (st = alloc_index(g, &c, &names, &strs)) ||
        (st = parse(&r, g, true, &c, names, strs)))
        goto out;
    r.depth = 0;
    if ((st = check_overlaps(&r, g)))
        goto out;
    *out = g;
    g = NULL;
out:
    if (g) {
        free(g->mem);
        free(g);
    }
    return st;
}

/* ---- public ----------------------------------------------------------- */

dx_status gguf_open_mem(const void *data, size_t len, gguf **out)
{
    if (!out)
        return dx_fail(DX_EARG, "gguf: no output handle");
    *out = NULL;
    if (!data && len)
        return dx_fail(DX_EARG, "gguf: NULL buffer of %zu bytes", len);
    return open_common(data ? data : "", len, NULL, out);
}

dx_status gguf_open(const char *path, gguf **out)
{
    dx_status st = DX_OK;
    void *map = NULL;
    size_t size = 0;
    char eb[128];
    if (!out)
        return dx_fail(DX_EARG, "gguf: no output handle");
    *out = NULL;
    if (!path)
        return dx_fail(DX_EARG, "gguf: no path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return dx_fail(e == ENOENT ? DX_ENOTFOUND : DX_EIO, "gguf: %s: %s", path,
                       strerror_r(e, eb, sizeof eb));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = dx_fail(DX_EIO, "gguf: %s: %s", path, strerror_r(errno, eb, sizeof eb));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = dx_fail(DX_EIO, "gguf: %s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        st = dx_fail(DX_ELIMIT, "gguf: %s: file too large to map", path);
        goto out;
    }
    size = (size_t)sb.st_size;
    if (size) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            st = dx_fail(DX_EIO, "gguf: %s: mmap: %s", path, strerror_r(errno, eb, sizeof eb));
            goto out;
        }
    }
    if ((st = open_common(map ? map : "", size, path, out)))
        goto out;
    (*out)->map = map;
    map = NULL;
out:
    if (map)
        munmap(map, size);
    close(fd);
    return st;
}

void gguf_close(gguf *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, g->size);
    free(g->mem);
    free(g);
}

uint32_t gguf_version(const gguf *g)
{
    return g->version;
}

size_t gguf_alignment(const gguf *g)
{
    return g->alignment;
}

size_t gguf_file_size(const gguf *g)
{
    return g->size;
}

const void *gguf_mapping(const gguf *g)
{
    return g->map;
}

size_t gguf_data_offset(const gguf *g)
{
    return g->data_off < g->size ? (size_t)g->data_off : g->size;
}

size_t gguf_n_kv(const gguf *g)
{
    return g->n_kv;
}

const char *gguf_kv_key(const gguf *g, size_t i)
{
    return i < g->n_kv ? g->kv[i].key : NULL;
}

enum gguf_vtype gguf_kv_type(const gguf *g, size_t i)
{
    return i < g->n_kv ? (enum gguf_vtype)g->kv[i].type : GGUF_VTYPE_COUNT;
}

int64_t gguf_find_key(const gguf *g, const char *key)
{
    if (!key)
        return -1;
    return hash_find(g->kv_hash, g->kv_mask, key, strlen(key), kv_name_at, g);
}

static const gguf_kv *kv_get(const gguf *g, const char *key)
{
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* An integer value as signed or unsigned; false for non-integer types. */
static bool kv_integer(const gguf_kv *kv, int64_t *sv, uint64_t *uv, bool *is_signed)
{
    const uint8_t *p = kv->val;
    *is_signed = true;
    switch (kv->type) {
    case GGUF_I8:
        *sv = (int8_t)p[0];
        return true;
    case GGUF_I16:
        *sv = (int16_t)ld16(p);
        return true;
    case GGUF_I32:
        *sv = (int32_t)ld32(p);
        return true;
    case GGUF_I64: {
        uint64_t u = ld64(p);
        memcpy(sv, &u, 8);
        return true;
    }
    default:
        break;
    }
    *is_signed = false;
    switch (kv->type) {
    case GGUF_U8:
        *uv = p[0];
        return true;
    case GGUF_U16:
        *uv = ld16(p);
        return true;
    case GGUF_U32:
        *uv = ld32(p);
        return true;
    case GGUF_U64:
        *uv = ld64(p);
        return true;
    default:
        return false;
    }
}

/* An integer key of any integer type whose value lies in [lo, hi]. */
static bool get_int_in(const gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const gguf_kv *kv = kv_get(g, key);
    int64_t s;
    uint64_t u;
    bool sg;
    if (!kv || !kv_integer(kv, &s, &u, &sg))
        return false;
    if (!sg) {
        if (u > (uint64_t)INT64_MAX)
            return false;
        s = (int64_t)u;
    }
    if (s < lo || s > hi)
        return false;
    *out = s;
    return true;
}

bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out)
{
    int64_t v;
    if (!get_int_in(g, key, 0, UINT32_MAX, &v))
        return false;
    if (out)
        *out = (uint32_t)v;
    return true;
}

bool gguf_get_i64(const gguf *g, const char *key, int64_t *out)
{
    int64_t v;
    if (!get_int_in(g, key, INT64_MIN, INT64_MAX, &v))
        return false;
    if (out)
        *out = v;
    return true;
}

bool gguf_get_f32(const gguf *g, const char *key, float *out)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return false;
    if (kv->type == GGUF_F32) {
        uint32_t u = ld32(kv->val);
        float f;
        memcpy(&f, &u, 4);
        if (out)
            *out = f;
        return true;
    }
    if (kv->type == GGUF_F64) {
        uint64_t u = ld64(kv->val);
        double d;
        memcpy(&d, &u, 8);
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return false; /* does not fit a float */
        if (out)
            *out = (float)d;
        return true;
    }
    return false;
}

bool gguf_get_bool(const gguf *g, const char *key, bool *out)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GGUF_BOOL)
        return false;
    if (out)
        *out = kv->val[0] != 0;
    return true;
}

bool gguf_get_str(const gguf *g, const char *key, dx_str *out)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GGUF_STRING)
        return false;
    if (out)
        *out = (dx_str){(const char *)kv->val, (size_t)kv->n};
    return true;
}

bool gguf_get_arr(const gguf *g, const char *key, enum gguf_vtype *elem, uint64_t *n,
                  const void **data)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GGUF_ARRAY)
        return false;
    if (elem)
        *elem = (enum gguf_vtype)kv->elem;
    if (n)
        *n = kv->n;
    if (data)
        *data = fixed_size[kv->elem] ? kv->val : NULL;
    return true;
}

bool gguf_get_arr_str(const gguf *g, const char *key, const dx_str **strs, uint64_t *n)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GGUF_ARRAY || kv->elem != GGUF_STRING)
        return false;
    if (strs)
        *strs = kv->strs;
    if (n)
        *n = kv->n;
    return true;
}

size_t gguf_n_tensors(const gguf *g)
{
    return g->n_tensors;
}

const gguf_tensor *gguf_tensor_at(const gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name)
{
    if (!name)
        return NULL;
    int64_t i = hash_find(g->t_hash, g->t_mask, name, strlen(name), tensor_name_at, g);
    return i < 0 ? NULL : &g->tensors[i];
}
