/* Forecast math: Holt (plain and damped) and Holt-Winters (additive and multiplicative)
 * against statsmodels with the same fixed parameters and states, and the prediction
 * intervals against its ETSModel (tests/unit/check_forecast.py); recursions and interval
 * widths small enough to do by hand; the fallbacks and their labels; the automatic choice
 * against seasonal naive and drift on held-out months; the backtest and MASE recomputed;
 * the error messages; and the Monte Carlo's sampling error. */
#include "test.h"

#include "kpipress/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test's own generator (not the module's): a 64-bit LCG, top bits as uniform [0,1). */
static double unif(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * 0x1.0p-53;
}

/* Real-shaped monthly bookings: level, trend, a yearly pattern with a Q4 peak, noise. */
static void gen_series(double *y, size_t n, uint64_t seed, double trend, double noise)
{
    const double pattern[12] = {-180, -120, 60, -60, -20, 110, -90, -110, 40, 20, 80, 270};
    uint64_t s = seed;
    for (size_t t = 0; t < n; t++)
        y[t] = 1000.0 + trend * (double)t + pattern[t % 12] + noise * (2.0 * unif(&s) - 1.0);
}

static int read_row(const char *path, const char *name, double *v, size_t max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[65536];
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        size_t len = strlen(name);
        if (strncmp(line, name, len) != 0 || line[len] != ' ')
            continue;
        p += len;
        n = 0;
        for (double x = strtod(p, &end); end != p && (size_t)n < max; x = strtod(p, &end)) {
            v[n++] = x;
            p = end;
        }
    }
    fclose(f);
    return n;
}

static void assert_close(const double *a, const double *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= tol)) {
            print_error("index %zu: %.12g vs reference %.12g\n", i, a[i], b[i]);
            fail();
        }
}

#define N_REF 60
#define H_REF 18

/* The fixed parameters and initial states of the reference tests. */
static const kp_fc_params ref_holt = {
    .alpha = 0.4, .beta = 0.15, .phi = 0.92, .level = 990, .trend = 12};
static const kp_fc_params ref_plain = {.alpha = 0.45, .beta = 0.1, .level = 985, .trend = 10};
static const kp_fc_params ref_ses = {.alpha = 0.3, .level = 1000};
static const double ref_s0[12] = {-170, -115, 55, -65, -25, 100, -85, -105, 35, 25, 75, 260};

static kp_fc_params ref_hw(int mul)
{
    kp_fc_params p = {.alpha = mul ? 0.3 : 0.35,
                      .beta = mul ? 0.08 : 0.05,
                      .gamma = mul ? 0.15 : 0.2,
                      .level = 950,
                      .trend = mul ? 9 : 8.5};
    for (size_t j = 0; j < 12; j++)
        p.season[j] = mul ? 1.0 + ref_s0[j] / 1000.0 : ref_s0[j];
    return p;
}

/* Run tests/unit/check_forecast.py on y with the parameters above; out receives its
 * results. Skips the calling test when statsmodels is missing. */
static void run_reference(const double *y, char *dir, const char *out)
{
    char in[64], cmd[256];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fprintf(f, "series");
    for (size_t t = 0; t < N_REF; t++)
        fprintf(f, " %.17g", y[t]);
    const kp_fc_params hw = ref_hw(0), hwm = ref_hw(1);
    fprintf(f, "\nh %d\nholt %.17g %.17g %.17g %.17g %.17g\nhw %.17g %.17g %.17g %.17g %.17g",
            H_REF, ref_holt.alpha, ref_holt.beta, ref_holt.phi, ref_holt.level, ref_holt.trend,
            hw.alpha, hw.beta, hw.gamma, hw.level, hw.trend);
    for (size_t j = 0; j < 12; j++)
        fprintf(f, " %.17g", hw.season[j]);
    fprintf(f, "\nholt_plain %.17g %.17g %.17g %.17g\nses %.17g %.17g", ref_plain.alpha,
            ref_plain.beta, ref_plain.level, ref_plain.trend, ref_ses.alpha, ref_ses.level);
    fprintf(f, "\nhwm %.17g %.17g %.17g %.17g %.17g", hwm.alpha, hwm.beta, hwm.gamma, hwm.level,
            hwm.trend);
    for (size_t j = 0; j < 12; j++)
        fprintf(f, " %.17g", hwm.season[j]);
    fprintf(f, "\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/check_forecast.py '%s' '%s'", in, out);
    int rc = system(cmd);
    unlink(in);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        unlink(out);
        rmdir(dir);
        print_message("SKIP: statsmodels not importable (apt-get install python3-statsmodels)\n");
        skip();
    }
    assert_int_equal(rc, 0);
}

