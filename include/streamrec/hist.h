/* streamrec hist: a latency histogram with ~3% relative precision.
 *
 * Log-linear buckets (HdrHistogram's idea): the bucket of a value v >= 32 is
 * its power of two and its next 5 bits, so any quantile is exact to within
 * 1/32 of the value, from microseconds to hours, in 2 KiB of counters.
 * Values below 32 have a bucket each. Recording is one relaxed atomic add,
 * so one thread may record while another reads quantiles. */
#ifndef STREAMREC_HIST_H
#define STREAMREC_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define SR_HIST_BUCKETS (64 * 32)

typedef struct sr_hist {
    _Atomic uint64_t count[SR_HIST_BUCKETS];
    _Atomic uint64_t total;
} sr_hist_t;

void sr_hist_init(sr_hist_t *h);
void sr_hist_record(sr_hist_t *h, uint64_t value);
uint64_t sr_hist_total(const sr_hist_t *h);
/* The smallest bucket upper bound with at least q of the values at or
 * below it (q in [0, 1]); 0 when empty. */
uint64_t sr_hist_quantile(const sr_hist_t *h, double q);

/* Copies h's counters (a consistent-enough view while it is being recorded). */
void sr_hist_snapshot(const sr_hist_t *h, sr_hist_t *out);

/* The quantile of what was recorded since `before` (a snapshot of h):
 * recent latency, not latency since the start. */
uint64_t sr_hist_quantile_since(const sr_hist_t *h, const sr_hist_t *before, double q);

#endif
