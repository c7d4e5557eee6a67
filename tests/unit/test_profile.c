/* User profile (and the decay helpers it is built on). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "streamrec/decay.h"
#include "streamrec/profile.h"

#define MINUTE_MS (60 * 1000LL)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)
#define T0 (1700000000000LL) /* an ordinary epoch-ms time */

static sr_profile_config_t cfg(void) {
    sr_profile_config_t c;
    sr_profile_config_defaults(&c);
    return c;
}

static bool view(sr_profile_t *p, const sr_profile_config_t *c, uint32_t item, int64_t ts) {
    return sr_profile_update(p, c, SR_EVENT_VIEW, 1.0f, item, SR_PROFILE_NONE, 0, false, ts);
}

static void test_decay_factor_halves_per_half_life(void **state) {
    (void)state;
    assert_float_equal(sr_decay_factor(DAY_MS, (double)DAY_MS), 0.5, 1e-7);
    assert_float_equal(sr_decay_factor(3 * DAY_MS, (double)DAY_MS), 0.125, 1e-7);
    assert_float_equal(sr_decay_factor(0, (double)DAY_MS), 1.0, 0);
    assert_float_equal(sr_decay_factor(-5, (double)DAY_MS), 1.0, 0);
}

static void test_decay_clock_never_moves_back(void **state) {
    (void)state;
    sr_decay_t d;
    bool renorm;
    sr_decay_init(&d, HOUR_MS);
    assert_float_equal(sr_decay_advance(&d, T0, &renorm), 1.0, 0);
    assert_float_equal(sr_decay_advance(&d, T0 + 2 * HOUR_MS, &renorm), 4.0, 1e-12);
    assert_false(renorm);
    /* a late timestamp keeps the newest time's scale */
    assert_float_equal(sr_decay_advance(&d, T0 + HOUR_MS, &renorm), 4.0, 1e-12);
    assert_int_equal(d.now_ms, T0 + 2 * HOUR_MS);
    /* past 2^40 the owner is told to renormalise */
    sr_decay_advance(&d, T0 + 41 * HOUR_MS, &renorm);
    assert_true(renorm);
    sr_decay_renormed(&d);
    assert_float_equal(d.scale, 1.0, 0);
    assert_int_equal(d.origin_ms, T0 + 41 * HOUR_MS);
}

static void test_profile_first_event_opens_a_session(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    assert_true(view(&p, &c, 1, T0));
    assert_int_equal(p.sessions, 1);
    assert_int_equal(p.first_seen_s, T0 / 1000);
    assert_int_equal(p.last_seen_ms, T0);
}

static void test_profile_session_gap_exactly_at_gap_is_same_session(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 1, T0);
    assert_false(view(&p, &c, 2, T0 + 30 * MINUTE_MS));
    assert_int_equal(p.sessions, 1);
    /* the 30 minutes count toward the session's length */
    assert_float_equal(p.session_seconds, 1800.0, 1e-3);
}

static void test_profile_session_gap_just_over_opens_new_session(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 1, T0);
    view(&p, &c, 2, T0 + 10 * MINUTE_MS);
    assert_true(view(&p, &c, 3, T0 + 40 * MINUTE_MS + 1));
    assert_int_equal(p.sessions, 2);
    /* only the first session's 10 minutes; the gap is not session time */
    assert_float_equal(p.session_seconds, 600.0, 1e-3);
}

