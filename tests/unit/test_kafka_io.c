/* kafka_mock, kafka_in and kafka_out against librdkafka's mock cluster, over
 * TCP like any external client.
 *
 * One mock cluster serves the whole file (group setup/teardown); each test
 * uses its own topics and consumer group, so tests do not see each other's
 * records or offsets. Every client a test creates lives in the test's
 * fixture and is destroyed by the fixture teardown, also when an assertion
 * fails half-way. A consumer group's first join costs ~3 s on the mock, so
 * each test joins as few consumers as its behaviour needs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"

#define PARTITIONS 4
#define MAX_RECORDS 4096
#define BATCH 256
#define JOIN_TIMEOUT_MS 20000

/* The mock's group coordinator waits session.timeout.ms - 1 s for members
 * to rejoin after any membership change (45 s by default, which would make
 * a rebalance test take minutes) and then goes ahead with the members it
 * has heard from; 4 s leaves a member that learns of the rebalance from a
 * heartbeat (every 300 ms) ample time to rejoin, even under valgrind. */
static const sr_kafka_kv_t fast_group[] = {
    {"session.timeout.ms", "4000"},
    {"heartbeat.interval.ms", "300"},
};

static sr_kafka_mock_t *mock;

/* ---- fixture ---------------------------------------------------------- */

/* One consumer-group member and what its callbacks saw. Callbacks only
 * record: an assertion failing inside a librdkafka callback would longjmp
 * through librdkafka's stack. */
typedef struct member {
    sr_kafka_in_t *in;
    const char *topic;        /* the topic whose partitions are tracked */
    int assign_calls, revoke_calls;
    unsigned owned_mask;      /* partitions of `topic` owned now */
    unsigned assigned_mask;   /* ever assigned */
    unsigned revoked_mask;    /* ever revoked */
    int largest_revoke;       /* most partitions revoked in one call */
    bool store_on_revoke;     /* the app pattern: store pending offsets in on_revoke */
    int revoke_store_failures;
    int64_t next_offset[PARTITIONS]; /* processed records' last offset + 1 */
    int consumed, error_records, corrupt;
} member_t;

typedef struct fixture {
    sr_kafka_out_t *out;
    int delivered_ok, delivered_failed;
    int delivery_calls[MAX_RECORDS + 1]; /* by msg_opaque */
    member_t members[2];
    int seen[MAX_RECORDS]; /* how often each record was consumed */
    struct {
        int member, partition;
        int64_t offset;
    } first_seen[MAX_RECORDS]; /* where, to explain a duplicate */
    rd_kafka_message_t *held[2]; /* records a test keeps across polls */
    sr_kafka_mock_t *own_mock;    /* a test's private cluster, if it needs one */
} fixture_t;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Commits before a revoke that the broker refused. The mock cluster refuses
 * every commit while its group rebalances, and under load a revoke can fall
 * into that window: the partition's next owner then re-reads from the
 * previous commit -- at-least-once, records repeated but none lost. Tests
 * allow repeats only then. Log callbacks come from librdkafka's threads. */
static atomic_int refused_revoke_commits;

static void test_log(void *opaque, int level, rd_kafka_resp_err_t err, const char *facility,
                     const char *message) {
    (void)opaque;
    (void)err;
    if (strstr(message, "commit before revoke failed"))
        atomic_fetch_add(&refused_revoke_commits, 1);
    if (level <= 4)
        fprintf(stderr, "    [kafka %s] %s\n", facility, message);
}

static void on_delivery(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err) {
    fixture_t *f = opaque;
    intptr_t id = (intptr_t)msg_opaque;
    if (err)
        f->delivered_failed++;
    else
        f->delivered_ok++;
    if (id > 0 && id <= MAX_RECORDS)
        f->delivery_calls[id]++;
}

static void on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts) {
    member_t *m = opaque;
    m->assign_calls++;
    for (int i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, m->topic) || parts->elems[i].partition >= PARTITIONS)
            continue;
        m->owned_mask |= 1u << parts->elems[i].partition;
        m->assigned_mask |= 1u << parts->elems[i].partition;
    }
}

static void on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    member_t *m = opaque;
    m->revoke_calls++;
    if (parts->cnt > m->largest_revoke)
        m->largest_revoke = parts->cnt;
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (strcmp(parts->elems[i].topic, m->topic) || p >= PARTITIONS)
            continue;
        m->owned_mask &= ~(1u << p);
        m->revoked_mask |= 1u << p;
        if (m->store_on_revoke && m->next_offset[p] > 0) {
            uint64_t stale = sr_kafka_in_stale_stores(m->in);
            if (sr_kafka_in_store(m->in, m->topic, p, m->next_offset[p]) != SR_OK ||
                sr_kafka_in_stale_stores(m->in) != stale)
                m->revoke_store_failures++;
        }
    }
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    /* Records first: they hold references into their consumer. */
    for (int i = 0; i < 2; i++)
        if (f->held[i])
            rd_kafka_message_destroy(f->held[i]);
    for (int i = 0; i < 2; i++) sr_kafka_in_destroy(f->members[i].in);
    sr_kafka_out_destroy(f->out);
    sr_kafka_mock_destroy(f->own_mock); /* clients first, or they reconnect to nothing */
    free(f);
    return 0;
}

