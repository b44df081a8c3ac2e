/* The document model: what a report is, independent of Excel and PDF. report.c builds a
 * kp_doc from a template and the database; render_xlsx.c and render_pdf.c consume it and
 * know nothing of SQL, INI or CSV. A kp_doc owns everything reachable from it. */
#ifndef KPIPRESS_DOC_H
#define KPIPRESS_DOC_H

#include "kpipress/date.h"
#include "kpipress/err.h"
#include "kpipress/limits.h"
#include <stddef.h>
#include <stdint.h>

/* How a value is shown. Renderers map each to a number format (xlsx) or text (pdf). */
typedef enum {
    KP_FMT_TEXT = 0,
    KP_FMT_NUMBER,   /* 1,234.5 (up to 2 decimals) */
    KP_FMT_COUNT,    /* 1,234 (integer) */
    KP_FMT_CURRENCY, /* $1,234.56 in the document's currency */
    KP_FMT_PERCENT,  /* value 0.853 shown as 85.3% */
    KP_FMT_DATE,     /* cell holds a kp_date */
    KP_FMT_DAYS,     /* 12.5 days */
    KP_FMT_RATIO     /* 2.35x */
} kp_format;

typedef enum { KP_CELL_NULL = 0, KP_CELL_NUMBER, KP_CELL_TEXT, KP_CELL_DATE } kp_cell_type;

typedef struct kp_cell {
    kp_cell_type type;
    double num;   /* KP_CELL_NUMBER; always finite (doc.c refuses NaN/Inf) */
    kp_date date; /* KP_CELL_DATE */
    char *text;   /* KP_CELL_TEXT: valid UTF-8, owned by the cell */
} kp_cell;

typedef enum { KP_TOTAL_NONE = 0, KP_TOTAL_SUM, KP_TOTAL_AVERAGE, KP_TOTAL_RATIO } kp_total;

typedef struct kp_column {
    char *name;   /* result-set column name */
    char *label;  /* header text shown to readers */
    kp_format fmt;
    int width;    /* characters; 0 = from content */
    kp_total total;
    /* Column is numerator/denominator of two other columns (0-based indexes), e.g.
     * attainment = bookings / quota. xlsx writes a live formula with the cached value;
     * pdf shows the value. -1 when not a ratio column. */
    int ratio_num, ratio_den;
    /* Traffic light on this column: red < rag_amber <= amber < rag_green <= green. */
    int has_rag;
    double rag_amber, rag_green;
    /* Commission payout of the attainment in column payout_att (0-based) under the doc's
     * plan: xlsx writes a live formula over the Plan sheet with the value cached; the
     * cell holds that value (kp_commission_payout). -1 when not a payout column. */
    int payout_att;
} kp_column;

/* Rows pulled one at a time (a large raw-data sheet): next_row fills cells[0..ncols),
 * replacing what they held (the caller owns them and clears them at the end), and
 * returns 1 for a row, 0 at the end, -1 on error with e filled. close frees ctx; the
 * table calls it when freed. Only xlsx documents stream (kp_doc.constant_memory). */
typedef struct kp_row_source {
    int (*next_row)(void *ctx, kp_cell *cells, size_t ncols, kp_error *e);
    void (*close)(void *ctx);
    void *ctx;
} kp_row_source;

typedef struct kp_table {
    size_t ncols, nrows, cap_rows;
    kp_column *cols;
    kp_cell *cells; /* row-major: cells[r * ncols + c] */
    /* When stream.next_row is set, the table's rows are the nrows above followed by
     * every row it yields; they are read once, by the renderer. */
    kp_row_source stream;
} kp_table;

typedef struct kp_tile {
    char *label;
    kp_format fmt;
    kp_cell value;
    kp_cell compare; /* previous-period value or NULL cell */
    char *compare_label; /* "vs previous month"; may be NULL */
    kp_cell target;  /* target (e.g. quota) or NULL cell */
    int higher_is_better; /* 1, or 0 when lower is better */
} kp_tile;

/* Series roles by type: bar, column (grouped), line, pie and stacked (column) plot every
 * series alike; forecast is ACTUAL, FORECAST, LOW, HIGH (the interval band), then
 * reference lines such as quota; sparkline draws one small line per series; bullet
 * draws one bar per category: VALUE against TARGET, optionally PROJECTED. */
typedef enum {
    KP_CHART_BAR = 0,
    KP_CHART_COLUMN,
    KP_CHART_LINE,
    KP_CHART_PIE,
    KP_CHART_STACKED,
    KP_CHART_FORECAST,
    KP_CHART_SPARKLINE,
    KP_CHART_BULLET
} kp_chart_type;

typedef struct kp_chart {
    kp_chart_type type;
    char *title;
    const kp_table *data; /* borrowed: the table block named by the template */
    size_t data_block;    /* index of that table block in the doc */
    int category_col;     /* column with category labels */
    size_t nseries;
    int *series_cols;     /* numeric columns plotted as series */
} kp_chart;

typedef enum {
    KP_BLOCK_SHEET = 0, /* starts a sheet (xlsx) / a bookmarked section (pdf); text = name */
    KP_BLOCK_TITLE,     /* text */
    KP_BLOCK_TEXT,      /* text (paragraph, may contain '\n') */
    KP_BLOCK_TILES,     /* tiles */
    KP_BLOCK_TABLE,     /* table */
    KP_BLOCK_CHART,     /* chart */
    KP_BLOCK_BREAK      /* page break (pdf); ignored by xlsx */
} kp_block_kind;

