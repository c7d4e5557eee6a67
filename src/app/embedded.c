#include "embedded.h"

#include <stdlib.h>
#include <string.h>

#include "streamrec/kafka_mock.h"
#include "streamrec/redis_sink.h"
#include "streamrec/redis_spawn.h"

/* How long the configured Redis gets to answer before we start our own:
 * a local server answers in well under a millisecond, and a user waiting
 * for the demo should not notice the probe. */
#define REDIS_PROBE_TIMEOUT_MS 300

struct sr_embedded {
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis; /* NULL when redis.url answered */
    char input_topic[256];
};

static sr_err_t start_kafka(sr_embedded_t *e, sr_config_t *cfg, const char *source,
                            int partitions, char *errstr, size_t errstr_size) {
    char why[512], dlq[256], changelog[300];
    size_t len = strcspn(cfg->io.input_topics, ",");
    if (len == 0 || len >= sizeof e->input_topic)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "embedded Kafka: input.topics '%s': no usable first topic",
                         cfg->io.input_topics);
    memcpy(e->input_topic, cfg->io.input_topics, len);
    e->input_topic[len] = '\0';
    if (!sr_config_dlq_topic(cfg, dlq, sizeof dlq))
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "embedded Kafka: the DLQ topic name is too long");
    if (!sr_config_changelog_topic(cfg, changelog, sizeof changelog))
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "embedded Kafka: the changelog topic name is too long");
    sr_err_t err = SR_ERR_IO;
    if (!(e->mock = sr_kafka_mock_new(1, why, sizeof why)) ||
        (err = sr_kafka_mock_create_topic(e->mock, e->input_topic, partitions, why,
                                          sizeof why)) ||
        (err = sr_kafka_mock_create_topic(e->mock, cfg->io.output_reco_topic, partitions,
                                          why, sizeof why)) ||
        (err = sr_kafka_mock_create_topic(e->mock, cfg->io.output_churn_topic, 1, why,
                                          sizeof why)) ||
        (err = sr_kafka_mock_create_topic(e->mock, dlq, 1, why, sizeof why)) ||
        (err = sr_kafka_mock_create_topic(e->mock, changelog, partitions, why,
                                          sizeof why)))
        return sr_seterr(err, errstr, errstr_size, "embedded Kafka: %s",
                         why);
    return sr_config_set(cfg, "kafka.bootstrap.servers", sr_kafka_mock_bootstrap(e->mock), source,
                         errstr, errstr_size);
}

/* The configured Redis if it answers, else our own on a free port. */
static sr_err_t find_redis(sr_embedded_t *e, sr_config_t *cfg, const char *source, FILE *log,
                           char *errstr, size_t errstr_size) {
    char host[256];
    int port, db;
    sr_err_t err = sr_redis_parse_url(cfg->io.redis_url, host, sizeof host, &port, &db, errstr,
                                      errstr_size);
    if (err)
        return err;
    if (sr_redis_ping(host, port, REDIS_PROBE_TIMEOUT_MS, NULL, 0) != SR_OK) {
        if (!(e->redis = sr_redis_spawn_new(NULL, errstr, errstr_size)))
            return SR_ERR_IO;
        if (log)
            fprintf(log, "streamrec: %s did not answer; started redis-server\n",
                    cfg->io.redis_url);
        if ((err = sr_config_set(cfg, "redis.url", sr_redis_spawn_url(e->redis), source, errstr,
                                 errstr_size)))
            return err;
    }
    return SR_OK;
}

sr_embedded_t *sr_embedded_new(sr_config_t *cfg, const char *source, FILE *log, char *errstr,
                               size_t errstr_size) {
    return sr_embedded_new_partitioned(cfg, source, log, SR_EMBEDDED_INPUT_PARTITIONS, errstr,
                                       errstr_size);
}

sr_embedded_t *sr_embedded_new_partitioned(sr_config_t *cfg, const char *source, FILE *log,
                                           int input_partitions, char *errstr,
                                           size_t errstr_size) {
    sr_embedded_t *e = calloc(1, sizeof *e);
    if (!e) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "embedded: out of memory");
        return NULL;
    }
    if (start_kafka(e, cfg, source, input_partitions, errstr, errstr_size) != SR_OK)
        goto fail;
    if (log)
        fprintf(log, "streamrec: embedded Kafka at %s\n", sr_kafka_mock_bootstrap(e->mock));
    if (find_redis(e, cfg, source, log, errstr, errstr_size) != SR_OK)
        goto fail;
    if (log) {
        fprintf(log, "streamrec: Redis at %s\n", cfg->io.redis_url);
        fflush(log);
    }
    return e;
fail:
    sr_embedded_destroy(e);
    return NULL;
}

void sr_embedded_destroy(sr_embedded_t *e) {
    if (!e)
        return;
    sr_redis_spawn_destroy(e->redis);
    sr_kafka_mock_destroy(e->mock);
    free(e);
}

const char *sr_embedded_bootstrap(const sr_embedded_t *e) {
    return sr_kafka_mock_bootstrap(e->mock);
}

const char *sr_embedded_input_topic(const sr_embedded_t *e) { return e->input_topic; }
