/* `kpipress sample`: a realistic, deterministic CRM data set in the shape of real exports
 * (a Salesforce opportunity report, a users file, monthly quotas) from a seed. */
#ifndef KPIPRESS_SAMPLE_H
#define KPIPRESS_SAMPLE_H

#include "kpipress/date.h"
#include "kpipress/err.h"
#include <stdint.h>

typedef struct kp_sample_options {
    int reps;      /* quota-carrying reps, default 40 (managers come on top) */
    long opps;     /* total opportunities; 0 = 3.5 per rep per month (a few thousand) */
    int months;    /* history length, default 24 */
    uint64_t seed; /* default 42 */
    kp_date end;   /* last day covered; only read when as_of is 0 (as_of = end + 1) */
    kp_date as_of; /* the job's as-of date, the day after the last day covered;
                      default 2026-11-01 */
} kp_sample_options;

void kp_sample_defaults(kp_sample_options *o);

/* Write opportunities.csv, users.csv, quotas.csv and job.ini into dir (created if
 * missing). Same options give byte-identical files. */
kp_err kp_sample_write(const char *dir, const kp_sample_options *o, kp_error *e);

/* `kpipress sample DIR [--reps N] [--opps N] [--months N] [--seed S] [--as-of DATE]`:
 * argv[0] is the subcommand name. `--help` prints the usage on stdout and returns KP_OK.
 * Errors are returned in e (KP_ERR_USAGE for a bad command line), never printed. */
kp_err kp_sample_main(int argc, char **argv, kp_error *e);

#endif
