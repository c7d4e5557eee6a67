#include "streamrec/avro_codec.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "codec/avro_shape.h"

/* ---- compiled-in schemas -------------------------------------------------
 * Byte for byte the files in schemas/ (test_avro_codec checks they parse to
 * equal schemas and match the files' text). Regenerate from the files when
 * they change; never edit only one side. */

/* schemas/click_event.avsc */
static const char click_event_json[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"ClickEvent\",\n"
    "  \"namespace\": \"streamrec\",\n"
    "  \"doc\": \"One user interaction on the shop, as produced by the clickstream collectors. Keyed by user_id on Kafka.\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"event_id\", \"type\": \"string\",\n"
    "     \"doc\": \"Unique id of this event (collector-assigned); used to de-duplicate replays.\"},\n"
    "    {\"name\": \"user_id\", \"type\": \"string\",\n"
    "     \"doc\": \"Id of the user (or anonymous visitor) who acted; never empty.\"},\n"
    "    {\"name\": \"item_id\", \"type\": \"string\",\n"
    "     \"doc\": \"Id of the item acted on; empty for events without an item.\"},\n"
    "    {\"name\": \"event_type\",\n"
    "     \"type\": {\n"
    "       \"type\": \"enum\",\n"
    "       \"name\": \"EventType\",\n"
    "       \"doc\": \"What the user did. Readers map symbols they do not know to UNKNOWN.\",\n"
    "       \"symbols\": [\"UNKNOWN\", \"VIEW\", \"ADD_TO_CART\", \"REMOVE_FROM_CART\", \"PURCHASE\"],\n"
    "       \"default\": \"UNKNOWN\"\n"
    "     },\n"
    "     \"doc\": \"Kind of interaction.\"},\n"
    "    {\"name\": \"ts_ms\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"},\n"
    "     \"doc\": \"Event time: when the user acted, in ms since the Unix epoch (UTC).\"},\n"
    "    {\"name\": \"session_id\", \"type\": [\"null\", \"string\"], \"default\": null,\n"
    "     \"doc\": \"Collector's session id, if it tracks sessions.\"},\n"
    "    {\"name\": \"category_id\", \"type\": [\"null\", \"string\"], \"default\": null,\n"
    "     \"doc\": \"Category of the item, if known.\"},\n"
    "    {\"name\": \"price\", \"type\": [\"null\", \"double\"], \"default\": null,\n"
    "     \"doc\": \"Unit price of the item in the shop's currency, if known.\"}\n"
    "  ]\n"
    "}\n";

/* schemas/recommendation_update.avsc */
static const char recommendation_update_json[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"RecommendationUpdate\",\n"
    "  \"namespace\": \"streamrec\",\n"
    "  \"doc\": \"A user's fresh top-K recommendations, published by streamrec on every recompute. Keyed by user_id; a newer seq supersedes an older one.\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"user_id\", \"type\": \"string\",\n"
    "     \"doc\": \"User the list is for.\"},\n"
    "    {\"name\": \"items\",\n"
    "     \"type\": {\n"
    "       \"type\": \"array\",\n"
    "       \"items\": {\n"
    "         \"type\": \"record\",\n"
    "         \"name\": \"ScoredItem\",\n"
    "         \"doc\": \"One recommended item and its blended score (higher is better).\",\n"
    "         \"fields\": [\n"
    "           {\"name\": \"item_id\", \"type\": \"string\", \"doc\": \"Recommended item.\"},\n"
    "           {\"name\": \"score\", \"type\": \"float\", \"doc\": \"Blended model score; only the order is meaningful.\"}\n"
    "         ]\n"
    "       }\n"
    "     },\n"
    "     \"doc\": \"Recommended items, best first.\"},\n"
    "    {\"name\": \"model_version\", \"type\": \"long\",\n"
    "     \"doc\": \"Version of the model state that produced the list (increases with every applied update batch).\"},\n"
    "    {\"name\": \"event_ts_ms\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"},\n"
    "     \"doc\": \"Event time of the newest event that shaped this list.\"},\n"
    "    {\"name\": \"produced_ts_ms\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"},\n"
    "     \"doc\": \"Wall-clock time streamrec produced this update (for end-to-end latency).\"},\n"
    "    {\"name\": \"seq\", \"type\": \"long\",\n"
    "     \"doc\": \"Per-user sequence number; consumers drop an update whose seq is not newer than the last one seen.\"}\n"
    "  ]\n"
    "}\n";

/* schemas/churn_alert.avsc */
static const char churn_alert_json[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"ChurnAlert\",\n"
    "  \"namespace\": \"streamrec\",\n"
    "  \"doc\": \"A change in a user's churn-alert state, published for the CRM. Keyed by user_id.\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"alert_id\", \"type\": \"string\",\n"
    "     \"doc\": \"Deterministic id of the alert episode; the FIRING and the RESOLVED message of one episode share it.\"},\n"
    "    {\"name\": \"user_id\", \"type\": \"string\",\n"
    "     \"doc\": \"User at risk.\"},\n"
    "    {\"name\": \"probability\", \"type\": \"double\",\n"
    "     \"doc\": \"Model's probability that the user churns within the horizon, in [0, 1].\"},\n"
    "    {\"name\": \"level\",\n"
    "     \"type\": {\"type\": \"enum\", \"name\": \"AlertLevel\", \"symbols\": [\"LOW\", \"MEDIUM\", \"HIGH\"],\n"
    "              \"doc\": \"Risk band of the probability.\"},\n"
    "     \"doc\": \"Risk band.\"},\n"
    "    {\"name\": \"state\",\n"
    "     \"type\": {\"type\": \"enum\", \"name\": \"AlertState\", \"symbols\": [\"FIRING\", \"RESOLVED\"],\n"
    "              \"doc\": \"FIRING when the alert opens, RESOLVED when the user is back or the risk fell below the exit threshold.\"},\n"
    "     \"doc\": \"Whether this message opens or closes the alert episode.\"},\n"
    "    {\"name\": \"last_seen_ms\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"},\n"
    "     \"doc\": \"Event time of the user's last activity.\"},\n"
    "    {\"name\": \"top_features\",\n"
    "     \"type\": {\n"
    "       \"type\": \"array\",\n"
    "       \"items\": {\n"
    "         \"type\": \"record\",\n"
    "         \"name\": \"FeatureContribution\",\n"
    "         \"doc\": \"One model feature and its contribution to the score.\",\n"
    "         \"fields\": [\n"
    "           {\"name\": \"feature\", \"type\": \"string\", \"doc\": \"Feature name, e.g. days_since_last_seen.\"},\n"
    "           {\"name\": \"weight\", \"type\": \"double\", \"doc\": \"Contribution to the log-odds (weight times standardised value); positive raises the risk.\"}\n"
    "         ]\n"
    "       }\n"
    "     },\n"
    "     \"doc\": \"Features that contributed most to the probability, largest first: why the user is at risk.\"},\n"
    "    {\"name\": \"event_ts_ms\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"},\n"
    "     \"doc\": \"Event time (watermark) at which the alert was raised or resolved.\"}\n"
    "  ]\n"
    "}\n";

