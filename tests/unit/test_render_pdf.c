/* PDF renderer tests: documents built by hand, rendered to a temporary directory, and
 * checked with independent tools (qpdf, pdfinfo, pdftotext, pdffonts). Expected figures
 * are written out by hand. KP_PDF_KEEP=DIR keeps a scorecard and a board pack there for
 * looking at (pdftoppm -png -r 60). */
#include "test.h"

#include "kpipress/doc.h"
#include "kpipress/font_subset.h"
#include "kpipress/log.h"
#include "kpipress/render_pdf.h"

#include <hpdf_utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *const NAMES[] = {"Müller",           "Søren Kierkegaard", "Łukasz Żółć",
                                    "Ζωή Παπαδοπούλου", "Дмитрий Иванов",    "José Núñez"};
#define NNAMES (sizeof NAMES / sizeof *NAMES)

/* ---- helpers ---------------------------------------------------------------------- */

static char *run(const char *fmt, const char *arg1, const char *arg2)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, arg1, arg2);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[n] = '\0';
    pclose(f);
    return out;
}

static void path_in(char *buf, size_t size, const char *name)
{
    const char *keep = getenv("KP_PDF_KEEP");
    snprintf(buf, size, "%s/%s", keep ? keep : tmpdir, name);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_error("expected to find \"%s\" in:\n%.3000s\n", needle, hay);
        fail();
    }
}

static void assert_qpdf_ok(const char *pdf)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "qpdf --check '%s' >/dev/null 2>&1", pdf);
    assert_int_equal(system(cmd), 0);
}

static int pdf_pages(const char *pdf)
{
    char *info = run("pdfinfo '%s' 2>/dev/null%s", pdf, "");
    const char *p = strstr(info, "\nPages:");
    int n = p ? atoi(p + 7) : -1;
    free(info);
    return n;
}

static kp_table *add_table(kp_doc *d, const char *caption, size_t ncols, const char *const *labels,
                           const kp_format *fmts)
{
    kp_block *b = kp_doc_add_block(d, KP_BLOCK_TABLE);
    assert_non_null(b);
    assert_int_equal(kp_doc_set_str(&b->text, caption), KP_OK);
    b->table = kp_table_new(ncols);
    assert_non_null(b->table);
    for (size_t c = 0; c < ncols; c++) {
        assert_int_equal(kp_doc_set_str(&b->table->cols[c].label, labels[c]), KP_OK);
        assert_int_equal(kp_doc_set_str(&b->table->cols[c].name, labels[c]), KP_OK);
        b->table->cols[c].fmt = fmts[c];
    }
    return b->table;
}

static void set_num(kp_table *t, size_t r, size_t c, double v)
{
    assert_int_equal(kp_cell_set_number(kp_table_cell(t, r, c), v), KP_OK);
}

static void set_txt(kp_table *t, size_t r, size_t c, const char *s)
{
    assert_int_equal(kp_cell_set_text(kp_table_cell(t, r, c), s, strlen(s)), KP_OK);
}

static void add_text(kp_doc *d, kp_block_kind kind, const char *text)
{
    kp_block *b = kp_doc_add_block(d, kind);
    assert_non_null(b);
    assert_int_equal(kp_doc_set_str(&b->text, text), KP_OK);
}

static void add_chart(kp_doc *d, kp_chart_type type, const char *title, const kp_table *t, int cat,
                      size_t nseries, const int *series)
{
    kp_block *b = kp_doc_add_block(d, KP_BLOCK_CHART);
    assert_non_null(b);
    b->chart = calloc(1, sizeof *b->chart);
    assert_non_null(b->chart);
    b->chart->type = type;
    assert_int_equal(kp_doc_set_str(&b->chart->title, title), KP_OK);
    b->chart->data = t;
    b->chart->category_col = cat;
    b->chart->nseries = nseries;
    b->chart->series_cols = calloc(nseries, sizeof(int));
    assert_non_null(b->chart->series_cols);
    memcpy(b->chart->series_cols, series, nseries * sizeof(int));
}

static kp_tile *add_tiles(kp_doc *d, const char *caption, size_t n)
{
    kp_block *b = kp_doc_add_block(d, KP_BLOCK_TILES);
    assert_non_null(b);
    assert_int_equal(kp_doc_set_str(&b->text, caption), KP_OK);
    b->tiles = calloc(n, sizeof *b->tiles);
    assert_non_null(b->tiles);
    b->ntiles = n;
    return b->tiles;
}

static void tile(kp_tile *t, const char *label, kp_format fmt, double v, double cmp, double tgt,
                 int hib)
{
    assert_int_equal(kp_doc_set_str(&t->label, label), KP_OK);
    t->fmt = fmt;
    t->higher_is_better = hib;
    kp_cell_set_number(&t->value, v);
    if (cmp == cmp) {
        kp_cell_set_number(&t->compare, cmp);
        assert_int_equal(kp_doc_set_str(&t->compare_label, "vs previous month"), KP_OK);
    }
    if (tgt == tgt)
        kp_cell_set_number(&t->target, tgt);
}

static kp_doc *new_doc(const char *title)
{
    kp_doc *d = kp_doc_new(KP_DOC_PDF);
    assert_non_null(d);
    assert_int_equal(kp_doc_set_str(&d->title, title), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->company, "Acme Analytics"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->subtitle, "October 2026"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->author, "Sales Operations"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->subject, "Monthly sales KPIs"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->keywords, "sales, kpi"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->currency, "USD"), KP_OK);
    assert_int_equal(kp_doc_set_str(&d->footer, "Confidential - internal use only"), KP_OK);
    d->as_of = kp_date_from_ymd(2026, 10, 31);
    return d;
}

static char long_word[301];

