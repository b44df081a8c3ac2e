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

/* One stable pass of a byte of the keys (a: keys, b: room for them, tags alongside).
 * Returns 0, having moved nothing, when the byte is the same throughout. */
static int radix_pass(const uint64_t *a, const unsigned *ta, uint64_t *b, unsigned *tb, size_t n,
                      int shift)
{
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++)
        count[((a[i] >> shift) & 0xff) + 1]++;
    if (count[((a[0] >> shift) & 0xff) + 1] == n)
        return 0;
    for (int k = 0; k < 256; k++)
        count[k + 1] += count[k];
    for (size_t i = 0; i < n; i++) {
        size_t at = count[(a[i] >> shift) & 0xff]++;
        b[at] = a[i];
        tb[at] = ta[i];
    }
    return 1;
}

/* The stable LSD radix sort of keys with their tags: eight byte passes, a pass skipped
 * where the byte is the same throughout. key2/t2 are room of the same size; the sorted
 * keys and tags end in key and t, which may then be the other buffers of each pair. */
static void radix_sort(uint64_t **key, unsigned **t, uint64_t **key2, unsigned **t2, size_t n)
{
    for (int shift = 0; shift < 64 && n; shift += 8)
        if (radix_pass(*key, *t, *key2, *t2, n, shift)) {
            uint64_t *tk = *key;
            *key = *key2;
            *key2 = tk;
            unsigned *tt = *t;
            *t = *t2;
            *t2 = tt;
        }
}

/* The values by value, ties in index order: radix_sort of their order keys
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
    radix_sort(&key, &t, &key2, &t2, n);
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

/* The state of the pass in value order: each value's groups, and how many values each
 * group has seen; the medians start at 0 (a group without values keeps it). */
typedef struct {
    size_t *ids, *seen;
} picker;

static void picker_close(picker *p)
{
    free(p->ids);
    free(p->seen);
}

static int picker_open(picker *p, const kp_median_groups *g, size_t ngroups, double *median)
{
    p->ids = malloc((g->max ? g->max : 1) * sizeof *p->ids);
    p->seen = calloc(ngroups ? ngroups : 1, sizeof *p->seen);
    if (!p->ids || !p->seen) {
        picker_close(p);
        return -1;
    }
    for (size_t i = 0; i < ngroups; i++)
        median[i] = 0;
    return 0;
}

/* The pass in value order over the sorted order keys and their tags t: value i is in
 * the groups of t[i], read back from key[i], or with key NULL read from v[t[i]]. */
static void pick_sorted(picker *p, const kp_median_groups *g, const unsigned *t,
                        const uint64_t *key, const double *v, size_t n, const size_t *count,
                        double *median)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = g->groups(g->ctx, t[i], p->ids, g->max);
        assert(k <= g->max);
        pick(p->ids, k, key ? key_value(key[i]) : v[t[i]], count, p->seen, median);
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
    picker p;
    if (picker_open(&p, g, ngroups, median))
        return -1;
    int rc = sort_tagged(v, tag, n, &key, &t);
    if (!rc)
        pick_sorted(&p, g, t, tag ? key : NULL, v, n, count, median);
    free(key);
    free(t);
    picker_close(&p);
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

/* ---- the consuming version: the caller's buffers are the sort's own ---------------- */

/* Whether v is an integer of int32 range and not -0.0 (which a 32-bit key would read
 * back as 0.0): then a 32-bit key orders it and gives it back exactly. */
static int int32_exact(double v)
{
    return v >= INT32_MIN && v <= INT32_MAX && v == (double)(int32_t)v && !(v == 0 && signbit(v));
}

static int all_int32(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!int32_exact(v[i]))
            return 0;
    return 1;
}

/* Packed word: the value's 32-bit key above (signed order = unsigned order with the sign
 * bit flipped), its tag below. */
static uint64_t pack_word(double v, unsigned tag)
{
    uint64_t k = (uint32_t)(int32_t)v ^ UINT32_C(0x80000000);
    return k << 32 | tag;
}

static double packed_value(uint64_t w)
{
    return (double)(int32_t)((uint32_t)(w >> 32) ^ UINT32_C(0x80000000));
}