static void test_profile_activity_halves_after_one_half_life(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    sr_profile_update(&p, &c, SR_EVENT_PURCHASE, 4.0f, 1, SR_PROFILE_NONE, 0, false, T0);
    assert_float_equal(sr_profile_activity(&p, &c, 0, T0), 4.0, 1e-6);
    /* half-lives 1 d, 7 d, 30 d */
    assert_float_equal(sr_profile_activity(&p, &c, 0, T0 + DAY_MS), 2.0, 1e-5);
    assert_float_equal(sr_profile_activity(&p, &c, 1, T0 + 7 * DAY_MS), 2.0, 1e-5);
    assert_float_equal(sr_profile_activity(&p, &c, 2, T0 + 30 * DAY_MS), 2.0, 1e-5);
    assert_float_equal(sr_profile_activity(&p, &c, 0, T0 + 2 * DAY_MS), 1.0, 1e-5);
    /* a second event one half-life later: 4 * 1/2 + 1 */
    view(&p, &c, 2, T0 + DAY_MS);
    assert_float_equal(p.activity[0], 3.0, 1e-5);
    assert_float_equal(sr_profile_activity(&p, &c, 0, T0 + 2 * DAY_MS), 1.5, 1e-5);
}

static void test_profile_activity_ignores_negative_weights(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 1, T0);
    sr_profile_update(&p, &c, SR_EVENT_REMOVE_FROM_CART, -2.0f, 1, SR_PROFILE_NONE, 0, false, T0);
    assert_float_equal(p.activity[0], 1.0, 1e-6);
    assert_int_equal(p.counts[SR_EVENT_REMOVE_FROM_CART], 1);
}

static void test_profile_recent_is_newest_first_and_deduplicated(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 10, T0);
    view(&p, &c, 20, T0 + 1000);
    view(&p, &c, 10, T0 + 2000);
    view(&p, &c, 30, T0 + 3000);
    uint32_t items[SR_PROFILE_RECENT_MAX], ts[SR_PROFILE_RECENT_MAX];
    size_t n = sr_profile_recent(&p, items, ts, SR_PROFILE_RECENT_MAX);
    assert_int_equal(n, 3);
    assert_int_equal(items[0], 30);
    assert_int_equal(items[1], 10);
    assert_int_equal(items[2], 20);
    /* the newest time of a repeated item is the one reported */
    assert_int_equal(ts[0], (T0 + 3000) / 1000);
    assert_int_equal(ts[1], (T0 + 2000) / 1000);
    assert_int_equal(ts[2], (T0 + 1000) / 1000);
    /* max bounds the output */
    assert_int_equal(sr_profile_recent(&p, items, NULL, 2), 2);
    assert_int_equal(items[0], 30);
    assert_int_equal(items[1], 10);
}

static void test_profile_recent_ring_wraps_keeping_the_newest(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    const uint32_t total = SR_PROFILE_RECENT_MAX + 5;
    for (uint32_t k = 0; k < total; k++) view(&p, &c, 100 + k, T0 + k * 1000);
    uint32_t items[SR_PROFILE_RECENT_MAX];
    size_t n = sr_profile_recent(&p, items, NULL, SR_PROFILE_RECENT_MAX);
    assert_int_equal(n, SR_PROFILE_RECENT_MAX);
    for (size_t k = 0; k < n; k++) assert_int_equal(items[k], 100 + total - 1 - k);
    /* the five oldest fell out */
    for (uint32_t k = 0; k < 5; k++) assert_false(sr_profile_seen_recently(&p, 100 + k));
    for (uint32_t k = 5; k < total; k++) assert_true(sr_profile_seen_recently(&p, 100 + k));
}

static void test_profile_repeated_head_view_keeps_other_items(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    for (uint32_t k = 0; k < SR_PROFILE_RECENT_MAX; k++) view(&p, &c, k, T0 + k * 1000);
    uint32_t head = SR_PROFILE_RECENT_MAX - 1;
    for (int r = 0; r < 3 * SR_PROFILE_RECENT_MAX; r++)
        view(&p, &c, head, T0 + 100000 + r * 1000);
    for (uint32_t k = 0; k < SR_PROFILE_RECENT_MAX; k++) assert_true(sr_profile_seen_recently(&p, k));
    uint32_t items[SR_PROFILE_RECENT_MAX], ts[SR_PROFILE_RECENT_MAX];
    assert_int_equal(sr_profile_recent(&p, items, ts, SR_PROFILE_RECENT_MAX), SR_PROFILE_RECENT_MAX);
    assert_int_equal(items[0], head);
    /* the head's time is refreshed to its latest view */
    assert_int_equal(ts[0], (T0 + 100000 + (3 * SR_PROFILE_RECENT_MAX - 1) * 1000) / 1000);
}

