/* Named values (job name, period bounds, burst-row columns) that templates use as
 * {placeholders} in text and file names, and as :named parameters in SQL. */
#ifndef KPIPRESS_VARS_H
#define KPIPRESS_VARS_H

#include "kpipress/err.h"
#include <stddef.h>

typedef struct kp_vars {
    size_t count, cap;
    char **names;
    char **values; /* NULL value = SQL NULL / empty text */
} kp_vars;

/* Set name to value (copied; value may be NULL). Replaces an existing name. */
kp_err kp_vars_set(kp_vars *v, const char *name, const char *value);

/* Value of name, or NULL if absent (check kp_vars_has to tell NULL from absent). */
const char *kp_vars_get(const kp_vars *v, const char *name);
int kp_vars_has(const kp_vars *v, const char *name);

/* Copy every entry of src into dst (src wins on clashes). */
kp_err kp_vars_merge(kp_vars *dst, const kp_vars *src);

/* Free all entries; v itself is caller-owned and left empty and reusable. NULL-safe. */
void kp_vars_clear(kp_vars *v);

/* Replace each {name} in text with its value. "{{" and "}}" are literal braces.
 * An unknown name is an error naming it. *out is malloc'd; caller frees. */
kp_err kp_vars_expand(const kp_vars *v, const char *text, char **out, kp_error *e);

/* Make one path component safe: drops '/', '\\', control characters and leading dots,
 * maps Windows reserved device names (CON, NUL, COM1...) to _CON, never returns "" or
 * "..". Writes at most size-1 bytes plus NUL into out. */
void kp_vars_sanitize_component(const char *in, char *out, size_t size);

#endif
