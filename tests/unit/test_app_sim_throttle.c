/* sim_throttle: at most one neighbour-list write per item per interval, the
 * newest list landing when the interval is over. Time is passed in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "app/sim_throttle.h"

static bool offer(sr_sim_throttle_t *t, uint32_t item, int64_t now) {
    bool write_now = false;
    assert_int_equal(sr_sim_throttle_offer(t, item, now, &write_now), SR_OK);
    return write_now;
}

static void test_one_write_per_interval_and_the_rest_deferred_once(void **state) {
    (void)state;
    sr_sim_throttle_t *t = sr_sim_throttle_new(1000);
    assert_non_null(t);
    uint32_t item;
    assert_true(offer(t, 7, 0));      /* first change: at once */
    assert_false(offer(t, 7, 10));    /* within the interval: deferred */
    assert_false(offer(t, 7, 500));   /* and again: still one pending */
    assert_int_equal(sr_sim_throttle_pending(t), 1);
    assert_false(sr_sim_throttle_next_due(t, 999, &item));
    assert_true(sr_sim_throttle_next_due(t, 1000, &item));
    assert_int_equal(item, 7);
    assert_false(sr_sim_throttle_next_due(t, 1000, &item)); /* once */
    assert_int_equal(sr_sim_throttle_pending(t), 0);
    /* the due write started a new interval */
    assert_false(offer(t, 7, 1500));
    assert_true(sr_sim_throttle_next_due(t, 2000, &item));
    assert_int_equal(item, 7);
    sr_sim_throttle_destroy(t);
}

/* The engine's gate is the offer at the time set last. */
static void test_gate_offers_at_the_time_set(void **state) {
    (void)state;
    sr_sim_throttle_t *t = sr_sim_throttle_new(1000);
    uint32_t item;
    sr_sim_throttle_set_now(t, 5000);
    assert_int_equal(sr_sim_throttle_gate(t, 3), 1);
    sr_sim_throttle_set_now(t, 5999);
    assert_int_equal(sr_sim_throttle_gate(t, 3), 0);
    assert_int_equal(sr_sim_throttle_pending(t), 1);
    assert_false(sr_sim_throttle_any_due(t, 5999));
    assert_false(sr_sim_throttle_next_due(t, 5999, &item));
    assert_true(sr_sim_throttle_any_due(t, 6000));
    assert_true(sr_sim_throttle_next_due(t, 6000, &item));
    assert_int_equal(item, 3);
    assert_false(sr_sim_throttle_any_due(t, 99999)); /* taken */
    sr_sim_throttle_set_now(t, 6500);
    assert_int_equal(sr_sim_throttle_gate(t, 3), 0); /* the due write started an interval */
    /* let through once that is over: its deferred entry is due no more */
    sr_sim_throttle_set_now(t, 8000);
    assert_int_equal(sr_sim_throttle_gate(t, 3), 1);
    assert_false(sr_sim_throttle_any_due(t, 99999));
    sr_sim_throttle_destroy(t);
}

static void test_items_are_independent_and_come_out_in_order(void **state) {
    (void)state;
    sr_sim_throttle_t *t = sr_sim_throttle_new(100);
    uint32_t item;
    for (uint32_t i = 0; i < 5000; i++) assert_true(offer(t, i, 0));
    for (uint32_t i = 0; i < 5000; i++) assert_false(offer(t, 4999 - i, 50));
    assert_int_equal(sr_sim_throttle_pending(t), 5000);
    for (uint32_t i = 0; i < 5000; i++) {
        assert_true(sr_sim_throttle_next_due(t, 100, &item));
        assert_int_equal(item, 4999 - i);
    }
    assert_false(sr_sim_throttle_next_due(t, 100, &item));
    sr_sim_throttle_destroy(t);
}

/* A deferred item offered again once its interval is over is written
 * directly; its stale queue entry must not produce a second write. */
static void test_a_direct_write_cancels_the_deferred_one(void **state) {
    (void)state;
    sr_sim_throttle_t *t = sr_sim_throttle_new(100);
    uint32_t item;
    assert_true(offer(t, 1, 0));
    assert_false(offer(t, 1, 10));
    assert_true(offer(t, 1, 150));
    assert_int_equal(sr_sim_throttle_pending(t), 0);
    assert_false(sr_sim_throttle_next_due(t, 1000, &item));
    sr_sim_throttle_destroy(t);
}

static void test_interval_zero_writes_every_change(void **state) {
    (void)state;
    sr_sim_throttle_t *t = sr_sim_throttle_new(0);
    for (int k = 0; k < 10; k++) assert_true(offer(t, 3, 5));
    sr_sim_throttle_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_write_per_interval_and_the_rest_deferred_once),
        cmocka_unit_test(test_gate_offers_at_the_time_set),
        cmocka_unit_test(test_items_are_independent_and_come_out_in_order),
        cmocka_unit_test(test_a_direct_write_cancels_the_deferred_one),
        cmocka_unit_test(test_interval_zero_writes_every_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
