/* Avro codec: schema drift, ClickEvent round trips and schema evolution,
 * every class of malformed input, and the output record encoders.
 *
 * Records from writer schemas other than ours are built byte by byte with the
 * small Avro binary writer below, independent of the code under test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <avro.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/avro_codec.h"
#include "streamrec/engine.h"

#define CLICK_ID 7

/* ---- helpers ---------------------------------------------------------------- */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* JSON texts equal up to whitespace outside string literals: catches a doc,
 * default or logicalType edit that avro_schema_equal() ignores, while letting
 * either side be re-indented. */
static bool json_equal_ignoring_layout(const char *a, const char *b) {
    bool in_a = false, in_b = false;
    for (;;) {
        while (!in_a && (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r')) a++;
        while (!in_b && (*b == ' ' || *b == '\n' || *b == '\t' || *b == '\r')) b++;
        if (*a != *b)
            return false;
        if (!*a)
            return true;
        if (*a == '\\') { /* escaped char: compare it verbatim */
            a++, b++;
            if (*a != *b)
                return false;
            if (!*a)
                return true;
        } else if (*a == '"') {
            in_a = !in_a;
            in_b = !in_b;
        }
        a++, b++;
    }
}

static void assert_embedded_schema_matches_file(sr_avro_schema_kind_t kind, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/schemas/%s", SR_SOURCE_DIR, file);
    char *text = read_file(path);
    assert_non_null(text);
    const char *embedded = sr_avro_schema_json(kind);
    assert_non_null(embedded);

    avro_schema_t from_file = NULL, from_code = NULL;
    assert_int_equal(avro_schema_from_json_length(text, strlen(text), &from_file), 0);
    assert_int_equal(avro_schema_from_json_length(embedded, strlen(embedded), &from_code), 0);
    assert_true(avro_schema_equal(from_file, from_code));
    if (!json_equal_ignoring_layout(text, embedded))
        fail_msg("%s and the schema compiled into avro_codec.c differ (beyond whitespace); "
                 "regenerate the string from the file",
                 path);
    avro_schema_decref(from_file);
    avro_schema_decref(from_code);
    free(text);
}

/* A tiny Avro binary writer for hand-built records. */
typedef struct {
    uint8_t b[1024];
    size_t n;
} tb_t;

static void tb_long(tb_t *t, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        t->b[t->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    t->b[t->n++] = (uint8_t)z;
}

static void tb_str(tb_t *t, const char *s) {
    size_t len = strlen(s);
    tb_long(t, (int64_t)len);
    memcpy(t->b + t->n, s, len);
    t->n += len;
}

static void tb_double(tb_t *t, double d) { /* little-endian host */
    memcpy(t->b + t->n, &d, 8);
    t->n += 8;
}

static void tb_float(tb_t *t, float f) {
    memcpy(t->b + t->n, &f, 4);
    t->n += 4;
}

static void tb_confluent(tb_t *t, int32_t id) {
    t->n = 0;
    t->b[t->n++] = 0;
    t->b[t->n++] = (uint8_t)((uint32_t)id >> 24);
    t->b[t->n++] = (uint8_t)((uint32_t)id >> 16);
    t->b[t->n++] = (uint8_t)((uint32_t)id >> 8);
    t->b[t->n++] = (uint8_t)id;
}

static bool str_eq(sr_str_t s, const char *want) {
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static sr_click_decoder_t *new_decoder(void) {
    char errstr[256] = "";
    sr_click_decoder_t *dec = sr_click_decoder_new(errstr, sizeof errstr);
    if (!dec)
        fail_msg("sr_click_decoder_new: %s", errstr);
    if (sr_click_decoder_add_schema(dec, CLICK_ID, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                                    errstr, sizeof errstr) != SR_OK)
        fail_msg("add_schema: %s", errstr);
    return dec;
}

static sr_event_t full_event(void) {
    sr_event_t ev = {
        .event_id = sr_str_c("e-1"),
        .user_id = sr_str_c("u-42"),
        .item_id = sr_str_c("i-9"),
        .session_id = sr_str_c("s-3"),
        .category_id = sr_str_c("c-7"),
        .type = SR_EVENT_PURCHASE,
        .ts_ms = 1700000000123,
        .price = 19.99,
        .has_price = true,
    };
    return ev;
}

static sr_event_t minimal_event(void) {
    sr_event_t ev = {
        .event_id = sr_str_c("e-2"),
        .user_id = sr_str_c("u-1"),
        .item_id = sr_str_c(""),
        .type = SR_EVENT_VIEW,
        .ts_ms = 0,
    };
    return ev;
}

static size_t encode(const sr_event_t *ev, sr_framing_t framing, uint8_t *buf, size_t cap) {
    char errstr[256] = "";
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    if (!enc)
        fail_msg("sr_click_encoder_new: %s", errstr);
    size_t len = 0;
    if (sr_click_encode(enc, ev, framing, CLICK_ID, buf, cap, &len, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("sr_click_encode: %s", errstr);
    sr_click_encoder_destroy(enc);
    return len;
}

static void assert_events_equal(const sr_event_t *got, const sr_event_t *want) {
    const sr_str_t *g[] = {&got->event_id, &got->user_id, &got->item_id, &got->session_id,
                           &got->category_id};
    const sr_str_t *w[] = {&want->event_id, &want->user_id, &want->item_id, &want->session_id,
                           &want->category_id};
    for (int i = 0; i < 5; i++) {
        if (!w[i]->ptr) {
            assert_null(g[i]->ptr);
            assert_int_equal(g[i]->len, 0);
        } else {
            assert_non_null(g[i]->ptr);
            assert_int_equal(g[i]->len, w[i]->len);
            if (w[i]->len)
                assert_memory_equal(g[i]->ptr, w[i]->ptr, w[i]->len);
        }
    }
    assert_int_equal(got->type, want->type);
    assert_int_equal(got->ts_ms, want->ts_ms);
    assert_int_equal(got->has_price, want->has_price);
    if (want->has_price)
        assert_true(got->price == want->price);
}

static void round_trip(const sr_event_t *ev, sr_framing_t framing) {
    uint8_t buf[256];
    size_t len = encode(ev, framing, buf, sizeof buf);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    int32_t id = 12345;
    char errstr[256] = "";
    if (sr_click_decode(dec, buf, len, framing, &out, &id, errstr, sizeof errstr) != SR_OK)
        fail_msg("decode: %s", errstr);
    assert_events_equal(&out, ev);
    assert_int_equal(id, framing == SR_FRAMING_CONFLUENT ? CLICK_ID : -1);
    sr_click_decoder_destroy(dec);
}

/* ---- schema drift -------------------------------------------------------------- */

static void test_embedded_click_schema_equals_file(void **state) {
    (void)state;
    assert_embedded_schema_matches_file(SR_AVRO_SCHEMA_CLICK_EVENT, "click_event.avsc");
    /* Avro-C ignores the enum default, so pin it here: it is what makes
     * newer writers' symbols resolve (see the evolution tests below). */
    assert_non_null(strstr(sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                           "\"default\": \"UNKNOWN\""));
}

static void test_embedded_reco_schema_equals_file(void **state) {
    (void)state;
    assert_embedded_schema_matches_file(SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE,
                                        "recommendation_update.avsc");
}

static void test_embedded_alert_schema_equals_file(void **state) {
    (void)state;
    assert_embedded_schema_matches_file(SR_AVRO_SCHEMA_CHURN_ALERT, "churn_alert.avsc");
}

static void test_schema_json_unknown_kind_is_null(void **state) {
    (void)state;
    assert_null(sr_avro_schema_json(SR_AVRO_SCHEMA__COUNT));
}

/* ---- round trips ------------------------------------------------------------------ */

static void test_click_round_trip_all_fields_confluent(void **state) {
    (void)state;
    sr_event_t ev = full_event();
    round_trip(&ev, SR_FRAMING_CONFLUENT);
}

static void test_click_round_trip_all_fields_bare(void **state) {
    (void)state;
    sr_event_t ev = full_event();
    round_trip(&ev, SR_FRAMING_BARE);
}

static void test_click_round_trip_without_optional_fields_confluent(void **state) {
    (void)state;
    sr_event_t ev = minimal_event();
    round_trip(&ev, SR_FRAMING_CONFLUENT);
}

static void test_click_round_trip_without_optional_fields_bare(void **state) {
    (void)state;
    sr_event_t ev = minimal_event();
    round_trip(&ev, SR_FRAMING_BARE);
}

static void test_click_round_trip_keeps_present_but_empty_optional_strings(void **state) {
    (void)state;
    sr_event_t ev = minimal_event();
    ev.session_id = sr_str_c("");
    ev.category_id = sr_str_c("");
    ev.has_price = true;
    ev.price = 0.0;
    round_trip(&ev, SR_FRAMING_CONFLUENT);
}

static void test_click_round_trip_every_event_type(void **state) {
    (void)state;
    for (int t = 0; t < SR_EVENT__COUNT; t++) {
        sr_event_t ev = full_event();
        ev.type = (sr_event_type_t)t;
        round_trip(&ev, SR_FRAMING_CONFLUENT);
    }
}

static void test_click_round_trip_strings_not_nul_terminated(void **state) {
    (void)state;
    /* sr_str_t slices of a larger buffer: the encoder must write len bytes */
    const char backing[] = "user-77XXXXitem-5YYYY";
    sr_event_t ev = minimal_event();
    ev.user_id = (sr_str_t){backing, 7};
    ev.item_id = (sr_str_t){backing + 11, 6};
    round_trip(&ev, SR_FRAMING_BARE);
}

static void test_click_decode_reuses_decoder_across_records(void **state) {
    (void)state;
    uint8_t a[256], b[256];
    sr_event_t ev_a = full_event(), ev_b = minimal_event();
    size_t len_a = encode(&ev_a, SR_FRAMING_CONFLUENT, a, sizeof a);
    size_t len_b = encode(&ev_b, SR_FRAMING_CONFLUENT, b, sizeof b);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sr_click_decode(dec, a, len_a, SR_FRAMING_CONFLUENT, &out, NULL, NULL, 0),
                         SR_OK);
        assert_events_equal(&out, &ev_a);
        assert_int_equal(sr_click_decode(dec, b, len_b, SR_FRAMING_CONFLUENT, &out, NULL, NULL, 0),
                         SR_OK);
        assert_events_equal(&out, &ev_b);
    }
    sr_click_decoder_destroy(dec);
}

static void test_click_encode_writes_confluent_header(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    const uint8_t want[] = {0, 0, 0, 0, CLICK_ID};
    assert_memory_equal(buf, want, sizeof want);
    uint8_t bare[256];
    size_t bare_len = encode(&ev, SR_FRAMING_BARE, bare, sizeof bare);
    assert_int_equal(len, bare_len + 5);
    assert_memory_equal(buf + 5, bare, bare_len);
}

static void test_click_encode_buffer_too_small_is_invalid(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    size_t need = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    char errstr[256];
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    assert_non_null(enc);
    for (size_t cap = 0; cap < need; cap++) {
        size_t len = 0;
        errstr[0] = '\0';
        assert_int_equal(sr_click_encode(enc, &ev, SR_FRAMING_CONFLUENT, CLICK_ID, buf, cap,
                                         &len, errstr, sizeof errstr),
                         SR_ERR_INVALID);
        assert_non_null(strstr(errstr, "too small"));
    }
    size_t len = 0;
    assert_int_equal(sr_click_encode(enc, &ev, SR_FRAMING_CONFLUENT, CLICK_ID, buf, need, &len,
                                     NULL, 0),
                     SR_OK);
    assert_int_equal(len, need);
    sr_click_encoder_destroy(enc);
}

static void test_click_encode_out_of_range_type_is_invalid(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    ev.type = SR_EVENT__COUNT;
    sr_click_encoder_t *enc = sr_click_encoder_new(NULL, 0);
    assert_non_null(enc);
    size_t len;
    assert_int_equal(sr_click_encode(enc, &ev, SR_FRAMING_BARE, 0, buf, sizeof buf, &len, NULL,
                                     0),
                     SR_ERR_INVALID);
    sr_click_encoder_destroy(enc);
}

/* ---- schema evolution ---------------------------------------------------------------- */

#define ENUM_5 \
    "{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"UNKNOWN\",\"VIEW\"," \
    "\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"PURCHASE\"]}"

/* An older producer: no category_id, no price. */
static const char older_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"},"
    "{\"name\":\"event_type\",\"type\":" ENUM_5 "},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

/* A newer producer: an extra field in the middle and one at the end, and an
 * EventType symbol this build does not know. */
static const char newer_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"},"
    "{\"name\":\"channel\",\"type\":\"string\",\"default\":\"web\"},"
    "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\","
    "\"symbols\":[\"UNKNOWN\",\"VIEW\",\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"PURCHASE\","
    "\"WISHLIST\"],\"default\":\"UNKNOWN\"}},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"category_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"price\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"referrer\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static void build_newer(tb_t *t, int64_t symbol) {
    tb_confluent(t, 9);
    tb_str(t, "e-5");
    tb_str(t, "u-5");
    tb_str(t, "i-5");
    tb_str(t, "app"); /* channel: skipped */
    tb_long(t, symbol);
    tb_long(t, 1234);
    tb_long(t, 1); /* session_id: string */
    tb_str(t, "s-5");
    tb_long(t, 0); /* category_id: null */
    tb_long(t, 1); /* price: double */
    tb_double(t, 2.5);
    tb_long(t, 1); /* referrer: skipped */
    tb_str(t, "https://example.com/");
}

static void test_click_decode_older_writer_fills_missing_optionals_with_null(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    if (sr_click_decoder_add_schema(dec, 8, older_writer, errstr, sizeof errstr) != SR_OK)
        fail_msg("add older: %s", errstr);
    tb_t t;
    tb_confluent(&t, 8);
    tb_str(&t, "e-4");
    tb_str(&t, "u-4");
    tb_str(&t, "i-4");
    tb_long(&t, 2); /* ADD_TO_CART */
    tb_long(&t, 999);
    tb_long(&t, 1);
    tb_str(&t, "s-4");
    sr_event_t out;
    int32_t id = 0;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, &id, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode older: %s", errstr);
    assert_int_equal(id, 8);
    assert_true(str_eq(out.event_id, "e-4"));
    assert_true(str_eq(out.user_id, "u-4"));
    assert_true(str_eq(out.item_id, "i-4"));
    assert_int_equal(out.type, SR_EVENT_ADD_TO_CART);
    assert_int_equal(out.ts_ms, 999);
    assert_true(str_eq(out.session_id, "s-4"));
    assert_null(out.category_id.ptr);
    assert_false(out.has_price);
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_newer_writer_skips_extra_fields(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    if (sr_click_decoder_add_schema(dec, 9, newer_writer, errstr, sizeof errstr) != SR_OK)
        fail_msg("add newer: %s", errstr);
    tb_t t;
    build_newer(&t, 4 /* PURCHASE */);
    sr_event_t out;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode newer: %s", errstr);
    assert_true(str_eq(out.event_id, "e-5"));
    assert_true(str_eq(out.user_id, "u-5"));
    assert_true(str_eq(out.item_id, "i-5"));
    assert_int_equal(out.type, SR_EVENT_PURCHASE);
    assert_int_equal(out.ts_ms, 1234);
    assert_true(str_eq(out.session_id, "s-5"));
    assert_null(out.category_id.ptr);
    assert_true(out.has_price);
    assert_true(out.price == 2.5);
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_newer_enum_symbol_resolves_to_unknown(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_add_schema(dec, 9, newer_writer, errstr, sizeof errstr),
                     SR_OK);
    tb_t t;
    build_newer(&t, 5 /* WISHLIST */);
    sr_event_t out;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode newer: %s", errstr);
    assert_int_equal(out.type, SR_EVENT_UNKNOWN);
    assert_true(str_eq(out.user_id, "u-5"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_matches_enum_symbols_by_name_not_index(void **state) {
    (void)state;
    static const char reordered[] =
        "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\","
        "\"symbols\":[\"PURCHASE\",\"VIEW\",\"UNKNOWN\"]}},"
        "{\"name\":\"ts_ms\",\"type\":\"long\"}]}";
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    if (sr_click_decoder_add_schema(dec, 11, reordered, errstr, sizeof errstr) != SR_OK)
        fail_msg("add reordered: %s", errstr);
    const sr_event_type_t want[] = {SR_EVENT_PURCHASE, SR_EVENT_VIEW, SR_EVENT_UNKNOWN};
    for (int sym = 0; sym < 3; sym++) {
        tb_t t;
        tb_confluent(&t, 11);
        tb_str(&t, "e");
        tb_str(&t, "u");
        tb_str(&t, "i");
        tb_long(&t, sym);
        tb_long(&t, 5);
        sr_event_t out;
        assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                         sizeof errstr),
                         SR_OK);
        assert_int_equal(out.type, want[sym]);
    }
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_promotes_int_ts_and_float_price(void **state) {
    (void)state;
    static const char promoting[] =
        "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":" ENUM_5 "},"
        "{\"name\":\"ts_ms\",\"type\":\"int\"},"
        "{\"name\":\"category_id\",\"type\":\"string\"},"
        "{\"name\":\"price\",\"type\":[\"null\",\"float\"]}]}";
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    if (sr_click_decoder_add_schema(dec, 12, promoting, errstr, sizeof errstr) != SR_OK)
        fail_msg("add promoting: %s", errstr);
    tb_t t;
    tb_confluent(&t, 12);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "");
    tb_long(&t, 1);
    tb_long(&t, 86400000);
    tb_str(&t, "shoes"); /* plain string into the reader's [null, string] */
    tb_long(&t, 1);
    tb_float(&t, 1.5f);
    sr_event_t out;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode promoting: %s", errstr);
    assert_int_equal(out.ts_ms, 86400000);
    assert_true(str_eq(out.category_id, "shoes"));
    assert_null(out.session_id.ptr);
    assert_true(out.has_price);
    assert_true(out.price == 1.5);
    assert_int_equal(out.item_id.len, 0);
    assert_non_null(out.item_id.ptr);
    sr_click_decoder_destroy(dec);
}

static void test_click_add_schema_rejects_writer_without_required_field(void **state) {
    (void)state;
    static const char no_user[] =
        "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":" ENUM_5 "},"
        "{\"name\":\"ts_ms\",\"type\":\"long\"}]}";
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_add_schema(dec, 13, no_user, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "'user_id'"));
    assert_non_null(strstr(errstr, "13"));
    /* and the id stays unknown */
    tb_t t;
    tb_confluent(&t, 13);
    tb_str(&t, "e");
    sr_event_t out;
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, NULL, 0),
                     SR_ERR_UNKNOWN_SCHEMA);
    sr_click_decoder_destroy(dec);
}

static void test_click_add_schema_rejects_incompatible_type_with_avro_reason(void **state) {
    (void)state;
    static const char string_ts[] =
        "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":" ENUM_5 "},"
        "{\"name\":\"ts_ms\",\"type\":\"string\"}]}";
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_add_schema(dec, 14, string_ts, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "does not resolve"));
    assert_non_null(strstr(errstr, "ts_ms")); /* Avro-C: "Field ts_ms isn't compatible: ..." */
    sr_click_decoder_destroy(dec);
}

