#include "streamrec/churn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define NO_EXAMPLE UINT32_MAX /* pending_s of a user without a pending example */
#define Z_CLIP 5.0f

static const char *const feature_names[SR_CHURN_FEATURES] = {
    "recency_hours",  "activity_1d",   "activity_7d",      "activity_30d",
    "activity_trend", "tenure_days",   "sessions",         "events",
    "cart_abandon",   "spend",         "purchase_share",   "session_minutes",
    "days_between_sessions",
};

/* Features of a pending example are kept as int16 at 1/FEATURE_SCALE
 * resolution: every feature is a log, a log-ratio or a share, well inside
 * +-32, and 0.001 is far below what the model can use. Half the bytes of a
 * float, for the one per-user field that is wider than a word. */
#define FEATURE_SCALE 1024.0f
#define MINUTE_MS (60 * 1000LL)

/* 52 bytes a user. An example is created at a sweep, and sweeps fall on
 * multiples of the sweep interval, a whole number of seconds
 * (sr_churn_new checks), so its creation time is kept in seconds: the 4
 * bytes that keeps the per-user budget. Event times end in 2106 (the
 * engine refuses later ones), within a uint32 of seconds. */
typedef struct user_state {
    uint32_t pending_s;        /* creation time of the pending example, or NO_EXAMPLE */
    int16_t pending_x[SR_CHURN_FEATURES];
    int32_t next_example_min;  /* no new example before this minute (epoch minutes) */
    float pending_p;
    float risk;              /* last scored probability, -1 = never */
    uint32_t fired_s;        /* fire time of the current alert */
    uint16_t examples;       /* examples taken so far (for the delay hash) */
    uint8_t firing;
} user_state_t;

static inline int64_t pending_ms(const user_state_t *s) { return (int64_t)s->pending_s * 1000; }

typedef struct growable {
    void *items;
    size_t n, cap, size;
} growable_t;

struct sr_churn {
    sr_churn_config_t cfg;
    sr_profile_config_t profile_cfg;
    user_state_t *users;
    size_t n_users, cap_users;
    /* model */
    double weight[SR_CHURN_FEATURES + 1]; /* last one is the bias */
    double accum[SR_CHURN_FEATURES + 1];
    /* standardiser (Welford) */
    double mean[SR_CHURN_FEATURES], m2[SR_CHURN_FEATURES];
    uint64_t n_seen;
    int64_t last_sweep_ms;
    growable_t alerts, labels;
};

void sr_churn_config_defaults(sr_churn_config_t *cfg) {
    cfg->horizon_ms = 14 * DAY_MS;
    cfg->sweep_interval_ms = 1 * DAY_MS;
    cfg->example_spread_ms = 14 * DAY_MS;
    cfg->learning_rate = 0.3f;
    cfg->l2 = 1e-4f;
    cfg->enter_threshold = 0.8f;
    cfg->exit_threshold = 0.5f;
    cfg->high_level = 0.95f;
    cfg->medium_level = 0.9f;
}

sr_churn_t *sr_churn_new(const sr_churn_config_t *cfg, const sr_profile_config_t *profile_cfg,
                         char *errstr, size_t errstr_size) {
    if (cfg->horizon_ms <= 0 || cfg->sweep_interval_ms <= 0 || cfg->example_spread_ms < 0 ||
        cfg->sweep_interval_ms % 1000 != 0 || !(cfg->exit_threshold <= cfg->enter_threshold)) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "churn: horizon and sweep interval must be > 0 (the interval a whole number of "
                  "seconds) and exit threshold <= enter threshold");
        return NULL;
    }
    sr_churn_t *c = calloc(1, sizeof *c);
    if (!c) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating churn");
        return NULL;
    }
    c->cfg = *cfg;
    c->profile_cfg = *profile_cfg;
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) c->accum[f] = 1.0;
    c->last_sweep_ms = INT64_MIN;
    c->alerts.size = sizeof(sr_churn_alert_t);
    c->labels.size = sizeof(sr_churn_label_t);
    return c;
}