const char *sr_avro_schema_json(sr_avro_schema_kind_t kind) {
    switch (kind) {
    case SR_AVRO_SCHEMA_CLICK_EVENT:           return click_event_json;
    case SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE: return recommendation_update_json;
    case SR_AVRO_SCHEMA_CHURN_ALERT:           return churn_alert_json;
    default:                                   return NULL;
    }
}

/* ---- helpers -------------------------------------------------------------- */

/* The codec reads and writes fields by index, not by name (avro_value_get_by_name
 * is a hash lookup per field per record on the hot path). These tables are
 * that index order; constructors check the schemas against them, so a schema
 * edit that reorders fields fails loudly at start-up, not silently per record. */
enum click_field {
    F_EVENT_ID,
    F_USER_ID,
    F_ITEM_ID,
    F_EVENT_TYPE,
    F_TS_MS,
    F_SESSION_ID,
    F_CATEGORY_ID,
    F_PRICE,
    F__COUNT
};
static const char *const click_field_names[F__COUNT] = {
    "event_id", "user_id", "item_id", "event_type",
    "ts_ms", "session_id", "category_id", "price",
};
/* Fields with a reader default (null, i.e. absent) that a writer may lack. */
static const bool click_field_has_default[F__COUNT] = {
    [F_SESSION_ID] = true, [F_CATEGORY_ID] = true, [F_PRICE] = true,
};

enum reco_field {
    R_USER_ID,
    R_ITEMS,
    R_MODEL_VERSION,
    R_EVENT_TS_MS,
    R_PRODUCED_TS_MS,
    R_SEQ,
    R__COUNT
};
static const char *const reco_field_names[R__COUNT] = {
    "user_id", "items", "model_version", "event_ts_ms", "produced_ts_ms", "seq",
};
static const char *const scored_item_field_names[2] = {"item_id", "score"};

enum alert_field {
    A_ALERT_ID,
    A_USER_ID,
    A_PROBABILITY,
    A_LEVEL,
    A_STATE,
    A_LAST_SEEN_MS,
    A_TOP_FEATURES,
    A_EVENT_TS_MS,
    A__COUNT
};
static const char *const alert_field_names[A__COUNT] = {
    "alert_id", "user_id", "probability", "level",
    "state", "last_seen_ms", "top_features", "event_ts_ms",
};
static const char *const feature_field_names[2] = {"feature", "weight"};
static const char *const alert_level_symbols[] = {"LOW", "MEDIUM", "HIGH"};
static const char *const alert_state_symbols[] = {"FIRING", "RESOLVED"};

/* Optional fields are ["null", T]: branch 0 is null, branch 1 the value. */
#define BRANCH_NULL 0
#define BRANCH_VALUE 1

static sr_err_t parse_schema(const char *json, const char *what, avro_schema_t *out,
                             char *errstr, size_t errstr_size) {
    if (!json)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: no schema JSON", what);
    if (avro_schema_from_json_length(json, strlen(json), out) != 0) {
        *out = NULL;
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: %s", what, avro_strerror());
    }
    return SR_OK;
}

static avro_schema_t deref_link(avro_schema_t s) {
    while (s && is_avro_link(s)) s = avro_schema_link_target(s);
    return s;
}

static sr_err_t check_fields(avro_schema_t record, const char *const *names, size_t n,
                             const char *what, char *errstr, size_t errstr_size) {
    record = deref_link(record);
    if (!is_avro_record(record) || avro_schema_record_size(record) != n)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "%s: expected a record of %zu fields", what, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(record, (int)i);
        if (!name || strcmp(name, names[i]) != 0)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "%s: field %zu is '%s', the codec expects '%s'", what, i,
                             name ? name : "?", names[i]);
    }
    return SR_OK;
}

static sr_err_t check_enum(avro_schema_t e, const char *const *symbols, size_t n,
                           const char *what, char *errstr, size_t errstr_size) {
    e = deref_link(e);
    if (!is_avro_enum(e) || (size_t)avro_schema_enum_number_of_symbols(e) != n)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "%s: expected an enum of %zu symbols", what, n);
    for (size_t i = 0; i < n; i++) {
        const char *sym = avro_schema_enum_get(e, (int)i);
        if (!sym || strcmp(sym, symbols[i]) != 0)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "%s: symbol %zu is '%s', the codec expects '%s'", what, i,
                             sym ? sym : "?", symbols[i]);
    }
    return SR_OK;
}

static sr_err_t check_optional(avro_schema_t record, int field, avro_type_t value_type,
                               const char *what, char *errstr, size_t errstr_size) {
    avro_schema_t u = deref_link(avro_schema_record_field_get_by_index(record, field));
    if (!is_avro_union(u) || avro_schema_union_size(u) != 2 ||
        avro_typeof(avro_schema_union_branch(u, BRANCH_NULL)) != AVRO_NULL ||
        avro_typeof(avro_schema_union_branch(u, BRANCH_VALUE)) != value_type)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "%s: field '%s' is not [\"null\", %s]", what,
                         avro_schema_record_field_name(record, field),
                         value_type == AVRO_DOUBLE ? "\"double\"" : "\"string\"");
    return SR_OK;
}

/* The codec maps EventType symbol indexes straight onto sr_event_type_t
 * (event.h promises the same order); check the schema keeps that promise. */
static sr_err_t check_event_type_enum(avro_schema_t click, const char *what, char *errstr,
                                      size_t errstr_size) {
    const char *names[SR_EVENT__COUNT];
    for (int t = 0; t < SR_EVENT__COUNT; t++) names[t] = sr_event_type_name((sr_event_type_t)t);
    return check_enum(avro_schema_record_field_get_by_index(click, F_EVENT_TYPE), names,
                      SR_EVENT__COUNT, what, errstr, errstr_size);
}

/* Hands Avro-C a string without copying it. Avro-C's string values count the
 * NUL terminator in their size, and avro_value_write() writes size - 1 bytes
 * from buf and never touches the terminator, so a borrowed (ptr, len) slice
 * that is not NUL-terminated is safe for writing, which is all the encoders
 * do with it. free == NULL: Avro-C releases it by doing nothing, so the value
 * never frees caller memory and a re-set costs no allocation. */
static int give_borrowed_string(avro_value_t *v, const char *ptr, size_t len) {
    avro_wrapped_buffer_t wb = {
        .buf = ptr ? ptr : "",
        .size = (ptr ? len : 0) + 1,
        .user_data = NULL,
        .free = NULL,
        .copy = NULL,
        .slice = NULL,
    };
    return avro_value_give_string_len(v, &wb);
}

static void value_release(avro_value_t *v) {
    if (v->self)
        avro_value_decref(v);
    v->self = NULL;
    v->iface = NULL;
}

static void iface_release(avro_value_iface_t **iface) {
    if (*iface)
        avro_value_iface_decref(*iface);
    *iface = NULL;
}

static void schema_release(avro_schema_t *s) {
    if (*s)
        avro_schema_decref(*s);
    *s = NULL;
}

/* Avro-C failures after the shape check are resolution failures (a writer
 * union branch the reader cannot take) or out of memory. */
