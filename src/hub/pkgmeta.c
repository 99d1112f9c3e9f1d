#include "hub/pkgmeta.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"

static int is_name_char(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

dx_status pkgmeta_name_norm(dx_str name, char *out, size_t cap)
{
    size_t o = 0;
    int sep = 0;
    if (name.len == 0 || cap == 0)
        return dx_fail(DX_EARG, "empty package name");
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        if (!is_name_char(c))
            return dx_fail(DX_EARG, "package name has a character it can't hold: '%.*s'",
                           (int)(name.len > 80 ? 80 : name.len), name.ptr);
        if (c == '-' || c == '_' || c == '.') {
            sep = 1;
            continue;
        }
        if (sep && o > 0) {
            if (o + 1 >= cap)
                return dx_fail(DX_ELIMIT, "package name too long");
            out[o++] = '-';
        }
        sep = 0;
        if (o + 1 >= cap)
            return dx_fail(DX_ELIMIT, "package name too long");
        out[o++] = (char)tolower(c);
    }
    if (o == 0)
        return dx_fail(DX_EARG, "package name has no letters or digits");
    out[o] = '\0';
    return DX_OK;
}

dx_status pkgmeta_wheel_name(const char *filename, char *dist, size_t dcap, char *ver, size_t vcap)
{
    size_t len = strlen(filename);
    if (len < 5 || strcmp(filename + len - 4, ".whl"))
        return dx_fail(DX_EFORMAT, "not a wheel file name: %.200s", filename);
    const char *d1 = strchr(filename, '-');
    if (!d1)
        return dx_fail(DX_EFORMAT, "wheel file name without a version: %.200s", filename);
    const char *d2 = strchr(d1 + 1, '-');
    if (!d2 || d2 == d1 + 1)
        return dx_fail(DX_EFORMAT, "wheel file name without a version: %.200s", filename);
    dx_status st = pkgmeta_name_norm((dx_str){filename, (size_t)(d1 - filename)}, dist, dcap);
    if (st)
        return st;
    size_t vl = (size_t)(d2 - d1 - 1);
    if (vl + 1 > vcap)
        return dx_fail(DX_ELIMIT, "wheel version too long: %.200s", filename);
    memcpy(ver, d1 + 1, vl);
    ver[vl] = '\0';
    return DX_OK;
}

int pkgmeta_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return 0;
}

unsigned pkgmeta_part_number(const char *name)
{
    size_t len = strlen(name), d = len;
    while (d > 0 && isdigit((unsigned char)name[d - 1]))
        d--;
    if (d == len || len - d > 6 || d < 4 || strncmp(name + d - 4, "part", 4))
        return 0;
    unsigned v = (unsigned)strtoul(name + d, NULL, 10);
    return v;
}

/* ---- Python source: top-level assignments of string literals ---------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

/* Skips spaces, tabs, and (when nl) newlines, backslash continuations and
 * comments. */
static void skip_ws(cursor *c, int nl)
{
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == ' ' || ch == '\t' || ch == '\f')
            c->p++;
        else if (nl && (ch == '\n' || ch == '\r'))
            c->p++;
        else if (ch == '\\' && c->p + 1 < c->end && c->p[1] == '\n')
            c->p += 2;
        else if (nl && ch == '#') {
            while (c->p < c->end && *c->p != '\n')
                c->p++;
        } else
            break;
    }
}

/* Reads one single-line string literal ('...' or "...") at the cursor. */
static dx_status read_string(cursor *c, char *out, size_t cap, size_t *outlen)
{
    if (c->p >= c->end || (*c->p != '"' && *c->p != '\''))
        return dx_fail(DX_EFORMAT, "expected a string literal");
    char q = *c->p++;
    if (c->end - c->p >= 2 && c->p[0] == q && c->p[1] == q)
        return dx_fail(DX_EUNSUPPORTED, "triple-quoted strings are not read");
    size_t o = 0;
    while (c->p < c->end && *c->p != q) {
        char ch = *c->p++;
        if (ch == '\n' || ch == '\r')
            return dx_fail(DX_EFORMAT, "string literal runs past the end of its line");
        if (ch == '\\') {
            if (c->p >= c->end)
                break;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch == 't')
                ch = '\t';
            else if (ch != '\\' && ch != '\'' && ch != '"')
                return dx_fail(DX_EUNSUPPORTED, "string escape '\\%c' is not read", ch);
        }
        if (o + 1 >= cap || o + 1 >= DX_HUB_MAX_PY_STRING)
            return dx_fail(DX_ELIMIT, "string literal longer than %zu bytes",
                           (cap < DX_HUB_MAX_PY_STRING ? cap : DX_HUB_MAX_PY_STRING) - 1);
        out[o++] = ch;
    }
    if (c->p >= c->end)
        return dx_fail(DX_EFORMAT, "unterminated string literal");
    c->p++;
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return DX_OK;
}

