/* streamrec exponential time decay with a lazy global scale.
 *
 * A decayed counter c(t) = sum_k w_k * 2^(-(t - t_k)/h). Decaying every counter
 * on every tick would cost O(counters); instead each increment is stored
 * multiplied by the scale g(t) = 2^((t - origin)/h), and a stored value s means
 * s / g(now). Ratios of stored values (cosine similarity, ranking) need no
 * division at all. When g grows past SR_DECAY_RENORM_AT, the owner multiplies
 * all its stored values by 1/g once and moves the origin (sr_decay_renormed)
 * -- once every 40 half-lives, so the O(counters) pass is rare.
 *
 * The clock only moves forward: a late event is counted at the newest time
 * seen, which over-weights it by at most the allowed lateness. */
#ifndef STREAMREC_DECAY_H
#define STREAMREC_DECAY_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "streamrec/serial.h"

#define SR_DECAY_RENORM_AT 1.0e12 /* ~2^40: float keeps 24 bits of the ratio */

typedef struct sr_decay {
    double half_life_ms;
    int64_t origin_ms;
    int64_t now_ms;
    double scale; /* g(now_ms) */
    bool started;
} sr_decay_t;

static inline void sr_decay_init(sr_decay_t *d, int64_t half_life_ms) {
    d->half_life_ms = half_life_ms > 0 ? (double)half_life_ms : 1.0;
    d->origin_ms = d->now_ms = 0;
    d->scale = 1.0;
    d->started = false;
}

/* Advances the clock to ts_ms (never backwards) and returns the current scale.
 * Returns true in *renorm_needed when the owner should renormalise. */
static inline double sr_decay_advance(sr_decay_t *d, int64_t ts_ms, bool *renorm_needed) {
    if (!d->started) {
        d->origin_ms = d->now_ms = ts_ms;
        d->started = true;
    } else if (ts_ms > d->now_ms) {
        d->now_ms = ts_ms;
        d->scale = exp2((double)(d->now_ms - d->origin_ms) / d->half_life_ms);
    }
    *renorm_needed = d->scale > SR_DECAY_RENORM_AT;
    return d->scale;
}

/* Call after multiplying every stored value by 1/d->scale. */
static inline void sr_decay_renormed(sr_decay_t *d) {
    d->origin_ms = d->now_ms;
    d->scale = 1.0;
}

/* Factor by which a value decays over dt_ms (1 for dt <= 0). */
static inline float sr_decay_factor(int64_t dt_ms, double half_life_ms) {
    return dt_ms <= 0 ? 1.0f : (float)exp2(-(double)dt_ms / half_life_ms);
}

/* The clock's state (its half-life is configuration, not state). Load
 * refuses a scale that is not a finite positive number. */
static inline void sr_decay_save(const sr_decay_t *d, sr_writer_t *w) {
    sr_writer_i64(w, d->origin_ms);
    sr_writer_i64(w, d->now_ms);
    sr_writer_f64(w, d->scale);
    sr_writer_u8(w, d->started ? 1 : 0);
}

static inline bool sr_decay_load(sr_decay_t *d, sr_reader_t *r) {
    d->origin_ms = sr_reader_i64(r);
    d->now_ms = sr_reader_i64(r);
    d->scale = sr_reader_f64(r);
    uint8_t started = sr_reader_u8(r);
    d->started = started == 1;
    return sr_reader_ok(r) && started <= 1 && isfinite(d->scale) && d->scale > 0 &&
           d->now_ms >= d->origin_ms;
}

#endif
