/* The daemon's pipeline when the things around it fail, with real parts:
 * a redis-server that is stopped and started again, librdkafka's mock
 * cluster with a broker taken down and with Produce requests refused, and
 * a checkpoint directory whose writes fail as on a full disk.
 *
 * What each test pins is what an operator relies on: nothing is lost
 * (every user's newest state reaches Redis), nothing is acknowledged past
 * an output that failed (the committed input offsets stay behind it),
 * memory and the outbox stay bounded while a sink is away or slow, and
 * the consumer stays in its group meanwhile.
 *
 * One test alone: test_app_faults 'test_redis_outage*' (a cmocka filter). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "app/pipeline.h"
#include "streamrec/avro_codec.h"
#include "streamrec/checkpoint.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/redis_spawn.h"

#include "pipeline_fixture.h"

#define USERS 200
#define TIMEOUT_S 60
#define T0_MS 1767225600000LL
#define API_PRODUCE 0 /* the Kafka protocol's ProduceRequest key */

/* ---- input -------------------------------------------------------------- */

/* Writes click events to the input topic and remembers each user's newest
 * event time: what the user's reco:{u} must show in the end. */
typedef struct feeder {
    sr_kafka_out_t *out;
    sr_click_encoder_t *enc;
    int64_t next_ts_ms;
    int64_t last_ts_ms[USERS];
    uint64_t events;
    unsigned first_item; /* views go to items first_item .. first_item + 39 */
    const char *item_prefix; /* item ids are <prefix><number>; NULL: "i" */
} feeder_t;

static void feeder_init(feeder_t *fd, fixture_t *f) {
    char errstr[512];
    memset(fd, 0, sizeof *fd);
    sr_kafka_out_config_t ocfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock)};
    fd->out = sr_kafka_out_new(&ocfg, errstr, sizeof errstr);
    fd->enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(fd->out);
    assert_non_null(fd->enc);
    fd->next_ts_ms = T0_MS;
}

/* One view by user u (of item i{first_item + n % 40}), a second after the
 * previous event. */
static void feed(feeder_t *fd, int u) {
    char errstr[512], user[16], item[160], id[32];
    uint8_t buf[512];
    size_t len;
    snprintf(user, sizeof user, "u%d", u);
    snprintf(item, sizeof item, "%s%llu", fd->item_prefix ? fd->item_prefix : "i",
             fd->first_item + (unsigned long long)(fd->events % 40));
    snprintf(id, sizeof id, "e%llu", (unsigned long long)fd->events);
    sr_event_t ev = {.event_id = sr_str_c(id), .user_id = sr_str_c(user),
                     .item_id = sr_str_c(item), .type = SR_EVENT_VIEW,
                     .ts_ms = fd->next_ts_ms};
    assert_int_equal(sr_click_encode(fd->enc, &ev, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len,
                                     errstr, sizeof errstr), SR_OK);
    if (sr_kafka_out_produce(fd->out, "clicks", RD_KAFKA_PARTITION_UA, user, strlen(user), buf,
                             len, NULL, NULL, errstr, sizeof errstr) != SR_OK)
        fail_msg("producing the input: %s", errstr);
    fd->last_ts_ms[u] = fd->next_ts_ms;
    fd->next_ts_ms += 1000;
    fd->events++;
}

/* Every user of [0, users) once. */
static void feed_round(feeder_t *fd, int users) {
    for (int u = 0; u < users; u++) feed(fd, u);
}

static void feeder_flush(feeder_t *fd) {
    char errstr[512];
    if (sr_kafka_out_flush(fd->out, 30000, errstr, sizeof errstr) != SR_OK)
        fail_msg("flushing the input: %s", errstr);
}

static void feeder_destroy(feeder_t *fd) {
    sr_click_encoder_destroy(fd->enc);
    sr_kafka_out_destroy(fd->out);
}

/* ---- what came out ------------------------------------------------------ */

/* Users of [0, users) whose reco:{u} in Redis is not yet from their newest
 * event (its "event_ts_ms" is older than fd says); -1 if Redis is away. */
