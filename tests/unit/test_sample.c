/* Unit tests for `kpipress sample`: the same options give the same bytes, another seed
 * gives other data, the requested counts are honoured, the files keep the exact shapes the
 * loader and job parser expect, and the command line refuses what it should. Realism is
 * measured independently (Python) in tests/functional/test_sample.sh. */
#include "test.h"

#include "kpipress/limits.h"
#include "kpipress/sample.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const files[] = {"opportunities.csv", "users.csv", "quotas.csv", "job.ini"};

/* ---- helpers -------------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/kp-sample-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

/* rm -r for the flat-or-nested trees these tests create. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, ent->d_name);
            remove_tree(child);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void write_sample(const char *dir, const kp_sample_options *o)
{
    kp_error e;
    kp_error_clear(&e);
    const kp_err rc = kp_sample_write(dir, o, &e);
    if (rc != KP_OK)
        fail_msg("kp_sample_write: %s", e.msg);
}

static void small_options(kp_sample_options *o)
{
    kp_sample_defaults(o);
    o->reps = 12;
    o->months = 6;
    o->opps = 500;
}

static int files_equal(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    char *x = read_file(a, name, &na), *y = read_file(b, name, &nb);
    const int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int count_lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    const size_t len = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

/* Data rows of opportunities.csv: the lines after the header up to the first blank one. */
static long count_data_rows(const char *text)
{
    long n = 0;
    const char *p = strstr(text, "\r\n");
    assert_non_null(p);
    for (p += 2; *p && strncmp(p, "\r\n", 2) != 0; n++) {
        p = strstr(p, "\r\n");
        assert_non_null(p);
        p += 2;
    }
    return n;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    kp_sample_options o;
    kp_sample_defaults(&o);
    assert_int_equal(o.reps, 40);
    assert_int_equal(o.months, 24);
    assert_int_equal(o.seed, 42);
    assert_int_equal(o.as_of, kp_date_from_ymd(2026, 11, 1));
    assert_int_equal(o.end, kp_date_from_ymd(2026, 10, 31));
}

static void test_deterministic(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    char *a = make_tmpdir(), *b = make_tmpdir();
    write_sample(a, &o);
    write_sample(b, &o);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        assert_true(files_equal(a, b, files[i]));
    remove_tree(a);
    remove_tree(b);
    free(a);
    free(b);
}

static void test_seed_changes_data(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    char *a = make_tmpdir(), *b = make_tmpdir();
    write_sample(a, &o);
    o.seed = 43;
    write_sample(b, &o);
    assert_false(files_equal(a, b, "opportunities.csv"));
    assert_false(files_equal(a, b, "users.csv"));
    assert_false(files_equal(a, b, "quotas.csv"));
    remove_tree(a);
    remove_tree(b);
    free(a);
    free(b);
}

/* More deals must not reshuffle the people: the users come from their own stream. */
static void test_opps_leave_people_alone(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    char *a = make_tmpdir(), *b = make_tmpdir();
    write_sample(a, &o);
    o.opps = 900;
    write_sample(b, &o);
    assert_true(files_equal(a, b, "users.csv"));
    assert_false(files_equal(a, b, "opportunities.csv"));
    remove_tree(a);
    remove_tree(b);
    free(a);
    free(b);
}

static void test_counts_honoured(void **state)
{
    (void)state;
    static const struct {
        int reps, months;
        long opps;
    } cases[] = {{12, 6, 500}, {1, 1, 7}, {40, 24, 0}, {23, 13, 1234}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        kp_sample_options o;
        kp_sample_defaults(&o);
        o.reps = cases[c].reps;
        o.months = cases[c].months;
        o.opps = cases[c].opps;
        char *dir = make_tmpdir();
        write_sample(dir, &o);
        const long want =
            cases[c].opps ? cases[c].opps : (long)(cases[c].reps * cases[c].months * 3.5 + 0.5);
        char *opps = read_file(dir, "opportunities.csv", NULL);
        assert_int_equal(count_data_rows(opps), want);
        char totals[64];
        snprintf(totals, sizeof totals, "\r\n\r\n\"Grand Totals (%ld records)\"\r\n", want);
        assert_non_null(strstr(opps, totals));
        char *users = read_file(dir, "users.csv", NULL);
        int reps = 0, managers = 0;
        for (const char *p = users; (p = strstr(p, "\",\"AE - ")) != NULL; p++)
            reps++;
        for (const char *p = users; (p = strstr(p, "\",\"Sales Manager - ")) != NULL; p++)
            managers++;
        assert_int_equal(reps, cases[c].reps);
        assert_int_equal(managers, (cases[c].reps + 6) / 7); /* teams of up to seven */
        int lines = 0; /* every row after the header is a user id */
        for (const char *p = users; (p = strchr(p, '\n')) != NULL; p++)
            lines++;
        assert_int_equal(count_lines_starting(users, "\"005Dn"), lines - 1);
        free(opps);
        free(users);
        remove_tree(dir);
        free(dir);
    }
}

