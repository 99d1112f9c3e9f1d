/*
 * fuzz_safetensors — libFuzzer target: open any bytes as a .safetensors file
 * and, when they open, read every tensor's first and last element as f32.
 */
#include <stdint.h>
#include <string.h>

#include "embed/safetensors.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file *f;
    if (st_open_mem(data, size, &f))
        return 0;
    for (size_t i = 0; i < st_n_tensors(f); i++) {
        const st_tensor *t = st_tensor_at(f, i);
        if (!t || st_find(f, t->name) == NULL)
            __builtin_trap();
        float v;
        if (t->n_elems > 0 && st_to_f32(t, 0, 1, &v) == DX_OK)
            sink += v;
        if (t->n_elems > 0 && st_to_f32(t, t->n_elems - 1, 1, &v) == DX_OK)
            sink += v;
    }
    st_close(f);
    return 0;
}
