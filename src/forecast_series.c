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
    /* while the deals are read: the earliest dates before the cutoff */
    char *min_created, *min_closed;
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
        free(c->o[i].min_created);
        free(c->o[i].min_closed);
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

/* Owners by key while the deals are read: ord[0..n) are indices into c->o in key order,
 * so that owners met in the deals (not in reps) can join as they come, at the end of c->o,
 * without moving anyone's index. */
typedef struct owner_index {
    size_t *ord, n, cap;
} owner_index;

/* Position in ord of the first owner whose key is not below key. */
static size_t index_lower(const ctx *c, const owner_index *x, const char *key, int *found)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->o[x->ord[mid]].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < x->n && !strcmp(c->o[x->ord[lo]].key, key);
    return lo;
}

/* The index in c->o of the owner called key, added (with the months read so far) when
 * new; SIZE_MAX when out of memory. */
static size_t owner_of(ctx *c, owner_index *x, const char *key)
{
    int found;
    size_t at = index_lower(c, x, key, &found);
    if (found)
        return x->ord[at];
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        size_t *n = realloc(x->ord, cap * sizeof *n);
        if (!n)
            return SIZE_MAX;
        x->ord = n;
        x->cap = cap;
    }
    size_t span = c->first <= c->last ? (size_t)(c->last - c->first + 1) : 0;
    owner *o = owner_add(c, key);
    if (!o)
        return SIZE_MAX;
    if (span && !(o->cents = calloc(span, sizeof *o->cents)))
        return SIZE_MAX; /* freed with the owner */
    memmove(x->ord + at + 1, x->ord + at, (x->n - at) * sizeof *x->ord);
    x->ord[at] = c->no - 1;
    x->n++;
    return c->no - 1;
}

/* The company's history now starts at month m (before c->first): every owner's months
 * move up to make room for the earlier ones, which start at 0. */
static kp_err extend_history(ctx *c, int m, kp_error *e)
{
    assert(m < c->first && m <= c->last);
    size_t old = c->first <= c->last ? (size_t)(c->last - c->first + 1) : 0;
    size_t span = (size_t)(c->last - m + 1), shift = span - old;
    for (size_t i = 0; i < c->no; i++) {
        int64_t *t = realloc(c->o[i].cents, span * sizeof *t);
        if (!t)
            return nomem(e);
        if (old)
            memmove(t + shift, t, old * sizeof *t);
        memset(t, 0, shift * sizeof *t);
        c->o[i].cents = t;
    }
    c->first = m;
    return KP_OK;
}

/* Add one won deal's cents to its owner's month m. */
static kp_err add_booking(ctx *c, size_t i, int m, int64_t cents, kp_error *e)
{
    kp_err rc = m < c->first ? extend_history(c, m, e) : KP_OK;
    if (rc)
        return rc;
    int64_t *t = &c->o[i].cents[m - c->first];
    if ((cents > 0 && *t > INT64_MAX - cents) || (cents < 0 && *t < INT64_MIN - cents))
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: the bookings of %s in one month overflow", c->o[i].key);
    *t += cents;
    return KP_OK;
}

/* One pass over the run's deals: every owner (reps, and owners of deals who are not in
 * reps, who join as met), each owner's first month with a deal (created or closed)
 * before the as-of month, where a rep's series starts (with hiring), and the won deals'
 * amounts added into each owner's months as they come. The company's history starts at
 * its first month with a won deal: earlier months are outside the export, not months
 * without bookings. The months grow backwards when an earlier booking turns up, so
 * nothing per deal is kept (a list of the won deals was 12 MB at 1M deals, resident for
 * the rest of the stage), and the owners need no scan of their own. */
static kp_err read_deals(ctx *c, const char *cutoff, kp_error *e)
{
    kp_stmt *st = NULL;
    owner_index x = {0};
    kp_err rc = KP_OK;
    if (c->no) /* qsort(NULL, 0) is undefined */
        qsort(c->o, c->no, sizeof *c->o, cmp_owner);
    if (!(x.ord = malloc((c->no + 1) * sizeof *x.ord)))
        return nomem(e);
    for (size_t i = 0; i < c->no; i++) /* the reps, sorted */
        x.ord[i] = i;
    x.n = c->no;
    x.cap = c->no + 1;
    rc = kp_store_prepare(c->s,
                          "SELECT owner_id, created_date, close_date, is_won, amount_cents"
                          " FROM opportunities",
                          NULL, 0, &st, e);
    int r = 0;
    while (!rc && (r = kp_stmt_step(st, e)) > 0) {
        const char *key = kp_stmt_column_text(st, 0);
        /* NULL and a literal '(none)' are one owner, as coalesce() makes them */
        size_t i = owner_of(c, &x, key ? key : NONE);
        if (i == SIZE_MAX) {
            rc = nomem(e);
            break;
        }
        const char *close = kp_stmt_column_text(st, 2);
        rc = keep_min(&c->o[i].min_created, kp_stmt_column_text(st, 1), cutoff, e);
        if (!rc)
            rc = keep_min(&c->o[i].min_closed, close, cutoff, e);
        if (rc || !kp_stmt_column_int64(st, 3) || !close || strcmp(close, cutoff) >= 0 ||
            kp_stmt_column_type(st, 4) == KP_COL_NULL)
            continue;
        char ym[8];
        snprintf(ym, sizeof ym, "%.7s", close); /* by month: substr(close_date, 1, 7) */
        int m = month_of_text(ym);
        if (m >= 0)
            rc = add_booking(c, i, m, kp_stmt_column_int64(st, 4), e);
    }
    if (!rc && r < 0)
        rc = KP_ERR_IO;
    kp_stmt_finalize(st);
    free(x.ord);
    for (size_t i = 0; i < c->no; i++) {
        owner *o = &c->o[i];
        int a = month_of_text(o->min_created), d = month_of_text(o->min_closed);
        o->first_data = a < 0 ? d : d < 0 ? a : a < d ? a : d;
        free(o->min_created);
        free(o->min_closed);
        o->min_created = o->min_closed = NULL;
    }
    if (c->no) /* owners met in the deals were added at the end */
        qsort(c->o, c->no, sizeof *c->o, cmp_owner);
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
