/*
 * fuzz_gguf — libFuzzer target: open any bytes as GGUF and, when they open,
 * read everything a caller can reach (every key through every getter, every
 * string of every string array, every tensor's first and last data byte).
 */
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;

static void walk_kv(const gguf *g, size_t i)
{
    const char *key = gguf_kv_key(g, i);
    if (!key || gguf_find_key(g, key) != (int64_t)i)
        __builtin_trap(); /* keys are unique, so lookup must find this entry */
    uint32_t u;
    int64_t v;
    float f;
    bool b;
    dx_str s;
    enum gguf_vtype elem;
    uint64_t n;
    const void *data;
    const dx_str *strs;
    sink += gguf_get_u32(g, key, &u) ? u : 0;
    sink += gguf_get_i64(g, key, &v) ? (uint64_t)v : 0;
    sink += gguf_get_f32(g, key, &f) ? (uint64_t)(f == f) : 0;
    sink += gguf_get_bool(g, key, &b) ? b : 0;
    if (gguf_get_str(g, key, &s) && s.len)
        sink += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
    if (gguf_get_arr(g, key, &elem, &n, &data) && data && n) {
        const unsigned char *p = data;
        sink += p[0];
    }
    if (gguf_get_arr_str(g, key, &strs, &n))
        for (uint64_t k = 0; k < n; k++)
            if (strs[k].len)
                sink += (unsigned char)strs[k].ptr[0] + (unsigned char)strs[k].ptr[strs[k].len - 1];
    sink += gguf_vtype_name(gguf_kv_type(g, i))[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf *g = NULL;
    if (gguf_open_mem(data, size, &g)) {
        if (g || !dx_errmsg()[0])
            __builtin_trap(); /* a failure leaves no handle and says why */
        return 0;
    }
    /* no key or name is empty, so these must miss */
    if (gguf_find_key(g, "") != -1 || gguf_find_tensor(g, "") != NULL)
        __builtin_trap();
    for (size_t i = 0; i < gguf_n_kv(g); i++)
        walk_kv(g, i);
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_find_tensor(g, t->name) != t)
            __builtin_trap();
        const unsigned char *p = t->data;
        if (t->nbytes)
            sink += p[0] + p[t->nbytes - 1];
        sink += t->n_dims + (uint64_t)t->ne[3] + gguf_type_name(t->type)[0];
    }
    sink += gguf_version(g) + gguf_alignment(g) + gguf_data_offset(g) + gguf_file_size(g);
    gguf_close(g);
    return 0;
}
