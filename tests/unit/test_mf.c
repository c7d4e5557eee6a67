/* Online BPR matrix factorisation: one step checked against hand arithmetic,
 * AdaGrad step sizes, deterministic initialisation, and learning on observe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "streamrec/intern.h"
#include "streamrec/mf.h"
#include "streamrec/rng.h"

#define EPS 1e-6

/* k = 2, lr = 0.1, lambda = 0.01; one user (0) and two items (0 = pos, 1 = neg). */
static sr_mf_t *small_model(bool adagrad) {
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 2;
    cfg.learning_rate = 0.1f;
    cfg.regularization = 0.01f;
    cfg.adagrad = adagrad;
    sr_mf_t *mf = sr_mf_new(&cfg, NULL, 0);
    assert_non_null(mf);
    assert_int_equal(sr_mf_ensure_user(mf, 0, 11), SR_OK);
    assert_int_equal(sr_mf_ensure_item(mf, 0, 22), SR_OK);
    assert_int_equal(sr_mf_ensure_item(mf, 1, 33), SR_OK);
    /* u = (1, 1), v_i = (0.5, 0), v_j = (0, 0.5); biases start at 0 */
    float *u = sr_mf_user_row_mut(mf, 0), *vi = sr_mf_item_row_mut(mf, 0),
          *vj = sr_mf_item_row_mut(mf, 1);
    u[0] = 1.0f, u[1] = 1.0f;
    vi[0] = 0.5f, vi[1] = 0.0f;
    vj[0] = 0.0f, vj[1] = 0.5f;
    assert_float_equal(sr_mf_item_bias(mf, 0), 0.0, 0);
    assert_float_equal(sr_mf_item_bias(mf, 1), 0.0, 0);
    return mf;
}

static void assert_rows(const sr_mf_t *mf, const float u[2], const float vi[2], const float vj[2],
                        float bi, float bj) {
    assert_float_equal(sr_mf_user_row(mf, 0)[0], u[0], EPS);
    assert_float_equal(sr_mf_user_row(mf, 0)[1], u[1], EPS);
    assert_float_equal(sr_mf_item_row(mf, 0)[0], vi[0], EPS);
    assert_float_equal(sr_mf_item_row(mf, 0)[1], vi[1], EPS);
    assert_float_equal(sr_mf_item_row(mf, 1)[0], vj[0], EPS);
    assert_float_equal(sr_mf_item_row(mf, 1)[1], vj[1], EPS);
    assert_float_equal(sr_mf_item_bias(mf, 0), bi, EPS);
    assert_float_equal(sr_mf_item_bias(mf, 1), bj, EPS);
}

static void test_mf_step_matches_hand_computed_bpr_update(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(false);
    const uint32_t neg = 1;
    sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
    /* x = b_i - b_j + u.(v_i - v_j) = 0 - 0 + 1*0.5 + 1*(-0.5) = 0
     * g = w * sigma(-x) = 1 * 1/(1+e^0) = 0.5
     * u   += 0.1*(g(v_i - v_j) - 0.01 u)   = (1 + 0.1*(0.25 - 0.01), 1 + 0.1*(-0.25 - 0.01))
     *                                       = (1.024, 0.974)
     * v_i += 0.1*(g u - 0.01 v_i)           = (0.5 + 0.1*(0.5 - 0.005), 0 + 0.1*(0.5 - 0))
     *                                       = (0.5495, 0.05)
     * v_j += 0.1*(-g u - 0.01 v_j)          = (0 + 0.1*(-0.5 - 0), 0.5 + 0.1*(-0.5 - 0.005))
     *                                       = (-0.05, 0.4495)
     * b_i += 0.1*(g - 0.01*0)  = 0.05
     * b_j += 0.1*(-g - 0.01*0) = -0.05 */
    assert_rows(mf, (float[]){1.024f, 0.974f}, (float[]){0.5495f, 0.05f},
                (float[]){-0.05f, 0.4495f}, 0.05f, -0.05f);
    sr_mf_destroy(mf);
}

/* A second step from the first one's result: x != 0 and the biases are
 * non-zero, so the sigmoid and the bias regularisation are both exercised. */
