/* u64map: exact uint64 -> uint32 map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "streamrec/u64map.h"

static void test_u64map_put_then_get(void **state) {
    (void)state;
    sr_u64map_t *m = sr_u64map_new(4);
    assert_non_null(m);
    assert_int_equal(sr_u64map_put(m, 7, 70), SR_OK);
    assert_int_equal(sr_u64map_put(m, (uint64_t)3 << 32 | 9, 39), SR_OK);
    assert_int_equal(sr_u64map_put(m, 0, 1), SR_OK); /* key 0 is an ordinary key */
    uint32_t v = 0;
    assert_true(sr_u64map_get(m, 7, &v));
    assert_int_equal(v, 70);
    assert_true(sr_u64map_get(m, (uint64_t)3 << 32 | 9, &v));
    assert_int_equal(v, 39);
    assert_true(sr_u64map_get(m, 0, &v));
    assert_int_equal(v, 1);
    assert_true(sr_u64map_get(m, 7, NULL));
    assert_int_equal(sr_u64map_count(m), 3);
    sr_u64map_destroy(m);
}

static void test_u64map_put_replaces_without_counting_twice(void **state) {
    (void)state;
    sr_u64map_t *m = sr_u64map_new(4);
    assert_int_equal(sr_u64map_put(m, 42, 1), SR_OK);
    assert_int_equal(sr_u64map_put(m, 42, 2), SR_OK);
    uint32_t v = 0;
    assert_true(sr_u64map_get(m, 42, &v));
    assert_int_equal(v, 2);
    assert_int_equal(sr_u64map_count(m), 1);
    sr_u64map_destroy(m);
}

static void test_u64map_absent_keys_are_not_found(void **state) {
    (void)state;
    sr_u64map_t *m = sr_u64map_new(4);
    uint32_t v = 1234;
    assert_false(sr_u64map_get(m, 5, &v));
    assert_int_equal(v, 1234); /* untouched */
    assert_int_equal(sr_u64map_put(m, 5, 50), SR_OK);
    assert_false(sr_u64map_get(m, 6, &v));
    assert_false(sr_u64map_get(m, (uint64_t)5 << 32, &v));
    assert_false(sr_u64map_get(m, UINT64_MAX, &v));
    sr_u64map_destroy(m);
}

/* (a << 32 | b) keys with small a, b: the shape the kNN baseline uses. */
static void test_u64map_grows_and_keeps_every_key(void **state) {
    (void)state;
    sr_u64map_t *m = sr_u64map_new(1);
    uint32_t n = 0;
    for (uint64_t a = 0; a < 300; a++)
        for (uint64_t b = 0; b < 300; b++, n++)
            assert_int_equal(sr_u64map_put(m, a << 32 | b, n), SR_OK);
    assert_int_equal(sr_u64map_count(m), 90000);
    n = 0;
    for (uint64_t a = 0; a < 300; a++)
        for (uint64_t b = 0; b < 300; b++, n++) {
            uint32_t v;
            assert_true(sr_u64map_get(m, a << 32 | b, &v));
            assert_int_equal(v, n);
        }
    assert_false(sr_u64map_get(m, (uint64_t)300 << 32, NULL));
    sr_u64map_destroy(m);
}

static void test_u64map_rejects_the_empty_marker_key(void **state) {
    (void)state;
    sr_u64map_t *m = sr_u64map_new(4);
    assert_int_equal(sr_u64map_put(m, UINT64_MAX, 1), SR_ERR_INVALID);
    assert_int_equal(sr_u64map_count(m), 0);
    assert_false(sr_u64map_get(m, UINT64_MAX, NULL));
    /* UINT64_MAX - 1 is a normal key */
    assert_int_equal(sr_u64map_put(m, UINT64_MAX - 1, 9), SR_OK);
    uint32_t v;
    assert_true(sr_u64map_get(m, UINT64_MAX - 1, &v));
    assert_int_equal(v, 9);
    sr_u64map_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64map_put_then_get),
        cmocka_unit_test(test_u64map_put_replaces_without_counting_twice),
        cmocka_unit_test(test_u64map_absent_keys_are_not_found),
        cmocka_unit_test(test_u64map_grows_and_keeps_every_key),
        cmocka_unit_test(test_u64map_rejects_the_empty_marker_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
