/*
 * md — markdown parsed once, by cmark-gfm, with the extensions drux reads
 * (tables, strikethrough, autolinks, task lists). Claims are taken from this
 * tree (split.c) and the terminal renders the same tree (cli/term_md.c).
 *
 *     cmark_node *doc;
 *     if (cns_md_parse(text, len, &doc) == DX_OK) {
 *         ... walk doc ...
 *         cmark_node_free(doc);
 *     }
 */
#ifndef DX_CNS_MD_H
#define DX_CNS_MD_H

#include <stddef.h>

#include "core/status.h"

typedef struct cmark_node cmark_node;

/* The document tree of len bytes of markdown; the caller frees it with
 * cmark_node_free. DX_ENOMEM (message set) when cmark cannot allocate.
 * Thread-safe. */
dx_status cns_md_parse(const char *md, size_t len, cmark_node **doc);

#endif
