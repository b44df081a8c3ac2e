/* Templates: parsing, their mistakes with file and line, and building a document from a
 * small database whose figures are known by hand. */
#include "test.h"

#include "kpipress/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[] = "/tmp/kp-test-tpl-XXXXXX";

static void write_tpl(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unlink(path);
}

static const char *load_error(const char *text)
{
    static char msg[2048];
    kp_template *t = NULL;
    kp_error e = {0};
    write_tpl(text);
    msg[0] = '\0';
    if (kp_template_load(path, &t, &e) != KP_OK) {
        char full[2048];
        kp_error_format(&e, full, sizeof full);
        snprintf(msg, sizeof msg, "%s", full + strlen(path)); /* ":line: message" */
    }
    kp_template_free(t);
    return msg;
}

static void test_bad_templates(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[document]\ntitle = x\n", ": [document] must say kind = xlsx or kind = pdf"},
        {"[document]\nkind = docx\n", ":2: kind: bad value \"docx\": expected xlsx or pdf"},
        {"[document]\nkind = pdf\n[graph g]\n",
         ":3: unknown section [graph g] (expected [document], or [sheet|title|text|tiles|table|"
         "chart|break|definitions NAME])"},
        {"[document]\nkind = pdf\n[table]\nsql = SELECT 1\n", ":3: [table] needs a name: [table NAME]"},
        {"[document]\nkind = pdf\n[table t]\ncaption = x\n",
         ":3: block [t] is missing the required key \"sql\""},
        {"[document]\nkind = pdf\n[table t]\nsql = SELECT 1 AS a\ncol.a = A | money\n",
         ":5: a: unknown format \"money\" (text, number, count, currency, percent, date, days, "
         "ratio)"},
        {"[document]\nkind = pdf\n[table t]\nsql = SELECT 1 AS a\ncol.a = A | percent | rag(1,0.5)\n",
         ":5: a: rag needs rag(AMBER,GREEN) with AMBER <= GREEN"},
        {"[document]\nkind = pdf\n[chart c]\ntype = bar\ndata = t\ncategory = a\nseries = b\n",
         ":5: chart data \"t\" is not a [table] block above the chart"},
        {"[document]\nkind = pdf\n[chart c]\ntype = donut\n",
         ":4: type: bad chart type \"donut\": expected bar, column, line, pie, stacked, "
         "forecast, sparkline or bullet"},
        {"[document]\nkind = pdf\n[title a]\ntext = x\n[title a]\ntext = y\n",
         ":5: duplicate [title a] (first at line 3)"},
        {"[document]\nkind = pdf\n[title a]\ntext = x\n  more\nfont = y\n",
         ":6: font: unknown key in this block"},
        {"[document]\nkind = pdf\norientation = sideways\n",
         ":3: orientation: bad value \"sideways\": expected portrait or landscape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = load_error(cases[i].text);
        if (strcmp(got, cases[i].want)) {
            print_error("case %zu:\n  want: %s\n  got:  %s\n", i, cases[i].want, got);
            fail();
        }
    }
}

static kp_store *fixture(void)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s,
                                   "CREATE TABLE k(rep TEXT, quota REAL, bookings REAL, d TEXT);"
                                   "INSERT INTO k VALUES ('Ann', 100.0, 85.0, '2026-10-31'),"
                                   " ('Bo', 0.0, 10.0, '2024-02-29'), ('=1+1', NULL, 5, NULL);",
                                   &e),
                     KP_OK);
    return s;
}

