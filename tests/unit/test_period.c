/* Period resolution: one line per case, every expected date worked out by hand from the
 * calendar. as_of is the run date; previous_* periods end before the period containing
 * it; *_to_date periods end on it; comparisons keep the same span. */
#include "test.h"

#include "kpipress/job.h"

#include <string.h>

static kp_date iso(const char *s)
{
    kp_date d = 0;
    if (kp_date_parse_iso(s, strlen(s), &d) != 0)
        fail_msg("bad date in test table: %s", s);
    return d;
}

static void expect_date(kp_date got, const char *want, const char *what, int line)
{
    char buf[KP_DATE_ISO_LEN + 1];
    if (got != iso(want))
        fail_msg("case at line %d: %s = %s, want %s", line, what, kp_date_format_iso(got, buf),
                 want);
}

typedef struct {
    int line;
    const char *period, *as_of;
    int fy;
    const char *start, *end, *prev_start, *prev_end, *yoy_start, *yoy_end, *label, *slug;
} pcase;

#define L __LINE__
// clang-format off
static const pcase cases[] = {
/* line period                   as_of    fy start        end           prev_start    prev_end      yoy_start     yoy_end       label                        slug */
{L, "current_month",            "2026-11-01", 1, "2026-11-01", "2026-11-30", "2026-10-01", "2026-10-31", "2025-11-01", "2025-11-30", "November 2026", "2026-11"},
{L, "current_month",            "2026-12-31", 1, "2026-12-01", "2026-12-31", "2026-11-01", "2026-11-30", "2025-12-01", "2025-12-31", "December 2026", "2026-12"},
{L, "current_month",            "2024-02-29", 1, "2024-02-01", "2024-02-29", "2024-01-01", "2024-01-31", "2023-02-01", "2023-02-28", "February 2024", "2024-02"},
{L, "previous_month",           "2026-11-01", 1, "2026-10-01", "2026-10-31", "2026-09-01", "2026-09-30", "2025-10-01", "2025-10-31", "October 2026", "2026-10"},
{L, "previous_month",           "2026-11-30", 1, "2026-10-01", "2026-10-31", "2026-09-01", "2026-09-30", "2025-10-01", "2025-10-31", "October 2026", "2026-10"},
{L, "previous_month",           "2026-01-15", 1, "2025-12-01", "2025-12-31", "2025-11-01", "2025-11-30", "2024-12-01", "2024-12-31", "December 2025", "2025-12"},
{L, "previous_month",           "2024-03-31", 1, "2024-02-01", "2024-02-29", "2024-01-01", "2024-01-31", "2023-02-01", "2023-02-28", "February 2024", "2024-02"},
{L, "previous_month",           "2100-03-01", 1, "2100-02-01", "2100-02-28", "2100-01-01", "2100-01-31", "2099-02-01", "2099-02-28", "February 2100", "2100-02"},
{L, "current_quarter",          "2026-11-15", 1, "2026-10-01", "2026-12-31", "2026-07-01", "2026-09-30", "2025-10-01", "2025-12-31", "Q4 2026", "2026-Q4"},
{L, "current_quarter",          "2026-03-31", 1, "2026-01-01", "2026-03-31", "2025-10-01", "2025-12-31", "2025-01-01", "2025-03-31", "Q1 2026", "2026-Q1"},
{L, "current_quarter",          "2026-07-01", 1, "2026-07-01", "2026-09-30", "2026-04-01", "2026-06-30", "2025-07-01", "2025-09-30", "Q3 2026", "2026-Q3"},
{L, "previous_quarter",         "2026-01-01", 1, "2025-10-01", "2025-12-31", "2025-07-01", "2025-09-30", "2024-10-01", "2024-12-31", "Q4 2025", "2025-Q4"},
{L, "previous_quarter",         "2026-08-20", 1, "2026-04-01", "2026-06-30", "2026-01-01", "2026-03-31", "2025-04-01", "2025-06-30", "Q2 2026", "2026-Q2"},
{L, "previous_quarter",         "2024-05-15", 1, "2024-01-01", "2024-03-31", "2023-10-01", "2023-12-31", "2023-01-01", "2023-03-31", "Q1 2024", "2024-Q1"},
{L, "quarter_to_date",          "2026-11-15", 1, "2026-10-01", "2026-11-15", "2026-07-01", "2026-08-15", "2025-10-01", "2025-11-15", "Q4 2026 QTD", "2026-Q4-QTD"},
{L, "quarter_to_date",          "2026-05-31", 1, "2026-04-01", "2026-05-31", "2026-01-01", "2026-02-28", "2025-04-01", "2025-05-31", "Q2 2026 QTD", "2026-Q2-QTD"},
{L, "quarter_to_date",          "2024-05-31", 1, "2024-04-01", "2024-05-31", "2024-01-01", "2024-02-29", "2023-04-01", "2023-05-31", "Q2 2024 QTD", "2024-Q2-QTD"},
{L, "quarter_to_date",          "2026-01-01", 1, "2026-01-01", "2026-01-01", "2025-10-01", "2025-10-01", "2025-01-01", "2025-01-01", "Q1 2026 QTD", "2026-Q1-QTD"},
{L, "month_to_date",            "2024-03-31", 1, "2024-03-01", "2024-03-31", "2024-02-01", "2024-02-29", "2023-03-01", "2023-03-31", "March 2024 MTD", "2024-03-MTD"},
{L, "month_to_date",            "2026-11-01", 1, "2026-11-01", "2026-11-01", "2026-10-01", "2026-10-01", "2025-11-01", "2025-11-01", "November 2026 MTD", "2026-11-MTD"},
{L, "month_to_date",            "2026-01-20", 1, "2026-01-01", "2026-01-20", "2025-12-01", "2025-12-20", "2025-01-01", "2025-01-20", "January 2026 MTD", "2026-01-MTD"},
{L, "year_to_date",             "2024-02-29", 1, "2024-01-01", "2024-02-29", "2023-01-01", "2023-02-28", "2023-01-01", "2023-02-28", "2024 YTD", "2024-YTD"},
{L, "year_to_date",             "2000-02-29", 1, "2000-01-01", "2000-02-29", "1999-01-01", "1999-02-28", "1999-01-01", "1999-02-28", "2000 YTD", "2000-YTD"},
{L, "year_to_date",             "2026-12-31", 1, "2026-01-01", "2026-12-31", "2025-01-01", "2025-12-31", "2025-01-01", "2025-12-31", "2026 YTD", "2026-YTD"},
{L, "year_to_date",             "2026-01-01", 2, "2026-01-01", "2026-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2026 YTD", "2026-YTD"},
{L, "current_fiscal_year",      "2026-11-01", 2, "2026-02-01", "2027-01-31", "2025-02-01", "2026-01-31", "2025-02-01", "2026-01-31", "FY2027", "FY2027"},
{L, "current_fiscal_year",      "2026-01-31", 2, "2025-02-01", "2026-01-31", "2024-02-01", "2025-01-31", "2024-02-01", "2025-01-31", "FY2026", "FY2026"},
{L, "current_fiscal_year",      "2026-02-01", 2, "2026-02-01", "2027-01-31", "2025-02-01", "2026-01-31", "2025-02-01", "2026-01-31", "FY2027", "FY2027"},
{L, "current_fiscal_year",      "2026-06-30", 1, "2026-01-01", "2026-12-31", "2025-01-01", "2025-12-31", "2025-01-01", "2025-12-31", "FY2026", "FY2026"},
{L, "current_fiscal_year",      "2024-03-01", 3, "2024-03-01", "2025-02-28", "2023-03-01", "2024-02-29", "2023-03-01", "2024-02-29", "FY2025", "FY2025"},
{L, "previous_fiscal_year",     "2026-11-01", 2, "2025-02-01", "2026-01-31", "2024-02-01", "2025-01-31", "2024-02-01", "2025-01-31", "FY2026", "FY2026"},
{L, "previous_fiscal_year",     "2026-06-30", 7, "2024-07-01", "2025-06-30", "2023-07-01", "2024-06-30", "2023-07-01", "2024-06-30", "FY2025", "FY2025"},
{L, "previous_fiscal_year",     "2026-01-01", 1, "2025-01-01", "2025-12-31", "2024-01-01", "2024-12-31", "2024-01-01", "2024-12-31", "FY2025", "FY2025"},
{L, "fiscal_year_to_date",      "2026-11-15", 2, "2026-02-01", "2026-11-15", "2025-02-01", "2025-11-15", "2025-02-01", "2025-11-15", "FY2027 YTD", "FY2027-YTD"},
{L, "fiscal_year_to_date",      "2026-01-10", 2, "2025-02-01", "2026-01-10", "2024-02-01", "2025-01-10", "2024-02-01", "2025-01-10", "FY2026 YTD", "FY2026-YTD"},
{L, "fiscal_year_to_date",      "2024-02-29", 10, "2023-10-01", "2024-02-29", "2022-10-01", "2023-02-28", "2022-10-01", "2023-02-28", "FY2024 YTD", "FY2024-YTD"},
{L, "current_fiscal_quarter",   "2026-02-01", 2, "2026-02-01", "2026-04-30", "2025-11-01", "2026-01-31", "2025-02-01", "2025-04-30", "FQ1 FY2027", "FY2027-Q1"},
{L, "current_fiscal_quarter",   "2027-01-31", 2, "2026-11-01", "2027-01-31", "2026-08-01", "2026-10-31", "2025-11-01", "2026-01-31", "FQ4 FY2027", "FY2027-Q4"},
{L, "current_fiscal_quarter",   "2026-11-01", 1, "2026-10-01", "2026-12-31", "2026-07-01", "2026-09-30", "2025-10-01", "2025-12-31", "FQ4 FY2026", "FY2026-Q4"},
{L, "previous_fiscal_quarter",  "2026-03-10", 2, "2025-11-01", "2026-01-31", "2025-08-01", "2025-10-31", "2024-11-01", "2025-01-31", "FQ4 FY2026", "FY2026-Q4"},
{L, "previous_fiscal_quarter",  "2026-11-01", 2, "2026-08-01", "2026-10-31", "2026-05-01", "2026-07-31", "2025-08-01", "2025-10-31", "FQ3 FY2027", "FY2027-Q3"},
{L, "previous_fiscal_quarter",  "2026-01-05", 1, "2025-10-01", "2025-12-31", "2025-07-01", "2025-09-30", "2024-10-01", "2024-12-31", "FQ4 FY2025", "FY2025-Q4"},
{L, "trailing_12_months",       "2026-11-01", 1, "2025-11-01", "2026-10-31", "2024-11-01", "2025-10-31", "2024-11-01", "2025-10-31", "12 months to October 2026", "TTM-2026-10"},
{L, "trailing_12_months",       "2026-01-15", 2, "2025-01-01", "2025-12-31", "2024-01-01", "2024-12-31", "2024-01-01", "2024-12-31", "12 months to December 2025", "TTM-2025-12"},
{L, "trailing_12_months",       "2024-03-31", 1, "2023-03-01", "2024-02-29", "2022-03-01", "2023-02-28", "2022-03-01", "2023-02-28", "12 months to February 2024", "TTM-2024-02"},
{L, "2026-01-01..2026-03-31",   "2026-11-01", 1, "2026-01-01", "2026-03-31", "2025-10-01", "2025-12-31", "2025-01-01", "2025-03-31", "2026-01-01 to 2026-03-31", "2026-01-01_2026-03-31"},
{L, "2026-03-10..2026-03-19",   "2026-11-01", 1, "2026-03-10", "2026-03-19", "2026-02-28", "2026-03-09", "2025-03-10", "2025-03-19", "2026-03-10 to 2026-03-19", "2026-03-10_2026-03-19"},
{L, "2024-02-29..2024-02-29",   "2026-11-01", 1, "2024-02-29", "2024-02-29", "2024-02-28", "2024-02-28", "2023-02-28", "2023-02-28", "2024-02-29 to 2024-02-29", "2024-02-29_2024-02-29"},
{L, "2024-02-01..2024-02-29",   "2026-11-01", 1, "2024-02-01", "2024-02-29", "2024-01-01", "2024-01-31", "2023-02-01", "2023-02-28", "2024-02-01 to 2024-02-29", "2024-02-01_2024-02-29"},
};

