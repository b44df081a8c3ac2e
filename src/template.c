/* Template parsing. Each INI section is one block, kept in file order; the section's
 * first word is the block kind and the rest its name. Mistakes are reported with the
 * template's file and line at `kpipress check` time, not halfway through a render. */
#include "kpipress/template.h"

#include "kpipress/ini.h"
#include "kpipress/limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    kp_template *t;
    int in_document;
    kp_tblock *cur;
    char last_key[KP_NAME_MAX];
} tctx;

static const struct {
    const char *word;
    kp_block_kind kind;
} kinds[] = {{"sheet", KP_BLOCK_SHEET}, {"title", KP_BLOCK_TITLE}, {"text", KP_BLOCK_TEXT},
             {"tiles", KP_BLOCK_TILES}, {"table", KP_BLOCK_TABLE}, {"chart", KP_BLOCK_CHART},
             {"break", KP_BLOCK_BREAK}, {"definitions", KP_BLOCK_TABLE}};

static kp_err nomem(const kp_template *t, long line, kp_error *e)
{
    return kp_error_set(e, KP_ERR_NOMEM, t->path, line, 0, "out of memory");
}

/* [definitions NAME]: an ordinary table of the run's metric library (kpi_metric, written
 * by the model stage), so both renderers show it with no special case. */
static kp_err definitions_block(const kp_template *t, kp_tblock *b, long line, kp_error *e)
{
    static const char *const cols[][2] = {
        {"name", "Metric"}, {"label", "Label"}, {"format", "Format"}, {"definition", "Definition"}};
    b->sql_line = line;
    if (!(b->sql = strdup("SELECT name, label, format, definition FROM kpi_metric ORDER BY ord")))
        return nomem(t, line, e);
    if (!(b->cols = calloc(4, sizeof *b->cols)))
        return nomem(t, line, e);
    for (size_t i = 0; i < 4; i++) {
        kp_colspec *c = &b->cols[b->ncols++];
        c->fmt = KP_FMT_TEXT;
        c->line = line;
        if (!(c->name = strdup(cols[i][0])) || !(c->label = strdup(cols[i][1])))
            return nomem(t, line, e);
    }
    return KP_OK;
}

static kp_err bad(const kp_template *t, long line, const char *key, kp_error *e, const char *fmt,
                  const char *arg)
{
    kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0, fmt, arg);
    kp_error_key(e, key);
    return KP_ERR_CONFIG;
}

static kp_err t_section(void *user, const char *section, long line, kp_error *e)
{
    tctx *c = user;
    kp_template *t = c->t;
    c->cur = NULL;
    c->in_document = 0;
    c->last_key[0] = '\0';
    if (!strcmp(section, "document")) {
        c->in_document = 1;
        return KP_OK;
    }
    char word[16];
    size_t n = strcspn(section, " ");
    if (n >= sizeof word)
        n = sizeof word - 1;
    memcpy(word, section, n);
    word[n] = '\0';
    const char *name = section + strcspn(section, " ");
    while (*name == ' ')
        name++;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (strcmp(word, kinds[i].word))
            continue;
        if (!*name)
            return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0,
                                "[%s] needs a name: [%s NAME]", word, word);
        for (size_t b = 0; b < t->nblocks; b++)
            if (!strcmp(t->blocks[b].name, name) && t->blocks[b].kind == kinds[i].kind)
                return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0,
                                    "duplicate [%s] (first at line %ld)", section,
                                    t->blocks[b].line);
        if (t->nblocks >= KP_INI_MAX_SECTIONS)
            return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0, "more than %d blocks",
                                KP_INI_MAX_SECTIONS);
        kp_tblock *nb = realloc(t->blocks, (t->nblocks + 1) * sizeof *nb);
        if (!nb)
            return nomem(t, line, e);
        t->blocks = nb;
        c->cur = &t->blocks[t->nblocks++];
        memset(c->cur, 0, sizeof *c->cur);
        c->cur->kind = kinds[i].kind;
        c->cur->line = line;
        if (!(c->cur->name = strdup(name)))
            return nomem(t, line, e);
        if (!strcmp(word, "definitions"))
            return definitions_block(t, c->cur, line, e);
        return KP_OK;
    }
    return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0,
                        "unknown section [%s] (expected [document], or [sheet|title|text|"
                        "tiles|table|chart|break|definitions NAME])",
                        section);
}

static kp_err set(char **field, const char *v, const kp_template *t, long line, kp_error *e)
{
    if (*field)
        return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0, "duplicate key");
    if (!(*field = strdup(v)))
        return nomem(t, line, e);
    return KP_OK;
}

