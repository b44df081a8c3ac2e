/* Reporting periods: turns a period name and the run's as-of date into inclusive date
 * bounds, the comparison periods and the label/slug used in documents and file names.
 * as_of is the run date itself: "current_*" periods contain it, "previous_*" periods end
 * before the period that contains it, "*_to_date" periods end on it. */
#include "kpipress/job.h"

#include <stdio.h>
#include <string.h>

static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};

static const struct {
    const char *name;
    kp_period_kind kind;
} period_names[] = {
    {"current_month", KP_PERIOD_CURRENT_MONTH},
    {"previous_month", KP_PERIOD_PREVIOUS_MONTH},
    {"current_quarter", KP_PERIOD_CURRENT_QUARTER},
    {"previous_quarter", KP_PERIOD_PREVIOUS_QUARTER},
    {"quarter_to_date", KP_PERIOD_QUARTER_TO_DATE},
    {"month_to_date", KP_PERIOD_MONTH_TO_DATE},
    {"year_to_date", KP_PERIOD_YEAR_TO_DATE},
    {"current_fiscal_year", KP_PERIOD_CURRENT_FISCAL_YEAR},
    {"previous_fiscal_year", KP_PERIOD_PREVIOUS_FISCAL_YEAR},
    {"fiscal_year_to_date", KP_PERIOD_FISCAL_YEAR_TO_DATE},
    {"current_fiscal_quarter", KP_PERIOD_CURRENT_FISCAL_QUARTER},
    {"previous_fiscal_quarter", KP_PERIOD_PREVIOUS_FISCAL_QUARTER},
    {"trailing_12_months", KP_PERIOD_TRAILING_12_MONTHS},
};

int kp_period_parse(const char *text, kp_period_kind *kind, kp_date *custom_start,
                    kp_date *custom_end)
{
    kp_date s, e;
    for (size_t i = 0; i < sizeof period_names / sizeof period_names[0]; i++) {
        if (strcmp(text, period_names[i].name) == 0) {
            *kind = period_names[i].kind;
            return 0;
        }
    }
    /* "YYYY-MM-DD..YYYY-MM-DD", nothing around it, start not after end. */
    if (strlen(text) != 2 * KP_DATE_ISO_LEN + 2 || text[KP_DATE_ISO_LEN] != '.' ||
        text[KP_DATE_ISO_LEN + 1] != '.')
        return -1;
    if (kp_date_parse_iso(text, KP_DATE_ISO_LEN, &s) ||
        kp_date_parse_iso(text + KP_DATE_ISO_LEN + 2, KP_DATE_ISO_LEN, &e) || s > e)
        return -1;
    *kind = KP_PERIOD_CUSTOM;
    if (custom_start)
        *custom_start = s;
    if (custom_end)
        *custom_end = e;
    return 0;
}

/* The same calendar day `months` months away; a day the target month lacks becomes its
 * last day (Mar 31 - 1 month = Feb 28/29, Feb 29 - 12 months = Feb 28). */
static kp_date shift_months(kp_date date, int months)
{
    int y, m, d;
    kp_date_to_ymd(date, NULL, NULL, &d);
    kp_date_to_ymd(kp_date_month_start(date, months), &y, &m, NULL);
    int last = kp_date_days_in_month(y, m);
    return kp_date_from_ymd(y, m, d < last ? d : last);
}

/* Last day of the month `months` months after date's month. */
static kp_date month_end(kp_date date, int months)
{
    return kp_date_month_start(date, months + 1) - 1;
}

/* Whole months [first, first + n): comparison periods are whole months too. */
static void whole_months(kp_period *p, kp_date first, int n)
{
    p->start = first;
    p->end = month_end(first, n - 1);
    p->prev_start = kp_date_month_start(first, -n);
    p->prev_end = first - 1;
    p->yoy_start = kp_date_month_start(first, -12);
    p->yoy_end = month_end(first, n - 1 - 12);
}

/* [first, as_of] where a full period is n months: comparisons keep the same span. */
static void to_date(kp_period *p, kp_date first, kp_date as_of, int n)
{
    p->start = first;
    p->end = as_of;
    p->prev_start = shift_months(first, -n);
    p->prev_end = shift_months(as_of, -n);
    p->yoy_start = shift_months(first, -12);
    p->yoy_end = shift_months(as_of, -12);
}

/* First day of the fiscal year containing date, and that year's name (the calendar
 * year in which it ends). */
static kp_date fiscal_year_start(kp_date date, int fy_start, int *fy_name)
{
    int y, m;
    kp_date_to_ymd(date, &y, &m, NULL);
    int start_year = m >= fy_start ? y : y - 1;
    *fy_name = fy_start == 1 ? start_year : start_year + 1;
    return kp_date_from_ymd(start_year, fy_start, 1);
}

/* Number of whole months from the month of a to the month of b. */
static int months_between(kp_date a, kp_date b)
{
    int ya, ma, yb, mb;
    kp_date_to_ymd(a, &ya, &ma, NULL);
    kp_date_to_ymd(b, &yb, &mb, NULL);
    return (yb - ya) * 12 + (mb - ma);
}

static void label_month(kp_period *p, kp_date date, const char *suffix, const char *slug_suffix)
{
    int y, m;
    kp_date_to_ymd(date, &y, &m, NULL);
    snprintf(p->label, sizeof p->label, "%s %d%s", month_names[m - 1], y, suffix);
    snprintf(p->slug, sizeof p->slug, "%04d-%02d%s", y, m, slug_suffix);
}

static void label_quarter(kp_period *p, kp_date first, const char *suffix, const char *slug_suffix)
{
    int y, m;
    kp_date_to_ymd(first, &y, &m, NULL);
    snprintf(p->label, sizeof p->label, "Q%d %d%s", (m - 1) / 3 + 1, y, suffix);
    snprintf(p->slug, sizeof p->slug, "%04d-Q%d%s", y, (m - 1) / 3 + 1, slug_suffix);
}