static sr_err_t avro_failure(int rc, const char *what, char *errstr, size_t errstr_size) {
    return sr_seterr(rc == ENOMEM ? SR_ERR_NOMEM : SR_ERR_BAD_FIELD, errstr, errstr_size,
                     "%s: %s", what, avro_strerror());
}

/* Encoders fail in Avro-C only on allocation or a bug here; say which. */
static sr_err_t encode_failure(int rc, const char *what, char *errstr, size_t errstr_size) {
    return sr_seterr(rc == ENOMEM ? SR_ERR_NOMEM : SR_ERR_INVALID, errstr, errstr_size,
                     "%s: %s", what, avro_strerror());
}

/* An empty memory source/sink to create Avro-C's reader and writer with;
 * every call points them at the real buffer. */
static const char no_bytes[1];

/* ---- ClickEvent decoder -------------------------------------------------- */

/* Everything needed to decode records written with one writer schema. */
typedef struct writer_entry {
    int32_t schema_id;          /* Confluent id; -1 for the bare entry */
    avro_schema_t writer_schema;
    /* The reader schema narrowed to the fields the writer has, with the
     * writer's EventType enum in place of the reader's. Narrowing is how
     * reader defaults work (Avro-C rejects writers that lack a reader field);
     * the writer's enum keeps the raw writer index, which type_map turns into
     * a reader symbol by name. */
    avro_schema_t target_schema;
    avro_value_iface_t *target_iface;
    avro_value_t target;        /* generic value each record lands in */
    /* Writer -> target resolution; NULL when the two are equal (the common
     * case of producers on the current schema) and records are read straight
     * into target, which skips a wrapper call per field. */
    avro_value_iface_t *resolver_iface;
    avro_value_t resolver;
    int field_index[F__COUNT];  /* index in target, -1: absent (reader default) */
    sr_event_type_t *type_map;  /* writer EventType index -> event type */
    size_t n_symbols;
    sr_avro_shape_t *shape;     /* of the writer schema */
    /* The writer is the reader schema itself, field for field (with its own
     * EventType symbols): records can be parsed straight from the bytes. */
    bool direct;
} writer_entry_t;

struct sr_click_decoder {
    avro_schema_t reader_schema;
    avro_reader_t mem_reader;
    writer_entry_t *bare;
    writer_entry_t **by_id;     /* few ids in practice: a linear scan beats a hash */
    size_t n_ids, cap_ids;
    size_t last_hit;            /* consecutive records mostly share an id */
};

static void entry_destroy(writer_entry_t *w) {
    if (!w)
        return;
    value_release(&w->resolver);
    iface_release(&w->resolver_iface);
    value_release(&w->target);
    iface_release(&w->target_iface);
    schema_release(&w->target_schema);
    sr_avro_shape_destroy(w->shape);
    schema_release(&w->writer_schema);
    free(w->type_map);
    free(w);
}

static sr_err_t entry_new(avro_schema_t reader, int32_t schema_id, const char *json,
                          const char *what, writer_entry_t **out, char *errstr,
                          size_t errstr_size) {
    sr_err_t err = SR_ERR_INVALID;
    writer_entry_t *w = calloc(1, sizeof *w);
    if (!w) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
        goto fail;
    }
    w->schema_id = schema_id;
    if (parse_schema(json, what, &w->writer_schema, errstr, errstr_size) != SR_OK)
        goto fail;

    avro_schema_t writer = w->writer_schema;
    if (!is_avro_record(writer) || strcmp(avro_schema_name(writer), avro_schema_name(reader))) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "%s: writer schema is %s '%s', the reader expects record '%s'", what,
                  avro_schema_type_name(writer),
                  is_avro_named_type(writer) ? avro_schema_name(writer) : "",
                  avro_schema_name(reader));
        goto fail;
    }

    w->target_schema = avro_schema_record(avro_schema_name(reader), avro_schema_namespace(reader));
    if (!w->target_schema) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: %s", what, avro_strerror());
        goto fail;
    }
    int n_target = 0;
    avro_schema_t writer_enum = NULL;
    for (int f = 0; f < F__COUNT; f++) {
        const char *name = click_field_names[f];
        int wi = avro_schema_record_field_get_index(writer, name);
        if (wi < 0) {
            if (!click_field_has_default[f]) {
                sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                          "%s: writer schema has no field '%s', and the reader schema "
                          "gives it no default",
                          what, name);
                goto fail;
            }
            w->field_index[f] = -1;
            continue;
        }
        avro_schema_t type = avro_schema_record_field_get_by_index(reader, f);
        if (f == F_EVENT_TYPE) {
            writer_enum = deref_link(avro_schema_record_field_get_by_index(writer, wi));
            if (!is_avro_enum(writer_enum) ||
                strcmp(avro_schema_name(writer_enum), avro_schema_name(deref_link(type)))) {
                sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                          "%s: writer field 'event_type' is %s, the reader expects enum '%s'",
                          what, avro_schema_type_name(writer_enum),
                          avro_schema_name(deref_link(type)));
                goto fail;
            }
            type = writer_enum;
        }
        if (avro_schema_record_field_append(w->target_schema, name, type) != 0) {
            sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: %s", what, avro_strerror());
            goto fail;
        }
        w->field_index[f] = n_target++;
    }

    /* Avro's enum resolution: match symbols by name; a symbol the reader does
     * not know takes the reader enum's default, UNKNOWN. */
    w->n_symbols = (size_t)avro_schema_enum_number_of_symbols(writer_enum);
    w->type_map = calloc(w->n_symbols ? w->n_symbols : 1, sizeof *w->type_map);
    if (!w->type_map) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
        goto fail;
    }
    for (size_t i = 0; i < w->n_symbols; i++) {
        const char *sym = avro_schema_enum_get(writer_enum, (int)i);
        sr_event_type_t t = sym ? sr_event_type_parse(sym, strlen(sym)) : SR_EVENT__COUNT;
        w->type_map[i] = t == SR_EVENT__COUNT ? SR_EVENT_UNKNOWN : t;
    }

    w->target_iface = avro_generic_class_from_schema(w->target_schema);
    if (!w->target_iface || avro_generic_value_new(w->target_iface, &w->target) != 0) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: %s", what, avro_strerror());
        goto fail;
    }
    if (!avro_schema_equal(writer, w->target_schema)) {
        w->resolver_iface = avro_resolved_writer_new(writer, w->target_schema);
        if (!w->resolver_iface) {
            sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                      "%s: writer schema does not resolve to the reader schema: %s", what,
                      avro_strerror());
            goto fail;
        }
        if (avro_resolved_writer_new_value(w->resolver_iface, &w->resolver) != 0) {
            err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: %s", what, avro_strerror());
            goto fail;
        }
        avro_resolved_writer_set_dest(&w->resolver, &w->target);
    }

    w->shape = sr_avro_shape_new(writer, errstr, errstr_size);
    if (!w->shape)
        goto fail;
    w->direct = !w->resolver_iface && n_target == F__COUNT;
    *out = w;
    return SR_OK;
fail:
    entry_destroy(w);
    return err;
}

