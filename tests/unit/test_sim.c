/* Incremental item-item similarity: decay, bounded space-saving summaries,
 * neighbour order, cosine values and renormalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>

#include "streamrec/sim.h"

#define HOUR_MS (3600 * 1000LL)
#define T0 (1700000000000LL)

/* half-life one hour, so tests can move the clock by whole half-lives */
static sr_sim_t *new_sim(uint32_t items) {
    sr_sim_config_t cfg;
    sr_sim_config_defaults(&cfg);
    cfg.half_life_ms = HOUR_MS;
    sr_sim_t *s = sr_sim_new(&cfg, NULL, 0);
    assert_non_null(s);
    for (uint32_t i = 0; i < items; i++) assert_int_equal(sr_sim_ensure_item(s, i), SR_OK);
    return s;
}

static void test_sim_count_accumulates_without_decay_at_same_time(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(2);
    sr_sim_observe(s, 0, 1.0f, T0);
    sr_sim_observe(s, 0, 3.0f, T0);
    assert_float_equal(sr_sim_count(s, 0), 4.0, 1e-6);
    assert_float_equal(sr_sim_count(s, 1), 0.0, 0);
    sr_sim_destroy(s);
}

static void test_sim_decay_halves_after_half_life(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(2);
    sr_sim_observe(s, 0, 8.0f, T0);
    /* the clock moves by an event on another item */
    sr_sim_observe(s, 1, 1.0f, T0 + HOUR_MS);
    assert_float_equal(sr_sim_count(s, 0), 4.0, 1e-5);
    assert_float_equal(sr_sim_count(s, 1), 1.0, 1e-6);
    sr_sim_observe(s, 1, 0.0f, T0 + 3 * HOUR_MS);
    assert_float_equal(sr_sim_count(s, 0), 1.0, 1e-6);
    assert_float_equal(sr_sim_count(s, 1), 0.25, 1e-6);
    /* a late event does not move the clock back */
    sr_sim_observe(s, 1, 0.0f, T0);
    assert_float_equal(sr_sim_count(s, 0), 1.0, 1e-6);
    sr_sim_destroy(s);
}

static void test_sim_pair_count_decays_like_item_counts(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(3);
    sr_sim_observe(s, 0, 2.0f, T0);
    sr_sim_observe(s, 1, 2.0f, T0);
    sr_sim_cooccur(s, 0, 1, 2.0f, T0);
    assert_float_equal(sr_sim_pair_count(s, 0, 1), 2.0, 1e-6);
    assert_float_equal(sr_sim_pair_count(s, 1, 0), 2.0, 1e-6); /* both summaries */
    assert_float_equal(sr_sim_pair_count(s, 0, 2), 0.0, 0);
    sr_sim_observe(s, 2, 1.0f, T0 + 2 * HOUR_MS);
    assert_float_equal(sr_sim_pair_count(s, 0, 1), 0.5, 1e-6);
    sr_sim_destroy(s);
}

/* N(a) = 2, N(b) = 8, C(a, b) = 2: sim = 2/sqrt(2*8) = 2/4 = 0.5.
 * N(c) = 1, C(a, c) = 1: sim(a, c) = 1/sqrt(2*1) = 0.70710678. */
static void test_sim_cosine_value_matches_hand_computation(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(3);
    sr_sim_observe(s, 0, 1.0f, T0);
    sr_sim_observe(s, 0, 1.0f, T0);
    sr_sim_observe(s, 1, 8.0f, T0);
    sr_sim_observe(s, 2, 1.0f, T0);
    sr_sim_cooccur(s, 0, 1, 1.0f, T0);
    sr_sim_cooccur(s, 1, 0, 1.0f, T0); /* order of the pair does not matter */
    sr_sim_cooccur(s, 0, 2, 1.0f, T0);
    sr_neighbour_t out[4];
    size_t n = sr_sim_neighbours(s, 0, out, 4);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item, 2);
    assert_float_equal(out[0].score, 0.70710678, 1e-6);
    assert_int_equal(out[1].item, 1);
    assert_float_equal(out[1].score, 0.5, 1e-6);
    /* symmetric: b's view of a is the same cosine */
    n = sr_sim_neighbours(s, 1, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].item, 0);
    assert_float_equal(out[0].score, 0.5, 1e-6);
    sr_sim_destroy(s);
}

