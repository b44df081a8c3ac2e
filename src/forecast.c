/* Forecast math without SQLite: exponential smoothing in statsmodels' state convention (so
 * the reference test can compare state for state), Nelder-Mead fitting in a logistic
 * parameterisation that keeps every smoothing parameter inside (0,1), an automatic choice
 * by rolling-origin backtest, and a seeded pipeline Monte Carlo. */
#include "kpipress/forecast.h"

#include "kpipress/rng.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M KP_FORECAST_PERIOD
#define Z80 1.2815515655446004 /* standard normal quantile 0.9: an 80% two-sided interval */
#define NM_MAX_DIM (4 + 2 + M)

static const char *const method_names[KP_FC_METHOD_COUNT] = {
    "zero",   "mean", "naive",        "seasonal_naive",        "drift",
    "ses",    "holt", "holt_damped",  "holt_winters_additive", "holt_winters_multiplicative",
};

const char *kp_forecast_method_name(kp_fc_method m)
{
    return (unsigned)m < KP_FC_METHOD_COUNT ? method_names[m] : "unknown";
}

static int has_trend(kp_fc_method m)
{
    return m == KP_FC_HOLT || m == KP_FC_HOLT_DAMPED || m == KP_FC_HW_ADD || m == KP_FC_HW_MUL;
}

static int is_seasonal(kp_fc_method m)
{
    return m == KP_FC_HW_ADD || m == KP_FC_HW_MUL || m == KP_FC_SNAIVE;
}

static int is_smoothing(kp_fc_method m)
{
    return m >= KP_FC_SES && m <= KP_FC_HW_MUL;
}

/* The recursion itself. Returns the SSE, or HUGE_VAL when a multiplicative state leaves
 * the positive range (the fitter treats that as a wall rather than an error). */
static double smooth(kp_fc_method m, const double *y, size_t n, const kp_fc_params *p,
                     double *fitted, double *fc, size_t h)
{
    const int trend = has_trend(m), mul = m == KP_FC_HW_MUL;
    const int seas = m == KP_FC_HW_ADD || mul;
    const double phi = m == KP_FC_HOLT_DAMPED ? p->phi : 1.0;
    double s[M], l = p->level, b = trend ? p->trend : 0.0, sse = 0.0;
    if (seas)
        memcpy(s, p->season, sizeof s);
    for (size_t t = 0; t < n; t++) {
        double base = l + phi * b, sp = seas ? s[t % M] : (mul ? 1.0 : 0.0);
        double yhat = mul ? base * sp : base + sp;
        if (mul && (sp <= 0.0 || base <= 0.0))
            return HUGE_VAL;
        if (fitted)
            fitted[t] = yhat;
        sse += (y[t] - yhat) * (y[t] - yhat);
        double ln = mul ? p->alpha * y[t] / sp + (1 - p->alpha) * base
                        : p->alpha * (y[t] - sp) + (1 - p->alpha) * base;
        if (trend)
            b = p->beta * (ln - l) + (1 - p->beta) * phi * b;
        /* s[t % M] held the state for time t; it becomes the state for time t + M. */
        if (seas)
            s[t % M] = mul ? p->gamma * y[t] / base + (1 - p->gamma) * sp
                           : p->gamma * (y[t] - base) + (1 - p->gamma) * sp;
        l = ln;
    }
    double damp = 0.0, pk = 1.0;
    for (size_t k = 0; fc && k < h; k++) {
        pk *= phi;
        damp += pk;
        double base = l + (trend ? damp * b : 0.0);
        double sp = seas ? s[(n + k) % M] : 0.0;
        fc[k] = mul ? base * sp : base + sp;
    }
    return isfinite(sse) ? sse : HUGE_VAL;
}

static kp_err check_series(const double *y, size_t n, kp_error *e)
{
    if (n > KP_FORECAST_MAX_POINTS)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: series of %zu months is longer than the limit of %d", n,
                            KP_FORECAST_MAX_POINTS);
    for (size_t t = 0; t < n; t++)
        if (!isfinite(y[t]))
            return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                                "forecast: month %zu of the series has no value", t + 1);
    return KP_OK;
}

