/* Time-series forecasts of monthly bookings for the company, each region, team and rep,
 * stored per run in the `forecast` table (created by kp_load_schema through
 * kp_forecast_series_schema, so the metric library's forecast relations prepare against a
 * fresh database):
 *
 *   forecast(as_of, series, dimension, member, period_start, period_end, value, lower,
 *            upper, method, chosen_because, wape, mase, fallback)
 *
 * One row per series and forecast month; value/lower/upper (80% interval) are in the
 * job's currency units, like kpi.value; wape/mase are the chosen method's backtest (NULL
 * when not measured); fallback is 1 for short, all-zero or empty series. */
#ifndef KPIPRESS_FORECAST_SERIES_H
#define KPIPRESS_FORECAST_SERIES_H

#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/store.h"

/* Create the forecast table if missing (kp_load_schema calls this). */
kp_err kp_forecast_series_schema(kp_store *s, kp_error *e);

/* Forecast job->forecast.horizon months of bookings from the month of job->as_of, from
 * the run's `opportunities` view (won deals by close month, months before the as-of month
 * only: the as-of month is not complete). Series members are named as in the kpi table
 * ('All', region, team, rep_id, '(none)'). Replaces this as-of date's rows, keeps the
 * other runs' rows (forecast history), all in one transaction. */
kp_err kp_forecast_series_run(const kp_job *job, kp_store *s, kp_error *e);

#endif
