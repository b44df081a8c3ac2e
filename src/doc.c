/* The document model's constructors, destructors and the one place that turns a typed
 * cell into display text, so that a PDF, a CLI listing and an e-mail show a figure the
 * same way. Formatting is done by hand (not printf's %' flag) to stay locale-free. */
#include "kpipress/doc.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kp_doc *kp_doc_new(kp_doc_kind kind)
{
    kp_doc *d = calloc(1, sizeof *d);
    if (d)
        d->kind = kind;
    return d;
}

void kp_cell_clear(kp_cell *c)
{
    free(c->text);
    memset(c, 0, sizeof *c);
}

void kp_table_free(kp_table *t)
{
    if (!t)
        return;
    if (t->stream.close)
        t->stream.close(t->stream.ctx);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    for (size_t c = 0; c < t->ncols; c++) {
        free(t->cols[c].name);
        free(t->cols[c].label);
    }
    free(t->cells);
    free(t->cols);
    free(t);
}

static void block_free(kp_block *b)
{
    free(b->name);
    free(b->text);
    kp_table_free(b->table);
    for (size_t i = 0; i < b->ntiles; i++) {
        kp_tile *t = &b->tiles[i];
        free(t->label);
        free(t->compare_label);
        kp_cell_clear(&t->value);
        kp_cell_clear(&t->compare);
        kp_cell_clear(&t->target);
    }
    free(b->tiles);
    if (b->chart) {
        free(b->chart->title);
        free(b->chart->series_cols);
        free(b->chart);
    }
}

void kp_doc_free(kp_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nblocks; i++)
        block_free(&d->blocks[i]);
    free(d->blocks);
    free(d->title);
    free(d->subtitle);
    free(d->author);
    free(d->company);
    free(d->subject);
    free(d->keywords);
    free(d->currency);
    free(d->footer);
    free(d->font_path);
    free(d->plan);
    free(d);
}

