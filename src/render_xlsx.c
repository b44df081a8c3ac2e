/* Excel renderer: turns a kp_doc into a workbook with libxlsxwriter, the only file that
 * includes <xlsxwriter.h>. Blocks flow down each sheet; tables get real types, number
 * formats, live ratio/total formulas with cached values, filters, frozen headers, RAG
 * formats and defined names; charts are built last, once every table has landed. */
#include "kpipress/render_xlsx.h"

#include "kpipress/deliver.h"

#include "kpipress/limits.h"
#include "kpipress/log.h"

#include <xlsxwriter.h>

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRUNC_MARKER "\xE2\x80\xA6[truncated]" /* "…[truncated]" */
#define TRUNC_MARKER_UNITS 12                  /* its length in UTF-16 units */
#define EXCEL_EPOCH_OFFSET 25569               /* Excel serial of 1970-01-01 (1900 date system) */
#define EXCEL_FIRST_SAFE_SERIAL 61 /* 1900-03-01: earlier serials hit the 1900 leap bug */
#define CHART_ROWS 16              /* rows a default 480x288 px chart covers, plus a gap */
#define MIN_COL_WIDTH 6
#define COL_PADDING 2
#define WIDE_TABLE_COLS 7    /* more columns than this: print landscape */
#define WIDE_SHEET_CHARS 110 /* sum of column widths above this: print landscape */
#define PAPER_A4 9           /* Excel paper codes */
#define PAPER_LETTER 1
/* The Plan sheet (doc->plan): fixed cells that every payout formula points at. 0-based
 * rows; Excel shows them one higher (target incentive in B5, first tier in row 11). */
#define PLAN_SHEET "Plan"
#define PLAN_ROW_TI 4
#define PLAN_ROW_METHOD 5
#define PLAN_ROW_FLOOR 6
#define PLAN_ROW_CAP 7
#define PLAN_ROW_TIERS 10
#define FORMULA_MAX 8192 /* Excel's formula length limit */

enum { V_PLAIN = 0, V_TOTAL, V_COUNT };
#define NFORMATS (KP_FMT_RATIO + 1)

typedef struct sheet {
    lxw_worksheet *ws;
    char name[LXW_MAX_SHEETNAME_LENGTH];
    lxw_row_t row; /* next free row */
    int has_table; /* the first table fixed freeze panes, filter and print titles */
    int wide;
    size_t ncols;         /* width[] entries in use */
    int *width;           /* characters per column, 0 = untouched */
    unsigned char *fixed; /* width set by the template: content does not change it */
} sheet;

/* Where a table block landed, for charts that plot it. */
typedef struct placed {
    int ok;
    size_t sheet;
    lxw_row_t header_row, first_row;
    size_t nrows;
} placed;

typedef struct pending_chart {
    size_t block, sheet;
    lxw_row_t row;
} pending_chart;

typedef struct xl {
    const kp_doc *doc;
    const char *path;
    kp_error *e;
    lxw_workbook *wb;
    lxw_error lrc; /* first libxlsxwriter error, sticky, checked per block */
    char lwhere[160];
    lxw_format *num[NFORMATS][V_COUNT];
    lxw_format *header, *title, *caption;
    lxw_format *text; /* NULL: the default style (see make_formats) */
    lxw_format *rag_red, *rag_amber, *rag_green;
    sheet *sheets;
    size_t nsheets;
    placed *placed;
    pending_chart *charts;
    size_t ncharts;
    char **names; /* defined names so far */
    size_t nnames, cap_names;
    long truncated;
    char first_truncated[160];
} xl;

/* ---- small helpers ------------------------------------------------------------------- */

/* Length of the UTF-8 sequence starting with byte c (input is known valid). */
static size_t u8len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Code points in s, stopping once `cap` is reached (column widths need no more). */
static size_t display_len(const char *s, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < cap; p += u8len(*p))
        n++;
    return n;
}

static void col_name(char *buf, lxw_col_t col)
{
    lxw_col_to_name(buf, col, 0);
}

/* Remember the first libxlsxwriter failure; later calls are harmless no-ops in effect. */
static void note(xl *x, lxw_error rc, const sheet *s, lxw_row_t r, lxw_col_t c)
{
    if (rc == LXW_NO_ERROR || x->lrc != LXW_NO_ERROR)
        return;
    x->lrc = rc;
    char cell[LXW_MAX_CELL_NAME_LENGTH];
    lxw_rowcol_to_cell(cell, r, c);
    snprintf(x->lwhere, sizeof x->lwhere, "%s!%s", s ? s->name : "?", cell);
}

static kp_err check(xl *x)
{
    if (x->lrc == LXW_NO_ERROR)
        return KP_OK;
    return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "writing cell %s: %s", x->lwhere,
                        lxw_strerror(x->lrc));
}

static void track_width(sheet *s, lxw_col_t col, size_t len)
{
    if (col >= s->ncols || s->fixed[col])
        return;
    int w = (int)(len > KP_XLSX_MAX_COL_WIDTH ? KP_XLSX_MAX_COL_WIDTH : len) + COL_PADDING;
    if (w > s->width[col])
        s->width[col] = w;
}

/* ---- formats ------------------------------------------------------------------------- */

/* Excel number format for a currency. Symbol placement follows kp_format_cell (pdf),
 * so a figure reads the same in both documents. The code is reduced to letters and
 * digits because it is spliced into a quoted format string. */
static void currency_format(const char *code, char *buf, size_t size)
{
    char clean[9];
    size_t n = 0;
    for (const char *p = code ? code : ""; *p && n < sizeof clean - 1; p++)
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            clean[n++] = *p;
    clean[n] = '\0';
    if (!n || !strcmp(clean, "USD"))
        snprintf(buf, size, "\"$\"#,##0.00");
    else if (!strcmp(clean, "EUR"))
        snprintf(buf, size, "\"\xE2\x82\xAC\"#,##0.00");
    else if (!strcmp(clean, "GBP"))
        snprintf(buf, size, "\"\xC2\xA3\"#,##0.00");
    else if (!strcmp(clean, "JPY"))
        snprintf(buf, size, "\"\xC2\xA5\"#,##0.00");
    else
        snprintf(buf, size, "#,##0.00 \"%s\"", clean);
}

static const char *number_format(kp_format f, const char *currency_fmt)
{
    switch (f) {
    case KP_FMT_NUMBER: return "#,##0.00";
    case KP_FMT_COUNT: return "#,##0";
    case KP_FMT_CURRENCY: return currency_fmt;
    case KP_FMT_PERCENT: return "0.0%";
    case KP_FMT_DATE: return "yyyy-mm-dd";
    case KP_FMT_DAYS: return "0.0";
    case KP_FMT_RATIO: return "0.00\"x\"";
    case KP_FMT_TEXT: return NULL;
    }
    return NULL;
}

