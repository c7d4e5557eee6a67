/* prom: the Prometheus text exposition format and fixed-bucket histograms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/prom.h"

static char *render_and_take(sr_prom_buf_t *b) {
    size_t len;
    char *text = sr_prom_buf_take(b, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_prom_family_and_samples_in_text_format(void **state) {
    (void)state;
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    sr_prom_family(&b, "streamrec_events_total", SR_PROM_COUNTER, "events applied, by type");
    sr_prom_label_t view[] = {{"type", "view"}};
    sr_prom_sample_u64(&b, "streamrec_events_total", view, 1, 18446744073709551615ULL);
    sr_prom_family(&b, "streamrec_users", SR_PROM_GAUGE, "users");
    sr_prom_sample(&b, "streamrec_users", NULL, 0, 42);
    char *text = render_and_take(&b);
    assert_string_equal(text,
                        "# HELP streamrec_events_total events applied, by type\n"
                        "# TYPE streamrec_events_total counter\n"
                        "streamrec_events_total{type=\"view\"} 18446744073709551615\n"
                        "# HELP streamrec_users users\n"
                        "# TYPE streamrec_users gauge\n"
                        "streamrec_users 42\n");
    free(text);
    sr_prom_buf_free(&b);
}

/* label values escape \ " and newline; HELP escapes \ and newline only */
static void test_prom_escapes_label_values_and_help(void **state) {
    (void)state;
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    sr_prom_family(&b, "m", SR_PROM_GAUGE, "a \"quoted\" back\\slash\nnext");
    sr_prom_label_t l[] = {{"topic", "a\"b\\c\nd"}, {"partition", "3"}};
    sr_prom_sample(&b, "m", l, 2, 1);
    char *text = render_and_take(&b);
    assert_string_equal(text,
                        "# HELP m a \"quoted\" back\\\\slash\\nnext\n"
                        "# TYPE m gauge\n"
                        "m{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} 1\n");
    free(text);
    sr_prom_buf_free(&b);
}

static void test_prom_numbers_are_shortest_round_trip_and_go_specials(void **state) {
    (void)state;
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    sr_prom_sample(&b, "a", NULL, 0, 0.1);
    sr_prom_sample(&b, "b", NULL, 0, NAN);
    sr_prom_sample(&b, "c", NULL, 0, INFINITY);
    sr_prom_sample(&b, "d", NULL, 0, -INFINITY);
    sr_prom_sample(&b, "e", NULL, 0, 1.0 / 3);
    sr_prom_sample(&b, "f", NULL, 0, -2.5e-7);
    char *text = render_and_take(&b);
    assert_string_equal(text, "a 0.1\nb NaN\nc +Inf\nd -Inf\ne 0.3333333333333333\n"
                              "f -2.5e-07\n");
    free(text);
    sr_prom_buf_free(&b);
}

/* buckets are cumulative, le is in the exported unit, +Inf equals _count,
 * and a value equal to a bound falls in that bound's bucket */
static void test_prom_histogram_buckets_cumulative_with_sum_and_count(void **state) {
    (void)state;
    static sr_prom_hist_t h;
    const uint64_t bounds_us[] = {1000, 5000, 25000};
    sr_prom_hist_init(&h, bounds_us, 3, 1e6);
    sr_prom_hist_observe(&h, 500);    /* <= 1 ms */
    sr_prom_hist_observe(&h, 1000);   /* == 1 ms: still the first bucket */
    sr_prom_hist_observe(&h, 4000);   /* <= 5 ms */
    sr_prom_hist_observe(&h, 100000); /* beyond 25 ms: +Inf only */
    assert_int_equal(sr_prom_hist_count(&h), 4);
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    sr_prom_family(&b, "streamrec_x_seconds", SR_PROM_HISTOGRAM, "x");
    sr_prom_label_t l[] = {{"sink", "redis"}};
    sr_prom_histogram(&b, "streamrec_x_seconds", l, 1, &h);
    char *text = render_and_take(&b);
    assert_string_equal(text,
                        "# HELP streamrec_x_seconds x\n"
                        "# TYPE streamrec_x_seconds histogram\n"
                        "streamrec_x_seconds_bucket{sink=\"redis\",le=\"0.001\"} 2\n"
                        "streamrec_x_seconds_bucket{sink=\"redis\",le=\"0.005\"} 3\n"
                        "streamrec_x_seconds_bucket{sink=\"redis\",le=\"0.025\"} 3\n"
                        "streamrec_x_seconds_bucket{sink=\"redis\",le=\"+Inf\"} 4\n"
                        "streamrec_x_seconds_sum{sink=\"redis\"} 0.1055\n"
                        "streamrec_x_seconds_count{sink=\"redis\"} 4\n");
    free(text);
    sr_prom_buf_free(&b);
}

static void test_prom_empty_histogram_without_labels(void **state) {
    (void)state;
    static sr_prom_hist_t h;
    const uint64_t bounds[] = {1, 10};
    sr_prom_hist_init(&h, bounds, 2, 1);
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    sr_prom_histogram(&b, "n", NULL, 0, &h);
    char *text = render_and_take(&b);
    assert_string_equal(text, "n_bucket{le=\"1\"} 0\nn_bucket{le=\"10\"} 0\n"
                              "n_bucket{le=\"+Inf\"} 0\nn_sum 0\nn_count 0\n");
    free(text);
    sr_prom_buf_free(&b);
}

static void test_prom_take_of_an_empty_buffer_is_an_empty_string(void **state) {
    (void)state;
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    size_t len = 99;
    char *text = sr_prom_buf_take(&b, &len);
    assert_non_null(text);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_family_and_samples_in_text_format),
        cmocka_unit_test(test_prom_escapes_label_values_and_help),
        cmocka_unit_test(test_prom_numbers_are_shortest_round_trip_and_go_specials),
        cmocka_unit_test(test_prom_histogram_buckets_cumulative_with_sum_and_count),
        cmocka_unit_test(test_prom_empty_histogram_without_labels),
        cmocka_unit_test(test_prom_take_of_an_empty_buffer_is_an_empty_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
