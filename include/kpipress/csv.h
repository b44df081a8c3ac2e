/* The libcsv adapter: the one module that includes <csv.h>. Reading streams a file in
 * 64 KiB blocks in strict mode and hands each record to a callback with its 1-based
 * physical line number; writing quotes fields RFC 4180 style. */
#ifndef KPIPRESS_CSV_H
#define KPIPRESS_CSV_H

#include "kpipress/err.h"
#include <stdio.h>
#include <stddef.h>

typedef struct kp_csv_record {
    size_t nfields;
    const char *const *fields; /* NUL-terminated; valid only during the callback */
    const size_t *lens;
    long line;                 /* physical line where the record starts */
    long end_line;             /* physical line where it ends (multi-line quoted fields) */
    /* Every field lies within bytes[0..nbytes), with only ASCII bytes between them
     * (delimiters, quotes, NULs): one pass over it tells whether the whole record is
     * ASCII. NULL when unknown. */
    const char *bytes;
    size_t nbytes;
} kp_csv_record;

typedef struct kp_csv_options {
    char delimiter;       /* ',', ';', '\t'; 0 = detect from the header line */
    size_t max_field;     /* 0 = KP_CSV_MAX_FIELD */
    size_t max_columns;   /* 0 = KP_CSV_MAX_COLUMNS */
    int libcsv_only;      /* tests: every line through libcsv, none split by the fast path */
} kp_csv_options;

/* Return KP_OK to continue, anything else (with e set) to stop. */
typedef kp_err (*kp_csv_record_fn)(void *user, const kp_csv_record *rec, kp_error *e);

/* Read path record by record. A leading UTF-8 BOM is skipped. Malformed quoting, NUL
 * bytes, a field over max_field, more than max_columns fields: error with file, line and
 * column. Returns the callback's error unchanged. The detected delimiter is stored in
 * *used_delimiter if non-NULL. */
kp_err kp_csv_read(const char *path, const kp_csv_options *opt, kp_csv_record_fn fn,
                   void *user, char *used_delimiter, kp_error *e);

/* Write one record (fields may be NULL = empty) followed by "\n". Fields
 * containing the delimiter, a quote, CR or LF are quoted; a field a spreadsheet would take
 * for a formula (starts with = + - @ tab or CR and is not a plain number) is written with a
 * leading apostrophe. Returns 0 or -1 (errno). */
int kp_csv_write_record(FILE *f, size_t n, const char *const *fields);

#endif
