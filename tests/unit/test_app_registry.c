/* The daemon's pipeline with a schema registry: librdkafka's mock cluster,
 * a redis-server on a free port, and Python's http.server standing in for
 * the registry (static answers under schemas/ids/, see http_fixture.h).
 *
 * Records written with a schema only the registry knows (an older producer
 * without category_id and price, id 5) are applied; an id the registry does
 * not know is dead-lettered as unknown_schema, one whose schema cannot be
 * read as a ClickEvent as invalid. Without the registry, id 5
 * would be read with the built-in schema and fail as truncated: the older
 * record ends where the built-in one still expects two fields.
 *
 * With the registry down, the pipeline stops with an error that says what to
 * start, dead-letters nothing and commits nothing of what it could not read:
 * the next run, with the registry up, applies those records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "app/pipeline.h"
#include "http_fixture.h"
#include "streamrec/avro_codec.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/redis_spawn.h"

#define TIMEOUT_S 60
#define ID_CURRENT 1
#define ID_OLDER 5
#define ID_MISSING 42
#define ID_UNREADABLE 9

/* An older producer: no category_id, no price. */
static const char older_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"},"
    "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":"
    "[\"UNKNOWN\",\"VIEW\",\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"PURCHASE\"]}},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

/* A ClickEvent without event_type and ts_ms, which have no default: it cannot
 * be read as ours. */
static const char unreadable_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"}]}";

typedef struct fixture {
    http_fixture_t registry;
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis;
    sr_config_t cfg;
} fixture_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int put_schema(http_fixture_t *h, int32_t id, const char *schema_json) {
    json_t *answer = json_pack("{s:s}", "schema", schema_json);
    char *text = json_dumps(answer, JSON_COMPACT);
    char path[64];
    snprintf(path, sizeof path, "schemas/ids/%d", (int)id);
    int rc = text ? http_fixture_put(h, path, text) : -1;
    free(text);
    json_decref(answer);
    return rc;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    if (!f)
        return 0;
    sr_config_free(&f->cfg);
    sr_redis_spawn_destroy(f->redis);
    sr_kafka_mock_destroy(f->mock);
    http_fixture_cleanup(&f->registry);
    free(f);
    return 0;
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512] = "out of memory";
    if (!f)
        goto fail;
    sr_config_init(&f->cfg);
    /* the registry first: it forks, better before librdkafka's threads */
    if (http_fixture_init(&f->registry) != 0 ||
        put_schema(&f->registry, ID_CURRENT, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT)) ||
        put_schema(&f->registry, ID_OLDER, older_writer) ||
        put_schema(&f->registry, ID_UNREADABLE, unreadable_writer) ||
        http_fixture_start(&f->registry, errstr, sizeof errstr) ||
        !(f->mock = sr_kafka_mock_new(1, errstr, sizeof errstr)) ||
        sr_kafka_mock_create_topic(f->mock, "clicks", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "clicks.dlq", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "outage", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "outage.dlq", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "reco.updates", 1, errstr, sizeof errstr) ||
        sr_kafka_mock_create_topic(f->mock, "churn.alerts", 1, errstr, sizeof errstr) ||
        !(f->redis = sr_redis_spawn_new(NULL, errstr, sizeof errstr)))
        goto fail;
    if (sr_config_set(&f->cfg, "kafka.bootstrap.servers", sr_kafka_mock_bootstrap(f->mock), "test",
                      errstr, sizeof errstr) ||
        sr_config_set(&f->cfg, "redis.url", sr_redis_spawn_url(f->redis), "test", errstr,
                      sizeof errstr) ||
        sr_config_set(&f->cfg, "schema.registry.url", f->registry.url, "test", errstr,
                      sizeof errstr) ||
        sr_config_set(&f->cfg, "batch.max.ms", "10", "test", errstr, sizeof errstr) ||
        /* a group's next run waits out the last member's session on the mock */
        sr_config_set(&f->cfg, "kafka.consumer.session.timeout.ms", "6000", "test", errstr,
                      sizeof errstr) ||
        sr_config_set(&f->cfg, "kafka.consumer.heartbeat.interval.ms", "500", "test", errstr,
                      sizeof errstr))
        goto fail;
    *state = f;
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", errstr);
    *state = f;
    teardown(state); /* cmocka skips the teardown when the setup fails */
    *state = NULL;
    return -1;
}

/* ---- input -------------------------------------------------------------- */

typedef struct {
    uint8_t b[256];
    size_t n;
} avro_bytes_t;