void sr_churn_destroy(sr_churn_t *c) {
    if (!c)
        return;
    free(c->users);
    free(c->alerts.items);
    free(c->labels.items);
    free(c);
}

static void *push(growable_t *g) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        void *items = realloc(g->items, cap * g->size);
        if (!items)
            return NULL;
        g->items = items;
        g->cap = cap;
    }
    return (char *)g->items + g->n++ * g->size;
}

sr_err_t sr_churn_ensure_user(sr_churn_t *c, uint32_t u) {
    if (u < c->n_users)
        return SR_OK;
    if (u != c->n_users)
        return SR_ERR_INVALID;
    if (c->n_users == c->cap_users) {
        size_t cap = c->cap_users ? c->cap_users * 2 : 1024;
        user_state_t *users = realloc(c->users, cap * sizeof *users);
        if (!users)
            return SR_ERR_NOMEM;
        c->users = users;
        c->cap_users = cap;
    }
    c->n_users++;
    sr_churn_user_reset(c, u);
    return SR_OK;
}

static float log1pf_pos(double v) { return (float)log1p(v > 0 ? v : 0); }

void sr_churn_features(const sr_churn_t *c, const sr_profile_t *p, int64_t now_ms,
                       float x[SR_CHURN_FEATURES]) {
    const sr_profile_config_t *pc = &c->profile_cfg;
    double a1 = sr_profile_activity(p, pc, 0, now_ms);
    double a7 = sr_profile_activity(p, pc, 1, now_ms);
    double a30 = sr_profile_activity(p, pc, 2, now_ms);
    double events = 0;
    for (int t = 0; t < SR_EVENT__COUNT; t++) events += p->counts[t];
    double tenure_days = (double)(now_ms - (int64_t)p->first_seen_s * 1000) / DAY_MS;
    double sessions = p->sessions ? p->sessions : 1;
    double carts = p->counts[SR_EVENT_ADD_TO_CART], purchases = p->counts[SR_EVENT_PURCHASE];
    double abandon = carts > 0 ? (carts - purchases) / (carts + 1) : 0;

    x[0] = log1pf_pos((double)(now_ms - p->last_seen_ms) / HOUR_MS);
    x[1] = log1pf_pos(a1);
    x[2] = log1pf_pos(a7);
    x[3] = log1pf_pos(a30);
    /* rate per half-life: a steady user has a trend near 0, a fading one < 0 */
    x[4] = (float)log((a7 / 7.0 + 1e-3) / (a30 / 30.0 + 1e-3));
    x[5] = log1pf_pos(tenure_days);
    x[6] = log1pf_pos(sessions);
    x[7] = log1pf_pos(events);
    x[8] = (float)(abandon < 0 ? 0 : abandon);
    x[9] = log1pf_pos(p->spend);
    x[10] = (float)(events > 0 ? purchases / events : 0);
    x[11] = log1pf_pos(p->session_seconds / 60.0 / sessions);
    x[12] = log1pf_pos(tenure_days / sessions);
}

static void standardise(const sr_churn_t *c, const float x[SR_CHURN_FEATURES],
                        float z[SR_CHURN_FEATURES]) {
    for (int f = 0; f < SR_CHURN_FEATURES; f++) {
        double var = c->n_seen > 1 ? c->m2[f] / (double)(c->n_seen - 1) : 1.0;
        double v = ((double)x[f] - c->mean[f]) / sqrt(var + 1e-6);
        z[f] = (float)(v > Z_CLIP ? Z_CLIP : v < -Z_CLIP ? -Z_CLIP : v);
    }
}