static int users_behind(fixture_t *f, const feeder_t *fd, int users) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", sr_redis_spawn_port(f->redis), tv);
    if (!c || c->err) {
        redisFree(c);
        return -1;
    }
    int behind = 0;
    for (int u = 0; u < users; u++) {
        if (!fd->last_ts_ms[u])
            continue;
        redisReply *reply = redisCommand(c, "GET reco:{u%d}", u);
        long long ts = -1;
        if (reply && reply->type == REDIS_REPLY_STRING)
            sscanf(reply->str, "{\"event_ts_ms\":%lld", &ts);
        behind += ts < fd->last_ts_ms[u];
        freeReplyObject(reply);
    }
    redisFree(c);
    return behind;
}

/* Waits (up to TIMEOUT_S) until every user's newest state is in Redis. */
static bool wait_for_redis(fixture_t *f, const feeder_t *fd, int users) {
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(100))
        if (users_behind(f, fd, users) == 0)
            return true;
    return false;
}

/* Distinct users of [0, users) with a record in reco.updates. */
static int users_in_reco_topic(fixture_t *f, int users) {
    char errstr[512];
    char *topics[] = {"reco.updates"};
    sr_kafka_in_config_t icfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock),
                                 .group_id = "test-reader", .topics = topics, .n_topics = 1};
    sr_kafka_in_t *in = sr_kafka_in_new(&icfg, errstr, sizeof errstr);
    assert_non_null(in);
    bool seen[USERS] = {0};
    int n_seen = 0;
    rd_kafka_message_t *msgs[256];
    for (double start = now_s(); now_s() - start < 20 && n_seen < users;) {
        size_t n = sr_kafka_in_poll(in, msgs, 256, 100);
        for (size_t k = 0; k < n; k++) {
            const rd_kafka_message_t *m = msgs[k];
            int u = -1;
            if (!m->err && m->key_len > 1 && m->key_len < 16) {
                char key[16];
                memcpy(key, m->key, m->key_len);
                key[m->key_len] = '\0';
                u = atoi(key + 1);
            }
            if (u >= 0 && u < users && !seen[u]) {
                seen[u] = true;
                n_seen++;
            }
            rd_kafka_message_destroy(msgs[k]);
        }
    }
    sr_kafka_in_close(in, NULL, 0);
    sr_kafka_in_destroy(in);
    return n_seen;
}

/* Under valgrind or AddressSanitizer everything is many times slower and
 * memory is the instrument's (ASan keeps freed blocks in quarantine): the
 * timing bounds widen and the RSS bounds are not checked there. */
static bool instrumented(void) {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
#endif
}

/* Resident set of this process, KiB. */
static long rss_kib(void) {
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (fp)
        fclose(fp);
    return kib;
}

static void wait_until_running(runner_t *r, uint64_t applied) {
    sr_pipeline_stats_t st;
    double start = now_s();
    do {
        sleep_ms(50);
        sr_pipeline_stats(r->p, &st);
    } while ((st.partitions < 2 || st.events_applied < applied) && now_s() - start < TIMEOUT_S);
}

/* Checkpoints every second into a fresh directory. */
static int enable_checkpoints(fixture_t *f) {
    char errstr[256];
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/streamrec-ckpt-XXXXXX");
    if (!mkdtemp(dir) ||
        sr_config_set(&f->cfg, "checkpoint.dir", dir, "test", errstr, sizeof errstr) ||
        sr_config_set(&f->cfg, "checkpoint.interval.s", "1", "test", errstr, sizeof errstr))
        return -1;
    return 0;
}

static int fixture_setup_checkpoints(void **state) {
    return pipeline_fixture_setup(state) != 0 ? -1 : enable_checkpoints(*state);
}

/* The file size limit back (the test lowers it), the directory removed. */
static int fixture_teardown_checkpoints(void **state) {
    fixture_t *f = *state;
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_FSIZE, &rl);
    signal(SIGXFSZ, SIG_DFL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->cfg.io.checkpoint_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->cfg.io.checkpoint_dir);
    return pipeline_fixture_teardown(state);
}

/* A long session: a broker or Redis away for seconds must not cost the
 * consumer its group membership (production runs with librdkafka's 45 s). */
static void long_session(fixture_t *f) {
    set_config(&f->cfg, "kafka.consumer.session.timeout.ms", "30000");
}

/* ---- Redis away ---------------------------------------------------------- */

#define OUTAGE_S 10
#define OUTAGE_EVENTS_PER_TICK 20 /* every 50 ms: 4,000 events in the outage */

