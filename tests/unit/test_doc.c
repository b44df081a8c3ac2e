/* Document model: commission payouts under a plan, each figure worked out by hand below
 * (target incentive 10,000; tiers from 0% at 0.5x, 50% at 1.0x, 100% at 1.5x, 150% at
 * 2.0x), and the plan validation messages. */
#include "test.h"

#include "kpipress/doc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static kp_commission_plan plan(kp_commission_method m, double floor, int has_cap, double cap)
{
    kp_commission_plan p;
    memset(&p, 0, sizeof p);
    p.method = m;
    p.target_incentive = 10000;
    p.floor = floor;
    p.has_cap = has_cap;
    p.cap = cap;
    p.ntiers = 4;
    p.tiers[0] = (kp_commission_tier){0.0, 0.5};
    p.tiers[1] = (kp_commission_tier){0.5, 1.0};
    p.tiers[2] = (kp_commission_tier){1.0, 1.5};
    p.tiers[3] = (kp_commission_tier){1.5, 2.0};
    return p;
}

#define PAY(p, att, want) assert_true(fabs(kp_commission_payout(&(p), (att)) - (want)) < 1e-6)

static void test_marginal(void **state)
{
    (void)state;
    kp_commission_plan p = plan(KP_COMMISSION_MARGINAL, 0, 0, 0);
    PAY(p, 0.0, 0);
    PAY(p, 0.4, 2000);   /* 0.5 x 40% */
    PAY(p, 0.8, 5500);   /* 0.5 x 50% + 1.0 x 30% */
    PAY(p, 1.0, 7500);   /* 0.25 + 0.50 */
    PAY(p, 1.2, 10500);  /* 0.75 + 1.5 x 20% */
    PAY(p, 2.0, 25000);  /* 0.75 + 0.75 + 2.0 x 50% */
    PAY(p, 3.0, 45000);  /* 0.75 + 0.75 + 2.0 x 150%: no cap */
    PAY(p, -0.3, 0);     /* negative attainment (credit notes) pays nothing */
}

static void test_cumulative(void **state)
{
    (void)state;
    kp_commission_plan p = plan(KP_COMMISSION_CUMULATIVE, 0, 0, 0);
    PAY(p, 0.4, 2000);  /* 40% x 0.5 */
    PAY(p, 0.8, 8000);  /* 80% x 1.0 */
    PAY(p, 1.0, 15000); /* a tier's start belongs to that tier: 100% x 1.5 */
    PAY(p, 1.2, 18000); /* 120% x 1.5 */
    PAY(p, 1.6, 32000); /* 160% x 2.0 */
}

static void test_floor_and_cap(void **state)
{
    (void)state;
    kp_commission_plan p = plan(KP_COMMISSION_MARGINAL, 0.4, 1, 2.5);
    PAY(p, 0.39, 0);     /* below the floor */
    PAY(p, 0.4, 2000);   /* at the floor: paid from 0% */
    PAY(p, 2.0, 25000);  /* exactly the cap: 2.5 x 10,000 */
    PAY(p, 3.0, 25000);  /* 4.5 capped at 2.5 */
    kp_commission_plan c = plan(KP_COMMISSION_CUMULATIVE, 0.4, 1, 2.5);
    PAY(c, 0.3, 0);
    PAY(c, 1.5, 25000); /* 150% x 2.0 = 3.0, capped at 2.5 */
    PAY(c, 1.2, 18000); /* under the cap */
}

static void test_invalid(void **state)
{
    (void)state;
    kp_commission_plan p = plan(KP_COMMISSION_MARGINAL, 0, 0, 0);
    assert_null(kp_commission_invalid(&p));
    p.tiers[2].from = 0.5;
    assert_string_equal(kp_commission_invalid(&p), "each tier must start above the one before");
    p = plan(KP_COMMISSION_MARGINAL, 0, 0, 0);
    p.tiers[1].rate = -1;
    assert_string_equal(kp_commission_invalid(&p), "a tier rate must be a number >= 0");
    p = plan(KP_COMMISSION_MARGINAL, 0, 0, 0);
    p.target_incentive = 0;
    assert_string_equal(kp_commission_invalid(&p), "target_incentive must be above 0");
    p = plan(KP_COMMISSION_MARGINAL, 0, 1, 0);
    assert_string_equal(kp_commission_invalid(&p), "cap must be above 0%");
    p.ntiers = 0;
    assert_string_equal(kp_commission_invalid(&p), "no tiers: add tier.1 = 0% RATE");
}