static void observe_features(sr_churn_t *c, const float x[SR_CHURN_FEATURES]) {
    c->n_seen++;
    for (int f = 0; f < SR_CHURN_FEATURES; f++) {
        double d = x[f] - c->mean[f];
        c->mean[f] += d / (double)c->n_seen;
        c->m2[f] += d * (x[f] - c->mean[f]);
    }
}

float sr_churn_predict(const sr_churn_t *c, const float x[SR_CHURN_FEATURES],
                       float contrib[SR_CHURN_FEATURES]) {
    float z[SR_CHURN_FEATURES];
    standardise(c, x, z);
    double logit = c->weight[SR_CHURN_FEATURES];
    for (int f = 0; f < SR_CHURN_FEATURES; f++) {
        double term = c->weight[f] * z[f];
        if (contrib)
            contrib[f] = (float)term;
        logit += term;
    }
    return (float)(1.0 / (1.0 + exp(-logit)));
}

void sr_churn_train(sr_churn_t *c, const float x[SR_CHURN_FEATURES], int churned) {
    float z[SR_CHURN_FEATURES];
    standardise(c, x, z);
    double p = sr_churn_predict(c, x, NULL);
    double err = p - (churned ? 1.0 : 0.0); /* d(log loss)/d(logit) */
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) {
        double xf = f < SR_CHURN_FEATURES ? z[f] : 1.0;
        double g = err * xf + (f < SR_CHURN_FEATURES ? c->cfg.l2 * c->weight[f] : 0.0);
        c->accum[f] += g * g;
        c->weight[f] -= c->cfg.learning_rate * g / sqrt(c->accum[f]);
    }
}

static int16_t quantise(float v) {
    float q = v * FEATURE_SCALE;
    return (int16_t)(q > INT16_MAX ? INT16_MAX : q < -INT16_MAX ? -INT16_MAX : lrintf(q));
}

static int32_t epoch_minutes(int64_t ms) {
    int64_t m = ms >= 0 ? ms / MINUTE_MS : -((-ms + MINUTE_MS - 1) / MINUTE_MS);
    return m > INT32_MAX ? INT32_MAX : m < INT32_MIN + 1 ? INT32_MIN + 1 : (int32_t)m;
}

static void resolve(sr_churn_t *c, uint32_t u, user_state_t *s, int churned, int64_t at_ms) {
    float x[SR_CHURN_FEATURES];
    for (int f = 0; f < SR_CHURN_FEATURES; f++) x[f] = s->pending_x[f] / FEATURE_SCALE;
    sr_churn_train(c, x, churned);
    sr_churn_label_t *l = push(&c->labels);
    if (l) {
        l->user = u;
        l->probability = s->pending_p;
        l->churned = (uint8_t)churned;
    }
    s->pending_s = NO_EXAMPLE;
    s->examples++;
    uint64_t h = sr_hash_bytes(&u, sizeof u, s->examples);
    s->next_example_min = epoch_minutes(at_ms + (c->cfg.example_spread_ms > 0
                                      ? (int64_t)(h % (uint64_t)c->cfg.example_spread_ms) : 0));
}

static sr_churn_level_t level_of(const sr_churn_t *c, float p) {
    return p >= c->cfg.high_level ? SR_CHURN_HIGH
         : p >= c->cfg.medium_level ? SR_CHURN_MEDIUM : SR_CHURN_LOW;
}

static void emit_alert(sr_churn_t *c, uint32_t u, const user_state_t *s, const sr_profile_t *p,
                       sr_churn_state_t state, float prob, const float *contrib, int64_t at_ms) {
    sr_churn_alert_t *a = push(&c->alerts);
    if (!a)
        return;
    memset(a, 0, sizeof *a);
    a->user = u;
    a->fired_s = s->fired_s;
    a->probability = prob;
    a->level = level_of(c, prob);
    a->state = state;
    a->last_seen_ms = p->last_seen_ms;
    a->event_ts_ms = at_ms;
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) {
        a->top_feature[t] = -1;
        a->top_weight[t] = 0;
    }
    if (!contrib)
        return;
    /* The features pushing the risk up most: what a CRM agent reads as "why". */
    for (int f = 0; f < SR_CHURN_FEATURES; f++) {
        float w = contrib[f];
        if (w <= 0)
            continue;
        for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) {
            if (a->top_feature[t] < 0 || w > a->top_weight[t]) {
                for (int m = SR_CHURN_TOP_FEATURES - 1; m > t; m--) {
                    a->top_feature[m] = a->top_feature[m - 1];
                    a->top_weight[m] = a->top_weight[m - 1];
                }
                a->top_feature[t] = f;
                a->top_weight[t] = w;
                break;
            }
        }
    }
}