/* Every block kind; a 120-row table that paginates; the names; a NULL cell. */
static kp_doc *full_doc(void)
{
    kp_doc *d = new_doc("Sales Review Q3");
    add_text(d, KP_BLOCK_SHEET, "Overview");
    add_text(d, KP_BLOCK_TITLE, "Quarterly sales review");
    add_text(d, KP_BLOCK_TEXT,
             "This review covers every opportunity closed in the third quarter, the open "
             "pipeline due next quarter, and each representative's attainment against quota. "
             "Figures are in US dollars and come from the CRM export of 31 October.\nA second "
             "line starts here after an explicit line break.");
    memset(long_word, 'x', 300);
    memcpy(long_word, "Begin", 5);
    memcpy(long_word + 295, "Final", 5);
    long_word[300] = '\0';
    add_text(d, KP_BLOCK_TEXT, long_word);

    kp_tile *t = add_tiles(d, "Headline figures", 3);
    tile(&t[0], "Bookings", KP_FMT_CURRENCY, 1234567.89, 1000000, 1500000, 1);
    tile(&t[1], "Win rate", KP_FMT_PERCENT, 0.31, 0.28, 0.0 / 0.0, 1);
    tile(&t[2], "Sales cycle (days)", KP_FMT_DAYS, 45, 50, 40, 0);

    static const char *const labels[] = {"Representative", "Region",     "Bookings",
                                         "Quota",          "Attainment", "Deals"};
    static const kp_format fmts[] = {KP_FMT_TEXT,     KP_FMT_TEXT,    KP_FMT_CURRENCY,
                                     KP_FMT_CURRENCY, KP_FMT_PERCENT, KP_FMT_COUNT};
    kp_table *tb = add_table(d, "Attainment by representative", 6, labels, fmts);
    tb->cols[2].total = KP_TOTAL_SUM;
    tb->cols[3].total = KP_TOTAL_SUM;
    tb->cols[4].total = KP_TOTAL_RATIO;
    tb->cols[4].ratio_num = 2;
    tb->cols[4].ratio_den = 3;
    tb->cols[4].has_rag = 1;
    tb->cols[4].rag_amber = 0.8;
    tb->cols[4].rag_green = 1.0;
    tb->cols[5].total = KP_TOTAL_AVERAGE;
    for (size_t r = 0; r < 120; r++) {
        char name[64];
        assert_int_equal(kp_table_add_row(tb), r);
        if (r < NNAMES)
            snprintf(name, sizeof name, "%s", NAMES[r]);
        else
            snprintf(name, sizeof name, "Rep %03zu", r);
        set_txt(tb, r, 0, name);
        set_txt(tb, r, 1, r % 2 ? "EMEA" : "North America");
        set_num(tb, r, 2, 1000);
        set_num(tb, r, 3, 2000);
        set_num(tb, r, 4, 0.5);
        set_num(tb, r, 5, 2);
    }
    /* Row 0 carries hand-checked figures; row 7 a NULL cell. Totals: bookings
     * 119*1000 + 1234.5 = 120,234.50; quota 120*2000 = 240,000.00; attainment
     * 120234.5/240000 = 50.1%; deals (119*2 + 14)/120 = 2.1 -> "2". */
    set_num(tb, 0, 2, 1234.5);
    set_num(tb, 0, 4, 1234.5 / 2000);
    set_num(tb, 0, 5, 14);
    kp_cell_set_null(kp_table_cell(tb, 7, 4));

    kp_block *brk = kp_doc_add_block(d, KP_BLOCK_BREAK);
    assert_non_null(brk);
    add_text(d, KP_BLOCK_SHEET, "Pipeline");
    static const char *const pl[] = {"Stage", "Open pipeline", "Weighted"};
    static const kp_format pf[] = {KP_FMT_TEXT, KP_FMT_CURRENCY, KP_FMT_CURRENCY};
    kp_table *pt = add_table(d, "Pipeline by stage", 3, pl, pf);
    static const char *const stages[] = {"Prospecting", "Qualification", "Proposal", "Negotiation"};
    static const double open[] = {420000, 310000, 180000, 90000};
    for (size_t r = 0; r < 4; r++) {
        kp_table_add_row(pt);
        set_txt(pt, r, 0, stages[r]);
        set_num(pt, r, 1, open[r]);
        set_num(pt, r, 2, open[r] * (0.1 + 0.2 * (double)r));
    }
    static const int s1[] = {1}, s2[] = {1, 2};
    add_chart(d, KP_CHART_BAR, "Open pipeline by stage", pt, 0, 1, s1);
    add_chart(d, KP_CHART_COLUMN, "Pipeline and weighted pipeline", pt, 0, 2, s2);
    add_chart(d, KP_CHART_LINE, "Pipeline trend", pt, 0, 2, s2);
    add_chart(d, KP_CHART_PIE, "Share of pipeline", pt, 0, 1, s1);
    return d;
}

