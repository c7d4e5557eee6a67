/* Unit tests for the dataset readers and the streamrec-csv writer
 * (include/streamrec/csv_reader.h). Fixtures are written by the tests into a
 * fresh mkdtemp() directory that the group teardown removes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "streamrec/csv_reader.h"

static char test_dir[] = "/tmp/sr_test_csv_reader_XXXXXX";

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

/* Writes `content` to <test_dir>/<name> (a subdirectory is created if the
 * name has one) and returns the full path in `path`. */
static void write_fixture(char *path, size_t path_size, const char *name, const char *content,
                          size_t len) {
    snprintf(path, path_size, "%s/%s", test_dir, name);
    char *slash = strrchr(path, '/');
    if (slash > path + strlen(test_dir)) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

#define WRITE_FIXTURE(path, name, literal) \
    write_fixture(path, sizeof path, name, literal, sizeof literal - 1)

static void assert_str(sr_str_t s, const char *expected) {
    if (!expected) {
        assert_null(s.ptr);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(expected));
    assert_memory_equal(s.ptr, expected, s.len);
}

static sr_csv_reader_t *open_ok(const char *path, sr_csv_format_t format) {
    char errstr[512] = "";
    sr_csv_reader_t *r = sr_csv_reader_open(path, format, errstr, sizeof errstr);
    if (!r)
        fail_msg("open %s: %s", path, errstr);
    return r;
}

static void next_ok(sr_csv_reader_t *r, sr_event_t *ev) {
    char errstr[512] = "";
    sr_err_t err = sr_csv_reader_next(r, ev, errstr, sizeof errstr);
    if (err != SR_OK)
        fail_msg("next: %s (%s)", sr_err_name(err), errstr);
}

static void next_eof(sr_csv_reader_t *r) {
    sr_event_t ev;
    char errstr[512] = "";
    assert_int_equal(sr_csv_reader_next(r, &ev, errstr, sizeof errstr), SR_ERR_EOF);
}

/* Asserts the next line is rejected with a message that contains each of
 * the given fragments. */
static void next_bad(sr_csv_reader_t *r, const char *fragment1, const char *fragment2) {
    sr_event_t ev;
    char errstr[512] = "";
    assert_int_equal(sr_csv_reader_next(r, &ev, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
    if (!strstr(errstr, fragment1) || (fragment2 && !strstr(errstr, fragment2)))
        fail_msg("message '%s' lacks '%s' / '%s'", errstr, fragment1,
                 fragment2 ? fragment2 : "");
}

static void test_csv_format_parse_accepts_known_names_only(void **state) {
    (void)state;
    sr_csv_format_t f = SR_CSV_MOVIELENS;
    assert_int_equal(sr_csv_format_parse("streamrec-csv", &f), SR_OK);
    assert_int_equal(f, SR_CSV_STREAMREC);
    assert_int_equal(sr_csv_format_parse("diginetica", &f), SR_OK);
    assert_int_equal(f, SR_CSV_DIGINETICA);
    assert_int_equal(sr_csv_format_parse("movielens", &f), SR_OK);
    assert_int_equal(f, SR_CSV_MOVIELENS);
    assert_int_equal(sr_csv_format_parse("MovieLens", &f), SR_ERR_INVALID);
    assert_int_equal(sr_csv_format_parse("csv", &f), SR_ERR_INVALID);
    assert_int_equal(f, SR_CSV_MOVIELENS);
    assert_string_equal(sr_csv_format_name(SR_CSV_DIGINETICA), "diginetica");
}

static void test_csv_streamrec_reads_fields_and_absent_optionals(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "events.csv",
                  "ts_ms,user_id,item_id,event_type,session_id,category_id,price\n"
                  "1700000000123,u1,i9,PURCHASE,s7,c3,19.99\n"
                  "1700000000456,u2,,VIEW,,,\n"
                  "-5,u3,i1,UNKNOWN,,,0\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_STREAMREC);
    sr_event_t ev;

    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, INT64_C(1700000000123));
    assert_str(ev.event_id, "events.csv:2");
    assert_str(ev.user_id, "u1");
    assert_str(ev.item_id, "i9");
    assert_int_equal(ev.type, SR_EVENT_PURCHASE);
    assert_str(ev.session_id, "s7");
    assert_str(ev.category_id, "c3");
    assert_true(ev.has_price);
    assert_true(ev.price == 19.99);
    assert_int_equal(sr_csv_reader_line(r), 2);

    next_ok(r, &ev);
    assert_str(ev.event_id, "events.csv:3");
    assert_str(ev.user_id, "u2");
    assert_str(ev.item_id, NULL);
    assert_int_equal(ev.type, SR_EVENT_VIEW);
    assert_str(ev.session_id, NULL);
    assert_str(ev.category_id, NULL);
    assert_false(ev.has_price);

    /* UNKNOWN is a valid symbol: the engine counts and skips it, the reader
     * does not reject it. */
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, -5);
    assert_int_equal(ev.type, SR_EVENT_UNKNOWN);
    assert_true(ev.has_price);
    assert_true(ev.price == 0.0);

    next_eof(r);
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_reader_accepts_crlf_bom_blank_lines_and_no_final_newline(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "crlf.csv",
                  "\xEF\xBB\xBFts_ms,user_id,item_id,event_type,session_id,category_id,price\r\n"
                  "10,u1,i1,VIEW,,,\r\n"
                  "\r\n"
                  "20,u2,i2,ADD_TO_CART,s,c,1.5");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_STREAMREC);
    sr_event_t ev;
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 10);
    assert_str(ev.item_id, "i1");
    assert_false(ev.has_price);
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 20);
    assert_str(ev.event_id, "crlf.csv:4"); /* the blank line still counts */
    assert_int_equal(ev.type, SR_EVENT_ADD_TO_CART);
    assert_str(ev.category_id, "c");
    assert_true(ev.price == 1.5);
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_diginetica_computes_utc_ts_and_session_users(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "train-item-views.csv",
                  "session_id;user_id;item_id;timeframe;eventdate\n"
                  "1;NA;81766;526309;2016-05-09\n"
                  "42;17;31331;0;2016-01-03\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_DIGINETICA);
    sr_event_t ev;

    next_ok(r, &ev);
    /* 2016-05-09T00:00:00Z = 1462752000000 ms, computed by hand. */
    assert_int_equal(ev.ts_ms, INT64_C(1462752000000) + 526309);
    assert_str(ev.user_id, "s1");
    assert_str(ev.session_id, "1");
    assert_str(ev.item_id, "81766");
    assert_int_equal(ev.type, SR_EVENT_VIEW);
    assert_str(ev.category_id, NULL);
    assert_false(ev.has_price);

    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, INT64_C(1451779200000)); /* 2016-01-03 */
    assert_str(ev.user_id, "17");
    assert_str(ev.session_id, "42");
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_diginetica_dates_follow_gregorian_calendar(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "dates.csv",
                  "session_id;user_id;item_id;timeframe;eventdate\n"
                  "1;u;i;0;1970-01-01\n"
                  "1;u;i;0;2000-02-29\n"
                  "1;u;i;0;2016-03-01\n"
                  "1;u;i;0;1969-12-31\n"
                  "1;u;i;0;1900-03-01\n"
                  "1;u;i;0;2400-03-01\n"
                  "1;u;i;0;2015-02-29\n"
                  "1;u;i;0;1900-02-29\n"
                  "1;u;i;0;2016-04-31\n"
                  "1;u;i;0;2016-13-01\n"
                  "1;u;i;0;2016-5-09\n"
                  "1;u;i;0;2016/05/09\n"
                  "1;u;i;-1;2016-05-09\n"
                  "1;u;i;0;2016-05-09\n");
    static const int64_t expected_ts_ms[] = {
        0, INT64_C(951782400000), INT64_C(1456790400000), INT64_C(-86400000),
        INT64_C(-2203891200000), INT64_C(13574649600000),
    };
    sr_csv_reader_t *r = open_ok(path, SR_CSV_DIGINETICA);
    sr_event_t ev;
    for (size_t i = 0; i < sizeof expected_ts_ms / sizeof expected_ts_ms[0]; i++) {
        next_ok(r, &ev);
        assert_int_equal(ev.ts_ms, expected_ts_ms[i]);
    }
    next_bad(r, "dates.csv:8: ", "(field 'eventdate')");  /* 2015 is not a leap year */
    next_bad(r, "dates.csv:9: ", "(field 'eventdate')");  /* 1900 neither */
    next_bad(r, "dates.csv:10: ", "'2016-04-31'");
    next_bad(r, "dates.csv:11: ", "(field 'eventdate')");
    next_bad(r, "dates.csv:12: ", "(field 'eventdate')");
    next_bad(r, "dates.csv:13: ", "(field 'eventdate')");
    next_bad(r, "dates.csv:14: ", "(field 'timeframe')");
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, INT64_C(1462752000000));
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_movielens_maps_rating_and_first_genre(void **state) {
    (void)state;
    char path[512], movies[512];
    WRITE_FIXTURE(movies, "ml/movies.csv",
                  "movieId,title,genres\r\n"
                  "1,Toy Story (1995),Adventure|Animation|Children\r\n"
                  "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
                  "7789,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n"
                  "114335,La cravate (1957),(no genres listed)\r\n");
    WRITE_FIXTURE(path, "ml/ratings.csv",
                  "userId,movieId,rating,timestamp\r\n"
                  "1,1,4.0,964982703\r\n"
                  "1,11,3.5,964981247\r\n"
                  "2,7789,5,964982224\r\n"
                  "2,114335,0.5,1\r\n"
                  "3,999,3.9999,2\r\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_MOVIELENS);
    sr_event_t ev;

    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, INT64_C(964982703000));
    assert_str(ev.user_id, "1");
    assert_str(ev.item_id, "1");
    assert_int_equal(ev.type, SR_EVENT_PURCHASE); /* 4.0 is a positive */
    assert_str(ev.category_id, "Adventure");
    assert_str(ev.session_id, NULL);
    assert_false(ev.has_price);

    next_ok(r, &ev);
    assert_int_equal(ev.type, SR_EVENT_VIEW); /* 3.5 is not */
    assert_str(ev.category_id, "Comedy");     /* quoted title with a comma */

    next_ok(r, &ev);
    assert_int_equal(ev.type, SR_EVENT_PURCHASE);
    assert_str(ev.category_id, "Drama"); /* quoted title with doubled quotes */

    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 1000);
    assert_int_equal(ev.type, SR_EVENT_VIEW);
    assert_str(ev.category_id, NULL); /* (no genres listed) */

    next_ok(r, &ev);
    assert_int_equal(ev.type, SR_EVENT_VIEW);
    assert_str(ev.category_id, NULL); /* not in movies.csv */
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_movielens_without_movies_csv_has_no_category(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "ml-bare/ratings.csv",
                  "userId,movieId,rating,timestamp\n"
                  "1,1,4.5,10\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_MOVIELENS);
    sr_event_t ev;
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 10000);
    assert_int_equal(ev.type, SR_EVENT_PURCHASE);
    assert_str(ev.category_id, NULL);
    sr_csv_reader_close(r);
}

