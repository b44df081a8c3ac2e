#!/usr/bin/env bash
# The command line: help for every command, version, exit codes of the documented classes
# (0 ok, 1 data, 2 usage/configuration, 3 I/O), errors naming file and line.
source "$KP_ROOT/tests/functional/lib.sh"

expect_exit 0 "--version" "$KP_BIN" --version
check "--version names the program" grep -q '^kpipress [0-9]' "$TMP/stdout"
expect_exit 0 "--help" "$KP_BIN" --help
for cmd in run check load sql sample; do
    expect_exit 0 "$cmd --help" "$KP_BIN" $cmd --help
    check "$cmd --help shows usage" grep -q "usage: kpipress $cmd" "$TMP/stdout"
done
expect_exit 2 "no command" "$KP_BIN"
expect_exit 2 "unknown command" "$KP_BIN" frobnicate
expect_stderr 'unknown command "frobnicate"' "unknown command is named"
expect_exit 2 "unknown option" "$KP_BIN" run x.ini --frob
expect_stderr "unknown option --frob for 'run'" "unknown option is named"
expect_exit 2 "bad --jobs" "$KP_BIN" run x.ini --jobs 0
expect_stderr "--jobs needs a number from 1 to 64" "bad --jobs explained"
expect_exit 2 "bad --shard" "$KP_BIN" run x.ini --shard 2/2
expect_stderr "--shard needs I/N with 0 <= I < N" "bad --shard explained"
expect_exit 2 "missing job file" "$KP_BIN" check "$TMP/none.ini"
expect_stderr "$TMP/none.ini: job file not found" "missing job file named"

# A job whose template has a SQL typo fails at check time with the template's line.
cp "$KP_ROOT/sample-data/"*.csv "$TMP/"
cat > "$TMP/bad.ini" <<'INI'
[document]
kind = xlsx
[table t]
sql = SELECT rep_id, nosuchcolumn
  FROM reps ORDER BY rep_id
INI
cat > "$TMP/job.ini" <<'INI'
[job]
name = T
period = previous_month
as_of = 2026-11-01
[source opportunities]
file = opportunities.csv
preset = salesforce
[source reps]
file = users.csv
preset = salesforce
[report r]
template = bad.ini
output = r.xlsx
INI
expect_exit 2 "check catches template SQL errors" "$KP_BIN" check "$TMP/job.ini"
expect_stderr "bad.ini:4: SQL error: no such column: nosuchcolumn" "template SQL error names file and line"
sed -i 's/template = bad.ini/template = board-pack.ini/; s/output = r.xlsx/output = r.pdf/' "$TMP/job.ini"
expect_exit 2 "output extension must match the template kind" "$KP_BIN" check "$TMP/job.ini"
expect_stderr "template board-pack.ini makes a .xlsx file but output is \"r.pdf\"" "kind mismatch explained"
sed -i 's/output = r.pdf/output = r.xlsx/' "$TMP/job.ini"
expect_exit 0 "shipped templates are found by name" "$KP_BIN" check "$TMP/job.ini"
expect_exit 2 "--only names an unknown report" "$KP_BIN" run "$TMP/job.ini" --only nope --database :memory:
expect_stderr "no [report nope] in this job" "unknown report named"

# I/O: an unwritable database location is exit 3.
expect_exit 3 "database in a missing, uncreatable place" "$KP_BIN" load "$TMP/job.ini" --database /proc/nope/x.db --quiet
# sql: read-only queries on the job database
expect_exit 0 "load into a database" "$KP_BIN" load "$TMP/job.ini" --database "$TMP/s.db" --quiet
expect_exit 0 "sql --csv" "$KP_BIN" sql "$TMP/job.ini" "SELECT count(*) AS n FROM reps" --csv --database "$TMP/s.db"
nreps=$($PY -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], encoding="utf-8-sig"))))' "$TMP/users.csv")
check "sql counts the reps of users.csv ($nreps)" grep -qx "$nreps" "$TMP/stdout"
expect_exit 2 "sql refuses writes" "$KP_BIN" sql "$TMP/job.ini" "DELETE FROM reps" --database "$TMP/s.db"
expect_stderr "SQL refused" "write refused message"