/* Redis stops for 10 s while events keep arriving, then starts again on
 * the same port (empty: the test server keeps no data). Meanwhile the
 * batches wait in a bounded outbox, the consumer pauses but keeps polling
 * (so it stays in its group: no rebalance), memory stays flat; afterwards
 * every user's newest state is in Redis and the offsets of all events are
 * committed. Checkpoints come due every second meanwhile: the drain each
 * one starts with waited for Redis and held the poll loop for the whole
 * outage, until a due checkpoint waited for the sinks instead. */
static void test_redis_outage_pauses_then_loses_nothing(void **state) {
    fixture_t *f = *state;
    long_session(f);
    char errstr[512];
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    bool up_before = wait_for_redis(f, &fd, USERS);
    const sr_pipeline_metrics_t *m = sr_pipeline_metrics(r.p);
    uint64_t assigns = atomic_load(&m->assigns), revokes = atomic_load(&m->revokes);
    long rss_before = rss_kib(), rss_max = rss_before;

    int port = sr_redis_spawn_port(f->redis);
    sr_redis_spawn_destroy(f->redis);
    f->redis = NULL;
    bool paused = false, not_ready = false;
    int64_t loop_age_max_ms = 0;
    sr_pipeline_stats_t st;
    for (double start = now_s(); now_s() - start < OUTAGE_S;) {
        for (int k = 0; k < OUTAGE_EVENTS_PER_TICK; k++) feed(&fd, (int)(fd.events % USERS));
        sleep_ms(50);
        sr_pipeline_stats(r.p, &st);
        paused |= st.paused;
        not_ready |= sr_pipeline_ready(r.p, errstr, sizeof errstr) != SR_OK;
        int64_t age = sr_pipeline_loop_age_ms(r.p);
        loop_age_max_ms = age > loop_age_max_ms ? age : loop_age_max_ms;
        long rss = rss_kib();
        rss_max = rss > rss_max ? rss : rss_max;
    }
    feeder_flush(&fd);
    sr_pipeline_stats_t during;
    sr_pipeline_stats(r.p, &during);
    sr_redis_spawn_config_t rcfg = {.port = port};
    f->redis = sr_redis_spawn_new(&rcfg, errstr, sizeof errstr);
    if (!f->redis)
        fprintf(stderr, "restarting redis-server on port %d: %s\n", port, errstr);

    bool caught_up = f->redis && wait_for_redis(f, &fd, USERS);
    int64_t committed = wait_for_commit(f, (int64_t)fd.events);
    long rss_after = rss_kib();
    uint64_t assigns_after = atomic_load(&m->assigns), revokes_after = atomic_load(&m->revokes);
    stop_pipeline(&r, &st); /* before any assertion: a failed one leaves no thread behind */
    feeder_destroy(&fd);
    fprintf(stderr,
            "redis outage: %llu events, %llu Redis retries, queued batches max %llu, "
            "poll loop age max %lld ms, RSS %ld -> max %ld -> %ld KiB\n",
            (unsigned long long)fd.events, (unsigned long long)st.redis_retries,
            (unsigned long long)st.queued_batches_max, (long long)loop_age_max_ms, rss_before,
            rss_max, rss_after);

    assert_true(up_before);
    assert_non_null(f->redis);
    assert_true(caught_up);                /* the newest state of every user got through */
    assert_int_equal(st.events_applied, fd.events);
    assert_int_equal(committed, (int64_t)fd.events);
    assert_true(paused);                   /* backpressure, not an unbounded outbox */
    assert_true(not_ready);                /* /readyz said so */
    assert_true(during.redis_retries > 0);
    assert_true(st.checkpoints_written > during.checkpoints_written); /* caught up after */
    assert_true(st.queued_batches_max <= SR_PIPELINE_OUTBOX_BATCHES_MAX);
    /* paused, the consumer kept polling: far below max.poll.interval.ms
     * (the loop stood still for 9 s of the 10 when a checkpoint's drain
     * waited for Redis) */
    assert_true(loop_age_max_ms < (instrumented() ? 5000 : 1000));
    assert_int_equal(assigns_after, assigns); /* still in the group, same assignment */
    assert_int_equal(revokes_after, revokes);
    assert_int_equal(during.partitions, 2);
    /* The outage brings ~4,000 records of ~60 bytes; measured growth is
     * ~0.5 MiB during it and ~2 MiB after. 8 KiB per record (32 MiB) would
     * mean buffering far beyond the input (the outbox, librdkafka's queues). */
    long bound_kib = (long)(fd.events - USERS) * 8;
    if (!instrumented()) {
        assert_true(rss_max - rss_before < bound_kib);
        assert_true(rss_after - rss_before < bound_kib);
    }
}