static void test_opportunity_shape(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    char *dir = make_tmpdir();
    write_sample(dir, &o);
    size_t n;
    char *text = read_file(dir, "opportunities.csv", &n);
    const char *header =
        "\"Opportunity ID\",\"Opportunity Name\",\"Account Name\",\"Opportunity Owner\",\"Stage\","
        "\"Amount\",\"Probability (%)\",\"Close Date\",\"Created Date\",\"Forecast Category\","
        "\"Type\",\"Lead Source\",\"Product\"\r\n";
    assert_memory_equal(text, header, strlen(header));
    const char *footer =
        "\r\n\"Grand Totals (500 records)\"\r\n\r\n"
        "\"Confidential Information - Do Not Distribute\"\r\n"
        "\"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\"\r\n";
    assert_true(n > strlen(footer));
    assert_string_equal(text + n - strlen(footer), footer);
    /* every line ends in CRLF; no bare LF anywhere */
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n')
            assert_true(i > 0 && text[i - 1] == '\r');
    assert_non_null(strstr(text, "\"006Dn"));
    free(text);
    remove_tree(dir);
    free(dir);
}

static void test_job_ini(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    o.seed = 7;
    o.as_of = kp_date_from_ymd(2025, 7, 1);
    char *dir = make_tmpdir();
    write_sample(dir, &o);
    char *job = read_file(dir, "job.ini", NULL);
    const char *want =
        "; generated by kpipress sample (seed 7, 12 reps, 6 months)\n"
        "[job]\n"
        "name = Sample Co monthly board pack\n"
        "database = var/sales.db\n"
        "as_of = 2025-07-01            ; the day after the last month covered\n"
        "period = previous_month\n"
        "fiscal_year_start = 2\n"
        "currency = USD\n"
        "output_dir = out/{period}\n"
        "max_reject_pct = 1\n"
        "\n"
        "[source opportunities]\n"
        "file = opportunities.csv\n"
        "preset = salesforce\n"
        "\n"
        "[source reps]\n"
        "file = users.csv\n"
        "preset = salesforce\n"
        "\n"
        "[source quotas]\n"
        "file = quotas.csv\n"
        "preset = salesforce\n"
        "\n"
        "[commission]\n"
        "target_incentive = 5000\n"
        "method = marginal\n"
        "floor = 50%\n"
        "cap = 250%\n"
        "tier.1 = 0% 0.5\n"
        "tier.2 = 50% 1.0\n"
        "tier.3 = 100% 1.5\n"
        "tier.4 = 150% 2.0\n"
        "\n"
        "[report board-pack]\n"
        "template = board-pack.ini\n"
        "output = board-pack-{period}.xlsx\n"
        "\n"
        "[report board-pack-pdf]\n"
        "template = board-pack-pdf.ini\n"
        "output = board-pack-{period}.pdf\n"
        "\n"
        "[report quota-attainment]\n"
        "template = quota-attainment.ini\n"
        "output = quota-attainment-{period}.xlsx\n"
        "\n"
        "[report raw-data]\n"
        "template = raw-data.ini\n"
        "output = raw-data-{period}.xlsx\n"
        "\n"
        "[report team-scorecards]\n"
        "template = team-scorecard.ini\n"
        "burst = SELECT rep_id AS manager_id, name, email FROM reps\n"
        "  WHERE rep_id IN (SELECT manager_id FROM reps) ORDER BY rep_id\n"
        "output = teams/{manager_id}.pdf\n"
        "\n"
        "[report scorecards]\n"
        "template = rep-scorecard.ini\n"
        "burst = SELECT rep_id, name, email FROM reps WHERE active = 1 AND rep_id IN\n"
        "  (SELECT rep_id FROM quotas WHERE period_start BETWEEN :period_start AND :period_end)\n"
        "  ORDER BY rep_id\n"
        "output = scorecards/{rep_id}.pdf\n"
        "email = {email}\n"
        "email_name = {name}\n"
        "from = sales-ops@example.com\n"
        "from_name = Sales Operations\n"
        "subject = Your scorecard for {period_label}\n"
        "body = Hello {name},\n"
        "  your sales scorecard for {period_label} is attached.\n"
        "  Figures as of {as_of}. Questions: sales-ops@example.com\n";
    assert_string_equal(job, want);
    /* the last history month is June 2025: no deal was created on or after the as-of date */
    char *opps = read_file(dir, "opportunities.csv", NULL);
    assert_null(strstr(opps, "\",\"7/1/2025\",\""));
    assert_non_null(strstr(opps, "/2025\",\"6/"));
    free(opps);
    free(job);
    remove_tree(dir);
    free(dir);
}

