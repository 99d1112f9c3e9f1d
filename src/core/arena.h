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
 * Not thread-safe: one arena, one thread.
 */
#ifndef DX_ARENA_H
#define DX_ARENA_H

#include <stddef.h>

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
void arena_reset(arena *a); /* keep the first block, drop the rest */
void arena_free(arena *a);

#endif
