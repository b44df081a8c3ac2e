#!/usr/bin/python3
"""Checks that the Python reference workbook holds the same content as kpipress's board
pack, so the benchmark compares like with like: same sheets, same cells (values within a
cent's rounding, same formulas, same number formats) and the same number of charts.
usage: compare_xlsx.py KPIPRESS.xlsx REFERENCE.xlsx   (exit 1 and a list when they differ)"""
import sys

import openpyxl


def cells(ws):
    out = {}
    for row in ws.iter_rows():
        for c in row:
            if c.value is not None and c.value != "":
                out[c.coordinate] = (c.value, c.number_format)
    return out


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return a == b


def main(a_path, b_path):
    a, b = openpyxl.load_workbook(a_path), openpyxl.load_workbook(b_path)
    diffs = []
    if a.sheetnames != b.sheetnames:
        diffs.append(f"sheets: {a.sheetnames} vs {b.sheetnames}")
    ncells = 0
    for name in a.sheetnames:
        if name not in b.sheetnames:
            continue
        ca, cb = cells(a[name]), cells(b[name])
        ncells += len(ca)
        for k in sorted(set(ca) | set(cb)):
            va, vb = ca.get(k), cb.get(k)
            if va is None or vb is None or not same(va[0], vb[0]) or va[1] != vb[1]:
                diffs.append(f"{name}!{k}: {va} vs {vb}")
        if len(a[name]._charts) != len(b[name]._charts):
            diffs.append(f"{name}: {len(a[name]._charts)} vs {len(b[name]._charts)} charts")
    for d in diffs[:20]:
        print(d)
    print(f"{ncells} cells compared, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]) if len(sys.argv) == 3 else 2)
