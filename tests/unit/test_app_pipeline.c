/* The daemon's pipeline end to end, with real parts: librdkafka's mock
 * cluster over TCP and a redis-server on a free loopback port.
 *
 * Click events (and two malformed records) go into the input topic; the
 * pipeline runs until it has seen them all and is stopped like a signal
 * would stop it; then Redis, the output topics, the DLQ and the committed
 * offsets are checked. A second test moves a partition between two
 * pipelines of one group and checks every user's state moved with it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/pipeline.h"
#include "app/pipeline_internal.h"
#include "streamrec/avro_codec.h"
#include "streamrec/checkpoint.h"
#include "streamrec/engine.h"
#include "streamrec/intern.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/kafka_restore.h"
#include "streamrec/redis_spawn.h"

#include "pipeline_fixture.h"

#define USERS 20
#define VIEWS_PER_USER 6
#define VALID (USERS * VIEWS_PER_USER)
/* The malformed records of the mixed stream, each with the DLQ reason it
 * must carry (keyed "badN", N its index): framing and Avro errors from the
 * decoder, and well-formed records whose fields the engine refuses. */
typedef struct malformed {
    const char *what;
    const char *reason;
    const uint8_t *raw; /* NULL: an encoded event with the fields below */
    size_t raw_len;
    const char *user_id;
    int64_t ts_ms;
} malformed_t;

static const uint8_t TRUNCATED_RECORD[] = {0, 0, 0, 0, 1, 0x0a, 'e'};
static const malformed_t MALFORMED_RECORDS[] = {
    {"no Confluent magic byte", "bad_magic", (const uint8_t *)"not avro at all", 15, NULL, 0},
    {"cut short", "truncated", TRUNCATED_RECORD, sizeof TRUNCATED_RECORD, NULL, 0},
    {"empty user_id", "bad_field", NULL, 0, "", 1767225600000LL},
    {"a newline in user_id", "bad_field", NULL, 0, "u1\nforged log line", 1767225600000LL},
    {"user_id not UTF-8", "bad_field", NULL, 0, "u\xff\xfe", 1767225600000LL},
    {"ts_ms in the year 2200", "bad_field", NULL, 0, "u1", 7258118400000LL},
};
#define MALFORMED ((int)(sizeof MALFORMED_RECORDS / sizeof *MALFORMED_RECORDS))
#define TIMEOUT_S 60
#define T0_MS 1767225600000LL /* 2026-01-01, the input's first event time */
#define DAY_MS (24 * 3600 * 1000LL)
#define CHANGELOG PIPELINE_FIXTURE_CHANGELOG

/* A producer of click events into "clicks", for the tests' input. */
typedef struct producer {
    sr_kafka_out_t *out;
    sr_click_encoder_t *enc;
} producer_t;

static void producer_open(fixture_t *f, producer_t *pr) {
    char errstr[512];
    sr_kafka_out_config_t ocfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock)};
    pr->out = sr_kafka_out_new(&ocfg, errstr, sizeof errstr);
    pr->enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(pr->out);
    assert_non_null(pr->enc);
}

static void producer_close(producer_t *pr) {
    char errstr[512];
    assert_int_equal(sr_kafka_out_flush(pr->out, 10000, errstr, sizeof errstr), SR_OK);
    sr_click_encoder_destroy(pr->enc);
    sr_kafka_out_destroy(pr->out);
}

/* One view, keyed by its user, to a partition (RD_KAFKA_PARTITION_UA: the
 * key's). */
