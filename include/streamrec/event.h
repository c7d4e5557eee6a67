/* streamrec event: one click event as the engine sees it.
 *
 * Strings are borrowed (pointer + length, not NUL-terminated): whoever filled
 * the event (a decoder, a CSV reader) owns the bytes, and they stay valid only
 * until that producer's next call. The engine copies what it keeps (through
 * its interning dictionaries), so an event can be applied and then forgotten. */
#ifndef STREAMREC_EVENT_H
#define STREAMREC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Same order as the Avro enum streamrec.EventType, so the Avro symbol index
 * maps straight onto it. */
typedef enum sr_event_type {
    SR_EVENT_UNKNOWN = 0,
    SR_EVENT_VIEW,
    SR_EVENT_ADD_TO_CART,
    SR_EVENT_REMOVE_FROM_CART,
    SR_EVENT_PURCHASE,
    SR_EVENT__COUNT
} sr_event_type_t;

typedef struct sr_str {
    const char *ptr; /* NULL with len 0 means "absent" (Avro null) */
    size_t len;
} sr_str_t;

typedef struct sr_event {
    sr_str_t event_id;
    sr_str_t user_id;
    sr_str_t item_id;     /* len 0: an event without an item */
    sr_str_t session_id;  /* optional */
    sr_str_t category_id; /* optional */
    sr_event_type_t type;
    int64_t ts_ms;        /* event time, ms since the Unix epoch */
    double price;         /* valid only if has_price */
    bool has_price;
} sr_event_t;

/* "VIEW", "PURCHASE", ... (the Avro symbol); "UNKNOWN" for out-of-range. */
const char *sr_event_type_name(sr_event_type_t type);

/* Parses an Avro symbol name (exact, case-sensitive). Returns SR_EVENT__COUNT
 * if the name is not a known symbol. */
sr_event_type_t sr_event_type_parse(const char *name, size_t len);

static inline sr_str_t sr_str_c(const char *s) {
    sr_str_t r = {s, 0};
    if (s)
        while (s[r.len]) r.len++;
    return r;
}

#endif
