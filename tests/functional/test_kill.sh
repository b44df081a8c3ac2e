#!/usr/bin/env bash
# kill -9 at random points of the load, the model and the render (at least 24 trials, at
# least 4 in each stage) on one database and output directory: after each, PRAGMA
# integrity_check is ok, every table has the row count it had before the run, the
# documents are the previous run's byte for byte and no temporary is visible as a
# document. The next run is not blocked by the dead run's lock and removes temporaries
# of dead processes (and only those). Random points come from a fixed seed; the delay
# into a stage adapts when the machine is faster or slower than the baseline run.
source "$KP_ROOT/tests/functional/lib.sh"
source "$KP_ROOT/tests/functional/robust_lib.sh"
D=$TMP/k
"$KP_BIN" sample "$D" --reps 20 --opps 8000 --months 24 --seed 11 --as-of 2026-11-01 >/dev/null 2>&1
if [ ! -f "$D/job.ini" ]; then notok "kpipress sample wrote a job"; exit 1; fi
OUT=$TMP/out

# Integrity, row counts of every table but runs, SHA-256 of every visible document.
state() { db_state "$D/var/sales.db" "$OUT" | grep -v '^tmp '; }
temporaries() { find "$OUT" -name '.*.tmp-*' | wc -l; }
runs() { sqlite3 "$D/var/sales.db" "SELECT count(*) FROM runs"; }

expect_exit 0 "first run" "$KP_BIN" run "$D/job.ini" --output-dir "$OUT" --quiet
# The second run (same inputs) is the baseline: its stage durations are a rerun's.
expect_exit 0 "baseline run" "$KP_BIN" run "$D/job.ini" --output-dir "$OUT" --summary "$TMP/base.json"
[ -f "$TMP/base.json" ] || exit 1
state >"$TMP/before"
ms() { $PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["durations_ms"][sys.argv[2]]))' "$TMP/base.json" "$1"; }
declare -A span=([loading]=$(ms load) ["computing KPIs"]=$(ms model) [rendering]=$(ms render))
echo "# baseline: load ${span[loading]} ms, model ${span[computing KPIs]} ms, render ${span[rendering]} ms"
check "baseline wrote documents" test "$(grep -c '^doc ' "$TMP/before")" -gt 20

RANDOM=8
declare -A hits=([load]=0 [model]=0 [render]=0 [finished]=0)
phases=("loading" "computing KPIs" "rendering")
bad=0 trial=0
while [ "$trial" -lt 48 ]; do
    enough=1
    for k in load model render; do [ "${hits[$k]}" -ge 4 ] || enough=0; done
    [ "$trial" -ge 24 ] && [ "$enough" -eq 1 ] && break
    trial=$((trial + 1))
    phase=${phases[$((trial % 3))]}
    runs_before=$(runs)
    # A random point in the first 80% of the stage's expected duration after it starts
    # (computed before the run so that no interpreter start-up adds to it).
    delay=$($PY -c 'import sys; print(int(sys.argv[1]) % (int(sys.argv[2]) * 8 // 10 + 1) / 1000)' \
        "$((RANDOM * 32768 + RANDOM))" "${span[$phase]}")
    "$KP_BIN" run "$D/job.ini" --output-dir "$OUT" 2>"$TMP/trial.err" &
    pid=$!
    for _ in $(seq 12000); do grep -q "$phase" "$TMP/trial.err" && break; sleep 0.01; done
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" -ne 137 ]; then where=finished
    elif grep -q "rendering" "$TMP/trial.err"; then where=render
    elif grep -q "computing KPIs" "$TMP/trial.err"; then where=model
    else where=load; fi
    hits[$where]=$((hits[$where] + 1))
    # Landed after the stage: the machine is faster now, aim earlier next time.
    case "$phase:$where" in
    loading:load | "computing KPIs:model" | rendering:render) ;;
    *) span[$phase]=$((span[$phase] * 2 / 3)) ;;
    esac
    state >"$TMP/after"
    want_runs=$runs_before
    [ "$rc" -eq 0 ] && want_runs=$((runs_before + 1))
    if ! diff -q "$TMP/before" "$TMP/after" >/dev/null || [ "$(runs)" -ne "$want_runs" ]; then
        bad=$((bad + 1))
        echo "# trial $trial (aimed at $phase, killed in $where, exit $rc): state differs"
        diff "$TMP/before" "$TMP/after" | head -5 | sed 's/^/#   /'
    else
        echo "# trial $trial: aimed at $phase, killed in $where; state as before, $(temporaries) temporaries"
    fi
done
echo "# $trial trials; killed in load: ${hits[load]}, model: ${hits[model]}, render: ${hits[render]}; finished first: ${hits[finished]}"
if [ "$bad" -eq 0 ]; then ok "$trial kill -9 trials: integrity ok, row counts and documents as before"; else notok "kill -9 trials: $bad of $trial changed the state"; fi
check "at least 24 trials, 4 or more killed in each of load, model and render" \
    test "$trial" -ge 24 -a "${hits[load]}" -ge 4 -a "${hits[model]}" -ge 4 -a "${hits[render]}" -ge 4

# Temporaries beside the documents: those of dead processes go, a live writer's stay.
# (A kill rarely catches one: each lives only while its document is written.)
sleep 60 & live=$!
sleep 60 & dead=$!
kill -9 "$dead"; wait "$dead" 2>/dev/null
board=$(cd "$OUT" && ls board-pack-*.xlsx)
printf 'partial' >"$OUT/.$board.tmp-$dead-1"
printf 'partial' >"$OUT/scorecards/.x.pdf.tmp-$dead-7"
printf 'partial' >"$OUT/.$board.tmp-$live-1"
printf 'keep' >"$OUT/.notes.tmp-x"
left=$(temporaries)
# libxlsxwriter's own temporary (named by it, unlinked while open) caught by a kill.
mkdir -p "$OUT/.kpipress-scratch" && : >"$OUT/.kpipress-scratch/tmp.AbCdEfGh"
expect_exit 0 "the next run is not blocked by the killed runs' lock" \
    "$KP_BIN" run "$D/job.ini" --output-dir "$OUT"
expect_stderr "removed $((left - 1)) temporary files left by an interrupted run under $OUT" \
    "it removes the temporaries of dead processes and the renderers' scratch files, and says so"
check "no scratch directory is left beside the documents" \
    test -z "$(find "$OUT" -name .kpipress-scratch)"
check "the live process's temporary and an unrelated dot-file stay" \
    test -e "$OUT/.$board.tmp-$live-1" -a -e "$OUT/.notes.tmp-x" -a "$(temporaries)" -eq 2
kill "$live"; wait "$live" 2>/dev/null
rm -f "$OUT/.$board.tmp-$live-1" "$OUT/.notes.tmp-x"
state >"$TMP/final"
check "documents and row counts equal the baseline's" diff "$TMP/before" "$TMP/final"
check "the manifest lists exactly the documents, with their SHA-256" $PY - "$OUT" <<'PYEOF'
import csv, hashlib, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, 'manifest.csv'), encoding='utf-8')))
files = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
               if not f.startswith('manifest.'))
assert sorted(r['path'] for r in rows) == files, (len(rows), len(files))
for r in rows:
    assert hashlib.sha256(open(os.path.join(d, r['path']), 'rb').read()).hexdigest() == r['sha256']
PYEOF
echo "1..$_tap_n"
