/* Value parsers for CRM export cells: dates and datetimes, money, percentages, booleans.
 * Hand-written scanners rather than strtod/strptime so that the result never depends on
 * the locale, and money stays in exact integer cents from the first digit: a float would
 * turn $0.10 + $0.20 into 0.30000000000000004 and a quarter's bookings off by a cent. */
#include "kpipress/value.h"

#include <stdint.h>
#include <string.h>

const char *kp_value_trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read 1..maxd digits at s[*i]; at least mind. */
static int read_num(const char *s, size_t len, size_t *i, int mind, int maxd, int *out)
{
    int v = 0, n = 0;
    while (*i < len && is_digit(s[*i]) && n < maxd) {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        n++;
    }
    if (n < mind)
        return -1;
    *out = v;
    return 0;
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int word_eq(const char *s, size_t len, const char *w)
{
    size_t n = strlen(w);
    if (n != len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

/* Time of day after a date: "HH:MM[:SS[.fff]]" with optional " AM"/" PM" (Salesforce
 * report datetimes) and an optional zone "Z", "+HHMM", "+HH:MM", "+HH". Sets *minutes
 * (minutes after midnight) and *offset (minutes east, or INT32_MIN when the text has
 * no zone: then it is already local time). */
static int parse_time(const char *s, size_t len, size_t i, int *minutes, int *offset)
{
    int hh, mm, ss = 0;
    *offset = INT32_MIN;
    if (read_num(s, len, &i, 1, 2, &hh) || i >= len || s[i] != ':')
        return -1;
    i++;
    if (read_num(s, len, &i, 2, 2, &mm))
        return -1;
    if (i < len && s[i] == ':') {
        i++;
        if (read_num(s, len, &i, 2, 2, &ss))
            return -1;
        if (i < len && s[i] == '.') {
            size_t start = ++i;
            while (i < len && is_digit(s[i]))
                i++;
            if (i == start)
                return -1;
        }
    }
    if (i + 3 == len && s[i] == ' ' &&
        (word_eq(s + i + 1, 2, "am") || word_eq(s + i + 1, 2, "pm"))) {
        if (hh < 1 || hh > 12)
            return -1;
        int pm = ascii_lower((unsigned char)s[i + 1]) == 'p';
        hh = hh % 12 + (pm ? 12 : 0);
        i += 3;
    }
    if (hh > 23 || mm > 59 || ss > 60)
        return -1;
    *minutes = hh * 60 + mm;
    if (i == len)
        return 0;
    if (s[i] == 'Z' && i + 1 == len) {
        *offset = 0;
        return 0;
    }
    if (s[i] != '+' && s[i] != '-')
        return -1;
    int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
    i++;
    if (read_num(s, len, &i, 2, 2, &oh))
        return -1;
    if (i < len) {
        if (s[i] == ':')
            i++;
        if (read_num(s, len, &i, 2, 2, &om))
            return -1;
    }
    if (i != len || oh > 14 || om > 59)
        return -1;
    *offset = sign * (oh * 60 + om);
    return 0;
}

int kp_value_parse_date(const char *s, size_t len, kp_date_order order, const kp_tz *tz,
                        kp_date *out)
{
    int y, m, d, a, b;
    size_t i = 0;
    s = kp_value_trim(s, &len);
    if (len == 0)
        return -1;
    if (len >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
        (s[4] == '-' || s[4] == '/')) {
        /* Year first: ISO 8601 (and 2024/01/22, which some exports write). */
        char sep = s[4];
        if (read_num(s, len, &i, 4, 4, &y) || s[i++] != sep ||
            read_num(s, len, &i, 2, 2, &m) || i >= len || s[i++] != sep ||
            read_num(s, len, &i, 2, 2, &d))
            return -1;
    } else {
        /* Slashes: month first (US exports) unless the source says D/M/YYYY. Dots: day
         * first always (31.10.2026, as German and other European Excel exports write
         * dates; no locale writes month first with dots). */
        if (read_num(s, len, &i, 1, 2, &a) || i >= len || (s[i] != '/' && s[i] != '.'))
            return -1;
        char sep = s[i++];
        if (read_num(s, len, &i, 1, 2, &b) || i >= len || s[i++] != sep ||
            read_num(s, len, &i, 4, 4, &y))
            return -1;
        int dmy = order == KP_DATES_DMY || sep == '.';
        m = dmy ? b : a;
        d = dmy ? a : b;
    }
    if (i < len && is_digit(s[i]))
        return -1; /* 5-digit year or 3-digit day */
    if (!kp_date_valid(y, m, d))
        return -1;
    kp_date date = kp_date_from_ymd(y, m, d);
    if (i == len) {
        *out = date;
        return 0;
    }
    if (s[i] != ' ' && s[i] != 'T')
        return -1;
    int minutes, offset;
    if (parse_time(s, len, i + 1, &minutes, &offset))
        return -1;
    if (offset != INT32_MIN) {
        /* A zoned instant: move it to the job's zone before taking its calendar date,
         * so 2024-01-31T23:30:00-0500 is February in UTC. */
        int64_t utc = (int64_t)date * 86400 + (int64_t)(minutes - offset) * 60;
        int64_t local = utc + kp_tz_offset(tz, utc);
        date = (kp_date)(local / 86400 - (local % 86400 < 0));
    }
    *out = date;
    return 0;
}

/* Currency marker at the start or end of the text: ISO code (3 ASCII letters) or one of
 * the symbols $ € £ ¥. Returns the number of bytes matched (0 if none). */
static size_t match_currency(const char *s, size_t len, int at_end, char code[4])
{
    static const struct {
        const char *sym;
        const char *iso;
    } syms[] = {{"US$", "USD"}, {"$", "USD"}, {"\xE2\x82\xAC", "EUR"},
                {"\xC2\xA3", "GBP"}, {"\xC2\xA5", "JPY"}};
    for (size_t k = 0; k < sizeof syms / sizeof syms[0]; k++) {
        size_t n = strlen(syms[k].sym);
        if (n <= len && !memcmp(at_end ? s + len - n : s, syms[k].sym, n)) {
            memcpy(code, syms[k].iso, 4);
            return n;
        }
    }
    if (len >= 3) {
        const char *c = at_end ? s + len - 3 : s;
        if (c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' &&
            c[2] <= 'Z') {
            /* "USD1,200" must not swallow a letter of a longer word. */
            if (len > 3 && is_alpha(at_end ? c[-1] : c[3]))
                return 0;
            memcpy(code, c, 3);
            code[3] = '\0';
            return 3;
        }
    }
    return 0;
}

int kp_value_parse_money(const char *s, size_t len, int decimal_comma, int64_t *cents,
                         char currency[4])
{
    char code[4] = "";
    int neg = 0;
    s = kp_value_trim(s, &len);
    if (len >= 2 && s[0] == '(' && s[len - 1] == ')') {
        /* Accounting negative: (1,200.00). */
        neg = 1;
        s++;
        len -= 2;
        s = kp_value_trim(s, &len);
    }
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        if (neg && s[0] == '-')
            return -1; /* "(-5)": which sign was meant? */
        neg |= s[0] == '-';
        s++;
        len--;
    }
    size_t n = match_currency(s, len, 0, code);
    if (n) {
        s += n;
        len -= n;
    } else if ((n = match_currency(s, len, 1, code)) != 0) {
        len -= n;
    }
    s = kp_value_trim(s, &len);
    if (len > 0 && (s[0] == '-' || s[0] == '+')) { /* $-1,200 */
        if (neg && s[0] == '-')
            return -1;
        neg |= s[0] == '-';
        s++;
        len--;
    }
    const char dec = decimal_comma ? ',' : '.';
    const char grp = decimal_comma ? '.' : ',';
    int64_t units = 0;
    size_t i = 0, ndig = 0, group_len = 0;
    int grouped = 0;
    for (; i < len && s[i] != dec; i++) {
        char c = s[i];
        if (is_digit(c)) {
            if (units > (INT64_MAX / 100 - 9) / 10)
                return -1; /* would overflow once scaled to cents */
            units = units * 10 + (c - '0');
            ndig++;
            group_len++;
        } else if (c == grp || (decimal_comma && c == ' ')) {
            /* Thousands separators: 1-3 digits first, then groups of exactly three. */
            if (group_len == 0 || group_len > 3 || (grouped && group_len != 3))
                return -1;
            grouped = 1;
            group_len = 0;
        } else {
            return -1;
        }
    }
    if (grouped && group_len != 3)
        return -1;
    int64_t frac = 0;
    size_t nfrac = 0;
    int round_up = 0;
    if (i < len) {
        for (i++; i < len; i++) {
            if (!is_digit(s[i]))
                return -1;
            if (nfrac < 2)
                frac = frac * 10 + (s[i] - '0');
            else if (nfrac == 2)
                round_up = s[i] >= '5'; /* half away from zero: sign applied after */
            nfrac++;
        }
        if (nfrac == 0 && ndig == 0)
            return -1;
    }
    if (ndig == 0 && nfrac == 0)
        return -1;
    if (nfrac == 1)
        frac *= 10;
    int64_t v = units * 100 + frac + round_up;
    *cents = neg ? -v : v;
    if (currency)
        memcpy(currency, code, 4);
    return 0;
}

/* Unsigned decimal number into mantissa/scale (1.25 -> 125, 2); no exponent. */
static int parse_decimal(const char *s, size_t len, double *out)
{
    int neg = 0;
    size_t i = 0;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i++;
    }
    int64_t mant = 0;
    int scale = 0, ndig = 0, seen_dot = 0;
    for (; i < len; i++) {
        if (s[i] == '.' && !seen_dot) {
            seen_dot = 1;
            continue;
        }
        if (!is_digit(s[i]))
            return -1;
        if (ndig >= 15)
            return -1; /* beyond what a double holds exactly, and no real percentage */
        mant = mant * 10 + (s[i] - '0');
        ndig++;
        scale += seen_dot;
    }
    if (ndig == 0)
        return -1;
    double v = (double)mant;
    for (int k = 0; k < scale; k++)
        v /= 10.0;
    *out = neg ? -v : v;
    return 0;
}

int kp_value_parse_percent(const char *s, size_t len, kp_pct_style style, double *out)
{
    double v;
    int has_pct = 0;
    s = kp_value_trim(s, &len);
    if (len > 0 && s[len - 1] == '%') {
        has_pct = 1;
        len--;
        s = kp_value_trim(s, &len);
    }
    if (parse_decimal(s, len, &v))
        return -1;
    *out = has_pct || style == KP_PCT_AUTO ? v / 100.0 : v;
    return 0;
}

int kp_value_parse_bool(const char *s, size_t len, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "y", "t"};
    static const char *const no[] = {"0", "false", "no", "n", "f", ""};
    s = kp_value_trim(s, &len);
    for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++)
        if (word_eq(s, len, yes[k])) {
            *out = 1;
            return 0;
        }
    for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
        if (word_eq(s, len, no[k])) {
            *out = 0;
            return 0;
        }
    return -1;
}

int kp_value_parse_month(const char *s, size_t len, kp_date_order order, kp_date *out)
{
    int y, m;
    size_t i = 0;
    s = kp_value_trim(s, &len);
    /* "2024-03" / "2024/03" or "3/2024" / "03/2024"; anything longer is a date. */
    if (len == 7 && (s[4] == '-' || s[4] == '/')) {
        if (read_num(s, len, &i, 4, 4, &y) || (i++, read_num(s, len, &i, 2, 2, &m)) || i != len)
            return -1;
    } else if ((len == 6 || len == 7) && s[len - 5] == '/') {
        if (read_num(s, len, &i, 1, 2, &m) || s[i++] != '/' || read_num(s, len, &i, 4, 4, &y) ||
            i != len)
            return -1;
    } else {
        kp_date d;
        if (kp_value_parse_date(s, len, order, NULL, &d))
            return -1;
        *out = kp_date_month_start(d, 0);
        return 0;
    }
    if (!kp_date_valid(y, m, 1))
        return -1;
    *out = kp_date_from_ymd(y, m, 1);
    return 0;
}
