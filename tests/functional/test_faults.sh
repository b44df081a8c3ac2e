#!/usr/bin/env bash
# Faults an unattended run meets: disk full (ulimit -f, and a small tmpfs when mount is
# allowed), an unwritable output directory, a missing font, a source deleted after
# `check`, a read-only database (chattr +i), a second run while one holds the lock and a
# stale lock. Each gives its message and documented exit code (README: 1 data, 2
# configuration, 3 I/O), and the database and previous documents stay as they were.
source "$KP_ROOT/tests/functional/lib.sh"
source "$KP_ROOT/tests/functional/robust_lib.sh"
B=$TMP/base
mkdir -p "$B"
cp "$KP_ROOT"/sample-data/{opportunities,users,quotas}.csv "$B/"
cat >"$B/card.ini" <<'EOF'
[document]
kind = pdf
title = Card {rep_id}
[text t]
text = Card for {rep_id} ({name})
EOF
cat >"$B/book.ini" <<'EOF'
[document]
kind = xlsx
title = Reps
[sheet s]
title = Reps
[table reps]
sql = SELECT rep_id, name, email FROM reps ORDER BY rep_id
EOF
sample_job "$B" Faults <<'EOF'
[report book]
template = book.ini
output = book.xlsx
[report cards]
template = card.ini
burst = SELECT rep_id, name FROM reps WHERE active = 1 ORDER BY rep_id
output = cards/{rep_id}.pdf
EOF
fresh() { rm -rf "$TMP/$1"; cp -r "$B" "$TMP/$1"; }
state() { db_state "$1/db/t.db" "$1/out"; } # DIR
same_state() { # DESC DIR BEFORE-FILE: state unchanged (the runs table may grow)
    state "$2" >"$TMP/after"
    if diff "$3" "$TMP/after" >"$TMP/diff"; then ok "$1"; else notok "$1"; sed 's/^/#   /' "$TMP/diff" | head -10; fi
}
runs_row() { sqlite3 "$1/db/t.db" "SELECT status || '|' || ifnull(error, '') FROM runs ORDER BY run_id DESC LIMIT 1"; }

fresh ok
expect_exit 0 "baseline run" "$KP_BIN" run "$TMP/ok/job.ini" --quiet --summary "$TMP/ok/summary.json"
state "$TMP/ok" >"$TMP/ok.state"
ndocs=$(grep -c '^doc ' "$TMP/ok.state")
check "baseline wrote documents and a manifest ($ndocs files)" test "$ndocs" -gt 10

# ---- run record: --summary and the runs table, checked against hashlib and csv ----------
check "summary: status, as-of, job and input SHA-256, row counts, outputs, durations" \
    $PY - "$TMP/ok" <<'PYEOF'
import csv, hashlib, json, os, sqlite3, sys
d = sys.argv[1]
s = json.load(open(os.path.join(d, 'summary.json'), encoding='utf-8'))
sha = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()
assert (s['status'], s['exit_code'], s['error']) == ('ok', 0, None), s['status']
assert (s['as_of'], s['period'], s['period_start'], s['period_end']) == \
    ('2026-11-01', '2026-10', '2026-10-01', '2026-10-31')
assert s['job_sha256'] == sha(os.path.join(d, 'job.ini'))
files = {'opportunities': 'opportunities.csv', 'reps': 'users.csv', 'quotas': 'quotas.csv'}
for src in s['sources']:
    p = os.path.join(d, files[src['name']])
    assert src['sha256'] == sha(p) and src['bytes'] == os.path.getsize(p), src['name']
    rows = [r for r in csv.reader(open(p, encoding='utf-8-sig')) if any(r)][1:]
    # Every data row is read; loaded + rejected + footer rows skipped account for all.
    assert src['rows_read'] + src['rows_skipped'] == len(rows), (src, len(rows))
    assert src['rows_loaded'] + src['rows_rejected'] == src['rows_read'], src
db = sqlite3.connect(os.path.join(d, 'db', 't.db'))
assert s['sources'][1]['rows_loaded'] == db.execute('SELECT count(*) FROM reps').fetchone()[0]
docs = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(os.path.join(d, 'out'))
              for f in fs if not f.startswith('manifest.'))
assert sorted(os.path.relpath(o['path'], d) for o in s['outputs']) == docs, len(docs)
for o in s['outputs']:
    assert o['sha256'] == sha(o['path']) and o['bytes'] == os.path.getsize(o['path']), o
    assert o['report'] in ('book', 'cards')
