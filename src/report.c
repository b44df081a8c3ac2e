/* From template to document: runs each block's SQL (read-only, parameters bound from the
 * job, the period and the burst row), types every cell, and assembles the kp_doc that
 * both renderers consume. The same code checks a template without running it. */
#include "kpipress/template.h"

#include "kpipress/limits.h"
#include "kpipress/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expand {placeholders}; errors get the template file and the block's line. */
static kp_err expand(const kp_template *t, long line, const kp_vars *vars, const char *in,
                     char **out, kp_error *e)
{
    *out = NULL;
    if (!in)
        return KP_OK;
    kp_err rc = kp_vars_expand(vars, in, out, e);
    if (rc && e) {
        snprintf(e->file, sizeof e->file, "%s", t->path);
        e->line = line;
    }
    return rc;
}

static int column_index(kp_stmt *st, const char *name)
{
    int n = kp_stmt_column_count(st);
    for (int i = 0; i < n; i++)
        if (!strcmp(kp_stmt_column_name(st, i), name))
            return i;
    return -1;
}

/* Check that every col.X, ratio(A/B) of a table block names a result column. */
static kp_err check_columns(const kp_template *t, const kp_tblock *b, kp_stmt *st, kp_error *e)
{
    for (size_t i = 0; i < b->ncols; i++) {
        const kp_colspec *c = &b->cols[i];
        const char *names[4] = {c->name, c->ratio_num, c->ratio_den, c->payout_of};
        for (int k = 0; k < 4; k++)
            if (names[k] && column_index(st, names[k]) < 0) {
                kp_error_set(e, KP_ERR_CONFIG, t->path, c->line, 0,
                             "column \"%s\" is not in the result of [table %s]'s sql", names[k],
                             b->name);
                return KP_ERR_CONFIG;
            }
    }
    return KP_OK;
}

/* The job's commission plan, from the values kp_job_resolve set; -1 when the job has
 * no [commission] section. */
static int plan_from_vars(const kp_vars *v, kp_commission_plan *p)
{
    const char *tiers = kp_vars_get(v, "commission_tiers");
    const char *method = kp_vars_get(v, "commission_method");
    const char *ti = kp_vars_get(v, "commission_target_incentive");
    const char *fl = kp_vars_get(v, "commission_floor");
    const char *cap = kp_vars_get(v, "commission_cap");
    if (!tiers || !method || !ti || !fl)
        return -1;
    memset(p, 0, sizeof *p);
    p->method = strcmp(method, "cumulative") ? KP_COMMISSION_MARGINAL : KP_COMMISSION_CUMULATIVE;
    p->target_incentive = strtod(ti, NULL);
    p->floor = strtod(fl, NULL);
    p->has_cap = cap != NULL;
    p->cap = cap ? strtod(cap, NULL) : 0;
    for (char *q = (char *)tiers; *q && p->ntiers < KP_COMMISSION_MAX_TIERS;) {
        kp_commission_tier *tier = &p->tiers[p->ntiers++];
        tier->from = strtod(q, &q);
        tier->rate = *q == ':' ? strtod(q + 1, &q) : 0;
        q += strspn(q, " ");
    }
    return kp_commission_invalid(p) ? -1 : 0;
}

static int uses_payout(const kp_tblock *b)
{
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].payout_of)
            return 1;
    return 0;
}

/* cached: keep the compiled statement in the store for the next document of a burst. */
static kp_err prepare_block(const kp_template *t, const kp_tblock *b, kp_store *s,
                            const kp_vars *vars, int cached, kp_stmt **st, kp_error *e)
{
    kp_commission_plan plan;
    if (uses_payout(b) && plan_from_vars(vars, &plan))
        return kp_error_set(e, KP_ERR_CONFIG, t->path, b->line, 0,
                            "[table %s] computes commission (payout): the job needs a "
                            "[commission] section",
                            b->name);
    kp_err rc = cached ? kp_store_prepare_cached(s, b->sql, t->path, b->sql_line, st, e)
                       : kp_store_prepare(s, b->sql, t->path, b->sql_line, st, e);
    if (!rc)
        rc = kp_stmt_bind_vars(*st, vars, e);
    if (!rc && b->kind == KP_BLOCK_TABLE)
        rc = check_columns(t, b, *st, e);
    if (rc) {
        kp_stmt_finalize(*st);
        *st = NULL;
    }
    return rc;
}

