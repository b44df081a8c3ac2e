/* Metric layer on a fixture small enough to check on paper (expected values worked out by
 * hand in the comments): March 2024 reported at as-of 2024-04-01, fiscal year starting in
 * February, deals closing on both period boundaries and on the leap day, a rep with no
 * deals and zero quota, an owner missing from reps; plus the library's error messages. */
#include "test.h"

#include "kpipress/job.h"
#include "kpipress/load.h"
#include "kpipress/metrics.h"
#include "kpipress/rng.h"
#include "kpipress/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Rows are inserted directly: this tests the metrics, not the loader. Amounts in cents. */
static const char fixture_sql[] =
    "INSERT INTO reps(rep_id, name, team, region, manager_id) VALUES"
    " ('r1', 'Ann', 'A', 'East', 'm1'), ('r2', 'Bob', 'A', 'East', 'm1'),"
    " ('r3', 'Cy', 'B', 'West', 'm2');"
    "INSERT INTO quotas VALUES ('r1', '2024-03-01', '2024-03-31', 10000000),"
    " ('r2', '2024-03-01', '2024-03-31', 5000000), ('r3', '2024-03-01', '2024-03-31', 0),"
    " ('r1', '2024-02-01', '2024-02-29', 8000000);"
    "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
    " probability, forecast_category, type, product, created_date, close_date, is_closed,"
    " is_won, source_line) VALUES"
    /* o1 closes on the first day of March, o2 on the last (created on the leap day) */
    " ('2024-04-01', 'o1', 'r1', 'Won', 3000000, 1, 'Closed', 'New Business', 'P1',"
    "  '2024-01-01', '2024-03-01', 1, 1, 2),"
    " ('2024-04-01', 'o2', 'r1', 'Won', 2000050, 1, 'Closed', 'Existing Business', 'P2',"
    "  '2024-02-29', '2024-03-31', 1, 1, 3),"
    " ('2024-04-01', 'o3', 'r1', 'Lost', 1000000, 0, 'Omitted', 'New Business', 'P1',"
    "  '2024-02-01', '2024-03-15', 1, 0, 4),"
    /* o4 closes on the leap day: February, the previous period */
    " ('2024-04-01', 'o4', 'r2', 'Won', 4000000, 1, 'Closed', 'New Business', 'P1',"
    "  '2023-12-01', '2024-02-29', 1, 1, 5),"
    /* o5 closes the day after the period: April, in fiscal Q1 of FY2025 only */
    " ('2024-04-01', 'o5', 'r2', 'Won', 6000000, 1, 'Closed', 'New Business', 'P2',"
    "  '2024-03-10', '2024-04-01', 1, 1, 6),"
    " ('2024-04-01', 'o6', 'r1', 'Proposal', 5000000, 0.5, 'Pipeline', 'New Business', 'P1',"
    "  '2024-02-15', '2024-03-20', 0, 0, 7),"
    " ('2024-04-01', 'o7', 'r2', 'Qualify', 2500000, 0.2, 'Pipeline', 'New Business', 'P2',"
    "  '2024-03-01', '2024-06-30', 0, 0, 8),"
    /* o8 closes on 2023-03-31: last year's March, just outside the trailing 12 months */
    " ('2024-04-01', 'o8', 'r2', 'Won', 1500000, 1, 'Closed', 'New Business', 'P1',"
    "  '2023-03-01', '2023-03-31', 1, 1, 9),"
    /* o9's owner is not in reps: company totals count it */
    " ('2024-04-01', 'o9', 'zz', 'Won', 500000, 1, 'Closed', NULL, 'P3',"
    "  '2024-03-01', '2024-03-05', 1, 1, 10),"
    " ('2024-04-01', 'o10', 'r2', 'Won', 5000000, 1, 'Closed', 'New Business', 'P2',"
    "  '2024-03-01', '2024-03-31', 1, 1, 11),"
    /* an earlier snapshot: o7 was due 2024-03-25 (slips out of March), o6 moves within it */
    " ('2024-03-15', 'o6', 'r1', 'Proposal', 4500000, 0.5, 'Pipeline', NULL, 'P1',"
    "  '2024-02-15', '2024-03-10', 0, 0, 2),"
    " ('2024-03-15', 'o7', 'r2', 'Qualify', 2500000, 0.2, 'Pipeline', NULL, 'P2',"
    "  '2024-03-01', '2024-03-25', 0, 0, 3);"
    "INSERT INTO leads(lead_id, created_date, converted_date, is_converted, owner_id,"
    " source_line) VALUES ('l1', '2024-03-02', '2024-03-20', 1, 'r1', 2),"
    " ('l2', '2024-03-31', NULL, 0, 'r1', 3), ('l3', '2024-02-29', '2024-03-01', 1, 'r2', 4);"
    "INSERT INTO spend(month, channel, amount_cents, source_line) VALUES"
    " ('2024-03-01', 'web', 300000, 2), ('2024-03-01', 'events', 100000, 3);"
    "INSERT INTO subscriptions(account, start_date, end_date, mrr_cents, source_line) VALUES"
    " ('a1', '2023-01-01', NULL, 10000, 2), ('a2', '2023-06-01', '2024-03-15', 20000, 3),"
    " ('a3', '2024-03-10', NULL, 30000, 4), ('a4', '2022-01-01', '2024-02-10', 5000, 5);"
    "INSERT INTO activities(rep_id, type, activity_date, minutes, selling, source_line) VALUES"
    " ('r1', 'call', '2024-03-05', 60, 1, 2), ('r1', 'admin', '2024-03-06', 40, 0, 3);"
    "INSERT INTO stage_history(opp_id, stage, entered_date, amount_cents, source_line) VALUES"
    " ('o1', 'Prospecting', '2024-01-01', 3000000, 2),"
    " ('o1', 'Proposal', '2024-02-10', 3000000, 3), ('o1', 'Closed Won', '2024-03-01', 3000000, 4),"
    " ('o3', 'Prospecting', '2024-02-01', 1000000, 5), ('o3', 'Proposal', '2024-03-02', 1000000, 6),"
    " ('o3', 'Closed Lost', '2024-03-15', 1000000, 7);"
    "INSERT INTO dq_issues(as_of, source, line, rule, severity, message) VALUES"
    " ('2024-04-01', 'opportunities', 5, 'bad_date', 'reject', 'x'),"
    " ('2024-04-01', 'opportunities', 7, 'a', 'warning', 'x'),"
    " ('2024-04-01', 'opportunities', 7, 'b', 'warning', 'x');";

