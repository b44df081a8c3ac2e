# Helpers shared by test_faults.sh, test_hostile.sh and test_kill.sh (source after lib.sh,
# which provides sample_job).
# db_state DB OUTDIR: integrity, row counts of every table but runs, and the SHA-256 of
# every file under OUTDIR, temporaries (dot-files, files in dot-directories) marked "tmp". Independent of kpipress:
# Python's sqlite3 and hashlib.
db_state() {
    $PY - "$1" "$2" <<'PYEOF'
import hashlib, os, sqlite3, sys
# Read-write: after a kill the next opener recovers the WAL, as the next run would.
db = sqlite3.connect(sys.argv[1])
print('integrity', db.execute('PRAGMA integrity_check').fetchone()[0])
# sqlite_stat1 and friends are the planner's statistics (ANALYZE), not data.
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name NOT LIKE 'sqlite%' ORDER BY name"):
    if t != 'runs':
        print(t, db.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0])
for r, dirs, fs in sorted(os.walk(sys.argv[2])):
    for f in sorted(fs):
        p = os.path.join(r, f)
        rel = os.path.relpath(p, sys.argv[2])
        # hidden: a dot-file, or inside a dot-directory (the renderers' scratch directory)
        hidden = any(part.startswith('.') for part in rel.split(os.sep))
        print('tmp' if hidden else 'doc', rel, hashlib.sha256(open(p, 'rb').read()).hexdigest())
PYEOF
}
