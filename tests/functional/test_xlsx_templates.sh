#!/usr/bin/env bash
# The shipped workbook templates end to end on a copy of the sample exports: board-pack,
# quota-attainment (with a [commission] plan) and the streamed raw-data workbook are read
# back with openpyxl against figures computed in Python from the CSVs, opened and
# recalculated by LibreOffice (recalculated formulas = cached values), written twice
# byte-identically; then the mistakes around them get their exact messages, and values
# that break spreadsheets (Inf, > 32,767 characters, invalid UTF-8, bad sheet names).
source "$KP_ROOT/tests/functional/lib.sh"
J=$TMP/job
mkdir -p "$J"
cp "$KP_ROOT"/sample-data/{opportunities,users,quotas}.csv "$J/"
export KPIPRESS_TEMPLATES=$KP_ROOT/templates

job_head() {
    cat <<EOF
[job]
name = Template test
as_of = 2026-11-01
period = previous_quarter
currency = USD
database = $TMP/$1.db
output_dir = $TMP/$1

EOF
    sample_sources
}
# Keep in step with PLAN in check_xlsx_templates.py.
commission='[commission]
target_incentive = 5000     ; per rep and month
method           = marginal
floor            = 50%
cap              = 250%
tier.1           = 0%   0.5
tier.2           = 50%  1.0
tier.3           = 100% 1.5
tier.4           = 150% 2'
reports='[report board-pack]
template = board-pack.ini
output = board-pack-{period}.xlsx
[report quota-attainment]
template = quota-attainment.ini
output = quota-attainment-{period}.xlsx
[report raw-data]
template = raw-data.ini
output = raw-data-{period}.xlsx'

for run in a b; do
    { job_head $run; echo "$commission"; echo "$reports"; } > "$J/$run.ini"
done
expect_exit 0 "kpipress check: the three workbook templates prepare" "$KP_BIN" check "$J/a.ini"
expect_exit 0 "kpipress run writes the three workbooks" "$KP_BIN" run "$J/a.ini" --quiet
dq=$(sqlite3 "$TMP/a.db" "SELECT count(*) FROM dq_issues WHERE as_of = '2026-11-01'")
check "workbooks match figures computed from the CSVs (openpyxl)" \
    $PY "$KP_ROOT/tests/functional/check_xlsx_templates.py" "$J" "$TMP/a" "$dq"
for f in board-pack quota-attainment raw-data; do
    $PY "$KP_ROOT/tests/functional/check_recalc.py" "$TMP/a/$f-2026-Q3.xlsx" >"$TMP/lo.out" 2>&1
    case $? in
        0) ok "LibreOffice opens $f and recalculates every formula to its cached value" ;;
        77) skip "LibreOffice not installed ($f)" ;;
        *) notok "LibreOffice recalculation of $f"; sed 's/^/#   /' "$TMP/lo.out" | head -10 ;;
    esac
done
# Finance changes a rate in the Plan sheet: the payouts follow. The first rep-month above
# 100% attainment in the workbook, with tier 3 at 2.0 instead of 1.5.
probe=$($PY - "$TMP/a/quota-attainment-2026-Q3.xlsx" <<'PYEOF'
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1], data_only=True)['Attainment']
for r in range(1, ws.max_row + 1):
    a = ws.cell(r, 8).value
    if isinstance(a, float) and 1.0 < a < 1.5:
        print('Attainment!I%d %.17g' % (r, 5000 * (0.25 + 0.5 + 2.0 * (a - 1.0))))
        break
PYEOF
)
if [ -z "$probe" ]; then notok "a rep-month between 100% and 150% exists"; else
    echo "$probe" | $PY "$KP_ROOT/tests/functional/check_recalc.py" \
        "$TMP/a/quota-attainment-2026-Q3.xlsx" Plan!D13=2 >"$TMP/lo.out" 2>&1
    case $? in
        0) ok "a changed Plan rate recalculates the payouts ($probe)" ;;
        77) skip "LibreOffice not installed (plan change)" ;;
        *) notok "a changed Plan rate recalculates the payouts"; sed 's/^/#   /' "$TMP/lo.out" ;;
    esac