static void test_click_add_schema_rejects_other_record_and_bad_json(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_add_schema(dec, 15, "{\"type\":", errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_int_equal(sr_click_decoder_add_schema(
                         dec, 15,
                         "{\"type\":\"record\",\"name\":\"PageView\",\"fields\":["
                         "{\"name\":\"user_id\",\"type\":\"string\"}]}",
                         errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "PageView"));
    assert_int_equal(sr_click_decoder_add_schema(dec, 15, "\"string\"", errstr, sizeof errstr),
                     SR_ERR_INVALID);
    sr_click_decoder_destroy(dec);
}

static void test_click_add_schema_again_replaces_the_id(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_add_schema(dec, CLICK_ID, older_writer, errstr,
                                                 sizeof errstr),
                     SR_OK);
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 1);
    tb_long(&t, 5);
    tb_long(&t, 0); /* session_id null; the older schema ends here */
    sr_event_t out;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode: %s", errstr);
    assert_true(str_eq(out.user_id, "u"));
    sr_click_decoder_destroy(dec);
}

static void test_click_set_bare_schema_decodes_older_bare_records(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    assert_int_equal(sr_click_decoder_set_bare_schema(dec, older_writer, errstr, sizeof errstr),
                     SR_OK);
    tb_t t = {.n = 0};
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 3);
    tb_long(&t, 5);
    tb_long(&t, 0);
    sr_event_t out;
    int32_t id = 0;
    if (sr_click_decode(dec, t.b, t.n, SR_FRAMING_BARE, &out, &id, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("decode: %s", errstr);
    assert_int_equal(out.type, SR_EVENT_REMOVE_FROM_CART);
    assert_int_equal(id, -1);
    /* NULL restores the reader schema */
    assert_int_equal(sr_click_decoder_set_bare_schema(dec, NULL, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_BARE, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_TRUNCATED);
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_writer_union_branch_reader_cannot_take_is_bad_field(void **state) {
    (void)state;
    static const char wider_union[] =
        "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":" ENUM_5 "},"
        "{\"name\":\"ts_ms\",\"type\":\"long\"},"
        "{\"name\":\"session_id\",\"type\":[\"null\",\"string\",\"long\"]}]}";
    sr_click_decoder_t *dec = new_decoder();
    char errstr[256] = "";
    if (sr_click_decoder_add_schema(dec, 16, wider_union, errstr, sizeof errstr) != SR_OK)
        fail_msg("add: %s", errstr);
    tb_t t;
    tb_confluent(&t, 16);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 1);
    tb_long(&t, 5);
    tb_long(&t, 1); /* the string branch resolves */
    tb_str(&t, "s");
    sr_event_t out;
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_OK);
    assert_true(str_eq(out.session_id, "s"));
    tb_confluent(&t, 16);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 1);
    tb_long(&t, 5);
    tb_long(&t, 2); /* a long: the reader's [null, string] cannot take it */
    tb_long(&t, 123);
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "incompatible")); /* Avro-C's reason */
    sr_click_decoder_destroy(dec);
}

