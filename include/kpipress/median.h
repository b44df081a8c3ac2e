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

#endif
