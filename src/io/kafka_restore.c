#include "streamrec/kafka_restore.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"

struct sr_kafka_restore {
    rd_kafka_t *rk;
};

sr_kafka_restore_t *sr_kafka_restore_new(const char *bootstrap, const sr_kafka_kv_t *props,
                                         size_t n_props, char *errstr, size_t errstr_size) {
    if (!bootstrap) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka restore: no bootstrap.servers");
        return NULL;
    }
    sr_kafka_restore_t *r = calloc(1, sizeof *r);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!r || !conf) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating a consumer");
        goto fail;
    }
    /* librdkafka's assign() wants a group.id even when no group is joined;
     * nothing is ever committed under it */
    static const sr_kafka_kv_t defaults[] = {
        {"group.id", "streamrec-changelog-reader"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "10"},
        {"auto.offset.reset", "earliest"},
    };
    if (sr_kafka_conf_set(conf, "restore consumer", "bootstrap.servers", bootstrap, errstr,
                          errstr_size) != SR_OK)
        goto fail;
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++)
        if (sr_kafka_conf_set(conf, "restore consumer", defaults[k].key, defaults[k].value, errstr,
                              errstr_size) != SR_OK)
            goto fail;
    for (size_t k = 0; k < n_props; k++) {
        if (props[k].key && strncmp(props[k].key, "group.", 6) == 0)
            continue;
        if (sr_kafka_conf_set(conf, "restore consumer", props[k].key, props[k].value, errstr,
                              errstr_size) != SR_OK)
            goto fail;
    }
    char rd_errstr[512];
    if (!(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rd_errstr, sizeof rd_errstr))) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka restore consumer: %s", rd_errstr);
        goto fail;
    }
    return r; /* conf now belongs to r->rk */
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(r);
    return NULL;
}

void sr_kafka_restore_destroy(sr_kafka_restore_t *r) {
    if (!r)
        return;
    rd_kafka_destroy(r->rk);
    free(r);
}

sr_err_t sr_kafka_restore_read(sr_kafka_restore_t *r, const char *topic,
                               const int32_t *partitions, size_t n, int timeout_ms,
                               sr_kafka_restore_fn *fn, void *opaque, uint64_t *n_read,
                               char *errstr, size_t errstr_size) {
    int64_t deadline = sr_clock_mono_ms() + timeout_ms;
    uint64_t count = 0;
    sr_err_t result = SR_OK;
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new((int)n + 1);
    int64_t *end = calloc(n + 1, sizeof *end);
    if (!assign || !end) {
        result = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory restoring %s", topic);
        goto done;
    }
    /* The end of each partition as it is now; empty partitions need no read. */
    for (size_t k = 0; k < n; k++) {
        int64_t low, high;
        int left = (int)(deadline - sr_clock_mono_ms());
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            r->rk, topic, partitions[k], &low, &high, left > 0 ? left : 1);
        if (err) {
            result = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s [%d]: %s", topic,
                               (int)partitions[k], rd_kafka_err2str(err));
            goto done;
        }
        end[k] = high;
        if (high > low)
            rd_kafka_topic_partition_list_add(assign, topic, partitions[k])->offset = low;
    }
    if (assign->cnt == 0)
        goto done;
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, assign);
    if (err) {
        result = sr_seterr(SR_ERR_IO, errstr, errstr_size, "assigning %s: %s", topic,
                           rd_kafka_err2str(err));
        goto done;
    }
    int open = assign->cnt;
    while (open > 0) {
        int left = (int)(deadline - sr_clock_mono_ms());
        if (left <= 0) {
            result = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                               "%s: %d partition(s) not read to the end within %d ms", topic, open,
                               timeout_ms);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, left < 100 ? left : 100);
        if (!m)
            continue;
        if (m->err) {
            /* transient fetch errors are retried by librdkafka; a missing
             * topic or partition is not */
            bool fatal = m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                         m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                         m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            if (fatal) {
                result = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: %s", topic,
                                   rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        size_t k = 0;
        while (k < n && partitions[k] != m->partition) k++;
        if (k < n && end[k] > 0 && m->offset < end[k]) {
            fn(opaque, m);
            count++;
            if (m->offset + 1 >= end[k]) {
                end[k] = 0; /* done with this one */
                open--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->rk, NULL);
done:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    free(end);
    if (n_read)
        *n_read = count;
    return result;
}
