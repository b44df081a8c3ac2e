/* Exact grouped medians with one sort of all values (see include/kpipress/median.h). */
#include "kpipress/median.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double v;
    size_t row;
} ranked;

/* By value; ties by row, so the order, and with it everything below, is deterministic. */
static int cmp_ranked(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (a->v != b->v)
        return (a->v > b->v) - (a->v < b->v);
    return (a->row > b->row) - (a->row < b->row);
}

int kp_median_grouped(const double *v, size_t n, size_t ngroups, const kp_median_groups *g,
                      double *median, size_t *count)
{
    ranked *order = malloc((n ? n : 1) * sizeof *order);
    size_t *ids = malloc((g->max ? g->max : 1) * sizeof *ids);
    size_t *seen = calloc(ngroups ? ngroups : 1, sizeof *seen);
    int rc = order && ids && seen ? 0 : -1;
    if (rc)
        goto done;
    memset(count, 0, ngroups * sizeof *count);
    for (size_t i = 0; i < ngroups; i++)
        median[i] = 0;
    for (size_t i = 0; i < n; i++) {
        assert(v[i] == v[i]);
        order[i] = (ranked){v[i], i};
        size_t k = g->groups(g->ctx, i, ids, g->max);
        assert(k <= g->max);
        for (size_t j = 0; j < k; j++)
            count[ids[j]]++;
    }
    qsort(order, n, sizeof *order, cmp_ranked);
    /* In value order, a group's (count-1)/2-th and count/2-th values are its middle ones:
     * the same one for an odd count. */
    for (size_t i = 0; i < n; i++) {
        size_t k = g->groups(g->ctx, order[i].row, ids, g->max);
        for (size_t j = 0; j < k; j++) {
            size_t id = ids[j], c = count[id], s = seen[id]++;
            if (s == (c - 1) / 2)
                median[id] = order[i].v;
            if (s == c / 2 && c % 2 == 0)
                median[id] = (median[id] + order[i].v) / 2.0;
        }
    }
done:
    free(order);
    free(ids);
    free(seen);
    return rc;
}
