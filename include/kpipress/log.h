/* Progress and warnings on stderr. Errors are not logged here: they travel up in a
 * kp_error to main.c. Warnings (a truncated cell, a replaced glyph, a skipped row) are
 * things the run survives but a reader should know. */
#ifndef KPIPRESS_LOG_H
#define KPIPRESS_LOG_H

/* 0 normal, 1 quiet (warnings only), 2 silent (tests). */
void kp_log_set_level(int quiet);

/* Number of warnings emitted so far (for the run summary). */
long kp_log_warnings(void);

void kp_log_warn(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void kp_log_info(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
