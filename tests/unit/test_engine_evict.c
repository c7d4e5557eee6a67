/* Engine: users idle past state.user.ttl are evicted on event time, their
 * churn example resolved first, their dense id reused; items idle past
 * state.item.ttl leave every summary, ring and list before their id is
 * reused; the state with evictions round-trips and does not depend on where
 * batches close. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/engine.h"
#include "streamrec/intern.h"

#include "mem_buffer.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
/* midnight: churn sweeps run on day boundaries, evictions on hours */
#define T0 (19675 * DAY_MS)
#define TTL_MS (20 * DAY_MS)

static sr_engine_config_t test_config(void) {
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.mf.k = 8;
    cfg.lateness_ms = 0; /* the watermark is the newest event time */
    cfg.user_ttl_ms = TTL_MS;
    cfg.item_ttl_ms = 15 * DAY_MS;
    cfg.churn.horizon_ms = 14 * DAY_MS;
    return cfg;
}

static sr_engine_t *new_engine(const sr_engine_config_t *cfg) {
    char errstr[256] = "";
    sr_engine_t *e = sr_engine_new(cfg, errstr, sizeof errstr);
    if (!e)
        fail_msg("sr_engine_new: %s", errstr);
    return e;
}

static void apply(sr_engine_t *e, const char *user, const char *item, sr_event_type_t type,
                  int64_t ts) {
    sr_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.user_id = sr_str_c(user);
    ev.item_id = sr_str_c(item);
    ev.type = type;
    ev.ts_ms = ts;
    char errstr[256] = "";
    if (sr_engine_apply(e, &ev, errstr, sizeof errstr) != SR_OK)
        fail_msg("apply: %s", errstr);
}

static uint32_t find(const sr_engine_t *e, const char *id) {
    return sr_engine_find_user(e, id, strlen(id));
}

static const sr_outbox_t *flush(sr_engine_t *e) {
    const sr_outbox_t *out = NULL;
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    return out;
}

static uint64_t evicted(const sr_engine_t *e) {
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    return st.users_evicted;
}

/* bob keeps the clock going with a view every 6 hours in [from, to] */
static void bob_until(sr_engine_t *e, int64_t from, int64_t to) {
    for (int64_t t = from; t <= to; t += 6 * HOUR_MS) apply(e, "bob", "i1", SR_EVENT_VIEW, t);
}

static void test_evict_user_after_ttl_not_before(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    sr_engine_t *e = new_engine(&cfg);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0 + HOUR_MS);
    apply(e, "alice", "i2", SR_EVENT_VIEW, T0 + 2 * HOUR_MS);
    bob_until(e, T0, T0 + TTL_MS);
    apply(e, "bob", "i1", SR_EVENT_VIEW, T0 + 2 * HOUR_MS + TTL_MS); /* a sweep at exactly her ttl */
    assert_int_not_equal(find(e, "alice"), SR_INTERN_NONE);
    assert_int_equal(evicted(e), 0);
    /* eviction counts days: she stays while the ttl's cutoff is on the day
     * of her last event (T0's) ... */
    bob_until(e, T0 + 3 * HOUR_MS + TTL_MS, T0 + 23 * HOUR_MS + TTL_MS);
    assert_int_not_equal(find(e, "alice"), SR_INTERN_NONE);
    assert_int_equal(evicted(e), 0);
    /* ... and goes at the first sweep of the next day */
    apply(e, "bob", "i1", SR_EVENT_VIEW, T0 + DAY_MS + TTL_MS);
    assert_int_equal(find(e, "alice"), SR_INTERN_NONE);
    assert_int_not_equal(find(e, "bob"), SR_INTERN_NONE);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.users_evicted, 1);
    assert_int_equal(st.users, 1);
    assert_int_equal(sr_engine_user_slots(e), 2); /* the slot stays, free */
    sr_engine_destroy(e);
}

