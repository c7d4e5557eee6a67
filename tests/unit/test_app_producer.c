/* The paced producer and the two commands built on it, `streamrec gen
 * --topic` and `streamrec replay`, against librdkafka's mock cluster: what
 * they produce is read back with a plain consumer and decoded with the
 * codec. Pacing is checked on its schedule (sr_pace_due_s), not by timing;
 * the runs below only check that a paced run is not faster than its
 * schedule allows, a bound a loaded machine cannot break. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cli.h"
#include "app/producer.h"
#include "streamrec/avro_codec.h"
#include "streamrec/clock.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/synth.h"

#define FIXTURE_CSV SR_FIXTURE_DIR "/replay_small.csv"
#define FIXTURE_DIGINETICA SR_FIXTURE_DIR "/replay_small.diginetica.csv"
#define MAX_RECORDS 2000
#define CONSUME_TIMEOUT_S 20

typedef struct fixture {
    sr_kafka_mock_t *mock;
    char bootstrap_arg[512]; /* "kafka.bootstrap.servers=..." for -X */
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512];
    if (!f || !(f->mock = sr_kafka_mock_new(1, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", f ? errstr : "out of memory");
        free(f);
        return -1;
    }
    snprintf(f->bootstrap_arg, sizeof f->bootstrap_arg, "kafka.bootstrap.servers=%s",
             sr_kafka_mock_bootstrap(f->mock));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    sr_kafka_mock_destroy(f->mock);
    free(f);
    return 0;
}

static void create_topic(fixture_t *f, const char *topic, int partitions) {
    char errstr[512];
    if (sr_kafka_mock_create_topic(f->mock, topic, partitions, errstr, sizeof errstr) != SR_OK)
        fail_msg("create %s: %s", topic, errstr);
}

/* ---- reading a topic back ------------------------------------------------ */

typedef struct record {
    int32_t partition;
    char *key;
    size_t key_len;
    uint8_t *value;
    size_t len;
} record_t;

typedef struct records {
    record_t r[MAX_RECORDS];
    size_t n;
} records_t;

static void records_free(records_t *rs) {
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].key);
        free(rs->r[i].value);
    }
    free(rs);
}

/* Every record of topic's partitions from the beginning, in partition
 * order, each partition in offset order. Waits until `expect` records came
 * and then a little longer, so a surplus would show in the count. */
