/* Engine: determinism, batching, rejection, per-user sequence, alert ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"
#include "streamrec/engine.h"
#include "streamrec/intern.h"
#include "streamrec/rng.h"

#define HOUR_MS (3600 * 1000LL)
#define MINUTE_MS (60 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define D0 (1700000000000LL - 1700000000000LL % DAY_MS) /* a day boundary */

static sr_engine_t *new_engine(const sr_engine_config_t *cfg) {
    char errstr[256] = "";
    sr_engine_t *e = sr_engine_new(cfg, errstr, sizeof errstr);
    if (!e)
        fail_msg("sr_engine_new: %s", errstr);
    return e;
}

static sr_engine_t *default_engine(void) {
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    return new_engine(&cfg);
}

static sr_event_t ev(const char *user, const char *item, sr_event_type_t type, int64_t ts) {
    sr_event_t e;
    memset(&e, 0, sizeof e);
    e.user_id = sr_str_c(user);
    e.item_id = sr_str_c(item);
    e.type = type;
    e.ts_ms = ts;
    return e;
}

static void apply_ok(sr_engine_t *e, const sr_event_t *x) {
    char errstr[256] = "";
    sr_err_t err = sr_engine_apply(e, x, errstr, sizeof errstr);
    if (err != SR_OK)
        fail_msg("apply: %s", errstr);
}

static const sr_outbox_t *flush(sr_engine_t *e) {
    const sr_outbox_t *out = NULL;
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    assert_non_null(out);
    return out;
}

/* ---- determinism over a pseudo-random stream ---------------------------- */

typedef struct stream_event {
    char user[16], item[16], category[8];
    sr_event_type_t type;
    int64_t ts_ms;
    double price;
} stream_event_t;

/* ~5000 events, 200 users, 300 items, all types (a few UNKNOWN), increasing
 * time over ~40 days so churn sweeps, examples and alerts happen. Skewed item
 * popularity so similarity and trending have structure. */
static stream_event_t *make_stream(size_t n, uint64_t seed) {
    stream_event_t *s = calloc(n, sizeof *s);
    uint64_t rng = seed;
    int64_t ts = D0 + HOUR_MS;
    for (size_t k = 0; k < n; k++) {
        ts += sr_rng_below(&rng, 1400) * 1000LL;
        uint32_t u = sr_rng_below(&rng, 200);
        uint32_t i = sr_rng_below(&rng, 300);
        if (sr_rng_below(&rng, 2))
            i = i % 30; /* half the events on 30 popular items */
        uint32_t t = sr_rng_below(&rng, 100);
        s[k].type = t < 70 ? SR_EVENT_VIEW
                  : t < 85 ? SR_EVENT_ADD_TO_CART
                  : t < 90 ? SR_EVENT_REMOVE_FROM_CART
                  : t < 98 ? SR_EVENT_PURCHASE : SR_EVENT_UNKNOWN;
        snprintf(s[k].user, sizeof s[k].user, "u%03u", u);
        if (sr_rng_below(&rng, 50) != 0) /* 2% without an item */
            snprintf(s[k].item, sizeof s[k].item, "item-%u", i);
        snprintf(s[k].category, sizeof s[k].category, "c%u", i % 12);
        s[k].ts_ms = ts;
        s[k].price = 1.0 + (double)(i % 50);
    }
    return s;
}

static sr_event_t to_event(const stream_event_t *s) {
    sr_event_t e = ev(s->user, s->item, s->type, s->ts_ms);
    e.category_id = sr_str_c(s->category);
    e.price = s->price;
    e.has_price = s->type == SR_EVENT_PURCHASE;
    return e;
}