static void cleanup_reference(char *dir, const char *out)
{
    unlink(out);
    rmdir(dir);
}

/* Our fitted values and forecasts of method m with parameters p against the reference's
 * rows `fitted` and `forecast` (NULL: not compared). */
static void assert_smooth_matches(const char *out, kp_fc_method m, const double *y,
                                  const kp_fc_params *p, const char *fitted, const char *forecast)
{
    double fit[N_REF], fc[H_REF], ref[N_REF + H_REF], sse;
    kp_error e;
    assert_int_equal(kp_forecast_smooth(m, y, N_REF, p, fit, fc, H_REF, &sse, &e), KP_OK);
    if (fitted) {
        assert_int_equal(read_row(out, fitted, ref, N_REF + H_REF), N_REF);
        assert_close(fit, ref, N_REF, 1e-6);
    }
    if (forecast) {
        assert_int_equal(read_row(out, forecast, ref, N_REF + H_REF), H_REF);
        assert_close(fc, ref, H_REF, 1e-6);
    }
}

/* Both fit their own parameters and states: ours at most 2% above statsmodels'. */
static void assert_fit_within(const char *out, kp_fc_method m, const double *y, const char *row)
{
    kp_fc_params p;
    double sse, sm;
    kp_error e;
    assert_int_equal(read_row(out, row, &sm, 1), 1);
    assert_int_equal(kp_forecast_fit(m, y, N_REF, &p, &sse, &e), KP_OK);
    print_message("%s SSE: kpipress %.1f, statsmodels %.1f\n", kp_forecast_method_name(m), sse, sm);
    assert_true(sse <= 1.02 * sm);
    assert_true(p.alpha > 0 && p.alpha < 1);
}

static void test_reference_statsmodels(void **state)
{
    (void)state;
    char dir[] = "/tmp/kp_forecast_XXXXXX", out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.txt", dir);
    double y[N_REF];
    gen_series(y, N_REF, 42, 9.0, 60.0);
    run_reference(y, dir, out);

    const kp_fc_params hw = ref_hw(0), hwm = ref_hw(1);
    assert_smooth_matches(out, KP_FC_HOLT_DAMPED, y, &ref_holt, "holt_fitted", "holt_forecast");
    assert_smooth_matches(out, KP_FC_HOLT, y, &ref_plain, "holt_plain_fitted",
                          "holt_plain_forecast");
    assert_smooth_matches(out, KP_FC_HW_ADD, y, &hw, "hw_fitted", "hw_forecast_states");
    assert_smooth_matches(out, KP_FC_HW_MUL, y, &hwm, "hwm_fitted", "hwm_forecast_states");
    /* statsmodels' own forecast agrees except at horizons 12, 24, ... where releases
     * before its PR #10230 (issue #9538) use the previous season's factor */
    double fc[H_REF], ref[N_REF + H_REF];
    kp_error e;
    assert_int_equal(kp_forecast_smooth(KP_FC_HW_ADD, y, N_REF, &hw, NULL, fc, H_REF, NULL, &e),
                     KP_OK);
    assert_int_equal(read_row(out, "hw_forecast", ref, N_REF + H_REF), H_REF);
    for (size_t k = 0; k < H_REF; k++)
        if ((k + 1) % 12 != 0)
            assert_close(fc + k, ref + k, 1, 1e-6);

    assert_fit_within(out, KP_FC_HW_ADD, y, "hw_fit_sse");
    assert_fit_within(out, KP_FC_HW_MUL, y, "hwm_fit_sse");
    assert_fit_within(out, KP_FC_HOLT, y, "holt_fit_sse");
    assert_fit_within(out, KP_FC_HOLT_DAMPED, y, "damped_fit_sse");
    assert_fit_within(out, KP_FC_SES, y, "ses_fit_sse");
    cleanup_reference(dir, out);
}

