#!/usr/bin/python3
"""Checks that the Python reference workbook holds the same content as kpipress's board
pack, so the benchmark compares like with like. Every sheet, cell by cell: the formula text,
the value (a formula's cached value, which readers that do not recalculate show), the type
and the number format; numbers in a currency format agree to the cent, other numbers to
1e-9 relative. Also the layout a reader notices: sheet order, frozen panes, autofilters,
defined names, and each chart's kind and position.

usage: compare_xlsx.py [--strict] [--max N] [--skip-sheet NAME]... KPIPRESS.xlsx REFERENCE.xlsx
Lists the first N differences (default 20) and ends with one line
"C cells compared in S sheets, D differences". Exit status 0, or with --strict 1 when there
are differences; 2 on a usage error or a workbook that cannot be read.
"""
import datetime as dt
import sys

import openpyxl

CENT = 0.005  # two amounts agree to the cent when they differ by less than half of one
REL = 1e-9


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


def compare_cells(name, ca, cb, diffs):
    for k in sorted(set(ca) | set(cb), key=lambda c: (openpyxl.utils.cell.coordinate_to_tuple(c))):
        a, b = ca.get(k), cb.get(k)
        if a is None or b is None:
            diffs.append(f"{name}!{k}: {show(a)} vs {show(b)}")
            continue
        why = []
        if a[0] != b[0]:
            why.append("formula")
        if (a[1] is None) != (b[1] is None) or (a[1] is not None and not same_value(a[1], b[1], a[2])):
            why.append("value")
        if a[2] != b[2]:
            why.append("number format")
        if why:
            diffs.append(f"{name}!{k} ({', '.join(why)}): {show(a)} vs {show(b)}")


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


def compare(a_path, b_path, skip=()):
    """(cells compared, sheets compared, differences); sheets named in skip are ignored
    (on either side)."""
    af, bf = openpyxl.load_workbook(a_path), openpyxl.load_workbook(b_path)
    av, bv = (openpyxl.load_workbook(a_path, data_only=True),
              openpyxl.load_workbook(b_path, data_only=True))
    diffs = []
    an = [n for n in af.sheetnames if n not in skip]
    bn = [n for n in bf.sheetnames if n not in skip]
    if an != bn:
        diffs.append(f"sheets: {an} vs {bn}")
    ncells = nsheets = 0
    for name in an:
        if name not in bn:
            continue
        ca, cb = cells(af[name], av[name]), cells(bf[name], bv[name])
        ncells += len(set(ca) | set(cb))
        nsheets += 1
        compare_cells(name, ca, cb, diffs)
        compare_layout(name, af[name], bf[name], diffs)
    na, nb = defined_names(af), defined_names(bf)
    skipped = lambda v: any(v and v.startswith((f"{n}!", f"'{n}'!")) for n in skip)
    na = {k: v for k, v in na.items() if not skipped(v)}
    nb = {k: v for k, v in nb.items() if not skipped(v)}
    for k in sorted(set(na) | set(nb)):
        if na.get(k) != nb.get(k):
            diffs.append(f"defined name {k}: {na.get(k)} vs {nb.get(k)}")
    return ncells, nsheets, diffs


def main(argv):
    strict, limit, paths, skip = False, 20, [], []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--strict":
            strict = True
        elif arg == "--skip-sheet":
            skip.append(next(args, ""))
        elif arg == "--max":
            n = next(args, "")
            limit = int(n) if n.isdigit() else -1
        else:
            paths.append(arg)
    if len(paths) != 2 or limit < 0:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        ncells, nsheets, diffs = compare(*paths, skip=skip)
    except (OSError, KeyError, ValueError, openpyxl.utils.exceptions.InvalidFileException) as e:
        print(f"compare_xlsx: {e}", file=sys.stderr)
        return 2
    for d in diffs[:limit]:
        print(d)
    if len(diffs) > limit:
        print(f"... and {len(diffs) - limit} more")
    print(f"{ncells} cells compared in {nsheets} sheets, {len(diffs)} differences")
    return 1 if strict and diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
