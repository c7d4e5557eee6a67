#include "streamrec/kafka_mock.h"

#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Real clusters cap the replication factor at the broker count; three is
 * the usual production value and lets fault tests take one broker down. */
#define MAX_REPLICATION 3
#define MAX_BROKERS 16
#define MAX_PARTITIONS 10000

struct sr_kafka_mock {
    rd_kafka_t *rk; /* only for the mock's bookkeeping; never connects */
    rd_kafka_mock_cluster_t *cluster;
    char *bootstrap;
    int brokers;
};

sr_kafka_mock_t *sr_kafka_mock_new(int brokers, char *errstr, size_t errstr_size) {
    sr_kafka_mock_t *m = NULL;
    rd_kafka_conf_t *conf = NULL;
    char rd_errstr[512];

    if (brokers < 1 || brokers > MAX_BROKERS) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "kafka mock: broker count %d outside 1..%d", brokers, MAX_BROKERS);
        return NULL;
    }
    if (!(m = calloc(1, sizeof *m))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "kafka mock: out of memory");
        return NULL;
    }
    m->brokers = brokers;

    conf = rd_kafka_conf_new();
    /* The handle has no bootstrap.servers on purpose (it talks to nobody);
     * without this, librdkafka warns about that at every start, which reads
     * like a fault to a newcomer running the demo. Real mock-broker errors
     * are still logged. */
    if (rd_kafka_conf_set(conf, "log_level", "3", rd_errstr, sizeof rd_errstr) !=
        RD_KAFKA_CONF_OK) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka mock: %s", rd_errstr);
        goto fail;
    }
    if (!(m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rd_errstr, sizeof rd_errstr))) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka mock: rd_kafka_new: %s", rd_errstr);
        goto fail;
    }
    conf = NULL; /* owned by m->rk now */

    if (!(m->cluster = rd_kafka_mock_cluster_new(m->rk, brokers))) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size,
                  "kafka mock: could not start the mock cluster (no free loopback port?)");
        goto fail;
    }
    if (!(m->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(m->cluster)))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "kafka mock: out of memory");
        goto fail;
    }
    return m;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sr_kafka_mock_destroy(m);
    return NULL;
}

void sr_kafka_mock_destroy(sr_kafka_mock_t *m) {
    if (!m)
        return;
    /* The cluster refers to the handle, so it goes first. */
    if (m->cluster)
        rd_kafka_mock_cluster_destroy(m->cluster);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    free(m->bootstrap);
    free(m);
}

const char *sr_kafka_mock_bootstrap(const sr_kafka_mock_t *m) {
    return m->bootstrap;
}

int sr_kafka_mock_broker_count(const sr_kafka_mock_t *m) {
    return m->brokers;
}

sr_err_t sr_kafka_mock_create_topic(sr_kafka_mock_t *m, const char *topic, int partitions,
                                    char *errstr, size_t errstr_size) {
    /* Kafka's own rule for topic names: 1..249 of [a-zA-Z0-9._-]. Checked
     * here because the mock accepts anything, and a name a real broker would
     * refuse should fail in the tests too. */
    size_t len = topic ? strlen(topic) : 0;
    if (len == 0 || len > 249 || strspn(topic, "abcdefghijklmnopqrstuvwxyz"
                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789._-") != len)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "kafka mock: invalid topic name '%s'", topic ? topic : "(null)");
    if (partitions < 1 || partitions > MAX_PARTITIONS)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "kafka mock: topic '%s': partition count %d outside 1..%d", topic,
                         partitions, MAX_PARTITIONS);

    int replication = m->brokers < MAX_REPLICATION ? m->brokers : MAX_REPLICATION;
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(m->cluster, topic, partitions, replication);
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka mock: create topic '%s': %s", topic,
                         rd_kafka_err2str(err));
    return SR_OK;
}

static sr_err_t set_broker_state(sr_kafka_mock_t *m, int32_t broker_id, int up) {
    /* rdkafka_mock takes -1 as "every broker"; ours is for one broker, so a
     * stray -1 or 0 is an error rather than a cluster-wide outage. */
    if (broker_id < 1 || broker_id > m->brokers)
        return SR_ERR_INVALID;
    rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(m->cluster, broker_id)
                                 : rd_kafka_mock_broker_set_down(m->cluster, broker_id);
    return err ? SR_ERR_IO : SR_OK;
}

sr_err_t sr_kafka_mock_broker_down(sr_kafka_mock_t *m, int32_t broker_id) {
    return set_broker_state(m, broker_id, 0);
}

sr_err_t sr_kafka_mock_broker_up(sr_kafka_mock_t *m, int32_t broker_id) {
    return set_broker_state(m, broker_id, 1);
}

rd_kafka_mock_cluster_t *sr_kafka_mock_cluster(const sr_kafka_mock_t *m) {
    return m->cluster;
}
