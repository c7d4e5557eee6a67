/* Engine: moving a user's state to another engine (export, import, forget). */
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
#include "streamrec/serial.h"

#include "mem_buffer.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define T0 1700000000000LL

static sr_engine_t *new_engine(int k) {
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.mf.k = k;
    cfg.user_ttl_ms = 0; /* users idle for weeks stay: eviction has its own tests */
    char errstr[256] = "";
    sr_engine_t *e = sr_engine_new(&cfg, errstr, sizeof errstr);
    if (!e)
        fail_msg("sr_engine_new: %s", errstr);
    return e;
}

static void apply(sr_engine_t *e, const char *user, const char *item, const char *category,
                  sr_event_type_t type, int64_t ts) {
    sr_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.user_id = sr_str_c(user);
    ev.item_id = sr_str_c(item);
    ev.category_id = sr_str_c(category);
    ev.type = type;
    ev.ts_ms = ts;
    char errstr[256] = "";
    if (sr_engine_apply(e, &ev, errstr, sizeof errstr) != SR_OK)
        fail_msg("apply: %s", errstr);
}

static uint32_t user(const sr_engine_t *e, const char *id) {
    uint32_t u = sr_engine_find_user(e, id, strlen(id));
    assert_int_not_equal(u, SR_INTERN_NONE);
    return u;
}

/* Exports into a fresh heap buffer of exactly the needed size. */
static uint8_t *export_user(const sr_engine_t *e, const char *id, size_t *len) {
    uint32_t u = user(e, id);
    size_t need = sr_engine_export_user(e, u, NULL, 0);
    assert_true(need > 0);
    assert_true(need <= sr_engine_user_state_max(e));
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(sr_engine_export_user(e, u, buf, need), need);
    *len = need;
    return buf;
}

static void import_ok(sr_engine_t *e, const char *id, const uint8_t *buf, size_t len) {
    char errstr[256] = "";
    if (sr_engine_import_user(e, id, strlen(id), buf, len, errstr, sizeof errstr) != SR_OK)
        fail_msg("import: %s", errstr);
}

/* Two profiles are the same user state when everything but the dense ids is
 * equal and the dense ids name the same strings in their engines. */
static void assert_same_user(const sr_engine_t *a, const sr_engine_t *b, const char *id) {
    const sr_profile_t *pa = sr_engine_profile(a, user(a, id));
    const sr_profile_t *pb = sr_engine_profile(b, user(b, id));
    assert_int_equal(pa->events, pb->events);
    assert_int_equal(pa->last_seen_ms, pb->last_seen_ms);
    assert_int_equal(pa->first_seen_s, pb->first_seen_s);
    assert_int_equal(pa->sessions, pb->sessions);
    assert_memory_equal(pa->counts, pb->counts, sizeof pa->counts);
    assert_memory_equal(pa->activity, pb->activity, sizeof pa->activity);
    assert_int_equal(pa->recent_len, pb->recent_len);
    assert_int_equal(pa->purchased_len, pb->purchased_len);
    for (int r = 0; r < pa->recent_len; r++) {
        assert_string_equal(sr_engine_item_id(a, pa->recent_item[r]),
                            sr_engine_item_id(b, pb->recent_item[r]));
        assert_int_equal(pa->recent_ts_s[r], pb->recent_ts_s[r]);
    }
    for (int r = 0; r < pa->purchased_len; r++)
        assert_string_equal(sr_engine_item_id(a, pa->purchased[r]),
                            sr_engine_item_id(b, pb->purchased[r]));
    const sr_mf_t *ma = sr_engine_mf(a), *mb = sr_engine_mf(b);
    assert_memory_equal(sr_mf_user_row(ma, user(a, id)), sr_mf_user_row(mb, user(b, id)),
                        (size_t)sr_mf_k(ma) * sizeof(float));
    assert_true(sr_churn_risk(sr_engine_churn(a), user(a, id)) ==
                sr_churn_risk(sr_engine_churn(b), user(b, id)));
}

/* A user's history, spread over days so the churn sweeps score it. */
static void history(sr_engine_t *e, const char *id, int64_t t) {
    apply(e, id, "i1", "c1", SR_EVENT_VIEW, t);
    apply(e, id, "i2", "c1", SR_EVENT_VIEW, t + 60000);
    apply(e, id, "i3", "c2", SR_EVENT_ADD_TO_CART, t + 120000);
    apply(e, id, "i3", "c2", SR_EVENT_PURCHASE, t + DAY_MS);
    apply(e, id, "i4", "c2", SR_EVENT_VIEW, t + 2 * DAY_MS);
}

