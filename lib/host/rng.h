/*
 * rng.h - clvit's one host random number generator, splitmix64 (Steele, Lea and Flood,
 * "Fast splittable pseudorandom number generators", 2014), header-only so that the device
 * library (weight init, dropout seeds) and the host code (splits, shuffles, augmentation)
 * share it without a link dependency.
 *
 * It is counter-based: the state is a counter advanced by a fixed odd constant (the golden
 * ratio times 2^64) and each output is a bijective hash of the counter, so any uint64_t (a
 * seed) is a valid state, and clvit_rng_at(seed, i) gives the i-th output of the stream that
 * starts at seed without stepping through the ones before it.
 */
#ifndef CLVIT_RNG_H
#define CLVIT_RNG_H

#include <stdint.h>

#define CLVIT_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL

/* The output hash: a bijection of the 64-bit counter. */
static inline uint64_t clvit_splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Advances *state and returns the next output. */
static inline uint64_t clvit_rng_next(uint64_t *state) {
    *state += CLVIT_SPLITMIX_GAMMA;
    return clvit_splitmix_mix(*state);
}

/* The i-th output (0-based) of the stream from seed: what the (i+1)-th clvit_rng_next on a
 * state initialised to seed returns. */
static inline uint64_t clvit_rng_at(uint64_t seed, uint64_t i) {
    return clvit_splitmix_mix(seed + (i + 1) * CLVIT_SPLITMIX_GAMMA);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float clvit_rng_uniform(uint64_t *state) {
    return (float)(clvit_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [0, n), unbiased (Lemire's multiply-shift with rejection of the biased low
 * products); 0 when n == 0. */
static inline uint32_t clvit_rng_below(uint64_t *state, uint32_t n) {
    if (n == 0) return 0;
    uint64_t m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

#endif /* CLVIT_RNG_H */
