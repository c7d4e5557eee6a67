/* Writes the seed records of corpus/fuzz_click_decode into the directory
 * given as argv[1]: valid records from the project's encoders (Confluent and
 * bare ClickEvents, an evolved writer's record, RecommendationUpdate and
 * ChurnAlert), and one of each malformed class the decoder names
 * (truncated, bad magic, unknown schema id, bad field, trailing bytes).
 * Deterministic: running it again rewrites the same files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/avro_codec.h"

static const char *out_dir;

static void put(const char *name, const uint8_t *buf, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Avro binary by hand, for the writer schema the encoder does not speak
 * (fuzz_click_decode's id 2) and for fields the encoder will not write. */
static size_t put_long(uint8_t *p, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static size_t put_string(uint8_t *p, const char *s) {
    size_t len = strlen(s), n = put_long(p, (int64_t)len);
    memcpy(p + n, s, len);
    return n + len;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    char errstr[512];
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    sr_output_encoder_t *out = sr_output_encoder_new(errstr, sizeof errstr);
    if (!enc || !out) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    static uint8_t buf[4096];
    size_t len;

    sr_event_t full = {
        .event_id = sr_str_c("e-1"), .user_id = sr_str_c("u42"), .item_id = sr_str_c("i7"),
        .session_id = sr_str_c("s1"), .category_id = sr_str_c("c3"),
        .type = SR_EVENT_PURCHASE, .ts_ms = 1700000000000, .price = 19.99, .has_price = true};
    sr_event_t bare_min = {.event_id = sr_str_c("e-2"), .user_id = sr_str_c("anon-1"),
                           .type = SR_EVENT_VIEW, .ts_ms = 1};
    struct { const char *name; const sr_event_t *ev; sr_framing_t framing; } valid[] = {
        {"valid-confluent-full", &full, SR_FRAMING_CONFLUENT},
        {"valid-confluent-minimal", &bare_min, SR_FRAMING_CONFLUENT},
        {"valid-bare-full", &full, SR_FRAMING_BARE},
        {"valid-bare-minimal", &bare_min, SR_FRAMING_BARE},
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (sr_click_encode(enc, valid[i].ev, valid[i].framing, 1, buf, sizeof buf, &len,
                            errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
        put(valid[i].name, buf, len);
    }

    /* Malformed classes, derived from the full Confluent record. */
    sr_click_encode(enc, &full, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len, errstr,
                    sizeof errstr);
    put("truncated-header", buf, 3);
    put("truncated-record", buf, len - 6);
    uint8_t copy[4096];
    memcpy(copy, buf, len);
    copy[0] = 1;
    put("bad-magic", copy, len);
    memcpy(copy, buf, len);
    copy[4] = 99;
    put("unknown-schema-id", copy, len);
    memcpy(copy, buf, len);
    copy[len] = 0x02;
    put("trailing-bytes", copy, len + 1);

    sr_event_t bad = full;
    bad.ts_ms = -5;
    sr_click_encode(enc, &bad, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len, errstr,
                    sizeof errstr);
    put("bad-field-negative-ts", buf, len);
    bad = full;
    bad.user_id = sr_str_c("");
    sr_click_encode(enc, &bad, SR_FRAMING_CONFLUENT, 1, buf, sizeof buf, &len, errstr,
                    sizeof errstr);
    put("bad-field-empty-user", buf, len);

    /* Hand-written records: an enum index and a union branch out of range,
     * a negative string length, and the evolved writer (id 2) with its
     * extra WISHLIST symbol and referrer field. */
    size_t n;
    uint8_t *p = copy;
    p[0] = 0, p[1] = 0, p[2] = 0, p[3] = 0, p[4] = 1;
    n = 5;
    n += put_string(p + n, "e-3");
    n += put_string(p + n, "u1");
    n += put_string(p + n, "i1");
    size_t enum_at = n;
    n += put_long(p + n, 9);
    n += put_long(p + n, 1700000000000);
    n += put_long(p + n, 0); /* session_id null */
    n += put_long(p + n, 0); /* category_id null */
    n += put_long(p + n, 0); /* price null */
    put("bad-field-enum-index", copy, n);
    p[enum_at] = 2; /* VIEW */
    p[n - 1] = 6;   /* price: union branch 3 */
    put("bad-field-union-branch", copy, n);

    n = 5;
    n += put_string(p + n, "e-4");
    n += put_long(p + n, -3); /* user_id length -3 */
    put("bad-field-negative-length", copy, n);

    p[4] = 2;
    n = 5;
    n += put_string(p + n, "e-5");
    n += put_string(p + n, "u2");
    n += put_string(p + n, "i2");
    n += put_long(p + n, 5); /* WISHLIST, unknown to the reader */
    n += put_long(p + n, 1700000000000);
    n += put_long(p + n, 1);
    n += put_string(p + n, "s9");
    n += put_long(p + n, 0);
    n += put_long(p + n, 1);
    n += put_string(p + n, "https://example.com/");
    put("valid-evolved-unknown-symbol", copy, n);

    sr_scored_id_t items[] = {{"i1", 0.9f}, {"i2", 0.5f}};
    sr_reco_record_t reco = {.user_id = "u42", .items = items, .n_items = 2,
                             .model_version = 3, .event_ts_ms = 1700000000000,
                             .produced_ts_ms = 1700000000100, .seq = 12};
    if (sr_encode_reco(out, &reco, 5, buf, sizeof buf, &len, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    put("valid-reco", buf, len);
    sr_feature_weight_t features[] = {{"recency_days", 1.5}, {"sessions_7d", -0.4}};
    sr_alert_record_t alert = {.alert_id = "a-1", .user_id = "u42", .probability = 0.81,
                               .level = SR_ALERT_HIGH, .state = SR_ALERT_FIRING,
                               .last_seen_ms = 1690000000000, .features = features,
                               .n_features = 2, .event_ts_ms = 1700000000000};
    if (sr_encode_alert(out, &alert, 6, buf, sizeof buf, &len, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    put("valid-alert", buf, len);

    sr_click_encoder_destroy(enc);
    sr_output_encoder_destroy(out);
    return 0;
}
