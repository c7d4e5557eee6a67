#include "streamrec/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    alignas(max_align_t) unsigned char bytes[];
} chunk_t;

struct sr_arena {
    chunk_t *current; /* allocations come from here */
    chunk_t *used;    /* exhausted chunks holding live allocations */
    chunk_t *spare;   /* chunks released by a reset, reused before malloc */
    size_t chunk_bytes;
};

sr_arena_t *sr_arena_new(size_t chunk_bytes) {
    sr_arena_t *a = calloc(1, sizeof *a);
    if (a)
        a->chunk_bytes = chunk_bytes ? chunk_bytes : 64 * 1024;
    return a;
}

static void free_list(chunk_t *c) {
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

void sr_arena_destroy(sr_arena_t *a) {
    if (!a)
        return;
    free_list(a->current);
    free_list(a->used);
    free_list(a->spare);
    free(a);
}

void *sr_arena_alloc(sr_arena_t *a, size_t size) {
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    chunk_t *c = a->current;
    if (!c || c->used + size > c->size) {
        /* a reset left reusable chunks on the spare list: take one that fits */
        chunk_t **link = &a->spare;
        while (*link && (*link)->size < size) link = &(*link)->next;
        if (*link) {
            c = *link;
            *link = c->next;
        } else {
            size_t bytes = size > a->chunk_bytes ? size : a->chunk_bytes;
            if (!(c = malloc(sizeof *c + bytes)))
                return NULL;
            c->size = bytes;
        }
        c->used = 0;
        if (a->current) {
            a->current->next = a->used;
            a->used = a->current;
        }
        c->next = NULL;
        a->current = c;
    }
    void *p = c->bytes + c->used;
    c->used += size;
    return p;
}

char *sr_arena_strndup(sr_arena_t *a, const char *s, size_t len) {
    char *p = sr_arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void sr_arena_reset(sr_arena_t *a) {
    if (a->current) {
        a->current->next = a->used;
        a->used = a->current;
        a->current = NULL;
    }
    while (a->used) {
        chunk_t *c = a->used;
        a->used = c->next;
        c->next = a->spare;
        a->spare = c;
    }
}
