/* The scan expression evaluator against SQLite itself: random rows (NULLs, integers near
 * the overflow limits, reals, dates valid and not, text that reads as a number) and the
 * expressions of the default metric library and more; every value the evaluator gives
 * must be SQLite's, type and bits; on clean rows it must give all of them. */
#include "test.h"

#include "kpipress/expr.h"
#include "kpipress/rng.h"
#include "kpipress/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const cols[] = {"is_won",      "is_closed",    "amount_cents",
                                   "probability", "created_date", "close_date",
                                   "type",        "anything",     NULL};

static int column(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    for (int k = 0; cols[k]; k++)
        if (strlen(cols[k]) == len && !strncasecmp(cols[k], name, len))
            return k;
    return -1;
}

static const char *const exprs[] = {
    /* templates/metrics.ini */
    "is_won", "is_closed AND NOT is_won", "is_won AND created_date IS NOT NULL",
    "is_closed AND created_date IS NOT NULL", "NOT is_closed", "is_won AND type = 'New Business'",
    "amount_cents", "julianday(close_date) - julianday(created_date)",
    "amount_cents * coalesce(probability, 0)", "is_won AND amount_cents >= 5000000",
    /* more of the subset */
    "is_won OR is_closed", "NOT (is_won OR probability)", "probability AND NOT amount_cents",
    "amount_cents + amount_cents", "amount_cents - 1", "-amount_cents", "- probability",
    "amount_cents * amount_cents", "probability * 100 + amount_cents", "coalesce(anything, 7, 8)",
    "anything IS NULL", "anything = 'x'", "anything <> 5", "type < 'O'", "type >= 'New'",
    "type == 'New Business' OR type != 'Renewal'", "created_date < close_date",
    "julianday(anything)", "julianday(close_date)", "julianday(created_date) * 3",
    "julianday('2024-02-29') - julianday(created_date)", "coalesce(amount_cents, 0) > 0",
    "created_date >= '2024-01-01'", "amount_cents < 100 = 1", "NULL", "is_won AND NULL",
    "NULL OR is_won", "NOT NULL", "coalesce(NULL, 'it''s')", "9223372036854775807 + amount_cents",
    "(((is_won)))", "+amount_cents", NULL};

/* Not in the subset: no compiled expression. */
static const char *const refused[] = {"amount_cents / 2",
                                      "amount_cents % 2",
                                      "type || 'x'",
                                      "type LIKE 'N%'",
                                      "is_won IN (1, 2)",
                                      "0.5 * amount_cents",
                                      "CASE WHEN is_won THEN 1 END",
                                      "abs(amount_cents)",
                                      "rowid",
                                      "TRUE",
                                      "nosuch",
                                      "is_won BETWEEN 0 AND 1",
                                      "type = 'x' COLLATE NOCASE",
                                      "amount_cents -- x",
                                      "julianday()",
                                      "coalesce(is_won)",
                                      "is_won IS 1",
                                      "99999999999999999999",
                                      "'open",
                                      "1e3",
                                      "0x10",
                                      "amount_cents = NOT is_won",
                                      NULL};