void sr_churn_on_event(sr_churn_t *c, uint32_t u, const sr_profile_t *p, int64_t ts_ms) {
    user_state_t *s = &c->users[u];
    /* A return after creation + horizon is still a churn: the label must not
     * depend on whether a sweep got there first (the watermark lags event
     * time, and the horizon need not be a multiple of the sweep interval). */
    if (s->pending_s != NO_EXAMPLE && ts_ms > pending_ms(s))
        resolve(c, u, s, ts_ms >= pending_ms(s) + c->cfg.horizon_ms, ts_ms);
    if (s->firing) {
        s->firing = 0;
        emit_alert(c, u, s, p, SR_CHURN_RESOLVED, s->risk, NULL, ts_ms);
    }
}

void sr_churn_prefetch_user(const sr_churn_t *c, uint32_t u) {
    if (u < c->n_users)
        __builtin_prefetch(&c->users[u]);
}

int64_t sr_churn_sweep_due(const sr_churn_t *c, int64_t watermark_ms) {
    int64_t iv = c->cfg.sweep_interval_ms;
    int64_t boundary = watermark_ms - (((watermark_ms % iv) + iv) % iv);
    if (c->last_sweep_ms == INT64_MIN)
        return boundary; /* first sweep: start the schedule */
    return boundary > c->last_sweep_ms ? boundary : INT64_MIN;
}

void sr_churn_sweep(sr_churn_t *c, const sr_profile_t *profiles, size_t n_users, int64_t now_ms) {
    c->last_sweep_ms = now_ms;
    if (n_users > c->n_users)
        n_users = c->n_users;
    float x[SR_CHURN_FEATURES], contrib[SR_CHURN_FEATURES];
    for (uint32_t u = 0; u < n_users; u++) {
        user_state_t *s = &c->users[u];
        const sr_profile_t *p = &profiles[u];
        if (p->sessions == 0 || p->last_seen_ms > now_ms)
            continue; /* no events yet, or only events after this sweep's time */
        if (s->pending_s != NO_EXAMPLE && now_ms >= pending_ms(s) + c->cfg.horizon_ms)
            resolve(c, u, s, 1, now_ms);
        if (now_ms - p->last_seen_ms >= c->cfg.horizon_ms)
            continue; /* churned: no new example, and a firing alert stays until they return */
        sr_churn_features(c, p, now_ms, x);
        float prob = sr_churn_predict(c, x, contrib);
        s->risk = prob;
        if (s->pending_s == NO_EXAMPLE && now_ms >= (int64_t)s->next_example_min * MINUTE_MS) {
            for (int f = 0; f < SR_CHURN_FEATURES; f++) s->pending_x[f] = quantise(x[f]);
            s->pending_p = prob;
            s->pending_s = (uint32_t)(now_ms / 1000);
            observe_features(c, x);
        }
        if (!s->firing && prob >= c->cfg.enter_threshold) {
            s->firing = 1;
            s->fired_s = (uint32_t)(now_ms / 1000);
            emit_alert(c, u, s, p, SR_CHURN_FIRING, prob, contrib, now_ms);
        } else if (s->firing && prob < c->cfg.exit_threshold) {
            s->firing = 0;
            emit_alert(c, u, s, p, SR_CHURN_RESOLVED, prob, NULL, now_ms);
        }
    }
}

