#!/usr/bin/python3
"""Checks that the Python reference workbook holds the same content as kpipress's board
pack, so the benchmark compares like with like. Every sheet, cell by cell: the formula text,
the value (a formula's cached value, which readers that do not recalculate show), the type
and the number format; numbers in a currency format agree to the cent, other numbers to
1e-9 relative. Also the layout a reader notices: sheet order, frozen panes, autofilters,
defined names, and each chart's kind and position.

Forecast cells come from random draws and fitted models, so they cannot agree exactly; a
table column is recognised by its header (in KPIPRESS.xlsx):
- Monte Carlo amounts (P10, P50, P90): agree when they differ by at most 4 standard errors
  of the difference of two independent estimates of that percentile from N runs (normal
  approximation, sd from the row's P10-P90 spread: SE = sqrt(2 q(1-q)/N) / phi(z_q) x sd);
- Monte Carlo shares (Chance of quota): at most 4 x sqrt(2 p(1-p)/N) + 1/N.
  4 rather than 3 standard errors: a board pack has about 30 such cells, and at 3 one run
  in 14 of two correct simulations would fail somewhere (at 4, one in 500); a wrong
  probability, bucket or roll-up moves these figures by far more;
- fitted forecasts (Forecast, Low (80%), High (80%), and the method table's Method,
  Chosen because, Backtest WAPE, MASE): never counted as differences; reported instead
  (whether the method is the same, median and largest relative difference).
Everything else, the deterministic forecast figures included (closed, roll-ups, expected,
quota), is compared exactly as above.

usage: compare_xlsx.py [--strict] [--max N] [--skip-sheet NAME]... [--mc-runs N]
                       [--series KPIPRESS.db REFERENCE.csv] KPIPRESS.xlsx REFERENCE.xlsx
Lists the first N differences (default 20) and ends with one line
"C cells compared in S sheets, D differences (...)", the parenthesis saying how many cells
agreed exactly, within the Monte Carlo tolerance, or were fitted forecasts. --mc-runs: the
runs of both simulations (default 10000). --series compares every bookings series'
forecast (kpipress's forecast table of the latest as-of against pandas_job.py --series) in
a line before the last: how many series chose the same method, median relative
difference. Exit status 0, or with --strict 1 when there are differences; 2 on a usage
error or a workbook that cannot be read.
"""
import datetime as dt
import math
import re
import sqlite3
import statistics
import sys

import openpyxl

CENT = 0.005  # two amounts agree to the cent when they differ by less than half of one
REL = 1e-9
MC_AMOUNT = {"P10": 0.10, "P50": 0.50, "P90": 0.90}  # header -> quantile
MC_SHARE = {"Chance of quota"}
FITTED = {"Forecast", "Low (80%)", "High (80%)", "Method", "Chosen because", "Backtest WAPE",
          "MASE"}
Z90 = 1.2815515655446004
SE_LIMIT = 4


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def same_value(a, b, number_format):
    if is_num(a) and is_num(b):
        if a == b:
            return True
        if "$" in number_format:
            return abs(a - b) < CENT
        return abs(a - b) <= REL * max(abs(a), abs(b))
    if type(a) is not type(b) and not (is_num(a) and is_num(b)):
        return False
    return a == b


def empty(v):
    return v is None or v == ""


def cells(formulas, values):
    """coordinate -> (formula or None, value, number format) of every non-empty cell."""
    out = {}
    for row_f, row_v in zip(formulas.iter_rows(), values.iter_rows()):
        for f, v in zip(row_f, row_v):
            formula = f.value if isinstance(f.value, str) and f.value.startswith("=") else None
            if formula is None and empty(v.value):
                continue
            out[f.coordinate] = (formula, None if empty(v.value) else v.value, f.number_format)
    return out


def show(cell):
    if cell is None:
        return "(empty)"
    formula, value, nf = cell
    v = value.isoformat() if isinstance(value, dt.datetime) else repr(value)
    return (f"{formula} " if formula else "") + f"{v} [{nf}]"


def table_columns(wb, values):
    """coordinate -> (header label, {label: coordinate} of its row) for every data cell of
    the tables kpipress names tbl_* (the header is the row above the data)."""
    out = {}
    for d in wb.defined_names.definedName:
        m = re.fullmatch(r"'?(.+?)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", d.attr_text or "")
        if not d.name.startswith("tbl_") or not m or m.group(1) not in values.sheetnames:
            continue
        ws = values[m.group(1)]
        c0 = openpyxl.utils.column_index_from_string(m.group(2))
        c1 = openpyxl.utils.column_index_from_string(m.group(4))
        r0, r1 = int(m.group(3)), int(m.group(5))
        labels = {c: ws.cell(r0 - 1, c).value for c in range(c0, c1 + 1)}
        for r in range(r0, r1 + 1):
            row = {labels[c]: ws.cell(r, c).coordinate for c in labels}
            for c in labels:
                out[(m.group(1), ws.cell(r, c).coordinate)] = (labels[c], row)
    return out