static const char *fmt_cell(double v, kp_format f, const char *currency, size_t size)
{
    static char buf[128];
    kp_cell c = {0};
    kp_cell_set_number(&c, v);
    kp_format_cell(&c, f, currency, buf, size);
    return buf;
}

/* Figures as a reader sees them, worked out by hand. */
static void test_format_cell(void **state)
{
    (void)state;
    static const struct {
        double v;
        kp_format f;
        const char *currency, *want;
    } cases[] = {
        {1234.5, KP_FMT_CURRENCY, "USD", "$1,234.50"},
        {-1234.567, KP_FMT_CURRENCY, "USD", "-$1,234.57"},
        {-0.004, KP_FMT_CURRENCY, "USD", "$0.00"},
        {999.995, KP_FMT_CURRENCY, "USD", "$1,000.00"},
        {5, KP_FMT_CURRENCY, "EUR", "\xE2\x82\xAC" "5.00"},
        {5, KP_FMT_CURRENCY, "CHF", "CHF 5.00"},
        {1e13, KP_FMT_CURRENCY, "USD", "$10,000,000,000,000.00"},
        {0.1234, KP_FMT_PERCENT, NULL, "12.3%"},
        {-0.0004, KP_FMT_PERCENT, NULL, "0.0%"},
        {-0.5, KP_FMT_PERCENT, NULL, "-50.0%"},
        {12.25, KP_FMT_DAYS, NULL, "12.3"},
        {-3.04, KP_FMT_DAYS, NULL, "-3.0"},
        {2.346, KP_FMT_RATIO, NULL, "2.35x"},
        {0, KP_FMT_RATIO, NULL, "0.00x"},
        {1234567.4, KP_FMT_COUNT, NULL, "1,234,567"},
        {-999.6, KP_FMT_COUNT, NULL, "-1,000"},
        {1234.5, KP_FMT_NUMBER, NULL, "1,234.50"},
        {1234, KP_FMT_NUMBER, NULL, "1,234"},
        {0.07, KP_FMT_NUMBER, NULL, "0.07"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_string_equal(fmt_cell(cases[i].v, cases[i].f, cases[i].currency, 128),
                            cases[i].want);
    assert_string_equal(fmt_cell(1234.5, KP_FMT_CURRENCY, "USD", 4), "$1,"); /* cut */
    assert_string_equal(fmt_cell(-0.5, KP_FMT_PERCENT, NULL, 3), "-5");
}

/* The figures are printed from integers, not by printf: across magnitudes and signs
 * they must read exactly as printf prints the rounded value. */
static void test_format_cell_matches_printf(void **state)
{
    (void)state;
    unsigned long long x = 88172645463325252ULL; /* xorshift64, seeded */
    char want[128];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double mag = pow(10, (double)(x % 15) - 3);
        double v = ((double)(x >> 11) / 9007199254740992.0 - 0.5) * 2 * mag;
        double r = round(v * 1000.0) / 10.0;
        snprintf(want, sizeof want, "%.1f%%", r == 0 ? 0.0 : r);
        assert_string_equal(fmt_cell(v, KP_FMT_PERCENT, NULL, 128), want);
        r = round(v * 10.0) / 10.0;
        snprintf(want, sizeof want, "%.1f", r == 0 ? 0.0 : r);
        assert_string_equal(fmt_cell(v, KP_FMT_DAYS, NULL, 128), want);
        r = round(v * 100.0) / 100.0;
        snprintf(want, sizeof want, "%.2fx", r == 0 ? 0.0 : r);
        assert_string_equal(fmt_cell(v, KP_FMT_RATIO, NULL, 128), want);
        /* Currency without separators below 1,000: "$" and printf's digits. */
        if (fabs(r) < 1000) {
            snprintf(want, sizeof want, "%s$%.2f", r < 0 ? "-" : "", fabs(r));
            assert_string_equal(fmt_cell(v, KP_FMT_CURRENCY, "USD", 128), want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marginal),
        cmocka_unit_test(test_cumulative),
        cmocka_unit_test(test_floor_and_cap),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_format_cell),
        cmocka_unit_test(test_format_cell_matches_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
