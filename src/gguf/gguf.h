/*
 * gguf — a reader for GGUF model files (versions 2 and 3), over mmap.
 *
 *     gguf *g;
 *     if (gguf_open("model.gguf", &g)) { puts(dx_errmsg()); return 1; }
 *     dx_str arch;
 *     gguf_get_str(g, "general.architecture", &arch);
 *     const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
 *     ...                        // t->data points into the mapping
 *     gguf_close(g);
 *
 * Every offset, size, count and string length is checked against the file
 * before it is used: a truncated, malformed or hostile file makes gguf_open
 * fail with DX_EFORMAT (or DX_ELIMIT) and a one-line message naming the
 * problem; it never crashes, hangs or reads out of bounds. Once open, the
 * reader is read-only and safe to share between threads. What is checked,
 * and the limits: docs/gguf.md.
 */
#ifndef DX_GGUF_H
#define DX_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/str.h"

enum gguf_vtype {
    GGUF_U8 = 0,
    GGUF_I8 = 1,
    GGUF_U16 = 2,
    GGUF_I16 = 3,
    GGUF_U32 = 4,
    GGUF_I32 = 5,
    GGUF_F32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_U64 = 10,
    GGUF_I64 = 11,
    GGUF_F64 = 12,
    GGUF_VTYPE_COUNT
};

typedef struct gguf gguf;

typedef struct gguf_tensor {
    const char *name; /* NUL-terminated copy */
    uint32_t n_dims;  /* 1..4 */
    int64_t ne[4];    /* elements per dimension, ne[0] fastest; unused dims are 1 */
    uint32_t type;    /* GGML type id (enum qtype), maybe one drux can't compute with */
    uint64_t offset;  /* from the start of the data section */
    size_t nbytes;    /* 0 when a dimension is 0 */
    const void *data; /* into the mapping; aligned as the file says */
} gguf_tensor;

/* Open and validate a file; mmaps it read-only. On error *out is NULL. */
dx_status gguf_open(const char *path, gguf **out);
/* Same over a memory buffer the caller keeps alive (tests, fuzzing). */
dx_status gguf_open_mem(const void *data, size_t len, gguf **out);
void gguf_close(gguf *g); /* NULL is a no-op */

uint32_t gguf_version(const gguf *g);
size_t gguf_alignment(const gguf *g);
size_t gguf_file_size(const gguf *g);
/* The file's read-only private mapping (page-aligned, gguf_file_size bytes),
 * or NULL for gguf_open_mem: pages of it may be dropped (MADV_DONTNEED) and
 * are read back from the file when touched again. */
const void *gguf_mapping(const gguf *g);
/* Where the (aligned) data section starts; tensor offsets count from here. */
size_t gguf_data_offset(const gguf *g);

/* Metadata. Keys are looked up by exact name. */
size_t gguf_n_kv(const gguf *g);
const char *gguf_kv_key(const gguf *g, size_t i);
enum gguf_vtype gguf_kv_type(const gguf *g, size_t i);
int64_t gguf_find_key(const gguf *g, const char *key); /* index, or -1 */

/* Typed getters: false when the key is absent or its type does not fit.
 * Integer getters accept any integer type whose value is in range. */
bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf *g, const char *key, int64_t *out);
bool gguf_get_f32(const gguf *g, const char *key, float *out); /* F32 or F64 */
bool gguf_get_bool(const gguf *g, const char *key, bool *out);
bool gguf_get_str(const gguf *g, const char *key, dx_str *out); /* view into the mapping */

/* Arrays. Element type and count; for numeric arrays *data points to the
 * packed little-endian elements in the mapping (possibly unaligned: copy
 * with memcpy). For string arrays use gguf_get_arr_str; for those and for
 * arrays of arrays (validated, not exposed) *data is NULL. Out-params of all
 * getters may be NULL. */
bool gguf_get_arr(const gguf *g, const char *key, enum gguf_vtype *elem, uint64_t *n,
                  const void **data);
/* String array as an index built at open time: (*strs)[i] views into the mapping. */
bool gguf_get_arr_str(const gguf *g, const char *key, const dx_str **strs, uint64_t *n);

/* Tensors. */
size_t gguf_n_tensors(const gguf *g);
const gguf_tensor *gguf_tensor_at(const gguf *g, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name); /* NULL if absent */

const char *gguf_vtype_name(enum gguf_vtype t);

/* Tensor types: GGML's type ids, below GGUF_TYPE_COUNT (src/gguf/gguf_type.c). */
#define GGUF_TYPE_COUNT 40u

/* Name of any GGML type id, known to drux or not ("Q2_K", "IQ4_NL", "type 99"). Never NULL;
 * the returned string may live in a thread-local buffer for unknown ids. */
const char *gguf_type_name(uint32_t type);

/* Bytes taken by n elements of a type drux knows the layout of (also for the
 * ones it cannot compute with). False if the type is unknown, n is not a
 * whole number of blocks, or the size overflows. */
bool gguf_type_row_size(uint32_t type, int64_t n, size_t *bytes);

#endif