static void render_ok(const kp_doc *d, const char *path)
{
    kp_error e = {0};
    kp_err rc = kp_render_pdf(d, path, &e);
    if (rc != KP_OK)
        print_error("render failed: %s\n", e.msg);
    assert_int_equal(rc, KP_OK);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_full_document(void **state)
{
    (void)state;
    char pdf[512];
    path_in(pdf, sizeof pdf, "full.pdf");
    kp_doc *d = full_doc();
    render_ok(d, pdf);
    kp_doc_free(d);
    assert_qpdf_ok(pdf);

    int pages = pdf_pages(pdf);
    assert_true(pages >= 4);
    char *info = run("pdfinfo '%s' 2>/dev/null%s", pdf, "");
    assert_contains(info, "Sales Review Q3");
    assert_contains(info, "Sales Operations");
    assert_contains(info, "Monthly sales KPIs");
    assert_contains(info, "595.276 x 841.89");
    free(info);

    char *text = run("pdftotext -layout '%s' - 2>/dev/null%s", pdf, "");
    for (size_t i = 0; i < NNAMES; i++)
        assert_contains(text, NAMES[i]);
    assert_contains(text, "Quarterly sales review");
    assert_contains(text, "$1,234.50");
    assert_contains(text, "61.7%"); /* 1234.5 / 2000 */
    assert_contains(text, "n/a");
    assert_contains(text, "$120,234.50");
    assert_contains(text, "$240,000.00");
    assert_contains(text, "50.1%");
    assert_contains(text, "Total");
    /* Tiles: value, change, target, attainment. */
    assert_contains(text, "$1,234,567.89");
    assert_contains(text, "+23.5% vs previous month");
    assert_contains(text, "Target $1,500,000.00");
    assert_contains(text, "82.3%");
    assert_contains(text, "+3.0 pts");
    assert_contains(text, "10.0% vs previous month");
    assert_contains(text, "Target 40.0");
    /* Charts: category labels, the nice axis (0..500K by 100K), pie shares. */
    assert_contains(text, "Negotiation");
    assert_contains(text, "$400K");
    assert_contains(text, "$420,000.00");
    assert_contains(text, "42.0%"); /* 420000 / 1000000 */
    assert_contains(text, "Page 1 of ");
    char last[64];
    snprintf(last, sizeof last, "Page %d of %d", pages, pages);
    assert_contains(text, last);
    assert_contains(text, "Confidential - internal use only");
    assert_contains(text, "Acme Analytics");
    free(text);

    /* The 300-character word is broken across lines, nothing lost. */
    text = run("pdftotext '%s' - 2>/dev/null | tr -d ' \\n'%s", pdf, "");
    assert_contains(text, long_word);
    free(text);

    /* The table continues on page 2 under a repeated header. */
    text = run("pdftotext -layout -f 2 -l 2 '%s' - 2>/dev/null%s", pdf, "");
    assert_contains(text, "Representative");
    assert_contains(text, "Attainment");
    assert_contains(text, "(continued)");
    assert_contains(text, "Rep 0");
    assert_contains(text, "Page 2 of ");
    free(text);

    /* Sections are bookmarked. */
    text = run("qpdf --json --json-key=outlines '%s' 2>/dev/null%s", pdf, "");
    assert_contains(text, "\"Overview\"");
    assert_contains(text, "\"Pipeline\"");
    free(text);
}

static void test_byte_identical(void **state)
{
    (void)state;
    char a[512], b[512];
    path_in(a, sizeof a, "same-a.pdf");
    path_in(b, sizeof b, "same-b.pdf");
    kp_doc *d = full_doc();
    render_ok(d, a);
    render_ok(d, b);
    kp_doc_free(d);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    assert_int_equal(system(cmd), 0);
    /* The as-of date, not the clock, is the document date. */
    char *info = run("pdfinfo '%s' 2>/dev/null%s", a, "");
    assert_contains(info, "2026");
    free(info);
}

static void check_paper(kp_paper paper, int landscape, const char *size)
{
    char pdf[512];
    path_in(pdf, sizeof pdf, "paper.pdf");
    kp_doc *d = new_doc("Paper");
    d->paper = paper;
    d->landscape = landscape;
    add_text(d, KP_BLOCK_TITLE, "Paper check");
    add_text(d, KP_BLOCK_BREAK, NULL);
    add_text(d, KP_BLOCK_TEXT, "Second page");
    render_ok(d, pdf);
    kp_doc_free(d);
    assert_qpdf_ok(pdf);
    assert_int_equal(pdf_pages(pdf), 2);
    char *info = run("pdfinfo '%s' 2>/dev/null%s", pdf, "");
    assert_contains(info, size);
    free(info);
    char *text = run("pdftotext -f 2 -l 2 '%s' - 2>/dev/null%s", pdf, "");
    assert_contains(text, "Second page");
    assert_contains(text, "Page 2 of 2");
    free(text);
}

static void test_papers(void **state)
{
    (void)state;
    check_paper(KP_PAPER_A4, 0, "595.276 x 841.89");
    check_paper(KP_PAPER_A4, 1, "841.89 x 595.276");
    check_paper(KP_PAPER_LETTER, 0, "612 x 792");
    check_paper(KP_PAPER_LETTER, 1, "792 x 612");
}

static void test_missing_font(void **state)
{
    (void)state;
    char pdf[512];
    path_in(pdf, sizeof pdf, "nofont.pdf");
    kp_doc *d = new_doc("No font");
    assert_int_equal(kp_doc_set_str(&d->font_path, "/nonexistent/fonts/Nope.ttf"), KP_OK);
    add_text(d, KP_BLOCK_TEXT, "text");
    kp_error e = {0};
    assert_int_equal(kp_render_pdf(d, pdf, &e), KP_ERR_IO);
    assert_int_equal(e.code, KP_ERR_IO);
    assert_contains(e.msg, "/nonexistent/fonts/Nope.ttf");
    assert_contains(e.msg, "fonts-dejavu-core");
    kp_doc_free(d);
}

/* A file that is not a TrueType font fails cleanly through libharu's error handler. */
static void test_not_a_font(void **state)
{
    (void)state;
    char bad[512], pdf[512];
    path_in(bad, sizeof bad, "not-a-font.ttf");
    path_in(pdf, sizeof pdf, "badfont.pdf");
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("this is not a font\n", f);
    fclose(f);
    kp_doc *d = new_doc("Bad font");
    assert_int_equal(kp_doc_set_str(&d->font_path, bad), KP_OK);
    add_text(d, KP_BLOCK_TEXT, "text");
    kp_error e = {0};
    assert_int_equal(kp_render_pdf(d, pdf, &e), KP_ERR_IO);
    assert_string_equal(e.file, bad);
    assert_contains(e.msg, "cannot load TrueType font");
    kp_doc_free(d);
}

static void test_unwritable_path(void **state)
{
    (void)state;
    kp_doc *d = new_doc("Nowhere");
    add_text(d, KP_BLOCK_TEXT, "text");
    kp_error e = {0};
    assert_int_equal(kp_render_pdf(d, "/nonexistent-dir/x/out.pdf", &e), KP_ERR_IO);
    assert_contains(e.msg, "cannot create the PDF file");
    kp_doc_free(d);
}

/* font_path picks the regular face; the "-Bold" sibling is used when it exists. */
static void test_font_override(void **state)
{
    (void)state;
    const char *serif = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf";
    const char *light = "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf";
    if (access(serif, R_OK) || access(light, R_OK)) {
        print_message("SKIP: DejaVu Serif / ExtraLight not installed\n");
        skip();
    }
    char pdf[512];
    path_in(pdf, sizeof pdf, "serif.pdf");
    kp_doc *d = new_doc("Serif");
    assert_int_equal(kp_doc_set_str(&d->font_path, serif), KP_OK);
    add_text(d, KP_BLOCK_TITLE, "Serif title");
    add_text(d, KP_BLOCK_TEXT, "Serif body");
    render_ok(d, pdf);
    char *fonts = run("pdffonts '%s' 2>/dev/null%s", pdf, "");
    assert_contains(fonts, "DejaVuSerif-Bold");
    assert_contains(fonts, "DejaVuSerif,Book");
    assert_null(strstr(fonts, "DejaVuSans"));
    free(fonts);

    /* No "-Bold" sibling: bold text falls back to the regular face. */
    assert_int_equal(kp_doc_set_str(&d->font_path, light), KP_OK);
    render_ok(d, pdf);
    fonts = run("pdffonts '%s' 2>/dev/null | tail -n +3 | wc -l%s", pdf, "");
    assert_int_equal(atoi(fonts), 1);
    free(fonts);
    kp_doc_free(d);
}

/* Characters the font lacks (CJK, outside the BMP) are replaced, with one warning. */
static void test_missing_glyphs(void **state)
{
    (void)state;
    char pdf[512];
    path_in(pdf, sizeof pdf, "glyphs.pdf");
    kp_doc *d = new_doc("Glyphs");
    add_text(d, KP_BLOCK_TEXT, "Tokyo \xE6\x9D\xB1\xE4\xBA\xAC office \xF0\x9F\x98\x80 done");
    long before = kp_log_warnings();
    render_ok(d, pdf);
    assert_int_equal(kp_log_warnings() - before, 1);
    kp_doc_free(d);
    assert_qpdf_ok(pdf);
    char *text = run("pdftotext '%s' - 2>/dev/null%s", pdf, "");
    assert_contains(text, "Tokyo");
    assert_contains(text, "office");
    assert_contains(text, "done");
    assert_null(strstr(text, "\xE6\x9D\xB1"));
    free(text);
}

/* A narrow column truncates long text with an ellipsis; empty tables and charts without
 * data render without failing. */
static void test_truncation_and_empty(void **state)
{
    (void)state;
    char pdf[512];
    path_in(pdf, sizeof pdf, "trunc.pdf");
    kp_doc *d = new_doc("Truncation");
    static const char *const labels[] = {"Account", "Notes", "A", "B", "C", "D", "E", "F"};
    static const kp_format fmts[] = {KP_FMT_TEXT,     KP_FMT_TEXT,     KP_FMT_CURRENCY,
                                     KP_FMT_CURRENCY, KP_FMT_CURRENCY, KP_FMT_CURRENCY,
                                     KP_FMT_CURRENCY, KP_FMT_CURRENCY};
    kp_table *t = add_table(d, NULL, 8, labels, fmts);
    kp_table_add_row(t);
    set_txt(t, 0, 0, "Globex Corporation International Holdings Limited Partnership");
    set_txt(t, 0, 1,
            "Renewal negotiated by the regional director with a multi-year discount "
            "and a price lock through the end of the next fiscal year");
    for (size_t c = 2; c < 8; c++)
        set_num(t, 0, c, 123456789.25);
    add_table(d, "Empty table", 2, labels, fmts);
    static const int s[] = {2};
    add_chart(d, KP_CHART_COLUMN, "Empty chart", NULL, 0, 1, s);
    render_ok(d, pdf);
    kp_doc_free(d);
    assert_qpdf_ok(pdf);
    char *text = run("pdftotext -layout '%s' - 2>/dev/null%s", pdf, "");
    assert_contains(text, "\xE2\x80\xA6");
    assert_contains(text, "$123,456,789.25");
    assert_contains(text, "No rows");
    assert_contains(text, "No data for this chart");
    free(text);
}

/* ---- documents to look at (KP_PDF_KEEP) ------------------------------------------- */

static kp_doc *scorecard_doc(void)
{
    kp_doc *d = new_doc("Rep Scorecard \xE2\x80\x94 Søren Kierkegaard");
    assert_int_equal(
        kp_doc_set_str(&d->footer, "Søren Kierkegaard · EMEA North · as of 2026-10-31"), KP_OK);
    add_text(d, KP_BLOCK_TITLE, "Søren Kierkegaard");
    add_text(d, KP_BLOCK_TEXT,
             "Performance for October 2026 against quota and the previous month. Bookings are "
             "closed-won amounts in US dollars; pipeline counts open opportunities due this "
             "quarter.");
    kp_tile *t = add_tiles(d, NULL, 4);
    tile(&t[0], "Bookings", KP_FMT_CURRENCY, 182450, 151200, 200000, 1);
    tile(&t[1], "Quota attainment", KP_FMT_PERCENT, 0.912, 0.84, 1.0, 1);
    tile(&t[2], "Win rate", KP_FMT_PERCENT, 0.27, 0.31, 0.25, 1);
    tile(&t[3], "Sales cycle", KP_FMT_DAYS, 38.5, 42, 45, 0);
    static const char *const ml[] = {"Month", "Bookings", "Quota"};
    static const kp_format mf[] = {KP_FMT_TEXT, KP_FMT_CURRENCY, KP_FMT_CURRENCY};
    kp_table *m = kp_table_new(3);
    for (size_t c = 0; c < 3; c++) {
        kp_doc_set_str(&m->cols[c].label, ml[c]);
        m->cols[c].fmt = mf[c];
    }
    static const char *const months[] = {"May", "Jun", "Jul", "Aug", "Sep", "Oct"};
    static const double bk[] = {120500, 164000, 98000, 143250, 151200, 182450};
    for (size_t r = 0; r < 6; r++) {
        kp_table_add_row(m);
        set_txt(m, r, 0, months[r]);
        set_num(m, r, 1, bk[r]);
        set_num(m, r, 2, 160000);
    }
    kp_block *mb = kp_doc_add_block(d, KP_BLOCK_CHART);
    mb->chart = calloc(1, sizeof *mb->chart);
    mb->chart->type = KP_CHART_COLUMN;
    kp_doc_set_str(&mb->chart->title, "Bookings vs quota, last six months");
    mb->chart->data = m;
    mb->chart->nseries = 2;
    mb->chart->series_cols = calloc(2, sizeof(int));
    mb->chart->series_cols[0] = 1;
    mb->chart->series_cols[1] = 2;

    static const char *const dl[] = {"Opportunity", "Account", "Stage", "Amount", "Close date"};
    static const kp_format df[] = {KP_FMT_TEXT, KP_FMT_TEXT, KP_FMT_TEXT, KP_FMT_CURRENCY,
                                   KP_FMT_DATE};
    kp_table *dt = add_table(d, "Largest open deals", 5, dl, df);
    static const char *const opp[] = {"Platform renewal 2027", "Data warehouse expansion",
                                      "EMEA rollout phase 2", "Analytics add-on",
                                      "Support upgrade"};
    static const char *const acct[] = {"Nordisk Shipping A/S", "Müller & Söhne GmbH",
                                       "Łódź Logistics", "José Núñez Consulting",
                                       "Kierkegaard Holdings"};
    static const char *const stg[] = {"Negotiation", "Proposal", "Proposal", "Qualification",
                                      "Prospecting"};
    static const double amt[] = {96000, 72500, 58000, 24300, 12900};
    for (size_t r = 0; r < 5; r++) {
        kp_table_add_row(dt);
        set_txt(dt, r, 0, opp[r]);
        set_txt(dt, r, 1, acct[r]);
        set_txt(dt, r, 2, stg[r]);
        set_num(dt, r, 3, amt[r]);
        kp_cell_set_date(kp_table_cell(dt, r, 4), kp_date_from_ymd(2026, 11, 5 + 4 * (int)r));
    }
    dt->cols[3].total = KP_TOTAL_SUM;
    static const int s1[] = {3};
    add_chart(d, KP_CHART_PIE, "Open pipeline by deal", dt, 0, 1, s1);
    /* The chart's monthly data is listed last; the doc owns it through this block. */
    kp_block *own = kp_doc_add_block(d, KP_BLOCK_TABLE);
    own->table = m;
    kp_doc_set_str(&own->text, "Monthly bookings");
    m->cols[1].total = KP_TOTAL_SUM;
    return d;
}

static kp_doc *board_pack_doc(void)
{
    kp_doc *d = new_doc("Monthly Board Pack");
    d->landscape = 1;
    d->paper = KP_PAPER_LETTER;
    add_text(d, KP_BLOCK_SHEET, "Summary");
    kp_tile *t = add_tiles(d, NULL, 5);
    tile(&t[0], "Bookings", KP_FMT_CURRENCY, 4825300, 4410000, 5000000, 1);
    tile(&t[1], "Open pipeline", KP_FMT_CURRENCY, 15230000, 16100000, 0.0 / 0.0, 1);
    tile(&t[2], "Win rate", KP_FMT_PERCENT, 0.294, 0.281, 0.3, 1);
    tile(&t[3], "Pipeline coverage", KP_FMT_RATIO, 2.85, 3.1, 3, 1);
    tile(&t[4], "Reps at quota", KP_FMT_PERCENT, 0.58, 0.52, 0.7, 1);

    static const char *const ml[] = {"Month", "Bookings", "Quota", "Forecast"};
    static const kp_format mf[] = {KP_FMT_TEXT, KP_FMT_CURRENCY, KP_FMT_CURRENCY, KP_FMT_CURRENCY};
    kp_table *m = add_table(d, "Bookings by month", 4, ml, mf);
    static const char *const months[] = {"Nov 2025", "Dec 2025", "Jan 2026", "Feb 2026",
                                         "Mar 2026", "Apr 2026", "May 2026", "Jun 2026",
                                         "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026"};
    for (size_t r = 0; r < 12; r++) {
        kp_table_add_row(m);
        set_txt(m, r, 0, months[r]);
        set_num(m, r, 1, 3600000 + 120000.0 * (double)((r * 7) % 11));
        set_num(m, r, 2, 4000000 + 50000.0 * (double)r);
        set_num(m, r, 3, 3700000 + 110000.0 * (double)r);
    }
    m->cols[1].total = KP_TOTAL_SUM;
    m->cols[2].total = KP_TOTAL_SUM;
    m->cols[3].total = KP_TOTAL_SUM;
    static const int s2[] = {1, 2}, s3[] = {1, 3};
    add_chart(d, KP_CHART_COLUMN, "Bookings vs quota", m, 0, 2, s2);
    add_chart(d, KP_CHART_LINE, "Bookings and forecast", m, 0, 2, s3);

    add_text(d, KP_BLOCK_SHEET, "Pipeline");
    static const char *const rl[] = {"Region", "Open pipeline", "Weighted", "Deals"};
    static const kp_format rf[] = {KP_FMT_TEXT, KP_FMT_CURRENCY, KP_FMT_CURRENCY, KP_FMT_COUNT};
    kp_table *rg = add_table(d, "Pipeline by region", 4, rl, rf);
    static const char *const regions[] = {"North America", "EMEA", "APAC", "LATAM"};
    static const double op[] = {7200000, 4800000, 2300000, 930000};
    for (size_t r = 0; r < 4; r++) {
        kp_table_add_row(rg);
        set_txt(rg, r, 0, regions[r]);
        set_num(rg, r, 1, op[r]);
        set_num(rg, r, 2, op[r] * 0.37);
        set_num(rg, r, 3, 40 + 13.0 * (double)r);
    }
    static const int s1[] = {1};
    add_chart(d, KP_CHART_PIE, "Pipeline share by region", rg, 0, 1, s1);
    add_chart(d, KP_CHART_BAR, "Open pipeline by region", rg, 0, 1, s1);

    add_text(d, KP_BLOCK_SHEET, "Representatives");
    static const char *const al[] = {"Representative", "Team",       "Bookings",
                                     "Quota",          "Attainment", "Win rate"};
    static const kp_format af[] = {KP_FMT_TEXT,     KP_FMT_TEXT,    KP_FMT_CURRENCY,
                                   KP_FMT_CURRENCY, KP_FMT_PERCENT, KP_FMT_PERCENT};
    kp_table *a = add_table(d, "Quota attainment", 6, al, af);
    a->cols[2].total = KP_TOTAL_SUM;
    a->cols[3].total = KP_TOTAL_SUM;
    a->cols[4].total = KP_TOTAL_RATIO;
    a->cols[4].ratio_num = 2;
    a->cols[4].ratio_den = 3;
    a->cols[4].has_rag = 1;
    a->cols[4].rag_amber = 0.8;
    a->cols[4].rag_green = 1.0;
    a->cols[5].total = KP_TOTAL_AVERAGE;
    for (size_t r = 0; r < 40; r++) {
        char name[64];
        kp_table_add_row(a);
        if (r < NNAMES)
            snprintf(name, sizeof name, "%s", NAMES[r]);
        else
            snprintf(name, sizeof name, "Representative %02zu", r);
        set_txt(a, r, 0, name);
        set_txt(a, r, 1, r % 3 ? "Enterprise" : "Mid-market");
        double q = 300000 + 25000.0 * (double)(r % 5);
        double b = q * (0.55 + 0.05 * (double)((r * 7) % 13));
        set_num(a, r, 2, b);
        set_num(a, r, 3, q);
        set_num(a, r, 4, b / q);
        set_num(a, r, 5, 0.18 + 0.01 * (double)((r * 5) % 17));
    }
    return d;
}

static void test_keep_documents(void **state)
{
    (void)state;
    char sc[512], bp[512];
    path_in(sc, sizeof sc, "scorecard.pdf");
    path_in(bp, sizeof bp, "board-pack.pdf");
    kp_doc *d = scorecard_doc();
    render_ok(d, sc);
    kp_doc_free(d);
    d = board_pack_doc();
    render_ok(d, bp);
    kp_doc_free(d);
    assert_qpdf_ok(sc);
    assert_qpdf_ok(bp);
    char *info = run("pdfinfo '%s' 2>/dev/null%s", bp, "");
    assert_contains(info, "792 x 612");
    free(info);
    char *text = run("pdftotext -layout '%s' - 2>/dev/null%s", sc, "");
    assert_contains(text, "$182,450.00");
    assert_contains(text, "+20.7% vs previous month"); /* 182450/151200 - 1 */
    assert_contains(text, "\xE2\x88\x92"
                          "4.0 pts");     /* 27% vs 31% */
    assert_contains(text, "$263,700.00"); /* 96000+72500+58000+24300+12900 */
    assert_contains(text, "2026-11-05");
    free(text);
}

/* The HarfBuzz adapter: a subset holds what was asked (smaller than the face), the same
 * request gives the same bytes (cached or not), and bad fonts get their message. */
static void test_font_subset(void **state)
{
    (void)state;
    static const uint32_t cps[] = {' ', '$', '0', '1', 'A', 'a', 0x141, 0x3A9, 0x414};
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    kp_error e = {0};
    assert_int_equal(kp_font_subset_make(KP_DEFAULT_FONT, cps, 9, &a, &alen, &e), KP_OK);
    assert_true(alen > 1000 && alen < 20000); /* DejaVu Sans itself is ~740 KB */
    kp_font_subset_cache_clear();
    assert_int_equal(kp_font_subset_make(KP_DEFAULT_FONT, cps, 9, &b, &blen, &e), KP_OK);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(b);
    assert_int_equal(kp_font_subset_make(KP_DEFAULT_FONT, cps, 9, &b, &blen, &e), KP_OK);
    assert_memory_equal(a, b, alen); /* from the cache */
    free(a);
    free(b);
    /* A code point the font lacks brings U+FFFD along: a bigger subset. */
    static const uint32_t lacking[] = {' ', '$', '0', '1', 'A', 'a', 0x141, 0x3A9, 0x414, 0xE000};
    assert_int_equal(kp_font_subset_make(KP_DEFAULT_FONT, lacking, 10, &a, &alen, &e), KP_OK);
    assert_true(alen > blen);
    free(a);

    char bad[512];
    path_in(bad, sizeof bad, "not-a-font-2.ttf");
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("this is not a font\n", f);
    fclose(f);
    assert_int_equal(kp_font_subset_make(bad, cps, 9, &a, &alen, &e), KP_ERR_DATA);
    assert_null(a);
    assert_string_equal(e.file, bad);
    assert_string_equal(e.msg, "not a TrueType font (no glyphs found); set font to a .ttf file");
    assert_int_equal(kp_font_subset_make("/nonexistent/x.ttf", cps, 9, &a, &alen, &e), KP_ERR_IO);
    assert_string_equal(e.msg, "cannot read font file");
    kp_font_subset_cache_clear();
}

/* The four newer chart types: stacked column, forecast band, sparklines, bullets. The
 * figures are written out by hand; the file stays small because fonts are subset. */
static void test_new_charts(void **state)
{
    (void)state;
    char pdf[512];
    path_in(pdf, sizeof pdf, "new-charts.pdf");
    kp_doc *d = new_doc("Charts");
    static const char *const labels[] = {"Month", "New",  "Existing", "Forecast",
                                         "Low",   "High", "Quota",    "Win rate"};
    static const kp_format fmts[] = {KP_FMT_TEXT,     KP_FMT_CURRENCY, KP_FMT_CURRENCY,
                                     KP_FMT_CURRENCY, KP_FMT_CURRENCY, KP_FMT_CURRENCY,
                                     KP_FMT_CURRENCY, KP_FMT_PERCENT};
    kp_table *t = add_table(d, "Months", 8, labels, fmts);
    static const char *const months[] = {"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (size_t r = 0; r < 6; r++) {
        assert_int_equal(kp_table_add_row(t), r);
        set_txt(t, r, 0, months[r]);
        set_num(t, r, 6, 100000);
        if (r < 4) { /* actuals: new + existing, win rate */
            set_num(t, r, 1, 50000 + 10000.0 * (double)r);
            set_num(t, r, 2, 25000);
            set_num(t, r, 7, 0.25 + 0.05 * (double)r);
        } else { /* forecast with its interval */
            set_num(t, r, 3, 90000);
            set_num(t, r, 4, 70000);
            set_num(t, r, 5, 110000);
        }
    }
    add_chart(d, KP_CHART_STACKED, "Stacked bookings", t, 0, 2, (const int[]){1, 2});
    add_chart(d, KP_CHART_FORECAST, "Bookings forecast", t, 0, 5, (const int[]){1, 3, 4, 5, 6});
    add_chart(d, KP_CHART_SPARKLINE, "Trends", t, 0, 2, (const int[]){1, 7});
    static const char *const blabels[] = {"Window", "Bookings", "Quota"};
    static const kp_format bfmts[] = {KP_FMT_TEXT, KP_FMT_CURRENCY, KP_FMT_CURRENCY};
    kp_table *b = add_table(d, "Attainment", 3, blabels, bfmts);
    static const char *const windows[] = {"October", "Quarter", "No quota"};
    static const double bk[] = {90000, 330000, 5000}, qt[] = {100000, 300000, 0};
    for (size_t r = 0; r < 3; r++) {
        kp_table_add_row(b);
        set_txt(b, r, 0, windows[r]);
        set_num(b, r, 1, bk[r]);
        set_num(b, r, 2, qt[r]);
    }
    add_chart(d, KP_CHART_BULLET, "Against quota", b, 0, 2, (const int[]){1, 2});
    render_ok(d, pdf);
    kp_doc_free(d);
    assert_qpdf_ok(pdf);
    char *text = run("pdftotext -layout '%s' - 2>/dev/null%s", pdf, "");
    assert_contains(text, "Stacked bookings");
    assert_contains(text, "$105,000.00"); /* stacked total of Oct: 80,000 + 25,000 */
    assert_contains(text, "Bookings forecast");
    assert_contains(text, "Low to High"); /* the band's legend key: both bounds */
    assert_contains(text, "$80,000.00"); /* sparkline: last New value (Oct) */
    assert_contains(text, "+14.3%");  /* ... its change from Sep: 80/70 - 1 */
    assert_contains(text, "40.0%");   /* win rate last value */
    assert_contains(text, "+5 pts");  /* ... up from 35.0% */
    assert_contains(text, "Jul \xE2\x80\x93 Dec"); /* sparkline range, an en dash */
    assert_contains(text, "90.0%");   /* bullet: 90,000 of 100,000 */
    assert_contains(text, "110.0%");  /* 330,000 of 300,000 */
    assert_contains(text, "$90K of $100K");
    assert_contains(text, "no target");
    free(text);
    char *fonts = run("pdffonts '%s' 2>/dev/null | tail -n +3%s", pdf, "");
    assert_contains(fonts, "yes yes yes");
    free(fonts);
    struct stat st;
    assert_int_equal(stat(pdf, &st), 0);
    assert_true(st.st_size < 40000);
}

/* The embedded fonts, checked against the TrueType files by check_pdf_font.py: every
 * character of the text is in the ToUnicode map, each leads through the glyph map to a
 * subset glyph with the original's advance and box, /W gives those advances, and the
 * glyph map stops at the highest character (U+FFFD here: U+E000 is not in the font).
 * The third document has the first one's characters: its font comes from the process
 * cache and its bytes are the first one's. */
static void check_fonts(const char *pdf, const char *text)
{
    char qdf[520], cmd[1400];
    snprintf(qdf, sizeof qdf, "%s.qdf", pdf);
    snprintf(cmd, sizeof cmd, "qpdf --qdf --object-streams=disable '%s' '%s'", pdf, qdf);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/unit/check_pdf_font.py '%%s' " KP_DEFAULT_FONT
             " 'DejaVuSans,Book' '%s'%%s",
             text);
    char *out = run(cmd, qdf, "");
    assert_string_equal(out, "ok\n");
    free(out);
    out = run("/usr/bin/python3 tests/unit/check_pdf_font.py '%s' " KP_DEFAULT_FONT_BOLD
              " 'DejaVuSans-Bold,Bold' 'Fonts'%s",
              qdf, "");
    assert_string_equal(out, "ok\n");
    free(out);
}

