/* The inih adapter: the one module that includes <ini.h>. It delivers each key with its
 * line number, tells a continuation line from a new key, reports section headers even when
 * they hold no keys, and turns inih's silent truncations into errors. */
#ifndef KPIPRESS_INI_H
#define KPIPRESS_INI_H

#include "kpipress/err.h"

typedef struct kp_ini_handler {
    /* Called at each "[section]" line. Return KP_OK or set e and return an error. */
    kp_err (*on_section)(void *user, const char *section, long line, kp_error *e);
    /* Called for each "key = value". continuation != 0 when the line is an indented
     * continuation of the previous key (value holds only the new line's text). */
    kp_err (*on_key)(void *user, const char *section, const char *key, const char *value,
                     long line, int continuation, kp_error *e);
} kp_ini_handler;

/* Parse path. On any syntax error, over-long line, or handler error, fills e (with file
 * and line) and returns its code. Comments: lines starting with ';' or '#', and " ;"
 * (space, semicolon) inline. */
kp_err kp_ini_parse(const char *path, const kp_ini_handler *h, void *user, kp_error *e);

/* Same on a NUL-terminated buffer; name is used in error messages. */
kp_err kp_ini_parse_string(const char *name, const char *text, const kp_ini_handler *h,
                           void *user, kp_error *e);

#endif