static void fill(kp_store *s, int clean)
{
    kp_error e = {0};
    kp_rng r;
    kp_rng_seed(&r, clean ? 21 : 22, 0);
    static const char *const dates[] = {"'2024-02-29'", "'2023-12-31'", "'2000-01-01'",
                                        "'1999-03-01'", "'2024-01-15'", "'2100-02-28'"};
    static const char *const bad_dates[] = {
        "'2023-02-29'", "'2024-13-01'", "'2024-1-5'",    "'2024-01-15 10:00'",
        "'now'",        "2460000.5",    "'+2024-01-01'", "''"};
    static const char *const types[] = {"'New Business'", "'Renewal'", "'New'", "'O'", "NULL"};
    static const char *const any[] = {"'x'", "5", "5.0", "'5'", "' 12'", "NULL", "'-'", "x'00'"};
    static const char *const probs[] = {"0.25", "NULL", "0.0", "1e300", "-0.5", "0.1"};
    for (int i = 0; i < 3000; i++) {
        char sql[1024];
        int bad = !clean && kp_rng_next(&r) % 4 == 0;
        const char *cd = bad ? bad_dates[kp_rng_next(&r) % 8] : dates[kp_rng_next(&r) % 6];
        const char *created = kp_rng_next(&r) % 5 ? dates[kp_rng_next(&r) % 6] : "NULL";
        long long amount = (long long)(kp_rng_next(&r) % 20000000) - 1000;
        if (!clean && kp_rng_next(&r) % 10 == 0)
            amount = kp_rng_next(&r) % 2 ? 9223372036854775807LL : -9223372036854775807LL - 1;
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, %d, %s, %s, %s, %s, %s, %s)",
                 (int)(kp_rng_next(&r) % 2), (int)(kp_rng_next(&r) % 3) - (clean ? 0 : 1),
                 kp_rng_next(&r) % 9 ? (snprintf(sql + 900, 60, "%lld", amount), sql + 900)
                                     : "NULL",
                 probs[kp_rng_next(&r) % (clean ? 3 : 6)], created, cd, types[kp_rng_next(&r) % 5],
                 clean ? "NULL" : any[kp_rng_next(&r) % 8]);
        assert_int_equal(kp_store_exec(s, sql, &e), KP_OK);
    }
}

static void read_row(kp_stmt *st, int first, kp_xval *row)
{
    for (int k = 0; cols[k]; k++) {
        kp_xval v = {kp_stmt_column_type(st, first + k), 0, 0, NULL, 0};
        if (v.t == KP_COL_INTEGER)
            v.i = kp_stmt_column_int64(st, first + k);
        else if (v.t == KP_COL_REAL)
            v.d = kp_stmt_column_double(st, first + k);
        else if (v.t == KP_COL_TEXT || v.t == KP_COL_BLOB) {
            v.s = kp_stmt_column_text(st, first + k);
            v.n = kp_stmt_column_bytes(st, first + k);
        }
        row[k] = v;
    }
}

/* Every expression on every row: SQLite's value and CASE WHEN's reading of it vs the
 * evaluator's. Returns the rows the evaluator refused. */
static long differential(kp_store *s)
{
    kp_error e = {0};
    long refusals = 0, compared = 0;
    for (int x = 0; exprs[x]; x++) {
        int oom = 0;
        kp_expr *cx = kp_expr_compile(exprs[x], column, NULL, &oom);
        if (!cx)
            fail_msg("did not compile: %s", exprs[x]);
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "SELECT %s, CASE WHEN (%s) THEN 1 ELSE 0 END, is_won, is_closed, amount_cents,"
                 " probability, created_date, close_date, type, anything FROM t ORDER BY rowid",
                 exprs[x], exprs[x]);
        kp_stmt *st = NULL;
        assert_int_equal(kp_store_prepare(s, sql, NULL, 0, &st, &e), KP_OK);
        while (kp_stmt_step(st, &e) == 1) {
            kp_xval row[8], got;
            read_row(st, 2, row);
            kp_coltype t = kp_stmt_column_type(st, 0);
            if (kp_expr_eval(cx, row, &got)) {
                refusals++;
            } else {
                compared++;
                if (got.t != t)
                    fail_msg("%s: type %d, SQLite %d (row %ld)", exprs[x], got.t, t, compared);
                if (t == KP_COL_INTEGER && got.i != kp_stmt_column_int64(st, 0))
                    fail_msg("%s: %lld, SQLite %lld", exprs[x], (long long)got.i,
                             (long long)kp_stmt_column_int64(st, 0));
                double want = kp_stmt_column_double(st, 0);
                if (t == KP_COL_REAL && memcmp(&got.d, &want, sizeof want))
                    fail_msg("%s: %.17g, SQLite %.17g", exprs[x], got.d, want);
                if (t == KP_COL_TEXT && (got.n != kp_stmt_column_bytes(st, 0) ||
                                         memcmp(got.s, kp_stmt_column_text(st, 0), got.n)))
                    fail_msg("%s: text differs", exprs[x]);
            }
            int h = kp_expr_holds(cx, row);
            if (h >= 0 && h != kp_stmt_column_int64(st, 1))
                fail_msg("%s holds: %d, SQLite %lld", exprs[x], h,
                         (long long)kp_stmt_column_int64(st, 1));
        }
        kp_stmt_finalize(st);
        kp_expr_free(cx);
    }
    assert_true(compared > 0);
    return refusals;
}

