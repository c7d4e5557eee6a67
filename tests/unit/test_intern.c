/* Interning dictionary: dense ids, round trips, bounds, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"
#include "streamrec/serial.h"

#include "mem_buffer.h"

static uint32_t add(sr_intern_t *d, const char *s, bool *added) {
    uint32_t id = SR_INTERN_NONE;
    assert_int_equal(sr_intern_add(d, s, strlen(s), &id, added), SR_OK);
    return id;
}

static void test_intern_ids_are_dense_in_first_seen_order(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    assert_non_null(d);
    assert_int_equal(add(d, "carol", NULL), 0);
    assert_int_equal(add(d, "alice", NULL), 1);
    assert_int_equal(add(d, "bob", NULL), 2);
    assert_int_equal(sr_intern_count(d), 3);
    assert_int_equal(sr_intern_find(d, "alice", 5), 1);
    assert_int_equal(sr_intern_find(d, "carol", 5), 0);
    sr_intern_destroy(d);
}

static void test_intern_same_string_same_id_and_added_flag(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    bool added = false;
    uint32_t a = add(d, "item-17", &added);
    assert_true(added);
    add(d, "item-18", &added);
    assert_true(added);
    uint32_t again = add(d, "item-17", &added);
    assert_false(added);
    assert_int_equal(again, a);
    assert_int_equal(sr_intern_count(d), 2);
    /* a prefix is a different id, not the same one */
    uint32_t prefix = add(d, "item-1", &added);
    assert_true(added);
    assert_int_equal(prefix, 2);
    sr_intern_destroy(d);
}

static void test_intern_find_unknown_is_none(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    add(d, "known", NULL);
    assert_int_equal(sr_intern_find(d, "unknown", 7), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, "know", 4), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, "", 0), SR_INTERN_NONE);
    sr_intern_destroy(d);
}

static void test_intern_str_round_trip_is_nul_terminated(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    /* the input is not NUL-terminated at len: the copy must be */
    const char buf[] = "user-42XYZ";
    uint32_t id;
    assert_int_equal(sr_intern_add(d, buf, 7, &id, NULL), SR_OK);
    size_t len = 0;
    const char *s = sr_intern_str(d, id, &len);
    assert_non_null(s);
    assert_int_equal(len, 7);
    assert_int_equal(s[7], '\0');
    assert_string_equal(s, "user-42");
    assert_ptr_not_equal(s, buf); /* a copy, not the caller's bytes */
    assert_null(sr_intern_str(d, id + 1, NULL));
    sr_intern_destroy(d);
}

static void test_intern_rejects_empty_and_over_long(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    char *big = malloc(SR_INTERN_MAX_LEN + 1);
    memset(big, 'x', SR_INTERN_MAX_LEN + 1);
    uint32_t id = 12345;
    assert_int_equal(sr_intern_add(d, "x", 0, &id, NULL), SR_ERR_INVALID);
    assert_int_equal(sr_intern_add(d, big, SR_INTERN_MAX_LEN + 1, &id, NULL), SR_ERR_INVALID);
    assert_int_equal(sr_intern_count(d), 0);
    /* exactly at the limit is accepted and round-trips */
    assert_int_equal(sr_intern_add(d, big, SR_INTERN_MAX_LEN, &id, NULL), SR_OK);
    assert_int_equal(id, 0);
    size_t len;
    const char *s = sr_intern_str(d, id, &len);
    assert_int_equal(len, SR_INTERN_MAX_LEN);
    assert_memory_equal(s, big, SR_INTERN_MAX_LEN);
    assert_int_equal(sr_intern_find(d, big, SR_INTERN_MAX_LEN + 1), SR_INTERN_NONE);
    free(big);
    sr_intern_destroy(d);
}

/* 200k ids from a table sized for 16: many doublings of the slot table, the
 * offsets arrays and several 1 MiB string chunks. */
