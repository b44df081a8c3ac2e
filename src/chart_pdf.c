/* Vector charts for the PDF renderer: bar (horizontal), column (grouped vertical), line
 * and pie, drawn with libharu's path API from a table block of the document. Axes use
 * "nice" 1/2/5 x 10^k ticks; every figure shown goes through kp_format_cell. */
#include "chart_pdf.h"

#include "kpipress/limits.h"
#include "kpipress/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FS_CHART_TITLE 9.5f
#define FS_LABEL 7.5f
#define FS_VALUE 7.0f
#define LEGEND_H 18.0f
#define TARGET_TICKS 5
#define PIE_MAX_SLICES 8
#define VALUE_LABELS_MAX 16 /* bars/points beyond this get no value labels: clutter */

typedef struct chart_data {
    const kp_table *t;
    const kp_chart *c;
    size_t ncat, nser;
    kp_format fmt; /* of the first series: the value axis */
} chart_data;

typedef struct axis {
    double min, max, step;
} axis;

static kp_pdf_rgb series_colour(size_t i)
{
    static const unsigned char pal[][3] = {{37, 84, 145},  {95, 168, 211},  {233, 150, 58},
                                           {76, 154, 122}, {148, 111, 173}, {176, 186, 199},
                                           {199, 92, 92},  {128, 128, 80}};
    const unsigned char *c = pal[i % (sizeof pal / sizeof *pal)];
    return KP_PDF_RGB(c[0], c[1], c[2]);
}

static int col_ok(const kp_table *t, int col)
{
    return col >= 0 && (size_t)col < t->ncols;
}

/* 1 when the chart can be drawn; the reason is logged otherwise. */
static int chart_data_init(const kp_chart *c, chart_data *cd)
{
    const kp_table *t = c->data;
    memset(cd, 0, sizeof *cd);
    if (!t || !c->nseries || !col_ok(t, c->category_col))
        return 0;
    for (size_t s = 0; s < c->nseries; s++)
        if (!col_ok(t, c->series_cols[s]))
            return 0;
    cd->t = t;
    cd->c = c;
    cd->nser = c->nseries;
    cd->ncat = t->nrows;
    if (cd->ncat > KP_PDF_CHART_MAX_CATEGORIES) {
        kp_log_warn("PDF: chart \"%s\" has %zu categories; only the first %d are drawn",
                    c->title ? c->title : "", cd->ncat, KP_PDF_CHART_MAX_CATEGORIES);
        cd->ncat = KP_PDF_CHART_MAX_CATEGORIES;
    }
    cd->fmt = t->cols[c->series_cols[0]].fmt;
    return cd->ncat > 0;
}

/* Value of series s in category r; NULL or text cells are not plotted. */
static int value_at(const chart_data *cd, size_t r, size_t s, double *v)
{
    const kp_cell *cell = kp_table_cell(cd->t, r, (size_t)cd->c->series_cols[s]);
    if (cell->type != KP_CELL_NUMBER)
        return 0;
    *v = cell->num;
    return 1;
}

static void category_label(const kp_pdf *p, const chart_data *cd, size_t r, char *buf, size_t size)
{
    const kp_column *col = &cd->t->cols[cd->c->category_col];
    kp_format_cell(kp_table_cell(cd->t, r, (size_t)cd->c->category_col), col->fmt, p->doc->currency,
                   buf, size);
}

static const char *series_label(const chart_data *cd, size_t s)
{
    const kp_column *col = &cd->t->cols[cd->c->series_cols[s]];
    return col->label ? col->label : col->name ? col->name : "";
}

static void value_text(const kp_pdf *p, const chart_data *cd, size_t s, double v, char *buf,
                       size_t size)
{
    kp_cell cell = {0};
    kp_cell_set_number(&cell, v);
    kp_format_cell(&cell, cd->t->cols[cd->c->series_cols[s]].fmt, p->doc->currency, buf, size);
}

/* "1.50" -> "1.5", "80.0%" -> "80%": axis labels carry no meaningless zeros. */
static void strip_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *end = dot + 1;
    while (*end >= '0' && *end <= '9')
        end++;
    char *q = end;
    while (q > dot + 1 && q[-1] == '0')
        q--;
    if (q == dot + 1)
        q = dot;
    memmove(q, end, strlen(end) + 1);
}

/* Compact axis label: "$1.5M", "250K", "80%". The digits come from kp_format_cell; only
 * the scaling and the currency prefix are added here. */
