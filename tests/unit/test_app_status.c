/* status: the alerts ring, the trending copy, the rate, and the JSON the
 * status page reads (parsed back with jansson, so the checks are about
 * content, not formatting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/status.h"

static json_t *parse(char *text) {
    assert_non_null(text);
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    if (!doc)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    return doc;
}

static sr_status_figures_t some_figures(void) {
    return (sr_status_figures_t){
        .records_in = 1002, .events_total = 1000, .events_per_s = 12.5, .lag_offsets = 7,
        .lag_seconds = 0.25, .partitions = 4, .freshness_count = 1000, .freshness_p50_ms = 31,
        .freshness_p99_ms = 120, .freshness_p999_ms = 250, .users = 40, .items = 90,
        .alerts_firing = 3, .alerts_resolved = 2, .recos_written = 77, .dead_letters = 2,
        .ready = true, .now_ms = 1700000000000};
}

static void test_status_alerts_come_newest_first_and_keep_only_the_last(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    assert_non_null(s);
    char user[16];
    for (int k = 0; k < SR_STATUS_ALERTS + 5; k++) {
        snprintf(user, sizeof user, "u%d", k);
        sr_status_add_alert(s, user, k / 100.0, "HIGH", k % 2 == 0, 1000 + k);
    }
    sr_status_alert_t alerts[SR_STATUS_ALERTS];
    sr_status_item_t trending[SR_STATUS_TRENDING];
    size_t n_trending;
    size_t n = sr_status_read(s, alerts, trending, &n_trending);
    assert_int_equal(n, SR_STATUS_ALERTS);
    assert_int_equal(n_trending, 0);
    for (size_t k = 0; k < n; k++) {
        int expected = SR_STATUS_ALERTS + 5 - 1 - (int)k; /* newest first */
        snprintf(user, sizeof user, "u%d", expected);
        assert_string_equal(alerts[k].user_id, user);
        assert_int_equal(alerts[k].ts_ms, 1000 + expected);
        assert_int_equal(alerts[k].firing, expected % 2 == 0);
    }
    sr_status_destroy(s);
    sr_status_destroy(NULL);
}

static void test_status_json_carries_the_figures_alerts_and_trending(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    sr_status_add_alert(s, "old", 0.81, "LOW", true, 10);
    sr_status_add_alert(s, "new", 0.97, "HIGH", false, 20);
    const char *ids[] = {"i1", "i2", "i3"};
    const double scores[] = {9.5, 4.25, 1};
    sr_status_set_trending(s, ids, scores, 3);
    sr_status_figures_t f = some_figures();
    size_t len = 0;
    char *text = sr_status_json(s, &f, &len);
    assert_int_equal(len, strlen(text));
    json_t *doc = parse(text);

    assert_int_equal(json_integer_value(json_object_get(doc, "events_total")), 1000);
    assert_int_equal(json_integer_value(json_object_get(doc, "records_in")), 1002);
    assert_true(json_real_value(json_object_get(doc, "events_per_s")) == 12.5);
    assert_int_equal(json_integer_value(json_object_get(doc, "users")), 40);
    assert_int_equal(json_integer_value(json_object_get(doc, "items")), 90);
    assert_int_equal(json_integer_value(json_object_get(doc, "recommendations_total")), 77);
    assert_int_equal(json_integer_value(json_object_get(doc, "dead_letters")), 2);
    assert_true(json_is_true(json_object_get(doc, "ready")));
    json_t *lag = json_object_get(doc, "lag");
    assert_int_equal(json_integer_value(json_object_get(lag, "offsets")), 7);
    assert_true(json_real_value(json_object_get(lag, "seconds")) == 0.25);
    assert_int_equal(json_integer_value(json_object_get(lag, "partitions")), 4);
    json_t *fresh = json_object_get(doc, "freshness");
    assert_int_equal(json_integer_value(json_object_get(fresh, "count")), 1000);
    assert_true(json_real_value(json_object_get(fresh, "p50_ms")) == 31);
    assert_true(json_real_value(json_object_get(fresh, "p99_ms")) == 120);
    assert_true(json_real_value(json_object_get(fresh, "p999_ms")) == 250);
    json_t *totals = json_object_get(doc, "alerts_total");
    assert_int_equal(json_integer_value(json_object_get(totals, "firing")), 3);
    assert_int_equal(json_integer_value(json_object_get(totals, "resolved")), 2);

    json_t *alerts = json_object_get(doc, "alerts");
    assert_int_equal(json_array_size(alerts), 2);
    json_t *first = json_array_get(alerts, 0);
    assert_string_equal(json_string_value(json_object_get(first, "user")), "new");
    assert_string_equal(json_string_value(json_object_get(first, "state")), "resolved");
    assert_string_equal(json_string_value(json_object_get(first, "level")), "HIGH");
    assert_true(json_real_value(json_object_get(first, "probability")) == 0.97);
    assert_int_equal(json_integer_value(json_object_get(first, "ts_ms")), 20);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(alerts, 1), "state")), "firing");

    json_t *top = json_object_get(doc, "trending");
    assert_int_equal(json_array_size(top), 3);
    for (size_t k = 0; k < 3; k++) {
        json_t *t = json_array_get(top, k);
        assert_string_equal(json_string_value(json_object_get(t, "item")), ids[k]);
        assert_true(json_real_value(json_object_get(t, "score")) == scores[k]);
    }
    json_decref(doc);
    sr_status_destroy(s);
}

