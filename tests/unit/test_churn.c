/* Churn: delayed labels, hysteresis alerts, sweep schedule, the model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/churn.h"
#include "streamrec/profile.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define T0 (1700000000000LL - 1700000000000LL % DAY_MS) /* a day boundary */

typedef struct fixture {
    sr_churn_config_t cfg;
    sr_profile_config_t pcfg;
    sr_churn_t *c;
    sr_profile_t profiles[2];
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    sr_churn_config_defaults(&f->cfg);
    sr_profile_config_defaults(&f->pcfg);
    f->c = sr_churn_new(&f->cfg, &f->pcfg, NULL, 0);
    if (!f->c)
        return -1;
    for (uint32_t u = 0; u < 2; u++) {
        sr_profile_init(&f->profiles[u]);
        if (sr_churn_ensure_user(f->c, u) != SR_OK)
            return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    sr_churn_destroy(f->c);
    free(f);
    return 0;
}

/* A user event: the profile first, then churn (the engine's order). */
static void event(fixture_t *f, uint32_t u, sr_event_type_t type, int64_t ts) {
    sr_profile_update(&f->profiles[u], &f->pcfg, type, type == SR_EVENT_PURCHASE ? 5.0f : 1.0f,
                      7, SR_PROFILE_NONE, 12.0, type == SR_EVENT_PURCHASE, ts);
    sr_churn_on_event(f->c, u, &f->profiles[u], ts);
}

static float predict_at(fixture_t *f, uint32_t u, int64_t now_ms, float contrib[SR_CHURN_FEATURES]) {
    float x[SR_CHURN_FEATURES];
    sr_churn_features(f->c, &f->profiles[u], now_ms, x);
    return sr_churn_predict(f->c, x, contrib);
}

/* Trains on the features user u will show at now_ms, with the given label,
 * until the model's probability for them crosses `target` (from below for
 * label 1, from above for label 0). Returns that probability. */
static float train_until(fixture_t *f, uint32_t u, int64_t now_ms, int label, float target) {
    float x[SR_CHURN_FEATURES];
    sr_churn_features(f->c, &f->profiles[u], now_ms, x);
    float p = sr_churn_predict(f->c, x, NULL);
    for (int n = 0; n < 200000 && (label ? p < target : p >= target); n++) {
        sr_churn_train(f->c, x, label);
        p = sr_churn_predict(f->c, x, NULL);
    }
    assert_true(label ? p >= target : p < target);
    return p;
}

static const sr_churn_label_t *labels(fixture_t *f, size_t *n) {
    return sr_churn_labels(f->c, n);
}

static const sr_churn_alert_t *alerts(fixture_t *f, size_t *n) {
    return sr_churn_alerts(f->c, n);
}

static sr_churn_level_t expected_level(const sr_churn_config_t *cfg, float p) {
    return p >= cfg->high_level ? SR_CHURN_HIGH
         : p >= cfg->medium_level ? SR_CHURN_MEDIUM : SR_CHURN_LOW;
}

static void test_churn_predict_is_half_with_zero_weights(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    event(f, 0, SR_EVENT_PURCHASE, T0 + HOUR_MS);
    float contrib[SR_CHURN_FEATURES];
    memset(contrib, 0xff, sizeof contrib);
    assert_float_equal(predict_at(f, 0, T0 + 3 * DAY_MS, contrib), 0.5, 0);
    for (int k = 0; k < SR_CHURN_FEATURES; k++) assert_float_equal(contrib[k], 0.0, 0);
    assert_float_equal(sr_churn_risk(f->c, 0), -1.0, 0); /* never scored */
}

static void test_churn_features_are_finite_and_named(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_ADD_TO_CART, T0);
    float x[SR_CHURN_FEATURES];
    sr_churn_features(f->c, &f->profiles[0], T0 + 2 * DAY_MS, x);
    for (int k = 0; k < SR_CHURN_FEATURES; k++) {
        assert_true(isfinite(x[k]));
        assert_string_not_equal(sr_churn_feature_name(k), "unknown");
    }
    /* recency: log1p(48 hours) */
    assert_float_equal(x[0], log1p(48.0), 1e-5);
    /* one cart, no purchase: abandon = (1 - 0)/(1 + 1) */
    assert_float_equal(x[8], 0.5, 1e-6);
    assert_string_equal(sr_churn_feature_name(SR_CHURN_FEATURES), "unknown");
}

