/* The daemon's HTTP endpoint over a running pipeline: librdkafka's mock
 * cluster over TCP, a redis-server on a free loopback port, and plain HTTP
 * GETs on a free loopback port (http.listen=127.0.0.1:0).
 *
 * /readyz goes from 503 to 200 once the partitions are assigned; click
 * events and two malformed records go in; /metrics must count exactly them
 * (events by type, DLQ by reason, freshness histogram, lag), and
 * /status.json the same numbers; / is the status page and /reco?user= reads
 * a user's list back from Redis; /healthz is 200 while the loop turns and
 * 503 once it stopped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/endpoint.h"
#include "app/pipeline.h"
#include "http_get.h"
#include "streamrec/avro_codec.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/redis_spawn.h"

#define USERS 20
#define VIEWS_PER_USER 6
#define PURCHASES 3
#define VALID (USERS * VIEWS_PER_USER + PURCHASES)
#define T0_MS 1767225600000LL /* the first event's time */
#define MALFORMED 2
#define STALL_MS 1000

typedef struct fixture {
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis;
    sr_config_t cfg;
} fixture_t;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512];
    if (!(f->mock = sr_kafka_mock_new(1, errstr, sizeof errstr)) ||
        sr_kafka_mock_create_topic(f->mock, "clicks", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "reco.updates", 2, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "churn.alerts", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "clicks.dlq", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "streamrec-user-state", 2, errstr, sizeof errstr) ||
        !(f->redis = sr_redis_spawn_new(NULL, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    sr_config_init(&f->cfg);
    const char *settings[][2] = {
        {"kafka.bootstrap.servers", sr_kafka_mock_bootstrap(f->mock)},
        {"input.topics", "clicks"},
        {"redis.url", sr_redis_spawn_url(f->redis)},
        {"batch.max.ms", "10"},
        {"http.listen", "127.0.0.1:0"},
        {"http.healthz.stall.ms", "1000"},
        {"metrics.recall.sample", "1"},
        {"log.level", "warn"},
        {"kafka.consumer.session.timeout.ms", "6000"},
        {"kafka.consumer.heartbeat.interval.ms", "500"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (sr_config_set(&f->cfg, settings[i][0], settings[i][1], "test", errstr,
                          sizeof errstr) != SR_OK) {
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

static void produce_input(fixture_t *f) {
    char errstr[512];
    sr_kafka_out_config_t ocfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock)};
    sr_kafka_out_t *out = sr_kafka_out_new(&ocfg, errstr, sizeof errstr);
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(out);
    assert_non_null(enc);
    uint8_t buf[1024];
    for (int n = 0; n < VALID; n++) {
        bool purchase = n >= USERS * VIEWS_PER_USER;
        int u = purchase ? n - USERS * VIEWS_PER_USER : n % USERS;
        int v = n / USERS;
        char user[16], item[16], id[32];
        snprintf(user, sizeof user, "u%d", u);
        snprintf(item, sizeof item, "i%d", u % 5 + v);
        snprintf(id, sizeof id, "e%d", n);
        sr_event_t ev = {.event_id = sr_str_c(id), .user_id = sr_str_c(user),
                         .item_id = sr_str_c(item),
                         .type = purchase ? SR_EVENT_PURCHASE : SR_EVENT_VIEW,
                         .ts_ms = T0_MS + (int64_t)n * 1000};
        size_t len;
        assert_int_equal(sr_click_encode(enc, &ev, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len,
                                         errstr, sizeof errstr), SR_OK);
        assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, user,
                                              strlen(user), buf, len, NULL, NULL, errstr,
                                              sizeof errstr), SR_OK);
    }
    const char garbage[] = "not avro at all"; /* no Confluent magic byte */
    assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, "bad1", 4, garbage,
                                          sizeof garbage - 1, NULL, NULL, errstr, sizeof errstr),
                     SR_OK);
    const uint8_t truncated[] = {0, 0, 0, 0, 1, 0x0a, 'e'};
    assert_int_equal(sr_kafka_out_produce(out, "clicks", RD_KAFKA_PARTITION_UA, "bad2", 4,
                                          truncated, sizeof truncated, NULL, NULL, errstr,
                                          sizeof errstr), SR_OK);
    assert_int_equal(sr_kafka_out_flush(out, 10000, errstr, sizeof errstr), SR_OK);
    sr_click_encoder_destroy(enc);
    sr_kafka_out_destroy(out);
}

typedef struct runner {
    sr_pipeline_t *p;
    pthread_t thread;
    volatile sig_atomic_t stop;
    sr_err_t result;
    char errstr[512];
} runner_t;

static void *run_pipeline(void *arg) {
    runner_t *r = arg;
    r->result = sr_pipeline_run(r->p, &r->stop, r->errstr, sizeof r->errstr);
    return NULL;
}

