/* streamrec Avro codec: ClickEvent records in, RecommendationUpdate and
 * ChurnAlert records out, all through Avro-C's value API.
 *
 * Schemas. The three schemas in schemas/ (*.avsc) are compiled into this module
 * as strings (sr_avro_schema_json); a unit test checks they equal the files,
 * so the daemon never needs the files at run time.
 *
 * Decoding ClickEvent. The reader schema is the compiled-in ClickEvent. Each
 * Confluent schema id the decoder should accept is registered once with its
 * writer schema (from the schema registry or configuration); bare Avro is
 * read with one configured writer schema (by default the reader schema).
 * Registration resolves the writer against the reader and keeps everything a
 * decode needs for that id, so decoding allocates no objects per record.
 * (Avro-C itself mallocs each string it reads and frees it on the next read
 * of that id; that is inside avro_value_read and not avoidable through the
 * value API.) A writer schema that is the reader schema field for field --
 * every producer on the current schema -- skips Avro-C: such records are
 * parsed in place, and only one that fails that parse goes through the
 * checked Avro-C path below, which then reports why.
 *
 * Schema evolution follows the Avro resolution rules, with two gaps in
 * Avro-C 1.11.1 filled here:
 *   - a reader field the writer lacks takes the reader's default (Avro-C
 *     rejects such writers outright): session_id, category_id and price
 *     default to null, i.e. absent; the other fields have no default, so a
 *     writer without them is rejected when registered;
 *   - EventType symbols are matched by name, and a symbol the reader does not
 *     know becomes SR_EVENT_UNKNOWN, the enum's declared default (Avro-C
 *     passes the writer's symbol index through unchanged).
 * Fields only the writer has are skipped; int->long and float->double
 * promotions and union branch matching are Avro-C's.
 *
 * Before Avro-C reads a record, its bytes are checked against the writer
 * schema's shape (see src/codec/avro_shape.h): arbitrary bytes produce an
 * error code and a message, never a crash or a huge allocation.
 *
 * Decode errors (codes from err.h; messages say which field and why):
 *   SR_ERR_TRUNCATED       Confluent header shorter than 5 bytes, or the input
 *                          ends before the record does ("truncated: input ends
 *                          after 12 bytes, field 'user_id' needs at least 40");
 *   SR_ERR_BAD_MAGIC       Confluent framing whose first byte is not 0;
 *   SR_ERR_UNKNOWN_SCHEMA  Confluent schema id not registered ("unknown schema
 *                          id 42"); *schema_id_out is still set;
 *   SR_ERR_BAD_FIELD       empty user_id; ts_ms < 0; an enum index or union
 *                          branch out of range; a malformed varint or length;
 *                          and trailing bytes after the record. Trailing bytes
 *                          are bad_field, not truncated: the record did not run
 *                          out of input, the input holds something the writer
 *                          schema does not describe (most likely a payload
 *                          written with another schema than its id says).
 *
 * Encoders write with the compiled-in schemas and the Confluent header for the
 * schema id the caller got from the registry. They validate arguments only:
 * sr_click_encode writes events the decoder would reject (empty user_id,
 * negative ts_ms), which is what tests and fault injection need.
 *
 * Output decoding: sr_decode_reco / sr_decode_alert read our own output
 * records into caller-provided structs and fixed-size arrays (the simplest
 * thing for tests and for `streamrec tail`, which formats them itself). They
 * assume the payload was written with this build's schemas and do not look
 * the schema id up; the same shape check guards them against arbitrary bytes.
 *
 * Threads: every object here is used by one thread at a time; separate
 * objects are independent. Strings handed out are borrowed from the object
 * that produced them and valid until its next call. */
#ifndef STREAMREC_AVRO_CODEC_H
#define STREAMREC_AVRO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/event.h"
#include "streamrec/framing.h"

/* ---- schemas ------------------------------------------------------------ */

typedef enum sr_avro_schema_kind {
    SR_AVRO_SCHEMA_CLICK_EVENT,           /* schemas/click_event.avsc */
    SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE, /* schemas/recommendation_update.avsc */
    SR_AVRO_SCHEMA_CHURN_ALERT,           /* schemas/churn_alert.avsc */
    SR_AVRO_SCHEMA__COUNT
} sr_avro_schema_kind_t;

/* The schema JSON compiled into this build, e.g. to register it with a schema
 * registry. Static storage; NULL for an unknown kind. */
const char *sr_avro_schema_json(sr_avro_schema_kind_t kind);

/* ---- ClickEvent decoder ------------------------------------------------- */

typedef struct sr_click_decoder sr_click_decoder_t;

/* A decoder with the compiled-in reader schema, no Confluent ids registered,
 * and the reader schema as the bare writer schema. NULL on failure. */
sr_click_decoder_t *sr_click_decoder_new(char *errstr, size_t errstr_size);

/* Registers (or replaces) the writer schema for a Confluent schema id. The
 * JSON is parsed and resolved against the reader schema now; on error
 * (SR_ERR_INVALID: bad JSON, not a ClickEvent record, a needed field missing,
 * or Avro-C's reason the types do not resolve) nothing changes. Replacing an
 * id invalidates the strings of the previous decode. Linear in the number of
 * ids registered; meant for start-up and registry lookups, not per record. */
sr_err_t sr_click_decoder_add_schema(sr_click_decoder_t *dec, int32_t schema_id,
                                     const char *writer_schema_json, char *errstr,
                                     size_t errstr_size);

/* Sets the writer schema for SR_FRAMING_BARE input; NULL restores the
 * default (the reader schema). Errors as sr_click_decoder_add_schema. */
