/* Monthly bookings series for the company, each region, team and rep, forecast with
 * kp_forecast_auto and stored under the run's as-of date in `forecast`, so later runs can
 * compare what was forecast with what closed (the forecast_* metrics of metrics.ini).
 * Series are built in C from one grouped query of won deals by owner and month: a team's
 * or region's series is the sum of its people's months, so every level adds up from the
 * same cents. */
#include "kpipress/forecast_series.h"

#include "kpipress/date.h"
#include "kpipress/forecast.h"
#include "kpipress/limits.h"
#include "kpipress/log.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE "(none)" /* the kpi table's member for a missing value */

/* value, lower and upper are in the job's currency units (REAL), as kpi.value is: a
 * forecast is not exact to the cent, and templates read both side by side. */
kp_err kp_forecast_series_schema(kp_store *s, kp_error *e)
{
    return kp_store_exec(
        s,
        "CREATE TABLE IF NOT EXISTS forecast("
        " as_of TEXT NOT NULL, series TEXT NOT NULL, dimension TEXT NOT NULL,"
        " member TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
        " value REAL NOT NULL, lower REAL NOT NULL, upper REAL NOT NULL,"
        " method TEXT NOT NULL, chosen_because TEXT NOT NULL, wape REAL, mase REAL,"
        " fallback INTEGER NOT NULL,"
        " PRIMARY KEY(as_of, series, dimension, member, period_start)) STRICT",
        e);
}

/* Months as one number (year * 12 + month - 1), so ranges are integer arithmetic. */
static int month_of(kp_date d)
{
    int y, m;
    kp_date_to_ymd(d, &y, &m, NULL);
    return y * 12 + m - 1;
}

/* "YYYY-MM-DD" or "YYYY-MM" text to a month number; -1 when it is not a date. */
static int month_of_text(const char *s)
{
    kp_date d;
    if (!s || strlen(s) < 7)
        return -1;
    if (strlen(s) >= KP_DATE_ISO_LEN && kp_date_parse_iso(s, KP_DATE_ISO_LEN, &d) == 0)
        return month_of(d);
    char buf[KP_DATE_ISO_LEN + 1];
    snprintf(buf, sizeof buf, "%.7s-01", s);
    return kp_date_parse_iso(buf, KP_DATE_ISO_LEN, &d) == 0 ? month_of(d) : -1;
}

/* Someone who owns deals or is in reps: their team, region and own months. */
typedef struct owner {
    char *key, *team, *region;
    int in_reps, active;
    int hire, first_data; /* month numbers, -1 when unknown */
    int start;            /* first month of their series, -1 = no series */
    int64_t *cents;       /* bookings per month from the company's first month */
} owner;

/* One series to forecast. */
typedef struct series {
    const char *dimension, *member; /* member points into an owner */
    int start;                      /* -1 = no data */
    int64_t *cents;                 /* owned unless it is an owner's */
    int owns;
} series;

typedef struct ctx {
    const kp_job *job;
    kp_store *s;
    owner *o;
    size_t no, cap;
    int first, last; /* company's months [first, last]; first > last: no history */
    series *sr;
    size_t nsr;
} ctx;

static kp_err nomem(kp_error *e)
{
    return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
}

static void ctx_free(ctx *c)
{
    for (size_t i = 0; i < c->no; i++) {
        free(c->o[i].key);
        free(c->o[i].team);
        free(c->o[i].region);
        free(c->o[i].cents);
    }
    for (size_t i = 0; i < c->nsr; i++)
        if (c->sr[i].owns)
            free(c->sr[i].cents);
    free(c->o);
    free(c->sr);
}

static int cmp_owner(const void *a, const void *b)
{
    return strcmp(((const owner *)a)->key, ((const owner *)b)->key);
}

/* The owner called key among the first n (sorted by key), or NULL. */
static owner *owner_find(const ctx *c, size_t n, const char *key)
{
    owner k = {.key = (char *)key};
    return n ? bsearch(&k, c->o, n, sizeof *c->o, cmp_owner) : NULL;
}

