#!/usr/bin/env bash
# "An auditor re-runs last March and gets last March": after a later month is loaded into
# the same database, re-running an earlier as-of date with that month's export gives
# byte-identical documents (the opportunities view and the metric relations are scoped to
# the run's as-of date, not to the newest snapshot in the database).
source "$KP_ROOT/tests/functional/lib.sh"
mkdir -p "$TMP/nov" "$TMP/dec"
cp "$KP_ROOT/sample-data/"*.csv "$TMP/nov/"
cp "$KP_ROOT/sample-data/"*.csv "$TMP/dec/"
# December's export: every lost deal now won, so a leak of it into November shows.
sed -i 's/"Closed Lost"/"Closed Won"/g' "$TMP/dec/opportunities.csv"
for m in nov dec; do
    sample_job "$TMP/$m" Rerun <<'INI'
[report board-pack]
template = board-pack.ini
output = board-pack.xlsx
[report card]
template = rep-scorecard.ini
burst = SELECT rep_id, name FROM reps WHERE rep_id IN (SELECT rep_id FROM quotas) ORDER BY rep_id LIMIT 3
output = cards/{rep_id}.pdf
INI
done
db=(--database "$TMP/shared.db")   # one database for both months
expect_exit 0 "November run" "$KP_BIN" run "$TMP/nov/job.ini" --as-of 2026-11-01 --quiet "${db[@]}"
cp -r "$TMP/nov/out" "$TMP/first"
q() { sqlite3 "$TMP/shared.db" "$1"; }
check "one snapshot: the run builds no key index" bash -c "[ \$(sqlite3 '$TMP/shared.db' \"SELECT count(*) FROM sqlite_master WHERE name = 'opp_snap_key'\") -eq 0 ]"
expect_exit 0 "December run on the same database" "$KP_BIN" run "$TMP/dec/job.ini" --as-of 2026-12-01 --quiet "${db[@]}"
check "two snapshots are kept" bash -c "[ \$(sqlite3 '$TMP/shared.db' 'SELECT count(DISTINCT as_of) FROM opportunity_snapshots') -eq 2 ]"
expect_exit 0 "November re-run after December" "$KP_BIN" run "$TMP/nov/job.ini" --as-of 2026-11-01 --quiet "${db[@]}"
check "the re-run's documents are byte-identical to the first November run" diff -r "$TMP/first" "$TMP/nov/out"
expect_exit 0 "sql sees the run's snapshot" "$KP_BIN" sql "$TMP/nov/job.ini" "SELECT count(*) FROM opportunities WHERE stage = 'Closed Lost'" --csv --as-of 2026-11-01 "${db[@]}"
check "November's lost deals are still lost in kpipress sql" bash -c "[ \$(tail -1 '$TMP/stdout') -gt 0 ]"
# The snapshot catalogue: each snapshot's rowid range as the rows themselves give it, the
# key index once two snapshots exist (the history join), and the snapshot a run reads is
# the latest at or before its as-of date, through the catalogue or without one.
groups="SELECT as_of, min(rowid), max(rowid), count(*) FROM opportunity_snapshots GROUP BY as_of ORDER BY as_of"
catalogue="SELECT as_of, first_rowid, last_rowid, rows FROM snapshots ORDER BY as_of"
check "the catalogue holds both snapshots' rowid ranges" bash -c "[ \"\$(sqlite3 '$TMP/shared.db' '$catalogue')\" = \"\$(sqlite3 '$TMP/shared.db' '$groups')\" ] && [ \$(sqlite3 '$TMP/shared.db' 'SELECT count(*) FROM snapshots') -eq 2 ]"
check "two snapshots: the key index exists" bash -c "[ \$(sqlite3 '$TMP/shared.db' \"SELECT count(*) FROM sqlite_master WHERE name = 'opp_snap_key'\") -eq 1 ]"
lost() { "$KP_BIN" sql "$TMP/nov/job.ini" "SELECT count(*) FROM opportunities WHERE stage = 'Closed Lost'" --csv --as-of "$1" "${db[@]}" | tail -1; }
nov_lost=$(q "SELECT count(*) FROM opportunity_snapshots WHERE as_of = '2026-11-01' AND stage = 'Closed Lost'")
check "November has lost deals, December none (the fixture)" bash -c "[ $nov_lost -gt 0 ] && [ \$(sqlite3 '$TMP/shared.db' \"SELECT count(*) FROM opportunity_snapshots WHERE as_of = '2026-12-01' AND stage = 'Closed Lost'\") -eq 0 ]"
check "an as-of between the snapshots reads November" test "$(lost 2026-11-20)" = "$nov_lost"
check "an as-of after both reads December" test "$(lost 2026-12-15)" = 0
check "an as-of before both reads no snapshot" test "$("$KP_BIN" sql "$TMP/nov/job.ini" "SELECT count(*) FROM opportunities" --csv --as-of 2026-10-01 "${db[@]}" | tail -1)" = 0
q "DROP TABLE snapshots"
check "a database without the catalogue: kpipress sql reads November" test "$(lost 2026-11-20)" = "$nov_lost"
expect_exit 0 "November run on a database without the catalogue" "$KP_BIN" run "$TMP/nov/job.ini" --as-of 2026-11-01 --quiet "${db[@]}"
check "its documents are byte-identical to the first November run" diff -r "$TMP/first" "$TMP/nov/out"
check "the catalogue is filled again" bash -c "[ \"\$(sqlite3 '$TMP/shared.db' '$catalogue')\" = \"\$(sqlite3 '$TMP/shared.db' '$groups')\" ] && [ \$(sqlite3 '$TMP/shared.db' 'SELECT count(*) FROM snapshots') -eq 2 ]"
