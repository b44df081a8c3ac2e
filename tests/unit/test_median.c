/* Grouped medians: hand-checked groups of sizes 0 to 4, overlapping membership, ties and
 * negative values; and on random data the same values, bit for bit, as sorting each
 * group separately (what the SQL median() aggregate of store.c does). */
#include "test.h"

#include "kpipress/median.h"
#include "kpipress/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Membership as a bit mask per row: bit g set = row in group g. */
typedef struct {
    const unsigned *mask;
} masks;

static size_t mask_groups(void *ctx, size_t row, size_t *out, size_t max)
{
    const masks *m = ctx;
    size_t k = 0;
    for (size_t g = 0; g < max; g++)
        if (m->mask[row] & (1u << g))
            out[k++] = g;
    return k;
}

/* The groups of a tag that is the membership mask itself (kp_median_grouped_tagged). */
static size_t tag_mask_groups(void *ctx, size_t tag, size_t *out, size_t max)
{
    (void)ctx;
    size_t k = 0;
    for (size_t g = 0; g < max; g++)
        if (tag & ((size_t)1 << g))
            out[k++] = g;
    return k;
}

static void test_hand_checked(void **state)
{
    (void)state;
    /* group 0: every row (7, 1, 5, 3, -2, 5) -> sorted -2 1 3 5 5 7 -> (3 + 5) / 2 = 4
     * group 1: rows 0, 2, 4 (7, 5, -2) -> 5;  group 2: rows 1, 3 (1, 3) -> 2
     * group 3: row 5 (5) -> 5;  group 4: none -> count 0;  group 5: rows 2, 5 (5, 5) -> 5 */
    const double v[] = {7, 1, 5, 3, -2, 5};
    const unsigned mask[] = {1 | 2, 1 | 4, 1 | 2 | 32, 1 | 4, 1 | 2, 1 | 8 | 32};
    masks m = {mask};
    kp_median_groups g = {mask_groups, &m, 6};
    double med[6];
    size_t cnt[6];
    assert_int_equal(kp_median_grouped(v, 6, 6, &g, med, cnt), 0);
    const double want[] = {4, 5, 2, 5, 0, 5};
    const size_t want_n[] = {6, 3, 2, 1, 0, 2};
    for (int i = 0; i < 6; i++) {
        assert_true(med[i] == want[i]);
        assert_int_equal(cnt[i], want_n[i]);
    }
    /* no rows at all */
    assert_int_equal(kp_median_grouped(v, 0, 6, &g, med, cnt), 0);
    assert_int_equal(cnt[0], 0);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Group k of tag_mask_groups holds the values whose tag has bit k: their counts. */
static void mask_counts(const unsigned *tag, size_t n, int ngroups, size_t *cnt)
{
    for (int k = 0; k < ngroups; k++) {
        cnt[k] = 0;
        for (size_t i = 0; i < n; i++)
            cnt[k] += (tag[i] >> k) & 1;
    }
}

/* The reference: group k's median by qsort of its values (tmp: room for n values). */
static double mask_median(const double *v, const unsigned *tag, size_t n, int k, double *tmp)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (tag[i] & (1u << k))
            tmp[m++] = v[i];
    assert_true(m > 0);
    qsort(tmp, m, sizeof *tmp, cmp_double);
    return m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2.0;
}

/* Every group's median equals the reference bit for bit (tmp: room for n values). */
static void assert_mask_medians(const double *v, const unsigned *tag, size_t n, int ngroups,
                                const double *med, double *tmp)
{
    for (int k = 0; k < ngroups; k++) {
        double want = mask_median(v, tag, n, k, tmp);
        assert_memory_equal(&med[k], &want, sizeof want);
    }
}

/* Signed zeros and extremes: -0.0 and 0.0 are equal values, so they keep their row order
 * (the middle of {0, -0, -0} is row 1's -0.0); infinities and huge magnitudes sort by
 * value. The counted entry point agrees. */
