/* Bulk insert of typed rows into SQLite for the load stage: rows are queued in batches
 * and written with multi-row INSERT statements, optionally by a second thread, so that
 * parsing one batch overlaps inserting the previous one. Each row has a kind (one INSERT
 * per kind, e.g. a source table and dq_issues). Memory is a fixed number of batches,
 * independent of the number of rows. */
#ifndef KPIPRESS_BULK_H
#define KPIPRESS_BULK_H

#include "kpipress/err.h"
#include "kpipress/store.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kp_bulk kp_bulk;

#define KP_BULK_MAX_KINDS 4
#define KP_BULK_MAX_COLS 24
#define KP_BULK_MAX_REFS 1024 /* interned texts of one kp_bulk */

/* A value of a queued row, as the consumer sees it (text is NUL-terminated). */
typedef struct kp_bulk_value {
    enum { KP_BV_NULL, KP_BV_INT, KP_BV_REAL, KP_BV_TEXT } type;
    int64_t i;
    double d;
    const char *s;
    size_t n;
} kp_bulk_value;

/* Called on the inserting thread when a row of a kind with a unique key fails its
 * constraint (a duplicate): the row is not stored; the callback may record it (it may
 * use the store: it runs where the store is used). */
typedef kp_err (*kp_bulk_dup_fn)(void *user, int kind, long line, const kp_bulk_value *row,
                                 kp_error *e);

typedef struct kp_bulk_kind {
    const char *insert;  /* "INSERT INTO t(a, b, c)": VALUES lists are appended */
    int ncols;
    size_t rows_per_stmt; /* rows per multi-row statement (1 = single-row) */
    kp_bulk_dup_fn on_dup; /* NULL: a constraint failure is an error */
    /* Non-NULL: the first column's value in every row (e.g. a load's as-of date), bound
     * once as ?1 of every statement; rows then queue only the other ncols - 1 values, and
     * on_dup still sees all ncols. NUL-terminated; must outlive the kp_bulk. */
    const char *shared_first;
} kp_bulk_kind;

/* Prepare the statements of nkinds kinds on s. threaded != 0 starts an inserting
 * thread: from then until kp_bulk_finish, the caller must not use s. */
kp_err kp_bulk_open(kp_store *s, const kp_bulk_kind *kinds, size_t nkinds, int threaded,
                    void *user, kp_bulk **out, kp_error *e);

/* Queue one row: kp_bulk_row, then exactly ncols values (ncols - 1 with shared_first),
 * then kp_bulk_end. Text is copied. kp_bulk_end returns an error the inserter met (then stop). */
void kp_bulk_row(kp_bulk *b, int kind, long line);
void kp_bulk_null(kp_bulk *b);
void kp_bulk_int(kp_bulk *b, int64_t v);
void kp_bulk_real(kp_bulk *b, double v);
void kp_bulk_text(kp_bulk *b, const char *s, size_t n);
kp_err kp_bulk_end(kp_bulk *b, kp_error *e);

/* Text that recurs in many rows (a stage, a category, the currency) can be interned once
 * and queued by handle: a statement's parameter that holds the same handle as in the
 * previous statement is not bound again. kp_bulk_intern copies s[0..n) for the life of
 * b and returns its handle, or -1 when KP_BULK_MAX_REFS texts are interned already or
 * memory ran out (queue the text with kp_bulk_text then). Interning does not look for an
 * equal text: the caller keeps its handles. kp_bulk_interned gives a handle's text
 * (NUL-terminated) and length; kp_bulk_ref queues it as the row's next value. */
int kp_bulk_intern(kp_bulk *b, const char *s, size_t n);
const char *kp_bulk_interned(const kp_bulk *b, int handle, size_t *n);
void kp_bulk_ref(kp_bulk *b, int handle);

/* Insert what is queued now (unthreaded use: before the caller queries the store). */
kp_err kp_bulk_flush(kp_bulk *b, kp_error *e);

/* Insert everything queued, stop the thread; the first error met, if any. */
kp_err kp_bulk_finish(kp_bulk *b, kp_error *e);

/* Rows of kind that were inserted (duplicates excluded), after kp_bulk_finish. */
long kp_bulk_inserted(const kp_bulk *b, int kind);

void kp_bulk_free(kp_bulk *b); /* NULL-safe; stops the thread if still running */

#endif