/* Prediction intervals against statsmodels' ETSModel (additive errors) with the same fixed
 * parameters and states: its forecasts equal ours, and its 80% interval's half-width at
 * horizon k over the one-step half-width equals sqrt(kp_forecast_variance(k)), to 1e-6
 * relative (the ratio cancels the two programs' sigma estimates). */
static void test_intervals_statsmodels(void **state)
{
    (void)state;
    char dir[] = "/tmp/kp_forecast_XXXXXX", out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.txt", dir);
    double y[N_REF];
    gen_series(y, N_REF, 42, 9.0, 60.0);
    run_reference(y, dir, out);
    const kp_fc_params hw = ref_hw(0);
    const struct {
        kp_fc_method m;
        const kp_fc_params *p;
        const char *mean, *width;
    } cases[] = {
        {KP_FC_SES, &ref_ses, "ets_ses_mean", "ets_ses_width"},
        {KP_FC_HOLT, &ref_plain, "ets_holt_plain_mean", "ets_holt_plain_width"},
        {KP_FC_HOLT_DAMPED, &ref_holt, "ets_holt_mean", "ets_holt_width"},
        {KP_FC_HW_ADD, &hw, "ets_hw_mean", "ets_hw_width"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        assert_smooth_matches(out, cases[c].m, y, cases[c].p, NULL, cases[c].mean);
        double ref[N_REF + H_REF];
        assert_int_equal(read_row(out, cases[c].width, ref, N_REF + H_REF), H_REF);
        for (size_t k = 0; k < H_REF; k++) {
            double ours = sqrt(kp_forecast_variance(cases[c].m, cases[c].p, N_REF, k + 1));
            if (!(fabs(ours - ref[k]) <= 1e-6 * ref[k])) {
                print_error("%s horizon %zu: width ratio %.12g, ETSModel %.12g\n",
                            kp_forecast_method_name(cases[c].m), k + 1, ours, ref[k]);
                fail();
            }
        }
        print_message("%s: 18-step / 1-step half-width %.6f\n", kp_forecast_method_name(cases[c].m),
                      ref[H_REF - 1]);
    }
    cleanup_reference(dir, out);
}

/* SES and Holt-Winters multiplicative worked out by hand. */
static void test_by_hand(void **state)
{
    (void)state;
    kp_error e;
    /* SES alpha 0.5, l0 10, y 10 12 11: predictions 10, 10, 11 (levels 10, 11, 11);
     * SSE 0 + 4 + 0 = 4; every forecast 11. */
    const double y[] = {10, 12, 11};
    kp_fc_params p = {.alpha = 0.5, .level = 10};
    double fit[3], fc[2], sse;
    assert_int_equal(kp_forecast_smooth(KP_FC_SES, y, 3, &p, fit, fc, 2, &sse, &e), KP_OK);
    assert_true(fit[0] == 10 && fit[1] == 10 && fit[2] == 11);
    assert_true(fc[0] == 11 && fc[1] == 11 && sse == 4);

    /* Holt alpha 0.5 beta 0.5 l0 10 b0 1, y 12 13: prediction 11; l1 = 0.5*12 + 0.5*11 =
     * 11.5, b1 = 0.5*1.5 + 0.5*1 = 1.25; prediction 12.75; l2 = 6.5 + 6.375 = 12.875,
     * b2 = 0.5*1.375 + 0.625 = 1.3125; forecasts 14.1875, 15.5. */
    const double y2[] = {12, 13};
    kp_fc_params q = {.alpha = 0.5, .beta = 0.5, .level = 10, .trend = 1};
    assert_int_equal(kp_forecast_smooth(KP_FC_HOLT, y2, 2, &q, fit, fc, 2, &sse, &e), KP_OK);
    assert_true(fit[0] == 11 && fit[1] == 12.75);
    assert_true(fc[0] == 14.1875 && fc[1] == 15.5);
    assert_true(fabs(sse - (1 + 0.0625)) < 1e-12);

    /* Multiplicative: all seasons 1 and gamma 0.5 on a flat series equal to the level:
     * nothing moves, predictions equal the level, seasons stay 1. */
    double flat[24];
    for (size_t t = 0; t < 24; t++)
        flat[t] = 100;
    kp_fc_params m = {.alpha = 0.3, .beta = 0.2, .gamma = 0.5, .level = 100, .trend = 0};
    for (size_t j = 0; j < 12; j++)
        m.season[j] = 1;
    double f24[24];
    assert_int_equal(kp_forecast_smooth(KP_FC_HW_MUL, flat, 24, &m, f24, fc, 2, &sse, &e),
                     KP_OK);
    assert_true(sse == 0 && f24[23] == 100 && fc[1] == 100);
}

static void assert_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(v[i]));
}

