/* streamrec pipeline: the daemon's wiring -- Kafka in, engine, Redis and
 * Kafka out -- with at-least-once delivery.
 *
 * Threads. The caller's thread is the engine thread: it polls the consumer,
 * decodes, applies events to the engine, and every batch.max.ms (or once
 * batch.max.users users are dirty, or later while the input is behind)
 * closes a batch: the engine recomputes each dirty user once, the batch's
 * churn.alerts records are produced, and its outputs are handed to the sink
 * thread. The sink thread encodes and produces the reco.updates records,
 * writes the batch to Redis in one pipeline (retrying with backoff while
 * Redis is away) and waits until Kafka acknowledged every record of the
 * batch, dead letters included. Acknowledged batches come back
 * to the engine thread in order, and only then are their input offsets
 * stored for commit: an offset is committed only after every output it
 * caused is in Redis and Kafka.
 *
 * Backpressure: while more than a few batches wait for the sink, the
 * consumer is paused (and keeps polling, so it stays in the group).
 * Rebalance: before partitions are revoked, the open batch is closed and the
 * pipeline drains, so their offsets are stored in time; with state.handoff
 * their users' state goes to the changelog topic, and a newly assigned
 * partition's users are restored from it before its first record is read
 * (see "partition handoff" in pipeline.c).
 *
 * A Kafka record that cannot be delivered after librdkafka's own retries
 * stops the pipeline with an error instead of acknowledging past it: after
 * a restart the input is read again from the last stored offset.
 *
 * Writer schemas. Without schema.registry.url every Confluent schema id is
 * read with input.schema.file (or the built-in ClickEvent schema). With it,
 * the first record of an id the decoder does not know fetches that id's
 * schema from the registry (engine thread, once per id) and registers it;
 * an id the registry does not know is dead-lettered as unknown_schema. An
 * unreachable registry is never the record's fault: the engine thread
 * retries for up to schema.registry.timeout.ms, then the pipeline stops
 * with an error, as above, without storing the open batch's offsets.
 *
 * Ownership: the caller keeps cfg alive until sr_pipeline_destroy(). */
#ifndef STREAMREC_APP_PIPELINE_H
#define STREAMREC_APP_PIPELINE_H

#include <signal.h>
#include <stdint.h>

#include "streamrec/config.h"
#include "streamrec/err.h"
#include "streamrec/event.h"
#include "streamrec/hist.h"
#include "streamrec/prom.h"

#include "quality.h"
#include "status.h"

/* Batches closed and not yet acknowledged by the sinks (Redis and Kafka),
 * at most: at this many the consumer pauses, and resumes below half of it.
 * It also pauses while 4 batches wait for the sink to take them. */
#define SR_PIPELINE_OUTBOX_BATCHES_MAX 32

typedef struct sr_pipeline_stats {
    uint64_t records_in;       /* input records polled (errors excluded) */
    uint64_t events_applied;
    uint64_t dead_letters;     /* records sent to the DLQ */
    uint64_t batches_acked;
    uint64_t recos_written;    /* reco:{user} writes acknowledged by Redis */
    uint64_t recos_guarded;    /* of those, written under the replay guard */
    uint64_t sims_written;
    uint64_t alerts;           /* churn alerts produced (FIRING and RESOLVED) */
    uint64_t redis_retries;
    uint64_t users, items;
    int paused;                /* consumer paused for backpressure */
    uint64_t queued_batches_max; /* most batches closed and not yet acknowledged at once */
    int partitions;            /* input partitions currently assigned */
    uint64_t users_handed_off; /* users written to the changelog for their partition's next owner */
    uint64_t users_restored;   /* users read back from the changelog on assignment */
    uint64_t users_evicted;    /* users evicted after state.user.ttl.days idle (engine total) */
    uint64_t items_evicted;    /* items evicted after state.item.ttl.days idle (engine total) */
    int64_t watermark_ms;      /* event time the sweeps have reached, INT64_MIN: no time yet */
    uint64_t checkpoints_written, checkpoint_errors;
    uint64_t checkpoint_max_pause_ns; /* longest engine pause for one (drain + fork) */
    int64_t checkpoint_last_wall_ms;  /* when the newest one was written, 0: none yet */
} sr_pipeline_stats_t;

typedef struct sr_pipeline sr_pipeline_t;

/* Connects to Kafka and Redis (failing with a message that says what to
 * start when they are not there) and starts the sink thread. */
sr_pipeline_t *sr_pipeline_new(const sr_config_t *cfg, char *errstr, size_t errstr_size);