class Tolerance:
    """The forecast cells' checks and what they found."""

    def __init__(self, columns, ca, runs):
        self.columns, self.ca, self.runs = columns, ca, runs
        self.exact = self.mc = 0
        self.worst_se = self.worst_rel = 0.0
        self.fitted = []  # (label, kpipress value, reference value)

    def kind(self, sheet, coord):
        label = self.columns.get((sheet, coord), (None,))[0]
        return ("mc" if label in MC_AMOUNT or label in MC_SHARE else
                "fitted" if label in FITTED else None), label

    def mc_ok(self, sheet, coord, label, a, b):
        """a, b within 3 standard errors of the difference; records the worst ratio."""
        if not (is_num(a) and is_num(b)):
            return a == b
        n = self.runs
        if label in MC_SHARE:
            p = (a + b) / 2
            se = math.sqrt(2 * p * (1 - p) / n)
            slack = 1.0 / n
        else:
            row = self.columns[(sheet, coord)][1]
            p10, p90 = (self.ca.get(row.get(k), (None, None))[1] for k in ("P10", "P90"))
            sd = (p90 - p10) / (2 * Z90) if is_num(p10) and is_num(p90) else 0.0
            q = MC_AMOUNT[label]
            dens = math.exp(-0.5 * ((Z90 if q != 0.5 else 0.0) ** 2)) / math.sqrt(2 * math.pi)
            se = math.sqrt(2 * q * (1 - q) / n) / dens * sd
            slack = CENT
        if se > 0:
            self.worst_se = max(self.worst_se, abs(a - b) / se)
        if a or b:
            self.worst_rel = max(self.worst_rel, abs(a - b) / max(abs(a), abs(b)))
        return abs(a - b) <= SE_LIMIT * se + slack

    def summary(self):
        out = [f"{self.exact} exact"]
        if self.mc:
            out.append(f"{self.mc} Monte Carlo cells within {SE_LIMIT} standard errors "
                       f"(largest difference {self.worst_se:.1f} SE, {self.worst_rel:.2%})")
        if self.fitted:
            methods = [(a, b) for lab, a, b in self.fitted if lab == "Method"]
            rel = [abs(a - b) / abs(a) for lab, a, b in self.fitted
                   if lab in ("Forecast", "Low (80%)", "High (80%)") and is_num(a) and is_num(b) and a]
            txt = f"{len(self.fitted)} fitted forecast cells (not judged"
            if methods:
                same = sum(a == b for a, b in methods)
                txt += (f"; method {methods[0][0]} vs {methods[0][1]}" if len(methods) == 1
                        else f"; {same} of {len(methods)} methods the same")
            if rel:
                txt += (f"; forecast and interval relative difference median "
                        f"{statistics.median(rel):.1%}, largest {max(rel):.1%}")
            out.append(txt + ")")
        return "; ".join(out)


def compare_cells(name, ca, cb, diffs, tol):
    for k in sorted(set(ca) | set(cb), key=lambda c: (openpyxl.utils.cell.coordinate_to_tuple(c))):
        a, b = ca.get(k), cb.get(k)
        kind, label = tol.kind(name, k)
        if kind == "fitted":
            tol.fitted.append((label, a and a[1], b and b[1]))
            if a is not None and b is not None and a[0] == b[0] and a[2] == b[2]:
                continue
        if a is None or b is None:
            diffs.append(f"{name}!{k}: {show(a)} vs {show(b)}")
            continue
        why = []
        if a[0] != b[0]:
            why.append("formula")
        if kind == "mc":
            if (a[1] is None) != (b[1] is None) or not tol.mc_ok(name, k, label, a[1], b[1]):
                why.append("value beyond the Monte Carlo tolerance")
        elif (a[1] is None) != (b[1] is None) or (a[1] is not None and not same_value(a[1], b[1], a[2])):
            why.append("value")
        if a[2] != b[2]:
            why.append("number format")
        if why:
            diffs.append(f"{name}!{k} ({', '.join(why)}): {show(a)} vs {show(b)}")
        elif kind == "mc":
            tol.mc += 1
        elif kind is None:
            tol.exact += 1


def charts(ws):
    out = []
    for ch in ws._charts:
        kind = type(ch).__name__.replace("Chart", "").lower()
        kind += f"/{ch.barDir}" if getattr(ch, "barDir", None) else ""
        frm = ch.anchor._from
        out.append(f"{kind} at {openpyxl.utils.get_column_letter(frm.col + 1)}{frm.row + 1}")
    return sorted(out)


def defined_names(wb):
    return {d.name: d.attr_text for d in wb.defined_names.definedName}


