/* streamrec status: what the status page (GET /, GET /status.json) shows.
 *
 * Two parts. The snapshot (sr_status_t) holds what only the engine thread
 * can know and the HTTP thread must not ask the engine for: the last
 * SR_STATUS_ALERTS churn alerts (a ring, newest overwriting the oldest) and
 * the top SR_STATUS_TRENDING trending items. The engine thread writes it
 * once per batch under a short mutex; the HTTP thread copies it under the
 * same mutex. Strings are copied in (truncated to their buffers), so nothing
 * the engine owns is ever read from the HTTP thread.
 *
 * The JSON builders take that snapshot plus plain numbers
 * (sr_status_figures_t) the caller read from the same sources /metrics
 * renders, so a page and a scrape taken while the input is idle agree.
 * They do not know about the pipeline, which keeps them testable alone.
 *
 * Throughput is a rate, which needs two readings: sr_status_rate() keeps a
 * few (time, events) samples per call and answers events per second over
 * the last SR_STATUS_RATE_WINDOW_MS (the page polls every second, so the
 * window is full after a few polls).
 *
 * Ownership: sr_status_new()/sr_status_destroy(); builders return malloc'd
 * text the caller frees. */
#ifndef STREAMREC_APP_STATUS_H
#define STREAMREC_APP_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_STATUS_ALERTS 20
#define SR_STATUS_TRENDING 10
#define SR_STATUS_ID_MAX 128 /* bytes kept of a user or item id, NUL included */
#define SR_STATUS_RATE_WINDOW_MS 10000

typedef struct sr_status_alert {
    char user_id[SR_STATUS_ID_MAX];
    double probability;
    char level[16];  /* "low", "medium", "high" */
    bool firing;     /* false: resolved */
    int64_t ts_ms;   /* event time the alert is about */
} sr_status_alert_t;

typedef struct sr_status_item {
    char item_id[SR_STATUS_ID_MAX];
    double score;
} sr_status_item_t;

typedef struct sr_status sr_status_t;

sr_status_t *sr_status_new(void);
void sr_status_destroy(sr_status_t *s); /* NULL is a no-op */

/* ---- engine thread --------------------------------------------------------
 * Borrowed strings are copied before return. */
void sr_status_add_alert(sr_status_t *s, const char *user_id, double probability,
                         const char *level, bool firing, int64_t ts_ms);
/* Replaces the trending list (best first); at most SR_STATUS_TRENDING kept. */
void sr_status_set_trending(sr_status_t *s, const char *const *item_ids, const double *scores,
                            size_t n);

/* ---- any thread -----------------------------------------------------------
 * Copies the alerts newest first (at most SR_STATUS_ALERTS) and the trending
 * list; returns how many alerts, *n_trending how many items. */
size_t sr_status_read(sr_status_t *s, sr_status_alert_t alerts[SR_STATUS_ALERTS],
                      sr_status_item_t trending[SR_STATUS_TRENDING], size_t *n_trending);

/* Events per second over the last SR_STATUS_RATE_WINDOW_MS, given the
 * running total now (monotonic ms); 0 until a second reading exists. */
double sr_status_rate(sr_status_t *s, int64_t now_mono_ms, uint64_t events_total);

/* The numbers of the page, read by the caller from /metrics' sources. */
typedef struct sr_status_figures {
    uint64_t records_in;        /* streamrec_input_records_total */
    uint64_t events_total;      /* sum of streamrec_events_total over types */
    double events_per_s;        /* sr_status_rate() */
    int64_t lag_offsets;        /* sum of streamrec_consumer_lag_offsets; -1 unknown */
    double lag_seconds;         /* max of streamrec_consumer_lag_seconds; -1 unknown */
    int partitions;             /* streamrec_assigned_partitions */
    uint64_t freshness_count;   /* streamrec_freshness_seconds_count */
    double freshness_p50_ms, freshness_p99_ms, freshness_p999_ms; /* ~3% precise */
    uint64_t users, items;      /* streamrec_users, streamrec_items */
    uint64_t alerts_firing, alerts_resolved; /* streamrec_churn_alerts_total */
    uint64_t recos_written;     /* streamrec_recommendations_total */
    uint64_t dead_letters;      /* sum of streamrec_dlq_records_total */
    bool ready;                 /* streamrec_ready */
    int64_t now_ms;             /* wall clock of the reading */
} sr_status_figures_t;

/* The whole /status.json document, or NULL when out of memory. */
char *sr_status_json(sr_status_t *s, const sr_status_figures_t *f, size_t *len);

/* One recommended item, as read back from Redis. */
typedef struct sr_status_reco {
    const char *item_id;
    double score;
} sr_status_reco_t;

/* The /reco document: {"user":..,"found":bool,"items":[{"item","score"}],
 * "source":..,"message":..}. error (nullable) is a lookup failure to report;
 * found=false with no error means the user has no recommendations. */
char *sr_status_reco_json(const char *user_id, const sr_status_reco_t *items, size_t n,
                          bool found, const char *source, const char *error, size_t *len);

#endif