static records_t *consume_all(fixture_t *f, const char *topic, int partitions, size_t expect) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", sr_kafka_mock_bootstrap(f->mock), errstr,
                          sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "test-reader", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr))
        fail_msg("consumer conf: %s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    records_t *got = calloc(1, sizeof *got);
    assert_non_null(got);
    record_t *by_partition[8][MAX_RECORDS];
    size_t n_in[8] = {0};
    assert_true(partitions <= 8);
    double start = sr_clock_mono_s(), complete_at = 0;
    while (sr_clock_mono_s() - start < CONSUME_TIMEOUT_S) {
        if (complete_at > 0 && sr_clock_mono_s() - complete_at > 0.5)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m)
            continue;
        if (!m->err) {
            assert_true(got->n < MAX_RECORDS);
            record_t *r = &got->r[got->n++];
            r->partition = m->partition;
            r->key_len = m->key_len;
            r->key = malloc(m->key_len + 1);
            memcpy(r->key, m->key, m->key_len);
            r->key[m->key_len] = '\0';
            r->len = m->len;
            r->value = malloc(m->len ? m->len : 1);
            memcpy(r->value, m->payload, m->len);
            by_partition[m->partition][n_in[m->partition]++] = r;
            if (got->n == expect)
                complete_at = sr_clock_mono_s();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    /* put them in partition order (each partition already in offset order) */
    records_t *sorted = calloc(1, sizeof *sorted);
    assert_non_null(sorted);
    for (int p = 0; p < partitions; p++)
        for (size_t i = 0; i < n_in[p]; i++)
            sorted->r[sorted->n++] = *by_partition[p][i];
    free(got);
    return sorted;
}

static void decode(sr_click_decoder_t *dec, const record_t *r, sr_event_t *ev) {
    char errstr[512];
    int32_t schema_id = -1;
    if (sr_click_decode(dec, r->value, r->len, SR_FRAMING_CONFLUENT, ev, &schema_id, errstr,
                        sizeof errstr) != SR_OK)
        fail_msg("decode: %s", errstr);
    assert_int_equal(schema_id, 1);
}

static sr_click_decoder_t *new_decoder(void) {
    char errstr[512];
    sr_click_decoder_t *dec = sr_click_decoder_new(errstr, sizeof errstr);
    assert_non_null(dec);
    assert_int_equal(sr_click_decoder_add_schema(dec, 1,
                                                 sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                                                 errstr, sizeof errstr),
                     SR_OK);
    return dec;
}

static bool str_is(sr_str_t s, const char *want) {
    if (!want)
        return s.len == 0;
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* ---- running a command ------------------------------------------------- */

/* Runs a subcommand with its stderr in `err` (so a test can check what it
 * says); returns its exit code. */
static int run_cmd(int (*cmd)(int, char **), char **argv, char *err, size_t err_size) {
    int argc = 0;
    while (argv[argc])
        argc++;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = cmd(argc, argv);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, err_size - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    return rc;
}

static void run_ok(int (*cmd)(int, char **), char **argv) {
    char err[4096];
    int rc = run_cmd(cmd, argv, err, sizeof err);
    if (rc != 0)
        fail_msg("%s exited %d: %s", argv[0], rc, err);
}

/* ---- pacing ------------------------------------------------------------ */

static void test_pace_rate_spaces_events_evenly_from_the_first(void **state) {
    (void)state;
    sr_pace_t pace = {SR_PACE_RATE, 200};
    assert_float_equal(sr_pace_due_s(&pace, 0, 5000, 0), 0.0, 1e-12);
    assert_float_equal(sr_pace_due_s(&pace, 1, 0, 0), 0.005, 1e-12);
    assert_float_equal(sr_pace_due_s(&pace, 1000, 0, 0), 5.0, 1e-9); /* event time ignored */
}

static void test_pace_event_time_divides_gaps_by_the_speed(void **state) {
    (void)state;
    sr_pace_t pace = {SR_PACE_EVENT_TIME, 60};
    int64_t first = 1767225600000LL;
    assert_float_equal(sr_pace_due_s(&pace, 0, first, first), 0.0, 1e-12);
    /* an hour of event time at 60x is a minute */
    assert_float_equal(sr_pace_due_s(&pace, 7, first + 3600000, first), 60.0, 1e-9);
    /* a late event is not held back, and never due before the start */
    assert_float_equal(sr_pace_due_s(&pace, 8, first - 1000, first), 0.0, 1e-12);
    pace.value = 0.5; /* slower than real time */
    assert_float_equal(sr_pace_due_s(&pace, 1, first + 1000, first), 2.0, 1e-12);
}

static void test_pace_max_never_waits(void **state) {
    (void)state;
    sr_pace_t pace = {SR_PACE_MAX, 0};
    assert_float_equal(sr_pace_due_s(&pace, 1000000, 1767225600000LL + 86400000, 1767225600000LL),
                       0.0, 1e-12);
}

/* ---- the producer module ----------------------------------------------- */

static void test_producer_reports_undelivered_records(void **state) {
    (void)state;
    char errstr[512];
    sr_synth_config_t scfg;
    sr_synth_config_defaults(&scfg);
    scfg.users = 10;
    scfg.items = 10;
    scfg.categories = 2;
    sr_synth_t *synth = sr_synth_new(&scfg, errstr, sizeof errstr);
    assert_non_null(synth);
    /* nothing listens on port 1: every record times out */
    sr_kafka_kv_t props[] = {{"message.timeout.ms", "300"}, {"log_level", "0"}};
    sr_producer_config_t pcfg = {.bootstrap = "127.0.0.1:1", .topic = "nowhere", .props = props,
                                 .n_props = 2, .schema_id = 1, .max_events = 5};
    sr_producer_t *p = sr_producer_new(&pcfg, errstr, sizeof errstr);
    assert_non_null(p);
    assert_int_equal(sr_producer_run(p, sr_producer_synth_source, synth, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_IO);
    assert_non_null(strstr(errstr, "of 5 records to nowhere were not delivered"));
    sr_producer_stats_t st;
    sr_producer_stats(p, &st);
    assert_int_equal(st.produced, 5);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.failed, 5);
    sr_producer_destroy(p);
    sr_synth_destroy(synth);
}

static void test_producer_stops_at_once_when_told_to(void **state) {
    fixture_t *f = *state;
    char errstr[512];
    sr_synth_config_t scfg;
    sr_synth_config_defaults(&scfg);
    sr_synth_t *synth = sr_synth_new(&scfg, errstr, sizeof errstr);
    assert_non_null(synth);
    sr_producer_config_t pcfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock),
                                 .topic = "stopped", .schema_id = 1};
    sr_producer_t *p = sr_producer_new(&pcfg, errstr, sizeof errstr);
    assert_non_null(p);
    volatile sig_atomic_t stop = 1;
    assert_int_equal(sr_producer_run(p, sr_producer_synth_source, synth, &stop, errstr,
                                     sizeof errstr),
                     SR_OK);
    sr_producer_stats_t st;
    sr_producer_stats(p, &st);
    assert_int_equal(st.produced, 0);
    sr_producer_destroy(p);
    sr_synth_destroy(synth);
}