static kp_err append(char **field, const char *v, const char *sep, const kp_template *t,
                     long line, kp_error *e)
{
    size_t n = strlen(*field) + strlen(v) + strlen(sep) + 1;
    if (n > KP_INI_MAX_VALUE)
        return kp_error_set(e, KP_ERR_CONFIG, t->path, line, 0, "value longer than %d bytes",
                            KP_INI_MAX_VALUE);
    char *p = realloc(*field, n);
    if (!p)
        return nomem(t, line, e);
    strcat(strcat(p, sep), v);
    *field = p;
    return KP_OK;
}

static kp_err doc_key(tctx *c, const char *key, const char *v, long line, kp_error *e)
{
    kp_template *t = c->t;
    if (!strcmp(key, "kind")) {
        if (!strcmp(v, "xlsx"))
            t->kind = KP_DOC_XLSX;
        else if (!strcmp(v, "pdf"))
            t->kind = KP_DOC_PDF;
        else
            return bad(t, line, key, e, "bad value \"%s\": expected xlsx or pdf", v);
        return KP_OK;
    }
    if (!strcmp(key, "paper")) {
        if (!strcasecmp(v, "a4"))
            t->paper = KP_PAPER_A4;
        else if (!strcasecmp(v, "letter"))
            t->paper = KP_PAPER_LETTER;
        else
            return bad(t, line, key, e, "bad value \"%s\": expected a4 or letter", v);
        return KP_OK;
    }
    if (!strcmp(key, "orientation")) {
        if (strcmp(v, "portrait") && strcmp(v, "landscape"))
            return bad(t, line, key, e, "bad value \"%s\": expected portrait or landscape", v);
        t->landscape = !strcmp(v, "landscape");
        return KP_OK;
    }
    if (!strcmp(key, "stream")) {
        if (strcmp(v, "yes") && strcmp(v, "no"))
            return bad(t, line, key, e, "bad value \"%s\": expected yes or no", v);
        t->stream = !strcmp(v, "yes");
        return KP_OK;
    }
    char **f = !strcmp(key, "title")      ? &t->title
               : !strcmp(key, "subtitle") ? &t->subtitle
               : !strcmp(key, "author")   ? &t->author
               : !strcmp(key, "company")  ? &t->company
               : !strcmp(key, "subject")  ? &t->subject
               : !strcmp(key, "keywords") ? &t->keywords
               : !strcmp(key, "footer")   ? &t->footer
                                          : NULL;
    if (!f)
        return bad(t, line, key, e,
                   "unknown key in [document]%s (valid: kind, title, subtitle, author, company, "
                   "subject, keywords, paper, orientation, footer, stream)",
                   "");
    return set(f, v, t, line, e);
}

/* Parse "Label | format | option | option" into a column spec. */
static kp_err parse_col(tctx *c, const char *name, const char *v, long line, kp_error *e)
{
    kp_template *t = c->t;
    kp_tblock *b = c->cur;
    for (size_t i = 0; i < b->ncols; i++)
        if (!strcmp(b->cols[i].name, name))
            return bad(t, line, name, e, "duplicate column%s", "");
    kp_colspec *nc = realloc(b->cols, (b->ncols + 1) * sizeof *nc);
    if (!nc)
        return nomem(t, line, e);
    b->cols = nc;
    kp_colspec *col = &b->cols[b->ncols++];
    memset(col, 0, sizeof *col);
    col->fmt = -1;
    col->line = line;
    if (!(col->name = strdup(name)))
        return nomem(t, line, e);
    char *copy = strdup(v);
    if (!copy)
        return nomem(t, line, e);
    kp_err rc = KP_OK;
    int field = 0;
    for (char *save = NULL, *tok = strtok_r(copy, "|", &save); tok && !rc;
         tok = strtok_r(NULL, "|", &save), field++) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        if (field == 0) {
            if (!(col->label = strdup(tok)))
                rc = nomem(t, line, e);
        } else if (field == 1) {
            if ((col->fmt = kp_format_from_name(tok)) < 0)
                rc = bad(t, line, name, e,
                         "unknown format \"%s\" (text, number, count, currency, percent, date, "
                         "days, ratio)",
                         tok);
        } else if (!strcmp(tok, "sum")) {
            col->total = KP_TOTAL_SUM;
        } else if (!strcmp(tok, "average")) {
            col->total = KP_TOTAL_AVERAGE;
        } else if (!strncmp(tok, "ratio(", 6) && end > tok && end[-1] == ')') {
            end[-1] = '\0';
            char *slash = strchr(tok + 6, '/');
            if (!slash)
                rc = bad(t, line, name, e, "ratio needs ratio(NUMERATOR/DENOMINATOR)%s", "");
            else {
                *slash = '\0';
                free(col->ratio_num); /* a repeated ratio(...) option: the last one counts */
                free(col->ratio_den);
                col->ratio_num = strdup(tok + 6);
                col->ratio_den = strdup(slash + 1);
                col->total = KP_TOTAL_RATIO;
                if (!col->ratio_num || !col->ratio_den)
                    rc = nomem(t, line, e);
            }
        } else if (!strncmp(tok, "payout(", 7) && end > tok + 8 && end[-1] == ')') {
            end[-1] = '\0';
            free(col->payout_of);
            if (!(col->payout_of = strdup(tok + 7)))
                rc = nomem(t, line, e);
        } else if (!strncmp(tok, "rag(", 4)) {
            if (sscanf(tok + 4, "%lf,%lf)", &col->rag_amber, &col->rag_green) != 2 ||
                !(col->rag_amber <= col->rag_green))
                rc = bad(t, line, name, e, "rag needs rag(AMBER,GREEN) with AMBER <= GREEN%s",
                         "");
            col->has_rag = 1;
        } else if (!strncmp(tok, "width(", 6)) {
            if (sscanf(tok + 6, "%d)", &col->width) != 1 || col->width < 1 || col->width > 255)
                rc = bad(t, line, name, e, "width needs width(N) with N 1..255%s", "");
        } else {
            rc = bad(t, line, name, e,
                     "unknown column option \"%s\" (sum, average, ratio(A/B), rag(A,G), "
                     "width(N), payout(ATTAINMENT))",
                     tok);
        }
    }
    free(copy);
    if (!rc && !col->label && !(col->label = strdup(name)))
        rc = nomem(t, line, e);
    return rc;
}