typedef struct kp_block {
    kp_block_kind kind;
    char *name;  /* template section name, for messages and defined names */
    char *text;  /* SHEET, TITLE, TEXT; also caption of a TABLE/TILES/CHART (may be NULL) */
    kp_table *table;
    kp_tile *tiles;
    size_t ntiles;
    kp_chart *chart;
} kp_block;

/* A sales commission plan (the job's [commission] section). Attainment tiers start at
 * `from` (0 for the first, strictly ascending); each pays `rate` times the target
 * incentive per unit of attainment. Marginal: every tier pays its own slice; cumulative:
 * the whole attainment is paid at the rate of the highest tier reached. Nothing is paid
 * below `floor`; with has_cap the payout stops at cap x target incentive. */
typedef enum { KP_COMMISSION_MARGINAL = 0, KP_COMMISSION_CUMULATIVE } kp_commission_method;

typedef struct kp_commission_tier {
    double from, rate;
} kp_commission_tier;

typedef struct kp_commission_plan {
    kp_commission_method method;
    double target_incentive; /* payout at 100% attainment on a flat 1.0 rate, currency */
    double floor;            /* attainment below which the payout is 0 (0 = none) */
    int has_cap;
    double cap; /* highest payout, as a multiple of the target incentive */
    size_t ntiers;
    kp_commission_tier tiers[KP_COMMISSION_MAX_TIERS];
} kp_commission_plan;

typedef enum { KP_DOC_XLSX = 0, KP_DOC_PDF } kp_doc_kind;
typedef enum { KP_PAPER_A4 = 0, KP_PAPER_LETTER } kp_paper;

typedef struct kp_doc {
    kp_doc_kind kind;
    char *title, *subtitle, *author, *company, *subject, *keywords;
    char *currency;  /* ISO code, e.g. "USD"; drives currency formats */
    kp_date as_of;   /* document date (properties, footers): never the clock */
    kp_paper paper;
    int landscape;
    char *footer;    /* footer text (pdf), may be NULL */
    char *font_path; /* TTF for pdf text; NULL = default DejaVu Sans */
    size_t nblocks, cap_blocks;
    kp_block *blocks;
    int constant_memory;       /* xlsx: stream rows (template `stream = yes`) */
    kp_commission_plan *plan;  /* owned; set when a column computes payouts, else NULL */
} kp_doc;

/* ---- building ---------------------------------------------------------------------- */

kp_doc *kp_doc_new(kp_doc_kind kind);
void kp_doc_free(kp_doc *d); /* NULL-safe, frees every block, table, cell and string */

/* Append a block of the given kind; returns it (zeroed but for kind), or NULL on ENOMEM. */
kp_block *kp_doc_add_block(kp_doc *d, kp_block_kind kind);

/* Set a string field (copied); NULL clears. Returns KP_ERR_NOMEM on failure. */
kp_err kp_doc_set_str(char **field, const char *value);

kp_table *kp_table_new(size_t ncols);
void kp_table_free(kp_table *t);
/* Append an all-NULL row; returns its index, or (size_t)-1 on ENOMEM. */
size_t kp_table_add_row(kp_table *t);
kp_cell *kp_table_cell(const kp_table *t, size_t row, size_t col);

/* Cell setters: replace what the cell held. set_number refuses NaN/Inf (stores NULL and
 * returns KP_ERR_DATA). set_text copies, replacing invalid UTF-8 sequences with U+FFFD. */
kp_err kp_cell_set_number(kp_cell *c, double v);
kp_err kp_cell_set_text(kp_cell *c, const char *s, size_t len);
/* As kp_cell_set_text, but reuses the cell's text buffer (a streamed row refills the same
 * cells a million times) and sets *replaced to 1 when invalid UTF-8 was replaced. */
kp_err kp_cell_assign_text(kp_cell *c, const char *s, size_t len, int *replaced);
void kp_cell_set_date(kp_cell *c, kp_date d);
void kp_cell_set_null(kp_cell *c);
void kp_cell_clear(kp_cell *c); /* free text; leave NULL */

/* ---- shared presentation helpers ---------------------------------------------------- */

/* Text of a cell as a reader sees it in a PDF or a plain-text listing, C locale:
 * currency "$1,234.56" (symbol from currency: USD $, EUR €, GBP £, JPY ¥, else "CODE "),
 * negative currency "-$1,200.00", percent "85.3%", count "1,234", days "12.5", ratio
 * "2.35x", date "2026-10-31", NULL "n/a". Writes at most size-1 bytes plus NUL. */
void kp_format_cell(const kp_cell *c, kp_format fmt, const char *currency, char *buf,
                    size_t size);

/* Name of a format ("currency") and back; -1 if unknown. */
const char *kp_format_name(kp_format f);
int kp_format_from_name(const char *name);

/* ---- commission ---------------------------------------------------------------------- */

/* Payout for an attainment (0.85 = 85%) under plan p; negative attainment counts as 0.
 * The xlsx renderer's Plan formulas compute the same figure. */
double kp_commission_payout(const kp_commission_plan *p, double attainment);

/* NULL if p is a valid plan, else what is wrong ("tier 2 must start above tier 1"). */
const char *kp_commission_invalid(const kp_commission_plan *p);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int kp_utf8_valid(const char *s, size_t len);

#endif
