// rng.c: see rng.h.
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rng_hash(uint64_t a, uint64_t b) {
  uint64_t s = a * 0xD6E8FEB86659FD93ull ^ (b + 0x632BE59BD9B4E019ull);
  splitmix64(&s);
  return splitmix64(&s);
}

Rng rng_derive(uint64_t seed, uint64_t a, uint64_t b) {
  Rng r = {rng_hash(rng_hash(seed, a), b)};
  return r;
}

uint64_t rng_u64(Rng *r) {
  return splitmix64(&r->s);
}

float rng_uniform(Rng *r) {
  return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint32_t rng_below(Rng *r, uint32_t n) {
  // Lemire's multiply-shift; the tiny bias is irrelevant for shuffles of datasets.
  return (uint32_t)(((rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float rng_normal(Rng *r) {
  double u1 = ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  double u2 = (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void rng_shuffle(Rng *r, int32_t *idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(((rng_u64(r) >> 11) * (double)(i + 1)) * (1.0 / 9007199254740992.0));
    if (j > i) j = i;
    int32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