/* Finds the top-level line "NAME [: annotation] = " and leaves the cursor at
 * the value. DX_ENOTFOUND when no such line. */
static dx_status find_assignment(dx_str src, const char *name, cursor *c)
{
    size_t nl = strlen(name);
    const char *p = src.ptr, *end = src.ptr + src.len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && !memcmp(p, name, nl) &&
            !(isalnum((unsigned char)p[nl]) || p[nl] == '_')) {
            cursor k = {p + nl, eol};
            skip_ws(&k, 0);
            if (k.p < k.end && *k.p == ':') { /* annotation: skip to '=' on this line */
                while (k.p < k.end && *k.p != '=')
                    k.p++;
            }
            if (k.p < k.end && *k.p == '=' && (k.p + 1 >= k.end || k.p[1] != '=')) {
                c->p = k.p + 1;
                c->end = end;
                skip_ws(c, 0);
                return DX_OK;
            }
        }
        p = eol + 1;
    }
    return dx_fail(DX_ENOTFOUND, "no assignment to %s", name);
}

dx_status pkgmeta_py_string(dx_str src, const char *name, char *out, size_t cap)
{
    cursor c;
    dx_status st = find_assignment(src, name, &c);
    if (st)
        return st;
    st = read_string(&c, out, cap, NULL);
    if (st)
        return dx_wrap(st, "%s", name);
    return DX_OK;
}

dx_status pkgmeta_py_list(dx_str src, const char *name, arena *a, char ***items, size_t *n)
{
    cursor c;
    dx_status st = find_assignment(src, name, &c);
    if (st)
        return st;
    if (c.p >= c.end || (*c.p != '[' && *c.p != '('))
        return dx_fail(DX_EFORMAT, "%s is not a list of strings", name);
    char close = *c.p == '[' ? ']' : ')';
    c.p++;
    char **arr = arena_alloc_array(a, DX_HUB_MAX_CHUNKS, sizeof *arr);
    char *tmp = arena_alloc(a, DX_HUB_MAX_PY_STRING);
    if (!arr || !tmp)
        return dx_fail(DX_ENOMEM, "out of memory reading %s", name);
    size_t k = 0;
    for (;;) {
        skip_ws(&c, 1);
        if (c.p < c.end && *c.p == close) {
            c.p++;
            break;
        }
        if (k == DX_HUB_MAX_CHUNKS)
            return dx_fail(DX_ELIMIT, "%s has more than %u items", name, DX_HUB_MAX_CHUNKS);
        size_t len;
        st = read_string(&c, tmp, DX_HUB_MAX_PY_STRING, &len);
        if (st)
            return dx_wrap(st, "%s item %zu", name, k + 1);
        if (!(arr[k++] = arena_strndup(a, tmp, len)))
            return dx_fail(DX_ENOMEM, "out of memory reading %s", name);
        skip_ws(&c, 1);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == close) {
            c.p++;
            break;
        }
        return dx_fail(DX_EFORMAT, "%s: expected ',' or '%c' after item %zu", name, close, k);
    }
    *items = arr;
    *n = k;
    return DX_OK;
}

/* ---- RECORD ------------------------------------------------------------ */

static int b64url_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