static void test_ttl_zero_keeps_everyone_and_a_short_ttl_is_raised_to_the_horizon(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    cfg.user_ttl_ms = 0;
    sr_engine_t *e = new_engine(&cfg);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0);
    bob_until(e, T0, T0 + 400 * DAY_MS);
    assert_int_not_equal(find(e, "alice"), SR_INTERN_NONE);
    assert_int_equal(evicted(e), 0);
    sr_engine_destroy(e);

    cfg.user_ttl_ms = DAY_MS;
    e = new_engine(&cfg);
    assert_int_equal(sr_engine_config(e)->user_ttl_ms, cfg.churn.horizon_ms);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0);
    bob_until(e, T0, T0 + 10 * DAY_MS);
    assert_int_not_equal(find(e, "alice"), SR_INTERN_NONE); /* not after one day */
    bob_until(e, T0 + 10 * DAY_MS, T0 + 15 * DAY_MS);
    assert_int_equal(find(e, "alice"), SR_INTERN_NONE);
    sr_engine_destroy(e);
}

/* With ttl = horizon the example taken at the first churn sweep after her
 * visit (T0 + 1 d) is still inside its horizon when her ttl runs out: she
 * stays until it is due (T0 + 15 d), then the eviction labels it -- churn
 * sweeps every 4 days, so no churn sweep falls on T0 + 15 d to do it. */
static void test_eviction_resolves_the_pending_churn_label_first(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    cfg.user_ttl_ms = cfg.churn.horizon_ms;
    cfg.churn.sweep_interval_ms = 4 * DAY_MS;
    sr_engine_t *e = new_engine(&cfg);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0 + HOUR_MS);
    uint32_t a = find(e, "alice");
    bob_until(e, T0, T0 + 14 * DAY_MS + HOUR_MS);
    sr_churn_user_info_t info;
    sr_churn_user_info(sr_engine_churn(e), a, &info);
    assert_true(info.pending);
    assert_int_equal(info.pending_ms, T0 + DAY_MS);
    float predicted = info.pending_p;
    size_t n;
    sr_engine_take_labels(e, &n); /* bob's labels so far */

    /* past her ttl, but her example is not due: no eviction, no label */
    apply(e, "bob", "i1", SR_EVENT_VIEW, T0 + 14 * DAY_MS + 3 * HOUR_MS);
    assert_int_equal(evicted(e), 0);
    assert_int_equal(find(e, "alice"), a);
    const sr_churn_label_t *labels = sr_engine_take_labels(e, &n);
    for (size_t l = 0; l < n; l++) assert_int_not_equal(labels[l].user, a);

    bob_until(e, T0 + 14 * DAY_MS + 6 * HOUR_MS, T0 + 15 * DAY_MS);
    assert_int_equal(evicted(e), 1);
    assert_int_equal(find(e, "alice"), SR_INTERN_NONE);
    labels = sr_engine_take_labels(e, &n);
    size_t hers = 0;
    for (size_t l = 0; l < n; l++) {
        if (labels[l].user != a)
            continue;
        hers++;
        assert_int_equal(labels[l].churned, 1);
        assert_memory_equal(&labels[l].probability, &predicted, sizeof predicted);
    }
    assert_int_equal(hers, 1);
    sr_engine_destroy(e);
}

/* enter threshold 0: every scored user fires, nothing resolves on risk */
static void test_eviction_drops_the_firing_alert_without_a_resolution(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    cfg.churn.enter_threshold = 0;
    cfg.churn.exit_threshold = 0;
    sr_engine_t *e = new_engine(&cfg);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0 + HOUR_MS);
    uint32_t a = find(e, "alice");
    /* no flush until after the eviction: her FIRING alert of T0 + 1 d is
     * still undrained when carol takes her dense id */
    bob_until(e, T0, T0 + TTL_MS + DAY_MS + 6 * HOUR_MS);
    assert_int_equal(evicted(e), 1);
    apply(e, "carol", "i2", SR_EVENT_VIEW, T0 + DAY_MS + 7 * HOUR_MS + TTL_MS);
    assert_int_equal(find(e, "carol"), a);
    const sr_outbox_t *out = flush(e);
    size_t bobs = 0;
    for (size_t k = 0; k < out->n_alerts; k++) {
        assert_int_not_equal(out->alerts[k].alert.user, a);
        assert_string_equal(out->alerts[k].user_id, "bob");
        bobs++;
    }
    assert_true(bobs > 0); /* alerts did fire */
    sr_churn_user_info_t info;
    sr_churn_user_info(sr_engine_churn(e), a, &info);
    assert_false(info.firing);
    assert_false(info.pending);
    sr_engine_destroy(e);
}