static kp_err block_key(tctx *c, const char *key, const char *v, long line, kp_error *e)
{
    kp_template *t = c->t;
    kp_tblock *b = c->cur;
    switch (b->kind) {
    case KP_BLOCK_SHEET:
        if (!strcmp(key, "title"))
            return set(&b->text, v, t, line, e);
        break;
    case KP_BLOCK_TITLE:
    case KP_BLOCK_TEXT:
        if (!strcmp(key, "text"))
            return set(&b->text, v, t, line, e);
        break;
    case KP_BLOCK_TILES:
    case KP_BLOCK_TABLE:
        if (!strcmp(key, "sql")) {
            b->sql_line = line;
            return set(&b->sql, v, t, line, e);
        }
        if (!strcmp(key, "caption"))
            return set(&b->caption, v, t, line, e);
        if (b->kind == KP_BLOCK_TABLE && !strncmp(key, "col.", 4) && key[4])
            return parse_col(c, key + 4, v, line, e);
        break;
    case KP_BLOCK_CHART:
        if (!strcmp(key, "type")) {
            /* In kp_chart_type order. */
            static const char *const types[] = {"bar",     "column",   "line",      "pie",
                                                "stacked", "forecast", "sparkline", "bullet"};
            for (size_t i = 0; i < sizeof types / sizeof *types; i++)
                if (!strcmp(v, types[i])) {
                    b->chart_type = (kp_chart_type)i;
                    return KP_OK;
                }
            return bad(t, line, key, e,
                       "bad chart type \"%s\": expected bar, column, line, pie, stacked, "
                       "forecast, sparkline or bullet",
                       v);
        }
        if (!strcmp(key, "title"))
            return set(&b->chart_title, v, t, line, e);
        if (!strcmp(key, "data")) {
            b->data_line = line;
            return set(&b->data, v, t, line, e);
        }
        if (!strcmp(key, "category"))
            return set(&b->category, v, t, line, e);
        if (!strcmp(key, "series"))
            return set(&b->series, v, t, line, e);
        break;
    case KP_BLOCK_BREAK:
        break;
    }
    return bad(t, line, key, e, "unknown key in this block%s", "");
}

static kp_err t_key(void *user, const char *section, const char *key, const char *v, long line,
                    int continuation, kp_error *e)
{
    tctx *c = user;
    kp_template *t = c->t;
    (void)section;
    if (continuation && !strcmp(key, c->last_key) && c->cur) {
        if (!strcmp(key, "sql") && c->cur->sql)
            return append(&c->cur->sql, v, "\n", t, line, e);
        if (!strcmp(key, "text") && c->cur->text)
            return append(&c->cur->text, v, c->cur->kind == KP_BLOCK_TEXT ? " " : " ", t, line,
                          e);
        return bad(t, line, key, e, "only sql and text values may continue on indented lines%s",
                   "");
    }
    snprintf(c->last_key, sizeof c->last_key, "%s", key);
    if (c->in_document)
        return doc_key(c, key, v, line, e);
    if (!c->cur)
        return bad(t, line, key, e, "key outside any section (start with [document])%s", "");
    return block_key(c, key, v, line, e);
}

