#!/usr/bin/python3
"""Benchmark baseline: the kpipress sample job written the way a competent analyst would in
Python (vectorised pandas, XlsxWriter, ReportLab), producing the same board-pack workbook
(templates/board-pack.ini: same sheets, tables, formulas, formats, chart) and the same rep
scorecards (templates/rep-scorecard.ini, same DejaVu TTFs). Progress lines on stderr use
kpipress's wording ("computing KPIs", "rendering N documents") so tests/bench/run can time
the stages of both the same way.

usage: pandas_job.py board-pack DATADIR OUT.xlsx
       pandas_job.py scorecards DATADIR OUTDIR [--limit N]
DATADIR is a `kpipress sample` directory (opportunities.csv, users.csv, quotas.csv, job.ini).
"""
import datetime as dt
import os
import re
import sys

import numpy as np
import pandas as pd

FONT_DIR = "/usr/share/fonts/truetype/dejavu"


def log(msg):
    print("pandas_job: " + msg, file=sys.stderr, flush=True)


# ---- load --------------------------------------------------------------------------------

def cents(s):
    """'$1,234.50' / '(1,200.00)' -> integer cents, exact (no float sums later)."""
    neg = s.str.startswith("(")
    v = pd.to_numeric(s.str.replace(r"[$,()\s]", "", regex=True), errors="coerce")
    c = (v * 100).round().astype("Int64")
    return c.where(~neg, -c)


def mdy(s):
    return pd.to_datetime(s, format="%m/%d/%Y", errors="coerce")


def load(datadir):
    log("loading")
    opps = pd.read_csv(
        os.path.join(datadir, "opportunities.csv"), dtype=str, keep_default_na=False,
        usecols=["Opportunity ID", "Opportunity Name", "Account Name", "Opportunity Owner",
                 "Stage", "Amount", "Close Date"])
    opps.columns = ["opp_id", "name", "account", "owner", "stage", "amount", "close_date"]
    users = pd.read_csv(os.path.join(datadir, "users.csv"), dtype=str, keep_default_na=False)
    reps = pd.DataFrame({"rep_id": users["User ID"], "name": users["Full Name"],
                         "email": users["Email"], "team": users["Role"],
                         "region": users["Division"],
                         "active": users["Active"].isin(["1", "true", "True", "Yes"])})
    q = pd.read_csv(os.path.join(datadir, "quotas.csv"), dtype=str, keep_default_na=False)
    quotas = pd.DataFrame({"rep_id": q["Quota Owner ID"], "period_start": mdy(q["Start Date"]),
                           "cents": cents(q["Quota Amount"]).astype("int64")})
    opps["cents"] = cents(opps["amount"]).fillna(0).astype("int64")
    opps["close_date"] = mdy(opps["close_date"])
    opps["is_won"] = opps["stage"].eq("Closed Won")
    opps["is_closed"] = opps["is_won"] | opps["stage"].eq("Closed Lost")
    # The owner column holds names: map each to its rep id when exactly one rep has it.
    names = reps.drop_duplicates("name", keep=False).set_index("name")["rep_id"]
    opps["owner_id"] = opps["owner"].map(names).fillna(opps["owner"])
    return opps, reps, quotas


def job_as_of(datadir):
    with open(os.path.join(datadir, "job.ini"), encoding="utf-8") as f:
        m = re.search(r"^as_of\s*=\s*(\d{4}-\d{2}-\d{2})", f.read(), re.M)
    return pd.Timestamp(m.group(1))


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


# ---- workbook ----------------------------------------------------------------------------