static void assert_outboxes_equal(const sr_outbox_t *a, const sr_outbox_t *b) {
    assert_int_equal(a->model_version, b->model_version);
    assert_int_equal(a->watermark_ms, b->watermark_ms);
    assert_int_equal(a->n_recos, b->n_recos);
    for (size_t r = 0; r < a->n_recos; r++) {
        const sr_reco_update_t *x = &a->recos[r], *y = &b->recos[r];
        assert_int_equal(x->user, y->user);
        assert_string_equal(x->user_id, y->user_id);
        assert_int_equal(x->event_ts_ms, y->event_ts_ms);
        assert_int_equal(x->seq, y->seq);
        assert_int_equal(x->n_items, y->n_items);
        assert_memory_equal(x->items, y->items, x->n_items * sizeof *x->items);
    }
    assert_int_equal(a->n_sims, b->n_sims);
    for (size_t s = 0; s < a->n_sims; s++) {
        assert_int_equal(a->sims[s].item, b->sims[s].item);
        assert_string_equal(a->sims[s].item_id, b->sims[s].item_id);
        assert_int_equal(a->sims[s].n_neighbours, b->sims[s].n_neighbours);
        assert_memory_equal(a->sims[s].neighbours, b->sims[s].neighbours,
                            a->sims[s].n_neighbours * sizeof *a->sims[s].neighbours);
    }
    assert_int_equal(a->n_alerts, b->n_alerts);
    for (size_t k = 0; k < a->n_alerts; k++) {
        const sr_churn_alert_t *x = &a->alerts[k].alert, *y = &b->alerts[k].alert;
        assert_string_equal(a->alerts[k].alert_id, b->alerts[k].alert_id);
        assert_string_equal(a->alerts[k].user_id, b->alerts[k].user_id);
        assert_int_equal(x->user, y->user);
        assert_int_equal(x->fired_s, y->fired_s);
        assert_memory_equal(&x->probability, &y->probability, sizeof x->probability);
        assert_int_equal(x->level, y->level);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->event_ts_ms, y->event_ts_ms);
        assert_memory_equal(x->top_feature, y->top_feature, sizeof x->top_feature);
        assert_memory_equal(x->top_weight, y->top_weight, sizeof x->top_weight);
    }
    assert_int_equal(a->n_labels, b->n_labels);
    for (size_t k = 0; k < a->n_labels; k++) {
        assert_int_equal(a->labels[k].user, b->labels[k].user);
        assert_int_equal(a->labels[k].churned, b->labels[k].churned);
        assert_memory_equal(&a->labels[k].probability, &b->labels[k].probability, sizeof(float));
    }
}

static void test_engine_same_stream_gives_identical_outputs(void **state) {
    (void)state;
    enum { N = 5000, BATCH = 100 };
    stream_event_t *stream = make_stream(N, 20240601);
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    /* lower thresholds so the stream raises alerts worth comparing */
    cfg.churn.enter_threshold = 0.5f;
    cfg.churn.exit_threshold = 0.3f;
    sr_engine_t *a = new_engine(&cfg), *b = new_engine(&cfg);
    size_t recos = 0, reco_items = 0, sims = 0, alerts = 0, labels = 0;
    for (size_t start = 0; start < N; start += BATCH) {
        for (size_t k = start; k < start + BATCH; k++) {
            sr_event_t x = to_event(&stream[k]);
            assert_int_equal(sr_engine_apply(a, &x, NULL, 0), SR_OK);
            assert_int_equal(sr_engine_apply(b, &x, NULL, 0), SR_OK);
        }
        const sr_outbox_t *oa = flush(a), *ob = flush(b);
        assert_outboxes_equal(oa, ob);
        recos += oa->n_recos;
        for (size_t r = 0; r < oa->n_recos; r++) reco_items += oa->recos[r].n_items;
        sims += oa->n_sims;
        alerts += oa->n_alerts;
        labels += oa->n_labels;
    }
    /* the comparison covered real output of every kind */
    assert_true(recos > 1000);
    assert_true(reco_items > 10 * recos);
    assert_true(sims > 1000);
    assert_true(alerts > 0);
    assert_true(labels > 0);
    sr_engine_stats_t sa, sb;
    sr_engine_stats(a, &sa);
    sr_engine_stats(b, &sb);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_int_equal(sa.users, 200);
    assert_true(sa.by_type[SR_EVENT_UNKNOWN] > 0);
    /* and the on-demand recommendations agree for every user */
    sr_neighbour_t ra[SR_RECO_MAX_K], rb[SR_RECO_MAX_K];
    char user[16];
    for (uint32_t u = 0; u < 200; u++) {
        int len = snprintf(user, sizeof user, "u%03u", u);
        size_t na = sr_engine_recommend(a, user, (size_t)len, ra);
        size_t nb = sr_engine_recommend(b, user, (size_t)len, rb);
        assert_int_equal(na, nb);
        assert_true(na > 0);
        assert_memory_equal(ra, rb, na * sizeof *ra);
    }
    sr_engine_destroy(a);
    sr_engine_destroy(b);
    free(stream);
}

/* sr_engine_prefetch() is a hint: an engine given every event 8 ahead
 * (and some events it never applies, and bad ones) produces the same
 * outputs and state as one given none. */
