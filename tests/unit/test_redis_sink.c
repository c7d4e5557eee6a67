/* Redis sink against a real redis-server on a free loopback port (started by
 * redis_spawn in the group setup, stopped in the group teardown, also when a
 * test fails). Keys are read back with a plain hiredis connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "streamrec/redis_sink.h"
#include "streamrec/redis_spawn.h"

#define TTL_S 3600

typedef struct fixture {
    sr_redis_spawn_t *server;
    redisContext *rc; /* the test's own reader */
} fixture_t;

static fixture_t fx;

static redisContext *connect_reader(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return c;
}

static int group_setup(void **state) {
    (void)state;
    char errstr[512] = "";
    fx.server = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    if (!fx.server) {
        fprintf(stderr, "cannot start redis-server: %s\n", errstr);
        return -1;
    }
    fx.rc = connect_reader(sr_redis_spawn_port(fx.server));
    return fx.rc ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    if (fx.rc)
        redisFree(fx.rc);
    sr_redis_spawn_destroy(fx.server);
    return 0;
}

static int flush_db(void **state) {
    (void)state;
    redisReply *r = redisCommand(fx.rc, "FLUSHALL");
    if (!r)
        return -1;
    freeReplyObject(r);
    r = redisCommand(fx.rc, "SELECT 0");
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(fx.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long cmd_int(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(fx.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* HGET as a string the caller frees; NULL if absent. */
static char *hget(const char *key, const char *field) {
    redisReply *r = cmd("HGET %s %s", key, field);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static void assert_hget(const char *key, const char *field, const char *expected) {
    char *v = hget(key, field);
    assert_non_null(v);
    assert_string_equal(v, expected);
    free(v);
}

static void assert_ttl_set(const char *key) {
    long long ttl = cmd_int("TTL %s", key);
    assert_true(ttl > 0);
    assert_true(ttl <= TTL_S);
}

static sr_redis_sink_t *new_sink_on(int port, int db, sr_redis_reco_format_t format) {
    sr_redis_sink_config_t cfg;
    sr_redis_sink_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.db = db;
    cfg.key_ttl_s = TTL_S;
    cfg.reco_format = format;
    char errstr[512] = "";
    sr_redis_sink_t *sink = sr_redis_sink_new(&cfg, errstr, sizeof errstr);
    if (!sink)
        fail_msg("sr_redis_sink_new: %s", errstr);
    return sink;
}

static sr_redis_sink_t *new_sink(sr_redis_reco_format_t format) {
    return new_sink_on(sr_redis_spawn_port(fx.server), 0, format);
}

static void commit_ok(sr_redis_sink_t *sink) {
    char errstr[512] = "";
    sr_err_t err = sr_redis_batch_commit(sink, errstr, sizeof errstr);
    if (err != SR_OK)
        fail_msg("commit: %s", errstr);
    assert_int_equal(sr_redis_batch_count(sink), 0);
}

/* One reco write in its own batch. */
static void write_reco(sr_redis_sink_t *sink, const char *user, const sr_scored_id_t *items,
                       size_t n, int64_t event_ts_ms, int64_t seq) {
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, user, items, n, 7, event_ts_ms, 1000 + seq, seq),
                     SR_OK);
    commit_ok(sink);
}

/* ZREVRANGE key 0 -1 WITHSCORES must be exactly items[0..n) in that order,
 * with scores that read back as the same floats. */
static void assert_zset(const char *key, const sr_scored_id_t *items, size_t n) {
    redisReply *r = cmd("ZREVRANGE %s 0 -1 WITHSCORES", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2 * n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->element[2 * i]->str, items[i].item_id);
        float score = (float)strtod(r->element[2 * i + 1]->str, NULL);
        assert_true(score == items[i].score);
    }
    freeReplyObject(r);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd, (struct sockaddr *)&addr, sizeof addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

/* ---- URL and format parsing --------------------------------------------- */

static void test_redis_parse_url_accepts_host_port_and_db(void **state) {
    (void)state;
    static const struct {
        const char *url, *host;
        int port, db;
    } cases[] = {
        {"redis://127.0.0.1:6379", "127.0.0.1", 6379, 0},
        {"redis://localhost:6380/2", "localhost", 6380, 2},
        {"redis://cache.internal", "cache.internal", 6379, 0},
        {"redis://cache.internal/15", "cache.internal", 6379, 15},
        {"redis://h:1/", "h", 1, 0},
        {"redis://h:65535/0", "h", 65535, 0},
        {"redis://[::1]:7000/1", "::1", 7000, 1},
        {"redis://[::1]", "::1", 6379, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[64] = "", errstr[256] = "";
        int port = -1, db = -1;
        sr_err_t err = sr_redis_parse_url(cases[i].url, host, sizeof host, &port, &db, errstr,
                                          sizeof errstr);
        if (err != SR_OK)
            fail_msg("%s: %s", cases[i].url, errstr);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
        assert_int_equal(db, cases[i].db);
    }
}

static void test_redis_parse_url_rejects_bad_urls_with_a_reason(void **state) {
    (void)state;
    static const struct {
        const char *url, *reason;
    } cases[] = {
        {"", "expected redis://"},
        {"127.0.0.1:6379", "expected redis://"},
        {"http://h:6379", "expected redis://"},
        {"rediss://h:6379", "TLS"},
        {"unix:///tmp/redis.sock", "unix sockets"},
        {"redis://", "empty host"},
        {"redis://:6379", "empty host"},
        {"redis://h:", "port ''"},
        {"redis://h:0", "1..65535"},
        {"redis://h:65536", "1..65535"},
        {"redis://h:63x9", "port '63x9'"},
        {"redis://h:-1", "port '-1'"},
        {"redis://h:6379/x", "db 'x'"},
        {"redis://h:6379/-1", "db '-1'"},
        {"redis://h:6379/1/2", "db '1/2'"},
        {"redis://h:6379/99999999999", "db '99999999999'"},
        {"redis://h:6379?timeout=1", "unexpected '?timeout=1'"},
        {"redis://user:pw@h:6379", "password"},
        {"redis://[::1:6379", "without ']'"},
        {"redis://[::1]6379", "after ']'"},
        {"redis://a-very-long-host-name-that-does-not-fit:1", "host longer than 15"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[16] = "unchanged", errstr[256] = "";
        int port = -1, db = -1;
        sr_err_t err = sr_redis_parse_url(cases[i].url, host, sizeof host, &port, &db, errstr,
                                          sizeof errstr);
        if (err != SR_ERR_CONFIG)
            fail_msg("%s: accepted (host %s port %d db %d)", cases[i].url, host, port, db);
        if (!strstr(errstr, cases[i].reason))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].url, errstr, cases[i].reason);
        assert_non_null(strstr(errstr, "redis.url"));
        assert_string_equal(host, "unchanged");
        assert_int_equal(port, -1);
    }
}

static void test_redis_reco_format_defaults_to_json_and_parses_both(void **state) {
    (void)state;
    sr_redis_sink_config_t cfg;
    sr_redis_sink_config_init(&cfg);
    assert_int_equal(cfg.reco_format, SR_REDIS_RECO_JSON); /* the measured default */
    sr_redis_reco_format_t f = SR_REDIS_RECO_JSON;
    assert_int_equal(sr_redis_reco_format_parse("zset", &f, NULL, 0), SR_OK);
    assert_int_equal(f, SR_REDIS_RECO_ZSET);
    assert_int_equal(sr_redis_reco_format_parse("json", &f, NULL, 0), SR_OK);
    assert_int_equal(f, SR_REDIS_RECO_JSON);
    char errstr[128] = "";
    assert_int_equal(sr_redis_reco_format_parse("hash", &f, errstr, sizeof errstr),
                     SR_ERR_CONFIG);
    assert_non_null(strstr(errstr, "zset or json"));
}

/* ---- connecting --------------------------------------------------------- */

static void test_redis_sink_new_unreachable_says_what_to_start(void **state) {
    (void)state;
    sr_redis_sink_config_t cfg;
    sr_redis_sink_config_init(&cfg);
    cfg.port = free_port();
    char errstr[512] = "", where[64];
    assert_null(sr_redis_sink_new(&cfg, errstr, sizeof errstr));
    snprintf(where, sizeof where, "cannot connect to Redis at 127.0.0.1:%d", cfg.port);
    assert_non_null(strstr(errstr, where));
    assert_non_null(strstr(errstr, "Connection refused"));
    assert_non_null(strstr(errstr, "start redis-server or set redis.url"));
}

static void test_redis_sink_new_rejects_bad_config(void **state) {
    (void)state;
    sr_redis_sink_config_t cfg;
    sr_redis_sink_config_init(&cfg);
    cfg.key_ttl_s = 0;
    char errstr[256] = "";
    assert_null(sr_redis_sink_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "bad configuration"));
}

static void test_redis_sink_db_from_url_is_selected(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink_on(sr_redis_spawn_port(fx.server), 3, SR_REDIS_RECO_ZSET);
    const sr_scored_id_t items[] = {{"i1", 1.0f}};
    write_reco(sink, "u1", items, 1, 100, 1);
    assert_int_equal(cmd_int("EXISTS reco:{u1}"), 0);
    freeReplyObject(cmd("SELECT 3"));
    assert_int_equal(cmd_int("EXISTS reco:{u1}"), 1);
    freeReplyObject(cmd("SELECT 0"));
    sr_redis_sink_destroy(sink);
}

/* ---- reco, zset format -------------------------------------------------- */

static void test_redis_reco_zset_reads_best_first_with_exact_scores(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    sr_scored_id_t items[20];
    char ids[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "item-%02d", i);
        items[i].item_id = ids[i];
        /* Scores that need all 9 digits to round-trip, strictly decreasing. */
        items[i].score = 0.987654321f - 0.0123456789f * (float)i;
    }
    items[19].score = -1.0e-7f;
    write_reco(sink, "u1", items, 20, 1700000000000, 1);
    assert_zset("reco:{u1}", items, 20);
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_meta_holds_versions_and_every_key_has_ttl(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t items[] = {{"a", 3.0f}, {"b", 2.0f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 2, 42, 1700000000123, 1700000000456,
                                       9007199254740992),
                     SR_OK);
    commit_ok(sink);
    assert_hget("reco:{u1}:meta", "model_version", "42");
    assert_hget("reco:{u1}:meta", "event_ts_ms", "1700000000123");
    assert_hget("reco:{u1}:meta", "updated_ms", "1700000000456");
    assert_hget("reco:{u1}:meta", "seq", "9007199254740992");
    assert_int_equal(cmd_int("HLEN reco:{u1}:meta"), 4);
    assert_ttl_set("reco:{u1}");
    assert_ttl_set("reco:{u1}:meta");
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_replace_drops_old_items(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t first[] = {{"a", 3.0f}, {"b", 2.0f}, {"c", 1.0f}};
    const sr_scored_id_t second[] = {{"d", 5.0f}, {"b", 0.5f}};
    write_reco(sink, "u1", first, 3, 100, 1);
    write_reco(sink, "u1", second, 2, 200, 2);
    assert_zset("reco:{u1}", second, 2);
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_empty_list_removes_items_keeps_meta(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t first[] = {{"a", 3.0f}};
    write_reco(sink, "u1", first, 1, 100, 1);
    write_reco(sink, "u1", NULL, 0, 200, 2);
    assert_int_equal(cmd_int("EXISTS reco:{u1}"), 0);
    assert_hget("reco:{u1}:meta", "seq", "2");
    assert_ttl_set("reco:{u1}:meta");
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_older_write_never_overwrites_newer(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t newer[] = {{"new", 2.0f}};
    const sr_scored_id_t older[] = {{"old", 9.0f}};
    write_reco(sink, "u1", newer, 1, 2000, 5);
    write_reco(sink, "u1", older, 1, 1000, 9); /* older event time, higher seq */
    write_reco(sink, "u1", older, 1, 2000, 4); /* same event time, lower seq */
    assert_zset("reco:{u1}", newer, 1);
    assert_hget("reco:{u1}:meta", "event_ts_ms", "2000");
    assert_hget("reco:{u1}:meta", "seq", "5");
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.writes_applied, 1);
    assert_int_equal(st.writes_stale, 2);
    /* Same event time, higher seq: applies. */
    write_reco(sink, "u1", older, 1, 2000, 6);
    assert_zset("reco:{u1}", older, 1);
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_equal_replay_is_harmless(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t items[] = {{"a", 3.0f}, {"b", 2.0f}};
    write_reco(sink, "u1", items, 2, 100, 1);
    /* The same write twice more, both in one batch. */
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 2, 7, 100, 1001, 1), SR_OK);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 2, 7, 100, 1001, 1), SR_OK);
    commit_ok(sink);
    assert_zset("reco:{u1}", items, 2);
    assert_hget("reco:{u1}:meta", "seq", "1");
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.writes_applied, 1);
    assert_int_equal(st.writes_stale, 2);
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_zset_keeps_arbitrary_id_bytes(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const char *user = "u \"q\" \\ {x} \n\xff";
    const sr_scored_id_t items[] = {{"it\"em\\1\t\x01\xfe", 1.5f}};
    write_reco(sink, user, items, 1, 100, 1);
    char key[64];
    snprintf(key, sizeof key, "reco:{%s}", user);
    redisReply *r = cmd("ZREVRANGE %b 0 -1", key, strlen(key));
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, items[0].item_id);
    freeReplyObject(r);
    sr_redis_sink_destroy(sink);
}

