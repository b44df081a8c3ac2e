/* The SQLite adapter: hardened connection settings, read-only template SQL, binding. */
#include "test.h"

#include "kpipress/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kp_store *open_mem(void)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s,
                                   "CREATE TABLE t(a TEXT, b INTEGER) STRICT;"
                                   "INSERT INTO t VALUES ('x', 1), ('y', 2);",
                                   &e),
                     KP_OK);
    return s;
}

static void test_dqs_off(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_stmt *st = NULL;
    kp_error e = {0};
    /* A typo in double quotes must be an error, not the string "nocol". */
    assert_int_equal(kp_store_prepare(s, "SELECT \"nocol\" FROM t", "tpl.ini", 7, &st, &e),
                     KP_ERR_CONFIG);
    assert_string_equal(e.file, "tpl.ini");
    assert_int_equal(e.line, 7);
    assert_string_equal(e.msg, "SQL error: no such column: nocol");
    kp_store_close(s);
}

static void test_readonly(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_stmt *st = NULL;
    kp_error e = {0};
    kp_store_set_readonly(s, 1);
    const char *refused[] = {"DELETE FROM t", "INSERT INTO t VALUES ('z', 3)",
                             "UPDATE t SET b = 0", "DROP TABLE t",
                             "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA journal_mode=DELETE",
                             "CREATE TABLE u(x)"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        assert_int_not_equal(kp_store_prepare(s, refused[i], "tpl.ini", 3, &st, &e), KP_OK);
        assert_non_null(strstr(e.msg, "SQL refused") ? e.msg : NULL);
        assert_null(st);
    }
    assert_int_equal(kp_store_prepare(s, "SELECT count(*) FROM t", "tpl.ini", 3, &st, &e), KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_int_equal(kp_stmt_column_int64(st, 0), 2);
    kp_stmt_finalize(st);
    kp_store_set_readonly(s, 0);
    assert_int_equal(kp_store_exec(s, "DELETE FROM t WHERE b = 2", &e), KP_OK);
    kp_store_close(s);
}

static void test_bind_vars(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_stmt *st = NULL;
    kp_error e = {0};
    kp_vars v = {0};
    /* A value full of SQL metacharacters is data, never code. */
    assert_int_equal(kp_vars_set(&v, "a", "x'; DROP TABLE t; --"), KP_OK);
    assert_int_equal(kp_store_prepare(s, "SELECT count(*) FROM t WHERE a = :a", NULL, 0, &st, &e),
                     KP_OK);
    assert_int_equal(kp_stmt_bind_vars(st, &v, &e), KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_int_equal(kp_stmt_column_int64(st, 0), 0);
    kp_stmt_finalize(st);
    int64_t n = 0;
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM t", NULL, -1, &n, &e), KP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kp_store_prepare(s, "SELECT :missing", "tpl.ini", 9, &st, &e), KP_OK);
    assert_int_equal(kp_stmt_bind_vars(st, &v, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "SQL parameter :missing is not defined (known: job, period and "
                               "burst-row names)");
    kp_stmt_finalize(st);
    assert_int_equal(kp_store_prepare(s, "SELECT 1; SELECT 2", "tpl.ini", 9, &st, &e),
                     KP_ERR_CONFIG);
    assert_string_equal(e.msg, "SQL holds more than one statement (near \"SELECT 2\")");
    kp_vars_clear(&v);
    kp_store_close(s);
}

static void test_rollback(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_error e = {0};
    int64_t n = 0;
    assert_int_equal(kp_store_begin(s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s, "DELETE FROM t", &e), KP_OK);
    kp_store_rollback(s);
    assert_int_equal(kp_store_query_int64(s, "SELECT count(*) FROM t", NULL, -1, &n, &e), KP_OK);
    assert_int_equal(n, 2);
    kp_store_rollback(s); /* no transaction: harmless */
    kp_store_close(s);
    kp_store_close(NULL);
}

static void test_open_missing_dir(void **state)
{
    (void)state;
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open("/nonexistent/dir/x.db", KP_STORE_CREATE, &s, &e), KP_ERR_IO);
    assert_null(s);
    assert_string_equal(e.file, "/nonexistent/dir/x.db");
    assert_string_equal(e.msg, "cannot open database: unable to open database file");
}

/* A database the store creates gets 8 KiB pages; one that exists keeps its own. */
static void test_page_size(void **state)
{
    (void)state;
    char dir[] = "/tmp/kp_test_store.XXXXXX", fresh[64], old[64];
    assert_non_null(mkdtemp(dir));
    snprintf(fresh, sizeof fresh, "%s/fresh.db", dir);
    snprintf(old, sizeof old, "%s/old.db", dir);
    kp_store *s = NULL;
    kp_error e = {0};
    int64_t n = 0;
    assert_int_equal(kp_store_open(old, KP_STORE_CREATE, &s, &e), KP_OK);
    /* made as an older kpipress made it: 4 KiB pages, a table */
    assert_int_equal(kp_store_exec(s, "PRAGMA page_size=4096; VACUUM; CREATE TABLE t(a)", &e),
                     KP_OK);
    kp_store_close(s);
    assert_int_equal(kp_store_open(old, KP_STORE_CREATE, &s, &e), KP_OK);
    assert_int_equal(kp_store_query_int64(s, "PRAGMA page_size", NULL, -1, &n, &e), KP_OK);
    assert_int_equal(n, 4096);
    kp_store_close(s);
    assert_int_equal(kp_store_open(fresh, KP_STORE_CREATE, &s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s, "CREATE TABLE t(a)", &e), KP_OK);
    kp_store_close(s);
    assert_int_equal(kp_store_open(fresh, KP_STORE_READONLY, &s, &e), KP_OK);
    assert_int_equal(kp_store_query_int64(s, "PRAGMA page_size", NULL, -1, &n, &e), KP_OK);
    assert_int_equal(n, 8192);
    kp_store_close(s);
    unlink(fresh);
    unlink(old);
    rmdir(dir);
}

static void test_median(void **state)
{
    (void)state;
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s,
                                   "CREATE TABLE m(g TEXT, v REAL);"
                                   "INSERT INTO m VALUES ('odd', 5), ('odd', 1), ('odd', 3),"
                                   " ('even', 4), ('even', 1), ('even', 10), ('even', 2),"
                                   " ('nulls', NULL), ('nulls', 7), ('none', NULL);",
                                   &e),
                     KP_OK);
    static const struct {
        const char *group;
        double want; /* -1 = NULL */
    } cases[] = {{"odd", 3}, {"even", 3}, {"nulls", 7}, {"none", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kp_stmt *st = NULL;
        kp_vars v = {0};
        kp_vars_set(&v, "g", cases[i].group);
        assert_int_equal(kp_store_prepare(s, "SELECT median(v) FROM m WHERE g = :g", NULL, 0,
                                          &st, &e),
                         KP_OK);
        assert_int_equal(kp_stmt_bind_vars(st, &v, &e), KP_OK);
        assert_int_equal(kp_stmt_step(st, &e), 1);
        if (cases[i].want < 0)
            assert_int_equal(kp_stmt_column_type(st, 0), KP_COL_NULL);
        else
            assert_true(kp_stmt_column_double(st, 0) == cases[i].want);
        kp_stmt_finalize(st);
        kp_vars_clear(&v);
    }
    kp_store_close(s);
}

/* A cached statement comes back (same object) once released, with its old bindings
 * gone; one still handed out is not handed out twice; read-only and writable SQL are
 * kept apart, so a cached statement never skips the read-only check. */
static void test_prepare_cached(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_error e = {0};
    kp_vars v = {0};
    const char *sql = "SELECT b FROM t WHERE a = :a";
    kp_stmt *st = NULL, *again = NULL, *other = NULL;
    kp_store_set_readonly(s, 1);
    assert_int_equal(kp_vars_set(&v, "a", "x"), KP_OK);
    assert_int_equal(kp_store_prepare_cached(s, sql, "tpl.ini", 4, &st, &e), KP_OK);
    assert_int_equal(kp_stmt_bind_vars(st, &v, &e), KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_int_equal(kp_stmt_column_int64(st, 0), 1);
    /* Still stepping: the same SQL gets a second statement. */
    assert_int_equal(kp_store_prepare_cached(s, sql, "tpl.ini", 4, &other, &e), KP_OK);
    assert_ptr_not_equal(other, st);
    kp_stmt_finalize(other);
    kp_stmt_finalize(st);
    assert_int_equal(kp_store_prepare_cached(s, sql, "tpl.ini", 4, &again, &e), KP_OK);
    assert_ptr_equal(again, st);
    /* Released means reset with bindings cleared: :a is NULL until bound again. */
    assert_int_equal(kp_stmt_step(again, &e), 0);
    kp_stmt_reset(again);
    assert_int_equal(kp_vars_set(&v, "a", "y"), KP_OK);
    assert_int_equal(kp_stmt_bind_vars(again, &v, &e), KP_OK);
    assert_int_equal(kp_stmt_step(again, &e), 1);
    assert_int_equal(kp_stmt_column_int64(again, 0), 2);
    kp_stmt_finalize(again);
    /* Another origin or line is another statement (error messages point at it). */
    assert_int_equal(kp_store_prepare_cached(s, sql, "tpl.ini", 5, &other, &e), KP_OK);
    assert_ptr_not_equal(other, st);
    kp_stmt_finalize(other);
    assert_int_not_equal(kp_store_prepare_cached(s, "DELETE FROM t", "tpl.ini", 6, &other, &e),
                         KP_OK);
    assert_null(other);
    assert_non_null(strstr(e.msg, "SQL refused"));
    kp_store_set_readonly(s, 0);
    assert_int_equal(kp_store_prepare_cached(s, sql, "tpl.ini", 4, &other, &e), KP_OK);
    assert_ptr_not_equal(other, st);
    kp_stmt_finalize(other);
    assert_int_equal(kp_store_prepare_cached(s, "DELETE FROM t", "tpl.ini", 6, &other, &e), KP_OK);
    assert_int_equal(kp_stmt_step(other, &e), 0);
    kp_stmt_finalize(other);
    kp_vars_clear(&v);
    kp_store_close(s); /* finalizes the cache: valgrind/ASan see no leak */
}

/* The plan's steps, one line each. */
static void query_plan(kp_store *s, const char *sql, int cached, char *out, size_t size)
{
    char eqp[1024];
    kp_stmt *st = NULL;
    kp_error e = {0};
    snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(cached ? kp_store_prepare_cached(s, eqp, NULL, 0, &st, &e)
                            : kp_store_prepare(s, eqp, NULL, 0, &st, &e),
                     KP_OK);
    out[0] = '\0';
    while (kp_stmt_step(st, &e) == 1) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s\n", kp_stmt_column_text(st, 3));
    }
    kp_stmt_finalize(st);
}

/* A per-document query whose outer loop is a short recursive CTE: with planner
 * statistics SQLite plans a Bloom filter on the inner table, built by reading all of it
 * on every run. Cached statements are compiled without one (and still use the index). */
static void test_prepare_cached_no_bloom_filter(void **state)
{
    (void)state;
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(
        kp_store_exec(s,
                      "CREATE TABLE k(month TEXT NOT NULL, rep TEXT NOT NULL, v REAL,"
                      " PRIMARY KEY(month, rep)) STRICT;"
                      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                      " WHERE i < 1999) INSERT INTO k SELECT printf('2026-%02d', i % 20),"
                      " 'r' || (i / 20), i FROM n;"
                      "ANALYZE;",
                      &e),
        KP_OK);
    const char *sql = "WITH RECURSIVE m(month, n) AS (SELECT '2026-00', 1 UNION ALL"
                      " SELECT printf('2026-%02d', n), n + 1 FROM m WHERE n < 15)"
                      " SELECT m.month, k.v FROM m LEFT JOIN k ON k.rep = 'r7'"
                      " AND k.month = m.month ORDER BY m.month";
    char plan[2048];
    query_plan(s, sql, 0, plan, sizeof plan);
    assert_non_null(strstr(plan, "BLOOM FILTER ON k")); /* the fixture shows the problem */
    query_plan(s, sql, 1, plan, sizeof plan);
    assert_null(strstr(plan, "BLOOM FILTER"));
    assert_non_null(strstr(plan, "SEARCH k USING INDEX"));
    /* Other statements are planned as before. */
    query_plan(s, sql, 0, plan, sizeof plan);
    assert_non_null(strstr(plan, "BLOOM FILTER ON k"));
    kp_store_close(s);
}

static int64_t mmap_size(kp_store *s)
{
    int64_t n = -1;
    kp_error e = {0};
    assert_int_equal(kp_store_query_int64(s, "PRAGMA mmap_size", NULL, -1, &n, &e), KP_OK);
    return n;
}

/* A file database is read through a map once asked (also with template SQL read-only,
 * whose authorizer refuses PRAGMAs); an in-memory one is left alone. */
static void test_map_reads(void **state)
{
    (void)state;
    char dir[] = "/tmp/kp_store.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.db", dir);
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(path, KP_STORE_CREATE, &s, &e), KP_OK);
    assert_int_equal(mmap_size(s), 0);
    kp_store_set_readonly(s, 1);
    assert_int_equal(kp_store_map_reads(s, &e), KP_OK);
    kp_store_set_readonly(s, 0);
    assert_int_equal(mmap_size(s), 1073741824);
    assert_int_equal(kp_store_exec(s, "CREATE TABLE t(a); INSERT INTO t VALUES (1);", &e), KP_OK);
    kp_store_close(s);
    unlink(path);
    rmdir(dir);
    s = open_mem();
    assert_int_equal(kp_store_map_reads(s, &e), KP_OK);
    assert_int_not_equal(mmap_size(s), 1073741824); /* no file: no row, or 0 */
    kp_store_close(s);
}