static void test_profile_seen_recently_on_partial_ring(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    /* slots beyond recent_len hold zeros: item 0 must not count as seen */
    assert_false(sr_profile_seen_recently(&p, 0));
    view(&p, &c, 5, T0);
    assert_true(sr_profile_seen_recently(&p, 5));
    assert_false(sr_profile_seen_recently(&p, 0));
    assert_false(sr_profile_purchased(&p, 0));
}

static void test_profile_purchased_filter(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 7, T0);
    sr_profile_update(&p, &c, SR_EVENT_ADD_TO_CART, 3.0f, 8, SR_PROFILE_NONE, 0, false, T0 + 1);
    assert_false(sr_profile_purchased(&p, 7));
    assert_false(sr_profile_purchased(&p, 8));
    sr_profile_update(&p, &c, SR_EVENT_PURCHASE, 5.0f, 8, SR_PROFILE_NONE, 19.5, true, T0 + 2);
    sr_profile_update(&p, &c, SR_EVENT_PURCHASE, 5.0f, 8, SR_PROFILE_NONE, 0.5, true, T0 + 3);
    assert_true(sr_profile_purchased(&p, 8));
    assert_false(sr_profile_purchased(&p, 7));
    assert_int_equal(p.purchased_len, 1); /* a repeat purchase is not stored twice */
    assert_float_equal(p.spend, 20.0, 1e-5);
    assert_int_equal(p.counts[SR_EVENT_PURCHASE], 2);
    /* the filter keeps the last SR_PROFILE_PURCHASED_MAX purchases */
    for (uint32_t k = 0; k < SR_PROFILE_PURCHASED_MAX; k++)
        sr_profile_update(&p, &c, SR_EVENT_PURCHASE, 5.0f, 100 + k, SR_PROFILE_NONE, 0, false,
                          T0 + 10 + k);
    assert_false(sr_profile_purchased(&p, 8));
    for (uint32_t k = 0; k < SR_PROFILE_PURCHASED_MAX; k++)
        assert_true(sr_profile_purchased(&p, 100 + k));
}

static void test_profile_remove_from_cart_not_in_recent(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    sr_profile_update(&p, &c, SR_EVENT_REMOVE_FROM_CART, 0.0f, 3, SR_PROFILE_NONE, 0, false, T0);
    assert_false(sr_profile_seen_recently(&p, 3));
    assert_int_equal(p.recent_len, 0);
    assert_int_equal(p.events, 1);
}

static void test_profile_late_event_does_not_move_last_seen_back(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 1, T0);
    view(&p, &c, 2, T0 + 10 * MINUTE_MS);
    float session_s = p.session_seconds;
    assert_false(view(&p, &c, 3, T0 + 5 * MINUTE_MS));
    assert_int_equal(p.last_seen_ms, T0 + 10 * MINUTE_MS);
    assert_int_equal(p.first_seen_s, T0 / 1000);
    assert_int_equal(p.sessions, 1);
    assert_float_equal(p.session_seconds, session_s, 0);
    assert_int_equal(p.counts[SR_EVENT_VIEW], 3);
    /* counted at the newest time: no decay applied, weight added in full */
    assert_float_equal(p.activity[0],
                       1.0 * sr_decay_factor(10 * MINUTE_MS, (double)DAY_MS) + 1.0 + 1.0, 1e-5);
    /* even a very late event does not open a session or rewind the clock */
    assert_false(view(&p, &c, 4, T0 - 7 * DAY_MS));
    assert_int_equal(p.last_seen_ms, T0 + 10 * MINUTE_MS);
    assert_int_equal(p.sessions, 1);
}