static void test_evicted_slot_is_reused_and_a_returning_user_is_cold(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    sr_engine_t *e = new_engine(&cfg), *fresh = new_engine(&cfg);
    for (int k = 0; k < 5; k++) apply(e, "alice", k % 2 ? "i1" : "i2", SR_EVENT_PURCHASE, T0 + k);
    uint32_t a = find(e, "alice");
    bob_until(e, T0, T0 + TTL_MS + DAY_MS + 6 * HOUR_MS);
    assert_int_equal(find(e, "alice"), SR_INTERN_NONE);
    size_t slots = sr_engine_user_slots(e);

    /* a new user takes her slot: no growth, and nothing of hers */
    int64_t t = T0 + TTL_MS + DAY_MS + 7 * HOUR_MS;
    apply(e, "carol", "i3", SR_EVENT_REMOVE_FROM_CART, t); /* weight 0: no MF step */
    apply(fresh, "carol", "i3", SR_EVENT_REMOVE_FROM_CART, t);
    assert_int_equal(find(e, "carol"), a);
    assert_int_equal(sr_engine_user_slots(e), slots);
    const sr_profile_t *p = sr_engine_profile(e, a);
    assert_int_equal(p->events, 1);
    assert_int_equal(p->purchased_len, 0);
    assert_int_equal(p->counts[SR_EVENT_PURCHASE], 0);
    float fa[8], fb[8], acc_a, acc_b;
    sr_mf_user_get(sr_engine_mf(e), a, fa, &acc_a);
    sr_mf_user_get(sr_engine_mf(fresh), find(fresh, "carol"), fb, &acc_b);
    assert_memory_equal(fa, fb, sizeof fa); /* her factors: a new user's, seeded by "carol" */
    assert_memory_equal(&acc_a, &acc_b, sizeof acc_a);
    sr_churn_user_info_t info;
    sr_churn_user_info(sr_engine_churn(e), a, &info);
    assert_int_equal(info.examples, 0);

    /* alice comes back: a new user in a new slot, with one event */
    apply(e, "alice", "i4", SR_EVENT_VIEW, t + HOUR_MS);
    uint32_t back = find(e, "alice");
    assert_int_not_equal(back, SR_INTERN_NONE);
    assert_int_not_equal(back, a);
    p = sr_engine_profile(e, back);
    assert_int_equal(p->events, 1);
    assert_int_equal(p->first_seen_s, (uint32_t)((t + HOUR_MS) / 1000));
    assert_int_equal(p->purchased_len, 0);
    /* and her first recommendation update carries her new sequence */
    const sr_outbox_t *out = flush(e);
    bool found = false;
    for (size_t k = 0; k < out->n_recos; k++)
        if (strcmp(out->recos[k].user_id, "alice") == 0) {
            found = true;
            assert_int_equal(out->recos[k].seq, 1);
        }
    assert_true(found);
    sr_engine_destroy(e);
    sr_engine_destroy(fresh);
}

/* ---- items ---------------------------------------------------------------- */

static bool lists_item(const sr_neighbour_t *list, size_t n, uint32_t item) {
    for (size_t k = 0; k < n; k++)
        if (list[k].item == item)
            return true;
    return false;
}