static void test_fallbacks(void **state)
{
    (void)state;
    kp_error e;
    kp_fc_result r;
    double v[6], lo[6], hi[6];

    const double shortser[] = {10, 20, 30};
    assert_int_equal(kp_forecast_auto(shortser, 3, 6, v, lo, hi, &r, &e), KP_OK);
    assert_int_equal(r.method, KP_FC_MEAN);
    assert_int_equal(r.fallback, 1);
    assert_string_equal(r.because, "fallback: 3 months, fewer than 4");
    assert_true(v[0] == 20 && v[5] == 20);
    assert_finite(lo, 6);
    assert_finite(hi, 6);

    double zeros[30] = {0};
    assert_int_equal(kp_forecast_auto(zeros, 30, 6, v, lo, hi, &r, &e), KP_OK);
    assert_int_equal(r.method, KP_FC_ZERO);
    assert_string_equal(r.because, "fallback: all months zero");
    assert_true(v[0] == 0 && lo[0] == 0 && hi[5] == 0);

    double gaps[30];
    gen_series(gaps, 30, 7, 5, 30);
    gaps[10] = NAN;
    gaps[20] = NAN;
    assert_int_equal(kp_forecast_auto(gaps, 30, 6, v, lo, hi, &r, &e), KP_OK);
    assert_int_equal(r.method, KP_FC_MEAN);
    assert_string_equal(r.because, "fallback: 2 of 30 months missing");
    double mean = 0;
    for (size_t t = 0; t < 30; t++)
        mean += isfinite(gaps[t]) ? gaps[t] : 0;
    mean /= 28;
    assert_true(fabs(v[3] - mean) < 1e-9);
    assert_finite(lo, 6);
    assert_finite(hi, 6);

    assert_int_equal(kp_forecast_auto(NULL, 0, 6, v, lo, hi, &r, &e), KP_OK);
    assert_string_equal(r.because, "fallback: no data");
    assert_true(v[0] == 0);

    /* 23 months of a strongly seasonal series: no seasonal model is tried. */
    double y[23];
    gen_series(y, 23, 3, 4, 10);
    assert_int_equal(kp_forecast_auto(y, 23, 6, v, lo, hi, &r, &e), KP_OK);
    assert_int_equal(r.fallback, 0);
    assert_true(r.method != KP_FC_SNAIVE && r.method != KP_FC_HW_ADD &&
                r.method != KP_FC_HW_MUL);
    assert_non_null(strstr(r.because, "no seasonal model"));
    assert_finite(v, 6);
    for (size_t k = 0; k < 6; k++)
        assert_true(lo[k] <= v[k] && v[k] <= hi[k]);
}

