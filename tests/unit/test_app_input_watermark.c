/* input_watermark: the engine's watermark held at the slowest input
 * partition's newest event; quiet partitions let go after idle_ms of
 * polling. Time is passed in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "app/input_watermark.h"

#define IDLE 1000

static sr_input_watermark_t *two_partitions(void) {
    sr_input_watermark_t *w = sr_input_watermark_new(IDLE);
    assert_non_null(w);
    assert_int_equal(sr_input_watermark_assign(w, "clicks", 0), SR_OK);
    assert_int_equal(sr_input_watermark_assign(w, "clicks", 1), SR_OK);
    return w;
}

/* Polls every 100 ms from `from` to `to` (both included), partitions
 * delivering nothing. */
static void quiet(sr_input_watermark_t *w, int64_t from, int64_t to, bool paused) {
    for (int64_t t = from; t <= to; t += 100) sr_input_watermark_polled(w, t, paused);
}

static void test_the_slowest_partition_holds(void **state) {
    (void)state;
    sr_input_watermark_t *w = sr_input_watermark_new(IDLE);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MAX); /* nothing assigned */
    sr_input_watermark_destroy(w);

    w = two_partitions();
    assert_int_equal(sr_input_watermark_hold(w), INT64_MIN); /* assigned, no time yet */
    sr_input_watermark_record(w, "clicks", 0, 5000);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MIN); /* partition 1 still has none */
    sr_input_watermark_record(w, "clicks", 1, 2000);
    assert_int_equal(sr_input_watermark_hold(w), 2000);
    sr_input_watermark_record(w, "clicks", 0, 9000); /* the fast one moves on: no change */
    assert_int_equal(sr_input_watermark_hold(w), 2000);
    sr_input_watermark_record(w, "clicks", 1, 7000); /* the slow one catches up */
    assert_int_equal(sr_input_watermark_hold(w), 7000);
    sr_input_watermark_record(w, "clicks", 1, 3000); /* out of order: its newest counts */
    assert_int_equal(sr_input_watermark_hold(w), 7000);
    sr_input_watermark_record(w, "clicks", 1, 12000);
    assert_int_equal(sr_input_watermark_hold(w), 9000); /* now partition 0 is the slowest */
    sr_input_watermark_record(w, "other", 0, 1);          /* not assigned: ignored */
    assert_int_equal(sr_input_watermark_hold(w), 9000);
    sr_input_watermark_destroy(w);
}

static void test_a_quiet_partition_lets_go_after_idle_polling(void **state) {
    (void)state;
    sr_input_watermark_t *w = two_partitions();
    sr_input_watermark_record(w, "clicks", 0, 50000);
    sr_input_watermark_record(w, "clicks", 1, 1000);
    sr_input_watermark_polled(w, 0, false);
    /* partition 0 keeps delivering; partition 1 has gone quiet */
    for (int64_t t = 100; t < IDLE; t += 100) {
        sr_input_watermark_record(w, "clicks", 0, 50000 + t);
        sr_input_watermark_polled(w, t, false);
        assert_int_equal(sr_input_watermark_hold(w), 1000);
    }
    sr_input_watermark_record(w, "clicks", 0, 60000);
    sr_input_watermark_polled(w, IDLE, false);
    assert_int_equal(sr_input_watermark_hold(w), 60000); /* idle: partition 0's time */
    /* a record brings partition 1 back, with its older time */
    sr_input_watermark_record(w, "clicks", 1, 2000);
    assert_int_equal(sr_input_watermark_hold(w), 2000);
    /* both quiet: nothing holds */
    quiet(w, IDLE + 100, 3 * IDLE, false);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MAX);
    sr_input_watermark_destroy(w);
}

/* While the consumer is paused, or the engine thread away from polling, a
 * partition with a backlog is not read: that time must not make it idle. */
static void test_paused_or_stalled_time_does_not_count(void **state) {
    (void)state;
    sr_input_watermark_t *w = two_partitions();
    sr_input_watermark_record(w, "clicks", 0, 4000);
    sr_input_watermark_record(w, "clicks", 1, 3000);
    sr_input_watermark_polled(w, 0, false);
    quiet(w, 100, 10 * IDLE, true); /* paused for 10 idle periods */
    assert_int_equal(sr_input_watermark_hold(w), 3000);
    /* one stall of 60 s counts as one poll step */
    sr_input_watermark_polled(w, 10 * IDLE + 60000, false);
    assert_int_equal(sr_input_watermark_hold(w), 3000);
    /* then quiet polling: idle once idle_ms of it has passed in all */
    int64_t t = 10 * IDLE + 60000;
    int64_t counted = SR_INPUT_WATERMARK_POLL_STEP_MS;
    while (counted + 100 < IDLE) {
        t += 100;
        counted += 100;
        sr_input_watermark_polled(w, t, false);
        assert_int_equal(sr_input_watermark_hold(w), 3000);
    }
    sr_input_watermark_polled(w, t + 100, false);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MAX);
    sr_input_watermark_destroy(w);
}

static void test_revoked_and_reassigned_partitions(void **state) {
    (void)state;
    sr_input_watermark_t *w = two_partitions();
    sr_input_watermark_record(w, "clicks", 0, 8000);
    sr_input_watermark_record(w, "clicks", 1, 3000);
    sr_input_watermark_revoke(w, "clicks", 1); /* gone: it holds nothing */
    assert_int_equal(sr_input_watermark_hold(w), 8000);
    sr_input_watermark_revoke(w, "clicks", 7); /* unknown: ignored */
    assert_int_equal(sr_input_watermark_hold(w), 8000);
    /* back, or to another owner and back: it starts over, no time yet */
    assert_int_equal(sr_input_watermark_assign(w, "clicks", 1), SR_OK);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MIN);
    sr_input_watermark_record(w, "clicks", 1, 100);
    assert_int_equal(sr_input_watermark_hold(w), 100);
    assert_int_equal(sr_input_watermark_assign(w, "clicks", 0), SR_OK); /* again: over */
    assert_int_equal(sr_input_watermark_hold(w), INT64_MIN);
    sr_input_watermark_clear(w);
    assert_int_equal(sr_input_watermark_hold(w), INT64_MAX);
    sr_input_watermark_destroy(w);
}

/* A record the engine takes no time from (a dead letter) says nothing of
 * its partition's event time: it counts as silence, so a partition of
 * nothing else goes idle instead of stopping every sweep for good. */
static void test_dead_letters_count_as_silence(void **state) {
    (void)state;
    sr_input_watermark_t *w = two_partitions();
    sr_input_watermark_record(w, "clicks", 0, 8000);
    sr_input_watermark_polled(w, 0, false);
    for (int64_t t = 100; t <= 3 * IDLE; t += 100) {
        sr_input_watermark_record(w, "clicks", 1, INT64_MIN);
        sr_input_watermark_record(w, "clicks", 0, 8000 + t);
        sr_input_watermark_polled(w, t, false);
        /* no time yet from partition 1: no sweep, until it is idle */
        assert_int_equal(sr_input_watermark_hold(w), t < IDLE ? INT64_MIN : 8000 + t);
    }
    sr_input_watermark_record(w, "clicks", 1, 5000); /* a timed record: holding again */
    assert_int_equal(sr_input_watermark_hold(w), 5000);
    sr_input_watermark_destroy(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_slowest_partition_holds),
        cmocka_unit_test(test_a_quiet_partition_lets_go_after_idle_polling),
        cmocka_unit_test(test_paused_or_stalled_time_does_not_count),
        cmocka_unit_test(test_revoked_and_reassigned_partitions),
        cmocka_unit_test(test_dead_letters_count_as_silence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
