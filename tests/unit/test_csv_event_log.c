/* Unit tests for the in-memory, time-sorted dataset (include/streamrec/
 * event_log.h): small fixtures written into a mkdtemp() directory, plus the
 * real sample datasets in ../shared/data when they are present (skipped
 * otherwise). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "streamrec/event_log.h"

#define SHARED_DATA_DIR SR_SOURCE_DIR "/../shared/data"

static char test_dir[] = "/tmp/sr_test_csv_event_log_XXXXXX";

static int setup_dir(void **state) {
    (void)state;
    return mkdtemp(test_dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown_dir(void **state) {
    (void)state;
    return nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_fixture(char *path, size_t path_size, const char *name, const char *content) {
    snprintf(path, path_size, "%s/%s", test_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static bool str_is(sr_str_t s, const char *expected) {
    return s.len == strlen(expected) && memcmp(s.ptr, expected, s.len) == 0;
}

/* The line number in an event id "<file>:<line>" (not NUL-terminated). */
static size_t event_line(const sr_event_t *ev) {
    const char *end = ev->event_id.ptr + ev->event_id.len;
    const char *colon = memrchr(ev->event_id.ptr, ':', ev->event_id.len);
    assert_non_null(colon);
    size_t line = 0;
    for (const char *p = colon + 1; p < end; p++)
        line = line * 10 + (size_t)(*p - '0');
    return line;
}

static void assert_sorted_stably(const sr_event_log_t *log) {
    for (size_t i = 1; i < log->n_events; i++) {
        const sr_event_t *a = &log->events[i - 1], *b = &log->events[i];
        assert_true(a->ts_ms <= b->ts_ms);
        if (a->ts_ms == b->ts_ms)
            assert_true(event_line(a) < event_line(b));
    }
}

static int compare_str(const void *pa, const void *pb) {
    const sr_str_t *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->ptr, b->ptr, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static size_t count_distinct_users(const sr_event_log_t *log) {
    sr_str_t *users = malloc(log->n_events * sizeof *users);
    assert_non_null(users);
    for (size_t i = 0; i < log->n_events; i++)
        users[i] = log->events[i].user_id;
    qsort(users, log->n_events, sizeof *users, compare_str);
    size_t distinct = log->n_events > 0;
    for (size_t i = 1; i < log->n_events; i++)
        distinct += compare_str(&users[i - 1], &users[i]) != 0;
    free(users);
    return distinct;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_event_log_sorts_by_ts_keeping_file_order_on_ties(void **state) {
    (void)state;
    char path[512], errstr[512] = "";
    write_fixture(path, sizeof path, "unsorted.csv",
                  "ts_ms,user_id,item_id,event_type,session_id,category_id,price\n"
                  "30,a,i1,VIEW,,,\n"
                  "10,b,i2,VIEW,,,\n"
                  "20,c,i3,VIEW,,,\n"
                  "10,d,i4,PURCHASE,,,2.5\n"
                  "30,e,i5,VIEW,,,\n"
                  "10,f,i6,VIEW,,,\n"
                  "5,g,,ADD_TO_CART,s,c,\n");
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_STREAMREC, errstr, sizeof errstr);
    if (!log)
        fail_msg("load: %s", errstr);
    /* The strings belong to the log, not to the file or the reader. */
    assert_int_equal(unlink(path), 0);

    static const char *const expected_users[] = {"g", "b", "d", "f", "c", "a", "e"};
    assert_int_equal(log->n_events, 7);
    assert_int_equal(log->n_bad_lines, 0);
    assert_string_equal(log->first_error, "");
    for (size_t i = 0; i < 7; i++)
        assert_true(str_is(log->events[i].user_id, expected_users[i]));
    assert_true(str_is(log->events[0].event_id, "unsorted.csv:8"));
    assert_null(log->events[0].item_id.ptr);
    assert_true(str_is(log->events[0].session_id, "s"));
    assert_true(str_is(log->events[0].category_id, "c"));
    assert_int_equal(log->events[2].type, SR_EVENT_PURCHASE);
    assert_true(log->events[2].has_price && log->events[2].price == 2.5);
    assert_sorted_stably(log);
    sr_event_log_destroy(log);
    sr_event_log_destroy(NULL); /* no-op */
}

static void test_event_log_stable_sort_holds_for_many_ties(void **state) {
    (void)state;
    /* Enough rows for several merge passes, with only 7 distinct times. */
    char path[512], errstr[512] = "";
    snprintf(path, sizeof path, "%s/ties.csv", test_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("ts_ms,user_id,item_id,event_type,session_id,category_id,price\n", f);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "%d,u%d,i,VIEW,,,\n", (i * 13) % 7, i);
    assert_int_equal(fclose(f), 0);

    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_STREAMREC, errstr, sizeof errstr);
    if (!log)
        fail_msg("load: %s", errstr);
    assert_int_equal(log->n_events, 5000);
    assert_sorted_stably(log);
    assert_int_equal(count_distinct_users(log), 5000);
    sr_event_log_destroy(log);
}

