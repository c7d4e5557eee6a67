/* streamrec kafka_common: what the Kafka consumer and producer share. */
#ifndef STREAMREC_KAFKA_COMMON_H
#define STREAMREC_KAFKA_COMMON_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "streamrec/err.h"

/* One librdkafka property, passed through verbatim ("fetch.min.bytes", "1"). */
typedef struct sr_kafka_kv {
    const char *key;
    const char *value;
} sr_kafka_kv_t;

/* Log and error sink. level is syslog's (3 = error, 4 = warning, 6 = info,
 * 7 = debug); err is RD_KAFKA_RESP_ERR_NO_ERROR for a plain log line and the
 * error code for an error event (facility "ERROR", or "FATAL" for a fatal
 * error after which the client is unusable). */
typedef void sr_kafka_log_fn(void *opaque, int level, rd_kafka_resp_err_t err,
                             const char *facility, const char *message);

/* librdkafka's statistics (a JSON document, see its STATISTICS.md), every
 * stats_interval_ms: json is borrowed for the duration of the call. Runs on
 * the thread that polls the client (the consumer's poll thread, the
 * producer's poll/flush caller), so keep it short: copy, parse elsewhere. */
typedef void sr_kafka_stats_fn(void *opaque, const char *json, size_t json_len);

/* rd_kafka_conf_set with our error convention: SR_ERR_CONFIG and
 * "kafka <client>: key=value: <librdkafka's reason>" (client: "consumer",
 * "producer"). */
sr_err_t sr_kafka_conf_set(rd_kafka_conf_t *conf, const char *client, const char *key,
                           const char *value, char *errstr, size_t errstr_size);

/* A client's configuration, set in the order that decides who wins:
 * `fixed` (bootstrap.servers, group.id), then our `defaults`, then
 * statistics.interval.ms if stats_interval_ms > 0, then the caller's
 * passthrough `props` -- so the user has the last word. NULL with errstr
 * filled (sr_kafka_conf_set's message) when librdkafka refuses one. */
rd_kafka_conf_t *sr_kafka_conf_build(const char *client, const sr_kafka_kv_t *fixed,
                                     size_t n_fixed, const sr_kafka_kv_t *defaults,
                                     size_t n_defaults, int stats_interval_ms,
                                     const sr_kafka_kv_t *props, size_t n_props, char *errstr,
                                     size_t errstr_size);

#endif
