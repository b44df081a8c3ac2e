#!/usr/bin/python3
"""Read the board pack's Forecast sheet back with openpyxl and compare it with the run's
forecast tables read with Python's sqlite3 (the template's presentation, not the forecast
math, which test_forecast_pipeline/test_forecast_series check): the landing table holds the
company rows of forecast_pipeline (month, fiscal quarter, next fiscal quarter) to the cent;
the region table the fiscal-quarter rows; the trend the stored monthly forecasts with their
interval after the last actual month. Also the roll-up's own order: closed <= commit <=
best case, P10 <= P50 <= P90. With a PDF board pack as third argument, pdftotext must find
its Forecast section: the quarter's P50 tile, the landing table (this month, this quarter,
next quarter: closed, commit, best case, P10, P50, P90 to the cent) and each forecast
month's forecast, low and high in the monthly trend. Prints each failed check; exits non-zero on
any failure. Usage: check_forecast_sheet.py BOARD.xlsx RUN.db [BOARD.pdf]"""
import datetime, re, sqlite3, subprocess, sys
import openpyxl

xlsx, db = sys.argv[1:3]
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)

ws = openpyxl.load_workbook(xlsx, data_only=True)['Forecast']
rows = [[c.value for c in r] for r in ws.iter_rows()]
def table(header0):
    """Data rows under the header row whose first cell is header0, up to a blank/Total."""
    for i, r in enumerate(rows):
        if r[0] == header0:
            out = []
            for rr in rows[i + 1:]:
                if rr[0] in (None, 'Total'):
                    break
                out.append(rr)
            return r, out
    fails.append('table with header %r not found' % header0)
    return [], []

con = sqlite3.connect(db)
q = lambda sql, *a: con.execute(sql, a).fetchall()
as_of = q("SELECT max(as_of) FROM forecast_pipeline")[0][0]
cents = lambda v: None if v is None else round(v * 100)

_, landing = table('Period')
want = q("SELECT grain, period_start, period_end, closed_cents, commit_cents, best_case_cents,"
         " pipeline_cents, expected_cents, p10_cents, p50_cents, p90_cents, quota_cents, p_quota"
         " FROM forecast_pipeline WHERE as_of = ? AND dimension = 'company' ORDER BY"
         " CASE grain WHEN 'month' THEN 0 WHEN 'fiscal_quarter' THEN 1 ELSE 2 END", as_of)
check(len(want) == 3, 'three company forecast periods in the database: %d' % len(want))
check(len(landing) == len(want), 'landing rows %d, database %d' % (len(landing), len(want)))
for got, w in zip(landing, want):
    check(w[1] in got[0] and w[2] in got[0], 'period label %r names %s..%s' % (got[0], w[1], w[2]))
    for k in range(1, 10):
        check(cents(got[k]) == w[k + 2], 'landing %s column %d: %r vs %r cents' % (w[0], k, got[k], w[k + 2]))
    check((got[10] is None and w[12] is None) or abs(got[10] - w[12]) < 1e-9,
          'chance of quota %s: %r vs %r' % (w[0], got[10], w[12]))
    check(w[3] <= w[4] <= w[5], 'closed <= commit <= best case (%s)' % w[0])
    check(w[8] <= w[9] <= w[10], 'P10 <= P50 <= P90 (%s)' % w[0])

_, regions = table('Region')
want = q("SELECT member, p50_cents FROM forecast_pipeline WHERE as_of = ? AND dimension = 'region'"
         " AND grain = 'fiscal_quarter' AND (open_deals > 0 OR closed_cents > 0 OR quota_cents > 0)"
         " ORDER BY member", as_of)
check([(r[0], cents(r[5])) for r in regions] == want, 'region P50s: %r vs %r'
      % ([(r[0], cents(r[5])) for r in regions], want))

_, trend = table('Month')
fc = [r for r in trend if r[2] is not None]
want = q("SELECT period_start, value, lower, upper FROM forecast WHERE as_of = ? AND"
         " series = 'bookings' AND dimension = 'company' ORDER BY period_start", as_of)
check(len(fc) == len(want) and len(want) > 0, 'forecast months %d, database %d' % (len(fc), len(want)))
for got, w in zip(fc, want):
    check(got[0].strftime('%Y-%m-%d') == w[0], 'forecast month %r vs %s' % (got[0], w[0]))
    for k in range(1, 4):
        check(abs(got[k + 1] - round(w[k], 2)) < 0.005, 'forecast %s column %d: %r vs %r'
              % (w[0], k, got[k + 1], w[k]))
actual = [r for r in trend if r[2] is None]
check(len(actual) == 12 and all(r[0] < fc[0][0] for r in actual) if fc else False,
      'twelve actual months before the first forecast month')

if len(sys.argv) > 3:
    text = subprocess.run(['pdftotext', '-layout', sys.argv[3], '-'], capture_output=True,
                          text=True).stdout
    p50 = q("SELECT p50_cents FROM forecast_pipeline WHERE as_of = ? AND dimension = 'company'"
            " AND grain = 'fiscal_quarter'", as_of)[0][0]
    check('Quarter landing (P50)' in text, 'PDF: Forecast section tiles')
    check('${:,.2f}'.format(p50 / 100) in text, 'PDF: quarter P50 %s' % '${:,.2f}'.format(p50 / 100))

    def pdf_row(label):
        """The amounts ($1,234.56 -> 1234.56, n/a -> None) of the PDF line starting with label."""
        for line in text.splitlines():
            if line.strip().startswith(label + ' '):
                return [None if t == 'n/a' else float(t.replace('$', '').replace(',', ''))
                        for t in re.findall(r'-?\$[\d,]+\.\d\d|n/a', line)]
        fails.append('PDF: no line starting with %r' % label)
        return []

    # the landing table: this month, this quarter and next quarter, closed .. P90 to the cent
    want = q("SELECT grain, closed_cents, commit_cents, best_case_cents, p10_cents, p50_cents,"
             " p90_cents FROM forecast_pipeline WHERE as_of = ? AND dimension = 'company'", as_of)
    labels = {'month': 'This month', 'fiscal_quarter': 'This quarter',
              'next_fiscal_quarter': 'Next quarter'}
    for w in want:
        got = pdf_row(labels[w[0]])[:6]
        check([cents(v) for v in got] == list(w[1:]),
              'PDF landing %s: %r vs %r cents' % (w[0], got, w[1:]))
    # the monthly trend: each forecast month's forecast, low and high (80%)
    want = q("SELECT period_start, value, lower, upper FROM forecast WHERE as_of = ? AND"
             " series = 'bookings' AND dimension = 'company' ORDER BY period_start", as_of)
    for w in want:
        label = datetime.date.fromisoformat(w[0]).strftime('%b %Y')
        got = pdf_row(label)
        check(len(got) >= 4 and got[0] is None and
              all(abs(g - v) < 0.0051 for g, v in zip(got[1:4], w[1:4])),
              'PDF trend %s: %r vs forecast, low, high %r' % (label, got, w[1:4]))

for f in fails:
    print('# ' + f)
sys.exit(1 if fails else 0)