/* ---- the Kafka broker away ---------------------------------------------- */

/* The only broker goes down for 3 s while events are being produced, then
 * comes back: the pipeline reconnects by itself and every event gets
 * through, none of them lost or failed. */
static void test_broker_down_then_up_reconnects_and_processes_all(void **state) {
    fixture_t *f = *state;
    long_session(f);
    char errstr[512];
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    bool before = wait_for_redis(f, &fd, USERS);

    const sr_pipeline_metrics_t *m = sr_pipeline_metrics(r.p);
    uint64_t assigns = atomic_load(&m->assigns), revokes = atomic_load(&m->revokes);
    assert_int_equal(sr_kafka_mock_broker_down(f->mock, 1), SR_OK);
    bool not_ready = false;
    for (double start = now_s(); now_s() - start < 3;) {
        feed(&fd, (int)(fd.events % USERS)); /* queued in the producer meanwhile */
        sleep_ms(20);
        not_ready |= sr_pipeline_ready(r.p, errstr, sizeof errstr) != SR_OK;
    }
    assert_int_equal(sr_kafka_mock_broker_up(f->mock, 1), SR_OK);
    feed_round(&fd, USERS);
    feeder_flush(&fd);

    bool after = wait_for_redis(f, &fd, USERS);
    int64_t committed = wait_for_commit(f, (int64_t)fd.events);
    uint64_t delivery_errors = atomic_load(&m->kafka_delivery_errors);
    bool same_assignment =
        atomic_load(&m->assigns) == assigns && atomic_load(&m->revokes) == revokes;
    sr_pipeline_stats_t st;
    stop_pipeline(&r, &st); /* fails the test if the pipeline stopped on an error */
    feeder_destroy(&fd);
    assert_true(before);
    assert_true(not_ready); /* /readyz saw the broker gone (statistics every second) */
    assert_true(after);
    assert_int_equal(st.events_applied, fd.events);
    assert_int_equal(committed, (int64_t)fd.events);
    assert_int_equal(delivery_errors, 0);
    assert_true(same_assignment); /* still in the group: no rebalance, nothing re-read */
}

/* ---- the group lost ------------------------------------------------------ */

/* The only broker stays down for longer than the consumer's session, so
 * the group gives the partitions up and the pipeline, when the broker is
 * back, finds its assignment lost. A first pipeline checkpointed round 1 at
 * its stop; the interval is an hour, so all the second one applied (round
 * 2, with new items) is past its newest checkpoint and past the committed
 * offsets: reading on from those with the state it had would apply round 2
 * twice. It rolls its state back to the checkpoint instead, so in the end
 * the state holds every event exactly once, although the pipeline applied
 * some twice. */
static void test_lost_assignment_rolls_back_to_the_checkpoint(void **state) {
    fixture_t *f = *state;
    set_config(&f->cfg, "checkpoint.interval.s", "3600");
    set_config(&f->cfg, "kafka.consumer.session.timeout.ms", "3000");
    set_config(&f->cfg, "kafka.consumer.heartbeat.interval.ms", "500");
    set_config(&f->cfg, "sim.publish.interval.ms", "60000");
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    sr_pipeline_stats_t st;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    stop_pipeline(&r, &st); /* the checkpoint to go back to: round 1 */
    start_pipeline(f, &r);
    /* new items, whose neighbour lists are held back when the group goes:
     * after the rollback those ids are not in the state */
    fd.first_item = 40;
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    bool before = wait_for_redis(f, &fd, USERS);

    const sr_pipeline_metrics_t *m = sr_pipeline_metrics(r.p);
    uint64_t revokes = atomic_load(&m->revokes);
    assert_int_equal(sr_kafka_mock_broker_down(f->mock, 1), SR_OK);
    for (double start = now_s(); now_s() - start < 8;) { /* the session is 3 s */
        feed(&fd, (int)(fd.events % USERS)); /* queued in the producer meanwhile */
        sleep_ms(50);
    }
    assert_int_equal(sr_kafka_mock_broker_up(f->mock, 1), SR_OK);
    feed_round(&fd, USERS);
    feeder_flush(&fd);

    bool after = wait_for_redis(f, &fd, USERS);
    uint64_t rollbacks = atomic_load(&m->rollbacks);
    bool lost = atomic_load(&m->revokes) > revokes;
    stop_pipeline(&r, &st); /* its final checkpoint covers everything */
    feeder_destroy(&fd);
    assert_true(before);
    assert_true(lost);
    assert_int_equal(rollbacks, 1);
    assert_true(after);
    assert_int_equal(committed_sum(f), (int64_t)fd.events);
    assert_true(st.events_applied > fd.events - USERS); /* some were applied twice... */
    size_t n_positions;
    uint64_t events;
    assert_int_equal(newest_checkpoint_positions(f->cfg.io.checkpoint_dir, &n_positions, &events),
                     (int64_t)fd.events);
    assert_int_equal(events, fd.events); /* ...but the state holds each once */
}