/* Split "a, b, c" and find each in the table's columns. */
static kp_err chart_columns(const kp_template *t, const kp_tblock *b, const kp_table *data,
                            kp_chart *ch, kp_error *e)
{
    ch->category_col = -1;
    for (size_t c = 0; b->category && c < data->ncols; c++)
        if (!strcmp(data->cols[c].name, b->category))
            ch->category_col = (int)c;
    if (b->category && ch->category_col < 0)
        return kp_error_set(e, KP_ERR_CONFIG, t->path, b->line, 0,
                            "chart [%s]: category column \"%s\" is not in table [%s]", b->name,
                            b->category, b->data);
    char *copy = strdup(b->series);
    if (!copy)
        return kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
    kp_err rc = KP_OK;
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok && !rc;
         tok = strtok_r(NULL, ", ", &save)) {
        int found = -1;
        for (size_t c = 0; c < data->ncols; c++)
            if (!strcmp(data->cols[c].name, tok))
                found = (int)c;
        if (found < 0) {
            rc = kp_error_set(e, KP_ERR_CONFIG, t->path, b->line, 0,
                              "chart [%s]: series column \"%s\" is not in table [%s]", b->name,
                              tok, b->data);
            break;
        }
        int *ns = realloc(ch->series_cols, (ch->nseries + 1) * sizeof *ns);
        if (!ns) {
            rc = kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
            break;
        }
        ch->series_cols = ns;
        ch->series_cols[ch->nseries++] = found;
    }
    free(copy);
    return rc;
}

kp_err kp_template_check(const kp_template *t, kp_store *s, const kp_vars *vars, kp_error *e)
{
    kp_store_set_readonly(s, 1);
    kp_err rc = KP_OK;
    for (size_t i = 0; i < t->nblocks && !rc; i++) {
        const kp_tblock *b = &t->blocks[i];
        char *tmp = NULL;
        const char *texts[] = {b->text, b->caption, b->chart_title};
        for (int k = 0; k < 3 && !rc; k++) {
            rc = expand(t, b->line, vars, texts[k], &tmp, e);
            free(tmp);
        }
        if (!rc && b->sql) {
            kp_stmt *st = NULL;
            rc = prepare_block(t, b, s, vars, 0, &st, e);
            kp_stmt_finalize(st);
        }
    }
    kp_store_set_readonly(s, 0);
    return rc;
}

/* Convert the current row's column into a typed cell. */
static kp_err read_cell(kp_stmt *st, int col, int fmt, kp_cell *cell)
{
    switch (kp_stmt_column_type(st, col)) {
    case KP_COL_INTEGER:
    case KP_COL_REAL:
        /* Non-finite values can come from SQL arithmetic; they become NULL ("n/a"). */
        kp_cell_set_number(cell, kp_stmt_column_double(st, col));
        return KP_OK;
    case KP_COL_TEXT: {
        const char *txt = kp_stmt_column_text(st, col);
        kp_date d;
        if (fmt == KP_FMT_DATE && txt && strlen(txt) >= 10 && !kp_date_parse_iso(txt, 10, &d)) {
            kp_cell_set_date(cell, d);
            return KP_OK;
        }
        return kp_cell_set_text(cell, txt, strlen(txt));
    }
    default:
        kp_cell_set_null(cell);
        return KP_OK;
    }
}

/* Format of columns the template did not describe: counts if all values are integers,
 * numbers if numeric, text otherwise. */
static kp_format infer_format(const kp_table *tb, size_t c)
{
    int numeric = 0, integral = 1, text = 0;
    for (size_t r = 0; r < tb->nrows; r++) {
        const kp_cell *cell = kp_table_cell(tb, r, c);
        if (cell->type == KP_CELL_NUMBER) {
            numeric = 1;
            if (cell->num != (double)(long long)cell->num)
                integral = 0;
        } else if (cell->type != KP_CELL_NULL) {
            text = 1;
        }
    }
    if (text || !numeric)
        return KP_FMT_TEXT;
    return integral ? KP_FMT_COUNT : KP_FMT_NUMBER;
}

/* Text with invalid UTF-8 (a CRM export in the wrong encoding) is kept with U+FFFD in
 * place of the bad bytes; *bad counts such values so the table warns once. */