sr_click_decoder_t *sr_click_decoder_new(char *errstr, size_t errstr_size) {
    sr_click_decoder_t *dec = calloc(1, sizeof *dec);
    if (!dec) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "click decoder: out of memory");
        goto fail;
    }
    if (parse_schema(click_event_json, "click decoder: reader schema", &dec->reader_schema,
                     errstr, errstr_size) != SR_OK ||
        check_fields(dec->reader_schema, click_field_names, F__COUNT,
                     "click decoder: reader schema", errstr, errstr_size) != SR_OK ||
        check_optional(dec->reader_schema, F_SESSION_ID, AVRO_STRING, "click decoder",
                       errstr, errstr_size) != SR_OK ||
        check_optional(dec->reader_schema, F_CATEGORY_ID, AVRO_STRING, "click decoder",
                       errstr, errstr_size) != SR_OK ||
        check_optional(dec->reader_schema, F_PRICE, AVRO_DOUBLE, "click decoder", errstr,
                       errstr_size) != SR_OK ||
        check_event_type_enum(dec->reader_schema, "click decoder: EventType", errstr,
                              errstr_size) != SR_OK)
        goto fail;
    dec->mem_reader = avro_reader_memory(no_bytes, 0);
    if (!dec->mem_reader) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "click decoder: %s", avro_strerror());
        goto fail;
    }
    if (entry_new(dec->reader_schema, -1, click_event_json, "click decoder: bare schema",
                  &dec->bare, errstr, errstr_size) != SR_OK)
        goto fail;
    return dec;
fail:
    sr_click_decoder_destroy(dec);
    return NULL;
}

void sr_click_decoder_destroy(sr_click_decoder_t *dec) {
    if (!dec)
        return;
    for (size_t i = 0; i < dec->n_ids; i++) entry_destroy(dec->by_id[i]);
    free(dec->by_id);
    entry_destroy(dec->bare);
    if (dec->mem_reader)
        avro_reader_free(dec->mem_reader);
    schema_release(&dec->reader_schema);
    free(dec);
}

sr_err_t sr_click_decoder_add_schema(sr_click_decoder_t *dec, int32_t schema_id,
                                     const char *writer_schema_json, char *errstr,
                                     size_t errstr_size) {
    if (!dec || !writer_schema_json)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "click decoder: NULL argument");
    char what[64];
    snprintf(what, sizeof what, "schema id %" PRId32, schema_id);
    writer_entry_t *w;
    sr_err_t err = entry_new(dec->reader_schema, schema_id, writer_schema_json, what, &w, errstr,
                             errstr_size);
    if (err != SR_OK)
        return err;

    for (size_t i = 0; i < dec->n_ids; i++)
        if (dec->by_id[i]->schema_id == schema_id) {
            entry_destroy(dec->by_id[i]);
            dec->by_id[i] = w;
            return SR_OK;
        }
    if (dec->n_ids == dec->cap_ids) {
        size_t cap = dec->cap_ids ? dec->cap_ids * 2 : 8;
        writer_entry_t **p = realloc(dec->by_id, cap * sizeof *p);
        if (!p) {
            entry_destroy(w);
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
        }
        dec->by_id = p;
        dec->cap_ids = cap;
    }
    dec->by_id[dec->n_ids++] = w;
    return SR_OK;
}

sr_err_t sr_click_decoder_set_bare_schema(sr_click_decoder_t *dec,
                                          const char *writer_schema_json, char *errstr,
                                          size_t errstr_size) {
    if (!dec)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "click decoder: NULL argument");
    writer_entry_t *w;
    sr_err_t err = entry_new(dec->reader_schema, -1,
                             writer_schema_json ? writer_schema_json : click_event_json,
                             "bare schema", &w, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    entry_destroy(dec->bare);
    dec->bare = w;
    return SR_OK;
}

static writer_entry_t *find_entry(sr_click_decoder_t *dec, int32_t schema_id) {
    if (dec->last_hit < dec->n_ids && dec->by_id[dec->last_hit]->schema_id == schema_id)
        return dec->by_id[dec->last_hit];
    for (size_t i = 0; i < dec->n_ids; i++)
        if (dec->by_id[i]->schema_id == schema_id) {
            dec->last_hit = i;
            return dec->by_id[i];
        }
    return NULL;
}

static int get_string(const avro_value_t *v, sr_str_t *out) {
    const char *p;
    size_t size;
    int rc = avro_value_get_string(v, &p, &size);
    if (rc != 0)
        return rc;
    out->ptr = p;
    out->len = size ? size - 1 : 0; /* Avro-C's size counts the NUL */
    return 0;
}

/* Fills the event from the target value; -1 field index: reader default. */
static sr_err_t extract_event(const writer_entry_t *w, sr_event_t *out, char *errstr,
                              size_t errstr_size) {
    avro_value_t field, branch;
    int rc = 0;
    const avro_value_t *rec = &w->target;

    if ((rc = avro_value_get_by_index(rec, w->field_index[F_EVENT_ID], &field, NULL)) ||
        (rc = get_string(&field, &out->event_id)) ||
        (rc = avro_value_get_by_index(rec, w->field_index[F_USER_ID], &field, NULL)) ||
        (rc = get_string(&field, &out->user_id)) ||
        (rc = avro_value_get_by_index(rec, w->field_index[F_ITEM_ID], &field, NULL)) ||
        (rc = get_string(&field, &out->item_id)))
        return avro_failure(rc, "ClickEvent", errstr, errstr_size);

    int symbol;
    if ((rc = avro_value_get_by_index(rec, w->field_index[F_EVENT_TYPE], &field, NULL)) ||
        (rc = avro_value_get_enum(&field, &symbol)))
        return avro_failure(rc, "ClickEvent", errstr, errstr_size);
    if (symbol < 0 || (size_t)symbol >= w->n_symbols)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "field 'event_type': enum index %d out of range (%zu symbols)", symbol,
                         w->n_symbols);
    out->type = w->type_map[symbol];

    if ((rc = avro_value_get_by_index(rec, w->field_index[F_TS_MS], &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->ts_ms)))
        return avro_failure(rc, "ClickEvent", errstr, errstr_size);

    static const int optional_strings[] = {F_SESSION_ID, F_CATEGORY_ID};
    sr_str_t *optional_out[] = {&out->session_id, &out->category_id};
    for (int i = 0; i < 2; i++) {
        int f = optional_strings[i];
        *optional_out[i] = (sr_str_t){NULL, 0};
        if (w->field_index[f] < 0)
            continue;
        if ((rc = avro_value_get_by_index(rec, w->field_index[f], &field, NULL)) ||
            (rc = avro_value_get_current_branch(&field, &branch)))
            return avro_failure(rc, "ClickEvent", errstr, errstr_size);
        if (avro_value_get_type(&branch) != AVRO_NULL &&
            (rc = get_string(&branch, optional_out[i])))
            return avro_failure(rc, "ClickEvent", errstr, errstr_size);
    }

    out->has_price = false;
    out->price = 0.0;
    if (w->field_index[F_PRICE] >= 0) {
        if ((rc = avro_value_get_by_index(rec, w->field_index[F_PRICE], &field, NULL)) ||
            (rc = avro_value_get_current_branch(&field, &branch)))
            return avro_failure(rc, "ClickEvent", errstr, errstr_size);
        if (avro_value_get_type(&branch) != AVRO_NULL) {
            if ((rc = avro_value_get_double(&branch, &out->price)))
                return avro_failure(rc, "ClickEvent", errstr, errstr_size);
            out->has_price = true;
        }
    }

    /* Semantic checks: what the engine cannot work with. */
    if (out->user_id.len == 0)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "field 'user_id' is empty");
    if (out->ts_ms < 0)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "field 'ts_ms' is negative (%" PRId64 ")", out->ts_ms);
    return SR_OK;
}

