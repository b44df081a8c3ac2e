#!/usr/bin/python3
"""Benchmark baseline: the kpipress sample job written the way a competent analyst would in
Python (vectorised pandas, XlsxWriter, ReportLab), producing the same board-pack workbook
(templates/board-pack.ini: the same nine sheets, tables, formulas, formats and charts) and
the same rep scorecards (templates/rep-scorecard.ini, same DejaVu TTFs). It validates the
exports as kpipress's load does (the findings fill the Data quality sheet; rejected rows are
left out) and reads the metric definitions from templates/metrics.ini. Like kpipress's
forecast stage it forecasts monthly bookings (company, regions, teams, active reps; methods
fitted by statsmodels, chosen by rolling-origin backtest) and the open pipeline (Salesforce
category roll-ups, stage win probabilities, a numpy Monte Carlo) for the Forecast sheet and
the scorecards. Progress lines on stderr use kpipress's wording ("computing KPIs",
"forecasting ...", "rendering N documents") so tests/bench/run can time the stages of both
the same way. --series writes every bookings series' forecast to a CSV for compare_xlsx.py.

usage: pandas_job.py board-pack DATADIR OUT.xlsx [--series FORECASTS.csv]
       pandas_job.py scorecards DATADIR OUTDIR [--limit N]
DATADIR is a `kpipress sample` directory (opportunities.csv, users.csv, quotas.csv, job.ini).
"""
import configparser
import os
import re
import sys

import numpy as np
import pandas as pd

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METRICS = os.path.join(ROOT, "templates", "metrics.ini")

# Salesforce's standard sales process, as kpipress's salesforce preset has it: the default
# probability, closed and won flags and forecast category of each stage.
STAGES = pd.DataFrame.from_records(
    [("Prospecting", 0.10, False, False, "Pipeline"), ("Qualification", 0.10, False, False, "Pipeline"),
     ("Needs Analysis", 0.20, False, False, "Pipeline"),
     ("Value Proposition", 0.50, False, False, "Pipeline"),
     ("Id. Decision Makers", 0.60, False, False, "Pipeline"),
     ("Perception Analysis", 0.70, False, False, "Pipeline"),
     ("Proposal/Price Quote", 0.75, False, False, "Pipeline"),
     ("Negotiation/Review", 0.90, False, False, "Pipeline"),
     ("Closed Won", 1.00, True, True, "Closed"), ("Closed Lost", 0.00, True, False, "Omitted")],
    columns=["stage", "probability", "is_closed", "is_won", "forecast_category"]).set_index("stage")
FORECAST_ORDER = {"Closed": 0, "Commit": 1, "Best Case": 2, "Pipeline": 3, "Omitted": 4}
# A Salesforce report export ends with one-field rows: Grand Totals, confidentiality, copyright.
FOOTER = re.compile(r"Grand Totals \(|Confidential Information - Do Not Distribute$|"
                    r"Copyright \(c\).*salesforce\.com")
YES, NO = ["1", "true", "yes", "y", "t"], ["0", "false", "no", "n", "f", ""]
DATE_HINT = "is not a date (expected YYYY-MM-DD or M/D/YYYY)"


def log(msg):
    print("pandas_job: " + msg, file=sys.stderr, flush=True)


# ---- load and validate -------------------------------------------------------------------

def cents(s):
    """'$1,234.50' / '(1,200.00)' -> cents as floats (whole numbers), NaN if empty or bad."""
    neg = s.str.startswith("(")
    v = pd.to_numeric(s.str.replace(r"[$,()\s]", "", regex=True), errors="coerce")
    c = (v * 100).round()
    return c.where(~neg, -c)


def dates(s):
    """M/D/YYYY as the exports write dates, else ISO; NaT if empty or neither."""
    d = pd.to_datetime(s, format="%m/%d/%Y", errors="coerce")
    other = d.isna() & s.ne("")
    if other.any():
        d[other] = pd.to_datetime(s[other], format="%Y-%m-%d", errors="coerce")
    return d


def quoted(s):
    return "'" + s.str[:64] + "'"


class Findings:
    """Data-quality findings as kpipress's dq_issues holds them, one per row and rule."""

    def __init__(self):
        self.parts = []
        self.reject = {}

    def check(self, source, df, mask, rule, message, severity="reject"):
        """Record `rule` on the rows of df where mask holds; message: text, or a function of
        those rows giving one text per row. Rejected rows are remembered per source."""
        rows = df[mask]
        if len(rows):
            msg = message(rows) if callable(message) else message
            self.parts.append(pd.DataFrame({"source": source, "line": rows["line"], "rule": rule,
                                            "severity": severity, "message": msg}))
            if severity == "reject":
                r = self.reject.get(source)
                self.reject[source] = mask if r is None else r | mask

    def rejected(self, source, df):
        r = self.reject.get(source)
        return pd.Series(False, index=df.index) if r is None else r

    def frame(self):
        cols = ["source", "line", "rule", "severity", "message"]
        return pd.concat(self.parts, ignore_index=True) if self.parts else pd.DataFrame(columns=cols)


def footer_line(path, text):
    """The file line of a footer row: the CSV reader skips the blank lines around it."""
    with open(path, "rb") as f:
        data = f.read()
    return data.count(b"\n", 0, data.rfind(text.encode())) + 1


def read_export(datadir, name, columns, dq, source):
    """An export's columns renamed, with the file line of each row (header on line 1; the
    reader drops blank lines, so a line is exact up to the first blank one) and without the
    report footer, whose Grand Totals count is checked against the rows read."""
    path = os.path.join(datadir, name)
    d = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                    usecols=lambda c: c in columns)
    d = d.rename(columns=columns)
    n = len(d)
    first = d.columns[0]
    others = d.columns[1:]
    while n and FOOTER.match(d.at[n - 1, first]) and (d.loc[n - 1, others] == "").all():
        n -= 1
    footer, d = d.iloc[n:], d.iloc[:n].copy()
    d["line"] = d.index + 2
    for text in footer[first]:
        m = re.match(r"Grand Totals \(([\d,]+) records?\)", text)
        if m and int(m.group(1).replace(",", "")) != n:
            dq.check(source, pd.DataFrame({"line": [footer_line(path, text)]}), [True],
                     "footer_count_mismatch",
                     f"the footer says {m.group(1).replace(',', '')} records, the file has {n}",
                     "warning")
    return d


def load_reps(datadir, dq):
    src = "reps"
    u = read_export(datadir, "users.csv", {"User ID": "rep_id", "Full Name": "name",
                                           "Email": "email", "Role": "team", "Division": "region",
                                           "Manager ID": "manager_id", "Active": "active",
                                           "Start Date": "hire_date"}, dq, src)
    dq.check(src, u, u["rep_id"].eq(""), "missing_required", "User ID: rep id is empty")
    dq.check(src, u, u["name"].eq(""), "missing_required", "Full Name: rep name is empty")
    hire = dates(u["hire_date"])
    dq.check(src, u, hire.isna() & u["hire_date"].ne(""), "unparseable",
             lambda r: "Start Date: " + quoted(r["hire_date"]) + " " + DATE_HINT)
    active = u["active"].str.strip().str.lower()
    dq.check(src, u, ~active.isin(YES + NO), "unparseable",
             lambda r: "Active: " + quoted(r["active"]) + " is not a yes/no value (1/0, true/false)")
    ok = ~dq.rejected(src, u)
    dup = ok & u["rep_id"].where(ok).duplicated() & u["rep_id"].ne("")
    dq.check(src, u, dup, "duplicate_id",
             lambda r: "User ID: rep id '" + r["rep_id"] + "' appears twice")
    keep = ~dq.rejected(src, u)
    reps = u[keep].drop(columns="line")
    reps["hire_date"] = hire[keep]
    reps["active"] = ~active[keep].isin(NO[:-1])  # empty: active, as kpipress assumes
    return reps.reset_index(drop=True)


def load_quotas(datadir, reps, dq):
    src = "quotas"
    q = read_export(datadir, "quotas.csv", {"Quota Owner ID": "rep_id", "Start Date": "start",
                                            "End Date": "end", "Quota Amount": "amount"}, dq, src)
    if "end" not in q:
        q["end"] = ""
    start, end, amt = dates(q["start"]), dates(q["end"]), cents(q["amount"])
    dq.check(src, q, q["rep_id"].eq(""), "missing_required", "Quota Owner ID: quota owner is empty")
    dq.check(src, q, q["start"].eq(""), "missing_required", "Start Date: start date is empty")
    dq.check(src, q, start.isna() & q["start"].ne(""), "unparseable",
             lambda r: "Start Date: " + quoted(r["start"]) + " " + DATE_HINT)
    dq.check(src, q, end.isna() & q["end"].ne(""), "unparseable",
             lambda r: "End Date: " + quoted(r["end"]) + " " + DATE_HINT)
    dq.check(src, q, q["amount"].eq(""), "missing_required", "Quota Amount: quota amount is empty")
    dq.check(src, q, amt.isna() & q["amount"].ne(""), "unparseable",
             lambda r: "Quota Amount: " + quoted(r["amount"]) +
             " is not an amount (expected e.g. 1234.50 or $1,234.50)")
    dq.check(src, q, amt < 0, "negative_amount", "Quota Amount: quota amount is negative")
    # Monthly quotas: a period without an end runs to the end of its month.
    end = end.where(q["end"].ne(""), start + pd.offsets.MonthEnd(0))
    dq.check(src, q, end < start, "period_end_before_start",
             "End Date: the quota period ends before it starts")
    dq.check(src, q, q["rep_id"].ne("") & ~q["rep_id"].isin(reps["rep_id"]), "quota_unknown_rep",
             lambda r: "Quota Owner ID: " + quoted(r["rep_id"]) + " is not a rep_id in the reps source")
    # Overlaps among the otherwise valid rows: by rep and start, a period that starts before
    # an earlier one of the same rep ends.
    ok = ~dq.rejected(src, q)
    s = pd.DataFrame({"rep_id": q["rep_id"], "start": start, "end": end, "line": q["line"]})[ok]
    s = s.sort_values(["rep_id", "start", "line"])
    by_rep = s.groupby("rep_id")
    prev_end = by_rep["end"].cummax().groupby(s["rep_id"]).shift()
    prev_start = by_rep["start"].shift()
    over = (s["start"] <= prev_end).reindex(q.index, fill_value=False)
    dq.check(src, q, over, "quota_overlap",
             lambda r: "Start Date: quota " + start[r.index].dt.strftime("%Y-%m-%d") + ".." +
             end[r.index].dt.strftime("%Y-%m-%d") + " overlaps the quota of '" + r["rep_id"] +
             "' starting " + prev_start[r.index].dt.strftime("%Y-%m-%d"))
    keep = ~dq.rejected(src, q)
    return pd.DataFrame({"rep_id": q["rep_id"][keep], "period_start": start[keep],
                         "period_end": end[keep],
                         "cents": amt[keep].astype("int64")}).reset_index(drop=True)