static void test_mf_second_step_matches_hand_computed_with_biases(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(false);
    const uint32_t neg = 1;
    sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
    sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
    /* From u = (1.024, 0.974), v_i = (0.5495, 0.05), v_j = (-0.05, 0.4495),
     * b_i = 0.05, b_j = -0.05:
     * x = 0.1 + 1.024*0.5995 + 0.974*(-0.3995) = 0.1 + 0.613888 - 0.389113 = 0.324775
     * g = 1/(1 + e^0.324775) = 1/(1 + 1.3837193) = 0.41951249
     * u   = (1.024 + 0.1*(g*0.5995 - 0.01*1.024), 0.974 + 0.1*(g*(-0.3995) - 0.01*0.974))
     *     = (1.024 + 0.1*0.24125774, 0.974 + 0.1*(-0.17733524)) = (1.04812577, 0.95626648)
     * v_i = (0.5495 + 0.1*(g*1.024 - 0.005495), 0.05 + 0.1*(g*0.974 - 0.0005))
     *     = (0.5495 + 0.1*0.42408579, 0.05 + 0.1*0.40810516) = (0.59190858, 0.09081052)
     * v_j = (-0.05 + 0.1*(-g*1.024 + 0.0005), 0.4495 + 0.1*(-g*0.974 - 0.004495))
     *     = (-0.05 - 0.1*0.42908079, 0.4495 - 0.1*0.41310016) = (-0.09290808, 0.40818998)
     * b_i = 0.05 + 0.1*(g - 0.01*0.05)     = 0.05 + 0.1*0.41901249 = 0.09190125
     * b_j = -0.05 + 0.1*(-g + 0.01*0.05)   = -0.09190125 */
    assert_rows(mf, (float[]){1.04812577f, 0.95626648f}, (float[]){0.59190858f, 0.09081052f},
                (float[]){-0.09290808f, 0.40818998f}, 0.09190125f, -0.09190125f);
    sr_mf_destroy(mf);
}

static void test_mf_step_weight_scales_the_gradient(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(false);
    const uint32_t neg = 1;
    sr_mf_step(mf, 0, 0, &neg, 1, 3.0f);
    /* x = 0, g = 3 * 0.5 = 1.5
     * u   = (1 + 0.1*(1.5*0.5 - 0.01), 1 + 0.1*(1.5*(-0.5) - 0.01)) = (1.074, 0.924)
     * v_i = (0.5 + 0.1*(1.5 - 0.005), 0 + 0.1*1.5)                   = (0.6495, 0.15)
     * v_j = (0 + 0.1*(-1.5), 0.5 + 0.1*(-1.5 - 0.005))               = (-0.15, 0.3495)
     * b_i = 0.15, b_j = -0.15 */
    assert_rows(mf, (float[]){1.074f, 0.924f}, (float[]){0.6495f, 0.15f},
                (float[]){-0.15f, 0.3495f}, 0.15f, -0.15f);
    sr_mf_destroy(mf);
}

static void test_mf_adagrad_step_uses_one_plus_mean_squared_gradient(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(true);
    const uint32_t neg = 1;
    sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
    /* Same gradients as the plain step (x = 0, g = 0.5):
     *   grad_u = (0.24, -0.26)           mean sq = (0.0576 + 0.0676)/2          = 0.0626
     *   grad_i = (0.495, 0.5), b: 0.5    mean sq = (0.245025 + 0.25 + 0.25)/3   = 0.24834167
     *   grad_j = (-0.5, -0.505), b: -0.5 mean sq = (0.25 + 0.255025 + 0.25)/3   = 0.251675
     * accumulators start at 1, so
     *   eta_u = 0.1/sqrt(1.0626)     = 0.09700968
     *   eta_i = 0.1/sqrt(1.24834167) = 0.08950211
     *   eta_j = 0.1/sqrt(1.251675)   = 0.08938285
     * u   = (1 + eta_u*0.24, 1 - eta_u*0.26)           = (1.02328232, 0.97477748)
     * v_i = (0.5 + eta_i*0.495, 0 + eta_i*0.5)         = (0.54430354, 0.04475105)
     * v_j = (0 - eta_j*0.5, 0.5 - eta_j*0.505)         = (-0.04469143, 0.45486166)
     * b_i = eta_i*0.5 = 0.04475105, b_j = -eta_j*0.5 = -0.04469143 */
    assert_rows(mf, (float[]){1.02328232f, 0.97477748f}, (float[]){0.54430354f, 0.04475105f},
                (float[]){-0.04469143f, 0.45486166f}, 0.04475105f, -0.04469143f);
    sr_mf_destroy(mf);
}