static void produce_view(producer_t *pr, int32_t partition, const char *user, const char *item,
                         const char *id, int64_t ts_ms) {
    char errstr[512];
    uint8_t buf[1024];
    sr_event_t ev = {.event_id = sr_str_c(id), .user_id = sr_str_c(user),
                     .item_id = sr_str_c(item), .type = SR_EVENT_VIEW, .ts_ms = ts_ms};
    size_t len;
    assert_int_equal(sr_click_encode(pr->enc, &ev, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len,
                                     errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_kafka_out_produce(pr->out, "clicks", partition, user, strlen(user), buf,
                                          len, NULL, NULL, errstr, sizeof errstr), SR_OK);
}

/* User u views six items in order, a second apart, starting at i(u % 5):
 * overlapping co-viewed chains the engine turns into neighbours, so every
 * user ends with recommendations of items they have not seen. */
static void produce_views(fixture_t *f, int first_user, int users, int first_view, int views,
                          bool malformed) {
    char errstr[512];
    producer_t pr;
    producer_open(f, &pr);
    uint8_t buf[1024];
    for (int u = first_user; u < first_user + users; u++)
        for (int v = first_view; v < first_view + views; v++) {
            char user[16], item[16], id[32];
            snprintf(user, sizeof user, "u%d", u);
            snprintf(item, sizeof item, "i%d", u % 5 + v);
            snprintf(id, sizeof id, "e%d-%d", u, v);
            produce_view(&pr, RD_KAFKA_PARTITION_UA, user, item, id,
                         T0_MS + (int64_t)(u * VIEWS_PER_USER + v) * 1000);
        }
    for (int k = 0; malformed && k < MALFORMED; k++) {
        const malformed_t *bad = &MALFORMED_RECORDS[k];
        const uint8_t *value = bad->raw;
        size_t len = bad->raw_len;
        if (!value) {
            sr_event_t ev = {.event_id = sr_str_c("bad"), .user_id = sr_str_c(bad->user_id),
                             .item_id = sr_str_c("i1"), .type = SR_EVENT_VIEW,
                             .ts_ms = bad->ts_ms};
            assert_int_equal(sr_click_encode(pr.enc, &ev, SR_FRAMING_CONFLUENT, 1, buf,
                                             sizeof buf, &len, errstr, sizeof errstr), SR_OK);
            value = buf;
        }
        char key[16];
        snprintf(key, sizeof key, "bad%d", k);
        assert_int_equal(sr_kafka_out_produce(pr.out, "clicks", RD_KAFKA_PARTITION_UA, key,
                                              strlen(key), value, len, NULL, NULL, errstr,
                                              sizeof errstr), SR_OK);
    }
    producer_close(&pr);
}

static void produce_input(fixture_t *f, int first_user, int users, int views, bool malformed) {
    produce_views(f, first_user, users, 0, views, malformed);
}

/* Runs a pipeline until `done` says so (done NULL: for max_s), then stops
 * it as SIGTERM would. */
static void run_until(fixture_t *f, bool (*done)(const sr_pipeline_stats_t *), double max_s,
                      sr_pipeline_stats_t *final) {
    runner_t r;
    start_pipeline(f, &r);
    for (double start = now_s(); now_s() - start < max_s;) {
        sleep_ms(50);
        sr_pipeline_stats(r.p, final);
        if (done && done(final))
            break;
    }
    stop_pipeline(&r, final);
}

static bool saw_everything(const sr_pipeline_stats_t *s) {
    return s->events_applied >= VALID && s->dead_letters >= MALFORMED;
}

static bool saw_three(const sr_pipeline_stats_t *s) { return s->records_in >= 3; }

static bool saw_all_valid(const sr_pipeline_stats_t *s) { return s->events_applied >= VALID; }

static redisReply *redis_cmd(redisContext *c, const char *fmt, const char *arg) {
    redisReply *reply = redisCommand(c, fmt, arg);
    assert_non_null(reply);
    return reply;
}

static void check_redis(fixture_t *f) {
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    for (int u = 0; u < USERS; u++) {
        char key[32];
        snprintf(key, sizeof key, "reco:{u%d}", u);
        redisReply *reply = redis_cmd(c, "GET %s", key);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        /* json format: the user's id and at least one item */
        char want[32];
        snprintf(want, sizeof want, "\"user_id\":\"u%d\"", u);
        assert_non_null(strstr(reply->str, want));
        assert_non_null(strstr(reply->str, "\"item_id\":\"i"));
        freeReplyObject(reply);
        reply = redis_cmd(c, "TTL %s", key);
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        assert_true(reply->integer > 0);
        freeReplyObject(reply);
    }
    /* i0 is followed by i1 in the history of u0, u5, u10, u15: neighbours */
    redisReply *reply = redis_cmd(c, "ZSCORE %s i1", "sim:{i0}");
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_true(atof(reply->str) > 0);
    freeReplyObject(reply);
    redisFree(c);
}

typedef struct seen {
    int recos_per_user[USERS];
    int dead_letters;
    int malformed_seen[MALFORMED];
} seen_t;

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void check_outputs(fixture_t *f) {
    char errstr[512];
    char *topics[] = {"reco.updates", "clicks.dlq"};
    sr_kafka_in_config_t icfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock),
                                 .group_id = "test-reader", .topics = topics, .n_topics = 2};
    sr_kafka_in_t *in = sr_kafka_in_new(&icfg, errstr, sizeof errstr);
    assert_non_null(in);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    seen_t seen = {0};
    int users_seen = 0;
    rd_kafka_message_t *msgs[256];
    for (double start = now_s(); now_s() - start < 20 && (users_seen < USERS || seen.dead_letters < MALFORMED);) {
        size_t n = sr_kafka_in_poll(in, msgs, 256, 100);
        for (size_t k = 0; k < n; k++) {
            rd_kafka_message_t *m = msgs[k];
            if (!m->err && strcmp(rd_kafka_topic_name(m->rkt), "reco.updates") == 0) {
                sr_reco_record_t rec;
                sr_scored_id_t items[100];
                assert_int_equal(sr_decode_reco(dec, m->payload, m->len, &rec, items, 100, NULL,
                                                errstr, sizeof errstr), SR_OK);
                int u = atoi(rec.user_id + 1);
                assert_true(u >= 0 && u < USERS);
                assert_true(m->key_len == strlen(rec.user_id) &&
                            memcmp(m->key, rec.user_id, m->key_len) == 0);
                if (seen.recos_per_user[u]++ == 0)
                    users_seen++;
            } else if (!m->err) {
                char buf[128];
                seen.dead_letters++;
                const char *why = header(m, SR_DLQ_HEADER_ERROR, buf, sizeof buf);
                assert_non_null(why);
                char key[16] = "";
                if (m->key && m->key_len < sizeof key)
                    memcpy(key, m->key, m->key_len); /* not NUL-terminated in the message */
                int k = strncmp(key, "bad", 3) == 0 ? atoi(key + 3) : -1;
                assert_true(k >= 0 && k < MALFORMED);
                if (strcmp(why, MALFORMED_RECORDS[k].reason) != 0)
                    fail_msg("%s: DLQ reason %s, expected %s", MALFORMED_RECORDS[k].what, why,
                             MALFORMED_RECORDS[k].reason);
                if (MALFORMED_RECORDS[k].raw) /* the record goes on unchanged */
                    assert_true(m->len == MALFORMED_RECORDS[k].raw_len &&
                                memcmp(m->payload, MALFORMED_RECORDS[k].raw, m->len) == 0);
                seen.malformed_seen[k]++;
                assert_string_equal(header(m, SR_DLQ_HEADER_SOURCE_TOPIC, buf, sizeof buf), "clicks");
                assert_non_null(header(m, SR_DLQ_HEADER_SOURCE_OFFSET, buf, sizeof buf));
            }
            rd_kafka_message_destroy(m);
        }
    }
    assert_int_equal(users_seen, USERS);
    assert_int_equal(seen.dead_letters, MALFORMED);
    for (int k = 0; k < MALFORMED; k++)
        if (seen.malformed_seen[k] != 1)
            fail_msg("%s: %d dead letters, expected 1", MALFORMED_RECORDS[k].what,
                     seen.malformed_seen[k]);
    sr_output_decoder_destroy(dec);
    sr_kafka_in_close(in, NULL, 0);
    sr_kafka_in_destroy(in);
}

