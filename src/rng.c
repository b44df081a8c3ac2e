/* xoshiro256** seeded by splitmix64, exactly as published: the sample generator and the
 * pipeline Monte Carlo depend on these sequences never changing. The generator step
 * itself, kp_rng_next, is inline in the header. */
#include "kpipress/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void kp_rng_seed(kp_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03u);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

double kp_rng_unit(kp_rng *r)
{
    return (double)(kp_rng_next(r) >> 11) * 0x1.0p-53;
}
