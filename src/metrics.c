/* The metric layer. Metrics are read from INI ([relation], [metric], [evaluate]); each run
 * makes ONE grouped scan per (relation, time column) into a compact per-bucket aggregate
 * (buckets are months, split where a period boundary falls mid-month; summed in C, with
 * the rows of median metrics read in the same pass; each row's where and value
 * expressions and its bucket evaluated in C from the raw columns where expr.h can do so
 * exactly, else by SQL; in SQL's GROUP BY when min or max need it), rolls it up to
 * every dimension and period (in C where the sums are exact integers, else in SQL; the
 * rows of median metrics are read once and ranked in C), holds the results in C as one
 * wide row per member and period (wres; SQL's results read into it) written with one
 * INSERT each, and inlines derived metrics as SQL over that row and its comparison rows
 * (kpi_wide, read through the `kpi` view). See include/kpipress/metrics.h. */
#include "kpipress/metrics.h"

#include "kpipress/expr.h"
#include "kpipress/ini.h"
#include "kpipress/limits.h"
#include "kpipress/log.h"
#include "kpipress/median.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- vocabulary --------------------------------------------------------------------- */

enum { D_COMPANY, D_REGION, D_TEAM, D_MANAGER, D_REP, D_PRODUCT, D_FC, D_STAGE, ND };
static const char *const dim_names[ND] = {"company", "region", "team", "manager",
                                          "rep", "product", "forecast_category", "stage"};
#define DIM(d) (1u << (d))
#define REP_FAMILY (DIM(D_COMPANY) | DIM(D_REGION) | DIM(D_TEAM) | DIM(D_MANAGER) | DIM(D_REP))
#define ALL_DIMS ((1u << ND) - 1)

enum { G_PERIOD, G_PTD, G_T12M, G_MONTH, G_QUARTER, G_FQ, G_FY, NG };
static const char *const grain_names[NG] = {"period",  "ptd",     "t12m",       "month",
                                            "quarter", "fiscal_quarter", "fiscal_year"};

/* Key columns a relation may declare; region, team and manager come from reps via rep. */
enum { K_REP, K_PRODUCT, K_FC, K_STAGE, NK };
static const char *const key_names[NK] = {"rep", "product", "forecast_category", "stage"};
static const int key_dim[NK] = {D_REP, D_PRODUCT, D_FC, D_STAGE};

static const char *const formats[] = {"currency", "percent", "days", "count", "ratio", "number",
                                      NULL};
static const char *const directions[] = {"higher", "lower", "none", NULL};

typedef struct {
    char *name, *table, *sql, *key[NK], *latest;
    int optional, available;
    int seq; /* a rowid table with an index on its snapshot column: its latest snapshot is
              * read as a rowid range, in table order */
    char *file;
    long line;
} relation;

typedef enum { MK_AGG, MK_DERIVED, MK_ROLLUP } mkind;
typedef enum { A_SUM, A_COUNT, A_MIN, A_MAX, A_AVG, A_MEDIAN, A_DISTINCT } afn;
typedef enum { T_WINDOW, T_BEFORE, T_STOCK } tmode; /* in period / before it / latest data */

typedef struct {
    char *name, *label, *format, *direction, *definition;
    char *from, *where, *time, *value, *expr, *rollup, *over, *accumulate, *unit;
    char *file;
    long line, expr_line;
    /* resolved */
    mkind kind;
    int rel;
    afn fn;
    char *arg;
    tmode tm;
    size_t *deps, ndeps;
    unsigned dims;
    int ok; /* source available */
    char status[160];
} metric;

struct kp_metric_lib {
    metric *m;
    size_t n;
    relation *r;
    size_t nr;
    unsigned dims;   /* dimensions to evaluate */
    unsigned grains; /* grains to evaluate */
    int months;      /* month series shown */
    size_t *order;   /* topological order */
    char *files[8];
    size_t nfiles;
};

/* Whether the C scans may evaluate simple expressions themselves (expr.h); off only in
 * tests, which compare both ways. */
static int c_eval_on = 1;

void kp_metrics_set_c_eval(int on)
{
    c_eval_on = on;
}

/* ---- small helpers ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sb;

static void sb_add(sb *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        int k = b->oom ? 0 : vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (b->oom || k < 0)
            return;
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 64) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void sb_reset(sb *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

static int is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static kp_err nomem(kp_error *e)
{
    return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
}

static void metric_clear(metric *m)
{
    char **f[] = {&m->name,  &m->label, &m->format, &m->direction, &m->definition, &m->from,
                  &m->where, &m->time,  &m->value,  &m->expr,      &m->rollup,     &m->over,
                  &m->accumulate, &m->unit, &m->arg};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
    free(m->deps);
    m->deps = NULL;
    m->ndeps = 0;
}

static void relation_clear(relation *r)
{
    free(r->name);
    free(r->table);
    free(r->sql);
    free(r->latest);
    for (int k = 0; k < NK; k++)
        free(r->key[k]);
    memset(r, 0, sizeof *r);
}

void kp_metrics_free(kp_metric_lib *lib)
{
    if (!lib)
        return;
    for (size_t i = 0; i < lib->n; i++)
        metric_clear(&lib->m[i]);
    for (size_t i = 0; i < lib->nr; i++)
        relation_clear(&lib->r[i]);
    for (size_t i = 0; i < lib->nfiles; i++)
        free(lib->files[i]);
    free(lib->m);
    free(lib->r);
    free(lib->order);
    free(lib);
}

kp_err kp_metrics_new(kp_metric_lib **out, kp_error *e)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return nomem(e);
    (*out)->dims = ALL_DIMS;
    (*out)->grains = (1u << NG) - 1;
    (*out)->months = 24;
    return KP_OK;
}

long kp_metrics_find(const kp_metric_lib *lib, const char *name)
{
    for (size_t i = 0; i < lib->n; i++)
        if (!strcmp(lib->m[i].name, name))
            return (long)i;
    return -1;
}

static long find_relation(const kp_metric_lib *lib, const char *name)
{
    for (size_t i = 0; i < lib->nr; i++)
        if (!strcmp(lib->r[i].name, name))
            return (long)i;
    return -1;
}

/* ---- parsing ------------------------------------------------------------------------ */

typedef enum { S_SKIP, S_EVALUATE, S_RELATION, S_METRIC } psec;

typedef struct {
    kp_metric_lib *lib;
    const char *file;
    int job_mode;
    psec sec;
    metric *m;
    relation *r;
    char last_key[KP_NAME_MAX];
} pctx;

static kp_err cfg_error(pctx *c, long line, const char *key, kp_error *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static kp_err cfg_error(pctx *c, long line, const char *key, kp_error *e, const char *fmt, ...)
{
    char msg[KP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kp_error_set(e, KP_ERR_CONFIG, c->file, line, 0, "%s", msg);
    if (key)
        kp_error_key(e, key);
    return KP_ERR_CONFIG;
}

static kp_err p_section(void *user, const char *section, long line, kp_error *e)
{
    pctx *c = user;
    kp_metric_lib *lib = c->lib;
    c->m = NULL;
    c->r = NULL;
    c->last_key[0] = '\0';
    const char *name = NULL;
    c->sec = S_SKIP;
    if (!strncmp(section, "metric ", 7)) {
        c->sec = S_METRIC;
        name = section + 7;
    } else if (c->job_mode) {
        return KP_OK; /* a job file: job.c owns every other section */
    } else if (!strcmp(section, "evaluate")) {
        c->sec = S_EVALUATE;
        return KP_OK;
    } else if (!strncmp(section, "relation ", 9)) {
        c->sec = S_RELATION;
        name = section + 9;
    } else {
        return cfg_error(c, line, NULL, e,
                         "unknown section [%s] (expected [evaluate], [relation NAME] or "
                         "[metric NAME])",
                         section);
    }
    while (*name == ' ')
        name++;
    if (!is_ident(name) || strlen(name) >= 64)
        return cfg_error(c, line, NULL, e,
                         "name \"%s\" must be a letter or '_' followed by letters, digits "
                         "and '_' (at most 63)",
                         name);
    if (c->sec == S_RELATION) {
        long i = find_relation(lib, name);
        if (i < 0) {
            relation *nr = realloc(lib->r, (lib->nr + 1) * sizeof *nr);
            if (!nr)
                return nomem(e);
            lib->r = nr;
            i = (long)lib->nr++;
        } else {
            relation_clear(&lib->r[i]);
        }
        c->r = &lib->r[i];
        memset(c->r, 0, sizeof *c->r);
        c->r->file = (char *)c->file;
        c->r->line = line;
        c->r->optional = 0;
        if (!(c->r->name = strdup(name)))
            return nomem(e);
        return KP_OK;
    }
    long i = kp_metrics_find(lib, name);
    if (i < 0) {
        if (lib->n >= KP_INI_MAX_SECTIONS)
            return cfg_error(c, line, NULL, e, "more than %d metrics", KP_INI_MAX_SECTIONS);
        metric *nm = realloc(lib->m, (lib->n + 1) * sizeof *nm);
        if (!nm)
            return nomem(e);
        lib->m = nm;
        i = (long)lib->n++;
        memset(&lib->m[i], 0, sizeof lib->m[i]);
    } else {
        metric_clear(&lib->m[i]); /* an override replaces the whole definition */
    }
    c->m = &lib->m[i];
    c->m->file = (char *)c->file;
    c->m->line = line;
    if (!(c->m->name = strdup(name)))
        return nomem(e);
    return KP_OK;
}

static kp_err set_field(pctx *c, char **f, const char *v, long line, const char *key,
                        kp_error *e)
{
    if (*f)
        return cfg_error(c, line, key, e, "duplicate key");
    if (!(*f = strdup(v)))
        return nomem(e);
    return KP_OK;
}

static kp_err parse_list(pctx *c, const char *v, const char *const *names, int n, unsigned *out,
                         long line, const char *key, kp_error *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    *out = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], t))
                found = i;
        if (found < 0)
            return cfg_error(c, line, key, e, "unknown name \"%s\"", t);
        *out |= 1u << found;
    }
    return KP_OK;
}

static kp_err evaluate_key(pctx *c, const char *key, const char *v, long line, kp_error *e)
{
    kp_metric_lib *lib = c->lib;
    if (!strcmp(key, "dimensions"))
        return parse_list(c, v, dim_names, ND, &lib->dims, line, key, e);
    if (!strcmp(key, "grains"))
        return parse_list(c, v, grain_names, NG, &lib->grains, line, key, e);
    if (!strcmp(key, "months")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 120)
            return cfg_error(c, line, key, e, "bad value \"%s\": expected 1 to 120", v);
        lib->months = (int)n;
        return KP_OK;
    }
    return cfg_error(c, line, key, e, "unknown key (valid keys: dimensions, grains, months)");
}

static kp_err relation_key(pctx *c, const char *key, const char *v, long line, kp_error *e)
{
    relation *r = c->r;
    if (!strcmp(key, "table")) {
        if (!is_ident(v))
            return cfg_error(c, line, key, e, "bad table name \"%s\"", v);
        return set_field(c, &r->table, v, line, key, e);
    }
    if (!strcmp(key, "sql"))
        return set_field(c, &r->sql, v, line, key, e);
    if (!strcmp(key, "latest"))
        return set_field(c, &r->latest, v, line, key, e);
    if (!strcmp(key, "optional")) {
        if (strcmp(v, "yes") && strcmp(v, "no"))
            return cfg_error(c, line, key, e, "bad value \"%s\": expected yes or no", v);
        r->optional = !strcmp(v, "yes");
        return KP_OK;
    }
    for (int k = 0; k < NK; k++)
        if (!strcmp(key, key_names[k]))
            return set_field(c, &r->key[k], v, line, key, e);
    return cfg_error(c, line, key, e,
                     "unknown key (valid keys: table, sql, latest, optional, rep, product, "
                     "forecast_category, stage)");
}

static kp_err metric_key(pctx *c, const char *key, const char *v, long line, kp_error *e)
{
    metric *m = c->m;
    struct {
        const char *key;
        char **f;
    } keys[] = {{"label", &m->label},       {"format", &m->format},
                {"direction", &m->direction}, {"definition", &m->definition},
                {"from", &m->from},         {"where", &m->where},
                {"time", &m->time},         {"value", &m->value},
                {"expr", &m->expr},         {"rollup", &m->rollup},
                {"over", &m->over},         {"accumulate", &m->accumulate},
                {"unit", &m->unit}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strcmp(key, keys[i].key)) {
            if (!strcmp(key, "expr") || !strcmp(key, "rollup") || !strcmp(key, "value"))
                m->expr_line = line;
            if (!strcmp(key, "format") && !in_list(formats, v))
                return cfg_error(c, line, key, e,
                                 "bad value \"%s\": expected currency, percent, days, count, "
                                 "ratio or number",
                                 v);
            if (!strcmp(key, "direction") && !in_list(directions, v))
                return cfg_error(c, line, key, e,
                                 "bad value \"%s\": expected higher, lower or none", v);
            if (!strcmp(key, "unit") && strcmp(v, "cents"))
                return cfg_error(c, line, key, e, "bad value \"%s\": expected cents", v);
            if (!strcmp(key, "accumulate") && strcmp(v, "before"))
                return cfg_error(c, line, key, e, "bad value \"%s\": expected before", v);
            if (!strcmp(key, "over") && strcmp(v, "rep"))
                return cfg_error(c, line, key, e, "bad value \"%s\": expected rep", v);
            return set_field(c, keys[i].f, v, line, key, e);
        }
    return cfg_error(c, line, key, e,
                     "unknown key (valid keys: label, format, direction, definition, from, "
                     "where, time, value, unit, accumulate, expr, rollup, over)");
}

static kp_err p_key(void *user, const char *section, const char *key, const char *v, long line,
                    int continuation, kp_error *e)
{
    pctx *c = user;
    (void)section;
    if (c->sec == S_SKIP)
        return KP_OK;
    if (continuation && !strcmp(key, c->last_key)) {
        char **f = NULL;
        if (c->r && !strcmp(key, "sql"))
            f = &c->r->sql;
        if (c->m) {
            if (!strcmp(key, "where"))
                f = &c->m->where;
            else if (!strcmp(key, "value"))
                f = &c->m->value;
            else if (!strcmp(key, "expr"))
                f = &c->m->expr;
            else if (!strcmp(key, "definition"))
                f = &c->m->definition;
        }
        if (!f || !*f)
            return cfg_error(c, line, key, e,
                             "only where, value, expr and definition may continue on "
                             "indented lines");
        size_t n = strlen(*f) + strlen(v) + 2;
        if (n > KP_INI_MAX_VALUE)
            return cfg_error(c, line, key, e, "value longer than %d bytes", KP_INI_MAX_VALUE);
        char *p = realloc(*f, n);
        if (!p)
            return nomem(e);
        strcat(strcat(p, " "), v);
        *f = p;
        return KP_OK;
    }
    snprintf(c->last_key, sizeof c->last_key, "%s", key);
    if (!*v)
        return cfg_error(c, line, key, e, "empty value");
    if (c->sec == S_EVALUATE)
        return evaluate_key(c, key, v, line, e);
    if (c->sec == S_RELATION)
        return relation_key(c, key, v, line, e);
    return metric_key(c, key, v, line, e);
}

kp_err kp_metrics_add_file(kp_metric_lib *lib, const char *path, int job_mode, kp_error *e)
{
    if (lib->nfiles == sizeof lib->files / sizeof *lib->files)
        return kp_error_set(e, KP_ERR_CONFIG, path, 0, 0, "too many metrics files");
    if (!(lib->files[lib->nfiles] = strdup(path)))
        return nomem(e);
    pctx c = {.lib = lib, .file = lib->files[lib->nfiles++], .job_mode = job_mode};
    kp_ini_handler h = {.on_section = p_section, .on_key = p_key};
    return kp_ini_parse(path, &h, &c, e);
}

/* ---- resolution: kinds, references, cycles ----------------------------------------- */

static const char *const sql_words[] = {
    "AND", "OR", "NOT", "NULL", "IS", "CASE", "WHEN", "THEN", "ELSE", "END", "IN", "BETWEEN",
    "CAST", "AS", "REAL", "INTEGER", "TRUE", "FALSE", "LIKE", "ESCAPE", "DISTINCT", NULL};
static const char *const builtins[] = {"period_days", "period_months", NULL};

static int is_sql_word(const char *w, size_t n)
{
    for (size_t i = 0; sql_words[i]; i++)
        if (strlen(sql_words[i]) == n && !strncasecmp(w, sql_words[i], n))
            return 1;
    return 0;
}

/* Translate a metric expression: metric names become `prefix`m<i> columns, built-ins
 * become wide-table columns, everything else (numbers, strings, operators, functions,
 * :parameters) passes through. With deps != NULL, collects the referenced metrics;
 * unknown names are errors. prefix NULL: every reference becomes NULL (syntax check). */
static kp_err translate(const kp_metric_lib *lib, const metric *m, const char *src,
                        const char *prefix, sb *out, size_t **deps, size_t *ndeps, kp_error *e)
{
    const char *p = src;
    while (*p) {
        if (*p == '\'') {
            const char *q = p + 1;
            while (*q && !(*q == '\'' && q[1] != '\''))
                q += *q == '\'' ? 2 : 1;
            if (*q)
                q++;
            sb_add(out, "%.*s", (int)(q - p), p);
            p = q;
        } else if (*p == ':' || *p == '@' || *p == '$') {
            const char *q = p + 1;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            sb_add(out, "%.*s", (int)(q - p), p);
            p = q;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            size_t n = (size_t)(q - p);
            const char *r = q;
            while (*r == ' ' || *r == '\t' || *r == '\n')
                r++;
            char name[KP_NAME_MAX];
            snprintf(name, sizeof name, "%.*s", (int)n, p);
            long idx = n < sizeof name ? kp_metrics_find(lib, name) : -1;
            if (*r == '(' && ((n == 4 && !strncmp(p, "prev", 4)) ||
                              (n == 3 && !strncmp(p, "yoy", 3)))) {
                /* prev(metric) / yoy(metric): its value in the comparison period */
                const char *a = r + 1, *z;
                while (*a == ' ')
                    a++;
                for (z = a; isalnum((unsigned char)*z) || *z == '_'; z++)
                    ;
                char arg[KP_NAME_MAX];
                snprintf(arg, sizeof arg, "%.*s", (int)(z - a), a);
                while (*z == ' ')
                    z++;
                long ai = *z == ')' ? kp_metrics_find(lib, arg) : -1;
                if (ai < 0 || (prefix && deps && *prefix))
                    return kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0,
                                        "[metric %s]: %s() takes one metric name and is "
                                        "allowed in expr only",
                                        m->name, name);
                if (!prefix || (!deps && strcmp(prefix, "w."))) {
                    sb_add(out, "NULL"); /* no comparison of a comparison */
                } else if (!deps) {
                    const metric *t = &lib->m[ai];
                    const char *pp = n == 4 ? "pw." : "yw.";
                    sb_add(out, "(");
                    kp_err rc = t->kind == MK_DERIVED && t->ok
                                    ? translate(lib, t, t->expr, pp, out, NULL, NULL, e)
                                    : KP_OK;
                    if (t->kind != MK_DERIVED && t->ok)
                        sb_add(out, "%sm%ld", pp, ai);
                    else if (!t->ok)
                        sb_add(out, "NULL");
                    if (rc)
                        return rc;
                    sb_add(out, ")");
                }
                if (deps) {
                    size_t *nd = realloc(*deps, (*ndeps + 1) * sizeof *nd);
                    if (!nd)
                        return nomem(e);
                    *deps = nd;
                    nd[(*ndeps)++] = (size_t)ai;
                }
                q = z + 1;
            } else if (*r == '(' || is_sql_word(p, n)) {
                sb_add(out, "%s", name);
            } else if (idx >= 0) {
                const metric *t = &lib->m[idx];
                if (!prefix || (!deps && !t->ok)) {
                    sb_add(out, "NULL");
                } else if (!deps && t->kind == MK_DERIVED) {
                    /* evaluation: a derived metric is inlined as its own expression */
                    sb_add(out, "(");
                    kp_err rc = translate(lib, t, t->expr, prefix, out, NULL, NULL, e);
                    if (rc)
                        return rc;
                    sb_add(out, ")");
                } else {
                    sb_add(out, "%sm%ld", prefix, idx);
                }
                if (deps) {
                    size_t *nd = realloc(*deps, (*ndeps + 1) * sizeof *nd);
                    if (!nd)
                        return nomem(e);
                    *deps = nd;
                    nd[(*ndeps)++] = (size_t)idx;
                }
            } else if (in_list(builtins, name)) {
                if (!prefix)
                    sb_add(out, "1.0");
                else if (!strcmp(name, "period_days"))
                    sb_add(out, "%spdays", prefix);
                else
                    sb_add(out, "(%spdays / 30.436875)", prefix);
            } else {
                return kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0,
                                    "[metric %s]: unknown metric \"%s\"", m->name, name);
            }
            p = q;
        } else {
            sb_add(out, "%c", *p);
            p++;
        }
    }
    return out->oom ? nomem(e) : KP_OK;
}

/* "fn(arg)" with fn one of sum, count, min, max, avg, median. */
static kp_err parse_value(metric *m, kp_error *e)
{
    static const struct {
        const char *name;
        afn fn;
    } fns[] = {{"sum", A_SUM}, {"count", A_COUNT}, {"min", A_MIN},
               {"max", A_MAX}, {"avg", A_AVG},     {"median", A_MEDIAN}};
    const char *v = m->value;
    while (*v == ' ')
        v++;
    size_t n = strcspn(v, "( ");
    const char *open = strchr(v, '(');
    const char *close = strrchr(v, ')');
    int found = -1;
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
        if (strlen(fns[i].name) == n && !strncasecmp(v, fns[i].name, n))
            found = (int)i;
    const char *tail = close ? close + 1 : NULL;
    while (tail && *tail == ' ')
        tail++;
    if (found < 0 || !open || !close || close < open || *tail)
        return kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0,
                            "[metric %s]: value must be sum(...), count(...), min(...), "
                            "max(...), avg(...) or median(...), not \"%s\"",
                            m->name, m->value);
    m->fn = fns[found].fn;
    if (!(m->arg = strndup(open + 1, (size_t)(close - open - 1))))
        return nomem(e);
    if (m->fn == A_COUNT && !strncasecmp(m->arg, "DISTINCT ", 9))
        m->fn = A_DISTINCT;
    return KP_OK;
}

static kp_err resolve_one(kp_metric_lib *lib, metric *m, kp_error *e)
{
    const char *missing = !m->label ? "label" : !m->format ? "format" : !m->definition ? "definition"
                                                                                      : NULL;
    if (missing)
        return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                            "[metric %s] is missing the required key \"%s\"", m->name, missing);
    int kinds = !!m->value + !!m->expr + !!m->rollup;
    if (kinds != 1)
        return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                            "[metric %s] needs exactly one of value (aggregate), expr "
                            "(derived) or rollup",
                            m->name);
    m->tm = T_WINDOW;
    if (m->value) {
        m->kind = MK_AGG;
        if (!m->from)
            return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                                "[metric %s] is an aggregate: add \"from = RELATION\"", m->name);
        long r = find_relation(lib, m->from);
        if (r < 0)
            return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                                "[metric %s]: unknown relation \"%s\"", m->name, m->from);
        m->rel = (int)r;
        kp_err rc = parse_value(m, e);
        if (rc)
            return rc;
        m->tm = !m->time ? T_STOCK : m->accumulate ? T_BEFORE : T_WINDOW;
        if (m->accumulate && !m->time)
            return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                                "[metric %s]: accumulate needs a time column", m->name);
        if (m->fn == A_DISTINCT && m->tm != T_STOCK)
            return kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0,
                                "[metric %s]: count(DISTINCT ...) only without a time column "
                                "(distinct counts do not add up across periods)",
                                m->name);
        m->dims = DIM(D_COMPANY);
        for (int k = 0; k < NK; k++)
            if (lib->r[r].key[k])
                m->dims |= k == K_REP ? REP_FAMILY : DIM(key_dim[k]);
    } else {
        m->kind = m->expr ? MK_DERIVED : MK_ROLLUP;
        if (m->kind == MK_ROLLUP && !m->over)
            return kp_error_set(e, KP_ERR_CONFIG, m->file, m->line, 0,
                                "[metric %s]: rollup needs \"over = rep\"", m->name);
        sb tmp = {0};
        kp_err rc = translate(lib, m, m->expr ? m->expr : m->rollup, "", &tmp, &m->deps,
                              &m->ndeps, e);
        free(tmp.p);
        if (rc)
            return rc;
    }
    return KP_OK;
}