static void test_moved_user_is_the_same_user(void **state) {
    (void)state;
    sr_engine_t *a = new_engine(32), *b = new_engine(32);
    /* b interns other items first: the user's items get other dense ids there */
    apply(b, "other", "x9", "c9", SR_EVENT_VIEW, T0);
    apply(b, "other", "i4", "c2", SR_EVENT_VIEW, T0 + 1000);
    history(a, "alice", T0);
    history(a, "bob", T0 + HOUR_MS);
    /* a sweep has scored alice: her risk travels too */
    apply(a, "carol", "i1", NULL, SR_EVENT_VIEW, T0 + 5 * DAY_MS);
    assert_true(sr_churn_risk(sr_engine_churn(a), user(a, "alice")) >= 0);

    size_t len;
    uint8_t *buf = export_user(a, "alice", &len);
    import_ok(b, "alice", buf, len);
    assert_same_user(a, b, "alice");
    sr_engine_stats_t st;
    sr_engine_stats(b, &st);
    assert_int_equal(st.users, 2);

    /* and it goes on the same way on both sides */
    apply(a, "alice", "i5", "c2", SR_EVENT_PURCHASE, T0 + 6 * DAY_MS);
    apply(b, "alice", "i5", "c2", SR_EVENT_PURCHASE, T0 + 6 * DAY_MS);
    const sr_profile_t *pb = sr_engine_profile(b, user(b, "alice"));
    assert_int_equal(pb->events, 6);
    assert_int_equal(pb->counts[SR_EVENT_PURCHASE], 2);
    assert_string_equal(sr_engine_item_id(b, pb->purchased[pb->purchased_head]), "i5");
    free(buf);
    sr_engine_destroy(a);
    sr_engine_destroy(b);
}

static void test_round_trip_restores_the_bytes(void **state) {
    (void)state;
    sr_engine_t *e = new_engine(32);
    history(e, "alice", T0);
    uint32_t u = user(e, "alice");
    sr_profile_t before = *sr_engine_profile(e, u);
    size_t len;
    uint8_t *buf = export_user(e, "alice", &len);
    sr_engine_forget_user(e, u);
    import_ok(e, "alice", buf, len);
    assert_int_equal(user(e, "alice"), u);
    assert_memory_equal(sr_engine_profile(e, u), &before, sizeof before);
    free(buf);
    sr_engine_destroy(e);
}

static void test_forgotten_user_has_no_state_and_no_outputs(void **state) {
    (void)state;
    sr_engine_t *e = new_engine(32);
    history(e, "alice", T0);
    history(e, "bob", T0);
    uint32_t u = user(e, "alice");
    /* alice is dirty (her events are in the open batch): forgetting her drops
     * her recommendation from the flush */
    sr_engine_forget_user(e, u);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.users, 1);
    assert_int_equal(sr_engine_export_user(e, u, NULL, 0), 0);
    assert_int_equal(sr_engine_profile(e, u)->events, 0);
    const sr_outbox_t *out;
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    assert_int_equal(out->n_recos, 1);
    assert_string_equal(out->recos[0].user_id, "bob");

    /* weeks later only bob is swept, scored and (maybe) alerted */
    apply(e, "carol", "i1", NULL, SR_EVENT_VIEW, T0 + 40 * DAY_MS);
    assert_true(sr_churn_risk(sr_engine_churn(e), u) < 0);
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    for (size_t a = 0; a < out->n_alerts; a++)
        assert_string_not_equal(out->alerts[a].user_id, "alice");

    /* she comes back: a new user (carol took her dense id) */
    apply(e, "alice", "i9", NULL, SR_EVENT_VIEW, T0 + 41 * DAY_MS);
    assert_int_equal(user(e, "carol"), u);
    assert_int_equal(sr_engine_profile(e, user(e, "alice"))->events, 1);
    sr_engine_stats(e, &st);
    assert_int_equal(st.users, 3);
    sr_engine_destroy(e);
}

/* Forgetting releases the user as an eviction does: the id leaves the
 * dictionary, the dense id goes to the next new user, and neither the
 * user nor a churn label is left behind, in memory or in a checkpoint. */
