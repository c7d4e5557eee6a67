/* streamrec eval: offline prequential (test-then-train) evaluation.
 *
 * Replays an event log in time order through a fresh engine. Before each
 * event of a user seen before (and with an item), the user's current top-K
 * is taken -- from the engine, from the popularity baseline (the engine's
 * own trending list, with the same filters) and from the plain streaming
 * item-kNN baseline (knn_baseline.h) -- and checked against the event's item;
 * then the event is applied. Headline metrics count only "discovery" events,
 * whose item the user never interacted with before; the same metrics over all
 * checked events are reported beside them.
 *
 * Churn: every example the engine's churn model resolves (see churn.h) gives
 * a (prediction made before the label was known, label) pair; ROC-AUC and
 * PR-AUC (average precision) are computed over all of them.
 *
 * Nothing here touches Kafka or Redis; the engine is the same one the daemon
 * runs. */
#ifndef STREAMREC_EVAL_H
#define STREAMREC_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "streamrec/config.h"
#include "streamrec/event_log.h"

typedef struct sr_eval_metrics {
    uint64_t checked;  /* events on which top-K was checked */
    uint64_t hits;
    double recall;     /* hits / checked */
    double mrr;        /* mean of 1/rank (0 for a miss) */
} sr_eval_metrics_t;

typedef struct sr_eval_result {
    uint64_t events, users, items, rejected;
    int k;
    /* [0] discovery (headline), [1] all checked events */
    sr_eval_metrics_t model[2], pop[2], knn[2];
    double coverage;   /* share of the catalogue the model ever recommended */
    uint64_t churn_examples, churn_positives;
    double churn_auc, churn_pr_auc;
    double seconds, events_per_s;
} sr_eval_result_t;

typedef struct sr_eval_options {
    int knn_history;       /* the kNN baseline's history length, default 10 */
    FILE *progress;        /* progress line target, NULL for none */
} sr_eval_options_t;

/* Runs the protocol over log with cfg's engine settings (K = reco.k). */
sr_err_t sr_eval_run(const sr_config_t *cfg, const sr_event_log_t *log,
                     const sr_eval_options_t *opt, sr_eval_result_t *out,
                     char *errstr, size_t errstr_size);

/* ROC-AUC (ties count half) and average precision of (score, label) pairs;
 * NaN when one class is absent. */
double sr_eval_roc_auc(const float *score, const uint8_t *label, size_t n);
double sr_eval_average_precision(const float *score, const uint8_t *label, size_t n);

void sr_eval_print_json(FILE *out, const sr_eval_result_t *r);
void sr_eval_print_table(FILE *out, const sr_eval_result_t *r);

#endif
