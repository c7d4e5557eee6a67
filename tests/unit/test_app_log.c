/* log: text and JSON lines, levels, escaping, the rate limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"

/* Everything written to f since the start, NUL-terminated. */
static char *contents(FILE *f) {
    fflush(f);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    return text;
}

static void test_log_json_line_parses_with_every_context_field(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sr_log_configure(SR_LOG_JSON, SR_LOG_INFO, f);
    sr_log_ctx_t ctx = {.component = "pipeline", .topic = "clicks", .partition = 3,
                        .offset = 1234567890123LL, .error = "bad \"magic\"\nbyte"};
    sr_log(SR_LOG_WARN, &ctx, "record %d sent to the %s", 7, "DLQ");
    char *text = contents(f);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "record 7 sent to the DLQ");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "pipeline");
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "clicks");
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 1234567890123LL);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "bad \"magic\"\nbyte");
    const char *when = json_string_value(json_object_get(o, "time"));
    assert_non_null(when);
    assert_int_equal(strlen(when), strlen("2026-01-01T12:00:00.123Z"));
    assert_int_equal(when[10], 'T');
    assert_int_equal(when[23], 'Z');
    json_decref(o);
    free(text);
    fclose(f);
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, NULL);
}

/* absent fields are left out; invalid UTF-8 and control bytes still give JSON */
static void test_log_json_without_context_and_with_bad_bytes_still_parses(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sr_log_configure(SR_LOG_JSON, SR_LOG_DEBUG, f);
    sr_log(SR_LOG_ERROR, NULL, "id \xff\xfe tab\there \x01 caf\xc3\xa9");
    sr_log_kafka("kafka.consumer", 7, NULL, "FETCH", "debug line");
    char *text = contents(f);
    char *second = strchr(text, '\n') + 1;
    json_t *o = json_loadb(text, (size_t)(second - text), 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "id \xef\xbf\xbd\xef\xbf\xbd tab\there \x01 caf\xc3\xa9");
    assert_null(json_object_get(o, "partition"));
    assert_null(json_object_get(o, "topic"));
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    json_decref(o);
    o = json_loads(second, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "debug");
    assert_string_equal(json_string_value(json_object_get(o, "facility")), "FETCH");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "kafka.consumer");
    json_decref(o);
    free(text);
    fclose(f);
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, NULL);
}

static void test_log_text_line_has_fields_quoted_when_needed(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, f);
    sr_log_ctx_t ctx = SR_LOG_CTX("pipeline");
    ctx.topic = "clicks";
    ctx.partition = 0;
    ctx.error = "connection refused";
    sr_log(SR_LOG_WARN, &ctx, "Redis write failed");
    char *text = contents(f);
    /* time first, then level, component, message, fields */
    const char *rest = strchr(text, ' ');
    assert_non_null(rest);
    assert_string_equal(rest, " warn pipeline: Redis write failed topic=clicks partition=0 "
                              "error=\"connection refused\"\n");
    free(text);
    fclose(f);
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, NULL);
}

static void test_log_drops_lines_below_the_level_and_maps_kafka_levels(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sr_log_configure(SR_LOG_TEXT, SR_LOG_WARN, f);
    sr_log(SR_LOG_INFO, NULL, "not shown");
    sr_log(SR_LOG_DEBUG, NULL, "not shown");
    sr_log_kafka("kafka.producer", 6, NULL, "CONNECT", "not shown");
    sr_log_kafka("kafka.producer", 4, NULL, "REQTMOUT", "shown");
    sr_log_kafka("kafka.producer", 3, "_ALL_BROKERS_DOWN", "ERROR", "shown too");
    char *text = contents(f);
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, " warn kafka.producer: shown facility=REQTMOUT\n"));
    assert_non_null(
        strstr(text, " error kafka.producer: shown too facility=ERROR error=_ALL_BROKERS_DOWN\n"));
    assert_false(sr_log_enabled(SR_LOG_INFO));
    assert_true(sr_log_enabled(SR_LOG_ERROR));
    free(text);
    fclose(f);
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, NULL);
}

/* a message far beyond the line buffer is cut, and the JSON still parses */
static void test_log_long_message_is_cut_to_one_valid_object(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sr_log_configure(SR_LOG_JSON, SR_LOG_INFO, f);
    size_t n = 100000;
    char *huge = malloc(n + 1);
    memset(huge, '"', n); /* every byte escapes to two */
    huge[n] = '\0';
    sr_log_kafka("kafka.consumer", 3, huge, "ERROR", huge);
    char *text = contents(f);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_true(strlen(json_string_value(json_object_get(o, "message"))) > 1000);
    assert_true(json_is_true(json_object_get(o, "cut")));
    json_decref(o);
    free(text);
    free(huge);
    fclose(f);
    sr_log_configure(SR_LOG_TEXT, SR_LOG_INFO, NULL);
}

static void test_log_limit_allows_a_burst_then_counts_the_rest(void **state) {
    (void)state;
    sr_log_limit_t limit = {.burst = 3};
    uint64_t suppressed = 99;
    for (int i = 0; i < 3; i++) {
        assert_true(sr_log_allow(&limit, &suppressed));
        assert_int_equal(suppressed, 0);
    }
    for (int i = 0; i < 5; i++) assert_false(sr_log_allow(&limit, &suppressed));
    limit.window_ms -= 1000; /* as if a second passed */
    assert_true(sr_log_allow(&limit, &suppressed));
    assert_int_equal(suppressed, 5);
}

static void test_log_parses_format_and_level_names(void **state) {
    (void)state;
    sr_log_format_t fmt;
    sr_log_level_t level;
    assert_int_equal(sr_log_format_parse("json", &fmt), SR_OK);
    assert_int_equal(fmt, SR_LOG_JSON);
    assert_int_equal(sr_log_format_parse("xml", &fmt), SR_ERR_CONFIG);
    assert_int_equal(sr_log_level_parse("debug", &level), SR_OK);
    assert_int_equal(level, SR_LOG_DEBUG);
    assert_int_equal(sr_log_level_parse("verbose", &level), SR_ERR_CONFIG);
    assert_string_equal(sr_log_level_name(SR_LOG_WARN), "warn");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_json_line_parses_with_every_context_field),
        cmocka_unit_test(test_log_json_without_context_and_with_bad_bytes_still_parses),
        cmocka_unit_test(test_log_text_line_has_fields_quoted_when_needed),
        cmocka_unit_test(test_log_drops_lines_below_the_level_and_maps_kafka_levels),
        cmocka_unit_test(test_log_long_message_is_cut_to_one_valid_object),
        cmocka_unit_test(test_log_limit_allows_a_burst_then_counts_the_rest),
        cmocka_unit_test(test_log_parses_format_and_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
