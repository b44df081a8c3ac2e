/* Exact medians of many overlapping groups in one sort: each value may belong to several
 * groups (a deal counts for its rep, team, region... and for every period that contains
 * its month), so sorting each group's values separately would sort every value once per
 * group. Here the values are sorted once and each group's middle values are picked in one
 * pass in that order. The result is the value of the SQL median() aggregate (store.c). */
#ifndef KPIPRESS_MEDIAN_H
#define KPIPRESS_MEDIAN_H

#include <stddef.h>

/* The groups of one value: writes the ids (< ngroups) of the groups value `row` belongs
 * to into out (room for max ids) and returns how many. A row may belong to no group; it
 * must not list a group twice. Called twice per row, so it must be cheap and pure. */
typedef struct kp_median_groups {
    size_t (*groups)(void *ctx, size_t row, size_t *out, size_t max);
    void *ctx;
    size_t max; /* most groups one row belongs to */
} kp_median_groups;

/* For every group g < ngroups: count[g] = number of its values, median[g] = their median
 * (the middle value, or the mean of the two middle ones for an even count; 0 when
 * count[g] is 0). v[0..n) must not hold NaN. Returns 0, or -1 when out of memory. */
int kp_median_grouped(const double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                      double *median, size_t *count);

/* The same with count[g] given: the number of values of each group, as the caller may
 * know it more cheaply than by one groups() call per value. */
int kp_median_grouped_counted(const double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                              double *median, const size_t *count);

/* The same for values that share a few group sets: value i is in the groups of
 * g->groups(g->ctx, tag[i], ...). The tags travel with the values through the sort, so
 * the pass in value order looks up each tag's groups without a random read of the row
 * of each value (most of the time of the counted version on a million values). */
int kp_median_grouped_tagged(const double *v, const unsigned *tag, size_t n, size_t ngroups,
                             const kp_median_groups *g, double *median, const size_t *count);

/* The same, taking v and tag as the sort's room: on return they hold no values (the caller
 * still frees them), so the sort needs half the extra memory of the other versions. When
 * every value is an integer of int32 range it sorts 32-bit keys (a third), each read back
 * exactly: the medians are those of the other versions, bit for bit. */
int kp_median_grouped_tagged_take(double *v, unsigned *tag, size_t n, size_t ngroups,
                                  const kp_median_groups *g, double *median, const size_t *count);

/* Packs the values and tags of kp_median_grouped_tagged for a sort in place, when every
 * value is an integer of int32 range (not -0.0): word i of v's room holds the value's
 * 32-bit key and tag[i], so tag is no longer needed. Returns 1 when packed, 0 when not
 * (v unchanged). */
int kp_median_pack(double *v, const unsigned *tag, size_t n);

/* The same for one value as it comes: packs v and tag into *slot and returns 1, or
 * returns 0 (nothing written) when v is not such an integer. */
int kp_median_pack_one(double *slot, double v, unsigned tag);

/* Back from packed words to values and tags (tag: room for n). */
void kp_median_unpack(double *v, unsigned *tag, size_t n);

/* The tag of packed word i. */
unsigned kp_median_packed_tag(const double *v, size_t i);

/* kp_median_grouped_tagged on packed words (kp_median_pack), sorted in place with no
 * scratch; each value is read back exactly, so the medians are the same bit for bit. */
int kp_median_grouped_packed(double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                             double *median, const size_t *count);

#endif
