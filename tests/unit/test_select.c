/* sr_select_top / sr_sort_desc over rank keys: the best `keep` entries end
 * up at the front, ranked by score and then by the lower id. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "streamrec/rng.h"
#include "streamrec/select.h"

typedef struct scored {
    uint32_t id;
    float score;
} scored_t;

static bool before(const scored_t *x, const scored_t *y) {
    return x->score > y->score || (x->score == y->score && x->id < y->id);
}

static int by_rank(const void *a, const void *b) {
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* The key orders exactly as (score desc, id asc), negative scores and zero
 * included, and gives back the score and id it was made from. */
static void test_rank_key_orders_like_score_then_lower_id(void **state) {
    (void)state;
    const scored_t e[] = {{3, 2.5f}, {1, 2.5f}, {0, 1e-30f}, {9, 0.0f}, {2, -0.0f},
                          {4, -1e-30f}, {5, -3.0f}, {6, 1e30f}, {7, -1e30f}};
    const size_t n = sizeof e / sizeof *e;
    for (size_t a = 0; a < n; a++) {
        uint64_t ka = sr_rank_key(e[a].score, e[a].id);
        assert_int_equal(sr_rank_key_id(ka), e[a].id);
        assert_true(sr_rank_key_score(ka) == e[a].score);
        for (size_t b = 0; b < n; b++) {
            uint64_t kb = sr_rank_key(e[b].score, e[b].id);
            assert_int_equal(ka > kb, before(&e[a], &e[b]));
        }
    }
}

/* For many random arrays (with many tied scores) and every keep, the first
 * `keep` keys are exactly the first `keep` of a full sort, and sorting them
 * gives that order. */
static void test_select_top_keeps_exactly_the_best(void **state) {
    (void)state;
    uint64_t rng = 7;
    scored_t a[200], sorted[200];
    uint64_t keys[200];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + sr_rng_below(&rng, 200);
        for (size_t i = 0; i < n; i++) {
            a[i].id = sr_rng_below(&rng, 1000);
            a[i].score = (float)sr_rng_below(&rng, 20) - 5.0f; /* ties on purpose */
            sorted[i] = a[i];
            keys[i] = sr_rank_key(a[i].score, a[i].id);
        }
        qsort(sorted, n, sizeof *sorted, by_rank);
        size_t keep = sr_rng_below(&rng, (uint32_t)n + 1);
        sr_select_top(keys, n, keep);
        sr_sort_desc(keys, keep);
        for (size_t i = 0; i < keep; i++) {
            assert_int_equal(sr_rank_key_id(keys[i]), sorted[i].id);
            assert_true(sr_rank_key_score(keys[i]) == sorted[i].score);
        }
    }
}

static int u64_desc(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y ? 1 : 0;
}

/* sr_sort_desc against qsort for every length up to well past the
 * rank-counting sort's limit, with keys drawn from a few values so that
 * equal keys are common. */
static void test_sort_desc_orders_like_qsort_with_equal_keys(void **state) {
    (void)state;
    uint64_t rng = 11, keys[80], want[80];
    for (size_t n = 0; n <= 80; n++)
        for (int round = 0; round < 20; round++) {
            for (size_t i = 0; i < n; i++)
                keys[i] = want[i] = (uint64_t)sr_rng_below(&rng, round % 2 ? 5 : 1000) << 40;
            qsort(want, n, sizeof *want, u64_desc);
            sr_sort_desc(keys, n);
            for (size_t i = 0; i < n; i++) assert_true(keys[i] == want[i]);
        }
}

static void test_select_top_keep_at_least_n_leaves_the_array_alone(void **state) {
    (void)state;
    uint64_t keys[3] = {sr_rank_key(1.0f, 0), sr_rank_key(3.0f, 1), sr_rank_key(2.0f, 2)};
    sr_select_top(keys, 3, 3);
    assert_int_equal(sr_rank_key_id(keys[0]), 0);
    assert_int_equal(sr_rank_key_id(keys[1]), 1);
    assert_int_equal(sr_rank_key_id(keys[2]), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_key_orders_like_score_then_lower_id),
        cmocka_unit_test(test_select_top_keeps_exactly_the_best),
        cmocka_unit_test(test_select_top_keep_at_least_n_leaves_the_array_alone),
        cmocka_unit_test(test_sort_desc_orders_like_qsort_with_equal_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