/* ---- reco, json format -------------------------------------------------- */

/* Decodes reco:{user} with Redis's own lua-cjson (a JSON parser we did not
 * write) and returns: number of top-level fields, user_id, event_ts_ms, seq,
 * model_version, updated_ms, then item_id, score per item; numbers as %.17g. */
static redisReply *decode_json_reco(const char *user) {
    static const char script[] =
        "local v = redis.call('GET', KEYS[1])\n"
        "local d = cjson.decode(v)\n"
        "local n = 0\n"
        "for _ in pairs(d) do n = n + 1 end\n"
        "local f = function(x) return string.format('%.17g', x) end\n"
        "local out = {tostring(n), d.user_id, f(d.event_ts_ms), f(d.seq),\n"
        "             f(d.model_version), f(d.updated_ms)}\n"
        "for _, it in ipairs(d.items) do\n"
        "  out[#out + 1] = it.item_id\n"
        "  out[#out + 1] = f(it.score)\n"
        "end\n"
        "return out\n";
    char key[128];
    snprintf(key, sizeof key, "reco:{%s}", user);
    redisReply *r = cmd("EVAL %s 1 %b", script, key, strlen(key));
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("cjson.decode: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    return r;
}

static void assert_json_reco(const char *user, const sr_scored_id_t *items, size_t n,
                             const char *event_ts_ms, const char *seq) {
    redisReply *r = decode_json_reco(user);
    assert_int_equal(r->elements, 6 + 2 * n);
    assert_string_equal(r->element[0]->str, "6");
    assert_memory_equal(r->element[1]->str, user, strlen(user) + 1);
    assert_string_equal(r->element[2]->str, event_ts_ms);
    assert_string_equal(r->element[3]->str, seq);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->element[6 + 2 * i]->str, items[i].item_id);
        assert_true((float)strtod(r->element[7 + 2 * i]->str, NULL) == items[i].score);
    }
    freeReplyObject(r);
}