kp_block *kp_doc_add_block(kp_doc *d, kp_block_kind kind)
{
    if (d->nblocks == d->cap_blocks) {
        size_t cap = d->cap_blocks ? d->cap_blocks * 2 : 8;
        kp_block *nb = realloc(d->blocks, cap * sizeof *nb);
        if (!nb)
            return NULL;
        d->blocks = nb;
        d->cap_blocks = cap;
    }
    kp_block *b = &d->blocks[d->nblocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

kp_err kp_doc_set_str(char **field, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return KP_ERR_NOMEM;
    free(*field);
    *field = copy;
    return KP_OK;
}

kp_table *kp_table_new(size_t ncols)
{
    kp_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->cols = calloc(ncols ? ncols : 1, sizeof *t->cols);
    if (!t->cols) {
        free(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++)
        t->cols[c].ratio_num = t->cols[c].ratio_den = t->cols[c].payout_att = -1;
    return t;
}

size_t kp_table_add_row(kp_table *t)
{
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        kp_cell *nc = realloc(t->cells, cap * (t->ncols ? t->ncols : 1) * sizeof *nc);
        if (!nc)
            return (size_t)-1;
        t->cells = nc;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
    return t->nrows++;
}

kp_cell *kp_table_cell(const kp_table *t, size_t row, size_t col)
{
    assert(row < t->nrows && col < t->ncols);
    return &t->cells[row * t->ncols + col];
}

kp_err kp_cell_set_number(kp_cell *c, double v)
{
    kp_cell_clear(c);
    if (!isfinite(v))
        return KP_ERR_DATA;
    c->type = KP_CELL_NUMBER;
    c->num = v;
    return KP_OK;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* The same arithmetic as the xlsx Plan formulas (render_xlsx.c), term for term, so that
 * the cached value equals what Excel or LibreOffice recalculates. */
double kp_commission_payout(const kp_commission_plan *p, double attainment)
{
    assert(p && p->ntiers > 0);
    double a = attainment > 0 ? attainment : 0;
    if (a < p->floor)
        return 0;
    double r = 0;
    if (p->method == KP_COMMISSION_CUMULATIVE) {
        size_t k = 0;
        while (k + 1 < p->ntiers && p->tiers[k + 1].from <= a)
            k++;
        r = a * p->tiers[k].rate;
    } else {
        for (size_t i = 0; i < p->ntiers; i++) {
            double hi = i + 1 < p->ntiers && p->tiers[i + 1].from < a ? p->tiers[i + 1].from : a;
            if (hi > p->tiers[i].from)
                r += p->tiers[i].rate * (hi - p->tiers[i].from);
        }
    }
    if (p->has_cap && r > p->cap)
        r = p->cap;
    return r * p->target_incentive;
}

const char *kp_commission_invalid(const kp_commission_plan *p)
{
    if (p->ntiers == 0)
        return "no tiers: add tier.1 = 0% RATE";
    if (p->tiers[0].from != 0)
        return "tier 1 must start at 0%";
    for (size_t i = 0; i < p->ntiers; i++) {
        if (!isfinite(p->tiers[i].rate) || p->tiers[i].rate < 0)
            return "a tier rate must be a number >= 0";
        if (i > 0 && !(p->tiers[i].from > p->tiers[i - 1].from))
            return "each tier must start above the one before";
    }
    if (!isfinite(p->target_incentive) || !(p->target_incentive > 0))
        return "target_incentive must be above 0";
    if (!isfinite(p->floor) || p->floor < 0)
        return "floor must be 0% or more";
    if (p->has_cap && (!isfinite(p->cap) || !(p->cap > 0)))
        return "cap must be above 0%";
    return NULL;
}

int kp_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

kp_err kp_cell_set_text(kp_cell *c, const char *s, size_t len)
{
    kp_cell_clear(c);
    /* Worst case every byte becomes U+FFFD (3 bytes). */
    char *out = malloc(len * 3 + 1);
    if (!out)
        return KP_ERR_NOMEM;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i, len - i);
        if (n && p[i] != 0) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
        }
    }
    out[o] = '\0';
    c->type = KP_CELL_TEXT;
    c->text = out;
    return KP_OK;
}

kp_err kp_cell_assign_text(kp_cell *c, const char *s, size_t len, int *replaced)
{
    *replaced = !kp_utf8_valid(s, len) || memchr(s, '\0', len) != NULL;
    if (*replaced)
        return kp_cell_set_text(c, s, len);
    char *buf = realloc(c->text, len + 1); /* text is NULL unless the cell holds text */
    if (!buf) {
        kp_cell_clear(c);
        return KP_ERR_NOMEM;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    c->type = KP_CELL_TEXT;
    c->text = buf;
    return KP_OK;
}

void kp_cell_set_date(kp_cell *c, kp_date d)
{
    kp_cell_clear(c);
    c->type = KP_CELL_DATE;
    c->date = d;
}

void kp_cell_set_null(kp_cell *c)
{
    kp_cell_clear(c);
}

static const char *currency_symbol(const char *code)
{
    if (!code || !*code || !strcmp(code, "USD"))
        return "$";
    if (!strcmp(code, "EUR"))
        return "\xE2\x82\xAC";
    if (!strcmp(code, "GBP"))
        return "\xC2\xA3";
    if (!strcmp(code, "JPY"))
        return "\xC2\xA5";
    return NULL;
}

/* buf = a b c, cut to size like snprintf. */
static void concat3(char *buf, size_t size, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t o = 0;
    for (int i = 0; i < 3; i++)
        for (const char *q = parts[i]; *q && o + 1 < size; q++)
            buf[o++] = *q;
    if (size)
        buf[o] = '\0';
}

/* What "%.*f" prints for |r| (decimals 0 to 2) when r is already rounded to that many
 * decimals, as every caller here does first: the digits of one integer, k = |r| x 10^d
 * (exact below 10^12, far inside a double's 2^53), without printf's conversion of a
 * double, which was most of the cost of a figure. Larger values take printf's way. */
static void fixed_digits(double r, int decimals, char *out, size_t size)
{
    static const double scale[] = {1, 10, 100};
    double a = fabs(r);
    if (!(a < 1e12) || decimals < 0 || decimals > 2) {
        snprintf(out, size, "%.*f", decimals, a);
        return;
    }
    long long k = llround(a * scale[decimals]);
    char rev[24];
    size_t n = 0;
    for (int d = 0; d < decimals; d++, k /= 10)
        rev[n++] = (char)('0' + k % 10);
    if (decimals)
        rev[n++] = '.';
    do {
        rev[n++] = (char)('0' + k % 10);
        k /= 10;
    } while (k);
    size_t o = 0;
    while (n > 0 && o + 1 < size)
        out[o++] = rev[--n];
    if (size)
        out[o] = '\0';
}

/* Format |v| with thousands separators and `decimals` digits after the point; v is
 * rounded to `decimals` already. */
static void group_digits(double v, int decimals, char *buf, size_t size)
{
    char raw[64];
    fixed_digits(v, decimals, raw, sizeof raw);
    const char *dot = strchr(raw, '.');
    size_t intlen = dot ? (size_t)(dot - raw) : strlen(raw);
    size_t o = 0;
    for (size_t i = 0; i < intlen && o + 1 < size; i++) {
        if (i > 0 && (intlen - i) % 3 == 0 && o + 1 < size)
            buf[o++] = ',';
        if (o + 1 < size)
            buf[o++] = raw[i];
    }
    buf[o] = '\0';
    if (dot)
        snprintf(buf + o, size - o, "%s", dot);
}

/* Signed r (rounded to `decimals`) followed by suffix: "%.*f<suffix>" of r, where a
 * rounded -0 prints as 0. */
static void signed_fixed(double r, int decimals, const char *suffix, char *buf, size_t size)
{
    char digits[64];
    fixed_digits(r, decimals, digits, sizeof digits);
    concat3(buf, size, r < 0 ? "-" : "", digits, suffix);
}

void kp_format_cell(const kp_cell *c, kp_format fmt, const char *currency, char *buf,
                    size_t size)
{
    char digits[64];
    if (c->type == KP_CELL_NULL) {
        snprintf(buf, size, "n/a");
        return;
    }
    if (c->type == KP_CELL_TEXT) {
        snprintf(buf, size, "%s", c->text);
        return;
    }
    if (c->type == KP_CELL_DATE) {
        char iso[KP_DATE_ISO_LEN + 1];
        snprintf(buf, size, "%s", kp_date_format_iso(c->date, iso));
        return;
    }
    double v = c->num;
    /* Round first so that -0.004 does not print as "-$0.00". */
    const char *sign = "";
    switch (fmt) {
    case KP_FMT_CURRENCY: {
        double r = round(v * 100.0) / 100.0;
        sign = r < 0 ? "-" : "";
        group_digits(r, 2, digits, sizeof digits);
        const char *sym = currency_symbol(currency);
        if (sym)
            concat3(buf, size, sign, sym, digits);
        else
            snprintf(buf, size, "%s%s %s", sign, currency, digits);
        return;
    }
    case KP_FMT_PERCENT: {
        double r = round(v * 1000.0) / 10.0;
        signed_fixed(r, 1, "%", buf, size);
        return;
    }
    case KP_FMT_COUNT: {
        double r = round(v);
        group_digits(r, 0, digits, sizeof digits);
        concat3(buf, size, r < 0 ? "-" : "", digits, "");
        return;
    }
    case KP_FMT_DAYS: {
        double r = round(v * 10.0) / 10.0;
        signed_fixed(r, 1, "", buf, size);
        return;
    }
    case KP_FMT_RATIO: {
        double r = round(v * 100.0) / 100.0;
        signed_fixed(r, 2, "x", buf, size);
        return;
    }
    case KP_FMT_DATE: {
        char iso[KP_DATE_ISO_LEN + 1];
        snprintf(buf, size, "%s", kp_date_format_iso((kp_date)v, iso));
        return;
    }
    case KP_FMT_TEXT:
    case KP_FMT_NUMBER:
    default: {
        double r = round(v * 100.0) / 100.0;
        int decimals = (r == floor(r)) ? 0 : 2;
        group_digits(r, decimals, digits, sizeof digits);
        concat3(buf, size, r < 0 ? "-" : "", digits, "");
        return;
    }
    }
}

static const char *const format_names[] = {"text",    "number", "count", "currency",
                                           "percent", "date",   "days",  "ratio"};

const char *kp_format_name(kp_format f)
{
    return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "text";
}

int kp_format_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (!strcmp(name, format_names[i]))
            return (int)i;
    return -1;
}