static void test_event_log_skips_and_counts_bad_lines(void **state) {
    (void)state;
    char path[512], errstr[512] = "";
    write_fixture(path, sizeof path, "views.csv",
                  "session_id;user_id;item_id;timeframe;eventdate\n"
                  "1;NA;100;5;2016-05-09\n"
                  "1;NA;101;x;2016-05-09\n"
                  "2;7;102;0;2016-02-30\n"
                  "2;7;103\n"
                  "2;7;104;1;2016-05-08\n");
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_DIGINETICA, errstr, sizeof errstr);
    if (!log)
        fail_msg("load: %s", errstr);
    assert_int_equal(log->n_events, 2);
    assert_int_equal(log->n_bad_lines, 3);
    assert_non_null(strstr(log->first_error, "views.csv:3: "));
    assert_non_null(strstr(log->first_error, "(field 'timeframe')"));
    assert_true(str_is(log->events[0].user_id, "7"));
    assert_int_equal(log->events[0].ts_ms, INT64_C(1462665600000) + 1);
    assert_true(str_is(log->events[1].user_id, "s1"));
    assert_int_equal(log->events[1].ts_ms, INT64_C(1462752000000) + 5);
    sr_event_log_destroy(log);
}

static void test_event_log_fails_on_wrong_header_or_missing_file(void **state) {
    (void)state;
    char path[512], errstr[512] = "";
    write_fixture(path, sizeof path, "wrong.csv", "a,b,c\n1,2,3\n");
    assert_null(sr_event_log_load(path, SR_CSV_MOVIELENS, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "expected 'userId,movieId,rating,timestamp'"));

    snprintf(path, sizeof path, "%s/missing.csv", test_dir);
    assert_null(sr_event_log_load(path, SR_CSV_MOVIELENS, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "missing.csv"));
}

static void test_event_log_loads_diginetica_sample(void **state) {
    (void)state;
    const char *path = SHARED_DATA_DIR "/diginetica-sample/train-item-views.csv";
    char errstr[512] = "";
    if (access(path, R_OK) != 0)
        skip();
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_DIGINETICA, errstr, sizeof errstr);
    if (!log)
        fail_msg("load: %s", errstr);
    /* The README says 12,390 rows; the file has 12,391 (its last line has
     * no final newline, so `wc -l` shows one less). */
    assert_int_equal(log->n_events, 12391);
    assert_int_equal(log->n_bad_lines, 0);
    /* 1,270 logged-in users + 1,724 anonymous sessions ("s<session>"). */
    assert_int_equal(count_distinct_users(log), 1270 + 1724);
    const sr_event_t *first = &log->events[0], *last = &log->events[log->n_events - 1];
    assert_int_equal(first->ts_ms, INT64_C(1451779207112)); /* 2016-01-03 + 7112 ms */
    assert_true(str_is(first->user_id, "194"));
    assert_true(str_is(first->session_id, "617"));
    assert_true(str_is(first->item_id, "35789"));
    assert_int_equal(last->ts_ms, INT64_C(1464740324305)); /* 2016-06-01 */
    assert_true(str_is(last->user_id, "s2231"));
    assert_sorted_stably(log);
    sr_event_log_destroy(log);
}

static void test_event_log_loads_movielens_small_quickly(void **state) {
    (void)state;
    const char *path = SHARED_DATA_DIR "/movielens-latest-small/ratings.csv";
    char errstr[512] = "";
    if (access(path, R_OK) != 0)
        skip();
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_MOVIELENS, errstr, sizeof errstr);
    double load_s = seconds_since(&start);
    if (!log)
        fail_msg("load: %s", errstr);
    print_message("movielens ratings.csv: %zu events loaded in %.3f s\n", log->n_events, load_s);
    assert_int_equal(log->n_events, 100836);
    assert_int_equal(log->n_bad_lines, 0);
    assert_int_equal(count_distinct_users(log), 610);
    const sr_event_t *first = &log->events[0], *last = &log->events[log->n_events - 1];
    assert_int_equal(first->ts_ms, INT64_C(828124615000)); /* 1996-03-29 */
    assert_true(str_is(first->user_id, "429"));
    assert_true(str_is(first->item_id, "22"));
    assert_int_equal(first->type, SR_EVENT_PURCHASE);      /* rated 4.0 */
    assert_true(str_is(first->category_id, "Crime"));      /* Copycat: Crime|Drama|... */
    assert_int_equal(last->ts_ms, INT64_C(1537799250000)); /* 2018-09-24 */
    assert_true(str_is(last->user_id, "514"));
    assert_true(str_is(last->category_id, "Documentary"));
    size_t purchases = 0;
    for (size_t i = 0; i < log->n_events; i++)
        purchases += log->events[i].type == SR_EVENT_PURCHASE;
    assert_int_equal(purchases, 48580); /* ratings >= 4.0 */
    assert_sorted_stably(log);          /* the file is grouped by user: many ties */
    sr_event_log_destroy(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_log_sorts_by_ts_keeping_file_order_on_ties),
        cmocka_unit_test(test_event_log_stable_sort_holds_for_many_ties),
        cmocka_unit_test(test_event_log_skips_and_counts_bad_lines),
        cmocka_unit_test(test_event_log_fails_on_wrong_header_or_missing_file),
        cmocka_unit_test(test_event_log_loads_diginetica_sample),
        cmocka_unit_test(test_event_log_loads_movielens_small_quickly),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
