# Helpers for functional tests: TAP-style "ok N - desc" / "not ok N - desc" lines that
# tests/run counts. Source this file; KP_BIN and KP_ROOT come from tests/run.
: "${KP_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${KP_BIN:=$KP_ROOT/kpipress}"
PY=/usr/bin/python3
DATASETS=${KP_DATASETS:-$KP_ROOT/../shared/datasets}
_tap_n=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kpf.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ok()   { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
notok(){ _tap_n=$((_tap_n + 1)); echo "not ok $_tap_n - $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - # SKIP $*"; }
# check DESC CMD...: ok when CMD exits 0
check() { local d=$1; shift; if "$@" >"$TMP/check.out" 2>&1; then ok "$d"; else notok "$d"; sed 's/^/#   /' "$TMP/check.out" | head -20; fi; }
# expect_exit CODE DESC CMD...: ok when CMD exits with CODE; its stderr is in $TMP/stderr
expect_exit() {
    local code=$1 d=$2; shift 2
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"; local rc=$?
    if [ "$rc" -eq "$code" ]; then ok "$d"; else notok "$d (exit $rc, want $code)"; sed 's/^/#   /' "$TMP/stderr" | head -10; fi
}
# expect_stderr TEXT DESC: ok when $TMP/stderr contains TEXT (fixed string)
expect_stderr() {
    if grep -qF -- "$1" "$TMP/stderr"; then ok "$2"; else notok "$2"; echo "#   want: $1"; sed 's/^/#   got:  /' "$TMP/stderr" | head -5; fi
}

# sample_sources: the [source] sections of the sample exports (Salesforce report format),
# read relative to the job file.
sample_sources() {
    cat <<EOF
[source opportunities]
file = opportunities.csv
preset = salesforce
[source reps]
file = users.csv
preset = salesforce
[source quotas]
file = quotas.csv
preset = salesforce
EOF
}

# sample_job DIR NAME: DIR/job.ini over the sample exports (copied into DIR beforehand),
# database DIR/db/t.db, output DIR/out, then whatever is on stdin (report sections).
sample_job() {
    cat >"$1/job.ini" <<EOF
[job]
name = $2
database = db/t.db
as_of = 2026-11-01
period = previous_month
output_dir = out
EOF
    sample_sources >>"$1/job.ini"
    cat >>"$1/job.ini"
}