static void tick_label(const kp_pdf *p, kp_format fmt, double v, double absmax, char *buf,
                       size_t size)
{
    kp_cell cell = {0};
    if (fmt == KP_FMT_PERCENT || fmt == KP_FMT_RATIO || fmt == KP_FMT_DAYS || fmt == KP_FMT_DATE) {
        kp_cell_set_number(&cell, v);
        kp_format_cell(&cell, fmt, p->doc->currency, buf, size);
        if (fmt == KP_FMT_PERCENT)
            strip_zeros(buf);
        return;
    }
    double scale = 1;
    const char *suffix = "";
    if (absmax >= 1e9) {
        scale = 1e9;
        suffix = "B";
    } else if (absmax >= 1e6) {
        scale = 1e6;
        suffix = "M";
    } else if (absmax >= 1e4) {
        scale = 1e3;
        suffix = "K";
    }
    char num[64], prefix[32] = "";
    /* One decimal is enough once scaled ("$182.5K"); axis ticks are 1/2/5 steps, so a
     * scaled tick never needs more. */
    kp_cell_set_number(&cell, scale > 1 ? round(fabs(v) / scale * 10) / 10 : fabs(v));
    kp_format_cell(&cell, KP_FMT_NUMBER, p->doc->currency, num, sizeof num);
    strip_zeros(num);
    if (fmt == KP_FMT_CURRENCY) {
        /* The symbol as kp_format_cell writes it: whatever precedes the digits of 0. */
        char zero[64];
        kp_cell_set_number(&cell, 0);
        kp_format_cell(&cell, KP_FMT_CURRENCY, p->doc->currency, zero, sizeof zero);
        size_t n = strcspn(zero, "0123456789");
        snprintf(prefix, sizeof prefix, "%.*s", (int)(n < sizeof prefix ? n : sizeof prefix - 1),
                 zero);
    }
    snprintf(buf, size, "%s%s%s%s", v < 0 && strcmp(num, "0") ? "-" : "", prefix, num,
             strcmp(num, "0") ? suffix : "");
}