static void test_producer_rejects_a_rate_of_zero(void **state) {
    (void)state;
    char errstr[512];
    sr_producer_config_t pcfg = {.bootstrap = "127.0.0.1:1", .topic = "t",
                                 .pace = {SR_PACE_RATE, 0}};
    assert_null(sr_producer_new(&pcfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "positive"));
}

/* ---- streamrec gen --topic --------------------------------------------- */

#define GEN_COUNT 300

static void gen_into(fixture_t *f, const char *topic, const char *rate) {
    char *argv[] = {"gen", "--topic", (char *)topic, "--users", "40", "--items", "30",
                    "--categories", "5", "--days", "5", "--seed", "7", "--count", "300",
                    "--rate", (char *)rate, "-X", f->bootstrap_arg, NULL};
    run_ok(sr_cmd_gen, argv);
}

static void test_gen_produces_the_synthetic_stream_keyed_by_user(void **state) {
    fixture_t *f = *state;
    create_topic(f, "gen.one", 1);
    gen_into(f, "gen.one", "0");
    records_t *got = consume_all(f, "gen.one", 1, GEN_COUNT);
    assert_int_equal(got->n, GEN_COUNT);

    /* one partition keeps produce order: the records are the stream itself */
    char errstr[512];
    sr_synth_config_t scfg;
    sr_synth_config_defaults(&scfg);
    scfg.users = 40;
    scfg.items = 30;
    scfg.categories = 5;
    scfg.days = 5;
    scfg.seed = 7;
    sr_synth_t *synth = sr_synth_new(&scfg, errstr, sizeof errstr);
    assert_non_null(synth);
    sr_click_decoder_t *dec = new_decoder();
    for (size_t i = 0; i < got->n; i++) {
        sr_event_t want, ev;
        assert_true(sr_synth_next(synth, &want));
        decode(dec, &got->r[i], &ev);
        assert_true(ev.user_id.len == want.user_id.len &&
                    memcmp(ev.user_id.ptr, want.user_id.ptr, want.user_id.len) == 0);
        assert_true(ev.event_id.len == want.event_id.len &&
                    memcmp(ev.event_id.ptr, want.event_id.ptr, want.event_id.len) == 0);
        assert_true(ev.item_id.len == want.item_id.len &&
                    memcmp(ev.item_id.ptr, want.item_id.ptr, want.item_id.len) == 0);
        assert_int_equal(ev.type, want.type);
        assert_int_equal(ev.ts_ms, want.ts_ms);
        assert_int_equal(ev.has_price, want.has_price);
        /* the key is the user id */
        assert_int_equal(got->r[i].key_len, ev.user_id.len);
        assert_memory_equal(got->r[i].key, ev.user_id.ptr, ev.user_id.len);
    }
    sr_click_decoder_destroy(dec);
    sr_synth_destroy(synth);
    records_free(got);
}