static kp_store *table(void)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s,
                                   "CREATE TABLE t(is_won INTEGER, is_closed INTEGER,"
                                   " amount_cents INTEGER, probability REAL, created_date TEXT,"
                                   " close_date TEXT, type TEXT, anything)",
                                   &e),
                     KP_OK);
    return s;
}

static void test_clean_rows_all_evaluated(void **state)
{
    (void)state;
    kp_store *s = table();
    fill(s, 1);
    long refusals = differential(s);
    /* clean rows: only the overflow of 9223372036854775807 + amount_cents is refused */
    kp_error e = {0};
    int64_t positive = 0;
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM t WHERE amount_cents > 0", NULL,
                                          0, &positive, &e),
                     KP_OK);
    assert_int_equal(refusals, positive);
    kp_store_close(s);
}

static void test_dirty_rows_same_or_refused(void **state)
{
    (void)state;
    kp_store *s = table();
    fill(s, 0);
    long refusals = differential(s);
    assert_true(refusals > 100); /* bad dates, text numbers, overflows, mixed kinds */
    kp_store_close(s);
}

static void test_outside_subset_not_compiled(void **state)
{
    (void)state;
    for (int x = 0; refused[x]; x++) {
        int oom = 0;
        kp_expr *cx = kp_expr_compile(refused[x], column, NULL, &oom);
        if (cx)
            fail_msg("compiled: %s", refused[x]);
        assert_int_equal(oom, 0);
    }
}

/* Hand-checked values: three-valued logic, integer arithmetic, julianday. */
static void test_hand_checked(void **state)
{
    (void)state;
    kp_xval row[8] = {
        {KP_COL_INTEGER, 1, 0, NULL, 0},         {KP_COL_NULL, 0, 0, NULL, 0},
        {KP_COL_INTEGER, 250, 0, NULL, 0},       {KP_COL_REAL, 0, 0.5, NULL, 0},
        {KP_COL_TEXT, 0, 0, "2024-02-28", 10},   {KP_COL_TEXT, 0, 0, "2024-03-01", 10},
        {KP_COL_TEXT, 0, 0, "New Business", 12}, {KP_COL_NULL, 0, 0, NULL, 0}};
    struct {
        const char *x;
        kp_coltype t;
        double v;
    } cases[] = {{"is_won AND is_closed", KP_COL_NULL, 0},
                 {"is_won OR is_closed", KP_COL_INTEGER, 1},
                 {"NOT is_closed", KP_COL_NULL, 0},
                 {"amount_cents * coalesce(probability, 0)", KP_COL_REAL, 125},
                 {"julianday(close_date) - julianday(created_date)", KP_COL_REAL, 2},
                 {"type = 'New Business'", KP_COL_INTEGER, 1},
                 {"amount_cents - 300", KP_COL_INTEGER, -50}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int oom = 0;
        kp_expr *cx = kp_expr_compile(cases[k].x, column, NULL, &oom);
        assert_non_null(cx);
        kp_xval got;
        assert_int_equal(kp_expr_eval(cx, row, &got), 0);
        assert_int_equal(got.t, cases[k].t);
        if (got.t == KP_COL_INTEGER)
            assert_true(got.i == (int64_t)cases[k].v);
        if (got.t == KP_COL_REAL)
            assert_true(got.d == cases[k].v);
        kp_expr_free(cx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked),
        cmocka_unit_test(test_outside_subset_not_compiled),
        cmocka_unit_test(test_clean_rows_all_evaluated),
        cmocka_unit_test(test_dirty_rows_same_or_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
