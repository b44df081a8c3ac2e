#!/usr/bin/python3
"""Read the shipped templates' workbooks back with openpyxl and compare them with figures
computed here, straight from the sample CSV exports (no kpipress code involved).

usage: check_xlsx_templates.py CSVDIR OUTDIR DQCOUNT
  CSVDIR  the exports the job loaded; OUTDIR the job's output directory for Q3 2026;
  DQCOUNT the number of data-quality findings of the load (from the sqlite3 CLI).
The job: period 2026-07-01..2026-09-30 and the commission plan written below (PLAN).
Prints each failed check; exits 1 if any failed."""
import csv, datetime, re, sys, zipfile
from decimal import Decimal
import openpyxl

START, END = datetime.date(2026, 7, 1), datetime.date(2026, 9, 30)
# Keep in step with the [commission] section of test_xlsx_templates.sh.
PLAN = dict(ti=5000.0, floor=0.5, cap=2.5, method='marginal',
            tiers=[(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)])
CUR, PCT, DATE = '"$"#,##0.00', '0.0%', 'yyyy-mm-dd'
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)


def close(a, b, tol=1e-6):
    return isinstance(a, (int, float)) and abs(a - b) <= tol * max(1.0, abs(b))


def money(s):
    s = s.strip()
    neg = s.startswith('(') and s.endswith(')')
    s = re.sub(r'[^0-9.\-]', '', s)
    v = Decimal(s) if s else Decimal(0)
    return -v if neg else v


def mdy(s):
    m, d, y = (int(x) for x in s.strip().split('/'))
    return datetime.date(y, m, d)


def payout(att):
    """The plan by hand: marginal slices, nothing below the floor, capped."""
    a = max(att, 0.0)
    if a < PLAN['floor']:
        return 0.0
    t = PLAN['tiers']
    r = 0.0
    for i, (lo, rate) in enumerate(t):
        hi = min(a, t[i + 1][0]) if i + 1 < len(t) else a
        r += rate * max(0.0, hi - lo)
    return min(r, PLAN['cap']) * PLAN['ti']


def load(d):
    users = list(csv.DictReader(open(d + '/users.csv', encoding='utf-8-sig', newline='')))
    by_name = {}
    for u in users:
        by_name.setdefault(u['Full Name'], []).append(u['User ID'])
    info = {u['User ID']: u for u in users}
    quota = {}
    for q in csv.DictReader(open(d + '/quotas.csv', encoding='utf-8-sig', newline='')):
        sd = mdy(q['Start Date'])
        key = (q['Quota Owner ID'], sd.replace(day=1))
        quota[key] = quota.get(key, Decimal(0)) + money(q['Quota Amount'])
    opps = []
    for row in csv.reader(open(d + '/opportunities.csv', encoding='utf-8-sig', newline='')):
        if len(row) < 13 or row[0] == 'Opportunity ID':
            continue
        ids = by_name.get(row[3], [])
        opps.append(dict(id=row[0], owner=ids[0] if len(ids) == 1 else None, stage=row[4],
                         amount=money(row[5]), close=mdy(row[7]),
                         closed=row[4].startswith('Closed'), won=row[4] == 'Closed Won'))
    return info, quota, opps


def header_row(ws, first):
    for r in range(1, 30):
        if ws.cell(r, 1).value == first:
            return r
    return None


def cf_ranges(ws):
    return {str(cf.sqref) for cf in ws.conditional_formatting}