static void resolve_custom(kp_period *p, kp_date s, kp_date e)
{
    int sd, ed;
    kp_date_to_ymd(s, NULL, NULL, &sd);
    kp_date_to_ymd(e, NULL, NULL, &ed);
    if (sd == 1 && e == month_end(e, 0)) {
        /* A range of whole months compares with whole months, as named periods do. */
        whole_months(p, s, months_between(s, e) + 1);
    } else {
        /* Otherwise the same number of days immediately before. */
        p->start = s;
        p->end = e;
        p->prev_end = s - 1;
        p->prev_start = s - (e - s + 1);
        p->yoy_start = shift_months(s, -12);
        p->yoy_end = shift_months(e, -12);
    }
    char a[KP_DATE_ISO_LEN + 1], b[KP_DATE_ISO_LEN + 1];
    kp_date_format_iso(s, a);
    kp_date_format_iso(e, b);
    snprintf(p->label, sizeof p->label, "%s to %s", a, b);
    snprintf(p->slug, sizeof p->slug, "%s_%s", a, b);
}

/* Labels beyond those listed in job.h: "November 2026 MTD"/"2026-11-MTD", "Q4 2026 QTD"/
 * "2026-Q4-QTD", "FY2027 YTD"/"FY2027-YTD". */
void kp_period_resolve(kp_period_kind kind, kp_date as_of, int fy_start, kp_date custom_start,
                       kp_date custom_end, kp_period *out)
{
    kp_period *p = out;
    int y, m, fy;
    memset(p, 0, sizeof *p);
    p->kind = kind;
    if (fy_start < 1 || fy_start > 12)
        fy_start = 1;
    kp_date_to_ymd(as_of, &y, &m, NULL);
    const kp_date month = kp_date_from_ymd(y, m, 1);
    const kp_date quarter = kp_date_from_ymd(y, (m - 1) / 3 * 3 + 1, 1);
    const kp_date fiscal = fiscal_year_start(as_of, fy_start, &fy);
    const int fq = months_between(fiscal, month) / 3; /* 0-based fiscal quarter */

    switch (kind) {
    case KP_PERIOD_CURRENT_MONTH:
        whole_months(p, month, 1);
        label_month(p, month, "", "");
        break;
    case KP_PERIOD_PREVIOUS_MONTH:
        whole_months(p, kp_date_month_start(month, -1), 1);
        label_month(p, p->start, "", "");
        break;
    case KP_PERIOD_MONTH_TO_DATE:
        to_date(p, month, as_of, 1);
        label_month(p, month, " MTD", "-MTD");
        break;
    case KP_PERIOD_CURRENT_QUARTER:
        whole_months(p, quarter, 3);
        label_quarter(p, quarter, "", "");
        break;
    case KP_PERIOD_PREVIOUS_QUARTER:
        whole_months(p, kp_date_month_start(quarter, -3), 3);
        label_quarter(p, p->start, "", "");
        break;
    case KP_PERIOD_QUARTER_TO_DATE:
        to_date(p, quarter, as_of, 3);
        label_quarter(p, quarter, " QTD", "-QTD");
        break;
    case KP_PERIOD_YEAR_TO_DATE:
        to_date(p, kp_date_from_ymd(y, 1, 1), as_of, 12);
        snprintf(p->label, sizeof p->label, "%d YTD", y);
        snprintf(p->slug, sizeof p->slug, "%04d-YTD", y);
        break;
    case KP_PERIOD_CURRENT_FISCAL_YEAR:
    case KP_PERIOD_PREVIOUS_FISCAL_YEAR: {
        int back = kind == KP_PERIOD_PREVIOUS_FISCAL_YEAR;
        whole_months(p, kp_date_month_start(fiscal, -12 * back), 12);
        snprintf(p->label, sizeof p->label, "FY%d", fy - back);
        snprintf(p->slug, sizeof p->slug, "FY%04d", fy - back);
        break;
    }
    case KP_PERIOD_FISCAL_YEAR_TO_DATE:
        to_date(p, fiscal, as_of, 12);
        snprintf(p->label, sizeof p->label, "FY%d YTD", fy);
        snprintf(p->slug, sizeof p->slug, "FY%04d-YTD", fy);
        break;
    case KP_PERIOD_CURRENT_FISCAL_QUARTER:
    case KP_PERIOD_PREVIOUS_FISCAL_QUARTER: {
        int q = fq, name = fy;
        if (kind == KP_PERIOD_PREVIOUS_FISCAL_QUARTER && --q < 0) {
            q = 3;
            name--;
        }
        whole_months(p, kp_date_month_start(fiscal, 3 * q - 12 * (name != fy)), 3);
        snprintf(p->label, sizeof p->label, "FQ%d FY%d", q + 1, name);
        snprintf(p->slug, sizeof p->slug, "FY%04d-Q%d", name, q + 1);
        break;
    }
    case KP_PERIOD_TRAILING_12_MONTHS: {
        /* The twelve complete months before the as-of month, so that a run on the 1st
         * covers through the month just closed, like previous_month. */
        whole_months(p, kp_date_month_start(month, -12), 12);
        int ly, lm;
        kp_date_to_ymd(p->end, &ly, &lm, NULL);
        snprintf(p->label, sizeof p->label, "12 months to %s %d", month_names[lm - 1], ly);
        snprintf(p->slug, sizeof p->slug, "TTM-%04d-%02d", ly, lm);
        break;
    }
    case KP_PERIOD_CUSTOM: resolve_custom(p, custom_start, custom_end); break;
    }
}
