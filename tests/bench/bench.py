#!/usr/bin/python3
"""The measurements behind `make bench` (started by tests/bench/run, which builds first).
Every figure is a whole process under /usr/bin/time -v (wall, user+system CPU, peak RSS),
repeated and reported as median [min-max]. Stage times inside a kpipress run (load, KPIs,
forecast, render) are its own stage clocks (`--summary`); the Python reference's, and the
per-stage peak memory, come from the moment each progress line reaches stderr. Writes the table to stdout
and to $BENCH_DIR/results.md.

Environment: KP_ROOT, KP_BIN (kpipress), BENCH_DIR, BENCH_BIN (bare_xlsx, bare_pdf),
BENCH_RUNS (default 3), BENCH_RUNS_LARGE (runs for sizes >= 1M, default min(BENCH_RUNS, 2)),
BENCH_SIZES (default "100000 1000000"), BENCH_SCORECARDS (default 1000),
BENCH_SCORECARD_OPPS (default 200000), BENCH_SKIP_PANDAS=1 to leave the Python rows out,
BENCH_RUNS_PY (runs of the Python reference, default min(runs, 2): with the same forecasts as
kpipress, fitted by statsmodels, one run of it takes minutes).
"""
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.environ.get("KP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
KP = os.environ.get("KP_BIN") or os.path.join(ROOT, "kpipress")
BENCH = os.environ.get("BENCH_DIR") or os.path.join(ROOT, "build", "bench")
BIN = os.environ.get("BENCH_BIN") or os.path.join(BENCH, "bin")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RUNS_LARGE = int(os.environ.get("BENCH_RUNS_LARGE", str(min(RUNS, 2))))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100000 1000000").split()]
NCARDS = int(os.environ.get("BENCH_SCORECARDS", "1000"))
CARD_OPPS = int(os.environ.get("BENCH_SCORECARD_OPPS", "200000"))
SKIP_PY = os.environ.get("BENCH_SKIP_PANDAS") == "1"
RUNS_PY = int(os.environ.get("BENCH_RUNS_PY", "2"))
PY = "/usr/bin/python3"
HERE = os.path.join(ROOT, "tests", "bench")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
# The repository's templates (metrics.ini and friends) for jobs that live under BENCH_DIR.
ENV = dict(os.environ, LC_ALL="C", TZ="UTC", KPIPRESS_TEMPLATES=os.path.join(ROOT, "templates"))


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- measuring ---------------------------------------------------------------------------

def parse_time_v(path):
    t = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            t[k] = v
    parts = [float(x) for x in t["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"wall": wall, "cpu": float(t["User time (seconds)"]) + float(t["System time (seconds)"]),
            "rss": int(t["Maximum resident set size (kbytes)"]) / 1024.0,
            "exit": int(t.get("Exit status", "0"))}


CURRENT = [None]  # the process being measured, stopped with the bench when interrupted


def child_pid(pid):
    """The process /usr/bin/time started (kpipress), or None."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def stage_peak(pid, peaks, stage):
    """Peak resident memory of pid since the last call (VmHWM), charged to stage; the
    kernel's high-water mark is then reset to the current size (clear_refs 5, Linux 4.0+)
    for the next stage. Without the permission or the process, nothing is recorded."""
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"VmHWM:\s+(\d+)", f.read())
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return
    if m:
        peaks[stage] = max(peaks.get(stage, 0.0), int(m.group(1)) / 1024.0)


def run_once(cmd, cwd, stdout=subprocess.DEVNULL):
    """One process under /usr/bin/time -v, with stage marks from its stderr lines."""
    tfile = os.path.join(BENCH, ".time")
    t0 = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + cmd, cwd=cwd, env=ENV,
                         stdout=stdout, stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True)
    CURRENT[0] = p
    marks, tail, mc_note = {}, [], None
    peaks, kid = {}, None  # per-stage peak memory of the main process (not render workers)
    for line in p.stderr:
        now = time.monotonic() - t0
        kid = kid or child_pid(p.pid)
        if "computing KPIs" in line:
            marks.setdefault("model", now)
            if kid:
                stage_peak(kid, peaks, "load")
        elif "forecasting " in line:
            if kid and "forecast" not in marks:
                stage_peak(kid, peaks, "model")
            marks.setdefault("forecast", now)
            m = re.search(r"forecasting (\d+) open deals \((\d+) Monte Carlo runs\)", line)
            if m:
                marks.setdefault("montecarlo", now)
                mc_note = f"Monte Carlo, {int(m.group(2)):,} runs over {int(m.group(1)):,} open deals"
        elif re.search(r"rendering \d+ documents", line):
            marks.setdefault("render", now)
            if kid:
                stage_peak(kid, peaks, "forecast")
        elif re.search(r"wrote \d+ documents", line) and kid:
            stage_peak(kid, peaks, "render")
        tail = (tail + [line.rstrip()])[-5:]
    p.wait()
    end = time.monotonic() - t0
    r = parse_time_v(tfile)
    if p.returncode:
        r["exit"] = p.returncode
    r["tail"] = tail
    for k, v in peaks.items():
        r[f"rss_{k}"] = v
    # resetting the high-water mark resets what /usr/bin/time reports too: the whole
    # process's peak is the largest of the stages'
    r["rss"] = max([r["rss"]] + list(peaks.values()))
    if "model" in marks:
        r["load_s"] = marks["model"]
        r["model_s"] = marks.get("forecast", marks.get("render", end)) - marks["model"]
    if "forecast" in marks:
        r["forecast_s"] = marks.get("render", end) - marks["forecast"]
    if "montecarlo" in marks:  # the forecast stage: bookings series, then the simulation
        r["series_s"] = marks["montecarlo"] - marks["forecast"]
        r["montecarlo_s"] = marks.get("render", end) - marks["montecarlo"]
        r["mc_note"] = mc_note
    if "render" in marks:
        r["render_s"] = end - marks["render"]
    # kpipress's own stage clocks (--summary) replace the progress-line marks for its stage
    # times: the forecast stage reads its deals before its first progress line, which the
    # marks would charge to the KPI stage (0.6 s at 1M)
    if "--summary" in cmd:
        try:
            with open(os.path.join(cwd, cmd[cmd.index("--summary") + 1])) as f:
                dur = json.load(f)["durations_ms"]
            for k in ("load", "model", "forecast", "render"):
                if k in dur:
                    r[f"{k}_s"] = dur[k] / 1000.0
        except (OSError, ValueError, KeyError, IndexError):
            pass
    return r


def measure(name, cmd, cwd, runs, prep=None, stdout=subprocess.DEVNULL):
    """runs repetitions; a failed run stops the row and is reported as such."""
    res = []
    for i in range(runs):
        if prep:
            prep()
        r = run_once(cmd, cwd, stdout)
        log(f"{name} run {i + 1}/{runs}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, "
            f"{r['rss']:.0f} MB" + (f" (exit {r['exit']})" if r["exit"] else "") +
            "".join(f", {k[:-2]} {r[k]:.2f} s" for k in ("load_s", "model_s", "forecast_s", "render_s") if k in r))
        if r["exit"]:
            return {"name": name, "failed": f"exit {r['exit']}: " + " / ".join(r["tail"][-2:])}
        res.append(r)
    out = {"name": name, "runs": res}
    if res and res[-1].get("mc_note"):
        out["mc_note"] = res[-1]["mc_note"]
    for k in ("wall", "cpu", "rss", "load_s", "model_s", "forecast_s", "series_s",
              "montecarlo_s", "render_s", "rss_load", "rss_model", "rss_forecast", "rss_render"):
        vals = [r[k] for r in res if k in r]
        if vals:
            out[k] = statistics.median(vals)
            out[k + "_min"], out[k + "_max"] = min(vals), max(vals)
    return out


def rm(*paths):
    for p in paths:
        for q in glob.glob(p):
            if os.path.isdir(q):
                shutil.rmtree(q)
            else:
                os.remove(q)


# ---- data and jobs -----------------------------------------------------------------------

def sample(d, reps, opps):
    stamp = os.path.join(d, ".params")
    want = f"--reps {reps} --months 36 --opps {opps}"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    rm(d)
    log(f"generating {d} ({want})")
    subprocess.run([KP, "sample", d] + want.split(), check=True, env=ENV,
                   stdout=subprocess.DEVNULL)
    with open(stamp, "w") as f:
        f.write(want)


def write_job(d, burst_limit=None):
    """bench.ini beside the sample's job.ini: same job, reports for every measurement, no
    e-mail, templates by absolute path (the repository's, and tests/bench/raw-data.ini)."""
    with open(os.path.join(d, "job.ini")) as f:
        base = f.read().split("[report ", 1)[0]
    base = re.sub(r"(?m)^database\s*=.*$", "database = var/bench.db", base)
    base = re.sub(r"(?m)^output_dir\s*=.*$", "output_dir = out", base)
    limit = f" LIMIT {burst_limit}" if burst_limit else ""
    # Its own job file: every command parses all of a job's templates, so a raw-data
    # template that kpipress does not support yet must not break the other rows.
    with open(os.path.join(d, "bench-raw.ini"), "w") as f:
        f.write(base + f"""[report raw-data]
template = {HERE}/raw-data.ini
output = raw-data.xlsx
""")
    with open(os.path.join(d, "bench.ini"), "w") as f:
        f.write(base + f"""[report board-pack]
template = {ROOT}/templates/board-pack.ini
output = board-pack.xlsx

[report scorecards]
template = {ROOT}/templates/rep-scorecard.ini
burst = SELECT rep_id, name, email FROM reps WHERE active = 1 AND rep_id IN
  (SELECT rep_id FROM quotas WHERE period_start BETWEEN :period_start AND :period_end)
  ORDER BY rep_id{limit}
output = scorecards/{{rep_id}}.pdf
""")
    as_of = re.search(r"(?m)^as_of\s*=\s*(\S+)", base).group(1)
    return as_of


def fresh(d):
    return lambda: rm(os.path.join(d, "var"), os.path.join(d, "out"))


def sql(db, q):
    return subprocess.run(["sqlite3", db, q], check=True, capture_output=True, text=True,
                          env=ENV).stdout.strip()


def mean_size(pattern):
    files = glob.glob(pattern)
    return sum(os.path.getsize(f) for f in files) / len(files) / 1024 if files else None


# ---- the benchmarks ----------------------------------------------------------------------

def bench_size(n, runs, rows, notes):
    d = os.path.join(BENCH, "data", f"opps-{n}")
    sample(d, 200, n)
    write_job(d)
    csv = os.path.join(d, "opportunities.csv")
    tag = f"{n // 1000}k" if n < 1000000 else f"{n / 1e6:g}M"

    rows.append(("load", tag, measure(f"kpipress load {tag}", [KP, "load", "bench.ini"], d, runs,
                                      prep=fresh(d))))
    with open(csv, encoding="utf-8-sig") as f:
        header = f.readline().strip()
    ncols = len(header.split('","'))
    create = "CREATE TABLE opportunities_raw(" + ", ".join(f"c{i}" for i in range(ncols)) + ");"
    imp_db = os.path.join(BENCH, "import.db")
    rows.append(("import", tag, measure(
        f"sqlite3 .import {tag}", ["sqlite3", imp_db, create, f".import --csv --skip 1 {csv} opportunities_raw"],
        d, runs, prep=lambda: rm(imp_db + "*"))))
    rm(imp_db + "*")

    bp = measure(f"kpipress board-pack {tag}", [KP, "run", "bench.ini", "--only", "board-pack", "--summary", "bench-summary.json"],
                 d, runs, prep=fresh(d))
    rows.append(("board", tag, bp))
    db = os.path.join(d, "var", "bench.db")
    if "failed" not in bp:
        # NOT INDEXED: one sequential scan and a sort, as the baseline means; otherwise
        # SQLite walks kpipress's (owner_id, as_of) index with a random table read per
        # row, 3x slower, which would flatter the KPI-stage ratio.
        agg = ("SELECT owner_id, substr(close_date,1,7), stage, count(*), sum(amount_cents)"
               " FROM opportunity_snapshots NOT INDEXED GROUP BY 1,2,3")
        rows.append(("aggregate", tag, measure(f"sqlite3 plain aggregate {tag}", ["sqlite3", db, agg],
                                               d, runs)))
    if not SKIP_PY:
        py_out = os.path.join(BENCH, f"pandas-board-pack-{tag}.xlsx")
        py_series = os.path.join(BENCH, f"pandas-forecasts-{tag}.csv")
        rows.append(("pandas_board", tag, measure(
            f"pandas board-pack {tag}", [PY, os.path.join(HERE, "pandas_job.py"), "board-pack", d,
                                         py_out, "--series", py_series], d, min(runs, RUNS_PY))))
        kp_out = os.path.join(d, "out", "board-pack.xlsx")
        if os.path.exists(kp_out) and os.path.exists(py_out):
            # All nine sheets, the Forecast sheet included: its deterministic figures exactly,
            # the Monte Carlo ones within a stated tolerance, the fitted forecasts reported
            # (compare_xlsx.py's docstring); then every bookings series against kpipress's
            # forecast table.
            cmd = [PY, os.path.join(HERE, "compare_xlsx.py"), "--strict"]
            if os.path.exists(db) and os.path.exists(py_series):
                cmd += ["--series", db, py_series]
            c = subprocess.run(cmd + [kp_out, py_out], capture_output=True, text=True)
            out = c.stdout.strip().splitlines()
            summary = [line for line in out if line.startswith("bookings forecasts:")] + out[-1:]
            notes.append(f"Board pack {tag}: kpipress vs pandas workbook content: "
                         f"{'; '.join(summary) if out else c.stderr.strip()}"
                         + ("" if c.returncode == 0 else " (see differences: " +
                            "; ".join(out[:3]) + ")"))

    # Raw-data sheet: only when kpipress accepts the streamed template (issue 6).
    chk = subprocess.run([KP, "check", "bench-raw.ini"], cwd=d, env=ENV, capture_output=True, text=True)
    if os.path.exists(db):
        rows.append(("bare_xlsx", tag, measure(
            f"bare libxlsxwriter loop {tag}", [os.path.join(BIN, "bare_xlsx"), db,
                                              os.path.join(BENCH, "bare.xlsx")], d, runs)))
    if chk.returncode == 0:
        rows.append(("raw", tag, measure(f"kpipress raw-data {tag}",
                                         [KP, "run", "bench-raw.ini", "--summary", "bench-summary.json"], d, runs,
                                         prep=fresh(d))))
    else:
        msg = (chk.stderr.strip().splitlines() or ["?"])[0]
        rows.append(("raw", tag, {"name": f"kpipress raw-data {tag}", "na": "n/a (not implemented)"}))
        notes.append(f"Raw-data sheet {tag}: `kpipress check` refuses tests/bench/raw-data.ini "
                     f"(`[document] stream = yes`): {msg}")


def bench_scorecards(runs, rows, notes):
    d = os.path.join(BENCH, "data", "scorecards")
    sample(d, NCARDS + NCARDS // 6 + 10, CARD_OPPS)
    as_of = write_job(d, NCARDS)
    tag = f"{NCARDS} docs"
    for jobs in (1, 2):
        r = measure(f"kpipress scorecards --jobs {jobs}",
                    [KP, "run", "bench.ini", "--only", "scorecards", "--jobs", str(jobs), "--summary", "bench-summary.json"], d, runs,
                    prep=fresh(d))
        r["docs"] = len(glob.glob(os.path.join(d, "out", "scorecards", "*.pdf")))
        r["kb"] = mean_size(os.path.join(d, "out", "scorecards", "*.pdf"))
        rows.append((f"cards{jobs}", tag, r))
    db = os.path.join(d, "var", "bench.db")
    if not os.path.exists(db) and subprocess.run([KP, "load", "bench.ini", "--quiet"], cwd=d,
                                                 env=ENV).returncode:
        notes.append("scorecards: no loaded database, bare libharu loop and ReportLab rows skipped")
        return
    ps = sql(db, f"SELECT date('{as_of}', 'start of month', '-1 month')")
    pe = sql(db, f"SELECT date('{as_of}', 'start of month', '-1 day')")
    qs = sql(db, f"SELECT date('{as_of}', 'start of month', '-2 months')")
    qe = sql(db, f"SELECT date('{as_of}', 'start of month', '-1 month', '-1 day')")
    bare_dir = os.path.join(BENCH, "bare-pdf")
    r = measure("bare libharu loop", [os.path.join(BIN, "bare_pdf"), db, bare_dir, str(NCARDS),
                                      FONT, FONT_BOLD, ps, pe, qs, qe, as_of], d, runs,
                prep=lambda: (rm(bare_dir), os.makedirs(bare_dir)))
    r["docs"] = len(glob.glob(os.path.join(bare_dir, "*.pdf")))
    r["kb"] = mean_size(os.path.join(bare_dir, "*.pdf"))
    rows.append(("bare_pdf", tag, r))
    if not SKIP_PY:
        py_dir = os.path.join(BENCH, "reportlab")
        r = measure("pandas + ReportLab scorecards",
                    [PY, os.path.join(HERE, "pandas_job.py"), "scorecards", d, py_dir, "--limit",
                     str(NCARDS)], d, min(runs, RUNS_PY), prep=lambda: rm(py_dir))
        r["docs"] = len(glob.glob(os.path.join(py_dir, "*.pdf")))
        r["kb"] = mean_size(os.path.join(py_dir, "*.pdf"))
        rows.append(("reportlab", tag, r))


# ---- report ------------------------------------------------------------------------------

def fig(r, k="wall"):
    if "failed" in r:
        return "failed"
    if "na" in r:
        return r["na"]
    if k not in r:
        return "-"
    return f"{r[k]:.2f} [{r[k + '_min']:.2f}-{r[k + '_max']:.2f}]"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    mem = mem[1].split()[1] if len(mem) > 1 else "?"
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}, "
            f"SQLite {sql(':memory:', 'SELECT sqlite_version()')}")


def ratio_line(label, target, num, den, goal, higher=True, cpu=None):
    """A 'times' ratio against its target; held when >= goal (or <= goal if not higher).
    cpu: the same ratio over CPU seconds, shown beside it (steadier on a shared machine)."""
    if num is None or den is None or den <= 0 or num <= 0:
        return f"| {label} | {target} | n/a | - | not measured |"
    v = num / den
    ok = v >= goal if higher else v <= goal
    c = f"{cpu:.2f}x" if cpu else "-"
    return f"| {label} | {target} | {v:.2f}x | {c} | {'held' if ok else '**not held**'} |"


def cpu_ratio(a, b):
    return a["cpu"] / b["cpu"] if a and b and b.get("cpu") else None


def get(rows, key, tag):
    for k, t, r in rows:
        if k == key and t == tag and "failed" not in r and "na" not in r:
            return r
    return None


def report(rows, notes, started, load_before, load_after):
    lines = ["# kpipress benchmarks", "",
             f"Machine: {machine()}. Load average {load_before} before, {load_after} after "
             f"(other processes share the CPUs: wall times vary; CPU times are steadier).",
             f"Runs per figure: {RUNS} ({RUNS_LARGE} at 1M and above, at most {RUNS_PY} for the "
             f"Python reference); figures are median "
             f"[min-max]; total bench time {(time.monotonic() - started) / 60:.1f} min.", "",
             "| what | data | wall s | CPU s | peak MB | stages: load / KPIs / forecast / render s (median) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for _, tag, r in rows:
        st = " / ".join(f"{r[k]:.2f}" for k in ("load_s", "model_s", "forecast_s", "render_s")
                        if k in r)
        extra = ""
        if r.get("docs") is not None:
            extra = f"{r['docs']} files" + (f", {r['kb']:.0f} KB each" if r.get("kb") else "")
            extra = f"; {extra}" if st else extra
        if "failed" in r:
            notes.append(f"{r['name']} failed: {r['failed']}")
        mb = f"{r['rss']:.0f}" if "rss" in r else fig(r)
        lines.append(f"| {r['name']} | {tag} | {fig(r)} | {fig(r, 'cpu')} | {mb} | {st}{extra} |")
    lines += ["", "| target (issue) | goal | measured (wall) | same over CPU s | status |",
              "| --- | --- | --- | --- | --- |"]
    for n in SIZES:
        tag = f"{n // 1000}k" if n < 1000000 else f"{n / 1e6:g}M"
        ld, imp = get(rows, "load", tag), get(rows, "import", tag)
        lines.append(ratio_line(f"load vs sqlite3 .import, {tag} (#3)", ">= 2.5x faster",
                                imp and imp["wall"], ld and ld["wall"], 2.5,
                                cpu=cpu_ratio(imp, ld)))
        bp, pb = get(rows, "board", tag), get(rows, "pandas_board", tag)
        goal = 3.0 if n >= 1000000 else 5.0
        lines.append(ratio_line(f"board pack vs pandas, {tag} (#9)", f">= {goal:g}x faster",
                                pb and pb["wall"], bp and bp["wall"], goal,
                                cpu=cpu_ratio(pb, bp)))
        # kpipress's peak over pandas', so that the figure reads against the "<= 0.10x" goal
        lines.append(ratio_line(f"board pack peak memory / pandas' peak, {tag} (#9)", "<= 0.10x",
                                bp and bp["rss"], pb and pb["rss"], 0.10, higher=False))
        agg = get(rows, "aggregate", tag)
        lines.append(ratio_line(f"KPI stage vs plain grouped aggregate, {tag} (#4)", "<= 2x",
                                bp and bp.get("model_s"), agg and agg["wall"], 2.0, higher=False))
        raw, bare = get(rows, "raw", tag), get(rows, "bare_xlsx", tag)
        lines.append(ratio_line(f"raw-data sheet render vs bare libxlsxwriter loop, {tag} (#6)",
                                "<= 1.25x", raw and raw.get("render_s"), bare and bare["wall"],
                                1.25, higher=False))
        if bp and "render_s" in bp:
            ok = "held" if bp["render_s"] < 1.0 else "**not held**"
            lines.append(f"| board pack render stage, 200 reps, {tag} (#6) | < 1 s | "
                         f"{bp['render_s']:.2f} s wall | - | {ok} |")
        if bp and "rss_model" in bp:
            peaks = " / ".join(f"{bp[k]:.0f}" if k in bp else "-"
                               for k in ("rss_load", "rss_model", "rss_forecast", "rss_render"))
            lines.append(f"| board pack peak memory by stage, {tag} (#9): load / KPIs / "
                         f"forecast / render | - | {peaks} MB | - | info |")
        if bp and "series_s" in bp:
            lines.append(f"| forecast stage, {tag} (#5): bookings forecasts with backtests "
                         f"(company, regions, teams, reps) / {bp.get('mc_note', 'Monte Carlo')} "
                         f"| seconds | {bp['series_s']:.2f} s / {bp['montecarlo_s']:.2f} s wall "
                         f"| - | info |")
    lds = [get(rows, "load", f"{n // 1000}k" if n < 1000000 else f"{n / 1e6:g}M") for n in SIZES]
    if len(lds) >= 2 and all(lds):
        mems = " / ".join("%.0f MB" % r["rss"] for r in lds)
        lines.append(f"| load peak memory independent of rows (#3) | flat | {mems} | - | "
                     f"{'held' if lds[-1]['rss'] <= 1.5 * lds[0]['rss'] else '**not held**'} |")
    rl = get(rows, "reportlab", f"{NCARDS} docs")
    for j in (1, 2):
        c = get(rows, f"cards{j}", f"{NCARDS} docs")
        if c and rl and c.get("render_s") and rl.get("render_s"):
            kp_rate, rl_rate = c["docs"] / c["render_s"], rl["docs"] / rl["render_s"]
            lines.append(ratio_line(f"scorecards/s --jobs {j} vs ReportLab, render stage "
                                    f"({kp_rate:.0f} vs {rl_rate:.0f} docs/s) (#7)",
                                    ">= 5x", kp_rate, rl_rate, 5.0))
        if c and c.get("kb"):
            lines.append(f"| scorecard file size --jobs {j} (#7) | < 40 KB | {c['kb']:.0f} KB | - | "
                         f"{'held' if c['kb'] < 40 else '**not held**'} |")
    bare = get(rows, "bare_pdf", f"{NCARDS} docs")
    c1 = get(rows, "cards1", f"{NCARDS} docs")
    if bare and c1 and c1.get("render_s"):
        lines.append(f"| scorecards --jobs 1 render vs bare libharu loop (#7, info) | - | "
                     f"{c1['render_s'] / bare['wall']:.2f}x the bare loop's time | - | info |")
    lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(BENCH, "results.md"), "w") as f:
        f.write(text)
    print(text)


def main():
    os.makedirs(BENCH, exist_ok=True)
    started = time.monotonic()
    load_before = open("/proc/loadavg").read().split()[0]
    rows, notes = [], []
    # A section that breaks (e.g. a tool missing) is reported, and the others still run.
    # The scorecards come after the smallest size, before the long large-size rows; an
    # interrupted bench (SIGTERM, Ctrl-C) still writes the table of what it measured.
    sections = [(lambda n=n: bench_size(n, RUNS_LARGE if n >= 1000000 else RUNS, rows, notes))
                for n in SIZES]
    if NCARDS > 0:
        sections.insert(1, lambda: bench_scorecards(RUNS, rows, notes))

    def interrupted(signum, frame):
        if CURRENT[0] and CURRENT[0].poll() is None:
            os.killpg(CURRENT[0].pid, signal.SIGTERM)
        notes.append(f"interrupted by signal {signum}: the table holds what was measured")
        report(rows, notes, started, load_before, open("/proc/loadavg").read().split()[0])
        sys.exit(1)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    for section in sections:
        try:
            section()
        except (OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
            notes.append(f"benchmark section stopped: {exc!r}")
            log(f"section stopped: {exc!r}")
    report(rows, notes, started, load_before, open("/proc/loadavg").read().split()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