static void test_item_evicted_after_ttl_leaves_every_reference(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    cfg.user_ttl_ms = 0; /* alice stays, her history must lose the item */
    sr_engine_t *e = new_engine(&cfg);
    apply(e, "alice", "old", SR_EVENT_PURCHASE, T0 + HOUR_MS);
    apply(e, "alice", "i1", SR_EVENT_VIEW, T0 + HOUR_MS + 1);
    apply(e, "alice", "i2", SR_EVENT_VIEW, T0 + HOUR_MS + 2);
    uint32_t old = sr_engine_find_item(e, "old", 3), i1 = sr_engine_find_item(e, "i1", 2);
    sr_neighbour_t list[SR_SIM_SLOTS];
    size_t n = sr_sim_neighbours(sr_engine_sim(e), i1, list, SR_SIM_SLOTS);
    assert_true(lists_item(list, n, old));
    assert_true(sr_profile_purchased(sr_engine_profile(e, find(e, "alice")), old));
    /* bob keeps i1 and i2 alive; "old" gets no event for 15 days */
    for (int64_t t = T0; t <= T0 + 15 * DAY_MS; t += 6 * HOUR_MS) {
        apply(e, "bob", "i1", SR_EVENT_VIEW, t);
        apply(e, "bob", "i2", SR_EVENT_VIEW, t + 1);
    }
    flush(e);
    assert_int_equal(sr_engine_find_item(e, "old", 3), old); /* not before its ttl */
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.items_evicted, 0);

    apply(e, "bob", "i1", SR_EVENT_VIEW, T0 + 16 * DAY_MS); /* the next day's sweep */
    sr_engine_stats(e, &st);
    assert_int_equal(st.items_evicted, 1);
    assert_int_equal(sr_engine_find_item(e, "old", 3), SR_INTERN_NONE);
    assert_null(sr_engine_item_id(e, old));
    n = sr_sim_neighbours(sr_engine_sim(e), i1, list, SR_SIM_SLOTS);
    assert_false(lists_item(list, n, old));
    const sr_profile_t *p = sr_engine_profile(e, find(e, "alice"));
    assert_int_equal(p->purchased_len, 0);
    assert_int_equal(p->recent_len, 2);
    assert_false(sr_profile_seen_recently(p, old));
    uint32_t recent[SR_PROFILE_RECENT_MAX];
    assert_int_equal(sr_profile_recent(p, recent, NULL, SR_PROFILE_RECENT_MAX), 2);
    assert_int_equal(recent[0], sr_engine_find_item(e, "i2", 2)); /* order kept, newest first */
    assert_int_equal(recent[1], i1);
    sr_neighbour_t top[SR_TRENDING_MAX];
    n = sr_trending_top(sr_engine_trending(e), top, SR_TRENDING_MAX);
    assert_false(lists_item(top, n, old));
    /* i1's list lost a member: it is published again, without "old" */
    const sr_outbox_t *out = flush(e);
    bool republished = false;
    for (size_t k = 0; k < out->n_sims; k++)
        if (out->sims[k].item == i1) {
            republished = true;
            assert_false(lists_item(out->sims[k].neighbours, out->sims[k].n_neighbours, old));
        }
    assert_true(republished);

    /* a new item takes the slot, with nothing of the old one's: its first
     * event has weight 0, so no model update touches it yet */
    sr_engine_t *other = new_engine(&cfg);
    apply(e, "carol", "fresh", SR_EVENT_REMOVE_FROM_CART, T0 + 16 * DAY_MS + 1);
    apply(other, "carol", "fresh", SR_EVENT_REMOVE_FROM_CART, T0 + 16 * DAY_MS + 1);
    assert_int_equal(sr_engine_find_item(e, "fresh", 5), old);
    uint32_t there = sr_engine_find_item(other, "fresh", 5);
    assert_memory_equal(sr_mf_item_row(sr_engine_mf(e), old),
                        sr_mf_item_row(sr_engine_mf(other), there), (size_t)cfg.mf.k * sizeof(float));
    assert_true(sr_mf_item_bias(sr_engine_mf(e), old) == 0.0f);
    assert_true(sr_sim_count(sr_engine_sim(e), old) == 0.0);
    assert_true(sr_trending_count(sr_engine_trending(e), old) == 0.0);
    assert_int_equal(sr_sim_neighbours(sr_engine_sim(e), old, list, SR_SIM_SLOTS), 0);
    assert_false(sr_profile_purchased(sr_engine_profile(e, find(e, "alice")), old));
    sr_engine_destroy(other);
    sr_engine_destroy(e);
}