static void test_csv_movielens_broken_movies_csv_fails_open(void **state) {
    (void)state;
    char path[512], movies[512], errstr[512] = "";
    WRITE_FIXTURE(movies, "ml-broken/movies.csv",
                  "movieId,title,genres\n"
                  "1,\"Unterminated (1995),Comedy\n");
    WRITE_FIXTURE(path, "ml-broken/ratings.csv", "userId,movieId,rating,timestamp\n");
    assert_null(sr_csv_reader_open(path, SR_CSV_MOVIELENS, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "movies.csv:2: "));
}

static void test_csv_bad_lines_name_line_and_field_and_reader_continues(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "bad.csv",
                  "ts_ms,user_id,item_id,event_type,session_id,category_id,price\n"
                  "1,u1,i1,VIEW,,,\n"
                  "2,u1,i1,VIEW,,\n"
                  "2,u1,i1,VIEW,,,,\n"
                  "12a,u1,i1,VIEW,,,\n"
                  "99999999999999999999,u1,i1,VIEW,,,\n"
                  "3,u1,i1,CLICK,,,\n"
                  "4,u1,i1,view,,,\n"
                  "5,,i1,VIEW,,,\n"
                  "6,u1,i1,PURCHASE,,,nan\n"
                  "7,u1,i1,PURCHASE,,, 1.0\n"
                  "8,u1,i1,VIEW,,,\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_STREAMREC);
    sr_event_t ev;
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 1);
    next_bad(r, "bad.csv:3: ", "expected 7 ','-separated fields, got 6");
    next_bad(r, "bad.csv:4: ", "got 8");
    next_bad(r, "bad.csv:5: ", "'12a' (field 'ts_ms')");
    next_bad(r, "bad.csv:6: ", "(field 'ts_ms')");
    next_bad(r, "bad.csv:7: ", "unknown event type 'CLICK' (field 'event_type')");
    next_bad(r, "bad.csv:8: ", "(field 'event_type')"); /* symbols are case-sensitive */
    next_bad(r, "bad.csv:9: ", "empty (field 'user_id')");
    next_bad(r, "bad.csv:10: ", "(field 'price')");
    next_bad(r, "bad.csv:11: ", "(field 'price')");
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 8);
    assert_str(ev.event_id, "bad.csv:12");
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_movielens_bad_values_are_rejected(void **state) {
    (void)state;
    char path[512];
    WRITE_FIXTURE(path, "ml-bad/ratings.csv",
                  "userId,movieId,rating,timestamp\n"
                  "1,1,four,10\n"
                  "1,1,4.0,10.5\n"
                  "1,1,4.0,99999999999999999\n"
                  "1,,4.0,10\n"
                  "1,1,4.0\n"
                  "1,2,1.0,11\n");
    sr_csv_reader_t *r = open_ok(path, SR_CSV_MOVIELENS);
    sr_event_t ev;
    next_bad(r, "ratings.csv:2: ", "(field 'rating')");
    next_bad(r, "ratings.csv:3: ", "(field 'timestamp')");
    next_bad(r, "ratings.csv:4: ", "(field 'timestamp')"); /* *1000 would overflow */
    next_bad(r, "ratings.csv:5: ", "(field 'movieId')");
    next_bad(r, "ratings.csv:6: ", "got 3");
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 11000);
    sr_csv_reader_close(r);
}