/* Interval widths worked out by hand: upper - value = 1.2815515655446004 sigma sqrt(v_k). */
static void assert_widths(const double *v, const double *hi, const double *want_sd, size_t h)
{
    for (size_t k = 0; k < h; k++)
        if (!(fabs((hi[k] - v[k]) - 1.2815515655446004 * want_sd[k]) <= 1e-9 * want_sd[k])) {
            print_error("horizon %zu: half-width %.12g, want 1.2816 x %.12g\n", k + 1, hi[k] - v[k],
                        want_sd[k]);
            fail();
        }
}

static void test_intervals_by_hand(void **state)
{
    (void)state;
    kp_error e;
    kp_fc_result r;
    double v[18], lo[18], hi[18], sd[18];

    /* Seasonal naive: year 2 = year 1 + 3, -3, +3, ...: residuals y_t - y_{t-12} are +-3,
     * sigma 3; k steps ahead the forecast is floor((k-1)/12) + 1 seasons from its data
     * (FPP3 table 5.2): sd 3 for k <= 12, 3 sqrt(2) for 13..18. */
    double y[24];
    for (size_t t = 0; t < 24; t++)
        y[t] = 100.0 + (double)(t % 12) + (t < 12 ? 0.0 : (t % 2 ? -3.0 : 3.0));
    assert_int_equal(kp_forecast_method(KP_FC_SNAIVE, y, 24, 18, v, lo, hi, &r, &e), KP_OK);
    for (size_t k = 0; k < 18; k++) {
        assert_true(v[k] == y[12 + k % 12]);
        sd[k] = k < 12 ? 3.0 : 3.0 * sqrt(2.0);
    }
    assert_true(fabs(r.sigma - 3.0) < 1e-12);
    assert_widths(v, hi, sd, 18);

    /* Drift on 0 2 3 7 8: slope 2, forecasts 10, 12, 14; residuals y_t - y_{t-1} - 2 are
     * 0 -1 2 -1, sigma sqrt(6/4); sd_k = sigma sqrt(k (1 + k/5)). */
    const double d[5] = {0, 2, 3, 7, 8};
    assert_int_equal(kp_forecast_method(KP_FC_DRIFT, d, 5, 3, v, lo, hi, &r, &e), KP_OK);
    assert_true(v[0] == 10 && v[1] == 12 && v[2] == 14);
    for (size_t k = 0; k < 3; k++) {
        double h = (double)(k + 1);
        sd[k] = sqrt(1.5) * sqrt(h * (1 + h / 5));
    }
    assert_widths(v, hi, sd, 3);

    /* Mean (the short-series fallback) of 10 20 30: sigma sqrt(200/3), the same width at
     * every horizon, sigma sqrt(1 + 1/3); lower clamped at 0 for a series >= 0. */
    const double m[3] = {10, 20, 30};
    assert_int_equal(kp_forecast_auto(m, 3, 3, v, lo, hi, &r, &e), KP_OK);
    assert_int_equal(r.method, KP_FC_MEAN);
    for (size_t k = 0; k < 3; k++)
        sd[k] = sqrt(200.0 / 3.0) * sqrt(4.0 / 3.0);
    assert_widths(v, hi, sd, 3);
    assert_true(fabs(lo[0] - (20 - (hi[0] - 20))) < 1e-9 && lo[0] > 0);

    /* The smoothing variances by hand: SES alpha .5: 1 + 2 x .25 at 3 steps; Holt alpha .5
     * beta .2 (the error's weight in the trend .1): c_1 .6, c_2 .7, 1 + .36 + .49; additive
     * Holt-Winters alpha .5 beta 0 gamma .3: c_12 = .8, the others .5, at 13 steps
     * 1 + 11 x .25 + .64; multiplicative: the additive formula on its own parameters. */
    kp_fc_params p = {.alpha = 0.5, .beta = 0.2, .gamma = 0.3};
    assert_true(fabs(kp_forecast_variance(KP_FC_SES, &p, 30, 3) - 1.5) < 1e-12);
    assert_true(fabs(kp_forecast_variance(KP_FC_HOLT, &p, 30, 3) - 1.85) < 1e-12);
    p.beta = 0.0;
    assert_true(fabs(kp_forecast_variance(KP_FC_HW_ADD, &p, 30, 13) - 4.39) < 1e-12);
    assert_true(fabs(kp_forecast_variance(KP_FC_HW_ADD, &p, 30, 12) - 3.75) < 1e-12);
    assert_true(kp_forecast_variance(KP_FC_HW_MUL, &p, 30, 13) ==
                kp_forecast_variance(KP_FC_HW_ADD, &p, 30, 13));
    assert_true(kp_forecast_variance(KP_FC_NAIVE, NULL, 30, 7) == 7);

    /* A fitted method's interval uses its own fitted parameters and sigma. */
    double g[48];
    gen_series(g, 48, 5, 6, 40);
    assert_int_equal(kp_forecast_method(KP_FC_HW_ADD, g, 48, 18, v, lo, hi, &r, &e), KP_OK);
    for (size_t k = 0; k < 18; k++)
        sd[k] = r.sigma * sqrt(kp_forecast_variance(KP_FC_HW_ADD, &r.params, 48, k + 1));
    assert_widths(v, hi, sd, 18);
    assert_true(kp_forecast_variance(KP_FC_HW_ADD, &r.params, 48, 1) == 1.0);
}