/* Every format is made once per workbook: libxlsxwriter keeps them all until close. */
static kp_err make_formats(xl *x)
{
    char cur[64];
    currency_format(x->doc->currency, cur, sizeof cur);
    for (int f = 0; f < NFORMATS; f++) {
        for (int v = 0; v < V_COUNT; v++) {
            /* Plain text is the default style: NULL. A format equal to the default is
             * never cached by libxlsxwriter 1.1.4, which rehashes it on every cell
             * (a quarter of a raw-data sheet's time). */
            if (f == KP_FMT_TEXT && v == V_PLAIN)
                continue;
            lxw_format *fm = workbook_add_format(x->wb);
            if (!fm)
                return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory for formats");
            const char *nf = number_format((kp_format)f, cur);
            if (nf)
                format_set_num_format(fm, nf);
            if (v == V_TOTAL) {
                format_set_bold(fm);
                format_set_top(fm, LXW_BORDER_THIN);
            }
            x->num[f][v] = fm;
        }
    }
    x->header = workbook_add_format(x->wb);
    x->title = workbook_add_format(x->wb);
    x->caption = workbook_add_format(x->wb);
    x->rag_red = workbook_add_format(x->wb);
    x->rag_amber = workbook_add_format(x->wb);
    x->rag_green = workbook_add_format(x->wb);
    if (!x->header || !x->title || !x->caption || !x->rag_red || !x->rag_amber ||
        !x->rag_green)
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory for formats");
    format_set_bold(x->header);
    format_set_bg_color(x->header, 0xD9E1F2);
    format_set_bottom(x->header, LXW_BORDER_THIN);
    format_set_text_wrap(x->header);
    format_set_align(x->header, LXW_ALIGN_VERTICAL_TOP);
    format_set_bold(x->title);
    format_set_font_size(x->title, 16);
    format_set_bold(x->caption);
    format_set_font_size(x->caption, 12);
    /* Excel's own "light red fill with dark red text" family, legible in print. */
    format_set_bg_color(x->rag_red, 0xFFC7CE);
    format_set_font_color(x->rag_red, 0x9C0006);
    format_set_bg_color(x->rag_amber, 0xFFEB9C);
    format_set_font_color(x->rag_amber, 0x9C5700);
    format_set_bg_color(x->rag_green, 0xC6EFCE);
    format_set_font_color(x->rag_green, 0x006100);
    return KP_OK;
}

/* ---- cells --------------------------------------------------------------------------- */

/* Write text as a string cell, never a formula. Over Excel's limit (counted in UTF-16
 * units, as Excel does) the text is cut at a character boundary and marked. */
static void put_text(xl *x, sheet *s, lxw_row_t r, lxw_col_t c, const char *text, lxw_format *fm)
{
    size_t len = strlen(text);
    /* Valid UTF-8 by the model's contract (kp_cell_set_text); not re-checked per cell. */
    size_t units = 0, cut = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len; i += u8len(p[i])) {
        size_t w = u8len(p[i]) == 4 ? 2 : 1;
        if (units + w <= KP_XLSX_MAX_STRING - TRUNC_MARKER_UNITS)
            cut = i + u8len(p[i]);
        units += w;
    }
    if (units <= KP_XLSX_MAX_STRING) {
        note(x, worksheet_write_string(s->ws, r, c, text, fm), s, r, c);
        return;
    }
    char *buf = malloc(cut + sizeof TRUNC_MARKER);
    if (!buf) {
        note(x, LXW_ERROR_MEMORY_MALLOC_FAILED, s, r, c);
        return;
    }
    memcpy(buf, text, cut);
    memcpy(buf + cut, TRUNC_MARKER, sizeof TRUNC_MARKER);
    note(x, worksheet_write_string(s->ws, r, c, buf, fm), s, r, c);
    free(buf);
    if (x->truncated++ == 0) {
        char cell[LXW_MAX_CELL_NAME_LENGTH];
        lxw_rowcol_to_cell(cell, r, c);
        snprintf(x->first_truncated, sizeof x->first_truncated, "%s!%s", s->name, cell);
    }
}

static void put_date(xl *x, sheet *s, lxw_row_t r, lxw_col_t c, kp_date d, int variant)
{
    double serial = (double)d + EXCEL_EPOCH_OFFSET;
    if (serial < EXCEL_FIRST_SAFE_SERIAL) {
        /* Excel cannot show dates before 1900-03-01 correctly: keep the ISO text. */
        char iso[KP_DATE_ISO_LEN + 1];
        put_text(x, s, r, c, kp_date_format_iso(d, iso), x->num[KP_FMT_TEXT][variant]);
        return;
    }
    note(x, worksheet_write_number(s->ws, r, c, serial, x->num[KP_FMT_DATE][variant]), s, r, c);
}

/* Formatting a number only to measure it is most of a streamed sheet's per-cell cost:
 * skip it when even a generous bound on its text (sign, digits with separators, the
 * currency code, decimals and suffix) cannot widen the column. */
static int number_may_widen(const xl *x, const sheet *s, lxw_col_t c, double v)
{
    if (c >= s->ncols || s->fixed[c])
        return c < s->ncols ? 0 : 1;
    double a = fabs(v) * 100.0; /* percent shows v x 100 */
    int digits = 1;
    while (a >= 10.0 && digits < 400) {
        a /= 10.0;
        digits++;
    }
    size_t code = x->doc->currency ? strlen(x->doc->currency) : 0;
    size_t bound = 1 + (size_t)digits + (size_t)digits / 3 + code + 1 + 4 + COL_PADDING;
    return bound > (size_t)s->width[c];
}

/* Write a typed value with the format of its column; returns its display length (0 when
 * it cannot widen the column). */
static size_t put_cell(xl *x, sheet *s, lxw_row_t r, lxw_col_t c, const kp_cell *cell, kp_format f,
                       int variant)
{
    char disp[128];
    switch (cell->type) {
    case KP_CELL_NULL:
        if (variant == V_TOTAL)
            note(x, worksheet_write_blank(s->ws, r, c, x->num[f][variant]), s, r, c);
        return 0;
    case KP_CELL_TEXT:
        put_text(x, s, r, c, cell->text, x->num[KP_FMT_TEXT][variant]);
        return display_len(cell->text, KP_XLSX_MAX_COL_WIDTH);
    case KP_CELL_DATE: put_date(x, s, r, c, cell->date, variant); return KP_DATE_ISO_LEN;
    case KP_CELL_NUMBER:
        assert(isfinite(cell->num));
        if (f == KP_FMT_DATE && cell->num == floor(cell->num) && fabs(cell->num) < 3e6) {
            put_date(x, s, r, c, (kp_date)cell->num, variant);
            return KP_DATE_ISO_LEN;
        }
        note(x, worksheet_write_number(s->ws, r, c, cell->num, x->num[f][variant]), s, r, c);
        if (!number_may_widen(x, s, c, cell->num))
            return 0;
        kp_format_cell(cell, f, x->doc->currency, disp, sizeof disp);
        return display_len(disp, sizeof disp);
    }
    return 0;
}

/* ---- sheets -------------------------------------------------------------------------- */

static int is_forbidden_sheet_char(unsigned char c)
{
    return c < 0x20 || c == 0x7F || strchr("[]:*?/\\", c) != NULL;
}

/* Drop leading and trailing apostrophes and spaces (Excel refuses the former, and the
 * latter make names that look equal but are not). */
static void trim_name(char *s)
{
    size_t n = strlen(s), a = 0;
    while (a < n && (s[a] == '\'' || s[a] == ' '))
        a++;
    while (n > a && (s[n - 1] == '\'' || s[n - 1] == ' '))
        n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
}

/* Cut s to at most max UTF-16 units at a character boundary. */
static void cut_units(char *s, size_t max)
{
    size_t units = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i]; i += u8len(p[i])) {
        size_t w = u8len(p[i]) == 4 ? 2 : 1;
        if (units + w > max) {
            s[i] = '\0';
            return;
        }
        units += w;
    }
}

static void clean_sheet_name(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    for (size_t i = 0; p[i];) {
        size_t n = u8len(p[i]);
        if (n == 1 && is_forbidden_sheet_char(p[i])) {
            i++;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    trim_name(out);
    cut_units(out, KP_XLSX_MAX_SHEETNAME);
    trim_name(out);
    if (!out[0])
        snprintf(out, size, "Sheet");
}

/* ASCII case folding, as Excel's uniqueness check (for the names this code makes). */
static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return 0;
    }
    return *a == *b;
}