static void test_csv_wrong_header_fails_at_open_naming_expected(void **state) {
    (void)state;
    char path[512], errstr[512] = "";
    WRITE_FIXTURE(path, "header.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n");
    assert_null(sr_csv_reader_open(path, SR_CSV_STREAMREC, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "header.csv:1: "));
    assert_non_null(
        strstr(errstr, "expected 'ts_ms,user_id,item_id,event_type,session_id,category_id,price'"));

    /* A near miss is still a miss: a reordered column would shift fields. */
    WRITE_FIXTURE(path, "header2.csv", "session_id;user_id;item_id;eventdate;timeframe\n");
    assert_null(sr_csv_reader_open(path, SR_CSV_DIGINETICA, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "expected 'session_id;user_id;item_id;timeframe;eventdate'"));
}

static void test_csv_empty_or_missing_file_fails_at_open(void **state) {
    (void)state;
    char path[512], errstr[512] = "";
    WRITE_FIXTURE(path, "empty.csv", "");
    assert_null(sr_csv_reader_open(path, SR_CSV_MOVIELENS, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "empty file"));
    assert_non_null(strstr(errstr, "userId,movieId,rating,timestamp"));

    snprintf(path, sizeof path, "%s/does-not-exist.csv", test_dir);
    assert_null(sr_csv_reader_open(path, SR_CSV_STREAMREC, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "does-not-exist.csv: "));

    sr_csv_reader_close(NULL); /* no-op */
}