static void test_redis_reco_json_is_one_string_with_all_fields(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_JSON);
    /* Not in score order: json keeps the caller's order. */
    const sr_scored_id_t items[] = {{"a", 0.1f}, {"b", 0.7f}, {"c", -2.5e-8f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 3, 42, 1700000000123, 1700000000456, 77),
                     SR_OK);
    commit_ok(sink);
    redisReply *r = cmd("TYPE reco:{u1}");
    assert_string_equal(r->str, "string");
    freeReplyObject(r);
    assert_int_equal(cmd_int("EXISTS reco:{u1}:meta"), 0);
    assert_ttl_set("reco:{u1}");

    r = decode_json_reco("u1");
    assert_string_equal(r->element[4]->str, "42");
    assert_string_equal(r->element[5]->str, "1700000000456");
    freeReplyObject(r);
    assert_json_reco("u1", items, 3, "1700000000123", "77");
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_json_escapes_quotes_backslashes_and_control_bytes(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_JSON);
    const char *user = "u\"1\\\n\t\x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac";
    const sr_scored_id_t items[] = {{"\"", 2.0f}, {"\\\"}{", 1.0f}, {"a\rb\bc\fd/e", 0.5f}};
    write_reco(sink, user, items, 3, 100, 1);

    /* No raw control byte survives into the document. */
    char key[128];
    snprintf(key, sizeof key, "reco:{%s}", user);
    redisReply *r = cmd("GET %b", key, strlen(key));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    for (size_t i = 0; i < r->len; i++)
        assert_true((unsigned char)r->str[i] >= 0x20);
    freeReplyObject(r);

    assert_json_reco(user, items, 3, "100", "1");
    sr_redis_sink_destroy(sink);
}