static void test_font_objects(void **state)
{
    (void)state;
    static const char *const texts[] = {"\xC5\x81ukasz \xC5\xBB\xC3\xB3\xC5\x82\xC4\x87 "
                                        "\xE2\x80\x93 12 % \xE2\x89\xA4 15 \xE2\x82\xAC",
                                        "Plain text, ASCII only"};
    char pdf[512], first[512], cmd[1200];
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "fonts-%d.pdf", i);
        path_in(pdf, sizeof pdf, name);
        kp_doc *d = new_doc("Fonts");
        add_text(d, KP_BLOCK_TEXT, texts[i % 2]);
        if (i != 1)
            add_text(d, KP_BLOCK_TEXT, "private \xEE\x80\x80 use");
        render_ok(d, pdf);
        kp_doc_free(d);
        assert_qpdf_ok(pdf);
        check_fonts(pdf, texts[i % 2]);
        if (i == 0)
            memcpy(first, pdf, sizeof first);
        snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", first, pdf);
        if (i == 1)
            assert_int_not_equal(system(cmd), 0);
        else
            assert_int_equal(system(cmd), 0);
    }
}

/* Colours and fonts are written only when they change, but each page's footer is drawn
 * after the last page: what follows the last stroke of every page (the footer's rule)
 * must set its own colours and font rather than rely on the state the last page ended
 * in. */
