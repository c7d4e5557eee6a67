/* streamrec metrics: the daemon's /metrics page, Prometheus text format.
 *
 * Every metric the daemon exports is written here, from the pipeline's
 * counters at scrape time (prom.h's collector pattern); this file is the
 * list to consult when building a dashboard or an alert. Names follow the
 * Prometheus conventions: a streamrec_ prefix, _total for counters,
 * _seconds for durations, base units, and no user or item labels (their
 * number is unbounded); labels are event type, DLQ reason, topic and
 * partition, alert state, rebalance kind -- all bounded.
 *
 * Other parts of the daemon may add their own families through collectors
 * (sr_endpoint_add_collector()).
 *
 * Threads: rendering runs on the HTTP thread and only reads. */
#ifndef STREAMREC_APP_METRICS_H
#define STREAMREC_APP_METRICS_H

#include <stddef.h>

#include "pipeline.h"
#include "streamrec/prom.h"

/* Writes families of its own (HELP/TYPE lines included) into out. */
typedef void sr_metrics_collect_fn(void *opaque, sr_prom_buf_t *out);

typedef struct sr_metrics_collector {
    sr_metrics_collect_fn *collect;
    void *opaque;
} sr_metrics_collector_t;

/* The whole page, malloc'd (the caller frees), or NULL when out of memory. */
char *sr_metrics_render(sr_pipeline_t *p, const sr_metrics_collector_t *extra, size_t n_extra,
                        size_t *len);

#endif