static void test_build(void **state)
{
    (void)state;
    write_tpl("[document]\nkind = xlsx\ntitle = Pack {period}\n"
              "[sheet s1]\ntitle = Reps\n"
              "[tiles t]\nsql = SELECT 'Bookings' AS label, sum(bookings) AS value,\n"
              "    'currency' AS format, 90 AS compare, 100 AS target FROM k\n"
              "[table reps]\ncaption = By rep {period}\n"
              "sql = SELECT rep, quota, bookings,\n"
              "    CASE WHEN quota > 0 THEN bookings / quota END AS att, d FROM k\n"
              "    WHERE bookings >= :min ORDER BY rep\n"
              "col.quota = Quota | currency | sum\ncol.att = Attainment | percent | "
              "ratio(bookings/quota) | rag(0.8,1)\ncol.d = Date | date\n"
              "[chart c]\ntype = column\ndata = reps\ncategory = rep\nseries = bookings, quota\n");
    kp_template *t = NULL;
    kp_error e = {0};
    assert_int_equal(kp_template_load(path, &t, &e), KP_OK);
    kp_store *s = fixture();
    kp_vars v = {0};
    kp_vars_set(&v, "period", "2026-10");
    kp_vars_set(&v, "min", "1");
    assert_int_equal(kp_template_check(t, s, &v, &e), KP_OK);
    kp_doc *d = NULL;
    assert_int_equal(kp_report_build(t, s, &v, "USD", 20000, NULL, &d, &e), KP_OK);
    assert_string_equal(d->title, "Pack 2026-10");
    assert_int_equal(d->nblocks, 4);
    assert_int_equal(d->blocks[0].kind, KP_BLOCK_SHEET);
    assert_string_equal(d->blocks[0].text, "Reps");
    /* tiles: sum(bookings) = 85 + 10 + 5 = 100 */
    assert_int_equal(d->blocks[1].ntiles, 1);
    assert_true(d->blocks[1].tiles[0].value.num == 100.0);
    assert_int_equal(d->blocks[1].tiles[0].fmt, KP_FMT_CURRENCY);
    assert_true(d->blocks[1].tiles[0].target.num == 100.0);
    const kp_table *tb = d->blocks[2].table;
    assert_string_equal(d->blocks[2].text, "By rep 2026-10");
    assert_int_equal(tb->nrows, 3);
    assert_int_equal(tb->ncols, 5);
    /* ORDER BY rep: '=1+1' < 'Ann' < 'Bo' in binary collation */
    assert_int_equal(kp_table_cell(tb, 0, 0)->type, KP_CELL_TEXT);
    assert_string_equal(kp_table_cell(tb, 0, 0)->text, "=1+1");
    assert_int_equal(kp_table_cell(tb, 0, 1)->type, KP_CELL_NULL);
    assert_true(kp_table_cell(tb, 1, 3)->num == 0.85);
    assert_int_equal(kp_table_cell(tb, 2, 3)->type, KP_CELL_NULL); /* zero quota: n/a, not 0 */
    assert_int_equal(kp_table_cell(tb, 1, 4)->type, KP_CELL_DATE);
    assert_int_equal(kp_table_cell(tb, 2, 4)->date, kp_date_from_ymd(2024, 2, 29));
    assert_int_equal(tb->cols[1].fmt, KP_FMT_CURRENCY);
    assert_int_equal(tb->cols[1].total, KP_TOTAL_SUM);
    assert_int_equal(tb->cols[2].fmt, KP_FMT_COUNT); /* inferred: all whole numbers */
    assert_int_equal(tb->cols[3].ratio_num, 2);
    assert_int_equal(tb->cols[3].ratio_den, 1);
    assert_true(tb->cols[3].has_rag && tb->cols[3].rag_amber == 0.8 && tb->cols[3].rag_green == 1);
    assert_string_equal(tb->cols[3].label, "Attainment");
    const kp_chart *ch = d->blocks[3].chart;
    assert_ptr_equal(ch->data, tb);
    assert_int_equal(ch->category_col, 0);
    assert_int_equal(ch->nseries, 2);
    assert_int_equal(ch->series_cols[0], 2);
    assert_int_equal(ch->series_cols[1], 1);
    kp_doc_free(d);
    /* a parameter the template uses but nobody defines */
    kp_vars w = {0};
    kp_vars_set(&w, "period", "x");
    assert_int_equal(kp_template_check(t, s, &w, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "SQL parameter :min is not defined (known: job, period and "
                               "burst-row names)");
    assert_int_equal(e.line, 11); /* the sql key */
    kp_vars_clear(&w);
    kp_vars_clear(&v);
    kp_template_free(t);
    kp_store_close(s);
}

static void test_check_errors(void **state)
{
    (void)state;
    kp_store *s = fixture();
    kp_vars v = {0};
    kp_error e = {0};
    kp_template *t = NULL;
    write_tpl("[document]\nkind = pdf\n[table x]\nsql = SELECT rep FROM k ORDER BY rep\n"
              "col.nope = Nope\n");
    assert_int_equal(kp_template_load(path, &t, &e), KP_OK);
    assert_int_equal(kp_template_check(t, s, &v, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "column \"nope\" is not in the result of [table x]'s sql");
    assert_int_equal(e.line, 5);
    kp_template_free(t);
    write_tpl("[document]\nkind = pdf\n[table x]\nsql = SELECT rep\n  FROM kk\n");
    assert_int_equal(kp_template_load(path, &t, &e), KP_OK);
    assert_int_equal(kp_template_check(t, s, &v, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "SQL error: no such table: kk");
    assert_int_equal(e.line, 4); /* the sql key (SQLite gives no offset for this error) */
    kp_template_free(t);
    write_tpl("[document]\nkind = pdf\n[table x]\nsql = DELETE FROM k\n");
    assert_int_equal(kp_template_load(path, &t, &e), KP_OK);
    assert_int_equal(kp_template_check(t, s, &v, &e), KP_ERR_CONFIG);
    assert_non_null(strstr(e.msg, "SQL refused"));
    kp_template_free(t);
    kp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_templates),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_check_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
