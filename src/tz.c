/* A small reader of the zone database's TZif files (RFC 8536, versions 1-4) and of the
 * POSIX TZ rule in their footer, which gives the offsets after the last transition
 * listed (Debian ships "fat" files to 2037, but a "slim" file stops at the last rule
 * change). Written here rather than via setenv("TZ") + localtime_r so that a zone is a
 * value: no process-wide state, no dependence on the caller's environment. */
#include "kpipress/tz.h"
#include "kpipress/date.h"
#include "kpipress/limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (256 * 1024)

typedef struct rule_date {
    char kind;  /* 'M' month.week.day, 'J' Julian 1-365 without Feb 29, 'D' 0-365 */
    int m, w, d; /* for 'M'; d also the day number for 'J' and 'D' */
    int32_t time; /* seconds after local midnight */
} rule_date;

typedef struct posix_rule {
    int valid, has_dst;
    int32_t std_off, dst_off; /* seconds east */
    rule_date start, end;
} posix_rule;

struct kp_tz {
    int64_t *trans;
    unsigned char *idx;
    size_t ntrans;
    int32_t *offs;
    unsigned char *isdst;
    size_t ntypes;
    posix_rule rule;
    int32_t fixed; /* used when ntypes == 0 and no rule */
};

/* ---- POSIX TZ strings ("EST5EDT,M3.2.0,M11.1.0") ---------------------------------------- */

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q ? q + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (v3 transition times). */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0};
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        if (i && *p != ':')
            break;
        if (i)
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            part[i] = part[i] * 10 + (*p++ - '0');
        if (part[i] > 167)
            return NULL;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

static const char *parse_rule_date(const char *p, rule_date *r)
{
    r->time = 7200;
    if (*p == 'M') {
        r->kind = 'M';
        if (sscanf(p + 1, "%d.%d.%d", &r->m, &r->w, &r->d) != 3 || r->m < 1 || r->m > 12 ||
            r->w < 1 || r->w > 5 || r->d < 0 || r->d > 6)
            return NULL;
        p++;
        while ((*p >= '0' && *p <= '9') || *p == '.')
            p++;
    } else {
        r->kind = *p == 'J' ? 'J' : 'D';
        if (*p == 'J')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        r->d = 0;
        while (*p >= '0' && *p <= '9')
            r->d = r->d * 10 + (*p++ - '0');
        if (r->d > 365)
            return NULL;
    }
    if (*p == '/' && !(p = parse_hms(p + 1, &r->time)))
        return NULL;
    return p;
}

static int parse_posix(const char *p, posix_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!(p = skip_name(p)) || !(p = parse_hms(p, &off)))
        return -1;
    r->std_off = -off; /* POSIX counts hours west */
    r->dst_off = r->std_off + 3600;
    if (*p) {
        if (!(p = skip_name(p)))
            return -1;
        if (*p && *p != ',') {
            if (!(p = parse_hms(p, &off)))
                return -1;
            r->dst_off = -off;
        }
        if (*p++ != ',' || !(p = parse_rule_date(p, &r->start)) || *p++ != ',' ||
            !(p = parse_rule_date(p, &r->end)) || *p)
            return -1;
        r->has_dst = 1;
    }
    r->valid = 1;
    return 0;
}

/* Local midnight (seconds since epoch, as if UTC) of rule date r in year y. */
static int64_t rule_day(const rule_date *r, int y)
{
    kp_date day;
    if (r->kind == 'M') {
        kp_date first = kp_date_from_ymd(y, r->m, 1);
        int sunday_based = (kp_date_weekday(first) + 1) % 7; /* 0 = Sunday */
        int dom = 1 + (r->d - sunday_based + 7) % 7 + (r->w - 1) * 7;
        while (dom > kp_date_days_in_month(y, r->m))
            dom -= 7;
        day = first + dom - 1;
    } else if (r->kind == 'J') {
        day = kp_date_from_ymd(y, 1, 1) + r->d - 1;
        if (kp_date_is_leap(y) && r->d >= 60)
            day++;
    } else {
        day = kp_date_from_ymd(y, 1, 1) + r->d;
    }
    return (int64_t)day * 86400;
}

static int32_t rule_offset(const posix_rule *r, int64_t utc)
{
    if (!r->has_dst)
        return r->std_off;
    int y;
    int64_t days = utc / 86400 - (utc % 86400 < 0);
    if (days < -700000 || days > 2900000)
        return r->std_off; /* outside years 1..9999 */
    kp_date_to_ymd((kp_date)days, &y, NULL, NULL);
    /* Start is given in standard time, end in daylight time. */
    int64_t start = rule_day(&r->start, y) + r->start.time - r->std_off;
    int64_t end = rule_day(&r->end, y) + r->end.time - r->dst_off;
    int in_dst = start < end ? utc >= start && utc < end : utc < end || utc >= start;
    return in_dst ? r->dst_off : r->std_off;
}