static kp_err read_cell_counted(kp_stmt *st, int col, int fmt, kp_cell *cell, size_t *bad)
{
    if (fmt == KP_FMT_DATE || kp_stmt_column_type(st, col) != KP_COL_TEXT)
        return read_cell(st, col, fmt, cell);
    const char *txt = kp_stmt_column_text(st, col);
    int replaced = 0;
    kp_err rc = kp_cell_assign_text(cell, txt, strlen(txt), &replaced);
    *bad += (size_t)replaced;
    return rc;
}

static void warn_bad_utf8(const char *path, const char *table, size_t bad)
{
    if (bad)
        kp_log_warn("%s: [table %s]: %zu text value(s) with invalid UTF-8; the bad bytes are "
                    "shown as U+FFFD",
                    path, table, bad);
}

/* Payout cells of one row: the plan applied to the attainment cell of the same row. */
static void fill_payouts(const kp_table *tb, kp_cell *row, const kp_commission_plan *plan)
{
    for (size_t c = 0; plan && c < tb->ncols; c++) {
        int a = tb->cols[c].payout_att;
        if (a < 0)
            continue;
        if (row[a].type == KP_CELL_NUMBER)
            kp_cell_set_number(&row[c], kp_commission_payout(plan, row[a].num));
        else
            kp_cell_set_null(&row[c]);
    }
}

/* A streamed table's row source: the prepared statement itself, stepped by the renderer,
 * so a million opportunities pass through one row of cells. */
typedef struct stream_rows {
    kp_stmt *st;
    const kp_table *tb;
    kp_commission_plan plan;
    int has_plan;
    const char *path, *table; /* the template's, for the UTF-8 warning; outlive the doc */
    size_t bad_utf8;
} stream_rows;

static int stream_next(void *ctx, kp_cell *cells, size_t ncols, kp_error *e)
{
    stream_rows *sr = ctx;
    int r = kp_stmt_step(sr->st, e);
    if (r == 0)
        warn_bad_utf8(sr->path, sr->table, sr->bad_utf8);
    if (r != 1)
        return r;
    for (size_t c = 0; c < ncols; c++)
        if (read_cell_counted(sr->st, (int)c, sr->tb->cols[c].fmt, &cells[c], &sr->bad_utf8)) {
            kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            return -1;
        }
    fill_payouts(sr->tb, cells, sr->has_plan ? &sr->plan : NULL);
    return 1;
}

static void stream_close(void *ctx)
{
    stream_rows *sr = ctx;
    kp_stmt_finalize(sr->st);
    free(sr);
}