static void test_mf_step_raises_pos_over_neg_margin(void **state) {
    (void)state;
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 16;
    sr_mf_t *mf = sr_mf_new(&cfg, NULL, 0);
    assert_int_equal(sr_mf_ensure_user(mf, 0, sr_hash_bytes("u", 1, 0)), SR_OK);
    for (uint32_t i = 0; i < 5; i++) assert_int_equal(sr_mf_ensure_item(mf, i, 1000 + i), SR_OK);
    for (uint32_t neg = 1; neg < 5; neg++) {
        float before = sr_mf_score(mf, 0, 0) - sr_mf_score(mf, 0, neg);
        sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
        float after = sr_mf_score(mf, 0, 0) - sr_mf_score(mf, 0, neg);
        assert_true(after > before);
    }
    sr_mf_destroy(mf);
}

/* Two negatives in one step: both pairs are scored against the same rows,
 * the user and the positive item take the sum of the two pairs' gradients,
 * each negative its own. */
static void test_mf_step_with_two_negatives_sums_the_pairs_gradients(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(false);
    assert_int_equal(sr_mf_ensure_item(mf, 2, 44), SR_OK);
    float *v2 = sr_mf_item_row_mut(mf, 2);
    v2[0] = 0.5f, v2[1] = 0.5f;
    const uint32_t negs[] = {1, 2};
    sr_mf_step(mf, 0, 0, negs, 2, 1.0f);
    /* x_1 = u.(v_i - v_1) = 0, g_1 = 0.5; x_2 = u.(v_i - v_2) = -0.5,
     * g_2 = 1/(1+e^-0.5) = 0.62245933; G = g_1 + g_2 = 1.12245933
     * u   += 0.1*(G v_i - g_1 v_1 - g_2 v_2 - 2*0.01 u)
     *      = (1 + 0.1*(0.56122967 - 0.31122967 - 0.02), 1 + 0.1*(-0.25 - 0.31122967 - 0.02))
     *      = (1.023, 0.94187703)
     * v_i += 0.1*(G u - 2*0.01 v_i)  = (0.61124593, 0.11224593)
     * v_1 += 0.1*(-g_1 u - 0.01 v_1) = (-0.05, 0.4495)
     * v_2 += 0.1*(-g_2 u - 0.01 v_2) = (0.43725407, 0.43725407)
     * b_i = 0.1*G = 0.11224593, b_1 = -0.05, b_2 = -0.1*g_2 = -0.06224593 */
    assert_rows(mf, (float[]){1.023f, 0.94187703f}, (float[]){0.61124593f, 0.11224593f},
                (float[]){-0.05f, 0.4495f}, 0.11224593f, -0.05f);
    assert_float_equal(sr_mf_item_row(mf, 2)[0], 0.43725407f, EPS);
    assert_float_equal(sr_mf_item_row(mf, 2)[1], 0.43725407f, EPS);
    assert_float_equal(sr_mf_item_bias(mf, 2), -0.06224593f, EPS);
    sr_mf_destroy(mf);
}

static void test_mf_negative_equal_to_pos_is_skipped(void **state) {
    (void)state;
    sr_mf_t *mf = small_model(true);
    float u[2], v[2];
    memcpy(u, sr_mf_user_row(mf, 0), sizeof u);
    memcpy(v, sr_mf_item_row(mf, 0), sizeof v);
    const uint32_t negs[] = {0, 0};
    sr_mf_step(mf, 0, 0, negs, 2, 1.0f);
    assert_memory_equal(sr_mf_user_row(mf, 0), u, sizeof u);
    assert_memory_equal(sr_mf_item_row(mf, 0), v, sizeof v);
    assert_float_equal(sr_mf_item_bias(mf, 0), 0.0, 0);
    /* and a skipped negative leaves the AdaGrad accumulators alone: the next
     * real step is exactly the hand-computed first AdaGrad step */
    const uint32_t neg = 1;
    sr_mf_step(mf, 0, 0, &neg, 1, 1.0f);
    assert_float_equal(sr_mf_user_row(mf, 0)[0], 1.02328232f, EPS);
    assert_float_equal(sr_mf_item_bias(mf, 0), 0.04475105f, EPS);
    sr_mf_destroy(mf);
}