/* What method m needs of y[0..n): finite values (the mean and zero fallbacks skip gaps),
 * enough months, and positive values for a multiplicative season. */
static kp_err check_method_input(kp_fc_method m, const double *y, size_t n, kp_error *e)
{
    int fallback = m == KP_FC_MEAN || m == KP_FC_ZERO;
    kp_err rc = fallback ? KP_OK : check_series(y, n, e);
    if (rc)
        return rc;
    size_t need = is_seasonal(m) ? KP_FORECAST_SEASONAL_MIN
                  : fallback     ? 0
                                 : KP_FORECAST_MIN_POINTS;
    if (n < need)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: %s needs at least %zu months, the series has %zu",
                            kp_forecast_method_name(m), need, n);
    for (size_t t = 0; m == KP_FC_HW_MUL && t < n; t++)
        if (y[t] <= 0.0)
            return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                                "forecast: %s needs positive values; month %zu is %g",
                                kp_forecast_method_name(m), t + 1, y[t]);
    return KP_OK;
}

kp_err kp_forecast_smooth(kp_fc_method m, const double *y, size_t n, const kp_fc_params *p,
                          double *fitted, double *fc, size_t h, double *sse, kp_error *e)
{
    assert(p && (y || n == 0));
    if (!is_smoothing(m))
        return kp_error_set(e, KP_ERR_INTERNAL, NULL, 0, 0,
                            "forecast: %s is not a smoothing method", kp_forecast_method_name(m));
    kp_err rc = check_series(y, n, e);
    if (rc)
        return rc;
    double v = smooth(m, y, n, p, fitted, fc, h);
    if (v == HUGE_VAL)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: %s needs positive levels and seasonal factors",
                            kp_forecast_method_name(m));
    if (sse)
        *sse = v;
    return KP_OK;
}

/* Heuristic initial states (Hyndman et al. 2008, sec. 2.6.1 simplified): level and trend
 * from the first two seasons' means, seasonal states from the first two seasons' deviations
 * (ratios for multiplicative) around that line. Non-seasonal: first value, first change. */
static void initial_states(kp_fc_method m, const double *y, size_t n, kp_fc_params *p)
{
    memset(p, 0, sizeof *p);
    p->alpha = 0.3;
    p->beta = 0.1;
    p->gamma = 0.1;
    p->phi = 0.9;
    if (m == KP_FC_HW_ADD || m == KP_FC_HW_MUL) {
        double a = 0.0, c = 0.0;
        for (size_t j = 0; j < M; j++) {
            a += y[j];
            c += y[M + j];
        }
        a /= M;
        c /= M;
        p->trend = (c - a) / M;
        /* the first season's mean sits at time (M-1)/2; step the line back to time -1 */
        p->level = a - p->trend * ((M - 1) / 2.0 + 1.0);
        for (size_t j = 0; j < M; j++) {
            double s = 0.0;
            for (size_t k = 0; k < 2; k++) {
                double line = p->level + p->trend * (double)(k * M + j + 1);
                s += m == KP_FC_HW_MUL ? y[k * M + j] / line : y[k * M + j] - line;
            }
            p->season[j] = s / 2.0;
        }
        return;
    }
    p->level = y[0];
    if (has_trend(m))
        p->trend = n > 1 ? y[1] - y[0] : 0.0;
}

/* Fitting. The free vector is: logit of each free smoothing parameter, then level, trend
 * and seasons divided by `scale` so one simplex step means the same in every direction. */
typedef struct fit_ctx {
    kp_fc_method m;
    const double *y;
    size_t n;
    double scale;
    kp_fc_params base;
} fit_ctx;

static double logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double logit(double p)
{
    return log(p / (1.0 - p));
}

