/* kpipress error type: one code enum, one message carrier with file/line/column context.
 * Every function that can fail on data takes a kp_error * and fills it; only main.c prints. */
#ifndef KPIPRESS_ERR_H
#define KPIPRESS_ERR_H

#include <stddef.h>

typedef enum {
    KP_OK = 0,
    KP_ERR_USAGE,  /* bad command line or job/template configuration: exit 2 */
    KP_ERR_CONFIG, /* job or template file invalid: exit 2 */
    KP_ERR_DATA,   /* input data rejected (malformed CSV, rejects over threshold): exit 1 */
    KP_ERR_IO,     /* file system, database, environment: exit 3 */
    KP_ERR_NOMEM,  /* allocation failed: exit 3 */
    KP_ERR_LOCKED, /* another run holds the database lock: exit 3 */
    KP_ERR_INTERNAL
} kp_err;

#define KP_ERROR_MSG_MAX 1024

typedef struct kp_error {
    kp_err code;
    char file[512]; /* file the error is about ("" if none) */
    long line;      /* 1-based line, 0 if none */
    long column;    /* 1-based column, 0 if none */
    char key[128];  /* INI key or CSV column name, "" if none */
    char msg[KP_ERROR_MSG_MAX];
} kp_error;

/* Short human name of a code ("data error"). Never NULL. */
const char *kp_strerror(kp_err code);

/* Process exit status for a code, as documented in README (0,1,2,3). */
int kp_err_exit_status(kp_err code);

/* Fill e (if non-NULL) and return code. file may be NULL; line/column 0 when unknown.
 * The message is printf-formatted. A second call overwrites the first. */
kp_err kp_error_set(kp_error *e, kp_err code, const char *file, long line, long column,
                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Attach a key/column name to an error already set. */
void kp_error_key(kp_error *e, const char *key);

/* Reset to KP_OK with empty fields. */
void kp_error_clear(kp_error *e);

/* Format "file:line:col: [key] message" into buf (what main.c prints). */
void kp_error_format(const kp_error *e, char *buf, size_t size);

#endif
