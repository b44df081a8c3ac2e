#!/usr/bin/python3
"""Each scorecard's monthly table shows the rep's stored bookings forecast (the run's
forecast table, read with sqlite3) for the three months after the period: pdftotext must
find the value, low and high of each month on the rep's row. Usage:
check_scorecard_forecast.py SCORECARD_DIR RUN.db PERIOD_END. Prints each failure; exits
non-zero on any."""
import datetime, os, sqlite3, subprocess, sys

cards, db, period_end = sys.argv[1:4]
con = sqlite3.connect(db)
as_of = con.execute("SELECT max(as_of) FROM forecast").fetchone()[0]
money = lambda v: '${:,.2f}'.format(round(v, 2) + 0.0)
fails, checked = [], 0
end = datetime.date.fromisoformat(period_end)
months = []
m = end.replace(day=1)
for _ in range(3):
    m = (m + datetime.timedelta(days=32)).replace(day=1)
    months.append(m)
for pdf in sorted(os.listdir(cards))[:12]:
    if not pdf.endswith('.pdf'):
        continue
    rep = pdf[:-4]
    text = subprocess.run(['pdftotext', '-layout', os.path.join(cards, pdf), '-'],
                          capture_output=True, text=True).stdout
    for mo in months:
        row = con.execute("SELECT value, lower, upper FROM forecast WHERE as_of = ? AND"
                          " series = 'bookings' AND dimension = 'rep' AND member = ? AND"
                          " period_start = ?", (as_of, rep, mo.isoformat())).fetchone()
        if row is None:
            fails.append('%s: no stored forecast for %s' % (rep, mo))
            continue
        label = mo.strftime('%b %Y')
        line = next((l for l in text.splitlines() if l.strip().startswith(label)), '')
        for v in row:
            if money(v) not in line:
                fails.append('%s %s: %s not on the row %r' % (rep, label, money(v), line.strip()))
        checked += 1
if checked == 0:
    fails.append('no scorecard checked')
for f in fails:
    print('# ' + f)
sys.exit(1 if fails else 0)
