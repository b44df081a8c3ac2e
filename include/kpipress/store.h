/* The SQLite adapter: the one module that includes <sqlite3.h>. A kp_store is one open
 * job database; kp_stmt is a prepared statement. Every value from an export is bound,
 * never spliced into SQL. Template SQL runs with kp_store_set_readonly() on. */
#ifndef KPIPRESS_STORE_H
#define KPIPRESS_STORE_H

#include "kpipress/err.h"
#include "kpipress/vars.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kp_store kp_store;
typedef struct kp_stmt kp_stmt;

typedef enum { KP_COL_NULL, KP_COL_INTEGER, KP_COL_REAL, KP_COL_TEXT, KP_COL_BLOB } kp_coltype;

enum { KP_STORE_CREATE = 1, KP_STORE_READONLY = 2, KP_STORE_MEMORY = 4 };

/* Open (and with KP_STORE_CREATE create) the database at path; ":memory:" or
 * KP_STORE_MEMORY for a private in-memory one. Double-quoted string literals are
 * disabled, foreign keys on, trusted_schema off. */
kp_err kp_store_open(const char *path, int flags, kp_store **out, kp_error *e);
void kp_store_close(kp_store *s); /* NULL-safe; finalize your statements first */

/* Run one or more ';'-separated statements that return no rows. */
kp_err kp_store_exec(kp_store *s, const char *sql, kp_error *e);

/* The page cache set to size, in SQLite's units (pages; KiB when negative), *old (when
 * given) getting the size it had: a stage that wants another cache sets its own and gives
 * the old one back with kp_store_cache_restore. */
kp_err kp_store_cache_size(kp_store *s, int64_t size, int64_t *old, kp_error *e);
/* The size kp_store_cache_size gave as old; 0 (it was never read) does nothing. */
void kp_store_cache_restore(kp_store *s, int64_t old);

kp_err kp_store_begin(kp_store *s, kp_error *e);
kp_err kp_store_commit(kp_store *s, kp_error *e);
void kp_store_rollback(kp_store *s); /* safe when no transaction is open */

/* Read the database file through a memory map from now on (PRAGMA mmap_size), once per
 * connection. For a burst: each document's queries visit one rep's rows, scattered over
 * the whole table, and a page read from the map costs no read() and no copy into
 * SQLite's cache (a fifth of a scorecard's CPU time). The run holds the database lock,
 * so the file does not shrink under the map. ":memory:" is left as it is. */
kp_err kp_store_map_reads(kp_store *s, kp_error *e);

/* With on != 0 an authorizer refuses writes, ATTACH/DETACH, and state-changing PRAGMAs. */
void kp_store_set_readonly(kp_store *s, int on);

/* Prepare exactly one statement; trailing text other than whitespace/';' is an error.
 * `origin` (file name, may be NULL) and `line` locate the SQL in error messages. */
kp_err kp_store_prepare(kp_store *s, const char *sql, const char *origin, long line,
                        kp_stmt **out, kp_error *e);
void kp_stmt_finalize(kp_stmt *st); /* NULL-safe; a cached statement goes back to the cache */

/* Like kp_store_prepare, for SQL run many times on this connection (template queries,
 * once per burst document): the store keeps the compiled statement, and the next call
 * with the same text, origin and line (and read-only setting) returns it, reset, instead
 * of compiling it again. Release it with kp_stmt_finalize; kp_store_close finalizes the
 * cache. A statement still handed out is not returned twice: the same SQL twice at once
 * gets a second statement. */
kp_err kp_store_prepare_cached(kp_store *s, const char *sql, const char *origin, long line,
                               kp_stmt **out, kp_error *e);

/* Bind by 1-based index. Text is copied (SQLITE_TRANSIENT). */
kp_err kp_stmt_bind_null(kp_stmt *st, int idx);
kp_err kp_stmt_bind_int64(kp_stmt *st, int idx, int64_t v);
kp_err kp_stmt_bind_double(kp_stmt *st, int idx, double v);
kp_err kp_stmt_bind_text(kp_stmt *st, int idx, const char *text, size_t len);
/* Text that is NOT copied: it must stay valid until the statement is reset or the
 * parameter bound again (bulk inserts bind from a batch that outlives the step). */
kp_err kp_stmt_bind_text_static(kp_stmt *st, int idx, const char *text, size_t len);

/* Bind every :name / @name / $name parameter of the statement from vars. A parameter
 * with no entry in vars is an error naming it; NULL values bind NULL. */
kp_err kp_stmt_bind_vars(kp_stmt *st, const kp_vars *vars, kp_error *e);

/* 1 = a row is ready, 0 = done, -1 = error (e filled). */
int kp_stmt_step(kp_stmt *st, kp_error *e);
void kp_stmt_reset(kp_stmt *st); /* reset and clear bindings */
/* Reset and keep the bindings, for a caller that binds every parameter before each step
 * (clearing costs a pass over all of them, a tenth of a multi-row insert's binding). */
void kp_stmt_reset_keep(kp_stmt *st);

int kp_stmt_column_count(kp_stmt *st);
const char *kp_stmt_column_name(kp_stmt *st, int col);
/* Declared type of a result column ("INTEGER", "TEXT"...) or NULL for expressions. */
const char *kp_stmt_column_decltype(kp_stmt *st, int col);
kp_coltype kp_stmt_column_type(kp_stmt *st, int col);
int64_t kp_stmt_column_int64(kp_stmt *st, int col);
double kp_stmt_column_double(kp_stmt *st, int col);
/* Valid until the next step/reset/finalize. NULL for SQL NULL. */
const char *kp_stmt_column_text(kp_stmt *st, int col);
size_t kp_stmt_column_bytes(kp_stmt *st, int col); /* of the text, after column_text */

/* Convenience: first column of the first row as int64 (def if no row or NULL). */
kp_err kp_store_query_int64(kp_store *s, const char *sql, const kp_vars *vars, int64_t def,
                            int64_t *out, kp_error *e);

/* Library version string, for --version. */
const char *kp_store_library_version(void);

#endif