def write_table(ws, wb, fmt, row, caption, cols, df, rag=None, ratio=None):
    """cols: [(column, label, format, total)]; returns the row after the table."""
    ws.write(row, 0, caption, fmt["caption"])
    hdr = row + 1
    for c, (_, label, _, _) in enumerate(cols):
        ws.write(hdr, c, label, fmt["header"])
    letters = {name: chr(ord("A") + i) for i, (name, _, _, _) in enumerate(cols)}
    values = {name: df[name].to_numpy() for name, _, _, _ in cols}
    n = len(df)
    for c, (name, _, kind, _) in enumerate(cols):
        f = fmt.get(kind)
        col = values[name]
        for r in range(n):
            v = col[r]
            xr = hdr + 1 + r
            if ratio and name == ratio[0]:
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
    last = hdr + n
    total = last + 1
    ws.write(total, 0, "Total", fmt["total"])
    for c, (name, _, kind, how) in enumerate(cols):
        L = letters[name]
        if how == "sum":
            ws.write_formula(total, c, f"=SUBTOTAL(109,{L}{hdr + 2}:{L}{last + 1})",
                             fmt[kind + "_total"], float(np.nansum(values[name])))
        elif ratio and name == ratio[0]:
            num, den = letters[ratio[1]], letters[ratio[2]]
            tn, td = np.nansum(values[ratio[1]]), np.nansum(values[ratio[2]])
            ws.write_formula(total, c, f'=IF({den}{total + 1}=0,"",{num}{total + 1}/{den}{total + 1})',
                             fmt[kind + "_total"], float(tn / td) if td else "")
    if rag and n:
        L = letters[rag]
        rng = f"{L}{hdr + 2}:{L}{last + 1}"
        ws.conditional_format(rng, {"type": "cell", "criteria": "<", "value": 0.8, "format": fmt["red"]})
        ws.conditional_format(rng, {"type": "cell", "criteria": "<", "value": 1.0, "format": fmt["amber"]})
        ws.conditional_format(rng, {"type": "cell", "criteria": ">=", "value": 1.0, "format": fmt["green"]})
    wb.define_name("tbl_" + re.sub(r"\W", "_", caption.split(",")[0].lower())[:20],
                   f"='{ws.get_name()}'!$A${hdr + 2}:${chr(ord('A') + len(cols) - 1)}${last + 1}")
    return hdr, last, total + 2