static void test_status_json_unknown_figures_are_null(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    sr_status_figures_t f = some_figures();
    f.lag_offsets = -1;
    f.lag_seconds = -1;
    f.freshness_count = 0; /* no record yet: the quantiles mean nothing */
    json_t *doc = parse(sr_status_json(s, &f, NULL));
    json_t *lag = json_object_get(doc, "lag"), *fresh = json_object_get(doc, "freshness");
    assert_true(json_is_null(json_object_get(lag, "offsets")));
    assert_true(json_is_null(json_object_get(lag, "seconds")));
    assert_true(json_is_null(json_object_get(fresh, "p50_ms")));
    assert_true(json_is_null(json_object_get(fresh, "p999_ms")));
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "trending")), 0);
    json_decref(doc);
    sr_status_destroy(s);
}

static void test_status_json_escapes_ids_and_survives_invalid_utf8(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    const char *nasty = "</script><img src=x onerror=\"alert(1)\">\\\n";
    sr_status_add_alert(s, nasty, 0.9, "HIGH", true, 1);
    sr_status_add_alert(s, "caf\xc3\xa9", 0.9, "HIGH", true, 2);  /* valid UTF-8 */
    sr_status_add_alert(s, "bad\xff\xfe-id", 0.9, "HIGH", true, 3); /* not UTF-8 */
    sr_status_figures_t f = some_figures();
    char *text = sr_status_json(s, &f, NULL);
    assert_non_null(text);
    /* ASCII only, control characters and quotes escaped */
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
    assert_non_null(strstr(text, "caf\\u00E9"));
    assert_non_null(strstr(text, "onerror=\\\"alert(1)\\\""));
    json_t *doc = parse(text);
    json_t *alerts = json_object_get(doc, "alerts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 0), "user")),
                        "bad?" "?-id"); /* split: "??-" is a trigraph */
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 1), "user")),
                        "caf\xc3\xa9");
    /* the exact bytes come back: the page shows them as text, never as markup */
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 2), "user")),
                        nasty);
    json_decref(doc);
    sr_status_destroy(s);
}

