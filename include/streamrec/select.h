/* streamrec select: move the best `keep` elements of an array to its front.
 *
 * Quickselect (Hoare's FIND) with a caller's strict "ranks before" order,
 * O(n) expected, in place; the first `keep` elements come out in no
 * particular order. The order must be total (break score ties on an id), so
 * the result is deterministic. Used where only the top of a few hundred
 * scored entries is wanted: a user's candidates, an item's neighbours. */
#ifndef STREAMREC_SELECT_H
#define STREAMREC_SELECT_H

#include <stdbool.h>
#include <stddef.h>

/* elem_size <= SR_SELECT_MAX_ELEM bytes. */
#define SR_SELECT_MAX_ELEM 64

void sr_select_top(void *base, size_t n, size_t elem_size, size_t keep,
                   bool (*ranks_before)(const void *a, const void *b));

#endif