static double wape(const double *act, const double *fc, size_t n)
{
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += fabs(act[i] - fc[i]);
        b += fabs(act[i]);
    }
    return a / b;
}

/* Hold out the last 12 months of seasonal series with trend and noise: the automatic
 * choice's WAPE beats seasonal naive's and drift's on every one. */
static void test_auto_beats_baselines(void **state)
{
    (void)state;
    const struct {
        uint64_t seed;
        double trend, noise;
    } cases[] = {{1, 8, 40},  {2, 12, 60}, {3, 5, 30},   {4, 15, 80},
                 {5, -3, 40}, {6, 0, 50},  {7, 20, 100}, {8, 10, 20}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double y[60], v[12], sn[12], dr[12];
        kp_fc_result r;
        kp_error e;
        gen_series(y, 60, cases[c].seed, cases[c].trend, cases[c].noise);
        assert_int_equal(kp_forecast_auto(y, 48, 12, v, NULL, NULL, &r, &e), KP_OK);
        assert_int_equal(kp_forecast_method(KP_FC_SNAIVE, y, 48, 12, sn, NULL, NULL, NULL, &e),
                         KP_OK);
        assert_int_equal(kp_forecast_method(KP_FC_DRIFT, y, 48, 12, dr, NULL, NULL, NULL, &e),
                         KP_OK);
        double wa = wape(y + 48, v, 12), ws = wape(y + 48, sn, 12), wd = wape(y + 48, dr, 12);
        print_message("seed %d: %s WAPE %.4f, seasonal naive %.4f, drift %.4f (%s)\n",
                      (int)cases[c].seed, kp_forecast_method_name(r.method), wa, ws, wd,
                      r.because);
        assert_true(wa < ws);
        assert_true(wa < wd);
        assert_true(r.wape >= 0 && r.mase >= 0);
    }
}

/* The rolling-origin backtest recomputed here: each candidate refitted on y[0..o) for the
 * origins o = n - 12, n - 9, n - 6, n - 3 that leave enough months (24 with the seasonal
 * candidates, from 27 months; else 4), forecasting min(h, n - o) months; WAPE = sum
 * |error| / sum |actual| over all origins; MASE = mean |error| / mean |y_t - y_{t-12}|
 * (lag 1 for a series of 12 months or fewer). The chosen method has the lowest WAPE, and
 * its WAPE and MASE are the ones reported. */
static double backtest_by_hand(kp_fc_method m, const double *y, size_t n, size_t h,
                               size_t min_train, double *mase)
{
    double err = 0, act = 0, fc[12];
    size_t cnt = 0;
    kp_error e;
    for (size_t back = 12; back >= 3; back -= 3) {
        if (back >= n || n - back < min_train)
            continue;
        size_t o = n - back, hh = h < back ? h : back;
        assert_int_equal(kp_forecast_method(m, y, o, hh, fc, NULL, NULL, NULL, &e), KP_OK);
        for (size_t k = 0; k < hh; k++, cnt++) {
            err += fabs(y[o + k] - fc[k]);
            act += fabs(y[o + k]);
        }
    }
    size_t lag = n > 12 ? 12 : 1;
    double scale = 0;
    for (size_t t = lag; t < n; t++)
        scale += fabs(y[t] - y[t - lag]);
    *mase = err / (double)cnt / (scale / (double)(n - lag));
    return err / act;
}

