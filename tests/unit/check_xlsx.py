#!/usr/bin/python3
"""Independent check of a workbook written by kpipress (used by test_render_xlsx.c).

usage: check_xlsx.py FILE.xlsx EXPECT.txt

EXPECT holds one expectation per line, fields separated by TABs ('#' lines ignored):
  sheets      NAME|NAME|...                 sheet names in order
  cell        SHEET!A1  KIND  VALUE         KIND: n number, s string, d date (yyyy-mm-dd),
                                            f formula text, blank, len (string length),
                                            tail (string ends with VALUE)
  cached      SHEET!A1  VALUE               cached value (data_only); "" = empty
  numfmt      SHEET!A1  FORMAT
  bold        SHEET!A1
  freeze      SHEET     A3|None
  autofilter  SHEET     A2:J6|None
  cf          SHEET     RANGE  RULES        rules by priority: type:operator:formula:stop;...
  charts      SHEET     N
  chart       SHEET     I  TYPE  SERIES     TYPE bar|col|line|pie; SERIES tx|cat|val;...
  legend      SHEET     I  yes|no          chart I has a legend
  name        NAME      VALUE               defined name and its reference
  prop        FIELD     VALUE               core property (title, subject, creator, keywords,
                                            created as ISO 8601)
  app         TEXT                          docProps/app.xml contains TEXT
  orient      SHEET     landscape|portrait
  fit         SHEET     W  H                fit to W pages wide, H tall
  printrows   SHEET     $2:$2
  width       SHEET     COL  MIN  MAX       column width in [MIN, MAX]
  maxrow      SHEET     N
  lo          SHEET     ROW  CSVLINE        LibreOffice's CSV export, shown values (exit 77
                                            when libreoffice is not installed)
Prints each failure and exits 1 if any; 0 when all hold.
"""
import csv
import glob
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import openpyxl

failures = []


def fail(line, got):
    failures.append(f"FAIL: {line!r}: got {got!r}")


def split_ref(ref):
    sheet, cell = ref.rsplit("!", 1)
    return sheet, cell


def num_eq(a, b):
    return isinstance(a, (int, float)) and not isinstance(a, bool) and \
        math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def chart_kind(ch):
    tag = ch.tagname
    if tag == "barChart":
        return "col" if ch.barDir == "col" else "bar"
    return {"lineChart": "line", "pieChart": "pie"}.get(tag, tag)


def series_desc(s):
    tx = s.tx.strRef.f if s.tx is not None and s.tx.strRef is not None else ""
    cat = ""
    if s.cat is not None:
        ref = s.cat.numRef or s.cat.strRef
        cat = ref.f if ref is not None else ""
    val = s.val.numRef.f if s.val is not None and s.val.numRef is not None else ""
    return f"{tx}|{cat}|{val}"


