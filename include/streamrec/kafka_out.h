/* streamrec kafka_out: the Kafka output edge, one idempotent producer.
 *
 * Carries reco.updates, churn.alerts and the dead-letter topic. Defaults,
 * applied before the caller's passthrough properties (the user wins):
 *
 *   enable.idempotence = true
 *       retries after a broker hiccup neither duplicate nor reorder records
 *       within a partition (acks=all, bounded in-flight are implied).
 *   linger.ms = 2
 *       a small batch window: 0 makes librdkafka send one request per record
 *       and, measured here, sends the mock broker spinning; 1-5 ms batches
 *       well and stays far below the one-second freshness budget.
 *   compression.type = lz4
 *       cheapest codec per byte saved; Avro records with repeated item ids
 *       compress well. Works with the mock cluster (it stores batches as-is).
 *   message.timeout.ms = 30000
 *       a record not acknowledged within 30 s fails with a delivery error
 *       instead of waiting forever (librdkafka's default is 5 minutes),
 *       so the app learns about an outage while it can still pause input.
 *   partitioner = murmur2_random
 *       the Java client's partitioner: a key lands on the same partition as
 *       when Kafka Streams or any Java producer writes it, so our outputs
 *       co-partition with theirs. Null keys are spread at random.
 *
 * Delivery: every record accepted by sr_kafka_out_produce() gets exactly
 * one on_delivery call with its msg_opaque: err == RD_KAFKA_RESP_ERR_NO_ERROR
 * once the broker acknowledged it, an error once librdkafka gave up
 * (message.timeout.ms, a fatal idempotence error, destroy). on_delivery runs
 * on the caller's thread, inside sr_kafka_out_poll(), sr_kafka_out_flush(),
 * sr_kafka_out_destroy() -- and inside sr_kafka_out_produce() while it waits
 * for room in a full queue, so on_delivery must not call _produce itself.
 * A record refused by _produce gets no callback: the error return is its
 * only notice, nothing is dropped silently.
 *
 * Ownership: strings in the config are copied. Key and value are copied by
 * _produce (RD_KAFKA_MSG_F_COPY), so the caller's buffers can be reused at
 * once. A headers list passed to _produce belongs to the producer if the
 * call succeeds and stays the caller's if it fails.
 *
 * Threads: librdkafka's producer is thread-safe, but callbacks arrive on the
 * thread calling poll/flush; use one thread (the sink thread) for all calls
 * so delivery callbacks need no locking. on_log may also be called from
 * librdkafka's internal threads and must be thread-safe. */
#ifndef STREAMREC_KAFKA_OUT_H
#define STREAMREC_KAFKA_OUT_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "streamrec/err.h"

#include "streamrec/kafka_common.h"
#include "streamrec/prom.h"

/* Header names the dead-letter records carry (values are UTF-8 strings;
 * numbers in decimal). */
#define SR_DLQ_HEADER_ERROR "streamrec.error"                 /* reason code, e.g. "truncated" */
#define SR_DLQ_HEADER_ERROR_MESSAGE "streamrec.error.message" /* human-readable detail */
#define SR_DLQ_HEADER_SOURCE_TOPIC "streamrec.source.topic"
#define SR_DLQ_HEADER_SOURCE_PARTITION "streamrec.source.partition"
#define SR_DLQ_HEADER_SOURCE_OFFSET "streamrec.source.offset"
#define SR_DLQ_HEADER_SOURCE_TIMESTAMP "streamrec.source.timestamp" /* ms since epoch, if any */
/* Only on a record whose value was too large for the producer's
 * message.max.bytes: the value's size in bytes; the DLQ record has no value. */
#define SR_DLQ_HEADER_VALUE_DROPPED "streamrec.value.dropped"

typedef void sr_kafka_out_delivery_fn(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err);