/* Depth-first topological sort; a back edge is a cycle, reported with its path. */
static kp_err visit(kp_metric_lib *lib, size_t i, char *state, size_t *stack, size_t depth,
                    size_t *pos, kp_error *e)
{
    if (state[i] == 2)
        return KP_OK;
    metric *m = &lib->m[i];
    if (state[i] == 1) {
        char path[512] = "";
        size_t o = 0, from = 0;
        for (size_t k = 0; k < depth; k++)
            if (stack[k] == i)
                from = k;
        for (size_t k = from; k < depth && o < sizeof path; k++)
            o += (size_t)snprintf(path + o, sizeof path - o, "%s -> ", lib->m[stack[k]].name);
        snprintf(path + (o < sizeof path ? o : sizeof path - 1),
                 sizeof path - (o < sizeof path ? o : sizeof path - 1), "%s", m->name);
        return kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0,
                            "[metric %s]: cycle between derived metrics: %s", m->name, path);
    }
    state[i] = 1;
    stack[depth] = i;
    for (size_t d = 0; d < m->ndeps; d++) {
        kp_err rc = visit(lib, m->deps[d], state, stack, depth + 1, pos, e);
        if (rc)
            return rc;
    }
    state[i] = 2;
    lib->order[(*pos)++] = i;
    if (m->kind != MK_AGG) {
        unsigned dims = m->kind == MK_ROLLUP ? REP_FAMILY : ALL_DIMS;
        for (size_t d = 0; d < m->ndeps; d++)
            dims &= m->kind == MK_ROLLUP && lib->m[m->deps[d]].dims & DIM(D_REP)
                        ? REP_FAMILY
                        : lib->m[m->deps[d]].dims;
        m->dims = dims;
    }
    return KP_OK;
}

kp_err kp_metrics_resolve(kp_metric_lib *lib, kp_error *e)
{
    for (size_t i = 0; i < lib->nr; i++)
        if (!lib->r[i].table == !lib->r[i].sql)
            return kp_error_set(e, KP_ERR_CONFIG, lib->r[i].file, lib->r[i].line, 0,
                                "[relation %s] needs exactly one of \"table\" or \"sql\"",
                                lib->r[i].name);
    for (size_t i = 0; i < lib->n; i++) {
        metric *m = &lib->m[i];
        free(m->deps);
        m->deps = NULL;
        m->ndeps = 0;
        free(m->arg);
        m->arg = NULL;
        kp_err rc = resolve_one(lib, m, e);
        if (rc)
            return rc;
    }
    free(lib->order);
    char *state = calloc(lib->n + 1, 1);
    size_t *stack = calloc(lib->n + 1, sizeof *stack);
    lib->order = calloc(lib->n + 1, sizeof *lib->order);
    kp_err rc = KP_OK;
    if (!state || !stack || !lib->order)
        rc = nomem(e);
    size_t pos = 0;
    for (size_t i = 0; i < lib->n && !rc; i++)
        rc = visit(lib, i, state, stack, 0, &pos, e);
    free(state);
    free(stack);
    return rc;
}

kp_err kp_metrics_load(const kp_job *job, kp_metric_lib **out, kp_error *e)
{
    kp_metric_lib *lib = NULL;
    char *def = kp_job_find_file(job, "metrics.ini");
    kp_err rc = def ? kp_metrics_new(&lib, e) : nomem(e);
    if (!rc)
        rc = kp_metrics_add_file(lib, def, 0, e);
    if (!rc && job && job->metrics_path)
        rc = kp_metrics_add_file(lib, job->metrics_path, 0, e);
    if (!rc && job)
        rc = kp_metrics_add_file(lib, job->path, 1, e);
    if (!rc)
        rc = kp_metrics_resolve(lib, e);
    free(def);
    if (rc) {
        kp_metrics_free(lib);
        lib = NULL;
    }
    *out = lib;
    return rc;
}

size_t kp_metrics_count(const kp_metric_lib *lib)
{
    return lib->n;
}

kp_metric_info kp_metrics_info(const kp_metric_lib *lib, size_t i)
{
    const metric *m = &lib->m[i];
    kp_metric_info info = {m->name, m->label, m->format,
                           m->direction ? m->direction : "higher", m->definition,
                           m->kind == MK_AGG       ? "aggregate"
                           : m->kind == MK_DERIVED ? "derived"
                                                   : "rollup",
                           m->file, m->line};
    return info;
}

void kp_metrics_print(const kp_metric_lib *lib, FILE *out)
{
    int w = 4, wl = 5;
    for (size_t i = 0; i < lib->n; i++) {
        int n = (int)strlen(lib->m[i].name), l = (int)strlen(lib->m[i].label);
        w = n > w ? n : w;
        wl = l > wl ? l : wl;
    }
    fprintf(out, "%-*s  %-*s  %-8s  %-6s  %s\n", w, "name", wl, "label", "format", "better",
            "definition");
    for (size_t i = 0; i < lib->n; i++) {
        kp_metric_info m = kp_metrics_info(lib, i);
        fprintf(out, "%-*s  %-*s  %-8s  %-6s  %s\n", w, m.name, wl, m.label, m.format,
                m.direction, m.definition);
    }
}

/* ---- SQL fragments ------------------------------------------------------------------ */

/* Aggregate columns a scan computes for metric m (one, or two for avg). */
static void measure_sql(sb *b, const metric *m, size_t i)
{
    const char *w = m->where;
    switch (m->fn) {
    case A_COUNT:
        if (!strcmp(m->arg, "*") && !w)
            sb_add(b, ", count(*) AS c%zu", i);
        else if (!strcmp(m->arg, "*"))
            sb_add(b, ", sum(CASE WHEN (%s) THEN 1 ELSE 0 END) AS c%zu", w, i);
        else
            sb_add(b, ", sum(CASE WHEN (%s) AND (%s) IS NOT NULL THEN 1 ELSE 0 END) AS c%zu",
                   w ? w : "1", m->arg, i);
        break;
    case A_AVG:
        sb_add(b, ", sum(CASE WHEN (%s) THEN (%s) END) AS c%zu", w ? w : "1", m->arg, i);
        sb_add(b, ", sum(CASE WHEN (%s) AND (%s) IS NOT NULL THEN 1 ELSE 0 END) AS n%zu",
               w ? w : "1", m->arg, i);
        break;
    default: {
        const char *f = m->fn == A_MIN ? "min" : m->fn == A_MAX ? "max" : "sum";
        if (w)
            sb_add(b, ", %s(CASE WHEN (%s) THEN (%s) END) AS c%zu", f, w, m->arg, i);
        else
            sb_add(b, ", %s(%s) AS c%zu", f, m->arg, i);
    }
    }
}

/* How a rollup combines the per-bucket column(s) of metric m. */
static void combine_sql(sb *b, const metric *m, size_t i)
{
    const char *scale = m->unit ? " / 100.0" : "";
    switch (m->fn) {
    case A_MIN: sb_add(b, "min(s.c%zu)%s", i, scale); break;
    case A_MAX: sb_add(b, "max(s.c%zu)%s", i, scale); break;
    case A_AVG: sb_add(b, "sum(s.c%zu) * 1.0 / sum(s.n%zu)%s", i, i, scale); break;
    default: sb_add(b, "sum(s.c%zu)%s", i, scale); break;
    }
}

/* Member of dimension d for a scan row with keys s.k0..; r is the rep's reps row. */
static void member_sql(sb *b, int d)
{
    switch (d) {
    case D_COMPANY: sb_add(b, "'All'"); break;
    case D_REGION: sb_add(b, "coalesce(r.region, '(none)')"); break;
    case D_TEAM: sb_add(b, "coalesce(r.team, '(none)')"); break;
    case D_MANAGER: sb_add(b, "coalesce(r.manager_id, '(none)')"); break;
    case D_REP: sb_add(b, "coalesce(s.k%d, '(none)')", K_REP); break;
    case D_PRODUCT: sb_add(b, "coalesce(s.k%d, '(none)')", K_PRODUCT); break;
    case D_FC: sb_add(b, "coalesce(s.k%d, '(none)')", K_FC); break;
    default: sb_add(b, "coalesce(s.k%d, '(none)')", K_STAGE); break;
    }
}

/* The relation's rows: its table, restricted to its latest snapshot as of the run (not
 * the latest in the database: re-running last March after April was loaded must report
 * on March's snapshot) when it has snapshots. */
static void from_sql(sb *b, const relation *r)
{
    if (r->sql)
        sb_add(b, " FROM (%s) AS src", r->sql);
    else
        sb_add(b, " FROM %s", r->table);
    if (r->latest && r->table && !strcasecmp(r->table, "opportunity_snapshots") &&
        !strcasecmp(r->latest, "as_of")) {
        /* The load's catalogue (snapshots) knows the snapshot and its rowid range: read in
         * table order, no index and no scan to find it. Rows that a load did not put
         * there (an empty catalogue) are found by max() and read whole. */
        static const char snap[] = "(SELECT %s FROM snapshots WHERE as_of <= :as_of"
                                   " ORDER BY as_of DESC LIMIT 1)";
        sb_add(b, " WHERE +as_of = coalesce(");
        sb_add(b, snap, "as_of");
        sb_add(b, ", (SELECT max(as_of) FROM %s WHERE as_of <= :as_of)) AND rowid BETWEEN"
                  " coalesce(", r->table);
        sb_add(b, snap, "first_rowid");
        sb_add(b, ", -9223372036854775807 - 1) AND coalesce(");
        sb_add(b, snap, "last_rowid");
        sb_add(b, ", 9223372036854775807)");
    } else if (r->latest && r->table && r->seq) {
        /* Through an index on the snapshot column the rows come in index order, one
         * random page read each once the table outgrows the cache (minutes at a million
         * rows); a snapshot is loaded in one piece, so its rowids form a range that is
         * read in table order instead. */
        sb snap = {0};
        sb_add(&snap, "%s = (SELECT max(%s) FROM %s WHERE %s <= :as_of)", r->latest,
               r->latest, r->table, r->latest);
        if (snap.oom)
            b->oom = 1;
        else
            sb_add(b, " WHERE +%s AND rowid BETWEEN (SELECT min(rowid) FROM %s WHERE %s) AND"
                      " (SELECT max(rowid) FROM %s WHERE %s)",
                   snap.p, r->table, snap.p, r->table, snap.p);
        free(snap.p);
    } else if (r->latest && r->table) {
        sb_add(b, " WHERE %s = (SELECT max(%s) FROM %s WHERE %s <= :as_of)", r->latest,
               r->latest, r->table, r->latest);
    } else if (r->latest) {
        sb_add(b, " WHERE %s = (SELECT max(%s) FROM (%s) WHERE %s <= :as_of)", r->latest,
               r->latest, r->sql, r->latest);
    } else {
        sb_add(b, " WHERE 1");
    }
}

/* ---- check --------------------------------------------------------------------------- */

static kp_err prepare_only(kp_store *s, const char *sql, const metric *m, long line, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s, sql, m->file, line, &st, e);
    kp_stmt_finalize(st);
    if (rc && e) {
        char msg[KP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "[metric %.60s]: %.900s", m->name, e->msg);
        snprintf(e->msg, sizeof e->msg, "%s", msg);
        snprintf(e->file, sizeof e->file, "%s", m->file);
        e->line = line;
        e->code = KP_ERR_CONFIG;
    }
    return rc;
}

kp_err kp_metrics_check(const kp_metric_lib *lib, kp_store *s, kp_error *e)
{
    sb b = {0};
    kp_err rc = KP_OK;
    kp_store_set_readonly(s, 1);
    for (size_t i = 0; i < lib->n && !rc; i++) {
        const metric *m = &lib->m[i];
        sb_reset(&b);
        if (m->kind == MK_AGG) {
            const relation *r = &lib->r[m->rel];
            sb_add(&b, "SELECT (%s)",
                   m->fn == A_DISTINCT ? m->arg + 9 : strcmp(m->arg, "*") ? m->arg : "1");
            if (m->where)
                sb_add(&b, ", (%s)", m->where);
            if (m->time)
                sb_add(&b, ", (%s)", m->time);
            for (int k = 0; k < NK; k++)
                if (r->key[k])
                    sb_add(&b, ", (%s)", r->key[k]);
            from_sql(&b, r);
        } else {
            sb_add(&b, "SELECT ");
            rc = translate(lib, m, m->expr ? m->expr : m->rollup, NULL, &b, NULL, NULL, e);
        }
        if (!rc)
            rc = b.oom ? nomem(e) : prepare_only(s, b.p, m, m->expr_line ? m->expr_line : m->line, e);
    }
    kp_store_set_readonly(s, 0);
    free(b.p);
    return rc;
}

/* ---- schema -------------------------------------------------------------------------- */

/* Until the first run, kpi is an empty view with its final columns, so template SQL can
 * be prepared against it. The optional source tables are the loader's (load.c creates
 * them first, same columns); they are created here too so that the metric layer stands
 * on its own in tests and `check`. */
#define KPI_EMPTY                                                                          \
    "SELECT NULL AS metric, dimension, member, grain, period_start, period_end,"            \
    " NULL AS value, NULL AS prev_value, NULL AS yoy_value, NULL AS change,"               \
    " NULL AS pct_change, NULL AS yoy_change, NULL AS yoy_pct_change FROM kpi_wide WHERE 0"
static const char empty_kpi_view[] = KPI_EMPTY;

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kpi_wide(dimension TEXT, member TEXT, grain TEXT,"
    " period_start TEXT, period_end TEXT);"
    "CREATE VIEW IF NOT EXISTS kpi AS " KPI_EMPTY ";"
    "CREATE TABLE IF NOT EXISTS kpi_period("
    " grain TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " label TEXT NOT NULL, role TEXT NOT NULL, prev_start TEXT, yoy_start TEXT,"
    " PRIMARY KEY(grain, period_start)) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_metric("
    " name TEXT PRIMARY KEY, ord INTEGER NOT NULL, label TEXT NOT NULL, format TEXT NOT NULL,"
    " direction TEXT NOT NULL, kind TEXT NOT NULL, definition TEXT NOT NULL, source TEXT,"
    " status TEXT NOT NULL) STRICT;"
    "CREATE VIEW IF NOT EXISTS kpi_report AS"
    " SELECT k.metric, m.label, m.format, m.direction, k.dimension, k.member, k.value,"
    " k.prev_value, k.yoy_value, k.change, k.pct_change, k.yoy_change, k.yoy_pct_change,"
    " k.period_start, k.period_end, m.status, m.ord"
    " FROM kpi k JOIN kpi_metric m ON m.name = k.metric"
    " JOIN kpi_period p ON p.grain = k.grain AND p.period_start = k.period_start"
    " WHERE k.grain = 'period' AND p.role = 'current';"
    "CREATE TABLE IF NOT EXISTS kpi_rep("
    " period TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " rep_id TEXT NOT NULL, quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " deals_won INTEGER NOT NULL, deals_lost INTEGER NOT NULL,"
    " won_value_cents INTEGER NOT NULL, lost_value_cents INTEGER NOT NULL,"
    " open_count INTEGER NOT NULL, open_pipeline_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL, win_rate REAL, win_rate_value REAL, avg_deal_size REAL,"
    " attainment REAL, open_pipeline REAL, PRIMARY KEY(period, rep_id)) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_company("
    " period TEXT PRIMARY KEY, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " deals_won INTEGER NOT NULL, deals_lost INTEGER NOT NULL,"
    " won_value_cents INTEGER NOT NULL, lost_value_cents INTEGER NOT NULL,"
    " open_count INTEGER NOT NULL, open_pipeline_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL, win_rate REAL, win_rate_value REAL, avg_deal_size REAL,"
    " attainment REAL, open_pipeline REAL) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_rep_month("
    " month TEXT NOT NULL, rep_id TEXT NOT NULL, quota_cents INTEGER NOT NULL,"
    " bookings_cents INTEGER NOT NULL, quota REAL, bookings REAL,"
    " PRIMARY KEY(month, rep_id)) STRICT;"
    "CREATE TABLE IF NOT EXISTS kpi_company_month("
    " month TEXT PRIMARY KEY, quota_cents INTEGER NOT NULL, bookings_cents INTEGER NOT NULL,"
    " quota REAL, bookings REAL) STRICT;";

kp_err kp_metrics_schema(kp_store *s, kp_error *e)
{
    return kp_store_exec(s, schema_sql, e);
}

/* ---- periods and buckets ------------------------------------------------------------ */

typedef struct {
    int grain;
    kp_date start, end, prev, yoy; /* prev/yoy: start of the comparison period, 0 = none */
    const char *role;
    char label[64];
} period;

typedef struct {
    period *p;
    size_t n;
    int oom;
} periods;

static void add_period(periods *ps, int g, kp_date s, kp_date en, kp_date prev, kp_date yoy,
                       const char *role, const char *label)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i].grain == g && ps->p[i].start == s)
            return; /* e.g. a fiscal year's previous period is also its year-ago period */
    period *np = realloc(ps->p, (ps->n + 1) * sizeof *np);
    if (!np) {
        ps->oom = 1;
        return;
    }
    ps->p = np;
    period *p = &ps->p[ps->n++];
    *p = (period){g, s, en, prev, yoy, role, ""};
    snprintf(p->label, sizeof p->label, "%s", label);
}

/* The same day a year earlier (29 February becomes 28 February). */
static kp_date minus_year(kp_date d)
{
    int y, m, dd;
    kp_date_to_ymd(d, &y, &m, &dd);
    int dim = kp_date_days_in_month(y - 1, m);
    return kp_date_from_ymd(y - 1, m, dd > dim ? dim : dd);
}

static void range_label(kp_date s, kp_date en, char *buf, size_t size)
{
    char a[KP_DATE_ISO_LEN + 1], b[KP_DATE_ISO_LEN + 1];
    snprintf(buf, size, "%s to %s", kp_date_format_iso(s, a), kp_date_format_iso(en, b));
}

/* n calendar periods of `months` months each, the newest starting at first, shown ones
 * first; `extra` older ones are computed only as comparisons. */
static void add_series(periods *ps, int g, kp_date first, int months, int shown, int extra,
                       int fy_start)
{
    for (int k = 0; k < shown + extra; k++) {
        kp_date s = kp_date_month_start(first, -months * k);
        kp_date en = kp_date_month_start(s, months) - 1;
        int y, m;
        kp_date_to_ymd(s, &y, &m, NULL);
        char label[64];
        int fy_year = (m >= fy_start ? y : y - 1) + (fy_start == 1 ? 0 : 1);
        if (g == G_MONTH)
            snprintf(label, sizeof label, "%04d-%02d", y, m);
        else if (g == G_QUARTER)
            snprintf(label, sizeof label, "%04d-Q%d", y, (m - 1) / 3 + 1);
        else if (g == G_FQ)
            snprintf(label, sizeof label, "FY%04d-Q%d", fy_year, (m - fy_start + 12) % 12 / 3 + 1);
        else
            snprintf(label, sizeof label, "FY%04d", fy_year);
        add_period(ps, g, s, en, kp_date_month_start(s, -months), kp_date_month_start(s, -12),
                   k == 0 ? "current" : k < shown ? "series" : "compare", label);
    }
}

static void build_periods(const kp_metric_lib *lib, const kp_job *job, periods *ps)
{
    const kp_period *P = &job->period;
    char label[64];
    int y, m;
    kp_date_to_ymd(P->end, &y, &m, NULL);
    int fy = job->fiscal_year_start;
    if (lib->grains & (1u << G_PERIOD)) {
        add_period(ps, G_PERIOD, P->start, P->end, P->prev_start, P->yoy_start, "current",
                   P->label);
        range_label(P->prev_start, P->prev_end, label, sizeof label);
        add_period(ps, G_PERIOD, P->prev_start, P->prev_end, 0, 0, "previous", label);
        range_label(P->yoy_start, P->yoy_end, label, sizeof label);
        add_period(ps, G_PERIOD, P->yoy_start, P->yoy_end, 0, 0, "yoy", label);
    }
    if (lib->grains & (1u << G_PTD)) {
        kp_date end = job->as_of < P->end ? job->as_of : P->end;
        kp_date n = end < P->start ? 0 : end - P->start;
        kp_date pe = P->prev_start + n < P->prev_end ? P->prev_start + n : P->prev_end;
        kp_date ye = P->yoy_start + n < P->yoy_end ? P->yoy_start + n : P->yoy_end;
        range_label(P->start, P->start + n, label, sizeof label);
        add_period(ps, G_PTD, P->start, P->start + n, P->prev_start, P->yoy_start, "current",
                   label);
        range_label(P->prev_start, pe, label, sizeof label);
        add_period(ps, G_PTD, P->prev_start, pe, 0, 0, "previous", label);
        range_label(P->yoy_start, ye, label, sizeof label);
        add_period(ps, G_PTD, P->yoy_start, ye, 0, 0, "yoy", label);
    }
    if (lib->grains & (1u << G_T12M)) {
        kp_date s = minus_year(P->end + 1), ps0 = minus_year(s);
        range_label(s, P->end, label, sizeof label);
        add_period(ps, G_T12M, s, P->end, ps0, ps0, "current", label);
        range_label(ps0, s - 1, label, sizeof label);
        add_period(ps, G_T12M, ps0, s - 1, 0, 0, "previous", label);
    }
    if (lib->grains & (1u << G_MONTH))
        add_series(ps, G_MONTH, kp_date_month_start(P->end, 0), 1, lib->months, 12, fy);
    if (lib->grains & (1u << G_QUARTER))
        add_series(ps, G_QUARTER, kp_date_month_start(P->end, -((m - 1) % 3)), 3, 8, 4, fy);
    if (lib->grains & (1u << G_FQ))
        add_series(ps, G_FQ, kp_date_month_start(P->end, -((m - fy + 12) % 3)), 3, 8, 4, fy);
    if (lib->grains & (1u << G_FY))
        add_series(ps, G_FY, kp_date_month_start(P->end, -((m - fy + 12) % 12)), 12, 3, 1, fy);
}

static int cmp_date(const void *a, const void *b)
{
    kp_date x = *(const kp_date *)a, y = *(const kp_date *)b;
    return (x > y) - (x < y);
}

/* Buckets: every month start in [lo, hi) plus the mid-month period boundaries. Each
 * bucket lies inside every period that contains its first day. */
typedef struct {
    kp_date *b, *extra;
    size_t nb, nextra;
    kp_date lo, hi;
} buckets;

static int build_buckets(const periods *ps, buckets *bk)
{
    memset(bk, 0, sizeof *bk);
    if (!ps->n)
        return 0;
    bk->lo = ps->p[0].start;
    bk->hi = ps->p[0].end + 1;
    for (size_t i = 0; i < ps->n; i++) {
        bk->lo = ps->p[i].start < bk->lo ? ps->p[i].start : bk->lo;
        bk->hi = ps->p[i].end + 1 > bk->hi ? ps->p[i].end + 1 : bk->hi;
    }
    size_t cap = 2 * ps->n + 2;
    for (kp_date d = kp_date_month_start(bk->lo, 0); d < bk->hi; d = kp_date_month_start(d, 1))
        cap++;
    bk->b = malloc(cap * sizeof *bk->b);
    bk->extra = malloc(cap * sizeof *bk->extra);
    if (!bk->b || !bk->extra)
        return -1;
    for (kp_date d = kp_date_month_start(bk->lo, 0); d < bk->hi; d = kp_date_month_start(d, 1))
        if (d >= bk->lo)
            bk->b[bk->nb++] = d;
    for (size_t i = 0; i < ps->n; i++) {
        kp_date cuts[2] = {ps->p[i].start, ps->p[i].end + 1};
        for (int k = 0; k < 2; k++) {
            if (cuts[k] >= bk->hi || cuts[k] == kp_date_month_start(cuts[k], 0))
                continue;
            bk->b[bk->nb++] = cuts[k];
            bk->extra[bk->nextra++] = cuts[k];
        }
    }
    qsort(bk->b, bk->nb, sizeof *bk->b, cmp_date);
    qsort(bk->extra, bk->nextra, sizeof *bk->extra, cmp_date);
    size_t o = 0;
    for (size_t i = 0; i < bk->nb; i++)
        if (!o || bk->b[o - 1] != bk->b[i])
            bk->b[o++] = bk->b[i];
    bk->nb = o;
    o = 0;
    for (size_t i = 0; i < bk->nextra; i++)
        if (!o || bk->extra[o - 1] != bk->extra[i])
            bk->extra[o++] = bk->extra[i];
    bk->nextra = o;
    return 0;
}

/* Bucket of the date expression col: NULL after the last period, '0000-00-00' before the
 * first, else the latest bucket start on or before it. */
static void bucket_sql(sb *b, const buckets *bk, const char *col)
{
    char d[KP_DATE_ISO_LEN + 1], d2[KP_DATE_ISO_LEN + 1];
    sb_add(b, "CASE WHEN (%s) IS NULL OR (%s) >= '%s' THEN NULL", col, col,
           kp_date_format_iso(bk->hi, d));
    sb_add(b, " WHEN (%s) < '%s' THEN '0000-00-00'", col, kp_date_format_iso(bk->lo, d));
    for (size_t i = bk->nextra; i-- > 0;)
        sb_add(b, " WHEN (%s) >= '%s' AND (%s) < '%s' THEN '%s'", col,
               kp_date_format_iso(bk->extra[i], d), col,
               kp_date_format_iso(kp_date_month_start(bk->extra[i], 1), d2), d);
    sb_add(b, " ELSE substr(%s, 1, 7) || '-01' END", col);
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct {
    const kp_metric_lib *lib;
    const kp_job *job;
    kp_store *s;
    kp_vars vars;
    periods ps;
    buckets bk;
    sb sql;
    int *res_of; /* result table kp_r<N> holding each aggregate metric, -1 none, RES_WIDE
                  * in w */
    int nres;
    struct wres *w; /* the wide rows in C */
    /* the opportunities' first dates (data_range), 0 = not needed or unknown: of either
     * column, of each */
    kp_date data_first, first_created, first_close;
} ectx;

#define RES_WIDE INT_MAX

/* Run the statement in c->sql (bound from the job's values); error lines point at the
 * metric when one is given. */
static kp_err run_sql(ectx *c, const metric *m, kp_error *e)
{
    if (c->sql.oom)
        return nomem(e);
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s, c->sql.p, m ? m->file : NULL, m ? m->expr_line : 0, &st,
                                 e);
    if (!rc)
        rc = kp_stmt_bind_vars(st, &c->vars, e);
    if (!rc && kp_stmt_step(st, e) < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    if (rc && m && e && e->code != KP_ERR_NOMEM) {
        char msg[KP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "[metric %.60s]: %.900s", m->name, e->msg);
        kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0, "%s", msg);
    }
    return rc;
}