static void test_redis_reco_json_older_write_never_overwrites_newer(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_JSON);
    const sr_scored_id_t newer[] = {{"new", 2.0f}};
    const sr_scored_id_t older[] = {{"old", 9.0f}};
    write_reco(sink, "u1", newer, 1, 2000, 5);
    write_reco(sink, "u1", older, 1, 1000, 9);
    write_reco(sink, "u1", older, 1, 2000, 4);
    write_reco(sink, "u1", newer, 1, 2000, 5); /* equal replay */
    assert_json_reco("u1", newer, 1, "2000", "5");
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.writes_applied, 1);
    assert_int_equal(st.writes_stale, 3);
    write_reco(sink, "u1", older, 1, 3000, 1); /* newer event time, lower seq */
    assert_json_reco("u1", older, 1, "3000", "1");
    sr_redis_sink_destroy(sink);
}

static void write_reco_unguarded(sr_redis_sink_t *sink, const char *user,
                                 const sr_scored_id_t *items, size_t n, int64_t event_ts_ms,
                                 int64_t seq) {
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco_unguarded(sink, user, items, n, 7, event_ts_ms,
                                                 1000 + seq, seq),
                     SR_OK);
    commit_ok(sink);
}

/* Unguarded: an older list replaces a newer one (the caller vouches there
 * is none), counts as applied, keeps the TTL; the pair it stores is what a
 * later guarded write compares against. Both formats. */
