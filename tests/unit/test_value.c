/* Value parsers, one line of input and one expected result per case: every date, money,
 * percent and bool format the presets meet, and the near misses that must be refused. */
#include "test.h"

#include "kpipress/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expected date as "YYYY-MM-DD", or NULL when the text must be refused. */
static void date_is(const char *in, kp_date_order order, int tz, const char *want)
{
    kp_date d = 0;
    char buf[16], name[16];
    kp_tz *zone = NULL;
    kp_error e = {0};
    /* tz minutes east as a fixed zone "+02:00" */
    snprintf(name, sizeof name, "%c%02d:%02d", tz < 0 ? '-' : '+', abs(tz) / 60, abs(tz) % 60);
    assert_int_equal(kp_tz_load(name, NULL, &zone, &e), KP_OK);
    int rc = kp_value_parse_date(in, strlen(in), order, zone, &d);
    kp_tz_free(zone);
    if (!want) {
        if (rc != -1) {
            print_error("'%s' parsed as %s, want refusal\n", in, kp_date_format_iso(d, buf));
            fail();
        }
        return;
    }
    if (rc != 0) {
        print_error("'%s' refused, want %s\n", in, want);
        fail();
    }
    assert_string_equal(kp_date_format_iso(d, buf), want);
}

static void test_dates(void **state)
{
    (void)state;
    date_is("2024-01-22", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("  2024-01-22 ", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("2024/01/22", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("1/22/2024", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("01/22/2024", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("12/31/2023", KP_DATES_AUTO, 0, "2023-12-31");
    date_is("22/1/2024", KP_DATES_DMY, 0, "2024-01-22");
    date_is("1/2/2024", KP_DATES_DMY, 0, "2024-02-01");
    date_is("1/2/2024", KP_DATES_AUTO, 0, "2024-01-02");
    /* dots: day first whatever the order (German/European Excel exports) */
    date_is("05.10.2026", KP_DATES_DMY, 0, "2026-10-05");
    date_is("5.10.2026", KP_DATES_AUTO, 0, "2026-10-05");
    date_is("31.10.2026 23:30", KP_DATES_DMY, 0, "2026-10-31");
    date_is("2023-04-04 11:48", KP_DATES_AUTO, 0, "2023-04-04");
    date_is("2023-04-04 23:48", KP_DATES_AUTO, 120, "2023-04-04"); /* no zone: local */
    date_is("2024-01-22T16:14:25.000+0000", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("2024-01-22T23:14:25.000+0000", KP_DATES_AUTO, 120, "2024-01-23");
    date_is("2024-01-22T00:30:00Z", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("2024-01-22T00:30:00Z", KP_DATES_AUTO, -60, "2024-01-21");
    date_is("2024-01-31T23:30:00-05:00", KP_DATES_AUTO, 0, "2024-02-01");
    date_is("2024-01-01T02:00:00+05:30", KP_DATES_AUTO, 0, "2023-12-31");
    date_is("2024-01-01T02:00:00+05:30", KP_DATES_AUTO, 330, "2024-01-01");
    date_is("2024-02-29", KP_DATES_AUTO, 0, "2024-02-29");
    date_is("2000-02-29", KP_DATES_AUTO, 0, "2000-02-29");
    date_is("1/22/2024 4:14 PM", KP_DATES_AUTO, 0, "2024-01-22");
    date_is("2024-01-22 16:14:25", KP_DATES_AUTO, 0, "2024-01-22");
    /* refused */
    date_is("2024-02-30", KP_DATES_AUTO, 0, NULL);
    date_is("2023-02-29", KP_DATES_AUTO, 0, NULL);
    date_is("1900-02-29", KP_DATES_AUTO, 0, NULL);
    date_is("13/1/2024", KP_DATES_AUTO, 0, NULL);
    date_is("1/13/2024", KP_DATES_DMY, 0, NULL);
    date_is("10.31.2026", KP_DATES_AUTO, 0, NULL); /* no month 31 */
    date_is("5.10/2026", KP_DATES_DMY, 0, NULL);   /* mixed separators */
    date_is("5/10.2026", KP_DATES_DMY, 0, NULL);
    date_is("2024-13-01", KP_DATES_AUTO, 0, NULL);
    date_is("2024-1-22", KP_DATES_AUTO, 0, NULL);
    date_is("1/22/24", KP_DATES_AUTO, 0, NULL);
    date_is("20240122", KP_DATES_AUTO, 0, NULL);
    date_is("", KP_DATES_AUTO, 0, NULL);
    date_is("   ", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-22x", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-222", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-22T25:00:00Z", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-22T10:61", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-22T10:00:00+0", KP_DATES_AUTO, 0, NULL);
    date_is("2024-01-22 13:00 PM", KP_DATES_AUTO, 0, NULL);
    date_is("Jan 22, 2024", KP_DATES_AUTO, 0, NULL);
    date_is("0000-01-01", KP_DATES_AUTO, 0, NULL);
}

/* Expected cents and currency, or refusal when ok == 0. */
static void money_is(const char *in, int dc, int ok, int64_t want, const char *cur)
{
    int64_t c = -777;
    char code[4] = "?";
    int rc = kp_value_parse_money(in, strlen(in), dc, &c, code);
    if (!ok) {
        if (rc != -1) {
            print_error("'%s' parsed as %lld, want refusal\n", in, (long long)c);
            fail();
        }
        return;
    }
    if (rc != 0) {
        print_error("'%s' refused, want %lld\n", in, (long long)want);
        fail();
    }
    assert_int_equal(c, want);
    assert_string_equal(code, cur);
}

static void test_money(void **state)
{
    (void)state;
    money_is("1234.5", 0, 1, 123450, "");
    money_is("1234.56", 0, 1, 123456, "");
    money_is("1234", 0, 1, 123400, "");
    money_is("0", 0, 1, 0, "");
    money_is(".5", 0, 1, 50, "");
    money_is("1124741.15", 0, 1, 112474115, "");
    money_is("$1,234.56", 0, 1, 123456, "USD");
    money_is("$1,234,567.89", 0, 1, 123456789, "USD");
    money_is("  $1,234.50  ", 0, 1, 123450, "USD");
    money_is("(1,200.00)", 0, 1, -120000, "");
    money_is("($1,200)", 0, 1, -120000, "USD");
    money_is("-1200", 0, 1, -120000, "");
    money_is("-$1,200", 0, 1, -120000, "USD");
    money_is("$-1,200", 0, 1, -120000, "USD");
    money_is("USD 1,200", 0, 1, 120000, "USD");
    money_is("USD1200", 0, 1, 120000, "USD");
    money_is("1,200 EUR", 0, 1, 120000, "EUR");
    money_is("\xE2\x82\xAC" "1.234,50", 1, 1, 123450, "EUR");
    money_is("1.234,50 \xE2\x82\xAC", 1, 1, 123450, "EUR");
    money_is("1 234,50", 1, 1, 123450, "");
    money_is("\xC2\xA3" "99.99", 0, 1, 9999, "GBP");
    money_is("1.005", 0, 1, 101, "");   /* half away from zero */
    money_is("1.004", 0, 1, 100, "");
    money_is("-1.005", 0, 1, -101, "");
    money_is("0.995", 0, 1, 100, "");
    money_is("92233720368547.75", 0, 1, INT64_C(9223372036854775), "");
    /* refused */
    money_is("$1,2,3", 0, 0, 0, "");
    money_is("1.2.3", 0, 0, 0, "");
    money_is("1,23", 0, 0, 0, "");
    money_is("1234,567.00", 0, 0, 0, "");
    money_is(",123", 0, 0, 0, "");
    money_is("", 0, 0, 0, "");
    money_is("$", 0, 0, 0, "");
    money_is(".", 0, 0, 0, "");
    money_is("abc", 0, 0, 0, "");
    money_is("12abc", 0, 0, 0, "");
    money_is("1e6", 0, 0, 0, "");
    money_is("--5", 0, 0, 0, "");
    money_is("(-5)", 0, 0, 0, "");
    money_is("99999999999999999999", 0, 0, 0, "");
    money_is("922337203685477580.00", 0, 0, 0, "");
    money_is("1.234,50", 0, 0, 0, "");
    money_is("N/A", 0, 0, 0, "");
}

static void pct_is(const char *in, kp_pct_style st, int ok, double want)
{
    double v = -99;
    int rc = kp_value_parse_percent(in, strlen(in), st, &v);
    if (!ok) {
        if (rc != -1) {
            print_error("'%s' parsed as %g, want refusal\n", in, v);
            fail();
        }
        return;
    }
    if (rc != 0) {
        print_error("'%s' refused, want %g\n", in, want);
        fail();
    }
    if (fabs(v - want) > 1e-12) {
        print_error("'%s' = %.15g, want %.15g\n", in, v, want);
        fail();
    }
}

static void test_percent(void **state)
{
    (void)state;
    pct_is("10", KP_PCT_AUTO, 1, 0.10);
    pct_is("10%", KP_PCT_AUTO, 1, 0.10);
    pct_is("10 %", KP_PCT_AUTO, 1, 0.10);
    pct_is("100", KP_PCT_AUTO, 1, 1.0);
    pct_is("0", KP_PCT_AUTO, 1, 0.0);
    pct_is("12.5", KP_PCT_AUTO, 1, 0.125);
    pct_is("0.1", KP_PCT_FRACTION, 1, 0.1);
    pct_is("10%", KP_PCT_FRACTION, 1, 0.1);
    pct_is("1", KP_PCT_FRACTION, 1, 1.0);
    pct_is("150", KP_PCT_AUTO, 1, 1.5); /* range is the loader's business */
    pct_is("-5", KP_PCT_AUTO, 1, -0.05);
    pct_is("", KP_PCT_AUTO, 0, 0);
    pct_is("%", KP_PCT_AUTO, 0, 0);
    pct_is("ten", KP_PCT_AUTO, 0, 0);
    pct_is("1.2.3", KP_PCT_AUTO, 0, 0);
    pct_is("10%%", KP_PCT_AUTO, 0, 0);
    pct_is("1e2", KP_PCT_AUTO, 0, 0);
}

static void bool_is(const char *in, int ok, int want)
{
    int v = -1;
    int rc = kp_value_parse_bool(in, strlen(in), &v);
    if (!ok) {
        if (rc != -1) {
            print_error("'%s' parsed as %d, want refusal\n", in, v);
            fail();
        }
        return;
    }
    if (rc != 0) {
        print_error("'%s' refused\n", in);
        fail();
    }
    assert_int_equal(v, want);
}

static void test_bool(void **state)
{
    (void)state;
    bool_is("1", 1, 1);
    bool_is("true", 1, 1);
    bool_is("TRUE", 1, 1);
    bool_is("Yes", 1, 1);
    bool_is("y", 1, 1);
    bool_is("T", 1, 1);
    bool_is(" 1 ", 1, 1);
    bool_is("0", 1, 0);
    bool_is("false", 1, 0);
    bool_is("No", 1, 0);
    bool_is("n", 1, 0);
    bool_is("f", 1, 0);
    bool_is("", 1, 0);
    bool_is("2", 0, 0);
    bool_is("maybe", 0, 0);
    bool_is("yess", 0, 0);
}

static void test_trim(void **state)
{
    (void)state;
    size_t n = 7;
    const char *s = kp_value_trim(" \tab c ", &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "ab c", 4);
    n = 3;
    kp_value_trim("   ", &n);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),   cmocka_unit_test(test_money),
        cmocka_unit_test(test_percent), cmocka_unit_test(test_bool),
        cmocka_unit_test(test_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