/* ---- Produce refused ---------------------------------------------------- */

/* The broker refuses the pipeline's first Produce requests with a
 * retriable error (leadership moving): librdkafka retries, the outputs
 * arrive and the input offsets are committed; nothing failed. */
static void test_retriable_produce_errors_are_retried(void **state) {
    fixture_t *f = *state;
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    /* from here on, the pipeline's producer is the only one */
    rd_kafka_mock_cluster_t *mc = sr_kafka_mock_cluster(f->mock);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mc, 1, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                         RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                         RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                         RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    bool in_redis = wait_for_redis(f, &fd, USERS);
    int64_t committed = wait_for_commit(f, (int64_t)fd.events);
    size_t errors_left = 99;
    rd_kafka_mock_broker_error_stack_cnt(mc, 1, API_PRODUCE, &errors_left);
    uint64_t delivery_errors = atomic_load(&sr_pipeline_metrics(r.p)->kafka_delivery_errors);
    sr_pipeline_stats_t st;
    stop_pipeline(&r, &st);
    feeder_destroy(&fd);
    assert_int_equal(errors_left, 0); /* the pipeline's requests were refused, four times */
    assert_true(in_redis);
    assert_int_equal(committed, (int64_t)fd.events);
    assert_int_equal(delivery_errors, 0);
    assert_int_equal(users_in_reco_topic(f, USERS), USERS);
}

/* Two brokers: broker 2 leads the input partitions, broker 1 every
 * output topic's, so a fault injected into broker 1 meets the pipeline's
 * producer and not the test's input. */
static int fixture_setup_split_leaders(void **state) {
    if (pipeline_fixture_setup_brokers(state, 2) != 0)
        return -1;
    fixture_t *f = *state;
    rd_kafka_mock_cluster_t *mc = sr_kafka_mock_cluster(f->mock);
    const struct {
        const char *topic;
        int partitions, leader;
    } leaders[] = {{"clicks", 2, 2},     {"reco.updates", 2, 1},
                   {"churn.alerts", 1, 1}, {"clicks.dlq", 1, 1},
                   {PIPELINE_FIXTURE_CHANGELOG, 2, 1}};
    for (size_t t = 0; t < sizeof leaders / sizeof *leaders; t++)
        for (int32_t k = 0; k < leaders[t].partitions; k++)
            if (rd_kafka_mock_partition_set_leader(mc, leaders[t].topic, k, leaders[t].leader))
                return -1;
    return 0;
}

static int fixture_setup_split_leaders_checkpoints(void **state) {
    return fixture_setup_split_leaders(state) != 0 ? -1 : enable_checkpoints(*state);
}

/* Broker 1 takes a second to answer each of the pipeline's next Produce
 * requests while events keep arriving; Redis is fine. Batches written to
 * Redis then wait for their Kafka acknowledgements, and they count
 * against the outbox bound like batches waiting for Redis: the consumer
 * pauses instead of piling up batches (and records in librdkafka's queue)
 * without limit. Counting only the batches the sink had not taken yet,
 * the pipeline held 93 at once and never paused. */
