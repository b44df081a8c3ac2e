#!/usr/bin/env bash
# `kpipress load` on the sample generator's Salesforce-shaped exports and on the Maven CRM
# data set, checked against Python's csv module and the sqlite3 CLI; a malformed export
# and a rejects-over-threshold export fail with exit 1, name file/line/column, and leave
# the database as it was.
source "$KP_ROOT/tests/functional/lib.sh"

D=$TMP/s
"$KP_BIN" sample "$D" >/dev/null 2>&1 || { notok "kpipress sample"; exit 1; }
write_job() { # write_job FILE OPPS_FILE MAX_REJECT_PCT
    cat >"$1" <<EOF
[job]
name = load test
database = $TMP/db.sqlite
as_of = 2026-11-01
period = previous_month
output_dir = $TMP/out
max_reject_pct = $3

[source opportunities]
file = $2
preset = salesforce

[source reps]
file = users.csv
preset = salesforce

[source quotas]
file = quotas.csv
preset = salesforce
EOF
}
write_job "$D/load.ini" opportunities.csv 1
expect_exit 0 "load the sample exports" "$KP_BIN" load "$D/load.ini"

want=$($PY - "$D/opportunities.csv" <<'EOF'
import csv, sys
from decimal import Decimal
rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
h, data = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
cents = sum(Decimal(r[5].replace('$', '').replace(',', '')) for r in data if r[5]) * 100
won = sum(1 for r in data if r[4] == 'Closed Won')
print(len(data), int(cents), won)
EOF
)
got=$(sqlite3 "$TMP/db.sqlite" "SELECT count(*) || ' ' || sum(amount_cents) || ' ' || sum(is_won) FROM opportunities")
[ -n "$want" ] && [ "$got" = "$want" ] && ok "opportunities: rows, cents, won match python ($got)" \
    || notok "opportunities: got '$got', want '$want'"
reps=$($PY -c "import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], encoding='utf-8'))))" "$D/users.csv")
check "reps: all $reps users loaded" test "$(sqlite3 "$TMP/db.sqlite" 'SELECT count(*) FROM reps')" = "$reps"
check "no owner left unresolved" test "$(sqlite3 "$TMP/db.sqlite" \
    "SELECT count(*) FROM opportunities WHERE owner_id NOT IN (SELECT rep_id FROM reps)")" = 0

expect_exit 0 "rerun is accepted" "$KP_BIN" load "$D/load.ini"
check "rerun is idempotent" test "$(sqlite3 "$TMP/db.sqlite" 'SELECT count(*) FROM opportunity_snapshots')" = "${want%% *}"
before=$(sqlite3 "$TMP/db.sqlite" "SELECT count(*), sum(amount_cents) FROM opportunity_snapshots")

# A ragged row on line 3: exit 1, file:line:column on stderr, database untouched.
{ head -2 "$D/opportunities.csv"; echo '"x","y"'; } >"$D/ragged.csv"
write_job "$D/ragged.ini" ragged.csv 1
expect_exit 1 "ragged export fails with exit 1" "$KP_BIN" load "$D/ragged.ini"
expect_stderr "ragged.csv:3:3: row has 2 fields, the header has 13" "error names file, line, column"
check "database unchanged after a failed load" test \
    "$(sqlite3 "$TMP/db.sqlite" "SELECT count(*), sum(amount_cents) FROM opportunity_snapshots")" = "$before"

# One bad amount in three rows (33%) is over max_reject_pct = 1.
{ head -3 "$D/opportunities.csv"; sed -n 4p "$D/opportunities.csv" | sed 's/"\$[0-9,.]*"/"lots"/'; } >"$D/bad.csv"
write_job "$D/bad.ini" bad.csv 1
expect_exit 1 "rejects over the threshold fail with exit 1" "$KP_BIN" load "$D/bad.ini"
expect_stderr "bad.csv:4:6: source 'opportunities': 1 of 3 rows rejected" "threshold error names the first reject"
check "rejects file written" grep -qF "4,6,unparseable,\"Amount: 'lots' is not an amount (expected e.g. 1234.50 or \$1,234.50)\",006" "$TMP/out/rejects/opportunities.csv"

