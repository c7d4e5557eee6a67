/* streamrec interning dictionary: string ids <-> dense integer ids.
 *
 * Ids are strings on the wire (user ids, item ids, category ids) and dense
 * uint32 indices inside, so the model's tables (factors, profiles, neighbour
 * summaries) are contiguous arrays indexed by id. Dense ids are handed out in
 * first-seen order: 0, 1, 2, ... and an id keeps its string until it is
 * removed. A removed id is handed out again (last removed, first reused)
 * before the id space grows, so tables indexed by id stop growing once
 * removals keep pace with new ids.
 *
 * Ownership: the dictionary copies every string it is given into its own
 * chunked storage; pointers returned by sr_intern_str() stay valid until the
 * id is removed or sr_intern_destroy() (chunks never move; a removed id's
 * bytes are reused by a later string). Lookups, inserts and removals are
 * O(1) expected (open addressing, linear probing, load factor <= 0.7,
 * backward-shift removal: no tombstones).
 *
 * Thread rules: not thread-safe; one owner (the engine thread). */
#ifndef STREAMREC_INTERN_H
#define STREAMREC_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/serial.h"

#define SR_INTERN_NONE UINT32_MAX
/* Longest id kept, in bytes. Longer ids are rejected (SR_ERR_INVALID): an id
 * is a key, not a payload, and a bound keeps hostile input from bloating state. */
#define SR_INTERN_MAX_LEN 1024

typedef struct sr_intern sr_intern_t;

sr_intern_t *sr_intern_new(size_t expected_ids);
void sr_intern_destroy(sr_intern_t *d);

/* Whether sr_intern_add accepts s: 1..SR_INTERN_MAX_LEN bytes, no NUL. */
bool sr_intern_acceptable(const char *s, size_t len);

/* Returns the dense id of s, adding it if new (*added tells which; may be NULL).
 * Fails with SR_ERR_INVALID for len 0, len > SR_INTERN_MAX_LEN or a NUL byte
 * in s (strings are kept NUL-terminated, without a length), SR_ERR_NOMEM. */
sr_err_t sr_intern_add(sr_intern_t *d, const char *s, size_t len,
                       uint32_t *id_out, bool *added);

/* Removes a dense id: its string is no longer found, sr_intern_str() returns
 * NULL for it, and the next new string gets it. SR_ERR_INVALID for an id
 * not in use, SR_ERR_NOMEM (nothing removed). The caller must have dropped
 * every reference to the id first. */
sr_err_t sr_intern_remove(sr_intern_t *d, uint32_t id);

/* Dense id of s, or SR_INTERN_NONE (always for a string sr_intern_add refuses). */
uint32_t sr_intern_find(const sr_intern_t *d, const char *s, size_t len);

/* The string of a dense id (NUL-terminated; *len_out may be NULL).
 * Returns NULL for an id never handed out or removed. */
const char *sr_intern_str(const sr_intern_t *d, uint32_t id, size_t *len_out);

/* count: the id space, one past the highest id handed out (removed ids
 * included): the length tables indexed by id need. live: ids in use. */
size_t sr_intern_count(const sr_intern_t *d);
size_t sr_intern_live(const sr_intern_t *d);

/* Prefetching, for a caller that knows which ids it will look up a few
 * lookups from now (none of these changes the dictionary or the result of
 * any lookup). In order, each once the previous one's loads have arrived:
 *   sr_intern_prefetch_slot   starts loading the table slot of hash h
 *                             (h = sr_hash_bytes(s, len, 0));
 *   sr_intern_guess           the id in the first slot of h's probe whose
 *                             32 hash bits match, among its first 8 -- no
 *                             string compare, so only a guess; SR_INTERN_NONE
 *                             if none -- and starts loading its string
 *                             pointer;
 *   sr_intern_prefetch_str    starts loading id's string bytes. */
void sr_intern_prefetch_slot(const sr_intern_t *d, uint64_t h);
uint32_t sr_intern_guess(const sr_intern_t *d, uint64_t h);
void sr_intern_prefetch_str(const sr_intern_t *d, uint32_t id);

/* Bytes held (table, string storage, offsets): for memory accounting. */
size_t sr_intern_bytes(const sr_intern_t *d);

/* 64-bit hash of a string, stable across runs and machines (XXH3): used to
 * seed per-id random vectors and to derive deterministic alert ids. */
uint64_t sr_hash_bytes(const void *p, size_t len, uint64_t seed);

/* Saves every id in dense-id order, removed ids and the free list included;
 * load into an empty dictionary gives each id its old dense id back and
 * hands out removed ids in the same order. Load refuses a duplicate, an
 * over-long id, one with a NUL byte (the engine never takes those), or a
 * free list that does not name each removed id once. Save does not
 * allocate. */
void sr_intern_save(const sr_intern_t *d, sr_writer_t *w);
sr_err_t sr_intern_load(sr_intern_t *d, sr_reader_t *r, const char *what, char *errstr,
                        size_t errstr_size);

#endif
