#include "streamrec/kafka_common.h"

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
