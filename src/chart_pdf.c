/* Vector charts for the PDF renderer, drawn with libharu's path API from a table block of
 * the document: bar (horizontal), column (grouped or stacked), line, line with a forecast
 * interval band, pie, sparklines and bullet charts (attainment against a target). Axes use
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
#define LEGEND_MAX 12       /* legend keys drawn; a chart with more series is unreadable */
#define SPARK_ROW_H 30.0f
#define BULLET_ROW_H 24.0f
#define BULLET_MIN_RANGE 1.2 /* bullet scale reaches at least 120% of target... */
#define BULLET_MAX_RANGE 2.0 /* ...and at most 200%: longer bars are cut with a notch */

/* Bands behind a bullet bar: poor (< 80% of target), fair (< 100%), good. */
#define BULLET_POOR KP_PDF_RGB(203, 213, 225)
#define BULLET_FAIR KP_PDF_RGB(222, 229, 237)
#define BULLET_GOOD KP_PDF_RGB(241, 245, 249)
#define BAND_FILL KP_PDF_RGB(207, 224, 242) /* forecast interval */

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

/* ---- legends ---------------------------------------------------------------------- */

typedef enum { KEY_BOX = 0, KEY_LINE, KEY_DASH, KEY_BAND, KEY_MARK } key_style;

typedef struct legend_key {
    const char *label;
    kp_pdf_rgb colour;
    key_style style;
} legend_key;

static void dash(kp_pdf *p, int on)
{
    static const HPDF_UINT16 pattern[] = {4, 2};
    HPDF_Page_SetDash(p->page, on ? pattern : NULL, on ? 2 : 0, 0);
}

static void draw_key(kp_pdf *p, const legend_key *k, float x, float y)
{
    switch (k->style) {
    case KEY_BOX: kp_pdf_rect(p, x, y - 0.5f, 7, 7, k->colour); break;
    case KEY_BAND: kp_pdf_rect(p, x - 2, y - 1, 11, 9, k->colour); break;
    case KEY_MARK: kp_pdf_line(p, x + 3.5f, y - 1.5f, x + 3.5f, y + 8.5f, 2, k->colour); break;
    case KEY_DASH:
    case KEY_LINE:
        dash(p, k->style == KEY_DASH);
        kp_pdf_line(p, x - 2, y + 3, x + 9, y + 3, 1.6f, k->colour);
        dash(p, 0);
        break;
    }
}

/* One line of keys; those that would not fit are left out rather than overlap. */
static void draw_keys(kp_pdf *p, const legend_key *keys, size_t n, float x, float y, float w)
{
    float cx = x;
    for (size_t i = 0; i < n; i++) {
        float lw = kp_pdf_text_width(p, p->regular, FS_LABEL, keys[i].label, strlen(keys[i].label));
        if (cx + 12 + lw > x + w && cx > x)
            break;
        draw_key(p, &keys[i], cx, y);
        cx += 11;
        cx += kp_pdf_text_box(p, p->regular, FS_LABEL, cx, y, x + w - cx, KP_PDF_LEFT,
                              keys[i].label, KP_PDF_MUTED);
        cx += 16;
    }
}

/* The keys of a chart: one box per series, or the roles of a forecast or bullet chart.
 * band gets the forecast band's label: the band spans both bounds, so it is named by
 * both columns ("Low (80%) to High (80%)"), not by the lower bound's alone. */