static void test_intern_survives_growth_with_all_ids_found(void **state) {
    (void)state;
    enum { N = 200000 };
    sr_intern_t *d = sr_intern_new(1);
    const char **early = malloc(100 * sizeof *early);
    char key[32];
    for (uint32_t k = 0; k < N; k++) {
        int len = snprintf(key, sizeof key, "user-%07u-%u", k, k * 2654435761u);
        uint32_t id;
        bool added;
        assert_int_equal(sr_intern_add(d, key, (size_t)len, &id, &added), SR_OK);
        assert_true(added);
        assert_int_equal(id, k);
        if (k < 100)
            early[k] = sr_intern_str(d, k, NULL);
    }
    assert_int_equal(sr_intern_count(d), N);
    for (uint32_t k = 0; k < N; k++) {
        int len = snprintf(key, sizeof key, "user-%07u-%u", k, k * 2654435761u);
        assert_int_equal(sr_intern_find(d, key, (size_t)len), k);
        size_t got_len;
        const char *s = sr_intern_str(d, k, &got_len);
        assert_int_equal(got_len, (size_t)len);
        assert_string_equal(s, key);
    }
    /* pointers handed out before the growth still point at the same strings */
    for (uint32_t k = 0; k < 100; k++) {
        assert_ptr_equal(early[k], sr_intern_str(d, k, NULL));
        snprintf(key, sizeof key, "user-%07u-%u", k, k * 2654435761u);
        assert_string_equal(early[k], key);
    }
    assert_true(sr_intern_bytes(d) > (size_t)N * 8);
    free(early);
    sr_intern_destroy(d);
}

static void test_intern_odd_bytes_and_utf8_ids(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    const char odd[] = {(char)0xff, (char)0xfe, 'a', (char)0x80};
    const char utf8[] = "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x9b\x92"; /* café-€-🛒 */
    uint32_t a, b, c = 12345;
    assert_int_equal(sr_intern_add(d, odd, sizeof odd, &a, NULL), SR_OK);
    assert_int_equal(sr_intern_add(d, utf8, strlen(utf8), &b, NULL), SR_OK);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(sr_intern_find(d, odd, sizeof odd), a);
    assert_int_equal(sr_intern_find(d, utf8, strlen(utf8)), b);
    size_t len;
    const char *s = sr_intern_str(d, a, &len);
    assert_int_equal(len, sizeof odd);
    assert_memory_equal(s, odd, sizeof odd);
    assert_int_equal(s[len], '\0');
    /* strings end at their NUL: one inside an id is refused, never cut short */
    const char with_nul[] = {'a', 'b', '\0', 'c'};
    assert_int_equal(sr_intern_add(d, with_nul, sizeof with_nul, &c, NULL), SR_ERR_INVALID);
    assert_int_equal(c, 12345);
    assert_int_equal(sr_intern_add(d, "ab", 2, &c, NULL), SR_OK);
    assert_int_equal(sr_intern_find(d, with_nul, sizeof with_nul), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, with_nul, 3), SR_INTERN_NONE); /* "ab\0" is not "ab" */
    /* a prefix or an extension of a stored id is another id */
    assert_int_equal(sr_intern_find(d, "a", 1), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, "abc", 3), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, "ab", 2), c);
    assert_int_equal(sr_intern_count(d), 3);
    sr_intern_destroy(d);
}

static void test_intern_hash_is_stable_and_seeded(void **state) {
    (void)state;
    uint64_t h1 = sr_hash_bytes("user-1", 6, 0);
    assert_true(h1 == sr_hash_bytes("user-1", 6, 0));
    assert_true(h1 != sr_hash_bytes("user-2", 6, 0));
    assert_true(h1 != sr_hash_bytes("user-1", 6, 1));
}

/* The prefetch helpers guess the id from the slot alone: right for known
 * ids, none for most unknown ones, and never a change to the dictionary. */