static kp_tblock *find_block(const kp_template *t, const char *name, kp_block_kind kind)
{
    for (size_t i = 0; i < t->nblocks; i++)
        if (t->blocks[i].kind == kind && !strcmp(t->blocks[i].name, name))
            return &t->blocks[i];
    return NULL;
}

/* Number of columns in a chart's series list ("a, b c" is three, as report.c splits it). */
static size_t count_series(const char *s)
{
    size_t n = 0;
    while (*s) {
        s += strspn(s, ", ");
        if (*s)
            n++;
        s += strcspn(s, ", ");
    }
    return n;
}

/* Charts whose series have roles need the right number of them. */
static const char *series_problem(const kp_tblock *b)
{
    size_t n = count_series(b->series);
    if (b->chart_type == KP_CHART_BULLET && (n < 2 || n > 3))
        return "a bullet chart takes series = VALUE, TARGET or VALUE, TARGET, PROJECTED";
    if (b->chart_type == KP_CHART_FORECAST && (n < 2 || n == 3))
        return "a forecast chart takes series = ACTUAL, FORECAST, then optionally LOW, HIGH "
               "(the interval) and reference lines";
    return NULL;
}

static kp_err validate(kp_template *t, kp_error *e)
{
    for (size_t i = 0; i < t->nblocks; i++) {
        kp_tblock *b = &t->blocks[i];
        const char *need = NULL;
        if ((b->kind == KP_BLOCK_TITLE || b->kind == KP_BLOCK_TEXT) && !b->text)
            need = "text";
        else if ((b->kind == KP_BLOCK_TABLE || b->kind == KP_BLOCK_TILES) && !b->sql)
            need = "sql";
        else if (b->kind == KP_BLOCK_CHART && !b->data)
            need = "data";
        else if (b->kind == KP_BLOCK_CHART && !b->category && b->chart_type != KP_CHART_PIE)
            need = "category";
        else if (b->kind == KP_BLOCK_CHART && !b->series)
            need = "series";
        if (need)
            return kp_error_set(e, KP_ERR_CONFIG, t->path, b->line, 0,
                                "block [%s] is missing the required key \"%s\"", b->name, need);
        if (b->kind == KP_BLOCK_CHART) {
            const kp_tblock *d = find_block(t, b->data, KP_BLOCK_TABLE);
            if (!d || d > b)
                return kp_error_set(e, KP_ERR_CONFIG, t->path, b->data_line, 0,
                                    "chart data \"%s\" is not a [table] block above the chart",
                                    b->data);
            const char *bad_series = series_problem(b);
            if (bad_series)
                return kp_error_set(e, KP_ERR_CONFIG, t->path, b->line, 0, "chart [%s]: %s",
                                    b->name, bad_series);
        }
    }
    return KP_OK;
}

kp_err kp_template_load(const char *path, kp_template **out, kp_error *e)
{
    *out = NULL;
    kp_template *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    t->kind = (kp_doc_kind)-1;
    tctx c = {.t = t};
    kp_ini_handler h = {.on_section = t_section, .on_key = t_key};
    kp_err rc = kp_ini_parse(path, &h, &c, e);
    if (!rc && (int)t->kind == -1)
        rc = kp_error_set(e, KP_ERR_CONFIG, path, 0, 0,
                          "[document] must say kind = xlsx or kind = pdf");
    if (!rc && t->stream && t->kind != KP_DOC_XLSX)
        rc = kp_error_set(e, KP_ERR_CONFIG, path, 0, 0,
                          "[document] stream = yes needs kind = xlsx (a PDF cannot stream rows)");
    if (!rc)
        rc = validate(t, e);
    if (rc) {
        kp_template_free(t);
        return rc;
    }
    *out = t;
    return KP_OK;
}

void kp_template_free(kp_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nblocks; i++) {
        kp_tblock *b = &t->blocks[i];
        free(b->name);
        free(b->text);
        free(b->caption);
        free(b->sql);
        for (size_t c = 0; c < b->ncols; c++) {
            free(b->cols[c].name);
            free(b->cols[c].label);
            free(b->cols[c].ratio_num);
            free(b->cols[c].ratio_den);
            free(b->cols[c].payout_of);
        }
        free(b->cols);
        free(b->chart_title);
        free(b->data);
        free(b->category);
        free(b->series);
    }
    free(t->blocks);
    free(t->path);
    free(t->title);
    free(t->subtitle);
    free(t->author);
    free(t->company);
    free(t->subject);
    free(t->keywords);
    free(t->footer);
    free(t);
}
