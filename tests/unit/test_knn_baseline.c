/* Plain streaming item-kNN baseline: exact counts, cosine scores, history. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"
#include "streamrec/knn_baseline.h"

static void see(sr_knn_t *b, const char *user, const char *item) {
    assert_int_equal(sr_knn_observe(b, sr_str_c(user), sr_str_c(item)), SR_OK);
}

static uint32_t id(const sr_knn_t *b, const char *item) {
    uint32_t i = sr_knn_item(b, sr_str_c(item));
    assert_int_not_equal(i, UINT32_MAX);
    return i;
}

/* u1: A B C   u2: A B   u3: C D     (history 3)
 * N: A 2, B 2, C 2, D 1
 * C(A,B) = 2 (u1, u2), C(A,C) = 1, C(B,C) = 1, C(C,D) = 1
 *
 * u2 (history B, A):
 *   C: C(B,C)/sqrt(2*2) + C(A,C)/sqrt(2*2) = 0.5 + 0.5 = 1.0; A, B are history
 *   -> [C]
 * u3 (history D, C):
 *   A: C(C,A)/sqrt(2*2) = 0.5;  B: C(C,B)/sqrt(2*2) = 0.5  (tie: lower id, A)
 *   -> [A, B]
 * u1 (history C, B, A):
 *   D: C(C,D)/sqrt(2*1) = 0.707 -> [D] */
static void test_knn_ranking_matches_hand_computation(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(3, 5);
    assert_non_null(b);
    see(b, "u1", "A");
    see(b, "u1", "B");
    see(b, "u1", "C");
    see(b, "u2", "A");
    see(b, "u2", "B");
    see(b, "u3", "C");
    see(b, "u3", "D");
    const uint32_t *items;
    size_t n = sr_knn_recommend(b, sr_str_c("u2"), &items);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], id(b, "C"));
    n = sr_knn_recommend(b, sr_str_c("u3"), &items);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], id(b, "A"));
    assert_int_equal(items[1], id(b, "B"));
    n = sr_knn_recommend(b, sr_str_c("u1"), &items);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], id(b, "D"));
    sr_knn_destroy(b);
}

/* The cosine normalisation, not the raw count, ranks:
 *   x1, x2: S P      y: S R      p1..p7: P      z: S
 *   N(S) = 4, N(P) = 9, N(R) = 1; C(S,P) = 2, C(S,R) = 1
 *   for z: P = 2/sqrt(4*9) = 0.333,  R = 1/sqrt(4*1) = 0.5  -> [R, P]
 * (raw co-occurrence counts would put P first). */
static void test_knn_cosine_prefers_rare_exclusive_partner(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(5, 5);
    see(b, "x1", "S");
    see(b, "x1", "P");
    see(b, "x2", "S");
    see(b, "x2", "P");
    see(b, "y", "S");
    see(b, "y", "R");
    char user[8];
    for (int k = 1; k <= 7; k++) {
        user[0] = 'p', user[1] = (char)('0' + k), user[2] = '\0';
        see(b, user, "P");
    }
    see(b, "z", "S");
    const uint32_t *items;
    size_t n = sr_knn_recommend(b, sr_str_c("z"), &items);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], id(b, "R"));
    assert_int_equal(items[1], id(b, "P"));
    sr_knn_destroy(b);
}

/* history = 2: each item pairs with the last two distinct items only.
 *   u: A B C D   -> pairs A-B, A-C, B-C, B-D, C-D (not A-D)
 *   w: A         -> candidates B, C; never D */
static void test_knn_history_bounds_the_pairs(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(2, 10);
    see(b, "u", "A");
    see(b, "u", "B");
    see(b, "u", "C");
    see(b, "u", "D");
    see(b, "w", "A");
    const uint32_t *items;
    size_t n = sr_knn_recommend(b, sr_str_c("w"), &items);
    /* B arrives to [A]: B-A. C arrives to [B, A]: C-B, C-A. D arrives to
     * [C, B]: D-C, D-B. So A's partners are B and C, not D. */
    assert_int_equal(n, 2);
    for (size_t k = 0; k < n; k++) assert_int_not_equal(items[k], id(b, "D"));
    sr_knn_destroy(b);
}

static void test_knn_history_items_are_excluded(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(10, 10);
    see(b, "u", "A");
    see(b, "u", "B");
    see(b, "u", "C");
    const uint32_t *items;
    /* every item that co-occurs with u's items is in u's own history */
    assert_int_equal(sr_knn_recommend(b, sr_str_c("u"), &items), 0);
    see(b, "v", "C");
    see(b, "v", "E");
    size_t n = sr_knn_recommend(b, sr_str_c("u"), &items);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], id(b, "E"));
    /* asking twice gives the same answer (scratch is cleared) */
    n = sr_knn_recommend(b, sr_str_c("u"), &items);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], id(b, "E"));
    sr_knn_destroy(b);
}

