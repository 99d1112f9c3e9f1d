/*
 * preset — the councils drux knows by name: which models sit in them, where
 * `drux pull --council NAME` gets each one, and which member writes the
 * answer. The choice of models is measured (docs/models.md, "The default
 * council").
 *
 *     const hub_preset *p = hub_preset_find("small");
 *     for (size_t i = 0; p && i < p->n_members; i++)
 *         printf("%s <- %s\n", p->members[i].file, p->members[i].source);
 *
 * The table is constant; everything here is thread-safe.
 */
#ifndef DX_HUB_PRESET_H
#define DX_HUB_PRESET_H

#include <stddef.h>

#define HUB_PRESET_MAX_MEMBERS 4

typedef struct hub_preset_model {
    const char *name;   /* the member's name in the council */
    const char *source; /* what drux pull fetches (hub_pull SOURCE) */
    const char *file;   /* the file it becomes in the model cache */
    int max_tokens;     /* the member's answer budget, tokens */
} hub_preset_model;

typedef struct hub_preset {
    const char *name;  /* "default", "small" */
    const char *about; /* one line for --help and docs */
    hub_preset_model members[HUB_PRESET_MAX_MEMBERS];
    size_t n_members;
    const char *synthesizer; /* the member that writes the answer */
    const char *strongest;   /* the member that scored best on drux eval, or NULL */
    hub_preset_model embedder;
} hub_preset;

/* The presets, the default first; *n gets how many. */
const hub_preset *hub_presets(size_t *n);

/* The preset called name, or NULL. */
const hub_preset *hub_preset_find(const char *name);

#endif
