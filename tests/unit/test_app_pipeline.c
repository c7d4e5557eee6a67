/* The daemon's pipeline end to end, with real parts: librdkafka's mock
 * cluster over TCP and a redis-server on a free loopback port.
 *
 * Click events (and two malformed records) go into the input topic; the
 * pipeline runs until it has seen them all and is stopped like a signal
 * would stop it; then Redis, the output topics, the DLQ and the committed
 * offsets are checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/pipeline.h"
#include "streamrec/avro_codec.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/redis_spawn.h"

#define USERS 20
#define VIEWS_PER_USER 6
#define VALID (USERS * VIEWS_PER_USER)
#define MALFORMED 2
#define TIMEOUT_S 60

typedef struct fixture {
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis;
    sr_config_t cfg;
} fixture_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512];
    if (!(f->mock = sr_kafka_mock_new(1, errstr, sizeof errstr)) ||
        sr_kafka_mock_create_topic(f->mock, "clicks", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "reco.updates", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "churn.alerts", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "clicks.dlq", 1, errstr, sizeof errstr) ||
        !(f->redis = sr_redis_spawn_new(NULL, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    sr_config_init(&f->cfg);
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
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    sr_config_free(&f->cfg);
    sr_redis_spawn_destroy(f->redis);
    sr_kafka_mock_destroy(f->mock);
    free(f);
    return 0;
}

/* User u views six items in order, a second apart, starting at i(u % 5):
 * overlapping co-viewed chains the engine turns into neighbours, so every
 * user ends with recommendations of items they have not seen. */
static void produce_input(fixture_t *f, int first_user, int users, int views, bool malformed) {
    char errstr[512];
    sr_kafka_out_config_t ocfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock)};
    sr_kafka_out_t *out = sr_kafka_out_new(&ocfg, errstr, sizeof errstr);
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(out);
    assert_non_null(enc);
    uint8_t buf[1024];
    int64_t t0 = 1767225600000LL;
    for (int u = first_user; u < first_user + users; u++)
        for (int v = 0; v < views; v++) {
            char user[16], item[16], id[32];
            snprintf(user, sizeof user, "u%d", u);
            snprintf(item, sizeof item, "i%d", u % 5 + v);
            snprintf(id, sizeof id, "e%d-%d", u, v);
            sr_event_t ev = {.event_id = sr_str_c(id), .user_id = sr_str_c(user),
                             .item_id = sr_str_c(item), .type = SR_EVENT_VIEW,
                             .ts_ms = t0 + (int64_t)(u * VIEWS_PER_USER + v) * 1000};
            size_t len;
            assert_int_equal(sr_click_encode(enc, &ev, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf,
                                             &len, errstr, sizeof errstr), SR_OK);
            assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, user,
                                                  strlen(user), buf, len, NULL, NULL, errstr,
                                                  sizeof errstr), SR_OK);
        }
    if (!malformed)
        goto flush;
    /* a record without the Confluent magic byte, and a truncated one */
    const char garbage[] = "not avro at all";
    assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, "bad1", 4, garbage,
                                          sizeof garbage - 1, NULL, NULL, errstr, sizeof errstr),
                     SR_OK);
    const uint8_t truncated[] = {0, 0, 0, 0, 1, 0x0a, 'e'};
    assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, "bad2", 4,
                                          truncated, sizeof truncated, NULL, NULL, errstr,
                                          sizeof errstr), SR_OK);
flush:
    assert_int_equal(sr_kafka_out_flush(out, 10000, errstr, sizeof errstr), SR_OK);
    sr_click_encoder_destroy(enc);
    sr_kafka_out_destroy(out);
}

typedef struct runner {
    sr_pipeline_t *p;
    volatile sig_atomic_t stop;
    sr_err_t result;
    char errstr[512];
} runner_t;

static void *run_pipeline(void *arg) {
    runner_t *r = arg;
    r->result = sr_pipeline_run(r->p, &r->stop, r->errstr, sizeof r->errstr);
    return NULL;
}

/* Runs a pipeline until `done` says so (done NULL: for max_s), then stops
 * it as SIGTERM would. */
static void run_until(fixture_t *f, bool (*done)(const sr_pipeline_stats_t *), double max_s,
                      sr_pipeline_stats_t *final) {
    runner_t r = {0};
    char errstr[512];
    r.p = sr_pipeline_new(&f->cfg, errstr, sizeof errstr);
    if (!r.p)
        fail_msg("sr_pipeline_new: %s", errstr);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_pipeline, &r), 0);
    double start = now_s();
    for (;;) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        sr_pipeline_stats(r.p, final);
        double waited = now_s() - start;
        if ((done && done(final)) || waited > max_s)
            break;
    }
    r.stop = 1;
    pthread_join(t, NULL);
    sr_pipeline_stats(r.p, final);
    sr_pipeline_destroy(r.p);
    assert_int_equal(r.result, SR_OK);
}

static bool saw_everything(const sr_pipeline_stats_t *s) {
    return s->events_applied >= VALID && s->dead_letters >= MALFORMED;
}

static bool saw_three(const sr_pipeline_stats_t *s) { return s->records_in >= 3; }

