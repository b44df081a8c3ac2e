/* Civil-calendar arithmetic on day numbers. The conversion uses the era-based algorithm
 * (400-year cycles of 146097 days) so that it is exact for any year 1..9999 without
 * loops or tables, and no libc time function (which would consult TZ) is involved. */
#include "kpipress/date.h"

#include <assert.h>

int kp_date_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int kp_date_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert(m >= 1 && m <= 12);
    return m == 2 && kp_date_is_leap(y) ? 29 : days[m - 1];
}

int kp_date_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
           d <= kp_date_days_in_month(y, m);
}

kp_date kp_date_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (kp_date)(era * 146097 + doe - 719468);
}

void kp_date_to_ymd(kp_date date, int *y, int *m, int *d)
{
    const int z = date + 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const int doe = z - era * 146097;
    const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int mp = (5 * doy + 2) / 153;
    const int dd = doy - (153 * mp + 2) / 5 + 1;
    const int mm = mp < 10 ? mp + 3 : mp - 9;
    if (y)
        *y = yoe + era * 400 + (mm <= 2);
    if (m)
        *m = mm;
    if (d)
        *d = dd;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int kp_date_parse_iso(const char *s, size_t len, kp_date *out)
{
    int y, m, d;
    if (len != KP_DATE_ISO_LEN || s[4] != '-' || s[7] != '-')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
        return -1;
    if (!kp_date_valid(y, m, d))
        return -1;
    *out = kp_date_from_ymd(y, m, d);
    return 0;
}

char *kp_date_format_iso(kp_date date, char *buf)
{
    int y, m, d;
    kp_date_to_ymd(date, &y, &m, &d);
    /* Digit by digit, not snprintf: the loader writes two dates per deal and snprintf
     * was 3% of a load. Years are 1..9999. */
    unsigned u = (unsigned)y % 10000u;
    buf[0] = (char)('0' + u / 1000);
    buf[1] = (char)('0' + u / 100 % 10);
    buf[2] = (char)('0' + u / 10 % 10);
    buf[3] = (char)('0' + u % 10);
    buf[4] = buf[7] = '-';
    buf[5] = (char)('0' + (unsigned)m / 10 % 10);
    buf[6] = (char)('0' + (unsigned)m % 10);
    buf[8] = (char)('0' + (unsigned)d / 10 % 10);
    buf[9] = (char)('0' + (unsigned)d % 10);
    buf[KP_DATE_ISO_LEN] = '\0';
    return buf;
}

kp_date kp_date_month_start(kp_date date, int months)
{
    int y, m;
    kp_date_to_ymd(date, &y, &m, NULL);
    int idx = y * 12 + (m - 1) + months;
    return kp_date_from_ymd(idx / 12, idx % 12 + 1, 1);
}

int kp_date_weekday(kp_date date)
{
    /* 1970-01-01 was a Thursday (3 in 0=Monday numbering). */
    int w = (int)((date % 7 + 7) % 7);
    return (w + 3) % 7;
}
