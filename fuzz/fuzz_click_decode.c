/* Fuzz target: the ClickEvent decoder on arbitrary Kafka message values, in
 * both framings, and the output-record decoders on the same bytes.
 *
 * Registered ids: 1 is the reader schema itself (the in-place fast path),
 * 2 an evolved writer (extra enum symbol, extra trailing field, no price),
 * so resolution, symbol mapping and field skipping are all reachable; any
 * other id exercises the unknown-schema path.
 *
 * Properties checked on every record that decodes: the decoder's own
 * promises (non-empty user_id, ts_ms >= 0, type in range) and that encoding
 * the decoded event and decoding it again gives the same event back. A
 * violated property aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/avro_codec.h"

#define EVOLVED_SCHEMA                                                                    \
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":[" \
    "{\"name\":\"event_id\",\"type\":\"string\"},"                                        \
    "{\"name\":\"user_id\",\"type\":\"string\"},"                                         \
    "{\"name\":\"item_id\",\"type\":\"string\"},"                                         \
    "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\","        \
    "\"symbols\":[\"UNKNOWN\",\"VIEW\",\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"PURCHASE\"," \
    "\"WISHLIST\"],\"default\":\"UNKNOWN\"}},"                                           \
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"                                             \
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null},"          \
    "{\"name\":\"category_id\",\"type\":[\"null\",\"string\"],\"default\":null},"         \
    "{\"name\":\"referrer\",\"type\":[\"null\",\"string\"],\"default\":null}]}"

static sr_click_decoder_t *dec, *dec2;
static sr_click_encoder_t *enc;
static sr_output_decoder_t *out_dec;

static void die(const char *what, const char *why) {
    fprintf(stderr, "fuzz_click_decode: %s: %s\n", what, why);
    abort();
}

/* Freed before LeakSanitizer's check at exit, so that check only sees what
 * decoding itself lost. */
static void teardown(void) {
    sr_click_decoder_destroy(dec);
    sr_click_decoder_destroy(dec2);
    sr_click_encoder_destroy(enc);
    sr_output_decoder_destroy(out_dec);
}

static void setup(void) {
    char errstr[512];
    if (!(dec = sr_click_decoder_new(errstr, sizeof errstr)) ||
        !(dec2 = sr_click_decoder_new(errstr, sizeof errstr)) ||
        !(enc = sr_click_encoder_new(errstr, sizeof errstr)) ||
        !(out_dec = sr_output_decoder_new(errstr, sizeof errstr)))
        die("setup", errstr);
    if (sr_click_decoder_add_schema(dec, 1, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                                    errstr, sizeof errstr) != SR_OK ||
        sr_click_decoder_add_schema(dec, 2, EVOLVED_SCHEMA, errstr, sizeof errstr) != SR_OK ||
        sr_click_decoder_add_schema(dec2, 1, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                                    errstr, sizeof errstr) != SR_OK)
        die("register schemas", errstr);
    atexit(teardown);
}

static int str_eq(sr_str_t a, sr_str_t b) {
    if ((a.ptr == NULL) != (b.ptr == NULL) || a.len != b.len)
        return 0;
    return a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Touches every byte of a borrowed string, so ASan sees a dangling one. */
static size_t touch(sr_str_t s) {
    size_t sum = 0;
    for (size_t i = 0; i < s.len; i++) sum += (unsigned char)s.ptr[i];
    return sum;
}

static void check_event(const sr_event_t *ev) {
    volatile size_t sink = touch(ev->event_id) + touch(ev->user_id) + touch(ev->item_id) +
                           touch(ev->session_id) + touch(ev->category_id);
    (void)sink;
    if (ev->user_id.len == 0)
        die("property", "decoded an empty user_id");
    if (ev->ts_ms < 0)
        die("property", "decoded a negative ts_ms");
    if ((unsigned)ev->type >= SR_EVENT__COUNT)
        die("property", "decoded an event type out of range");

    /* Round trip through the encoder and a second decoder. The encoder
     * needs the decoded strings only during the call. */
    static uint8_t buf[1 << 21];
    size_t len;
    char errstr[512];
    if (sr_click_encode(enc, ev, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len, errstr,
                        sizeof errstr) != SR_OK)
        return; /* larger than buf: nothing to compare */
    sr_event_t back;
    if (sr_click_decode(dec2, buf, len, SR_FRAMING_CONFLUENT, &back, NULL, errstr,
                        sizeof errstr) != SR_OK)
        die("round trip decode", errstr);
    if (!str_eq(ev->event_id, back.event_id) || !str_eq(ev->user_id, back.user_id) ||
        !str_eq(ev->item_id, back.item_id) || !str_eq(ev->session_id, back.session_id) ||
        !str_eq(ev->category_id, back.category_id) || ev->type != back.type ||
        ev->ts_ms != back.ts_ms || ev->has_price != back.has_price ||
        (ev->has_price && memcmp(&ev->price, &back.price, sizeof ev->price) != 0))
        die("round trip", "the event changed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dec)
        setup();
    char errstr[512];
    sr_event_t ev;
    int32_t id;
    if (sr_click_decode(dec, data, size, SR_FRAMING_CONFLUENT, &ev, &id, errstr,
                        sizeof errstr) == SR_OK)
        check_event(&ev);
    if (sr_click_decode(dec, data, size, SR_FRAMING_BARE, &ev, &id, errstr, sizeof errstr) ==
        SR_OK)
        check_event(&ev);

    sr_reco_record_t reco;
    sr_scored_id_t items[64];
    if (sr_decode_reco(out_dec, data, size, &reco, items, 64, &id, errstr, sizeof errstr) ==
        SR_OK) {
        volatile size_t sink = strlen(reco.user_id);
        for (size_t i = 0; i < reco.n_items; i++) sink += strlen(reco.items[i].item_id);
        (void)sink;
    }
    sr_alert_record_t alert;
    sr_feature_weight_t features[32];
    if (sr_decode_alert(out_dec, data, size, &alert, features, 32, &id, errstr,
                        sizeof errstr) == SR_OK) {
        volatile size_t sink = strlen(alert.alert_id) + strlen(alert.user_id);
        for (size_t i = 0; i < alert.n_features; i++) sink += strlen(alert.features[i].feature);
        (void)sink;
    }
    return 0;
}
