/* kafka_restore: reading partitions to their end, over librdkafka's mock
 * cluster reached by TCP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/kafka_restore.h"

typedef struct seen {
    int n;
    char keys[16][8];
    int32_t partitions[16];
    int64_t offsets[16];
} seen_t;

static void collect(void *opaque, const rd_kafka_message_t *m) {
    seen_t *s = opaque;
    if (s->n < 16) {
        snprintf(s->keys[s->n], sizeof s->keys[0], "%.*s", (int)m->key_len, (const char *)m->key);
        s->partitions[s->n] = m->partition;
        s->offsets[s->n] = m->offset;
    }
    s->n++;
}

static void produce(const char *bootstrap, const char *topic, int32_t partition, const char *key) {
    char errstr[256];
    sr_kafka_out_config_t cfg = {.bootstrap = bootstrap};
    sr_kafka_out_t *out = sr_kafka_out_new(&cfg, errstr, sizeof errstr);
    assert_non_null(out);
    assert_int_equal(sr_kafka_out_produce(out, topic, partition, key, strlen(key), "v", 1, NULL,
                                          NULL, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_kafka_out_flush(out, 10000, errstr, sizeof errstr), SR_OK);
    sr_kafka_out_destroy(out);
}

static void test_reads_each_partition_to_its_end_in_order(void **state) {
    (void)state;
    char errstr[256];
    sr_kafka_mock_t *mock = sr_kafka_mock_new(1, errstr, sizeof errstr);
    assert_non_null(mock);
    assert_int_equal(sr_kafka_mock_create_topic(mock, "state", 3, errstr, sizeof errstr), SR_OK);
    const char *bootstrap = sr_kafka_mock_bootstrap(mock);
    produce(bootstrap, "state", 0, "a");
    produce(bootstrap, "state", 0, "b");
    produce(bootstrap, "state", 2, "c");
    produce(bootstrap, "state", 0, "d");

    sr_kafka_restore_t *r = sr_kafka_restore_new(bootstrap, NULL, 0, errstr, sizeof errstr);
    assert_non_null(r);
    /* partition 1 is empty; partition 2 is not asked for */
    const int32_t wanted[] = {0, 1};
    seen_t seen = {0};
    uint64_t n_read = 0;
    assert_int_equal(sr_kafka_restore_read(r, "state", wanted, 2, 20000, collect, &seen, &n_read,
                                           errstr, sizeof errstr), SR_OK);
    assert_int_equal(seen.n, 3);
    assert_int_equal(n_read, 3);
    const char *order[] = {"a", "b", "d"};
    for (int k = 0; k < 3; k++) {
        assert_string_equal(seen.keys[k], order[k]);
        assert_int_equal(seen.partitions[k], 0);
        assert_int_equal(seen.offsets[k], k);
    }

    /* the same reader again (a later assignment), now with partition 2 */
    const int32_t later[] = {2};
    memset(&seen, 0, sizeof seen);
    assert_int_equal(sr_kafka_restore_read(r, "state", later, 1, 20000, collect, &seen, NULL,
                                           errstr, sizeof errstr), SR_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.keys[0], "c");

    /* a partition the topic does not have is an error that names it */
    const int32_t missing[] = {7};
    assert_int_equal(sr_kafka_restore_read(r, "state", missing, 1, 5000, collect, &seen, NULL,
                                           errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "state [7]"));
    sr_kafka_restore_destroy(r);
    sr_kafka_mock_destroy(mock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_each_partition_to_its_end_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
