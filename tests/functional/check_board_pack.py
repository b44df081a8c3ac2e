#!/usr/bin/python3
"""Read the board-pack workbook back with openpyxl and compare the attainment sheet with
the independently computed expectations (expected_sample.py's JSON). Prints one TAP-ish
line per failed check and exits non-zero on any failure."""
import json, sys
from decimal import Decimal
import openpyxl

xlsx, expected = sys.argv[1], json.load(open(sys.argv[2], encoding='utf-8'))
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)

wb = openpyxl.load_workbook(xlsx)            # formulas as written
wbv = openpyxl.load_workbook(xlsx, data_only=True)  # cached values
names = wb.sheetnames
check('Attainment by rep' in names, 'sheet "Attainment by rep" exists: %s' % names)
ws, wv = wb['Attainment by rep'], wbv['Attainment by rep']
hdr = None
for row in ws.iter_rows(min_row=1, max_row=20):
    if row[0].value == 'Rep ID':
        hdr = row[0].row
        break
check(hdr is not None, 'header row with "Rep ID" found')
if hdr:
    heads = [c.value for c in ws[hdr]]
    col = {h: i + 1 for i, h in enumerate(heads) if h}
    for h in ('Rep', 'Quota', 'Bookings', 'Attainment', 'Win rate'):
        check(h in col, 'column %s present' % h)
    check(ws.freeze_panes == 'A%d' % (hdr + 1) or ws.freeze_panes == 'B%d' % (hdr + 1),
          'frozen below header: %s' % ws.freeze_panes)
    check(ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith('A%d' % hdr),
          'autofilter from the header: %s' % ws.auto_filter.ref)
    seen = set()
    r = hdr + 1
    while ws.cell(r, 1).value not in (None, 'Total'):
        rid = ws.cell(r, 1).value
        seen.add(rid)
        exp = expected['reps'].get(rid)
        check(exp is not None, 'rep %s expected' % rid)
        if exp:
            q, b = ws.cell(r, col['Quota']), ws.cell(r, col['Bookings'])
            check(isinstance(q.value, (int, float)), '%s quota is a number' % rid)
            check(isinstance(b.value, (int, float)), '%s bookings is a number' % rid)
            check(Decimal(str(q.value)).quantize(Decimal('0.01')) == Decimal(exp['quota']).quantize(Decimal('0.01')),
                  '%s quota %s == %s' % (rid, q.value, exp['quota']))
            check(Decimal(str(b.value)).quantize(Decimal('0.01')) == Decimal(exp['bookings']).quantize(Decimal('0.01')),
                  '%s bookings %s == %s' % (rid, b.value, exp['bookings']))
            check('$' in q.number_format and '0.00' in q.number_format,
                  '%s quota currency format: %s' % (rid, q.number_format))
            a = ws.cell(r, col['Attainment'])
            av = wv.cell(r, col['Attainment']).value
            check(isinstance(a.value, str) and a.value.startswith('='),
                  '%s attainment is a formula: %r' % (rid, a.value))
            check(av is not None and abs(av - exp['attainment']) < 1e-9,
                  '%s attainment cached %r == %r' % (rid, av, exp['attainment']))
            check('%' in a.number_format, '%s attainment percent format' % rid)
            w = ws.cell(r, col['Win rate']).value
            if exp['win_rate'] is None:
                check(w is None, '%s win rate blank when no closed deals: %r' % (rid, w))
            else:
                check(w is not None and abs(w - exp['win_rate']) < 1e-9,
                      '%s win rate %r == %r' % (rid, w, exp['win_rate']))
        r += 1
    check(seen == set(expected['reps']), 'all %d reps listed (got %d)' % (len(expected['reps']), len(seen)))
for f in fails:
    print('FAIL:', f)
print('%d checks failed' % len(fails))
sys.exit(1 if fails else 0)
