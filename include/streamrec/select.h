/* streamrec select: the best `keep` of a few hundred scored entries.
 *
 * An entry is ranked by one 64-bit key that packs its score and its id so
 * that a larger key ranks first: a higher score, and on equal scores the
 * lower id. The order is total, so every result is deterministic, and a
 * comparison is one integer compare and a swap one 8-byte move: the generic
 * element-size/callback quickselect this replaced spent most of its time in
 * memcpy and indirect calls (a third of a user's recommendation refresh).
 *
 * sr_select_top is quickselect (Hoare's FIND), O(n) expected, in place; the
 * first `keep` keys come out in no particular order. sr_sort_desc is for
 * the few that are then shown in order (k <= 100): up to 32 keys it counts
 * each key's rank, beyond that it is an insertion sort.
 * Used for a user's candidates and an item's neighbours. */
#ifndef STREAMREC_SELECT_H
#define STREAMREC_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The float's bits made to order as unsigned integers (negative scores
 * below positive ones); -0 is folded into +0 so that the two tie on the id,
 * as they compare equal as floats. */
static inline uint64_t sr_rank_key(float score, uint32_t id) {
    uint32_t bits;
    score += 0.0f;
    memcpy(&bits, &score, sizeof bits);
    bits = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    return (uint64_t)bits << 32 | (uint32_t)~id;
}

static inline float sr_rank_key_score(uint64_t key) {
    uint32_t bits = (uint32_t)(key >> 32);
    bits = (bits & 0x80000000u) ? bits & 0x7fffffffu : ~bits;
    float score;
    memcpy(&score, &bits, sizeof score);
    return score;
}

static inline uint32_t sr_rank_key_id(uint64_t key) { return ~(uint32_t)key; }

/* Moves the `keep` largest keys to keys[0, keep), in no particular order. */
void sr_select_top(uint64_t *keys, size_t n, size_t keep);

/* Sorts keys[0, n) largest first. For small n (O(n^2)). */
void sr_sort_desc(uint64_t *keys, size_t n);

#endif
