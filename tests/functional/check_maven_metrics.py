"""Independent check of the metric layer on the Maven CRM data: bookings, win rate, average
deal size and sales cycle per rep and per regional office for each quarter of 2017,
computed here from the raw CSVs and compared with kpipress's kpi table."""
import csv, datetime, sqlite3, sys
from decimal import Decimal
from collections import defaultdict

data, db = sys.argv[1], sys.argv[2]
office = {r['sales_agent']: r['regional_office'] for r in csv.DictReader(open(f'{data}/sales_teams.csv', newline=''))}
agg = defaultdict(lambda: {'won': 0, 'lost': 0, 'cents': 0, 'days': 0})
for r in csv.DictReader(open(f'{data}/sales_pipeline.csv', newline='')):
    if r['deal_stage'] not in ('Won', 'Lost') or not r['close_date'].startswith('2017'):
        continue
    close = datetime.date.fromisoformat(r['close_date'])
    q = f"2017-{(close.month - 1) // 3 * 3 + 1:02d}-01"
    for key in (('rep', r['sales_agent']), ('region', office.get(r['sales_agent'], '(none)'))):
        a = agg[key + (q,)]
        if r['deal_stage'] == 'Won':
            a['won'] += 1
            a['cents'] += int(Decimal(r['close_value']) * 100)
            a['days'] += (close - datetime.date.fromisoformat(r['engage_date'])).days
        else:
            a['lost'] += 1
con = sqlite3.connect(db)
def kpi(metric, dim, member, q):
    row = con.execute("SELECT value FROM kpi WHERE metric = ? AND dimension = ? AND member = ?"
                      " AND grain = 'quarter' AND period_start = ?", (metric, dim, member, q)).fetchone()
    if row is None:
        raise SystemExit(f'no kpi row {metric} {dim} {member} {q}')
    return row[0]
bad = checked = 0
for (dim, member, q), a in sorted(agg.items()):
    exp = {'bookings_cents': a['cents'],
           'win_rate': a['won'] / (a['won'] + a['lost']),
           'avg_deal_cents': round(Decimal(a['cents']) / a['won']) if a['won'] else None,
           'cycle_days': a['days'] / a['won'] if a['won'] else None}
    got = {'bookings_cents': round(kpi('bookings', dim, member, q) * 100),
           'win_rate': kpi('win_rate', dim, member, q),
           'avg_deal_cents': None, 'cycle_days': kpi('cycle_days', dim, member, q)}
    ads = kpi('avg_deal_size', dim, member, q)
    got['avg_deal_cents'] = round(Decimal(repr(ads)) * 100) if ads is not None else None
    for k in exp:
        e, g = exp[k], got[k]
        same = (e is None and g is None) or (e is not None and g is not None and
               (e == g if k.endswith('cents') else abs(e - g) < 1e-9))
        checked += 1
        if not same:
            bad += 1
            print(f'MISMATCH {dim} {member} {q} {k}: expected {e}, kpipress {g}')
print(f'{checked} values checked over {len(agg)} rep/office quarters, {bad} mismatches')
sys.exit(1 if bad or checked < 100 else 0)