def check_quota_attainment(path, info, quota, opps):
    wb, wv = openpyxl.load_workbook(path), openpyxl.load_workbook(path, data_only=True)
    check(wb.sheetnames == ['Attainment', 'By rep', 'Plan'], 'qa sheets %s' % wb.sheetnames)
    months = [datetime.date(2026, m, 1) for m in (7, 8, 9)]
    book = {}
    for o in opps:
        if o['won'] and o['owner'] and START <= o['close'] <= END:
            k = (o['owner'], o['close'].replace(day=1))
            book[k] = book.get(k, Decimal(0)) + o['amount']
    want = {}
    for rid in info:
        for m in months:
            q, b = quota.get((rid, m), Decimal(0)), book.get((rid, m), Decimal(0))
            if q > 0 or b != 0:
                want[(rid, m)] = (q, b)
    ws, wsv = wb['Attainment'], wv['Attainment']
    hdr = header_row(ws, 'Rep ID')
    check(hdr is not None, 'qa header row')
    if hdr is None:
        return
    heads = [c.value for c in ws[hdr]]
    check(heads == ['Rep ID', 'Rep', 'Team', 'Manager', 'Month', 'Quota', 'Credited bookings',
                    'Attainment', 'Payout'], 'qa headers %s' % heads)
    r, seen, tq, tp = hdr + 1, [], Decimal(0), 0.0
    while ws.cell(r, 1).value not in (None, 'Total'):
        rid, month = ws.cell(r, 1).value, ws.cell(r, 5).value
        key = (rid, month.date() if hasattr(month, 'date') else None)
        seen.append(key)
        q, b = want.get(key, (None, None))
        check(q is not None, 'qa row %s expected' % (key,))
        if q is not None:
            check(ws.cell(r, 2).value == info[rid]['Full Name'], 'qa name %s' % rid)
            mgr = info.get(info[rid]['Manager ID'], {}).get('Full Name')
            check(ws.cell(r, 4).value == mgr, 'qa manager %s: %r' % (rid, ws.cell(r, 4).value))
            check(close(ws.cell(r, 6).value, float(q)), 'qa quota %s' % (key,))
            check(close(ws.cell(r, 7).value, float(b)), 'qa bookings %s' % (key,))
            check(ws.cell(r, 8).value == '=IF(F%d=0,"",G%d/F%d)' % (r, r, r),
                  'qa attainment formula row %d: %r' % (r, ws.cell(r, 8).value))
            f = ws.cell(r, 9).value
            check(isinstance(f, str) and f.startswith('=IF(ISNUMBER(H%d),' % r)
                  and 'plan_target_incentive' in f, 'qa payout formula row %d' % r)
            if q > 0:
                att = float(b) / float(q)
                check(close(wsv.cell(r, 8).value, att, 1e-12), 'qa attainment cached %s' % (key,))
                check(close(wsv.cell(r, 9).value, payout(att)),
                      'qa payout %s: %r want %r' % (key, wsv.cell(r, 9).value, payout(att)))
                tp += payout(att)
            else:
                check(wsv.cell(r, 9).value in (None, ''), 'qa payout blank without quota %s' % (key,))
            tq += q
            check(ws.cell(r, 5).number_format == DATE and ws.cell(r, 6).number_format == CUR
                  and ws.cell(r, 8).number_format == PCT and ws.cell(r, 9).number_format == CUR,
                  'qa number formats row %d' % r)
        r += 1
    check(sorted(seen) == sorted(want), 'qa rows: %d, want %d' % (len(seen), len(want)))
    last = r - 1
    check(ws.cell(r, 1).value == 'Total', 'qa totals row')
    check(ws.cell(r, 6).value == '=SUBTOTAL(109,F%d:F%d)' % (hdr + 1, last), 'qa quota total formula')
    check(close(wsv.cell(r, 6).value, float(tq)), 'qa quota total')
    check(close(wsv.cell(r, 9).value, tp), 'qa payout total %r want %r' % (wsv.cell(r, 9).value, tp))
    check(ws.freeze_panes == 'A%d' % (hdr + 1), 'qa freeze %s' % ws.freeze_panes)
    check(ws.auto_filter.ref == 'A%d:I%d' % (hdr, last), 'qa autofilter %s' % ws.auto_filter.ref)
    check('H%d:H%d' % (hdr + 1, last) in cf_ranges(ws), 'qa RAG range %s' % cf_ranges(ws))
    check(ws.page_setup.orientation == 'landscape', 'qa landscape')
    p = wb['Plan']
    check([p['B5'].value, p['B6'].value, p['B7'].value, p['B8'].value] ==
          [PLAN['ti'], PLAN['method'], PLAN['floor'], PLAN['cap']], 'plan scalars')
    check([(p.cell(11 + i, 2).value, p.cell(11 + i, 4).value) for i in range(4)] == PLAN['tiers'],
          'plan tiers')
    dn = wb.defined_names
    names = {d.name: d.attr_text for d in (dn.definedName if hasattr(dn, 'definedName')
                                           else dn.values())}
    check(names.get('plan_target_incentive') == "'Plan'!$B$5", 'plan name %s' % names)
    check(names.get('tbl_attainment') == "'Attainment'!$A$%d:$I$%d" % (hdr + 1, last),
          'table name %s' % names.get('tbl_attainment'))


