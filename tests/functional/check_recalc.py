#!/usr/bin/python3
"""Open a workbook in LibreOffice headless with recalculation forced, save it again, and
compare every formula's recalculated value with the value kpipress cached. Proves the file
opens (LibreOffice converts it) and that non-recalculating readers see the right numbers.

usage: check_recalc.py FILE.xlsx [SHEET!CELL=VALUE ...]
  SHEET!CELL=VALUE  first change that input cell (e.g. Plan!D13=2), then check that the
                    recalculated formulas equal EXPECT lines read from stdin as
                    "SHEET!CELL VALUE" (what a reader must see after the change).
Exit 0 when all hold, 1 on a difference, 77 when LibreOffice is not installed.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

import openpyxl

# Calc's "recalculation on file load" for OOXML: 0 = always (the default is never, which
# would show the cached values and prove nothing).
XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def recalc(path, work):
    exe = shutil.which("libreoffice") or shutil.which("soffice")
    if not exe:
        return None
    profile = os.path.join(work, "profile")
    os.makedirs(os.path.join(profile, "user"), exist_ok=True)
    with open(os.path.join(profile, "user", "registrymodifications.xcu"), "w") as fh:
        fh.write(XCU)
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    subprocess.run([exe, "-env:UserInstallation=file://" + profile, "--headless",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", out, path],
                   check=True, capture_output=True, timeout=600)
    res = os.path.join(out, os.path.basename(path))
    if not os.path.exists(res):
        raise SystemExit("LibreOffice did not convert %s" % path)
    return res


def same(a, b):
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def main():
    path = sys.argv[1]
    changes = [a for a in sys.argv[2:] if "=" in a]
    work = tempfile.mkdtemp(prefix="kp-recalc-")
    try:
        src = path
        wanted = {}
        if changes:
            wb = openpyxl.load_workbook(path)
            for ch in changes:
                ref, val = ch.split("=", 1)
                sheet, cell = ref.rsplit("!", 1)
                try:
                    wb[sheet][cell] = float(val)
                except ValueError:
                    wb[sheet][cell] = val
            src = os.path.join(work, os.path.basename(path))
            wb.save(src)
            for line in sys.stdin:
                if line.strip():
                    ref, val = line.split()
                    wanted[ref] = float(val) if val != '""' else ""
        res = recalc(src, work)
        if res is None:
            print("SKIP: libreoffice not installed")
            return 77
        before = openpyxl.load_workbook(path)
        cached = openpyxl.load_workbook(path, data_only=True)
        after = openpyxl.load_workbook(res, data_only=True)
        bad, n = [], 0
        if changes:
            for ref, val in sorted(wanted.items()):
                sheet, cell = ref.rsplit("!", 1)
                got = after[sheet][cell].value
                n += 1
                if not same(got, val):
                    bad.append("%s: recalculated %r, want %r" % (ref, got, val))
        else:
            for ws in before.worksheets:
                for row in ws.iter_rows():
                    for c in row:
                        if c.data_type != "f":
                            continue
                        n += 1
                        want = cached[ws.title][c.coordinate].value
                        got = after[ws.title][c.coordinate].value
                        if not same(got, want):
                            bad.append("%s!%s %s: cached %r, LibreOffice %r"
                                       % (ws.title, c.coordinate, c.value[:60], want, got))
        for b in bad[:20]:
            print("FAIL:", b)
        if bad:
            print("%d of %d formulas differ" % (len(bad), n))
            return 1
        if n == 0:
            print("FAIL: no formulas checked")
            return 1
        print("%d formulas recalculated by LibreOffice equal the expected values" % n)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