const char *sr_churn_feature_name(int f) {
    return (f >= 0 && f < SR_CHURN_FEATURES) ? feature_names[f] : "unknown";
}

const char *sr_churn_level_name(sr_churn_level_t level) {
    switch (level) {
    case SR_CHURN_HIGH: return "HIGH";
    case SR_CHURN_MEDIUM: return "MEDIUM";
    default: return "LOW";
    }
}

const sr_churn_alert_t *sr_churn_alerts(const sr_churn_t *c, size_t *n) {
    *n = c->alerts.n;
    return c->alerts.items;
}

const sr_churn_label_t *sr_churn_labels(const sr_churn_t *c, size_t *n) {
    *n = c->labels.n;
    return c->labels.items;
}

void sr_churn_clear_outputs(sr_churn_t *c) {
    c->alerts.n = 0;
    c->labels.n = 0;
}

float sr_churn_risk(const sr_churn_t *c, uint32_t u) {
    return u < c->n_users ? c->users[u].risk : -1.0f;
}

size_t sr_churn_bytes_per_user(void) { return sizeof(user_state_t); }

void sr_churn_user_save(const sr_churn_t *c, uint32_t u, void *out) {
    memcpy(out, &c->users[u], sizeof(user_state_t));
}

void sr_churn_user_load(sr_churn_t *c, uint32_t u, const void *in) {
    memcpy(&c->users[u], in, sizeof(user_state_t));
}

void sr_churn_user_reset(sr_churn_t *c, uint32_t u) {
    user_state_t *s = &c->users[u];
    memset(s, 0, sizeof *s);
    s->pending_s = NO_EXAMPLE;
    s->next_example_min = INT32_MIN;
    s->risk = -1.0f;
}

int64_t sr_churn_label_due_ms(const sr_churn_t *c, uint32_t u) {
    const user_state_t *s = &c->users[u];
    return s->pending_s == NO_EXAMPLE ? INT64_MIN : pending_ms(s) + c->cfg.horizon_ms;
}

void sr_churn_evict_user(sr_churn_t *c, uint32_t u, int64_t now_ms) {
    user_state_t *s = &c->users[u];
    if (s->pending_s != NO_EXAMPLE)
        resolve(c, u, s, 1, now_ms);
    sr_churn_forget_user(c, u);
}

void sr_churn_forget_user(sr_churn_t *c, uint32_t u) {
    sr_churn_alert_t *alerts = c->alerts.items;
    size_t kept = 0;
    for (size_t a = 0; a < c->alerts.n; a++)
        if (alerts[a].user != u)
            alerts[kept++] = alerts[a];
    c->alerts.n = kept;
    sr_churn_user_reset(c, u);
}

void sr_churn_user_info(const sr_churn_t *c, uint32_t u, sr_churn_user_info_t *out) {
    memset(out, 0, sizeof *out);
    out->risk = -1.0f;
    if (u >= c->n_users)
        return;
    const user_state_t *s = &c->users[u];
    out->risk = s->risk;
    out->firing = s->firing != 0;
    out->fired_s = s->fired_s;
    out->pending = s->pending_s != NO_EXAMPLE;
    out->pending_ms = s->pending_s != NO_EXAMPLE ? pending_ms(s) : INT64_MIN;
    out->pending_p = s->pending_p;
    out->examples = s->examples;
}

/* ---- save and load ------------------------------------------------------
 *
 * "CHRN", u32 features; the model: weights and accumulators (features + 1,
 * the bias last), means and M2, u64 examples seen, i64 last sweep; u32
 * users, each slot field by field; u32 alerts and u32 labels not drained
 * yet, each field by field. */