static void test_mf_init_is_deterministic_per_id_hash(void **state) {
    (void)state;
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 8;
    sr_mf_t *a = sr_mf_new(&cfg, NULL, 0), *b = sr_mf_new(&cfg, NULL, 0);
    uint64_t h1 = sr_hash_bytes("user-1", 6, 0), h2 = sr_hash_bytes("user-2", 6, 0);
    assert_int_equal(sr_mf_ensure_user(a, 0, h1), SR_OK);
    assert_int_equal(sr_mf_ensure_user(b, 0, h1), SR_OK);
    assert_int_equal(sr_mf_ensure_user(a, 1, h2), SR_OK);
    assert_int_equal(sr_mf_ensure_item(a, 0, h1), SR_OK);
    assert_int_equal(sr_mf_ensure_item(b, 0, h1), SR_OK);
    size_t row = 8 * sizeof(float);
    assert_memory_equal(sr_mf_user_row(a, 0), sr_mf_user_row(b, 0), row);
    assert_memory_equal(sr_mf_item_row(a, 0), sr_mf_item_row(b, 0), row);
    assert_memory_not_equal(sr_mf_user_row(a, 0), sr_mf_user_row(a, 1), row);
    /* a user and an item with the same id string do not start parallel */
    assert_memory_not_equal(sr_mf_user_row(a, 0), sr_mf_item_row(a, 0), row);
    /* values are small and inside [-init_scale, init_scale] */
    bool any_nonzero = false;
    for (int f = 0; f < 8; f++) {
        float x = sr_mf_user_row(a, 0)[f];
        assert_true(fabsf(x) <= cfg.init_scale);
        any_nonzero |= x != 0.0f;
    }
    assert_true(any_nonzero);
    /* a different model seed gives different rows for the same id */
    cfg.seed = 43;
    sr_mf_t *c = sr_mf_new(&cfg, NULL, 0);
    assert_int_equal(sr_mf_ensure_user(c, 0, h1), SR_OK);
    assert_memory_not_equal(sr_mf_user_row(a, 0), sr_mf_user_row(c, 0), row);
    sr_mf_destroy(a);
    sr_mf_destroy(b);
    sr_mf_destroy(c);
}

static void test_mf_ensure_rejects_gaps_and_keeps_rows_on_growth(void **state) {
    (void)state;
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 4;
    sr_mf_t *mf = sr_mf_new(&cfg, NULL, 0);
    assert_int_equal(sr_mf_ensure_user(mf, 1, 5), SR_ERR_INVALID);
    assert_int_equal(sr_mf_users(mf), 0);
    assert_int_equal(sr_mf_ensure_item(mf, 0, 5), SR_OK);
    float first[4];
    memcpy(first, sr_mf_item_row(mf, 0), sizeof first);
    for (uint32_t i = 1; i < 5000; i++) assert_int_equal(sr_mf_ensure_item(mf, i, i), SR_OK);
    assert_int_equal(sr_mf_ensure_item(mf, 10, 999), SR_OK); /* existing: no-op */
    assert_int_equal(sr_mf_items(mf), 5000);
    assert_memory_equal(sr_mf_item_row(mf, 0), first, sizeof first);
    sr_mf_destroy(mf);
}

static void test_mf_new_rejects_bad_k_with_reason(void **state) {
    (void)state;
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 0;
    char errstr[128] = "";
    assert_null(sr_mf_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "mf.k"));
    cfg.k = SR_MF_MAX_K + 1;
    assert_null(sr_mf_new(&cfg, NULL, 0));
}

/* Users 1..5 like items 3 and 4 together, users 6..10 like items 7 and 8,
 * everyone views random items too; user 0 has only ever shown item 3, now and
 * then. Online BPR must carry the co-preference over: for user 0, item 4
 * outranks every item except 3, and the other group's items rank last.
 * (Two groups are needed: negatives are sampled by popularity, so BPR learns
 * a user's preference relative to everyone's -- a taste shared by all users
 * cancels out.) */
