#include "streamrec/kafka_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUEUE_FULL_WAIT_MS 1000
#define DEFAULT_CLOSE_TIMEOUT_MS 10000
/* Step of the queue-full wait: short enough to add little latency once
 * room appears, long enough not to spin. */
#define QUEUE_FULL_STEP_MS 10

struct sr_kafka_out {
    rd_kafka_t *rk;
    sr_kafka_out_delivery_fn *on_delivery;
    sr_kafka_log_fn *on_log;
    sr_kafka_stats_fn *on_stats;
    sr_prom_hist_t *delivery_latency_us;
    void *opaque;
    int queue_full_wait_ms;
    int close_timeout_ms;
};

static const sr_kafka_kv_t producer_defaults[] = {
    {"enable.idempotence", "true"},
    {"linger.ms", "2"},
    {"compression.type", "lz4"},
    {"message.timeout.ms", "30000"},
    {"partitioner", "murmur2_random"},
};

static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
    sr_kafka_out_t *out = opaque;
    (void)rk;
    out->on_stats(out->opaque, json, json_len);
    return 0; /* librdkafka frees json */
}

static void log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
    sr_kafka_out_t *out = rd_kafka_opaque(rk);
    out->on_log(out->opaque, level, RD_KAFKA_RESP_ERR_NO_ERROR, facility, message);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    sr_kafka_out_t *out = opaque;
    char message[600];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        /* An idempotent producer turns unrecoverable sequence problems into
         * a fatal error; the underlying code is the useful one. */
        char fatal_reason[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
        snprintf(message, sizeof message, "%s: %s", rd_kafka_err2name(orig), fatal_reason);
        out->on_log(out->opaque, 2, orig, "FATAL", message);
        return;
    }
    snprintf(message, sizeof message, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
    out->on_log(out->opaque, 3, (rd_kafka_resp_err_t)err, "ERROR", message);
}

static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    sr_kafka_out_t *out = opaque;
    (void)rk;
    if (out->delivery_latency_us) {
        int64_t us = rd_kafka_message_latency(msg);
        if (us >= 0)
            sr_prom_hist_observe(out->delivery_latency_us, (uint64_t)us);
    }
    if (out->on_delivery)
        out->on_delivery(out->opaque, msg->_private, msg->err);
}

sr_kafka_out_t *sr_kafka_out_new(const sr_kafka_out_config_t *cfg, char *errstr,
                                 size_t errstr_size) {
    sr_kafka_out_t *out = NULL;
    rd_kafka_conf_t *conf = NULL;
    char rd_errstr[512];

    if (!cfg || !cfg->bootstrap || !*cfg->bootstrap) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "kafka producer: bootstrap servers are required");
        return NULL;
    }
    if (cfg->queue_full_wait_ms < 0 || cfg->close_timeout_ms < 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "kafka producer: negative timeout");
        return NULL;
    }
    if (!(out = calloc(1, sizeof *out))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "kafka producer: out of memory");
        return NULL;
    }
    out->on_delivery = cfg->on_delivery;
    out->on_log = cfg->on_log;
    out->on_stats = cfg->on_stats;
    out->delivery_latency_us = cfg->delivery_latency_us;
    out->opaque = cfg->opaque;
    out->queue_full_wait_ms =
        cfg->queue_full_wait_ms ? cfg->queue_full_wait_ms : DEFAULT_QUEUE_FULL_WAIT_MS;
    out->close_timeout_ms =
        cfg->close_timeout_ms ? cfg->close_timeout_ms : DEFAULT_CLOSE_TIMEOUT_MS;

    const sr_kafka_kv_t fixed[] = {{"bootstrap.servers", cfg->bootstrap}};
    int stats_ms = cfg->on_stats ? (cfg->stats_interval_ms > 0 ? cfg->stats_interval_ms : 1000) : 0;
    if (!(conf = sr_kafka_conf_build("producer", fixed, 1, producer_defaults,
                                     sizeof producer_defaults / sizeof *producer_defaults,
                                     stats_ms, cfg->props, cfg->n_props, errstr, errstr_size)))
        goto fail;
    if (cfg->on_stats)
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, out);
    if (out->on_delivery || out->delivery_latency_us)
        rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
    if (out->on_log) {
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }

    if (!(out->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rd_errstr, sizeof rd_errstr))) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka producer: %s", rd_errstr);
        goto fail;
    }
    return out;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sr_kafka_out_destroy(out);
    return NULL;
}