/* A batch stays open half of the newest record's age, within
 * [batch.max.ms, batch.backlog.max.ms], whether the poll was full or not --
 * so batches shrink back as the input catches up. Without a timestamp only
 * a full poll says the input is behind. */
static void test_batch_limit_grows_with_the_input_age(void **state) {
    (void)state;
    const int64_t now = 1767225600000LL, batch = 10, backlog = 250;
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, now - 16, now, batch, backlog), batch);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, now - 200, now, batch, backlog), 100);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, now - 400, now, batch, backlog), 200);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, now - 60000, now, batch, backlog), backlog);
    assert_int_equal(pl_batch_limit_ms(1, now - 400, now, batch, backlog), 200);
    assert_int_equal(pl_batch_limit_ms(1, now - 60000, now, batch, backlog), backlog);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX - 1, -1, now, batch, backlog), batch);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, -1, now, batch, backlog), backlog);
    assert_int_equal(pl_batch_limit_ms(PL_POLL_MAX, now + 5000, now, batch, backlog), batch);
}

/* A list from the far future in every user's reco key: a guarded write
 * leaves it, an unguarded one replaces it. */
static const char FUTURE_LIST[] = "{\"event_ts_ms\":9000000000000,\"seq\":1,\"items\":[]}";

static void plant_future_lists(fixture_t *f) {
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_true(c && !c->err);
    for (int u = 0; u < USERS; u++) {
        char key[32];
        snprintf(key, sizeof key, "reco:{u%d}", u);
        redisReply *reply = redisCommand(c, "SET %s %s", key, FUTURE_LIST);
        assert_true(reply && reply->type == REDIS_REPLY_STATUS);
        freeReplyObject(reply);
    }
    redisFree(c);
}

/* Users whose reco key still holds the planted list. */
static int future_lists_left(fixture_t *f) {
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_true(c && !c->err);
    int left = 0;
    for (int u = 0; u < USERS; u++) {
        char key[32];
        snprintf(key, sizeof key, "reco:{u%d}", u);
        redisReply *reply = redis_cmd(c, "GET %s", key);
        left += reply->type == REDIS_REPLY_STRING && strcmp(reply->str, FUTURE_LIST) == 0;
        freeReplyObject(reply);
    }
    redisFree(c);
    return left;
}

/* redis.reco.guard=replay: input that was already in the partition when it
 * was assigned (which an earlier owner may have processed) is written under
 * the guard, so it cannot replace a newer list; input that arrived after is
 * new to the group and is written plainly. redis.reco.guard=always guards
 * that too. */
