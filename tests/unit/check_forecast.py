#!/usr/bin/python3
"""Independent reference for test_forecast.c: statsmodels' ExponentialSmoothing.

usage: check_forecast.py IN OUT
IN holds whitespace-separated lines written by the C test:
  series y0 y1 ...
  h H
  holt ALPHA BETA PHI LEVEL TREND                     (damped additive trend)
  hw ALPHA BETA GAMMA LEVEL TREND S0 .. S11           (additive trend and season)
  holt_plain ALPHA BETA LEVEL TREND                   (additive trend, not damped)
  ses ALPHA LEVEL                                     (no trend, no season)
  hwm ALPHA BETA GAMMA LEVEL TREND S0 .. S11          (additive trend, multiplicative season)
OUT receives, each as "name v0 v1 ..." with 17 significant digits:
  holt_fitted, holt_forecast, hw_fitted, hw_forecast, holt_plain_fitted,
  holt_plain_forecast, hwm_fitted (fixed parameters, known states),
  hw_forecast_states, hwm_forecast_states (the textbook forecast from statsmodels' final
  states), hw_fit_sse, holt_fit_sse, hwm_fit_sse, damped_fit_sse, ses_fit_sse
  (statsmodels' own fit: estimated states, optimised parameters);
  ets_NAME_mean and ets_NAME_width for NAME in ses, holt_plain, holt, hw: statsmodels'
  ETSModel (additive errors) with the same fixed parameters and states, its forecast and
  the half-width of its 80% prediction interval at each horizon divided by the one-step
  half-width (so that the two programs' different sigma estimates cancel).
Exit status 77 when statsmodels is not importable (the C test then skips).
"""
import sys
import warnings

try:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
except ImportError:
    sys.exit(77)

warnings.simplefilter("ignore")


def main(inp, outp):
    rows = {}
    with open(inp) as f:
        for line in f:
            parts = line.split()
            if parts:
                rows[parts[0]] = [float(v) for v in parts[1:]]
    y = rows["series"]
    h = int(rows["h"][0])
    out = []

    a, b, phi, l0, b0 = rows["holt"]
    m = ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="known",
                             initial_level=l0, initial_trend=b0)
    r = m.fit(smoothing_level=a, smoothing_trend=b, damping_trend=phi, optimized=False)
    out.append(("holt_fitted", list(r.fittedvalues)))
    out.append(("holt_forecast", list(r.forecast(h))))

    a, b, g, l0, b0 = rows["hw"][:5]
    s0 = rows["hw"][5:]
    m = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=12,
                             initialization_method="known", initial_level=l0,
                             initial_trend=b0, initial_seasonal=s0)
    r = m.fit(smoothing_level=a, smoothing_trend=b, smoothing_seasonal=g, optimized=False)
    out.append(("hw_fitted", list(r.fittedvalues)))
    out.append(("hw_forecast", list(r.forecast(h))))
    # statsmodels before PR #10230 (issue #9538; Debian bookworm has 0.13.5) puts the
    # previous season's factor into the forecast at horizons 12, 24, ...; this is the
    # textbook forecast l_n + k b_n + s_{n+k-m(floor((k-1)/m)+1)} from its own states.
    lv, tr, se = r.level[-1], r.trend[-1], r.season[-12:]
    out.append(("hw_forecast_states", [lv + k * tr + se[(k - 1) % 12] for k in range(1, h + 1)]))

    r = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=12,
                             initialization_method="estimated").fit()
    out.append(("hw_fit_sse", [r.sse]))
    r = ExponentialSmoothing(y, trend="add", initialization_method="estimated").fit()
    out.append(("holt_fit_sse", [r.sse]))

    a, b, l0, b0 = rows["holt_plain"]
    r = ExponentialSmoothing(y, trend="add", initialization_method="known", initial_level=l0,
                             initial_trend=b0).fit(smoothing_level=a, smoothing_trend=b,
                                                   optimized=False)
    out.append(("holt_plain_fitted", list(r.fittedvalues)))
    out.append(("holt_plain_forecast", list(r.forecast(h))))

    a, b, g, l0, b0 = rows["hwm"][:5]
    m = ExponentialSmoothing(y, trend="add", seasonal="mul", seasonal_periods=12,
                             initialization_method="known", initial_level=l0,
                             initial_trend=b0, initial_seasonal=rows["hwm"][5:])
    r = m.fit(smoothing_level=a, smoothing_trend=b, smoothing_seasonal=g, optimized=False)
    out.append(("hwm_fitted", list(r.fittedvalues)))
    lv, tr, se = r.level[-1], r.trend[-1], r.season[-12:]
    out.append(("hwm_forecast_states",
                [(lv + k * tr) * se[(k - 1) % 12] for k in range(1, h + 1)]))
    r = ExponentialSmoothing(y, trend="add", seasonal="mul", seasonal_periods=12,
                             initialization_method="estimated").fit()
    out.append(("hwm_fit_sse", [r.sse]))
    r = ExponentialSmoothing(y, trend="add", damped_trend=True,
                             initialization_method="estimated").fit()
    out.append(("damped_fit_sse", [r.sse]))
    r = ExponentialSmoothing(y, initialization_method="estimated").fit()
    out.append(("ses_fit_sse", [r.sse]))

    # ETSModel's smoothing_trend is the error's weight in the trend, alpha x beta in the
    # ExponentialSmoothing (and kpipress) convention; its seasonal update is the same.
    ys = pd.Series(y, index=pd.date_range("2000-01-01", periods=len(y), freq="MS"))
    a, b, phi, l0, b0 = rows["holt"]
    ag, bg, gg, lg, tg = rows["hw"][:5]
    ses_a, ses_l = rows["ses"]
    pa, pb, pl, pt = rows["holt_plain"]
    models = {
        "ses": (dict(), dict(initial_level=ses_l), [ses_a]),
        "holt_plain": (dict(trend="add"), dict(initial_level=pl, initial_trend=pt),
                       [pa, pa * pb]),
        "holt": (dict(trend="add", damped_trend=True), dict(initial_level=l0, initial_trend=b0),
                 [a, a * b, phi]),
        "hw": (dict(trend="add", seasonal="add", seasonal_periods=12),
               dict(initial_level=lg, initial_trend=tg, initial_seasonal=rows["hw"][5:]),
               [ag, ag * bg, gg]),
    }
    for name, (kind, init, params) in models.items():
        m = ETSModel(ys, error="add", initialization_method="known", **kind, **init)
        r = m.smooth(params)
        f = r.get_prediction(start=len(y), end=len(y) + h - 1).summary_frame(alpha=0.2)
        half = (f["pi_upper"] - f["pi_lower"]) / 2
        out.append(("ets_%s_mean" % name, list(f["mean"])))
        out.append(("ets_%s_width" % name, list(half / half.iloc[0])))

    with open(outp, "w") as f:
        for name, vals in out:
            f.write(name + " " + " ".join("%.17g" % v for v in vals) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