static kp_err exec_sql(ectx *c, const char *sql, kp_error *e)
{
    return kp_store_exec(c->s, sql, e);
}

static void dims_in(sb *b, unsigned dims)
{
    sb_add(b, "(");
    int first = 1;
    for (int d = 0; d < ND; d++)
        if (dims & DIM(d)) {
            sb_add(b, "%s'%s'", first ? "" : ", ", dim_names[d]);
            first = 0;
        }
    if (first)
        sb_add(b, "NULL");
    sb_add(b, ")");
}

/* Whether bucket k counts in period p for time mode tm: the bucket lies in the period
 * (window), or before its start (accumulate = before); a stock counts in every period.
 * k == nb is '0000-00-00', everything before the first period: it precedes them all. */
static int bucket_maps(const buckets *bk, size_t k, const period *p, tmode tm)
{
    if (tm == T_STOCK)
        return 1;
    if (k >= bk->nb) /* nb + 1: rows in no bucket (rollups in C) */
        return k == bk->nb && tm == T_BEFORE;
    if (tm == T_BEFORE)
        return bk->b[k] < p->start;
    return bk->b[k] >= p->start && bk->b[k] <= p->end;
}

static kp_err write_periods(ectx *c, kp_error *e)
{
    kp_err rc = exec_sql(c,
                         "DELETE FROM kpi_period;"
                         "CREATE TEMP TABLE kp_bmap(bucket TEXT, grain TEXT, period_start TEXT);"
                         "CREATE TEMP TABLE kp_bmap_before(bucket TEXT, grain TEXT,"
                         " period_start TEXT)",
                         e);
    kp_stmt *ins = NULL, *map = NULL, *before = NULL;
    if (!rc)
        rc = kp_store_prepare(c->s, "INSERT INTO kpi_period VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                              NULL, 0, &ins, e);
    if (!rc)
        rc = kp_store_prepare(c->s, "INSERT INTO kp_bmap VALUES(?1, ?2, ?3)", NULL, 0, &map, e);
    if (!rc)
        rc = kp_store_prepare(c->s, "INSERT INTO kp_bmap_before VALUES(?1, ?2, ?3)", NULL, 0,
                              &before, e);
    char d[5][KP_DATE_ISO_LEN + 1];
    for (size_t i = 0; i < c->ps.n && !rc; i++) {
        const period *p = &c->ps.p[i];
        const char *g = grain_names[p->grain];
        kp_date_format_iso(p->start, d[0]);
        kp_date_format_iso(p->end, d[1]);
        kp_stmt_bind_text(ins, 1, g, strlen(g));
        kp_stmt_bind_text(ins, 2, d[0], KP_DATE_ISO_LEN);
        kp_stmt_bind_text(ins, 3, d[1], KP_DATE_ISO_LEN);
        kp_stmt_bind_text(ins, 4, p->label, strlen(p->label));
        kp_stmt_bind_text(ins, 5, p->role, strlen(p->role));
        if (p->prev)
            kp_stmt_bind_text(ins, 6, kp_date_format_iso(p->prev, d[2]), KP_DATE_ISO_LEN);
        if (p->yoy)
            kp_stmt_bind_text(ins, 7, kp_date_format_iso(p->yoy, d[3]), KP_DATE_ISO_LEN);
        if (kp_stmt_step(ins, e) < 0)
            rc = e ? e->code : KP_ERR_IO;
        kp_stmt_reset(ins);
        for (size_t k = 0; k <= c->bk.nb && !rc; k++) {
            int in = bucket_maps(&c->bk, k, p, T_WINDOW);
            if (!in && !bucket_maps(&c->bk, k, p, T_BEFORE))
                continue;
            kp_stmt *st = in ? map : before;
            if (k < c->bk.nb)
                kp_stmt_bind_text(st, 1, kp_date_format_iso(c->bk.b[k], d[4]), KP_DATE_ISO_LEN);
            else
                kp_stmt_bind_text(st, 1, "0000-00-00", 10);
            kp_stmt_bind_text(st, 2, g, strlen(g));
            kp_stmt_bind_text(st, 3, d[0], KP_DATE_ISO_LEN);
            if (kp_stmt_step(st, e) < 0)
                rc = e ? e->code : KP_ERR_IO;
            kp_stmt_reset(st);
        }
    }
    kp_stmt_finalize(ins);
    kp_stmt_finalize(map);
    kp_stmt_finalize(before);
    if (!rc)
        rc = kp_store_exec(c->s, "CREATE INDEX kp_bmap_b ON kp_bmap(bucket);", e);
    return rc;
}

/* Which key columns a scan of r groups by: those the requested dimensions need. */
static unsigned scan_keys(const kp_metric_lib *lib, const relation *r)
{
    unsigned keys = 0;
    for (int k = 0; k < NK; k++) {
        unsigned need = k == K_REP ? REP_FAMILY & ~DIM(D_COMPANY) : DIM(key_dim[k]);
        if (r->key[k] && (lib->dims & need))
            keys |= 1u << k;
    }
    return keys;
}

static int dim_supported(const kp_metric_lib *lib, unsigned keys, int d)
{
    if (!(lib->dims & DIM(d)))
        return 0;
    if (d == D_COMPANY)
        return 1;
    if (REP_FAMILY & DIM(d))
        return (keys >> K_REP) & 1;
    for (int k = 0; k < NK; k++)
        if (key_dim[k] == d)
            return (keys >> k) & 1;
    return 0;
}

/* SELECT b, k0.. FROM the relation: the head of every scan. */
static void scan_head(ectx *c, const relation *r, unsigned keys, const char *time)
{
    sb *b = &c->sql;
    sb_add(b, "SELECT ");
    if (time)
        bucket_sql(b, &c->bk, time);
    else
        sb_add(b, "NULL");
    sb_add(b, " AS b");
    for (int k = 0; k < NK; k++)
        if ((keys >> k) & 1)
            sb_add(b, ", (%s) AS k%d", r->key[k], k);
}

static void join_reps(sb *b, unsigned keys)
{
    if ((keys >> K_REP) & 1)
        sb_add(b, " LEFT JOIN reps r ON r.rep_id = s.k%d", K_REP);
}

/* A new result table kp_r<N> for metrics idx[0..n) that SQL computes: one row per
 * dimension member and period, one column per metric. Later read into the wide rows
 * (wide_absorb). */
static kp_err new_result(ectx *c, const size_t *idx, size_t n, kp_error *e)
{
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b, "CREATE TEMP TABLE kp_r%d(dimension TEXT, member TEXT, grain TEXT,"
              " period_start TEXT", c->nres);
    for (size_t i = 0; i < n; i++) {
        sb_add(b, ", m%zu REAL", idx[i]);
        c->res_of[idx[i]] = c->nres;
    }
    /* one row per key (members are never NULL: member_sql); REAL columns, whose values
     * the wide rows keep as they read back */
    sb_add(b, ", PRIMARY KEY(dimension, member, grain, period_start)) WITHOUT ROWID");
    c->nres++;
    return run_sql(c, NULL, e);
}

/* The rollup of kp_scan to the members of dimension d, for metrics idx[0..n) of one time
 * mode: SELECT member[, grain, period_start], v<i>... Per bucket sums become per period
 * sums through the bucket map; a stock's value is per member, the same in every period. */
static void rollup_select(sb *b, const kp_metric_lib *lib, unsigned keys, int d, const size_t *idx,
                          size_t n, tmode tm)
{
    /* first to (member, bucket): few rows; then through the bucket map to periods */
    sb_add(b, "SELECT s.member%s", tm == T_STOCK ? "" : ", m.grain, m.period_start");
    for (size_t i = 0; i < n; i++) {
        sb_add(b, ", ");
        combine_sql(b, &lib->m[idx[i]], idx[i]);
        sb_add(b, " AS v%zu", idx[i]);
    }
    sb_add(b, " FROM (SELECT ");
    member_sql(b, d);
    sb_add(b, " AS member, s.b");
    for (size_t i = 0; i < n; i++) {
        const metric *m = &lib->m[idx[i]];
        const char *f = m->fn == A_MIN ? "min" : m->fn == A_MAX ? "max" : "sum";
        sb_add(b, ", %s(s.c%zu) AS c%zu", f, idx[i], idx[i]);
        if (m->fn == A_AVG)
            sb_add(b, ", sum(s.n%zu) AS n%zu", idx[i], idx[i]);
    }
    sb_add(b, " FROM kp_scan s");
    join_reps(b, keys);
    sb_add(b, " GROUP BY 1, 2) s");
    if (tm != T_STOCK)
        sb_add(b, " JOIN %s m ON m.bucket = s.b", tm == T_BEFORE ? "kp_bmap_before" : "kp_bmap");
    sb_add(b, " GROUP BY 1%s", tm == T_STOCK ? "" : ", 2, 3");
}

/* Roll the scan table kp_scan up into a result table for metrics idx[0..n) of one time
 * mode, in SQL. */
static kp_err rollup_scan(ectx *c, unsigned keys, const size_t *idx, size_t n, tmode tm,
                          kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    kp_err rc = n ? new_result(c, idx, n, e) : KP_OK;
    for (int d = 0; d < ND && !rc && n; d++) {
        if (!dim_supported(lib, keys, d))
            continue;
        sb *b = &c->sql;
        sb_reset(b);
        sb_add(b, "INSERT INTO kp_r%d SELECT '%s', x.member, p.grain, p.period_start", c->nres - 1,
               dim_names[d]);
        for (size_t i = 0; i < n; i++)
            sb_add(b, ", x.v%zu", idx[i]);
        sb_add(b, " FROM (");
        rollup_select(b, lib, keys, d, idx, n, tm);
        sb_add(b, ") x");
        if (tm == T_STOCK)
            sb_add(b, " CROSS JOIN kpi_period p");
        else
            sb_add(b, " JOIN kpi_period p ON p.grain = x.grain AND p.period_start ="
                      " x.period_start");
        rc = run_sql(c, &lib->m[idx[0]], e);
    }
    return rc;
}

static kp_err rollup_scan_all(ectx *c, unsigned keys, size_t *const by[3], const size_t n[3],
                              kp_error *e);

/* One grouped scan of relation r for the decomposable metrics on time column `time`
 * (NULL: stock metrics only); stock metrics of r ride along on its first scan. */
static kp_err cscan_relation(ectx *c, size_t r, const char *time, unsigned keys,
                             size_t *const by[3], const size_t n[3], int windowed_only, int ceval,
                             int *done, int *bailed, kp_error *e);
static void scan_sql(ectx *c, const relation *rel, unsigned keys, const char *time,
                     size_t *const by[3], const size_t n[3], int windowed_only);

static kp_err scan_relation(ectx *c, size_t r, const char *time, int with_stock, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const relation *rel = &lib->r[r];
    unsigned keys = scan_keys(lib, rel);
    size_t *idx = malloc((lib->n + 1) * sizeof *idx), n[3] = {0, 0, 0};
    size_t *by[3] = {NULL, NULL, NULL};
    if (!idx)
        return nomem(e);
    by[0] = idx;
    int windowed_only = time != NULL;
    /* Order idx as window, before, stock so each mode is one contiguous run. */
    for (int pass = 0; pass < 3; pass++) {
        by[pass] = idx + (pass > 0 ? n[0] : 0) + (pass > 1 ? n[1] : 0);
        for (size_t i = 0; i < lib->n; i++) {
            const metric *m = &lib->m[i];
            if (m->kind != MK_AGG || (size_t)m->rel != r || !m->ok || m->fn == A_MEDIAN ||
                m->fn == A_DISTINCT || (int)m->tm != pass)
                continue;
            if (pass == 2 ? !with_stock : strcmp(m->time, time ? time : ""))
                continue;
            if (pass > 0)
                windowed_only = 0;
            by[pass][n[pass]++] = i;
        }
    }
    kp_err rc = KP_OK;
    int done = 0;
    int bailed = 0;
    if (n[0] + n[1] + n[2])
        rc = cscan_relation(c, r, time, keys, by, n, windowed_only, 1, &done, &bailed, e);
    if (!rc && bailed) /* a row C cannot evaluate as SQLite would */
        rc = cscan_relation(c, r, time, keys, by, n, windowed_only, 0, &done, &bailed, e);
    if (!rc && !done && n[0] + n[1] + n[2]) {
        scan_sql(c, rel, keys, time, by, n, windowed_only);
        rc = run_sql(c, &lib->m[idx[0]], e);
        if (!rc)
            rc = rollup_scan_all(c, keys, by, n, e);
        if (!rc)
            rc = kp_store_exec(c->s, "DROP TABLE kp_scan", e);
    }
    free(idx);
    return rc;
}

/* ---- medians in C ------------------------------------------------------------------- */

/* Interned strings: id by string, string by id. */
typedef struct {
    char **s;
    size_t n, cap;
    size_t *slot; /* open addressing: id + 1, 0 = empty */
    size_t nslot;
} strset;

static size_t str_hash(const char *s)
{
    size_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The id of s, added if new; -1 when out of memory. */
static long strset_id(strset *t, const char *s)
{
    if (2 * (t->n + 1) > t->nslot) {
        size_t nslot = t->nslot ? 2 * t->nslot : 64;
        size_t *slot = calloc(nslot, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t i = 0; i < t->n; i++) {
            size_t h = str_hash(t->s[i]) & (nslot - 1);
            while (slot[h])
                h = (h + 1) & (nslot - 1);
            slot[h] = i + 1;
        }
        free(t->slot);
        t->slot = slot;
        t->nslot = nslot;
    }
    size_t h = str_hash(s) & (t->nslot - 1);
    for (; t->slot[h]; h = (h + 1) & (t->nslot - 1))
        if (!strcmp(t->s[t->slot[h] - 1], s))
            return (long)(t->slot[h] - 1);
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **ns = realloc(t->s, cap * sizeof *ns);
        if (!ns)
            return -1;
        t->s = ns;
        t->cap = cap;
    }
    if (!(t->s[t->n] = strdup(s)))
        return -1;
    t->slot[h] = ++t->n;
    return (long)(t->n - 1);
}

/* The id of s, -1 when absent. */
static long strset_find(const strset *t, const char *s)
{
    if (!t->nslot)
        return -1;
    size_t h = str_hash(s) & (t->nslot - 1);
    for (; t->slot[h]; h = (h + 1) & (t->nslot - 1))
        if (!strcmp(t->s[t->slot[h] - 1], s))
            return (long)(t->slot[h] - 1);
    return -1;
}

static void strset_free(strset *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slot);
}

/* ---- the wide rows in C ------------------------------------------------------------- */

/* The value of every aggregate and rollup metric per dimension member and period, held
 * in C from the roll-ups that compute them until build_wide writes the wide table, one
 * INSERT per row (no result table per roll-up joined in SQL). A value is the double a
 * REAL column of a result table would read back; NULL is NaN (SQLite stores a NaN as
 * NULL, so no value can be one). Members are those of a written row, plus build_wide's. */
typedef struct wres {
    size_t np, ncol; /* periods; columns: one per available aggregate or rollup metric */
    long *col;       /* the column of metric i, -1 none */
    strset members[ND];
    size_t cap[ND];
    double *v[ND]; /* [(member * np + period) * ncol + column] */
} wres;

static void wres_free(wres *w)
{
    if (!w)
        return;
    for (int d = 0; d < ND; d++) {
        strset_free(&w->members[d]);
        free(w->v[d]);
    }
    free(w->col);
    free(w);
}

static wres *wres_new(const kp_metric_lib *lib, size_t np)
{
    wres *w = calloc(1, sizeof *w);
    if (!w || !(w->col = malloc((lib->n + 1) * sizeof *w->col))) {
        free(w);
        return NULL;
    }
    w->np = np;
    for (size_t i = 0; i < lib->n; i++)
        w->col[i] = lib->m[i].kind != MK_DERIVED && lib->m[i].ok ? (long)w->ncol++ : -1;
    return w;
}

/* The id of member `name` of dimension d, its rows (all NULL) added if new; -1 when out
 * of memory. */
static long wres_member(wres *w, int d, const char *name)
{
    long k = strset_id(&w->members[d], name);
    if (k < 0 || (size_t)k < w->cap[d])
        return k;
    size_t cap = w->cap[d] ? 2 * w->cap[d] : 8, row = w->np * w->ncol;
    while (cap <= (size_t)k)
        cap *= 2;
    double *v = realloc(w->v[d], (cap * row + 1) * sizeof *v);
    if (!v)
        return -1;
    for (size_t x = w->cap[d] * row; x < cap * row; x++)
        v[x] = NAN;
    w->v[d] = v;
    w->cap[d] = cap;
    return k;
}

/* The values of member k of dimension d in period p, one per column. */
static double *wres_row(const wres *w, int d, long k, size_t p)
{
    return w->v[d] + ((size_t)k * w->np + p) * w->ncol;
}

/* The row of member `name` of dimension d in period p, the member added if new; NULL
 * when out of memory. */
static double *wres_row_of(wres *w, int d, const char *name, size_t p)
{
    long k = wres_member(w, d, name);
    return k < 0 ? NULL : wres_row(w, d, k, p);
}

/* Metric i's values are about to be written: a second write replaces the first whole,
 * as a later result table did. */
static void wres_claim(wres *w, size_t i)
{
    long col = w->col[i];
    assert(col >= 0);
    for (int d = 0; d < ND; d++)
        for (size_t x = (size_t)col; x < w->members[d].n * w->np * w->ncol; x += w->ncol)
            w->v[d][x] = NAN;
}

/* Metrics idx[0..n) are about to be written into the wide rows in C. */
static void wide_claim(ectx *c, const size_t *idx, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (c->res_of[idx[j]] != -1)
            wres_claim(c->w, idx[j]);
        c->res_of[idx[j]] = RES_WIDE;
    }
}

/* The rows of the median metrics read together (same relation, time column and mode):
 * bucket and one member id per dimension per row; each metric's values with their rows. */
#define MAX_MEDIANS 16
struct pend_medians;
static void pend_cell(const struct pend_medians *p, size_t cell, unsigned *bucket,
                      unsigned *mem);

typedef struct {
    size_t nd;              /* dimensions evaluated */
    int dim[ND];            /* which */
    /* A C scan's medians: rows are the scan's cells (pend_cell), not rows of their own
     * (bucket, mem, slot unused): a cell lies in one bucket and one member of each
     * dimension, and at 100k deals the rows were ~2 MB at the stage's peak. */
    const struct pend_medians *pend;
    strset members[ND];     /* member ids of each */
    size_t base[ND];        /* first group id of each: groups are (member, period) */
    size_t np;              /* periods */
    size_t nbk;             /* buckets */
    size_t *per, *per_off;  /* periods of bucket k: per[per_off[k] .. per_off[k + 1]) */
    unsigned *bucket, *mem; /* mem: nd ids per row */
    size_t n, cap;          /* rows: distinct (bucket, members), each in the same groups */
    uint32_t *slot;         /* open addressing: row + 1, 0 = empty (32 bits: scale with rows) */
    size_t nslot;
    size_t cur;             /* the row of the values being added */
    size_t nm;              /* metrics */
    double *v[MAX_MEDIANS];
    unsigned *row[MAX_MEDIANS]; /* the row of each value */
    int packed[MAX_MEDIANS];    /* v[j] holds value and row packed (kp_median_pack) */
    size_t nv[MAX_MEDIANS], capv[MAX_MEDIANS];
    double *median[MAX_MEDIANS]; /* by group, once ranked (medians_rank) */
    size_t *count[MAX_MEDIANS];  /* values in each group */
} mrows;

/* The bucket and the member ids (mem[0..nd)) of row. */
static void mrows_key(const mrows *m, size_t row, unsigned *bucket, unsigned *mem)
{
    if (m->pend) {
        pend_cell(m->pend, row, bucket, mem);
        return;
    }
    *bucket = m->bucket[row];
    memcpy(mem, m->mem + row * m->nd, m->nd * sizeof *mem);
}

static size_t mrows_groups(void *ctx, size_t row, size_t *out, size_t max)
{
    const mrows *m = ctx;
    unsigned b, mem[ND];
    mrows_key(m, row, &b, mem);
    const size_t *per = m->per + m->per_off[b];
    size_t nper = m->per_off[b + 1] - m->per_off[b], k = 0;
    for (size_t d = 0; d < m->nd; d++) {
        size_t base = m->base[d] + mem[d] * m->np;
        for (size_t j = 0; j < nper; j++)
            out[k++] = base + per[j];
    }
    (void)max;
    assert(k <= max);
    return k;
}

static void mrows_free(mrows *m)
{
    for (size_t d = 0; d < m->nd; d++)
        strset_free(&m->members[d]);
    free(m->per);
    free(m->per_off);
    free(m->bucket);
    free(m->mem);
    free(m->slot);
    for (size_t j = 0; j < m->nm; j++) {
        free(m->v[j]);
        free(m->row[j]);
        free(m->median[j]);
        free(m->count[j]);
    }
}

/* The bucket map of kp_bmap / kp_bmap_before in C: the periods of each bucket (bucket nb
 * is '0000-00-00'; a stock has one bucket, in every period). */
static int mrows_periods(mrows *m, const ectx *c, tmode tm)
{
    size_t nb = tm == T_STOCK ? 1 : c->bk.nb + 1;
    m->np = c->ps.n;
    m->per = malloc((nb * c->ps.n + 1) * sizeof *m->per);
    m->per_off = malloc((nb + 1) * sizeof *m->per_off);
    if (!m->per || !m->per_off)
        return -1;
    size_t o = 0;
    for (size_t k = 0; k < nb; k++) {
        m->per_off[k] = o;
        for (size_t p = 0; p < c->ps.n; p++)
            if (bucket_maps(&c->bk, k, &c->ps.p[p], tm))
                m->per[o++] = p;
    }
    m->per_off[nb] = o;
    m->nbk = nb;
    return 0;
}

/* The number of values of metric j in each group: per member and bucket in one pass over
 * its values, then to periods through the bucket map (rather than one groups() call per
 * value and period). */
static int mrows_counts(const mrows *m, size_t j, size_t ngroups, size_t *count)
{
    size_t nh = 0, hb[ND];
    for (size_t d = 0; d < m->nd; d++) {
        hb[d] = nh;
        nh += m->members[d].n * m->nbk;
    }
    size_t *hist = calloc(nh + 1, sizeof *hist);
    if (!hist)
        return -1;
    for (size_t i = 0; i < m->nv[j]; i++) {
        size_t row = m->packed[j] ? kp_median_packed_tag(m->v[j], i) : m->row[j][i];
        unsigned b, mem[ND];
        mrows_key(m, row, &b, mem);
        for (size_t d = 0; d < m->nd; d++)
            hist[hb[d] + mem[d] * m->nbk + b]++;
    }
    memset(count, 0, ngroups * sizeof *count);
    for (size_t d = 0; d < m->nd; d++)
        for (size_t k = 0; k < m->members[d].n; k++)
            for (size_t b = 0; b < m->nbk; b++) {
                size_t h = hist[hb[d] + k * m->nbk + b];
                for (size_t x = m->per_off[b]; h && x < m->per_off[b + 1]; x++)
                    count[m->base[d] + k * m->np + m->per[x]] += h;
            }
    free(hist);
    return 0;
}

/* Bucket index of an ISO bucket start ('0000-00-00': nb), or -1 when none (the row lies
 * outside every period). */
