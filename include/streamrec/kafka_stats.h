/* streamrec kafka_stats: what we read from librdkafka's statistics.
 *
 * librdkafka emits a JSON document every statistics.interval.ms (see its
 * STATISTICS.md). We keep the newest document of a client in a slot --
 * written by the client's poll thread with one copy under a short lock,
 * read by whoever serves metrics -- and parse it only when asked, off the
 * engine thread.
 *
 * From a document we take, per partition (partition >= 0, the internal
 * unassigned "-1" entry skipped): consumer_lag (high watermark, or last
 * stable offset under read_committed, minus the committed offset: what
 * kafka-consumer-groups.sh shows; -1 when unknown), consumer_lag_stored
 * (minus the offset the app stored, i.e. processed and acknowledged), the
 * high watermark and fetch_state; and how many brokers the client knows
 * (nodeid >= 0: bootstrap and logical entries are not brokers) and how many
 * of them are in state UP.
 *
 * Threads: slot functions from any thread; parse anywhere. */
#ifndef STREAMREC_KAFKA_STATS_H
#define STREAMREC_KAFKA_STATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef struct sr_kafka_partition_stats {
    char topic[256];
    int32_t partition;
    int64_t consumer_lag;        /* -1: unknown */
    int64_t consumer_lag_stored; /* -1: unknown */
    int64_t hi_offset;           /* -1: unknown */
    bool fetching;               /* fetch_state is neither "none" nor "stopped" */
} sr_kafka_partition_stats_t;

typedef struct sr_kafka_stats {
    int brokers, brokers_up;
    sr_kafka_partition_stats_t *partitions; /* malloc'd */
    size_t n_partitions;
} sr_kafka_stats_t;

/* Parses one document. SR_ERR_INVALID with a reason if it is not JSON or
 * not an object; missing fields are left at their "unknown" values. */
sr_err_t sr_kafka_stats_parse(const char *json, size_t len, sr_kafka_stats_t *out, char *errstr,
                              size_t errstr_size);
void sr_kafka_stats_free(sr_kafka_stats_t *s);

/* The newest document of one client. */
typedef struct sr_kafka_stats_slot {
    pthread_mutex_t lock;
    char *json;
    size_t len, cap;
    int64_t received_mono_ms; /* 0: none yet */
} sr_kafka_stats_slot_t;

void sr_kafka_stats_slot_init(sr_kafka_stats_slot_t *slot);
void sr_kafka_stats_slot_destroy(sr_kafka_stats_slot_t *slot);

/* Copies json in (allocation only when a document is bigger than any before). */
void sr_kafka_stats_slot_put(sr_kafka_stats_slot_t *slot, const char *json, size_t len);

/* Parses the newest document if it is at most max_age_ms old (monotonic
 * clock). SR_ERR_EOF when there is none that recent; errors of parse. */
sr_err_t sr_kafka_stats_slot_parse(sr_kafka_stats_slot_t *slot, int64_t max_age_ms,
                                   sr_kafka_stats_t *out, char *errstr, size_t errstr_size);

#endif