static void put_long(avro_bytes_t *t, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        t->b[t->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    t->b[t->n++] = (uint8_t)z;
}

static void put_string(avro_bytes_t *t, const char *s) {
    put_long(t, (int64_t)strlen(s));
    memcpy(t->b + t->n, s, strlen(s));
    t->n += strlen(s);
}

static void produce(sr_kafka_out_t *out, const char *topic, const char *user, const void *value,
                    size_t len) {
    char errstr[512];
    if (sr_kafka_out_produce(out, topic, RD_KAFKA_PARTITION_UA, user, strlen(user), value, len,
                             NULL, NULL, errstr, sizeof errstr) != SR_OK)
        fail_msg("produce: %s", errstr);
}

/* A view by user of item, written by the older producer (schema id 5). */
static void produce_older(sr_kafka_out_t *out, const char *topic, const char *user,
                          const char *item, int64_t ts_ms) {
    avro_bytes_t t;
    t.n = sr_framing_write_header(t.b, ID_OLDER);
    put_string(&t, "e-old");
    put_string(&t, user);
    put_string(&t, item);
    put_long(&t, 1); /* VIEW */
    put_long(&t, ts_ms);
    put_long(&t, 0); /* session_id: null */
    produce(out, topic, user, t.b, t.n);
}

/* A view written with this build's schema under schema id `id`. */
static void produce_current(sr_kafka_out_t *out, sr_click_encoder_t *enc, const char *topic,
                            int32_t id, const char *user, const char *item, int64_t ts_ms) {
    char errstr[512];
    uint8_t buf[512];
    size_t len;
    sr_event_t ev = {.event_id = sr_str_c("e-cur"), .user_id = sr_str_c(user),
                     .item_id = sr_str_c(item), .type = SR_EVENT_VIEW, .ts_ms = ts_ms};
    if (sr_click_encode(enc, &ev, SR_FRAMING_CONFLUENT, id, buf, sizeof buf, &len, errstr,
                        sizeof errstr) != SR_OK)
        fail_msg("encode: %s", errstr);
    produce(out, topic, user, buf, len);
}

static sr_kafka_out_t *new_producer(fixture_t *f) {
    char errstr[512];
    sr_kafka_out_config_t ocfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock)};
    sr_kafka_out_t *out = sr_kafka_out_new(&ocfg, errstr, sizeof errstr);
    if (!out)
        fail_msg("producer: %s", errstr);
    return out;
}

static void flush_producer(sr_kafka_out_t *out) {
    char errstr[512];
    if (sr_kafka_out_flush(out, 10000, errstr, sizeof errstr) != SR_OK)
        fail_msg("flush: %s", errstr);
    sr_kafka_out_destroy(out);
}

/* ---- running the pipeline ----------------------------------------------- */

typedef struct runner {
    sr_pipeline_t *p;
    volatile sig_atomic_t stop;
    atomic_int finished;
    sr_err_t result;
    char errstr[512];
} runner_t;

static void *run_pipeline(void *arg) {
    runner_t *r = arg;
    r->result = sr_pipeline_run(r->p, &r->stop, r->errstr, sizeof r->errstr);
    atomic_store(&r->finished, 1);
    return NULL;
}

/* Runs a pipeline until done() says so, it stops by itself, or max_s pass;
 * then stops it as SIGTERM would. Returns its result, message in errstr. */
static sr_err_t run_until(fixture_t *f, bool (*done)(const sr_pipeline_stats_t *), double max_s,
                          sr_pipeline_stats_t *final, char *errstr, size_t errstr_size) {
    runner_t r = {0};
    char why[512];
    r.p = sr_pipeline_new(&f->cfg, why, sizeof why);
    if (!r.p)
        fail_msg("sr_pipeline_new: %s", why);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_pipeline, &r), 0);
    for (double start = now_s(); !atomic_load(&r.finished) && now_s() - start < max_s;) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        sr_pipeline_stats(r.p, final);
        if (done(final))
            break;
    }
    r.stop = 1;
    pthread_join(t, NULL);
    sr_pipeline_stats(r.p, final);
    sr_pipeline_destroy(r.p);
    snprintf(errstr, errstr_size, "%s", r.errstr);
    return r.result;
}

static bool five_applied_two_dead(const sr_pipeline_stats_t *s) {
    return s->events_applied >= 5 && s->dead_letters >= 2;
}

static bool two_applied(const sr_pipeline_stats_t *s) { return s->events_applied >= 2; }