/* ---- direct parse ---------------------------------------------------------
 * Producers on the current schema write exactly the reader's layout: three
 * strings, the enum index, the timestamp, two optional strings and an
 * optional double. For them the record is parsed in one pass over the bytes,
 * strings left in place, instead of through the shape check, Avro-C's value
 * reader (a malloc and free per string) and a getter per field: that path
 * cost ~7,000 instructions a record, more than the engine spends on an event
 * without its recommendation refresh. The parse accepts only what the slow
 * path accepts; anything it does not like (malformed, truncated, trailing
 * bytes, or failing the semantic checks) is handed to the slow path, which
 * says precisely what is wrong. */

typedef struct span {
    const uint8_t *p, *end;
} span_t;

static inline bool span_varint(span_t *s, int64_t *out) {
    uint64_t value = 0;
    for (int i = 0; i < 10 && s->p < s->end; i++) {
        uint8_t b = *s->p++;
        value |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
            return true;
        }
    }
    return false;
}

static inline bool span_string(span_t *s, sr_str_t *out) {
    int64_t len;
    if (!span_varint(s, &len) || len < 0 || (uint64_t)len > (uint64_t)(s->end - s->p))
        return false;
    out->ptr = (const char *)s->p;
    out->len = (size_t)len;
    s->p += len;
    return true;
}

/* ["null", T]: *present tells which branch was written. */
static inline bool span_branch(span_t *s, bool *present) {
    int64_t branch;
    if (!span_varint(s, &branch) || (branch != BRANCH_NULL && branch != BRANCH_VALUE))
        return false;
    *present = branch == BRANCH_VALUE;
    return true;
}

static bool parse_direct(const writer_entry_t *w, const uint8_t *buf, size_t len,
                         sr_event_t *out) {
    span_t s = {buf, buf + len};
    int64_t symbol;
    bool present;
    if (!buf || !span_string(&s, &out->event_id) || !span_string(&s, &out->user_id) ||
        !span_string(&s, &out->item_id) || !span_varint(&s, &symbol) || symbol < 0 ||
        (uint64_t)symbol >= w->n_symbols || !span_varint(&s, &out->ts_ms))
        return false;
    out->type = w->type_map[symbol];
    out->session_id = out->category_id = (sr_str_t){NULL, 0};
    if (!span_branch(&s, &present) || (present && !span_string(&s, &out->session_id)) ||
        !span_branch(&s, &present) || (present && !span_string(&s, &out->category_id)) ||
        !span_branch(&s, &present))
        return false;
    out->has_price = present;
    out->price = 0.0;
    if (present) {
        if (s.end - s.p < 8)
            return false;
        uint64_t bits = 0; /* Avro doubles are little-endian whatever the host */
        for (int i = 7; i >= 0; i--) bits = bits << 8 | s.p[i];
        memcpy(&out->price, &bits, sizeof out->price);
        s.p += 8;
    }
    return s.p == s.end && out->user_id.len > 0 && out->ts_ms >= 0;
}

sr_err_t sr_click_decode(sr_click_decoder_t *dec, const void *buf, size_t len,
                         sr_framing_t framing, sr_event_t *out, int32_t *schema_id_out,
                         char *errstr, size_t errstr_size) {
    if (!dec || !out || (!buf && len > 0))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "click decode: NULL argument");

    const uint8_t *payload;
    size_t payload_len;
    writer_entry_t *w;
    sr_err_t err;

    if (framing == SR_FRAMING_CONFLUENT) {
        int32_t schema_id;
        if ((err = sr_framing_parse(buf, len, &schema_id, &payload, &payload_len, errstr,
                                    errstr_size)) != SR_OK)
            return err;
        if (schema_id_out)
            *schema_id_out = schema_id;
        if (!(w = find_entry(dec, schema_id)))
            return sr_seterr(SR_ERR_UNKNOWN_SCHEMA, errstr, errstr_size,
                             "unknown schema id %" PRId32 " (not registered with the decoder)",
                             schema_id);
    } else if (framing == SR_FRAMING_BARE) {
        if (schema_id_out)
            *schema_id_out = -1;
        payload = buf;
        payload_len = len;
        w = dec->bare;
    } else {
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "click decode: unknown framing %d",
                         (int)framing);
    }

    if (w->direct && parse_direct(w, payload, payload_len, out))
        return SR_OK;
    if ((err = sr_avro_shape_check(w->shape, payload, payload_len, errstr, errstr_size)) != SR_OK)
        return err;

    avro_reader_memory_set_source(dec->mem_reader, payload ? (const char *)payload : no_bytes,
                                  (int64_t)payload_len);
    int rc = avro_value_read(dec->mem_reader, w->resolver_iface ? &w->resolver : &w->target);
    if (rc != 0)
        return avro_failure(rc, "ClickEvent", errstr, errstr_size);
    return extract_event(w, out, errstr, errstr_size);
}

/* ---- ClickEvent encoder -------------------------------------------------- */

struct sr_click_encoder {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;   /* reused for every event; holds borrowed strings only */
    avro_writer_t mem_writer;
};

sr_click_encoder_t *sr_click_encoder_new(char *errstr, size_t errstr_size) {
    sr_click_encoder_t *enc = calloc(1, sizeof *enc);
    if (!enc) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "click encoder: out of memory");
        goto fail;
    }
    if (parse_schema(click_event_json, "click encoder: schema", &enc->schema, errstr,
                     errstr_size) != SR_OK ||
        check_fields(enc->schema, click_field_names, F__COUNT, "click encoder: schema", errstr,
                     errstr_size) != SR_OK ||
        check_optional(enc->schema, F_SESSION_ID, AVRO_STRING, "click encoder", errstr,
                       errstr_size) != SR_OK ||
        check_optional(enc->schema, F_CATEGORY_ID, AVRO_STRING, "click encoder", errstr,
                       errstr_size) != SR_OK ||
        check_optional(enc->schema, F_PRICE, AVRO_DOUBLE, "click encoder", errstr,
                       errstr_size) != SR_OK ||
        check_event_type_enum(enc->schema, "click encoder: EventType", errstr,
                              errstr_size) != SR_OK)
        goto fail;
    enc->iface = avro_generic_class_from_schema(enc->schema);
    if (!enc->iface || avro_generic_value_new(enc->iface, &enc->value) != 0 ||
        !(enc->mem_writer = avro_writer_memory(no_bytes, 0))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "click encoder: %s", avro_strerror());
        goto fail;
    }
    return enc;