static long bucket_index(const buckets *bk, const char *text)
{
    if (!text)
        return -1;
    if (!strcmp(text, "0000-00-00"))
        return (long)bk->nb;
    size_t lo = 0, hi = bk->nb;
    char d[KP_DATE_ISO_LEN + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(kp_date_format_iso(bk->b[mid], d), text);
        if (!cmp)
            return (long)mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static size_t mrows_hash(const mrows *m, const unsigned *key)
{
    size_t h = 14695981039346656037u;
    for (size_t d = 0; d <= m->nd; d++)
        h = (h ^ key[d]) * 1099511628211u;
    return h ^ (h >> 29);
}

/* Make the row of (bucket, member ids) the current one: an existing row when one has the
 * same bucket and members (a million rows of a scan fall into a few thousand). */
static int mrows_add(mrows *m, long bucket, const long *ids)
{
    unsigned key[ND + 1];
    key[0] = (unsigned)bucket;
    for (size_t d = 0; d < m->nd; d++)
        key[d + 1] = (unsigned)ids[d];
    if (2 * (m->n + 1) > m->nslot) {
        size_t nslot = m->nslot ? 2 * m->nslot : 1024;
        uint32_t *slot = m->n < UINT32_MAX - 1 ? calloc(nslot, sizeof *slot) : NULL;
        if (!slot)
            return -1;
        for (size_t r = 0; r < m->n; r++) {
            unsigned k[ND + 1];
            k[0] = m->bucket[r];
            memcpy(k + 1, m->mem + r * m->nd, m->nd * sizeof *k);
            size_t h = mrows_hash(m, k) & (nslot - 1);
            while (slot[h])
                h = (h + 1) & (nslot - 1);
            slot[h] = (uint32_t)(r + 1);
        }
        free(m->slot);
        m->slot = slot;
        m->nslot = nslot;
    }
    size_t h = mrows_hash(m, key) & (m->nslot - 1);
    for (; m->slot[h]; h = (h + 1) & (m->nslot - 1)) {
        size_t r = m->slot[h] - 1;
        if (m->bucket[r] == key[0] && !memcmp(m->mem + r * m->nd, key + 1, m->nd * sizeof *key)) {
            m->cur = r;
            return 0;
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        unsigned *nb = realloc(m->bucket, cap * sizeof *nb);
        if (nb)
            m->bucket = nb;
        unsigned *nm = nb ? realloc(m->mem, cap * m->nd * sizeof *nm) : NULL;
        if (!nm)
            return -1;
        m->mem = nm;
        m->cap = cap;
    }
    m->bucket[m->n] = key[0];
    memcpy(m->mem + m->n * m->nd, key + 1, m->nd * sizeof *key);
    m->slot[h] = (uint32_t)(m->n + 1);
    m->cur = m->n++;
    return 0;
}

/* Value v of metric j for the current row (mrows_add): packed with its row in 8 bytes
 * while every value of j is an integer that fits (kp_median_pack_one: cycle days, amounts
 * in cents), else as a double and a row (12 bytes). At a million deals that is 6 MB less
 * at the peak of the stage. */
static int mrows_value(mrows *m, size_t j, double v)
{
    if (m->nv[j] == m->capv[j]) {
        size_t cap = m->capv[j] ? 2 * m->capv[j] : 1024;
        double *nv = realloc(m->v[j], cap * sizeof *nv);
        if (nv)
            m->v[j] = nv;
        unsigned *nr = nv && !m->packed[j] ? realloc(m->row[j], cap * sizeof *nr) : NULL;
        if (!nv || (!m->packed[j] && !nr))
            return -1;
        if (nr)
            m->row[j] = nr;
        m->capv[j] = cap;
    }
    if (m->packed[j] && kp_median_pack_one(&m->v[j][m->nv[j]], v, (unsigned)m->cur)) {
        m->nv[j]++;
        return 0;
    }
    if (m->packed[j]) { /* the first value that does not fit: unpack those so far */
        if (!(m->row[j] = malloc(m->capv[j] * sizeof *m->row[j])))
            return -1;
        kp_median_unpack(m->v[j], m->row[j], m->nv[j]);
        m->packed[j] = 0;
    }
    m->v[j][m->nv[j]] = v;
    m->row[j][m->nv[j]++] = (unsigned)m->cur;
    return 0;
}

/* Read the rows of metrics idx[0..nm), (bucket, member of each dimension, value of each
 * metric whose where holds and whose value is not NULL), in one query: the scan of
 * eval_distinct with the members of its GROUP BY, joined to reps once. */
static kp_err mrows_read(ectx *c, const size_t *idx, unsigned keys, mrows *mr, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const metric *m = &lib->m[idx[0]];
    const relation *rel = &lib->r[m->rel];
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b, "SELECT s.b");
    for (size_t d = 0; d < mr->nd; d++) {
        sb_add(b, ", ");
        member_sql(b, mr->dim[d]);
    }
    /* Metrics with the same value expression (the two median cycle times) share its
     * column, each evaluated once per row. f: the row is in the metric (its where);
     * with a NULL value it is not, as `AND (value) IS NOT NULL` would have it. */
    size_t vcol[MAX_MEDIANS], nv = 0;
    for (size_t j = 0; j < mr->nm; j++) {
        size_t k = 0;
        while (k < j && strcmp(lib->m[idx[k]].arg, lib->m[idx[j]].arg))
            k++;
        vcol[j] = k < j ? vcol[k] : nv++;
        sb_add(b, ", s.f%zu", j);
    }
    for (size_t k = 0; k < nv; k++)
        sb_add(b, ", s.v%zu", k);
    sb_add(b, " FROM (");
    scan_head(c, rel, keys, m->tm == T_STOCK ? NULL : m->time);
    int all_rows = 0;
    size_t emitted = 0;
    for (size_t j = 0; j < mr->nm; j++) {
        const metric *mj = &lib->m[idx[j]];
        sb_add(b, ", CASE WHEN (%s) THEN 1 ELSE 0 END AS f%zu", mj->where ? mj->where : "1", j);
        if (vcol[j] == emitted) /* the first metric with this value */
            sb_add(b, ", (%s) AS v%zu", mj->arg, emitted++);
        all_rows |= !mj->where;
    }
    from_sql(b, rel);
    sb_add(b, " AND (");
    for (size_t j = 0; j < mr->nm; j++)
        sb_add(b, "%s(%s)", j ? " OR " : "", all_rows ? "1" : lib->m[idx[j]].where);
    sb_add(b, ")");
    if (m->tm == T_WINDOW) { /* rows outside [lo, hi) have no bucket of kp_bmap */
        char lo[KP_DATE_ISO_LEN + 1], hi[KP_DATE_ISO_LEN + 1];
        sb_add(b, " AND (%s) >= '%s' AND (%s) < '%s'", m->time, kp_date_format_iso(c->bk.lo, lo),
               m->time, kp_date_format_iso(c->bk.hi, hi));
    }
    sb_add(b, ") s");
    join_reps(b, keys);
    if (b->oom)
        return nomem(e);
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s, b->p, m->file, m->expr_line, &st, e);
    if (!rc)
        rc = kp_stmt_bind_vars(st, &c->vars, e);
    int r = 0;
    long ids[ND];
    while (!rc && (r = kp_stmt_step(st, e)) == 1) {
        long bucket = m->tm == T_STOCK ? 0 : bucket_index(&c->bk, kp_stmt_column_text(st, 0));
        if (bucket < 0)
            continue;
        for (size_t d = 0; d < mr->nd && !rc; d++) {
            const char *t = kp_stmt_column_text(st, (int)d + 1);
            ids[d] = strset_id(&mr->members[d], t ? t : "");
            if (ids[d] < 0)
                rc = nomem(e);
        }
        int in[MAX_MEDIANS], any = 0;
        for (size_t j = 0; j < mr->nm; j++) {
            int at = (int)(mr->nd + 1 + mr->nm + vcol[j]);
            in[j] = kp_stmt_column_int64(st, (int)(mr->nd + 1 + j)) &&
                    kp_stmt_column_type(st, at) != KP_COL_NULL;
            any |= in[j];
        }
        if (!rc && any && mrows_add(mr, bucket, ids))
            rc = nomem(e);
        for (size_t j = 0; j < mr->nm && !rc && any; j++)
            if (in[j] &&
                mrows_value(mr, j, kp_stmt_column_double(st, (int)(mr->nd + 1 + mr->nm + vcol[j]))))
                rc = nomem(e);
    }
    if (!rc && r < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    if (rc && e && e->code != KP_ERR_NOMEM) {
        char msg[KP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "[metric %.60s]: %.900s", m->name, e->msg);
        kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0, "%s", msg);
    }
    return rc;
}

/* Write the medians of every (dimension, member, period) group where one of the metrics
 * idx[0..nm) has values; the others are NULL there, as a missing row would read. */
static kp_err mrows_write(ectx *c, const size_t *idx, const mrows *mr, double *const *median,
                          size_t *const *count, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    wide_claim(c, idx, mr->nm);
    for (size_t di = 0; di < mr->nd; di++) {
        long mk = -1;
        for (size_t k = 0; k < mr->members[di].n; k++, mk = -1)
            for (size_t p = 0; p < mr->np; p++) {
                size_t g = mr->base[di] + k * mr->np + p, any = 0;
                for (size_t j = 0; j < mr->nm; j++)
                    any |= count[j][g];
                if (!any)
                    continue;
                if (mk < 0 && (mk = wres_member(c->w, mr->dim[di], mr->members[di].s[k])) < 0)
                    return nomem(e);
                double *row = wres_row(c->w, mr->dim[di], mk, p);
                for (size_t j = 0; j < mr->nm; j++) {
                    double v = median[j][g];
                    row[c->w->col[idx[j]]] = !count[j][g]          ? NAN
                                             : lib->m[idx[j]].unit ? v / 100.0
                                                                   : v;
                }
            }
    }
    return KP_OK;
}

/* An empty row set for median metrics idx[0..n): the dimensions their relation has. */
static void medians_setup(ectx *c, const size_t *idx, size_t n, mrows *mr)
{
    const kp_metric_lib *lib = c->lib;
    unsigned keys = scan_keys(lib, &lib->r[lib->m[idx[0]].rel]);
    memset(mr, 0, sizeof *mr);
    assert(n <= MAX_MEDIANS);
    mr->nm = n;
    for (size_t j = 0; j < n; j++)
        mr->packed[j] = 1; /* until a value does not fit (mrows_value) */
    for (int d = 0; d < ND; d++)
        if (dim_supported(lib, keys, d))
            mr->dim[mr->nd++] = d;
}

/* The median and the number of values of every group of mr (mr->median, mr->count);
 * the values are freed as they are ranked. -1 when out of memory. */
static int medians_rank(mrows *mr)
{
    size_t ngroups = 0;
    int err = 0;
    free(mr->slot); /* no row is added from here on */
    mr->slot = NULL;
    mr->nslot = 0;
    for (size_t d = 0; d < mr->nd; d++) {
        mr->base[d] = ngroups;
        ngroups += mr->members[d].n * mr->np;
    }
    for (size_t j = 0; j < mr->nm && !err; j++) {
        kp_median_groups g = {mrows_groups, mr, mr->nd * mr->np};
        double *median = mr->median[j] = malloc((ngroups + 1) * sizeof *median);
        size_t *count = mr->count[j] = malloc((ngroups + 1) * sizeof *count);
        err = !median || !count || mrows_counts(mr, j, ngroups, count) ||
              (mr->packed[j]
                   ? kp_median_grouped_packed(mr->v[j], mr->nv[j], ngroups, &g, median, count)
                   : kp_median_grouped_tagged_take(mr->v[j], mr->row[j], mr->nv[j], ngroups, &g,
                                                   median, count));
        /* its values are spent: freed before the next metric's sort (and what follows) */
        free(mr->v[j]);
        free(mr->row[j]);
        mr->v[j] = NULL;
        mr->row[j] = NULL;
        mr->nv[j] = mr->capv[j] = 0;
    }
    /* The rows are spent too: only members, medians and counts are written (at 100k
     * deals the rows are ~3 MB at the stage's peak, the roll-up after the scan). */
    free(mr->bucket);
    free(mr->mem);
    free(mr->per);
    free(mr->per_off);
    mr->bucket = mr->mem = NULL;
    mr->per = mr->per_off = NULL;
    mr->n = mr->cap = 0;
    return err ? -1 : 0;
}

/* The medians of the rows in mr (ranked unless `ranked`) written to the wide rows;
 * frees mr. */
static kp_err medians_finish(ectx *c, const size_t *idx, mrows *mr, int ranked, kp_error *e)
{
    kp_err rc = !ranked && medians_rank(mr) ? nomem(e) : KP_OK;
    if (!rc)
        rc = mrows_write(c, idx, mr, mr->median, mr->count, e);
    mrows_free(mr);
    memset(mr, 0, sizeof *mr);
    return rc;
}

/* Median metrics idx[0..n) of one relation, time column and mode: their rows are read
 * once, and the exact median of every dimension member and period is found with one
 * sort per metric (median.h) instead of one SQL median() per dimension over the rows
 * joined to every period. Gives the values of store.c's median() aggregate, bit for bit. */
static kp_err eval_medians(ectx *c, const size_t *idx, size_t n, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const metric *m = &lib->m[idx[0]];
    unsigned keys = scan_keys(lib, &lib->r[m->rel]);
    mrows mr;
    medians_setup(c, idx, n, &mr);
    kp_err rc = mrows_periods(&mr, c, m->tm) ? nomem(e) : KP_OK;
    if (!rc)
        rc = mrows_read(c, idx, keys, &mr, e);
    if (rc) {
        mrows_free(&mr);
        return rc;
    }
    return medians_finish(c, idx, &mr, 0, e);
}

/* ---- rollups in C --------------------------------------------------------------------- */

/* A sum exact in any order: every addend an integer of at most 2^53 in magnitude, and
 * so every partial sum while the total of magnitudes stays below 2^53. Then the SQL
 * rollup's sum, in whatever order SQLite adds, is this exact integer too. */
#define EXACT_LIMIT 9007199254740992.0 /* 2^53 */

/* A C rollup's sum: ACC_NONE while it has no (non-NULL) addend. 8 bytes, not a sum and a
 * flag in 16: at 100k deals the rollup's arrays are ~4 MB at the stage's peak. An exact
 * sum stays below 2^53 in magnitude, so it never spells ACC_NONE. */
typedef int64_t acc;
#define ACC_NONE INT64_MIN

static void acc_add(acc *a, int64_t v)
{
    *a = (*a == ACC_NONE ? 0 : *a) + v;
}

/* The compact scan kp_scan summed per dimension member and bucket: cells[d] holds, for
 * member k and bucket b, hit (a scan row) and one acc per column. Buckets: 0..nb-1 the
 * bucket starts, nb '0000-00-00', nb + 1 none (NULL or no bucket of the map). */
typedef struct {
    size_t nd, nbk, ncol;
    int dim[ND];
    strset members[ND];
    size_t cap[ND];
    size_t hint[ND]; /* members expected (0: unknown), the first capacity */
    acc *cells[ND];
    unsigned char *hit[ND];
    size_t nmet;
    size_t met[64]; /* metric index of each summed metric */
    size_t col[64]; /* its first column (avg: sum, then count) */
    int exact[64];  /* all its values were exact integers */
    double mag[64]; /* total of the magnitudes of its values */
} crollup;

static void crollup_free(crollup *r)
{
    for (size_t d = 0; d < r->nd; d++) {
        strset_free(&r->members[d]);
        free(r->cells[d]);
        free(r->hit[d]);
    }
}

/* Room for member k of dimension d. */
static int crollup_grow(crollup *r, size_t d, size_t k)
{
    if (k < r->cap[d])
        return 0;
    size_t cap = r->cap[d] ? 2 * r->cap[d] : r->hint[d] ? r->hint[d] : 8; /* most have a few */
    while (cap <= k)
        cap *= 2;
    acc *cells = realloc(r->cells[d], cap * r->nbk * r->ncol * sizeof *cells);
    if (!cells)
        return -1;
    r->cells[d] = cells;
    unsigned char *hit = realloc(r->hit[d], cap * r->nbk);
    if (!hit)
        return -1;
    r->hit[d] = hit;
    size_t old = r->cap[d];
    for (size_t i = old * r->nbk * r->ncol; i < cap * r->nbk * r->ncol; i++)
        cells[i] = ACC_NONE;
    memset(hit + old * r->nbk, 0, (cap - old) * r->nbk);
    r->cap[d] = cap;
    return 0;
}

/* One SQL value as read: its type and its integer or real content. */
typedef struct {
    kp_coltype t;
    int64_t i;
    double d;
} sval;

static sval stmt_value(kp_stmt *st, int at)
{
    sval x = {kp_stmt_column_type(st, at), 0, 0};
    if (x.t == KP_COL_INTEGER)
        x.i = kp_stmt_column_int64(st, at);
    else if (x.t == KP_COL_REAL)
        x.d = kp_stmt_column_double(st, at);
    return x;
}

/* Add one value x of metric slot j (column col) to every dimension's cell of this row. */
static void crollup_value(crollup *r, const sval *x, size_t j, size_t col, const long *ids,
                          size_t bucket)
{
    int64_t v;
    if (x->t == KP_COL_NULL)
        return;
    if (x->t == KP_COL_INTEGER) {
        v = x->i;
        if (v > (int64_t)EXACT_LIMIT || v < -(int64_t)EXACT_LIMIT) {
            r->exact[j] = 0;
            return;
        }
    } else if (x->t == KP_COL_REAL) {
        double d = x->d;
        if (!(d >= -EXACT_LIMIT && d <= EXACT_LIMIT) || d != (double)(int64_t)d)
            r->exact[j] = 0;
        v = r->exact[j] ? (int64_t)d : 0;
    } else {
        r->exact[j] = 0;
        return;
    }
    r->mag[j] += v < 0 ? -(double)v : (double)v;
    if (r->mag[j] >= EXACT_LIMIT)
        r->exact[j] = 0;
    if (!r->exact[j]) /* SQL rolls it up; stop before the sums could overflow */
        return;
    for (size_t d = 0; d < r->nd; d++) {
        acc_add(&r->cells[d][((size_t)ids[d] * r->nbk + bucket) * r->ncol + col], v);
    }
}

/* Member ids of one row in every dimension, from the member strings mem[d]; marks the
 * row's bucket as reached. */
static int crollup_row(crollup *r, const char *const *mem, size_t bk, long *ids)
{
    for (size_t d = 0; d < r->nd; d++) {
        ids[d] = strset_id(&r->members[d], mem[d]);
        if (ids[d] < 0 || crollup_grow(r, d, (size_t)ids[d]))
            return -1;
        r->hit[d][(size_t)ids[d] * r->nbk + bk] = 1;
    }
    return 0;
}

/* Read kp_scan once, with each row's member of every dimension (joined to reps as the
 * SQL rollup does), into per member and bucket sums. */
static kp_err crollup_read(ectx *c, unsigned keys, crollup *r, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b, "SELECT s.b");
    for (size_t d = 0; d < r->nd; d++) {
        sb_add(b, ", ");
        member_sql(b, r->dim[d]);
    }
    for (size_t j = 0; j < r->nmet; j++) {
        sb_add(b, ", s.c%zu", r->met[j]);
        if (lib->m[r->met[j]].fn == A_AVG)
            sb_add(b, ", s.n%zu", r->met[j]);
    }
    sb_add(b, " FROM kp_scan s");
    join_reps(b, keys);
    if (b->oom)
        return nomem(e);
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s, b->p, NULL, 0, &st, e);
    int step = 0;
    long ids[ND];
    while (!rc && (step = kp_stmt_step(st, e)) == 1) {
        long bucket = bucket_index(&c->bk, kp_stmt_column_text(st, 0));
        size_t bk = bucket < 0 ? c->bk.nb + 1 : (size_t)bucket;
        const char *mem[ND];
        for (size_t d = 0; d < r->nd; d++) {
            const char *t = kp_stmt_column_text(st, (int)d + 1);
            mem[d] = t ? t : "";
        }
        if (crollup_row(r, mem, bk, ids))
            rc = nomem(e);
        int at = (int)r->nd + 1;
        for (size_t j = 0; j < r->nmet && !rc; j++) {
            sval x = stmt_value(st, at++);
            crollup_value(r, &x, j, r->col[j], ids, bk);
            if (lib->m[r->met[j]].fn == A_AVG) {
                x = stmt_value(st, at++);
                crollup_value(r, &x, j, r->col[j] + 1, ids, bk);
            }
        }
    }
    if (!rc && step < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

/* Write the rollup of metric slots js[0..n) (time mode tm) into a new result table: one
 * row per dimension member and period that a scan row reaches, as the SQL rollup has. */
static kp_err crollup_write(ectx *c, const crollup *r, const size_t *js, size_t n, tmode tm,
                            kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    size_t idx[64];
    for (size_t j = 0; j < n; j++)
        idx[j] = r->met[js[j]];
    wide_claim(c, idx, n);
    kp_err rc = KP_OK;
    acc *tot = malloc((r->ncol + 1) * sizeof *tot);
    unsigned char *in = calloc(r->nbk + 1, 1);
    if (!rc && (!tot || !in))
        rc = nomem(e);
    for (size_t p = 0; p < c->ps.n && !rc; p++) {
        const period *per = &c->ps.p[p];
        for (size_t k = 0; k < r->nbk; k++)
            in[k] = (unsigned char)bucket_maps(&c->bk, k, per, tm);
        for (size_t di = 0; di < r->nd && !rc; di++) {
            for (size_t k = 0; k < r->members[di].n && !rc; k++) {
                int hit = 0;
                for (size_t x = 0; x < r->ncol; x++)
                    tot[x] = ACC_NONE;
                for (size_t bk = 0; bk < r->nbk; bk++) {
                    if (!in[bk] || !r->hit[di][k * r->nbk + bk])
                        continue;
                    hit = 1;
                    const acc *cell = &r->cells[di][(k * r->nbk + bk) * r->ncol];
                    for (size_t j = 0; j < n; j++)
                        for (size_t x = r->col[js[j]];
                             x < r->col[js[j]] + (lib->m[idx[j]].fn == A_AVG ? 2u : 1u); x++) {
                            if (cell[x] != ACC_NONE)
                                acc_add(&tot[x], cell[x]);
                        }
                }
                if (!hit)
                    continue;
                double *row = wres_row_of(c->w, r->dim[di], r->members[di].s[k], p);
                if (!row) {
                    rc = nomem(e);
                    break;
                }
                for (size_t j = 0; j < n; j++) {
                    const metric *m = &lib->m[idx[j]];
                    const acc *s = &tot[r->col[js[j]]];
                    /* as combine_sql: sum(c) [* 1.0 / sum(n)] [/ 100.0]; x / 0 is NULL */
                    int null = *s == ACC_NONE;
                    double v = null ? 0 : (double)*s;
                    if (m->fn == A_AVG) {
                        null = null || s[1] == ACC_NONE || s[1] == 0;
                        v = null ? 0 : v * 1.0 / (double)s[1];
                    }
                    if (m->unit)
                        v = v / 100.0;
                    row[c->w->col[idx[j]]] = null ? NAN : v;
                }
            }
        }
    }
    free(tot);
    free(in);
    return rc;
}

/* The C rollup of the metrics by[t][0..n[t]) of each time mode t: sums, counts and
 * averages, at most 64. */
static void crollup_setup(ectx *c, unsigned keys, size_t *const by[3], const size_t n[3],
                          crollup *r)
{
    const kp_metric_lib *lib = c->lib;
    memset(r, 0, sizeof *r);
    r->nbk = c->bk.nb + 2;
    for (int d = 0; d < ND; d++)
        if (dim_supported(lib, keys, d))
            r->dim[r->nd++] = d;
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++) {
            const metric *m = &lib->m[by[t][i]];
            if ((m->fn != A_SUM && m->fn != A_COUNT && m->fn != A_AVG) ||
                r->nmet == sizeof r->met / sizeof *r->met)
                continue;
            r->met[r->nmet] = by[t][i];
            r->col[r->nmet] = r->ncol;
            r->exact[r->nmet++] = 1;
            r->ncol += m->fn == A_AVG ? 2 : 1;
        }
}

/* The slot of metric i in r when C rolls it up (every value an exact integer), else -1. */
static long crollup_slot(const crollup *r, size_t i)
{
    for (size_t j = 0; j < r->nmet; j++)
        if (r->met[j] == i)
            return r->exact[j] ? (long)j : -1;
    return -1;
}

/* SQLite's sum() (func.c of the SQLite this links, 3.40): an integer total while every
 * addend is an integer and none overflows, beside a double total added in row order. A
 * group's sum here is the one GROUP BY gives, bit for bit, when the rows come in the same
 * order: the table scan's, which GROUP BY's sorter keeps among rows of equal keys. */
typedef struct {
    double r;
    int64_t i;
    uint32_t cnt; /* non-NULL addends; a cell of 2^32 rows is refused (cscan_relation) */
    unsigned char approx, overflow;
} ssum;

static void ssum_add(ssum *s, const sval *x)
{
    if (x->t == KP_COL_INTEGER) {
        s->r += (double)x->i;
        if (!(s->approx | s->overflow) &&
            (x->i > 0 ? s->i > INT64_MAX - x->i : s->i < INT64_MIN - x->i))
            s->approx = s->overflow = 1;
        else if (!(s->approx | s->overflow))
            s->i += x->i;
    } else {
        s->r += x->d;
        s->approx = 1;
    }
    s->cnt++;
}

/* The value sum() returns. */
static sval ssum_value(const ssum *s)
{
    sval x = {KP_COL_NULL, 0, 0};
    if (s->cnt && s->approx)
        x = (sval){KP_COL_REAL, 0, s->r};
    else if (s->cnt)
        x = (sval){KP_COL_INTEGER, s->i, 0};
    return x;
}

/* A scan cell's sum(): ssum in 16 bytes, not 24 (at 100k deals the cells are most of
 * the stage's peak). It holds the integer total or, once a real addend came, the double
 * one: ssum's double total of integer addends equals their integer total while every
 * addend and partial sum is at most 2^53 in magnitude (each double addition exact), so
 * it is taken from the integer total at the first real addend. An integer total beyond
 * 2^53 is marked overflow: the scan is then done in SQL (cscan_relation). */
typedef struct {
    union {
        int64_t i;
        double r;
    } v;
    uint32_t cnt; /* non-NULL addends; a cell of 2^32 rows is refused (cscan_relation) */
    unsigned char real, overflow;
} csum;

static void csum_add(csum *s, const sval *x)
{
    if (s->real) {
        s->v.r += x->t == KP_COL_INTEGER ? (double)x->i : x->d;
    } else if (x->t == KP_COL_INTEGER) {
        int64_t lim = (int64_t)1 << 53;
        if (x->i > lim || x->i < -lim || s->v.i + x->i > lim || s->v.i + x->i < -lim)
            s->overflow = 1;
        else
            s->v.i += x->i;
    } else {
        s->v.r = (double)s->v.i + x->d;
        s->real = 1;
    }
    s->cnt++;
}

