/* sr_select_top: the best `keep` elements end up at the front. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "streamrec/rng.h"
#include "streamrec/select.h"

typedef struct scored {
    uint32_t id;
    float score;
} scored_t;

static bool before(const void *a, const void *b) {
    const scored_t *x = a, *y = b;
    return x->score > y->score || (x->score == y->score && x->id < y->id);
}

static int by_rank(const void *a, const void *b) { return before(a, b) ? -1 : before(b, a) ? 1 : 0; }

/* For many random arrays (with many tied scores) and every keep, the first
 * `keep` elements are exactly the first `keep` of a full sort. */
static void test_select_top_keeps_exactly_the_best(void **state) {
    (void)state;
    uint64_t rng = 7;
    scored_t a[200], sorted[200];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + sr_rng_below(&rng, 200);
        for (size_t i = 0; i < n; i++) {
            a[i].id = (uint32_t)i;
            a[i].score = (float)sr_rng_below(&rng, 20); /* ties on purpose */
            sorted[i] = a[i];
        }
        qsort(sorted, n, sizeof *sorted, by_rank);
        size_t keep = sr_rng_below(&rng, (uint32_t)n + 1);
        sr_select_top(a, n, sizeof *a, keep, before);
        qsort(a, keep, sizeof *a, by_rank);
        for (size_t i = 0; i < keep; i++) {
            assert_int_equal(a[i].id, sorted[i].id);
        }
    }
}

static void test_select_top_keep_at_least_n_leaves_the_array_alone(void **state) {
    (void)state;
    scored_t a[3] = {{0, 1.0f}, {1, 3.0f}, {2, 2.0f}};
    sr_select_top(a, 3, sizeof *a, 3, before);
    assert_int_equal(a[0].id, 0);
    assert_int_equal(a[1].id, 1);
    assert_int_equal(a[2].id, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_top_keeps_exactly_the_best),
        cmocka_unit_test(test_select_top_keep_at_least_n_leaves_the_array_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