static void test_status_trending_keeps_the_best_ten_and_truncates_long_ids(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *ids[SR_STATUS_TRENDING + 3];
    double scores[SR_STATUS_TRENDING + 3];
    for (size_t k = 0; k < SR_STATUS_TRENDING + 3; k++) {
        ids[k] = k == 0 ? long_id : "i";
        scores[k] = 100.0 - (double)k;
    }
    sr_status_set_trending(s, ids, scores, SR_STATUS_TRENDING + 3);
    sr_status_alert_t alerts[SR_STATUS_ALERTS];
    sr_status_item_t trending[SR_STATUS_TRENDING];
    size_t n_trending;
    sr_status_read(s, alerts, trending, &n_trending);
    assert_int_equal(n_trending, SR_STATUS_TRENDING);
    assert_int_equal(strlen(trending[0].item_id), SR_STATUS_ID_MAX - 1);
    assert_true(trending[SR_STATUS_TRENDING - 1].score == 100.0 - (SR_STATUS_TRENDING - 1));
    /* a shorter list replaces it entirely */
    sr_status_set_trending(s, ids + 1, scores + 1, 2);
    sr_status_read(s, alerts, trending, &n_trending);
    assert_int_equal(n_trending, 2);
    assert_true(trending[0].score == 99.0);
    sr_status_destroy(s);
}

static void test_status_rate_is_events_per_second_over_the_window(void **state) {
    (void)state;
    sr_status_t *s = sr_status_new();
    assert_true(sr_status_rate(s, 1000, 0) == 0); /* one reading: no rate yet */
    assert_true(sr_status_rate(s, 2000, 500) == 500.0);
    assert_true(sr_status_rate(s, 3000, 1500) == 750.0); /* (1500 - 0) / 2 s */
    /* polls faster than the sampling interval measure against the same samples */
    assert_true(fabs(sr_status_rate(s, 3100, 1500) - 1500.0 / 2.1) < 1e-9);
    /* input stops: once the window has passed, the rate falls to 0 */
    sr_status_rate(s, 3000 + SR_STATUS_RATE_WINDOW_MS, 1500);
    assert_true(sr_status_rate(s, 3000 + 2 * SR_STATUS_RATE_WINDOW_MS, 1500) == 0);
    sr_status_destroy(s);
}

static void test_status_reco_json_found_unknown_and_failed(void **state) {
    (void)state;
    sr_status_reco_t items[] = {{"tent", 0.75}, {"<b>mug</b>", 0.5}};
    json_t *doc = parse(sr_status_reco_json("alice", items, 2, true, "redis", NULL, NULL));
    assert_true(json_is_true(json_object_get(doc, "found")));
    assert_true(json_is_null(json_object_get(doc, "error")));
    json_t *list = json_object_get(doc, "items");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "item")),
                        "<b>mug</b>");
    assert_true(json_real_value(json_object_get(json_array_get(list, 0), "score")) == 0.75);
    json_decref(doc);

    doc = parse(sr_status_reco_json("nobody", NULL, 0, false, "redis", NULL, NULL));
    assert_false(json_is_true(json_object_get(doc, "found")));
    assert_int_equal(json_array_size(json_object_get(doc, "items")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")),
                           "no recommendations for this user"));
    json_decref(doc);

    doc = parse(sr_status_reco_json("bob", NULL, 0, false, "redis", "Connection refused", NULL));
    assert_string_equal(json_string_value(json_object_get(doc, "error")), "Connection refused");
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")),
                           "could not read the recommendations"));
    json_decref(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_alerts_come_newest_first_and_keep_only_the_last),
        cmocka_unit_test(test_status_json_carries_the_figures_alerts_and_trending),
        cmocka_unit_test(test_status_json_unknown_figures_are_null),
        cmocka_unit_test(test_status_json_escapes_ids_and_survives_invalid_utf8),
        cmocka_unit_test(test_status_trending_keeps_the_best_ten_and_truncates_long_ids),
        cmocka_unit_test(test_status_rate_is_events_per_second_over_the_window),
        cmocka_unit_test(test_status_reco_json_found_unknown_and_failed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
