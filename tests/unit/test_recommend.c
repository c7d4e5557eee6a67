/* Recommender: candidates, filters, seed decay, blending, determinism.
 * The model is built by hand: an MF model with chosen rows, a similarity
 * module fed chosen co-occurrences, profiles, and a trending snapshot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "streamrec/mf.h"
#include "streamrec/profile.h"
#include "streamrec/recommend.h"
#include "streamrec/sim.h"

#define T0 (1700000000000LL)
#define ITEMS 20
#define USERS 3

typedef struct fixture {
    sr_mf_t *mf;
    sr_sim_t *sim;
    sr_profile_config_t pcfg;
    sr_profile_t profile[USERS];
    sr_neighbour_t trending[8];
    size_t n_trending;
    sr_reco_config_t cfg;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    sr_mf_config_t mcfg;
    sr_mf_config_defaults(&mcfg);
    mcfg.k = 2;
    f->mf = sr_mf_new(&mcfg, NULL, 0);
    sr_sim_config_t scfg;
    sr_sim_config_defaults(&scfg);
    f->sim = sr_sim_new(&scfg, NULL, 0);
    if (!f->mf || !f->sim)
        return -1;
    for (uint32_t u = 0; u < USERS; u++) {
        sr_mf_ensure_user(f->mf, u, 100 + u);
        /* every user row zero: MF is neutral unless a test says otherwise */
        memset(sr_mf_user_row_mut(f->mf, u), 0, 2 * sizeof(float));
        sr_profile_init(&f->profile[u]);
    }
    for (uint32_t i = 0; i < ITEMS; i++) {
        sr_mf_ensure_item(f->mf, i, 200 + i);
        sr_sim_ensure_item(f->sim, i);
        sr_sim_observe(f->sim, i, 1.0f, T0); /* N(i) = 1 */
    }
    sr_profile_config_defaults(&f->pcfg);
    sr_reco_config_defaults(&f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    sr_mf_destroy(f->mf);
    sr_sim_destroy(f->sim);
    free(f);
    return 0;
}

/* similarity of a and b = w (all N are 1) */
static void link(fixture_t *f, uint32_t a, uint32_t b, float w) {
    sr_sim_cooccur(f->sim, a, b, w, T0);
}

static void event(fixture_t *f, uint32_t u, sr_event_type_t type, uint32_t item, int64_t ts) {
    sr_profile_update(&f->profile[u], &f->pcfg, type, type == SR_EVENT_PURCHASE ? 5.0f : 1.0f,
                      item, SR_PROFILE_NONE, 0, false, ts);
}

static size_t recommend(fixture_t *f, uint32_t u, sr_neighbour_t *out) {
    sr_recommender_t *r = sr_reco_new(&f->cfg, NULL, 0);
    assert_non_null(r);
    sr_reco_model_t model = {f->mf, f->sim, f->trending, f->n_trending};
    const sr_profile_t *p = &f->profile[u];
    size_t n = 0;
    assert_int_equal(sr_reco_batch(r, &model, &u, &p, 1, out, &n), SR_OK);
    sr_reco_destroy(r);
    return n;
}

static bool contains(const sr_neighbour_t *out, size_t n, uint32_t item) {
    for (size_t k = 0; k < n; k++)
        if (out[k].item == item)
            return true;
    return false;
}

static void trend(fixture_t *f, uint32_t item, float score) {
    f->trending[f->n_trending].item = item;
    f->trending[f->n_trending].score = score;
    f->n_trending++;
}

