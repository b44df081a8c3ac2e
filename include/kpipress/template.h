/* Report templates: an INI file describing a document as an ordered list of blocks.
 * template.c parses and validates it; report.c runs its SQL and builds a kp_doc.
 *
 *   [document]            kind = xlsx|pdf, title, subtitle, author, company, subject,
 *                         keywords, paper = a4|letter, orientation = portrait|landscape,
 *                         footer, stream = yes|no (xlsx: constant-memory workbook)
 *   [sheet NAME]          title = Sheet name (new sheet in xlsx, bookmarked section in pdf)
 *   [title NAME]          text = ...
 *   [text NAME]           text = ... (indented lines continue the paragraph)
 *   [tiles NAME]          sql = one row per tile: label, value, format, compare,
 *                         compare_label, target, better (higher|lower); caption
 *   [table NAME]          sql = ..., caption, col.COLUMN = Label | format | option...
 *                         options: sum, average, ratio(NUM/DEN), rag(AMBER,GREEN), width(N),
 *                         payout(ATTAINMENT-COLUMN) (commission under the job's plan)
 *   [chart NAME]          type = bar|column|line|pie, title, data = TABLE-BLOCK-NAME,
 *                         category = COLUMN, series = COLUMN, COLUMN...
 *   [break NAME]          page break (pdf)
 *   [definitions NAME]    the metric library as a table (metric, label, format,
 *                         definition); it takes a caption
 * Text values may use {placeholders}; SQL may use :parameters (job, period, burst row).
 */
#ifndef KPIPRESS_TEMPLATE_H
#define KPIPRESS_TEMPLATE_H

#include "kpipress/doc.h"
#include "kpipress/err.h"
#include "kpipress/store.h"
#include "kpipress/vars.h"

typedef struct kp_colspec {
    char *name;
    char *label;
    int fmt; /* kp_format, or -1 = infer from the data */
    kp_total total;
    char *ratio_num, *ratio_den;
    char *payout_of; /* payout(ATTAINMENT): commission of that column under the job's plan */
    int has_rag;
    double rag_amber, rag_green;
    int width;
    long line;
} kp_colspec;

typedef struct kp_tblock {
    kp_block_kind kind;
    char *name;
    long line;
    char *text;    /* title/text/sheet title */
    char *caption;
    char *sql;
    long sql_line;
    kp_colspec *cols;
    size_t ncols;
    kp_chart_type chart_type;
    char *chart_title, *data, *category, *series;
    long data_line;
} kp_tblock;

typedef struct kp_template {
    char *path;
    kp_doc_kind kind;
    char *title, *subtitle, *author, *company, *subject, *keywords, *footer;
    kp_paper paper;
    int landscape;
    int stream; /* [document] stream = yes: tables stream into a constant-memory workbook */
    kp_tblock *blocks;
    size_t nblocks;
} kp_template;

/* Parse and validate the template at path. Errors name file, line and key. */
kp_err kp_template_load(const char *path, kp_template **out, kp_error *e);
void kp_template_free(kp_template *t); /* NULL-safe */

/* Prepare every SQL of the template against the store (read-only), without running it,
 * and check that chart/ratio references name existing blocks and columns. */
kp_err kp_template_check(const kp_template *t, kp_store *s, const kp_vars *vars, kp_error *e);

/* Run the template's SQL with vars bound and build the document (report.c). currency
 * and as_of go into the document; font may be NULL. */
kp_err kp_report_build(const kp_template *t, kp_store *s, const kp_vars *vars,
                       const char *currency, kp_date as_of, const char *font, kp_doc **out,
                       kp_error *e);

#endif
