/* sr_float_text prints exactly what printf("%.9g") prints, and that text
 * reads back as the same float; sr_u64_text what printf("%llu") prints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/float_text.h"
#include "streamrec/rng.h"

static float from_bits(uint32_t bits) {
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Fails with both texts, so a mismatch says which value and how. */
static void assert_like_printf(float v) {
    char ours[SR_FLOAT_TEXT_MAX + 8], theirs[64];
    memset(ours, 'x', sizeof ours);
    size_t n = sr_float_text(ours, v);
    snprintf(theirs, sizeof theirs, "%.9g", (double)v);
    if (strcmp(ours, theirs) != 0 || n != strlen(theirs) || n >= SR_FLOAT_TEXT_MAX)
        fail_msg("%a: printed '%s' (%zu), printf prints '%s'", (double)v, ours, n, theirs);
    if (isfinite(v) && strtof(ours, NULL) != v)
        fail_msg("%a: '%s' does not read back", (double)v, ours);
}

/* Any bit pattern: every exponent, denormals, both signs, inf and NaN. */
static void test_float_text_matches_printf_on_random_bit_patterns(void **state) {
    (void)state;
    uint64_t rng = 42;
    for (int i = 0; i < 300000; i++) assert_like_printf(from_bits((uint32_t)sr_rng_next(&rng)));
}

/* What the sinks print most: scores between 0 and a few. */
static void test_float_text_matches_printf_on_scores(void **state) {
    (void)state;
    uint64_t rng = 7;
    for (int i = 0; i < 200000; i++) {
        float v = (float)((double)(sr_rng_next(&rng) >> 11) / 9007199254740992.0 * 3.0);
        assert_like_printf(v);
    }
}

/* Where the layout or the exponent changes: powers of ten and their
 * neighbours (fixed <-> exponent at 1e-5 / 1e-4 and 1e8 / 1e9, digits that
 * round up into the next power), the extremes, zeros and non-finite. */
static void test_float_text_matches_printf_at_the_edges(void **state) {
    (void)state;
    for (int e = -46; e <= 39; e++) {
        float p = (float)pow(10.0, e);
        float below = p, above = p;
        for (int step = 0; step < 40; step++) {
            assert_like_printf(below);
            assert_like_printf(above);
            assert_like_printf(-above);
            below = nextafterf(below, 0.0f);
            above = nextafterf(above, INFINITY);
        }
    }
    const float specials[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN,
                              -FLT_TRUE_MIN, 1.0f, 0.5f, 0.1f, 123456789.0f, 999999999.0f,
                              9.99999995e8f, 16777216.0f, 1e-4f, 9.9999999e-5f,
                              INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) assert_like_printf(specials[i]);
}

static void assert_u64_like_printf(uint64_t v) {
    char want[32], got[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    memset(got, 'x', sizeof got);
    size_t n = sr_u64_text(got, v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], 'x'); /* nothing written past the digits */
}

/* Integers: every width from one digit to twenty, the powers of ten and
 * their neighbours, and random values of every bit length. */
static void test_u64_text_matches_printf(void **state) {
    (void)state;
    uint64_t ten = 1;
    for (int d = 0; d < 20; d++, ten *= 10) {
        assert_u64_like_printf(ten);
        assert_u64_like_printf(ten - 1);
        assert_u64_like_printf(ten + 1);
    }
    assert_u64_like_printf(UINT64_MAX);
    uint64_t rng = 7;
    for (int i = 0; i < 100000; i++) assert_u64_like_printf(sr_rng_next(&rng) >> (i % 64));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_text_matches_printf_on_random_bit_patterns),
        cmocka_unit_test(test_float_text_matches_printf_on_scores),
        cmocka_unit_test(test_float_text_matches_printf_at_the_edges),
        cmocka_unit_test(test_u64_text_matches_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
