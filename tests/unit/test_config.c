/* Unit tests for the configuration table (include/streamrec/config.h):
 * defaults, the properties file, -X, the environment, kafka.* passthrough,
 * validation and the reference table. Config files are written into a fresh
 * mkdtemp() directory that the group teardown removes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamrec/config.h"

#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)
#define MINUTE_MS INT64_C(60000)

static char test_dir[] = "/tmp/sr_test_config_XXXXXX";
static char written[8][512];
static size_t n_written;

static int setup_dir(void **state) {
    (void)state;
    return mkdtemp(test_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    for (size_t i = 0; i < n_written; i++) unlink(written[i]);
    return rmdir(test_dir);
}

/* Writes a config file into the test directory; returns its path. */
static const char *write_conf(const char *name, const char *content) {
    assert_true(n_written < sizeof written / sizeof written[0]);
    char *path = written[n_written++];
    snprintf(path, sizeof written[0], "%s/%s", test_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Sets key=value from "-X" and expects the error message `expected`. */
static void assert_set_fails(const char *key, const char *value, const char *expected) {
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, key, value, "-X", errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, expected);
    sr_config_free(&cfg);
}

static void test_config_defaults_equal_engine_defaults(void **state) {
    (void)state;
    sr_config_t cfg;
    sr_engine_config_t engine;
    char errstr[256] = "";
    sr_config_init(&cfg);
    sr_engine_config_defaults(&engine);
    assert_memory_equal(&cfg.engine, &engine, sizeof engine);
    assert_string_equal(cfg.io.input_topics, "clicks");
    assert_string_equal(cfg.io.input_group_id, "streamrec");
    assert_string_equal(cfg.io.input_format, "confluent");
    assert_string_equal(cfg.io.input_schema_file, "");
    assert_string_equal(cfg.io.schema_registry_url, "");
    assert_int_equal(cfg.io.schema_registry_timeout_ms, 30000);
    assert_string_equal(cfg.io.redis_url, "redis://127.0.0.1:6379");
    assert_int_equal(cfg.io.redis_key_ttl_s, 604800);
    assert_string_equal(cfg.io.redis_reco_format, "json");
    assert_string_equal(cfg.io.output_reco_topic, "reco.updates");
    assert_string_equal(cfg.io.output_churn_topic, "churn.alerts");
    assert_string_equal(cfg.io.dlq_topic, "");
    assert_int_equal(cfg.io.batch_max_ms, 10);
    assert_int_equal(cfg.io.batch_backlog_max_ms, 250);
    assert_int_equal(cfg.io.batch_max_users, 20000);
    assert_string_equal(cfg.io.http_listen, "");
    assert_string_equal(cfg.io.checkpoint_dir, "");
    assert_int_equal(cfg.io.checkpoint_keep, 3);
    assert_int_equal(cfg.n_kafka, 0);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_OK);
    sr_config_free(&cfg);
}

static void test_config_file_with_comments_blank_lines_and_whitespace_sets_values(void **state) {
    (void)state;
    const char *path = write_conf("values.conf",
                                  "# streamrec test config\n"
                                  "! a properties-style comment\n"
                                  "\n"
                                  "   \t\n"
                                  "  mf.k =  64  \n"
                                  "\treco.exclude.seen=false\r\n"
                                  "input.topics = clicks-eu, clicks-us \n"
                                  "event.weight.add_to_cart=2.5\n"
                                  "redis.url=redis://cache:6380/2#not-a-comment\n"
                                  "http.listen=\n"
                                  "mf.k=48\n");
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_OK);
    assert_int_equal(cfg.engine.mf.k, 48); /* a later line wins */
    assert_false(cfg.engine.reco.exclude_seen);
    assert_string_equal(cfg.io.input_topics, "clicks-eu, clicks-us");
    assert_true(cfg.engine.event_weight[SR_EVENT_ADD_TO_CART] == 2.5f);
    assert_string_equal(cfg.io.redis_url, "redis://cache:6380/2#not-a-comment");
    assert_string_equal(cfg.io.http_listen, "");
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_OK);
    sr_config_free(&cfg);
}