/* Decay does not change a similarity: C, N(i), N(j) all decay alike. */
static void test_sim_cosine_is_invariant_under_decay(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(2);
    sr_sim_observe(s, 0, 1.0f, T0);
    sr_sim_observe(s, 1, 4.0f, T0);
    sr_sim_cooccur(s, 0, 1, 1.0f, T0);
    /* three half-lives later the same events again: every count is
     * 1/8 old + 1 new, so the ratio is still 1/sqrt(1*4) = 0.5 */
    sr_sim_observe(s, 0, 1.0f, T0 + 3 * HOUR_MS);
    sr_sim_observe(s, 1, 4.0f, T0 + 3 * HOUR_MS);
    sr_sim_cooccur(s, 0, 1, 1.0f, T0 + 3 * HOUR_MS);
    sr_neighbour_t out[1];
    assert_int_equal(sr_sim_neighbours(s, 0, out, 1), 1);
    assert_float_equal(out[0].score, 0.5, 1e-6);
    assert_float_equal(sr_sim_count(s, 0), 1.125, 1e-6);
    sr_sim_destroy(s);
}

static void test_sim_neighbours_sorted_desc_ties_by_id(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(8);
    for (uint32_t i = 0; i < 8; i++) sr_sim_observe(s, i, 4.0f, T0);
    /* all N = 4, so sim = C/4: partner 7 -> 0.5, 1 -> 0.25, 5 -> 0.75, 3 -> 0.5 */
    sr_sim_cooccur(s, 0, 7, 2.0f, T0);
    sr_sim_cooccur(s, 0, 1, 1.0f, T0);
    sr_sim_cooccur(s, 0, 5, 3.0f, T0);
    sr_sim_cooccur(s, 0, 3, 2.0f, T0);
    sr_neighbour_t out[8];
    size_t n = sr_sim_neighbours(s, 0, out, 8);
    assert_int_equal(n, 4);
    const uint32_t want[] = {5, 3, 7, 1};
    const float want_score[] = {0.75f, 0.5f, 0.5f, 0.25f};
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(out[k].item, want[k]);
        assert_float_equal(out[k].score, want_score[k], 1e-6);
    }
    /* a smaller max keeps the best, in the same order */
    n = sr_sim_neighbours(s, 0, out, 2);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item, 5);
    assert_int_equal(out[1].item, 3);
    n = sr_sim_neighbours(s, 0, out, 3);
    assert_int_equal(n, 3);
    assert_int_equal(out[2].item, 7);
    sr_sim_destroy(s);
}

static void test_sim_self_pair_is_ignored(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(1);
    sr_sim_observe(s, 0, 1.0f, T0);
    sr_sim_cooccur(s, 0, 0, 1.0f, T0);
    sr_neighbour_t out[2];
    assert_int_equal(sr_sim_neighbours(s, 0, out, 2), 0);
    sr_sim_destroy(s);
}

static size_t occupied_slots(const sr_sim_t *s, uint32_t i) {
    const uint32_t *items;
    const float *scores;
    sr_sim_slots(s, i, &items, &scores);
    size_t n = 0;
    for (int k = 0; k < SR_SIM_SLOTS; k++) n += items[k] != SR_SIM_NONE;
    return n;
}

static void test_sim_neighbour_list_bounded_whatever_the_partners(void **state) {
    (void)state;
    enum { PARTNERS = 1000 };
    sr_sim_t *s = new_sim(PARTNERS + 1);
    sr_sim_observe(s, 0, (float)PARTNERS, T0);
    for (uint32_t j = 1; j <= PARTNERS; j++) {
        sr_sim_observe(s, j, 1.0f, T0);
        sr_sim_cooccur(s, 0, j, 1.0f, T0);
    }
    assert_int_equal(occupied_slots(s, 0), SR_SIM_SLOTS);
    sr_neighbour_t out[PARTNERS];
    size_t n = sr_sim_neighbours(s, 0, out, PARTNERS);
    assert_true(n <= SR_SIM_SLOTS);
    /* each partner's own summary holds just item 0 */
    assert_int_equal(occupied_slots(s, 500), 1);
    sr_sim_destroy(s);
}

/* Space-saving: partner 1 co-occurs 100 times, then 1000 one-off partners
 * arrive. Each newcomer takes the smallest slot and inherits its count as
 * error, so the slot counts creep up to ~1000/31 + 1 -- still far below 100:
 * partner 1 keeps its slot, its exact count, and the top place. */
