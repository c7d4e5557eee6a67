#include "streamrec/hist.h"

#include <stddef.h>

static unsigned bucket_of(uint64_t v) {
    if (v < 32)
        return (unsigned)v;
    unsigned top = 63u - (unsigned)__builtin_clzll(v); /* >= 5 */
    unsigned sub = (unsigned)(v >> (top - 5)) & 31u;
    return (top - 4) * 32 + sub;
}

static uint64_t upper_bound(unsigned b) {
    if (b < 32)
        return b;
    unsigned top = b / 32 + 4, sub = b % 32;
    return ((uint64_t)(32 + sub + 1) << (top - 5)) - 1;
}

void sr_hist_init(sr_hist_t *h) {
    for (unsigned b = 0; b < SR_HIST_BUCKETS; b++) atomic_init(&h->count[b], 0);
    atomic_init(&h->total, 0);
}

void sr_hist_record(sr_hist_t *h, uint64_t value) {
    atomic_fetch_add_explicit(&h->count[bucket_of(value)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
}

uint64_t sr_hist_total(const sr_hist_t *h) {
    return atomic_load_explicit(&h->total, memory_order_relaxed);
}

static uint64_t quantile(const sr_hist_t *h, const sr_hist_t *before, double q) {
    uint64_t total = 0;
    for (unsigned b = 0; b < SR_HIST_BUCKETS; b++)
        total += atomic_load_explicit(&h->count[b], memory_order_relaxed) -
                 (before ? atomic_load_explicit(&before->count[b], memory_order_relaxed) : 0);
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < SR_HIST_BUCKETS; b++) {
        seen += atomic_load_explicit(&h->count[b], memory_order_relaxed) -
                (before ? atomic_load_explicit(&before->count[b], memory_order_relaxed) : 0);
        if (seen >= want)
            return upper_bound(b);
    }
    return upper_bound(SR_HIST_BUCKETS - 1);
}

uint64_t sr_hist_quantile(const sr_hist_t *h, double q) { return quantile(h, NULL, q); }

uint64_t sr_hist_quantile_since(const sr_hist_t *h, const sr_hist_t *before, double q) {
    return quantile(h, before, q);
}

void sr_hist_snapshot(const sr_hist_t *h, sr_hist_t *out) {
    uint64_t total = 0;
    for (unsigned b = 0; b < SR_HIST_BUCKETS; b++) {
        uint64_t c = atomic_load_explicit(&h->count[b], memory_order_relaxed);
        atomic_store_explicit(&out->count[b], c, memory_order_relaxed);
        total += c;
    }
    atomic_store_explicit(&out->total, total, memory_order_relaxed);
}