static void test_config_checkpoint_keep_below_one_is_refused(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "checkpoint.dir", "/var/lib/streamrec", "-X", errstr,
                                   sizeof errstr),
                     SR_OK);
    assert_string_equal(cfg.io.checkpoint_dir, "/var/lib/streamrec");
    assert_int_equal(sr_config_set(&cfg, "checkpoint.keep", "0", "-X", errstr, sizeof errstr),
                     SR_ERR_CONFIG);
    assert_non_null(strstr(errstr, "checkpoint.keep"));
    assert_int_equal(cfg.io.checkpoint_keep, 3);
    sr_config_free(&cfg);
}

static void test_config_file_unknown_key_names_file_and_line(void **state) {
    (void)state;
    const char *path = write_conf("unknown.conf", "# first\nmf.k=16\nreco.kk=5\nmf.k=99\n");
    sr_config_t cfg;
    char errstr[512] = "", expected[512];
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_ERR_CONFIG);
    snprintf(expected, sizeof expected, "%s:3: unknown key 'reco.kk'; did you mean 'reco.k'?",
             path);
    assert_string_equal(errstr, expected);
    assert_int_equal(cfg.engine.mf.k, 16); /* loading stopped at the bad line */
    sr_config_free(&cfg);
}

static void test_config_file_bad_value_names_file_line_and_key(void **state) {
    (void)state;
    const char *path = write_conf("badvalue.conf", "\n\nmf.k = 0\n");
    sr_config_t cfg;
    char errstr[512] = "", expected[512];
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_ERR_CONFIG);
    snprintf(expected, sizeof expected, "%s:3: key 'mf.k': '0' is below the minimum 1", path);
    assert_string_equal(errstr, expected);
    sr_config_free(&cfg);
}

static void test_config_file_line_without_equals_is_an_error_naming_the_line(void **state) {
    (void)state;
    const char *path = write_conf("noequals.conf", "mf.k=8\nmf.negatives 3\n");
    sr_config_t cfg;
    char errstr[512] = "", expected[512];
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_ERR_CONFIG);
    snprintf(expected, sizeof expected, "%s:2: expected key=value, got 'mf.negatives 3'", path);
    assert_string_equal(errstr, expected);
    sr_config_free(&cfg);
}

static void test_config_stream_parses_like_a_file_and_names_its_source(void **state) {
    (void)state;
    static const char text[] = "\xEF\xBB\xBF# memory\nmf.k = 12\n! note\nreco.kk=1\n";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    assert_non_null(f);
    sr_config_t cfg;
    char errstr[512] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_stream(&cfg, f, "mem.conf", errstr, sizeof errstr),
                     SR_ERR_CONFIG);
    assert_string_equal(errstr, "mem.conf:4: unknown key 'reco.kk'; did you mean 'reco.k'?");
    assert_int_equal(cfg.engine.mf.k, 12);
    fclose(f);
    sr_config_free(&cfg);
}

static void test_config_missing_file_says_cannot_open(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[512] = "", path[512], expected[600];
    snprintf(path, sizeof path, "%s/does-not-exist.conf", test_dir);
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_ERR_IO);
    snprintf(expected, sizeof expected, "%s: cannot open: No such file or directory", path);
    assert_string_equal(errstr, expected);
    sr_config_free(&cfg);
}

static void test_config_unknown_key_without_close_match_has_no_suggestion(void **state) {
    (void)state;
    assert_set_fails("zzz", "1", "-X: unknown key 'zzz'");
    assert_set_fails("churn.horizon.hours", "1",
                     "-X: unknown key 'churn.horizon.hours'; did you mean 'churn.horizon.days'?");
}

static void test_config_bad_number_is_rejected(void **state) {
    (void)state;
    assert_set_fails("mf.k", "abc", "-X: key 'mf.k': 'abc' is not a number");
    assert_set_fails("mf.k", "", "-X: key 'mf.k': '' is not a number");
    assert_set_fails("mf.k", "12abc", "-X: key 'mf.k': '12abc' is not a number");
    assert_set_fails("mf.learning.rate", "nan", "-X: key 'mf.learning.rate': 'nan' is not a number");
    assert_set_fails("mf.k", "1.5", "-X: key 'mf.k': '1.5' is not a whole number");
    assert_set_fails("time.lateness.ms", "0.5",
                     "-X: key 'time.lateness.ms': '0.5' is not a whole number");
}