void sr_kafka_out_destroy(sr_kafka_out_t *out) {
    if (!out)
        return;
    if (out->rk) {
        if (rd_kafka_flush(out->rk, out->close_timeout_ms) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
            /* Fail what is left explicitly, so every accepted record still
             * gets its one delivery callback (an error) before we go. */
            rd_kafka_purge(out->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(out->rk, 1000);
        }
        rd_kafka_destroy(out->rk);
    }
    free(out);
}

/* sr_kafka_out_produce, with librdkafka's code in *rd_err_out. */
static sr_err_t produce(sr_kafka_out_t *out, const char *topic, int32_t partition,
                        const void *key, size_t key_len, const void *value, size_t len,
                        rd_kafka_headers_t *headers, void *msg_opaque,
                        rd_kafka_resp_err_t *rd_err_out, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err;
    int waited_ms = 0;
    *rd_err_out = RD_KAFKA_RESP_ERR__INVALID_ARG;

    if (!topic || !*topic)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "kafka producer: no topic");
    /* RD_KAFKA_V_VALUE wants a non-const pointer; with RD_KAFKA_MSG_F_COPY
     * librdkafka only reads it. */
    void *payload = (void *)(uintptr_t)value;
    for (;;) {
        /* Two calls rather than RD_KAFKA_V_HEADERS(NULL): whether producev
         * treats a NULL list as "none" is not documented. */
        if (headers)
            err = rd_kafka_producev(
                out->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(payload, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                out->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(payload, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg_opaque),
                RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited_ms >= out->queue_full_wait_ms)
            break;
        /* Serving delivery reports is what frees room in the queue. */
        rd_kafka_poll(out->rk, QUEUE_FULL_STEP_MS);
        waited_ms += QUEUE_FULL_STEP_MS;
    }
    *rd_err_out = err;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "kafka producer: %s: local queue still full after %d ms "
                         "(%d records in flight)",
                         topic, waited_ms, rd_kafka_outq_len(out->rk));
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka producer: %s [%" PRId32 "]: %s",
                         topic, partition, rd_kafka_err2str(err));
    return SR_OK;
}

static sr_err_t add_header(rd_kafka_headers_t *headers, const char *name, const char *value,
                           char *errstr, size_t errstr_size) {
    /* Replace, not append: consumers usually read one value per name. */
    rd_kafka_header_remove(headers, name);
    rd_kafka_resp_err_t err = rd_kafka_header_add(headers, name, -1, value, -1);
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka producer: header %s: %s", name,
                         rd_kafka_err2str(err));
    return SR_OK;
}

sr_err_t sr_kafka_out_produce(sr_kafka_out_t *out, const char *topic, int32_t partition,
                              const void *key, size_t key_len, const void *value, size_t len,
                              rd_kafka_headers_t *headers, void *msg_opaque, char *errstr,
                              size_t errstr_size) {
    rd_kafka_resp_err_t rd_err;
    return produce(out, topic, partition, key, key_len, value, len, headers, msg_opaque, &rd_err,
                   errstr, errstr_size);
}