static void test_intern_guess_finds_known_ids_and_changes_nothing(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(16);
    char id[32];
    for (uint32_t k = 0; k < 1000; k++) {
        int len = snprintf(id, sizeof id, "user-%u", k);
        uint32_t got;
        assert_int_equal(sr_intern_add(d, id, (size_t)len, &got, NULL), SR_OK);
    }
    size_t right = 0, unknown_none = 0;
    for (uint32_t k = 0; k < 2000; k++) {
        int len = snprintf(id, sizeof id, "user-%u", k);
        uint64_t h = sr_hash_bytes(id, (size_t)len, 0);
        sr_intern_prefetch_slot(d, h);
        uint32_t guess = sr_intern_guess(d, h);
        if (guess != SR_INTERN_NONE)
            sr_intern_prefetch_str(d, guess);
        if (k < 1000)
            right += guess == k;
        else
            unknown_none += guess == SR_INTERN_NONE;
    }
    assert_true(right >= 990); /* all but ids at the end of a long probe run */
    assert_true(unknown_none > 990); /* a 32-bit hash match on an unknown id is rare */
    assert_int_equal(sr_intern_count(d), 1000);
    assert_int_equal(sr_intern_find(d, "user-1500", 9), SR_INTERN_NONE);
    sr_intern_destroy(d);
}

static void test_intern_removed_id_is_gone_and_reused_last_first(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    add(d, "a", NULL);
    add(d, "b", NULL);
    add(d, "c", NULL);
    add(d, "d", NULL);
    assert_int_equal(sr_intern_remove(d, 1), SR_OK);
    assert_int_equal(sr_intern_remove(d, 2), SR_OK);
    assert_int_equal(sr_intern_remove(d, 2), SR_ERR_INVALID); /* not in use any more */
    assert_int_equal(sr_intern_remove(d, 9), SR_ERR_INVALID);
    assert_int_equal(sr_intern_find(d, "b", 1), SR_INTERN_NONE);
    assert_int_equal(sr_intern_find(d, "c", 1), SR_INTERN_NONE);
    assert_null(sr_intern_str(d, 1, NULL));
    assert_int_equal(sr_intern_find(d, "d", 1), 3);
    assert_int_equal(sr_intern_count(d), 4);
    assert_int_equal(sr_intern_live(d), 2);
    bool added = false;
    assert_int_equal(add(d, "e", &added), 2); /* the last removed comes back first */
    assert_true(added);
    assert_int_equal(add(d, "c", &added), 1); /* an old string is a new id like any other */
    assert_true(added);
    assert_int_equal(add(d, "f", NULL), 4);   /* free list empty: the id space grows */
    assert_string_equal(sr_intern_str(d, 2, NULL), "e");
    assert_int_equal(sr_intern_live(d), 5);
    sr_intern_destroy(d);
}

/* Random adds and removes against a plain array: every live id stays
 * findable through the backward shifts of removal (a wrong shift loses an
 * entry behind a hole), and the id space and the bytes held stop growing
 * once removals keep pace with adds. */
static void test_intern_churn_keeps_every_live_id_and_bounded_memory(void **state) {
    (void)state;
    enum { LIVE = 2000, ROUNDS = 200000 };
    sr_intern_t *d = sr_intern_new(16);
    uint32_t live_id[LIVE];
    unsigned live_name[LIVE];
    size_t n_live = 0, bytes_at_half = 0;
    unsigned next_name = 0;
    uint64_t rng = 42;
    char s[32];
    for (unsigned r = 0; r < ROUNDS; r++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        if (n_live < LIVE && ((rng >> 33) % 3 != 0 || n_live == 0)) {
            snprintf(s, sizeof s, "id-%u", next_name);
            bool added;
            live_id[n_live] = add(d, s, &added);
            assert_true(added);
            live_name[n_live++] = next_name++;
        } else {
            size_t k = (size_t)(rng >> 40) % n_live;
            assert_int_equal(sr_intern_remove(d, live_id[k]), SR_OK);
            live_id[k] = live_id[--n_live];
            live_name[k] = live_name[n_live];
        }
        if (r % 10007 == 0 || r == ROUNDS - 1) {
            for (size_t k = 0; k < n_live; k++) {
                snprintf(s, sizeof s, "id-%u", live_name[k]);
                assert_int_equal(sr_intern_find(d, s, strlen(s)), live_id[k]);
                assert_string_equal(sr_intern_str(d, live_id[k], NULL), s);
            }
            assert_int_equal(sr_intern_live(d), n_live);
        }
        if (r == ROUNDS / 2)
            bytes_at_half = sr_intern_bytes(d);
    }
    assert_true(next_name > 100000); /* far more ids than ever live at once */
    assert_true(sr_intern_count(d) <= LIVE);
    assert_int_equal(sr_intern_bytes(d), bytes_at_half);
    sr_intern_destroy(d);
}

