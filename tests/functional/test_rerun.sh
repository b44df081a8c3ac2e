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
expect_exit 0 "December run on the same database" "$KP_BIN" run "$TMP/dec/job.ini" --as-of 2026-12-01 --quiet "${db[@]}"
check "two snapshots are kept" bash -c "[ \$(sqlite3 '$TMP/shared.db' 'SELECT count(DISTINCT as_of) FROM opportunity_snapshots') -eq 2 ]"
expect_exit 0 "November re-run after December" "$KP_BIN" run "$TMP/nov/job.ini" --as-of 2026-11-01 --quiet "${db[@]}"
check "the re-run's documents are byte-identical to the first November run" diff -r "$TMP/first" "$TMP/nov/out"
expect_exit 0 "sql sees the run's snapshot" "$KP_BIN" sql "$TMP/nov/job.ini" "SELECT count(*) FROM opportunities WHERE stage = 'Closed Lost'" --csv --as-of 2026-11-01 "${db[@]}"
check "November's lost deals are still lost in kpipress sql" bash -c "[ \$(tail -1 '$TMP/stdout') -gt 0 ]"
