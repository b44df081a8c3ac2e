/* KPI materialisation. Each KPI table is rebuilt with one grouped scan per period rather
 * than a query per rep, and every definition is written once, here, in SQL that a finance
 * reviewer can read. Win rate counts deals closed in the period: won / (won + lost). */
#include "kpipress/metrics.h"

#include <stdio.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kpi_rep("
    " period TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " rep_id TEXT NOT NULL, quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " deals_won INTEGER NOT NULL, deals_lost INTEGER NOT NULL,"
    " won_value_cents INTEGER NOT NULL, lost_value_cents INTEGER NOT NULL,"
    " open_count INTEGER NOT NULL, open_pipeline_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL, win_rate REAL, win_rate_value REAL, avg_deal_size REAL,"
    " attainment REAL, open_pipeline REAL, PRIMARY KEY(period, rep_id)) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_company("
    " period TEXT PRIMARY KEY, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " deals_won INTEGER NOT NULL, deals_lost INTEGER NOT NULL,"
    " won_value_cents INTEGER NOT NULL, lost_value_cents INTEGER NOT NULL,"
    " open_count INTEGER NOT NULL, open_pipeline_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL, win_rate REAL, win_rate_value REAL, avg_deal_size REAL,"
    " attainment REAL, open_pipeline REAL) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_rep_month("
    " month TEXT NOT NULL, rep_id TEXT NOT NULL, quota_cents INTEGER NOT NULL,"
    " bookings_cents INTEGER NOT NULL, quota REAL, bookings REAL,"
    " PRIMARY KEY(month, rep_id)) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_company_month("
    " month TEXT PRIMARY KEY, quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL) STRICT;";

/* Per-rep closed-deal and quota aggregates for one period (:p, :s, :e). Open pipeline is
 * every open deal of the snapshot whose close date falls in the period. */
static const char rep_sql[] =
    "INSERT INTO kpi_rep(period, period_start, period_end, rep_id, quota_cents,"
    " bookings_cents, deals_won, deals_lost, won_value_cents, lost_value_cents, open_count,"
    " open_pipeline_cents)"
    " WITH d AS (SELECT owner_id,"
    "   sum(CASE WHEN is_won THEN coalesce(amount_cents,0) ELSE 0 END) AS won_cents,"
    "   sum(is_closed AND is_won) AS won, sum(is_closed AND NOT is_won) AS lost,"
    "   sum(CASE WHEN is_closed AND NOT is_won THEN coalesce(amount_cents,0) ELSE 0 END)"
    "     AS lost_cents"
    "   FROM opportunities WHERE is_closed AND close_date BETWEEN :s AND :e GROUP BY owner_id),"
    " o AS (SELECT owner_id, count(*) AS n, sum(coalesce(amount_cents,0)) AS cents"
    "   FROM opportunities WHERE NOT is_closed AND close_date BETWEEN :s AND :e"
    "   GROUP BY owner_id),"
    " q AS (SELECT rep_id, sum(amount_cents) AS cents FROM quotas"
    "   WHERE period_start BETWEEN :s AND :e GROUP BY rep_id)"
    " SELECT :p, :s, :e, r.rep_id, coalesce(q.cents,0), coalesce(d.won_cents,0),"
    "  coalesce(d.won,0), coalesce(d.lost,0), coalesce(d.won_cents,0),"
    "  coalesce(d.lost_cents,0), coalesce(o.n,0), coalesce(o.cents,0)"
    " FROM reps r LEFT JOIN d ON d.owner_id = r.rep_id LEFT JOIN o ON o.owner_id = r.rep_id"
    " LEFT JOIN q ON q.rep_id = r.rep_id ORDER BY r.rep_id";

/* Company totals count every deal, including those whose owner is not in reps. */
static const char company_sql[] =
    "INSERT INTO kpi_company(period, period_start, period_end, quota_cents, bookings_cents,"
    " deals_won, deals_lost, won_value_cents, lost_value_cents, open_count,"
    " open_pipeline_cents)"
    " SELECT :p, :s, :e,"
    "  (SELECT coalesce(sum(amount_cents),0) FROM quotas WHERE period_start BETWEEN :s AND :e),"
    "  coalesce(sum(CASE WHEN is_closed AND is_won AND close_date BETWEEN :s AND :e"
    "    THEN coalesce(amount_cents,0) END),0),"
    "  coalesce(sum(is_closed AND is_won AND close_date BETWEEN :s AND :e),0),"
    "  coalesce(sum(is_closed AND NOT is_won AND close_date BETWEEN :s AND :e),0),"
    "  coalesce(sum(CASE WHEN is_closed AND is_won AND close_date BETWEEN :s AND :e"
    "    THEN coalesce(amount_cents,0) END),0),"
    "  coalesce(sum(CASE WHEN is_closed AND NOT is_won AND close_date BETWEEN :s AND :e"
    "    THEN coalesce(amount_cents,0) END),0),"
    "  coalesce(sum(NOT is_closed AND close_date BETWEEN :s AND :e),0),"
    "  coalesce(sum(CASE WHEN NOT is_closed AND close_date BETWEEN :s AND :e"
    "    THEN coalesce(amount_cents,0) END),0)"
    " FROM opportunities";