static void test_engine_prefetch_hints_change_no_output(void **state) {
    (void)state;
    enum { N = 3000, BATCH = 100, AHEAD = SR_ENGINE_PREFETCH_AHEAD };
    stream_event_t *stream = make_stream(N, 7);
    sr_engine_t *plain = default_engine(), *hinted = default_engine();
    sr_event_t stray = ev("never-applied", "item-x", SR_EVENT_VIEW, D0);
    sr_event_t empty_user = ev("", "item-1", SR_EVENT_VIEW, D0);
    for (size_t k = 0; k < AHEAD; k++) {
        sr_event_t x = to_event(&stream[k]);
        sr_engine_prefetch(hinted, &x);
    }
    for (size_t start = 0; start < N; start += BATCH) {
        for (size_t k = start; k < start + BATCH; k++) {
            if (k + AHEAD < N) {
                sr_event_t next = to_event(&stream[k + AHEAD]);
                sr_engine_prefetch(hinted, &next);
            }
            if (k % 97 == 0)
                sr_engine_prefetch(hinted, k % 2 ? &stray : &empty_user);
            sr_event_t x = to_event(&stream[k]);
            assert_int_equal(sr_engine_apply(plain, &x, NULL, 0), SR_OK);
            assert_int_equal(sr_engine_apply(hinted, &x, NULL, 0), SR_OK);
        }
        assert_outboxes_equal(flush(plain), flush(hinted));
    }
    sr_engine_stats_t sa, sb;
    sr_engine_stats(plain, &sa);
    sr_engine_stats(hinted, &sb);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_int_equal(sr_engine_find_user(hinted, "never-applied", 13), SR_INTERN_NONE);
    sr_engine_destroy(plain);
    sr_engine_destroy(hinted);
    free(stream);
}

/* The recommend path must filter what the user bought, in the full engine. */
static void test_engine_recommendations_never_contain_purchases(void **state) {
    (void)state;
    enum { N = 3000 };
    stream_event_t *stream = make_stream(N, 99);
    sr_engine_t *e = default_engine();
    for (size_t k = 0; k < N; k++) {
        sr_event_t x = to_event(&stream[k]);
        assert_int_equal(sr_engine_apply(e, &x, NULL, 0), SR_OK);
        if (k % 250 != 249)
            continue;
        const sr_outbox_t *out = flush(e);
        for (size_t r = 0; r < out->n_recos; r++) {
            const sr_profile_t *p = sr_engine_profile(e, out->recos[r].user);
            assert_true(out->recos[r].n_items <= 20);
            for (size_t j = 0; j < out->recos[r].n_items; j++) {
                assert_false(sr_profile_purchased(p, out->recos[r].items[j].item));
                assert_false(sr_profile_seen_recently(p, out->recos[r].items[j].item));
                for (size_t m = j + 1; m < out->recos[r].n_items; m++)
                    assert_int_not_equal(out->recos[r].items[j].item, out->recos[r].items[m].item);
            }
        }
    }
    sr_engine_destroy(e);
    free(stream);
}

/* ---- batching ------------------------------------------------------------ */

/* 60 views, a second apart: alice, bob and carol in turn, items i0..i6 in
 * turn -- one batch in which each user and each item changes many times. */
static void apply_round_robin(sr_engine_t *e) {
    const char *users[] = {"alice", "bob", "carol"};
    char item[16];
    for (int k = 0; k < 60; k++) {
        snprintf(item, sizeof item, "i%d", k % 7);
        sr_event_t x = ev(users[k % 3], item, SR_EVENT_VIEW, D0 + k * 1000);
        apply_ok(e, &x);
    }
}

static void test_engine_dirty_user_appears_once_per_flush(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    apply_round_robin(e);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_recos, 3);
    for (size_t a = 0; a < 3; a++) {
        assert_int_equal(out->recos[a].seq, 20);
        assert_int_equal(out->recos[a].event_ts_ms, D0 + (57 + (int64_t)a) * 1000);
        for (size_t b = a + 1; b < 3; b++) assert_int_not_equal(out->recos[a].user, out->recos[b].user);
    }
    /* first-touched order */
    assert_string_equal(out->recos[0].user_id, "alice");
    assert_string_equal(out->recos[1].user_id, "bob");
    assert_string_equal(out->recos[2].user_id, "carol");
    /* each item whose list changed appears once too */
    assert_int_equal(out->n_sims, 7);
    for (size_t a = 0; a < out->n_sims; a++)
        for (size_t b = a + 1; b < out->n_sims; b++) assert_int_not_equal(out->sims[a].item, out->sims[b].item);
    assert_int_equal(out->model_version, 60);
    /* nothing new: an empty flush */
    out = flush(e);
    assert_int_equal(out->n_recos, 0);
    assert_int_equal(out->n_sims, 0);
    /* one more event: just that user */
    sr_event_t x = ev("bob", "i1", SR_EVENT_VIEW, D0 + 100000);
    apply_ok(e, &x);
    out = flush(e);
    assert_int_equal(out->n_recos, 1);
    assert_string_equal(out->recos[0].user_id, "bob");
    assert_int_equal(out->recos[0].seq, 21);
    sr_engine_destroy(e);
}

/* A gate over the items: refuses the one named `refused`, fails when told. */
typedef struct gate {
    sr_engine_t *e;
    const char *refused;
    int calls, refusals;
    bool fail;
} gate_t;