/* The value sum() returns (ssum_value's). */
static sval csum_value(const csum *s)
{
    sval x = {KP_COL_NULL, 0, 0};
    if (s->cnt && s->real)
        x = (sval){KP_COL_REAL, 0, s->v.r};
    else if (s->cnt)
        x = (sval){KP_COL_INTEGER, s->v.i, 0};
    return x;
}

/* Fractional sums rolled up in C, added in the order rollup_scan's SQL adds them: per
 * member and bucket, the scan's cells in kp_scan's order; then per member and period the
 * bucket totals, oldest bucket first (a stock: NULL bucket, '0000-00-00', then by date).
 * Sums of window and stock metrics only; the cells must all lie in known buckets. */
typedef struct {
    size_t n, met[64], col[64]; /* metric, its kp_scan column */
    size_t nslot;               /* bucket slots: NULL, '0000-00-00', then c->bk.b */
    size_t nmem[ND];
    ssum *part[ND];         /* [(member * nslot + slot) * n + j] */
    unsigned char *hit[ND]; /* [member * nslot + slot] */
} frollup;

static void frollup_free(frollup *f)
{
    for (size_t d = 0; d < ND; d++) {
        free(f->part[d]);
        free(f->hit[d]);
    }
}

static long frollup_slot(const frollup *f, size_t i)
{
    for (size_t j = 0; f && j < f->n; j++)
        if (f->met[j] == i)
            return (long)j;
    return -1;
}

/* Write metrics js[0..n) of f (time mode tm) to a new result table: the rows and values
 * of rollup_scan's INSERT, row by row. */
static kp_err frollup_write(ectx *c, const crollup *r, const frollup *f, const size_t *js, size_t n,
                            tmode tm, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    size_t idx[64];
    for (size_t j = 0; j < n; j++)
        idx[j] = f->met[js[j]];
    wide_claim(c, idx, n);
    kp_err rc = KP_OK;
    unsigned char *in = calloc(f->nslot + 1, 1);
    ssum tot[64];
    if (!in)
        rc = nomem(e);
    for (size_t p = 0; p < c->ps.n && !rc; p++) {
        const period *per = &c->ps.p[p];
        for (size_t k = 0; k < f->nslot; k++)
            in[k] = tm == T_STOCK || (k >= 2 && bucket_maps(&c->bk, k - 2, per, T_WINDOW));
        for (size_t di = 0; di < r->nd && !rc; di++) {
            for (size_t k = 0; k < f->nmem[di] && !rc; k++) {
                int hit = 0;
                memset(tot, 0, n * sizeof *tot);
                for (size_t sl = 0; sl < f->nslot; sl++) {
                    if (!in[sl] || !f->hit[di][k * f->nslot + sl])
                        continue;
                    hit = 1;
                    const ssum *part = &f->part[di][(k * f->nslot + sl) * f->n];
                    for (size_t j = 0; j < n; j++) {
                        sval v = ssum_value(&part[js[j]]);
                        if (v.t != KP_COL_NULL)
                            ssum_add(&tot[j], &v);
                    }
                }
                if (!hit)
                    continue;
                double *row = wres_row_of(c->w, r->dim[di], r->members[di].s[k], p);
                if (!row) {
                    rc = nomem(e);
                    break;
                }
                for (size_t j = 0; j < n; j++) {
                    /* as combine_sql: sum(c) [/ 100.0]; an integer sum reads back from a
                     * REAL column as its double */
                    sval v = ssum_value(&tot[j]);
                    double x = v.t == KP_COL_INTEGER ? (double)v.i : v.d;
                    if (lib->m[idx[j]].unit)
                        x = x / 100.0;
                    row[c->w->col[idx[j]]] = v.t == KP_COL_NULL ? NAN : x;
                }
            }
        }
    }
    free(in);
    return rc;
}

/* Write the result tables of by[] once r holds every row: C's exact sums by crollup_write,
 * the fractional sums of f (when given) by frollup_write, the rest by rollup_scan in SQL
 * over kp_scan. */
static kp_err crollup_finish(ectx *c, unsigned keys, crollup *r, const frollup *f,
                             size_t *const by[3], const size_t n[3], kp_error *e)
{
    size_t *sql = malloc((n[0] + n[1] + n[2] + 1) * sizeof *sql);
    kp_err rc = sql ? KP_OK : nomem(e);
    for (int t = 0; t < 3 && !rc; t++) {
        size_t js[64], nj = 0, ns = 0, fs[64], nf = 0;
        for (size_t i = 0; i < n[t]; i++) {
            long j = crollup_slot(r, by[t][i]), k = frollup_slot(f, by[t][i]);
            if (j >= 0)
                js[nj++] = (size_t)j;
            else if (k >= 0)
                fs[nf++] = (size_t)k;
            else
                sql[ns++] = by[t][i];
        }
        if (nj)
            rc = crollup_write(c, r, js, nj, (tmode)t, e);
        if (!rc && nf)
            rc = frollup_write(c, r, f, fs, nf, (tmode)t, e);
        if (!rc && ns)
            rc = rollup_scan(c, keys, sql, ns, (tmode)t, e);
    }
    free(sql);
    return rc;
}

/* Roll kp_scan up for the metrics by[t][0..n[t]) of each time mode t: sums, counts and
 * averages in C when every value is an exact integer (then no order of addition can
 * change a bit), everything else (min, max, fractional sums) by rollup_scan in SQL. */
static kp_err rollup_scan_all(ectx *c, unsigned keys, size_t *const by[3], const size_t n[3],
                              kp_error *e)
{
    crollup r;
    crollup_setup(c, keys, by, n, &r);
    kp_err rc = r.nmet ? crollup_read(c, keys, &r, e) : KP_OK;
    if (!rc)
        rc = crollup_finish(c, keys, &r, NULL, by, n, e);
    crollup_free(&r);
    return rc;
}

/* ---- the grouped scan in C ---------------------------------------------------------- */

/* The rep-based members of each rep (reps LEFT JOINed on rep_id, as the SQL rollups do). */
typedef struct {
    strset ids;
    char **of; /* region, team, manager of rep k at of[3k..3k+2] */
} repmap;

static void repmap_free(repmap *m)
{
    for (size_t i = 0; i < 3 * m->ids.n; i++)
        free(m->of[i]);
    free(m->of);
    strset_free(&m->ids);
}

static kp_err repmap_read(ectx *c, repmap *m, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s,
                                 "SELECT rep_id, coalesce(region, '(none)'), coalesce(team,"
                                 " '(none)'), coalesce(manager_id, '(none)') FROM reps"
                                 " WHERE rep_id IS NOT NULL",
                                 NULL, 0, &st, e);
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) == 1) {
        long k = strset_id(&m->ids, kp_stmt_column_text(st, 0));
        char **of = k < 0 ? NULL : realloc(m->of, 3 * m->ids.n * sizeof *of);
        if (!of) {
            rc = nomem(e);
            break;
        }
        m->of = of;
        for (int j = 0; j < 3 && !rc; j++)
            if (!(of[3 * k + j] = strdup(kp_stmt_column_text(st, j + 1))))
                rc = nomem(e);
    }
    if (!rc && step < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

/* Cells of (bucket, key...) ids, as kp_scan's GROUP BY would make them. Key id 0 is NULL,
 * k + 1 the k-th string of kv[position]. */
typedef struct {
    size_t nkey;       /* bucket + keys */
    int keyof[NK + 1]; /* key index of each position after the bucket */
    strset kv[NK + 1]; /* the strings of each position */
    unsigned *ck;      /* ncell * nkey ids */
    /* Per cell, cellsz bytes: a csum of each summed value (nvs of them), then a count of
     * each sum of flags (a count of rows where it holds: such a sum is always that
     * integer) and of the rows (ncnt + 1). A cell's sum x is at pos[x] of its kind. */
    unsigned char *cb;
    size_t nvs, ncnt, cellsz, pos[64];
    size_t ncell, capcell, ncol, nsum;
    uint32_t *slot;      /* open addressing: cell + 1, 0 = empty (32 bits: scale with cells) */
    size_t nslot;
    int *src;            /* per kp_scan column: its sum (sums[]), -1 for count(*) */
    int nsrc;            /* result columns after the keys: flags and values */
    struct sumsrc *sums; /* what each summed column adds per row */
    repmap reps;
    long *bix; /* bucket_index + 2 of each bucket text id (0: not yet looked up) */
    size_t nbix;
} cgroups;

static void cgroups_free(cgroups *g)
{
    for (size_t k = 0; k < g->nkey; k++)
        strset_free(&g->kv[k]);
    free(g->ck);
    free(g->cb);
    free(g->slot);
    free(g->src);
    free(g->sums);
    free(g->bix);
    repmap_free(&g->reps);
}

static size_t ids_hash(const unsigned *id, size_t n)
{
    size_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ id[i]) * 1099511628211u;
    return h;
}

/* The cell of key ids id[0..nkey), added if new; -1 when out of memory. */
static long cgroups_cell(cgroups *g, const unsigned *id)
{
    if (2 * (g->ncell + 1) > g->nslot) {
        size_t nslot = g->nslot ? 2 * g->nslot : 1024;
        uint32_t *slot = g->ncell < UINT32_MAX - 1 ? calloc(nslot, sizeof *slot) : NULL;
        if (!slot)
            return -1;
        for (size_t i = 0; i < g->ncell; i++) {
            size_t h = ids_hash(g->ck + i * g->nkey, g->nkey) & (nslot - 1);
            while (slot[h])
                h = (h + 1) & (nslot - 1);
            slot[h] = (uint32_t)(i + 1);
        }
        free(g->slot);
        g->slot = slot;
        g->nslot = nslot;
    }
    size_t h = ids_hash(id, g->nkey) & (g->nslot - 1);
    for (; g->slot[h]; h = (h + 1) & (g->nslot - 1))
        if (!memcmp(g->ck + (g->slot[h] - 1) * g->nkey, id, g->nkey * sizeof *id))
            return (long)(g->slot[h] - 1);
    if (g->ncell == g->capcell) {
        size_t cap = g->capcell ? g->capcell + g->capcell / 2 : 1024; /* less unused room */
        unsigned *ck = realloc(g->ck, cap * g->nkey * sizeof *ck);
        if (ck)
            g->ck = ck;
        unsigned char *cb = ck ? realloc(g->cb, cap * g->cellsz) : NULL;
        if (!cb)
            return -1;
        g->cb = cb;
        g->capcell = cap;
    }
    memcpy(g->ck + g->ncell * g->nkey, id, g->nkey * sizeof *id);
    memset(g->cb + g->ncell * g->cellsz, 0, g->cellsz);
    g->slot[h] = (uint32_t)++g->ncell;
    return (long)(g->ncell - 1);
}

/* bucket_index of the bucket text of id (> 0), looked up once per text: a scan's rows
 * carry a few dozen of them. -2 when out of memory. */
static long cgroups_bucket(cgroups *g, const buckets *bk, unsigned id)
{
    if (id >= g->nbix) {
        size_t n = 2 * (size_t)id + 64;
        long *bix = realloc(g->bix, n * sizeof *bix);
        if (!bix)
            return -2;
        memset(bix + g->nbix, 0, (n - g->nbix) * sizeof *bix);
        g->bix = bix;
        g->nbix = n;
    }
    if (!g->bix[id])
        g->bix[id] = bucket_index(bk, g->kv[0].s[id - 1]) + 2;
    return g->bix[id] - 2;
}

static const char *cgroups_str(const cgroups *g, size_t k, unsigned id)
{
    return id ? g->kv[k].s[id - 1] : NULL;
}

/* GROUP BY's order of two cells: key by key, NULL first, text by bytes. */
static const cgroups *sort_groups;
static int cmp_cells(const void *a, const void *b)
{
    const cgroups *g = sort_groups;
    const unsigned *x = g->ck + *(const size_t *)a * g->nkey;
    const unsigned *y = g->ck + *(const size_t *)b * g->nkey;
    for (size_t k = 0; k < g->nkey; k++) {
        if (x[k] == y[k])
            continue;
        if (!x[k] || !y[k])
            return x[k] ? 1 : -1;
        return strcmp(g->kv[k].s[x[k] - 1], g->kv[k].s[y[k] - 1]) < 0 ? -1 : 1;
    }
    return 0;
}

/* Member of dimension d for key ids id (member_sql in C; "" for a NULL bucket-less). */
static const char *cgroups_member(const cgroups *g, const unsigned *id, int d)
{
    if (d == D_COMPANY)
        return "All";
    int key = d == D_PRODUCT ? K_PRODUCT : d == D_FC ? K_FC : d == D_STAGE ? K_STAGE : K_REP;
    size_t pos = 0;
    for (size_t k = 1; k < g->nkey; k++)
        if (g->keyof[k] == key)
            pos = k;
    assert(pos);
    const char *s = cgroups_str(g, pos, id[pos]);
    if (d == D_REP || d == D_PRODUCT || d == D_FC || d == D_STAGE)
        return s ? s : "(none)";
    long r = -1;
    if (s && g->reps.ids.nslot) {
        size_t h = str_hash(s) & (g->reps.ids.nslot - 1);
        for (; g->reps.ids.slot[h]; h = (h + 1) & (g->reps.ids.nslot - 1))
            if (!strcmp(g->reps.ids.s[g->reps.ids.slot[h] - 1], s)) {
                r = (long)g->reps.ids.slot[h] - 1;
                break;
            }
    }
    int j = d == D_REGION ? 0 : d == D_TEAM ? 1 : 2;
    return r < 0 ? "(none)" : g->reps.of[3 * r + j];
}

/* Key position of the member of dimension d in g's cells (0: company, no key). */
static size_t cgroups_keypos(const cgroups *g, int d)
{
    int key = d == D_PRODUCT ? K_PRODUCT : d == D_FC ? K_FC : d == D_STAGE ? K_STAGE : K_REP;
    size_t pos = 0;
    for (size_t k = 1; k < g->nkey && d != D_COMPANY; k++)
        if (g->keyof[k] == key)
            pos = k;
    return pos;
}

/* Member ids of a scan's cells, memoised by the cell's key id of each dimension (a
 * dimension's member is a function of one key: rep, product...; the company has none),
 * so that a cell's ids are looked up, not kept per cell (at 100k deals ~1.5 MB at the
 * stage's peak), nor its member strings hashed again. The roll-up of the cells and the
 * medians read on the same scan each keep one. */
typedef struct {
    size_t kpos[ND]; /* key position of each dimension's member (0: company) */
    long *id[ND];    /* member id + 1 by key id (0: not yet looked up) */
    size_t n[ND];
} cmemo;

static void cmemo_init(cmemo *m, const cgroups *g, const int *dim, size_t nd)
{
    memset(m, 0, sizeof *m);
    for (size_t d = 0; d < nd; d++)
        m->kpos[d] = cgroups_keypos(g, dim[d]);
}

static void cmemo_free(cmemo *m)
{
    for (int d = 0; d < ND; d++)
        free(m->id[d]);
}

/* The id in `members` of the member of dimension dim (the memo's di-th) of the cell with
 * key ids id, interned if new; -1 when out of memory. */
static long cmemo_member(cmemo *m, size_t di, int dim, const cgroups *g, const unsigned *id,
                         strset *members)
{
    unsigned kid = m->kpos[di] ? id[m->kpos[di]] : 0;
    if (kid >= m->n[di]) {
        size_t n = 2 * (size_t)kid + 16;
        long *ids = realloc(m->id[di], n * sizeof *ids);
        if (!ids)
            return -1;
        memset(ids + m->n[di], 0, (n - m->n[di]) * sizeof *ids);
        m->id[di] = ids;
        m->n[di] = n;
    }
    if (!m->id[di][kid]) {
        long k = strset_id(members, cgroups_member(g, id, dim));
        if (k < 0)
            return -1;
        m->id[di][kid] = k + 1;
    }
    return m->id[di][kid] - 1;
}

/* The id cmemo_member gave the cell with key ids id. */
static long cmemo_known(const cmemo *m, size_t di, const unsigned *id)
{
    return m->id[di][m->kpos[di] ? id[m->kpos[di]] : 0] - 1;
}

/* The frollup bucket slot of the cell with key ids id (0: NULL bucket, 1: '0000-00-00',
 * k + 2: bucket k; nb + 3: no bucket of the map), -1 for a bucket text no bucket start
 * spells, -2 when out of memory. */
static long cgroups_slot(cgroups *g, const buckets *bk, const unsigned *id)
{
    if (!id[0])
        return 0;
    long b = cgroups_bucket(g, bk, id[0]);
    return b < -1 ? -2 : b < 0 ? -1 : (size_t)b == bk->nb ? 1 : b + 2;
}

/* What one summed kp_scan column adds per row, from a flag column (a where as 1 or 0; -1:
 * no where) and a value column (-1: none): the value where the flag holds, else NULL; or
 * 1 where the flag holds, else 0; or 1 where the flag holds and the value is not NULL,
 * else 0. That is measure_sql's CASE per row, with each where and value expression
 * evaluated once per row however many metrics share it. */
enum { SM_VALUE, SM_ONE, SM_NOTNULL };
typedef struct sumsrc {
    int flag, val, mode;
} sumsrc;

static sval sumsrc_value(const sumsrc *u, const sval *vals)
{
    int on = u->flag < 0 || vals[u->flag].i;
    sval x = {KP_COL_NULL, 0, 0};
    if (u->mode == SM_VALUE)
        return on ? vals[u->val] : x;
    x = (sval){KP_COL_INTEGER, on && (u->mode == SM_ONE || vals[u->val].t != KP_COL_NULL), 0};
    return x;
}

/* Median metrics read on this scan's rows: those of relation r in time mode window on
 * the same time column, the first MAX_MEDIANS (eval_all_medians does the others). */
typedef struct pend_medians {
    size_t idx[MAX_MEDIANS], n;
    mrows mr;
    int fcol[MAX_MEDIANS], vcol[MAX_MEDIANS]; /* their flag (-1: none) and value columns */
    cmemo memo;                               /* the members of the cells' keys */
    const cgroups *g; /* the scan's cells: the rows of mr */
} pend_medians;

static void pend_free(pend_medians *p)
{
    if (!p)
        return;
    mrows_free(&p->mr);
    cmemo_free(&p->memo);
    free(p);
}

static size_t find_medians(const kp_metric_lib *lib, size_t r, const char *time, size_t *idx)
{
    size_t n = 0;
    for (size_t j = 0; j < lib->n && n < MAX_MEDIANS; j++) {
        const metric *o = &lib->m[j];
        if (o->kind == MK_AGG && o->ok && o->fn == A_MEDIAN && (size_t)o->rel == r &&
            o->tm == T_WINDOW && time && !strcmp(o->time, time))
            idx[n++] = j;
    }
    return n;
}

static int pend_members(pend_medians *p, const unsigned *id);

/* Add this row's values to the pending medians (what mrows_read does per row), tagged
 * with the row's scan cell `cell` (its bucket and keys, so its members: pend_cell). */
static int pend_row(pend_medians *p, const sval *vals, const unsigned *id, size_t cell)
{
    mrows *mr = &p->mr;
    int in[MAX_MEDIANS], any = 0;
    for (size_t j = 0; j < p->n; j++) {
        in[j] = (p->fcol[j] < 0 || vals[p->fcol[j]].i) && vals[p->vcol[j]].t != KP_COL_NULL;
        any |= in[j];
    }
    if (!any)
        return 0;
    if (pend_members(p, id))
        return -1;
    mr->cur = cell;
    for (size_t j = 0; j < p->n; j++)
        if (in[j] && mrows_value(mr, j,
                                 vals[p->vcol[j]].t == KP_COL_INTEGER ? (double)vals[p->vcol[j]].i
                                                                      : vals[p->vcol[j]].d))
            return -1;
    return 0;
}

/* Intern the members of the cell with key ids id (memoised by key id). */
static int pend_members(pend_medians *p, const unsigned *id)
{
    mrows *mr = &p->mr;
    for (size_t d = 0; d < mr->nd; d++)
        if (cmemo_member(&p->memo, d, mr->dim[d], p->g, id, &mr->members[d]) < 0)
            return -1;
    return 0;
}

/* The bucket and member ids of scan cell `cell`, a row of p's medians (pend_row looked
 * them up: its bucket is known, its members interned). */
static void pend_cell(const pend_medians *p, size_t cell, unsigned *bucket, unsigned *mem)
{
    const cgroups *g = p->g;
    const unsigned *id = g->ck + cell * g->nkey;
    *bucket = (unsigned)(g->bix[id[0]] - 2);
    for (size_t d = 0; d < p->mr.nd; d++)
        mem[d] = (unsigned)cmemo_known(&p->memo, d, id);
}

/* SQL of the old-style scan into kp_scan (GROUP BY in SQL) of the metrics by[]. */
static void scan_sql(ectx *c, const relation *rel, unsigned keys, const char *time,
                     size_t *const by[3], const size_t n[3], int windowed_only)
{
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b, "CREATE TEMP TABLE kp_scan AS ");
    scan_head(c, rel, keys, time);
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++)
            measure_sql(b, &lib->m[by[t][i]], by[t][i]);
    from_sql(b, rel);
    if (windowed_only) {
        char lo[KP_DATE_ISO_LEN + 1], hi[KP_DATE_ISO_LEN + 1];
        sb_add(b, " AND (%s) >= '%s' AND (%s) < '%s'", time, kp_date_format_iso(c->bk.lo, lo), time,
               kp_date_format_iso(c->bk.hi, hi));
    }
    sb_add(b, " GROUP BY b");
    for (int k = 0; k < NK; k++)
        if ((keys >> k) & 1)
            sb_add(b, ", k%d", k);
}

enum { CS_VALUE, CS_ONE, CS_NCOUNT }; /* a kp_scan column: sum of a value, count(*), avg's n */

/* The kp_scan columns of cell i: sum() of a value, count(*), or an average's count of
 * rows where its value is not NULL (its value column's non-NULL addends). */
static csum *cell_sums(const cgroups *g, size_t i)
{
    return (csum *)(void *)(g->cb + i * g->cellsz);
}

static uint32_t *cell_counts(const cgroups *g, size_t i)
{
    return (uint32_t *)(void *)(g->cb + i * g->cellsz + g->nvs * sizeof(csum));
}

static void cscan_columns(const cgroups *g, const int *kind, size_t i, sval *out)
{
    const csum *vs = cell_sums(g, i);
    const uint32_t *cn = cell_counts(g, i);
    for (size_t x = 0; x < g->ncol; x++)
        if (kind[x] == CS_ONE)
            out[x] = (sval){KP_COL_INTEGER, cn[g->ncnt], 0};
        else if (kind[x] == CS_NCOUNT) /* an average's: its sum counts its values */
            out[x] = (sval){KP_COL_INTEGER, vs[g->pos[g->src[x - 1]]].cnt, 0};
        else if (g->sums[g->src[x]].mode != SM_VALUE)
            out[x] = (sval){KP_COL_INTEGER, cn[g->pos[g->src[x]]], 0};
        else
            out[x] = csum_value(&vs[g->pos[g->src[x]]]);
}

/* The cell layout of g's sums (see cgroups). */
static void cgroups_layout(cgroups *g)
{
    g->nvs = g->ncnt = 0;
    for (size_t x = 0; x < g->nsum; x++)
        g->pos[x] = g->sums[x].mode == SM_VALUE ? g->nvs++ : g->ncnt++;
    size_t sz = g->nvs * sizeof(csum) + (g->ncnt + 1) * sizeof(uint32_t);
    g->cellsz = (sz + 7) / 8 * 8;
}

/* The raw columns of a table relation that C-evaluated expressions read (expr.h): the
 * table's column names, and the row slot of each one used. */
typedef struct {
    char **name;
    int n;
    int *slot;     /* of column k, -1 while unused */
    int *raw, nraw; /* column of each slot */
} ccols;

static void ccols_free(ccols *cc)
{
    for (int k = 0; k < cc->n; k++)
        free(cc->name[k]);
    free(cc->name);
    free(cc->slot);
    free(cc->raw);
}

static int ccols_slot(void *ctx, const char *name, size_t len)
{
    ccols *cc = ctx;
    for (int k = 0; k < cc->n; k++)
        if (strlen(cc->name[k]) == len && !strncasecmp(cc->name[k], name, len)) {
            if (cc->slot[k] < 0) {
                cc->raw[cc->nraw] = k;
                cc->slot[k] = cc->nraw++;
            }
            return cc->slot[k];
        }
    return -1;
}

/* Whether C may evaluate the expressions of relation rel (*on), with its columns: a
 * table of the main schema whose columns all compare text as BINARY does (no COLLATE
 * anywhere in its definition). */