static void test_backtest(void **state)
{
    (void)state;
    const struct {
        size_t n, h;
        uint64_t seed;
        double trend, noise;
    } cases[] = {{40, 6, 21, 6, 50}, {30, 3, 22, -4, 80}, {20, 6, 23, 10, 60}, {12, 4, 24, 3, 90}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double y[40], v[6], mase, best = HUGE_VAL;
        size_t n = cases[c].n, h = cases[c].h;
        gen_series(y, n, cases[c].seed, cases[c].trend, cases[c].noise);
        kp_fc_result r;
        kp_error e;
        assert_int_equal(kp_forecast_auto(y, n, h, v, NULL, NULL, &r, &e), KP_OK);
        int seasonal = n >= 27;
        kp_fc_method cand[7];
        size_t nc = 0;
        if (seasonal)
            cand[nc++] = KP_FC_SNAIVE;
        cand[nc++] = KP_FC_DRIFT;
        cand[nc++] = KP_FC_SES;
        cand[nc++] = KP_FC_HOLT;
        cand[nc++] = KP_FC_HOLT_DAMPED;
        if (seasonal) {
            cand[nc++] = KP_FC_HW_ADD;
            cand[nc++] = KP_FC_HW_MUL; /* the generated series are positive */
        }
        double chosen = -1, chosen_mase = -1;
        for (size_t i = 0; i < nc; i++) {
            double w = backtest_by_hand(cand[i], y, n, h, seasonal ? 24 : 4, &mase);
            if (w < best)
                best = w;
            if (cand[i] == r.method) {
                chosen = w;
                chosen_mase = mase;
            }
        }
        print_message("n %zu h %zu: %s WAPE %.6f MASE %.4f, lowest by hand %.6f (%s)\n", n, h,
                      kp_forecast_method_name(r.method), r.wape, r.mase, best, r.because);
        assert_true(chosen >= 0);
        assert_true(fabs(r.wape - chosen) <= 1e-12 * chosen);
        assert_true(fabs(r.mase - chosen_mase) <= 1e-12 * chosen_mase);
        assert_true(chosen <= best * (1 + 1e-6)); /* closer than that is a tie */
        char want[64];
        snprintf(want, sizeof want, "lowest backtest WAPE %.4f of %zu methods", best, nc);
        assert_true(strncmp(r.because, want, strlen(want)) == 0);
    }
}

