/* `kpipress sample`: a realistic, deterministic CRM data set in the shape of real exports
 * (a Salesforce opportunity report, a users file, monthly quotas) from a seed. */
#ifndef KPIPRESS_SAMPLE_H
#define KPIPRESS_SAMPLE_H

#include "kpipress/date.h"
#include "kpipress/err.h"
#include <stdint.h>

typedef struct kp_sample_options {
    int reps;        /* default 40 */
    long opps;       /* total opportunities; 0 = about 30 per rep per month-ish default */
    int months;      /* history length, default 24 */
    uint64_t seed;   /* default 42 */
    kp_date end;     /* last month covered (its month); default 2026-10-31 */
} kp_sample_options;

void kp_sample_defaults(kp_sample_options *o);

/* Write opportunities.csv, users.csv, quotas.csv and job.ini into dir (created if
 * missing). Same options give byte-identical files. */
kp_err kp_sample_write(const char *dir, const kp_sample_options *o, kp_error *e);

#endif