def check_board_pack(path, opps, dq):
    wb, wv = openpyxl.load_workbook(path), openpyxl.load_workbook(path, data_only=True)
    check(wb.sheetnames == ['Summary', 'Attainment by rep', 'By team and region', 'Trend',
                            'Pipeline', 'Forecast', 'Top deals', 'Data quality',
                            'Definitions'],
          'board sheets %s' % wb.sheetnames)
    check(len(wb['Trend']._charts) == 1 and len(wb['Pipeline']._charts) == 1 and
          len(wb['Forecast']._charts) == 1, 'board charts')
    ws, wsv = wb['Pipeline'], wv['Pipeline']
    hdr = header_row(ws, 'Stage')
    open_ = [o for o in opps if not o['closed']]
    rows = []
    r = hdr + 1
    while ws.cell(r, 1).value != 'Total':
        rows.append(ws.cell(r, 1).value)
        r += 1
    check(sorted(rows) == sorted({o['stage'] for o in open_}), 'pipeline stages %s' % rows)
    check(close(wsv.cell(r, 2).value, len(open_)), 'pipeline deal count')
    check(close(wsv.cell(r, 3).value, float(sum(o['amount'] for o in open_))), 'pipeline amount')
    check(ws.cell(r, 3).value == '=SUBTOTAL(109,C%d:C%d)' % (hdr + 1, r - 1), 'pipeline total formula')
    check(ws.freeze_panes == 'A%d' % (hdr + 1), 'pipeline freeze')
    ws = wb['Top deals']
    hdr = header_row(ws, 'Opportunity ID')
    won = sorted((o for o in opps if o['won'] and START <= o['close'] <= END),
                 key=lambda o: (-o['amount'], o['id']))[:20]
    got = [(ws.cell(hdr + 1 + i, 1).value, ws.cell(hdr + 1 + i, 6).value) for i in range(len(won))]
    check(got == [(o['id'], float(o['amount'])) for o in won], 'top won deals')
    check(ws.cell(hdr + 1, 5).number_format == DATE, 'top won date format')
    ws, wsv = wb['Data quality'], wv['Data quality']
    hdr = header_row(ws, 'Source')
    r = hdr + 1
    while ws.cell(r, 1).value not in (None, 'Total'):
        r += 1
    total = wsv.cell(r, 4).value if ws.cell(r, 1).value == 'Total' else 0
    check((total or 0) == dq, 'data-quality findings %r, want %d' % (total, dq))
    ws = wb['Definitions']
    hdr = header_row(ws, 'Metric')
    defs = {ws.cell(r, 1).value: ws.cell(r, 4).value for r in range(hdr + 1, ws.max_row + 1)}
    check(ws.cell(hdr, 4).value == 'Definition' and len(defs) >= 9 and all(defs.values())
          and 'won deals' in (defs.get('bookings') or ''), 'definitions listed: %s' % list(defs)[:5])


def check_raw(path, opps):
    wb = openpyxl.load_workbook(path)
    ws = wb['Opportunities']
    want = sorted((o for o in opps if (START <= o['close'] <= END) or not o['closed']),
                  key=lambda o: (o['close'], o['id']))
    check(ws.max_row == len(want) + 2, 'raw rows %d, want %d + header + total' % (ws.max_row, len(want)))
    check([ws.cell(2 + i, 1).value for i in range(len(want))] == [o['id'] for o in want],
          'raw row order and ids')
    amt = [ws.cell(2 + i, 13).value for i in range(len(want))]
    check(all(close(a, float(o['amount'])) for a, o in zip(amt, want)), 'raw amounts')
    check(ws.cell(2, 16).is_date and ws.cell(2, 16).number_format == DATE, 'raw close date is a date')
    check(ws.freeze_panes == 'A2' and ws.auto_filter.ref == 'A1:Q%d' % (len(want) + 1),
          'raw freeze/filter %s %s' % (ws.freeze_panes, ws.auto_filter.ref))
    last = len(want) + 2
    check(ws.cell(last, 13).value == '=SUBTOTAL(109,M2:M%d)' % (last - 1), 'raw total formula')
    wv = openpyxl.load_workbook(path, data_only=True)['Opportunities']
    check(close(wv.cell(last, 13).value, float(sum(o['amount'] for o in want))), 'raw total')
    sheet = zipfile.ZipFile(path).read('xl/worksheets/sheet1.xml')
    check(b'inlineStr' in sheet and b'<si>' not in zipfile.ZipFile(path).read(
        'xl/sharedStrings.xml') if 'xl/sharedStrings.xml' in zipfile.ZipFile(path).namelist()
          else b'inlineStr' in sheet, 'raw written in constant memory (inline strings)')


def main():
    d, out, dq = sys.argv[1], sys.argv[2], int(sys.argv[3])
    info, quota, opps = load(d)
    check_quota_attainment(out + '/quota-attainment-2026-Q3.xlsx', info, quota, opps)
    check_board_pack(out + '/board-pack-2026-Q3.xlsx', opps, dq)
    check_raw(out + '/raw-data-2026-Q3.xlsx', opps)
    for f in fails:
        print('FAIL:', f)
    print('%d checks failed' % len(fails))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