static int sheet_name_taken(const xl *x, const char *name)
{
    if (name_eq(name, "History")) /* reserved by Excel */
        return 1;
    if (x->doc->plan && name_eq(name, PLAN_SHEET)) /* kept for the plan's formulas */
        return 1;
    for (size_t i = 0; i < x->nsheets; i++)
        if (name_eq(x->sheets[i].name, name))
            return 1;
    return 0;
}

static kp_err add_sheet(xl *x, const char *wanted)
{
    sheet *s = &x->sheets[x->nsheets];
    char base[LXW_MAX_SHEETNAME_LENGTH];
    clean_sheet_name(wanted, base, sizeof base);
    snprintf(s->name, sizeof s->name, "%s", base);
    for (int k = 2; sheet_name_taken(x, s->name) ||
                    workbook_validate_sheet_name(x->wb, s->name) != LXW_NO_ERROR;
         k++) {
        char suffix[16], stem[LXW_MAX_SHEETNAME_LENGTH];
        snprintf(suffix, sizeof suffix, " (%d)", k);
        snprintf(stem, sizeof stem, "%s", base);
        cut_units(stem, KP_XLSX_MAX_SHEETNAME - strlen(suffix));
        trim_name(stem);
        size_t ls = strlen(stem), lf = strlen(suffix);
        assert(ls + lf < sizeof s->name);
        memcpy(s->name, stem, ls);
        memcpy(s->name + ls, suffix, lf + 1);
    }
    if (wanted && strcmp(wanted, s->name))
        kp_log_info("sheet name \"%s\" written as \"%s\"", wanted, s->name);
    s->ws = workbook_add_worksheet(x->wb, s->name);
    if (!s->ws)
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "cannot add sheet \"%s\"", s->name);
    x->nsheets++;
    return KP_OK;
}

static kp_err grow_widths(xl *x, sheet *s, size_t ncols)
{
    if (ncols <= s->ncols)
        return KP_OK;
    int *w = realloc(s->width, ncols * sizeof *w);
    if (!w)
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    s->width = w;
    unsigned char *f = realloc(s->fixed, ncols);
    if (!f)
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    s->fixed = f;
    memset(s->width + s->ncols, 0, (ncols - s->ncols) * sizeof *w);
    memset(s->fixed + s->ncols, 0, ncols - s->ncols);
    s->ncols = ncols;
    return KP_OK;
}

static kp_err need_rows(xl *x, const sheet *s, size_t rows, const kp_block *b)
{
    if ((size_t)s->row + rows <= KP_XLSX_MAX_ROWS)
        return KP_OK;
    return kp_error_set(x->e, KP_ERR_DATA, x->path, 0, 0,
                        "sheet \"%s\": block \"%s\" needs %zu rows from row %lu, more than "
                        "Excel's %d",
                        s->name, b->name ? b->name : "?", rows, (unsigned long)s->row + 1,
                        KP_XLSX_MAX_ROWS);
}

/* ---- defined names ------------------------------------------------------------------- */

/* Define `name` (unique ignoring case: a clash gets _2, _3...) as an absolute range, or
 * as the single cell r1,c1 when r2 == LXW_ROW_MAX. */
static kp_err define_range(xl *x, const char *base, const sheet *s, lxw_row_t r1, lxw_col_t c1,
                           lxw_row_t r2, lxw_col_t c2)
{
    char name[KP_XLSX_MAX_DEFINED_NAME + 16];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 2;; k++) {
        int taken = 0;
        for (size_t i = 0; i < x->nnames && !taken; i++)
            taken = name_eq(x->names[i], name);
        if (!taken)
            break;
        snprintf(name, sizeof name, "%s_%d", base, k);
    }
    if (x->nnames == x->cap_names) {
        size_t cap = x->cap_names ? x->cap_names * 2 : 16;
        char **nn = realloc(x->names, cap * sizeof *nn);
        if (!nn)
            return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
        x->names = nn;
        x->cap_names = cap;
    }
    if (!(x->names[x->nnames] = strdup(name)))
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    x->nnames++;

    /* Always quote the sheet: Excel accepts it for every name, and it is needed for many. */
    char ref[LXW_MAX_SHEETNAME_LENGTH * 2 + 64], a[LXW_MAX_CELL_NAME_LENGTH],
        z[LXW_MAX_CELL_NAME_LENGTH];
    size_t n = 0;
    ref[n++] = '=';
    ref[n++] = '\'';
    for (const char *p = s->name; *p; p++) {
        if (*p == '\'')
            ref[n++] = '\'';
        ref[n++] = *p;
    }
    ref[n++] = '\'';
    ref[n] = '\0';
    lxw_rowcol_to_cell_abs(a, r1, c1, 1, 1);
    lxw_rowcol_to_cell_abs(z, r2, c2, 1, 1);
    if (r2 == LXW_ROW_MAX)
        snprintf(ref + n, sizeof ref - n, "!%s", a);
    else
        snprintf(ref + n, sizeof ref - n, "!%s:%s", a, z);
    lxw_error rc = workbook_define_name(x->wb, name, ref);
    if (rc != LXW_NO_ERROR)
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "defined name %s: %s", name,
                            lxw_strerror(rc));
    return KP_OK;
}

/* "tbl_" + the block name with everything but letters, digits, '_' and '.' replaced, so
 * the result is a valid Excel name that cannot look like a cell reference. */
static kp_err define_table_name(xl *x, size_t bi, const kp_block *b, const sheet *s,
                                lxw_row_t first, lxw_row_t last, lxw_col_t lastc)
{
    char base[KP_XLSX_MAX_DEFINED_NAME + 1];
    size_t o = 0;
    if (!b->name || strncmp(b->name, "tbl_", 4))
        o = (size_t)snprintf(base, sizeof base, "tbl_");
    if (b->name && b->name[0]) {
        for (const char *p = b->name; *p && o < KP_XLSX_MAX_DEFINED_NAME - 8; p++) {
            char c = *p;
            int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '.';
            base[o++] = ok ? c : '_';
        }
        base[o] = '\0';
    } else {
        snprintf(base + o, sizeof base - o, "%zu", bi + 1);
    }
    return define_range(x, base, s, first, 0, last, lastc);
}

/* ---- blocks -------------------------------------------------------------------------- */

static kp_err write_lines(xl *x, sheet *s, const kp_block *b, lxw_format *fm)
{
    const char *text = b->text ? b->text : "";
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    kp_err err = need_rows(x, s, lines + 1, b);
    if (err)
        return err;
    char *copy = strdup(text);
    if (!copy)
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    char *line = copy;
    for (;;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[len - 1] = '\0';
        if (line[0])
            put_text(x, s, s->row, 0, line, fm);
        s->row++;
        if (!nl)
            break;
        line = nl + 1;
    }
    free(copy);
    s->row++; /* a blank row between blocks */
    return check(x);
}

static int any_cell(const kp_tile *t, size_t n, size_t offset)
{
    for (size_t i = 0; i < n; i++)
        if (((const kp_cell *)((const char *)&t[i] + offset))->type != KP_CELL_NULL)
            return 1;
    return 0;
}