static void test_csv_very_long_line_is_read_whole(void **state) {
    (void)state;
    const size_t item_len = 3u << 20; /* far beyond any fixed buffer */
    const char *header = "ts_ms,user_id,item_id,event_type,session_id,category_id,price\n";
    size_t len = strlen(header) + item_len + 64;
    char *content = malloc(len), path[512];
    assert_non_null(content);
    size_t n = (size_t)sprintf(content, "%s5,u,", header);
    memset(content + n, 'x', item_len);
    n += item_len;
    n += (size_t)sprintf(content + n, ",VIEW,,,\n6,u,i,VIEW,,,\n");
    write_fixture(path, sizeof path, "long.csv", content, n);
    free(content);

    sr_csv_reader_t *r = open_ok(path, SR_CSV_STREAMREC);
    sr_event_t ev;
    next_ok(r, &ev);
    assert_int_equal(ev.item_id.len, item_len);
    assert_int_equal(ev.item_id.ptr[0], 'x');
    assert_int_equal(ev.item_id.ptr[item_len - 1], 'x');
    next_ok(r, &ev);
    assert_int_equal(ev.ts_ms, 6);
    next_eof(r);
    sr_csv_reader_close(r);
}

static void test_csv_writer_round_trips_through_reader(void **state) {
    (void)state;
    static const struct {
        int64_t ts_ms;
        const char *user, *item, *session, *category;
        sr_event_type_t type;
        bool has_price;
        double price;
    } cases[] = {
        {1700000000000, "u1", "i1", "s1", "c1", SR_EVENT_PURCHASE, true, 9.99},
        {1700000000001, "u2", NULL, NULL, NULL, SR_EVENT_VIEW, false, 0},
        {-1, "u3", "i3", NULL, "c3", SR_EVENT_REMOVE_FROM_CART, true, 0.1},
        {0, "u4", "i4", "s4", NULL, SR_EVENT_ADD_TO_CART, true, 1e-7},
        {INT64_MAX, "u5", "i5", NULL, NULL, SR_EVENT_UNKNOWN, true, 123456.789},
        {42, "u6", "i6", NULL, NULL, SR_EVENT_PURCHASE, true, 1.0 / 3.0},
    };
    const size_t n_cases = sizeof cases / sizeof cases[0];
    char path[512];
    snprintf(path, sizeof path, "%s/roundtrip.csv", test_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    sr_csv_write_header(f);
    for (size_t i = 0; i < n_cases; i++) {
        sr_event_t ev = {
            .event_id = sr_str_c("ignored"),
            .user_id = sr_str_c(cases[i].user),
            .item_id = sr_str_c(cases[i].item),
            .session_id = sr_str_c(cases[i].session),
            .category_id = sr_str_c(cases[i].category),
            .type = cases[i].type,
            .ts_ms = cases[i].ts_ms,
            .price = cases[i].price,
            .has_price = cases[i].has_price,
        };
        assert_int_equal(sr_csv_write_event(f, &ev), SR_OK);
    }
    assert_int_equal(fclose(f), 0);

    sr_csv_reader_t *r = open_ok(path, SR_CSV_STREAMREC);
    for (size_t i = 0; i < n_cases; i++) {
        sr_event_t ev;
        next_ok(r, &ev);
        assert_int_equal(ev.ts_ms, cases[i].ts_ms);
        assert_str(ev.user_id, cases[i].user);
        assert_str(ev.item_id, cases[i].item);
        assert_str(ev.session_id, cases[i].session);
        assert_str(ev.category_id, cases[i].category);
        assert_int_equal(ev.type, cases[i].type);
        assert_int_equal(ev.has_price, cases[i].has_price);
        if (cases[i].has_price)
            assert_true(ev.price == cases[i].price); /* exact, not approximate */
    }
    next_eof(r);
    sr_csv_reader_close(r);

    /* Prices use the shortest form that reads back exactly. */
    f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "1700000000000,u1,i1,PURCHASE,s1,c1,9.99\n");
    fclose(f);
}

