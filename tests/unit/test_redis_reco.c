/* redis_reco: reading reco:{USER} back, in both formats, from lists the real
 * sink wrote into a real redis-server (sr_redis_spawn on a free port). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/redis_reco.h"
#include "streamrec/redis_sink.h"
#include "streamrec/redis_spawn.h"

static sr_redis_spawn_t *server;

static int group_setup(void **state) {
    (void)state;
    char errstr[512] = "";
    if (!(server = sr_redis_spawn_new(NULL, errstr, sizeof errstr))) {
        fprintf(stderr, "cannot start redis-server: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    sr_redis_spawn_destroy(server);
    return 0;
}

static sr_redis_sink_config_t config(int db, sr_redis_reco_format_t format) {
    sr_redis_sink_config_t cfg;
    sr_redis_sink_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = sr_redis_spawn_port(server);
    cfg.db = db;
    cfg.reco_format = format;
    return cfg;
}

static void write_list(const sr_redis_sink_config_t *cfg, const char *user,
                       const sr_scored_id_t *items, size_t n) {
    char errstr[512] = "";
    sr_redis_sink_t *sink = sr_redis_sink_new(cfg, errstr, sizeof errstr);
    if (!sink)
        fail_msg("sr_redis_sink_new: %s", errstr);
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, user, items, n, 1, 1000, 2000, 1), SR_OK);
    if (sr_redis_batch_commit(sink, errstr, sizeof errstr) != SR_OK)
        fail_msg("commit: %s", errstr);
    sr_redis_sink_destroy(sink);
}

/* Scores in descending order: both formats must give the list back as written. */
static const sr_scored_id_t list[] = {
    {"tent", 0.875f}, {"stove \"2\" <b>", 0.5f}, {"caf\xc3\xa9", 0.25f}, {"mug", 0.125f}};
#define LIST_N (sizeof list / sizeof *list)

static void read_back(sr_redis_reco_format_t format, int db) {
    sr_redis_sink_config_t cfg = config(db, format);
    write_list(&cfg, "alice {1}", list, LIST_N);
    sr_redis_reco_list_t got;
    char errstr[512] = "";
    assert_int_equal(sr_redis_reco_read(&cfg, "alice {1}", &got, errstr, sizeof errstr), SR_OK);
    assert_true(got.found);
    assert_int_equal(got.n, LIST_N);
    for (size_t k = 0; k < LIST_N; k++) {
        assert_string_equal(got.items[k].item_id, list[k].item_id);
        assert_true(got.items[k].score == (double)list[k].score);
    }
    sr_redis_reco_list_clear(&got);
    assert_int_equal(got.n, 0);
    assert_null(got.items);
}

static void test_redis_reco_reads_the_zset_format_best_first(void **state) {
    (void)state;
    read_back(SR_REDIS_RECO_ZSET, 0);
}

static void test_redis_reco_reads_the_json_format_in_its_order(void **state) {
    (void)state;
    read_back(SR_REDIS_RECO_JSON, 0);
}

static void test_redis_reco_reads_from_the_configured_db(void **state) {
    (void)state;
    read_back(SR_REDIS_RECO_JSON, 5);
    /* another db of the same server does not see it */
    sr_redis_sink_config_t cfg = config(6, SR_REDIS_RECO_JSON);
    sr_redis_reco_list_t got;
    char errstr[512] = "";
    assert_int_equal(sr_redis_reco_read(&cfg, "alice {1}", &got, errstr, sizeof errstr), SR_OK);
    assert_false(got.found);
}

static void test_redis_reco_unknown_user_is_an_empty_list_not_an_error(void **state) {
    (void)state;
    for (int f = SR_REDIS_RECO_ZSET; f <= SR_REDIS_RECO_JSON; f++) {
        sr_redis_sink_config_t cfg = config(0, (sr_redis_reco_format_t)f);
        sr_redis_reco_list_t got;
        char errstr[512] = "";
        assert_int_equal(sr_redis_reco_read(&cfg, "nobody", &got, errstr, sizeof errstr), SR_OK);
        assert_false(got.found);
        assert_int_equal(got.n, 0);
    }
}

static void test_redis_reco_wrong_format_says_so(void **state) {
    (void)state;
    /* a zset list read as json: Redis refuses GET on a sorted set */
    sr_redis_sink_config_t zset = config(0, SR_REDIS_RECO_ZSET);
    write_list(&zset, "carol", list, LIST_N);
    sr_redis_sink_config_t json = config(0, SR_REDIS_RECO_JSON);
    sr_redis_reco_list_t got;
    char errstr[512] = "";
    assert_int_not_equal(sr_redis_reco_read(&json, "carol", &got, errstr, sizeof errstr), SR_OK);
    assert_non_null(strstr(errstr, "WRONGTYPE"));
    assert_int_equal(got.n, 0);
}

static void test_redis_reco_unreachable_redis_is_an_io_error(void **state) {
    (void)state;
    sr_redis_sink_config_t cfg = config(0, SR_REDIS_RECO_JSON);
    cfg.port = 1; /* nothing listens on port 1 of loopback */
    sr_redis_reco_list_t got;
    char errstr[512] = "";
    assert_int_equal(sr_redis_reco_read(&cfg, "alice", &got, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "127.0.0.1:1"));
    assert_false(got.found);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_reco_reads_the_zset_format_best_first),
        cmocka_unit_test(test_redis_reco_reads_the_json_format_in_its_order),
        cmocka_unit_test(test_redis_reco_reads_from_the_configured_db),
        cmocka_unit_test(test_redis_reco_unknown_user_is_an_empty_list_not_an_error),
        cmocka_unit_test(test_redis_reco_wrong_format_says_so),
        cmocka_unit_test(test_redis_reco_unreachable_redis_is_an_io_error),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
