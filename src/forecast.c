/* Forecast math without SQLite: exponential smoothing in statsmodels' state convention (so
 * the reference test can compare state for state), Nelder-Mead fitting in a logistic
 * parameterisation that keeps every smoothing parameter inside (0,1), an automatic choice
 * by rolling-origin backtest, and a seeded pipeline Monte Carlo. */
#include "kpipress/forecast.h"
#include "kpipress/log.h"

#include "kpipress/rng.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The SSE alone, as smooth() computes it (the same operations in the same order, so the
 * same bits), with the method's branches taken out of the loop: the fitter evaluates it
 * thousands of times per fit. */
static double sse_trend(const double *y, size_t n, const kp_fc_params *p, int trend, double phi)
{
    const double a = p->alpha, be = p->beta;
    double l = p->level, b = trend ? p->trend : 0.0, sse = 0.0;
    for (size_t t = 0; t < n; t++) {
        double base = l + phi * b, r = y[t] - base;
        sse += r * r;
        double ln = a * y[t] + (1 - a) * base;
        if (trend)
            b = be * (ln - l) + (1 - be) * phi * b;
        l = ln;
    }
    return isfinite(sse) ? sse : HUGE_VAL;
}

static double sse_hw_add(const double *y, size_t n, const kp_fc_params *p)
{
    const double a = p->alpha, be = p->beta, g = p->gamma;
    double s[M], l = p->level, b = p->trend, sse = 0.0;
    memcpy(s, p->season, sizeof s);
    for (size_t t = 0, j = 0; t < n; t++, j = j + 1 == M ? 0 : j + 1) {
        double base = l + 1.0 * b, sp = s[j], r = y[t] - (base + sp);
        sse += r * r;
        double ln = a * (y[t] - sp) + (1 - a) * base;
        b = be * (ln - l) + (1 - be) * 1.0 * b;
        s[j] = g * (y[t] - base) + (1 - g) * sp;
        l = ln;
    }
    return isfinite(sse) ? sse : HUGE_VAL;
}

static double sse_hw_mul(const double *y, size_t n, const kp_fc_params *p)
{
    const double a = p->alpha, be = p->beta, g = p->gamma;
    double s[M], l = p->level, b = p->trend, sse = 0.0;
    memcpy(s, p->season, sizeof s);
    for (size_t t = 0, j = 0; t < n; t++, j = j + 1 == M ? 0 : j + 1) {
        double base = l + 1.0 * b, sp = s[j];
        if (sp <= 0.0 || base <= 0.0)
            return HUGE_VAL;
        double r = y[t] - base * sp;
        sse += r * r;
        double ln = a * y[t] / sp + (1 - a) * base;
        b = be * (ln - l) + (1 - be) * 1.0 * b;
        s[j] = g * y[t] / base + (1 - g) * sp;
        l = ln;
    }
    return isfinite(sse) ? sse : HUGE_VAL;
}

static double sse_only(kp_fc_method m, const double *y, size_t n, const kp_fc_params *p)
{
    switch (m) {
    case KP_FC_SES: return sse_trend(y, n, p, 0, 1.0);
    case KP_FC_HOLT: return sse_trend(y, n, p, 1, 1.0);
    case KP_FC_HOLT_DAMPED: return sse_trend(y, n, p, 1, p->phi);
    case KP_FC_HW_ADD: return sse_hw_add(y, n, p);
    case KP_FC_HW_MUL: return sse_hw_mul(y, n, p);
    default: return smooth(m, y, n, p, NULL, NULL, 0);
    }
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
    return sse_only(c->m, c->y, c->n, &p);
}

/* sum[k] = coordinate k summed over the d + 1 vertices of the simplex. */
static void simplex_sum(double v[][NM_MAX_DIM], size_t d, double *sum)
{
    for (size_t k = 0; k < d; k++) {
        sum[k] = 0.0;
        for (size_t i = 0; i <= d; i++)
            sum[k] += v[i][k];
    }
}

/* Replace vertex old by x, keeping the coordinate sums current. */
static void replace_vertex(double *old, const double *x, size_t d, double *sum)
{
    for (size_t k = 0; k < d; k++) {
        sum[k] += x[k] - old[k];
        old[k] = x[k];
    }
}

/* Nelder-Mead (Lagarias et al. 1998 coefficients 1, 2, 0.5, 0.5) from x with initial step
 * `step` per coordinate; x receives the best vertex. Returns its objective value. The
 * simplex is kept in order through a permutation (vertex k of the order is v[at[k]]), so
 * ordering moves indices, not vertices; sums run over the vertices in that order. */
