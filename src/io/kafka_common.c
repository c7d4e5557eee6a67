#include "streamrec/kafka_common.h"

#include <stdbool.h>
#include <stdio.h>

sr_err_t sr_kafka_conf_set(rd_kafka_conf_t *conf, const char *client, const char *key,
                           const char *value, char *errstr, size_t errstr_size) {
    char rd_errstr[512];
    if (!key || !value)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "kafka %s: property with a NULL key or value", client);
    if (rd_kafka_conf_set(conf, key, value, rd_errstr, sizeof rd_errstr) != RD_KAFKA_CONF_OK)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka %s: %s=%s: %s", client, key,
                         value, rd_errstr);
    return SR_OK;
}

static bool set_all(rd_kafka_conf_t *conf, const char *client, const sr_kafka_kv_t *kv, size_t n,
                    char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < n; i++)
        if (sr_kafka_conf_set(conf, client, kv[i].key, kv[i].value, errstr, errstr_size) != SR_OK)
            return false;
    return true;
}

rd_kafka_conf_t *sr_kafka_conf_build(const char *client, const sr_kafka_kv_t *fixed,
                                     size_t n_fixed, const sr_kafka_kv_t *defaults,
                                     size_t n_defaults, int stats_interval_ms,
                                     const sr_kafka_kv_t *props, size_t n_props, char *errstr,
                                     size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char interval[16];
    snprintf(interval, sizeof interval, "%d", stats_interval_ms);
    sr_kafka_kv_t stats = {"statistics.interval.ms", interval};
    if (!set_all(conf, client, fixed, n_fixed, errstr, errstr_size) ||
        !set_all(conf, client, defaults, n_defaults, errstr, errstr_size) ||
        !set_all(conf, client, &stats, stats_interval_ms > 0, errstr, errstr_size) ||
        !set_all(conf, client, props, n_props, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}