/* ---- malformed input ------------------------------------------------------------------ */

static void test_click_decode_empty_input_is_truncated_in_both_framings(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, NULL, 0, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_TRUNCATED);
    assert_int_equal(sr_click_decode(dec, "", 0, SR_FRAMING_BARE, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_TRUNCATED);
    assert_non_null(strstr(errstr, "truncated"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_1_to_4_framed_bytes_is_truncated(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    const uint8_t hdr[] = {0, 0, 0, 0, CLICK_ID};
    for (size_t len = 1; len < 5; len++) {
        sr_event_t out;
        assert_int_equal(sr_click_decode(dec, hdr, len, SR_FRAMING_CONFLUENT, &out, NULL, NULL, 0),
                         SR_ERR_TRUNCATED);
    }
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_bad_magic(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    buf[0] = 1;
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, len, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_MAGIC);
    assert_non_null(strstr(errstr, "magic"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_unknown_id_names_it_and_reports_it(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    buf[4] = 77;
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    int32_t id = 0;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, len, SR_FRAMING_CONFLUENT, &out, &id, errstr,
                                     sizeof errstr),
                     SR_ERR_UNKNOWN_SCHEMA);
    assert_int_equal(id, 77);
    assert_non_null(strstr(errstr, "77"));
    sr_click_decoder_destroy(dec);
}

static void check_every_prefix_truncated(const sr_event_t *ev, sr_framing_t framing) {
    uint8_t buf[256];
    size_t len = encode(ev, framing, buf, sizeof buf);
    sr_click_decoder_t *dec = new_decoder();
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so valgrind sees any read past the end */
        uint8_t *prefix = malloc(n ? n : 1);
        assert_non_null(prefix);
        memcpy(prefix, buf, n);
        sr_event_t out;
        char errstr[256] = "";
        sr_err_t err = sr_click_decode(dec, prefix, n, framing, &out, NULL, errstr, sizeof errstr);
        if (err != SR_ERR_TRUNCATED)
            fail_msg("prefix of %zu/%zu bytes: %s (%s)", n, len, sr_err_name(err), errstr);
        assert_non_null(strstr(errstr, "truncated"));
        free(prefix);
    }
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_every_proper_prefix_is_truncated(void **state) {
    (void)state;
    sr_event_t full = full_event(), minimal = minimal_event();
    check_every_prefix_truncated(&full, SR_FRAMING_CONFLUENT);
    check_every_prefix_truncated(&full, SR_FRAMING_BARE);
    check_every_prefix_truncated(&minimal, SR_FRAMING_CONFLUENT);
    check_every_prefix_truncated(&minimal, SR_FRAMING_BARE);
}

static void test_click_decode_truncated_message_says_where(void **state) {
    (void)state;
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_str(&t, "e");
    tb_long(&t, 40); /* user_id claims 40 bytes */
    memcpy(t.b + t.n, "abc", 3);
    t.n += 3;
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_TRUNCATED);
    assert_string_equal(errstr,
                        "truncated: input ends after 6 bytes, field 'user_id' needs at least 43");
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_empty_user_id_is_bad_field(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    ev.user_id = sr_str_c("");
    size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, len, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "user_id"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_negative_ts_is_bad_field(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    ev.ts_ms = -1;
    size_t len = encode(&ev, SR_FRAMING_BARE, buf, sizeof buf);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, len, SR_FRAMING_BARE, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "ts_ms"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_trailing_bytes_is_bad_field(void **state) {
    (void)state;
    uint8_t buf[256];
    sr_event_t ev = full_event();
    size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, sizeof buf);
    buf[len] = 0;
    buf[len + 1] = 0;
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, len + 2, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    char want[128];
    snprintf(want, sizeof want, "record ends after %zu of %zu bytes", len - 5, len - 3);
    assert_non_null(strstr(errstr, want));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_enum_index_out_of_range_is_bad_field(void **state) {
    (void)state;
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 5); /* 5 symbols: 0..4 */
    tb_long(&t, 1);
    tb_long(&t, 0);
    tb_long(&t, 0);
    tb_long(&t, 0);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "event_type"));
    assert_non_null(strstr(errstr, "enum index 5"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_union_branch_out_of_range_is_bad_field(void **state) {
    (void)state;
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_str(&t, "e");
    tb_str(&t, "u");
    tb_str(&t, "i");
    tb_long(&t, 1);
    tb_long(&t, 1);
    tb_long(&t, 2); /* session_id: [null, string] has branches 0 and 1 */
    tb_long(&t, 0);
    tb_long(&t, 0);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "session_id"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_negative_string_length_is_bad_field(void **state) {
    (void)state;
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_long(&t, -2);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                                     sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "negative string length"));
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_huge_string_length_is_truncated_not_allocated(void **state) {
    (void)state;
    /* Avro-C alone would malloc 2^40 bytes here before noticing */
    tb_t t;
    tb_confluent(&t, CLICK_ID);
    tb_long(&t, (int64_t)1 << 40);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &out, NULL, NULL, 0),
                     SR_ERR_TRUNCATED);
    sr_click_decoder_destroy(dec);
}

/* Records the wire format allows but the engine refuses: they decode (the
 * decoder checks the encoding, not the ids), and sr_engine_apply refuses
 * them with SR_ERR_BAD_FIELD and a reason, which is what the pipeline
 * writes to the dead-letter topic (reason header "bad_field", the message
 * as the error header). The 1 MiB id is read in place, not copied. */
static void test_click_hostile_records_decode_and_the_engine_refuses_them(void **state) {
    (void)state;
    size_t huge_len = 1u << 20, cap = huge_len + 256;
    char *huge = malloc(huge_len + 1);
    uint8_t *buf = malloc(cap);
    assert_non_null(huge);
    assert_non_null(buf);
    memset(huge, 'u', huge_len);
    huge[huge_len] = '\0';
    static const char year_2100[] = "year 2100";
    const struct { const char *user_id; int64_t ts_ms; const char *why; } cases[] = {
        {huge, 1700000000123, "user_id is 1048576 bytes, over the 1024-byte limit"},
        {"caf\xc3\x28", 1700000000123, "user_id is not valid UTF-8 (byte 3)"},
        {"u1\x1b[2J", 1700000000123, "user_id contains control character 0x1b at byte 2"},
        {year_2100, 4102444800000, "time.future.max.minutes"},
    };
    sr_click_decoder_t *dec = new_decoder();
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    char errstr[256] = "";
    sr_engine_t *engine = sr_engine_new(&cfg, errstr, sizeof errstr);
    assert_non_null(engine);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_event_t ev = full_event();
        ev.user_id = sr_str_c(cases[i].user_id);
        ev.ts_ms = cases[i].ts_ms;
        size_t len = encode(&ev, SR_FRAMING_CONFLUENT, buf, cap);
        sr_event_t out;
        if (sr_click_decode(dec, buf, len, SR_FRAMING_CONFLUENT, &out, NULL, errstr,
                            sizeof errstr) != SR_OK)
            fail_msg("decode case %zu: %s", i, errstr);
        assert_int_equal(out.user_id.len, ev.user_id.len);
        assert_true((const uint8_t *)out.user_id.ptr > buf &&
                    (const uint8_t *)out.user_id.ptr < buf + len); /* borrowed in place */
        assert_int_equal(sr_engine_apply(engine, &out, errstr, sizeof errstr), SR_ERR_BAD_FIELD);
        if (!strstr(errstr, cases[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, errstr, cases[i].why);
    }
    assert_string_equal(sr_err_name(SR_ERR_BAD_FIELD), "bad_field");
    sr_engine_stats_t st;
    sr_engine_stats(engine, &st);
    assert_int_equal(st.rejected, sizeof cases / sizeof cases[0]);
    assert_int_equal(st.users, 0);
    sr_engine_destroy(engine);
    sr_click_decoder_destroy(dec);
    free(buf);
    free(huge);
}

static void test_click_decode_overlong_varint_is_bad_field(void **state) {
    (void)state;
    uint8_t buf[5 + 11] = {0, 0, 0, 0, CLICK_ID};
    memset(buf + 5, 0xff, 11);
    sr_click_decoder_t *dec = new_decoder();
    sr_event_t out;
    char errstr[256] = "";
    assert_int_equal(sr_click_decode(dec, buf, sizeof buf, SR_FRAMING_CONFLUENT, &out, NULL,
                                     errstr, sizeof errstr),
                     SR_ERR_BAD_FIELD);
    assert_non_null(strstr(errstr, "varint"));
    sr_click_decoder_destroy(dec);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng_next(void) { /* xorshift64: deterministic, reproducible failures */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void assert_error_or_valid(sr_err_t err, const sr_event_t *out, const char *errstr) {
    switch (err) {
    case SR_OK:
        assert_true(out->user_id.len > 0 && out->user_id.ptr);
        assert_true(out->ts_ms >= 0);
        assert_true((unsigned)out->type < SR_EVENT__COUNT);
        assert_true(out->event_id.ptr || out->event_id.len == 0);
        assert_true(out->item_id.ptr || out->item_id.len == 0);
        assert_true(out->session_id.ptr || out->session_id.len == 0);
        assert_true(out->category_id.ptr || out->category_id.len == 0);
        break;
    case SR_ERR_TRUNCATED:
    case SR_ERR_BAD_MAGIC:
    case SR_ERR_UNKNOWN_SCHEMA:
    case SR_ERR_BAD_FIELD:
        assert_true(errstr[0] != '\0');
        break;
    default:
        fail_msg("unexpected error %s: %s", sr_err_name(err), errstr);
    }
}

static void test_click_decode_random_bytes_never_crash(void **state) {
    (void)state;
    sr_click_decoder_t *dec = new_decoder();
    uint8_t buf[96];
    for (int iter = 0; iter < 10000; iter++) {
        size_t len = rng_next() % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rng_next();
        /* half the time a valid header, so the bytes reach the Avro decoder */
        if (iter % 2 && len >= 5)
            memcpy(buf, (const uint8_t[]){0, 0, 0, 0, CLICK_ID}, 5);
        sr_framing_t framing = iter % 3 ? SR_FRAMING_CONFLUENT : SR_FRAMING_BARE;
        sr_event_t out;
        char errstr[256] = "";
        sr_err_t err = sr_click_decode(dec, buf, len, framing, &out, NULL, errstr, sizeof errstr);
        assert_error_or_valid(err, &out, errstr);
    }
    sr_click_decoder_destroy(dec);
}

static void test_click_decode_mutated_records_never_crash(void **state) {
    (void)state;
    /* Random bytes rarely get past the first string; flipping bytes of a
     * valid record reaches every field, and the newer writer's resolver. */
    sr_click_decoder_t *dec = new_decoder();
    assert_int_equal(sr_click_decoder_add_schema(dec, 9, newer_writer, NULL, 0), SR_OK);
    uint8_t valid[256];
    sr_event_t ev = full_event();
    size_t valid_len = encode(&ev, SR_FRAMING_CONFLUENT, valid, sizeof valid);
    tb_t newer;
    build_newer(&newer, 5);
    int ok = 0;
    for (int iter = 0; iter < 10000; iter++) {
        uint8_t buf[256];
        size_t len = iter % 2 ? valid_len : newer.n;
        memcpy(buf, iter % 2 ? valid : newer.b, len);
        int flips = 1 + (int)(rng_next() % 4);
        for (int f = 0; f < flips; f++)
            buf[5 + rng_next() % (len - 5)] = (uint8_t)rng_next();
        if (rng_next() % 4 == 0)
            len = 5 + rng_next() % (len - 5);
        sr_event_t out;
        char errstr[256] = "";
        sr_err_t err =
            sr_click_decode(dec, buf, len, SR_FRAMING_CONFLUENT, &out, NULL, errstr, sizeof errstr);
        assert_error_or_valid(err, &out, errstr);
        ok += err == SR_OK;
    }
    assert_true(ok > 0); /* some mutations (e.g. inside a string) stay valid */
    sr_click_decoder_destroy(dec);
}

static void test_destroy_null_is_noop(void **state) {
    (void)state;
    sr_click_decoder_destroy(NULL);
    sr_click_encoder_destroy(NULL);
    sr_output_encoder_destroy(NULL);
    sr_output_decoder_destroy(NULL);
}

/* ---- output records ------------------------------------------------------------------ */

static void test_reco_round_trip(void **state) {
    (void)state;
    const sr_scored_id_t items[] = {{"i-1", 0.9f}, {"i-22", 0.5f}, {"i-333", -1.25f}};
    const sr_reco_record_t rec = {
        .user_id = "u-42",
        .items = items,
        .n_items = 3,
        .model_version = 17,
        .event_ts_ms = 1700000000000,
        .produced_ts_ms = 1700000000450,
        .seq = 99,
    };
    char errstr[256] = "";
    sr_output_encoder_t *enc = sr_output_encoder_new(errstr, sizeof errstr);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    assert_non_null(enc);
    assert_non_null(dec);
    uint8_t buf[512];
    size_t len = 0;
    assert_int_equal(sr_encode_reco(enc, &rec, 21, buf, sizeof buf, &len, errstr, sizeof errstr),
                     SR_OK);
    assert_int_equal(buf[0], 0);

    sr_reco_record_t out;
    sr_scored_id_t out_items[8];
    int32_t id = 0;
    if (sr_decode_reco(dec, buf, len, &out, out_items, 8, &id, errstr, sizeof errstr) != SR_OK)
        fail_msg("decode reco: %s", errstr);
    assert_int_equal(id, 21);
    assert_string_equal(out.user_id, "u-42");
    assert_int_equal(out.n_items, 3);
    assert_ptr_equal(out.items, out_items);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(out.items[i].item_id, items[i].item_id);
        assert_true(out.items[i].score == items[i].score);
    }
    assert_int_equal(out.model_version, 17);
    assert_int_equal(out.event_ts_ms, 1700000000000);
    assert_int_equal(out.produced_ts_ms, 1700000000450);
    assert_int_equal(out.seq, 99);

    /* the same encoder, a shorter list: no items left over from before */
    sr_reco_record_t shorter = rec;
    shorter.n_items = 0;
    shorter.items = NULL;
    assert_int_equal(sr_encode_reco(enc, &shorter, 21, buf, sizeof buf, &len, NULL, 0), SR_OK);
    assert_int_equal(sr_decode_reco(dec, buf, len, &out, out_items, 8, NULL, NULL, 0), SR_OK);
    assert_int_equal(out.n_items, 0);

    sr_output_encoder_destroy(enc);
    sr_output_decoder_destroy(dec);
}

static void test_alert_round_trip(void **state) {
    (void)state;
    const sr_feature_weight_t features[] = {{"days_since_last_seen", 1.75},
                                            {"cart_abandon_rate", 0.5}};
    const sr_alert_record_t rec = {
        .alert_id = "a-u42-1",
        .user_id = "u-42",
        .probability = 0.875,
        .level = SR_ALERT_HIGH,
        .state = SR_ALERT_RESOLVED,
        .last_seen_ms = 1690000000000,
        .features = features,
        .n_features = 2,
        .event_ts_ms = 1700000000000,
    };
    char errstr[256] = "";
    sr_output_encoder_t *enc = sr_output_encoder_new(errstr, sizeof errstr);
    sr_output_decoder_t *dec = sr_output_decoder_new(errstr, sizeof errstr);
    assert_non_null(enc);
    assert_non_null(dec);
    uint8_t buf[512];
    size_t len = 0;
    assert_int_equal(sr_encode_alert(enc, &rec, 22, buf, sizeof buf, &len, errstr, sizeof errstr),
                     SR_OK);
    sr_alert_record_t out;
    sr_feature_weight_t out_features[4];
    int32_t id = 0;
    if (sr_decode_alert(dec, buf, len, &out, out_features, 4, &id, errstr, sizeof errstr) != SR_OK)
        fail_msg("decode alert: %s", errstr);
    assert_int_equal(id, 22);
    assert_string_equal(out.alert_id, "a-u42-1");
    assert_string_equal(out.user_id, "u-42");
    assert_true(out.probability == 0.875);
    assert_int_equal(out.level, SR_ALERT_HIGH);
    assert_int_equal(out.state, SR_ALERT_RESOLVED);
    assert_int_equal(out.last_seen_ms, 1690000000000);
    assert_int_equal(out.n_features, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(out.features[i].feature, features[i].feature);
        assert_true(out.features[i].weight == features[i].weight);
    }
    assert_int_equal(out.event_ts_ms, 1700000000000);
    sr_output_encoder_destroy(enc);
    sr_output_decoder_destroy(dec);
}

static void test_alert_every_level_and_state_round_trips(void **state) {
    (void)state;
    sr_output_encoder_t *enc = sr_output_encoder_new(NULL, 0);
    sr_output_decoder_t *dec = sr_output_decoder_new(NULL, 0);
    for (int level = SR_ALERT_LOW; level <= SR_ALERT_HIGH; level++)
        for (int st = SR_ALERT_FIRING; st <= SR_ALERT_RESOLVED; st++) {
            sr_alert_record_t rec = {.alert_id = "a", .user_id = "u",
                                     .level = (sr_alert_level_t)level,
                                     .state = (sr_alert_state_t)st};
            uint8_t buf[128];
            size_t len;
            assert_int_equal(sr_encode_alert(enc, &rec, 1, buf, sizeof buf, &len, NULL, 0), SR_OK);
            sr_alert_record_t out;
            assert_int_equal(sr_decode_alert(dec, buf, len, &out, NULL, 0, NULL, NULL, 0), SR_OK);
            assert_int_equal(out.level, level);
            assert_int_equal(out.state, st);
        }
    sr_output_encoder_destroy(enc);
    sr_output_decoder_destroy(dec);
}

static void test_decode_reco_more_items_than_caller_array_is_invalid(void **state) {
    (void)state;
    const sr_scored_id_t items[] = {{"a", 1}, {"b", 2}, {"c", 3}};
    const sr_reco_record_t rec = {.user_id = "u", .items = items, .n_items = 3};
    sr_output_encoder_t *enc = sr_output_encoder_new(NULL, 0);
    sr_output_decoder_t *dec = sr_output_decoder_new(NULL, 0);
    uint8_t buf[256];
    size_t len;
    assert_int_equal(sr_encode_reco(enc, &rec, 1, buf, sizeof buf, &len, NULL, 0), SR_OK);
    sr_reco_record_t out;
    sr_scored_id_t out_items[2];
    char errstr[256] = "";
    assert_int_equal(sr_decode_reco(dec, buf, len, &out, out_items, 2, NULL, errstr,
                                    sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "3 items"));
    sr_output_encoder_destroy(enc);
    sr_output_decoder_destroy(dec);
}

static void test_encode_outputs_reject_small_buffers_and_bad_arguments(void **state) {
    (void)state;
    const sr_scored_id_t items[] = {{"item", 1}};
    sr_reco_record_t reco = {.user_id = "user", .items = items, .n_items = 1};
    sr_alert_record_t alert = {.alert_id = "a", .user_id = "u"};
    sr_output_encoder_t *enc = sr_output_encoder_new(NULL, 0);
    uint8_t buf[256];
    size_t need, len;
    assert_int_equal(sr_encode_reco(enc, &reco, 1, buf, sizeof buf, &need, NULL, 0), SR_OK);
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(sr_encode_reco(enc, &reco, 1, buf, cap, &len, NULL, 0), SR_ERR_INVALID);
    assert_int_equal(sr_encode_alert(enc, &alert, 1, buf, sizeof buf, &need, NULL, 0), SR_OK);
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(sr_encode_alert(enc, &alert, 1, buf, cap, &len, NULL, 0), SR_ERR_INVALID);

    sr_scored_id_t null_item[] = {{NULL, 1}};
    reco.items = null_item;
    assert_int_equal(sr_encode_reco(enc, &reco, 1, buf, sizeof buf, &len, NULL, 0),
                     SR_ERR_INVALID);
    reco.user_id = NULL;
    assert_int_equal(sr_encode_reco(enc, &reco, 1, buf, sizeof buf, &len, NULL, 0),
                     SR_ERR_INVALID);
    alert.level = (sr_alert_level_t)3;
    assert_int_equal(sr_encode_alert(enc, &alert, 1, buf, sizeof buf, &len, NULL, 0),
                     SR_ERR_INVALID);
    sr_output_encoder_destroy(enc);
}

static void test_decode_outputs_every_prefix_truncated_and_random_bytes_safe(void **state) {
    (void)state;
    const sr_scored_id_t items[] = {{"i-1", 0.9f}, {"i-2", 0.5f}};
    const sr_reco_record_t reco = {.user_id = "u", .items = items, .n_items = 2, .seq = 3};
    const sr_feature_weight_t features[] = {{"f", 0.1}};
    const sr_alert_record_t alert = {.alert_id = "a", .user_id = "u", .features = features,
                                     .n_features = 1, .level = SR_ALERT_MEDIUM};
    sr_output_encoder_t *enc = sr_output_encoder_new(NULL, 0);
    sr_output_decoder_t *dec = sr_output_decoder_new(NULL, 0);
    uint8_t r[256], a[256];
    size_t r_len, a_len;
    assert_int_equal(sr_encode_reco(enc, &reco, 1, r, sizeof r, &r_len, NULL, 0), SR_OK);
    assert_int_equal(sr_encode_alert(enc, &alert, 1, a, sizeof a, &a_len, NULL, 0), SR_OK);
    sr_reco_record_t ro;
    sr_alert_record_t ao;
    sr_scored_id_t ri[8];
    sr_feature_weight_t af[8];
    for (size_t n = 0; n < r_len; n++)
        assert_int_equal(sr_decode_reco(dec, r, n, &ro, ri, 8, NULL, NULL, 0), SR_ERR_TRUNCATED);
    for (size_t n = 0; n < a_len; n++)
        assert_int_equal(sr_decode_alert(dec, a, n, &ao, af, 8, NULL, NULL, 0), SR_ERR_TRUNCATED);

    for (int iter = 0; iter < 10000; iter++) {
        uint8_t buf[128];
        size_t len = rng_next() % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rng_next();
        if (len >= 5)
            buf[0] = 0;
        sr_err_t err = iter % 2 ? sr_decode_reco(dec, buf, len, &ro, ri, 8, NULL, NULL, 0)
                                : sr_decode_alert(dec, buf, len, &ao, af, 8, NULL, NULL, 0);
        assert_true(err == SR_OK || err == SR_ERR_TRUNCATED || err == SR_ERR_BAD_FIELD ||
                    err == SR_ERR_INVALID /* more items than the array */);
    }
    sr_output_encoder_destroy(enc);
    sr_output_decoder_destroy(dec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_click_schema_equals_file),
        cmocka_unit_test(test_embedded_reco_schema_equals_file),
        cmocka_unit_test(test_embedded_alert_schema_equals_file),
        cmocka_unit_test(test_schema_json_unknown_kind_is_null),
        cmocka_unit_test(test_click_round_trip_all_fields_confluent),
        cmocka_unit_test(test_click_round_trip_all_fields_bare),
        cmocka_unit_test(test_click_round_trip_without_optional_fields_confluent),
        cmocka_unit_test(test_click_round_trip_without_optional_fields_bare),
        cmocka_unit_test(test_click_round_trip_keeps_present_but_empty_optional_strings),
        cmocka_unit_test(test_click_round_trip_every_event_type),
        cmocka_unit_test(test_click_round_trip_strings_not_nul_terminated),
        cmocka_unit_test(test_click_decode_reuses_decoder_across_records),
        cmocka_unit_test(test_click_encode_writes_confluent_header),
        cmocka_unit_test(test_click_encode_buffer_too_small_is_invalid),
        cmocka_unit_test(test_click_encode_out_of_range_type_is_invalid),
        cmocka_unit_test(test_click_decode_older_writer_fills_missing_optionals_with_null),
        cmocka_unit_test(test_click_decode_newer_writer_skips_extra_fields),
        cmocka_unit_test(test_click_decode_newer_enum_symbol_resolves_to_unknown),
        cmocka_unit_test(test_click_decode_matches_enum_symbols_by_name_not_index),
        cmocka_unit_test(test_click_decode_promotes_int_ts_and_float_price),
        cmocka_unit_test(test_click_add_schema_rejects_writer_without_required_field),
        cmocka_unit_test(test_click_add_schema_rejects_incompatible_type_with_avro_reason),
        cmocka_unit_test(test_click_add_schema_rejects_other_record_and_bad_json),
        cmocka_unit_test(test_click_add_schema_again_replaces_the_id),
        cmocka_unit_test(test_click_set_bare_schema_decodes_older_bare_records),
        cmocka_unit_test(test_click_decode_writer_union_branch_reader_cannot_take_is_bad_field),
        cmocka_unit_test(test_click_decode_empty_input_is_truncated_in_both_framings),
        cmocka_unit_test(test_click_decode_1_to_4_framed_bytes_is_truncated),
        cmocka_unit_test(test_click_decode_bad_magic),
        cmocka_unit_test(test_click_decode_unknown_id_names_it_and_reports_it),
        cmocka_unit_test(test_click_decode_every_proper_prefix_is_truncated),
        cmocka_unit_test(test_click_decode_truncated_message_says_where),
        cmocka_unit_test(test_click_decode_empty_user_id_is_bad_field),
        cmocka_unit_test(test_click_decode_negative_ts_is_bad_field),
        cmocka_unit_test(test_click_decode_trailing_bytes_is_bad_field),
        cmocka_unit_test(test_click_decode_enum_index_out_of_range_is_bad_field),
        cmocka_unit_test(test_click_decode_union_branch_out_of_range_is_bad_field),
        cmocka_unit_test(test_click_decode_negative_string_length_is_bad_field),
        cmocka_unit_test(test_click_decode_huge_string_length_is_truncated_not_allocated),
        cmocka_unit_test(test_click_hostile_records_decode_and_the_engine_refuses_them),
        cmocka_unit_test(test_click_decode_overlong_varint_is_bad_field),
        cmocka_unit_test(test_click_decode_random_bytes_never_crash),
        cmocka_unit_test(test_click_decode_mutated_records_never_crash),
        cmocka_unit_test(test_destroy_null_is_noop),
        cmocka_unit_test(test_reco_round_trip),
        cmocka_unit_test(test_alert_round_trip),
        cmocka_unit_test(test_alert_every_level_and_state_round_trips),
        cmocka_unit_test(test_decode_reco_more_items_than_caller_array_is_invalid),
        cmocka_unit_test(test_encode_outputs_reject_small_buffers_and_bad_arguments),
        cmocka_unit_test(test_decode_outputs_every_prefix_truncated_and_random_bytes_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
