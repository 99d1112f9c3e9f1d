#include "core/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block *next;
    size_t size, off;
    alignas(max_align_t) unsigned char data[];
};

arena arena_make(size_t block_size, size_t cap)
{
    arena a = {0};
    a.block_size = block_size ? block_size : 4096;
    a.cap = cap;
    return a;
}

void *arena_alloc(arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    arena_block *b = a->head;
    if (!b || b->size - b->off < size) {
        size_t bs = size > a->block_size ? size : a->block_size;
        if (a->cap && (bs > a->cap || a->used > a->cap - bs))
            return NULL;
        b = malloc(sizeof *b + bs);
        if (!b)
            return NULL;
        b->next = a->head;
        b->size = bs;
        b->off = 0;
        a->head = b;
        a->used += bs;
    }
    void *p = b->data + b->off;
    b->off += size;
    memset(p, 0, size);
    return p;
}

void *arena_alloc_array(arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return arena_alloc(a, n * size);
}

dx_status arena_grow(arena *a, void *arrayp, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return DX_OK;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc <= n) {
        if (nc > SIZE_MAX / 2)
            return dx_fail(DX_ENOMEM, "out of memory growing an array past %zu elements", n);
        nc *= 2;
    }
    if (size && nc > SIZE_MAX / size)
        return dx_fail(DX_ENOMEM, "out of memory growing an array past %zu elements", n);
    void *old, *p;
    memcpy(&old, arrayp, sizeof old); /* arrayp is a T **: read it as bytes */
    if (a) {
        p = arena_alloc(a, nc * size);
        if (p && n)
            memcpy(p, old, n * size);
    } else {
        p = realloc(old, nc * size);
    }
    if (!p)
        return dx_fail(DX_ENOMEM, "out of memory growing an array to %zu elements", nc);
    memcpy(arrayp, &p, sizeof p);
    *cap = nc;
    return DX_OK;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void arena_reset(arena *a)
{
    arena_block *b = a->head;
    if (!b)
        return;
    /* keep the oldest block (last in the list), free the others */
    while (b->next) {
        arena_block *next = b->next;
        a->used -= b->size;
        free(b);
        b = next;
    }
    b->off = 0;
    a->head = b;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