static void test_only_replayed_input_is_written_under_the_guard(void **state) {
    fixture_t *f = *state;
    produce_views(f, 0, USERS, 0, 3, false);
    plant_future_lists(f);
    runner_t r;
    start_pipeline(f, &r);
    int64_t replayed = wait_for_commit(f, USERS * 3);
    int left_after_replay = future_lists_left(f);
    sr_pipeline_stats_t after_replay;
    sr_pipeline_stats(r.p, &after_replay);
    produce_views(f, 0, USERS, 3, 2, false);
    int64_t live = wait_for_commit(f, USERS * 5);
    int left_after_live = future_lists_left(f);
    sr_pipeline_stats_t st;
    stop_pipeline(&r, &st);
    assert_int_equal(replayed, USERS * 3);
    assert_int_equal(left_after_replay, USERS);
    assert_true(after_replay.recos_written >= USERS);
    assert_int_equal(after_replay.recos_guarded, after_replay.recos_written);
    assert_int_equal(live, USERS * 5);
    assert_int_equal(left_after_live, 0);
    assert_true(st.recos_written - st.recos_guarded >= USERS);
    assert_int_equal(st.recos_guarded, after_replay.recos_guarded);

    set_config(&f->cfg, "redis.reco.guard", "always");
    start_pipeline(f, &r);
    produce_views(f, 0, USERS, 5, 1, false); /* taken as a replay by any setting */
    replayed = wait_for_commit(f, USERS * 6);
    plant_future_lists(f);
    produce_views(f, 0, USERS, 6, 2, false);
    live = wait_for_commit(f, USERS * 8);
    left_after_live = future_lists_left(f);
    stop_pipeline(&r, &st);
    assert_int_equal(replayed, USERS * 6);
    assert_int_equal(live, USERS * 8);
    assert_int_equal(left_after_live, USERS);
    assert_int_equal(st.recos_guarded, st.recos_written);
}

/* Events in -> Redis keys, reco.updates records and dead letters out; after
 * a graceful stop a second run of the same group starts after everything
 * the first one processed (and only after it). */
static void test_pipeline_events_to_redis_kafka_and_dlq_then_commit(void **state) {
    fixture_t *f = *state;
    produce_input(f, 0, USERS, VIEWS_PER_USER, true);
    sr_pipeline_stats_t st;
    run_until(f, saw_everything, TIMEOUT_S, &st);
    assert_int_equal(st.events_applied, VALID);
    assert_int_equal(st.dead_letters, MALFORMED);
    assert_true(st.recos_written >= USERS);
    /* stopping gave up every partition: all users went to the changelog,
     * and none is left here */
    assert_int_equal(st.users_handed_off, USERS);
    assert_int_equal(st.users, 0);
    check_redis(f);
    check_outputs(f);

    /* The offsets were committed on the way out: after three more events,
     * a new run of the group reads exactly those three, none of the old. */
    produce_input(f, 100, 1, 3, false);
    sr_pipeline_stats_t again;
    run_until(f, saw_three, TIMEOUT_S, &again);
    assert_int_equal(again.records_in, 3);
    assert_int_equal(again.events_applied, 3);
    /* and took the first run's users back from the changelog */
    assert_int_equal(again.users_restored, USERS);
    /* ... and gave them up again, with the new one, at the stop */
    assert_int_equal(again.users_handed_off, USERS + 1);
    assert_int_equal(again.users, 0);
}

/* Whether sim:{item} lists member right now. */
static bool sim_lists(fixture_t *f, const char *item, const char *member) {
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *reply = redisCommand(c, "ZSCORE sim:{%s} %s", item, member);
    assert_non_null(reply);
    bool listed = reply->type == REDIS_REPLY_STRING;
    freeReplyObject(reply);
    redisFree(c);
    return listed;
}

static bool wait_for_sim(fixture_t *f, const char *item, const char *member, double max_s) {
    for (double start = now_s(); now_s() - start < max_s; sleep_ms(50))
        if (sim_lists(f, item, member))
            return true;
    return false;
}

static sr_pipeline_stats_t wait_for_stats(runner_t *r, bool (*done)(const sr_pipeline_stats_t *),
                                          const char *what) {
    sr_pipeline_stats_t st;
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(20)) {
        sr_pipeline_stats(r->p, &st);
        if (done(&st))
            return st;
    }
    fail_msg("timed out waiting for %s", what);
    return st;
}

static bool assigned(const sr_pipeline_stats_t *s) { return s->partitions > 0; }
static bool two_lists_written(const sr_pipeline_stats_t *s) { return s->sims_written >= 2; }
static bool three_lists_written(const sr_pipeline_stats_t *s) { return s->sims_written >= 3; }