static void test_forgetting_releases_the_slot(void **state) {
    (void)state;
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.user_ttl_ms = 0;
    cfg.churn.example_spread_ms = 0; /* every sweep takes an example of her */
    char errstr[256] = "";
    sr_engine_t *e = sr_engine_new(&cfg, errstr, sizeof errstr);
    assert_non_null(e);
    history(e, "alice", T0);
    history(e, "bob", T0);
    apply(e, "bob", "i1", NULL, SR_EVENT_VIEW, T0 + 5 * DAY_MS); /* sweeps score alice */
    uint32_t u = user(e, "alice");
    size_t slots = sr_engine_user_slots(e);
    size_t len, n_labels;
    uint8_t *buf = export_user(e, "alice", &len);
    sr_churn_user_info_t info;
    sr_churn_user_info(sr_engine_churn(e), u, &info);
    assert_true(info.pending); /* an example an eviction would label */
    const sr_outbox_t *out;
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    sr_engine_take_labels(e, &n_labels); /* the labels of the sweeps so far */
    sr_engine_forget_user(e, u);
    assert_int_equal(sr_engine_find_user(e, "alice", 5), SR_INTERN_NONE);
    assert_null(sr_engine_user_id(e, u));
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.users_evicted, 0); /* handed off, not evicted */
    assert_int_equal(sr_engine_flush(e, &out), SR_OK);
    assert_int_equal(out->n_recos, 0);
    sr_engine_take_labels(e, &n_labels);
    assert_int_equal(n_labels, 0); /* her pending example went unlabelled */

    /* a checkpoint taken now holds bob alone, and loads back the same */
    buffer_t b = {0};
    assert_int_equal(sr_engine_save(e, buffer_write, &b, NULL, errstr, sizeof errstr), SR_OK);
    sr_engine_t *c = NULL;
    sr_mem_source_t src = {b.bytes, b.len, 0};
    if (sr_engine_load(&cfg, sr_mem_read, &src, &c, errstr, sizeof errstr) != SR_OK)
        fail_msg("load: %s", errstr);
    assert_int_equal(sr_engine_digest(c), sr_engine_digest(e));
    assert_int_equal(sr_engine_find_user(c, "alice", 5), SR_INTERN_NONE);
    sr_engine_stats(c, &st);
    assert_int_equal(st.users, 1);
    free(b.bytes);

    /* in both, the next new user takes her dense id without growing */
    sr_engine_t *both[2] = {e, c};
    for (int k = 0; k < 2; k++) {
        apply(both[k], "carol", "i1", NULL, SR_EVENT_VIEW, T0 + 6 * DAY_MS);
        assert_int_equal(user(both[k], "carol"), u);
        assert_int_equal(sr_engine_user_slots(both[k]), slots);
        assert_int_equal(sr_engine_profile(both[k], u)->events, 1);
        /* and her state can come back: a new slot, the same user */
        import_ok(both[k], "alice", buf, len);
        uint32_t back = user(both[k], "alice");
        assert_int_not_equal(back, u);
        assert_int_equal(sr_engine_profile(both[k], back)->events, 5);
        sr_engine_stats(both[k], &st);
        assert_int_equal(st.users, 3);
    }
    assert_int_equal(sr_engine_digest(c), sr_engine_digest(e));
    free(buf);
    sr_engine_destroy(e);
    sr_engine_destroy(c);
}

static void test_bad_values_are_refused_and_change_nothing(void **state) {
    (void)state;
    sr_engine_t *a = new_engine(32), *b = new_engine(32), *other_k = new_engine(16);
    history(a, "alice", T0);
    size_t len;
    uint8_t *buf = export_user(a, "alice", &len);
    char errstr[256];
    for (size_t cut = 0; cut < len; cut++) {
        errstr[0] = '\0';
        assert_int_not_equal(sr_engine_import_user(b, "alice", 5, buf, cut, errstr, sizeof errstr),
                             SR_OK);
        assert_true(strlen(errstr) > 0);
    }
    sr_engine_stats_t st;
    sr_engine_stats(b, &st);
    assert_int_equal(st.users, 0);
    assert_int_equal(st.items, 0); /* no reference was interned on the way */

    assert_int_equal(sr_engine_import_user(other_k, "alice", 5, buf, len, errstr, sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "mf.k"));
    buf[0] ^= 0xff;
    assert_int_equal(sr_engine_import_user(b, "alice", 5, buf, len, errstr, sizeof errstr),
                     SR_ERR_BAD_FIELD);
    buf[0] ^= 0xff;
    assert_int_not_equal(sr_engine_import_user(b, "", 0, buf, len, errstr, sizeof errstr), SR_OK);
    /* a too small buffer gets the size, and nothing written */
    uint8_t small[8] = {0};
    assert_int_equal(sr_engine_export_user(a, user(a, "alice"), small, sizeof small), len);
    assert_memory_equal(small, (uint8_t[8]){0}, sizeof small);
    free(buf);
    sr_engine_destroy(a);
    sr_engine_destroy(b);
    sr_engine_destroy(other_k);
}

/* The changelog keys its position records with a leading NUL byte: no user
 * id may have one (nor any other id: they all become C strings and keys). */
static void test_ids_with_a_nul_byte_are_refused(void **state) {
    (void)state;
    sr_engine_t *e = new_engine(32);
    sr_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.user_id = (sr_str_t){"\0position:clicks", 17};
    ev.item_id = sr_str_c("i1");
    ev.type = SR_EVENT_VIEW;
    ev.ts_ms = T0;
    char errstr[256] = "";
    assert_int_equal(sr_engine_apply(e, &ev, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "NUL"));
    ev.user_id = sr_str_c("u1");
    ev.item_id = (sr_str_t){"i\0", 2};
    assert_int_equal(sr_engine_apply(e, &ev, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    assert_int_equal(st.users, 0);
    assert_int_equal(st.rejected, 2);
    sr_engine_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_user_is_the_same_user),
        cmocka_unit_test(test_round_trip_restores_the_bytes),
        cmocka_unit_test(test_forgotten_user_has_no_state_and_no_outputs),
        cmocka_unit_test(test_forgetting_releases_the_slot),
        cmocka_unit_test(test_bad_values_are_refused_and_change_nothing),
        cmocka_unit_test(test_ids_with_a_nul_byte_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
