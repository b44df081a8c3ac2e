#!/usr/bin/python3
"""Independent reading of test_forecast_pipeline.sh's fixture: recompute the stage win
rates and every deterministic figure of forecast_pipeline from the CSV files with Python
alone (csv, fractions), following the definitions of README "Pipeline forecast", and
compare them with kpipress's tables. Simulated figures are checked against the exact
expectation within four standard errors.

usage: check_forecast_pipeline.py FIXTURE_DIR DB AS_OF MIN_SAMPLE"""
import csv
import datetime as dt
import math
import os
import sqlite3
import sys
from fractions import Fraction

fx, dbpath, as_of, min_sample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
SNAPS = {'2026-01-31': 's1.csv', '2026-02-28': 's2.csv', '2026-03-15': 's3.csv'}
# the job's [stages]: probability, closed, won, category
RULES = {'Discovery': (0.1, 0, 0), 'Proposal': (0.5, 0, 0), 'Negotiation': (0.8, 0, 0),
         'Won': (1.0, 1, 1), 'Lost': (0.0, 1, 0)}
FY_START = 2


def rows(name):
    with open(os.path.join(fx, name), newline='') as f:
        return list(csv.DictReader(f))


def deal(r):
    p = r['probability']
    return dict(opp=r['opp_id'], owner=r['owner_id'] or '(none)', stage=r['stage'],
                cents=round(float(r['amount']) * 100), prob=float(p.rstrip('%')) / 100 if p else None,
                cat=r['forecast_category'], close=r['close_date'] or None,
                closed=r['is_closed'] == 'true', won=r['is_won'] == 'true')


snap = max(d for d in SNAPS if d <= as_of)
snaps = {d: [deal(r) for r in rows(f)] for d, f in SNAPS.items() if d <= snap}
hist = [(i, r) for i, r in enumerate(rows('hist.csv'))]
cur = snaps[snap]

# ---- learned rates ----
was_in = set()
for d, ds in snaps.items():
    if d < snap:
        was_in |= {(x['stage'], x['opp']) for x in ds if not x['closed']}
for _, h in hist:
    if h['entered_date'] <= as_of and not RULES.get(h['stage'], (0, 0, 0))[1]:
        was_in.add((h['stage'], h['opp_id']))
outcome = {}
for d in sorted(snaps):
    for x in snaps[d]:
        outcome[x['opp']] = (x['closed'], x['won'])
last = {}
for i, h in hist:
    if h['entered_date'] <= as_of and h['opp_id'] not in outcome:
        k = (h['entered_date'], i)
        if h['opp_id'] not in last or k > last[h['opp_id']][0]:
            last[h['opp_id']] = (k, h['stage'])
for o, (_, st) in last.items():
    if st in RULES:
        outcome[o] = (RULES[st][1], RULES[st][2])
stages = {s for s, r in RULES.items() if not r[1]} | {x['stage'] for x in cur if not x['closed']}
rates = {}
for s in stages:
    ends = [outcome[o] for (st, o) in was_in if st == s and o in outcome and outcome[o][0]]
    n, won = len(ends), sum(1 for e in ends if e[1])
    opn = [x for x in cur if not x['closed'] and x['stage'] == s]
    crm = [x['prob'] for x in opn if x['prob'] is not None]
    if n >= min_sample:
        rates[s] = (won / n, n, won, len(opn), 'learned')
    elif s in RULES:
        rates[s] = (RULES[s][0], n, won, len(opn), 'configured')
    elif crm:
        rates[s] = (sum(crm) / len(crm), n, won, len(opn), 'crm')
    else:
        rates[s] = (0.0, n, won, len(opn), 'none')

db = sqlite3.connect(dbpath)
got = {r[0]: r[1:] for r in db.execute(
    'SELECT stage, probability, closed_sample, won, open_deals, source FROM stage_win_rates'
    ' WHERE as_of = ?', (as_of,))}
assert set(got) == set(rates), (got, rates)
for s, w in rates.items():
    g = got[s]
    assert abs(g[0] - w[0]) < 1e-12 and tuple(g[1:]) == w[1:], (s, g, w)


# ---- periods ----
def month_start(y, m):
    y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return dt.date(y, m, 1)


a = dt.date.fromisoformat(as_of)
m0 = month_start(a.year, a.month)
fq0 = month_start(a.year, a.month - (a.month - FY_START) % 3)
GRAINS = {'month': (m0, month_start(a.year, a.month + 1) - dt.timedelta(1)),
          'fiscal_quarter': (fq0, month_start(fq0.year, fq0.month + 3) - dt.timedelta(1)),
          'next_fiscal_quarter': (month_start(fq0.year, fq0.month + 3),
                                  month_start(fq0.year, fq0.month + 6) - dt.timedelta(1))}
