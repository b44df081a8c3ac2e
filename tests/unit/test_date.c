/* Calendar arithmetic: leap rules, validation, ISO parsing, weekday, month stepping, and
 * an exhaustive day-by-day walk over years 1..9999. Expected values are worked out by hand
 * (1970-01-01 = day 0, a Thursday; 2024-01-01 = day 19723). */
#include "test.h"

#include "kpipress/date.h"

#include <string.h>

static kp_date iso(const char *s)
{
    kp_date d = 0;
    assert_int_equal(kp_date_parse_iso(s, strlen(s), &d), 0);
    return d;
}

static void test_leap(void **state)
{
    (void)state;
    static const struct {
        int y, leap;
    } cases[] = {
        {2024, 1}, {2023, 0}, {2100, 0}, {2000, 1}, {1900, 0},
        {2400, 1}, {4, 1},    {1, 0},    {9996, 1}, {9999, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(kp_date_is_leap(cases[i].y), cases[i].leap);
}

static void test_days_in_month(void **state)
{
    (void)state;
    static const struct {
        int y, m, n;
    } cases[] = {
        {2024, 2, 29}, {2023, 2, 28}, {2100, 2, 28},  {2000, 2, 29},  {2026, 1, 31}, {2026, 4, 30},
        {2026, 6, 30}, {2026, 9, 30}, {2026, 11, 30}, {2026, 12, 31}, {2026, 7, 31}, {2026, 8, 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(kp_date_days_in_month(cases[i].y, cases[i].m), cases[i].n);
}

static void test_valid(void **state)
{
    (void)state;
    static const struct {
        int y, m, d, ok;
    } cases[] = {
        {2024, 2, 29, 1}, {2023, 2, 29, 0}, {2100, 2, 29, 0},  {2000, 2, 29, 1},  {2024, 2, 30, 0},
        {2024, 4, 31, 0}, {2024, 13, 1, 0}, {2024, 0, 10, 0},  {2024, 1, 0, 0},   {0, 1, 1, 0},
        {10000, 1, 1, 0}, {1, 1, 1, 1},     {9999, 12, 31, 1}, {2026, 12, 31, 1}, {2026, 12, 32, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(kp_date_valid(cases[i].y, cases[i].m, cases[i].d), cases[i].ok);
}

static void test_known_day_numbers(void **state)
{
    (void)state;
    static const struct {
        int y, m, d;
        kp_date n;
    } cases[] = {
        {1970, 1, 1, 0},     {1970, 1, 2, 1},         {1969, 12, 31, -1},   {2000, 1, 1, 10957},
        {2024, 1, 1, 19723}, {2024, 2, 29, 19782},    {2024, 3, 1, 19783},  {2023, 3, 1, 19417},
        {1, 1, 1, -719162},  {9999, 12, 31, 2932896}, {2026, 11, 1, 20758},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int y, m, d;
        assert_int_equal(kp_date_from_ymd(cases[i].y, cases[i].m, cases[i].d), cases[i].n);
        kp_date_to_ymd(cases[i].n, &y, &m, &d);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
}

/* Every day from 0001-01-01 to 9999-12-31: to_ymd gives a valid date that follows the
 * previous day's date, and from_ymd maps it back. */
static void test_round_trip_all_days(void **state)
{
    (void)state;
    int py = 0, pm = 12, pd = 31;
    for (kp_date n = -719162; n <= 2932896; n++) {
        int y, m, d;
        kp_date_to_ymd(n, &y, &m, &d);
        assert_true(kp_date_valid(y, m, d));
        assert_int_equal(kp_date_from_ymd(y, m, d), n);
        if (d == pd + 1) {
            assert_int_equal(m, pm);
            assert_int_equal(y, py);
        } else {
            assert_int_equal(d, 1);
            assert_int_equal(pd, py ? kp_date_days_in_month(py, pm) : 31);
            assert_int_equal(m, pm == 12 ? 1 : pm + 1);
            assert_int_equal(y, pm == 12 ? py + 1 : py);
        }
        py = y, pm = m, pd = d;
    }
    assert_int_equal(py, 9999);
}

static void test_parse_iso(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        kp_date n;
    } cases[] = {
        {"2024-02-29", 0, 19782},   {"2000-02-29", 0, 11016},   {"1970-01-01", 0, 0},
        {"0001-01-01", 0, -719162}, {"9999-12-31", 0, 2932896}, {"2024-02-30", -1, 0},
        {"2023-02-29", -1, 0},      {"2100-02-29", -1, 0},      {"2024-13-01", -1, 0},
        {"2024-00-01", -1, 0},      {"2024-01-00", -1, 0},      {"2024-1-01", -1, 0},
        {"2024-01-1", -1, 0},       {"24-01-01", -1, 0},        {"2024/01/01", -1, 0},
        {" 2024-01-01", -1, 0},     {"2024-01-01 ", -1, 0},     {"+024-01-01", -1, 0},
        {"2024-0a-01", -1, 0},      {"0000-01-01", -1, 0},      {"", -1, 0},
        {"2024-01-01T00", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_date n = 12345;
        int rc = kp_date_parse_iso(cases[i].s, strlen(cases[i].s), &n);
        if (rc != cases[i].rc)
            fail_msg("parse \"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0)
            assert_int_equal(n, cases[i].n);
    }
}

static void test_format_iso(void **state)
{
    (void)state;
    char buf[KP_DATE_ISO_LEN + 1];
    assert_string_equal(kp_date_format_iso(19782, buf), "2024-02-29");
    assert_string_equal(kp_date_format_iso(-719162, buf), "0001-01-01");
    assert_string_equal(kp_date_format_iso(2932896, buf), "9999-12-31");
    assert_string_equal(kp_date_format_iso(-1, buf), "1969-12-31");
}

static void test_month_start(void **state)
{
    (void)state;
    static const struct {
        const char *from;
        int months;
        const char *want;
    } cases[] = {
        {"2026-11-15", -1, "2026-10-01"},  {"2026-01-31", -1, "2025-12-01"},
        {"2026-12-05", 1, "2027-01-01"},   {"2026-03-10", -15, "2024-12-01"},
        {"2026-03-10", 0, "2026-03-01"},   {"2026-03-10", 24, "2028-03-01"},
        {"2024-02-29", -12, "2023-02-01"}, {"2026-01-01", -12, "2025-01-01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(kp_date_month_start(iso(cases[i].from), cases[i].months),
                         iso(cases[i].want));
}

static void test_weekday(void **state)
{
    (void)state;
    static const struct {
        const char *d;
        int wd;
    } cases[] = {
        {"1970-01-01", 3}, {"1969-12-31", 2}, {"2000-01-01", 5}, {"2024-02-29", 3},
        {"2026-11-01", 6}, {"2026-10-31", 5}, {"0001-01-01", 0}, {"2026-01-05", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(kp_date_weekday(iso(cases[i].d)), cases[i].wd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leap),
        cmocka_unit_test(test_days_in_month),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_known_day_numbers),
        cmocka_unit_test(test_round_trip_all_days),
        cmocka_unit_test(test_parse_iso),
        cmocka_unit_test(test_format_iso),
        cmocka_unit_test(test_month_start),
        cmocka_unit_test(test_weekday),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