static void test_mf_observe_learns_co_preference(void **state) {
    (void)state;
    enum { USERS = 11, ITEMS = 30 };
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 8;
    cfg.negative_pool = 256;
    sr_mf_t *mf = sr_mf_new(&cfg, NULL, 0);
    char id[32];
    for (uint32_t u = 0; u < USERS; u++) {
        int len = snprintf(id, sizeof id, "user-%u", u);
        assert_int_equal(sr_mf_ensure_user(mf, u, sr_hash_bytes(id, (size_t)len, 0)), SR_OK);
    }
    for (uint32_t i = 0; i < ITEMS; i++) {
        int len = snprintf(id, sizeof id, "item-%u", i);
        assert_int_equal(sr_mf_ensure_item(mf, i, sr_hash_bytes(id, (size_t)len, 0)), SR_OK);
    }
    uint64_t rng = 7;
    for (int round = 0; round < 200; round++) {
        for (uint32_t u = 1; u < USERS; u++) {
            sr_mf_observe(mf, u, u <= 5 ? 3 : 7, 1.0f);
            sr_mf_observe(mf, u, u <= 5 ? 4 : 8, 1.0f);
            sr_mf_observe(mf, u, sr_rng_below(&rng, ITEMS), 1.0f);
        }
        if (round % 5 == 0)
            sr_mf_observe(mf, 0, 3, 1.0f);
    }
    float s3 = sr_mf_score(mf, 0, 3), s4 = sr_mf_score(mf, 0, 4);
    for (uint32_t j = 0; j < ITEMS; j++) {
        if (j == 3 || j == 4)
            continue;
        assert_true(s3 > sr_mf_score(mf, 0, j));
        assert_true(s4 > sr_mf_score(mf, 0, j));
        if (j != 7 && j != 8) {
            assert_true(sr_mf_score(mf, 0, j) > sr_mf_score(mf, 0, 7));
            assert_true(sr_mf_score(mf, 0, j) > sr_mf_score(mf, 0, 8));
        }
    }
    sr_mf_destroy(mf);
}

/* The negative sampler is seeded from the config: same seed, same model. */
static void test_mf_observe_is_deterministic(void **state) {
    (void)state;
    sr_mf_config_t cfg;
    sr_mf_config_defaults(&cfg);
    cfg.k = 4;
    sr_mf_t *a = sr_mf_new(&cfg, NULL, 0), *b = sr_mf_new(&cfg, NULL, 0);
    for (uint32_t i = 0; i < 20; i++) {
        sr_mf_ensure_item(a, i, i * 77);
        sr_mf_ensure_item(b, i, i * 77);
    }
    for (uint32_t u = 0; u < 3; u++) {
        sr_mf_ensure_user(a, u, u);
        sr_mf_ensure_user(b, u, u);
    }
    uint64_t rng = 1;
    for (int n = 0; n < 500; n++) {
        uint32_t u = sr_rng_below(&rng, 3), i = sr_rng_below(&rng, 20);
        sr_mf_observe(a, u, i, 1.0f);
        sr_mf_observe(b, u, i, 1.0f);
    }
    assert_memory_equal(sr_mf_item_table(a), sr_mf_item_table(b), 20 * 4 * sizeof(float));
    assert_memory_equal(sr_mf_item_biases(a), sr_mf_item_biases(b), 20 * sizeof(float));
    for (uint32_t u = 0; u < 3; u++)
        assert_memory_equal(sr_mf_user_row(a, u), sr_mf_user_row(b, u), 4 * sizeof(float));
    sr_mf_destroy(a);
    sr_mf_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mf_step_matches_hand_computed_bpr_update),
        cmocka_unit_test(test_mf_second_step_matches_hand_computed_with_biases),
        cmocka_unit_test(test_mf_step_weight_scales_the_gradient),
        cmocka_unit_test(test_mf_step_with_two_negatives_sums_the_pairs_gradients),
        cmocka_unit_test(test_mf_adagrad_step_uses_one_plus_mean_squared_gradient),
        cmocka_unit_test(test_mf_step_raises_pos_over_neg_margin),
        cmocka_unit_test(test_mf_negative_equal_to_pos_is_skipped),
        cmocka_unit_test(test_mf_init_is_deterministic_per_id_hash),
        cmocka_unit_test(test_mf_ensure_rejects_gaps_and_keeps_rows_on_growth),
        cmocka_unit_test(test_mf_new_rejects_bad_k_with_reason),
        cmocka_unit_test(test_mf_observe_learns_co_preference),
        cmocka_unit_test(test_mf_observe_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