/* ---- state --------------------------------------------------------------- */

/* A stream of users who come for a few days and leave: u<n> is active from
 * day n/10 for 3 days, one event per 4 hours, over 50 items that are
 * replaced by new ones every 5 days. */
static void feed(sr_engine_t *e, int day_from, int day_to, int flush_every) {
    char user[32], item[32];
    int applied = 0;
    for (int64_t t = (int64_t)day_from * DAY_MS; t < (int64_t)day_to * DAY_MS; t += 4 * HOUR_MS) {
        int day = (int)(t / DAY_MS);
        for (int n = (day - 2) * 10; n < (day + 1) * 10; n++) {
            if (n < 0)
                continue;
            snprintf(user, sizeof user, "u%d", n);
            snprintf(item, sizeof item, "d%d-%d", day / 5, (int)((n * 7 + t / HOUR_MS) % 50));
            apply(e, user, item, n % 5 == 0 ? SR_EVENT_ADD_TO_CART : SR_EVENT_VIEW, T0 + t + n);
            if (++applied % flush_every == 0)
                flush(e);
        }
    }
}

static void test_state_with_evictions_round_trips_and_continues_equal(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    sr_engine_t *a = new_engine(&cfg);
    feed(a, 0, 60, 16);
    sr_engine_stats_t st;
    sr_engine_stats(a, &st);
    assert_true(st.users_evicted > 200);
    assert_true(st.items_evicted > 300);
    assert_true(sr_sim_items(sr_engine_sim(a)) < 600 - 200); /* item slots reused too */
    assert_true(sr_engine_user_slots(a) < 600 - 200 + 100); /* slots were reused */
    buffer_t b = {0};
    uint64_t digest = 0;
    char errstr[512] = "";
    assert_int_equal(sr_engine_save(a, buffer_write, &b, &digest, errstr, sizeof errstr), SR_OK);
    sr_engine_t *c = NULL;
    sr_mem_source_t src = {b.bytes, b.len, 0};
    if (sr_engine_load(&cfg, sr_mem_read, &src, &c, errstr, sizeof errstr) != SR_OK)
        fail_msg("load: %s", errstr);
    assert_int_equal(sr_engine_digest(c), digest);
    sr_engine_stats_t sc;
    sr_engine_stats(c, &sc);
    assert_memory_equal(&st, &sc, sizeof st);
    /* both go on: the same users evicted, the same slots reused */
    feed(a, 60, 90, 16);
    feed(c, 60, 90, 16);
    flush(a);
    flush(c);
    assert_int_equal(sr_engine_digest(a), sr_engine_digest(c));
    assert_int_equal(evicted(a), evicted(c));
    assert_true(evicted(a) > st.users_evicted);
    assert_int_equal(find(a, "u850"), find(c, "u850"));
    free(b.bytes);
    sr_engine_destroy(a);
    sr_engine_destroy(c);
}

static void test_eviction_depends_on_event_time_not_on_batches(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    sr_engine_t *a = new_engine(&cfg), *b = new_engine(&cfg), *c = new_engine(&cfg);
    feed(a, 0, 80, 7);
    feed(b, 0, 80, 500);
    feed(c, 0, 80, 7); /* the same run again */
    flush(a);
    flush(b);
    flush(c);
    assert_true(evicted(a) > 300);
    assert_int_equal(evicted(a), evicted(b));
    assert_int_equal(sr_engine_digest(a), sr_engine_digest(b));
    assert_int_equal(sr_engine_digest(a), sr_engine_digest(c));
    sr_engine_destroy(a);
    sr_engine_destroy(b);
    sr_engine_destroy(c);
}

/* A user restored from the changelog into an engine that has applied no
 * event yet: its items exist only through that history and must count as
 * named at the user's last event, not at time 0 -- else the first event's
 * item sweep scrubs the history just restored. */