static void test_redis_reco_unguarded_write_replaces_whatever_is_there(void **state) {
    (void)state;
    const sr_scored_id_t newer[] = {{"new", 2.0f}};
    const sr_scored_id_t older[] = {{"old", 9.0f}, {"older", 1.0f}};
    sr_redis_sink_t *json = new_sink(SR_REDIS_RECO_JSON);
    write_reco(json, "u1", newer, 1, 2000, 5);
    write_reco_unguarded(json, "u1", older, 2, 1000, 3);
    assert_json_reco("u1", older, 2, "1000", "3");
    assert_ttl_set("reco:{u1}");
    write_reco(json, "u1", newer, 1, 1000, 2); /* guarded, below the stored pair */
    assert_json_reco("u1", older, 2, "1000", "3");
    write_reco(json, "u1", newer, 1, 1000, 4);
    assert_json_reco("u1", newer, 1, "1000", "4");
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(json, &st);
    assert_int_equal(st.writes_applied, 3);
    assert_int_equal(st.writes_stale, 1);
    sr_redis_sink_destroy(json);

    sr_redis_sink_t *zset = new_sink(SR_REDIS_RECO_ZSET);
    write_reco(zset, "u2", newer, 1, 2000, 5);
    write_reco_unguarded(zset, "u2", older, 2, 1000, 3);
    assert_zset("reco:{u2}", older, 2);
    assert_hget("reco:{u2}:meta", "event_ts_ms", "1000");
    assert_hget("reco:{u2}:meta", "seq", "3");
    assert_ttl_set("reco:{u2}");
    assert_ttl_set("reco:{u2}:meta");
    write_reco(zset, "u2", newer, 1, 1000, 2);
    assert_zset("reco:{u2}", older, 2);
    sr_redis_sink_stats(zset, &st);
    assert_int_equal(st.writes_applied, 2);
    assert_int_equal(st.writes_stale, 1);
    sr_redis_sink_destroy(zset);
}

static void test_redis_reco_json_replaces_a_key_left_by_the_zset_format(void **state) {
    (void)state;
    sr_redis_sink_t *zset = new_sink(SR_REDIS_RECO_ZSET);
    sr_redis_sink_t *json = new_sink(SR_REDIS_RECO_JSON);
    const sr_scored_id_t items[] = {{"a", 1.0f}};
    write_reco(zset, "u1", items, 1, 100, 1);
    write_reco(json, "u1", items, 1, 200, 2);
    assert_json_reco("u1", items, 1, "200", "2");
    sr_redis_sink_destroy(zset);
    sr_redis_sink_destroy(json);
}

static void test_redis_reco_json_rejects_ids_that_are_not_utf8(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_JSON);
    const sr_scored_id_t good[] = {{"a", 1.0f}};
    const sr_scored_id_t bad[] = {{"a", 1.0f}, {"b\xff", 0.5f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u\xc3", good, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u\xed\xa0\x80", good, 1, 1, 1, 1, 1),
                     SR_ERR_INVALID); /* a UTF-16 surrogate */
    assert_int_equal(sr_redis_put_reco(sink, "u\xc0\xaf", good, 1, 1, 1, 1, 1),
                     SR_ERR_INVALID); /* overlong '/' */
    assert_int_equal(sr_redis_put_reco(sink, "u1", bad, 2, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_batch_count(sink), 0);
    assert_int_equal(sr_redis_put_reco(sink, "u\xf0\x9f\x98\x80", good, 1, 1, 1, 1, 1), SR_OK);
    commit_ok(sink);
    assert_json_reco("u\xf0\x9f\x98\x80", good, 1, "1", "1");
    sr_redis_sink_destroy(sink);
}

