/* Trending items: decayed counts and the bounded top list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "streamrec/trending.h"

#define HOUR_MS (3600 * 1000LL)
#define T0 (1700000000000LL)

static sr_trending_t *new_trending(int size, uint32_t items) {
    sr_trending_config_t cfg;
    sr_trending_config_defaults(&cfg);
    cfg.size = size;
    cfg.half_life_ms = HOUR_MS;
    sr_trending_t *t = sr_trending_new(&cfg, NULL, 0);
    assert_non_null(t);
    for (uint32_t i = 0; i < items; i++) assert_int_equal(sr_trending_ensure_item(t, i), SR_OK);
    return t;
}

static void test_trending_top_holds_heaviest_in_order(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(3, 5);
    const float w[5] = {5, 1, 4, 2, 3};
    for (uint32_t i = 0; i < 5; i++) sr_trending_observe(t, i, w[i], T0);
    sr_neighbour_t out[8];
    size_t n = sr_trending_top(t, out, 8);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].item, 0);
    assert_float_equal(out[0].score, 5.0, 1e-6);
    assert_int_equal(out[1].item, 2);
    assert_float_equal(out[1].score, 4.0, 1e-6);
    assert_int_equal(out[2].item, 4);
    assert_float_equal(out[2].score, 3.0, 1e-6);
    sr_trending_destroy(t);
}

/* An unlisted item that keeps growing gets in once it beats the minimum. */
static void test_trending_accumulating_item_displaces_the_minimum(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(2, 3);
    sr_trending_observe(t, 0, 5.0f, T0);
    sr_trending_observe(t, 1, 3.0f, T0);
    sr_trending_observe(t, 2, 2.0f, T0); /* 2 < 3: stays out */
    sr_neighbour_t out[3];
    assert_int_equal(sr_trending_top(t, out, 3), 2);
    assert_int_equal(out[1].item, 1);
    sr_trending_observe(t, 2, 2.0f, T0); /* 4 > 3: replaces item 1 */
    assert_int_equal(sr_trending_top(t, out, 3), 2);
    assert_int_equal(out[0].item, 0);
    assert_int_equal(out[1].item, 2);
    assert_float_equal(out[1].score, 4.0, 1e-6);
    /* the listed item grows past the head; the min is tracked */
    sr_trending_observe(t, 2, 3.0f, T0); /* 7: now item 0 (5) is the minimum */
    sr_trending_observe(t, 1, 3.0f, T0); /* kept its 3, now 6 > 5: replaces item 0 */
    assert_int_equal(sr_trending_top(t, out, 3), 2);
    assert_int_equal(out[0].item, 2);
    assert_float_equal(out[0].score, 7.0, 1e-6);
    assert_int_equal(out[1].item, 1);
    assert_float_equal(out[1].score, 6.0, 1e-6);
    sr_trending_destroy(t);
}

static void test_trending_decay_lets_recent_item_overtake_old_heavy_one(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(5, 2);
    sr_trending_observe(t, 0, 10.0f, T0);
    sr_trending_observe(t, 1, 3.0f, T0 + 2 * HOUR_MS);
    /* 10 decayed two half-lives = 2.5 < 3 */
    assert_float_equal(sr_trending_count(t, 0), 2.5, 1e-5);
    assert_float_equal(sr_trending_count(t, 1), 3.0, 1e-5);
    sr_neighbour_t out[2];
    assert_int_equal(sr_trending_top(t, out, 2), 2);
    assert_int_equal(out[0].item, 1);
    assert_float_equal(out[0].score, 3.0, 1e-5);
    assert_int_equal(out[1].item, 0);
    assert_float_equal(out[1].score, 2.5, 1e-5);
    sr_trending_destroy(t);
}

/* Full list: a newcomer is compared with decayed counts, so a fresh small
 * burst beats a stale big one. */