static void test_zeros_and_extremes(void **state)
{
    (void)state;
    const double v[] = {0.0, -0.0, -0.0, -1e308, 1e308, -5e-324, 5e-324};
    const unsigned mask[] = {1 | 2, 1 | 2, 1, 4, 4, 4 | 8, 8};
    masks m = {mask};
    kp_median_groups g = {mask_groups, &m, 4};
    double med[4];
    size_t cnt[4];
    assert_int_equal(kp_median_grouped(v, 7, 4, &g, med, cnt), 0);
    assert_true(med[0] == 0 && signbit(med[0]));  /* rows 0, 1, 2: row 1 */
    assert_true(med[1] == 0 && !signbit(med[1])); /* rows 0, 1: (0 + -0) / 2 = +0 */
    assert_true(med[2] == -5e-324);               /* -1e308, 1e308, -5e-324 */
    assert_true(med[3] == 0);                     /* (-5e-324 + 5e-324) / 2 */
    double med2[4];
    assert_int_equal(kp_median_grouped_counted(v, 7, 4, &g, med2, cnt), 0);
    assert_memory_equal(med, med2, sizeof med);
    /* tagged: -0.0 among the values takes each value from v, keeping the signs */
    kp_median_groups tg = {tag_mask_groups, NULL, 4};
    memset(med2, 0, sizeof med2);
    assert_int_equal(kp_median_grouped_tagged(v, mask, 7, 4, &tg, med2, cnt), 0);
    assert_memory_equal(med, med2, sizeof med);
    /* tagged without -0.0: the values read back from the sort keys, extremes included */
    const double w[] = {0.0, 3.0, -7.5, -1e308, 1e308, -5e-324, 5e-324};
    double med3[4], med4[4];
    assert_int_equal(kp_median_grouped(w, 7, 4, &g, med3, cnt), 0);
    assert_int_equal(kp_median_grouped_tagged(w, mask, 7, 4, &tg, med4, cnt), 0);
    assert_memory_equal(med3, med4, sizeof med3);
    assert_true(med4[0] == 0 && !signbit(med4[0])); /* 0, 3, -7.5: 0 */
    assert_true(med4[1] == 1.5);                    /* (0 + 3) / 2 */
    assert_true(med4[2] == -5e-324);
}

static void test_random_against_per_group_sort(void **state)
{
    (void)state;
    enum { N = 5000, G = 20 };
    static double v[N], tmp[N];
    static unsigned mask[N];
    kp_rng r;
    kp_rng_seed(&r, 11, 0);
    for (int i = 0; i < N; i++) {
        /* few distinct values (ties) and fractions whose sums round */
        v[i] = (double)(kp_rng_next(&r) % 50) * 0.1 + (kp_rng_next(&r) % 2 ? 1e-3 : 0);
        mask[i] = (unsigned)(kp_rng_next(&r) & ((1u << G) - 1));
    }
    masks m = {mask};
    kp_median_groups g = {mask_groups, &m, G};
    double med[G];
    size_t cnt[G];
    size_t want_cnt[G];
    mask_counts(mask, N, G, want_cnt);
    assert_int_equal(kp_median_grouped(v, N, G, &g, med, cnt), 0);
    assert_memory_equal(cnt, want_cnt, sizeof cnt);
    assert_mask_medians(v, mask, N, G, med, tmp);
}

/* The tagged entry point on random values of both signs, ties and many rows sharing a
 * tag: the per-group sort's medians bit for bit. */
static void test_tagged_random_against_per_group_sort(void **state)
{
    (void)state;
    enum { N = 20000, G = 12 };
    static double v[N], tmp[N];
    static unsigned tag[N];
    kp_rng r;
    kp_rng_seed(&r, 12, 0);
    for (int i = 0; i < N; i++) {
        v[i] = (double)(kp_rng_next(&r) % 80) * 0.37 - 11.1 + (kp_rng_next(&r) % 3 ? 1e-9 : 0);
        tag[i] = (unsigned)(kp_rng_next(&r) % 64) * 61 % (1u << G); /* 64 group sets */
    }
    kp_median_groups tg = {tag_mask_groups, NULL, G};
    double med[G];
    size_t cnt[G];
    mask_counts(tag, N, G, cnt);
    assert_int_equal(kp_median_grouped_tagged(v, tag, N, G, &tg, med, cnt), 0);
    assert_mask_medians(v, tag, N, G, med, tmp);
}

/* Packed words (kp_median_pack: integers of int32 range, sorted in place): the edges of
 * the range and halves of odd sums, checked by hand. Fails if the narrow path rounds a
 * mean of two middle values or misorders negatives. */
