/*
 * safetensors — a reader for Hugging Face .safetensors files, over mmap.
 *
 * The format: an 8-byte little-endian header length, a JSON header mapping
 * tensor names to {dtype, shape, data_offsets}, then the raw data. drux reads
 * it to convert models that travel without a GGUF (BERT sentence encoders).
 *
 *     st_file *f;
 *     if (st_open("model.safetensors", &f)) die(dx_errmsg());
 *     const st_tensor *t = st_find(f, "embeddings.word_embeddings.weight");
 *     float row0[384];
 *     st_to_f32(t, 0, 384, row0);
 *     st_close(f);
 *
 * Every offset and shape is checked against the file at open: a malformed or
 * hostile file fails with DX_EFORMAT (or DX_ELIMIT) and a one-line message.
 * Read-only once open; safe to share between threads.
 */
#ifndef DX_SAFETENSORS_H
#define DX_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_OTHER } st_dtype;

typedef struct st_tensor {
    const char *name; /* NUL-terminated, owned by the file */
    st_dtype dtype;
    const char *dtype_name; /* as written, e.g. "F32", "I64" */
    int n_dims;             /* 0..4; shape[0] is the slowest (row-major, as in PyTorch) */
    int64_t shape[4];
    int64_t n_elems;
    const void *data; /* into the mapping; possibly unaligned */
    size_t nbytes;
} st_tensor;

typedef struct st_file st_file;

/* Open and validate a file. On error *out is NULL. */
dx_status st_open(const char *path, st_file **out);
/* The same over a buffer the caller keeps alive (tests, fuzzing). */
dx_status st_open_mem(const void *data, size_t len, st_file **out);
void st_close(st_file *f); /* NULL is a no-op */

size_t st_n_tensors(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, size_t i);
const st_tensor *st_find(const st_file *f, const char *name); /* NULL if absent */

/* Converts elements [off, off + n) of a float tensor to f32. DX_EUNSUPPORTED
 * for a non-float dtype, DX_EARG for a range outside the tensor. */
dx_status st_to_f32(const st_tensor *t, int64_t off, int64_t n, float *out);

#endif