def board_pack(datadir, out):
    import xlsxwriter
    opps, reps, quotas = load(datadir)
    as_of = job_as_of(datadir)
    per = periods(as_of)
    log("computing KPIs")
    k = {name: kpis(opps, reps, quotas, s, e) for name, (s, e) in per.items()}
    cur_rep, cur = k["current"]
    _, prev = k["previous"]
    months, b, q = monthly(opps, quotas, per["current"][1], 24)
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

    log("rendering 1 documents")
    label = per["current"][0].strftime("%B %Y")
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
                     ("date", "yyyy-mm-dd"), ("text", None)):
        fmt[kind] = wb.add_format({"num_format": nf} if nf else {})
        fmt[kind + "_total"] = wb.add_format({"num_format": nf, "bold": True, "top": 1} if nf
                                             else {"bold": True, "top": 1})

    ws = wb.add_worksheet("Summary")
    ws.write(0, 0, f"Board pack - {label}", fmt["title"])
    ps, pe = per["current"]
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

    ws = wb.add_worksheet("Attainment by rep")
    cols = [("rep_id", "Rep ID", "text", None), ("rep", "Rep", "text", None),
            ("team", "Team", "text", None), ("region", "Region", "text", None),
            ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
            ("attainment", "Attainment", "percent", None), ("deals_won", "Won", "count", "sum"),
            ("deals_lost", "Lost", "count", "sum"), ("win_rate", "Win rate", "percent", None),
            ("avg_deal_size", "Avg deal", "currency", None)]
    hdr, last, _ = write_table(ws, wb, fmt, 0, f"Quota attainment by rep, {label}", cols, att,
                               rag="attainment", ratio=("attainment", "bookings", "quota"))
    ws.freeze_panes(hdr + 1, 0)
    ws.autofilter(hdr, 0, last, len(cols) - 1)
    ws.set_column(0, 3, 22)
    ws.set_column(4, 10, 14)

    ws = wb.add_worksheet("By team and region")
    tcols = [("team", "Team", "text", None), ("reps", "Reps", "count", "sum"),
             ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
             ("attainment", "Attainment", "percent", None),
             ("reps_at_quota", "Reps at quota", "count", "sum")]
    hdr, last, nxt = write_table(ws, wb, fmt, 0, "Attainment by team", tcols, teams,
                                 rag="attainment", ratio=("attainment", "bookings", "quota"))
    ws.freeze_panes(hdr + 1, 0)
    ws.autofilter(hdr, 0, last, len(tcols) - 1)
    rcols = [("region", "Region", "text", None), ("reps", "Reps", "count", "sum"),
             ("quota", "Quota", "currency", "sum"), ("bookings", "Bookings", "currency", "sum"),
             ("attainment", "Attainment", "percent", None)]
    write_table(ws, wb, fmt, nxt, "Attainment by region", rcols, regions, rag="attainment",
                ratio=("attainment", "bookings", "quota"))
    ws.set_column(0, 0, 26)
    ws.set_column(1, 5, 14)

    ws = wb.add_worksheet("Trend")
    mcols = [("month", "Month", "date", None), ("quota", "Quota", "currency", "sum"),
             ("bookings", "Bookings", "currency", "sum"), ("attainment", "Attainment", "percent", None)]
    hdr, last, _ = write_table(ws, wb, fmt, 0, "Bookings vs quota, last 24 months", mcols, trend,
                               ratio=("attainment", "bookings", "quota"))
    ws.freeze_panes(hdr + 1, 0)
    ws.autofilter(hdr, 0, last, len(mcols) - 1)
    ws.set_column(0, 3, 16)
    chart = wb.add_chart({"type": "column"})
    for col, name in ((2, "Bookings"), (1, "Quota")):
        chart.add_series({"name": name, "categories": ["Trend", hdr + 1, 0, last, 0],
                          "values": ["Trend", hdr + 1, col, last, col]})
    chart.set_title({"name": "Bookings vs quota by month"})
    ws.insert_chart(hdr, len(mcols) + 1, chart)
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

    opps, reps, quotas = load(datadir)
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
        story.append(Paragraph(f"Bookings vs quota, last 12 months", st_cap))
        m = rm.loc[rep.rep_id]
        rows = [["Month", "Quota", "Bookings", "Attainment"]]
        for month, qc, bc in zip(months, m["quota_cents"], m["bookings_cents"]):
            rows.append([f"{month:%Y-%m-%d}", money(qc / 100), money(bc / 100),
                         pct(bc / qc if qc else None)])
        tq, tb = m["quota_cents"].sum(), m["bookings_cents"].sum()
        rows.append(["Total", money(tq / 100), money(tb / 100), pct(tb / tq if tq else None)])
        story.append(Table(rows, colWidths=[125] * 4, style=grid, repeatRows=1))
        story.append(PageBreak())
        story.append(Paragraph("Bookings vs quota by month", st_cap))
        d = Drawing(500, 230)
        ch = VerticalBarChart()
        ch.x, ch.y, ch.width, ch.height = 50, 40, 440, 170
        ch.data = [list(m["bookings_cents"] / 100), list(m["quota_cents"] / 100)]
        ch.categoryAxis.categoryNames = [f"{x:%Y-%m-%d}" for x in months]
        ch.categoryAxis.labels.angle = 30
        ch.categoryAxis.labels.fontName = ch.valueAxis.labels.fontName = "DejaVu"
        ch.bars[0].fillColor = colors.HexColor("#264E86")
        ch.bars[1].fillColor = colors.HexColor("#6AA6D8")
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
        board_pack(argv[2], argv[3])
    elif len(argv) >= 4 and argv[1] == "scorecards":
        limit = int(argv[5]) if len(argv) >= 6 and argv[4] == "--limit" else 1 << 30
        scorecards(argv[2], argv[3], limit)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
