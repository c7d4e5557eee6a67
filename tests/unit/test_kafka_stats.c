/* kafka_stats: librdkafka's statistics JSON -- hand-written documents for
 * the field rules, and a real one from a consumer on the mock cluster. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_stats.h"

/* The shape of librdkafka 2.0's consumer statistics, cut to what we read. */
static const char document[] =
    "{\"name\":\"rdkafka#consumer-1\",\"type\":\"consumer\","
    " \"brokers\":{"
    "  \"127.0.0.1:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "  \"GroupCoordinator\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "  \"127.0.0.1:9092/1\":{\"nodeid\":1,\"state\":\"UP\"},"
    "  \"127.0.0.1:9093/2\":{\"nodeid\":2,\"state\":\"DOWN\"}},"
    " \"topics\":{\"clicks\":{\"topic\":\"clicks\",\"partitions\":{"
    "  \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"hi_offset\":120,"
    "        \"consumer_lag\":20,\"consumer_lag_stored\":5},"
    "  \"1\":{\"partition\":1,\"fetch_state\":\"none\",\"hi_offset\":-1,"
    "        \"consumer_lag\":-1,\"consumer_lag_stored\":-1},"
    "  \"-1\":{\"partition\":-1,\"fetch_state\":\"none\",\"consumer_lag\":-1}}}}}";

static void test_kafka_stats_reads_lag_per_partition_and_brokers_up(void **state) {
    (void)state;
    sr_kafka_stats_t s;
    char errstr[256];
    assert_int_equal(sr_kafka_stats_parse(document, strlen(document), &s, errstr, sizeof errstr),
                     SR_OK);
    assert_int_equal(s.brokers, 2);
    assert_int_equal(s.brokers_up, 1);
    assert_int_equal(s.n_partitions, 2); /* -1 skipped */
    for (size_t i = 0; i < s.n_partitions; i++) {
        const sr_kafka_partition_stats_t *p = &s.partitions[i];
        assert_string_equal(p->topic, "clicks");
        if (p->partition == 0) {
            assert_int_equal(p->consumer_lag, 20);
            assert_int_equal(p->consumer_lag_stored, 5);
            assert_int_equal(p->hi_offset, 120);
            assert_true(p->fetching);
        } else {
            assert_int_equal(p->partition, 1);
            assert_int_equal(p->consumer_lag, -1);
            assert_false(p->fetching);
        }
    }
    sr_kafka_stats_free(&s);
}

static void test_kafka_stats_rejects_what_is_not_an_object(void **state) {
    (void)state;
    sr_kafka_stats_t s;
    char errstr[256];
    assert_int_equal(sr_kafka_stats_parse("[1,2]", 5, &s, errstr, sizeof errstr), SR_ERR_INVALID);
    assert_int_equal(sr_kafka_stats_parse("{\"brok", 6, &s, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "librdkafka statistics"));
    /* an object without the sections: nothing known, no error */
    assert_int_equal(sr_kafka_stats_parse("{}", 2, &s, errstr, sizeof errstr), SR_OK);
    assert_int_equal(s.brokers, 0);
    assert_int_equal(s.n_partitions, 0);
    sr_kafka_stats_free(&s);
}

static void test_kafka_stats_slot_keeps_the_newest_document_and_ages_it(void **state) {
    (void)state;
    sr_kafka_stats_slot_t slot;
    sr_kafka_stats_t s;
    char errstr[256];
    sr_kafka_stats_slot_init(&slot);
    assert_int_equal(sr_kafka_stats_slot_parse(&slot, 10000, &s, errstr, sizeof errstr), SR_ERR_EOF);
    sr_kafka_stats_slot_put(&slot, document, strlen(document));
    sr_kafka_stats_slot_put(&slot, "{}", 2); /* smaller: reuses the buffer */
    assert_int_equal(sr_kafka_stats_slot_parse(&slot, 10000, &s, errstr, sizeof errstr), SR_OK);
    assert_int_equal(s.brokers, 0);
    sr_kafka_stats_free(&s);
    slot.received_mono_ms -= 20000; /* as if it came 20 s ago */
    assert_int_equal(sr_kafka_stats_slot_parse(&slot, 10000, &s, errstr, sizeof errstr), SR_ERR_EOF);
    sr_kafka_stats_slot_destroy(&slot);
}

static void on_stats(void *opaque, const char *json, size_t len) {
    sr_kafka_stats_slot_put(opaque, json, len);
}

/* librdkafka's real document: the consumer's stats callback fires on the
 * poll thread and the broker it talks to is UP. */
static void test_kafka_stats_from_a_real_consumer_on_the_mock_cluster(void **state) {
    (void)state;
    char errstr[512];
    sr_kafka_mock_t *mock = sr_kafka_mock_new(1, errstr, sizeof errstr);
    assert_non_null(mock);
    assert_int_equal(sr_kafka_mock_create_topic(mock, "clicks", 2, errstr, sizeof errstr), SR_OK);
    static sr_kafka_stats_slot_t slot;
    sr_kafka_stats_slot_init(&slot);
    char *topics[] = {"clicks"};
    sr_kafka_in_config_t cfg = {.bootstrap = sr_kafka_mock_bootstrap(mock), .group_id = "g",
                                .topics = topics, .n_topics = 1, .on_stats = on_stats,
                                .stats_interval_ms = 100, .opaque = &slot};
    sr_kafka_in_t *in = sr_kafka_in_new(&cfg, errstr, sizeof errstr);
    assert_non_null(in);
    rd_kafka_message_t *msgs[16];
    sr_kafka_stats_t s = {0};
    bool up = false;
    for (int i = 0; i < 200 && !up; i++) { /* up to 10 s */
        size_t n = sr_kafka_in_poll(in, msgs, 16, 50);
        for (size_t k = 0; k < n; k++) rd_kafka_message_destroy(msgs[k]);
        if (sr_kafka_stats_slot_parse(&slot, 5000, &s, errstr, sizeof errstr) == SR_OK) {
            up = s.brokers_up >= 1;
            sr_kafka_stats_free(&s);
        }
    }
    assert_true(up);
    assert_int_equal(sr_kafka_in_close(in, errstr, sizeof errstr), SR_OK);
    sr_kafka_in_destroy(in);
    sr_kafka_stats_slot_destroy(&slot);
    sr_kafka_mock_destroy(mock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_stats_reads_lag_per_partition_and_brokers_up),
        cmocka_unit_test(test_kafka_stats_rejects_what_is_not_an_object),
        cmocka_unit_test(test_kafka_stats_slot_keeps_the_newest_document_and_ages_it),
        cmocka_unit_test(test_kafka_stats_from_a_real_consumer_on_the_mock_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