static void user_save(const user_state_t *s, sr_writer_t *w) {
    /* milliseconds on disk, as before the field shrank: the format stays */
    sr_writer_i64(w, s->pending_s != NO_EXAMPLE ? pending_ms(s) : INT64_MIN);
    for (int f = 0; f < SR_CHURN_FEATURES; f++) sr_writer_i16(w, s->pending_x[f]);
    sr_writer_i32(w, s->next_example_min);
    sr_writer_f32(w, s->pending_p);
    sr_writer_f32(w, s->risk);
    sr_writer_u32(w, s->fired_s);
    sr_writer_u16(w, s->examples);
    sr_writer_u8(w, s->firing);
}

static bool user_load(user_state_t *s, sr_reader_t *r) {
    int64_t pending = sr_reader_i64(r);
    bool pending_ok = pending == INT64_MIN ||
                      (pending >= 0 && pending % 1000 == 0 && pending / 1000 < NO_EXAMPLE);
    s->pending_s = pending_ok && pending != INT64_MIN ? (uint32_t)(pending / 1000) : NO_EXAMPLE;
    for (int f = 0; f < SR_CHURN_FEATURES; f++) s->pending_x[f] = sr_reader_i16(r);
    s->next_example_min = sr_reader_i32(r);
    s->pending_p = sr_reader_f32(r);
    s->risk = sr_reader_f32(r);
    s->fired_s = sr_reader_u32(r);
    s->examples = sr_reader_u16(r);
    s->firing = sr_reader_u8(r);
    return pending_ok && s->firing <= 1;
}

static void alert_save(const sr_churn_alert_t *a, sr_writer_t *w) {
    sr_writer_u32(w, a->user);
    sr_writer_u32(w, a->fired_s);
    sr_writer_f32(w, a->probability);
    sr_writer_u8(w, (uint8_t)a->level);
    sr_writer_u8(w, (uint8_t)a->state);
    sr_writer_i64(w, a->last_seen_ms);
    sr_writer_i64(w, a->event_ts_ms);
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) sr_writer_i32(w, a->top_feature[t]);
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) sr_writer_f32(w, a->top_weight[t]);
}

static bool alert_load(sr_churn_alert_t *a, sr_reader_t *r, size_t n_users) {
    memset(a, 0, sizeof *a);
    a->user = sr_reader_u32(r);
    a->fired_s = sr_reader_u32(r);
    a->probability = sr_reader_f32(r);
    uint8_t level = sr_reader_u8(r), state = sr_reader_u8(r);
    a->level = level == SR_CHURN_HIGH ? SR_CHURN_HIGH
             : level == SR_CHURN_MEDIUM ? SR_CHURN_MEDIUM : SR_CHURN_LOW;
    a->state = state == SR_CHURN_RESOLVED ? SR_CHURN_RESOLVED : SR_CHURN_FIRING;
    a->last_seen_ms = sr_reader_i64(r);
    a->event_ts_ms = sr_reader_i64(r);
    bool ok = a->user < n_users && level <= SR_CHURN_HIGH && state <= SR_CHURN_RESOLVED;
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) {
        a->top_feature[t] = sr_reader_i32(r);
        ok = ok && a->top_feature[t] >= -1 && a->top_feature[t] < SR_CHURN_FEATURES;
    }
    for (int t = 0; t < SR_CHURN_TOP_FEATURES; t++) a->top_weight[t] = sr_reader_f32(r);
    return ok;
}

