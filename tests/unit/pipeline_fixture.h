/* Test fixture for the daemon's pipeline: librdkafka's mock cluster (over
 * TCP) with the topics the pipeline reads and writes, a redis-server on a
 * free loopback port, and a config pointing at both; the pipeline runs on a
 * thread of its own and is stopped as SIGTERM would stop it.
 *
 * pipeline_fixture_setup()/_teardown() are cmocka setup/teardown functions:
 * the teardown stops Redis and the cluster also when an assertion failed.
 * Stop every pipeline (stop_pipeline) before an assertion can fail, so none
 * is left running against a torn-down cluster. */
#ifndef STREAMREC_TEST_PIPELINE_FIXTURE_H
#define STREAMREC_TEST_PIPELINE_FIXTURE_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "app/pipeline.h"
#include "streamrec/checkpoint.h"
#include "streamrec/engine.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/redis_spawn.h"

#define PIPELINE_FIXTURE_CHANGELOG "streamrec-user-state"

typedef struct fixture {
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis;
    sr_config_t cfg;
} fixture_t;

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sets one config key for a test; a refused key or value fails the test
 * with the parser's message. */
static inline void set_config(sr_config_t *cfg, const char *key, const char *value) {
    char errstr[512];
    if (sr_config_set(cfg, key, value, "test", errstr, sizeof errstr) != SR_OK)
        fail_msg("%s", errstr);
}

/* A cluster of `brokers` brokers (ids 1..brokers). */
static inline int pipeline_fixture_setup_brokers(void **state, int brokers) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512];
    if (!f)
        return -1;
    *state = f; /* the teardown frees what was made, also after a failure here */
    sr_config_init(&f->cfg);
    if (!(f->mock = sr_kafka_mock_new(brokers, errstr, sizeof errstr)) ||
        sr_kafka_mock_create_topic(f->mock, "clicks", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "reco.updates", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "churn.alerts", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "clicks.dlq", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, PIPELINE_FIXTURE_CHANGELOG, 2, errstr,
                                   sizeof errstr) ||
        !(f->redis = sr_redis_spawn_new(NULL, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    if (sr_config_set(&f->cfg, "kafka.bootstrap.servers", sr_kafka_mock_bootstrap(f->mock), "test",
                      errstr, sizeof errstr) ||
        sr_config_set(&f->cfg, "input.topics", "clicks", "test", errstr, sizeof errstr) ||
        sr_config_set(&f->cfg, "redis.url", sr_redis_spawn_url(f->redis), "test", errstr,
                      sizeof errstr) ||
        sr_config_set(&f->cfg, "batch.max.ms", "10", "test", errstr, sizeof errstr) ||
        /* the mock coordinator waits out a departed member's session before
         * it rebalances the next run of the group: keep that short */
        sr_config_set(&f->cfg, "kafka.consumer.session.timeout.ms", "6000", "test", errstr,
                      sizeof errstr) ||
        sr_config_set(&f->cfg, "kafka.consumer.heartbeat.interval.ms", "500", "test", errstr,
                      sizeof errstr)) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    return 0;
}

static inline int pipeline_fixture_setup(void **state) {
    return pipeline_fixture_setup_brokers(state, 1);
}

static inline int pipeline_fixture_teardown(void **state) {
    fixture_t *f = *state;
    if (!f)
        return 0;
    sr_config_free(&f->cfg);
    sr_redis_spawn_destroy(f->redis);
    sr_kafka_mock_destroy(f->mock);
    free(f);
    return 0;
}

typedef struct runner {
    sr_pipeline_t *p;
    pthread_t thread;
    volatile sig_atomic_t stop;
    sr_err_t result;
    char errstr[512];
} runner_t;

static inline void *pipeline_fixture_run(void *arg) {
    runner_t *r = arg;
    r->result = sr_pipeline_run(r->p, &r->stop, r->errstr, sizeof r->errstr);
    return NULL;
}

static inline void start_pipeline(fixture_t *f, runner_t *r) {
    char errstr[512];
    memset(r, 0, sizeof *r);
    if (!(r->p = sr_pipeline_new(&f->cfg, errstr, sizeof errstr)))
        fail_msg("sr_pipeline_new: %s", errstr);
    assert_int_equal(pthread_create(&r->thread, NULL, pipeline_fixture_run, r), 0);
}

/* Stops a pipeline as SIGTERM would, returns its final counters and what
 * sr_pipeline_run() returned (its message in r->errstr). */
static inline sr_err_t stop_pipeline_result(runner_t *r, sr_pipeline_stats_t *final) {
    r->stop = 1;
    pthread_join(r->thread, NULL);
    sr_pipeline_stats(r->p, final);
    sr_pipeline_destroy(r->p);
    r->p = NULL;
    return r->result;
}

/* The same, failing the test if the pipeline stopped on an error. */
static inline void stop_pipeline(runner_t *r, sr_pipeline_stats_t *final) {
    if (stop_pipeline_result(r, final) != SR_OK)
        fail_msg("sr_pipeline_run: %s", r->errstr);
}

/* The group's committed offsets of clicks [0,1], summed; -1 if any is unset. */
static inline int64_t committed_sum(fixture_t *f) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", sr_kafka_mock_bootstrap(f->mock), errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", f->cfg.io.input_group_id, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
        fail_msg("%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "clicks", 0);
    rd_kafka_topic_partition_list_add(parts, "clicks", 1);
    assert_int_equal(rd_kafka_committed(rk, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t sum = 0;
    for (int k = 0; k < parts->cnt; k++)
        sum = sum < 0 || parts->elems[k].offset < 0 ? -1 : sum + parts->elems[k].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return sum;
}

/* Waits (up to a minute) until the group's committed offsets sum to want;
 * returns the last sum seen. */
static inline int64_t wait_for_commit(fixture_t *f, int64_t want) {
    int64_t sum = -1;
    for (double start = now_s(); now_s() - start < 60; sleep_ms(200))
        if ((sum = committed_sum(f)) == want)
            break;
    return sum;
}

/* The newest valid checkpoint in dir, loaded; NULL (errstr says why, if
 * anything failed) if there is none. */
static inline sr_checkpoint_t *load_newest_checkpoint(const char *dir, char *errstr,
                                                      size_t errstr_size) {
    sr_checkpoint_config_t ccfg;
    sr_checkpoint_config_defaults(&ccfg);
    ccfg.dir = dir;
    sr_checkpoint_t *c = NULL;
    errstr[0] = '\0';
    if (sr_checkpoint_load_latest(&ccfg, NULL, NULL, NULL, &c, errstr, errstr_size) != SR_OK)
        return NULL;
    return c;
}

/* Sums the next offsets of the newest checkpoint in dir; *n_out: how many
 * positions it holds, *events: how many events its state has applied. */
static inline int64_t newest_checkpoint_positions(const char *dir, size_t *n_out,
                                                  uint64_t *events) {
    char errstr[512];
    sr_checkpoint_t *c = load_newest_checkpoint(dir, errstr, sizeof errstr);
    if (!c)
        fail_msg("no checkpoint in %s: %s", dir, errstr);
    const sr_checkpoint_info_t *info = sr_checkpoint_info(c);
    int64_t sum = 0;
    for (size_t k = 0; k < info->n_positions; k++) sum += info->positions[k].next_offset;
    *n_out = info->n_positions;
    sr_engine_stats_t st;
    sr_engine_stats(sr_checkpoint_engine(c), &st);
    *events = st.events;
    sr_checkpoint_destroy(c);
    return sum;
}

#endif