/* The fiscal year and quarter containing 2026-06-15, for a fiscal year starting in each
 * month: {fy_start, year start, year end, year label, quarter start, quarter end, label}. */
static const struct {
    int line, fy;
    const char *ys, *ye, *ylabel, *qs, *qe, *qlabel;
} fiscal_sweep[] = {
{L,  1, "2026-01-01", "2026-12-31", "FY2026", "2026-04-01", "2026-06-30", "FQ2 FY2026"},
{L,  2, "2026-02-01", "2027-01-31", "FY2027", "2026-05-01", "2026-07-31", "FQ2 FY2027"},
{L,  3, "2026-03-01", "2027-02-28", "FY2027", "2026-06-01", "2026-08-31", "FQ2 FY2027"},
{L,  4, "2026-04-01", "2027-03-31", "FY2027", "2026-04-01", "2026-06-30", "FQ1 FY2027"},
{L,  5, "2026-05-01", "2027-04-30", "FY2027", "2026-05-01", "2026-07-31", "FQ1 FY2027"},
{L,  6, "2026-06-01", "2027-05-31", "FY2027", "2026-06-01", "2026-08-31", "FQ1 FY2027"},
{L,  7, "2025-07-01", "2026-06-30", "FY2026", "2026-04-01", "2026-06-30", "FQ4 FY2026"},
{L,  8, "2025-08-01", "2026-07-31", "FY2026", "2026-05-01", "2026-07-31", "FQ4 FY2026"},
{L,  9, "2025-09-01", "2026-08-31", "FY2026", "2026-06-01", "2026-08-31", "FQ4 FY2026"},
{L, 10, "2025-10-01", "2026-09-30", "FY2026", "2026-04-01", "2026-06-30", "FQ3 FY2026"},
{L, 11, "2025-11-01", "2026-10-31", "FY2026", "2026-05-01", "2026-07-31", "FQ3 FY2026"},
{L, 12, "2025-12-01", "2026-11-30", "FY2026", "2026-06-01", "2026-08-31", "FQ3 FY2026"},
};
// clang-format on
#undef L