static void test_churn_training_moves_probability_toward_label(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    float x[SR_CHURN_FEATURES];
    sr_churn_features(f->c, &f->profiles[0], T0 + DAY_MS, x);
    float p0 = sr_churn_predict(f->c, x, NULL);
    sr_churn_train(f->c, x, 1);
    float p1 = sr_churn_predict(f->c, x, NULL);
    assert_true(p1 > p0);
    sr_churn_train(f->c, x, 0);
    sr_churn_train(f->c, x, 0);
    assert_true(sr_churn_predict(f->c, x, NULL) < p1);
}

static void test_churn_sweep_skips_users_without_events(void **state) {
    fixture_t *f = *state;
    event(f, 1, SR_EVENT_VIEW, T0);
    sr_churn_sweep(f->c, f->profiles, 2, T0 + DAY_MS);
    assert_float_equal(sr_churn_risk(f->c, 0), -1.0, 0);
    assert_float_equal(sr_churn_risk(f->c, 1), 0.5, 0);
}

/* An example created at a sweep resolves as 0 at the user's next event,
 * carrying the probability predicted when it was created. */
static void test_churn_example_resolves_zero_when_user_returns(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    const int64_t s1 = T0 + DAY_MS;
    float p_created = train_until(f, 0, s1, 1, 0.7f); /* a probability that is not 0.5 */
    sr_churn_sweep(f->c, f->profiles, 2, s1);
    assert_float_equal(sr_churn_risk(f->c, 0), p_created, 0);
    size_t n;
    labels(f, &n);
    assert_int_equal(n, 0);
    /* a late event from before the example does not resolve it */
    event(f, 0, SR_EVENT_VIEW, s1 - HOUR_MS);
    labels(f, &n);
    assert_int_equal(n, 0);
    /* a later sweep re-scores but keeps the example's own probability */
    sr_churn_sweep(f->c, f->profiles, 2, s1 + DAY_MS);
    assert_true(sr_churn_risk(f->c, 0) != p_created);
    event(f, 0, SR_EVENT_VIEW, s1 + 2 * DAY_MS);
    const sr_churn_label_t *l = labels(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].user, 0);
    assert_int_equal(l[0].churned, 0);
    assert_float_equal(l[0].probability, p_created, 0);
    /* resolved once: another event adds nothing */
    event(f, 0, SR_EVENT_VIEW, s1 + 2 * DAY_MS + HOUR_MS);
    labels(f, &n);
    assert_int_equal(n, 1);
}

/* No event: the first sweep at or past creation + horizon labels it 1. */
static void test_churn_example_resolves_one_when_sweep_passes_horizon(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    const int64_t s1 = T0 + DAY_MS;
    float p_created = train_until(f, 0, s1, 1, 0.7f);
    sr_churn_sweep(f->c, f->profiles, 2, s1);
    size_t n;
    const int64_t horizon_days = f->cfg.horizon_ms / DAY_MS;
    for (int64_t d = 1; d < horizon_days; d++) {
        sr_churn_sweep(f->c, f->profiles, 2, s1 + d * DAY_MS);
        labels(f, &n);
        assert_int_equal(n, 0);
    }
    sr_churn_sweep(f->c, f->profiles, 2, s1 + f->cfg.horizon_ms);
    const sr_churn_label_t *l = labels(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].user, 0);
    assert_int_equal(l[0].churned, 1);
    assert_float_equal(l[0].probability, p_created, 0);
    /* the user is now past the horizon: no new example, no new label */
    sr_churn_sweep(f->c, f->profiles, 2, s1 + f->cfg.horizon_ms + 30 * DAY_MS);
    labels(f, &n);
    assert_int_equal(n, 1);
}

/* The label is "active within the horizon or not". A user who comes back
 * only after creation + horizon churned, even when their event is applied
 * before any sweep has passed that time (the watermark lags event time, and
 * the horizon need not be a multiple of the sweep interval). */
static void test_churn_return_after_horizon_before_sweep_is_churned(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    const int64_t s1 = T0 + DAY_MS;
    float p_created = train_until(f, 0, s1, 1, 0.7f);
    sr_churn_sweep(f->c, f->profiles, 2, s1);
    event(f, 0, SR_EVENT_VIEW, s1 + f->cfg.horizon_ms + HOUR_MS);
    size_t n;
    const sr_churn_label_t *l = labels(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].churned, 1);
    assert_float_equal(l[0].probability, p_created, 0);
}

