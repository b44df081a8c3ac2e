/* The pipeline forecast stage: stage win probabilities learned from the loaded history
 * (with their source), the Salesforce forecast-category roll-up and a seeded Monte Carlo
 * over open deals, for the as-of month, fiscal quarter and next fiscal quarter, by company,
 * region, team, manager and rep. Runs after the metric layer and writes two tables:
 *
 *   stage_win_rates(as_of, stage, probability, closed_sample, won, open_deals, source)
 *   forecast_pipeline(as_of, dimension, member, grain, period_start, period_end,
 *       closed_cents, commit_cents, best_case_cents, pipeline_cents, open_deals,
 *       expected_cents, mean_cents, p10_cents, p50_cents, p90_cents, quota_cents, p_quota,
 *       runs, seed)
 *
 * Rows of the run's as-of date are replaced; other dates stay (forecast history). */
#ifndef KPIPRESS_FORECAST_PIPELINE_H
#define KPIPRESS_FORECAST_PIPELINE_H

#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/store.h"

/* Create stage_win_rates and forecast_pipeline if missing (kp_load_schema calls this, so
 * templates reading them prepare against a fresh database, e.g. in `kpipress check`). */
kp_err kp_forecast_pipeline_schema(kp_store *s, kp_error *e);

/* Compute and store the pipeline forecast of job->as_of in one transaction (all or
 * nothing). Reads opportunity_snapshots (the latest at or before the as-of date, and the
 * earlier ones as history), stage_history, stage_rules, reps and quotas. */
kp_err kp_forecast_pipeline_run(const kp_job *job, kp_store *s, kp_error *e);

#endif