static void resolve(const char *text, const char *as_of, int fy, kp_period *p)
{
    kp_period_kind kind;
    kp_date cs = 0, ce = 0;
    if (kp_period_parse(text, &kind, &cs, &ce) != 0)
        fail_msg("period \"%s\" not parsed", text);
    kp_period_resolve(kind, iso(as_of), fy, cs, ce, p);
}

static void test_periods(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pcase *c = &cases[i];
        kp_period p;
        resolve(c->period, c->as_of, c->fy, &p);
        expect_date(p.start, c->start, "start", c->line);
        expect_date(p.end, c->end, "end", c->line);
        expect_date(p.prev_start, c->prev_start, "prev_start", c->line);
        expect_date(p.prev_end, c->prev_end, "prev_end", c->line);
        expect_date(p.yoy_start, c->yoy_start, "yoy_start", c->line);
        expect_date(p.yoy_end, c->yoy_end, "yoy_end", c->line);
        if (strcmp(p.label, c->label) != 0 || strcmp(p.slug, c->slug) != 0)
            fail_msg("case at line %d: label/slug \"%s\"/\"%s\", want \"%s\"/\"%s\"", c->line,
                     p.label, p.slug, c->label, c->slug);
    }
}

static void test_fiscal_start_every_month(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fiscal_sweep / sizeof fiscal_sweep[0]; i++) {
        kp_period y, q;
        int line = fiscal_sweep[i].line;
        resolve("current_fiscal_year", "2026-06-15", fiscal_sweep[i].fy, &y);
        resolve("current_fiscal_quarter", "2026-06-15", fiscal_sweep[i].fy, &q);
        expect_date(y.start, fiscal_sweep[i].ys, "year start", line);
        expect_date(y.end, fiscal_sweep[i].ye, "year end", line);
        assert_string_equal(y.label, fiscal_sweep[i].ylabel);
        expect_date(q.start, fiscal_sweep[i].qs, "quarter start", line);
        expect_date(q.end, fiscal_sweep[i].qe, "quarter end", line);
        assert_string_equal(q.label, fiscal_sweep[i].qlabel);
    }
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        kp_period_kind kind;
    } pc[] = {
        {"current_month", 0, KP_PERIOD_CURRENT_MONTH},
        {"previous_month", 0, KP_PERIOD_PREVIOUS_MONTH},
        {"current_quarter", 0, KP_PERIOD_CURRENT_QUARTER},
        {"previous_quarter", 0, KP_PERIOD_PREVIOUS_QUARTER},
        {"quarter_to_date", 0, KP_PERIOD_QUARTER_TO_DATE},
        {"month_to_date", 0, KP_PERIOD_MONTH_TO_DATE},
        {"year_to_date", 0, KP_PERIOD_YEAR_TO_DATE},
        {"current_fiscal_year", 0, KP_PERIOD_CURRENT_FISCAL_YEAR},
        {"previous_fiscal_year", 0, KP_PERIOD_PREVIOUS_FISCAL_YEAR},
        {"fiscal_year_to_date", 0, KP_PERIOD_FISCAL_YEAR_TO_DATE},
        {"current_fiscal_quarter", 0, KP_PERIOD_CURRENT_FISCAL_QUARTER},
        {"previous_fiscal_quarter", 0, KP_PERIOD_PREVIOUS_FISCAL_QUARTER},
        {"trailing_12_months", 0, KP_PERIOD_TRAILING_12_MONTHS},
        {"2026-01-01..2026-03-31", 0, KP_PERIOD_CUSTOM},
        {"2026-03-31..2026-03-31", 0, KP_PERIOD_CUSTOM},
        {"2026-03-31..2026-01-01", -1, 0}, /* start after end */
        {"2026-01-01..2026-02-30", -1, 0}, /* not a date */
        {"2026-01-01...2026-02-01", -1, 0},
        {"2026-01-01..2026-2-01", -1, 0},
        {"2026-01-01 .. 2026-02-01", -1, 0},
        {"2026-01-01", -1, 0},
        {"Previous_Month", -1, 0},
        {"previous_month ", -1, 0},
        {"ytd", -1, 0},
        {"", -1, 0},
    };
    for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
        kp_period_kind kind = (kp_period_kind)99;
        kp_date s = 0, e = 0;
        int rc = kp_period_parse(pc[i].text, &kind, &s, &e);
        if (rc != pc[i].rc)
            fail_msg("parse \"%s\": rc %d, want %d", pc[i].text, rc, pc[i].rc);
        if (rc == 0)
            assert_int_equal(kind, pc[i].kind);
    }
    kp_date s = 0, e = 0;
    kp_period_kind kind;
    assert_int_equal(kp_period_parse("2026-01-01..2026-03-31", &kind, &s, &e), 0);
    assert_int_equal(s, iso("2026-01-01"));
    assert_int_equal(e, iso("2026-03-31"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_fiscal_start_every_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