static bool never(const sr_pipeline_stats_t *s) {
    (void)s;
    return false;
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

/* ---- tests -------------------------------------------------------------- */

static void test_pipeline_registry_only_schema_is_applied_unknown_or_unreadable_dead_lettered(
    void **state) {
    fixture_t *f = *state;
    char errstr[512];
    int64_t t0 = 1767225600000LL;
    sr_kafka_out_t *out = new_producer(f);
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(enc);
    produce_current(out, enc, "clicks", ID_CURRENT, "c0", "i1", t0);
    produce_current(out, enc, "clicks", ID_CURRENT, "c1", "i1", t0 + 1000);
    produce_current(out, enc, "clicks", ID_CURRENT, "c2", "i2", t0 + 2000);
    produce_older(out, "clicks", "o0", "i1", t0 + 3000);
    produce_older(out, "clicks", "o1", "i2", t0 + 4000);
    produce_current(out, enc, "clicks", ID_MISSING, "x42", "i3", t0 + 5000);
    produce_current(out, enc, "clicks", ID_UNREADABLE, "x9", "i3", t0 + 6000);
    sr_click_encoder_destroy(enc);
    flush_producer(out);

    assert_int_equal(sr_config_set(&f->cfg, "input.topics", "clicks", "test", errstr,
                                   sizeof errstr), SR_OK);
    sr_pipeline_stats_t st;
    if (run_until(f, five_applied_two_dead, TIMEOUT_S, &st, errstr, sizeof errstr) != SR_OK)
        fail_msg("pipeline: %s", errstr);
    assert_int_equal(st.records_in, 7);
    assert_int_equal(st.events_applied, 5);
    assert_int_equal(st.dead_letters, 2);
    /* c0..c2 and the older producer's o0, o1, given up with their partitions at the stop */
    assert_int_equal(st.users_handed_off, 5);

    /* the dead letters are the records with ids 42 and 9, unchanged, saying why */
    char *topics[] = {"clicks.dlq"};
    sr_kafka_in_config_t icfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock),
                                 .group_id = "dlq-reader", .topics = topics, .n_topics = 1};
    sr_kafka_in_t *in = sr_kafka_in_new(&icfg, errstr, sizeof errstr);
    assert_non_null(in);
    int seen = 0;
    bool unknown = false, unreadable = false;
    rd_kafka_message_t *msgs[16];
    for (double start = now_s(); now_s() - start < 20 && seen < 2;) {
        size_t n = sr_kafka_in_poll(in, msgs, 16, 100);
        for (size_t k = 0; k < n; k++) {
            rd_kafka_message_t *m = msgs[k];
            if (!m->err) {
                char reason[64], message[512];
                seen++;
                assert_non_null(header(m, SR_DLQ_HEADER_ERROR, reason, sizeof reason));
                assert_non_null(header(m, SR_DLQ_HEADER_ERROR_MESSAGE, message, sizeof message));
                int id = ((const uint8_t *)m->payload)[4];
                if (id == ID_MISSING) {
                    assert_true(m->key_len == 3 && memcmp(m->key, "x42", 3) == 0);
                    assert_string_equal(reason, "unknown_schema");
                    if (!strstr(message, "schema id 42 not found in the schema registry"))
                        fail_msg("DLQ message: %s", message);
                    unknown = true;
                } else {
                    assert_int_equal(id, ID_UNREADABLE);
                    assert_string_equal(reason, "invalid");
                    if (!strstr(message, "schema id 9: writer schema has no field"))
                        fail_msg("DLQ message: %s", message);
                    unreadable = true;
                }
            }
            rd_kafka_message_destroy(m);
        }
    }
    assert_true(unknown && unreadable);
    assert_int_equal(seen, 2);
    sr_kafka_in_close(in, NULL, 0);
    sr_kafka_in_destroy(in);
}

static void test_pipeline_unreachable_registry_stops_without_dead_letters_then_resumes(
    void **state) {
    fixture_t *f = *state;
    char errstr[512], url[64];
    int64_t t0 = 1767225600000LL;
    sr_kafka_out_t *out = new_producer(f);
    produce_older(out, "outage", "d0", "i1", t0);
    produce_older(out, "outage", "d1", "i2", t0 + 1000);
    flush_producer(out);

    /* nothing listens on a port just found free */
    snprintf(url, sizeof url, "http://127.0.0.1:%d", http_fixture_free_port());
    assert_int_equal(sr_config_set(&f->cfg, "input.topics", "outage", "test", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&f->cfg, "input.group.id", "outage-group", "test", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&f->cfg, "schema.registry.url", url, "test", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&f->cfg, "schema.registry.timeout.ms", "500", "test", errstr,
                                   sizeof errstr), SR_OK);
    sr_pipeline_stats_t st;
    double start = now_s();
    sr_err_t err = run_until(f, never, TIMEOUT_S, &st, errstr, sizeof errstr);
    assert_true(now_s() - start < TIMEOUT_S); /* stopped by itself */
    assert_int_equal(err, SR_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "schema registry %s unreachable (fetching schema id 5)", url);
    if (!strstr(errstr, want) || !strstr(errstr, "start the schema registry or fix "
                                                 "schema.registry.url"))
        fail_msg("message: %s", errstr);
    assert_true(st.records_in >= 1);
    assert_int_equal(st.events_applied, 0);
    assert_int_equal(st.dead_letters, 0);

    /* the registry is back: the same group reads both records again */
    assert_int_equal(sr_config_set(&f->cfg, "schema.registry.url", f->registry.url, "test",
                                   errstr, sizeof errstr), SR_OK);
    if (run_until(f, two_applied, TIMEOUT_S, &st, errstr, sizeof errstr) != SR_OK)
        fail_msg("pipeline: %s", errstr);
    assert_int_equal(st.records_in, 2);
    assert_int_equal(st.events_applied, 2);
    assert_int_equal(st.dead_letters, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_pipeline_registry_only_schema_is_applied_unknown_or_unreadable_dead_lettered),
        cmocka_unit_test(
            test_pipeline_unreachable_registry_stops_without_dead_letters_then_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