def load_opportunities(datadir, reps, dq):
    src = "opportunities"
    o = read_export(datadir, "opportunities.csv", {
        "Opportunity ID": "opp_id", "Opportunity Name": "name", "Account Name": "account",
        "Opportunity Owner": "owner", "Stage": "stage", "Amount": "amount",
        "Probability (%)": "probability", "Close Date": "close_date",
        "Created Date": "created_date", "Forecast Category": "forecast_category"}, dq, src)
    close, created, amt = dates(o["close_date"]), dates(o["created_date"]), cents(o["amount"])
    prob = pd.to_numeric(o["probability"].str.rstrip("%"), errors="coerce") / 100
    rule = STAGES.reindex(o["stage"]).set_axis(o.index)
    dq.check(src, o, o["opp_id"].eq(""), "missing_required",
             "Opportunity ID: opportunity id is empty")
    for col, label, d in (("created_date", "Created Date", created), ("close_date", "Close Date", close)):
        dq.check(src, o, d.isna() & o[col].ne(""), "unparseable",
                 lambda r, col=col, label=label: f"{label}: " + quoted(r[col]) + " " + DATE_HINT)
    dq.check(src, o, amt.isna() & o["amount"].ne(""), "unparseable",
             lambda r: "Amount: " + quoted(r["amount"]) +
             " is not an amount (expected e.g. 1234.50 or $1,234.50)")
    dq.check(src, o, prob.isna() & o["probability"].ne(""), "unparseable",
             lambda r: "Probability (%): " + quoted(r["probability"]) + " is not a percentage")
    dq.check(src, o, o["stage"].eq(""), "missing_required", "Stage: stage is empty")
    dq.check(src, o, o["stage"].ne("") & rule["is_closed"].isna(), "unknown_stage",
             lambda r: "Stage: " + quoted(r["stage"]) + " is not a stage of the salesforce "
             "preset, so whether the deal is closed or won is unknown")
    prob = prob.where(o["probability"].ne(""), rule["probability"])
    dq.check(src, o, (prob < 0) | (prob > 1), "probability_out_of_range",
             lambda r: "Probability (%): probability " + (prob[r.index] * 100).map("{:g}".format)
             + "% is outside 0..100%")
    dq.check(src, o, amt < 0, "negative_amount", "Amount: amount is negative")
    won = rule["is_won"].fillna(False).astype(bool)
    dq.check(src, o, won & o["amount"].eq(""), "won_without_amount",
             "Amount: a won deal has no amount", "warning")
    dq.check(src, o, close < created, "close_before_created",
             "Close Date: the close date is before the created date", "warning")
    dq.check(src, o, o["account"].eq(""), "missing_account",
             "Account Name: the deal has no account", "warning")
    # Owner: a rep id, else the id of the one rep of that name, else kept as written.
    by_name = reps.groupby("name")["rep_id"].agg(["first", "size"])
    named = o["owner"].map(by_name["size"]).fillna(0)
    is_id = o["owner"].isin(reps["rep_id"])
    owner_id = o["owner"].where(is_id | named.ne(1), o["owner"].map(by_name["first"]))
    dq.check(src, o, o["owner"].eq(""), "owner_not_in_reps",
             "Opportunity Owner: the deal has no owner", "warning")
    dq.check(src, o, o["owner"].ne("") & ~is_id & named.eq(0), "owner_not_in_reps",
             lambda r: "Opportunity Owner: " + quoted(r["owner"]) +
             " is neither a rep_id nor a rep name in reps", "warning")
    dq.check(src, o, ~is_id & named.gt(1), "owner_not_in_reps",
             lambda r: "Opportunity Owner: " + quoted(r["owner"]) + " is the name of several reps",
             "warning")
    ok = ~dq.rejected(src, o)
    dq.check(src, o, ok & o["opp_id"].where(ok).duplicated() & o["opp_id"].ne(""), "duplicate_id",
             lambda r: "opportunity '" + r["opp_id"].str[:80] + "' appears twice")
    keep = ~dq.rejected(src, o)
    fc = o["forecast_category"].where(o["forecast_category"].ne(""), rule["forecast_category"])
    opps = pd.DataFrame({"opp_id": o["opp_id"], "name": o["name"], "account": o["account"],
                         "owner_id": owner_id, "stage": o["stage"], "amount": amt / 100,
                         "cents": amt.fillna(0).astype("int64"), "probability": prob,
                         "forecast_category": fc, "close_date": close, "created_date": created,
                         "is_closed": rule["is_closed"].fillna(False).astype(bool),
                         "is_won": won})[keep]
    return opps.reset_index(drop=True)


def load(datadir):
    """opportunities, reps, quotas and the data-quality findings of loading them."""
    log("loading")
    dq = Findings()
    reps = load_reps(datadir, dq)
    quotas = load_quotas(datadir, reps, dq)
    opps = load_opportunities(datadir, reps, dq)
    return opps, reps, quotas, dq.frame()


def job_as_of(datadir):
    with open(os.path.join(datadir, "job.ini"), encoding="utf-8") as f:
        m = re.search(r"^as_of\s*=\s*(\d{4}-\d{2}-\d{2})", f.read(), re.M)
    return pd.Timestamp(m.group(1))


def read_ini(path):
    """An INI file as kpipress's parser reads it: ';' comments, indented continuation lines
    joined with a space, keys case-sensitive."""
    cp = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=(";", "#"),
                                   inline_comment_prefixes=(";",), delimiters=("=",))
    cp.optionxform = str
    cp.read(path, encoding="utf-8")
    return cp


def metric_library(datadir):
    """The metrics of the run in library order: templates/metrics.ini, then the job's
    `metrics = FILE` and its [metric NAME] sections (an override keeps its place)."""
    lib = {}

    def add(cp):
        for sec in cp.sections():
            kind, _, name = sec.partition(" ")
            if kind == "metric" and name.strip():
                lib[name.strip()] = {k: " ".join(v.split("\n")) for k, v in cp[sec].items()}

    add(read_ini(METRICS))
    job = read_ini(os.path.join(datadir, "job.ini"))
    if job.has_option("job", "metrics"):
        add(read_ini(os.path.join(datadir, job.get("job", "metrics"))))
    add(job)
    return pd.DataFrame([{"name": n, "label": m.get("label", n), "format": m.get("format", ""),
                          "definition": m.get("definition", "")} for n, m in lib.items()])


def periods(as_of):
    """previous_month and the month before it, as kpipress resolves them."""
    cur_s = (as_of.to_period("M") - 1).to_timestamp()
    cur_e = cur_s + pd.offsets.MonthEnd(0)
    prev_s = cur_s - pd.DateOffset(months=1)
    return {"current": (cur_s, cur_e), "previous": (prev_s, prev_s + pd.offsets.MonthEnd(0))}


# ---- KPIs --------------------------------------------------------------------------------

def derive(k):
    k["quota"] = k["quota_cents"] / 100.0
    k["bookings"] = k["bookings_cents"] / 100.0
    k["open_pipeline"] = k["open_cents"] / 100.0
    closed = k["deals_won"] + k["deals_lost"]
    k["win_rate"] = (k["deals_won"] / closed).where(closed > 0)
    k["avg_deal_size"] = (k["bookings"] / k["deals_won"]).where(k["deals_won"] > 0)
    k["attainment"] = (k["bookings_cents"] / k["quota_cents"]).where(k["quota_cents"] > 0)
    return k


def kpis(opps, reps, quotas, s, e):
    """Per-rep and company KPIs for one period, one grouped pass each."""
    inp = opps["close_date"].between(s, e)
    closed = opps[inp & opps["is_closed"]]
    won = closed["is_won"]
    g = pd.DataFrame({"owner_id": closed["owner_id"], "won": won.astype(int),
                      "lost": (~won).astype(int),
                      "won_cents": closed["cents"].where(won, 0)})
    d = g.groupby("owner_id").sum()
    o = opps[inp & ~opps["is_closed"]].groupby("owner_id")["cents"].agg(["size", "sum"])
    qp = quotas[quotas["period_start"].between(s, e)]
    qr = qp.groupby("rep_id")["cents"].sum()
    rep = pd.DataFrame(index=reps["rep_id"])
    rep["quota_cents"] = qr.reindex(rep.index).fillna(0).astype("int64")
    rep["bookings_cents"] = d["won_cents"].reindex(rep.index).fillna(0).astype("int64")
    rep["deals_won"] = d["won"].reindex(rep.index).fillna(0).astype("int64")
    rep["deals_lost"] = d["lost"].reindex(rep.index).fillna(0).astype("int64")
    rep["open_cents"] = o["sum"].reindex(rep.index).fillna(0).astype("int64")
    company = {"quota_cents": int(qp["cents"].sum()), "bookings_cents": int(g["won_cents"].sum()),
               "deals_won": int(g["won"].sum()), "deals_lost": int(g["lost"].sum()),
               "open_cents": int(o["sum"].sum())}
    return derive(rep), derive(pd.DataFrame([company])).iloc[0]