/* An item's list is looked at (built, and written if news) at most once per
 * sim.publish.interval.ms: a change within the interval is held back -- the
 * engine does not even build the list -- and lands when the interval is
 * over, with no input to close a batch for it. */
static void test_a_held_back_neighbour_list_lands_when_due(void **state) {
    fixture_t *f = *state;
    set_config(&f->cfg, "sim.publish.interval.ms", "4000");
    runner_t r;
    start_pipeline(f, &r);
    wait_for_stats(&r, assigned, "the assignment");
    double t0 = now_s(); /* before any list is looked at: none can come due before t0 + 4 s */
    produce_views(f, 0, 1, 0, 2, false); /* u0 views i0, i1: both lists are news */
    wait_for_stats(&r, two_lists_written, "i0's and i1's lists");
    assert_true(sim_lists(f, "i0", "i1"));
    produce_views(f, 0, 1, 2, 1, false); /* then i2: a partner of i0 and i1 */
    wait_for_stats(&r, three_lists_written, "i2's list"); /* new: written at once */
    sr_pipeline_stats_t st;
    if (now_s() - t0 > 3.0) { /* too slow a machine to tell held back from late */
        stop_pipeline(&r, &st);
        skip();
    }
    assert_false(sim_lists(f, "i0", "i2")); /* held back */
    assert_true(wait_for_sim(f, "i0", "i2", 10));
    assert_true(now_s() - t0 >= 4.0);
    assert_true(sim_lists(f, "i0", "i1"));
    stop_pipeline(&r, &st);
}

static bool applied_slow_first(const sr_pipeline_stats_t *s) { return s->events_applied >= 1; }
static bool applied_fast_days(const sr_pipeline_stats_t *s) { return s->events_applied >= 42; }
static bool applied_slow_again(const sr_pipeline_stats_t *s) { return s->events_applied >= 43; }
static bool applied_day_50(const sr_pipeline_stats_t *s) { return s->events_applied >= 45; }

/* One watermark for partitions read at different speeds
 * (input_watermark.h). u-slow views an item on day 0 (partition 1); then
 * u-fast's views of days 0 to 40 come in on partition 0, while partition 1
 * has nothing new. Were the watermark partition 0's newest event, day 40,
 * the eviction sweep would give u-slow up as idle for over
 * state.user.ttl.days (30): its next view, of day 10, would find a new
 * cold user (sequence 1 in Redis, one eviction). Held at partition 1's
 * newest event, the watermark stays at day 0 until that view comes: u-slow
 * keeps its state, and the view is its second event. Once both partitions
 * are at day 50, the hold lets the sweeps run there: u-slow, idle since day
 * 10, is evicted then. */
static void test_a_slow_partition_holds_the_watermark_back(void **state) {
    fixture_t *f = *state;
    set_config(&f->cfg, "time.idle.ms", "60000");
    runner_t r;
    start_pipeline(f, &r);
    producer_t pr;
    producer_open(f, &pr);
    produce_view(&pr, 1, "u-slow", "i1", "s0", T0_MS);
    producer_close(&pr);
    wait_for_stats(&r, applied_slow_first, "u-slow's first view");
    producer_open(f, &pr);
    for (int d = 0; d <= 40; d++) {
        char item[16], id[16];
        snprintf(item, sizeof item, "i%d", d % 7);
        snprintf(id, sizeof id, "f%d", d);
        produce_view(&pr, 0, "u-fast", item, id, T0_MS + d * DAY_MS);
    }
    producer_close(&pr);
    wait_for_stats(&r, applied_fast_days, "u-fast's 41 days");
    producer_open(f, &pr);
    produce_view(&pr, 1, "u-slow", "i2", "s1", T0_MS + 10 * DAY_MS);
    producer_close(&pr);
    sr_pipeline_stats_t st = wait_for_stats(&r, applied_slow_again, "u-slow's second view");
    assert_int_equal(st.users_evicted, 0);
    producer_open(f, &pr);
    produce_view(&pr, 0, "u-fast", "i3", "f50", T0_MS + 50 * DAY_MS);
    produce_view(&pr, 1, "u-late", "i3", "l50", T0_MS + 50 * DAY_MS);
    producer_close(&pr);
    wait_for_stats(&r, applied_day_50, "both partitions at day 50");
    stop_pipeline(&r, &st); /* writes every batch's lists */
    assert_int_equal(st.events_applied, 45);
    assert_int_equal(st.users_evicted, 1);
    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_non_null(c);
    redisReply *reply = redis_cmd(c, "GET %s", "reco:{u-slow}");
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    if (!strstr(reply->str, "\"seq\":2,"))
        fail_msg("u-slow's second view did not find its state: %s", reply->str);
    freeReplyObject(reply);
    redisFree(c);
}