/* ---- argument checks ---------------------------------------------------- */

static void test_redis_puts_reject_bad_arguments_and_leave_the_batch(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t good[] = {{"a", 1.0f}};
    const sr_scored_id_t nan_score[] = {{"a", NAN}};
    const sr_scored_id_t inf_score[] = {{"a", INFINITY}};
    const sr_scored_id_t empty_id[] = {{"", 1.0f}};
    const sr_scored_id_t null_id[] = {{NULL, 1.0f}};
    const int64_t too_big = ((int64_t)1 << 53) + 1;
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", good, 1, 1, 1, 1, 1), SR_OK);
    assert_int_equal(sr_redis_put_reco(sink, NULL, good, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "", good, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", nan_score, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", inf_score, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", empty_id, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", null_id, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", NULL, 1, 1, 1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", good, 1, 1, -1, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", good, 1, 1, too_big, 1, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", good, 1, 1, 1, 1, -1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_reco(sink, "u", good, 1, 1, 1, 1, too_big), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_sim(sink, "", good, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_sim(sink, "i", nan_score, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "", 0.5, "high", 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", NAN, "high", 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", 1.01, "high", 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", -0.01, "high", 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", 0.5, "", 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", 0.5, NULL, 1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_put_churn(sink, "u", 0.5, "high", -1), SR_ERR_INVALID);
    assert_int_equal(sr_redis_batch_count(sink), 1);
    commit_ok(sink);
    assert_zset("reco:{u1}", good, 1);
    assert_int_equal(cmd_int("DBSIZE"), 2);
    sr_redis_sink_destroy(sink);
}

/* ---- sim and churn ------------------------------------------------------ */

static void test_redis_sim_replace_removes_old_members(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    const sr_scored_id_t first[] = {{"x", 0.9f}, {"y", 0.8f}, {"z", 0.1f}};
    const sr_scored_id_t second[] = {{"w", 0.95f}, {"y", 0.5f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_sim(sink, "i1", first, 3), SR_OK);
    commit_ok(sink);
    assert_zset("sim:{i1}", first, 3);
    assert_ttl_set("sim:{i1}");

    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_sim(sink, "i1", second, 2), SR_OK);
    commit_ok(sink);
    assert_zset("sim:{i1}", second, 2);
    assert_ttl_set("sim:{i1}");

    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_sim(sink, "i1", NULL, 0), SR_OK);
    commit_ok(sink);
    assert_int_equal(cmd_int("EXISTS sim:{i1}"), 0);
    sr_redis_sink_destroy(sink);
}

static void test_redis_churn_hash_is_guarded_on_ts_ms(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_churn(sink, "u1", 0.8, "high", 5000), SR_OK);
    commit_ok(sink);
    assert_hget("churn:{u1}", "p", "0.8");
    assert_hget("churn:{u1}", "level", "high");
    assert_hget("churn:{u1}", "ts_ms", "5000");
    assert_int_equal(cmd_int("HLEN churn:{u1}"), 3);
    assert_ttl_set("churn:{u1}");

    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_churn(sink, "u1", 0.1, "low", 4999), SR_OK);
    commit_ok(sink);
    assert_hget("churn:{u1}", "p", "0.8");

    /* Same event time: the later write wins. */
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_churn(sink, "u1", 0.123456789012345678, "medium", 5000),
                     SR_OK);
    commit_ok(sink);
    char *p = hget("churn:{u1}", "p");
    assert_true(strtod(p, NULL) == 0.123456789012345678);
    free(p);
    assert_hget("churn:{u1}", "level", "medium");
    sr_redis_sink_destroy(sink);
}

/* ---- batches, errors, retries ------------------------------------------- */