static void test_errors(void **state)
{
    (void)state;
    kp_error e;
    kp_fc_params p;
    double y[30], v[3];
    gen_series(y, 30, 9, 2, 10);

    assert_int_equal(kp_forecast_fit(KP_FC_HW_ADD, y, 20, &p, NULL, &e), KP_ERR_DATA);
    assert_string_equal(e.msg,
                        "forecast: holt_winters_additive needs at least 24 months, the series has 20");
    y[4] = 0;
    assert_int_equal(kp_forecast_fit(KP_FC_HW_MUL, y, 30, &p, NULL, &e), KP_ERR_DATA);
    assert_string_equal(e.msg,
                        "forecast: holt_winters_multiplicative needs positive values; month 5 is 0");
    y[2] = NAN;
    assert_int_equal(kp_forecast_smooth(KP_FC_SES, y, 30, &p, NULL, NULL, 0, NULL, &e),
                     KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: month 3 of the series has no value");
    assert_int_equal(kp_forecast_method(KP_FC_DRIFT, y, 3, 200, v, NULL, NULL, NULL, &e),
                     KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: horizon of 200 months is over the limit of 120");
    kp_fc_params neg = {.alpha = 0.5, .beta = 0.5, .gamma = 0.5, .level = -5};
    for (size_t j = 0; j < 12; j++)
        neg.season[j] = 1;
    gen_series(y, 30, 9, 2, 10);
    assert_int_equal(kp_forecast_smooth(KP_FC_HW_MUL, y, 30, &neg, NULL, NULL, 0, NULL, &e),
                     KP_ERR_DATA);
    assert_string_equal(e.msg,
                        "forecast: holt_winters_multiplicative needs positive levels and seasonal factors");

    kp_fc_deal d[2] = {{100, 0.5}, {50, 1.5}};
    kp_fc_sim s;
    assert_int_equal(kp_forecast_simulate(d, 2, 10, 1, 0, &s, &e), KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: deal 2 has probability 1.5, outside [0, 1]");
    d[1].probability = 0.5;
    d[0].amount = -1;
    assert_int_equal(kp_forecast_simulate(d, 2, 10, 1, 0, &s, &e), KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: deal 1 has amount -1, not a non-negative number");
    d[0].amount = 1;
    assert_int_equal(kp_forecast_simulate(d, 2, 20000000, 1, 0, &s, &e), KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: 20000000 Monte Carlo runs is over the limit of 10000000");
}

#define N_DEALS 300

static void test_monte_carlo(void **state)
{
    (void)state;
    kp_fc_deal d[N_DEALS];
    uint64_t s = 99;
    double expect = 0, var = 0;
    for (size_t i = 0; i < N_DEALS; i++) {
        d[i].amount = floor(5000 + 95000 * unif(&s));
        d[i].probability = i % 10 == 0 ? 1.0 : i % 10 == 1 ? 0.0 : unif(&s);
        expect += d[i].amount * d[i].probability;
        var += d[i].amount * d[i].amount * d[i].probability * (1 - d[i].probability);
    }
    kp_fc_sim a, b, c;
    kp_error e;
    assert_int_equal(kp_forecast_simulate(d, N_DEALS, 0, 12345, expect, &a, &e), KP_OK);
    assert_int_equal(a.runs, 10000);
    /* the mean of 10,000 independent totals has standard error sqrt(var / runs) */
    double se = sqrt(var / 10000.0);
    print_message("MC mean %.1f, expected %.1f, SE %.1f, P10 %.0f P50 %.0f P90 %.0f\n", a.mean,
                  expect, se, a.p10, a.p50, a.p90);
    assert_true(fabs(a.mean - expect) < 4 * se);
    assert_true(a.p10 < a.p50 && a.p50 < a.p90);
    /* the total is near normal (300 deals): P10/P90 near mean -+ 1.2816 sd, P(>= mean) 0.5 */
    assert_true(fabs(a.p90 - a.p10 - 2 * 1.2816 * sqrt(var)) < 0.1 * sqrt(var) * 2.5632);
    assert_true(fabs(a.p_target - 0.5) < 0.03);

    assert_int_equal(kp_forecast_simulate(d, N_DEALS, 0, 12345, expect, &b, &e), KP_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(kp_forecast_simulate(d, N_DEALS, 0, 12346, expect, &c, &e), KP_OK);
    assert_true(c.mean != a.mean && c.p50 != a.p50);

    /* certain deals: every run is the same total */
    kp_fc_deal sure[3] = {{100, 1}, {200, 1}, {400, 0}};
    assert_int_equal(kp_forecast_simulate(sure, 3, 1000, 1, 300, &c, &e), KP_OK);
    assert_true(c.p10 == 300 && c.p50 == 300 && c.p90 == 300 && c.mean == 300);
    assert_true(c.p_target == 1.0);
    assert_int_equal(kp_forecast_simulate(sure, 3, 1000, 1, 300.5, &c, &e), KP_OK);
    assert_true(c.p_target == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_reference_statsmodels),
        cmocka_unit_test(test_intervals_statsmodels),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_intervals_by_hand),
        cmocka_unit_test(test_auto_beats_baselines),
        cmocka_unit_test(test_backtest),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_monte_carlo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