static int group_setup(void **state) {
    char errstr[256];
    (void)state;
    if (!(mock = sr_kafka_mock_new(3, errstr, sizeof errstr))) {
        fprintf(stderr, "kafka mock: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    sr_kafka_mock_destroy(mock);
    mock = NULL;
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static void make_topic(const char *topic, int partitions) {
    char errstr[256];
    sr_err_t err = sr_kafka_mock_create_topic(mock, topic, partitions, errstr, sizeof errstr);
    if (err)
        fail_msg("%s", errstr);
}

static sr_kafka_out_t *make_producer(fixture_t *f) {
    char errstr[256];
    sr_kafka_out_config_t cfg = {
        .bootstrap = sr_kafka_mock_bootstrap(mock),
        .on_delivery = on_delivery,
        .on_log = test_log,
        .opaque = f,
    };
    f->out = sr_kafka_out_new(&cfg, errstr, sizeof errstr);
    if (!f->out)
        fail_msg("%s", errstr);
    return f->out;
}

static member_t *make_member(fixture_t *f, int slot, const char *group, char **topics,
                             size_t n_topics) {
    char errstr[256];
    member_t *m = &f->members[slot];
    m->topic = topics[0];
    sr_kafka_in_config_t cfg = {
        .bootstrap = sr_kafka_mock_bootstrap(f->own_mock ? f->own_mock : mock),
        .group_id = group,
        .topics = topics,
        .n_topics = n_topics,
        .props = fast_group,
        .n_props = sizeof fast_group / sizeof *fast_group,
        .on_assign = on_assign,
        .on_revoke = on_revoke,
        .on_log = test_log,
        .opaque = m,
    };
    m->in = sr_kafka_in_new(&cfg, errstr, sizeof errstr);
    if (!m->in)
        fail_msg("%s", errstr);
    return m;
}

/* Record i: key "k%06d", value a binary pattern of 40..139 bytes that
 * depends on i (zero bytes included), so a mixed-up or damaged record
 * cannot pass as another. */
static size_t make_key(int i, char *key) {
    return (size_t)sprintf(key, "k%06d", i);
}

static size_t make_value(int i, unsigned char *value) {
    size_t len = 40 + (size_t)(i % 100);
    for (size_t j = 0; j < len; j++) value[j] = (unsigned char)((i * 31 + (int)j * 7) & 0xff);
    return len;
}

static void produce_range(fixture_t *f, const char *topic, int first, int count) {
    char errstr[256], key[16];
    unsigned char value[160];
    for (int i = first; i < first + count; i++) {
        size_t key_len = make_key(i, key), len = make_value(i, value);
        sr_err_t err = sr_kafka_out_produce(f->out, topic, RD_KAFKA_PARTITION_UA, key, key_len,
                                            value, len, NULL, (void *)(intptr_t)(i + 1), errstr,
                                            sizeof errstr);
        if (err)
            fail_msg("%s", errstr);
    }
    if (sr_kafka_out_flush(f->out, 10000, errstr, sizeof errstr))
        fail_msg("%s", errstr);
}

/* Polls one batch of at most max records and checks every record against
 * make_key/make_value. */
static int poll_member_max(fixture_t *f, member_t *m, int timeout_ms, bool store_each, size_t max) {
    rd_kafka_message_t *msgs[BATCH];
    size_t n = sr_kafka_in_poll(m->in, msgs, max < BATCH ? max : BATCH, timeout_ms);
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *msg = msgs[i];
        int id = -1;
        char key[16];
        unsigned char value[160];
        if (msg->err) {
            m->error_records++;
        } else if (msg->key_len == 7 && sscanf((const char *)msg->key, "k%6d", &id) == 1 &&
                   id >= 0 && id < MAX_RECORDS) {
            size_t len = make_value(id, value);
            make_key(id, key);
            if (memcmp(msg->key, key, 7) || msg->len != len || memcmp(msg->payload, value, len))
                m->corrupt++;
            if (f->seen[id]++ == 0)
                f->first_seen[id].member = (int)(m - f->members),
                f->first_seen[id].partition = msg->partition,
                f->first_seen[id].offset = msg->offset;
            else
                fprintf(stderr,
                        "    duplicate record %d: member %d got p%" PRId32 "@%" PRId64
                        ", member %d had p%d@%" PRId64 "\n",
                        id, (int)(m - f->members), msg->partition, msg->offset,
                        f->first_seen[id].member, f->first_seen[id].partition,
                        f->first_seen[id].offset);
            m->consumed++;
            got++;
            if (msg->partition < PARTITIONS && !strcmp(rd_kafka_topic_name(msg->rkt), m->topic))
                m->next_offset[msg->partition] = msg->offset + 1;
            if (store_each)
                assert_int_equal(sr_kafka_in_store(m->in, rd_kafka_topic_name(msg->rkt),
                                                   msg->partition, msg->offset + 1),
                                 SR_OK);
        } else {
            m->corrupt++;
        }
        rd_kafka_message_destroy(msg);
    }
    return got;
}

static int poll_member(fixture_t *f, member_t *m, int timeout_ms, bool store_each) {
    return poll_member_max(f, m, timeout_ms, store_each, BATCH);
}

/* Polls until the member consumed `total` records in all, or timeout. */
static void consume_until(fixture_t *f, member_t *m, int total, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (m->consumed < total && now_ms() < deadline) poll_member(f, m, 100, false);
    assert_int_equal(m->consumed, total);
}

static int popcount(unsigned x) {
    return __builtin_popcount(x);
}

/* ---- tests ------------------------------------------------------------ */

static void test_kafka_mock_checks_topic_names_and_broker_ids(void **state) {
    char errstr[256];
    (void)state;
    assert_int_equal(sr_kafka_mock_broker_count(mock), 3);
    const char *bootstrap = sr_kafka_mock_bootstrap(mock);
    assert_non_null(strstr(bootstrap, "127.0.0.1:"));
    assert_non_null(strchr(bootstrap, ',')); /* three brokers, three addresses */

    assert_int_equal(sr_kafka_mock_create_topic(mock, "bad topic!", 1, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "bad topic!"));
    assert_int_equal(sr_kafka_mock_create_topic(mock, "t.zero", 0, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_int_equal(sr_kafka_mock_create_topic(mock, "t.names", 2, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_kafka_mock_create_topic(mock, "t.names", 2, errstr, sizeof errstr),
                     SR_ERR_IO);
    assert_non_null(strstr(errstr, "already exists"));

    /* -1 means "all brokers" to rdkafka_mock; ours refuses it. */
    assert_int_equal(sr_kafka_mock_broker_down(mock, -1), SR_ERR_INVALID);
    assert_int_equal(sr_kafka_mock_broker_down(mock, 0), SR_ERR_INVALID);
    assert_int_equal(sr_kafka_mock_broker_up(mock, 4), SR_ERR_INVALID);
}

static void test_kafka_mock_broker_down_and_up(void **state) {
    char errstr[256];
    (void)state;
    /* A cluster of its own, so an outage cannot disturb the other tests. */
    sr_kafka_mock_t *m = sr_kafka_mock_new(2, errstr, sizeof errstr);
    assert_non_null(m);
    assert_int_equal(sr_kafka_mock_broker_down(m, 2), SR_OK);
    assert_int_equal(sr_kafka_mock_broker_up(m, 2), SR_OK);
    sr_kafka_mock_destroy(m);
    assert_null(sr_kafka_mock_new(0, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "broker count"));
}

static void test_kafka_clients_reject_bad_properties_by_name(void **state) {
    char errstr[256];
    char *topics[] = {"t.any"};
    sr_kafka_kv_t bad[] = {{"fetch.wait.max.ms", "5"}, {"no.such.property", "1"}};
    (void)state;

    sr_kafka_in_config_t in_cfg = {.bootstrap = "127.0.0.1:1", .group_id = "g",
                                   .topics = topics, .n_topics = 1, .props = bad, .n_props = 2};
    assert_null(sr_kafka_in_new(&in_cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "no.such.property"));
    in_cfg.n_props = 0;
    in_cfg.n_topics = 0;
    assert_null(sr_kafka_in_new(&in_cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "topic"));

    sr_kafka_out_config_t out_cfg = {.bootstrap = "127.0.0.1:1", .props = bad, .n_props = 2};
    assert_null(sr_kafka_out_new(&out_cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "no.such.property"));
    out_cfg.bootstrap = NULL;
    assert_null(sr_kafka_out_new(&out_cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "bootstrap"));
}

static void test_kafka_produce_consume_every_record_once(void **state) {
    fixture_t *f = *state;
    const int n = 2000;
    char *topics[] = {"t.roundtrip"};
    make_topic(topics[0], PARTITIONS);
    make_producer(f);

    produce_range(f, topics[0], 0, n);
    assert_int_equal(f->delivered_ok, n);
    assert_int_equal(f->delivered_failed, 0);
    for (int i = 1; i <= n; i++) assert_int_equal(f->delivery_calls[i], 1);
    assert_int_equal(sr_kafka_out_in_flight(f->out), 0);

    member_t *m = make_member(f, 0, "g.roundtrip", topics, 1);
    consume_until(f, m, n, JOIN_TIMEOUT_MS);
    poll_member(f, m, 300, false); /* nothing more may come */
    assert_int_equal(m->consumed, n);
    assert_int_equal(m->corrupt, 0);
    assert_int_equal(m->error_records, 0);
    for (int i = 0; i < n; i++) assert_int_equal(f->seen[i], 1);
    assert_int_equal(m->owned_mask, 0xf);
    /* keyed records spread over every partition */
    for (int p = 0; p < PARTITIONS; p++) assert_true(m->next_offset[p] > 0);
}

static void test_kafka_new_member_resumes_after_stored_offsets(void **state) {
    fixture_t *f = *state;
    char errstr[256];
    const int n = 400;
    char *topics[] = {"t.offsets"};
    int64_t half[PARTITIONS];
    make_topic(topics[0], PARTITIONS);
    make_producer(f);
    produce_range(f, topics[0], 0, n);

    member_t *first = make_member(f, 0, "g.offsets", topics, 1);
    consume_until(f, first, n, JOIN_TIMEOUT_MS);
    /* Only the first half of every partition counts as acknowledged. With
     * enable.auto.offset.store=false nothing else may be committed, even
     * though everything was consumed. */
    int expected_rest = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        half[p] = first->next_offset[p] / 2;
        expected_rest += (int)(first->next_offset[p] - half[p]);
        if (half[p] > 0)
            assert_int_equal(sr_kafka_in_store(first->in, topics[0], p, half[p]), SR_OK);
    }
    assert_int_equal(sr_kafka_in_commit_sync(first->in, errstr, sizeof errstr), SR_OK);

    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++) rd_kafka_topic_partition_list_add(committed, topics[0], p);
    assert_int_equal(rd_kafka_committed(sr_kafka_in_handle(first->in), committed, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int p = 0; p < PARTITIONS; p++)
        if (half[p] > 0)
            assert_int_equal(committed->elems[p].offset, half[p]);
    rd_kafka_topic_partition_list_destroy(committed);

    assert_int_equal(sr_kafka_in_close(first->in, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_kafka_in_close(first->in, errstr, sizeof errstr), SR_OK); /* idempotent */
    assert_int_equal(first->revoke_calls, 1); /* close revokes the whole assignment */
    assert_int_equal(sr_kafka_in_poll(first->in, (rd_kafka_message_t *[1]){0}, 1, 0), 0);
    sr_kafka_in_destroy(first->in);
    first->in = NULL;

    memset(f->seen, 0, sizeof f->seen);
    member_t *second = make_member(f, 1, "g.offsets", topics, 1);
    int64_t lowest[PARTITIONS];
    for (int p = 0; p < PARTITIONS; p++) lowest[p] = INT64_MAX;
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (second->consumed < expected_rest && now_ms() < deadline) {
        rd_kafka_message_t *msgs[BATCH];
        size_t got = sr_kafka_in_poll(second->in, msgs, BATCH, 100);
        for (size_t i = 0; i < got; i++) {
            if (!msgs[i]->err && msgs[i]->offset < lowest[msgs[i]->partition])
                lowest[msgs[i]->partition] = msgs[i]->offset;
            second->consumed += !msgs[i]->err;
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    poll_member(f, second, 300, false);
    assert_int_equal(second->consumed, expected_rest);
    for (int p = 0; p < PARTITIONS; p++)
        if (first->next_offset[p] > half[p])
            assert_int_equal(lowest[p], half[p]);
}

static void test_kafka_pause_holds_records_without_leaving_the_group(void **state) {
    fixture_t *f = *state;
    char *topics[] = {"t.pause"};
    make_topic(topics[0], PARTITIONS);
    make_producer(f);
    produce_range(f, topics[0], 0, 100);

    member_t *m = make_member(f, 0, "g.pause", topics, 1);
    /* Paused before the first assignment: the partitions must arrive paused. */
    assert_int_equal(sr_kafka_in_pause(m->in), SR_OK);
    assert_true(sr_kafka_in_is_paused(m->in));
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (m->owned_mask != 0xf && now_ms() < deadline) poll_member(f, m, 100, true);
    assert_int_equal(m->owned_mask, 0xf);
    for (int64_t until = now_ms() + 1000; now_ms() < until;) poll_member(f, m, 100, true);
    assert_int_equal(m->consumed, 0);

    assert_int_equal(sr_kafka_in_resume(m->in), SR_OK);
    consume_until(f, m, 100, 10000);

    /* Paused while owning partitions with records already fetched: take
     * 10 of the next 100, so librdkafka holds the rest in its queue. */
    produce_range(f, topics[0], 100, 100);
    deadline = now_ms() + 10000;
    while (m->consumed < 110 && now_ms() < deadline)
        poll_member_max(f, m, 100, true, 110 - (size_t)m->consumed);
    assert_int_equal(m->consumed, 110);
    assert_int_equal(sr_kafka_in_pause(m->in), SR_OK);
    produce_range(f, topics[0], 200, 100); /* and new ones arrive */
    for (int64_t until = now_ms() + 1500; now_ms() < until;) poll_member(f, m, 100, true);
    assert_int_equal(m->consumed, 110); /* buffered records are held back too */
    assert_int_equal(m->revoke_calls, 0); /* still in the group */
    assert_int_equal(m->owned_mask, 0xf);

    assert_int_equal(sr_kafka_in_resume(m->in), SR_OK);
    assert_false(sr_kafka_in_is_paused(m->in));
    consume_until(f, m, 300, 10000);
    poll_member(f, m, 300, true);
    /* Nothing lost, nothing repeated across the pause. */
    for (int i = 0; i < 300; i++) assert_int_equal(f->seen[i], 1);
    assert_int_equal(m->corrupt, 0);
    assert_int_equal(m->assign_calls, 1);
}

/* How many of records [0, n) arrived at least once. */
static int distinct_seen(const fixture_t *f, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += f->seen[i] > 0;
    return k;
}

/* Records [0, n) each arrived exactly once -- or, after a refused revoke
 * commit, at least once. */
static void assert_each_seen(const fixture_t *f, int n) {
    bool repeats_allowed = atomic_load(&refused_revoke_commits) > 0;
    for (int i = 0; i < n; i++) {
        assert_true(f->seen[i] >= 1);
        if (!repeats_allowed)
            assert_int_equal(f->seen[i], 1);
    }
}

static void test_kafka_cooperative_rebalance_moves_only_handed_over_partitions(void **state) {
    fixture_t *f = *state;
    char errstr[256];
    char *topics[] = {"t.rebalance"};
    make_topic(topics[0], PARTITIONS);
    make_producer(f);
    produce_range(f, topics[0], 0, 200);

    /* A processes everything but acknowledges (stores) nothing until its
     * partitions are revoked: the tightest case for on_revoke's timing. */
    member_t *a = make_member(f, 0, "g.rebalance", topics, 1);
    a->store_on_revoke = true;
    consume_until(f, a, 200, JOIN_TIMEOUT_MS);
    assert_int_equal(a->owned_mask, 0xf);
    assert_string_equal(rd_kafka_rebalance_protocol(sr_kafka_in_handle(a->in)), "COOPERATIVE");

    /* A is paused (backpressure) while B joins. */
    assert_int_equal(sr_kafka_in_pause(a->in), SR_OK);
    member_t *b = make_member(f, 1, "g.rebalance", topics, 1);
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while ((popcount(b->owned_mask) != 2 || popcount(a->owned_mask) != 2) && now_ms() < deadline) {
        poll_member(f, a, 50, true);
        poll_member(f, b, 50, true);
    }
    assert_int_equal(popcount(a->owned_mask), 2);
    assert_int_equal(popcount(b->owned_mask), 2);
    /* Cooperative: A gave up exactly what B got and kept the rest; an
     * eager rebalance would have revoked all four from A. */
    assert_int_equal(a->revoked_mask, b->assigned_mask);
    assert_int_equal(a->owned_mask | b->owned_mask, 0xf);
    assert_int_equal(a->largest_revoke, 2);
    assert_int_equal(a->revoke_store_failures, 0);
    assert_int_equal(sr_kafka_in_stale_stores(a->in), 0);
    if (atomic_load(&refused_revoke_commits) == 0)
        assert_int_equal(b->consumed, 0); /* B starts after A's stored offsets */

    assert_int_equal(sr_kafka_in_resume(a->in), SR_OK);
    produce_range(f, topics[0], 200, 200);
    deadline = now_ms() + 10000;
    while (distinct_seen(f, 400) < 400 && now_ms() < deadline) {
        poll_member(f, a, 50, true);
        poll_member(f, b, 50, true);
    }
    poll_member(f, a, 200, true);
    poll_member(f, b, 200, true);
    if (atomic_load(&refused_revoke_commits) == 0)
        assert_int_equal(a->consumed + b->consumed, 400);
    assert_true(b->consumed > 0);
    assert_each_seen(f, 400);

    /* B leaves: A gets back the partitions it gave up while paused -- and
     * must fetch them, although it is not paused now -- without giving up
     * its own. Both closes commit (A's once the group is stable again: the
     * mock refuses every commit while its group rebalances). */
    int a_revokes = a->revoke_calls;
    assert_int_equal(sr_kafka_in_close(b->in, errstr, sizeof errstr), SR_OK);
    deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (a->owned_mask != 0xf && now_ms() < deadline) poll_member(f, a, 50, true);
    assert_int_equal(a->owned_mask, 0xf);
    assert_int_equal(a->revoke_calls, a_revokes);
    produce_range(f, topics[0], 400, 100);
    deadline = now_ms() + 10000;
    while (distinct_seen(f, 500) < 500 && now_ms() < deadline) poll_member(f, a, 100, true);
    poll_member(f, a, 200, true);
    assert_each_seen(f, 500);
    assert_int_equal(a->corrupt + b->corrupt, 0);
    assert_int_equal(sr_kafka_in_close(a->in, errstr, sizeof errstr), SR_OK);
}

static bool has_member_id(sr_kafka_in_t *in) {
    char *id = rd_kafka_memberid(sr_kafka_in_handle(in));
    bool joined = id && *id;
    rd_kafka_mem_free(sr_kafka_in_handle(in), id);
    return joined;
}

static void test_kafka_in_close_between_join_and_first_sync_does_not_abort(void **state) {
    fixture_t *f = *state;
    char errstr[256];
    char *topics[] = {"t.sync"};
    /* Its own cluster: the injected error must hit this member's SyncGroup. */
    f->own_mock = sr_kafka_mock_new(1, errstr, sizeof errstr);
    assert_non_null(f->own_mock);
    assert_int_equal(sr_kafka_mock_create_topic(f->own_mock, topics[0], 2, errstr, sizeof errstr),
                     SR_OK);
    /* 14 = SyncGroup. A real broker answers REBALANCE_IN_PROGRESS whenever a
     * member joins during the sync; librdkafka 2.0.2 then aborts in
     * rd_kafka_destroy() if the member shuts down before the rejoin. */
    rd_kafka_mock_push_request_errors(sr_kafka_mock_cluster(f->own_mock), 14, 1,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);

    member_t *m = make_member(f, 0, "g.sync", topics, 1);
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (!has_member_id(m->in) && now_ms() < deadline) poll_member(f, m, 50, false);
    assert_true(has_member_id(m->in));
    assert_int_equal(m->assign_calls, 0); /* joined, but the sync failed */

    assert_int_equal(sr_kafka_in_close(m->in, errstr, sizeof errstr), SR_OK);
    assert_int_equal(m->assign_calls, 1); /* close waited for the first assignment */
    sr_kafka_in_destroy(m->in);           /* the process is still here */
    m->in = NULL;
}

static void test_kafka_dead_letter_keeps_record_and_adds_error_headers(void **state) {
    fixture_t *f = *state;
    char errstr[256];
    char *topics[] = {"t.clicks", "t.clicks.dlq"};
    const unsigned char value[] = {0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0x01}; /* cut short */
    make_topic(topics[0], 2);
    make_topic(topics[1], 2);
    make_producer(f);

    rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "trace-id", -1, "abc123", -1);
    rd_kafka_header_add(headers, SR_DLQ_HEADER_ERROR, -1, "stale", -1);
    assert_int_equal(sr_kafka_out_produce(f->out, topics[0], RD_KAFKA_PARTITION_UA, "user-7", 6,
                                          value, sizeof value, headers, NULL, errstr,
                                          sizeof errstr),
                     SR_OK);
    assert_int_equal(sr_kafka_out_flush(f->out, 10000, errstr, sizeof errstr), SR_OK);

    /* One member reads both topics: the DLQ record comes back to it. */
    member_t *m = make_member(f, 0, "g.dlq", topics, 2);
    rd_kafka_message_t **source = &f->held[0], **dead = &f->held[1];
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (!*dead && now_ms() < deadline) {
        rd_kafka_message_t *msgs[8];
        size_t n = sr_kafka_in_poll(m->in, msgs, 8, 100);
        for (size_t i = 0; i < n; i++) {
            if (!msgs[i]->err && !*source &&
                !strcmp(rd_kafka_topic_name(msgs[i]->rkt), topics[0])) {
                *source = msgs[i];
                assert_int_equal(sr_kafka_out_dead_letter(f->out, topics[1], *source, "truncated",
                                                          "record ended at byte 7 of 12", NULL,
                                                          errstr, sizeof errstr),
                                 SR_OK);
                assert_int_equal(sr_kafka_out_flush(f->out, 10000, errstr, sizeof errstr), SR_OK);
            } else if (!msgs[i]->err && !*dead &&
                       !strcmp(rd_kafka_topic_name(msgs[i]->rkt), topics[1])) {
                *dead = msgs[i];
            } else {
                rd_kafka_message_destroy(msgs[i]);
            }
        }
    }
    assert_non_null(*source);
    assert_non_null(*dead);
    assert_int_equal(f->delivered_ok, 2);

    assert_int_equal((*dead)->key_len, 6);
    assert_memory_equal((*dead)->key, "user-7", 6);
    assert_int_equal((*dead)->len, sizeof value);
    assert_memory_equal((*dead)->payload, value, sizeof value);

    char expect_partition[16], expect_offset[24], expect_ts[24];
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(*source, &ts_type);
    assert_true(ts > 0);
    snprintf(expect_partition, sizeof expect_partition, "%" PRId32, (*source)->partition);
    snprintf(expect_offset, sizeof expect_offset, "%" PRId64, (*source)->offset);
    snprintf(expect_ts, sizeof expect_ts, "%" PRId64, ts);
    const struct {
        const char *name, *value;
    } want[] = {
        {"trace-id", "abc123"},
        {SR_DLQ_HEADER_ERROR, "truncated"},
        {SR_DLQ_HEADER_ERROR_MESSAGE, "record ended at byte 7 of 12"},
        {SR_DLQ_HEADER_SOURCE_TOPIC, topics[0]},
        {SR_DLQ_HEADER_SOURCE_PARTITION, expect_partition},
        {SR_DLQ_HEADER_SOURCE_OFFSET, expect_offset},
        {SR_DLQ_HEADER_SOURCE_TIMESTAMP, expect_ts},
    };
    rd_kafka_headers_t *got = NULL;
    assert_int_equal(rd_kafka_message_headers(*dead, &got), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const void *v = NULL;
        size_t size = 0;
        if (rd_kafka_header_get_last(got, want[i].name, &v, &size))
            fail_msg("header %s missing", want[i].name);
        assert_int_equal(size, strlen(want[i].value));
        assert_memory_equal(v, want[i].value, size);
    }
    /* The stale streamrec.error the record carried was replaced, not kept. */
    const void *v;
    size_t size;
    assert_int_equal(rd_kafka_header_get(got, 1, SR_DLQ_HEADER_ERROR, &v, &size),
                     RD_KAFKA_RESP_ERR__NOENT);
}

/* The broker accepts records up to 1048588 bytes, librdkafka's producer
 * sends up to message.max.bytes (1000000): a record between the two (a
 * 1 MiB user_id) must still reach the DLQ, without its value, rather than
 * fail the produce call and with it the pipeline. */
static void test_kafka_dead_letter_of_a_too_large_record_drops_the_value(void **state) {
    fixture_t *f = *state;
    char errstr[256];
    char *topics[] = {"t.big", "t.big.dlq"};
    make_topic(topics[0], 1);
    make_topic(topics[1], 1);
    make_producer(f);
    static const sr_kafka_kv_t small[] = {{"message.max.bytes", "1000"}};
    sr_kafka_out_config_t cfg = {.bootstrap = sr_kafka_mock_bootstrap(mock),
                                 .props = small, .n_props = 1, .on_delivery = on_delivery,
                                 .on_log = test_log, .opaque = f};
    sr_kafka_out_t *dlq_out = sr_kafka_out_new(&cfg, errstr, sizeof errstr);
    if (!dlq_out)
        fail_msg("%s", errstr);
    static unsigned char value[4000];
    memset(value, 'u', sizeof value);
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    rd_kafka_header_add(headers, SR_DLQ_HEADER_VALUE_DROPPED, -1, "stale", -1);
    assert_int_equal(sr_kafka_out_produce(f->out, topics[0], 0, "k", 1, value, sizeof value,
                                          headers, NULL, errstr, sizeof errstr),
                     SR_OK);
    assert_int_equal(sr_kafka_out_flush(f->out, 10000, errstr, sizeof errstr), SR_OK);
    /* Too large for dlq_out as it is: */
    assert_int_equal(sr_kafka_out_produce(dlq_out, topics[1], 0, "k", 1, value, sizeof value,
                                          NULL, NULL, errstr, sizeof errstr),
                     SR_ERR_IO);

    member_t *m = make_member(f, 0, "g.big", topics, 2);
    rd_kafka_message_t **source = &f->held[0], **dead = &f->held[1];
    int64_t deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (!*dead && now_ms() < deadline) {
        rd_kafka_message_t *msgs[8];
        size_t n = sr_kafka_in_poll(m->in, msgs, 8, 100);
        for (size_t i = 0; i < n; i++) {
            const char *t = rd_kafka_topic_name(msgs[i]->rkt);
            if (!msgs[i]->err && !*source && !strcmp(t, topics[0])) {
                *source = msgs[i];
                assert_int_equal(sr_kafka_out_dead_letter(dlq_out, topics[1], *source,
                                                          "bad_field", "user_id is too long",
                                                          NULL, errstr, sizeof errstr),
                                 SR_OK);
                assert_int_equal(sr_kafka_out_flush(dlq_out, 10000, errstr, sizeof errstr),
                                 SR_OK);
            } else if (!msgs[i]->err && !*dead && !strcmp(t, topics[1])) {
                *dead = msgs[i];
            } else {
                rd_kafka_message_destroy(msgs[i]);
            }
        }
    }
    assert_non_null(*source);
    assert_non_null(*dead);
    assert_int_equal((*source)->len, sizeof value);
    assert_int_equal((*dead)->len, 0);
    assert_int_equal((*dead)->key_len, 1);
    rd_kafka_headers_t *got = NULL;
    assert_int_equal(rd_kafka_message_headers(*dead, &got), RD_KAFKA_RESP_ERR_NO_ERROR);
    const struct { const char *name, *value; } want[] = {
        {SR_DLQ_HEADER_ERROR, "bad_field"},
        {SR_DLQ_HEADER_ERROR_MESSAGE, "user_id is too long"},
        {SR_DLQ_HEADER_VALUE_DROPPED, "4000"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const void *v = NULL;
        size_t size = 0;
        if (rd_kafka_header_get_last(got, want[i].name, &v, &size))
            fail_msg("header %s missing", want[i].name);
        assert_int_equal(size, strlen(want[i].value));
        assert_memory_equal(v, want[i].value, size);
    }
    const void *v;
    size_t size;
    assert_int_equal(rd_kafka_header_get(got, 1, SR_DLQ_HEADER_VALUE_DROPPED, &v, &size),
                     RD_KAFKA_RESP_ERR__NOENT); /* the stale one is gone */
    sr_kafka_out_destroy(dlq_out);
}

static void test_kafka_mock_bootstrap_works_for_kcat(void **state) {
    fixture_t *f = *state;
    char cmd[512], out[8192];
    if (system("command -v kcat >/dev/null 2>&1") != 0) {
        fprintf(stderr, "    kcat is not installed: skipping the interop check\n");
        skip();
    }
    make_topic("t.kcat", 3);
    make_producer(f);
    for (int i = 0; i < 3; i++) {
        char key[8], value[16];
        snprintf(key, sizeof key, "u%d", i);
        snprintf(value, sizeof value, "hello %d", i);
        assert_int_equal(sr_kafka_out_produce(f->out, "t.kcat", RD_KAFKA_PARTITION_UA, key,
                                              strlen(key), value, strlen(value), NULL, NULL, NULL,
                                              0),
                         SR_OK);
    }
    assert_int_equal(sr_kafka_out_flush(f->out, 10000, NULL, 0), SR_OK);

    /* Metadata: the topic and all three brokers, as an outside client sees them. */
    snprintf(cmd, sizeof cmd, "kcat -b '%s' -L -J -m 10 2>&1", sr_kafka_mock_bootstrap(mock));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "\"topic\":\"t.kcat\""));
    const char *brokers = strstr(out, "\"brokers\":[");
    assert_non_null(brokers);
    const char *end = strchr(brokers, ']');
    int broker_count = 0;
    for (const char *s = brokers; (s = strstr(s, "\"id\":")) && s < end; s++) broker_count++;
    assert_int_equal(broker_count, 3);

    /* Fetch: kcat reads back what sr_kafka_out wrote (lz4 batches included). */
    snprintf(cmd, sizeof cmd, "kcat -b '%s' -C -t t.kcat -o beginning -e -q -f '%%k=%%s\\n' 2>&1",
             sr_kafka_mock_bootstrap(mock));
    p = popen(cmd, "r");
    assert_non_null(p);
    len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "u0=hello 0\n"));
    assert_non_null(strstr(out, "u1=hello 1\n"));
    assert_non_null(strstr(out, "u2=hello 2\n"));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0); /* keep cmocka's report if librdkafka aborts */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_mock_checks_topic_names_and_broker_ids),
        cmocka_unit_test(test_kafka_mock_broker_down_and_up),
        cmocka_unit_test(test_kafka_clients_reject_bad_properties_by_name),
        cmocka_unit_test_setup_teardown(test_kafka_produce_consume_every_record_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kafka_new_member_resumes_after_stored_offsets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kafka_pause_holds_records_without_leaving_the_group,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_cooperative_rebalance_moves_only_handed_over_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_dead_letter_keeps_record_and_adds_error_headers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_dead_letter_of_a_too_large_record_drops_the_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_in_close_between_join_and_first_sync_does_not_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_mock_bootstrap_works_for_kcat, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