static void test_redis_commit_sends_a_large_mixed_batch(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    sr_scored_id_t items[20];
    char ids[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "item-%d", i);
        items[i].item_id = ids[i];
        items[i].score = 20.0f - (float)i;
    }
    sr_redis_batch_begin(sink);
    char user[32];
    for (int u = 0; u < 2000; u++) {
        snprintf(user, sizeof user, "user-%d", u);
        assert_int_equal(sr_redis_put_reco(sink, user, items, 20, 1, 100, 100, u + 1), SR_OK);
        assert_int_equal(sr_redis_put_churn(sink, user, 0.25, "low", 100), SR_OK);
    }
    assert_int_equal(sr_redis_put_sim(sink, "item-0", items + 1, 19), SR_OK);
    assert_int_equal(sr_redis_batch_count(sink), 4001);
    commit_ok(sink);
    assert_int_equal(cmd_int("DBSIZE"), 6001);
    assert_zset("reco:{user-1999}", items, 20);
    assert_hget("reco:{user-1999}:meta", "seq", "2000");
    assert_zset("sim:{item-0}", items + 1, 19);
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.writes_applied, 4001);
    assert_int_equal(st.commits_ok, 1);
    sr_redis_sink_destroy(sink);
}

static void test_redis_error_reply_fails_commit_keeps_batch_for_retry(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_ZSET);
    /* A foreign string where the meta hash goes: HMGET answers WRONGTYPE. */
    freeReplyObject(cmd("SET reco:{u2}:meta oops"));
    const sr_scored_id_t items[] = {{"a", 1.0f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 1, 1, 100, 100, 1), SR_OK);
    assert_int_equal(sr_redis_put_reco(sink, "u2", items, 1, 1, 100, 100, 1), SR_OK);
    assert_int_equal(sr_redis_put_reco(sink, "u3", items, 1, 1, 100, 100, 1), SR_OK);
    char errstr[512] = "";
    assert_int_equal(sr_redis_batch_commit(sink, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "refused 1 of 3 writes"));
    assert_non_null(strstr(errstr, "reco:{u2}"));
    assert_non_null(strstr(errstr, "WRONGTYPE"));
    assert_int_equal(sr_redis_batch_count(sink), 3);
    assert_true(sr_redis_sink_connected(sink));

    /* The operator removes the foreign key; committing again sends the same
     * three writes: u1 and u3 are already there and stay as they are. */
    freeReplyObject(cmd("DEL reco:{u2}:meta"));
    commit_ok(sink);
    assert_zset("reco:{u1}", items, 1);
    assert_zset("reco:{u2}", items, 1);
    assert_zset("reco:{u3}", items, 1);
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.commits_failed, 1);
    assert_int_equal(st.writes_applied, 1);
    assert_int_equal(st.writes_stale, 2);
    sr_redis_sink_destroy(sink);
}

static void test_redis_noscript_reloads_scripts_and_resends(void **state) {
    (void)state;
    sr_redis_sink_t *sink = new_sink(SR_REDIS_RECO_JSON);
    freeReplyObject(cmd("SCRIPT FLUSH"));
    const sr_scored_id_t items[] = {{"a", 1.0f}};
    sr_redis_batch_begin(sink);
    assert_int_equal(sr_redis_put_reco(sink, "u1", items, 1, 1, 100, 100, 1), SR_OK);
    assert_int_equal(sr_redis_put_sim(sink, "i1", items, 1), SR_OK);
    assert_int_equal(sr_redis_put_churn(sink, "u1", 0.5, "medium", 100), SR_OK);
    commit_ok(sink);
    assert_json_reco("u1", items, 1, "100", "1");
    assert_zset("sim:{i1}", items, 1);
    assert_hget("churn:{u1}", "level", "medium");
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.script_reloads, 1);
    sr_redis_sink_destroy(sink);
}

/* The killed-server test runs its own server, so killing it cannot break the
 * group's; setup/teardown stop it whatever happens in the test. */
static sr_redis_spawn_t *own_server;

static int own_server_setup(void **state) {
    (void)state;
    char errstr[512] = "";
    own_server = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    if (!own_server)
        fprintf(stderr, "cannot start redis-server: %s\n", errstr);
    return own_server ? 0 : -1;
}

static int own_server_teardown(void **state) {
    (void)state;
    sr_redis_spawn_destroy(own_server);
    own_server = NULL;
    return 0;
}

static void put_many(sr_redis_sink_t *sink, int n_users, int64_t seq) {
    sr_scored_id_t items[20];
    char ids[20][48];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "a-rather-long-item-identifier-%d", i);
        items[i].item_id = ids[i];
        items[i].score = 1.0f / (float)(i + 1);
    }
    char user[32];
    sr_redis_batch_begin(sink);
    for (int u = 0; u < n_users; u++) {
        snprintf(user, sizeof user, "user-%d", u);
        assert_int_equal(sr_redis_put_reco(sink, user, items, 20, 1, 100, 100, seq), SR_OK);
    }
}