static buffer_t save_dict(const sr_intern_t *d) {
    buffer_t b = {0};
    sr_writer_t w;
    sr_writer_init(&w, buffer_write, &b);
    sr_intern_save(d, &w);
    assert_int_equal(sr_writer_flush(&w), SR_OK);
    return b;
}

static sr_err_t load_dict(const buffer_t *b, sr_intern_t **out, char *errstr, size_t size) {
    sr_mem_source_t src = {b->bytes, b->len, 0};
    sr_reader_t r;
    sr_reader_init(&r, sr_mem_read, &src);
    *out = sr_intern_new(4);
    return sr_intern_load(*out, &r, "ids", errstr, size);
}

static void test_intern_save_load_keeps_removed_ids_and_free_order(void **state) {
    (void)state;
    sr_intern_t *d = sr_intern_new(4);
    const char *names[] = {"u0", "u1", "u2", "u3", "u4", "u5"};
    for (int k = 0; k < 6; k++) add(d, names[k], NULL);
    sr_intern_remove(d, 4);
    sr_intern_remove(d, 1);
    sr_intern_remove(d, 2);
    buffer_t b = save_dict(d);
    sr_intern_t *c;
    char errstr[256] = "";
    assert_int_equal(load_dict(&b, &c, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_intern_count(c), 6);
    assert_int_equal(sr_intern_live(c), 3);
    assert_null(sr_intern_str(c, 1, NULL));
    assert_int_equal(sr_intern_find(c, "u5", 2), 5);
    assert_int_equal(sr_intern_find(c, "u4", 2), SR_INTERN_NONE);
    /* the same bytes again, and the same ids handed out next, in the same order */
    buffer_t again = save_dict(c);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.bytes, b.bytes, b.len);
    const char *next[] = {"x", "y", "z", "w"};
    for (int k = 0; k < 4; k++) assert_int_equal(add(c, next[k], NULL), add(d, next[k], NULL));
    assert_int_equal(sr_intern_find(c, "y", 1), 1);
    free(again.bytes);

    /* a free list naming a live id is refused */
    sr_intern_destroy(c);
    size_t at = b.len - 4 * 3; /* the three free ids are the last 12 bytes */
    b.bytes[at] = 5;           /* ... and "u5" is live */
    assert_int_equal(load_dict(&b, &c, errstr, sizeof errstr), SR_ERR_CORRUPT);
    assert_non_null(strstr(errstr, "free id 5"));
    sr_intern_destroy(c);
    /* so is one naming a removed id twice: [4, 1, 1] */
    b.bytes[at] = 4;
    b.bytes[at + 8] = 1;
    assert_int_equal(load_dict(&b, &c, errstr, sizeof errstr), SR_ERR_CORRUPT);
    assert_non_null(strstr(errstr, "free id 1 "));
    sr_intern_destroy(c);
    free(b.bytes);
    sr_intern_destroy(d);
}

static void test_intern_destroy_null_is_noop(void **state) {
    (void)state;
    sr_intern_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intern_ids_are_dense_in_first_seen_order),
        cmocka_unit_test(test_intern_same_string_same_id_and_added_flag),
        cmocka_unit_test(test_intern_find_unknown_is_none),
        cmocka_unit_test(test_intern_str_round_trip_is_nul_terminated),
        cmocka_unit_test(test_intern_rejects_empty_and_over_long),
        cmocka_unit_test(test_intern_survives_growth_with_all_ids_found),
        cmocka_unit_test(test_intern_odd_bytes_and_utf8_ids),
        cmocka_unit_test(test_intern_hash_is_stable_and_seeded),
        cmocka_unit_test(test_intern_guess_finds_known_ids_and_changes_nothing),
        cmocka_unit_test(test_intern_removed_id_is_gone_and_reused_last_first),
        cmocka_unit_test(test_intern_churn_keeps_every_live_id_and_bounded_memory),
        cmocka_unit_test(test_intern_save_load_keeps_removed_ids_and_free_order),
        cmocka_unit_test(test_intern_destroy_null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