static size_t legend_keys(const chart_data *cd, legend_key *keys, char *band, size_t bandsize)
{
    size_t n = 0;
    switch ((int)cd->c->type) { /* int: see KP_CHART_STACKED in doc.h */
    case KP_CHART_FORECAST:
        keys[n++] = (legend_key){series_label(cd, 0), series_colour(0), KEY_LINE};
        keys[n++] = (legend_key){series_label(cd, 1), series_colour(0), KEY_DASH};
        if (cd->nser >= 4) {
            snprintf(band, bandsize, "%s to %s", series_label(cd, 2), series_label(cd, 3));
            keys[n++] = (legend_key){band, BAND_FILL, KEY_BAND};
        }
        for (size_t s = 4; s < cd->nser && n < LEGEND_MAX; s++)
            keys[n++] = (legend_key){series_label(cd, s), series_colour(s - 2), KEY_MARK};
        return n;
    case KP_CHART_BULLET:
        keys[n++] = (legend_key){series_label(cd, 0), KP_PDF_INK, KEY_BOX};
        if (cd->nser > 2)
            keys[n++] = (legend_key){series_label(cd, 2), series_colour(1), KEY_BOX};
        keys[n++] = (legend_key){series_label(cd, 1), KP_PDF_INK, KEY_MARK};
        return n;
    default:
        for (size_t s = 0; s < cd->nser && n < LEGEND_MAX; s++)
            keys[n++] = (legend_key){series_label(cd, s), series_colour(s), KEY_BOX};
        return n;
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

/* Axis, grid and category labels of a chart with categories across; the value axis is a,
 * or from the data (starting at zero when asked) when a is NULL. */
static void vertical_frame(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h,
                           int labels_above, int zero, const axis *a, plot *pl)
{
    pl->a = a ? *a : data_axis(cd, zero);
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
    vertical_frame(p, cd, x, top, w, h, labels, 1, NULL, &pl);
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

static float slot_x(const plot *pl, size_t r)
{
    return pl->x0 + pl->slot * ((float)r + 0.5f);
}

/* Stroke series s as a polyline; a NULL value breaks the line rather than dropping it to
 * zero. With from >= 0 the line starts at series 0's point in that category (a forecast
 * continuing the actuals). */
static void polyline(kp_pdf *p, const chart_data *cd, const plot *pl, size_t s, kp_pdf_rgb col,
                     float width, long from)
{
    kp_pdf_set_stroke(p, col);
    HPDF_Page_SetLineWidth(p->page, width);
    HPDF_Page_SetLineJoin(p->page, HPDF_ROUND_JOIN);
    int pen = 0;
    double v;
    if (from >= 0 && value_at(cd, (size_t)from, 0, &v)) {
        HPDF_Page_MoveTo(p->page, slot_x(pl, (size_t)from), map_y(pl, v));
        pen = 1;
    }
    for (size_t r = from >= 0 ? (size_t)from + 1 : 0; r < cd->ncat; r++) {
        if (!value_at(cd, r, s, &v)) {
            if (pen > 1)
                HPDF_Page_Stroke(p->page);
            else if (pen == 1)
                HPDF_Page_EndPath(p->page);
            pen = 0;
            continue;
        }
        if (!pen)
            HPDF_Page_MoveTo(p->page, slot_x(pl, r), map_y(pl, v));
        else
            HPDF_Page_LineTo(p->page, slot_x(pl, r), map_y(pl, v));
        pen++;
    }
    if (pen > 1)
        HPDF_Page_Stroke(p->page);
    else if (pen == 1)
        HPDF_Page_EndPath(p->page);
}

static void draw_lines(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    int labels = cd->nser == 1 && cd->ncat <= 12;
    plot pl;
    vertical_frame(p, cd, x, top, w, h, labels, 0, NULL, &pl);
    char buf[128];
    for (size_t s = 0; s < cd->nser; s++) {
        kp_pdf_rgb col = series_colour(s);
        polyline(p, cd, &pl, s, col, 1.6f, -1);
        double v;
        for (size_t r = 0; r < cd->ncat; r++) {
            if (!value_at(cd, r, s, &v))
                continue;
            float px = slot_x(&pl, r), py = map_y(&pl, v), lw;
            kp_pdf_dot(p, px, py, 2.6f, col);
            kp_pdf_dot(p, px, py, 1.3f, KP_PDF_WHITE);
            if (labels && fit_value(p, cd, s, v, pl.slot + 6, buf, sizeof buf, &lw))
                kp_pdf_text(p, p->regular, FS_VALUE, px - lw / 2, py + 5, buf, strlen(buf),
                            KP_PDF_INK);
        }
    }
}

/* ---- stacked column ----------------------------------------------------------------- */

/* Positives stack up from zero and negatives down, so the axis spans the largest sums. */
static axis stacked_axis(const chart_data *cd)
{
    double lo = 0, hi = 0, v;
    for (size_t r = 0; r < cd->ncat; r++) {
        double pos = 0, neg = 0;
        for (size_t s = 0; s < cd->nser; s++)
            if (value_at(cd, r, s, &v))
                *(v >= 0 ? &pos : &neg) += v;
        lo = fmin(lo, neg);
        hi = fmax(hi, pos);
    }
    return axis_for(lo, hi, 1);
}

static void draw_stacked(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    int labels = cd->ncat <= VALUE_LABELS_MAX;
    axis a = stacked_axis(cd);
    plot pl;
    vertical_frame(p, cd, x, top, w, h, labels, 1, &a, &pl);
    float bw = pl.slot * 0.62f;
    char buf[128];
    for (size_t r = 0; r < cd->ncat; r++) {
        double pos = 0, neg = 0, v;
        int any = 0;
        float bx = slot_x(&pl, r) - bw / 2;
        for (size_t s = 0; s < cd->nser; s++) {
            if (!value_at(cd, r, s, &v) || v == 0)
                continue;
            double *base = v >= 0 ? &pos : &neg;
            float y0 = map_y(&pl, *base), y1 = map_y(&pl, *base + v);
            *base += v;
            any = 1;
            /* A hairline of white between segments keeps adjacent colours apart. */
            float seg = fabsf(y1 - y0);
            kp_pdf_rect(p, bx, fminf(y0, y1), bw, seg > 1 ? seg - 0.5f : seg, series_colour(s));
        }
        float lw;
        if (labels && any && fit_value(p, cd, 0, pos + neg, pl.slot - 2, buf, sizeof buf, &lw))
            kp_pdf_text(p, p->regular, FS_VALUE, slot_x(&pl, r) - lw / 2, map_y(&pl, pos) + 3, buf,
                        strlen(buf), KP_PDF_INK);
    }
}

/* ---- line with a forecast interval ---------------------------------------------------- */

/* The interval as a filled band between series lo and hi, one polygon per run of
 * categories where both are known. */
static void draw_band(kp_pdf *p, const chart_data *cd, const plot *pl, size_t lo, size_t hi)
{
    size_t r = 0;
    double a, b;
    while (r < cd->ncat) {
        while (r < cd->ncat && !(value_at(cd, r, lo, &a) && value_at(cd, r, hi, &b)))
            r++;
        size_t start = r;
        while (r < cd->ncat && value_at(cd, r, lo, &a) && value_at(cd, r, hi, &b))
            r++;
        if (r == start)
            break;
        kp_pdf_set_fill(p, BAND_FILL);
        /* A single category still shows: a band as wide as a third of its slot. */
        float pad = r - start == 1 ? pl->slot / 6 : 0;
        value_at(cd, start, hi, &b);
        HPDF_Page_MoveTo(p->page, slot_x(pl, start) - pad, map_y(pl, b));
        for (size_t k = start; k < r; k++) {
            value_at(cd, k, hi, &b);
            HPDF_Page_LineTo(p->page, slot_x(pl, k) + (k + 1 == r ? pad : 0), map_y(pl, b));
        }
        for (size_t k = r; k-- > start;) {
            value_at(cd, k, lo, &a);
            HPDF_Page_LineTo(p->page, slot_x(pl, k) + (k + 1 == r ? pad : 0), map_y(pl, a));
        }
        value_at(cd, start, lo, &a);
        HPDF_Page_LineTo(p->page, slot_x(pl, start) - pad, map_y(pl, a));
        HPDF_Page_ClosePath(p->page);
        HPDF_Page_Fill(p->page);
    }
}

/* Series 0 actual (solid), 1 forecast (dashed, continuing from the last actual), 2 and 3
 * the interval band, 4... reference marks such as quota (a short bar per category). */
static void draw_forecast(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    plot pl;
    vertical_frame(p, cd, x, top, w, h, 0, 0, NULL, &pl);
    double v;
    long first_fc = -1;
    for (size_t r = 0; r < cd->ncat && first_fc < 0; r++)
        if (value_at(cd, r, 1, &v) && !value_at(cd, r, 0, &v))
            first_fc = (long)r;
    if (first_fc > 0) {
        /* Where the forecast begins: a dotted divider and a label. */
        float bx = pl.x0 + pl.slot * (float)first_fc;
        dash(p, 1);
        kp_pdf_line(p, bx, pl.y0, bx, pl.y1 + 8, 0.6f, KP_PDF_FAINT);
        dash(p, 0);
        kp_pdf_text_box(p, p->regular, FS_VALUE, bx + 3, pl.y1 + 2, pl.x1 - bx - 3, KP_PDF_LEFT,
                        series_label(cd, 1), KP_PDF_MUTED);
    }
    if (cd->nser >= 4)
        draw_band(p, cd, &pl, 2, 3);
    for (size_t s = 4; s < cd->nser; s++)
        for (size_t r = 0; r < cd->ncat; r++)
            if (value_at(cd, r, s, &v)) {
                float cx = slot_x(&pl, r), y = map_y(&pl, v), half = fminf(pl.slot * 0.3f, 9);
                kp_pdf_line(p, cx - half, y, cx + half, y, 1.6f, series_colour(s - 2));
            }
    kp_pdf_rgb col = series_colour(0);
    long joint = first_fc > 0 && value_at(cd, (size_t)first_fc - 1, 0, &v) &&
                         !value_at(cd, (size_t)first_fc - 1, 1, &v)
                     ? first_fc - 1
                     : -1;
    dash(p, 1);
    polyline(p, cd, &pl, 1, col, 1.4f, joint);
    dash(p, 0);
    polyline(p, cd, &pl, 0, col, 1.8f, -1);
    for (size_t r = 0; r < cd->ncat; r++)
        if (value_at(cd, r, 0, &v)) {
            kp_pdf_dot(p, slot_x(&pl, r), map_y(&pl, v), 2.4f, col);
            kp_pdf_dot(p, slot_x(&pl, r), map_y(&pl, v), 1.2f, KP_PDF_WHITE);
        }
}

/* ---- sparklines: one small line per series ------------------------------------------ */

/* "+4.2%" against the previous category; percentages change in points. */
static void spark_change(const kp_pdf *p, const chart_data *cd, size_t s, double prev, double last,
                         char *buf, size_t size)
{
    kp_cell d = {0};
    kp_format fmt = cd->t->cols[cd->c->series_cols[s]].fmt;
    const char *unit = "";
    if (fmt == KP_FMT_PERCENT) {
        kp_cell_set_number(&d, round(fabs(last - prev) * 1000) / 10);
        kp_format_cell(&d, KP_FMT_NUMBER, p->doc->currency, buf, size);
        unit = " pts";
    } else if (prev != 0) {
        kp_cell_set_number(&d, fabs((last - prev) / prev));
        kp_format_cell(&d, KP_FMT_PERCENT, p->doc->currency, buf, size);
    } else {
        buf[0] = '\0';
        return;
    }
    /* Prefix the sign and append the unit in place (no truncating snprintf). */
    const char *sign = last > prev ? "+" : last < prev ? "\xE2\x88\x92" : "";
    size_t ls = strlen(sign), lb = strlen(buf), lu = strlen(unit);
    if (ls + lb + lu + 1 > size) {
        buf[0] = '\0';
        return;
    }
    memmove(buf + ls, buf, lb + 1);
    memcpy(buf, sign, ls);
    memcpy(buf + ls + lb, unit, lu + 1);
}

static void draw_sparklines(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    float row = fminf(SPARK_ROW_H, h / (float)cd->nser);
    float lab_w = w * 0.34f, val_w = fminf(w * 0.24f, 110);
    float lx0 = x + lab_w + 8, lx1 = x + w - val_w - 10;
    char first[128], last[128], range[300], buf[128];
    category_label(p, cd, 0, first, sizeof first);
    category_label(p, cd, cd->ncat - 1, last, sizeof last);
    snprintf(range, sizeof range, "%s \xE2\x80\x93 %s", first, last);
    for (size_t s = 0; s < cd->nser; s++) {
        float rt = top - row * (float)s, mid = rt - row / 2;
        if (s > 0)
            kp_pdf_line(p, x, rt, x + w, rt, 0.4f, KP_PDF_RULE);
        kp_pdf_text_box(p, p->bold, FS_LABEL + 0.5f, x, mid + 1, lab_w, KP_PDF_LEFT,
                        series_label(cd, s), KP_PDF_INK);
        kp_pdf_text_box(p, p->regular, FS_VALUE - 0.5f, x, mid - 8, lab_w, KP_PDF_LEFT, range,
                        KP_PDF_FAINT);
        double lo = INFINITY, hi = -INFINITY, v, lastv = 0, prevv = 0;
        long lastr = -1, prevr = -1;
        for (size_t r = 0; r < cd->ncat; r++)
            if (value_at(cd, r, s, &v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
                prevr = lastr, prevv = lastv;
                lastr = (long)r, lastv = v;
            }
        if (lastr < 0) {
            kp_pdf_text_box(p, p->regular, FS_LABEL, lx0, mid - 2.5f, lx1 - lx0, KP_PDF_LEFT,
                            "no data", KP_PDF_FAINT);
            continue;
        }
        /* Each line has its own scale: the shape is the message, the figure the value. */
        plot pl = {lx0, lx1, mid - row * 0.3f, mid + row * 0.3f, {lo, hi, 1}, 0};
        if (hi - lo <= 0)
            pl.a.min = lo - 1, pl.a.max = hi + 1;
        pl.slot = (lx1 - lx0) / (float)cd->ncat;
        polyline(p, cd, &pl, s, KP_PDF_ACCENT, 1.1f, -1);
        kp_pdf_dot(p, slot_x(&pl, (size_t)lastr), map_y(&pl, lastv), 2.2f, KP_PDF_ACCENT);
        value_text(p, cd, s, lastv, buf, sizeof buf);
        kp_pdf_text_box(p, p->bold, FS_LABEL + 1.5f, x + w - val_w, mid + 0.5f, val_w,
                        KP_PDF_RIGHT, buf, KP_PDF_INK);
        if (prevr >= 0) {
            spark_change(p, cd, s, prevv, lastv, buf, sizeof buf);
            kp_pdf_text_box(p, p->regular, FS_VALUE - 0.5f, x + w - val_w, mid - 8.5f, val_w,
                            KP_PDF_RIGHT, buf, KP_PDF_MUTED);
        }
    }
}

/* ---- bullet: value against target, one row per category ----------------------------- */

/* The common scale, as a multiple of each row's target, so every target mark lines up and
 * bar lengths read as attainment. */
static double bullet_range(const chart_data *cd)
{
    double range = BULLET_MIN_RANGE, v, t;
    for (size_t r = 0; r < cd->ncat; r++) {
        if (!value_at(cd, r, 1, &t) || t <= 0)
            continue;
        for (size_t s = 0; s < cd->nser; s++)
            if (s != 1 && value_at(cd, r, s, &v))
                range = fmax(range, v / t);
    }
    range = fmin(range, BULLET_MAX_RANGE);
    return ceil(range * 4 - 1e-9) / 4; /* a whole quarter of target: ticks at 25% steps */
}

static float bullet_x(float x0, float x1, double ratio, double range)
{
    return x0 + (float)(fmax(0, fmin(ratio, range)) / range) * (x1 - x0);
}

static void draw_bullets(kp_pdf *p, const chart_data *cd, float x, float top, float w, float h)
{
    double range = bullet_range(cd);
    float row = fminf(BULLET_ROW_H, (h - 14) / (float)cd->ncat);
    float lab_w = fminf(widest_category(p, cd, p->regular, FS_LABEL + 0.5f) + 10, w * 0.28f);
    float txt_w = fminf(w * 0.3f, 150);
    float x0 = x + lab_w, x1 = x + w - txt_w - 8;
    char buf[256], val[64], tgt[64], pct[64];
    for (size_t r = 0; r < cd->ncat; r++) {
        float mid = top - row * ((float)r + 0.5f), bh = fminf(row * 0.62f, 14);
        category_label(p, cd, r, buf, sizeof buf);
        kp_pdf_text_box(p, p->regular, FS_LABEL + 0.5f, x, mid - 2.8f, lab_w - 10, KP_PDF_RIGHT,
                        buf, KP_PDF_INK);
        double v, t, pr;
        int has_v = value_at(cd, r, 0, &v), has_t = value_at(cd, r, 1, &t) && t > 0;
        if (!has_t) {
            if (has_v)
                value_text(p, cd, 0, v, val, sizeof val);
            snprintf(buf, sizeof buf, "%s%sno target", has_v ? val : "", has_v ? ", " : "");
            kp_pdf_text_box(p, p->regular, FS_LABEL, x0, mid - 2.8f, x1 - x0, KP_PDF_LEFT, buf,
                            KP_PDF_FAINT);
            continue;
        }
        float xp = bullet_x(x0, x1, 0.8, range), xt = bullet_x(x0, x1, 1.0, range);
        kp_pdf_rect(p, x0, mid - bh / 2, xp - x0, bh, BULLET_POOR);
        kp_pdf_rect(p, xp, mid - bh / 2, xt - xp, bh, BULLET_FAIR);
        kp_pdf_rect(p, xt, mid - bh / 2, x1 - xt, bh, BULLET_GOOD);
        if (cd->nser > 2 && value_at(cd, r, 2, &pr) && pr > 0)
            kp_pdf_rect(p, x0, mid - bh * 0.28f, bullet_x(x0, x1, pr / t, range) - x0, bh * 0.56f,
                        series_colour(1));
        if (has_v && v > 0) {
            float xv = bullet_x(x0, x1, v / t, range);
            kp_pdf_rect(p, x0, mid - bh * 0.16f, xv - x0, bh * 0.32f, KP_PDF_INK);
            if (v / t > range) /* cut: a white notch says the bar goes on */
                kp_pdf_line(p, xv - 4, mid - bh * 0.3f, xv - 2, mid + bh * 0.3f, 1.2f,
                            KP_PDF_WHITE);
        }
        kp_pdf_line(p, xt, mid - bh * 0.45f, xt, mid + bh * 0.45f, 2, KP_PDF_INK);
        /* "$812.4K of $900K  90.2%": compact figures, attainment in its traffic light. */
        kp_format fmt = cd->t->cols[cd->c->series_cols[0]].fmt;
        tick_label(p, fmt, has_v ? v : 0, fabs(has_v ? v : 0), val, sizeof val);
        tick_label(p, fmt, t, fabs(t), tgt, sizeof tgt);
        kp_cell ratio = {0};
        kp_cell_set_number(&ratio, has_v ? v / t : 0);
        kp_format_cell(&ratio, KP_FMT_PERCENT, p->doc->currency, pct, sizeof pct);
        float pw = kp_pdf_text_box(p, p->bold, FS_LABEL + 0.5f, x1 + 8, mid - 2.8f, txt_w,
                                   KP_PDF_RIGHT, has_v ? pct : "n/a",
                                   has_v ? (v / t < 0.8   ? KP_PDF_BAD
                                            : v / t < 1.0 ? KP_PDF_WARN
                                                          : KP_PDF_GOOD)
                                         : KP_PDF_FAINT);
        snprintf(buf, sizeof buf, "%s of %s", has_v ? val : "n/a", tgt);
        kp_pdf_text_box(p, p->regular, FS_LABEL, x1 + 8, mid - 2.8f, txt_w - pw - 6, KP_PDF_LEFT,
                        buf, KP_PDF_MUTED);
    }
    /* Scale under the rows: share of target. */
    float by = top - row * (float)cd->ncat - 9;
    for (double k = 0; k <= range + 1e-9; k += range > 1.5 ? 0.5 : 0.25) {
        kp_cell c = {0};
        kp_cell_set_number(&c, k);
        kp_format_cell(&c, KP_FMT_PERCENT, p->doc->currency, buf, sizeof buf);
        strip_zeros(buf);
        float tx = bullet_x(x0, x1, k, range);
        kp_pdf_text_box(p, p->regular, FS_VALUE, tx - 20, by, 40, KP_PDF_CENTER, buf,
                        KP_PDF_MUTED);
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
        kp_pdf_set_fill(p, col);
        kp_pdf_set_stroke(p, KP_PDF_WHITE);
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
    switch ((int)c->type) {
    case KP_CHART_PIE:
    case KP_CHART_SPARKLINE: return 0;
    case KP_CHART_FORECAST:
    case KP_CHART_BULLET: return 1;
    default: return c->nseries > 1;
    }
}

static size_t drawn_categories(const kp_chart *c)
{
    size_t n = c->data ? c->data->nrows : 0;
    return n > KP_PDF_CHART_MAX_CATEGORIES ? KP_PDF_CHART_MAX_CATEGORIES : n;
}

float kp_chart_pdf_height(const kp_pdf *p, const kp_chart *c, float w)
{
    float body;
    (void)p;
    switch ((int)c->type) {
    case KP_CHART_PIE: body = fminf(fmaxf(w * 0.32f, 130), 200); break;
    case KP_CHART_BAR: {
        float per = 14 + 6 * (float)(c->nseries > 1 ? c->nseries : 1);
        body = fminf(fmaxf((float)drawn_categories(c) * per + 16, 110), 520);
        break;
    }
    case KP_CHART_SPARKLINE: body = SPARK_ROW_H * (float)(c->nseries ? c->nseries : 1); break;
    case KP_CHART_BULLET:
        body = fminf(BULLET_ROW_H * (float)(drawn_categories(c) ? drawn_categories(c) : 1) + 16,
                     600);
        break;
    case KP_CHART_COLUMN:
    case KP_CHART_LINE:
    case KP_CHART_STACKED:
    case KP_CHART_FORECAST:
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
        legend_key keys[LEGEND_MAX];
        char band[128];
        draw_keys(p, keys, legend_keys(&cd, keys, band, sizeof band), x, y - 8, w);
        y -= LEGEND_H;
    }
    float bh = h - (top - y);
    switch ((int)c->type) {
    case KP_CHART_BAR: draw_bars(p, &cd, x, y, w, bh); break;
    case KP_CHART_COLUMN: draw_columns(p, &cd, x, y, w, bh); break;
    case KP_CHART_LINE: draw_lines(p, &cd, x, y, w, bh); break;
    case KP_CHART_PIE: draw_pie(p, &cd, x, y, w, bh); break;
    case KP_CHART_STACKED: draw_stacked(p, &cd, x, y, w, bh); break;
    case KP_CHART_FORECAST: draw_forecast(p, &cd, x, y, w, bh); break;
    case KP_CHART_SPARKLINE: draw_sparklines(p, &cd, x, y, w, bh); break;
    case KP_CHART_BULLET: draw_bullets(p, &cd, x, y, w, bh); break;
    }
}