static void test_churn_return_just_before_horizon_is_not_churned(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    const int64_t s1 = T0 + DAY_MS;
    sr_churn_sweep(f->c, f->profiles, 2, s1);
    event(f, 0, SR_EVENT_VIEW, s1 + f->cfg.horizon_ms - 1);
    size_t n;
    const sr_churn_label_t *l = labels(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].churned, 0);
}

static void assert_top_features(const sr_churn_alert_t *a, const float contrib[SR_CHURN_FEATURES]) {
    /* the expected top 3: the largest positive contributions, descending */
    int want[SR_CHURN_TOP_FEATURES];
    bool used[SR_CHURN_FEATURES] = {false};
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) {
        want[t] = -1;
        for (int k = 0; k < SR_CHURN_FEATURES; k++)
            if (!used[k] && contrib[k] > 0 && (want[t] < 0 || contrib[k] > contrib[want[t]]))
                want[t] = k;
        if (want[t] >= 0)
            used[want[t]] = true;
    }
    assert_true(a->top_feature[0] >= 0); /* training on label 1 makes some positive */
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) {
        assert_int_equal(a->top_feature[t], want[t]);
        if (a->top_feature[t] < 0)
            continue;
        assert_true(a->top_feature[t] < SR_CHURN_FEATURES);
        assert_true(a->top_weight[t] > 0);
        assert_float_equal(a->top_weight[t], contrib[a->top_feature[t]], 0);
        if (t > 0)
            assert_true(a->top_weight[t - 1] >= a->top_weight[t]);
    }
}

/* Fire once at >= enter; still high: nothing new; the user's event
 * resolves it (same fired_s); only then can it fire again. */
static void test_churn_alert_hysteresis_fires_once_until_user_returns(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_ADD_TO_CART, T0);
    event(f, 0, SR_EVENT_VIEW, T0 + HOUR_MS);
    const int64_t d1 = T0 + 2 * DAY_MS, d2 = d1 + DAY_MS, d3 = d2 + DAY_MS;

    train_until(f, 0, d1, 1, 0.97f);
    float contrib[SR_CHURN_FEATURES];
    float p1 = predict_at(f, 0, d1, contrib);
    sr_churn_sweep(f->c, f->profiles, 2, d1);
    size_t n;
    const sr_churn_alert_t *a = alerts(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].user, 0);
    assert_int_equal(a[0].state, SR_CHURN_FIRING);
    assert_int_equal(a[0].fired_s, (uint32_t)(d1 / 1000));
    assert_int_equal(a[0].event_ts_ms, d1);
    assert_int_equal(a[0].last_seen_ms, T0 + HOUR_MS);
    assert_float_equal(a[0].probability, p1, 0);
    assert_int_equal(a[0].level, expected_level(&f->cfg, p1));
    assert_top_features(&a[0], contrib);
    sr_churn_clear_outputs(f->c);

    /* still high (above enter) at the next sweep: no new alert */
    train_until(f, 0, d2, 1, 0.97f);
    sr_churn_sweep(f->c, f->profiles, 2, d2);
    alerts(f, &n);
    assert_int_equal(n, 0);
    assert_true(sr_churn_risk(f->c, 0) >= f->cfg.enter_threshold);

    /* the user is back: RESOLVED, with the id of the FIRING alert */
    event(f, 0, SR_EVENT_VIEW, d2 + HOUR_MS);
    a = alerts(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].state, SR_CHURN_RESOLVED);
    assert_int_equal(a[0].fired_s, (uint32_t)(d1 / 1000));
    assert_int_equal(a[0].event_ts_ms, d2 + HOUR_MS);
    assert_int_equal(a[0].top_feature[0], -1);
    /* another event: nothing more to resolve */
    event(f, 0, SR_EVENT_VIEW, d2 + 2 * HOUR_MS);
    alerts(f, &n);
    assert_int_equal(n, 1);
    sr_churn_clear_outputs(f->c);

    /* re-armed: high risk fires a new alert with a new fire time */
    train_until(f, 0, d3, 1, 0.97f);
    sr_churn_sweep(f->c, f->profiles, 2, d3);
    a = alerts(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].state, SR_CHURN_FIRING);
    assert_int_equal(a[0].fired_s, (uint32_t)(d3 / 1000));
}

/* Between the thresholds nothing changes; below exit the alert resolves
 * and re-arms without any user event. */