fail:
    sr_click_encoder_destroy(enc);
    return NULL;
}

void sr_click_encoder_destroy(sr_click_encoder_t *enc) {
    if (!enc)
        return;
    if (enc->mem_writer)
        avro_writer_free(enc->mem_writer);
    value_release(&enc->value);
    iface_release(&enc->iface);
    schema_release(&enc->schema);
    free(enc);
}

/* Writes the Confluent header if asked and points the memory writer after it. */
static sr_err_t begin_write(avro_writer_t mem_writer, sr_framing_t framing, int32_t schema_id,
                            uint8_t *buf, size_t cap, size_t *header_len, char *errstr,
                            size_t errstr_size) {
    *header_len = 0;
    if (framing == SR_FRAMING_CONFLUENT) {
        if (cap < SR_FRAMING_HEADER_SIZE)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "buffer of %zu bytes is too small for the record", cap);
        *header_len = sr_framing_write_header(buf, schema_id);
    } else if (framing != SR_FRAMING_BARE) {
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "unknown framing %d",
                         (int)framing);
    }
    avro_writer_memory_set_dest(mem_writer, (const char *)buf + *header_len,
                                (int64_t)(cap - *header_len));
    return SR_OK;
}

static sr_err_t finish_write(avro_writer_t mem_writer, avro_value_t *value, size_t header_len,
                             size_t cap, size_t *len_out, char *errstr, size_t errstr_size) {
    int rc = avro_value_write(mem_writer, value);
    if (rc == ENOSPC)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "buffer of %zu bytes is too small for the record", cap);
    if (rc != 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "avro write: %s", avro_strerror());
    *len_out = header_len + (size_t)avro_writer_tell(mem_writer);
    return SR_OK;
}

static int set_optional_string(avro_value_t *field, sr_str_t s) {
    avro_value_t branch;
    int rc = avro_value_set_branch(field, s.ptr ? BRANCH_VALUE : BRANCH_NULL, &branch);
    if (rc != 0)
        return rc;
    return s.ptr ? give_borrowed_string(&branch, s.ptr, s.len) : avro_value_set_null(&branch);
}

sr_err_t sr_click_encode(sr_click_encoder_t *enc, const sr_event_t *ev,
                         sr_framing_t framing, int32_t schema_id, uint8_t *buf, size_t cap,
                         size_t *len_out, char *errstr, size_t errstr_size) {
    if (!enc || !ev || !buf || !len_out)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "click encode: NULL argument");
    if ((unsigned)ev->type >= SR_EVENT__COUNT)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "click encode: event type %d out of range", (int)ev->type);

    avro_value_t *v = &enc->value, field, branch;
    int rc;
    if ((rc = avro_value_get_by_index(v, F_EVENT_ID, &field, NULL)) ||
        (rc = give_borrowed_string(&field, ev->event_id.ptr, ev->event_id.len)) ||
        (rc = avro_value_get_by_index(v, F_USER_ID, &field, NULL)) ||
        (rc = give_borrowed_string(&field, ev->user_id.ptr, ev->user_id.len)) ||
        (rc = avro_value_get_by_index(v, F_ITEM_ID, &field, NULL)) ||
        (rc = give_borrowed_string(&field, ev->item_id.ptr, ev->item_id.len)) ||
        (rc = avro_value_get_by_index(v, F_EVENT_TYPE, &field, NULL)) ||
        (rc = avro_value_set_enum(&field, (int)ev->type)) ||
        (rc = avro_value_get_by_index(v, F_TS_MS, &field, NULL)) ||
        (rc = avro_value_set_long(&field, ev->ts_ms)) ||
        (rc = avro_value_get_by_index(v, F_SESSION_ID, &field, NULL)) ||
        (rc = set_optional_string(&field, ev->session_id)) ||
        (rc = avro_value_get_by_index(v, F_CATEGORY_ID, &field, NULL)) ||
        (rc = set_optional_string(&field, ev->category_id)) ||
        (rc = avro_value_get_by_index(v, F_PRICE, &field, NULL)) ||
        (rc = avro_value_set_branch(&field, ev->has_price ? BRANCH_VALUE : BRANCH_NULL,
                                    &branch)) ||
        (rc = ev->has_price ? avro_value_set_double(&branch, ev->price)
                            : avro_value_set_null(&branch)))
        return encode_failure(rc, "click encode", errstr, errstr_size);

    size_t header_len;
    sr_err_t err = begin_write(enc->mem_writer, framing, schema_id, buf, cap, &header_len,
                               errstr, errstr_size);
    if (err != SR_OK)
        return err;
    return finish_write(enc->mem_writer, v, header_len, cap, len_out, errstr, errstr_size);
}

/* ---- output records: shared setup ---------------------------------------- */

/* One output schema with its reusable generic value. */
typedef struct out_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    sr_avro_shape_t *shape; /* decoder only */
} out_schema_t;

static sr_err_t out_schema_init(out_schema_t *o, sr_avro_schema_kind_t kind, bool with_shape,
                                char *errstr, size_t errstr_size) {
    sr_err_t err;
    const char *what = kind == SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE ? "RecommendationUpdate"
                                                                    : "ChurnAlert";
    if ((err = parse_schema(sr_avro_schema_json(kind), what, &o->schema, errstr,
                            errstr_size)) != SR_OK)
        return err;

    avro_schema_t s = o->schema;
    if (kind == SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE) {
        if ((err = check_fields(s, reco_field_names, R__COUNT, what, errstr, errstr_size)) ||
            (err = check_fields(avro_schema_array_items(deref_link(
                                    avro_schema_record_field_get_by_index(s, R_ITEMS))),
                                scored_item_field_names, 2, "ScoredItem", errstr,
                                errstr_size)))
            return err;
    } else {
        if ((err = check_fields(s, alert_field_names, A__COUNT, what, errstr, errstr_size)) ||
            (err = check_fields(avro_schema_array_items(deref_link(
                                    avro_schema_record_field_get_by_index(s, A_TOP_FEATURES))),
                                feature_field_names, 2, "FeatureContribution", errstr,
                                errstr_size)) ||
            (err = check_enum(avro_schema_record_field_get_by_index(s, A_LEVEL),
                              alert_level_symbols, 3, "AlertLevel", errstr, errstr_size)) ||
            (err = check_enum(avro_schema_record_field_get_by_index(s, A_STATE),
                              alert_state_symbols, 2, "AlertState", errstr, errstr_size)))
            return err;
    }

    o->iface = avro_generic_class_from_schema(s);
    if (!o->iface || avro_generic_value_new(o->iface, &o->value) != 0)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: %s", what, avro_strerror());
    if (with_shape && !(o->shape = sr_avro_shape_new(s, errstr, errstr_size)))
        return SR_ERR_NOMEM;
    return SR_OK;
}

static void out_schema_done(out_schema_t *o) {
    sr_avro_shape_destroy(o->shape);
    o->shape = NULL;
    value_release(&o->value);
    iface_release(&o->iface);
    schema_release(&o->schema);
}

/* ---- output encoder ------------------------------------------------------- */