static void test_reco_purchased_items_never_recommended(void **state) {
    fixture_t *f = *state;
    f->cfg.exclude_seen = false; /* so only the purchase filter can remove item 1 */
    link(f, 0, 1, 1.0f);
    link(f, 0, 2, 0.5f);
    trend(f, 1, 10.0f);
    trend(f, 3, 5.0f);
    event(f, 0, SR_EVENT_PURCHASE, 1, T0);
    event(f, 0, SR_EVENT_VIEW, 0, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_false(contains(out, n, 1));
    assert_true(contains(out, n, 2));
    assert_true(contains(out, n, 3));
    /* item 1 is the strongest neighbour of seed 0 and the top trending item,
     * yet filtered. What is left: seed 0 itself (a neighbour of seed 1, seen
     * but not excluded here: cf 0.6), item 2 (cf 0.5), trending item 3. */
    assert_int_equal(n, 3);
    assert_int_equal(out[0].item, 0);
    assert_int_equal(out[1].item, 2);
    assert_int_equal(out[2].item, 3);
}

static void test_reco_exclude_seen_filters_recent_items(void **state) {
    fixture_t *f = *state;
    link(f, 0, 3, 1.0f);
    link(f, 0, 4, 0.5f);
    event(f, 0, SR_EVENT_VIEW, 3, T0);
    event(f, 0, SR_EVENT_VIEW, 0, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_false(contains(out, n, 3));
    assert_false(contains(out, n, 0));
    assert_true(contains(out, n, 4));
    assert_int_equal(n, 1);
}

static void test_reco_seen_items_allowed_when_not_excluded(void **state) {
    fixture_t *f = *state;
    f->cfg.exclude_seen = false;
    link(f, 0, 3, 1.0f);
    link(f, 0, 4, 0.5f);
    event(f, 0, SR_EVENT_VIEW, 3, T0);
    event(f, 0, SR_EVENT_VIEW, 0, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_true(contains(out, n, 3));
    assert_true(contains(out, n, 4));
    assert_int_equal(out[0].item, 3);
}

static void test_reco_cold_user_gets_trending(void **state) {
    fixture_t *f = *state;
    link(f, 0, 1, 1.0f); /* similarity exists, but the user has no seeds */
    trend(f, 7, 9.0f);
    trend(f, 8, 6.0f);
    trend(f, 9, 3.0f);
    f->cfg.mf_weight = 0;
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 1, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].item, 7);
    assert_int_equal(out[1].item, 8);
    assert_int_equal(out[2].item, 9);
    /* trending normalised to the max, times trending_weight */
    assert_float_equal(out[0].score, f->cfg.trending_weight * 1.0f, 1e-6);
    assert_float_equal(out[2].score, f->cfg.trending_weight * 3.0f / 9.0f, 1e-6);
}

static void test_reco_trending_is_filtered_for_cold_user_too(void **state) {
    fixture_t *f = *state;
    trend(f, 7, 9.0f);
    trend(f, 8, 6.0f);
    /* a purchase with no similarity partners: still no CF candidates */
    event(f, 1, SR_EVENT_PURCHASE, 7, T0);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 1, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].item, 8);
}

/* Seed A (newest) ~ X and seed B (older) ~ Y with the same similarity:
 * X gets cf 1.0, Y gets seed_decay * 1.0. With CF alone in the blend the
 * scores are exactly 1 and seed_decay. */
static void test_reco_newest_seed_neighbours_rank_first(void **state) {
    fixture_t *f = *state;
    f->cfg.mf_weight = 0;
    f->cfg.trending_weight = 0;
    const uint32_t A = 0, B = 1, X = 2, Y = 3;
    link(f, A, X, 1.0f);
    link(f, B, Y, 1.0f);
    event(f, 0, SR_EVENT_VIEW, B, T0);
    event(f, 0, SR_EVENT_VIEW, A, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item, X);
    assert_float_equal(out[0].score, 1.0, 1e-6);
    assert_int_equal(out[1].item, Y);
    assert_float_equal(out[1].score, f->cfg.seed_decay, 1e-6);
    /* reversed history, reversed order */
    event(f, 0, SR_EVENT_VIEW, B, T0 + 2000);
    n = recommend(f, 0, out);
    assert_int_equal(out[0].item, Y);
    assert_int_equal(out[1].item, X);
}

/* A partner shared by two seeds sums their contributions:
 * Z: 1*0.5 + 0.6*0.5 = 0.8 beats W: 1*0.7 from the newest seed alone. */