static kp_err ccols_read(ectx *c, const relation *rel, ccols *cc, int *on, kp_error *e)
{
    *on = 0;
    memset(cc, 0, sizeof *cc);
    if (!c_eval_on || rel->sql || !rel->table)
        return KP_OK;
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s, "SELECT sql FROM sqlite_master WHERE type = 'table' AND"
                                       " name = ?1", NULL, 0, &st, e);
    int r = 0, ok = 0;
    if (!rc)
        rc = kp_stmt_bind_text(st, 1, rel->table, strlen(rel->table));
    if (!rc && (r = kp_stmt_step(st, e)) == 1 && kp_stmt_column_text(st, 0)) {
        const char *def = kp_stmt_column_text(st, 0);
        ok = 1;
        for (const char *p = def; *p && ok; p++)
            ok = strncasecmp(p, "collate", 7) != 0;
    }
    kp_stmt_finalize(st);
    if (rc || r < 0)
        return rc ? rc : e && e->code ? e->code : KP_ERR_IO;
    if (!ok)
        return KP_OK;
    st = NULL;
    rc = kp_store_prepare(c->s, "SELECT name FROM pragma_table_info(?1)", NULL, 0, &st, e);
    if (!rc)
        rc = kp_stmt_bind_text(st, 1, rel->table, strlen(rel->table));
    while (!rc && (r = kp_stmt_step(st, e)) == 1) {
        char **nn = realloc(cc->name, (size_t)(cc->n + 1) * sizeof *nn);
        if (nn)
            cc->name = nn;
        if (!nn || !(cc->name[cc->n] = strdup(kp_stmt_column_text(st, 0))))
            rc = nomem(e);
        else
            cc->n++;
    }
    kp_stmt_finalize(st);
    if (!rc && r < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    cc->slot = malloc(((size_t)cc->n + 1) * sizeof *cc->slot);
    cc->raw = malloc(((size_t)cc->n + 1) * sizeof *cc->raw);
    if (!rc && (!cc->slot || !cc->raw))
        rc = nomem(e);
    for (int k = 0; !rc && k < cc->n; k++)
        cc->slot[k] = -1;
    if (rc)
        ccols_free(cc);
    else
        *on = 1;
    return rc;
}

/* The expressions a scan evaluates per row after its keys: each where as a flag (1 or 0)
 * and each value, once however many metrics share it. Those expr.c compiles are evaluated
 * in C from the raw columns (a value with its guard's wheres); the others by SQLite, the
 * flags among them read packed, bit k of one integer column (see scan_columns): one
 * column for all of them rather than one each to hand out per row. */
#define MAX_PACKED 62
typedef struct {
    char **x;            /* a flag's where, or a value's expression */
    unsigned char *flag; /* is x a flag */
    kp_expr **cx;        /* compiled: the flag's where, the value's argument; or NULL */
    int **gx;            /* a compiled value's guard: the flags of its wheres, one holds */
    int *ngx;            /* how many (-1: no guard) */
    int n;
    ccols *cc; /* the raw columns, when C may evaluate */
} exprset;

static void exprset_free(exprset *l)
{
    for (int k = 0; k < l->n; k++) {
        free(l->x[k]);
        kp_expr_free(l->cx[k]);
        free(l->gx[k]);
    }
    free(l->x);
    free(l->flag);
    free(l->cx);
    free(l->gx);
    free(l->ngx);
}

#define GROW(p, n) ((tmp_ = realloc((p), (size_t)((n) + 1) * sizeof *(p))) ? ((p) = tmp_, 0) : -1)

static int value_col(exprset *l, const char *x, int flag, const char *arg, const char *const *g,
                     int ng, int *err);

/* Compile expression k of l: a flag's where, or value arg with guards g[0..ng) (ng -1:
 * none), the guard read from the flags of its wheres (added as flags when new). Left to
 * SQLite when it does not compile. */
static void exprset_compile(exprset *l, int k, const char *arg, const char *const *g, int ng,
                            int *err)
{
    int oom = 0;
    kp_expr *cx = kp_expr_compile(l->flag[k] ? l->x[k] : arg, ccols_slot, l->cc, &oom);
    int *gx = ng > 0 ? malloc((size_t)ng * sizeof *gx) : NULL;
    if (!cx || (ng > 0 && !gx)) {
        kp_expr_free(cx);
        free(gx);
        if (oom || (cx && !gx))
            *err = 1;
        return;
    }
    l->cx[k] = cx;
    for (int j = 0; j < ng; j++)
        gx[j] = value_col(l, g[j], 1, NULL, NULL, -1, err);
    l->gx[k] = gx;
    l->ngx[k] = ng;
}

/* Index of expression x (a flag or not) in l, added when new (a value with its argument
 * and guards, for C). */
static int value_col(exprset *l, const char *x, int flag, const char *arg, const char *const *g,
                     int ng, int *err)
{
    for (int k = 0; k < l->n; k++)
        if (l->flag[k] == flag && !strcmp(l->x[k], x))
            return k;
    void *tmp_;
    if (GROW(l->x, l->n) || GROW(l->flag, l->n) || GROW(l->cx, l->n) || GROW(l->gx, l->n) ||
        GROW(l->ngx, l->n) || !(l->x[l->n] = strdup(x))) {
        *err = 1;
        return -1;
    }
    int k = l->n++;
    l->flag[k] = (unsigned char)flag;
    l->cx[k] = NULL;
    l->gx[k] = NULL;
    l->ngx[k] = -1;
    if (l->cc)
        exprset_compile(l, k, arg, g, ng, err); /* may add the flags of its guard */
    return k;
}

/* The flag of where w (-1 without one). */
static int flag_col(exprset *l, const char *w, int *err)
{
    return w ? value_col(l, w, 1, NULL, NULL, -1, err) : -1;
}

/* The value of expression arg, read only on rows where some metric using it (of
 * list[0..n)) holds: its CASE no longer guards it once evaluated apart from the where
 * (each where named once). A bare column needs no guard. */
static int arg_col(exprset *l, const kp_metric_lib *lib, const size_t *list, size_t n,
                   const char *arg, int *err)
{
    sb one = {0};
    const char **g = malloc((n + 1) * sizeof *g);
    int guard = !is_ident(arg), ng = 0;
    for (size_t i = 0; i < n && guard; i++)
        guard = strcmp(lib->m[list[i]].arg, arg) || lib->m[list[i]].where;
    if (!g) {
        *err = 1;
        return -1;
    }
    if (guard) {
        sb_add(&one, "CASE WHEN 0");
        for (size_t i = 0; i < n; i++) {
            if (strcmp(lib->m[list[i]].arg, arg))
                continue;
            size_t j = 0;
            while (j < i && (strcmp(lib->m[list[j]].arg, arg) ||
                             strcmp(lib->m[list[j]].where, lib->m[list[i]].where)))
                j++;
            if (j == i) {
                sb_add(&one, " OR (%s)", lib->m[list[i]].where);
                g[ng++] = lib->m[list[i]].where;
            }
        }
        sb_add(&one, " THEN (%s) END", arg);
    } else {
        sb_add(&one, "(%s)", arg);
    }
    int k = one.oom ? (*err = 1, -1) : value_col(l, one.p, 0, arg, g, guard ? ng : -1, err);
    free(one.p);
    free(g);
    return k;
}

/* The SELECT's columns of l (after the keys): the first MAX_PACKED flags SQLite evaluates
 * as bits of one integer, then one column per other expression SQLite evaluates, then
 * the raw columns of those C evaluates. at[k]: the column of expression k (from 0 after
 * the keys; -1: C), bit[k] its bit in column 0 or -1; *rawat the first raw column. */
static void scan_columns(sb *b, const exprset *l, int *at, int *bit, int *rawat)
{
    int nbit = 0, col = 0;
    for (int k = 0; k < l->n; k++) {
        bit[k] = l->flag[k] && !l->cx[k] && nbit < MAX_PACKED ? nbit++ : -1;
        if (bit[k] >= 0)
            sb_add(b, "%s CASE WHEN (%s) THEN %lld ELSE 0 END", bit[k] ? " |" : ",", l->x[k],
                   1LL << bit[k]);
    }
    col = nbit > 0;
    for (int k = 0; k < l->n; k++) {
        at[k] = bit[k] >= 0 ? 0 : l->cx[k] ? -1 : col++;
        if (bit[k] < 0 && !l->cx[k] && l->flag[k])
            sb_add(b, ", CASE WHEN (%s) THEN 1 ELSE 0 END", l->x[k]);
        else if (bit[k] < 0 && !l->cx[k])
            sb_add(b, ", %s", l->x[k]);
    }
    *rawat = col;
    for (int r = 0; l->cc && r < l->cc->nraw; r++) {
        sb_add(b, ", \"");
        for (const char *p = l->cc->name[l->cc->raw[r]]; *p; p++)
            sb_add(b, *p == '"' ? "\"\"" : "%c", *p);
        sb_add(b, "\"");
    }
}

/* bucket_sql's CASE in C, for a time column whose text it compares: the ISO texts of
 * the bounds and of the mid-month bucket starts. */
typedef struct {
    char lo[KP_DATE_ISO_LEN + 1], hi[KP_DATE_ISO_LEN + 1];
    char (*extra)[2][KP_DATE_ISO_LEN + 1]; /* start, and the next month's start */
    size_t nextra;
} cbuckets;

static int cbuckets_init(cbuckets *cb, const buckets *bk)
{
    kp_date_format_iso(bk->lo, cb->lo);
    kp_date_format_iso(bk->hi, cb->hi);
    cb->nextra = bk->nextra;
    cb->extra = malloc((bk->nextra + 1) * sizeof *cb->extra);
    if (!cb->extra)
        return -1;
    for (size_t i = 0; i < bk->nextra; i++) {
        kp_date_format_iso(bk->extra[i], cb->extra[i][0]);
        kp_date_format_iso(kp_date_month_start(bk->extra[i], 1), cb->extra[i][1]);
    }
    return 0;
}

static void cbuckets_free(cbuckets *cb)
{
    free(cb->extra);
}

/* Text v against literal lit as SQLite's BINARY collation orders them. */
static int text_cmp(const kp_xval *v, const char *lit)
{
    size_t n = strlen(lit);
    int r = memcmp(v->s, lit, v->n < n ? v->n : n);
    return r ? r : (v->n > n) - (v->n < n);
}

/* The bucket text bucket_sql gives time value v, in out: 1, or 0 for NULL; -1 when SQLite
 * must (not text, or a first seven characters that are not all ASCII for substr()). */
static int c_bucket(const cbuckets *cb, const kp_xval *v, char *out)
{
    if (v->t == KP_COL_NULL)
        return 0;
    if (v->t != KP_COL_TEXT)
        return -1;
    if (text_cmp(v, cb->hi) >= 0)
        return 0;
    if (text_cmp(v, cb->lo) < 0) {
        memcpy(out, "0000-00-00", KP_DATE_ISO_LEN + 1);
        return 1;
    }
    for (size_t i = cb->nextra; i-- > 0;)
        if (text_cmp(v, cb->extra[i][0]) >= 0 && text_cmp(v, cb->extra[i][1]) < 0) {
            memcpy(out, cb->extra[i][0], KP_DATE_ISO_LEN + 1);
            return 1;
        }
    size_t n = v->n < 7 ? v->n : 7;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)v->s[k] >= 0x80 || !v->s[k])
            return -1;
    memcpy(out, v->s, n);
    memcpy(out + n, "-01", 4);
    return 1;
}

/* Column `at` of the current row as expr.h reads it. */
static kp_xval raw_value(kp_stmt *st, int at)
{
    kp_xval v = {kp_stmt_column_type(st, at), 0, 0, NULL, 0};
    if (v.t == KP_COL_INTEGER) {
        v.i = kp_stmt_column_int64(st, at);
    } else if (v.t == KP_COL_REAL) {
        v.d = kp_stmt_column_double(st, at);
    } else if (v.t != KP_COL_NULL) {
        v.s = kp_stmt_column_text(st, at);
        v.n = kp_stmt_column_bytes(st, at);
    }
    return v;
}

/* Expression k of l, evaluated in C on the raw row, a value after the flags of its
 * guard (vals): 0, or -1 when SQLite must. */
static int c_value(const exprset *l, int k, const kp_xval *row, const sval *vals, sval *out)
{
    if (l->flag[k]) {
        int h = kp_expr_holds(l->cx[k], row);
        *out = (sval){KP_COL_INTEGER, h, 0};
        return h < 0 ? -1 : 0;
    }
    int on = l->ngx[k] < 0;
    for (int j = 0; j < l->ngx[k] && !on; j++)
        on = vals[l->gx[k][j]].i != 0;
    kp_xval v = {KP_COL_NULL, 0, 0, NULL, 0};
    if (on && kp_expr_eval(l->cx[k], row, &v))
        return -1;
    *out = (sval){v.t, v.i, v.d};
    return 0;
}

/* The sum of g adding u, added when new. */
static int sum_of(cgroups *g, size_t cap, sumsrc u)
{
    for (size_t k = 0; k < g->nsum; k++)
        if (g->sums[k].flag == u.flag && g->sums[k].val == u.val && g->sums[k].mode == u.mode)
            return (int)k;
    assert(g->nsum < cap);
    (void)cap;
    g->sums[g->nsum] = u;
    return (int)g->nsum++;
}

/* The grouped scan of relation r in C: one pass over its rows, SQL evaluating each row's
 * where and value expressions, C summing them per (bucket, keys) cell as kp_scan's GROUP
 * BY would (no sort of a million rows), rolling the cells up (crollup) and ranking
 * the rows of the median metrics on the same time column (medians_finish). *done = 0
 * (and nothing written) when the scan needs what only SQL does: min or max, values that
 * are text, keys that are not text, an integer overflow. */
static kp_err cscan_relation(ectx *c, size_t r, const char *time, unsigned keys,
                             size_t *const by[3], const size_t n[3], int windowed_only, int ceval,
                             int *done, int *bailed, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const relation *rel = &lib->r[r];
    *done = 0;
    size_t nmet = n[0] + n[1] + n[2], ncol = 0;
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++) {
            afn f = lib->m[by[t][i]].fn;
            if (f != A_SUM && f != A_COUNT && f != A_AVG)
                return KP_OK;
            ncol += f == A_AVG ? 2 : 1;
        }
    if (nmet > 64)
        return KP_OK;
    ccols cc;
    int con = 0;
    memset(&cc, 0, sizeof cc);
    kp_err crc = ceval ? ccols_read(c, rel, &cc, &con, e) : KP_OK;
    if (crc)
        return crc;
    cgroups g;
    memset(&g, 0, sizeof g);
    g.nkey = 1;
    for (int k = 0; k < NK; k++)
        if ((keys >> k) & 1)
            g.keyof[g.nkey++] = k;
    g.ncol = ncol;
    int *kind = calloc(ncol + 1, sizeof *kind);
    g.src = calloc(ncol + 1, sizeof *g.src);
    g.sums = calloc(ncol + 1, sizeof *g.sums);
    pend_medians *pm = calloc(1, sizeof *pm);
    size_t *all = malloc((nmet + MAX_MEDIANS + 1) * sizeof *all), nall = 0;
    exprset ex = {NULL, NULL, NULL, NULL, NULL, 0, con ? &cc : NULL};
    int err = !kind || !g.src || !g.sums || !pm || !all;
    sb *b = &c->sql;
    sb_reset(b);
    /* the bucket of a bare time column in C too (c_bucket): SQL hands out the raw text */
    int tslot = con && time && is_ident(time) ? ccols_slot(&cc, time, strlen(time)) : -1;
    cbuckets cb;
    if (tslot >= 0 && cbuckets_init(&cb, &c->bk))
        err = 1;
    scan_head(c, rel, keys, tslot >= 0 ? NULL : time);
    int first = (int)g.nkey;
    if (!err) { /* every metric reading this scan's rows, for arg_col's guards */
        pm->n = find_medians(lib, r, time, pm->idx);
        for (int t = 0; t < 3; t++)
            for (size_t i = 0; i < n[t]; i++)
                all[nall++] = by[t][i];
        for (size_t k = 0; k < pm->n; k++)
            all[nall++] = pm->idx[k];
    }
    size_t j = 0;
    for (int t = 0; t < 3 && !err; t++)
        for (size_t i = 0; i < n[t] && !err; i++) {
            const metric *m = &lib->m[by[t][i]];
            int star = !strcmp(m->arg, "*");
            if (m->fn == A_COUNT && star && !m->where) {
                kind[j++] = CS_ONE;
                continue;
            }
            sumsrc u = {flag_col(&ex, m->where, &err),
                        star ? -1 : arg_col(&ex, lib, all, nall, m->arg, &err),
                        m->fn != A_COUNT ? SM_VALUE
                        : star           ? SM_ONE
                                         : SM_NOTNULL};
            kind[j] = CS_VALUE;
            g.src[j++] = sum_of(&g, ncol, u);
            if (m->fn == A_AVG)
                kind[j++] = CS_NCOUNT; /* rows where c's value is not NULL */
        }
    /* the median metrics on these rows: a flag and a value column each */
    for (size_t k = 0; k < pm->n && !err; k++) {
        const metric *m = &lib->m[pm->idx[k]];
        pm->fcol[k] = flag_col(&ex, m->where, &err);
        pm->vcol[k] = arg_col(&ex, lib, all, nall, m->arg, &err);
    }
    g.nsrc = ex.n;
    cgroups_layout(&g);
    int *colat = malloc(((size_t)ex.n + 1) * sizeof *colat), packed = 0, rawat = 0, anyc = 0;
    int *bit = malloc(((size_t)ex.n + 1) * sizeof *bit);
    kp_xval *xrow = malloc(((size_t)cc.nraw + 1) * sizeof *xrow);
    if (!colat || !bit || !xrow)
        err = 1;
    else
        scan_columns(b, &ex, colat, bit, &rawat);
    for (int k = 0; k < ex.n && !err; k++) {
        packed |= bit[k] >= 0;
        anyc |= ex.cx[k] != NULL;
    }
    anyc |= tslot >= 0;
    free(all);
    from_sql(b, rel);
    if (windowed_only) {
        char lo[KP_DATE_ISO_LEN + 1], hi[KP_DATE_ISO_LEN + 1];
        sb_add(b, " AND (%s) >= '%s' AND (%s) < '%s'", time, kp_date_format_iso(c->bk.lo, lo), time,
               kp_date_format_iso(c->bk.hi, hi));
    }
    kp_err rc = err || b->oom ? nomem(e) : KP_OK;
    if (!rc && pm->n) {
        medians_setup(c, pm->idx, pm->n, &pm->mr);
        pm->mr.pend = pm; /* its rows are g's cells */
        pm->g = &g;
        if (mrows_periods(&pm->mr, c, T_WINDOW))
            rc = nomem(e);
        cmemo_init(&pm->memo, &g, pm->mr.dim, pm->mr.nd);
    }
    if (!rc && ((keys >> K_REP) & 1))
        rc = repmap_read(c, &g.reps, e);
    kp_stmt *st = NULL;
    if (!rc)
        rc = kp_store_prepare(c->s, b->p, lib->m[by[0] ? by[0][0] : 0].file, 0, &st, e);
    if (!rc)
        rc = kp_stmt_bind_vars(st, &c->vars, e);
    int step = 0, unsupported = 0;
    sval *vals = calloc((size_t)g.nsrc + 1, sizeof *vals);
    if (!rc && !vals)
        rc = nomem(e);
    while (!rc && !unsupported && (step = kp_stmt_step(st, e)) == 1) {
        unsigned id[NK + 1];
        for (int x = 0; x < cc.nraw && anyc; x++)
            xrow[x] = raw_value(st, first + rawat + x);
        for (size_t k = 0; k < g.nkey && !rc; k++) {
            if (!k && tslot >= 0) {
                char bt[KP_DATE_ISO_LEN + 1];
                int in = c_bucket(&cb, &xrow[tslot], bt);
                long v = in > 0 ? strset_id(&g.kv[0], bt) : -1;
                if (in < 0) {
                    *bailed = unsupported = 1;
                    break;
                }
                if (in > 0 && v < 0)
                    rc = nomem(e);
                id[0] = (unsigned)(v + 1);
                continue;
            }
            kp_coltype ty = kp_stmt_column_type(st, (int)k);
            if (ty != KP_COL_NULL && ty != KP_COL_TEXT) {
                unsupported = 1;
                break;
            }
            long v = ty == KP_COL_NULL ? -1 : strset_id(&g.kv[k], kp_stmt_column_text(st, (int)k));
            if (ty != KP_COL_NULL && v < 0)
                rc = nomem(e);
            id[k] = (unsigned)(v + 1);
        }
        if (rc || unsupported)
            break;
        long cell = cgroups_cell(&g, id);
        if (cell < 0) {
            rc = nomem(e);
            break;
        }
        int64_t flags = packed ? kp_stmt_column_int64(st, first) : 0;
        for (int pass = 0; pass < 2 && !unsupported; pass++) /* flags, then values */
            for (int k = 0; k < g.nsrc; k++) {
                if (ex.flag[k] == pass)
                    continue;
                if (bit[k] >= 0) {
                    vals[k] = (sval){KP_COL_INTEGER, (flags >> bit[k]) & 1, 0};
                    continue;
                }
                if (ex.cx[k] && c_value(&ex, k, xrow, vals, &vals[k])) {
                    *bailed = unsupported = 1; /* again, with SQLite evaluating */
                    break;
                }
                if (!ex.cx[k])
                    vals[k] = stmt_value(st, first + colat[k]);
                if (vals[k].t == KP_COL_TEXT || vals[k].t == KP_COL_BLOB)
                    unsupported = 1;
            }
        if (unsupported)
            break;
        csum *vs = cell_sums(&g, (size_t)cell);
        uint32_t *cn = cell_counts(&g, (size_t)cell);
        for (size_t x = 0; x < g.nsum; x++) {
            sval v = sumsrc_value(&g.sums[x], vals);
            if (g.sums[x].mode != SM_VALUE)
                cn[g.pos[x]] += (uint32_t)v.i; /* 0 or 1: at most the row count */
            else if (v.t != KP_COL_NULL)
                csum_add(&vs[g.pos[x]], &v);
        }
        if (++cn[g.ncnt] == UINT32_MAX)
            unsupported = 1;
        if (pm->n && id[0]) {
            long bucket = cgroups_bucket(&g, &c->bk, id[0]);
            if (bucket == -2)
                rc = nomem(e);
            else if (bucket >= 0 && (size_t)bucket != c->bk.nb && pend_row(pm, vals, id, (size_t)cell))
                rc = nomem(e);
        }
    }
    if (!rc && !unsupported && step < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    free(g.slot); /* no cell is added from here on */
    g.slot = NULL;
    g.nslot = 0;
    free(vals);
    free(colat);
    free(bit);
    free(xrow);
    exprset_free(&ex);
    ccols_free(&cc);
    if (tslot >= 0)
        cbuckets_free(&cb);
    if (rc && e && e->code != KP_ERR_NOMEM) {
        const metric *m = &lib->m[by[0][0]];
        char msg[KP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "[metric %.60s]: %.900s", m->name, e->msg);
        kp_error_set(e, KP_ERR_CONFIG, m->file, m->expr_line, 0, "%s", msg);
    }
    for (size_t i = 0; i < g.ncell && !rc && !unsupported; i++)
        for (size_t x = 0; x < g.nvs; x++)
            unsupported |= cell_sums(&g, i)[x].overflow; /* SQL reports it */
    if (rc || unsupported) {
        free(kind);
        pend_free(pm);
        cgroups_free(&g);
        return rc;
    }
    /* The medians ranked first: their values freed before the roll-up's arrays. */
    if (pm->n && medians_rank(&pm->mr)) {
        rc = nomem(e);
        pend_free(pm);
        free(kind);
        cgroups_free(&g);
        return rc;
    }
    /* The cells in GROUP BY's order, then rolled up as crollup_read would read kp_scan. */
    size_t *order = malloc((g.ncell + 1) * sizeof *order);
    crollup cr;
    crollup_setup(c, keys, by, n, &cr);
    if (!order)
        rc = nomem(e);
    for (size_t i = 0; i < g.ncell && !rc; i++)
        order[i] = i;
    sort_groups = &g;
    if (!rc)
        qsort(order, g.ncell, sizeof *order, cmp_cells);
    sval *out = malloc((g.ncol + 1) * sizeof *out);
    /* each cell's member ids, looked up again for the fractional sums below */
    cmemo cm;
    cmemo_init(&cm, &g, cr.dim, cr.nd);
    for (size_t d = 0; d < cr.nd; d++) {
        /* a dimension whose member is a key has at most its values and "(none)": room
         * for exactly those, not the next power of two (200 reps: 201, not 256) */
        int keyed = cr.dim[d] == D_REP || cr.dim[d] == D_PRODUCT || cr.dim[d] == D_FC ||
                    cr.dim[d] == D_STAGE;
        cr.hint[d] = cr.dim[d] == D_COMPANY ? 1 : keyed ? g.kv[cm.kpos[d]].n + 1 : 0;
    }
    int odd_bucket = 0; /* a bucket text no bucket start spells (malformed dates) */
    if (!rc && !out)
        rc = nomem(e);
    for (size_t i = 0; i < g.ncell && !rc; i++) {
        const unsigned *id = g.ck + order[i] * g.nkey;
        cscan_columns(&g, kind, order[i], out);
        long ids[ND], slot = cgroups_slot(&g, &c->bk, id);
        if (slot == -2) {
            rc = nomem(e);
            break;
        }
        odd_bucket |= slot < 0;
        size_t bk = slot < 0 || slot == 0 ? c->bk.nb + 1 : slot == 1 ? c->bk.nb : (size_t)slot - 2;
        for (size_t d = 0; d < cr.nd && !rc; d++) {
            ids[d] = cmemo_member(&cm, d, cr.dim[d], &g, id, &cr.members[d]);
            if (ids[d] < 0 || crollup_grow(&cr, d, (size_t)ids[d]))
                rc = nomem(e);
            else
                cr.hit[d][(size_t)ids[d] * cr.nbk + bk] = 1;
        }
        for (size_t x = 0; x < cr.nmet && !rc; x++) {
            crollup_value(&cr, &out[cr.col[x]], x, cr.col[x], ids, bk);
            if (lib->m[cr.met[x]].fn == A_AVG)
                crollup_value(&cr, &out[cr.col[x] + 1], x, cr.col[x] + 1, ids, bk);
        }
    }
    /* Fractional sums of window and stock metrics in C, in SQL's order of addition. */
    frollup fr;
    memset(&fr, 0, sizeof fr);
    for (int t = 0; t < 3 && !rc && !odd_bucket; t += 2)
        for (size_t i = 0; i < n[t]; i++)
            if (lib->m[by[t][i]].fn == A_SUM && crollup_slot(&cr, by[t][i]) < 0)
                fr.met[fr.n++] = by[t][i];
    for (size_t f = 0; f < fr.n; f++) { /* its kp_scan column: crollup numbers them alike */
        size_t x = 0;
        while (cr.met[x] != fr.met[f])
            x++;
        fr.col[f] = cr.col[x];
    }
    fr.nslot = c->bk.nb + 2;
    for (size_t d = 0; d < cr.nd && !rc && fr.n; d++) {
        fr.nmem[d] = cr.members[d].n;
        fr.part[d] = calloc(fr.nmem[d] * fr.nslot * fr.n + 1, sizeof *fr.part[d]);
        fr.hit[d] = calloc(fr.nmem[d] * fr.nslot + 1, 1);
        if (!fr.part[d] || !fr.hit[d])
            rc = nomem(e);
    }
    for (size_t i = 0; i < g.ncell && !rc && fr.n; i++) {
        const unsigned *id = g.ck + order[i] * g.nkey;
        cscan_columns(&g, kind, order[i], out);
        size_t slot = (size_t)cgroups_slot(&g, &c->bk, id); /* known: no odd bucket */
        for (size_t d = 0; d < cr.nd; d++) {
            size_t at = (size_t)cmemo_known(&cm, d, id) * fr.nslot + slot;
            fr.hit[d][at] = 1;
            for (size_t f = 0; f < fr.n; f++)
                if (out[fr.col[f]].t != KP_COL_NULL)
                    ssum_add(&fr.part[d][at * fr.n + f], &out[fr.col[f]]);
        }
    }
    /* Metrics C cannot roll up exactly are rolled up in SQL from kp_scan, written here
     * row for row as the SQL scan would have made it. */
    int with_table = 0;
    for (int t = 0; t < 3 && !rc; t++)
        for (size_t i = 0; i < n[t]; i++)
            with_table |= crollup_slot(&cr, by[t][i]) < 0 && frollup_slot(&fr, by[t][i]) < 0;
    if (with_table) {
        scan_sql(c, rel, keys, time, by, n, windowed_only);
        sb_add(b, " LIMIT 0");
        rc = run_sql(c, &lib->m[by[0][0]], e);
        sb_reset(b);
        sb_add(b, "INSERT INTO kp_scan VALUES(?1");
        for (size_t x = 1; x < g.nkey + g.ncol; x++)
            sb_add(b, ", ?%zu", x + 1);
        sb_add(b, ")");
        if (!rc)
            rc = b->oom ? nomem(e) : kp_store_prepare(c->s, b->p, NULL, 0, &st, e);
        for (size_t i = 0; i < g.ncell && !rc; i++) {
            const unsigned *id = g.ck + order[i] * g.nkey;
            cscan_columns(&g, kind, order[i], out);
            for (size_t k = 0; k < g.nkey; k++) {
                const char *s = cgroups_str(&g, k, id[k]);
                if (s)
                    kp_stmt_bind_text(st, (int)k + 1, s, strlen(s));
            }
            for (size_t x = 0; x < g.ncol; x++) {
                sval v = out[x];
                int at = (int)(g.nkey + x) + 1;
                if (v.t == KP_COL_INTEGER)
                    kp_stmt_bind_int64(st, at, v.i);
                else if (v.t == KP_COL_REAL)
                    kp_stmt_bind_double(st, at, v.d);
            }
            if (kp_stmt_step(st, e) < 0)
                rc = e && e->code ? e->code : KP_ERR_IO;
            kp_stmt_reset(st);
        }
        kp_stmt_finalize(st);
    }
    /* The scan's cells are spent: freed before the medians' sorts and the wide rows
     * take their room. */
    free(out);
    cmemo_free(&cm);
    free(order);
    free(kind);
    cgroups_free(&g);
    if (!rc && pm->n)
        rc = medians_finish(c, pm->idx, &pm->mr, 1, e);
    pend_free(pm);
    if (!rc)
        rc = crollup_finish(c, keys, &cr, &fr, by, n, e);
    if (!rc && with_table)
        rc = kp_store_exec(c->s, "DROP TABLE kp_scan", e);
    frollup_free(&fr);
    crollup_free(&cr);
    if (!rc)
        *done = 1;
    return rc;
}