static void import_record(void *opaque, const rd_kafka_message_t *m) {
    char errstr[256];
    if (m->key_len > 0 && ((const char *)m->key)[0] == '\0')
        return; /* a position record, not a user */
    if (sr_engine_import_user(opaque, m->key, m->key_len, m->payload, m->len, errstr,
                              sizeof errstr) != SR_OK)
        fail_msg("changelog record at offset %lld: %s", (long long)m->offset, errstr);
}

/* The changelog read back into a fresh engine: every user's last record. */
static sr_engine_t *changelog_engine(fixture_t *f) {
    char errstr[512];
    sr_engine_t *e = sr_engine_new(&f->cfg.engine, errstr, sizeof errstr);
    sr_kafka_restore_t *r = sr_kafka_restore_new(sr_kafka_mock_bootstrap(f->mock), NULL, 0,
                                                 errstr, sizeof errstr);
    assert_non_null(e);
    assert_non_null(r);
    const int32_t partitions[] = {0, 1};
    if (sr_kafka_restore_read(r, CHANGELOG, partitions, 2, 20000, import_record, e, NULL, errstr,
                              sizeof errstr) != SR_OK)
        fail_msg("reading the changelog: %s", errstr);
    sr_kafka_restore_destroy(r);
    return e;
}

static bool both_assigned(runner_t *a, runner_t *b) {
    sr_pipeline_stats_t sa, sb;
    sr_pipeline_stats(a->p, &sa);
    sr_pipeline_stats(b->p, &sb);
    return sa.partitions == 1 && sb.partitions == 1;
}

static uint64_t applied(runner_t *a, runner_t *b) {
    sr_pipeline_stats_t sa, sb;
    sr_pipeline_stats(a->p, &sa);
    sr_pipeline_stats(b->p, &sb);
    return sa.events_applied + sb.events_applied;
}

static void wait_for(bool ok, const char *what) {
    if (!ok)
        fail_msg("timed out waiting for %s", what);
}

/* Two pipelines in one group. A alone reads the first half of every user's
 * views; B joins and takes one of the two partitions (cooperative-sticky);
 * the second half follows. No user may lose or repeat an event: each one's
 * recommendation sequence in Redis is its total event count, and the
 * changelog (written as each pipeline gave its partitions up) holds every
 * user's whole history. */
static void test_rebalance_moves_user_state_with_the_partition(void **state) {
    fixture_t *f = *state;
    const int half = VIEWS_PER_USER;
    produce_views(f, 0, USERS, 0, half, false);
    runner_t a, b;
    start_pipeline(f, &a);
    double start = now_s();
    while (applied(&a, &a) / 2 < VALID && now_s() - start < TIMEOUT_S) sleep_ms(50);
    wait_for(applied(&a, &a) / 2 == VALID, "the first half in A");

    start_pipeline(f, &b);
    while (!both_assigned(&a, &b) && now_s() - start < 2 * TIMEOUT_S) sleep_ms(50);
    wait_for(both_assigned(&a, &b), "one partition each");
    sr_pipeline_stats_t sa, sb;
    sr_pipeline_stats(a.p, &sa);
    sr_pipeline_stats(b.p, &sb);
    assert_true(sa.users_handed_off > 0 && sa.users_handed_off < USERS);
    assert_int_equal(sb.users_restored, sa.users_handed_off);
    assert_int_equal(sa.users + sb.users, USERS); /* each user in one place */

    produce_views(f, 0, USERS, half, half, false);
    while (applied(&a, &b) < 2 * VALID && now_s() - start < 3 * TIMEOUT_S) sleep_ms(50);
    wait_for(applied(&a, &b) == 2 * VALID, "the second half");
    stop_pipeline(&b, &sb);
    stop_pipeline(&a, &sa);
    assert_int_equal(sa.events_applied + sb.events_applied, 2 * VALID);

    redisContext *c = redisConnect("127.0.0.1", sr_redis_spawn_port(f->redis));
    assert_non_null(c);
    sr_engine_t *e = changelog_engine(f);
    for (int u = 0; u < USERS; u++) {
        char key[32], want[32];
        snprintf(key, sizeof key, "reco:{u%d}", u);
        redisReply *reply = redis_cmd(c, "GET %s", key);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        snprintf(want, sizeof want, "\"seq\":%d", 2 * half);
        if (!strstr(reply->str, want))
            fail_msg("%s has not seen all %d events: %s", key, 2 * half, reply->str);
        freeReplyObject(reply);

        snprintf(key, sizeof key, "u%d", u);
        uint32_t id = sr_engine_find_user(e, key, strlen(key));
        assert_int_not_equal(id, SR_INTERN_NONE);
        const sr_profile_t *p = sr_engine_profile(e, id);
        assert_int_equal(p->events, 2 * half);
        assert_int_equal(p->counts[SR_EVENT_VIEW], 2 * half);
        /* the newest recent item is the user's last view */
        snprintf(want, sizeof want, "i%d", u % 5 + 2 * half - 1);
        assert_string_equal(sr_engine_item_id(e, p->recent_item[p->recent_head]), want);
    }
    sr_engine_destroy(e);
    redisFree(c);
}