static kp_err build_table(const kp_template *t, const kp_tblock *b, kp_stmt **stp,
                          const kp_commission_plan *plan, kp_table **out, kp_error *e)
{
    kp_stmt *st = *stp;
    size_t n = (size_t)kp_stmt_column_count(st);
    kp_table *tb = kp_table_new(n);
    if (!tb)
        return kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
    int fmts[KP_XLSX_MAX_COLS > 1024 ? 1024 : KP_XLSX_MAX_COLS];
    kp_err rc = KP_OK;
    if (n > sizeof fmts / sizeof *fmts) {
        rc = kp_error_set(e, KP_ERR_CONFIG, t->path, b->sql_line, 0, "more than %zu columns",
                          sizeof fmts / sizeof *fmts);
        goto fail;
    }
    for (size_t c = 0; c < n; c++) {
        kp_column *col = &tb->cols[c];
        const char *name = kp_stmt_column_name(st, (int)c);
        fmts[c] = -1;
        if (!(col->name = strdup(name))) {
            rc = KP_ERR_NOMEM;
            goto fail;
        }
        const kp_colspec *spec = NULL;
        for (size_t k = 0; k < b->ncols; k++)
            if (!strcmp(b->cols[k].name, name))
                spec = &b->cols[k];
        if (!(col->label = strdup(spec ? spec->label : name))) {
            rc = KP_ERR_NOMEM;
            goto fail;
        }
        if (!spec)
            continue;
        fmts[c] = spec->fmt;
        col->total = spec->total;
        col->width = spec->width;
        col->has_rag = spec->has_rag;
        col->rag_amber = spec->rag_amber;
        col->rag_green = spec->rag_green;
        if (spec->ratio_num) {
            col->ratio_num = column_index(st, spec->ratio_num);
            col->ratio_den = column_index(st, spec->ratio_den);
        }
        if (spec->payout_of)
            col->payout_att = column_index(st, spec->payout_of);
    }
    int r = 0;
    size_t bad_utf8 = 0;
    /* A streamed table keeps one row here, to settle the formats of undescribed columns. */
    while ((!t->stream || tb->nrows == 0) && (r = kp_stmt_step(st, e)) == 1) {
        size_t row = kp_table_add_row(tb);
        if (row == (size_t)-1) {
            rc = KP_ERR_NOMEM;
            goto fail;
        }
        for (size_t c = 0; c < n; c++)
            if ((rc = read_cell_counted(st, (int)c, fmts[c], kp_table_cell(tb, row, c),
                                        &bad_utf8)) != KP_OK)
                goto fail;
    }
    if (r < 0) {
        rc = e ? e->code : KP_ERR_IO;
        goto fail_set;
    }
    for (size_t c = 0; c < n; c++) {
        tb->cols[c].fmt = fmts[c] >= 0 ? (kp_format)fmts[c] : infer_format(tb, c);
        /* One row cannot prove a column integral: trust only the declared type. */
        const char *decl = kp_stmt_column_decltype(st, (int)c);
        if (r == 1 && fmts[c] < 0 && tb->cols[c].fmt == KP_FMT_COUNT &&
            (!decl || strcmp(decl, "INTEGER")))
            tb->cols[c].fmt = KP_FMT_NUMBER;
    }
    for (size_t i = 0; i < tb->nrows; i++)
        fill_payouts(tb, kp_table_cell(tb, i, 0), plan);
    if (r == 0)
        warn_bad_utf8(t->path, b->name, bad_utf8);
    if (r == 1) {
        stream_rows *sr = calloc(1, sizeof *sr);
        if (!sr) {
            rc = KP_ERR_NOMEM;
            goto fail;
        }
        sr->st = st;
        sr->tb = tb;
        sr->path = t->path;
        sr->table = b->name;
        sr->bad_utf8 = bad_utf8;
        sr->has_plan = plan != NULL;
        if (plan)
            sr->plan = *plan;
        tb->stream = (kp_row_source){.next_row = stream_next, .close = stream_close, .ctx = sr};
        *stp = NULL; /* the table owns the statement now */
    }
    *out = tb;
    return KP_OK;
fail:
    if (rc == KP_ERR_NOMEM)
        kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
fail_set:
    kp_table_free(tb);
    return rc;
}

/* Tiles: one row per tile, columns found by name. */
static kp_err build_tiles(const kp_template *t, const kp_tblock *b, kp_stmt *st, kp_block *out,
                          kp_error *e)
{
    int ilabel = column_index(st, "label"), ivalue = column_index(st, "value");
    int ifmt = column_index(st, "format"), icmp = column_index(st, "compare");
    int icl = column_index(st, "compare_label"), itarget = column_index(st, "target");
    int ibetter = column_index(st, "better");
    if (ilabel < 0 || ivalue < 0)
        return kp_error_set(e, KP_ERR_CONFIG, t->path, b->sql_line, 0,
                            "[tiles %s]: sql must return columns \"label\" and \"value\" "
                            "(optional: format, compare, compare_label, target, better)",
                            b->name);
    int r;
    while ((r = kp_stmt_step(st, e)) == 1) {
        kp_tile *nt = realloc(out->tiles, (out->ntiles + 1) * sizeof *nt);
        if (!nt)
            return kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
        out->tiles = nt;
        kp_tile *tile = &out->tiles[out->ntiles++];
        memset(tile, 0, sizeof *tile);
        tile->higher_is_better = 1;
        const char *label = kp_stmt_column_text(st, ilabel);
        const char *fmt = ifmt >= 0 ? kp_stmt_column_text(st, ifmt) : NULL;
        int f = fmt ? kp_format_from_name(fmt) : KP_FMT_NUMBER;
        if (f < 0)
            return kp_error_set(e, KP_ERR_CONFIG, t->path, b->sql_line, 0,
                                "[tiles %s]: unknown format \"%s\"", b->name, fmt);
        tile->fmt = (kp_format)f;
        if (!(tile->label = strdup(label ? label : "")))
            return kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
        read_cell(st, ivalue, f, &tile->value);
        if (icmp >= 0)
            read_cell(st, icmp, f, &tile->compare);
        if (itarget >= 0)
            read_cell(st, itarget, f, &tile->target);
        const char *cl = icl >= 0 ? kp_stmt_column_text(st, icl) : NULL;
        if (cl && !(tile->compare_label = strdup(cl)))
            return kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
        const char *better = ibetter >= 0 ? kp_stmt_column_text(st, ibetter) : NULL;
        if (better && !strcmp(better, "lower"))
            tile->higher_is_better = 0;
    }
    return r < 0 ? (e ? e->code : KP_ERR_IO) : KP_OK;
}