/* Distinct counts do not add up across buckets: their rows (bucket, keys, value) are
 * kept and counted per member and period in SQL, which compares values as SQL does.
 * (Medians, the other such aggregate, are eval_medians'.) */
static kp_err eval_distinct(ectx *c, size_t i, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const metric *m = &lib->m[i];
    const relation *rel = &lib->r[m->rel];
    const char *arg = m->arg + 9; /* after "DISTINCT " */
    unsigned keys = scan_keys(lib, rel);
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b, "CREATE TEMP TABLE kp_scan AS ");
    scan_head(c, rel, keys, m->tm == T_STOCK ? NULL : m->time);
    sb_add(b, ", (%s) AS v", arg);
    from_sql(b, rel);
    sb_add(b, " AND (%s) IS NOT NULL", arg);
    if (m->where)
        sb_add(b, " AND (%s)", m->where);
    kp_err rc = run_sql(c, m, e);
    if (!rc)
        rc = new_result(c, &i, 1, e);
    const char *map = m->tm == T_STOCK    ? "kpi_period m ON 1"
                      : m->tm == T_BEFORE ? "kp_bmap_before m ON m.bucket = s.b"
                                          : "kp_bmap m ON m.bucket = s.b";
    for (int d = 0; d < ND && !rc; d++) {
        if (!dim_supported(lib, keys, d))
            continue;
        sb_reset(b);
        sb_add(b,
               "INSERT INTO kp_r%d SELECT '%s', member, grain, period_start,"
               " count(DISTINCT v) FROM (SELECT ",
               c->nres - 1, dim_names[d]);
        member_sql(b, d);
        sb_add(b, " AS member, m.grain, m.period_start, s.v FROM kp_scan s JOIN %s", map);
        join_reps(b, keys);
        sb_add(b, ") GROUP BY 2, 3, 4");
        rc = run_sql(c, m, e);
    }
    if (!rc)
        rc = kp_store_exec(c->s, "DROP TABLE kp_scan", e);
    return rc;
}

/* Whether an index leads with rel's snapshot column (*yes): from_sql's rowid range finds
 * its ends through one; without one each end would cost a scan of the whole table, more
 * than reading it all once and keeping the latest snapshot's rows. */
static kp_err snapshot_index(ectx *c, const relation *rel, int *yes, kp_error *e)
{
    kp_vars v = {0};
    int64_t n = 0;
    kp_err rc = kp_vars_set(&v, "t", rel->table) || kp_vars_set(&v, "c", rel->latest)
                    ? nomem(e)
                    : kp_store_query_int64(c->s,
                                           "SELECT count(*) FROM pragma_index_list(:t) AS l,"
                                           " pragma_index_info(l.name) AS i WHERE i.seqno = 0"
                                           " AND i.name = :c COLLATE NOCASE",
                                           &v, 0, &n, e);
    kp_vars_clear(&v);
    *yes = n > 0;
    return rc;
}

/* Availability: an optional relation whose table is missing or empty makes its metrics,
 * and every metric built on them, unavailable (NULL), never zero. */
static kp_err availability(ectx *c, kp_metric_lib *lib, kp_error *e)
{
    for (size_t r = 0; r < lib->nr; r++) {
        relation *rel = &lib->r[r];
        rel->available = 1;
        rel->seq = 0;
        if (rel->table && rel->latest) { /* a view or WITHOUT ROWID table has no rowid */
            sb q = {0};
            kp_stmt *st = NULL;
            sb_add(&q, "SELECT rowid FROM %s LIMIT 0", rel->table);
            if (q.oom)
                return nomem(e);
            rel->seq = kp_store_prepare(c->s, q.p, NULL, 0, &st, NULL) == KP_OK;
            kp_stmt_finalize(st);
            free(q.p);
            kp_err rc = rel->seq ? snapshot_index(c, rel, &rel->seq, e) : KP_OK;
            if (rc)
                return rc;
        }
        if (!rel->optional)
            continue;
        int64_t n = 0;
        kp_vars v = {0};
        if (rel->table && kp_vars_set(&v, "t", rel->table))
            return nomem(e);
        kp_err rc = KP_OK;
        if (rel->table)
            rc = kp_store_query_int64(c->s,
                                      "SELECT count(*) FROM sqlite_master WHERE type IN"
                                      " ('table', 'view') AND name = :t",
                                      &v, 0, &n, e);
        kp_vars_clear(&v);
        if (!rc && (n || !rel->table)) {
            sb q = {0};
            sb_add(&q, "SELECT EXISTS(SELECT 1");
            from_sql(&q, rel);
            sb_add(&q, ")");
            rc = q.oom ? nomem(e) : kp_store_query_int64(c->s, q.p, &c->vars, 0, &n, e);
            free(q.p);
        }
        if (rc)
            return rc;
        rel->available = n != 0;
    }
    for (size_t k = 0; k < lib->n; k++) {
        metric *m = &lib->m[lib->order[k]];
        m->ok = 1;
        snprintf(m->status, sizeof m->status, "ok");
        if (m->kind == MK_AGG && !lib->r[m->rel].available) {
            m->ok = 0;
            snprintf(m->status, sizeof m->status, "unavailable: no %s data loaded",
                     lib->r[m->rel].name);
        }
        for (size_t d = 0; d < m->ndeps && m->ok; d++)
            if (!lib->m[m->deps[d]].ok) {
                m->ok = 0;
                snprintf(m->status, sizeof m->status, "unavailable: needs %s",
                         lib->m[m->deps[d]].name);
            }
        const char *x = m->expr ? m->expr : m->rollup ? m->rollup : "";
        if (m->ok && strstr(x, ":gross_margin") && !c->job->gross_margin) {
            m->ok = 0;
            snprintf(m->status, sizeof m->status,
                     "unavailable: set gross_margin in the job's [job] section");
        }
    }
    return KP_OK;
}

/* Drop result tables kp_r<from>..kp_r<to-1>, then run `then` (when given). */
static kp_err drop_results(ectx *c, int from, int to, const char *then, kp_error *e)
{
    kp_err rc = KP_OK;
    for (int t = from; t < to && !rc; t++) {
        sb_reset(&c->sql);
        sb_add(&c->sql, "DROP TABLE kp_r%d", t);
        rc = run_sql(c, NULL, e);
    }
    return rc || !then ? rc : exec_sql(c, then, e);
}

/* The key columns of one wide row: dimension, member, grain, period start (ISO). */
static void bind_row_key(kp_stmt *st, const char *dim, const char *member, const char *grain,
                         const char *start)
{
    kp_stmt_bind_text(st, 1, dim, strlen(dim));
    kp_stmt_bind_text(st, 2, member, strlen(member));
    kp_stmt_bind_text(st, 3, grain, strlen(grain));
    kp_stmt_bind_text(st, 4, start, KP_DATE_ISO_LEN);
}

/* The period of kpi_period's row (grain, period_start), -1 none; iso[p] is period p's
 * start. */
static long period_of(const ectx *c, char (*iso)[KP_DATE_ISO_LEN + 1], const char *grain,
                      const char *start)
{
    for (size_t p = 0; grain && start && p < c->ps.n; p++)
        if (!strcmp(grain_names[c->ps.p[p].grain], grain) && !strcmp(iso[p], start))
            return (long)p;
    return -1;
}

/* Read the result tables kp_r<from>..kp_r<to-1> that SQL wrote into the wide rows (each
 * metric from the table that holds it last), then drop them. A member new to the wide
 * rows is added only with add_members (else its rows are left out, as a LEFT JOIN on
 * the wide rows leaves them). */
static kp_err wide_absorb(ectx *c, int from, int to, int add_members, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    wres *w = c->w;
    sb *b = &c->sql;
    char(*iso)[KP_DATE_ISO_LEN + 1] = malloc((c->ps.n + 1) * sizeof *iso);
    size_t *cols = malloc((lib->n + 1) * sizeof *cols);
    kp_err rc = iso && cols ? KP_OK : nomem(e);
    for (size_t p = 0; p < c->ps.n && !rc; p++)
        kp_date_format_iso(c->ps.p[p].start, iso[p]);
    for (int t = from; t < to && !rc; t++) {
        size_t n = 0;
        sb_reset(b);
        sb_add(b, "SELECT dimension, member, grain, period_start");
        for (size_t i = 0; i < lib->n; i++)
            if (c->res_of[i] == t) {
                sb_add(b, ", m%zu", i);
                cols[n++] = i;
            }
        sb_add(b, " FROM kp_r%d", t);
        kp_stmt *st = NULL;
        rc = b->oom ? nomem(e) : kp_store_prepare(c->s, b->p, NULL, 0, &st, e);
        for (size_t j = 0; j < n; j++)
            wres_claim(w, cols[j]);
        int step = 0;
        while (!rc && (step = kp_stmt_step(st, e)) == 1) {
            const char *dim = kp_stmt_column_text(st, 0);
            int d = 0;
            while (d < ND && !(dim && !strcmp(dim, dim_names[d])))
                d++;
            const char *mem = kp_stmt_column_text(st, 1);
            long p = period_of(c, iso, kp_stmt_column_text(st, 2), kp_stmt_column_text(st, 3));
            if (d == ND || !mem || p < 0)
                continue; /* no key of the wide rows */
            long k = add_members ? wres_member(w, d, mem) : strset_find(&w->members[d], mem);
            if (k == -1 && add_members)
                rc = nomem(e);
            if (k < 0)
                continue;
            double *row = wres_row(w, d, k, (size_t)p);
            for (size_t j = 0; j < n; j++)
                row[w->col[cols[j]]] = kp_stmt_column_type(st, (int)j + 4) == KP_COL_NULL
                                           ? NAN
                                           : kp_stmt_column_double(st, (int)j + 4);
        }
        if (!rc && step < 0)
            rc = e && e->code ? e->code : KP_ERR_IO;
        kp_stmt_finalize(st);
        for (size_t j = 0; j < n; j++)
            c->res_of[cols[j]] = RES_WIDE;
    }
    free(iso);
    free(cols);
    return rc ? rc : drop_results(c, from, to, NULL, e);
}

/* Whether wide column i reads as a result table's REAL column would (a plain value), or
 * else as an expression over it (a sum or count that is 0 where nothing happened, or no
 * value at all): the wide table's declared type, which kpi_wide's columns inherit. */
static int wide_real(const ectx *c, size_t i)
{
    const metric *m = &c->lib->m[i];
    if (!m->ok || c->res_of[i] < 0)
        return 0;
    return m->kind == MK_ROLLUP || (m->fn != A_SUM && m->fn != A_COUNT && m->fn != A_DISTINCT);
}

static const char *const *sort_wide_names;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(sort_wide_names[*(const size_t *)a], sort_wide_names[*(const size_t *)b]);
}

/* Write the wide rows as table `name` (a new temp table), in the order of its key
 * (dimension, member, grain, period start), one INSERT per row: the rep rows only with
 * rep_only, the rollup metrics' columns with rollups, only the aggregate columns
 * need[i] given need. A sum or count of an available
 * source is 0 where nothing happened in the dimensions it has; min, max, averages and
 * medians stay NULL. */
static kp_err wide_write(ectx *c, const char *name, int rep_only, int rollups, const char *need,
                         kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    const wres *w = c->w;
    sb *b = &c->sql;
    sb_reset(b);
    sb_add(b,
           "CREATE TEMP TABLE %s(dimension TEXT, member TEXT, grain TEXT, period_start TEXT,"
           " pdays",
           name);
    size_t ncol = 5;
    for (int pass = 0; pass < 1 + rollups; pass++)
        for (size_t i = 0; i < lib->n; i++)
            if (lib->m[i].kind == (pass ? MK_ROLLUP : MK_AGG) && (pass || !need || need[i])) {
                sb_add(b, ", m%zu%s", i, wide_real(c, i) ? " REAL" : "");
                ncol++;
            }
    /* Keyed by the key itself (the rows come in its order): no index beside the rows,
     * which at 100k deals was ~2 MB of the stage's peak (temp tables live in memory). */
    sb_add(b, ", PRIMARY KEY(dimension, member, grain, period_start)) WITHOUT ROWID");
    kp_err rc = run_sql(c, NULL, e);
    sb_reset(b);
    sb_add(b, "INSERT INTO %s VALUES(?1", name);
    for (size_t x = 1; x < ncol; x++)
        sb_add(b, ", ?%zu", x + 1);
    sb_add(b, ")");
    kp_stmt *st = NULL;
    if (!rc)
        rc = b->oom ? nomem(e) : kp_store_prepare(c->s, b->p, NULL, 0, &st, e);
    /* rows in key order: dimensions, members and grains by name, then period start */
    size_t dord[ND], *pord = malloc((c->ps.n + 1) * sizeof *pord), *mord = NULL;
    char(*iso)[KP_DATE_ISO_LEN + 1] = malloc((c->ps.n + 1) * sizeof *iso);
    const char **gkey = malloc((c->ps.n + 1) * sizeof *gkey);
    char(*key)[48] = malloc((c->ps.n + 1) * sizeof *key);
    if (!rc && (!pord || !iso || !gkey || !key))
        rc = nomem(e);
    for (size_t p = 0; p < c->ps.n && !rc; p++) {
        kp_date_format_iso(c->ps.p[p].start, iso[p]);
        snprintf(key[p], sizeof key[p], "%s%c%s", grain_names[c->ps.p[p].grain], 1, iso[p]);
        gkey[p] = key[p];
        pord[p] = p;
    }
    for (int d = 0; d < ND; d++)
        dord[d] = (size_t)d;
    sort_wide_names = dim_names;
    qsort(dord, ND, sizeof *dord, cmp_names);
    if (!rc) {
        sort_wide_names = gkey;
        qsort(pord, c->ps.n, sizeof *pord, cmp_names);
    }
    for (size_t x = 0; x < ND && !rc; x++) {
        int d = (int)dord[x];
        const strset *ms = &w->members[d];
        if (rep_only && d != D_REP)
            continue;
        free(mord);
        if (!(mord = malloc((ms->n + 1) * sizeof *mord))) {
            rc = nomem(e);
            break;
        }
        for (size_t k = 0; k < ms->n; k++)
            mord[k] = k;
        sort_wide_names = (const char *const *)ms->s;
        qsort(mord, ms->n, sizeof *mord, cmp_names);
        for (size_t y = 0; y < ms->n && !rc; y++)
            for (size_t q = 0; q < c->ps.n && !rc; q++) {
                size_t p = pord[q];
                const period *per = &c->ps.p[p];
                const double *row = wres_row(w, d, (long)mord[y], p);
                const char *gn = grain_names[per->grain];
                bind_row_key(st, dim_names[d], ms->s[mord[y]], gn, iso[p]);
                /* julianday(end) - julianday(start) + 1: whole days, exact in a double */
                kp_stmt_bind_double(st, 5, (double)(per->end - per->start) + 1.0);
                int at = 6;
                for (int pass = 0; pass < 1 + rollups; pass++)
                    for (size_t i = 0; i < lib->n; i++) {
                        const metric *m = &lib->m[i];
                        if (m->kind != (pass ? MK_ROLLUP : MK_AGG) || (!pass && need && !need[i]))
                            continue;
                        int zero =
                            !pass && (m->fn == A_SUM || m->fn == A_COUNT || m->fn == A_DISTINCT);
                        /* a REAL column reads back -0.0 as 0.0 */
                        double v = m->ok && c->res_of[i] >= 0 ? row[w->col[i]] : NAN;
                        if (!m->ok || c->res_of[i] < 0)
                            kp_stmt_bind_null(st, at);
                        else if (!isnan(v))
                            kp_stmt_bind_double(st, at, v == 0 ? 0.0 : v);
                        else if (zero && (m->dims & lib->dims & DIM(d)))
                            kp_stmt_bind_int64(st, at, 0);
                        else
                            kp_stmt_bind_null(st, at);
                        at++;
                    }
                if (kp_stmt_step(st, e) < 0)
                    rc = e && e->code ? e->code : KP_ERR_IO;
                kp_stmt_reset(st);
            }
    }
    free(mord);
    free(pord);
    free(iso);
    free(gkey);
    free(key);
    kp_stmt_finalize(st);
    return rc;
}

/* The wide rows: every member of every dimension (every rep, team, region and manager,
 * deals or not, and every member a result has) for every period, with one column per
 * aggregate metric; the results SQL computed are read into them first. */
static kp_err build_wide(ectx *c, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    kp_err rc = wide_absorb(c, 0, c->nres, 1, e);
    static const int rep_dims[] = {D_REP, D_REGION, D_TEAM, D_MANAGER};
    kp_stmt *st = NULL;
    if (!rc)
        rc = kp_store_prepare(c->s,
                              "SELECT rep_id, coalesce(region, '(none)'), coalesce(team,"
                              " '(none)'), coalesce(manager_id, '(none)') FROM reps",
                              NULL, 0, &st, e);
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) == 1)
        for (int k = 0; k < 4 && !rc; k++) {
            const char *mem = kp_stmt_column_text(st, k);
            if ((lib->dims & DIM(rep_dims[k])) && mem && wres_member(c->w, rep_dims[k], mem) < 0)
                rc = nomem(e);
        }
    if (!rc && step < 0)
        rc = e && e->code ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    if (!rc && (lib->dims & DIM(D_COMPANY)) && wres_member(c->w, D_COMPANY, "All") < 0)
        rc = nomem(e);
    return rc;
}

/* Mark need[i] for metric i and every metric it is computed from. */
static void needs(const kp_metric_lib *lib, size_t i, char *need)
{
    if (need[i])
        return;
    need[i] = 1;
    for (size_t j = 0; j < lib->m[i].ndeps; j++)
        needs(lib, lib->m[i].deps[j], need);
}

/* Rollups over reps (e.g. share of reps at quota): the rep rows (kp_w0), with derived
 * metrics inlined, aggregated to each rep-based dimension in SQL; only reps for which
 * every referenced metric has a value count. Then the wide table kp_w: the wide rows
 * plus one column per rollup. */
static kp_err eval_rollups(ectx *c, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    kp_err rc = KP_OK;
    int first_roll = c->nres, any = 0;
    char *need = calloc(lib->n + 1, 1);
    if (!need)
        return nomem(e);
    for (size_t i = 0; i < lib->n; i++)
        if (lib->m[i].kind == MK_ROLLUP && lib->m[i].ok) {
            any = 1;
            for (size_t j = 0; j < lib->m[i].ndeps; j++)
                needs(lib, lib->m[i].deps[j], need);
        }
    if (any) /* only the columns the rollups read */
        rc = wide_write(c, "kp_w0", 1, 0, need, e);
    free(need);
    for (size_t i = 0; i < lib->n && !rc; i++) {
        const metric *m = &lib->m[i];
        if (m->kind != MK_ROLLUP || !m->ok)
            continue;
        rc = new_result(c, &i, 1, e);
        for (int d = 0; d < ND && !rc; d++) {
            if (!(m->dims & lib->dims & DIM(d)))
                continue;
            sb_reset(b);
            sb_add(b, "INSERT INTO kp_r%d SELECT '%s', ", c->nres - 1, dim_names[d]);
            member_sql(b, d);
            sb_add(b, ", s.grain, s.period_start, ");
            rc = translate(lib, m, m->rollup, "s.", b, NULL, NULL, e);
            sb_add(b, " FROM (SELECT member AS k%d, * FROM kp_w0 WHERE dimension = 'rep') s"
                      " LEFT JOIN reps r ON r.rep_id = s.k%d WHERE 1",
                   K_REP, K_REP);
            for (size_t j = 0; j < m->ndeps && !rc; j++) {
                sb_add(b, " AND (");
                rc = translate(lib, m, lib->m[m->deps[j]].name, "s.", b, NULL, NULL, e);
                sb_add(b, ") IS NOT NULL");
            }
            sb_add(b, " GROUP BY 2, 3, 4");
            if (!rc)
                rc = run_sql(c, m, e);
        }
    }
    if (!rc && any)
        rc = exec_sql(c, "DROP TABLE kp_w0", e);
    if (!rc)
        rc = wide_absorb(c, first_roll, c->nres, 0, e);
    if (!rc)
        rc = wide_write(c, "kp_w", 0, 1, NULL, e);
    return rc;
}

/* A period wholly before the data's first date or after its last has no deal created
 * or closing in it: the documents come out empty, which is a warning, not an error (an
 * as-of date mistyped by years, or data not loaded). */
static void warn_outside_data(const ectx *c, kp_date first, kp_date last)
{
    const kp_period *p = &c->job->period;
    if (p->end >= first && p->start <= last)
        return;
    char d[4][KP_DATE_ISO_LEN + 1];
    kp_log_warn("period %s (%s to %s) lies wholly %s the data: no deal is created or closes in"
                " it; the opportunities' dates run from %s to %s",
                p->label, kp_date_format_iso(p->start, d[0]), kp_date_format_iso(p->end, d[1]),
                p->end < first ? "before" : "after", kp_date_format_iso(first, d[2]),
                kp_date_format_iso(last, d[3]));
}