struct sr_output_encoder {
    out_schema_t reco, alert;
    avro_writer_t mem_writer;
};

sr_output_encoder_t *sr_output_encoder_new(char *errstr, size_t errstr_size) {
    sr_output_encoder_t *enc = calloc(1, sizeof *enc);
    if (!enc) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "output encoder: out of memory");
        goto fail;
    }
    if (out_schema_init(&enc->reco, SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE, false, errstr,
                        errstr_size) != SR_OK ||
        out_schema_init(&enc->alert, SR_AVRO_SCHEMA_CHURN_ALERT, false, errstr,
                        errstr_size) != SR_OK)
        goto fail;
    if (!(enc->mem_writer = avro_writer_memory(no_bytes, 0))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "output encoder: %s", avro_strerror());
        goto fail;
    }
    return enc;
fail:
    sr_output_encoder_destroy(enc);
    return NULL;
}

void sr_output_encoder_destroy(sr_output_encoder_t *enc) {
    if (!enc)
        return;
    if (enc->mem_writer)
        avro_writer_free(enc->mem_writer);
    out_schema_done(&enc->reco);
    out_schema_done(&enc->alert);
    free(enc);
}

static int give_c_string(avro_value_t *v, const char *s) {
    return give_borrowed_string(v, s, strlen(s));
}

sr_err_t sr_encode_reco(sr_output_encoder_t *enc, const sr_reco_record_t *rec,
                        int32_t schema_id, uint8_t *buf, size_t cap, size_t *len_out,
                        char *errstr, size_t errstr_size) {
    if (!enc || !rec || !buf || !len_out || !rec->user_id || (!rec->items && rec->n_items))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "encode reco: NULL argument");
    for (size_t i = 0; i < rec->n_items; i++)
        if (!rec->items[i].item_id)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "encode reco: items[%zu].item_id is NULL", i);

    avro_value_t *v = &enc->reco.value, field, items, elem, sub;
    int rc;
    if ((rc = avro_value_get_by_index(v, R_USER_ID, &field, NULL)) ||
        (rc = give_c_string(&field, rec->user_id)) ||
        (rc = avro_value_get_by_index(v, R_ITEMS, &items, NULL)) ||
        (rc = avro_value_reset(&items)))
        goto avro_fail;
    for (size_t i = 0; i < rec->n_items; i++) {
        if ((rc = avro_value_append(&items, &elem, NULL)) ||
            (rc = avro_value_get_by_index(&elem, 0, &sub, NULL)) ||
            (rc = give_c_string(&sub, rec->items[i].item_id)) ||
            (rc = avro_value_get_by_index(&elem, 1, &sub, NULL)) ||
            (rc = avro_value_set_float(&sub, rec->items[i].score)))
            goto avro_fail;
    }
    if ((rc = avro_value_get_by_index(v, R_MODEL_VERSION, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->model_version)) ||
        (rc = avro_value_get_by_index(v, R_EVENT_TS_MS, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->event_ts_ms)) ||
        (rc = avro_value_get_by_index(v, R_PRODUCED_TS_MS, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->produced_ts_ms)) ||
        (rc = avro_value_get_by_index(v, R_SEQ, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->seq)))
        goto avro_fail;

    size_t header_len;
    sr_err_t err = begin_write(enc->mem_writer, SR_FRAMING_CONFLUENT, schema_id, buf, cap,
                               &header_len, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    return finish_write(enc->mem_writer, v, header_len, cap, len_out, errstr, errstr_size);
avro_fail:
    return encode_failure(rc, "encode reco", errstr, errstr_size);
}

sr_err_t sr_encode_alert(sr_output_encoder_t *enc, const sr_alert_record_t *rec,
                         int32_t schema_id, uint8_t *buf, size_t cap, size_t *len_out,
                         char *errstr, size_t errstr_size) {
    if (!enc || !rec || !buf || !len_out || !rec->alert_id || !rec->user_id ||
        (!rec->features && rec->n_features))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "encode alert: NULL argument");
    if ((unsigned)rec->level > SR_ALERT_HIGH || (unsigned)rec->state > SR_ALERT_RESOLVED)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "encode alert: level %d or state %d out of range", (int)rec->level,
                         (int)rec->state);
    for (size_t i = 0; i < rec->n_features; i++)
        if (!rec->features[i].feature)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "encode alert: features[%zu].feature is NULL", i);

    avro_value_t *v = &enc->alert.value, field, features, elem, sub;
    int rc;
    if ((rc = avro_value_get_by_index(v, A_ALERT_ID, &field, NULL)) ||
        (rc = give_c_string(&field, rec->alert_id)) ||
        (rc = avro_value_get_by_index(v, A_USER_ID, &field, NULL)) ||
        (rc = give_c_string(&field, rec->user_id)) ||
        (rc = avro_value_get_by_index(v, A_PROBABILITY, &field, NULL)) ||
        (rc = avro_value_set_double(&field, rec->probability)) ||
        (rc = avro_value_get_by_index(v, A_LEVEL, &field, NULL)) ||
        (rc = avro_value_set_enum(&field, (int)rec->level)) ||
        (rc = avro_value_get_by_index(v, A_STATE, &field, NULL)) ||
        (rc = avro_value_set_enum(&field, (int)rec->state)) ||
        (rc = avro_value_get_by_index(v, A_LAST_SEEN_MS, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->last_seen_ms)) ||
        (rc = avro_value_get_by_index(v, A_TOP_FEATURES, &features, NULL)) ||
        (rc = avro_value_reset(&features)))
        goto avro_fail;
    for (size_t i = 0; i < rec->n_features; i++) {
        if ((rc = avro_value_append(&features, &elem, NULL)) ||
            (rc = avro_value_get_by_index(&elem, 0, &sub, NULL)) ||
            (rc = give_c_string(&sub, rec->features[i].feature)) ||
            (rc = avro_value_get_by_index(&elem, 1, &sub, NULL)) ||
            (rc = avro_value_set_double(&sub, rec->features[i].weight)))
            goto avro_fail;
    }
    if ((rc = avro_value_get_by_index(v, A_EVENT_TS_MS, &field, NULL)) ||
        (rc = avro_value_set_long(&field, rec->event_ts_ms)))
        goto avro_fail;

    size_t header_len;
    sr_err_t err = begin_write(enc->mem_writer, SR_FRAMING_CONFLUENT, schema_id, buf, cap,
                               &header_len, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    return finish_write(enc->mem_writer, v, header_len, cap, len_out, errstr, errstr_size);
avro_fail:
    return encode_failure(rc, "encode alert", errstr, errstr_size);
}

/* ---- output decoder ------------------------------------------------------- */

struct sr_output_decoder {
    out_schema_t reco, alert;
    avro_reader_t mem_reader;
};