static void test_profile_category_top2_keeps_the_strongest(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    assert_int_equal(SR_PROFILE_TOP_CATEGORIES, 2);
    /* same instant: no decay between updates */
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 5.0f, 1, 50, 0, false, T0);
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 3.0f, 1, 30, 0, false, T0);
    /* 10 (score 1) beats nobody: the weakest kept has 3 */
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 1.0f, 1, 10, 0, false, T0);
    /* 40 beats the weakest (30, score 3) and takes its slot */
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 4.0f, 1, 40, 0, false, T0);
    /* an existing category accumulates */
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 1.5f, 1, 50, 0, false, T0);
    float score_of[64] = {0};
    bool present[64] = {false};
    for (int k = 0; k < SR_PROFILE_TOP_CATEGORIES; k++) {
        assert_true(p.category[k] < 64);
        present[p.category[k]] = true;
        score_of[p.category[k]] = p.category_score[k];
    }
    assert_true(present[50] && present[40]);
    assert_false(present[30]);
    assert_false(present[10]);
    assert_float_equal(score_of[50], 6.5, 1e-6);
    assert_float_equal(score_of[40], 4.0, 1e-6);
}

static void test_profile_category_scores_decay(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 4.0f, 1, 7, 0, false, T0);
    /* one category half-life (7 d) later: 4 -> 2, then + 1 */
    sr_profile_update(&p, &c, SR_EVENT_VIEW, 1.0f, 1, 7, 0, false, T0 + 7 * DAY_MS);
    for (int k = 0; k < SR_PROFILE_TOP_CATEGORIES; k++)
        if (p.category[k] == 7)
            assert_float_equal(p.category_score[k], 3.0, 1e-5);
}

static void test_profile_events_counter_counts_every_event(void **state) {
    (void)state;
    sr_profile_config_t c = cfg();
    sr_profile_t p;
    sr_profile_init(&p);
    view(&p, &c, 1, T0);
    view(&p, &c, 1, T0 - 1000);                      /* late */
    view(&p, &c, SR_PROFILE_NONE, T0 + 1000);         /* no item */
    sr_profile_update(&p, &c, SR_EVENT_PURCHASE, 5.0f, 2, SR_PROFILE_NONE, 0, false, T0 + DAY_MS);
    assert_int_equal(p.events, 4);
    assert_int_equal(p.counts[SR_EVENT_VIEW], 3);
    assert_int_equal(p.counts[SR_EVENT_PURCHASE], 1);
    /* the item-less view touched neither ring */
    assert_false(sr_profile_seen_recently(&p, SR_PROFILE_NONE));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decay_factor_halves_per_half_life),
        cmocka_unit_test(test_decay_clock_never_moves_back),
        cmocka_unit_test(test_profile_first_event_opens_a_session),
        cmocka_unit_test(test_profile_session_gap_exactly_at_gap_is_same_session),
        cmocka_unit_test(test_profile_session_gap_just_over_opens_new_session),
        cmocka_unit_test(test_profile_activity_halves_after_one_half_life),
        cmocka_unit_test(test_profile_activity_ignores_negative_weights),
        cmocka_unit_test(test_profile_recent_is_newest_first_and_deduplicated),
        cmocka_unit_test(test_profile_recent_ring_wraps_keeping_the_newest),
        cmocka_unit_test(test_profile_repeated_head_view_keeps_other_items),
        cmocka_unit_test(test_profile_seen_recently_on_partial_ring),
        cmocka_unit_test(test_profile_purchased_filter),
        cmocka_unit_test(test_profile_remove_from_cart_not_in_recent),
        cmocka_unit_test(test_profile_late_event_does_not_move_last_seen_back),
        cmocka_unit_test(test_profile_category_top2_keeps_the_strongest),
        cmocka_unit_test(test_profile_category_scores_decay),
        cmocka_unit_test(test_profile_events_counter_counts_every_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
