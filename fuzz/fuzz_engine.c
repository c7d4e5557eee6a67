/* Fuzz target: the engine on arbitrary event streams -- the ids, times,
 * types and prices a decoder or CSV reader can hand it, hostile ones
 * included -- with a flush (recommendations, neighbours, churn sweeps)
 * every few events.
 *
 * Input: byte 0 picks the configuration (bit 0: time.future.max.minutes
 * off, so any ts_ms reaches the model), then events, each
 *   type (1 byte, taken mod 6: out-of-range types too), ts_ms (8 bytes,
 *   little-endian), flags (1 byte: has price, has category),
 *   user/item lengths (1 byte each, then the bytes), [category length and
 *   bytes], [price, 8 bytes as a double],
 * until the input runs out. One engine per input, so inputs are
 * independent and a crash replays from its file alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/engine.h"

typedef struct reader {
    const uint8_t *p, *end;
} reader_t;

static int take(reader_t *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n)
        return 0;
    memcpy(out, r->p, n);
    r->p += n;
    return 1;
}

static int take_str(reader_t *r, sr_str_t *s) {
    uint8_t len;
    if (!take(r, &len, 1) || (size_t)(r->end - r->p) < len)
        return 0;
    s->ptr = (const char *)r->p;
    s->len = len;
    r->p += len;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.mf.k = 4; /* the arithmetic is the same, the work smaller */
    if (data[0] & 1)
        cfg.future_max_ms = 0;
    char errstr[256];
    sr_engine_t *e = sr_engine_new(&cfg, errstr, sizeof errstr);
    if (!e) {
        fprintf(stderr, "fuzz_engine: %s\n", errstr);
        abort();
    }
    reader_t r = {data + 1, data + size};
    for (unsigned n = 1;; n++) {
        sr_event_t ev;
        memset(&ev, 0, sizeof ev);
        uint8_t type, flags;
        uint64_t ts;
        if (!take(&r, &type, 1) || !take(&r, &ts, 8) || !take(&r, &flags, 1) ||
            !take_str(&r, &ev.user_id) || !take_str(&r, &ev.item_id))
            break;
        if ((flags & 2) && !take_str(&r, &ev.category_id))
            break;
        if ((flags & 1) && !take(&r, &ev.price, 8))
            break;
        ev.has_price = flags & 1;
        ev.type = (sr_event_type_t)(type % 6);
        ev.ts_ms = (int64_t)ts;
        if (ev.user_id.len == 0)
            ev.user_id.ptr = NULL;
        if (ev.item_id.len == 0)
            ev.item_id.ptr = NULL;
        sr_engine_prefetch(e, &ev);
        (void)sr_engine_apply(e, &ev, errstr, sizeof errstr);
        if (n % 4 == 0) {
            const sr_outbox_t *out;
            if (sr_engine_flush(e, &out) != SR_OK)
                break;
        }
    }
    const sr_outbox_t *out;
    (void)sr_engine_flush(e, &out);
    sr_engine_destroy(e);
    return 0;
}