static redisReply *redis_cmd(redisContext *c, const char *fmt, const char *arg) {
    redisReply *reply = redisCommand(c, fmt, arg);
    assert_non_null(reply);
    return reply;
}

static void check_redis(fixture_t *f) {
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    for (int u = 0; u < USERS; u++) {
        char key[32];
        snprintf(key, sizeof key, "reco:{u%d}", u);
        redisReply *reply = redis_cmd(c, "GET %s", key);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        /* json format: the user's id and at least one item */
        char want[32];
        snprintf(want, sizeof want, "\"user_id\":\"u%d\"", u);
        assert_non_null(strstr(reply->str, want));
        assert_non_null(strstr(reply->str, "\"item_id\":\"i"));
        freeReplyObject(reply);
        reply = redis_cmd(c, "TTL %s", key);
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        assert_true(reply->integer > 0);
        freeReplyObject(reply);
    }
    /* i0 is followed by i1 in the history of u0, u5, u10, u15: neighbours */
    redisReply *reply = redis_cmd(c, "ZSCORE %s i1", "sim:{i0}");
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_true(atof(reply->str) > 0);
    freeReplyObject(reply);
    redisFree(c);
}

typedef struct seen {
    int recos_per_user[USERS];
    int dead_letters;
    bool bad_magic, truncated;
} seen_t;

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void check_outputs(fixture_t *f) {
    char errstr[512];
    char *topics[] = {"reco.updates", "clicks.dlq"};
    sr_kafka_in_config_t icfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock),
                                 .group_id = "test-reader", .topics = topics, .n_topics = 2};
    sr_kafka_in_t *in = sr_kafka_in_new(&icfg, errstr, sizeof errstr);
    assert_non_null(in);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    seen_t seen = {0};
    int users_seen = 0;
    rd_kafka_message_t *msgs[256];
    for (double start = now_s(); now_s() - start < 20 && (users_seen < USERS || seen.dead_letters < MALFORMED);) {
        size_t n = sr_kafka_in_poll(in, msgs, 256, 100);
        for (size_t k = 0; k < n; k++) {
            rd_kafka_message_t *m = msgs[k];
            if (!m->err && strcmp(rd_kafka_topic_name(m->rkt), "reco.updates") == 0) {
                sr_reco_record_t rec;
                sr_scored_id_t items[100];
                assert_int_equal(sr_decode_reco(dec, m->payload, m->len, &rec, items, 100, NULL,
                                                errstr, sizeof errstr), SR_OK);
                int u = atoi(rec.user_id + 1);
                assert_true(u >= 0 && u < USERS);
                assert_true(m->key_len == strlen(rec.user_id) &&
                            memcmp(m->key, rec.user_id, m->key_len) == 0);
                if (seen.recos_per_user[u]++ == 0)
                    users_seen++;
            } else if (!m->err) {
                char buf[128];
                seen.dead_letters++;
                const char *why = header(m, SR_DLQ_HEADER_ERROR, buf, sizeof buf);
                assert_non_null(why);
                if (m->len == strlen("not avro at all")) {
                    assert_string_equal(why, "bad_magic");
                    assert_memory_equal(m->payload, "not avro at all", m->len);
                    seen.bad_magic = true;
                } else {
                    assert_string_equal(why, "truncated");
                    assert_int_equal(m->len, 7);
                    seen.truncated = true;
                }
                assert_string_equal(header(m, SR_DLQ_HEADER_SOURCE_TOPIC, buf, sizeof buf), "clicks");
                assert_non_null(header(m, SR_DLQ_HEADER_SOURCE_OFFSET, buf, sizeof buf));
            }
            rd_kafka_message_destroy(m);
        }
    }
    assert_int_equal(users_seen, USERS);
    assert_int_equal(seen.dead_letters, MALFORMED);
    assert_true(seen.bad_magic && seen.truncated);
    sr_output_decoder_destroy(dec);
    sr_kafka_in_close(in, NULL, 0);
    sr_kafka_in_destroy(in);
}

/* Events in -> Redis keys, reco.updates records and dead letters out; after
 * a graceful stop a second run of the same group starts after everything
 * the first one processed (and only after it). */
static void test_pipeline_events_to_redis_kafka_and_dlq_then_commit(void **state) {
    fixture_t *f = *state;
    produce_input(f, 0, USERS, VIEWS_PER_USER, true);
    sr_pipeline_stats_t st;
    run_until(f, saw_everything, TIMEOUT_S, &st);
    assert_int_equal(st.events_applied, VALID);
    assert_int_equal(st.dead_letters, MALFORMED);
    assert_int_equal(st.users, USERS);
    assert_true(st.recos_written >= USERS);
    check_redis(f);
    check_outputs(f);

    /* The offsets were committed on the way out: after three more events,
     * a new run of the group reads exactly those three, none of the old. */
    produce_input(f, 100, 1, 3, false);
    sr_pipeline_stats_t again;
    run_until(f, saw_three, TIMEOUT_S, &again);
    assert_int_equal(again.records_in, 3);
    assert_int_equal(again.events_applied, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_events_to_redis_kafka_and_dlq_then_commit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
