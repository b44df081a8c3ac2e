/* Job file parsing: good jobs resolve, and each kind of mistake gets its exact message
 * with file and line. Fixtures are written to a temporary directory by the test. */
#include "test.h"

#include "kpipress/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kp-test-job-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("opps.csv", "Id,Name\n1,x\n");
    write_file("users.csv", "Id,Name\n1,x\n");
    write_file("t.ini", "[document]\nkind = xlsx\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#define HEAD "[job]\nname = Test\nperiod = previous_month\n"
#define SRC "[source opportunities]\nfile = opps.csv\npreset = salesforce\n"

/* Load a job from text; return the formatted error ("" on success). */
static const char *load(const char *text)
{
    static char msg[2048];
    char path[512];
    write_file("job.ini", text);
    snprintf(path, sizeof path, "%s/job.ini", dir);
    kp_job *job = NULL;
    kp_error e = {0};
    kp_err rc = kp_job_load(path, &job, &e);
    msg[0] = '\0';
    if (rc) {
        char full[2048];
        kp_error_format(&e, full, sizeof full);
        /* strip the temp directory so expectations are stable */
        const char *p = strstr(full, "job.ini");
        snprintf(msg, sizeof msg, "%s", p ? p : full);
        assert_null(job);
    } else {
        assert_non_null(job);
        kp_job_free(job);
    }
    return msg;
}

static void test_good_job(void **state)
{
    (void)state;
    char path[512];
    write_file("job.ini", "; comment\n" HEAD "fiscal_year_start = 2\nas_of = 2026-11-01\n"
                          "currency = EUR\nmax_reject_pct = 2.5\n" SRC
                          "map.amount = Amount (converted)\n"
                          "[source reps]\nfile = users.csv\n"
                          "[report board]\ntemplate = t.ini\noutput = b-{period}.xlsx\n"
                          "burst = SELECT rep_id\n  FROM reps\n  ORDER BY rep_id\n");
    snprintf(path, sizeof path, "%s/job.ini", dir);
    kp_job *job = NULL;
    kp_error e = {0};
    assert_int_equal(kp_job_load(path, &job, &e), KP_OK);
    assert_string_equal(job->name, "Test");
    assert_int_equal(job->fiscal_year_start, 2);
    assert_string_equal(job->currency, "EUR");
    assert_true(job->max_reject_pct == 2.5);
    assert_int_equal(job->nsources, 2);
    assert_int_equal(job->sources[0].kind, KP_SRC_OPPORTUNITIES);
    assert_int_equal(job->sources[1].kind, KP_SRC_REPS);
    assert_string_equal(job->sources[1].preset, "generic");
    assert_int_equal(job->sources[0].nmaps, 1);
    assert_string_equal(job->sources[0].maps[0].field, "amount");
    assert_string_equal(job->sources[0].maps[0].header, "Amount (converted)");
    assert_string_equal(job->reports[0].burst, "SELECT rep_id\nFROM reps\nORDER BY rep_id");
    assert_int_equal(kp_job_resolve(job, NULL, &e), KP_OK);
    assert_string_equal(kp_vars_get(&job->vars, "period_start"), "2026-10-01");
    assert_string_equal(kp_vars_get(&job->vars, "period_end"), "2026-10-31");
    assert_string_equal(kp_vars_get(&job->vars, "period"), "2026-10");
    /* output_dir default is out/{period} next to the job */
    assert_non_null(strstr(job->output_dir, "/out/2026-10"));
    /* --as-of overrides the job */
    assert_int_equal(kp_job_resolve(job, "2024-03-15", &e), KP_OK);
    assert_string_equal(kp_vars_get(&job->vars, "period_start"), "2024-02-01");
    assert_string_equal(kp_vars_get(&job->vars, "period_end"), "2024-02-29");
    assert_int_equal(kp_job_resolve(job, "2024-02-30", &e), KP_ERR_USAGE);
    assert_string_equal(e.msg, "bad as-of date \"2024-02-30\": expected YYYY-MM-DD or today");
    kp_job_free(job);
}

/* A [commission] plan is parsed into the job and reaches templates as values. */
static void test_commission(void **state)
{
    (void)state;
    char path[512];
    write_file("job.ini", HEAD SRC "[commission]\ntarget_incentive = 5000\nmethod = cumulative\n"
                                   "floor = 50%\ncap = 2.5\ntier.2 = 100% 1.5x\n"
                                   "tier.1 = 0 0.8\n");
    snprintf(path, sizeof path, "%s/job.ini", dir);
    kp_job *job = NULL;
    kp_error e = {0};
    assert_int_equal(kp_job_load(path, &job, &e), KP_OK);
    const kp_commission_plan *p = &job->commission;
    assert_true(job->has_commission);
    assert_int_equal(p->method, KP_COMMISSION_CUMULATIVE);
    assert_true(p->target_incentive == 5000 && p->floor == 0.5 && p->has_cap && p->cap == 2.5);
    assert_int_equal(p->ntiers, 2);
    assert_true(p->tiers[0].from == 0 && p->tiers[0].rate == 0.8);
    assert_true(p->tiers[1].from == 1 && p->tiers[1].rate == 1.5);
    assert_int_equal(kp_job_resolve(job, "2026-11-01", &e), KP_OK);
    assert_string_equal(kp_vars_get(&job->vars, "commission_method"), "cumulative");
    assert_string_equal(kp_vars_get(&job->vars, "commission_tiers"), "0:0.80000000000000004 1:1.5");
    assert_string_equal(kp_vars_get(&job->vars, "commission_target_incentive"), "5000");
    assert_string_equal(kp_vars_get(&job->vars, "commission_floor"), "0.5");
    assert_string_equal(kp_vars_get(&job->vars, "commission_cap"), "2.5");
    kp_job_free(job);
}

/* [forecast] settings: defaults without the section, the given values with it. */
static void test_forecast_settings(void **state)
{
    (void)state;
    char path[512];
    kp_job *job = NULL;
    kp_error e = {0};
    write_file("job.ini", HEAD SRC);
    snprintf(path, sizeof path, "%s/job.ini", dir);
    assert_int_equal(kp_job_load(path, &job, &e), KP_OK);
    assert_int_equal(job->forecast.horizon, 6);
    assert_int_equal(job->forecast.runs, 10000);
    assert_true(job->forecast.seed == 1);
    assert_int_equal(job->forecast.min_sample, 20);
    assert_int_equal(job->forecast.line, 0);
    kp_job_free(job);
    write_file("job.ini", HEAD SRC "[forecast]\nhorizon = 12\nruns = 500\n"
                                   "seed = 18446744073709551615\nmin_sample = 5\n");
    job = NULL;
    assert_int_equal(kp_job_load(path, &job, &e), KP_OK);
    assert_int_equal(job->forecast.horizon, 12);
    assert_int_equal(job->forecast.runs, 500);
    assert_true(job->forecast.seed == 18446744073709551615ULL);
    assert_int_equal(job->forecast.min_sample, 5);
    assert_int_equal(job->forecast.line, 7);
    kp_job_free(job);
}

static void test_long_line_ok(void **state)
{
    (void)state;
    /* inih's default limit is 200 characters: a 300-character name must survive intact */
    char text[1024], name[301];
    memset(name, 'x', 300);
    name[300] = '\0';
    snprintf(text, sizeof text, "[job]\nname = %s\nperiod = previous_month\n" SRC, name);
    char path[512];
    write_file("job.ini", text);
    snprintf(path, sizeof path, "%s/job.ini", dir);
    kp_job *job = NULL;
    kp_error e = {0};
    assert_int_equal(kp_job_load(path, &job, &e), KP_OK);
    assert_int_equal(strlen(job->name), 300);
    kp_job_free(job);
}

/* Each bad job and its exact message. */
static void test_bad_jobs(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[jobs]\nname = x\n", "job.ini:1: unknown section [jobs] (expected [job], [source NAME], "
                               "[report NAME], [metric NAME], [stages], [commission] or [forecast])"},
        {HEAD "colour = red\n" SRC,
         "job.ini:4: colour: unknown key (valid keys: name, database, as_of, period, "
         "fiscal_year_start, currency, output_dir, max_reject_pct, timezone, font, "
         "deliver_command, metrics, gross_margin)"},
        {"[job]\nperiod = previous_month\n" SRC,
         "job.ini: missing [job] section or its required key \"name\""},
        {"[job]\nname = x\n" SRC, "job.ini: [job] is missing the required key \"period\""},
        {"[job]\nname = x\nperiod = last_week\n" SRC,
         "job.ini:3: period: bad value \"last_week\": expected current_month, previous_month, "
         "current_quarter, previous_quarter, quarter_to_date, month_to_date, year_to_date, "
         "current_fiscal_year, previous_fiscal_year, fiscal_year_to_date, "
         "current_fiscal_quarter, previous_fiscal_quarter, trailing_12_months or "
         "YYYY-MM-DD..YYYY-MM-DD"},
        {HEAD "fiscal_year_start = 13\n" SRC,
         "job.ini:4: fiscal_year_start: bad value \"13\": expected a month number 1-12"},
        {HEAD "as_of = 2026-02-30\n" SRC,
         "job.ini:4: as_of: bad value \"2026-02-30\": expected \"today\" or a date YYYY-MM-DD"},
        {HEAD "currency = usd\n" SRC,
         "job.ini:4: currency: bad value \"usd\": expected a three-letter ISO 4217 code like "
         "USD"},
        {HEAD "max_reject_pct = 150\n" SRC,
         "job.ini:4: max_reject_pct: bad value \"150\": expected a percentage between 0 and "
         "100"},
        {HEAD "name = y\n" SRC, "job.ini:4: name: duplicate key"},
        {HEAD "[source opportunities]\nfile = missing.csv\n",
         "job.ini:4: [source opportunities]: file not found: "},
        {HEAD "[source opportunities]\npreset = salesforce\n",
         "job.ini:4: [source opportunities] is missing the required key \"file\""},
        {HEAD "[source opportunities]\nfile = opps.csv\npreset = zoho\n",
         "job.ini:6: preset: bad value \"zoho\": expected salesforce, hubspot, pipedrive or "
         "generic"},
        {HEAD "[source deals]\nfile = opps.csv\n",
         "job.ini:4: [source deals] needs \"type = KIND\" (or name the section after its "
         "type); kinds: opportunities, reps, quotas, accounts, activities, leads, spend, "
         "subscriptions, stage_history or rates"},
        {HEAD "[source reps]\nfile = users.csv\n",
         "job.ini: no opportunities source: add [source opportunities] with a file"},
        {HEAD SRC SRC, "job.ini:7: duplicate [source opportunities] (first at line 4)"},
        {HEAD SRC "[report r]\noutput = x.xlsx\n",
         "job.ini:7: [report r] is missing the required key \"template\""},
        {HEAD SRC "[report r]\ntemplate = nope.ini\noutput = x.xlsx\n",
         "job.ini:7: [report r]: template not found: "},
        {HEAD SRC "[report r]\ntemplate = t.ini\noutput = ../x.xlsx\n",
         "job.ini:9: output: bad value \"../x.xlsx\": expected a path relative to output_dir, "
         "without \"..\""},
        {HEAD "name2\n", "job.ini:4: syntax error: expected [section], key = value, or a comment"},
        {"name = x\n", "job.ini:1: key \"name\" outside any section (start with [job])"},
        {HEAD "  continued\n" SRC,
         "job.ini:4: indented line continues \"period\", which takes a single line (only burst "
         "SQL and body may span lines)"},
        {HEAD "[report bad name]\n",
         "job.ini:4: name \"bad name\" may hold only letters, digits, '-' and '_'"},
        {HEAD "currency =\n" SRC, "job.ini:4: currency: empty value"},
        /* [commission] */
        {HEAD SRC "[commission]\nrate = 2\n",
         "job.ini:8: rate: unknown key (valid keys: target_incentive, method, floor, cap, "
         "tier.N)"},
        {HEAD SRC "[commission]\ntarget_incentive = -5\n",
         "job.ini:8: target_incentive: bad value \"-5\": expected an amount above 0 (the payout "
         "at 100% attainment)"},
        {HEAD SRC "[commission]\nmethod = tiered\n",
         "job.ini:8: method: bad value \"tiered\": expected marginal or cumulative"},
        {HEAD SRC "[commission]\nfloor = half\n",
         "job.ini:8: floor: bad value \"half\": expected an attainment like 50% or 0.5"},
        {HEAD SRC "[commission]\ncap = 0%\n",
         "job.ini:8: cap: bad value \"0%\": expected a share of the target incentive above 0, "
         "like 200% or 2"},
        {HEAD SRC "[commission]\ntier.1 = 0%\n",
         "job.ini:8: tier.1: bad value \"0%\": expected FROM RATE: the attainment where the "
         "tier starts and its rate, like \"100% 1.5\""},
        {HEAD SRC "[commission]\ntier.0 = 0% 1\n", "job.ini:8: tier.0: tier number must be 1 to 16"},
        {HEAD SRC "[commission]\ntier.1 = 0% 1\n",
         "job.ini:7: [commission] is missing the required key \"target_incentive\""},
        {HEAD SRC "[commission]\ntarget_incentive = 100\ntier.1 = 0% 1\ntier.3 = 90% 2\n",
         "job.ini:7: [commission]: tier.2 is missing (tiers are numbered 1, 2, 3... without "
         "gaps)"},
        {HEAD SRC "[commission]\ntarget_incentive = 100\ntier.1 = 10% 1\n",
         "job.ini:7: [commission]: tier 1 must start at 0%"},
        {HEAD SRC "[commission]\ntarget_incentive = 100\ntier.1 = 0% 1\ntier.2 = 0% 2\n",
         "job.ini:7: [commission]: each tier must start above the one before"},
        {HEAD SRC "[commission]\ntarget_incentive = 100\n",
         "job.ini:7: [commission]: no tiers: add tier.1 = 0% RATE"},
        {HEAD SRC "[commission]\ntarget_incentive = 1\ntier.1 = 0% 1\n[commission]\n",
         "job.ini:10: duplicate [commission] section (first at line 7)"},
        /* [forecast] */
        {HEAD SRC "[forecast]\nmonths = 3\n",
         "job.ini:8: months: unknown key (valid keys: horizon, runs, seed, min_sample)"},
        {HEAD SRC "[forecast]\nhorizon = 0\n",
         "job.ini:8: horizon: bad value \"0\": expected a whole number from 1 to 36"},
        {HEAD SRC "[forecast]\nhorizon = 37\n",
         "job.ini:8: horizon: bad value \"37\": expected a whole number from 1 to 36"},
        {HEAD SRC "[forecast]\nruns = 99\n",
         "job.ini:8: runs: bad value \"99\": expected a whole number from 100 to 1000000"},
        {HEAD SRC "[forecast]\nruns = 1e4\n",
         "job.ini:8: runs: bad value \"1e4\": expected a whole number from 100 to 1000000"},
        {HEAD SRC "[forecast]\nseed = -1\n",
         "job.ini:8: seed: bad value \"-1\": expected a whole number of 0 or more"},
        {HEAD SRC "[forecast]\nmin_sample = 0\n",
         "job.ini:8: min_sample: bad value \"0\": expected a whole number from 1 to 1000000000"},
        {HEAD SRC "[forecast]\nseed = 1\n[forecast]\n",
         "job.ini:9: duplicate [forecast] section (first at line 7)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = load(cases[i].text);
        if (strncmp(got, cases[i].want, strlen(cases[i].want)) != 0) {
            print_error("case %zu:\n  want: %s\n  got:  %s\n", i, cases[i].want, got);
            fail();
        }
    }
}

static void test_line_too_long(void **state)
{
    (void)state;
    char *text = malloc(6000);
    assert_non_null(text);
    strcpy(text, "[job]\nname = ");
    memset(text + strlen(text), 'y', 5000);
    strcpy(text + 13 + 5000, "\nperiod = previous_month\n");
    const char *got = load(text);
    free(text);
    assert_string_equal(got, "job.ini:2: line longer than 4096 characters (continue long "
                             "values on indented lines)");
}

static void test_missing_file(void **state)
{
    (void)state;
    kp_job *job = NULL;
    kp_error e = {0};
    assert_int_equal(kp_job_load("/nonexistent/job.ini", &job, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "job file not found");
    assert_string_equal(e.file, "/nonexistent/job.ini");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_job),     cmocka_unit_test(test_long_line_ok),
        cmocka_unit_test(test_bad_jobs),     cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_missing_file), cmocka_unit_test(test_commission),
        cmocka_unit_test(test_forecast_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