static void test_imported_history_lives_from_the_users_last_event(void **state) {
    (void)state;
    sr_engine_config_t cfg = test_config();
    sr_engine_t *a = new_engine(&cfg), *b = new_engine(&cfg);
    apply(a, "alice", "i1", SR_EVENT_VIEW, T0 + HOUR_MS);
    apply(a, "alice", "i2", SR_EVENT_VIEW, T0 + 2 * HOUR_MS);
    apply(a, "alice", "i3", SR_EVENT_PURCHASE, T0 + 3 * HOUR_MS);
    const sr_profile_t *pa = sr_engine_profile(a, find(a, "alice"));
    size_t len = sr_engine_export_user(a, find(a, "alice"), NULL, 0);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(sr_engine_export_user(a, find(a, "alice"), buf, len), len);
    char errstr[256] = "";
    if (sr_engine_import_user(b, "alice", 5, buf, len, errstr, sizeof errstr) != SR_OK)
        fail_msg("import: %s", errstr);
    free(buf);

    /* the first event, a day later: inside both ttls, nothing goes */
    apply(b, "bob", "b1", SR_EVENT_VIEW, T0 + DAY_MS);
    sr_engine_stats_t st;
    sr_engine_stats(b, &st);
    assert_int_equal(st.items_evicted, 0);
    assert_int_equal(st.users_evicted, 0);
    const sr_profile_t *pb = sr_engine_profile(b, find(b, "alice"));
    assert_int_equal(pb->recent_len, pa->recent_len);
    assert_int_equal(pb->purchased_len, 1);
    assert_true(pb->recent_len >= 2);
    uint32_t i3 = sr_engine_find_item(b, "i3", 2);
    assert_int_not_equal(i3, SR_INTERN_NONE);
    assert_true(sr_profile_purchased(pb, i3));
    assert_true(sr_profile_seen_recently(pb, sr_engine_find_item(b, "i1", 2)));

    /* still there the last day of the item ttl (15 days after 03:00) */
    for (int64_t t = T0 + DAY_MS; t <= T0 + 15 * DAY_MS + 18 * HOUR_MS; t += 6 * HOUR_MS)
        apply(b, "bob", "b1", SR_EVENT_VIEW, t);
    sr_engine_stats(b, &st);
    assert_int_equal(st.items_evicted, 0);
    assert_int_equal(sr_engine_profile(b, find(b, "alice"))->purchased_len, 1);
    /* the next daily sweep takes her three items, in event time */
    apply(b, "bob", "b1", SR_EVENT_VIEW, T0 + 16 * DAY_MS);
    sr_engine_stats(b, &st);
    assert_int_equal(st.items_evicted, 3);
    assert_int_equal(sr_engine_find_item(b, "i3", 2), SR_INTERN_NONE);
    pb = sr_engine_profile(b, find(b, "alice"));
    assert_int_equal(pb->recent_len, 0);
    assert_int_equal(pb->purchased_len, 0);
    /* and herself once the user ttl has passed the day of her last event */
    bob_until(b, T0 + 16 * DAY_MS, T0 + TTL_MS + DAY_MS + 6 * HOUR_MS);
    assert_int_equal(find(b, "alice"), SR_INTERN_NONE);
    sr_engine_destroy(a);
    sr_engine_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evict_user_after_ttl_not_before),
        cmocka_unit_test(test_ttl_zero_keeps_everyone_and_a_short_ttl_is_raised_to_the_horizon),
        cmocka_unit_test(test_eviction_resolves_the_pending_churn_label_first),
        cmocka_unit_test(test_eviction_drops_the_firing_alert_without_a_resolution),
        cmocka_unit_test(test_evicted_slot_is_reused_and_a_returning_user_is_cold),
        cmocka_unit_test(test_item_evicted_after_ttl_leaves_every_reference),
        cmocka_unit_test(test_state_with_evictions_round_trips_and_continues_equal),
        cmocka_unit_test(test_eviction_depends_on_event_time_not_on_batches),
        cmocka_unit_test(test_imported_history_lives_from_the_users_last_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