G = {g: (s.isoformat(), e.isoformat()) for g, (s, e) in GRAINS.items()}


def in_grain(x, g):
    s, e = G[g]
    if x['close'] is None:
        return False
    if x['closed']:
        return x['won'] and s <= x['close'] <= e
    if g == 'next_fiscal_quarter':
        return s <= x['close'] <= e
    return x['close'] <= e  # overdue open deals stay in the open month and quarter


def prob(x):
    r = rates.get(x['stage'])
    if r is None:
        return 0.0
    if r[4] == 'crm':
        return x['prob'] or 0.0
    return r[0]


# ---- organisation ----
reps = {r['rep_id']: r for r in rows('reps.csv')}
quotas = rows('quotas.csv')
org = {rid: {'company': 'All', 'region': r['region'] or '(none)', 'team': r['team'] or '(none)',
             'manager': r['manager_id'] or '(none)', 'rep': rid} for rid, r in reps.items()}
lo, hi = G['fiscal_quarter'][0], G['next_fiscal_quarter'][1]
extra = {x['owner'] for x in cur} | {q['rep_id'] for q in quotas if lo <= q['period_start'] <= hi}
for rid in extra - set(reps):
    org[rid] = {'company': 'All', 'region': '(none)', 'team': '(none)', 'manager': '(none)',
                'rep': rid}


def cat(c):
    k = ''.join(ch for ch in c.lower() if ch.isalnum())
    if k == 'commit' or k.startswith('closed'):
        return 'commit'
    if k == 'bestcase':
        return 'best'
    if k in ('omitted', 'omit', 'notforecasted'):
        return 'omit'
    return 'pipe'


want = {}
for dim in ('company', 'region', 'team', 'manager', 'rep'):
    for mem in sorted({o[dim] for o in org.values()}):
        reps_in = {rid for rid, o in org.items() if o[dim] == mem}
        for g, (s, e) in G.items():
            ds = [x for x in cur if x['owner'] in reps_in and in_grain(x, g)]
            won = [x for x in ds if x['closed']]
            # Omitted deals are not forecast (Salesforce leaves them out of forecasts)
            opn = [x for x in ds if not x['closed'] and cat(x['cat']) != 'omit']
            closed = sum(x['cents'] for x in won)
            by = {k: sum(x['cents'] for x in opn if cat(x['cat']) == k)
                  for k in ('commit', 'best', 'pipe')}
            exp = sum(Fraction(x['cents']) * Fraction(prob(x)) for x in opn)
            var = sum(x['cents'] ** 2 * prob(x) * (1 - prob(x)) for x in opn)
            qs = [round(float(q['amount']) * 100) for q in quotas if q['rep_id'] in reps_in
                  and q['period_start'] >= s and q['period_end'] <= e]
            want[(dim, mem, g)] = dict(
                period=(s, e), closed=closed, commit=by['commit'] + closed,
                best=by['best'] + by['commit'] + closed, pipe=by['pipe'], n=len(opn),
                expected=closed + math.floor(exp + Fraction(1, 2)), var=var,
                quota=sum(qs) if qs else None)

got = {r[0:3]: r[3:] for r in db.execute(
    'SELECT dimension, member, grain, period_start, period_end, closed_cents, commit_cents,'
    ' best_case_cents, pipeline_cents, open_deals, expected_cents, mean_cents, p10_cents,'
    ' p50_cents, p90_cents, quota_cents, p_quota, runs, seed FROM forecast_pipeline'
    ' WHERE as_of = ?', (as_of,))}
assert set(got) == set(want), (sorted(set(got) ^ set(want)))
for k, w in want.items():
    (ps, pe, closed, commit, best, pipe, n, expected, mean, p10, p50, p90, quota, pq, runs,
     seed) = got[k]
    assert (ps, pe) == w['period'], (k, ps, pe)
    assert (closed, commit, best, pipe, n, quota) == (w['closed'], w['commit'], w['best'],
                                                      w['pipe'], w['n'], w['quota']), (k, got[k], w)
    assert abs(expected - w['expected']) <= 1, (k, expected, w['expected'])
    # the mean of `runs` simulations: within 4 standard errors of the expectation (+ rounding)
    assert abs(mean - expected) <= 4 * math.sqrt(w['var'] / runs) + 1, (k, mean, expected)
    assert closed <= p10 <= p50 <= p90 <= closed + w['commit'] + w['best'] + w['pipe'] + 10**9
    assert (pq is None) == (quota is None), (k, quota, pq)
    if quota is not None and quota <= closed:
        assert pq == 1.0, (k, pq)
    assert runs == 10000 and seed in ('7', '8'), (runs, seed)
print('ok: %d stage rates, %d forecast rows' % (len(rates), len(want)))
