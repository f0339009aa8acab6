// rng.h: the small deterministic generator behind synthetic checkpoints.
//
// splitmix64 (Steele, Lea, Flood 2014) for uniform bits and Box-Muller for
// normals: a few lines, no state beyond 64 bits plus a spare normal, and the
// same stream on every platform for a given seed (up to libm's last-ulp
// differences in log/cos/sin).
#ifndef LLAMA_RNG_H
#define LLAMA_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct llama_rng {
  uint64_t state;
  bool has_spare;
  double spare;
} llama_rng;

static inline void llama_rng_seed(llama_rng *r, uint64_t seed) {
  r->state = seed;
  r->has_spare = false;
  r->spare = 0.0;
}

static inline uint64_t llama_rng_next(llama_rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
static inline double llama_rng_uniform(llama_rng *r) {
  return (double)(llama_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normal; Box-Muller yields two per pair of uniforms, keep one.
static inline double llama_rng_normal(llama_rng *r) {
  if (r->has_spare) {
    r->has_spare = false;
    return r->spare;
  }
  double u1 = 1.0 - llama_rng_uniform(r); // (0, 1]: log(u1) is finite
  double u2 = llama_rng_uniform(r);
  double radius = sqrt(-2.0 * log(u1));
  double angle = 6.283185307179586 * u2;
  r->spare = radius * sin(angle);
  r->has_spare = true;
  return radius * cos(angle);
}

#endif