ms = s['durations_ms']
assert set(ms) == {'lock', 'load', 'model', 'forecast', 'plan', 'render', 'manifest', 'deliver',
                   'total'}
assert all(v >= 0 for v in ms.values()) and ms['render'] > 0 and ms['load'] > 0
assert abs(sum(v for k, v in ms.items() if k != 'total') - ms['total']) < 1
row = db.execute('SELECT as_of, job_sha256, status, error, started_step, summary FROM runs'
                 ' ORDER BY run_id DESC LIMIT 1').fetchone()
assert row[:5] == ('2026-11-01', s['job_sha256'], 'ok', None, 'deliver'), row[:5]
assert json.loads(row[5]) == s
PYEOF

# ---- disk full: the database (ulimit -f, SIGXFSZ ignored so writes fail with EFBIG) ---
cp -r "$TMP/ok" "$TMP/dbfull"
state "$TMP/dbfull" >"$TMP/dbfull.state"
# A new snapshot date makes the load write a lot: more than 200 KiB of WAL.
expect_exit 3 "disk full while loading: exit 3" \
    bash -c 'trap "" XFSZ; ulimit -f 200; exec "$0" run "$1" --quiet --as-of 2026-12-01' \
    "$KP_BIN" "$TMP/dbfull/job.ini"
expect_stderr "$TMP/dbfull/db/t.db: " "disk-full message names the database"
check "disk-full message says what failed" grep -qE "disk is full|disk I/O error|database or disk is full" "$TMP/stderr"
same_state "disk full while loading: database and documents as before" "$TMP/dbfull" "$TMP/dbfull.state"

# ---- disk full: the output directory on a 400 KiB tmpfs (needs mount) -------------------
fresh tmpfs
mkdir -p "$TMP/tmpfs/out"
if mount -t tmpfs -o size=400k kpipress-test "$TMP/tmpfs/out" 2>/dev/null; then
    expect_exit 3 "disk full while rendering (tmpfs): exit 3" "$KP_BIN" run "$TMP/tmpfs/job.ini" --quiet
    expect_stderr "No space left on device" "message says the disk is full"
    check "no temporaries left, no manifest, every document that exists is complete" \
        $PY - "$TMP/tmpfs/out" <<'PYEOF'
import os, subprocess, sys, openpyxl
d = sys.argv[1]
files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
assert not [f for f in files if os.path.basename(f).startswith('.')], files
assert not [f for f in files if os.path.basename(f).startswith('manifest')], files
for f in files:
    if f.endswith('.xlsx'):
        openpyxl.load_workbook(f)
    else:
        subprocess.run(['qpdf', '--check', f], check=True, capture_output=True)
PYEOF
    umount "$TMP/tmpfs/out"
else
    skip "disk full while rendering (tmpfs): mount not permitted here"
    skip "message says the disk is full"
    skip "no temporaries left after disk full"
fi

# ---- unwritable output directory: its parent is a regular file ---------------------------
fresh unw
touch "$TMP/unw/file"
expect_exit 3 "output directory under a regular file: exit 3" \
    "$KP_BIN" run "$TMP/unw/job.ini" --quiet --output-dir "$TMP/unw/file/out" --summary "$TMP/unw/s.json"
expect_stderr "kpipress: $TMP/unw/file: cannot create directory: Not a directory" "unwritable directory message"
check "the summary of a failed run gives status, exit code, error and the failing stage" \
    $PY -c 'import json, sys; s = json.load(open(sys.argv[1]))
assert (s["status"], s["exit_code"], s["failed_stage"]) == ("failed", 3, "render"), s
assert s["error"] == sys.argv[2] + ": cannot create directory: Not a directory", s["error"]
assert s["outputs"] == [] and s["documents"] == 0' "$TMP/unw/s.json" "$TMP/unw/file"
expect_exit 2 "a configuration error still writes the summary" \
    "$KP_BIN" run "$TMP/unw/nonexistent.ini" --summary "$TMP/unw/s2.json"
check "...with exit code 2 and the error" $PY -c 'import json, sys; s = json.load(open(sys.argv[1]))
assert (s["status"], s["exit_code"], s["failed_stage"], s["job_sha256"]) == ("failed", 2, "job", None), s
assert "nonexistent.ini" in s["error"]' "$TMP/unw/s2.json"
check "runs table records the failure" test "$(runs_row "$TMP/unw")" = "failed|cannot create directory: Not a directory"

