/* Orchestration of a job: check, load, model, render, deliver. This is the only module
 * that knows the order of the stages; each stage knows nothing of the others. */
#ifndef KPIPRESS_RUN_H
#define KPIPRESS_RUN_H

#include "kpipress/err.h"

typedef struct kp_run_options {
    const char *as_of;        /* --as-of override, or NULL */
    const char *only;         /* --only REPORT, or NULL */
    int jobs;                 /* --jobs N worker processes (default 1) */
    int shard_index;          /* --shard I/N: 0-based I */
    int shard_count;          /* N (default 1) */
    int dry_run;              /* list what would be written */
    const char *summary_path; /* --summary FILE.json, or NULL */
    const char *output_dir;   /* --output-dir override, or NULL */
    const char *database;     /* --database override, or NULL */
} kp_run_options;

/* kpipress run: everything. */
kp_err kp_run(const char *job_path, const kp_run_options *o, kp_error *e);
/* kpipress load: the load stage alone. */
kp_err kp_run_load(const char *job_path, const kp_run_options *o, kp_error *e);
/* kpipress check: validate job, templates, SQL and sources; load nothing. */
kp_err kp_run_check(const char *job_path, const kp_run_options *o, kp_error *e);
/* kpipress sql: run one read-only query on the job's database, print csv or a table. */
kp_err kp_run_sql(const char *job_path, const kp_run_options *o, const char *sql, int csv,
                  kp_error *e);

#endif