/* One value over the run's snapshot of the opportunities relation r, whose created_date
 * and close_date it reads as o.*: `what` (a date) of the rows meeting `cond` (a format
 * whose one or two %s are date d, written in as a literal: a numbered parameter would
 * share its number with the relation's :as_of), first row only; 0 when there is none,
 * it is NULL or not a date, or the query fails (then nothing is masked or warned). */
static kp_date data_query(ectx *c, const relation *r, const char *what, const char *cond,
                          kp_date d)
{
    sb *b = &c->sql;
    char iso[KP_DATE_ISO_LEN + 1];
    sb_reset(b);
    sb_add(b, "SELECT %s FROM (SELECT created_date, close_date", what);
    from_sql(b, r);
    sb_add(b, ") AS o WHERE ");
    kp_date_format_iso(d, iso);
    sb_add(b, cond ? cond : "1", iso, iso);
    sb_add(b, " LIMIT 1");
    kp_stmt *st = NULL;
    kp_date out = 0;
    if (!b->oom && !kp_store_prepare(c->s, b->p, NULL, 0, &st, NULL) &&
        !kp_stmt_bind_vars(st, &c->vars, NULL) && kp_stmt_step(st, NULL) == 1) {
        const char *t = kp_stmt_column_text(st, 0);
        if (t && kp_date_parse_iso(t, kp_stmt_column_bytes(st, 0), &out))
            out = 0;
    }
    kp_stmt_finalize(st);
    return out;
}

/* Whether some deal meets cond (its %s: d): stops at the first such row. */
static int data_has(ectx *c, const relation *r, const char *cond, kp_date d)
{
    return data_query(c, r, "'2000-01-01'", cond, d) != 0;
}

/* The earlier (dir < 0) or later (dir > 0) of two dates, 0 meaning none. */
static kp_date either(kp_date a, kp_date b, int dir)
{
    if (!a || !b)
        return a ? a : b;
    return (dir < 0) == (a < b) ? a : b;
}

/* The data's dates that masking and the warning need, from the run's snapshot of the
 * opportunities relation. A full min() reads every row (0.2 s at 1M deals, an eighth of
 * the KPI stage), so each is first settled by an EXISTS that stops at the first row
 * found: when some deal's date lies on or before the earliest period's end, no period
 * ends before the data starts and the first date is not needed (left 0: nothing masked,
 * as the mask's test would find); when the run's period holds dates on both sides, no
 * warning. Only data that starts late, or a period outside the data, pays for the min()
 * and max(). Left 0 (unknown: nothing changes) when the relation is missing or
 * unavailable. */
static void data_range(ectx *c)
{
    long ri = find_relation(c->lib, "opportunities");
    if (ri < 0 || !c->lib->r[ri].available || !c->ps.n)
        return;
    const relation *r = &c->lib->r[ri];
    kp_date emin = c->ps.p[0].end;
    for (size_t k = 1; k < c->ps.n; k++)
        if (c->ps.p[k].end < emin)
            emin = c->ps.p[k].end;
    int created = data_has(c, r, "o.created_date <= '%s'", emin),
        closed = data_has(c, r, "o.close_date <= '%s'", emin);
    if (!created)
        c->first_created = data_query(c, r, "min(o.created_date)", NULL, 0);
    if (!closed)
        c->first_close = data_query(c, r, "min(o.close_date)", NULL, 0);
    if (!created && !closed) /* the first of either, for the other time columns */
        c->data_first = either(c->first_created, c->first_close, -1);
    const kp_period *p = &c->job->period;
    if (data_has(c, r, "o.created_date <= '%s' OR o.close_date <= '%s'", p->end) &&
        data_has(c, r, "o.created_date >= '%s' OR o.close_date >= '%s'", p->start))
        return;
    kp_date f = either(data_query(c, r, "min(o.created_date)", NULL, 0),
                       data_query(c, r, "min(o.close_date)", NULL, 0), -1),
            l = either(data_query(c, r, "max(o.created_date)", NULL, 0),
                       data_query(c, r, "max(o.close_date)", NULL, 0), 1);
    if (f && l)
        warn_outside_data(c, f, l);
}
/* The date before which metric i has no data: the first date of its time column when it
 * counts opportunities by created_date or close_date (the first of either for another
 * column of theirs), 0 for everything else (other relations, stocks, derived metrics and
 * rollups, which follow their operands). Maven's export has deals engaged from October
 * 2016 but none closing before March 2017: bookings of December 2016 are not known to be
 * 0, deals created then are. */
static kp_date metric_data_start(const ectx *c, size_t i)
{
    const metric *m = &c->lib->m[i];
    long r = find_relation(c->lib, "opportunities");
    if (m->kind != MK_AGG || m->tm == T_STOCK || !m->time || r < 0 || m->rel != r)
        return 0;
    if (!strcmp(m->time, "created_date"))
        return c->first_created;
    if (!strcmp(m->time, "close_date"))
        return c->first_close;
    return c->data_first;
}

/* kp_wc: kp_w with each metric NULL in the periods that end before its data start -- the
 * rows comparisons read. A comparison period before the data has no value to compare
 * with (unknown, shown n/a), not the 0 of a period without deals; the current rows of
 * kp_w keep their 0. Derived metrics evaluated on kp_wc rows, prev() and yoy() included,
 * follow. Returns the table comparisons read: kp_wc, or kp_w when nothing is masked. */
static kp_err mask_before_data(ectx *c, const char **table, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    *table = "kp_w";
    kp_date latest = 0; /* no copy (its memory) unless some period ends before a start */
    for (size_t i = 0; i < lib->n; i++)
        if (metric_data_start(c, i) > latest)
            latest = metric_data_start(c, i);
    int any = 0;
    for (size_t k = 0; k < c->ps.n; k++)
        any |= c->ps.p[k].end < latest;
    if (!any)
        return KP_OK;
    char d[KP_DATE_ISO_LEN + 1];
    sb_reset(b);
    sb_add(b, "CREATE TEMP TABLE kp_wc AS SELECT w.dimension, w.member, w.grain,"
              " w.period_start, w.pdays");
    /* the columns of kp_w, in wide_write's order: aggregates, then rollups */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < lib->n; i++) {
            if (lib->m[i].kind != (pass ? MK_ROLLUP : MK_AGG))
                continue;
            kp_date start = metric_data_start(c, i);
            if (start)
                sb_add(b, ", CASE WHEN p.period_end >= '%s' THEN w.m%zu END AS m%zu",
                       kp_date_format_iso(start, d), i, i);
            else
                sb_add(b, ", w.m%zu", i);
        }
    sb_add(b, " FROM kp_w w JOIN kpi_period p ON p.grain = w.grain AND p.period_start ="
              " w.period_start");
    kp_err rc = run_sql(c, NULL, e);
    if (!rc)
        rc = exec_sql(c,
                      "CREATE UNIQUE INDEX temp.kp_wc_key ON kp_wc(dimension, member, grain,"
                      " period_start)",
                      e);
    if (!rc)
        *table = "kp_wc";
    return rc;
}

/* The kpi table: one pass joins each wide row with its previous and year-ago rows into
 * kpi_wide (three columns per metric); `kpi` is the long view of it, one UNION ALL arm per
 * metric, so a lookup by metric touches one arm and the PK of kpi_wide. Writing the long
 * form row by row would cost more than all the scans together. */
static kp_err write_kpi(ectx *c, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    int64_t is_table = 0;
    const char *cmp = "kp_w";
    kp_err rc = mask_before_data(c, &cmp, e);
    if (!rc)
        rc = kp_store_query_int64(c->s,
                                  "SELECT count(*) FROM sqlite_master WHERE name = 'kpi'"
                                  " AND type = 'table'",
                                  NULL, 0, &is_table, e);
    if (!rc)
        rc = exec_sql(c, is_table ? "DROP TABLE kpi" : "DROP VIEW IF EXISTS kpi", e);
    if (!rc)
        rc = exec_sql(c, "DROP TABLE IF EXISTS kpi_wide", e);
    sb_reset(b);
    sb_add(b, "CREATE TABLE kpi_wide AS SELECT w.dimension, w.member, w.grain,"
              " w.period_start, p.period_end");
    static const char *const rows[3] = {"w.", "pw.", "yw."}, *const cols[3] = {"m", "p", "y"};
    for (size_t i = 0; i < lib->n && !rc; i++)
        for (int k = 0; k < 3 && !rc; k++) {
            sb_add(b, ", ");
            rc = translate(lib, &lib->m[i], lib->m[i].name, rows[k], b, NULL, NULL, e);
            sb_add(b, " AS %s%zu", cols[k], i);
        }
    sb_add(b,
           " FROM kp_w w JOIN kpi_period p ON p.grain = w.grain AND p.period_start ="
           " w.period_start LEFT JOIN %s pw ON pw.dimension = w.dimension AND pw.member ="
           " w.member AND pw.grain = w.grain AND pw.period_start = p.prev_start"
           " LEFT JOIN %s yw ON yw.dimension = w.dimension AND yw.member = w.member AND"
           " yw.grain = w.grain AND yw.period_start = p.yoy_start",
           cmp, cmp);
    sb_add(b, " ORDER BY 1, 2, 3, 4");
    if (!rc)
        rc = run_sql(c, NULL, e);
    if (!rc)
        rc = exec_sql(c,
                      "CREATE UNIQUE INDEX kpi_wide_key ON kpi_wide(dimension, member, grain,"
                      " period_start)",
                      e);
    sb_reset(b);
    sb_add(b, "CREATE VIEW kpi AS ");
    for (size_t i = 0; i < lib->n; i++) {
        const metric *m = &lib->m[i];
        /* A stock is measured once, on the latest data: it has no earlier value. */
        char pc[32] = "NULL", yc[32] = "NULL";
        if (!(m->kind == MK_AGG && m->tm == T_STOCK)) {
            snprintf(pc, sizeof pc, "p%zu", i);
            snprintf(yc, sizeof yc, "y%zu", i);
        }
        sb_add(b, "%sSELECT '%s' AS metric, dimension, member, grain, period_start,"
                  " period_end, m%zu AS value, %s AS prev_value, %s AS yoy_value,"
                  " m%zu - %s AS change, (m%zu - %s) / abs(%s) AS pct_change,"
                  " m%zu - %s AS yoy_change, (m%zu - %s) / abs(%s) AS yoy_pct_change"
                  " FROM kpi_wide WHERE dimension IN ",
               i ? " UNION ALL " : "", m->name, i, pc, yc, i, pc, i, pc, pc, i, yc, i, yc, yc);
        dims_in(b, m->dims & lib->dims);
    }
    if (!lib->n)
        sb_add(b, "%s", empty_kpi_view);
    if (!rc)
        rc = run_sql(c, NULL, e);
    return rc;
}

static kp_err write_metric_table(ectx *c, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    kp_stmt *st = NULL;
    kp_err rc = exec_sql(c, "DELETE FROM kpi_metric", e);
    if (!rc)
        rc = kp_store_prepare(c->s,
                              "INSERT INTO kpi_metric VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                              NULL, 0, &st, e);
    for (size_t i = 0; i < lib->n && !rc; i++) {
        const metric *m = &lib->m[i];
        kp_metric_info in = kp_metrics_info(lib, i);
        const char *src = m->kind == MK_AGG ? m->from : m->expr ? m->expr : m->rollup;
        const char *txt[] = {in.name, NULL, in.label, in.format, in.direction, in.kind,
                             in.definition, src, m->status};
        for (int k = 0; k < 9; k++)
            if (k == 1)
                kp_stmt_bind_int64(st, 2, (int64_t)i + 1);
            else
                kp_stmt_bind_text(st, k + 1, txt[k], strlen(txt[k]));
        if (kp_stmt_step(st, e) < 0)
            rc = e ? e->code : KP_ERR_IO;
        kp_stmt_reset(st);
    }
    kp_stmt_finalize(st);
    return rc;
}

/* ---- the fixed tables of the shipped templates ------------------------------------- */

/* The fixed tables read kpi_wide directly by the metrics' column numbers; a metric the
 * library lacks reads as 0. */
static void col_of(const kp_metric_lib *lib, const char *name, int cents, sb *b)
{
    long i = kp_metrics_find(lib, name);
    if (i < 0)
        sb_add(b, ", 0");
    else if (cents)
        sb_add(b, ", coalesce(CAST(round(k.m%ld * 100) AS INTEGER), 0)", i);
    else
        sb_add(b, ", coalesce(CAST(k.m%ld AS INTEGER), 0)", i);
}

static void fixed_cols(const kp_metric_lib *lib, sb *b)
{
    static const struct {
        const char *name;
        int cents;
    } cols[] = {{"quota", 1},      {"bookings", 1},   {"deals_won", 0},
                {"deals_lost", 0}, {"bookings", 1},   {"lost_value", 1},
                {"pipeline_due_count", 0}, {"pipeline_due", 1}};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        col_of(lib, cols[i].name, cols[i].cents, b);
}

/* Derived columns, identical for both tables: the README's definitions. */
static const char derive_fmt[] =
    "UPDATE %s SET quota = quota_cents / 100.0, bookings = bookings_cents / 100.0,"
    " open_pipeline = open_pipeline_cents / 100.0,"
    " win_rate = CASE WHEN deals_won + deals_lost > 0"
    "   THEN deals_won * 1.0 / (deals_won + deals_lost) END,"
    " win_rate_value = CASE WHEN won_value_cents + lost_value_cents > 0"
    "   THEN won_value_cents * 1.0 / (won_value_cents + lost_value_cents) END,"
    " avg_deal_size = CASE WHEN deals_won > 0 THEN bookings_cents / 100.0 / deals_won END,"
    " attainment = CASE WHEN quota_cents > 0 THEN bookings_cents * 1.0 / quota_cents END";

static kp_err write_fixed(ectx *c, kp_error *e)
{
    const kp_period *p = &c->job->period;
    struct {
        const char *name;
        kp_date start, end;
    } named[] = {{"current", p->start, p->end},
                 {"previous", p->prev_start, p->prev_end},
                 {"yoy", p->yoy_start, p->yoy_end}};
    kp_err rc = exec_sql(c,
                         "DELETE FROM kpi_rep; DELETE FROM kpi_company;"
                         "DELETE FROM kpi_rep_month; DELETE FROM kpi_company_month",
                         e);
    char sd[KP_DATE_ISO_LEN + 1], ed[KP_DATE_ISO_LEN + 1];
    const kp_metric_lib *lib = c->lib;
    sb *b = &c->sql;
    for (size_t i = 0; i < 3 && !rc; i++) {
        if (kp_vars_set(&c->vars, "p", named[i].name) ||
            kp_vars_set(&c->vars, "s", kp_date_format_iso(named[i].start, sd)) ||
            kp_vars_set(&c->vars, "e", kp_date_format_iso(named[i].end, ed)))
            return nomem(e);
        sb_reset(b);
        sb_add(b, "INSERT INTO kpi_rep(period, period_start, period_end, rep_id, quota_cents,"
                  " bookings_cents, deals_won, deals_lost, won_value_cents, lost_value_cents,"
                  " open_count, open_pipeline_cents) SELECT :p, :s, :e, r.rep_id");
        fixed_cols(lib, b);
        sb_add(b, " FROM reps r LEFT JOIN kpi_wide k ON k.dimension = 'rep' AND k.member ="
                  " r.rep_id AND k.grain = 'period' AND k.period_start = :s ORDER BY r.rep_id");
        rc = run_sql(c, NULL, e);
        sb_reset(b);
        sb_add(b, "INSERT INTO kpi_company(period, period_start, period_end, quota_cents,"
                  " bookings_cents, deals_won, deals_lost, won_value_cents, lost_value_cents,"
                  " open_count, open_pipeline_cents) SELECT :p, :s, :e");
        fixed_cols(lib, b);
        sb_add(b, " FROM (SELECT 1) LEFT JOIN kpi_wide k ON k.dimension = 'company' AND"
                  " k.member = 'All' AND k.grain = 'period' AND k.period_start = :s");
        if (!rc)
            rc = run_sql(c, NULL, e);
    }
    /* the monthly series: quota and bookings of the shown months */
    long q = kp_metrics_find(lib, "quota"), bk = kp_metrics_find(lib, "bookings");
    const char *dims[2] = {"rep", "company"};
    for (int d = 0; d < 2 && !rc && q >= 0 && bk >= 0; d++) {
        sb_reset(b);
        sb_add(b, "INSERT INTO %s SELECT p.period_start%s,"
                  " coalesce(CAST(round(k.m%ld * 100) AS INTEGER), 0),"
                  " coalesce(CAST(round(k.m%ld * 100) AS INTEGER), 0), NULL, NULL"
                  " FROM kpi_period p %s LEFT JOIN kpi_wide k ON k.dimension = '%s' AND"
                  " k.member = %s AND k.grain = 'month' AND k.period_start = p.period_start"
                  " WHERE p.grain = 'month' AND p.role IN ('current', 'series') ORDER BY 1%s",
               d ? "kpi_company_month" : "kpi_rep_month", d ? "" : ", r.rep_id", q, bk,
               d ? "" : "CROSS JOIN reps r", dims[d], d ? "'All'" : "r.rep_id", d ? "" : ", 2");
        rc = run_sql(c, NULL, e);
    }
    if (!rc)
        rc = exec_sql(c,
                      "UPDATE kpi_rep_month SET quota = quota_cents / 100.0,"
                      " bookings = bookings_cents / 100.0;"
                      "UPDATE kpi_company_month SET quota = quota_cents / 100.0,"
                      " bookings = bookings_cents / 100.0",
                      e);
    char sql[1024], first[KP_DATE_ISO_LEN + 1];
    const char *tables[] = {"kpi_rep", "kpi_company"};
    for (size_t i = 0; i < 2 && !rc; i++) {
        snprintf(sql, sizeof sql, derive_fmt, tables[i]);
        rc = kp_store_exec(c->s, sql, e);
        /* The previous / year-ago rows are what templates compare with: a period that
         * ends before the first close date has no deals closing in it to count, so its
         * figures from them are unknown (NULL, shown n/a), not 0, as in kpi
         * (mask_before_data). Quotas are known; the _cents columns stay 0 (NOT NULL). */
        if (!rc && c->first_close) {
            snprintf(sql, sizeof sql,
                     "UPDATE %s SET bookings = NULL, win_rate = NULL, win_rate_value = NULL,"
                     " avg_deal_size = NULL, attainment = NULL, open_pipeline = NULL"
                     " WHERE period <> 'current' AND period_end < '%s'",
                     tables[i], kp_date_format_iso(c->first_close, first));
            rc = kp_store_exec(c->s, sql, e);
        }
    }
    return rc;
}

/* Medians of the same relation, time column and mode share one read of their rows. */
static int same_rows(const metric *a, const metric *b)
{
    return a->rel == b->rel && a->tm == b->tm && (a->tm == T_STOCK || !strcmp(a->time, b->time));
}

static kp_err eval_all_medians(ectx *c, kp_error *e)
{
    const kp_metric_lib *lib = c->lib;
    char *done = calloc(lib->n + 1, 1);
    kp_err rc = done ? KP_OK : nomem(e);
    for (size_t i = 0; i < lib->n && !rc; i++)
        done[i] = c->res_of[i] != -1; /* finished by the C scan that read their rows */
    for (size_t i = 0; i < lib->n && !rc; i++) {
        const metric *m = &lib->m[i];
        if (done[i] || m->kind != MK_AGG || !m->ok || m->fn != A_MEDIAN)
            continue;
        size_t idx[MAX_MEDIANS], n = 0;
        for (size_t j = i; j < lib->n && n < MAX_MEDIANS; j++) {
            const metric *o = &lib->m[j];
            if (!done[j] && o->kind == MK_AGG && o->ok && o->fn == A_MEDIAN && same_rows(m, o)) {
                idx[n++] = j;
                done[j] = 1;
            }
        }
        rc = eval_medians(c, idx, n, e);
    }
    free(done);
    return rc;
}

#define MODEL_CACHE_SIZE (-2048) /* KiB */

kp_err kp_metrics_eval(kp_metric_lib *lib, const kp_job *job, kp_store *s, kp_error *e)
{
    ectx c = {.lib = lib, .job = job, .s = s};
    char gm[32];
    kp_err rc = kp_vars_merge(&c.vars, &job->vars) ? nomem(e) : KP_OK;
    if (!rc && job->gross_margin) {
        snprintf(gm, sizeof gm, "%.17g", job->gross_margin);
        rc = kp_vars_set(&c.vars, "gross_margin", gm) ? nomem(e) : KP_OK;
    } else if (!rc) {
        rc = kp_vars_set(&c.vars, "gross_margin", NULL) ? nomem(e) : KP_OK;
    }
    /* The model reads each page of the relations once, in table order, and writes fresh
     * pages: a large page cache buys it nothing but memory (64 MB of it, the peak of a
     * run). A small one while it runs; the store's own size back afterwards. */
    int64_t cache = 0;
    if (!rc)
        rc = kp_store_cache_size(s, MODEL_CACHE_SIZE, &cache, e);
    if (!rc)
        rc = kp_store_begin(s, e);
    /* Fresh planner statistics (inside the model's transaction, so a killed run leaves
     * them as they were): the per-rep queries of templates then use the indexes. */
    if (!rc)
        rc = kp_store_exec(s, "PRAGMA analysis_limit=1000; ANALYZE", e);
    if (rc) {
        kp_store_rollback(s);
        kp_store_cache_restore(s, cache);
        kp_vars_clear(&c.vars);
        return rc;
    }
    if (!rc)
        rc = availability(&c, lib, e);
    build_periods(lib, job, &c.ps);
    if (!rc && (c.ps.oom || build_buckets(&c.ps, &c.bk)))
        rc = nomem(e);
    if (!rc)
        rc = write_periods(&c, e);
    if (!rc && !(c.res_of = malloc((lib->n + 1) * sizeof *c.res_of)))
        rc = nomem(e);
    for (size_t i = 0; !rc && i < lib->n; i++)
        c.res_of[i] = -1;
    if (!rc && !(c.w = wres_new(lib, c.ps.n)))
        rc = nomem(e);
    /* one scan per (relation, time column); stock metrics join the first */
    for (size_t r = 0; r < lib->nr && !rc; r++) {
        int stock_done = 0;
        for (size_t i = 0; i < lib->n && !rc; i++) {
            const metric *m = &lib->m[i];
            if (m->kind != MK_AGG || (size_t)m->rel != r || !m->ok || !m->time ||
                m->fn == A_MEDIAN || m->fn == A_DISTINCT)
                continue;
            int first = 1;
            for (size_t j = 0; j < i; j++)
                if (lib->m[j].kind == MK_AGG && (size_t)lib->m[j].rel == r && lib->m[j].ok &&
                    lib->m[j].time && lib->m[j].fn != A_MEDIAN && lib->m[j].fn != A_DISTINCT &&
                    !strcmp(lib->m[j].time, m->time))
                    first = 0;
            if (!first)
                continue;
            rc = scan_relation(&c, r, m->time, !stock_done, e);
            stock_done = 1;
        }
        if (!rc && !stock_done)
            rc = scan_relation(&c, r, NULL, 1, e);
    }
    for (size_t i = 0; i < lib->n && !rc; i++)
        if (lib->m[i].kind == MK_AGG && lib->m[i].ok && lib->m[i].fn == A_DISTINCT)
            rc = eval_distinct(&c, i, e);
    if (!rc)
        rc = eval_all_medians(&c, e);
    if (!rc)
        rc = build_wide(&c, e);
    if (!rc)
        rc = eval_rollups(&c, e);
    wres_free(c.w); /* written: the rest is SQL over kp_w */
    c.w = NULL;
    if (!rc) {
        data_range(&c);
        rc = write_kpi(&c, e);
    }
    if (!rc)
        rc = write_metric_table(&c, e);
    if (!rc)
        rc = write_fixed(&c, e);
    if (!rc)
        rc = kp_store_exec(s,
                           "DROP TABLE kp_w; DROP TABLE IF EXISTS temp.kp_wc; DROP TABLE kp_bmap;"
                           " DROP TABLE kp_bmap_before",
                           e);
    if (!rc)
        rc = kp_store_commit(s, e);
    if (rc) {
        kp_store_rollback(s);
        kp_store_exec(s,
                      "DROP TABLE IF EXISTS temp.kp_w; DROP TABLE IF EXISTS temp.kp_w0;"
                      "DROP TABLE IF EXISTS temp.kp_wc;"
                      "DROP TABLE IF EXISTS temp.kp_bmap; DROP TABLE IF EXISTS temp.kp_bmap_before;"
                      "DROP TABLE IF EXISTS temp.kp_scan",
                      NULL);
    }
    kp_store_cache_restore(s, cache);
    free(c.ps.p);
    free(c.bk.b);
    free(c.bk.extra);
    free(c.sql.p);
    free(c.res_of);
    wres_free(c.w);
    kp_vars_clear(&c.vars);
    return rc;
}

kp_err kp_metrics_run(const kp_job *job, kp_store *s, kp_error *e)
{
    kp_metric_lib *lib = NULL;
    kp_err rc = kp_metrics_load(job, &lib, e);
    if (!rc)
        rc = kp_metrics_eval(lib, job, s, e);
    kp_metrics_free(lib);
    return rc;
}