static void test_config_value_below_minimum_is_rejected(void **state) {
    (void)state;
    assert_set_fails("mf.k", "0", "-X: key 'mf.k': '0' is below the minimum 1");
    assert_set_fails("event.weight.view", "-11",
                     "-X: key 'event.weight.view': '-11' is below the minimum -10");
    assert_set_fails("mf.seed", "-1", "-X: key 'mf.seed': '-1' is below the minimum 0");
    /* half-lives and learning rates exclude 0: they are divided by or vanish */
    assert_set_fails("mf.learning.rate", "0", "-X: key 'mf.learning.rate': '0' must be above 0");
    assert_set_fails("sim.half.life.days", "0", "-X: key 'sim.half.life.days': '0' must be above 0");
    assert_set_fails("churn.horizon.days", "1e-12",
                     "-X: key 'churn.horizon.days': '1e-12' is less than 1 ms");
}

static void test_config_value_above_maximum_is_rejected(void **state) {
    (void)state;
    assert_set_fails("mf.k", "300", "-X: key 'mf.k': '300' is above the maximum 256");
    assert_set_fails("mf.negative.pool", "2000000",
                     "-X: key 'mf.negative.pool': '2000000' is above the maximum 1000000");
    assert_set_fails("churn.enter.threshold", "1.01",
                     "-X: key 'churn.enter.threshold': '1.01' is above the maximum 1");
    assert_set_fails("time.lateness.ms", "86400001",
                     "-X: key 'time.lateness.ms': '86400001' is above the maximum 86400000");
    assert_set_fails("mf.seed", "18446744073709551616",
                     "-X: key 'mf.seed': '18446744073709551616' is above the maximum "
                     "18446744073709551615");
}

static void test_config_bad_bool_is_rejected_and_every_spelling_is_accepted(void **state) {
    (void)state;
    assert_set_fails("mf.adagrad", "maybe",
                     "-X: key 'mf.adagrad': 'maybe' is not a boolean (true/false)");
    static const struct {
        const char *text;
        bool value;
    } spellings[] = {{"true", true}, {"TRUE", true}, {"yes", true},   {"on", true},
                     {"1", true},    {"false", false}, {"No", false}, {"off", false},
                     {"0", false}};
    sr_config_t cfg;
    sr_config_init(&cfg);
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        cfg.engine.mf.adagrad = !spellings[i].value;
        assert_int_equal(sr_config_set(&cfg, "mf.adagrad", spellings[i].text, "-X", NULL, 0),
                         SR_OK);
        assert_int_equal(cfg.engine.mf.adagrad, spellings[i].value);
    }
    sr_config_free(&cfg);
}

static void test_config_bad_enum_is_rejected_and_lists_the_choices(void **state) {
    (void)state;
    assert_set_fails("redis.reco.format", "xml",
                     "-X: key 'redis.reco.format': 'xml' is not one of zset, json");
    assert_set_fails("input.format", "protobuf",
                     "-X: key 'input.format': 'protobuf' is not one of confluent, avro");
    sr_config_t cfg;
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "redis.reco.format", "JSON", "-X", NULL, 0), SR_OK);
    assert_string_equal(cfg.io.redis_reco_format, "json"); /* stored as the table spells it */
    sr_config_free(&cfg);
}

static void test_config_long_bad_value_is_cut_short_in_the_message(void **state) {
    (void)state;
    char value[200];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    char expected[256];
    snprintf(expected, sizeof expected, "-X: key 'mf.k': '%.40s...' is not a number", value);
    assert_set_fails("mf.k", value, expected);
}

static void test_config_rejected_value_leaves_the_old_value(void **state) {
    (void)state;
    sr_config_t cfg;
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "mf.k", "64", "-X", NULL, 0), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "mf.k", "999", "-X", NULL, 0), SR_ERR_CONFIG);
    assert_int_equal(cfg.engine.mf.k, 64);
    assert_int_equal(sr_config_set(&cfg, "input.topics", "", "-X", NULL, 0), SR_ERR_CONFIG);
    assert_string_equal(cfg.io.input_topics, "clicks");
    sr_config_free(&cfg);
}

static void test_config_uint64_seed_takes_the_whole_range(void **state) {
    (void)state;
    sr_config_t cfg;
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "mf.seed", "18446744073709551615", "-X", NULL, 0),
                     SR_OK);
    assert_true(cfg.engine.mf.seed == UINT64_MAX);
    assert_int_equal(sr_config_set(&cfg, "mf.seed", "7", "-X", NULL, 0), SR_OK);
    assert_true(cfg.engine.mf.seed == 7);
    sr_config_free(&cfg);
}