static void test_redis_commit_after_server_killed_is_io_error_then_reconnects(void **state) {
    (void)state;
    int port = sr_redis_spawn_port(own_server);
    sr_redis_sink_t *sink = new_sink_on(port, 0, SR_REDIS_RECO_ZSET);
    put_many(sink, 10, 1);
    commit_ok(sink);

    kill(sr_redis_spawn_pid(own_server), SIGKILL);
    sr_redis_spawn_stop(own_server, NULL, 0);

    /* ~20 MB: more than a socket buffer, so hiredis writes again after the
     * peer's reset -- SIGPIPE territory; the test dies if the sink lets it
     * through. */
    put_many(sink, 16000, 2);
    char errstr[512] = "", where[64];
    snprintf(where, sizeof where, "Redis at 127.0.0.1:%d", port);
    assert_int_equal(sr_redis_batch_commit(sink, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, where));
    assert_non_null(strstr(errstr, "will reconnect on the next commit"));
    assert_false(sr_redis_sink_connected(sink));
    assert_int_equal(sr_redis_batch_count(sink), 16000);

    /* Still down: the reconnect says what to start. */
    assert_int_equal(sr_redis_batch_commit(sink, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "cannot connect to Redis"));
    assert_non_null(strstr(errstr, "start redis-server or set redis.url"));

    /* Back on the same port (empty: nothing was persisted). */
    sr_redis_spawn_destroy(own_server);
    sr_redis_spawn_config_t cfg = {.port = port};
    own_server = sr_redis_spawn_new(&cfg, errstr, sizeof errstr);
    if (!own_server)
        fail_msg("restart on port %d: %s", port, errstr);
    commit_ok(sink);
    assert_true(sr_redis_sink_connected(sink));
    sr_redis_sink_stats_t st;
    sr_redis_sink_stats(sink, &st);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.commits_failed, 2);

    redisContext *c = connect_reader(port);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "HGET reco:{user-15999}:meta seq");
    assert_non_null(r);
    assert_string_equal(r->str, "2");
    freeReplyObject(r);
    r = redisCommand(c, "DBSIZE");
    assert_int_equal(r->integer, 32000);
    freeReplyObject(r);
    redisFree(c);
    sr_redis_sink_destroy(sink);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_parse_url_accepts_host_port_and_db),
        cmocka_unit_test(test_redis_parse_url_rejects_bad_urls_with_a_reason),
        cmocka_unit_test(test_redis_reco_format_defaults_to_json_and_parses_both),
        cmocka_unit_test(test_redis_sink_new_unreachable_says_what_to_start),
        cmocka_unit_test(test_redis_sink_new_rejects_bad_config),
        cmocka_unit_test_setup(test_redis_sink_db_from_url_is_selected, flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_reads_best_first_with_exact_scores, flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_meta_holds_versions_and_every_key_has_ttl,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_replace_drops_old_items, flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_empty_list_removes_items_keeps_meta,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_older_write_never_overwrites_newer,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_equal_replay_is_harmless, flush_db),
        cmocka_unit_test_setup(test_redis_reco_zset_keeps_arbitrary_id_bytes, flush_db),
        cmocka_unit_test_setup(test_redis_reco_json_is_one_string_with_all_fields, flush_db),
        cmocka_unit_test_setup(test_redis_reco_json_escapes_quotes_backslashes_and_control_bytes,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_json_older_write_never_overwrites_newer,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_json_replaces_a_key_left_by_the_zset_format,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_unguarded_write_replaces_whatever_is_there,
                               flush_db),
        cmocka_unit_test_setup(test_redis_reco_json_rejects_ids_that_are_not_utf8, flush_db),
        cmocka_unit_test_setup(test_redis_puts_reject_bad_arguments_and_leave_the_batch,
                               flush_db),
        cmocka_unit_test_setup(test_redis_sim_replace_removes_old_members, flush_db),
        cmocka_unit_test_setup(test_redis_churn_hash_is_guarded_on_ts_ms, flush_db),
        cmocka_unit_test_setup(test_redis_commit_sends_a_large_mixed_batch, flush_db),
        cmocka_unit_test_setup(test_redis_error_reply_fails_commit_keeps_batch_for_retry,
                               flush_db),
        cmocka_unit_test_setup(test_redis_noscript_reloads_scripts_and_resends, flush_db),
        cmocka_unit_test_setup_teardown(
            test_redis_commit_after_server_killed_is_io_error_then_reconnects,
            own_server_setup, own_server_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
