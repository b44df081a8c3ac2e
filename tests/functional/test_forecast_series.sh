#!/usr/bin/env bash
# Forecast history and accuracy over three successive monthly loads of one consistent
# history (check_forecast_history.py split): each run stores its forecasts under its
# as-of date, and the forecast_* metrics of the last run match values computed in Python
# from the stored forecast rows and the CSV actuals. Also: the first run has nothing to
# compare (unavailable, not zero), re-running an as-of date leaves its rows byte-identical.
. "$(dirname "$0")/lib.sh"
H=$KP_ROOT/tests/functional/check_forecast_history.py
D=$TMP/job
mkdir -p "$D"
"$KP_BIN" sample "$TMP/base" --reps 6 --months 30 --seed 11 --as-of 2026-11-01 >/dev/null 2>&1
check "three consistent monthly exports" $PY "$H" split "$TMP/base" "$TMP/loads" \
    2026-09-01 2026-10-01 2026-11-01
sample_job "$D" "forecast history" <<'INI'
[forecast]
horizon = 3
INI
load() { cp "$TMP/loads/$1/"*.csv "$D/"; "$KP_BIN" run "$D/job.ini" --as-of "$1" --quiet; }
q() { sqlite3 "$D/db/t.db" "$1"; }

check "load 1 (as of 2026-09-01)" load 2026-09-01
st=$(q "SELECT group_concat(name || '=' || status, ' ') FROM (SELECT name, status FROM kpi_metric WHERE name IN ('forecast_accuracy', 'forecast_bookings') ORDER BY name)")
case "$st" in
  "forecast_accuracy=unavailable: needs forecast_actual forecast_bookings=unavailable: no forecast_frozen data loaded") ok "no earlier forecast: forecast metrics unavailable" ;;
  *) notok "no earlier forecast: forecast metrics unavailable"; echo "#   got: $st" ;;
esac
n=$(q "SELECT count(*) FROM kpi WHERE metric LIKE 'forecast%' AND value IS NOT NULL")
[ "$n" = 0 ] && ok "unavailable forecast metrics have no values (not 0)" || notok "unavailable forecast metrics have $n values"

check "load 2 (as of 2026-10-01)" load 2026-10-01
check "load 3 (as of 2026-11-01)" load 2026-11-01
got=$(q "SELECT as_of || ' ' || min(period_start) || ' ' || max(period_start) || ' ' || (count(*) / count(DISTINCT dimension || member)) FROM forecast GROUP BY as_of ORDER BY as_of" | tr '\n' ';')
want="2026-09-01 2026-09-01 2026-11-01 3;2026-10-01 2026-10-01 2026-12-01 3;2026-11-01 2026-11-01 2027-01-01 3;"
[ "$got" = "$want" ] && ok "each run's forecasts kept under its as-of date, horizon 3 from the as-of month" \
    || { notok "forecast history"; echo "#   got:  $got"; echo "#   want: $want"; }
check "forecast_accuracy, forecast_bias, forecast_wape match the stored forecasts and CSV actuals" \
    $PY "$H" accuracy "$D/db/t.db" "$TMP/loads/2026-11-01" 2026-11-01
sed 's/^/#   /' "$TMP/check.out" | tail -1

dump() { q "SELECT printf('%s|%s|%s|%s|%!.17g|%!.17g|%!.17g|%s|%s|%s|%s|%d', as_of, dimension, member, period_start, value, lower, upper, method, chosen_because, quote(wape), quote(mase), fallback) FROM forecast ORDER BY as_of, dimension, member, period_start"; }
dump >"$TMP/before"
check "re-run of the last as-of date" load 2026-11-01
dump >"$TMP/after"
if cmp -s "$TMP/before" "$TMP/after" && [ -s "$TMP/before" ]; then ok "re-run: forecast rows byte-identical"; else notok "re-run: forecast rows changed"; diff "$TMP/before" "$TMP/after" | head -5 | sed 's/^/#   /'; fi
# One worker thread or four: the bookings forecasts and the pipeline Monte Carlo (blocks of
# runs seeded by their index) give byte-identical tables.
env_load() { KPIPRESS_FORECAST_THREADS=$1 load "$2"; }
pdump() { q "SELECT printf('%s|%s|%s|%s|%d|%d|%d|%d|%d|%d|%!.17g', as_of, dimension, member, grain, expected_cents, mean_cents, p10_cents, p50_cents, p90_cents, open_deals, p_quota) FROM forecast_pipeline ORDER BY as_of, dimension, member, grain"; }
check "run with one forecast thread" env_load 1 2026-11-01
dump >"$TMP/t1"; pdump >"$TMP/p1"
check "run with four forecast threads" env_load 4 2026-11-01
dump >"$TMP/t4"; pdump >"$TMP/p4"
check "1 vs 4 threads: forecast rows byte-identical" cmp "$TMP/t1" "$TMP/t4"
check "1 vs 4 threads: pipeline Monte Carlo rows byte-identical" cmp "$TMP/p1" "$TMP/p4"
check "the pipeline table has simulated rows" test "$(wc -l <"$TMP/p1")" -gt 10
# A setting that is not a thread count is reported and the run goes on (the rows do not
# depend on it).
expect_exit 0 "KPIPRESS_FORECAST_THREADS=four: the run goes on" env_load four 2026-11-01
expect_stderr 'KPIPRESS_FORECAST_THREADS="four" is not a positive number' \
    "KPIPRESS_FORECAST_THREADS=four: warned, naming the value"
check "KPIPRESS_FORECAST_THREADS=four: same forecast rows" cmp "$TMP/t1" <(dump)
check "kpipress check: forecast metrics prepare against a fresh database" "$KP_BIN" check "$D/job.ini"
echo "1..$_tap_n"
