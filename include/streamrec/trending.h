/* streamrec trending items: the items with the highest decayed event weight.
 *
 * Keeps a decayed count per item (lazy global scale, decay.h) and a top list
 * of at most SR_TRENDING_MAX items, maintained in place: an update of an item
 * already in the list is O(1) (its position is remembered), a newcomer is
 * compared with the list's minimum in O(1) and replaces it when stronger;
 * the minimum is re-found by an O(size) scan only when it changes.
 *
 * Used as the candidates of cold users, as extra candidates of everyone, and
 * as the popularity baseline in eval. Thread rules: engine thread only. */
#ifndef STREAMREC_TRENDING_H
#define STREAMREC_TRENDING_H

#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/serial.h"
#include "streamrec/sim.h" /* sr_neighbour_t: (item, score) */

#define SR_TRENDING_MAX 255

typedef struct sr_trending_config {
    int size;             /* items kept, default 100 */
    int64_t half_life_ms; /* default 1 d */
} sr_trending_config_t;

typedef struct sr_trending sr_trending_t;

void sr_trending_config_defaults(sr_trending_config_t *cfg);
sr_trending_t *sr_trending_new(const sr_trending_config_t *cfg, char *errstr, size_t errstr_size);
void sr_trending_destroy(sr_trending_t *t);

sr_err_t sr_trending_ensure_item(sr_trending_t *t, uint32_t i);
void sr_trending_observe(sr_trending_t *t, uint32_t i, float w, int64_t ts_ms);

/* The top items, best first (ties by lower id), scores decayed to now.
 * Returns how many were written (<= max). O(size log size). */
/* Item i leaves (an eviction): count 0 and off the list, whose last
 * member takes its place; its id may then be handed out again. */
void sr_trending_forget_item(sr_trending_t *t, uint32_t i);

size_t sr_trending_top(const sr_trending_t *t, sr_neighbour_t *out, size_t max);

/* Decayed count of item i at the module's current time. */
double sr_trending_count(const sr_trending_t *t, uint32_t i);

/* Counts, the top list in its own order and the remembered minimum, and the
 * decay clock. Save does not allocate. Load goes into a module just made by
 * sr_trending_new() with the same size and half-life; it checks that the
 * state holds n_items counts and a top list of distinct items. */
void sr_trending_save(const sr_trending_t *t, sr_writer_t *w);
sr_err_t sr_trending_load(sr_trending_t *t, sr_reader_t *r, size_t n_items, char *errstr,
                          size_t errstr_size);

#endif