static void test_packed_hand_checked(void **state)
{
    (void)state;
    /* group 0: rows 0, 1 -> (2147483646 + 2147483647) / 2 = 2147483646.5
     * group 1: rows 3, 4 -> (1 + 2) / 2 = 1.5
     * group 2: rows 2, 5, 3 (-2147483648, -3, 1) -> -3
     * group 3: rows 2, 5 -> (-2147483648 + -3) / 2 = -1073741825.5
     * group 4: every row -> sorted -2147483648 -3 1 2 2147483646 2147483647 -> 1.5 */
    double v[] = {2147483647, 2147483646, -2147483648.0, 1, 2, -3};
    const unsigned tag[] = {1 | 16, 1 | 16, 4 | 8 | 16, 2 | 4 | 16, 2 | 16, 4 | 8 | 16};
    kp_median_groups tg = {tag_mask_groups, NULL, 5};
    const size_t cnt[] = {2, 2, 3, 2, 6};
    double med[5];
    assert_int_equal(kp_median_pack(v, tag, 6), 1);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(kp_median_packed_tag(v, i), tag[i]);
    assert_int_equal(kp_median_grouped_packed(v, 6, 5, &tg, med, cnt), 0);
    const double want[] = {2147483646.5, 1.5, -3, -1073741825.5, 1.5};
    for (int i = 0; i < 5; i++)
        assert_true(med[i] == want[i]);

    /* not packed, v unchanged: out of range, a fraction, -0.0 */
    const double no[][2] = {{1, 2147483648.0}, {1, -2147483649.0}, {1, 0.5}, {1, -0.0}};
    for (int k = 0; k < 4; k++) {
        double w[2] = {no[k][0], no[k][1]}, slot = 7;
        assert_int_equal(kp_median_pack(w, tag, 2), 0);
        assert_memory_equal(w, no[k], sizeof w);
        assert_int_equal(kp_median_pack_one(&slot, no[k][1], 3), 0);
        assert_true(slot == 7);
    }
    /* one by one, and back */
    double p[3];
    unsigned t[3];
    assert_int_equal(kp_median_pack_one(&p[0], -5, 9), 1);
    assert_int_equal(kp_median_pack_one(&p[1], 0.0, 4000000000u), 1);
    assert_int_equal(kp_median_pack_one(&p[2], 2147483647, 0), 1);
    kp_median_unpack(p, t, 3);
    assert_true(p[0] == -5 && p[1] == 0 && !signbit(p[1]) && p[2] == 2147483647);
    assert_true(t[0] == 9 && t[1] == 4000000000u && t[2] == 0);
}

/* The consuming entry point on random data, integral (packed, sorted in place over
 * several byte levels of both signs) and fractional (sorted with scratch): the per-group
 * sort's medians bit for bit. */
static void test_take_random_against_per_group_sort(void **state)
{
    (void)state;
    enum { N = 30000, G = 10 };
    static double v[N], orig[N], tmp[N];
    static unsigned tag[N], otag[N]; /* take consumes tag too: otag keeps it */
    kp_rng r;
    kp_rng_seed(&r, 13, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            int64_t x = (int64_t)(kp_rng_next(&r) % 4000000) - 2000000;
            if (round == 1)
                x = x % 300; /* many ties, small range */
            orig[i] = round == 2 ? (double)x / 7.0 : (double)x;
            otag[i] = tag[i] = (unsigned)(kp_rng_next(&r) % (1u << G));
        }
        memcpy(v, orig, sizeof v);
        kp_median_groups tg = {tag_mask_groups, NULL, G};
        double med[G];
        size_t cnt[G];
        mask_counts(tag, N, G, cnt);
        assert_int_equal(kp_median_grouped_tagged_take(v, tag, N, G, &tg, med, cnt), 0);
        assert_mask_medians(orig, otag, N, G, med, tmp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked),
        cmocka_unit_test(test_zeros_and_extremes),
        cmocka_unit_test(test_random_against_per_group_sort),
        cmocka_unit_test(test_tagged_random_against_per_group_sort),
        cmocka_unit_test(test_packed_hand_checked),
        cmocka_unit_test(test_take_random_against_per_group_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