/* Derived columns, identical for both tables. */
static const char derive_fmt[] =
    "UPDATE %s SET quota = quota_cents / 100.0, bookings = bookings_cents / 100.0,"
    " open_pipeline = open_pipeline_cents / 100.0,"
    " win_rate = CASE WHEN deals_won + deals_lost > 0"
    "   THEN deals_won * 1.0 / (deals_won + deals_lost) END,"
    " win_rate_value = CASE WHEN won_value_cents + lost_value_cents > 0"
    "   THEN won_value_cents * 1.0 / (won_value_cents + lost_value_cents) END,"
    " avg_deal_size = CASE WHEN deals_won > 0 THEN bookings_cents / 100.0 / deals_won END,"
    " attainment = CASE WHEN quota_cents > 0 THEN bookings_cents * 1.0 / quota_cents END";

/* Monthly series for trends: the 24 months ending with the period's last month. */
static const char months_sql[] =
    "WITH RECURSIVE m(month) AS (SELECT date(:e, 'start of month', '-23 months')"
    "  UNION ALL SELECT date(month, '+1 month') FROM m WHERE month < date(:e, 'start of month')),"
    " b AS (SELECT owner_id, substr(close_date,1,7) AS ym, sum(coalesce(amount_cents,0)) AS c"
    "   FROM opportunities WHERE is_won AND close_date >= (SELECT min(month) FROM m)"
    "   AND close_date <= :e GROUP BY owner_id, ym),"
    " q AS (SELECT rep_id, substr(period_start,1,7) AS ym, sum(amount_cents) AS c FROM quotas"
    "   GROUP BY rep_id, ym)"
    " INSERT INTO kpi_rep_month(month, rep_id, quota_cents, bookings_cents)"
    " SELECT m.month, r.rep_id, coalesce(q.c,0), coalesce(b.c,0) FROM m CROSS JOIN reps r"
    " LEFT JOIN b ON b.owner_id = r.rep_id AND b.ym = substr(m.month,1,7)"
    " LEFT JOIN q ON q.rep_id = r.rep_id AND q.ym = substr(m.month,1,7)"
    " ORDER BY m.month, r.rep_id";

static const char company_months_sql[] =
    "WITH RECURSIVE m(month) AS (SELECT date(:e, 'start of month', '-23 months')"
    "  UNION ALL SELECT date(month, '+1 month') FROM m WHERE month < date(:e, 'start of month'))"
    " INSERT INTO kpi_company_month(month, quota_cents, bookings_cents)"
    " SELECT m.month,"
    "  (SELECT coalesce(sum(amount_cents),0) FROM quotas"
    "    WHERE substr(period_start,1,7) = substr(m.month,1,7)),"
    "  (SELECT coalesce(sum(coalesce(amount_cents,0)),0) FROM opportunities"
    "    WHERE is_won AND substr(close_date,1,7) = substr(m.month,1,7))"
    " FROM m ORDER BY m.month";

kp_err kp_metrics_schema(kp_store *s, kp_error *e)
{
    return kp_store_exec(s, schema_sql, e);
}

static kp_err run_with(kp_store *s, const char *sql, kp_vars *v, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s, sql, NULL, 0, &st, e);
    if (!rc)
        rc = kp_stmt_bind_vars(st, v, e);
    if (!rc && kp_stmt_step(st, e) < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

kp_err kp_metrics_run(const kp_job *job, kp_store *s, kp_error *e)
{
    const kp_period *p = &job->period;
    struct {
        const char *name;
        kp_date start, end;
    } periods[] = {{"current", p->start, p->end},
                   {"previous", p->prev_start, p->prev_end},
                   {"yoy", p->yoy_start, p->yoy_end}};
    kp_vars v = {0};
    char sd[KP_DATE_ISO_LEN + 1], ed[KP_DATE_ISO_LEN + 1], sql[1024];
    kp_err rc = kp_store_begin(s, e);
    if (rc)
        return rc;
    rc = kp_store_exec(s,
                       "DELETE FROM kpi_rep; DELETE FROM kpi_company; DELETE FROM kpi_rep_month;"
                       "DELETE FROM kpi_company_month;",
                       e);
    for (size_t i = 0; i < sizeof periods / sizeof *periods && !rc; i++) {
        if (kp_vars_set(&v, "p", periods[i].name) ||
            kp_vars_set(&v, "s", kp_date_format_iso(periods[i].start, sd)) ||
            kp_vars_set(&v, "e", kp_date_format_iso(periods[i].end, ed))) {
            rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        if (!rc)
            rc = run_with(s, rep_sql, &v, e);
        if (!rc)
            rc = run_with(s, company_sql, &v, e);
        if (!rc && i == 0) {
            rc = run_with(s, months_sql, &v, e);
            if (!rc)
                rc = run_with(s, company_months_sql, &v, e);
        }
    }
    const char *tables[] = {"kpi_rep", "kpi_company"};
    for (size_t i = 0; i < 2 && !rc; i++) {
        snprintf(sql, sizeof sql, derive_fmt, tables[i]);
        rc = kp_store_exec(s, sql, e);
    }
    if (!rc)
        rc = kp_store_exec(s,
                           "UPDATE kpi_rep_month SET quota = quota_cents / 100.0,"
                           " bookings = bookings_cents / 100.0;"
                           "UPDATE kpi_company_month SET quota = quota_cents / 100.0,"
                           " bookings = bookings_cents / 100.0;",
                           e);
    if (!rc)
        rc = kp_store_commit(s, e);
    if (rc)
        kp_store_rollback(s);
    kp_vars_clear(&v);
    return rc;
}
