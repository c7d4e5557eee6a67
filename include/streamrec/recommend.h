/* streamrec recommender: top-K items for a user, from the current model.
 *
 * Candidates: the similarity neighbours of the user's most recent items
 * (newer seeds weigh more) plus the trending items. Score: a blend of the
 * item-CF score, the MF score u.v_j + b_j, and trending popularity, each
 * normalised to [0, 1] over the user's candidates so the blend weights mean
 * the same thing for every user. The MF scores of all candidates are computed
 * through OpenBLAS: one sgemm for the trending candidates of a whole batch of
 * users (shared rows), one sgemv per user for the gathered CF candidates.
 *
 * Filters: items the user purchased, and (reco.exclude.seen) items in the
 * user's recent history. A user with no usable history gets trending items.
 *
 * Owns only scratch space (sized to the item count, grown on demand); reads
 * the model through sr_reco_model_t. Thread rules: engine thread only. */
#ifndef STREAMREC_RECOMMEND_H
#define STREAMREC_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/mf.h"
#include "streamrec/profile.h"
#include "streamrec/sim.h"

#define SR_RECO_MAX_K 100
#define SR_RECO_MAX_BATCH 64 /* users scored by one sgemm */
#define SR_RECO_MAX_CANDIDATES 512

typedef struct sr_reco_config {
    int k;                     /* items per user, default 20 */
    int seeds;                 /* recent items used as seeds, default 8 */
    float seed_decay;          /* weight of each older seed relative to the next, default 0.7 */
    int trending_candidates;   /* default 50 */
    int candidates;            /* best CF candidates kept for MF scoring, default 64 */
    float cf_weight;           /* default 1.0 */
    float mf_weight;           /* default 0.15 */
    float trending_weight;     /* default 0.05 */
    bool exclude_seen;         /* default true */
} sr_reco_config_t;

/* What the recommender reads: the model's current state. trending is a
 * snapshot taken by the caller (sr_trending_top), best first. */
typedef struct sr_reco_model {
    const sr_mf_t *mf;
    const sr_sim_t *sim;
    const sr_neighbour_t *trending;
    size_t n_trending;
} sr_reco_model_t;

typedef struct sr_recommender sr_recommender_t;

void sr_reco_config_defaults(sr_reco_config_t *cfg);
sr_recommender_t *sr_reco_new(const sr_reco_config_t *cfg, char *errstr, size_t errstr_size);
void sr_reco_destroy(sr_recommender_t *r);

/* Recommends for n_users users (n_users <= SR_RECO_MAX_BATCH). profiles[b]
 * is user users[b]'s profile. Writes up to k items per user, best first, to
 * out + b * k, and the count to n_out[b]. Ties break on the lower item id, so
 * the result is deterministic. */
sr_err_t sr_reco_batch(sr_recommender_t *r, const sr_reco_model_t *model,
                       const uint32_t *users, const sr_profile_t *const *profiles,
                       size_t n_users, sr_neighbour_t *out, size_t *n_out);

#endif
