/* sr_synth: a seed fixes the stream, events come in time order with ids
 * of the documented shape, and planted churners stop at their churn time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/synth.h"

static sr_synth_t *small_stream(uint64_t seed) {
    sr_synth_config_t cfg;
    sr_synth_config_defaults(&cfg);
    cfg.seed = seed;
    cfg.users = 300;
    cfg.items = 200;
    cfg.categories = 10;
    cfg.days = 30;
    char errstr[256];
    sr_synth_t *s = sr_synth_new(&cfg, errstr, sizeof errstr);
    assert_non_null(s);
    return s;
}

static bool same_str(sr_str_t a, sr_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool same_event(const sr_event_t *a, const sr_event_t *b) {
    return same_str(a->event_id, b->event_id) && same_str(a->user_id, b->user_id) &&
           same_str(a->item_id, b->item_id) && same_str(a->session_id, b->session_id) &&
           same_str(a->category_id, b->category_id) && a->type == b->type &&
           a->ts_ms == b->ts_ms && a->has_price == b->has_price && a->price == b->price;
}

/* Two generators with one seed agree event for event to the end; another
 * seed gives another stream. */
static void test_a_seed_fixes_the_stream(void **state) {
    (void)state;
    sr_synth_t *a = small_stream(5), *b = small_stream(5), *c = small_stream(6);
    sr_event_t ea, eb, ec;
    size_t n = 0, differ = 0;
    bool more_c = true;
    while (sr_synth_next(a, &ea)) {
        assert_true(sr_synth_next(b, &eb));
        assert_true(same_event(&ea, &eb));
        more_c = more_c && sr_synth_next(c, &ec);
        if (!more_c || !same_event(&ea, &ec))
            differ++;
        n++;
    }
    assert_false(sr_synth_next(b, &eb));
    assert_true(n > 1000);
    assert_true(differ > n / 2);
    assert_int_equal(sr_synth_events(a), n);
    sr_synth_destroy(a);
    sr_synth_destroy(b);
    sr_synth_destroy(c);
}

/* Parses "<prefix><digits>" exactly; returns false on anything else. */
static bool parse_id(sr_str_t s, char prefix, unsigned long long *v) {
    char text[64], *end;
    if (s.len < 2 || s.len >= sizeof text || s.ptr[0] != prefix || s.ptr[1] < '0' ||
        s.ptr[1] > '9')
        return false;
    memcpy(text, s.ptr + 1, s.len - 1);
    text[s.len - 1] = '\0';
    *v = strtoull(text, &end, 10);
    return *end == '\0';
}

/* Event time never goes back; event ids count from e0; a session id is
 * its user id, a dash and the user's session number, which starts at 1 and
 * only grows; ids name users, items and categories inside the configured
 * ranges, and an item's category is the same every time. */
static void test_events_are_in_time_order_with_well_formed_ids(void **state) {
    (void)state;
    sr_synth_t *s = small_stream(9);
    unsigned long long last_session[300] = {0}, category_of[200];
    memset(category_of, 0xff, sizeof category_of);
    int64_t last_ts = INT64_MIN;
    sr_event_t ev;
    unsigned long long n = 0;
    while (sr_synth_next(s, &ev)) {
        assert_true(ev.ts_ms >= last_ts);
        last_ts = ev.ts_ms;
        unsigned long long id, user, item, category;
        assert_true(parse_id(ev.event_id, 'e', &id));
        assert_int_equal(id, n);
        assert_true(parse_id(ev.user_id, 'u', &user));
        assert_true(user < 300);
        assert_true(parse_id(ev.item_id, 'i', &item));
        assert_true(item < 200);
        assert_true(parse_id(ev.category_id, 'c', &category));
        assert_true(category < 10);
        if (category_of[item] != ~0ull)
            assert_int_equal(category_of[item], category);
        category_of[item] = category;

        assert_true(ev.session_id.len > ev.user_id.len + 1);
        assert_memory_equal(ev.session_id.ptr, ev.user_id.ptr, ev.user_id.len);
        assert_int_equal(ev.session_id.ptr[ev.user_id.len], '-');
        sr_str_t number = {ev.session_id.ptr + ev.user_id.len, ev.session_id.len - ev.user_id.len};
        unsigned long long session;
        assert_true(parse_id(number, '-', &session));
        assert_true(session >= 1 && session >= last_session[user]);
        last_session[user] = session;
        assert_int_equal(ev.has_price, ev.type == SR_EVENT_PURCHASE);
        n++;
    }
    assert_true(n > 1000);
    sr_synth_destroy(s);
}

/* No planted churner has an event at or after its churn time, and some
 * churners were active before it (the fade is not a stop at arrival). */
static void test_churners_stop_at_their_churn_time(void **state) {
    (void)state;
    sr_synth_t *s = small_stream(11);
    int64_t last_ts[300];
    for (size_t u = 0; u < 300; u++) last_ts[u] = INT64_MIN;
    sr_event_t ev;
    while (sr_synth_next(s, &ev)) {
        unsigned long long user;
        assert_true(parse_id(ev.user_id, 'u', &user));
        assert_true(user < 300);
        last_ts[user] = ev.ts_ms;
    }
    size_t churners = 0, seen = 0;
    for (uint32_t u = 0; u < 300; u++) {
        int64_t churn_ms;
        if (!sr_synth_is_churner(s, u, &churn_ms))
            continue;
        churners++;
        if (last_ts[u] != INT64_MIN) {
            seen++;
            assert_true(last_ts[u] < churn_ms);
        }
    }
    assert_true(churners > 30 && churners < 150); /* churn_fraction 0.3 of 300 */
    assert_true(seen > churners / 2);
    sr_synth_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_seed_fixes_the_stream),
        cmocka_unit_test(test_events_are_in_time_order_with_well_formed_ids),
        cmocka_unit_test(test_churners_stop_at_their_churn_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