static double nice_step(double range, int ticks)
{
    double raw = range / ticks;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* An axis covering lo..hi (and zero when asked) on nice ticks. */
static axis axis_for(double lo, double hi, int zero)
{
    axis a;
    if (zero) {
        lo = fmin(lo, 0);
        hi = fmax(hi, 0);
    }
    if (hi - lo <= 0)
        hi = lo + (lo != 0 ? fabs(lo) * 0.1 : 1);
    a.step = nice_step(hi - lo, TARGET_TICKS);
    a.min = floor(lo / a.step + 1e-9) * a.step;
    a.max = ceil(hi / a.step - 1e-9) * a.step;
    if (a.max <= a.min)
        a.max = a.min + a.step;
    return a;
}

/* Bars start at zero so that lengths are honest; a line shows change, so its axis may
 * start near the data when zero would flatten it. */
static axis data_axis(const chart_data *cd, int zero)
{
    double lo = INFINITY, hi = -INFINITY, v;
    for (size_t r = 0; r < cd->ncat; r++)
        for (size_t s = 0; s < cd->nser; s++)
            if (value_at(cd, r, s, &v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
    if (lo > hi)
        return axis_for(0, 1, 1);
    if (!zero && lo > 0 && lo < hi * 0.5)
        zero = 1;
    if (!zero && hi < 0 && hi > lo * 0.5)
        zero = 1;
    return axis_for(lo, hi, zero);
}

static size_t tick_count(const axis *a)
{
    return (size_t)llround((a->max - a->min) / a->step) + 1;
}

static double tick_value(const axis *a, size_t i)
{
    double v = a->min + (double)i * a->step;
    return fabs(v) < a->step * 1e-9 ? 0 : v;
}

static float widest_tick(kp_pdf *p, const chart_data *cd, const axis *a)
{
    float w = 0;
    char buf[64];
    double absmax = fmax(fabs(a->min), fabs(a->max));
    for (size_t i = 0; i < tick_count(a); i++) {
        tick_label(p, cd->fmt, tick_value(a, i), absmax, buf, sizeof buf);
        w = fmaxf(w, kp_pdf_text_width(p, p->regular, FS_LABEL, buf, strlen(buf)));
    }
    return w;
}

static float widest_category(kp_pdf *p, const chart_data *cd, kp_pdf_font *f, float size)
{
    float w = 0;
    char buf[256];
    for (size_t r = 0; r < cd->ncat; r++) {
        category_label(p, cd, r, buf, sizeof buf);
        w = fmaxf(w, kp_pdf_text_width(p, f, size, buf, strlen(buf)));
    }
    return w;
}

/* A value label of at most maxw: the full figure, else the compact one, else nothing. */
static int fit_value(kp_pdf *p, const chart_data *cd, size_t s, double v, float maxw, char *buf,
                     size_t size, float *w)
{
    value_text(p, cd, s, v, buf, size);
    *w = kp_pdf_text_width(p, p->regular, FS_VALUE, buf, strlen(buf));
    if (*w <= maxw)
        return 1;
    tick_label(p, cd->t->cols[cd->c->series_cols[s]].fmt, v, fabs(v), buf, size);
    *w = kp_pdf_text_width(p, p->regular, FS_VALUE, buf, strlen(buf));
    return *w <= maxw;
}

static void draw_legend(kp_pdf *p, const chart_data *cd, float x, float y, float w)
{
    float cx = x;
    for (size_t s = 0; s < cd->nser; s++) {
        const char *label = series_label(cd, s);
        float lw = kp_pdf_text_width(p, p->regular, FS_LABEL, label, strlen(label));
        if (cx + 12 + lw > x + w && cx > x)
            break; /* one line of legend; the rest would collide */
        kp_pdf_rect(p, cx, y - 0.5f, 7, 7, series_colour(s));
        cx += 11;
        cx += kp_pdf_text_box(p, p->regular, FS_LABEL, cx, y, x + w - cx, KP_PDF_LEFT, label,
                              KP_PDF_MUTED);
        cx += 16;
    }
}

/* ---- column and line: categories across, values up ------------------------------- */

typedef struct plot {
    float x0, x1, y0, y1; /* plot area */
    axis a;
    float slot;
} plot;

static float map_y(const plot *pl, double v)
{
    return pl->y0 + (float)((v - pl->a.min) / (pl->a.max - pl->a.min)) * (pl->y1 - pl->y0);
}

static float map_x(const plot *pl, double v)
{
    return pl->x0 + (float)((v - pl->a.min) / (pl->a.max - pl->a.min)) * (pl->x1 - pl->x0);
}

static void vertical_frame(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h,
                           int labels_above, int zero, plot *pl)
{
    pl->a = data_axis(cd, zero);
    float lab_w = widest_tick(p, cd, &pl->a);
    pl->x0 = x + lab_w + 8;
    pl->x1 = x + w;
    pl->slot = (pl->x1 - pl->x0) / (float)cd->ncat;

    /* Category labels: level when they fit their slot, else slanted 40 degrees. */
    float cw = widest_category(p, cd, p->regular, FS_LABEL);
    int slant = cw > pl->slot - 4;
    float cat_h = slant ? fminf(cw * 0.64f + 12, h * 0.3f) : 16;
    pl->y0 = top - h + cat_h;
    pl->y1 = top - (labels_above ? 12 : 4);

    double absmax = fmax(fabs(pl->a.min), fabs(pl->a.max));
    char buf[256];
    for (size_t i = 0; i < tick_count(&pl->a); i++) {
        double v = tick_value(&pl->a, i);
        float y = map_y(pl, v);
        kp_pdf_line(p, pl->x0, y, pl->x1, y, v == 0 ? 0.8f : 0.4f,
                    v == 0 ? KP_PDF_FAINT : KP_PDF_RULE);
        tick_label(p, cd->fmt, v, absmax, buf, sizeof buf);
        kp_pdf_text_box(p, p->regular, FS_LABEL, x, y - 2.6f, lab_w, KP_PDF_RIGHT, buf,
                        KP_PDF_MUTED);
    }
    for (size_t r = 0; r < cd->ncat; r++) {
        float cx = pl->x0 + pl->slot * ((float)r + 0.5f);
        category_label(p, cd, r, buf, sizeof buf);
        if (slant)
            kp_pdf_text_rotated(p, p->regular, FS_LABEL, cx + 2, pl->y0 - 7, 40,
                                (cat_h - 8) / 0.64f, buf, KP_PDF_MUTED);
        else
            kp_pdf_text_box(p, p->regular, FS_LABEL, cx - pl->slot / 2 + 1, pl->y0 - 11,
                            pl->slot - 2, KP_PDF_CENTER, buf, KP_PDF_MUTED);
    }
}

static void draw_columns(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    int labels = cd->ncat * cd->nser <= VALUE_LABELS_MAX;
    plot pl;
    vertical_frame(p, cd, x, top, w, h, labels, 1, &pl);
    float group = pl.slot * (cd->nser > 1 ? 0.8f : 0.62f);
    float bw = group / (float)cd->nser;
    float gap = cd->nser > 1 ? fminf(1.5f, bw * 0.1f) : 0;
    float zero = map_y(&pl, 0);
    char buf[128];
    for (size_t r = 0; r < cd->ncat; r++)
        for (size_t s = 0; s < cd->nser; s++) {
            double v;
            if (!value_at(cd, r, s, &v))
                continue;
            float bx = pl.x0 + pl.slot * (float)r + (pl.slot - group) / 2 + (float)s * bw;
            float vy = map_y(&pl, v);
            kp_pdf_rect(p, bx + gap / 2, fminf(zero, vy), bw - gap, fabsf(vy - zero),
                        series_colour(s));
            float lw;
            if (labels &&
                fit_value(p, cd, s, v, cd->nser > 1 ? bw + 1 : pl.slot - 2, buf, sizeof buf, &lw))
                kp_pdf_text(p, p->regular, FS_VALUE, bx + bw / 2 - lw / 2,
                            v >= 0 ? vy + 3 : vy - FS_VALUE - 1, buf, strlen(buf), KP_PDF_INK);
        }
}

static void draw_lines(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    int labels = cd->nser == 1 && cd->ncat <= 12;
    plot pl;
    vertical_frame(p, cd, x, top, w, h, labels, 0, &pl);
    char buf[128];
    for (size_t s = 0; s < cd->nser; s++) {
        kp_pdf_rgb col = series_colour(s);
        HPDF_Page_SetRGBStroke(p->page, col.r, col.g, col.b);
        HPDF_Page_SetLineWidth(p->page, 1.6f);
        HPDF_Page_SetLineJoin(p->page, HPDF_ROUND_JOIN);
        int pen = 0;
        double v;
        /* A NULL value breaks the line rather than dropping it to zero. */
        for (size_t r = 0; r < cd->ncat; r++) {
            float px = pl.x0 + pl.slot * ((float)r + 0.5f);
            if (!value_at(cd, r, s, &v)) {
                if (pen > 1)
                    HPDF_Page_Stroke(p->page);
                else if (pen == 1)
                    HPDF_Page_EndPath(p->page);
                pen = 0;
                continue;
            }
            if (!pen)
                HPDF_Page_MoveTo(p->page, px, map_y(&pl, v));
            else
                HPDF_Page_LineTo(p->page, px, map_y(&pl, v));
            pen++;
        }
        if (pen > 1)
            HPDF_Page_Stroke(p->page);
        else if (pen == 1)
            HPDF_Page_EndPath(p->page);
        for (size_t r = 0; r < cd->ncat; r++) {
            if (!value_at(cd, r, s, &v))
                continue;
            float px = pl.x0 + pl.slot * ((float)r + 0.5f), py = map_y(&pl, v), lw;
            kp_pdf_dot(p, px, py, 2.6f, col);
            kp_pdf_dot(p, px, py, 1.3f, KP_PDF_WHITE);
            if (labels && fit_value(p, cd, s, v, pl.slot + 6, buf, sizeof buf, &lw))
                kp_pdf_text(p, p->regular, FS_VALUE, px - lw / 2, py + 5, buf, strlen(buf),
                            KP_PDF_INK);
        }
    }
}

/* ---- bar: categories down, values across ------------------------------------------ */

static void draw_bars(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    plot pl;
    char buf[256];
    int labels = cd->ncat * cd->nser <= 2 * VALUE_LABELS_MAX;
    pl.a = data_axis(cd, 1);
    float cat_size = FS_LABEL;
    pl.y0 = top - h + 14;
    pl.y1 = top;
    pl.slot = (pl.y1 - pl.y0) / (float)cd->ncat;
    if (pl.slot * 0.8f < cat_size)
        cat_size = fmaxf(4, pl.slot * 0.8f);
    float lab_w = fminf(widest_category(p, cd, p->regular, cat_size) + 8, w * 0.32f);
    float reserve = 0;
    if (labels) {
        double v;
        for (size_t r = 0; r < cd->ncat; r++)
            for (size_t s = 0; s < cd->nser; s++)
                if (value_at(cd, r, s, &v)) {
                    value_text(p, cd, s, v, buf, sizeof buf);
                    reserve = fmaxf(reserve,
                                    kp_pdf_text_width(p, p->regular, FS_VALUE, buf, strlen(buf)));
                }
        reserve = fminf(reserve + 6, w * 0.22f);
    }
    pl.x0 = x + lab_w;
    pl.x1 = x + w - reserve;
    double absmax = fmax(fabs(pl.a.min), fabs(pl.a.max));
    for (size_t i = 0; i < tick_count(&pl.a); i++) {
        double v = tick_value(&pl.a, i);
        float tx = map_x(&pl, v);
        kp_pdf_line(p, tx, pl.y0, tx, pl.y1, v == 0 ? 0.8f : 0.4f,
                    v == 0 ? KP_PDF_FAINT : KP_PDF_RULE);
        tick_label(p, cd->fmt, v, absmax, buf, sizeof buf);
        kp_pdf_text_box(p, p->regular, FS_LABEL, tx - 30, pl.y0 - 10, 60, KP_PDF_CENTER, buf,
                        KP_PDF_MUTED);
    }
    float group = pl.slot * (cd->nser > 1 ? 0.8f : 0.66f), bh = group / (float)cd->nser;
    float zero = map_x(&pl, 0);
    for (size_t r = 0; r < cd->ncat; r++) {
        float st = pl.y1 - pl.slot * (float)r; /* top of this category's slot */
        category_label(p, cd, r, buf, sizeof buf);
        kp_pdf_text_box(p, p->regular, cat_size, x, st - pl.slot / 2 - cat_size * 0.35f, lab_w - 8,
                        KP_PDF_RIGHT, buf, KP_PDF_INK);
        for (size_t s = 0; s < cd->nser; s++) {
            double v;
            if (!value_at(cd, r, s, &v))
                continue;
            float by = st - (pl.slot - group) / 2 - (float)(s + 1) * bh;
            float vx = map_x(&pl, v);
            kp_pdf_rect(p, fminf(zero, vx), by + (cd->nser > 1 ? 0.5f : 0), fabsf(vx - zero),
                        bh - (cd->nser > 1 ? 1 : 0), series_colour(s));
            float lw;
            if (labels && bh >= FS_VALUE * 0.9f &&
                fit_value(p, cd, s, v, reserve > 6 ? reserve - 4 : 0, buf, sizeof buf, &lw))
                kp_pdf_text(p, p->regular, FS_VALUE, v >= 0 ? vx + 4 : vx - lw - 4,
                            by + bh / 2 - FS_VALUE * 0.35f, buf, strlen(buf), KP_PDF_INK);
        }
    }
}

/* ---- pie -------------------------------------------------------------------------- */

static void draw_pie(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    double vals[PIE_MAX_SLICES], total = 0, v;
    size_t rows[PIE_MAX_SLICES], n = 0;
    double other = 0;
    int negative = 0;
    for (size_t r = 0; r < cd->ncat; r++) {
        if (!value_at(cd, r, 0, &v) || v == 0)
            continue;
        if (v < 0) {
            negative = 1;
            continue;
        }
        total += v;
        if (n < PIE_MAX_SLICES - 1)
            rows[n] = r, vals[n++] = v;
        else
            other += v;
    }
    if (negative)
        kp_log_warn("PDF: pie chart \"%s\" has negative values; they are left out",
                    cd->c->title ? cd->c->title : "");
    if (total <= 0) {
        kp_pdf_text_box(p, p->regular, FS_LABEL, x, top - 20, w, KP_PDF_LEFT,
                        "No positive values to chart", KP_PDF_MUTED);
        return;
    }
    float rad = fminf(h / 2 - 6, w * 0.16f);
    float cx = x + rad + 10, cy = top - h / 2;
    size_t slices = n + (other > 0);
    double a0 = 0;
    for (size_t i = 0; i < slices; i++) {
        double sv = i < n ? vals[i] : other;
        double a1 = a0 + 360.0 * sv / total;
        kp_pdf_rgb col = i < n ? series_colour(i) : KP_PDF_FAINT;
        HPDF_Page_SetRGBFill(p->page, col.r, col.g, col.b);
        HPDF_Page_SetRGBStroke(p->page, 1, 1, 1);
        HPDF_Page_SetLineWidth(p->page, 1.2f);
        if (a1 - a0 >= 359.99) {
            HPDF_Page_Circle(p->page, cx, cy, rad);
        } else {
            /* libharu's arc angles run clockwise from 12 o'clock. */
            HPDF_Page_MoveTo(p->page, cx, cy);
            HPDF_Page_Arc(p->page, cx, cy, rad, (HPDF_REAL)a0, (HPDF_REAL)a1);
            HPDF_Page_ClosePath(p->page);
        }
        HPDF_Page_FillStroke(p->page);
        a0 = a1;
    }
    /* Legend: swatch, category, value, share. */
    float lx = cx + rad + 24, lw = fminf(x + w - lx, 300), row = 15;
    float ly = cy + (float)slices * row / 2 - 8, vw = 0;
    char label[256], val[128], pct[64];
    for (size_t i = 0; i < slices; i++) {
        value_text(p, cd, 0, i < n ? vals[i] : other, val, sizeof val);
        vw = fmaxf(vw, kp_pdf_text_width(p, p->regular, FS_LABEL + 0.5f, val, strlen(val)));
    }
    vw = fminf(vw + 6, lw * 0.4f);
    for (size_t i = 0; i < slices; i++, ly -= row) {
        double sv = i < n ? vals[i] : other;
        kp_pdf_rect(p, lx, ly - 0.5f, 7, 7, i < n ? series_colour(i) : KP_PDF_FAINT);
        if (i < n)
            category_label(p, cd, rows[i], label, sizeof label);
        else
            snprintf(label, sizeof label, "Other");
        value_text(p, cd, 0, sv, val, sizeof val);
        kp_cell share = {0};
        kp_cell_set_number(&share, sv / total);
        kp_format_cell(&share, KP_FMT_PERCENT, p->doc->currency, pct, sizeof pct);
        float pw = 40;
        kp_pdf_text_box(p, p->regular, FS_LABEL + 0.5f, lx + 12, ly, lw - 12 - vw - pw - 8,
                        KP_PDF_LEFT, label, KP_PDF_INK);
        kp_pdf_text_box(p, p->regular, FS_LABEL + 0.5f, lx + lw - pw - vw, ly, vw, KP_PDF_RIGHT,
                        val, KP_PDF_INK);
        kp_pdf_text_box(p, p->bold, FS_LABEL + 0.5f, lx + lw - pw, ly, pw, KP_PDF_RIGHT, pct,
                        KP_PDF_MUTED);
    }
}

/* ---- entry points ----------------------------------------------------------------- */

static float title_h(const kp_chart *c)
{
    return c->title ? FS_CHART_TITLE + 12 : 0;
}

static int has_legend(const kp_chart *c)
{
    return c->type != KP_CHART_PIE && c->nseries > 1;
}

float kp_chart_pdf_height(const kp_pdf *p, const kp_chart *c, float w)
{
    float body;
    (void)p;
    switch (c->type) {
    case KP_CHART_PIE: body = fminf(fmaxf(w * 0.32f, 130), 200); break;
    case KP_CHART_BAR: {
        size_t n = c->data ? c->data->nrows : 0;
        if (n > KP_PDF_CHART_MAX_CATEGORIES)
            n = KP_PDF_CHART_MAX_CATEGORIES;
        float per = 14 + 6 * (float)(c->nseries > 1 ? c->nseries : 1);
        body = fminf(fmaxf((float)n * per + 16, 110), 520);
        break;
    }
    case KP_CHART_COLUMN:
    case KP_CHART_LINE:
    default: body = fminf(fmaxf(w * 0.42f, 160), 250); break;
    }
    return title_h(c) + (has_legend(c) ? LEGEND_H : 0) + body;
}

void kp_chart_pdf_draw(kp_pdf *p, const kp_chart *c, float x, float top, float w, float h)
{
    chart_data cd;
    float y = top;
    if (c->title) {
        kp_pdf_text_box(p, p->bold, FS_CHART_TITLE, x, y - FS_CHART_TITLE, w, KP_PDF_LEFT, c->title,
                        KP_PDF_INK);
        y -= title_h(c);
    }
    if (!chart_data_init(c, &cd)) {
        kp_pdf_text_box(p, p->regular, FS_LABEL, x, y - 12, w, KP_PDF_LEFT,
                        "No data for this chart", KP_PDF_MUTED);
        return;
    }
    if (has_legend(c)) {
        draw_legend(p, &cd, x, y - 8, w);
        y -= LEGEND_H;
    }
    float bh = h - (top - y);
    switch (c->type) {
    case KP_CHART_BAR: draw_bars(p, &cd, x, y, w, bh); break;
    case KP_CHART_COLUMN: draw_columns(p, &cd, x, y, w, bh); break;
    case KP_CHART_LINE: draw_lines(p, &cd, x, y, w, bh); break;
    case KP_CHART_PIE: draw_pie(p, &cd, x, y, w, bh); break;
    }
}
