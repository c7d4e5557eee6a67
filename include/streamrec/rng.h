/* streamrec deterministic random numbers.
 *
 * The model must give identical outputs for identical input (tests, replays,
 * eval), so every random choice comes from these generators, seeded from
 * configuration or from an id's hash, never from the clock. */
#ifndef STREAMREC_RNG_H
#define STREAMREC_RNG_H

#include <stdint.h>

/* SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, good enough to seed
 * vectors and to sample negatives; not for anything security related. */
static inline uint64_t sr_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (Lemire's multiply-shift; bias is negligible for n << 2^32). */
static inline uint32_t sr_rng_below(uint64_t *state, uint32_t n) {
    return (uint32_t)(((sr_rng_next(state) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [-1, 1). */
static inline float sr_rng_symmetric(uint64_t *state) {
    return (float)((double)(sr_rng_next(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

#endif