static void test_slow_kafka_acks_pause_the_consumer(void **state) {
    fixture_t *f = *state;
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    rd_kafka_mock_cluster_t *mc = sr_kafka_mock_cluster(f->mock);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mc, 1, API_PRODUCE, 6, RD_KAFKA_RESP_ERR_NO_ERROR, 1000,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 1000, RD_KAFKA_RESP_ERR_NO_ERROR, 1000,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 1000, RD_KAFKA_RESP_ERR_NO_ERROR, 1000,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 1000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    bool paused = false;
    sr_pipeline_stats_t st;
    for (double start = now_s(); now_s() - start < 3;) {
        for (int k = 0; k < 10; k++) feed(&fd, (int)(fd.events % USERS));
        sleep_ms(10);
        sr_pipeline_stats(r.p, &st);
        paused |= st.paused;
    }
    feeder_flush(&fd);
    bool in_redis = wait_for_redis(f, &fd, USERS);
    int64_t committed = wait_for_commit(f, (int64_t)fd.events);
    size_t delays_left = 99;
    rd_kafka_mock_broker_error_stack_cnt(mc, 1, API_PRODUCE, &delays_left);
    stop_pipeline(&r, &st);
    feeder_destroy(&fd);
    fprintf(stderr, "slow acks: %llu events, %llu batches, queued batches max %llu\n",
            (unsigned long long)fd.events, (unsigned long long)st.batches_acked,
            (unsigned long long)st.queued_batches_max);
    assert_int_equal(delays_left, 0);
    assert_true(paused);
    assert_true(st.queued_batches_max <= SR_PIPELINE_OUTBOX_BATCHES_MAX);
    assert_true(in_redis);
    assert_int_equal(st.events_applied, fd.events);
    assert_int_equal(committed, (int64_t)fd.events);
}

/* The same stall, with checkpoints coming due every second: the drain a
 * checkpoint starts with would wait for the 5 s acknowledgements while the
 * poll loop stands still (a stall longer than max.poll.interval.ms costs
 * the consumer its group). It gives up after CHECKPOINT_DRAIN_MAX_MS (2 s)
 * and the checkpoint is tried again later; once the broker answers
 * promptly again, checkpoints are written and cover every event. */
static void test_slow_kafka_acks_put_a_checkpoint_off(void **state) {
    fixture_t *f = *state;
    long_session(f);
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    rd_kafka_mock_cluster_t *mc = sr_kafka_mock_cluster(f->mock);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mc, 1, API_PRODUCE, 2, RD_KAFKA_RESP_ERR_NO_ERROR, 5000,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t loop_age_max_ms = 0;
    sr_pipeline_stats_t st;
    for (double start = now_s(); now_s() - start < 8;) {
        feed(&fd, (int)(fd.events % USERS));
        feeder_flush(&fd);
        sleep_ms(50);
        int64_t age = sr_pipeline_loop_age_ms(r.p);
        loop_age_max_ms = age > loop_age_max_ms ? age : loop_age_max_ms;
    }
    sr_pipeline_stats(r.p, &st);
    uint64_t written_during = st.checkpoints_written;
    bool in_redis = wait_for_redis(f, &fd, USERS);
    int64_t committed = wait_for_commit(f, (int64_t)fd.events);
    stop_pipeline(&r, &st);
    feeder_destroy(&fd);
    fprintf(stderr, "slow acks, checkpoints on: poll loop age max %lld ms, checkpoints %llu\n",
            (long long)loop_age_max_ms, (unsigned long long)st.checkpoints_written);
    assert_true(loop_age_max_ms < (instrumented() ? 5000 : 3000));
    assert_true(in_redis);
    assert_true(st.checkpoints_written > written_during);
    assert_int_equal(committed, (int64_t)fd.events);
}

/* A permanent refusal (the topic's authorization withdrawn) is not
 * retried: the pipeline stops with an error saying so, and the input
 * offsets of the events whose outputs failed are not committed -- the
 * next start reads them again. */