static kp_job *make_job(const char *extra)
{
    snprintf(dir, sizeof dir, "/tmp/kp-metrics-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("o.csv", "x\n");
    char job[2048];
    snprintf(job, sizeof job,
             "[job]\nname = T\nperiod = previous_month\nas_of = 2024-04-01\n"
             "fiscal_year_start = 2\ndatabase = :memory:\n%s\n"
             "[source opportunities]\nfile = o.csv\n",
             extra);
    write_file("job.ini", job);
    char path[256];
    snprintf(path, sizeof path, "%s/job.ini", dir);
    kp_job *j = NULL;
    kp_error e = {0};
    setenv("KPIPRESS_TEMPLATES", "templates", 1);
    if (kp_job_load(path, &j, &e) || kp_job_resolve(j, NULL, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    return j;
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static kp_store *fixture_store(kp_job *job, int with_optional)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
    if (kp_store_exec(s, fixture_sql, &e))
        fail_msg("fixture: %s", e.msg);
    if (!with_optional)
        assert_int_equal(kp_store_exec(s,
                                       "DELETE FROM leads; DELETE FROM spend;"
                                       " DELETE FROM subscriptions; DELETE FROM activities;"
                                       " DELETE FROM stage_history;",
                                       &e),
                         KP_OK);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    return s;
}

/* A kpi column (value, prev_value, yoy_value...) or NAN for NULL; fails if no row. */
static double col(kp_store *s, const char *column, const char *metric, const char *dim,
                  const char *member, const char *grain, const char *start)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM kpi WHERE metric = '%s' AND dimension = '%s' AND member = '%s'"
             " AND grain = '%s' AND period_start = '%s'",
             column, metric, dim, member, grain, start);
    kp_stmt *st = NULL;
    kp_error e = {0};
    if (kp_store_prepare(s, sql, NULL, 0, &st, &e))
        fail_msg("%s", e.msg);
    int r = kp_stmt_step(st, &e);
    if (r != 1)
        fail_msg("no kpi row for %s %s %s %s %s", metric, dim, member, grain, start);
    double v = kp_stmt_column_type(st, 0) == KP_COL_NULL ? NAN : kp_stmt_column_double(st, 0);
    kp_stmt_finalize(st);
    return v;
}

static double val(kp_store *s, const char *metric, const char *dim, const char *member,
                  const char *grain, const char *start)
{
    return col(s, "value", metric, dim, member, grain, start);
}

#define MAR "2024-03-01"
#define CO "company", "All"
#define EQ(expected, got) assert_float_equal((expected), (got), 1e-9)

static void test_bookings_and_win_rates(void **state)
{
    (void)state;
    kp_job *job = make_job("gross_margin = 80%");
    kp_store *s = fixture_store(job, 1);
    /* March: o1 30000 + o2 20000.50 + o9 5000 + o10 50000; o5 (April 1) excluded */
    EQ(105000.50, val(s, "bookings", CO, "period", MAR));
    EQ(4, val(s, "deals_won", CO, "period", MAR));
    EQ(1, val(s, "deals_lost", CO, "period", MAR));
    EQ(10000, val(s, "lost_value", CO, "period", MAR));
    EQ(0.8, val(s, "win_rate", CO, "period", MAR));
    EQ(105000.50 / 115000.50, val(s, "win_rate_value", CO, "period", MAR));
    EQ(26250.125, val(s, "avg_deal_size", CO, "period", MAR));
    EQ((20000.50 + 30000) / 2, val(s, "median_deal_size", CO, "period", MAR));
    /* previous period is February 2024, 29 days: o4 closed on the leap day */
    EQ(40000, col(s, "prev_value", "bookings", CO, "period", MAR));
    EQ(15000, col(s, "yoy_value", "bookings", CO, "period", MAR));
    EQ(65000.50, col(s, "change", "bookings", CO, "period", MAR));
    EQ(105000.50 / 40000 - 1, col(s, "pct_change", "bookings", CO, "period", MAR));
    EQ(105000.50 / 40000 - 1, val(s, "bookings_growth", CO, "period", MAR));
    EQ(105000.50 / 15000 - 1, val(s, "bookings_growth_yoy", CO, "period", MAR));
    /* per rep: r1 won o1, o2 and lost o3; r2 won o10 only; r3 nothing */
    EQ(50000.50, val(s, "bookings", "rep", "r1", "period", MAR));
    EQ(2.0 / 3, val(s, "win_rate", "rep", "r1", "period", MAR));
    EQ(50000, val(s, "bookings", "rep", "r2", "period", MAR));
    EQ(0, val(s, "bookings", "rep", "r3", "period", MAR));
    EQ(0, val(s, "deals_won", "rep", "r3", "period", MAR));
    assert_true(isnan(val(s, "win_rate", "rep", "r3", "period", MAR)));      /* 0 / 0 */
    assert_true(isnan(val(s, "avg_deal_size", "rep", "r3", "period", MAR))); /* / 0 won */
    EQ(5000, val(s, "bookings", "rep", "zz", "period", MAR)); /* owner not in reps */
    EQ(100000.50, val(s, "bookings", "team", "A", "period", MAR));
    EQ(0, val(s, "bookings", "team", "B", "period", MAR));
    EQ(5000, val(s, "bookings", "region", "(none)", "period", MAR));
    EQ(100000.50, val(s, "bookings", "manager", "m1", "period", MAR));
    EQ(30000, val(s, "bookings", "product", "P1", "period", MAR));
    EQ(70000.50, val(s, "bookings", "product", "P2", "period", MAR));
    EQ(105000.50, val(s, "bookings", "forecast_category", "Closed", "period", MAR));
    /* an empty month: zero bookings, but no win rate */
    EQ(0, val(s, "bookings", CO, "month", "2023-06-01"));
    assert_true(isnan(val(s, "win_rate", CO, "month", "2023-06-01")));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

static void test_cycle_pipeline_quota(void **state)
{
    (void)state;
    kp_job *job = make_job("gross_margin = 0.8");
    kp_store *s = fixture_store(job, 1);
    /* won cycles: o1 60 (Jan 1 - Mar 1 2024, leap Feb), o2 31, o9 4, o10 30 */
    EQ(125.0 / 4, val(s, "cycle_days", CO, "period", MAR));
    EQ(30.5, val(s, "median_cycle_days", CO, "period", MAR));
    /* all closed adds o3: Feb 1 - Mar 15 = 43 */
    EQ(168.0 / 5, val(s, "cycle_days_closed", CO, "period", MAR));
    EQ(31, val(s, "median_cycle_days_closed", CO, "period", MAR));
    /* open deals of the latest snapshot: o6 50000 x 0.5, o7 25000 x 0.2 */
    EQ(2, val(s, "open_deals", CO, "period", MAR));
    EQ(75000, val(s, "open_pipeline", CO, "period", MAR));
    EQ(30000, val(s, "weighted_pipeline", CO, "period", MAR));
    assert_true(isnan(col(s, "prev_value", "open_pipeline", CO, "period", MAR)));
    EQ(50000, val(s, "pipeline_due", CO, "period", MAR));
    EQ(1, val(s, "pipeline_due_count", CO, "period", MAR));
    /* quota: r1 100000 + r2 50000 + r3 0 */
    EQ(150000, val(s, "quota", CO, "period", MAR));
    EQ(105000.50 / 150000, val(s, "quota_attainment", CO, "period", MAR));
    EQ(0.5000050, val(s, "quota_attainment", "rep", "r1", "period", MAR));
    EQ(1.0, val(s, "quota_attainment", "rep", "r2", "period", MAR));
    assert_true(isnan(val(s, "quota_attainment", "rep", "r3", "period", MAR))); /* zero quota */
    /* reps with a quota: r1 (50%) and r2 (100%): half at quota; team B has none */
    EQ(0.5, val(s, "reps_at_quota", CO, "period", MAR));
    EQ(0.5, val(s, "reps_at_quota", "team", "A", "period", MAR));
    assert_true(isnan(val(s, "reps_at_quota", "team", "B", "period", MAR)));
    EQ(1.0, val(s, "reps_at_quota", "rep", "r2", "period", MAR));
    EQ(44999.50, val(s, "remaining_quota", CO, "period", MAR));
    EQ(50000 / 44999.50, val(s, "pipeline_coverage", CO, "period", MAR));
    EQ(0, val(s, "remaining_quota", "rep", "r2", "period", MAR));
    assert_true(isnan(val(s, "pipeline_coverage", "rep", "r2", "period", MAR))); /* x / 0 */
    /* velocity: 2 open x 0.8 x 26250.125 / 31.25 per day */
    EQ(2 * 0.8 * 26250.125 / 31.25, val(s, "velocity_per_day", CO, "period", MAR));
    EQ(2 * 0.8 * 26250.125 / 31.25 * 30.436875, val(s, "velocity_per_month", CO, "period", MAR));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

static void test_grains(void **state)
{
    (void)state;
    kp_job *job = make_job("gross_margin = 0.8");
    kp_store *s = fixture_store(job, 1);
    /* fiscal year from February: FY2025 = 2024-02-01..2025-01-31 holds o4, March, o5 */
    EQ(205000.50, val(s, "bookings", CO, "fiscal_year", "2024-02-01"));
    EQ(15000, col(s, "yoy_value", "bookings", CO, "fiscal_year", "2024-02-01"));
    EQ(15000, val(s, "bookings", CO, "fiscal_year", "2023-02-01"));
    /* fiscal Q1 of FY2025 = Feb..Apr 2024; calendar Q1 2024 = Jan..Mar */
    EQ(205000.50, val(s, "bookings", CO, "fiscal_quarter", "2024-02-01"));
    EQ(145000.50, val(s, "bookings", CO, "quarter", "2024-01-01"));
    /* trailing 12 months 2023-04-01..2024-03-31 leaves out o8 (2023-03-31) */
    EQ(145000.50, val(s, "bookings", CO, "t12m", "2023-04-01"));
    EQ(15000, col(s, "prev_value", "bookings", CO, "t12m", "2023-04-01"));
    /* as of 2024-04-01 the March period is complete: period to date = the period */
    EQ(105000.50, val(s, "bookings", CO, "ptd", MAR));
    EQ(40000, val(s, "bookings", CO, "month", "2024-02-01"));
    EQ(80000, val(s, "quota", "rep", "r1", "month", "2024-02-01"));
    /* periods and labels */
    int64_t n = 0;
    kp_error e = {0};
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM kpi_period WHERE grain ="
                                          " 'fiscal_year' AND label = 'FY2025' AND period_end ="
                                          " '2025-01-31' AND role = 'current'",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM kpi_period WHERE grain = 'month'"
                                          " AND role IN ('current', 'series')",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 24);
    /* the fixed tables of the shipped templates agree */
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT bookings_cents FROM kpi_company WHERE period ="
                                          " 'current'",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 10500050);
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT deals_won FROM kpi_rep WHERE period ="
                                          " 'previous' AND rep_id = 'r2'",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 1);
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

static void test_optional_sources(void **state)
{
    (void)state;
    kp_job *job = make_job("gross_margin = 0.8");
    kp_store *s = fixture_store(job, 1);
    /* leads created in March: l1 (converted), l2; February: l3 (converted) */
    EQ(2, val(s, "leads_created", CO, "period", MAR));
    EQ(0.5, val(s, "lead_conversion", CO, "period", MAR));
    EQ(1.0, col(s, "prev_value", "lead_conversion", CO, "period", MAR));
    EQ(0.5, val(s, "lead_conversion", "rep", "r1", "period", MAR));
    /* CAC: 4000 spend / 2 new-business wins (o1, o10) */
    EQ(4000, val(s, "marketing_spend", CO, "period", MAR));
    EQ(2, val(s, "new_customers", CO, "period", MAR));
    EQ(2000, val(s, "cac", CO, "period", MAR));
    /* subscriptions active on March 1: a1, a2 (a4 ended Feb 10); a2 churns in March */
    EQ(2, val(s, "customers_at_start", CO, "period", MAR));
    EQ(1, val(s, "churned", CO, "period", MAR));
    EQ(0.5, val(s, "churn_rate", CO, "period", MAR));
    EQ(150, val(s, "arpa", CO, "period", MAR));
    EQ(150 * 0.8 / (0.5 / (31 / 30.436875)), val(s, "ltv", CO, "period", MAR));
    /* activities: 60 selling of 100 minutes */
    EQ(0.6, val(s, "time_selling", CO, "period", MAR));
    EQ(0.6, val(s, "time_selling", "rep", "r1", "period", MAR));
    /* stage history. February entries: o3 Prospecting -> Proposal, o1 Proposal -> Won:
     * both advance, 30 and 20 days. March: o1 Won, o3 Proposal -> Lost (final), o3 Lost. */
    EQ(2, val(s, "stage_entries", CO, "month", "2024-02-01"));
    EQ(1.0, val(s, "stage_conversion", CO, "month", "2024-02-01"));
    EQ(25, val(s, "days_in_stage", CO, "month", "2024-02-01"));
    EQ(3, val(s, "stage_entries", CO, "period", MAR));
    EQ(0, val(s, "stage_conversion", CO, "period", MAR));
    EQ(1.0, val(s, "stage_conversion", "stage", "Proposal", "month", "2024-02-01"));
    /* slipped: o7 was due 2024-03-25 in the 2024-03-15 snapshot, now 2024-06-30 */
    EQ(1, val(s, "slipped_deals", CO, "period", MAR));
    EQ(25000, val(s, "pushed_value", CO, "period", MAR));
    /* data quality of the latest load: line 5 rejected, line 7 flagged twice */
    EQ(1, val(s, "opp_rows_rejected", CO, "period", MAR));
    EQ(1.0 / 11, val(s, "opp_reject_rate", CO, "period", MAR));
    EQ(1.0 / 10, val(s, "opp_flag_rate", CO, "period", MAR));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

static void test_unavailable_not_zero(void **state)
{
    (void)state;
    kp_job *job = make_job(""); /* no gross_margin */
    kp_store *s = fixture_store(job, 0);
    assert_true(isnan(val(s, "leads_created", CO, "period", MAR)));
    assert_true(isnan(val(s, "lead_conversion", CO, "period", MAR)));
    assert_true(isnan(val(s, "cac", CO, "period", MAR)));
    assert_true(isnan(val(s, "time_selling", CO, "period", MAR)));
    EQ(105000.50, val(s, "bookings", CO, "period", MAR));
    kp_stmt *st = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_prepare(s,
                                      "SELECT name, status FROM kpi_metric WHERE name IN"
                                      " ('leads_created', 'cac', 'ltv', 'bookings') ORDER BY name",
                                      NULL, 0, &st, &e),
                     KP_OK);
    const char *expect[][2] = {{"bookings", "ok"},
                               {"cac", "unavailable: needs marketing_spend"},
                               {"leads_created", "unavailable: no leads data loaded"},
                               {"ltv", "unavailable: needs arpa"}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(kp_stmt_step(st, &e), 1);
        assert_string_equal(kp_stmt_column_text(st, 0), expect[i][0]);
        assert_string_equal(kp_stmt_column_text(st, 1), expect[i][1]);
    }
    kp_stmt_finalize(st);
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* One kpi_wide cell (metric column m<i>) or NAN for NULL; fails if no row. */
static double wide(kp_store *s, const kp_job *job, const char *metric, const char *dim,
                   const char *member, const char *start)
{
    kp_metric_lib *lib = NULL;
    kp_error e = {0};
    assert_int_equal(kp_metrics_load(job, &lib, &e), KP_OK);
    long i = kp_metrics_find(lib, metric);
    kp_metrics_free(lib);
    assert_true(i >= 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT m%ld FROM kpi_wide WHERE dimension = '%s' AND member = '%s'"
             " AND grain = 'period' AND period_start = '%s'",
             i, dim, member, start);
    kp_stmt *st = NULL;
    if (kp_store_prepare(s, sql, NULL, 0, &st, &e))
        fail_msg("%s", e.msg);
    if (kp_stmt_step(st, &e) != 1)
        fail_msg("no kpi_wide row for %s %s %s", metric, dim, member);
    double v = kp_stmt_column_type(st, 0) == KP_COL_NULL ? NAN : kp_stmt_column_double(st, 0);
    kp_stmt_finalize(st);
    return v;
}

/* A sum is 0 for a member of one of its dimensions with nothing in the period, NULL for a
 * member of a dimension its relation has no key for (kpi_wide, where every dimension's
 * members have a row). */
static void test_wide_zero_or_null(void **state)
{
    (void)state;
    kp_job *job = make_job("");
    kp_store *s = fixture_store(job, 1);
    EQ(0, wide(s, job, "bookings", "rep", "r3", MAR));         /* r3 has no deals */
    EQ(50000, wide(s, job, "bookings", "rep", "r2", MAR));     /* o10 */
    EQ(30000, wide(s, job, "bookings", "product", "P1", MAR)); /* o1 */
    assert_true(isnan(wide(s, job, "quota", "product", "P1", MAR))); /* quotas: reps only */
    EQ(50000, wide(s, job, "quota", "rep", "r2", MAR));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* The wide rows put together in C: every member of every dimension has a row in every
 * period (reps without deals, a manager whose only rep has none, a product and an owner
 * known only from one deal); results that SQL computes (min() makes the close-date scan
 * SQL's GROUP BY, a distinct count is counted in SQL) land in the same rows as C's.
 * March 2024 by hand: won deals closing in March are o1 (r1, P1, 30000.00), o2 (r1, P2,
 * 20000.50), o9 (zz, P3, 5000.00) and o10 (r2, P2, 50000.00); won at all (a distinct
 * count is a stock): r1 P1 P2, r2 P1 P2 (o4 o5 o8 o10), zz P3. */
static const char wide_fallback_metrics[] =
    "\n[metric min_won]\nlabel = M\nformat = currency\ndefinition = d\n"
    "from = opportunities\nwhere = is_won\ntime = close_date\n"
    "value = min(amount_cents)\nunit = cents\n"
    "[metric won_products]\nlabel = M\nformat = count\ndefinition = d\n"
    "from = opportunities\nwhere = is_won\nvalue = count(DISTINCT product)\n";

static void test_wide_rows_complete(void **state)
{
    (void)state;
    kp_job *job = make_job(wide_fallback_metrics);
    kp_store *s = fixture_store(job, 1);
    kp_error e = {0};
    int64_t n = -1, periods = 0, members = 0;
    assert_int_equal(
        kp_store_query_int64(s, "SELECT count(*) FROM kpi_period", NULL, 0, &periods, &e), KP_OK);
    /* however many members there are, each has a row for every period */
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM (SELECT DISTINCT dimension,"
                                          " member FROM kpi_wide)",
                                          NULL, 0, &members, &e),
                     KP_OK);
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM kpi_wide", NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, members * periods);
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM (SELECT dimension, member FROM"
                                          " kpi_wide GROUP BY 1, 2 HAVING count(DISTINCT grain"
                                          " || period_start) <> (SELECT count(*) FROM"
                                          " kpi_period))",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 0);
    /* the members expected, by dimension: from reps, and from deals alone */
    static const char *const expect[][2] = {
        {"company", "All"}, {"region", "East"}, {"region", "West"},  {"team", "A"}, {"team", "B"},
        {"manager", "m1"},  {"manager", "m2"},  {"rep", "r1"},       {"rep", "r2"}, {"rep", "r3"},
        {"rep", "zz"},      {"product", "P3"},  {"region", "(none)"}};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) /* wide() fails without */
        assert_false(isnan(wide(s, job, "deals_won", expect[i][0], expect[i][1], MAR)));
    EQ(0, wide(s, job, "deals_won", "rep", "r3", MAR));
    EQ(2, wide(s, job, "deals_won", "rep", "r1", MAR));
    /* C's sums: 0 where nothing happened */
    EQ(0, wide(s, job, "bookings", "manager", "m2", MAR));
    EQ(5000, wide(s, job, "bookings", "product", "P3", MAR));
    EQ(5000, wide(s, job, "bookings", "rep", "zz", MAR));
    /* SQL's min(): NULL where nothing happened */
    EQ(20000.5, wide(s, job, "min_won", "rep", "r1", MAR));
    EQ(5000, wide(s, job, "min_won", "company", "All", MAR));
    EQ(20000.5, wide(s, job, "min_won", "product", "P2", MAR));
    assert_true(isnan(wide(s, job, "min_won", "rep", "r3", MAR)));
    assert_true(isnan(wide(s, job, "min_won", "manager", "m2", MAR)));
    /* SQL's distinct count: 0 where nothing happened */
    EQ(2, wide(s, job, "won_products", "rep", "r1", MAR));
    EQ(3, wide(s, job, "won_products", "company", "All", MAR));
    EQ(2, wide(s, job, "won_products", "region", "East", MAR));
    EQ(0, wide(s, job, "won_products", "rep", "r3", MAR));
    /* and C's medians beside them: r1's two won deals */
    EQ(25000.25, wide(s, job, "median_deal_size", "rep", "r1", MAR));
    assert_true(isnan(wide(s, job, "median_deal_size", "rep", "r3", MAR)));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* LTV needs the job's gross margin: without it, unavailable, with the reason. */
static void test_ltv_needs_margin(void **state)
{
    (void)state;
    kp_job *job = make_job("");
    kp_store *s = fixture_store(job, 1);
    assert_true(isnan(val(s, "ltv", CO, "period", MAR)));
    EQ(150, val(s, "arpa", CO, "period", MAR));
    kp_stmt *st = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_prepare(s, "SELECT status FROM kpi_metric WHERE name = 'ltv'",
                                      NULL, 0, &st, &e),
                     KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_string_equal(kp_stmt_column_text(st, 0),
                        "unavailable: set gross_margin in the job's [job] section");
    kp_stmt_finalize(st);
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* Library errors: each names the file and line of the bad definition. */
static void expect_error(const char *ini, const char *msg, long line)
{
    snprintf(dir, sizeof dir, "/tmp/kp-metrics-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("m.ini", ini);
    char path[256];
    snprintf(path, sizeof path, "%s/m.ini", dir);
    kp_metric_lib *lib = NULL;
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_metrics_new(&lib, &e), KP_OK);
    kp_err rc = kp_metrics_add_file(lib, "templates/metrics.ini", 0, &e);
    if (!rc)
        rc = kp_metrics_add_file(lib, path, 0, &e);
    if (!rc)
        rc = kp_metrics_resolve(lib, &e);
    if (!rc) {
        assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
        assert_int_equal(kp_load_schema(s, &e), KP_OK);
        assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
        rc = kp_metrics_check(lib, s, &e);
    }
    assert_int_equal(rc, KP_ERR_CONFIG);
    assert_string_equal(e.file, path);
    assert_int_equal(e.line, line);
    if (!strstr(e.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
    kp_store_close(s);
    kp_metrics_free(lib);
    cleanup();
}

#define HEAD "label = X\nformat = count\ndefinition = d\n"

static void test_bad_definitions(void **state)
{
    (void)state;
    expect_error("[metric a]\n" HEAD "expr = bookings / nosuch\n",
                 "[metric a]: unknown metric \"nosuch\"", 5);
    expect_error("[metric a]\n" HEAD "expr = b + 1\n[metric b]\n" HEAD "expr = a * 2\n",
                 "cycle between derived metrics: a -> b -> a", 5);
    expect_error("[metric a]\n" HEAD "from = opportunities\nvalue = sum(amount_centz)\n",
                 "[metric a]: SQL error: no such column: amount_centz", 6);
    expect_error("[metric a]\n" HEAD "from = nowhere\nvalue = count(*)\n",
                 "[metric a]: unknown relation \"nowhere\"", 1);
    expect_error("[metric a]\n" HEAD "from = opportunities\nvalue = total(amount_cents)\n",
                 "value must be sum(...), count(...)", 6);
    expect_error("[metric a]\nlabel = X\nformat = money\n", "bad value \"money\"", 3);
    expect_error("[metric a]\nlabel = X\nformat = count\nexpr = 1\n",
                 "[metric a] is missing the required key \"definition\"", 1);
    expect_error("[metric a]\n" HEAD "expr = 1\nvalue = count(*)\n",
                 "needs exactly one of value (aggregate), expr (derived) or rollup", 1);
    expect_error("[metric a]\n" HEAD "expr = bookings +* 2\n", "SQL error", 5);
    expect_error("[metrics a]\n", "unknown section [metrics a]", 1);
}

/* A job's [metric NAME] section replaces the library's definition. */
static void test_job_override(void **state)
{
    (void)state;
    kp_job *job = make_job("gross_margin = 0.8\n[metric bookings]\nlabel = Net bookings\n"
                           "format = currency\ndefinition = Won amounts, New Business only\n"
                           "from = opportunities\nwhere = is_won AND type = 'New Business'\n"
                           "time = close_date\nvalue = sum(amount_cents)\nunit = cents");
    kp_store *s = fixture_store(job, 1);
    EQ(80000, val(s, "bookings", CO, "period", MAR)); /* o1 + o10 */
    EQ(80000.0 / 150000, val(s, "quota_attainment", CO, "period", MAR));
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* Medians are computed in C (median.c), not by SQL: checked here against an independent
 * ranking in SQL (row_number() over each dimension member and period, the middle row or
 * the mean of the two middle rows) on a few hundred random deals with many tied amounts,
 * so that groups of even and odd sizes occur in every dimension and grain, for each time
 * mode: in the period, before it (accumulate) and the latest data (no time column). */
static const char median_metrics[] =
    "\n[metric med_before]\nlabel = M\nformat = currency\ndefinition = d\n"
    "from = opportunities\nwhere = is_won\ntime = close_date\naccumulate = before\n"
    "value = median(amount_cents)\nunit = cents\n"
    "[metric med_open]\nlabel = M\nformat = currency\ndefinition = d\n"
    "from = opportunities\nwhere = NOT is_closed\nvalue = median(amount_cents)\nunit = cents\n"
    /* values kept packed (integers of int32 range) until one does not fit, then unpacked:
     * a fraction (a quarter of the amounts end in 50), or beyond int32 */
    "[metric med_frac]\nlabel = M\nformat = number\ndefinition = d\n"
    "from = opportunities\nwhere = is_won\ntime = close_date\n"
    "value = median(CASE WHEN amount_cents % 100 = 50 THEN amount_cents / 4.0"
    " ELSE amount_cents END)\n"
    "[metric med_big]\nlabel = M\nformat = number\ndefinition = d\n"
    "from = opportunities\nwhere = is_won\ntime = close_date\n"
    "value = median(CASE WHEN amount_cents > 200000 THEN amount_cents * 100000"
    " ELSE amount_cents END)\n";

static void insert_random_deals(kp_store *s)
{
    static const char *const owners[] = {"'r1'", "'r2'", "'r3'", "'r4'", "'zz'"};
    static const char *const products[] = {"'P1'", "'P2'", "NULL"};
    static const char *const fcs[] = {"'Closed'", "'Pipeline'", "NULL"};
    kp_error e = {0};
    kp_rng r;
    kp_rng_seed(&r, 7, 0);
    assert_int_equal(
        kp_store_exec(s,
                      "INSERT INTO reps(rep_id, name, team, region, manager_id)"
                      " VALUES ('r1', 'A', 'A', 'East', 'm1'),"
                      " ('r2', 'B', 'A', 'East', 'm1'), ('r3', 'C', 'B', 'West', 'm2'),"
                      " ('r4', 'D', 'B', NULL, NULL)",
                      &e),
        KP_OK);
    for (int i = 0; i < 600; i++) {
        char sql[1024];
        int won = kp_rng_next(&r) % 2, closed = won || kp_rng_next(&r) % 3;
        int close = (int)(kp_rng_next(&r) % 850), cycle = (int)(kp_rng_next(&r) % 90);
        long amount = (long)(1 + kp_rng_next(&r) % 12) * 25000 + (kp_rng_next(&r) % 4 ? 0 : 50);
        /* the last 40 rows are an earlier snapshot, which no metric may count */
        snprintf(sql, sizeof sql,
                 "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
                 " probability, forecast_category, type, product, created_date, close_date,"
                 " is_closed, is_won, source_line) SELECT '%s', 'o%d', %s, 'S', %ld, 0.5, %s,"
                 " 'New Business', %s, date(c, '-%d days'), c, %d, %d, %d"
                 " FROM (SELECT date('2022-01-01', '+%d days') AS c)",
                 i < 560 ? "2024-04-01" : "2024-03-15", i, owners[kp_rng_next(&r) % 5], amount,
                 fcs[kp_rng_next(&r) % 3], products[kp_rng_next(&r) % 3], cycle, closed, won, i + 2,
                 close);
        if (kp_store_exec(s, sql, &e))
            fail_msg("%s", e.msg);
    }
}

/* The reference side of the rollup checks: x holds, for each snapshot row passing the
 * filter (first %s), one row per dimension member and period it counts in (period join:
 * third %s) with its value v (second %s). */
#define ROWS_BY_MEMBER                                                                     \
    "WITH o AS (SELECT * FROM opportunity_snapshots WHERE as_of = '2024-04-01' AND %s)," \
    " x AS (SELECT d.dim AS dimension, CASE d.dim WHEN 'company' THEN 'All'" \
    "  WHEN 'region' THEN coalesce(r.region, '(none)') WHEN 'team' THEN" \
    "  coalesce(r.team, '(none)') WHEN 'manager' THEN coalesce(r.manager_id, '(none)')" \
    "  WHEN 'rep' THEN o.owner_id WHEN 'product' THEN coalesce(o.product, '(none)')" \
    "  ELSE coalesce(o.forecast_category, '(none)') END AS member, p.grain," \
    "  p.period_start, %s AS v FROM o JOIN kpi_period p ON %s" \
    "  LEFT JOIN reps r ON r.rep_id = o.owner_id CROSS JOIN (SELECT 'company' AS dim" \
    "  UNION ALL SELECT 'region' UNION ALL SELECT 'team' UNION ALL SELECT 'manager'" \
    "  UNION ALL SELECT 'rep' UNION ALL SELECT 'product' UNION ALL" \
    "  SELECT 'forecast_category') d),"

/* Number of (dimension, member, period) groups of metric whose reference median, ranked
 * in SQL, equals kpi.value exactly; *total: groups with values; *even: of even size. */
static void ranked_medians(kp_store *s, const char *metric, const char *where, const char *in,
                           const char *value, const char *scale, int64_t *total, int64_t *matched,
                           int64_t *even)
{
    char sql[4096];
    static const char x[] =
        ROWS_BY_MEMBER
        " rk AS (SELECT *, row_number() OVER (PARTITION BY dimension, member, grain,"
        "  period_start ORDER BY v) AS rn, count(*) OVER (PARTITION BY dimension, member,"
        "  grain, period_start) AS n FROM x),"
        " m AS (SELECT dimension, member, grain, period_start, avg(v)%s AS med, max(n) AS n"
        "  FROM rk WHERE rn IN ((n + 1) / 2, n / 2 + 1) GROUP BY 1, 2, 3, 4)"
        " SELECT %s FROM m LEFT JOIN kpi k ON k.metric = '%s' AND k.dimension = m.dimension"
        "  AND k.member = m.member AND k.grain = m.grain AND k.period_start = m.period_start";
    const char *what[3] = {"count(*)", "sum(k.value = m.med)", "sum(m.n % 2 = 0)"};
    int64_t *out[3] = {total, matched, even};
    kp_error e = {0};
    for (int k = 0; k < 3; k++) {
        snprintf(sql, sizeof sql, x, where, value, in, scale, what[k], metric);
        if (kp_store_query_int64(s, sql, NULL, -1, out[k], &e))
            fail_msg("%s", e.msg);
    }
}

static void test_medians_match_ranking(void **state)
{
    (void)state;
    kp_job *job = make_job(median_metrics);
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
    insert_random_deals(s);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    static const struct {
        const char *metric, *where, *in, *value, *scale;
    } cases[] = {
        {"median_deal_size", "is_won", "close_date BETWEEN p.period_start AND p.period_end",
         "amount_cents", " / 100.0"},
        {"median_cycle_days", "is_won AND created_date IS NOT NULL",
         "close_date BETWEEN p.period_start AND p.period_end",
         "julianday(close_date) - julianday(created_date)", ""},
        {"median_cycle_days_closed", "is_closed",
         "close_date BETWEEN p.period_start AND p.period_end",
         "julianday(close_date) - julianday(created_date)", ""},
        {"med_before", "is_won", "close_date < p.period_start", "amount_cents", " / 100.0"},
        {"med_open", "NOT is_closed", "1", "amount_cents", " / 100.0"},
        {"med_frac", "is_won", "close_date BETWEEN p.period_start AND p.period_end",
         "CASE WHEN amount_cents % 100 = 50 THEN amount_cents / 4.0 ELSE amount_cents END", ""},
        {"med_big", "is_won", "close_date BETWEEN p.period_start AND p.period_end",
         "CASE WHEN amount_cents > 200000 THEN amount_cents * 100000 ELSE amount_cents END", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t total, matched, even, in_kpi;
        ranked_medians(s, cases[i].metric, cases[i].where, cases[i].in, cases[i].value,
                       cases[i].scale, &total, &matched, &even);
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM kpi WHERE metric = '%s' AND value IS NOT NULL",
                 cases[i].metric);
        assert_int_equal(kp_store_query_int64(s, sql, NULL, -1, &in_kpi, &e), KP_OK);
        if (total < 500 || even < total / 5 || total - even < total / 5)
            fail_msg("%s: fixture too thin: %lld groups, %lld even", cases[i].metric,
                     (long long)total, (long long)even);
        if (matched != total || in_kpi != total)
            fail_msg("%s: %lld of %lld medians match, kpi has %lld", cases[i].metric,
                     (long long)matched, (long long)total, (long long)in_kpi);
    }
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

/* Sums, counts and averages are rolled up in C when exact, fractional sums and min/max in
 * SQL: both checked against one direct SQL aggregate per dimension member and period over
 * the random deals (fractional sums to 1e-12 relative: SQL adds in its own order). */
/* mixed_won: cells whose sum has real addends after integer ones; big_won: an integer
 * beyond 2^53, whose scan C hands to SQL (csum). min_created: that scan in SQL too. */
#define M_HEAD(name) "[metric " name "]\nlabel = M\nformat = currency\ndefinition = d\n"
#define M_MIXED_WON                                                                                \
    M_HEAD("mixed_won")                                                                            \
    "from = opportunities\nwhere = is_won\ntime = close_date\n"                                    \
    "value = sum(CASE WHEN amount_cents % 25000 = 50 THEN amount_cents / 3.0 ELSE amount_cents"    \
    " END)\nunit = cents\n"
#define M_BIG_WON                                                                                  \
    M_HEAD("big_won")                                                                              \
    "from = opportunities\nwhere = is_won\ntime = created_date\n"                                  \
    "value = sum(CASE WHEN amount_cents % 25000 = 50 THEN 9007199254740993 ELSE amount_cents"      \
    " END)\nunit = cents\n"
#define M_WON_BEFORE                                                                               \
    M_HEAD("won_before")                                                                           \
    "from = opportunities\nwhere = is_won\ntime = close_date\naccumulate = before\n"                \
    "value = sum(amount_cents)\nunit = cents\n"
#define M_FRAC_WON                                                                                 \
    M_HEAD("frac_won")                                                                             \
    "from = opportunities\nwhere = is_won\ntime = close_date\n"                                    \
    "value = sum(amount_cents / 7.0)\nunit = cents\n"
#define M_MIN(name, time)                                                                          \
    M_HEAD(name) "from = opportunities\nwhere = is_won\ntime = " time "\n"                         \
                 "value = min(amount_cents)\nunit = cents\n"

static const char rollup_metrics[] = M_MIXED_WON M_BIG_WON M_MIN("min_created", "created_date")
    M_WON_BEFORE M_MIN("min_won", "close_date") M_FRAC_WON;

/* The same without min(): the opportunities scan then runs in C (cscan_relation). */
static const char rollup_metrics_c[] = M_MIXED_WON M_BIG_WON M_WON_BEFORE M_FRAC_WON;

static void direct_rollup(kp_store *s, const char *metric, const char *where, const char *in,
                          const char *value, const char *agg, const char *same, int64_t *total,
                          int64_t *matched)
{
    char sql[4096];
    static const char x[] =
        ROWS_BY_MEMBER
        " m AS (SELECT dimension, member, grain, period_start, %s AS want FROM x"
        "  GROUP BY 1, 2, 3, 4)"
        " SELECT %s FROM m LEFT JOIN kpi k ON k.metric = '%s' AND k.dimension = m.dimension"
        "  AND k.member = m.member AND k.grain = m.grain AND k.period_start = m.period_start";
    const char *what[2] = {"count(*)", same};
    int64_t *out[2] = {total, matched};
    kp_error e = {0};
    for (int k = 0; k < 2; k++) {
        snprintf(sql, sizeof sql, x, where, value, in, agg, what[k], metric);
        if (kp_store_query_int64(s, sql, NULL, -1, out[k], &e))
            fail_msg("%s", e.msg);
    }
}

/* Every rollup of lib against SQL straight over the rows; with_min adds the min() case. */
static void check_rollups(const char *lib, int with_min)
{
    kp_job *job = make_job(lib);
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
    insert_random_deals(s);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    static const char exact[] = "sum(k.value = m.want)",
                      near[] = "sum(abs(k.value - m.want) <= 1e-12 * abs(m.want))";
    static const char window[] = "close_date BETWEEN p.period_start AND p.period_end";
    static const struct {
        const char *metric, *where, *in, *value, *agg, *same;
    } cases[] = {
        {"bookings", "is_won", window, "amount_cents", "sum(v) / 100.0", exact},
        {"deals_won", "is_won", window, "1", "count(*)", exact},
        {"cycle_days", "is_won AND created_date IS NOT NULL", window,
         "julianday(close_date) - julianday(created_date)", "avg(v)", exact},
        {"median_deal_size", "is_won AND amount_cents IS NOT NULL", window, "amount_cents",
         "median(v) / 100.0", exact},
        {"open_pipeline", "NOT is_closed", "1", "amount_cents", "sum(v) / 100.0", exact},
        {"weighted_pipeline", "NOT is_closed", "1", "amount_cents * coalesce(probability, 0)",
         "sum(v) / 100.0", near},
        {"won_before", "is_won", "close_date < p.period_start", "amount_cents", "sum(v) / 100.0",
         exact},
        {"frac_won", "is_won", window, "amount_cents / 7.0", "sum(v) / 100.0", near},
        {"mixed_won", "is_won", window,
         "CASE WHEN amount_cents % 25000 = 50 THEN amount_cents / 3.0 ELSE amount_cents END",
         "sum(v) / 100.0", near},
        {"big_won", "is_won", "created_date BETWEEN p.period_start AND p.period_end",
         "CASE WHEN amount_cents % 25000 = 50 THEN 9007199254740993 ELSE amount_cents END",
         "sum(v) / 100.0", exact},
        {"min_won", "is_won", window, "amount_cents", "min(v) / 100.0", exact},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases - (with_min ? 0 : 1); i++) {
        int64_t total, matched;
        direct_rollup(s, cases[i].metric, cases[i].where, cases[i].in, cases[i].value, cases[i].agg,
                      cases[i].same, &total, &matched);
        if (total < 500 || matched != total)
            fail_msg("%s: %lld of %lld values match", cases[i].metric, (long long)matched,
                     (long long)total);
    }
    kp_store_close(s);
    kp_job_free(job);
    cleanup();
}

static void test_rollups_match_direct_sql(void **state)
{
    (void)state;
    check_rollups(rollup_metrics, 1);   /* min(): the scan is SQL's GROUP BY */
    check_rollups(rollup_metrics_c, 0); /* the scan in C */
}

/* The scan in C gives SQL's GROUP BY scan's numbers bit for bit, fractional sums (added in
 * row order) and medians included: the same data evaluated both ways, every kpi value
 * compared with =. */
/* A memory database with the schema and insert_random_deals' rows. */
static kp_store *random_deals_store(void)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
    insert_random_deals(s);
    return s;
}

static void test_c_scan_equals_sql_scan(void **state)
{
    (void)state;
    kp_store *s = random_deals_store();
    kp_error e = {0};
    kp_job *job = make_job(rollup_metrics_c);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    kp_job_free(job);
    cleanup();
    assert_int_equal(kp_store_exec(s, "CREATE TEMP TABLE c AS SELECT * FROM kpi", &e), KP_OK);
    job = make_job(rollup_metrics);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    kp_job_free(job);
    cleanup();
    int64_t n = 0, same = 0, frac = 0;
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM c", NULL, 0, &n, &e), KP_OK);
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM c JOIN kpi k USING (metric,"
                                          " dimension, member, grain, period_start) WHERE"
                                          " k.value IS c.value AND k.prev_value IS c.prev_value"
                                          " AND k.yoy_value IS c.yoy_value",
                                          NULL, 0, &same, &e),
                     KP_OK);
    /* fractional sums whose order of addition shows in the last bits */
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM c WHERE metric IN"
                                          " ('weighted_pipeline', 'frac_won') AND value <>"
                                          " round(value, 2)",
                                          NULL, 0, &frac, &e),
                     KP_OK);
    if (n < 10000 || same != n || frac < 100)
        fail_msg("%lld of %lld values equal (%lld fractional)", (long long)same, (long long)n,
                 (long long)frac);
    kp_store_close(s);
}

/* One scan cell whose integer addends pass 2^53 before a real one comes: SQL's sum()
 * adds them as doubles in row order (9007199254740993 reads as ...992; + 1 + 1 + 0.5
 * rounds back to ...992 each time), which a cell's integer total (...995) cannot give;
 * the C scan must hand such a scan to SQL. */
static void test_cell_sum_beyond_2_53(void **state)
{
    (void)state;
    static const char lib[] =
        "\n[metric odd_sum]\nlabel = M\nformat = currency\ndefinition = d\n"
        "from = opportunities\ntime = close_date\n"
        "value = sum(CASE WHEN amount_cents = 2 THEN 0.5 ELSE amount_cents END)\n";
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_metrics_schema(s, &e), KP_OK);
    static const long long amounts[] = {9007199254740993LL, 1, 1, 2};
    for (int i = 0; i < 4; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
                 " is_closed, is_won, close_date, source_line) VALUES ('2024-04-01', 'o%d', 'r1',"
                 " 'S', %lld, 1, 1, '2024-03-10', %d)",
                 i, amounts[i], i + 2);
        assert_int_equal(kp_store_exec(s, sql, &e), KP_OK);
    }
    kp_job *job = make_job(lib);
    if (kp_metrics_run(job, s, &e))
        fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
    int64_t same = -1;
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT value = 9007199254740992.0 FROM kpi WHERE"
                                          " metric = 'odd_sum' AND dimension = 'company' AND"
                                          " grain = 'period' AND period_start = '2024-03-01'",
                                          NULL, -1, &same, &e),
                     KP_OK);
    assert_int_equal(same, 1); /* by hand, above */
    kp_job_free(job);
    cleanup();
    kp_store_close(s);
}