/* The deprecated `end` field still works when as_of is left 0. */
static void test_end_field(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    o.as_of = 0;
    o.end = kp_date_from_ymd(2024, 3, 31);
    char *dir = make_tmpdir();
    write_sample(dir, &o);
    char *job = read_file(dir, "job.ini", NULL);
    assert_non_null(strstr(job, "as_of = 2024-04-01 "));
    free(job);
    remove_tree(dir);
    free(dir);
}

static void test_creates_nested_dir(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    o.opps = 20;
    char *root = make_tmpdir();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/a/b/c", root);
    write_sample(dir, &o);
    struct stat st;
    char path[4200];
    snprintf(path, sizeof path, "%s/quotas.csv", dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/quotas.csv.tmp", dir);
    assert_int_not_equal(stat(path, &st), 0); /* temporaries renamed away */
    remove_tree(root);
    free(root);
}

static void test_write_errors(void **state)
{
    (void)state;
    kp_sample_options o;
    small_options(&o);
    kp_error e;
    kp_error_clear(&e);
    char *root = make_tmpdir();
    char file[4096];
    snprintf(file, sizeof file, "%s/plain", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(kp_sample_write(file, &o, &e), KP_ERR_IO); /* a file, not a directory */
    snprintf(file, sizeof file, "%s/plain/sub", root);
    assert_int_equal(kp_sample_write(file, &o, &e), KP_ERR_IO);
    o.reps = 0;
    assert_int_equal(kp_sample_write(root, &o, &e), KP_ERR_USAGE);
    small_options(&o);
    o.months = KP_SAMPLE_MAX_MONTHS + 1;
    assert_int_equal(kp_sample_write(root, &o, &e), KP_ERR_USAGE);
    remove_tree(root);
    free(root);
}

static kp_err run_main(kp_error *e, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    kp_error_clear(e);
    return kp_sample_main(argc, argv, e);
}

static void test_main_parses(void **state)
{
    (void)state;
    kp_error e;
    char *dir = make_tmpdir();
    assert_int_equal(run_main(&e, 10, "sample", dir, "--reps", "5", "--opps=33", "--months", "4",
                              "--seed", "9", "--as-of=2023-05-15"),
                     KP_OK);
    char *opps = read_file(dir, "opportunities.csv", NULL);
    assert_int_equal(count_data_rows(opps), 33);
    char *job = read_file(dir, "job.ini", NULL);
    assert_non_null(strstr(job, "(seed 9, 5 reps, 4 months)"));
    assert_non_null(strstr(job, "as_of = 2023-05-15 "));
    free(opps);
    free(job);

    assert_int_equal(run_main(&e, 2, "sample", "--help"), KP_OK);
    assert_int_equal(run_main(&e, 1, "sample"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 3, "sample", dir, "--frobnicate"), KP_ERR_USAGE);
    assert_non_null(strstr(e.msg, "--frobnicate"));
    assert_int_equal(run_main(&e, 4, "sample", dir, "--reps", "0"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 4, "sample", dir, "--reps", "-3"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 4, "sample", dir, "--opps", "12x"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 3, "sample", dir, "--months"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 4, "sample", dir, "--as-of", "2024-02-30"), KP_ERR_USAGE);
    assert_int_equal(run_main(&e, 3, "sample", dir, "other"), KP_ERR_USAGE);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_seed_changes_data),
        cmocka_unit_test(test_opps_leave_people_alone),
        cmocka_unit_test(test_counts_honoured),
        cmocka_unit_test(test_opportunity_shape),
        cmocka_unit_test(test_job_ini),
        cmocka_unit_test(test_end_field),
        cmocka_unit_test(test_creates_nested_dir),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_main_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