/* Tiles as a small grid: Metric | Value | comparison | Target. */
static kp_err write_tiles(xl *x, sheet *s, const kp_block *b)
{
    int has_cmp = any_cell(b->tiles, b->ntiles, offsetof(kp_tile, compare));
    int has_tgt = any_cell(b->tiles, b->ntiles, offsetof(kp_tile, target));
    lxw_col_t ccmp = 2, ctgt = (lxw_col_t)(has_cmp ? 3 : 2);
    kp_err err = need_rows(x, s, b->ntiles + 3, b);
    if (!err)
        err = grow_widths(x, s, 4);
    if (err)
        return err;
    if (b->text)
        put_text(x, s, s->row++, 0, b->text, x->caption);
    const char *cmp_label = "Comparison";
    for (size_t i = 0; i < b->ntiles; i++)
        if (b->tiles[i].compare_label) {
            cmp_label = b->tiles[i].compare_label;
            break;
        }
    put_text(x, s, s->row, 0, "Metric", x->header);
    put_text(x, s, s->row, 1, "Value", x->header);
    track_width(s, 0, 6);
    track_width(s, 1, 5);
    if (has_cmp) {
        put_text(x, s, s->row, ccmp, cmp_label, x->header);
        track_width(s, ccmp, display_len(cmp_label, KP_XLSX_MAX_COL_WIDTH));
    }
    if (has_tgt) {
        put_text(x, s, s->row, ctgt, "Target", x->header);
        track_width(s, ctgt, 6);
    }
    s->row++;
    for (size_t i = 0; i < b->ntiles; i++, s->row++) {
        const kp_tile *t = &b->tiles[i];
        const char *label = t->label ? t->label : "";
        put_text(x, s, s->row, 0, label, x->num[KP_FMT_TEXT][V_PLAIN]);
        track_width(s, 0, display_len(label, KP_XLSX_MAX_COL_WIDTH));
        track_width(s, 1, put_cell(x, s, s->row, 1, &t->value, t->fmt, V_PLAIN));
        if (has_cmp)
            track_width(s, ccmp, put_cell(x, s, s->row, ccmp, &t->compare, t->fmt, V_PLAIN));
        if (has_tgt)
            track_width(s, ctgt, put_cell(x, s, s->row, ctgt, &t->target, t->fmt, V_PLAIN));
    }
    s->row++;
    return check(x);
}

static int valid_ratio(const kp_table *t, size_t c)
{
    const kp_column *col = &t->cols[c];
    return col->ratio_num >= 0 && col->ratio_den >= 0 && (size_t)col->ratio_num < t->ncols &&
           (size_t)col->ratio_den < t->ncols && (size_t)col->ratio_num != c &&
           (size_t)col->ratio_den != c && col->ratio_num != col->ratio_den &&
           t->cols[col->ratio_num].ratio_num < 0 && t->cols[col->ratio_den].ratio_num < 0;
}

/* =IF(den=0,"",num/den) on one row, with the value the model computed as cache. */
static size_t put_ratio(xl *x, sheet *s, lxw_row_t r, lxw_col_t c, const kp_column *col,
                        const kp_cell *cached, int variant)
{
    char formula[96], num[LXW_MAX_COL_NAME_LENGTH], den[LXW_MAX_COL_NAME_LENGTH];
    col_name(num, (lxw_col_t)col->ratio_num);
    col_name(den, (lxw_col_t)col->ratio_den);
    snprintf(formula, sizeof formula, "=IF(%s%lu=0,\"\",%s%lu/%s%lu)", den, (unsigned long)r + 1,
             num, (unsigned long)r + 1, den, (unsigned long)r + 1);
    lxw_format *fm = x->num[col->fmt][variant];
    if (cached->type == KP_CELL_NUMBER) {
        assert(isfinite(cached->num));
        note(x, worksheet_write_formula_num(s->ws, r, c, formula, fm, cached->num), s, r, c);
        char disp[128];
        kp_format_cell(cached, col->fmt, x->doc->currency, disp, sizeof disp);
        return display_len(disp, sizeof disp);
    }
    note(x, worksheet_write_formula_str(s->ws, r, c, formula, fm, ""), s, r, c);
    return 0;
}

static int valid_payout(const xl *x, const kp_table *t, size_t c)
{
    int a = t->cols[c].payout_att;
    return x->doc->plan && a >= 0 && (size_t)a < t->ncols && (size_t)a != c &&
           t->cols[a].payout_att < 0;
}

/* Append to a formula; *o stays at size (and the formula is refused) on overflow. */
static void fappend(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
    if (*o >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, size - *o, fmt, ap);
    va_end(ap);
    *o = n < 0 || (size_t)n >= size - *o ? size : *o + (size_t)n;
}

/* The payout of attainment cell `att` under the Plan sheet, term for term the arithmetic
 * of kp_commission_payout: nothing below the floor; marginal = each tier's rate on the
 * slice of attainment inside it, cumulative = all attainment at the reached tier's rate;
 * at most cap x target incentive. Scalars are defined names, tiers Plan cells, so finance
 * can change any of them. Returns 0 when the formula would be too long. */
static int payout_formula(const xl *x, const char *att, char *buf, size_t size)
{
    const kp_commission_plan *p = x->doc->plan;
    size_t o = 0, n = p->ntiers;
    char a[64];
    snprintf(a, sizeof a, "MAX(0,%s)", att);
    int t0 = PLAN_ROW_TIERS + 1, tn = PLAN_ROW_TIERS + (int)n; /* Excel rows */
    fappend(buf, size, &o,
            "=IF(ISNUMBER(%s),IF(%s<plan_floor,0,plan_target_incentive*MIN(IF(ISNUMBER("
            "plan_cap),plan_cap,1E+300),IF(plan_method=\"cumulative\",%s*LOOKUP(%s,"
            PLAN_SHEET "!$B$%d:$B$%d," PLAN_SHEET "!$D$%d:$D$%d),",
            att, a, a, a, t0, tn, t0, tn);
    for (size_t i = 0; i < n; i++) {
        int r = t0 + (int)i;
        if (i + 1 < n)
            fappend(buf, size, &o, "%s" PLAN_SHEET "!$D$%d*MAX(0,MIN(%s," PLAN_SHEET
                    "!$B$%d)-" PLAN_SHEET "!$B$%d)", i ? "+" : "", r, a, r + 1, r);
        else
            fappend(buf, size, &o, "%s" PLAN_SHEET "!$D$%d*MAX(0,%s-" PLAN_SHEET "!$B$%d)",
                    i ? "+" : "", r, a, r);
    }
    fappend(buf, size, &o, "))),\"\")");
    return o < size;
}

/* A payout cell: the live formula, with the payout report.c computed as cache. */
static size_t put_payout(xl *x, sheet *s, lxw_row_t r, lxw_col_t c, const kp_column *col,
                         const kp_cell *cached)
{
    char att[LXW_MAX_CELL_NAME_LENGTH], formula[FORMULA_MAX];
    lxw_rowcol_to_cell(att, r, (lxw_col_t)col->payout_att);
    if (!payout_formula(x, att, formula, sizeof formula))
        return put_cell(x, s, r, c, cached, col->fmt, V_PLAIN);
    lxw_format *fm = x->num[col->fmt][V_PLAIN];
    if (cached->type != KP_CELL_NUMBER) {
        note(x, worksheet_write_formula_str(s->ws, r, c, formula, fm, ""), s, r, c);
        return 0;
    }
    note(x, worksheet_write_formula_num(s->ws, r, c, formula, fm, cached->num), s, r, c);
    char disp[128];
    kp_format_cell(cached, col->fmt, x->doc->currency, disp, sizeof disp);
    return display_len(disp, sizeof disp);
}

