/* Error codes and the one message carrier. Formatting lives here so that every error
 * printed by main.c has the same "file:line:column: message" shape editors understand. */
#include "kpipress/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kp_strerror(kp_err code)
{
    switch (code) {
    case KP_OK: return "success";
    case KP_ERR_USAGE: return "usage error";
    case KP_ERR_CONFIG: return "configuration error";
    case KP_ERR_DATA: return "data error";
    case KP_ERR_IO: return "I/O error";
    case KP_ERR_NOMEM: return "out of memory";
    case KP_ERR_LOCKED: return "database locked";
    case KP_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

int kp_err_exit_status(kp_err code)
{
    switch (code) {
    case KP_OK: return 0;
    case KP_ERR_DATA: return 1;
    case KP_ERR_USAGE:
    case KP_ERR_CONFIG: return 2;
    default: return 3;
    }
}

kp_err kp_error_set(kp_error *e, kp_err code, const char *file, long line, long column,
                    const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    e->line = line;
    e->column = column;
    e->key[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void kp_error_key(kp_error *e, const char *key)
{
    if (e)
        snprintf(e->key, sizeof e->key, "%s", key ? key : "");
}

void kp_error_clear(kp_error *e)
{
    if (e)
        memset(e, 0, sizeof *e);
}

void kp_error_format(const kp_error *e, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    if (e->file[0]) {
        n += (size_t)snprintf(buf + n, size - n, "%s:", e->file);
        if (n < size && e->line > 0)
            n += (size_t)snprintf(buf + n, size - n, "%ld:", e->line);
        if (n < size && e->column > 0)
            n += (size_t)snprintf(buf + n, size - n, "%ld:", e->column);
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, " ");
    }
    if (n < size && e->key[0])
        n += (size_t)snprintf(buf + n, size - n, "%s: ", e->key);
    if (n < size)
        snprintf(buf + n, size - n, "%s", e->msg);
}