/* Checkpoints: one forked while running (checkpoint.interval.s=1), one on
 * the graceful stop; the next run starts from the last one -- its users
 * come from the checkpoint, not from the changelog, and it reads only the
 * records after the checkpoint's positions. */
static void test_checkpoint_on_stop_and_restart_from_it(void **state) {
    fixture_t *f = *state;
    char dir[] = "/tmp/streamrec-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    set_config(&f->cfg, "checkpoint.dir", dir);
    set_config(&f->cfg, "checkpoint.interval.s", "1");
    set_config(&f->cfg, "checkpoint.keep", "2");
    produce_input(f, 0, USERS, VIEWS_PER_USER, false);
    runner_t r;
    start_pipeline(f, &r);
    sr_pipeline_stats_t st;
    double start = now_s();
    do {
        sleep_ms(100);
        sr_pipeline_stats(r.p, &st);
    } while ((st.events_applied < VALID || st.checkpoints_written < 2) && now_s() - start < TIMEOUT_S);
    uint64_t forked = st.checkpoints_written;
    assert_true(forked >= 2); /* periodic ones, written by a forked child */
    stop_pipeline(&r, &st);
    assert_int_equal(st.events_applied, VALID);
    assert_true(st.checkpoints_written > forked); /* and the final one on the stop */
    assert_int_equal(st.checkpoint_errors, 0);
    assert_true(st.checkpoint_max_pause_ns > 0);
    int files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        files += strstr(e->d_name, ".ckpt") != NULL && strstr(e->d_name, ".tmp") == NULL;
    closedir(d);
    assert_int_equal(files, 2); /* checkpoint.keep */

    produce_input(f, 100, 1, 3, false);
    sr_pipeline_stats_t again;
    run_until(f, saw_three, TIMEOUT_S, &again);
    assert_int_equal(again.records_in, 3);
    assert_int_equal(again.users_restored, 0); /* the checkpoint had them all */
    /* the checkpoint's users and the new one, all given up at the stop */
    assert_int_equal(again.users_handed_off, USERS + 1);
    assert_int_equal(again.users, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A restarted daemon writes checkpoints before its group has assigned it
 * anything (the first periodic one; the final one if it is stopped while
 * it waits). Its state still covers the loaded checkpoint's positions, and
 * those checkpoints must say so: written without positions, the next start
 * read the input from the committed offset -- from the start in a new
 * group -- and applied every event a second time on top of the state. */
static void test_checkpoint_before_the_assignment_keeps_the_restored_positions(void **state) {
    fixture_t *f = *state;
    char dir[] = "/tmp/streamrec-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    set_config(&f->cfg, "checkpoint.dir", dir);
    set_config(&f->cfg, "checkpoint.interval.s", "1");
    produce_input(f, 0, USERS, VIEWS_PER_USER, false);
    sr_pipeline_stats_t st;
    run_until(f, saw_all_valid, TIMEOUT_S, &st);
    assert_int_equal(st.events_applied, VALID);
    size_t n_positions;
    uint64_t events;
    assert_int_equal(newest_checkpoint_positions(dir, &n_positions, &events), VALID);
    assert_int_equal(n_positions, 2);
    assert_int_equal(events, VALID);

    /* The group's next join takes seconds on the mock: the periodic
     * checkpoint (after 1 s) and the final one both come before it. */
    runner_t r;
    start_pipeline(f, &r);
    double start = now_s();
    bool assigned = false;
    do {
        sleep_ms(20);
        sr_pipeline_stats(r.p, &st);
        assigned |= st.partitions > 0;
    } while (!assigned && st.checkpoints_written < 1 && now_s() - start < TIMEOUT_S);
    stop_pipeline(&r, &st); /* before any assertion: a failed one leaves no thread behind */
    if (assigned)
        fail_msg("assigned before the first checkpoint: the test needs the mock's join delay");
    assert_true(st.checkpoints_written >= 2);
    assert_int_equal(newest_checkpoint_positions(dir, &n_positions, &events), VALID);
    assert_int_equal(n_positions, 2);
    assert_int_equal(events, VALID);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* With checkpoints, Kafka's committed offsets are the newest checkpoint's
 * positions, not every acknowledged batch's: a start that finds no
 * checkpoint position reads from the committed offset, which must not be
 * past what the state it loads has seen. Committed after each batch, a
 * daemon killed before its first checkpoint came back with an empty state
 * past the events it had applied. */
static void test_checkpoints_commit_only_what_a_checkpoint_covers(void **state) {
    fixture_t *f = *state;
    char dir[] = "/tmp/streamrec-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    set_config(&f->cfg, "checkpoint.dir", dir);
    /* no periodic checkpoint while the test runs: only the final one */
    set_config(&f->cfg, "checkpoint.interval.s", "3600");
    produce_input(f, 0, USERS, VIEWS_PER_USER, false);
    runner_t r;
    start_pipeline(f, &r);
    sr_pipeline_stats_t st;
    double start = now_s();
    do {
        sleep_ms(50);
        sr_pipeline_stats(r.p, &st);
    } while (st.events_applied < VALID && now_s() - start < TIMEOUT_S);
    sleep_ms(2500); /* auto.commit.interval.ms is 1000: a stored offset would be committed */
    int64_t committed_while_running = committed_sum(f);
    sr_pipeline_stats_t running = st;
    stop_pipeline(&r, &st); /* before any assertion: a failed one leaves no thread behind */
    assert_int_equal(running.events_applied, VALID);
    assert_int_equal(running.checkpoints_written, 0);
    assert_int_equal(committed_while_running, -1);
    assert_int_equal(st.checkpoints_written, 1); /* the final one, and its positions committed */
    assert_int_equal(committed_sum(f), VALID);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A periodic checkpoint that fails (here: checkpoint.dir is a file for a
 * while) is tried again at the next interval even when no record arrives
 * after it: the newest checkpoint must not stay behind the state, and with
 * checkpoints the committed offsets wait for it. */
static void test_failed_checkpoint_is_tried_again_on_idle_input(void **state) {
    fixture_t *f = *state;
    char dir[] = "/tmp/streamrec-ckpt-XXXXXX", away[64];
    assert_non_null(mkdtemp(dir));
    snprintf(away, sizeof away, "%s.away", dir);
    set_config(&f->cfg, "checkpoint.dir", dir);
    set_config(&f->cfg, "checkpoint.interval.s", "1");
    produce_input(f, 0, USERS, VIEWS_PER_USER, false);
    runner_t r;
    start_pipeline(f, &r);
    sr_pipeline_stats_t st;
    double start = now_s();
    do {
        sleep_ms(50);
        sr_pipeline_stats(r.p, &st);
    } while (st.events_applied < VALID && now_s() - start < TIMEOUT_S);
    sleep_ms(2500); /* the checkpoints of that input are in place */

    /* checkpoint.dir is a file: the next checkpoint, for three more events, fails */
    bool blocked = rename(dir, away) == 0;
    FILE *file = blocked ? fopen(dir, "w") : NULL;
    if (file)
        fclose(file);
    produce_input(f, 100, 1, 3, false);
    start = now_s();
    do {
        sleep_ms(50);
        sr_pipeline_stats(r.p, &st);
    } while (st.checkpoint_errors == 0 && now_s() - start < TIMEOUT_S);
    uint64_t errors = st.checkpoint_errors, written = st.checkpoints_written;
    /* the directory is back; no record arrives any more */
    bool restored = unlink(dir) == 0 && rename(away, dir) == 0;
    start = now_s();
    do {
        sleep_ms(50);
        sr_pipeline_stats(r.p, &st);
    } while (st.checkpoints_written == written && now_s() - start < 5);
    sr_pipeline_stats_t after = st;
    stop_pipeline(&r, &st); /* before any assertion: a failed one leaves no thread behind */
    assert_true(blocked && restored);
    assert_true(errors >= 1);
    assert_true(after.checkpoints_written > written);
    assert_int_equal(after.events_applied, VALID + 3);
    size_t n_positions;
    uint64_t events;
    assert_int_equal(newest_checkpoint_positions(dir, &n_positions, &events), VALID + 3);
    assert_int_equal(events, VALID + 3);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
#define WITH_FIXTURE(t) \
    cmocka_unit_test_setup_teardown(t, pipeline_fixture_setup, pipeline_fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_limit_grows_with_the_input_age),
        WITH_FIXTURE(test_pipeline_events_to_redis_kafka_and_dlq_then_commit),
        WITH_FIXTURE(test_only_replayed_input_is_written_under_the_guard),
        WITH_FIXTURE(test_a_held_back_neighbour_list_lands_when_due),
        WITH_FIXTURE(test_a_slow_partition_holds_the_watermark_back),
        WITH_FIXTURE(test_rebalance_moves_user_state_with_the_partition),
        WITH_FIXTURE(test_checkpoint_on_stop_and_restart_from_it),
        WITH_FIXTURE(test_checkpoint_before_the_assignment_keeps_the_restored_positions),
        WITH_FIXTURE(test_checkpoints_commit_only_what_a_checkpoint_covers),
        WITH_FIXTURE(test_failed_checkpoint_is_tried_again_on_idle_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