static void test_config_x_overrides_a_file_value(void **state) {
    (void)state;
    const char *path = write_conf("override.conf", "mf.k=16\nreco.k=10\n");
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set_pair(&cfg, " mf.k = 128 ", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(cfg.engine.mf.k, 128);
    assert_int_equal(cfg.engine.reco.k, 10);
    assert_int_equal(sr_config_set_pair(&cfg, "mf.k", "-X", errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "-X: expected key=value, got 'mf.k'");
    assert_int_equal(sr_config_set_pair(&cfg, "=3", "-X", errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "-X: expected key=value, got '=3'");
    sr_config_free(&cfg);
}

static void test_config_env_overrides_a_file_value(void **state) {
    (void)state;
    const char *path = write_conf("env.conf", "mf.k=16\nreco.k=10\n");
    char *envp[] = {"HOME=/root",
                    "STREAMREC_MF_K=64",
                    "STREAMREC_EVENT_WEIGHT_ADD_TO_CART= 4 ",
                    "STREAMREC_INPUT_TOPICS=a,b",
                    "STREAMRECX_IGNORED=1",
                    "PATH=/bin",
                    NULL};
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_load_env(&cfg, envp, errstr, sizeof errstr), SR_OK);
    assert_int_equal(cfg.engine.mf.k, 64);
    assert_int_equal(cfg.engine.reco.k, 10);
    assert_true(cfg.engine.event_weight[SR_EVENT_ADD_TO_CART] == 4.0f);
    assert_string_equal(cfg.io.input_topics, "a,b");
    sr_config_free(&cfg);
}

static void test_config_env_bad_value_names_the_variable(void **state) {
    (void)state;
    char *envp[] = {"STREAMREC_MF_K=0", NULL};
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_env(&cfg, envp, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "env STREAMREC_MF_K: key 'mf.k': '0' is below the minimum 1");
    sr_config_free(&cfg);
}

static void test_config_unknown_streamrec_env_var_is_an_error(void **state) {
    (void)state;
    char *typo[] = {"STREAMREC_MF_KK=3", NULL};
    char *unrelated[] = {"STREAMREC_COLOUR=blue", NULL};
    char *kafka[] = {"STREAMREC_KAFKA_LINGER_MS=2", NULL};
    sr_config_t cfg;
    char errstr[512] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_env(&cfg, typo, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr,
                        "env STREAMREC_MF_KK: unknown variable; did you mean STREAMREC_MF_K?");
    assert_int_equal(sr_config_load_env(&cfg, unrelated, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "env STREAMREC_COLOUR: unknown variable (no key has this name)");
    assert_int_equal(sr_config_load_env(&cfg, kafka, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_non_null(strstr(errstr, "env STREAMREC_KAFKA_LINGER_MS: "));
    assert_non_null(strstr(errstr, "use the config file or -X"));
    sr_config_free(&cfg);
}

static void test_config_env_bootstrap_servers_maps_to_kafka(void **state) {
    (void)state;
    char *envp[] = {"STREAMREC_KAFKA_BOOTSTRAP_SERVERS=broker:9092", NULL};
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_env(&cfg, envp, errstr, sizeof errstr), SR_OK);
    assert_int_equal(cfg.n_kafka, 1);
    assert_int_equal(cfg.kafka[0].side, SR_KAFKA_BOTH);
    assert_string_equal(cfg.kafka[0].key, "bootstrap.servers");
    assert_string_equal(cfg.kafka[0].value, "broker:9092");
    sr_config_free(&cfg);
}

static void env_name(const char *key, char *buf, size_t size) {
    size_t n = 0;
    for (; key[n] && n + 1 < size; n++)
        buf[n] = key[n] == '.' ? '_' : (char)toupper((unsigned char)key[n]);
    buf[n] = '\0';
}

/* Keys contain '_' as well as '.', so two keys could map to one variable. */
static void test_config_every_key_has_a_distinct_env_name(void **state) {
    (void)state;
    size_t n = sr_config_key_count();
    assert_null(sr_config_key_name(n));
    for (size_t i = 0; i < n; i++) {
        const char *key = sr_config_key_name(i);
        char name[128], other[128];
        env_name(key, name, sizeof name);
        for (size_t k = 0; k < i; k++) {
            env_name(sr_config_key_name(k), other, sizeof other);
            assert_string_not_equal(name, other);
        }
        /* and the variable reaches its key: a value no number, bool or enum
         * takes is either stored (strings) or rejected naming the key */
        char var[200], errstr[256] = "";
        char *envp[] = {var, NULL};
        snprintf(var, sizeof var, "STREAMREC_%s=?", name);
        sr_config_t cfg;
        sr_config_init(&cfg);
        if (sr_config_load_env(&cfg, envp, errstr, sizeof errstr) != SR_OK)
            assert_non_null(strstr(errstr, key));
        sr_config_free(&cfg);
    }
}

static void test_config_kafka_keys_pass_through_with_sides_and_replacement(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "kafka.bootstrap.servers", "a:9092", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.consumer.fetch.wait.max.ms", "5", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.producer.linger.ms", "2", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.bootstrap.servers", "b:9092", "-X", errstr, sizeof errstr), SR_OK);
    /* the same property for another side is a different entry */
    assert_int_equal(sr_config_set(&cfg, "kafka.producer.fetch.wait.max.ms", "7", "-X", errstr, sizeof errstr), SR_OK);

    assert_int_equal(cfg.n_kafka, 4);
    assert_int_equal(cfg.kafka[0].side, SR_KAFKA_BOTH);
    assert_string_equal(cfg.kafka[0].key, "bootstrap.servers");
    assert_string_equal(cfg.kafka[0].value, "b:9092"); /* replaced in place */
    assert_int_equal(cfg.kafka[1].side, SR_KAFKA_CONSUMER);
    assert_string_equal(cfg.kafka[1].key, "fetch.wait.max.ms");
    assert_string_equal(cfg.kafka[1].value, "5");
    assert_int_equal(cfg.kafka[2].side, SR_KAFKA_PRODUCER);
    assert_string_equal(cfg.kafka[2].key, "linger.ms");
    assert_string_equal(cfg.kafka[2].value, "2");
    assert_int_equal(cfg.kafka[3].side, SR_KAFKA_PRODUCER);
    assert_string_equal(cfg.kafka[3].key, "fetch.wait.max.ms");

    assert_int_equal(sr_config_set(&cfg, "kafka.", "x", "-X", errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "-X: key 'kafka.': no librdkafka property after the prefix");
    assert_int_equal(sr_config_set(&cfg, "kafka.consumer.", "x", "-X", errstr, sizeof errstr),
                     SR_ERR_CONFIG);
    assert_string_equal(errstr,
                        "-X: key 'kafka.consumer.': no librdkafka property after the prefix");
    assert_int_equal(cfg.n_kafka, 4);
    sr_config_free(&cfg);
}

static void test_config_kafka_props_of_one_side_put_the_specific_ones_last(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "kafka.producer.linger.ms", "9", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.consumer.fetch.wait.max.ms", "5", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.linger.ms", "1", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "kafka.bootstrap.servers", "a:9092", "-X", errstr, sizeof errstr), SR_OK);
    sr_kafka_kv_t props[4];
    /* applied in order, so the producer's own linger.ms=9 wins over kafka.linger.ms=1 */
    assert_int_equal(sr_config_kafka_props(&cfg, SR_KAFKA_PRODUCER, props), 3);
    assert_string_equal(props[0].key, "linger.ms");
    assert_string_equal(props[0].value, "1");
    assert_string_equal(props[1].key, "bootstrap.servers");
    assert_string_equal(props[2].key, "linger.ms");
    assert_string_equal(props[2].value, "9");
    assert_int_equal(sr_config_kafka_props(&cfg, SR_KAFKA_CONSUMER, props), 3);
    assert_string_equal(props[2].key, "fetch.wait.max.ms");
    sr_config_free(&cfg);
}

static void test_config_kafka_keys_in_a_file_pass_through(void **state) {
    (void)state;
    const char *path = write_conf("kafka.conf", "kafka.bootstrap.servers = localhost:9092\n"
                                                "kafka.consumer.enable.auto.offset.store=false\n");
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_load_file(&cfg, path, errstr, sizeof errstr), SR_OK);
    assert_int_equal(cfg.n_kafka, 2);
    assert_string_equal(cfg.kafka[0].value, "localhost:9092");
    assert_int_equal(cfg.kafka[1].side, SR_KAFKA_CONSUMER);
    assert_string_equal(cfg.kafka[1].key, "enable.auto.offset.store");
    sr_config_free(&cfg);
}

static void test_config_durations_convert_to_ms(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "churn.horizon.days", "30", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.churn.horizon_ms == 30 * DAY_MS);
    assert_int_equal(sr_config_set(&cfg, "profile.half.life.short.days", "0.5", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.profile.half_life_ms[0] == DAY_MS / 2);
    assert_int_equal(sr_config_set(&cfg, "sim.window.hours", "2", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.sim.window_ms == 2 * HOUR_MS);
    assert_int_equal(sr_config_set(&cfg, "profile.session.gap.minutes", "45", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.profile.session_gap_ms == 45 * MINUTE_MS);
    assert_int_equal(sr_config_set(&cfg, "time.lateness.ms", "250", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.lateness_ms == 250);
    assert_int_equal(sr_config_set(&cfg, "churn.sweep.interval.hours", "6", "-X", errstr, sizeof errstr), SR_OK);
    assert_true(cfg.engine.churn.sweep_interval_ms == 6 * HOUR_MS);
    sr_config_free(&cfg);
}

static void test_config_validate_catches_exit_above_enter(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "churn.exit.threshold", "0.9", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr,
                        "churn.exit.threshold (0.9) must not be above churn.enter.threshold (0.8)");
    assert_int_equal(sr_config_set(&cfg, "churn.enter.threshold", "0.9", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_OK); /* equal is fine */
    sr_config_free(&cfg);
}

/* Churn examples keep their creation time (a sweep's) in whole seconds. */
static void test_config_validate_catches_sweep_interval_below_a_second(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "churn.sweep.interval.hours", "0.0001", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr,
                        "churn.sweep.interval.hours must be a whole number of seconds "
                        "(360 ms is not)");
    assert_int_equal(sr_config_set(&cfg, "churn.sweep.interval.hours", "0.5", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_OK);
    sr_config_free(&cfg);
}

static void test_config_validate_catches_medium_level_above_high(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "churn.level.medium", "0.97", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "churn.level.medium (0.97) must not be above churn.level.high (0.95)");
    sr_config_free(&cfg);
}

static void test_config_validate_catches_reversed_half_lives(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "profile.half.life.short.days", "10", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "profile.half.life.short.days (10) must not be above "
                                "profile.half.life.medium.days (7)");
    sr_config_free(&cfg);
}

static void test_config_validate_catches_empty_topic_names(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "input.topics", "a,,b", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "input.topics: 'a,,b' has an empty topic name");
    assert_int_equal(sr_config_set(&cfg, "input.topics", " , ", "-X", errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_int_equal(sr_config_set(&cfg, "input.topics", "", "-X", errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "-X: key 'input.topics': must not be empty");
    sr_config_free(&cfg);
}

static void test_config_validate_schema_registry_url_and_its_conflicts(void **state) {
    (void)state;
    sr_config_t cfg;
    char errstr[256] = "";
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "schema.registry.url", "https://bob:pw@sr:8081", "-X",
                                   errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_OK);

    assert_int_equal(sr_config_set(&cfg, "schema.registry.url", "sr:8081", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_string_equal(errstr, "schema.registry.url: not http://host:port or https://host:port");

    assert_int_equal(sr_config_set(&cfg, "schema.registry.url", "http://sr:8081", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "input.format", "avro", "-X", errstr, sizeof errstr),
                     SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_non_null(strstr(errstr, "input.format=avro records carry no schema id"));

    assert_int_equal(sr_config_set(&cfg, "input.format", "confluent", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "input.schema.file", "click.avsc", "-X", errstr,
                                   sizeof errstr), SR_OK);
    assert_int_equal(sr_config_validate(&cfg, errstr, sizeof errstr), SR_ERR_CONFIG);
    assert_non_null(strstr(errstr, "input.schema.file and schema.registry.url are both set"));

    assert_int_equal(sr_config_set(&cfg, "schema.registry.timeout.ms", "50", "-X", errstr,
                                   sizeof errstr), SR_ERR_CONFIG);
    sr_config_free(&cfg);
}

static void test_config_dlq_topic_defaults_to_first_input_topic(void **state) {
    (void)state;
    sr_config_t cfg;
    char buf[256], small[8];
    sr_config_init(&cfg);
    assert_string_equal(sr_config_dlq_topic(&cfg, buf, sizeof buf), "clicks.dlq");
    assert_int_equal(sr_config_set(&cfg, "input.topics", " web-clicks , app-clicks", "-X", NULL, 0), SR_OK);
    assert_string_equal(sr_config_dlq_topic(&cfg, buf, sizeof buf), "web-clicks.dlq");
    assert_null(sr_config_dlq_topic(&cfg, small, sizeof small));
    assert_int_equal(sr_config_set(&cfg, "dlq.topic", "dead", "-X", NULL, 0), SR_OK);
    assert_string_equal(sr_config_dlq_topic(&cfg, buf, sizeof buf), "dead");
    sr_config_free(&cfg);
}

/* The reference, printed into a malloc'd string (caller frees). */
static char *print_reference(void) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    sr_config_print_reference(out);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void test_config_print_reference_lists_every_key(void **state) {
    (void)state;
    char *text = print_reference();
    assert_true(strncmp(text, "| key | default | description |\n|---|---|---|\n", 45) == 0);
    for (size_t i = 0; i < sr_config_key_count(); i++) {
        char row[128];
        snprintf(row, sizeof row, "\n| %s | ", sr_config_key_name(i));
        assert_non_null(strstr(text, row));
    }
    assert_non_null(strstr(text, "\n| kafka.* |  | "));
    /* defaults are compact and in the key's unit */
    assert_non_null(strstr(text, "\n| churn.horizon.days | 14 | "));
    assert_non_null(strstr(text, "\n| mf.learning.rate | 0.05 | "));
    assert_non_null(strstr(text, "\n| churn.l2 | 0.0001 | "));
    assert_non_null(strstr(text, "\n| mf.adagrad | true | "));
    assert_non_null(strstr(text, "\n| profile.session.gap.minutes | 30 | "));
    assert_non_null(strstr(text, "\n| time.lateness.ms | 5000 | "));
    assert_non_null(strstr(text, "\n| redis.reco.format | json | "));
    assert_non_null(strstr(text, "\n| mf.k | 32 | "));
    assert_non_null(strstr(text, "(1..256)"));
    free(text);
}

/* The printed defaults are the real ones: setting every key to the value in
 * its default column leaves a defaulted config unchanged. */
static void test_config_reference_defaults_parse_back_to_the_defaults(void **state) {
    (void)state;
    char *text = print_reference();
    sr_config_t cfg, defaults;
    char errstr[256] = "";
    sr_config_init(&cfg);
    sr_config_init(&defaults);
    /* scramble first, so the test sees that each key really is set */
    assert_int_equal(sr_config_set(&cfg, "mf.k", "7", "-X", NULL, 0), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "churn.l2", "3", "-X", NULL, 0), SR_OK);
    assert_int_equal(sr_config_set(&cfg, "input.format", "avro", "-X", NULL, 0), SR_OK);
    size_t rows = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        /* "| key | default | description |"; an empty default is "|  |" */
        if (strncmp(line, "|---", 4) == 0)
            continue;
        char *key = line + 2, *key_end = strstr(key, " | ");
        assert_non_null(key_end);
        *key_end = '\0';
        char *value = key_end + 3, *value_end = strstr(value, " | ");
        assert_non_null(value_end);
        *value_end = '\0';
        if (strcmp(key, "key") == 0 || strcmp(key, "kafka.*") == 0)
            continue;
        assert_int_equal(sr_config_set(&cfg, key, value, "reference", errstr, sizeof errstr), SR_OK);
        rows++;
    }
    assert_int_equal(rows, sr_config_key_count());
    assert_memory_equal(&cfg.engine, &defaults.engine, sizeof cfg.engine);
    assert_string_equal(cfg.io.input_format, defaults.io.input_format);
    assert_string_equal(cfg.io.dlq_topic, "");
    assert_int_equal(cfg.io.redis_key_ttl_s, defaults.io.redis_key_ttl_s);
    sr_config_free(&cfg);
    sr_config_free(&defaults);
    free(text);
}

/* STYLE.md: the README's reference must not drift from the table. Skipped
 * until the README has the table. */
static void test_config_readme_lists_every_key(void **state) {
    (void)state;
    FILE *f = fopen(SR_SOURCE_DIR "/README.md", "r");
    if (!f) {
        skip();
        return;
    }
    char *readme = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&readme, &size);
    assert_non_null(out);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, out);
    fclose(f);
    assert_int_equal(fclose(out), 0);
    if (!strstr(readme, "| key | default | description |")) {
        free(readme);
        skip();
        return;
    }
    for (size_t i = 0; i < sr_config_key_count(); i++) {
        char row[128];
        snprintf(row, sizeof row, "| %s |", sr_config_key_name(i));
        if (!strstr(readme, row))
            fail_msg("README.md has no row for '%s'; paste `streamrec --help-config`",
                     sr_config_key_name(i));
    }
    free(readme);
}

static void test_config_free_twice_is_harmless(void **state) {
    (void)state;
    sr_config_t cfg;
    sr_config_init(&cfg);
    assert_int_equal(sr_config_set(&cfg, "kafka.linger.ms", "1", "-X", NULL, 0), SR_OK);
    sr_config_free(&cfg);
    sr_config_free(&cfg);
    sr_config_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_equal_engine_defaults),
        cmocka_unit_test(test_config_file_with_comments_blank_lines_and_whitespace_sets_values),
        cmocka_unit_test(test_config_file_unknown_key_names_file_and_line),
        cmocka_unit_test(test_config_file_bad_value_names_file_line_and_key),
        cmocka_unit_test(test_config_file_line_without_equals_is_an_error_naming_the_line),
        cmocka_unit_test(test_config_stream_parses_like_a_file_and_names_its_source),
        cmocka_unit_test(test_config_missing_file_says_cannot_open),
        cmocka_unit_test(test_config_unknown_key_without_close_match_has_no_suggestion),
        cmocka_unit_test(test_config_bad_number_is_rejected),
        cmocka_unit_test(test_config_value_below_minimum_is_rejected),
        cmocka_unit_test(test_config_value_above_maximum_is_rejected),
        cmocka_unit_test(test_config_bad_bool_is_rejected_and_every_spelling_is_accepted),
        cmocka_unit_test(test_config_bad_enum_is_rejected_and_lists_the_choices),
        cmocka_unit_test(test_config_long_bad_value_is_cut_short_in_the_message),
        cmocka_unit_test(test_config_rejected_value_leaves_the_old_value),
        cmocka_unit_test(test_config_uint64_seed_takes_the_whole_range),
        cmocka_unit_test(test_config_x_overrides_a_file_value),
        cmocka_unit_test(test_config_env_overrides_a_file_value),
        cmocka_unit_test(test_config_env_bad_value_names_the_variable),
        cmocka_unit_test(test_config_unknown_streamrec_env_var_is_an_error),
        cmocka_unit_test(test_config_env_bootstrap_servers_maps_to_kafka),
        cmocka_unit_test(test_config_every_key_has_a_distinct_env_name),
        cmocka_unit_test(test_config_kafka_keys_pass_through_with_sides_and_replacement),
        cmocka_unit_test(test_config_kafka_props_of_one_side_put_the_specific_ones_last),
        cmocka_unit_test(test_config_kafka_keys_in_a_file_pass_through),
        cmocka_unit_test(test_config_durations_convert_to_ms),
        cmocka_unit_test(test_config_validate_catches_exit_above_enter),
        cmocka_unit_test(test_config_validate_catches_medium_level_above_high),
        cmocka_unit_test(test_config_validate_catches_sweep_interval_below_a_second),
        cmocka_unit_test(test_config_validate_catches_reversed_half_lives),
        cmocka_unit_test(test_config_validate_catches_empty_topic_names),
        cmocka_unit_test(test_config_validate_schema_registry_url_and_its_conflicts),
        cmocka_unit_test(test_config_dlq_topic_defaults_to_first_input_topic),
        cmocka_unit_test(test_config_print_reference_lists_every_key),
        cmocka_unit_test(test_config_reference_defaults_parse_back_to_the_defaults),
        cmocka_unit_test(test_config_readme_lists_every_key),
        cmocka_unit_test(test_config_free_twice_is_harmless),
        cmocka_unit_test(test_config_checkpoint_keep_below_one_is_refused),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
