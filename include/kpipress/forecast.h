/* Forecasts, pure math (no SQLite): exponential smoothing of a monthly series (SES, Holt,
 * damped Holt, Holt-Winters additive and multiplicative, period 12) with parameters fitted
 * by Nelder-Mead on the in-sample SSE, seasonal naive and drift, an automatic choice by
 * rolling-origin backtest (WAPE), and a seeded Monte Carlo over open pipeline deals. */
#ifndef KPIPRESS_FORECAST_H
#define KPIPRESS_FORECAST_H

#include "kpipress/err.h"
#include "kpipress/limits.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    KP_FC_ZERO,        /* fallback: all-zero series forecasts zero */
    KP_FC_MEAN,        /* fallback: mean of the finite values */
    KP_FC_NAIVE,       /* last value repeated */
    KP_FC_SNAIVE,      /* value of the same month a season earlier */
    KP_FC_DRIFT,       /* last value plus the average change per month */
    KP_FC_SES,         /* simple exponential smoothing (alpha) */
    KP_FC_HOLT,        /* additive trend (alpha, beta) */
    KP_FC_HOLT_DAMPED, /* additive damped trend (alpha, beta, phi) */
    KP_FC_HW_ADD,      /* Holt-Winters, additive trend and season (alpha, beta, gamma) */
    KP_FC_HW_MUL,      /* Holt-Winters, additive trend, multiplicative season */
    KP_FC_METHOD_COUNT
} kp_fc_method;

/* Smoothing parameters and initial states, in statsmodels' ExponentialSmoothing
 * convention: level and trend are the states before the first observation, season[j] is
 * the seasonal state applied to observation j (j < KP_FORECAST_PERIOD); beta multiplies
 * the level change (b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1}); gamma the
 * seasonal error against l_{t-1} + phi b_{t-1}. phi is used by KP_FC_HOLT_DAMPED only. */
typedef struct kp_fc_params {
    double alpha, beta, gamma, phi;
    double level, trend;
    double season[KP_FORECAST_PERIOD];
} kp_fc_params;

/* One series' chosen forecast. */
typedef struct kp_fc_result {
    kp_fc_method method;
    int fallback;        /* 1 when the series was too short, all zero or had gaps */
    double wape, mase;   /* backtest of the chosen method; -1 when not measured */
    double sigma;        /* one-step residual standard deviation used for the intervals */
    kp_fc_params params; /* fitted parameters (smoothing methods only) */
    char because[KP_FORECAST_BECAUSE_MAX]; /* why this method: "lowest backtest WAPE ..." */
} kp_fc_result;

/* "holt_winters_additive" etc. Never NULL. */
const char *kp_forecast_method_name(kp_fc_method m);

/* Run smoothing method m (KP_FC_SES .. KP_FC_HW_MUL) over y[0..n) with the given
 * parameters and initial states. fitted[t] (if non-NULL, n values) receives the one-step
 * prediction of y[t]; fc (if non-NULL, h values) the 1..h-step forecasts from the end;
 * *sse (if non-NULL) the sum of squared one-step errors. KP_ERR_DATA when a multiplicative
 * model meets a non-positive level or season, or y has a non-finite value. */
kp_err kp_forecast_smooth(kp_fc_method m, const double *y, size_t n, const kp_fc_params *p,
                          double *fitted, double *fc, size_t h, double *sse, kp_error *e);

/* Fit method m (KP_FC_SES .. KP_FC_HW_MUL) to y[0..n): smoothing parameters in (0,1) and
 * initial states by Nelder-Mead on the SSE, starting from heuristic initial states.
 * Seasonal methods need n >= KP_FORECAST_SEASONAL_MIN; multiplicative needs y > 0. */
kp_err kp_forecast_fit(kp_fc_method m, const double *y, size_t n, kp_fc_params *out,
                       double *sse, kp_error *e);

/* The k-step forecast variance of method m in units of the one-step variance sigma^2,
 * for k = h >= 1, p its parameters (smoothing methods only; may be NULL otherwise) and n
 * the months it was estimated on: naive h; seasonal naive floor((h-1)/12) + 1; drift
 * h (1 + h/n); mean 1 + 1/n (Hyndman & Athanasopoulos, FPP3 table 5.2); SES, Holt, damped
 * Holt and Holt-Winters additive the ETS(A,N,N) / (A,A,N) / (A,Ad,N) / (A,A,A) variance
 * 1 + sum_{j<h} c_j^2 (Hyndman et al. 2008, class 1); Holt-Winters multiplicative the
 * additive formula on its own parameters, an approximation (no closed form exists). */
double kp_forecast_variance(kp_fc_method m, const kp_fc_params *p, size_t n, size_t h);

/* Forecast y[0..n) h steps ahead with one named method (fitting it if it smooths):
 * value/lower/upper (h values each; lower/upper may be NULL) get the point forecast and an
 * 80% interval (value +- 1.2816 sigma sqrt(kp_forecast_variance(k)), sigma from one-step
 * residuals; clamped at 0 when the series has no negative value). r (may be NULL) gets
 * the method, sigma and fitted parameters. */
kp_err kp_forecast_method(kp_fc_method m, const double *y, size_t n, size_t h, double *value,
                          double *lower, double *upper, kp_fc_result *r, kp_error *e);

