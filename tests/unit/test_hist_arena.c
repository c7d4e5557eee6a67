/* hist (latency quantiles) and arena (batch-owned copies). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "streamrec/arena.h"
#include "streamrec/hist.h"

static sr_hist_t hist;

/* 1..100000 recorded once each: every quantile is within 1/32 above the
 * exact value, never below it. */
static void test_hist_quantiles_within_three_percent(void **state) {
    (void)state;
    sr_hist_init(&hist);
    for (uint64_t v = 1; v <= 100000; v++) sr_hist_record(&hist, v);
    assert_int_equal(sr_hist_total(&hist), 100000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        double exact = qs[i] * 100000;
        uint64_t got = sr_hist_quantile(&hist, qs[i]);
        assert_true((double)got >= exact);
        assert_true((double)got <= exact * (1 + 1.0 / 32) + 1);
    }
    /* small values are exact */
    sr_hist_init(&hist);
    sr_hist_record(&hist, 3);
    sr_hist_record(&hist, 7);
    assert_int_equal(sr_hist_quantile(&hist, 0.5), 3);
    assert_int_equal(sr_hist_quantile(&hist, 1.0), 7);
    sr_hist_init(&hist);
    assert_int_equal(sr_hist_quantile(&hist, 0.99), 0);
}

/* quantile_since sees only what came after the snapshot */
static void test_hist_quantile_since_a_snapshot_ignores_older_values(void **state) {
    (void)state;
    static sr_hist_t before;
    sr_hist_init(&hist);
    for (int i = 0; i < 1000; i++) sr_hist_record(&hist, 5000);
    sr_hist_snapshot(&hist, &before);
    for (int i = 0; i < 10; i++) sr_hist_record(&hist, 7);
    assert_int_equal(sr_hist_quantile_since(&hist, &before, 0.99), 7);
    assert_true(sr_hist_quantile(&hist, 0.5) >= 5000);
    sr_hist_snapshot(&hist, &before);
    assert_int_equal(sr_hist_quantile_since(&hist, &before, 0.5), 0);
}

static void test_arena_copies_survive_until_reset_and_chunks_are_reused(void **state) {
    (void)state;
    sr_arena_t *a = sr_arena_new(128);
    assert_non_null(a);
    char *s[100];
    for (int i = 0; i < 100; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "user-%d", i);
        s[i] = sr_arena_strndup(a, buf, (size_t)n);
        assert_non_null(s[i]);
    }
    for (int i = 0; i < 100; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "user-%d", i);
        assert_string_equal(s[i], buf);
    }
    /* larger than a chunk */
    char *big = sr_arena_alloc(a, 1000);
    assert_non_null(big);
    memset(big, 'x', 1000);
    assert_int_equal(((uintptr_t)sr_arena_alloc(a, 1)) % _Alignof(max_align_t), 0);
    sr_arena_reset(a);
    char *again = sr_arena_strndup(a, "after reset", 11);
    assert_string_equal(again, "after reset");
    sr_arena_destroy(a);
    sr_arena_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_quantiles_within_three_percent),
        cmocka_unit_test(test_hist_quantile_since_a_snapshot_ignores_older_values),
        cmocka_unit_test(test_arena_copies_survive_until_reset_and_chunks_are_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
