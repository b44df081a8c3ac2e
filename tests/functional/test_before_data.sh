#!/usr/bin/env bash
# Comparisons with periods before the data (explore-findings items 9 and 11): a
# comparison period that ends before the data start -- for a metric of the opportunities,
# the first date of its time column in the run's snapshot (close_date: the first close,
# created_date: the first created date) -- has unknown values, NULL (shown n/a), not 0;
# and a report period wholly outside the data's dates is warned about. Hand fixture: four
# deals created in March 2026, the first closing in April; expected values by hand in the
# comments, read with sqlite3.
source "$KP_ROOT/tests/functional/lib.sh"
F=$TMP/fx
mkdir -p "$F"
# First created 2026-03-02 (o0), first close 2026-04-20 (o0), last date 2026-12-15 (o3).
cat >"$F/opps.csv" <<EOF
opp_id,owner_id,stage,amount,created_date,close_date,is_closed,is_won
o0,r1,Lost,200.00,2026-03-02,2026-04-20,true,false
o1,r1,Won,1000.00,2026-03-05,2026-09-10,true,true
o2,r1,Won,3000.00,2026-03-10,2026-10-05,true,true
o3,r1,Proposal,500.00,2026-03-20,2026-12-15,false,false
EOF
cat >"$F/reps.csv" <<EOF
rep_id,name,team,region,manager_id
r1,Ann,T1,EU,
EOF
job() { # job NAME PERIOD AS_OF
    cat >"$F/$1.ini" <<EOF
[job]
name = B
database = $1.db
as_of = $3
period = $2
output_dir = out-$1
[source opportunities]
file = opps.csv
preset = generic
[source reps]
file = reps.csv
[metric created]
label = Deals created
format = count
definition = Deals created in the period
from = opportunities
time = created_date
value = count(*)
EOF
}
q() { sqlite3 -separator '|' -nullvalue NULL "$F/$1.db" "$2"; }
is() { # is DESC WANT GOT
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1"; echo "#   want '$2', got '$3'"; fi
}
cd "$F" || exit 1

# ---- period October 2026: a year earlier (Oct 2025) lies before the data ------------
job oct 2026-10-01..2026-10-31 2026-11-01
expect_exit 0 "October 2026 runs" "$KP_BIN" run "$F/oct.ini" --quiet
# bookings: October 3000 (o2); September 1000 (o1), in the data: compared as before.
is "bookings vs previous period: data present, computed" "3000.0|1000.0|2000.0|2.0" \
    "$(q oct "SELECT value, prev_value, change, pct_change FROM kpi WHERE metric = 'bookings'
              AND dimension = 'company' AND grain = 'period' AND period_start = '2026-10-01'")"
is "bookings vs a year earlier: before the data, n/a" "NULL|NULL|NULL" \
    "$(q oct "SELECT yoy_value, yoy_change, yoy_pct_change FROM kpi WHERE metric = 'bookings'
              AND dimension = 'company' AND grain = 'period' AND period_start = '2026-10-01'")"
# bookings_growth = 3000 / 1000 - 1 = 2; bookings_growth_yoy has no year-ago bookings.
is "bookings_growth 2, bookings_growth_yoy n/a" "2.0|NULL" \
    "$(q oct "SELECT (SELECT value FROM kpi WHERE metric = 'bookings_growth' AND
              dimension = 'company' AND grain = 'period' AND period_start = '2026-10-01'),
              (SELECT value FROM kpi WHERE metric = 'bookings_growth_yoy' AND
              dimension = 'company' AND grain = 'period' AND period_start = '2026-10-01')")"
is "rep r1 likewise (every dimension)" "1000.0|NULL" \
    "$(q oct "SELECT prev_value, yoy_value FROM kpi WHERE metric = 'bookings' AND
              dimension = 'rep' AND member = 'r1' AND grain = 'period'
              AND period_start = '2026-10-01'")"