static void test_trending_full_list_admits_fresh_item_over_stale(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(2, 3);
    sr_trending_observe(t, 0, 8.0f, T0);
    sr_trending_observe(t, 1, 8.0f, T0 + 3 * HOUR_MS); /* item 0 now 1.0 */
    sr_trending_observe(t, 2, 2.0f, T0 + 3 * HOUR_MS);
    sr_neighbour_t out[3];
    assert_int_equal(sr_trending_top(t, out, 3), 2);
    assert_int_equal(out[0].item, 1);
    assert_int_equal(out[1].item, 2);
    sr_trending_destroy(t);
}

static void test_trending_list_bounded_by_size(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(10, 500);
    for (uint32_t i = 0; i < 500; i++) sr_trending_observe(t, i, (float)(i % 97) + 1.0f, T0);
    sr_neighbour_t out[SR_TRENDING_MAX];
    size_t n = sr_trending_top(t, out, SR_TRENDING_MAX);
    assert_int_equal(n, 10);
    /* the heaviest weight is 97 (i % 97 == 96): items 96, 193, 290, 387, 484 */
    const uint32_t heaviest[] = {96, 193, 290, 387, 484};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(out[k].item, heaviest[k]);
        assert_float_equal(out[k].score, 97.0, 1e-5);
    }
    for (size_t k = 5; k < 10; k++) assert_float_equal(out[k].score, 96.0, 1e-5);
    for (size_t k = 1; k < n; k++) assert_true(out[k - 1].score >= out[k].score);
    /* max smaller than the list truncates */
    assert_int_equal(sr_trending_top(t, out, 3), 3);
    assert_int_equal(out[2].item, 290);
    sr_trending_destroy(t);
}

static void test_trending_ties_broken_by_lower_id(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(4, 4);
    sr_trending_observe(t, 3, 2.0f, T0);
    sr_trending_observe(t, 1, 2.0f, T0);
    sr_trending_observe(t, 2, 2.0f, T0);
    sr_trending_observe(t, 0, 1.0f, T0);
    sr_neighbour_t out[4];
    assert_int_equal(sr_trending_top(t, out, 4), 4);
    assert_int_equal(out[0].item, 1);
    assert_int_equal(out[1].item, 2);
    assert_int_equal(out[2].item, 3);
    assert_int_equal(out[3].item, 0);
    sr_trending_destroy(t);
}

static void test_trending_survives_renormalisation(void **state) {
    (void)state;
    sr_trending_t *t = new_trending(3, 2);
    sr_trending_observe(t, 0, 4.0f, T0);
    /* 45 half-lives: past the 2^40 renormalisation point */
    sr_trending_observe(t, 1, 1.0f, T0 + 45 * HOUR_MS);
    assert_float_equal(sr_trending_count(t, 1), 1.0, 1e-6);
    assert_float_equal(sr_trending_count(t, 0), 4.0 / 35184372088832.0, 1e-18); /* 4 / 2^45 */
    sr_trending_observe(t, 1, 1.0f, T0 + 46 * HOUR_MS);
    assert_float_equal(sr_trending_count(t, 1), 1.5, 1e-6);
    sr_neighbour_t out[2];
    assert_int_equal(sr_trending_top(t, out, 2), 2);
    assert_int_equal(out[0].item, 1);
    sr_trending_destroy(t);
}

static void test_trending_new_rejects_bad_size(void **state) {
    (void)state;
    sr_trending_config_t cfg;
    sr_trending_config_defaults(&cfg);
    char errstr[128] = "";
    cfg.size = 0;
    assert_null(sr_trending_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "trending.size"));
    cfg.size = SR_TRENDING_MAX + 1;
    assert_null(sr_trending_new(&cfg, NULL, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trending_top_holds_heaviest_in_order),
        cmocka_unit_test(test_trending_accumulating_item_displaces_the_minimum),
        cmocka_unit_test(test_trending_decay_lets_recent_item_overtake_old_heavy_one),
        cmocka_unit_test(test_trending_full_list_admits_fresh_item_over_stale),
        cmocka_unit_test(test_trending_list_bounded_by_size),
        cmocka_unit_test(test_trending_ties_broken_by_lower_id),
        cmocka_unit_test(test_trending_survives_renormalisation),
        cmocka_unit_test(test_trending_new_rejects_bad_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
