/* Time zones against the system zone database: offsets at real DST transitions (both
 * hemispheres), before the first and after the last listed transition (the POSIX rule in
 * the footer), fixed offsets, and the errors. Expected offsets come from Python's zoneinfo
 * (/usr/bin/python3), not from this code. Skips when /usr/share/zoneinfo is absent. */
#include "test.h"

#include "kpipress/tz.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void offset_is(const char *zone, int64_t utc, int32_t want)
{
    kp_tz *tz = NULL;
    kp_error e = {0};
    if (kp_tz_load(zone, NULL, &tz, &e) != KP_OK) {
        print_error("%s: %s\n", zone, e.msg);
        fail();
    }
    int32_t got = kp_tz_offset(tz, utc);
    if (got != want) {
        print_error("%s at %lld: offset %d, want %d\n", zone, (long long)utc, got, want);
        fail();
    }
    kp_tz_free(tz);
}

static void test_zones(void **state)
{
    (void)state;
    if (access("/usr/share/zoneinfo/America/New_York", R_OK)) {
        print_message("SKIP: no zone database (install tzdata)\n");
        return;
    }
    offset_is("America/New_York", 1704083400, -18000); /* 2024-01-01T04:30Z: EST */
    offset_is("America/New_York", 1719808200, -14400); /* 2024-07-01T04:30Z: EDT */
    offset_is("America/New_York", 1730608200, -14400); /* 2024-11-03T04:30Z: still EDT */
    offset_is("America/New_York", 1730615400, -18000); /* 2024-11-03T06:30Z: EST again */
    offset_is("America/New_York", 2224729800, -14400); /* 2040-07-01: footer rule, EDT */
    offset_is("America/New_York", 2237949000, -18000); /* 2040-12-01: footer rule, EST */
    offset_is("America/New_York", -2208945600, -18000); /* 1900: before LMT ended? EST */
    offset_is("Australia/Sydney", 1706707800, 39600);  /* January: AEDT */
    offset_is("Australia/Sydney", 1719754200, 36000);  /* June: AEST */
    offset_is("Europe/Paris", 1711846740, 3600);       /* 2024-03-31T00:59Z: CET */
    offset_is("Europe/Paris", 1711846800, 7200);       /* 01:00Z: CEST */
    offset_is("Asia/Kolkata", 1706725800, 19800);
    offset_is("Europe/London", 2537739000, 3600);      /* 2050: BST by the footer rule */
}

static void test_fixed(void **state)
{
    (void)state;
    offset_is("UTC", 0, 0);
    offset_is("+05:30", 0, 19800);
    offset_is("-0800", 0, -28800);
    offset_is("+02", 0, 7200);
    assert_int_equal(kp_tz_offset(NULL, 12345), 0);
}

static void test_errors(void **state)
{
    (void)state;
    kp_tz *tz = NULL;
    kp_error e = {0};
    assert_int_equal(kp_tz_load("Mars/Olympus", "/usr/share/zoneinfo", &tz, &e), KP_ERR_CONFIG);
    assert_null(tz);
    assert_string_equal(e.msg, "timezone = Mars/Olympus: unknown time zone "
                               "(/usr/share/zoneinfo/Mars/Olympus: No such file or directory); "
                               "use an IANA name such as America/New_York (install the tzdata "
                               "package if /usr/share/zoneinfo is empty)");
    assert_int_equal(kp_tz_load("../../etc/passwd", NULL, &tz, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "timezone = ../../etc/passwd: not a zone name; use UTC, an "
                               "offset such as +02:00, or an IANA name such as Europe/Paris");
    assert_int_equal(kp_tz_load("+25:00", NULL, &tz, &e), KP_ERR_CONFIG);
    /* A file that is not TZif. */
    char dir[64], path[80];
    snprintf(dir, sizeof dir, "/tmp/kp_test_tz.%ld", (long)getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/Bad", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a zone file at all, but long enough to have a TZif header's size.....", f);
    fclose(f);
    assert_int_equal(kp_tz_load("Bad", dir, &tz, &e), KP_ERR_CONFIG);
    char want[200];
    snprintf(want, sizeof want, "timezone = Bad: %s is not a valid zone file (TZif)", path);
    assert_string_equal(e.msg, want);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