static void test_gen_is_deterministic_for_a_seed(void **state) {
    fixture_t *f = *state;
    create_topic(f, "gen.a", 3);
    create_topic(f, "gen.b", 3);
    gen_into(f, "gen.a", "0");
    gen_into(f, "gen.b", "0");
    records_t *a = consume_all(f, "gen.a", 3, GEN_COUNT);
    records_t *b = consume_all(f, "gen.b", 3, GEN_COUNT);
    assert_int_equal(a->n, GEN_COUNT);
    assert_int_equal(b->n, GEN_COUNT);
    /* same records, byte for byte, on the same partitions in the same order */
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->r[i].partition, b->r[i].partition);
        assert_string_equal(a->r[i].key, b->r[i].key);
        assert_int_equal(a->r[i].len, b->r[i].len);
        assert_memory_equal(a->r[i].value, b->r[i].value, a->r[i].len);
    }
    /* and one user's records all land on one partition */
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = i + 1; j < a->n; j++)
            if (strcmp(a->r[i].key, a->r[j].key) == 0)
                assert_int_equal(a->r[i].partition, a->r[j].partition);
    records_free(a);
    records_free(b);
}

static void test_gen_rate_is_not_exceeded(void **state) {
    fixture_t *f = *state;
    create_topic(f, "gen.paced", 1);
    char *argv[] = {"gen", "--topic", "gen.paced", "--users", "20", "--items", "20",
                    "--categories", "4", "--count", "41", "--rate", "200", "-X",
                    f->bootstrap_arg, NULL};
    double start = sr_clock_mono_s();
    run_ok(sr_cmd_gen, argv);
    /* 41 events at 200/s: the last is due 0.2 s after the first. Only the
     * lower bound is checked; a busy machine can only make it slower. */
    assert_true(sr_clock_mono_s() - start >= 0.19);
    records_t *got = consume_all(f, "gen.paced", 1, 41);
    assert_int_equal(got->n, 41);
    records_free(got);
}

/* ---- streamrec replay -------------------------------------------------- */

/* tests/fixtures/replay_small.csv, sorted by ts_ms with ties in file order */
static const struct {
    int line;
    const char *user, *item;
    sr_event_type_t type;
    int64_t ts_ms;
    const char *session, *category;
    double price; /* < 0: none */
} replay_expected[] = {
    {3, "u1", "i3", SR_EVENT_VIEW, 1767225600000LL, "s1", "c1", -1},
    {4, "u3", "i3", SR_EVENT_ADD_TO_CART, 1767225600000LL, NULL, NULL, 19.99},
    {6, "u2", NULL, SR_EVENT_VIEW, 1767225630000LL, NULL, NULL, -1},
    {2, "u2", "i7", SR_EVENT_VIEW, 1767225660000LL, "s2", "c1", -1},
    {7, "u1", "i4", SR_EVENT_REMOVE_FROM_CART, 1767225690000LL, "s1", NULL, -1},
    {5, "u1", "i4", SR_EVENT_PURCHASE, 1767225720000LL, "s1", "c2", 5.5},
    {8, "u3", "i9", SR_EVENT_VIEW, 1767225780000LL, "s3", "c9", -1},
};
#define REPLAY_N (sizeof replay_expected / sizeof replay_expected[0])

