/*
 * gguf_type — the storage layout of every GGML tensor type id: its name, how
 * many elements one block holds and how many bytes the block takes.
 *
 * This is what a file reader needs to size a tensor, whether or not drux can
 * compute with the format; the kernels and block structs live in
 * engine/quant. Ids that GGML retired (4, 5, 31-33, 36-38) and ids from
 * GGUF_TYPE_COUNT up are unknown.
 */
#include <stdio.h>

#include "gguf/gguf.h"

typedef struct layout {
    const char *name;
    uint32_t block;     /* elements per block; 0 = unknown id */
    uint32_t type_size; /* bytes per block */
} layout;

static const layout layouts[GGUF_TYPE_COUNT] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},      [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},   [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},  [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},   [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},
};

static const layout *layout_of(uint32_t type)
{
    if (type >= GGUF_TYPE_COUNT || layouts[type].block == 0)
        return NULL;
    return &layouts[type];
}

const char *gguf_type_name(uint32_t type)
{
    static _Thread_local char buf[24];
    const layout *l = layout_of(type);
    if (l)
        return l->name;
    snprintf(buf, sizeof buf, "type %u", (unsigned)type);
    return buf;
}

bool gguf_type_row_size(uint32_t type, int64_t n, size_t *bytes)
{
    const layout *l = layout_of(type);
    if (!l || n < 0 || n % l->block != 0)
        return false;
    uint64_t blocks = (uint64_t)n / l->block;
    if (blocks > SIZE_MAX / l->type_size)
        return false;
    *bytes = (size_t)blocks * l->type_size;
    return true;
}
