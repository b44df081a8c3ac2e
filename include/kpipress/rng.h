/* The one pseudo-random generator of kpipress: xoshiro256** (Blackman & Vigna) seeded by
 * splitmix64. Its output is fixed by its definition on every platform, unlike rand(), so a
 * seed reproduces a sample data set or a Monte Carlo forecast byte for byte. */
#ifndef KPIPRESS_RNG_H
#define KPIPRESS_RNG_H

#include <stdint.h>

typedef struct kp_rng {
    uint64_t s[4];
} kp_rng;

/* Seed from (seed, stream): different streams of one seed are independent sequences, so
 * a caller can draw for one purpose without shifting another's numbers. */
void kp_rng_seed(kp_rng *r, uint64_t seed, uint64_t stream);

/* The next 64-bit output. Inline: the pipeline Monte Carlo draws hundreds of millions. */
static inline uint64_t kp_rng_next(kp_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform double in [0, 1) from the top 53 bits. */
double kp_rng_unit(kp_rng *r);

#endif