static void test_reco_shared_partner_sums_seed_contributions(void **state) {
    fixture_t *f = *state;
    f->cfg.seed_decay = 0.6f; /* the numbers above; not the default */
    f->cfg.mf_weight = 0;
    f->cfg.trending_weight = 0;
    const uint32_t A = 0, B = 1, Z = 5, W = 6;
    link(f, A, Z, 0.5f);
    link(f, B, Z, 0.5f);
    link(f, A, W, 0.7f);
    event(f, 0, SR_EVENT_VIEW, B, T0);
    event(f, 0, SR_EVENT_VIEW, A, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item, Z);
    assert_float_equal(out[0].score, 1.0, 1e-6);        /* 0.8 / 0.8 */
    assert_int_equal(out[1].item, W);
    assert_float_equal(out[1].score, 0.7 / 0.8, 1e-6);
}

/* Scoring by MF alone: user row (1, 0), so score = v[0] + b. The CF
 * candidates go through sgemv and the trending ones through sgemm; a swapped
 * transpose or stride would pick v[1] instead. */
static void test_reco_mf_scores_rank_candidates(void **state) {
    fixture_t *f = *state;
    f->cfg.cf_weight = 0;
    f->cfg.trending_weight = 0;
    float *u = sr_mf_user_row_mut(f->mf, 0);
    u[0] = 1.0f, u[1] = 0.0f;
    const float rows[5][2] = {{0, 0}, {0.2f, 0.9f}, {0.8f, 0.1f}, {0.5f, -3.0f}, {0.9f, 0.0f}};
    for (uint32_t i = 0; i < 5; i++) memcpy(sr_mf_item_row_mut(f->mf, i), rows[i], sizeof rows[i]);
    link(f, 0, 1, 1.0f);
    link(f, 0, 2, 1.0f);
    trend(f, 3, 1.0f);
    trend(f, 4, 1.0f);
    event(f, 0, SR_EVENT_VIEW, 0, T0);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_int_equal(n, 4);
    /* mf: 1 -> 0.2, 2 -> 0.8, 3 -> 0.5, 4 -> 0.9; min-max normalised */
    const uint32_t want[] = {4, 2, 3, 1};
    const float want_score[] = {1.0f, 0.6f / 0.7f, 0.3f / 0.7f, 0.0f};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(out[k].item, want[k]);
        assert_float_equal(out[k].score, f->cfg.mf_weight * want_score[k], 1e-5);
    }
}

static void test_reco_output_has_no_duplicates_and_at_most_k(void **state) {
    fixture_t *f = *state;
    f->cfg.k = 4;
    f->cfg.exclude_seen = false;
    /* items 10..17 neighbours of both seeds 0 and 1, and some also trending */
    for (uint32_t j = 10; j < 18; j++) {
        link(f, 0, j, 0.1f * (float)(j - 9));
        link(f, 1, j, 0.05f * (float)(j - 9));
    }
    link(f, 0, 1, 1.0f); /* the seeds are each other's neighbours */
    trend(f, 12, 3.0f);
    trend(f, 17, 2.0f);
    trend(f, 0, 1.0f);
    event(f, 0, SR_EVENT_VIEW, 1, T0);
    event(f, 0, SR_EVENT_VIEW, 0, T0 + 1000);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_int_equal(n, 4);
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) assert_int_not_equal(out[a].item, out[b].item);
    for (size_t a = 1; a < n; a++) assert_true(out[a - 1].score >= out[a].score);
}

static void test_reco_ties_break_on_lower_item_id(void **state) {
    fixture_t *f = *state;
    f->cfg.mf_weight = 0;
    f->cfg.trending_weight = 0;
    link(f, 0, 9, 0.5f);
    link(f, 0, 4, 0.5f);
    link(f, 0, 6, 0.5f);
    event(f, 0, SR_EVENT_VIEW, 0, T0);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = recommend(f, 0, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].item, 4);
    assert_int_equal(out[1].item, 6);
    assert_int_equal(out[2].item, 9);
}

/* Same model, same answer: repeated calls on one recommender, and a batch of
 * users equals the users one by one (the sgemm over the batch does not mix
 * users up). */
