/* Excel renderer tests: build documents by hand, render them, and read the workbook back
 * with an independent reader (tests/unit/check_xlsx.py, openpyxl; LibreOffice when it is
 * installed). Every expected value below was worked out by hand from the document. */
#include "test.h"

#include "kpipress/doc.h"
#include "kpipress/log.h"
#include "kpipress/render_xlsx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECKER "/usr/bin/python3 tests/unit/check_xlsx.py"
#define SKIP_RC 77

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kp-xlsx-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    kp_log_set_level(2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("KP_TEST_KEEP")) { /* keep the workbooks to look at a failure */
        fprintf(stderr, "kept %s\n", tmpdir);
        return 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- building documents -------------------------------------------------------------- */

static void text(kp_cell *c, const char *s)
{
    assert_int_equal(kp_cell_set_text(c, s, strlen(s)), KP_OK);
}

static void num(kp_cell *c, double v)
{
    assert_int_equal(kp_cell_set_number(c, v), KP_OK);
}

static void date(kp_cell *c, int y, int m, int d)
{
    kp_cell_set_date(c, kp_date_from_ymd(y, m, d));
}

static void column(kp_table *t, size_t i, const char *label, kp_format f, kp_total total)
{
    assert_int_equal(kp_doc_set_str(&t->cols[i].name, label), KP_OK);
    assert_int_equal(kp_doc_set_str(&t->cols[i].label, label), KP_OK);
    t->cols[i].fmt = f;
    t->cols[i].total = total;
}

static kp_block *block(kp_doc *d, kp_block_kind kind, const char *name, const char *txt)
{
    kp_block *b = kp_doc_add_block(d, kind);
    assert_non_null(b);
    assert_int_equal(kp_doc_set_str(&b->name, name), KP_OK);
    assert_int_equal(kp_doc_set_str(&b->text, txt), KP_OK);
    return b;
}

static void chart(kp_doc *d, kp_chart_type type, const char *title, size_t data_block, int cat,
                  int s1, int s2)
{
    kp_block *b = block(d, KP_BLOCK_CHART, "chart", NULL);
    b->chart = calloc(1, sizeof *b->chart);
    assert_non_null(b->chart);
    b->chart->type = type;
    assert_int_equal(kp_doc_set_str(&b->chart->title, title), KP_OK);
    b->chart->data_block = data_block;
    b->chart->data = d->blocks[data_block].table;
    b->chart->category_col = cat;
    b->chart->series_cols = calloc(2, sizeof(int));
    assert_non_null(b->chart->series_cols);
    b->chart->series_cols[0] = s1;
    b->chart->nseries = 1;
    if (s2 >= 0) {
        b->chart->series_cols[1] = s2;
        b->chart->nseries = 2;
    }
}

static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = malloc(u * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    return s;
}

static kp_tile *tile(kp_block *b, const char *label, kp_format f)
{
    kp_tile *t = &b->tiles[b->ntiles++];
    assert_int_equal(kp_doc_set_str(&t->label, label), KP_OK);
    t->fmt = f;
    t->higher_is_better = 1;
    return t;
}

/* Every block kind and format; the sheet layout is spelled out in full_expect. */
static kp_doc *full_doc(void)
{
    kp_doc *d = kp_doc_new(KP_DOC_XLSX);
    assert_non_null(d);
    kp_doc_set_str(&d->title, "Q3 Board Pack");
    kp_doc_set_str(&d->subtitle, "FY2026");
    kp_doc_set_str(&d->subject, "Quota attainment");
    kp_doc_set_str(&d->author, "Sales Ops");
    kp_doc_set_str(&d->company, "Acme Corp");
    kp_doc_set_str(&d->keywords, "sales, kpi");
    kp_doc_set_str(&d->currency, "EUR");
    d->as_of = kp_date_from_ymd(2026, 10, 31);

    /* 0-2: before any SHEET block: a sheet named after the title. */
    block(d, KP_BLOCK_TITLE, "title", "Quota attainment \xE2\x80\x93 Q3");
    block(d, KP_BLOCK_TEXT, "intro", "Line one\nLine two");
    kp_block *b = block(d, KP_BLOCK_TILES, "headline", "Headline");
    b->tiles = calloc(5, sizeof *b->tiles);
    assert_non_null(b->tiles);
    kp_tile *t = tile(b, "Bookings", KP_FMT_CURRENCY);
    num(&t->value, 1234567.891);
    num(&t->compare, 1000000);
    num(&t->target, 1500000);
    kp_doc_set_str(&t->compare_label, "vs previous quarter");
    t = tile(b, "Win rate", KP_FMT_PERCENT);
    num(&t->value, 0.853);
    num(&t->compare, 0.8);
    num(&tile(b, "Cycle", KP_FMT_DAYS)->value, 12.5);
    num(&tile(b, "Deals", KP_FMT_COUNT)->value, 42);
    date(&tile(b, "Last close", KP_FMT_DATE)->value, 2026, 10, 30);

    /* 3-5: the attainment table and a column chart of it. */
    block(d, KP_BLOCK_SHEET, "s1", "Attainment: Q3/2026 [final]");
    b = block(d, KP_BLOCK_TABLE, "attainment", "By rep");
    kp_table *tb = b->table = kp_table_new(10);
    assert_non_null(tb);
    column(tb, 0, "Rep", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(tb, 1, "Region", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(tb, 2, "Bookings", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    column(tb, 3, "Quota", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    column(tb, 4, "Attainment", KP_FMT_PERCENT, KP_TOTAL_RATIO);
    tb->cols[4].ratio_num = 2;
    tb->cols[4].ratio_den = 3;
    tb->cols[4].has_rag = 1;
    tb->cols[4].rag_amber = 0.8;
    tb->cols[4].rag_green = 1.0;
    column(tb, 5, "Deals", KP_FMT_COUNT, KP_TOTAL_SUM);
    column(tb, 6, "Cycle", KP_FMT_DAYS, KP_TOTAL_AVERAGE);
    column(tb, 7, "Last close", KP_FMT_DATE, KP_TOTAL_NONE);
    column(tb, 8, "Coverage", KP_FMT_RATIO, KP_TOTAL_NONE);
    column(tb, 9, "Score", KP_FMT_NUMBER, KP_TOTAL_NONE);
    tb->cols[9].width = 20; /* the template's width wins over content */
    struct {
        const char *rep, *region;
        double book, quota, att, deals, cycle;
        int y, m, dd;
        double cov, score;
    } rows[] = {
        {"M\xC3\xBCller", "EMEA", 120000, 100000, 1.2, 10, 30.5, 2026, 10, 15, 2.35, 1234.5},
        {"=1+1", "-EMEA", 80000, 100000, 0.8, 5, -1, 2026, 9, 30, 1.5, -3},
        {"@SUM(A1)", "+1", 50000, 0, -1, 0, 12, 0, 0, 0, -1, 0},
        {"S\xC3\xB8ren", NULL, 95000, 100000, 0.95, 7, 20, 2026, 1, 1, 0.5, 7},
    };
    for (size_t i = 0; i < 4; i++) {
        size_t r = kp_table_add_row(tb);
        assert_int_equal(r, i);
        text(kp_table_cell(tb, r, 0), rows[i].rep);
        if (rows[i].region)
            text(kp_table_cell(tb, r, 1), rows[i].region);
        num(kp_table_cell(tb, r, 2), rows[i].book);
        num(kp_table_cell(tb, r, 3), rows[i].quota);
        if (rows[i].att >= 0) /* -1 marks NULL in this table */
            num(kp_table_cell(tb, r, 4), rows[i].att);
        num(kp_table_cell(tb, r, 5), rows[i].deals);
        if (rows[i].cycle >= 0)
            num(kp_table_cell(tb, r, 6), rows[i].cycle);
        if (rows[i].y)
            date(kp_table_cell(tb, r, 7), rows[i].y, rows[i].m, rows[i].dd);
        if (rows[i].cov >= 0)
            num(kp_table_cell(tb, r, 8), rows[i].cov);
        num(kp_table_cell(tb, r, 9), rows[i].score);
    }
    chart(d, KP_CHART_COLUMN, "Bookings by rep", 4, 0, 2, 3);

    /* 6-8: same name ignoring case; hostile and over-long strings; a pie of sheet 2. */
    block(d, KP_BLOCK_SHEET, "s2", "attainment q32026 FINAL");
    b = block(d, KP_BLOCK_TABLE, "long text!", NULL);
    tb = b->table = kp_table_new(1);
    assert_non_null(tb);
    column(tb, 0, "Comment", KP_FMT_TEXT, KP_TOTAL_NONE);
    char *s = repeat("a", 40000);
    text(kp_table_cell(tb, kp_table_add_row(tb), 0), s);
    free(s);
    text(kp_table_cell(tb, kp_table_add_row(tb), 0), "=HYPERLINK(\"http://x\")");
    s = repeat("\xF0\x9F\x98\x80", 20000); /* U+1F600: two UTF-16 units each */
    text(kp_table_cell(tb, kp_table_add_row(tb), 0), s);
    free(s);
    text(kp_table_cell(tb, kp_table_add_row(tb), 0), "Z\xC3\xBCrich \xE2\x98\x83");
    chart(d, KP_CHART_PIE, "=Share", 4, 0, 2, -1);

    /* 9-13: a reserved name; a monthly table with a line and a bar chart; a page break. */
    block(d, KP_BLOCK_SHEET, "s3", "History");
    b = block(d, KP_BLOCK_TABLE, "monthly", NULL);
    tb = b->table = kp_table_new(3);
    assert_non_null(tb);
    column(tb, 0, "Month", KP_FMT_DATE, KP_TOTAL_NONE);
    column(tb, 1, "Bookings", KP_FMT_CURRENCY, KP_TOTAL_NONE);
    column(tb, 2, "Pipeline", KP_FMT_CURRENCY, KP_TOTAL_NONE);
    for (int m = 8; m <= 10; m++) {
        size_t r = kp_table_add_row(tb);
        date(kp_table_cell(tb, r, 0), 2026, m, 1);
        num(kp_table_cell(tb, r, 1), 1000.0 * m);
        num(kp_table_cell(tb, r, 2), 3000.0 * m);
    }
    chart(d, KP_CHART_LINE, "Trend", 10, 0, 1, 2);
    chart(d, KP_CHART_BAR, "Bar", 10, 0, 1, -1);
    block(d, KP_BLOCK_BREAK, "break", NULL);

    /* 14-18: names that clean to nothing, to 31 characters, and to a duplicate of that. */
    block(d, KP_BLOCK_SHEET, "s4", "'");
    block(d, KP_BLOCK_TEXT, "only", "only text");
    block(d, KP_BLOCK_SHEET, "s5", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn");
    block(d, KP_BLOCK_SHEET, "s6", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn");
    b = block(d, KP_BLOCK_TABLE, NULL, NULL);
    tb = b->table = kp_table_new(1);
    assert_non_null(tb);
    column(tb, 0, "x", KP_FMT_NUMBER, KP_TOTAL_NONE);
    num(kp_table_cell(tb, kp_table_add_row(tb), 0), 3.14159);
    return d;
}

/* Expectations for full_doc, one per line (see check_xlsx.py). */
static const char *const full_expect[] = {
    "sheets\tQ3 Board Pack|Attainment Q32026 final|attainment q32026 FINAL (2)|History (2)|"
    "Sheet|ABCDEFGHIJKLMNOPQRSTUVWXYZabcde|ABCDEFGHIJKLMNOPQRSTUVWXYZa (2)\n",
    /* sheet 1: title, text, tiles */
    "cell\tQ3 Board Pack!A1\ts\tQuota attainment \xE2\x80\x93 Q3\n",
    "bold\tQ3 Board Pack!A1\n",
    "cell\tQ3 Board Pack!A3\ts\tLine one\n",
    "cell\tQ3 Board Pack!A4\ts\tLine two\n",
    "cell\tQ3 Board Pack!A6\ts\tHeadline\n",
    "cell\tQ3 Board Pack!A7\ts\tMetric\n",
    "cell\tQ3 Board Pack!C7\ts\tvs previous quarter\n",
    "cell\tQ3 Board Pack!D7\ts\tTarget\n",
    "cell\tQ3 Board Pack!A8\ts\tBookings\n",
    "cell\tQ3 Board Pack!B8\tn\t1234567.891\n",
    "numfmt\tQ3 Board Pack!B8\t\"\xE2\x82\xAC\"#,##0.00\n",
    "cell\tQ3 Board Pack!C8\tn\t1000000\n",
    "cell\tQ3 Board Pack!D8\tn\t1500000\n",
    "cell\tQ3 Board Pack!B9\tn\t0.853\n",
    "numfmt\tQ3 Board Pack!B9\t0.0%\n",
    "cell\tQ3 Board Pack!D9\tblank\n",
    "numfmt\tQ3 Board Pack!B10\t0.0\n",
    "numfmt\tQ3 Board Pack!B11\t#,##0\n",
    "cell\tQ3 Board Pack!B12\td\t2026-10-30\n",
    "numfmt\tQ3 Board Pack!B12\tyyyy-mm-dd\n",
    "freeze\tQ3 Board Pack\tNone\n",
    "orient\tQ3 Board Pack\tportrait\n",
    /* sheet 2: the attainment table */
    "cell\tAttainment Q32026 final!A1\ts\tBy rep\n",
    "cell\tAttainment Q32026 final!A2\ts\tRep\n",
    "bold\tAttainment Q32026 final!A2\n",
    "cell\tAttainment Q32026 final!J2\ts\tScore\n",
    "cell\tAttainment Q32026 final!A3\ts\tM\xC3\xBCller\n",
    "cell\tAttainment Q32026 final!A4\ts\t=1+1\n",
    "cell\tAttainment Q32026 final!B4\ts\t-EMEA\n",
    "cell\tAttainment Q32026 final!A5\ts\t@SUM(A1)\n",
    "cell\tAttainment Q32026 final!B5\ts\t+1\n",
    "cell\tAttainment Q32026 final!B6\tblank\n",
    "cell\tAttainment Q32026 final!C3\tn\t120000\n",
    "numfmt\tAttainment Q32026 final!C3\t\"\xE2\x82\xAC\"#,##0.00\n",
    "cell\tAttainment Q32026 final!E3\tf\t=IF(D3=0,\"\",C3/D3)\n",
    "cached\tAttainment Q32026 final!E3\t1.2\n",
    "numfmt\tAttainment Q32026 final!E3\t0.0%\n",
    "cell\tAttainment Q32026 final!E5\tf\t=IF(D5=0,\"\",C5/D5)\n",
    "cached\tAttainment Q32026 final!E5\t\n",
    "cached\tAttainment Q32026 final!E6\t0.95\n",
    "cell\tAttainment Q32026 final!F3\tn\t10\n",
    "numfmt\tAttainment Q32026 final!F3\t#,##0\n",
    "cell\tAttainment Q32026 final!G4\tblank\n",
    "numfmt\tAttainment Q32026 final!G3\t0.0\n",
    "cell\tAttainment Q32026 final!H3\td\t2026-10-15\n",
    "cell\tAttainment Q32026 final!H6\td\t2026-01-01\n",
    "numfmt\tAttainment Q32026 final!H3\tyyyy-mm-dd\n",
    "cell\tAttainment Q32026 final!H5\tblank\n",
    "cell\tAttainment Q32026 final!I3\tn\t2.35\n",
    "numfmt\tAttainment Q32026 final!I3\t0.00\"x\"\n",
    "cell\tAttainment Q32026 final!J4\tn\t-3\n",
    "numfmt\tAttainment Q32026 final!J3\t#,##0.00\n",
    /* totals row */
    "cell\tAttainment Q32026 final!A7\ts\tTotal\n",
    "bold\tAttainment Q32026 final!A7\n",
    "cell\tAttainment Q32026 final!C7\tf\t=SUBTOTAL(109,C3:C6)\n",
    "cached\tAttainment Q32026 final!C7\t345000\n",
    "cell\tAttainment Q32026 final!D7\tf\t=SUBTOTAL(109,D3:D6)\n",
    "cached\tAttainment Q32026 final!D7\t300000\n",
    "cell\tAttainment Q32026 final!E7\tf\t=IF(D7=0,\"\",C7/D7)\n",
    "cached\tAttainment Q32026 final!E7\t1.15\n",
    "cell\tAttainment Q32026 final!F7\tf\t=SUBTOTAL(109,F3:F6)\n",
    "cached\tAttainment Q32026 final!F7\t22\n",
    "cell\tAttainment Q32026 final!G7\tf\t=SUBTOTAL(101,G3:G6)\n",
    "cached\tAttainment Q32026 final!G7\t20.833333333333332\n",
    "cell\tAttainment Q32026 final!H7\tblank\n",
    "maxrow\tAttainment Q32026 final\t7\n",
    "freeze\tAttainment Q32026 final\tA3\n",
    "autofilter\tAttainment Q32026 final\tA2:J6\n",
    "cf\tAttainment Q32026 final\tE3:E6\texpression::NOT(ISNUMBER(E3)):1;"
    "cellIs:greaterThanOrEqual:1:0;cellIs:lessThan:0.8:0;cellIs:between:0.8,1:0\n",
    "name\ttbl_attainment\t'Attainment Q32026 final'!$A$3:$J$6\n",
    "orient\tAttainment Q32026 final\tlandscape\n",
    "fit\tAttainment Q32026 final\t1\t0\n",
    "printrows\tAttainment Q32026 final\t$2:$2\n",
    "charts\tAttainment Q32026 final\t1\n",
    "chart\tAttainment Q32026 final\t0\tcol\t"
    "'Attainment Q32026 final'!$C$2|'Attainment Q32026 final'!$A$3:$A$6|"
    "'Attainment Q32026 final'!$C$3:$C$6;"
    "'Attainment Q32026 final'!$D$2|'Attainment Q32026 final'!$A$3:$A$6|"
    "'Attainment Q32026 final'!$D$3:$D$6\n",
    "width\tAttainment Q32026 final\tA\t10\t11\n", /* "@SUM(A1)" 8 + 2 */
    "width\tAttainment Q32026 final\tH\t12\t13\n", /* "Last close" / a date: 10 + 2 */
    "width\tAttainment Q32026 final\tJ\t20\t21\n",
    "legend\tAttainment Q32026 final\t0\tyes\n",
    /* sheet 3: strings stay strings; over-long ones are cut and marked */
    "cell\tattainment q32026 FINAL (2)!A2\tlen\t32767\n",
    "cell\tattainment q32026 FINAL (2)!A2\ttail\ta\xE2\x80\xA6[truncated]\n",
    "cell\tattainment q32026 FINAL (2)!A3\ts\t=HYPERLINK(\"http://x\")\n",
    "cell\tattainment q32026 FINAL (2)!A4\tlen\t16389\n", /* 16377 emoji + 12 */
    "cell\tattainment q32026 FINAL (2)!A4\ttail\t\xF0\x9F\x98\x80\xE2\x80\xA6[truncated]\n",
    "cell\tattainment q32026 FINAL (2)!A5\ts\tZ\xC3\xBCrich \xE2\x98\x83\n",
    "name\ttbl_long_text_\t'attainment q32026 FINAL (2)'!$A$2:$A$5\n",
    "freeze\tattainment q32026 FINAL (2)\tA2\n",
    "autofilter\tattainment q32026 FINAL (2)\tA1:A5\n",
    "width\tattainment q32026 FINAL (2)\tA\t62\t63\n",
    "orient\tattainment q32026 FINAL (2)\tportrait\n",
    "chart\tattainment q32026 FINAL (2)\t0\tpie\t"
    "'Attainment Q32026 final'!$C$2|'Attainment Q32026 final'!$A$3:$A$6|"
    "'Attainment Q32026 final'!$C$3:$C$6\n",
    /* sheet 4: line and bar charts over dates */
    "cell\tHistory (2)!A2\td\t2026-08-01\n",
    "cell\tHistory (2)!C4\tn\t30000\n",
    "name\ttbl_monthly\t'History (2)'!$A$2:$C$4\n",
    "charts\tHistory (2)\t2\n",
    "chart\tHistory (2)\t0\tline\t"
    "'History (2)'!$B$1|'History (2)'!$A$2:$A$4|'History (2)'!$B$2:$B$4;"
    "'History (2)'!$C$1|'History (2)'!$A$2:$A$4|'History (2)'!$C$2:$C$4\n",
    "legend\tHistory (2)\t1\tno\n",
    "chart\tHistory (2)\t1\tbar\t"
    "'History (2)'!$B$1|'History (2)'!$A$2:$A$4|'History (2)'!$B$2:$B$4\n",
    /* sheets 5-7 */
    "cell\tSheet!A1\ts\tonly text\n",
    "maxrow\tABCDEFGHIJKLMNOPQRSTUVWXYZabcde\t1\n",
    "cell\tABCDEFGHIJKLMNOPQRSTUVWXYZa (2)!A2\tn\t3.14159\n",
    "numfmt\tABCDEFGHIJKLMNOPQRSTUVWXYZa (2)!A2\t#,##0.00\n",
    "name\ttbl_19\t'ABCDEFGHIJKLMNOPQRSTUVWXYZa (2)'!$A$2:$A$2\n",
    /* document properties: created is the as-of date, never the clock */
    "prop\ttitle\tQ3 Board Pack\n",
    "prop\tsubject\tQuota attainment\n",
    "prop\tcreator\tSales Ops\n",
    "prop\tkeywords\tsales, kpi\n",
    "prop\tcreated\t2026-10-31T00:00:00\n",
    "app\t<Company>Acme Corp</Company>\n",
    NULL,
};

/* LibreOffice's view of the same workbook, cells as shown (commas inside values are not
 * escaped: fields are re-joined with ','). */
static const char *const lo_expect[] = {
    "lo\tAttainment Q32026 final\t2\tRep,Region,Bookings,Quota,Attainment,Deals,Cycle,"
    "Last close,Coverage,Score\n",
    "lo\tAttainment Q32026 final\t3\tM\xC3\xBCller,EMEA,\xE2\x82\xAC"
    "120,000.00,"
    "\xE2\x82\xAC"
    "100,000.00,120.0%,10,30.5,2026-10-15,2.35x,1,234.50\n",
    "lo\tAttainment Q32026 final\t4\t=1+1,-EMEA,\xE2\x82\xAC"
    "80,000.00,\xE2\x82\xAC"
    "100,000.00,80.0%,5,,2026-09-30,1.50x,-3.00\n",
    "lo\tAttainment Q32026 final\t5\t@SUM(A1),+1,\xE2\x82\xAC"
    "50,000.00,\xE2\x82\xAC"
    "0.00,,0,12.0,,,0.00\n",
    "lo\tAttainment Q32026 final\t7\tTotal,,\xE2\x82\xAC"
    "345,000.00,\xE2\x82\xAC"
    "300,000.00,115.0%,22,20.8,,,\n",
    "lo\tQ3 Board Pack\t12\tLast close,2026-10-30,,\n",
    "lo\tHistory (2)\t3\t2026-09-01,\xE2\x82\xAC"
    "9,000.00,\xE2\x82\xAC"
    "27,000.00\n",
    NULL,
};

/* ---- helpers ------------------------------------------------------------------------- */

static void render(const kp_doc *d, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", tmpdir, name);
    kp_error e;
    kp_error_clear(&e);
    kp_err rc = kp_render_xlsx(d, path, &e);
    if (rc != KP_OK)
        fail_msg("kp_render_xlsx: %s", e.msg);
}

/* Run the checker on path with these expectations; its exit status. */
static int run_checker_lines(const char *path, const char *const *expect)
{
    char epath[128], cmd[512];
    snprintf(epath, sizeof epath, "%s/expect.txt", tmpdir);
    FILE *f = fopen(epath, "w");
    assert_non_null(f);
    for (size_t i = 0; expect[i]; i++)
        fputs(expect[i], f);
    fclose(f);
    snprintf(cmd, sizeof cmd, CHECKER " '%s' '%s'", path, epath);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    int same = 1, ca, cb;
    long n = 0;
    do {
        ca = getc(fa);
        cb = getc(fb);
        same = ca == cb;
        n++;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same && n > 1000;
}

static int run_checker(const char *path, const char *expect)
{
    const char *const lines[] = {expect, NULL};
    return run_checker_lines(path, lines);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_full_workbook(void **state)
{
    (void)state;
    kp_doc *d = full_doc();
    char path[128];
    render(d, "full.xlsx", path, sizeof path);
    assert_int_equal(run_checker_lines(path, full_expect), 0);
    kp_doc_free(d);
}

static void test_byte_identical(void **state)
{
    (void)state;
    kp_doc *d = full_doc();
    char a[128], b[128];
    /* A different time zone must not change a byte: no clock, no local time. */
    setenv("TZ", "UTC", 1);
    tzset();
    render(d, "a.xlsx", a, sizeof a);
    setenv("TZ", "Pacific/Auckland", 1);
    tzset();
    render(d, "b.xlsx", b, sizeof b);
    setenv("TZ", "UTC", 1);
    tzset();
    assert_true(same_bytes(a, b));
    kp_doc_free(d);
}

static void test_currency_formats(void **state)
{
    (void)state;
    static const struct {
        const char *code, *fmt;
    } cases[] = {
        {"USD", "\"$\"#,##0.00"},
        {NULL, "\"$\"#,##0.00"},
        {"GBP", "\"\xC2\xA3\"#,##0.00"},
        {"JPY", "\"\xC2\xA5\"#,##0.00"},
        {"CHF", "#,##0.00 \"CHF\""},
        {"C\"H;F", "#,##0.00 \"CHF\""}, /* a quote cannot break out of the format */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kp_doc *d = kp_doc_new(KP_DOC_XLSX);
        kp_doc_set_str(&d->currency, cases[i].code);
        kp_block *b = block(d, KP_BLOCK_TABLE, "t", NULL);
        b->table = kp_table_new(1);
        column(b->table, 0, "Amount", KP_FMT_CURRENCY, KP_TOTAL_NONE);
        num(kp_table_cell(b->table, kp_table_add_row(b->table), 0), -1200);
        char path[128], expect[256];
        render(d, "cur.xlsx", path, sizeof path);
        snprintf(expect, sizeof expect,
                 "sheets\tReport\ncell\tReport!A2\tn\t-1200\nnumfmt\tReport!A2\t%s\n",
                 cases[i].fmt);
        assert_int_equal(run_checker(path, expect), 0);
        kp_doc_free(d);
    }
}

static void test_truncation_warns_once(void **state)
{
    (void)state;
    kp_doc *d = kp_doc_new(KP_DOC_XLSX);
    kp_block *b = block(d, KP_BLOCK_TABLE, "t", NULL);
    b->table = kp_table_new(2);
    column(b->table, 0, "A", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(b->table, 1, "B", KP_FMT_TEXT, KP_TOTAL_NONE);
    char *s = repeat("xyz", 20000);
    size_t r = kp_table_add_row(b->table);
    text(kp_table_cell(b->table, r, 0), s);
    text(kp_table_cell(b->table, r, 1), s);
    free(s);
    /* Exactly at the limit: kept whole. */
    s = repeat("q", 32767);
    text(kp_table_cell(b->table, kp_table_add_row(b->table), 0), s);
    free(s);
    long before = kp_log_warnings();
    char path[128];
    render(d, "trunc.xlsx", path, sizeof path);
    assert_int_equal(kp_log_warnings() - before, 1);
    assert_int_equal(run_checker(path, "cell\tReport!A2\tlen\t32767\n"
                                       "cell\tReport!B2\ttail\tx\xE2\x80\xA6[truncated]\n"
                                       "cell\tReport!A3\tlen\t32767\n"
                                       "cell\tReport!A3\ttail\tqqq\n"),
                     0);
    kp_doc_free(d);
}

static void test_bad_directory(void **state)
{
    (void)state;
    kp_doc *d = full_doc();
    kp_error e;
    kp_error_clear(&e);
    const char *path = "/nonexistent-kp-dir/out.xlsx";
    assert_int_equal(kp_render_xlsx(d, path, &e), KP_ERR_IO);
    assert_int_equal(e.code, KP_ERR_IO);
    assert_string_equal(e.file, path);
    assert_non_null(strstr(e.msg, "cannot write workbook"));
    kp_doc_free(d);
}

static void test_empty_doc(void **state)
{
    (void)state;
    kp_doc *d = kp_doc_new(KP_DOC_XLSX);
    kp_block *b = block(d, KP_BLOCK_TABLE, "empty", "Nothing");
    b->table = kp_table_new(2);
    column(b->table, 0, "Rep", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(b->table, 1, "Bookings", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    char path[128];
    render(d, "empty.xlsx", path, sizeof path);
    /* Header only: no totals row, no defined name, filter on the header. */
    assert_int_equal(run_checker(path, "sheets\tReport\n"
                                       "cell\tReport!A2\ts\tRep\n"
                                       "maxrow\tReport\t2\n"
                                       "autofilter\tReport\tA2:B2\n"
                                       "freeze\tReport\tA3\n"),
                     0);
    kp_doc_free(d);

    d = kp_doc_new(KP_DOC_XLSX); /* no blocks at all: still one (empty) sheet */
    render(d, "none.xlsx", path, sizeof path);
    assert_int_equal(run_checker(path, "sheets\tReport\n"), 0);
    kp_doc_free(d);
}

/* A chart may come before the table it plots: it keeps its place, the table lands below. */
static void test_chart_before_its_table(void **state)
{
    (void)state;
    kp_doc *d = kp_doc_new(KP_DOC_XLSX);
    kp_doc_set_str(&d->currency, "USD");
    block(d, KP_BLOCK_CHART, "c", NULL);
    kp_block *b = block(d, KP_BLOCK_TABLE, "regions", NULL);
    b->table = kp_table_new(2);
    column(b->table, 0, "Region", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(b->table, 1, "Bookings", KP_FMT_CURRENCY, KP_TOTAL_NONE);
    text(kp_table_cell(b->table, kp_table_add_row(b->table), 0), "EMEA");
    text(kp_table_cell(b->table, kp_table_add_row(b->table), 0), "APAC");
    num(kp_table_cell(b->table, 0, 1), 10);
    num(kp_table_cell(b->table, 1, 1), 20);
    kp_block *c = &d->blocks[0]; /* the chart's table exists now */
    c->chart = calloc(1, sizeof *c->chart);
    assert_non_null(c->chart);
    c->chart->type = KP_CHART_COLUMN;
    c->chart->data_block = 1;
    c->chart->data = b->table;
    c->chart->category_col = 0;
    c->chart->series_cols = calloc(1, sizeof(int));
    c->chart->series_cols[0] = 1;
    c->chart->nseries = 1;
    char path[128];
    render(d, "forward.xlsx", path, sizeof path);
    /* 16 rows reserved for the chart: header on row 17, data on 18-19. */
    assert_int_equal(run_checker(path, "charts\tReport\t1\n"
                                       "legend\tReport\t0\tno\n"
                                       "cell\tReport!A17\ts\tRegion\n"
                                       "freeze\tReport\tA18\n"
                                       "chart\tReport\t0\tcol\tReport!$B$17|Report!$A$18:$A$19|"
                                       "Report!$B$18:$B$19\n"),
                     0);
    kp_doc_free(d);
}

/* ---- streamed rows and commission payouts --------------------------------------------- */

/* Rows C, D, E come from a row source, as report.c's prepared statement would give them;
 * payouts are the hand-computed figures of the plan in pay_doc. */
static const struct {
    const char *rep;
    double quota, bookings, att, payout; /* att/payout < 0: NULL */
} pay_rows[] = {
    {"A", 1000, 400, 0.4, 0},      /* below the 50% floor */
    {"B", 1000, 800, 0.8, 400},    /* 0.5 x 80% x 1,000 */
    {"C", 1000, 1000, 1.0, 500},   /* 0.5 x 100% */
    {"D", 1000, 2000, 2.0, 2000},  /* 0.5 x 100% + 1.5 x 100% = 2.0, at the 200% cap */
    {"E", 0, 100, -1, -1},         /* no quota: no attainment, no payout */
};

typedef struct {
    size_t next, end;
    int fail_at; /* row index that fails, -1 = none */
    int closed;
} feed;

static void pay_row(kp_cell *cells, size_t i)
{
    text(&cells[0], pay_rows[i].rep);
    num(&cells[1], pay_rows[i].quota);
    num(&cells[2], pay_rows[i].bookings);
    if (pay_rows[i].att >= 0) {
        num(&cells[3], pay_rows[i].att);
        num(&cells[4], pay_rows[i].payout);
    } else {
        kp_cell_set_null(&cells[3]);
        kp_cell_set_null(&cells[4]);
    }
}

static int feed_next(void *ctx, kp_cell *cells, size_t ncols, kp_error *e)
{
    feed *f = ctx;
    assert_int_equal(ncols, 5);
    if ((int)f->next == f->fail_at) {
        kp_error_set(e, KP_ERR_IO, "feed.sql", 3, 0, "disk I/O error");
        return -1;
    }
    if (f->next == f->end)
        return 0;
    pay_row(cells, f->next++);
    return 1;
}

static void feed_close(void *ctx)
{
    ((feed *)ctx)->closed = 1;
}

static kp_doc *pay_doc(feed *f)
{
    kp_doc *d = kp_doc_new(KP_DOC_XLSX);
    assert_non_null(d);
    d->constant_memory = 1;
    assert_int_equal(kp_doc_set_str(&d->currency, "USD"), KP_OK);
    d->plan = calloc(1, sizeof *d->plan);
    assert_non_null(d->plan);
    *d->plan = (kp_commission_plan){.method = KP_COMMISSION_MARGINAL,
                                    .target_incentive = 1000,
                                    .floor = 0.5,
                                    .has_cap = 1,
                                    .cap = 2.0,
                                    .ntiers = 2,
                                    .tiers = {{0, 0.5}, {1.0, 1.5}}};
    block(d, KP_BLOCK_SHEET, "pay", "Pay");
    kp_block *b = block(d, KP_BLOCK_TABLE, "pay", NULL);
    kp_table *t = b->table = kp_table_new(5);
    assert_non_null(t);
    column(t, 0, "Rep", KP_FMT_TEXT, KP_TOTAL_NONE);
    column(t, 1, "Quota", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    column(t, 2, "Bookings", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    column(t, 3, "Attainment", KP_FMT_PERCENT, KP_TOTAL_RATIO);
    column(t, 4, "Payout", KP_FMT_CURRENCY, KP_TOTAL_SUM);
    t->cols[3].ratio_num = 2;
    t->cols[3].ratio_den = 1;
    t->cols[4].payout_att = 3;
    for (size_t i = 0; i < 2; i++)
        pay_row(kp_table_cell(t, kp_table_add_row(t), 0), i);
    f->next = 2;
    f->end = 5;
    t->stream = (kp_row_source){.next_row = feed_next, .close = feed_close, .ctx = f};
    block(d, KP_BLOCK_SHEET, "notes", "plan"); /* "Plan" is kept for the plan */
    block(d, KP_BLOCK_TEXT, "n", "Notes");
    return d;
}

#define PAYOUT_E4                                                                              \
    "=IF(ISNUMBER(D4),IF(MAX(0,D4)<plan_floor,0,plan_target_incentive*MIN(IF(ISNUMBER("       \
    "plan_cap),plan_cap,1E+300),IF(plan_method=\"cumulative\",MAX(0,D4)*LOOKUP(MAX(0,D4),"     \
    "Plan!$B$11:$B$12,Plan!$D$11:$D$12),Plan!$D$11*MAX(0,MIN(MAX(0,D4),Plan!$B$12)-"          \
    "Plan!$B$11)+Plan!$D$12*MAX(0,MAX(0,D4)-Plan!$B$12)))),\"\")"

static const char *const pay_expect[] = {
    "sheets\tPay|plan (2)|Plan\n",
    "cell\tPay!A2\ts\tA\n",
    "cell\tPay!A6\ts\tE\n",
    "cell\tPay!D4\tf\t=IF(B4=0,\"\",C4/B4)\n",
    "cell\tPay!E4\tf\t" PAYOUT_E4 "\n",
    "cached\tPay!E2\t0\n",
    "cached\tPay!E3\t400\n",
    "cached\tPay!E4\t500\n",
    "cached\tPay!E5\t2000\n",
    "cached\tPay!E6\t\n",
    "cached\tPay!D6\t\n",
    "cell\tPay!E7\tf\t=SUBTOTAL(109,E2:E6)\n",
    "cached\tPay!E7\t2900\n",
    "cached\tPay!D7\t1.075\n", /* bookings 4,300 / quota 4,000: the ratio of the totals */
    "numfmt\tPay!E3\t\"$\"#,##0.00\n",
    "freeze\tPay\tA2\n",
    "autofilter\tPay\tA1:E6\n",
    "name\ttbl_pay\t'Pay'!$A$2:$E$6\n",
    "cell\tPlan!B5\tn\t1000\n",
    "cell\tPlan!B6\ts\tmarginal\n",
    "cell\tPlan!B7\tn\t0.5\n",
    "cell\tPlan!B8\tn\t2\n",
    "cell\tPlan!B11\tn\t0\n",
    "cell\tPlan!D11\tn\t0.5\n",
    "cell\tPlan!C11\tf\t=B12\n",
    "cached\tPlan!C11\t1\n",
    "cell\tPlan!C12\ts\tand above\n",
    "cell\tPlan!D12\tn\t1.5\n",
    "numfmt\tPlan!B7\t0.0%\n",
    "name\tplan_target_incentive\t'Plan'!$B$5\n",
    "name\tplan_method\t'Plan'!$B$6\n",
    "name\tplan_floor\t'Plan'!$B$7\n",
    "name\tplan_cap\t'Plan'!$B$8\n",
    "name\tplan_tiers\t'Plan'!$A$11:$D$12\n",
    NULL,
};

static int sh(const char *fmt, const char *arg)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, fmt, arg);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_streamed_payouts(void **state)
{
    (void)state;
    feed f = {.fail_at = -1};
    kp_doc *d = pay_doc(&f);
    char path[128];
    render(d, "pay.xlsx", path, sizeof path);
    assert_int_equal(f.next, 5); /* every row pulled */
    assert_int_equal(run_checker_lines(path, pay_expect), 0);
    /* constant memory writes strings inline, not in the shared-string table */
    assert_int_equal(sh("/usr/bin/python3 -c \"import sys, zipfile; sys.exit(0 if b'inlineStr' "
                        "in zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml') "
                        "else 1)\" '%s'",
                        path),
                     0);
    kp_doc_free(d);
    assert_true(f.closed); /* the table closed its source */
}

/* LibreOffice recalculates the payouts from the Plan sheet to the cached figures, and to
 * new ones when a rate changes (tier 2 at 2.0: D pays 0.5 + 2.0 = 2.5, capped at 2.0;
 * C is unchanged; so raise the cap to 300% as well: D pays 2,500). */
static void test_payouts_recalculate(void **state)
{
    (void)state;
    feed f = {.fail_at = -1};
    kp_doc *d = pay_doc(&f);
    char path[128];
    render(d, "recalc.xlsx", path, sizeof path);
    kp_doc_free(d);
    int rc = sh("/usr/bin/python3 tests/functional/check_recalc.py '%s'", path);
    if (rc == SKIP_RC)
        skip();
    assert_int_equal(rc, 0);
    assert_int_equal(sh("printf 'Pay!E5 2500\\nPay!E4 500\\nPay!E3 400\\nPay!E2 0\\n' | "
                        "/usr/bin/python3 tests/functional/check_recalc.py '%s' Plan!D12=2 "
                        "Plan!B8=3",
                        path),
                     0);
    /* cumulative: C 100% x 2.0 = 2,000; B 80% x 0.5 = 400; D 200% x 2.0 = 4 -> cap 3 */
    assert_int_equal(sh("printf 'Pay!E4 2000\\nPay!E3 400\\nPay!E5 3000\\n' | "
                        "/usr/bin/python3 tests/functional/check_recalc.py '%s' Plan!D12=2 "
                        "Plan!B8=3 Plan!B6=cumulative",
                        path),
                     0);
}

static void test_stream_error(void **state)
{
    (void)state;
    feed f = {.fail_at = 3};
    kp_doc *d = pay_doc(&f);
    char path[128];
    snprintf(path, sizeof path, "%s/broken.xlsx", tmpdir);
    kp_error e;
    kp_error_clear(&e);
    assert_int_equal(kp_render_xlsx(d, path, &e), KP_ERR_IO);
    char msg[512];
    kp_error_format(&e, msg, sizeof msg);
    assert_string_equal(msg, "feed.sql:3: disk I/O error");
    kp_doc_free(d);
    assert_true(f.closed);
}

static void test_libreoffice_reads_it(void **state)
{
    (void)state;
    kp_doc *d = full_doc();
    char path[128];
    render(d, "lo.xlsx", path, sizeof path);
    int rc = run_checker_lines(path, lo_expect);
    kp_doc_free(d);
    if (rc == SKIP_RC)
        skip();
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_workbook),          cmocka_unit_test(test_byte_identical),
        cmocka_unit_test(test_currency_formats),       cmocka_unit_test(test_truncation_warns_once),
        cmocka_unit_test(test_bad_directory),          cmocka_unit_test(test_empty_doc),
        cmocka_unit_test(test_chart_before_its_table), cmocka_unit_test(test_libreoffice_reads_it),
        cmocka_unit_test(test_streamed_payouts),       cmocka_unit_test(test_payouts_recalculate),
        cmocka_unit_test(test_stream_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