static void unpack(const fit_ctx *c, const double *x, kp_fc_params *p)
{
    *p = c->base;
    size_t i = 0;
    p->alpha = logistic(x[i++]);
    if (has_trend(c->m))
        p->beta = logistic(x[i++]);
    if (c->m == KP_FC_HOLT_DAMPED)
        p->phi = logistic(x[i++]);
    if (c->m == KP_FC_HW_ADD || c->m == KP_FC_HW_MUL)
        p->gamma = logistic(x[i++]);
    p->level = x[i++] * c->scale;
    if (has_trend(c->m))
        p->trend = x[i++] * c->scale;
    /* multiplicative seasons are ratios near 1: they keep their own scale */
    if (c->m == KP_FC_HW_ADD || c->m == KP_FC_HW_MUL)
        for (size_t j = 0; j < M; j++)
            p->season[j] = x[i++] * (c->m == KP_FC_HW_MUL ? 1.0 : c->scale);
}

static size_t pack(const fit_ctx *c, const kp_fc_params *p, double *x)
{
    size_t i = 0;
    x[i++] = logit(p->alpha);
    if (has_trend(c->m))
        x[i++] = logit(p->beta);
    if (c->m == KP_FC_HOLT_DAMPED)
        x[i++] = logit(p->phi);
    if (c->m == KP_FC_HW_ADD || c->m == KP_FC_HW_MUL)
        x[i++] = logit(p->gamma);
    x[i++] = p->level / c->scale;
    if (has_trend(c->m))
        x[i++] = p->trend / c->scale;
    if (c->m == KP_FC_HW_ADD || c->m == KP_FC_HW_MUL)
        for (size_t j = 0; j < M; j++)
            x[i++] = p->season[j] / (c->m == KP_FC_HW_MUL ? 1.0 : c->scale);
    return i;
}

static double objective(const fit_ctx *c, const double *x)
{
    kp_fc_params p;
    unpack(c, x, &p);
    return smooth(c->m, c->y, c->n, &p, NULL, NULL, 0);
}

/* Nelder-Mead (Lagarias et al. 1998 coefficients 1, 2, 0.5, 0.5) from x with initial step
 * `step` per coordinate; x receives the best vertex. Returns its objective value. */
static double nelder_mead(const fit_ctx *c, double *x, size_t d, double step, int max_evals)
{
    double v[NM_MAX_DIM + 1][NM_MAX_DIM], f[NM_MAX_DIM + 1];
    double cen[NM_MAX_DIM], xr[NM_MAX_DIM], xe[NM_MAX_DIM], xc[NM_MAX_DIM];
    assert(d <= NM_MAX_DIM);
    for (size_t i = 0; i <= d; i++) {
        memcpy(v[i], x, d * sizeof *x);
        if (i > 0)
            v[i][i - 1] += step;
        f[i] = objective(c, v[i]);
    }
    int evals = (int)d + 1;
    while (evals < max_evals) {
        /* order: insertion sort on f (d is small) */
        for (size_t i = 1; i <= d; i++)
            for (size_t j = i; j > 0 && f[j] < f[j - 1]; j--) {
                double tf = f[j];
                f[j] = f[j - 1];
                f[j - 1] = tf;
                for (size_t k = 0; k < d; k++) {
                    double tv = v[j][k];
                    v[j][k] = v[j - 1][k];
                    v[j - 1][k] = tv;
                }
            }
        if (fabs(f[d] - f[0]) <= 1e-12 * (fabs(f[0]) + 1e-300) && evals > 50 * (int)d)
            break;
        for (size_t k = 0; k < d; k++) {
            cen[k] = 0.0;
            for (size_t i = 0; i < d; i++)
                cen[k] += v[i][k];
            cen[k] /= (double)d;
            xr[k] = cen[k] + (cen[k] - v[d][k]);
        }
        double fr = objective(c, xr);
        evals++;
        if (fr < f[0]) {
            for (size_t k = 0; k < d; k++)
                xe[k] = cen[k] + 2.0 * (xr[k] - cen[k]);
            double fe = objective(c, xe);
            evals++;
            memcpy(v[d], fe < fr ? xe : xr, d * sizeof(double));
            f[d] = fe < fr ? fe : fr;
            continue;
        }
        if (fr < f[d - 1]) {
            memcpy(v[d], xr, d * sizeof(double));
            f[d] = fr;
            continue;
        }
        int outside = fr < f[d];
        for (size_t k = 0; k < d; k++)
            xc[k] = outside ? cen[k] + 0.5 * (xr[k] - cen[k]) : cen[k] + 0.5 * (v[d][k] - cen[k]);
        double fc = objective(c, xc);
        evals++;
        if (fc < (outside ? fr : f[d])) {
            memcpy(v[d], xc, d * sizeof(double));
            f[d] = fc;
            continue;
        }
        for (size_t i = 1; i <= d; i++) {
            for (size_t k = 0; k < d; k++)
                v[i][k] = v[0][k] + 0.5 * (v[i][k] - v[0][k]);
            f[i] = objective(c, v[i]);
        }
        evals += (int)d;
    }
    size_t best = 0;
    for (size_t i = 1; i <= d; i++)
        if (f[i] < f[best])
            best = i;
    memcpy(x, v[best], d * sizeof *x);
    return f[best];
}

