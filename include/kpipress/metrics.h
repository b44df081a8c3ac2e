/* The model stage: KPI tables materialised per run from the canonical tables, so that
 * templates read figures with plain SELECTs. Amount sums are done in integer cents and
 * divided once, so every currency figure is exact to the cent.
 *
 *   kpi_rep(period, period_start, period_end, rep_id, quota_cents, bookings_cents,
 *           deals_won, deals_lost, won_value_cents, lost_value_cents, open_count,
 *           open_pipeline_cents, quota, bookings, win_rate, win_rate_value,
 *           avg_deal_size, attainment, open_pipeline)
 *   kpi_company(the same without rep_id)
 *   kpi_rep_month(month, rep_id, quota, bookings)   -- 24 months to period end, for trends
 *   kpi_company_month(month, quota, bookings)
 * period is 'current', 'previous' (the period before) or 'yoy' (a year earlier).
 * Ratios are NULL when their denominator is zero: n/a, never 0. */
#ifndef KPIPRESS_METRICS_H
#define KPIPRESS_METRICS_H

#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/store.h"

/* Create the KPI tables if missing (empty), so templates can be checked before a load. */
kp_err kp_metrics_schema(kp_store *s, kp_error *e);

/* Recompute all KPI tables for the job's resolved period, in one transaction. */
kp_err kp_metrics_run(const kp_job *job, kp_store *s, kp_error *e);

#endif