static int gate_fn(void *opaque, uint32_t item) {
    gate_t *g = opaque;
    g->calls++;
    if (g->fail)
        return -1;
    bool refuse = strcmp(sr_engine_item_id(g->e, item), g->refused) == 0;
    g->refusals += refuse;
    return !refuse;
}

static const sr_sim_update_t *find_sim(const sr_outbox_t *out, const char *item_id) {
    for (size_t s = 0; s < out->n_sims; s++)
        if (strcmp(out->sims[s].item_id, item_id) == 0)
            return &out->sims[s];
    return NULL;
}

/* Two engines over the same events, one gated: the gated one's outbox has
 * the same lists but the refused item's, which it builds on demand, once. */
static void test_engine_sim_gate_builds_only_the_lists_let_through(void **state) {
    (void)state;
    sr_engine_t *all = default_engine(), *gated = default_engine();
    gate_t g = {.e = gated, .refused = "i3"};
    sr_engine_set_sim_gate(gated, gate_fn, &g);
    apply_round_robin(all);
    apply_round_robin(gated);
    const sr_outbox_t *a = flush(all), *b = flush(gated);
    assert_int_equal(g.calls, 7); /* each dirty item asked about once */
    assert_int_equal(a->n_sims, 7);
    assert_int_equal(b->n_sims, 6);
    assert_null(find_sim(b, "i3"));
    for (size_t s = 0; s < b->n_sims; s++) {
        const sr_sim_update_t *x = find_sim(a, b->sims[s].item_id);
        assert_non_null(x);
        assert_int_equal(x->n_neighbours, b->sims[s].n_neighbours);
        assert_memory_equal(x->neighbours, b->sims[s].neighbours,
                            x->n_neighbours * sizeof *x->neighbours);
    }
    const sr_sim_update_t *i3 = find_sim(a, "i3");
    assert_non_null(i3);
    sr_neighbour_t list[SR_SIM_SLOTS];
    size_t n = 99;
    uint32_t id = sr_engine_find_item(gated, "i3", 2);
    assert_true(sr_engine_neighbours_news(gated, id, list, &n));
    assert_int_equal(n, i3->n_neighbours);
    assert_memory_equal(list, i3->neighbours, n * sizeof *list);
    /* published now: the same list again is no news, nor for the other engine */
    assert_false(sr_engine_neighbours_news(gated, id, list, &n));
    assert_int_equal(n, i3->n_neighbours);
    assert_false(sr_engine_neighbours_news(all, sr_engine_find_item(all, "i3", 2), list, &n));
    assert_false(sr_engine_neighbours_news(gated, 1000, list, &n)); /* no such item */
    assert_int_equal(n, 0);
    /* left out of one flush, an item is asked about again at its next change */
    sr_event_t x = ev("alice", "i3", SR_EVENT_VIEW, D0 + 100000);
    apply_ok(gated, &x);
    flush(gated);
    assert_int_equal(g.refusals, 2);
    /* a gate out of memory fails the flush */
    x = ev("alice", "i1", SR_EVENT_VIEW, D0 + 200000);
    apply_ok(gated, &x);
    g.fail = true;
    const sr_outbox_t *out;
    assert_int_equal(sr_engine_flush(gated, &out), SR_ERR_NOMEM);
    /* the items it did not get to are still dirty: i1 and its partners */
    g.fail = false;
    int calls = g.calls;
    flush(gated);
    assert_true(g.calls - calls >= 2);
    sr_engine_destroy(all);
    sr_engine_destroy(gated);
}

static void test_engine_seq_grows_per_user(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    for (int k = 1; k <= 4; k++) {
        sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, D0 + k * 1000);
        apply_ok(e, &x);
        if (k % 2 == 0) {
            x = ev("bob", "i2", SR_EVENT_VIEW, D0 + k * 1000 + 1);
            apply_ok(e, &x);
        }
        const sr_outbox_t *out = flush(e);
        for (size_t r = 0; r < out->n_recos; r++) {
            if (strcmp(out->recos[r].user_id, "alice") == 0)
                assert_int_equal(out->recos[r].seq, k);
            else
                assert_int_equal(out->recos[r].seq, k / 2);
        }
    }
    sr_engine_destroy(e);
}

/* ---- rejection and skipping ---------------------------------------------- */

static void test_engine_unknown_events_counted_and_skipped(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t x = ev("alice", "i1", SR_EVENT_UNKNOWN, D0);
    assert_int_equal(sr_engine_apply(e, &x, NULL, 0), SR_OK);
    x.type = (sr_event_type_t)99;
    assert_int_equal(sr_engine_apply(e, &x, NULL, 0), SR_OK);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.by_type[SR_EVENT_UNKNOWN], 2);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.users, 0);
    assert_int_equal(st.items, 0);
    assert_int_equal(sr_engine_find_user(e, "alice", 5), SR_INTERN_NONE);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_recos, 0);
    assert_int_equal(out->model_version, 0);
    sr_engine_destroy(e);
}