def monthly(opps, quotas, end, n):
    """Quota and bookings per month for the n months ending with end's month, by rep."""
    first = (end - pd.DateOffset(months=n - 1)).to_period("M").to_timestamp()
    months = pd.date_range(first, periods=n, freq="MS")
    w = opps[opps["is_won"] & (opps["close_date"] >= first) & (opps["close_date"] <= end)]
    b = w.groupby([w["owner_id"], w["close_date"].dt.to_period("M").dt.to_timestamp()])["cents"].sum()
    q = quotas.groupby([quotas["rep_id"], quotas["period_start"].dt.to_period("M").dt.to_timestamp()])["cents"].sum()
    b.index.names = q.index.names = ["rep_id", "month"]
    return months, b, q


# ---- the other board-pack tables --------------------------------------------------------

def pipeline(opps, s, e):
    """Open deals by stage and by forecast category: count, amount, amount x probability
    (the CRM's, else the stage's), amount due in the period; one grouped pass each."""
    o = opps[~opps["is_closed"]]
    base = pd.DataFrame({"stage": o["stage"], "category": o["forecast_category"].fillna("(none)"),
                         "cents": o["cents"],
                         "weighted_cents": o["cents"] * o["probability"].fillna(0),
                         "due_cents": o["cents"].where(o["close_date"].between(s, e), 0),
                         "p": o["probability"].fillna(0)})
    sums = dict(deals=("cents", "size"), cents=("cents", "sum"),
                weighted_cents=("weighted_cents", "sum"), due_cents=("due_cents", "sum"))
    stage = base.groupby("stage").agg(**sums, p=("p", "mean")).reset_index()
    stage = stage.sort_values(["p", "stage"])
    cat = base.groupby("category").agg(**sums).reset_index()
    cat["ord"] = cat["category"].map(FORECAST_ORDER).fillna(5)
    cat = cat.sort_values(["ord", "category"])
    for t in (stage, cat):
        t["amount"] = t["cents"] / 100.0
        t["weighted"] = t["weighted_cents"] / 100.0
        t["due_in_period"] = t["due_cents"] / 100.0
    return stage, cat


def top_deals(opps, reps, mask, n=20):
    """The n largest deals where mask holds (ties by id), with the owner's name."""
    t = opps[mask].sort_values(["amount", "opp_id"], ascending=[False, True],
                               na_position="last").head(n)
    return t.assign(owner=t["owner_id"].map(reps.set_index("rep_id")["name"]))


def dq_summary(dq):
    """Findings by source, rule and severity: count, first line, an example message."""
    g = dq.groupby(["source", "rule", "severity"]).agg(
        findings=("line", "size"), first_line=("line", "min"), example=("message", "min"))
    return g.reset_index().sort_values(["source", "severity", "rule"])


# ---- forecasts (README "Forecasts": the same definitions as src/forecast*.c) -----------------

NONE = "(none)"       # the member name of a missing team, region, manager or owner
SEASON = 12           # months in a season
MIN_POINTS = 4        # shorter series get a labelled fallback
SEASONAL_MIN = 24     # two full seasons before a seasonal model is tried
Z80 = 1.2815515655446004  # standard normal quantile 0.9: an 80% two-sided interval


def forecast_settings(datadir):
    """[forecast] of the job (horizon, runs, seed, min_sample) with kpipress's defaults, and
    the fiscal year's first month."""
    job = read_ini(os.path.join(datadir, "job.ini"))
    get = lambda sec, key, d: int(job.get(sec, key, fallback=str(d)).split()[0])
    return {"horizon": get("forecast", "horizon", 6), "runs": get("forecast", "runs", 10000),
            "seed": get("forecast", "seed", 1), "min_sample": get("forecast", "min_sample", 20),
            "fy_start": get("job", "fiscal_year_start", 1)}


def month_no(d):
    """Months as one number (year * 12 + month - 1), as src/forecast_series.c counts them."""
    return d.dt.year * 12 + d.dt.month - 1


def month_ts(m):
    return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)


def bookings_series(opps, reps, as_of, only_reps=None):
    """The monthly bookings series kpipress forecasts: the company, each region and team
    (the sum of their people's months from the earliest one's start) and each active rep
    (from hiring or their first deal, whichever is earlier), up to the month before the
    as-of month. [(dimension, member, values in currency units)]; only_reps: just the
    series of these reps."""
    cutoff = as_of.to_period("M").to_timestamp()
    last = as_of.year * 12 + as_of.month - 2
    owner = opps["owner_id"].replace("", NONE)
    both = pd.concat([opps["created_date"].where(opps["created_date"] < cutoff),
                      opps["close_date"].where(opps["close_date"] < cutoff)])
    first_data = month_no(both.groupby(pd.concat([owner, owner])).min())
    won = opps["is_won"] & (opps["close_date"] < cutoff) & opps["amount"].notna()
    cents = opps["cents"][won].groupby([owner[won], month_no(opps["close_date"][won])]).sum()
    first = int(cents.index.get_level_values(1).min()) if len(cents) else last + 1
    r = reps.set_index("rep_id")
    o = pd.DataFrame({"team": r["team"], "region": r["region"], "active": r["active"],
                      "hire": month_no(r["hire_date"])})
    extra = first_data.index.difference(o.index)
    o = pd.concat([o, pd.DataFrame({"team": NONE, "region": NONE, "active": True,
                                    "hire": np.nan}, index=extra)]).sort_index()
    o[["team", "region"]] = o[["team", "region"]].replace("", NONE)
    start = pd.concat([o["hire"], first_data.reindex(o.index)], axis=1).min(axis=1)
    start = start.clip(lower=first).where(start <= last)  # NaN: no series
    span = max(last - first + 1, 0)
    m = (cents.unstack(fill_value=0).reindex(index=o.index, columns=range(first, last + 1),
                                             fill_value=0).to_numpy(dtype="int64")
         if span else np.zeros((len(o), 0), dtype="int64"))

    def values(row, s):
        return np.empty(0) if pd.isna(s) else row[int(s) - first:] / 100.0

    out = []
    if only_reps is None:
        out.append(("company", "All", values(m.sum(axis=0), first if span else np.nan)))
        for dim in ("region", "team"):
            has = start.notna().to_numpy()
            for name in sorted(o[dim].unique()):
                sel = (o[dim] == name).to_numpy() & has
                out.append((dim, name, values(m[sel].sum(axis=0),
                                              start[sel].min() if sel.any() else np.nan)))
    keep = o["active"].astype(bool)
    if only_reps is not None:
        keep &= o.index.isin(only_reps)
    for i in np.flatnonzero(keep.to_numpy()):
        out.append(("rep", o.index[i], values(m[i], start.iloc[i])))
    return out, last


