#!/usr/bin/python3
"""Forecast history over successive monthly loads (tests/functional/test_forecast_series.sh).

  check_forecast_history.py split BASE OUT AS_OF...   one consistent export per as-of date
      from BASE (the latest): deals created on or after the date are left out, deals
      closed on or after it are still open (Negotiation/Review), so the loads tell one
      history (successive `kpipress sample --as-of` runs do not: each shifts its window)
  check_forecast_history.py accuracy DB CSVDIR AS_OF  compare the forecast_* metrics of the
      kpi table with values computed here from the stored forecast rows (sqlite3) and the
      won deals of CSVDIR's export; prints each mismatch, exits 1 on any
"""
import csv
import datetime
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
import check_forecast_series as ref  # noqa: E402 (CSV parsing shared with the unit test)


def split(base, out, dates):
    with open(f"{base}/opportunities.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for d in dates:
        cut = datetime.date.fromisoformat(d)
        dst = f"{out}/{d}"
        os.makedirs(dst, exist_ok=True)
        for name in ("users.csv", "quotas.csv"):
            shutil.copy(f"{base}/{name}", dst)
        keep = []
        for r in rows:
            if not r["Stage"]:
                continue  # the export's footer lines (Grand Totals, Confidential...)
            created = ref.mdy(r["Created Date"])
            if created and created >= cut:
                continue
            r = dict(r)
            close = ref.mdy(r["Close Date"])
            if r["Stage"].startswith("Closed") and close and close >= cut:
                r.update({"Stage": "Negotiation/Review", "Probability (%)": "90",
                          "Forecast Category": "Commit"})
            keep.append(r)
        with open(f"{dst}/opportunities.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), quoting=csv.QUOTE_ALL)
            w.writeheader()
            w.writerows(keep)


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * (1 + abs(b))


def accuracy(db, csvdir, as_of):
    as_of = datetime.date.fromisoformat(as_of)
    users, opps = ref.read(csvdir)
    reps, by_name = ref.owners_of(users)
    actual = {}  # (rep, 'YYYY-MM-01') -> currency units
    for o in opps:
        d = ref.mdy(o["Close Date"])
        if o["Stage"] == "Closed Won" and d and d < as_of and o["Amount"]:
            key = (by_name.get(o["Opportunity Owner"], o["Opportunity Owner"]), f"{d:%Y-%m}-01")
            actual[key] = actual.get(key, 0) + ref.cents(o["Amount"])
    con = sqlite3.connect(db)
    runs = [r[0] for r in con.execute("SELECT DISTINCT as_of FROM forecast ORDER BY 1")]
    months = [r[0] for r in con.execute(
        "SELECT DISTINCT period_start FROM forecast WHERE period_end < ? ORDER BY 1",
        (as_of.isoformat(),))]
    rows = []  # (month, rep, forecast, actual) of the frozen forecasts
    for m in months:
        frozen = [r for r in runs if r <= m]
        if not frozen:
            continue
        for rep, value in con.execute(
                "SELECT member, value FROM forecast WHERE as_of = ? AND series = 'bookings'"
                " AND dimension = 'rep' AND period_start = ? ORDER BY member", (frozen[-1], m)):
            rows.append((m, rep, value, actual.get((rep, m), 0) / 100.0))
    if not rows:
        print("no frozen forecast to compare")
        return 1

    def team_of(rep):
        return reps.get(rep, {}).get("team", ref.NONE)

    groups = {("company", "All"): lambda r: True}
    for rep in {r[1] for r in rows}:
        groups[("rep", rep)] = lambda r, rep=rep: r[1] == rep
        groups[("team", team_of(rep))] = lambda r, t=team_of(rep): team_of(r[1]) == t
    periods = [("month", m, [m]) for m in sorted({r[0] for r in rows})]
    quarter = months[0][:5] + "%02d-01" % ((int(months[0][5:7]) - 1) // 3 * 3 + 1)
    periods.append(("quarter", quarter, [m for m in months if quarter <= m < quarter[:5]
                                         + "%02d-01" % (int(quarter[5:7]) + 3)]))
    bad = checked = 0
    for (dim, member), pick in sorted(groups.items()):
        for grain, start, ms in periods:
            sel = [r for r in rows if pick(r) and r[0] in ms]
            f = sum(r[2] for r in sel)
            a = sum(r[3] for r in sel)
            err = sum(abs(r[3] - r[2]) for r in sel)
            want = {
                "forecast_bookings": f if sel else 0.0,
                "forecast_actual": a if sel else 0.0,
                "forecast_accuracy": 1 - abs(a - f) / a if a else None,
                "forecast_bias": (f - a) / a if a else None,
                "forecast_wape": err / a if a else None,
            }
            for metric, w in want.items():
                got = con.execute(
                    "SELECT value FROM kpi WHERE metric = ? AND dimension = ? AND member = ?"
                    " AND grain = ? AND period_start = ?",
                    (metric, dim, member, grain, start)).fetchall()
                g = got[0][0] if got else "missing"
                checked += 1
                if g == "missing" or not close(g, w):
                    bad += 1
                    print(f"{metric} {dim} {member} {grain} {start}: kpi {g}, expected {w}")
    print(f"{checked} values checked over {len(rows)} frozen rep-months, {bad} wrong")
    return 1 if bad or checked < 50 else 0


def main():
    if sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    return accuracy(sys.argv[2], sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    sys.exit(main())