/* Fit parameters and initial states from the heuristic start; restarts from the best point
 * until the SSE stops improving (Nelder-Mead stalls in long valleys otherwise). */
static double fit(kp_fc_method m, const double *y, size_t n, kp_fc_params *out)
{
    fit_ctx c = {.m = m, .y = y, .n = n, .scale = 0.0};
    initial_states(m, y, n, &c.base);
    for (size_t t = 0; t < n; t++)
        c.scale += fabs(y[t]);
    c.scale = c.scale > 0.0 ? c.scale / (double)n : 1.0;
    double x[NM_MAX_DIM];
    size_t d = pack(&c, &c.base, x);
    double best = HUGE_VAL;
    for (int round = 0; round < 8; round++) {
        double v = nelder_mead(&c, x, d, round == 0 ? 0.5 : 0.1, 400 * (int)d);
        if (v >= best * (1.0 - 1e-10))
            break;
        best = v;
    }
    unpack(&c, x, out);
    return best;
}

kp_err kp_forecast_fit(kp_fc_method m, const double *y, size_t n, kp_fc_params *out,
                       double *sse, kp_error *e)
{
    assert(out);
    if (!is_smoothing(m))
        return kp_error_set(e, KP_ERR_INTERNAL, NULL, 0, 0,
                            "forecast: %s has no parameters to fit", kp_forecast_method_name(m));
    kp_err rc = check_method_input(m, y, n, e);
    if (rc)
        return rc;
    double v = fit(m, y, n, out);
    if (v == HUGE_VAL)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "forecast: %s found no valid fit",
                            kp_forecast_method_name(m));
    if (sse)
        *sse = v;
    return KP_OK;
}

/* Point forecasts and one-step residual sigma of a method fitted to y[0..n) (n already
 * checked against the method's minimum). The backtest refits with states estimated too:
 * with heuristic states alone Holt-Winters lost to seasonal naive on a falling series. */
static int point_forecast(kp_fc_method m, const double *y, size_t n, size_t h, double *fc,
                          double *sigma, kp_fc_params *par)
{
    double ss = 0.0;
    size_t cnt = 0;
    if (is_smoothing(m)) {
        kp_fc_params p;
        double sse = fit(m, y, n, &p);
        if (sse == HUGE_VAL)
            return -1;
        smooth(m, y, n, &p, NULL, fc, h);
        if (par)
            *par = p;
        ss = sse;
        cnt = n;
    } else if (m == KP_FC_SNAIVE) {
        for (size_t k = 0; k < h; k++)
            fc[k] = y[n - M + k % M];
        for (size_t t = M; t < n; t++, cnt++)
            ss += (y[t] - y[t - M]) * (y[t] - y[t - M]);
    } else if (m == KP_FC_DRIFT) {
        double slope = n > 1 ? (y[n - 1] - y[0]) / (double)(n - 1) : 0.0;
        for (size_t k = 0; k < h; k++)
            fc[k] = y[n - 1] + slope * (double)(k + 1);
        for (size_t t = 1; t < n; t++, cnt++) {
            double r = y[t] - y[t - 1] - slope;
            ss += r * r;
        }
    } else if (m == KP_FC_NAIVE) {
        for (size_t k = 0; k < h; k++)
            fc[k] = y[n - 1];
        for (size_t t = 1; t < n; t++, cnt++)
            ss += (y[t] - y[t - 1]) * (y[t] - y[t - 1]);
    } else {
        double mean = 0.0;
        size_t k = 0;
        for (size_t t = 0; t < n; t++)
            if (isfinite(y[t])) {
                mean += y[t];
                k++;
            }
        mean = k ? mean / (double)k : 0.0;
        if (m == KP_FC_ZERO)
            mean = 0.0;
        for (size_t j = 0; j < h; j++)
            fc[j] = mean;
        for (size_t t = 0; t < n; t++)
            if (isfinite(y[t])) {
                ss += (y[t] - mean) * (y[t] - mean);
                cnt++;
            }
    }
    *sigma = cnt ? sqrt(ss / (double)cnt) : 0.0;
    for (size_t k = 0; k < h; k++)
        if (!isfinite(fc[k]))
            return -1;
    return isfinite(*sigma) ? 0 : -1;
}