/* The default library with the scans' expressions evaluated in C (expr.h) and all in
 * SQLite: the same kpi_wide, every column of every row; also when one row's date makes
 * C hand the scan back to SQLite. */
static int64_t wide_differences(kp_store *s, const char *update)
{
    kp_error e = {0};
    int64_t diff = -1, n = 0;
    assert_int_equal(kp_store_exec(s, update, &e), KP_OK);
    for (int on = 1; on >= 0; on--) {
        kp_metrics_set_c_eval(on);
        kp_job *job = make_job("");
        if (kp_metrics_run(job, s, &e))
            fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
        kp_job_free(job);
        cleanup();
        if (on)
            assert_int_equal(kp_store_exec(s, "DROP TABLE IF EXISTS temp.c;"
                                              " CREATE TEMP TABLE c AS SELECT * FROM kpi_wide",
                                           &e),
                             KP_OK);
    }
    kp_metrics_set_c_eval(1);
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT"
                                          " SELECT * FROM kpi_wide)) + (SELECT count(*) FROM"
                                          " (SELECT * FROM kpi_wide EXCEPT SELECT * FROM c))",
                                          NULL, 0, &diff, &e),
                     KP_OK);
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM c WHERE m0 > 0", NULL, 0, &n,
                                          &e),
                     KP_OK);
    assert_true(n > 100); /* bookings in many groups */
    return diff;
}