/* Label column of the totals row: the first text column that carries no total. */
static int total_label_col(const kp_table *t)
{
    int any = -1;
    for (size_t c = 0; c < t->ncols; c++) {
        if (t->cols[c].total != KP_TOTAL_NONE || valid_ratio(t, c))
            continue;
        if (t->cols[c].fmt == KP_FMT_TEXT)
            return (int)c;
        if (any < 0)
            any = (int)c;
    }
    return any;
}

/* Totals row under `nrows` data rows from `first`: SUBTOTAL formulas (they ignore rows
 * a reader filters out), cached with the sums and counts gathered while writing. */
static kp_err write_totals(xl *x, sheet *s, const kp_table *t, lxw_row_t first, size_t nrows,
                           const double *sum, const size_t *cnt)
{
    lxw_row_t r = first + (lxw_row_t)nrows, last = r - 1;
    double *val = calloc(t->ncols, sizeof *val);
    int *ok = calloc(t->ncols, sizeof *ok);
    if (!val || !ok) {
        free(val);
        free(ok);
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    }
    int label = total_label_col(t);
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        if (col->total != KP_TOTAL_SUM && col->total != KP_TOTAL_AVERAGE)
            continue;
        char a[LXW_MAX_CELL_NAME_LENGTH], z[LXW_MAX_CELL_NAME_LENGTH], formula[128];
        lxw_rowcol_to_cell(a, first, (lxw_col_t)c);
        lxw_rowcol_to_cell(z, last, (lxw_col_t)c);
        lxw_format *fm = x->num[col->fmt][V_TOTAL];
        if (col->total == KP_TOTAL_SUM) {
            snprintf(formula, sizeof formula, "=SUBTOTAL(109,%s:%s)", a, z);
            val[c] = sum[c];
            ok[c] = 1;
        } else if (cnt[c] > 0) {
            snprintf(formula, sizeof formula, "=SUBTOTAL(101,%s:%s)", a, z);
            val[c] = sum[c] / (double)cnt[c];
            ok[c] = 1;
        } else {
            /* An average of nothing is #DIV/0! in Excel; show an empty cell instead. */
            snprintf(formula, sizeof formula, "=IFERROR(SUBTOTAL(101,%s:%s),\"\")", a, z);
        }
        if (ok[c])
            note(x, worksheet_write_formula_num(s->ws, r, (lxw_col_t)c, formula, fm, val[c]), s, r,
                 (lxw_col_t)c);
        else
            note(x, worksheet_write_formula_str(s->ws, r, (lxw_col_t)c, formula, fm, ""), s, r,
                 (lxw_col_t)c);
        if (ok[c]) {
            kp_cell cell = {.type = KP_CELL_NUMBER, .num = val[c]};
            char disp[128];
            kp_format_cell(&cell, col->fmt, x->doc->currency, disp, sizeof disp);
            track_width(s, (lxw_col_t)c, display_len(disp, sizeof disp));
        }
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        if ((int)c == label) {
            put_text(x, s, r, (lxw_col_t)c, "Total", x->num[KP_FMT_TEXT][V_TOTAL]);
        } else if (col->total == KP_TOTAL_RATIO && valid_ratio(t, c) &&
                   t->cols[col->ratio_num].total != KP_TOTAL_NONE &&
                   t->cols[col->ratio_den].total != KP_TOTAL_NONE) {
            /* The ratio of the totals, not a total of ratios. */
            kp_cell cached = {.type = KP_CELL_NULL};
            if (ok[col->ratio_num] && ok[col->ratio_den] && val[col->ratio_den] != 0) {
                cached.type = KP_CELL_NUMBER;
                cached.num = val[col->ratio_num] / val[col->ratio_den];
            }
            track_width(s, (lxw_col_t)c, put_ratio(x, s, r, (lxw_col_t)c, col, &cached, V_TOTAL));
        } else if (col->total != KP_TOTAL_SUM && col->total != KP_TOTAL_AVERAGE) {
            if (col->total == KP_TOTAL_RATIO)
                kp_log_warn("column \"%s\": ratio total needs a ratio column whose numerator "
                            "and denominator have totals; left empty",
                            col->name ? col->name : "?");
            note(x, worksheet_write_blank(s->ws, r, (lxw_col_t)c, x->num[col->fmt][V_TOTAL]), s, r,
                 (lxw_col_t)c);
        }
    }
    free(val);
    free(ok);
    return KP_OK;
}

/* Traffic light on one column. A guard rule first stops blanks and text (a NULL
 * attainment, a "" from a zero quota) from being coloured, since Excel compares them as
 * 0 or as larger than any number. Then green before amber so that a value equal to
 * rag_green is green, as the model defines (amber < rag_green <= green). */
static void write_rag(xl *x, sheet *s, const kp_column *col, lxw_row_t first, lxw_row_t last,
                      lxw_col_t c)
{
    char a[LXW_MAX_CELL_NAME_LENGTH], guard[64];
    lxw_rowcol_to_cell(a, first, c);
    snprintf(guard, sizeof guard, "=NOT(ISNUMBER(%s))", a);
    lxw_conditional_format cf;

    memset(&cf, 0, sizeof cf);
    cf.type = LXW_CONDITIONAL_TYPE_FORMULA;
    cf.value_string = guard;
    cf.stop_if_true = LXW_TRUE;
    note(x, worksheet_conditional_format_range(s->ws, first, c, last, c, &cf), s, first, c);

    memset(&cf, 0, sizeof cf);
    cf.type = LXW_CONDITIONAL_TYPE_CELL;
    cf.criteria = LXW_CONDITIONAL_CRITERIA_GREATER_THAN_OR_EQUAL_TO;
    cf.value = col->rag_green;
    cf.format = x->rag_green;
    note(x, worksheet_conditional_format_range(s->ws, first, c, last, c, &cf), s, first, c);

    memset(&cf, 0, sizeof cf);
    cf.type = LXW_CONDITIONAL_TYPE_CELL;
    cf.criteria = LXW_CONDITIONAL_CRITERIA_LESS_THAN;
    cf.value = col->rag_amber;
    cf.format = x->rag_red;
    note(x, worksheet_conditional_format_range(s->ws, first, c, last, c, &cf), s, first, c);

    memset(&cf, 0, sizeof cf);
    cf.type = LXW_CONDITIONAL_TYPE_CELL;
    cf.criteria = LXW_CONDITIONAL_CRITERIA_BETWEEN;
    cf.min_value = col->rag_amber;
    cf.max_value = col->rag_green;
    cf.format = x->rag_amber;
    note(x, worksheet_conditional_format_range(s->ws, first, c, last, c, &cf), s, first, c);
}

static int has_totals(const kp_table *t)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (t->cols[c].total != KP_TOTAL_NONE)
            return 1;
    return 0;
}

/* One data row: typed cells and live ratio/payout formulas; sums for the totals row. */
static void write_row(xl *x, sheet *s, const kp_table *t, const kp_cell *rowc, double *sum,
                      size_t *cnt)
{
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        lxw_col_t lc = (lxw_col_t)c;
        size_t w = valid_payout(x, t, c) ? put_payout(x, s, s->row, lc, col, &rowc[c])
                   : valid_ratio(t, c)   ? put_ratio(x, s, s->row, lc, col, &rowc[c], V_PLAIN)
                                         : put_cell(x, s, s->row, lc, &rowc[c], col->fmt, V_PLAIN);
        track_width(s, lc, w);
        if (rowc[c].type == KP_CELL_NUMBER) {
            sum[c] += rowc[c].num;
            cnt[c]++;
        }
    }
}