# The templates' tables: the previous row keeps its figures, the year-ago row's figures
# from the opportunities are n/a (its cents stay 0: NOT NULL columns).
is "kpi_company: previous 1000, yoy bookings n/a" "previous|1000.0|1.0|yoy|NULL|NULL" \
    "$(q oct "SELECT group_concat(period || '|' || quote(bookings) || '|' ||
              quote(win_rate), '|') FROM (SELECT * FROM kpi_company
              WHERE period <> 'current' ORDER BY period)")"
is "kpi_rep: yoy bookings of r1 n/a" "NULL|0" \
    "$(q oct "SELECT quote(bookings), bookings_cents FROM kpi_rep WHERE period = 'yoy'
              AND rep_id = 'r1'")"
# month grain, bookings (by close date, from 2026-04-20): March compares with February
# and April with March, both before the first close: n/a; May with April (ends after it):
# 0 booked. Deals created (from 2026-03-02): April compares with March's 4; March with
# February, before the data: n/a.
is "month series: bookings vs before the first close n/a, then 0" \
    "2026-03-01|NULL|2026-04-01|NULL|2026-05-01|0" \
    "$(q oct "SELECT group_concat(period_start || '|' || quote(prev_value), '|') FROM
              (SELECT * FROM kpi WHERE metric = 'bookings' AND dimension = 'company' AND
              grain = 'month' AND period_start IN ('2026-03-01', '2026-04-01', '2026-05-01')
              ORDER BY period_start)")"
is "month series: deals created compared from their own first date" \
    "2026-03-01|4.0|NULL|2026-04-01|0|4.0" \
    "$(q oct "SELECT group_concat(period_start || '|' || value || '|' || quote(prev_value),
              '|') FROM (SELECT * FROM kpi WHERE metric = 'created' AND dimension = 'company'
              AND grain = 'month' AND period_start IN ('2026-03-01', '2026-04-01')
              ORDER BY period_start)")"
check "no warning when the period lies within the data" \
    bash -c "! grep -q 'lies wholly' '$TMP/stderr'"

# ---- period March 2026: the previous period (February) ends before the data ---------
job mar 2026-03-01..2026-03-31 2026-04-01
expect_exit 0 "March 2026 runs" "$KP_BIN" run "$F/mar.ini" --quiet
# Nothing closes in March: 0 booked; February and March 2025 lie before the data.
is "previous period before the data: n/a" "0|NULL|NULL|NULL|NULL" \
    "$(q mar "SELECT value, prev_value, change, pct_change, yoy_value FROM kpi WHERE
              metric = 'bookings' AND dimension = 'company' AND grain = 'period'
              AND period_start = '2026-03-01'")"
is "kpi_company previous and yoy bookings n/a" "NULL|NULL" \
    "$(q mar "SELECT group_concat(quote(bookings), '|') FROM (SELECT * FROM kpi_company
              WHERE period <> 'current' ORDER BY period)")"
check "no warning: deals are created in March" bash -c "! grep -q 'lies wholly' '$TMP/stderr'"

# ---- periods wholly outside the data: a warning naming the period and the dates -----
job late 2027-06-01..2027-06-30 2027-07-01
expect_exit 0 "June 2027 runs (a warning, no failure)" "$KP_BIN" run "$F/late.ini" --quiet
w="period 2027-06-01 to 2027-06-30 (2027-06-01 to 2027-06-30) lies wholly after the data:"
w="$w no deal is created or closes in it; the opportunities' dates run from 2026-03-02"
check "warning: period after the data" grep -qF "$w to 2026-12-15" "$TMP/stderr"
job early 2025-06-01..2025-06-30 2025-07-01
expect_exit 0 "June 2025 runs (a warning, no failure)" "$KP_BIN" run "$F/early.ini" --quiet
w="period 2025-06-01 to 2025-06-30 (2025-06-01 to 2025-06-30) lies wholly before the data:"
w="$w no deal is created or closes in it; the opportunities' dates run from 2026-03-02"
check "warning: period before the data" grep -qF "$w to 2026-12-15" "$TMP/stderr"