static void test_c_expressions_equal_sql(void **state)
{
    (void)state;
    kp_store *s = random_deals_store();
    /* NULLs and fractions where the expressions meet them */
    assert_int_equal(wide_differences(s, "UPDATE opportunity_snapshots SET probability ="
                                          " CASE WHEN rowid % 7 = 0 THEN NULL ELSE"
                                          " (rowid % 10) / 9.0 END, created_date = CASE WHEN"
                                          " rowid % 11 = 0 THEN NULL ELSE created_date END,"
                                          " type = CASE WHEN rowid % 5 = 0 THEN 'Renewal'"
                                          " WHEN rowid % 13 = 0 THEN NULL ELSE type END"),
                     0);
    /* a date julianday() reads leniently: C refuses the row, SQLite evaluates the scan */
    assert_int_equal(wide_differences(s, "UPDATE opportunity_snapshots SET created_date ="
                                          " '2023-02-30' WHERE rowid = 3"),
                     0);
    kp_store_close(s);
}

/* Without an index on the snapshot column (a first snapshot as loaded) the latest snapshot
 * is read by one filtered table scan instead of a rowid range: the same rows in the same order, so the same
 * kpi_wide (an earlier snapshot of 40 rows lies in the table). */
static void test_snapshot_without_index(void **state)
{
    (void)state;
    kp_store *s = random_deals_store();
    kp_error e = {0};
    int64_t diff = -1;
    /* the load leaves the indexes to the queries that need them: first with both */
    assert_int_equal(kp_load_ensure_indexes(s, KP_LOAD_INDEX_KEY | KP_LOAD_INDEX_OWNER, &e), KP_OK);
    for (int pass = 0; pass < 2; pass++) {
        kp_job *job = make_job("");
        if (kp_metrics_run(job, s, &e))
            fail_msg("%s:%ld: %s", e.file, e.line, e.msg);
        kp_job_free(job);
        cleanup();
        if (!pass)
            assert_int_equal(kp_store_exec(s,
                                           "CREATE TEMP TABLE c AS SELECT * FROM kpi_wide;"
                                           " DROP INDEX opp_snap_key; DROP INDEX opp_snap_owner",
                                           &e),
                             KP_OK);
    }
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT"
                                          " SELECT * FROM kpi_wide)) + (SELECT count(*) FROM"
                                          " (SELECT * FROM kpi_wide EXCEPT SELECT * FROM c))"
                                          " + (SELECT count(*) FROM c) - (SELECT count(*) FROM"
                                          " kpi_wide)",
                                          NULL, 0, &diff, &e),
                     KP_OK);
    assert_int_equal(diff, 0);
    kp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bookings_and_win_rates),
        cmocka_unit_test(test_cycle_pipeline_quota),
        cmocka_unit_test(test_grains),
        cmocka_unit_test(test_optional_sources),
        cmocka_unit_test(test_unavailable_not_zero),
        cmocka_unit_test(test_wide_zero_or_null),
        cmocka_unit_test(test_wide_rows_complete),
        cmocka_unit_test(test_bad_definitions),
        cmocka_unit_test(test_job_override),
        cmocka_unit_test(test_ltv_needs_margin),
        cmocka_unit_test(test_medians_match_ranking),
        cmocka_unit_test(test_rollups_match_direct_sql),
        cmocka_unit_test(test_c_scan_equals_sql_scan),
        cmocka_unit_test(test_cell_sum_beyond_2_53),
        cmocka_unit_test(test_c_expressions_equal_sql),
        cmocka_unit_test(test_snapshot_without_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