/* Runs on the caller's thread until *stop is nonzero, then finishes the
 * batch in flight, waits for the sinks, stores and commits offsets and
 * closes the consumer. */
sr_err_t sr_pipeline_run(sr_pipeline_t *p, const volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size);

/* Counters, from any thread. */
void sr_pipeline_stats(sr_pipeline_t *p, sr_pipeline_stats_t *out);

/* Freshness in ms: an input record's Kafka timestamp to Redis acknowledging
 * the recommendations it caused. Recorded by the sink thread. */
const sr_hist_t *sr_pipeline_freshness(const sr_pipeline_t *p);

/* ---- for /metrics, /healthz and /readyz ---------------------------------
 *
 * Instruments the engine and sink threads write (relaxed atomics) and any
 * thread reads. Histograms are in their base unit (see each); the
 * Prometheus names and buckets are the exporter's (metrics.c). */
typedef struct sr_pipeline_metrics {
    _Atomic uint64_t events_by_type[SR_EVENT__COUNT]; /* applied; [UNKNOWN]: skipped */
    _Atomic uint64_t dead_letters_by_reason[SR_ERR__COUNT];
    _Atomic uint64_t alerts_firing, alerts_resolved;   /* produced and acknowledged */
    _Atomic uint64_t kafka_delivery_errors;
    _Atomic uint64_t redis_refused;                     /* outputs the Redis sink refused as invalid */
    _Atomic uint64_t assigns, revokes;                  /* rebalance callbacks */
    _Atomic uint64_t rollbacks;                         /* state reloaded from a checkpoint */
    _Atomic int64_t loop_mono_ms;                       /* last poll-loop turn */
    sr_prom_hist_t freshness_ms;      /* Kafka timestamp -> Redis acknowledged, per record */
    sr_prom_hist_t batch_records;     /* input records per closed batch */
    sr_prom_hist_t batch_open_us;     /* first record -> batch closed */
    sr_prom_hist_t batch_close_us;    /* engine flush, outputs copied, churn alerts produced */
    sr_prom_hist_t redis_write_us;    /* one acknowledged batch write (pipeline + replies) */
    sr_prom_hist_t kafka_delivery_us; /* produce call -> delivery report, per output record */
} sr_pipeline_metrics_t;

/* Borrowed, valid until sr_pipeline_destroy(); any thread. */
const sr_pipeline_metrics_t *sr_pipeline_metrics(const sr_pipeline_t *p);

/* Consumer lag of one assigned input partition. */
typedef struct sr_pipeline_lag {
    char topic[256];
    int32_t partition;
    int64_t offsets;  /* from librdkafka's statistics: high watermark minus the committed
                         offset; -1 unknown */
    int64_t stored_offsets; /* the same minus the offset stored after the sinks
                               acknowledged (ahead of the commit by up to
                               auto.commit.interval.ms); -1 unknown */
    double seconds;   /* now minus the Kafka timestamp of the newest acknowledged record;
                         0 when nothing is waiting past it; -1 unknown */
} sr_pipeline_lag_t;

/* Fills up to max partitions, returns how many are assigned (may exceed
 * max). Any thread; parses the newest statistics, so call it per scrape,
 * not in a loop. */
size_t sr_pipeline_lag(sr_pipeline_t *p, sr_pipeline_lag_t *out, size_t max);

/* SR_OK when the pipeline can do its job: input partitions assigned, the
 * Redis connection up as of the last write, both Kafka clients connected to
 * a broker per their latest statistics, not stopped by an error. Otherwise
 * the first reason that fails, one line, in reason. Any thread. */
sr_err_t sr_pipeline_ready(sr_pipeline_t *p, char *reason, size_t reason_size);

/* Milliseconds since the engine thread's poll loop last turned (0 before
 * sr_pipeline_run() starts it: a pipeline being set up is not stalled), and
 * whether the pipeline stopped on an error (reason filled). Any thread. */
int64_t sr_pipeline_loop_age_ms(const sr_pipeline_t *p);
bool sr_pipeline_failed(sr_pipeline_t *p, char *reason, size_t reason_size);

/* Running model quality (see quality.h); borrowed, any thread. */
const sr_recall_t *sr_pipeline_recall(const sr_pipeline_t *p);
sr_auc_window_t *sr_pipeline_churn_auc(const sr_pipeline_t *p);

/* The status page's snapshot of recent churn alerts (acknowledged ones) and
 * trending items (as of the last closed batch), written by the engine
 * thread; borrowed, read it from any thread through status.h. */
sr_status_t *sr_pipeline_status(const sr_pipeline_t *p);

void sr_pipeline_destroy(sr_pipeline_t *p);

#endif