dx_status pkgmeta_record_find(dx_str record, const char *path, char hex[65], uint64_t *size)
{
    size_t pl = strlen(path);
    const char *p = record.ptr, *end = record.ptr + record.len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        p = eol + 1;
        if ((size_t)(eol - q) <= pl || memcmp(q, path, pl) || q[pl] != ',')
            continue;
        q += pl + 1;
        if (eol - q < 7 || memcmp(q, "sha256=", 7))
            return dx_fail(DX_ENOTFOUND, "RECORD has no sha256 for %.200s", path);
        q += 7;
        unsigned char dig[33];
        size_t nd = 0;
        unsigned acc = 0;
        int bits = 0;
        while (q < eol && *q != ',' && *q != '=' && *q != '\r') {
            int v = b64url_val((unsigned char)*q++);
            if (v < 0)
                return dx_fail(DX_EFORMAT, "RECORD: bad base64 digest for %.200s", path);
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (nd == sizeof dig)
                    return dx_fail(DX_EFORMAT, "RECORD: digest too long for %.200s", path);
                dig[nd++] = (unsigned char)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
        while (q < eol && *q == '=')
            q++;
        if (nd != 32)
            return dx_fail(DX_EFORMAT, "RECORD: sha256 for %.200s is not 32 bytes", path);
        for (size_t i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", dig[i]);
        uint64_t sz = 0;
        if (q < eol && *q == ',') {
            q++;
            int digits = 0;
            while (q < eol && isdigit((unsigned char)*q) && digits < 19) {
                sz = sz * 10 + (uint64_t)(*q++ - '0');
                digits++;
            }
        }
        if (size)
            *size = sz;
        return DX_OK;
    }
    return dx_fail(DX_ENOTFOUND, "RECORD has no line for %.200s", path);
}

/* ---- METADATA Requires-Dist -------------------------------------------- */

static int cmp_part(const void *x, const void *y)
{
    const pkgmeta_part *a = x, *b = y;
    return a->part < b->part ? -1 : a->part > b->part;
}

/* After a requirement's name at *q: skips [extras] and reads an optional "(==V)" or "==V" pin
 * into [*vs, *ve) (both NULL without one); moves *q past what it read. */
static dx_status read_pin(const char **q, const char *eol, const char *norm, const char **vs,
                          const char **ve)
{
    const char *c = *q;
    *vs = *ve = NULL;
    while (c < eol && *c == ' ')
        c++;
    if (c < eol && *c == '[') {
        while (c < eol && *c != ']')
            c++;
        if (c < eol)
            c++;
    }
    while (c < eol && (*c == ' ' || *c == '('))
        c++;
    if (eol - c >= 2 && c[0] == '=' && c[1] == '=') {
        c += 2;
        while (c < eol && *c == ' ')
            c++;
        *vs = c;
        while (c < eol && (isalnum((unsigned char)*c) || strchr(".+!_-", *c)))
            c++;
        *ve = c;
        if (*vs == *ve)
            return dx_fail(DX_EFORMAT, "METADATA: empty version pin for %s", norm);
    }
    *q = c;
    return DX_OK;
}

/* The parts, sorted, must be numbered 1..k. */
static dx_status check_numbering(pkgmeta_part *arr, size_t k)
{
    if (k == 0)
        return dx_fail(DX_ENOTFOUND, "METADATA requires no part packages");
    qsort(arr, k, sizeof *arr, cmp_part);
    for (size_t i = 0; i < k; i++)
        if (arr[i].part != i + 1)
            return dx_fail(DX_EFORMAT,
                           "METADATA: part packages are not numbered 1..%zu (found part%u at "
                           "place %zu)",
                           k, arr[i].part, i + 1);
    return DX_OK;
}

dx_status pkgmeta_parts_from_metadata(dx_str md, arena *a, pkgmeta_part **parts, size_t *n)
{
    pkgmeta_part *arr = arena_alloc_array(a, DX_HUB_MAX_CHUNKS, sizeof *arr);
    if (!arr)
        return dx_fail(DX_ENOMEM, "out of memory reading METADATA");
    size_t k = 0;
    const char *p = md.ptr, *end = md.ptr + md.len;
    static const char key[] = "Requires-Dist:";
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        p = eol + 1;
        if (q == eol || (q + 1 == eol && *q == '\r'))
            break; /* headers end at the first blank line */
        if ((size_t)(eol - q) < sizeof key - 1 || strncasecmp(q, key, sizeof key - 1))
            continue;
        q += sizeof key - 1;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        const char *ns = q;
        while (q < eol && is_name_char((unsigned char)*q))
            q++;
        if (q == ns)
            continue;
        char norm[256];
        if (pkgmeta_name_norm((dx_str){ns, (size_t)(q - ns)}, norm, sizeof norm))
            return dx_fail(DX_EFORMAT, "METADATA: bad requirement name '%.*s'",
                           (int)(q - ns > 80 ? 80 : q - ns), ns);
        unsigned part = pkgmeta_part_number(norm);
        if (!part)
            continue;
        const char *vs, *ve;
        dx_status st = read_pin(&q, eol, norm, &vs, &ve);
        if (st)
            return st;
        /* requirements limited by an environment marker are left out */
        if (memchr(q, ';', (size_t)(eol - q)))
            continue;
        if (k == DX_HUB_MAX_CHUNKS)
            return dx_fail(DX_ELIMIT, "METADATA names more than %u parts", DX_HUB_MAX_CHUNKS);
        arr[k].name = arena_strdup(a, norm);
        arr[k].version = vs ? arena_strndup(a, vs, (size_t)(ve - vs)) : NULL;
        arr[k].part = part;
        if (!arr[k].name || (vs && !arr[k].version))
            return dx_fail(DX_ENOMEM, "out of memory reading METADATA");
        k++;
    }
    dx_status st = check_numbering(arr, k);
    if (st)
        return st;
    *parts = arr;
    *n = k;
    return DX_OK;
}