def lo_export(path):
    """CSV of every sheet as LibreOffice shows it, {sheet: [rows]}; None if absent."""
    exe = shutil.which("libreoffice") or shutil.which("soffice")
    if not exe:
        return None
    out = tempfile.mkdtemp(prefix="kp-lo-")
    try:
        profile = "file://" + os.path.join(out, "profile")
        base = os.path.splitext(os.path.basename(path))[0]
        # 44,34,76: comma, double quote, UTF-8; token 9 true = cells as shown; -1 = all sheets.
        filt = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"
        subprocess.run([exe, "-env:UserInstallation=" + profile, "--headless",
                        "--convert-to", filt, "--outdir", out, path],
                       check=True, capture_output=True, timeout=180)
        sheets = {}
        for f in glob.glob(os.path.join(out, base + "-*.csv")):
            name = os.path.basename(f)[len(base) + 1:-4]
            with open(f, newline="", encoding="utf-8") as fh:
                sheets[name] = [",".join(r) for r in csv.reader(fh)]
        return sheets
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main():
    path, expect = sys.argv[1], sys.argv[2]
    wb = openpyxl.load_workbook(path)
    wbv = openpyxl.load_workbook(path, data_only=True)
    lo = None
    lo_missing = False
    with open(expect, encoding="utf-8") as fh:
        lines = [l.rstrip("\n") for l in fh if l.strip() and not l.startswith("#")]
    for line in lines:
        f = line.split("\t")
        op = f[0]
        try:
            if op == "sheets":
                got = "|".join(wb.sheetnames)
                if got != f[1]:
                    fail(line, got)
            elif op == "cell":
                sheet, ref = split_ref(f[1])
                c = wb[sheet][ref]
                kind, want = f[2], (f[3] if len(f) > 3 else "")
                v = c.value
                ok = {
                    "n": lambda: c.data_type == "n" and num_eq(v, want),
                    "s": lambda: c.data_type == "s" and v == want,
                    "d": lambda: c.is_date and v.strftime("%Y-%m-%d") == want,
                    "f": lambda: c.data_type == "f" and v == want,
                    "blank": lambda: v is None,
                    "len": lambda: c.data_type == "s" and len(v) == int(want),
                    "tail": lambda: c.data_type == "s" and v.endswith(want),
                }[kind]()
                if not ok:
                    fail(line, (c.data_type, v if not isinstance(v, str) or len(v) < 80
                                else v[:40] + "..." + v[-20:]))
            elif op == "cached":
                sheet, ref = split_ref(f[1])
                v = wbv[sheet][ref].value
                want = f[2] if len(f) > 2 else ""
                if want == "":
                    ok = v in (None, "")
                else:
                    try:
                        ok = num_eq(v, float(want))
                    except ValueError:
                        ok = v == want
                if not ok:
                    fail(line, v)
            elif op == "numfmt":
                sheet, ref = split_ref(f[1])
                got = wb[sheet][ref].number_format
                if got != f[2]:
                    fail(line, got)
            elif op == "bold":
                sheet, ref = split_ref(f[1])
                if not wb[sheet][ref].font.b:
                    fail(line, "not bold")
            elif op == "freeze":
                got = str(wb[f[1]].freeze_panes)
                if got != f[2]:
                    fail(line, got)
            elif op == "autofilter":
                got = str(wb[f[1]].auto_filter.ref)
                if got != f[2]:
                    fail(line, got)
            elif op == "cf":
                ws = wb[f[1]]
                found = None
                for cf in ws.conditional_formatting:
                    if str(cf.sqref) == f[2]:
                        rules = sorted(cf.rules, key=lambda r: r.priority)
                        found = ";".join(
                            f"{r.type}:{r.operator or ''}:{','.join(r.formula or [])}:"
                            f"{1 if r.stopIfTrue else 0}" for r in rules)
                if found != f[3]:
                    fail(line, [(str(cf.sqref), [r.type for r in cf.rules])
                                for cf in ws.conditional_formatting] if found is None else found)
            elif op == "charts":
                got = len(wb[f[1]]._charts)
                if got != int(f[2]):
                    fail(line, got)
            elif op == "chart":
                charts = wb[f[1]]._charts
                i = int(f[2])
                if i >= len(charts):
                    fail(line, f"{len(charts)} charts")
                    continue
                ch = charts[i]
                got_kind = chart_kind(ch)
                got_series = ";".join(series_desc(s) for s in ch.series)
                if got_kind != f[3] or got_series != f[4]:
                    fail(line, (got_kind, got_series))
            elif op == "legend":
                ch = wb[f[1]]._charts[int(f[2])]
                got = "no" if ch.legend is None else "yes"
                if got != f[3]:
                    fail(line, got)
            elif op == "name":
                dn = wb.defined_names.get(f[1])
                got = dn.attr_text if dn is not None else None
                if got != f[2]:
                    fail(line, got)
            elif op == "prop":
                v = getattr(wb.properties, f[1])
                got = v.strftime("%Y-%m-%dT%H:%M:%S") if hasattr(v, "strftime") else v
                if got != f[2]:
                    fail(line, got)
            elif op == "app":
                with zipfile.ZipFile(path) as z:
                    app = z.read("docProps/app.xml").decode("utf-8")
                if f[1] not in app:
                    fail(line, app[-300:])
            elif op == "orient":
                got = wb[f[1]].page_setup.orientation
                if got != f[2]:
                    fail(line, got)
            elif op == "fit":
                ws = wb[f[1]]
                # An absent fitToWidth/fitToHeight means 1 (the OOXML default).
                fw, fh = ws.page_setup.fitToWidth, ws.page_setup.fitToHeight
                got = (bool(ws.sheet_properties.pageSetUpPr.fitToPage),
                       1 if fw is None else int(fw), 1 if fh is None else int(fh))
                if got != (True, int(f[2]), int(f[3])):
                    fail(line, got)
            elif op == "printrows":
                got = wb[f[1]].print_title_rows
                if got != f[2]:
                    fail(line, got)
            elif op == "width":
                w = wb[f[1]].column_dimensions[f[2]].width
                if not (float(f[3]) <= w <= float(f[4])):
                    fail(line, w)
            elif op == "maxrow":
                got = wb[f[1]].max_row
                if got != int(f[2]):
                    fail(line, got)
            elif op == "lo":
                if lo is None and not lo_missing:
                    lo = lo_export(path)
                    lo_missing = lo is None
                if lo_missing:
                    continue
                rows = lo.get(f[1])
                r = int(f[2])
                got = rows[r - 1] if rows is not None and r - 1 < len(rows) else None
                if got != f[3]:
                    fail(line, got if rows is not None else sorted(lo))
            else:
                fail(line, "unknown expectation")
        except Exception as ex:  # a missing sheet or attribute is a failure, not a crash
            fail(line, f"{type(ex).__name__}: {ex}")
    for m in failures:
        print(m)
    if failures:
        return 1
    if lo_missing:
        print("SKIP: libreoffice not installed")
        return 77
    print(f"{len(lines)} checks ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
