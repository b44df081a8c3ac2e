#!/usr/bin/env bash
# `kpipress sample` and the committed sample-data/: the export shapes the loader expects,
# and realism measured independently with Python's csv module (win rate, cycle length,
# quarter-end spike, attainment spread, slipped deals, referential integrity). The checks
# run on sample-data/ always, and on fresh generations when the binary has `sample`.
source "$KP_ROOT/tests/functional/lib.sh"

cat >"$TMP/sample_checks.py" <<'PY'
"""Independent checks of a kpipress sample data set: python3 sample_checks.py DIR CHECK,... OUTDIR."""
import collections, csv, datetime, re, statistics, sys

d, name = sys.argv[1], sys.argv[2]
HEADER = ('"Opportunity ID","Opportunity Name","Account Name","Opportunity Owner","Stage",'
          '"Amount","Probability (%)","Close Date","Created Date","Forecast Category","Type",'
          '"Lead Source","Product"')
STAGES = {"Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Value Proposition": 50,
          "Id. Decision Makers": 60, "Perception Analysis": 70, "Proposal/Price Quote": 75,
          "Negotiation/Review": 90, "Closed Won": 100, "Closed Lost": 0}
OPEN_ORDER = list(STAGES)[:8]
MDY = re.compile(r'^(1[0-2]|[1-9])/(3[01]|[12][0-9]|[1-9])/\d{4}$')


def fail(msg):
    print(msg)
    sys.exit(1)


def mdy(s):
    if not MDY.match(s):
        fail(f"not M/D/YYYY: {s!r}")
    m, dd, y = s.split('/')
    return datetime.date(int(y), int(m), int(dd))


def money(s):
    if not re.match(r'^\$\d{1,3}(,\d{3})*\.\d\d$', s):
        fail(f"not $1,234.56 money: {s!r}")
    return float(s[1:].replace(',', ''))


def job():
    keys = {}
    for line in open(f'{d}/job.ini', encoding='utf-8'):
        if '=' in line and not line.startswith(';'):
            k, v = line.split('=', 1)
            keys.setdefault(k.strip(), v.split(';')[0].strip())
    return keys


raw = open(f'{d}/opportunities.csv', 'rb').read()
text = raw.decode('utf-8')
rows = list(csv.reader(text.splitlines()))
opps = []
for r in rows[1:]:
    if not r:
        break
    opps.append(dict(zip(rows[0], r)))
users = list(csv.DictReader(open(f'{d}/users.csv', newline='', encoding='utf-8')))
quotas = list(csv.DictReader(open(f'{d}/quotas.csv', newline='', encoding='utf-8')))
J = job()
as_of = datetime.date.fromisoformat(J['as_of'])
fy_start = int(J['fiscal_year_start'])
last_month = (as_of - datetime.timedelta(days=1)).replace(day=1)
by_name = {u['Full Name']: u for u in users}
by_id = {u['User ID']: u for u in users}
reps = {u['User ID'] for u in users if u['Role'].startswith('AE - ')}
won = [o for o in opps if o['Stage'] == 'Closed Won']
lost = [o for o in opps if o['Stage'] == 'Closed Lost']
open_ = [o for o in opps if o['Stage'] not in ('Closed Won', 'Closed Lost')]