def point_forecast(method, y, h):
    """Point forecasts, the one-step residual sigma and the fitted smoothing parameters
    (statsmodels' dict; None for the simple methods) of a method fitted to y, or None when
    the fit fails. Smoothing methods are fitted by statsmodels (parameters and initial
    states estimated by minimising squared one-step errors); the simple ones by hand."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing, Holt, SimpleExpSmoothing
    n = len(y)
    params = None
    if method in SMOOTHING:
        try:
            if method == "ses":
                model = SimpleExpSmoothing(y, initialization_method="estimated")
            elif method in ("holt", "holt_damped"):
                model = Holt(y, damped_trend=method == "holt_damped",
                             initialization_method="estimated")
            else:
                model = ExponentialSmoothing(
                    y, trend="add", seasonal="mul" if method.endswith("multiplicative") else "add",
                    seasonal_periods=SEASON, initialization_method="estimated")
            res = model.fit()
            fc, sigma = np.asarray(res.forecast(h), dtype=float), np.sqrt(res.sse / n)
            params = res.params
        except Exception:  # a fit statsmodels cannot do: the method fails here
            return None
    elif method == "seasonal_naive":
        fc = y[n - SEASON + np.arange(h) % SEASON]
        sigma = np.sqrt(np.mean((y[SEASON:] - y[:-SEASON]) ** 2)) if n > SEASON else 0.0
    elif method in ("drift", "naive"):
        slope = (y[-1] - y[0]) / (n - 1) if method == "drift" and n > 1 else 0.0
        fc = y[-1] + slope * np.arange(1, h + 1)
        sigma = np.sqrt(np.mean((np.diff(y) - slope) ** 2)) if n > 1 else 0.0
    else:  # mean and zero fallbacks
        level = 0.0 if method == "zero" or n == 0 else y.mean()
        fc = np.full(h, level)
        sigma = np.sqrt(np.mean((y - level) ** 2)) if n else 0.0
    if not (np.isfinite(fc).all() and np.isfinite(sigma)):
        return None
    return fc, sigma, params


def variance_factors(method, params, n, h):
    """Each method's k-step forecast variance in units of the one-step sigma^2, k = 1..h
    (README "Forecasts"): the mean 1 + 1/T, naive k, seasonal naive whole seasons ahead,
    drift k(1 + k/T) (Hyndman & Athanasopoulos, FPP3 table 5.2; T the months); the
    smoothing methods 1 + sum of c_j^2 over j < k, c_j = alpha + alpha beta (phi + ... +
    phi^j) + gamma when j is a whole number of seasons (Hyndman et al. 2008, class 1, in
    statsmodels' Holt-Winters parameters; for the multiplicative model an approximation)."""
    k = np.arange(1, h + 1, dtype=float)
    t = float(max(n, 1))
    if method == "zero":
        return np.ones(h)
    if method == "mean":
        return np.full(h, 1.0 + 1.0 / t)
    if method == "naive":
        return k
    if method == "seasonal_naive":
        return np.floor((k - 1) / SEASON) + 1
    if method == "drift":
        return k * (1.0 + k / t)

    def par(name, default):
        v = params.get(name) if params is not None else None
        return default if v is None or not np.isfinite(v) else float(v)

    alpha = par("smoothing_level", 0.0)
    beta = alpha * par("smoothing_trend", 0.0) if method != "ses" else 0.0
    gamma = par("smoothing_seasonal", 0.0) if method.startswith("holt_winters") else 0.0
    phi = par("damping_trend", 1.0) if method == "holt_damped" else 1.0
    out, v, phi_j, pk = [1.0], 1.0, 0.0, 1.0
    for j in range(1, h):
        pk *= phi
        phi_j += pk
        c = alpha + beta * phi_j + (gamma if j % SEASON == 0 else 0.0)
        v += c * c
        out.append(v)
    return np.asarray(out)


SMOOTHING = ("ses", "holt", "holt_damped", "holt_winters_additive", "holt_winters_multiplicative")


def backtest(method, y, h, min_train):
    """Rolling origins every 3 months over the last 12 (none with fewer than min_train
    months behind it), min(h, months left) ahead: (WAPE, MASE), None when a fit failed."""
    n, err, act, cnt = len(y), 0.0, 0.0, 0
    for back in (12, 9, 6, 3):
        if back >= n or n - back < min_train:
            continue
        o, hh = n - back, min(h, back)
        r = point_forecast(method, y[:o], hh)
        if r is None:
            return None
        e = np.abs(y[o:o + hh] - r[0])
        err, act, cnt = err + e.sum(), act + np.abs(y[o:o + hh]).sum(), cnt + hh
    if cnt == 0:
        return None
    lag = SEASON if n > SEASON else 1
    scale = np.mean(np.abs(y[lag:] - y[:-lag]))
    mase = err / cnt / scale if scale > 0 else None
    return (err / act if act > 0 else (1.0 if err > 0 else 0.0)), mase


def forecast_auto(y, h):
    """kpipress's automatic choice: labelled fallbacks for empty, all-zero and short series;
    else the candidate with the lowest rolling-origin WAPE (seasonal candidates only from
    27 months, multiplicative only for positive series). Returns a dict with value, lower,
    upper (80% interval) and method, chosen_because, wape, mase, fallback."""
    n = len(y)

    def result(method, because, wape=None, mase=None, fallback=1):
        fc, sigma, params = point_forecast(method, y, h)
        w = Z80 * sigma * np.sqrt(variance_factors(method, params, n, h))
        lower = fc - w
        if n == 0 or (y >= 0).all():
            lower = np.maximum(lower, 0.0)
        return {"value": fc, "lower": lower, "upper": fc + w, "method": method,
                "chosen_because": because, "wape": wape, "mase": mase, "fallback": fallback}

    if n == 0:
        return result("zero", "fallback: no data")
    if (y == 0).all():
        return result("zero", "fallback: all months zero")
    if n < MIN_POINTS:
        return result("mean", f"fallback: {n} months, fewer than {MIN_POINTS}")
    seasonal = n >= SEASONAL_MIN + 3
    cands = ((["seasonal_naive"] if seasonal else []) + ["drift", "ses", "holt", "holt_damped"]
             + (["holt_winters_additive"] if seasonal else [])
             + (["holt_winters_multiplicative"] if seasonal and (y > 0).all() else []))
    best, tried = None, 0
    for m in cands:
        r = backtest(m, y, max(h, 1), SEASONAL_MIN if seasonal else MIN_POINTS)
        if r is None:
            continue
        tried += 1
        if best is None or r[0] < best[1] - 1e-12:
            best = (m, *r)
    if best is None:
        return result("naive", f"fallback: {n} months, too few for a backtest")
    if point_forecast(best[0], y, h) is None:
        return result("naive", "fallback: chosen method failed on the full series")
    why = "seasonal tried" if seasonal else "under 27 months: no seasonal model"
    return result(best[0], f"lowest backtest WAPE {best[1]:.4f} of {tried} methods ({why})",
                  best[1], best[2], 0)


def _forecast_one(args):
    return forecast_auto(*args)


def bookings_forecasts(opps, reps, as_of, horizon, only_reps=None):
    """Every series' forecast, one row per series and month ahead (kpipress's forecast
    table). The series are independent: they are fitted on one process per core, as
    kpipress fits them on one thread per core."""
    import concurrent.futures
    import multiprocessing
    import warnings
    import statsmodels.tsa.holtwinters  # noqa: F401 (first: importing it resets warning filters)
    warnings.simplefilter("ignore")  # convergence and start-value warnings of the fits
    series, last = bookings_series(opps, reps, as_of, only_reps)
    log(f"forecasting bookings {horizon} months ahead for {len(series)} series")
    jobs = [(y, horizon) for _, _, y in series]
    workers = min(os.cpu_count() or 1, max(len(jobs), 1))
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork")) as ex:
            results = list(ex.map(_forecast_one, jobs, chunksize=4))
    else:
        results = [_forecast_one(j) for j in jobs]
    months = [month_ts(last + 1 + k) for k in range(horizon)]
    rows = []
    for (dim, member, _), r in zip(series, results):
        rows.append(pd.DataFrame({
            "dimension": dim, "member": member, "period_start": months,
            "period_end": [m + pd.offsets.MonthEnd(0) for m in months],
            "value": r["value"], "lower": r["lower"], "upper": r["upper"],
            "method": r["method"], "chosen_because": r["chosen_because"],
            "wape": r["wape"], "mase": r["mase"], "fallback": r["fallback"]}))
    if not rows:  # a burst without reps
        return pd.DataFrame(columns=["dimension", "member", "period_start", "value", "lower",
                                     "upper", "method"])
    return pd.concat(rows, ignore_index=True)


# The pipeline forecast (src/forecast_pipeline.c): grains, date buckets and dimensions.
GRAINS = ("month", "fiscal_quarter", "next_fiscal_quarter")
# Each deal lands in one bucket of its rep: the as-of month, the rest of the fiscal
# quarter, the next fiscal quarter; a grain is a union of buckets.
BUCKET_GRAINS = pd.DataFrame({"bucket": [0, 0, 1, 2], "grain": [0, 1, 1, 2]})
DIMS = ("company", "region", "team", "manager", "rep")


def forecast_periods(as_of, fy_start):
    """(start, end) of the as-of month, the fiscal quarter containing it and the next one."""
    ms = as_of.to_period("M").to_timestamp()
    qs = ms - pd.DateOffset(months=(as_of.month - fy_start) % 3)
    ns = qs + pd.DateOffset(months=3)
    return [(ms, ms + pd.offsets.MonthEnd(0)), (qs, ns - pd.Timedelta(days=1)),
            (ns, ns + pd.DateOffset(months=3) - pd.Timedelta(days=1))]


def stage_win_rates(current, earlier, min_sample):
    """Each open stage's win probability and its source. Learned (won / closed) from the
    deals an earlier snapshot showed open in the stage, by their latest known outcome,
    when at least min_sample of them have closed; else the stage rule's probability; else
    the mean CRM probability of its open deals; else none. earlier: the opportunities of
    earlier loads, oldest first (a one-export job has none, so nothing is learned)."""
    cur_open = current[~current["is_closed"]]
    stages = sorted(set(STAGES.index[~STAGES["is_closed"]]) | set(cur_open["stage"]))
    learned = pd.DataFrame(columns=["n", "won"], dtype="int64")
    if earlier:
        was = pd.concat([e.loc[~e["is_closed"], ["stage", "opp_id"]] for e in earlier])
        was = was.drop_duplicates()
        outcome = (pd.concat(list(earlier) + [current])[["opp_id", "is_closed", "is_won"]]
                   .drop_duplicates("opp_id", keep="last").set_index("opp_id"))
        j = was.join(outcome, on="opp_id")
        j = j[j["is_closed"].fillna(False).astype(bool)]
        learned = j.groupby("stage")["is_won"].agg(n="size", won="sum")
    cur = cur_open.groupby("stage")["probability"].agg(open_deals="size", crm_p="mean")
    w = pd.DataFrame(index=pd.Index(stages, name="stage"))
    w["closed_sample"] = learned["n"].reindex(w.index).fillna(0).astype("int64")
    w["won"] = learned["won"].reindex(w.index).fillna(0).astype("int64")
    w["open_deals"] = cur["open_deals"].reindex(w.index).fillna(0).astype("int64")
    rule_p = STAGES["probability"].reindex(w.index)
    crm_p = cur["crm_p"].reindex(w.index)
    w["source"] = np.select([w["closed_sample"] >= min_sample, rule_p.notna(), crm_p.notna()],
                            ["learned", "configured", "crm"], "none")
    w["probability"] = np.select(
        [w["source"] == "learned", w["source"] == "configured", w["source"] == "crm"],
        [w["won"] / w["closed_sample"].clip(lower=1), rule_p, crm_p], 0.0)
    return w


def category_kind(fc):
    """Salesforce's categories (also as HubSpot writes them): 'commit' (Commit, and an open
    deal marked Closed), 'best_case', 'omitted'; anything else is Pipeline."""
    k = fc.fillna("").str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
    return np.select([(k == "commit") | k.str.startswith("closed"), k == "bestcase",
                      k.isin(["omitted", "omit", "notforecasted"])],
                     ["commit", "best_case", "omitted"], "pipeline")


def pipeline_forecast(opps, reps, quotas, as_of, st, earlier=()):
    """forecast_pipeline: per dimension member and grain the closed amount, the Salesforce
    roll-ups, the expected amount, Monte Carlo P10/P50/P90 and the chance of reaching the
    quota (cents; p_quota a share). Also returns the stage win rates."""
    import scipy.sparse
    per = forecast_periods(as_of, st["fy_start"])
    (ms, me), (qs, qe), (ns, ne) = per
    rates = stage_win_rates(opps, list(earlier), st["min_sample"])
    # the organisation: every rep, plus owners and quota holders missing from reps
    r = reps.set_index("rep_id")
    leaves = pd.DataFrame({"region": r["region"], "team": r["team"], "manager": r["manager_id"]})
    owner = opps["owner_id"].replace("", NONE)
    qrep = quotas.loc[quotas["period_start"].between(qs, ne), "rep_id"]
    extra = pd.Index(owner).union(pd.Index(qrep)).difference(leaves.index)
    leaves = pd.concat([leaves, pd.DataFrame({"region": NONE, "team": NONE, "manager": NONE},
                                             index=extra)]).sort_index()
    leaves = leaves.replace("", NONE)
    leaves["company"] = "All"
    leaves["rep"] = leaves.index
    leaf_no = pd.Series(np.arange(len(leaves)), index=leaves.index)

    # the deals counting in the three grains, by opp_id: open ones due by the end of the
    # next quarter (overdue ones in the as-of month) unless Omitted (Salesforce leaves them
    # out of the forecast), won ones closing from the quarter on
    cd = opps["close_date"]
    is_open = ~opps["is_closed"]
    omitted = pd.Series(category_kind(opps["forecast_category"]) == "omitted", index=opps.index)
    sel = cd.notna() & ((is_open & ~omitted & (cd <= ne)) |
                        (opps["is_won"] & cd.between(qs, ne)))
    d = opps[sel].sort_values("opp_id")
    cd, is_open = d["close_date"], ~d["is_closed"]
    bucket = np.where(cd <= qe, 1, 2)
    bucket = np.where(np.where(is_open, cd <= me, cd.between(ms, me)), 0, bucket)
    src = d["stage"].map(rates["source"])
    p = d["stage"].map(rates["probability"]).where(src != "crm", d["probability"])
    p = p.where(src != "none")
    if (is_open & p.isna()).any():
        log(f"forecast: {int((is_open & p.isna()).sum())} open deals have no win probability: "
            "counted with probability 0")
    p = p.fillna(0.0).where(is_open, 0.0)
    cat = category_kind(d["forecast_category"])
    cents = d["cents"].where(is_open, 0)
    lb = pd.DataFrame({"leaf": owner[d.index].map(leaf_no).to_numpy(), "bucket": bucket,
                       "closed": d["cents"].where(~is_open, 0).to_numpy(),
                       "commit": cents.where(cat == "commit", 0).to_numpy(),
                       "best_case": cents.where(cat == "best_case", 0).to_numpy(),
                       "pipeline": cents.where(cat == "pipeline", 0).to_numpy(),
                       "open_deals": is_open.astype("int64").to_numpy(),
                       "expected": (cents * p).to_numpy()})
    open_lb = lb[is_open.to_numpy()]
    amounts, probs = d["cents"][is_open].to_numpy(dtype=float), p[is_open].to_numpy()
    log(f"forecasting {len(amounts)} open deals ({st['runs']} Monte Carlo runs)")
    lb = lb.groupby(["leaf", "bucket"]).sum()
    full = pd.MultiIndex.from_product([range(len(leaves)), range(3)], names=["leaf", "bucket"])
    lb = lb.reindex(full, fill_value=0).reset_index()

    # Monte Carlo: each open deal closes with its probability in each run. Simulated
    # totals are kept per rep and bucket (the simulation groups); runs in chunks of about
    # 16 MB of draws.
    gkey = open_lb["leaf"].to_numpy() * 3 + open_lb["bucket"].to_numpy()
    groups, gid = np.unique(gkey, return_inverse=True)
    order = np.argsort(gid, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(gid[order]) != 0]) if len(order) else order
    runs = st["runs"]
    totals = np.zeros((len(groups), runs))  # group x run
    if len(order):
        rng = np.random.default_rng(st["seed"])
        a, pr = amounts[order], probs[order]
        chunk = max(1, (16 << 20) // (8 * len(a)))
        for r0 in range(0, runs, chunk):
            k = min(chunk, runs - r0)
            won = rng.random((k, len(a))) < pr
            totals[:, r0:r0 + k] = np.add.reduceat(won * a, starts, axis=1).T
    lb["gid"] = pd.Series(np.arange(len(groups)), index=groups).reindex(
        lb["leaf"] * 3 + lb["bucket"]).fillna(-1).astype(int).to_numpy()

    # quota rows lying wholly inside each grain
    q = quotas[quotas["period_start"].between(qs, ne)]
    qrows = []
    for g, (gs, ge) in enumerate(per):
        inside = q[(q["period_start"] >= gs) & (q["period_end"] <= ge)]
        s = inside.groupby("rep_id")["cents"].sum()
        qrows.append(pd.DataFrame({"leaf": leaf_no[s.index].to_numpy(), "grain": g,
                                   "quota": s.to_numpy()}))
    quota = pd.concat(qrows, ignore_index=True)

    lbg = lb.merge(BUCKET_GRAINS, on="bucket")
    out = []
    for dim in DIMS:
        member = leaves[dim].to_numpy()
        x = lbg.assign(member=member[lbg["leaf"]])
        cells = x.groupby(["member", "grain"])[["closed", "commit", "best_case", "pipeline",
                                                 "open_deals", "expected"]].sum()
        qm = quota.assign(member=member[quota["leaf"]]).groupby(["member", "grain"])["quota"].sum()
        cells["quota"] = qm.reindex(cells.index)
        # each cell's simulated totals: the sum of its groups' columns
        cell_no = pd.Series(np.arange(len(cells)), index=cells.index)
        sim_rows = x[x["gid"] >= 0]
        cols = cell_no[pd.MultiIndex.from_frame(sim_rows[["member", "grain"]])].to_numpy()
        m = scipy.sparse.csr_matrix((np.ones(len(sim_rows)), (cols, sim_rows["gid"].to_numpy())),
                                    shape=(len(cells), len(groups)))
        closed = cells["closed"].to_numpy(dtype=float)
        rnd = lambda v: np.floor(v + 0.5).astype("int64")  # llround of non-negative cents
        qv = cells["quota"].to_numpy(dtype=float)
        hit, mean, pct = np.zeros(len(cells)), np.zeros(len(cells)), np.zeros((3, len(cells)))
        for c0 in range(0, len(cells), 64):  # 64 cells' runs at a time: 5 MB at 10,000 runs
            c1 = min(c0 + 64, len(cells))
            sim = m[c0:c1] @ totals if len(groups) else np.zeros((c1 - c0, runs))  # cell x run
            hit[c0:c1] = (sim >= (qv[c0:c1] - closed[c0:c1])[:, None]).mean(axis=1)
            mean[c0:c1] = sim.mean(axis=1)
            pct[:, c0:c1] = np.percentile(sim, [10, 50, 90], axis=1, overwrite_input=True)
        cells["p_quota"] = np.where(np.isnan(qv), np.nan, hit)
        cells["mean_cents"] = cells["closed"] + rnd(mean)
        cells["commit_total"] = cells["commit"] + cells["closed"]
        cells["best_case_total"] = cells["best_case"] + cells["commit_total"]
        cells["expected_cents"] = cells["closed"] + rnd(cells["expected"].to_numpy())
        for name, v in zip(("p10", "p50", "p90"), pct):
            cells[name] = cells["closed"] + rnd(v)
        out.append(cells.reset_index().assign(dimension=dim))
    fp = pd.concat(out, ignore_index=True)
    fp["period_start"] = fp["grain"].map(lambda g: per[g][0])
    fp["period_end"] = fp["grain"].map(lambda g: per[g][1])
    fp["grain"] = fp["grain"].map(dict(enumerate(GRAINS)))
    return fp, rates


def forecast_tables(fp, fc, trend, quotas):
    """The Forecast sheet's four tables from the forecasts, as board-pack.ini selects them."""
    label = {"month": "Month ", "fiscal_quarter": "Quarter ", "next_fiscal_quarter": "Next quarter "}
    c = fp[fp["dimension"] == "company"].copy()
    c["ord"] = c["grain"].map({g: i for i, g in enumerate(GRAINS)})
    c = c.sort_values("ord")
    c["period"] = (c["grain"].map(label) + c["period_start"].dt.strftime("%Y-%m-%d") + " to "
                   + c["period_end"].dt.strftime("%Y-%m-%d"))

    def money(t):
        for col, src in (("closed", "closed"), ("commit_total", "commit_total"),
                         ("best_case", "best_case_total"), ("pipeline", "pipeline"),
                         ("expected", "expected_cents"), ("p10", "p10"), ("p50", "p50"),
                         ("p90", "p90"), ("quota", "quota")):
            t[col] = t[src] / 100.0
        return t

    landing = money(c)
    rg = fp[(fp["dimension"] == "region") & (fp["grain"] == "fiscal_quarter")]
    rg = rg[(rg["open_deals"] > 0) | (rg["closed"] > 0) | (rg["quota"] > 0)]
    regions = money(rg.rename(columns={"member": "region"}).sort_values("region").copy())
    co = fc[fc["dimension"] == "company"]
    actual = trend[trend["month"] < co["period_start"].min()].tail(12)
    q = quotas.groupby("period_start")["cents"].sum()
    fq = [q[(q.index >= s) & (q.index <= e)] for s, e in zip(co["period_start"], co["period_end"])]
    fut = pd.DataFrame({"month": co["period_start"].to_numpy(),
                        "forecast": co["value"].round(2).to_numpy(),
                        "low": co["lower"].round(2).to_numpy(), "high": co["upper"].round(2).to_numpy(),
                        "quota": [x.sum() / 100.0 if len(x) else np.nan for x in fq]})
    ftrend = pd.concat([actual[["month", "bookings", "quota"]], fut], ignore_index=True)
    method = (co.groupby(["method", "chosen_because", "wape", "mase"], dropna=False)
              .agg(first_month=("period_start", "min"), months=("period_start", "size"))
              .reset_index())
    return landing, regions, ftrend, method


# ---- workbook ----------------------------------------------------------------------------

def write_table(ws, wb, fmt, row, name, caption, cols, df, rag=None, ratio=None, first=True,
                rag_at=(0.8, 1.0)):
    """A table as kpipress lays it out: caption, header, rows, a totals row (SUBTOTAL
    formulas, ratio of the totals) when it has rows and totals, a blank row; rag: a column
    coloured red below lo, amber up to hi, green from hi (rag_at: (lo, hi)). The sheet's
    first table gets the frozen header, the autofilter and the printed title rows; a table
    with rows gets the defined name tbl_NAME. cols: [(column, label, format, total)].
    Returns the header row, the last data row and the next free row."""
    ws.write(row, 0, caption, fmt["caption"])
    hdr = row + 1
    for c, (_, label, _, _) in enumerate(cols):
        ws.write(hdr, c, label, fmt["header"])
    letters = {col: chr(ord("A") + i) for i, (col, _, _, _) in enumerate(cols)}
    values = {col: df[col].to_numpy() for col, _, _, _ in cols}
    n = len(df)
    for c, (col, _, kind, _) in enumerate(cols):
        f = fmt.get(kind)
        vals = values[col]
        for r in range(n):
            v = vals[r]
            xr = hdr + 1 + r
            if ratio and col == ratio[0]:
                num, den = letters[ratio[1]], letters[ratio[2]]
                ws.write_formula(xr, c, f'=IF({den}{xr + 1}=0,"",{num}{xr + 1}/{den}{xr + 1})', f,
                                 "" if pd.isna(v) else float(v))
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                continue
            elif kind == "date":
                ws.write_datetime(xr, c, pd.Timestamp(v).to_pydatetime(), f)
            elif isinstance(v, str):
                ws.write_string(xr, c, v, f)
            else:
                ws.write_number(xr, c, float(v), f)
    last = hdr + n if n else hdr
    if first:
        ws.freeze_panes(hdr + 1, 0)
        ws.autofilter(hdr, 0, last, len(cols) - 1)
        ws.repeat_rows(hdr)
    nxt = last + 2
    if n and (ratio or any(how for _, _, _, how in cols)):
        total = last + 1
        nxt = total + 2
        ws.write(total, 0, "Total", fmt["total"])
        for c, (col, _, kind, how) in enumerate(cols):
            L = letters[col]
            if how == "sum":
                ws.write_formula(total, c, f"=SUBTOTAL(109,{L}{hdr + 2}:{L}{last + 1})",
                                 fmt[kind + "_total"], float(np.nansum(values[col])))
            elif ratio and col == ratio[0]:
                num, den = letters[ratio[1]], letters[ratio[2]]
                tn, td = np.nansum(values[ratio[1]]), np.nansum(values[ratio[2]])
                ws.write_formula(total, c, f'=IF({den}{total + 1}=0,"",{num}{total + 1}/{den}{total + 1})',
                                 fmt[kind + "_total"], float(tn / td) if td else "")
    if rag and n:
        L = letters[rag]
        rng = f"{L}{hdr + 2}:{L}{last + 1}"
        ws.conditional_format(rng, {"type": "formula", "criteria": f"=NOT(ISNUMBER({L}{hdr + 2}))",
                                    "stop_if_true": True})
        lo, hi = rag_at
        ws.conditional_format(rng, {"type": "cell", "criteria": ">=", "value": hi, "format": fmt["green"]})
        ws.conditional_format(rng, {"type": "cell", "criteria": "<", "value": lo, "format": fmt["red"]})
        ws.conditional_format(rng, {"type": "cell", "criteria": "between", "minimum": lo,
                                    "maximum": hi, "format": fmt["amber"]})
    if n:
        wb.define_name("tbl_" + name, f"='{ws.get_name()}'!$A${hdr + 2}:"
                                      f"${chr(ord('A') + len(cols) - 1)}${last + 1}")
    return hdr, last, nxt


def insert_chart(wb, ws, row, kind, title, hdr, last, cat, series):
    """A native chart of a written table at column A of `row`, as kpipress places one;
    series named by their header cells. A table without rows gets no chart, but its place
    is kept. Returns the row after the chart (16 rows: a default chart and a gap)."""
    if last == hdr:
        return row + 16
    chart = wb.add_chart({"type": kind})
    name = ws.get_name()
    for col in series:
        chart.add_series({"name": [name, hdr, col], "categories": [name, hdr + 1, cat, last, cat],
                          "values": [name, hdr + 1, col, last, col]})
    chart.set_title({"name": title})
    chart.set_legend({"position": "bottom" if len(series) > 1 else "none"})
    ws.insert_chart(row, 0, chart, {"description": title})
    return row + 16


def board_pack(datadir, out, series_csv=None):
    import xlsxwriter
    opps, reps, quotas, dq = load(datadir)
    as_of = job_as_of(datadir)
    per = periods(as_of)
    log("computing KPIs")
    k = {name: kpis(opps, reps, quotas, s, e) for name, (s, e) in per.items()}
    cur_rep, cur = k["current"]
    _, prev = k["previous"]
    ps, pe = per["current"]
    months, b, q = monthly(opps, quotas, pe, 24)
    trend = pd.DataFrame({"month": months,
                          "quota_cents": q.groupby(level="month").sum().reindex(months).fillna(0).to_numpy(),
                          "bookings_cents": b.groupby(level="month").sum().reindex(months).fillna(0).to_numpy()})
    trend["quota"] = trend["quota_cents"] / 100.0
    trend["bookings"] = trend["bookings_cents"] / 100.0
    trend["attainment"] = (trend["bookings_cents"] / trend["quota_cents"]).where(trend["quota_cents"] > 0)
    att = cur_rep[cur_rep["quota_cents"] > 0].join(reps.set_index("rep_id")).reset_index()
    att = att.rename(columns={"name": "rep"}).sort_values(
        ["attainment", "rep", "rep_id"], ascending=[False, True, True], na_position="last")
    att["reps"] = 1
    att["at_quota"] = (att["attainment"] >= 1.0).astype(int)

    def by(col):
        g = att.groupby(col).agg(reps=("reps", "sum"), quota_cents=("quota_cents", "sum"),
                                 bookings_cents=("bookings_cents", "sum"),
                                 reps_at_quota=("at_quota", "sum")).reset_index()
        g["quota"] = g["quota_cents"] / 100.0
        g["bookings"] = g["bookings_cents"] / 100.0
        g["attainment"] = (g["bookings_cents"] / g["quota_cents"]).where(g["quota_cents"] > 0)
        return g.sort_values(col)

    teams, regions = by("team"), by("region")
    by_stage, by_forecast = pipeline(opps, ps, pe)
    top_won = top_deals(opps, reps, opps["is_won"] & opps["close_date"].between(ps, pe))
    top_open = top_deals(opps, reps, ~opps["is_closed"])
    findings = dq_summary(dq)
    definitions = metric_library(datadir)
    st = forecast_settings(datadir)
    fc = bookings_forecasts(opps, reps, as_of, st["horizon"])
    fp, _ = pipeline_forecast(opps, reps, quotas, as_of, st)
    if series_csv:  # every series' forecast, for compare_xlsx.py --series
        fc.assign(as_of=as_of).to_csv(series_csv, index=False, date_format="%Y-%m-%d")
    landing, landing_regions, forecast_trend, forecast_method = forecast_tables(fp, fc, trend, quotas)

    log("rendering 1 documents")
    label = ps.strftime("%B %Y")
    wb = xlsxwriter.Workbook(out + ".tmp", {"in_memory": False})
    wb.set_properties({"title": f"Board pack - {label}", "author": "kpipress",
                       "created": as_of.to_pydatetime()})
    fmt = {"caption": wb.add_format({"bold": True, "font_size": 12}),
           "title": wb.add_format({"bold": True, "font_size": 16}),
           "header": wb.add_format({"bold": True, "bg_color": "#D9E1F2", "bottom": 1,
                                    "text_wrap": True, "valign": "top"}),
           "total": wb.add_format({"bold": True, "top": 1}),
           "red": wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
           "amber": wb.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"}),
           "green": wb.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"})}
    for kind, nf in (("currency", '"$"#,##0.00'), ("percent", "0.0%"), ("count", "#,##0"),
                     ("date", "yyyy-mm-dd"), ("ratio", '0.00"x"'), ("text", None)):
        fmt[kind] = wb.add_format({"num_format": nf} if nf else {})
        fmt[kind + "_total"] = wb.add_format({"num_format": nf, "bold": True, "top": 1} if nf
                                             else {"bold": True, "top": 1})

    ws = wb.add_worksheet("Summary")
    ws.write(0, 0, f"Board pack - {label}", fmt["title"])
    qs, qe = per["previous"]
    ws.write(2, 0, f"Period {ps:%Y-%m-%d} to {pe:%Y-%m-%d}, as of {as_of:%Y-%m-%d}. Changes "
                   f"compare with {qs:%Y-%m-%d} to {qe:%Y-%m-%d}. Amounts in USD.")
    for c, h in enumerate(["Metric", "Value", "vs previous period", "Target"]):
        ws.write(4, c, h, fmt["header"])
    tiles = [("Bookings", "currency", cur["bookings"], prev["bookings"], cur["quota"]),
             ("Quota attainment", "percent", cur["attainment"], prev["attainment"], 1.0),
             ("Win rate", "percent", cur["win_rate"], prev["win_rate"], None),
             ("Average deal size", "currency", cur["avg_deal_size"], prev["avg_deal_size"], None),
             ("Deals won", "count", cur["deals_won"], prev["deals_won"], None),
             ("Open pipeline due in period", "currency", cur["open_pipeline"], None, None)]
    for r, (lab, kind, *vals) in enumerate(tiles, start=5):
        ws.write_string(r, 0, lab)
        for c, v in enumerate(vals, start=1):
            if v is not None and not pd.isna(v):
                ws.write_number(r, c, float(v), fmt[kind])
    ws.set_column(0, 0, 30)
    ws.set_column(1, 3, 18)

    ratio = ("attainment", "bookings", "quota")
    ws = wb.add_worksheet("Attainment by rep")
    cols = [("rep_id", "Rep ID", "text", None), ("rep", "Rep", "text", None),
            ("team", "Team", "text", None), ("region", "Region", "text", None),
            ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
            ("attainment", "Attainment", "percent", None), ("deals_won", "Won", "count", "sum"),
            ("deals_lost", "Lost", "count", "sum"), ("win_rate", "Win rate", "percent", None),
            ("avg_deal_size", "Avg deal", "currency", None)]
    write_table(ws, wb, fmt, 0, "attainment", f"Quota attainment by rep, {label}", cols, att,
                rag="attainment", ratio=ratio)
    ws.set_column(0, 3, 22)
    ws.set_column(4, 10, 14)

    ws = wb.add_worksheet("By team and region")
    tcols = [("team", "Team", "text", None), ("reps", "Reps", "count", "sum"),
             ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
             ("attainment", "Attainment", "percent", None),
             ("reps_at_quota", "Reps at quota", "count", "sum")]
    _, _, nxt = write_table(ws, wb, fmt, 0, "by_team", "Attainment by team", tcols, teams,
                            rag="attainment", ratio=ratio)
    rcols = [("region", "Region", "text", None), ("reps", "Reps", "count", "sum"),
             ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
             ("attainment", "Attainment", "percent", None)]
    write_table(ws, wb, fmt, nxt, "by_region", "Attainment by region", rcols, regions,
                rag="attainment", ratio=ratio, first=False)
    ws.set_column(0, 0, 26)
    ws.set_column(1, 5, 14)

    ws = wb.add_worksheet("Trend")
    mcols = [("month", "Month", "date", None), ("quota", "Quota", "currency", "sum"),
             ("bookings", "Bookings", "currency", "sum"), ("attainment", "Attainment", "percent", None)]
    hdr, last, nxt = write_table(ws, wb, fmt, 0, "trend", "Bookings vs quota, last 24 months",
                                 mcols, trend, ratio=ratio)
    insert_chart(wb, ws, nxt, "column", "Bookings vs quota by month", hdr, last, 0, [2, 1])
    ws.set_column(0, 3, 16)

    ws = wb.add_worksheet("Pipeline")
    pcols = [("deals", "Deals", "count", "sum"), ("amount", "Amount", "currency", "sum"),
             ("weighted", "Weighted", "currency", "sum"),
             ("due_in_period", "Due in period", "currency", "sum")]
    hdr, last, nxt = write_table(
        ws, wb, fmt, 0, "by_stage",
        "Open pipeline by stage (all open deals; weighted by the CRM probability)",
        [("stage", "Stage", "text", None)] + pcols, by_stage)
    nxt = insert_chart(wb, ws, nxt, "bar", "Open pipeline by stage", hdr, last, 0, [2, 3])
    write_table(ws, wb, fmt, nxt, "by_forecast", "Open pipeline by forecast category",
                [("category", "Forecast category", "text", None)] + pcols, by_forecast, first=False)
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 8)
    ws.set_column(2, 4, 17)

    ws = wb.add_worksheet("Forecast")
    money_cols = [("closed", "Closed", "currency", "sum"), ("commit_total", "Commit", "currency", "sum"),
                  ("best_case", "Best case", "currency", "sum")]
    mc_cols = [("p10", "P10", "currency", None), ("p50", "P50", "currency", None),
               ("p90", "P90", "currency", None), ("quota", "Quota", "currency", "sum"),
               ("p_quota", "Chance of quota", "percent", None)]
    _, _, nxt = write_table(
        ws, wb, fmt, 0, "landing",
        f"Where we will land (as of {as_of:%Y-%m-%d}): forecast categories and a Monte Carlo range",
        [("period", "Period", "text", None)] + [(c, l, k, None) for c, l, k, _ in money_cols]
        + [("pipeline", "Pipeline", "currency", None), ("expected", "Expected", "currency", None)]
        + [(c, l, k, None) for c, l, k, _ in mc_cols], landing, rag="p_quota", rag_at=(0.5, 0.8))
    _, _, nxt = write_table(
        ws, wb, fmt, nxt, "landing_regions",
        f"Quarter landing range by region (fiscal quarter containing {as_of:%Y-%m-%d})",
        [("region", "Region", "text", None)] + money_cols + mc_cols, landing_regions,
        rag="p_quota", rag_at=(0.5, 0.8), first=False)
    hdr, last, nxt = write_table(
        ws, wb, fmt, nxt, "forecast_trend",
        "Monthly bookings: the last 12 months and the forecast, with its 80% interval",
        [("month", "Month", "date", None), ("bookings", "Bookings", "currency", None),
         ("forecast", "Forecast", "currency", None), ("low", "Low (80%)", "currency", None),
         ("high", "High (80%)", "currency", None), ("quota", "Quota", "currency", None)],
        forecast_trend, first=False)
    if last > hdr:  # actual, forecast (dashed), its interval (dotted) and quota by month
        chart = wb.add_chart({"type": "line"})
        for col, line in ((1, {}), (2, {"dash_type": "dash"}), (3, {"dash_type": "round_dot"}),
                          (4, {"dash_type": "round_dot"}), (5, {})):
            chart.add_series({"name": ["Forecast", hdr, col],
                              "categories": ["Forecast", hdr + 1, 0, last, 0],
                              "values": ["Forecast", hdr + 1, col, last, col], "line": line})
        chart.set_title({"name": "Bookings by month: actual, forecast and 80% interval"})
        chart.set_legend({"position": "bottom"})
        ws.insert_chart(nxt, 0, chart, {"description": "Bookings by month: actual, forecast and 80% interval"})
    write_table(ws, wb, fmt, nxt + 16, "forecast_method", "How the bookings forecast was chosen",
                [("method", "Method", "text", None), ("chosen_because", "Chosen because", "text", None),
                 ("wape", "Backtest WAPE", "percent", None), ("mase", "MASE", "ratio", None),
                 ("first_month", "From", "date", None), ("months", "Months", "count", None)],
                forecast_method, first=False)
    ws.set_column(0, 0, 39)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 10, 17)

    ws = wb.add_worksheet("Top deals")
    deal = [("opp_id", "Opportunity ID", "text", None), ("name", "Opportunity", "text", None),
            ("account", "Account", "text", None), ("owner", "Owner", "text", None)]
    _, _, nxt = write_table(ws, wb, fmt, 0, "top_won", f"Largest deals won in {label}",
                            deal + [("close_date", "Closed", "date", None),
                                    ("amount", "Amount", "currency", "sum")], top_won)
    write_table(ws, wb, fmt, nxt, "top_open", "Largest open deals",
                deal + [("stage", "Stage", "text", None),
                        ("forecast_category", "Forecast category", "text", None),
                        ("close_date", "Close date", "date", None),
                        ("probability", "Probability", "percent", None),
                        ("amount", "Amount", "currency", "sum")], top_open, first=False)
    ws.set_column(0, 0, 20)
    ws.set_column(1, 1, 50)
    ws.set_column(2, 2, 30)
    ws.set_column(3, 8, 18)

    ws = wb.add_worksheet("Data quality")
    write_table(ws, wb, fmt, 0, "dq_summary",
                f"Data-quality findings of the load of {as_of:%Y-%m-%d}, by source and rule",
                [("source", "Source", "text", None), ("rule", "Rule", "text", None),
                 ("severity", "Severity", "text", None), ("findings", "Findings", "count", "sum"),
                 ("first_line", "First line", "count", None),
                 ("example", "Example message", "text", None)], findings)
    ws.set_column(0, 4, 14)
    ws.set_column(5, 5, 80)

    ws = wb.add_worksheet("Definitions")
    write_table(ws, wb, fmt, 0, "metrics",
                "How each figure is computed (the metric library of this run)",
                [("name", "Metric", "text", None), ("label", "Label", "text", None),
                 ("format", "Format", "text", None), ("definition", "Definition", "text", None)],
                definitions)
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 36)
    ws.set_column(2, 2, 10)
    ws.set_column(3, 3, 62)
    wb.close()
    os.replace(out + ".tmp", out)
    log(f"wrote {out}")