/* A new owner at the end (the array is sorted again once all are in). */
static owner *owner_add(ctx *c, const char *key)
{
    if (c->no == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        owner *n = realloc(c->o, cap * sizeof *n);
        if (!n)
            return NULL;
        c->o = n;
        c->cap = cap;
    }
    owner *o = &c->o[c->no];
    memset(o, 0, sizeof *o);
    o->hire = o->first_data = o->start = -1;
    o->active = 1; /* an owner missing from reps is taken to be selling */
    if (!(o->key = strdup(key)) || !(o->team = strdup(NONE)) || !(o->region = strdup(NONE))) {
        free(o->key);
        free(o->team);
        return NULL;
    }
    c->no++;
    return o;
}

static kp_err replace_text(char **dst, const char *src, kp_error *e)
{
    char *d = strdup(src ? src : NONE);
    if (!d)
        return nomem(e);
    free(*dst);
    *dst = d;
    return KP_OK;
}

/* Every rep: team and region as the kpi table names them, hire month, active flag. */
static kp_err read_reps(ctx *c, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s,
                                 "SELECT rep_id, team, region, hire_date, active FROM reps"
                                 " ORDER BY rep_id",
                                 NULL, 0, &st, e);
    int r = 0;
    while (!rc && (r = kp_stmt_step(st, e)) > 0) {
        owner *o = owner_add(c, kp_stmt_column_text(st, 0));
        if (!o) {
            rc = nomem(e);
            break;
        }
        o->in_reps = 1;
        o->active = kp_stmt_column_int64(st, 4) != 0;
        o->hire = month_of_text(kp_stmt_column_text(st, 3));
        rc = replace_text(&o->team, kp_stmt_column_text(st, 1), e);
        if (!rc)
            rc = replace_text(&o->region, kp_stmt_column_text(st, 2), e);
    }
    if (!rc && r < 0)
        rc = KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

/* Owners of deals not in reps: the distinct owners of the run's deals (read from the
 * owner index, without touching the rows) join the reps, and the list is sorted. */
static kp_err read_owners(ctx *c, kp_error *e)
{
    kp_stmt *st = NULL;
    if (c->no) /* qsort(NULL, 0) is undefined */
        qsort(c->o, c->no, sizeof *c->o, cmp_owner);
    size_t sorted = c->no;
    kp_err rc =
        kp_store_prepare(c->s, "SELECT DISTINCT owner_id FROM opportunities", NULL, 0, &st, e);
    int r = 0;
    while (!rc && (r = kp_stmt_step(st, e)) > 0) {
        const char *v = kp_stmt_column_text(st, 0), *key = v ? v : NONE;
        if (!owner_find(c, sorted, key) && !owner_add(c, key))
            rc = nomem(e);
    }
    if (!rc && r < 0)
        rc = KP_ERR_IO;
    kp_stmt_finalize(st);
    if (c->no)
        qsort(c->o, c->no, sizeof *c->o, cmp_owner);
    /* NULL and a literal '(none)' are one owner, as coalesce() made them: both may have
     * been added (fresh, identical entries); keep one */
    size_t k = 0;
    for (size_t i = 0; i < c->no; i++) {
        if (k && !strcmp(c->o[k - 1].key, c->o[i].key)) {
            free(c->o[i].key);
            free(c->o[i].team);
            free(c->o[i].region);
            continue;
        }
        c->o[k++] = c->o[i];
    }
    c->no = k;
    return rc;
}

/* The text value v if it is before the cutoff and below *min (NULL = none yet), kept as
 * the new minimum: min() of a TEXT column compares bytes, as strcmp does. */
static kp_err keep_min(char **min, const char *v, const char *cutoff, kp_error *e)
{
    if (!v || strcmp(v, cutoff) >= 0 || (*min && strcmp(v, *min) >= 0))
        return KP_OK;
    char *d = strdup(v);
    if (!d)
        return nomem(e);
    free(*min);
    *min = d;
    return KP_OK;
}

