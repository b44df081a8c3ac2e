/* Calendar dates as a day number (days since 1970-01-01, proleptic Gregorian), and the
 * arithmetic the period logic needs. No time zone, no clock: a date is a date. */
#ifndef KPIPRESS_DATE_H
#define KPIPRESS_DATE_H

#include <stdint.h>
#include <stddef.h>

typedef int32_t kp_date;

#define KP_DATE_ISO_LEN 10 /* "YYYY-MM-DD" */

/* Day number of y-m-d. Caller guarantees a valid date (see kp_date_valid). */
kp_date kp_date_from_ymd(int y, int m, int d);

/* Inverse of kp_date_from_ymd. Any out pointer may be NULL. */
void kp_date_to_ymd(kp_date date, int *y, int *m, int *d);

/* 1 if y-m-d is a real calendar date in years 1..9999. */
int kp_date_valid(int y, int m, int d);

int kp_date_is_leap(int y);
int kp_date_days_in_month(int y, int m);

/* Parse exactly "YYYY-MM-DD" (len bytes, no surrounding space). Returns 0 on success,
 * -1 if the text is not that shape or not a real date (2024-02-30 is refused). */
int kp_date_parse_iso(const char *s, size_t len, kp_date *out);

/* Write "YYYY-MM-DD" and a NUL into buf (at least 11 bytes). Returns buf. */
char *kp_date_format_iso(kp_date date, char *buf);

/* First day of the month that is `months` months after the month of `date`
 * (months may be negative). */
kp_date kp_date_month_start(kp_date date, int months);

/* 0=Monday .. 6=Sunday (ISO). */
int kp_date_weekday(kp_date date);

#endif
