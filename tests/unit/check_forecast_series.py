#!/usr/bin/python3
"""Independent reference for the bookings series of src/forecast_series.c, read straight
from the Salesforce-shaped CSVs of `kpipress sample` (users.csv, opportunities.csv).

  check_forecast_series.py prepare DIR AS_OF   add edge cases to DIR's CSVs: a rep hired
                                               two months before AS_OF with one won deal, an
                                               active rep without deals, one rep made inactive
  check_forecast_series.py series DIR AS_OF OUT
                                               write one line per series to OUT:
                                               dimension<TAB>member<TAB>value value ...

Rules (README / forecast_series.h): won deals by close month, months before the as-of
month; the company's history starts at its first won month; a rep's series starts at the
earlier of hiring and their first deal (created or closed), not before the company's; a
team or region is the sum of its people from the earliest start; inactive reps get no
series of their own."""
import csv
import datetime
import sys

NONE = "(none)"


def mdy(text):
    if not text:
        return None
    m, d, y = (int(x) for x in text.split("/"))
    return datetime.date(y, m, d)


def month_no(d):
    return d.year * 12 + d.month - 1


def cents(text):
    t = text.replace("$", "").replace(",", "").strip()
    neg = t.startswith("(")
    t = t.strip("()")
    whole, _, frac = t.partition(".")
    v = int(whole) * 100 + int((frac + "00")[:2])
    return -v if neg else v


def read(dirname):
    with open(f"{dirname}/users.csv", newline="", encoding="utf-8-sig") as f:
        users = list(csv.DictReader(f))
    with open(f"{dirname}/opportunities.csv", newline="", encoding="utf-8-sig") as f:
        opps = list(csv.DictReader(f))
    return users, opps


def owners_of(users):
    """rep_id -> dict(team, region, active, hire); and full name -> rep_id."""
    reps, by_name = {}, {}
    for u in users:
        reps[u["User ID"]] = {
            "team": u["Role"] or NONE,
            "region": u["Division"] or NONE,
            "active": u["Active"] in ("1", "true", "TRUE", "yes"),
            "hire": month_no(mdy(u["Start Date"])) if u["Start Date"] else None,
        }
        by_name[u["Full Name"]] = u["User ID"]
    return reps, by_name


def monthly_bookings(opps, by_name, cutoff):
    """{owner: {month: cents}} of won deals closed before cutoff, and first data months."""
    book, first = {}, {}
    for o in opps:
        owner = by_name.get(o["Opportunity Owner"], o["Opportunity Owner"] or NONE)
        for key in ("Created Date", "Close Date"):
            d = mdy(o[key])
            if d and d < cutoff:
                first[owner] = min(first.get(owner, month_no(d)), month_no(d))
        close = mdy(o["Close Date"])
        if o["Stage"] == "Closed Won" and close and close < cutoff and o["Amount"]:
            m = book.setdefault(owner, {})
            m[month_no(close)] = m.get(month_no(close), 0) + cents(o["Amount"])
    return book, first


def series(dirname, as_of):
    users, opps = read(dirname)
    reps, by_name = owners_of(users)
    cutoff = as_of.replace(day=1)
    last = month_no(cutoff) - 1
    book, first_data = monthly_bookings(opps, by_name, cutoff)
    won_months = [m for b in book.values() for m in b]
    first = min(won_months) if won_months else last + 1
    people = dict(reps)
    for owner in set(book) | set(first_data):
        people.setdefault(owner, {"team": NONE, "region": NONE, "active": True, "hire": None})
    start = {}
    for k, p in people.items():
        cands = [x for x in (p["hire"], first_data.get(k)) if x is not None]
        s = max(min(cands), first) if cands else None
        start[k] = s if s is not None and s <= last else None

    def values(keys):
        starts = [start[k] for k in keys if start[k] is not None]
        if not starts:
            return []
        return [sum(book.get(k, {}).get(m, 0) for k in keys if start[k] is not None) / 100.0
                for m in range(min(starts), last + 1)]

    out = [("company", "All", [sum(b.get(m, 0) for b in book.values()) / 100.0
                               for m in range(first, last + 1)])]
    for dim in ("region", "team"):
        for name in sorted({p[dim] for p in people.values()}, key=lambda s: s.encode()):
            out.append((dim, name, values([k for k, p in people.items() if p[dim] == name])))
    for k in sorted(people, key=lambda s: s.encode()):
        if people[k]["active"]:
            out.append(("rep", k, values([k])))
    return out


def prepare(dirname, as_of):
    """Edge cases: a rep hired two months before as-of with one won deal last month (a
    two-month series), an active rep with no deals at all (all zeros from hiring), the
    first quota-carrying rep made inactive (kept in their team, no series of their own),
    and deals of an owner missing from the reps export and of no owner."""
    users, opps = read(dirname)
    cutoff = as_of.replace(day=1)
    two_back = (cutoff - datetime.timedelta(days=40)).replace(day=1)
    last_month = (cutoff - datetime.timedelta(days=1)).replace(day=5)
    base = next(u for u in users if u["Manager ID"] and u["Role"].startswith("AE"))
    new = dict(base, **{"User ID": "005ZZNEWHIRE01", "Full Name": "Nova Newhire",
                        "Email": "nova@example.com", "Active": "1",
                        "Start Date": f"{two_back.month}/{two_back.day}/{two_back.year}"})
    idle = dict(base, **{"User ID": "005ZZIDLE00001", "Full Name": "Ida Idle",
                         "Email": "ida@example.com", "Active": "1", "Start Date": "1/15/2025"})
    gone = next(u for u in users if u["Role"].startswith("AE") and u["Active"] == "1"
                and u is not base)
    gone["Active"] = "0"
    users += [new, idle]
    deal = dict(opps[0], **{"Opportunity ID": "006ZZNEWDEAL01", "Opportunity Owner": "Nova Newhire",
                            "Stage": "Closed Won", "Amount": "$12,345.67", "Probability (%)": "100",
                            "Close Date": f"{last_month.month}/{last_month.day}/{last_month.year}",
                            "Created Date": f"{two_back.month}/{two_back.day + 2}/{two_back.year}",
                            "Forecast Category": "Closed"})
    opps.append(deal)
    # owners the reps export does not know: a named one and an empty one (both "(none)"
    # teams), each with a won deal last month and an open one
    for i, who in enumerate(("Olga Outsider", "")):
        for j, (stage, cat) in enumerate((("Closed Won", "Closed"), ("Prospecting", "Pipeline"))):
            opps.append(dict(deal, **{"Opportunity ID": f"006ZZOUTSIDE{i}{j}", "Opportunity Owner": who,
                                      "Stage": stage, "Forecast Category": cat,
                                      "Amount": f"${1000 * (i + 1) + j}.25"}))
    for name, rows in (("users", users), ("opportunities", opps)):
        with open(f"{dirname}/{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), quoting=csv.QUOTE_ALL)
            w.writeheader()
            w.writerows(rows)


def main():
    mode, dirname, as_of = sys.argv[1], sys.argv[2], datetime.date.fromisoformat(sys.argv[3])
    if mode == "prepare":
        prepare(dirname, as_of)
        return
    with open(sys.argv[4], "w") as f:
        for dim, member, ys in series(dirname, as_of):
            f.write(f"{dim}\t{member}\t{' '.join(repr(y) for y in ys)}\n")


if __name__ == "__main__":
    main()
