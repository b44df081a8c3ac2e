/* Report e-mails: one RFC 5322 / MIME message (.eml) per recipient with the rendered
 * document attached, byte-identical across runs (Date from the as-of date, Message-ID and
 * MIME boundary from a hash), and a way to hand a message to the site's mail command. */
#ifndef KPIPRESS_EMAIL_H
#define KPIPRESS_EMAIL_H

#include "kpipress/date.h"
#include "kpipress/err.h"

#include <stdio.h>

/* One message. All text is UTF-8; the caller keeps every string alive during the call.
 * A CR or LF in any header value (names, subject, file name, addresses) is refused with
 * KP_ERR_DATA rather than written, so CRM data can never add a header. */
typedef struct kp_email {
    const char *from_name;       /* display name or NULL */
    const char *from_addr;       /* required; its domain names the Message-ID */
    const char *to_name;         /* display name or NULL */
    const char *to_addr;         /* required */
    const char *subject;         /* NULL = empty */
    const char *body;            /* plain text, '\n' or "\r\n" line ends; NULL = empty */
    const char *attachment_path; /* file to attach, or NULL for a text-only message */
    const char *attachment_name; /* file name the reader sees; NULL = basename of the path */
    const char *attachment_type; /* MIME type; NULL = "application/pdf" */
    const char *report;          /* report name: with key, as_of and to_addr it makes the */
    const char *key;             /* Message-ID (key may be NULL, e.g. the burst row key) */
    kp_date as_of;               /* Date: header is the as-of date at 06:00:00 +0000 */
} kp_email;

/* KP_OK if addr is a plain addr-spec kpipress will write: one '@', non-empty local part
 * and domain, printable ASCII only, no spaces, angle brackets, quotes, commas, semicolons,
 * parentheses or backslashes, at most 254 bytes. Otherwise KP_ERR_DATA naming it. */
kp_err kp_email_check_address(const char *addr, kp_error *e);

/* Validate m completely, then write the message to f with CRLF line ends. Nothing is
 * written when validation fails. Errors: KP_ERR_DATA (bad header value or address),
 * KP_ERR_IO (attachment unreadable, write failed). */
kp_err kp_email_write(FILE *f, const kp_email *m, kp_error *e);

/* kp_email_write into path through a temporary file and rename (see deliver.h). */
kp_err kp_email_write_file(const char *path, const kp_email *m, kp_error *e);

/* Run `/bin/sh -c command` with the message file eml_path on its standard input (no
 * popen: the file itself is the child's stdin, so nothing can block on a pipe) and wait.
 * *status (if non-NULL) gets the exit status, or 128 + signal number. Returns KP_OK for
 * status 0, otherwise KP_ERR_IO naming the file and status; the caller reports failures
 * per recipient and goes on with the next. */
kp_err kp_email_send(const char *command, const char *eml_path, int *status, kp_error *e);

#endif