def compare_layout(name, a, b, diffs):
    for what, va, vb in (("frozen panes", a.freeze_panes, b.freeze_panes),
                         ("autofilter", a.auto_filter.ref, b.auto_filter.ref),
                         ("charts", charts(a), charts(b))):
        if va != vb:
            diffs.append(f"{name}: {what} {va} vs {vb}")


def compare(a_path, b_path, skip=(), runs=10000):
    """(cells compared, sheets compared, differences, the tolerance summary); sheets named
    in skip are ignored (on either side)."""
    af, bf = openpyxl.load_workbook(a_path), openpyxl.load_workbook(b_path)
    av, bv = (openpyxl.load_workbook(a_path, data_only=True),
              openpyxl.load_workbook(b_path, data_only=True))
    diffs = []
    an = [n for n in af.sheetnames if n not in skip]
    bn = [n for n in bf.sheetnames if n not in skip]
    if an != bn:
        diffs.append(f"sheets: {an} vs {bn}")
    ncells = nsheets = 0
    tol = Tolerance(table_columns(af, av), {}, runs)
    for name in an:
        if name not in bn:
            continue
        ca, cb = cells(af[name], av[name]), cells(bf[name], bv[name])
        ncells += len(set(ca) | set(cb))
        nsheets += 1
        tol.ca = ca
        compare_cells(name, ca, cb, diffs, tol)
        compare_layout(name, af[name], bf[name], diffs)
    na, nb = defined_names(af), defined_names(bf)
    skipped = lambda v: any(v and v.startswith((f"{n}!", f"'{n}'!")) for n in skip)
    na = {k: v for k, v in na.items() if not skipped(v)}
    nb = {k: v for k, v in nb.items() if not skipped(v)}
    for k in sorted(set(na) | set(nb)):
        if na.get(k) != nb.get(k):
            diffs.append(f"defined name {k}: {na.get(k)} vs {nb.get(k)}")
    return ncells, nsheets, diffs, tol.summary()


def compare_series(db, csv_path):
    """Every bookings series' forecast, kpipress's (the forecast table at the latest as-of)
    against the reference's CSV: one summary line."""
    import csv
    with open(csv_path, newline="", encoding="utf-8") as f:
        ref = {(r["dimension"], r["member"], r["period_start"]): r for r in csv.DictReader(f)}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT dimension, member, period_start, value, method FROM forecast"
            " WHERE series = 'bookings' AND as_of = (SELECT max(as_of) FROM forecast)"
            " ORDER BY 1, 2, 3").fetchall()
    finally:
        con.close()
    series, rel, rel_same, rel_other, missing = {}, [], [], [], 0
    for dim, member, start, value, method in rows:
        r = ref.get((dim, member, start))
        if r is None:
            missing += 1
            continue
        agree = r["method"] == method
        series.setdefault((dim, member), agree)
        v = float(r["value"])
        if value or v:
            d = abs(v - value) / max(abs(value), abs(v))
            rel.append(d)
            (rel_same if agree else rel_other).append(d)
    same = sum(series.values())
    only_ref = len({(k[0], k[1]) for k in ref} - set(series))
    med = lambda x: f"{statistics.median(x):.1%}" if x else "-"
    return (f"bookings forecasts: {len(series)} series in both ({missing} kpipress rows without "
            f"a reference row, {only_ref} reference-only series), {same} chose the same method; "
            f"point forecasts' relative difference median {med(rel)} (same method: "
            f"{med(rel_same)}, other method: {med(rel_other)})")


def main(argv):
    strict, limit, paths, skip, runs, series = False, 20, [], [], 10000, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "--strict":
            strict = True
        elif arg == "--skip-sheet":
            skip.append(next(args, ""))
        elif arg == "--mc-runs":
            n = next(args, "")
            runs = int(n) if n.isdigit() and int(n) > 0 else -1
        elif arg == "--series":
            series = (next(args, ""), next(args, ""))
        elif arg == "--max":
            n = next(args, "")
            limit = int(n) if n.isdigit() else -1
        else:
            paths.append(arg)
    if len(paths) != 2 or limit < 0 or runs < 0 or (series and not all(series)):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        ncells, nsheets, diffs, summary = compare(*paths, skip=skip, runs=runs)
        series_line = compare_series(*series) if series else None
    except (OSError, KeyError, ValueError, sqlite3.Error,
            openpyxl.utils.exceptions.InvalidFileException) as e:
        print(f"compare_xlsx: {e}", file=sys.stderr)
        return 2
    for d in diffs[:limit]:
        print(d)
    if len(diffs) > limit:
        print(f"... and {len(diffs) - limit} more")
    if series_line:
        print(series_line)
    print(f"{ncells} cells compared in {nsheets} sheets, {len(diffs)} differences ({summary})")
    return 1 if strict and diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