def month_add(m, k):
    t = m.year * 12 + m.month - 1 + k
    return datetime.date(t // 12, t % 12 + 1, 1)


def history_months():
    """The months of quota history (the first quota month to the last month covered)."""
    first = min(mdy(q['Start Date']) for q in quotas)
    out, m = [], first
    while m <= last_month:
        out.append(m)
        m = month_add(m, 1)
    return out


def check_shape():
    lines = raw.split(b'\r\n')
    if lines[0].decode() != HEADER:
        fail(f"header differs: {lines[0]!r}")
    if b'\n' in raw.replace(b'\r\n', b''):
        fail("a bare LF: Salesforce writes CRLF")
    n = len(opps)
    want_tail = [b'', f'"Grand Totals ({n} records)"'.encode(), b'',
                 b'"Confidential Information - Do Not Distribute"',
                 f'"Copyright (c) 2000-{as_of.year} salesforce.com, inc. All rights reserved."'.encode(), b'']
    if lines[1 + n:] != want_tail:
        fail(f"footer differs: {lines[1 + n:]!r}")
    quoted = re.compile(rb'^"([^"]|"")*"(,"([^"]|"")*")*$')
    for i, line in enumerate(lines[:1 + n]):
        if not quoted.match(line):
            fail(f"line {i + 1} has an unquoted field: {line[:80]!r}")
        if len(rows[i]) != 13:
            fail(f"line {i + 1} has {len(rows[i])} fields")
    for f in ('users.csv', 'quotas.csv'):
        b = open(f'{d}/{f}', 'rb').read()
        if not b.endswith(b'\r\n') or b'\n' in b.replace(b'\r\n', b''):
            fail(f"{f}: not CRLF")
    print(f"{n} rows, footer and quoting as Salesforce writes them")


def sf_checksum(id15):
    out = ''
    for c in range(3):
        bits = sum(1 << k for k in range(5) if id15[c * 5 + k].isupper())
        out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'[bits]
    return out


def check_ids():
    for prefix, ids in (('006', [o['Opportunity ID'] for o in opps]), ('005', [u['User ID'] for u in users])):
        if len(set(ids)) != len(ids):
            fail(f"duplicate {prefix} ids")
        for i in ids:
            if not re.match(r'^[0-9A-Za-z]{18}$', i) or not i.startswith(prefix):
                fail(f"bad id {i}")
            if i[15:] != sf_checksum(i[:15]):
                fail(f"{i}: case-checksum suffix should be {sf_checksum(i[:15])}")
    print("ids are 18-character Salesforce ids with valid suffixes")


def check_values():
    cats = collections.Counter()
    for o in opps:
        if o['Stage'] not in STAGES:
            fail(f"unknown stage {o['Stage']}")
        if int(o['Probability (%)']) != STAGES[o['Stage']]:
            fail(f"{o['Opportunity ID']}: probability {o['Probability (%)']} for {o['Stage']}")
        cat = o['Forecast Category']
        want = {'Closed Won': {'Closed'}, 'Closed Lost': {'Omitted'}}.get(
            o['Stage'], {'Pipeline', 'Best Case', 'Commit', 'Omitted'})
        if cat not in want:
            fail(f"{o['Opportunity ID']}: category {cat} for {o['Stage']}")
        cats[cat] += 1
        if o['Type'] not in ('New Business', 'Existing Business'):
            fail(f"type {o['Type']}")
        created, close = mdy(o['Created Date']), mdy(o['Close Date'])
        if created >= as_of:
            fail(f"{o['Opportunity ID']} created on/after as-of")
        if o['Stage'].startswith('Closed') and not (created <= close < as_of):
            fail(f"{o['Opportunity ID']}: closed {close} outside [{created}, {as_of})")
        money(o['Amount'])
    for c in ('Pipeline', 'Best Case', 'Commit', 'Closed', 'Omitted'):
        if not cats[c]:
            fail(f"no deal in forecast category {c}")
    cents = sum(not o['Amount'].endswith('.00') for o in opps)
    if not (0.01 * len(opps) <= cents <= 0.3 * len(opps)):
        fail(f"{cents} amounts with cents: want whole dollars mostly, some cents")
    print(f"stages, probabilities, categories, dates and amounts consistent ({cents} with cents)")


def check_win_rate():
    rate = len(won) / (len(won) + len(lost))
    print(f"win rate {rate:.3f} ({len(won)} won, {len(lost)} lost)")
    if not 0.15 <= rate <= 0.40:
        fail("win rate outside 15%..40%")


def check_cycle():
    days = [(mdy(o['Close Date']) - mdy(o['Created Date'])).days for o in won]
    med = statistics.median(days)
    print(f"median cycle of won deals {med} days")
    if not 20 <= med <= 120:
        fail("median cycle outside 20..120 days")
    by_amount = sorted(won, key=lambda o: money(o['Amount']))
    q = len(by_amount) // 4
    small = statistics.median((mdy(o['Close Date']) - mdy(o['Created Date'])).days for o in by_amount[:q])
    big = statistics.median((mdy(o['Close Date']) - mdy(o['Created Date'])).days for o in by_amount[-q:])
    print(f"median cycle: smallest quarter {small} days, largest quarter {big} days")
    if not big > small:
        fail("bigger deals should take longer")


def check_quarter_end():
    months = history_months()
    counts = collections.Counter(mdy(o['Close Date']).replace(day=1) for o in won)
    qe_months = {(fy_start + 1 + 3 * k) % 12 + 1 for k in range(4)}  # last month of each fiscal quarter
    qe = [counts[m] for m in months if m.month in qe_months]
    other = [counts[m] for m in months if m.month not in qe_months]
    print(f"won per month: fiscal quarter-end {statistics.mean(qe):.1f} vs other {statistics.mean(other):.1f}"
          f" (quarter-end months {sorted(qe_months)})")
    if not statistics.mean(qe) > 1.15 * statistics.mean(other):
        fail("no quarter-end spike in closes")


def check_growth():
    months = history_months()
    half = len(months) // 2
    created = collections.Counter(mdy(o['Created Date']).replace(day=1) for o in opps)
    early = sum(created[m] for m in months[:half])
    late = sum(created[m] for m in months[-half:])
    print(f"deals created: first {half} months {early}, last {half} months {late}")
    if not late > early:
        fail("no growth")


def check_attainment():
    quota = collections.defaultdict(float)
    for q in quotas:
        quota[(q['Quota Owner ID'], mdy(q['Start Date']))] += money(q['Quota Amount'])
    booked = collections.defaultdict(float)
    for o in won:
        booked[(by_name[o['Opportunity Owner']]['User ID'], mdy(o['Close Date']).replace(day=1))] += money(o['Amount'])
    last = [booked[k] / v for k, v in quota.items() if k[1] == last_month]
    above, below = sum(a > 1 for a in last), sum(a < 1 for a in last)
    print(f"{last_month:%B %Y}: {above} reps above quota, {below} below")
    if not above or not below:
        fail("want reps both above and below 100% in the last month")
    start = month_add(last_month, -11)
    t12 = []
    for rep in reps:
        qq = sum(v for k, v in quota.items() if k[0] == rep and start <= k[1] <= last_month)
        # a rep with a full year of quota, so ramping and departed reps do not blur the spread
        if sum(1 for k in quota if k[0] == rep and start <= k[1] <= last_month) == 12:
            t12.append(sum(v for k, v in booked.items() if k[0] == rep and start <= k[1] <= last_month) / qq)
    t12.sort()
    med = statistics.median(t12)
    p10, p90 = t12[len(t12) // 10], t12[len(t12) * 9 // 10]
    print(f"trailing-12-month attainment of {len(t12)} reps: p10 {p10:.2f}, median {med:.2f}, p90 {p90:.2f}")
    if not (0.7 <= med <= 1.2 and 0.2 <= p10 <= 0.8 and 1.1 <= p90 <= 2.2):
        fail("attainment spread not roughly 40%..160% around plan")


def check_pipeline():
    slipped = [o for o in open_ if mdy(o['Close Date']) < as_of]
    ahead = collections.Counter(mdy(o['Close Date']).replace(day=1) for o in open_)
    nxt = [ahead[month_add(last_month, k)] for k in (1, 2, 3)]
    print(f"{len(open_)} open deals, {len(slipped)} slipped, due in the next three months: {nxt}")
    if not slipped:
        fail("no slipped deal")
    if min(nxt) == 0:
        fail("open pipeline should have close dates in each of the next months")
    early = sum(1 for o in open_ if OPEN_ORDER.index(o['Stage']) < 4)
    late = len(open_) - early
    if not early > late:
        fail("open deals should thin out in later stages")


def check_segments():
    med = {}
    for seg in ('Enterprise', 'Mid-Market'):
        a = [money(o['Amount']) for o in won if f'AE - {seg}' in by_name[o['Opportunity Owner']]['Role']]
        med[seg] = statistics.median(a)
    print(f"median won deal: Enterprise {med['Enterprise']:.0f}, Mid-Market {med['Mid-Market']:.0f}")
    if not med['Enterprise'] > 1.5 * med['Mid-Market']:
        fail("enterprise deals should be bigger")


def check_people():
    owners = {o['Opportunity Owner'] for o in opps}
    missing = owners - set(by_name)
    if missing:
        fail(f"owners not in users.csv: {sorted(missing)[:5]}")
    not_reps = {n for n in owners if not by_name[n]['Role'].startswith('AE - ')}
    if not_reps:
        fail(f"deals owned by non-reps: {sorted(not_reps)[:5]}")
    names = [u['Full Name'] for u in users]
    if len(set(names)) != len(names):
        fail(f"two users share a full name: the owner column would be ambiguous")
    emails = [u['Email'] for u in users]
    if len(set(emails)) != len(emails):
        fail("duplicate e-mails")
    for e in emails:
        if not re.match(r'^[a-z0-9-]+\.[a-z0-9-]+[0-9]*@example\.com$', e):
            fail(f"e-mail not first.last@example.com ASCII: {e}")
    for u in users:
        if u['Manager ID'] and u['Manager ID'] not in by_id:
            fail(f"{u['Full Name']}: manager {u['Manager ID']} not a user")
        if u['Role'].startswith('AE - ') and not by_id[u['Manager ID']]['Role'].startswith('Sales Manager - '):
            fail(f"{u['Full Name']}: a rep should report to a sales manager")
        if u['Active'] not in ('0', '1'):
            fail(f"Active {u['Active']}")
        mdy(u['Start Date'])
    inactive = sum(u['Active'] == '0' for u in users)
    non_ascii = [u['Full Name'] for u in users if u['User ID'] in reps and not u['Full Name'].isascii()]
    scripts = {'Greek': any('\u0370' <= c <= '\u03ff' for n in non_ascii for c in n),
               'Cyrillic': any('\u0400' <= c <= '\u04ff' for n in non_ascii for c in n)}
    print(f"{len(reps)} reps, {inactive} inactive, {len(non_ascii)} reps with non-ASCII names {scripts}")
    if not inactive:
        fail("want a few inactive reps")
    if len(non_ascii) < 5 or not all(scripts.values()):
        fail("want accented, Greek and Cyrillic rep names")


def check_quotas():
    owners = {q['Quota Owner ID'] for q in quotas}
    if owners - reps:
        fail(f"quotas for non-reps: {sorted(owners - reps)[:5]}")
    keys = [(q['Quota Owner ID'], q['Start Date']) for q in quotas]
    if len(set(keys)) != len(keys):
        fail("two quotas for one rep and month")
    for q in quotas:
        if mdy(q['Start Date']).day != 1:
            fail(f"quota month not starting on the 1st: {q['Start Date']}")
    active_now = {u['User ID'] for u in users if u['User ID'] in reps and u['Active'] == '1'
                  and mdy(u['Start Date']) < month_add(last_month, -6)}
    last = {q['Quota Owner ID'] for q in quotas if mdy(q['Start Date']) == last_month}
    if active_now - last:
        fail(f"active reps without a quota in {last_month}: {sorted(active_now - last)[:5]}")
    if {by_id[i]['Active'] for i in last} != {'1'}:
        fail("an inactive rep has a quota in the last month")
    per_fy = collections.defaultdict(list)
    for q in quotas:
        m = mdy(q['Start Date'])
        per_fy[m.year if m.month >= fy_start else m.year - 1].append(money(q['Quota Amount']))
    fys = sorted(per_fy)
    first, final = statistics.median(per_fy[fys[0]]), statistics.median(per_fy[fys[-1]])
    amounts = {money(q['Quota Amount']) for q in quotas}
    print(f"{len(quotas)} quota rows; median quota FY{fys[0]} {first:.0f} -> FY{fys[-1]} {final:.0f}; {len(amounts)} distinct amounts")
    if not final > first:
        fail("quotas should grow over time")
    if len(amounts) < 5:
        fail("quotas should differ by seniority")


# Parsing dominates, so one run does every check; each leaves OUT/CHECK.out and .rc.
import contextlib, io, os
out = sys.argv[3]
os.makedirs(out, exist_ok=True)
for check in name.split(','):
    buf, rc = io.StringIO(), 0
    with contextlib.redirect_stdout(buf):
        try:
            globals()['check_' + check]()
        except SystemExit as e:
            rc = e.code or 0
        except Exception as e:  # a crash in a check is a failure of that check
            print(f"{type(e).__name__}: {e}")
            rc = 1
    open(f'{out}/{check}.out', 'w').write(buf.getvalue())
    open(f'{out}/{check}.rc', 'w').write(str(rc))
PY

CHECKS="shape ids values win_rate cycle quarter_end growth attainment pipeline segments people quotas"
# check_set DIR LABEL: every independent check on one data set, one TAP line each
check_set() {
    local dir=$1 label=$2 c res="$TMP/res.$RANDOM"
    $PY "$TMP/sample_checks.py" "$dir" "$(echo $CHECKS | tr ' ' ,)" "$res" || { notok "$label: checks did not run"; return; }
    for c in $CHECKS; do
        check "$label: $c" bash -c 'cat "$1.out"; exit "$(cat "$1.rc")"' _ "$res/$c"
    done
}

# The committed data set: what `make demo` and the other functional tests run on.
if [ -f "$KP_ROOT/sample-data/opportunities.csv" ]; then
    check_set "$KP_ROOT/sample-data" "sample-data"
    check "sample-data under 1 MB" test "$(du -sk "$KP_ROOT/sample-data" --exclude=out --exclude=var | cut -f1)" -lt 1024
else
    notok "sample-data/opportunities.csv is missing"
fi

if ! "$KP_BIN" sample --help >/dev/null 2>&1; then
    skip "kpipress sample not wired into main.c yet"
    exit 0
fi

# The committed files are exactly what the defaults generate.
expect_exit 0 "sample with defaults" "$KP_BIN" sample "$TMP/default"
for f in opportunities.csv users.csv quotas.csv job.ini; do
    check "sample-data/$f is the generated one" cmp "$TMP/default/$f" "$KP_ROOT/sample-data/$f"
done

# Determinism, seed, counts.
expect_exit 0 "sample seed 7 (a)" "$KP_BIN" sample "$TMP/a" --seed 7 --reps 12 --months 6 --opps 500
expect_exit 0 "sample seed 7 (b)" "$KP_BIN" sample "$TMP/b" --seed 7 --reps 12 --months 6 --opps 500
expect_exit 0 "sample seed 8" "$KP_BIN" sample "$TMP/c" --seed 8 --reps 12 --months 6 --opps 500
check "same seed, same bytes" diff -r "$TMP/a" "$TMP/b"
check "other seed, other deals" bash -c "! cmp -s '$TMP/a/opportunities.csv' '$TMP/c/opportunities.csv'"
check "--opps 500 gives 500 records" grep -q '^"Grand Totals (500 records)"' "$TMP/a/opportunities.csv"
check "--opps 500 gives 500 rows" test "$($PY -c "
import csv,sys; r=list(csv.reader(open(sys.argv[1],newline='',encoding='utf-8'))); print(r.index([])-1)" "$TMP/a/opportunities.csv")" = 500
check "--reps 12 gives 12 reps" test "$(grep -c '","AE - ' "$TMP/a/users.csv")" = 12
check "job.ini names seed and sizes" grep -qx '; generated by kpipress sample (seed 7, 12 reps, 6 months)' "$TMP/a/job.ini"
expect_exit 0 "sample --as-of" "$KP_BIN" sample "$TMP/d" --as-of 2025-04-01 --opps 300
check "as_of written to job.ini" grep -q '^as_of = 2025-04-01 ' "$TMP/d/job.ini"
expect_exit 2 "sample --reps 0 is a usage error" "$KP_BIN" sample "$TMP/e" --reps 0
expect_exit 2 "sample without DIR is a usage error" "$KP_BIN" sample
expect_exit 3 "sample into a file is an I/O error" "$KP_BIN" sample "$TMP/a/job.ini"

# Realism holds at the benchmark's scale too.
expect_exit 0 "sample 200 reps, 36 months, 100000 deals" "$KP_BIN" sample "$TMP/big" --reps 200 --months 36 --opps 100000
check_set "$TMP/big" "200 reps x 36 months"
