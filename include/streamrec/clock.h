/* streamrec clock: wall and monotonic time, for I/O and measurement only.
 *
 * The model never reads these: it runs on event time (DESIGN "Time"). They
 * time batches, timeouts, freshness (wall: comparable with Kafka record
 * timestamps) and benchmarks (monotonic). */
#ifndef STREAMREC_CLOCK_H
#define STREAMREC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sr_clock_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t sr_clock_mono_ms(void) { return sr_clock_mono_ns() / 1000000; }

static inline double sr_clock_mono_s(void) { return (double)sr_clock_mono_ns() / 1e9; }

/* Milliseconds since the Unix epoch, as Kafka timestamps are. */
static inline int64_t sr_clock_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
