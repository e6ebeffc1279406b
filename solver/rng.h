// rng.h: small, seeded, reproducible random numbers. No global state: every stream is a value.
// Streams are derived from (seed, purpose, index...) with rng_derive, so that what a sample,
// a layer or an epoch gets does not depend on how many ranks run or in what order.
#pragma once

#include <stdint.h>

typedef struct {
  uint64_t s;  // splitmix64 state
} Rng;

// A well-mixed 64-bit hash of a and b (splitmix64 finaliser of a combination).
uint64_t rng_hash(uint64_t a, uint64_t b);
// A stream for (seed, a, b): e.g. rng_derive(seed, RNG_AUGMENT, epoch * n + i).
Rng rng_derive(uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_u64(Rng *r);
// Uniform in [0, 1), 24 random bits.
float rng_uniform(Rng *r);
// Uniform integer in [0, n), n > 0.
uint32_t rng_below(Rng *r, uint32_t n);
// Standard normal (Box-Muller, in double).
float rng_normal(Rng *r);
// In-place Fisher-Yates shuffle of idx [n].
void rng_shuffle(Rng *r, int32_t *idx, int64_t n);

// Purposes, so that streams for different uses never coincide.
enum {
  RNG_INIT = 1,     // parameter initialisation
  RNG_ORDER = 2,    // data order per epoch
  RNG_AUGMENT = 3,  // augmentation per sample
  RNG_SPLIT = 4,    // forget split
  RNG_SYNTH = 5,    // synthetic data
  RNG_METHOD = 6,   // method-specific (random labels, probes, ...)
};
