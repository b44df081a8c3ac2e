"""Independent check of a kpipress manifest (used by test_deliver): parses manifest.json
and manifest.csv with the standard library, compares them with the expected rows written
below, and recomputes every size and checksum with os.path.getsize and sha256sum.
Usage: check_deliver.py DIR OUTSIDE_FILE ; exit 0 when everything matches."""
import csv, json, os, subprocess, sys

d, outside = sys.argv[1], sys.argv[2]
KEYS = ["report", "key", "path", "bytes", "sha256", "recipient", "subject"]
# Sorted by (report, path) in byte order: "S" (0x53) sorts before "a" (0x61).
want = [
    ("audit", "tab\tbell\x07", outside, None, None),
    ("board-pack", None, "board-pack.xlsx", None, None),
    ("scorecards", "r002", "scorecards/S\u00f8ren \u00d8.pdf", "S\u00f8ren <soren@example.com>",
     'Scorecard, "Q4"\n2026'),
    ("scorecards", "r001", "scorecards/a.pdf", "mueller@example.com",
     "Ihr Bericht \u2013 M\u00fcller"),
]
errors = []
with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
    rows = json.load(f)
if len(rows) != len(want):
    errors.append("json has %d rows, want %d" % (len(rows), len(want)))
for row, (report, key, path, recipient, subject) in zip(rows, want):
    if list(row.keys()) != KEYS:
        errors.append("keys %r" % list(row.keys()))
    exp = {"report": report, "key": key, "path": path, "recipient": recipient, "subject": subject}
    for k, v in exp.items():
        if row[k] != v:
            errors.append("%s: %r, want %r" % (k, row[k], v))
    full = path if os.path.isabs(path) else os.path.join(d, path)
    sha = subprocess.run(["sha256sum", full], capture_output=True, check=True).stdout.split()[0]
    if row["sha256"] != sha.decode():
        errors.append("sha256 of %s: %s, sha256sum says %s" % (path, row["sha256"], sha.decode()))
    if row["bytes"] != os.path.getsize(full) or type(row["bytes"]) is not int:
        errors.append("bytes of %s: %r" % (path, row["bytes"]))
with open(os.path.join(d, "manifest.csv"), encoding="utf-8", newline="") as f:
    table = list(csv.reader(f))
if table[0] != KEYS:
    errors.append("csv header %r" % table[0])
as_csv = [["" if r[k] is None else str(r[k]) for k in KEYS] for r in rows]
if table[1:] != as_csv:
    errors.append("csv rows %r != json rows %r" % (table[1:], as_csv))
leftovers = [n for n in os.listdir(d) if n.startswith(".")]
if leftovers:
    errors.append("temporary files left: %r" % leftovers)
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