/* Sorts words by their upper 32 bits, in place: an MSD radix sort of a byte per level
 * from bit `shift` down to bit 32, each bucket's words moved home by cycles (no scratch);
 * small ranges by insertion. The order of words with equal upper halves is unspecified. */
static void msd_sort(uint64_t *a, size_t n, int shift)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            uint64_t x = a[i];
            size_t j = i;
            for (; j && a[j - 1] >> 32 > x >> 32; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    size_t cnt[256] = {0}, next[256], end[256], o = 0;
    for (size_t i = 0; i < n; i++)
        cnt[(a[i] >> shift) & 0xff]++;
    for (int b = 0; b < 256; b++) {
        next[b] = o;
        end[b] = o += cnt[b];
    }
    for (int b = 0; b < 256; b++)
        while (next[b] < end[b]) {
            uint64_t x = a[next[b]];
            for (int d = (int)((x >> shift) & 0xff); d != b; d = (int)((x >> shift) & 0xff)) {
                uint64_t y = a[next[d]];
                a[next[d]++] = x;
                x = y;
            }
            a[next[b]++] = x;
        }
    for (int b = 0; b < 256 && shift > 32; b++)
        if (cnt[b] > 1)
            msd_sort(a + end[b] - cnt[b], cnt[b], shift - 8);
}

int kp_median_pack(double *v, const unsigned *tag, size_t n)
{
    if (!all_int32(v, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = pack_word(v[i], tag[i]);
        memcpy(v + i, &k, sizeof k);
    }
    return 1;
}

int kp_median_pack_one(double *slot, double v, unsigned tag)
{
    if (!int32_exact(v))
        return 0;
    uint64_t k = pack_word(v, tag);
    memcpy(slot, &k, sizeof k);
    return 1;
}

void kp_median_unpack(double *v, unsigned *tag, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t k;
        memcpy(&k, v + i, sizeof k);
        tag[i] = (unsigned)(k & UINT32_MAX);
        v[i] = packed_value(k);
    }
}

unsigned kp_median_packed_tag(const double *v, size_t i)
{
    uint64_t k;
    memcpy(&k, v + i, sizeof k);
    return (unsigned)(k & UINT32_MAX);
}

int kp_median_grouped_packed(double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                             double *median, const size_t *count)
{
    /* Sorted in place (no scratch). Ties may end up in any order: equal values are the
     * same value to every group, so no median depends on it. */
    uint64_t *w = (uint64_t *)(void *)v;
    picker p;
    if (picker_open(&p, g, ngroups, median))
        return -1;
    msd_sort(w, n, 56);
    for (size_t i = 0; i < n; i++) {
        size_t k = g->groups(g->ctx, (unsigned)(w[i] & UINT32_MAX), p.ids, g->max);
        assert(k <= g->max);
        pick(p.ids, k, packed_value(w[i]), count, p.seen, median);
    }
    picker_close(&p);
    return 0;
}

int kp_median_grouped_tagged_take(double *v, unsigned *tag, size_t n, size_t ngroups,
                                  const kp_median_groups *g, double *median, const size_t *count)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0 && signbit(v[i])) /* no key gives it back: keep v as it is */
            return kp_median_grouped_tagged(v, tag, n, ngroups, g, median, count);
    if (kp_median_pack(v, tag, n))
        return kp_median_grouped_packed(v, n, ngroups, g, median, count);
    /* Order keys over the values in place; the scratch of the sort is the only extra. */
    size_t m = n ? n : 1;
    picker p;
    if (picker_open(&p, g, ngroups, median))
        return -1;
    unsigned *t2 = malloc(m * sizeof *t2), *t = tag;
    uint64_t *scratch = malloc(m * sizeof *scratch);
    int rc = t2 && scratch ? 0 : -1;
    if (!rc) {
        uint64_t *key = (uint64_t *)(void *)v, *key2 = scratch;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = order_key(v[i]);
            memcpy(key + i, &k, sizeof k);
        }
        radix_sort(&key, &t, &key2, &t2, n);
        pick_sorted(&p, g, t, key, NULL, n, count, median);
    }
    /* free whichever of the pair is not the caller's (the sort swaps them) */
    free(t2 == tag ? (void *)t : (void *)t2);
    free(scratch);
    picker_close(&p);
    return rc;
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
