/* stderr logging with a quiet switch. One line per message, prefixed so that a
 * scheduler's mail or journal shows where it came from. */
#include "kpipress/log.h"

#include <stdarg.h>
#include <stdio.h>

static int level;
static long warnings;

void kp_log_set_level(int quiet)
{
    level = quiet;
}

long kp_log_warnings(void)
{
    return warnings;
}

void kp_log_warn(const char *fmt, ...)
{
    warnings++;
    if (level >= 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("kpipress: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void kp_log_info(const char *fmt, ...)
{
    if (level >= 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("kpipress: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
