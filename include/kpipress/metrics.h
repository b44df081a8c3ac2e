/* The metric layer: KPIs defined declaratively in INI (templates/metrics.ini, a job's
 * `metrics = file.ini` and its [metric NAME] sections), evaluated per run for every
 * dimension and grain into one table that templates read with plain SELECTs:
 *
 *   kpi(metric, dimension, member, grain, period_start, period_end, value, prev_value,
 *       yoy_value, change, pct_change, yoy_change, yoy_pct_change)
 *   kpi_period(grain, period_start, period_end, label, role, prev_start, yoy_start)
 *   kpi_metric(name, ord, label, format, direction, kind, definition, source, status)
 *   kpi_report: kpi rows of the report period with the metric's label and format
 *
 * dimension: company, region, team, manager, rep, product, forecast_category, stage;
 * grain: period (the report period, its previous period and a year earlier), ptd
 * (period to date), t12m, month, quarter, fiscal_quarter, fiscal_year. role is current,
 * previous, yoy, series or compare. Currency sums are done in integer cents and divided
 * once. Ratios with a zero denominator are NULL; a metric whose optional source is absent
 * or empty is NULL everywhere with kpi_metric.status = 'unavailable: ...'.
 * The fixed tables kpi_rep, kpi_company, kpi_rep_month, kpi_company_month (see README)
 * are filled from kpi each run for the shipped templates. */
#ifndef KPIPRESS_METRICS_H
#define KPIPRESS_METRICS_H

#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/store.h"

#include <stdio.h>

typedef struct kp_metric_lib kp_metric_lib;

/* One metric as the library describes it (strings owned by the library). */
typedef struct kp_metric_info {
    const char *name, *label, *format, *direction, *definition;
    const char *kind; /* "aggregate", "derived" or "rollup" */
    const char *file; /* where it was defined */
    long line;
} kp_metric_info;

/* Create the KPI tables if missing (empty), so templates and metrics can be checked before
 * a run. The source tables the library reads (optional ones included) come from
 * kp_load_schema, which callers run first. */
kp_err kp_metrics_schema(kp_store *s, kp_error *e);

/* Load the metric library for job (NULL: the shipped default only): the default library,
 * then the job's `metrics =` file, then the job's [metric NAME] sections; later
 * definitions of a name replace earlier ones. Unknown metrics, cycles and malformed keys
 * are errors naming file and line. Free with kp_metrics_free. */
kp_err kp_metrics_load(const kp_job *job, kp_metric_lib **out, kp_error *e);

/* An empty library plus one file on top (tests, `kpipress metrics FILE`). path_job_mode:
 * read only the [metric NAME] sections of a job file. Resolves references afterwards. */
kp_err kp_metrics_new(kp_metric_lib **out, kp_error *e);
kp_err kp_metrics_add_file(kp_metric_lib *lib, const char *path, int job_mode, kp_error *e);
kp_err kp_metrics_resolve(kp_metric_lib *lib, kp_error *e);
void kp_metrics_free(kp_metric_lib *lib); /* NULL-safe */

size_t kp_metrics_count(const kp_metric_lib *lib);
kp_metric_info kp_metrics_info(const kp_metric_lib *lib, size_t i);
/* Index of a metric by name, or -1. */
long kp_metrics_find(const kp_metric_lib *lib, const char *name);

/* Prepare every SQL fragment of the library against the store's schema (nothing runs);
 * an error names the metric's file and line. */
kp_err kp_metrics_check(const kp_metric_lib *lib, kp_store *s, kp_error *e);

/* Evaluate lib for the job's resolved period into kpi, kpi_period, kpi_metric and the
 * fixed KPI tables, in one transaction. Records in lib which sources were available. */
kp_err kp_metrics_eval(kp_metric_lib *lib, const kp_job *job, kp_store *s, kp_error *e);

/* kp_metrics_load + kp_metrics_eval: the model stage of a run. */
kp_err kp_metrics_run(const kp_job *job, kp_store *s, kp_error *e);

/* Write the library as an aligned listing (name, label, format, direction, definition). */
void kp_metrics_print(const kp_metric_lib *lib, FILE *out);

/* Whether the scans evaluate simple where and value expressions in C (expr.h; on by
 * default) rather than all in SQLite: the same numbers either way, which tests check. */
void kp_metrics_set_c_eval(int on);

#endif