static void test_csv_writer_rejects_values_it_cannot_write(void **state) {
    (void)state;
    char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    sr_event_t ev = {.user_id = sr_str_c("u"), .item_id = sr_str_c("a,b"), .type = SR_EVENT_VIEW};
    assert_int_equal(sr_csv_write_event(f, &ev), SR_ERR_INVALID);
    ev.item_id = sr_str_c("line\nbreak");
    assert_int_equal(sr_csv_write_event(f, &ev), SR_ERR_INVALID);
    ev.item_id = sr_str_c("i");
    ev.user_id = sr_str_c("");
    assert_int_equal(sr_csv_write_event(f, &ev), SR_ERR_INVALID);
    ev.user_id = sr_str_c("u");
    ev.type = SR_EVENT__COUNT;
    assert_int_equal(sr_csv_write_event(f, &ev), SR_ERR_INVALID);
    ev.type = SR_EVENT_VIEW;
    ev.has_price = true;
    ev.price = INFINITY;
    assert_int_equal(sr_csv_write_event(f, &ev), SR_ERR_INVALID);
    ev.has_price = false;
    assert_int_equal(sr_csv_write_event(f, &ev), SR_OK);
    fclose(f);
    assert_string_equal(buf, "0,u,i,VIEW,,,\n"); /* rejected events wrote nothing */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_format_parse_accepts_known_names_only),
        cmocka_unit_test(test_csv_streamrec_reads_fields_and_absent_optionals),
        cmocka_unit_test(test_csv_reader_accepts_crlf_bom_blank_lines_and_no_final_newline),
        cmocka_unit_test(test_csv_diginetica_computes_utc_ts_and_session_users),
        cmocka_unit_test(test_csv_diginetica_dates_follow_gregorian_calendar),
        cmocka_unit_test(test_csv_movielens_maps_rating_and_first_genre),
        cmocka_unit_test(test_csv_movielens_without_movies_csv_has_no_category),
        cmocka_unit_test(test_csv_movielens_broken_movies_csv_fails_open),
        cmocka_unit_test(test_csv_bad_lines_name_line_and_field_and_reader_continues),
        cmocka_unit_test(test_csv_movielens_bad_values_are_rejected),
        cmocka_unit_test(test_csv_wrong_header_fails_at_open_naming_expected),
        cmocka_unit_test(test_csv_empty_or_missing_file_fails_at_open),
        cmocka_unit_test(test_csv_very_long_line_is_read_whole),
        cmocka_unit_test(test_csv_writer_round_trips_through_reader),
        cmocka_unit_test(test_csv_writer_rejects_values_it_cannot_write),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