sr_output_decoder_t *sr_output_decoder_new(char *errstr, size_t errstr_size) {
    sr_output_decoder_t *dec = calloc(1, sizeof *dec);
    if (!dec) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "output decoder: out of memory");
        goto fail;
    }
    if (out_schema_init(&dec->reco, SR_AVRO_SCHEMA_RECOMMENDATION_UPDATE, true, errstr,
                        errstr_size) != SR_OK ||
        out_schema_init(&dec->alert, SR_AVRO_SCHEMA_CHURN_ALERT, true, errstr,
                        errstr_size) != SR_OK)
        goto fail;
    if (!(dec->mem_reader = avro_reader_memory(no_bytes, 0))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "output decoder: %s", avro_strerror());
        goto fail;
    }
    return dec;
fail:
    sr_output_decoder_destroy(dec);
    return NULL;
}

void sr_output_decoder_destroy(sr_output_decoder_t *dec) {
    if (!dec)
        return;
    if (dec->mem_reader)
        avro_reader_free(dec->mem_reader);
    out_schema_done(&dec->reco);
    out_schema_done(&dec->alert);
    free(dec);
}

/* Framing, shape check and Avro-C read into o->value. */
static sr_err_t read_output(avro_reader_t mem_reader, out_schema_t *o, const char *what,
                            const void *buf, size_t len, int32_t *schema_id_out, char *errstr,
                            size_t errstr_size) {
    const uint8_t *payload;
    size_t payload_len;
    int32_t schema_id;
    sr_err_t err;
    if (!buf && len > 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: NULL buffer", what);
    if ((err = sr_framing_parse(buf, len, &schema_id, &payload, &payload_len, errstr,
                                errstr_size)) != SR_OK)
        return err;
    if (schema_id_out)
        *schema_id_out = schema_id;
    if ((err = sr_avro_shape_check(o->shape, payload, payload_len, errstr, errstr_size)) != SR_OK)
        return err;
    avro_reader_memory_set_source(mem_reader, (const char *)payload, (int64_t)payload_len);
    int rc = avro_value_read(mem_reader, &o->value);
    if (rc != 0)
        return avro_failure(rc, what, errstr, errstr_size);
    return SR_OK;
}

static int get_c_string(const avro_value_t *v, const char **out) {
    size_t size;
    return avro_value_get_string(v, out, &size);
}

sr_err_t sr_decode_reco(sr_output_decoder_t *dec, const void *buf, size_t len,
                        sr_reco_record_t *out, sr_scored_id_t *items, size_t items_cap,
                        int32_t *schema_id_out, char *errstr, size_t errstr_size) {
    if (!dec || !out || (!items && items_cap))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "decode reco: NULL argument");
    sr_err_t err = read_output(dec->mem_reader, &dec->reco, "RecommendationUpdate", buf, len,
                               schema_id_out, errstr, errstr_size);
    if (err != SR_OK)
        return err;

    const avro_value_t *v = &dec->reco.value;
    avro_value_t field, list, elem, sub;
    size_t n;
    int rc;
    if ((rc = avro_value_get_by_index(v, R_USER_ID, &field, NULL)) ||
        (rc = get_c_string(&field, &out->user_id)) ||
        (rc = avro_value_get_by_index(v, R_ITEMS, &list, NULL)) ||
        (rc = avro_value_get_size(&list, &n)))
        goto avro_fail;
    if (n > items_cap)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "decode reco: record has %zu items, the caller's array holds %zu", n,
                         items_cap);
    for (size_t i = 0; i < n; i++) {
        if ((rc = avro_value_get_by_index(&list, i, &elem, NULL)) ||
            (rc = avro_value_get_by_index(&elem, 0, &sub, NULL)) ||
            (rc = get_c_string(&sub, &items[i].item_id)) ||
            (rc = avro_value_get_by_index(&elem, 1, &sub, NULL)) ||
            (rc = avro_value_get_float(&sub, &items[i].score)))
            goto avro_fail;
    }
    out->items = items;
    out->n_items = n;
    if ((rc = avro_value_get_by_index(v, R_MODEL_VERSION, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->model_version)) ||
        (rc = avro_value_get_by_index(v, R_EVENT_TS_MS, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->event_ts_ms)) ||
        (rc = avro_value_get_by_index(v, R_PRODUCED_TS_MS, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->produced_ts_ms)) ||
        (rc = avro_value_get_by_index(v, R_SEQ, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->seq)))
        goto avro_fail;
    return SR_OK;
avro_fail:
    return avro_failure(rc, "RecommendationUpdate", errstr, errstr_size);
}

sr_err_t sr_decode_alert(sr_output_decoder_t *dec, const void *buf, size_t len,
                         sr_alert_record_t *out, sr_feature_weight_t *features,
                         size_t features_cap, int32_t *schema_id_out, char *errstr,
                         size_t errstr_size) {
    if (!dec || !out || (!features && features_cap))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "decode alert: NULL argument");
    sr_err_t err = read_output(dec->mem_reader, &dec->alert, "ChurnAlert", buf, len,
                               schema_id_out, errstr, errstr_size);
    if (err != SR_OK)
        return err;

    const avro_value_t *v = &dec->alert.value;
    avro_value_t field, list, elem, sub;
    int level, state;
    size_t n;
    int rc;
    if ((rc = avro_value_get_by_index(v, A_ALERT_ID, &field, NULL)) ||
        (rc = get_c_string(&field, &out->alert_id)) ||
        (rc = avro_value_get_by_index(v, A_USER_ID, &field, NULL)) ||
        (rc = get_c_string(&field, &out->user_id)) ||
        (rc = avro_value_get_by_index(v, A_PROBABILITY, &field, NULL)) ||
        (rc = avro_value_get_double(&field, &out->probability)) ||
        (rc = avro_value_get_by_index(v, A_LEVEL, &field, NULL)) ||
        (rc = avro_value_get_enum(&field, &level)) ||
        (rc = avro_value_get_by_index(v, A_STATE, &field, NULL)) ||
        (rc = avro_value_get_enum(&field, &state)) ||
        (rc = avro_value_get_by_index(v, A_LAST_SEEN_MS, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->last_seen_ms)) ||
        (rc = avro_value_get_by_index(v, A_TOP_FEATURES, &list, NULL)) ||
        (rc = avro_value_get_size(&list, &n)))
        goto avro_fail;
    /* The shape check bounded both enums by their symbol counts. */
    out->level = (sr_alert_level_t)level;
    out->state = (sr_alert_state_t)state;
    if (n > features_cap)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "decode alert: record has %zu features, the caller's array holds %zu",
                         n, features_cap);
    for (size_t i = 0; i < n; i++) {
        if ((rc = avro_value_get_by_index(&list, i, &elem, NULL)) ||
            (rc = avro_value_get_by_index(&elem, 0, &sub, NULL)) ||
            (rc = get_c_string(&sub, &features[i].feature)) ||
            (rc = avro_value_get_by_index(&elem, 1, &sub, NULL)) ||
            (rc = avro_value_get_double(&sub, &features[i].weight)))
            goto avro_fail;
    }
    out->features = features;
    out->n_features = n;
    if ((rc = avro_value_get_by_index(v, A_EVENT_TS_MS, &field, NULL)) ||
        (rc = avro_value_get_long(&field, &out->event_ts_ms)))
        goto avro_fail;
    return SR_OK;
avro_fail:
    return avro_failure(rc, "ChurnAlert", errstr, errstr_size);
}