/* Rows pulled from the table's row source, written as they come: nothing but one row of
 * cells is held, so memory stays flat in a constant-memory workbook. */
static kp_err write_streamed_rows(xl *x, sheet *s, const kp_block *b, int totals, double *sum,
                                  size_t *cnt, size_t *nrows)
{
    const kp_table *t = b->table;
    kp_cell *row = calloc(t->ncols, sizeof *row);
    if (!row)
        return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
    kp_err err = KP_OK;
    for (;;) {
        int got = t->stream.next_row(t->stream.ctx, row, t->ncols, x->e);
        if (got == 0)
            break;
        if (got < 0) {
            err = x->e && x->e->code ? x->e->code : KP_ERR_IO;
            break;
        }
        if ((size_t)s->row + 1 + (size_t)totals > KP_XLSX_MAX_ROWS) {
            err = kp_error_set(x->e, KP_ERR_DATA, x->path, 0, 0,
                               "sheet \"%s\": table \"%s\" has more rows than Excel's %d; "
                               "narrow its query",
                               s->name, b->name ? b->name : "?", KP_XLSX_MAX_ROWS);
            break;
        }
        write_row(x, s, t, row, sum, cnt);
        s->row++;
        (*nrows)++;
        if (x->lrc != LXW_NO_ERROR) {
            err = check(x);
            break;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        kp_cell_clear(&row[c]);
    free(row);
    return err;
}

static kp_err write_table(xl *x, sheet *s, size_t bi, const kp_block *b)
{
    const kp_table *t = b->table;
    if (!t || t->ncols == 0) {
        kp_log_warn("table \"%s\" has no columns; skipped", b->name ? b->name : "?");
        return KP_OK;
    }
    if (t->ncols > KP_XLSX_MAX_COLS)
        return kp_error_set(x->e, KP_ERR_DATA, x->path, 0, 0,
                            "table \"%s\" has %zu columns, more than Excel's %d",
                            b->name ? b->name : "?", t->ncols, KP_XLSX_MAX_COLS);
    int streamed = t->stream.next_row != NULL;
    int totals = has_totals(t) && (t->nrows > 0 || streamed);
    kp_err err = need_rows(x, s, (b->text ? 1 : 0) + 1 + t->nrows + (size_t)totals + 1, b);
    if (!err)
        err = grow_widths(x, s, t->ncols);
    if (err)
        return err;
    double *sum = calloc(t->ncols, sizeof *sum);
    size_t *cnt = calloc(t->ncols, sizeof *cnt);
    if (!sum || !cnt) {
        err = kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
        goto done;
    }
    lxw_col_t lastc = (lxw_col_t)(t->ncols - 1);

    for (size_t c = 0; c < t->ncols; c++)
        if (t->cols[c].width > 0) {
            s->width[c] = t->cols[c].width > 255 ? 255 : t->cols[c].width;
            s->fixed[c] = 1;
        }
    if (b->text)
        put_text(x, s, s->row++, 0, b->text, x->caption);
    lxw_row_t hdr = s->row++;
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        const char *label = col->label ? col->label : col->name ? col->name : "";
        put_text(x, s, hdr, (lxw_col_t)c, label, x->header);
        track_width(s, (lxw_col_t)c, display_len(label, KP_XLSX_MAX_COL_WIDTH));
        if (col->ratio_num >= 0 && !valid_ratio(t, c))
            kp_log_warn("column \"%s\": ratio of columns %d/%d is not valid; values written "
                        "without a formula",
                        col->name ? col->name : "?", col->ratio_num, col->ratio_den);
        if (col->payout_att >= 0 && !valid_payout(x, t, c))
            kp_log_warn("column \"%s\": payout of column %d without a valid plan; values "
                        "written without a formula",
                        col->name ? col->name : "?", col->payout_att);
    }

    lxw_row_t first = s->row;
    size_t nrows = 0;
    for (size_t i = 0; i < t->nrows; i++, s->row++, nrows++) {
        write_row(x, s, t, &t->cells[i * t->ncols], sum, cnt);
        if (x->lrc != LXW_NO_ERROR) {
            err = check(x);
            goto done;
        }
    }
    if (streamed && (err = write_streamed_rows(x, s, b, totals, sum, cnt, &nrows)))
        goto done;
    totals = totals && nrows > 0;
    lxw_row_t last = nrows ? s->row - 1 : hdr;
    /* Ranges ending at `last` are set before the totals row: a constant-memory sheet
     * refuses a range that ends above the row it is writing. */
    if (nrows > 0)
        for (size_t c = 0; c < t->ncols; c++)
            if (t->cols[c].has_rag)
                write_rag(x, s, &t->cols[c], first, last, (lxw_col_t)c);
    if (!s->has_table) {
        /* Excel allows one autofilter per sheet: the first table gets it, the frozen
         * header and the printed title rows. */
        s->has_table = 1;
        worksheet_freeze_panes(s->ws, hdr + 1, 0);
        note(x, worksheet_autofilter(s->ws, hdr, 0, last, lastc), s, hdr, 0);
        note(x, worksheet_repeat_rows(s->ws, hdr, hdr), s, hdr, 0);
    }
    if (totals) {
        if ((err = write_totals(x, s, t, first, nrows, sum, cnt)))
            goto done;
        s->row++;
    }
    if (t->ncols > WIDE_TABLE_COLS)
        s->wide = 1;
    if ((err = check(x)))
        goto done;

    x->placed[bi].ok = 1;
    x->placed[bi].sheet = (size_t)(s - x->sheets);
    x->placed[bi].header_row = hdr;
    x->placed[bi].first_row = first;
    x->placed[bi].nrows = nrows;
    if (nrows > 0 && (err = define_table_name(x, bi, b, s, first, last, lastc)))
        goto done;
    s->row++;
done:
    free(sum);
    free(cnt);
    return err;
}

/* Charts are made after every block is written: a chart may plot a table that a later
 * block writes, and its position is fixed now, in the flow of its own sheet. */
static kp_err reserve_chart(xl *x, sheet *s, size_t bi, const kp_block *b)
{
    kp_err err = need_rows(x, s, CHART_ROWS, b);
    if (err)
        return err;
    x->charts[x->ncharts].block = bi;
    x->charts[x->ncharts].sheet = (size_t)(s - x->sheets);
    x->charts[x->ncharts].row = s->row;
    x->ncharts++;
    s->row += CHART_ROWS;
    return KP_OK;
}

static uint8_t chart_type(kp_chart_type t)
{
    switch (t) {
    case KP_CHART_BAR: return LXW_CHART_BAR;
    case KP_CHART_COLUMN: return LXW_CHART_COLUMN;
    case KP_CHART_LINE: return LXW_CHART_LINE;
    case KP_CHART_PIE: return LXW_CHART_PIE;
    /* Excel's nearest native forms: the PDF draws the richer versions. */
    case KP_CHART_STACKED: return LXW_CHART_COLUMN_STACKED;
    case KP_CHART_FORECAST: return LXW_CHART_LINE;
    case KP_CHART_SPARKLINE: return LXW_CHART_LINE;
    case KP_CHART_BULLET: return LXW_CHART_BAR;
    }
    return LXW_CHART_COLUMN;
}

static kp_err build_chart(xl *x, const pending_chart *pc)
{
    const kp_block *b = &x->doc->blocks[pc->block];
    const kp_chart *ch = b->chart;
    const char *bname = b->name ? b->name : "?";
    if (!ch || ch->data_block >= x->doc->nblocks || !x->placed[ch->data_block].ok ||
        x->doc->blocks[ch->data_block].table != ch->data) {
        kp_log_warn("chart \"%s\": its table was not written; chart skipped", bname);
        return KP_OK;
    }
    const placed *pl = &x->placed[ch->data_block];
    const kp_table *t = ch->data;
    if (pl->nrows == 0) {
        kp_log_warn("chart \"%s\": table has no rows; chart skipped", bname);
        return KP_OK;
    }
    if (ch->category_col < 0 || (size_t)ch->category_col >= t->ncols) {
        kp_log_warn("chart \"%s\": no category column; chart skipped", bname);
        return KP_OK;
    }
    lxw_chart *chart = workbook_add_chart(x->wb, chart_type(ch->type));
    if (!chart)
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "chart \"%s\": cannot create", bname);
    const char *sname = x->sheets[pl->sheet].name;
    lxw_row_t first = pl->first_row, last = pl->first_row + (lxw_row_t)pl->nrows - 1;
    lxw_col_t cat = (lxw_col_t)ch->category_col;
    size_t added = 0;
    for (size_t i = 0; i < ch->nseries; i++) {
        int sc = ch->series_cols[i];
        if (sc < 0 || (size_t)sc >= t->ncols || sc == ch->category_col) {
            kp_log_warn("chart \"%s\": series column %d is not in the table; ignored", bname, sc);
            continue;
        }
        if (ch->type == KP_CHART_PIE && added == 1) {
            kp_log_warn("chart \"%s\": a pie shows one series; the others are ignored", bname);
            break;
        }
        lxw_chart_series *ser = chart_add_series(chart, NULL, NULL);
        if (!ser)
            return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
        chart_series_set_categories(ser, sname, first, cat, last, cat);
        chart_series_set_values(ser, sname, first, (lxw_col_t)sc, last, (lxw_col_t)sc);
        chart_series_set_name_range(ser, sname, pl->header_row, (lxw_col_t)sc);
        added++;
    }
    if (added == 0) {
        /* libxlsxwriter refuses a chart without series at close: give it an honest one
         * rather than abort the workbook. */
        kp_log_warn("chart \"%s\": no valid series", bname);
        lxw_chart_series *ser = chart_add_series(chart, NULL, NULL);
        if (!ser)
            return kp_error_set(x->e, KP_ERR_NOMEM, x->path, 0, 0, "no memory");
        chart_series_set_values(ser, sname, first, cat, last, cat);
    }
    const char *title = ch->title ? ch->title : b->text;
    if (title) {
        /* A title starting with '=' would be read as a cell reference. */
        char buf[512];
        snprintf(buf, sizeof buf, "%s%s", title[0] == '=' ? " " : "", title);
        chart_title_set_name(chart, buf);
    }
    if (ch->type != KP_CHART_PIE && added < 2)
        chart_legend_set_position(chart, LXW_CHART_LEGEND_NONE);
    else
        chart_legend_set_position(chart, LXW_CHART_LEGEND_BOTTOM);
    lxw_chart_options opt;
    memset(&opt, 0, sizeof opt);
    opt.x_scale = 1.0;
    opt.y_scale = 1.0;
    opt.description = (char *)(title ? title : "chart");
    lxw_error rc = worksheet_insert_chart_opt(x->sheets[pc->sheet].ws, pc->row, 0, chart, &opt);
    if (rc != LXW_NO_ERROR)
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "chart \"%s\": %s", bname,
                            lxw_strerror(rc));
    return KP_OK;
}