static void test_churn_alert_resolves_below_exit_threshold_only(void **state) {
    fixture_t *f = *state;
    event(f, 0, SR_EVENT_VIEW, T0);
    const int64_t d1 = T0 + DAY_MS;
    train_until(f, 0, d1, 1, 0.9f);
    sr_churn_sweep(f->c, f->profiles, 2, d1);
    size_t n;
    alerts(f, &n);
    assert_int_equal(n, 1);
    sr_churn_clear_outputs(f->c);

    /* risk in [exit, enter): hysteresis band */
    const int64_t d2 = d1 + DAY_MS;
    float p2 = train_until(f, 0, d2, 0, f->cfg.enter_threshold);
    assert_true(p2 >= f->cfg.exit_threshold);
    sr_churn_sweep(f->c, f->profiles, 2, d2);
    alerts(f, &n);
    assert_int_equal(n, 0);

    /* below exit: RESOLVED at the sweep, carrying the low probability */
    const int64_t d3 = d2 + DAY_MS;
    float p3 = train_until(f, 0, d3, 0, f->cfg.exit_threshold);
    sr_churn_sweep(f->c, f->profiles, 2, d3);
    const sr_churn_alert_t *a = alerts(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].state, SR_CHURN_RESOLVED);
    assert_int_equal(a[0].fired_s, (uint32_t)(d1 / 1000));
    assert_float_equal(a[0].probability, p3, 0);
    sr_churn_clear_outputs(f->c);

    /* re-armed by the low risk */
    const int64_t d4 = d3 + DAY_MS;
    train_until(f, 0, d4, 1, 0.9f);
    sr_churn_sweep(f->c, f->profiles, 2, d4);
    a = alerts(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].state, SR_CHURN_FIRING);
    assert_int_equal(a[0].fired_s, (uint32_t)(d4 / 1000));
}

static void test_churn_sweep_due_follows_interval_boundaries(void **state) {
    fixture_t *f = *state;
    const int64_t iv = f->cfg.sweep_interval_ms;
    /* first call starts the schedule at the boundary at or below */
    assert_int_equal(sr_churn_sweep_due(f->c, T0 + 5 * HOUR_MS), T0);
    assert_int_equal(sr_churn_sweep_due(f->c, T0), T0);
    sr_churn_sweep(f->c, f->profiles, 2, T0);
    /* same interval: nothing due */
    assert_int_equal(sr_churn_sweep_due(f->c, T0), INT64_MIN);
    assert_int_equal(sr_churn_sweep_due(f->c, T0 + iv - 1), INT64_MIN);
    /* next boundary crossed */
    assert_int_equal(sr_churn_sweep_due(f->c, T0 + iv), T0 + iv);
    /* several boundaries at once: the newest one */
    assert_int_equal(sr_churn_sweep_due(f->c, T0 + 3 * iv + 7), T0 + 3 * iv);
    /* a watermark that went back is never due */
    sr_churn_sweep(f->c, f->profiles, 2, T0 + 3 * iv);
    assert_int_equal(sr_churn_sweep_due(f->c, T0 + iv), INT64_MIN);
}

static void test_churn_sweep_due_floors_negative_watermarks(void **state) {
    fixture_t *f = *state;
    const int64_t iv = f->cfg.sweep_interval_ms;
    assert_int_equal(sr_churn_sweep_due(f->c, -1), -iv);
    assert_int_equal(sr_churn_sweep_due(f->c, -iv), -iv);
}

static void test_churn_new_rejects_inverted_thresholds(void **state) {
    fixture_t *f = *state;
    sr_churn_config_t bad = f->cfg;
    bad.exit_threshold = 0.9f;
    bad.enter_threshold = 0.8f;
    char errstr[160] = "";
    assert_null(sr_churn_new(&bad, &f->pcfg, errstr, sizeof errstr));
    assert_true(errstr[0] != '\0');
    assert_int_equal(sr_churn_ensure_user(f->c, 5), SR_ERR_INVALID);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_churn_predict_is_half_with_zero_weights),
        T(test_churn_features_are_finite_and_named),
        T(test_churn_training_moves_probability_toward_label),
        T(test_churn_sweep_skips_users_without_events),
        T(test_churn_example_resolves_zero_when_user_returns),
        T(test_churn_example_resolves_one_when_sweep_passes_horizon),
        T(test_churn_return_after_horizon_before_sweep_is_churned),
        T(test_churn_return_just_before_horizon_is_not_churned),
        T(test_churn_alert_hysteresis_fires_once_until_user_returns),
        T(test_churn_alert_resolves_below_exit_threshold_only),
        T(test_churn_sweep_due_follows_interval_boundaries),
        T(test_churn_sweep_due_floors_negative_watermarks),
        T(test_churn_new_rejects_inverted_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
