/* libFuzzer target: the value parsers (dates, months, money, percentages, booleans) on
 * arbitrary bytes. The first byte picks the parser and its options; the rest is the text,
 * passed with its length and without a NUL so that a read past the end is caught. */
#include "fuzz.h"
#include "kpipress/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    char *s = fuzz_copy(data + 1, size - 1);
    size_t len = size - 1;
    if (!s)
        return 0;
    kp_date d;
    int64_t cents;
    char cur[4];
    double pct;
    int b;
    kp_date_order order = (sel & 8) ? KP_DATES_DMY : KP_DATES_AUTO;
    switch (sel % 5) {
    case 0: kp_value_parse_date(s, len, order, NULL, &d); break;
    case 1: kp_value_parse_month(s, len, order, &d); break;
    case 2:
        if (kp_value_parse_money(s, len, (sel >> 4) & 1, &cents, cur) == 0 && strlen(cur) > 3)
            abort(); /* the currency code must fit its 4 bytes */
        break;
    case 3:
        kp_value_parse_percent(s, len, (sel >> 4) & 1 ? KP_PCT_FRACTION : KP_PCT_AUTO, &pct);
        break;
    case 4: kp_value_parse_bool(s, len, &b); break;
    }
    size_t tl = len;
    kp_value_trim(s, &tl);
    free(s);
    return 0;
}
