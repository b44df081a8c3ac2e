/* Exact grouped medians with one sort of all values (see include/kpipress/median.h). */
#include "kpipress/median.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An unsigned key in the order of the doubles: negative values with every bit flipped
 * (larger magnitude, smaller key), the others with the sign bit set. -0.0 is keyed as
 * 0.0: equal values, like equal keys, keep their row order. */
static uint64_t order_key(double v)
{
    uint64_t k;
    if (v == 0)
        v = 0; /* -0.0 */
    memcpy(&k, &v, sizeof k);
    return k >> 63 ? ~k : k | (UINT64_C(1) << 63);
}

/* The value of an order key (order_key's inverse but for -0.0, which it reads as 0.0). */
static double key_value(uint64_t k)
{
    uint64_t bits = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* The values by value, ties in index order: a stable LSD radix sort of their order keys
 * (eight passes of a byte, a pass skipped where the byte is the same throughout),
 * carrying each value's tag (tag NULL: its index), so that the pass in value order reads
 * keys and tags in sequence rather than a random row of each value. Leaves the sorted
 * keys in *key_out and the tags in *tag_out (the caller frees both). */
static int sort_tagged(const double *v, const unsigned *tag, size_t n, uint64_t **key_out,
                       unsigned **tag_out)
{
    size_t m = n ? n : 1;
    assert(n <= UINT32_MAX); /* tags are 32-bit */
    uint64_t *key = malloc(m * sizeof *key), *key2 = malloc(m * sizeof *key2);
    unsigned *t = malloc(m * sizeof *t), *t2 = malloc(m * sizeof *t2);
    if (!key || !key2 || !t || !t2) {
        free(key);
        free(key2);
        free(t);
        free(t2);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        assert(v[i] == v[i]);
        key[i] = order_key(v[i]);
        t[i] = tag ? tag[i] : (unsigned)i;
    }
    for (int shift = 0; shift < 64 && n; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((key[i] >> shift) & 0xff) + 1]++;
        if (count[((key[0] >> shift) & 0xff) + 1] == n)
            continue;
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) {
            size_t at = count[(key[i] >> shift) & 0xff]++;
            key2[at] = key[i];
            t2[at] = t[i];
        }
        uint64_t *tk = key;
        key = key2;
        key2 = tk;
        unsigned *tt = t;
        t = t2;
        t2 = tt;
    }
    free(key2);
    free(t2);
    *key_out = key;
    *tag_out = t;
    return 0;
}

/* Group by group, value v (the next in value order) is taken when it is the group's
 * (count-1)/2-th or count/2-th: the middle values, the same one for an odd count. */
static void pick(const size_t *ids, size_t k, double v, const size_t *count, size_t *seen,
                 double *median)
{
    for (size_t j = 0; j < k; j++) {
        size_t id = ids[j], c = count[id], s = seen[id]++;
        assert(s < c);
        if (s == (c - 1) / 2)
            median[id] = v;
        if (s == c / 2 && c % 2 == 0)
            median[id] = (median[id] + v) / 2.0;
    }
}

/* The medians of the values in one pass in value order: with tag NULL, value i is in the
 * groups of i and read from v; else in those of tag[i] and read back from its sort key
 * (v then holds no -0.0, which its key reads as 0.0). */
static int grouped(const double *v, const unsigned *tag, size_t n, size_t ngroups,
                   const kp_median_groups *g, double *median, const size_t *count)
{
    uint64_t *key = NULL;
    unsigned *t = NULL;
    size_t *ids = malloc((g->max ? g->max : 1) * sizeof *ids);
    size_t *seen = calloc(ngroups ? ngroups : 1, sizeof *seen);
    int rc = ids && seen ? 0 : -1;
    if (rc || (rc = sort_tagged(v, tag, n, &key, &t)))
        goto done;
    for (size_t i = 0; i < ngroups; i++)
        median[i] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = g->groups(g->ctx, t[i], ids, g->max);
        assert(k <= g->max);
        pick(ids, k, tag ? key_value(key[i]) : v[t[i]], count, seen, median);
    }
done:
    free(key);
    free(t);
    free(ids);
    free(seen);
    return rc;
}

int kp_median_grouped_counted(const double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                              double *median, const size_t *count)
{
    return grouped(v, NULL, n, ngroups, g, median, count);
}

typedef struct {
    const kp_median_groups *g;
    const unsigned *tag;
} by_tag;

static size_t tag_groups(void *ctx, size_t row, size_t *out, size_t max)
{
    const by_tag *b = ctx;
    return b->g->groups(b->g->ctx, b->tag[row], out, max);
}

int kp_median_grouped_tagged(const double *v, const unsigned *tag, size_t n, size_t ngroups,
                             const kp_median_groups *g, double *median, const size_t *count)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0 && signbit(v[i])) { /* its key reads 0.0: take each value from v */
            by_tag b = {g, tag};
            kp_median_groups bg = {tag_groups, &b, g->max};
            return grouped(v, NULL, n, ngroups, &bg, median, count);
        }
    return grouped(v, tag, n, ngroups, g, median, count);
}

int kp_median_grouped(const double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                      double *median, size_t *count)
{
    size_t *ids = malloc((g->max ? g->max : 1) * sizeof *ids);
    if (!ids)
        return -1;
    memset(count, 0, ngroups * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        size_t k = g->groups(g->ctx, i, ids, g->max);
        assert(k <= g->max);
        for (size_t j = 0; j < k; j++)
            count[ids[j]]++;
    }
    free(ids);
    return kp_median_grouped_counted(v, n, ngroups, g, median, count);
}
