/* streamrec plain streaming item-kNN: the baseline the model must beat.
 *
 * Exactly what the evaluation protocol names and nothing more: for each event
 * (u, x), x co-occurs once with each of u's last `history` distinct items;
 * counts are exact (no bounded summary), never decay, and ignore event types.
 * score(j) = sum over u's last items r of C(r,j) / sqrt(N(r) N(j)); items in
 * u's history are not recommended.
 *
 * Memory grows with the number of distinct co-occurring pairs: fine for eval
 * on datasets, not for production (that is what sim.h is for).
 * Owns its own id dictionaries. Not thread-safe. */
#ifndef STREAMREC_KNN_BASELINE_H
#define STREAMREC_KNN_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/event.h"

#define SR_KNN_MAX_HISTORY 32

typedef struct sr_knn sr_knn_t;

sr_knn_t *sr_knn_new(int history, int k);
void sr_knn_destroy(sr_knn_t *b);

/* SR_ERR_INVALID, changing nothing, for an empty or over-long
 * (> SR_INTERN_MAX_LEN) id; SR_ERR_NOMEM. */
sr_err_t sr_knn_observe(sr_knn_t *b, sr_str_t user, sr_str_t item);

/* Top-k item ids (this baseline's dense ids) for user, best first.
 * Returns the count (0 for an unknown user). Borrowed until the next call. */
size_t sr_knn_recommend(sr_knn_t *b, sr_str_t user, const uint32_t **items);

/* This baseline's dense id of an item string, or UINT32_MAX if unseen. */
uint32_t sr_knn_item(const sr_knn_t *b, sr_str_t item);

/* Distinct users and items observed so far. */
size_t sr_knn_users(const sr_knn_t *b);
size_t sr_knn_items(const sr_knn_t *b);

#endif