/* The value of the sample whose series is exactly `series`, or -1. */
static double sample(const char *page, const char *series) {
    size_t len = strlen(series);
    for (const char *line = page; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
    return -1;
}

/* Every bucket of a histogram is at most the next one; +Inf equals _count. */
static void check_histogram(const char *page, const char *name, double count) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s_bucket{le=\"", name);
    double previous = 0;
    int buckets = 0;
    for (const char *line = strstr(page, prefix); line; line = strstr(line + 1, prefix)) {
        const char *value = strchr(line, ' ');
        double v = strtod(value + 1, NULL);
        assert_true(v >= previous);
        previous = v;
        buckets++;
    }
    assert_true(buckets > 2);
    char series[128];
    snprintf(series, sizeof series, "%s_bucket{le=\"+Inf\"}", name);
    assert_true(sample(page, series) == count);
    snprintf(series, sizeof series, "%s_count", name);
    assert_true(sample(page, series) == count);
    snprintf(series, sizeof series, "%s_sum", name);
    assert_true(sample(page, series) >= 0);
}

static json_t *get_json(int port, const char *path, int expected_status) {
    http_result_t res = http_get(port, path);
    assert_int_equal(res.status, expected_status);
    assert_non_null(strstr(res.head, "Content-Type: application/json"));
    json_error_t err;
    json_t *doc = json_loads(res.body, 0, &err);
    if (!doc)
        fail_msg("%s is not JSON (%s): %s", path, err.text, res.body);
    http_result_free(&res);
    return doc;
}

static json_int_t json_int_at(json_t *doc, const char *key) {
    json_t *v = json_object_get(doc, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* The status page's data agrees with /metrics' (input finished: stable). */
static void check_status(int port, const char *metrics) {
    json_t *doc = get_json(port, "/status.json", 200);
    assert_int_equal(json_int_at(doc, "events_total"), VALID);
    assert_int_equal(json_int_at(doc, "records_in"),
                     sample(metrics, "streamrec_input_records_total"));
    assert_int_equal(json_int_at(doc, "dead_letters"), MALFORMED);
    assert_int_equal(json_int_at(doc, "users"), USERS);
    assert_int_equal(json_int_at(doc, "items"), sample(metrics, "streamrec_items"));
    assert_int_equal(json_int_at(doc, "recommendations_total"),
                     sample(metrics, "streamrec_recommendations_total"));
    json_t *fresh = json_object_get(doc, "freshness");
    assert_int_equal(json_int_at(fresh, "count"), VALID + MALFORMED);
    double p50 = json_real_value(json_object_get(fresh, "p50_ms"));
    assert_true(p50 > 0 && p50 <= json_real_value(json_object_get(fresh, "p999_ms")));
    json_t *lag = json_object_get(doc, "lag");
    assert_int_equal(json_int_at(lag, "partitions"), 2);
    assert_true(json_real_value(json_object_get(lag, "seconds")) == 0);
    /* i0..i4 are viewed by four users each, later items by fewer */
    json_t *top = json_object_get(doc, "trending");
    assert_true(json_array_size(top) > 0);
    const char *best = json_string_value(json_object_get(json_array_get(top, 0), "item"));
    assert_non_null(best);
    assert_true(strcmp(best, "i0") >= 0 && strlen(best) == 2);
    json_decref(doc);

    http_result_t res = http_get(port, "/");
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.head, "Content-Type: text/html; charset=utf-8"));
    assert_non_null(strstr(res.body, "<title>streamrec status</title>"));
    assert_non_null(strstr(res.body, "fetch(\"status.json\""));
    http_result_free(&res);

    doc = get_json(port, "/reco?user=u1", 200);
    assert_true(json_is_true(json_object_get(doc, "found")));
    assert_true(json_array_size(json_object_get(doc, "items")) > 0);
    json_decref(doc);
    doc = get_json(port, "/reco?user=%3Cnobody%3E", 200); /* unknown: a list, not an error */
    assert_false(json_is_true(json_object_get(doc, "found")));
    assert_string_equal(json_string_value(json_object_get(doc, "user")), "<nobody>");
    assert_int_equal(json_array_size(json_object_get(doc, "items")), 0);
    json_decref(doc);
    res = http_get(port, "/reco");
    assert_int_equal(res.status, 400);
    http_result_free(&res);
}

