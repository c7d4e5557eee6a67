/* Confluent wire framing: header split and write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "streamrec/framing.h"

static void test_framing_parse_splits_header_and_payload(void **state) {
    (void)state;
    const uint8_t msg[] = {0, 0, 0, 0, 42, 0xde, 0xad};
    int32_t id = -1;
    const uint8_t *payload = NULL;
    size_t payload_len = 99;
    char errstr[128] = "";
    assert_int_equal(sr_framing_parse(msg, sizeof msg, &id, &payload, &payload_len, errstr,
                                      sizeof errstr),
                     SR_OK);
    assert_int_equal(id, 42);
    assert_ptr_equal(payload, msg + 5);
    assert_int_equal(payload_len, 2);
}

static void test_framing_parse_reads_schema_id_big_endian(void **state) {
    (void)state;
    const uint8_t msg[] = {0, 0x01, 0x02, 0x03, 0x04};
    int32_t id;
    const uint8_t *payload;
    size_t payload_len;
    assert_int_equal(sr_framing_parse(msg, sizeof msg, &id, &payload, &payload_len, NULL, 0),
                     SR_OK);
    assert_int_equal(id, 0x01020304);
}

static void test_framing_parse_header_only_gives_empty_payload(void **state) {
    (void)state;
    const uint8_t msg[] = {0, 0, 0, 0, 7};
    int32_t id;
    const uint8_t *payload;
    size_t payload_len = 99;
    assert_int_equal(sr_framing_parse(msg, sizeof msg, &id, &payload, &payload_len, NULL, 0),
                     SR_OK);
    assert_int_equal(id, 7);
    assert_int_equal(payload_len, 0);
}

static void test_framing_parse_empty_input_is_truncated(void **state) {
    (void)state;
    int32_t id;
    const uint8_t *payload;
    size_t payload_len;
    char errstr[128] = "";
    assert_int_equal(sr_framing_parse(NULL, 0, &id, &payload, &payload_len, errstr,
                                      sizeof errstr),
                     SR_ERR_TRUNCATED);
    assert_non_null(strstr(errstr, "truncated"));
}

static void test_framing_parse_1_to_4_bytes_is_truncated_and_leaves_outputs(void **state) {
    (void)state;
    const uint8_t msg[] = {0, 0, 0, 1, 2};
    for (size_t len = 1; len < 5; len++) {
        int32_t id = 1234;
        const uint8_t *payload = NULL;
        size_t payload_len = 99;
        char errstr[128] = "";
        assert_int_equal(sr_framing_parse(msg, len, &id, &payload, &payload_len, errstr,
                                          sizeof errstr),
                         SR_ERR_TRUNCATED);
        assert_int_equal(id, 1234);
        assert_null(payload);
        assert_int_equal(payload_len, 99);
        assert_non_null(strstr(errstr, "needs 5"));
    }
}

static void test_framing_parse_nonzero_magic_is_bad_magic(void **state) {
    (void)state;
    /* '{' is what a JSON producer's message starts with */
    const uint8_t msg[] = {'{', 0, 0, 0, 1, 2};
    int32_t id;
    const uint8_t *payload;
    size_t payload_len;
    char errstr[128] = "";
    assert_int_equal(sr_framing_parse(msg, sizeof msg, &id, &payload, &payload_len, errstr,
                                      sizeof errstr),
                     SR_ERR_BAD_MAGIC);
    assert_non_null(strstr(errstr, "0x7b"));
}

static void test_framing_parse_null_outputs_are_invalid(void **state) {
    (void)state;
    const uint8_t msg[] = {0, 0, 0, 0, 1};
    const uint8_t *payload;
    size_t payload_len;
    assert_int_equal(sr_framing_parse(msg, sizeof msg, NULL, &payload, &payload_len, NULL, 0),
                     SR_ERR_INVALID);
}

static void test_framing_write_header_round_trips_through_parse(void **state) {
    (void)state;
    const int32_t ids[] = {0, 1, 255, 256, 65536, 0x7fffffff, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint8_t hdr[SR_FRAMING_HEADER_SIZE];
        assert_int_equal(sr_framing_write_header(hdr, ids[i]), SR_FRAMING_HEADER_SIZE);
        assert_int_equal(hdr[0], 0);
        int32_t id;
        const uint8_t *payload;
        size_t payload_len;
        assert_int_equal(sr_framing_parse(hdr, sizeof hdr, &id, &payload, &payload_len, NULL, 0),
                         SR_OK);
        assert_int_equal(id, ids[i]);
    }
}

static void test_framing_write_header_is_big_endian(void **state) {
    (void)state;
    uint8_t hdr[SR_FRAMING_HEADER_SIZE];
    sr_framing_write_header(hdr, 0x0a0b0c0d);
    const uint8_t want[] = {0, 0x0a, 0x0b, 0x0c, 0x0d};
    assert_memory_equal(hdr, want, sizeof want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_parse_splits_header_and_payload),
        cmocka_unit_test(test_framing_parse_reads_schema_id_big_endian),
        cmocka_unit_test(test_framing_parse_header_only_gives_empty_payload),
        cmocka_unit_test(test_framing_parse_empty_input_is_truncated),
        cmocka_unit_test(test_framing_parse_1_to_4_bytes_is_truncated_and_leaves_outputs),
        cmocka_unit_test(test_framing_parse_nonzero_magic_is_bad_magic),
        cmocka_unit_test(test_framing_parse_null_outputs_are_invalid),
        cmocka_unit_test(test_framing_write_header_round_trips_through_parse),
        cmocka_unit_test(test_framing_write_header_is_big_endian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