/* A repeat moves the item to the front and pairs it again:
 *   u: A B A -> C(A,B) = 2, history [A, B]
 *   v: B X   -> C(B,X) = 1
 *   t: B     -> N(B) = 3, N(A) = 2, N(X) = 1
 *   for t (history B): A = 2/sqrt(3*2) = 0.816, X = 1/sqrt(3*1) = 0.577 */
static void test_knn_repeat_counts_pair_again(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(4, 10);
    see(b, "u", "A");
    see(b, "u", "B");
    see(b, "u", "A");
    see(b, "v", "B");
    see(b, "v", "X");
    see(b, "t", "B");
    const uint32_t *items;
    size_t n = sr_knn_recommend(b, sr_str_c("t"), &items);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], id(b, "A"));
    assert_int_equal(items[1], id(b, "X"));
    /* the repeat moved A, it did not drop B: u's next item pairs with both */
    see(b, "u", "C");
    see(b, "s", "B");
    n = sr_knn_recommend(b, sr_str_c("s"), &items);
    bool has_c = false;
    for (size_t k = 0; k < n; k++) has_c |= items[k] == id(b, "C");
    assert_true(has_c);
    sr_knn_destroy(b);
}

static void test_knn_top_k_bounded(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(32, 3);
    char item[8];
    for (int k = 0; k < 10; k++) {
        item[0] = 'i', item[1] = (char)('0' + k), item[2] = '\0';
        see(b, "u", item);
    }
    see(b, "w", "i0");
    const uint32_t *items;
    size_t n = sr_knn_recommend(b, sr_str_c("w"), &items);
    assert_int_equal(n, 3);
    /* all partners of i0 tie (each 1/sqrt(2*1)): the lowest ids win */
    assert_int_equal(items[0], id(b, "i1"));
    assert_int_equal(items[1], id(b, "i2"));
    assert_int_equal(items[2], id(b, "i3"));
    sr_knn_destroy(b);
}

static void test_knn_unknown_user_gets_nothing(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(5, 5);
    const uint32_t *items = NULL;
    assert_int_equal(sr_knn_recommend(b, sr_str_c("nobody"), &items), 0);
    see(b, "u", "A");
    assert_int_equal(sr_knn_recommend(b, sr_str_c("nobody"), &items), 0);
    assert_int_equal(sr_knn_item(b, sr_str_c("Z")), UINT32_MAX);
    sr_knn_destroy(b);
}

/* An event the baseline cannot take (empty or over-long id, or one with a
 * NUL byte) is refused before it touches anything: the user stays unknown. */
static void test_knn_rejected_event_leaves_user_unknown(void **state) {
    (void)state;
    sr_knn_t *b = sr_knn_new(5, 5);
    char *long_id = malloc(SR_INTERN_MAX_LEN + 2);
    memset(long_id, 'x', SR_INTERN_MAX_LEN + 1);
    long_id[SR_INTERN_MAX_LEN + 1] = '\0';
    assert_int_not_equal(sr_knn_observe(b, sr_str_c("fresh"), sr_str_c(long_id)), SR_OK);
    assert_int_not_equal(sr_knn_observe(b, sr_str_c("fresh2"), sr_str_c("")), SR_OK);
    assert_int_not_equal(sr_knn_observe(b, sr_str_c(""), sr_str_c("A")), SR_OK);
    assert_int_not_equal(sr_knn_observe(b, sr_str_c("fresh3"), (sr_str_t){"A\0B", 3}), SR_OK);
    const uint32_t *items;
    assert_int_equal(sr_knn_recommend(b, sr_str_c("fresh"), &items), 0);
    assert_int_equal(sr_knn_recommend(b, sr_str_c("fresh2"), &items), 0);
    assert_int_equal(sr_knn_recommend(b, sr_str_c("fresh3"), &items), 0);
    assert_int_equal(sr_knn_item(b, sr_str_c("A")), UINT32_MAX);
    /* and the user works normally afterwards */
    see(b, "fresh", "A");
    see(b, "fresh", "B");
    see(b, "other", "A");
    size_t n = sr_knn_recommend(b, sr_str_c("other"), &items);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], id(b, "B"));
    free(long_id);
    sr_knn_destroy(b);
}

static void test_knn_new_rejects_bad_arguments(void **state) {
    (void)state;
    assert_null(sr_knn_new(0, 5));
    assert_null(sr_knn_new(SR_KNN_MAX_HISTORY + 1, 5));
    assert_null(sr_knn_new(5, 0));
    sr_knn_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knn_ranking_matches_hand_computation),
        cmocka_unit_test(test_knn_cosine_prefers_rare_exclusive_partner),
        cmocka_unit_test(test_knn_history_bounds_the_pairs),
        cmocka_unit_test(test_knn_history_items_are_excluded),
        cmocka_unit_test(test_knn_repeat_counts_pair_again),
        cmocka_unit_test(test_knn_top_k_bounded),
        cmocka_unit_test(test_knn_unknown_user_gets_nothing),
        cmocka_unit_test(test_knn_rejected_event_leaves_user_unknown),
        cmocka_unit_test(test_knn_new_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