static void test_replay_produces_the_rows_in_event_time_order(void **state) {
    fixture_t *f = *state;
    create_topic(f, "replay.csv", 1);
    char *argv[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv", "--topic",
                    "replay.csv", "-X", f->bootstrap_arg, NULL};
    run_ok(sr_cmd_replay, argv);
    records_t *got = consume_all(f, "replay.csv", 1, REPLAY_N);
    assert_int_equal(got->n, REPLAY_N);
    sr_click_decoder_t *dec = new_decoder();
    int64_t previous_ts = INT64_MIN;
    for (size_t i = 0; i < got->n; i++) {
        sr_event_t ev;
        decode(dec, &got->r[i], &ev);
        char event_id[64];
        snprintf(event_id, sizeof event_id, "replay_small.csv:%d", replay_expected[i].line);
        assert_true(ev.ts_ms >= previous_ts);
        previous_ts = ev.ts_ms;
        assert_true(str_is(ev.event_id, event_id));
        assert_true(str_is(ev.user_id, replay_expected[i].user));
        assert_true(str_is(ev.item_id, replay_expected[i].item));
        assert_int_equal(ev.type, replay_expected[i].type);
        assert_int_equal(ev.ts_ms, replay_expected[i].ts_ms);
        assert_true(str_is(ev.session_id, replay_expected[i].session));
        assert_true(str_is(ev.category_id, replay_expected[i].category));
        assert_int_equal(ev.has_price, replay_expected[i].price >= 0);
        if (ev.has_price)
            assert_true(ev.price == replay_expected[i].price);
        assert_string_equal(got->r[i].key, replay_expected[i].user);
    }
    sr_click_decoder_destroy(dec);
    records_free(got);
}

static void test_replay_count_takes_the_earliest_events(void **state) {
    fixture_t *f = *state;
    create_topic(f, "replay.count", 2);
    char *argv[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv", "--topic",
                    "replay.count", "--count", "3", "--max", "-X", f->bootstrap_arg, NULL};
    run_ok(sr_cmd_replay, argv);
    records_t *got = consume_all(f, "replay.count", 2, 3);
    assert_int_equal(got->n, 3);
    sr_click_decoder_t *dec = new_decoder();
    for (size_t i = 0; i < got->n; i++) {
        sr_event_t ev;
        decode(dec, &got->r[i], &ev);
        assert_true(ev.ts_ms <= 1767225630000LL); /* the three earliest rows */
        assert_int_equal(got->r[i].key_len, ev.user_id.len);
        assert_memory_equal(got->r[i].key, ev.user_id.ptr, ev.user_id.len);
    }
    sr_click_decoder_destroy(dec);
    records_free(got);
}

static void test_replay_reads_diginetica(void **state) {
    fixture_t *f = *state;
    create_topic(f, "replay.diginetica", 1);
    char *argv[] = {"replay", "--input", FIXTURE_DIGINETICA, "--format", "diginetica",
                    "--topic", "replay.diginetica", "-X", f->bootstrap_arg, NULL};
    run_ok(sr_cmd_replay, argv);
    records_t *got = consume_all(f, "replay.diginetica", 1, 3);
    assert_int_equal(got->n, 3);
    /* the day before comes first; anonymous sessions are users "s<session>" */
    const char *keys[] = {"42", "s7", "s7"}, *items[] = {"9654", "81766", "31331"};
    sr_click_decoder_t *dec = new_decoder();
    for (size_t i = 0; i < got->n; i++) {
        sr_event_t ev;
        decode(dec, &got->r[i], &ev);
        assert_string_equal(got->r[i].key, keys[i]);
        assert_true(str_is(ev.item_id, items[i]));
    }
    sr_click_decoder_destroy(dec);
    records_free(got);
}