/* ---- TZif ------------------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int parse_tzif(kp_tz *tz, const unsigned char *buf, size_t len)
{
    if (len < 44 || memcmp(buf, "TZif", 4))
        return -1;
    int version = buf[4] ? buf[4] - '0' : 1;
    size_t tsize = 4;
    const unsigned char *h = buf;
    for (int pass = 0;; pass++) {
        if ((size_t)(h - buf) + 44 > len || memcmp(h, "TZif", 4))
            return -1;
        size_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
               timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        size_t body = timecnt * tsize + timecnt + typecnt * 6 + charcnt +
                      leap * (tsize + 4) + isstd + isut;
        if (timecnt > 100000 || typecnt > 256 || (size_t)(h - buf) + 44 + body > len)
            return -1;
        if (pass == 0 && version >= 2) {
            h += 44 + body;
            tsize = 8;
            continue;
        }
        const unsigned char *p = h + 44;
        tz->ntrans = timecnt;
        tz->ntypes = typecnt;
        tz->trans = malloc((timecnt ? timecnt : 1) * sizeof *tz->trans);
        tz->idx = malloc(timecnt ? timecnt : 1);
        tz->offs = malloc((typecnt ? typecnt : 1) * sizeof *tz->offs);
        tz->isdst = malloc(typecnt ? typecnt : 1);
        if (!tz->trans || !tz->idx || !tz->offs || !tz->isdst)
            return -2;
        for (size_t i = 0; i < timecnt; i++, p += tsize)
            tz->trans[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
        for (size_t i = 0; i < timecnt; i++) {
            tz->idx[i] = *p++;
            if (tz->idx[i] >= typecnt)
                return -1;
        }
        for (size_t i = 0; i < typecnt; i++, p += 6) {
            tz->offs[i] = (int32_t)be32(p);
            tz->isdst[i] = p[4];
        }
        p += charcnt + leap * (tsize + 4) + isstd + isut;
        if (version >= 2 && (size_t)(p - buf) < len && *p == '\n') {
            const unsigned char *nl = memchr(p + 1, '\n', len - (size_t)(p + 1 - buf));
            char footer[128];
            size_t n = nl ? (size_t)(nl - p - 1) : 0;
            if (nl && n > 0 && n < sizeof footer) {
                memcpy(footer, p + 1, n);
                footer[n] = '\0';
                if (parse_posix(footer, &tz->rule))
                    return -1;
            }
        }
        return typecnt ? 0 : -1;
    }
}

/* "UTC", "Z", "+02:00", "-0530", "+02": fixed zones without a file. */
static int parse_fixed(const char *name, int32_t *out)
{
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "GMT") ||
        !strcmp(name, "Z")) {
        *out = 0;
        return 0;
    }
    size_t n = strlen(name);
    if ((name[0] != '+' && name[0] != '-') || !(n == 3 || n == 5 || (n == 6 && name[3] == ':')))
        return -1;
    const char *d = name + 1;
    char digits[4] = {d[0], d[1], n > 3 ? name[n - 2] : '0', n > 3 ? name[n - 1] : '0'};
    for (size_t i = 0; i < 4; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return -1;
    int hh = (digits[0] - '0') * 10 + digits[1] - '0', mm = (digits[2] - '0') * 10 + digits[3] - '0';
    if (hh > 14 || mm > 59)
        return -1;
    *out = (name[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return 0;
}

static int valid_name(const char *name)
{
    /* Area/Location names: no absolute paths, no "..", only the characters tzdata uses. */
    if (!*name || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_-+", *p)))
            return 0;
    return 1;
}

kp_err kp_tz_load(const char *name, const char *dir, kp_tz **out, kp_error *e)
{
    kp_err rc;
    unsigned char *buf = NULL;
    FILE *f = NULL;
    *out = NULL;
    kp_tz *tz = calloc(1, sizeof *tz);
    if (!tz)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    if (parse_fixed(name, &tz->fixed) == 0) {
        *out = tz;
        return KP_OK;
    }
    if (!valid_name(name)) {
        rc = kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0,
                          "timezone = %s: not a zone name; use UTC, an offset such as +02:00, "
                          "or an IANA name such as Europe/Paris",
                          name);
        goto fail;
    }
    if (!dir)
        dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[KP_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "rb"))) {
        rc = kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0,
                          "timezone = %s: unknown time zone (%s: %s); use an IANA name such as "
                          "America/New_York (install the tzdata package if %s is empty)",
                          name, path, strerror(errno), dir);
        goto fail;
    }
    if (!(buf = malloc(TZ_MAX_FILE))) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto fail;
    }
    size_t len = fread(buf, 1, TZ_MAX_FILE, f);
    int r = parse_tzif(tz, buf, len);
    if (r == -2) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto fail;
    }
    if (r) {
        rc = kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0,
                          "timezone = %s: %s is not a valid zone file (TZif)", name, path);
        goto fail;
    }
    fclose(f);
    free(buf);
    *out = tz;
    return KP_OK;
fail:
    if (f)
        fclose(f);
    free(buf);
    kp_tz_free(tz);
    return rc;
}

void kp_tz_free(kp_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->idx);
    free(tz->offs);
    free(tz->isdst);
    free(tz);
}

int32_t kp_tz_offset(const kp_tz *tz, int64_t utc)
{
    if (!tz)
        return 0;
    if (!tz->ntypes)
        return tz->fixed;
    if (tz->ntrans == 0 && tz->rule.valid)
        return rule_offset(&tz->rule, utc);
    if (tz->ntrans == 0 || utc < tz->trans[0]) {
        /* Before the first transition: the first standard-time type (RFC 8536 3.2). */
        for (size_t i = 0; i < tz->ntypes; i++)
            if (!tz->isdst[i])
                return tz->offs[i];
        return tz->offs[0];
    }
    if (utc >= tz->trans[tz->ntrans - 1] && tz->rule.valid)
        return rule_offset(&tz->rule, utc);
    size_t lo = 0, hi = tz->ntrans; /* last transition <= utc */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offs[tz->idx[lo]];
}
