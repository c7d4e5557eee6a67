/* streamrec prom: the Prometheus text exposition format, version 0.0.4, and
 * the fixed-bucket histogram that feeds it.
 *
 * The writer renders families and samples into a growable buffer; it does no
 * I/O and keeps no registry. Whoever serves /metrics walks its own counters at
 * scrape time and writes them here (the "collector" pattern of the official
 * clients), so the hot paths keep plain atomics and never know about text.
 *
 * Format rules the writer applies (prometheus.io, "Exposition formats"):
 *   - one "# HELP name text" and "# TYPE name type" per family, before its
 *     samples; HELP text escapes '\' and newline;
 *   - a sample is `name{label="value",...} number`; label values escape '\',
 *     '"' and newline;
 *   - numbers are Go-style floats: +Inf, -Inf, NaN, else the shortest
 *     decimal that reads back as the same double; integers from uint64
 *     counters are printed exactly;
 *   - a histogram is its cumulative name_bucket{le="..."} series ending with
 *     le="+Inf", then name_sum and name_count, where name_count equals the
 *     +Inf bucket.
 * Metric and label names are the caller's constants and are not checked.
 *
 * Memory: the buffer grows by doubling; after an allocation failure every
 * later write is dropped and sr_prom_buf_failed() says so. */
#ifndef STREAMREC_PROM_H
#define STREAMREC_PROM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sr_prom_buf {
    char *text; /* NUL-terminated while len < cap */
    size_t len, cap;
    bool failed;
} sr_prom_buf_t;

void sr_prom_buf_init(sr_prom_buf_t *b);
void sr_prom_buf_free(sr_prom_buf_t *b);
bool sr_prom_buf_failed(const sr_prom_buf_t *b);

/* Hands the text (malloc'd, NUL-terminated) to the caller, who frees it;
 * the buffer is empty afterwards. NULL after a failure. */
char *sr_prom_buf_take(sr_prom_buf_t *b, size_t *len);

typedef enum sr_prom_type { SR_PROM_COUNTER, SR_PROM_GAUGE, SR_PROM_HISTOGRAM } sr_prom_type_t;

typedef struct sr_prom_label {
    const char *name;
    const char *value;
} sr_prom_label_t;

/* HELP and TYPE lines of one family. */
void sr_prom_family(sr_prom_buf_t *b, const char *name, sr_prom_type_t type, const char *help);

/* One sample; labels may be NULL when n_labels is 0. */
void sr_prom_sample(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                    size_t n_labels, double value);
void sr_prom_sample_u64(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                        size_t n_labels, uint64_t value);

/* ---- fixed-bucket histogram ----------------------------------------------
 *
 * Values are recorded as integers in a base unit (microseconds, events) and
 * exported divided by `per_unit`, the base units in one exported unit (1e6
 * turns microseconds into the seconds that Prometheus names want; a divisor
 * rather than a factor, because 25000 / 1e6 is exactly the double 0.025 and
 * 25000 * 1e-6 is not). Bounds are inclusive upper bounds in the base
 * unit, strictly increasing; a last +Inf bucket is implicit. Recording is a
 * scan of at most SR_PROM_MAX_BOUNDS bounds and two relaxed atomic adds, so
 * one thread records while another renders. */
#define SR_PROM_MAX_BOUNDS 24

typedef struct sr_prom_hist {
    uint64_t bounds[SR_PROM_MAX_BOUNDS];
    size_t n_bounds;
    double per_unit;
    _Atomic uint64_t count[SR_PROM_MAX_BOUNDS + 1]; /* per bucket, not cumulative */
    _Atomic uint64_t sum;                           /* in the base unit */
} sr_prom_hist_t;

/* Copies bounds (at most SR_PROM_MAX_BOUNDS are used). */
void sr_prom_hist_init(sr_prom_hist_t *h, const uint64_t *bounds, size_t n_bounds,
                       double per_unit);
void sr_prom_hist_observe(sr_prom_hist_t *h, uint64_t value);
uint64_t sr_prom_hist_count(const sr_prom_hist_t *h);

/* name_bucket / name_sum / name_count samples (the family line is the
 * caller's, once per family). labels: extra labels before le. */
void sr_prom_histogram(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                       size_t n_labels, const sr_prom_hist_t *h);

#endif