/* Won deals' amounts by owner and close month, before the as-of month. */
typedef struct booking {
    size_t owner;
    int month;
    int64_t cents;
} booking;

static kp_err add_booking(booking **b, size_t *nb, size_t *cap, booking x, kp_error *e)
{
    if (*nb == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        booking *n = realloc(*b, ncap * sizeof *n);
        if (!n)
            return nomem(e);
        *b = n;
        *cap = ncap;
    }
    (*b)[(*nb)++] = x;
    return KP_OK;
}

/* One pass over the run's deals (two grouped queries sorted a million rows each): each
 * owner's first month with a deal (created or closed) before the as-of month, where a
 * rep's series starts (with hiring), and the won deals' amounts by close month into each
 * owner's month array. The company's history starts at its first month with a won deal:
 * earlier months are outside the export, not months without bookings. */
static kp_err read_deals(ctx *c, const char *cutoff, kp_error *e)
{
    kp_stmt *st = NULL;
    booking *b = NULL;
    size_t nb = 0, cap = 0;
    char **mins = calloc(2 * c->no + 1, sizeof *mins); /* created, closed per owner */
    if (!mins)
        return nomem(e);
    kp_err rc = kp_store_prepare(c->s,
                                 "SELECT owner_id, created_date, close_date, is_won, amount_cents"
                                 " FROM opportunities",
                                 NULL, 0, &st, e);
    int r = 0;
    while (!rc && (r = kp_stmt_step(st, e)) > 0) {
        const char *key = kp_stmt_column_text(st, 0);
        owner *o = owner_find(c, c->no, key ? key : NONE);
        assert(o); /* read_owners met every owner */
        if (!o)
            continue;
        size_t i = (size_t)(o - c->o);
        const char *close = kp_stmt_column_text(st, 2);
        rc = keep_min(&mins[2 * i], kp_stmt_column_text(st, 1), cutoff, e);
        if (!rc)
            rc = keep_min(&mins[2 * i + 1], close, cutoff, e);
        if (rc || !kp_stmt_column_int64(st, 3) || !close || strcmp(close, cutoff) >= 0 ||
            kp_stmt_column_type(st, 4) == KP_COL_NULL)
            continue;
        char ym[8];
        snprintf(ym, sizeof ym, "%.7s", close); /* by month: substr(close_date, 1, 7) */
        int m = month_of_text(ym);
        if (m < 0)
            continue;
        rc = add_booking(&b, &nb, &cap, (booking){i, m, kp_stmt_column_int64(st, 4)}, e);
        if (m < c->first)
            c->first = m;
    }
    if (!rc && r < 0)
        rc = KP_ERR_IO;
    kp_stmt_finalize(st);
    for (size_t i = 0; i < c->no; i++) {
        int a = month_of_text(mins[2 * i]), d = month_of_text(mins[2 * i + 1]);
        c->o[i].first_data = a < 0 ? d : d < 0 ? a : a < d ? a : d;
        free(mins[2 * i]);
        free(mins[2 * i + 1]);
    }
    free(mins);
    size_t span = (size_t)(c->last - c->first + 1);
    for (size_t i = 0; !rc && i < c->no && span; i++)
        if (!(c->o[i].cents = calloc(span, sizeof *c->o[i].cents)))
            rc = nomem(e);
    for (size_t i = 0; !rc && i < nb; i++) {
        int64_t *t = &c->o[b[i].owner].cents[b[i].month - c->first];
        if ((b[i].cents > 0 && *t > INT64_MAX - b[i].cents) ||
            (b[i].cents < 0 && *t < INT64_MIN - b[i].cents))
            rc = kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                              "forecast: the bookings of %s in one month overflow",
                              c->o[b[i].owner].key);
        else
            *t += b[i].cents;
    }
    free(b);
    return rc;
}

