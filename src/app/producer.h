/* streamrec producer: click events into a Kafka topic, paced.
 *
 * The one produce loop of `streamrec gen` (the synthetic stream),
 * `streamrec replay` (a dataset file) and `streamrec demo` (its embedded
 * generator). Each event is encoded with the compiled-in ClickEvent schema
 * behind the Confluent header (magic 0, schema id), keyed by its user id --
 * so one user's events share a partition and stay in order, as the daemon
 * needs -- and produced through kafka_out's idempotent producer. Kafka
 * record timestamps are the produce time, not the event time: topic
 * retention counts from when the records were written, and the daemon's
 * freshness (record timestamp to Redis) stays meaningful for old datasets.
 * The event time travels in the record's ts_ms field.
 *
 * Pacing (sr_pace_t): as fast as the broker takes them, a steady rate in
 * events per second, or the events' own event-time gaps divided by a speed
 * factor. Every event has a due time on one schedule counted from the first
 * event, so a stall (a slow broker, a descheduled process) is caught up
 * afterwards instead of lowering the rate for good.
 *
 * Backpressure: at most SR_PRODUCER_MAX_IN_FLIGHT records wait for their
 * acknowledgement; beyond that the loop serves delivery reports until there
 * is room (still watching *stop), so librdkafka's local queue never fills.
 *
 * Delivery: every record accepted is counted as produced, and once its
 * report arrives as delivered or failed. The first failure stops the loop
 * (a broker that rejects one record will most likely reject the next, and
 * producing past a gap would reorder a user's events); sr_producer_run()
 * then flushes what is in flight and reports how many records failed and
 * the first reason.
 *
 * Ownership: sr_producer_new() copies what it needs from the config (the
 * topic; props are read by kafka_out during the call).
 *
 * Threads: one thread calls _run (delivery reports are served on it);
 * sr_producer_stats() may be called from any thread. */
#ifndef STREAMREC_APP_PRODUCER_H
#define STREAMREC_APP_PRODUCER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "streamrec/config.h"
#include "streamrec/err.h"
#include "streamrec/event.h"
#include "streamrec/kafka_common.h"

/* librdkafka's queue.buffering.max.messages defaults to 100,000; half of it
 * leaves room for other records of the same client and is still minutes of
 * the mock cluster's throughput. */
#define SR_PRODUCER_MAX_IN_FLIGHT 50000

typedef enum sr_pace_mode {
    SR_PACE_MAX,        /* no waiting: as fast as the broker acknowledges */
    SR_PACE_RATE,       /* value events per second (wall clock) */
    SR_PACE_EVENT_TIME, /* event-time gaps divided by value (2 = twice as fast) */
} sr_pace_mode_t;

typedef struct sr_pace {
    sr_pace_mode_t mode;
    double value; /* > 0 for RATE and EVENT_TIME; ignored for MAX */
} sr_pace_t;

/* When event number `index` (0 = the first) is due, in seconds after the
 * first event was produced; ts_ms is its event time and first_ts_ms the
 * first event's. 0 for SR_PACE_MAX and for an event whose event time is
 * not after the first's (late events are not held back). Pure, O(1). */
double sr_pace_due_s(const sr_pace_t *pace, uint64_t index, int64_t ts_ms, int64_t first_ts_ms);

typedef struct sr_producer_config {
    const char *bootstrap;       /* bootstrap.servers, required */
    const char *topic;           /* required */
    const sr_kafka_kv_t *props;  /* librdkafka passthrough, after kafka_out's defaults */
    size_t n_props;
    int32_t schema_id;           /* Confluent header; the daemon's demo uses 1 */
    sr_pace_t pace;
    uint64_t max_events;         /* stop after this many; 0: when the source ends */
    int flush_timeout_ms;        /* end-of-run wait for acknowledgements; 0 = 60000 */
    FILE *progress;              /* a "\r" status line once a second; NULL: silent */
} sr_producer_config_t;

typedef struct sr_producer_stats {
    uint64_t produced;  /* accepted by the producer */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* reported undeliverable */
} sr_producer_stats_t;

/* The events to produce: fills *ev with the next one (its strings borrowed
 * until the next call) and returns SR_OK, SR_ERR_EOF after the last one, or
 * another code with errstr filled (the run stops with that error). */
typedef sr_err_t sr_event_source_fn(void *opaque, sr_event_t *ev, char *errstr,
                                    size_t errstr_size);

/* A source over a synthetic stream: opaque is the sr_synth_t. */
sr_err_t sr_producer_synth_source(void *synth, sr_event_t *ev, char *errstr,
                                  size_t errstr_size);

typedef struct sr_producer sr_producer_t;

/* Creates the Kafka producer (it connects in the background). NULL with
 * errstr filled on a missing bootstrap or topic, a bad pace, or a property
 * librdkafka rejects. */
sr_producer_t *sr_producer_new(const sr_producer_config_t *cfg, char *errstr,
                               size_t errstr_size);

/* Produces the source's events until it ends, max_events were produced,
 * *stop is set (stop may be NULL) or a record fails; then waits up to
 * flush_timeout_ms until every record is acknowledged. SR_OK when every
 * produced record was delivered (also after a stop); otherwise the source's
 * error, SR_ERR_INVALID for an event the encoder refuses, or SR_ERR_IO for
 * a refused or undelivered record, with errstr saying which and why. Call
 * it once per producer. */
sr_err_t sr_producer_run(sr_producer_t *p, sr_event_source_fn *next, void *opaque,
                         const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/* Counters, from any thread. */
void sr_producer_stats(const sr_producer_t *p, sr_producer_stats_t *out);

/* Flushes briefly and frees; records still unacknowledged then are counted
 * as failed. NULL is a no-op. */
void sr_producer_destroy(sr_producer_t *p);

/* ---- the command-line front end of gen --topic and replay ------------- */

/* kafka.bootstrap.servers from cfg; NULL after telling the user on stderr
 * to set it (with -X or -c). */
const char *sr_producer_command_bootstrap(const char *cmd, const sr_config_t *cfg);

/* Runs a producer for subcommand `cmd` ("gen", "replay") once its options
 * are parsed: takes kafka.bootstrap.servers and the producer's kafka.*
 * passthrough from cfg (see sr_config_kafka_props) into a copy of *base
 * (which holds the topic, schema id, pace and count), shows progress on
 * stderr if it is a terminal, stops gracefully on SIGINT/SIGTERM, and
 * prints a summary or the error. Returns the exit code: 0; 1 when Kafka
 * refused or lost records; 2 without bootstrap servers. */
int sr_producer_command(const char *cmd, const sr_config_t *cfg,
                        const sr_producer_config_t *base, sr_event_source_fn *next,
                        void *opaque);

#endif