static void test_permanent_produce_error_stops_without_committing(void **state) {
    fixture_t *f = *state;
    /* outputs only: no changelog records, which would meet the refusals first */
    set_config(&f->cfg, "state.handoff", "false");
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, 20);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, 20);
    int64_t committed_first = wait_for_commit(f, 20);
    sr_pipeline_stats_t st;
    stop_pipeline(&r, &st);
    assert_int_equal(committed_first, 20);

    feed_round(&fd, 20);
    feeder_flush(&fd);
    rd_kafka_mock_cluster_t *mc = sr_kafka_mock_cluster(f->mock);
    rd_kafka_resp_err_t refusals[64];
    for (size_t k = 0; k < 64; k++) refusals[k] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    rd_kafka_mock_push_request_errors_array(mc, API_PRODUCE, 64, refusals);
    start_pipeline(f, &r);
    char reason[512] = "";
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(50))
        if (sr_pipeline_failed(r.p, reason, sizeof reason))
            break;
    sr_pipeline_stats_t failed;
    sr_pipeline_stats(r.p, &failed);
    uint64_t delivery_errors = atomic_load(&sr_pipeline_metrics(r.p)->kafka_delivery_errors);
    sr_err_t result = stop_pipeline_result(&r, &st);
    int64_t committed = committed_sum(f);
    feeder_destroy(&fd);
    assert_int_equal(result, SR_ERR_IO);
    assert_non_null(strstr(r.errstr, "not delivered"));
    assert_non_null(strstr(reason, "not delivered"));
    assert_true(delivery_errors > 0);
    assert_int_equal(failed.records_in, 20);     /* it did read them */
    assert_int_equal(failed.events_applied, 0);  /* counted when acknowledged: none was */
    assert_int_equal(committed, 20);             /* and acknowledged none */
}

/* A RecommendationUpdate the producer refuses on the spot (larger than
 * message.max.bytes, here with 100-character item ids) is met on the sink
 * thread, which encodes and produces those records: the pipeline stops with
 * an error saying so, nothing is acknowledged, and no offset is committed. */
static void test_output_refused_at_produce_stops_without_committing(void **state) {
    fixture_t *f = *state;
    /* outputs only: no changelog records, which would meet the refusal first */
    set_config(&f->cfg, "state.handoff", "false");
    set_config(&f->cfg, "kafka.producer.message.max.bytes", "1000");
    char prefix[101];
    memset(prefix, 'x', 100);
    prefix[100] = '\0';
    feeder_t fd;
    feeder_init(&fd, f);
    fd.item_prefix = prefix;
    for (int round = 0; round < 3; round++) feed_round(&fd, 20);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    char reason[512] = "";
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(50))
        if (sr_pipeline_failed(r.p, reason, sizeof reason))
            break;
    sr_pipeline_stats_t failed, st;
    sr_pipeline_stats(r.p, &failed);
    sr_err_t result = stop_pipeline_result(&r, &st);
    int64_t committed = committed_sum(f);
    feeder_destroy(&fd);
    assert_int_equal(result, SR_ERR_IO);
    assert_non_null(strstr(reason, "cannot produce an output record"));
    assert_true(failed.records_in > 0);
    assert_int_equal(failed.events_applied, 0); /* counted when acknowledged: none was */
    assert_int_equal(st.recos_written, 0);      /* nor written to Redis */
    assert_true(committed < 0); /* no partition has a committed offset */
}

/* ---- a full disk under a checkpoint ------------------------------------- */

typedef struct newest {
    char path[512];
    off_t bytes;
    int64_t positions_sum;
} newest_t;

/* The newest valid checkpoint of dir (loaded, so it is whole), and whether
 * a temporary file is lying about. */
static bool newest_checkpoint(const char *dir, newest_t *out, bool *temp_files) {
    *temp_files = false;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        *temp_files |= strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    char errstr[512];
    sr_checkpoint_t *c = load_newest_checkpoint(dir, errstr, sizeof errstr);
    if (!c)
        return false;
    const sr_checkpoint_info_t *info = sr_checkpoint_info(c);
    out->positions_sum = 0;
    for (size_t k = 0; k < info->n_positions; k++)
        out->positions_sum += info->positions[k].next_offset;
    snprintf(out->path, sizeof out->path, "%s", info->path);
    sr_checkpoint_destroy(c);
    struct stat sb;
    out->bytes = stat(out->path, &sb) == 0 ? sb.st_size : -1;
    return true;
}

/* Writes fail with EFBIG past RLIMIT_FSIZE (SIGXFSZ ignored), as they fail
 * with ENOSPC on a full disk, and the forked checkpoint writer inherits
 * the limit. The checkpoint written then fails and is counted; it leaves
 * no temporary file; the one before it is untouched and loads; the
 * committed offsets stay at what that one covers; and once writes succeed
 * again the next checkpoint catches up. */
