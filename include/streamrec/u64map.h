/* streamrec u64map: open-addressing hash map from uint64 keys to uint32 values.
 *
 * For exact bookkeeping where bounded summaries are not wanted: eval's record
 * of which (user, item) pairs were ever seen, the plain item-kNN baseline's
 * pair index. Keys are any uint64 except UINT64_MAX (the empty marker).
 * O(1) expected insert and lookup; load factor <= 0.5; no deletion.
 * Not thread-safe. */
#ifndef STREAMREC_U64MAP_H
#define STREAMREC_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef struct sr_u64map sr_u64map_t;

sr_u64map_t *sr_u64map_new(size_t expected);
void sr_u64map_destroy(sr_u64map_t *m);

/* Value of key, or false if absent. */
bool sr_u64map_get(const sr_u64map_t *m, uint64_t key, uint32_t *value);

/* Inserts or replaces. SR_ERR_INVALID for key UINT64_MAX, SR_ERR_NOMEM. */
sr_err_t sr_u64map_put(sr_u64map_t *m, uint64_t key, uint32_t value);

size_t sr_u64map_count(const sr_u64map_t *m);

#endif