void sr_churn_save(const sr_churn_t *c, sr_writer_t *w) {
    sr_writer_tag(w, "CHRN");
    sr_writer_u32(w, SR_CHURN_FEATURES);
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) sr_writer_f64(w, c->weight[f]);
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) sr_writer_f64(w, c->accum[f]);
    for (int f = 0; f < SR_CHURN_FEATURES; f++) sr_writer_f64(w, c->mean[f]);
    for (int f = 0; f < SR_CHURN_FEATURES; f++) sr_writer_f64(w, c->m2[f]);
    sr_writer_u64(w, c->n_seen);
    sr_writer_i64(w, c->last_sweep_ms);
    sr_writer_u32(w, (uint32_t)c->n_users);
    for (size_t u = 0; u < c->n_users; u++) user_save(&c->users[u], w);
    const sr_churn_alert_t *alerts = c->alerts.items;
    sr_writer_u32(w, (uint32_t)c->alerts.n);
    for (size_t a = 0; a < c->alerts.n; a++) alert_save(&alerts[a], w);
    const sr_churn_label_t *labels = c->labels.items;
    sr_writer_u32(w, (uint32_t)c->labels.n);
    for (size_t l = 0; l < c->labels.n; l++) {
        sr_writer_u32(w, labels[l].user);
        sr_writer_f32(w, labels[l].probability);
        sr_writer_u8(w, labels[l].churned);
    }
}

sr_err_t sr_churn_load(sr_churn_t *c, sr_reader_t *r, size_t n_users, char *errstr,
                       size_t errstr_size) {
    if (c->n_users || c->alerts.n || c->labels.n || c->n_seen)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "churn: loading into a used module");
    if (!sr_reader_tag(r, "CHRN"))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "churn: no churn section where one was expected")
                               : sr_reader_error(r, "churn", errstr, errstr_size);
    uint32_t features = sr_reader_u32(r);
    if (sr_reader_ok(r) && features != SR_CHURN_FEATURES)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "churn: state has %u features, this build %d", features,
                         SR_CHURN_FEATURES);
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) c->weight[f] = sr_reader_f64(r);
    for (int f = 0; f <= SR_CHURN_FEATURES; f++) c->accum[f] = sr_reader_f64(r);
    for (int f = 0; f < SR_CHURN_FEATURES; f++) c->mean[f] = sr_reader_f64(r);
    for (int f = 0; f < SR_CHURN_FEATURES; f++) c->m2[f] = sr_reader_f64(r);
    c->n_seen = sr_reader_u64(r);
    c->last_sweep_ms = sr_reader_i64(r);
    uint32_t users = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "churn", errstr, errstr_size);
    if (users != n_users)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "churn: %u user slots for %zu users", users, n_users);
    if (users > 0) {
        size_t cap = 1024;
        while (cap < users) cap *= 2;
        /* zeroed: a slot is exported (handoff) as its bytes, padding included */
        if (!(c->users = calloc(cap, sizeof *c->users)))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                             "churn: out of memory for %u users", users);
        c->cap_users = cap;
        c->n_users = users;
    }
    for (uint32_t u = 0; u < users; u++) {
        bool ok = user_load(&c->users[u], r);
        if (!sr_reader_ok(r))
            return sr_reader_error(r, "churn", errstr, errstr_size);
        if (!ok)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "churn: user %u has an alert flag out of range", u);
    }
    uint32_t n_alerts = sr_reader_u32(r);
    for (uint32_t a = 0; a < n_alerts && sr_reader_ok(r); a++) {
        sr_churn_alert_t alert;
        bool ok = alert_load(&alert, r, users);
        if (!sr_reader_ok(r))
            break;
        if (!ok)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "churn: pending alert %u is out of range", a);
        sr_churn_alert_t *slot = push(&c->alerts);
        if (!slot)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "churn: out of memory");
        *slot = alert;
    }
    uint32_t n_labels = sr_reader_u32(r);
    for (uint32_t l = 0; l < n_labels && sr_reader_ok(r); l++) {
        sr_churn_label_t label;
        label.user = sr_reader_u32(r);
        label.probability = sr_reader_f32(r);
        label.churned = sr_reader_u8(r);
        if (!sr_reader_ok(r))
            break;
        if (label.user >= users || label.churned > 1)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "churn: pending label %u is out of range", l);
        sr_churn_label_t *slot = push(&c->labels);
        if (!slot)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "churn: out of memory");
        *slot = label;
    }
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "churn", errstr, errstr_size);
    return SR_OK;
}
