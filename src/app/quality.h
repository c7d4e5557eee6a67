/* streamrec quality: the daemon's running model-quality figures.
 *
 * Recall@K, prequential, on what users were actually shown. One user in N
 * (metrics.recall.sample, by a hash of the user id, so the same users stay
 * sampled across restarts and instances) has the top-K list last put in an
 * outbox remembered here; each later event of such a user is checked
 * against it before the model sees the event (test-then-train, as
 * `streamrec eval` does): a hit if the event's item is in the list. Why
 * this design: the published list is what the feed served, so the figure
 * measures the product and not just the model; remembering lists for a
 * sample bounds memory (4*K bytes per sampled user, ~6 bytes per user at
 * N=16, K=20) and costs an unsampled event one hash of its user id; and
 * recomputing a fresh top-K per checked event (eval's way) would cost ~5 us
 * each on the engine thread. As in eval, a check is a "discovery" when the
 * item is not in the user's recent history or purchases -- the headline
 * figure, comparable with eval's recall@K; "all" counts every check. The
 * figures cover the last metrics.quality.window checks, and plain counters
 * let Prometheus compute the rate over any range.
 *
 * Churn ROC-AUC over resolved labels: the engine resolves each scored
 * example as churned or returned, with the probability it predicted before
 * the label was known. The last metrics.quality.window of them are kept in a
 * ring, and the AUC is computed on demand (a scrape) from a copy, O(W log W).
 *
 * Threads: the recall tracker's observe functions are engine-thread only;
 * sr_recall_read() is for any thread (atomics). The AUC window takes a short
 * lock on both sides. */
#ifndef STREAMREC_APP_QUALITY_H
#define STREAMREC_APP_QUALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/churn.h"

typedef struct sr_recall sr_recall_t;

/* sample_one_in >= 1, k >= 1 (list length kept), window >= 1 checks. */
sr_recall_t *sr_recall_new(int sample_one_in, size_t k, size_t window);
void sr_recall_destroy(sr_recall_t *r);

/* Whether a user id is in the sample (O(len) hash). */
bool sr_recall_sampled(const sr_recall_t *r, const char *user_id, size_t len);

/* A sampled user's newly published list (dense item ids, best first; at
 * most k are kept). false: out of memory (the user's check is skipped). */
bool sr_recall_published(sr_recall_t *r, uint32_t user, const uint32_t *items, size_t n);

/* Checks one event of a sampled user against its last published list and
 * counts it. Returns 1 hit, 0 miss, -1 not checked (no list published for
 * the user, or an empty one: nothing was shown). An item the engine does
 * not know is in no list: pass UINT32_MAX, a miss. */
int sr_recall_check(sr_recall_t *r, uint32_t user, uint32_t item, bool discovery);

/* The user's state left this instance (partition handoff). */
void sr_recall_forget(sr_recall_t *r, uint32_t user);

typedef struct sr_recall_figures {
    size_t k;
    uint64_t checks, hits;                     /* since start */
    uint64_t discovery_checks, discovery_hits;
    uint64_t window_checks, window_hits;       /* the last `window` checks */
    uint64_t window_discovery_checks, window_discovery_hits;
} sr_recall_figures_t;

void sr_recall_read(const sr_recall_t *r, sr_recall_figures_t *out);

typedef struct sr_auc_window sr_auc_window_t;

sr_auc_window_t *sr_auc_window_new(size_t window);
void sr_auc_window_destroy(sr_auc_window_t *w);

/* Engine thread, once per batch. */
void sr_auc_window_add(sr_auc_window_t *w, const sr_churn_label_t *labels, size_t n);

typedef struct sr_auc_figures {
    double auc;             /* NaN until both classes are in the window */
    size_t n, positives;    /* labels in the window, churned among them */
    uint64_t churned_total, returned_total;
} sr_auc_figures_t;

/* Any thread. false: out of memory (figures unknown). */
bool sr_auc_window_read(sr_auc_window_t *w, sr_auc_figures_t *out);

#endif
