#!/usr/bin/python3
"""Independent computation of the sample job's per-rep figures, straight from the CSV
exports with Python's csv module (no kpipress code involved). Prints JSON:
{period_start, period_end, reps: {rep_id: {name, email, quota, bookings, won, lost,
win_rate, attainment}}} for reps with a quota in the period."""
import csv, datetime, json, re, sys
from decimal import Decimal

def money(s):
    s = s.strip()
    neg = s.startswith('(') and s.endswith(')')
    s = re.sub(r'[^0-9.\-]', '', s)
    v = Decimal(s) if s else Decimal(0)
    return -v if neg else v

def mdy(s):
    m, d, y = (int(x) for x in s.strip().split('/'))
    return datetime.date(y, m, d)

def job_value(path, key):
    for line in open(path, encoding='utf-8'):
        m = re.match(r'\s*' + key + r'\s*=\s*([^;\s]+)', line)
        if m:
            return m.group(1)
    raise SystemExit('no %s in %s' % (key, path))

def main(d, as_of=None):
    as_of = datetime.date.fromisoformat(as_of or job_value(d + '/job.ini', 'as_of'))
    assert job_value(d + '/job.ini', 'period') == 'previous_month'
    end = as_of.replace(day=1) - datetime.timedelta(days=1)
    start = end.replace(day=1)
    users = list(csv.DictReader(open(d + '/users.csv', encoding='utf-8-sig', newline='')))
    by_name = {}
    for u in users:
        by_name.setdefault(u['Full Name'], []).append(u['User ID'])
    reps = {}
    for q in csv.DictReader(open(d + '/quotas.csv', encoding='utf-8-sig', newline='')):
        sd = mdy(q['Start Date'])
        if start <= sd <= end:
            r = reps.setdefault(q['Quota Owner ID'], {'quota': Decimal(0), 'bookings': Decimal(0),
                                                       'won': 0, 'lost': 0})
            r['quota'] += money(q['Quota Amount'])
    for row in csv.reader(open(d + '/opportunities.csv', encoding='utf-8-sig', newline='')):
        if len(row) < 13 or row[0] == 'Opportunity ID':
            continue  # header and Salesforce's footer rows
        owner, stage, amount, close = row[3], row[4], row[5], row[7]
        ids = by_name.get(owner, [])
        if len(ids) != 1 or ids[0] not in reps:
            continue
        cd = mdy(close)
        if not (start <= cd <= end):
            continue
        r = reps[ids[0]]
        if stage == 'Closed Won':
            r['bookings'] += money(amount)
            r['won'] += 1
        elif stage == 'Closed Lost':
            r['lost'] += 1
    out = {}
    info = {u['User ID']: u for u in users}
    for rid, r in reps.items():
        if r['quota'] <= 0:
            continue
        n = r['won'] + r['lost']
        out[rid] = {'name': info[rid]['Full Name'], 'email': info[rid]['Email'],
                    'active': info[rid]['Active'] == '1',
                    'quota': str(r['quota']), 'bookings': str(r['bookings']),
                    'won': r['won'], 'lost': r['lost'],
                    'win_rate': (r['won'] / n) if n else None,
                    'attainment': float(r['bookings'] / r['quota'])}
    print(json.dumps({'period_start': start.isoformat(), 'period_end': end.isoformat(),
                      'reps': out}, ensure_ascii=False, indent=1, sort_keys=True))

if __name__ == '__main__':
    main(*sys.argv[1:])
