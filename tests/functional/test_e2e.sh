#!/usr/bin/env bash
# End to end on the committed sample data: kpipress run writes the board-pack workbook and
# one PDF scorecard per rep; independent readers (openpyxl, pdftotext, qpdf) check them
# against figures computed from the raw CSVs by expected_sample.py; two runs are
# byte-identical; --jobs 2 gives the same bytes as --jobs 1; --shard splits the burst.
source "$KP_ROOT/tests/functional/lib.sh"
job=$KP_ROOT/sample-data/job.ini
if [ ! -f "$job" ]; then notok "sample-data/job.ini exists"; exit 1; fi

run() { "$KP_BIN" run "$job" --quiet --database "$TMP/$1.db" --output-dir "$TMP/$1" "${@:2}"; }

expect_exit 0 "kpipress check sample job" "$KP_BIN" check "$job"
expect_exit 0 "kpipress run sample job" run a
$PY "$KP_ROOT/tests/functional/expected_sample.py" "$KP_ROOT/sample-data" > "$TMP/expected.json"
period=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["period_start"][:7])' "$TMP/expected.json")
xlsx="$TMP/a/board-pack-$period.xlsx"
check "board pack written as board-pack-$period.xlsx" test -s "$xlsx"
check "board pack matches independent figures (openpyxl)" \
    $PY "$KP_ROOT/tests/functional/check_board_pack.py" "$xlsx" "$TMP/expected.json"
check "board packs (xlsx, pdf) show the run's forecast tables (openpyxl, sqlite3, pdftotext)" \
    $PY "$KP_ROOT/tests/functional/check_forecast_sheet.py" "$xlsx" "$TMP/a.db" \
    "$TMP/a/board-pack-$period.pdf"
period_end=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["period_end"])' "$TMP/expected.json")
check "scorecards show each rep's stored bookings forecast and interval (pdftotext, sqlite3)" \
    $PY "$KP_ROOT/tests/functional/check_scorecard_forecast.py" "$TMP/a/scorecards" "$TMP/a.db" \
    "$period_end"

# Scorecards: one per rep of the burst, each with the rep's name and figures.
nexp=$($PY -c 'import json,sys; print(sum(r["active"] for r in json.load(open(sys.argv[1]))["reps"].values()))' "$TMP/expected.json")
npdf=$(ls "$TMP/a/scorecards/"*.pdf 2>/dev/null | wc -l)
if [ "$npdf" -eq "$nexp" ] && [ "$npdf" -gt 0 ]; then ok "one scorecard per rep ($npdf)"; else notok "one scorecard per rep (got $npdf, want $nexp)"; fi
bad=0
while IFS=$'\t' read -r rid name bookings att; do
    pdf="$TMP/a/scorecards/$rid.pdf"
    txt=$(pdftotext -layout "$pdf" - 2>/dev/null)
    for want in "$name" "$bookings" "$att"; do
        if ! grep -qF -- "$want" <<<"$txt"; then echo "# $rid: '$want' not found in $pdf"; bad=1; fi
    done
    qpdf --check "$pdf" >/dev/null 2>&1 || { echo "# qpdf --check failed on $pdf"; bad=1; }
done < <($PY - "$TMP/expected.json" <<'PYEOF'
import json, sys
from decimal import Decimal, ROUND_HALF_UP
d = json.load(open(sys.argv[1], encoding='utf-8'))
for rid, r in sorted(d['reps'].items()):
    if not r['active']:
        continue
    b = Decimal(r['bookings']).quantize(Decimal('0.01'), ROUND_HALF_UP)
    att = (Decimal(repr(r['attainment'])) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)
    print('%s\t%s\t$%s\t%s%%' % (rid, r['name'], '{:,.2f}'.format(b), att))
PYEOF
)
if [ "$bad" -eq 0 ]; then ok "every scorecard shows the rep's name, bookings and attainment; qpdf --check passes"; else notok "scorecard contents"; fi
check "manifest lists every document with its SHA-256" $PY - "$TMP/a" <<'PYEOF'
import csv, hashlib, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, 'manifest.csv'), encoding='utf-8')))
files = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
               if not f.startswith('manifest.'))
assert sorted(r['path'] for r in rows) == files, (len(rows), len(files))
for r in rows:
    data = open(os.path.join(d, r['path']), 'rb').read()
    assert hashlib.sha256(data).hexdigest() == r['sha256'], r['path']
    assert int(r['bytes']) == len(data)
PYEOF

