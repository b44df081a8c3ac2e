/* A small SQL expression evaluator with SQLite's semantics, for the expressions the
 * metric scans evaluate on every row (is_won, NOT is_closed, created_date IS NOT NULL,
 * julianday(close_date) - julianday(created_date), amount_cents * coalesce(probability,
 * 0), type = 'New Business', ...). SQLite hands out the raw columns and C evaluates them:
 * much cheaper than SQLite's interpreter, and the same values bit for bit.
 *
 * Only a subset is compiled: columns, integer and string literals, NULL, parentheses,
 * NOT AND OR, IS [NOT] NULL, = == != <> < <= > >=, + - * and unary minus, coalesce() and
 * julianday(). Anything else does not compile (the caller leaves that expression to
 * SQLite). A compiled expression may still meet a row it cannot evaluate exactly as
 * SQLite would (text where a number is needed, a comparison of an integer with a real or
 * of text that might read as a number, an integer overflow, a date that is not a valid
 * 'YYYY-MM-DD'): kp_expr_eval then returns -1 and the caller evaluates in SQLite. */
#ifndef KPIPRESS_EXPR_H
#define KPIPRESS_EXPR_H

#include "kpipress/store.h"

#include <stddef.h>
#include <stdint.h>

/* One value as SQLite holds it: t, and i (integer), d (real) or s/n (text, n bytes). */
typedef struct {
    kp_coltype t;
    int64_t i;
    double d;
    const char *s;
    size_t n;
} kp_xval;

typedef struct kp_expr kp_expr;

/* The slot (>= 0) in the row of column `name` (len bytes, not NUL-terminated), or -1
 * when it is not a column of the relation (the expression then does not compile). */
typedef int (*kp_expr_column_fn)(void *ctx, const char *name, size_t len);

/* The compiled expression, or NULL when it is outside the subset (*oom set when out of
 * memory instead). Columns' collations must be BINARY (the caller checks). */
kp_expr *kp_expr_compile(const char *sql, kp_expr_column_fn column, void *ctx, int *oom);
void kp_expr_free(kp_expr *x); /* NULL-safe */

/* The value of x on the row (slots as column() numbered them): 0, or -1 when SQLite must
 * evaluate it. A text result points into the row or into x. */
int kp_expr_eval(const kp_expr *x, const kp_xval *row, kp_xval *out);

/* Whether x holds on the row, as CASE WHEN x reads it (NULL: no): 1 or 0, or -1 when
 * SQLite must evaluate it. */
int kp_expr_holds(const kp_expr *x, const kp_xval *row);

#endif