/* The Plan sheet: the job's commission plan in cells, named, so that the payout formulas
 * elsewhere read it and finance can audit it and try other rates in the workbook. */
static kp_err write_plan(xl *x)
{
    const kp_commission_plan *p = x->doc->plan;
    sheet *s = &x->sheets[x->nsheets];
    snprintf(s->name, sizeof s->name, "%s", PLAN_SHEET);
    if (!(s->ws = workbook_add_worksheet(x->wb, s->name)))
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "cannot add sheet \"%s\"", s->name);
    x->nsheets++;
    kp_err err = grow_widths(x, s, 4);
    if (err)
        return err;
    static const int widths[4] = {58, 16, 16, 10};
    for (size_t c = 0; c < 4; c++) {
        s->width[c] = widths[c];
        s->fixed[c] = 1;
    }
    put_text(x, s, 0, 0, "Commission plan", x->title);
    put_text(x, s, 1, 0,
             "Payout formulas on the other sheets read this sheet: change a value here and "
             "they recalculate.",
             x->text);
    put_text(x, s, 2, 0,
             "Marginal: each tier's rate pays the attainment inside that tier. Cumulative: all "
             "attainment is paid at the rate of the highest tier reached. Rate 1 pays the "
             "target incentive at 100%.",
             x->text);
    lxw_format *plain = x->num[KP_FMT_TEXT][V_PLAIN], *pct = x->num[KP_FMT_PERCENT][V_PLAIN];
    put_text(x, s, PLAN_ROW_TI, 0, "Target incentive (payout at 100% attainment, rate 1)", plain);
    note(x, worksheet_write_number(s->ws, PLAN_ROW_TI, 1, p->target_incentive,
                                   x->num[KP_FMT_CURRENCY][V_PLAIN]),
         s, PLAN_ROW_TI, 1);
    put_text(x, s, PLAN_ROW_METHOD, 0, "Method (marginal or cumulative)", plain);
    put_text(x, s, PLAN_ROW_METHOD, 1,
             p->method == KP_COMMISSION_CUMULATIVE ? "cumulative" : "marginal", plain);
    char *methods[] = {"marginal", "cumulative", NULL}; /* the library wants char ** */
    lxw_data_validation dv;
    memset(&dv, 0, sizeof dv);
    dv.validate = LXW_VALIDATION_TYPE_LIST;
    dv.value_list = methods;
    note(x, worksheet_data_validation_cell(s->ws, PLAN_ROW_METHOD, 1, &dv), s, PLAN_ROW_METHOD, 1);
    put_text(x, s, PLAN_ROW_FLOOR, 0, "Floor: no payout below this attainment", plain);
    note(x, worksheet_write_number(s->ws, PLAN_ROW_FLOOR, 1, p->floor, pct), s, PLAN_ROW_FLOOR, 1);
    put_text(x, s, PLAN_ROW_CAP, 0, "Cap: highest payout, as a share of the target incentive",
             plain);
    if (p->has_cap)
        note(x, worksheet_write_number(s->ws, PLAN_ROW_CAP, 1, p->cap, pct), s, PLAN_ROW_CAP, 1);
    else
        note(x, worksheet_write_blank(s->ws, PLAN_ROW_CAP, 1, pct), s, PLAN_ROW_CAP, 1);

    static const char *const heads[4] = {"Tier", "From attainment", "To attainment", "Rate"};
    for (lxw_col_t c = 0; c < 4; c++)
        put_text(x, s, PLAN_ROW_TIERS - 1, c, heads[c], x->header);
    for (size_t i = 0; i < p->ntiers; i++) {
        lxw_row_t r = PLAN_ROW_TIERS + (lxw_row_t)i;
        note(x, worksheet_write_number(s->ws, r, 0, (double)(i + 1), x->num[KP_FMT_COUNT][V_PLAIN]),
             s, r, 0);
        note(x, worksheet_write_number(s->ws, r, 1, p->tiers[i].from, pct), s, r, 1);
        if (i + 1 < p->ntiers) {
            char f[32];
            snprintf(f, sizeof f, "=B%lu", (unsigned long)r + 2);
            note(x, worksheet_write_formula_num(s->ws, r, 2, f, pct, p->tiers[i + 1].from), s, r,
                 2);
        } else {
            put_text(x, s, r, 2, "and above", plain);
        }
        note(x, worksheet_write_number(s->ws, r, 3, p->tiers[i].rate,
                                       x->num[KP_FMT_RATIO][V_PLAIN]),
             s, r, 3);
    }
    s->row = PLAN_ROW_TIERS + (lxw_row_t)p->ntiers + 1;
    if ((err = check(x)))
        return err;
    lxw_row_t last = PLAN_ROW_TIERS + (lxw_row_t)p->ntiers - 1;
    if ((err = define_range(x, "plan_target_incentive", s, PLAN_ROW_TI, 1, LXW_ROW_MAX, 1)) ||
        (err = define_range(x, "plan_method", s, PLAN_ROW_METHOD, 1, LXW_ROW_MAX, 1)) ||
        (err = define_range(x, "plan_floor", s, PLAN_ROW_FLOOR, 1, LXW_ROW_MAX, 1)) ||
        (err = define_range(x, "plan_cap", s, PLAN_ROW_CAP, 1, LXW_ROW_MAX, 1)) ||
        (err = define_range(x, "plan_tiers", s, PLAN_ROW_TIERS, 0, last, 3)))
        return err;
    return KP_OK;
}

