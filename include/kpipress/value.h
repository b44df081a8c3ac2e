/* Parsing CRM export values: dates and datetimes in the formats Salesforce, HubSpot and
 * Pipedrive write, money to exact integer cents, percentages, booleans. Pure functions:
 * no locale, no clock, no allocation. Each returns 0 on success, -1 on unparseable text
 * (the caller reports file/line/column). */
#ifndef KPIPRESS_VALUE_H
#define KPIPRESS_VALUE_H

#include "kpipress/date.h"
#include "kpipress/tz.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    KP_DATES_AUTO = 0, /* ISO, or M/D/YYYY for slashes (US exports) */
    KP_DATES_DMY       /* D/M/YYYY for slashes, by explicit setting */
} kp_date_order;

/* Date or datetime -> calendar date. Accepts "2024-01-22", "1/22/2024", "01/22/2024",
 * "2024-01-22 16:14", "2024-01-22T16:14:25.000+0000", "...Z", "...+05:30". A datetime with
 * an offset is an instant: it is moved into zone tz (NULL = UTC, daylight saving time as
 * the zone had it then) before the date is taken; one without is already local time.
 * Invalid calendar dates (2024-02-30) fail. */
int kp_value_parse_date(const char *s, size_t len, kp_date_order order, const kp_tz *tz,
                        kp_date *out);

/* Month -> its first day: "2024-03", "3/2024", or any date kp_value_parse_date reads. */
int kp_value_parse_month(const char *s, size_t len, kp_date_order order, kp_date *out);

/* Money -> integer cents, exact (no floating point): "1234.5", "$1,234.50", "(1,200.00)"
 * (negative), "-1200", "USD 1,200", "1,200 EUR", "€1.234,50" when decimal_comma. More
 * than 2 decimals are rounded half away from zero. *currency (4 bytes) receives an ISO
 * code found in the text or "" (symbols $->USD, €->EUR, £->GBP). */
int kp_value_parse_money(const char *s, size_t len, int decimal_comma, int64_t *cents,
                         char currency[4]);

typedef enum {
    KP_PCT_AUTO = 0, /* "10%" -> 0.10; "10" -> 0.10 (number is in percent) */
    KP_PCT_FRACTION  /* "0.1" -> 0.10 (HubSpot deal probability); "10%" still 0.10 */
} kp_pct_style;

/* Percentage -> fraction in [0,1] (range is NOT checked here; the loader checks). */
int kp_value_parse_percent(const char *s, size_t len, kp_pct_style style, double *out);

/* "1", "true", "yes", "y", "t" -> 1; "0", "false", "no", "n", "f", "" -> 0 (case-insensitive). */
int kp_value_parse_bool(const char *s, size_t len, int *out);

/* Trim ASCII spaces/tabs from both ends: returns pointer into s and sets *len. */
const char *kp_value_trim(const char *s, size_t *len);

#endif