/* Choose and run a forecast for y[0..n) (NAN marks a missing month): fewer than
 * KP_FORECAST_MIN_POINTS points, all zeros or gaps give a labelled fallback (zero or mean);
 * otherwise drift, SES, Holt, damped Holt and, from KP_FORECAST_SEASONAL_MIN points,
 * seasonal naive and Holt-Winters (multiplicative only for positive series) are compared by
 * rolling-origin backtest (origins every 3 months over the last 12, horizon h) and the
 * lowest WAPE wins (WAPEs within one part in a million are a tie, which goes to the
 * simpler method, earlier in that list). Outputs never hold NaN. */
kp_err kp_forecast_auto(const double *y, size_t n, size_t h, double *value, double *lower,
                        double *upper, kp_fc_result *r, kp_error *e);

/* Pipeline Monte Carlo. */
typedef struct kp_fc_deal {
    double amount;      /* deal amount, >= 0 */
    double probability; /* win probability in [0, 1] */
} kp_fc_deal;

typedef struct kp_fc_sim {
    size_t runs;
    double mean;          /* mean simulated total */
    double p10, p50, p90; /* percentiles, linear interpolation between order statistics */
    double p_target;      /* share of runs whose total reaches the target (>=) */
} kp_fc_sim;

/* Simulate runs (0 = KP_FORECAST_MC_RUNS) independent outcomes of deals[0..n): each deal
 * closes with its probability, from the draws kp_forecast_simulate_groups describes, so
 * the same inputs and seed give the same result on every platform and thread count.
 * Percentiles as kp_forecast_percentile. */
kp_err kp_forecast_simulate(const kp_fc_deal *deals, size_t n, size_t runs, uint64_t seed,
                            double target, kp_fc_sim *out, kp_error *e);

/* Monte Carlo runs per independently seeded block. */
#define KP_FORECAST_MC_BLOCK 1000

/* Grouped Monte Carlo, for roll-ups where one draw must count in several totals: deal i
 * adds to group[i] (< ngroups; group NULL puts every deal in group 0). totals (ngroups x
 * runs doubles, owned by the caller) receives group g's total of run r at
 * totals[g * runs + r]. The draws: runs are cut into blocks of KP_FORECAST_MC_BLOCK; block
 * b takes xoshiro256** seeded by splitmix64 from (seed, stream b) (kp_rng_seed); each run
 * takes one 64-bit output per two deals in the given order, the high 32 bits for the
 * first, the low 32 for the second (an odd last deal takes a fresh output's high half),
 * and a deal of probability p wins when its 32-bit draw is below floor(p x 2^32) (p = 0
 * never, p = 1 always; every deal draws in every run, so a deal's draws do not depend on
 * the others' probabilities). Blocks run on
 * kp_forecast_threads() threads; the totals do not depend on that number. Integer-valued
 * amounts (cents) below 2^53 sum exactly. */
kp_err kp_forecast_simulate_groups(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                                   size_t ngroups, size_t runs, uint64_t seed, double *totals,
                                   kp_error *e);

/* Sums of groups for kp_forecast_simulate_rollup: sum s adds up the totals of groups
 * member[off[s]..off[s + 1]) in each run (a rep's date buckets, a team's reps...). */
typedef struct kp_fc_rollup {
    size_t nsums;
    const size_t *off;      /* nsums + 1 offsets into member */
    const uint32_t *member; /* group indices (< ngroups) */
    const double *base;     /* per sum: added to a run's total before the target test */
    const double *target;   /* per sum: runs with base + total >= target count as hits
                               (NAN: none) */
} kp_fc_rollup;

typedef struct kp_fc_rollup_out {
    double total; /* the sum's totals added over the runs (in run order within each block
                     and block by block: exact for integer amounts below 2^53) */
    size_t hits;  /* runs reaching the target */
    double q[8];  /* the wanted quantiles, as kp_forecast_percentiles of all the runs */
} kp_fc_rollup_out;

/* The Monte Carlo of kp_forecast_simulate_groups (same draws), summarised per sum in
 * out[0..nsums) without keeping the runs: memory in proportion to the sums, not to
 * sums x runs. Simulates twice (or more when extreme distributions need more values kept
 * than a few MB: never for amounts spread over more than a handful of distinct totals).
 * q[0..nq) ascending in [0, 1], nq <= 8. */
kp_err kp_forecast_simulate_rollup(const kp_fc_deal *deals, const uint32_t *group, size_t n,
                                   size_t ngroups, size_t runs, uint64_t seed,
                                   const kp_fc_rollup *r, const double *q, size_t nq,
                                   kp_fc_rollup_out *out, kp_error *e);

/* The q-quantile (0..1) of sorted[0..n), n > 0, by linear interpolation between order
 * statistics (numpy's default, "linear"). */
double kp_forecast_percentile(const double *sorted, size_t n, double q);

/* out[j] = kp_forecast_percentile of v sorted at q[j], for nq ascending q, found by
 * selection instead of a full sort; v[0..n) (n > 0) is left reordered. */
void kp_forecast_percentiles(double *v, size_t n, const double *q, size_t nq, double *out);

/* Worker threads for the forecast stage: KPIPRESS_FORECAST_THREADS when set, else the
 * online processors, within 1..KP_FORECAST_MAX_THREADS. Results never depend on it. */
int kp_forecast_threads(void);

#endif