/* Column widths and print setup, once the sheet's content is known. */
static void finish_sheet(xl *x, sheet *s)
{
    int total = 0;
    for (size_t c = 0; c < s->ncols; c++) {
        if (!s->width[c])
            continue;
        int w = s->width[c] < MIN_COL_WIDTH ? MIN_COL_WIDTH : s->width[c];
        total += w;
        note(x, worksheet_set_column(s->ws, (lxw_col_t)c, (lxw_col_t)c, w, NULL), s, 0,
             (lxw_col_t)c);
    }
    if (x->doc->landscape || s->wide || total > WIDE_SHEET_CHARS)
        worksheet_set_landscape(s->ws);
    else
        worksheet_set_portrait(s->ws);
    worksheet_set_paper(s->ws, x->doc->paper == KP_PAPER_LETTER ? PAPER_LETTER : PAPER_A4);
    worksheet_fit_to_pages(s->ws, 1, 0);
    note(x, worksheet_set_footer(s->ws, "&CPage &P of &N"), s, 0, 0);
}

static kp_err write_blocks(xl *x)
{
    const kp_doc *d = x->doc;
    kp_err err = KP_OK;
    sheet *s = NULL;
    for (size_t i = 0; i < d->nblocks && !err; i++) {
        const kp_block *b = &d->blocks[i];
        if (b->kind == KP_BLOCK_BREAK)
            continue;
        if (b->kind == KP_BLOCK_SHEET || !s) {
            const char *name = b->kind == KP_BLOCK_SHEET ? b->text
                               : d->title && d->title[0] ? d->title
                                                         : "Report";
            if ((err = add_sheet(x, name)))
                break;
            s = &x->sheets[x->nsheets - 1];
            if (b->kind == KP_BLOCK_SHEET)
                continue;
        }
        switch (b->kind) {
        case KP_BLOCK_TITLE: err = write_lines(x, s, b, x->title); break;
        case KP_BLOCK_TEXT: err = write_lines(x, s, b, x->text); break;
        case KP_BLOCK_TILES: err = write_tiles(x, s, b); break;
        case KP_BLOCK_TABLE: err = write_table(x, s, i, b); break;
        case KP_BLOCK_CHART: err = reserve_chart(x, s, i, b); break;
        case KP_BLOCK_SHEET:
        case KP_BLOCK_BREAK: break;
        }
    }
    if (!err && x->nsheets == 0)
        err = add_sheet(x, d->title && d->title[0] ? d->title : "Report");
    if (!err && d->plan)
        err = write_plan(x);
    for (size_t i = 0; i < x->ncharts && !err; i++)
        err = build_chart(x, &x->charts[i]);
    for (size_t i = 0; i < x->nsheets && !err; i++) {
        finish_sheet(x, &x->sheets[i]);
        err = check(x);
    }
    return err;
}

static kp_err set_properties(xl *x)
{
    const kp_doc *d = x->doc;
    lxw_doc_properties p;
    memset(&p, 0, sizeof p);
    p.title = d->title;
    p.subject = d->subject;
    p.author = d->author;
    p.company = d->company;
    p.keywords = d->keywords;
    p.comments = d->subtitle;
    /* libxlsxwriter reads created == 0 as "now": 1970-01-01 gets one second instead. */
    p.created = (time_t)d->as_of * 86400;
    if (p.created == 0)
        p.created = 1;
    lxw_error rc = workbook_set_properties(x->wb, &p);
    if (rc != LXW_NO_ERROR)
        return kp_error_set(x->e, KP_ERR_IO, x->path, 0, 0, "document properties: %s",
                            lxw_strerror(rc));
    return KP_OK;
}

kp_err kp_render_xlsx(const kp_doc *doc, const char *path, kp_error *e)
{
    assert(doc && path);
    kp_err err = KP_OK;
    xl x;
    memset(&x, 0, sizeof x);
    x.doc = doc;
    x.path = path;
    x.e = e;
    size_t n = doc->nblocks + 2; /* + a default sheet + the Plan sheet */
    x.sheets = calloc(n, sizeof *x.sheets);
    x.placed = calloc(n, sizeof *x.placed);
    x.charts = calloc(n, sizeof *x.charts);
    if (!x.sheets || !x.placed || !x.charts) {
        err = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "no memory");
        goto fail;
    }
    /* libxlsxwriter opens the file only at close, and prints its own message when that
     * fails: try the path first so the error is ours, with the system's reason. */
    FILE *probe = fopen(path, "wb");
    if (!probe) {
        err = kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot write workbook: %s", strerror(errno));
        goto fail;
    }
    fclose(probe);
    /* Constant memory keeps one row in memory per sheet and the rest in temporary files,
     * made beside the output (in its hidden scratch directory) so a big sheet does not
     * fill a small /tmp. */
    char tmpdir[KP_PATH_MAX];
    if ((err = kp_scratch_dir(path, tmpdir, sizeof tmpdir, e)))
        goto fail;
    lxw_workbook_options opt = {.constant_memory = doc->constant_memory ? LXW_TRUE : LXW_FALSE,
                                .tmpdir = tmpdir};
    x.wb = workbook_new_opt(path, &opt);
    if (!x.wb) {
        err = kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot start workbook");
        goto fail;
    }
    if ((err = make_formats(&x)) || (err = write_blocks(&x)) || (err = set_properties(&x)))
        goto fail;
    if (x.truncated)
        kp_log_warn("%s: %ld cell(s) longer than Excel's %d characters were truncated "
                    "(first at %s)",
                    path, x.truncated, KP_XLSX_MAX_STRING, x.first_truncated);
    lxw_error rc = workbook_close(x.wb);
    x.wb = NULL;
    if (rc != LXW_NO_ERROR)
        err = kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot write workbook: %s", lxw_strerror(rc));
fail:
    if (x.wb)
        lxw_workbook_free(x.wb);
    for (size_t i = 0; x.sheets && i < x.nsheets; i++) {
        free(x.sheets[i].width);
        free(x.sheets[i].fixed);
    }
    for (size_t i = 0; x.names && i < x.nnames; i++)
        free(x.names[i]);
    free(x.sheets);
    free(x.placed);
    free(x.charts);
    free(x.names);
    return err;
}
