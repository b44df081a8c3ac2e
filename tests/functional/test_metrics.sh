#!/usr/bin/env bash
# The metric layer end to end: `kpipress metrics`, bad metric definitions caught by
# `kpipress check` with file and line, the [definitions] block in both renderers, and
# the Maven CRM data set checked against an independent Python computation.
source "$KP_ROOT/tests/functional/lib.sh"

# ---- listing ---------------------------------------------------------------------------
expect_exit 0 "metrics --help" "$KP_BIN" metrics --help
check "metrics --help shows usage" grep -q "usage: kpipress metrics" "$TMP/stdout"
expect_exit 0 "metrics lists the default library" "$KP_BIN" metrics
check "bookings is listed with its definition" grep -qE \
    '^bookings +Bookings +currency +higher +Sum of the amounts of won deals whose close date' \
    "$TMP/stdout"
want=$(grep -c '^\[metric ' "$KP_ROOT/templates/metrics.ini")
got=$(($(wc -l <"$TMP/stdout") - 1))
if [ "$got" -eq "$want" ]; then ok "every metric of metrics.ini listed ($want)"; else notok "listed $got of $want metrics"; fi

cp "$KP_ROOT/sample-data/"*.csv "$TMP/"
job() { # job NAME EXTRA-JOB-LINES [EXTRA SECTIONS]
    printf '[job]\nname = M\nperiod = previous_month\nas_of = 2026-11-01\ndatabase = :memory:\n%s\n[source opportunities]\nfile = opportunities.csv\npreset = salesforce\n[source reps]\nfile = users.csv\npreset = salesforce\n[source quotas]\nfile = quotas.csv\npreset = salesforce\n%s\n' "$2" "${3:-}" >"$TMP/$1"
}
job add.ini "" "[metric big_deals]
label = Big deals
format = count
definition = Won deals of 50,000 or more closed in the period
from = opportunities
where = is_won AND amount_cents >= 5000000
time = close_date
value = count(*)"
expect_exit 0 "metrics JOB lists the job's own metrics" "$KP_BIN" metrics "$TMP/add.ini"
check "big_deals listed" grep -qE '^big_deals +Big deals +count' "$TMP/stdout"
expect_exit 0 "check accepts a job metric" "$KP_BIN" check "$TMP/add.ini"

# ---- bad definitions: exit 2 at check time, with file and line -----------------------
job unknown.ini "" "[metric ratio]
label = R
format = ratio
definition = d
expr = bookings / nosuch"
expect_exit 2 "unknown metric refused by check" "$KP_BIN" check "$TMP/unknown.ini"
expect_stderr "$TMP/unknown.ini:20: [metric ratio]: unknown metric \"nosuch\"" "unknown metric named with file and line"
job cycle.ini "" "[metric a]
label = A
format = count
definition = d
expr = b + 1
[metric b]
label = B
format = count
definition = d
expr = a * 2"
expect_exit 2 "cycle refused by check" "$KP_BIN" check "$TMP/cycle.ini"
expect_stderr "$TMP/cycle.ini:20: [metric a]: cycle between derived metrics: a -> b -> a" "cycle named with path"
job sqlerr.ini "" "[metric s]
label = S
format = count
definition = d
from = opportunities
value = sum(amount_centz)"
expect_exit 2 "SQL error refused by check" "$KP_BIN" check "$TMP/sqlerr.ini"
expect_stderr "$TMP/sqlerr.ini:21: [metric s]: SQL error: no such column: amount_centz" "SQL error named with file and line"
job nofile.ini "metrics = nosuch.ini"
expect_exit 2 "missing metrics file refused" "$KP_BIN" check "$TMP/nofile.ini"
expect_stderr "$TMP/nofile.ini:6: metrics file not found: $TMP/nosuch.ini" "missing metrics file named"
job margin.ini "gross_margin = 170%"
expect_exit 2 "bad gross_margin refused" "$KP_BIN" check "$TMP/margin.ini"
expect_stderr "bad value \"170%\": expected a share like 70% or 0.7" "bad gross_margin explained"
printf '[metric x]\nlabel = X\nformat = count\ndefinition = d\nfrom = opportunities\nvalue = count(*)\nwhen = 1\n' >"$TMP/bad-keys.ini"
job extra.ini "metrics = bad-keys.ini"
expect_exit 2 "unknown key in a metrics file refused" "$KP_BIN" check "$TMP/extra.ini"
expect_stderr "$TMP/bad-keys.ini:7: when: unknown key (valid keys: label, format" "unknown key named"

# ---- [definitions]: the library as a table in both renderers ---------------------------
for kind in xlsx pdf; do
    printf '[document]\nkind = %s\ntitle = Definitions\n[sheet defs]\ntitle = Definitions\n[definitions library]\ncaption = How each figure is computed\n' "$kind" >"$TMP/defs-$kind.ini"
done
job defs.ini "output_dir = out" "[report defs-x]
template = defs-xlsx.ini
output = defs.xlsx
[report defs-p]
template = defs-pdf.ini
output = defs.pdf"
expect_exit 0 "run with [definitions] blocks" "$KP_BIN" run "$TMP/defs.ini" --quiet
echo "$want" >"$TMP/count"
if /usr/bin/python3 - "$TMP/out/defs.xlsx" <<'PY'
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
rows = [[c.value for c in r] for r in ws.iter_rows()]
hdr = next(i for i, r in enumerate(rows) if r[:4] == ['Metric', 'Label', 'Format', 'Definition'])
body = {r[0]: r for r in rows[hdr + 1:] if r[0]}
assert body['bookings'][1:] == ['Bookings', 'currency',
    'Sum of the amounts of won deals whose close date is in the period'], body['bookings']
assert body['win_rate'][3].startswith('Deals won / (deals won + deals lost)')
assert len(body) == int(open(sys.argv[1].replace('out/defs.xlsx', 'count')).read())
PY
then ok "xlsx definitions sheet holds every metric (openpyxl)"; else notok "xlsx definitions sheet"; fi
if [ -f "$TMP/out/defs.pdf" ] && pdftotext "$TMP/out/defs.pdf" - | tr '\n' ' ' | grep -q "Sum of the amounts of won deals"; then
    ok "pdf definitions table readable (pdftotext)"; else notok "pdf definitions table"; fi

# ---- real data: Maven CRM, 2017 quarters, per rep and per regional office -------------
maven="$KP_ROOT/../shared/datasets/maven-crm"
if [ ! -f "$maven/sales_pipeline.csv" ]; then
    skip "maven-crm bookings, win rate, deal size, cycle per rep and office (data set absent)"
else
    cat >"$TMP/maven.ini" <<INI
[job]
name = Maven
period = 2017-10-01..2017-12-31
as_of = 2018-01-01
database = maven.db
max_reject_pct = 100
output_dir = out-maven
[source opportunities]
file = $maven/sales_pipeline.csv
preset = generic
map.opp_id = opportunity_id
map.owner = sales_agent
map.product = product
map.account = account
map.stage = deal_stage
map.created_date = engage_date
map.close_date = close_date
map.amount = close_value
[source reps]
file = $maven/sales_teams.csv
preset = generic
map.rep_id = sales_agent
map.name = sales_agent
map.manager = manager
map.region = regional_office
INI
    expect_exit 0 "maven-crm job runs" "$KP_BIN" run "$TMP/maven.ini" --quiet
    check "maven-crm 2017 quarters match Python over the raw CSV, to the cent" \
        /usr/bin/python3 "$KP_ROOT/tests/functional/check_maven_metrics.py" "$maven" "$TMP/maven.db"
fi