static void test_footer_state(void **state)
{
    (void)state;
    char pdf[512], qdf[520];
    path_in(pdf, sizeof pdf, "full-state.pdf");
    snprintf(qdf, sizeof qdf, "%s.qdf", pdf);
    kp_doc *d = full_doc();
    render_ok(d, pdf);
    kp_doc_free(d);
    char py[520];
    path_in(py, sizeof py, "last_text.py");
    FILE *f = fopen(py, "w");
    assert_non_null(f);
    fputs("import re, sys\n"
          "d = open(sys.argv[1], 'rb').read()\n"
          "pages = [s for s in re.findall(rb'\\nstream\\n(.*?)\\nendstream', d, re.S) if b' Tj' in s]\n"
          "last = [p[p.rfind(b'ET', 0, p.rfind(b'\\nS\\n')):] for p in pages]\n"
          "print(len(pages), all(b' Tf' in t and b' rg' in t and b' RG' in t for t in last))\n",
          f);
    fclose(f);
    char cmd[1700];
    snprintf(cmd, sizeof cmd, "qpdf --qdf --object-streams=disable '%s' '%s' && /usr/bin/python3 '%s'",
             pdf, qdf, py);
    char *out = run("%s '%s'", cmd, qdf);
    int pages = pdf_pages(pdf);
    char want[32];
    snprintf(want, sizeof want, "%d True\n", pages);
    assert_string_equal(out, want);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/kp-pdf-XXXXXX", base);
    if (!mkdtemp(tmpdir))
        return -1;
    kp_log_set_level(2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* render_pdf.c takes the place of libharu's byte loops (HPDF_MemSet, HPDF_MemCpy,
 * HPDF_StrLen); libharu relies on what they return: the end of what was written, and a
 * length cut at maxlen (no limit when it is negative). */
static void test_byte_loops(void **state)
{
    (void)state;
    HPDF_BYTE b[16];
    memset(b, 'x', sizeof b);
    assert_ptr_equal(HPDF_MemSet(b, 0, 5), b + 5);
    assert_memory_equal(b, "\0\0\0\0\0x", 6);
    assert_ptr_equal(HPDF_MemSet(b, 'y', 0), b);
    assert_ptr_equal(HPDF_MemCpy(b, (const HPDF_BYTE *)"abc", 3), b + 3);
    assert_memory_equal(b, "abc\0\0x", 6);
    assert_ptr_equal(HPDF_MemCpy(b, b + 1, 2), b + 2); /* overlapping, forward */
    assert_memory_equal(b, "bcc", 3);
    assert_int_equal(HPDF_StrLen("hello", -1), 5);
    assert_int_equal(HPDF_StrLen("hello", 3), 3);
    assert_int_equal(HPDF_StrLen("hello", 9), 5);
    assert_int_equal(HPDF_StrLen("hello", 0), 0);
    assert_int_equal(HPDF_StrLen(NULL, -1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_document),
        cmocka_unit_test(test_byte_identical),
        cmocka_unit_test(test_papers),
        cmocka_unit_test(test_missing_font),
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_not_a_font),
        cmocka_unit_test(test_font_override),
        cmocka_unit_test(test_missing_glyphs),
        cmocka_unit_test(test_truncation_and_empty),
        cmocka_unit_test(test_keep_documents),
        cmocka_unit_test(test_font_subset),
        cmocka_unit_test(test_new_charts),
        cmocka_unit_test(test_font_objects),
        cmocka_unit_test(test_footer_state),
        cmocka_unit_test(test_byte_loops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