static void intervals(const double *y, size_t n, size_t h, const double *value, double sigma,
                      double *lower, double *upper)
{
    int nonneg = 1;
    for (size_t t = 0; t < n; t++)
        if (isfinite(y[t]) && y[t] < 0.0)
            nonneg = 0;
    for (size_t k = 0; k < h; k++) {
        double w = Z80 * sigma * sqrt((double)(k + 1));
        if (lower)
            lower[k] = nonneg && value[k] - w < 0.0 ? 0.0 : value[k] - w;
        if (upper)
            upper[k] = value[k] + w;
    }
}

static void result_init(kp_fc_result *r, kp_fc_method m)
{
    memset(r, 0, sizeof *r);
    r->method = m;
    r->wape = -1.0;
    r->mase = -1.0;
}

kp_err kp_forecast_method(kp_fc_method m, const double *y, size_t n, size_t h, double *value,
                          double *lower, double *upper, kp_fc_result *r, kp_error *e)
{
    assert(value && (y || n == 0));
    if ((unsigned)m >= KP_FC_METHOD_COUNT)
        return kp_error_set(e, KP_ERR_INTERNAL, NULL, 0, 0, "forecast: unknown method %d",
                            (int)m);
    if (h > KP_FORECAST_MAX_HORIZON)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: horizon of %zu months is over the limit of %d", h,
                            KP_FORECAST_MAX_HORIZON);
    kp_err rc = check_method_input(m, y, n, e);
    if (rc)
        return rc;
    kp_fc_result tmp;
    result_init(&tmp, m);
    if (point_forecast(m, y, n, h, value, &tmp.sigma, &tmp.params) != 0)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "forecast: %s found no valid fit",
                            kp_forecast_method_name(m));
    intervals(y, n, h, value, tmp.sigma, lower, upper);
    snprintf(tmp.because, sizeof tmp.because, "requested");
    if (r)
        *r = tmp;
    return KP_OK;
}

/* Rolling-origin backtest: refit on y[0..o) for origins every 3 months over the last 12
 * (none earlier than `min_train`), forecast min(h, n - o) months, and sum absolute errors.
 * Returns WAPE (sum |error| / sum |actual|), or -1 when the method failed at an origin. */
static double backtest(kp_fc_method m, const double *y, size_t n, size_t h, size_t min_train,
                       double *mase)
{
    double err = 0.0, act = 0.0, fc[KP_FORECAST_MAX_HORIZON], sigma;
    size_t cnt = 0;
    for (size_t back = 12; back >= 3; back -= 3) {
        if (back >= n || n - back < min_train)
            continue;
        size_t o = n - back, hh = h < back ? h : back;
        if (point_forecast(m, y, o, hh, fc, &sigma, NULL) != 0)
            return -1.0;
        for (size_t k = 0; k < hh; k++) {
            err += fabs(y[o + k] - fc[k]);
            act += fabs(y[o + k]);
            cnt++;
        }
    }
    if (cnt == 0)
        return -1.0;
    /* MASE scales by the in-sample one-step MAE of the (seasonal) naive method */
    size_t lag = n > M ? M : 1;
    double scale = 0.0;
    for (size_t t = lag; t < n; t++)
        scale += fabs(y[t] - y[t - lag]);
    scale /= (double)(n - lag);
    *mase = scale > 0.0 ? err / (double)cnt / scale : -1.0;
    return act > 0.0 ? err / act : (err > 0.0 ? 1.0 : 0.0);
}