static void test_engine_empty_user_rejected_without_state_change(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t ok = ev("alice", "i1", SR_EVENT_VIEW, D0);
    apply_ok(e, &ok);
    flush(e);
    sr_engine_stats_t before, after;
    sr_engine_stats(e, &before);
    sr_profile_t alice = *sr_engine_profile(e, 0);

    sr_event_t bad = ev("", "i2", SR_EVENT_PURCHASE, D0 + 30 * DAY_MS);
    char errstr[256] = "";
    assert_int_equal(sr_engine_apply(e, &bad, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "user_id"));
    bad.user_id.ptr = NULL; /* absent rather than empty: the same */
    assert_int_equal(sr_engine_apply(e, &bad, NULL, 0), SR_ERR_BAD_FIELD);

    sr_engine_stats(e, &after);
    assert_int_equal(after.rejected, before.rejected + 2);
    after.rejected = before.rejected;
    assert_memory_equal(&after, &before, sizeof before); /* watermark, counts, ids */
    assert_int_equal(sr_engine_find_item(e, "i2", 2), SR_INTERN_NONE);
    assert_memory_equal(sr_engine_profile(e, 0), &alice, sizeof alice);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_recos, 0);
    assert_int_equal(out->n_sims, 0);
    assert_int_equal(out->n_alerts, 0);
    sr_engine_destroy(e);
}

static void test_engine_over_long_item_id_rejected(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    char *long_id = malloc(SR_INTERN_MAX_LEN + 2);
    memset(long_id, 'x', SR_INTERN_MAX_LEN + 1);
    long_id[SR_INTERN_MAX_LEN + 1] = '\0';
    sr_event_t bad = ev("alice", long_id, SR_EVENT_VIEW, D0);
    char errstr[256] = "";
    assert_int_equal(sr_engine_apply(e, &bad, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "item_id"));
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.users, 0); /* the user was not created either */
    assert_int_equal(st.items, 0);
    assert_int_equal(st.events, 0);
    /* exactly at the limit is fine */
    long_id[SR_INTERN_MAX_LEN] = '\0';
    bad = ev("alice", long_id, SR_EVENT_VIEW, D0);
    assert_int_equal(sr_engine_apply(e, &bad, NULL, 0), SR_OK);
    sr_engine_stats(e, &st);
    assert_int_equal(st.items, 1);
    free(long_id);
    sr_engine_destroy(e);
}

/* Applies bad and checks it was refused as a bad field whose message holds
 * want, leaving the engine's stats as they were apart from the count. */
static void assert_refused(sr_engine_t *e, const sr_event_t *bad, const char *want) {
    sr_engine_stats_t before, after;
    sr_engine_stats(e, &before);
    char errstr[256] = "";
    assert_int_equal(sr_engine_apply(e, bad, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    if (!strstr(errstr, want))
        fail_msg("message '%s' lacks '%s'", errstr, want);
    sr_engine_stats(e, &after);
    assert_int_equal(after.rejected, before.rejected + 1);
    after.rejected = before.rejected;
    assert_memory_equal(&after, &before, sizeof before);
}

static sr_event_t ev_len(const char *user, size_t user_len, const char *item, int64_t ts) {
    sr_event_t x = ev("alice", item, SR_EVENT_VIEW, ts);
    x.user_id.ptr = user;
    x.user_id.len = user_len;
    return x;
}

static void test_engine_ids_with_control_bytes_or_bad_utf8_are_refused(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    static const struct { const char *id; size_t len; const char *why; } bad[] = {
        {"a\0b", 3, "user_id contains a NUL byte"},
        {"eve\nINFO forged", 15, "user_id contains control character 0x0a at byte 3"},
        {"\x01", 1, "control character 0x01 at byte 0"},
        {"tab\there", 8, "control character 0x09"},
        {"del\x7f", 4, "control character 0x7f"},
        {"caf\xc3", 4, "user_id is not valid UTF-8 (byte 3)"},    /* cut-off sequence */
        {"\xc0\xaf", 2, "not valid UTF-8 (byte 0)"},              /* overlong '/' */
        {"\xe0\x80\xaf", 3, "not valid UTF-8"},                   /* overlong, 3 bytes */
        {"x\xed\xa0\x80", 4, "not valid UTF-8 (byte 1)"},         /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 4, "not valid UTF-8"},               /* past U+10FFFF */
        {"\xff", 1, "not valid UTF-8"},
        {"\xe2\x82", 2, "not valid UTF-8"},
        {"\xe2\x28\xa1", 3, "not valid UTF-8"},                   /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sr_event_t x = ev_len(bad[i].id, bad[i].len, "i1", D0);
        assert_refused(e, &x, bad[i].why);
    }
    sr_event_t x = ev("alice", "item\r", SR_EVENT_VIEW, D0);
    assert_refused(e, &x, "item_id contains control character 0x0d");
    x = ev("alice", "i1", SR_EVENT_VIEW, D0);
    x.category_id = sr_str_c("shoes\xa0");
    assert_refused(e, &x, "category_id is not valid UTF-8");

    /* Multi-byte UTF-8 of every length is an id like any other. */
    static const char *good[] = {"caf\xc3\xa9", "\xe7\x94\xa8\xe6\x88\xb7",
                                 "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "a b~"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        x = ev(good[i], "i1", SR_EVENT_VIEW, D0);
        apply_ok(e, &x);
    }
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.users, 5);
    assert_int_equal(st.rejected, sizeof bad / sizeof bad[0] + 2);
    sr_engine_destroy(e);
}

