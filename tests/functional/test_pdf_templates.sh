#!/usr/bin/env bash
# The shipped PDF templates (rep-scorecard, team-scorecard, board-pack-pdf) on a copy of
# the sample CSVs: figures computed here from the raw CSVs with Python are found by
# pdftotext on the right page; qpdf --check, pdfinfo metadata, page size and outline;
# subset fonts (small files, no temporary font left behind); two runs and --jobs 2 give
# the same bytes; template mistakes in the new chart types get their exact message.
source "$KP_ROOT/tests/functional/lib.sh"
src=$KP_ROOT/sample-data
if [ ! -f "$src/opportunities.csv" ]; then skip "sample-data CSVs absent"; exit 0; fi

job=$TMP/job
mkdir -p "$job" "$TMP/fonttmp"
cp "$src"/opportunities.csv "$src"/users.csv "$src"/quotas.csv "$job/"
cp "$KP_ROOT"/templates/*.ini "$job/"  # the job finds its templates (and metrics) beside it
cat >"$job/job.ini" <<'EOF'
[job]
name = PDF templates test
as_of = 2026-11-01
period = previous_month
currency = USD
database = var/test.db

EOF
sample_sources >>"$job/job.ini"
cat >>"$job/job.ini" <<'EOF'

[report scorecards]
template = rep-scorecard.ini
burst = SELECT rep_id, name, email FROM reps WHERE active = 1 AND rep_id IN
  (SELECT rep_id FROM quotas WHERE period_start BETWEEN :period_start AND :period_end)
  ORDER BY rep_id
output = scorecards/{rep_id}.pdf

[report teams]
template = team-scorecard.ini
burst = SELECT rep_id AS manager_id, name, email FROM reps
  WHERE rep_id IN (SELECT manager_id FROM reps) ORDER BY rep_id
output = teams/{manager_id}.pdf

[report board]
template = board-pack-pdf.ini
output = board-pack-{period}.pdf
EOF

run() { TMPDIR=$TMP/fonttmp "$KP_BIN" run "$job/job.ini" --quiet --output-dir "$TMP/$1" "${@:2}"; }
expect_exit 0 "kpipress check with the three PDF templates" "$KP_BIN" check "$job/job.ini"
expect_exit 0 "run renders scorecards, team scorecards and the board pack" run a
if [ -s "$TMP/stderr" ]; then notok "no warnings from the run"; sed 's/^/#   /' "$TMP/stderr" | head -5
else ok "no warnings from the run"; fi
left=$(ls -A "$TMP/fonttmp" | wc -l)
if [ "$left" -eq 0 ]; then ok "no temporary subset font left in TMPDIR"; else notok "temporary fonts left: $left"; fi

# ---- expected figures, from the CSVs ---------------------------------------------------
$PY - "$job" >"$TMP/expected.tsv" <<'PYEOF'
import csv, datetime, sys
from decimal import Decimal, ROUND_HALF_UP
d = sys.argv[1]
def money(s):
    s = s.strip().replace('$', '').replace(',', '')
    return Decimal(s) if s else Decimal(0)
def mdy(s):
    m, dd, y = (int(x) for x in s.split('/'))
    return datetime.date(y, m, dd)
def fmt(v):
    v = Decimal(v).quantize(Decimal('0.01'), ROUND_HALF_UP)
    return ('-' if v < 0 else '') + '${:,.2f}'.format(abs(v))
start, end = datetime.date(2026, 10, 1), datetime.date(2026, 10, 31)
y12 = datetime.date(2025, 11, 1)  # last 12 months: Nov 2025 .. Oct 2026
users = list(csv.DictReader(open(d + '/users.csv', encoding='utf-8-sig', newline='')))
by_name = {u['Full Name']: u['User ID'] for u in users}
info = {u['User ID']: u for u in users}
quota = {}
for q in csv.DictReader(open(d + '/quotas.csv', encoding='utf-8-sig', newline='')):
    if start <= mdy(q['Start Date']) <= end:
        quota[q['Quota Owner ID']] = quota.get(q['Quota Owner ID'], 0) + money(q['Quota Amount'])
book, book12, opens = {}, {}, {}
for row in csv.reader(open(d + '/opportunities.csv', encoding='utf-8-sig', newline='')):
    if len(row) < 13 or row[0] == 'Opportunity ID':
        continue
    rid = by_name.get(row[3])
    if rid is None:
        continue
    cd, amt = mdy(row[7]), money(row[5])
    if row[4] == 'Closed Won':
        if start <= cd <= end:
            book[rid] = book.get(rid, 0) + amt
        if y12 <= cd <= end:
            book12[rid] = book12.get(rid, 0) + amt
    elif row[4] != 'Closed Lost':
        opens.setdefault(rid, []).append((amt, row[0], row[1]))
for rid in sorted(quota):
    if quota[rid] <= 0 or info[rid]['Active'] != '1':
        continue
    top = max(opens.get(rid, []), key=lambda t: (t[0], [-ord(c) for c in t[1]]), default=None)
    print('rep', rid, info[rid]['Full Name'], fmt(book.get(rid, 0)), fmt(book12.get(rid, 0)),
          fmt(top[0]) if top else '-', sep='\t')
# Team: everyone below a manager, directly or not.
kids = {}
for u in users:
    kids.setdefault(u['Manager ID'], []).append(u['User ID'])
for m in sorted(k for k in kids if k):
    team, todo = set(), list(kids[m])
    while todo:
        r = todo.pop()
        if r not in team:
            team.add(r)
            todo += kids.get(r, [])
    print('team', m, info[m]['Full Name'], fmt(sum(book.get(r, 0) for r in team)), sep='\t')
# Board pack: bookings by region (Division) of the reps with a quota in the period.
reg = {}
for rid, q in quota.items():
    if q > 0:
        g = info[rid]['Division'] or '(none)'
        reg[g] = reg.get(g, 0) + book.get(rid, 0)
for g in sorted(reg):
    print('region', g, fmt(reg[g]), sep='\t')
PYEOF
check "expected figures computed" test -s "$TMP/expected.tsv"

page() { pdftotext -f "$2" -l "$2" -layout "$1" - 2>/dev/null; }

# ---- rep scorecards: name, bookings, 12-month bookings and largest deal on page 1 -------
bad=0; n=0
while IFS=$'\t' read -r kind rid name bookings b12 top; do
    [ "$kind" = rep ] || continue
    n=$((n + 1)); pdf="$TMP/a/scorecards/$rid.pdf"
    p1=$(page "$pdf" 1); p2=$(page "$pdf" 2)
    for want in "$name" "$bookings" "$b12"; do
        grep -qF -- "$want" <<<"$p1" || { echo "# $rid: '$want' not on page 1"; bad=1; }
    done
    if [ "$top" != - ] && ! grep -qF -- "$top" <<<"$p1"; then echo "# $rid: top deal $top not on page 1"; bad=1; fi
    grep -qF "Bookings vs quota by month" <<<"$p2" || { echo "# $rid: monthly table not on page 2"; bad=1; }
    grep -qF "Deals at risk of slipping" <<<"$p2" || { echo "# $rid: at-risk table not on page 2"; bad=1; }
done <"$TMP/expected.tsv"
if [ $bad -eq 0 ] && [ $n -gt 0 ]; then ok "rep scorecards: figures on the right page ($n reps)"; else notok "rep scorecards: figures on the right page"; fi

bad=0
for pdf in "$TMP"/a/scorecards/*.pdf; do
    pages=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
    [ "$pages" = 2 ] || { echo "# $pdf: $pages pages, want 2"; bad=1; }
done
if [ $bad -eq 0 ]; then ok "every rep scorecard is two pages"; else notok "every rep scorecard is two pages"; fi

# Non-Latin names survive subsetting: pdftotext extracts them.
for nm in "Ζωή Παπαδοπούλου" "Анна Смирнова" "Minh Trần"; do
    rid=$(awk -F'\t' -v n="$nm" '$3 == n {print $2}' "$TMP/expected.tsv" | head -1)
    if [ -z "$rid" ]; then rid=$(grep -F "$nm" "$job/users.csv" | head -1 | cut -d'"' -f2); fi
    f=$(ls "$TMP/a/scorecards/$rid.pdf" "$TMP/a/teams/$rid.pdf" 2>/dev/null | head -1)
    if [ -n "$f" ] && page "$f" 1 | grep -qF -- "$nm"; then ok "pdftotext finds \"$nm\""; else notok "pdftotext finds \"$nm\" ($f)"; fi
done

# ---- team scorecards -------------------------------------------------------------------
bad=0; n=0
while IFS=$'\t' read -r kind mid name bookings; do
    [ "$kind" = team ] || continue
    n=$((n + 1)); p1=$(page "$TMP/a/teams/$mid.pdf" 1)
    for want in "Team of $name" "$bookings"; do
        grep -qF -- "$want" <<<"$p1" || { echo "# team $mid: '$want' not on page 1"; bad=1; }
    done
done <"$TMP/expected.tsv"
if [ $bad -eq 0 ] && [ $n -gt 0 ]; then ok "team scorecards: team bookings on page 1 ($n managers)"; else notok "team scorecards: team bookings on page 1"; fi

# ---- board pack ------------------------------------------------------------------------
bp="$TMP/a/board-pack-2026-10.pdf"
check "board pack written" test -s "$bp"
info=$(pdfinfo "$bp" 2>/dev/null)
if grep -q "^Page size: *841.89 x 595.276" <<<"$info"; then ok "board pack is A4 landscape"; else notok "board pack is A4 landscape"; grep "Page size" <<<"$info" | sed 's/^/#   /'; fi
if grep -q "^Title: *Board pack - October 2026$" <<<"$info" && grep -q "^Author: *kpipress$" <<<"$info" &&
    grep -q "^Subject: *Sales KPIs for October 2026 (as of 2026-11-01)$" <<<"$info"; then
    ok "board pack metadata (title, author, subject)"
else notok "board pack metadata"; sed 's/^/#   /' <<<"$info" | head -8; fi
outline=$(qpdf --json "$bp" 2>/dev/null | $PY -c '
import json, sys
print("|".join(o["title"] for o in json.load(sys.stdin)["outlines"]))')
if [ "$outline" = "Summary|Regions and teams|Attainment by rep|Forecast" ]; then ok "board pack bookmarks, one per section"; else notok "board pack bookmarks (got '$outline')"; fi
regions=$(pdftotext -layout "$bp" - 2>/dev/null | awk '/Attainment by region/,/Bookings against quota by region/')
bad=0
while IFS=$'\t' read -r kind g b; do
    [ "$kind" = region ] || continue
    grep -F -- "$b" <<<"$regions" | grep -qF -- "$g" || { echo "# region $g: $b not in the region table"; bad=1; }
done <"$TMP/expected.tsv"
if [ $bad -eq 0 ]; then ok "board pack: bookings by region"; else notok "board pack: bookings by region"; fi

# ---- structure, size, fonts --------------------------------------------------------------
bad=0; big=0; total=0; count=0
for pdf in "$TMP"/a/scorecards/*.pdf "$TMP"/a/teams/*.pdf "$bp"; do
    qpdf --check "$pdf" >/dev/null 2>&1 || { echo "# qpdf --check failed: $pdf"; bad=1; }
    fonts=$(pdffonts "$pdf" 2>/dev/null | tail -n +3)
    if grep -qv " yes yes yes " <<<"$fonts"; then echo "# font not embedded as a subset with ToUnicode: $pdf"; bad=1; fi
    sz=$(stat -c %s "$pdf"); total=$((total + sz)); count=$((count + 1))
    case "$pdf" in */scorecards/*) [ "$sz" -lt 40000 ] || { echo "# $pdf: $sz bytes"; big=1; } ;; esac
done
if [ $bad -eq 0 ]; then ok "qpdf --check passes; fonts embedded as subsets ($count files)"; else notok "qpdf --check / font subsets"; fi
if [ $big -eq 0 ]; then ok "every rep scorecard under 40 KB (average $((total / count)) bytes)"; else notok "rep scorecards under 40 KB"; fi

# ---- determinism -----------------------------------------------------------------------
same() { (cd "$TMP/$1" && find . -name '*.pdf' | sort | xargs sha256sum) >"$TMP/$1.sums"
         (cd "$TMP/$2" && find . -name '*.pdf' | sort | xargs sha256sum) >"$TMP/$2.sums"
         [ -s "$TMP/$1.sums" ] && cmp -s "$TMP/$1.sums" "$TMP/$2.sums"; }
expect_exit 0 "second run" run b
check "two runs give byte-identical PDFs" same a b
expect_exit 0 "run with --jobs 2" run c --jobs 2
check "--jobs 2 gives the same bytes as --jobs 1" same a c

# ---- template mistakes in the new chart types -------------------------------------------
bad_tpl() {  # bad_tpl NAME CHART-LINES...: a copy of the rep scorecard with a broken chart
    sed '/^\[chart attainment_bullet\]/,/^series/d' "$job/rep-scorecard.ini" >"$job/$1.ini"
    printf '%s\n' "[chart broken]" "${@:2}" >>"$job/$1.ini"
    sed "s/rep-scorecard.ini/$1.ini/" "$job/job.ini" >"$job/$1-job.ini"
}
bad_tpl b1 "type = bullet" "data = attainment" "category = window" "series = bookings"
expect_exit 2 "bullet chart with one series is refused" "$KP_BIN" check "$job/b1-job.ini"
expect_stderr "chart [broken]: a bullet chart takes series = VALUE, TARGET or VALUE, TARGET, PROJECTED" \
    "bullet series message"
bad_tpl b2 "type = forecast" "data = months" "category = month" "series = bookings, forecast, low"
expect_exit 2 "forecast chart with three series is refused" "$KP_BIN" check "$job/b2-job.ini"
expect_stderr "chart [broken]: a forecast chart takes series = ACTUAL, FORECAST, then optionally LOW, HIGH (the interval) and reference lines" \
    "forecast series message"
bad_tpl b3 "type = donut" "data = months" "category = month" "series = bookings"
expect_exit 2 "unknown chart type is refused" "$KP_BIN" check "$job/b3-job.ini"
expect_stderr 'bad chart type "donut": expected bar, column, line, pie, stacked, forecast, sparkline or bullet' \
    "chart type message"