static kp_err fallback(const double *y, size_t n, size_t h, kp_fc_method m, const char *why,
                       double *value, double *lower, double *upper, kp_fc_result *r)
{
    kp_fc_result tmp;
    result_init(&tmp, m);
    tmp.fallback = 1;
    point_forecast(m, y, n, h, value, &tmp.sigma, NULL);
    intervals(y, n, h, value, tmp.sigma, lower, upper);
    snprintf(tmp.because, sizeof tmp.because, "fallback: %s", why);
    if (r)
        *r = tmp;
    return KP_OK;
}

kp_err kp_forecast_auto(const double *y, size_t n, size_t h, double *value, double *lower,
                        double *upper, kp_fc_result *r, kp_error *e)
{
    assert(value && (y || n == 0));
    if (h > KP_FORECAST_MAX_HORIZON)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: horizon of %zu months is over the limit of %d", h,
                            KP_FORECAST_MAX_HORIZON);
    if (n > KP_FORECAST_MAX_POINTS)
        return check_series(y, n, e);
    size_t finite = 0, zeros = 0, positive = 0;
    for (size_t t = 0; t < n; t++)
        if (isfinite(y[t])) {
            finite++;
            zeros += y[t] == 0.0;
            positive += y[t] > 0.0;
        }
    char why[96];
    if (finite == 0)
        return fallback(y, n, h, KP_FC_ZERO, "no data", value, lower, upper, r);
    if (finite < n) {
        snprintf(why, sizeof why, "%zu of %zu months missing", n - finite, n);
        return fallback(y, n, h, KP_FC_MEAN, why, value, lower, upper, r);
    }
    if (zeros == n)
        return fallback(y, n, h, KP_FC_ZERO, "all months zero", value, lower, upper, r);
    if (n < KP_FORECAST_MIN_POINTS) {
        snprintf(why, sizeof why, "%zu months, fewer than %d", n, KP_FORECAST_MIN_POINTS);
        return fallback(y, n, h, KP_FC_MEAN, why, value, lower, upper, r);
    }
    /* seasonal candidates only when every backtest origin still has two seasons behind it */
    int seasonal = n >= KP_FORECAST_SEASONAL_MIN + 3;
    size_t min_train = seasonal ? KP_FORECAST_SEASONAL_MIN : KP_FORECAST_MIN_POINTS;
    kp_fc_method cand[8];
    size_t nc = 0;
    if (seasonal)
        cand[nc++] = KP_FC_SNAIVE;
    cand[nc++] = KP_FC_DRIFT;
    cand[nc++] = KP_FC_SES;
    cand[nc++] = KP_FC_HOLT;
    cand[nc++] = KP_FC_HOLT_DAMPED;
    if (seasonal) {
        cand[nc++] = KP_FC_HW_ADD;
        if (positive == n)
            cand[nc++] = KP_FC_HW_MUL;
    }
    kp_fc_method best = KP_FC_NAIVE;
    double best_wape = HUGE_VAL, best_mase = -1.0;
    size_t tried = 0;
    for (size_t i = 0; i < nc; i++) {
        double mase = -1.0, w = backtest(cand[i], y, n, h ? h : 1, min_train, &mase);
        if (w < 0.0)
            continue;
        tried++;
        if (w < best_wape - 1e-12) {
            best_wape = w;
            best_mase = mase;
            best = cand[i];
        }
    }
    if (tried == 0) {
        snprintf(why, sizeof why, "%zu months, too few for a backtest", n);
        return fallback(y, n, h, KP_FC_NAIVE, why, value, lower, upper, r);
    }
    kp_fc_result tmp;
    result_init(&tmp, best);
    if (point_forecast(best, y, n, h, value, &tmp.sigma, &tmp.params) != 0)
        return fallback(y, n, h, KP_FC_NAIVE, "chosen method failed on the full series", value,
                        lower, upper, r);
    intervals(y, n, h, value, tmp.sigma, lower, upper);
    tmp.wape = best_wape;
    tmp.mase = best_mase;
    snprintf(tmp.because, sizeof tmp.because,
             "lowest backtest WAPE %.4f of %zu methods (%s)", best_wape, tried,
             seasonal ? "seasonal tried" : "under 27 months: no seasonal model");
    if (r)
        *r = tmp;
    return KP_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double kp_forecast_percentile(const double *sorted, size_t n, double q)
{
    assert(sorted && n > 0 && q >= 0.0 && q <= 1.0);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double frac = pos - (double)i;
    return i + 1 < n ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

static kp_err check_deals(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                          size_t ngroups, size_t runs, kp_error *e)
{
    if (runs > KP_FORECAST_MC_MAX_RUNS)
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                            "forecast: %zu Monte Carlo runs is over the limit of %d", runs,
                            KP_FORECAST_MC_MAX_RUNS);
    for (size_t i = 0; i < n; i++) {
        if (!(deals[i].probability >= 0.0 && deals[i].probability <= 1.0))
            return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                                "forecast: deal %zu has probability %g, outside [0, 1]", i + 1,
                                deals[i].probability);
        if (!(isfinite(deals[i].amount) && deals[i].amount >= 0.0))
            return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                                "forecast: deal %zu has amount %g, not a non-negative number",
                                i + 1, deals[i].amount);
        assert(!group || group[i] < ngroups);
    }
    (void)ngroups;
    return KP_OK;
}