static void test_engine_one_mib_user_id_is_refused_not_interned(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    size_t len = 1u << 20;
    char *huge = malloc(len);
    assert_non_null(huge);
    memset(huge, 'u', len);
    sr_event_t x = ev_len(huge, len, "i1", D0);
    assert_refused(e, &x, "user_id is 1048576 bytes, over the 1024-byte limit");
    assert_int_equal(sr_engine_find_user(e, huge, SR_INTERN_MAX_LEN), SR_INTERN_NONE);
    free(huge);
    sr_engine_destroy(e);
}

static void test_engine_negative_ts_is_refused(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, -1);
    assert_refused(e, &x, "ts_ms -1 is before the Unix epoch");
    x.ts_ms = INT64_MIN;
    assert_refused(e, &x, "before the Unix epoch");
    x.ts_ms = 0; /* the epoch itself is a time */
    apply_ok(e, &x);
    sr_engine_destroy(e);
}

/* 2100 can never be within an hour of the clock or of D0 (2023), and is
 * before SR_ENGINE_MAX_TS_MS: only the future limit refuses it. */
#define YEAR_2100_MS 4102444800000LL

/* A hold keeps the watermark, and the sweeps on it, back whatever newer
 * event the engine has seen; letting go runs the sweeps it came to. */
static void test_engine_watermark_hold_keeps_the_sweeps_back(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    x = ev("bob", "i2", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    assert_false(sr_engine_hold_watermark(e, D0)); /* where it is: not risen */
    x = ev("carol", "i3", SR_EVENT_VIEW, D0 + 40 * DAY_MS);
    apply_ok(e, &x);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.watermark_ms, D0 - 5000); /* time.lateness.ms */
    assert_int_equal(st.users_evicted, 0);        /* 40 days idle, but not at the watermark */
    assert_int_equal(st.users, 3);
    assert_false(sr_engine_hold_watermark(e, INT64_MIN)); /* lower: nothing runs */
    assert_true(sr_engine_hold_watermark(e, INT64_MAX));  /* let go: the sweeps run */
    sr_engine_stats(e, &st);
    assert_int_equal(st.watermark_ms, D0 + 40 * DAY_MS - 5000);
    assert_int_equal(st.users_evicted, 2); /* alice and bob, idle over state.user.ttl.days */
    assert_int_equal(st.users, 1);
    assert_true(sr_engine_takes_time(e, D0 + 40 * DAY_MS));
    assert_false(sr_engine_takes_time(e, -1));
    assert_false(sr_engine_takes_time(e, YEAR_2100_MS));
    sr_engine_destroy(e);
}

static void test_engine_far_future_ts_is_refused_and_keeps_the_watermark(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    int64_t watermark = st.watermark_ms;

    x = ev("mallory", "i2", SR_EVENT_PURCHASE, YEAR_2100_MS);
    assert_refused(e, &x, "time.future.max.minutes allows 60");
    x.ts_ms = SR_ENGINE_MAX_TS_MS;
    assert_refused(e, &x, "ahead of the newest event time and the clock");
    assert_int_equal(sr_engine_find_user(e, "mallory", 7), SR_INTERN_NONE);

    /* A stream resuming after a 30-day outage is far ahead of its newest
     * event time but not of the clock: applied. */
    x = ev("alice", "i1", SR_EVENT_VIEW, D0 + 30 * DAY_MS);
    apply_ok(e, &x);
    sr_engine_stats(e, &st);
    assert_true(st.watermark_ms > watermark);

    /* A fresh engine has no event time yet: the clock alone decides. */
    sr_engine_t *fresh = default_engine();
    x = ev("mallory", "i2", SR_EVENT_VIEW, YEAR_2100_MS);
    assert_refused(fresh, &x, "time.future.max.minutes");
    sr_engine_destroy(fresh);
    sr_engine_destroy(e);
}