kp_err kp_report_build(const kp_template *t, kp_store *s, const kp_vars *vars,
                       const char *currency, kp_date as_of, const char *font, kp_doc **out,
                       kp_error *e)
{
    *out = NULL;
    kp_doc *d = kp_doc_new(t->kind);
    if (!d)
        return kp_error_set(e, KP_ERR_NOMEM, t->path, 0, 0, "out of memory");
    kp_err rc = KP_OK;
    d->paper = t->paper;
    d->landscape = t->landscape;
    d->as_of = as_of;
    struct {
        char **field;
        const char *src;
    } meta[] = {{&d->title, t->title},     {&d->subtitle, t->subtitle},
                {&d->author, t->author},   {&d->company, t->company},
                {&d->subject, t->subject}, {&d->keywords, t->keywords},
                {&d->footer, t->footer}};
    for (size_t i = 0; i < sizeof meta / sizeof *meta && !rc; i++)
        rc = expand(t, 0, vars, meta[i].src, meta[i].field, e);
    if (!rc && (kp_doc_set_str(&d->currency, currency) || kp_doc_set_str(&d->font_path, font)))
        rc = kp_error_set(e, KP_ERR_NOMEM, t->path, 0, 0, "out of memory");
    d->constant_memory = t->stream;
    kp_store_set_readonly(s, 1);
    for (size_t i = 0; i < t->nblocks && !rc; i++) {
        const kp_tblock *b = &t->blocks[i];
        kp_block *blk = kp_doc_add_block(d, b->kind);
        if (!blk || !(blk->name = strdup(b->name))) {
            rc = kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
            break;
        }
        rc = expand(t, b->line, vars, b->kind == KP_BLOCK_SHEET && !b->text ? b->name : b->text,
                    &blk->text, e);
        if (!rc && b->caption && !blk->text)
            rc = expand(t, b->line, vars, b->caption, &blk->text, e);
        if (rc || !b->sql) {
            if (!rc && b->kind == KP_BLOCK_CHART) {
                kp_chart *ch = calloc(1, sizeof *ch);
                if (!ch) {
                    rc = kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
                    break;
                }
                blk->chart = ch;
                ch->type = b->chart_type;
                rc = expand(t, b->line, vars, b->chart_title, &ch->title, e);
                for (size_t k = 0; !rc && k < d->nblocks - 1; k++)
                    if (d->blocks[k].kind == KP_BLOCK_TABLE &&
                        !strcmp(d->blocks[k].name, b->data)) {
                        ch->data = d->blocks[k].table;
                        ch->data_block = k;
                    }
                if (!rc)
                    rc = chart_columns(t, b, ch->data, ch, e);
            }
            continue;
        }
        kp_stmt *st = NULL;
        /* A streamed table's statement lives in the document, which may outlive the
         * store; it is not worth caching either: such a workbook is written once. */
        if ((rc = prepare_block(t, b, s, vars, !t->stream, &st, e)) != KP_OK)
            break;
        /* The plan goes into the document once, for the xlsx Plan sheet. */
        if (b->kind == KP_BLOCK_TABLE && uses_payout(b) && !d->plan) {
            if ((d->plan = malloc(sizeof *d->plan)))
                plan_from_vars(vars, d->plan); /* prepare_block checked it */
            else
                rc = kp_error_set(e, KP_ERR_NOMEM, t->path, b->line, 0, "out of memory");
        }
        if (!rc && b->kind == KP_BLOCK_TABLE)
            rc = build_table(t, b, &st, uses_payout(b) ? d->plan : NULL, &blk->table, e);
        else if (!rc)
            rc = build_tiles(t, b, st, blk, e);
        kp_stmt_finalize(st);
    }
    kp_store_set_readonly(s, 0);
    if (rc) {
        kp_doc_free(d);
        return rc;
    }
    *out = d;
    return KP_OK;
}