# Duplicate ids (rows 10 and 20 given the id of row 3): the later rows rejected, whichever
# way the duplicate filter's candidates are checked (its spill of key hashes, with few
# or nearly all keys candidates, or the SQL pass over the snapshot), the same rows
# stored; the spill, an unlinked file in TMPDIR, leaves nothing there, also on failure.
dupdir=$TMP/dups
mkdir -p "$dupdir/tmp"
cp "$D/users.csv" "$D/quotas.csv" "$dupdir/"
want=$($PY - "$D/opportunities.csv" "$dupdir/opportunities.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
data = [i for i, r in enumerate(rows) if i > 0 and len(r) == len(rows[0])]
for k in (10, 20):
    rows[data[k]][0] = rows[data[3]][0]
with open(sys.argv[2], 'w', newline='', encoding='utf-8') as f:
    csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator='\n').writerows(rows)
# the line each record starts on; the rows after the first of each id
rd = csv.reader(open(sys.argv[2], newline='', encoding='utf-8'))
seen, later, end = set(), [], 0
for r in rd:
    line, end = end + 1, rd.line_num
    if line > 1 and len(r) == len(rows[0]):
        if r[0] in seen:
            later.append(f"{line}|{r[0]}")
        seen.add(r[0])
print(" ".join(later))
EOF
)
write_job "$dupdir/dup.ini" opportunities.csv 1
dupstate() {
    sqlite3 "$TMP/db.sqlite" "SELECT group_concat(line || '|' || value, ' ') FROM (SELECT line,
        value FROM dq_issues WHERE rule = 'duplicate_id' ORDER BY line)"
    sqlite3 "$TMP/db.sqlite" "SELECT * FROM opportunity_snapshots ORDER BY rowid" | md5sum
}
first=
for mode in "" KPIPRESS_TEST_FILTER_BYTES=64 KPIPRESS_TEST_CANDIDATE_LIMIT=0; do
    expect_exit 0 "load with duplicate ids ${mode:-(spill)}" \
        env TMPDIR="$dupdir/tmp" $mode "$KP_BIN" load "$dupdir/dup.ini"
    got=$(dupstate)
    [ -n "$want" ] && [ "$(echo "$got" | head -1)" = "$want" ] \
        && ok "duplicates ${mode:-(spill)}: the later rows of an id, as python finds ($want)" \
        || notok "duplicates ${mode:-(spill)}: got '$got', want '$want'"
    [ -z "$first" ] && first=$got
    check "duplicates ${mode:-(spill)}: same rows stored as the first way" test "$got" = "$first"
    check "duplicates ${mode:-(spill)}: nothing left in TMPDIR" test -z "$(ls -A "$dupdir/tmp")"
done
write_job "$dupdir/dup0.ini" opportunities.csv 0
expect_exit 1 "duplicates over max_reject_pct = 0 fail" \
    env TMPDIR="$dupdir/tmp" "$KP_BIN" load "$dupdir/dup0.ini"
check "failed load: nothing left in TMPDIR" test -z "$(ls -A "$dupdir/tmp")"

# Real data: Maven CRM with the generic preset and maps.
M=$DATASETS/maven-crm
if [ -f "$M/sales_pipeline.csv" ] && [ -f "$M/sales_teams.csv" ]; then
    cat >"$TMP/maven.ini" <<EOF
[job]
name = maven
database = $TMP/maven.sqlite
as_of = 2017-12-31
period = previous_month
output_dir = $TMP/maven-out

[source reps]
file = $M/sales_teams.csv
map.rep_id = sales_agent
map.name = sales_agent
map.manager = manager
map.region = regional_office

[source opportunities]
file = $M/sales_pipeline.csv
preset = generic
map.opp_id = opportunity_id
map.owner = sales_agent
map.stage = deal_stage
map.created_date = engage_date
map.close_date = close_date
map.amount = close_value
map.product = product
map.account = account
EOF
    expect_exit 0 "load the Maven CRM data set" "$KP_BIN" load "$TMP/maven.ini"
    want=$($PY - "$M/sales_pipeline.csv" <<'EOF'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')))
print(len(r), sum(int(x['close_value']) for x in r if x['deal_stage'] == 'Won') * 100,
      sum(1 for x in r if x['account'] == '' and x['deal_stage'] in ('Engaging', 'Prospecting')))
EOF
)
    got=$(sqlite3 "$TMP/maven.sqlite" "SELECT (SELECT count(*) FROM opportunities) || ' ' ||
        (SELECT sum(amount_cents) FROM opportunities WHERE is_won) || ' ' ||
        (SELECT count(*) FROM dq_issues WHERE rule = 'missing_account')")
    [ "$got" = "$want" ] && ok "maven: rows, won cents, deals without account match python ($got)" \
        || notok "maven: got '$got', want '$want'"
else
    skip "maven-crm data set absent"
    skip "maven-crm data set absent"
fi