static void test_replay_speed_keeps_the_event_time_gaps(void **state) {
    fixture_t *f = *state;
    create_topic(f, "replay.speed", 1);
    /* the fixture spans 180 s of event time: 0.3 s at 600x */
    char *argv[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv", "--topic",
                    "replay.speed", "--speed", "600", "-X", f->bootstrap_arg, NULL};
    double start = sr_clock_mono_s();
    run_ok(sr_cmd_replay, argv);
    assert_true(sr_clock_mono_s() - start >= 0.29); /* lower bound only, as above */
    records_t *got = consume_all(f, "replay.speed", 1, REPLAY_N);
    assert_int_equal(got->n, REPLAY_N);
    records_free(got);
}

/* ---- bad arguments ----------------------------------------------------- */

static void test_bad_arguments_exit_2_and_say_what_is_wrong(void **state) {
    fixture_t *f = *state;
    char err[4096];

    char *no_topic[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv", "-X",
                        f->bootstrap_arg, NULL};
    assert_int_equal(run_cmd(sr_cmd_replay, no_topic, err, sizeof err), 2);
    assert_non_null(strstr(err, "streamrec replay: --topic T is required"));

    char *bad_format[] = {"replay", "--input", FIXTURE_CSV, "--format", "parquet", "--topic",
                          "t", "-X", f->bootstrap_arg, NULL};
    assert_int_equal(run_cmd(sr_cmd_replay, bad_format, err, sizeof err), 2);
    assert_non_null(strstr(err, "streamrec replay: unknown format 'parquet' (streamrec-csv, "
                                "diginetica, movielens)"));

    char *both_paces[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv",
                          "--topic", "t", "--max", "--speed", "2", NULL};
    assert_int_equal(run_cmd(sr_cmd_replay, both_paces, err, sizeof err), 2);
    assert_non_null(strstr(err, "--max and --speed exclude each other"));

    char *no_bootstrap[] = {"replay", "--input", FIXTURE_CSV, "--format", "streamrec-csv",
                            "--topic", "t", NULL};
    assert_int_equal(run_cmd(sr_cmd_replay, no_bootstrap, err, sizeof err), 2);
    assert_non_null(strstr(err, "set kafka.bootstrap.servers"));

    char *gen_nowhere[] = {"gen", "--users", "10", NULL};
    assert_int_equal(run_cmd(sr_cmd_gen, gen_nowhere, err, sizeof err), 2);
    assert_non_null(strstr(err, "streamrec gen: --csv FILE or --topic T is required"));

    char *gen_both[] = {"gen", "--csv", "-", "--topic", "t", NULL};
    assert_int_equal(run_cmd(sr_cmd_gen, gen_both, err, sizeof err), 2);
    assert_non_null(strstr(err, "--csv and --topic exclude each other"));

    char *gen_bad_rate[] = {"gen", "--topic", "t", "--rate", "fast", "-X", f->bootstrap_arg,
                            NULL};
    assert_int_equal(run_cmd(sr_cmd_gen, gen_bad_rate, err, sizeof err), 2);
    assert_non_null(strstr(err, "--rate: 'fast' is not a number"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace_rate_spaces_events_evenly_from_the_first),
        cmocka_unit_test(test_pace_event_time_divides_gaps_by_the_speed),
        cmocka_unit_test(test_pace_max_never_waits),
        cmocka_unit_test(test_producer_reports_undelivered_records),
        cmocka_unit_test(test_producer_stops_at_once_when_told_to),
        cmocka_unit_test(test_producer_rejects_a_rate_of_zero),
        cmocka_unit_test(test_gen_produces_the_synthetic_stream_keyed_by_user),
        cmocka_unit_test(test_gen_is_deterministic_for_a_seed),
        cmocka_unit_test(test_gen_rate_is_not_exceeded),
        cmocka_unit_test(test_replay_produces_the_rows_in_event_time_order),
        cmocka_unit_test(test_replay_count_takes_the_earliest_events),
        cmocka_unit_test(test_replay_reads_diginetica),
        cmocka_unit_test(test_replay_speed_keeps_the_event_time_gaps),
        cmocka_unit_test(test_bad_arguments_exit_2_and_say_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