/* A stage's own page cache and the old one back: the store opens with 8 MB (-8192 KiB),
 * a stage sets 2 MB and restores; a size never read (0) restores nothing. */
static void test_cache_size(void **state)
{
    (void)state;
    kp_store *s = open_mem();
    kp_error e = {0};
    int64_t old = 0, now = 0;
    assert_int_equal(kp_store_cache_size(s, -2048, &old, &e), KP_OK);
    assert_int_equal(old, -8192);
    assert_int_equal(kp_store_query_int64(s, "PRAGMA cache_size", NULL, 0, &now, &e), KP_OK);
    assert_int_equal(now, -2048);
    kp_store_cache_restore(s, 0);
    assert_int_equal(kp_store_query_int64(s, "PRAGMA cache_size", NULL, 0, &now, &e), KP_OK);
    assert_int_equal(now, -2048);
    kp_store_cache_restore(s, old);
    assert_int_equal(kp_store_query_int64(s, "PRAGMA cache_size", NULL, 0, &now, &e), KP_OK);
    assert_int_equal(now, -8192);
    kp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dqs_off),   cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_bind_vars), cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_open_missing_dir), cmocka_unit_test(test_median),
        cmocka_unit_test(test_page_size),
        cmocka_unit_test(test_prepare_cached),
        cmocka_unit_test(test_prepare_cached_no_bloom_filter),
        cmocka_unit_test(test_map_reads),
        cmocka_unit_test(test_cache_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