/* Where a rep's series starts: hiring or their first deal, whichever is earlier, but not
 * before the company's history. Zeros after that are months without bookings; months
 * before it are not part of the series at all (a rep hired in June has no January). */
static void owner_starts(ctx *c)
{
    for (size_t i = 0; i < c->no; i++) {
        owner *o = &c->o[i];
        int s = o->hire < 0               ? o->first_data
                : o->first_data < 0       ? o->hire
                : o->hire < o->first_data ? o->hire
                                          : o->first_data;
        if (s >= 0 && s < c->first)
            s = c->first;
        o->start = s >= 0 && s <= c->last ? s : -1;
    }
}

static series *series_add(ctx *c, const char *dimension, const char *member)
{
    series *n = realloc(c->sr, (c->nsr + 1) * sizeof *n);
    if (!n)
        return NULL;
    c->sr = n;
    series *x = &c->sr[c->nsr++];
    *x = (series){.dimension = dimension, .member = member, .start = -1};
    return x;
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One series per distinct team (field = offsetof team) or region: the sum of its owners'
 * months from its earliest owner's start. Members in byte order. */
static kp_err group_series(ctx *c, const char *dimension, size_t field, kp_error *e)
{
    const char **names = malloc((c->no + 1) * sizeof *names);
    if (!names)
        return nomem(e);
    for (size_t i = 0; i < c->no; i++)
        names[i] = *(char **)((char *)&c->o[i] + field);
    qsort(names, c->no, sizeof *names, cmp_text);
    kp_err rc = KP_OK;
    size_t span = (size_t)(c->last - c->first + 1);
    for (size_t i = 0; i < c->no && !rc; i++) {
        if (i > 0 && !strcmp(names[i], names[i - 1]))
            continue;
        series *x = series_add(c, dimension, names[i]);
        if (!x || (span && !(x->cents = calloc(span, sizeof *x->cents)))) {
            rc = nomem(e);
            break;
        }
        x->owns = 1;
        for (size_t j = 0; j < c->no; j++) {
            const owner *o = &c->o[j];
            if (o->start < 0 || strcmp(*(char *const *)((const char *)o + field), names[i]))
                continue;
            if (x->start < 0 || o->start < x->start)
                x->start = o->start;
            for (size_t t = 0; t < span; t++)
                x->cents[t] += o->cents[t];
        }
    }
    free(names);
    return rc;
}

/* Company, regions, teams, then reps that still sell (inactive reps' history counts in
 * their team's, but they get no forecast of their own). */
static kp_err build_series(ctx *c, kp_error *e)
{
    size_t span = (size_t)(c->last - c->first + 1);
    series *all = series_add(c, "company", "All");
    if (!all || (span && !(all->cents = calloc(span, sizeof *all->cents))))
        return nomem(e);
    all->owns = 1;
    all->start = span ? c->first : -1;
    for (size_t j = 0; j < c->no; j++)
        for (size_t t = 0; t < span; t++)
            all->cents[t] += c->o[j].cents[t];
    kp_err rc = group_series(c, "region", offsetof(owner, region), e);
    if (!rc)
        rc = group_series(c, "team", offsetof(owner, team), e);
    for (size_t j = 0; j < c->no && !rc; j++) {
        const owner *o = &c->o[j];
        if (!o->active)
            continue;
        series *x = series_add(c, "rep", o->key);
        if (!x)
            return nomem(e);
        x->start = o->start;
        x->cents = o->cents;
    }
    return rc;
}

/* The forecast of one series: computed by a worker thread, written by the main one. */
typedef struct fc_out {
    double v[KP_FORECAST_MAX_HORIZON], lo[KP_FORECAST_MAX_HORIZON], hi[KP_FORECAST_MAX_HORIZON];
    kp_fc_result r;
    kp_err rc;
} fc_out;

/* Workers take the next series not yet taken (the company, regions and teams, the
 * longest to fit, come first, so the shares end close together). Each series is
 * independent and kp_forecast_auto is pure (no shared state, no randomness), so the
 * results do not depend on the number of threads or on who took what. The first
 * failure's message per worker is kept. */
typedef struct fc_worker {
    const ctx *c;
    fc_out *out;
    atomic_size_t *next;
    int h;
    size_t failed; /* index of the first failed series, or SIZE_MAX */
    kp_error e;
} fc_worker;

static void forecast_one(const ctx *c, const series *x, int h, fc_out *o, kp_error *e)
{
    double y[KP_FORECAST_MAX_POINTS];
    size_t n = 0;
    if (x->start >= 0) {
        int from = x->start;
        /* the longest series the forecaster takes: the most recent months */
        if (c->last - from + 1 > KP_FORECAST_MAX_POINTS)
            from = c->last - KP_FORECAST_MAX_POINTS + 1;
        for (int m = from; m <= c->last; m++)
            y[n++] = (double)x->cents[m - c->first] / 100.0;
    }
    o->rc = kp_forecast_auto(y, n, (size_t)h, o->v, o->lo, o->hi, &o->r, e);
}

static void *forecast_worker(void *arg)
{
    fc_worker *w = arg;
    w->failed = SIZE_MAX;
    for (size_t i; (i = atomic_fetch_add(w->next, 1)) < w->c->nsr;) {
        kp_error e = {0};
        forecast_one(w->c, &w->c->sr[i], w->h, &w->out[i], &e);
        if (w->out[i].rc && w->failed == SIZE_MAX) {
            w->failed = i;
            w->e = e;
        }
    }
    return NULL;
}

/* Forecast every series on kp_forecast_threads() threads. */
static kp_err forecast_all(const ctx *c, int h, fc_out *out, kp_error *e)
{
    size_t nt = (size_t)kp_forecast_threads();
    if (nt > c->nsr)
        nt = c->nsr ? c->nsr : 1;
    fc_worker w[KP_FORECAST_MAX_THREADS];
    pthread_t tid[KP_FORECAST_MAX_THREADS];
    size_t started = 1;
    atomic_size_t next = 0;
    for (size_t t = 0; t < nt; t++)
        w[t] = (fc_worker){.c = c, .out = out, .next = &next, .h = h};
    for (size_t t = 1; t < nt; t++, started++)
        if (pthread_create(&tid[t], NULL, forecast_worker, &w[t]) != 0)
            break;
    /* The calling thread works too; it also finishes what workers that could not start
     * would have taken. */
    forecast_worker(&w[0]);
    for (size_t t = started; t < nt; t++)
        w[t].failed = SIZE_MAX;
    for (size_t t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    size_t first = SIZE_MAX, who = 0;
    for (size_t t = 0; t < nt; t++)
        if (w[t].failed < first)
            first = w[t].failed, who = t;
    if (first != SIZE_MAX) {
        if (e)
            *e = w[who].e;
        return out[first].rc;
    }
    return KP_OK;
}

/* Insert one series' horizon rows. */
static kp_err insert_one(const ctx *c, const series *x, const fc_out *o, const char *as_of,
                         kp_stmt *ins, int h, kp_error *e)
{
    kp_err rc = KP_OK;
    const kp_fc_result *r = &o->r;
    const char *method = kp_forecast_method_name(r->method);
    for (int k = 0; k < h && !rc; k++) {
        int m = c->last + 1 + k;
        kp_date start = kp_date_from_ymd(m / 12, m % 12 + 1, 1);
        char ps[KP_DATE_ISO_LEN + 1], pe[KP_DATE_ISO_LEN + 1];
        kp_date_format_iso(start, ps);
        kp_date_format_iso(kp_date_month_start(start, 1) - 1, pe);
        kp_stmt_bind_text(ins, 13, as_of, strlen(as_of));
        kp_stmt_bind_text(ins, 1, x->dimension, strlen(x->dimension));
        kp_stmt_bind_text(ins, 2, x->member, strlen(x->member));
        kp_stmt_bind_text(ins, 3, ps, strlen(ps));
        kp_stmt_bind_text(ins, 4, pe, strlen(pe));
        kp_stmt_bind_double(ins, 5, o->v[k]);
        kp_stmt_bind_double(ins, 6, o->lo[k]);
        kp_stmt_bind_double(ins, 7, o->hi[k]);
        kp_stmt_bind_text(ins, 8, method, strlen(method));
        kp_stmt_bind_text(ins, 9, r->because, strlen(r->because));
        if (r->wape >= 0.0)
            kp_stmt_bind_double(ins, 10, r->wape);
        else
            kp_stmt_bind_null(ins, 10);
        if (r->mase >= 0.0)
            kp_stmt_bind_double(ins, 11, r->mase);
        else
            kp_stmt_bind_null(ins, 11);
        kp_stmt_bind_int64(ins, 12, r->fallback);
        if (kp_stmt_step(ins, e) < 0)
            rc = KP_ERR_IO;
        kp_stmt_reset(ins);
    }
    return rc;
}

/* Forecast every series, then replace this as-of date's rows with the new forecasts, in
 * one transaction. */
static kp_err write_forecasts(ctx *c, const char *as_of, kp_error *e)
{
    kp_stmt *del = NULL, *ins = NULL;
    int h = c->job->forecast.horizon;
    fc_out *out = calloc(c->nsr ? c->nsr : 1, sizeof *out);
    if (!out)
        return nomem(e);
    kp_err rc = forecast_all(c, h, out, e);
    if (!rc)
        rc = kp_store_begin(c->s, e);
    if (rc) {
        free(out);
        return rc;
    }
    rc = kp_store_prepare(c->s, "DELETE FROM forecast WHERE as_of = ?1 AND series = 'bookings'",
                          NULL, 0, &del, e);
    if (!rc)
        rc = kp_stmt_bind_text(del, 1, as_of, strlen(as_of));
    if (!rc && kp_stmt_step(del, e) < 0)
        rc = KP_ERR_IO;
    if (!rc)
        rc = kp_store_prepare(c->s,
                              "INSERT INTO forecast(as_of, series, dimension, member, period_start,"
                              " period_end, value, lower, upper, method, chosen_because, wape,"
                              " mase, fallback) VALUES (?13, 'bookings', ?1, ?2, ?3, ?4, ?5, ?6,"
                              " ?7, ?8, ?9, ?10, ?11, ?12)",
                              NULL, 0, &ins, e);
    for (size_t i = 0; !rc && i < c->nsr; i++)
        rc = insert_one(c, &c->sr[i], &out[i], as_of, ins, h, e);
    kp_stmt_finalize(del);
    kp_stmt_finalize(ins);
    free(out);
    if (!rc)
        rc = kp_store_commit(c->s, e);
    if (rc)
        kp_store_rollback(c->s);
    return rc;
}

kp_err kp_forecast_series_run(const kp_job *job, kp_store *s, kp_error *e)
{
    assert(job && s);
    ctx c = {.job = job, .s = s};
    char as_of[KP_DATE_ISO_LEN + 1], cutoff[KP_DATE_ISO_LEN + 1];
    kp_date_format_iso(job->as_of, as_of);
    /* the as-of month is not complete: history ends with the month before it */
    kp_date_format_iso(kp_date_month_start(job->as_of, 0), cutoff);
    c.last = month_of(job->as_of) - 1;
    c.first = c.last + 1;
    kp_err rc = read_reps(&c, e);
    if (!rc)
        rc = read_owners(&c, e);
    if (!rc)
        rc = read_deals(&c, cutoff, e);
    if (!rc) {
        owner_starts(&c);
        rc = build_series(&c, e);
    }
    if (!rc) {
        kp_log_info("forecasting bookings %d months ahead for %zu series", job->forecast.horizon,
                    c.nsr);
        rc = write_forecasts(&c, as_of, e);
    }
    ctx_free(&c);
    return rc;
}
