/* Time zones for the load stage: the job's `timezone` is UTC, a fixed offset ("+02:00")
 * or an IANA name ("America/New_York") read from the system zone database (TZif files
 * under /usr/share/zoneinfo, Debian package tzdata), so that an instant from an export is
 * turned into the calendar date of the job's zone, daylight saving time included. */
#ifndef KPIPRESS_TZ_H
#define KPIPRESS_TZ_H

#include "kpipress/err.h"
#include <stdint.h>

typedef struct kp_tz kp_tz;

/* Load zone `name`. `dir` is the zone database (NULL = $TZDIR or /usr/share/zoneinfo).
 * Errors (unknown name, unreadable or malformed file) are KP_ERR_CONFIG with a message
 * naming the zone. *out is freed with kp_tz_free. */
kp_err kp_tz_load(const char *name, const char *dir, kp_tz **out, kp_error *e);
void kp_tz_free(kp_tz *tz); /* NULL-safe */

/* Offset from UTC in seconds (east positive) in effect at the instant `utc` (seconds
 * since 1970-01-01T00:00:00Z). A NULL zone is UTC. */
int32_t kp_tz_offset(const kp_tz *tz, int64_t utc);

#endif