static double nelder_mead(const fit_ctx *c, double *x, size_t d, double step, int max_evals)
{
    double v[NM_MAX_DIM + 1][NM_MAX_DIM], f[NM_MAX_DIM + 1];
    double cen[NM_MAX_DIM], xr[NM_MAX_DIM], xe[NM_MAX_DIM], xc[NM_MAX_DIM], sum[NM_MAX_DIM];
    size_t at[NM_MAX_DIM + 1];
    assert(d <= NM_MAX_DIM);
    for (size_t i = 0; i <= d; i++) {
        memcpy(v[i], x, d * sizeof *x);
        if (i > 0)
            v[i][i - 1] += step;
        f[i] = objective(c, v[i]);
        at[i] = i;
    }
    simplex_sum(v, d, sum);
    int evals = (int)d + 1;
    while (evals < max_evals) {
        /* order: insertion sort on f (d is small; usually only the last vertex moves),
         * shifting rather than swapping: swapped neighbours stalled on store forwarding */
        for (size_t i = 1; i <= d; i++) {
            double key = f[i];
            size_t ka = at[i], j = i;
            for (; j > 0 && key < f[j - 1]; j--) {
                f[j] = f[j - 1];
                at[j] = at[j - 1];
            }
            f[j] = key;
            at[j] = ka;
        }
        if (fabs(f[d] - f[0]) <= 1e-12 * (fabs(f[0]) + 1e-300) && evals > 50 * (int)d)
            break;
        double *worst = v[at[d]];
        for (size_t k = 0; k < d; k++) {
            cen[k] = (sum[k] - worst[k]) / (double)d;
            xr[k] = cen[k] + (cen[k] - worst[k]);
        }
        double fr = objective(c, xr);
        evals++;
        if (fr < f[0]) {
            for (size_t k = 0; k < d; k++)
                xe[k] = cen[k] + 2.0 * (xr[k] - cen[k]);
            double fe = objective(c, xe);
            evals++;
            replace_vertex(worst, fe < fr ? xe : xr, d, sum);
            f[d] = fe < fr ? fe : fr;
            continue;
        }
        if (fr < f[d - 1]) {
            replace_vertex(worst, xr, d, sum);
            f[d] = fr;
            continue;
        }
        int outside = fr < f[d];
        for (size_t k = 0; k < d; k++)
            xc[k] = outside ? cen[k] + 0.5 * (xr[k] - cen[k]) : cen[k] + 0.5 * (worst[k] - cen[k]);
        double fc = objective(c, xc);
        evals++;
        if (fc < (outside ? fr : f[d])) {
            replace_vertex(worst, xc, d, sum);
            f[d] = fc;
            continue;
        }
        const double *b = v[at[0]];
        for (size_t i = 1; i <= d; i++) {
            double *w = v[at[i]];
            for (size_t k = 0; k < d; k++)
                w[k] = b[k] + 0.5 * (w[k] - b[k]);
            f[i] = objective(c, w);
        }
        simplex_sum(v, d, sum);
        evals += (int)d;
    }
    size_t best = 0;
    for (size_t i = 1; i <= d; i++)
        if (f[i] < f[best])
            best = i;
    memcpy(x, v[at[best]], d * sizeof *x);
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

/* Hyndman et al. (2008, table 6.1, class 1): ETS(A,N,N), (A,A,N), (A,Ad,N), (A,A,A) and
 * (A,Ad,A) have v_h = sigma^2 (1 + sum_{j=1}^{h-1} c_j^2) with c_j = alpha + beta_e phi_j
 * + gamma [j a multiple of m], phi_j = phi + ... + phi^j (j without damping). Their beta is
 * the error's weight in the trend, alpha x our beta (statsmodels' ExponentialSmoothing
 * convention: b_t = beta (l_t - l_{t-1}) + ...); gamma is ours (the seasonal update is
 * against l_{t-1} + phi b_{t-1}). Holt-Winters multiplicative has no closed form: the
 * additive formula on its own parameters stands in for it, an approximation that holds
 * while the seasonal factors stay near 1. */
static double smoothing_variance(kp_fc_method m, const kp_fc_params *p, size_t h)
{
    const int trend = has_trend(m), seas = m == KP_FC_HW_ADD || m == KP_FC_HW_MUL;
    const double phi = m == KP_FC_HOLT_DAMPED ? p->phi : 1.0, beta = p->alpha * p->beta;
    double v = 1.0, phi_j = 0.0, pk = 1.0;
    for (size_t j = 1; j < h; j++) {
        pk *= phi;
        phi_j += pk;
        double c = p->alpha + (trend ? beta * phi_j : 0.0) + (seas && j % M == 0 ? p->gamma : 0.0);
        v += c * c;
    }
    return v;
}

double kp_forecast_variance(kp_fc_method m, const kp_fc_params *p, size_t n, size_t h)
{
    assert(h >= 1 && (p || !is_smoothing(m)));
    const double k = (double)h, t = n > 0 ? (double)n : 1.0;
    switch (m) {
    case KP_FC_ZERO: return 1.0;                         /* sigma is 0: no spread to widen */
    case KP_FC_MEAN: return 1.0 + 1.0 / t;               /* FPP3 table 5.2: mean */
    case KP_FC_NAIVE: return k;                          /* random walk */
    case KP_FC_SNAIVE: return (double)((h - 1) / M + 1); /* whole seasons ahead */
    case KP_FC_DRIFT: return k * (1.0 + k / t);          /* the slope's own error too */
    default: return smoothing_variance(m, p, h);
    }
}

/* value +- z sigma sqrt(v_k), v_k the method's k-step variance in units of sigma^2 (T the
 * months with a value, for the mean and drift); lower clamped at 0 for a series without
 * a negative month. */
static void intervals(const double *y, size_t n, size_t h, const double *value,
                      const kp_fc_result *r, double *lower, double *upper)
{
    int nonneg = 1;
    size_t finite = 0;
    for (size_t t = 0; t < n; t++)
        if (isfinite(y[t])) {
            finite++;
            if (y[t] < 0.0)
                nonneg = 0;
        }
    for (size_t k = 0; k < h; k++) {
        double w =
            Z80 * r->sigma * sqrt(kp_forecast_variance(r->method, &r->params, finite, k + 1));
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
    intervals(y, n, h, value, &tmp, lower, upper);
    snprintf(tmp.because, sizeof tmp.because, "requested");
    if (r)
        *r = tmp;
    return KP_OK;
}

/* Rolling-origin backtest: refit on y[0..o) for origins every 3 months over the last 12
 * (none earlier than `min_train`), forecast min(h, n - o) months, and sum absolute errors.
 * Returns WAPE (sum |error| / sum |actual|), or -1 when the method failed at an origin.
 * The errors only grow from origin to origin, so once the WAPE cannot end below `bound`
 * the remaining origins are not fitted: the method cannot win, and the return value is
 * then a lower bound of its WAPE, at least `bound` (*mase is left alone). */
static double backtest(kp_fc_method m, const double *y, size_t n, size_t h, size_t min_train,
                       double bound, double *mase)
{
    double err = 0.0, act = 0.0, fc[KP_FORECAST_MAX_HORIZON], sigma;
    size_t cnt = 0;
    for (size_t back = 12; back >= 3; back -= 3)
        for (size_t k = 0; back < n && n - back >= min_train && k < (h < back ? h : back); k++)
            act += fabs(y[n - back + k]);
    for (size_t back = 12; back >= 3; back -= 3) {
        if (back >= n || n - back < min_train)
            continue;
        size_t o = n - back, hh = h < back ? h : back;
        if (point_forecast(m, y, o, hh, fc, &sigma, NULL) != 0)
            return -1.0;
        for (size_t k = 0; k < hh; k++) {
            err += fabs(y[o + k] - fc[k]);
            cnt++;
        }
        double lower = act > 0.0 ? err / act : (err > 0.0 ? 1.0 : 0.0);
        if (lower >= bound)
            return lower;
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
    intervals(y, n, h, value, &tmp, lower, upper);
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
        /* a method wins only with a WAPE below the best so far by more than one part in a
         * million: closer is a tie, which goes to the earlier, simpler method (Holt and a
         * damped Holt with phi near 1 differ in the optimiser's last digits only). A
         * backtest that cannot get there stops early and still counts as tried. */
        double bound = best_wape * (1.0 - 1e-6) - 1e-12;
        double mase = -1.0, w = backtest(cand[i], y, n, h ? h : 1, min_train, bound, &mase);
        if (w < 0.0)
            continue;
        tried++;
        if (w < bound) {
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
    intervals(y, n, h, value, &tmp, lower, upper);
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

/* Linear interpolation between the order statistics at and after pos (numpy's "linear"):
 * at is the value of rank (size_t)pos, after that of the next rank (if any). */
static double interpolate(double pos, double at, double after, int has_after)
{
    double frac = pos - (double)(size_t)pos;
    return has_after ? at + frac * (after - at) : at;
}

double kp_forecast_percentile(const double *sorted, size_t n, double q)
{
    assert(sorted && n > 0 && q >= 0.0 && q <= 1.0);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    return interpolate(pos, sorted[i], i + 1 < n ? sorted[i + 1] : 0.0, i + 1 < n);
}

static void swap_double(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Reorder v[lo..hi) so that v[k] holds the value it has in sorted order, with nothing
 * larger before it and nothing smaller after it: Hoare's selection with a three-way
 * partition, so the many equal totals of a group of near-certain deals cost one pass.
 * After 64 rounds (an unlucky pivot sequence) the rest of the range is sorted instead. */
static void select_rank(double *v, size_t lo, size_t hi, size_t k)
{
    for (int round = 0; hi - lo > 1; round++) {
        if (round == 64) {
            qsort(v + lo, hi - lo, sizeof *v, cmp_double);
            return;
        }
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) = pivot, [gt,hi) > pivot */
        while (i < gt) {
            if (v[i] < pivot)
                swap_double(&v[lt++], &v[i++]);
            else if (v[i] > pivot)
                swap_double(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

void kp_forecast_percentiles(double *v, size_t n, const double *q, size_t nq, double *out)
{
    assert(v && n > 0 && (q || nq == 0) && out);
    size_t from = 0; /* v[from..n) holds the n - from largest values */
    for (size_t j = 0; j < nq; j++) {
        assert(q[j] >= 0.0 && q[j] <= 1.0 && (j == 0 || q[j] >= q[j - 1]));
        double pos = q[j] * (double)(n - 1);
        size_t i = (size_t)pos;
        if (i >= from) {
            select_rank(v, from, n, i);
            from = i + 1;
        }
        double after = 0.0; /* the next rank's value: the least of what lies above */
        for (size_t k = i + 1; k < n; k++)
            if (k == i + 1 || v[k] < after)
                after = v[k];
        out[j] = interpolate(pos, v[i], after, i + 1 < n);
    }
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

/* The Monte Carlo runs in blocks of KP_FORECAST_MC_BLOCK runs; block b draws from the
 * stream (seed, b) of src/rng.c, so a block's totals depend on the seed and its index
 * only, and the blocks can be shared among threads in any way. Each run's group totals
 * go to on_run, which keeps what its caller needs of them. */
typedef struct mc_share mc_share;
typedef void (*mc_run_fn)(const mc_share *w, size_t block, size_t run, const double *acc);

struct mc_share {
    const uint64_t *below; /* per deal: it wins when its 32-bit draw is below this */
    const uint64_t *bits;  /* per deal: the amount's bit pattern */
    const uint32_t *group; /* per deal */
    size_t n, ngroups, runs;
    uint64_t seed;
    mc_run_fn on_run;
    void *user;
    double *acc;        /* this share's ngroups running sums */
    size_t first, step; /* blocks first, first + step, ...; first is the share's index */
};

/* The amount if the deal won, else +0.0, by a mask on its bit pattern: the outcome is a
 * coin flip no branch predictor can guess, and converting the 0/1 outcome to a double to
 * multiply by made the whole loop five times slower than this. */
static double won_amount(uint64_t bits, int won)
{
    uint64_t m = bits & ((uint64_t)0 - (uint64_t)won);
    double v;
    memcpy(&v, &m, sizeof v);
    return v;
}

static void mc_block(const mc_share *w, size_t b)
{
    const uint64_t *below = w->below, *bits = w->bits;
    const uint32_t *group = w->group;
    double *acc = w->acc;
    size_t n = w->n;
    size_t r1 = (b + 1) * KP_FORECAST_MC_BLOCK < w->runs ? (b + 1) * KP_FORECAST_MC_BLOCK : w->runs;
    kp_rng rng;
    kp_rng_seed(&rng, w->seed, b);
    for (size_t r = b * KP_FORECAST_MC_BLOCK; r < r1; r++) {
        memset(acc, 0, w->ngroups * sizeof *acc);
        /* one 64-bit output decides two deals: the high half the first, the low half the
         * second; an odd last deal takes the high half of a fresh output */
        size_t i = 0;
        for (; i + 1 < n; i += 2) {
            uint64_t x = kp_rng_next(&rng);
            acc[group[i]] += won_amount(bits[i], (x >> 32) < below[i]);
            acc[group[i + 1]] += won_amount(bits[i + 1], (x & 0xFFFFFFFFu) < below[i + 1]);
        }
        if (i < n)
            acc[group[i]] += won_amount(bits[i], (kp_rng_next(&rng) >> 32) < below[i]);
        w->on_run(w, b, r, acc);
    }
}

static void *mc_worker(void *arg)
{
    const mc_share *w = arg;
    size_t nblocks = (w->runs + KP_FORECAST_MC_BLOCK - 1) / KP_FORECAST_MC_BLOCK;
    for (size_t b = w->first; b < nblocks; b += w->step)
        mc_block(w, b);
    return NULL;
}

int kp_forecast_threads(void)
{
    static int warned; /* called from the main thread only, once per forecast part */
    const char *env = getenv("KPIPRESS_FORECAST_THREADS");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1)
            n = v; /* more than KP_FORECAST_MAX_THREADS: capped below */
        else if (!warned++)
            kp_log_warn("KPIPRESS_FORECAST_THREADS=\"%s\" is not a positive number: "
                        "using one thread per processor",
                        env);
    }
    return n < 1 ? 1 : n > KP_FORECAST_MAX_THREADS ? KP_FORECAST_MAX_THREADS : (int)n;
}

/* Shares (threads) a simulation of runs is cut into: at most one per block. */
static size_t mc_shares(size_t runs)
{
    size_t nblocks = (runs + KP_FORECAST_MC_BLOCK - 1) / KP_FORECAST_MC_BLOCK;
    size_t nt = (size_t)kp_forecast_threads();
    return nt > nblocks ? nblocks : nt;
}

/* Simulate runs of deals[0..n) on nt shares (share t takes blocks t, t + nt, ...),
 * handing every run's group totals to on_run. */
static kp_err mc_run(const kp_fc_deal *deals, const uint32_t *group, size_t n, size_t ngroups,
                     size_t runs, uint64_t seed, size_t nt, mc_run_fn on_run, void *user,
                     kp_error *e)
{
    if (nt < 1 || nt > KP_FORECAST_MAX_THREADS)
        nt = 1; /* mc_shares gives 1..KP_FORECAST_MAX_THREADS */
    uint64_t *below = malloc((n + 1) * sizeof *below), *bits = malloc((n + 1) * sizeof *bits);
    uint32_t *zero = group ? NULL : calloc(n + 1, sizeof *zero); /* group NULL: all in 0 */
    double *acc = malloc(nt * ngroups * sizeof *acc);
    if (!below || !bits || (!group && !zero) || !acc) {
        free(below);
        free(bits);
        free(zero);
        free(acc);
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        /* P(draw < below) = below / 2^32: within 2^-32 of p; exactly 0 at p = 0, 1 at 1 */
        below[i] = (uint64_t)(deals[i].probability * 4294967296.0);
        memcpy(&bits[i], &deals[i].amount, sizeof bits[i]);
    }
    mc_share w[KP_FORECAST_MAX_THREADS];
    pthread_t tid[KP_FORECAST_MAX_THREADS];
    for (size_t t = 0; t < nt; t++)
        w[t] = (mc_share){.below = below,
                          .bits = bits,
                          .group = group ? group : zero,
                          .n = n,
                          .ngroups = ngroups,
                          .runs = runs,
                          .seed = seed,
                          .on_run = on_run,
                          .user = user,
                          .acc = acc + t * ngroups,
                          .first = t,
                          .step = nt};
    size_t started = 1;
    for (size_t t = 1; t < nt; t++, started++)
        if (pthread_create(&tid[t], NULL, mc_worker, &w[t]) != 0)
            break;
    /* the calling thread takes share 0 and the shares of threads that could not start */
    mc_worker(&w[0]);
    for (size_t t = started; t < nt; t++)
        mc_worker(&w[t]);
    for (size_t t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    free(below);
    free(bits);
    free(zero);
    free(acc);
    return KP_OK;
}

static void keep_totals(const mc_share *w, size_t block, size_t r, const double *acc)
{
    double *totals = w->user;
    (void)block;
    for (size_t g = 0; g < w->ngroups; g++)
        totals[g * w->runs + r] = acc[g];
}

kp_err kp_forecast_simulate_groups(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                                   size_t ngroups, size_t runs, uint64_t seed, double *totals,
                                   kp_error *e)
{
    assert((deals || n == 0) && totals && ngroups > 0 && runs > 0);
    kp_err rc = check_deals(deals, group, n, ngroups, runs, e);
    if (rc)
        return rc;
    return mc_run(deals, group, n, ngroups, runs, seed, mc_shares(runs), keep_totals, totals, e);
}

/* ---- roll-ups without the runs --------------------------------------------------------

   kp_forecast_simulate_rollup keeps no run's totals. Pass 1 simulates every run and keeps,
   per sum, its total and target hits per block, the first ROLLUP_ATOMS distinct values
   with their counts, and a histogram of its values in ROLLUP_BINS bins (the last two per
   share, added up afterwards). A sum that took no more distinct values is done: its ranks
   are read from the counts. For the others, the bins are a monotone function of the value,
   so the bin of every wanted rank is known from the histogram; pass 2 simulates the same
   runs again (the blocks are reseeded: the same draws) and keeps only the values falling
   in those bins, from which the ranks are read exactly: the same order statistics as a
   selection among all the runs, in a few MB whatever the number of runs and sums. The
   bins span the sum's mean +- 2 standard deviations (from the deals' amounts and
   probabilities), the outer ones open: that choice affects only how many values pass 2
   keeps, never a result. P10 to P90 of a sum of many deals lie within +- 1.3 of them, and
   the narrower the bins the fewer values pass 2 keeps (+- 4: 2.7 MB at 200 reps and
   10,000 runs, the peak of the forecast stage; +- 2: half). The price is the second
   simulation. */

#define ROLLUP_BINS 256
#define ROLLUP_SPAN 2.0 /* standard deviations each side of the mean */
#define ROLLUP_MAXQ 8
/* A sum of a few deals takes few distinct values, each in many runs: up to this many are
 * counted in pass 1, which then gives its ranks without a pass 2 (a bin holding one such
 * value would keep thousands of copies of it). */
#define ROLLUP_ATOMS 32
/* Values pass 2 may keep at once (8 bytes each, 4 MB); sums needing more take further
 * passes. */
#define ROLLUP_KEEP 524288

typedef struct rollup_ctx {
    const kp_fc_rollup *r;
    size_t nblocks;
    double *lo, *inv;   /* per sum: bin k holds values v with (v - lo) x inv in [k, k + 1) */
    uint32_t *hist;     /* shares x nsums x ROLLUP_BINS counts (share 0 gets the sum) */
    double *bsum;       /* nsums x nblocks: totals over each block's runs */
    uint32_t *bhit;     /* nsums x nblocks: target hits in each block */
    double *av;          /* shares x nsums x ROLLUP_ATOMS: the distinct values seen... */
    uint32_t *ac;        /* ...their counts... */
    uint32_t *na;        /* ...how many (ROLLUP_ATOMS + 1: more than fit) */
    /* pass 2: sums active[0..nactive) of [s0, s1) keep the values of the bins marked in
     * need (sums resolved by pass 1 are left out) */
    size_t s0, s1, *active, nactive;
    uint64_t *need;          /* nsums x ROLLUP_BINS / 64 bits */
    double *keep;            /* the kept values */
    atomic_size_t *fill;     /* per sum of [s0, s1): next free slot in keep */
} rollup_ctx;

static size_t rollup_bin(const rollup_ctx *c, size_t s, double v)
{
    double x = (v - c->lo[s]) * c->inv[s];
    return x < 1.0 ? 0 : x >= ROLLUP_BINS - 1 ? ROLLUP_BINS - 1 : (size_t)x;
}

static double rollup_value(const kp_fc_rollup *r, size_t s, const double *acc)
{
    double v = 0.0;
    for (size_t j = r->off[s]; j < r->off[s + 1]; j++)
        v += acc[r->member[j]];
    return v;
}

static void rollup_pass1(const mc_share *w, size_t b, size_t run, const double *acc)
{
    rollup_ctx *c = w->user;
    (void)run;
    const kp_fc_rollup *r = c->r;
    size_t t = w->first;
    uint32_t *hist = c->hist + t * r->nsums * ROLLUP_BINS;
    for (size_t s = 0; s < r->nsums; s++) {
        double v = rollup_value(r, s, acc);
        c->bsum[s * c->nblocks + b] += v;
        c->bhit[s * c->nblocks + b] += r->base[s] + v >= r->target[s];
        hist[s * ROLLUP_BINS + rollup_bin(c, s, v)]++;
        uint32_t *na = &c->na[t * r->nsums + s];
        if (*na <= ROLLUP_ATOMS) {
            double *av = c->av + (t * r->nsums + s) * ROLLUP_ATOMS;
            uint32_t *ac = c->ac + (t * r->nsums + s) * ROLLUP_ATOMS, k = 0;
            while (k < *na && av[k] != v)
                k++;
            if (k == *na && ++*na <= ROLLUP_ATOMS) {
                av[k] = v;
                ac[k] = 0;
            }
            if (k < ROLLUP_ATOMS)
                ac[k]++;
        }
    }
}

static void rollup_pass2(const mc_share *w, size_t b, size_t run, const double *acc)
{
    rollup_ctx *c = w->user;
    (void)b;
    (void)run;
    for (size_t a = 0; a < c->nactive; a++) {
        size_t s = c->active[a];
        const uint64_t *need = c->need + s * (ROLLUP_BINS / 64);
        double v = rollup_value(c->r, s, acc);
        size_t k = rollup_bin(c, s, v);
        if (need[k / 64] >> (k % 64) & 1)
            c->keep[atomic_fetch_add_explicit(&c->fill[s - c->s0], 1, memory_order_relaxed)] = v;
    }
}

/* The bin holding rank i of sum s (hist: its merged counts), and how many values lie in
 * the bins before it. */
static size_t rank_bin(const uint32_t *hist, size_t i, size_t *before)
{
    size_t k = 0, below = 0;
    while (below + hist[k] <= i)
        below += hist[k++];
    *before = below;
    return k;
}

/* Bins and their standard deviation from the deals: the sum's mean and variance. */
static void rollup_bins(rollup_ctx *c, const kp_fc_deal *deals, const uint32_t *group, size_t n,
                        size_t ngroups, double *gmean, double *gvar)
{
    const kp_fc_rollup *r = c->r;
    memset(gmean, 0, ngroups * sizeof *gmean);
    memset(gvar, 0, ngroups * sizeof *gvar);
    for (size_t i = 0; i < n; i++) {
        double p = deals[i].probability, a = deals[i].amount;
        gmean[group ? group[i] : 0] += p * a;
        gvar[group ? group[i] : 0] += p * (1.0 - p) * a * a;
    }
    for (size_t s = 0; s < r->nsums; s++) {
        double m = 0.0, v = 0.0;
        for (size_t j = r->off[s]; j < r->off[s + 1]; j++) {
            m += gmean[r->member[j]];
            v += gvar[r->member[j]];
        }
        double sd = sqrt(v);
        c->lo[s] = m - ROLLUP_SPAN * sd;
        c->inv[s] = sd > 0.0 && isfinite(sd) ? ROLLUP_BINS / (2.0 * ROLLUP_SPAN * sd) : 0.0;
        if (!isfinite(c->lo[s]) || !isfinite(c->inv[s]))
            c->lo[s] = c->inv[s] = 0.0; /* one bin: still exact, only bigger */
    }
}

/* The wanted quantiles of sum s from kept[0..nkept), the values of its marked bins: they
 * are sorted, and rank x of all the runs is at (values of marked bins before x's bin) +
 * (x's place within its bin). */
static void rollup_quantiles(const rollup_ctx *c, size_t s, double *kept, size_t nkept,
                             size_t runs, const double *q, size_t nq, double *out)
{
    const uint32_t *h = c->hist + s * ROLLUP_BINS;
    const uint64_t *need = c->need + s * (ROLLUP_BINS / 64);
    qsort(kept, nkept, sizeof *kept, cmp_double);
    for (size_t j = 0; j < nq; j++) {
        double pos = q[j] * (double)(runs - 1), v[2] = {0.0, 0.0};
        size_t i = (size_t)pos;
        for (size_t x = i; x <= i + 1 && x < runs; x++) {
            size_t before, at = 0, k = rank_bin(h, x, &before);
            for (size_t m = 0; m < k; m++)
                if (need[m / 64] >> (m % 64) & 1)
                    at += h[m];
            assert(at + (x - before) < nkept);
            v[x - i] = kept[at + (x - before)];
        }
        out[j] = interpolate(pos, v[0], v[1], i + 1 < runs);
    }
}

/* Sum s's quantiles when its runs took at most ROLLUP_ATOMS distinct values (every run
 * alike, a single deal...): merged from the shares' tables into share 0's, sorted, and
 * read by cumulative count. Returns 0 when there were more. */
static int rollup_atoms(rollup_ctx *c, size_t nt, size_t s, size_t runs, const double *q,
                        size_t nq, double *out)
{
    size_t ns = c->r->nsums;
    double *av = c->av + s * ROLLUP_ATOMS;
    uint32_t *ac = c->ac + s * ROLLUP_ATOMS, *na = &c->na[s];
    for (size_t t = 1; t < nt && *na <= ROLLUP_ATOMS; t++) {
        const double *bv = c->av + (t * ns + s) * ROLLUP_ATOMS;
        const uint32_t *bc = c->ac + (t * ns + s) * ROLLUP_ATOMS, nb = c->na[t * ns + s];
        if (nb > ROLLUP_ATOMS) {
            *na = nb;
            break;
        }
        for (uint32_t j = 0; j < nb && *na <= ROLLUP_ATOMS; j++) {
            uint32_t k = 0;
            while (k < *na && av[k] != bv[j])
                k++;
            if (k == *na && ++*na <= ROLLUP_ATOMS) {
                av[k] = bv[j];
                ac[k] = 0;
            }
            if (k < ROLLUP_ATOMS)
                ac[k] += bc[j];
        }
    }
    if (*na > ROLLUP_ATOMS)
        return 0;
    /* insertion sort by value: at most ROLLUP_ATOMS entries */
    for (uint32_t i = 1; i < *na; i++)
        for (uint32_t k = i; k > 0 && av[k - 1] > av[k]; k--) {
            double tv = av[k];
            uint32_t tc = ac[k];
            av[k] = av[k - 1];
            ac[k] = ac[k - 1];
            av[k - 1] = tv;
            ac[k - 1] = tc;
        }
    for (size_t j = 0; j < nq; j++) {
        double pos = q[j] * (double)(runs - 1), v[2] = {0.0, 0.0};
        size_t i = (size_t)pos;
        for (size_t x = i; x <= i + 1 && x < runs; x++) {
            size_t k = 0, below = 0;
            while (below + ac[k] <= x)
                below += ac[k++];
            v[x - i] = av[k];
        }
        out[j] = interpolate(pos, v[0], v[1], i + 1 < runs);
    }
    return 1;
}

kp_err kp_forecast_simulate_rollup(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                                   size_t ngroups, size_t runs, uint64_t seed,
                                   const kp_fc_rollup *r, const double *q, size_t nq,
                                   kp_fc_rollup_out *out, kp_error *e)
{
    assert((deals || n == 0) && ngroups > 0 && runs > 0 && r && out && nq <= ROLLUP_MAXQ);
    kp_err rc = check_deals(deals, group, n, ngroups, runs, e);
    if (rc || r->nsums == 0)
        return rc;
    size_t ns = r->nsums, nt = mc_shares(runs);
    rollup_ctx c = {.r = r, .nblocks = (runs + KP_FORECAST_MC_BLOCK - 1) / KP_FORECAST_MC_BLOCK};
    size_t limit = runs > ROLLUP_KEEP ? runs : ROLLUP_KEEP;
    double *gm = malloc((ngroups + 1) * sizeof *gm), *gv = malloc((ngroups + 1) * sizeof *gv);
    c.lo = malloc(ns * sizeof *c.lo);
    c.inv = malloc(ns * sizeof *c.inv);
    c.hist = calloc(nt * ns * ROLLUP_BINS, sizeof *c.hist);
    c.bsum = calloc(ns * c.nblocks, sizeof *c.bsum);
    c.bhit = calloc(ns * c.nblocks, sizeof *c.bhit);
    c.need = calloc(ns * (ROLLUP_BINS / 64), sizeof *c.need);
    c.av = malloc(nt * ns * ROLLUP_ATOMS * sizeof *c.av);
    c.ac = malloc(nt * ns * ROLLUP_ATOMS * sizeof *c.ac);
    c.na = calloc(nt * ns, sizeof *c.na);
    size_t *nkeep = calloc(ns, sizeof *nkeep);
    c.active = malloc(ns * sizeof *c.active);
    if (!gm || !gv || !c.lo || !c.inv || !c.hist || !c.bsum || !c.bhit || !c.need || !c.av || !c.ac || !c.na || !nkeep || !c.active) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
        goto done;
    }
    rollup_bins(&c, deals, group, n, ngroups, gm, gv);
    if ((rc = mc_run(deals, group, n, ngroups, runs, seed, nt, rollup_pass1, &c, e)))
        goto done;
    /* merge the shares; mark the bins of the wanted ranks */
    for (size_t s = 0; s < ns; s++) {
        uint32_t *h = c.hist + s * ROLLUP_BINS;
        for (size_t t = 1; t < nt; t++) {
            const uint32_t *ht = c.hist + (t * ns + s) * ROLLUP_BINS;
            for (size_t k = 0; k < ROLLUP_BINS; k++)
                h[k] += ht[k];
        }
        out[s].total = 0.0;
        out[s].hits = 0;
        for (size_t b = 0; b < c.nblocks; b++) {
            out[s].total += c.bsum[s * c.nblocks + b];
            out[s].hits += c.bhit[s * c.nblocks + b];
        }
        if (rollup_atoms(&c, nt, s, runs, q, nq, out[s].q))
            continue;
        uint64_t *need = c.need + s * (ROLLUP_BINS / 64);
        for (size_t j = 0; j < nq; j++) {
            assert(q[j] >= 0.0 && q[j] <= 1.0 && (j == 0 || q[j] >= q[j - 1]));
            size_t i = (size_t)(q[j] * (double)(runs - 1)), before;
            for (size_t x = i; x <= i + 1 && x < runs; x++) {
                size_t k = rank_bin(h, x, &before);
                if (!(need[k / 64] >> (k % 64) & 1))
                    nkeep[s] += h[k];
                need[k / 64] |= (uint64_t)1 << (k % 64);
            }
        }
    }
    /* pass 2, over as many sums at a time as ROLLUP_KEEP values allow */
    for (size_t s0 = 0; s0 < ns && !rc;) {
        size_t s1 = s0, total = 0;
        while (s1 < ns && (s1 == s0 || total + nkeep[s1] <= limit))
            total += nkeep[s1++];
        if (total) {
            c.s0 = s0;
            c.s1 = s1;
            c.keep = malloc(total * sizeof *c.keep);
            c.fill = malloc((s1 - s0) * sizeof *c.fill);
            if (!c.keep || !c.fill) {
                rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
            } else {
                size_t at = 0;
                c.nactive = 0;
                for (size_t s = s0; s < s1; s++) {
                    atomic_init(&c.fill[s - s0], at);
                    at += nkeep[s];
                    if (nkeep[s])
                        c.active[c.nactive++] = s;
                }
                rc = mc_run(deals, group, n, ngroups, runs, seed, nt, rollup_pass2, &c, e);
            }
            for (size_t s = s0, at = 0; s < s1 && !rc; at += nkeep[s++])
                if (nkeep[s])
                    rollup_quantiles(&c, s, c.keep + at, nkeep[s], runs, q, nq, out[s].q);
            free(c.keep);
            free(c.fill);
            c.keep = NULL;
            c.fill = NULL;
        }
        s0 = s1;
    }
done:
    free(gm);
    free(gv);
    free(c.lo);
    free(c.inv);
    free(c.hist);
    free(c.bsum);
    free(c.bhit);
    free(c.need);
    free(c.av);
    free(c.ac);
    free(c.na);
    free(nkeep);
    free(c.active);
    return rc;
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
    const double q[3] = {0.10, 0.50, 0.90};
    double pq[3];
    kp_forecast_percentiles(tot, runs, q, 3, pq);
    out->runs = runs;
    out->mean = sum / (double)runs;
    out->p10 = pq[0];
    out->p50 = pq[1];
    out->p90 = pq[2];
    out->p_target = (double)hit / (double)runs;
    free(tot);
    return KP_OK;
}
