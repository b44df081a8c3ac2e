/* Stored bookings forecasts: on a sample data set with edge cases added (a two-month
 * rep, a rep without deals, an inactive rep), every series that
 * tests/unit/check_forecast_series.py builds from the CSVs is stored, with the horizon
 * of the job, and its rows are kp_forecast_auto's forecast of that series; the fallback
 * labels; a re-run of the same as-of date gives the same bytes and keeps other dates'
 * rows; an empty database gets a labelled zero forecast. */
#include "test.h"

#include "kpipress/forecast.h"
#include "kpipress/forecast_series.h"
#include "kpipress/job.h"
#include "kpipress/load.h"
#include "kpipress/sample.h"
#include "kpipress/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HORIZON 3
#define AS_OF "2026-11-01"

static char dir[64];
static kp_job *job;
static kp_store *db;

static void run_or_fail(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

static int setup(void **state)
{
    (void)state;
    kp_error e = {0};
    snprintf(dir, sizeof dir, "/tmp/kp-fcseries-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    kp_sample_options o;
    kp_sample_defaults(&o);
    o.reps = 8;
    o.months = 30;
    o.seed = 7;
    o.as_of = 0;
    kp_date_parse_iso(AS_OF, 10, &o.as_of);
    if (kp_sample_write(dir, &o, &e))
        return -1;
    char cmd[512], path[128];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/unit/check_forecast_series.py prepare %s " AS_OF, dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/job.ini", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[job]\nname = t\ndatabase = :memory:\nas_of = " AS_OF "\n"
            "period = previous_month\noutput_dir = out\n"
            "[source opportunities]\nfile = opportunities.csv\npreset = salesforce\n"
            "[source reps]\nfile = users.csv\npreset = salesforce\n"
            "[source quotas]\nfile = quotas.csv\npreset = salesforce\n"
            "[forecast]\nhorizon = %d\n",
            HORIZON);
    fclose(f);
    kp_load_stats st;
    if (kp_job_load(path, &job, &e) || kp_job_resolve(job, NULL, &e) ||
        kp_store_open(":memory:", KP_STORE_MEMORY, &db, &e) || kp_load_schema(db, &e) ||
        kp_load_run(job, db, &st, &e) || kp_forecast_series_run(job, db, &e)) {
        fprintf(stderr, "setup: %s:%ld: %s\n", e.file, e.line, e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kp_store_close(db);
    kp_job_free(job);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static kp_stmt *prepare(const char *sql)
{
    kp_stmt *st = NULL;
    kp_error e = {0};
    if (kp_store_prepare(db, sql, NULL, 0, &st, &e))
        fail_msg("%s: %s", sql, e.msg);
    return st;
}

/* Every row of one as-of date as text, doubles to 17 digits: the bytes a re-run must
 * reproduce. Caller frees. */
static char *dump(const char *as_of)
{
    kp_stmt *st = prepare("SELECT printf('%s|%s|%s|%s|%s|%!.17g|%!.17g|%!.17g|%s|%s|%s|%s|%d',"
                          " series, dimension, member, period_start, period_end, value, lower,"
                          " upper, method, chosen_because, quote(wape), quote(mase), fallback)"
                          " FROM forecast WHERE as_of = ?1"
                          " ORDER BY series, dimension, member, period_start");
    kp_stmt_bind_text(st, 1, as_of, strlen(as_of));
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    while (kp_stmt_step(st, NULL) > 0) {
        const char *row = kp_stmt_column_text(st, 0);
        size_t n = strlen(row);
        while (len + n + 2 > cap)
            assert_non_null(out = realloc(out, cap *= 2));
        memcpy(out + len, row, n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    kp_stmt_finalize(st);
    return out;
}

static void compare_series(const char *dim, const char *member, const double *y, size_t n)
{
    double v[HORIZON], lo[HORIZON], hi[HORIZON];
    kp_fc_result r;
    kp_error e = {0};
    assert_int_equal(kp_forecast_auto(y, n, HORIZON, v, lo, hi, &r, &e), KP_OK);
    kp_stmt *st = prepare("SELECT period_start, period_end, value, lower, upper, method,"
                          " chosen_because, coalesce(wape, -1), coalesce(mase, -1), fallback"
                          " FROM forecast WHERE as_of = '" AS_OF "' AND series = 'bookings'"
                          " AND dimension = ?1 AND member = ?2 ORDER BY period_start");
    kp_stmt_bind_text(st, 1, dim, strlen(dim));
    kp_stmt_bind_text(st, 2, member, strlen(member));
    static const char *const starts[HORIZON] = {"2026-11-01", "2026-12-01", "2027-01-01"};
    static const char *const ends[HORIZON] = {"2026-11-30", "2026-12-31", "2027-01-31"};
    size_t k = 0;
    for (; kp_stmt_step(st, NULL) > 0; k++) {
        assert_true(k < HORIZON);
        assert_string_equal(kp_stmt_column_text(st, 0), starts[k]);
        assert_string_equal(kp_stmt_column_text(st, 1), ends[k]);
        double got[3] = {kp_stmt_column_double(st, 2), kp_stmt_column_double(st, 3),
                         kp_stmt_column_double(st, 4)};
        double want[3] = {v[k], lo[k], hi[k]};
        for (int j = 0; j < 3; j++)
            if (!(fabs(got[j] - want[j]) <= 1e-9 * (1.0 + fabs(want[j]))))
                fail_msg("%s %s month %zu column %d: stored %.17g, kp_forecast_auto %.17g", dim,
                         member, k + 1, j, got[j], want[j]);
        assert_string_equal(kp_stmt_column_text(st, 5), kp_forecast_method_name(r.method));
        assert_string_equal(kp_stmt_column_text(st, 6), r.because);
        assert_true(fabs(kp_stmt_column_double(st, 7) - r.wape) <= 1e-12);
        assert_true(fabs(kp_stmt_column_double(st, 8) - r.mase) <= 1e-12);
        assert_int_equal(kp_stmt_column_int64(st, 9), r.fallback);
    }
    kp_stmt_finalize(st);
    if (k != HORIZON)
        fail_msg("%s %s: %zu rows stored, want the job's horizon %d", dim, member, k, HORIZON);
}

/* The series the Python reference builds from the CSVs, one by one, against the rows. */
static void test_matches_reference(void **state)
{
    (void)state;
    char cmd[512], ref[128];
    snprintf(ref, sizeof ref, "%s/ref.txt", dir);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/unit/check_forecast_series.py series %s " AS_OF " %s", dir,
             ref);
    run_or_fail(cmd);
    FILE *f = fopen(ref, "r");
    assert_non_null(f);
    static char line[1 << 16];
    size_t nseries = 0, nrep = 0, seasonal = 0;
    while (fgets(line, sizeof line, f)) {
        char *dim = strtok(line, "\t"), *member = strtok(NULL, "\t"), *vals = strtok(NULL, "\n");
        assert_non_null(member);
        double y[KP_FORECAST_MAX_POINTS];
        size_t n = 0;
        for (char *p = vals, *end; p && *p; p = end) {
            y[n] = strtod(p, &end);
            if (end == p)
                break;
            n++;
        }
        compare_series(dim, member, y, n);
        nseries++;
        nrep += !strcmp(dim, "rep");
        seasonal += n >= 27;
    }
    fclose(f);
    assert_true(seasonal > 0); /* the data exercises the seasonal candidates too */
    int64_t stored = 0, reps = 0;
    kp_error e = {0};
    assert_int_equal(kp_store_query_int64(db,
                                          "SELECT count(DISTINCT dimension || '/' || member)"
                                          " FROM forecast WHERE as_of = '" AS_OF "'",
                                          NULL, 0, &stored, &e),
                     KP_OK);
    assert_int_equal(
        kp_store_query_int64(db, "SELECT count(*) FROM reps WHERE active = 1", NULL, 0, &reps, &e),
        KP_OK);
    assert_int_equal((size_t)stored, nseries);
    /* every active rep and the two owners the reps export lacks (check_forecast_series.py
     * prepare), and only them */
    assert_int_equal((size_t)reps + 2, nrep);
}

static void expect_label(const char *member, const char *method, const char *because)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM forecast WHERE as_of = '" AS_OF "' AND dimension = 'rep'"
             " AND member = '%s' AND method = '%s' AND chosen_because = '%s' AND fallback = 1",
             member, method, because);
    int64_t n = 0;
    kp_error e = {0};
    assert_int_equal(kp_store_query_int64(db, sql, NULL, 0, &n, &e), KP_OK);
    if (n != HORIZON)
        fail_msg("%s: %lld rows labelled %s / %s", member, (long long)n, method, because);
}

static void test_fallback_labels(void **state)
{
    (void)state;
    expect_label("005ZZNEWHIRE01", "mean", "fallback: 2 months, fewer than 4");
    expect_label("005ZZIDLE00001", "zero", "fallback: all months zero");
    int64_t n = -1;
    kp_error e = {0};
    /* the mean of 0 and 12,345.67 */
    assert_int_equal(kp_store_query_int64(db,
                                          "SELECT count(*) FROM forecast WHERE member ="
                                          " '005ZZNEWHIRE01' AND abs(value - 6172.835) < 1e-6",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, HORIZON);
    /* no NaN, no negative bound, interval around the value */
    assert_int_equal(kp_store_query_int64(db,
                                          "SELECT count(*) FROM forecast WHERE NOT (lower <= value"
                                          " AND value <= upper AND lower >= 0)",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, 0);
}

/* Same as-of again: identical bytes, and another as-of date's rows kept (history). */
static void test_rerun_identical(void **state)
{
    (void)state;
    kp_error e = {0};
    assert_int_equal(kp_store_exec(db,
                                   "INSERT INTO forecast SELECT '2026-10-01', series, dimension,"
                                   " member, period_start, period_end, value + 1, lower, upper,"
                                   " method, chosen_because, wape, mase, fallback FROM forecast"
                                   " WHERE as_of = '" AS_OF "'",
                                   &e),
                     KP_OK);
    char *before = dump(AS_OF), *other = dump("2026-10-01");
    assert_true(strlen(before) > 1000);
    assert_int_equal(kp_forecast_series_run(job, db, &e), KP_OK);
    char *after = dump(AS_OF), *other_after = dump("2026-10-01");
    assert_string_equal(before, after);
    assert_string_equal(other, other_after);
    free(before);
    free(after);
    free(other);
    free(other_after);
    assert_int_equal(kp_store_exec(db, "DELETE FROM forecast WHERE as_of = '2026-10-01'", &e),
                     KP_OK);
}

/* A fresh database: the table exists, and a run without data stores a labelled zero. */
static void test_empty_database(void **state)
{
    (void)state;
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_forecast_series_run(job, s, &e), KP_OK);
    int64_t n = 0;
    assert_int_equal(kp_store_query_int64(s,
                                          "SELECT count(*) FROM forecast WHERE dimension ="
                                          " 'company' AND member = 'All' AND value = 0 AND"
                                          " method = 'zero' AND fallback = 1 AND"
                                          " chosen_because = 'fallback: no data'",
                                          NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, HORIZON);
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM forecast", NULL, 0, &n, &e),
                     KP_OK);
    assert_int_equal(n, HORIZON);
    kp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_fallback_labels),
        cmocka_unit_test(test_rerun_identical),
        cmocka_unit_test(test_empty_database),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
