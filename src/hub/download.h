/*
 * download — resumable HTTP(S) downloads with libcurl, and sha256 helpers.
 *
 * dl_fetch writes the body to DEST.part, resumes from the size of an
 * existing DEST.part with a Range request, hashes while it writes (OpenSSL
 * EVP), checks the size limit and the expected sha256, and renames
 * DEST.part to DEST only when everything holds. A sha256 is expected when
 * the caller gives one, or when the server sends one as X-Linked-ETag /
 * ETag (Hugging Face does so for LFS files).
 *
 *     dl_opts o = {.url = url, .dest = "/cache/models/x.gguf", .quiet = false};
 *     dl_result r;
 *     if (dl_fetch(&o, &r)) fprintf(stderr, "%s\n", dx_errmsg());
 *
 * A progress bar goes to stderr when it is a terminal and quiet is false.
 * Call dl_global_init once from main before threads; the functions are
 * otherwise thread-safe (one curl handle per call).
 */
#ifndef DX_DOWNLOAD_H
#define DX_DOWNLOAD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

typedef struct dl_opts {
    const char *url;
    const char *dest;   /* final path; the body is written to dest.part first */
    const char *sha256; /* expected lowercase hex, or NULL */
    const char *bearer; /* Authorization: Bearer token, or NULL */
    const char *label;  /* shown beside the progress bar; NULL = file name */
    uint64_t max_bytes; /* 0 = DX_MAX_DOWNLOAD_BYTES (lowered by $DRUX_MAX_DOWNLOAD) */
    int retries;        /* extra attempts after an interrupted transfer */
    bool quiet;
} dl_opts;

typedef struct dl_result {
    char sha256[65]; /* of the whole file */
    uint64_t size;
    bool resumed; /* some bytes came from an earlier .part */
} dl_result;

dx_status dl_global_init(void);

/* Downloads o->url to o->dest as described above. On failure dest is
 * untouched; dest.part is kept when it can be resumed and removed when its
 * content is known to be wrong (sha256 mismatch, over the limit). */
dx_status dl_fetch(const dl_opts *o, dl_result *r);

/* GETs url into *out (NUL-terminated, at most max bytes). An HTTP 404 gives
 * DX_ENOTFOUND with "not found: URL". */
dx_status dl_get(const char *url, const char *bearer, size_t max, dx_buf *out);

/* sha256 of a file as lowercase hex. */
dx_status dl_sha256_file(const char *path, char hex[65]);

/* Finishes md (a sha256 digest being fed) into lowercase hex. */
void dl_sha256_hex(EVP_MD_CTX *md, char hex[65]);

/* True when s is 64 hex digits; copies it lowercased into hex. */
bool dl_sha256_parse(const char *s, size_t len, char hex[65]);

/* The effective download limit: DX_MAX_DOWNLOAD_BYTES, or less when
 * $DRUX_MAX_DOWNLOAD asks for less. */
uint64_t dl_max_bytes(void);

/* "98.4 MiB" style size into buf. */
const char *dl_human_size(uint64_t n, char *buf, size_t cap);

#endif