# ---- scorecards --------------------------------------------------------------------------

def money(v):
    return "" if v is None or pd.isna(v) else ("-" if v < 0 else "") + f"${abs(v):,.2f}"


def pct(v):
    return "n/a" if v is None or pd.isna(v) else f"{v * 100:.1f}%"


def scorecards(datadir, outdir, limit):
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)

    opps, reps, quotas, _ = load(datadir)
    as_of = job_as_of(datadir)
    per = periods(as_of)
    log("computing KPIs")
    cur_rep, _ = kpis(opps, reps, quotas, *per["current"])
    prev_rep, _ = kpis(opps, reps, quotas, *per["previous"])
    ps, pe = per["current"]
    months, b, q = monthly(opps, quotas, pe, 12)
    idx = pd.MultiIndex.from_product([reps["rep_id"], months], names=["rep_id", "month"])
    rm = pd.DataFrame({"quota_cents": q.reindex(idx).fillna(0).to_numpy(),
                       "bookings_cents": b.reindex(idx).fillna(0).to_numpy()}, index=idx)
    open_deals = (opps[~opps["is_closed"]]
                  .sort_values(["owner_id", "cents", "opp_id"], ascending=[True, False, True])
                  .groupby("owner_id").head(10))
    deals_by_rep = dict(tuple(open_deals.groupby("owner_id")))
    burst_ids = set(quotas.loc[quotas["period_start"].between(ps, pe), "rep_id"])
    burst = reps[reps["active"] & reps["rep_id"].isin(burst_ids)].sort_values("rep_id").head(limit)
    # the bookings forecasts the documents show (each rep's, the three months after the
    # period), computed once for the run
    st = forecast_settings(datadir)
    fc = bookings_forecasts(opps, reps, as_of, st["horizon"], only_reps=set(burst["rep_id"]))
    ahead = pd.date_range(pe + pd.Timedelta(days=1), periods=3, freq="MS")
    fc = fc[fc["period_start"].isin(ahead)].set_index(["member", "period_start"])
    q_ahead = (quotas[quotas["period_start"].between(ahead[0], ahead[-1] + pd.offsets.MonthEnd(0))]
               .groupby(["rep_id", quotas["period_start"].dt.to_period("M").dt.to_timestamp()])
               ["cents"].sum())

    pdfmetrics.registerFont(TTFont("DejaVu", os.path.join(FONT_DIR, "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", os.path.join(FONT_DIR, "DejaVuSans-Bold.ttf")))
    st_title = ParagraphStyle("t", fontName="DejaVu-Bold", fontSize=20, leading=24)
    st_text = ParagraphStyle("x", fontName="DejaVu", fontSize=9.5, leading=14)
    st_cap = ParagraphStyle("c", fontName="DejaVu-Bold", fontSize=10.5, leading=14, spaceBefore=8)
    grid = TableStyle([("FONT", (0, 0), (-1, -1), "DejaVu", 8),
                       ("FONT", (0, 0), (-1, 0), "DejaVu-Bold", 8),
                       ("FONT", (0, -1), (-1, -1), "DejaVu-Bold", 8),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#D9E1F2")),
                       ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#F4F6F8")]),
                       ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                       ("ALIGN", (1, 0), (-1, -1), "RIGHT")])
    tile_style = TableStyle([("FONT", (0, 0), (-1, -1), "DejaVu", 7.5),
                             ("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor("#D0D5DD")),
                             ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F8FAFC")),
                             ("VALIGN", (0, 0), (-1, -1), "TOP")])
    label = ps.strftime("%B %Y")
    os.makedirs(outdir, exist_ok=True)
    log(f"rendering {len(burst)} documents")
    for rep in burst.itertuples(index=False):
        c, p = cur_rep.loc[rep.rep_id], prev_rep.loc[rep.rep_id]
        story = [Paragraph(rep.name, st_title), Spacer(1, 6),
                 Paragraph(f"Scorecard for {label} ({ps:%Y-%m-%d} to {pe:%Y-%m-%d}). Changes "
                           "compare with the previous period. Amounts in USD.", st_text),
                 Spacer(1, 10)]
        tiles = []
        for lab, v, cmpv, f, tgt in (("Bookings", c.bookings, p.bookings, money, c.quota),
                                     ("Quota", c.quota, p.quota, money, None),
                                     ("Quota attainment", c.attainment, p.attainment, pct, 1.0),
                                     ("Win rate", c.win_rate, p.win_rate, pct, None),
                                     ("Average deal size", c.avg_deal_size, p.avg_deal_size, money, None),
                                     ("Open pipeline due in period", c.open_pipeline, None, money, None)):
            cell = [Paragraph(lab, st_text), Paragraph(f"<font name='DejaVu-Bold' size=18>{f(v)}</font>", st_text)]
            if cmpv is not None and not pd.isna(cmpv) and not pd.isna(v) and cmpv:
                ch = (v - cmpv) / abs(cmpv) * 100
                cell.append(Paragraph(f"{'▲' if ch >= 0 else '▼'} {ch:+.1f}% vs previous period", st_text))
            if tgt is not None:
                cell.append(Paragraph(f"Target {f(tgt)}", st_text))
            tiles.append(cell)
        story.append(Table([tiles[:3], tiles[3:]], colWidths=[166] * 3, rowHeights=[96, 96],
                           style=tile_style))
        story.append(Paragraph("Bookings vs quota by month, with a three-month forecast", st_cap))
        m = rm.loc[rep.rep_id]
        rows = [["Month", "Quota", "Bookings", "Attainment", "Forecast", "Low (80%)", "High (80%)"]]
        for month, qc, bc in zip(months, m["quota_cents"], m["bookings_cents"]):
            rows.append([f"{month:%Y-%m-%d}", money(qc / 100), money(bc / 100),
                         pct(bc / qc if qc else None), "", "", ""])
        future = []
        for month in ahead:
            f = fc.loc[(rep.rep_id, month)] if (rep.rep_id, month) in fc.index else None
            qc = q_ahead.get((rep.rep_id, month))
            future.append(np.nan if f is None else f["value"])
            rows.append([f"{month:%Y-%m-%d}", money(None if qc is None else qc / 100), "", "",
                         *(("", "", "") if f is None else
                           (money(round(f["value"], 2)), money(round(f["lower"], 2)),
                            money(round(f["upper"], 2))))])
        tq, tb = m["quota_cents"].sum(), m["bookings_cents"].sum()
        rows.append(["Total", money(tq / 100), money(tb / 100), pct(tb / tq if tq else None),
                     "", "", ""])
        story.append(Table(rows, colWidths=[71] * 7, style=grid, repeatRows=1))
        story.append(PageBreak())
        story.append(Paragraph("Bookings vs quota by month", st_cap))
        d = Drawing(500, 230)
        ch = VerticalBarChart()
        ch.x, ch.y, ch.width, ch.height = 50, 40, 440, 170
        ch.data = [list(m["bookings_cents"] / 100) + [0] * 3,
                   list(m["quota_cents"] / 100) + [0 if q_ahead.get((rep.rep_id, x)) is None
                                                   else q_ahead[(rep.rep_id, x)] / 100 for x in ahead],
                   [0] * 12 + [0 if pd.isna(v) else v for v in future]]
        ch.categoryAxis.categoryNames = [f"{x:%Y-%m-%d}" for x in list(months) + list(ahead)]
        ch.categoryAxis.labels.angle = 30
        ch.categoryAxis.labels.fontName = ch.valueAxis.labels.fontName = "DejaVu"
        ch.bars[0].fillColor = colors.HexColor("#264E86")
        ch.bars[1].fillColor = colors.HexColor("#6AA6D8")
        ch.bars[2].fillColor = colors.HexColor("#F4A259")
        d.add(ch)
        story.append(d)
        story.append(Paragraph("Largest open deals", st_cap))
        rows = [["Deal", "Account", "Stage", "Close date", "Amount", "Flag"]]
        dl = deals_by_rep.get(rep.rep_id)
        total = 0
        if dl is not None:
            for r in dl.itertuples(index=False):
                total += r.cents
                rows.append([r.name[:24], r.account[:18], r.stage[:16], f"{r.close_date:%Y-%m-%d}",
                             money(r.cents / 100), "overdue" if r.close_date < as_of else ""])
        rows.append(["Total", "", "", "", money(total / 100), ""])
        story.append(Table(rows, colWidths=[135, 100, 85, 60, 75, 40], style=grid, repeatRows=1))
        footer = f"Sample Co monthly board pack - {rep.name} - as of {as_of:%Y-%m-%d}"

        def furniture(canvas, doc, title=f"Scorecard - {rep.name}", footer=footer):
            canvas.setFont("DejaVu-Bold", 7.5)
            canvas.drawString(48, A4[1] - 30, title)
            canvas.setFont("DejaVu", 7.5)
            canvas.drawRightString(A4[0] - 48, A4[1] - 30, "Sample Co monthly board pack")
            canvas.drawString(48, 26, footer)
            canvas.drawRightString(A4[0] - 48, 26, f"Page {doc.page} of 2")

        doc = SimpleDocTemplate(os.path.join(outdir, f"{rep.rep_id}.pdf"), pagesize=A4,
                                leftMargin=48, rightMargin=48, topMargin=58, bottomMargin=52,
                                title=f"Scorecard - {rep.name}", author="kpipress",
                                subject=f"Sales scorecard of {rep.name} for {label}")
        doc.build(story, onFirstPage=furniture, onLaterPages=furniture)
    log(f"wrote {len(burst)} documents")


def main(argv):
    if len(argv) >= 4 and argv[1] == "board-pack":
        board_pack(argv[2], argv[3], argv[5] if len(argv) >= 6 and argv[4] == "--series" else None)
    elif len(argv) >= 4 and argv[1] == "scorecards":
        limit = int(argv[5]) if len(argv) >= 6 and argv[4] == "--limit" else 1 << 30
        scorecards(argv[2], argv[3], limit)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