# E-mail: one RFC 5322 message per rep, read back with Python's email parser.
check "one message per scorecard, addressed to the rep, PDF attached byte for byte" $PY - "$TMP/a" "$TMP/expected.json" <<'PYEOF'
import email, email.policy, glob, json, os, sys
d, exp = sys.argv[1], json.load(open(sys.argv[2], encoding='utf-8'))
reps = {k: v for k, v in exp['reps'].items() if v['active']}
emls = sorted(glob.glob(os.path.join(d, 'scorecards', '*.eml')))
assert len(emls) == len(reps), (len(emls), len(reps))
for path in emls:
    rid = os.path.basename(path)[:-4]
    msg = email.message_from_binary_file(open(path, 'rb'), policy=email.policy.default)
    assert not msg.defects, msg.defects
    to = msg['To'].addresses[0]
    assert to.addr_spec == reps[rid]['email'], (to.addr_spec, reps[rid]['email'])
    assert to.display_name == reps[rid]['name'], (to.display_name, reps[rid]['name'])
    assert msg['From'].addresses[0].addr_spec == 'sales-ops@example.com'
    assert 'scorecard' in str(msg['Subject']).lower()
    assert msg['Date'].datetime.date().isoformat() == '2026-11-01', msg['Date']
    body = msg.get_body(('plain',)).get_content()
    assert reps[rid]['name'] in body, body
    atts = list(msg.iter_attachments())
    assert len(atts) == 1 and atts[0].get_content_type() == 'application/pdf'
    assert atts[0].get_content() == open(os.path.join(d, 'scorecards', rid + '.pdf'), 'rb').read()
PYEOF
mkdir -p "$TMP/mail" && cp "$KP_ROOT/sample-data/"*.csv "$TMP/mail/"
fake=$KP_ROOT/tests/functional/fake_sendmail.sh
sed "s|^\[job\]|[job]\ndeliver_command = $fake '$TMP/ok.mbox'|" "$job" > "$TMP/mail/job.ini"
expect_exit 0 "run with a deliver_command" "$KP_BIN" run "$TMP/mail/job.ini" --quiet --database "$TMP/m.db" --output-dir "$TMP/m" --only scorecards
check "deliver_command received every message" bash -c "[ \$(grep -c '^Message-ID:' '$TMP/ok.mbox') -eq $nexp ]"
victim=$($PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["reps"]; print(sorted(v["email"] for v in r.values() if v["active"])[0])' "$TMP/expected.json")
sed "s|^\[job\]|[job]\ndeliver_command = FAKE_FAIL='$victim' $fake '$TMP/part.mbox'|" "$job" > "$TMP/mail/job.ini"
expect_exit 3 "a failing delivery fails the run (exit 3)" "$KP_BIN" run "$TMP/mail/job.ini" --quiet --database "$TMP/m2.db" --output-dir "$TMP/m2" --only scorecards
expect_stderr "1 of $nexp messages could not be delivered" "the failure is counted"
expect_stderr "delivery to $victim failed" "the failed recipient is named"
check "the other recipients still got theirs" bash -c "[ \$(grep -c '^Message-ID:' '$TMP/part.mbox') -eq $((nexp - 1)) ]"

# Determinism: a second run from scratch gives the same bytes; so does --jobs 2.
expect_exit 0 "second run" run b
check "two runs are byte-identical" diff -r "$TMP/a" "$TMP/b"
expect_exit 0 "run with --jobs 2" run c --jobs 2
check "--jobs 2 gives the same bytes as --jobs 1" diff -r "$TMP/a" "$TMP/c"

# Shards: 0/2 and 1/2 together write exactly the scorecards of the full run.
expect_exit 0 "run --shard 0/2" run s0 --shard 0/2 --only scorecards
expect_exit 0 "run --shard 1/2" run s1 --shard 1/2 --only scorecards
check "shards split the burst without overlap" bash -c "
  a=\$(ls '$TMP/s0/scorecards' | wc -l); b=\$(ls '$TMP/s1/scorecards' | wc -l)
  [ \$((a + b)) -eq $npdf ] && [ -z \"\$(comm -12 <(ls '$TMP/s0/scorecards') <(ls '$TMP/s1/scorecards'))\" ]
  for f in \$(ls '$TMP/s0/scorecards'); do cmp -s '$TMP/s0/scorecards/'\$f '$TMP/a/scorecards/'\$f || exit 1; done"
expect_exit 0 "--dry-run lists documents" run d --dry-run
check "--dry-run writes no document" bash -c "[ ! -e '$TMP/d' ] || [ -z \"\$(find '$TMP/d' -name '*.pdf' -o -name '*.xlsx')\" ]"
check "--dry-run lists each scorecard" bash -c "[ \$(grep -c '^scorecards' '$TMP/stdout') -eq $npdf ]"