sr_err_t sr_click_decoder_set_bare_schema(sr_click_decoder_t *dec,
                                          const char *writer_schema_json, char *errstr,
                                          size_t errstr_size);

/* Decodes one Kafka message value into *out. Strings in *out are borrowed,
 * from buf or from the decoder: valid until the decoder's next decode and
 * while buf is (records on the reader schema itself are parsed in place). *schema_id_out (may be NULL)
 * gets the Confluent id as soon as the header parsed, also when the id is
 * unknown, and -1 for bare framing. *out is unspecified on error. Allocates
 * no objects (see above); O(len). */
sr_err_t sr_click_decode(sr_click_decoder_t *dec, const void *buf, size_t len,
                         sr_framing_t framing, sr_event_t *out, int32_t *schema_id_out,
                         char *errstr, size_t errstr_size);

void sr_click_decoder_destroy(sr_click_decoder_t *dec);

/* ---- ClickEvent encoder ------------------------------------------------- */

typedef struct sr_click_encoder sr_click_encoder_t;

sr_click_encoder_t *sr_click_encoder_new(char *errstr, size_t errstr_size);

/* Encodes *ev with the compiled-in ClickEvent schema into buf[0..cap),
 * preceded by the Confluent header for schema_id if framing says so
 * (schema_id is ignored for bare). *len_out gets the bytes written.
 * SR_ERR_INVALID if cap is too small or ev->type is out of range. Absent
 * optional strings (ptr NULL) are written as null; a NULL required string is
 * written as "". No allocation. */
sr_err_t sr_click_encode(sr_click_encoder_t *enc, const sr_event_t *ev,
                         sr_framing_t framing, int32_t schema_id, uint8_t *buf, size_t cap,
                         size_t *len_out, char *errstr, size_t errstr_size);

void sr_click_encoder_destroy(sr_click_encoder_t *enc);

/* ---- output records ----------------------------------------------------- */

/* Strings are NUL-terminated and borrowed: the encoder reads them during the
 * call only; the decoder's point into itself until its next call. */

typedef struct sr_scored_id {
    const char *item_id;
    float score;
} sr_scored_id_t;

/* streamrec.RecommendationUpdate */
typedef struct sr_reco_record {
    const char *user_id;
    const sr_scored_id_t *items; /* best first */
    size_t n_items;
    int64_t model_version, event_ts_ms, produced_ts_ms, seq;
} sr_reco_record_t;

typedef struct sr_feature_weight {
    const char *feature;
    double weight;
} sr_feature_weight_t;

/* Same order as the Avro enums streamrec.AlertLevel / streamrec.AlertState. */
typedef enum sr_alert_level { SR_ALERT_LOW, SR_ALERT_MEDIUM, SR_ALERT_HIGH } sr_alert_level_t;
typedef enum sr_alert_state { SR_ALERT_FIRING, SR_ALERT_RESOLVED } sr_alert_state_t;

/* streamrec.ChurnAlert */
typedef struct sr_alert_record {
    const char *alert_id, *user_id;
    double probability;
    sr_alert_level_t level;
    sr_alert_state_t state;
    int64_t last_seen_ms;
    const sr_feature_weight_t *features; /* top_features, largest first */
    size_t n_features;
    int64_t event_ts_ms;
} sr_alert_record_t;

/* ---- output encoder ----------------------------------------------------- */

typedef struct sr_output_encoder sr_output_encoder_t;

sr_output_encoder_t *sr_output_encoder_new(char *errstr, size_t errstr_size);

/* Writes the Confluent header for schema_id and the record into buf[0..cap);
 * *len_out gets the bytes written. SR_ERR_INVALID if cap is too small, a
 * string is NULL, items/features is NULL with a nonzero count, or an enum is
 * out of range. Allocates only when a record has more items than any before
 * (Avro-C keeps the array's storage). */
sr_err_t sr_encode_reco(sr_output_encoder_t *enc, const sr_reco_record_t *rec,
                        int32_t schema_id, uint8_t *buf, size_t cap, size_t *len_out,
                        char *errstr, size_t errstr_size);

sr_err_t sr_encode_alert(sr_output_encoder_t *enc, const sr_alert_record_t *rec,
                         int32_t schema_id, uint8_t *buf, size_t cap, size_t *len_out,
                         char *errstr, size_t errstr_size);

void sr_output_encoder_destroy(sr_output_encoder_t *enc);

/* ---- output decoder (tests, `streamrec tail`) --------------------------- */

typedef struct sr_output_decoder sr_output_decoder_t;

sr_output_decoder_t *sr_output_decoder_new(char *errstr, size_t errstr_size);

/* Decodes a Confluent-framed RecommendationUpdate. out->items points at the
 * caller's items[0..items_cap); SR_ERR_INVALID if the record has more items
 * than that. Strings are borrowed from the decoder until its next call.
 * *schema_id_out (may be NULL) gets the header's id. Other errors as
 * sr_click_decode. */
sr_err_t sr_decode_reco(sr_output_decoder_t *dec, const void *buf, size_t len,
                        sr_reco_record_t *out, sr_scored_id_t *items, size_t items_cap,
                        int32_t *schema_id_out, char *errstr, size_t errstr_size);

/* Decodes a Confluent-framed ChurnAlert; features as items above. */
sr_err_t sr_decode_alert(sr_output_decoder_t *dec, const void *buf, size_t len,
                         sr_alert_record_t *out, sr_feature_weight_t *features,
                         size_t features_cap, int32_t *schema_id_out, char *errstr,
                         size_t errstr_size);

void sr_output_decoder_destroy(sr_output_decoder_t *dec);

#endif
