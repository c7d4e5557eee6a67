/* streamrec endpoint: the daemon's HTTP endpoint on http.listen.
 *
 *   GET /metrics  Prometheus text format 0.0.4 (metrics.h lists the metrics)
 *   GET /healthz  liveness: 200 "ok" while the engine thread's poll loop
 *                 turns (its last turn less than http.healthz.stall.ms ago)
 *                 and the pipeline has not stopped on an error; 503 and the
 *                 reason otherwise. Restarting is the cure for both.
 *   GET /readyz   readiness: 200 "ready" once sr_pipeline_ready() holds
 *                 (input partitions assigned, Redis and Kafka up); 503 and
 *                 the one-line reason otherwise. Traffic and rollouts wait
 *                 for it; a restart does not help.
 *   GET /         the status page: one HTML page (status_page.html, built
 *                 into the binary) that polls the two below every second
 *   GET /status.json  throughput, lag, freshness, recent churn alerts and
 *                 trending items (status.h), from /metrics' own sources
 *   GET /reco?user=ID  that user's recommendations as Redis holds them
 *                 (redis_reco.h, a connection per request); an unknown user
 *                 is an empty list with a message, a Redis failure 502
 *
 * Served by libmicrohttpd's thread (http.h): the handlers only read the
 * pipeline's atomics and short-locked snapshots, so a scrape never blocks
 * the engine thread. /reco is the one handler that does I/O (a Redis read,
 * 500 ms connect and 1 s command timeouts): a Redis that hangs delays the
 * requests queued behind it by that much, never the engine.
 *
 * Ownership: the pipeline is borrowed and must outlive the endpoint:
 * destroy the endpoint first. */
#ifndef STREAMREC_APP_ENDPOINT_H
#define STREAMREC_APP_ENDPOINT_H

#include "metrics.h"
#include "pipeline.h"
#include "streamrec/config.h"

typedef struct sr_endpoint sr_endpoint_t;

/* Starts serving cfg->io.http_listen (which must not be empty). */
sr_endpoint_t *sr_endpoint_new(const sr_config_t *cfg, sr_pipeline_t *p, char *errstr,
                               size_t errstr_size);

/* The bound port (http.listen with port 0 picks a free one). */
int sr_endpoint_port(const sr_endpoint_t *ep);

/* Adds a collector whose families follow the pipeline's on every scrape
 * (the hook for checkpoint metrics). One thread at a time, while serving
 * or before; at most 8, SR_ERR_INVALID when full. */
sr_err_t sr_endpoint_add_collector(sr_endpoint_t *ep, sr_metrics_collect_fn *collect,
                                   void *opaque);

/* Stops serving. NULL is a no-op. */
void sr_endpoint_destroy(sr_endpoint_t *ep);

#endif