static void test_engine_future_limit_is_relative_to_newest_event_time_too(void **state) {
    (void)state;
    /* Events dated ahead of this machine's clock (a clock running late, or
     * a synthetic stream) keep flowing while each stays within the limit of
     * the newest event time before it. */
    sr_engine_t *e = default_engine();
    int64_t now = sr_clock_wall_ms();
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, now + 30 * MINUTE_MS);
    apply_ok(e, &x);
    x.ts_ms = now + 80 * MINUTE_MS; /* 50 min past the newest */
    apply_ok(e, &x);
    x.ts_ms = now + 200 * MINUTE_MS; /* 120 min past it, 200 past the clock */
    assert_refused(e, &x, "time.future.max.minutes");
    sr_engine_destroy(e);

    /* 0 turns the check off. */
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    assert_int_equal(cfg.future_max_ms, 60 * MINUTE_MS);
    cfg.future_max_ms = 0;
    e = new_engine(&cfg);
    x = ev("alice", "i1", SR_EVENT_VIEW, YEAR_2100_MS);
    apply_ok(e, &x);
    sr_engine_destroy(e);
}

/* Found by fuzz_engine (fuzz/corpus/fuzz_engine/crash-churn-ts-overflow):
 * with the future limit off, ts_ms near INT64_MAX reached the churn model,
 * which adds its example spread to event times: signed overflow. Past what
 * a profile can hold (32-bit seconds) an event is now refused outright. */
static void test_engine_ts_past_2106_is_refused_even_without_a_future_limit(void **state) {
    (void)state;
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.future_max_ms = 0;
    sr_engine_t *e = new_engine(&cfg);
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    x = ev("alice", "i1", SR_EVENT_PURCHASE, INT64_MAX);
    assert_refused(e, &x, "is after 2106-02-07T06:28:15Z");
    x.ts_ms = SR_ENGINE_MAX_TS_MS + 1;
    assert_refused(e, &x, "the latest time the engine keeps");
    x.ts_ms = SR_ENGINE_MAX_TS_MS; /* the last representable time is a time */
    apply_ok(e, &x);
    x = ev("alice", "i3", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_recos, 1);
    sr_engine_destroy(e);
}

static void test_engine_event_without_item_updates_profile_only(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    sr_event_t x = ev("alice", "", SR_EVENT_VIEW, D0);
    apply_ok(e, &x);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.events, 1);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.items, 0);
    assert_int_equal(sr_mf_items(sr_engine_mf(e)), 0);
    assert_int_equal(sr_sim_items(sr_engine_sim(e)), 0);
    const sr_profile_t *p = sr_engine_profile(e, 0);
    assert_non_null(p);
    assert_int_equal(p->events, 1);
    assert_int_equal(p->sessions, 1);
    assert_int_equal(p->last_seen_ms, D0);
    assert_int_equal(p->recent_len, 0);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_recos, 1);
    assert_int_equal(out->recos[0].n_items, 0);
    assert_int_equal(out->n_sims, 0);
    sr_engine_destroy(e);
}

static void test_engine_cooccurrence_feeds_similarity_and_recommendation(void **state) {
    (void)state;
    sr_engine_t *e = default_engine();
    /* alice and bob both view a then b; carol views a only */
    const char *pair_users[] = {"alice", "bob"};
    for (int u = 0; u < 2; u++) {
        sr_event_t x = ev(pair_users[u], "a", SR_EVENT_VIEW, D0 + u * 10000);
        apply_ok(e, &x);
        x = ev(pair_users[u], "b", SR_EVENT_VIEW, D0 + u * 10000 + 1000);
        apply_ok(e, &x);
    }
    sr_event_t x = ev("carol", "a", SR_EVENT_VIEW, D0 + 50000);
    apply_ok(e, &x);
    uint32_t a = sr_engine_find_item(e, "a", 1), b = sr_engine_find_item(e, "b", 1);
    sr_neighbour_t nb[4];
    assert_int_equal(sr_sim_neighbours(sr_engine_sim(e), a, nb, 4), 1);
    assert_int_equal(nb[0].item, b);
    sr_neighbour_t out[SR_RECO_MAX_K];
    size_t n = sr_engine_recommend(e, "carol", 5, out);
    assert_true(n >= 1);
    assert_int_equal(out[0].item, b);
    /* an unknown user gets the trending list */
    n = sr_engine_recommend(e, "nobody", 6, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item, a); /* 3 views beat 2 */
    assert_int_equal(out[1].item, b);
    sr_engine_destroy(e);
}

/* ---- alerts -------------------------------------------------------------- */