kp_err kp_forecast_simulate_groups(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                                   size_t ngroups, size_t runs, uint64_t seed, double *totals,
                                   kp_error *e)
{
    assert((deals || n == 0) && totals && ngroups > 0 && runs > 0);
    kp_err rc = check_deals(deals, group, n, ngroups, runs, e);
    if (rc)
        return rc;
    double *acc = malloc(ngroups * sizeof *acc);
    if (!acc)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
    kp_rng rng; /* src/rng.c: the same sequence for a seed on every machine */
    kp_rng_seed(&rng, seed, 0);
    for (size_t r = 0; r < runs; r++) {
        memset(acc, 0, ngroups * sizeof *acc);
        for (size_t i = 0; i < n; i++) {
            /* top 53 bits give a uniform double in [0,1); p = 1 always wins, p = 0 never.
             * Every deal draws in every run (even at p = 0 or 1), so a deal's draws do not
             * depend on the other deals' probabilities. The outcome is a coin flip no
             * branch predictor can guess: multiplying by the 0/1 outcome instead of
             * branching on it made 50,000 deals x 10,000 runs three times faster. */
            int won = kp_rng_unit(&rng) < deals[i].probability;
            acc[group ? group[i] : 0] += deals[i].amount * (double)won;
        }
        for (size_t g = 0; g < ngroups; g++)
            totals[g * runs + r] = acc[g];
    }
    free(acc);
    return KP_OK;
}

kp_err kp_forecast_simulate(const kp_fc_deal *deals, size_t n, size_t runs, uint64_t seed,
                            double target, kp_fc_sim *out, kp_error *e)
{
    assert(out && (deals || n == 0));
    if (runs == 0)
        runs = KP_FORECAST_MC_RUNS;
    kp_err rc = check_deals(deals, NULL, n, 1, runs, e);
    if (rc)
        return rc;
    double *tot = malloc(runs * sizeof *tot);
    if (!tot)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
    rc = kp_forecast_simulate_groups(deals, NULL, n, 1, runs, seed, tot, e);
    if (rc) {
        free(tot);
        return rc;
    }
    double sum = 0.0;
    size_t hit = 0;
    for (size_t r = 0; r < runs; r++) {
        sum += tot[r];
        hit += tot[r] >= target;
    }
    qsort(tot, runs, sizeof *tot, cmp_double);
    out->runs = runs;
    out->mean = sum / (double)runs;
    out->p10 = kp_forecast_percentile(tot, runs, 0.10);
    out->p50 = kp_forecast_percentile(tot, runs, 0.50);
    out->p90 = kp_forecast_percentile(tot, runs, 0.90);
    out->p_target = (double)hit / (double)runs;
    free(tot);
    return KP_OK;
}