static void test_reco_deterministic_and_batch_matches_single(void **state) {
    fixture_t *f = *state;
    for (uint32_t u = 0; u < USERS; u++) {
        float *row = sr_mf_user_row_mut(f->mf, u);
        row[0] = 0.3f * (float)u - 0.2f;
        row[1] = 0.5f - 0.4f * (float)u;
    }
    for (uint32_t j = 1; j < 12; j++) link(f, 0, j, 0.05f * (float)j);
    for (uint32_t j = 12; j < 18; j++) link(f, 1, j, 0.3f);
    trend(f, 18, 4.0f);
    trend(f, 19, 3.0f);
    trend(f, 5, 2.0f);
    event(f, 0, SR_EVENT_VIEW, 0, T0);
    event(f, 1, SR_EVENT_VIEW, 1, T0);
    event(f, 1, SR_EVENT_VIEW, 0, T0 + 5000);
    /* user 2 is cold */
    sr_recommender_t *r = sr_reco_new(&f->cfg, NULL, 0);
    sr_reco_model_t model = {f->mf, f->sim, f->trending, f->n_trending};
    const uint32_t users[USERS] = {0, 1, 2};
    const sr_profile_t *profiles[USERS] = {&f->profile[0], &f->profile[1], &f->profile[2]};
    const size_t k = (size_t)f->cfg.k;
    sr_neighbour_t batch[USERS * SR_RECO_MAX_K], again[USERS * SR_RECO_MAX_K];
    size_t n_batch[USERS], n_again[USERS];
    assert_int_equal(sr_reco_batch(r, &model, users, profiles, USERS, batch, n_batch), SR_OK);
    assert_int_equal(sr_reco_batch(r, &model, users, profiles, USERS, again, n_again), SR_OK);
    for (size_t b = 0; b < USERS; b++) {
        assert_true(n_batch[b] > 0);
        assert_int_equal(n_batch[b], n_again[b]);
        assert_memory_equal(batch + b * k, again + b * k, n_batch[b] * sizeof *batch);
    }
    for (uint32_t b = 0; b < USERS; b++) {
        sr_neighbour_t one[SR_RECO_MAX_K];
        size_t n_one;
        assert_int_equal(sr_reco_batch(r, &model, &users[b], &profiles[b], 1, one, &n_one), SR_OK);
        assert_int_equal(n_one, n_batch[b]);
        for (size_t x = 0; x < n_one; x++) {
            assert_int_equal(one[x].item, batch[b * k + x].item);
            assert_float_equal(one[x].score, batch[b * k + x].score, 1e-6);
        }
    }
    /* the users differ, so do their lists */
    assert_true(n_batch[0] != n_batch[1] ||
                memcmp(batch, batch + k, n_batch[0] * sizeof *batch) != 0);
    sr_reco_destroy(r);
}

static void test_reco_rejects_oversized_batch_and_bad_config(void **state) {
    fixture_t *f = *state;
    sr_recommender_t *r = sr_reco_new(&f->cfg, NULL, 0);
    sr_reco_model_t model = {f->mf, f->sim, f->trending, f->n_trending};
    uint32_t users[SR_RECO_MAX_BATCH + 1] = {0};
    const sr_profile_t *profiles[SR_RECO_MAX_BATCH + 1];
    for (int b = 0; b <= SR_RECO_MAX_BATCH; b++) profiles[b] = &f->profile[0];
    size_t n_out[SR_RECO_MAX_BATCH + 1];
    assert_int_equal(sr_reco_batch(r, &model, users, profiles, SR_RECO_MAX_BATCH + 1, NULL, n_out),
                     SR_ERR_INVALID);
    sr_reco_destroy(r);
    sr_reco_config_t bad = f->cfg;
    bad.k = SR_RECO_MAX_K + 1;
    char errstr[160] = "";
    assert_null(sr_reco_new(&bad, errstr, sizeof errstr));
    assert_true(errstr[0] != '\0');
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_reco_purchased_items_never_recommended),
        T(test_reco_exclude_seen_filters_recent_items),
        T(test_reco_seen_items_allowed_when_not_excluded),
        T(test_reco_cold_user_gets_trending),
        T(test_reco_trending_is_filtered_for_cold_user_too),
        T(test_reco_newest_seed_neighbours_rank_first),
        T(test_reco_shared_partner_sums_seed_contributions),
        T(test_reco_mf_scores_rank_candidates),
        T(test_reco_output_has_no_duplicates_and_at_most_k),
        T(test_reco_ties_break_on_lower_item_id),
        T(test_reco_deterministic_and_batch_matches_single),
        T(test_reco_rejects_oversized_batch_and_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
