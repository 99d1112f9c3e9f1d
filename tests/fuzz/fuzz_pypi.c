/*
 * fuzz_pypi — every parser that reads package text from PyPI wheels
 * (src/hub/pkgmeta.c), the GGUF architecture peek and the source parser,
 * fed the same bytes. None may crash, read out of bounds or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "hub/hub.h"
#include "hub/pkgmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dx_str s = {(const char *)data, size};
    arena a = arena_make(4096, 1 << 20);
    char out[256], hex[65];
    char **items;
    size_t n;
    uint64_t sz;
    pkgmeta_part *parts;

    pkgmeta_py_string(s, "EXPECTED_SHA256", out, sizeof out);
    pkgmeta_py_string(s, "MODEL_NAME", out, 8);
    pkgmeta_py_list(s, "_CHUNK_MODULES", &a, &items, &n);
    pkgmeta_py_list(s, "_CHUNK_FILES", &a, &items, &n);
    pkgmeta_parts_from_metadata(s, &a, &parts, &n);
    pkgmeta_record_find(s, "pkg/model.gguf", hex, &sz);
    pkgmeta_name_norm(s, out, sizeof out);
    hub_gguf_peek_arch(data, size, out, sizeof out);
    hub_gguf_peek_arch(data, size, out, 4);

    /* NUL-terminated copies for the string-taking parsers */
    size_t m = size < 4096 ? size : 4096;
    char *z = malloc(m + 1);
    if (z) {
        memcpy(z, data, m);
        z[m] = '\0';
        char dist[64], ver[16];
        pkgmeta_wheel_name(z, dist, sizeof dist, ver, sizeof ver);
        unsigned p = pkgmeta_part_number(z);
        (void)p;
        char *half = z + m / 2;
        char saved = *half;
        *half = '\0';
        pkgmeta_version_cmp(z, z);
        *half = saved;
        pkgmeta_version_cmp(z, half);
        if (strncmp(z, "pypi:", 5) == 0 || strncmp(z, "hf://", 5) == 0 ||
            strncmp(z, "http", 4) == 0) {
            hub_source *src = malloc(sizeof *src);
            if (src)
                hub_source_parse(z, src);
            free(src);
        }
        free(z);
    }
    arena_free(&a);
    return 0;
}
