#include "streamrec/kafka_stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"

static int64_t int_field(json_t *obj, const char *key, int64_t missing) {
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : missing;
}

static sr_err_t add_partitions(sr_kafka_stats_t *out, const char *topic, json_t *partitions) {
    size_t n = json_object_size(partitions);
    if (n == 0)
        return SR_OK;
    sr_kafka_partition_stats_t *grown =
        realloc(out->partitions, (out->n_partitions + n) * sizeof *grown);
    if (!grown)
        return SR_ERR_NOMEM;
    out->partitions = grown;
    const char *key;
    json_t *p;
    json_object_foreach(partitions, key, p) {
        int64_t partition = int_field(p, "partition", -1);
        if (partition < 0 || partition > INT32_MAX)
            continue; /* -1: librdkafka's internal unassigned partition */
        sr_kafka_partition_stats_t *s = &out->partitions[out->n_partitions++];
        memset(s, 0, sizeof *s);
        snprintf(s->topic, sizeof s->topic, "%s", topic);
        s->partition = (int32_t)partition;
        s->consumer_lag = int_field(p, "consumer_lag", -1);
        s->consumer_lag_stored = int_field(p, "consumer_lag_stored", -1);
        s->hi_offset = int_field(p, "hi_offset", -1);
        const char *state = json_string_value(json_object_get(p, "fetch_state"));
        s->fetching = state && strcmp(state, "none") != 0 && strcmp(state, "stopped") != 0;
    }
    return SR_OK;
}

sr_err_t sr_kafka_stats_parse(const char *json, size_t len, sr_kafka_stats_t *out, char *errstr,
                              size_t errstr_size) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "librdkafka statistics: %s",
                         root ? "not an object" : jerr.text);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(root, "brokers"), key, v) {
        if (int_field(v, "nodeid", -1) < 0)
            continue;
        out->brokers++;
        const char *state = json_string_value(json_object_get(v, "state"));
        if (state && strcmp(state, "UP") == 0)
            out->brokers_up++;
    }
    sr_err_t err = SR_OK;
    json_object_foreach(json_object_get(root, "topics"), key, v) {
        if ((err = add_partitions(out, key, json_object_get(v, "partitions"))) != SR_OK)
            break;
    }
    json_decref(root);
    if (err != SR_OK) {
        sr_kafka_stats_free(out);
        return sr_seterr(err, errstr, errstr_size, "librdkafka statistics: out of memory");
    }
    return SR_OK;
}

void sr_kafka_stats_free(sr_kafka_stats_t *s) {
    free(s->partitions);
    memset(s, 0, sizeof *s);
}

void sr_kafka_stats_slot_init(sr_kafka_stats_slot_t *slot) {
    memset(slot, 0, sizeof *slot);
    pthread_mutex_init(&slot->lock, NULL);
}

void sr_kafka_stats_slot_destroy(sr_kafka_stats_slot_t *slot) {
    free(slot->json);
    pthread_mutex_destroy(&slot->lock);
}

void sr_kafka_stats_slot_put(sr_kafka_stats_slot_t *slot, const char *json, size_t len) {
    pthread_mutex_lock(&slot->lock);
    if (len + 1 > slot->cap) {
        char *grown = realloc(slot->json, len + 1);
        if (!grown) { /* keep the older document; it ages out of use */
            pthread_mutex_unlock(&slot->lock);
            return;
        }
        slot->json = grown;
        slot->cap = len + 1;
    }
    memcpy(slot->json, json, len);
    slot->json[len] = '\0';
    slot->len = len;
    slot->received_mono_ms = sr_clock_mono_ms();
    pthread_mutex_unlock(&slot->lock);
}

sr_err_t sr_kafka_stats_slot_parse(sr_kafka_stats_slot_t *slot, int64_t max_age_ms,
                                   sr_kafka_stats_t *out, char *errstr, size_t errstr_size) {
    /* Copy under the lock, parse outside it: the poll thread never waits
     * for a parse. */
    pthread_mutex_lock(&slot->lock);
    bool fresh = slot->received_mono_ms > 0 &&
                 sr_clock_mono_ms() - slot->received_mono_ms <= max_age_ms;
    char *copy = fresh ? malloc(slot->len + 1) : NULL;
    size_t len = slot->len;
    if (copy)
        memcpy(copy, slot->json, len + 1);
    pthread_mutex_unlock(&slot->lock);
    memset(out, 0, sizeof *out);
    if (!fresh)
        return sr_seterr(SR_ERR_EOF, errstr, errstr_size,
                         "no librdkafka statistics in the last %lld ms", (long long)max_age_ms);
    if (!copy)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "librdkafka statistics: out of memory");
    sr_err_t err = sr_kafka_stats_parse(copy, len, out, errstr, errstr_size);
    free(copy);
    return err;
}