# ---- missing font --------------------------------------------------------------------------
cp -r "$TMP/ok" "$TMP/font"
sed -i 's|^output_dir = out|output_dir = out\nfont = /nonexistent/kp-font.ttf|' "$TMP/font/job.ini"
state "$TMP/font" >"$TMP/font.state"
expect_exit 3 "missing font: exit 3" "$KP_BIN" run "$TMP/font/job.ini" --quiet
expect_stderr "kpipress: $TMP/font/job.ini:20: [report cards]: font file /nonexistent/kp-font.ttf not found (set font = in [job], or install fonts-dejavu-core)" \
    "missing font message names the report and the fix"
same_state "missing font: nothing rendered, previous documents and database untouched" "$TMP/font" "$TMP/font.state"

# ---- a source deleted after check ----------------------------------------------------------
cp -r "$TMP/ok" "$TMP/gone"
state "$TMP/gone" >"$TMP/gone.state"
expect_exit 0 "check passes while the source exists" "$KP_BIN" check "$TMP/gone/job.ini"
rm "$TMP/gone/quotas.csv"
expect_exit 2 "source deleted before the run: exit 2" "$KP_BIN" run "$TMP/gone/job.ini" --quiet
expect_stderr "kpipress: $TMP/gone/job.ini:13: [source quotas]: file not found: $TMP/gone/quotas.csv" \
    "deleted source message names the job line and file"
same_state "deleted source: database and documents untouched" "$TMP/gone" "$TMP/gone.state"

# ---- read-only database ----------------------------------------------------------------------
cp -r "$TMP/ok" "$TMP/ro"
state "$TMP/ro" >"$TMP/ro.state"
if chattr +i "$TMP/ro/db/t.db" 2>/dev/null; then
    expect_exit 3 "read-only (immutable) database: exit 3" "$KP_BIN" run "$TMP/ro/job.ini" --quiet
    expect_stderr "kpipress: $TMP/ro/db/t.db: attempt to write a readonly database" "read-only database message"
    chattr -i "$TMP/ro/db/t.db"
    same_state "read-only database: database and documents untouched" "$TMP/ro" "$TMP/ro.state"
else
    skip "read-only database: chattr +i not supported here"
    skip "read-only database message"
    skip "read-only database: untouched"
fi

# ---- lock: a second run while the first holds it; a stale lock ----------------------------
# The holder is a real run waiting in its deliver_command (documents written, lock held)
# until the test creates the gate file.
fresh lock
cat >"$TMP/lock/wait.sh" <<EOF
#!/bin/sh
cat >/dev/null
while [ ! -e "$TMP/lock/gate" ]; do sleep 0.05; done
EOF
chmod +x "$TMP/lock/wait.sh"
sed -i "s|^output_dir = out|output_dir = out\ndeliver_command = $TMP/lock/wait.sh|" "$TMP/lock/job.ini"
cat >>"$TMP/lock/job.ini" <<'EOF'
[report mail]
template = card.ini
burst = SELECT rep_id, name, email FROM reps WHERE active = 1 ORDER BY rep_id LIMIT 1
output = mail/{rep_id}.pdf
email = {email}
from = ops@example.com
EOF
wait_for_delivery() {
    for _ in $(seq 400); do pgrep -f "$TMP/lock/wait.sh" >/dev/null && return; sleep 0.05; done
}
"$KP_BIN" run "$TMP/lock/job.ini" --quiet 2>"$TMP/lock/first.err" &
holder=$!
wait_for_delivery
expect_exit 3 "second run while the first holds the lock: exit 3" "$KP_BIN" run "$TMP/lock/job.ini" --quiet
expect_stderr "kpipress: $TMP/lock/db/t.db: database is in use by another kpipress run (pid $holder)" \
    "lock message names the holder's pid"
touch "$TMP/lock/gate"
wait "$holder"
check "the first run then finishes normally" test $? -eq 0
rm -f "$TMP/lock/gate"
# A lock file left by a killed run: its pid is dead, and the flock died with it.
"$KP_BIN" run "$TMP/lock/job.ini" --quiet 2>/dev/null &
victim=$!
wait_for_delivery
kill -9 "$victim"
wait "$victim" 2>/dev/null
touch "$TMP/lock/gate" # releases the orphaned deliver_command
check "a killed run leaves its pid in the lock file" test "$(cat "$TMP/lock/db/t.db.lock")" = "$victim"
expect_exit 0 "a stale lock from a killed run does not block the next run" "$KP_BIN" run "$TMP/lock/job.ini" --quiet
check "the lock file then names the new holder, not the dead one" test "$(cat "$TMP/lock/db/t.db.lock")" != "$victim"
echo "1..$_tap_n"
