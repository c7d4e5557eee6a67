/* quality: the running recall@K over published lists and the churn AUC
 * window, on cases small enough to check by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "app/quality.h"

static void test_recall_hits_misses_and_unchecked_users(void **state) {
    (void)state;
    sr_recall_t *r = sr_recall_new(1, 3, 100);
    assert_non_null(r);
    assert_true(sr_recall_sampled(r, "anyone", 6)); /* 1 in 1: everyone */
    const uint32_t shown[] = {10, 11, 12, 13};     /* k = 3: 13 is not kept */
    assert_true(sr_recall_published(r, 1, shown, 4));
    assert_int_equal(sr_recall_check(r, 2, 10, true), -1); /* nothing shown to user 2 */
    assert_int_equal(sr_recall_check(r, 1, 11, true), 1);
    assert_int_equal(sr_recall_check(r, 1, 13, true), 0);
    assert_int_equal(sr_recall_check(r, 1, UINT32_MAX, false), 0);
    assert_int_equal(sr_recall_check(r, 1, 12, false), 1);
    sr_recall_figures_t f;
    sr_recall_read(r, &f);
    assert_int_equal(f.k, 3);
    assert_int_equal(f.checks, 4);
    assert_int_equal(f.hits, 2);
    assert_int_equal(f.discovery_checks, 2);
    assert_int_equal(f.discovery_hits, 1);
    assert_int_equal(f.window_checks, 4);
    assert_int_equal(f.window_hits, 2);
    /* a new list replaces the old one; forgetting stops the checks */
    const uint32_t next[] = {13};
    assert_true(sr_recall_published(r, 1, next, 1));
    assert_int_equal(sr_recall_check(r, 1, 13, true), 1);
    sr_recall_forget(r, 1);
    assert_int_equal(sr_recall_check(r, 1, 13, true), -1);
    sr_recall_destroy(r);
}

/* window 2: the oldest check leaves, the totals keep counting */
static void test_recall_window_keeps_only_the_last_checks(void **state) {
    (void)state;
    sr_recall_t *r = sr_recall_new(1, 2, 2);
    const uint32_t shown[] = {5, 6};
    assert_true(sr_recall_published(r, 7, shown, 2));
    assert_int_equal(sr_recall_check(r, 7, 5, true), 1);  /* hit, discovery */
    assert_int_equal(sr_recall_check(r, 7, 9, false), 0); /* miss */
    assert_int_equal(sr_recall_check(r, 7, 9, true), 0);   /* miss, discovery: the hit leaves */
    sr_recall_figures_t f;
    sr_recall_read(r, &f);
    assert_int_equal(f.checks, 3);
    assert_int_equal(f.hits, 1);
    assert_int_equal(f.window_checks, 2);
    assert_int_equal(f.window_hits, 0);
    assert_int_equal(f.window_discovery_checks, 1);
    assert_int_equal(f.window_discovery_hits, 0);
    assert_int_equal(f.discovery_checks, 2);
    sr_recall_destroy(r);
}

/* about one user id in N is sampled, and always the same ones */
static void test_recall_sample_is_about_one_in_n_and_stable(void **state) {
    (void)state;
    sr_recall_t *r = sr_recall_new(16, 20, 10);
    int sampled = 0;
    for (int u = 0; u < 16000; u++) {
        char id[16];
        int len = snprintf(id, sizeof id, "u%d", u);
        bool s = sr_recall_sampled(r, id, (size_t)len);
        assert_int_equal(s, sr_recall_sampled(r, id, (size_t)len));
        sampled += s;
    }
    assert_in_range(sampled, 800, 1200);
    sr_recall_destroy(r);
}

/* positives 0.9, 0.7; negatives 0.8, 0.1: 3 of the 4 pairs ordered right */
static void test_auc_window_hand_checked_and_evicts_oldest(void **state) {
    (void)state;
    sr_auc_window_t *w = sr_auc_window_new(4);
    sr_auc_figures_t f;
    assert_true(sr_auc_window_read(w, &f));
    assert_true(isnan(f.auc)); /* empty */
    const sr_churn_label_t first[] = {{.probability = 0.9f, .churned = 1},
                                      {.probability = 0.8f, .churned = 0}};
    sr_auc_window_add(w, first, 2);
    assert_true(sr_auc_window_read(w, &f));
    assert_float_equal(f.auc, 1.0, 1e-9);
    const sr_churn_label_t more[] = {{.probability = 0.7f, .churned = 1},
                                     {.probability = 0.1f, .churned = 0}};
    sr_auc_window_add(w, more, 2);
    assert_true(sr_auc_window_read(w, &f));
    assert_float_equal(f.auc, 0.75, 1e-9);
    assert_int_equal(f.n, 4);
    assert_int_equal(f.positives, 2);
    /* two more push 0.9/1 and 0.8/0 out: left 0.7/1, 0.1/0, 0.2/1, 0.2/0 */
    const sr_churn_label_t tied[] = {{.probability = 0.2f, .churned = 1},
                                     {.probability = 0.2f, .churned = 0}};
    sr_auc_window_add(w, tied, 2);
    assert_true(sr_auc_window_read(w, &f));
    /* pairs: (0.7,0.1) 1, (0.7,0.2) 1, (0.2,0.1) 1, (0.2,0.2) tie 1/2 -> 3.5/4 */
    assert_float_equal(f.auc, 0.875, 1e-9);
    assert_int_equal(f.n, 4);
    assert_int_equal(f.churned_total, 3);
    assert_int_equal(f.returned_total, 3);
    sr_auc_window_destroy(w);
}

static void test_auc_window_one_class_only_is_nan(void **state) {
    (void)state;
    sr_auc_window_t *w = sr_auc_window_new(10);
    const sr_churn_label_t all_churned[] = {{.probability = 0.9f, .churned = 1},
                                            {.probability = 0.3f, .churned = 1}};
    sr_auc_window_add(w, all_churned, 2);
    sr_auc_figures_t f;
    assert_true(sr_auc_window_read(w, &f));
    assert_true(isnan(f.auc));
    assert_int_equal(f.positives, 2);
    sr_auc_window_destroy(w);
    sr_auc_window_destroy(NULL);
    sr_recall_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_hits_misses_and_unchecked_users),
        cmocka_unit_test(test_recall_window_keeps_only_the_last_checks),
        cmocka_unit_test(test_recall_sample_is_about_one_in_n_and_stable),
        cmocka_unit_test(test_auc_window_hand_checked_and_evicts_oldest),
        cmocka_unit_test(test_auc_window_one_class_only_is_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
