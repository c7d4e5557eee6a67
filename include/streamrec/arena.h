/* streamrec arena: many small allocations freed together.
 *
 * A batch's outputs (ids, item lists) are copied into one arena on the
 * engine thread, handed to the sink thread, and released in one call when
 * the sinks acknowledged them: no per-string malloc/free on the hot path.
 * Chunks are kept and reused after sr_arena_reset(). Not thread-safe; one
 * owner at a time (ownership moves with the batch). */
#ifndef STREAMREC_ARENA_H
#define STREAMREC_ARENA_H

#include <stddef.h>

typedef struct sr_arena sr_arena_t;

sr_arena_t *sr_arena_new(size_t chunk_bytes);
void sr_arena_destroy(sr_arena_t *a);

/* size bytes aligned for any type, or NULL when out of memory. */
void *sr_arena_alloc(sr_arena_t *a, size_t size);
/* A NUL-terminated copy of s[0..len). */
char *sr_arena_strndup(sr_arena_t *a, const char *s, size_t len);

/* Forgets every allocation, keeps the memory for reuse. */
void sr_arena_reset(sr_arena_t *a);

#endif