static bool is_hex16(const char *s) {
    if (strlen(s) != 16)
        return false;
    for (int k = 0; k < 16; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
            return false;
    return true;
}

/* With enter = 0.5 an untrained model (p = 0.5) fires at the first sweep
 * that sees the user; the user's next event resolves it. */
static void test_engine_alert_id_same_for_firing_and_resolved(void **state) {
    (void)state;
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.churn.enter_threshold = 0.5f;
    cfg.churn.exit_threshold = 0.0f;
    sr_engine_t *e = new_engine(&cfg);
    sr_event_t x = ev("alice", "i1", SR_EVENT_VIEW, D0 + HOUR_MS);
    apply_ok(e, &x);
    x = ev("bob", "i2", SR_EVENT_VIEW, D0 + HOUR_MS + 1000);
    apply_ok(e, &x);
    const sr_outbox_t *out = flush(e);
    assert_int_equal(out->n_alerts, 0);

    /* the watermark crosses D0 + 1 day: the sweep scores alice and bob */
    x = ev("carol", "i3", SR_EVENT_VIEW, D0 + DAY_MS + HOUR_MS);
    apply_ok(e, &x);
    out = flush(e);
    assert_int_equal(out->n_alerts, 2);
    char alice_id[17], bob_id[17];
    for (size_t k = 0; k < 2; k++) {
        const sr_alert_update_t *a = &out->alerts[k];
        assert_int_equal(a->alert.state, SR_CHURN_FIRING);
        assert_int_equal(a->alert.fired_s, (uint32_t)((D0 + DAY_MS) / 1000));
        assert_true(is_hex16(a->alert_id));
        if (strcmp(a->user_id, "alice") == 0)
            memcpy(alice_id, a->alert_id, 17);
        else
            memcpy(bob_id, a->alert_id, 17);
    }
    assert_string_not_equal(alice_id, bob_id);

    x = ev("alice", "i1", SR_EVENT_VIEW, D0 + DAY_MS + 2 * HOUR_MS);
    apply_ok(e, &x);
    out = flush(e);
    assert_int_equal(out->n_alerts, 1);
    assert_int_equal(out->alerts[0].alert.state, SR_CHURN_RESOLVED);
    assert_string_equal(out->alerts[0].user_id, "alice");
    assert_string_equal(out->alerts[0].alert_id, alice_id);
    /* alice's example from the sweep resolved as "came back" */
    assert_int_equal(out->n_labels, 1);
    assert_int_equal(out->labels[0].churned, 0);
    /* the id is deterministic: a second engine derives the same one */
    sr_engine_t *e2 = new_engine(&cfg);
    x = ev("alice", "i9", SR_EVENT_VIEW, D0 + 2 * HOUR_MS);
    apply_ok(e2, &x);
    x = ev("zed", "i9", SR_EVENT_VIEW, D0 + DAY_MS + 3 * HOUR_MS);
    apply_ok(e2, &x);
    out = flush(e2);
    assert_int_equal(out->n_alerts, 1);
    assert_string_equal(out->alerts[0].alert_id, alice_id);
    sr_engine_destroy(e2);
    sr_engine_destroy(e);
}

static void test_engine_new_rejects_bad_sim_neighbours(void **state) {
    (void)state;
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.sim_neighbours = SR_SIM_SLOTS + 1;
    char errstr[256] = "";
    assert_null(sr_engine_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "sim.neighbours"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_same_stream_gives_identical_outputs),
        cmocka_unit_test(test_engine_prefetch_hints_change_no_output),
        cmocka_unit_test(test_engine_recommendations_never_contain_purchases),
        cmocka_unit_test(test_engine_dirty_user_appears_once_per_flush),
        cmocka_unit_test(test_engine_sim_gate_builds_only_the_lists_let_through),
        cmocka_unit_test(test_engine_seq_grows_per_user),
        cmocka_unit_test(test_engine_unknown_events_counted_and_skipped),
        cmocka_unit_test(test_engine_empty_user_rejected_without_state_change),
        cmocka_unit_test(test_engine_over_long_item_id_rejected),
        cmocka_unit_test(test_engine_event_without_item_updates_profile_only),
        cmocka_unit_test(test_engine_cooccurrence_feeds_similarity_and_recommendation),
        cmocka_unit_test(test_engine_alert_id_same_for_firing_and_resolved),
        cmocka_unit_test(test_engine_new_rejects_bad_sim_neighbours),
        cmocka_unit_test(test_engine_ids_with_control_bytes_or_bad_utf8_are_refused),
        cmocka_unit_test(test_engine_one_mib_user_id_is_refused_not_interned),
        cmocka_unit_test(test_engine_negative_ts_is_refused),
        cmocka_unit_test(test_engine_far_future_ts_is_refused_and_keeps_the_watermark),
        cmocka_unit_test(test_engine_watermark_hold_keeps_the_sweeps_back),
        cmocka_unit_test(test_engine_future_limit_is_relative_to_newest_event_time_too),
        cmocka_unit_test(test_engine_ts_past_2106_is_refused_even_without_a_future_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