fi
expect_exit 0 "second run" "$KP_BIN" run "$J/b.ini" --quiet
check "two runs give byte-identical workbooks" bash -c \
    "for f in board-pack quota-attainment raw-data; do cmp '$TMP/a/'\$f-2026-Q3.xlsx '$TMP/b/'\$f-2026-Q3.xlsx || exit 1; done"

# ---- mistakes, each with its message -----------------------------------------------------
{ job_head c; echo "$reports"; } > "$J/c.ini"
expect_exit 2 "quota-attainment without [commission] is refused at check time" \
    "$KP_BIN" check "$J/c.ini"
expect_stderr "quota-attainment.ini:29: [table attainment] computes commission (payout): the job needs a [commission] section" \
    "the message names the template, line and missing section"
cat >"$J/pdfstream.ini" <<'EOF'
[document]
kind = pdf
stream = yes
EOF
cat >"$J/badpayout.ini" <<'EOF'
[document]
kind = xlsx
[table t]
sql = SELECT 1 AS x, NULL AS p
col.p = Payout | currency | payout(attainment)
EOF
cat >"$J/badstream.ini" <<'EOF'
[document]
kind = xlsx
stream = maybe
EOF
for t in pdfstream badpayout badstream; do
    { job_head $t; echo "$commission"; echo "[report r]"; echo "template = $t.ini";
      [ $t = pdfstream ] && echo "output = r.pdf" || echo "output = r.xlsx"; } > "$J/$t-job.ini"
done
expect_exit 2 "stream = yes in a PDF template is refused" "$KP_BIN" check "$J/pdfstream-job.ini"
expect_stderr "pdfstream.ini: [document] stream = yes needs kind = xlsx (a PDF cannot stream rows)" \
    "PDF stream message"
expect_exit 2 "payout of an unknown column is refused" "$KP_BIN" check "$J/badpayout-job.ini"
expect_stderr "badpayout.ini:5: column \"attainment\" is not in the result of [table t]'s sql" \
    "unknown payout column message"
expect_exit 2 "stream = maybe is refused" "$KP_BIN" check "$J/badstream-job.ini"
expect_stderr "badstream.ini:3: stream: bad value \"maybe\": expected yes or no" "stream value message"

# ---- values that break spreadsheets ------------------------------------------------------
# SQL makes the values a CRM export could hold: infinity (1e308 * 10), a 40,000-character
# note, bytes that are not UTF-8, a formula-looking string; the sheet title comes from a
# placeholder holding characters Excel forbids.
cat >"$J/break.ini" <<'EOF'
[document]
kind = xlsx
stream = yes
[sheet a]
title = Q3/Q4: [{job_name}]*?
[table t]
sql = SELECT 1e308 * 10 AS inf, substr(replace(hex(zeroblob(20000)), '0', 'ab'), 1, 40000) AS note,
    CAST(x'41FF42' AS TEXT) AS bad, '=HYPERLINK("http://x")' AS f, -1e308 * 10 AS ninf
[sheet b]
title = q3q4 [template test]
[text x]
text = second sheet with the same cleaned name
EOF
{ job_head break; echo "[report r]"; echo "template = break.ini"; echo "output = break.xlsx"; } > "$J/break-job.ini"
expect_exit 0 "a workbook of hostile values is written" "$KP_BIN" run "$J/break-job.ini"
expect_stderr "break.ini: [table t]: 1 text value(s) with invalid UTF-8; the bad bytes are shown as U+FFFD" \
    "invalid UTF-8 is reported"
expect_stderr "1 cell(s) longer than Excel's 32767 characters were truncated (first at Q3Q4 Template test!B2)" \
    "truncation is reported with the cell"
check "hostile values read back safely (openpyxl)" $PY - "$TMP/break/break.xlsx" <<'PYEOF'
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
assert wb.sheetnames == ['Q3Q4 Template test', 'q3q4 template test (2)'], wb.sheetnames
ws = wb['Q3Q4 Template test']
assert ws['A2'].value is None and ws['E2'].value is None, (ws['A2'].value, ws['E2'].value)  # +-Inf -> blank
note = ws['B2'].value
assert len(note) == 32767 and note.endswith('\u2026[truncated]'), len(note)
assert ws['C2'].value == 'A\ufffdB', ws['C2'].value
assert ws['D2'].data_type == 's' and ws['D2'].value == '=HYPERLINK("http://x")', ws['D2'].data_type
PYEOF