static void test_endpoint_readyz_healthz_and_metrics_over_a_running_pipeline(void **state) {
    fixture_t *f = *state;
    char errstr[512];
    runner_t r;
    memset(&r, 0, sizeof r);
    if (!(r.p = sr_pipeline_new(&f->cfg, errstr, sizeof errstr)))
        fail_msg("sr_pipeline_new: %s", errstr);
    sr_endpoint_t *ep = sr_endpoint_new(&f->cfg, r.p, errstr, sizeof errstr);
    if (!ep)
        fail_msg("sr_endpoint_new: %s", errstr);
    int port = sr_endpoint_port(ep);

    /* set up, not running yet: alive, not ready, and says why */
    http_result_t res = http_get(port, "/healthz");
    assert_int_equal(res.status, 200);
    http_result_free(&res);
    res = http_get(port, "/readyz");
    assert_int_equal(res.status, 503);
    assert_non_null(strstr(res.body, "no input partitions assigned"));
    assert_non_null(strchr(res.body, '\n'));
    assert_ptr_equal(strchr(res.body, '\n'), res.body + strlen(res.body) - 1); /* one line */
    http_result_free(&res);

    assert_int_equal(pthread_create(&r.thread, NULL, run_pipeline, &r), 0);
    int ready = 0, not_ready = 0;
    for (int i = 0; i < 300 && !ready; i++) { /* 30 s: the group join takes ~3 s */
        res = http_get(port, "/readyz");
        assert_true(res.status == 200 || res.status == 503);
        ready = res.status == 200;
        not_ready += res.status == 503;
        http_result_free(&res);
        if (!ready)
            sleep_ms(100);
    }
    assert_true(ready);
    assert_true(not_ready > 0);

    produce_input(f);
    sr_pipeline_stats_t st;
    for (int i = 0; i < 600; i++) { /* 30 s */
        sr_pipeline_stats(r.p, &st);
        if (st.events_applied >= VALID && st.dead_letters >= MALFORMED)
            break;
        sleep_ms(50);
    }
    assert_int_equal(st.events_applied, VALID);
    assert_int_equal(st.dead_letters, MALFORMED);
    sleep_ms(1500); /* one more statistics interval, for the offset lag */

    res = http_get(port, "/metrics");
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.head, "text/plain; version=0.0.4"));
    const char *page = res.body;
    assert_true(sample(page, "streamrec_events_total{type=\"view\"}") == USERS * VIEWS_PER_USER);
    assert_true(sample(page, "streamrec_events_total{type=\"purchase\"}") == PURCHASES);
    assert_true(sample(page, "streamrec_events_total{type=\"add_to_cart\"}") == 0);
    assert_true(sample(page, "streamrec_dlq_records_total{reason=\"bad_magic\"}") == 1);
    assert_true(sample(page, "streamrec_dlq_records_total{reason=\"truncated\"}") == 1);
    assert_true(sample(page, "streamrec_input_records_total") == VALID + MALFORMED);
    /* every input record was acknowledged, so each has its freshness */
    check_histogram(page, "streamrec_freshness_seconds", VALID + MALFORMED);
    check_histogram(page, "streamrec_redis_write_seconds",
                    sample(page, "streamrec_redis_write_seconds_count"));
    assert_true(sample(page, "streamrec_batch_records_sum") == VALID + MALFORMED);
    assert_true(sample(page, "streamrec_kafka_delivery_seconds_count") >= MALFORMED + USERS);
    assert_true(sample(page, "streamrec_recommendations_total") >= USERS);
    assert_true(sample(page, "streamrec_assigned_partitions") == 2);
    assert_true(sample(page, "streamrec_rebalances_total{kind=\"assign\"}") >= 1);
    assert_true(sample(page, "streamrec_users") == USERS);
    /* the watermark: the slower partition's newest event (the input is one
     * event a second from T0_MS) minus time.lateness.ms (5 s) */
    double watermark_s = sample(page, "streamrec_watermark_seconds");
    assert_true(watermark_s >= (T0_MS - 5000) / 1000.0);
    assert_true(watermark_s <= (T0_MS + (VALID - 1) * 1000LL - 5000) / 1000.0);
    assert_true(sample(page, "streamrec_ready") == 1);
    /* caught up: nothing waits after the last acknowledged record */
    for (int partition = 0; partition < 2; partition++) {
        char series[128];
        snprintf(series, sizeof series,
                 "streamrec_consumer_lag_seconds{topic=\"clicks\",partition=\"%d\"}", partition);
        assert_true(sample(page, series) == 0);
        snprintf(series, sizeof series,
                 "streamrec_consumer_lag_stored_offsets{topic=\"clicks\",partition=\"%d\"}",
                 partition);
        assert_true(sample(page, series) == 0);
    }
    assert_non_null(strstr(page, "streamrec_build_info{version=\""));
    assert_non_null(strstr(page, "\nstreamrec_model_recall_checks_total{k=\"20\",events=\"all\"} "));
    assert_non_null(strstr(page, "\nstreamrec_model_churn_auc "));
    /* no user or item ids in any label */
    assert_null(strstr(page, "\"u1\""));
    assert_null(strstr(page, "\"i1\""));
    check_status(port, page);
    http_result_free(&res);

    res = http_get(port, "/healthz");
    assert_int_equal(res.status, 200);
    http_result_free(&res);

    /* stopped: the loop no longer turns, and /healthz notices */
    r.stop = 1;
    pthread_join(r.thread, NULL);
    if (r.result != SR_OK)
        fail_msg("sr_pipeline_run: %s", r.errstr);
    sleep_ms(STALL_MS + 300);
    res = http_get(port, "/healthz");
    assert_int_equal(res.status, 503);
    assert_non_null(strstr(res.body, "has not turned"));
    http_result_free(&res);

    sr_endpoint_destroy(ep);
    sr_pipeline_destroy(r.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_endpoint_readyz_healthz_and_metrics_over_a_running_pipeline, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