static void test_sim_frequent_partner_survives_flood_of_one_offs(void **state) {
    (void)state;
    enum { FLOOD = 1000 };
    sr_sim_t *s = new_sim(FLOOD + 2);
    sr_sim_observe(s, 0, 1100.0f, T0);
    sr_sim_observe(s, 1, 100.0f, T0);
    for (int r = 0; r < 100; r++) sr_sim_cooccur(s, 0, 1, 1.0f, T0);
    for (uint32_t j = 2; j < FLOOD + 2; j++) {
        sr_sim_observe(s, j, 1.0f, T0);
        sr_sim_cooccur(s, 0, j, 1.0f, T0);
    }
    assert_float_equal(sr_sim_pair_count(s, 0, 1), 100.0, 1e-4);
    sr_neighbour_t out[SR_SIM_SLOTS];
    size_t n = sr_sim_neighbours(s, 0, out, SR_SIM_SLOTS);
    assert_true(n >= 1);
    assert_int_equal(out[0].item, 1);
    /* 100/sqrt(1100*100) */
    assert_float_equal(out[0].score, 100.0 / sqrt(1100.0 * 100.0), 1e-5);
    /* the newest one-off sits in a recycled slot: its earned count (count
     * minus the inherited error) is its one co-occurrence, not the slot's */
    assert_float_equal(sr_sim_pair_count(s, 0, FLOOD + 1), 1.0, 1e-4);
    /* and its similarity is what it earned: 1/sqrt(1100*1) */
    bool found = false;
    for (size_t k = 0; k < n; k++)
        if (out[k].item == FLOOD + 1) {
            found = true;
            assert_float_equal(out[k].score, 1.0 / sqrt(1100.0), 1e-5);
        }
    assert_true(found);
    sr_sim_destroy(s);
}

/* 41 half-lives push the lazy scale past 2^40 and force a renormalisation.
 * Weights are powers of two, so every value is exact:
 *   before: N(a) = 2, N(b) = 2, C(a,b) = 1                 sim = 1/sqrt(4)  = 0.5
 *   41 half-lives later (unit e = 2^-41) all decay by e, then
 *   N(a) += 4e -> 6e, N(b) stays 2e, C(a,b) += 2e -> 3e     sim = 3/sqrt(12) = 0.8660254
 * A renormalisation that missed the item counts or the pair counts would
 * get the ratio wrong by a factor of about 2^41. */
static void test_sim_renormalisation_keeps_ratios(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(3);
    sr_sim_observe(s, 0, 2.0f, T0);
    sr_sim_observe(s, 1, 2.0f, T0);
    sr_sim_cooccur(s, 0, 1, 1.0f, T0);
    const int64_t t1 = T0 + 41 * HOUR_MS;
    const float e = ldexpf(1.0f, -41);
    sr_sim_observe(s, 0, 4.0f * e, t1);
    sr_sim_cooccur(s, 0, 1, 2.0f * e, t1);
    assert_float_equal(sr_sim_count(s, 0) / (double)e, 6.0, 1e-4);
    assert_float_equal(sr_sim_count(s, 1) / (double)e, 2.0, 1e-4);
    assert_float_equal(sr_sim_pair_count(s, 0, 1) / (double)e, 3.0, 1e-4);
    sr_neighbour_t out[1];
    assert_int_equal(sr_sim_neighbours(s, 0, out, 1), 1);
    assert_float_equal(out[0].score, 0.8660254, 1e-5);
    assert_int_equal(sr_sim_neighbours(s, 1, out, 1), 1);
    assert_float_equal(out[0].score, 0.8660254, 1e-5);
    /* later events still count at full weight relative to each other */
    sr_sim_observe(s, 2, 1.0f, t1 + HOUR_MS);
    assert_float_equal(sr_sim_count(s, 2), 1.0, 1e-6);
    assert_float_equal(sr_sim_count(s, 0) / (double)e, 3.0, 1e-4);
    sr_sim_destroy(s);
}

static void test_sim_ensure_item_rejects_gaps(void **state) {
    (void)state;
    sr_sim_t *s = new_sim(2);
    assert_int_equal(sr_sim_ensure_item(s, 3), SR_ERR_INVALID);
    assert_int_equal(sr_sim_items(s), 2);
    assert_int_equal(sr_sim_ensure_item(s, 1), SR_OK);
    assert_int_equal(sr_sim_items(s), 2);
    /* a new item starts with empty slots */
    assert_int_equal(sr_sim_ensure_item(s, 2), SR_OK);
    assert_int_equal(occupied_slots(s, 2), 0);
    sr_sim_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_count_accumulates_without_decay_at_same_time),
        cmocka_unit_test(test_sim_decay_halves_after_half_life),
        cmocka_unit_test(test_sim_pair_count_decays_like_item_counts),
        cmocka_unit_test(test_sim_cosine_value_matches_hand_computation),
        cmocka_unit_test(test_sim_cosine_is_invariant_under_decay),
        cmocka_unit_test(test_sim_neighbours_sorted_desc_ties_by_id),
        cmocka_unit_test(test_sim_self_pair_is_ignored),
        cmocka_unit_test(test_sim_neighbour_list_bounded_whatever_the_partners),
        cmocka_unit_test(test_sim_frequent_partner_survives_flood_of_one_offs),
        cmocka_unit_test(test_sim_renormalisation_keeps_ratios),
        cmocka_unit_test(test_sim_ensure_item_rejects_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
