/*
 * arena — bump allocation for request-scoped memory.
 *
 * An arena owns one or more blocks; everything allocated from it is freed at
 * once by arena_free (or rewound with arena_reset). A `cap` bounds the total,
 * so an arena fed by outside input can't grow without limit.
 *
 *     arena a = arena_make(64 << 10, 8 << 20);
 *     char *s = arena_strndup(&a, text, n);   // NULL on OOM or over cap
 *     ...
 *     arena_free(&a);
 *
 * A growable array (from an arena or from the heap) grows with arena_grow:
 *
 *     if (v->n == v->cap && arena_grow(&a, &v->items, v->n, &v->cap, sizeof *v->items, 16))
 *         return dx_wrap(DX_ENOMEM, "reading claims");
 *     v->items[v->n++] = x;
 *
 * Not thread-safe: one arena, one thread.
 */
#ifndef DX_ARENA_H
#define DX_ARENA_H

#include <stddef.h>

#include "core/status.h"

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;
    size_t block_size; /* default size of a new block */
    size_t cap;        /* maximum bytes in all blocks, 0 = unlimited */
    size_t used;       /* bytes held in blocks */
} arena;

arena arena_make(size_t block_size, size_t cap);
/* Returns zeroed memory aligned to max_align_t, or NULL (out of memory or cap). */
void *arena_alloc(arena *a, size_t size);
void *arena_alloc_array(arena *a, size_t n, size_t size);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);
/* Room for more elements in a growable array. `arrayp` points to the array
 * pointer (a T **); n elements are in use and *cap are allocated. When n ==
 * *cap, the array moves to one of twice the capacity (`first` elements when
 * *cap is 0) with its n elements copied; otherwise nothing happens. With an
 * arena the new array comes from it (the old one stays there until the arena
 * is freed); with a NULL arena it is realloc'd on the heap and the caller
 * frees it. On failure (DX_ENOMEM, message set) *arrayp and *cap are unchanged. */
dx_status arena_grow(arena *a, void *arrayp, size_t n, size_t *cap, size_t size, size_t first);
void arena_reset(arena *a); /* keep the first block, drop the rest */
void arena_free(arena *a);

#endif