static void test_full_disk_checkpoint_keeps_the_previous_one(void **state) {
    fixture_t *f = *state;
    const char *dir = f->cfg.io.checkpoint_dir;
    feeder_t fd;
    feeder_init(&fd, f);
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    runner_t r;
    start_pipeline(f, &r);
    wait_until_running(&r, USERS);
    newest_t first = {0}, failed_newest = {0}, last = {0};
    bool temp_files = false, temp_now = false, gap_without_temp = false;
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(100))
        if (newest_checkpoint(dir, &first, &temp_files) && first.positions_sum == USERS)
            break;
    int64_t committed_first = wait_for_commit(f, USERS);

    /* the disk is full: half the size the last checkpoint took */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)(first.bytes > 2 ? first.bytes / 2 : 1);
    bool limited = setrlimit(RLIMIT_FSIZE, &rl) == 0;
    feed_round(&fd, USERS);
    feeder_flush(&fd);
    sr_pipeline_stats_t st;
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(50)) {
        sr_pipeline_stats(r.p, &st);
        if (st.checkpoint_errors > 0 && st.events_applied == fd.events)
            break;
    }
    sr_pipeline_stats_t at_failure = st;
    /* auto.commit.interval.ms is 1000: a stored offset would be committed.
     * Meanwhile the failed checkpoint is tried again every second, each
     * try with a temporary file of its own while it runs: between tries
     * (with a leftover, never) the directory holds none. */
    for (double start = now_s(); now_s() - start < 1.5; sleep_ms(10)) {
        newest_checkpoint(dir, &failed_newest, &temp_now);
        gap_without_temp |= !temp_now;
    }
    bool loads = newest_checkpoint(dir, &failed_newest, &temp_now);
    int64_t committed_while_full = committed_sum(f);

    /* space again */
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_FSIZE, &rl);
    for (double start = now_s(); now_s() - start < TIMEOUT_S; sleep_ms(100))
        if (newest_checkpoint(dir, &last, &temp_files) && last.positions_sum == (int64_t)fd.events)
            break;
    int64_t committed_last = wait_for_commit(f, (int64_t)fd.events);
    stop_pipeline(&r, &st);
    feeder_destroy(&fd);

    assert_int_equal(first.positions_sum, USERS);
    assert_true(first.bytes > 2);
    assert_int_equal(committed_first, USERS);
    assert_true(limited);
    assert_true(at_failure.checkpoint_errors > 0);
    assert_int_equal(at_failure.events_applied, 2 * USERS);
    assert_true(loads);                    /* the previous checkpoint is whole */
    assert_int_equal(failed_newest.positions_sum, USERS);
    assert_string_equal(failed_newest.path, first.path);
    assert_int_equal(failed_newest.bytes, first.bytes);
    assert_true(gap_without_temp);         /* the failed write cleaned up after itself */
    assert_int_equal(committed_while_full, USERS);
    assert_int_equal(last.positions_sum, 2 * USERS);
    assert_int_equal(committed_last, 2 * USERS);
}

int main(int argc, char **argv) {
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test: test_app_faults test_redis_outage* */
#define WITH_FIXTURE(t) \
    cmocka_unit_test_setup_teardown(t, pipeline_fixture_setup, pipeline_fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_outage_pauses_then_loses_nothing,
                                        fixture_setup_checkpoints, fixture_teardown_checkpoints),
        WITH_FIXTURE(test_broker_down_then_up_reconnects_and_processes_all),
        cmocka_unit_test_setup_teardown(test_lost_assignment_rolls_back_to_the_checkpoint,
                                        fixture_setup_checkpoints, fixture_teardown_checkpoints),
        WITH_FIXTURE(test_retriable_produce_errors_are_retried),
        cmocka_unit_test_setup_teardown(test_slow_kafka_acks_pause_the_consumer,
                                        fixture_setup_split_leaders, pipeline_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slow_kafka_acks_put_a_checkpoint_off,
                                        fixture_setup_split_leaders_checkpoints,
                                        fixture_teardown_checkpoints),
        WITH_FIXTURE(test_permanent_produce_error_stops_without_committing),
        WITH_FIXTURE(test_output_refused_at_produce_stops_without_committing),
        cmocka_unit_test_setup_teardown(test_full_disk_checkpoint_keeps_the_previous_one,
                                        fixture_setup_checkpoints, fixture_teardown_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