sr_err_t sr_kafka_out_dead_letter(sr_kafka_out_t *out, const char *dlq_topic,
                                  const rd_kafka_message_t *bad, const char *reason_code,
                                  const char *error_message, void *msg_opaque, char *errstr,
                                  size_t errstr_size) {
    rd_kafka_headers_t *original = NULL, *headers = NULL;
    char partition[16], offset[24], timestamp[24];
    rd_kafka_timestamp_type_t ts_type;
    sr_err_t err;

    if (!dlq_topic || !*dlq_topic || !bad || !bad->rkt || !reason_code)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "kafka producer: dead letter needs a topic, a consumed record and a "
                         "reason");

    /* No headers (__NOENT) or unparseable ones both start an empty list:
     * a record whose headers are broken still goes to the DLQ, with ours. */
    if (rd_kafka_message_headers(bad, &original) == RD_KAFKA_RESP_ERR_NO_ERROR)
        headers = rd_kafka_headers_copy(original);
    else
        headers = rd_kafka_headers_new(8);
    rd_kafka_header_remove(headers, SR_DLQ_HEADER_VALUE_DROPPED); /* says nothing of this copy */

    snprintf(partition, sizeof partition, "%" PRId32, bad->partition);
    snprintf(offset, sizeof offset, "%" PRId64, bad->offset);
    int64_t ts_ms = rd_kafka_message_timestamp(bad, &ts_type);

    if ((err = add_header(headers, SR_DLQ_HEADER_ERROR, reason_code, errstr, errstr_size)) ||
        (err = add_header(headers, SR_DLQ_HEADER_ERROR_MESSAGE, error_message ? error_message : "",
                          errstr, errstr_size)) ||
        (err = add_header(headers, SR_DLQ_HEADER_SOURCE_TOPIC, rd_kafka_topic_name(bad->rkt),
                          errstr, errstr_size)) ||
        (err = add_header(headers, SR_DLQ_HEADER_SOURCE_PARTITION, partition, errstr,
                          errstr_size)) ||
        (err = add_header(headers, SR_DLQ_HEADER_SOURCE_OFFSET, offset, errstr, errstr_size)))
        goto fail;
    if (ts_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts_ms >= 0) {
        snprintf(timestamp, sizeof timestamp, "%" PRId64, ts_ms);
        if ((err = add_header(headers, SR_DLQ_HEADER_SOURCE_TIMESTAMP, timestamp, errstr,
                              errstr_size)))
            goto fail;
    } else {
        rd_kafka_header_remove(headers, SR_DLQ_HEADER_SOURCE_TIMESTAMP);
    }

    rd_kafka_resp_err_t rd_err;
    err = produce(out, dlq_topic, RD_KAFKA_PARTITION_UA, bad->key, bad->key_len, bad->payload,
                  bad->len, headers, msg_opaque, &rd_err, errstr, errstr_size);
    if (err && rd_err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* The broker took a record larger than our message.max.bytes (its
         * default is 1048588, librdkafka's 1000000): a huge id, say. Failing
         * here would stop the stream on that record again after every
         * restart; the record's coordinates and reason without its value
         * are what the DLQ can still say. */
        char dropped[24];
        snprintf(dropped, sizeof dropped, "%zu", bad->len);
        if ((err = add_header(headers, SR_DLQ_HEADER_VALUE_DROPPED, dropped, errstr,
                              errstr_size)))
            goto fail;
        err = produce(out, dlq_topic, RD_KAFKA_PARTITION_UA, bad->key, bad->key_len, NULL, 0,
                      headers, msg_opaque, &rd_err, errstr, errstr_size);
    }
    if (err)
        goto fail;
    return SR_OK; /* headers belong to the producer now */

fail:
    rd_kafka_headers_destroy(headers);
    return err;
}

int sr_kafka_out_poll(sr_kafka_out_t *out, int timeout_ms) {
    return rd_kafka_poll(out->rk, timeout_ms);
}

sr_err_t sr_kafka_out_flush(sr_kafka_out_t *out, int timeout_ms, char *errstr,
                            size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(out->rk, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "kafka producer: flush: %d records still undelivered after %d ms",
                         rd_kafka_outq_len(out->rk), timeout_ms);
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka producer: flush: %s",
                         rd_kafka_err2str(err));
    return SR_OK;
}

size_t sr_kafka_out_in_flight(const sr_kafka_out_t *out) {
    int n = rd_kafka_outq_len(out->rk);
    return n > 0 ? (size_t)n : 0;
}

rd_kafka_t *sr_kafka_out_handle(const sr_kafka_out_t *out) {
    return out->rk;
}
