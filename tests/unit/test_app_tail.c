/* streamrec tail: output records come out as JSON that parses back to the
 * same values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app/tail.h"

static void test_tail_reco_json_round_trips_with_escaped_ids(void **state) {
    (void)state;
    char errstr[256];
    sr_output_encoder_t *enc = sr_output_encoder_new(errstr, sizeof errstr);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    assert_non_null(enc);
    assert_non_null(dec);
    sr_scored_id_t items[] = {{"i\"1\\", 0.75f}, {"i2\n", 0.5f}};
    sr_reco_record_t rec = {.user_id = "u\"quoted\"", .items = items, .n_items = 2,
                            .model_version = 7, .event_ts_ms = 1767225600000LL,
                            .produced_ts_ms = 1767225600123LL, .seq = 42};
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(sr_encode_reco(enc, &rec, 2, buf, sizeof buf, &len, errstr, sizeof errstr),
                     SR_OK);
    char *line = sr_tail_json(dec, SR_TAIL_RECO, buf, len, errstr, sizeof errstr);
    assert_non_null(line);
    assert_null(strchr(line, '\n')); /* one line, whatever the ids hold */
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "user_id")), "u\"quoted\"");
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 42);
    assert_int_equal(json_integer_value(json_object_get(o, "event_ts_ms")), 1767225600000LL);
    json_t *list = json_object_get(o, "items");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "item_id")),
                        "i\"1\\");
    assert_float_equal(json_real_value(json_object_get(json_array_get(list, 1), "score")), 0.5,
                       1e-6);
    json_decref(o);
    free(line);
    /* not a reco record: an error, not a crash */
    assert_null(sr_tail_json(dec, SR_TAIL_RECO, "junk", 4, errstr, sizeof errstr));
    sr_output_decoder_destroy(dec);
    sr_output_encoder_destroy(enc);
}

static void test_tail_alert_json_has_state_level_and_features(void **state) {
    (void)state;
    char errstr[256];
    sr_output_encoder_t *enc = sr_output_encoder_new(errstr, sizeof errstr);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    sr_feature_weight_t features[] = {{"recency_hours", 1.5}, {"activity_7d", 0.25}};
    sr_alert_record_t rec = {.alert_id = "00ff00ff00ff00ff", .user_id = "u9", .probability = 0.91,
                             .level = SR_ALERT_MEDIUM, .state = SR_ALERT_FIRING,
                             .last_seen_ms = 1000, .features = features, .n_features = 2,
                             .event_ts_ms = 2000};
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(sr_encode_alert(enc, &rec, 3, buf, sizeof buf, &len, errstr, sizeof errstr),
                     SR_OK);
    char *line = sr_tail_json(dec, SR_TAIL_ALERT, buf, len, errstr, sizeof errstr);
    assert_non_null(line);
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "alert_id")), "00ff00ff00ff00ff");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "FIRING");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "MEDIUM");
    assert_float_equal(json_real_value(json_object_get(o, "probability")), 0.91, 1e-9);
    json_t *top = json_object_get(o, "top_features");
    assert_int_equal(json_array_size(top), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "feature")),
                        "recency_hours");
    json_decref(o);
    free(line);
    sr_output_decoder_destroy(dec);
    sr_output_encoder_destroy(enc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_reco_json_round_trips_with_escaped_ids),
        cmocka_unit_test(test_tail_alert_json_has_state_level_and_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