typedef struct sr_kafka_out_config {
    const char *bootstrap;               /* bootstrap.servers, required */
    const sr_kafka_kv_t *props;          /* passthrough, applied after our defaults */
    size_t n_props;
    sr_kafka_out_delivery_fn *on_delivery; /* optional */
    sr_kafka_log_fn *on_log;             /* optional; NULL = librdkafka's stderr logger */
    sr_kafka_stats_fn *on_stats;         /* optional: statistics.interval.ms defaults to
                                            stats_interval_ms (1000 if 0), the user's wins */
    int stats_interval_ms;
    sr_prom_hist_t *delivery_latency_us; /* optional: each record's produce call to its
                                            delivery report (rd_kafka_message_latency), us */
    void *opaque;                        /* passed to every callback */
    int queue_full_wait_ms;              /* how long _produce waits for room; 0 = 1000 */
    int close_timeout_ms;                /* flush budget of _destroy; 0 = 10000 */
} sr_kafka_out_config_t;

typedef struct sr_kafka_out sr_kafka_out_t;

/* Creates the producer (connections are made in the background). Returns
 * NULL and fills errstr on a bad property or a missing bootstrap. */
sr_kafka_out_t *sr_kafka_out_new(const sr_kafka_out_config_t *cfg, char *errstr,
                                 size_t errstr_size);

/* Flushes for up to close_timeout_ms; records still undelivered then are
 * purged and reported to on_delivery with RD_KAFKA_RESP_ERR__PURGE_QUEUE or
 * __PURGE_INFLIGHT before the producer is freed. NULL is a no-op. */
void sr_kafka_out_destroy(sr_kafka_out_t *out);

/* Queues one record. partition is RD_KAFKA_PARTITION_UA to let the
 * partitioner choose by key. key may be NULL (key_len 0); value may be NULL
 * (a tombstone). headers: see Ownership above; NULL for none.
 *
 * When librdkafka's local queue is full (queue.buffering.max.messages /
 * .kbytes), serves delivery reports in 10 ms steps for up to
 * queue_full_wait_ms, then gives up with SR_ERR_IO ("queue full") -- the
 * caller's cue to pause its input. SR_ERR_INVALID for a NULL topic,
 * SR_ERR_IO for anything else librdkafka refuses (unknown partition, record
 * too large, fatal error), with the reason in errstr. */
sr_err_t sr_kafka_out_produce(sr_kafka_out_t *out, const char *topic, int32_t partition,
                              const void *key, size_t key_len, const void *value, size_t len,
                              rd_kafka_headers_t *headers, void *msg_opaque, char *errstr,
                              size_t errstr_size);

/* Copies a record that could not be processed to dlq_topic: key and value
 * byte for byte, its own headers, plus the SR_DLQ_HEADER_* headers (any
 * streamrec.* headers it already carried with those names are replaced, so a
 * record dead-lettered twice says why the second time). The DLQ record gets
 * a fresh timestamp -- retention of the DLQ counts from when we failed, not
 * from when the event happened; the original is in the timestamp header.
 * Same partitioning (by key), delivery and error rules as _produce, except
 * for a value larger than the producer's message.max.bytes: the record then
 * goes without its value and with SR_DLQ_HEADER_VALUE_DROPPED instead of
 * failing. `bad` is only read; the caller still owns and destroys it.
 * error_message may be NULL. */
sr_err_t sr_kafka_out_dead_letter(sr_kafka_out_t *out, const char *dlq_topic,
                                  const rd_kafka_message_t *bad, const char *reason_code,
                                  const char *error_message, void *msg_opaque, char *errstr,
                                  size_t errstr_size);

/* Serves delivery reports (and errors) waiting at most timeout_ms for the
 * first one; returns how many events were served. Call it regularly --
 * every batch -- or delivery callbacks pile up. */
int sr_kafka_out_poll(sr_kafka_out_t *out, int timeout_ms);

/* Waits until every queued record was delivered or failed (callbacks
 * served), at most timeout_ms. SR_ERR_IO with the count left in errstr on
 * timeout. */
sr_err_t sr_kafka_out_flush(sr_kafka_out_t *out, int timeout_ms, char *errstr,
                            size_t errstr_size);

/* Records queued, in flight or with a delivery report not yet served
 * (rd_kafka_outq_len). Any thread. */
size_t sr_kafka_out_in_flight(const sr_kafka_out_t *out);

/* The librdkafka handle, borrowed, for statistics. Do not poll or flush it
 * directly (that would run on_delivery elsewhere). Any thread. */
rd_kafka_t *sr_kafka_out_handle(const sr_kafka_out_t *out);

#endif
